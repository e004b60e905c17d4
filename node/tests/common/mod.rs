//! Shared helpers of the process tests: `mailnode` child processes and a
//! minimal SMTP client. (Each test binary uses part of them.)
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The postmaster password of every test node.
pub const PASSWORD: &str = "pm-Secret-1";

/// A `mailnode start` child process and the addresses it printed.
pub struct NodeProcess {
    child: Child,
    addrs: BTreeMap<String, SocketAddr>,
}

impl NodeProcess {
    /// Starts a node and waits until it is ready.
    pub fn start(config: &Path) -> NodeProcess {
        Self::start_all(&[config]).pop().expect("one node")
    }

    /// Starts nodes at once (members of a cluster that needs a quorum to
    /// become ready), then waits until each is ready.
    /// Each child belongs to its `NodeProcess` from the start, so when one
    /// fails to become ready the test's panic kills them all.
    pub fn start_all(configs: &[&Path]) -> Vec<NodeProcess> {
        let mut nodes: Vec<NodeProcess> = configs
            .iter()
            .map(|config| NodeProcess {
                child: Command::new(env!("CARGO_BIN_EXE_mailnode"))
                    .args(["start", "--config"])
                    .arg(config)
                    .stdout(Stdio::piped())
                    .stderr(Stdio::null())
                    .spawn()
                    .expect("spawn mailnode"),
                addrs: BTreeMap::new(),
            })
            .collect();
        nodes.iter_mut().for_each(NodeProcess::wait_ready);
        nodes
    }

    /// Reads the node's listening addresses until it says it is ready.
    fn wait_ready(&mut self) {
        let stdout = self.child.stdout.take().expect("stdout");
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
        self.addrs = addrs;
    }

    pub fn addr(&self, key: &str) -> SocketAddr {
        self.addrs[key]
    }

    /// Waits until the process exits by itself (and reaps it, so that a
    /// `kill -0` probe no longer sees it); false after `limit`.
    pub fn wait_exit(mut self, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if self.child.try_wait().expect("wait").is_some() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }

    /// SIGKILL: no shutdown code runs.
    pub fn kill_9(mut self) {
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

/// Writes the config of a single node under `dir` (its own base).
pub fn write_config(dir: &Path) -> PathBuf {
    write_member_config(dir, &dir.join("base"), "node1", "off", None)
}

/// Writes the config of a cluster member under `dir`: `base` is shared,
/// `cluster` its cluster listener ("off" or a fixed "ip:port": the other
/// members know it by that address), `join` a member to join.
pub fn write_member_config(
    dir: &Path,
    base: &Path,
    name: &str,
    cluster: &str,
    join: Option<&str>,
) -> PathBuf {
    let path = dir.join("mailnode.toml");
    let join = join
        .map(|j| format!("join = \"{j}\"\n"))
        .unwrap_or_default();
    let text = format!(
        r#"node_name = "{name}"
data_dir = "{data}"
base_dir = "{base}"
main_domain = "example.test"
postmaster_password = "{PASSWORD}"
{join}[listen]
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
cluster = "{cluster}"
[queue]
retry_secs = 1
[pop3]
plaintext_on_loopback = true
"#,
        data = dir.join("node").display(),
        base = base.display(),
    );
    std::fs::write(&path, text).expect("config");
    path
}

/// `n` distinct free loopback ports for fixed listeners (see `chaos::ports`).
pub fn free_ports(n: usize) -> Vec<String> {
    let mut ports = chaos::ports::Ports::default();
    (0..n)
        .map(|_| ports.pick().expect("a free port").to_string())
        .collect()
}

/// A minimal SMTP client: reads one (possibly multi-line) reply.
pub fn reply(r: &mut impl BufRead) -> String {
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
pub fn send_messages(addr: SocketAddr, first: usize, count: usize) {
    send_to(
        addr,
        "sender@crash.test",
        &["postmaster@example.test"],
        "crash",
        first..first + count,
    );
}

/// Sends messages `numbers` (Subject `{subject}-NNNN`) from `from` to
/// every address of `rcpts` in one SMTP session; returns right after the
/// last 250.
pub fn send_to(
    addr: SocketAddr,
    from: &str,
    rcpts: &[&str],
    subject: &str,
    numbers: std::ops::Range<usize>,
) {
    let stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut w = stream.try_clone().unwrap();
    let mut r = BufReader::new(stream);
    assert!(reply(&mut r).starts_with("220"));
    let mut say = |line: String, expect: &str| {
        w.write_all(line.as_bytes()).unwrap();
        let got = reply(&mut r);
        assert!(got.starts_with(expect), "{}: {got}", line.trim_end());
    };
    say("EHLO crash.test\r\n".into(), "250");
    for i in numbers {
        say(format!("MAIL FROM:<{from}>\r\n"), "250");
        for rcpt in rcpts {
            say(format!("RCPT TO:<{rcpt}>\r\n"), "250");
        }
        say("DATA\r\n".into(), "354");
        say(
            format!("Subject: {subject}-{i:04}\r\n\r\nmessage {i}\r\n.\r\n"),
            "250",
        );
    }
}

/// The text of postmaster's INBOX (or another main-domain account's).
pub fn mbox_text(base: &Path, account: &str) -> String {
    std::fs::read_to_string(base.join(format!("Accounts/{account}.macnt/INBOX.mbox")))
        .unwrap_or_default()
}

/// Whether the shared queue folder holds no message files.
pub fn queue_is_empty(base: &Path) -> bool {
    std::fs::read_dir(base.join("Queue"))
        .map(|d| {
            d.flatten()
                .all(|e| e.path().extension().is_none_or(|x| x != "msg"))
        })
        .unwrap_or(false)
}
