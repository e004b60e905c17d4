//! Delivery: the DEQUEUER. Claims due queue entries through Raft, delivers
//! each recipient, records the results through Raft, and removes the body
//! once every recipient is final (DESIGN §6 steps 3-5).
//!
//! Exactly once (invariant 2): each mailbox append carries the key
//! `QUEUEID/recipient`; the mailbox skips a key it already holds, so a
//! retry after a crash between the append and the `Report` commit does not
//! store the message twice.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use actix::{Actor, Context};
use cluster::queue::ReportOutcome;
use cluster::{
    AccountHub, AccountRef, ClusterHandle, Command, CommandResult, QueueEntry, QueueId, RcptState,
};
use futures::future::join_all;
use storage::{AccountKind, Flags, NewMessage, Spool};

use crate::enqueuer::now_ms;
use crate::error::{Error, Result};
use crate::syslog::{SystemLog, level};

/// Entries claimed per round.
const CLAIM_BATCH: u32 = 64;
/// How long a claim lasts; a node that dies mid-delivery loses it after this.
const CLAIM_LEASE_MS: u64 = 60_000;
/// Longest sleep between looks at the queue (due retries are noticed by then).
const IDLE_POLL: Duration = Duration::from_secs(1);

/// The delivery actor: runs `workers` claim-deliver-report loops.
pub struct Delivery {
    shared: Arc<Shared>,
    workers: usize,
}

struct Shared {
    cluster: ClusterHandle,
    spool: Arc<Spool>,
    accounts: AccountHub,
    log: SystemLog,
    retry_ms: u64,
}

impl Delivery {
    /// Creates the delivery actor; `retry_secs` is the delay before a
    /// deferred recipient is tried again.
    pub fn new(
        cluster: ClusterHandle,
        spool: Arc<Spool>,
        accounts: AccountHub,
        log: SystemLog,
        retry_secs: u64,
        workers: usize,
    ) -> Delivery {
        Delivery {
            shared: Arc::new(Shared {
                cluster,
                spool,
                accounts,
                log,
                retry_ms: retry_secs * 1000,
            }),
            workers: workers.max(1),
        }
    }
}

impl Actor for Delivery {
    type Context = Context<Self>;

    fn started(&mut self, _ctx: &mut Context<Self>) {
        for _ in 0..self.workers {
            let shared = self.shared.clone();
            // The loops run on the tokio pool: delivery waits on disk and
            // Raft, never on the actor's thread.
            tokio::spawn(async move { shared.run().await });
        }
    }
}

/// One local recipient of one queued message.
struct Target<'a> {
    id: QueueId,
    address: &'a str,
    account: &'a AccountRef,
    kind: AccountKind,
}

/// Where one recipient goes.
enum Route {
    Local(AccountRef, AccountKind),
    UnknownUser,
    Remote,
}

impl Shared {
    async fn run(&self) {
        let mut changes = self.cluster.changes();
        loop {
            let now = now_ms();
            let next_due = self.cluster.read(|s| next_due(&s.queue.entries, now));
            match next_due {
                Some(due) if due <= now => {
                    if let Err(e) = self.round(now).await {
                        self.log.write(
                            level::PROBLEM,
                            "DEQUEUER",
                            "",
                            &format!("delivery round failed: {e}"),
                        );
                        tokio::time::sleep(IDLE_POLL).await;
                    }
                }
                other => {
                    let wait = other.map_or(IDLE_POLL, |due| {
                        Duration::from_millis(due - now).min(IDLE_POLL)
                    });
                    // Wake on new entries (applied) or when a retry is due.
                    let _ = tokio::time::timeout(wait, changes.changed()).await;
                }
            }
        }
    }

    /// Claims a batch and delivers it.
    async fn round(&self, now: u64) -> Result<()> {
        let claim = Command::Claim {
            node: self.cluster.node_id(),
            now_ms: now,
            lease_ms: CLAIM_LEASE_MS,
            max: CLAIM_BATCH,
        };
        let claimed = match self.cluster.propose(claim).await? {
            CommandResult::Claimed(c) => c,
            other => return Err(Error::Task(format!("unexpected claim result {other:?}"))),
        };
        let entries: Vec<(QueueEntry, u64)> = self.cluster.read(|s| {
            claimed
                .iter()
                .filter_map(|(id, token)| s.queue.entries.get(id).map(|e| (e.clone(), *token)))
                .collect()
        });
        join_all(
            entries
                .into_iter()
                .map(|(e, token)| self.deliver_entry(e, token)),
        )
        .await;
        Ok(())
    }

    /// Delivers one entry's pending recipients and reports the results.
    async fn deliver_entry(&self, entry: QueueEntry, token: u64) {
        let id = entry.id;
        let ctx = format!("[{id}]");
        let body = {
            let spool = self.spool.clone();
            tokio::task::spawn_blocking(move || spool.read_body(id.0)).await
        };
        let body = match body
            .map_err(|e| e.to_string())
            .and_then(|r| r.map_err(|e| e.to_string()))
        {
            Ok(b) => b,
            Err(e) => {
                self.log.write(
                    level::FAILURE,
                    "DEQUEUER",
                    &ctx,
                    &format!("cannot read the message: {e}"),
                );
                return;
            }
        };
        let stored = with_return_path(&entry.return_path, &body);
        let mut results = Vec::new();
        for (index, rcpt) in entry.recipients.iter().enumerate() {
            if rcpt.state.is_final() {
                continue;
            }
            let state = match self.route(&rcpt.address) {
                Route::Local(account, kind) => {
                    let target = Target {
                        id,
                        address: &rcpt.address,
                        account: &account,
                        kind,
                    };
                    self.deliver_local(target, &entry.return_path, &stored)
                        .await
                }
                Route::UnknownUser => {
                    self.log.write(
                        level::MAJOR,
                        "DEQUEUER",
                        &ctx,
                        &format!("{} failed: unknown user", rcpt.address),
                    );
                    RcptState::Failed("5.1.1 unknown user account".into())
                }
                Route::Remote => {
                    // TODO(#5): SMTP relay delivery; until then remote mail waits.
                    RcptState::Deferred("4.4.0 remote delivery is not available yet".into())
                }
            };
            results.push((index as u32, state));
        }
        let report = Command::Report {
            id,
            token,
            results,
            retry_at_ms: now_ms() + self.retry_ms,
        };
        match self.cluster.propose(report).await {
            Ok(CommandResult::Reported(ReportOutcome::Dequeued)) => {
                let spool = self.spool.clone();
                let _ = tokio::task::spawn_blocking(move || spool.remove(id.0)).await;
                self.log.write(level::MAJOR, "QUEUE", &ctx, "deleted");
            }
            Ok(CommandResult::Reported(ReportOutcome::Deferred)) => {
                self.log.write(level::LOW, "QUEUE", &ctx, "delayed");
            }
            Ok(other) => {
                self.log.write(
                    level::PROBLEM,
                    "DEQUEUER",
                    &ctx,
                    &format!("result not recorded: {other:?}"),
                );
            }
            Err(e) => {
                // The claim lapses and the entry is retried; appends are keyed,
                // so the retry does not duplicate.
                self.log.write(
                    level::PROBLEM,
                    "DEQUEUER",
                    &ctx,
                    &format!("result not recorded: {e}"),
                );
            }
        }
    }

    fn route(&self, address: &str) -> Route {
        self.cluster.read(|s| {
            let dir = &s.directory;
            match dir.resolve(address) {
                Some(account) => {
                    let kind = dir
                        .account(&account)
                        .map_or(AccountKind::MultiMailbox, |a| a.kind);
                    Route::Local(account, kind)
                }
                None => {
                    let (_, domain) = dir.split_address(address);
                    if dir.is_local_domain(&domain) {
                        Route::UnknownUser
                    } else {
                        Route::Remote
                    }
                }
            }
        })
    }

    async fn deliver_local(
        &self,
        target: Target<'_>,
        return_path: &str,
        message: &Arc<Vec<u8>>,
    ) -> RcptState {
        let Target {
            id,
            address,
            account,
            kind,
        } = target;
        let key = format!("{id}/{}", address.to_lowercase());
        let message = message.clone();
        let return_path = return_path.to_string();
        let internal_date = (now_ms() / 1000) as i64;
        let result = self
            .accounts
            .with_inbox(account, kind, move |inbox| {
                let new = NewMessage {
                    bytes: &message,
                    flags: Flags::default(),
                    internal_date,
                    key: Some(key),
                    return_path: &return_path,
                };
                inbox.append(&[new])
            })
            .await;
        let ctx = format!("[{id}]");
        match result {
            Ok(uids) => {
                let uid = uids.first().map_or(0, |u| u.0);
                self.log.write(
                    level::MAJOR,
                    "MAILBOX",
                    &format!("{account}/INBOX"),
                    &format!("{ctx} stored as {uid}"),
                );
                self.log.write(
                    level::MAJOR,
                    "ACCOUNT",
                    &account.to_string(),
                    &format!("{ctx} delivered"),
                );
                self.log.write(
                    level::MAJOR,
                    "DEQUEUER",
                    "",
                    &format!("{ctx} LOCAL({account}) delivered: Delivered to the user mailbox"),
                );
                RcptState::Delivered
            }
            Err(e) => {
                self.log.write(
                    level::PROBLEM,
                    "DEQUEUER",
                    "",
                    &format!("{ctx} LOCAL({account}) delayed: {e}"),
                );
                RcptState::Deferred(format!("4.2.0 {e}"))
            }
        }
    }
}

/// The earliest time an unclaimed (or lapsed) entry is due, if any.
fn next_due(entries: &BTreeMap<QueueId, QueueEntry>, now: u64) -> Option<u64> {
    entries
        .values()
        .map(|e| match &e.claim {
            Some(c) if c.expires_ms > now => c.expires_ms.max(e.next_attempt_ms),
            _ => e.next_attempt_ms,
        })
        .min()
}

/// The message as stored: with the `Return-Path` final delivery adds
/// (RFC 5321 §4.4).
fn with_return_path(return_path: &str, body: &[u8]) -> Arc<Vec<u8>> {
    let mut stored = format!("Return-Path: <{return_path}>\r\n").into_bytes();
    stored.extend_from_slice(body);
    Arc::new(stored)
}
