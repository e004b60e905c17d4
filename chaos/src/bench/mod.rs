//! Benchmarks: commands that load a running server and print figures. They are not tests; a
//! run fails (non-zero exit) only when the server refused or lost work.

pub mod cluster;
pub mod failover;
pub mod imap;
pub mod message;
pub mod readers;
pub mod relay;
pub mod report;
pub mod smtp;

use std::process::ExitCode;

use anyhow::Result;
use clap::Subcommand;

/// `chaos bench <protocol>`.
#[derive(Debug, Clone, Subcommand)]
pub enum BenchCommand {
    /// SMTP acceptance throughput and latency; with --pop3, delivery throughput too.
    Smtp(smtp::SmtpArgs),
    /// The SMTP benchmark against fresh 1-node and 3-node (or other) clusters, side by side.
    Cluster(cluster::ClusterArgs),
    /// Relay throughput: accepted from one side, delivered to a loopback sink on the other.
    Relay(relay::RelayArgs),
    /// IMAP readers on large INBOXes: rate and latency of each command.
    Imap(imap::ImapArgs),
    /// How long a killed member's queue claims and account leases take to move.
    Failover(failover::FailoverArgs),
}

/// Runs one benchmark.
///
/// # Errors
/// Fails when the benchmark cannot be set up (see each benchmark's `run`).
pub async fn run(command: BenchCommand) -> Result<ExitCode> {
    match command {
        BenchCommand::Smtp(args) => smtp::run(args).await,
        BenchCommand::Cluster(args) => cluster::run(args).await,
        BenchCommand::Relay(args) => relay::run(args).await,
        BenchCommand::Imap(args) => imap::run(args).await,
        BenchCommand::Failover(args) => failover::run(args).await,
    }
}
