//! Router table and queue commands of the CLI (issue #5).
//!
//! CommuniGate's `GetRouterTable`/`SetRouterTable` carry the table as one
//! string (`\e` separates lines); Mailnode's syntax is in `cluster::router`.
//! `ReleaseSMTPQueue "domain"` makes that domain's entries due now,
//! `RejectQueueMessage id ["text"]` fails a message's pending recipients
//! with a bounce. `ListQueue` is a Mailnode extension: an array with one
//! dictionary per queued message (`id`, `from`, `size`, `attempts`,
//! `nextAttempt` (ms since the epoch), `received`, `source`, and
//! `recipients`: dictionaries of `address`, `state` (`pending`, `delivered`,
//! `failed`, `deferred`) and `lastError`).

use cluster::router::{format_router_table, parse_router_table};
use cluster::{Command as Raft, CommandResult, QueueId, RcptState};

use crate::api::AdminApi;
use crate::cli::command::{Command, Dict};
use crate::data::Value;
use crate::error::{Error, Result};

/// The reason given when `RejectQueueMessage` names none.
const DEFAULT_REJECT_TEXT: &str = "rejected by the administrator";

impl AdminApi {
    /// Runs one of the router or queue commands.
    pub(crate) async fn execute_relay(&self, command: Command) -> Result<Option<Value>> {
        match command {
            Command::GetRouterTable => {
                let text = self.read(|s| format_router_table(&s.relay.routes)).await?;
                Ok(Some(Value::String(text)))
            }
            Command::SetRouterTable { table } => {
                let rules = parse_router_table(&table).map_err(Error::BadArgument)?;
                self.propose_raft(Raft::SetRouterTable { rules }).await?;
                Ok(None)
            }
            Command::ReleaseSmtpQueue { queue } => {
                let now_ms = chrono::Utc::now().timestamp_millis().max(0) as u64;
                self.propose_raft(Raft::ReleaseQueue {
                    domain: queue,
                    now_ms,
                })
                .await?;
                Ok(None)
            }
            Command::RejectQueueMessage { id, text } => {
                let reason = text.unwrap_or_else(|| DEFAULT_REJECT_TEXT.to_string());
                self.propose_raft(Raft::RejectQueued {
                    id: QueueId(id),
                    reason,
                })
                .await?;
                Ok(None)
            }
            Command::ListQueue => {
                let list = self
                    .read(|s| s.queue.entries.values().map(entry_dict).collect::<Vec<_>>())
                    .await?;
                Ok(Some(Value::Array(list)))
            }
            other => Err(Error::BadArgument(format!("{other:?} is not supported"))),
        }
    }

    async fn propose_raft(&self, command: Raft) -> Result<()> {
        match self.cluster.propose(command).await? {
            CommandResult::Done | CommandResult::Count(_) => Ok(()),
            CommandResult::Rejected(r) => Err(r.into()),
            other => Err(Error::Unavailable(format!("unexpected result {other:?}"))),
        }
    }
}

fn entry_dict(e: &cluster::QueueEntry) -> Value {
    let string = |s: &str| Value::String(s.to_string());
    let number = |n: u64| Value::Number(i64::try_from(n).unwrap_or(i64::MAX));
    let recipients = e
        .recipients
        .iter()
        .map(|r| {
            let (state, error) = match &r.state {
                RcptState::Pending => ("pending", None),
                RcptState::Delivered => ("delivered", None),
                RcptState::Failed(why) => ("failed", Some(why)),
                RcptState::Deferred(why) => ("deferred", Some(why)),
            };
            let mut d = Dict::new();
            d.insert("address".into(), string(&r.address));
            d.insert("state".into(), string(state));
            if let Some(why) = error {
                d.insert("lastError".into(), string(why));
            }
            Value::Dict(d)
        })
        .collect();
    let mut d = Dict::new();
    d.insert("id".into(), string(&e.id.to_string()));
    d.insert("from".into(), string(&e.return_path));
    d.insert("size".into(), number(e.size));
    d.insert("source".into(), string(&e.source));
    d.insert("received".into(), number(e.received_ms));
    d.insert("attempts".into(), number(u64::from(e.attempts)));
    d.insert("nextAttempt".into(), number(e.next_attempt_ms));
    if let Some(reason) = &e.rejected {
        d.insert("rejected".into(), string(reason));
    }
    d.insert("recipients".into(), Value::Array(recipients));
    Value::Dict(d)
}
