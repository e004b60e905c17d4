//! SMTP integration tests: real clients (curl, Python's smtplib) and raw
//! RFC 5321 transcripts against the SMTP, submission and SMTPS listeners.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use tests::{LineClient, TestNode, wait_for};

use crate::it::cli::{login, run};

/// How long a queued message may take to reach a mailbox.
const DELIVERY_LIMIT: Duration = Duration::from_secs(10);

/// Starts a node with the accounts `alice` and `bob` (password `pw`).
fn node_with_users() -> TestNode {
    let node = TestNode::start();
    let mut c = login(&node);
    run(&mut c, "CreateAccount alice {Password=\"pw\";}", "200 OK");
    run(&mut c, "CreateAccount bob {Password=\"pw\";}", "200 OK");
    node
}

/// The INBOX of a main-domain account, as text.
fn inbox(node: &TestNode, user: &str) -> String {
    let path = node
        .base()
        .join(format!("Accounts/{user}.macnt/INBOX.mbox"));
    std::fs::read(path)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default()
}

/// Everything the node has written to its system log.
fn system_log(node: &TestNode) -> String {
    let dir = node.base().join("SystemLogs/node1");
    let mut text = String::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        text.push_str(&std::fs::read_to_string(entry.path()).unwrap_or_default());
    }
    text
}

/// Waits until `user`'s INBOX contains `needle`; returns the INBOX.
fn wait_for_mail(node: &TestNode, user: &str, needle: &str) -> String {
    wait_for(DELIVERY_LIMIT, || {
        let text = inbox(node, user);
        text.contains(needle).then_some(text)
    })
    .unwrap_or_else(|| {
        panic!(
            "{needle:?} not delivered to {user}: {:?}",
            inbox(node, user)
        )
    })
}

/// Connects to a clear-text listener and greets with EHLO; returns the
/// client and the EHLO reply lines.
fn ehlo(node: &TestNode, key: &str) -> (LineClient, Vec<String>) {
    let mut c = LineClient::connect(node.addr(key));
    let greeting = c.expect_reply("220");
    assert!(greeting[0].ends_with("ESMTP Mailnode"), "{greeting:?}");
    c.send("EHLO client.test");
    let lines = c.expect_reply("250");
    (c, lines)
}

/// Runs a Python 3 script; fails the test unless it exits 0. Returns its
/// standard output.
fn python(script: &str, args: &[String]) -> String {
    let out = Command::new("python3")
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .expect("python3 runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "python failed: {}\nstdout: {stdout}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

fn port(node: &TestNode, key: &str) -> String {
    node.addr(key).port().to_string()
}

fn cert(node: &TestNode) -> String {
    node.cert_path().display().to_string()
}

#[test]
fn curl_delivers_to_two_local_recipients() {
    let node = node_with_users();
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("message.eml");
    std::fs::write(
        &file,
        "From: a@remote.test\r\nTo: alice@example.test\r\nSubject: curl test 1\r\n\r\nHello from curl.\r\n",
    )
    .expect("write message");
    let status = Command::new("curl")
        .args(["-sS", "--max-time", "10", "--url"])
        .arg(format!("smtp://127.0.0.1:{}", port(&node, "smtp")))
        .args(["--mail-from", "a@remote.test"])
        .args(["--mail-rcpt", "alice@example.test"])
        .args(["--mail-rcpt", "bob@example.test"])
        .arg("--upload-file")
        .arg(Path::new(&file))
        .status()
        .expect("curl runs");
    assert!(status.success(), "curl: {status}");
    for user in ["alice", "bob"] {
        let mbox = wait_for_mail(&node, user, "Subject: curl test 1");
        assert!(mbox.contains("Return-Path: <a@remote.test>"), "{mbox}");
        assert!(mbox.contains("Received: from "), "{mbox}");
        assert!(mbox.contains("(Mailnode) with ESMTP"), "{mbox}");
        assert!(mbox.contains("Hello from curl."), "{mbox}");
        // Two recipients: the trace field names neither (RFC 5321 §4.4).
        assert!(!mbox.contains("for <"), "{mbox}");
    }
}

const SMTPLIB_LOCAL: &str = r#"
import smtplib, sys
from email.message import EmailMessage
s = smtplib.SMTP("127.0.0.1", int(sys.argv[1]), timeout=10)
code, _ = s.ehlo("client.test")
assert code == 250
assert s.has_extn("pipelining") and s.has_extn("size") and s.has_extn("8bitmime")
assert s.has_extn("starttls") and not s.has_extn("auth"), s.esmtp_features
m = EmailMessage()
m["From"] = "sender@remote.test"
m["To"] = "alice@example.test, bob@example.test"
m["Subject"] = "smtplib test 2"
m.set_content("Hello from smtplib.\n")
print("refused", s.send_message(m))
try:
    s.sendmail("sender@remote.test", ["nobody@example.test"], "Subject: x\r\n\r\nx\r\n")
except smtplib.SMTPRecipientsRefused as e:
    code, text = e.recipients["nobody@example.test"]
    print("unknown", code, text.decode())
try:
    s.sendmail("sender@remote.test", ["someone@elsewhere.test"], "Subject: x\r\n\r\nx\r\n")
except smtplib.SMTPRecipientsRefused as e:
    code, text = e.recipients["someone@elsewhere.test"]
    print("relay", code, text.decode())
s.quit()
"#;

#[test]
fn smtplib_local_delivery_unknown_user_and_relay_refused() {
    let node = node_with_users();
    let out = python(SMTPLIB_LOCAL, &[port(&node, "smtp")]);
    assert!(out.contains("refused {}"), "{out}");
    assert!(
        out.contains("unknown 550 5.1.1 <nobody@example.test>: unknown user"),
        "{out}"
    );
    assert!(
        out.contains("relay 554 5.7.1 <someone@elsewhere.test>: relaying denied"),
        "{out}"
    );
    for user in ["alice", "bob"] {
        let mbox = wait_for_mail(&node, user, "Subject: smtplib test 2");
        assert!(mbox.contains("Return-Path: <sender@remote.test>"), "{mbox}");
    }
}

const SMTPLIB_STARTTLS: &str = r#"
import smtplib, ssl, sys
ctx = ssl.create_default_context(cafile=sys.argv[2])
s = smtplib.SMTP("127.0.0.1", int(sys.argv[1]), timeout=10)
s.ehlo("client.test")
assert s.has_extn("starttls") and not s.has_extn("auth"), s.esmtp_features
print("before-auth", s.mail("alice@example.test")[0])
s.rset()
s._host = "example.test"
s.starttls(context=ctx)
s.ehlo("client.test")
assert s.has_extn("auth") and not s.has_extn("starttls"), s.esmtp_features
print("auth", s.esmtp_features["auth"].strip())
try:
    s.user, s.password = "alice", "wrong"
    s.auth("LOGIN", s.auth_login)
except smtplib.SMTPAuthenticationError as e:
    print("wrong", e.smtp_code)
s.login("alice", "pw")
print("refused", s.sendmail("alice@example.test", ["friend@remote.test", "bob@example.test"],
    "Subject: starttls test 3\r\n\r\nsent under TLS\r\n"))
s.quit()
"#;

#[test]
fn smtplib_starttls_submission_auth_and_relay() {
    let node = node_with_users();
    let out = python(SMTPLIB_STARTTLS, &[port(&node, "submission"), cert(&node)]);
    assert!(out.contains("before-auth 530"), "{out}");
    assert!(out.contains("auth PLAIN LOGIN"), "{out}");
    assert!(out.contains("wrong 535"), "{out}");
    assert!(out.contains("refused {}"), "{out}");
    let mbox = wait_for_mail(&node, "bob", "Subject: starttls test 3");
    assert!(mbox.contains("with ESMTPSA"), "{mbox}");
    assert!(mbox.contains("Return-Path: <alice@example.test>"), "{mbox}");
}

#[test]
fn smtplib_implicit_tls_on_smtps() {
    let node = node_with_users();
    // Connect to 127.0.0.1 but verify the certificate as example.test.
    let script = r#"
import smtplib, ssl, socket, sys
ctx = ssl.create_default_context(cafile=sys.argv[2])
class Smtps(smtplib.SMTP_SSL):
    def _get_socket(self, host, port, timeout):
        sock = socket.create_connection(("127.0.0.1", port), timeout)
        return self.context.wrap_socket(sock, server_hostname="example.test")
s = Smtps("example.test", int(sys.argv[1]), timeout=10, context=ctx)
s.ehlo("client.test")
assert not s.has_extn("starttls"), s.esmtp_features
try:
    s.login("alice", "nope")
except smtplib.SMTPAuthenticationError as e:
    print("wrong", e.smtp_code, e.smtp_error.decode())
s.login("alice", "pw")
print("refused", s.sendmail("alice@example.test", ["bob@example.test"],
    "Subject: smtps test 4\r\n\r\nimplicit TLS\r\n"))
s.quit()
"#;
    let out = python(script, &[port(&node, "smtps"), cert(&node)]);
    assert!(out.contains("wrong 535 5.7.8"), "{out}");
    assert!(out.contains("refused {}"), "{out}");
    let mbox = wait_for_mail(&node, "bob", "Subject: smtps test 4");
    assert!(mbox.contains("with ESMTPSA"), "{mbox}");
    // One recipient: the trace field names it.
    assert!(mbox.contains("for <bob@example.test>"), "{mbox}");
    let log = system_log(&node);
    assert!(log.contains("'alice' authenticated"), "{log}");
    assert!(log.contains("received, "), "{log}");
    // base64 of "\0alice\0pw", the AUTH PLAIN initial response.
    assert!(!log.contains("AGFsaWNlAHB3"), "{log}");
}

#[test]
fn rfc5321_sequence_errors_and_simple_commands() {
    let node = node_with_users();
    let mut c = LineClient::connect(node.addr("smtp"));
    c.expect_reply("220");
    c.send("MAIL FROM:<a@remote.test>");
    c.expect_reply("503");
    c.send("HELO client.test");
    c.expect_reply("250");
    c.send("RCPT TO:<alice@example.test>");
    c.expect("503 5.5.1");
    c.send("DATA");
    c.expect("503 5.5.1");
    c.send("NOOP");
    c.expect("250 2.0.0");
    c.send("VRFY alice");
    c.expect("252 ");
    c.send("MAIL FROM:<a@remote.test>");
    c.expect("250 2.1.0");
    c.send("MAIL FROM:<a@remote.test>");
    c.expect("503 5.5.1");
    c.send("DATA");
    c.expect("554 5.5.1");
    c.send("RSET");
    c.expect("250 2.0.0");
    c.send("RCPT TO:<alice@example.test>");
    c.expect("503 5.5.1");
    c.send("FROB");
    c.expect("500 5.5.1");
    c.send("QUIT");
    c.expect("221 2.0.0");
    assert_eq!(c.read_to_end(), "");
}

#[test]
fn rfc2920_pipelined_transaction_in_one_write() {
    let node = node_with_users();
    let (mut c, caps) = ehlo(&node, "smtp");
    assert!(caps.iter().any(|l| l == "250-PIPELINING"), "{caps:?}");
    assert!(
        caps.iter().any(|l| l.ends_with("ENHANCEDSTATUSCODES")),
        "{caps:?}"
    );
    c.send_raw(
        b"MAIL FROM:<p@remote.test>\r\nRCPT TO:<alice@example.test>\r\n\
          RCPT TO:<nobody@example.test>\r\nRCPT TO:<postmaster>\r\nDATA\r\n",
    );
    c.expect("250 2.1.0");
    c.expect("250 2.1.5");
    c.expect("550 5.1.1");
    c.expect("250 2.1.5");
    c.expect("354 ");
    c.send_raw(b"Subject: pipelined 5\r\n\r\n..stuffed line\r\n.\r\nQUIT\r\n");
    let queued = c.expect("250 2.0.0 OK queued as ");
    c.expect("221 ");
    let mbox = wait_for_mail(&node, "alice", "Subject: pipelined 5");
    assert!(mbox.contains("\n.stuffed line"), "{mbox}");
    wait_for_mail(&node, "postmaster", "Subject: pipelined 5");
    assert!(queued.len() > "250 2.0.0 OK queued as ".len(), "{queued}");
}

#[test]
fn smuggled_bare_lf_dot_is_not_end_of_data() {
    let node = node_with_users();
    let (mut c, _) = ehlo(&node, "smtp");
    c.send_raw(b"MAIL FROM:<s@remote.test>\r\nRCPT TO:<alice@example.test>\r\nDATA\r\n");
    c.expect("250 ");
    c.expect("250 ");
    c.expect("354 ");
    c.send_raw(
        b"Subject: smuggle 6\r\n\r\nhello\n.\nMAIL FROM:<evil@remote.test>\r\n\
          RCPT TO:<bob@example.test>\r\nDATA\r\nSubject: evil 6\r\n\r\nevil\r\n.\r\n",
    );
    let reply = c.line();
    assert!(
        reply.starts_with("550 5.6.0") || reply.starts_with("554 5.6.0"),
        "{reply}"
    );
    // The next reply answers NOOP: nothing between was taken as a command.
    c.send("NOOP");
    c.expect("250 2.0.0");
    c.send("QUIT");
    c.expect("221 ");
    // Neither message was queued.
    std::thread::sleep(Duration::from_millis(500));
    assert!(!inbox(&node, "alice").contains("smuggle 6"));
    assert!(!inbox(&node, "bob").contains("evil 6"));
}

#[test]
fn rfc1870_size_over_limit_is_552() {
    let node = node_with_users();
    let (mut c, caps) = ehlo(&node, "smtp");
    let size: u64 = caps
        .iter()
        .find_map(|l| l.strip_prefix("250-SIZE "))
        .and_then(|n| n.parse().ok())
        .expect("SIZE advertised");
    c.send(&format!("MAIL FROM:<a@remote.test> SIZE={}", size + 1));
    c.expect("552 5.3.4");
    c.send(&format!("MAIL FROM:<a@remote.test> SIZE={size}"));
    c.expect("250 2.1.0");
    c.send("QUIT");
    c.expect("221 ");
}

#[test]
fn rfc5321_4_5_3_1_8_recipient_101_is_452() {
    let node = node_with_users();
    let (mut c, _) = ehlo(&node, "smtp");
    let mut batch = String::from("MAIL FROM:<a@remote.test>\r\n");
    for _ in 0..101 {
        batch.push_str("RCPT TO:<alice@example.test>\r\n");
    }
    c.send_raw(batch.as_bytes());
    c.expect("250 2.1.0");
    for _ in 0..100 {
        c.expect("250 2.1.5");
    }
    c.expect("452 4.5.3");
    c.send("QUIT");
    c.expect("221 ");
}

#[test]
fn auth_not_offered_without_tls_on_port_25() {
    let node = node_with_users();
    let (mut c, caps) = ehlo(&node, "smtp");
    assert!(!caps.iter().any(|l| l.contains("AUTH")), "{caps:?}");
    assert!(caps.iter().any(|l| l.ends_with("STARTTLS")), "{caps:?}");
    c.send("AUTH PLAIN AGFsaWNlAHB3");
    let reply = c.line();
    assert!(
        reply.starts_with("502 ") || reply.starts_with("503 "),
        "{reply}"
    );
    // Port 25 does not require AUTH for local recipients.
    c.send("MAIL FROM:<a@remote.test>");
    c.expect("250 2.1.0");
    c.send("QUIT");
    c.expect("221 ");
}

#[test]
fn rfc6409_4_3_mail_before_auth_on_submission_is_530() {
    let node = node_with_users();
    let (mut c, caps) = ehlo(&node, "submission");
    assert!(!caps.iter().any(|l| l.contains("AUTH")), "{caps:?}");
    c.send("MAIL FROM:<alice@example.test>");
    c.expect("530 5.7.0");
    c.send("QUIT");
    c.expect("221 ");
}

/// RFC 3207 §5: a command pipelined behind STARTTLS in clear text must not
/// run once TLS is up (CVE-2011-0411).
const STARTTLS_INJECTION: &str = r#"
import socket, ssl, sys
ctx = ssl.create_default_context(cafile=sys.argv[2])
sock = socket.create_connection(("127.0.0.1", int(sys.argv[1])), 10)
f = sock.makefile("rb")
def reply(f):
    lines = []
    while True:
        line = f.readline().decode().rstrip("\r\n")
        lines.append(line)
        if line[3:4] != "-":
            return lines
print("greeting", reply(f))
sock.sendall(b"EHLO client.test\r\n")
reply(f)
sock.sendall(b"STARTTLS\r\nMAIL FROM:<injected@remote.test>\r\n")
print("starttls", reply(f))
tls = ctx.wrap_socket(sock, server_hostname="example.test")
t = tls.makefile("rb")
tls.sendall(b"RCPT TO:<alice@example.test>\r\n")
print("rcpt", reply(t))
tls.sendall(b"QUIT\r\n")
print("quit", reply(t))
"#;

#[test]
fn rfc3207_5_starttls_drops_pipelined_plaintext() {
    let node = node_with_users();
    let out = python(STARTTLS_INJECTION, &[port(&node, "smtp"), cert(&node)]);
    assert!(out.contains("starttls ['220 2.0.0"), "{out}");
    // Had MAIL run, RCPT would be accepted; it must be out of sequence.
    assert!(out.contains("rcpt ['503 5.5.1"), "{out}");
    assert!(out.contains("quit ['221"), "{out}");
}

#[test]
fn three_failed_auths_close_the_connection() {
    let node = node_with_users();
    let script = r#"
import smtplib, ssl, sys
ctx = ssl.create_default_context(cafile=sys.argv[2])
s = smtplib.SMTP("127.0.0.1", int(sys.argv[1]), timeout=10)
s._host = "example.test"
s.starttls(context=ctx)
s.ehlo("client.test")
for i in range(3):
    try:
        s.user, s.password = "alice", "bad%d" % i
        s.auth("PLAIN", s.auth_plain)
    except smtplib.SMTPAuthenticationError as e:
        print("fail", e.smtp_code)
try:
    s.noop()
    print("still open")
except smtplib.SMTPServerDisconnected:
    print("closed")
"#;
    let out = python(script, &[port(&node, "submission"), cert(&node)]);
    assert_eq!(out.matches("fail 535").count(), 3, "{out}");
    assert!(out.contains("closed"), "{out}");
}

#[test]
fn connections_per_ip_are_limited_with_421() {
    let node = TestNode::start_with(|c| c.smtp.max_connections_per_ip = 2);
    let mut first = LineClient::connect(node.addr("smtp"));
    first.expect_reply("220");
    let mut second = LineClient::connect(node.addr("smtp"));
    second.expect_reply("220");
    let mut third = LineClient::connect(node.addr("smtp"));
    third.expect_reply("421 4.7.0");
    assert_eq!(third.read_to_end(), "");
    first.send("QUIT");
    first.expect_reply("221");
    let again = wait_for(Duration::from_secs(5), || {
        let mut c = LineClient::connect(node.addr("smtp"));
        c.line().starts_with("220").then_some(())
    });
    assert!(again.is_some(), "a slot frees up when a session ends");
}

#[test]
fn rfc5321_4_5_3_2_idle_client_gets_421() {
    let node = TestNode::start_with(|c| c.smtp.idle_timeout_secs = 1);
    let mut c = LineClient::connect(node.addr("smtp"));
    c.expect_reply("220");
    c.send("EHLO client.test");
    c.expect_reply("250");
    c.expect_reply("421 4.4.2");
    assert_eq!(c.read_to_end(), "");
}
