//! POP3 (RFC 1939, 2449, 2595, 5034) against a real node: a line client
//! for the transcripts, a rustls client for STLS and port 995, and curl
//! and Python's poplib as independent clients.
//!
//! Mail is put into mailboxes through the PIPE folder (`Submitted/*.sub`),
//! so these tests do not depend on the SMTP service.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};
use tests::{LineClient, MAIN_DOMAIN, POSTMASTER_PASSWORD, TestNode, wait_for};

use crate::it::cli::{login, run};

/// How long a delivery through the PIPE folder may take.
const DELIVERY_LIMIT: Duration = Duration::from_secs(15);

/// Creates `name` with password `pw` through the CLI.
fn create_account(node: &TestNode, name: &str, pw: &str) {
    let mut c = login(node);
    run(
        &mut c,
        &format!("CreateAccount {name} {{Password=\"{pw}\";}}"),
        "200 OK",
    );
}

/// Drops a message for `to` into the PIPE folder (written under another
/// name, then renamed, as the scanner expects).
fn submit(base: &Path, to: &str, subject: &str, body: &str) {
    let dir = base.join("Submitted");
    std::fs::create_dir_all(&dir).expect("Submitted folder");
    let name = format!("{}-{}", subject.replace(' ', "_"), std::process::id());
    let tmp = dir.join(format!("{name}.tmp"));
    let text = format!("From: bob@{MAIN_DOMAIN}\nTo: {to}\nSubject: {subject}\n\n{body}\n");
    std::fs::write(&tmp, text).expect("write submission");
    std::fs::rename(&tmp, dir.join(format!("{name}.sub"))).expect("rename submission");
}

/// The `<...>` timestamp of a POP3 greeting.
fn timestamp(greeting: &str) -> String {
    let start = greeting.find('<').expect("greeting has an APOP timestamp");
    let end = greeting.rfind('>').expect("greeting has an APOP timestamp");
    greeting[start..=end].to_string()
}

/// Connects to `addr` and logs in with APOP.
fn apop(addr: SocketAddr, user: &str, pw: &str) -> LineClient {
    let mut c = LineClient::connect(addr);
    let greeting = c.expect("+OK ");
    let digest = admin::cli::session::apop_digest(&timestamp(&greeting), pw);
    c.send(&format!("APOP {user} {digest}"));
    c.expect("+OK ");
    c
}

/// `(count, octets)` from STAT.
fn stat(c: &mut LineClient) -> (usize, u64) {
    c.send("STAT");
    let line = c.expect("+OK ");
    let mut words = line.split(' ').skip(1);
    let count = words
        .next()
        .and_then(|w| w.parse().ok())
        .expect("STAT count");
    let octets = words
        .next()
        .and_then(|w| w.parse().ok())
        .expect("STAT octets");
    (count, octets)
}

/// Waits until `user`'s maildrop holds `n` messages.
fn wait_for_count(addr: SocketAddr, user: &str, pw: &str, n: usize) {
    let seen = wait_for(DELIVERY_LIMIT, || {
        let mut c = apop(addr, user, pw);
        let (count, _) = stat(&mut c);
        c.send("QUIT");
        c.expect("+OK");
        (count == n).then_some(())
    });
    assert!(seen.is_some(), "{user} never had {n} messages");
}

/// `UIDL` as `(number, id)` pairs.
fn uidl(c: &mut LineClient) -> Vec<(usize, String)> {
    c.send("UIDL");
    c.expect("+OK");
    c.read_multiline()
        .iter()
        .map(|l| {
            let (n, id) = l.split_once(' ').expect("n id");
            (n.parse().expect("message number"), id.to_string())
        })
        .collect()
}

/// A node with alice and two messages in her INBOX.
fn node_with_mail() -> TestNode {
    let node = TestNode::start();
    create_account(&node, "alice", "pw");
    let to = format!("alice@{MAIN_DOMAIN}");
    submit(&node.base(), &to, "first", "hello one\n.dotted line");
    wait_for_count(node.addr("pop3"), "alice", "pw", 1);
    submit(&node.base(), &to, "second", "hello two");
    wait_for_count(node.addr("pop3"), "alice", "pw", 2);
    node
}

#[test]
fn rfc1939_10_example_session_with_apop() {
    let node = node_with_mail();
    let mut c = apop(node.addr("pop3"), "alice", "pw");
    let (count, octets) = stat(&mut c);
    assert_eq!(count, 2);

    c.send("LIST");
    let head = c.expect("+OK ");
    assert!(head.contains("2 messages"), "{head}");
    let sizes: Vec<u64> = c
        .read_multiline()
        .iter()
        .map(|l| {
            l.split(' ')
                .nth(1)
                .and_then(|s| s.parse().ok())
                .expect("n size")
        })
        .collect();
    assert_eq!(sizes.len(), 2);
    assert_eq!(sizes.iter().sum::<u64>(), octets);
    c.send("LIST 2");
    assert_eq!(c.line(), format!("+OK 2 {}", sizes[1]));

    c.send("RETR 1");
    assert_eq!(c.line(), format!("+OK {} octets", sizes[0]));
    let message = c.read_multiline();
    let wire: usize = message.iter().map(|l| l.len() + 2).sum();
    assert_eq!(wire as u64, sizes[0], "RETR size matches LIST: {message:?}");
    assert!(
        message.contains(&"Subject: first".to_string()),
        "{message:?}"
    );
    let blank = message
        .iter()
        .position(String::is_empty)
        .expect("header/body separator");
    assert_eq!(message[blank + 1..], ["hello one", ".dotted line"]);

    let ids = uidl(&mut c);
    assert_eq!(ids.len(), 2);
    assert_ne!(ids[0].1, ids[1].1);
    c.send("DELE 1");
    c.expect("+OK ");
    c.send("RETR 1");
    c.expect("-ERR ");
    c.send("STAT");
    assert_eq!(c.line(), format!("+OK 1 {}", sizes[1]));
    c.send("QUIT");
    c.expect("+OK ");
    assert_eq!(c.read_to_end(), "");

    let mut c = apop(node.addr("pop3"), "alice", "pw");
    assert_eq!(stat(&mut c).0, 1);
    assert_eq!(uidl(&mut c), vec![(1, ids[1].1.clone())]);
    c.send("RETR 1");
    c.expect("+OK ");
    assert!(c.read_multiline().contains(&"Subject: second".to_string()));
    c.send("QUIT");
    c.expect("+OK ");

    let node = node.restart();
    let mut c = apop(node.addr("pop3"), "alice", "pw");
    assert_eq!(
        uidl(&mut c),
        vec![(1, ids[1].1.clone())],
        "UIDL stable across restarts"
    );
    c.send("UIDL 1");
    assert_eq!(c.line(), format!("+OK 1 {}", ids[1].1));
    c.send("QUIT");
    c.expect("+OK ");
}

#[test]
fn rfc1939_6_no_update_without_quit_and_rset_undeletes() {
    let node = node_with_mail();
    let addr = node.addr("pop3");
    let mut c = apop(addr, "alice", "pw");
    c.send("DELE 1");
    c.expect("+OK ");
    c.send("DELE 1");
    c.expect("-ERR ");
    c.send("RSET");
    c.expect("+OK ");
    assert_eq!(stat(&mut c).0, 2);
    c.send("DELE 2");
    c.expect("+OK ");
    drop(c);
    // The dropped session must release its lock without expunging.
    let kept = wait_for(Duration::from_secs(5), || {
        let mut c = LineClient::connect(addr);
        let greeting = c.expect("+OK ");
        let digest = admin::cli::session::apop_digest(&timestamp(&greeting), "pw");
        c.send(&format!("APOP alice {digest}"));
        c.line().starts_with("+OK ").then(|| stat(&mut c).0)
    });
    assert_eq!(kept, Some(2));
}

#[test]
fn rfc1939_8_maildrop_is_a_snapshot_at_login() {
    let node = node_with_mail();
    let mut c = apop(node.addr("pop3"), "alice", "pw");
    assert_eq!(stat(&mut c).0, 2);
    submit(
        &node.base(),
        &format!("alice@{MAIN_DOMAIN}"),
        "third",
        "hello three",
    );
    let mbox = node.base().join("Accounts/alice.macnt/INBOX.mbox");
    let arrived = wait_for(DELIVERY_LIMIT, || {
        let text = std::fs::read_to_string(&mbox).ok()?;
        text.contains("Subject: third").then_some(())
    });
    assert!(
        arrived.is_some(),
        "third message delivered during the session"
    );
    assert_eq!(stat(&mut c).0, 2);
    c.send("RETR 3");
    c.expect("-ERR ");
    c.send("QUIT");
    c.expect("+OK ");
    wait_for_count(node.addr("pop3"), "alice", "pw", 3);
}

#[test]
fn rfc2449_8_1_2_second_session_is_in_use() {
    let node = node_with_mail();
    let addr = node.addr("pop3");
    let mut first = apop(addr, "alice", "pw");
    let mut second = LineClient::connect(addr);
    second.expect("+OK ");
    second.send("USER alice");
    second.expect("+OK ");
    second.send("PASS pw");
    second.expect("-ERR [IN-USE] ");
    first.send("QUIT");
    first.expect("+OK ");
    assert_eq!(first.read_to_end(), "");
    second.send("USER alice");
    second.expect("+OK ");
    second.send("PASS pw");
    second.expect("+OK ");
    assert_eq!(stat(&mut second).0, 2);
}

#[test]
fn errors_top_and_capa() {
    let node = node_with_mail();
    let mut c = LineClient::connect(node.addr("pop3"));
    c.expect("+OK ");
    c.send("CAPA");
    c.expect("+OK");
    let capa = c.read_multiline();
    for cap in [
        "USER",
        "TOP",
        "UIDL",
        "RESP-CODES",
        "AUTH-RESP-CODE",
        "PIPELINING",
        "STLS",
    ] {
        assert!(capa.iter().any(|l| l == cap), "{cap} missing from {capa:?}");
    }
    assert!(
        capa.iter()
            .any(|l| l.starts_with("SASL ") && l.contains("PLAIN")),
        "{capa:?}"
    );
    for cmd in ["STAT", "LIST", "RETR 1", "DELE 1", "UIDL", "TOP 1 0"] {
        c.send(cmd);
        c.expect("-ERR ");
    }
    c.send("PASS pw");
    c.expect("-ERR ");
    c.send("USER alice");
    c.expect("+OK ");
    c.send("PASS wrong");
    c.expect("-ERR [AUTH] ");
    c.send("APOP alice 0123456789abcdef0123456789abcdef");
    c.expect("-ERR [AUTH] ");
    c.send("FROB");
    c.expect("-ERR ");
    c.send("USER alice");
    c.expect("+OK ");
    c.send("PASS pw");
    c.expect("+OK ");
    // In TRANSACTION, CAPA no longer offers login mechanisms.
    c.send("CAPA");
    c.expect("+OK");
    let capa = c.read_multiline();
    assert!(!capa.iter().any(|l| l == "USER" || l == "STLS"), "{capa:?}");
    for cmd in [
        "RETR 0", "RETR 99", "LIST 3", "DELE 99", "TOP 99 1", "TOP 1", "RETR x", "USER bob",
    ] {
        c.send(cmd);
        c.expect("-ERR ");
    }

    c.send("TOP 1 0");
    c.expect("+OK ");
    let head = c.read_multiline();
    assert!(head.contains(&"Subject: first".to_string()), "{head:?}");
    assert_eq!(
        head.last().map(String::as_str),
        Some(""),
        "header and the blank line only"
    );
    c.send("TOP 1 1");
    c.expect("+OK ");
    let top = c.read_multiline();
    assert_eq!(top[..head.len()], head[..]);
    assert_eq!(top[head.len()..], ["hello one"]);
    c.send("TOP 1 99");
    c.expect("+OK ");
    assert_eq!(
        c.read_multiline()[head.len()..],
        ["hello one", ".dotted line"]
    );
    c.send("NOOP");
    c.expect("+OK");
    c.send("QUIT");
    c.expect("+OK ");
}

#[test]
fn rfc5034_auth_plain_and_login() {
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;
    let node = node_with_mail();
    let mut c = LineClient::connect(node.addr("pop3"));
    c.expect("+OK ");
    c.send("AUTH");
    c.expect("+OK");
    let mechs = c.read_multiline();
    assert!(mechs.contains(&"PLAIN".to_string()) && mechs.contains(&"LOGIN".to_string()));
    c.send(&format!("AUTH PLAIN {}", STANDARD.encode("\0alice\0wrong")));
    c.expect("-ERR [AUTH] ");
    c.send("AUTH PLAIN");
    c.expect("+ ");
    c.send("*");
    c.expect("-ERR ");
    c.send("AUTH LOGIN");
    assert_eq!(c.line(), format!("+ {}", STANDARD.encode("Username:")));
    c.send(&STANDARD.encode("alice"));
    assert_eq!(c.line(), format!("+ {}", STANDARD.encode("Password:")));
    c.send(&STANDARD.encode("pw"));
    c.expect("+OK ");
    assert_eq!(stat(&mut c).0, 2);
    c.send("QUIT");
    c.expect("+OK ");

    let mut c = LineClient::connect(node.addr("pop3"));
    c.expect("+OK ");
    c.send(&format!(
        "AUTH PLAIN {}",
        STANDARD.encode("postmaster\0alice\0pw")
    ));
    c.expect("-ERR [AUTH] ");
    c.send(&format!(
        "AUTH PLAIN {}",
        STANDARD.encode("alice\0alice\0pw")
    ));
    c.expect("+OK ");
}

#[test]
fn pipelined_commands_are_answered_in_order() {
    let node = node_with_mail();
    let mut c = apop(node.addr("pop3"), "alice", "pw");
    c.send_raw(b"STAT\r\nLIST 1\r\nRETR 2\r\nDELE 2\r\nNOOP\r\nQUIT\r\n");
    c.expect("+OK 2 ");
    c.expect("+OK 1 ");
    c.expect("+OK ");
    assert!(c.read_multiline().contains(&"hello two".to_string()));
    c.expect("+OK ");
    c.expect("+OK");
    c.expect("+OK ");
    assert_eq!(c.read_to_end(), "");
    wait_for_count(node.addr("pop3"), "alice", "pw", 1);
}

/// A node whose POP3 refuses plain-text logins on clear connections (the
/// default configuration).
fn strict_node(dir: &Path, idle_timeout_secs: u64) -> node::server::RunningNode {
    let mut config = tests::test_config(dir);
    config.pop3.plaintext_on_loopback = false;
    config.pop3.idle_timeout_secs = idle_timeout_secs;
    node::server::start(config).expect("node starts")
}

#[test]
fn rfc2595_2_2_no_plaintext_login_on_clear_connection() {
    let dir = tempfile::tempdir().expect("temp dir");
    let node = strict_node(dir.path(), 600);
    let addr = node.addr("pop3").expect("pop3 listener");
    let mut c = LineClient::connect(addr);
    let greeting = c.expect("+OK ");
    c.send("CAPA");
    c.expect("+OK");
    let capa = c.read_multiline();
    assert!(capa.iter().any(|l| l == "STLS"), "{capa:?}");
    assert!(
        !capa.iter().any(|l| l == "USER" || l.starts_with("SASL")),
        "{capa:?}"
    );
    c.send("USER postmaster");
    c.expect("-ERR ");
    c.send("PASS x");
    c.expect("-ERR ");
    c.send("AUTH PLAIN AHBvc3RtYXN0ZXIAeA==");
    c.expect("-ERR ");
    let digest = admin::cli::session::apop_digest(&timestamp(&greeting), POSTMASTER_PASSWORD);
    c.send(&format!("APOP postmaster {digest}"));
    c.expect("+OK ");
    assert_eq!(stat(&mut c).0, 0);
    c.send("QUIT");
    c.expect("+OK ");

    // STLS, then USER/PASS is allowed; the client starts over in
    // AUTHORIZATION and the timestamp still works for APOP.
    let mut t = TlsClient::starttls(addr, &dir.path().join("node/tls/cert.pem"));
    t.send("CAPA");
    t.expect("+OK");
    let capa = t.read_multiline();
    assert!(capa.iter().any(|l| l == "USER"), "{capa:?}");
    assert!(!capa.iter().any(|l| l == "STLS"), "{capa:?}");
    t.send("STLS");
    t.expect("-ERR ");
    t.send("USER postmaster");
    t.expect("+OK ");
    t.send(&format!("PASS {POSTMASTER_PASSWORD}"));
    t.expect("+OK ");
    t.send("QUIT");
    t.expect("+OK ");
}

#[test]
fn rfc1939_3_idle_timeout_closes_and_releases_lock() {
    let dir = tempfile::tempdir().expect("temp dir");
    let node = strict_node(dir.path(), 1);
    let addr = node.addr("pop3").expect("pop3 listener");
    let mut c = apop(addr, "postmaster", POSTMASTER_PASSWORD);
    let rest = c.read_to_end();
    assert!(rest.starts_with("-ERR "), "{rest:?}");
    let mut c = apop(addr, "postmaster", POSTMASTER_PASSWORD);
    c.send("QUIT");
    c.expect("+OK ");
}

#[test]
fn pop3s_has_no_stls_and_serves_mail() {
    let node = node_with_mail();
    let mut t = TlsClient::connect(node.addr("pop3s"), &node.cert_path());
    let greeting = t.expect("+OK ");
    t.send("CAPA");
    t.expect("+OK");
    let capa = t.read_multiline();
    assert!(capa.iter().any(|l| l == "USER"), "{capa:?}");
    assert!(!capa.iter().any(|l| l == "STLS"), "{capa:?}");
    t.send("STLS");
    t.expect("-ERR ");
    let digest = admin::cli::session::apop_digest(&timestamp(&greeting), "pw");
    t.send(&format!("APOP alice {digest}"));
    t.expect("+OK ");
    t.send("RETR 2");
    t.expect("+OK ");
    assert!(t.read_multiline().contains(&"hello two".to_string()));
    t.send("QUIT");
    t.expect("+OK ");
}

/// Runs an external client, or returns `None` when it is not installed.
fn external(program: &str, args: &[&str]) -> Option<std::process::Output> {
    match Command::new(program).args(args).output() {
        Ok(out) => Some(out),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            eprintln!("{program} not installed; skipping");
            None
        }
        Err(e) => panic!("{program}: {e}"),
    }
}

#[test]
fn curl_retrieves_over_pop3_and_pop3s() {
    let node = node_with_mail();
    let port = node.addr("pop3").port();
    let url = format!("pop3://alice:pw@127.0.0.1:{port}/1");
    let Some(out) = external("curl", &["-sS", "--max-time", "20", &url]) else {
        return;
    };
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("Subject: first") && stdout.contains("hello one"),
        "{stdout}"
    );

    let port = node.addr("pop3s").port();
    let cert = node.cert_path();
    let connect_to = format!("{MAIN_DOMAIN}:{port}:127.0.0.1:{port}");
    let url = format!("pop3s://{MAIN_DOMAIN}:{port}/2");
    let args = [
        "-sS",
        "--max-time",
        "20",
        "--cacert",
        cert.to_str().expect("utf-8 path"),
    ];
    let mut args = args.to_vec();
    args.extend(["--connect-to", &connect_to, "--user", "alice:pw", &url]);
    let out = external("curl", &args).expect("curl was found above");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("Subject: second") && stdout.contains("hello two"),
        "{stdout}"
    );
}

/// poplib over STLS on port 110 and over implicit TLS on port 995.
const POPLIB_SCRIPT: &str = r#"
import poplib, ssl, sys
port, port_s, cafile = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
ctx = ssl.create_default_context(cafile=cafile)
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_REQUIRED
p = poplib.POP3("127.0.0.1", port, timeout=20)
p.stls(ctx)
p.user("alice")
p.pass_("pw")
count, size = p.stat()
print("STAT", count, size)
resp, lines, octets = p.retr(1)
print("RETR", octets, b"|".join(lines).decode())
resp, top, _ = p.top(2, 0)
print("TOP", b"|".join(top).decode())
print("UIDL", " ".join(x.decode() for x in p.uidl()[1]))
p.quit()
s = poplib.POP3_SSL("127.0.0.1", port_s, context=ctx, timeout=20)
s.user("alice")
s.pass_("pw")
print("UIDL_SSL", " ".join(x.decode() for x in s.uidl()[1]))
s.dele(1)
s.quit()
"#;

#[test]
fn python_poplib_stls_and_pop3s() {
    let node = node_with_mail();
    let port = node.addr("pop3").port().to_string();
    let port_s = node.addr("pop3s").port().to_string();
    let cert = node.cert_path();
    let cafile = cert.to_str().expect("utf-8 path");
    let Some(out) = external("python3", &["-c", POPLIB_SCRIPT, &port, &port_s, cafile]) else {
        return;
    };
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let field = |name: &str| -> String {
        let prefix = format!("{name} ");
        let line = stdout.lines().find(|l| l.starts_with(&prefix));
        line.unwrap_or_else(|| panic!("no {name} in {stdout}"))[prefix.len()..].to_string()
    };
    assert!(field("STAT").starts_with("2 "), "{stdout}");
    let retr = field("RETR");
    assert!(
        retr.contains("|Subject: first|") && retr.ends_with("||hello one|.dotted line"),
        "{retr}"
    );
    let top = field("TOP");
    assert!(
        top.contains("Subject: second") && top.ends_with('|'),
        "{top}"
    );
    assert_eq!(field("UIDL"), field("UIDL_SSL"));
    wait_for_count(node.addr("pop3"), "alice", "pw", 1);
}

/// A blocking POP3 client over rustls that trusts the node's certificate
/// under the name `example.test`.
struct TlsClient {
    reader: BufReader<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>,
}

impl TlsClient {
    fn config(cert: &Path) -> Arc<rustls::ClientConfig> {
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(CertificateDer::from_pem_file(cert).expect("node certificate"))
            .expect("trust it");
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("protocol versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        Arc::new(config)
    }

    fn wrap(tcp: TcpStream, cert: &Path) -> TlsClient {
        tcp.set_read_timeout(Some(Duration::from_secs(20)))
            .expect("timeout");
        let name = ServerName::try_from(MAIN_DOMAIN).expect("server name");
        let conn = rustls::ClientConnection::new(Self::config(cert), name).expect("TLS client");
        TlsClient {
            reader: BufReader::new(rustls::StreamOwned::new(conn, tcp)),
        }
    }

    /// Implicit TLS (port 995); the greeting is left to read.
    fn connect(addr: SocketAddr, cert: &Path) -> TlsClient {
        Self::wrap(TcpStream::connect(addr).expect("connect"), cert)
    }

    /// Port 110: greeting, STLS, handshake.
    fn starttls(addr: SocketAddr, cert: &Path) -> TlsClient {
        let mut tcp = TcpStream::connect(addr).expect("connect");
        tcp.set_read_timeout(Some(Duration::from_secs(20)))
            .expect("timeout");
        let mut clear = BufReader::new(tcp.try_clone().expect("clone"));
        let mut line = String::new();
        clear.read_line(&mut line).expect("greeting");
        assert!(line.starts_with("+OK "), "{line}");
        tcp.write_all(b"STLS\r\n").expect("write");
        line.clear();
        clear.read_line(&mut line).expect("STLS reply");
        assert!(line.starts_with("+OK "), "{line}");
        assert!(
            clear.buffer().is_empty(),
            "nothing may follow +OK before the handshake"
        );
        Self::wrap(tcp, cert)
    }

    fn send(&mut self, line: &str) {
        let stream = self.reader.get_mut();
        stream
            .write_all(format!("{line}\r\n").as_bytes())
            .expect("write");
        stream.flush().expect("flush");
    }

    fn line(&mut self) -> String {
        let mut buf = Vec::new();
        self.reader.read_until(b'\n', &mut buf).expect("read line");
        while matches!(buf.last(), Some(b'\n' | b'\r')) {
            buf.pop();
        }
        String::from_utf8_lossy(&buf).into_owned()
    }

    fn expect(&mut self, prefix: &str) -> String {
        let line = self.line();
        assert!(
            line.starts_with(prefix),
            "expected {prefix:?}, got {line:?}"
        );
        line
    }

    fn read_multiline(&mut self) -> Vec<String> {
        let mut lines = Vec::new();
        loop {
            let line = self.line();
            if line == "." {
                return lines;
            }
            lines.push(line.strip_prefix('.').map_or(line.clone(), str::to_string));
        }
    }
}

/// The mailbox index is a cache: deleting it while the node is down, the
/// node rebuilds it from the mailbox with the same UIDs (issue 2 §6).
#[test]
fn issue_2_deleted_index_is_rebuilt_with_the_same_uids() {
    let mut node = node_with_mail();
    let mut c = apop(node.addr("pop3"), "alice", "pw");
    let before = uidl(&mut c);
    c.send("RETR 2");
    c.expect("+OK");
    let second = c.read_multiline();
    c.send("QUIT");
    c.expect("+OK");

    node.stop();
    let index = node.base().join("Accounts/alice.macnt/INBOX.mbox.idx");
    std::fs::remove_file(&index).expect("the index exists");
    let node = node.restart();

    let mut c = apop(node.addr("pop3"), "alice", "pw");
    assert_eq!(uidl(&mut c), before);
    c.send("RETR 2");
    c.expect("+OK");
    assert_eq!(c.read_multiline(), second);
    c.send("QUIT");
    c.expect("+OK");
    assert!(index.exists(), "the index is written again");
}
