use super::*;

fn sec(part: &[u32], text: Option<SectionText>) -> Section {
    Section {
        part: part.to_vec(),
        text,
    }
}

fn s(b: Option<Vec<u8>>) -> String {
    String::from_utf8(b.expect("section exists")).unwrap()
}

const SIMPLE: &[u8] = b"Date: Wed, 17 Jul 1996 02:23:25 -0700 (PDT)\r\n\
From: Terry Gray <gray@cac.washington.edu>\r\n\
Subject: IMAP4rev1 WG mtg summary and minutes\r\n\
To: imap@cac.washington.edu\r\n\
cc: minutes@CNRI.Reston.VA.US,\r\n John Klensin <KLENSIN@MIT.EDU>\r\n\
Message-Id: <B27397-0100000@cac.washington.edu>\r\n\
\r\n\
Hello\r\nworld\r\n";

#[test]
fn rfc9051_envelope_example_shape() {
    let p = Parsed::new(SIMPLE);
    assert_eq!(
        String::from_utf8(p.envelope()).unwrap(),
        "(\"Wed, 17 Jul 1996 02:23:25 -0700 (PDT)\" \"IMAP4rev1 WG mtg summary and minutes\" \
((\"Terry Gray\" NIL \"gray\" \"cac.washington.edu\")) ((\"Terry Gray\" NIL \"gray\" \"cac.washington.edu\")) \
((\"Terry Gray\" NIL \"gray\" \"cac.washington.edu\")) ((NIL NIL \"imap\" \"cac.washington.edu\")) \
((NIL NIL \"minutes\" \"CNRI.Reston.VA.US\")(\"John Klensin\" NIL \"KLENSIN\" \"MIT.EDU\")) NIL NIL \
\"<B27397-0100000@cac.washington.edu>\")"
    );
    assert_eq!(
        String::from_utf8(p.body_structure(false)).unwrap(),
        "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 14 2)"
    );
}

#[test]
fn simple_sections() {
    let p = Parsed::new(SIMPLE);
    let header = s(p.section(&sec(&[], Some(SectionText::Header))));
    assert!(header.starts_with("Date:") && header.ends_with("\r\n\r\n"));
    assert_eq!(
        s(p.section(&sec(&[], Some(SectionText::Text)))),
        "Hello\r\nworld\r\n"
    );
    assert_eq!(s(p.section(&sec(&[1], None))), "Hello\r\nworld\r\n");
    assert_eq!(s(p.section(&sec(&[], None))).as_bytes(), SIMPLE);
    assert_eq!(
        s(p.section(&sec(
            &[],
            Some(SectionText::HeaderFields {
                not: false,
                fields: vec!["CC".into(), "subject".into()]
            })
        ))),
        "Subject: IMAP4rev1 WG mtg summary and minutes\r\ncc: minutes@CNRI.Reston.VA.US,\r\n John Klensin <KLENSIN@MIT.EDU>\r\n\r\n"
    );
    assert_eq!(p.section(&sec(&[2], None)), None);
}

const MULTI: &[u8] = b"From: a@b.c\r\nSubject: multi\r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=\"XX\"\r\n\r\n\
preamble\r\n--XX\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nfirst part\r\n\
--XX\r\nContent-Type: message/rfc822\r\n\r\nSubject: inner\r\nFrom: x@y.z\r\n\r\ninner body\r\n\
--XX\r\nContent-Type: application/pdf; name=\"a.pdf\"\r\nContent-Disposition: attachment; filename=\"a.pdf\"\r\n\
Content-Transfer-Encoding: base64\r\n\r\nJVBERi0=\r\n--XX--\r\n";

#[test]
fn multipart_sections_and_structure() {
    let p = Parsed::new(MULTI);
    assert_eq!(s(p.section(&sec(&[1], None))), "first part");
    assert_eq!(
        s(p.section(&sec(&[1], Some(SectionText::Mime)))),
        "Content-Type: text/plain; charset=utf-8\r\n\r\n"
    );
    assert_eq!(s(p.section(&sec(&[2, 1], None))), "inner body");
    assert_eq!(
        s(p.section(&sec(&[2], Some(SectionText::Header)))),
        "Subject: inner\r\nFrom: x@y.z\r\n\r\n"
    );
    assert_eq!(s(p.section(&sec(&[3], None))), "JVBERi0=");
    assert_eq!(p.section(&sec(&[4], None)), None);
    assert_eq!(p.section(&sec(&[1, 1, 1], None)), None);
    let bs = String::from_utf8(p.body_structure(true)).unwrap();
    assert!(bs.starts_with("((\"text\" \"plain\" (\"charset\" \"utf-8\") NIL NIL \"7bit\" 10 0 NIL NIL NIL NIL)(\"message\" \"rfc822\" NIL NIL NIL \"7bit\" "), "{bs}");
    assert!(bs.contains("(\"application\" \"pdf\" (\"name\" \"a.pdf\") NIL NIL \"base64\" 8 NIL (\"attachment\" (\"filename\" \"a.pdf\")) NIL NIL)"), "{bs}");
    assert!(
        bs.ends_with(" \"mixed\" (\"boundary\" \"XX\") NIL NIL NIL)"),
        "{bs}"
    );
    assert!(p.body_contains("inner body"));
    assert!(p.header_contains("Subject", "multi"));
}

#[test]
fn malformed_messages_do_not_panic() {
    let cases: &[&[u8]] = &[
        b"",
        b"\r\n",
        b"no header at all",
        b"Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\n",
        b"Content-Type: multipart/mixed\r\n\r\nbody",
        b"Content-Type: message/rfc822\r\n\r\n",
        b"From: <<<@@@>>>\r\nTo: ,,,\r\nSubject: =?bad?x?y?=\r\n\r\n\xff\xfe",
    ];
    for case in cases {
        let p = Parsed::new(case);
        let _ = p.envelope();
        let _ = p.body_structure(true);
        for part in [&[][..], &[1], &[1, 1], &[2], &[1, 2, 3]] {
            for text in [
                None,
                Some(SectionText::Header),
                Some(SectionText::Text),
                Some(SectionText::Mime),
            ] {
                let _ = p.section(&sec(part, text));
            }
        }
        let _ = p.text_contains("x");
        let _ = p.sent_day();
    }
}

/// The shape of imaptest's `fetch-body-message-rfc822-mime`: a
/// message/rfc822 whose multipart body has an epilogue.
const DIGEST: &[u8] = b"From: user@domain.org\r\nMime-Version: 1.0\r\n\
Content-Type: message/rfc822\r\n\r\n\
From: sub@domain.org\r\nSubject: submsg\r\n\
Content-Type: multipart/digest; boundary=\"foo\"\r\n\r\n\
prologue\r\n\r\n--foo \r\n\r\nFrom: m1@example.com\r\nSubject: m1\r\n\r\nm1 body\r\n\r\n\
--foo--\r\n\r\nepilogue\r\n";

/// RFC 9051 §6.4.5: TEXT of an encapsulated message is its whole body,
/// through the epilogue of its multipart, as is TEXT of the top level.
#[test]
fn rfc9051_6_4_5_text_of_encapsulated_multipart_keeps_epilogue() {
    let p = Parsed::new(DIGEST);
    let text = s(p.section(&sec(&[1], Some(SectionText::Text))));
    assert!(text.starts_with("prologue\r\n"), "{text:?}");
    assert!(text.ends_with("--foo--\r\n\r\nepilogue\r\n"), "{text:?}");
    let whole = s(p.section(&sec(&[1], None)));
    assert!(whole.ends_with(&text), "{whole:?}");
    assert_eq!(
        s(p.section(&sec(&[1], Some(SectionText::Header)))),
        "From: sub@domain.org\r\nSubject: submsg\r\nContent-Type: multipart/digest; boundary=\"foo\"\r\n\r\n"
    );
    let top = s(p.section(&sec(&[], Some(SectionText::Text))));
    assert!(top.ends_with("epilogue\r\n"), "{top:?}");
    let mixed = s(Parsed::new(MULTI).section(&sec(&[2], Some(SectionText::Text))));
    assert_eq!(mixed, "inner body");
}

const GROUPS: &[u8] = b"From: user@domain (Real Name)\r\n\
To: group: g1@d1.org, g2@d2.org;, group2: g3@d3.org;\r\n\
Cc: group:;, group2: (foo) ;\r\n\r\nbody\r\n";

/// RFC 9051 §7.5.2: a group is `(NIL NIL name NIL)`, its members, and
/// `(NIL NIL NIL NIL)`; a comment alone is no member.
#[test]
fn rfc9051_7_5_2_envelope_groups() {
    let env = String::from_utf8(Parsed::new(GROUPS).envelope()).unwrap();
    assert!(
        env.contains(
            " ((NIL NIL \"group\" NIL)(NIL NIL \"g1\" \"d1.org\")(NIL NIL \"g2\" \"d2.org\")\
(NIL NIL NIL NIL)(NIL NIL \"group2\" NIL)(NIL NIL \"g3\" \"d3.org\")(NIL NIL NIL NIL)) \
((NIL NIL \"group\" NIL)(NIL NIL NIL NIL)(NIL NIL \"group2\" NIL)(NIL NIL NIL NIL)) NIL"
        ),
        "{env}"
    );
    assert!(
        env.contains("((\"Real Name\" NIL \"user\" \"domain\"))"),
        "{env}"
    );
}

/// RFC 5256 §3: the sort key is the addr-mailbox of the first address,
/// which for a group is its name.
#[test]
fn rfc5256_3_first_mailbox_of_a_group_is_its_name() {
    let p = Parsed::new(GROUPS);
    assert_eq!(p.first_mailbox("To"), "group");
    assert_eq!(p.first_mailbox("From"), "user");
    let plain = Parsed::new(b"Cc: user2@domain2.org (foo bar)\r\n\r\n");
    assert_eq!(plain.first_mailbox("Cc"), "user2");
    assert_eq!(plain.first_mailbox("To"), "");
}

/// RFC 9051 §7.5.2: an empty Sender or Reply-To defaults to From, and a
/// source route goes in the second field (imaptest `fetch-envelope`).
#[test]
fn rfc9051_7_5_2_empty_sender_and_source_route() {
    let env = |m: &[u8]| String::from_utf8(Parsed::new(m).envelope()).unwrap();
    let from = "((\"Real Name\" NIL \"user\" \"domain\"))";
    assert_eq!(
        env(b"From: user@domain (Real Name)\r\nSender: \r\nReply-To: \r\n\r\nbody\r\n"),
        format!("(NIL NIL {from} {from} {from} NIL NIL NIL NIL NIL)")
    );
    let route = "((NIL \"@route\" \"user\" \"domain\"))";
    assert_eq!(
        env(b"From: <@route:user@domain>\r\n\r\nbody\r\n"),
        format!("(NIL NIL {route} {route} {route} NIL NIL NIL NIL NIL)")
    );
}

/// imaptest's fetch-binary-mime-base64 message (base64 parts with odd
/// spacing, one decoding to CR and LF alone).
const BASE64_PARTS: &[u8] = b"From: user@domain.org\r\n\
Mime-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=\"foo\"\r\n\
\r\n\
--foo\r\n\
Content-Transfer-Encoding: base64\r\n\
\r\n\
\r\n\
aGVs\r\nbG8gd29y\r\nbGQ=\r\n\
\r\n\
--foo\r\n\
Content-Transfer-Encoding: BASE64\r\n\
\r\n\
  aGVs    \r\n bG8g  \r\n   d29y  \t \r\n    bGQ= \r\n\
\r\n\
--foo\r\n\
Content-Transfer-Encoding: x-uuencode\r\n\
\r\n\
begin 644 x\r\n\
\r\n\
--foo\r\n\
Content-Transfer-Encoding: base64\r\n\
\r\n\
YWJjZGVmZw1oaWprbA0KbW5vCnBxcnN0dXZxeHl6\r\n\
\r\n\
--foo--\r\n";

/// RFC 3516 §4.2: BINARY[part] undoes the part's encoding; BINARY[] of
/// a multipart message is the message as it is.
#[test]
fn rfc3516_binary_sections() {
    let p = Parsed::new(BASE64_PARTS);
    assert_eq!(p.binary(&[1]), Some(Ok(b"hello world".to_vec())));
    assert_eq!(p.binary(&[2]), Some(Ok(b"hello world".to_vec())));
    assert_eq!(p.binary(&[3]), Some(Err(UnknownCte)));
    assert_eq!(
        p.binary(&[4]),
        Some(Ok(b"abcdefg\rhijkl\r\nmno\npqrstuvqxyz".to_vec()))
    );
    assert_eq!(p.binary(&[]), Some(Ok(BASE64_PARTS.to_vec())));
    assert_eq!(p.binary(&[5]), None);
    assert_eq!(p.binary(&[1, 1]), None);
    // A single-part message: part 1 is its body; the whole message says
    // `binary` in its header after decoding.
    let single =
        b"Subject: x\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\na=3Db=\r\nc\r\n";
    let p = Parsed::new(single);
    assert_eq!(p.binary(&[1]), Some(Ok(b"a=bc\r\n".to_vec())));
    assert_eq!(
        p.binary(&[]),
        Some(Ok(
            b"Subject: x\r\nContent-Transfer-Encoding: binary\r\n\r\na=bc\r\n".to_vec()
        ))
    );
    // No encoding: BINARY is BODY.
    let p = Parsed::new(SIMPLE);
    assert_eq!(p.binary(&[]), Some(Ok(SIMPLE.to_vec())));
    assert_eq!(p.binary(&[1]), Some(Ok(b"Hello\r\nworld\r\n".to_vec())));
}

/// imaptest's append-binary message: a `binary` part with NUL, 8-bit
/// data and bare line ends.
const BINARY_APPEND: &[u8] = b"From: user@domain.org\r\n\
Content-Type: application/octet-stream\r\n\
Content-Transfer-Encoding: binary\r\n\
\r\n\
\0-\xe4\n\r\n\n";

/// RFC 3516 §4.3: binary parts of a `literal8` APPEND are stored as
/// base64 and come back unchanged through BINARY.
#[test]
fn rfc3516_append_binary_is_stored_as_base64() {
    let stored = store_binary(BINARY_APPEND, true)
        .expect("storable")
        .expect("rewritten");
    assert!(!stored.contains(&0));
    let p = Parsed::new(&stored);
    assert_eq!(p.binary(&[1]), Some(Ok(b"\0-\xe4\n\r\n\n".to_vec())));
    let header = p.section(&sec(&[], Some(SectionText::Header))).unwrap();
    let header = String::from_utf8(header).unwrap();
    assert!(
        header.contains("Content-Transfer-Encoding: base64\r\n"),
        "{header}"
    );
    assert!(!header.contains("binary"), "{header}");
    assert!(header.starts_with("From: user@domain.org\r\n"), "{header}");

    // In a multipart: only the binary part changes.
    let multi = b"Content-Type: multipart/mixed; boundary=b\r\n\r\n\
--b\r\nContent-Type: text/plain\r\n\r\nhi\r\n\
--b\r\nContent-Type: image/png\r\nContent-Transfer-Encoding: binary\r\n\r\n\x89PNG\0\n\r\n\
--b\r\nContent-Type: text/plain\r\n\r\nbye\r\n--b--\r\n";
    let stored = store_binary(multi, true).unwrap().unwrap();
    assert!(!stored.contains(&0));
    let p = Parsed::new(&stored);
    assert_eq!(p.binary(&[1]), Some(Ok(b"hi".to_vec())));
    assert_eq!(p.binary(&[2]), Some(Ok(b"\x89PNG\0\n".to_vec())));
    assert_eq!(p.binary(&[3]), Some(Ok(b"bye".to_vec())));

    // Nothing binary: kept; not literal8: kept.
    assert_eq!(store_binary(SIMPLE, true), Ok(None));
    assert_eq!(store_binary(BINARY_APPEND, false), Ok(None));
    // NUL where no part can be re-encoded.
    assert_eq!(
        store_binary(b"Subject: a\0b\r\n\r\nbody\r\n", true),
        Err(Unstorable)
    );
    assert_eq!(
        store_binary(b"Content-Transfer-Encoding: base64\r\n\r\nYQ\0==\r\n", true),
        Err(Unstorable)
    );
}

/// A message's header alone, parsed, answers header questions as the
/// whole message does (header searches and the FETCH cache parse only
/// the header): on every shape here and on deterministic mutations.
#[test]
fn header_alone_answers_as_the_whole_message() {
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    // An encoded word and folding, which the decoded search looks into.
    let encoded: &[u8] = b"From: =?ISO-8859-1?Q?Andr=E9?= <user@x.test>\r\n\
Subject: =?utf-8?q?Gr=C3=BC=C3=9Fe?=\r\n folded\r\nDate: Mon, 7 Feb 1994 21:52:25 -0800\r\n\
\r\nbody\r\n";
    let seeds: [&[u8]; 6] = [SIMPLE, MULTI, DIGEST, GROUPS, BASE64_PARTS, encoded];
    let mut cases: Vec<Vec<u8>> = seeds.iter().map(|s| s.to_vec()).collect();
    for round in 0..3000 {
        let mut m = seeds[round % seeds.len()].to_vec();
        let header_end = header_of(&m).len();
        for _ in 0..1 + next() % 6 {
            // Mostly in the header, where the two could disagree.
            let at = (next() as usize) % (header_end.min(m.len()) + 2).min(m.len() + 1);
            match next() % 4 {
                0 if at < m.len() => {
                    m[at] = [b':', b' ', b'\r', b'\n', b'='][(next() % 5) as usize]
                }
                1 if at < m.len() => {
                    m.remove(at);
                }
                2 => m.insert(at, [b'\n', b'\r', b' ', b':'][(next() % 4) as usize]),
                _ => m.truncate(at),
            }
        }
        cases.push(m);
    }
    for m in &cases {
        let whole = Parsed::new(m);
        let header = Parsed::new(header_of(m));
        let shown = String::from_utf8_lossy(m);
        assert_eq!(whole.whole_header(), header.whole_header(), "{shown:?}");
        assert_eq!(whole.sent_day(), header.sent_day(), "{shown:?}");
        for (field, needle) in [
            ("subject", "gr\u{fc}"),
            ("From", "user"),
            ("To", ""),
            ("Date", "1994"),
        ] {
            assert_eq!(
                whole.header_contains(field, needle),
                header.header_contains(field, needle),
                "{field} {needle} in {shown:?}"
            );
        }
    }
}

/// Deterministic mutations (seeded xorshift) of MIME messages through
/// BINARY, BINARY.SIZE and the literal8 APPEND rewrite: nothing panics,
/// and a rewritten message never holds NUL.
#[test]
fn binary_survives_mutated_mime() {
    let seeds: [&[u8]; 3] = [BASE64_PARTS, BINARY_APPEND, SIMPLE];
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for round in 0..3000 {
        let mut m = seeds[round % seeds.len()].to_vec();
        for _ in 0..1 + next() % 8 {
            let at = (next() as usize) % (m.len() + 1);
            match next() % 4 {
                0 if at < m.len() => m[at] = next() as u8,
                1 if at < m.len() => {
                    m.remove(at);
                }
                2 => m.insert(at, [0, b'\n', b'=', b'-'][(next() % 4) as usize]),
                _ => m.truncate(at),
            }
        }
        let p = Parsed::new(&m);
        for part in [&[][..], &[1], &[2], &[1, 1], &[4], &[9]] {
            let _ = p.binary(part);
        }
        if let Ok(Some(stored)) = store_binary(&m, true) {
            assert!(!stored.contains(&0), "round {round}");
            let _ = Parsed::new(&stored).binary(&[1]);
        }
    }
}
