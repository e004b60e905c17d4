//! [`ClusterHandle`]: how the rest of Mailnode uses the replicated state.
//!
//! Writes are proposals (batched, see `proposer`) committed through the
//! leader wherever it is; reads look at the local applied state, or first
//! catch up with the leader's read index when they must be linearizable
//! (DESIGN §5.5).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock, RwLock};
use std::time::Duration;

use openraft::{BasicNode, Config, RaftMetrics, SnapshotPolicy};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot, watch};

use crate::accounts::{SessionAcceptor, WeakHub};
use crate::command::{Command, CommandResult};
use crate::error::{Error, Result};
use crate::leader::LeaderLink;
use crate::proposer::{self, Proposal};
use crate::raft::Raft;
use crate::raft::log_store::LogStore;
use crate::raft::network::Network;
use crate::raft::state_machine::StateMachine;
use crate::rpc::{self, RemoteError, RpcRequest, RpcResponse, Secret, SessionHandoff};
use crate::service::RpcService;
use crate::state::State;

/// How to start this node's Raft member.
#[derive(Clone, Debug)]
pub struct ClusterConfig {
    /// Node-local folder; the Raft store goes into `raft/` under it and the
    /// node's id into `node.id`.
    pub data_dir: PathBuf,
    /// Address peers reach this node's cluster port at.
    pub address: String,
    /// Most commands per Raft entry.
    pub max_batch: usize,
    /// The cluster secret every member shares.
    pub secret: String,
    /// A member to join through, on first start; `None` bootstraps a new
    /// one-member cluster.
    pub join: Option<String>,
    /// The node-to-node protocol version to speak (normally
    /// [`rpc::PROTOCOL_VERSION`]; older to act as the previous release).
    pub protocol_version: u32,
}

/// How long cluster-wide totals and session kills wait for each other
/// member: an administration page must not hang on a dead one.
const PEER_ASK_TIMEOUT: Duration = Duration::from_secs(3);

/// How long a starting member waits for a leader and to catch up with it
/// (after a full-cluster outage, members come back one by one).
const START_WAIT: Duration = Duration::from_secs(120);

/// How far a member's Raft log is compacted (last log indexes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LogState {
    /// The last entry the member's snapshot covers.
    pub snapshot: Option<u64>,
    /// The last entry dropped from its log.
    pub purged: Option<u64>,
}

/// A cheap, cloneable handle on the local Raft member.
#[derive(Clone)]
pub struct ClusterHandle {
    inner: Arc<Inner>,
}

struct Inner {
    node_id: u64,
    raft: Raft,
    link: Arc<LeaderLink>,
    state: Arc<RwLock<State>>,
    proposals: mpsc::Sender<Proposal>,
    changes: watch::Receiver<u64>,
    rpc_server: Option<tokio::task::JoinHandle<()>>,
    hub: Arc<OnceLock<WeakHub>>,
    sessions: Arc<OnceLock<Arc<dyn SessionAcceptor>>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Some(server) = self.rpc_server.take() {
            server.abort();
        }
    }
}

impl ClusterHandle {
    /// Opens the store, starts Raft and its RPC service on `listener`
    /// (none: this node cannot have peers), bootstraps a one-member cluster
    /// or joins one on first start, and waits until this member is current.
    ///
    /// Must be called inside a tokio runtime that outlives the node: Raft's
    /// tasks are spawned on it.
    ///
    /// # Errors
    /// The store cannot be opened, joining fails, or (on a first start) no
    /// leader appears within [`START_WAIT`].
    pub async fn start(cfg: ClusterConfig, listener: Option<TcpListener>) -> Result<ClusterHandle> {
        let dir = cfg.data_dir.join("raft");
        let store_err = |reason: String| Error::Store {
            path: dir.clone(),
            reason,
        };
        std::fs::create_dir_all(&dir).map_err(|e| store_err(e.to_string()))?;
        let mut secret = Secret::new(&cfg.secret).speaking(cfg.protocol_version);
        if let Some(bound) = listener.as_ref().and_then(|l| l.local_addr().ok()) {
            secret = secret.leaving_from(bound.ip());
        }
        let node_id = node_id(&cfg, &secret).await?;

        let db = open_sled(&dir)
            .await
            .map_err(|e| store_err(e.to_string()))?;
        let log_store = LogStore::open(&db, &dir).map_err(|e| store_err(e.to_string()))?;
        let state_machine = StateMachine::open(&db, &dir).map_err(|e| store_err(e.to_string()))?;
        let state = state_machine.state();
        let changes = state_machine.changes();

        let config = Config {
            cluster_name: "mailnode".into(),
            // Also the AppendEntries timeout: a loaded two-core host (or a
            // debug build) needs more than 100 ms now and then, and every
            // timeout costs a reconnect (deps.md: 250-500 / 1000-3000).
            heartbeat_interval: 250,
            election_timeout_min: 1000,
            election_timeout_max: 2000,
            // Snapshots run inside RaftCore and stall commits; keep them rare.
            snapshot_policy: SnapshotPolicy::LogsSinceLast(50_000),
            ..Default::default()
        }
        .validate()
        .map_err(|e| Error::Start(e.to_string()))?;
        let raft = Raft::new(
            node_id,
            Arc::new(config),
            Network::new(secret.clone()),
            log_store,
            state_machine,
        )
        .await
        .map_err(|e| Error::Start(e.to_string()))?;
        let link = Arc::new(LeaderLink::new(raft.clone(), node_id, secret.clone()));
        let hub = Arc::new(OnceLock::new());
        let sessions = Arc::new(OnceLock::new());
        let rpc_server = listener.map(|l| {
            let service = Arc::new(RpcService::new(
                raft.clone(),
                link.clone(),
                hub.clone(),
                sessions.clone(),
                state.clone(),
            ));
            tokio::spawn(rpc::serve(l, secret.clone(), service))
        });

        let initialized = raft
            .is_initialized()
            .await
            .map_err(|e| Error::Start(e.to_string()))?;
        if !initialized {
            match &cfg.join {
                None => {
                    let members = BTreeMap::from([(
                        node_id,
                        BasicNode {
                            addr: cfg.address.clone(),
                        },
                    )]);
                    raft.initialize(members)
                        .await
                        .map_err(|e| Error::Start(e.to_string()))?;
                }
                Some(target) => {
                    let request = RpcRequest::AddMember {
                        id: node_id,
                        addr: cfg.address.clone(),
                    };
                    match call_leader(target, &secret, request).await? {
                        RpcResponse::Added(Ok(())) => {}
                        other => {
                            return Err(Error::Start(format!(
                                "joining through {target}: {other:?}"
                            )));
                        }
                    }
                }
            }
        }
        // A member that already belongs to a cluster waits as long as the
        // cluster needs to come back (after an outage members return one by
        // one, and it must rejoin by itself); a first start gives up after
        // START_WAIT, since a cluster it has never reached is more likely a
        // wrong address.
        let patient = initialized;
        loop {
            let leader = raft
                .wait(Some(START_WAIT))
                .metrics(|m| m.current_leader.is_some(), "a leader is known")
                .await;
            match leader {
                Ok(_) => break,
                Err(e) if patient => tracing::warn!("{e}; still waiting for the cluster"),
                Err(e) => return Err(Error::Start(e.to_string())),
            }
        }

        let proposals = proposer::spawn(link.clone(), cfg.max_batch);
        let handle = ClusterHandle {
            inner: Arc::new(Inner {
                node_id,
                raft,
                link,
                state,
                proposals,
                changes,
                rpc_server,
                hub,
                sessions,
            }),
        };
        // Apply everything committed before serving: a read right after
        // start must see the state the previous run acknowledged.
        let deadline = tokio::time::Instant::now() + START_WAIT;
        while let Err(e) = handle.inner.link.catch_up().await {
            // A loaded or re-electing cluster: keep trying (a first start
            // for a while) rather than fail the start.
            if !patient && tokio::time::Instant::now() > deadline {
                return Err(e);
            }
            tracing::warn!("catching up with the cluster: {e}; retrying");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        Ok(handle)
    }

    /// This node's Raft id.
    pub fn node_id(&self) -> u64 {
        self.inner.node_id
    }

    /// The current leader's id, if known.
    pub async fn leader(&self) -> Option<u64> {
        self.inner.raft.current_leader().await
    }

    /// Proposes one command and waits for its result. It is batched with
    /// concurrent proposals into one Raft entry.
    ///
    /// # Errors
    /// The command could not be committed (see [`Error`]); an expected
    /// refusal is `Ok(CommandResult::Rejected(..))`.
    pub async fn propose(&self, command: Command) -> Result<CommandResult> {
        let (reply, result) = oneshot::channel();
        self.inner
            .proposals
            .send(Proposal { command, reply })
            .await
            .map_err(|_| Error::Shutdown)?;
        result.await.map_err(|_| Error::Shutdown)?
    }

    /// Reads the locally applied state.
    pub fn read<R>(&self, f: impl FnOnce(&State) -> R) -> R {
        let state = self
            .inner
            .state
            .read()
            .expect("state lock poisoned by a panic during apply");
        f(&state)
    }

    /// Reads the state after catching up with the leader, so the read sees
    /// every write that completed (on any node) before it started.
    ///
    /// # Errors
    /// No leader can be reached.
    pub async fn read_linearizable<R>(&self, f: impl FnOnce(&State) -> R) -> Result<R> {
        self.inner.link.catch_up().await?;
        Ok(self.read(f))
    }

    /// Lets peers reach this node's account hub (deliveries for accounts
    /// it holds).
    pub(crate) fn register_hub(&self, hub: WeakHub) {
        let _ = self.inner.hub.set(hub);
    }

    /// Lets peers hand this node the POP3 and IMAP sessions of the
    /// accounts it holds.
    pub fn register_sessions(&self, acceptor: Arc<dyn SessionAcceptor>) {
        let _ = self.inner.sessions.set(acceptor);
    }

    /// Hands a session to member `node` (which holds its account) and
    /// returns the connection that now carries the client's bytes.
    ///
    /// # Errors
    /// Not a member, unreachable, too old for handoffs, or it refused.
    pub async fn open_session(&self, node: u64, handoff: SessionHandoff) -> Result<TcpStream> {
        self.inner.link.open_session(node, handoff).await
    }

    /// Sends one request to member `node`.
    ///
    /// # Errors
    /// Not a member, or the call failed.
    pub(crate) async fn call_node(&self, node: u64, request: RpcRequest) -> Result<RpcResponse> {
        self.inner.link.call_node(node, request).await
    }

    /// Asks every other member at once; `None` while some member speaks a
    /// protocol older than `version` (it could not read the request).
    /// Members that do not answer within [`PEER_ASK_TIMEOUT`] answer
    /// `None`.
    async fn ask_peers(
        &self,
        version: u32,
        request: impl Fn() -> RpcRequest,
    ) -> Option<Vec<(u64, Option<RpcResponse>)>> {
        let status = self.status();
        if status.effective_protocol().is_none_or(|v| v < version) {
            return None;
        }
        let asks = status
            .members
            .iter()
            .filter(|m| m.id != self.inner.node_id)
            .map(|m| {
                let call = self.call_node(m.id, request());
                async move {
                    let answer = tokio::time::timeout(PEER_ASK_TIMEOUT, call).await;
                    (m.id, answer.ok().and_then(|a| a.ok()))
                }
            });
        Some(futures::future::join_all(asks).await)
    }

    /// Every other member's recent activity (`None` for one that did not
    /// answer), or `None` while some member speaks a protocol older than
    /// [`rpc::NODE_ACTIVITY_VERSION`].
    pub async fn peer_activity(&self) -> Option<Vec<(u64, Option<rpc::NodeActivity>)>> {
        let answers = self
            .ask_peers(rpc::NODE_ACTIVITY_VERSION, || RpcRequest::Activity)
            .await?;
        let activity = |answer| match answer {
            Some(RpcResponse::Activity(a)) => Some(a),
            _ => None,
        };
        Some(
            answers
                .into_iter()
                .map(|(id, answer)| (id, activity(answer)))
                .collect(),
        )
    }

    /// Asks every other member to close its sessions logged in as
    /// `account`; how many they closed (members that do not answer count
    /// none), or `None` while some member speaks a protocol older than
    /// [`rpc::NODE_ACTIVITY_VERSION`].
    pub async fn kill_peer_sessions(&self, account: &crate::AccountRef) -> Option<u64> {
        let answers = self
            .ask_peers(rpc::NODE_ACTIVITY_VERSION, || {
                RpcRequest::KillSessions(account.clone())
            })
            .await?;
        let killed = answers.into_iter().map(|(_, answer)| match answer {
            Some(RpcResponse::SessionsKilled(n)) => n,
            _ => 0,
        });
        Some(killed.sum())
    }

    /// The protocol version every registered member speaks (the oldest of
    /// theirs), as [`crate::status::ClusterStatus::effective_protocol`]
    /// says, without copying every member's facts: deliveries and logins
    /// ask it each time.
    pub fn effective_protocol(&self) -> Option<u32> {
        let metrics = self.inner.raft.metrics();
        let m = metrics.borrow();
        let members = m.membership_config.membership();
        self.read(|s| {
            members
                .nodes()
                .filter_map(|(id, _)| s.nodes.get(id).map(|info| info.protocol))
                .min()
        })
    }

    /// The cluster as this node sees it.
    pub fn status(&self) -> crate::status::ClusterStatus {
        self.read(|s| crate::status::ClusterStatus::of(&self.inner.raft, s))
    }

    /// Whether this member is in touch with a leader a majority follows;
    /// `false` within a few seconds of being partitioned off, so that work
    /// that needs a commit is refused at once (`451`) instead of waiting.
    pub fn in_contact(&self) -> bool {
        self.inner.link.in_contact()
    }

    /// The leader's cluster address, if known (CommuniGate's
    /// `GetCurrentController`).
    pub fn leader_address(&self) -> Option<String> {
        self.inner.link.leader().map(|(_, addr)| addr)
    }

    /// A receiver that changes whenever entries are applied.
    pub fn changes(&self) -> watch::Receiver<u64> {
        self.inner.changes.clone()
    }

    /// How far this member's Raft log is compacted.
    pub fn log_state(&self) -> LogState {
        let metrics = self.inner.raft.metrics();
        let m = metrics.borrow();
        LogState {
            snapshot: m.snapshot.map(|l| l.index),
            purged: m.purged.map(|l| l.index),
        }
    }

    /// Snapshots the state as applied now and drops the log the snapshot
    /// covers (normally both happen every 50,000 entries). A member that
    /// is behind the dropped log then catches up by the snapshot.
    ///
    /// # Errors
    /// [`Error::Commit`] if the snapshot or the purge does not happen within
    /// `limit` (a leader purges only once no replication still reads the
    /// log), [`Error::Shutdown`].
    pub async fn compact(&self, limit: Duration) -> Result<LogState> {
        let raft = &self.inner.raft;
        let Some(applied) = raft.metrics().borrow().last_applied.map(|l| l.index) else {
            return Ok(self.log_state());
        };
        raft.trigger()
            .snapshot()
            .await
            .map_err(|_| Error::Shutdown)?;
        let reached = async |what: &str, index: fn(&RaftMetrics<u64, BasicNode>) -> Option<u64>| {
            raft.wait(Some(limit))
                .metrics(|m| index(m) >= Some(applied), what)
                .await
                .map_err(|e| Error::Commit(e.to_string()))
        };
        reached("snapshot", |m| m.snapshot.map(|l| l.index)).await?;
        raft.trigger()
            .purge_log(applied)
            .await
            .map_err(|_| Error::Shutdown)?;
        reached("log purged", |m| m.purged.map(|l| l.index)).await?;
        Ok(self.log_state())
    }

    /// Stops Raft; later proposals fail with [`Error::Shutdown`].
    pub async fn shutdown(&self) {
        if let Err(e) = self.inner.raft.shutdown().await {
            tracing::warn!("raft shutdown: {e}");
        }
    }
}

/// This node's Raft id: kept in `data_dir/node.id`; the first node of a
/// cluster is 1, a joining node gets one from the leader.
async fn node_id(cfg: &ClusterConfig, secret: &Secret) -> Result<u64> {
    let path = cfg.data_dir.join("node.id");
    if let Ok(text) = std::fs::read_to_string(&path) {
        return text
            .trim()
            .parse()
            .map_err(|_| Error::Start(format!("{} does not hold a node id", path.display())));
    }
    let id = match &cfg.join {
        None => 1,
        Some(target) => match call_leader(target, secret, RpcRequest::AllocateNodeId).await? {
            RpcResponse::NodeId(Ok(id)) => id,
            other => return Err(Error::Start(format!("joining through {target}: {other:?}"))),
        },
    };
    write_id(&path, id)?;
    Ok(id)
}

fn write_id(path: &Path, id: u64) -> Result<()> {
    let err = |e: std::io::Error| Error::Start(format!("{}: {e}", path.display()));
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, format!("{id}\n")).map_err(err)?;
    std::fs::File::open(&tmp)
        .and_then(|f| f.sync_all())
        .map_err(err)?;
    std::fs::rename(&tmp, path).map_err(err)?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(err)?;
    }
    Ok(())
}

/// Sends a leader-only request to `target`, following `NotLeader`
/// redirects (and waiting out an election) for up to 30 s.
async fn call_leader(target: &str, secret: &Secret, request: RpcRequest) -> Result<RpcResponse> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let mut addr = target.to_string();
    loop {
        let response = rpc::call_once(&addr, secret, &request).await;
        let redirect = match &response {
            Ok(RpcResponse::NodeId(Err(RemoteError::NotLeader(l))))
            | Ok(RpcResponse::Added(Err(RemoteError::NotLeader(l)))) => Some(l.clone()),
            Err(rpc::RpcError::Refused { reason, .. }) => {
                return Err(Error::Start(format!(
                    "{target} refused this node: {reason}"
                )));
            }
            Err(_) => Some(None),
            Ok(_) => None,
        };
        match redirect {
            None => return response.map_err(|e| Error::Start(e.to_string())),
            Some(leader) => {
                if tokio::time::Instant::now() > deadline {
                    return Err(Error::Start(format!(
                        "no leader reachable through {target}"
                    )));
                }
                addr = leader.map_or_else(|| target.to_string(), |(_, a)| a);
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
}

/// Opens sled, waiting a little for a previous Raft instance in this
/// process to release the folder: its tasks drop their store handles
/// shortly after `shutdown` returns.
async fn open_sled(dir: &Path) -> std::result::Result<sled::Db, sled::Error> {
    let mut attempts = 0;
    loop {
        match sled::Config::new().path(dir).open() {
            // sled reports the folder lock as an I/O error with this text.
            Err(sled::Error::Io(e))
                if e.to_string().contains("could not acquire lock") && attempts < 100 =>
            {
                attempts += 1;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            other => return other,
        }
    }
}
