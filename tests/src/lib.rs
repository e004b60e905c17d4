//! Test support: real nodes on ephemeral loopback ports, and small
//! line-based clients written from the protocol descriptions (not from the
//! server's own parsers).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use node::config::{Listen, NodeConfig};
use node::server::RunningNode;

/// The postmaster password every test node is created with.
pub const POSTMASTER_PASSWORD: &str = "pm-Secret-1";
/// The main domain of every test node.
pub const MAIN_DOMAIN: &str = "example.test";

/// A node running in this process, with its own temporary folders.
pub struct TestNode {
    node: Option<RunningNode>,
    config: NodeConfig,
    /// Keeps the node's folders until the test ends.
    _dir: tempfile::TempDir,
}

impl TestNode {
    /// Starts a fresh node: every service on `127.0.0.1:0`.
    pub fn start() -> TestNode {
        TestNode::start_with(|_| {})
    }

    /// Starts a fresh node with a configuration changed by `adjust`.
    pub fn start_with(adjust: impl FnOnce(&mut NodeConfig)) -> TestNode {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut config = test_config(dir.path());
        adjust(&mut config);
        let node = node::server::start(config.clone()).expect("node starts");
        // A restart keeps the cluster port: the other members know it by it.
        if let Some(cluster) = node.addr("cluster") {
            config.listen.cluster = Listen::Addr(cluster);
        }
        TestNode {
            node: Some(node),
            config,
            _dir: dir,
        }
    }

    /// Stops the node; [`TestNode::restart`] starts it again.
    pub fn stop(&mut self) {
        if let Some(node) = self.node.take() {
            node.stop();
        }
    }

    /// Stops the node and starts it again on the same folders (new ports,
    /// but the same cluster port: the other members know it by it).
    pub fn restart(self) -> TestNode {
        self.restart_with(|_| {})
    }

    /// Stops the node and starts it again with its configuration changed by
    /// `adjust` (a new release, in an upgrade test).
    pub fn restart_with(mut self, adjust: impl FnOnce(&mut NodeConfig)) -> TestNode {
        self.stop();
        adjust(&mut self.config);
        let node = node::server::start(self.config.clone()).expect("node restarts");
        self.node = Some(node);
        self
    }

    /// The bound address of a service (`smtp`, `submission`, `smtps`,
    /// `pop3`, `pop3s`, `cli`).
    pub fn addr(&self, key: &str) -> SocketAddr {
        self.node
            .as_ref()
            .and_then(|n| n.addr(key))
            .unwrap_or_else(|| panic!("service {key} is not listening"))
    }

    /// The node's cluster member.
    pub fn cluster(&self) -> &cluster::ClusterHandle {
        self.node.as_ref().expect("the node is running").cluster()
    }

    /// The shared base directory.
    pub fn base(&self) -> PathBuf {
        self.config.base_dir.clone()
    }

    /// The node-local data directory.
    pub fn data(&self) -> PathBuf {
        self.config.data_dir.clone()
    }

    /// The node's self-signed certificate (PEM).
    pub fn cert_path(&self) -> PathBuf {
        self.data().join("tls").join("cert.pem")
    }
}

/// Three (or more) nodes of one cluster in this process, sharing one base
/// directory, each with its own data directory and ports.
pub struct TestCluster {
    /// The members, in start order (the first bootstrapped the cluster).
    pub nodes: Vec<TestNode>,
}

impl TestCluster {
    /// Starts `n` members: the first bootstraps, the others join it.
    pub fn start(n: usize) -> TestCluster {
        TestCluster::start_with(n, |_, _| {})
    }

    /// Starts `n` members, member `i` (from 1) with its configuration
    /// changed by `adjust(i, config)`.
    pub fn start_with(n: usize, adjust: impl Fn(usize, &mut NodeConfig)) -> TestCluster {
        let first = TestNode::start_with(|c| {
            c.listen.cluster = loopback_any();
            adjust(1, c);
        });
        let base = first.base();
        let join = first.addr("cluster").to_string();
        let mut nodes = vec![first];
        for i in 2..=n {
            let (base, join) = (base.clone(), join.clone());
            nodes.push(TestNode::start_with(|c| {
                c.node_name = format!("node{i}");
                c.base_dir = base;
                c.listen.cluster = loopback_any();
                c.join = Some(join);
                adjust(i, c);
            }));
        }
        TestCluster { nodes }
    }
}

fn loopback_any() -> Listen {
    Listen::Addr("127.0.0.1:0".parse().expect("valid address"))
}

/// The configuration of a test node under `dir`.
pub fn test_config(dir: &Path) -> NodeConfig {
    let mut c = NodeConfig {
        node_name: "node1".into(),
        data_dir: dir.join("node"),
        base_dir: dir.join("base"),
        main_domain: MAIN_DOMAIN.into(),
        postmaster_password: Some(POSTMASTER_PASSWORD.into()),
        log_level: 5,
        ..NodeConfig::default()
    };
    let any = Listen::Addr("127.0.0.1:0".parse().expect("valid address"));
    c.listen.smtp = any;
    c.listen.submission = any;
    c.listen.smtps = any;
    c.listen.pop3 = any;
    c.listen.pop3s = any;
    c.listen.cli = any;
    c.listen.imap = any;
    c.listen.imaps = any;
    c.listen.webadmin = any;
    c.listen.webadmins = any;
    c.listen.webuser = Listen::Off;
    c.listen.cluster = Listen::Off;
    c.queue.retry_secs = 1;
    c.pop3.plaintext_on_loopback = true;
    c.imap.plaintext_on_loopback = true;
    c
}

/// A blocking line client for SMTP, POP3 and the CLI.
pub struct LineClient {
    reader: BufReader<TcpStream>,
}

/// How long any single read may take before a test fails.
const IO_TIMEOUT: Duration = Duration::from_secs(20);

impl LineClient {
    /// Connects to `addr`.
    pub fn connect(addr: SocketAddr) -> LineClient {
        let stream = TcpStream::connect(addr).expect("connect");
        stream.set_read_timeout(Some(IO_TIMEOUT)).expect("timeout");
        LineClient {
            reader: BufReader::new(stream),
        }
    }

    /// Sends raw bytes.
    pub fn send_raw(&mut self, bytes: &[u8]) {
        self.reader.get_mut().write_all(bytes).expect("write");
    }

    /// Sends a line, adding CRLF.
    pub fn send(&mut self, line: &str) {
        self.send_raw(format!("{line}\r\n").as_bytes());
    }

    /// Reads one line without its line end; empty at end of stream.
    pub fn line(&mut self) -> String {
        let mut buf = Vec::new();
        self.reader.read_until(b'\n', &mut buf).expect("read line");
        while matches!(buf.last(), Some(b'\n' | b'\r')) {
            buf.pop();
        }
        String::from_utf8_lossy(&buf).into_owned()
    }

    /// Reads one line and checks its start.
    pub fn expect(&mut self, prefix: &str) -> String {
        let line = self.line();
        assert!(
            line.starts_with(prefix),
            "expected {prefix:?}, got {line:?}"
        );
        line
    }

    /// Reads an SMTP reply (all continuation lines) and checks its code;
    /// returns the lines.
    pub fn expect_reply(&mut self, code: &str) -> Vec<String> {
        let mut lines = Vec::new();
        loop {
            let line = self.line();
            assert!(
                line.starts_with(code),
                "expected {code}, got {line:?} after {lines:?}"
            );
            let last = line.as_bytes().get(3) != Some(&b'-');
            lines.push(line);
            if last {
                return lines;
            }
        }
    }

    /// Reads a POP3 multi-line body up to the lone dot.
    pub fn read_multiline(&mut self) -> Vec<String> {
        let mut lines = Vec::new();
        loop {
            let line = self.line();
            if line == "." {
                return lines;
            }
            lines.push(line.strip_prefix('.').map_or(line.clone(), str::to_string));
        }
    }

    /// Reads until the server closes the connection.
    pub fn read_to_end(&mut self) -> String {
        let mut s = String::new();
        let _ = self.reader.read_to_string(&mut s);
        s
    }
}

/// Polls `f` until it returns `Some`, for at most `limit`.
pub fn wait_for<T>(limit: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A loopback port where connections are refused, for as long as this value lives: its socket
/// is bound and never listens, so no other test's listener can be given the port meanwhile (a
/// port bound and released at once can be, and a relay to it then waits for a greeting). The
/// socket allows address reuse, so the test itself may later listen on the port (the host
/// comes up): `TcpListener::bind` does too.
pub struct ClosedPort {
    _socket: tokio::net::TcpSocket,
    port: u16,
}

impl ClosedPort {
    /// Reserves a port.
    ///
    /// # Panics
    /// If no loopback socket can be bound.
    pub fn reserve() -> ClosedPort {
        let socket = tokio::net::TcpSocket::new_v4().expect("socket");
        socket.set_reuseaddr(true).expect("SO_REUSEADDR");
        socket
            .bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .expect("bind a loopback port");
        let port = socket.local_addr().expect("bound port").port();
        ClosedPort {
            _socket: socket,
            port,
        }
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }
}
