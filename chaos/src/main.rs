//! `chaos` command line: parse arguments and dispatch; the work lives in the library.

use std::process::ExitCode;

use anyhow::Result;
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
}

#[tokio::main]
async fn main() -> Result<ExitCode> {
    match Cli::parse().command {
        Command::Bench(command) => chaos::bench::run(command).await,
    }
}
