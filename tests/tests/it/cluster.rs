//! Three nodes in one cluster (one process, one shared base directory):
//! any node serves any account, the directory is linearizable across
//! nodes, and the cluster survives losing its leader.

use std::time::Duration;

use tests::{LineClient, POSTMASTER_PASSWORD, TestCluster, TestNode, wait_for};

/// Logs in to the CLI of `node` as `user`.
fn cli(node: &TestNode, user: &str, password: &str) -> LineClient {
    let mut c = LineClient::connect(node.addr("cli"));
    c.expect("200 ");
    c.send(&format!("USER {user}"));
    c.expect("300 ");
    c.send(&format!("PASS {password}"));
    c.expect("200 login OK");
    c
}

/// Sends one message through `node`'s SMTP port.
fn send(node: &TestNode, to: &str, subject: &str) {
    let mut c = LineClient::connect(node.addr("smtp"));
    c.expect_reply("220");
    c.send("EHLO cluster.test");
    c.expect_reply("250");
    c.send("MAIL FROM:<sender@cluster.test>");
    c.expect_reply("250");
    c.send(&format!("RCPT TO:<{to}>"));
    c.expect_reply("250");
    c.send("DATA");
    c.expect_reply("354");
    c.send(&format!("Subject: {subject}\r\n\r\nbody\r\n."));
    c.expect_reply("250");
    c.send("QUIT");
}

/// The subjects in `user`'s maildrop, read with POP3 through `node`;
/// `None` while the account is open on another member.
fn pop3_subjects(node: &TestNode, user: &str, password: &str) -> Option<Vec<String>> {
    let mut c = LineClient::connect(node.addr("pop3"));
    c.expect("+OK");
    c.send(&format!("USER {user}"));
    c.expect("+OK");
    c.send(&format!("PASS {password}"));
    if !c.line().starts_with("+OK") {
        return None;
    }
    c.send("STAT");
    let stat = c.expect("+OK ");
    let count: usize = stat.split(' ').nth(1)?.parse().ok()?;
    let mut subjects = Vec::new();
    for i in 1..=count {
        c.send(&format!("TOP {i} 0"));
        c.expect("+OK");
        subjects.extend(
            c.read_multiline()
                .into_iter()
                .filter(|l| l.starts_with("Subject: ")),
        );
    }
    c.send("QUIT");
    c.expect("+OK");
    Some(subjects)
}

#[test]
fn issue_6_three_nodes_serve_every_account_and_survive_the_leader() {
    let cluster = TestCluster::start(3);
    let [n1, n2, n3] = &cluster.nodes[..] else {
        panic!("three nodes");
    };

    // Created on node 1, usable on node 3 as soon as the call returns.
    let mut admin = cli(n1, "postmaster", POSTMASTER_PASSWORD);
    admin.send("CreateAccount alice {Password=\"pw\";}");
    admin.expect("200 OK");
    drop(cli(n3, "alice", "pw"));

    // Sent through node 2, read through node 3.
    send(n2, "alice@example.test", "via node 2");
    let seen = wait_for(Duration::from_secs(20), || {
        pop3_subjects(n3, "alice", "pw").filter(|s| s.iter().any(|l| l == "Subject: via node 2"))
    });
    assert!(seen.is_some(), "the message never showed on node 3");

    // Every node sends and delivers.
    for (i, node) in cluster.nodes.iter().enumerate() {
        send(node, "alice@example.test", &format!("from node {}", i + 1));
    }
    let mut last = None;
    let all = wait_for(Duration::from_secs(20), || {
        last = pop3_subjects(n1, "alice", "pw");
        last.clone().filter(|s| s.len() == 4)
    });
    let all = all.unwrap_or_else(|| {
        let log = std::fs::read_dir(n1.base().join("SystemLogs"))
            .unwrap()
            .flatten()
            .flat_map(|d| std::fs::read_dir(d.path()).unwrap().flatten())
            .map(|f| std::fs::read_to_string(f.path()).unwrap())
            .collect::<Vec<_>>()
            .join("\n");
        let interesting: Vec<&str> = log
            .lines()
            .filter(|l| {
                l.contains("DEQUEUER")
                    || l.contains("QUEUE")
                    || l.contains("POP") && l.contains(" 3 ")
            })
            .collect();
        panic!(
            "four messages, each once; last saw {last:?}\n{}",
            interesting.join("\n")
        )
    });
    for i in 1..=3 {
        assert_eq!(
            all.iter()
                .filter(|s| **s == format!("Subject: from node {i}"))
                .count(),
            1
        );
    }
}

#[test]
fn issue_6_losing_the_leader_keeps_the_cluster_serving() {
    let mut cluster = TestCluster::start(3);
    // The first node bootstrapped the cluster and leads it at first.
    let mut leader = cluster.nodes.remove(0);
    leader.stop();
    let n2 = &cluster.nodes[0];
    let n3 = &cluster.nodes[1];
    let created = wait_for(Duration::from_secs(20), || {
        let mut admin = cli(n2, "postmaster", POSTMASTER_PASSWORD);
        admin.send("CreateAccount bob {Password=\"pw\";}");
        admin.line().starts_with("200 OK").then_some(())
    });
    assert!(
        created.is_some(),
        "no directory change after the leader stopped"
    );
    send(n3, "bob@example.test", "after failover");
    let seen = wait_for(Duration::from_secs(20), || {
        pop3_subjects(n2, "bob", "pw").filter(|s| s.iter().any(|l| l == "Subject: after failover"))
    });
    assert!(seen.is_some(), "no delivery after the leader stopped");

    // The old leader comes back, catches up and serves again.
    let leader = leader.restart();
    let back = wait_for(Duration::from_secs(20), || {
        pop3_subjects(&leader, "bob", "pw")
    });
    assert!(back.is_some(), "the restarted node does not serve bob");
}
