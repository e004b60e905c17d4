//! Three Raft members over real loopback TCP: join, writes through any
//! member, linearizable reads on followers, a stranger refused, and
//! failover after the leader stops.

use std::time::Duration;

use cluster::directory::DirectoryOp;
use cluster::{ClusterConfig, ClusterHandle, Command, CommandResult};
use tokio::net::TcpListener;

async fn start(
    dir: &std::path::Path,
    join: Option<String>,
    secret: &str,
) -> cluster::Result<(ClusterHandle, String)> {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let cfg = ClusterConfig {
        data_dir: dir.to_path_buf(),
        address: address.clone(),
        max_batch: 64,
        secret: secret.into(),
        join,
        protocol_version: cluster::rpc::PROTOCOL_VERSION,
    };
    Ok((ClusterHandle::start(cfg, Some(listener)).await?, address))
}

fn create_domain(name: &str) -> Command {
    Command::Directory(DirectoryOp::CreateDomain {
        name: name.into(),
        settings: Default::default(),
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_members_replicate_forward_and_fail_over() {
    let dirs: Vec<_> = (0..4).map(|_| tempfile::tempdir().unwrap()).collect();
    let (n1, addr1) = start(dirs[0].path(), None, "s3cret").await.unwrap();
    let (n2, _) = start(dirs[1].path(), Some(addr1.clone()), "s3cret")
        .await
        .unwrap();
    let (n3, _) = start(dirs[2].path(), Some(addr1.clone()), "s3cret")
        .await
        .unwrap();
    assert_eq!((n1.node_id(), n2.node_id(), n3.node_id()), (1, 2, 3));

    // A write through a follower is forwarded to the leader.
    assert_eq!(
        n3.propose(create_domain("a.test")).await.unwrap(),
        CommandResult::Done
    );
    // A linearizable read on another follower sees it at once.
    assert!(
        n2.read_linearizable(|s| s.directory.is_local_domain("a.test"))
            .await
            .unwrap()
    );

    // A node with the wrong secret cannot join.
    let stranger = start(dirs[3].path(), Some(addr1.clone()), "guess").await;
    assert!(stranger.is_err(), "a stranger joined");

    // The leader goes away; the other two elect one and keep committing.
    let leader = n1.leader().await.unwrap();
    let (gone, rest) = match leader {
        1 => (n1, vec![n2, n3]),
        2 => (n2, vec![n1, n3]),
        _ => (n3, vec![n1, n2]),
    };
    gone.shutdown().await;
    let mut committed = false;
    for _ in 0..50 {
        if let Ok(CommandResult::Done) = rest[0].propose(create_domain("b.test")).await {
            committed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(committed, "no commit after the leader stopped");
    assert!(
        rest[1]
            .read_linearizable(|s| s.directory.is_local_domain("b.test"))
            .await
            .unwrap()
    );
    for n in rest {
        n.shutdown().await;
    }
}
