//! The whole replicated state and the function that applies a command to it.

use serde::{Deserialize, Serialize};

use crate::command::{Command, CommandResult};
use crate::directory::Directory;
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
            Command::ReleaseClaims { node } => {
                self.queue.release_claims(node);
                CommandResult::Done
            }
        }
    }
}
