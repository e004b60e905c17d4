//! Tests that need the real `mailnode` binary as a process: a kill -9 in
//! the middle of work, the `sendmail` command line, and the `chaos` IMAP
//! benchmark against a node.
//!
//! (They live in the `node` package because only its own integration
//! tests can name its binary, `CARGO_BIN_EXE_mailnode`.)

mod common;

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{NodeProcess, queue_is_empty, send_messages, write_config};

fn mbox_text(base: &Path) -> String {
    common::mbox_text(base, "postmaster")
}

/// Three rounds of: send a burst, kill -9 right after the last `250`
/// (deliveries of the burst are then in flight), restart. Every
/// acknowledged message must end up in the mailbox exactly once.
#[test]
fn issue_2_kill_9_loses_and_duplicates_nothing() {
    const ROUNDS: usize = 3;
    const PER_ROUND: usize = 40;
    const N: usize = ROUNDS * PER_ROUND;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path());
    let base = dir.path().join("base");

    for round in 0..ROUNDS {
        let node = NodeProcess::start(&config);
        send_messages(node.addr("smtp"), round * PER_ROUND, PER_ROUND);
        node.kill_9();
    }

    let _node = NodeProcess::start(&config);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let text = mbox_text(&base);
        let all = (0..N).all(|i| text.contains(&format!("Subject: crash-{i:04}\n")));
        if all && queue_is_empty(&base) {
            break;
        }
        if Instant::now() > deadline {
            let missing: Vec<usize> = (0..N)
                .filter(|i| !text.contains(&format!("Subject: crash-{i:04}\n")))
                .collect();
            let queue: Vec<_> = std::fs::read_dir(base.join("Queue"))
                .unwrap()
                .flatten()
                .map(|e| e.file_name())
                .collect();
            let mut log = String::new();
            for e in std::fs::read_dir(base.join("SystemLogs/node1"))
                .unwrap()
                .flatten()
            {
                log.push_str(&std::fs::read_to_string(e.path()).unwrap());
            }
            panic!(
                "not all messages delivered after restart: missing {missing:?}, queue {queue:?}\n{log}"
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let text = mbox_text(&base);
    for i in 0..N {
        let n = text.matches(&format!("Subject: crash-{i:04}\n")).count();
        assert_eq!(n, 1, "message {i} stored {n} times");
    }
}

#[test]
fn sendmail_command_delivers_through_submitted() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path());
    let base = dir.path().join("base");
    let _node = NodeProcess::start(&config);

    let mut child = Command::new(env!("CARGO_BIN_EXE_mailnode"))
        .args(["sendmail", "--config"])
        .arg(&config)
        .args(["-f", "john.dite@compinia.de", "postmaster@example.test"])
        .stdin(Stdio::piped())
        .spawn()
        .expect("spawn sendmail");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"Subject: seed example\n\nhello world\n")
        .unwrap();
    assert!(child.wait().unwrap().success());

    let deadline = Instant::now() + Duration::from_secs(10);
    while !mbox_text(&base).contains("Subject: seed example") {
        assert!(Instant::now() < deadline, "sendmail message not delivered");
        std::thread::sleep(Duration::from_millis(100));
    }
    let text = mbox_text(&base);
    assert!(text.contains("From john.dite@compinia.de ("), "{text}");
    let mut log = String::new();
    for e in std::fs::read_dir(base.join("SystemLogs/node1"))
        .unwrap()
        .flatten()
    {
        std::fs::File::open(e.path())
            .unwrap()
            .read_to_string(&mut log)
            .unwrap();
    }
    assert!(
        log.contains("LOCAL(postmaster) delivered: Delivered to the user mailbox"),
        "{log}"
    );
}

#[test]
fn bad_config_key_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    std::fs::write(&path, "node_name = \"n\"\nbogus_key = 1\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_mailnode"))
        .args(["start", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bogus_key"), "{err}");
}

#[test]
fn unbindable_port_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let config = write_config(dir.path());
    let text = std::fs::read_to_string(&config).unwrap().replace(
        "pop3 = \"127.0.0.1:0\"",
        &format!("pop3 = \"{}\"", taken.local_addr().unwrap()),
    );
    std::fs::write(&config, text).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_mailnode"))
        .args(["start", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("listen.pop3"), "{err}");
}

/// Waits (bounded) until node1's log holds `text` `times` times.
fn wait_for_log(base: &Path, text: &str, times: usize) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let log: String = std::fs::read_dir(base.join("SystemLogs/node1"))
            .map(|d| {
                d.flatten()
                    .filter_map(|e| std::fs::read_to_string(e.path()).ok())
                    .collect()
            })
            .unwrap_or_default();
        if log.matches(text).count() >= times {
            return;
        }
        assert!(Instant::now() < deadline, "no {text:?} in the log:\n{log}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// One message; returns the reply to its end of DATA.
fn send_one(addr: std::net::SocketAddr, subject: &str) -> String {
    let stream = std::net::TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut w = stream.try_clone().unwrap();
    let mut r = std::io::BufReader::new(stream);
    assert!(common::reply(&mut r).starts_with("220"));
    w.write_all(b"EHLO faults.test\r\nMAIL FROM:<a@faults.test>\r\nRCPT TO:<postmaster@example.test>\r\nDATA\r\n")
        .unwrap();
    for expect in ["250", "250", "250", "354"] {
        let answer = common::reply(&mut r);
        assert!(answer.starts_with(expect), "{answer}");
    }
    w.write_all(format!("Subject: {subject}\r\n\r\nbody\r\n.\r\n").as_bytes())
        .unwrap();
    common::reply(&mut r)
}

/// The chaos hook (`fault_hooks`): while `DATA_DIR/faults` says the disk
/// fails, a message cannot be made durable and is refused with a temporary
/// error (and never appears); once the fault is gone, mail flows again.
#[test]
fn issue_7_an_injected_disk_fault_refuses_mail_and_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path());
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, format!("fault_hooks = true\n{text}")).unwrap();
    let base = dir.path().join("base");
    let faults = dir.path().join("node/faults");
    let node = NodeProcess::start(&config);

    std::fs::write(&faults, "disk = \"fail\"\n").unwrap();
    wait_for_log(&base, "disk Fail", 1);
    let refused = send_one(node.addr("smtp"), "while-failing");
    assert!(refused.starts_with("451"), "{refused}");

    std::fs::write(&faults, "disk = \"slow\"\ndisk_delay_ms = 50\n").unwrap();
    wait_for_log(&base, "disk Slow", 1);
    let slow = send_one(node.addr("smtp"), "while-slow");
    assert!(slow.starts_with("250"), "{slow}");

    std::fs::remove_file(&faults).unwrap();
    wait_for_log(&base, "disk None", 1);
    let accepted = send_one(node.addr("smtp"), "after-the-fault");
    assert!(accepted.starts_with("250"), "{accepted}");
    let deadline = Instant::now() + Duration::from_secs(20);
    while !(mbox_text(&base).contains("Subject: after-the-fault")
        && mbox_text(&base).contains("Subject: while-slow")
        && queue_is_empty(&base))
    {
        assert!(Instant::now() < deadline, "not delivered after the fault");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(!mbox_text(&base).contains("while-failing"));
}

/// `chaos bench imap` against a real node: every command of a reader's
/// round is answered `OK` (SEARCH finding the message it looked for), and
/// each INBOX keeps the size the bench filled it to, as each round appends
/// one message and expunges the oldest.
#[test]
fn issue_3_imap_bench_runs_every_command_and_keeps_inbox_sizes() {
    use chaos::bench::imap::{COMMANDS, ImapArgs, measure};
    use chaos::client::imap::ImapClient;

    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path());
    let text = std::fs::read_to_string(&config).unwrap();
    let text = text.replace("imap = \"off\"", "imap = \"127.0.0.1:0\"");
    std::fs::write(&config, text + "[imap]\nplaintext_on_loopback = true\n").unwrap();
    let node = NodeProcess::start(&config);
    let args = ImapArgs {
        target: vec![node.addr("imap")],
        cli: Some(node.addr("cli")),
        password: Some(common::PASSWORD.to_owned()),
        clients: 2,
        accounts: None,
        messages: 30,
        size: 1024,
        secs: 2,
    };
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let report = runtime
        .block_on(measure(&args))
        .expect("accounts made and filled");
    assert_eq!(report.failed, 0, "{:?}", report.errors);
    for name in COMMANDS {
        assert!(report.count(name) > 0, "no {name} in {report:?}");
    }
    assert_eq!(report.count("STORE"), 2 * report.count("APPEND"));
    runtime.block_on(async {
        for user in ["bench1", "bench2"] {
            let mut imap = ImapClient::connect(node.addr("imap")).await.unwrap();
            imap.login(user, "benchpw").await.unwrap();
            let lines = imap.command("SELECT INBOX").await.unwrap();
            assert!(
                lines.contains(&"* 30 EXISTS".to_owned()),
                "{user}: {lines:?}"
            );
        }
    });
}
