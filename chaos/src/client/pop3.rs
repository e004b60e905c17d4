//! Minimal POP3 client (RFC 1939): USER/PASS login, STAT, UIDL, TOP, RETR, DELE, QUIT. The
//! benchmark uses it to count messages in a maildrop; `chaos run` reads and deletes with it.
//!
//! A POP3 session sees the maildrop as it was when the session entered the TRANSACTION state
//! (RFC 1939 §8), so watching a mailbox fill means logging in again for every look.

use std::net::SocketAddr;

use anyhow::{Context, Result, bail};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

use super::{LineConn, connect};

/// Counts from a STAT reply (RFC 1939 §5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stat {
    /// Number of messages in the maildrop.
    pub count: u64,
    /// Size of the maildrop in octets.
    pub size: u64,
}

/// Parses a STAT reply line: `+OK nn mm`, possibly followed by more text (RFC 1939 §5 allows
/// clients to ignore anything after the size).
///
/// # Errors
/// Fails on `-ERR` or a line that is not `+OK` followed by two numbers.
pub fn parse_stat(line: &str) -> Result<Stat> {
    let rest = ok_text(line)?;
    let mut words = rest.split_ascii_whitespace();
    let mut number = |what: &str| -> Result<u64> {
        words
            .next()
            .with_context(|| format!("STAT reply without {what}: {line:?}"))?
            .parse()
            .with_context(|| format!("STAT reply with a bad {what}: {line:?}"))
    };
    let count = number("count")?;
    let size = number("size")?;
    Ok(Stat { count, size })
}

/// Returns the text after `+OK`, or an error carrying the `-ERR` (or malformed) line.
fn ok_text(line: &str) -> Result<&str> {
    match line.strip_prefix("+OK") {
        Some(rest) if rest.is_empty() || rest.starts_with(' ') => Ok(rest.trim_start()),
        _ => bail!("{line}"),
    }
}

/// Most lines read in one multi-line response.
pub const MAX_MULTILINE: usize = 1_000_000;

/// Parses one line of a `UIDL` listing: `n unique-id` (RFC 1939 §7).
///
/// # Errors
/// Fails if the line is not a number, one space-separated word, and nothing else.
pub fn parse_uidl_line(line: &str) -> Result<(u32, String)> {
    let mut words = line.split_ascii_whitespace();
    let (Some(n), Some(id), None) = (words.next(), words.next(), words.next()) else {
        bail!("malformed UIDL line: {line:?}");
    };
    let n = n
        .parse()
        .with_context(|| format!("malformed UIDL line: {line:?}"))?;
    Ok((n, id.to_owned()))
}

/// A POP3 client connection.
#[derive(Debug)]
pub struct Pop3Client<S = TcpStream> {
    conn: LineConn<S>,
}

impl Pop3Client<TcpStream> {
    /// Connects to `addr` and checks the `+OK` greeting.
    ///
    /// # Errors
    /// Fails on connection errors or a greeting other than `+OK`.
    pub async fn connect(addr: SocketAddr) -> Result<Self> {
        let mut client = Self {
            conn: LineConn::new(connect(addr).await?),
        };
        client.greeting().await?;
        Ok(client)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Pop3Client<S> {
    /// Wraps a connected stream whose greeting has not been read yet.
    pub fn new(stream: S) -> Self {
        Self {
            conn: LineConn::new(stream),
        }
    }

    /// Reads and checks the `+OK` greeting.
    ///
    /// # Errors
    /// Fails on I/O errors or a greeting other than `+OK`.
    pub async fn greeting(&mut self) -> Result<()> {
        let line = self.conn.read_line().await?;
        ok_text(&line).context("POP3 greeting")?;
        Ok(())
    }

    /// Sends one command and returns the text after `+OK`.
    async fn command(&mut self, line: &str) -> Result<String> {
        self.conn.send_line(line).await?;
        let reply = self.conn.read_line().await?;
        Ok(ok_text(&reply)?.to_owned())
    }

    /// Logs in with `USER`/`PASS` (RFC 1939 §7).
    ///
    /// # Errors
    /// Fails on I/O errors or `-ERR` to either command.
    pub async fn login(&mut self, user: &str, password: &str) -> Result<()> {
        self.command(&format!("USER {user}"))
            .await
            .with_context(|| format!("POP3 USER {user}"))?;
        self.command(&format!("PASS {password}"))
            .await
            .with_context(|| format!("POP3 PASS for {user}"))?;
        Ok(())
    }

    /// Sends `STAT`.
    ///
    /// # Errors
    /// Fails on I/O errors, `-ERR` or a malformed reply.
    pub async fn stat(&mut self) -> Result<Stat> {
        self.conn.send_line("STAT").await?;
        let line = self.conn.read_line().await?;
        parse_stat(&line).context("POP3 STAT")
    }

    /// Reads a multi-line response body after its `+OK` line: lines up to the lone `.`, with
    /// the leading dot of a dot-stuffed line removed (RFC 1939 §3).
    async fn multiline(&mut self) -> Result<Vec<String>> {
        let mut lines = Vec::new();
        loop {
            let line = self.conn.read_line().await?;
            if line == "." {
                return Ok(lines);
            }
            if lines.len() >= MAX_MULTILINE {
                bail!("multi-line response longer than {MAX_MULTILINE} lines");
            }
            match line.strip_prefix('.') {
                Some(rest) => lines.push(rest.to_owned()),
                None => lines.push(line),
            }
        }
    }

    /// Sends a command whose `+OK` reply is followed by a multi-line body and returns the body.
    ///
    /// # Errors
    /// Fails on I/O errors or `-ERR`.
    pub async fn multiline_command(&mut self, line: &str) -> Result<Vec<String>> {
        self.command(line).await?;
        self.multiline().await
    }

    /// Sends `UIDL` (RFC 1939 §7) and returns `(message number, unique id)` pairs in order.
    ///
    /// # Errors
    /// Fails on I/O errors, `-ERR` or a malformed listing line.
    pub async fn uidl(&mut self) -> Result<Vec<(u32, String)>> {
        let lines = self.multiline_command("UIDL").await.context("POP3 UIDL")?;
        lines.iter().map(|l| parse_uidl_line(l)).collect()
    }

    /// Sends `TOP n 0` and returns the header lines of message `n` (RFC 1939 §7).
    ///
    /// # Errors
    /// Fails on I/O errors or `-ERR`.
    pub async fn top_headers(&mut self, n: u32) -> Result<Vec<String>> {
        self.multiline_command(&format!("TOP {n} 0"))
            .await
            .with_context(|| format!("POP3 TOP {n} 0"))
    }

    /// Sends `RETR n` and returns the message lines (RFC 1939 §5).
    ///
    /// # Errors
    /// Fails on I/O errors or `-ERR`.
    pub async fn retr(&mut self, n: u32) -> Result<Vec<String>> {
        self.multiline_command(&format!("RETR {n}"))
            .await
            .with_context(|| format!("POP3 RETR {n}"))
    }

    /// Sends `DELE n` (RFC 1939 §5); the deletion takes effect at `QUIT`.
    ///
    /// # Errors
    /// Fails on I/O errors or `-ERR`.
    pub async fn dele(&mut self, n: u32) -> Result<()> {
        self.command(&format!("DELE {n}"))
            .await
            .with_context(|| format!("POP3 DELE {n}"))?;
        Ok(())
    }

    /// Sends `QUIT` and reads its reply. Nothing is marked deleted by this client, so the
    /// UPDATE state (RFC 1939 §6) changes nothing.
    ///
    /// # Errors
    /// Fails on I/O errors or `-ERR`.
    pub async fn quit(mut self) -> Result<()> {
        self.command("QUIT").await?;
        Ok(())
    }
}

/// Logs in as `user`, reads the maildrop's STAT and quits.
///
/// # Errors
/// Fails if any step fails.
pub async fn stat_once(addr: SocketAddr, user: &str, password: &str) -> Result<Stat> {
    let mut client = Pop3Client::connect(addr).await?;
    client.login(user, password).await?;
    let stat = client.stat().await?;
    // The count is already known; a failed QUIT does not change it.
    let _ = client.quit().await;
    Ok(stat)
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    #[test]
    fn rfc1939_5_stat_example() {
        assert_eq!(
            parse_stat("+OK 2 320").expect("valid"),
            Stat {
                count: 2,
                size: 320
            }
        );
    }

    #[test]
    fn rfc1939_7_uidl_example_lines() {
        assert_eq!(
            parse_uidl_line("1 whqtswO00WBw418f9t5JxYwZ").expect("valid"),
            (1, "whqtswO00WBw418f9t5JxYwZ".to_owned())
        );
        for bad in ["", "1", "x abc", "1 a b"] {
            assert!(parse_uidl_line(bad).is_err(), "{bad:?}");
        }
    }

    #[tokio::test]
    async fn rfc1939_uidl_top_dele_transcript() {
        let (client, mut server) = tokio::io::duplex(4096);
        server
            .write_all(
                b"+OK ready\r\n+OK\r\n1 5.1\r\n2 5.2\r\n.\r\n+OK\r\nSubject: x\r\n..dot\r\n.\r\n\
                  +OK marked\r\n-ERR no such message\r\n",
            )
            .await
            .expect("server script");
        let mut pop = Pop3Client::new(client);
        pop.greeting().await.expect("greeting");
        assert_eq!(
            pop.uidl().await.expect("uidl"),
            vec![(1, "5.1".to_owned()), (2, "5.2".to_owned())]
        );
        assert_eq!(
            pop.top_headers(2).await.expect("top"),
            ["Subject: x", ".dot"]
        );
        pop.dele(1).await.expect("dele");
        assert!(pop.dele(9).await.is_err());
    }

    #[test]
    fn stat_ignores_trailing_text() {
        let stat = parse_stat("+OK 0 0 maildrop empty").expect("valid");
        assert_eq!(stat.count, 0);
    }

    #[test]
    fn stat_errors() {
        for line in [
            "-ERR maildrop locked",
            "+OK",
            "+OK 2",
            "+OK two 320",
            "+OK -1 0",
            "+OKAY 1 2",
            "",
        ] {
            assert!(parse_stat(line).is_err(), "{line:?}");
        }
    }

    #[tokio::test]
    async fn rfc1939_login_stat_quit_transcript() {
        let (client, mut server) = tokio::io::duplex(1024);
        server
            .write_all(b"+OK POP3 server ready\r\n+OK\r\n+OK maildrop locked and ready\r\n+OK 2 320\r\n+OK bye\r\n")
            .await
            .expect("server script");
        let mut pop = Pop3Client::new(client);
        pop.greeting().await.expect("greeting");
        pop.login("bench1", "benchpw").await.expect("login");
        assert_eq!(pop.stat().await.expect("stat").count, 2);
        pop.quit().await.expect("quit");
        let mut sent = String::new();
        server.read_to_string(&mut sent).await.expect("read");
        assert_eq!(sent, "USER bench1\r\nPASS benchpw\r\nSTAT\r\nQUIT\r\n");
    }

    #[tokio::test]
    async fn bad_password_is_an_error() {
        let (client, mut server) = tokio::io::duplex(1024);
        server
            .write_all(b"+OK ready\r\n+OK\r\n-ERR invalid password\r\n")
            .await
            .expect("server script");
        let mut pop = Pop3Client::new(client);
        pop.greeting().await.expect("greeting");
        let err = pop.login("bench1", "wrong").await.expect_err("rejected");
        assert!(
            format!("{err:#}").contains("-ERR invalid password"),
            "{err:#}"
        );
    }
}
