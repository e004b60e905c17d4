//! The enqueuer: turns an accepted message into a durable queue entry.
//!
//! DESIGN §6.2 and invariant 1: the body goes to `Queue/ID.msg` (temp
//! name, fsync, rename), the `Queue/` folder is fsynced, and only then is
//! `Enqueue` proposed to Raft; the submitter acknowledges (`250`) after the
//! commit. Folder fsyncs are group-committed: one fsync covers every body
//! renamed before it started. Queue ids come from blocks reserved through
//! Raft, so they are unique in the cluster without a round trip per message.

use std::ops::Range;
use std::sync::Arc;

use actix::{Actor, Context, Handler, Message, ResponseFuture};
use cluster::{ClusterHandle, Command, CommandResult, DsnRet, NewEntry, QueueId, RcptDsn};
use storage::Spool;
use tokio::sync::{Mutex, mpsc, oneshot};

use crate::error::{Error, Result};
use crate::syslog::{SystemLog, level};

/// Ids reserved per Raft round trip.
const ID_BLOCK: u64 = 1000;
/// How long an enqueue whose commit answer was lost keeps asking the
/// cluster whether it committed (a partition may have to heal first),
/// before the client is left without an answer.
pub(crate) const RESOLVE_WAIT: std::time::Duration = std::time::Duration::from_secs(120);

/// A message to enqueue.
#[derive(Debug)]
pub struct Submit {
    /// Envelope sender; empty for `<>`.
    pub return_path: String,
    /// Envelope recipients.
    pub recipients: Vec<String>,
    /// The message, wire form (CRLF line ends).
    pub body: Vec<u8>,
    /// The submitting module, as it appears in the queue (`SMTP`, `PIPE`).
    pub source: &'static str,
    /// DSN parameters (RFC 3461) from the SMTP envelope; default elsewhere.
    pub dsn: SubmitDsn,
}

/// The DSN parameters of a submitted message (RFC 3461 §4).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SubmitDsn {
    /// `RET` of MAIL.
    pub ret: Option<DsnRet>,
    /// `ENVID` of MAIL, decoded.
    pub envid: Option<String>,
    /// `NOTIFY`/`ORCPT` by recipient index.
    pub recipients: Vec<RcptDsn>,
}

impl Message for Submit {
    type Result = Result<QueueId>;
}

/// The enqueuer actor.
pub struct Enqueuer {
    shared: Arc<Shared>,
}

struct Shared {
    cluster: ClusterHandle,
    spool: Arc<Spool>,
    log: SystemLog,
    ids: Mutex<Range<u64>>,
    folder_sync: mpsc::Sender<oneshot::Sender<std::io::Result<()>>>,
    /// Set when the node stops: new submissions are refused.
    closed: std::sync::atomic::AtomicBool,
    /// Submissions between their start and their answer.
    in_flight: std::sync::atomic::AtomicUsize,
    /// Counts accepted messages, when the node keeps metrics.
    metrics: std::sync::OnceLock<crate::metrics::Metrics>,
}

/// Stops taking submissions and waits (bounded) until every submission in
/// flight has its answer, so that no enqueue is cut off by the Raft
/// shutdown after it may have committed: its client would hear `451` for
/// a message that is delivered all the same.
#[derive(Debug)]
pub struct Drain;

impl Message for Drain {
    type Result = ();
}

/// How long a stopping node waits for submissions in flight.
const DRAIN_LIMIT: std::time::Duration = std::time::Duration::from_secs(15);

impl Enqueuer {
    /// Creates the enqueuer; it must be started inside an actix system
    /// running on a tokio runtime (it spawns its folder-sync task).
    pub fn new(cluster: ClusterHandle, spool: Arc<Spool>, log: SystemLog) -> Enqueuer {
        let folder_sync = spawn_folder_sync(spool.clone());
        Enqueuer {
            shared: Arc::new(Shared {
                cluster,
                spool,
                log,
                ids: Mutex::new(0..0),
                folder_sync,
                closed: std::sync::atomic::AtomicBool::new(false),
                in_flight: std::sync::atomic::AtomicUsize::new(0),
                metrics: std::sync::OnceLock::new(),
            }),
        }
    }

    /// Counts accepted messages in `metrics` (WebAdmin's overview).
    pub fn with_metrics(self, metrics: crate::metrics::Metrics) -> Enqueuer {
        let _ = self.shared.metrics.set(metrics);
        self
    }
}

impl Actor for Enqueuer {
    type Context = Context<Self>;
}

impl Handler<Submit> for Enqueuer {
    type Result = ResponseFuture<Result<QueueId>>;

    fn handle(&mut self, msg: Submit, _ctx: &mut Context<Self>) -> Self::Result {
        use std::sync::atomic::Ordering;
        let shared = self.shared.clone();
        Box::pin(async move {
            shared.in_flight.fetch_add(1, Ordering::SeqCst);
            let result = if shared.closed.load(Ordering::SeqCst) {
                Err(Error::Cluster(cluster::Error::Shutdown))
            } else {
                shared.enqueue(msg).await
            };
            shared.in_flight.fetch_sub(1, Ordering::SeqCst);
            result
        })
    }
}

impl Handler<Drain> for Enqueuer {
    type Result = ResponseFuture<()>;

    fn handle(&mut self, _msg: Drain, _ctx: &mut Context<Self>) -> Self::Result {
        use std::sync::atomic::Ordering;
        let shared = self.shared.clone();
        Box::pin(async move {
            shared.closed.store(true, Ordering::SeqCst);
            let deadline = tokio::time::Instant::now() + DRAIN_LIMIT;
            while shared.in_flight.load(Ordering::SeqCst) > 0
                && tokio::time::Instant::now() < deadline
            {
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
        })
    }
}

impl Shared {
    async fn enqueue(&self, msg: Submit) -> Result<QueueId> {
        // A member cut off from the majority cannot commit: refuse at once
        // (the client retries, maybe through another member) rather than
        // keep it waiting for a commit that cannot come.
        if !self.cluster.in_contact() {
            return Err(Error::Cluster(cluster::Error::NoQuorum));
        }
        let id = QueueId(self.next_id().await?);
        let size = msg.body.len() as u64;
        let message_id = header_value(&msg.body, "message-id").unwrap_or_default();

        let spool = self.spool.clone();
        let body = msg.body;
        tokio::task::spawn_blocking(move || spool.write_body(id.0, &body))
            .await
            .map_err(|e| Error::Task(e.to_string()))??;
        let (done, synced) = oneshot::channel();
        self.folder_sync
            .send(done)
            .await
            .map_err(|_| Error::Task("queue folder sync stopped".into()))?;
        synced
            .await
            .map_err(|_| Error::Task("queue folder sync stopped".into()))?
            .map_err(|e| Error::path(&self.spool.body_path(id.0), e))?;

        let entry = NewEntry {
            id,
            return_path: msg.return_path.clone(),
            recipients: msg.recipients,
            size,
            source: msg.source.to_string(),
            received_ms: now_ms(),
            ret: msg.dsn.ret,
            envid: msg.dsn.envid,
            rcpt_dsn: msg.dsn.recipients,
        };
        let ctx = format!("[{id}]");
        self.log.write(
            level::MAJOR,
            "QUEUE",
            &ctx,
            &format!("from <{}>, {size} bytes ({message_id})", msg.return_path),
        );
        match self.cluster.propose(Command::Enqueue(entry)).await {
            Ok(CommandResult::Done) => {
                self.log.write(level::MAJOR, "ENQUEUER", &ctx, "enqueued");
                self.count_accepted();
                Ok(id)
            }
            Err(e) => {
                // The answer was lost (the leader died, no quorum for a
                // while): the entry may have committed all the same. Ask
                // the cluster, once it has a leader again, before saying
                // anything: a refused message must not be delivered, and an
                // accepted one must keep its body.
                match self.resolve(id).await {
                    Some(true) => {
                        self.log.write(level::MAJOR, "ENQUEUER", &ctx, "enqueued");
                        self.count_accepted();
                        Ok(id)
                    }
                    Some(false) => Err(self.refuse(id, Error::Cluster(e), true)),
                    // Still unknown: keep the body (the orphan sweep removes
                    // it if the entry never committed) and say nothing.
                    None => Err(self.refuse(id, Error::OutcomeUnknown(e.to_string()), false)),
                }
            }
            Ok(CommandResult::Rejected(r)) => Err(self.refuse(id, Error::Rejected(r), true)),
            Ok(other) => Err(self.refuse(
                id,
                Error::Task(format!("unexpected enqueue result {other:?}")),
                true,
            )),
        }
    }

    /// Whether entry `id` committed, asked of the leader until it answers
    /// (at most [`RESOLVE_WAIT`]); `None` if it never did. An entry that
    /// committed and was delivered at once is still known: delivered ids
    /// stay in the queue's `removable` set for `delivery::FORGET_DELAY`.
    async fn resolve(&self, id: QueueId) -> Option<bool> {
        let deadline = tokio::time::Instant::now() + RESOLVE_WAIT;
        loop {
            let known = self
                .cluster
                .read_linearizable(|s| {
                    s.queue.entries.contains_key(&id) || s.queue.removable.contains(&id)
                })
                .await;
            match known {
                Ok(known) => return Some(known),
                Err(_) if tokio::time::Instant::now() > deadline => return None,
                Err(_) => tokio::time::sleep(std::time::Duration::from_secs(1)).await,
            }
        }
    }

    /// Logs a failed enqueue and, when the entry is known not to exist,
    /// removes its body (it must not linger as an orphan).
    fn count_accepted(&self) {
        if let Some(metrics) = self.metrics.get() {
            metrics.accepted();
        }
    }

    fn refuse(&self, id: QueueId, err: Error, remove_body: bool) -> Error {
        if remove_body {
            let _ = self.spool.remove(id.0);
        }
        self.log.write(
            level::FAILURE,
            "ENQUEUER",
            &format!("[{id}]"),
            &format!("failed: {err}"),
        );
        err
    }

    async fn next_id(&self) -> Result<u64> {
        let mut ids = self.ids.lock().await;
        if ids.is_empty() {
            match self
                .cluster
                .propose(Command::AllocateIds { count: ID_BLOCK })
                .await?
            {
                CommandResult::Ids(first) => *ids = first..first + ID_BLOCK,
                other => {
                    return Err(Error::Task(format!(
                        "unexpected id allocation result {other:?}"
                    )));
                }
            }
        }
        let id = ids.start;
        ids.start += 1;
        Ok(id)
    }
}

/// Starts the group-commit task for the `Queue/` folder: each fsync answers
/// every request that arrived before it started.
fn spawn_folder_sync(spool: Arc<Spool>) -> mpsc::Sender<oneshot::Sender<std::io::Result<()>>> {
    let (tx, mut rx) = mpsc::channel::<oneshot::Sender<std::io::Result<()>>>(1024);
    tokio::spawn(async move {
        while let Some(first) = rx.recv().await {
            let mut waiters = vec![first];
            while let Ok(w) = rx.try_recv() {
                waiters.push(w);
            }
            let spool = spool.clone();
            let result = tokio::task::spawn_blocking(move || spool.sync())
                .await
                .map_err(std::io::Error::other)
                .and_then(|r| r.map_err(std::io::Error::other));
            for w in waiters {
                let r = match &result {
                    Ok(()) => Ok(()),
                    Err(e) => Err(std::io::Error::new(e.kind(), e.to_string())),
                };
                let _ = w.send(r);
            }
        }
    });
    tx
}

/// Milliseconds since the epoch, by the clock leases and claims are judged
/// by.
pub use cluster::clock::now_ms;

/// The unfolded value of the first header `name` (lowercase) in a message,
/// looking only at the header section.
pub fn header_value(message: &[u8], name: &str) -> Option<String> {
    let end = message
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(message.len(), |p| p + 2);
    let header = String::from_utf8_lossy(&message[..end]);
    let mut found: Option<String> = None;
    for line in header.split("\r\n") {
        if let Some(value) = found.as_mut() {
            if line.starts_with([' ', '\t']) {
                value.push_str(line);
                continue;
            }
            break;
        }
        if let Some((field, value)) = line.split_once(':')
            && field.trim().eq_ignore_ascii_case(name)
        {
            found = Some(value.trim().to_string());
        }
    }
    found.map(|v| v.trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_value_unfolds_and_stops_at_body() {
        let msg =
            b"From: a@b\r\nMessage-ID:\r\n <x@y>\r\nSubject: s\r\n\r\nMessage-ID: <body@z>\r\n";
        assert_eq!(header_value(msg, "message-id").as_deref(), Some("<x@y>"));
        assert_eq!(header_value(msg, "to"), None);
    }
}
