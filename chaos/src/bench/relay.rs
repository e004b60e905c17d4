//! `chaos bench relay`: relay throughput. Messages for a remote domain go to a relaying
//! server (mailnode, or Postfix for comparison) and are counted as they reach an SMTP sink
//! that this command runs on loopback.
//!
//! Phases:
//! 1. the sink starts on `--sink` (the server must route `--domain` there: with `--cli`, a
//!    mailnode is told so with `SetRouterTable`, and told to trust 127.0.0.1 as a relay client
//!    with `SetClientIPs`; other servers are configured by hand);
//! 2. sending: the load of `chaos bench smtp` ([`super::smtp::measure`]) with recipients
//!    `benchK@<domain>`;
//! 3. delivery: until the sink has seen every accepted message (by `Message-ID`) or the wait
//!    runs out.
//!
//! Figures: accepted/s over the sending phase, and delivered/s from the start of sending to
//! the last new message at the sink; a message the sink sees twice counts once, and the
//! repeats are reported.
//!
//! The sink offers PIPELINING, 8BITMIME and SIZE, answers `250` to everything, and keeps only
//! message ids: it is no bottleneck.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::Args;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, BufWriter};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;

use super::report::{Delivery, Report, rate};
use super::smtp::{Load, Phase, SmtpArgs, measure};
use crate::client::cli::{CliClient, quote};

/// Interval between two looks at the sink while waiting for delivery.
const POLL_INTERVAL: Duration = Duration::from_millis(50);

/// Interval between two progress lines while waiting for delivery.
const PROGRESS_INTERVAL: Duration = Duration::from_secs(5);

/// Arguments of `chaos bench relay`.
#[derive(Debug, Clone, Args)]
pub struct RelayArgs {
    /// SMTP listener of the relaying server; repeat (or separate with commas) for several.
    #[arg(long, required = true, value_delimiter = ',')]
    pub target: Vec<SocketAddr>,
    /// Where the sink listens; the server must route `--domain` to it.
    #[arg(long, default_value = "127.0.0.1:2526")]
    pub sink: SocketAddr,
    /// The remote domain of the recipients.
    #[arg(long, default_value = "remote.test")]
    pub domain: String,
    /// A mailnode's CLI listener: route `--domain` to the sink and trust 127.0.0.1 first.
    #[arg(long, requires = "password")]
    pub cli: Option<SocketAddr>,
    /// Postmaster password for the CLI.
    #[arg(long, requires = "cli")]
    pub password: Option<String>,
    /// The load itself.
    #[command(flatten)]
    pub load: Load,
}

/// What the sink has seen.
#[derive(Debug, Default)]
struct Arrivals {
    /// Distinct `Message-ID`s.
    ids: HashSet<String>,
    /// Messages received, repeats included.
    total: u64,
    /// When the last new id arrived.
    last_new: Option<Instant>,
}

type Shared = Arc<Mutex<Arrivals>>;

/// Runs the benchmark and prints its figures and a JSON line.
///
/// Returns failure when a message failed or did not reach the sink.
///
/// # Errors
/// Fails when the sink cannot listen or the CLI setup fails.
pub async fn run(args: RelayArgs) -> Result<ExitCode> {
    let arrivals: Shared = Arc::default();
    let listener = TcpListener::bind(args.sink)
        .await
        .with_context(|| format!("sink cannot listen on {}", args.sink))?;
    tokio::spawn(accept(listener, arrivals.clone()));
    println!(
        "chaos bench relay: sink on {}, recipients @{}",
        args.sink, args.domain
    );
    if let (Some(cli), Some(password)) = (args.cli, args.password.as_deref()) {
        set_up(cli, password, &args.domain, args.sink).await?;
        println!(
            "setup        {} routed to {}, 127.0.0.1 trusted",
            args.domain, args.sink
        );
    }
    let smtp = SmtpArgs {
        target: args.target.clone(),
        pop3: Vec::new(),
        cli: None,
        password: None,
        domain: args.domain.clone(),
        load: args.load.clone(),
    };
    let mut started = Instant::now();
    let mut report = measure(&smtp, &mut |phase| {
        if phase == Phase::Sending {
            started = Instant::now();
        }
    })
    .await?;
    let wait = Duration::from_secs(args.load.wait_delivery_secs);
    let (delivery, repeats) = wait_sink(&arrivals, report.accepted, started, wait).await;
    report.delivery = Some(delivery);
    if let Some(summary) = report.delivery_summary() {
        print!("{summary}");
    }
    println!("repeats      {repeats}");
    println!("{}", json(&report, repeats));
    Ok(if report.is_success() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Routes `domain` to `sink` and trusts 127.0.0.1, over a mailnode's CLI.
async fn set_up(cli: SocketAddr, password: &str, domain: &str, sink: SocketAddr) -> Result<()> {
    let mut c = CliClient::connect(cli).await.context("CLI connect")?;
    c.login("postmaster", password).await?;
    for command in [
        format!("SetRouterTable {}", quote(&format!("{domain} = {sink}"))),
        format!("SetClientIPs {}", quote("127.0.0.1")),
    ] {
        let reply = c.command(&command).await?;
        if !reply.is_ok() {
            bail!("CLI {command}: {reply}");
        }
    }
    c.quit().await
}

/// Waits until the sink has `expected` distinct messages or `wait` has passed since sending
/// ended; returns the delivery figures and the number of repeats.
async fn wait_sink(
    arrivals: &Shared,
    expected: u64,
    started: Instant,
    wait: Duration,
) -> (Delivery, u64) {
    let deadline = Instant::now() + wait;
    let mut next_progress = Instant::now() + PROGRESS_INTERVAL;
    loop {
        let (delivered, total, last) = {
            let a = arrivals.lock().unwrap_or_else(|e| e.into_inner());
            (a.ids.len() as u64, a.total, a.last_new)
        };
        let now = Instant::now();
        if delivered >= expected || now >= deadline {
            let delivery = Delivery {
                delivered,
                complete: delivered >= expected,
                elapsed: last.map_or(Duration::ZERO, |l| l.saturating_duration_since(started)),
            };
            return (delivery, total - delivered);
        }
        if now >= next_progress {
            eprintln!("waiting for the sink: {delivered} of {expected}");
            next_progress = now + PROGRESS_INTERVAL;
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

/// The JSON line of a relay run (the `chaos bench smtp` fields plus `repeats`).
fn json(report: &Report, repeats: u64) -> String {
    let delivered_per_sec = report
        .delivery
        .as_ref()
        .map_or(0.0, |d| rate(d.delivered, d.elapsed));
    format!(
        concat!(
            r#"{{"bench":"relay","messages":{},"accepted":{},"failed":{},"#,
            r#""elapsed_secs":{:.3},"accepted_per_sec":{:.3},"delivered":{},"#,
            r#""delivered_per_sec":{:.3},"repeats":{}}}"#
        ),
        report.messages,
        report.accepted,
        report.failed,
        report.elapsed.as_secs_f64(),
        report.accepted_per_sec(),
        report.delivery.as_ref().map_or(0, |d| d.delivered),
        delivered_per_sec,
        repeats,
    )
}

async fn accept(listener: TcpListener, arrivals: Shared) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                tokio::spawn(sink_session(stream, arrivals.clone()));
            }
            Err(e) => {
                eprintln!("sink accept: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// One sink connection: every command answered `250` (`354` to DATA), replies flushed when
/// the client has nothing more buffered (so a pipelined batch gets one write back).
async fn sink_session(stream: TcpStream, arrivals: Shared) -> std::io::Result<()> {
    let (read, write) = stream.into_split();
    let mut reader = BufReader::new(read);
    let mut writer = BufWriter::new(write);
    writer.write_all(b"220 sink.bench ESMTP\r\n").await?;
    writer.flush().await?;
    let mut line = Vec::new();
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line).await? == 0 {
            return Ok(());
        }
        let upper = line.to_ascii_uppercase();
        let reply: &[u8] = if upper.starts_with(b"EHLO") {
            b"250-sink.bench\r\n250-PIPELINING\r\n250-8BITMIME\r\n250 SIZE 0\r\n"
        } else if upper.starts_with(b"DATA") {
            writer.write_all(b"354 go ahead\r\n").await?;
            writer.flush().await?;
            let id = read_data(&mut reader).await?;
            let mut a = arrivals.lock().unwrap_or_else(|e| e.into_inner());
            a.total += 1;
            if a.ids.insert(id) {
                a.last_new = Some(Instant::now());
            }
            b"250 2.0.0 queued\r\n"
        } else if upper.starts_with(b"QUIT") {
            writer.write_all(b"221 2.0.0 bye\r\n").await?;
            writer.flush().await?;
            return Ok(());
        } else {
            b"250 2.0.0 ok\r\n"
        };
        writer.write_all(reply).await?;
        if reader.buffer().is_empty() {
            writer.flush().await?;
        }
    }
}

/// Reads a message up to the `.` line; returns its `Message-ID` (empty when it has none).
async fn read_data(
    reader: &mut BufReader<tokio::net::tcp::OwnedReadHalf>,
) -> std::io::Result<String> {
    let mut id = String::new();
    let mut in_header = true;
    let mut line = Vec::new();
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line).await? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        if line == b".\r\n" || line == b".\n" {
            return Ok(id);
        }
        if in_header {
            if line == b"\r\n" || line == b"\n" {
                in_header = false;
            } else if line.len() > 11 && line[..11].eq_ignore_ascii_case(b"message-id:") {
                id = String::from_utf8_lossy(&line[11..]).trim().to_string();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_sink_counts_distinct_messages_of_a_pipelined_session() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let arrivals: Shared = Arc::default();
        tokio::spawn(accept(listener, arrivals.clone()));
        let stream = TcpStream::connect(addr).await.unwrap();
        let (read, mut write) = stream.into_split();
        let mut reader = BufReader::new(read);
        write
            .write_all(b"EHLO c\r\nMAIL FROM:<a@b>\r\nRCPT TO:<x@remote.test>\r\nDATA\r\n")
            .await
            .unwrap();
        let mut replies = String::new();
        while !replies.ends_with("354 go ahead\r\n") {
            reader.read_line(&mut replies).await.unwrap();
        }
        for _ in 0..2 {
            write
                .write_all(b"Message-ID: <m1@x>\r\nSubject: s\r\n\r\nMessage-ID: <body@x>\r\n.\r\n")
                .await
                .unwrap();
            let mut l = String::new();
            reader.read_line(&mut l).await.unwrap();
            assert_eq!(l, "250 2.0.0 queued\r\n");
            write
                .write_all(b"MAIL FROM:<a@b>\r\nRCPT TO:<x@r>\r\nDATA\r\n")
                .await
                .unwrap();
            let mut r = String::new();
            while !r.ends_with("354 go ahead\r\n") {
                reader.read_line(&mut r).await.unwrap();
            }
        }
        write
            .write_all(b"Message-ID: <m2@x>\r\n\r\nx\r\n.\r\nQUIT\r\n")
            .await
            .unwrap();
        let mut rest = String::new();
        while !rest.ends_with("221 2.0.0 bye\r\n") {
            reader.read_line(&mut rest).await.unwrap();
        }
        let a = arrivals.lock().unwrap();
        assert_eq!(a.total, 3);
        assert_eq!(a.ids.len(), 2);
        assert!(a.ids.contains("<m1@x>") && a.ids.contains("<m2@x>"));
    }
}
