//! The history of a chaos run: every client operation and every fault, with its start, end,
//! node and outcome, in the order operations completed. Written as `history.jsonl` (one JSON
//! object per line) and judged by [`super::check`].
//!
//! Outcomes follow Jepsen's convention: `ok` (the server confirmed), `failed` (the server
//! definitely did not do it: refused, or the connection broke before the request was complete),
//! `unknown` (the request was complete but no answer came; it may or may not have happened).

use std::io::Write as _;
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{Context, Result};
use serde::Serialize;
use tokio::time::Instant;

/// The outcome of one operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// The server confirmed the operation.
    Ok,
    /// The operation definitely did not take effect.
    Failed,
    /// The operation may or may not have taken effect.
    Unknown,
}

/// The kinds of fault the nemesis injects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FaultKind {
    /// SIGKILL, then a restart after a delay.
    Kill,
    /// SIGSTOP, then SIGCONT after a delay.
    Pause,
    /// SIGTERM (graceful stop), then a restart.
    Restart,
    /// The cluster traffic of a minority cut from the majority, then healed.
    Partition,
    /// One step of a rolling upgrade: SIGTERM, wait, start (possibly another binary).
    Upgrade,
    /// The node's lease and claim clock skewed, within the cluster's stated margin.
    Clock,
    /// Slow or failing fsyncs on the node (mailboxes and queue files).
    Disk,
    /// [`FaultKind::Kill`] of whichever node leads when the fault starts.
    #[serde(rename = "kill-leader")]
    KillLeader,
    /// [`FaultKind::Pause`] of the leader.
    #[serde(rename = "pause-leader")]
    PauseLeader,
    /// [`FaultKind::Partition`] with the leader in the minority.
    #[serde(rename = "partition-leader")]
    PartitionLeader,
}

impl FaultKind {
    /// Every kind `--faults` accepts.
    pub const CHOICES: [FaultKind; 9] = [
        FaultKind::Kill,
        FaultKind::Pause,
        FaultKind::Restart,
        FaultKind::Partition,
        FaultKind::Clock,
        FaultKind::Disk,
        FaultKind::KillLeader,
        FaultKind::PauseLeader,
        FaultKind::PartitionLeader,
    ];

    /// The name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            FaultKind::Kill => "kill",
            FaultKind::Pause => "pause",
            FaultKind::Restart => "restart",
            FaultKind::Partition => "partition",
            FaultKind::Upgrade => "upgrade",
            FaultKind::Clock => "clock",
            FaultKind::Disk => "disk",
            FaultKind::KillLeader => "kill-leader",
            FaultKind::PauseLeader => "pause-leader",
            FaultKind::PartitionLeader => "partition-leader",
        }
    }

    /// What is done to the faulted node: the leader variants do what their
    /// plain kind does.
    pub fn action(self) -> FaultKind {
        match self {
            FaultKind::KillLeader => FaultKind::Kill,
            FaultKind::PauseLeader => FaultKind::Pause,
            FaultKind::PartitionLeader => FaultKind::Partition,
            other => other,
        }
    }

    /// Whether the fault aims at the leader rather than the planned node.
    pub fn at_leader(self) -> bool {
        self.action() != self
    }
}

/// One message of a POP3 listing: its number, its unique id and, when the tool read its
/// headers, the chaos token from its Subject.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Entry {
    /// Message number in that session.
    pub num: u32,
    /// The `UIDL` unique id (`UIDVALIDITY.UID`).
    pub uidl: String,
    /// The token of the message, if its headers were read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// Whether the message had the `\Seen` flag (IMAP reads only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seen: Option<bool>,
}

/// What an operation did, with the data the checker needs.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Op {
    /// One SMTP transaction carrying one message with a unique token.
    Send {
        /// The unique token (in Subject and Message-ID).
        token: String,
        /// The recipients asked for (account names).
        rcpts: Vec<String>,
        /// The recipients the server accepted with `250` to RCPT.
        accepted: Vec<String>,
        /// Whether the end-of-data marker was written.
        data_sent: bool,
        /// The reply to the end of data, if one came.
        #[serde(skip_serializing_if = "Option::is_none")]
        reply: Option<String>,
    },
    /// A POP3 session listing (and partly reading) one maildrop.
    Read {
        /// The account read.
        account: String,
        /// Whether this is a post-heal verification read (every message's headers read).
        final_check: bool,
        /// The listing, if the session got that far.
        #[serde(skip_serializing_if = "Option::is_none")]
        listing: Option<Vec<Entry>>,
    },
    /// A POP3 session deleting messages from the expunger account.
    Expunge {
        /// The account (always the expunger).
        account: String,
        /// The messages marked with DELE before QUIT.
        deleted: Vec<Entry>,
    },
    /// CreateAccount on one node, then an immediate read of it on other nodes.
    CreateAccount {
        /// The new account.
        account: String,
        /// Node asked `GetAccountSettings` right after the create returned.
        verify_node: usize,
        /// Its reply (or error).
        #[serde(skip_serializing_if = "Option::is_none")]
        verify: Option<String>,
        /// Whether the read was served and saw the account (`None`: not served).
        #[serde(skip_serializing_if = "Option::is_none")]
        verify_saw: Option<bool>,
        /// Node asked for a POP3 login with the new password right after.
        login_node: usize,
        /// Its reply (or error).
        #[serde(skip_serializing_if = "Option::is_none")]
        login: Option<String>,
        /// Whether the login was served and accepted (`None`: not served).
        #[serde(skip_serializing_if = "Option::is_none")]
        login_ok: Option<bool>,
    },
    /// An IMAP `UID STORE +FLAGS (\Seen)` on one message (after a read of the same session).
    Flag {
        /// The account.
        account: String,
        /// The message's `UIDVALIDITY.UID`.
        uidl: String,
    },
    /// A fault on one node, from its injection until the node was healthy again.
    Fault {
        /// What was done.
        kind: FaultKind,
        /// How long the node was held down or stopped, in milliseconds.
        hold_ms: u64,
        /// For a partition: the minority (1-based nodes) cut from the others.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        minority: Vec<usize>,
        /// For a partition: when the cut took effect, ms (the end is the record's `end_ms`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cut_ms: Option<u64>,
    },
}

/// One recorded operation.
#[derive(Debug, Clone, Serialize)]
pub struct Record {
    /// Sequence number, in order of completion.
    pub id: u64,
    /// Which worker did it (`send-2`, `nemesis`, `heal`, ...).
    pub worker: String,
    /// The node (1-based) the operation was sent to.
    pub node: usize,
    /// Start, in milliseconds since the cluster was ready.
    pub start_ms: u64,
    /// End, in milliseconds since the cluster was ready.
    pub end_ms: u64,
    /// The outcome.
    pub outcome: Outcome,
    /// The error, for a failed or unknown outcome.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The operation and its data.
    #[serde(flatten)]
    pub op: Op,
}

/// The shared, append-only history.
#[derive(Debug)]
pub struct History {
    epoch: Instant,
    next_id: AtomicU64,
    records: Mutex<Vec<Record>>,
}

impl History {
    /// A new, empty history whose clock starts now.
    pub fn new() -> Self {
        Self {
            epoch: Instant::now(),
            next_id: AtomicU64::new(0),
            records: Mutex::new(Vec::new()),
        }
    }

    /// Milliseconds since the history started.
    pub fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Appends one record; `start_ms` is when the operation began.
    pub fn record(
        &self,
        worker: &str,
        node: usize,
        start_ms: u64,
        outcome: Outcome,
        error: Option<String>,
        op: Op,
    ) {
        let record = Record {
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            worker: worker.to_owned(),
            node,
            start_ms,
            end_ms: self.now_ms(),
            outcome,
            error,
            op,
        };
        self.lock().push(record);
    }

    /// A copy of every record so far.
    pub fn snapshot(&self) -> Vec<Record> {
        self.lock().clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Record>> {
        // A worker that panicked while pushing leaves a valid Vec; keep the history.
        self.records
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Writes the history as JSON lines.
    ///
    /// # Errors
    /// Fails if the file cannot be written.
    pub fn write_jsonl(&self, path: &Path) -> Result<()> {
        let mut out = std::io::BufWriter::new(
            std::fs::File::create(path).with_context(|| format!("create {}", path.display()))?,
        );
        for record in self.lock().iter() {
            serde_json::to_writer(&mut out, record)?;
            out.write_all(b"\n")?;
        }
        out.flush()
            .with_context(|| format!("write {}", path.display()))
    }
}

impl Default for History {
    fn default() -> Self {
        Self::new()
    }
}
