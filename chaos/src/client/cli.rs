//! Minimal client for the administration CLI (the CommuniGate Pro "PWD" protocol, port 106):
//! `USER`/`PASS` login, one command per line, one reply line per command, `QUIT`.
//!
//! Replies are `NNN text`: `200` success, `201` success with inline data, `300` "send the next
//! line" (after USER), `5xx` failure. A `200 data follow` reply is followed by one data line.

use std::net::SocketAddr;

use anyhow::{Context, Result, bail};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

use super::{LineConn, connect};

/// One CLI reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CliReply {
    /// The three-digit code.
    pub code: u16,
    /// The text after the code.
    pub text: String,
}

impl CliReply {
    /// Parses a reply line `NNN text`.
    ///
    /// # Errors
    /// Fails if the line does not start with three digits followed by a space or the end.
    pub fn parse(line: &str) -> Result<Self> {
        let bytes = line.as_bytes();
        if bytes.len() < 3
            || !bytes[..3].iter().all(u8::is_ascii_digit)
            || !matches!(bytes.get(3), None | Some(b' '))
        {
            bail!("malformed CLI reply: {line:?}");
        }
        Ok(Self {
            code: line[..3].parse()?,
            text: line.get(4..).unwrap_or_default().to_owned(),
        })
    }

    /// Whether the command succeeded (2xx).
    pub fn is_ok(&self) -> bool {
        (200..300).contains(&self.code)
    }
}

impl std::fmt::Display for CliReply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.code, self.text)
    }
}

/// Quotes `s` as a CLI string: in double quotes, with `\` and `"` escaped.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        if matches!(c, '"' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// A CLI client connection.
#[derive(Debug)]
pub struct CliClient<S = TcpStream> {
    conn: LineConn<S>,
}

impl CliClient<TcpStream> {
    /// Connects to `addr` and checks the `200` greeting.
    ///
    /// # Errors
    /// Fails on connection errors or another greeting.
    pub async fn connect(addr: SocketAddr) -> Result<Self> {
        let mut client = Self::new(connect(addr).await?);
        client.greeting().await?;
        Ok(client)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> CliClient<S> {
    /// Wraps a connected stream whose greeting has not been read yet.
    pub fn new(stream: S) -> Self {
        Self {
            conn: LineConn::new(stream),
        }
    }

    /// Reads and checks the greeting (`200 ...`).
    ///
    /// # Errors
    /// Fails on I/O errors or a greeting other than 200.
    pub async fn greeting(&mut self) -> Result<()> {
        let reply = self.read_reply().await?;
        if reply.code != 200 {
            bail!("CLI greeting: {reply}");
        }
        Ok(())
    }

    async fn read_reply(&mut self) -> Result<CliReply> {
        let line = self.conn.read_line().await?;
        let reply = CliReply::parse(&line)?;
        if reply.code == 200 && reply.text == "data follow" {
            // The data line belongs to this reply; reading it keeps the stream in step.
            self.conn.read_line().await?;
        }
        Ok(reply)
    }

    /// Sends one command line and returns its reply, whatever the code.
    ///
    /// # Errors
    /// Fails on I/O errors or a malformed reply.
    pub async fn command(&mut self, line: &str) -> Result<CliReply> {
        self.conn.send_line(line).await?;
        self.read_reply().await
    }

    /// Logs in: `USER name` → `300`, `PASS password` → `200`.
    ///
    /// # Errors
    /// Fails on I/O errors or any other reply.
    pub async fn login(&mut self, user: &str, password: &str) -> Result<()> {
        let reply = self.command(&format!("USER {user}")).await?;
        if reply.code != 300 {
            bail!("CLI USER {user}: {reply}");
        }
        let reply = self
            .command(&format!("PASS {password}"))
            .await
            .context("CLI PASS")?;
        if reply.code != 200 {
            bail!("CLI PASS: {reply}");
        }
        Ok(())
    }

    /// Sends `QUIT` and reads the closing reply.
    ///
    /// # Errors
    /// Fails on I/O errors.
    pub async fn quit(mut self) -> Result<()> {
        self.command("QUIT").await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    #[test]
    fn parse_replies() {
        let r = CliReply::parse("501 Account with this name already exists").expect("valid");
        assert_eq!(r.code, 501);
        assert_eq!(r.text, "Account with this name already exists");
        assert!(!r.is_ok());
        assert!(CliReply::parse("200").expect("bare code").is_ok());
        for bad in ["", "20", "OK 200", "200-x"] {
            assert!(CliReply::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn quote_escapes() {
        assert_eq!(quote("bench1"), "\"bench1\"");
        assert_eq!(quote(r#"a"b\c"#), r#""a\"b\\c""#);
    }

    #[tokio::test]
    async fn guide_login_transcript() {
        let (client, mut server) = tokio::io::duplex(1024);
        server
            .write_all(
                b"200 Mailnode at mail PWD Server ready <1.2@mail>\r\n300 please send the PASS\r\n\
                  200 login OK\r\n501 Account with this name already exists\r\n\
                  200 Mailnode PWD connection closed\r\n",
            )
            .await
            .expect("server script");
        let mut cli = CliClient::new(client);
        cli.greeting().await.expect("greeting");
        cli.login("postmaster", "secret").await.expect("login");
        let reply = cli
            .command("CreateAccount \"bench1\"")
            .await
            .expect("reply");
        assert_eq!(reply.code, 501);
        cli.quit().await.expect("quit");
        let mut sent = String::new();
        server.read_to_string(&mut sent).await.expect("read");
        assert_eq!(
            sent,
            "USER postmaster\r\nPASS secret\r\nCreateAccount \"bench1\"\r\nQUIT\r\n"
        );
    }
}
