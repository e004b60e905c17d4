//! The whole replicated state and the function that applies a command to it.

use serde::{Deserialize, Serialize};

use crate::command::{Command, CommandResult};
use crate::directory::Directory;
use std::collections::BTreeMap;

use crate::lease::Leases;
use crate::queue::Queue;
use crate::router::RelaySettings;
use crate::status::NodeInfo;

/// Everything the Raft log decides.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct State {
    /// Domains and accounts.
    pub directory: Directory,
    /// Queued messages.
    pub queue: Queue,
    /// The next unallocated queue id.
    pub next_id: u64,
    /// The next unallocated Raft node id (the first node is 1).
    pub next_node_id: u64,
    /// Account leases.
    pub leases: Leases,
    /// The router table (issue #5).
    pub relay: RelaySettings,
    /// What each member registered about itself.
    pub nodes: BTreeMap<u64, NodeInfo>,
}

impl State {
    /// Applies one command (deterministically).
    pub fn apply(&mut self, command: Command) -> CommandResult {
        let rejected = CommandResult::Rejected;
        match command {
            Command::Directory(op) => self
                .directory
                .apply(op)
                .map_or_else(rejected, |()| CommandResult::Done),
            Command::AllocateIds { count } => {
                // Ids start at 1 so that 0 never names a message.
                let first = self.next_id.max(1);
                self.next_id = first + count;
                CommandResult::Ids(first)
            }
            Command::Enqueue(entry) => self
                .queue
                .enqueue(entry)
                .map_or_else(rejected, |()| CommandResult::Done),
            Command::Claim {
                node,
                now_ms,
                lease_ms,
                max,
                nonce,
            } => CommandResult::Claimed(self.queue.claim_once(
                node,
                now_ms,
                lease_ms,
                max as usize,
                nonce,
            )),
            Command::Report {
                id,
                token,
                results,
                retry_at_ms,
            } => self
                .queue
                .report(id, token, results, retry_at_ms)
                .map_or_else(rejected, CommandResult::Reported),
            Command::ReportLegs {
                id,
                token,
                results,
                retry_at_ms,
                delivered_legs,
            } => self
                .queue
                .report_legs(id, token, results, retry_at_ms, delivered_legs)
                .map_or_else(rejected, CommandResult::Reported),
            Command::AllocateNodeId => {
                let id = self.next_node_id.max(2);
                self.next_node_id = id + 1;
                CommandResult::Ids(id)
            }
            Command::ReleaseClaims { node } => {
                self.queue.release_claims(node);
                self.leases.release_all(node);
                CommandResult::Done
            }
            Command::AcquireLease {
                account,
                node,
                now_ms,
                ttl_ms,
            } => CommandResult::Lease(self.leases.acquire(&account, node, now_ms, ttl_ms)),
            Command::Forget { ids } => {
                for id in ids {
                    self.queue.removable.remove(&id);
                }
                CommandResult::Done
            }
            Command::RegisterNode { id, info } => {
                self.nodes.insert(id, info);
                CommandResult::Done
            }
            Command::ReleaseLease { account, node } => {
                self.leases.release(&account, node);
                CommandResult::Done
            }
            Command::DelayNotified { id } => self
                .queue
                .mark_delay_notified(id)
                .map_or_else(rejected, |()| CommandResult::Done),
            Command::RejectQueued { id, reason } => self
                .queue
                .reject(id, reason)
                .map_or_else(rejected, |()| CommandResult::Done),
            Command::ReleaseQueue { domain, now_ms } => {
                CommandResult::Count(self.queue.release(&domain, now_ms))
            }
            Command::RenewClaims {
                node,
                now_ms,
                lease_ms,
                claims,
            } => CommandResult::Count(self.queue.renew(node, now_ms, lease_ms, &claims)),
            Command::SetRouterTable { rules } => {
                self.relay.routes = rules;
                CommandResult::Done
            }
            Command::SetTlsPolicy { policy } => {
                self.relay.tls_policy = policy;
                CommandResult::Done
            }
        }
    }
}
