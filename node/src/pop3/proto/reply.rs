//! POP3 responses and their encoder (RFC 1939 §3, RFC 2449 §8 response
//! codes, RFC 3206 `SYS/*` and `AUTH` codes).
//!
//! A [`Reply`] is a status line (`+OK` / `-ERR`, optional `[CODE]`, text)
//! and, for multi-line responses, lines that are dot-stuffed and closed by
//! `.` CRLF. CR and LF are removed from text so it cannot inject lines.

/// Extended response codes (RFC 2449 §8, RFC 3206 §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RespCode {
    /// `[AUTH]`: the credentials were refused (RFC 3206 §4).
    Auth,
    /// `[IN-USE]`: the maildrop is locked by another session (RFC 2449 §8.1.1).
    InUse,
    /// `[SYS/TEMP]`: temporary system failure (RFC 3206 §4).
    SysTemp,
    /// `[SYS/PERM]`: permanent system failure (RFC 3206 §4).
    SysPerm,
}

impl RespCode {
    /// The code as written between brackets.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Auth => "AUTH",
            Self::InUse => "IN-USE",
            Self::SysTemp => "SYS/TEMP",
            Self::SysPerm => "SYS/PERM",
        }
    }
}

/// One POP3 response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// `+OK` when true, `-ERR` otherwise.
    pub ok: bool,
    /// Extended response code, shown as `[CODE]` before the text.
    pub code: Option<RespCode>,
    /// Text of the status line.
    pub text: String,
    /// Body of a multi-line response, without dot-stuffing or terminator.
    pub lines: Option<Vec<String>>,
}

impl Reply {
    /// `+OK text`.
    pub fn ok(text: impl Into<String>) -> Self {
        Self {
            ok: true,
            code: None,
            text: text.into(),
            lines: None,
        }
    }

    /// `-ERR text`.
    pub fn err(text: impl Into<String>) -> Self {
        Self {
            ok: false,
            code: None,
            text: text.into(),
            lines: None,
        }
    }

    /// `-ERR [CODE] text`.
    pub fn err_code(code: RespCode, text: impl Into<String>) -> Self {
        Self {
            code: Some(code),
            ..Self::err(text)
        }
    }

    /// `+OK text` followed by `lines` and `.`.
    pub fn multi(text: impl Into<String>, lines: Vec<String>) -> Self {
        Self {
            lines: Some(lines),
            ..Self::ok(text)
        }
    }

    /// `+OK` after QUIT in the UPDATE state (RFC 1939 §6).
    pub fn signing_off() -> Self {
        Self::ok("Mailnode POP3 server signing off")
    }

    /// `-ERR [SYS/TEMP]` when deleted messages could not be removed
    /// (RFC 1939 §6).
    pub fn commit_failed() -> Self {
        Self::err_code(RespCode::SysTemp, "some deleted messages not removed")
    }

    /// The wire form.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(if self.ok { b"+OK" } else { b"-ERR" });
        if let Some(code) = self.code {
            out.extend_from_slice(format!(" [{}]", code.as_str()).as_bytes());
        }
        if !self.text.is_empty() {
            out.push(b' ');
            push_clean(&mut out, &self.text);
        }
        out.extend_from_slice(b"\r\n");
        if let Some(lines) = &self.lines {
            for line in lines {
                if line.starts_with('.') {
                    out.push(b'.');
                }
                push_clean(&mut out, line);
                out.extend_from_slice(b"\r\n");
            }
            out.extend_from_slice(b".\r\n");
        }
        out
    }
}

fn push_clean(out: &mut Vec<u8>, text: &str) {
    out.extend(text.bytes().filter(|b| !matches!(b, b'\r' | b'\n')));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_rfc1939_and_rfc2449_forms() {
        let cases: Vec<(Reply, &str)> = vec![
            (Reply::ok("2 320"), "+OK 2 320\r\n"),
            (Reply::ok(""), "+OK\r\n"),
            (Reply::err("no such message"), "-ERR no such message\r\n"),
            (
                Reply::err_code(RespCode::InUse, "mailbox already locked"),
                "-ERR [IN-USE] mailbox already locked\r\n",
            ),
            (
                Reply::multi(
                    "2 messages (320 octets)",
                    vec!["1 120".into(), "2 200".into()],
                ),
                "+OK 2 messages (320 octets)\r\n1 120\r\n2 200\r\n.\r\n",
            ),
            (
                Reply::multi("x", vec![".a".into(), String::new()]),
                "+OK x\r\n..a\r\n\r\n.\r\n",
            ),
            (Reply::err("a\r\n+OK b"), "-ERR a+OK b\r\n"),
        ];
        for (reply, wire) in cases {
            assert_eq!(String::from_utf8_lossy(&reply.encode()), wire);
        }
    }
}
