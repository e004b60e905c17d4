//! Session tests: the Guide's sample session word for word (reference §2.4,
//! CLI Management transcript), APOP, INLINE output shapes, login errors.

use std::collections::BTreeSet;

use super::*;
use crate::data::Dict;

/// A fake driver: one password for every user, accounts kept in a set.
struct FakeDriver {
    password: &'static str,
    accounts: BTreeSet<String>,
}

impl FakeDriver {
    fn new() -> Self {
        FakeDriver {
            password: "postmasterpassword",
            accounts: BTreeSet::new(),
        }
    }

    fn run(&mut self, command: Command) -> Result<Option<Value>, String> {
        match command {
            Command::CreateAccount { name, .. } | Command::CreateDomain { name, .. } => {
                if self.accounts.insert(name) {
                    Ok(None)
                } else {
                    Err("Account with this name already exists".to_owned())
                }
            }
            Command::RenameAccount { old, new } => {
                self.accounts.remove(&old);
                self.accounts.insert(new);
                Ok(None)
            }
            Command::ListDomains => Ok(Some(Value::Array(vec![
                Value::string("mail.servername.com"),
                Value::string("client1.com"),
            ]))),
            Command::GetAccountSettings { .. } => {
                let mut d = Dict::new();
                d.insert("RealName".to_owned(), Value::string("Pat Q"));
                d.insert("MaxAccountSize".to_owned(), Value::string("100M"));
                Ok(Some(Value::Dict(d)))
            }
            other => Err(format!("unexpected {other:?}")),
        }
    }

    /// Feeds one client line and returns what the server writes.
    fn line(&mut self, s: &mut CliSession, line: &str) -> String {
        match s.on_line(line) {
            Step::Reply(r) | Step::Close(r) => r,
            Step::CheckPassword { password, .. } => s.login_result(password == self.password),
            Step::CheckApop {
                digest, challenge, ..
            } => s.login_result(verify_apop(&challenge, self.password, &digest)),
            Step::Execute { command, .. } => {
                let result = self.run(command);
                s.render_result(result)
            }
        }
    }
}

#[test]
fn guide_sample_session_transcript() {
    // C:/S: lines of the Guide's session; the product name is ours.
    let transcript = "\
S: 200 CommuniGate Pro at mail.stalker.com PWD Server 3.5 ready
C: USER postmaster
S: 300 please send the PASS
C: PASS postmasterpassword
S: 200 login OK
C: CreateAccount \"user1\"
S: 200 OK
C: CreateAccount \"user1\"
S: 501 Account with this name already exists
C: RenameAccount \"user1\" into \"user2\"
S: 200 OK
C: CreateDomain \"client1.com\"
S: 200 OK
C: CreateAccount \"user1@client1.com\" TextMailbox
S: 200 OK
C: QUIT
S: 200 CommuniGate Pro PWD connection closed";
    let mut session = CliSession::new("mail.stalker.com", "753.1213987978");
    let mut driver = FakeDriver::new();
    let mut lines = transcript.lines();
    let greeting = lines.next().unwrap_or_default();
    assert_eq!(
        session.greeting(),
        format!(
            "{} <753.1213987978@mail.stalker.com>",
            greeting
                .trim_start_matches("S: ")
                .replace("CommuniGate Pro", "Mailnode")
                .replace(" 3.5 ", &format!(" {VERSION} "))
        )
    );
    let mut last = String::new();
    for l in lines {
        if let Some(c) = l.strip_prefix("C: ") {
            // CLI.pm ends lines with a bare LF, telnet with CRLF.
            last = driver.line(&mut session, &format!("{c}\r"));
        } else if let Some(expected) = l.strip_prefix("S: ") {
            assert_eq!(last, expected.replace("CommuniGate Pro", "Mailnode"));
        }
    }
    assert_eq!(
        session.on_line("NOOP"),
        Step::Close("501 connection is closed".to_owned())
    );
}

#[test]
fn quit_closes() {
    let mut s = CliSession::new("h", "1.2");
    assert_eq!(
        s.on_line("QUIT\n"),
        Step::Close("200 Mailnode PWD connection closed".to_owned())
    );
}

#[test]
fn apop_digest_matches_rfc1939_example() {
    // RFC 1939 §7 example.
    assert_eq!(
        apop_digest("<1896.697170952@dbc.mtview.ca.us>", "tanstaaf"),
        "c4c9334bac560ecc979e58001b3e22fb"
    );
    assert!(verify_apop(
        "<1896.697170952@dbc.mtview.ca.us>",
        "tanstaaf",
        "C4C9334BAC560ECC979E58001B3E22FB"
    ));
    assert!(!verify_apop(
        "<1896.697170952@dbc.mtview.ca.us>",
        "tanstaaf",
        "c4c9"
    ));
}

#[test]
fn apop_login_success_and_failure() {
    let mut driver = FakeDriver::new();
    let mut s = CliSession::new("cgate.example.com", "753.1213987978");
    let challenge = "<753.1213987978@cgate.example.com>";
    assert_eq!(s.challenge(), challenge);
    assert!(s.greeting().ends_with(challenge));

    let wrong = apop_digest(challenge, "nope");
    assert_eq!(
        s.on_line(&format!("APOP postmaster {wrong}")),
        Step::CheckApop {
            user: "postmaster".to_owned(),
            digest: wrong.clone(),
            challenge: challenge.to_owned(),
        }
    );
    assert_eq!(
        s.login_result(false),
        "500 incorrect password or account name"
    );
    assert_eq!(s.user(), None);

    let right = apop_digest(challenge, "postmasterpassword");
    assert_eq!(
        driver.line(&mut s, &format!("APOP postmaster {right}")),
        "200 login OK"
    );
    assert_eq!(s.user(), Some("postmaster"));
    assert_eq!(
        driver.line(&mut s, "APOP postmaster x"),
        "501 already logged in"
    );
}

#[test]
fn auth_webuser_login() {
    let mut s = CliSession::new("h", "1");
    assert_eq!(
        s.on_line("AUTH WEBUSER pat secret pw"),
        Step::CheckPassword {
            user: "pat".to_owned(),
            password: "secret pw".to_owned(),
        }
    );
    assert_eq!(
        s.on_line("NOOP"),
        Step::Reply("501 login is in progress".to_owned())
    );
    assert_eq!(s.login_result(true), "200 login OK");
    assert_eq!(s.user(), Some("pat"));
    assert_eq!(s.login_result(true), "501 no login in progress");
}

#[test]
fn inline_output_shapes() {
    let mut driver = FakeDriver::new();
    let mut s = CliSession::new("h", "1");
    driver.line(&mut s, "USER postmaster");
    assert_eq!(
        driver.line(&mut s, "PASS postmasterpassword"),
        "200 login OK"
    );

    assert_eq!(
        driver.line(&mut s, "ListDomains"),
        "200 data follow\r\n(mail.servername.com, client1.com)"
    );
    assert_eq!(
        driver.line(&mut s, "GetAccountSettings pat"),
        "200 data follow\r\n{MaxAccountSize=100M;RealName=\"Pat Q\";}"
    );
    assert!(!s.is_inline());
    assert_eq!(driver.line(&mut s, "inline"), "200 OK");
    assert!(s.is_inline());
    assert_eq!(
        driver.line(&mut s, "ListDomains"),
        "201 (mail.servername.com, client1.com)"
    );
    assert_eq!(
        driver.line(&mut s, "GetAccount pat"),
        "201 {MaxAccountSize=100M;RealName=\"Pat Q\";}"
    );
    assert_eq!(driver.line(&mut s, "GetVersion"), format!("201 {VERSION}"));
    assert_eq!(s.render_result(Ok(None)), "200 OK");
    assert_eq!(
        s.render_result(Err("bad\r\nthing".to_owned())),
        "501 bad  thing"
    );
}

#[test]
fn execute_carries_user_and_command() {
    let mut s = CliSession::new("h", "1");
    s.on_line("USER pat");
    s.on_line("PASS pw");
    s.login_result(true);
    assert_eq!(
        s.on_line("DeleteAccount x"),
        Step::Execute {
            user: "pat".to_owned(),
            command: Command::DeleteAccount {
                name: "x".to_owned()
            },
        }
    );
    assert_eq!(
        s.on_line("RefreshOSData"),
        Step::Reply("501 RefreshOSData is not supported".to_owned())
    );
    assert_eq!(
        s.on_line("Frobnicate"),
        Step::Reply("501 unknown command Frobnicate".to_owned())
    );
}

#[test]
fn errors_before_login() {
    let reply = |s: &mut CliSession, l: &str| match s.on_line(l) {
        Step::Reply(r) => r,
        other => panic!("{l}: unexpected {other:?}"),
    };
    let mut s = CliSession::new("h", "1");
    assert_eq!(reply(&mut s, "PASS x"), "501 please send the USER first");
    assert_eq!(reply(&mut s, "ListDomains"), "501 please log in first");
    assert_eq!(reply(&mut s, "INLINE"), "501 please log in first");
    assert_eq!(reply(&mut s, "SHUTDOWN"), "501 please log in first");
    assert_eq!(reply(&mut s, "NOOP"), "200 OK");
    assert_eq!(reply(&mut s, ""), "501 empty command");
    assert_eq!(reply(&mut s, "USER"), "501 USER: missing account name");
    assert_eq!(
        reply(&mut s, "Frobnicate"),
        "501 unknown command Frobnicate"
    );
    assert_eq!(reply(&mut s, "USER pat"), "300 please send the PASS");
    assert_eq!(reply(&mut s, "ListDomains"), "501 please log in first");
    let long = "x".repeat(MAX_LINE_LEN + 1);
    assert_eq!(reply(&mut s, &long), "501 line too long");
    // A wrong password starts over from USER.
    assert!(matches!(
        s.on_line("PASS wrong"),
        Step::CheckPassword { .. }
    ));
    assert_eq!(
        s.login_result(false),
        "500 incorrect password or account name"
    );
    assert_eq!(
        reply(&mut s, "PASS again"),
        "501 please send the USER first"
    );
}
