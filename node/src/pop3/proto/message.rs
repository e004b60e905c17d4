//! RETR and TOP responses (RFC 1939 §7 TOP, §11 message format, §3
//! byte-stuffing).
//!
//! Owns the conversion of a stored message into the multi-line response:
//! lines end in CRLF whatever the store used (bare LF is converted), lines
//! starting with `.` are stuffed, and `.` CRLF ends the response.

/// Encodes the whole response for RETR (`top_lines == None`) or for
/// `TOP msg n` (`Some(n)`: the header, the blank line, then `n` body lines).
/// A message that does not end with a line end gets one.
pub fn encode_message(message: &[u8], top_lines: Option<usize>) -> Vec<u8> {
    let status = match top_lines {
        None => format!("+OK {} octets\r\n", message.len()),
        Some(_) => "+OK top of message follows\r\n".to_owned(),
    };
    let mut out = Vec::with_capacity(message.len() + message.len() / 32 + 32);
    out.extend_from_slice(status.as_bytes());
    let body = message.strip_suffix(b"\n").unwrap_or(message);
    let mut in_body = false;
    let mut body_lines = 0usize;
    if !message.is_empty() {
        for line in body.split(|&b| b == b'\n') {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if in_body {
                if top_lines.is_some_and(|n| body_lines >= n) {
                    break;
                }
                body_lines += 1;
            }
            if line.first() == Some(&b'.') {
                out.push(b'.');
            }
            out.extend_from_slice(line);
            out.extend_from_slice(b"\r\n");
            if line.is_empty() {
                in_body = true;
            }
        }
    }
    out.extend_from_slice(b".\r\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSG: &[u8] = b"Subject: hi\r\nFrom: a@b.c\r\n\r\nline 1\r\n.line 2\r\nline 3\r\n";

    fn enc(message: &[u8], top: Option<usize>) -> String {
        String::from_utf8_lossy(&encode_message(message, top)).into_owned()
    }

    #[test]
    fn rfc1939_retr_is_dot_stuffed() {
        assert_eq!(
            enc(MSG, None),
            "+OK 53 octets\r\nSubject: hi\r\nFrom: a@b.c\r\n\r\nline 1\r\n..line 2\r\nline 3\r\n.\r\n"
        );
    }

    #[test]
    fn rfc1939_top_keeps_headers_and_n_lines() {
        let head = "+OK top of message follows\r\nSubject: hi\r\nFrom: a@b.c\r\n\r\n";
        assert_eq!(enc(MSG, Some(0)), format!("{head}.\r\n"));
        assert_eq!(
            enc(MSG, Some(2)),
            format!("{head}line 1\r\n..line 2\r\n.\r\n")
        );
        assert_eq!(
            enc(MSG, Some(99)),
            format!("{head}line 1\r\n..line 2\r\nline 3\r\n.\r\n")
        );
    }

    #[test]
    fn line_ends_are_normalised() {
        assert_eq!(
            enc(b"A: b\n\nx\n.\n", None),
            "+OK 10 octets\r\nA: b\r\n\r\nx\r\n..\r\n.\r\n"
        );
        assert_eq!(enc(b"A: b", None), "+OK 4 octets\r\nA: b\r\n.\r\n");
        assert_eq!(enc(b"", None), "+OK 0 octets\r\n.\r\n");
        assert_eq!(
            enc(b"A: b\r\n", Some(5)),
            "+OK top of message follows\r\nA: b\r\n.\r\n"
        );
        assert_eq!(enc(b"\r\n", None), "+OK 2 octets\r\n\r\n.\r\n");
    }
}
