//! The CLI/PWD protocol on port 106, driven by a plain line client.

use tests::{LineClient, POSTMASTER_PASSWORD, TestNode};

/// Logs in as postmaster with USER/PASS.
pub fn login(node: &TestNode) -> LineClient {
    let mut c = LineClient::connect(node.addr("cli"));
    c.expect("200 ");
    c.send("USER postmaster");
    c.expect("300 please send the PASS");
    c.send(&format!("PASS {POSTMASTER_PASSWORD}"));
    c.expect("200 login OK");
    c
}

/// Runs one command and checks the reply starts with `reply`.
pub fn run(c: &mut LineClient, command: &str, reply: &str) -> String {
    c.send(command);
    c.expect(reply)
}

#[test]
fn issue_2_cli_transcript_word_for_word() {
    let node = TestNode::start();
    let mut c = LineClient::connect(node.addr("cli"));
    let greeting = c.expect("200 ");
    assert!(
        greeting.ends_with("ready") || greeting.contains(" ready "),
        "{greeting}"
    );
    let token = greeting
        .split('<')
        .nth(1)
        .and_then(|t| t.split('>').next())
        .expect("<token@host>");
    assert!(token.contains('@'), "{greeting}");
    c.send("USER postmaster");
    assert_eq!(c.line(), "300 please send the PASS");
    c.send(&format!("PASS {POSTMASTER_PASSWORD}"));
    assert_eq!(c.line(), "200 login OK");
    c.send("CreateAccount \"user1\"");
    assert_eq!(c.line(), "200 OK");
    c.send("CreateAccount \"user1\"");
    assert_eq!(c.line(), "501 Account with this name already exists");
    c.send("RenameAccount \"user1\" into \"user2\"");
    assert_eq!(c.line(), "200 OK");
    c.send("CreateDomain \"client1.com\"");
    assert_eq!(c.line(), "200 OK");
    c.send("CreateAccount \"user1@client1.com\" TextMailbox");
    assert_eq!(c.line(), "200 OK");
    c.send("QUIT");
    let bye = c.line();
    assert!(
        bye.starts_with("200 ") && bye.ends_with("connection closed"),
        "{bye}"
    );

    let base = node.base();
    assert!(base.join("Accounts/user2.macnt/INBOX.mbox").exists());
    assert!(!base.join("Accounts/user1.macnt").exists());
    assert!(base.join("Domains/client1.com/user1.mbox").exists());
}

#[test]
fn apop_login_and_inline_data() {
    let node = TestNode::start();
    let mut c = LineClient::connect(node.addr("cli"));
    let greeting = c.expect("200 ");
    let challenge = format!(
        "<{}>",
        greeting
            .split('<')
            .nth(1)
            .and_then(|t| t.split('>').next())
            .unwrap()
    );
    let digest = admin::cli::session::apop_digest(&challenge, POSTMASTER_PASSWORD);
    c.send(&format!("APOP postmaster {}", "0".repeat(32)));
    c.expect("5");
    c.send(&format!("APOP postmaster {digest}"));
    c.expect("200 ");
    run(&mut c, "ListDomains", "200 data follow");
    assert_eq!(c.line(), "(example.test)");
    run(&mut c, "INLINE", "200 ");
    run(&mut c, "MainDomainName", "201 example.test");
    run(&mut c, "CreateDomain client1.com", "200 OK");
    let list = run(&mut c, "ListDomains", "201 (");
    assert!(
        list.contains("client1.com") && list.contains("example.test"),
        "{list}"
    );
}

#[test]
fn account_commands_and_errors() {
    let node = TestNode::start();
    let mut c = login(&node);
    run(&mut c, "INLINE", "200 ");
    run(&mut c, "CreateAccount bob {RealName=\"Bob B\";}", "200 OK");
    run(&mut c, "CreateAccount maildir1 MailDirMailbox", "200 OK");
    assert!(
        node.base()
            .join("Accounts/maildir1.macnt/INBOX.mdir")
            .is_dir()
    );
    run(&mut c, "CreateAccount x BogusKind", "501 ");
    run(&mut c, "CreateAccount y@nodomain.test", "501 ");
    let settings = run(&mut c, "GetAccountSettings bob", "201 {");
    assert!(settings.contains("RealName=\"Bob B\";"), "{settings}");
    run(
        &mut c,
        "UpdateAccountSettings bob {RealName=Robert;}",
        "200 OK",
    );
    run(&mut c, "GetAccountSettings bob", "201 {RealName=Robert;}");
    run(&mut c, "SetAccountPassword bob PASSWORD \"pw1\"", "200 OK");
    run(
        &mut c,
        "VerifyAccountPassword bob PASSWORD \"pw1\"",
        "200 OK",
    );
    run(
        &mut c,
        "VerifyAccountPassword bob PASSWORD \"nope\"",
        "501 ",
    );
    // A password verified before (and remembered) stops working once changed.
    run(&mut c, "SetAccountPassword bob PASSWORD \"pw2\"", "200 OK");
    run(&mut c, "VerifyAccountPassword bob PASSWORD \"pw1\"", "501 ");
    run(
        &mut c,
        "VerifyAccountPassword bob PASSWORD \"pw2\"",
        "200 OK",
    );
    run(&mut c, "SetAccountAliases bob (robert, bobby)", "200 OK");
    run(&mut c, "GetAccountAliases bob", "201 (robert, bobby)");
    run(&mut c, "CreateAccount bobby", "501 ");
    let accounts = run(&mut c, "ListAccounts", "201 {");
    assert!(
        accounts.contains("bob=") && accounts.contains("postmaster="),
        "{accounts}"
    );
    run(&mut c, "CreateMailbox bob \"Sent\"", "200 OK");
    let boxes = run(&mut c, "ListMailboxes bob", "201 {");
    assert!(boxes.contains("INBOX") && boxes.contains("Sent"), "{boxes}");
    run(&mut c, "DeleteAccount bob", "200 OK");
    run(&mut c, "GetAccountSettings bob", "501 ");
    assert!(!node.base().join("Accounts/bob.macnt").exists());
    run(&mut c, "CreateDomain d1.test", "200 OK");
    run(
        &mut c,
        "UpdateDomainSettings d1.test {MaxAccounts=#10;}",
        "200 OK",
    );
    run(
        &mut c,
        "GetDomainSettings d1.test",
        "201 {MaxAccounts=#10;}",
    );
    run(&mut c, "DeleteDomain d1.test", "200 OK");
    run(&mut c, "DeleteDomain example.test", "501 ");
    let version = run(&mut c, "GetVersion", "201 ");
    assert!(version.len() > 4);
    run(&mut c, "NOOP", "200 ");
    run(&mut c, "WriteLog 2 \"hello\"", "200 ");
    run(&mut c, "FrobnicateAccount x", "501 ");
}

#[test]
fn commands_need_login() {
    let node = TestNode::start();
    let mut c = LineClient::connect(node.addr("cli"));
    c.expect("200 ");
    run(&mut c, "ListDomains", "5");
    run(&mut c, "USER postmaster", "300 ");
    run(&mut c, "PASS wrong", "5");
    run(&mut c, "ListDomains", "5");
}

/// A line client that can tell a closed connection (end of stream) from a
/// silent one (a read timeout), which `LineClient::read_to_end` cannot.
struct Raw(std::io::BufReader<std::net::TcpStream>);

impl Raw {
    fn connect(addr: std::net::SocketAddr) -> Raw {
        let tcp = std::net::TcpStream::connect(addr).expect("connect");
        tcp.set_read_timeout(Some(std::time::Duration::from_secs(10)))
            .expect("timeout");
        Raw(std::io::BufReader::new(tcp))
    }

    fn send(&mut self, line: &str) {
        use std::io::Write;
        self.0
            .get_mut()
            .write_all(format!("{line}\r\n").as_bytes())
            .expect("write");
    }

    fn expect(&mut self, prefix: &str) -> String {
        use std::io::BufRead;
        let mut line = String::new();
        self.0.read_line(&mut line).expect("read");
        assert!(
            line.starts_with(prefix),
            "expected {prefix:?}, got {line:?}"
        );
        line.trim_end().to_string()
    }

    /// Reads to the end of the stream: what came before the server closed
    /// it. Panics if the server keeps it open.
    fn until_closed(mut self) -> String {
        use std::io::Read;
        let mut out = Vec::new();
        match self.0.read_to_end(&mut out) {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
            Err(e) => panic!("still open ({e}) after {out:?}"),
        }
        String::from_utf8_lossy(&out).into_owned()
    }
}

#[test]
fn issue_4_blacklisted_ips_get_554_and_white_hole_exempts() {
    let node = TestNode::start();
    let mut c = login(&node);
    LineClient::connect(node.addr("smtp")).expect("220 ");
    run(
        &mut c,
        "SetBlacklistedIPs \"10.0.0.0/8\\e127.0.0.0/8\"",
        "200 ",
    );
    run(&mut c, "GetBlacklistedIPs", "200 data follow");
    c.expect("\"10.0.0.0/8\\010127.0.0.0/8\"");
    for key in ["smtp", "submission"] {
        let mut s = Raw::connect(node.addr(key));
        let refusal = s.expect("554 5.7.1 ");
        assert!(refusal.contains("blacklisted"), "{refusal}");
        assert_eq!(s.until_closed(), "", "{key} must close after the 554");
    }
    // Only SMTP consults the blacklist; POP3 still serves the address.
    LineClient::connect(node.addr("pop3")).expect("+OK");
    // The Cluster... form names the same (replicated) list.
    run(&mut c, "SetClusterWhiteHoleIPs \"127.0.0.1\"", "200 ");
    run(&mut c, "INLINE", "200 ");
    run(&mut c, "GetWhiteHoleIPs", "201 127.0.0.1");
    LineClient::connect(node.addr("smtp")).expect("220 ");
    run(&mut c, "SetWhiteHoleIPs \"\"", "200 ");
    LineClient::connect(node.addr("smtp")).expect("554 ");
    run(&mut c, "SetBlacklistedIPs \"10.0.0.0/8\"", "200 ");
    LineClient::connect(node.addr("smtp")).expect("220 ");
    run(
        &mut c,
        "SetNATedIPs \"1.2.3.4\"",
        "501 SetNATedIPs is not supported",
    );
}

/// One SMTP transaction up to RCPT from this (loopback) address; returns
/// the RCPT reply.
fn rcpt_reply(node: &TestNode, to: &str) -> String {
    let mut s = LineClient::connect(node.addr("smtp"));
    s.expect("220 ");
    s.send("EHLO client.test");
    s.expect_reply("250");
    s.send("MAIL FROM:<someone@example.test>");
    s.expect("250 ");
    s.send(&format!("RCPT TO:<{to}>"));
    let reply = s.line();
    s.send("QUIT");
    reply
}

/// CommuniGate's LAN IP Addresses grant nothing by themselves (the Guide:
/// "you will include the LAN addresses into the Client IP Addresses
/// list"); `#LAN` in another list includes them, and follows later
/// changes of LANIPs.
#[test]
fn issue_4_lan_ips_relay_once_client_ips_include_them() {
    let node = TestNode::start();
    let mut c = login(&node);
    run(&mut c, "INLINE", "200 ");
    let remote = "friend@remote.test";
    assert!(rcpt_reply(&node, remote).starts_with("554 5.7.1"));

    run(&mut c, "SetLANIPs \"127.0.0.0/8 ; the office\"", "200 ");
    // A line that is no entry is refused, naming it, and the list stays.
    run(
        &mut c,
        "SetLANIPs \"10.0.0.0/8\\enot an ip\"",
        "501 LANIPs line 2: \"not an ip\" is not an IP address",
    );
    run(
        &mut c,
        "SetClientIPs \"#LNA\"",
        "501 ClientIPs line 1: #LNA names no",
    );
    run(&mut c, "GetLANIPs", "201 \"127.0.0.0/8 ; the office\"");
    let reply = rcpt_reply(&node, remote);
    assert!(reply.starts_with("554 5.7.1"), "LAN alone: {reply}");

    run(&mut c, "SetClientIPs \"192.0.2.1\\e#LAN\"", "200 ");
    run(&mut c, "GetClientIPs", "201 \"192.0.2.1\\010#LAN\"");
    let reply = rcpt_reply(&node, remote);
    assert!(reply.starts_with("250 "), "#LAN in ClientIPs: {reply}");
    // Local mail is unaffected either way.
    assert!(rcpt_reply(&node, "postmaster@example.test").starts_with("250 "));

    // The reference follows LANIPs: a range without this address, then one with it.
    run(&mut c, "SetLANIPs \"10.0.0.1-10.0.0.9\"", "200 ");
    assert!(rcpt_reply(&node, remote).starts_with("554 5.7.1"));
    run(&mut c, "SetLANIPs \"127.0.0.1-127.0.0.5\"", "200 ");
    assert!(rcpt_reply(&node, remote).starts_with("250 "));
    // `!` takes an address out of what the lines above put in.
    run(&mut c, "SetClientIPs \"#LAN\\e!127.0.0.1\"", "200 ");
    assert!(rcpt_reply(&node, remote).starts_with("554 5.7.1"));

    // Other lists may name the LAN too.
    run(&mut c, "SetBlacklistedIPs \"#LAN\"", "200 ");
    LineClient::connect(node.addr("smtp")).expect("554 5.7.1");
    run(&mut c, "SetWhiteHoleIPs \"#LAN\"", "200 ");
    LineClient::connect(node.addr("smtp")).expect("220 ");
}

#[test]
fn issue_4_denied_ips_close_every_listener() {
    let node = TestNode::start();
    let mut c = login(&node);
    run(&mut c, "INLINE", "200 ");
    run(&mut c, "SetDeniedIPs \"127.0.0.1\"", "200 ");
    for key in ["smtp", "pop3", "imap", "cli"] {
        let s = Raw::connect(node.addr(key));
        assert_eq!(s.until_closed(), "", "{key} must close a denied address");
    }
    // The session opened before goes on, and can lift the ban.
    run(&mut c, "GetClusterDeniedIPs", "201 127.0.0.1");
    run(&mut c, "SetDeniedIPs \"\"", "200 ");
    LineClient::connect(node.addr("pop3")).expect("+OK");
    login(&node);
}

#[test]
fn issue_4_kill_account_sessions_closes_pop3_and_imap() {
    let node = TestNode::start();
    let mut c = login(&node);
    run(&mut c, "CreateAccount pat {Password=\"pw\";}", "200 ");
    run(&mut c, "CreateAccount bob {Password=\"pw\";}", "200 ");
    let mut pop = Raw::connect(node.addr("pop3"));
    pop.expect("+OK");
    pop.send("USER pat");
    pop.expect("+OK");
    pop.send("PASS pw");
    pop.expect("+OK");
    let imap_login = |user: &str| {
        let mut i = Raw::connect(node.addr("imap"));
        i.expect("* OK");
        i.send(&format!("a1 LOGIN {user} pw"));
        loop {
            let line = i.expect("");
            if line.starts_with("a1 ") {
                assert!(line.starts_with("a1 OK"), "{line}");
                break i;
            }
        }
    };
    let imap = imap_login("pat");
    let mut other = imap_login("bob");
    // A session that has not logged in belongs to nobody.
    let mut anonymous = LineClient::connect(node.addr("pop3"));
    anonymous.expect("+OK");

    run(&mut c, "KillAccountSessions pat", "200 ");
    assert_eq!(pop.until_closed(), "", "POP3 session of pat");
    assert_eq!(imap.until_closed(), "", "IMAP session of pat");
    other.send("a2 NOOP");
    other.expect("a2 OK");
    anonymous.send("NOOP");
    anonymous.line(); // -ERR before login, but still connected
    anonymous.send("QUIT");
    anonymous.expect("+OK");

    // pat may log in again; killing nobody's sessions is not an error.
    let mut again = LineClient::connect(node.addr("pop3"));
    again.expect("+OK");
    again.send("USER pat");
    again.expect("+OK");
    again.send("PASS pw");
    again.expect("+OK");
    run(&mut c, "KillAccountSessions bob", "200 ");
    assert_eq!(other.until_closed(), "");
    run(&mut c, "KillAccountSessions nobody", "501 ");
    let log = std::fs::read_dir(node.base().join("SystemLogs/node1"))
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .collect::<String>();
    assert!(log.contains("KillAccountSessions pat@"), "{log}");
}

#[test]
fn issue_4_subscriptions_agree_with_imap() {
    let node = TestNode::start();
    let mut c = login(&node);
    run(&mut c, "INLINE", "200 ");
    run(&mut c, "CreateAccount pat {Password=\"pw\";}", "200 ");
    run(&mut c, "CREATEMAILBOX pat MAILBOX \"Work\"", "200 ");
    run(&mut c, "GetAccountSubscription pat", "201 ()");
    run(
        &mut c,
        "SetAccountSubscription pat (Work, \"Old Stuff\", Work)",
        "200 ",
    );
    run(
        &mut c,
        "GetAccountSubscription pat",
        "201 (\"Old Stuff\", Work)",
    );
    // IMAP sees what the CLI set, and the CLI what IMAP changes.
    let mut i = LineClient::connect(node.addr("imap"));
    i.expect("* OK");
    i.send("a1 LOGIN pat pw");
    while !i.line().starts_with("a1 ") {}
    i.send("a2 LSUB \"\" *");
    let mut lsub = Vec::new();
    loop {
        let line = i.line();
        if line.starts_with("a2 ") {
            assert!(line.starts_with("a2 OK"), "{line}");
            break;
        }
        lsub.push(line);
    }
    assert!(
        lsub.iter()
            .any(|l| l.ends_with("\"Work\"") || l.ends_with(" Work")),
        "{lsub:?}"
    );
    assert!(lsub.iter().any(|l| l.contains("Old Stuff")), "{lsub:?}");
    i.send("a3 UNSUBSCRIBE Work");
    i.expect("a3 OK");
    i.send("a4 SUBSCRIBE INBOX");
    i.expect("a4 OK");
    run(
        &mut c,
        "GetMailboxSubscription pat",
        "201 (INBOX, \"Old Stuff\")",
    );
    run(&mut c, "SetAccountSubscription pat ()", "200 ");
    run(&mut c, "GetAccountSubscription pat", "201 ()");
    run(&mut c, "SetAccountSubscription pat (\"a\\eb\")", "501 ");
    run(&mut c, "GetAccountSubscription nobody", "501 ");
    run(&mut c, "SetAccountSubscription pat INBOX", "501 ");
}

#[test]
fn issue_4_submit_message_is_delivered_through_pipe() {
    let node = TestNode::start();
    let mut c = login(&node);
    run(&mut c, "INLINE", "200 ");
    run(&mut c, "CreateAccount pat {Password=\"pw\";}", "200 ");
    run(
        &mut c,
        "SubmitMessage \"From: boss@example.test\\eTo: pat@example.test\\eSubject: via CLI\\e\\eHello from SubmitMessage.\\e\"",
        "200 ",
    );
    let delivered = tests::wait_for(std::time::Duration::from_secs(20), || {
        c.send("GetAccountInfo pat Key Messages");
        (c.line() == "201 #1").then_some(())
    });
    assert!(delivered.is_some(), "the submitted message reached pat");
    let mut pop = LineClient::connect(node.addr("pop3"));
    pop.expect("+OK");
    pop.send("USER pat");
    pop.expect("+OK");
    pop.send("PASS pw");
    pop.expect("+OK");
    pop.send("RETR 1");
    pop.expect("+OK");
    let text = pop.read_multiline().join("\n");
    assert!(
        text.contains("Subject: via CLI") && text.contains("Hello from SubmitMessage."),
        "{text}"
    );
    run(&mut c, "SubmitMessage \"\"", "501 ");
    run(
        &mut c,
        "SubmitMessage ANNOTATION {a=b;} \"x\"",
        "501 SubmitMessage: ANNOTATION is not supported",
    );
    // Features Mailnode does not have are named as not supported, never
    // answered with a pretended success.
    for command in [
        "GetAccountRules pat",
        "ListLists",
        "GetAccountRPOPs pat",
        "GetMailboxACL pat MAILBOX INBOX",
        "GetWebFile pat FILE \"index.html\"",
    ] {
        let word = command.split(' ').next().unwrap();
        run(&mut c, command, &format!("501 {word} is not supported"));
    }
    run(&mut c, "CreateAccount u {Password=\"pw\";}", "200 ");
    let mut u = LineClient::connect(node.addr("cli"));
    u.expect("200 ");
    u.send("USER u");
    u.expect("300 ");
    u.send("PASS pw");
    u.expect("200 ");
    run(&mut u, "SubmitMessage \"To: pat\\e\\ex\\e\"", "501 ");
}

/// A session handed over to the account's holder is closed by
/// `KillAccountSessions` run on the holder (where it runs) and on the
/// member the client reached (which relays it).
#[test]
fn issue_4_kill_account_sessions_reaches_handed_over_sessions() {
    let cluster = tests::TestCluster::start(2);
    let [n1, n2] = &cluster.nodes[..] else {
        panic!("two nodes");
    };
    let mut c = login(n1);
    run(&mut c, "CreateAccount carol {Password=\"pw\";}", "200 ");
    let imap_login = |node: &TestNode| imap_login(node, "carol");
    // The first session makes node 1 carol's holder; the second, reaching
    // node 2, is handed over to node 1.
    let mut first = imap_login(n1);
    first.send("a2 SELECT INBOX");
    while !first.expect("").starts_with("a2 ") {}
    let handed = imap_login(n2);
    run(&mut c, "KillAccountSessions carol", "200 ");
    assert_eq!(first.until_closed(), "", "the holder's own session");
    assert_eq!(handed.until_closed(), "", "the handed-over session");

    // Killed from the member the client reached: its relay closes, and
    // node 1 (asked over the cluster, protocol 4) closes its own.
    let mut first = imap_login(n1);
    first.send("a2 NOOP");
    first.expect("a2 OK");
    let handed = imap_login(n2);
    let mut c2 = login(n2);
    run(&mut c2, "KillAccountSessions carol", "200 ");
    assert_eq!(handed.until_closed(), "", "closed through node 2");
    assert_eq!(
        first.until_closed(),
        "",
        "closed on node 1, asked by node 2"
    );
}

/// Logs `user` (password `pw`) in over IMAP.
fn imap_login(node: &TestNode, user: &str) -> Raw {
    let mut i = Raw::connect(node.addr("imap"));
    i.expect("* OK");
    i.send(&format!("a1 LOGIN {user} pw"));
    loop {
        let line = i.expect("");
        if line.starts_with("a1 ") {
            assert!(line.starts_with("a1 OK"), "{line}");
            break i;
        }
    }
}

/// `KillAccountSessions` on a member that neither runs the sessions nor
/// has their clients reaches them: the account's holder (node 1) and the
/// member relaying a handed-over session (node 2) are asked over the
/// cluster. While a member speaks protocol 3, nobody is asked (it could
/// not read the request) and only the local sessions close.
#[test]
fn issue_4_kill_account_sessions_reaches_a_third_member() {
    let cluster = tests::TestCluster::start(3);
    let [n1, n2, n3] = &cluster.nodes[..] else {
        panic!("three nodes");
    };
    run(
        &mut login(n1),
        "CreateAccount dave {Password=\"pw\";}",
        "200 ",
    );
    let mut first = imap_login(n1, "dave");
    first.send("a2 SELECT INBOX");
    while !first.expect("").starts_with("a2 ") {}
    let handed = imap_login(n2, "dave");
    let mut c3 = login(n3);
    run(&mut c3, "KillAccountSessions dave", "200 ");
    assert_eq!(first.until_closed(), "", "the holder's session, on node 1");
    assert_eq!(handed.until_closed(), "", "the handed-over one, via node 2");

    let cluster = tests::TestCluster::start_with(3, |i, c| {
        if i == 3 {
            c.cluster_protocol = Some(3);
        }
    });
    let [n1, _, n3] = &cluster.nodes[..] else {
        panic!("three nodes");
    };
    run(
        &mut login(n1),
        "CreateAccount dave {Password=\"pw\";}",
        "200 ",
    );
    let mut first = imap_login(n1, "dave");
    let mut c3 = login(n3);
    run(&mut c3, "KillAccountSessions dave", "200 ");
    first.send("a2 NOOP");
    first.expect("a2 OK");
}

/// Reads this node's whole log (all days).
fn node_log(node: &TestNode) -> String {
    let mut files: Vec<_> = std::fs::read_dir(node.base().join("SystemLogs/node1"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files
        .iter()
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect()
}

#[test]
fn issue_4_module_log_levels_take_effect() {
    let node = TestNode::start();
    let mut c = login(&node);
    // Writes `probe` at `level` (module CLI) and a level-0 marker until the
    // node's log shows the wanted outcome for the probe.
    let mut round = 0;
    let mut until = |c: &mut LineClient, level: u8, shown: bool| {
        let ok = tests::wait_for(std::time::Duration::from_secs(10), || {
            round += 1;
            run(c, &format!("WriteLog {level} \"probe {round}\""), "200 ");
            run(c, &format!("WriteLog 0 \"marker {round}\""), "200 ");
            let log = node_log(&node);
            let marker = log.contains(&format!("marker {round}\n"));
            let probe = log.contains(&format!("probe {round}\n"));
            (marker && probe == shown).then_some(())
        });
        assert!(ok.is_some(), "level {level} records shown: {shown}?");
    };
    until(&mut c, 4, true);
    run(&mut c, "UpdateModule SYSTEM {LogLevel=#1;}", "200 ");
    until(&mut c, 2, false);
    run(&mut c, "UpdateModule CLI {LogLevel=#3;}", "200 ");
    until(&mut c, 3, true);
    until(&mut c, 4, false);
    run(&mut c, "SetModule CLI {}", "200 ");
    until(&mut c, 2, false);
    run(&mut c, "SetModule SYSTEM {}", "200 ");
    // Back to the configured level (5 in tests).
    until(&mut c, 5, true);
}
