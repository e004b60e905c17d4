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
