//! Mail authentication (issue #5): SPF, DKIM and DMARC on inbound SMTP with an
//! `Authentication-Results` field (RFC 8601), the `[smtp] auth_failure_policy`,
//! and DKIM signing of relayed mail. DNS is a tiny server on 127.0.0.1 written
//! here (`[relay] nameservers`); nothing leaves the machine.

use std::collections::BTreeMap;
use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

use tests::{LineClient, TestNode, wait_for};

/// Answers TXT queries for `records` (name without the final dot, lowercase);
/// every other question is NXDOMAIN (RFC 1035 §4.1).
pub fn dns_server(records: BTreeMap<String, String>) -> SocketAddr {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = socket.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut buf = [0u8; 512];
        loop {
            let Ok((n, peer)) = socket.recv_from(&mut buf) else {
                return;
            };
            if let Some(reply) = answer(&buf[..n], &records) {
                let _ = socket.send_to(&reply, peer);
            }
        }
    });
    addr
}

fn answer(query: &[u8], records: &BTreeMap<String, String>) -> Option<Vec<u8>> {
    // Header (12 octets), then one question: labels, QTYPE, QCLASS.
    let mut pos = 12;
    let mut labels = Vec::new();
    loop {
        let len = *query.get(pos)? as usize;
        pos += 1;
        if len == 0 {
            break;
        }
        labels.push(String::from_utf8_lossy(query.get(pos..pos + len)?).to_lowercase());
        pos += len;
    }
    let qtype = u16::from_be_bytes([*query.get(pos)?, *query.get(pos + 1)?]);
    let question = &query[12..pos + 4];
    let name = labels.join(".");
    let txt = records.get(&name).filter(|_| qtype == 16);
    let mut out = Vec::new();
    out.extend_from_slice(&query[..2]);
    // QR, RD, RA; RCODE 3 (NXDOMAIN) without an answer.
    out.extend_from_slice(if txt.is_some() {
        &[0x81, 0x80]
    } else {
        &[0x81, 0x83]
    });
    out.extend_from_slice(&[0, 1, 0, u8::from(txt.is_some()), 0, 0, 0, 0]);
    out.extend_from_slice(question);
    if let Some(txt) = txt {
        let chunks: Vec<&[u8]> = txt.as_bytes().chunks(255).collect();
        let rdlen: usize = chunks.iter().map(|c| c.len() + 1).sum();
        out.extend_from_slice(&[0xc0, 0x0c, 0, 16, 0, 1, 0, 0, 0, 60]);
        out.extend_from_slice(&(rdlen as u16).to_be_bytes());
        for c in chunks {
            out.push(c.len() as u8);
            out.extend_from_slice(c);
        }
    }
    Some(out)
}

const MESSAGE: &str = "From: Ann <ann@sender.test>\r\nTo: pat@example.test\r\nSubject: invoice\r\nDate: Mon, 30 Nov 2026 01:00:00 +0000\r\nMessage-ID: <1@sender.test>\r\n\r\nPlease pay.\r\n";

/// A node whose DNS is a test server publishing `sender.test`'s DKIM key
/// (selector `sel`), an SPF policy that does not allow 127.0.0.1, and
/// `p=reject` (and for `good.test`, an SPF policy that allows 127.0.0.1 and
/// `p=reject`); returns it with the message signed by that key, then tampered.
fn node_and_forgery(policy: &'static str) -> (TestNode, String) {
    node_and_forgery_speaking(policy, None)
}

/// [`node_and_forgery`] with the node speaking cluster protocol `protocol`.
fn node_and_forgery_speaking(policy: &'static str, protocol: Option<u32>) -> (TestNode, String) {
    let (pem, record) = node::mailauth::generate_key().unwrap();
    let records = BTreeMap::from([
        ("sel._domainkey.sender.test".to_string(), record),
        (
            "sender.test".to_string(),
            "v=spf1 ip4:192.0.2.1 -all".to_string(),
        ),
        ("client.test".to_string(), "v=spf1 -all".to_string()),
        (
            "_dmarc.sender.test".to_string(),
            "v=DMARC1; p=reject".to_string(),
        ),
        (
            "good.test".to_string(),
            "v=spf1 ip4:127.0.0.1 -all".to_string(),
        ),
        (
            "_dmarc.good.test".to_string(),
            "v=DMARC1; p=reject".to_string(),
        ),
    ]);
    let dns = dns_server(records);
    let node = TestNode::start_with(move |c| {
        c.relay.nameservers = vec![dns];
        c.smtp.auth_check_loopback = true;
        c.cluster_protocol = protocol;
        c.smtp.auth_failure_policy = match policy {
            "reject" => node::config::AuthFailurePolicy::Reject,
            "junk" => node::config::AuthFailurePolicy::Junk,
            _ => node::config::AuthFailurePolicy::Tag,
        };
    });
    let mut cli = super::cli::login(&node);
    super::cli::run(&mut cli, "CreateAccount pat", "200 ");
    let field = node::mailauth::sign(MESSAGE.as_bytes(), "sender.test", "sel", &pem).unwrap();
    // A forged result naming the node itself must not survive (RFC 8601 §5).
    let forged = format!(
        "Authentication-Results: example.test; dkim=pass\r\n{field}{}",
        MESSAGE.replace("invoice", "new bank account")
    );
    (node, forged)
}

/// Sends `message` over SMTP from `from` to pat; returns the reply to the dot.
fn send(node: &TestNode, from: &str, message: &str) -> String {
    let mut c = LineClient::connect(node.addr("smtp"));
    c.expect("220 ");
    c.send("EHLO client.test");
    c.expect_reply("250");
    c.send(&format!("MAIL FROM:<{from}>"));
    c.expect("250 ");
    c.send("RCPT TO:<pat@example.test>");
    c.expect("250 ");
    c.send("DATA");
    c.expect("354 ");
    c.send_raw(message.as_bytes());
    c.send(".");
    let reply = c.line();
    c.send("QUIT");
    reply
}

/// Pat's INBOX once the forged message ("new bank account") is in it.
fn forgery_in_pats_inbox(node: &TestNode) -> String {
    let path = node.base().join("Accounts/pat.macnt/INBOX.mbox");
    wait_for(Duration::from_secs(20), || {
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        text.contains("new bank account").then_some(text)
    })
    .expect("the message reaches pat's INBOX")
}

#[test]
fn issue_5_bad_dkim_signature_is_tagged_dkim_fail() {
    let (node, forged) = node_and_forgery("tag");
    let reply = send(&node, "ann@sender.test", &forged);
    assert!(reply.starts_with("250 "), "{reply}");
    let stored = forgery_in_pats_inbox(&node);
    let (head, _) = stored.split_once("Subject:").unwrap();
    assert!(head.contains("Authentication-Results: "), "{stored}");
    for needle in [
        "dkim=fail",
        "spf=fail",
        "dmarc=fail",
        "header.d=sender.test",
    ] {
        assert!(head.contains(needle), "no {needle}:\n{stored}");
    }
}

#[test]
fn issue_5_reject_policy_refuses_dmarc_failures_with_550_5_7_1() {
    let (node, forged) = node_and_forgery("reject");
    let reply = send(&node, "ann@sender.test", &forged);
    assert!(reply.starts_with("550 5.7.1 "), "{reply}");
}

/// The junk policy (issue 5): a message failing DMARC is filed into the
/// recipient's Junk mailbox (made by the delivery: pat has never logged
/// in), one passing SPF and DMARC into INBOX; seen over IMAP.
#[test]
fn issue_5_junk_policy_files_dmarc_failures_into_junk() {
    let (node, forged) = node_and_forgery("junk");
    let mut cli = super::cli::login(&node);
    super::cli::run(&mut cli, "SetAccountPassword pat PASSWORD \"pw\"", "200 ");
    let reply = send(&node, "ann@sender.test", &forged);
    assert!(reply.starts_with("250 "), "{reply}");
    let honest = MESSAGE
        .replace("ann@sender.test", "bob@good.test")
        .replace("invoice", "lunch");
    let reply = send(&node, "bob@good.test", &honest);
    assert!(reply.starts_with("250 "), "{reply}");

    let mut imap = super::imap::imap_login(&node, "pat", "pw");
    let filed = wait_for(Duration::from_secs(20), || {
        let junk = super::imap::cmd(&mut imap, "s1", "STATUS Junk (MESSAGES)", "");
        let inbox = super::imap::cmd(&mut imap, "s2", "STATUS INBOX (MESSAGES)", "OK");
        (junk[0].contains("(MESSAGES 1)") && inbox[0].contains("(MESSAGES 1)")).then_some(())
    });
    assert!(filed.is_some(), "one message each in Junk and INBOX");
    let subject = |imap: &mut tests::LineClient, mailbox: &str| {
        super::imap::cmd(imap, "e", &format!("EXAMINE {mailbox}"), "OK");
        super::imap::cmd(imap, "f", "FETCH 1 (BODY.PEEK[HEADER])", "OK").join("\n")
    };
    let junk = subject(&mut imap, "Junk");
    assert!(junk.contains("Subject: new bank account"), "{junk}");
    assert!(junk.contains("dmarc=fail"), "{junk}");
    assert!(junk.contains("X-Spam-Flag: YES"), "{junk}");
    let inbox = subject(&mut imap, "INBOX");
    assert!(inbox.contains("Subject: lunch"), "{inbox}");
    assert!(inbox.contains("dmarc=pass"), "{inbox}");
    assert!(!inbox.contains("X-Spam-Flag"), "{inbox}");
    super::imap::cmd(&mut imap, "o", "LOGOUT", "OK");
}

/// In a cluster with a member older than
/// [`cluster::rpc::MAILBOX_DELIVERY_VERSION`], junk stays in INBOX (marked),
/// as that member would file it.
#[test]
fn issue_5_junk_stays_in_the_inbox_until_every_member_files_junk() {
    let older = Some(cluster::rpc::MAILBOX_DELIVERY_VERSION - 1);
    let (node, forged) = node_and_forgery_speaking("junk", older);
    let reply = send(&node, "ann@sender.test", &forged);
    assert!(reply.starts_with("250 "), "{reply}");
    let stored = forgery_in_pats_inbox(&node);
    assert!(stored.contains("X-Spam-Flag: YES"), "{stored}");
    assert!(!node.base().join("Accounts/pat.macnt/Junk.mbox").exists());
}
