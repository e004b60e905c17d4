//! Tables of RFC command text for [`parse_command`].

use super::*;

fn addr(local: &str, domain: &str) -> Address {
    Address {
        local: local.into(),
        domain: domain.into(),
    }
}

fn mail(from: Option<Address>, params: MailParams) -> Command {
    Command::Mail { from, params }
}

fn rcpt(to: Address) -> Command {
    Command::Rcpt {
        to,
        params: RcptParams::default(),
    }
}

#[test]
fn rfc5321_appendix_d_commands() {
    let cases: Vec<(&str, Command)> = vec![
        ("EHLO bar.com", Command::Ehlo("bar.com".into())),
        ("HELO [192.0.2.1]", Command::Helo("[192.0.2.1]".into())),
        (
            "MAIL FROM:<Smith@bar.com>",
            mail(Some(addr("Smith", "bar.com")), MailParams::default()),
        ),
        ("RCPT TO:<Jones@foo.com>", rcpt(addr("Jones", "foo.com"))),
        ("RCPT TO:<Green@foo.com>", rcpt(addr("Green", "foo.com"))),
        ("DATA", Command::Data),
        ("QUIT", Command::Quit),
        ("RSET", Command::Rset),
        ("NOOP", Command::Noop),
        ("NOOP anything at all", Command::Noop),
        ("HELP", Command::Help),
        ("HELP MAIL", Command::Help),
        ("VRFY Crispin", Command::Vrfy("Crispin".into())),
        (
            "EXPN Example-People",
            Command::Expn("Example-People".into()),
        ),
        ("STARTTLS", Command::StartTls),
        ("mail from:<>", mail(None, MailParams::default())),
        (
            "Mail From: <a@b.c>",
            mail(Some(addr("a", "b.c")), MailParams::default()),
        ),
        (
            "MAIL FROM:<a@b.c>  ",
            mail(Some(addr("a", "b.c")), MailParams::default()),
        ),
        ("RCPT TO:<postmaster>", rcpt(addr("postmaster", ""))),
        ("RCPT TO:<Postmaster>", rcpt(addr("Postmaster", ""))),
        // RFC 5321 §4.1.2 quoted local part and address literals.
        (
            r#"RCPT TO:<"john doe"@example.com>"#,
            rcpt(addr(r#""john doe""#, "example.com")),
        ),
        (
            r#"RCPT TO:<"a\"b@c"@example.com>"#,
            rcpt(addr(r#""a\"b@c""#, "example.com")),
        ),
        (
            "RCPT TO:<user@[192.0.2.1]>",
            rcpt(addr("user", "[192.0.2.1]")),
        ),
        (
            "RCPT TO:<user@[IPv6:2001:db8::1]>",
            rcpt(addr("user", "[IPv6:2001:db8::1]")),
        ),
        // RFC 5321 §4.1.1.3 / appendix C: source route accepted, dropped.
        (
            "RCPT TO:<@hosta.int,@jkl.org:userc@d.bar.org>",
            rcpt(addr("userc", "d.bar.org")),
        ),
        (
            "RCPT TO:<first.last+tag@sub.example.org>",
            rcpt(addr("first.last+tag", "sub.example.org")),
        ),
        // RFC 6531: UTF-8 is parsed; the session checks SMTPUTF8.
        ("RCPT TO:<用户@例子.广告>", rcpt(addr("用户", "例子.广告"))),
        (
            "AUTH PLAIN",
            Command::Auth {
                mechanism: "PLAIN".into(),
                initial: None,
            },
        ),
        (
            "auth plain AHRlc3QAdGVzdA==",
            Command::Auth {
                mechanism: "PLAIN".into(),
                initial: Some("AHRlc3QAdGVzdA==".into()),
            },
        ),
        (
            "AUTH LOGIN =",
            Command::Auth {
                mechanism: "LOGIN".into(),
                initial: Some("=".into()),
            },
        ),
    ];
    for (line, want) in cases {
        assert_eq!(parse_command(line.as_bytes()), Ok(want), "{line}");
    }
}

#[test]
fn mail_parameters() {
    let from = Some(addr("a", "b.c"));
    let cases: Vec<(&str, MailParams)> = vec![
        // RFC 1870 §7 example, RFC 6152, RFC 6531, RFC 4954 §5.
        (
            "MAIL FROM:<a@b.c> SIZE=500000",
            MailParams {
                size: Some(500_000),
                ..Default::default()
            },
        ),
        (
            "MAIL FROM:<a@b.c> BODY=8BITMIME",
            MailParams {
                body: Some(Body::EightBitMime),
                ..Default::default()
            },
        ),
        (
            "MAIL FROM:<a@b.c> body=7bit smtputf8",
            MailParams {
                body: Some(Body::SevenBit),
                smtputf8: true,
                ..Default::default()
            },
        ),
        (
            "MAIL FROM:<a@b.c> AUTH=e+3Dmc2@example.com",
            MailParams {
                auth: Some("e=mc2@example.com".into()),
                ..Default::default()
            },
        ),
        (
            "MAIL FROM:<a@b.c> AUTH=<>",
            MailParams {
                auth: Some("<>".into()),
                ..Default::default()
            },
        ),
        // RFC 3461 §4.3, §4.4 (ENVID is xtext).
        (
            "MAIL FROM:<a@b.c> RET=HDRS ENVID=QQ314159+2Bx X-FOO",
            MailParams {
                ret: Some(Ret::Hdrs),
                envid: Some("QQ314159+x".into()),
                other: vec![("X-FOO".into(), None)],
                ..Default::default()
            },
        ),
        (
            "MAIL FROM:<a@b.c> ret=full",
            MailParams {
                ret: Some(Ret::Full),
                ..Default::default()
            },
        ),
    ];
    for (line, params) in cases {
        assert_eq!(
            parse_command(line.as_bytes()),
            Ok(mail(from.clone(), params)),
            "{line}"
        );
    }
    assert_eq!(
        parse_command(b"RCPT TO:<a@b.c> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;a+2Bx@b.c X-Y"),
        Ok(Command::Rcpt {
            to: addr("a", "b.c"),
            params: RcptParams {
                notify: Some(Notify {
                    success: true,
                    failure: true,
                    delay: false,
                }),
                orcpt: Some("rfc822;a+x@b.c".into()),
                other: vec![("X-Y".into(), None)],
            },
        })
    );
}

/// RFC 3461 §4.1-§4.4 parameters, the §6 example transcript's lines, and
/// the malformed forms.
#[test]
fn rfc3461_dsn_parameters() {
    let rcpt = |line: &str| match parse_command(line.as_bytes()) {
        Ok(Command::Rcpt { params, .. }) => Ok(params),
        Ok(other) => panic!("{other:?}"),
        Err(e) => Err(e),
    };
    let never = rcpt("RCPT TO:<b@c.d> NOTIFY=NEVER").unwrap();
    assert_eq!(never.notify, Some(Notify::default()));
    let delay = rcpt("RCPT TO:<b@c.d> notify=delay,Failure").unwrap();
    assert_eq!(
        delay.notify,
        Some(Notify {
            success: false,
            failure: true,
            delay: true
        })
    );
    let example =
        rcpt("RCPT TO:<Bob@Big-Bucks.com> NOTIFY=SUCCESS ORCPT=rfc822;Bob@Big-Bucks.com").unwrap();
    assert_eq!(example.orcpt.as_deref(), Some("rfc822;Bob@Big-Bucks.com"));
    for bad in [
        "RCPT TO:<b@c.d> NOTIFY=NEVER,SUCCESS",
        "RCPT TO:<b@c.d> NOTIFY=SUCCESS,SUCCESS",
        "RCPT TO:<b@c.d> NOTIFY=SOMETIMES",
        "RCPT TO:<b@c.d> NOTIFY",
        "RCPT TO:<b@c.d> NOTIFY=DELAY NOTIFY=DELAY",
        "RCPT TO:<b@c.d> ORCPT=b@c.d",
        "RCPT TO:<b@c.d> ORCPT=;b@c.d",
        "RCPT TO:<b@c.d> ORCPT=rfc822;",
        "RCPT TO:<b@c.d> ORCPT=rfc822;b+0Ac.d",
        "RCPT TO:<b@c.d> ORCPT=rfc822;b+zz",
    ] {
        assert!(
            matches!(rcpt(bad), Err(CommandError::Syntax(_))),
            "{bad} must be a syntax error"
        );
    }
    let long = format!("RCPT TO:<b@c.d> ORCPT=rfc822;{}", "x".repeat(600));
    assert!(rcpt(&long).is_err());
    for bad in [
        "MAIL FROM:<a@b.c> RET=ALL",
        "MAIL FROM:<a@b.c> RET=FULL RET=HDRS",
        "MAIL FROM:<a@b.c> ENVID=a+20b",
    ] {
        assert!(
            matches!(parse_command(bad.as_bytes()), Err(CommandError::Syntax(_))),
            "{bad}"
        );
    }
    let envid = format!("MAIL FROM:<a@b.c> ENVID={}", "x".repeat(101));
    assert!(parse_command(envid.as_bytes()).is_err());
}

#[test]
fn rfc3461_xtext_round_trip() {
    for s in [
        "QQ314159",
        "a+b=c",
        "rfc822;bob@example.test",
        "sp ace\u{e9}",
    ] {
        let enc = xtext_encode(s);
        assert!(
            enc.bytes().all(|b| (33..=126).contains(&b) && b != b'='),
            "{enc}"
        );
        assert_eq!(xtext_decode(&enc).as_deref(), Ok(s), "{enc}");
    }
    assert_eq!(xtext_encode("a+b=c d"), "a+2Bb+3Dc+20d");
}

#[test]
fn unknown_verbs() {
    for line in [
        "BDAT 100 LAST",
        "TURN",
        "XYZZY",
        "",
        "MAILFROM:<a@b.c>",
        "EHL0 x",
    ] {
        assert_eq!(
            parse_command(line.as_bytes()),
            Err(CommandError::Unknown),
            "{line}"
        );
    }
}

#[test]
fn malformed_commands() {
    let long_local = format!("RCPT TO:<{}@b.c>", "a".repeat(MAX_PATH_LEN));
    let lines: Vec<&str> = vec![
        "EHLO",
        "HELO ",
        "MAIL",
        "MAIL TO:<a@b.c>",
        "MAIL FROM:a@b.c",
        "MAIL FROM:<a@b.c",
        "MAIL FROM:<a@b.c>SIZE=1",
        "MAIL FROM:<a>",
        "MAIL FROM:<postmaster>",
        "MAIL FROM:<@b.c>",
        "MAIL FROM:<a@>",
        "MAIL FROM:<a..b@c.d>",
        "MAIL FROM:<.a@c.d>",
        "MAIL FROM:<a@-b.c>",
        "MAIL FROM:<a@b..c>",
        "MAIL FROM:<a b@c.d>",
        "MAIL FROM:<a@[300.1.1.1]>",
        "MAIL FROM:<a@[1.2.3]>",
        "MAIL FROM:<a@[IPv6:zz::1]>",
        "MAIL FROM:<\"unterminated@b.c>",
        "MAIL FROM:<@a.b:>",
        "MAIL FROM:<@a.b,c.d:x@y.z>",
        "MAIL FROM:<a@b.c> SIZE=abc",
        "MAIL FROM:<a@b.c> SIZE=-1",
        "MAIL FROM:<a@b.c> SIZE=99999999999999999999999",
        "MAIL FROM:<a@b.c> SIZE=1 SIZE=2",
        "MAIL FROM:<a@b.c> BODY=BINARYMIME",
        "MAIL FROM:<a@b.c> SMTPUTF8=yes",
        "MAIL FROM:<a@b.c> AUTH=+zz",
        "MAIL FROM:<a@b.c> AUTH=++1",
        "MAIL FROM:<a@b.c> =x",
        "MAIL FROM:<a@b.c> X=",
        "MAIL FROM:<a@b.c> -X",
        "RCPT TO:<>",
        "RCPT TO:",
        "RCPT TO:<a@b.c> junk=",
        &long_local,
        "DATA now",
        "QUIT please",
        "RSET x",
        "STARTTLS x",
        "VRFY",
        "EXPN",
        "AUTH",
        "AUTH PLAIN a b",
        "AUTH PL@IN",
        "AUTH ABCDEFGHIJKLMNOPQRSTU",
    ];
    for line in lines {
        assert!(
            matches!(parse_command(line.as_bytes()), Err(CommandError::Syntax(_))),
            "{line}: {:?}",
            parse_command(line.as_bytes())
        );
    }
    assert!(matches!(
        parse_command(b"MAIL FROM:<\xff@b.c>"),
        Err(CommandError::Syntax(_))
    ));
    assert!(matches!(
        parse_command(b"VRFY a\x01b"),
        Err(CommandError::Syntax(_))
    ));
}

#[test]
fn address_helpers() {
    assert_eq!(addr("Smith", "bar.com").to_string(), "Smith@bar.com");
    assert_eq!(addr("postmaster", "").to_string(), "postmaster");
    assert!(addr("POSTMASTER", "").is_postmaster());
    assert!(!addr("postmaster", "b.c").is_postmaster());
    assert!(addr("a", "b.c").is_ascii());
    assert!(!addr("用户", "b.c").is_ascii());
    assert!(!addr("a", "例子.广告").is_ascii());
}

#[test]
fn never_panics_on_arbitrary_prefixes() {
    let line = r#"MAIL FROM:<@a.b,@c.d:"q\"x"@[IPv6:::1]> SIZE=10 AUTH=+41 BODY=8BITMIME"#;
    for i in 0..=line.len() {
        let _ = parse_command(&line.as_bytes()[..i]);
    }
    assert!(parse_command(line.as_bytes()).is_ok());
}
