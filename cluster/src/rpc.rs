//! Node-to-node RPC: Raft traffic, writes forwarded to the leader, read
//! indexes for linearizable reads on followers, and joining.
//!
//! Transport: TCP, one request at a time per connection, each frame a
//! big-endian `u32` length and a bincode body. A connection starts with an
//! authentication exchange: the server sends its protocol version and a
//! random nonce, the client answers with its version and
//! `HMAC-SHA256(cluster secret, nonce)`. A peer without the secret, or
//! speaking a protocol version older than this node still supports, is
//! refused with a clear message before any request is read.
//!
//! One request turns a connection into something else:
//! [`RpcRequest::OpenSession`] hands a client's POP3 or IMAP session to
//! the member that holds its account; after the `SessionOpened` answer the
//! connection carries the client's bytes both ways, unframed.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use openraft::error::{InstallSnapshotError, RaftError};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};

use crate::raft::{Request, Response, TypeConfig, decode, encode};

/// The newest node-to-node protocol version this build speaks. Versions
/// only add messages, so two nodes talk in the older of their versions.
///
/// - 1: Raft, forwarded writes, read index, membership, deliveries, status.
/// - 2: session handoff ([`RpcRequest::OpenSession`]).
/// - 3: the `WhiteHoleIPs` and `DeniedIPs` address lists
///   ([`crate::directory::ip_list_protocol`]).
/// - 4: queue claims renewed while delivering ([`crate::Command::RenewClaims`]);
///   members' activity and session kills ([`RpcRequest::Activity`],
///   [`RpcRequest::KillSessions`]).
/// - 5: snapshots in a self-describing encoding, so that a member reads a
///   snapshot whose state has fields it does not know
///   ([`crate::raft::state_machine`]); deliveries into a mailbox
///   other than INBOX, such as Junk ([`RpcRequest::DeliverInto`]); delivered
///   legs of group and forwarder recipients recorded
///   ([`crate::Command::ReportLegs`]); account aliases checked against
///   forwarders and groups by the state machine
///   ([`crate::DirectoryOp::SetAccountAliases`]); the relay TLS policy in
///   the replicated router settings ([`crate::Command::SetTlsPolicy`]).
pub const PROTOCOL_VERSION: u32 = 5;
/// The first version with [`RpcRequest::OpenSession`].
pub const SESSION_HANDOFF_VERSION: u32 = 2;
/// The first version with [`crate::Command::RenewClaims`].
pub const CLAIM_RENEWAL_VERSION: u32 = 4;
/// The first version with [`RpcRequest::Activity`] and
/// [`RpcRequest::KillSessions`].
pub const NODE_ACTIVITY_VERSION: u32 = 4;
/// The first version with [`RpcRequest::DeliverInto`]: before it, every
/// delivery goes to INBOX.
pub const MAILBOX_DELIVERY_VERSION: u32 = 5;
/// The first version with [`crate::Command::ReportLegs`] (and the
/// recipient field it fills): before it, a retry sends every leg again.
pub const LEG_REPORT_VERSION: u32 = 5;
/// The first version with [`crate::DirectoryOp::SetAccountAliases`].
pub const ALIAS_NAMESPACE_VERSION: u32 = 5;
/// The first version with [`crate::Command::SetTlsPolicy`].
pub const RELAY_TLS_POLICY_VERSION: u32 = 5;
/// The oldest version this build still speaks; older peers are refused.
pub const MIN_PROTOCOL_VERSION: u32 = 1;

/// Largest frame accepted (snapshot chunks are 3 MiB by default).
const MAX_FRAME: usize = 64 * 1024 * 1024;

/// How long connecting and each request may take.
pub const RPC_TIMEOUT: Duration = Duration::from_secs(10);

/// A request from one node to another.
#[derive(Debug, Serialize, Deserialize)]
pub enum RpcRequest {
    /// Raft replication.
    AppendEntries(AppendEntriesRequest<TypeConfig>),
    /// Raft election.
    Vote(VoteRequest<u64>),
    /// Raft snapshot transfer (one chunk).
    InstallSnapshot(InstallSnapshotRequest<TypeConfig>),
    /// A batch of commands for the leader to commit.
    ClientWrite(Request),
    /// Asks the leader for the log index a linearizable read must wait for.
    ReadIndex,
    /// Asks the leader for a new node id.
    AllocateNodeId,
    /// Asks the leader to add a node (learner, then voter while fewer than
    /// five voters).
    AddMember {
        /// The new node's id.
        id: u64,
        /// Its cluster address.
        addr: String,
    },
    /// Asks the node holding an account's lease to store a delivered
    /// message (CommuniGate's "delivery channel" to the right backend).
    Deliver(Delivery),
    /// Asks the holder of an account's lease to give it back if it is not
    /// using the account.
    Yield(crate::directory::AccountRef),
    /// Asks for the cluster as this node sees it.
    Status,
    /// Asks the leader to remove a member from the cluster.
    RemoveMember {
        /// The member's id.
        id: u64,
    },
    /// Hands a client session to the member holding its account (since
    /// [`SESSION_HANDOFF_VERSION`]); answered by `SessionOpened`, after
    /// which the connection carries the client's bytes.
    OpenSession(SessionHandoff),
    /// Asks for the member's recent activity (since
    /// [`NODE_ACTIVITY_VERSION`]), for cluster-wide totals.
    Activity,
    /// Asks the member to close its sessions logged in as the account
    /// (since [`NODE_ACTIVITY_VERSION`]); `KillAccountSessions` run on any
    /// member reaches them all.
    KillSessions(crate::directory::AccountRef),
    /// Like `Deliver`, into another mailbox of the account (since
    /// [`MAILBOX_DELIVERY_VERSION`]); answered by `Delivered`.
    DeliverInto(MailboxDelivery),
}

/// One member's recent activity.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeActivity {
    /// Messages it accepted in the last minute.
    pub accepted: u64,
    /// Recipients it delivered in the last minute.
    pub delivered: u64,
    /// Its open sessions by protocol (`SMTP`, `POP3`, `IMAP`, `CLI`).
    pub sessions: std::collections::BTreeMap<String, u64>,
}

/// A POP3 or IMAP session that logged in on one member and continues on
/// the member holding the account (CommuniGate's frontend-to-backend
/// proxying).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SessionHandoff {
    /// The session's protocol.
    pub protocol: SessionProtocol,
    /// The logged-in account.
    pub account: crate::directory::AccountRef,
    /// The client, as the first member logs it (`[ip]:port`).
    pub client: String,
    /// Whether the client's connection to the first member is TLS.
    pub tls: bool,
    /// The login command's tag, which the answer to it carries (IMAP).
    pub tag: String,
    /// How the client logged in, for the log (`LOGIN`, `AUTH PLAIN`...).
    pub method: String,
}

/// The protocols whose sessions can be handed over.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SessionProtocol {
    /// POP3.
    Pop3,
    /// IMAP.
    Imap,
}

/// A message for an account open on another node.
#[derive(Debug, Serialize, Deserialize)]
pub struct Delivery {
    /// The account.
    pub account: crate::directory::AccountRef,
    /// Its storage kind (to create its files if missing).
    pub kind: storage::AccountKind,
    /// The message as stored (wire form).
    pub message: Vec<u8>,
    /// The delivery key (queue id and recipient), for exactly-once.
    pub key: String,
    /// The envelope sender.
    pub return_path: String,
    /// The internal date (unix seconds).
    pub internal_date: i64,
}

/// A message for a mailbox other than INBOX of an account open on another
/// node.
#[derive(Debug, Serialize, Deserialize)]
pub struct MailboxDelivery {
    /// The message, as for INBOX.
    pub delivery: Delivery,
    /// The mailbox; made when missing.
    pub mailbox: String,
}

/// The answer to an [`RpcRequest`].
#[derive(Debug, Serialize, Deserialize)]
pub enum RpcResponse {
    /// To `AppendEntries`.
    AppendEntries(Result<AppendEntriesResponse<u64>, RaftError<u64>>),
    /// To `Vote`.
    Vote(Result<VoteResponse<u64>, RaftError<u64>>),
    /// To `InstallSnapshot`.
    InstallSnapshot(Result<InstallSnapshotResponse<u64>, RaftError<u64, InstallSnapshotError>>),
    /// To `ClientWrite`: the results and the log index they were
    /// committed at, or why not.
    ClientWrite(Result<(Response, u64), RemoteError>),
    /// To `ReadIndex`.
    ReadIndex(Result<u64, RemoteError>),
    /// To `AllocateNodeId`.
    NodeId(Result<u64, RemoteError>),
    /// To `AddMember`.
    Added(Result<(), RemoteError>),
    /// To `Deliver` and `DeliverInto`: the message's UID in its mailbox.
    Delivered(Result<u32, RemoteError>),
    /// To `Yield`: whether the lease was given back.
    Yielded(bool),
    /// To `Status`.
    Status(Box<crate::status::ClusterStatus>),
    /// To `RemoveMember`.
    Removed(Result<(), RemoteError>),
    /// To `OpenSession`: the session runs here from now on, or why not.
    SessionOpened(Result<(), RemoteError>),
    /// To `Activity`.
    Activity(NodeActivity),
    /// To `KillSessions`: how many sessions were closed.
    SessionsKilled(u64),
}

/// Why a remote node could not do what was asked.
#[derive(Clone, Debug, Serialize, Deserialize, thiserror::Error)]
pub enum RemoteError {
    /// Not the leader; try this one (id, address) if known.
    #[error("not the leader (leader: {0:?})")]
    NotLeader(Option<(u64, String)>),
    /// Anything else, as text.
    #[error("{0}")]
    Failed(String),
}

/// The server's opening frame.
#[derive(Serialize, Deserialize)]
struct Hello {
    version: u32,
    nonce: [u8; 32],
}

/// The client's answer to [`Hello`].
#[derive(Serialize, Deserialize)]
struct Auth {
    version: u32,
    mac: Vec<u8>,
}

/// The server's verdict on [`Auth`].
#[derive(Serialize, Deserialize)]
enum Verdict {
    Welcome,
    Refused(String),
}

/// What a member proves and speaks on every connection: the shared
/// cluster secret (as an HMAC key) and its protocol version, and the
/// address its connections leave from.
#[derive(Clone)]
pub struct Secret {
    key: Arc<ring::hmac::Key>,
    version: u32,
    source: Option<IpAddr>,
}

impl Secret {
    /// Makes the key from the configured secret text; the member speaks
    /// [`PROTOCOL_VERSION`].
    pub fn new(text: &str) -> Secret {
        Secret {
            key: Arc::new(ring::hmac::Key::new(
                ring::hmac::HMAC_SHA256,
                text.as_bytes(),
            )),
            version: PROTOCOL_VERSION,
            source: None,
        }
    }

    /// The same secret, connecting from `ip` (the address the member's
    /// cluster listener is bound to): on a host with several addresses its
    /// peers see it come from the address they reach it at, which is what
    /// a firewall between cluster members expects. An unspecified address
    /// (`0.0.0.0`, `::`) leaves the choice to the system.
    pub fn leaving_from(self, ip: IpAddr) -> Secret {
        Secret {
            source: (!ip.is_unspecified()).then_some(ip),
            ..self
        }
    }

    /// The same secret, speaking `version` (kept between
    /// [`MIN_PROTOCOL_VERSION`] and [`PROTOCOL_VERSION`]): a member told to
    /// act as the previous release for a mixed-version cluster.
    pub fn speaking(self, version: u32) -> Secret {
        Secret {
            version: version.clamp(MIN_PROTOCOL_VERSION, PROTOCOL_VERSION),
            ..self
        }
    }

    /// The protocol version this member speaks.
    pub fn version(&self) -> u32 {
        self.version
    }

    fn sign(&self, nonce: &[u8]) -> Vec<u8> {
        ring::hmac::sign(&self.key, nonce).as_ref().to_vec()
    }

    fn verify(&self, nonce: &[u8], mac: &[u8]) -> bool {
        ring::hmac::verify(&self.key, nonce, mac).is_ok()
    }
}

/// An RPC failure on the caller's side.
#[derive(Debug, thiserror::Error)]
pub enum RpcError {
    /// Could not connect, or the connection broke.
    #[error("{addr}: {source}")]
    Io {
        /// The peer.
        addr: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The peer refused us (wrong secret, incompatible version).
    #[error("{addr} refused the connection: {reason}")]
    Refused {
        /// The peer.
        addr: String,
        /// Its reason.
        reason: String,
    },
    /// The peer answered something that does not fit the request.
    #[error("{addr}: unexpected answer")]
    Protocol {
        /// The peer.
        addr: String,
    },
}

async fn write_frame<T: Serialize>(stream: &mut TcpStream, value: &T) -> std::io::Result<()> {
    let body = encode(value).map_err(std::io::Error::other)?;
    let len = u32::try_from(body.len()).map_err(std::io::Error::other)?;
    let mut frame = Vec::with_capacity(body.len() + 4);
    frame.extend_from_slice(&len.to_be_bytes());
    frame.extend_from_slice(&body);
    stream.write_all(&frame).await
}

async fn read_frame<T: serde::de::DeserializeOwned>(stream: &mut TcpStream) -> std::io::Result<T> {
    let mut len = [0u8; 4];
    stream.read_exact(&mut len).await?;
    let len = u32::from_be_bytes(len) as usize;
    if len > MAX_FRAME {
        return Err(std::io::Error::other(format!(
            "frame of {len} bytes is too large"
        )));
    }
    let mut body = vec![0u8; len];
    stream.read_exact(&mut body).await?;
    decode(&body).map_err(std::io::Error::other)
}

/// Connects to `addr`, from `source` when given; an address of `addr` of
/// the other family is reached from wherever the system picks.
async fn dial(addr: &str, source: Option<IpAddr>) -> std::io::Result<TcpStream> {
    let Some(source) = source else {
        return TcpStream::connect(addr).await;
    };
    let mut last = std::io::Error::new(
        std::io::ErrorKind::NotFound,
        format!("{addr} has no address"),
    );
    for target in tokio::net::lookup_host(addr).await? {
        let attempt = if source.is_ipv4() == target.is_ipv4() {
            from(source, target).await
        } else {
            TcpStream::connect(target).await
        };
        match attempt {
            Ok(stream) => return Ok(stream),
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// Connects to `target` from `source` (same family).
async fn from(source: IpAddr, target: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = if source.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.bind(SocketAddr::new(source, 0))?;
    socket.connect(target).await
}

/// One authenticated connection to a peer.
pub struct RpcConnection {
    addr: String,
    stream: TcpStream,
    /// The protocol version both ends speak (the older of theirs).
    version: u32,
}

impl RpcConnection {
    /// Connects to `addr` and authenticates.
    ///
    /// # Errors
    /// Connection failures, or the peer refusing us.
    pub async fn connect(addr: &str, secret: &Secret) -> Result<RpcConnection, RpcError> {
        let io = |source| RpcError::Io {
            addr: addr.to_string(),
            source,
        };
        let mut stream = tokio::time::timeout(RPC_TIMEOUT, dial(addr, secret.source))
            .await
            .map_err(|_| io(std::io::ErrorKind::TimedOut.into()))?
            .map_err(io)?;
        let _ = stream.set_nodelay(true);
        let hello: Hello = read_frame(&mut stream).await.map_err(io)?;
        let auth = Auth {
            version: secret.version,
            mac: secret.sign(&hello.nonce),
        };
        write_frame(&mut stream, &auth).await.map_err(io)?;
        match read_frame(&mut stream).await.map_err(io)? {
            Verdict::Welcome => Ok(RpcConnection {
                addr: addr.to_string(),
                stream,
                version: hello.version.min(secret.version),
            }),
            Verdict::Refused(reason) => Err(RpcError::Refused {
                addr: addr.to_string(),
                reason,
            }),
        }
    }

    /// Sends one request and waits for its answer.
    ///
    /// # Errors
    /// The connection broke or timed out; the connection is then unusable.
    pub async fn call(&mut self, request: &RpcRequest) -> Result<RpcResponse, RpcError> {
        let addr = self.addr.clone();
        let exchange = async {
            write_frame(&mut self.stream, request).await?;
            read_frame(&mut self.stream).await
        };
        tokio::time::timeout(RPC_TIMEOUT, exchange)
            .await
            .map_err(|_| RpcError::Io {
                addr: addr.clone(),
                source: std::io::ErrorKind::TimedOut.into(),
            })?
            .map_err(|source| RpcError::Io { addr, source })
    }
}

impl RpcConnection {
    /// Hands a session to the peer: once it accepts, the connection carries
    /// the client's bytes, and is returned for the caller to relay them.
    ///
    /// # Errors
    /// The peer is too old for handoffs, refuses the session, or the
    /// connection failed.
    pub async fn open_session(mut self, handoff: SessionHandoff) -> Result<TcpStream, RpcError> {
        if self.version < SESSION_HANDOFF_VERSION {
            return Err(RpcError::Refused {
                addr: self.addr,
                reason: format!(
                    "the connection speaks cluster protocol {}, session handoff needs {SESSION_HANDOFF_VERSION}",
                    self.version
                ),
            });
        }
        match self.call(&RpcRequest::OpenSession(handoff)).await? {
            RpcResponse::SessionOpened(Ok(())) => Ok(self.stream),
            RpcResponse::SessionOpened(Err(e)) => Err(RpcError::Refused {
                addr: self.addr,
                reason: e.to_string(),
            }),
            _ => Err(RpcError::Protocol { addr: self.addr }),
        }
    }
}

/// Connects, sends one request, and returns the answer (for rare calls).
///
/// # Errors
/// As [`RpcConnection::connect`] and [`RpcConnection::call`].
pub async fn call_once(
    addr: &str,
    secret: &Secret,
    request: &RpcRequest,
) -> Result<RpcResponse, RpcError> {
    RpcConnection::connect(addr, secret)
        .await?
        .call(request)
        .await
}

/// Serves a handed-over session on the connection it came in on.
pub type SessionServer =
    Box<dyn FnOnce(TcpStream) -> std::pin::Pin<Box<dyn Future<Output = ()> + Send>> + Send>;

/// What serves requests on this node.
pub trait Handler: Send + Sync + 'static {
    /// Answers one request.
    fn handle(&self, request: RpcRequest) -> impl Future<Output = RpcResponse> + Send;

    /// Takes a handed-over session, or says why not.
    fn open_session(
        &self,
        handoff: SessionHandoff,
    ) -> impl Future<Output = Result<SessionServer, RemoteError>> + Send;
}

/// Accepts peers on `listener` until the task is dropped.
pub async fn serve<H: Handler>(listener: TcpListener, secret: Secret, handler: Arc<H>) {
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(a) => a,
            Err(e) => {
                tracing::warn!("cluster accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let secret = secret.clone();
        let handler = handler.clone();
        tokio::spawn(async move {
            if let Err(e) = serve_connection(stream, peer, secret, handler).await {
                tracing::debug!(%peer, "cluster connection ended: {e}");
            }
        });
    }
}

async fn serve_connection<H: Handler>(
    mut stream: TcpStream,
    peer: SocketAddr,
    secret: Secret,
    handler: Arc<H>,
) -> std::io::Result<()> {
    let nonce: [u8; 32] = rand::random();
    write_frame(
        &mut stream,
        &Hello {
            version: secret.version,
            nonce,
        },
    )
    .await?;
    let auth: Auth = tokio::time::timeout(RPC_TIMEOUT, read_frame(&mut stream))
        .await
        .map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))??;
    let refusal = if !secret.verify(&nonce, &auth.mac) {
        Some("wrong cluster secret".to_string())
    } else if auth.version < MIN_PROTOCOL_VERSION {
        Some(format!(
            "the peer speaks cluster protocol {}, this node needs at least {MIN_PROTOCOL_VERSION}: upgrade the peer",
            auth.version
        ))
    } else {
        None
    };
    if let Some(reason) = refusal {
        tracing::warn!(%peer, "refused cluster peer: {reason}");
        write_frame(&mut stream, &Verdict::Refused(reason)).await?;
        return Ok(());
    }
    write_frame(&mut stream, &Verdict::Welcome).await?;
    let version = auth.version.min(secret.version);
    loop {
        let request: RpcRequest = read_frame(&mut stream).await?;
        if let RpcRequest::OpenSession(handoff) = request {
            if version < SESSION_HANDOFF_VERSION {
                // What a member of that version does with a request it
                // cannot decode.
                return Err(std::io::Error::other(
                    "request newer than the connection's protocol",
                ));
            }
            let opened = handler.open_session(handoff).await;
            let answer =
                RpcResponse::SessionOpened(opened.as_ref().map(|_| ()).map_err(Clone::clone));
            write_frame(&mut stream, &answer).await?;
            if let Ok(serve) = opened {
                serve(stream).await;
            }
            return Ok(());
        }
        let response = handler.handle(request).await;
        write_frame(&mut stream, &response).await?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_of_the_nonce_proves_the_secret() {
        let nonce = [7u8; 32];
        let good = Secret::new("s3cret");
        assert!(good.verify(&nonce, &good.sign(&nonce)));
        assert!(!good.verify(&nonce, &Secret::new("other").sign(&nonce)));
        assert!(!good.verify(&[8u8; 32], &good.sign(&nonce)));
    }

    /// A member whose cluster listener is bound to one address connects
    /// from it; an unspecified one leaves the choice to the system.
    #[tokio::test]
    async fn connections_leave_from_the_listener_address() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr").to_string();
        let peer = |secret: Secret| {
            let addr = addr.clone();
            async move { dial(&addr, secret.source).await.expect("connect") }
        };
        let bound: IpAddr = "127.0.0.7".parse().expect("ip");
        let _c = peer(Secret::new("s").leaving_from(bound)).await;
        let (_, from) = listener.accept().await.expect("accept");
        assert_eq!(from.ip(), bound);
        let any: IpAddr = "0.0.0.0".parse().expect("ip");
        let _c = peer(Secret::new("s").leaving_from(any)).await;
        let (_, from) = listener.accept().await.expect("accept");
        assert_eq!(from.ip(), IpAddr::from([127, 0, 0, 1]));
    }
}
