//! Command-line grammar tests: every [`Command`] from literal text, the
//! Guide's transcript lines (reference §2.4) and malformed lines.

use super::*;

fn d(pairs: &[(&str, &str)]) -> Dict {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), Value::string(*v)))
        .collect()
}

fn s(x: &str) -> String {
    x.to_owned()
}

#[test]
fn every_command_from_text() {
    let table: Vec<(&str, Command)> = vec![
        ("USER postmaster", Command::User(s("postmaster"))),
        (
            "user postmaster@example.com",
            Command::User(s("postmaster@example.com")),
        ),
        (
            "PASS postmasterpassword",
            Command::Pass(s("postmasterpassword")),
        ),
        ("PASS p@ss w\"rd$", Command::Pass(s("p@ss w\"rd$"))),
        (
            "APOP postmaster 2b8a2d4b6f6e0a1c0d3b4a7e1f2c3d4e",
            Command::Apop {
                name: s("postmaster"),
                digest: s("2b8a2d4b6f6e0a1c0d3b4a7e1f2c3d4e"),
            },
        ),
        (
            "AUTH WEBUSER pat secret word",
            Command::AuthWebUser {
                name: s("pat"),
                password: s("secret word"),
            },
        ),
        ("INLINE", Command::Inline),
        ("QUIT", Command::Quit),
        ("quit", Command::Quit),
        ("NOOP", Command::Noop),
        ("GetVersion", Command::GetVersion),
        (
            r#"CreateDomain "client1.com""#,
            Command::CreateDomain {
                name: s("client1.com"),
                settings: None,
            },
        ),
        (
            "CreateDomain client1.com {DomainAccessModes=All;}",
            Command::CreateDomain {
                name: s("client1.com"),
                settings: Some(d(&[("DomainAccessModes", "All")])),
            },
        ),
        (
            "DeleteDomain client1.com",
            Command::DeleteDomain {
                name: s("client1.com"),
                force: false,
            },
        ),
        (
            "DeleteDomain client1.com force",
            Command::DeleteDomain {
                name: s("client1.com"),
                force: true,
            },
        ),
        ("ListDomains", Command::ListDomains),
        ("MainDomainName", Command::MainDomainName),
        (
            "GetDomainSettings",
            Command::GetDomainSettings { name: None },
        ),
        (
            "GetDomain client1.com",
            Command::GetDomainSettings {
                name: Some(s("client1.com")),
            },
        ),
        (
            "UpdateDomainSettings {MailToUnknown=Rejected;}",
            Command::UpdateDomainSettings {
                name: None,
                settings: d(&[("MailToUnknown", "Rejected")]),
            },
        ),
        (
            "UpdateDomainSettings client1.com {MailToUnknown=Rejected;}",
            Command::UpdateDomainSettings {
                name: Some(s("client1.com")),
                settings: d(&[("MailToUnknown", "Rejected")]),
            },
        ),
        (
            r#"CreateAccount "user1""#,
            Command::CreateAccount {
                name: s("user1"),
                kind: None,
                settings: None,
            },
        ),
        (
            r#"CreateAccount "user1@client1.com" TextMailbox"#,
            Command::CreateAccount {
                name: s("user1@client1.com"),
                kind: Some(s("TextMailbox")),
                settings: None,
            },
        ),
        (
            r#"CreateAccount pat MultiMailbox {RealName="Pat Q";}"#,
            Command::CreateAccount {
                name: s("pat"),
                kind: Some(s("MultiMailbox")),
                settings: Some(d(&[("RealName", "Pat Q")])),
            },
        ),
        (
            r#"CreateAccount pat {RealName="Pat Q";}"#,
            Command::CreateAccount {
                name: s("pat"),
                kind: None,
                settings: Some(d(&[("RealName", "Pat Q")])),
            },
        ),
        (
            r#"RenameAccount "user1" into "user2""#,
            Command::RenameAccount {
                old: s("user1"),
                new: s("user2"),
            },
        ),
        (
            "renameaccount user1 INTO user2",
            Command::RenameAccount {
                old: s("user1"),
                new: s("user2"),
            },
        ),
        (
            "DeleteAccount user2",
            Command::DeleteAccount { name: s("user2") },
        ),
        ("ListAccounts", Command::ListAccounts { domain: None }),
        (
            "ListAccounts client1.com",
            Command::ListAccounts {
                domain: Some(s("client1.com")),
            },
        ),
        (
            "GetAccountSettings pat",
            Command::GetAccountSettings { name: s("pat") },
        ),
        (
            "GETACCOUNT pat",
            Command::GetAccountSettings { name: s("pat") },
        ),
        (
            "UpdateAccountSettings pat {MaxAccountSize=100M;}",
            Command::UpdateAccountSettings {
                name: s("pat"),
                settings: d(&[("MaxAccountSize", "100M")]),
            },
        ),
        (
            r#"SetAccountPassword pat PASSWORD "new pass""#,
            Command::SetAccountPassword {
                name: s("pat"),
                password: s("new pass"),
                check: false,
            },
        ),
        (
            r#"SetAccountPassword pat password "x" check"#,
            Command::SetAccountPassword {
                name: s("pat"),
                password: s("x"),
                check: true,
            },
        ),
        (
            "SetAccountPassword pat TO secret",
            Command::SetAccountPassword {
                name: s("pat"),
                password: s("secret"),
                check: false,
            },
        ),
        (
            r#"VerifyAccountPassword pat PASSWORD "x y""#,
            Command::VerifyAccountPassword {
                name: s("pat"),
                password: s("x y"),
            },
        ),
        (
            "GetAccountAliases pat",
            Command::GetAccountAliases { name: s("pat") },
        ),
        (
            "SetAccountAliases pat (pq, \"p.q\")",
            Command::SetAccountAliases {
                name: s("pat"),
                aliases: vec![s("pq"), s("p.q")],
            },
        ),
        (
            "SetAccountAliases pat ()",
            Command::SetAccountAliases {
                name: s("pat"),
                aliases: vec![],
            },
        ),
        (
            "ListMailboxes pat",
            Command::ListMailboxes {
                account: s("pat"),
                filter: None,
            },
        ),
        (
            r#"ListMailboxes pat FILTER "INBOX/*""#,
            Command::ListMailboxes {
                account: s("pat"),
                filter: Some(s("INBOX/*")),
            },
        ),
        (
            r#"CREATEMAILBOX pat MAILBOX "Sent Items""#,
            Command::CreateMailbox {
                account: s("pat"),
                mailbox: s("Sent Items"),
            },
        ),
        (
            r#"CreateMailbox pat "INBOX/important""#,
            Command::CreateMailbox {
                account: s("pat"),
                mailbox: s("INBOX/important"),
            },
        ),
        (
            "CreateMailbox pat MAILBOX",
            Command::CreateMailbox {
                account: s("pat"),
                mailbox: s("MAILBOX"),
            },
        ),
        ("  ListDomains  ", Command::ListDomains),
        ("SHUTDOWN", Command::Shutdown),
        (
            "getaccounteffectivesettings pat",
            Command::GetAccountEffectiveSettings { name: s("pat") },
        ),
        (
            "ListForwarders x.com",
            Command::ListForwarders {
                domain: Some(s("x.com")),
            },
        ),
        (
            "CreateForwarder f TO \"a@b.c\"",
            Command::CreateForwarder {
                name: s("f"),
                to: s("a@b.c"),
            },
        ),
        (
            "RENAMEMAILBOX pat MAILBOXES \"a\" INTO \"b\"",
            Command::RenameMailbox {
                account: s("pat"),
                old: s("a"),
                new: s("b"),
                subtree: true,
            },
        ),
        (
            "WriteLog 2 \"hi\"",
            Command::WriteLog {
                level: 2,
                text: s("hi"),
            },
        ),
        (
            "setclientips \"10.0.0.0/8\\e192.168.1.1\"",
            Command::SetIpList {
                list: "ClientIPs",
                value: s("10.0.0.0/8\n192.168.1.1"),
            },
        ),
        (
            "GetClusterBlacklistedIPs",
            Command::GetIpList {
                list: "BlacklistedIPs",
            },
        ),
        (
            "setdeniedips \"10.1.1.1\"",
            Command::SetIpList {
                list: "DeniedIPs",
                value: s("10.1.1.1"),
            },
        ),
        (
            "SetClusterWhiteHoleIPs \"\"",
            Command::SetIpList {
                list: "WhiteHoleIPs",
                value: s(""),
            },
        ),
        (
            "GetMailboxSubscription pat",
            Command::GetAccountSubscription { account: s("pat") },
        ),
        (
            "SetAccountSubscription pat (INBOX, \"Sent Items\")",
            Command::SetAccountSubscription {
                account: s("pat"),
                mailboxes: vec![s("INBOX"), s("Sent Items")],
            },
        ),
        (
            "SubmitMessage \"To: a@b.c\\e\\ehi\\e\"",
            Command::SubmitMessage {
                message: b"To: a@b.c\n\nhi\n".to_vec(),
            },
        ),
        (
            "SubmitMessage [VG86IGFAYi5jCgpoaQo=]",
            Command::SubmitMessage {
                message: b"To: a@b.c\n\nhi\n".to_vec(),
            },
        ),
        (
            "KillAccountSessions \"pat@d.com\"",
            Command::KillAccountSessions {
                name: s("pat@d.com"),
            },
        ),
        (
            "UpdateAccountDefaults d.com {A=B;}",
            Command::AccountDefaults {
                of: DefaultsOf::Domain(Some(s("d.com"))),
                change: Some((Dict::from([(s("A"), Value::string("B"))]), false)),
            },
        ),
    ];
    for (line, expected) in table {
        assert_eq!(parse_command(line), Ok(expected), "{line}");
    }
}

#[test]
fn malformed_lines() {
    let table: &[(&str, &str)] = &[
        ("", "empty command"),
        ("   ", "empty command"),
        ("FooBar", "unknown command FooBar"),
        (
            "Create-Account x",
            "syntax error at byte 0: invalid command word",
        ),
        ("USER", "USER: missing account name"),
        ("PASS", "PASS: missing password"),
        ("APOP pat", "APOP: expected account name and digest"),
        ("APOP pat a b", "APOP: expected account name and digest"),
        ("AUTH PLAIN xyz", "AUTH: only AUTH WEBUSER is supported"),
        ("AUTH WEBUSER pat", "AUTH: missing password"),
        (
            "RenameAccount user1 user2",
            "RenameAccount: expected 'into'",
        ),
        (
            r#"RenameAccount user1 "into" user2"#,
            "RenameAccount: expected 'into'",
        ),
        (
            "RenameAccount user1 into",
            "RenameAccount: missing new account name",
        ),
        ("CreateAccount", "CreateAccount: missing account name"),
        (
            "CreateAccount #5",
            "CreateAccount: account name must be a string",
        ),
        (
            "CreateAccount x external",
            "CreateAccount: external accounts are not supported",
        ),
        (
            "CreateAccount x TextMailbox y",
            "CreateAccount: unexpected extra argument",
        ),
        (
            r#"CreateAccount "user1"#,
            "syntax error at byte 20: unterminated string",
        ),
        (
            "CreateDomain x {a=b}",
            "syntax error at byte 19: expected ';'",
        ),
        ("ListDomains x", "ListDomains: unexpected extra argument"),
        (
            "SetAccountSubscription pat INBOX",
            "SetAccountSubscription: expected mailbox name array",
        ),
        (
            "KillAccountSessions",
            "KillAccountSessions: missing account name",
        ),
        (
            "SubmitMessage QUEUE x \"m\"",
            "SubmitMessage: QUEUE is not supported",
        ),
        (
            "SubmitMessage #5",
            "SubmitMessage: expected the message as a string or data block",
        ),
        ("QUIT now", "QUIT: unexpected extra argument"),
        (
            "UpdateAccountSettings pat",
            "UpdateAccountSettings: missing settings dictionary",
        ),
        (
            "UpdateAccountSettings pat (a)",
            "UpdateAccountSettings: expected settings dictionary",
        ),
        (
            "UpdateDomainSettings",
            "UpdateDomainSettings: missing settings dictionary",
        ),
        (
            "SetAccountPassword pat secret",
            "SetAccountPassword: expected 'PASSWORD'",
        ),
        (
            "VerifyAccountPassword pat PASSWORD",
            "VerifyAccountPassword: missing password",
        ),
        (
            "SetAccountAliases pat a",
            "SetAccountAliases: expected alias array",
        ),
        (
            "SetAccountAliases pat (a,(b))",
            "SetAccountAliases: alias array must hold strings",
        ),
        (
            "ListMailboxes pat FILTER",
            "ListMailboxes: missing filter pattern",
        ),
        (
            "ListMailboxes pat AUTH x",
            "ListMailboxes: AUTH is not supported",
        ),
        (
            r#"CreateMailbox pat MAILBOX "x" CLASS y"#,
            "CreateMailbox: CLASS is not supported",
        ),
        (
            "GetAccountSettings",
            "GetAccountSettings: missing account name",
        ),
        (
            "GetAccountSettings a\tb",
            "syntax error at byte 20: unexpected character",
        ),
    ];
    for (line, message) in table {
        match parse_command(line) {
            Err(e) => assert_eq!(e.to_string(), *message, "{line}"),
            Ok(c) => panic!("{line:?} should fail, got {c:?}"),
        }
    }
}

#[test]
fn known_commands_are_not_implemented_ones() {
    for name in KNOWN_COMMANDS {
        let parsed = parse_command(name);
        assert_eq!(
            parsed,
            Ok(Command::Unsupported((*name).to_owned())),
            "{name}"
        );
    }
}

#[test]
fn every_prefix_never_panics() {
    let lines = [
        r#"CreateAccount "user1@client1.com" MultiMailbox {RealName="Pat Q";Folders=(INBOX,"Sent Items");}"#,
        r#"SetAccountPassword "pät" PASSWORD "x\"y" CHECK"#,
        "AUTH WEBUSER pat pw",
        "APOP pat abc",
    ];
    for line in lines {
        for (i, _) in line.char_indices() {
            let _ = parse_command(&line[..i]);
            let _ = parse_command(&line[i..]);
        }
    }
}
