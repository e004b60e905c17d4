//! SMTP replies and their encoder (RFC 5321 §4.2, RFC 2034, RFC 3463).
//!
//! A [`Reply`] is a code, an optional enhanced status code and text; text
//! with `\n` becomes a multi-line reply (`250-…` lines then `250 …`). The
//! enhanced code is repeated on every line (RFC 2034 §4). CR and LF never
//! reach the wire inside a line, so text cannot inject a reply.

use crate::sasl::SaslError;

/// One SMTP reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// Three-digit reply code (RFC 5321 §4.2.1).
    pub code: u16,
    /// Enhanced status code `class.subject.detail` (RFC 3463); absent on the
    /// greeting and the EHLO/HELO reply (RFC 2034 §3).
    pub enhanced: Option<(u8, u16, u16)>,
    /// Human-readable text; each `\n` starts a new reply line.
    pub text: String,
}

impl Reply {
    /// A reply with an enhanced code written as `"x.y.z"`; an empty or
    /// unparsable `enhanced` gives none.
    pub fn new(code: u16, enhanced: &str, text: impl Into<String>) -> Self {
        Self {
            code,
            enhanced: parse_enhanced(enhanced),
            text: text.into(),
        }
    }

    /// A reply without an enhanced code.
    pub fn plain(code: u16, text: impl Into<String>) -> Self {
        Self {
            code,
            enhanced: None,
            text: text.into(),
        }
    }

    /// The wire form, every line ending in CRLF. The space after the code is
    /// always written, so an empty AUTH challenge is `334 ` as clients
    /// expect (RFC 4954 §4).
    pub fn encode(&self) -> Vec<u8> {
        let enhanced = self
            .enhanced
            .map(|(c, s, d)| format!("{c}.{s}.{d}"))
            .unwrap_or_default();
        let lines: Vec<&str> = self.text.split('\n').collect();
        let mut out = Vec::new();
        for (i, line) in lines.iter().enumerate() {
            let sep = if i + 1 == lines.len() { ' ' } else { '-' };
            let line: String = line.chars().filter(|c| *c != '\r').collect();
            let mut text = enhanced.clone();
            if !text.is_empty() && !line.is_empty() {
                text.push(' ');
            }
            text.push_str(&line);
            let head = format!("{:03}{sep}{text}", self.code);
            out.extend_from_slice(head.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        out
    }

    /// Whether the code is 2xx or 3xx.
    pub fn is_positive(&self) -> bool {
        (200..400).contains(&self.code)
    }

    /// `250 2.0.0 OK`.
    pub fn ok() -> Self {
        Self::new(250, "2.0.0", "OK")
    }

    /// `220 <host> ESMTP Mailnode` (RFC 5321 §4.3.1; no enhanced code).
    pub fn greeting(hostname: &str) -> Self {
        Self::plain(220, format!("{hostname} ESMTP Mailnode"))
    }

    /// `221 2.0.0 Bye` for QUIT.
    pub fn bye() -> Self {
        Self::new(221, "2.0.0", "Bye")
    }

    /// `354` after DATA (RFC 5321 §4.3.2). Sent without an enhanced code, as
    /// most servers do; clients only look at the code here.
    pub fn start_data() -> Self {
        Self::plain(354, "Start mail input; end with <CRLF>.<CRLF>")
    }

    /// `250 2.0.0` after a stored message, naming its queue id.
    pub fn queued(id: &str) -> Self {
        Self::new(250, "2.0.0", format!("OK queued as {id}"))
    }

    /// `503 5.5.1` bad sequence of commands (RFC 5321 §4.1.4).
    pub fn bad_sequence(text: &str) -> Self {
        Self::new(503, "5.5.1", text)
    }

    /// `500 5.5.2` for a line that is too long or has a bare CR/LF.
    pub fn line_error() -> Self {
        Self::new(
            500,
            "5.5.2",
            "Syntax error: line too long or bad line ending",
        )
    }

    /// `552 5.3.4` message size exceeds the limit (RFC 1870 §6.3).
    pub fn too_big() -> Self {
        Self::new(
            552,
            "5.3.4",
            "Message size exceeds fixed maximum message size",
        )
    }

    /// `550 5.6.0` for bare CR or LF in the message (RFC 5321 §2.3.8).
    /// Exchange uses 5.6.11, which is not in the IANA registry.
    pub fn bare_line_ending() -> Self {
        Self::new(550, "5.6.0", "Bare CR or LF not allowed in message")
    }

    /// `550 5.1.1` unknown recipient.
    pub fn no_such_user() -> Self {
        Self::new(550, "5.1.1", "No such user here")
    }

    /// `235 2.7.0` (RFC 4954 §6).
    pub fn auth_ok() -> Self {
        Self::new(235, "2.7.0", "Authentication successful")
    }

    /// `535 5.7.8` (RFC 4954 §6).
    pub fn auth_failed() -> Self {
        Self::new(535, "5.7.8", "Authentication credentials invalid")
    }

    /// `334 <challenge>` during AUTH (RFC 4954 §4); no enhanced code.
    pub fn auth_challenge(base64: &str) -> Self {
        Self::plain(334, base64)
    }

    /// `421 4.3.0` closing the channel (RFC 5321 §3.8).
    pub fn closing(hostname: &str, text: &str) -> Self {
        Self::new(421, "4.3.0", format!("{hostname} {text}"))
    }

    /// The reply to a failed SASL exchange (RFC 4954 §4, §6).
    pub fn from_sasl_error(err: &SaslError) -> Self {
        match err {
            SaslError::Unsupported => Self::new(504, "5.5.4", "Unrecognized authentication type"),
            SaslError::Cancelled => Self::new(501, "5.0.0", "Authentication cancelled"),
            SaslError::BadEncoding => Self::new(501, "5.5.2", "Cannot decode response"),
            SaslError::Malformed | SaslError::Finished => {
                Self::new(501, "5.5.2", "Malformed authentication response")
            }
        }
    }
}

fn parse_enhanced(s: &str) -> Option<(u8, u16, u16)> {
    let mut it = s.split('.');
    let class = it.next()?.parse().ok()?;
    let subject = it.next()?.parse().ok()?;
    let detail = it.next()?.parse().ok()?;
    if it.next().is_some() || !matches!(class, 2 | 4 | 5) {
        return None;
    }
    Some((class, subject, detail))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_single_and_multi_line() {
        let cases: &[(Reply, &str)] = &[
            (Reply::ok(), "250 2.0.0 OK\r\n"),
            (Reply::plain(354, "Go ahead"), "354 Go ahead\r\n"),
            (Reply::new(250, "", "x"), "250 x\r\n"),
            (Reply::new(250, "2.0.0", ""), "250 2.0.0\r\n"),
            (Reply::plain(334, ""), "334 \r\n"),
            (
                Reply::plain(250, "foo.com greets bar.com\n8BITMIME\nSIZE\nHELP"),
                "250-foo.com greets bar.com\r\n250-8BITMIME\r\n250-SIZE\r\n250 HELP\r\n",
            ),
            (
                Reply::new(214, "2.0.0", "a\nb"),
                "214-2.0.0 a\r\n214 2.0.0 b\r\n",
            ),
            (
                Reply::new(550, "5.1.1", "evil\r\n250 ok"),
                "550-5.1.1 evil\r\n550 5.1.1 250 ok\r\n",
            ),
        ];
        for (reply, wire) in cases {
            assert_eq!(String::from_utf8_lossy(&reply.encode()), *wire);
        }
    }

    #[test]
    fn enhanced_code_parsing() {
        assert_eq!(Reply::new(452, "4.5.3", "x").enhanced, Some((4, 5, 3)));
        assert_eq!(Reply::new(250, "2.0", "x").enhanced, None);
        assert_eq!(Reply::new(250, "3.0.0", "x").enhanced, None);
        assert_eq!(Reply::new(250, "2.0.0.0", "x").enhanced, None);
    }

    #[test]
    fn sasl_errors_map_to_rfc4954_codes() {
        assert_eq!(Reply::from_sasl_error(&SaslError::Cancelled).code, 501);
        assert_eq!(Reply::from_sasl_error(&SaslError::Unsupported).code, 504);
        assert!(!Reply::from_sasl_error(&SaslError::BadEncoding).is_positive());
    }
}
