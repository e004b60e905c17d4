//! Whole-session transcripts: RFC 1939 §10, RFC 2449 §5, RFC 5034 §6 and
//! error cases, each fed as one byte stream and split at every offset.

use super::*;
use crate::pop3::proto::{LineReceiver, encode_message, line, parse_command};
use crate::sasl::{Sasl, SaslStep};

const TOKEN: &str = "1896.697170952@dbc.mtview.ca.us";

fn message(len: usize) -> Vec<u8> {
    let mut m = b"X: y\r\n\r\n".to_vec();
    m.resize(len - 2, b'a');
    m.extend_from_slice(b"\r\n");
    m
}

/// Fake store: mrose/tanstaaf and test/test own two messages (120 and 200
/// octets), `locked` is in use.
struct Driver {
    session: Session,
    lines: LineReceiver,
    sasl: Option<Sasl>,
    store: Vec<Vec<u8>>,
    out: Vec<u8>,
    committed: Option<Vec<usize>>,
    closed: bool,
}

impl Driver {
    fn new(options: Options) -> Self {
        let mut session = Session::new(options);
        let out = session.greeting(TOKEN).encode();
        Self {
            session,
            lines: LineReceiver::new(),
            sasl: None,
            store: vec![message(120), message(200)],
            out,
            committed: None,
            closed: false,
        }
    }

    fn login(&self, user: &str, ok: bool) -> Result<MaildropView, LoginFailure> {
        match (user, ok) {
            ("locked", true) => Err(LoginFailure::InUse),
            ("mrose" | "test", true) => Ok(MaildropView {
                messages: self
                    .store
                    .iter()
                    .enumerate()
                    .map(|(i, m)| MessageInfo {
                        size: m.len() as u64,
                        uid: format!("uid-{i} x"),
                    })
                    .collect(),
            }),
            _ => Err(LoginFailure::BadCredentials),
        }
    }

    fn feed(&mut self, bytes: &[u8]) {
        self.lines.feed(bytes);
        while !self.closed {
            let Some(line) = self.lines.next_line() else {
                return;
            };
            let line = match line {
                Ok(line) => line,
                Err(e) => {
                    let action = self.session.on_line_error(e);
                    self.act(action);
                    continue;
                }
            };
            if let Some(sasl) = &mut self.sasl {
                let step = sasl.step(std::str::from_utf8(&line).unwrap_or("?"));
                self.sasl_step(step);
                continue;
            }
            let action = match parse_command(&line) {
                Ok(cmd) => self.session.on_command(cmd),
                Err(e) => self.session.on_parse_error(e),
            };
            self.act(action);
        }
    }

    fn sasl_step(&mut self, step: Result<SaslStep, crate::sasl::SaslError>) {
        let result = match step {
            Ok(SaslStep::Challenge(c)) => {
                self.out.extend_from_slice(format!("+ {c}\r\n").as_bytes());
                return;
            }
            Ok(SaslStep::Done { user, password, .. }) => self.login(&user, password == user),
            Err(e) => Err(LoginFailure::from(&e)),
        };
        self.sasl = None;
        self.lines.set_max_len(line::MAX_LINE_LEN);
        let action = self.session.login_result(result);
        self.act(action);
    }

    fn act(&mut self, action: Action) {
        match action {
            Action::Reply(r) => self.out.extend_from_slice(&r.encode()),
            Action::ReplyAndClose(r) => {
                self.out.extend_from_slice(&r.encode());
                self.closed = true;
            }
            Action::CheckPassword { user, pass } => {
                let ok = (user == "mrose" && pass == "tanstaaf") || (user == "locked");
                let action = self.session.login_result(self.login(&user, ok));
                self.act(action);
            }
            Action::CheckApop {
                user,
                digest,
                timestamp,
            } => {
                let ok = digest == apop_digest(&timestamp, "tanstaaf");
                let action = self.session.login_result(self.login(&user, ok));
                self.act(action);
            }
            Action::Authenticate { mechanism, initial } => {
                self.lines.set_max_len(line::MAX_SASL_LINE_LEN);
                match Sasl::start(&mechanism, initial.as_deref()) {
                    Ok((sasl, step)) => {
                        self.sasl = Some(sasl);
                        self.sasl_step(Ok(step));
                    }
                    Err(e) => self.sasl_step(Err(e)),
                }
            }
            Action::StartTls(r) => {
                self.out.extend_from_slice(&r.encode());
                self.lines.take_rest();
                self.session.tls_started();
            }
            Action::SendMessage { index, top_lines } => {
                let bytes = self.store.get(index).cloned().unwrap_or_default();
                self.out
                    .extend_from_slice(&encode_message(&bytes, top_lines));
            }
            Action::Commit { deleted } => {
                self.committed = Some(deleted);
                self.out.extend_from_slice(&Reply::signing_off().encode());
                self.closed = true;
            }
        }
    }
}

fn plain() -> Options {
    Options {
        tls_available: true,
        tls_active: false,
        allow_plaintext: true,
    }
}

/// Runs `client` whole and split at every offset; the output must match.
fn run(client: &str, options: Options) -> Driver {
    let mut whole = Driver::new(options);
    whole.feed(client.as_bytes());
    for i in 0..=client.len() {
        let mut split = Driver::new(options);
        split.feed(&client.as_bytes()[..i]);
        split.feed(&client.as_bytes()[i..]);
        assert_eq!(
            String::from_utf8_lossy(&split.out),
            String::from_utf8_lossy(&whole.out),
            "split at {i}"
        );
        assert_eq!(split.committed, whole.committed);
    }
    whole
}

/// The status lines (`+OK…`, `-ERR…`, `+ …`) of the output, in order.
fn statuses(driver: &Driver) -> Vec<String> {
    String::from_utf8_lossy(&driver.out)
        .split("\r\n")
        .filter(|l| l.starts_with("+OK") || l.starts_with("-ERR") || l.starts_with("+ "))
        .map(str::to_owned)
        .collect()
}

#[test]
fn rfc1939_10_example_session() {
    let client = "APOP mrose c4c9334bac560ecc979e58001b3e22fb\r\nSTAT\r\nLIST\r\nRETR 1\r\n\
                  DELE 1\r\nRETR 2\r\nDELE 2\r\nQUIT\r\n";
    let driver = run(client, plain());
    let m1 = String::from_utf8_lossy(&message(120)).into_owned();
    let m2 = String::from_utf8_lossy(&message(200)).into_owned();
    let want = format!(
        "+OK Mailnode POP3 ready <{TOKEN}>\r\n\
         +OK maildrop has 2 messages (320 octets)\r\n\
         +OK 2 320\r\n\
         +OK 2 messages (320 octets)\r\n1 120\r\n2 200\r\n.\r\n\
         +OK 120 octets\r\n{m1}.\r\n\
         +OK message 1 deleted\r\n\
         +OK 200 octets\r\n{m2}.\r\n\
         +OK message 2 deleted\r\n\
         +OK Mailnode POP3 server signing off\r\n"
    );
    assert_eq!(String::from_utf8_lossy(&driver.out), want);
    assert_eq!(driver.committed, Some(vec![0, 1]));
}

#[test]
fn rfc1939_apop_digest() {
    assert_eq!(
        apop_digest("<1896.697170952@dbc.mtview.ca.us>", "tanstaaf"),
        "c4c9334bac560ecc979e58001b3e22fb"
    );
}

#[test]
fn rfc1939_transaction_commands() {
    let client = "USER mrose\r\nPASS tanstaaf\r\nLIST 2\r\nLIST 3\r\nUIDL\r\nUIDL 1\r\nDELE 1\r\n\
                  DELE 1\r\nLIST 1\r\nRETR 1\r\nSTAT\r\nLIST\r\nNOOP\r\nRSET\r\nSTAT\r\nTOP 1 0\r\n\
                  TOP 9 1\r\nUSER x\r\nQUIT\r\n";
    let driver = run(client, plain());
    let out = String::from_utf8_lossy(&driver.out);
    assert_eq!(
        statuses(&driver),
        [
            format!("+OK Mailnode POP3 ready <{TOKEN}>"),
            "+OK send PASS".into(),
            "+OK maildrop has 2 messages (320 octets)".into(),
            "+OK 2 200".into(),
            "-ERR no such message, only 2 messages in maildrop".into(),
            "+OK".into(),
            "+OK 1 uid-0x".into(),
            "+OK message 1 deleted".into(),
            "-ERR message 1 already deleted".into(),
            "-ERR message 1 already deleted".into(),
            "-ERR message 1 already deleted".into(),
            "+OK 1 200".into(),
            "+OK 1 messages (200 octets)".into(),
            "+OK".into(),
            "+OK maildrop has 2 messages (320 octets)".into(),
            "+OK 2 320".into(),
            "+OK top of message follows".into(),
            "-ERR no such message, only 2 messages in maildrop".into(),
            "-ERR not allowed in TRANSACTION state".into(),
            "+OK Mailnode POP3 server signing off".into(),
        ]
    );
    assert!(out.contains("+OK\r\n1 uid-0x\r\n2 uid-1x\r\n.\r\n"));
    assert!(out.contains("+OK top of message follows\r\nX: y\r\n\r\n.\r\n"));
    assert_eq!(driver.committed, Some(vec![]));
}

#[test]
fn rfc2449_capa() {
    let driver = run("CAPA\r\n", plain());
    assert!(String::from_utf8_lossy(&driver.out).ends_with(
        "+OK Capability list follows\r\nUSER\r\nTOP\r\nUIDL\r\nRESP-CODES\r\nAUTH-RESP-CODE\r\n\
         PIPELINING\r\nSASL PLAIN LOGIN\r\nSTLS\r\nIMPLEMENTATION Mailnode\r\n.\r\n"
    ));
    let opts = Options {
        tls_available: true,
        tls_active: false,
        allow_plaintext: false,
    };
    let driver = run("CAPA\r\nUSER a\r\nAUTH PLAIN\r\n", opts);
    let out = String::from_utf8_lossy(&driver.out);
    assert!(!out.contains("USER\r\n") && !out.contains("SASL") && out.contains("STLS\r\n"));
    assert_eq!(
        statuses(&driver)[2..],
        ["-ERR plaintext authentication not allowed, use STLS"; 2]
    );
}

#[test]
fn rfc5034_auth_plain() {
    for client in [
        "AUTH PLAIN\r\ndGVzdAB0ZXN0AHRlc3Q=\r\nSTAT\r\n",
        "AUTH PLAIN dGVzdAB0ZXN0AHRlc3Q=\r\nSTAT\r\n",
        "AUTH LOGIN\r\ndGVzdA==\r\ndGVzdA==\r\nSTAT\r\n",
    ] {
        let driver = run(client, plain());
        let statuses = statuses(&driver);
        assert_eq!(
            statuses.last().map(String::as_str),
            Some("+OK 2 320"),
            "{client}"
        );
        assert!(driver.session.is_authenticated());
    }
    let driver = run(
        "AUTH PLAIN\r\n*\r\nAUTH\r\nAUTH CRAM-MD5\r\nAUTH PLAIN !!\r\n",
        plain(),
    );
    assert_eq!(
        statuses(&driver)[1..],
        [
            "+ ",
            "-ERR authentication cancelled",
            "+OK supported mechanisms",
            "-ERR unsupported mechanism",
            "-ERR malformed authentication response"
        ]
    );
}

#[test]
fn login_failures_use_response_codes() {
    let driver = run(
        "PASS x\r\nUSER locked\r\nPASS x\r\nUSER mrose\r\nPASS bad\r\nUSER mrose\r\nPASS bad\r\n\
         APOP mrose 00000000000000000000000000000000\r\nNOOP\r\n",
        plain(),
    );
    assert_eq!(
        statuses(&driver)[1..],
        [
            "-ERR send USER first",
            "+OK send PASS",
            "-ERR [IN-USE] mailbox already locked",
            "+OK send PASS",
            "-ERR [AUTH] invalid credentials",
            "+OK send PASS",
            "-ERR [AUTH] invalid credentials",
            "-ERR [AUTH] invalid credentials",
        ]
    );
    assert!(driver.closed);
}

#[test]
fn authorization_rules() {
    let driver = run(
        "STAT\r\nRETR 1\r\nNOOP\r\nFOO\r\nLIST 0\r\nQUIT\r\nSTAT\r\n",
        plain(),
    );
    assert_eq!(
        statuses(&driver)[1..],
        [
            "-ERR not allowed in AUTHORIZATION state",
            "-ERR not allowed in AUTHORIZATION state",
            "-ERR not allowed in AUTHORIZATION state",
            "-ERR unknown command",
            "-ERR syntax error: invalid message number",
            "+OK Mailnode POP3 server signing off",
        ]
    );
    assert!(driver.closed);
    assert_eq!(driver.committed, None);
}

#[test]
fn rfc2595_stls_once_and_drops_pipelined_input() {
    let mut driver = Driver::new(plain());
    driver.feed(b"STLS\r\nUSER mrose\r\n");
    driver.feed(b"STLS\r\nCAPA\r\n");
    let out = String::from_utf8_lossy(&driver.out);
    assert!(out.contains("+OK Begin TLS negotiation\r\n-ERR STLS not available\r\n"));
    assert!(!out.contains("send PASS"));
    assert!(!out.ends_with("STLS\r\nIMPLEMENTATION Mailnode\r\n.\r\n"));
    let tls = Options {
        tls_active: true,
        ..plain()
    };
    let driver = run("STLS\r\n", tls);
    assert_eq!(statuses(&driver)[1], "-ERR STLS not available");
}

#[test]
fn too_long_line_and_too_many_errors() {
    let long = format!("USER {}\r\nNOOP\r\n", "a".repeat(300));
    assert_eq!(
        statuses(&run(&long, plain()))[1..],
        [
            "-ERR line too long",
            "-ERR not allowed in AUTHORIZATION state"
        ]
    );
    let junk = "X\r\n".repeat(25);
    let driver = run(&junk, plain());
    assert!(driver.closed);
    assert_eq!(
        statuses(&driver).last().map(String::as_str),
        Some("-ERR too many errors, closing connection")
    );
}

#[test]
fn greeting_without_valid_token_disables_apop() {
    let mut s = Session::new(plain());
    assert_eq!(s.greeting("a b").text, "Mailnode POP3 ready");
    let action = s.on_command(Command::Apop {
        name: "mrose".into(),
        digest: "0".repeat(32),
    });
    assert_eq!(action, Action::Reply(Reply::err("APOP not available")));
    assert!(matches!(s.login_result(Err(LoginFailure::Temporary)), Action::Reply(r) if !r.ok));
}

/// A tiny deterministic generator: no dependency, same cases every run.
fn lcg(seed: &mut u64) -> usize {
    *seed = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (*seed >> 33) as usize
}

#[test]
fn random_input_never_panics() {
    let tokens: &[&str] = &[
        "USER mrose",
        "PASS tanstaaf",
        "APOP mrose c4c9334bac560ecc979e58001b3e22fb",
        "STAT",
        "LIST",
        "UIDL",
        "RETR ",
        "TOP ",
        "DELE ",
        "1",
        "2",
        "0",
        "99999999999",
        " ",
        "\r\n",
        "\n",
        "\r",
        "RSET",
        "NOOP",
        "QUIT",
        "CAPA",
        "STLS",
        "AUTH PLAIN",
        "*",
        "=",
        "dGVzdAB0ZXN0AHRlc3Q=",
        "\u{7528}",
        "\u{0}",
    ];
    let mut seed = 11;
    for _ in 0..400 {
        let mut input = String::new();
        for _ in 0..lcg(&mut seed) % 40 {
            input.push_str(tokens[lcg(&mut seed) % tokens.len()]);
        }
        let mut driver = Driver::new(plain());
        for chunk in input.as_bytes().chunks(1 + lcg(&mut seed) % 9) {
            driver.feed(chunk);
        }
    }
}

#[test]
fn resumed_session_answers_the_login_then_serves_transaction() {
    let mut driver = Driver::new(plain());
    driver.out.clear();
    driver.session = Session::resumed(plain());
    let action = driver.session.login_result(driver.login("mrose", true));
    driver.act(action);
    driver.feed(b"STAT\r\nUSER x\r\nQUIT\r\n");
    assert_eq!(
        statuses(&driver),
        [
            "+OK maildrop has 2 messages (320 octets)",
            "+OK 2 320",
            "-ERR not allowed in TRANSACTION state",
            "+OK Mailnode POP3 server signing off",
        ]
    );
    let mut refused = Session::resumed(plain());
    assert_eq!(
        refused.login_result(Err(LoginFailure::InUse)),
        Action::Reply(Reply::err_code(RespCode::InUse, "mailbox already locked"))
    );
}
