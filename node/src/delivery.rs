//! Delivery: the DEQUEUER. Claims due queue entries through Raft, delivers
//! each recipient, records the results through Raft, and removes the body
//! once every recipient is final (DESIGN §6 steps 3-5).
//!
//! Local recipients go to their account's INBOX, or to its Junk mailbox (the
//! special-use `\Junk` one IMAP makes, RFC 6154; made here when missing) when
//! the SMTP session marked the message under the junk policy
//! (`crate::mailauth::marked_junk`). Remote recipients are grouped
//! by destination (`crate::relay::route`): one SMTP transaction per
//! destination carries all of that message's recipients for it. A reply of
//! 2xx delivers, 4xx (or no connection) defers until the next attempt on the
//! `[relay]` schedule (first retry after `retry_first_secs`, doubling up to
//! `retry_max_secs`), 5xx fails. A recipient still deferred `give_up_secs`
//! after the message arrived fails.
//!
//! Exactly once (invariant 2): each mailbox append carries the key
//! `QUEUEID/recipient`; the mailbox skips a key it already holds, so a
//! retry after a crash between the append and the `Report` commit does not
//! store the message twice. Remote hosts have no such key: a recipient whose
//! `250` was committed is final and never sent again, but a crash (or a lost
//! claim) between the remote `250` and the `Report` commit sends it again on
//! the next attempt (RFC 5321 §6.1 accepts duplicates over losses).
//!
//! Notifications (RFC 3464, `crate::dsn`), all to the envelope sender, enqueued
//! with the null reverse-path; a message from the null sender never gets one, so
//! notifications cannot loop:
//! - bounce: once a report that fails recipients is committed, ONE notice listing
//!   those whose `NOTIFY` asks for failures (the default, RFC 3461 §4.1);
//! - success: recipients with `NOTIFY=SUCCESS` get a `delivered` notice (local) or
//!   a `relayed` one (remote host without DSN); a host that offers DSN received
//!   the parameters and reports itself (RFC 3461 §5.2.2);
//! - delay: once a message has waited `delay_notify_secs` (0: never) with
//!   recipients still deferred, ONE notice for those whose `NOTIFY` asks for
//!   delays. The `DelayNotified` marker is committed BEFORE the notice is
//!   enqueued, so two nodes (or a retry) never send it twice.
//!
//! A crash between a commit and the enqueue of its notice loses that notice
//! (at most once, never twice).
//!
//! Directory routes (`cluster::Directory::route`) are followed per recipient:
//! an account is stored locally; a forwarder to an outside address is relayed
//! to that address (the queue recipient stays the forwarder, the remote `RCPT`
//! names the target); a group expands to its members, local or remote, nested
//! groups included (up to `MAX_GROUP_DEPTH`), each member once. A recipient
//! with several legs is final when all legs are: deferred while any leg is,
//! delivered once any leg delivered and the rest failed (the failures are
//! logged; RFC 5321 §3.9.2 keeps list members' errors from the sender), and
//! failed when every leg failed. The legs delivered in an attempt that
//! defers others are recorded with its report (`Command::ReportLegs`) and
//! skipped by the retry, so a remote member that answered `250` gets one
//! copy. Until every member speaks `cluster::rpc::LEG_REPORT_VERSION` a
//! retry repeats every leg: local ones are deduplicated by their append key
//! (`QUEUEID/member`), remote ones that had already answered `250` receive
//! the message again (at least once).
//!
//! An entry rejected by the administrator (`RejectQueued`) is not delivered: its
//! pending recipients fail with the given text at the next (immediate) attempt and
//! the ordinary bounce follows.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use actix::{Actor, Addr, Context};
use cluster::accounts::{Arrival, INBOX, LEASE_TTL};
use cluster::directory::Route as DirRoute;
use cluster::queue::ReportOutcome;
use cluster::{
    AccountHub, AccountRef, ClusterHandle, Command, CommandResult, Directory, QueueEntry, QueueId,
    RcptState,
};
use futures::future::join_all;
use storage::{AccountKind, Spool};
use tokio::time::Instant;

use crate::config::RelayConfig;
use crate::dsn::{self, DsnAction, DsnInput, DsnRecipient};
use crate::enqueuer::{Enqueuer, Submit, SubmitDsn, now_ms};
use crate::error::{Error, Result};
use crate::relay::proto::reply_line;
use crate::relay::{Destination, Envelope, RelayAgent, domain_of};
use crate::syslog::{SystemLog, level};

/// Entries claimed per round.
const CLAIM_BATCH: u32 = 64;

/// How long claims last and how long an attempt may take under them.
///
/// Claims are renewed while their attempt runs, so they can be short: a
/// node that dies mid-delivery loses its claims after one claim time (the
/// account lease time, DESIGN §5). A cluster with a member older than
/// protocol [`cluster::rpc::CLAIM_RENEWAL_VERSION`] cannot renew: its claims
/// must outlive the longest attempt.
#[derive(Clone, Copy, Debug)]
struct ClaimTerms {
    /// How long a claim (or its renewal) lasts.
    lease: Duration,
    /// The longest one SMTP transaction of an attempt may take.
    attempt_deadline: Duration,
    /// Whether claims are renewed during the attempt.
    renewed: bool,
}

impl ClaimTerms {
    /// Renewed every third of the lease; an SMTP transaction gets the 10
    /// minutes RFC 5321 §4.5.3.2 allows for the end of its DATA.
    const RENEWED: ClaimTerms = ClaimTerms {
        lease: LEASE_TTL,
        attempt_deadline: Duration::from_secs(600),
        renewed: true,
    };
    /// Without renewal: the attempt ends well inside the claim, so its
    /// report is not fenced off and no other node starts the same delivery.
    const FIXED: ClaimTerms = ClaimTerms {
        lease: Duration::from_secs(60),
        attempt_deadline: Duration::from_secs(45),
        renewed: false,
    };

    /// The terms the cluster's effective protocol allows.
    fn for_cluster(cluster: &ClusterHandle) -> ClaimTerms {
        Self::for_protocol(cluster.effective_protocol())
    }

    /// The terms for `effective`, the oldest protocol among the members
    /// (`None`: no member has registered one yet).
    fn for_protocol(effective: Option<u32>) -> ClaimTerms {
        if effective.is_some_and(|v| v >= cluster::rpc::CLAIM_RENEWAL_VERSION) {
            ClaimTerms::RENEWED
        } else {
            ClaimTerms::FIXED
        }
    }

    fn lease_ms(&self) -> u64 {
        self.lease.as_millis() as u64
    }
}
/// Longest sleep between looks at the queue (due retries are noticed by then).
const IDLE_POLL: Duration = Duration::from_secs(1);

/// How long a delivered message's id stays in the queue's `removable` set
/// after its body is gone. An enqueuer whose commit answer was lost asks
/// whether its entry committed for up to `RESOLVE_WAIT` after a commit
/// that may itself take half a minute; the entry may have been delivered
/// and removed meanwhile, and must still be found, or a delivered message
/// would be answered `451`.
const FORGET_DELAY: Duration = Duration::from_secs(300);
const _: () = assert!(FORGET_DELAY.as_secs() >= 2 * crate::enqueuer::RESOLVE_WAIT.as_secs());

/// How often ids older than [`FORGET_DELAY`] are forgotten (in one command).
const FORGET_EVERY: Duration = Duration::from_secs(30);

/// The delivery actor: runs `workers` claim-deliver-report loops.
pub struct Delivery {
    shared: Arc<Shared>,
    workers: usize,
}

/// What the delivery actor needs besides its collaborators.
#[derive(Debug, Clone)]
pub struct DeliverySettings {
    /// Delay before a deferred local recipient is tried again, in seconds.
    pub local_retry_secs: u64,
    /// Routes, retry schedule and SMTP client settings for remote recipients.
    pub relay: RelayConfig,
    /// This MTA's name: EHLO (unless `relay.helo_name`), `Reporting-MTA`.
    pub hostname: String,
    /// Concurrent claim-deliver-report loops.
    pub workers: usize,
}

struct Shared {
    cluster: ClusterHandle,
    spool: Arc<Spool>,
    accounts: AccountHub,
    log: SystemLog,
    enqueuer: Addr<Enqueuer>,
    relay: RelayAgent,
    settings: DeliverySettings,
    /// Counts delivered recipients, when the node keeps metrics.
    metrics: std::sync::OnceLock<crate::metrics::Metrics>,
    /// Removed bodies whose ids are to be forgotten, oldest first, with
    /// when they became removable here (see [`FORGET_DELAY`]).
    to_forget: std::sync::Mutex<std::collections::VecDeque<(Instant, QueueId)>>,
}

impl Delivery {
    /// Creates the delivery actor. Bounces are submitted through `enqueuer`.
    pub fn new(
        cluster: ClusterHandle,
        spool: Arc<Spool>,
        accounts: AccountHub,
        log: SystemLog,
        enqueuer: Addr<Enqueuer>,
        settings: DeliverySettings,
    ) -> Delivery {
        let helo = settings
            .relay
            .helo_name
            .clone()
            .unwrap_or_else(|| settings.hostname.clone());
        let workers = settings.workers.max(1);
        Delivery {
            shared: Arc::new(Shared {
                cluster,
                spool,
                accounts,
                log,
                enqueuer,
                relay: RelayAgent::new(&settings.relay, helo),
                settings,
                metrics: std::sync::OnceLock::new(),
                to_forget: Default::default(),
            }),
            workers,
        }
    }

    /// Forgets `ids` (bodies the start-up sweep removed) after
    /// [`FORGET_DELAY`], as if delivered now: when they were is not known.
    pub fn forgetting(self, ids: Vec<QueueId>) -> Delivery {
        for id in ids {
            self.shared.forget_later(id);
        }
        self
    }

    /// Counts delivered recipients in `metrics` (WebAdmin's overview).
    pub fn with_metrics(self, metrics: crate::metrics::Metrics) -> Delivery {
        let _ = self.shared.metrics.set(metrics);
        self
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
        let shared = self.shared.clone();
        tokio::spawn(async move { shared.forget_periodically().await });
    }
}

/// One local recipient of one queued message.
struct Target<'a> {
    id: QueueId,
    address: &'a str,
    account: &'a AccountRef,
    kind: AccountKind,
    /// [`INBOX`] or [`JUNK_MAILBOX`].
    mailbox: &'static str,
}

/// Where mail marked as junk goes: the special-use mailbox IMAP makes at
/// first login (RFC 6154 `\Junk`).
const JUNK_MAILBOX: &str = "Junk";

/// Groups nested deeper than this are not expanded (a loop guard besides
/// the set of addresses already seen).
const MAX_GROUP_DEPTH: usize = 8;

/// One leg of a recipient: the recipient itself, a forwarder's outside
/// target, or a group member.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Leg {
    /// Store in this account, keyed by `address` against duplicates.
    Local {
        address: String,
        account: AccountRef,
        kind: AccountKind,
    },
    /// Relay to `address`.
    Remote { address: String },
    /// Cannot be delivered: `reason` starts with an enhanced status code.
    Failed { address: String, reason: String },
}

impl Leg {
    /// The address this leg delivers to.
    fn address(&self) -> &str {
        match self {
            Leg::Local { address, .. } | Leg::Remote { address } | Leg::Failed { address, .. } => {
                address
            }
        }
    }
}

/// The command recording an attempt's `results`. Legs delivered for a
/// recipient that stays deferred are recorded (so the retry skips them)
/// when every member can apply [`Command::ReportLegs`] (`effective`
/// protocol, `None`: unknown); otherwise the retry sends them again, as
/// before that protocol.
fn report_command(
    id: QueueId,
    token: u64,
    results: Vec<(u32, RcptState)>,
    retry_at_ms: u64,
    mut delivered_legs: Vec<(u32, String)>,
    effective: Option<u32>,
) -> Command {
    delivered_legs.retain(|(index, _)| {
        results
            .iter()
            .any(|(i, state)| i == index && !state.is_final())
    });
    if delivered_legs.is_empty() || effective.is_none_or(|v| v < cluster::rpc::LEG_REPORT_VERSION) {
        return Command::Report {
            id,
            token,
            results,
            retry_at_ms,
        };
    }
    Command::ReportLegs {
        id,
        token,
        results,
        retry_at_ms,
        delivered_legs,
    }
}

/// The legs of `address` under `dir` (see the module docs).
fn expand(dir: &Directory, address: &str) -> Vec<Leg> {
    let mut legs = Vec::new();
    expand_into(dir, address, 0, &mut BTreeSet::new(), &mut legs);
    legs
}

fn expand_into(
    dir: &Directory,
    address: &str,
    depth: usize,
    seen: &mut BTreeSet<String>,
    legs: &mut Vec<Leg>,
) {
    if !seen.insert(address.to_lowercase()) {
        return;
    }
    let leg = match dir.route(address) {
        DirRoute::Account(account) => {
            let kind = dir
                .account(&account)
                .map_or(AccountKind::MultiMailbox, |a| a.kind);
            Leg::Local {
                address: address.to_string(),
                account,
                kind,
            }
        }
        DirRoute::Forward(to) => Leg::Remote { address: to },
        DirRoute::Remote => Leg::Remote {
            address: address.to_string(),
        },
        DirRoute::Unknown => Leg::Failed {
            address: address.to_string(),
            reason: "5.1.1 unknown user account".into(),
        },
        DirRoute::Group(_) if depth >= MAX_GROUP_DEPTH => Leg::Failed {
            address: address.to_string(),
            reason: "5.4.6 groups nested too deeply".into(),
        },
        DirRoute::Group(members) => {
            // Bare member names belong to the group's own domain.
            let (_, domain) = dir.split_address(address);
            for member in members {
                let member = if member.contains('@') {
                    member
                } else {
                    format!("{member}@{domain}")
                };
                expand_into(dir, &member, depth + 1, seen, legs);
            }
            return;
        }
    };
    if !legs.contains(&leg) {
        legs.push(leg);
    }
}

/// One recipient's state from its legs' (see the module docs).
fn combine(states: Vec<RcptState>) -> RcptState {
    if let Some(deferred) = states.iter().find(|s| matches!(s, RcptState::Deferred(_))) {
        return deferred.clone();
    }
    if states.is_empty() || states.contains(&RcptState::Delivered) {
        return RcptState::Delivered;
    }
    let reasons: Vec<String> = states
        .into_iter()
        .filter_map(|s| match s {
            RcptState::Failed(reason) => Some(reason),
            _ => None,
        })
        .collect();
    RcptState::Failed(reasons.join("; "))
}

impl Shared {
    fn forget_later(&self, id: QueueId) {
        let mut queue = self.to_forget.lock().unwrap_or_else(|e| e.into_inner());
        queue.push_back((Instant::now(), id));
    }

    /// Every [`FORGET_EVERY`], forgets the ids removable for longer than
    /// [`FORGET_DELAY`]; those a failed commit did not forget wait for the
    /// next round.
    async fn forget_periodically(&self) {
        loop {
            tokio::time::sleep(FORGET_EVERY).await;
            let due: Vec<(Instant, QueueId)> = {
                let mut queue = self.to_forget.lock().unwrap_or_else(|e| e.into_inner());
                let old = queue
                    .iter()
                    .take_while(|(at, _)| at.elapsed() >= FORGET_DELAY)
                    .count();
                queue.drain(..old).collect()
            };
            if due.is_empty() {
                continue;
            }
            let ids = due.iter().map(|(_, id)| *id).collect();
            if self.cluster.propose(Command::Forget { ids }).await.is_err() {
                let mut queue = self.to_forget.lock().unwrap_or_else(|e| e.into_inner());
                for entry in due.into_iter().rev() {
                    queue.push_front(entry);
                }
            }
        }
    }

    async fn run(&self) {
        let mut changes = self.cluster.changes();
        loop {
            let now = now_ms();
            let next_due = self.cluster.read(|s| s.queue.next_due());
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

    /// Claims a batch and delivers it, renewing the claims meanwhile when
    /// the terms say so.
    async fn round(&self, now: u64) -> Result<()> {
        let terms = ClaimTerms::for_cluster(&self.cluster);
        let asked = Instant::now();
        let claim = Command::Claim {
            node: self.cluster.node_id(),
            now_ms: now,
            lease_ms: terms.lease_ms(),
            max: CLAIM_BATCH,
            nonce: rand::random(),
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
        let deliveries = join_all(
            entries
                .into_iter()
                .map(|(e, token)| self.deliver_entry(e, token, terms)),
        );
        if !terms.renewed {
            deliveries.await;
            return Ok(());
        }
        tokio::select! {
            _ = deliveries => {}
            () = self.keep_claims(&claimed, terms, asked) => {
                // Another node may be delivering these by now: stop, rather
                // than send remote copies twice; what was appended stays
                // (keyed), what was not is the other node's to do.
                self.log.write(
                    level::PROBLEM,
                    "DEQUEUER",
                    "",
                    &format!("{} claims could not be renewed in time: their attempts were abandoned", claimed.len()),
                );
            }
        }
        Ok(())
    }

    /// Renews `claimed` every third of the lease. Returns only when they
    /// may have lapsed: no renewal asked for since `asked` (when the claim
    /// was proposed) has committed within the lease, less the clock margin
    /// (`cluster::accounts::CLOCK_SKEW_MARGIN`, the same as for leases).
    async fn keep_claims(&self, claimed: &[(QueueId, u64)], terms: ClaimTerms, asked: Instant) {
        let margin = cluster::accounts::CLOCK_SKEW_MARGIN;
        let mut valid_until = asked + terms.lease - margin;
        loop {
            tokio::time::sleep(terms.lease / 3).await;
            let asked = Instant::now();
            let renew = Command::RenewClaims {
                node: self.cluster.node_id(),
                now_ms: now_ms(),
                lease_ms: terms.lease_ms(),
                claims: claimed.to_vec(),
            };
            let answer = tokio::time::timeout(
                valid_until.saturating_duration_since(asked),
                self.cluster.propose(renew),
            );
            match answer.await {
                Ok(Ok(_)) => valid_until = asked + terms.lease - margin,
                Ok(Err(e)) => self.log.write(
                    level::PROBLEM,
                    "DEQUEUER",
                    "",
                    &format!("cannot renew queue claims: {e}"),
                ),
                Err(_) => {}
            }
            if Instant::now() >= valid_until {
                return;
            }
        }
    }

    /// Delivers one entry's pending recipients and reports the results.
    async fn deliver_entry(&self, entry: QueueEntry, token: u64, terms: ClaimTerms) {
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
        let mailbox = if crate::mailauth::marked_junk(&body) {
            JUNK_MAILBOX
        } else {
            INBOX
        };
        let mut results = Vec::new();
        // Each pending recipient's leg states (see `expand`).
        let mut leg_states: BTreeMap<u32, Vec<RcptState>> = BTreeMap::new();
        let mut remote: BTreeMap<Destination, Vec<(u32, String)>> = BTreeMap::new();
        let mut remote_mta: BTreeMap<u32, Option<String>> = BTreeMap::new();
        // Remote recipients whose next hop took over DSN duties.
        let mut passed_on: BTreeSet<u32> = BTreeSet::new();
        // (recipient index, leg address) delivered in this attempt.
        let mut delivered_legs: Vec<(u32, String)> = Vec::new();
        for (index, rcpt) in entry.recipients.iter().enumerate() {
            if rcpt.state.is_final() {
                continue;
            }
            let index = index as u32;
            if let Some(reason) = &entry.rejected {
                self.log.write(
                    level::MAJOR,
                    "DEQUEUER",
                    &ctx,
                    &format!("{} failed: rejected: {reason}", rcpt.address),
                );
                results.push((index, RcptState::Failed(format!("5.0.0 {reason}"))));
                continue;
            }
            let legs = self.cluster.read(|s| expand(&s.directory, &rcpt.address));
            let states = leg_states.entry(index).or_default();
            for leg in legs {
                if rcpt.delivered_legs.contains(&leg.address().to_lowercase()) {
                    // Delivered by an earlier attempt (recorded since
                    // protocol LEG_REPORT_VERSION): not sent again.
                    states.push(RcptState::Delivered);
                    continue;
                }
                match leg {
                    Leg::Local {
                        address,
                        account,
                        kind,
                    } => {
                        let target = Target {
                            id,
                            address: &address,
                            account: &account,
                            kind,
                            mailbox,
                        };
                        let state = self
                            .deliver_local(target, &entry.return_path, &stored)
                            .await;
                        if state == RcptState::Delivered {
                            delivered_legs.push((index, address.clone()));
                        }
                        states.push(state);
                    }
                    Leg::Failed { address, reason } => {
                        self.log.write(
                            level::MAJOR,
                            "DEQUEUER",
                            &ctx,
                            &format!("{address} failed: {reason}"),
                        );
                        states.push(RcptState::Failed(reason));
                    }
                    Leg::Remote { address } => {
                        if !address.eq_ignore_ascii_case(&rcpt.address) {
                            self.log.write(
                                level::MAJOR,
                                "DEQUEUER",
                                &ctx,
                                &format!("<{}> forwarded to <{address}>", rcpt.address),
                            );
                        }
                        let domain = domain_of(&address);
                        let dest = self
                            .cluster
                            .read(|s| crate::relay::route(&domain, &s.relay, &self.settings.relay));
                        remote.entry(dest).or_default().push((index, address));
                    }
                }
            }
        }
        let relayed = join_all(
            remote
                .iter()
                .map(|(dest, rcpts)| self.deliver_remote(&entry, dest, rcpts, &body, terms)),
        )
        .await;
        for (rcpts, (host, states, dsn)) in remote.values().zip(relayed) {
            for ((index, address), state) in rcpts.iter().zip(states) {
                remote_mta.insert(*index, host.clone());
                if dsn {
                    passed_on.insert(*index);
                }
                if state == RcptState::Delivered {
                    delivered_legs.push((*index, address.clone()));
                }
                leg_states.entry(*index).or_default().push(state);
            }
        }
        results.extend(
            leg_states
                .into_iter()
                .map(|(index, states)| (index, combine(states))),
        );
        let now = now_ms();
        self.give_up_expired(&entry, &mut results, now);
        let retry_at_ms = now + self.retry_delay_ms(&entry, &results, &remote_mta);
        let report = report_command(
            id,
            token,
            results.clone(),
            retry_at_ms,
            delivered_legs,
            self.cluster.effective_protocol(),
        );
        let outcome = self.cluster.propose(report).await;
        if matches!(outcome, Ok(CommandResult::Reported(_))) {
            if let Some(metrics) = self.metrics.get() {
                let delivered = results
                    .iter()
                    .filter(|(_, s)| *s == RcptState::Delivered)
                    .count();
                metrics.delivered(delivered as u64);
            }
            self.bounce(&entry, &results, &remote_mta, &body).await;
            self.success_notice(&entry, &results, &remote_mta, &passed_on, &body)
                .await;
        }
        if matches!(
            outcome,
            Ok(CommandResult::Reported(ReportOutcome::Deferred))
        ) {
            self.delay_notice(&entry, &results, &remote_mta, &body, now)
                .await;
        }
        match outcome {
            Ok(CommandResult::Reported(ReportOutcome::Dequeued)) => {
                let spool = self.spool.clone();
                let removed = tokio::task::spawn_blocking(move || spool.remove(id.0)).await;
                if matches!(removed, Ok(Ok(()))) {
                    // If this is lost, the next start removes the file again.
                    self.forget_later(id);
                }
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

    /// One SMTP transaction to `dest` for `rcpts`; returns the host that
    /// answered (if one did), one state per recipient, and whether the host
    /// took the DSN parameters.
    async fn deliver_remote(
        &self,
        entry: &QueueEntry,
        dest: &Destination,
        rcpts: &[(u32, String)],
        body: &[u8],
        terms: ClaimTerms,
    ) -> (Option<String>, Vec<RcptState>, bool) {
        let id = entry.id;
        let addresses: Vec<String> = rcpts.iter().map(|(_, a)| a.clone()).collect();
        let envelope = Envelope {
            return_path: entry.return_path.clone(),
            recipients: addresses.clone(),
            ret: entry.ret,
            envid: entry.envid.clone(),
            rcpt_dsn: rcpts
                .iter()
                .map(|(i, address)| {
                    let Some(rcpt) = entry.recipients.get(*i as usize) else {
                        return cluster::RcptDsn::default();
                    };
                    let mut dsn = rcpt.dsn.clone();
                    // A forwarder's target or a group member: the remote host
                    // reports on the address the sender used (RFC 3461 §4.2).
                    if dsn.orcpt.is_none() && !address.eq_ignore_ascii_case(&rcpt.address) {
                        dsn.orcpt = Some(format!("rfc822;{}", rcpt.address));
                    }
                    dsn
                })
                .collect(),
        };
        let signed = self.dkim_sign(entry, body);
        let body = signed.as_deref().unwrap_or(body);
        let attempt = self.relay.deliver(dest, &envelope, body);
        let outcome = match tokio::time::timeout(terms.attempt_deadline, attempt).await {
            Ok(outcome) => outcome,
            Err(_) => crate::relay::HostOutcome {
                host: dest.to_string(),
                connected: false,
                replies: vec![
                    crate::smtp::proto::reply::Reply::new(
                        451,
                        "4.4.7",
                        "delivery attempt took too long"
                    );
                    addresses.len()
                ],
                dsn: false,
            },
        };
        let host = outcome.host;
        let connected = outcome.connected;
        let dsn = outcome.dsn;
        let states = addresses
            .iter()
            .zip(outcome.replies)
            .map(|(address, reply)| {
                let line = reply_line(&reply);
                let (verb, state, lvl) = match reply.code / 100 {
                    2 => ("delivered", RcptState::Delivered, level::MAJOR),
                    5 => ("failed", RcptState::Failed(line.clone()), level::MAJOR),
                    _ => (
                        "deferred",
                        RcptState::Deferred(line.clone()),
                        level::PROBLEM,
                    ),
                };
                self.log.write(
                    lvl,
                    "DEQUEUER",
                    "",
                    &format!("[{id}] SMTP({host}) {verb}: {line} <{address}>"),
                );
                state
            })
            .collect();
        (connected.then_some(host), states, dsn)
    }

    /// `body` with a `DKIM-Signature` field (RFC 6376) when the sender's
    /// domain is local and has a key (`DKIMSelector`, `DKIMPrivateKey` in
    /// its settings); `None` otherwise, or when signing fails (logged: the
    /// message still goes out, unsigned).
    fn dkim_sign(&self, entry: &QueueEntry, body: &[u8]) -> Option<Vec<u8>> {
        let domain = domain_of(&entry.return_path);
        if domain.is_empty() {
            return None;
        }
        let (domain, selector, pem) = self.cluster.read(|s| {
            let dir = &s.directory;
            let domain = dir.canonical_domain(&domain);
            let settings = &dir.domains.get(&domain)?.settings;
            let setting = |key: &str| settings.get(key).map(|v| setting_text(v));
            Some((domain, setting("DKIMSelector")?, setting("DKIMPrivateKey")?))
        })?;
        match crate::mailauth::sign(body, &domain, &selector, &pem) {
            Ok(field) => {
                let mut signed = field.into_bytes();
                signed.extend_from_slice(body);
                Some(signed)
            }
            Err(e) => {
                self.log.write(
                    level::PROBLEM,
                    "DEQUEUER",
                    &format!("[{}]", entry.id),
                    &format!("DKIM signing for {domain} failed: {e}"),
                );
                None
            }
        }
    }

    /// Fails the deferred results of a message older than `give_up_secs`.
    fn give_up_expired(&self, entry: &QueueEntry, results: &mut [(u32, RcptState)], now: u64) {
        let give_up_ms = self.settings.relay.give_up_secs.saturating_mul(1000);
        if now.saturating_sub(entry.received_ms) < give_up_ms {
            return;
        }
        for (_, state) in results.iter_mut() {
            if let RcptState::Deferred(reason) = state {
                *state = RcptState::Failed(format!(
                    "{reason} (gave up after {} s in the queue)",
                    self.settings.relay.give_up_secs
                ));
            }
        }
    }

    /// When deferred recipients are due again: local ones after
    /// `local_retry_secs`, remote ones on the relay back-off schedule.
    fn retry_delay_ms(
        &self,
        entry: &QueueEntry,
        results: &[(u32, RcptState)],
        remote: &BTreeMap<u32, Option<String>>,
    ) -> u64 {
        let relay = &self.settings.relay;
        let remote_ms = backoff_ms(relay.retry_first_secs, relay.retry_max_secs, entry.attempts);
        let local_ms = self.settings.local_retry_secs.saturating_mul(1000);
        results
            .iter()
            .filter(|(_, s)| matches!(s, RcptState::Deferred(_)))
            .map(|(i, _)| {
                if remote.contains_key(i) {
                    remote_ms
                } else {
                    local_ms
                }
            })
            .min()
            .unwrap_or(local_ms)
    }

    /// Sends one notification listing the recipients this report failed and
    /// whose `NOTIFY` asks for failures.
    async fn bounce(
        &self,
        entry: &QueueEntry,
        results: &[(u32, RcptState)],
        remote: &BTreeMap<u32, Option<String>>,
        body: &[u8],
    ) {
        let failed = self.dsn_recipients(entry, results, remote, |_, rcpt, state| match state {
            RcptState::Failed(reason) if rcpt.dsn.wants_failure() => {
                Some((DsnAction::Failed, reason.clone()))
            }
            _ => None,
        });
        self.notify(entry, &failed, body, "bounced").await;
    }

    /// Sends one `delivered`/`relayed` notice for the recipients this report
    /// delivered that asked for it (`NOTIFY=SUCCESS`), except those whose next
    /// hop took the DSN parameters and reports itself (RFC 3461 §5.2.2).
    async fn success_notice(
        &self,
        entry: &QueueEntry,
        results: &[(u32, RcptState)],
        remote: &BTreeMap<u32, Option<String>>,
        passed_on: &BTreeSet<u32>,
        body: &[u8],
    ) {
        let delivered =
            self.dsn_recipients(entry, results, remote, |index, rcpt, state| match state {
                RcptState::Delivered if rcpt.dsn.wants_success() => {
                    if !remote.contains_key(&index) {
                        Some((
                            DsnAction::Delivered,
                            "2.0.0 delivered to the mailbox".into(),
                        ))
                    } else if passed_on.contains(&index) {
                        None
                    } else {
                        Some((
                            DsnAction::Relayed,
                            "2.0.0 relayed to a host without DSN".into(),
                        ))
                    }
                }
                _ => None,
            });
        self.notify(entry, &delivered, body, "success notice sent")
            .await;
    }

    /// After a deferral: the one delay notice of this message, once it has
    /// waited `delay_notify_secs`, for the deferred recipients whose `NOTIFY`
    /// asks for delays. The marker is committed first (see the module docs).
    async fn delay_notice(
        &self,
        entry: &QueueEntry,
        results: &[(u32, RcptState)],
        remote: &BTreeMap<u32, Option<String>>,
        body: &[u8],
        now: u64,
    ) {
        let after_ms = self.settings.relay.delay_notify_secs.saturating_mul(1000);
        if after_ms == 0
            || entry.delay_notified
            || entry.return_path.is_empty()
            || now.saturating_sub(entry.received_ms) < after_ms
        {
            return;
        }
        let delayed = self.dsn_recipients(entry, results, remote, |_, rcpt, state| match state {
            RcptState::Deferred(reason) if rcpt.dsn.wants_delay() => {
                Some((DsnAction::Delayed, reason.clone()))
            }
            _ => None,
        });
        if delayed.is_empty() {
            return;
        }
        let marked = self
            .cluster
            .propose(Command::DelayNotified { id: entry.id })
            .await;
        if matches!(marked, Ok(CommandResult::Done)) {
            self.notify(entry, &delayed, body, "delay notice sent")
                .await;
        }
    }

    /// The notice entries for `results`: `pick` says which recipients are
    /// listed, with which action and reason.
    fn dsn_recipients(
        &self,
        entry: &QueueEntry,
        results: &[(u32, RcptState)],
        remote: &BTreeMap<u32, Option<String>>,
        pick: impl Fn(u32, &cluster::Recipient, &RcptState) -> Option<(DsnAction, String)>,
    ) -> Vec<DsnRecipient> {
        results
            .iter()
            .filter_map(|(i, state)| {
                let rcpt = entry.recipients.get(*i as usize)?;
                let (action, reason) = pick(*i, rcpt, state)?;
                Some(DsnRecipient {
                    address: rcpt.address.clone(),
                    action,
                    reason,
                    remote_mta: remote.get(i).cloned().flatten(),
                    original: rcpt.dsn.orcpt.clone(),
                })
            })
            .collect()
    }

    /// Enqueues one notification about `recipients` (all of one kind) to the
    /// envelope sender; nothing for an empty list or the null sender.
    async fn notify(
        &self,
        entry: &QueueEntry,
        recipients: &[DsnRecipient],
        body: &[u8],
        what: &str,
    ) {
        // RFC 5321 §4.5.5: never notify the null reverse-path (no loops).
        if recipients.is_empty() || entry.return_path.is_empty() {
            return;
        }
        let ctx = format!("[{}]", entry.id);
        let queue_id = entry.id.to_string();
        let message = dsn::build(&DsnInput {
            reporting_mta: &self.settings.hostname,
            sender: &entry.return_path,
            queue_id: &queue_id,
            arrival_ms: entry.received_ms,
            now_ms: now_ms(),
            recipients,
            original: body,
            envid: entry.envid.as_deref(),
            full: entry.ret == Some(cluster::DsnRet::Full),
        });
        let submit = Submit {
            return_path: String::new(),
            recipients: vec![entry.return_path.clone()],
            body: message,
            source: "DSN",
            dsn: SubmitDsn::default(),
        };
        let to = &entry.return_path;
        match self.enqueuer.send(submit).await {
            Ok(Ok(dsn_id)) => self.log.write(
                level::MAJOR,
                "QUEUE",
                &ctx,
                &format!("{what} to <{to}> as [{dsn_id}]"),
            ),
            Ok(Err(e)) => self.log.write(
                level::FAILURE,
                "QUEUE",
                &ctx,
                &format!("{what}: not enqueued for <{to}>: {e}"),
            ),
            Err(e) => self.log.write(
                level::FAILURE,
                "QUEUE",
                &ctx,
                &format!("{what}: not enqueued for <{to}>: {e}"),
            ),
        }
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
            mailbox,
        } = target;
        let arrival = Arrival {
            mailbox: mailbox.to_string(),
            message: message.clone(),
            key: format!("{id}/{}", address.to_lowercase()),
            return_path: return_path.to_string(),
            internal_date: (now_ms() / 1000) as i64,
        };
        let ctx = format!("[{id}]");
        // Stored here, or by the member that has the account open.
        let result = self.accounts.deliver(account, kind, arrival).await;
        match result {
            Ok(uid) => {
                let uid = uid.0;
                self.log.write(
                    level::MAJOR,
                    "MAILBOX",
                    &format!("{account}/{mailbox}"),
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

/// A setting's text: settings hold values in CommuniGate data syntax, so a
/// quoted string (a PEM key with `\n` escapes) is decoded.
fn setting_text(value: &str) -> String {
    admin::data::parse(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_else(|| value.to_string())
}

/// The delay before retry number `attempts + 1` of a remote recipient:
/// `first`, doubling per attempt, at most `max` (seconds in, ms out).
fn backoff_ms(first_secs: u64, max_secs: u64, attempts: u32) -> u64 {
    let factor = 1u64.checked_shl(attempts.min(32)).unwrap_or(u64::MAX);
    first_secs
        .saturating_mul(factor)
        .min(max_secs)
        .max(1)
        .saturating_mul(1000)
}

/// The message as stored: with the `Return-Path` final delivery adds
/// (RFC 5321 §4.4).
fn with_return_path(return_path: &str, body: &[u8]) -> Arc<Vec<u8>> {
    let mut stored = format!("Return-Path: <{return_path}>\r\n").into_bytes();
    stored.extend_from_slice(body);
    Arc::new(stored)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claims_are_renewed_only_when_every_member_speaks_the_renewal() {
        let renewal = cluster::rpc::CLAIM_RENEWAL_VERSION;
        assert!(ClaimTerms::for_protocol(Some(renewal)).renewed);
        assert_eq!(ClaimTerms::for_protocol(Some(renewal)).lease, LEASE_TTL);
        for older in [None, Some(1), Some(renewal - 1)] {
            let terms = ClaimTerms::for_protocol(older);
            assert!(!terms.renewed, "{older:?}");
            // Unrenewed claims outlive the longest attempt.
            assert!(terms.attempt_deadline < terms.lease, "{older:?}");
        }
    }

    fn directory() -> Directory {
        let mut dom = cluster::Domain::default();
        dom.accounts.insert(
            "pat".into(),
            cluster::Account {
                kind: AccountKind::MultiMailbox,
                password: None,
                settings: Default::default(),
                aliases: Vec::new(),
            },
        );
        dom.forwarders
            .insert("out".into(), "ext@remote.test".into());
        let group = |members: &[&str]| cluster::Group {
            members: members.iter().map(|m| m.to_string()).collect(),
            settings: Default::default(),
        };
        dom.groups.insert(
            "team".into(),
            group(&["pat", "out", "far@remote.test", "inner", "ghost", "team"]),
        );
        dom.groups
            .insert("inner".into(), group(&["pat", "deep@remote.test"]));
        let mut dir = Directory {
            main_domain: "example.test".into(),
            ..Directory::default()
        };
        dir.domains.insert("example.test".into(), dom);
        dir
    }

    #[test]
    fn issue_5_groups_expand_to_members_once_and_forwarders_leave() {
        let dir = directory();
        let remote = |a: &str| Leg::Remote { address: a.into() };
        assert_eq!(
            expand(&dir, "out@example.test"),
            [remote("ext@remote.test")]
        );
        let legs = expand(&dir, "team@example.test");
        let pat = dir.resolve("pat").unwrap();
        assert_eq!(
            legs,
            [
                Leg::Local {
                    address: "pat@example.test".into(),
                    account: pat,
                    kind: AccountKind::MultiMailbox,
                },
                remote("ext@remote.test"),
                remote("far@remote.test"),
                remote("deep@remote.test"),
                Leg::Failed {
                    address: "ghost@example.test".into(),
                    reason: "5.1.1 unknown user account".into(),
                },
            ]
        );
    }

    #[test]
    fn issue_5_a_recipient_is_final_when_all_its_legs_are() {
        let failed = || RcptState::Failed("5.1.1 x".into());
        let deferred = RcptState::Deferred("4.4.1 y".into());
        assert_eq!(combine(vec![]), RcptState::Delivered);
        assert_eq!(
            combine(vec![RcptState::Delivered, deferred.clone(), failed()]),
            deferred
        );
        assert_eq!(
            combine(vec![failed(), RcptState::Delivered]),
            RcptState::Delivered
        );
        assert_eq!(
            combine(vec![failed(), failed()]),
            RcptState::Failed("5.1.1 x; 5.1.1 x".into())
        );
    }

    #[test]
    fn issue_5_legs_of_deferred_recipients_are_recorded_once_every_member_can() {
        let deferred = RcptState::Deferred("451 4.3.0 later".into());
        let results = vec![(0, deferred.clone()), (1, RcptState::Delivered)];
        let legs = vec![(0, "a@one.test".to_string()), (1, "b@two.test".to_string())];
        let command =
            |effective| report_command(QueueId(9), 4, results.clone(), 77, legs.clone(), effective);
        let legs_version = cluster::rpc::LEG_REPORT_VERSION;
        match command(Some(legs_version)) {
            Command::ReportLegs {
                delivered_legs,
                results: recorded,
                retry_at_ms: 77,
                ..
            } => {
                // Recipient 1 is final: its leg needs no record.
                assert_eq!(delivered_legs, [(0, "a@one.test".to_string())]);
                assert_eq!(recorded, results);
            }
            other => panic!("{other:?}"),
        }
        for older in [None, Some(legs_version - 1)] {
            assert!(
                matches!(command(older), Command::Report { .. }),
                "{older:?}"
            );
        }
        let none = report_command(QueueId(9), 4, results.clone(), 77, Vec::new(), Some(9));
        assert!(matches!(none, Command::Report { .. }));
    }

    #[test]
    fn backoff_doubles_up_to_the_maximum() {
        let delays: Vec<u64> = (0..8).map(|a| backoff_ms(300, 3600, a)).collect();
        assert_eq!(
            delays,
            [300, 600, 1200, 2400, 3600, 3600, 3600, 3600].map(|s| s * 1000)
        );
        assert_eq!(backoff_ms(300, 3600, u32::MAX), 3_600_000);
    }
}
