//! The proposer: drains pending commands into one Raft entry.
//!
//! openraft 0.9 appends and flushes each `client_write` on its own, which
//! caps a cluster near 3,000 entries/s on our test machine; batching many
//! commands per entry, with at most two batches in flight, is what carries
//! mail throughput (`reference/raft-throughput.md`).

use std::sync::Arc;

use tokio::sync::{Semaphore, mpsc, oneshot};

use crate::command::{Command, CommandResult};
use crate::error::{Error, Result};
use crate::leader::LeaderLink;
use crate::raft::Request;

/// Batches in flight at once: more only makes batches smaller.
const IN_FLIGHT: usize = 2;

/// A command waiting to be proposed, and where its result goes.
pub struct Proposal {
    /// The command.
    pub command: Command,
    /// The result's receiver.
    pub reply: oneshot::Sender<Result<CommandResult>>,
}

/// Starts the proposer task; proposals sent to the returned sender are
/// committed in batches of at most `max_batch` commands, through the
/// leader wherever it is.
pub fn spawn(link: Arc<LeaderLink>, max_batch: usize) -> mpsc::Sender<Proposal> {
    let (tx, rx) = mpsc::channel(max_batch.max(1) * 4);
    tokio::spawn(run(link, rx, max_batch.max(1)));
    tx
}

async fn run(link: Arc<LeaderLink>, mut rx: mpsc::Receiver<Proposal>, max_batch: usize) {
    let in_flight = Arc::new(Semaphore::new(IN_FLIGHT));
    while let Some(first) = rx.recv().await {
        // Wait for a slot first, so the batch grows while earlier ones commit.
        let Ok(permit) = in_flight.clone().acquire_owned().await else {
            return;
        };
        let mut batch = vec![first];
        while batch.len() < max_batch {
            match rx.try_recv() {
                Ok(p) => batch.push(p),
                Err(_) => break,
            }
        }
        let link = link.clone();
        tokio::spawn(async move {
            write(&link, batch).await;
            drop(permit);
        });
    }
}

async fn write(link: &LeaderLink, batch: Vec<Proposal>) {
    let (commands, replies): (Vec<_>, Vec<_>) =
        batch.into_iter().map(|p| (p.command, p.reply)).unzip();
    match link.client_write(Request(commands)).await {
        Ok(response) => {
            let mut results = response.0.into_iter();
            for reply in replies {
                let result = results
                    .next()
                    .ok_or_else(|| Error::Commit("missing result for a proposed command".into()));
                let _ = reply.send(result);
            }
        }
        Err(e) => {
            let text = e.to_string();
            for reply in replies {
                let _ = reply.send(Err(Error::Commit(text.clone())));
            }
        }
    }
}
