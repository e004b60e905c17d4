//! A connection that may switch to TLS mid-session (STARTTLS, STLS).

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

/// A client connection, clear or TLS, over any transport `IO`.
pub enum Stream<IO> {
    /// Clear text.
    Plain(IO),
    /// After a TLS handshake.
    Tls(Box<TlsStream<IO>>),
}

impl<IO: AsyncRead + AsyncWrite + Unpin> Stream<IO> {
    /// Runs the server side of a TLS handshake on a clear stream.
    ///
    /// # Errors
    /// The handshake failed, or the stream is already TLS.
    pub async fn start_tls(self, config: Arc<rustls::ServerConfig>) -> io::Result<Stream<IO>> {
        match self {
            Stream::Plain(io) => {
                let tls = TlsAcceptor::from(config).accept(io).await?;
                Ok(Stream::Tls(Box::new(tls)))
            }
            Stream::Tls(_) => Err(io::Error::other("TLS is already active")),
        }
    }

    /// Whether TLS is active.
    pub fn is_tls(&self) -> bool {
        matches!(self, Stream::Tls(_))
    }
}

impl<IO: AsyncRead + AsyncWrite + Unpin> AsyncRead for Stream<IO> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl<IO: AsyncRead + AsyncWrite + Unpin> AsyncWrite for Stream<IO> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// Why a session's connection stopped.
#[derive(Debug)]
pub enum Ended {
    /// The session closed it (QUIT, LOGOUT, too many errors).
    Closed,
    /// Nothing arrived within the idle timeout, or a write stalled as long.
    Idle,
    /// The client closed the connection.
    Eof,
    /// A socket or TLS error.
    Io(std::io::Error),
    /// The node is stopping: the session says goodbye (`* BYE`, `421`).
    Shutdown,
}

/// A protocol's input framer: bytes in, frames out (see `*/proto`).
pub trait Framer {
    /// Adds bytes read from the client.
    fn feed(&mut self, bytes: &[u8]);
    /// Takes out the bytes not framed yet (input the client sent ahead).
    fn take_rest(&mut self) -> Vec<u8>;
}

/// How long the final flush and TLS close_notify may take.
const CLOSE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
/// Bytes read from the socket at a time.
const READ_CHUNK: usize = 16 * 1024;

/// A session's connection: the stream, its input framer and the replies
/// not written yet, every read and write bounded by the idle timeout.
/// Replies are batched and written before the session waits for input, so
/// pipelined commands get their answers in one write. A session waiting
/// for input stops waiting when the node stops ([`Ended::Shutdown`]); a
/// command in progress runs to its end first.
pub struct Conn<IO, R> {
    /// The stream, clear or TLS.
    pub stream: Stream<IO>,
    /// The input framer.
    pub rx: R,
    /// Replies not written yet.
    pub out: Vec<u8>,
    idle: std::time::Duration,
    stopping: Stopping,
}

/// Tells sessions that the node is stopping: the node drops its sender.
pub type Stopping = tokio::sync::watch::Receiver<()>;

impl<IO: AsyncRead + AsyncWrite + Unpin, R: Framer> Conn<IO, R> {
    /// Wraps `stream`; `idle` bounds every read and write; waiting for
    /// input ends when `stopping` does.
    pub fn new(stream: Stream<IO>, rx: R, idle: std::time::Duration, stopping: Stopping) -> Self {
        Conn {
            stream,
            rx,
            out: Vec::new(),
            idle,
            stopping,
        }
    }

    /// How long a read or write may wait.
    pub fn idle(&self) -> std::time::Duration {
        self.idle
    }

    /// Reads once into the framer.
    ///
    /// # Errors
    /// Idle timeout, end of stream, I/O failure, or the node stopping.
    pub async fn read_some(&mut self) -> Result<(), Ended> {
        use tokio::io::AsyncReadExt;
        let mut buf = [0u8; READ_CHUNK];
        let read = tokio::time::timeout(self.idle, self.stream.read(&mut buf));
        let stopping = self.stopping.changed();
        let read = tokio::select! {
            read = read => read,
            // Cancel-safe: the read that loses consumed nothing.
            _ = stopping => return Err(Ended::Shutdown),
        };
        match read {
            Err(_) => Err(Ended::Idle),
            Ok(Err(e)) => Err(Ended::Io(e)),
            Ok(Ok(0)) => Err(Ended::Eof),
            Ok(Ok(n)) => {
                self.rx.feed(&buf[..n]);
                Ok(())
            }
        }
    }

    /// Writes the pending replies.
    ///
    /// # Errors
    /// The write stalled past the idle timeout, or failed.
    pub async fn flush(&mut self) -> Result<(), Ended> {
        use tokio::io::AsyncWriteExt;
        if self.out.is_empty() {
            return Ok(());
        }
        let out = std::mem::take(&mut self.out);
        let stream = &mut self.stream;
        let write = async move {
            stream.write_all(&out).await?;
            stream.flush().await
        };
        match tokio::time::timeout(self.idle, write).await {
            Err(_) => Err(Ended::Idle),
            Ok(Err(e)) => Err(Ended::Io(e)),
            Ok(Ok(())) => Ok(()),
        }
    }

    /// Runs the TLS handshake (bounded by the idle timeout) and starts over
    /// with a fresh framer: input sent before the handshake must have been
    /// taken out and dropped by the caller (command injection, RFC 3207 §6).
    ///
    /// # Errors
    /// The handshake failed or timed out.
    pub async fn start_tls(self, config: Arc<rustls::ServerConfig>, rx: R) -> io::Result<Self> {
        let idle = self.idle;
        let stream = tokio::time::timeout(idle, self.stream.start_tls(config))
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "TLS handshake timed out"))??;
        Ok(Conn::new(stream, rx, idle, self.stopping))
    }

    /// Writes the pending replies, then relays the client's bytes to and
    /// from the member that now serves the session ([`crate::handoff`]),
    /// input sent ahead first, until the session ends there.
    ///
    /// # Errors
    /// The pending replies could not be written.
    pub async fn relay_to(mut self, holder: tokio::net::TcpStream) -> Result<(), Ended> {
        self.flush().await?;
        let pending = self.rx.take_rest();
        crate::handoff::relay(self.stream, pending, holder).await;
        Ok(())
    }

    /// Best-effort final write and shutdown (TLS close_notify).
    pub async fn close(mut self) {
        use tokio::io::AsyncWriteExt;
        self.idle = self.idle.min(CLOSE_TIMEOUT);
        if self.flush().await.is_ok() {
            let _ = tokio::time::timeout(CLOSE_TIMEOUT, self.stream.shutdown()).await;
        }
    }
}
