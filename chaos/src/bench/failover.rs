//! `chaos bench failover`: how long a killed member's work takes to move to the others
//! (DESIGN §5: within the lease time, 10 s).
//!
//! Each run starts a fresh 3-member cluster whose router table sends `remote.test` to a sink in
//! this process. The sink holds back its answer to every message's end of DATA, so the members'
//! delivery workers all hold claimed messages. An IMAP session per bench account is opened
//! through the victim, so that it holds their leases. Then the victim is killed (SIGKILL), the
//! sink lets go, and the bench measures, from the kill:
//! - claims: until every message the victim was sending (its connection closed while the sink
//!   held it) has been accepted from another member;
//! - leases: until each account logs in and selects its INBOX through another member.
//!
//! Invariants: only the processes started here are signalled, by PID; every wait is bounded.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::Args;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::{Instant, sleep, timeout};

use crate::client::cli::{CliClient, quote};
use crate::client::imap::ImapClient;
use crate::client::smtp::SmtpClient;
use crate::run::cluster::{Cluster, DOMAIN, Options, POSTMASTER_PASSWORD};

/// The remote domain routed to the sink.
const REMOTE: &str = "remote.test";

/// What the cluster promises (the lease and claim time).
const TARGET: Duration = Duration::from_secs(10);

/// Longest wait for anything the bench waits on.
const WAIT: Duration = Duration::from_secs(60);

/// Arguments of `chaos bench failover`.
#[derive(Debug, Clone, Args)]
pub struct FailoverArgs {
    /// The `mailnode` binary to start (use a release build for figures).
    #[arg(long, default_value = "target/release/mailnode")]
    pub binary: PathBuf,
    /// Runs, each on a fresh cluster.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..))]
    pub runs: u32,
    /// The member killed (1 bootstraps the cluster and usually leads).
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..=3))]
    pub victim: u32,
    /// Messages relayed through the sink (the members have 2 delivery workers each).
    #[arg(long, default_value_t = 12)]
    pub messages: usize,
    /// Accounts opened through the victim.
    #[arg(long, default_value_t = 6)]
    pub accounts: usize,
    /// Where the clusters live (logs and configs are kept). Default: under the temp dir.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// What one run measured.
#[derive(Debug, Clone)]
struct Failover {
    /// Messages the victim was sending when it died.
    claims_held: usize,
    /// From the kill until the last of them was accepted from another member.
    claims_moved: Option<Duration>,
    /// From the kill until each account opened through another member, sorted.
    leases_moved: Vec<Duration>,
}

/// Runs the bench `--runs` times and prints each run and the worst case.
///
/// # Errors
/// Fails when a cluster cannot be started or a step does not finish within a minute.
pub async fn run(args: FailoverArgs) -> Result<ExitCode> {
    if !args.binary.is_file() {
        bail!("no mailnode binary at {}", args.binary.display());
    }
    let binary = std::fs::canonicalize(&args.binary)?;
    let out = match &args.out {
        Some(out) => out.clone(),
        None => std::env::temp_dir().join(format!("chaos-failover-{}", std::process::id())),
    };
    println!(
        "chaos bench failover: {} run(s), kill -9 of node{}, {} messages held, {} accounts, {}",
        args.runs,
        args.victim,
        args.messages,
        args.accounts,
        binary.display()
    );
    let mut worst = Duration::ZERO;
    for run in 1..=args.runs {
        let root = out.join(format!("run{run}"));
        let sink = Sink::start().await?;
        let mut cluster = Cluster::prepare_with(3, &root, binary.clone(), &Options::default())?;
        let measured = match cluster.start_all().await {
            Ok(()) => one(&args, &mut cluster, &sink).await,
            Err(e) => Err(e.context("starting the cluster")),
        };
        cluster.shutdown().await;
        let f = measured?;
        let ms = |d: &Duration| format!("{:.1} s", d.as_secs_f64());
        let leases: Vec<String> = f.leases_moved.iter().map(ms).collect();
        println!(
            "run {run}: claims: node{} held {} deliveries, all made by others {} after the kill; \
             leases: {} accounts open elsewhere after {}",
            args.victim,
            f.claims_held,
            f.claims_moved.as_ref().map_or("-".to_owned(), ms),
            f.leases_moved.len(),
            leases.join(", ")
        );
        worst = worst
            .max(f.claims_moved.unwrap_or_default())
            .max(f.leases_moved.last().copied().unwrap_or_default());
    }
    let verdict = if worst <= TARGET { "within" } else { "OVER" };
    println!(
        "worst failover {:.1} s: {verdict} the {} s target",
        worst.as_secs_f64(),
        TARGET.as_secs()
    );
    Ok(if worst <= TARGET {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// One run on a started cluster.
async fn one(args: &FailoverArgs, cluster: &mut Cluster, sink: &Sink) -> Result<Failover> {
    let addrs = cluster.addrs();
    let victim = args.victim as usize - 1;
    let other = addrs[(victim + 1) % addrs.len()];
    let accounts: Vec<String> = (1..=args.accounts).map(|i| format!("fo{i}")).collect();
    let mut commands = vec![
        format!(
            "SetRouterTable {}",
            quote(&format!("{REMOTE} = {}", sink.addr))
        ),
        format!("SetClientIPs {}", quote("127.0.0.1")),
    ];
    commands.extend(accounts.iter().map(|a| {
        format!(
            "CreateAccount {} {{Password={};}}",
            quote(a),
            quote(POSTMASTER_PASSWORD)
        )
    }));
    cli(addrs[0].cli, &commands).await?;

    // Leases: a session per account through the victim, kept open until the kill.
    let mut sessions = Vec::new();
    for account in &accounts {
        let mut imap = ImapClient::connect(addrs[victim].imap).await?;
        imap.login(account, POSTMASTER_PASSWORD).await?;
        imap.select("INBOX").await?;
        sessions.push(imap);
    }
    // Claims: every message held at the sink by whichever member claimed it.
    send(addrs[0].smtp, args.messages).await?;
    let deadline = Instant::now() + WAIT;
    while sink.state().seen.len() < args.messages.min(6) {
        if Instant::now() >= deadline {
            bail!("the sink did not see the members deliver");
        }
        sleep(Duration::from_millis(50)).await;
    }
    sleep(Duration::from_secs(1)).await;

    cluster.members[victim].kill().await?;
    let killed = Instant::now();
    drop(sessions);
    // The victim's held connections close; give the sink a moment to notice them.
    sleep(Duration::from_millis(300)).await;
    sink.hold.store(false, Ordering::SeqCst);

    let mut opening = tokio::task::JoinSet::new();
    for account in accounts {
        opening.spawn(async move { open_through(other.imap, &account, killed).await });
    }
    let mut leases_moved = Vec::new();
    while let Some(opened) = opening.join_next().await {
        leases_moved.push(opened??);
    }
    leases_moved.sort();

    let held: BTreeSet<String> = sink.state().lost.clone();
    let claims_moved = loop {
        let last = {
            let state = sink.state();
            held.iter()
                .map(|s| state.accepted.get(s).copied())
                .collect::<Option<Vec<Instant>>>()
        };
        if let Some(times) = last {
            break times.into_iter().max().map(|t| t - killed);
        }
        if killed.elapsed() > WAIT {
            bail!("the victim's deliveries were not made by others within {WAIT:?}");
        }
        sleep(Duration::from_millis(50)).await;
    };
    Ok(Failover {
        claims_held: held.len(),
        claims_moved,
        leases_moved,
    })
}

/// Retries LOGIN + SELECT of `account` through `addr` every 100 ms; returns the time since
/// `since` when it first succeeds.
async fn open_through(addr: SocketAddr, account: &str, since: Instant) -> Result<Duration> {
    loop {
        let attempt = timeout(Duration::from_secs(5), async {
            let mut imap = ImapClient::connect(addr).await?;
            imap.login(account, POSTMASTER_PASSWORD).await?;
            imap.select("INBOX").await?;
            imap.logout().await
        });
        if matches!(attempt.await, Ok(Ok(()))) {
            return Ok(since.elapsed());
        }
        if since.elapsed() > WAIT {
            bail!("{account} did not open through {addr} within {WAIT:?}");
        }
        sleep(Duration::from_millis(100)).await;
    }
}

/// Runs CLI commands as postmaster; fails on the first refusal.
async fn cli(addr: SocketAddr, commands: &[String]) -> Result<()> {
    let mut c = CliClient::connect(addr).await.context("CLI connect")?;
    c.login("postmaster", POSTMASTER_PASSWORD).await?;
    for command in commands {
        let reply = c.command(command).await?;
        if !reply.is_ok() {
            bail!("CLI {command}: {reply}");
        }
    }
    c.quit().await
}

/// Sends `count` messages `failover-NNNN` to the remote domain through `addr`.
async fn send(addr: SocketAddr, count: usize) -> Result<()> {
    let (mut smtp, _) = SmtpClient::connect(addr).await?;
    smtp.command("EHLO bench.test").await?;
    for i in 0..count {
        for line in [
            format!("MAIL FROM:<postmaster@{DOMAIN}>"),
            format!("RCPT TO:<user@{REMOTE}>"),
            "DATA".to_owned(),
        ] {
            let reply = smtp.command(&line).await?;
            if reply.code >= 400 {
                bail!("{line}: {reply:?}");
            }
        }
        let message = format!("Subject: failover-{i:04}\r\n\r\nmessage {i}\r\n");
        let reply = smtp.data(message.as_bytes()).await?;
        if reply.code != 250 {
            bail!("message {i}: {reply:?}");
        }
    }
    Ok(())
}

/// What the sink saw, by Subject.
#[derive(Debug, Default)]
struct SinkState {
    /// Messages whose DATA ended (held or not).
    seen: BTreeSet<String>,
    /// Messages whose sender closed the connection while the sink held them.
    lost: BTreeSet<String>,
    /// When each message was first answered `250`.
    accepted: BTreeMap<String, Instant>,
}

/// A loopback SMTP server that holds back its answer to the end of DATA while `hold` is set.
struct Sink {
    addr: SocketAddr,
    hold: Arc<AtomicBool>,
    state: Arc<Mutex<SinkState>>,
}

impl Sink {
    async fn start() -> Result<Sink> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let sink = Sink {
            addr: listener.local_addr()?,
            hold: Arc::new(AtomicBool::new(true)),
            state: Arc::default(),
        };
        let (hold, state) = (sink.hold.clone(), sink.state.clone());
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (hold, state) = (hold.clone(), state.clone());
                tokio::spawn(async move {
                    let _ = timeout(WAIT * 2, session(stream, &hold, &state)).await;
                });
            }
        });
        Ok(sink)
    }

    fn state(&self) -> std::sync::MutexGuard<'_, SinkState> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

async fn session(
    stream: TcpStream,
    hold: &AtomicBool,
    state: &Mutex<SinkState>,
) -> std::io::Result<()> {
    let lock = || {
        state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    };
    let (r, mut w) = stream.into_split();
    let mut r = BufReader::new(r);
    w.write_all(b"220 sink.test ESMTP\r\n").await?;
    let mut line = String::new();
    loop {
        line.clear();
        if r.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let verb = line.get(..4).unwrap_or("").to_ascii_uppercase();
        match verb.as_str() {
            "DATA" => {
                w.write_all(b"354 go on\r\n").await?;
                let mut subject = String::new();
                loop {
                    line.clear();
                    if r.read_line(&mut line).await? == 0 {
                        return Ok(());
                    }
                    if line == ".\r\n" {
                        break;
                    }
                    if let Some(s) = line.strip_prefix("Subject: ") {
                        subject = s.trim().to_owned();
                    }
                }
                lock().seen.insert(subject.clone());
                while hold.load(Ordering::SeqCst) {
                    // The sender waits for the answer; end of input means it died.
                    match timeout(Duration::from_millis(20), r.fill_buf()).await {
                        Ok(Ok([])) | Ok(Err(_)) => {
                            lock().lost.insert(subject);
                            return Ok(());
                        }
                        _ => {}
                    }
                }
                w.write_all(b"250 accepted\r\n").await?;
                lock().accepted.entry(subject).or_insert_with(Instant::now);
            }
            "QUIT" => {
                w.write_all(b"221 bye\r\n").await?;
                return Ok(());
            }
            _ => w.write_all(b"250 ok\r\n").await?,
        }
    }
}
