//! A three-process cluster on loopback with one shared base directory:
//! kill -9 of the leader under load, its return, and a full restart.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::{NodeProcess, free_ports, queue_is_empty, send_messages, write_member_config};

/// Waits until every `crash-NNNN` subject below `n` is in postmaster's
/// INBOX exactly once and the queue is empty.
fn wait_all_once(base: &Path, n: usize) {
    let started = Instant::now();
    let deadline = started + Duration::from_secs(60);
    loop {
        let text = common::mbox_text(base, "postmaster");
        let counts: Vec<usize> = (0..n)
            .map(|i| text.matches(&format!("Subject: crash-{i:04}\n")).count())
            .collect();
        assert!(
            counts.iter().all(|&c| c <= 1),
            "a message was stored twice: {counts:?}"
        );
        if counts.iter().all(|&c| c == 1) && queue_is_empty(base) {
            eprintln!(
                "all {n} delivered once, queue empty, {:?} after the last send",
                started.elapsed()
            );
            return;
        }
        assert!(
            Instant::now() < deadline,
            "missing: {:?}",
            (0..n).filter(|&i| counts[i] == 0).collect::<Vec<_>>()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn issue_6_kill_9_of_the_leader_and_full_restart_lose_nothing() {
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let base = dirs[0].path().join("base");
    let ports = free_ports(3);
    let configs: Vec<_> = (0..3)
        .map(|i| {
            let join = (i > 0).then(|| ports[0].as_str());
            write_member_config(
                dirs[i].path(),
                &base,
                &format!("node{}", i + 1),
                &ports[i],
                join,
            )
        })
        .collect();
    let mut nodes: Vec<Option<NodeProcess>> = configs
        .iter()
        .map(|c| Some(NodeProcess::start(c)))
        .collect();

    // Load through every member, then kill -9 the first member (the
    // bootstrap node leads unless an election moved it).
    for (i, node) in nodes.iter().enumerate() {
        let node = node.as_ref().unwrap();
        send_messages(node.addr("smtp"), i * 10, 10);
    }
    nodes[0].take().unwrap().kill_9();
    // The other two keep accepting and delivering.
    for (i, node) in nodes.iter().enumerate().skip(1) {
        send_messages(node.as_ref().unwrap().addr("smtp"), 30 + (i - 1) * 10, 10);
    }
    // The killed member comes back and catches up.
    nodes[0] = Some(NodeProcess::start(&configs[0]));
    send_messages(nodes[0].as_ref().unwrap().addr("smtp"), 50, 10);
    wait_all_once(&base, 60);

    // Everything loses power at once; everything comes back.
    for node in nodes.iter_mut() {
        node.take().unwrap().kill_9();
    }
    let paths: Vec<&Path> = configs.iter().map(|c| c.as_path()).collect();
    let nodes = NodeProcess::start_all(&paths);
    send_messages(nodes[2].addr("smtp"), 60, 10);
    wait_all_once(&base, 70);
}

/// Runs `mailnode cluster ARGS --config CONFIG` and returns its output.
fn cluster_command(config: &Path, args: &[&str]) -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_mailnode"))
        .arg("cluster")
        .args(args)
        .arg("--config")
        .arg(config)
        .output()
        .expect("mailnode cluster runs");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "mailnode cluster {args:?} failed: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

/// `mailnode cluster leave` drains a member (its process stops) and takes
/// it out of the cluster; `mailnode cluster remove ID` takes out a dead
/// one; the members left keep serving.
#[test]
fn issue_6_leave_and_remove_take_members_out() {
    let dirs: Vec<_> = (0..4).map(|_| tempfile::tempdir().unwrap()).collect();
    let base = dirs[0].path().join("base");
    let ports = free_ports(4);
    let configs: Vec<_> = (0..4)
        .map(|i| {
            let join = (i > 0).then(|| ports[0].as_str());
            let name = format!("node{}", i + 1);
            write_member_config(dirs[i].path(), &base, &name, &ports[i], join)
        })
        .collect();
    // One at a time, so that ids follow the start order.
    let mut nodes: Vec<Option<NodeProcess>> = configs
        .iter()
        .map(|c| Some(NodeProcess::start(c)))
        .collect();
    let id_of = |i: usize| -> String {
        std::fs::read_to_string(dirs[i].path().join("node/node.id"))
            .expect("node id")
            .trim()
            .to_string()
    };
    let status = cluster_command(&configs[0], &["status"]);
    for i in 1..=4 {
        assert!(status.contains(&format!(" node{i} ")), "{status}");
    }

    // `leave` stops the member's process (SIGTERM) and waits for it; the
    // test reaps it, as init would.
    let leaving = {
        let config = configs[2].clone();
        std::thread::spawn(move || cluster_command(&config, &["leave"]))
    };
    let drained = nodes[2].take().unwrap();
    assert!(
        drained.wait_exit(Duration::from_secs(60)),
        "node3 did not stop"
    );
    leaving.join().expect("leave finished");
    let dead = nodes[3].take().unwrap();
    let dead_id = id_of(3);
    dead.kill_9();
    cluster_command(&configs[0], &["remove", &dead_id]);

    let status = cluster_command(&configs[1], &["status"]);
    assert!(
        status.contains(" node1 ") && status.contains(" node2 "),
        "{status}"
    );
    assert!(
        !status.contains(" node3 ") && !status.contains(" node4 "),
        "{status}"
    );
    // The two left commit and deliver on their own.
    send_messages(nodes[1].as_ref().unwrap().addr("smtp"), 0, 5);
    wait_all_once(&base, 5);
}
