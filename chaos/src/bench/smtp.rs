//! `chaos bench smtp`: SMTP acceptance throughput and latency, and optionally
//! accepted-to-delivered throughput watched over POP3.
//!
//! Phases, in order:
//! 1. setup (with `--cli`): create `bench1..benchN` with password [`ACCOUNT_PASSWORD`];
//! 2. baseline (with `--pop3`): record each account's message count so re-runs against a
//!    non-empty server still measure correctly;
//! 3. sending: `--concurrency` workers share one message counter; by default each message uses
//!    a new connection, as Postfix's `smtp-source` does (RFC 5321 §3.3 mail transaction, no
//!    pipelining); with several `--target`s, message `n` opens its connection to target
//!    `n mod T`, so the load is spread evenly over the nodes of a cluster;
//! 4. delivery (with `--pop3`): poll STAT of the accounts still short of their expected count
//!    until every accepted message is seen or the deadline passes. With several `--pop3`
//!    addresses, account `k` is always counted through address `(k - 1) mod P` (a session on a
//!    member that does not hold the account is handed to the holder, so any member will do).
//!
//! A message counts as accepted only on a `250` after the end of DATA (RFC 5321 §4.1.1.4);
//! every other outcome is a failure, and the first few distinct failure lines are printed.
//! Latency runs from the connect (or from MAIL on a reused connection) to that `250`.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use clap::Args;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::message::{SENDER, message};
use super::report::{Delivery, Report, percentile};
use crate::client::cli::{CliClient, quote};
use crate::client::pop3::{Stat, stat_once};
use crate::client::smtp::{Reply, SmtpClient};

/// Password given to every benchmark account.
pub const ACCOUNT_PASSWORD: &str = "benchpw";

/// The EHLO domain of the benchmark client.
const EHLO_DOMAIN: &str = "bench.test";

/// POP3 sessions open at once while counting; each login costs a password hash on the server,
/// so counting must not compete with the load being measured.
const POP3_CONCURRENCY: usize = 8;

/// Interval between two delivery polls.
const POLL_INTERVAL: Duration = Duration::from_millis(200);

/// Interval between two progress lines while waiting for delivery.
const PROGRESS_INTERVAL: Duration = Duration::from_secs(5);

/// Distinct failure lines kept for the summary.
const MAX_ERROR_LINES: usize = 5;

/// Arguments of `chaos bench smtp`.
#[derive(Debug, Clone, Args)]
pub struct SmtpArgs {
    /// SMTP listener to load (address:port); repeat (or separate with commas) to spread the
    /// messages round-robin over several nodes.
    #[arg(long, required = true, value_delimiter = ',')]
    pub target: Vec<SocketAddr>,
    /// POP3 listener used to watch delivery (repeatable, accounts spread over them); without it
    /// only acceptance is measured.
    #[arg(long, value_delimiter = ',')]
    pub pop3: Vec<SocketAddr>,
    /// CLI listener used to create the benchmark accounts before sending.
    #[arg(long, requires = "password")]
    pub cli: Option<SocketAddr>,
    /// Postmaster password for the CLI.
    #[arg(long, requires = "cli")]
    pub password: Option<String>,
    /// Domain of the recipient addresses (the server's main domain).
    #[arg(long, default_value = "example.test")]
    pub domain: String,
    /// The load itself.
    #[command(flatten)]
    pub load: Load,
}

/// The load of an SMTP benchmark, shared by `chaos bench smtp` and `chaos bench cluster`.
#[derive(Debug, Clone, Args)]
pub struct Load {
    /// Messages to send.
    #[arg(long, default_value_t = 10_000)]
    pub messages: u64,
    /// Size of each message in octets, headers included.
    #[arg(long, default_value_t = 4096)]
    pub size: usize,
    /// Concurrent SMTP workers.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..))]
    pub concurrency: u32,
    /// Recipient accounts `bench1..benchN`, used round-robin.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..))]
    pub accounts: u32,
    /// Messages sent per SMTP connection before QUIT.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    pub per_connection: u32,
    /// How long to wait, after sending, for every accepted message to be delivered.
    #[arg(long, default_value_t = 300)]
    pub wait_delivery_secs: u64,
}

/// Runs the benchmark and prints its figures.
///
/// Returns failure when a message failed or delivery did not complete.
///
/// # Errors
/// Fails when setup or the POP3 baseline fails; the load itself never returns an error.
pub async fn run(args: SmtpArgs) -> Result<ExitCode> {
    let report = measure(&args, &mut |_| {}).await?;
    println!("{}", report.json());
    Ok(if report.is_success() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// A moment of a run, for callers that sample something (CPU time) around the phases.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Setup and baseline are done; sending starts.
    Sending,
    /// Sending is done; waiting for delivery starts (also when delivery is not watched).
    Sent,
    /// Delivery is complete or the wait gave up.
    Done,
}

/// Runs the benchmark, prints the human summary, and returns the figures (no JSON line).
/// `phase` is called as each [`Phase`] begins.
///
/// # Errors
/// Fails when setup or the POP3 baseline fails; the load itself never returns an error.
pub async fn measure(args: &SmtpArgs, phase: &mut dyn FnMut(Phase)) -> Result<Report> {
    let run_id = run_id();
    let load = &args.load;
    println!(
        "chaos bench smtp: run {run_id}, {} messages of {} octets to {} accounts @{}, \
         concurrency {}, {} per connection, {} target(s)",
        load.messages,
        load.size,
        load.accounts,
        args.domain,
        load.concurrency,
        load.per_connection,
        args.target.len()
    );
    if let (Some(addr), Some(password)) = (args.cli, args.password.as_deref()) {
        create_accounts(addr, password, load.accounts).await?;
        println!("setup        {} accounts ready", load.accounts);
    }
    let baseline = if args.pop3.is_empty() {
        None
    } else {
        Some(baseline(&args.pop3, load.accounts).await?)
    };

    phase(Phase::Sending);
    let started = Instant::now();
    let sent = send_all(args, &run_id).await?;
    phase(Phase::Sent);
    let mut report = Report {
        messages: load.messages,
        accepted: sent.accepted,
        failed: sent.failed,
        elapsed: started.elapsed(),
        p50: percentile(&sent.latencies, 50.0),
        p99: percentile(&sent.latencies, 99.0),
        delivery: None,
    };
    print!("{}", report.sending_summary());
    if args.target.len() > 1 {
        let per: Vec<String> = sent.per_target.iter().map(u64::to_string).collect();
        println!("per target   {} accepted", per.join(" / "));
    }
    for line in &sent.errors {
        println!("  error: {line}");
    }

    if let Some(baseline) = baseline {
        let wait = Duration::from_secs(load.wait_delivery_secs);
        let delivery = wait_delivery(&args.pop3, &baseline, &sent.per_account, started, wait).await;
        report.delivery = Some(delivery);
    }
    phase(Phase::Done);
    if let Some(summary) = report.delivery_summary() {
        print!("{summary}");
    }
    Ok(report)
}

/// The index used for number `n` among `len` (round-robin); `len` must not be 0.
fn round_robin(n: u64, len: usize) -> usize {
    // The remainder is below `len`, so it fits in usize.
    usize::try_from(n % len as u64).unwrap_or(0)
}

/// A short id unique to this run, for Message-IDs.
pub(crate) fn run_id() -> String {
    let millis = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    format!("{millis:x}{:x}", std::process::id())
}

/// The local part of account `k` (1-based).
pub(crate) fn account(k: u32) -> String {
    format!("bench{k}")
}

/// The 1-based account that receives message `n` (0-based).
fn account_of(n: u64, accounts: u32) -> u32 {
    // The remainder is below `accounts`, so it fits.
    u32::try_from(n % u64::from(accounts)).unwrap_or(0) + 1
}

/// Creates `bench1..benchN` over the CLI and sets their passwords. An account that already
/// exists is reused, so re-runs work.
pub(crate) async fn create_accounts(addr: SocketAddr, password: &str, accounts: u32) -> Result<()> {
    let mut cli = CliClient::connect(addr).await.context("CLI connect")?;
    cli.login("postmaster", password).await?;
    for k in 1..=accounts {
        let name = quote(&account(k));
        let create = format!("CreateAccount {name}");
        let reply = cli.command(&create).await?;
        let exists = reply.code == 501 && reply.text.contains("already exists");
        if !reply.is_ok() && !exists {
            bail!("CLI {create}: {reply}");
        }
        let set = format!(
            "SetAccountPassword {name} PASSWORD {}",
            quote(ACCOUNT_PASSWORD)
        );
        let reply = cli.command(&set).await?;
        if !reply.is_ok() {
            bail!("CLI {set}: {reply}");
        }
    }
    cli.quit().await
}

/// Each account's current message count, index `k - 1`.
async fn baseline(addrs: &[SocketAddr], accounts: u32) -> Result<Vec<u64>> {
    let all: Vec<u32> = (1..=accounts).collect();
    let mut counts = vec![None; all.len()];
    for (k, stat, _) in stat_accounts(addrs, &all).await {
        let stat = stat.with_context(|| format!("POP3 baseline of {}", account(k)))?;
        counts[k as usize - 1] = Some(stat.count);
    }
    counts
        .into_iter()
        .zip(1..)
        .map(|(count, k)| {
            count.with_context(|| format!("POP3 baseline of {}: task lost", account(k)))
        })
        .collect()
}

/// STATs each account in `ks` (account `k` through `addrs[(k - 1) mod P]`), a few at a time.
/// Each result carries the moment it arrived.
async fn stat_accounts(addrs: &[SocketAddr], ks: &[u32]) -> Vec<(u32, Result<Stat>, Instant)> {
    let permits = Arc::new(Semaphore::new(POP3_CONCURRENCY));
    let mut tasks = JoinSet::new();
    for &k in ks {
        let addr = addrs[round_robin(u64::from(k - 1), addrs.len())];
        let permits = Arc::clone(&permits);
        tasks.spawn(async move {
            // The semaphore is never closed, so acquiring cannot fail.
            let _permit = permits.acquire_owned().await;
            let stat = stat_once(addr, &account(k), ACCOUNT_PASSWORD).await;
            (k, stat, Instant::now())
        });
    }
    let mut out = Vec::with_capacity(ks.len());
    while let Some(joined) = tasks.join_next().await {
        if let Ok(result) = joined {
            out.push(result);
        }
    }
    out
}

/// Everything the sending workers share; read-only but for the message counter.
struct Plan {
    targets: Vec<SocketAddr>,
    domain: String,
    run_id: String,
    messages: u64,
    size: usize,
    accounts: u32,
    per_connection: u32,
    next: AtomicU64,
}

/// What the sending phase produced.
#[derive(Debug, Default)]
struct Sent {
    accepted: u64,
    failed: u64,
    /// Latencies of accepted messages, sorted ascending once merged.
    latencies: Vec<Duration>,
    /// First few distinct failure lines.
    errors: Vec<String>,
    /// Accepted messages per account, index `k - 1`.
    per_account: Vec<u64>,
    /// Accepted messages per target, in `--target` order.
    per_target: Vec<u64>,
}

impl Sent {
    fn new(accounts: u32, targets: usize) -> Self {
        Self {
            per_account: vec![0; accounts as usize],
            per_target: vec![0; targets],
            ..Self::default()
        }
    }

    fn note_error(&mut self, line: String) {
        if self.errors.len() < MAX_ERROR_LINES && !self.errors.contains(&line) {
            self.errors.push(line);
        }
    }

    fn merge(&mut self, other: Sent) {
        self.accepted += other.accepted;
        self.failed += other.failed;
        self.latencies.extend(other.latencies);
        for line in other.errors {
            self.note_error(line);
        }
        for (total, n) in self.per_account.iter_mut().zip(other.per_account) {
            *total += n;
        }
        for (total, n) in self.per_target.iter_mut().zip(other.per_target) {
            *total += n;
        }
    }
}

/// Sends all messages through `args.concurrency` workers.
async fn send_all(args: &SmtpArgs, run_id: &str) -> Result<Sent> {
    let load = &args.load;
    if args.target.is_empty() {
        bail!("no --target");
    }
    let plan = Arc::new(Plan {
        targets: args.target.clone(),
        domain: args.domain.clone(),
        run_id: run_id.to_owned(),
        messages: load.messages,
        size: load.size,
        accounts: load.accounts,
        per_connection: load.per_connection,
        next: AtomicU64::new(0),
    });
    let mut workers = JoinSet::new();
    for _ in 0..load.concurrency {
        workers.spawn(worker(Arc::clone(&plan)));
    }
    let mut sent = Sent::new(load.accounts, args.target.len());
    while let Some(joined) = workers.join_next().await {
        sent.merge(joined.context("SMTP worker panicked")?);
    }
    sent.latencies.sort_unstable();
    Ok(sent)
}

/// Why one message was not accepted.
enum Failure {
    /// The server answered with an unexpected reply; the connection is still usable for QUIT.
    Reply(String),
    /// The connection broke or timed out.
    Io(String),
}

/// One sending worker: claims message numbers until none are left. A new connection for
/// message `n` goes to target `n mod T`; a reused one stays with its target.
async fn worker(plan: Arc<Plan>) -> Sent {
    let mut sent = Sent::new(plan.accounts, plan.targets.len());
    let mut open: Option<(SmtpClient, u32, usize)> = None;
    loop {
        let n = plan.next.fetch_add(1, Ordering::Relaxed);
        if n >= plan.messages {
            break;
        }
        let k = account_of(n, plan.accounts);
        let started = Instant::now();
        let (mut client, used, t) = match open.take() {
            Some(conn) => conn,
            None => {
                let t = round_robin(n, plan.targets.len());
                match connect(plan.targets[t]).await {
                    Ok(client) => (client, 0, t),
                    Err(failure) => {
                        record_failure(&mut sent, failure);
                        continue;
                    }
                }
            }
        };
        match transaction(&mut client, &plan, n, k).await {
            Ok(()) => {
                sent.accepted += 1;
                sent.latencies.push(started.elapsed());
                sent.per_account[k as usize - 1] += 1;
                sent.per_target[t] += 1;
                if used + 1 >= plan.per_connection {
                    quit(client).await;
                } else {
                    open = Some((client, used + 1, t));
                }
            }
            Err(failure) => {
                if matches!(failure, Failure::Reply(_)) {
                    quit(client).await;
                }
                record_failure(&mut sent, failure);
            }
        }
    }
    if let Some((client, _, _)) = open {
        quit(client).await;
    }
    sent
}

fn record_failure(sent: &mut Sent, failure: Failure) {
    sent.failed += 1;
    let (Failure::Reply(line) | Failure::Io(line)) = failure;
    sent.note_error(line);
}

/// Connects, expects 220 and says EHLO.
async fn connect(target: SocketAddr) -> Result<SmtpClient, Failure> {
    let (mut client, greeting) = SmtpClient::connect(target)
        .await
        .map_err(|e| Failure::Io(format!("connect and greeting: {e:#}")))?;
    expect("greeting", &greeting, 220)?;
    let reply = step(&mut client, "EHLO", &format!("EHLO {EHLO_DOMAIN}")).await?;
    expect("EHLO", &reply, 250)?;
    Ok(client)
}

/// One mail transaction (RFC 5321 §3.3): MAIL, RCPT, DATA, message, `250`.
async fn transaction(client: &mut SmtpClient, plan: &Plan, n: u64, k: u32) -> Result<(), Failure> {
    let rcpt = format!("{}@{}", account(k), plan.domain);
    let reply = step(client, "MAIL", &format!("MAIL FROM:<{SENDER}>")).await?;
    expect("MAIL", &reply, 250)?;
    let reply = step(client, "RCPT", &format!("RCPT TO:<{rcpt}>")).await?;
    // RFC 5321 §4.2.2: 251 "will forward" is also a success.
    if reply.code != 251 {
        expect("RCPT", &reply, 250)?;
    }
    let reply = step(client, "DATA", "DATA").await?;
    expect("DATA", &reply, 354)?;
    let body = message(&plan.run_id, n, &rcpt, plan.size);
    let reply = client
        .data(&body)
        .await
        .map_err(|e| Failure::Io(format!("end of DATA: {e:#}")))?;
    expect("end of DATA", &reply, 250)
}

async fn step(client: &mut SmtpClient, stage: &str, line: &str) -> Result<Reply, Failure> {
    client
        .command(line)
        .await
        .map_err(|e| Failure::Io(format!("{stage}: {e:#}")))
}

fn expect(stage: &str, reply: &Reply, code: u16) -> Result<(), Failure> {
    if reply.code == code {
        Ok(())
    } else {
        Err(Failure::Reply(format!("{stage}: {reply}")))
    }
}

/// Sends QUIT and waits for its reply; the message is already accepted or failed, so errors
/// here change no figure.
async fn quit(mut client: SmtpClient) {
    let _ = client.command("QUIT").await;
}

/// Polls the maildrops until every accepted message is seen or `wait` has passed since sending
/// ended. Only accounts still short of their expected count are polled.
async fn wait_delivery(
    addrs: &[SocketAddr],
    baseline: &[u64],
    expected: &[u64],
    started: Instant,
    wait: Duration,
) -> Delivery {
    let deadline = Instant::now() + wait;
    let total: u64 = expected.iter().sum();
    let mut seen = vec![0_u64; expected.len()];
    let mut last_increase = started;
    let mut last_error: Option<String> = None;
    let mut next_progress = Instant::now() + PROGRESS_INTERVAL;
    let mut delivered = 0;
    while delivered < total {
        let round = Instant::now();
        let pending: Vec<u32> = (1..)
            .zip(seen.iter().zip(expected))
            .filter(|(_, (s, e))| s < e)
            .map(|(k, _)| k)
            .collect();
        for (k, stat, at) in stat_accounts(addrs, &pending).await {
            let i = k as usize - 1;
            match stat {
                Ok(stat) => {
                    let arrived = stat.count.saturating_sub(baseline[i]).min(expected[i]);
                    if arrived > seen[i] {
                        seen[i] = arrived;
                        last_increase = last_increase.max(at);
                    }
                }
                Err(e) => last_error = Some(format!("{}: {e:#}", account(k))),
            }
        }
        delivered = seen.iter().sum();
        let now = Instant::now();
        if delivered >= total || now >= deadline {
            break;
        }
        if now >= next_progress {
            eprintln!("waiting for delivery: {delivered} of {total}");
            next_progress = now + PROGRESS_INTERVAL;
        }
        tokio::time::sleep_until((round + POLL_INTERVAL).min(deadline)).await;
    }
    if delivered < total
        && let Some(e) = last_error
    {
        eprintln!("last POP3 error: {e}");
    }
    Delivery {
        delivered,
        complete: delivered >= total,
        elapsed: last_increase - started,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recipients_round_robin_from_bench1() {
        let ks: Vec<u32> = (0..5).map(|n| account_of(n, 3)).collect();
        assert_eq!(ks, [1, 2, 3, 1, 2]);
        assert_eq!(account_of(99, 100), 100);
    }

    #[test]
    fn targets_round_robin_per_message() {
        let ts: Vec<usize> = (0..7).map(|n| round_robin(n, 3)).collect();
        assert_eq!(ts, [0, 1, 2, 0, 1, 2, 0]);
        assert_eq!(round_robin(5, 1), 0);
    }

    #[test]
    fn several_targets_parse() {
        use clap::Parser;
        #[derive(Parser)]
        struct Cli {
            #[command(flatten)]
            smtp: SmtpArgs,
        }
        let cli = Cli::parse_from([
            "x",
            "--target",
            "127.0.0.1:25",
            "--target",
            "127.0.0.1:26,127.0.0.1:27",
            "--pop3",
            "127.0.0.1:110",
        ]);
        assert_eq!(cli.smtp.target.len(), 3);
        assert_eq!(cli.smtp.target[2].port(), 27);
        assert_eq!(cli.smtp.pop3.len(), 1);
        assert_eq!(cli.smtp.load.messages, 10_000);
    }

    #[test]
    fn merge_keeps_a_few_distinct_errors() {
        let mut total = Sent::new(2, 3);
        for i in 0..10 {
            let mut part = Sent::new(2, 3);
            part.failed = 1;
            part.per_account[1] = 1;
            part.per_target[i % 3] = 1;
            part.note_error(format!("RCPT: 550 no such user {}", i % 7));
            part.note_error(format!("RCPT: 550 no such user {}", i % 7));
            total.merge(part);
        }
        assert_eq!(total.failed, 10);
        assert_eq!(total.per_account, [0, 10]);
        assert_eq!(total.per_target, [4, 3, 3]);
        assert_eq!(total.errors.len(), MAX_ERROR_LINES);
        assert_eq!(total.errors[0], "RCPT: 550 no such user 0");
    }
}
