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

/// `RET` of MAIL FROM (RFC 3461 §4.3): how much of the message a failure
/// notification returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum DsnRet {
    /// `RET=FULL`: the whole message.
    Full,
    /// `RET=HDRS`: the header only.
    Hdrs,
}

/// `NOTIFY` of RCPT TO (RFC 3461 §4.1). `NEVER` is all three `false`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notify {
    /// `SUCCESS`: report delivery (or relay to a host without DSN).
    pub success: bool,
    /// `FAILURE`: report a failure.
    pub failure: bool,
    /// `DELAY`: report a long delay.
    pub delay: bool,
}

/// The DSN parameters of one recipient (RFC 3461 §4.1, §4.2).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RcptDsn {
    /// `NOTIFY`; `None` when not given (RFC 3461 §4.1: then failures and,
    /// at the MTA's discretion, delays are reported; Mailnode reports both).
    pub notify: Option<Notify>,
    /// `ORCPT`, decoded: `addr-type;address` (`rfc822;bob@example.test`).
    pub orcpt: Option<String>,
}

impl RcptDsn {
    /// Whether a failure of this recipient is reported.
    pub fn wants_failure(&self) -> bool {
        self.notify.is_none_or(|n| n.failure)
    }

    /// Whether a delay of this recipient is reported.
    pub fn wants_delay(&self) -> bool {
        self.notify.is_none_or(|n| n.delay)
    }

    /// Whether a successful delivery of this recipient is reported.
    pub fn wants_success(&self) -> bool {
        self.notify.is_some_and(|n| n.success)
    }
}

/// One recipient of a queued message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recipient {
    /// The envelope address as given (`user@domain`).
    pub address: String,
    /// Its delivery state.
    pub state: RcptState,
    /// Its DSN parameters (RFC 3461).
    pub dsn: RcptDsn,
    /// Legs of this recipient (the members of a group, a forwarder's
    /// target) delivered in an attempt that deferred others: a retry does
    /// not send them again, since a remote host that answered `250` has no
    /// key to recognise a second copy by. Lowercase addresses; recorded
    /// since protocol [`crate::rpc::LEG_REPORT_VERSION`]
    /// ([`crate::Command::ReportLegs`]). Only in self-describing
    /// encodings, see [`self_describing_only`].
    #[serde(default, with = "self_describing_only")]
    pub delivered_legs: Vec<String>,
}

/// Serde for a state field added after protocol 4 (here and in
/// [`crate::router::RelaySettings`]): present in
/// self-describing (human-readable) encodings, absent from compact ones.
/// Protocol 4 and earlier wrote compact (bincode) snapshots, which have no
/// field names: a field there would make this version misread them. Later
/// snapshots are self-describing (`crate::raft::state_machine`), and queue
/// entries travel in nothing else, so nothing is lost.
pub(crate) mod self_describing_only {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub(crate) fn serialize<S: Serializer, T: Serialize>(
        value: &T,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            value.serialize(s)
        } else {
            // Writes no bytes in bincode: the compact layout stays as it was.
            s.serialize_unit()
        }
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>, T: Deserialize<'de> + Default>(
        d: D,
    ) -> Result<T, D::Error> {
        if d.is_human_readable() {
            T::deserialize(d)
        } else {
            Ok(T::default())
        }
    }
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
    /// `RET` of MAIL FROM (RFC 3461 §4.3).
    pub ret: Option<DsnRet>,
    /// `ENVID` of MAIL FROM, decoded (RFC 3461 §4.4).
    pub envid: Option<String>,
    /// DSN parameters by recipient index; missing ones are the default.
    pub rcpt_dsn: Vec<RcptDsn>,
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
    /// A delay notification was sent (at most one per message).
    pub delay_notified: bool,
    /// `RET` of MAIL FROM (RFC 3461 §4.3).
    pub ret: Option<DsnRet>,
    /// `ENVID` of MAIL FROM, decoded (RFC 3461 §4.4).
    pub envid: Option<String>,
    /// Set by an administrator's reject: the next attempt fails every
    /// recipient still pending with this text (and bounces) instead of
    /// delivering.
    pub rejected: Option<String>,
}

/// The queue part of the state machine.
///
/// Entries change only through its methods, which keep the due index: the
/// entries by the time they can next be claimed, so that finding what is
/// due costs the number of due entries, not the size of the queue (a
/// backlog of deferred mail must not slow every claim and every wake-up).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Queue {
    /// Entries by id (read them here; change them through the methods).
    pub entries: BTreeMap<QueueId, QueueEntry>,
    /// `(due time, id)` of every entry, see [`due_time`]. Derived, so not
    /// in snapshots: [`Queue::index_due`] rebuilds it after one is read.
    #[serde(skip)]
    due: BTreeSet<(u64, QueueId)>,
    next_token: u64,
    /// Dequeued messages whose body file may still exist: a node removes
    /// the file, then forgets the id (`Command::Forget`); a node that
    /// starts removes what a crash left behind.
    pub removable: BTreeSet<QueueId>,
    /// Each node's last claim: its nonce and what it claimed.
    last_claims: BTreeMap<u64, (u64, Vec<(QueueId, u64)>)>,
}

/// The outcome of a delivery attempt report.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ReportOutcome {
    /// Every recipient is final: the entry is gone and its body may be removed.
    Dequeued,
    /// Some recipients remain; the entry waits for its next attempt.
    Deferred,
}

/// When an entry can next be claimed: its next attempt, or when its claim
/// lapses if that is later.
fn due_time(e: &QueueEntry) -> u64 {
    match &e.claim {
        Some(c) => c.expires_ms.max(e.next_attempt_ms),
        None => e.next_attempt_ms,
    }
}

impl Queue {
    /// Rebuilds the due index from the entries (after a snapshot is read).
    pub fn index_due(&mut self) {
        self.due = self.entries.values().map(|e| (due_time(e), e.id)).collect();
    }

    /// The earliest time an entry can be claimed, if any entry is queued.
    pub fn next_due(&self) -> Option<u64> {
        self.due.first().map(|(t, _)| *t)
    }

    /// Changes entry `id` with `change`, keeping the due index.
    fn update<R>(&mut self, id: QueueId, change: impl FnOnce(&mut QueueEntry) -> R) -> Option<R> {
        let entry = self.entries.get_mut(&id)?;
        self.due.remove(&(due_time(entry), id));
        let result = change(entry);
        self.due.insert((due_time(entry), id));
        Some(result)
    }

    /// Removes entry `id` and its place in the due index.
    fn remove(&mut self, id: QueueId) {
        if let Some(entry) = self.entries.remove(&id) {
            self.due.remove(&(due_time(&entry), id));
        }
    }

    /// Adds an entry, due at once.
    pub fn enqueue(&mut self, e: NewEntry) -> Result<(), Rejection> {
        // The same Enqueue applied twice (resent after the leader died before
        // answering) is one message: the first one counts, even if it has
        // been delivered since.
        if self.removable.contains(&e.id) {
            return Ok(());
        }
        if let Some(existing) = self.entries.get(&e.id) {
            let same = existing.return_path == e.return_path
                && existing.size == e.size
                && existing.received_ms == e.received_ms;
            return if same {
                Ok(())
            } else {
                Err(Rejection::QueueIdInUse)
            };
        }
        let mut dsn = e.rcpt_dsn.into_iter();
        let recipients = e
            .recipients
            .into_iter()
            .map(|address| Recipient {
                address,
                state: RcptState::Pending,
                dsn: dsn.next().unwrap_or_default(),
                delivered_legs: Vec::new(),
            })
            .collect();
        self.due.insert((e.received_ms, e.id));
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
                delay_notified: false,
                ret: e.ret,
                envid: e.envid,
                rejected: None,
            },
        );
        Ok(())
    }

    /// [`Queue::claim`], answered once per `nonce`: the same claim applied
    /// again returns what it claimed the first time.
    pub fn claim_once(
        &mut self,
        node: u64,
        now_ms: u64,
        lease_ms: u64,
        max: usize,
        nonce: u64,
    ) -> Vec<(QueueId, u64)> {
        if let Some((last, claimed)) = self.last_claims.get(&node)
            && *last == nonce
        {
            return claimed.clone();
        }
        let claimed = self.claim(node, now_ms, lease_ms, max);
        self.last_claims.insert(node, (nonce, claimed.clone()));
        claimed
    }

    /// Claims up to `max` entries that are due at `now_ms` and not claimed
    /// by a live claim, oldest (lowest id) first. Returns (id, token) pairs.
    pub fn claim(
        &mut self,
        node: u64,
        now_ms: u64,
        lease_ms: u64,
        max: usize,
    ) -> Vec<(QueueId, u64)> {
        // Due now ⇔ free (no claim, or a lapsed one) and its attempt is due.
        let mut due: Vec<QueueId> = self
            .due
            .range(..=(now_ms, QueueId(u64::MAX)))
            .map(|(_, id)| *id)
            .collect();
        due.sort_unstable();
        due.truncate(max);
        let mut claimed = Vec::with_capacity(due.len());
        for id in due {
            self.next_token += 1;
            let token = self.next_token;
            self.update(id, |entry| {
                entry.claim = Some(Claim {
                    node,
                    expires_ms: now_ms + lease_ms,
                    token,
                })
            });
            claimed.push((id, token));
        }
        claimed
    }

    /// Extends the claims in `claims` (id, token) that `node` still holds to
    /// `now_ms + lease_ms`: a node renews what it is still delivering, so a
    /// claim can be short (a dead node's work moves soon) and an attempt
    /// long. A claim taken over by another node is not renewed (its token
    /// changed); one that lapsed but was not taken over still is, since
    /// nobody else works on it. Returns how many were renewed.
    pub fn renew(
        &mut self,
        node: u64,
        now_ms: u64,
        lease_ms: u64,
        claims: &[(QueueId, u64)],
    ) -> u64 {
        let mut renewed = 0;
        for &(id, token) in claims {
            let held = self.entries.get(&id).and_then(|e| e.claim.as_ref());
            if held.is_some_and(|c| c.node == node && c.token == token) {
                self.update(id, |entry| {
                    if let Some(claim) = entry.claim.as_mut() {
                        claim.expires_ms = claim.expires_ms.max(now_ms + lease_ms);
                    }
                });
                renewed += 1;
            }
        }
        renewed
    }

    /// Drops the claims of `node` (its delivery work died with it).
    pub fn release_claims(&mut self, node: u64) {
        let held: Vec<QueueId> = self
            .entries
            .values()
            .filter(|e| e.claim.as_ref().is_some_and(|c| c.node == node))
            .map(|e| e.id)
            .collect();
        for id in held {
            self.update(id, |entry| entry.claim = None);
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
        self.check_claim(id, token)?;
        let done = self.update(id, |entry| {
            for (index, state) in results {
                if let Some(r) = entry.recipients.get_mut(index as usize) {
                    // A final state is never undone by a late report.
                    if !r.state.is_final() {
                        r.state = state;
                    }
                }
            }
            if entry.recipients.iter().all(|r| r.state.is_final()) {
                return true;
            }
            entry.attempts += 1;
            // A reject that arrived during the attempt is carried out at once.
            entry.next_attempt_ms = if entry.rejected.is_some() {
                0
            } else {
                retry_at_ms
            };
            entry.claim = None;
            false
        });
        if done == Some(true) {
            self.remove(id);
            self.removable.insert(id);
            return Ok(ReportOutcome::Dequeued);
        }
        Ok(ReportOutcome::Deferred)
    }

    /// [`Queue::report`], also adding `delivered_legs` (recipient index,
    /// leg address) to the [`Recipient::delivered_legs`] of recipients that
    /// stay deferred (a final one is never tried again).
    ///
    /// # Errors
    /// As [`Queue::report`]; nothing is recorded then.
    pub fn report_legs(
        &mut self,
        id: QueueId,
        token: u64,
        results: Vec<(u32, RcptState)>,
        retry_at_ms: u64,
        delivered_legs: Vec<(u32, String)>,
    ) -> Result<ReportOutcome, Rejection> {
        self.check_claim(id, token)?;
        let becomes_final = |index: u32| {
            results
                .iter()
                .any(|(i, state)| *i == index && state.is_final())
        };
        self.update(id, |entry| {
            for (index, leg) in delivered_legs {
                let leg = leg.to_lowercase();
                if let Some(r) = entry.recipients.get_mut(index as usize)
                    && !r.state.is_final()
                    && !becomes_final(index)
                    && !r.delivered_legs.contains(&leg)
                {
                    r.delivered_legs.push(leg);
                }
            }
        });
        self.report(id, token, results, retry_at_ms)
    }

    /// `Ok` while `token` is the claim on entry `id`: a report under a
    /// claim that lapsed and was taken over must not overwrite newer
    /// results.
    fn check_claim(&self, id: QueueId, token: u64) -> Result<(), Rejection> {
        let entry = self.entries.get(&id).ok_or(Rejection::NotInQueue)?;
        if entry.claim.as_ref().map(|c| c.token) != Some(token) {
            return Err(Rejection::StaleClaim);
        }
        Ok(())
    }

    /// Records that the delay notification of `id` is sent (or being
    /// sent): the marker is set before the notice is enqueued, so a crash
    /// loses a notice rather than sending two.
    ///
    /// # Errors
    /// [`Rejection::NotInQueue`]; [`Rejection::AlreadyNotified`] when the
    /// marker was set already (another node notified).
    pub fn mark_delay_notified(&mut self, id: QueueId) -> Result<(), Rejection> {
        let entry = self.entries.get_mut(&id).ok_or(Rejection::NotInQueue)?;
        if entry.delay_notified {
            return Err(Rejection::AlreadyNotified);
        }
        entry.delay_notified = true;
        Ok(())
    }

    /// Marks `id` rejected with `reason`: it is due at once, and the
    /// DEQUEUER fails its pending recipients (and bounces) instead of
    /// delivering (CommuniGate's `RejectQueueMessage`).
    ///
    /// # Errors
    /// [`Rejection::NotInQueue`].
    pub fn reject(&mut self, id: QueueId, reason: String) -> Result<(), Rejection> {
        self.update(id, |entry| {
            entry.rejected = Some(reason);
            entry.next_attempt_ms = 0;
        })
        .ok_or(Rejection::NotInQueue)
    }

    /// Makes every entry with a pending recipient in `domain` (every entry
    /// when `domain` is empty or `*`) due at `now_ms` (CommuniGate's
    /// `ReleaseSMTPQueue`). Returns how many entries were released.
    pub fn release(&mut self, domain: &str, now_ms: u64) -> u64 {
        let all = domain.is_empty() || domain == "*";
        let domain = domain.trim_end_matches('.').to_ascii_lowercase();
        let later: Vec<QueueId> = self
            .entries
            .values()
            .filter(|entry| {
                entry.next_attempt_ms > now_ms
                    && (all
                        || entry.recipients.iter().any(|r| {
                            !r.state.is_final()
                                && r.address
                                    .rsplit_once('@')
                                    .is_some_and(|(_, d)| d.eq_ignore_ascii_case(&domain))
                        }))
            })
            .map(|entry| entry.id)
            .collect();
        for id in &later {
            self.update(*id, |entry| entry.next_attempt_ms = now_ms);
        }
        later.len() as u64
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A new queue entry `id` for `rcpts` (also the state machine's tests').
    pub(crate) fn entry(id: u64, rcpts: &[&str]) -> NewEntry {
        NewEntry {
            id: QueueId(id),
            return_path: "a@b".into(),
            recipients: rcpts.iter().map(|s| s.to_string()).collect(),
            size: 10,
            source: "SMTP".into(),
            received_ms: 1000,
            ret: None,
            envid: None,
            rcpt_dsn: Vec::new(),
        }
    }

    #[test]
    fn claim_is_exclusive_until_it_expires() {
        let mut q = Queue::default();
        q.enqueue(entry(1, &["x@y"])).unwrap();
        let mut clash = entry(1, &["z@y"]);
        clash.received_ms = 2000;
        assert_eq!(q.enqueue(clash), Err(Rejection::QueueIdInUse));
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
    fn a_resent_claim_or_enqueue_changes_nothing() {
        let mut q = Queue::default();
        q.enqueue(entry(1, &["x@y"])).unwrap();
        q.enqueue(entry(2, &["x@y"])).unwrap();
        let first = q.claim_once(1, 1000, 60_000, 1, 77);
        assert_eq!(q.claim_once(1, 1001, 60_000, 1, 77), first);
        assert_ne!(q.claim_once(1, 1002, 60_000, 1, 78), first);
        // The same message enqueued again is the same message.
        q.enqueue(entry(1, &["x@y"])).unwrap();
        assert_eq!(q.entries.len(), 2);
        let mut other = entry(1, &["x@y"]);
        other.size = 99;
        assert_eq!(q.enqueue(other), Err(Rejection::QueueIdInUse));
    }

    #[test]
    fn a_renewed_claim_outlives_its_first_lease_and_a_taken_over_one_is_not_renewed() {
        let mut q = Queue::default();
        q.enqueue(entry(1, &["x@y"])).unwrap();
        q.enqueue(entry(2, &["x@y"])).unwrap();
        let held = q.claim(1, 1000, 500, 10);
        assert_eq!(q.renew(1, 1400, 500, &held), 2);
        // Past the first lease, the entries are still held and due later.
        assert!(q.claim(2, 1600, 500, 10).is_empty());
        assert_eq!(q.next_due(), Some(1900));
        // Not renewed again: another node takes them over, and the first
        // node's renewal and report are fenced off.
        let taken = q.claim(2, 1900, 500, 10);
        assert_eq!(taken.len(), 2);
        assert_eq!(q.renew(1, 2000, 500, &held), 0);
        assert_eq!(q.renew(3, 2000, 500, &taken), 0, "only the holder renews");
        assert_eq!(
            q.report(QueueId(1), held[0].1, vec![(0, RcptState::Delivered)], 0),
            Err(Rejection::StaleClaim)
        );
        // A renewal never shortens a claim.
        assert_eq!(q.renew(2, 1000, 100, &taken), 2);
        assert_eq!(q.next_due(), Some(2400));
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

    #[test]
    fn issue_5_delivered_legs_are_kept_until_the_recipient_is_final() {
        let mut q = Queue::default();
        q.enqueue(entry(3, &["team@l", "x@r"])).unwrap();
        let c = q.claim(1, 1000, 500, 10);
        let deferred = || RcptState::Deferred("451".into());
        let legs = vec![(0, "A@One.test".to_string()), (1, "x@r".to_string())];
        let results = vec![(0, deferred()), (1, RcptState::Delivered)];
        // Fenced off like a report: a stale claim records nothing.
        assert_eq!(
            q.report_legs(QueueId(3), c[0].1 + 1, results.clone(), 0, legs.clone()),
            Err(Rejection::StaleClaim)
        );
        assert!(
            q.entries[&QueueId(3)].recipients[0]
                .delivered_legs
                .is_empty()
        );
        let out = q.report_legs(QueueId(3), c[0].1, results, 2000, legs.clone());
        assert_eq!(out, Ok(ReportOutcome::Deferred));
        let rcpts = &q.entries[&QueueId(3)].recipients;
        assert_eq!(rcpts[0].delivered_legs, ["a@one.test"]);
        // Recipient 1 became final: it is not tried again.
        assert!(rcpts[1].delivered_legs.is_empty());
        // Recorded again on the next attempt: kept once.
        let c = q.claim(1, 2000, 500, 10);
        let out = q.report_legs(QueueId(3), c[0].1, vec![(0, deferred())], 3000, legs);
        assert_eq!(out, Ok(ReportOutcome::Deferred));
        assert_eq!(
            q.entries[&QueueId(3)].recipients[0].delivered_legs,
            ["a@one.test"]
        );
    }

    #[test]
    fn issue_5_delivered_legs_leave_the_compact_layout_as_protocol_4_wrote_it() {
        let mut q = Queue::default();
        q.enqueue(entry(3, &["team@l"])).unwrap();
        let c = q.claim(1, 1000, 500, 10);
        let legs = vec![(0, "a@one.test".to_string())];
        let deferred = vec![(0, RcptState::Deferred("451".into()))];
        q.report_legs(QueueId(3), c[0].1, deferred, 2000, legs)
            .unwrap();
        let rcpt = &q.entries[&QueueId(3)].recipients[0];
        // Protocol 4's recipient: the same fields without the legs.
        #[derive(Serialize)]
        struct Before<'a> {
            address: &'a str,
            state: &'a RcptState,
            dsn: &'a RcptDsn,
        }
        let before = Before {
            address: &rcpt.address,
            state: &rcpt.state,
            dsn: &rcpt.dsn,
        };
        let compact = crate::raft::encode(rcpt).unwrap();
        assert_eq!(compact, crate::raft::encode(&before).unwrap());
        let read: Recipient = crate::raft::decode(&compact).unwrap();
        assert!(read.delivered_legs.is_empty());
        let json = serde_json::to_string(rcpt).unwrap();
        let read: Recipient = serde_json::from_str(&json).unwrap();
        assert_eq!(read.delivered_legs, ["a@one.test"]);
        let old_json = serde_json::to_string(&before).unwrap();
        let read: Recipient = serde_json::from_str(&old_json).unwrap();
        assert!(read.delivered_legs.is_empty());
    }

    #[test]
    fn issue_5_delay_notice_is_marked_once() {
        let mut q = Queue::default();
        q.enqueue(entry(1, &["x@y"])).unwrap();
        assert!(!q.entries[&QueueId(1)].delay_notified);
        assert_eq!(q.mark_delay_notified(QueueId(1)), Ok(()));
        assert_eq!(
            q.mark_delay_notified(QueueId(1)),
            Err(Rejection::AlreadyNotified)
        );
        assert_eq!(
            q.mark_delay_notified(QueueId(9)),
            Err(Rejection::NotInQueue)
        );
    }

    #[test]
    fn issue_5_dsn_parameters_are_kept_per_recipient() {
        let mut q = Queue::default();
        let mut e = entry(1, &["a@x", "b@y"]);
        e.ret = Some(DsnRet::Hdrs);
        e.envid = Some("QQ314159".into());
        e.rcpt_dsn = vec![RcptDsn {
            notify: Some(Notify::default()),
            orcpt: Some("rfc822;a@x".into()),
        }];
        q.enqueue(e).unwrap();
        let entry = &q.entries[&QueueId(1)];
        assert_eq!(entry.ret, Some(DsnRet::Hdrs));
        assert_eq!(entry.envid.as_deref(), Some("QQ314159"));
        assert!(!entry.recipients[0].dsn.wants_failure(), "NOTIFY=NEVER");
        assert!(!entry.recipients[0].dsn.wants_delay());
        // Without NOTIFY: failures and delays, no success.
        let b = &entry.recipients[1].dsn;
        assert!(b.wants_failure() && b.wants_delay() && !b.wants_success());
    }

    #[test]
    fn issue_5_release_and_reject() {
        let mut q = Queue::default();
        q.enqueue(entry(1, &["a@one.test"])).unwrap();
        q.enqueue(entry(2, &["b@Two.test"])).unwrap();
        for id in [1, 2] {
            let c = q.claim(1, 1000, 500, 1);
            q.report(
                QueueId(id),
                c[0].1,
                vec![(0, RcptState::Deferred("451".into()))],
                90_000,
            )
            .unwrap();
        }
        assert_eq!(q.release("two.test", 2000), 1);
        assert_eq!(q.entries[&QueueId(2)].next_attempt_ms, 2000);
        assert_eq!(q.entries[&QueueId(1)].next_attempt_ms, 90_000);
        assert_eq!(q.release("*", 2000), 1);
        assert_eq!(q.release("", 2000), 0, "nothing left to release");

        q.enqueue(entry(3, &["c@x"])).unwrap();
        let c = q.claim(1, 3000, 500, 10);
        assert_eq!(c.len(), 3);
        q.reject(QueueId(3), "rejected".into()).unwrap();
        // The attempt in flight reports a deferral: the entry is due at once.
        let token = c.iter().find(|(id, _)| id.0 == 3).unwrap().1;
        q.report(QueueId(3), token, vec![], 60_000).unwrap();
        assert_eq!(q.entries[&QueueId(3)].next_attempt_ms, 0);
        assert_eq!(q.entries[&QueueId(3)].rejected.as_deref(), Some("rejected"));
        assert_eq!(q.reject(QueueId(9), "x".into()), Err(Rejection::NotInQueue));
    }

    /// The claim rule by brute force (the rule before the due index): the
    /// lowest ids among the free entries whose attempt is due.
    fn claimable(q: &Queue, now_ms: u64, max: usize) -> Vec<QueueId> {
        q.entries
            .values()
            .filter(|e| {
                e.claim.as_ref().is_none_or(|c| c.expires_ms <= now_ms)
                    && e.next_attempt_ms <= now_ms
            })
            .map(|e| e.id)
            .take(max)
            .collect()
    }

    /// The due index answers what scanning every entry would, through a
    /// long random run of enqueues, claims, reports, releases and
    /// rejects, and after being rebuilt from the entries alone (a
    /// snapshot).
    #[test]
    fn due_index_agrees_with_a_full_scan() {
        let mut q = Queue::default();
        let mut seed = 7u64;
        let mut next = |n: u64| {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 33) % n
        };
        let mut now = 1000;
        let mut held: Vec<(QueueId, u64)> = Vec::new();
        for step in 0..2000u64 {
            now += next(300);
            match next(7) {
                0 | 1 => {
                    let mut e = entry(step, &["a@x.test", "b@y.test"]);
                    e.received_ms = now;
                    q.enqueue(e).unwrap();
                }
                2 | 3 => {
                    let max = 1 + next(4) as usize;
                    let want = claimable(&q, now, max);
                    let got = q.claim(1 + next(3), now, 1000, max);
                    assert_eq!(got.iter().map(|c| c.0).collect::<Vec<_>>(), want);
                    held.extend(got);
                }
                4 if !held.is_empty() => {
                    let (id, token) = held.swap_remove(next(held.len() as u64) as usize);
                    let state = match next(3) {
                        0 => RcptState::Delivered,
                        1 => RcptState::Failed("550".into()),
                        _ => RcptState::Deferred("451".into()),
                    };
                    let _ = q.report(id, token, vec![(next(2) as u32, state)], now + next(5000));
                }
                5 => match next(3) {
                    0 => q.release_claims(1 + next(3)),
                    1 => drop(q.release("y.test", now)),
                    _ => {
                        if let Some(id) = q.entries.keys().next().copied() {
                            q.reject(id, "no".into()).unwrap();
                        }
                    }
                },
                _ => {}
            }
            let scanned = q.entries.values().map(due_time).min();
            assert_eq!(q.next_due(), scanned, "step {step}");
        }
        let mut restored: Queue = crate::raft::decode(&crate::raft::encode(&q).unwrap()).unwrap();
        assert_eq!(
            restored.next_due(),
            None,
            "the index is not in the snapshot"
        );
        restored.index_due();
        assert_eq!(restored.due, q.due);
        assert!(!q.entries.is_empty() && !q.due.is_empty());
    }
}
