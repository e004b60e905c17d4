//! Minimal SMTP client (RFC 5321): greeting, commands, DATA, QUIT. No pipelining, no TLS, no
//! AUTH; enough to drive load against the server's port 25 listener.
//!
//! Replies are parsed per RFC 5321 §4.2: a three-digit code, then `-` on every line but the last
//! and a space (or nothing) on the last; all lines of one reply carry the same code (§4.2.1).

use std::fmt;
use std::net::SocketAddr;

use anyhow::{Result, bail};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

use super::{LineConn, connect};

/// Most lines accepted in one multi-line reply; EHLO answers have a dozen or so.
pub const MAX_REPLY_LINES: usize = 100;

/// One parsed reply line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplyLine<'a> {
    /// The three-digit reply code.
    pub code: u16,
    /// `false` for a `NNN-` continuation line, `true` for the last line.
    pub last: bool,
    /// The text after the separator.
    pub text: &'a str,
}

impl<'a> ReplyLine<'a> {
    /// Parses one reply line (without its CRLF).
    ///
    /// # Errors
    /// Fails if the line does not start with a code in 200..=599 (1yz is unused, RFC 5321 §4.2.1) followed by `-`, a space,
    /// or the end of the line (RFC 5321 §4.2: "the text is optional").
    pub fn parse(line: &'a str) -> Result<Self> {
        let bytes = line.as_bytes();
        if bytes.len() < 3 || !bytes[..3].iter().all(u8::is_ascii_digit) {
            bail!("malformed reply line: {line:?}");
        }
        let code: u16 = line[..3].parse()?;
        if !(200..=599).contains(&code) {
            bail!("reply code out of range: {line:?}");
        }
        let (last, text) = match bytes.get(3) {
            None => (true, ""),
            Some(b' ') => (true, &line[4..]),
            Some(b'-') => (false, &line[4..]),
            Some(_) => bail!("malformed reply line: {line:?}"),
        };
        Ok(Self { code, last, text })
    }
}

/// A complete (possibly multi-line) reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The reply code shared by all lines.
    pub code: u16,
    /// The text of each line, in order.
    pub lines: Vec<String>,
}

impl fmt::Display for Reply {
    /// Shows the first line as it came on the wire, e.g. `550 5.1.1 no such user`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.lines.first() {
            Some(text) if !text.is_empty() => write!(f, "{} {}", self.code, text),
            _ => write!(f, "{}", self.code),
        }
    }
}

/// Accumulates reply lines until the last one arrives.
#[derive(Debug, Default)]
pub struct ReplyAssembler {
    code: Option<u16>,
    lines: Vec<String>,
}

impl ReplyAssembler {
    /// Feeds one line; returns the reply once its last line has been fed.
    ///
    /// # Errors
    /// Fails on a malformed line, a code that changes within one reply, or more than
    /// [`MAX_REPLY_LINES`] lines.
    pub fn push(&mut self, line: &str) -> Result<Option<Reply>> {
        let parsed = ReplyLine::parse(line)?;
        match self.code {
            Some(code) if code != parsed.code => {
                bail!(
                    "reply code changed from {code} to {} mid-reply",
                    parsed.code
                )
            }
            _ => self.code = Some(parsed.code),
        }
        self.lines.push(parsed.text.to_owned());
        if parsed.last {
            let lines = std::mem::take(&mut self.lines);
            self.code = None;
            return Ok(Some(Reply {
                code: parsed.code,
                lines,
            }));
        }
        if self.lines.len() >= MAX_REPLY_LINES {
            bail!("reply longer than {MAX_REPLY_LINES} lines");
        }
        Ok(None)
    }
}

/// An SMTP client connection.
#[derive(Debug)]
pub struct SmtpClient<S = TcpStream> {
    conn: LineConn<S>,
}

impl SmtpClient<TcpStream> {
    /// Connects to `addr` and reads the greeting, which is returned as is (the caller decides
    /// whether a non-220 greeting is a failure).
    ///
    /// # Errors
    /// Fails on connection or read errors.
    pub async fn connect(addr: SocketAddr) -> Result<(Self, Reply)> {
        let mut client = Self::new(connect(addr).await?);
        let greeting = client.read_reply().await?;
        Ok((client, greeting))
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> SmtpClient<S> {
    /// Wraps a connected stream whose greeting has not been read yet.
    pub fn new(stream: S) -> Self {
        Self {
            conn: LineConn::new(stream),
        }
    }

    /// Reads one complete reply.
    ///
    /// # Errors
    /// Fails on I/O errors, timeouts or malformed replies.
    pub async fn read_reply(&mut self) -> Result<Reply> {
        let mut assembler = ReplyAssembler::default();
        loop {
            let line = self.conn.read_line().await?;
            if let Some(reply) = assembler.push(&line)? {
                return Ok(reply);
            }
        }
    }

    /// Sends one command line (CRLF added) and reads its reply.
    ///
    /// # Errors
    /// As [`SmtpClient::read_reply`], plus write errors.
    pub async fn command(&mut self, line: &str) -> Result<Reply> {
        self.conn.send_line(line).await?;
        self.read_reply().await
    }

    /// Sends a message body after a 354 and the end-of-data marker in one write, then reads the
    /// reply.
    ///
    /// `message` must end with CRLF and must already be dot-stuffed (RFC 5321 §4.5.2).
    ///
    /// # Errors
    /// As [`SmtpClient::command`].
    pub async fn data(&mut self, message: &[u8]) -> Result<Reply> {
        let mut buf = Vec::with_capacity(message.len() + 3);
        buf.extend_from_slice(message);
        buf.extend_from_slice(b".\r\n");
        self.conn.write_all(&buf).await?;
        self.read_reply().await
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    fn assemble(lines: &[&str]) -> Result<Vec<Reply>> {
        let mut assembler = ReplyAssembler::default();
        let mut out = Vec::new();
        for line in lines {
            if let Some(reply) = assembler.push(line)? {
                out.push(reply);
            }
        }
        Ok(out)
    }

    #[test]
    fn rfc5321_4_2_multiline_ehlo_reply() {
        let replies = assemble(&[
            "250-mail.example.test greets bench.test",
            "250-8BITMIME",
            "250-SIZE 10240000",
            "250 PIPELINING",
        ])
        .expect("valid reply");
        assert_eq!(
            replies,
            vec![Reply {
                code: 250,
                lines: vec![
                    "mail.example.test greets bench.test".into(),
                    "8BITMIME".into(),
                    "SIZE 10240000".into(),
                    "PIPELINING".into(),
                ],
            }]
        );
    }

    #[test]
    fn single_line_replies_and_bare_code() {
        let replies = assemble(&["220 ready", "354", "250 2.0.0 queued as 7"]).expect("valid");
        let codes: Vec<u16> = replies.iter().map(|r| r.code).collect();
        assert_eq!(codes, [220, 354, 250]);
        assert_eq!(replies[1].to_string(), "354");
        assert_eq!(replies[2].to_string(), "250 2.0.0 queued as 7");
    }

    #[test]
    fn rfc5321_4_2_1_code_change_mid_reply_is_an_error() {
        assert!(assemble(&["250-first", "251 second"]).is_err());
    }

    #[test]
    fn malformed_lines_are_errors() {
        for line in ["", "25", "abc text", "250_x", "199 too low", "600 too high"] {
            assert!(ReplyLine::parse(line).is_err(), "{line:?}");
        }
    }

    #[test]
    fn endless_continuation_is_bounded() {
        let lines = vec!["250-x"; MAX_REPLY_LINES + 1];
        assert!(assemble(&lines).is_err());
    }

    #[tokio::test]
    async fn reply_split_at_every_byte_offset() {
        let wire: &[u8] = b"220 hi\r\n250-one\r\n250 two\r\n";
        for cut in 1..wire.len() {
            let (client, mut server) = tokio::io::duplex(1024);
            let writer = tokio::spawn(async move {
                server.write_all(&wire[..cut]).await.expect("first half");
                tokio::task::yield_now().await;
                server.write_all(&wire[cut..]).await.expect("second half");
                server
            });
            let mut smtp = SmtpClient::new(client);
            let greeting = smtp.read_reply().await.expect("greeting");
            assert_eq!(greeting.code, 220, "cut at {cut}");
            let ehlo = smtp.read_reply().await.expect("ehlo");
            assert_eq!(ehlo.lines, ["one", "two"], "cut at {cut}");
            writer.await.expect("writer task");
        }
    }

    #[tokio::test]
    async fn data_appends_end_marker_in_one_write() {
        let (client, mut server) = tokio::io::duplex(1024);
        let mut smtp = SmtpClient::new(client);
        server.write_all(b"250 ok\r\n").await.expect("reply");
        let reply = smtp
            .data(b"Subject: x\r\n\r\nbody\r\n")
            .await
            .expect("data");
        assert_eq!(reply.code, 250);
        drop(smtp);
        let mut sent = Vec::new();
        server.read_to_end(&mut sent).await.expect("read");
        assert_eq!(sent, b"Subject: x\r\n\r\nbody\r\n.\r\n");
    }
}
