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
//!
//! `Route address` answers a dictionary: `module` (`LOCAL`, `SMTP` or
//! `GROUP`), then for `LOCAL` the `account`, for `SMTP` the `address` sent to
//! and the `host` (the router table's target, else the node's `[relay]`
//! routes or smarthost, else `MX(domain)`) and `tls` (the TLS policy that
//! applies: `verify`, `opportunistic`, or `none` when the node's STARTTLS is
//! off), for `GROUP` the `members`, each
//! routed the same way; `via` lists the forwarders followed. An address of a
//! local domain that names nothing is an error, as in CommuniGate.
//!
//! `GetRouterSettings` answers the replicated router settings: `TLSPolicy`,
//! a dictionary of `domain`, `*.domain` or `*` to `verify` or
//! `opportunistic` (what `[relay.tls_policy]` holds in a node's config,
//! which it overrides on every member). `SetRouterSettings` replaces them;
//! it needs every member at cluster protocol 5.
//!
//! `GetMessageQueueInfo SMTP QUEUE "domain"` answers CommuniGate's queue
//! dictionary for the messages with recipients still pending at `domain`:
//! `nTotal` (messages), `size` (bytes), `delayedTill` (the earliest next
//! attempt, when it is in the future) and `lastError` (the latest deferral).

use std::collections::BTreeSet;

use cluster::router::{RelaySettings, format_router_table, parse_router_table};
use cluster::{Command as Raft, CommandResult, Directory, QueueId, RcptState, Route};

use crate::api::AdminApi;
use crate::cli::command::{Command, Dict};
use crate::control::RelayRoute;
use crate::data::Value;
use crate::error::{Error, Result};

/// The router setting that holds the relay TLS policy.
pub const TLS_POLICY_KEY: &str = "TLSPolicy";

/// A TLS policy as the CLI and `[relay.tls_policy]` spell it.
fn tls_policy_name(tls: cluster::TlsPolicy) -> &'static str {
    match tls {
        cluster::TlsPolicy::Verify => "verify",
        cluster::TlsPolicy::Opportunistic => "opportunistic",
    }
}

/// The reason given when `RejectQueueMessage` names none.
const DEFAULT_REJECT_TEXT: &str = "rejected by the administrator";

/// Groups nested deeper than this are not expanded by `Route` (the
/// DEQUEUER's own limit).
const MAX_GROUP_DEPTH: usize = 8;

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
            Command::GetRouterSettings => {
                let policy = self.read(|s| s.relay.tls_policy.clone()).await?;
                let policy: Dict = policy
                    .into_iter()
                    .map(|(domain, tls)| (domain, Value::string(tls_policy_name(tls))))
                    .collect();
                let settings = Dict::from([(TLS_POLICY_KEY.to_string(), Value::Dict(policy))]);
                Ok(Some(Value::Dict(settings)))
            }
            Command::SetRouterSettings { mut settings } => {
                let policy = match settings.remove(TLS_POLICY_KEY) {
                    None => Dict::new(),
                    Some(Value::Dict(policy)) => policy,
                    Some(_) => {
                        return Err(Error::BadArgument(format!(
                            "{TLS_POLICY_KEY} must be a dictionary"
                        )));
                    }
                };
                if let Some(key) = settings.keys().next() {
                    return Err(Error::BadArgument(format!("Unknown router setting {key}")));
                }
                let entries = policy.into_iter().map(|(domain, tls)| {
                    let tls = tls.as_str().map_or_else(|| tls.to_string(), str::to_string);
                    (domain, tls)
                });
                let policy = cluster::router::parse_tls_policy(entries)
                    .map_err(|e| Error::BadArgument(format!("{TLS_POLICY_KEY}: {e}")))?;
                // An older member could not decode the command: refuse until it is upgraded
                // (as SetIpList does for the lists of later versions).
                let needs = cluster::rpc::RELAY_TLS_POLICY_VERSION;
                let speaks = self.cluster.status().effective_protocol();
                if speaks.is_some_and(|v| v < needs) {
                    return Err(Error::Unavailable(format!(
                        "{TLS_POLICY_KEY} needs every cluster member at protocol {needs}; upgrade the members first"
                    )));
                }
                self.propose_raft(Raft::SetTlsPolicy { policy }).await?;
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
            Command::Route { address } => {
                let control = self.control.clone();
                let remote = move |domain: &str, settings: &RelaySettings| {
                    control.as_ref()?.relay_route(domain, settings)
                };
                let routed = self
                    .read(move |s| {
                        route_dict(
                            &s.directory,
                            &s.relay,
                            &address,
                            0,
                            &mut BTreeSet::new(),
                            &remote,
                        )
                    })
                    .await?;
                routed.map(Some)
            }
            Command::GetMessageQueueInfo { module, queue } => {
                if !module.eq_ignore_ascii_case("SMTP") {
                    return Err(Error::BadArgument(format!("unknown module {module}")));
                }
                let now_ms = chrono::Utc::now().timestamp_millis().max(0) as u64;
                let info = self
                    .read(move |s| queue_info(&s.queue, &queue, now_ms))
                    .await?;
                Ok(Some(info))
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

/// One queue entry as `ListQueue` shows it.
pub(crate) fn entry_dict(e: &cluster::QueueEntry) -> Value {
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

/// The `Route` answer for `address` (see the module docs).
fn route_dict(
    dir: &Directory,
    table: &RelaySettings,
    address: &str,
    depth: usize,
    seen: &mut BTreeSet<String>,
    config_route: &dyn Fn(&str, &RelaySettings) -> Option<RelayRoute>,
) -> Result<Value> {
    seen.insert(address.to_lowercase());
    let mut d = Dict::new();
    let via = forwarder_chain(dir, address);
    match dir.route(address) {
        Route::Account(account) => {
            d.insert("module".into(), Value::string("LOCAL"));
            d.insert("account".into(), Value::string(account.address()));
        }
        Route::Forward(to) => {
            remote_route(&mut d, table, &to, config_route);
        }
        Route::Remote => {
            remote_route(&mut d, table, address, config_route);
        }
        Route::Group(members) => {
            if depth >= MAX_GROUP_DEPTH {
                return Err(Error::BadArgument(format!(
                    "{address}: groups nested too deeply"
                )));
            }
            let (_, domain) = dir.split_address(address);
            let mut routed = Vec::new();
            for member in members {
                let member = if member.contains('@') {
                    member
                } else {
                    format!("{member}@{domain}")
                };
                if seen.contains(&member.to_lowercase()) {
                    continue;
                }
                let mut m = match route_dict(dir, table, &member, depth + 1, seen, config_route)? {
                    Value::Dict(m) => m,
                    _ => Dict::new(),
                };
                m.insert("member".into(), Value::string(member));
                routed.push(Value::Dict(m));
            }
            d.insert("module".into(), Value::string("GROUP"));
            d.insert("members".into(), Value::Array(routed));
        }
        Route::Unknown => {
            return Err(Error::BadArgument(format!(
                "{address}: unknown user account"
            )));
        }
    }
    if !via.is_empty() {
        d.insert(
            "via".into(),
            Value::Array(via.into_iter().map(Value::String).collect()),
        );
    }
    Ok(Value::Dict(d))
}

/// The forwarders `Directory::route` follows from `address`, in order.
fn forwarder_chain(dir: &Directory, address: &str) -> Vec<String> {
    let mut chain = Vec::new();
    let mut address = address.to_string();
    while chain.len() < 10 {
        let (user, domain) = dir.split_address(&address);
        let Some(to) = dir
            .domains
            .get(&domain)
            .and_then(|d| d.forwarders.get(&user))
        else {
            break;
        };
        chain.push(format!("{user}@{domain}"));
        address = to.clone();
    }
    chain
}

/// Fills `d` for mail sent to the remote `address`: `module`, `address`,
/// `host` (the router table, else the node's configuration, else the
/// domain's MX) and `tls` (the router settings' policy, else the node's).
fn remote_route(
    d: &mut Dict,
    table: &RelaySettings,
    address: &str,
    config_route: &dyn Fn(&str, &RelaySettings) -> Option<RelayRoute>,
) {
    let domain = address
        .rsplit_once('@')
        .map_or("", |(_, d)| d)
        .trim_end_matches('.')
        .to_ascii_lowercase();
    // Without a node (unit tests, tools) only the replicated settings speak.
    let route = config_route(&domain, table).unwrap_or_else(|| RelayRoute {
        host: table
            .route(&domain)
            .map_or_else(|| format!("MX({domain})"), str::to_string),
        tls: table
            .tls_policy(&domain)
            .map_or("opportunistic", tls_policy_name),
    });
    d.insert("module".into(), Value::string("SMTP"));
    d.insert("host".into(), Value::string(route.host));
    d.insert("tls".into(), Value::string(route.tls));
    d.insert("address".into(), Value::string(address));
}

/// CommuniGate's queue dictionary for the SMTP queue of `domain`.
fn queue_info(queue: &cluster::queue::Queue, domain: &str, now_ms: u64) -> Value {
    let domain = domain.trim_end_matches('.').to_ascii_lowercase();
    let mut total = 0i64;
    let mut size = 0u64;
    let mut next: Option<u64> = None;
    let mut last_error: Option<(u64, String)> = None;
    for e in queue.entries.values() {
        let pending: Vec<_> = e
            .recipients
            .iter()
            .filter(|r| !r.state.is_final())
            .filter(|r| {
                r.address
                    .rsplit_once('@')
                    .is_some_and(|(_, d)| d.trim_end_matches('.').eq_ignore_ascii_case(&domain))
            })
            .collect();
        if pending.is_empty() {
            continue;
        }
        total += 1;
        size += e.size;
        next = Some(next.map_or(e.next_attempt_ms, |n| n.min(e.next_attempt_ms)));
        for r in pending {
            if let RcptState::Deferred(why) = &r.state
                && last_error
                    .as_ref()
                    .is_none_or(|(at, _)| *at <= e.received_ms)
            {
                last_error = Some((e.received_ms, why.clone()));
            }
        }
    }
    let mut d = Dict::new();
    d.insert("nTotal".into(), Value::Number(total));
    d.insert(
        "size".into(),
        Value::Number(i64::try_from(size).unwrap_or(i64::MAX)),
    );
    if let Some(at) = next.filter(|at| *at > now_ms)
        && let Some(t) = chrono::DateTime::from_timestamp_millis(at as i64)
    {
        d.insert("delayedTill".into(), Value::Date(t.naive_utc()));
    }
    if let Some((_, why)) = last_error {
        d.insert("lastError".into(), Value::string(why));
    }
    Value::Dict(d)
}
