//! `chaos bench imap`: mail readers working on large INBOXes, with the rate and latency of each
//! command.
//!
//! Phases, in order:
//! 1. setup (with `--cli`): create `bench1..benchN`, as `bench smtp` does;
//! 2. fill: APPEND (LITERAL+, RFC 7888) to each account's INBOX until it holds `--messages`
//!    messages, `--clients` accounts at a time;
//! 3. load: `--clients` sessions, session `i` logged in as account `i mod N + 1` through target
//!    `i mod T`, each repeating one round until the time is up:
//!    `SELECT INBOX`; `FETCH 1:* (UID FLAGS BODY.PEEK[HEADER.FIELDS (FROM TO SUBJECT DATE)])`
//!    (the headers of every message); `UID SEARCH SUBJECT` of one of them (its UID must be in
//!    the answer); `UID STORE` of `\Flagged` on one message (set, then cleared the next round);
//!    `APPEND` of a new message; `UID STORE +FLAGS.SILENT (\Deleted)` and `UID EXPUNGE` of the
//!    oldest message, so the INBOX keeps its size.
//!
//! Each command's latency is recorded under its name. A `NO`, a `BAD`, an I/O error or a wrong
//! SEARCH answer counts as a failed command; the session then reconnects and starts a new
//! round. With one account per session (the default) no two sessions share a mailbox.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::Args;
use serde_json::json;
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::message::message;
use super::report::{percentile, rate};
use super::smtp::{ACCOUNT_PASSWORD, account, create_accounts, run_id};
use crate::client::imap::{Fetched, ImapClient, parse_fetch};

/// The commands measured, in the order of a round and of the report.
pub const COMMANDS: [&str; 6] = ["SELECT", "FETCH", "SEARCH", "STORE", "APPEND", "EXPUNGE"];

/// The header fields a reader's message list shows.
const LIST_FETCH: &str = "FETCH 1:* (UID FLAGS BODY.PEEK[HEADER.FIELDS (FROM TO SUBJECT DATE)])";

/// Distinct failure lines kept for the summary.
const MAX_ERROR_LINES: usize = 5;

/// Pause before reconnecting after a failure, so a refusing server is not hammered.
const RECONNECT_PAUSE: Duration = Duration::from_millis(100);

/// Arguments of `chaos bench imap`.
#[derive(Debug, Clone, Args)]
pub struct ImapArgs {
    /// IMAP listener to load (address:port); repeat (or separate with commas) to spread the
    /// sessions round-robin over several nodes.
    #[arg(long, required = true, value_delimiter = ',')]
    pub target: Vec<SocketAddr>,
    /// CLI listener used to create the benchmark accounts first.
    #[arg(long, requires = "password")]
    pub cli: Option<SocketAddr>,
    /// Postmaster password for the CLI.
    #[arg(long, requires = "cli")]
    pub password: Option<String>,
    /// Concurrent IMAP sessions.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..))]
    pub clients: u32,
    /// Accounts `bench1..benchN`; by default one per session.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub accounts: Option<u32>,
    /// Messages in each INBOX, appended before the load where missing.
    #[arg(long, default_value_t = 1000)]
    pub messages: u32,
    /// Size in octets of each appended message.
    #[arg(long, default_value_t = 4096)]
    pub size: usize,
    /// Seconds of load.
    #[arg(long, default_value_t = 30)]
    pub secs: u64,
}

impl ImapArgs {
    fn accounts(&self) -> u32 {
        self.accounts.unwrap_or(self.clients)
    }
}

/// What the load phase measured.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ImapReport {
    /// Latencies of the commands that succeeded, by command name, sorted ascending.
    pub latencies: BTreeMap<&'static str, Vec<Duration>>,
    /// Commands that failed.
    pub failed: u64,
    /// First few distinct failure lines.
    pub errors: Vec<String>,
    /// Duration of the load phase.
    pub elapsed: Duration,
}

impl ImapReport {
    /// Commands that succeeded.
    pub fn commands(&self) -> u64 {
        self.latencies.values().map(|l| l.len() as u64).sum()
    }

    /// Successful commands named `name`.
    pub fn count(&self, name: &str) -> u64 {
        self.latencies.get(name).map_or(0, |l| l.len() as u64)
    }

    /// The human summary: one line per command, then the totals.
    pub fn summary(&self) -> String {
        let mut lines = vec![format!(
            "{:<8} {:>9} {:>10} {:>10} {:>10}",
            "command", "count", "per s", "p50 ms", "p99 ms"
        )];
        for name in COMMANDS {
            let l = self.latencies.get(name).map_or(&[][..], Vec::as_slice);
            lines.push(format!(
                "{name:<8} {:>9} {:>10.1} {:>10} {:>10}",
                l.len(),
                rate(l.len() as u64, self.elapsed),
                millis(percentile(l, 50.0)),
                millis(percentile(l, 99.0)),
            ));
        }
        lines.push(format!(
            "total    {:>9} {:>10.1}   in {:.3} s, {} failed",
            self.commands(),
            rate(self.commands(), self.elapsed),
            self.elapsed.as_secs_f64(),
            self.failed
        ));
        lines.extend(self.errors.iter().map(|e| format!("  error: {e}")));
        lines.join("\n") + "\n"
    }

    /// The one-line JSON rendering, the stable interface for scripts.
    pub fn json(&self, args: &ImapArgs) -> String {
        let per_command: serde_json::Map<String, serde_json::Value> = COMMANDS
            .iter()
            .map(|&name| {
                let l = self.latencies.get(name).map_or(&[][..], Vec::as_slice);
                let ms = |p| percentile(l, p).map(|d| d.as_secs_f64() * 1000.0);
                let figures = json!({
                    "count": l.len(),
                    "per_sec": rate(l.len() as u64, self.elapsed),
                    "p50_ms": ms(50.0),
                    "p99_ms": ms(99.0),
                });
                (name.to_owned(), figures)
            })
            .collect();
        json!({
            "bench": "imap",
            "clients": args.clients,
            "accounts": args.accounts(),
            "messages": args.messages,
            "elapsed_secs": self.elapsed.as_secs_f64(),
            "commands": self.commands(),
            "commands_per_sec": rate(self.commands(), self.elapsed),
            "failed": self.failed,
            "per_command": per_command,
        })
        .to_string()
    }

    /// Runs `command`, recording its latency under `name` when it succeeds.
    async fn time<T>(
        &mut self,
        name: &'static str,
        command: impl Future<Output = Result<T>>,
    ) -> Result<T> {
        let started = Instant::now();
        let out = command.await?;
        self.latencies
            .entry(name)
            .or_default()
            .push(started.elapsed());
        Ok(out)
    }

    fn note_error(&mut self, line: String) {
        self.failed += 1;
        self.keep_error_line(line);
    }

    /// Keeps the first few distinct failure lines.
    fn keep_error_line(&mut self, line: String) {
        if self.errors.len() < MAX_ERROR_LINES && !self.errors.contains(&line) {
            self.errors.push(line);
        }
    }

    fn merge(&mut self, other: ImapReport) {
        for (name, mut l) in other.latencies {
            self.latencies.entry(name).or_default().append(&mut l);
        }
        self.failed += other.failed;
        other
            .errors
            .into_iter()
            .for_each(|e| self.keep_error_line(e));
    }
}

fn millis(d: Option<Duration>) -> String {
    d.map_or_else(
        || "-".to_owned(),
        |d| format!("{:.2}", d.as_secs_f64() * 1000.0),
    )
}

/// Runs the benchmark and prints its figures; failure when any command failed.
///
/// # Errors
/// Fails when setup or filling the INBOXes fails.
pub async fn run(args: ImapArgs) -> Result<ExitCode> {
    let report = measure(&args).await?;
    println!("{}", report.json(&args));
    Ok(if report.failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Runs setup, fill and load, prints the human summary, and returns the figures.
///
/// # Errors
/// Fails when setup or filling the INBOXes fails; the load itself never returns an error.
pub async fn measure(args: &ImapArgs) -> Result<ImapReport> {
    let run_id = run_id();
    println!(
        "chaos bench imap: run {run_id}, {} sessions on {} accounts of {} messages \
         ({} octets appended), {} s, {} target(s)",
        args.clients,
        args.accounts(),
        args.messages,
        args.size,
        args.secs,
        args.target.len()
    );
    if let (Some(addr), Some(password)) = (args.cli, args.password.as_deref()) {
        create_accounts(addr, password, args.accounts()).await?;
    }
    let filled = Instant::now();
    fill(args, &run_id).await?;
    println!(
        "fill         {} INBOXes of {} messages in {:.1} s",
        args.accounts(),
        args.messages,
        filled.elapsed().as_secs_f64()
    );
    let started = Instant::now();
    let deadline = started + Duration::from_secs(args.secs);
    let mut workers = JoinSet::new();
    for i in 0..args.clients {
        let target = args.target[i as usize % args.target.len()];
        let user = account(i % args.accounts() + 1);
        let session = Session {
            target,
            user,
            run_id: format!("{run_id}s{i}"),
            size: args.size,
        };
        workers.spawn(session.load(deadline));
    }
    let mut report = ImapReport::default();
    while let Some(done) = workers.join_next().await {
        match done {
            Ok(r) => report.merge(r),
            Err(e) => report.note_error(format!("session task: {e}")),
        }
    }
    report.elapsed = started.elapsed();
    for l in report.latencies.values_mut() {
        l.sort_unstable();
    }
    print!("{}", report.summary());
    Ok(report)
}

/// Appends to each account's INBOX until it holds `args.messages` messages.
async fn fill(args: &ImapArgs, run_id: &str) -> Result<()> {
    let accounts: Vec<u32> = (1..=args.accounts()).collect();
    for chunk in accounts.chunks(args.clients as usize) {
        let mut tasks = JoinSet::new();
        for &k in chunk {
            let target = args.target[(k - 1) as usize % args.target.len()];
            let (wanted, size, run_id) = (args.messages, args.size, format!("{run_id}f{k}"));
            tasks.spawn(async move {
                let user = account(k);
                let mut imap = ImapClient::connect(target).await?;
                imap.login(&user, ACCOUNT_PASSWORD).await?;
                let have = exists(&imap.command("SELECT INBOX").await?);
                for n in have..wanted {
                    let bytes = message(&run_id, u64::from(n), &user, size);
                    imap.append("INBOX", &bytes).await?;
                }
                imap.logout().await
            });
        }
        while let Some(done) = tasks.join_next().await {
            done.context("fill task")?.context("filling an INBOX")?;
        }
    }
    Ok(())
}

/// The count of the `* n EXISTS` line of a SELECT answer (0 without one).
fn exists(lines: &[String]) -> u32 {
    lines
        .iter()
        .filter_map(|l| l.strip_prefix("* ")?.strip_suffix(" EXISTS")?.parse().ok())
        .next_back()
        .unwrap_or(0)
}

/// One benchmark session.
struct Session {
    target: SocketAddr,
    user: String,
    run_id: String,
    size: usize,
}

impl Session {
    /// Repeats rounds until `deadline`, reconnecting after a failure.
    async fn load(self, deadline: Instant) -> ImapReport {
        let mut report = ImapReport::default();
        let mut round = 0u64;
        while Instant::now() < deadline {
            let mut imap = match self.connect().await {
                Ok(imap) => imap,
                Err(e) => {
                    report.note_error(format!("{}: {e:#}", self.user));
                    tokio::time::sleep(RECONNECT_PAUSE).await;
                    continue;
                }
            };
            while Instant::now() < deadline {
                round += 1;
                if let Err(e) = self.round(&mut imap, round, &mut report).await {
                    report.note_error(format!("{}: {e:#}", self.user));
                    tokio::time::sleep(RECONNECT_PAUSE).await;
                    break;
                }
            }
        }
        report
    }

    async fn connect(&self) -> Result<ImapClient> {
        let mut imap = ImapClient::connect(self.target).await?;
        imap.login(&self.user, ACCOUNT_PASSWORD).await?;
        Ok(imap)
    }

    /// One round of the reader's commands (see the module documentation).
    async fn round(
        &self,
        imap: &mut ImapClient,
        round: u64,
        report: &mut ImapReport,
    ) -> Result<()> {
        report.time("SELECT", imap.command("SELECT INBOX")).await?;
        let list = report.time("FETCH", imap.command(LIST_FETCH)).await?;
        let list: Vec<Fetched> = list.iter().filter_map(|l| parse_fetch(l)).collect();
        let (Some(oldest), Some(picked)) = (list.first(), pick(&list, round)) else {
            bail!("the INBOX is empty");
        };
        let subject = subject(&picked.literal).context("a message without Subject")?;
        let found = report
            .time(
                "SEARCH",
                imap.command(&format!("UID SEARCH SUBJECT \"{subject}\"")),
            )
            .await?;
        if !search_found(&found, picked.uid) {
            bail!(
                "UID SEARCH SUBJECT \"{subject}\" did not find UID {}",
                picked.uid
            );
        }
        let sign = if round % 2 == 1 { '+' } else { '-' };
        let store = format!("UID STORE {} {sign}FLAGS (\\Flagged)", picked.uid);
        report.time("STORE", imap.command(&store)).await?;
        let bytes = message(&self.run_id, round, &self.user, self.size);
        report.time("APPEND", imap.append("INBOX", &bytes)).await?;
        let delete = format!("UID STORE {} +FLAGS.SILENT (\\Deleted)", oldest.uid);
        report.time("STORE", imap.command(&delete)).await?;
        let expunge = format!("UID EXPUNGE {}", oldest.uid);
        report.time("EXPUNGE", imap.command(&expunge)).await?;
        Ok(())
    }
}

/// A message of the list for round `round`, spread over the whole list.
fn pick(list: &[Fetched], round: u64) -> Option<&Fetched> {
    let len = list.len() as u64;
    // The remainder is below the list's length, so it fits in usize.
    (len > 0).then(|| &list[usize::try_from(round.wrapping_mul(7919) % len).unwrap_or(0)])
}

/// The Subject of fetched header text (LF line ends), without quotes or backslashes, which
/// would need escaping in a quoted string.
fn subject(headers: &str) -> Option<String> {
    headers.lines().find_map(|l| {
        let value = l
            .get(..8)?
            .eq_ignore_ascii_case("subject:")
            .then(|| &l[8..])?;
        Some(value.trim().replace(['"', '\\'], ""))
    })
}

/// Whether a `UID SEARCH` answer lists `uid`.
fn search_found(lines: &[String], uid: u64) -> bool {
    lines
        .iter()
        .filter_map(|l| l.strip_prefix("* SEARCH"))
        .flat_map(str::split_whitespace)
        .any(|u| u.parse() == Ok(uid))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args() -> ImapArgs {
        ImapArgs {
            target: vec!["127.0.0.1:143".parse().expect("addr")],
            cli: None,
            password: None,
            clients: 2,
            accounts: None,
            messages: 1000,
            size: 4096,
            secs: 30,
        }
    }

    #[test]
    fn answers_are_read() {
        let lines = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            exists(&lines(&["* FLAGS ()", "* 1000 EXISTS", "* 0 RECENT"])),
            1000
        );
        assert_eq!(exists(&lines(&["* OK [UIDVALIDITY 3]"])), 0);
        assert!(search_found(&lines(&["* SEARCH 4 17 170"]), 17));
        assert!(!search_found(&lines(&["* SEARCH 4 170"]), 17));
        assert!(!search_found(&lines(&["* SEARCH"]), 17));
        let headers = "From: <a@b>\nSUBJECT: bench \"r1\" 7\n\n";
        assert_eq!(subject(headers).as_deref(), Some("bench r1 7"));
        assert_eq!(subject("From: <a@b>\n\n"), None);
    }

    #[test]
    fn picks_spread_over_the_list() {
        let list: Vec<Fetched> = (1..=10)
            .map(|uid| Fetched {
                uid,
                ..Fetched::default()
            })
            .collect();
        let picked: std::collections::HashSet<u64> = (0..10)
            .filter_map(|r| pick(&list, r))
            .map(|f| f.uid)
            .collect();
        assert_eq!(picked.len(), 10, "7919 is prime to 10: every message once");
        assert!(pick(&[], 3).is_none());
    }

    #[test]
    fn report_lists_every_command_and_renders_json() {
        let mut report = ImapReport {
            elapsed: Duration::from_secs(2),
            ..ImapReport::default()
        };
        report.latencies.insert(
            "FETCH",
            vec![Duration::from_millis(3), Duration::from_millis(5)],
        );
        report.note_error("bench1: IMAP SELECT: NO".to_owned());
        report.note_error("bench1: IMAP SELECT: NO".to_owned());
        assert_eq!(
            (report.commands(), report.count("FETCH"), report.failed),
            (2, 2, 2)
        );
        assert_eq!(report.errors.len(), 1, "the same line is kept once");
        let summary = report.summary();
        for name in COMMANDS {
            assert!(summary.contains(name), "{summary}");
        }
        let json: serde_json::Value =
            serde_json::from_str(&report.json(&args())).expect("valid JSON");
        assert_eq!(json["bench"], "imap");
        assert_eq!(json["accounts"], 2);
        assert_eq!(json["commands_per_sec"], 1.0);
        assert_eq!(json["per_command"]["FETCH"]["p99_ms"], 5.0);
        assert_eq!(json["per_command"]["APPEND"]["count"], 0);
        assert!(json["per_command"]["APPEND"]["p50_ms"].is_null());
    }
}
