//! Tests that need the real `mailnode` binary as a process: a kill -9 in
//! the middle of work, and the `sendmail` command line.
//!
//! (They live in the `node` package because only its own integration
//! tests can name its binary, `CARGO_BIN_EXE_mailnode`.)

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const PASSWORD: &str = "pm-Secret-1";

/// A `mailnode start` child process and the addresses it printed.
struct NodeProcess {
    child: Child,
    addrs: BTreeMap<String, SocketAddr>,
}

impl NodeProcess {
    fn start(config: &Path) -> NodeProcess {
        let mut child = Command::new(env!("CARGO_BIN_EXE_mailnode"))
            .args(["start", "--config"])
            .arg(config)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn mailnode");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let mut addrs = BTreeMap::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            assert!(Instant::now() < deadline, "node did not become ready");
            let line = lines
                .next()
                .expect("node exited before ready")
                .expect("read stdout");
            if line == "mailnode: ready" {
                break;
            }
            if let Some(rest) = line.strip_prefix("mailnode: ")
                && let Some((key, addr)) = rest.split_once(" listening on ")
            {
                addrs.insert(key.to_string(), addr.parse().expect("address"));
            }
        }
        // Keep draining stdout so the child never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        NodeProcess { child, addrs }
    }

    fn addr(&self, key: &str) -> SocketAddr {
        self.addrs[key]
    }

    /// SIGKILL: no shutdown code runs.
    fn kill_9(mut self) {
        self.child.kill().expect("kill -9");
        self.child.wait().expect("reap");
    }
}

impl Drop for NodeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn write_config(dir: &Path) -> PathBuf {
    let path = dir.join("mailnode.toml");
    let text = format!(
        r#"node_name = "node1"
data_dir = "{data}"
base_dir = "{base}"
main_domain = "example.test"
postmaster_password = "{PASSWORD}"
[listen]
smtp = "127.0.0.1:0"
submission = "off"
smtps = "off"
pop3 = "127.0.0.1:0"
pop3s = "off"
imap = "off"
imaps = "off"
cli = "127.0.0.1:0"
webadmin = "off"
webadmins = "off"
webuser = "off"
cluster = "off"
[queue]
retry_secs = 1
"#,
        data = dir.join("node").display(),
        base = dir.join("base").display(),
    );
    std::fs::write(&path, text).expect("config");
    path
}

/// A minimal SMTP client: reads one (possibly multi-line) reply.
fn reply(r: &mut impl BufRead) -> String {
    loop {
        let mut line = String::new();
        r.read_line(&mut line).expect("read reply");
        assert!(line.len() >= 4, "short reply {line:?}");
        if line.as_bytes()[3] == b' ' {
            return line.trim_end().to_string();
        }
    }
}

/// Sends messages `first..first + count` in one SMTP session; returns
/// right after the last 250.
fn send_messages(addr: SocketAddr, first: usize, count: usize) {
    let stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut w = stream.try_clone().unwrap();
    let mut r = BufReader::new(stream);
    assert!(reply(&mut r).starts_with("220"));
    w.write_all(b"EHLO crash.test\r\n").unwrap();
    assert!(reply(&mut r).starts_with("250"));
    for i in first..first + count {
        w.write_all(
            b"MAIL FROM:<sender@crash.test>\r\nRCPT TO:<postmaster@example.test>\r\nDATA\r\n",
        )
        .unwrap();
        assert!(reply(&mut r).starts_with("250"));
        assert!(reply(&mut r).starts_with("250"));
        assert!(reply(&mut r).starts_with("354"));
        let body = format!("Subject: crash-{i:04}\r\n\r\nmessage {i}\r\n.\r\n");
        w.write_all(body.as_bytes()).unwrap();
        let done = reply(&mut r);
        assert!(done.starts_with("250"), "message {i}: {done}");
    }
}

fn mbox_text(base: &Path) -> String {
    std::fs::read_to_string(base.join("Accounts/postmaster.macnt/INBOX.mbox")).unwrap_or_default()
}

fn queue_is_empty(base: &Path) -> bool {
    std::fs::read_dir(base.join("Queue"))
        .map(|d| {
            d.flatten()
                .all(|e| e.path().extension().is_none_or(|x| x != "msg"))
        })
        .unwrap_or(false)
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
