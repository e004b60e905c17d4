//! The Raft log on sled, made durable with `fdatasync`.
//!
//! sled's own flush is `sync_file_range`, which survives a killed process
//! but not a power loss (`reference/raft-throughput.md`). So after each
//! append, vote or truncate we flush sled *and* `fdatasync` its data file
//! before telling openraft the write is durable. openraft calls the store
//! one operation at a time, and the flush is a blocking call on a blocking
//! thread, never `flush_async` from several tasks (sled issue #1308).
//!
//! Layout: tree `log` (key: index as u64 big-endian, value: the entry) and
//! tree `meta` (`vote`, `committed`, `last_purged`).

use std::fmt::Debug;
use std::fs::File;
use std::ops::RangeBounds;
use std::path::Path;
use std::sync::Arc;

use openraft::storage::{LogFlushed, LogState, RaftLogStorage};
use openraft::{Entry, ErrorSubject, ErrorVerb, LogId, RaftLogReader, Vote};

use super::{StorageError, TypeConfig, decode, encode, io_err};

/// The sled-backed log store. Cheap to clone (the reader is a clone).
#[derive(Clone)]
pub struct LogStore {
    db: sled::Db,
    log: sled::Tree,
    meta: sled::Tree,
    data_file: Arc<File>,
}

fn key(index: u64) -> [u8; 8] {
    index.to_be_bytes()
}

impl LogStore {
    /// Opens the store on `db` (shared with the state machine's trees);
    /// `dir` is the folder sled was opened in.
    pub fn open(db: &sled::Db, dir: &Path) -> std::io::Result<LogStore> {
        let log = db.open_tree("log").map_err(std::io::Error::other)?;
        let meta = db.open_tree("meta").map_err(std::io::Error::other)?;
        // sled 0.34 keeps all pages in `<dir>/db`; fdatasync on any handle of
        // that inode flushes its dirty pages and the device cache.
        let data_file = Arc::new(File::open(dir.join("db"))?);
        Ok(LogStore {
            db: db.clone(),
            log,
            meta,
            data_file,
        })
    }

    /// Flushes sled and fsyncs its data file: after this returns, what was
    /// written survives a power loss.
    async fn sync(&self, subject: ErrorSubject<u64>) -> Result<(), StorageError> {
        let db = self.db.clone();
        let file = self.data_file.clone();
        let res = tokio::task::spawn_blocking(move || -> std::io::Result<()> {
            db.flush().map_err(std::io::Error::other)?;
            file.sync_data()
        })
        .await;
        match res {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(io_err(subject, ErrorVerb::Write, e)),
            Err(e) => Err(io_err(subject, ErrorVerb::Write, e)),
        }
    }

    fn get_meta<T: serde::de::DeserializeOwned>(
        &self,
        name: &str,
    ) -> Result<Option<T>, StorageError> {
        let subject = ErrorSubject::Store;
        match self
            .meta
            .get(name)
            .map_err(|e| io_err(subject.clone(), ErrorVerb::Read, e))?
        {
            Some(bytes) => decode(&bytes)
                .map(Some)
                .map_err(|e| io_err(subject, ErrorVerb::Read, e)),
            None => Ok(None),
        }
    }

    fn put_meta<T: serde::Serialize>(&self, name: &str, value: &T) -> Result<(), StorageError> {
        let subject = ErrorSubject::Store;
        let bytes = encode(value).map_err(|e| io_err(subject.clone(), ErrorVerb::Write, e))?;
        self.meta
            .insert(name, bytes)
            .map_err(|e| io_err(subject, ErrorVerb::Write, e))?;
        Ok(())
    }

    fn last_entry_id(&self) -> Result<Option<LogId<u64>>, StorageError> {
        match self
            .log
            .last()
            .map_err(|e| io_err(ErrorSubject::Logs, ErrorVerb::Read, e))?
        {
            Some((_, bytes)) => {
                let entry: Entry<TypeConfig> =
                    decode(&bytes).map_err(|e| io_err(ErrorSubject::Logs, ErrorVerb::Read, e))?;
                Ok(Some(entry.log_id))
            }
            None => Ok(None),
        }
    }

    /// Removes the keys of `range` from the log tree.
    fn remove_range(&self, range: impl RangeBounds<[u8; 8]>) -> Result<(), StorageError> {
        let mut batch = sled::Batch::default();
        for item in self.log.range(range) {
            let (k, _) = item.map_err(|e| io_err(ErrorSubject::Logs, ErrorVerb::Delete, e))?;
            batch.remove(k);
        }
        self.log
            .apply_batch(batch)
            .map_err(|e| io_err(ErrorSubject::Logs, ErrorVerb::Delete, e))
    }
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + Send>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry<TypeConfig>>, StorageError> {
        use std::ops::Bound;
        let start = match range.start_bound() {
            Bound::Included(i) => *i,
            Bound::Excluded(i) => i + 1,
            Bound::Unbounded => 0,
        };
        let mut entries = Vec::new();
        for item in self.log.range(key(start)..) {
            let (k, bytes) = item.map_err(|e| io_err(ErrorSubject::Logs, ErrorVerb::Read, e))?;
            let index = u64::from_be_bytes(k.as_ref().try_into().unwrap_or([0xff; 8]));
            if !range.contains(&index) {
                break;
            }
            entries
                .push(decode(&bytes).map_err(|e| io_err(ErrorSubject::Logs, ErrorVerb::Read, e))?);
        }
        Ok(entries)
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogStore;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, StorageError> {
        let last_purged_log_id: Option<LogId<u64>> = self.get_meta("last_purged")?;
        let last_log_id = self.last_entry_id()?.or(last_purged_log_id);
        Ok(LogState {
            last_purged_log_id,
            last_log_id,
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote<u64>) -> Result<(), StorageError> {
        self.put_meta("vote", vote)?;
        self.sync(ErrorSubject::Vote).await
    }

    async fn read_vote(&mut self) -> Result<Option<Vote<u64>>, StorageError> {
        self.get_meta("vote")
    }

    async fn save_committed(&mut self, committed: Option<LogId<u64>>) -> Result<(), StorageError> {
        // Not synced on purpose: losing it only means re-applying entries
        // after a restart, and a sync here costs a third of the throughput.
        self.put_meta("committed", &committed)
    }

    async fn read_committed(&mut self) -> Result<Option<LogId<u64>>, StorageError> {
        Ok(self.get_meta::<Option<LogId<u64>>>("committed")?.flatten())
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: LogFlushed<TypeConfig>,
    ) -> Result<(), StorageError>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + Send,
        I::IntoIter: Send,
    {
        let mut batch = sled::Batch::default();
        for entry in entries {
            let bytes =
                encode(&entry).map_err(|e| io_err(ErrorSubject::Logs, ErrorVerb::Write, e))?;
            batch.insert(&key(entry.log_id.index), bytes);
        }
        self.log
            .apply_batch(batch)
            .map_err(|e| io_err(ErrorSubject::Logs, ErrorVerb::Write, e))?;
        // The entries are readable now; they are durable after the sync.
        let synced = self.sync(ErrorSubject::Logs).await;
        callback.log_io_completed(
            synced
                .as_ref()
                .map(|_| ())
                .map_err(|e| std::io::Error::other(e.to_string())),
        );
        synced
    }

    async fn truncate(&mut self, log_id: LogId<u64>) -> Result<(), StorageError> {
        self.remove_range(key(log_id.index)..)?;
        self.sync(ErrorSubject::Logs).await
    }

    async fn purge(&mut self, log_id: LogId<u64>) -> Result<(), StorageError> {
        // Record the purge point first: a crash in between must not make the
        // log look empty.
        self.put_meta("last_purged", &log_id)?;
        self.sync(ErrorSubject::Logs).await?;
        self.remove_range(..=key(log_id.index))
    }
}
