//! The Raft state machine: the in-memory [`State`], applied from committed
//! entries, with durable snapshots.
//!
//! The state lives in memory and is rebuilt at start from the last snapshot
//! (kept in sled tree `snapshot`, synced) plus the log after it. Snapshots
//! are rare (every 50,000 entries) because they run inside RaftCore.
//! Readers share the state through an `Arc<RwLock<State>>`; each apply takes
//! the write lock briefly, per entry.
//!
//! Snapshot bytes are the [`SnapshotData`] in JSON after
//! [`SELF_DESCRIBING_TAG`] (since cluster protocol 5), so that a member
//! installs a snapshot of a later version that added state: serde skips
//! fields it does not know, and new state fields carry `#[serde(default)]`
//! for snapshots written before them. A compact (bincode) snapshot, as
//! protocol 4 and earlier wrote, is still read; such a member cannot read
//! what this version writes, but a snapshot only goes to a member that fell
//! more than 50,000 entries behind.

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

/// What starts snapshot bytes in the self-describing encoding (a compact
/// snapshot starts with the 0 or 1 of an `Option`).
const SELF_DESCRIBING_TAG: &[u8] = b"mailnode-snapshot json\n";

/// What a snapshot holds.
#[derive(Serialize, Deserialize)]
struct SnapshotData {
    last_applied: Option<LogId<u64>>,
    membership: StoredMembership<u64, BasicNode>,
    state: State,
}

impl SnapshotData {
    /// Encodes the snapshot, self-describing.
    fn encode(&self) -> std::io::Result<Vec<u8>> {
        let mut bytes = SELF_DESCRIBING_TAG.to_vec();
        serde_json::to_writer(&mut bytes, self)?;
        Ok(bytes)
    }

    /// Decodes snapshot bytes in either encoding.
    fn decode(bytes: &[u8]) -> std::io::Result<SnapshotData> {
        match bytes.strip_prefix(SELF_DESCRIBING_TAG) {
            Some(json) => Ok(serde_json::from_slice(json)?),
            None => decode(bytes).map_err(std::io::Error::other),
        }
    }
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
            sm.replace(SnapshotData::decode(&stored.data)?);
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
        let bytes = data
            .encode()
            .map_err(|e| io_err(ErrorSubject::StateMachine, ErrorVerb::Read, e))?;
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
        let data = SnapshotData::decode(&bytes).map_err(|e| io_err(subject, ErrorVerb::Read, e))?;
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

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use openraft::Membership;

    use super::*;
    use crate::command::{Command, CommandResult};
    use crate::directory::DirectoryOp;
    use crate::status::NodeInfo;

    /// A snapshot of a two-member cluster with a domain, an account, a
    /// claimed queued message and an account lease.
    fn snapshot() -> SnapshotData {
        let mut state = State::default();
        let commands = [
            Command::Directory(DirectoryOp::Bootstrap {
                main_domain: "example.test".into(),
            }),
            Command::Directory(DirectoryOp::CreateAccount {
                domain: "example.test".into(),
                name: "ann".into(),
                kind: storage::AccountKind::MultiMailbox,
                password: None,
                settings: BTreeMap::from([("RealName".into(), "Ann".into())]),
            }),
            Command::Enqueue(crate::queue::tests::entry(7, &["ann@example.test"])),
            Command::Claim {
                node: 1,
                now_ms: 2000,
                lease_ms: 10_000,
                max: 10,
                nonce: 99,
            },
            Command::AcquireLease {
                account: "ann@example.test".into(),
                node: 2,
                now_ms: 2000,
                ttl_ms: 10_000,
            },
        ];
        for command in commands {
            assert!(!matches!(state.apply(command), CommandResult::Rejected(_)));
        }
        for id in [1, 2] {
            let info = NodeInfo {
                protocol: 5,
                ..NodeInfo::default()
            };
            state.apply(Command::RegisterNode { id, info });
        }
        let nodes = BTreeMap::from([(1, BasicNode::default()), (2, BasicNode::default())]);
        let membership = Membership::new(vec![BTreeSet::from([1, 2])], nodes);
        SnapshotData {
            last_applied: None,
            membership: StoredMembership::new(None, membership),
            state,
        }
    }

    /// The compact encoding of a snapshot: equal encodings, equal data.
    fn compact(data: &SnapshotData) -> Vec<u8> {
        encode(data).unwrap()
    }

    #[test]
    fn snapshots_are_self_describing_and_compact_ones_still_read() {
        let data = snapshot();
        let bytes = data.encode().unwrap();
        assert!(bytes.starts_with(SELF_DESCRIBING_TAG));
        assert_eq!(
            compact(&SnapshotData::decode(&bytes).unwrap()),
            compact(&data)
        );
        let old = compact(&data);
        assert_eq!(compact(&SnapshotData::decode(&old).unwrap()), old);
    }

    /// What a later version adds to the state (here: a field in the state,
    /// in the directory and in a queue entry) does not stop this version
    /// from installing its snapshot.
    #[test]
    fn a_snapshot_with_fields_this_version_does_not_know_installs() {
        let data = snapshot();
        let bytes = data.encode().unwrap();
        let json = bytes.strip_prefix(SELF_DESCRIBING_TAG).unwrap();
        let mut value: serde_json::Value = serde_json::from_slice(json).unwrap();
        let state = &mut value["state"];
        state["tls_policies"] = serde_json::json!({"partner.test": "verify"});
        state["directory"]["retention"] = serde_json::json!([1, 2, 3]);
        state["queue"]["entries"]["7"]["legs"] = serde_json::json!({"x": null});
        let mut newer = SELF_DESCRIBING_TAG.to_vec();
        serde_json::to_writer(&mut newer, &value).unwrap();

        let read = SnapshotData::decode(&newer).unwrap();
        assert_eq!(compact(&read), compact(&data));
    }
}
