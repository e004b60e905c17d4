//! A three-process cluster on loopback with one shared base directory:
//! kill -9 of the leader under load, its return, and a full restart.

mod common;

use std::path::{Path, PathBuf};
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

/// The folders and configs of `n` members sharing one base directory:
/// node 1 bootstraps, the others join it; `extra(name)` is appended to each
/// member's config.
struct Members {
    dirs: Vec<tempfile::TempDir>,
    base: PathBuf,
    configs: Vec<PathBuf>,
}

fn members(n: usize, extra: impl Fn(&str) -> String) -> Members {
    let dirs: Vec<_> = (0..n).map(|_| tempfile::tempdir().unwrap()).collect();
    let base = dirs[0].path().join("base");
    let ports = free_ports(n);
    let configs = (0..n)
        .map(|i| {
            let join = (i > 0).then(|| ports[0].as_str());
            let name = format!("node{}", i + 1);
            let config = write_member_config(dirs[i].path(), &base, &name, &ports[i], join);
            let mut text = std::fs::read_to_string(&config).unwrap();
            text.push_str(&extra(&name));
            std::fs::write(&config, text).unwrap();
            config
        })
        .collect();
    Members {
        dirs,
        base,
        configs,
    }
}

#[test]
fn issue_6_kill_9_of_the_leader_and_full_restart_lose_nothing() {
    let Members {
        dirs: _dirs,
        base,
        configs,
    } = members(3, |_| String::new());
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

/// Members started together all join: the leader takes their membership
/// changes one after another, where Raft refuses a change while another is
/// under way (a joining member then exited with "already undergoing a
/// configuration change").
#[test]
fn issue_6_members_started_together_all_join() {
    let Members {
        dirs: _dirs,
        configs,
        ..
    } = members(4, |_| String::new());
    let _first = NodeProcess::start(&configs[0]);
    let joining: Vec<&Path> = configs[1..].iter().map(|c| c.as_path()).collect();
    let _joined = NodeProcess::start_all(&joining);
    let status = cluster_command(&configs[0], &["status"]);
    for name in ["node1", "node2", "node3", "node4"] {
        assert!(status.contains(name), "{name} missing:\n{status}");
    }
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
    let Members {
        dirs,
        base,
        configs,
    } = members(4, |_| String::new());
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

/// A loopback SMTP server for relayed mail that holds back its answer to
/// the end of DATA while `hold` is set, and records, by the EHLO name of
/// the member that sent it, each message's subject when its DATA ended
/// (`seen`) and when it answered `250` (`accepted`).
struct HoldingSink {
    addr: std::net::SocketAddr,
    hold: std::sync::Arc<std::sync::atomic::AtomicBool>,
    log: std::sync::Arc<std::sync::Mutex<SinkLog>>,
}

#[derive(Default)]
struct SinkLog {
    seen: Vec<(String, String)>,
    accepted: Vec<(String, String)>,
}

impl HoldingSink {
    fn start() -> HoldingSink {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let sink = HoldingSink {
            addr: listener.local_addr().unwrap(),
            hold: std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true)),
            log: Default::default(),
        };
        let (hold, log) = (sink.hold.clone(), sink.log.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (hold, log) = (hold.clone(), log.clone());
                std::thread::spawn(move || {
                    let _ = Self::serve(stream, &hold, &log);
                });
            }
        });
        sink
    }

    fn serve(
        stream: std::net::TcpStream,
        hold: &std::sync::atomic::AtomicBool,
        log: &std::sync::Mutex<SinkLog>,
    ) -> std::io::Result<()> {
        use std::io::{BufRead, BufReader, Write};
        use std::sync::atomic::Ordering;
        stream.set_read_timeout(Some(Duration::from_secs(120)))?;
        let mut w = stream.try_clone()?;
        let mut r = BufReader::new(stream);
        w.write_all(b"220 sink.test ESMTP\r\n")?;
        let mut ehlo = String::new();
        let mut line = String::new();
        loop {
            line.clear();
            if r.read_line(&mut line)? == 0 {
                return Ok(());
            }
            let verb = line.get(..4).unwrap_or("").to_ascii_uppercase();
            match verb.as_str() {
                "EHLO" | "HELO" => {
                    ehlo = line[5..].trim().to_string();
                    w.write_all(b"250 sink.test\r\n")?;
                }
                "DATA" => {
                    w.write_all(b"354 go on\r\n")?;
                    let mut subject = String::new();
                    loop {
                        line.clear();
                        if r.read_line(&mut line)? == 0 {
                            return Ok(());
                        }
                        if line == ".\r\n" {
                            break;
                        }
                        if let Some(s) = line.strip_prefix("Subject: ") {
                            subject = s.trim().to_string();
                        }
                    }
                    log.lock()
                        .unwrap()
                        .seen
                        .push((ehlo.clone(), subject.clone()));
                    let deadline = Instant::now() + Duration::from_secs(120);
                    while hold.load(Ordering::SeqCst) && Instant::now() < deadline {
                        std::thread::sleep(Duration::from_millis(50));
                    }
                    w.write_all(b"250 queued\r\n")?;
                    log.lock().unwrap().accepted.push((ehlo.clone(), subject));
                }
                "QUIT" => {
                    w.write_all(b"221 bye\r\n")?;
                    return Ok(());
                }
                _ => w.write_all(b"250 ok\r\n")?,
            }
        }
    }
}

/// Sends messages `relay-0000..` to `user@remote.test` through `addr` as
/// postmaster (relaying needs authentication).
fn send_relayed(addr: std::net::SocketAddr, count: usize) {
    use std::io::{BufReader, Write};
    let stream = std::net::TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut w = stream.try_clone().unwrap();
    let mut r = BufReader::new(stream);
    assert!(common::reply(&mut r).starts_with("220"));
    let mut say = |text: &str, expect: &str| {
        w.write_all(text.as_bytes()).unwrap();
        let answer = common::reply(&mut r);
        assert!(answer.starts_with(expect), "{text:?}: {answer}");
    };
    say("EHLO relay.test\r\n", "250");
    // "\0postmaster\0pm-Secret-1" (`common::PASSWORD`).
    say("AUTH PLAIN AHBvc3RtYXN0ZXIAcG0tU2VjcmV0LTE=\r\n", "235");
    for i in 0..count {
        say("MAIL FROM:<postmaster@example.test>\r\n", "250");
        say("RCPT TO:<user@remote.test>\r\n", "250");
        say("DATA\r\n", "354");
        say(
            &format!("Subject: relay-{i:04}\r\n\r\nmessage {i}\r\n.\r\n"),
            "250",
        );
    }
}

/// A member killed while it delivers loses its queue claims within the
/// claim time (10 s), and the others deliver what it held; while a member
/// delivers, it renews its claims, so a long transaction is not started
/// twice.
#[test]
fn issue_6_a_killed_members_queue_work_moves_to_the_others() {
    let sink = HoldingSink::start();
    let Members {
        dirs: _dirs,
        base,
        configs,
    } = members(3, |name| {
        format!(
            "[smtp]\nauth_plaintext_on_loopback = true\n\
             [relay]\nhelo_name = \"{name}.relay.test\"\nstarttls = false\n\
             [relay.routes]\n\"remote.test\" = \"{}\"\n",
            sink.addr
        )
    });
    let mut nodes: Vec<Option<NodeProcess>> = configs
        .iter()
        .map(|c| Some(NodeProcess::start(c)))
        .collect();
    // Fewer than the members' delivery workers (2 each), so that some are
    // free to take over claims that lapse.
    let count = 4;
    send_relayed(nodes[1].as_ref().unwrap().addr("smtp"), count);

    // The members' delivery workers each take a message to the sink,
    // which holds them.
    let deadline = Instant::now() + Duration::from_secs(30);
    while sink.log.lock().unwrap().seen.is_empty() {
        assert!(Instant::now() < deadline, "the members did not deliver");
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_secs(1));
    let held = sink.log.lock().unwrap().seen.clone();
    // Held longer than one claim time: renewed claims keep other members
    // from starting the same deliveries.
    std::thread::sleep(Duration::from_secs(14));
    let seen = sink.log.lock().unwrap().seen.clone();
    assert_eq!(seen, held, "a held message was sent again");
    let victim = held[0].0.clone();
    let index: usize = victim
        .strip_prefix("node")
        .and_then(|rest| rest.split('.').next())
        .and_then(|n| n.parse().ok())
        .expect("a member's EHLO name");
    nodes[index - 1].take().unwrap().kill_9();
    let killed = Instant::now();
    sink.hold.store(false, std::sync::atomic::Ordering::SeqCst);

    // The others deliver every message, those the victim held included.
    let deadline = killed + Duration::from_secs(40);
    loop {
        let delivered: std::collections::BTreeSet<String> = sink
            .log
            .lock()
            .unwrap()
            .accepted
            .iter()
            .filter(|(ehlo, _)| *ehlo != victim)
            .map(|(_, subject)| subject.clone())
            .collect();
        if delivered.len() == count && queue_is_empty(&base) {
            eprintln!(
                "the survivors delivered all {count} {:?} after the kill",
                killed.elapsed()
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{} of {count} delivered by the survivors 40 s after the kill",
            delivered.len()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}
