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
