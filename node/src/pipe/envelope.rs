//! The envelope of a `Submitted/*.sub` file (CommuniGate's PIPE module); pure, no I/O.
//!
//! A `.sub` file is an RFC 5322 message with native line ends (LF; CRLF is accepted too), with
//! no dot-stuffing and no terminating `.`. [`parse_submission`] derives the SMTP envelope from
//! its header and returns the message in wire form.
//!
//! Rules (CommuniGate's PIPE module, `communigate.md` §3.4):
//! - **Recipients.** If any `Envelope-To:` header is present, the recipients are exactly the
//!   addresses in those headers. Otherwise they are the addresses of every `To:`, `Cc:` and
//!   `Bcc:` header, minus those listed in `Envelope-Ignore:` headers (compared
//!   case-insensitively). Groups contribute their members (`undisclosed-recipients:;` none).
//!   Duplicates are dropped, case-insensitively, keeping the first spelling. A lone word
//!   (`Envelope-To: postmaster`) is an unqualified address; qualifying it is the router's job.
//! - **Return-path.** A `Return-Path:` header wins (`<>` means the null sender); else
//!   `default_sender` if given; else the first `From:` address; else the null sender.
//!   `mailnode sendmail -f sender` writes `Return-Path: <sender>` and, for recipients named on
//!   its command line, `Envelope-To:` headers.
//! - **Header removal.** `Envelope-To:`, `Envelope-Ignore:`, `Bcc:` and `Return-Path:` are always
//!   removed, with their continuation lines: the first two are instructions to PIPE, `Bcc:` would
//!   disclose blind recipients, and RFC 5321 §4.4 reserves `Return-Path:` for final delivery.
//!
//! Invariants of the output message: every line ends with CRLF (RFC 5322 §2.1), including the
//! last one; there are no NUL bytes; the header section is separated from the body by an empty
//! line. A bare CR inside a line is kept as it is.
//!
//! References: RFC 5322 §2.2 (header fields, folding §2.2.3), §3.4 (address syntax, groups),
//! §3.6.3 (`Bcc:`); RFC 5321 §4.4 (`Return-Path:`).

use std::collections::HashSet;

use mail_parser::HeaderValue;
use mail_parser::parsers::MessageStream;

/// Why a `.sub` file cannot be submitted; the PIPE scanner renames it `.bad`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    /// The headers name no recipient.
    #[error("no recipients")]
    NoRecipients,
    /// The file is not a message; the text says what is wrong.
    #[error("malformed submission: {0}")]
    Malformed(&'static str),
}

impl EnvelopeError {
    /// Always `false`: the same file fails the same way every time.
    pub fn is_temporary(&self) -> bool {
        false
    }
}

/// A parsed submission: envelope plus message in wire form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Submission {
    /// Envelope sender; `None` is the null sender `<>`.
    pub return_path: Option<String>,
    /// Envelope recipients, in header order, without duplicates; never empty.
    pub recipients: Vec<String>,
    /// The message with CRLF line ends and without the `Envelope-To:`, `Envelope-Ignore:`,
    /// `Bcc:` and `Return-Path:` headers.
    pub message: Vec<u8>,
}

/// Derives the envelope of a `.sub` file and converts the message to wire form (see the module
/// documentation for the rules).
///
/// # Errors
/// [`EnvelopeError::Malformed`] for a NUL byte, a header line that is not a field, or a missing
/// empty line after the header; [`EnvelopeError::NoRecipients`] if no recipient remains.
pub fn parse_submission(
    file: &[u8],
    default_sender: Option<&str>,
) -> Result<Submission, EnvelopeError> {
    if file.contains(&0) {
        return Err(EnvelopeError::Malformed("NUL byte in the file"));
    }
    let (fields, body) = split_header(file)?;

    let envelope_to: Vec<&Field<'_>> = fields.iter().filter(|f| f.is("Envelope-To")).collect();
    let candidates: Vec<String> = if envelope_to.is_empty() {
        let ignored: HashSet<String> = fields
            .iter()
            .filter(|f| f.is("Envelope-Ignore"))
            .flat_map(|f| addresses(&f.value()))
            .map(|a| a.to_ascii_lowercase())
            .collect();
        fields
            .iter()
            .filter(|f| f.is("To") || f.is("Cc") || f.is("Bcc"))
            .flat_map(|f| addresses(&f.value()))
            .filter(|a| !ignored.contains(&a.to_ascii_lowercase()))
            .collect()
    } else {
        envelope_to
            .iter()
            .flat_map(|f| addresses(&f.value()))
            .collect()
    };
    let mut seen = HashSet::new();
    let recipients: Vec<String> = candidates
        .into_iter()
        .filter(|a| seen.insert(a.to_ascii_lowercase()))
        .collect();
    if recipients.is_empty() {
        return Err(EnvelopeError::NoRecipients);
    }

    let return_path = match fields.iter().find(|f| f.is("Return-Path")) {
        Some(field) => path_address(&String::from_utf8_lossy(&field.value())),
        None => match default_sender {
            Some(sender) => path_address(sender),
            None => fields
                .iter()
                .filter(|f| f.is("From"))
                .flat_map(|f| addresses(&f.value()))
                .next(),
        },
    };

    let mut message = Vec::with_capacity(file.len() + file.len() / 32 + 2);
    for field in fields.iter().filter(|f| !f.is_removed()) {
        for line in &field.lines {
            message.extend_from_slice(line);
            message.extend_from_slice(b"\r\n");
        }
    }
    message.extend_from_slice(b"\r\n");
    for line in lines(body) {
        message.extend_from_slice(line);
        message.extend_from_slice(b"\r\n");
    }

    Ok(Submission {
        return_path,
        recipients,
        message,
    })
}

/// One header field: its name and its physical lines (line ends stripped), the first line
/// holding `name:` and the rest being continuation lines (RFC 5322 §2.2.3).
struct Field<'a> {
    name: &'a [u8],
    lines: Vec<&'a [u8]>,
}

impl Field<'_> {
    fn is(&self, name: &str) -> bool {
        self.name.eq_ignore_ascii_case(name.as_bytes())
    }

    /// Headers that PIPE consumes or that must not travel (see the module documentation).
    fn is_removed(&self) -> bool {
        ["Envelope-To", "Envelope-Ignore", "Bcc", "Return-Path"]
            .iter()
            .any(|name| self.is(name))
    }

    /// The field body after the colon, folded lines joined by LF, ending with LF: the form
    /// `MessageStream::parse_address` expects.
    fn value(&self) -> Vec<u8> {
        let mut value = Vec::new();
        for (i, line) in self.lines.iter().enumerate() {
            let part = if i == 0 {
                line.iter()
                    .position(|&b| b == b':')
                    .map_or(&line[..0], |colon| &line[colon + 1..])
            } else {
                line
            };
            value.extend_from_slice(part);
            value.push(b'\n');
        }
        value
    }
}

/// Splits `file` into its header fields and the body after the empty line.
fn split_header(file: &[u8]) -> Result<(Vec<Field<'_>>, &[u8]), EnvelopeError> {
    let mut fields: Vec<Field<'_>> = Vec::new();
    let mut offset = 0;
    for chunk in file.split_inclusive(|&b| b == b'\n') {
        offset += chunk.len();
        let line = strip_line_end(chunk);
        if line.is_empty() {
            // Only a line end strips to nothing, so this is the separator line.
            return Ok((fields, &file[offset..]));
        }
        if line[0] == b' ' || line[0] == b'\t' {
            match fields.last_mut() {
                Some(field) => field.lines.push(line),
                None => return Err(EnvelopeError::Malformed("file starts with a folded line")),
            }
            continue;
        }
        let colon = line
            .iter()
            .position(|&b| b == b':')
            .ok_or(EnvelopeError::Malformed("header line without a colon"))?;
        // RFC 5322 §4.5.1 (obsolete syntax) allows white space before the colon.
        let name = line[..colon].trim_ascii_end();
        if name.is_empty() || !name.iter().all(|&b| (33..=126).contains(&b)) {
            return Err(EnvelopeError::Malformed("invalid header field name"));
        }
        fields.push(Field {
            name,
            lines: vec![line],
        });
    }
    Err(EnvelopeError::Malformed(
        "no empty line between header and body",
    ))
}

/// The lines of `data` without their line ends; an unterminated last line counts as a line.
fn lines(data: &[u8]) -> impl Iterator<Item = &[u8]> {
    data.split_inclusive(|&b| b == b'\n').map(strip_line_end)
}

/// Strips a trailing LF or CRLF.
fn strip_line_end(chunk: &[u8]) -> &[u8] {
    let line = chunk.strip_suffix(b"\n").unwrap_or(chunk);
    if chunk.len() != line.len() {
        line.strip_suffix(b"\r").unwrap_or(line)
    } else {
        line
    }
}

/// The addresses in an address-list field body (RFC 5322 §3.4), group members included; a
/// lone word counts as an unqualified address, a display name without an address is skipped.
fn addresses(value: &[u8]) -> Vec<String> {
    match MessageStream::new(value).parse_address() {
        HeaderValue::Address(list) => list
            .iter()
            .filter_map(|addr| match (&addr.address, &addr.name) {
                (Some(address), _) => Some(address.as_ref()),
                // A lone word (`To: postmaster`) is an unqualified address, as CommuniGate reads
                // it; the parser sees a display name without an address.
                (None, Some(word)) if !word.contains(char::is_whitespace) => Some(word.as_ref()),
                (None, _) => None,
            })
            .map(str::trim)
            .filter(|addr| !addr.is_empty())
            .map(str::to_owned)
            .collect(),
        _ => Vec::new(),
    }
}

/// A reverse-path (`<a@b>`, `a@b`, `<>`, `<@relay:a@b>`) as an address; `None` for the null
/// sender.
fn path_address(text: &str) -> Option<String> {
    let text = text.trim();
    let inner = match (text.find('<'), text.rfind('>')) {
        (Some(open), Some(close)) if open < close => &text[open + 1..close],
        _ => text,
    };
    // RFC 5321 §4.1.2: a source route `@relay,@relay:` before the mailbox is ignored.
    let inner = match inner.trim().strip_prefix('@') {
        Some(routed) => routed.split_once(':').map_or(inner, |(_, mailbox)| mailbox),
        None => inner,
    };
    let inner = inner.trim();
    (!inner.is_empty()).then(|| inner.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(file: &str) -> Submission {
        parse_submission(file.as_bytes(), None).unwrap()
    }

    fn text(sub: &Submission) -> &str {
        std::str::from_utf8(&sub.message).unwrap()
    }

    #[test]
    fn envelope_to_overrides_and_is_removed() {
        let sub = parse(
            "Return-Path: <john.dite@compinia.de>\n\
             Envelope-To: postmaster@compinia.de\n\
             Envelope-To: <a@x.test>, B <b@x.test>\n\
             From: Other <other@x.test>\n\
             To: ignored@x.test\n\
             Subject: hi\n\
             \n\
             hello world\n",
        );
        assert_eq!(sub.return_path.as_deref(), Some("john.dite@compinia.de"));
        assert_eq!(
            sub.recipients,
            ["postmaster@compinia.de", "a@x.test", "b@x.test"]
        );
        assert_eq!(
            text(&sub),
            "From: Other <other@x.test>\r\nTo: ignored@x.test\r\nSubject: hi\r\n\r\nhello world\r\n"
        );
    }

    #[test]
    fn to_cc_bcc_minus_envelope_ignore() {
        let sub = parse(
            "From: a@x.test\n\
             To: One <one@x.test>, two@x.test\n\
             Cc: THREE@x.test, one@X.test\n\
             Bcc: hidden@x.test\n\
             Envelope-Ignore: Two@X.TEST, three@x.test\n\
             \n\
             body\n",
        );
        assert_eq!(sub.recipients, ["one@x.test", "hidden@x.test"]);
        assert_eq!(sub.return_path.as_deref(), Some("a@x.test"));
        assert_eq!(
            text(&sub),
            "From: a@x.test\r\nTo: One <one@x.test>, two@x.test\r\n\
             Cc: THREE@x.test, one@X.test\r\n\r\nbody\r\n"
        );
    }

    #[test]
    fn folded_headers_are_parsed_and_removed_whole() {
        let sub = parse(
            "From: a@x.test\n\
             To: first@x.test,\n\
             \tsecond@x.test\n\
             Bcc: blind1@x.test,\n  blind2@x.test\n\
             Subject: folded\n  subject\n\
             \n\
             b\n",
        );
        assert_eq!(
            sub.recipients,
            [
                "first@x.test",
                "second@x.test",
                "blind1@x.test",
                "blind2@x.test"
            ]
        );
        assert_eq!(
            text(&sub),
            "From: a@x.test\r\nTo: first@x.test,\r\n\tsecond@x.test\r\n\
             Subject: folded\r\n  subject\r\n\r\nb\r\n"
        );
    }

    #[test]
    fn crlf_input_and_missing_final_newline() {
        let sub = parse("To: a@x.test\r\nSubject: s\r\n\r\nline1\r\nline2");
        assert_eq!(sub.recipients, ["a@x.test"]);
        assert_eq!(sub.return_path, None);
        assert_eq!(
            text(&sub),
            "To: a@x.test\r\nSubject: s\r\n\r\nline1\r\nline2\r\n"
        );

        let mixed = parse("To: a@x.test\r\n\nx\r\ny\n.\n");
        assert_eq!(text(&mixed), "To: a@x.test\r\n\r\nx\r\ny\r\n.\r\n");

        let empty_body = parse("To: a@x.test\n\n");
        assert_eq!(text(&empty_body), "To: a@x.test\r\n\r\n");
    }

    #[test]
    fn groups_contribute_their_members() {
        let sub = parse(
            "To: undisclosed-recipients:;\n\
             Cc: Team: m1@x.test, M2 <m2@x.test>;, solo@x.test\n\
             \n\
             b\n",
        );
        assert_eq!(sub.recipients, ["m1@x.test", "m2@x.test", "solo@x.test"]);
        let err = parse_submission(b"To: undisclosed-recipients:;\n\nb\n", None).unwrap_err();
        assert_eq!(err, EnvelopeError::NoRecipients);
    }

    #[test]
    fn no_recipients_is_an_error() {
        for file in [
            &b"From: a@x.test\nSubject: none\n\nbody\n"[..],
            b"To: a@x.test\nEnvelope-Ignore: A@x.test\n\nbody\n",
            b"Envelope-To: \nTo: a@x.test\n\nbody\n",
        ] {
            assert_eq!(
                parse_submission(file, None),
                Err(EnvelopeError::NoRecipients)
            );
        }
    }

    #[test]
    fn return_path_precedence() {
        let file = b"Return-Path: <>\nFrom: f@x.test\nTo: t@x.test\n\nb\n";
        let sub = parse_submission(file, Some("d@x.test")).unwrap();
        assert_eq!(sub.return_path, None);
        assert!(!text(&sub).contains("Return-Path"));

        let file = b"From: F <f@x.test>\nTo: t@x.test\n\nb\n";
        let sub = parse_submission(file, Some("<d@x.test>")).unwrap();
        assert_eq!(sub.return_path.as_deref(), Some("d@x.test"));
        let sub = parse_submission(file, Some("")).unwrap();
        assert_eq!(sub.return_path, None);
        let sub = parse_submission(file, None).unwrap();
        assert_eq!(sub.return_path.as_deref(), Some("f@x.test"));

        let file = b"Return-Path: <@relay.test:r@x.test>\nTo: t@x.test\n\nb\n";
        let sub = parse_submission(file, None).unwrap();
        assert_eq!(sub.return_path.as_deref(), Some("r@x.test"));
    }

    #[test]
    fn malformed_files_are_rejected() {
        let cases: [(&[u8], &str); 6] = [
            (b"To: a@x.test\n\nnul \0 byte\n", "NUL"),
            (b"To: a@x.test\nSubject: no body separator\n", "empty line"),
            (b"To: a@x.test", "empty line"),
            (b"", "empty line"),
            (b" folded: first\nTo: a@x.test\n\nb\n", "folded"),
            (
                b"From john Mon Jan 1 00:00:00 2024\nTo: a@x.test\n\nb\n",
                "field name",
            ),
        ];
        for (file, why) in cases {
            match parse_submission(file, None) {
                Err(EnvelopeError::Malformed(text)) => assert!(text.contains(why), "{text}"),
                other => panic!("{:?}: {other:?}", String::from_utf8_lossy(file)),
            }
        }
    }

    #[test]
    fn header_names_are_case_insensitive_and_may_have_space_before_colon() {
        let sub = parse("TO : a@x.test\nbcc: b@x.test\nENVELOPE-IGNORE: a@x.test\n\nb\n");
        assert_eq!(sub.recipients, ["b@x.test"]);
        assert_eq!(text(&sub), "TO : a@x.test\r\n\r\nb\r\n");
    }

    #[test]
    fn unqualified_recipient_is_kept() {
        let sub = parse("Envelope-To: postmaster\nTo: <admin>\n\nb\n");
        assert_eq!(sub.recipients, ["postmaster"]);
        let sub = parse("To: <admin>, bob, John Smith\n\nb\n");
        assert_eq!(sub.recipients, ["admin", "bob"]);
    }

    #[test]
    fn seed_sendmail_submission() {
        // `sendmail -f john.dite@compinia.de postmaster@compinia.de` with body "hello world".
        let sub = parse_submission(
            b"Return-Path: <john.dite@compinia.de>\n\
              Envelope-To: postmaster@compinia.de\n\
              \n\
              hello world\n",
            None,
        )
        .unwrap();
        assert_eq!(sub.return_path.as_deref(), Some("john.dite@compinia.de"));
        assert_eq!(sub.recipients, ["postmaster@compinia.de"]);
        assert_eq!(sub.message, b"\r\nhello world\r\n");
    }
}
