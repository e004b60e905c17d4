//! Session handoff between members (DESIGN invariant 3): a POP3 or IMAP
//! client that logs in on one member while another holds the account
//! continues its session on the holder, the way CommuniGate's frontends
//! proxy sessions to the backend that has the account open.
//!
//! The member the client reached keeps the client's connection (and its
//! TLS) and relays bytes both ways over an authenticated cluster
//! connection; the holder runs the session as if the login had happened
//! there, with the account pinned ([`cluster::SessionPin`]) until it ends.
//! The cluster connection is not encrypted: members are expected on a
//! private network, as for Raft traffic.

use std::pin::Pin;
use std::sync::{Arc, Weak};
use std::time::Duration;

use cluster::SessionPin;
use cluster::rpc::{SessionHandoff, SessionProtocol};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::net::Stream;
use crate::server::Services;

/// How long the holder's last words may take once the client has closed.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves the sessions other members hand to this one.
pub struct Acceptor(Weak<Services>);

impl Acceptor {
    /// The acceptor of a node's services (weak: the services own the
    /// cluster handle that keeps the acceptor).
    pub fn new(services: &Arc<Services>) -> Acceptor {
        Acceptor(Arc::downgrade(services))
    }
}

impl cluster::SessionAcceptor for Acceptor {
    fn serve(
        &self,
        handoff: SessionHandoff,
        pin: SessionPin,
        stream: TcpStream,
    ) -> Pin<Box<dyn Future<Output = ()> + Send>> {
        let Some(services) = self.0.upgrade() else {
            return Box::pin(async {});
        };
        let stream = Stream::Plain(stream);
        // Registered as the account's session, for `KillAccountSessions`.
        let (sessions, account) = (services.sessions.clone(), handoff.account.clone());
        // Tracked like local sessions: a stopping node waits for them.
        let tasks = services.session_tasks.clone();
        match handoff.protocol {
            SessionProtocol::Imap => Box::pin(async move {
                let run = crate::imap::session::resume(stream, handoff, pin, services);
                tasks
                    .track_future(sessions.run_as("IMAP", account, run))
                    .await;
            }),
            SessionProtocol::Pop3 => Box::pin(async move {
                let run = crate::pop3::session::resume(stream, handoff, pin, services);
                tasks
                    .track_future(sessions.run_as("POP3", account, run))
                    .await;
            }),
        }
    }

    fn activity(&self) -> cluster::rpc::NodeActivity {
        let Some(services) = self.0.upgrade() else {
            return cluster::rpc::NodeActivity::default();
        };
        let (accepted, delivered) = services.admin.last_minute().unwrap_or((0, 0));
        // Each client once: the sessions handed to this node are counted
        // by the members their clients are connected to.
        let sessions = services.sessions.client_counts().into_iter();
        cluster::rpc::NodeActivity {
            accepted,
            delivered,
            sessions: sessions.map(|(p, n)| (p.to_string(), n as u64)).collect(),
        }
    }

    fn kill_sessions(&self, account: &cluster::AccountRef) -> u64 {
        self.0
            .upgrade()
            .map_or(0, |services| services.sessions.kill(account) as u64)
    }
}

/// Relays between the client and the member now serving its session until
/// the session ends there (or the client goes away). `pending` is what the
/// client sent after its login command; it goes first.
pub async fn relay<IO: AsyncRead + AsyncWrite + Unpin>(
    client: Stream<IO>,
    pending: Vec<u8>,
    holder: TcpStream,
) {
    let (mut client_rx, mut client_tx) = tokio::io::split(client);
    let (mut holder_rx, mut holder_tx) = holder.into_split();
    let upstream = async {
        holder_tx.write_all(&pending).await?;
        tokio::io::copy(&mut client_rx, &mut holder_tx).await?;
        holder_tx.shutdown().await
    };
    let downstream = async {
        tokio::io::copy(&mut holder_rx, &mut client_tx).await?;
        client_tx.shutdown().await
    };
    tokio::pin!(downstream);
    tokio::select! {
        // The session ended on the holder: the client is told by the
        // holder's own last reply (BYE, +OK), and the connection closes.
        _ = &mut downstream => {}
        // The client left: the holder sees the end of input; let its
        // session finish writing.
        _ = upstream => {
            let _ = tokio::time::timeout(DRAIN_TIMEOUT, downstream).await;
        }
    }
}
