//! The cluster under test: real `mailnode` processes on loopback, one shared base directory.
//!
//! Invariants:
//! - every port is chosen once, before the first start, and kept across restarts (the other
//!   members know a node by its cluster address, and the workload by its service addresses);
//! - only processes this tool started are ever signalled, by their PID;
//! - every wait is bounded.

use std::fmt::Write as _;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use rustix::process::{Pid, Signal, kill_process};
use tokio::process::{Child, Command};
use tokio::time::{Instant, sleep, timeout};

use super::proxy::{self, Net, ProxyHandle};
use crate::ports::Ports;

/// The main domain of the cluster.
pub const DOMAIN: &str = "chaos.test";

/// The postmaster password of the cluster.
pub const POSTMASTER_PASSWORD: &str = "chaos-Postmaster-1";

/// The cluster secret.
const CLUSTER_SECRET: &str = "chaos-cluster-secret-0123456789";

/// Longest wait for a node to print `mailnode: ready`: more than a node's own bounds on start
/// (up to 2 minutes for a leader and the catch-up, then up to 2 minutes of retries for each
/// start-up commit while the cluster elects a leader).
pub const READY_TIMEOUT: Duration = Duration::from_secs(180);

/// Longest wait for a node to exit after SIGTERM before it is killed.
pub const TERM_TIMEOUT: Duration = Duration::from_secs(20);

/// The line a node prints when it serves.
const READY_LINE: &str = "mailnode: ready";

/// The fixed addresses of one node's services.
#[derive(Debug, Clone, Copy)]
pub struct Addrs {
    /// SMTP.
    pub smtp: SocketAddr,
    /// POP3.
    pub pop3: SocketAddr,
    /// CLI.
    pub cli: SocketAddr,
    /// IMAP.
    pub imap: SocketAddr,
    /// Cluster (Raft and node-to-node RPC) as the peers reach it: the partition proxy.
    pub cluster: SocketAddr,
    /// The node's own cluster listener, behind the proxy.
    pub cluster_internal: SocketAddr,
}

/// How [`Cluster::prepare_with`] lays the members out.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Peers reach each other directly, without the partition proxies (`chaos bench cluster`:
    /// no bytes copied through this process). Partitions cannot be made then.
    pub direct: bool,
    /// TOML appended to every member's config (sections not written otherwise, e.g. `[smtp]`).
    pub extra_config: String,
    /// Members follow their `faults` file ([`Member::set_faults`]); only binaries that know
    /// `fault_hooks` start then.
    pub fault_hooks: bool,
}

/// One member process.
#[derive(Debug)]
pub struct Member {
    /// 1-based index; node name `node{index}`.
    pub index: usize,
    /// Its service addresses.
    pub addrs: Addrs,
    config: PathBuf,
    log: PathBuf,
    child: Option<Child>,
    /// While the running process has not yet said it is ready: where in
    /// the log its start began.
    starting_at: Option<u64>,
    paused: bool,
    proxy: Option<ProxyHandle>,
}

/// A start that did not finish within [`READY_TIMEOUT`]; the process still
/// runs (a member waits for a cluster that cannot elect a leader yet).
#[derive(Debug)]
pub struct StillStarting(pub usize);

impl std::fmt::Display for StillStarting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "node{} not ready within {READY_TIMEOUT:?}; still starting",
            self.0
        )
    }
}

impl std::error::Error for StillStarting {}

impl Member {
    /// Prepares node `index` under `root` (its data dir, config and log), sharing `base`.
    ///
    /// # Errors
    /// Fails if a port cannot be picked or a file cannot be written.
    fn prepare(
        index: usize,
        root: &Path,
        base: &Path,
        join: Option<SocketAddr>,
        net: Arc<Net>,
        options: &Options,
        ports: &mut Ports,
    ) -> Result<Self> {
        // Its own loopback address, which its cluster connections leave from: the proxies
        // know the node by it.
        let internal = ports
            .pick_on(proxy::member_ip(index))
            .context("pick a port")?;
        let (cluster, proxy) = if options.direct {
            (internal, None)
        } else {
            let listener = TcpListener::bind("127.0.0.1:0").context("bind proxy")?;
            let addr = listener.local_addr().context("proxy address")?;
            (
                addr,
                Some(proxy::start(net.clone(), index, listener, internal)?),
            )
        };
        let addrs = Addrs {
            smtp: ports.pick().context("pick a port")?,
            pop3: ports.pick().context("pick a port")?,
            cli: ports.pick().context("pick a port")?,
            imap: ports.pick().context("pick a port")?,
            cluster,
            cluster_internal: internal,
        };
        let dir = root.join(format!("node{index}"));
        std::fs::create_dir_all(&dir).with_context(|| format!("create {}", dir.display()))?;
        let mut text = String::new();
        let _ = writeln!(text, "node_name = \"node{index}\"");
        let _ = writeln!(
            text,
            "data_dir = {:?}",
            dir.join("data").display().to_string()
        );
        let _ = writeln!(text, "base_dir = {:?}", base.display().to_string());
        let _ = writeln!(text, "main_domain = \"{DOMAIN}\"");
        let _ = writeln!(text, "postmaster_password = \"{POSTMASTER_PASSWORD}\"");
        let _ = writeln!(text, "cluster_secret = \"{CLUSTER_SECRET}\"");
        let _ = writeln!(text, "log_level = 3");
        let _ = writeln!(text, "cluster_address = \"{}\"", addrs.cluster);
        if options.fault_hooks {
            let _ = writeln!(text, "fault_hooks = true");
        }
        if let Some(join) = join {
            let _ = writeln!(text, "join = \"{join}\"");
        }
        let _ = writeln!(text, "\n[listen]");
        for (key, addr) in [
            ("smtp", Some(addrs.smtp)),
            ("pop3", Some(addrs.pop3)),
            ("cli", Some(addrs.cli)),
            ("cluster", Some(addrs.cluster_internal)),
            ("submission", None),
            ("smtps", None),
            ("pop3s", None),
            ("imap", Some(addrs.imap)),
            ("imaps", None),
            ("webadmin", None),
            ("webadmins", None),
            ("webuser", None),
        ] {
            match addr {
                Some(addr) => {
                    let _ = writeln!(text, "{key} = \"{addr}\"");
                }
                None => {
                    let _ = writeln!(text, "{key} = \"off\"");
                }
            }
        }
        let _ = writeln!(text, "\n[queue]\nretry_secs = 1");
        let _ = writeln!(text, "\n[pop3]\nplaintext_on_loopback = true");
        let _ = writeln!(text, "\n[imap]\nplaintext_on_loopback = true");
        if !options.extra_config.is_empty() {
            let _ = writeln!(text, "\n{}", options.extra_config);
        }
        let config = dir.join("mailnode.toml");
        std::fs::write(&config, text).with_context(|| format!("write {}", config.display()))?;
        Ok(Self {
            index,
            addrs,
            config,
            log: dir.join("node.log"),
            child: None,
            starting_at: None,
            paused: false,
            proxy,
        })
    }

    /// Replaces the node's `faults` file (`clock_offset_ms`, `disk`; empty: no fault), which
    /// it reads every 200 ms when started with [`Options::fault_hooks`]. Written to a
    /// temporary name and renamed, so the node never reads half of it.
    ///
    /// # Errors
    /// Fails if the file cannot be written.
    pub fn set_faults(&self, text: &str) -> Result<()> {
        let data = self.config.with_file_name("data");
        let path = data.join("faults");
        let tmp = data.join("faults.tmp");
        std::fs::write(&tmp, text).with_context(|| format!("write {}", tmp.display()))?;
        std::fs::rename(&tmp, &path).with_context(|| format!("rename to {}", path.display()))
    }

    /// Whether the process is running (possibly paused).
    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// The log file (stdout and stderr of every start, appended).
    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// The process id while it runs.
    pub fn process_id(&self) -> Option<u32> {
        self.child.as_ref().and_then(Child::id)
    }

    fn pid(&self) -> Result<Pid> {
        let raw = self
            .child
            .as_ref()
            .and_then(Child::id)
            .with_context(|| format!("node{} is not running", self.index))?;
        Pid::from_raw(i32::try_from(raw)?).context("bad pid")
    }

    fn signal(&self, signal: Signal) -> Result<()> {
        kill_process(self.pid()?, signal)
            .with_context(|| format!("signal node{} ({signal:?})", self.index))
    }

    /// Starts the process and waits (bounded) until it prints `mailnode: ready`.
    ///
    /// # Errors
    /// Fails if it cannot be spawned or exits, and with [`StillStarting`]
    /// if it is not ready within [`READY_TIMEOUT`].
    pub async fn start(&mut self, mailnode: &Path) -> Result<()> {
        if self.child.is_some() {
            bail!("node{} is already running", self.index);
        }
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .with_context(|| format!("open {}", self.log.display()))?;
        let err = log.try_clone()?;
        // The log holds every earlier start too: only what this one writes counts.
        let offset = log.metadata().map_or(0, |m| m.len());
        let child = Command::new(mailnode)
            .arg("start")
            .arg("--config")
            .arg(&self.config)
            .stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(err))
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("spawn {}", mailnode.display()))?;
        self.child = Some(child);
        self.starting_at = Some(offset);
        self.paused = false;
        self.wait_ready().await
    }

    /// Waits (bounded) until a start in progress prints `mailnode: ready`;
    /// at once if none is in progress.
    ///
    /// # Errors
    /// As [`Member::start`].
    pub async fn wait_ready(&mut self) -> Result<()> {
        let Some(offset) = self.starting_at else {
            return Ok(());
        };
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            let text = read_from(&self.log, offset);
            if text.contains(READY_LINE) {
                self.starting_at = None;
                return Ok(());
            }
            if let Some(child) = self.child.as_mut()
                && let Some(status) = child.try_wait()?
            {
                self.child = None;
                self.starting_at = None;
                // Read again: the process may have written its last words after the read above.
                let text = read_from(&self.log, offset);
                bail!(
                    "node{} exited during start ({status}); log tail:\n{}",
                    self.index,
                    tail(&text, 15)
                );
            }
            if Instant::now() >= deadline {
                return Err(StillStarting(self.index).into());
            }
            sleep(Duration::from_millis(100)).await;
        }
    }

    /// SIGKILL and reap.
    ///
    /// # Errors
    /// Fails if the signal cannot be sent.
    pub async fn kill(&mut self) -> Result<()> {
        self.signal(Signal::KILL)?;
        self.reap(TERM_TIMEOUT).await;
        Ok(())
    }

    /// SIGTERM, wait up to [`TERM_TIMEOUT`], then SIGKILL. Returns whether the node exited by
    /// itself.
    ///
    /// # Errors
    /// Fails if the signal cannot be sent.
    pub async fn terminate(&mut self) -> Result<bool> {
        if self.paused {
            self.resume()?;
        }
        self.signal(Signal::TERM)?;
        if self.reap(TERM_TIMEOUT).await {
            return Ok(true);
        }
        self.signal(Signal::KILL)?;
        self.reap(TERM_TIMEOUT).await;
        Ok(false)
    }

    /// SIGSTOP.
    ///
    /// # Errors
    /// Fails if the signal cannot be sent.
    pub fn pause(&mut self) -> Result<()> {
        self.signal(Signal::STOP)?;
        self.paused = true;
        Ok(())
    }

    /// SIGCONT.
    ///
    /// # Errors
    /// Fails if the signal cannot be sent.
    pub fn resume(&mut self) -> Result<()> {
        self.signal(Signal::CONT)?;
        self.paused = false;
        Ok(())
    }

    /// Waits up to `limit` for the child to exit; returns whether it did.
    async fn reap(&mut self, limit: Duration) -> bool {
        let Some(child) = self.child.as_mut() else {
            return true;
        };
        if timeout(limit, child.wait()).await.is_ok() {
            self.child = None;
            self.starting_at = None;
            self.paused = false;
            return true;
        }
        false
    }

    /// Stops the node for good at the end of a run: SIGCONT if paused, then SIGKILL.
    pub async fn shutdown(&mut self) {
        if self.child.is_some() {
            if self.paused {
                let _ = self.resume();
            }
            let _ = self.signal(Signal::KILL);
            self.reap(TERM_TIMEOUT).await;
        }
    }
}

/// What `path` holds after its first `offset` bytes (empty if unreadable).
fn read_from(path: &Path, offset: u64) -> String {
    use std::io::{Read, Seek, SeekFrom};
    let mut bytes = Vec::new();
    if let Ok(mut file) = std::fs::File::open(path)
        && file.seek(SeekFrom::Start(offset)).is_ok()
    {
        let _ = file.read_to_end(&mut bytes);
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

/// The last `n` lines of `text`.
pub fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Every member of the cluster.
#[derive(Debug)]
pub struct Cluster {
    /// The members; `members[i].index == i + 1`.
    pub members: Vec<Member>,
    /// The `mailnode` binary.
    pub mailnode: PathBuf,
    /// The partition state of the proxies.
    pub net: Arc<Net>,
    /// The binary a rolling upgrade starts each node with (`chaos upgrade --to`).
    pub upgrade_to: Option<PathBuf>,
}

impl Cluster {
    /// Prepares `n` members under `root`: node 1 bootstraps, the others join it.
    ///
    /// # Errors
    /// Fails if a folder, port or config file cannot be made.
    pub fn prepare(n: usize, root: &Path, mailnode: PathBuf) -> Result<Self> {
        Self::prepare_with(n, root, mailnode, &Options::default())
    }

    /// Like [`Cluster::prepare`], laid out as `options` says.
    ///
    /// # Errors
    /// Fails if a folder, port or config file cannot be made.
    pub fn prepare_with(
        n: usize,
        root: &Path,
        mailnode: PathBuf,
        options: &Options,
    ) -> Result<Self> {
        let base = root.join("base");
        std::fs::create_dir_all(&base).with_context(|| format!("create {}", base.display()))?;
        let net = Net::new(n);
        let mut members = Vec::with_capacity(n);
        let mut ports = Ports::default();
        let first = Member::prepare(1, root, &base, None, net.clone(), options, &mut ports)?;
        let join = first.addrs.cluster;
        members.push(first);
        for index in 2..=n {
            members.push(Member::prepare(
                index,
                root,
                &base,
                Some(join),
                net.clone(),
                options,
                &mut ports,
            )?);
        }
        Ok(Self {
            members,
            mailnode,
            net,
            upgrade_to: None,
        })
    }

    /// Starts every member in order, each ready before the next starts.
    ///
    /// # Errors
    /// Fails if a member does not become ready.
    pub async fn start_all(&mut self) -> Result<()> {
        for member in &mut self.members {
            member.start(&self.mailnode).await?;
        }
        Ok(())
    }

    /// Brings every member to serving, each wait bounded by [`READY_TIMEOUT`]:
    /// a start in progress finishes, a member that is not running is started.
    /// Returns the members that do not serve, with why.
    pub async fn wait_all_ready(&mut self) -> Vec<(usize, anyhow::Error)> {
        let mut failed = Vec::new();
        for member in &mut self.members {
            let ready = if member.is_running() {
                member.wait_ready().await
            } else {
                member.start(&self.mailnode).await
            };
            if let Err(e) = ready {
                failed.push((member.index, e));
            }
        }
        failed
    }

    /// The addresses of every member, in order.
    pub fn addrs(&self) -> Vec<Addrs> {
        self.members.iter().map(|m| m.addrs).collect()
    }

    /// Kills every member.
    pub async fn shutdown(&mut self) {
        self.net.heal();
        for member in &mut self.members {
            member.shutdown().await;
            member.proxy = None;
        }
    }
}
