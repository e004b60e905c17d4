//! The administration commands of issue 4: effective settings and
//! defaults, account info, forwarders, groups, domain renames, suspension
//! and aliases, the mailbox commands, server settings (modules, IP lists)
//! and the node commands (`WriteLog`, `SHUTDOWN`, `GetCurrentController`,
//! `GetCurrentTime`).
//!
//! Same rules as [`crate::api`]: directory changes are Raft proposals,
//! reads are linearizable, account files are touched through the
//! `AccountHub` under the account's lock.

use cluster::{AccountRef, DirectoryOp, Group, Rejection};

use crate::api::{AdminApi, blocking, from_settings, password_text, to_settings};
use crate::cli::command::{Command, DefaultsOf};
use crate::data::{Dict, Value};
use crate::error::{Error, Result};
use crate::{names, rights};

/// The group setting that holds the member array (CommuniGate `GetGroup`).
const MEMBERS_KEY: &str = "Members";

/// Modules whose settings `ListModules` names (CommuniGate module names of
/// the services Mailnode runs).
const MODULES: &[&str] = &[
    "CLI", "CLUSTER", "DEQUEUER", "HTTPA", "IMAP", "LOCAL", "PIPE", "POP", "SMTP", "SYSTEM",
];

impl AdminApi {
    /// Runs the commands this file owns; the rights are checked already.
    pub(crate) async fn execute_objects(
        &self,
        caller: &AccountRef,
        command: Command,
    ) -> Result<Option<Value>> {
        match command {
            Command::NewPass(password) => {
                let may = self
                    .cluster
                    .read(|s| rights::can_modify_password(&s.directory, caller));
                if !may {
                    return Err(Error::NotAllowed);
                }
                self.set_password(caller, password).await?;
                Ok(None)
            }
            Command::Shutdown => {
                let control = self.control("SHUTDOWN")?;
                control.write_log(2, "SHUTDOWN requested over the CLI");
                control.shutdown();
                Ok(None)
            }
            Command::WriteLog { level, text } => {
                let level = u8::try_from(level)
                    .ok()
                    .filter(|l| *l <= 5)
                    .ok_or_else(|| Error::BadArgument("Log level must be 0..5".into()))?;
                self.control("WriteLog")?.write_log(level, &text);
                Ok(None)
            }
            Command::GetCurrentController => {
                let address = match self.cluster.leader_address().filter(|a| !a.is_empty()) {
                    Some(a) => a,
                    None if self.cluster.leader().await == Some(self.cluster.node_id()) => {
                        self.control("GetCurrentController")?.hostname()
                    }
                    None => return Err(Error::Unavailable("no controller is known".into())),
                };
                Ok(Some(Value::String(address)))
            }
            Command::GetCurrentTime => {
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs());
                let now = i64::try_from(now).unwrap_or(0);
                let date = chrono::DateTime::from_timestamp(now, 0)
                    .map(|d| d.naive_utc())
                    .ok_or_else(|| Error::Unavailable("clock out of range".into()))?;
                Ok(Some(Value::Date(date)))
            }
            Command::GetAccountEffectiveSettings { name } => {
                let account = self.existing(&name).await?;
                let settings = self
                    .read(move |s| rights::effective_settings(&s.directory, &account))
                    .await?
                    .ok_or(Rejection::AccountNotFound)?;
                Ok(Some(Value::Dict(from_settings(&settings))))
            }
            Command::SetAccountSettings { name, mut settings } => {
                let account = self.existing(&name).await?;
                if let Some(password) = settings.remove(crate::api::PASSWORD_KEY) {
                    self.set_password(&account, password_text(&password)?)
                        .await?;
                }
                self.propose(DirectoryOp::SetAccountSettings {
                    domain: account.domain.clone(),
                    name: account.name.clone(),
                    settings: to_settings(settings),
                })
                .await?;
                self.export_settings(&account).await?;
                Ok(None)
            }
            Command::SetAccountType { name, kind } => {
                let account = self.existing(&name).await?;
                let wanted = storage::AccountKind::parse(&kind)
                    .ok_or_else(|| Error::BadArgument(format!("Unknown account type {kind}")))?;
                let current = self.account_field(&account, |a| a.kind).await?;
                if current == wanted {
                    Ok(None)
                } else {
                    Err(Error::BadArgument(
                        "SetAccountType: converting an account's storage is not supported".into(),
                    ))
                }
            }
            Command::GetAccountInfo { name, key, keys } => {
                let info = self.account_info(&name).await?;
                pick(info, key, keys)
            }
            Command::GetAccountStat { name, key } => {
                let info = self.account_info(&name).await?;
                pick(info, key, None)
            }
            Command::AccountDefaults { of, change } => self.account_defaults(of, change).await,
            Command::ListForwarders { domain } => {
                let domain = self.domain_name(domain).await?;
                let names = self
                    .read(move |s| {
                        s.directory
                            .domains
                            .get(&domain)
                            .map(|d| d.forwarders.keys().cloned().collect::<Vec<_>>())
                    })
                    .await?
                    .ok_or(Rejection::DomainNotFound)?;
                Ok(Some(strings(names)))
            }
            Command::CreateForwarder { name, to } => {
                let (name, domain) = self.split(&name).await?;
                names::object_name(&name)?;
                names::forwarding_address(&to)?;
                self.propose(DirectoryOp::CreateForwarder { domain, name, to })
                    .await?;
                Ok(None)
            }
            Command::RenameForwarder { old, new } => {
                let (name, domain) = self.split(&old).await?;
                let (new_name, new_domain) = self.split(&new).await?;
                names::object_name(&new_name)?;
                self.propose(DirectoryOp::RenameForwarder {
                    domain,
                    name,
                    new_domain,
                    new_name,
                })
                .await?;
                Ok(None)
            }
            Command::DeleteForwarder { name } => {
                let (name, domain) = self.split(&name).await?;
                self.propose(DirectoryOp::DeleteForwarder { domain, name })
                    .await?;
                Ok(None)
            }
            Command::GetForwarder { name } => {
                let (name, domain) = self.split(&name).await?;
                let to = self
                    .read(move |s| {
                        s.directory
                            .domains
                            .get(&domain)?
                            .forwarders
                            .get(&name)
                            .cloned()
                    })
                    .await?
                    .ok_or(Rejection::ForwarderNotFound)?;
                Ok(Some(Value::String(to)))
            }
            Command::FindForwarders { domain, to } => {
                let domain = self.domain_name(Some(domain)).await?;
                let names = self
                    .read(move |s| {
                        s.directory.domains.get(&domain).map(|d| {
                            d.forwarders
                                .iter()
                                .filter(|(_, t)| t.eq_ignore_ascii_case(&to))
                                .map(|(n, _)| n.clone())
                                .collect::<Vec<_>>()
                        })
                    })
                    .await?
                    .ok_or(Rejection::DomainNotFound)?;
                Ok(Some(strings(names)))
            }
            Command::ListGroups { domain } => {
                let domain = self.domain_name(domain).await?;
                let names = self
                    .read(move |s| {
                        s.directory
                            .domains
                            .get(&domain)
                            .map(|d| d.groups.keys().cloned().collect::<Vec<_>>())
                    })
                    .await?
                    .ok_or(Rejection::DomainNotFound)?;
                Ok(Some(strings(names)))
            }
            Command::CreateGroup { name, settings } => {
                let (name, domain) = self.split(&name).await?;
                names::object_name(&name)?;
                let group = to_group(settings.unwrap_or_default())?;
                self.propose(DirectoryOp::CreateGroup {
                    domain,
                    name,
                    group,
                })
                .await?;
                Ok(None)
            }
            Command::RenameGroup { old, new } => {
                let (name, domain) = self.split(&old).await?;
                let (new_name, new_domain) = self.split(&new).await?;
                names::object_name(&new_name)?;
                self.propose(DirectoryOp::RenameGroup {
                    domain,
                    name,
                    new_domain,
                    new_name,
                })
                .await?;
                Ok(None)
            }
            Command::DeleteGroup { name } => {
                let (name, domain) = self.split(&name).await?;
                self.propose(DirectoryOp::DeleteGroup { domain, name })
                    .await?;
                Ok(None)
            }
            Command::GetGroup { name } => {
                let (name, domain) = self.split(&name).await?;
                let group = self
                    .read(move |s| s.directory.domains.get(&domain)?.groups.get(&name).cloned())
                    .await?
                    .ok_or(Rejection::GroupNotFound)?;
                let mut dict = from_settings(&group.settings);
                dict.insert(MEMBERS_KEY.to_string(), strings(group.members));
                Ok(Some(Value::Dict(dict)))
            }
            Command::SetGroup { name, settings } => {
                let (name, domain) = self.split(&name).await?;
                let group = to_group(settings)?;
                self.propose(DirectoryOp::SetGroup {
                    domain,
                    name,
                    group,
                })
                .await?;
                Ok(None)
            }
            Command::RenameDomain { old, new } => {
                let (old, new) = (old.to_lowercase(), new.to_lowercase());
                names::domain_name(&new)?;
                self.propose(DirectoryOp::RenameDomain {
                    name: old.clone(),
                    new_name: new.clone(),
                })
                .await?;
                let base = self.accounts.store().base().clone();
                blocking(move || {
                    let (from, to) = (base.domain_dir(Some(&old)), base.domain_dir(Some(&new)));
                    if from.exists() {
                        std::fs::rename(&from, &to).map_err(|source| storage::Error::Io {
                            path: from.clone(),
                            source,
                        })?;
                    }
                    Ok(())
                })
                .await?;
                Ok(None)
            }
            Command::SuspendDomain { name, suspend } => {
                let name = self.domain_name(Some(name)).await?;
                // Its postmaster could no longer sign in to resume it.
                let main = self.read(|s| s.directory.main_domain.clone()).await?;
                if suspend && name == main {
                    return Err(Error::conflict("The main domain cannot be suspended"));
                }
                self.propose(DirectoryOp::SetDomainSuspended {
                    name,
                    suspended: suspend,
                })
                .await?;
                Ok(None)
            }
            Command::GetDomainAliases { name } => {
                let domain = self.domain_name(name).await?;
                let aliases = self
                    .read(move |s| s.directory.domains.get(&domain).map(|d| d.aliases.clone()))
                    .await?
                    .ok_or(Rejection::DomainNotFound)?;
                Ok(Some(strings(aliases)))
            }
            Command::SetDomainAliases { name, aliases } => {
                let name = self.domain_name(name).await?;
                for alias in &aliases {
                    names::domain_name(alias)?;
                }
                self.propose(DirectoryOp::SetDomainAliases { name, aliases })
                    .await?;
                Ok(None)
            }
            Command::RenameMailbox {
                account, old, new, ..
            } => {
                // The storage renames a mailbox with its inferiors (RFC 9051
                // §6.3.6), which is the MAILBOXES form; the MAILBOX form
                // moves the inferiors too.
                let account = self.existing(&account).await?;
                let target = account.clone();
                self.accounts
                    .with_account(&account, move |store| {
                        store.rename_mailbox(target.storage_domain(), &target.name, &old, &new)
                    })
                    .await?;
                Ok(None)
            }
            Command::DeleteMailbox {
                account,
                mailbox,
                subtree,
            } => {
                let account = self.existing(&account).await?;
                let target = account.clone();
                self.accounts
                    .with_account(&account, move |store| {
                        let (domain, name) = (target.storage_domain(), &target.name);
                        if subtree {
                            let prefix = format!("{mailbox}/");
                            let mut inner: Vec<String> = store
                                .list_mailboxes(domain, name)?
                                .into_iter()
                                .filter(|m| m.starts_with(&prefix))
                                .collect();
                            // Deepest first, so no parent goes before its child.
                            inner.sort_by_key(|m| std::cmp::Reverse(m.len()));
                            for m in inner {
                                store.delete_mailbox(domain, name, &m)?;
                            }
                        }
                        store.delete_mailbox(domain, name, &mailbox)
                    })
                    .await?;
                Ok(None)
            }
            Command::GetMailboxInfo { account, mailbox } => {
                let account = self.existing(&account).await?;
                let target = account.clone();
                let info = self
                    .accounts
                    .with_account(&account, move |store| {
                        let m =
                            store.open_mailbox(target.storage_domain(), &target.name, &mailbox)?;
                        Ok(mailbox_info(&m))
                    })
                    .await?;
                Ok(Some(Value::Dict(info)))
            }
            Command::ListModules => Ok(Some(strings(
                MODULES.iter().map(|m| m.to_string()).collect(),
            ))),
            Command::GetModule { name } => {
                let name = module_name(&name)?;
                let settings = self
                    .read(move |s| s.directory.server.modules.get(name).cloned())
                    .await?
                    .unwrap_or_default();
                Ok(Some(Value::Dict(from_settings(&settings))))
            }
            Command::UpdateModule {
                name,
                settings,
                replace,
            } => {
                let module = module_name(&name)?.to_string();
                check_log_level(&settings)?;
                self.propose(DirectoryOp::UpdateModule {
                    module,
                    settings: to_settings(settings),
                    replace,
                })
                .await?;
                Ok(None)
            }
            Command::GetAccountSubscription { account } => {
                let account = self.existing(&account).await?;
                let target = account.clone();
                let names = self
                    .accounts
                    .with_account(&account, move |store| {
                        store.read_subscriptions(target.storage_domain(), &target.name)
                    })
                    .await?;
                Ok(Some(strings(names)))
            }
            Command::SetAccountSubscription { account, mailboxes } => {
                let account = self.existing(&account).await?;
                let mut names = mailboxes;
                names.sort();
                names.dedup();
                let target = account.clone();
                self.accounts
                    .with_account(&account, move |store| {
                        store.write_subscriptions(target.storage_domain(), &target.name, &names)
                    })
                    .await?;
                Ok(None)
            }
            Command::KillAccountSessions { name } => {
                let account = self.existing(&name).await?;
                let here = self
                    .control("KillAccountSessions")?
                    .kill_account_sessions(&account)
                    .ok_or_else(|| {
                        Error::BadArgument("KillAccountSessions is not supported".into())
                    })?;
                // The other members' sessions too, once every member can be
                // asked (a session handed over runs on the account's holder,
                // its client on yet another member).
                let there = self.cluster.kill_peer_sessions(&account).await;
                let killed = here as u64 + there.unwrap_or(0);
                if killed > 0 {
                    self.control("KillAccountSessions")?.write_log(
                        2,
                        &format!("KillAccountSessions {}: {killed} closed", account.address()),
                    );
                }
                Ok(None)
            }
            Command::SubmitMessage { message } => {
                if message.iter().all(u8::is_ascii_whitespace) {
                    return Err(Error::BadArgument(
                        "SubmitMessage: the message is empty".into(),
                    ));
                }
                let dir = self.accounts.store().base().submitted_dir();
                let name = submitted_name();
                // The temporary name does not end in `.sub`: the PIPE
                // scanner sees the file only once it is complete and synced.
                blocking(move || storage::fsync::write_atomic(&dir.join(name), &message)).await?;
                Ok(None)
            }
            Command::GetIpList { list } => {
                let value = self
                    .read(move |s| s.directory.server.ip_lists.get(list).cloned())
                    .await?
                    .unwrap_or_default();
                Ok(Some(Value::String(value)))
            }
            Command::SetIpList { list, value } => {
                // Mixed versions (a rolling upgrade): only what every member applies.
                let needs = cluster::directory::ip_list_protocol(list);
                let speaks = self.cluster.status().effective_protocol();
                if speaks.is_some_and(|v| v < needs) {
                    return Err(Error::Unavailable(format!(
                        "{list} needs every cluster member at protocol {needs}; upgrade the members first"
                    )));
                }
                let value = value.replace("\r\n", "\n").replace('\r', "\n");
                cluster::router::check_ip_list(&value)
                    .map_err(|why| Error::BadArgument(format!("{list} {why}")))?;
                self.propose(DirectoryOp::SetIpList {
                    name: list.to_string(),
                    value,
                })
                .await?;
                Ok(None)
            }
            other => Err(Error::BadArgument(format!("{other:?} is not supported"))),
        }
    }

    /// The entries of one of the server's address lists (`LANIPs`,
    /// `BlacklistedIPs`, `ClientIPs`, ...), comments (`;...`) and blank lines
    /// dropped, for the SMTP relaying and blacklisting checks.
    pub fn ip_list(&self, list: &str) -> Vec<String> {
        self.cluster.read(|s| {
            s.directory
                .server
                .ip_lists
                .get(list)
                .map(|v| {
                    v.lines()
                        .map(|l| l.split(';').next().unwrap_or("").trim().to_string())
                        .filter(|l| !l.is_empty())
                        .collect()
                })
                .unwrap_or_default()
        })
    }

    /// Whether `ip` is in the server's `BlacklistedIPs` and not in its
    /// `WhiteHoleIPs` (which exempts addresses from blacklisting): SMTP
    /// refuses such clients. A local read: the lists change rarely and a
    /// connection must not wait for a Raft round trip.
    pub fn is_blacklisted(&self, ip: std::net::IpAddr) -> bool {
        self.cluster.read(|s| {
            let listed = |name| cluster::router::ip_listed(&s.directory.server.ip_lists, name, ip);
            listed("BlacklistedIPs") && !listed("WhiteHoleIPs")
        })
    }

    /// Whether `ip` is in the server's `DeniedIPs`: every listener closes
    /// such connections at once.
    pub fn is_denied(&self, ip: std::net::IpAddr) -> bool {
        self.cluster
            .read(|s| cluster::router::ip_listed(&s.directory.server.ip_lists, "DeniedIPs", ip))
    }

    /// Every module whose settings hold a `LogLevel` (0..5), with it, from
    /// this member's replica (a local read, for the node's log).
    pub fn module_log_levels(&self) -> Vec<(String, u8)> {
        self.cluster.read(|s| {
            s.directory
                .server
                .modules
                .iter()
                .filter_map(|(module, settings)| {
                    let level = settings
                        .get("LogLevel")?
                        .trim_matches(|c| c == '"' || c == '#')
                        .parse::<u8>()
                        .ok()?;
                    Some((module.clone(), level.min(5)))
                })
                .collect()
        })
    }

    /// The effective `LogLevel` of `module`, if set in its settings.
    pub fn module_log_level(&self, module: &str) -> Option<u8> {
        self.cluster.read(|s| {
            s.directory
                .server
                .modules
                .get(module)?
                .get("LogLevel")?
                .trim_matches(|c| c == '"' || c == '#')
                .parse()
                .ok()
        })
    }

    fn control(&self, command: &str) -> Result<&std::sync::Arc<dyn crate::NodeControl>> {
        self.control
            .as_ref()
            .ok_or_else(|| Error::BadArgument(format!("{command} is not supported")))
    }

    /// A domain named in a command, the main domain when absent; it must
    /// exist (domain aliases name their domain).
    async fn domain_name(&self, name: Option<String>) -> Result<String> {
        self.read(move |s| {
            let d = name.map_or_else(
                || s.directory.main_domain.clone(),
                |n| s.directory.canonical_domain(&n),
            );
            s.directory
                .domains
                .contains_key(&d)
                .then_some(d)
                .ok_or(Error::from(Rejection::DomainNotFound))
        })
        .await?
    }

    async fn account_defaults(
        &self,
        of: DefaultsOf,
        change: Option<(Dict, bool)>,
    ) -> Result<Option<Value>> {
        let domain = match of {
            DefaultsOf::Server => None,
            DefaultsOf::Domain(d) => Some(self.domain_name(d).await?),
        };
        match change {
            None => {
                let settings = self
                    .read(move |s| match &domain {
                        None => Some(s.directory.server.account_defaults.clone()),
                        Some(d) => s
                            .directory
                            .domains
                            .get(d)
                            .map(|d| d.account_defaults.clone()),
                    })
                    .await?
                    .ok_or(Rejection::DomainNotFound)?;
                Ok(Some(Value::Dict(from_settings(&settings))))
            }
            Some((settings, replace)) => {
                self.propose(DirectoryOp::SetAccountDefaults {
                    domain,
                    settings: to_settings(settings),
                    replace,
                })
                .await?;
                Ok(None)
            }
        }
    }

    /// What Mailnode knows about an account: its type and the totals over
    /// its mailboxes. CommuniGate's login statistics (`LastLogin`, ...)
    /// are not tracked.
    async fn account_info(&self, name: &str) -> Result<Dict> {
        let account = self.existing(name).await?;
        let kind = self.account_field(&account, |a| a.kind).await?;
        let target = account.clone();
        let (mailboxes, messages, size) = self
            .accounts
            .with_account(&account, move |store| {
                let (domain, name) = (target.storage_domain(), &target.name);
                let names = store.list_mailboxes(domain, name)?;
                let (mut messages, mut size) = (0usize, 0u64);
                for m in &names {
                    let m = store.open_mailbox(domain, name, m)?;
                    messages += m.messages().len();
                    size += m.total_size();
                }
                Ok((names.len(), messages, size))
            })
            .await?;
        let number = |n: u64| Value::Number(i64::try_from(n).unwrap_or(i64::MAX));
        Ok(Dict::from([
            ("Type".to_string(), Value::string(kind.as_str())),
            ("Mailboxes".to_string(), number(mailboxes as u64)),
            ("Messages".to_string(), number(messages as u64)),
            ("StorageUsed".to_string(), number(size)),
        ]))
    }
}

/// `GetMailboxInfo`'s dictionary (reference §2.6).
pub(crate) fn mailbox_info(m: &storage::Mailbox) -> Dict {
    Dict::from([
        (
            "Messages".to_string(),
            Value::Number(m.messages().len() as i64),
        ),
        (
            "Size".to_string(),
            Value::Number(i64::try_from(m.total_size()).unwrap_or(i64::MAX)),
        ),
        (
            "UIDNEXT".to_string(),
            Value::Number(i64::from(m.uid_next().0)),
        ),
        (
            "UIDVALIDITY".to_string(),
            Value::Number(i64::from(m.uid_validity())),
        ),
    ])
}

/// One key (bare value), several keys (dictionary of those present) or all.
fn pick(info: Dict, key: Option<String>, keys: Option<Vec<String>>) -> Result<Option<Value>> {
    let find = |k: &str| info.iter().find(|(n, _)| n.eq_ignore_ascii_case(k));
    if let Some(key) = key {
        return find(&key)
            .map(|(_, v)| Some(v.clone()))
            .ok_or_else(|| Error::BadArgument(format!("{key} is not tracked")));
    }
    if let Some(keys) = keys {
        let picked = keys
            .iter()
            .filter_map(|k| find(k).map(|(n, v)| (n.clone(), v.clone())))
            .collect();
        return Ok(Some(Value::Dict(picked)));
    }
    Ok(Some(Value::Dict(info)))
}

/// A group from `CreateGroup`/`SetGroup` settings: `Members` must be an
/// array of strings.
fn to_group(mut settings: Dict) -> Result<Group> {
    let members = match settings.remove(MEMBERS_KEY) {
        None => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| v.as_str().map(|s| s.to_lowercase()))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| Error::BadArgument("Members must hold strings".into()))?,
        Some(_) => return Err(Error::BadArgument("Members must be an array".into())),
    };
    Ok(Group {
        members,
        settings: to_settings(settings),
    })
}

/// A fresh `Submitted/` file name for `SubmitMessage`, unique within this
/// process and across the nodes' processes by time and process id.
fn submitted_name() -> String {
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("cli-{nanos}-{}-{n}.sub", std::process::id())
}

fn strings(items: Vec<String>) -> Value {
    Value::Array(items.into_iter().map(Value::String).collect())
}

/// The canonical spelling of a module name, or an error for an unknown one.
fn module_name(name: &str) -> Result<&'static str> {
    MODULES
        .iter()
        .find(|m| m.eq_ignore_ascii_case(name))
        .copied()
        .ok_or_else(|| Error::not_found(format!("Unknown module {name}")))
}

/// A module's `LogLevel` is one of CommuniGate's levels 0..5 (or `default`,
/// which removes it).
fn check_log_level(settings: &Dict) -> Result<()> {
    let in_range = |n: i64| (0..=5).contains(&n);
    let ok = match settings.get("LogLevel") {
        None => true,
        Some(Value::Number(n)) => in_range(*n),
        Some(Value::String(s)) => {
            s.eq_ignore_ascii_case("default") || s.trim().parse().is_ok_and(in_range)
        }
        Some(_) => false,
    };
    if ok {
        Ok(())
    } else {
        Err(Error::BadArgument("Log level must be 0..5".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_need_string_members() {
        let ok = Dict::from([(
            "Members".to_string(),
            Value::Array(vec![Value::string("A@b.c")]),
        )]);
        assert_eq!(to_group(ok).unwrap().members, vec!["a@b.c".to_string()]);
        let bad = Dict::from([("Members".to_string(), Value::string("x"))]);
        assert!(to_group(bad).is_err());
    }
}
