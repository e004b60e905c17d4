//! `chaos` command line: parse arguments and dispatch; the work lives in the library.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Fault injection and load for Mailnode.
#[derive(Debug, Parser)]
#[command(name = "chaos", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Load a running server and print figures.
    #[command(subcommand)]
    Bench(chaos::bench::BenchCommand),
    /// Start a cluster, load it under seeded faults, heal, and check the invariants.
    Run(chaos::run::RunArgs),
    /// A rolling upgrade (or restart) of every node under load, checked like `run`.
    Upgrade(chaos::run::UpgradeArgs),
}

#[tokio::main]
async fn main() -> ExitCode {
    let result = match Cli::parse().command {
        Command::Bench(command) => chaos::bench::run(command).await,
        Command::Run(args) => chaos::run::run(args).await,
        Command::Upgrade(args) => chaos::run::upgrade(args).await,
    };
    // Print the cause chain on one line; a backtrace says nothing about a refused login.
    result.unwrap_or_else(|e| {
        eprintln!("chaos: {e:#}");
        ExitCode::from(2)
    })
}
