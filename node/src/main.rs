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
    /// See or change the cluster through the local member.
    Cluster {
        /// TOML configuration file of the local member.
        #[arg(long, global = true)]
        config: Option<PathBuf>,
        #[command(subcommand)]
        action: ClusterCmd,
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
    /// DKIM signing keys.
    Dkim {
        #[command(subcommand)]
        action: DkimCmd,
    },
    /// Run a CLI (port 106) command against a node and print the result;
    /// with no command, an interactive prompt.
    Cli {
        /// TOML configuration file (for the CLI port and the postmaster
        /// password).
        #[arg(long)]
        config: Option<PathBuf>,
        /// The node's CLI address (default: the local node's from the config).
        #[arg(long, value_name = "HOST:PORT")]
        host: Option<String>,
        /// Log in as this account (default: postmaster).
        #[arg(long)]
        user: Option<String>,
        /// Its password (default: the config's postmaster password, else
        /// data_dir/postmaster.password).
        #[arg(long)]
        password: Option<String>,
        /// The command, e.g. `ListDomains` or `GetAccountSettings user1`.
        command: Vec<String>,
    },
}

#[derive(Subcommand)]
enum DkimCmd {
    /// Print a new DKIM key for DOMAIN: the CLI command that stores it in the
    /// domain settings, and the DNS TXT record to publish.
    Generate {
        /// The signing domain.
        domain: String,
        /// The DKIM selector.
        #[arg(long, default_value = "mail")]
        selector: String,
    },
}

#[derive(Subcommand)]
enum ClusterCmd {
    /// Members, roles, leader, term, applied index, lag, versions.
    Status {
        /// Ask this member (HOST:PORT of its cluster port) instead of the local one.
        #[arg(long)]
        node: Option<String>,
    },
    /// Remove a member (a dead one) from the cluster.
    Remove {
        /// Its Raft id (see `status`).
        id: u64,
    },
    /// Drain the local member (graceful stop: claims and leases handed back)
    /// and remove it from the cluster.
    Leave,
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
        Cmd::Cluster { config, action } => {
            let config = load_config(config.as_ref())?;
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime.block_on(async {
                match action {
                    ClusterCmd::Status { node } => {
                        print!("{}", node::cluster_cli::status(&config, node).await?);
                    }
                    ClusterCmd::Remove { id } => {
                        node::cluster_cli::remove(&config, id).await?;
                        println!("member {id} removed");
                    }
                    ClusterCmd::Leave => {
                        node::cluster_cli::leave(&config).await?;
                        println!("left the cluster");
                    }
                }
                Ok::<(), anyhow::Error>(())
            })
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
        Cmd::Dkim {
            action: DkimCmd::Generate { domain, selector },
        } => {
            let text = node::mailauth::generate_settings(&domain, &selector)
                .map_err(anyhow::Error::msg)?;
            print!("{text}");
            Ok(())
        }
        Cmd::Cli {
            config,
            host,
            user,
            password,
            command,
        } => run_cli(config.as_ref(), host, user, password, &command),
    }
}

/// `mailnode cli`: exit status 1 when the (last) command failed.
fn run_cli(
    config: Option<&PathBuf>,
    host: Option<String>,
    user: Option<String>,
    password: Option<String>,
    command: &[String],
) -> anyhow::Result<()> {
    use std::io::{BufRead as _, Write as _};
    let config = load_config(config)?;
    let host = match host {
        Some(h) => h,
        None => config
            .listeners()
            .into_iter()
            .find(|(key, _)| *key == "cli")
            .map(|(_, addr)| {
                if addr.ip().is_unspecified() {
                    format!("127.0.0.1:{}", addr.port())
                } else {
                    addr.to_string()
                }
            })
            .context("the configuration has no CLI listener; use --host")?,
    };
    let password = match (password, &config.postmaster_password) {
        (Some(p), _) => p,
        (None, Some(p)) if user.is_none() => p.clone(),
        (None, _) => {
            let file = node::server::password_file(&config);
            std::fs::read_to_string(&file)
                .with_context(|| format!("reading {}; use --password", file.display()))?
                .trim()
                .to_string()
        }
    };
    let user = user.unwrap_or_else(|| "postmaster".into());
    let mut client = node::cli::CliClient::connect(&host, &user, &password)
        .with_context(|| format!("logging in to {host} as {user}"))?;
    let show = |reply: &str| -> bool {
        match reply.split_once(' ') {
            Some(("201", data)) => println!("{data}"),
            Some(("200", _)) => println!("OK"),
            _ => eprintln!("{reply}"),
        }
        reply.starts_with('2')
    };
    if !command.is_empty() {
        let ok = show(&client.call(&command.join(" "))?);
        let _ = client.call("QUIT");
        if !ok {
            std::process::exit(1);
        }
        return Ok(());
    }
    let stdin = std::io::stdin();
    let mut lines = stdin.lock().lines();
    loop {
        print!("{user}@{host}> ");
        std::io::stdout().flush()?;
        let Some(line) = lines.next().transpose()? else {
            break;
        };
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        if line.eq_ignore_ascii_case("quit") || line.eq_ignore_ascii_case("exit") {
            break;
        }
        show(&client.call(line)?);
    }
    let _ = client.call("QUIT");
    Ok(())
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
        let mut tick = tokio::time::interval(std::time::Duration::from_millis(200));
        loop {
            tokio::select! {
                r = tokio::signal::ctrl_c() => return r,
                _ = term.recv() => return Ok(()),
                // The node stops by itself on the CLI's SHUTDOWN.
                _ = tick.tick() => if node.is_finished() { return Ok(()) },
            }
        }
    })?;
    node.stop();
    Ok(())
}
