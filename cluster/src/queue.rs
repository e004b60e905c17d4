//! The queue: one entry per accepted message, with the envelope and each
//! recipient's state, plus the claim of the node currently delivering it.
//!
//! Message bodies are not here: they live in `Queue/ID.msg` on the shared
//! base directory (storage crate). Time never comes from a clock inside the
//! state machine: every command carries the proposer's `now_ms`, so every
//! node applies the same log to the same state.
//!
//! A claim is a lease with a fencing token: a report carrying a stale token
//! (its claim expired and another node claimed the entry) is rejected, so a
//! node that stalled cannot overwrite newer results.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::command::Rejection;

/// A queued message's id, unique in the cluster (also the body file name).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct QueueId(pub u64);

impl fmt::Display for QueueId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// The state of one recipient of a queued message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum RcptState {
    /// Not delivered yet.
    Pending,
    /// Delivered (final).
    Delivered,
    /// Failed permanently (final), with the reason.
    Failed(String),
    /// Failed temporarily, with the reason; retried later.
    Deferred(String),
}

impl RcptState {
    /// Whether nothing more will be done for this recipient.
    pub fn is_final(&self) -> bool {
        matches!(self, RcptState::Delivered | RcptState::Failed(_))
    }
}

/// One recipient of a queued message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recipient {
    /// The envelope address as given (`user@domain`).
    pub address: String,
    /// Its delivery state.
    pub state: RcptState,
}

/// A node's lease on an entry while it delivers it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claim {
    /// The claiming node.
    pub node: u64,
    /// When the claim lapses (ms since the epoch, proposer's clock).
    pub expires_ms: u64,
    /// Fencing token: reports must carry it.
    pub token: u64,
}

/// What an enqueuer submits.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewEntry {
    /// The id whose body file is already durable in `Queue/`.
    pub id: QueueId,
    /// Envelope sender; empty for the null reverse-path `<>`.
    pub return_path: String,
    /// Envelope recipients.
    pub recipients: Vec<String>,
    /// Body size in bytes.
    pub size: u64,
    /// Which module submitted it (`SMTP`, `PIPE`, ...).
    pub source: String,
    /// When it was accepted (ms since the epoch).
    pub received_ms: u64,
}

/// One queued message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueEntry {
    /// Its id.
    pub id: QueueId,
    /// Envelope sender; empty for `<>`.
    pub return_path: String,
    /// Recipients and their states.
    pub recipients: Vec<Recipient>,
    /// Body size in bytes.
    pub size: u64,
    /// Submitting module.
    pub source: String,
    /// Acceptance time (ms since the epoch).
    pub received_ms: u64,
    /// Delivery attempts so far.
    pub attempts: u32,
    /// Not to be tried before this time (ms since the epoch).
    pub next_attempt_ms: u64,
    /// The current claim, if any.
    pub claim: Option<Claim>,
}

/// The queue part of the state machine.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Queue {
    /// Entries by id.
    pub entries: BTreeMap<QueueId, QueueEntry>,
    next_token: u64,
    /// Dequeued messages whose body file may still exist: a node removes
    /// the file, then forgets the id (`Command::Forget`); a node that
    /// starts removes what a crash left behind.
    pub removable: BTreeSet<QueueId>,
}

/// The outcome of a delivery attempt report.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ReportOutcome {
    /// Every recipient is final: the entry is gone and its body may be removed.
    Dequeued,
    /// Some recipients remain; the entry waits for its next attempt.
    Deferred,
}

impl Queue {
    /// Adds an entry, due at once.
    pub fn enqueue(&mut self, e: NewEntry) -> Result<(), Rejection> {
        if self.entries.contains_key(&e.id) {
            return Err(Rejection::QueueIdInUse);
        }
        let recipients = e
            .recipients
            .into_iter()
            .map(|address| Recipient {
                address,
                state: RcptState::Pending,
            })
            .collect();
        self.entries.insert(
            e.id,
            QueueEntry {
                id: e.id,
                return_path: e.return_path,
                recipients,
                size: e.size,
                source: e.source,
                received_ms: e.received_ms,
                attempts: 0,
                next_attempt_ms: e.received_ms,
                claim: None,
            },
        );
        Ok(())
    }

    /// Claims up to `max` entries that are due at `now_ms` and not claimed
    /// by a live claim, oldest first. Returns (id, token) pairs.
    pub fn claim(
        &mut self,
        node: u64,
        now_ms: u64,
        lease_ms: u64,
        max: usize,
    ) -> Vec<(QueueId, u64)> {
        let mut claimed = Vec::new();
        for entry in self.entries.values_mut() {
            if claimed.len() >= max {
                break;
            }
            let free = entry.claim.as_ref().is_none_or(|c| c.expires_ms <= now_ms);
            if free && entry.next_attempt_ms <= now_ms {
                self.next_token += 1;
                entry.claim = Some(Claim {
                    node,
                    expires_ms: now_ms + lease_ms,
                    token: self.next_token,
                });
                claimed.push((entry.id, self.next_token));
            }
        }
        claimed
    }

    /// Drops the claims of `node` (its delivery work died with it).
    pub fn release_claims(&mut self, node: u64) {
        for entry in self.entries.values_mut() {
            if entry.claim.as_ref().is_some_and(|c| c.node == node) {
                entry.claim = None;
            }
        }
    }

    /// Records the results of an attempt made under claim `token`.
    /// `results` maps recipient index to its new state; `retry_at_ms` is when
    /// non-final recipients are due again.
    pub fn report(
        &mut self,
        id: QueueId,
        token: u64,
        results: Vec<(u32, RcptState)>,
        retry_at_ms: u64,
    ) -> Result<ReportOutcome, Rejection> {
        let entry = self.entries.get_mut(&id).ok_or(Rejection::NotInQueue)?;
        if entry.claim.as_ref().map(|c| c.token) != Some(token) {
            return Err(Rejection::StaleClaim);
        }
        for (index, state) in results {
            if let Some(r) = entry.recipients.get_mut(index as usize) {
                // A final state is never undone by a late report.
                if !r.state.is_final() {
                    r.state = state;
                }
            }
        }
        if entry.recipients.iter().all(|r| r.state.is_final()) {
            self.entries.remove(&id);
            self.removable.insert(id);
            return Ok(ReportOutcome::Dequeued);
        }
        entry.attempts += 1;
        entry.next_attempt_ms = retry_at_ms;
        entry.claim = None;
        Ok(ReportOutcome::Deferred)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: u64, rcpts: &[&str]) -> NewEntry {
        NewEntry {
            id: QueueId(id),
            return_path: "a@b".into(),
            recipients: rcpts.iter().map(|s| s.to_string()).collect(),
            size: 10,
            source: "SMTP".into(),
            received_ms: 1000,
        }
    }

    #[test]
    fn claim_is_exclusive_until_it_expires() {
        let mut q = Queue::default();
        q.enqueue(entry(1, &["x@y"])).unwrap();
        assert_eq!(q.enqueue(entry(1, &["x@y"])), Err(Rejection::QueueIdInUse));
        let first = q.claim(1, 1000, 500, 10);
        assert_eq!(first.len(), 1);
        assert!(q.claim(2, 1200, 500, 10).is_empty());
        let second = q.claim(2, 1500, 500, 10);
        assert_eq!(second.len(), 1);
        // The first claimant's report is fenced off.
        assert_eq!(
            q.report(QueueId(1), first[0].1, vec![(0, RcptState::Delivered)], 0),
            Err(Rejection::StaleClaim)
        );
        assert_eq!(
            q.report(QueueId(1), second[0].1, vec![(0, RcptState::Delivered)], 0),
            Ok(ReportOutcome::Dequeued)
        );
        assert!(q.entries.is_empty());
        assert!(
            q.removable.contains(&QueueId(1)),
            "its body must be removed"
        );
    }

    #[test]
    fn a_restarted_node_releases_its_claims() {
        let mut q = Queue::default();
        q.enqueue(entry(1, &["x@y"])).unwrap();
        q.enqueue(entry(2, &["x@y"])).unwrap();
        assert_eq!(q.claim(1, 1000, 60_000, 1).len(), 1);
        assert_eq!(q.claim(2, 1000, 60_000, 1).len(), 1);
        q.release_claims(1);
        let again = q.claim(3, 1001, 60_000, 10);
        assert_eq!(
            again.iter().map(|(id, _)| id.0).collect::<Vec<_>>(),
            vec![1]
        );
    }

    #[test]
    fn deferred_recipients_wait_for_retry() {
        let mut q = Queue::default();
        q.enqueue(entry(7, &["a@l", "b@r"])).unwrap();
        let c = q.claim(1, 1000, 500, 10);
        let out = q
            .report(
                QueueId(7),
                c[0].1,
                vec![
                    (0, RcptState::Delivered),
                    (1, RcptState::Deferred("later".into())),
                ],
                5000,
            )
            .unwrap();
        assert_eq!(out, ReportOutcome::Deferred);
        assert!(q.claim(1, 4000, 500, 10).is_empty());
        let c = q.claim(1, 5000, 500, 10);
        assert_eq!(c.len(), 1);
        assert_eq!(q.entries[&QueueId(7)].attempts, 1);
        q.report(
            QueueId(7),
            c[0].1,
            vec![
                (0, RcptState::Failed("x".into())),
                (1, RcptState::Failed("no".into())),
            ],
            0,
        )
        .unwrap();
        assert!(q.entries.is_empty());
    }
}
