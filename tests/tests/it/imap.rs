//! IMAP (RFC 9051/3501 and the extensions advertised) against a real
//! node: a line client for exact transcripts, Python's imaplib (clear and
//! implicit TLS) and curl as independent clients.
//!
//! Mail arrives through the PIPE folder (`Submitted/*.sub`).

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use tests::{LineClient, MAIN_DOMAIN, TestNode, wait_for};

use crate::it::cli::{login, run};

/// How long a delivery through the PIPE folder may take.
const DELIVERY_LIMIT: Duration = Duration::from_secs(15);

fn create_account(node: &TestNode, name: &str, pw: &str) {
    let mut c = login(node);
    run(
        &mut c,
        &format!("CreateAccount {name} {{Password=\"{pw}\";}}"),
        "200 OK",
    );
}

/// Drops a message for `to` into the PIPE folder.
fn submit(base: &Path, to: &str, subject: &str, body: &str) {
    let dir = base.join("Submitted");
    std::fs::create_dir_all(&dir).expect("Submitted folder");
    let name = format!(
        "{}-{}-{}",
        subject.replace(' ', "_"),
        std::process::id(),
        rand_suffix()
    );
    let tmp = dir.join(format!("{name}.tmp"));
    let text = format!("From: Bob <bob@{MAIN_DOMAIN}>\nTo: {to}\nSubject: {subject}\n\n{body}\n");
    std::fs::write(&tmp, text).expect("write submission");
    std::fs::rename(&tmp, dir.join(format!("{name}.sub"))).expect("rename submission");
}

fn rand_suffix() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default()
}

/// Sends `tag command` and reads up to the tagged reply, which must start
/// with `status`; returns every line.
pub(crate) fn cmd(c: &mut LineClient, tag: &str, command: &str, status: &str) -> Vec<String> {
    c.send(&format!("{tag} {command}"));
    until_tagged(c, tag, status)
}

pub(crate) fn until_tagged(c: &mut LineClient, tag: &str, status: &str) -> Vec<String> {
    let mut lines = Vec::new();
    loop {
        let line = c.line();
        assert!(lines.len() < 10_000, "no tagged reply: {lines:?}");
        if let Some(rest) = line.strip_prefix(&format!("{tag} ")) {
            assert!(
                rest.starts_with(status),
                "{tag}: expected {status}, got {line:?} after {lines:?}"
            );
            lines.push(line);
            return lines;
        }
        lines.push(line);
    }
}

pub(crate) fn imap_login(node: &TestNode, user: &str, pw: &str) -> LineClient {
    let mut c = LineClient::connect(node.addr("imap"));
    c.expect("* OK [CAPABILITY IMAP4rev1");
    cmd(&mut c, "L", &format!("LOGIN {user} {pw}"), "OK");
    c
}

/// Waits until `mailbox` of `user` holds `n` messages.
fn wait_messages(node: &TestNode, user: &str, pw: &str, mailbox: &str, n: usize) {
    let mut c = imap_login(node, user, pw);
    let ok = wait_for(DELIVERY_LIMIT, || {
        let lines = cmd(&mut c, "S", &format!("STATUS {mailbox} (MESSAGES)"), "OK");
        lines[0].contains(&format!("(MESSAGES {n})")).then_some(())
    });
    assert!(ok.is_some(), "{mailbox} never reached {n} messages");
}

fn has(lines: &[String], needle: &str) -> bool {
    lines.iter().any(|l| l.contains(needle))
}

#[test]
fn issue_3_imap_transcript_select_fetch_store_search_expunge() {
    let node = TestNode::start();
    create_account(&node, "alice", "pw");
    submit(
        &node.base(),
        &format!("alice@{MAIN_DOMAIN}"),
        "first",
        "hello one",
    );
    submit(
        &node.base(),
        &format!("alice@{MAIN_DOMAIN}"),
        "second",
        "hello two",
    );
    wait_messages(&node, "alice", "pw", "INBOX", 2);

    let mut c = LineClient::connect(node.addr("imap"));
    let greeting = c.expect("* OK [CAPABILITY ");
    for cap in [
        "IMAP4rev1",
        "STARTTLS",
        "AUTH=PLAIN",
        "LITERAL+",
        "IDLE",
        "UIDPLUS",
        "MOVE",
    ] {
        assert!(greeting.contains(cap), "{greeting}");
    }
    cmd(
        &mut c,
        "a0",
        "LOGIN alice wrong",
        "NO [AUTHENTICATIONFAILED]",
    );
    cmd(&mut c, "a1", "SELECT INBOX", "BAD");
    // AUTHENTICATE PLAIN with an initial response (RFC 4959): "\0alice\0pw".
    let lines = cmd(
        &mut c,
        "a2",
        "AUTHENTICATE PLAIN AGFsaWNlAHB3",
        "OK [CAPABILITY",
    );
    assert!(!lines[0].contains("AUTH="));

    let lines = cmd(&mut c, "a3", "LIST \"\" *", "OK");
    for want in [
        "* LIST (\\HasNoChildren) \"/\" \"INBOX\"",
        "* LIST (\\HasNoChildren \\Sent) \"/\" \"Sent\"",
        "\\Trash) \"/\" \"Trash\"",
        "\\Drafts) \"/\" \"Drafts\"",
        "\\Junk) \"/\" \"Junk\"",
        "\\Archive) \"/\" \"Archive\"",
    ] {
        assert!(has(&lines, want), "{want} not in {lines:?}");
    }
    let lines = cmd(&mut c, "a4", "SELECT inbox", "OK [READ-WRITE]");
    assert!(has(&lines, "* 2 EXISTS"));
    assert!(has(&lines, "* OK [UIDVALIDITY "));
    assert!(has(&lines, "* OK [UIDNEXT 3]"));
    assert!(has(
        &lines,
        "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)"
    ));

    let lines = cmd(
        &mut c,
        "a5",
        "FETCH 1:* (UID FLAGS RFC822.SIZE ENVELOPE)",
        "OK",
    );
    // The first session to select INBOX sees the delivered mail as
    // \Recent (RFC 3501 §2.3.2).
    assert!(
        lines[0].starts_with("* 1 FETCH (UID 1 FLAGS (\\Recent) RFC822.SIZE "),
        "{lines:?}"
    );
    assert!(
        has(&lines, "\"first\" ((\"Bob\" NIL \"bob\" \"example.test\"))"),
        "{lines:?}"
    );
    let lines = cmd(
        &mut c,
        "a6",
        "FETCH 2 BODY.PEEK[HEADER.FIELDS (SUBJECT)]",
        "OK",
    );
    assert_eq!(
        lines[0],
        "* 2 FETCH (BODY[HEADER.FIELDS (\"SUBJECT\")] {19}"
    );
    assert_eq!(lines[1], "Subject: second");
    let lines = cmd(&mut c, "a7", "FETCH 2 BODY[TEXT]<0.5>", "OK");
    assert_eq!(lines[0], "* 2 FETCH (BODY[TEXT]<0> {5}");
    assert!(
        lines[1].starts_with("hello FLAGS (\\Seen \\Recent))"),
        "{lines:?}"
    );
    let lines = cmd(&mut c, "a8", "SEARCH UNSEEN", "OK");
    assert_eq!(lines[0], "* SEARCH 1");
    let lines = cmd(&mut c, "a9", "UID SEARCH BODY \"HELLO TWO\"", "OK");
    assert_eq!(lines[0], "* SEARCH 2");
    let lines = cmd(&mut c, "b1", "STORE 1 +FLAGS (\\Deleted \\Flagged)", "OK");
    assert_eq!(lines[0], "* 1 FETCH (FLAGS (\\Flagged \\Deleted \\Recent))");
    cmd(&mut c, "b2", "STORE 2 -FLAGS.SILENT (\\Seen)", "OK");
    cmd(&mut c, "b3", "STORE 1 +FLAGS (\\Junk)", "BAD");
    cmd(&mut c, "b4", "FETCH 9 FLAGS", "BAD");

    // APPEND with a synchronizing literal, then with LITERAL+.
    let msg = "Subject: appended\r\n\r\nbody\r\n";
    c.send(&format!(
        "b5 APPEND INBOX (\\Seen) \"01-Jan-2024 10:00:00 +0100\" {{{}}}",
        msg.len()
    ));
    c.expect("+ ");
    c.send_raw(msg.as_bytes());
    c.send("");
    let lines = until_tagged(&mut c, "b5", "OK [APPENDUID ");
    assert!(has(&lines, "* 3 EXISTS"), "{lines:?}");
    c.send(&format!("b6 APPEND Nope {{{}+}}", msg.len()));
    c.send_raw(msg.as_bytes());
    c.send("");
    until_tagged(&mut c, "b6", "NO [TRYCREATE]");
    let lines = cmd(&mut c, "b7", "FETCH 3 (INTERNALDATE FLAGS)", "OK");
    assert_eq!(
        lines[0],
        "* 3 FETCH (INTERNALDATE \"01-Jan-2024 09:00:00 +0000\" FLAGS (\\Seen \\Recent))"
    );

    let lines = cmd(&mut c, "c1", "UID COPY 2:3 Archive", "OK [COPYUID ");
    assert!(lines[0].contains(" 2:3 1:2]"), "{lines:?}");
    let lines = cmd(&mut c, "c2", "MOVE 2 Trash", "OK");
    assert!(has(&lines, "* OK [COPYUID "), "{lines:?}");
    assert!(has(&lines, "* 2 EXPUNGE"), "{lines:?}");
    let lines = cmd(&mut c, "c3", "EXPUNGE", "OK");
    assert_eq!(lines[0], "* 1 EXPUNGE");
    let lines = cmd(
        &mut c,
        "c4",
        "STATUS Archive (MESSAGES UIDNEXT UNSEEN)",
        "OK",
    );
    assert_eq!(
        lines[0],
        "* STATUS \"Archive\" (MESSAGES 2 UIDNEXT 3 UNSEEN 1)"
    );
    cmd(&mut c, "c5", "CREATE Work/2026", "OK");
    cmd(&mut c, "c6", "CREATE Work/2026", "NO [ALREADYEXISTS]");
    cmd(&mut c, "c7", "RENAME Work/2026 Projects/Done", "OK");
    let lines = cmd(&mut c, "c8", "LIST \"\" %", "OK");
    assert!(
        has(&lines, "(\\Noselect \\HasChildren) \"/\" \"Projects\""),
        "{lines:?}"
    );
    assert!(!has(&lines, "\"Projects/Done\""));
    cmd(&mut c, "c9", "DELETE Projects/Done", "OK");
    cmd(&mut c, "d0", "DELETE Projects/Done", "NO [NONEXISTENT]");
    cmd(&mut c, "d1", "CREATE \"Entw&APw-rfe\"", "OK");
    let lines = cmd(&mut c, "d2", "LIST \"\" Entw*", "OK");
    assert_eq!(lines[0], "* LIST (\\HasNoChildren) \"/\" \"Entw&APw-rfe\"");
    cmd(&mut c, "d3", "EXAMINE Archive", "OK [READ-ONLY]");
    cmd(&mut c, "d4", "STORE 1 +FLAGS (\\Seen)", "NO");
    cmd(&mut c, "d5", "UNSELECT", "OK");
    cmd(&mut c, "d6", "FETCH 1 FLAGS", "BAD");
    c.send("d7 LOGOUT");
    c.expect("* BYE");
    c.expect("d7 OK");
}

#[test]
fn issue_3_two_sessions_see_each_others_changes_and_idle_gets_new_mail() {
    let node = TestNode::start();
    create_account(&node, "bob", "pw");
    submit(&node.base(), &format!("bob@{MAIN_DOMAIN}"), "one", "1");
    submit(&node.base(), &format!("bob@{MAIN_DOMAIN}"), "two", "2");
    wait_messages(&node, "bob", "pw", "INBOX", 2);
    let mut a = imap_login(&node, "bob", "pw");
    let mut b = imap_login(&node, "bob", "pw");
    cmd(&mut a, "a1", "SELECT INBOX", "OK");
    cmd(&mut b, "b1", "SELECT INBOX", "OK");
    cmd(&mut a, "a2", "STORE 1 +FLAGS.SILENT (\\Deleted)", "OK");
    let lines = cmd(&mut b, "b2", "NOOP", "OK");
    assert_eq!(lines[0], "* 1 FETCH (UID 1 FLAGS (\\Deleted))");
    cmd(&mut a, "a3", "EXPUNGE", "OK");
    // No EXPUNGE during FETCH (RFC 9051 §7.5.1), then at NOOP.
    let lines = cmd(&mut b, "b3", "FETCH 2 UID", "OK");
    assert_eq!(lines[0], "* 2 FETCH (UID 2)");
    let lines = cmd(&mut b, "b4", "NOOP", "OK");
    assert_eq!(lines[0], "* 1 EXPUNGE");

    b.send("b5 IDLE");
    b.expect("+ ");
    let sent = Instant::now();
    submit(&node.base(), &format!("bob@{MAIN_DOMAIN}"), "three", "3");
    b.expect("* 2 EXISTS");
    let pipe_and_delivery = sent.elapsed();
    b.expect("* 1 RECENT");
    // A change by the other session reaches the idler at once too.
    let t = Instant::now();
    cmd(&mut a, "a4", "STORE 1 +FLAGS.SILENT (\\Flagged)", "OK");
    b.expect("* 1 FETCH (UID 2 FLAGS (\\Flagged))");
    assert!(t.elapsed() < Duration::from_secs(1), "{:?}", t.elapsed());
    b.send("DONE");
    b.expect("b5 OK");
    eprintln!("delivery to IDLE took {pipe_and_delivery:?} (PIPE scan included)");
}

#[test]
fn issue_3_uids_and_uidvalidity_survive_restart() {
    let node = TestNode::start();
    create_account(&node, "carol", "pw");
    submit(&node.base(), &format!("carol@{MAIN_DOMAIN}"), "keep", "k");
    wait_messages(&node, "carol", "pw", "INBOX", 1);
    let mut c = imap_login(&node, "carol", "pw");
    let before = cmd(&mut c, "a", "STATUS INBOX (UIDVALIDITY UIDNEXT)", "OK")[0].clone();
    cmd(&mut c, "b", "SELECT INBOX", "OK");
    cmd(&mut c, "c", "STORE 1 +FLAGS (\\Answered)", "OK");
    drop(c);
    let node = node.restart();
    let mut c = imap_login(&node, "carol", "pw");
    let after = cmd(&mut c, "a", "STATUS INBOX (UIDVALIDITY UIDNEXT)", "OK")[0].clone();
    assert_eq!(before, after);
    cmd(&mut c, "b", "SELECT INBOX", "OK");
    let lines = cmd(&mut c, "c", "UID FETCH 1 FLAGS", "OK");
    assert_eq!(lines[0], "* 1 FETCH (UID 1 FLAGS (\\Answered))");
}

#[test]
fn issue_3_robustness_limits_and_states() {
    let node = TestNode::start_with(|c| c.imap.plaintext_on_loopback = false);
    create_account(&node, "dave", "pw");
    let mut c = LineClient::connect(node.addr("imap"));
    let greeting = c.expect("* OK [CAPABILITY ");
    assert!(greeting.contains("LOGINDISABLED") && !greeting.contains("AUTH=PLAIN"));
    cmd(&mut c, "a", "LOGIN dave pw", "NO [PRIVACYREQUIRED]");
    cmd(
        &mut c,
        "b",
        "AUTHENTICATE PLAIN AGRhdmUAcHc=",
        "NO [PRIVACYREQUIRED]",
    );
    c.send_raw(b"c NOOP\n");
    c.expect("c BAD");
    cmd(&mut c, "d", "APPEND INBOX {999999999999}", "NO [TOOBIG]");
    let long = "x".repeat(70 * 1024);
    c.send(&format!("e NOOP {long}"));
    c.expect("e BAD [TOOBIG]");
    for junk in ["", "*", "f", "f (", "f FETCH", "f UID", "f \u{7f}"] {
        c.send(junk);
        let line = c.line();
        assert!(line.contains("BAD"), "{junk:?} -> {line:?}");
    }
    cmd(&mut c, "g", "NOOP", "OK");

    // Idle timeout: a node whose sessions expire after 1 s.
    let node = TestNode::start_with(|c| c.imap.idle_timeout_secs = 1);
    let mut c = LineClient::connect(node.addr("imap"));
    c.expect("* OK");
    let rest = c.read_to_end();
    assert!(rest.starts_with("* BYE Autologout"), "{rest:?}");
}

/// Runs a Python script; returns its stdout, failing on a non-zero exit.
fn python(script: &str) -> String {
    let out = Command::new("python3")
        .arg("-c")
        .arg(script)
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "python failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn issue_3_python_imaplib_clear_and_tls() {
    let node = TestNode::start();
    create_account(&node, "erin", "pw");
    submit(
        &node.base(),
        &format!("erin@{MAIN_DOMAIN}"),
        "py one",
        "python body one",
    );
    wait_messages(&node, "erin", "pw", "INBOX", 1);
    let port = node.addr("imap").port();
    let script = format!(
        r#"
import imaplib, time
M = imaplib.IMAP4("127.0.0.1", {port})
M.login("erin", "pw")
typ, boxes = M.list()
print("LIST", typ, len(boxes))
typ, data = M.select("INBOX")
print("SELECT", typ, data)
typ, data = M.append("INBOX", r"(\Flagged)", imaplib.Time2Internaldate(time.time()), b"Subject: py two\r\nFrom: x@y.z\r\n\r\nsecond body\r\n")
print("APPEND", typ, data)
typ, data = M.fetch("1:2", "(UID FLAGS INTERNALDATE RFC822.SIZE ENVELOPE BODYSTRUCTURE BODY.PEEK[HEADER] BODY[TEXT] RFC822.HEADER)")
print("FETCH", typ, len(data))
print("TEXT1", b"second body\r\n" in b"".join(d[1] for d in data if isinstance(d, tuple)))
typ, data = M.search(None, "FLAGGED")
print("SEARCH", typ, data)
typ, data = M.uid("SEARCH", None, "SUBJECT", "py")
print("UIDSEARCH", typ, data)
typ, data = M.store("1", "+FLAGS", r"(\Deleted)")
print("STORE", typ, data)
typ, data = M.copy("2", "Archive")
print("COPY", typ, data)
typ, data = M.uid("MOVE", "2", "Trash")
print("MOVE", typ, data)
typ, data = M.expunge()
print("EXPUNGE", typ, data)
typ, data = M.status("Trash", "(MESSAGES)")
print("STATUS", typ, data)
M.logout()
"#
    );
    let out = python(&script);
    for want in [
        "LIST OK 6",
        "SELECT OK [b'1']",
        "APPEND OK",
        "FETCH OK",
        "TEXT1 True",
        "SEARCH OK [b'2']",
        "UIDSEARCH OK [b'1 2']",
        "STORE OK [b'1 (FLAGS (\\\\Seen \\\\Deleted \\\\Recent))']",
        "COPY OK",
        "MOVE OK",
        // imaplib also collects the MOVE's untagged EXPUNGE.
        "EXPUNGE OK [b'2', b'1']",
        "STATUS OK [b'\"Trash\" (MESSAGES 1)']",
    ] {
        assert!(out.contains(want), "{want} not in:\n{out}");
    }

    let tls_port = node.addr("imaps").port();
    let cert = node.cert_path();
    let script = format!(
        r#"
import imaplib, ssl
ctx = ssl.create_default_context(cafile="{cert}")
ctx.check_hostname = False
M = imaplib.IMAP4_SSL("127.0.0.1", {tls_port}, ssl_context=ctx)
print("CAPS", " ".join(M.capabilities))
M.login("erin", "pw")
typ, data = M.select("Archive", readonly=True)
print("EXAMINE", typ, data)
M.logout()
S = imaplib.IMAP4("127.0.0.1", {port})
S.starttls(ssl_context=ctx)
S.login("erin", "pw")
print("STARTTLS LOGIN OK")
S.logout()
"#,
        cert = cert.display()
    );
    let out = python(&script);
    assert!(out.contains("EXAMINE OK [b'1']"), "{out}");
    assert!(out.contains("STARTTLS LOGIN OK"), "{out}");
    assert!(!out.contains("CAPS IMAP4REV1 STARTTLS"), "{out}");
}

#[test]
fn issue_3_curl_fetches_by_uid() {
    let node = TestNode::start();
    create_account(&node, "fred", "pw");
    submit(
        &node.base(),
        &format!("fred@{MAIN_DOMAIN}"),
        "for curl",
        "curl body text",
    );
    wait_messages(&node, "fred", "pw", "INBOX", 1);
    let url = format!("imap://127.0.0.1:{}/INBOX;UID=1", node.addr("imap").port());
    let out = Command::new("curl")
        .args(["-s", "--max-time", "20", "-u", "fred:pw", &url])
        .output()
        .expect("curl runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "curl failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("Subject: for curl") && text.contains("curl body text"),
        "{text}"
    );
    let url = format!(
        "imaps://127.0.0.1:{}/INBOX;UID=1",
        node.addr("imaps").port()
    );
    let out = Command::new("curl")
        .args(["-s", "--max-time", "20", "--cacert"])
        .arg(node.cert_path())
        .args(["-k", "-u", "fred:pw", &url])
        .output()
        .expect("curl runs");
    assert!(String::from_utf8_lossy(&out.stdout).contains("curl body text"));
}

#[test]
fn issue_3_keywords_subscriptions_list_extended_and_condstore() {
    let node = TestNode::start();
    create_account(&node, "kim", "pw");
    submit(
        &node.base(),
        &format!("kim@{MAIN_DOMAIN}"),
        "kw one",
        "keyword body",
    );
    wait_messages(&node, "kim", "pw", "INBOX", 1);
    let mut c = imap_login(&node, "kim", "pw");
    let caps = cmd(&mut c, "c0", "CAPABILITY", "OK");
    for cap in ["LIST-EXTENDED", "LIST-STATUS", "CONDSTORE"] {
        assert!(caps[0].contains(cap), "{caps:?}");
    }

    // Keywords (RFC 9051 §2.3.2): stored, listed in FLAGS, searchable.
    let lines = cmd(&mut c, "k1", "SELECT INBOX", "OK [READ-WRITE]");
    assert!(
        has(
            &lines,
            "[PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft \\*)]"
        ),
        "{lines:?}"
    );
    assert!(has(&lines, "* OK [HIGHESTMODSEQ "), "{lines:?}");
    let lines = cmd(&mut c, "k2", "STORE 1 +FLAGS ($Forwarded Work)", "OK");
    assert!(
        has(
            &lines,
            "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Forwarded Work)"
        ),
        "{lines:?}"
    );
    assert!(
        has(&lines, "* 1 FETCH (FLAGS ($Forwarded Work \\Recent))"),
        "{lines:?}"
    );
    let lines = cmd(&mut c, "k3", "SEARCH KEYWORD work", "OK");
    assert_eq!(lines[0], "* SEARCH 1");
    let lines = cmd(&mut c, "k4", "SEARCH UNKEYWORD $Forwarded", "OK");
    assert_eq!(lines[0], "* SEARCH");
    cmd(&mut c, "k5", "STORE 1 -FLAGS (work)", "OK");
    cmd(
        &mut c,
        "k6",
        "APPEND INBOX ($Junk \\Seen) {12+}\r\nSubject: j\r\n",
        "OK [APPENDUID",
    );
    let lines = cmd(&mut c, "k7", "FETCH 1:* (FLAGS)", "OK");
    assert!(
        has(&lines, "* 1 FETCH (FLAGS ($Forwarded \\Recent))"),
        "{lines:?}"
    );
    assert!(has(&lines, "* 2 FETCH (FLAGS (\\Seen $Junk"), "{lines:?}");
    cmd(&mut c, "k8", "COPY 2 Archive", "OK");
    let lines = cmd(&mut c, "k9", "EXAMINE Archive", "OK [READ-ONLY]");
    assert!(
        has(
            &lines,
            "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Junk)"
        ),
        "{lines:?}"
    );
    assert!(has(&lines, "[PERMANENTFLAGS ()]"), "{lines:?}");

    // Subscriptions (RFC 9051 §6.3.7) and LIST-EXTENDED (RFC 5258).
    cmd(&mut c, "s1", "SUBSCRIBE Sent", "OK");
    cmd(&mut c, "s2", "SUBSCRIBE Nope", "NO [NONEXISTENT]");
    cmd(&mut c, "s3", "CREATE Fruit/Banana", "OK");
    cmd(&mut c, "s4", "SUBSCRIBE Fruit/Banana", "OK");
    let lines = cmd(&mut c, "s5", "LSUB \"\" *", "OK");
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert!(has(&lines, "* LSUB () \"/\" \"Sent\""), "{lines:?}");
    let lines = cmd(
        &mut c,
        "s6",
        "LIST (SUBSCRIBED RECURSIVEMATCH) \"\" % RETURN (CHILDREN)",
        "OK",
    );
    assert!(
        has(
            &lines,
            "* LIST (\\Noselect \\HasChildren) \"/\" \"Fruit\" (\"CHILDINFO\" (\"SUBSCRIBED\"))"
        ),
        "{lines:?}"
    );
    assert!(
        has(
            &lines,
            "* LIST (\\HasNoChildren \\Sent \\Subscribed) \"/\" \"Sent\""
        ),
        "{lines:?}"
    );
    let lines = cmd(
        &mut c,
        "s7",
        "LIST \"\" (INBOX Sent) RETURN (SUBSCRIBED STATUS (MESSAGES HIGHESTMODSEQ))",
        "OK",
    );
    assert!(
        has(&lines, "* STATUS \"INBOX\" (MESSAGES 2 HIGHESTMODSEQ "),
        "{lines:?}"
    );
    assert!(has(&lines, "\\Subscribed) \"/\" \"Sent\""), "{lines:?}");
    cmd(&mut c, "s8", "UNSUBSCRIBE Sent", "OK");
    let lines = cmd(&mut c, "s9", "LSUB \"\" *", "OK");
    assert_eq!(lines.len(), 2, "{lines:?}");

    // CONDSTORE (RFC 7162 §3.1).
    let lines = cmd(&mut c, "m1", "ENABLE CONDSTORE", "OK");
    assert_eq!(lines[0], "* ENABLED CONDSTORE");
    // Archive is selected: its HIGHESTMODSEQ follows (RFC 7162 §3.1).
    assert!(lines[1].starts_with("* OK [HIGHESTMODSEQ "), "{lines:?}");
    let lines = cmd(&mut c, "m2", "SELECT INBOX", "OK");
    let hms: u64 = lines
        .iter()
        .find_map(|l| l.strip_prefix("* OK [HIGHESTMODSEQ "))
        .and_then(|r| r.split(']').next())
        .and_then(|n| n.parse().ok())
        .expect("HIGHESTMODSEQ");
    let lines = cmd(&mut c, "m3", "FETCH 1:* (UID MODSEQ)", "OK");
    assert!(
        has(&lines, &format!("* 2 FETCH (UID 2 MODSEQ ({hms}))")),
        "{lines:?}"
    );
    let lines = cmd(
        &mut c,
        "m4",
        &format!("UID FETCH 1:* (FLAGS) (CHANGEDSINCE {})", hms - 1),
        "OK",
    );
    assert_eq!(lines.len(), 2, "{lines:?}");
    let lines = cmd(
        &mut c,
        "m5",
        &format!(
            "STORE 1:2 (UNCHANGEDSINCE {}) +FLAGS.SILENT (\\Flagged)",
            hms - 1
        ),
        "OK [MODIFIED 2]",
    );
    assert!(
        has(&lines, &format!("* 1 FETCH (MODSEQ ({}))", hms + 1)),
        "{lines:?}"
    );
    let lines = cmd(&mut c, "m6", &format!("SEARCH MODSEQ {}", hms + 1), "OK");
    assert_eq!(lines[0], format!("* SEARCH 1 (MODSEQ {})", hms + 1));
    let lines = cmd(&mut c, "m7", "STATUS Archive (HIGHESTMODSEQ)", "OK");
    assert!(
        lines[0].starts_with("* STATUS \"Archive\" (HIGHESTMODSEQ "),
        "{lines:?}"
    );
    cmd(&mut c, "z", "LOGOUT", "OK");

    // imaplib as an independent client; subscriptions survive the session.
    let port = node.addr("imap").port();
    let script = format!(
        r#"
import imaplib
M = imaplib.IMAP4("127.0.0.1", {port})
M.login("kim", "pw")
print("LSUB", M.lsub()[1])
M.select("INBOX")
print("STORE", M.store("1", "+FLAGS", "(NonJunk)"))
print("SEARCH", M.search(None, "KEYWORD", "NonJunk"))
print("FETCH", M.fetch("1", "(FLAGS MODSEQ)"))
print("LISTX", M.list('""', '"*" RETURN (SPECIAL-USE)')[0])
M.logout()
"#
    );
    let out = python(&script);
    for want in [
        "LSUB [b'() \"/\" \"Fruit/Banana\"']",
        "SEARCH ('OK', [b'1'])",
        "NonJunk",
        "MODSEQ (",
        "LISTX OK",
    ] {
        assert!(out.contains(want), "{want} not in:\n{out}");
    }
}

/// The number after `prefix` in the first line that has it.
fn number_after(lines: &[String], prefix: &str) -> u64 {
    lines
        .iter()
        .find_map(|l| l.strip_prefix(prefix))
        .and_then(|r| r.split(']').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{prefix} not in {lines:?}"))
}

#[test]
fn issue_3_qresync_vanished_and_esearch() {
    let node = TestNode::start();
    create_account(&node, "quinn", "pw");
    for s in ["one", "two", "three"] {
        submit(&node.base(), &format!("quinn@{MAIN_DOMAIN}"), s, s);
    }
    wait_messages(&node, "quinn", "pw", "INBOX", 3);

    // ESEARCH (RFC 4731 §3.1) in a session without QRESYNC.
    let mut d = imap_login(&node, "quinn", "pw");
    let lines = cmd(&mut d, "e0", "CAPABILITY", "OK");
    for cap in ["QRESYNC", "ESEARCH", "SEARCHRES"] {
        assert!(lines[0].contains(cap), "{lines:?}");
    }
    cmd(&mut d, "e1", "SELECT INBOX", "OK");
    let lines = cmd(
        &mut d,
        "e2",
        "UID SEARCH RETURN (MIN MAX COUNT ALL) ALL",
        "OK",
    );
    assert_eq!(
        lines[0],
        "* ESEARCH (TAG \"e2\") UID MIN 1 MAX 3 ALL 1:3 COUNT 3"
    );
    let lines = cmd(&mut d, "e3", "SEARCH RETURN () 2:3", "OK");
    assert_eq!(lines[0], "* ESEARCH (TAG \"e3\") ALL 2:3");
    let lines = cmd(&mut d, "e4", "SEARCH RETURN (MIN COUNT) DELETED", "OK");
    assert_eq!(lines[0], "* ESEARCH (TAG \"e4\") COUNT 0");
    let lines = cmd(&mut d, "e5", "SEARCH RETURN (MAX) DELETED", "OK");
    assert_eq!(lines[0], "* ESEARCH (TAG \"e5\")");
    // SEARCHRES (RFC 5182): SAVE alone answers nothing; `$` is the result.
    let lines = cmd(&mut d, "r1", "SEARCH RETURN (SAVE) 2:3", "OK");
    assert_eq!(lines.len(), 1, "{lines:?}");
    let lines = cmd(&mut d, "r2", "FETCH $ (UID)", "OK");
    assert_eq!(lines[..2], ["* 2 FETCH (UID 2)", "* 3 FETCH (UID 3)"]);
    let lines = cmd(&mut d, "r3", "UID SEARCH RETURN (SAVE MAX COUNT) ALL", "OK");
    assert_eq!(lines[0], "* ESEARCH (TAG \"r3\") UID MAX 3 COUNT 3");
    let lines = cmd(&mut d, "r4", "SEARCH RETURN (ALL) $ NOT 1", "OK");
    assert_eq!(lines[0], "* ESEARCH (TAG \"r4\") ALL 2:3");
    cmd(&mut d, "r5", "UID SEARCH RETURN (SAVE MIN) ALL", "OK");
    let lines = cmd(&mut d, "r6", "UID FETCH $ (FLAGS)", "OK");
    assert_eq!(lines[0], "* 1 FETCH (UID 1 FLAGS (\\Recent))");
    assert_eq!(lines.len(), 2, "{lines:?}");
    // Another SELECT forgets the saved result.
    cmd(&mut d, "r7", "SELECT INBOX", "OK");
    let lines = cmd(&mut d, "r8", "FETCH $ (UID)", "OK");
    assert_eq!(lines.len(), 1, "{lines:?}");
    // QRESYNC parameters need ENABLE QRESYNC (RFC 7162 §3.2.5, §3.2.6).
    cmd(&mut d, "e6", "SELECT INBOX (QRESYNC (1 1))", "BAD");
    cmd(&mut d, "e7", "SELECT INBOX", "OK");
    cmd(
        &mut d,
        "e8",
        "UID FETCH 1:* FLAGS (CHANGEDSINCE 1 VANISHED)",
        "BAD",
    );

    // QRESYNC (RFC 7162 §3.2).
    let mut c = imap_login(&node, "quinn", "pw");
    let lines = cmd(&mut c, "q1", "ENABLE QRESYNC", "OK");
    assert_eq!(lines[0], "* ENABLED CONDSTORE QRESYNC");
    let lines = cmd(&mut c, "q2", "SELECT INBOX", "OK");
    let validity = number_after(&lines, "* OK [UIDVALIDITY ");
    let hms = number_after(&lines, "* OK [HIGHESTMODSEQ ");
    // Nothing changed since: only [CLOSED] and the usual responses.
    let lines = cmd(
        &mut c,
        "q3",
        &format!("SELECT INBOX (QRESYNC ({validity} {hms}))"),
        "OK [READ-WRITE]",
    );
    assert_eq!(lines[0], "* OK [CLOSED] Previous mailbox closed");
    assert!(
        !has(&lines, "VANISHED") && !has(&lines, "FETCH"),
        "{lines:?}"
    );
    // An expunge is told as VANISHED (§3.2.10).
    cmd(&mut c, "q4", "STORE 1 +FLAGS.SILENT (\\Deleted)", "OK");
    let lines = cmd(&mut c, "q5", "EXPUNGE", "OK");
    assert_eq!(lines[0], "* VANISHED 1", "{lines:?}");
    let lines = cmd(
        &mut c,
        "q6",
        &format!("UID FETCH 1:* (FLAGS) (CHANGEDSINCE {hms} VANISHED)"),
        "OK",
    );
    assert_eq!(lines[0], "* VANISHED (EARLIER) 1", "{lines:?}");
    assert_eq!(lines.len(), 2, "{lines:?}");
    cmd(
        &mut c,
        "q7",
        &format!("FETCH 1:* (FLAGS) (CHANGEDSINCE {hms} VANISHED)"),
        "BAD",
    );
    // Another session flags and expunges: FETCH with MODSEQ, VANISHED.
    cmd(&mut d, "d1", "UID STORE 2 +FLAGS (\\Seen)", "OK");
    cmd(&mut d, "d2", "UID STORE 3 +FLAGS (\\Deleted)", "OK");
    cmd(&mut d, "d3", "EXPUNGE", "OK");
    let lines = cmd(&mut c, "q8", "NOOP", "OK");
    assert!(has(&lines, "* VANISHED 3"), "{lines:?}");
    assert!(
        has(&lines, "* 1 FETCH (UID 2 FLAGS (\\Seen) MODSEQ ("),
        "{lines:?}"
    );
    // Resynchronizing from the first state: UIDs 1 and 3 vanished, 2 changed.
    let lines = cmd(
        &mut c,
        "q9",
        &format!("EXAMINE INBOX (QRESYNC ({validity} {hms} 1:3))"),
        "OK [READ-ONLY]",
    );
    assert!(has(&lines, "* VANISHED (EARLIER) 1,3"), "{lines:?}");
    assert!(
        has(&lines, "* 1 FETCH (UID 2 FLAGS (\\Seen) MODSEQ ("),
        "{lines:?}"
    );
    // A UIDVALIDITY that does not match gets a plain SELECT.
    let lines = cmd(
        &mut c,
        "q10",
        &format!("SELECT INBOX (QRESYNC ({} {hms}))", validity + 1),
        "OK",
    );
    assert!(
        !has(&lines, "VANISHED") && !has(&lines, "FETCH"),
        "{lines:?}"
    );
    cmd(&mut c, "z", "LOGOUT", "OK");
    cmd(&mut d, "z", "LOGOUT", "OK");
}

/// Appends `size` bytes (one header line and filler) to `mailbox` with
/// LITERAL+ and reads the tagged reply.
fn append_sized(c: &mut LineClient, tag: &str, mailbox: &str, size: usize, status: &str) {
    let head = "Subject: filler\r\n\r\n";
    let body = format!("{head}{}", "x".repeat(size - head.len()));
    c.send(&format!("{tag} APPEND {mailbox} {{{size}+}}"));
    c.send(&body);
    until_tagged(c, tag, status);
}

#[test]
fn issue_3_quota_from_max_account_size() {
    let node = TestNode::start();
    let mut admin = login(&node);
    run(
        &mut admin,
        "CreateAccount quota {Password=\"pw\";MaxAccountSize=10K;}",
        "200 OK",
    );
    create_account(&node, "free", "pw");

    let mut c = imap_login(&node, "quota", "pw");
    let lines = cmd(&mut c, "c", "CAPABILITY", "OK");
    assert!(lines[0].contains(" QUOTA QUOTA=RES-STORAGE"), "{lines:?}");
    // RFC 9208 §4.3.2: the root of a mailbox and its quota.
    let lines = cmd(&mut c, "g1", "GETQUOTAROOT INBOX", "OK");
    assert_eq!(lines[0], "* QUOTAROOT \"INBOX\" \"\"");
    assert_eq!(lines[1], "* QUOTA \"\" (STORAGE 0 10)");
    cmd(&mut c, "g2", "GETQUOTAROOT Nowhere", "NO [NONEXISTENT]");
    cmd(&mut c, "g3", "GETQUOTA \"other\"", "NO [NONEXISTENT]");
    cmd(&mut c, "g4", "SETQUOTA \"\" (STORAGE 512)", "NO");
    // APPEND and COPY past the limit fail with [OVERQUOTA] (RFC 9208 §5.1).
    append_sized(&mut c, "a1", "INBOX", 12_000, "NO [OVERQUOTA]");
    append_sized(&mut c, "a2", "INBOX", 6_000, "OK [APPENDUID");
    let lines = cmd(&mut c, "g5", "GETQUOTA \"\"", "OK");
    assert_eq!(lines[0], "* QUOTA \"\" (STORAGE 6 10)");
    append_sized(&mut c, "a3", "Drafts", 5_000, "NO [OVERQUOTA]");
    cmd(&mut c, "s1", "SELECT INBOX", "OK");
    cmd(&mut c, "k1", "COPY 1 Trash", "NO [OVERQUOTA]");
    // MOVE does not change the usage.
    cmd(&mut c, "k2", "MOVE 1 Trash", "OK");
    let lines = cmd(&mut c, "g6", "GETQUOTAROOT Trash", "OK");
    assert_eq!(lines[1], "* QUOTA \"\" (STORAGE 6 10)");
    // The administrator raises the limit: it applies at once.
    run(
        &mut admin,
        "UpdateAccountSettings quota {MaxAccountSize=#1048576;}",
        "200 OK",
    );
    let lines = cmd(&mut c, "g7", "GETQUOTA \"\"", "OK");
    assert_eq!(lines[0], "* QUOTA \"\" (STORAGE 6 1024)");
    cmd(&mut c, "s2", "SELECT Trash", "OK");
    cmd(&mut c, "k3", "COPY 1 INBOX", "OK [COPYUID");
    cmd(&mut c, "z", "LOGOUT", "OK");

    // No limit: no quota root.
    let mut f = imap_login(&node, "free", "pw");
    let lines = cmd(&mut f, "g1", "GETQUOTAROOT INBOX", "OK");
    assert_eq!(lines[0], "* QUOTAROOT \"INBOX\"");
    cmd(&mut f, "g2", "GETQUOTA \"\"", "NO");
    append_sized(&mut f, "a1", "INBOX", 20_000, "OK");

    // imaplib as an independent client.
    let port = node.addr("imap").port();
    let script = format!(
        r#"
import imaplib
M = imaplib.IMAP4("127.0.0.1", {port})
M.login("quota", "pw")
print("ROOT", M.getquotaroot("INBOX"))
print("QUOTA", M.getquota('""'))
M.logout()
"#
    );
    let out = python(&script);
    for want in [
        "ROOT ('OK', [[b'\"INBOX\" \"\"'], [b'\"\" (STORAGE 12 1024)']])",
        "QUOTA ('OK', [b'\"\" (STORAGE 12 1024)'])",
    ] {
        assert!(out.contains(want), "{want} not in:\n{out}");
    }
}

#[test]
fn issue_3_sort_and_thread() {
    let node = TestNode::start();
    create_account(&node, "sid", "pw");
    let mut c = imap_login(&node, "sid", "pw");
    let lines = cmd(&mut c, "c", "CAPABILITY", "OK");
    assert!(
        lines[0].contains(" SORT THREAD=ORDEREDSUBJECT THREAD=REFERENCES"),
        "{lines:?}"
    );
    assert!(lines[0].contains(" SORT=DISPLAY"), "{lines:?}");
    // (from, sent date, subject, internal date), appended as 1..5.
    let msgs = [
        (
            "carol@x.test",
            Some("Mon, 1 Jan 2024 10:00:00 +0000"),
            "Re: lunch",
            "10-Jan-2024 00:00:00 +0000",
        ),
        (
            "alice@x.test",
            Some("Sun, 31 Dec 2023 23:00:00 +0000"),
            "lunch",
            "09-Jan-2024 00:00:00 +0000",
        ),
        (
            "bob@x.test",
            Some("Tue, 2 Jan 2024 10:00:00 +0000"),
            "[team] meeting",
            "08-Jan-2024 00:00:00 +0000",
        ),
        (
            "alice@x.test",
            Some("Thu, 4 Jan 2024 02:00:00 +0500"),
            "Fwd: lunch (fwd)",
            "07-Jan-2024 00:00:00 +0000",
        ),
        (
            "dave@x.test",
            None,
            "Re: Meeting",
            "05-Jan-2024 00:00:00 +0000",
        ),
    ];
    for (i, (from, date, subject, internal)) in msgs.iter().enumerate() {
        let date = date.map(|d| format!("Date: {d}\r\n")).unwrap_or_default();
        let text =
            format!("From: {from}\r\nTo: z@x.test\r\n{date}Subject: {subject}\r\n\r\nbody\r\n");
        c.send(&format!(
            "a{i} APPEND INBOX \"{internal}\" {{{}+}}",
            text.len()
        ));
        c.send(&text);
        until_tagged(&mut c, &format!("a{i}"), "OK");
    }
    cmd(&mut c, "s", "SELECT INBOX", "OK");
    for (command, want) in [
        ("SORT (DATE) UTF-8 ALL", "* SORT 2 1 3 4 5"),
        ("SORT (ARRIVAL) UTF-8 ALL", "* SORT 5 4 3 2 1"),
        ("SORT (SUBJECT) UTF-8 ALL", "* SORT 1 2 4 3 5"),
        ("SORT (REVERSE FROM) UTF-8 ALL", "* SORT 5 1 3 2 4"),
        // RFC 5957: no display names here, so the addr-specs.
        ("SORT (DISPLAYFROM) UTF-8 ALL", "* SORT 2 4 3 1 5"),
        ("SORT (SUBJECT REVERSE DATE) UTF-8 ALL", "* SORT 4 1 2 5 3"),
        ("UID SORT (DATE) US-ASCII SUBJECT meeting", "* SORT 3 5"),
        ("SORT (SIZE) UTF-8 DELETED", "* SORT"),
        (
            "THREAD ORDEREDSUBJECT UTF-8 ALL",
            "* THREAD (2 (1)(4))(3 5)",
        ),
        (
            "UID THREAD ORDEREDSUBJECT UTF-8 FROM alice",
            "* THREAD (2 4)",
        ),
        ("THREAD ORDEREDSUBJECT UTF-8 DELETED", "* THREAD"),
        // No Message-IDs: REFERENCES falls back to gathering by subject.
        ("THREAD REFERENCES UTF-8 ALL", "* THREAD (2 (1)(4))(3 5)"),
    ] {
        let lines = cmd(&mut c, "t", command, "OK");
        assert_eq!(lines[0], want, "{command}");
    }
    cmd(&mut c, "b1", "SORT (DATE) ALL", "BAD");
    cmd(&mut c, "b2", "THREAD BOGUS UTF-8 ALL", "BAD");
    // Replies linked by References and In-Reply-To.
    for (i, (id, refs, subject)) in [
        ("<r1@x>", "", "Plan"),
        ("<r2@x>", "References: <r1@x>\r\n", "Re: Plan"),
        ("<r3@x>", "In-Reply-To: <r2@x>\r\n", "Different"),
    ]
    .iter()
    .enumerate()
    {
        let text = format!(
            "From: a@x.test\r\nMessage-ID: {id}\r\n{refs}Subject: {subject}\r\n\r\nbody\r\n"
        );
        c.send(&format!("r{i} APPEND Archive {{{}+}}", text.len()));
        c.send(&text);
        until_tagged(&mut c, &format!("r{i}"), "OK");
    }
    cmd(&mut c, "r9", "EXAMINE Archive", "OK");
    let lines = cmd(&mut c, "r10", "THREAD REFERENCES UTF-8 ALL", "OK");
    assert_eq!(lines[0], "* THREAD (1 2 3)");
    cmd(&mut c, "z", "LOGOUT", "OK");

    let port = node.addr("imap").port();
    let script = format!(
        r#"
import imaplib
M = imaplib.IMAP4("127.0.0.1", {port})
M.login("sid", "pw")
M.select("INBOX")
print("SORT", M.sort("(REVERSE DATE)", "UTF-8", "ALL"))
print("THREAD", M.thread("ORDEREDSUBJECT", "UTF-8", "ALL"))
M.logout()
"#
    );
    let out = python(&script);
    for want in [
        "SORT ('OK', [b'5 4 3 1 2'])",
        "THREAD ('OK', [b'(2 (1)(4))(3 5)'])",
    ] {
        assert!(out.contains(want), "{want} not in:\n{out}");
    }
}

/// Appends a small message to `mailbox` with LITERAL+.
fn append_one(c: &mut LineClient, tag: &str, mailbox: &str, subject: &str) {
    let msg = format!("Subject: {subject}\r\n\r\nbody\r\n");
    c.send(&format!("{tag} APPEND {mailbox} {{{}+}}", msg.len()));
    c.send_raw(msg.as_bytes());
    c.send("");
    until_tagged(c, tag, "OK");
}

/// What imaptest's compliance groups `select`, `search-flags`, `move`,
/// `esearch-condstore` and `atoms` found: `\Recent` shared between
/// sessions (RFC 3501 §2.3.2), MOVE into the selected mailbox, HIGHESTMODSEQ
/// when a command enables CONDSTORE (RFC 7162 §3.1), the MODSEQ of
/// ESEARCH MIN/MAX, and names that are not valid modified UTF-7.
#[test]
fn issue_3_recent_move_to_self_condstore_enabling_and_bad_names() {
    let node = TestNode::start();
    create_account(&node, "rita", "pw");
    let mut c = imap_login(&node, "rita", "pw");
    cmd(&mut c, "c1", "CREATE R", "OK");
    append_one(&mut c, "c2", "R", "one");
    append_one(&mut c, "c3", "R", "two");

    // EXAMINE shows the recent messages and leaves them recent.
    let mut d = imap_login(&node, "rita", "pw");
    let lines = cmd(&mut d, "d1", "EXAMINE R", "OK [READ-ONLY]");
    assert!(has(&lines, "* 2 RECENT"), "{lines:?}");
    let lines = cmd(&mut d, "d2", "FETCH 1 FLAGS", "OK");
    assert_eq!(lines[0], "* 1 FETCH (FLAGS (\\Recent))");
    let lines = cmd(&mut c, "c4", "STATUS R (MESSAGES RECENT)", "OK");
    assert_eq!(lines[0], "* STATUS \"R\" (MESSAGES 2 RECENT 2)");
    // SELECT takes them: recent to this session only.
    let lines = cmd(&mut d, "d3", "SELECT R", "OK [READ-WRITE]");
    assert!(has(&lines, "* 2 RECENT"), "{lines:?}");
    let lines = cmd(&mut d, "d4", "SEARCH RECENT", "OK");
    assert_eq!(lines[0], "* SEARCH 1 2");
    let lines = cmd(&mut d, "d5", "SEARCH NEW", "OK");
    assert_eq!(lines[0], "* SEARCH 1 2");
    let lines = cmd(&mut c, "c5", "STATUS R (RECENT)", "OK");
    assert_eq!(lines[0], "* STATUS \"R\" (RECENT 0)");
    let mut e = imap_login(&node, "rita", "pw");
    let lines = cmd(&mut e, "e1", "SELECT R", "OK");
    assert!(has(&lines, "* 0 RECENT"), "{lines:?}");
    let lines = cmd(&mut e, "e2", "SEARCH OLD", "OK");
    assert_eq!(lines[0], "* SEARCH 1 2");
    // New mail is recent to the first selected session told of it.
    append_one(&mut c, "c6", "R", "three");
    let lines = cmd(&mut d, "d6", "NOOP", "OK");
    assert_eq!(lines[..2], ["* 3 EXISTS", "* 3 RECENT"]);
    let lines = cmd(&mut e, "e3", "NOOP", "OK");
    assert_eq!(lines[..2], ["* 3 EXISTS", "* 0 RECENT"]);

    // MOVE into the selected mailbox itself: new UIDs at the end.
    let lines = cmd(&mut d, "d7", "MOVE 1 R", "OK");
    assert!(
        lines[0].starts_with("* OK [COPYUID ") && lines[0].contains(" 1 4] "),
        "{lines:?}"
    );
    assert!(has(&lines, "* 1 EXPUNGE"), "{lines:?}");
    let lines = cmd(&mut d, "d8", "UID FETCH 1:* UID", "OK");
    assert_eq!(
        lines[..3],
        [
            "* 1 FETCH (UID 2)",
            "* 2 FETCH (UID 3)",
            "* 3 FETCH (UID 4)"
        ]
    );

    // A CONDSTORE-enabling FETCH tells HIGHESTMODSEQ once (RFC 7162 §3.1).
    let lines = cmd(&mut e, "e4", "FETCH 1 MODSEQ", "OK");
    assert!(lines[0].starts_with("* OK [HIGHESTMODSEQ "), "{lines:?}");
    let lines = cmd(&mut e, "e5", "FETCH 1 MODSEQ", "OK");
    assert!(!has(&lines, "HIGHESTMODSEQ"), "{lines:?}");
    cmd(&mut d, "d9", "STORE 2 +FLAGS.SILENT (\\Seen)", "OK");
    cmd(&mut d, "d10", "STORE 1 +FLAGS.SILENT (\\Seen)", "OK");
    let lines = cmd(&mut d, "d11", "FETCH 1:2 MODSEQ", "OK");
    let modseq = |n: u32| -> u64 {
        lines
            .iter()
            .find_map(|l| l.strip_prefix(&format!("* {n} FETCH (MODSEQ (")))
            .and_then(|r| r.split(')').next())
            .and_then(|m| m.parse().ok())
            .unwrap_or_else(|| panic!("no MODSEQ of {n} in {lines:?}"))
    };
    let (m1, m2) = (modseq(1), modseq(2));
    assert!(m1 > m2, "{lines:?}");
    // RETURN (MAX): the mod-sequence of the message reported, not of all.
    let lines = cmd(&mut d, "d12", "SEARCH RETURN (MAX) 1:2 MODSEQ 1", "OK");
    assert_eq!(
        lines[0],
        format!("* ESEARCH (TAG \"d12\") MAX 2 MODSEQ {m2}")
    );
    let lines = cmd(&mut d, "d13", "SEARCH RETURN (COUNT) 1:2 MODSEQ 1", "OK");
    assert_eq!(
        lines[0],
        format!("* ESEARCH (TAG \"d13\") COUNT 2 MODSEQ {m1}")
    );

    // Not modified UTF-7: no such mailbox (NO), and a pattern naming none.
    cmd(&mut c, "c7", "SELECT &'+,-", "NO [CANNOT]");
    cmd(&mut c, "c8", "CREATE a&'b", "NO [CANNOT]");
    let lines = cmd(&mut c, "c9", "LIST \"\" &'*", "OK");
    assert_eq!(lines.len(), 1, "{lines:?}");
    let lines = cmd(&mut c, "c10", "LIST \"\" (&'* R)", "OK");
    assert_eq!(lines[0], "* LIST (\\HasNoChildren) \"/\" \"R\"");
}

/// The lines up to the tagged reply joined by `\n`: literals that span
/// lines read as they were sent, with CRLF as `\n`.
fn transcript(c: &mut LineClient, tag: &str, command: &str, status: &str) -> String {
    cmd(c, tag, command, status).join("\n")
}

/// MULTIAPPEND (RFC 3502): several messages in one APPEND with
/// synchronizing literals, one APPENDUID set, and all or none stored
/// (an empty message, a missing mailbox or the quota refuse the whole
/// command).
#[test]
fn issue_3_multiappend_is_atomic() {
    let node = TestNode::start();
    let mut admin = login(&node);
    run(
        &mut admin,
        "CreateAccount multi {Password=\"pw\";MaxAccountSize=10K;}",
        "200 OK",
    );
    let mut c = imap_login(&node, "multi", "pw");
    let lines = cmd(&mut c, "c0", "CAPABILITY", "OK");
    assert!(lines[0].contains(" MULTIAPPEND"), "{lines:?}");
    cmd(&mut c, "c1", "CREATE M", "OK");

    let m1 = "Subject: one\r\n\r\nfirst\r\n";
    let m2 = "Subject: two\r\n\r\nsecond\r\n";
    c.send(&format!("a1 APPEND M (\\Seen) {{{}}}", m1.len()));
    c.expect("+ ");
    c.send_raw(m1.as_bytes());
    c.send(&format!(
        " (\\Flagged $Work) \"07-Feb-1994 22:43:04 -0800\" {{{}}}",
        m2.len()
    ));
    c.expect("+ ");
    c.send_raw(m2.as_bytes());
    c.send("");
    let lines = until_tagged(&mut c, "a1", "OK [APPENDUID ");
    assert!(lines[0].ends_with(" 1:2] APPEND completed"), "{lines:?}");

    let lines = cmd(&mut c, "s1", "SELECT M", "OK");
    assert!(has(&lines, "* 2 EXISTS"), "{lines:?}");
    let lines = cmd(&mut c, "f1", "FETCH 1:2 (FLAGS INTERNALDATE)", "OK");
    assert!(lines[0].contains("FLAGS (\\Seen"), "{lines:?}");
    assert!(
        lines[1].contains("FLAGS (\\Flagged $Work")
            && lines[1].contains("INTERNALDATE \"08-Feb-1994 06:43:04 +0000\""),
        "{lines:?}"
    );

    // An empty second message: neither is stored.
    c.send(&format!("a2 APPEND M {{{}+}}\r\n{m1} {{0+}}\r\n", m1.len()));
    until_tagged(&mut c, "a2", "NO");
    // A missing mailbox: TRYCREATE, nothing stored anywhere.
    c.send(&format!(
        "a3 APPEND Nowhere {{{}+}}\r\n{m1} {{{}+}}\r\n{m2}",
        m1.len(),
        m2.len()
    ));
    until_tagged(&mut c, "a3", "NO [TRYCREATE]");
    // Two messages that fit the quota alone but not together.
    let big = format!("Subject: big\r\n\r\n{}\r\n", "x".repeat(5_500));
    c.send(&format!(
        "a4 APPEND M {{{n}+}}\r\n{big} {{{n}+}}\r\n{big}",
        n = big.len()
    ));
    until_tagged(&mut c, "a4", "NO [OVERQUOTA]");
    let lines = cmd(&mut c, "n1", "NOOP", "OK");
    assert_eq!(lines.len(), 1, "nothing new: {lines:?}");
    let lines = cmd(&mut c, "st", "STATUS M (MESSAGES)", "OK");
    assert_eq!(lines[0], "* STATUS \"M\" (MESSAGES 2)");
    // Malformed: flags without a message.
    cmd(&mut c, "a5", "APPEND M {1+}\r\nx (\\Seen)", "BAD");
    cmd(&mut c, "z", "LOGOUT", "OK");
}

/// BINARY (RFC 3516): APPEND with literal8, FETCH BINARY (decoded
/// base64 and quoted-printable, partial, literal8 when NUL is in the
/// data), BINARY.PEEK, BINARY.SIZE, and `[UNKNOWN-CTE]`.
#[test]
fn issue_3_binary_fetch_and_literal8_append() {
    let node = TestNode::start();
    create_account(&node, "bina", "pw");
    let mut c = imap_login(&node, "bina", "pw");
    let lines = cmd(&mut c, "c0", "CAPABILITY", "OK");
    assert!(lines[0].contains(" BINARY"), "{lines:?}");

    // 1: binary data with NUL, sent as literal8.
    let bin = b"Subject: bin\r\nContent-Type: application/octet-stream\r\n\
Content-Transfer-Encoding: binary\r\n\r\nA\0B\r\nC";
    c.send_raw(format!("a1 APPEND INBOX ~{{{}+}}\r\n", bin.len()).as_bytes());
    c.send_raw(bin);
    c.send("");
    until_tagged(&mut c, "a1", "OK [APPENDUID ");
    // NUL in a plain literal is refused.
    c.send_raw(format!("a2 APPEND INBOX {{{}+}}\r\n", bin.len()).as_bytes());
    c.send_raw(bin);
    c.send("");
    until_tagged(&mut c, "a2", "BAD");
    // 2: quoted-printable and base64 parts.
    let mime = "Subject: mime\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n\
--b\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\ncaf=C3=A9 =\r\nau lait\r\n\
--b\r\nContent-Transfer-Encoding: base64\r\n\r\naGVsbG8g\r\nd29ybGQ=\r\n--b--\r\n";
    append_raw(&mut c, "a3", mime);
    // 3: an encoding nobody knows.
    append_raw(
        &mut c,
        "a4",
        "Subject: uu\r\nContent-Transfer-Encoding: x-uuencode\r\n\r\nbegin 644 x\r\n",
    );

    cmd(&mut c, "s", "SELECT INBOX", "OK");
    // Stored as base64: BODY never carries NUL.
    let t = transcript(&mut c, "f1", "FETCH 1 BODY.PEEK[1]", "OK");
    assert!(t.contains("BODY[1] {10}\nQQBCDQpD\n)"), "{t}");
    let t = transcript(
        &mut c,
        "f2",
        "FETCH 1 (BINARY.SIZE[1] BINARY.PEEK[1])",
        "OK",
    );
    assert!(
        t.contains("(BINARY.SIZE[1] 6 BINARY[1] ~{6}\nA\0B\nC)"),
        "{t:?}"
    );
    let t = transcript(&mut c, "f3", "FETCH 1 BINARY.PEEK[1]<2.3>", "OK");
    assert!(t.contains("(BINARY[1]<2> {3}\nB\n)"), "{t:?}");
    let t = transcript(
        &mut c,
        "f4",
        "FETCH 2 (BINARY.SIZE[1] BINARY.PEEK[1])",
        "OK",
    );
    assert!(
        t.contains("BINARY.SIZE[1] 13 BINARY[1] {13}\ncafé au lait)"),
        "{t:?}"
    );
    let t = transcript(&mut c, "f5", "FETCH 2 (BINARY.PEEK[2] BINARY.SIZE[])", "OK");
    assert!(
        t.contains("BINARY[2] {11}\nhello world BINARY.SIZE[] "),
        "{t:?}"
    );
    // No such part: NIL, as for BODY.
    let t = transcript(&mut c, "f6", "FETCH 2 BINARY.PEEK[3]", "OK");
    assert!(t.contains("* 2 FETCH (BINARY[3] NIL)"), "{t:?}");
    cmd(&mut c, "f7", "FETCH 3 BINARY.PEEK[1]", "NO [UNKNOWN-CTE]");
    cmd(&mut c, "f8", "FETCH 3 BINARY.SIZE[1]", "NO [UNKNOWN-CTE]");
    // A failed BINARY (no PEEK) sets no \Seen.
    cmd(&mut c, "f8b", "FETCH 2:3 BINARY[1]", "NO [UNKNOWN-CTE]");
    cmd(&mut c, "f9", "FETCH 2 BINARY[1.MIME]", "BAD");
    let t = transcript(&mut c, "f10", "FETCH 3 BODY.PEEK[1]", "OK");
    assert!(t.contains("begin 644 x"), "{t}");
    // BINARY without PEEK sets \Seen and says so.
    let t = transcript(&mut c, "f11", "FETCH 2 BINARY[2]", "OK");
    assert!(t.contains("\\Seen"), "{t}");
    let lines = cmd(&mut c, "f12", "FETCH 1:3 FLAGS", "OK");
    assert!(!lines[0].contains("\\Seen"), "{lines:?}");
    assert!(!lines[2].contains("\\Seen"), "{lines:?}");
    assert!(
        lines[1].starts_with("* 2 FETCH (FLAGS (\\Seen"),
        "{lines:?}"
    );
    cmd(&mut c, "z", "LOGOUT", "OK");
}

/// Appends `text` with LITERAL+ and expects OK.
fn append_raw(c: &mut LineClient, tag: &str, text: &str) {
    c.send(&format!("{tag} APPEND INBOX {{{}+}}", text.len()));
    c.send_raw(text.as_bytes());
    c.send("");
    until_tagged(c, tag, "OK");
}

/// ESORT (RFC 5267 §3): SORT RETURN answers with ESEARCH, MIN and MAX
/// the ends of the sort order and ALL in sort order; SAVE keeps the
/// result for `$` (RFC 5182). CONTEXT=SORT is not advertised.
#[test]
fn issue_3_esort_returns_esearch_in_sort_order() {
    let node = TestNode::start();
    create_account(&node, "sorty", "pw");
    let mut c = imap_login(&node, "sorty", "pw");
    let lines = cmd(&mut c, "c0", "CAPABILITY", "OK");
    assert!(lines[0].contains(" ESORT"), "{lines:?}");
    assert!(!lines[0].contains("CONTEXT="), "{lines:?}");
    for (tag, subject) in [("a1", "b"), ("a2", "c"), ("a3", "a"), ("a4", "d")] {
        append_one(&mut c, tag, "INBOX", subject);
    }
    cmd(&mut c, "s", "SELECT INBOX", "OK");
    let lines = cmd(
        &mut c,
        "o1",
        "SORT RETURN (MIN MAX ALL COUNT) (SUBJECT) UTF-8 ALL",
        "OK",
    );
    assert_eq!(
        lines[0],
        "* ESEARCH (TAG \"o1\") MIN 3 MAX 4 ALL 3,1:2,4 COUNT 4"
    );
    let lines = cmd(
        &mut c,
        "o2",
        "UID SORT RETURN () (REVERSE SUBJECT) UTF-8 ALL",
        "OK",
    );
    assert_eq!(lines[0], "* ESEARCH (TAG \"o2\") UID ALL 4,2,1,3");
    let lines = cmd(
        &mut c,
        "o3",
        "SORT RETURN (COUNT) (SUBJECT) UTF-8 DELETED",
        "OK",
    );
    assert_eq!(lines[0], "* ESEARCH (TAG \"o3\") COUNT 0");
    let lines = cmd(
        &mut c,
        "o4",
        "SORT RETURN (MIN) (ARRIVAL) UTF-8 DELETED",
        "OK",
    );
    assert_eq!(lines[0], "* ESEARCH (TAG \"o4\")");
    // SAVE with MIN keeps the first in sort order for `$`.
    let lines = cmd(
        &mut c,
        "o5",
        "SORT RETURN (SAVE MIN) (SUBJECT) UTF-8 2:4",
        "OK",
    );
    assert_eq!(lines[0], "* ESEARCH (TAG \"o5\") MIN 3");
    let lines = cmd(&mut c, "o6", "FETCH $ UID", "OK");
    assert_eq!(lines[0], "* 3 FETCH (UID 3)");
    assert_eq!(lines.len(), 2, "{lines:?}");
    // SAVE alone: no ESEARCH; `$` is every match.
    let lines = cmd(&mut c, "o9", "SORT RETURN (SAVE) (SUBJECT) UTF-8 3:4", "OK");
    assert_eq!(lines.len(), 1, "{lines:?}");
    let lines = cmd(&mut c, "o10", "FETCH $ UID", "OK");
    assert_eq!(lines[..2], ["* 3 FETCH (UID 3)", "* 4 FETCH (UID 4)"]);
    // Plain SORT is unchanged.
    let lines = cmd(&mut c, "o7", "SORT (SUBJECT) UTF-8 ALL", "OK");
    assert_eq!(lines[0], "* SORT 3 1 2 4");
    cmd(
        &mut c,
        "o8",
        "SORT RETURN (PARTIAL 1:2) (SUBJECT) UTF-8 ALL",
        "BAD",
    );
    cmd(&mut c, "z", "LOGOUT", "OK");
}

/// RENAME is all or nothing and DELETE leaves no empty hierarchy folders
/// behind (RFC 9051 §6.3.4, §6.3.6): what imaptest's `uidvalidity-rename`
/// found when run twice on one account. Folders an older DELETE left
/// (`imaptest3/test3/test4`, no mailbox in them) made `RENAME imaptest
/// imaptest3` move the mailbox and then answer NO.
#[test]
fn issue_3_rename_over_leftover_folders_is_all_or_nothing() {
    let node = TestNode::start();
    create_account(&node, "rene", "pw");
    let mut c = imap_login(&node, "rene", "pw");
    cmd(&mut c, "c1", "CREATE imaptest", "OK");
    cmd(&mut c, "c2", "CREATE imaptest/child", "OK");
    append_one(&mut c, "c3", "imaptest", "one");
    let lines = cmd(&mut c, "c4", "STATUS imaptest (UIDVALIDITY)", "OK");
    let validity: u32 = lines[0]
        .split("UIDVALIDITY ")
        .nth(1)
        .and_then(|r| r.trim_end_matches(')').parse().ok())
        .unwrap_or_else(|| panic!("no UIDVALIDITY in {lines:?}"));
    let acct = node.base().join("Accounts/rene.macnt");
    // What DELETE left before the fix.
    std::fs::create_dir_all(acct.join("imaptest3/test3/test4")).expect("leftover folders");

    cmd(&mut c, "c5", "RENAME imaptest imaptest3", "OK");
    let lines = cmd(
        &mut c,
        "c6",
        "STATUS imaptest3 (UIDVALIDITY MESSAGES)",
        "OK",
    );
    assert_eq!(
        lines[0],
        format!("* STATUS \"imaptest3\" (UIDVALIDITY {validity} MESSAGES 1)")
    );
    let lines = cmd(&mut c, "c7", "LIST \"\" imaptest*", "OK");
    assert_eq!(
        lines[..lines.len() - 1],
        [
            "* LIST (\\HasChildren) \"/\" \"imaptest3\"",
            "* LIST (\\HasNoChildren) \"/\" \"imaptest3/child\"",
        ]
    );

    // A refused RENAME changes nothing.
    cmd(&mut c, "c8", "CREATE other/child", "OK");
    cmd(&mut c, "c9", "RENAME imaptest3 other", "NO [ALREADYEXISTS]");
    cmd(&mut c, "c10", "RENAME nothere x", "NO [NONEXISTENT]");
    let lines = cmd(&mut c, "c11", "LIST \"\" *", "OK");
    let names: Vec<&str> = lines[..lines.len() - 1]
        .iter()
        .map(|l| l.rsplit(' ').next().unwrap_or_default().trim_matches('"'))
        .collect();
    assert_eq!(
        names,
        [
            "Archive",
            "Drafts",
            "INBOX",
            "Junk",
            "Sent",
            "Trash",
            "imaptest3",
            "imaptest3/child",
            "other",
            "other/child"
        ]
    );

    // DELETE keeps the inferiors; the name stays as a \Noselect level.
    cmd(&mut c, "c12", "DELETE imaptest3", "OK");
    let lines = cmd(&mut c, "c13", "LIST \"\" imaptest*", "OK");
    assert_eq!(
        lines[..lines.len() - 1],
        [
            "* LIST (\\Noselect \\HasChildren) \"/\" \"imaptest3\"",
            "* LIST (\\HasNoChildren) \"/\" \"imaptest3/child\"",
        ]
    );
    cmd(&mut c, "c14", "DELETE imaptest3", "NO [NONEXISTENT]");
    cmd(&mut c, "c15", "DELETE imaptest3/child", "OK");
    let lines = cmd(&mut c, "c16", "LIST \"\" imaptest*", "OK");
    assert_eq!(lines.len(), 1, "{lines:?}");
    // Nothing is left on disk to collide with a later name.
    assert!(!acct.join("imaptest3").exists());

    // The whole imaptest group again, on the same account.
    for round in 0..2 {
        let t = |n: u32| format!("r{round}.{n}");
        cmd(&mut c, &t(1), "CREATE imaptest", "OK");
        cmd(&mut c, &t(2), "CREATE imaptest2", "OK");
        append_one(&mut c, &t(3), "imaptest", "x");
        cmd(&mut c, &t(4), "RENAME imaptest imaptest3", "OK");
        cmd(&mut c, &t(5), "RENAME imaptest2 imaptest", "OK");
        cmd(&mut c, &t(6), "DELETE imaptest3", "OK");
        cmd(&mut c, &t(7), "DELETE imaptest", "OK");
    }
}
