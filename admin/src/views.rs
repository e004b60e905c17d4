//! Reads the WebAdmin pages and the JSON API need beyond the CLI's
//! commands: pages of a domain's forwarders and groups (never copying the
//! whole domain), a domain's state, and the tail of the system log.
//!
//! Rights are those of the CLI command each one stands for
//! (`ListForwarders`, `ListGroups`, `GetDomainSettings`); the log is for
//! server administrators only, as CommuniGate's Monitors realm.

use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use cluster::{AccountRef, Rejection};

use crate::api::AdminApi;
use crate::cli::command::Command;
use crate::error::{Error, Result};
use crate::rights::Role;

/// How far back from the end of a log file [`AdminApi::log_tail`] reads:
/// enough for a screenful of filtered records, bounded however big the
/// day's file is.
const LOG_TAIL_BYTES: u64 = 512 * 1024;

/// A domain as its page shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DomainState {
    /// Suspended domains refuse logins (`SuspendDomain`).
    pub suspended: bool,
    /// Its other names (`GetDomainAliases`).
    pub aliases: Vec<String>,
    /// Numbers of accounts, forwarders and groups.
    pub accounts: usize,
    /// Forwarders.
    pub forwarders: usize,
    /// Groups.
    pub groups: usize,
}

/// Which records of the system log [`AdminApi::log_tail`] returns.
#[derive(Debug, Clone, Default)]
pub struct LogFilter {
    /// The node whose log to read; the first (by name) when empty.
    pub node: String,
    /// Records up to this level (0 crashes .. 5 all info).
    pub max_level: u8,
    /// Records whose module tag starts with this (case-insensitive).
    pub module: String,
    /// At most this many records, the newest.
    pub limit: usize,
}

/// One parsed log record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogRecord {
    /// `HH:MM:SS.cc`.
    pub time: String,
    /// CommuniGate level 0..5.
    pub level: u8,
    /// Module tag with its context, `SMTP([1.2.3.4]:5)`.
    pub module: String,
    /// The text.
    pub text: String,
}

/// The tail of one node's log.
#[derive(Debug, Clone, Default)]
pub struct LogTail {
    /// Nodes that have a log folder.
    pub nodes: Vec<String>,
    /// The node read.
    pub node: String,
    /// The file read (`yyyy-mm-dd.log`), if any.
    pub file: Option<String>,
    /// The matching records, oldest first.
    pub records: Vec<LogRecord>,
}

/// The cluster's activity: this node's counters plus every other member's.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClusterActivity {
    /// Messages accepted in the last minute, summed.
    pub accepted: u64,
    /// Recipients delivered in the last minute, summed.
    pub delivered: u64,
    /// Open sessions by protocol, summed.
    pub sessions: std::collections::BTreeMap<String, u64>,
    /// How many members the sums include (this one and those that
    /// answered).
    pub counted: usize,
    /// How many members the cluster has.
    pub members: usize,
    /// Whether the other members could be asked at all: not while one
    /// speaks a protocol older than `cluster::rpc::NODE_ACTIVITY_VERSION`.
    pub peers_asked: bool,
}

/// Space on the filesystem that holds the base directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DiskUsage {
    /// Its size in bytes.
    pub total: u64,
    /// Bytes in use (by everything on it, not only the base directory).
    pub used: u64,
    /// Bytes still free for Mailnode.
    pub available: u64,
}

impl AdminApi {
    /// Open sessions on this node by protocol, if the node counts them.
    pub fn session_counts(&self) -> Option<std::collections::BTreeMap<String, usize>> {
        self.control.as_ref()?.session_counts()
    }

    /// This node's configuration facts (listeners as bound, limits).
    pub fn node_settings(&self) -> Vec<(String, String)> {
        self.control
            .as_ref()
            .map(|c| c.node_settings())
            .unwrap_or_default()
    }

    /// (messages accepted, recipients delivered) by this node in the last
    /// minute, if the node counts them.
    pub fn last_minute(&self) -> Option<(u64, u64)> {
        self.control.as_ref()?.last_minute()
    }

    /// Messages accepted and delivered in the last minute and open sessions,
    /// summed over the members that answer (`None` when this node keeps no
    /// counters).
    pub async fn cluster_activity(&self) -> Option<ClusterActivity> {
        let control = self.control.as_ref()?;
        let (accepted, delivered) = control.last_minute()?;
        let mut total = ClusterActivity {
            accepted,
            delivered,
            // Each client once: a session handed over to this node is
            // counted where its client is connected.
            sessions: control
                .client_session_counts()
                .unwrap_or_default()
                .into_iter()
                .map(|(p, n)| (p, n as u64))
                .collect(),
            counted: 1,
            members: self.cluster.status().members.len().max(1),
            peers_asked: false,
        };
        if let Some(peers) = self.cluster.peer_activity().await {
            total.peers_asked = true;
            for activity in peers.into_iter().filter_map(|(_, a)| a) {
                total.counted += 1;
                total.accepted += activity.accepted;
                total.delivered += activity.delivered;
                for (protocol, n) in activity.sessions {
                    *total.sessions.entry(protocol).or_insert(0) += n;
                }
            }
        }
        Some(total)
    }

    /// Space on the base directory's filesystem, as POSIX `df -Pk` reports
    /// it (the crate forbids the unsafe `statvfs` call); `None` if `df`
    /// cannot tell.
    pub async fn disk_usage(&self) -> Option<DiskUsage> {
        let base = self.accounts.store().base().root().to_path_buf();
        tokio::task::spawn_blocking(move || {
            let out = std::process::Command::new("df")
                .arg("-Pk")
                .arg(&base)
                .output()
                .ok()?;
            out.status
                .success()
                .then(|| parse_df(&String::from_utf8_lossy(&out.stdout)))?
        })
        .await
        .ok()?
    }

    /// One page of a domain's forwarders with their targets, names
    /// containing `filter`, and how many match in all.
    ///
    /// # Errors
    /// As `ListForwarders`.
    pub async fn forwarder_page(
        &self,
        caller: &AccountRef,
        domain: &str,
        filter: &str,
        offset: usize,
        limit: usize,
    ) -> Result<(usize, Vec<(String, String)>)> {
        let domain = self
            .checked_domain(
                caller,
                Command::ListForwarders {
                    domain: Some(domain.to_string()),
                },
                domain,
            )
            .await?;
        let filter = filter.to_lowercase();
        self.read(move |s| {
            let d = s
                .directory
                .domains
                .get(&domain)
                .ok_or(Error::from(Rejection::DomainNotFound))?;
            let matching = d.forwarders.iter().filter(|(n, _)| n.contains(&filter));
            let total = matching.clone().count();
            let page = matching
                .skip(offset)
                .take(limit)
                .map(|(n, to)| (n.clone(), to.clone()))
                .collect();
            Ok((total, page))
        })
        .await?
    }

    /// One page of a domain's groups with their members, names containing
    /// `filter`, and how many match in all.
    ///
    /// # Errors
    /// As `ListGroups`.
    pub async fn group_page(
        &self,
        caller: &AccountRef,
        domain: &str,
        filter: &str,
        offset: usize,
        limit: usize,
    ) -> Result<(usize, Vec<(String, Vec<String>)>)> {
        let domain = self
            .checked_domain(
                caller,
                Command::ListGroups {
                    domain: Some(domain.to_string()),
                },
                domain,
            )
            .await?;
        let filter = filter.to_lowercase();
        self.read(move |s| {
            let d = s
                .directory
                .domains
                .get(&domain)
                .ok_or(Error::from(Rejection::DomainNotFound))?;
            let matching = d.groups.iter().filter(|(n, _)| n.contains(&filter));
            let total = matching.clone().count();
            let page = matching
                .skip(offset)
                .take(limit)
                .map(|(n, g)| (n.clone(), g.members.clone()))
                .collect();
            Ok((total, page))
        })
        .await?
    }

    /// A domain's suspension, aliases and object counts.
    ///
    /// # Errors
    /// As `GetDomainSettings`.
    pub async fn domain_state(&self, caller: &AccountRef, domain: &str) -> Result<DomainState> {
        let domain = self
            .checked_domain(
                caller,
                Command::GetDomainSettings {
                    name: Some(domain.to_string()),
                },
                domain,
            )
            .await?;
        self.read(move |s| {
            s.directory
                .domains
                .get(&domain)
                .map(|d| DomainState {
                    suspended: d.suspended,
                    aliases: d.aliases.clone(),
                    accounts: d.accounts.len(),
                    forwarders: d.forwarders.len(),
                    groups: d.groups.len(),
                })
                .ok_or(Error::from(Rejection::DomainNotFound))
        })
        .await?
    }

    /// The newest records of a node's system log that pass `filter`.
    /// Reads at most the last [`LOG_TAIL_BYTES`] of the day's file.
    ///
    /// # Errors
    /// `NotAllowed` unless `caller` is a server administrator; a bad node
    /// name; I/O errors reading the log.
    pub async fn log_tail(&self, caller: &AccountRef, filter: LogFilter) -> Result<LogTail> {
        if self.role(caller) != Role::Server {
            return Err(Error::NotAllowed);
        }
        let logs = self.accounts.store().base().root().join("SystemLogs");
        tokio::task::spawn_blocking(move || read_tail(&logs, &filter))
            .await
            .map_err(|e| Error::Unavailable(e.to_string()))?
    }

    /// Checks `caller` may run `command` and that `domain` exists; returns
    /// its canonical name (domain aliases name their domain).
    async fn checked_domain(
        &self,
        caller: &AccountRef,
        command: Command,
        domain: &str,
    ) -> Result<String> {
        self.cluster
            .read(|s| crate::rights::check(&s.directory, caller, &command))?;
        let domain = domain.to_lowercase();
        self.read(move |s| s.directory.canonical_domain(&domain))
            .await
    }
}

fn read_tail(logs: &Path, filter: &LogFilter) -> Result<LogTail> {
    let io = |e: std::io::Error| Error::Unavailable(format!("cannot read the log: {e}"));
    let mut nodes: Vec<String> = match std::fs::read_dir(logs) {
        Ok(dir) => dir
            .filter_map(|e| e.ok())
            .filter(|e| e.path().is_dir())
            .filter_map(|e| e.file_name().into_string().ok())
            .collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(io(e)),
    };
    nodes.sort();
    let node = if filter.node.is_empty() {
        nodes.first().cloned().unwrap_or_default()
    } else if nodes.contains(&filter.node) {
        filter.node.clone()
    } else {
        return Err(Error::not_found(format!("No log of node {}", filter.node)));
    };
    let mut tail = LogTail {
        nodes,
        node: node.clone(),
        ..LogTail::default()
    };
    if node.is_empty() {
        return Ok(tail);
    }
    let dir = logs.join(&node);
    let newest = std::fs::read_dir(&dir)
        .map_err(io)?
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| n.ends_with(".log"))
        .max();
    let Some(file) = newest else {
        return Ok(tail);
    };
    let mut f = std::fs::File::open(dir.join(&file)).map_err(io)?;
    let len = f.metadata().map_err(io)?.len();
    let start = len.saturating_sub(LOG_TAIL_BYTES);
    f.seek(SeekFrom::Start(start)).map_err(io)?;
    let mut bytes = Vec::new();
    f.read_to_end(&mut bytes).map_err(io)?;
    let text = String::from_utf8_lossy(&bytes);
    // A read from the middle starts inside a record: skip to the next one.
    let text = match start {
        0 => &text[..],
        _ => text.split_once('\n').map_or("", |(_, rest)| rest),
    };
    let module = filter.module.to_lowercase();
    let mut records: Vec<LogRecord> = text
        .lines()
        .filter_map(parse_record)
        .filter(|r| r.level <= filter.max_level)
        .filter(|r| r.module.to_lowercase().starts_with(&module))
        .collect();
    let skip = records.len().saturating_sub(filter.limit);
    records.drain(..skip);
    tail.file = Some(file);
    tail.records = records;
    Ok(tail)
}

/// The data line of `df -Pk` (POSIX format: 1024-byte blocks, total, used,
/// available).
fn parse_df(text: &str) -> Option<DiskUsage> {
    let line = text.lines().nth(1)?;
    let mut fields = line
        .split_whitespace()
        .skip(1)
        .map(|f| f.parse::<u64>().ok());
    let (total, used, available) = (fields.next()??, fields.next()??, fields.next()??);
    Some(DiskUsage {
        total: total * 1024,
        used: used * 1024,
        available: available * 1024,
    })
}

/// `HH:MM:SS.cc LEVEL MODULE(context) text` (README "On disk").
fn parse_record(line: &str) -> Option<LogRecord> {
    let mut parts = line.splitn(4, ' ');
    let time = parts.next()?.to_string();
    let level = parts.next()?.parse().ok()?;
    let module = parts.next()?.to_string();
    let text = parts.next().unwrap_or("").to_string();
    Some(LogRecord {
        time,
        level,
        module,
        text,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_log(dir: &Path, node: &str, file: &str, text: &str) {
        let d = dir.join(node);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join(file), text).unwrap();
    }

    #[test]
    fn tail_filters_by_level_and_module_and_keeps_the_newest() {
        let dir = tempfile::tempdir().unwrap();
        write_log(
            dir.path(),
            "node1",
            "2026-11-29.log",
            "00:00:00.00 2 OLD() x\n",
        );
        write_log(
            dir.path(),
            "node1",
            "2026-11-30.log",
            "10:00:00.00 2 SMTP([1.2.3.4]:5) one\n\
             10:00:01.00 5 SMTP([1.2.3.4]:5) chatter\n\
             10:00:02.00 1 SYSTEM() two\n\
             10:00:03.00 3 smtp() three\n\
             garbage\n",
        );
        write_log(dir.path(), "node2", "2026-11-30.log", "");
        let filter = |node: &str, max_level, module: &str, limit| LogFilter {
            node: node.into(),
            max_level,
            module: module.into(),
            limit,
        };
        let tail = read_tail(dir.path(), &filter("", 3, "", 10)).unwrap();
        assert_eq!(tail.nodes, ["node1", "node2"]);
        assert_eq!(tail.file.as_deref(), Some("2026-11-30.log"));
        let texts: Vec<_> = tail.records.iter().map(|r| r.text.as_str()).collect();
        assert_eq!(texts, ["one", "two", "three"]);
        let tail = read_tail(dir.path(), &filter("node1", 5, "SMTP", 2)).unwrap();
        let texts: Vec<_> = tail.records.iter().map(|r| r.text.as_str()).collect();
        assert_eq!(texts, ["chatter", "three"]);
        assert!(
            read_tail(dir.path(), &filter("node2", 5, "", 9))
                .unwrap()
                .records
                .is_empty()
        );
        assert!(read_tail(dir.path(), &filter("../x", 5, "", 9)).is_err());
    }

    #[test]
    fn df_output() {
        let text = "Filesystem     1024-blocks     Used Available Capacity Mounted on\n\
                    /dev/sda1         1000      600       400      60% /\n";
        assert_eq!(
            parse_df(text),
            Some(DiskUsage {
                total: 1_024_000,
                used: 614_400,
                available: 409_600
            })
        );
        assert_eq!(parse_df("Filesystem\n"), None);
        assert_eq!(parse_df("h\n/dev/x a b c 1% /\n"), None);
    }

    #[test]
    fn a_long_file_is_read_from_its_end() {
        let dir = tempfile::tempdir().unwrap();
        let line = "10:00:00.00 2 SMTP() filler filler filler filler filler\n";
        let mut text = line.repeat((LOG_TAIL_BYTES as usize) / line.len() + 100);
        text.push_str("11:00:00.00 2 SYSTEM() last\n");
        write_log(dir.path(), "n", "2026-11-30.log", &text);
        let filter = LogFilter {
            node: "n".into(),
            max_level: 5,
            module: String::new(),
            limit: 100_000,
        };
        let tail = read_tail(dir.path(), &filter).unwrap();
        assert!(tail.records.len() < text.lines().count());
        assert!(
            tail.records
                .iter()
                .all(|r| r.module.starts_with("SMTP") || r.text == "last")
        );
        assert_eq!(tail.records.last().unwrap().text, "last");
    }
}
