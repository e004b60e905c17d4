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
