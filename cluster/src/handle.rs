//! [`ClusterHandle`]: how the rest of Mailnode uses the replicated state.
//!
//! Writes are proposals (batched, see `proposer`); reads look at the local
//! applied state, or first confirm leadership when they must be
//! linearizable (DESIGN §5.5).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use openraft::{BasicNode, Config, SnapshotPolicy};
use tokio::sync::{mpsc, oneshot, watch};

use crate::command::{Command, CommandResult};
use crate::error::{Error, Result};
use crate::proposer::{self, Proposal};
use crate::raft::Raft;
use crate::raft::log_store::LogStore;
use crate::raft::network::Network;
use crate::raft::state_machine::StateMachine;
use crate::state::State;

/// How to start this node's Raft member.
#[derive(Clone, Debug)]
pub struct ClusterConfig {
    /// This node's Raft id.
    pub node_id: u64,
    /// Node-local folder; the Raft store goes into `raft/` under it.
    pub data_dir: PathBuf,
    /// Address peers reach this node's cluster port at.
    pub address: String,
    /// Most commands per Raft entry.
    pub max_batch: usize,
}

/// A cheap, cloneable handle on the local Raft member.
#[derive(Clone)]
pub struct ClusterHandle {
    inner: Arc<Inner>,
}

struct Inner {
    node_id: u64,
    raft: Raft,
    state: Arc<RwLock<State>>,
    proposals: mpsc::Sender<Proposal>,
    changes: watch::Receiver<u64>,
}

impl ClusterHandle {
    /// Opens the store, starts Raft (bootstrapping a one-member cluster on
    /// first start) and waits until this member can commit.
    ///
    /// Must be called inside a tokio runtime that outlives the node: Raft's
    /// tasks are spawned on it.
    ///
    /// # Errors
    /// The store cannot be opened, or no leader appears within 30 s.
    pub async fn start(cfg: ClusterConfig) -> Result<ClusterHandle> {
        let dir = cfg.data_dir.join("raft");
        let store_err = |reason: String| Error::Store {
            path: dir.clone(),
            reason,
        };
        std::fs::create_dir_all(&dir).map_err(|e| store_err(e.to_string()))?;
        let db = open_sled(&dir)
            .await
            .map_err(|e| store_err(e.to_string()))?;
        let log_store = LogStore::open(&db, &dir).map_err(|e| store_err(e.to_string()))?;
        let state_machine = StateMachine::open(&db, &dir).map_err(|e| store_err(e.to_string()))?;
        let state = state_machine.state();
        let changes = state_machine.changes();

        let config = Config {
            cluster_name: "mailnode".into(),
            heartbeat_interval: 100,
            election_timeout_min: 400,
            election_timeout_max: 800,
            // Snapshots run inside RaftCore and stall commits; keep them rare.
            snapshot_policy: SnapshotPolicy::LogsSinceLast(50_000),
            ..Default::default()
        }
        .validate()
        .map_err(|e| Error::Start(e.to_string()))?;
        let raft = Raft::new(
            cfg.node_id,
            Arc::new(config),
            Network,
            log_store,
            state_machine,
        )
        .await
        .map_err(|e| Error::Start(e.to_string()))?;

        let initialized = raft
            .is_initialized()
            .await
            .map_err(|e| Error::Start(e.to_string()))?;
        if !initialized {
            let members = BTreeMap::from([(
                cfg.node_id,
                BasicNode {
                    addr: cfg.address.clone(),
                },
            )]);
            raft.initialize(members)
                .await
                .map_err(|e| Error::Start(e.to_string()))?;
        }
        raft.wait(Some(Duration::from_secs(30)))
            .metrics(|m| m.current_leader.is_some(), "a leader is known")
            .await
            .map_err(|e| Error::Start(e.to_string()))?;

        let proposals = proposer::spawn(raft.clone(), cfg.max_batch);
        let handle = ClusterHandle {
            inner: Arc::new(Inner {
                node_id: cfg.node_id,
                raft,
                state,
                proposals,
                changes,
            }),
        };
        // Apply everything committed before serving: a read right after
        // start must see the state the previous run acknowledged.
        handle.wait_applied().await?;
        Ok(handle)
    }

    /// Waits until every entry committed so far is applied locally.
    ///
    /// (Also the end of [`ClusterHandle::start`].)
    async fn wait_applied(&self) -> Result<()> {
        let raft = &self.inner.raft;
        raft.ensure_linearizable()
            .await
            .map_err(|e| Error::Start(e.to_string()))?;
        Ok(())
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

    /// Reads the state after confirming leadership and catching up, so the
    /// read sees every write that completed before it started.
    ///
    /// # Errors
    /// This node cannot confirm it is current (not the leader, no quorum).
    pub async fn read_linearizable<R>(&self, f: impl FnOnce(&State) -> R) -> Result<R> {
        self.inner.raft.ensure_linearizable().await.map_err(|e| {
            match e.forward_to_leader::<BasicNode>() {
                Some(f) => Error::NotLeader {
                    leader: f.leader_id,
                },
                None => Error::Commit(e.to_string()),
            }
        })?;
        Ok(self.read(f))
    }

    /// A receiver that changes whenever entries are applied.
    pub fn changes(&self) -> watch::Receiver<u64> {
        self.inner.changes.clone()
    }

    /// Stops Raft; later proposals fail with [`Error::Shutdown`].
    pub async fn shutdown(&self) {
        if let Err(e) = self.inner.raft.shutdown().await {
            tracing::warn!("raft shutdown: {e}");
        }
    }
}

/// Opens sled, waiting a little for a previous Raft instance in this
/// process to release the folder: its tasks drop their store handles
/// shortly after `shutdown` returns.
async fn open_sled(dir: &std::path::Path) -> std::result::Result<sled::Db, sled::Error> {
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
