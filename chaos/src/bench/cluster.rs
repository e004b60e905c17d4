//! `chaos bench cluster`: the SMTP benchmark against fresh clusters of several sizes, side by
//! side.
//!
//! For each run and each size (interleaved: 1, 3, 1, 3, ... so that a change in the machine's
//! background load hits both sizes alike) it starts a fresh cluster with
//! [`crate::run::cluster`] (own data dirs, one shared base dir, loopback ports, node 1
//! bootstraps and the others join), runs [`super::smtp::measure`] with every node's SMTP and
//! POP3 address, kills the cluster and deletes its data (logs and configs stay). Cluster traffic
//! goes directly between the nodes unless `--via-proxy` (then through the partition proxies in
//! this process, as in `chaos run`).
//!
//! Besides the SMTP figures it samples CPU time from `/proc` at the start and end of sending:
//! the member processes' and this process's (the load generator shares the cores), and the
//! whole machine's busy share, so a run that is CPU-bound says so.
//!
//! Invariants: only the processes started here are signalled (by the launcher, by PID); every
//! wait is bounded (node start, delivery wait).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::Args;
use tokio::time::{Instant, sleep};

use super::readers::{self, ImapFigures};
use super::report::{Report, rate};
use super::smtp::{Load, Phase, SmtpArgs, measure};
use crate::run::cluster::{Cluster, DOMAIN, Options, POSTMASTER_PASSWORD};

/// Config added to every member: the default of 20 SMTP connections per IP is too few for a
/// load generator on one address (the README's single-node figures use 200 as well).
const EXTRA_CONFIG: &str = "[smtp]\nmax_connections_per_ip = 200\n";

/// Pause after the last member is ready, before accounts are created.
const SETTLE: Duration = Duration::from_secs(2);

/// `/proc` times are in clock ticks; Linux reports them at 100 per second (`USER_HZ`).
const TICKS_PER_SEC: f64 = 100.0;

/// Arguments of `chaos bench cluster`.
#[derive(Debug, Clone, Args)]
pub struct ClusterArgs {
    /// The `mailnode` binary to start (use a release build for figures).
    #[arg(long, default_value = "target/release/mailnode")]
    pub binary: PathBuf,
    /// Cluster sizes to measure, e.g. `1,3`; the last is compared with the first.
    #[arg(long, value_delimiter = ',', default_value = "1,3",
          value_parser = clap::value_parser!(u32).range(1..=9))]
    pub nodes: Vec<u32>,
    /// Runs of each size, each on a fresh cluster.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..))]
    pub runs: u32,
    /// Where the clusters live (logs and configs are kept; data is deleted unless --keep).
    /// Default: a new folder under the system temp dir.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Keep each cluster's data (base dir and node data dirs) after its run.
    #[arg(long)]
    pub keep: bool,
    /// Route cluster traffic through the partition proxies of this process, as `chaos run`.
    #[arg(long)]
    pub via_proxy: bool,
    /// Send SMTP and POP3 to the first N members only (default: all). `--entry-nodes 1` on a
    /// 3-node cluster measures replication alone, without spreading the sessions.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub entry_nodes: Option<u32>,
    /// Seconds of IMAP readers after the SMTP load (`--concurrency` sessions over the same
    /// members and accounts); 0 skips them.
    #[arg(long, default_value_t = 20)]
    pub imap_secs: u64,
    /// The load of each run.
    #[command(flatten)]
    pub load: Load,
}

/// CPU counters at one moment.
#[derive(Debug, Clone)]
struct CpuSample {
    /// User + system ticks of each member process, in member order.
    nodes: Vec<u64>,
    /// User + system ticks of this process.
    bench: u64,
    /// Busy and total ticks of the whole machine (all cores).
    busy: u64,
    total: u64,
    at: Instant,
}

/// CPU used during the sending phase.
#[derive(Debug, Clone, Default)]
struct CpuUse {
    nodes_secs: f64,
    /// Per member (node 1 bootstraps the cluster and is normally the Raft leader).
    per_node_secs: Vec<f64>,
    bench_secs: f64,
    /// Share of all cores busy (any process), 0..=1.
    machine_busy: f64,
    /// Cores the machine has, so `machine_busy * cores` is cores in use.
    cores: usize,
}

/// User + system ticks of a process, fields 14 and 15 of `/proc/PID/stat`.
fn process_ticks(pid: &str) -> u64 {
    let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0;
    };
    // The command name (field 2) may hold spaces; fields after it follow the last ')'.
    let Some((_, rest)) = text.rsplit_once(')') else {
        return 0;
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // `rest` starts at field 3, so fields 14 and 15 are at 11 and 12.
    let get = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    get(11) + get(12)
}

/// Busy and total ticks of all cores, from the first line of `/proc/stat`.
fn machine_ticks() -> (u64, u64) {
    let text = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let Some(line) = text.lines().next() else {
        return (0, 0);
    };
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|f| f.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal (guest times are inside user).
    let total: u64 = v.iter().take(8).sum();
    let idle = v.get(3).copied().unwrap_or(0) + v.get(4).copied().unwrap_or(0);
    (total.saturating_sub(idle), total)
}

fn sample(pids: &[u32]) -> CpuSample {
    let (busy, total) = machine_ticks();
    CpuSample {
        nodes: pids.iter().map(|p| process_ticks(&p.to_string())).collect(),
        bench: process_ticks("self"),
        busy,
        total,
        at: Instant::now(),
    }
}

fn cpu_use(from: &CpuSample, to: &CpuSample) -> CpuUse {
    let secs = |t: u64| t as f64 / TICKS_PER_SEC;
    let total = to.total.saturating_sub(from.total);
    let per_node_secs: Vec<f64> = from
        .nodes
        .iter()
        .zip(&to.nodes)
        .map(|(a, b)| secs(b.saturating_sub(*a)))
        .collect();
    CpuUse {
        nodes_secs: per_node_secs.iter().sum(),
        per_node_secs,
        bench_secs: secs(to.bench.saturating_sub(from.bench)),
        machine_busy: if total > 0 {
            to.busy.saturating_sub(from.busy) as f64 / total as f64
        } else {
            0.0
        },
        cores: std::thread::available_parallelism().map_or(1, usize::from),
    }
}

/// One measured run.
#[derive(Debug, Clone)]
struct Row {
    nodes: u32,
    run: u32,
    report: Report,
    cpu: CpuUse,
    send_secs: f64,
    imap: Option<ImapFigures>,
}

impl Row {
    fn delivered_per_sec(&self) -> Option<f64> {
        self.report
            .delivery
            .as_ref()
            .map(|d| rate(d.delivered, d.elapsed))
    }

    fn imap_per_sec(&self) -> Option<f64> {
        self.imap.as_ref().map(ImapFigures::commands_per_sec)
    }

    fn json(&self) -> String {
        format!(
            concat!(
                r#"{{"bench":"cluster","nodes":{},"run":{},"node_cpu_secs":{:.2},"#,
                r#""node_cpu_secs_each":[{}],"bench_cpu_secs":{:.2},"machine_busy":{:.3},"#,
                r#""imap_commands_per_sec":{},"imap_failed":{},"smtp":{}}}"#
            ),
            self.nodes,
            self.run,
            self.cpu.nodes_secs,
            self.cpu
                .per_node_secs
                .iter()
                .map(|s| format!("{s:.2}"))
                .collect::<Vec<_>>()
                .join(","),
            self.cpu.bench_secs,
            self.cpu.machine_busy,
            self.imap_per_sec()
                .map_or_else(|| "null".to_owned(), |v| format!("{v:.1}")),
            self.imap.map_or(0, |f| f.failed),
            self.report.json()
        )
    }
}

/// Runs every size `--runs` times and prints the table.
///
/// # Errors
/// Fails when a cluster cannot be started or the benchmark cannot be set up.
pub async fn run(args: ClusterArgs) -> Result<ExitCode> {
    if !args.binary.is_file() {
        bail!("no mailnode binary at {}", args.binary.display());
    }
    let binary = std::fs::canonicalize(&args.binary)?;
    let out = match &args.out {
        Some(out) => out.clone(),
        None => std::env::temp_dir().join(format!("chaos-bench-{}", std::process::id())),
    };
    std::fs::create_dir_all(&out).with_context(|| format!("create {}", out.display()))?;
    println!(
        "chaos bench cluster: sizes {:?}, {} run(s) each, {}, out {}",
        args.nodes,
        args.runs,
        binary.display(),
        out.display()
    );
    let mut rows = Vec::new();
    for run in 1..=args.runs {
        for &nodes in &args.nodes {
            println!("\n== {nodes} node(s), run {run}");
            let root = out.join(format!("n{nodes}-run{run}"));
            let row = one(&args, &binary, &root, nodes, run).await?;
            println!("{}", row.json());
            rows.push(row);
        }
    }
    print!("\n{}", table(&rows, &args.nodes));
    let ok = rows.iter().all(|r| r.report.is_success());
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// One fresh cluster of `nodes`, measured once, then stopped.
async fn one(args: &ClusterArgs, binary: &Path, root: &Path, nodes: u32, run: u32) -> Result<Row> {
    let options = Options {
        direct: !args.via_proxy,
        extra_config: EXTRA_CONFIG.to_owned(),
        fault_hooks: false,
    };
    let mut cluster = Cluster::prepare_with(nodes as usize, root, binary.to_owned(), &options)?;
    if let Err(e) = cluster.start_all().await {
        cluster.shutdown().await;
        return Err(e.context(format!("starting a {nodes}-node cluster")));
    }
    sleep(SETTLE).await;
    let mut addrs = cluster.addrs();
    if let Some(entry) = args.entry_nodes {
        addrs.truncate(entry as usize);
    }
    let pids: Vec<u32> = cluster
        .members
        .iter()
        .filter_map(|m| m.process_id())
        .collect();
    let smtp = SmtpArgs {
        target: addrs.iter().map(|a| a.smtp).collect(),
        pop3: addrs.iter().map(|a| a.pop3).collect(),
        cli: Some(addrs[0].cli),
        password: Some(POSTMASTER_PASSWORD.to_owned()),
        domain: DOMAIN.to_owned(),
        load: args.load.clone(),
    };
    let mut samples: Vec<CpuSample> = Vec::new();
    let result = measure(&smtp, &mut |phase| {
        if matches!(phase, Phase::Sending | Phase::Sent) {
            samples.push(sample(&pids));
        }
    })
    .await;
    let imap = if args.imap_secs > 0 && result.is_ok() {
        let targets: Vec<_> = addrs.iter().map(|a| a.imap).collect();
        let secs = Duration::from_secs(args.imap_secs);
        let figures =
            readers::measure(&targets, args.load.accounts, args.load.concurrency, secs).await;
        println!(
            "imap          {} visits ({} failed) in {:.1} s: {:.0} commands/s",
            figures.visits,
            figures.failed,
            figures.elapsed.as_secs_f64(),
            figures.commands_per_sec()
        );
        Some(figures)
    } else {
        None
    };
    cluster.shutdown().await;
    if !args.keep {
        remove_data(root, nodes);
    }
    let report = result?;
    let (cpu, send_secs) = match samples.as_slice() {
        [from, to] => (cpu_use(from, to), (to.at - from.at).as_secs_f64()),
        _ => (CpuUse::default(), 0.0),
    };
    let row = Row {
        nodes,
        run,
        report,
        cpu,
        send_secs,
        imap,
    };
    let per: Vec<String> = row
        .cpu
        .per_node_secs
        .iter()
        .map(|s| format!("{s:.1}"))
        .collect();
    println!(
        "cpu (sending) nodes {:.1} s ({}), bench {:.1} s, in {:.1} s; machine {:.0}% busy of {} \
         cores",
        row.cpu.nodes_secs,
        per.join(" / "),
        row.cpu.bench_secs,
        row.send_secs,
        row.cpu.machine_busy * 100.0,
        row.cpu.cores
    );
    Ok(row)
}

/// Deletes the shared base dir and each node's data dir; configs and logs stay.
fn remove_data(root: &Path, nodes: u32) {
    let _ = std::fs::remove_dir_all(root.join("base"));
    for i in 1..=nodes {
        let _ = std::fs::remove_dir_all(root.join(format!("node{i}")).join("data"));
    }
}

fn mean(values: impl Iterator<Item = f64>) -> Option<f64> {
    let v: Vec<f64> = values.collect();
    if v.is_empty() {
        None
    } else {
        Some(v.iter().sum::<f64>() / v.len() as f64)
    }
}

fn fmt_opt(v: Option<f64>, precision: usize) -> String {
    v.map_or_else(|| "-".to_owned(), |v| format!("{v:.precision$}"))
}

/// The side-by-side table: every run, the mean per size, and last size / first size.
fn table(rows: &[Row], sizes: &[u32]) -> String {
    let ms = |d: Option<Duration>| d.map(|d| d.as_secs_f64() * 1000.0);
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{:>5} {:>4} {:>10} {:>11} {:>10} {:>7} {:>7} {:>6} {:>12} {:>12} {:>6}",
        "nodes",
        "run",
        "accepted/s",
        "delivered/s",
        "imap cmd/s",
        "p50 ms",
        "p99 ms",
        "failed",
        "node cpu/msg",
        "bench cpu/msg",
        "busy"
    );
    for r in rows {
        let per_msg = |secs: f64| {
            if r.report.accepted > 0 {
                format!("{:.2} ms", secs * 1000.0 / r.report.accepted as f64)
            } else {
                "-".to_owned()
            }
        };
        let _ = writeln!(
            s,
            "{:>5} {:>4} {:>10.1} {:>11} {:>10} {:>7} {:>7} {:>6} {:>12} {:>12} {:>5.0}%",
            r.nodes,
            r.run,
            r.report.accepted_per_sec(),
            fmt_opt(r.delivered_per_sec(), 1),
            fmt_opt(r.imap_per_sec(), 1),
            fmt_opt(ms(r.report.p50), 2),
            fmt_opt(ms(r.report.p99), 2),
            r.report.failed,
            per_msg(r.cpu.nodes_secs),
            per_msg(r.cpu.bench_secs),
            r.cpu.machine_busy * 100.0
        );
    }
    let mut means = Vec::new();
    for &n in sizes {
        let of = || rows.iter().filter(move |r| r.nodes == n);
        let accepted = mean(of().map(|r| r.report.accepted_per_sec()));
        let delivered = mean(of().filter_map(Row::delivered_per_sec));
        let imap = mean(of().filter_map(Row::imap_per_sec));
        let _ = writeln!(
            s,
            "{n:>5} mean {:>10} {:>11} {:>10}",
            fmt_opt(accepted, 1),
            fmt_opt(delivered, 1),
            fmt_opt(imap, 1)
        );
        means.push((n, accepted, delivered, imap));
    }
    if let (Some(first), Some(last)) = (means.first(), means.last())
        && means.len() > 1
    {
        let ratio = |a: Option<f64>, b: Option<f64>| match (a, b) {
            (Some(a), Some(b)) if b > 0.0 => Some(a / b),
            _ => None,
        };
        let _ = writeln!(
            s,
            "ratio {}-node/{}-node: accepted/s {}, delivered/s {}, imap commands/s {}",
            last.0,
            first.0,
            fmt_opt(ratio(last.1, first.1), 2),
            fmt_opt(ratio(last.2, first.2), 2),
            fmt_opt(ratio(last.3, first.3), 2)
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::report::Delivery;

    fn row(nodes: u32, run: u32, accepted: u64, delivered_secs: u64) -> Row {
        Row {
            nodes,
            run,
            report: Report {
                messages: accepted,
                accepted,
                failed: 0,
                elapsed: Duration::from_secs(1),
                p50: Some(Duration::from_millis(10)),
                p99: Some(Duration::from_millis(20)),
                delivery: Some(Delivery {
                    delivered: accepted,
                    complete: true,
                    elapsed: Duration::from_secs(delivered_secs),
                }),
            },
            cpu: CpuUse::default(),
            send_secs: 1.0,
            // Commands per second: a tenth of the accepted messages per second.
            imap: Some(ImapFigures {
                visits: accepted / 60,
                failed: 0,
                elapsed: Duration::from_secs(1),
            }),
        }
    }

    #[test]
    fn table_has_means_and_the_ratio() {
        let rows = [
            row(1, 1, 1000, 2),
            row(3, 1, 600, 2),
            row(1, 2, 1200, 2),
            row(3, 2, 500, 1),
        ];
        let text = table(&rows, &[1, 3]);
        assert!(
            text.contains("    1 mean     1100.0       550.0      108.0"),
            "{text}"
        );
        assert!(
            text.contains("    3 mean      550.0       400.0       54.0"),
            "{text}"
        );
        assert!(
            text.contains(
                "ratio 3-node/1-node: accepted/s 0.50, delivered/s 0.73, imap commands/s 0.50"
            ),
            "{text}"
        );
    }

    #[test]
    fn proc_stat_of_self_parses() {
        // Any running process has used some CPU; at least the parse must not panic.
        let _ = process_ticks("self");
        let (busy, total) = machine_ticks();
        assert!(total >= busy);
    }
}
