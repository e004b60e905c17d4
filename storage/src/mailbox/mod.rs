//! Mailboxes: text mailboxes (`.mbox`, one file) and directory mailboxes
//! (`.mdir`, one file per message), each with an index journal
//! `<path>.idx` (DESIGN.md §7).
//!
//! Invariants:
//! * The index record is the commit point of every change. A message is in
//!   the mailbox once its `A` record is fsynced; data written before that
//!   (an mbox tail, an mdir file with a UID at or above the committed
//!   UIDNEXT, a `.tmp` file) is removed when the mailbox is opened.
//! * UIDs strictly increase and are never reused: UIDNEXT is kept in the
//!   index even when the last message is expunged. UIDVALIDITY is set when the
//!   mailbox is created and survives restarts and index rebuilds.
//! * A batch append costs one fsync of the mailbox (file or folder) and one
//!   of the index. A message whose delivery key is already in the mailbox is
//!   not stored again; its UID is returned, so retried deliveries are
//!   idempotent (DESIGN.md §5.2). The key of an expunged message is kept
//!   with the last [`MAX_VANISHED`] expunges: a delivery retried after the
//!   user deleted its message (the first attempt's report was lost) must
//!   not bring it back.
//! * Messages are stored with LF line ends and returned with CRLF (RFC 5322
//!   §2.1 wire form): every CRLF is stored as LF, a bare LF is stored as is
//!   and read back as CRLF, a bare CR is kept. The recorded size is the size
//!   of what [`Mailbox::read`] returns.
//! * The index is a cache: if it is missing, unreadable or does not match the
//!   mailbox, it is rebuilt from the mailbox with the same UIDs and flags;
//!   only the delivery keys it held are lost (they are salvaged from the
//!   damaged index where possible).
//! * Every change (append batch, flag change, expunge) gets a new
//!   mod-sequence (RFC 7162) above all earlier ones; HIGHESTMODSEQ never
//!   goes back, across compaction and rebuilds (a rebuild gives every
//!   message a fresh mod-sequence and forgets keywords and expunges).
//!   The last [`MAX_VANISHED`] expunges are remembered with their
//!   mod-sequence, for QRESYNC's VANISHED.
//! * Durability, as Dovecot's default `fsync_mode = optimized`: an append
//!   is fsynced (mailbox, then index) before it returns, so a stored
//!   message survives a power loss. Flag changes and expunges are written
//!   before they return but not fsynced: they survive a killed process
//!   (the page cache outlives it), and a power loss may undo the latest of
//!   them (a flag comes back, an expunged message reappears), never lose a
//!   message. The journal only grows, so its next fsync (the next append,
//!   or a compaction) makes every earlier record durable too, and replay
//!   ignores a torn last line.
//! * One writer at a time per mailbox is guaranteed by the caller (the
//!   account lease, DESIGN.md §5.3). The lock file each write takes
//!   (`INBOX.mbox.lock`) is only the second line: it keeps a write of a
//!   stopped node from overlapping the next writer's.

mod index;
mod mbox;
mod mdir;

use std::collections::HashMap;
use std::fmt;
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use serde::{Deserialize, Serialize};

use self::index::{Entry, Header, Loc, Salvage, Unreadable, Vanished};
use crate::error::{Error, Result, io_err};
use crate::flags::Flags;
use crate::fsync::{parent_dir, sync_dir, sync_file, write_atomic};

/// Compact the journal once it holds this many records more than messages.
const COMPACT_SLACK: usize = 256;

/// The on-disk format of a mailbox, given by its extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum MailboxFormat {
    /// A text mailbox: one BSD mbox file `NAME.mbox`.
    Mbox,
    /// A directory mailbox: a folder `NAME.mdir/` with one file per message.
    Mdir,
}

impl MailboxFormat {
    /// The file name extension, without the dot (`mbox` / `mdir`).
    pub fn extension(self) -> &'static str {
        match self {
            MailboxFormat::Mbox => "mbox",
            MailboxFormat::Mdir => "mdir",
        }
    }

    /// The format of a mailbox path, from its extension.
    pub fn of_path(path: &Path) -> Option<MailboxFormat> {
        match path.extension()?.to_str()? {
            "mbox" => Some(MailboxFormat::Mbox),
            "mdir" => Some(MailboxFormat::Mdir),
            _ => None,
        }
    }
}

/// A message UID (RFC 9051 §2.3.1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Uid(pub u32);

impl fmt::Display for Uid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// What the index knows about one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageInfo {
    /// The message UID.
    pub uid: Uid,
    /// Current flags.
    pub flags: Flags,
    /// RFC 5322 wire size, with CRLF line ends: the length of
    /// [`Mailbox::read`]'s result.
    pub size: u64,
    /// Internal date (RFC 9051 §2.3.3), unix seconds.
    pub internal_date: i64,
    /// Delivery key (queue id and recipient) that made the append
    /// idempotent; `None` for IMAP APPEND and after an index rebuild.
    pub key: Option<String>,
    /// Keywords (IMAP custom flags), in the order they were first set,
    /// unique ignoring ASCII case. Kept in the index only: an index
    /// rebuild loses them.
    pub keywords: Vec<String>,
    /// The message's mod-sequence (RFC 7162 §3): the mailbox's
    /// HIGHESTMODSEQ when it was appended or its flags last changed.
    pub modseq: u64,
}

/// A message to append.
#[derive(Debug, Clone)]
pub struct NewMessage<'a> {
    /// The message in wire form, CRLF line ends.
    pub bytes: &'a [u8],
    /// Initial flags.
    pub flags: Flags,
    /// Internal date, unix seconds.
    pub internal_date: i64,
    /// Delivery key; a message whose key is already in the mailbox is not
    /// appended again.
    pub key: Option<String>,
    /// The envelope return-path (empty for the null path `<>`), written in
    /// the mbox `From ` line.
    pub return_path: &'a str,
}

/// An open mailbox. Not shared: the caller guarantees a single writer.
#[derive(Debug)]
pub struct Mailbox {
    path: PathBuf,
    idx_path: PathBuf,
    format: MailboxFormat,
    header: Header,
    /// Ascending by UID.
    messages: Vec<MessageInfo>,
    /// Parallel to `messages`.
    locs: Vec<Loc>,
    keys: HashMap<String, Uid>,
    /// Remembered expunges, oldest first.
    vanished: Vec<Vanished>,
    /// Records in the journal after the header.
    records: usize,
    /// Set when a write failed half-way: the memory may not match the disk.
    broken: bool,
    /// The index file as this handle last saw it (inode, length): if it
    /// changed, another process wrote the mailbox and this handle is stale.
    seen: Option<(u64, u64)>,
    /// The mbox file, opened for reading at the first read and kept while
    /// the handle lives (FETCH reads messages one by one; opening the file
    /// for each was most of a read's cost). A compaction, which replaces
    /// the file, closes it.
    reader: std::sync::OnceLock<fs::File>,
    /// The lock file, opened at the first write and kept: each write
    /// takes and releases the lock on it ([`Mailbox::exclusive`]). It is
    /// never replaced, so the kept handle stays the right one.
    lock: Option<fs::File>,
    /// The index, opened for appending journal records at the first one
    /// and kept until the index is replaced (compaction, mbox rewrite).
    journal: Option<fs::File>,
}

impl Mailbox {
    /// Creates an empty mailbox at `path` (which should end in `.mbox` or
    /// `.mdir` to be opened again) with a fresh UIDVALIDITY.
    ///
    /// # Errors
    /// [`Error::MailboxExists`] if something exists at `path`,
    /// [`Error::Io`] otherwise.
    pub fn create(path: &Path, format: MailboxFormat) -> Result<()> {
        let exists = |_| Error::MailboxExists(path.display().to_string());
        let file_id = match format {
            MailboxFormat::Mbox => {
                let f = OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .open(path)
                    .map_err(|e| match e.kind() {
                        std::io::ErrorKind::AlreadyExists => exists(()),
                        _ => io_err(path)(e),
                    })?;
                sync_file(&f, path)?;
                file_id(&f.metadata().map_err(io_err(path))?)
            }
            MailboxFormat::Mdir => {
                fs::create_dir(path).map_err(|e| match e.kind() {
                    std::io::ErrorKind::AlreadyExists => exists(()),
                    _ => io_err(path)(e),
                })?;
                sync_dir(path)?;
                0
            }
        };
        let header = Header {
            uid_validity: new_uid_validity(),
            uid_next: 1,
            end: 0,
            file_id,
            highest_modseq: 1,
            vanished_floor: 0,
            first_recent: 1,
        };
        // The UIDVALIDITY also goes into a file that never changes, so that
        // a rebuilt index keeps it (clients keep their caches and UIDLs).
        write_atomic(
            &uid_validity_path(path),
            format!("{}\n", header.uid_validity).as_bytes(),
        )?;
        // write_atomic also syncs the parent, making the new mailbox durable.
        write_atomic(&idx_path(path), index::render_header(&header).as_bytes())
    }

    /// Opens the mailbox at `path` (format from the extension), recovering
    /// from a crash: an uncommitted mbox tail is truncated, uncommitted and
    /// temporary mdir files are deleted, and a missing or damaged index is
    /// rebuilt.
    ///
    /// # Errors
    /// [`Error::MailboxNotFound`] if there is no mailbox at `path`,
    /// [`Error::BadName`] for an unknown extension, [`Error::Corrupt`] if
    /// the mailbox itself cannot be parsed, [`Error::Io`].
    pub fn open(path: &Path) -> Result<Mailbox> {
        check_exists(path)?;
        // Repairs truncate and rewrite: never while another process writes.
        let _lock = lock_exclusive(path)?;
        let mut mb = Self::open_unlocked(path)?;
        mb.seen = fingerprint(&mb.idx_path).ok();
        Ok(mb)
    }

    fn open_unlocked(path: &Path) -> Result<Mailbox> {
        let format = check_exists(path)?;
        let idx = idx_path(path);
        remove_temp_files(path)?;
        let text = match fs::read(&idx) {
            Ok(b) => Some(String::from_utf8_lossy(&b).into_owned()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(io_err(&idx)(e)),
        };
        let Some(text) = text else {
            tracing::warn!(path = %path.display(), "mailbox index missing, rebuilding");
            return Self::rebuild(path, format, Salvage::default());
        };
        let replayed = match index::parse(&text, format) {
            Ok(r) => r,
            Err(Unreadable::Newer(version)) => {
                return Err(Error::NewerFormat { path: idx, version });
            }
            Err(Unreadable::Damaged(reason)) => {
                tracing::warn!(path = %path.display(), %reason, "mailbox index damaged, rebuilding");
                return Self::rebuild(path, format, index::salvage(&text, format));
            }
        };
        let torn = replayed.torn;
        let mut mb = Mailbox::from_entries(
            path,
            format,
            replayed.header,
            replayed.entries.into_values(),
        );
        mb.records = replayed.records;
        mb.vanished = replayed.vanished;
        let consistent = match format {
            MailboxFormat::Mbox => mb.mbox_reconcile()?,
            MailboxFormat::Mdir => mb.mdir_reconcile()?,
        };
        if !consistent {
            tracing::warn!(path = %path.display(), "mailbox index does not match the mailbox, rebuilding");
            return Self::rebuild(path, format, index::salvage(&text, format));
        }
        if torn || needs_compaction(&mb) {
            mb.compact()?;
        }
        Ok(mb)
    }

    /// Rebuilds the index of the mailbox at `path` from the mailbox itself
    /// (mbox `From ` lines / mdir file names), keeping UIDs, flags and, if
    /// the old index is readable, UIDVALIDITY, UIDNEXT and delivery keys.
    ///
    /// # Errors
    /// As [`Mailbox::open`].
    pub fn rebuild_index(path: &Path) -> Result<()> {
        let format = check_exists(path)?;
        let _lock = lock_exclusive(path)?;
        remove_temp_files(path)?;
        let idx = idx_path(path);
        let salvage = match fs::read(&idx) {
            Ok(b) => {
                let text = String::from_utf8_lossy(&b);
                if let Some(version) = index::newer_format(&text) {
                    return Err(Error::NewerFormat { path: idx, version });
                }
                index::salvage(&text, format)
            }
            Err(_) => Salvage::default(),
        };
        Self::rebuild(path, format, salvage).map(drop)
    }

    fn rebuild(path: &Path, format: MailboxFormat, mut salvage: Salvage) -> Result<Mailbox> {
        if salvage.uid_validity.is_none() {
            salvage.uid_validity = read_uid_validity(path);
        }
        let mut mb = match format {
            MailboxFormat::Mbox => Self::mbox_rebuild(path, &salvage)?,
            MailboxFormat::Mdir => Self::mdir_rebuild(path, &salvage)?,
        };
        // Every message is new to a client's cache, and expunges before
        // now are forgotten.
        // Without the old index the last mod-sequence is unknown: the
        // clock in microseconds is above any a mailbox reaches by counting.
        let clock = u64::try_from(chrono::Utc::now().timestamp_micros()).unwrap_or(0);
        let modseq = (salvage.highest_modseq + 1).max(clock);
        mb.header.highest_modseq = modseq;
        mb.header.vanished_floor = modseq;
        for info in &mut mb.messages {
            info.key = salvage.keys.get(&info.uid.0).cloned();
            info.modseq = modseq;
        }
        mb.keys = key_map(&mb.messages);
        mb.compact()?;
        Ok(mb)
    }

    fn from_entries(
        path: &Path,
        format: MailboxFormat,
        header: Header,
        entries: impl Iterator<Item = Entry>,
    ) -> Mailbox {
        let (messages, locs): (Vec<_>, Vec<_>) = entries.map(|e| (e.info, e.loc)).unzip();
        Mailbox {
            path: path.to_path_buf(),
            idx_path: idx_path(path),
            format,
            header,
            keys: key_map(&messages),
            messages,
            locs,
            vanished: Vec::new(),
            records: 0,
            broken: false,
            seen: None,
            reader: std::sync::OnceLock::new(),
            lock: None,
            journal: None,
        }
    }

    /// The path of the mailbox file or folder.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The format of the mailbox.
    pub fn format(&self) -> MailboxFormat {
        self.format
    }

    /// UIDVALIDITY (RFC 9051 §2.3.1.1).
    pub fn uid_validity(&self) -> u32 {
        self.header.uid_validity
    }

    /// The UID the next appended message will get.
    pub fn uid_next(&self) -> Uid {
        Uid(self.header.uid_next)
    }

    /// The messages, ascending by UID.
    pub fn messages(&self) -> &[MessageInfo] {
        &self.messages
    }

    /// The message with this UID, if present.
    pub fn info(&self, uid: Uid) -> Option<&MessageInfo> {
        self.position(uid).map(|i| &self.messages[i])
    }

    /// The UID of the message appended with this delivery key, if it is
    /// present or among the remembered expunges.
    pub fn find_key(&self, key: &str) -> Option<Uid> {
        self.keys.get(key).copied().or_else(|| {
            self.vanished
                .iter()
                .rev()
                .find(|v| v.key.as_deref() == Some(key))
                .map(|v| Uid(v.uid))
        })
    }

    /// HIGHESTMODSEQ (RFC 7162 §3.1.2.1).
    pub fn highest_modseq(&self) -> u64 {
        self.header.highest_modseq
    }

    /// The UIDs expunged at a mod-sequence above `modseq`, ascending, or
    /// `None` when expunges that recent may have been forgotten.
    pub fn expunged_since(&self, modseq: u64) -> Option<Vec<Uid>> {
        if modseq < self.header.vanished_floor {
            return None;
        }
        let mut uids: Vec<Uid> = self
            .vanished
            .iter()
            .filter(|v| v.modseq > modseq)
            .map(|v| Uid(v.uid))
            .collect();
        uids.sort_unstable();
        uids.dedup();
        Some(uids)
    }

    /// The lowest UID still `\Recent` (RFC 3501 §2.3.2): messages from it
    /// on have not been recent to any session yet.
    pub fn first_recent(&self) -> Uid {
        Uid(self.header.first_recent)
    }

    /// How many messages are `\Recent` (STATUS RECENT, RFC 3501 §6.3.10).
    pub fn recent_count(&self) -> usize {
        let first = self.first_recent();
        self.messages.len() - self.messages.partition_point(|m| m.uid < first)
    }

    /// Takes the recent messages for a session that selects the mailbox
    /// read-write: returns [`Mailbox::first_recent`] as it was, after
    /// which no message now in the mailbox is recent to anyone else. The
    /// record is not fsynced: a crash that loses it only makes those
    /// messages recent once more.
    ///
    /// # Errors
    /// [`Error::Io`], [`Error::Stale`].
    pub fn claim_recent(&mut self) -> Result<Uid> {
        let first = self.first_recent();
        if first.0 >= self.header.uid_next {
            return Ok(first);
        }
        self.exclusive(|mb| {
            let next = mb.header.uid_next;
            let res = mb.journal_unsynced(&index::render_recent(next));
            mb.poison_on_error(res)?;
            mb.header.first_recent = next;
            mb.maybe_compact()
        })?;
        Ok(first)
    }

    /// Sum of the wire sizes of all messages.
    pub fn total_size(&self) -> u64 {
        self.messages.iter().map(|m| m.size).sum()
    }

    /// Appends a batch of messages durably (one fsync of the mailbox, one of
    /// the index) and returns their UIDs in order. A message whose key is
    /// already in the mailbox (or earlier in the batch) is not stored again:
    /// the existing UID is returned.
    ///
    /// # Errors
    /// [`Error::Io`] (the mailbox must then be reopened, see
    /// [`Error::MustReopen`]).
    pub fn append(&mut self, batch: &[NewMessage]) -> Result<Vec<Uid>> {
        self.append_with_keywords(batch, &[])
    }

    /// Like [`Mailbox::append`], with the keywords of each message
    /// (`keywords[i]` for `batch[i]`; missing entries mean none).
    ///
    /// # Errors
    /// As [`Mailbox::append`].
    pub fn append_with_keywords(
        &mut self,
        batch: &[NewMessage],
        keywords: &[Vec<String>],
    ) -> Result<Vec<Uid>> {
        self.exclusive(|mb| mb.append_unlocked(batch, keywords))
    }

    fn append_unlocked(
        &mut self,
        batch: &[NewMessage],
        keywords: &[Vec<String>],
    ) -> Result<Vec<Uid>> {
        self.check_usable()?;
        let mut uids = Vec::with_capacity(batch.len());
        let mut fresh: Vec<(usize, Uid)> = Vec::new();
        let mut batch_keys: HashMap<&str, Uid> = HashMap::new();
        let mut next = self.header.uid_next;
        for (i, msg) in batch.iter().enumerate() {
            if let Some(k) = msg.key.as_deref()
                && let Some(uid) = self.find_key(k).or_else(|| batch_keys.get(k).copied())
            {
                uids.push(uid);
                continue;
            }
            let uid = Uid(next);
            next = next
                .checked_add(1)
                .ok_or_else(|| Error::NotSupported("UID space exhausted".into()))?;
            if let Some(k) = msg.key.as_deref() {
                batch_keys.insert(k, uid);
            }
            fresh.push((i, uid));
            uids.push(uid);
        }
        if fresh.is_empty() {
            return Ok(uids);
        }
        let res = match self.format {
            MailboxFormat::Mbox => self.mbox_append(batch, &fresh),
            MailboxFormat::Mdir => self.mdir_append(batch, &fresh),
        };
        let mut entries = self.poison_on_error(res)?;
        let modseq = self.header.highest_modseq + 1;
        for (e, &(i, _)) in entries.iter_mut().zip(&fresh) {
            e.info.modseq = modseq;
            e.info.keywords = keywords.get(i).map(|k| unique(k)).unwrap_or_default();
        }
        let lines: String = entries.iter().map(index::render_append).collect();
        let res = self.journal(&lines);
        self.poison_on_error(res)?;
        for e in entries {
            if let Some(k) = &e.info.key {
                self.keys.insert(k.clone(), e.info.uid);
            }
            if let Loc::Mbox { offset, len } = e.loc {
                self.header.end = offset + len;
            }
            self.header.uid_next = e.info.uid.0 + 1;
            self.header.highest_modseq = modseq;
            self.messages.push(e.info);
            self.locs.push(e.loc);
        }
        self.maybe_compact()?;
        Ok(uids)
    }

    /// Reads a message in wire form (CRLF line ends).
    ///
    /// # Errors
    /// [`Error::MessageNotFound`], [`Error::Corrupt`] if the stored message
    /// does not match its index entry, [`Error::Io`].
    pub fn read(&self, uid: Uid) -> Result<Vec<u8>> {
        let i = self.position(uid).ok_or(Error::MessageNotFound(uid))?;
        let size = self.messages[i].size;
        match &self.locs[i] {
            Loc::Mbox { offset, len } => self.mbox_read(*offset, *len, size),
            Loc::Mdir(name) => self.mdir_read(name),
        }
    }

    /// Replaces the flags of a message. For an mbox the `From ` line is
    /// updated at the next rewrite (expunge); for an mdir the file is renamed.
    ///
    /// # Errors
    /// [`Error::MessageNotFound`], [`Error::Io`].
    pub fn set_flags(&mut self, uid: Uid, flags: Flags) -> Result<()> {
        let i = self.position(uid).ok_or(Error::MessageNotFound(uid))?;
        let keywords = self.messages[i].keywords.clone();
        self.set_flags_and_keywords(uid, flags, &keywords)
    }

    /// Replaces the flags and keywords of a message; a change gets a new
    /// mod-sequence, no change writes nothing. Keywords are kept in the
    /// index only.
    ///
    /// # Errors
    /// [`Error::MessageNotFound`], [`Error::Io`].
    pub fn set_flags_and_keywords(
        &mut self,
        uid: Uid,
        flags: Flags,
        keywords: &[String],
    ) -> Result<()> {
        self.exclusive(|mb| mb.set_flags_unlocked(&[(uid, flags, keywords.to_vec())]))
    }

    /// Like [`Mailbox::set_flags_and_keywords`] for several messages at
    /// once, committed by one index write (a STORE on a set).
    /// Each changed message gets its own mod-sequence, in the order given.
    ///
    /// # Errors
    /// [`Error::MessageNotFound`] (before anything is written),
    /// [`Error::Io`].
    pub fn set_flags_many(&mut self, changes: &[(Uid, Flags, Vec<String>)]) -> Result<()> {
        self.exclusive(|mb| mb.set_flags_unlocked(changes))
    }

    fn set_flags_unlocked(&mut self, changes: &[(Uid, Flags, Vec<String>)]) -> Result<()> {
        self.check_usable()?;
        let mut at = Vec::with_capacity(changes.len());
        for (uid, _, _) in changes {
            at.push(self.position(*uid).ok_or(Error::MessageNotFound(*uid))?);
        }
        let mut lines = String::new();
        let mut updated = Vec::new();
        let mut modseq = self.header.highest_modseq;
        for (&i, (_, flags, keywords)) in at.iter().zip(changes) {
            let keywords = unique(keywords);
            let old = &self.messages[i];
            if old.flags == *flags && same_keywords(&old.keywords, &keywords) {
                continue;
            }
            if self.format == MailboxFormat::Mdir && old.flags != *flags {
                let res = self.mdir_rename(i, *flags);
                self.poison_on_error(res)?;
            }
            modseq += 1;
            let info = MessageInfo {
                flags: *flags,
                keywords,
                modseq,
                ..self.messages[i].clone()
            };
            lines.push_str(&index::render_flags(&info));
            updated.push((i, info));
        }
        if updated.is_empty() {
            return Ok(());
        }
        // Not fsynced (see the module documentation).
        let res = self.journal_unsynced(&lines);
        self.poison_on_error(res)?;
        for (i, info) in updated {
            self.messages[i] = info;
        }
        self.header.highest_modseq = modseq;
        self.maybe_compact()
    }

    /// Removes messages; UIDs not in the mailbox are ignored. The other
    /// messages keep their UIDs and UIDNEXT does not change. In an mbox
    /// the expunged entries are marked dead and left in place; the file is
    /// rewritten (with current flags in its `From ` lines, and a compacted
    /// index) once dead entries take half of it.
    ///
    /// # Errors
    /// [`Error::Io`].
    pub fn expunge(&mut self, uids: &[Uid]) -> Result<()> {
        self.exclusive(|mb| mb.expunge_unlocked(uids))
    }

    fn expunge_unlocked(&mut self, uids: &[Uid]) -> Result<()> {
        self.check_usable()?;
        let doomed: Vec<usize> = uids.iter().filter_map(|u| self.position(*u)).collect();
        if doomed.is_empty() {
            return Ok(());
        }
        let mut keep = vec![true; self.messages.len()];
        for &i in &doomed {
            keep[i] = false;
        }
        // Recorded before the rewrite, which compacts the index with them.
        let saved = (self.header, self.vanished.len());
        let modseq = self.header.highest_modseq + 1;
        self.header.highest_modseq = modseq;
        let mut gone: Vec<usize> = doomed.clone();
        gone.sort_unstable();
        gone.dedup();
        self.vanished.extend(gone.iter().map(|&i| Vanished {
            uid: self.messages[i].uid.0,
            modseq,
            key: self.messages[i].key.clone(),
        }));
        if self.vanished.len() > index::MAX_VANISHED {
            let cut = self.vanished.len() - index::MAX_VANISHED;
            let forgotten = self
                .vanished
                .drain(..cut)
                .map(|v| v.modseq)
                .max()
                .unwrap_or(0);
            self.header.vanished_floor = self.header.vanished_floor.max(forgotten);
        }
        let res = match self.format {
            MailboxFormat::Mbox => self.mbox_expunge(&keep, modseq),
            MailboxFormat::Mdir => self.mdir_expunge(&keep, modseq),
        };
        if res.is_err() {
            self.header = saved.0;
            self.vanished.truncate(saved.1);
        }
        self.poison_on_error(res)?;
        self.keys = key_map(&self.messages);
        self.maybe_compact()
    }

    /// Runs a write under the mailbox's lock file, after checking that no
    /// other process changed the mailbox since this handle last looked.
    /// The account lease keeps writers to one node; this lock is the
    /// second line: a node that was stopped in the middle of a write
    /// finishes it before another starts, and the other then sees a stale
    /// handle instead of writing over it.
    ///
    /// The lock file stays open between writes (opening it for each was a
    /// tenth of a write's system calls); closing it, as a panic in `write`
    /// does, releases the lock too.
    fn exclusive<T>(&mut self, write: impl FnOnce(&mut Self) -> Result<T>) -> Result<T> {
        self.check_usable()?;
        let lock = match self.lock.take() {
            Some(f) => f,
            None => open_lock(&self.path)?,
        };
        lock.lock().map_err(|e| io_err(&lock_path(&self.path))(e))?;
        let result = if fingerprint(&self.idx_path).ok() != self.seen {
            self.broken = true;
            Err(Error::Stale(self.path.clone()))
        } else {
            let result = write(self);
            self.seen = fingerprint(&self.idx_path).ok();
            result
        };
        // A lock that cannot be released is closed, which releases it.
        if lock.unlock().is_ok() {
            self.lock = Some(lock);
        }
        result
    }

    fn position(&self, uid: Uid) -> Option<usize> {
        self.messages.binary_search_by_key(&uid, |m| m.uid).ok()
    }

    /// Drops the messages whose `keep` flag is false from memory.
    fn retain(&mut self, keep: &[bool]) {
        let mut k = keep.iter();
        self.messages.retain(|_| k.next().copied().unwrap_or(true));
        let mut k = keep.iter();
        self.locs.retain(|_| k.next().copied().unwrap_or(true));
    }

    fn check_usable(&self) -> Result<()> {
        if self.broken {
            return Err(Error::MustReopen(self.path.clone()));
        }
        Ok(())
    }

    fn poison_on_error<T>(&mut self, r: Result<T>) -> Result<T> {
        if matches!(r, Err(Error::Io { .. })) {
            self.broken = true;
        }
        r
    }

    /// Appends records to the journal and fsyncs it: the commit point.
    fn journal(&mut self, lines: &str) -> Result<()> {
        self.write_journal(lines, true)
    }

    /// Appends records to the journal without waiting for the disk.
    fn journal_unsynced(&mut self, lines: &str) -> Result<()> {
        self.write_journal(lines, false)
    }

    fn write_journal(&mut self, lines: &str, sync: bool) -> Result<()> {
        let p = &self.idx_path;
        let f = match &mut self.journal {
            Some(f) => f,
            None => self
                .journal
                .insert(OpenOptions::new().append(true).open(p).map_err(io_err(p))?),
        };
        f.write_all(lines.as_bytes()).map_err(io_err(p))?;
        if sync {
            sync_file(f, p)?;
        }
        self.records += lines.bytes().filter(|&b| b == b'\n').count();
        Ok(())
    }

    fn entries(&self) -> impl Iterator<Item = Entry> + '_ {
        self.messages
            .iter()
            .zip(&self.locs)
            .map(|(info, loc)| Entry {
                info: info.clone(),
                loc: loc.clone(),
            })
    }

    /// Rewrites the index as a header plus one record per message.
    fn compact(&mut self) -> Result<()> {
        // The kept journal handle would go on writing the file this replaces.
        self.journal = None;
        let entries: Vec<Entry> = self.entries().collect();
        let text = index::render_full(&self.header, entries.iter(), &self.vanished);
        let res = write_atomic(&self.idx_path, text.as_bytes());
        self.poison_on_error(res)?;
        self.records = self.messages.len();
        Ok(())
    }

    fn maybe_compact(&mut self) -> Result<()> {
        if needs_compaction(self) {
            self.compact()?;
        }
        Ok(())
    }
}

/// A step of a multi-step write where a test injects a failure, as a
/// crash there would leave the files; nothing outside tests.
#[cfg(test)]
fn crash_point() -> Result<()> {
    tests::crash_point()
}

#[cfg(not(test))]
#[inline]
fn crash_point() -> Result<()> {
    Ok(())
}

fn needs_compaction(mb: &Mailbox) -> bool {
    mb.records > mb.messages.len() + COMPACT_SLACK
}

/// Keywords without duplicates (ASCII case-insensitive), first spelling
/// kept.
fn unique(keywords: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(keywords.len());
    for k in keywords {
        if !out.iter().any(|o| o.eq_ignore_ascii_case(k)) {
            out.push(k.clone());
        }
    }
    out
}

/// Whether two keyword lists name the same set.
fn same_keywords(a: &[String], b: &[String]) -> bool {
    a.len() == b.len()
        && a.iter()
            .all(|k| b.iter().any(|o| o.eq_ignore_ascii_case(k)))
}

fn key_map(messages: &[MessageInfo]) -> HashMap<String, Uid> {
    messages
        .iter()
        .filter_map(|m| Some((m.key.clone()?, m.uid)))
        .collect()
}

/// The index path of a mailbox: its path plus `.idx`.
/// The lock file of a mailbox (`INBOX.mbox.lock`): never renamed or
/// replaced, unlike the mailbox and its index, so a lock on it holds.
pub fn lock_path(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_os_string();
    s.push(".lock");
    PathBuf::from(s)
}

/// Opens (creating it if needed) the mailbox's lock file.
fn open_lock(path: &Path) -> Result<fs::File> {
    let lock = lock_path(path);
    OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock)
        .map_err(io_err(&lock))
}

/// Takes the mailbox's exclusive lock (released when the file is dropped).
fn lock_exclusive(path: &Path) -> Result<fs::File> {
    let file = open_lock(path)?;
    file.lock().map_err(io_err(&lock_path(path)))?;
    Ok(file)
}

/// (inode, length) of a file.
fn fingerprint(path: &Path) -> std::io::Result<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    let meta = fs::metadata(path)?;
    Ok((meta.ino(), meta.len()))
}

fn idx_path(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_os_string();
    s.push(".idx");
    PathBuf::from(s)
}

/// The file next to a mailbox that keeps its UIDVALIDITY
/// (`INBOX.mbox.uidvalidity`); written once, at creation.
pub fn uid_validity_path(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_os_string();
    s.push(".uidvalidity");
    PathBuf::from(s)
}

fn read_uid_validity(path: &Path) -> Option<u32> {
    let text = fs::read_to_string(uid_validity_path(path)).ok()?;
    text.trim().parse().ok().filter(|&v| v > 0)
}

/// The format of the mailbox at `path`, checking that it exists.
fn check_exists(path: &Path) -> Result<MailboxFormat> {
    let format =
        MailboxFormat::of_path(path).ok_or_else(|| Error::BadName(path.display().to_string()))?;
    let ok = match format {
        MailboxFormat::Mbox => path.is_file(),
        MailboxFormat::Mdir => path.is_dir(),
    };
    if !ok {
        return Err(Error::MailboxNotFound(path.display().to_string()));
    }
    Ok(format)
}

/// Removes leftovers of interrupted [`write_atomic`]s of the mailbox file and
/// of its index (`<name>.tmp-*`, `<name>.idx.tmp-*`) next to it.
fn remove_temp_files(path: &Path) -> Result<()> {
    let dir = parent_dir(path);
    let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
        return Ok(());
    };
    let prefixes = [format!("{name}.tmp-"), format!("{name}.idx.tmp-")];
    let rd = fs::read_dir(dir).map_err(io_err(dir))?;
    for entry in rd {
        let entry = entry.map_err(io_err(dir))?;
        let fname = entry.file_name();
        let Some(fname) = fname.to_str() else {
            continue;
        };
        if prefixes.iter().any(|p| fname.starts_with(p.as_str())) {
            let p = entry.path();
            tracing::warn!(path = %p.display(), "removing leftover temporary file");
            match fs::remove_file(&p) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(io_err(&p)(e));
                }
                _ => {}
            }
        }
    }
    Ok(())
}

/// A new UIDVALIDITY: the current unix time, but strictly above any value
/// this process handed out before, so a mailbox deleted and created again
/// within a second still gets a new one (RFC 9051 §2.3.1.1).
fn new_uid_validity() -> u32 {
    static LAST: AtomicU32 = AtomicU32::new(0);
    let now = u32::try_from(chrono::Utc::now().timestamp())
        .unwrap_or(u32::MAX)
        .max(1);
    let prev = LAST
        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |last| {
            Some(now.max(last.saturating_add(1)))
        })
        .unwrap_or(0);
    now.max(prev.saturating_add(1))
}

/// The identity of a file (its inode), used to notice that an mbox file was
/// replaced behind its index; 0 where unknown.
fn file_id(meta: &fs::Metadata) -> u64 {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        meta.ino()
    }
    #[cfg(not(unix))]
    {
        let _ = meta;
        0
    }
}

/// Converts wire form to stored form: CRLF becomes LF.
fn to_lf(wire: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(wire.len());
    for_each_line(wire, |line, lf| {
        if lf {
            // Only a CR right before the LF goes; a bare CR is kept.
            out.extend_from_slice(line.strip_suffix(b"\r").unwrap_or(line));
            out.push(b'\n');
        } else {
            out.extend_from_slice(line);
        }
    });
    out
}

/// Converts stored form to wire form: LF becomes CRLF.
fn to_crlf(stored: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(stored.len() + stored.len() / 32);
    for_each_line(stored, |line, lf| {
        out.extend_from_slice(line);
        if lf {
            out.extend_from_slice(b"\r\n");
        }
    });
    out
}

/// Calls `f` with each line of `bytes` without its LF, and whether it had
/// one. Copying whole lines, found with a vectorised search, rather than
/// bytes: every message stored and read goes through here.
fn for_each_line(bytes: &[u8], mut f: impl FnMut(&[u8], bool)) {
    let mut start = 0;
    for nl in memchr::memchr_iter(b'\n', bytes) {
        f(&bytes[start..nl], true);
        start = nl + 1;
    }
    if start < bytes.len() {
        f(&bytes[start..], false);
    }
}

/// The wire size of stored bytes: one more byte per LF.
fn crlf_len(stored: &[u8]) -> u64 {
    (stored.len() + memchr::memchr_iter(b'\n', stored).count()) as u64
}

/// Formats a unix time in UTC with a chrono format string (the epoch if out
/// of range).
fn format_time(secs: i64, fmt: &str) -> String {
    chrono::DateTime::from_timestamp(secs, 0)
        .unwrap_or_default()
        .format(fmt)
        .to_string()
}

/// Parses a UTC time written by [`format_time`].
fn parse_time(s: &str, fmt: &str) -> Option<i64> {
    chrono::NaiveDateTime::parse_from_str(s, fmt)
        .ok()
        .map(|t| t.and_utc().timestamp())
}

#[cfg(test)]
mod tests;
