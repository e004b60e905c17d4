//! The whole replicated state and the function that applies a command to it.

use serde::{Deserialize, Serialize};

use crate::command::{Command, CommandResult};
use crate::directory::Directory;
use crate::lease::Leases;
use crate::queue::Queue;

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
            } => CommandResult::Claimed(self.queue.claim(node, now_ms, lease_ms, max as usize)),
            Command::Report {
                id,
                token,
                results,
                retry_at_ms,
            } => self
                .queue
                .report(id, token, results, retry_at_ms)
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
            Command::ReleaseLease { account, node } => {
                self.leases.release(&account, node);
                CommandResult::Done
            }
        }
    }
}
