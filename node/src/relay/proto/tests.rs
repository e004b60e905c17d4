use super::*;

fn tx(rcpts: &[&str], message: &[u8]) -> Transaction {
    Transaction {
        helo_name: "mx.example.test".into(),
        return_path: "pm@example.test".into(),
        recipients: rcpts.iter().map(|s| s.to_string()).collect(),
        message: message.to_vec(),
        starttls: StartTls::Opportunistic,
        ret: None,
        envid: None,
        rcpt_dsn: Vec::new(),
    }
}

/// Feeds each server reply in turn and returns everything the client sent, as text.
fn converse(session: &mut ClientSession, replies: &[&str]) -> Vec<String> {
    let mut sent = Vec::new();
    for reply in replies {
        for action in session.feed(reply.as_bytes()).unwrap() {
            match action {
                Action::Send(b) => sent.push(String::from_utf8(b).unwrap()),
                Action::StartTls => sent.push("<TLS>".into()),
                Action::Close => sent.push("<CLOSE>".into()),
            }
        }
    }
    sent
}

fn codes(replies: &[Reply]) -> Vec<u16> {
    replies.iter().map(|r| r.code).collect()
}

#[test]
fn reply_reader_multiline_and_enhanced_code_at_every_split() {
    let wire = b"250-mx.remote.test hello\r\n250-PIPELINING\r\n250 SIZE 1000\r\n550 5.1.1 <x@y>: no such user\r\n";
    for split in 0..=wire.len() {
        let mut r = ReplyReader::default();
        let mut got = r.feed(&wire[..split]).unwrap();
        got.extend(r.feed(&wire[split..]).unwrap());
        assert_eq!(got.len(), 2, "split {split}");
        assert_eq!(got[0].code, 250);
        assert_eq!(got[0].text, "mx.remote.test hello\nPIPELINING\nSIZE 1000");
        assert_eq!(got[1].enhanced, Some((5, 1, 1)));
        assert_eq!(got[1].text, "<x@y>: no such user");
        assert_eq!(reply_line(&got[1]), "550 5.1.1 <x@y>: no such user");
    }
}

#[test]
fn reply_reader_rejects_garbage_and_mixed_codes() {
    let mut r = ReplyReader::default();
    assert!(matches!(
        r.feed(b"hello\r\n"),
        Err(ProtoError::Malformed(_))
    ));
    let mut r = ReplyReader::default();
    assert_eq!(
        r.feed(b"250-a\r\n251 b\r\n"),
        Err(ProtoError::MixedCodes(250, 251))
    );
    // An enhanced code whose class disagrees with the reply code is text, not a code.
    let mut r = ReplyReader::default();
    let got = r.feed(b"250 5.0.0 odd\n").unwrap();
    assert_eq!(got[0].enhanced, None);
    assert_eq!(got[0].text, "5.0.0 odd");
}

#[test]
fn reply_reader_bounds_an_endless_line() {
    let mut r = ReplyReader::default();
    r.feed(b"250 ").unwrap();
    r.feed(&vec![b'x'; 3 * MAX_REPLY_LINE]).unwrap();
    let got = r.feed(b"\r\n").unwrap();
    assert_eq!(got[0].code, 250);
    assert!(got[0].text.len() < MAX_REPLY_LINE);
}

#[test]
fn capabilities_from_ehlo() {
    let reply = ReplyReader::default()
        .feed(b"250-mx hi\r\n250-8BITMIME\r\n250-size 2048\r\n250-STARTTLS\r\n250-SMTPUTF8\r\n250 PIPELINING\r\n")
        .unwrap()
        .remove(0);
    let caps = Capabilities::from_ehlo(&reply);
    assert_eq!(
        caps,
        Capabilities {
            starttls: true,
            pipelining: true,
            eight_bit_mime: true,
            smtputf8: true,
            size: Some(2048),
            dsn: false,
        }
    );
    let bare = Reply::plain(250, "mx\nSIZE");
    assert_eq!(Capabilities::from_ehlo(&bare).size, Some(0));
}

/// RFC 5321 Appendix D.1 (a typical transaction), without extensions.
#[test]
fn rfc5321_d1_transaction_one_command_at_a_time() {
    let mut s = ClientSession::new(tx(
        &["jones@beta.test", "green@beta.test", "brown@beta.test"],
        b"Blah\r\n",
    ));
    let sent = converse(
        &mut s,
        &[
            "220 beta.test Simple Mail Transfer Service Ready\r\n",
            "250-beta.test greets mx\r\n250 HELP\r\n",
            "250 OK\r\n",
            "250 OK\r\n",
            "550 No such user here\r\n",
            "250 OK\r\n",
            "354 Start mail input; end with <CRLF>.<CRLF>\r\n",
            "250 OK\r\n",
            "221 beta.test Service closing transmission channel\r\n",
        ],
    );
    assert_eq!(
        sent,
        [
            "EHLO mx.example.test\r\n",
            "MAIL FROM:<pm@example.test>\r\n",
            "RCPT TO:<jones@beta.test>\r\n",
            "RCPT TO:<green@beta.test>\r\n",
            "RCPT TO:<brown@beta.test>\r\n",
            "DATA\r\n",
            "Blah\r\n.\r\n",
            "QUIT\r\n",
            "<CLOSE>",
        ]
    );
    assert!(s.is_done());
    let results = s.finish(&Reply::plain(451, "lost"));
    assert_eq!(codes(&results), [250, 550, 250]);
    assert_eq!(results[1].text, "No such user here");
}

#[test]
fn rfc2920_pipelined_envelope_with_size_and_8bitmime() {
    let message = "Subject: cafe\r\n\r\ncaf\u{e9}\r\n.hidden\r\n".as_bytes();
    let mut s = ClientSession::new(tx(&["a@r.test", "b@r.test"], message));
    let sent = converse(
        &mut s,
        &[
            "220 r.test ESMTP\r\n",
            "250-r.test\r\n250-PIPELINING\r\n250-8BITMIME\r\n250 SIZE 100000\r\n",
            "250 2.1.0 ok\r\n250 2.1.5 ok\r\n451 4.2.1 try later\r\n354 go\r\n",
            "250 2.0.0 queued as X\r\n",
            "221 bye\r\n",
        ],
    );
    assert_eq!(
        sent,
        [
            "EHLO mx.example.test\r\n".to_string(),
            format!(
                "MAIL FROM:<pm@example.test> SIZE={} BODY=8BITMIME\r\nRCPT TO:<a@r.test>\r\nRCPT TO:<b@r.test>\r\nDATA\r\n",
                message.len()
            ),
            "Subject: cafe\r\n\r\ncaf\u{e9}\r\n..hidden\r\n.\r\n".to_string(),
            "QUIT\r\n".to_string(),
            "<CLOSE>".to_string(),
        ]
    );
    let results = s.finish(&Reply::plain(451, "lost"));
    assert_eq!(codes(&results), [250, 451]);
    assert_eq!(results[0].enhanced, Some((2, 0, 0)));
}

#[test]
fn pipelined_mail_refusal_consumes_the_rest_and_fails_everyone() {
    let mut s = ClientSession::new(tx(&["a@r.test", "b@r.test"], b"x\r\n"));
    let sent = converse(
        &mut s,
        &[
            "220 r.test\r\n",
            "250-r.test\r\n250 PIPELINING\r\n",
            "550 5.7.1 sender refused\r\n503 no mail\r\n503 no mail\r\n554 no valid recipients\r\n",
            "221 bye\r\n",
        ],
    );
    assert_eq!(sent.last().unwrap(), "<CLOSE>");
    assert_eq!(sent[sent.len() - 2], "QUIT\r\n");
    let results = s.finish(&Reply::plain(451, "lost"));
    assert_eq!(codes(&results), [550, 550]);
}

#[test]
fn rfc2920_data_accepted_without_recipients_sends_an_empty_message() {
    let mut s = ClientSession::new(tx(&["a@r.test"], b"x\r\n"));
    let sent = converse(
        &mut s,
        &[
            "220 r.test\r\n",
            "250-r.test\r\n250 PIPELINING\r\n",
            "250 ok\r\n550 no\r\n354 go\r\n",
            "554 no valid recipients\r\n",
        ],
    );
    assert_eq!(sent[2], ".\r\n");
    assert_eq!(sent[3], "QUIT\r\n");
    let results = s.finish(&Reply::plain(451, "lost"));
    assert_eq!(codes(&results), [550]);
}

#[test]
fn all_recipients_refused_skips_data() {
    let mut s = ClientSession::new(tx(&["a@r.test"], b"x\r\n"));
    let sent = converse(
        &mut s,
        &[
            "220 r\r\n",
            "250 r\r\n",
            "250 ok\r\n",
            "550 5.1.1 unknown\r\n",
        ],
    );
    assert_eq!(sent.last().unwrap(), "QUIT\r\n");
    assert_eq!(codes(&s.finish(&Reply::plain(451, "lost"))), [550]);
}

#[test]
fn rfc5321_4_1_4_helo_fallback_when_ehlo_is_unknown() {
    let mut s = ClientSession::new(tx(&["a@r.test"], b"x\r\n"));
    let sent = converse(
        &mut s,
        &["220 old\r\n", "502 what?\r\n", "250 old\r\n", "250 ok\r\n"],
    );
    assert_eq!(sent[1], "HELO mx.example.test\r\n");
    // HELO gives no extensions: plain MAIL without parameters.
    assert_eq!(sent[2], "MAIL FROM:<pm@example.test>\r\n");
    assert_eq!(sent[3], "RCPT TO:<a@r.test>\r\n");
}

#[test]
fn rfc3207_starttls_then_ehlo_again() {
    let mut s = ClientSession::new(tx(&["a@r.test"], b"x\r\n"));
    let sent = converse(
        &mut s,
        &[
            "220 r\r\n",
            "250-r\r\n250-STARTTLS\r\n250 SIZE\r\n",
            "220 2.0.0 go ahead\r\n",
        ],
    );
    assert_eq!(sent[1], "STARTTLS\r\n");
    assert_eq!(sent[2], "<TLS>");
    let again = s.tls_started();
    assert_eq!(
        again,
        vec![Action::Send(b"EHLO mx.example.test\r\n".to_vec())]
    );
    assert!(s.is_tls());
    assert_eq!(s.capabilities(), &Capabilities::default());
    let sent = converse(&mut s, &["250-r\r\n250-STARTTLS\r\n250 SIZE\r\n"]);
    // Never STARTTLS twice.
    assert_eq!(sent, ["MAIL FROM:<pm@example.test> SIZE=3\r\n"]);
}

#[test]
fn refused_starttls_continues_in_clear_and_disabled_starttls_is_not_tried() {
    let mut s = ClientSession::new(tx(&["a@r.test"], b"x\r\n"));
    let sent = converse(
        &mut s,
        &[
            "220 r\r\n",
            "250-r\r\n250 STARTTLS\r\n",
            "454 4.7.0 TLS not available\r\n",
        ],
    );
    assert_eq!(sent[2], "MAIL FROM:<pm@example.test>\r\n");

    let mut t = tx(&["a@r.test"], b"x\r\n");
    t.starttls = StartTls::Never;
    let mut s = ClientSession::new(t);
    let sent = converse(&mut s, &["220 r\r\n", "250-r\r\n250 STARTTLS\r\n"]);
    assert_eq!(sent[1], "MAIL FROM:<pm@example.test>\r\n");
}

#[test]
fn greeting_refusal_settles_everyone_with_its_code() {
    let mut s = ClientSession::new(tx(&["a@r.test", "b@r.test"], b"x\r\n"));
    let sent = converse(&mut s, &["421 4.3.2 busy\r\n"]);
    assert_eq!(sent, ["QUIT\r\n"]);
    assert_eq!(codes(&s.finish(&Reply::plain(451, "lost"))), [421, 421]);
}

#[test]
fn rfc1870_oversize_message_is_not_sent() {
    let mut s = ClientSession::new(tx(&["a@r.test"], &[b'x'; 100]));
    let sent = converse(&mut s, &["220 r\r\n", "250-r\r\n250 SIZE 10\r\n"]);
    assert_eq!(sent, ["EHLO mx.example.test\r\n", "QUIT\r\n"]);
    let results = s.finish(&Reply::plain(451, "lost"));
    assert_eq!(results[0].code, 552);
}

#[test]
fn connection_lost_after_data_defers_the_accepted() {
    let mut s = ClientSession::new(tx(&["a@r.test", "b@r.test"], b"x\r\n"));
    converse(
        &mut s,
        &[
            "220 r\r\n",
            "250 r\r\n",
            "250 ok\r\n",
            "250 ok\r\n",
            "550 no\r\n",
            "354 go\r\n",
        ],
    );
    assert!(!s.is_done());
    let results = s.finish(&Reply::new(451, "4.4.2", "connection lost"));
    assert_eq!(codes(&results), [451, 550]);
}

#[test]
fn unexpected_reply_is_an_error() {
    let mut s = ClientSession::new(tx(&["a@r.test"], b"x\r\n"));
    converse(
        &mut s,
        &["220 r\r\n", "502 no\r\n", "502 no\r\n", "221 bye\r\n"],
    );
    assert!(s.is_done());
    assert_eq!(s.feed(b"250 extra\r\n"), Err(ProtoError::Unexpected(250)));
}

#[test]
fn rfc5321_4_5_2_dot_stuffing() {
    assert_eq!(
        dot_stuff(b".a\r\nb\r\n..c\r\n"),
        b"..a\r\nb\r\n...c\r\n.\r\n"
    );
    assert_eq!(dot_stuff(b"no newline"), b"no newline\r\n.\r\n");
    assert_eq!(dot_stuff(b"bare\nlf\n.x"), b"bare\r\nlf\r\n..x\r\n.\r\n");
    assert_eq!(dot_stuff(b""), b".\r\n");
    assert_eq!(dot_stuff(b"a\r\n.\r\n"), b"a\r\n..\r\n.\r\n");
}

/// RFC 3461 §5.2.1: the DSN parameters go on to a server that offers DSN, and only to one.
#[test]
fn rfc3461_dsn_parameters_passed_on_only_when_offered() {
    let dsn_tx = || {
        let mut t = tx(&["a@beta.test", "b@beta.test", "c@beta.test"], b"x\r\n");
        t.ret = Some(DsnRet::Hdrs);
        t.envid = Some("QQ 31".into());
        t.rcpt_dsn = vec![
            RcptDsn {
                notify: Some(cluster::Notify {
                    success: true,
                    failure: true,
                    delay: false,
                }),
                orcpt: Some("rfc822;A+x@beta.test".into()),
            },
            RcptDsn {
                notify: Some(cluster::Notify::default()),
                orcpt: None,
            },
        ];
        t
    };
    let mut s = ClientSession::new(dsn_tx());
    let sent = converse(
        &mut s,
        &["220 beta\r\n", "250-beta\r\n250-PIPELINING\r\n250 DSN\r\n"],
    );
    assert_eq!(
        sent,
        [
            "EHLO mx.example.test\r\n",
            "MAIL FROM:<pm@example.test> RET=HDRS ENVID=QQ+2031\r\n\
             RCPT TO:<a@beta.test> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;A+2Bx@beta.test\r\n\
             RCPT TO:<b@beta.test> NOTIFY=NEVER\r\n\
             RCPT TO:<c@beta.test>\r\nDATA\r\n",
        ]
    );
    assert!(s.capabilities().dsn);
    let mut s = ClientSession::new(dsn_tx());
    let sent = converse(&mut s, &["220 beta\r\n", "250-beta\r\n250 PIPELINING\r\n"]);
    assert_eq!(
        sent[1],
        "MAIL FROM:<pm@example.test>\r\nRCPT TO:<a@beta.test>\r\n\
         RCPT TO:<b@beta.test>\r\nRCPT TO:<c@beta.test>\r\nDATA\r\n"
    );
}

/// Runs a pipelined session against a server announcing `ehlo_keywords`, all recipients
/// accepted; returns what was sent and the results.
fn run_with(keywords: &str, t: Transaction) -> (Vec<String>, Vec<Reply>, bool) {
    let mut s = ClientSession::new(t);
    let ehlo = format!("250-r.test\r\n250-PIPELINING\r\n{keywords}250 SIZE 100000\r\n");
    let mut sent = converse(&mut s, &["220 r.test ESMTP\r\n", &ehlo]);
    if sent.last().is_some_and(|l| l.starts_with("MAIL")) {
        let n = s.tx.recipients.len();
        let replies = format!("250 ok\r\n{}354 go\r\n", "250 ok\r\n".repeat(n));
        sent.extend(converse(
            &mut s,
            &[&replies, "250 2.0.0 queued\r\n", "221 bye\r\n"],
        ));
    } else {
        sent.extend(converse(&mut s, &["221 bye\r\n"]));
    }
    let converted = s.converted_to_7bit();
    (sent, s.finish(&Reply::plain(451, "lost")), converted)
}

#[test]
fn rfc6152_3_an_8bit_body_is_converted_for_a_host_without_8bitmime() {
    let message = "Subject: x\r\nContent-Type: text/plain; charset=utf-8\r\n\r\ncaf\u{e9}\r\n";
    let (sent, results, converted) = run_with("", tx(&["a@r.test"], message.as_bytes()));
    assert!(converted);
    assert!(
        sent[1].starts_with("MAIL FROM:<pm@example.test> SIZE="),
        "{sent:?}"
    );
    assert!(!sent[1].contains("BODY="), "{sent:?}");
    assert!(sent[2].is_ascii(), "{sent:?}");
    assert!(sent[2].contains("Content-Transfer-Encoding: quoted-printable\r\n"));
    assert!(sent[2].contains("caf=C3=A9\r\n"), "{sent:?}");
    assert_eq!(codes(&results), [250]);
    // The SIZE parameter counts the converted message.
    let size: usize = sent[1]
        .split("SIZE=")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(size, sent[2].len() - ".\r\n".len());

    let (sent, _, converted) = run_with("250-8BITMIME\r\n", tx(&["a@r.test"], message.as_bytes()));
    assert!(!converted);
    assert!(sent[1].contains(" BODY=8BITMIME\r\n"), "{sent:?}");
}

#[test]
fn rfc6152_3_unconvertible_8bit_fails_everyone_with_5_6_3() {
    let message = "Subject: x\r\nContent-Transfer-Encoding: base64\r\n\r\n\u{e9}\r\n";
    let (sent, results, _) = run_with("", tx(&["a@r.test", "b@r.test"], message.as_bytes()));
    assert_eq!(sent[1], "QUIT\r\n", "{sent:?}");
    assert_eq!(codes(&results), [554, 554]);
    assert_eq!(results[0].enhanced, Some((5, 6, 3)));
}

#[test]
fn rfc6531_3_2_utf8_addresses_and_headers_need_smtputf8() {
    let utf8_rcpt = tx(&["j\u{f6}rg@r.test"], b"Subject: x\r\n\r\nhi\r\n");
    let (sent, results, _) = run_with("250-8BITMIME\r\n", utf8_rcpt.clone());
    assert_eq!(sent[1], "QUIT\r\n", "{sent:?}");
    assert_eq!(
        (results[0].code, results[0].enhanced),
        (553, Some((5, 6, 7)))
    );
    let (sent, results, _) = run_with("250-8BITMIME\r\n250-SMTPUTF8\r\n", utf8_rcpt);
    assert!(sent[1].contains(" SMTPUTF8\r\n"), "{sent:?}");
    assert_eq!(codes(&results), [250]);

    let utf8_subject = "Subject: Gr\u{fc}\u{df}e\r\n\r\nhi\r\n".as_bytes();
    let (sent, results, _) = run_with("250-8BITMIME\r\n", tx(&["a@r.test"], utf8_subject));
    assert_eq!(sent[1], "QUIT\r\n", "{sent:?}");
    assert_eq!(
        (results[0].code, results[0].enhanced),
        (554, Some((5, 6, 9)))
    );
    let (sent, _, _) = run_with(
        "250-8BITMIME\r\n250-SMTPUTF8\r\n",
        tx(&["a@r.test"], utf8_subject),
    );
    assert!(sent[1].contains(" BODY=8BITMIME SMTPUTF8\r\n"), "{sent:?}");
}

#[test]
fn rfc3207_required_tls_is_never_given_up_for_clear_text() {
    let mut t = tx(&["a@r.test"], b"x\r\n");
    t.starttls = StartTls::Required;
    let (sent, results, _) = run_with("", t.clone());
    assert_eq!(sent[1], "QUIT\r\n", "{sent:?}");
    assert_eq!(
        (results[0].code, results[0].enhanced),
        (451, Some((4, 7, 4)))
    );

    let mut s = ClientSession::new(t.clone());
    let sent = converse(
        &mut s,
        &[
            "220 r\r\n",
            "250-r\r\n250 STARTTLS\r\n",
            "454 4.7.0 TLS not available\r\n",
        ],
    );
    assert_eq!(sent[2], "QUIT\r\n");
    let results = s.finish(&Reply::plain(451, "lost"));
    assert_eq!(results[0].enhanced, Some((4, 7, 4)));
    assert!(
        results[0].text.contains("454 4.7.0 TLS not available"),
        "{:?}",
        results[0]
    );

    let mut s = ClientSession::new(t);
    let sent = converse(
        &mut s,
        &["220 r\r\n", "250-r\r\n250 STARTTLS\r\n", "220 go\r\n"],
    );
    assert_eq!(sent[2], "<TLS>");
    let sent = s.tls_started();
    assert_eq!(sent, [Action::Send(b"EHLO mx.example.test\r\n".to_vec())]);
    let sent = converse(&mut s, &["250 r\r\n"]);
    assert_eq!(sent, ["MAIL FROM:<pm@example.test>\r\n"]);
}
