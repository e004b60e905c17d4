//! `chaos run`: start a cluster of real `mailnode` processes, load it through the public
//! protocols while a seeded nemesis kills, pauses and restarts nodes, heal, let the queue
//! drain, and judge the recorded history against `DESIGN.md` §5 (see [`check`]).
//!
//! Phases: prepare (ports, configs, one partition proxy per node in front of its cluster port,
//! see [`proxy`]) → start (node 1 bootstraps, the others join) → setup (accounts through the
//! CLI) → workload (SMTP senders, POP3 and IMAP readers/flaggers/expungers, directory writer) +
//! nemesis for `--duration` → heal (every node running and not stopped, network healed) →
//! lease check (every account opens through every node within [`LEASE_LIMIT`]) → post-heal
//! probes on every node → drain (poll every mailbox until every
//! acknowledged message is there and counts settle, bounded) → final reads of every mailbox
//! through every node → check → `history.jsonl`, `report.json`, summary.
//!
//! Everything random comes from `--seed`; the seed is printed first and last.

pub mod check;
pub mod cluster;
pub mod history;
pub mod nemesis;
pub mod proxy;
pub mod workload;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use clap::Args;
use rand::SeedableRng;
use rand::rngs::StdRng;
use tokio::sync::Mutex;
use tokio::task::JoinSet;
use tokio::time::{Instant, sleep};

use self::check::{Violation, check};
use self::cluster::Cluster;
use self::history::{FaultKind, History, Outcome};
use self::workload::{ACCOUNTS, Ctx, EXPUNGER, cli_command, password};
use crate::client::cli::quote;

/// Arguments of `chaos run`.
#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// Cluster size.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=9))]
    pub nodes: u32,
    /// Workload duration: `60s`, `2m`, or seconds.
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    pub duration: Duration,
    /// Seed of every random choice; default: from the clock (printed).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Fault kinds, comma-separated: kill, pause, restart, partition, clock, disk, kill-leader,
    /// pause-leader, partition-leader (empty: none).
    #[arg(long, default_value = "kill,pause,restart", value_parser = parse_faults)]
    pub faults: FaultList,
    /// Output folder (history, report, node logs and data); default `chaos-runs/seed-N-TIME`.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// The `mailnode` binary; default: `mailnode` beside this executable.
    #[arg(long)]
    pub mailnode: Option<PathBuf>,
    /// SMTP sender workers.
    #[arg(long, default_value_t = 4)]
    pub senders: u32,
    /// POP3 reader workers.
    #[arg(long, default_value_t = 2)]
    pub readers: u32,
    /// IMAP reader/flagger workers (with them, one IMAP expunger; 0: no IMAP).
    #[arg(long, default_value_t = 2)]
    pub imap_readers: u32,
    /// Longest wait for the queue to drain after healing, in seconds.
    #[arg(long, default_value_t = 120)]
    pub drain_secs: u64,
}

/// Arguments of `chaos upgrade`: a rolling restart of every node, one at a time, under the
/// workload of `chaos run`, judged by the same checker. `--faults` is ignored.
#[derive(Debug, Clone, Args)]
pub struct UpgradeArgs {
    /// The run's settings; `--mailnode` is the binary the cluster starts with.
    #[command(flatten)]
    pub run: RunArgs,
    /// The binary each node is restarted with; default: the same one (a rolling restart).
    #[arg(long)]
    pub to: Option<PathBuf>,
}

/// Runs a rolling upgrade scenario. Exit codes as [`run`].
///
/// # Errors
/// As [`run`].
pub async fn upgrade(args: UpgradeArgs) -> Result<ExitCode> {
    let to = match args.to {
        Some(p) => p,
        None => match &args.run.mailnode {
            Some(p) => p.clone(),
            None => default_mailnode()?,
        },
    };
    run_scenario(args.run, Some(to)).await
}

/// A parsed `--faults` list.
#[derive(Debug, Clone, Default)]
pub struct FaultList(pub Vec<FaultKind>);

fn parse_faults(s: &str) -> std::result::Result<FaultList, String> {
    let mut out = Vec::new();
    for word in s.split(',').map(str::trim).filter(|w| !w.is_empty()) {
        let Some(kind) = FaultKind::CHOICES.into_iter().find(|k| k.name() == word) else {
            let names: Vec<&str> = FaultKind::CHOICES.iter().map(|k| k.name()).collect();
            return Err(format!("unknown fault {word:?} ({})", names.join(", ")));
        };
        if !out.contains(&kind) {
            out.push(kind);
        }
    }
    Ok(FaultList(out))
}

fn parse_duration(s: &str) -> std::result::Result<Duration, String> {
    let s = s.trim();
    let (num, unit) = match s.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => s.split_at(i),
        None => (s, "s"),
    };
    let n: u64 = num.parse().map_err(|_| format!("bad duration {s:?}"))?;
    let secs = match unit {
        "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        _ => return Err(format!("bad duration unit in {s:?} (s, m, h)")),
    };
    Ok(Duration::from_secs(secs))
}

fn default_mailnode() -> Result<PathBuf> {
    let exe = std::env::current_exe().context("current executable")?;
    let path = exe.with_file_name("mailnode");
    if !path.exists() {
        bail!(
            "{} not found; build it (cargo build -p node --bin mailnode) or pass --mailnode",
            path.display()
        );
    }
    Ok(path)
}

/// Runs one chaos scenario. Exit 0: no violation; 1: violations; errors: setup failed.
///
/// # Errors
/// Fails when the cluster cannot be started or set up.
pub async fn run(args: RunArgs) -> Result<ExitCode> {
    run_scenario(args, None).await
}

async fn run_scenario(args: RunArgs, upgrade_to: Option<PathBuf>) -> Result<ExitCode> {
    let seed = args.seed.unwrap_or_else(|| {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(1, |d| d.as_secs())
    });
    let stamp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("chaos-runs/seed-{seed}-{stamp}")));
    let root = out.join("cluster");
    if root.exists() {
        bail!("{} exists; choose a fresh --out", root.display());
    }
    std::fs::create_dir_all(&root).with_context(|| format!("create {}", root.display()))?;
    let mailnode = match &args.mailnode {
        Some(p) => p.clone(),
        None => default_mailnode()?,
    };
    let nodes = usize::try_from(args.nodes)?;
    let kinds: Vec<&str> = if upgrade_to.is_some() {
        vec!["upgrade (rolling SIGTERM + start)"]
    } else {
        args.faults.0.iter().map(|k| k.name()).collect()
    };
    println!(
        "chaos run: seed {seed}, {nodes} nodes, {:?}, faults [{}], out {}",
        args.duration,
        kinds.join(","),
        out.display()
    );

    let options = cluster::Options {
        fault_hooks: args
            .faults
            .0
            .iter()
            .any(|k| matches!(k, FaultKind::Clock | FaultKind::Disk)),
        ..cluster::Options::default()
    };
    let mut cluster = Cluster::prepare_with(nodes, &root, mailnode, &options)?;
    let rolling = upgrade_to.is_some();
    cluster.upgrade_to = upgrade_to;
    if let Err(e) = cluster.start_all().await {
        cluster.shutdown().await;
        return Err(e.context("starting the cluster"));
    }
    println!("cluster      {nodes} nodes ready");
    let cluster = Arc::new(Mutex::new(cluster));
    let result = scenario(&args, seed, nodes, &out, cluster.clone(), rolling).await;
    cluster.lock().await.shutdown().await;
    let code = result?;
    println!("seed {seed}; history and report in {}", out.display());
    Ok(code)
}

async fn setup_accounts(ctx: &Ctx) -> Result<()> {
    let mut names: Vec<&str> = ACCOUNTS.to_vec();
    names.push(EXPUNGER);
    for name in names {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let line = format!(
                "CreateAccount {} {{Password={};}}",
                quote(name),
                quote(&password(name))
            );
            match cli_command(ctx.nodes[0].cli, &line).await {
                Ok(r) if r.is_ok() => break,
                // A retried create whose first attempt went through.
                Ok(r) if r.text.contains("already exists") => break,
                other => {
                    if Instant::now() >= deadline {
                        bail!("creating account {name}: {other:?}");
                    }
                    sleep(Duration::from_millis(500)).await;
                }
            }
        }
    }
    Ok(())
}

#[allow(clippy::too_many_lines)]
async fn scenario(
    args: &RunArgs,
    seed: u64,
    nodes: usize,
    out: &std::path::Path,
    cluster: Arc<Mutex<Cluster>>,
    rolling: bool,
) -> Result<ExitCode> {
    let addrs = cluster.lock().await.addrs();
    let setup_ctx = Ctx {
        seed,
        nodes: addrs.clone(),
        history: History::new(),
        deadline: Instant::now(),
    };
    setup_accounts(&setup_ctx).await?;
    println!("setup        {} accounts created", ACCOUNTS.len() + 1);

    let begin = Instant::now();
    let ctx = Arc::new(Ctx {
        seed,
        nodes: addrs,
        history: History::new(),
        deadline: begin + args.duration,
    });
    let mut plan_rng = StdRng::seed_from_u64(seed);
    let plan = if rolling {
        nemesis::rolling(nodes, args.duration)
    } else {
        nemesis::plan(&mut plan_rng, &args.faults.0, nodes, args.duration)
    };
    println!("workload     {} faults planned", plan.len());
    let mut tasks = JoinSet::new();
    for i in 1..=args.senders {
        tasks.spawn(workload::sender(ctx.clone(), format!("send-{i}")));
    }
    for i in 1..=args.readers {
        tasks.spawn(workload::reader(ctx.clone(), format!("read-{i}")));
    }
    tasks.spawn(workload::expunger(ctx.clone(), "expunge".into()));
    for i in 1..=args.imap_readers {
        tasks.spawn(workload::imap_reader(ctx.clone(), format!("imap-{i}")));
    }
    if args.imap_readers > 0 {
        tasks.spawn(workload::imap_expunger(ctx.clone(), "imap-expunge".into()));
    }
    tasks.spawn(workload::directory(ctx.clone(), "directory".into()));
    let nemesis = tokio::spawn(nemesis::run(ctx.clone(), cluster.clone(), plan, begin));
    // Workers stop at the deadline; each operation is bounded, so this ends.
    while tasks.join_next().await.is_some() {}
    let mut problems: Vec<Violation> = Vec::new();
    match nemesis.await {
        Ok(p) => problems.extend(p.into_iter().map(|detail| Violation { check: 6, detail })),
        Err(e) => problems.push(Violation {
            check: 6,
            detail: format!("nemesis task: {e}"),
        }),
    }
    println!("workload     done after {:?}", begin.elapsed());

    // Heal: the network whole, every node running, not stopped and ready.
    let net = cluster.lock().await.net.clone();
    net.heal();
    for (node, e) in cluster.lock().await.wait_all_ready().await {
        problems.push(Violation {
            check: 6,
            detail: format!("node{node} does not restart after healing: {e:#}"),
        });
    }
    println!("heal         all nodes running, network healed");

    // Leases: every account opens (POP3) through every node within LEASE_LIMIT of the heal.
    let mut accounts: Vec<&'static str> = ACCOUNTS.to_vec();
    accounts.push(EXPUNGER);
    let (lease_ms, lease_problems) = lease_check(&ctx, nodes, &accounts).await;
    println!(
        "leases       every account opened through every node {} ms after healing{}",
        lease_ms,
        if lease_problems.is_empty() {
            String::new()
        } else {
            format!(" ({} failed)", lease_problems.len())
        }
    );
    problems.extend(
        lease_problems
            .into_iter()
            .map(|detail| Violation { check: 6, detail }),
    );

    // Check 6: every node serves SMTP, the CLI (with an immediate read elsewhere) and POP3.
    for node in 1..=nodes {
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut n = 0;
        loop {
            n += 1;
            let token = format!("s{seed}-heal-{node}-{n}");
            let ok =
                workload::send_recorded(&ctx, "heal", node, token, vec![ACCOUNTS[0].to_owned()])
                    .await;
            if ok == Outcome::Ok {
                break;
            }
            if Instant::now() >= deadline {
                problems.push(Violation {
                    check: 6,
                    detail: format!("node{node} does not accept SMTP 30 s after healing"),
                });
                break;
            }
            sleep(Duration::from_secs(1)).await;
        }
        let other = node % nodes + 1;
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut n = 0;
        loop {
            n += 1;
            let outcome = workload::create_and_probe(
                &ctx,
                "heal",
                node,
                other,
                other,
                format!("heal{node}x{n}"),
            )
            .await;
            if outcome == Outcome::Ok {
                break;
            }
            if Instant::now() >= deadline {
                problems.push(Violation {
                    check: 6,
                    detail: format!("node{node} does not create accounts 30 s after healing"),
                });
                break;
            }
            sleep(Duration::from_secs(1)).await;
        }
    }
    println!("probes       every node answered");

    // Drain: poll every mailbox (rotating nodes) until every acknowledged message is there and
    // the counts stopped changing.
    let drain_deadline = Instant::now() + Duration::from_secs(args.drain_secs);
    let mut previous: Option<Vec<usize>> = None;
    let mut round = 0usize;
    loop {
        round += 1;
        let node = round % nodes + 1;
        let mut counts = Vec::new();
        let mut complete = true;
        let expected = expected_present(&ctx.history.snapshot());
        let listings = read_all(&ctx, "drain", node, &accounts, Duration::from_secs(15)).await;
        let mut missing = Vec::new();
        for (account, listing) in accounts.iter().zip(listings) {
            match listing {
                Some(l) => {
                    let have: std::collections::HashSet<&str> =
                        l.iter().filter_map(|e| e.token.as_deref()).collect();
                    let absent = expected.get(*account).map_or(0, |want| {
                        want.iter().filter(|t| !have.contains(t.as_str())).count()
                    });
                    if absent > 0 {
                        complete = false;
                        missing.push(format!("{account} {absent} missing"));
                    }
                    counts.push(l.len());
                }
                None => {
                    complete = false;
                    missing.push(format!("{account} unreadable on node{node}"));
                    counts.push(usize::MAX);
                }
            }
        }
        if round.is_multiple_of(5) {
            println!("drain        round {round}: {}", missing.join(", "));
        }
        let settled = previous.as_ref() == Some(&counts);
        if complete && settled {
            println!("drain        settled after {round} rounds");
            break;
        }
        if Instant::now() >= drain_deadline {
            println!(
                "drain        NOT settled within {} s (complete: {complete})",
                args.drain_secs
            );
            break;
        }
        previous = Some(counts);
        sleep(Duration::from_secs(2)).await;
    }

    // Final reads: every mailbox through every node.
    ctx.history.write_jsonl(&out.join("history.jsonl"))?;
    for node in 1..=nodes {
        read_all(&ctx, "final", node, &accounts, Duration::from_secs(30)).await;
    }
    println!("final        every mailbox read through every node");

    let records = ctx.history.snapshot();
    ctx.history.write_jsonl(&out.join("history.jsonl"))?;
    let mut verdict = check(&records, nodes);
    verdict.violations.extend(problems);
    verdict.violations.sort_by_key(|v| v.check);
    let report = serde_json::json!({
        "seed": seed,
        "nodes": nodes,
        "duration_secs": args.duration.as_secs(),
        "faults": args.faults.0.iter().map(|k| k.name()).collect::<Vec<_>>(),
        "verdict": &verdict,
        "rolling_upgrade": rolling,
        "lease_open_all_ms": lease_ms,
        "proxy_connections_cut": net.cut.load(std::sync::atomic::Ordering::Relaxed),
        "proxy_sources_unidentified": net.unknown.load(std::sync::atomic::Ordering::Relaxed),
        "passed": verdict.violations.is_empty(),
    });
    std::fs::write(
        out.join("report.json"),
        serde_json::to_string_pretty(&report)?,
    )?;
    print_summary(seed, &verdict);
    println!(
        "leases       all accounts open on all nodes {lease_ms} ms after healing (limit {} s)",
        LEASE_LIMIT.as_secs()
    );
    println!(
        "proxies      {} connections cut, {} unidentified sources",
        net.cut.load(std::sync::atomic::Ordering::Relaxed),
        net.unknown.load(std::sync::atomic::Ordering::Relaxed)
    );
    Ok(if verdict.violations.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// How soon after healing every account must open on every node.
pub const LEASE_LIMIT: Duration = Duration::from_secs(15);

/// Logs in (POP3, listing and reading a few headers, recorded as worker `lease`) to every
/// account through every node, nodes in turn per account, accounts at once, retrying until
/// [`LEASE_LIMIT`] after the start. Returns the time until the last login succeeded and the
/// (account, node) pairs that never opened.
async fn lease_check(
    ctx: &Arc<Ctx>,
    nodes: usize,
    accounts: &[&'static str],
) -> (u64, Vec<String>) {
    let begin = Instant::now();
    let deadline = begin + LEASE_LIMIT;
    let mut set = JoinSet::new();
    for account in accounts {
        let ctx = ctx.clone();
        let account = *account;
        set.spawn(async move {
            let mut rng = ctx.rng(&format!("lease-{account}"));
            let mut failed = Vec::new();
            let mut last = Duration::ZERO;
            for node in 1..=nodes {
                loop {
                    let listing =
                        workload::read_recorded(&ctx, "lease", node, account, Some(&mut rng))
                            .await;
                    if listing.is_some() {
                        last = last.max(begin.elapsed());
                        break;
                    }
                    if Instant::now() >= deadline {
                        failed.push(format!(
                            "{account} cannot be opened through node{node} {} s after healing (a lease held by a dead or cut-off node?)",
                            LEASE_LIMIT.as_secs()
                        ));
                        break;
                    }
                    sleep(Duration::from_millis(250)).await;
                }
            }
            (last, failed)
        });
    }
    let mut worst = Duration::ZERO;
    let mut problems = Vec::new();
    while let Some(joined) = set.join_next().await {
        if let Ok((last, failed)) = joined {
            worst = worst.max(last);
            problems.extend(failed);
        }
    }
    (
        u64::try_from(worst.as_millis()).unwrap_or(u64::MAX),
        problems,
    )
}

/// Tokens each account must hold now: acknowledged, not deleted (ack'd or maybe).
fn expected_present(records: &[history::Record]) -> std::collections::HashMap<String, Vec<String>> {
    let mut deleted = std::collections::HashSet::new();
    for r in records {
        if let history::Op::Expunge { deleted: d, .. } = &r.op
            && r.outcome != Outcome::Failed
        {
            deleted.extend(d.iter().filter_map(|e| e.token.clone()));
        }
    }
    let mut out: std::collections::HashMap<String, Vec<String>> = std::collections::HashMap::new();
    for r in records {
        if let history::Op::Send {
            token, accepted, ..
        } = &r.op
            && r.outcome == Outcome::Ok
        {
            for a in accepted {
                if a == EXPUNGER && deleted.contains(token) {
                    continue;
                }
                out.entry(a.clone()).or_default().push(token.clone());
            }
        }
    }
    out
}

/// [`read_with_retry`] of every account in `accounts` at once through `node`.
async fn read_all(
    ctx: &Arc<Ctx>,
    worker: &'static str,
    node: usize,
    accounts: &[&'static str],
    limit: Duration,
) -> Vec<Option<Vec<history::Entry>>> {
    let mut set = JoinSet::new();
    for (i, account) in accounts.iter().enumerate() {
        let ctx = ctx.clone();
        let account = *account;
        set.spawn(async move { (i, read_with_retry(&ctx, worker, node, account, limit).await) });
    }
    let mut out = vec![None; accounts.len()];
    while let Some(joined) = set.join_next().await {
        if let Ok((i, listing)) = joined {
            out[i] = listing;
        }
    }
    out
}

/// A full read (every message's headers) of `account` through `node`, retried around
/// temporary errors (the account open on another node) for up to `limit`.
async fn read_with_retry(
    ctx: &Ctx,
    worker: &str,
    node: usize,
    account: &str,
    limit: Duration,
) -> Option<Vec<history::Entry>> {
    let deadline = Instant::now() + limit;
    loop {
        let start = ctx.history.now_ms();
        match workload::pop_list(ctx.nodes[node - 1].pop3, account, None).await {
            Ok(listing) => {
                ctx.history.record(
                    worker,
                    node,
                    start,
                    Outcome::Ok,
                    None,
                    history::Op::Read {
                        account: account.to_owned(),
                        final_check: worker == "final",
                        listing: Some(listing.clone()),
                    },
                );
                return Some(listing);
            }
            Err(e) => {
                if Instant::now() >= deadline {
                    let text = match e {
                        workload::PopError::Refused(t) => format!("refused: {t}"),
                        workload::PopError::Other(t) => t,
                    };
                    ctx.history.record(
                        worker,
                        node,
                        start,
                        Outcome::Failed,
                        Some(text),
                        history::Op::Read {
                            account: account.to_owned(),
                            final_check: false,
                            listing: None,
                        },
                    );
                    return None;
                }
                sleep(Duration::from_millis(500)).await;
            }
        }
    }
}

fn print_summary(seed: u64, v: &check::Verdict) {
    println!();
    println!("== chaos run summary (seed {seed}) ==");
    let fmt = |m: &std::collections::BTreeMap<String, u64>| {
        m.iter()
            .map(|(k, n)| format!("{k} {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    println!("messages     {}", fmt(&v.messages));
    println!("deletions    {}", fmt(&v.deletions));
    println!(
        "minority     SMTP replies while cut off: {}",
        fmt(&v.partition_minority_smtp)
    );
    println!("faults       {}", fmt(&v.faults));
    println!("operations   (ok / failed / unknown, of which busy: IN-USE or SYS/TEMP)");
    for (k, c) in &v.ops {
        println!(
            "  {k:<16} {:>6} / {:>5} / {:>4}  ({} busy)",
            c.ok, c.failed, c.unknown, c.in_use
        );
    }
    println!("availability by node (workload only)");
    for (k, c) in &v.availability_by_node {
        println!(
            "  {k:<24} {:>5.1}% ok  ({} ok, {} failed, {} unknown, {} busy)",
            c.ok_pct(),
            c.ok,
            c.failed,
            c.unknown,
            c.in_use
        );
    }
    println!("availability by fault active at the operation's start");
    for (k, c) in &v.availability_by_fault {
        println!(
            "  {k:<24} {:>5.1}% ok  ({} ok, {} failed, {} unknown, {} busy)",
            c.ok_pct(),
            c.ok,
            c.failed,
            c.unknown,
            c.in_use
        );
    }
    let names = [
        "",
        "acknowledged delivered exactly once",
        "refused never delivered",
        "UIDL/UIDVALIDITY",
        "deleted never reappear",
        "directory linearizable",
        "usable after healing",
        "",
        "cut-off minority never acknowledges",
        "stored flags never lost",
    ];
    for (i, name) in names.iter().enumerate().skip(1) {
        // Check 7 (availability) is a figure, not a verdict.
        if name.is_empty() {
            continue;
        }
        let n = v
            .violations
            .iter()
            .filter(|x| usize::from(x.check) == i)
            .count();
        println!(
            "check {i}      {:<38} {}",
            name,
            if n == 0 {
                "PASS".to_owned()
            } else {
                format!("FAIL ({n})")
            }
        );
    }
    if !v.violations.is_empty() {
        println!("violations:");
        for x in v.violations.iter().take(50) {
            println!("  [{}] {}", x.check, x.detail);
        }
        if v.violations.len() > 50 {
            println!("  ... {} more in report.json", v.violations.len() - 50);
        }
    }
    println!(
        "RESULT       {} (seed {seed})",
        if v.violations.is_empty() {
            "PASS"
        } else {
            "FAIL"
        }
    );
}
