//! A one-node cluster commits, survives a restart with its state, and
//! batches concurrent proposals.

use cluster::directory::DirectoryOp;
use cluster::{ClusterConfig, ClusterHandle, Command, CommandResult, NewEntry, QueueId, Rejection};

fn config(dir: &std::path::Path) -> ClusterConfig {
    ClusterConfig {
        data_dir: dir.to_path_buf(),
        address: "127.0.0.1:0".into(),
        max_batch: 64,
        secret: "test-secret".into(),
        join: None,
        protocol_version: cluster::rpc::PROTOCOL_VERSION,
    }
}

fn create_account(name: &str) -> Command {
    Command::Directory(DirectoryOp::CreateAccount {
        domain: "example.test".into(),
        name: name.into(),
        kind: storage::AccountKind::MultiMailbox,
        password: None,
        settings: Default::default(),
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_survives_restart() {
    let dir = tempfile::tempdir().unwrap();
    let handle = ClusterHandle::start(config(dir.path()), None)
        .await
        .unwrap();
    let boot = Command::Directory(DirectoryOp::Bootstrap {
        main_domain: "example.test".into(),
    });
    assert_eq!(handle.propose(boot).await.unwrap(), CommandResult::Done);
    assert_eq!(
        handle.propose(create_account("user1")).await.unwrap(),
        CommandResult::Done
    );
    assert_eq!(
        handle.propose(create_account("user1")).await.unwrap(),
        CommandResult::Rejected(Rejection::AccountExists)
    );
    let ids = handle
        .propose(Command::AllocateIds { count: 100 })
        .await
        .unwrap();
    assert_eq!(ids, CommandResult::Ids(1));
    handle.shutdown().await;
    drop(handle);

    let handle = ClusterHandle::start(config(dir.path()), None)
        .await
        .unwrap();
    assert!(handle.read(|s| s.directory.resolve("user1@example.test").is_some()));
    let ids = handle
        .propose(Command::AllocateIds { count: 1 })
        .await
        .unwrap();
    assert_eq!(ids, CommandResult::Ids(101));
    handle.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_proposals_all_commit() {
    let dir = tempfile::tempdir().unwrap();
    let handle = ClusterHandle::start(config(dir.path()), None)
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for i in 0..500u64 {
        let h = handle.clone();
        tasks.push(tokio::spawn(async move {
            h.propose(Command::Enqueue(NewEntry {
                id: QueueId(i + 1),
                return_path: String::new(),
                recipients: vec!["a@b".into()],
                size: 1,
                source: "TEST".into(),
                received_ms: 0,
                ret: None,
                envid: None,
                rcpt_dsn: Vec::new(),
            }))
            .await
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap().unwrap(), CommandResult::Done);
    }
    assert_eq!(handle.read(|s| s.queue.entries.len()), 500);
    let last_index = *handle.changes().borrow();
    assert!(
        last_index < 500,
        "500 proposals took {last_index} entries: not batched"
    );
    handle.shutdown().await;
}
