//! Small line-oriented protocol clients used by the benchmarks: SMTP (RFC 5321), POP3
//! (RFC 1939) and the CommuniGate-style CLI.
//!
//! Invariants shared by every client here:
//! - every read and write is bounded by [`IO_TIMEOUT`], so the tool never hangs on a stuck peer;
//! - a reply line longer than [`MAX_LINE_LEN`] is a fault, not a buffer that grows forever;
//! - each command is handed to the socket in one write (with `TCP_NODELAY`), so a command is one
//!   segment and latency figures are not skewed by Nagle's algorithm.
//!
//! The clients are generic over `AsyncRead + AsyncWrite` so tests can drive them over
//! `tokio::io::duplex`.

pub mod cli;
pub mod imap;
pub mod pop3;
pub mod smtp;

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::time::timeout;

/// Bound on every connect, read and write.
pub const IO_TIMEOUT: Duration = Duration::from_secs(30);

/// Longest reply line accepted, CRLF included. RFC 5321 §4.5.3.1.5 caps SMTP reply lines at
/// 512 octets; the CLI can return whole dictionaries on one line, hence the margin.
pub const MAX_LINE_LEN: usize = 64 * 1024;

/// Opens a TCP connection to `addr` with `TCP_NODELAY` set.
///
/// # Errors
/// Fails if the connection is refused or does not complete within [`IO_TIMEOUT`].
pub async fn connect(addr: SocketAddr) -> Result<TcpStream> {
    let stream = timeout(IO_TIMEOUT, TcpStream::connect(addr))
        .await
        .with_context(|| format!("connect to {addr}: timed out"))?
        .with_context(|| format!("connect to {addr}"))?;
    stream.set_nodelay(true).context("set TCP_NODELAY")?;
    Ok(stream)
}

/// A byte stream read line by line, written command by command.
#[derive(Debug)]
pub struct LineConn<S> {
    io: BufReader<S>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> LineConn<S> {
    /// Wraps a connected stream.
    pub fn new(stream: S) -> Self {
        Self {
            io: BufReader::new(stream),
        }
    }

    /// Reads one line and returns it without its line end (CRLF, or a lone LF from a lenient
    /// peer).
    ///
    /// # Errors
    /// Fails on I/O errors, end of stream, a line over [`MAX_LINE_LEN`], or [`IO_TIMEOUT`].
    pub async fn read_line(&mut self) -> Result<String> {
        let mut buf = Vec::new();
        let limit = u64::try_from(MAX_LINE_LEN).unwrap_or(u64::MAX);
        let mut limited = (&mut self.io).take(limit);
        let n = timeout(IO_TIMEOUT, limited.read_until(b'\n', &mut buf))
            .await
            .context("read: timed out")?
            .context("read")?;
        if n == 0 {
            bail!("connection closed by peer");
        }
        if buf.last() != Some(&b'\n') {
            if n >= MAX_LINE_LEN {
                bail!("reply line longer than {MAX_LINE_LEN} bytes");
            }
            bail!("connection closed in the middle of a line");
        }
        buf.pop();
        if buf.last() == Some(&b'\r') {
            buf.pop();
        }
        Ok(String::from_utf8_lossy(&buf).into_owned())
    }

    /// Writes `bytes` in one write call and flushes.
    ///
    /// # Errors
    /// Fails on I/O errors or [`IO_TIMEOUT`].
    pub async fn write_all(&mut self, bytes: &[u8]) -> Result<()> {
        let stream = self.io.get_mut();
        timeout(IO_TIMEOUT, async {
            stream.write_all(bytes).await?;
            stream.flush().await
        })
        .await
        .context("write: timed out")?
        .context("write")
    }

    /// Writes `line` followed by CRLF as one write.
    ///
    /// # Errors
    /// As [`LineConn::write_all`].
    pub async fn send_line(&mut self, line: &str) -> Result<()> {
        let mut buf = Vec::with_capacity(line.len() + 2);
        buf.extend_from_slice(line.as_bytes());
        buf.extend_from_slice(b"\r\n");
        self.write_all(&buf).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn read_line_strips_crlf_and_lone_lf() {
        let (client, mut server) = tokio::io::duplex(1024);
        server
            .write_all(b"250 ok\r\nbare\nlast")
            .await
            .expect("duplex write");
        drop(server);
        let mut conn = LineConn::new(client);
        assert_eq!(conn.read_line().await.expect("line 1"), "250 ok");
        assert_eq!(conn.read_line().await.expect("line 2"), "bare");
        assert!(conn.read_line().await.is_err(), "unterminated line at EOF");
    }

    #[tokio::test]
    async fn overlong_line_is_an_error() {
        let (client, mut server) = tokio::io::duplex(MAX_LINE_LEN * 2);
        let long = vec![b'x'; MAX_LINE_LEN + 10];
        server.write_all(&long).await.expect("duplex write");
        let mut conn = LineConn::new(client);
        let err = conn.read_line().await.expect_err("overlong");
        assert!(err.to_string().contains("longer"), "{err}");
    }
}
