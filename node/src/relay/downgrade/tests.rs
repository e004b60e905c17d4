use mail_parser::MessageParser;

use super::*;

fn crlf(text: &str) -> Vec<u8> {
    text.replace('\n', "\r\n").into_bytes()
}

fn text_of(message: &[u8], part: usize) -> String {
    let parsed = MessageParser::default().parse(message).unwrap();
    parsed.body_text(part).unwrap().into_owned()
}

fn assert_7bit(bytes: &[u8]) {
    assert!(
        !is_8bit(bytes),
        "still 8-bit: {}",
        String::from_utf8_lossy(bytes)
    );
    for line in bytes.split(|b| *b == b'\n') {
        assert!(line.len() <= 1000, "line too long (RFC 5321 §4.5.3.1.6)");
    }
}

#[test]
fn rfc6152_3_a_single_8bit_text_part_becomes_quoted_printable() {
    let original = crlf(
        "From: a@example.test\nSubject: plain\nContent-Type: text/plain; charset=utf-8\n\
         Content-Transfer-Encoding: 8bit\n\nGrüße aus Köln\n.dot line stays\n",
    );
    let out = to_7bit(&original).unwrap();
    assert_7bit(&out);
    let text = String::from_utf8(out.clone()).unwrap();
    assert!(
        text.contains("Content-Transfer-Encoding: quoted-printable\r\n"),
        "{text}"
    );
    assert!(!text.contains("8bit"), "{text}");
    assert!(text.contains("Subject: plain\r\n"), "{text}");
    assert!(text.contains("MIME-Version: 1.0\r\n"), "{text}");
    assert_eq!(text_of(&out, 0), "Grüße aus Köln\r\n.dot line stays\r\n");
}

#[test]
fn rfc6152_3_8bit_parts_of_a_multipart_are_reencoded_and_7bit_parts_kept() {
    let original = crlf(
        "From: a@example.test\nMIME-Version: 1.0\n\
         Content-Type: multipart/mixed; boundary=\"b1\"\n\npreamble\n\
         --b1\nContent-Type: text/plain; charset=iso-8859-1\n\nplain ascii\n\
         --b1\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n\
         café crème\n\
         --b1\nContent-Type: application/octet-stream\n\n\u{e9}\u{e8}\u{ff}\n\
         --b1--\nepilogue\n",
    );
    let out = to_7bit(&original).unwrap();
    assert_7bit(&out);
    let text = String::from_utf8(out.clone()).unwrap();
    assert!(
        text.contains("\r\n--b1\r\nContent-Type: text/plain; charset=iso-8859-1\r\n\r\nplain ascii\r\n--b1\r\n"),
        "{text}"
    );
    assert_eq!(text.matches("MIME-Version").count(), 1, "{text}");
    assert!(
        text.contains("Content-Transfer-Encoding: base64\r\n"),
        "{text}"
    );
    let parsed = MessageParser::default().parse(&out).unwrap();
    assert_eq!(parsed.body_text(1).unwrap(), "café crème");
    let attachment = parsed.attachment(0).unwrap();
    // RFC 2046 §5.1.1: the line end before a boundary belongs to the boundary.
    assert_eq!(attachment.contents(), "éèÿ".as_bytes());
    assert!(text.ends_with("--b1--\r\nepilogue\r\n"), "{text}");
}

#[test]
fn rfc6152_3_a_part_without_content_type_gets_a_charset() {
    let out = to_7bit(&crlf("From: a@example.test\nSubject: x\n\nnaïve\n")).unwrap();
    assert_7bit(&out);
    let text = String::from_utf8(out.clone()).unwrap();
    assert!(
        text.contains("Content-Type: text/plain; charset=utf-8\r\n"),
        "{text}"
    );
    assert_eq!(text_of(&out, 0), "naïve\r\n");
    let mut latin1 = crlf("From: a@example.test\n\n");
    latin1.extend_from_slice(b"na\xefve\r\n");
    let out = to_7bit(&latin1).unwrap();
    assert!(
        String::from_utf8(out)
            .unwrap()
            .contains("charset=unknown-8bit")
    );
}

#[test]
fn rfc2046_5_2_1_an_inline_message_rfc822_is_converted_inside() {
    let original = crlf(
        "From: a@example.test\nMIME-Version: 1.0\n\
         Content-Type: multipart/mixed; boundary=\"outer\"\n\n\
         --outer\nContent-Type: text/plain\n\nsee attached\n\
         --outer\nContent-Type: message/rfc822\nContent-Transfer-Encoding: 8bit\n\n\
         From: b@example.test\nSubject: inner\nContent-Type: text/plain; charset=utf-8\n\n\
         Übergröße\n\
         --outer--\n",
    );
    let out = to_7bit(&original).unwrap();
    assert_7bit(&out);
    let text = String::from_utf8(out.clone()).unwrap();
    assert!(
        text.contains("Content-Transfer-Encoding: 7bit\r\n"),
        "{text}"
    );
    let parsed = MessageParser::default().parse(&out).unwrap();
    let inner = parsed.attachment(0).unwrap().message().unwrap();
    assert_eq!(inner.subject(), Some("inner"));
    assert_eq!(inner.body_text(0).unwrap(), "Übergröße");
}

#[test]
fn rfc6152_3_what_cannot_be_converted_is_refused_with_5_6_3() {
    for (why, message) in [
        (
            "8-bit header",
            "From: a@example.test\nSubject: Grüße\n\nbody\n",
        ),
        (
            "8-bit MIME part header",
            "From: a@example.test\nMIME-Version: 1.0\n\
             Content-Type: multipart/mixed; boundary=b\n\n\
             --b\nContent-Type: text/plain; name=\"ä.txt\"\n\nx\n--b--\n",
        ),
        (
            "base64",
            "From: a@example.test\nMIME-Version: 1.0\nContent-Type: text/plain\n\
             Content-Transfer-Encoding: base64\n\nä\n",
        ),
    ] {
        let reply = to_7bit(&crlf(message)).unwrap_err();
        assert_eq!(
            (reply.code, reply.enhanced),
            (554, Some((5, 6, 3))),
            "{why}"
        );
        assert!(reply.text.contains(why), "{why}: {}", reply.text);
    }
}

#[test]
fn a_7bit_message_is_returned_unchanged() {
    let message = crlf("From: a@example.test\nSubject: x\n\nplain\n");
    assert_eq!(to_7bit(&message).unwrap(), message);
}

#[test]
fn rfc6532_3_utf8_headers_are_found_at_top_level_and_in_parts() {
    assert!(has_8bit_headers(&crlf(
        "From: jörg@example.test\nSubject: x\n\nbody\n"
    )));
    assert!(!has_8bit_headers(&crlf(
        "From: a@example.test\nSubject: x\n\nbödy\n"
    )));
    assert!(has_8bit_headers(&crlf(
        "From: a@example.test\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=b\n\n\
         --b\nContent-Disposition: attachment; filename=\"ä.txt\"\n\nx\n--b--\n"
    )));
    assert!(!has_8bit_headers(&crlf("From: a@example.test\n\nplain\n")));
}
