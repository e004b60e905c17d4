//! The `mailnode` command: parse the command line and wire the node.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use node::config::NodeConfig;

#[derive(Parser)]
#[command(
    name = "mailnode",
    version,
    about = "Mailnode: a clustered mail server"
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Start a node (with no options: a one-node cluster under ./mailnode-data).
    Start {
        /// TOML configuration file.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Overrides `base_dir` (the shared base directory).
        #[arg(long)]
        base: Option<PathBuf>,
        /// Overrides `data_dir` (node-local data).
        #[arg(long)]
        data: Option<PathBuf>,
        /// Joins the cluster of the member at HOST:PORT (its cluster port) at first start.
        #[arg(long, value_name = "HOST:PORT")]
        join: Option<String>,
    },
    /// Submit a message from standard input, like sendmail(8).
    Sendmail {
        /// Envelope sender.
        #[arg(short = 'f')]
        sender: Option<String>,
        /// Take the recipients from the To, Cc and Bcc headers.
        #[arg(short = 't')]
        from_headers: bool,
        /// Do not treat a line with a single dot as the end of the message.
        #[arg(short = 'i')]
        ignore_dots: bool,
        /// sendmail options (`-oi` is the same as `-i`; others are ignored).
        #[arg(short = 'o')]
        options: Vec<String>,
        /// TOML configuration file (to find the base directory).
        #[arg(long)]
        config: Option<PathBuf>,
        /// Recipients.
        recipients: Vec<String>,
    },
}

fn load_config(path: Option<&PathBuf>) -> anyhow::Result<NodeConfig> {
    match path {
        Some(p) => NodeConfig::load(p).with_context(|| format!("reading {}", p.display())),
        None => Ok(NodeConfig::default()),
    }
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,sled=warn,openraft=warn".into()),
        )
        .init();
    match cli.command {
        Cmd::Start {
            config,
            base,
            data,
            join,
        } => {
            let mut config = load_config(config.as_ref())?;
            if let Some(base) = base {
                config.base_dir = base;
            }
            if let Some(data) = data {
                config.data_dir = data;
            }
            if join.is_some() {
                config.join = join;
            }
            start(config)
        }
        Cmd::Sendmail {
            sender,
            from_headers,
            ignore_dots,
            options,
            config,
            recipients,
        } => {
            let config = load_config(config.as_ref())?;
            let args = node::sendmail::SendmailArgs {
                sender,
                recipients_from_headers: from_headers,
                ignore_dots: ignore_dots || options.iter().any(|o| o == "i"),
                recipients,
            };
            let submitted = storage::BaseDir::new(config.base_dir).submitted_dir();
            node::sendmail::submit(&args, std::io::stdin().lock(), &submitted)?;
            Ok(())
        }
    }
}

fn start(config: NodeConfig) -> anyhow::Result<()> {
    let password_file = node::server::password_file(&config);
    let node = node::server::start(config)?;
    for (key, addr) in node.addrs() {
        println!("mailnode: {key} listening on {addr}");
    }
    if let Some(password) = node.generated_password() {
        println!("mailnode: postmaster password: {password}");
        println!(
            "mailnode: (also stored in {}, readable by its owner only)",
            password_file.display()
        );
    }
    println!("mailnode: ready");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            r = tokio::signal::ctrl_c() => r,
            _ = term.recv() => Ok(()),
        }
    })?;
    node.stop();
    Ok(())
}
