//! Relaying to remote SMTP hosts (issue #5): routes to a loopback SMTP sink written here,
//! retries, bounces and delay notices (RFC 3464), the null sender, the DSN extension
//! (RFC 3461) in and out, relay control and rate limits.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tests::{ClosedPort, LineClient, TestNode, wait_for};

use super::cli::{login, run};

/// One transaction the sink accepted.
#[derive(Debug, Clone)]
struct Txn {
    mail_from: String,
    /// The MAIL and RCPT command lines as sent.
    lines: Vec<String>,
    rcpts: Vec<String>,
    data: String,
    tls: bool,
}

/// The reply to `RCPT TO:<rcpt>` the `nth` time (from 1) that recipient is seen.
type Rule = dyn Fn(&str, usize) -> &'static str + Send + Sync;

#[derive(Default)]
struct SinkState {
    txns: Vec<Txn>,
    seen: Vec<String>,
    /// Offer DSN (RFC 3461) in the EHLO reply.
    dsn: bool,
    /// Leave 8BITMIME (RFC 6152) out of the EHLO reply.
    no_8bitmime: bool,
    /// Offer SMTPUTF8 (RFC 6531) in the EHLO reply.
    smtputf8: bool,
}

/// A scripted SMTP server on 127.0.0.1, one thread per connection.
struct Sink {
    addr: SocketAddr,
    state: Arc<Mutex<SinkState>>,
}

/// Offered with STARTTLS by a TLS-capable sink.
type TlsConfig = Option<Arc<rustls::ServerConfig>>;

impl Sink {
    fn start(rule: impl Fn(&str, usize) -> &'static str + Send + Sync + 'static) -> Sink {
        Sink::start_on(TcpListener::bind("127.0.0.1:0").unwrap(), rule)
    }

    fn start_on(
        listener: TcpListener,
        rule: impl Fn(&str, usize) -> &'static str + Send + Sync + 'static,
    ) -> Sink {
        Sink::start_tls(listener, None, rule)
    }

    fn start_tls(
        listener: TcpListener,
        tls: TlsConfig,
        rule: impl Fn(&str, usize) -> &'static str + Send + Sync + 'static,
    ) -> Sink {
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(Mutex::new(SinkState::default()));
        let rule: Arc<Rule> = Arc::new(rule);
        let shared = state.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { return };
                let (state, rule, tls) = (shared.clone(), rule.clone(), tls.clone());
                std::thread::spawn(move || serve(conn, &state, &*rule, tls));
            }
        });
        Sink { addr, state }
    }

    /// Offers DSN from now on.
    fn offer_dsn(self) -> Sink {
        self.state.lock().unwrap().dsn = true;
        self
    }

    /// Leaves 8BITMIME out of its EHLO reply from now on.
    fn without_8bitmime(self) -> Sink {
        self.state.lock().unwrap().no_8bitmime = true;
        self
    }

    /// Offers SMTPUTF8 from now on.
    fn offer_smtputf8(self) -> Sink {
        self.state.lock().unwrap().smtputf8 = true;
        self
    }

    fn route(&self) -> String {
        self.addr.to_string()
    }

    fn txns(&self) -> Vec<Txn> {
        self.state.lock().unwrap().txns.clone()
    }

    /// Waits until `n` transactions were accepted.
    fn wait_txns(&self, n: usize) -> Vec<Txn> {
        wait_for(Duration::from_secs(20), || {
            let t = self.txns();
            (t.len() >= n).then_some(t)
        })
        .unwrap_or_else(|| panic!("the sink never got {n} transaction(s): {:?}", self.txns()))
    }
}

fn serve(conn: TcpStream, state: &Mutex<SinkState>, rule: &Rule, tls: TlsConfig) {
    let mut reader = BufReader::new(conn);
    let _ = reader.get_mut().write_all(b"220 sink.test ESMTP\r\n");
    if !session(&mut reader, state, rule, tls.is_some(), false) {
        return;
    }
    // STARTTLS was answered 220: the client speaks TLS next (nothing is buffered).
    let Some(config) = tls else { return };
    let conn = rustls::ServerConnection::new(config).unwrap();
    let mut reader = BufReader::new(rustls::StreamOwned::new(conn, reader.into_inner()));
    session(&mut reader, state, rule, false, true);
}

/// Serves commands until QUIT/EOF (false) or an accepted STARTTLS (true).
fn session<S: Read + Write>(
    reader: &mut BufReader<S>,
    state: &Mutex<SinkState>,
    rule: &Rule,
    offer_tls: bool,
    tls: bool,
) -> bool {
    let mut mail_from = String::new();
    let mut rcpts = Vec::new();
    let mut lines = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return false;
        }
        let line = line.trim_end_matches(['\r', '\n']).to_string();
        let upper = line.to_ascii_uppercase();
        let mut send = |s: &str| {
            let _ = reader.get_mut().write_all(s.as_bytes());
            let _ = reader.get_mut().flush();
        };
        if upper.starts_with("EHLO") {
            let starttls = if offer_tls { "250-STARTTLS\r\n" } else { "" };
            let (dsn, eight_bit, utf8) = {
                let s = state.lock().unwrap();
                (
                    if s.dsn { "250-DSN\r\n" } else { "" },
                    if s.no_8bitmime {
                        ""
                    } else {
                        "250-8BITMIME\r\n"
                    },
                    if s.smtputf8 { "250-SMTPUTF8\r\n" } else { "" },
                )
            };
            send(&format!(
                "250-sink.test\r\n{starttls}{dsn}250-PIPELINING\r\n{eight_bit}{utf8}250 SIZE 1000000\r\n"
            ));
        } else if upper == "STARTTLS" && offer_tls {
            send("220 2.0.0 ready to start TLS\r\n");
            return true;
        } else if upper.starts_with("MAIL FROM:") {
            mail_from = between(&line, '<', '>');
            rcpts.clear();
            lines = vec![line.clone()];
            send("250 2.1.0 ok\r\n");
        } else if upper.starts_with("RCPT TO:") {
            let rcpt = between(&line, '<', '>');
            lines.push(line.clone());
            let nth = {
                let mut s = state.lock().unwrap();
                s.seen.push(rcpt.clone());
                s.seen.iter().filter(|r| **r == rcpt).count()
            };
            let reply = rule(&rcpt, nth);
            if reply.starts_with('2') {
                rcpts.push(rcpt);
            }
            send(reply);
        } else if upper == "DATA" {
            if rcpts.is_empty() {
                send("554 5.5.1 no valid recipients\r\n");
                continue;
            }
            send("354 go ahead\r\n");
            let mut data = String::new();
            loop {
                let mut l = String::new();
                if reader.read_line(&mut l).unwrap_or(0) == 0 {
                    return false;
                }
                if l == ".\r\n" {
                    break;
                }
                data.push_str(l.strip_prefix('.').unwrap_or(&l));
            }
            state.lock().unwrap().txns.push(Txn {
                mail_from: mail_from.clone(),
                lines: lines.clone(),
                rcpts: std::mem::take(&mut rcpts),
                data,
                tls,
            });
            let _ = reader.get_mut().write_all(b"250 2.0.0 queued as SINK\r\n");
            let _ = reader.get_mut().flush();
        } else if upper == "QUIT" {
            send("221 2.0.0 bye\r\n");
            return false;
        } else if upper == "RSET" || upper == "NOOP" {
            send("250 ok\r\n");
        } else {
            send("502 5.5.2 not implemented\r\n");
        }
    }
}

fn between(line: &str, open: char, close: char) -> String {
    let start = line.find(open).map_or(0, |i| i + 1);
    let end = line[start..].find(close).map_or(line.len(), |i| start + i);
    line[start..end].to_string()
}

/// Submits a message through `Submitted/` (trusted: may relay).
fn submit(node: &TestNode, name: &str, text: &str) {
    let dir = node.base().join("Submitted");
    std::fs::write(dir.join(format!("{name}.tmp")), text).unwrap();
    std::fs::rename(
        dir.join(format!("{name}.tmp")),
        dir.join(format!("{name}.sub")),
    )
    .unwrap();
}

fn system_log(node: &TestNode) -> String {
    let dir = node.base().join("SystemLogs/node1");
    let mut text = String::new();
    for entry in std::fs::read_dir(dir).expect("log folder").flatten() {
        text.push_str(&std::fs::read_to_string(entry.path()).unwrap_or_default());
    }
    text
}

fn wait_log(node: &TestNode, needles: &[&str]) -> String {
    wait_for(Duration::from_secs(20), || {
        let log = system_log(node);
        needles.iter().all(|n| log.contains(n)).then_some(log)
    })
    .unwrap_or_else(|| panic!("log never showed {needles:?}:\n{}", system_log(node)))
}

fn inbox(node: &TestNode, account: &str) -> String {
    // The mailbox stores LF line ends.
    std::fs::read_to_string(
        node.base()
            .join(format!("Accounts/{account}.macnt/INBOX.mbox")),
    )
    .unwrap_or_default()
    .replace("\r\n", "\n")
}

fn wait_inbox(node: &TestNode, account: &str, needle: &str) -> String {
    wait_for(Duration::from_secs(20), || {
        let text = inbox(node, account);
        text.contains(needle).then_some(text)
    })
    .unwrap_or_else(|| {
        panic!(
            "{needle:?} never reached {account}:\n{}",
            inbox(node, account)
        )
    })
}

/// Files left in the shared queue folder.
fn queued_bodies(node: &TestNode) -> usize {
    std::fs::read_dir(node.base().join("Queue"))
        .map(|d| d.flatten().count())
        .unwrap_or(0)
}

#[test]
fn issue_5_one_transaction_per_host_carrying_all_its_recipients() {
    let first = Sink::start(|_, _| "250 2.1.5 ok\r\n");
    let second = Sink::start(|_, _| "250 2.1.5 ok\r\n");
    let node = TestNode::start_with(|c| {
        c.relay.routes.insert("remote.test".into(), first.route());
        c.relay.routes.insert("*.other.test".into(), second.route());
    });
    submit(
        &node,
        "many",
        "From: postmaster@example.test\nTo: a@remote.test, b@remote.test, c@mx.other.test\n\
         Subject: relay me\n\n.leading dot\nhello\n",
    );
    let txns = first.wait_txns(1);
    assert_eq!(txns.len(), 1, "{txns:?}");
    assert_eq!(txns[0].mail_from, "postmaster@example.test");
    assert_eq!(txns[0].rcpts, ["a@remote.test", "b@remote.test"]);
    assert!(
        txns[0].data.contains("Subject: relay me\r\n"),
        "{:?}",
        txns[0].data
    );
    assert!(
        txns[0].data.contains("\r\n.leading dot\r\nhello\r\n"),
        "{:?}",
        txns[0].data
    );
    assert!(
        !txns[0].data.contains("Return-Path"),
        "only final delivery adds it"
    );
    let other = second.wait_txns(1);
    assert_eq!(other[0].rcpts, ["c@mx.other.test"]);
    let log = wait_log(
        &node,
        &[
            "SMTP(127.0.0.1) delivered: 250 2.0.0 queued as SINK",
            ") deleted",
        ],
    );
    assert!(!log.contains("bounced"), "{log}");
    assert_eq!(first.txns().len(), 1);
    assert_eq!(queued_bodies(&node), 0);
}

#[test]
fn issue_5_temporary_failure_then_success_delivers_once() {
    let sink = Sink::start(|_, nth| {
        if nth == 1 {
            "451 4.3.0 try again later\r\n"
        } else {
            "250 2.1.5 ok\r\n"
        }
    });
    let node = TestNode::start_with(|c| {
        c.relay.routes.insert("remote.test".into(), sink.route());
        c.relay.retry_first_secs = 1;
    });
    submit(
        &node,
        "later",
        "From: postmaster@example.test\nTo: bob@remote.test\nSubject: retry\n\nbody\n",
    );
    let txns = sink.wait_txns(1);
    assert_eq!(txns[0].rcpts, ["bob@remote.test"]);
    let log = wait_log(
        &node,
        &[
            "deferred: 451 4.3.0 try again later <bob@remote.test>",
            "delivered: 250",
            ") deleted",
        ],
    );
    // The deferral comes first, the delivery after it.
    assert!(log.find("deferred: 451").unwrap() < log.find("delivered: 250").unwrap());
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(sink.txns().len(), 1, "delivered exactly once");
    assert!(!system_log(&node).contains("bounced"));
}

#[test]
fn issue_5_permanent_failure_bounces_an_rfc3464_report_to_the_local_sender() {
    let sink = Sink::start(|rcpt, _| {
        if rcpt.starts_with("bob@") {
            "550 5.1.1 <bob@remote.test>: no such user\r\n"
        } else {
            "250 2.1.5 ok\r\n"
        }
    });
    let node = TestNode::start_with(|c| {
        c.relay.routes.insert("remote.test".into(), sink.route());
    });
    submit(
        &node,
        "bounce",
        "From: postmaster@example.test\nTo: alice@remote.test, bob@remote.test, ghost@example.test\n\
         Subject: will bounce\nMessage-ID: <orig-1@example.test>\n\nsecret body text\n",
    );
    let txns = sink.wait_txns(1);
    assert_eq!(txns[0].rcpts, ["alice@remote.test"], "bob was refused");
    let dsn = wait_inbox(
        &node,
        "postmaster",
        "Final-Recipient: rfc822; bob@remote.test",
    );
    for needle in [
        "Return-Path: <>",
        "From: Mail Delivery System <MAILER-DAEMON@",
        "Subject: Undelivered Mail Returned to Sender",
        "Auto-Submitted: auto-replied",
        "Content-Type: multipart/report; report-type=delivery-status;",
        "Content-Type: message/delivery-status",
        "Reporting-MTA: dns; ",
        "Arrival-Date: ",
        "Final-Recipient: rfc822; bob@remote.test\nAction: failed\nStatus: 5.1.1\n\
         Remote-MTA: dns; 127.0.0.1\nDiagnostic-Code: smtp; 550 5.1.1 <bob@remote.test>: no such user",
        "Final-Recipient: rfc822; ghost@example.test\nAction: failed\nStatus: 5.1.1",
        "Content-Type: text/rfc822-headers",
        "Subject: will bounce",
        "Message-ID: <orig-1@example.test>",
    ] {
        assert!(dsn.contains(needle), "DSN lacks {needle:?}:\n{dsn}");
    }
    assert!(
        !dsn.contains("alice@remote.test\nAction"),
        "alice was delivered"
    );
    assert!(
        !dsn.contains("secret body text"),
        "only the header comes back"
    );
    wait_log(
        &node,
        &["bounced to <postmaster@example.test>", "failed: 550 5.1.1"],
    );
    std::thread::sleep(Duration::from_secs(1));
    let inbox = inbox(&node, "postmaster");
    assert_eq!(
        inbox.matches("Undelivered Mail Returned").count(),
        1,
        "one DSN"
    );
}

#[test]
fn issue_5_unreachable_host_is_deferred_then_delivered_when_it_comes_up() {
    // Take a free port, then close it: connections are refused until the sink binds it.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let node = TestNode::start_with(|c| {
        c.relay
            .routes
            .insert("remote.test".into(), format!("127.0.0.1:{port}"));
        c.relay.retry_first_secs = 1;
        c.relay.retry_max_secs = 2;
    });
    submit(
        &node,
        "down",
        "From: postmaster@example.test\nTo: bob@remote.test\nSubject: wait\n\nbody\n",
    );
    wait_log(&node, &["deferred: 451 4.4.1 cannot connect to 127.0.0.1"]);
    assert_eq!(queued_bodies(&node), 1, "the queue keeps the message");
    let sink = Sink::start_on(
        TcpListener::bind(("127.0.0.1", port)).unwrap(),
        |_, _| "250 ok\r\n",
    );
    let txns = sink.wait_txns(1);
    assert_eq!(txns[0].rcpts, ["bob@remote.test"]);
    wait_log(&node, &[") deleted"]);
    assert!(!system_log(&node).contains("bounced"));
    assert_eq!(sink.txns().len(), 1);
}

#[test]
fn issue_5_gives_up_after_give_up_secs_and_bounces() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let node = TestNode::start_with(|c| {
        c.relay
            .routes
            .insert("remote.test".into(), format!("127.0.0.1:{port}"));
        c.relay.retry_first_secs = 1;
        c.relay.retry_max_secs = 1;
        c.relay.give_up_secs = 2;
    });
    submit(
        &node,
        "expire",
        "From: postmaster@example.test\nTo: bob@remote.test\nSubject: expire\n\nbody\n",
    );
    let dsn = wait_inbox(
        &node,
        "postmaster",
        "Final-Recipient: rfc822; bob@remote.test",
    );
    assert!(dsn.contains("Action: failed\nStatus: 4.4.1\n"), "{dsn}");
    assert!(dsn.contains("gave up after 2 s"), "{dsn}");
    wait_log(&node, &[") deleted"]);
}

#[test]
fn issue_5_null_sender_is_never_bounced() {
    let sink = Sink::start(|_, _| "550 5.1.1 no such user\r\n");
    let node = TestNode::start_with(|c| {
        c.relay.routes.insert("remote.test".into(), sink.route());
    });
    submit(
        &node,
        "null",
        "Return-Path: <>\nFrom: postmaster@example.test\nTo: bob@remote.test\nSubject: from null\n\nbody\n",
    );
    let log = wait_log(
        &node,
        &[
            "failed: 550 5.1.1 no such user <bob@remote.test>",
            ") deleted",
        ],
    );
    std::thread::sleep(Duration::from_secs(1));
    let log = system_log(&node).to_string() + &log;
    assert!(!log.contains("bounced"), "{log}");
    assert!(!inbox(&node, "postmaster").contains("Undelivered"));
    assert!(sink.txns().is_empty());
}

#[test]
fn issue_5_opportunistic_starttls_to_the_sink() {
    // The sink uses a self-signed certificate: the node's own, made at its first start.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let node = TestNode::start_with(|c| {
        c.relay
            .routes
            .insert("remote.test".into(), format!("127.0.0.1:{port}"));
    });
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(node.cert_path())
        .unwrap()
        .map(|c| c.unwrap())
        .collect();
    let key = PrivateKeyDer::from_pem_file(node.data().join("tls").join("key.pem")).unwrap();
    let config = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
    let sink = Sink::start_tls(
        TcpListener::bind(("127.0.0.1", port)).unwrap(),
        Some(Arc::new(config)),
        |_, _| "250 2.1.5 ok\r\n",
    );
    submit(
        &node,
        "tls",
        "From: postmaster@example.test\nTo: bob@remote.test\nSubject: over tls\n\nbody\n",
    );
    let txns = sink.wait_txns(1);
    assert!(txns[0].tls, "the transaction ran under TLS");
    assert!(txns[0].data.contains("Subject: over tls"));
    wait_log(&node, &["delivered: 250", ") deleted"]);
}

/// A free loopback port, closed again: connections to it are refused.
/// An SMTP session to the node's port 25, greeted with EHLO; returns the EHLO lines.
fn smtp(node: &TestNode) -> (LineClient, Vec<String>) {
    let mut c = LineClient::connect(node.addr("smtp"));
    c.expect("220 ");
    c.send("EHLO client.test");
    let ehlo = c.expect_reply("250");
    (c, ehlo)
}

fn trust_loopback(node: &TestNode) {
    let mut cli = login(node);
    run(&mut cli, "SetClientIPs \"127.0.0.1\"", "200 ");
}

#[test]
fn issue_5_one_delay_notice_then_delivery() {
    let closed = ClosedPort::reserve();
    let port = closed.port();
    let node = TestNode::start_with(|c| {
        c.relay
            .routes
            .insert("remote.test".into(), format!("127.0.0.1:{port}"));
        c.relay.retry_first_secs = 1;
        c.relay.retry_max_secs = 1;
        c.relay.delay_notify_secs = 2;
    });
    submit(
        &node,
        "slow",
        "From: postmaster@example.test\nTo: bob@remote.test\nSubject: slow one\n\nbody\n",
    );
    let notice = wait_inbox(&node, "postmaster", "Action: delayed");
    for needle in [
        "Return-Path: <>",
        "Subject: Delayed Mail (still being retried)",
        "Final-Recipient: rfc822; bob@remote.test\nAction: delayed\nStatus: 4.4.1\n",
        "Subject: slow one",
    ] {
        assert!(notice.contains(needle), "lacks {needle:?}:\n{notice}");
    }
    // Retries go on every second; the notice is sent once.
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        inbox(&node, "postmaster").matches("Delayed Mail").count(),
        1
    );
    let sink = Sink::start_on(
        TcpListener::bind(("127.0.0.1", port)).unwrap(),
        |_, _| "250 ok\r\n",
    );
    sink.wait_txns(1);
    wait_log(
        &node,
        &[
            ") deleted",
            "delay notice sent to <postmaster@example.test>",
        ],
    );
    assert!(!system_log(&node).contains("bounced"));
}

#[test]
fn issue_5_rfc3461_dsn_parameters_in_and_out() {
    let with_dsn = Sink::start(|_, _| "250 2.1.5 ok\r\n").offer_dsn();
    let without = Sink::start(|rcpt, _| {
        if rcpt.starts_with("dave@") {
            "550 5.1.1 no dave\r\n"
        } else {
            "250 2.1.5 ok\r\n"
        }
    });
    let node = TestNode::start_with(|c| {
        c.relay
            .routes
            .insert("remote.test".into(), with_dsn.route());
        c.relay.routes.insert("other.test".into(), without.route());
    });
    trust_loopback(&node);
    let (mut c, ehlo) = smtp(&node);
    assert!(ehlo.iter().any(|l| l == "250-DSN"), "{ehlo:?}");
    for (line, reply) in [
        (
            "MAIL FROM:<postmaster@example.test> RET=HDRS ENVID=QQ314159",
            "250 ",
        ),
        (
            "RCPT TO:<bob@remote.test> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;Bob@remote.test",
            "250 ",
        ),
        (
            "RCPT TO:<carol@other.test> NOTIFY=SUCCESS ORCPT=rfc822;Carol@other.test",
            "250 ",
        ),
        ("RCPT TO:<dave@other.test> NOTIFY=NEVER", "250 "),
        ("RCPT TO:<postmaster@example.test> NOTIFY=SUCCESS", "250 "),
        ("RCPT TO:<erin@other.test> NOTIFY=MAYBE", "501 "),
        ("DATA", "354 "),
    ] {
        c.send(line);
        c.expect(reply);
    }
    c.send("Subject: dsn test\r\n\r\nhello\r\n.");
    c.expect("250 ");
    c.send("QUIT");
    // The DSN host gets the parameters (xtext-encoded); the other one does not.
    let txns = with_dsn.wait_txns(1);
    let mail = &txns[0].lines[0];
    assert!(
        mail.starts_with("MAIL FROM:<postmaster@example.test> SIZE=")
            && mail.ends_with(" RET=HDRS ENVID=QQ314159"),
        "{mail}"
    );
    assert_eq!(
        txns[0].lines[1],
        "RCPT TO:<bob@remote.test> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;Bob@remote.test"
    );
    let other = without.wait_txns(1);
    assert!(
        other[0]
            .lines
            .iter()
            .all(|l| !l.contains("NOTIFY") && !l.contains("RET="))
    );
    // Success notice: carol relayed (no DSN there), postmaster delivered; bob's host
    // reports itself; dave (NEVER) gets no bounce.
    let notice = wait_inbox(&node, "postmaster", "Successful Mail Delivery Report");
    for needle in [
        "Original-Envelope-Id: QQ314159\n",
        "Original-Recipient: rfc822; Carol@other.test\nFinal-Recipient: rfc822; carol@other.test\nAction: relayed\nStatus: 2.0.0\n",
        "Final-Recipient: rfc822; postmaster@example.test\nAction: delivered\n",
    ] {
        assert!(notice.contains(needle), "lacks {needle:?}:\n{notice}");
    }
    assert!(
        !notice.contains("Final-Recipient: rfc822; bob@remote.test"),
        "{notice}"
    );
    wait_log(
        &node,
        &["failed: 550 5.1.1 no dave <dave@other.test>", ") deleted"],
    );
    std::thread::sleep(Duration::from_secs(1));
    let all = inbox(&node, "postmaster");
    assert!(
        !all.contains("Undelivered Mail"),
        "NOTIFY=NEVER: no bounce\n{all}"
    );
    assert_eq!(all.matches("Successful Mail Delivery Report").count(), 1);
}

#[test]
fn issue_5_open_relay_refused_unless_the_client_is_trusted() {
    let sink = Sink::start(|_, _| "250 ok\r\n");
    let node = TestNode::start_with(|c| {
        c.relay.routes.insert("remote.test".into(), sink.route());
    });
    let (mut c, _) = smtp(&node);
    c.send("MAIL FROM:<someone@outside.test>");
    c.expect("250 ");
    c.send("RCPT TO:<victim@remote.test>");
    c.expect("554 5.7.1");
    c.send("QUIT");
    trust_loopback(&node);
    let (mut c, _) = smtp(&node);
    c.send("MAIL FROM:<someone@outside.test>");
    c.expect("250 ");
    c.send("RCPT TO:<friend@remote.test>");
    c.expect("250 ");
    c.send("DATA");
    c.expect("354 ");
    c.send("Subject: trusted\r\n\r\nhi\r\n.");
    c.expect("250 ");
    let txns = sink.wait_txns(1);
    assert_eq!(txns[0].rcpts, ["friend@remote.test"]);
}

#[test]
fn issue_5_connection_and_message_rate_limits() {
    let node = TestNode::start_with(|c| {
        c.smtp.max_connection_rate_per_ip = 2;
        c.smtp.max_message_rate_per_ip = 1;
        c.smtp.rate_limit_loopback = true;
    });
    let (mut first, _) = smtp(&node);
    first.send("MAIL FROM:<a@outside.test>");
    first.expect("250 ");
    first.send("RSET");
    first.expect("250 ");
    first.send("MAIL FROM:<a@outside.test>");
    first.expect("451 4.7.1");
    let (_second, _) = smtp(&node);
    let mut third = LineClient::connect(node.addr("smtp"));
    third.expect("421 4.7.0");
    // Trusted client addresses are not limited.
    trust_loopback(&node);
    let (mut fourth, _) = smtp(&node);
    fourth.send("MAIL FROM:<a@outside.test>");
    fourth.expect("250 ");
}

#[test]
fn issue_5_cli_router_table_queue_listing_release_and_reject() {
    let closed = ClosedPort::reserve();
    let port = closed.port();
    let node = TestNode::start_with(|c| {
        // No config route: the Raft table set below is the only way to the sink.
        c.relay.retry_first_secs = 3600;
        c.relay.retry_max_secs = 3600;
    });
    let mut cli = login(&node);
    run(&mut cli, "INLINE", "200 ");
    run(
        &mut cli,
        &format!("SetRouterTable \"; test routes\\e<*@remote.test> = 127.0.0.1:{port}\""),
        "200 ",
    );
    let table = run(&mut cli, "GetRouterTable", "201 ");
    assert!(
        table.contains(&format!("remote.test = 127.0.0.1:{port}")),
        "{table}"
    );
    run(&mut cli, "SetRouterTable \"x = :1\"", "5");
    submit(
        &node,
        "held",
        "From: postmaster@example.test\nTo: bob@remote.test\nSubject: held\n\nbody\n",
    );
    wait_log(
        &node,
        &[&format!(
            "deferred: 451 4.4.1 cannot connect to 127.0.0.1 [127.0.0.1:{port}]"
        )],
    );
    let list = run(&mut cli, "ListQueue", "201 ");
    for needle in [
        "bob@remote.test",
        "deferred",
        "lastError",
        "nextAttempt",
        "postmaster@example.test",
    ] {
        assert!(list.contains(needle), "ListQueue lacks {needle}: {list}");
    }
    let sink = Sink::start_on(
        TcpListener::bind(("127.0.0.1", port)).unwrap(),
        |rcpt, _| {
            if rcpt.starts_with("carol@") {
                "451 4.3.0 not now\r\n"
            } else {
                "250 ok\r\n"
            }
        },
    );
    // The retry is an hour away: release brings it forward.
    run(&mut cli, "ReleaseSMTPQueue \"remote.test\"", "200 ");
    assert_eq!(sink.wait_txns(1)[0].rcpts, ["bob@remote.test"]);
    wait_log(&node, &[") deleted"]);
    submit(
        &node,
        "rejected",
        "From: postmaster@example.test\nTo: carol@remote.test\nSubject: to reject\n\nbody\n",
    );
    let log = wait_log(&node, &["deferred: 451 4.3.0 not now <carol@remote.test>"]);
    let line = log
        .lines()
        .find(|l| l.contains("deferred: 451 4.3.0 not now"))
        .unwrap();
    // The log line is `[id] SMTP(host) deferred: ...`.
    let id = between(line, '[', ']');
    run(
        &mut cli,
        &format!("RejectQueueMessage {id} \"spam, says the admin\""),
        "200 ",
    );
    let dsn = wait_inbox(
        &node,
        "postmaster",
        "Final-Recipient: rfc822; carol@remote.test",
    );
    assert!(dsn.contains("Action: failed\nStatus: 5.0.0\n"), "{dsn}");
    assert!(dsn.contains("spam, says the admin"), "{dsn}");
    run(&mut cli, "RejectQueueMessage 999999", "5");
}

#[test]
fn issue_5_forwarders_and_groups_are_routed_by_the_directory() {
    let sink = Sink::start(|_, _| "250 ok\r\n").offer_dsn();
    let route = sink.route();
    let node = TestNode::start_with(move |c| {
        c.relay.routes.insert("remote.test".into(), route);
    });
    let mut cli = login(&node);
    run(&mut cli, "INLINE", "200 ");
    run(&mut cli, "CreateAccount pat", "200 ");
    run(&mut cli, "CreateAccount kim", "200 ");
    run(
        &mut cli,
        "CreateForwarder out TO \"ext@remote.test\"",
        "200 ",
    );
    run(&mut cli, "CreateForwarder hop TO \"out\"", "200 ");
    run(
        &mut cli,
        "CreateGroup team {Members=(pat, kim, \"far@remote.test\", inner);}",
        "200 ",
    );
    run(
        &mut cli,
        "CreateGroup inner {Members=(pat, \"deep@remote.test\");}",
        "200 ",
    );

    // SMTP accepts forwarders and groups like accounts; unknown names still fail.
    trust_loopback(&node);
    let (mut c, _) = smtp(&node);
    c.send("MAIL FROM:<sender@client.test>");
    c.expect("250 ");
    for rcpt in ["hop@example.test", "team@example.test"] {
        c.send(&format!("RCPT TO:<{rcpt}>"));
        c.expect("250 ");
    }
    c.send("RCPT TO:<nobody@example.test>");
    c.expect("550 5.1.1");
    c.send("DATA");
    c.expect("354 ");
    c.send("Subject: routed\r\n\r\nhello\r\n.");
    c.expect("250 ");
    c.send("QUIT");

    // The forwarder's target and the group's remote members go out in one
    // transaction; pat gets one copy although the group names it twice.
    let txns = sink.wait_txns(1);
    let mut rcpts: Vec<String> = txns.iter().flat_map(|t| t.rcpts.clone()).collect();
    rcpts.sort();
    assert_eq!(
        rcpts,
        ["deep@remote.test", "ext@remote.test", "far@remote.test"]
    );
    // The remote host learns which address the sender used (RFC 3461 §4.2).
    let lines: Vec<String> = txns.iter().flat_map(|t| t.lines.clone()).collect();
    assert!(
        lines
            .iter()
            .any(|l| l.contains("<ext@remote.test>") && l.contains("ORCPT=rfc822;hop@example.test")),
        "{lines:?}"
    );
    wait_inbox(&node, "pat", "Subject: routed");
    wait_inbox(&node, "kim", "Subject: routed");
    let log = wait_log(
        &node,
        &[
            "<hop@example.test> forwarded to <ext@remote.test>",
            ") deleted",
        ],
    );
    assert_eq!(
        inbox(&node, "pat").matches("Subject: routed").count(),
        1,
        "{log}"
    );

    // `Route` explains each case.
    let account = run(&mut cli, "Route pat@example.test", "201 ");
    assert!(
        account.contains("module=LOCAL") && account.contains("pat@example.test"),
        "{account}"
    );
    let fwd = run(&mut cli, "Route hop", "201 ");
    for needle in [
        "module=SMTP",
        "ext@remote.test",
        &sink.route(),
        "hop@example.test",
        "out@example.test",
    ] {
        assert!(fwd.contains(needle), "Route hop lacks {needle}: {fwd}");
    }
    let group = run(&mut cli, "Route team@example.test", "201 ");
    for needle in [
        "module=GROUP",
        "kim@example.test",
        "far@remote.test",
        "deep@remote.test",
    ] {
        assert!(group.contains(needle), "Route team lacks {needle}: {group}");
    }
    let mx = run(&mut cli, "Route someone@elsewhere.test", "201 ");
    assert!(mx.contains("MX(elsewhere.test)"), "{mx}");
    run(
        &mut cli,
        "SetRouterTable \"elsewhere.test = 192.0.2.7:2525\"",
        "200 ",
    );
    let table = run(&mut cli, "Route someone@elsewhere.test", "201 ");
    assert!(table.contains("192.0.2.7:2525"), "{table}");
    run(&mut cli, "Route nobody@example.test", "5");
}

/// Per-leg state (issue 5): a group with remote members at two hosts, one
/// answering `250` and the other `451` then `250`. The retry goes to the
/// second host only, so the first gets the message exactly once.
#[test]
fn issue_5_a_group_retry_does_not_resend_legs_that_answered_250() {
    assert_eq!(group_retry_copies(None), 1);
}

/// Until every member speaks [`cluster::rpc::LEG_REPORT_VERSION`] the legs
/// are not recorded and the retry sends every leg again (at least once).
#[test]
fn issue_5_a_group_retry_resends_every_leg_before_protocol_5() {
    let older = cluster::rpc::LEG_REPORT_VERSION - 1;
    assert_eq!(group_retry_copies(Some(older)), 2);
}

/// Sends one message to a group of `a@one.test` (always `250`) and
/// `b@two.test` (`451`, then `250`) on a node speaking `protocol`; returns
/// how many copies `a@one.test` got once the message left the queue.
fn group_retry_copies(protocol: Option<u32>) -> usize {
    let steady = Sink::start(|_, _| "250 2.1.5 ok\r\n");
    let flaky = Sink::start(|_, nth| {
        if nth == 1 {
            "451 4.3.0 try again later\r\n"
        } else {
            "250 2.1.5 ok\r\n"
        }
    });
    let (one, two) = (steady.route(), flaky.route());
    let node = TestNode::start_with(move |c| {
        c.relay.routes.insert("one.test".into(), one);
        c.relay.routes.insert("two.test".into(), two);
        c.relay.retry_first_secs = 1;
        c.cluster_protocol = protocol;
    });
    run(
        &mut login(&node),
        "CreateGroup team {Members=(\"a@one.test\", \"b@two.test\");}",
        "200 ",
    );
    submit(
        &node,
        "legs",
        "From: postmaster@example.test\nTo: team@example.test\nSubject: legs\n\nbody\n",
    );
    assert_eq!(flaky.wait_txns(1)[0].rcpts, ["b@two.test"]);
    let log = wait_log(
        &node,
        &[
            "deferred: 451 4.3.0 try again later <b@two.test>",
            ") deleted",
        ],
    );
    assert_eq!(flaky.txns().len(), 1, "{log}");
    assert!(!log.contains("bounced"), "{log}");
    let txns = steady.txns();
    assert!(txns.iter().all(|t| t.rcpts == ["a@one.test"]), "{txns:?}");
    txns.len()
}

#[test]
fn issue_5_cli_message_queue_info_per_domain() {
    let closed = ClosedPort::reserve();
    let port = closed.port();
    let node = TestNode::start_with(move |c| {
        c.relay
            .routes
            .insert("remote.test".into(), format!("127.0.0.1:{port}"));
        c.relay.retry_first_secs = 3600;
        c.relay.retry_max_secs = 3600;
    });
    let mut cli = login(&node);
    run(&mut cli, "INLINE", "200 ");
    let empty = run(
        &mut cli,
        "GetMessageQueueInfo SMTP QUEUE \"remote.test\"",
        "201 ",
    );
    assert!(empty.contains("nTotal=#0"), "{empty}");
    submit(
        &node,
        "held",
        "From: postmaster@example.test\nTo: bob@remote.test\nSubject: held\n\nbody\n",
    );
    wait_log(&node, &["deferred: 451 4.4.1 cannot connect"]);
    let info = run(
        &mut cli,
        "GetMessageQueueInfo SMTP QUEUE \"remote.test\"",
        "201 ",
    );
    for needle in [
        "nTotal=#1",
        "size=#",
        "delayedTill=#T",
        "lastError=\"451 4.4.1 cannot connect",
    ] {
        assert!(info.contains(needle), "queue info lacks {needle}: {info}");
    }
    let other = run(
        &mut cli,
        "GetMessageQueueInfo SMTP QUEUE \"other.test\"",
        "201 ",
    );
    assert!(other.contains("nTotal=#0"), "{other}");
    run(&mut cli, "GetMessageQueueInfo POP QUEUE \"x\"", "5");
}

#[test]
fn issue_5_relayed_mail_is_dkim_signed_for_domains_with_a_key() {
    let sink = Sink::start(|_, _| "250 ok\r\n");
    let route = sink.route();
    let node = TestNode::start_with(move |c| {
        c.relay.routes.insert("remote.test".into(), route);
    });
    let (pem, record) = node::mailauth::generate_key().unwrap();
    let mut cli = login(&node);
    run(
        &mut cli,
        &format!(
            "UpdateDomainSettings example.test {{DKIMSelector=mn;DKIMPrivateKey=\"{}\";}}",
            pem.replace('\n', "\\n")
        ),
        "200 ",
    );
    submit(
        &node,
        "signed",
        "From: postmaster@example.test\nTo: bob@remote.test\nSubject: signed\nDate: Mon, 30 Nov 2026 01:00:00 +0000\nMessage-ID: <s1@example.test>\n\nbody\n",
    );
    let data = sink.wait_txns(1)[0].data.clone();
    assert!(data.starts_with("DKIM-Signature: "), "{data}");
    assert!(
        data.contains("d=example.test") && data.contains("s=mn"),
        "{data}"
    );

    // The same crate verifies it against the published key (pinned: no DNS).
    let dead = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let checker =
        node::mailauth::AuthChecker::new("mx.remote.test", &[dead.local_addr().unwrap()]).unwrap();
    let records = checker.records();
    records.add("mn._domainkey.example.test", &record).unwrap();
    for missing in [
        "example.test",
        "sink.test",
        "_dmarc.example.test",
        "_dmarc.test",
    ] {
        records.add_missing(missing);
    }
    let verdict = tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(checker.check(
            "127.0.0.1".parse().unwrap(),
            "sink.test",
            "postmaster@example.test",
            data.as_bytes(),
        ));
    assert!(verdict.header.contains("dkim=pass"), "{}", verdict.header);
}

#[test]
fn rfc6152_3_8bit_mail_is_converted_for_a_host_without_8bitmime() {
    let seven = Sink::start(|_, _| "250 2.1.5 ok\r\n").without_8bitmime();
    let eight = Sink::start(|_, _| "250 2.1.5 ok\r\n");
    let node = TestNode::start_with(|c| {
        c.relay.routes.insert("seven.test".into(), seven.route());
        c.relay.routes.insert("eight.test".into(), eight.route());
    });
    submit(
        &node,
        "8bit",
        "From: postmaster@example.test\nTo: a@seven.test, b@eight.test\nSubject: greetings\n\
         MIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n\
         Content-Transfer-Encoding: 8bit\n\nGr\u{fc}\u{df}e aus K\u{f6}ln\n",
    );
    let converted = seven.wait_txns(1).remove(0);
    assert!(
        !converted.lines[0].contains("BODY="),
        "{:?}",
        converted.lines
    );
    assert!(converted.data.is_ascii(), "{:?}", converted.data);
    for needle in [
        "Subject: greetings\r\n",
        "Content-Transfer-Encoding: quoted-printable\r\n",
        "\r\n\r\nGr=C3=BC=C3=9Fe aus K=C3=B6ln\r\n",
    ] {
        assert!(
            converted.data.contains(needle),
            "{needle:?}: {:?}",
            converted.data
        );
    }
    assert!(!converted.data.contains("8bit"), "{:?}", converted.data);
    let kept = eight.wait_txns(1).remove(0);
    assert!(
        kept.lines[0].ends_with(" BODY=8BITMIME"),
        "{:?}",
        kept.lines
    );
    assert!(kept.data.contains("Gr\u{fc}\u{df}e aus K\u{f6}ln\r\n"));
    assert!(kept.data.contains("Content-Transfer-Encoding: 8bit\r\n"));
    wait_log(&node, &["delivered: 250"]);
    assert!(!system_log(&node).contains("bounced"));
}

#[test]
fn rfc6531_3_2_utf8_mail_to_a_host_without_smtputf8_bounces() {
    let plain = Sink::start(|_, _| "250 2.1.5 ok\r\n");
    let utf8 = Sink::start(|_, _| "250 2.1.5 ok\r\n").offer_smtputf8();
    let node = TestNode::start_with(|c| {
        c.relay.routes.insert("plain.test".into(), plain.route());
        c.relay.routes.insert("utf8.test".into(), utf8.route());
    });
    // UTF-8 in a header (RFC 6532): only a SMTPUTF8 host may take it.
    submit(
        &node,
        "utf8hdr",
        "From: postmaster@example.test\nTo: a@plain.test, b@utf8.test\n\
         Subject: Gr\u{fc}\u{df}e\n\nbody\n",
    );
    let txn = utf8.wait_txns(1).remove(0);
    assert!(
        txn.lines[0].ends_with(" BODY=8BITMIME SMTPUTF8"),
        "{:?}",
        txn.lines
    );
    assert_eq!(txn.rcpts, ["b@utf8.test"]);
    let dsn = wait_inbox(&node, "postmaster", "Final-Recipient: rfc822; a@plain.test");
    assert!(dsn.contains("Status: 5.6.9"), "{dsn}");
    assert!(!dsn.contains("b@utf8.test\nAction"), "{dsn}");
    // A UTF-8 address: 5.6.7.
    submit(
        &node,
        "utf8rcpt",
        "From: postmaster@example.test\nTo: j\u{f6}rg@plain.test\nSubject: x\n\nbody\n",
    );
    let dsn = wait_inbox(&node, "postmaster", "Status: 5.6.7");
    assert!(
        dsn.contains("failed: 553") || dsn.contains("553 5.6.7"),
        "{dsn}"
    );
    assert!(plain.txns().is_empty(), "nothing went to the plain host");
}

/// A CA made for the test, and a certificate for 127.0.0.1 it signed: (CA PEM, leaf config).
fn test_ca_and_server() -> (String, rustls::ServerConfig) {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let leaf_key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["127.0.0.1".to_string()])
        .unwrap()
        .signed_by(&leaf_key, &ca)
        .unwrap();
    let key = PrivateKeyDer::from_pem_slice(leaf_key.serialize_pem().as_bytes()).unwrap();
    let config = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(vec![leaf.der().clone(), ca.der().clone()], key)
        .unwrap();
    (ca.pem(), config)
}

#[test]
fn issue_5_verified_tls_policy_defers_until_the_certificate_is_trusted() {
    let (ca_pem, server) = test_ca_and_server();
    let sink = Sink::start_tls(
        TcpListener::bind("127.0.0.1:0").unwrap(),
        Some(Arc::new(server)),
        |_, _| "250 2.1.5 ok\r\n",
    );
    let clear = Sink::start(|_, _| "250 2.1.5 ok\r\n");
    let node = TestNode::start_with(|c| {
        c.relay.routes.insert("secure.test".into(), sink.route());
        c.relay.routes.insert("clear.test".into(), clear.route());
        c.relay.routes.insert("other.test".into(), sink.route());
        for domain in ["secure.test", "clear.test"] {
            c.relay
                .tls_policy
                .insert(domain.into(), node::config::TlsPolicy::Verify);
        }
        c.relay.retry_first_secs = 1;
        c.relay.retry_max_secs = 1;
    });
    // The system's store does not know the test CA: deferred, never sent in clear.
    submit(
        &node,
        "verify",
        "From: postmaster@example.test\nTo: a@secure.test, b@clear.test, c@other.test\n\
         Subject: policy\n\nbody\n",
    );
    wait_log(
        &node,
        &[
            "deferred: 451 4.7.5 TLS required by policy: 127.0.0.1",
            "deferred: 451 4.7.4 TLS required by policy but not offered",
        ],
    );
    // Opportunistic TLS (the default) takes the same certificate.
    let txns = sink.wait_txns(1);
    assert_eq!(txns[0].rcpts, ["c@other.test"]);
    assert!(txns[0].tls);
    assert!(clear.txns().is_empty());
    assert_eq!(queued_bodies(&node), 1);

    // Trust the CA: the next retry delivers, over TLS.
    let ca_file = node.data().join("test-ca.pem");
    std::fs::write(&ca_file, ca_pem).unwrap();
    let node = node.restart_with(|c| c.relay.tls_trust_file = Some(ca_file));
    let txns = sink.wait_txns(2);
    assert_eq!(txns[1].rcpts, ["a@secure.test"]);
    assert!(txns[1].tls, "verified TLS");
    std::thread::sleep(Duration::from_secs(2));
    assert!(clear.txns().is_empty(), "never in clear under the policy");
    assert_eq!(sink.txns().len(), 2);
    let _ = node;
}

/// The TLS policy lives in the cluster's router settings: set through the CLI, every member's
/// delivery applies it over its own `[relay] tls_policy` (here none).
#[test]
fn issue_5_tls_policy_set_through_the_cli_is_applied_by_delivery() {
    let clear = Sink::start(|_, _| "250 2.1.5 ok\r\n");
    let node = TestNode::start_with(|c| {
        c.relay.routes.insert("clear.test".into(), clear.route());
        c.relay.retry_first_secs = 1;
        c.relay.retry_max_secs = 1;
    });
    let mut cli = login(&node);
    run(&mut cli, "INLINE", "200 ");
    run(&mut cli, "GetRouterSettings", "201 {TLSPolicy={};}");
    for bad in [
        "SetRouterSettings {TLSPolicy={\"bad domain!\"=verify;};}",
        "SetRouterSettings {TLSPolicy={\"clear.test\"=maybe;};}",
        "SetRouterSettings {Nope=1;}",
    ] {
        run(&mut cli, bad, "501 ");
    }
    run(
        &mut cli,
        "SetRouterSettings {TLSPolicy={\"*.Test\"=VERIFY;};}",
        "200 ",
    );
    run(
        &mut cli,
        "GetRouterSettings",
        "201 {TLSPolicy={\"*.test\"=verify;};}",
    );
    // `Route` says which policy applies, and where the mail goes.
    let route = run(&mut cli, "Route a@clear.test", "201 ");
    assert!(
        route.contains("tls=verify") && route.contains(&clear.route()),
        "{route}"
    );
    let route = run(&mut cli, "Route a@elsewhere.example", "201 ");
    assert!(route.contains("tls=opportunistic"), "{route}");
    submit(
        &node,
        "policy",
        "From: postmaster@example.test\nTo: a@clear.test\nSubject: policy\n\nbody\n",
    );
    // The host offers no STARTTLS: deferred, never sent in clear.
    wait_log(
        &node,
        &["deferred: 451 4.7.4 TLS required by policy but not offered"],
    );
    assert!(clear.txns().is_empty());
    // An exact entry wins over the wildcard: the next retry goes in clear.
    run(
        &mut cli,
        "SetRouterSettings {TLSPolicy={\"*.test\"=verify;\"clear.test\"=opportunistic;};}",
        "200 ",
    );
    let txns = clear.wait_txns(1);
    assert_eq!(txns[0].rcpts, ["a@clear.test"]);
    assert!(!txns[0].tls);
}
