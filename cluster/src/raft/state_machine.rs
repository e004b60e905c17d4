//! The Raft state machine: the in-memory [`State`], applied from committed
//! entries, with durable snapshots.
//!
//! The state lives in memory and is rebuilt at start from the last snapshot
//! (kept in sled tree `snapshot`, synced) plus the log after it. Snapshots
//! are rare (every 50,000 entries) because they run inside RaftCore.
//! Readers share the state through an `Arc<RwLock<State>>`; each apply takes
//! the write lock briefly, per entry.

use std::fs::File;
use std::io::Cursor;
use std::sync::{Arc, RwLock};

use openraft::storage::{RaftStateMachine, Snapshot};
use openraft::{
    BasicNode, Entry, EntryPayload, ErrorSubject, ErrorVerb, LogId, RaftSnapshotBuilder,
    SnapshotMeta, StoredMembership,
};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use super::{Request, Response, StorageError, TypeConfig, decode, encode, io_err};
use crate::state::State;

/// What a snapshot holds.
#[derive(Serialize, Deserialize)]
struct SnapshotData {
    last_applied: Option<LogId<u64>>,
    membership: StoredMembership<u64, BasicNode>,
    state: State,
}

/// A stored snapshot: its meta and its bytes.
#[derive(Serialize, Deserialize)]
struct StoredSnapshot {
    meta: SnapshotMeta<u64, BasicNode>,
    data: Vec<u8>,
}

/// The last applied log id and membership.
type Applied = (Option<LogId<u64>>, StoredMembership<u64, BasicNode>);

/// The state machine. Clones share everything.
#[derive(Clone)]
pub struct StateMachine {
    state: Arc<RwLock<State>>,
    applied: Arc<RwLock<Applied>>,
    db: sled::Db,
    snapshots: sled::Tree,
    data_file: Arc<File>,
    changes: watch::Sender<u64>,
}

impl StateMachine {
    /// Opens the state machine, loading the last snapshot if there is one.
    pub fn open(db: &sled::Db, dir: &std::path::Path) -> std::io::Result<StateMachine> {
        let snapshots = db.open_tree("snapshot").map_err(std::io::Error::other)?;
        let data_file = Arc::new(File::open(dir.join("db"))?);
        let (changes, _) = watch::channel(0);
        let sm = StateMachine {
            state: Arc::new(RwLock::new(State::default())),
            applied: Arc::new(RwLock::new((None, StoredMembership::default()))),
            db: db.clone(),
            snapshots,
            data_file,
            changes,
        };
        if let Some(stored) = sm.load_snapshot()? {
            let data: SnapshotData = decode(&stored.data).map_err(std::io::Error::other)?;
            sm.replace(data);
        }
        Ok(sm)
    }

    /// The shared state, for readers.
    pub fn state(&self) -> Arc<RwLock<State>> {
        self.state.clone()
    }

    /// A receiver that changes after every applied batch (value: last
    /// applied index).
    pub fn changes(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }

    fn load_snapshot(&self) -> std::io::Result<Option<StoredSnapshot>> {
        match self
            .snapshots
            .get("current")
            .map_err(std::io::Error::other)?
        {
            Some(bytes) => decode(&bytes).map(Some).map_err(std::io::Error::other),
            None => Ok(None),
        }
    }

    fn replace(&self, data: SnapshotData) {
        let mut state = data.state;
        state.queue.index_due();
        *write(&self.state) = state;
        *write(&self.applied) = (data.last_applied, data.membership);
    }

    /// Stores `snapshot` as the current one, durably.
    fn store_snapshot(
        &self,
        meta: &SnapshotMeta<u64, BasicNode>,
        data: &[u8],
    ) -> Result<(), StorageError> {
        let subject = ErrorSubject::Snapshot(Some(meta.signature()));
        let stored = StoredSnapshot {
            meta: meta.clone(),
            data: data.to_vec(),
        };
        let bytes = encode(&stored).map_err(|e| io_err(subject.clone(), ErrorVerb::Write, e))?;
        self.snapshots
            .insert("current", bytes)
            .map_err(|e| io_err(subject.clone(), ErrorVerb::Write, e))?;
        self.db
            .flush()
            .map_err(|e| io_err(subject.clone(), ErrorVerb::Write, e))?;
        self.data_file
            .sync_data()
            .map_err(|e| io_err(subject, ErrorVerb::Write, e))
    }
}

/// Lock helpers: a poisoned lock means a panic while applying, after which
/// the state cannot be trusted; openraft must stop, so we propagate.
fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write()
        .expect("state lock poisoned by a panic during apply")
}

fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read()
        .expect("state lock poisoned by a panic during apply")
}

impl RaftSnapshotBuilder<TypeConfig> for StateMachine {
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>, StorageError> {
        let (data, meta) = {
            // Hold the applied lock while copying so state and meta agree.
            let applied = read(&self.applied);
            let state = read(&self.state).clone();
            let data = SnapshotData {
                last_applied: applied.0,
                membership: applied.1.clone(),
                state,
            };
            let snapshot_id = match applied.0 {
                Some(id) => format!("{}-{}", id.leader_id, id.index),
                None => "empty".to_string(),
            };
            let meta = SnapshotMeta {
                last_log_id: applied.0,
                last_membership: applied.1.clone(),
                snapshot_id,
            };
            (data, meta)
        };
        let bytes =
            encode(&data).map_err(|e| io_err(ErrorSubject::StateMachine, ErrorVerb::Read, e))?;
        self.store_snapshot(&meta, &bytes)?;
        Ok(Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(bytes)),
        })
    }
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotBuilder = StateMachine;

    async fn applied_state(&mut self) -> Result<Applied, StorageError> {
        Ok(read(&self.applied).clone())
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<Response>, StorageError>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + Send,
        I::IntoIter: Send,
    {
        let mut responses = Vec::new();
        let mut last = 0;
        for entry in entries {
            let response = {
                let mut state = write(&self.state);
                let mut applied = write(&self.applied);
                applied.0 = Some(entry.log_id);
                match entry.payload {
                    EntryPayload::Blank => Response::default(),
                    EntryPayload::Normal(Request(commands)) => {
                        Response(commands.into_iter().map(|c| state.apply(c)).collect())
                    }
                    EntryPayload::Membership(m) => {
                        applied.1 = StoredMembership::new(Some(entry.log_id), m);
                        Response::default()
                    }
                }
            };
            last = entry.log_id.index;
            responses.push(response);
        }
        self.changes.send_replace(last);
        Ok(responses)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.clone()
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<Cursor<Vec<u8>>>, StorageError> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta<u64, BasicNode>,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> Result<(), StorageError> {
        let bytes = snapshot.into_inner();
        let subject = ErrorSubject::Snapshot(Some(meta.signature()));
        let data: SnapshotData = decode(&bytes).map_err(|e| io_err(subject, ErrorVerb::Read, e))?;
        self.store_snapshot(meta, &bytes)?;
        self.replace(data);
        self.changes
            .send_replace(meta.last_log_id.map_or(0, |l| l.index));
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot<TypeConfig>>, StorageError> {
        let stored = self
            .load_snapshot()
            .map_err(|e| io_err(ErrorSubject::Snapshot(None), ErrorVerb::Read, e))?;
        Ok(stored.map(|s| Snapshot {
            meta: s.meta,
            snapshot: Box::new(Cursor::new(s.data)),
        }))
    }
}
