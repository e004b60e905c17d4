//! Whole-session transcripts: RFC 5321 appendix D, RFC 4954 §4 and
//! smuggling attempts, each fed as one byte stream and split at every offset.

use super::*;
use crate::sasl::{Sasl, SaslStep};
use crate::smtp::proto::{DataReceiver, DataStatus, LineReceiver, parse_command};

fn caps() -> Capabilities {
    Capabilities {
        size_limit: 1000,
        starttls: true,
        auth: true,
        hostname: "foo.com".into(),
    }
}

/// A test driver: frames, parses, runs the session, fakes the directory
/// (Jones, Brown, Admin.MRC and postmaster exist at foo.com), accepts
/// test/1234, and records every reply.
struct Driver {
    session: Session,
    lines: LineReceiver,
    data: Option<DataReceiver>,
    sasl: Option<Sasl>,
    out: Vec<u8>,
    messages: Vec<Vec<u8>>,
    closed: bool,
}

impl Driver {
    fn new(limits: Limits) -> Self {
        let session = Session::new(caps(), limits);
        let out = session.greeting().encode();
        Self {
            session,
            lines: LineReceiver::new(),
            data: None,
            sasl: None,
            out,
            messages: Vec::new(),
            closed: false,
        }
    }

    fn send(&mut self, reply: Reply) {
        self.out.extend_from_slice(&reply.encode());
    }

    fn feed(&mut self, bytes: &[u8]) {
        let mut pending = bytes.to_vec();
        while !self.closed {
            if let Some(rx) = &mut self.data {
                match rx.feed(&pending) {
                    DataStatus::NeedMore => return,
                    DataStatus::Done { message, rest } => {
                        self.messages.push(message);
                        self.send(Reply::queued("Q1"));
                        pending = rest;
                    }
                    DataStatus::TooBig { rest } => {
                        self.send(Reply::too_big());
                        pending = rest;
                    }
                    DataStatus::Invalid { rest, .. } => {
                        self.send(Reply::bare_line_ending());
                        pending = rest;
                    }
                }
                self.data = None;
                self.session.data_received();
                continue;
            }
            self.lines.feed(&std::mem::take(&mut pending));
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
            Ok(SaslStep::Challenge(c)) => return self.send(Reply::auth_challenge(&c)),
            Ok(SaslStep::Done { user, password, .. }) if password == "1234" => Ok(user),
            Ok(SaslStep::Done { .. }) => Err(Reply::auth_failed()),
            Err(e) => Err(Reply::from_sasl_error(&e)),
        };
        self.sasl = None;
        let action = self.session.auth_result(result);
        self.act(action);
    }

    fn act(&mut self, action: Action) {
        match action {
            Action::Reply(r) => self.send(r),
            Action::ReplyAndClose(r) => {
                self.send(r);
                self.closed = true;
            }
            Action::CheckRecipient(to) => {
                let known = ["Jones", "Brown", "Admin.MRC"].contains(&to.local.as_str())
                    && to.domain == "foo.com";
                let reply = self.session.rcpt_result(if known || to.is_postmaster() {
                    Ok(())
                } else {
                    Err(Reply::no_such_user())
                });
                self.send(reply);
            }
            Action::StartData(r) => {
                self.send(r);
                self.data = Some(DataReceiver::new(caps().size_limit));
                let rest = self.lines.take_rest();
                self.feed(&rest);
            }
            Action::StartTls(r) => {
                self.send(r);
                // RFC 3207 §5: nothing pipelined before the handshake counts.
                self.lines.take_rest();
                self.session.tls_started(caps());
            }
            Action::Authenticate { mechanism, initial } => {
                match Sasl::start(&mechanism, initial.as_deref()) {
                    Ok((sasl, step)) => {
                        self.sasl = Some(sasl);
                        self.sasl_step(Ok(step));
                    }
                    Err(e) => self.sasl_step(Err(e)),
                }
            }
        }
    }
}

/// Runs the client phases (a new phase starts after a TLS handshake, since
/// bytes read later arrive over TLS): whole, and each phase split at every
/// offset; all runs must write the same bytes. Returns the final code of
/// each reply and the driver.
fn phases(client: &[&str], limits: Limits) -> (Vec<u16>, Driver) {
    let run = |split: Option<(usize, usize)>| {
        let mut d = Driver::new(limits);
        for (n, phase) in client.iter().enumerate() {
            match split {
                Some((p, i)) if p == n => {
                    d.feed(&phase.as_bytes()[..i]);
                    d.feed(&phase.as_bytes()[i..]);
                }
                _ => d.feed(phase.as_bytes()),
            }
        }
        d
    };
    let whole = run(None);
    for (p, phase) in client.iter().enumerate() {
        for i in 0..=phase.len() {
            let split = run(Some((p, i)));
            assert_eq!(
                String::from_utf8_lossy(&split.out),
                String::from_utf8_lossy(&whole.out),
                "phase {p} split at {i}"
            );
            assert_eq!(split.messages, whole.messages);
        }
    }
    let text = String::from_utf8_lossy(&whole.out).into_owned();
    let codes = text
        .split("\r\n")
        .filter(|l| l.len() >= 4 && l.as_bytes()[3] == b' ')
        .filter_map(|l| l[..3].parse().ok())
        .collect();
    (codes, whole)
}

fn transcript(client: &str, limits: Limits) -> (Vec<u16>, Driver) {
    phases(&[client], limits)
}

fn codes(client: &str) -> Vec<u16> {
    transcript(client, Limits::default()).0
}

#[test]
fn rfc5321_d1_typical_transaction() {
    let client = "EHLO bar.com\r\nMAIL FROM:<Smith@bar.com>\r\nRCPT TO:<Jones@foo.com>\r\n\
                  RCPT TO:<Green@foo.com>\r\nRCPT TO:<Brown@foo.com>\r\nDATA\r\n\
                  Blah blah blah...\r\n...etc. etc. etc.\r\n.\r\nQUIT\r\n";
    let (codes, driver) = transcript(client, Limits::default());
    assert_eq!(codes, [220, 250, 250, 250, 550, 250, 354, 250, 221]);
    assert_eq!(
        driver.messages,
        [b"Blah blah blah...\r\n..etc. etc. etc.\r\n".to_vec()]
    );
    assert!(driver.closed);
    let out = String::from_utf8_lossy(&driver.out);
    assert!(out.starts_with(
        "220 foo.com ESMTP Mailnode\r\n250-foo.com greets bar.com\r\n250-PIPELINING\r\n\
         250-SIZE 1000\r\n250-8BITMIME\r\n250-ENHANCEDSTATUSCODES\r\n250-SMTPUTF8\r\n\
         250-DSN\r\n250-STARTTLS\r\n250 AUTH PLAIN LOGIN\r\n250 2.1.0 OK\r\n250 2.1.5 OK\r\n"
    ));
}

#[test]
fn rfc5321_d2_aborted_transaction() {
    let client = "EHLO bar.com\r\nMAIL FROM:<Smith@bar.com>\r\nRCPT TO:<Jones@foo.com>\r\n\
                  RCPT TO:<Green@foo.com>\r\nRSET\r\nQUIT\r\n";
    assert_eq!(codes(client), [220, 250, 250, 250, 550, 250, 221]);
}

#[test]
fn rfc5321_d4_verifying_and_sending() {
    let client = "EHLO bar.com\r\nVRFY Crispin\r\nMAIL FROM:<EAK@bar.com>\r\n\
                  RCPT TO:<Admin.MRC@foo.com>\r\nDATA\r\nBlah blah blah...\r\n\
                  ...etc. etc. etc.\r\n.\r\nQUIT\r\n";
    assert_eq!(codes(client), [220, 250, 252, 250, 250, 354, 250, 221]);
}

#[test]
fn rfc4954_auth_plain_after_starttls() {
    let client = [
        "EHLO client.example.com\r\nSTARTTLS\r\n",
        "EHLO client.example.com\r\nAUTH PLAIN dGVzdAB0ZXN0ADEyMzQ=\r\n\
         MAIL FROM:<test@example.com>\r\nQUIT\r\n",
    ];
    let (codes, driver) = phases(&client, Limits::default());
    assert_eq!(codes, [220, 250, 220, 250, 235, 250, 221]);
    assert_eq!(driver.session.authenticated(), Some("test"));
    assert!(driver.session.is_tls());
    let out = String::from_utf8_lossy(&driver.out);
    assert!(out.contains("220 2.0.0 Ready to start TLS\r\n"));
    assert!(out.contains("235 2.7.0 Authentication successful\r\n"));
}

#[test]
fn rfc4954_auth_with_empty_challenge_and_cancel() {
    let client = "EHLO c\r\nAUTH PLAIN\r\n*\r\nAUTH PLAIN\r\ndGVzdAB0ZXN0ADEyMzQ=\r\n\
                  AUTH PLAIN\r\nQUIT\r\n";
    let (codes, driver) = transcript(client, Limits::default());
    assert_eq!(codes, [220, 250, 334, 501, 334, 235, 503, 221]);
    assert!(String::from_utf8_lossy(&driver.out).contains("334 \r\n"));
}

#[test]
fn auth_login_and_bad_password() {
    let client = "EHLO c\r\nAUTH LOGIN\r\ndGVzdA==\r\neA==\r\nAUTH LOGIN dGVzdA==\r\nMTIzNA==\r\n\
                  AUTH CRAM-MD5\r\n";
    let (codes, _) = transcript(client, Limits::default());
    assert_eq!(codes, [220, 250, 334, 334, 535, 334, 235, 503]);
}

#[test]
fn sequence_errors() {
    let cases: &[(&str, &[u16])] = &[
        ("MAIL FROM:<a@b.c>\r\n", &[220, 503]),
        ("RCPT TO:<Jones@foo.com>\r\n", &[220, 503]),
        ("HELO x\r\nRCPT TO:<Jones@foo.com>\r\n", &[220, 250, 503]),
        ("HELO x\r\nDATA\r\n", &[220, 250, 503]),
        (
            "HELO x\r\nMAIL FROM:<a@b.c>\r\nDATA\r\n",
            &[220, 250, 250, 554],
        ),
        (
            "HELO x\r\nMAIL FROM:<a@b.c>\r\nMAIL FROM:<a@b.c>\r\n",
            &[220, 250, 250, 503],
        ),
        // EHLO resets the transaction.
        (
            "EHLO x\r\nMAIL FROM:<a@b.c>\r\nEHLO x\r\nRCPT TO:<Jones@foo.com>\r\n",
            &[220, 250, 250, 250, 503],
        ),
        // RSET, NOOP, VRFY, HELP work before EHLO (RFC 5321 §4.1.4).
        (
            "RSET\r\nNOOP\r\nVRFY x\r\nHELP\r\nEXPN x\r\n",
            &[220, 250, 250, 252, 214, 502],
        ),
        ("FOO\r\nMAIL FROM a@b.c\r\n", &[220, 500, 501]),
        // Parameters need EHLO; SMTPUTF8 too.
        ("HELO x\r\nMAIL FROM:<a@b.c> SMTPUTF8\r\n", &[220, 250, 555]),
        (
            "EHLO x\r\nMAIL FROM:<a@b.c> X-UNKNOWN=1\r\n",
            &[220, 250, 555],
        ),
        (
            "EHLO x\r\nMAIL FROM:<a@b.c> SIZE=1001\r\nMAIL FROM:<a@b.c> SIZE=1000\r\n",
            &[220, 250, 552, 250],
        ),
        (
            "EHLO x\r\nMAIL FROM:<用户@b.c>\r\nMAIL FROM:<用户@b.c> SMTPUTF8\r\n",
            &[220, 250, 553, 250],
        ),
        (
            "EHLO x\r\nMAIL FROM:<a@b.c>\r\nRCPT TO:<用户@foo.com>\r\n",
            &[220, 250, 250, 553],
        ),
        // DSN (RFC 3461): accepted after EHLO only; unknown RCPT parameters are 555.
        (
            "EHLO x\r\nMAIL FROM:<a@b.c> RET=HDRS ENVID=x\r\nRCPT TO:<Jones@foo.com> NOTIFY=NEVER\r\n",
            &[220, 250, 250, 250],
        ),
        (
            "EHLO x\r\nMAIL FROM:<a@b.c>\r\nRCPT TO:<Jones@foo.com> X-FOO=1\r\n",
            &[220, 250, 250, 555],
        ),
        (
            "HELO x\r\nMAIL FROM:<a@b.c>\r\nRCPT TO:<Jones@foo.com> NOTIFY=NEVER\r\n",
            &[220, 250, 250, 555],
        ),
        ("HELO x\r\nMAIL FROM:<a@b.c> RET=FULL\r\n", &[220, 250, 555]),
        (
            "EHLO x\r\nMAIL FROM:<>\r\nRCPT TO:<postmaster>\r\n",
            &[220, 250, 250, 250],
        ),
        // STARTTLS rules (RFC 3207 §4), then AUTH needs a fresh EHLO.
        ("STARTTLS\r\n", &[220, 503]),
        (
            "EHLO x\r\nMAIL FROM:<a@b.c>\r\nSTARTTLS\r\nAUTH PLAIN\r\n",
            &[220, 250, 250, 503, 503],
        ),
        ("HELO x\r\nAUTH PLAIN\r\n", &[220, 250, 503]),
    ];
    for (client, want) in cases {
        assert_eq!(codes(client), *want, "{client:?}");
    }
}

#[test]
fn rfc3207_starttls_rules() {
    let client = [
        "EHLO x\r\nSTARTTLS\r\n",
        "STARTTLS\r\nAUTH PLAIN\r\nEHLO x\r\nSTARTTLS\r\n",
    ];
    let (codes, driver) = phases(&client, Limits::default());
    assert_eq!(codes, [220, 250, 220, 503, 503, 250, 503]);
    // No STARTTLS in the EHLO reply under TLS.
    assert_eq!(
        String::from_utf8_lossy(&driver.out)
            .matches("STARTTLS")
            .count(),
        1
    );
}

#[test]
fn starttls_discards_pipelined_commands() {
    // CVE-2011-0411: a MAIL sent in the same read as STARTTLS is dropped.
    let mut driver = Driver::new(Limits::default());
    driver.feed(b"EHLO x\r\nSTARTTLS\r\nMAIL FROM:<a@b.c>\r\n");
    assert!(String::from_utf8_lossy(&driver.out).ends_with("220 2.0.0 Ready to start TLS\r\n"));
    assert!(driver.session.helo().is_none());
    assert!(driver.session.transaction().is_none());
}

#[test]
fn too_many_recipients_is_452() {
    let limits = Limits {
        max_recipients: 2,
        ..Limits::default()
    };
    let client = "EHLO x\r\nMAIL FROM:<a@b.c>\r\nRCPT TO:<Jones@foo.com>\r\nRCPT TO:<Brown@foo.com>\r\n\
                  RCPT TO:<Admin.MRC@foo.com>\r\n";
    let (codes, driver) = transcript(client, limits);
    assert_eq!(codes, [220, 250, 250, 250, 250, 452]);
    assert!(String::from_utf8_lossy(&driver.out).ends_with("452 4.5.3 Too many recipients\r\n"));
    assert_eq!(driver.session.transaction().map(|t| t.rcpts.len()), Some(2));
}

#[test]
fn too_many_errors_is_421_and_close() {
    let limits = Limits {
        max_errors: 3,
        ..Limits::default()
    };
    let (codes, driver) = transcript("A\r\nB\r\nC\r\nD\r\nNOOP\r\n", limits);
    assert_eq!(codes, [220, 500, 500, 500, 421]);
    assert!(driver.closed);
    let limits = Limits {
        max_idle_commands: 2,
        ..Limits::default()
    };
    let (codes, _) = transcript("NOOP\r\nNOOP\r\nNOOP\r\nNOOP\r\n", limits);
    assert_eq!(codes, [220, 250, 250, 421]);
}

#[test]
fn smuggling_and_oversize_in_data() {
    let base = "EHLO x\r\nMAIL FROM:<a@b.c>\r\nRCPT TO:<Jones@foo.com>\r\nDATA\r\n";
    for body in [
        "a\n.\nMAIL FROM:<x@y>\r\n.\r\n",
        "a\n.\r\nRCPT TO:<x@y>\r\n.\r\n",
        "a\r\n.\nX\r\n.\r\n",
    ] {
        let (codes, driver) = transcript(&format!("{base}{body}NOOP\r\n"), Limits::default());
        assert_eq!(codes, [220, 250, 250, 250, 354, 550, 250], "{body:?}");
        assert!(driver.messages.is_empty());
    }
    let big = format!("{base}{}\r\n.\r\nNOOP\r\n", "x".repeat(1200));
    assert_eq!(
        transcript(&big, Limits::default()).0,
        [220, 250, 250, 250, 354, 552, 250]
    );
}

#[test]
fn bad_lines_are_answered_in_order() {
    let client = "NOOP\nNO\rOP\r\nNOOP\r\n";
    assert_eq!(codes(client), [220, 500, 500, 250]);
}

#[test]
fn second_transaction_after_data() {
    let one = "MAIL FROM:<a@b.c>\r\nRCPT TO:<Jones@foo.com>\r\nDATA\r\nx\r\n.\r\n";
    let (codes, driver) = transcript(&format!("EHLO x\r\n{one}{one}QUIT\r\n"), Limits::default());
    assert_eq!(
        codes,
        [220, 250, 250, 250, 354, 250, 250, 250, 354, 250, 221]
    );
    assert_eq!(driver.messages.len(), 2);
    assert!(driver.session.transaction().is_none());
}

#[test]
fn driver_contract_violation_closes() {
    let mut s = Session::new(caps(), Limits::default());
    let _ = s.on_command(Command::Ehlo("x".into()));
    let _ = s.on_command(Command::Mail {
        from: None,
        params: MailParams::default(),
    });
    let to = Address {
        local: "a".into(),
        domain: "b".into(),
    };
    assert_eq!(
        s.on_command(Command::Rcpt {
            to: to.clone(),
            params: RcptParams::default()
        }),
        Action::CheckRecipient(to)
    );
    assert!(matches!(s.on_command(Command::Noop), Action::ReplyAndClose(r) if r.code == 421));
    assert_eq!(s.rcpt_result(Ok(())).code, 250);
    assert_eq!(s.rcpt_result(Ok(())).code, 503);
    assert!(matches!(s.auth_result(Ok("u".into())), Action::Reply(r) if r.code == 503));
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
    let tokens: &[&[u8]] = &[
        b"EHLO x\r\n",
        b"HELO x\r\n",
        b"MAIL FROM:<a@b.c>",
        b" SIZE=9",
        b" SMTPUTF8",
        b"RCPT TO:<Jones@foo.com>",
        b"RCPT TO:<postmaster>",
        b"DATA",
        b"RSET",
        b"STARTTLS",
        b"AUTH PLAIN",
        b"AUTH LOGIN dGVzdA==",
        b"dGVzdAB0ZXN0ADEyMzQ=",
        b"*",
        b".",
        b"..",
        b"\r\n",
        b"\n",
        b"\r",
        b"\xff",
        b"<",
        b">",
        b"\"",
        b"@",
        b"[",
        b"]",
        b" ",
        b"NOOP",
        b"QUIT",
        b"\r\n.\r\n",
        b"\x00",
        "\u{7528}".as_bytes(),
    ];
    let mut seed = 7;
    for _ in 0..400 {
        let mut input = Vec::new();
        for _ in 0..lcg(&mut seed) % 40 {
            input.extend_from_slice(tokens[lcg(&mut seed) % tokens.len()]);
        }
        let mut driver = Driver::new(Limits::default());
        for chunk in input.chunks(1 + lcg(&mut seed) % 9) {
            driver.feed(chunk);
        }
    }
}
