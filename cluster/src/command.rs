//! Raft commands and their results.
//!
//! Commands are a versioned enum: a new version only appends variants,
//! never reorders them or changes a variant's fields, because log entries
//! are in the compact encoding (no field names: a field added to a variant
//! shifts everything after it), log entries written by older nodes are
//! decoded with today's types, and nodes of two versions share a cluster
//! during a rolling upgrade. A new variant is proposed only once every
//! member speaks the version that added it.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::directory::DirectoryOp;
use crate::lease::LeaseOutcome;
use crate::queue::{NewEntry, QueueId, RcptState, ReportOutcome};
use crate::router::RouteRule;
use crate::status::NodeInfo;

/// One change to the replicated state.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum Command {
    /// A directory change.
    Directory(DirectoryOp),
    /// Reserves `count` queue ids for the proposing node.
    AllocateIds {
        /// How many.
        count: u64,
    },
    /// Adds an accepted message to the queue.
    Enqueue(NewEntry),
    /// Claims due queue entries for delivery.
    Claim {
        /// The claiming node.
        node: u64,
        /// The proposer's clock.
        now_ms: u64,
        /// Claim duration.
        lease_ms: u64,
        /// At most this many entries.
        max: u32,
        /// Random per claim: a claim resent after a lost answer (the
        /// leader died before replying) gets the first answer again instead
        /// of claiming more entries nobody works on.
        nonce: u64,
    },
    /// Records a delivery attempt's results.
    Report {
        /// The entry.
        id: QueueId,
        /// The claim's fencing token.
        token: u64,
        /// Recipient index -> new state.
        results: Vec<(u32, RcptState)>,
        /// When non-final recipients are due again.
        retry_at_ms: u64,
    },
    /// Drops every queue claim and account lease held by `node`: sent by a
    /// node when it starts, since nothing its previous run held is still
    /// in use.
    ReleaseClaims {
        /// The restarted node.
        node: u64,
    },
    /// Reserves a Raft node id for a joining node.
    AllocateNodeId,
    /// Takes or renews an account lease.
    AcquireLease {
        /// The account, `name@domain`.
        account: String,
        /// The requesting node.
        node: u64,
        /// The proposer's clock.
        now_ms: u64,
        /// How long the lease lasts unless renewed.
        ttl_ms: u64,
    },
    /// Gives an account lease back.
    ReleaseLease {
        /// The account, `name@domain`.
        account: String,
        /// The holder.
        node: u64,
    },
    /// The body files of these dequeued messages are gone.
    Forget {
        /// The messages.
        ids: Vec<QueueId>,
    },
    /// The delay notification of a message is being sent (issue #5).
    DelayNotified {
        /// The entry.
        id: QueueId,
    },
    /// Fails a queued message's pending recipients (with a bounce) at the
    /// next attempt, which is due at once (`RejectQueueMessage`).
    RejectQueued {
        /// The entry.
        id: QueueId,
        /// The reason given in the bounce.
        reason: String,
    },
    /// Makes the entries for a domain due now (`ReleaseSMTPQueue`).
    ReleaseQueue {
        /// The domain; empty or `*` for every entry.
        domain: String,
        /// The proposer's clock.
        now_ms: u64,
    },
    /// Replaces the router table (`SetRouterTable`), validated rules.
    SetRouterTable {
        /// The rules, in order.
        rules: Vec<RouteRule>,
    },
    /// A member publishes its name, version and service addresses.
    RegisterNode {
        /// Its Raft id.
        id: u64,
        /// What it publishes.
        info: NodeInfo,
    },
    /// Extends claims a node is still delivering (protocol
    /// [`crate::rpc::CLAIM_RENEWAL_VERSION`]).
    RenewClaims {
        /// The holder.
        node: u64,
        /// The proposer's clock.
        now_ms: u64,
        /// The new claim duration, from `now_ms`.
        lease_ms: u64,
        /// The claims: (entry, token).
        claims: Vec<(QueueId, u64)>,
    },
    /// A [`Command::Report`] that also records the legs delivered for
    /// recipients that stay deferred, so that a retry does not send them
    /// again (protocol [`crate::rpc::LEG_REPORT_VERSION`]).
    ReportLegs {
        /// The entry.
        id: QueueId,
        /// The claim's fencing token.
        token: u64,
        /// Recipient index -> new state.
        results: Vec<(u32, RcptState)>,
        /// When non-final recipients are due again.
        retry_at_ms: u64,
        /// (recipient index, leg address) delivered in this attempt
        /// ([`crate::queue::Recipient::delivered_legs`]).
        delivered_legs: Vec<(u32, String)>,
    },
    /// Replaces the cluster's relay TLS policy (`SetRouterSettings`),
    /// validated (protocol [`crate::rpc::RELAY_TLS_POLICY_VERSION`]).
    SetTlsPolicy {
        /// `domain`, `*.domain` or `*` -> policy.
        policy: std::collections::BTreeMap<String, crate::router::TlsPolicy>,
    },
}

/// The result of applying one [`Command`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum CommandResult {
    /// Applied.
    Done,
    /// Not applied, for an expected reason.
    Rejected(Rejection),
    /// `AllocateIds`: the first id of the reserved range.
    Ids(u64),
    /// `Claim`: the claimed entries and their tokens.
    Claimed(Vec<(QueueId, u64)>),
    /// `Report`: what became of the entry.
    Reported(ReportOutcome),
    /// `AcquireLease`: granted or held elsewhere.
    Lease(LeaseOutcome),
    /// `ReleaseQueue`: how many entries were made due; `RenewClaims`: how
    /// many claims were renewed.
    Count(u64),
}

/// Why a command was not applied. The texts follow CommuniGate's CLI
/// wording where it is known.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Rejection {
    /// An account (or alias) with this name exists in the domain.
    AccountExists,
    /// No such account.
    AccountNotFound,
    /// The domain exists.
    DomainExists,
    /// No such domain.
    DomainNotFound,
    /// The domain still has accounts.
    DomainNotEmpty,
    /// The main domain cannot be deleted.
    MainDomain,
    /// The alias name is used by another object.
    AliasExists(String),
    /// The queue id was used already.
    QueueIdInUse,
    /// The queue entry is gone.
    NotInQueue,
    /// The claim expired and was taken over.
    StaleClaim,
    /// The delay notification was sent already.
    AlreadyNotified,
    /// No such forwarder.
    ForwarderNotFound,
    /// No such group.
    GroupNotFound,
    /// The request is not valid (the text says why).
    Invalid(String),
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rejection::AccountExists => f.write_str("Account with this name already exists"),
            Rejection::AccountNotFound => f.write_str("Unknown account"),
            Rejection::DomainExists => f.write_str("Domain with this name already exists"),
            Rejection::DomainNotFound => f.write_str("Unknown domain"),
            Rejection::DomainNotEmpty => f.write_str("Domain is not empty"),
            Rejection::MainDomain => f.write_str("The main domain cannot be removed"),
            Rejection::AliasExists(a) => write!(f, "An object with the name {a} already exists"),
            Rejection::QueueIdInUse => f.write_str("Queue id in use"),
            Rejection::NotInQueue => f.write_str("Message is not in the queue"),
            Rejection::StaleClaim => f.write_str("Queue claim expired"),
            Rejection::ForwarderNotFound => f.write_str("Unknown forwarder"),
            Rejection::GroupNotFound => f.write_str("Unknown group"),
            Rejection::Invalid(text) => f.write_str(text),
            Rejection::AlreadyNotified => f.write_str("Delay notification already sent"),
        }
    }
}

impl CommandResult {
    /// `Ok(self)` unless it is a rejection.
    pub fn into_result(self) -> Result<CommandResult, Rejection> {
        match self {
            CommandResult::Rejected(r) => Err(r),
            other => Ok(other),
        }
    }
}
