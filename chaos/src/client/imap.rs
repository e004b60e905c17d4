//! A small IMAP4rev1 client (RFC 3501): tagged commands, untagged responses collected as
//! lines, literals (`{n}`) folded into the line they belong to. Enough for LOGIN, SELECT,
//! FETCH, SEARCH, STORE, APPEND (with a LITERAL+ literal, RFC 7888), UID EXPUNGE and LOGOUT.

use std::net::SocketAddr;

use anyhow::{Context, Result, bail};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

use super::{LineConn, connect};

/// One message of a FETCH response.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Fetched {
    /// Sequence number.
    pub seq: u32,
    /// UID.
    pub uid: u64,
    /// Flags.
    pub flags: Vec<String>,
    /// The literal body part (headers asked for), if any.
    pub literal: String,
}

/// An IMAP client connection.
#[derive(Debug)]
pub struct ImapClient<S = TcpStream> {
    conn: LineConn<S>,
    tag: u32,
}

impl ImapClient<TcpStream> {
    /// Connects to `addr` and reads the `* OK` greeting.
    ///
    /// # Errors
    /// Fails on connection errors or another greeting.
    pub async fn connect(addr: SocketAddr) -> Result<Self> {
        let mut conn = LineConn::new(connect(addr).await?);
        let greeting = conn.read_line().await?;
        if !greeting.starts_with("* OK") {
            bail!("IMAP greeting: {greeting}");
        }
        Ok(Self { conn, tag: 0 })
    }
}

/// Whether `line` ends with a literal announcement `{n}`; returns `n`.
fn literal_len(line: &str) -> Option<usize> {
    let open = line.rfind('{')?;
    let inner = line[open + 1..].strip_suffix('}')?;
    inner.trim_end_matches('+').parse().ok()
}

impl<S: AsyncRead + AsyncWrite + Unpin> ImapClient<S> {
    /// Sends one command; returns the untagged responses (literals folded in, each literal's
    /// text in place of `{n}`) when the tagged answer is `OK`.
    ///
    /// # Errors
    /// Fails on I/O errors, or a tagged `NO`/`BAD` (its text in the error).
    pub async fn command(&mut self, command: &str) -> Result<Vec<String>> {
        let tag = self.next_tag();
        self.conn.send_line(&format!("{tag} {command}")).await?;
        self.answer(&tag, command).await
    }

    /// `APPEND mailbox {n+}` with `message` as a non-synchronizing literal (RFC 7888), sent in
    /// one write.
    ///
    /// # Errors
    /// As [`ImapClient::command`].
    pub async fn append(&mut self, mailbox: &str, message: &[u8]) -> Result<()> {
        let tag = self.next_tag();
        let command = format!("APPEND {mailbox}");
        let mut buf = format!("{tag} {command} {{{}+}}\r\n", message.len()).into_bytes();
        buf.extend_from_slice(message);
        buf.extend_from_slice(b"\r\n");
        self.conn.write_all(&buf).await?;
        self.answer(&tag, &command).await.map(|_| ())
    }

    fn next_tag(&mut self) -> String {
        self.tag += 1;
        format!("c{}", self.tag)
    }

    /// Reads the answer to `command`, sent with `tag`, as [`ImapClient::command`] returns it.
    async fn answer(&mut self, tag: &str, command: &str) -> Result<Vec<String>> {
        let mut untagged = Vec::new();
        loop {
            let mut line = self.conn.read_line().await?;
            // Fold literals: read lines until n octets (CRLF counted) are consumed.
            while let Some(n) = literal_len(&line) {
                let cut = line.rfind('{').unwrap_or(line.len());
                line.truncate(cut);
                let mut got = 0usize;
                let mut text = String::new();
                while got < n {
                    let part = self.conn.read_line().await?;
                    got += part.len() + 2;
                    text.push_str(&part);
                    text.push('\n');
                }
                line.push_str(&text);
                line.push_str(&self.conn.read_line().await?);
            }
            if let Some(rest) = line.strip_prefix(&format!("{tag} ")) {
                if rest.starts_with("OK") {
                    return Ok(untagged);
                }
                bail!("IMAP {}: {rest}", command.split(' ').next().unwrap_or(""));
            }
            untagged.push(line);
        }
    }

    /// `LOGIN` with quoted strings.
    ///
    /// # Errors
    /// As [`ImapClient::command`].
    pub async fn login(&mut self, user: &str, password: &str) -> Result<()> {
        self.command(&format!("LOGIN \"{user}\" \"{password}\""))
            .await
            .with_context(|| format!("IMAP LOGIN {user}"))?;
        Ok(())
    }

    /// `SELECT mailbox`; returns its UIDVALIDITY.
    ///
    /// # Errors
    /// As [`ImapClient::command`], or no UIDVALIDITY in the answer.
    pub async fn select(&mut self, mailbox: &str) -> Result<u64> {
        let lines = self.command(&format!("SELECT {mailbox}")).await?;
        lines
            .iter()
            .find_map(|l| {
                let at = l.find("[UIDVALIDITY ")?;
                let rest = &l[at + 13..];
                rest[..rest.find(']')?].trim().parse().ok()
            })
            .context("SELECT without UIDVALIDITY")
    }

    /// `UID FETCH 1:* (UID FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])`.
    ///
    /// # Errors
    /// As [`ImapClient::command`].
    pub async fn fetch_all(&mut self) -> Result<Vec<Fetched>> {
        let lines = self
            .command("UID FETCH 1:* (UID FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
            .await?;
        Ok(lines.iter().filter_map(|l| parse_fetch(l)).collect())
    }

    /// `UID STORE uid +FLAGS (flag)`.
    ///
    /// # Errors
    /// As [`ImapClient::command`].
    pub async fn add_flag(&mut self, uid: u64, flag: &str) -> Result<()> {
        self.command(&format!("UID STORE {uid} +FLAGS ({flag})"))
            .await?;
        Ok(())
    }

    /// `UID EXPUNGE uid` (RFC 4315).
    ///
    /// # Errors
    /// As [`ImapClient::command`].
    pub async fn uid_expunge(&mut self, uid: u64) -> Result<()> {
        self.command(&format!("UID EXPUNGE {uid}")).await?;
        Ok(())
    }

    /// `LOGOUT`.
    ///
    /// # Errors
    /// On I/O errors.
    pub async fn logout(mut self) -> Result<()> {
        self.command("LOGOUT").await.map(|_| ())
    }
}

/// Parses `* n FETCH (UID u FLAGS (...) BODY[...] text)`.
pub fn parse_fetch(line: &str) -> Option<Fetched> {
    let rest = line.strip_prefix("* ")?;
    let (seq, rest) = rest.split_once(' ')?;
    let seq: u32 = seq.parse().ok()?;
    let rest = rest.strip_prefix("FETCH (")?;
    let mut f = Fetched {
        seq,
        ..Fetched::default()
    };
    let uid_at = rest.find("UID ")?;
    f.uid = rest[uid_at + 4..]
        .split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()?;
    if let Some(at) = rest.find("FLAGS (") {
        let flags = &rest[at + 7..];
        let end = flags.find(')')?;
        f.flags = flags[..end].split_whitespace().map(str::to_owned).collect();
    }
    if let Some(at) = rest.find("BODY[") {
        let body = &rest[at..];
        if let Some(close) = body.find("] ") {
            f.literal = body[close + 2..].to_owned();
        }
    }
    Some(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fetch_lines_parse() {
        let f = parse_fetch(
            "* 2 FETCH (UID 7 FLAGS (\\Seen \\Recent) BODY[HEADER.FIELDS (SUBJECT)] Subject: chaos t1\n\n)",
        )
        .expect("parsed");
        assert_eq!((f.seq, f.uid), (2, 7));
        assert_eq!(f.flags, ["\\Seen", "\\Recent"]);
        assert!(f.literal.contains("Subject: chaos t1"));
        assert_eq!(literal_len("* 1 FETCH (BODY[] {42}"), Some(42));
        assert_eq!(literal_len("* OK done"), None);
    }

    #[tokio::test]
    async fn literals_are_folded() {
        use tokio::io::AsyncWriteExt;
        let (client, mut server) = tokio::io::duplex(4096);
        server
            .write_all(
                b"* 1 FETCH (UID 3 FLAGS () BODY[HEADER.FIELDS (SUBJECT)] {20}\r\nSubject: chaos x\r\n\r\n)\r\nc1 OK done\r\n",
            )
            .await
            .expect("write");
        let mut imap = ImapClient {
            conn: LineConn::new(client),
            tag: 0,
        };
        let got = imap.fetch_all().await.expect("fetch");
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].uid, 3);
        assert!(got[0].literal.contains("Subject: chaos x"), "{got:?}");
    }
}
