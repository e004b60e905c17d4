//! First-start and every-start housekeeping: the main domain and the
//! `postmaster` account, and the sweep of orphan queue files.

use std::io::Write;

use cluster::{
    AccountHub, ClusterHandle, Command, CommandResult, DirectoryOp, Password, Rejection,
};
use rand::Rng;
use storage::{AccountKind, Spool};

use crate::config::NodeConfig;
use crate::error::{Error, Result};
use crate::server::password_file;
use crate::syslog::{SystemLog, level};

/// Makes sure the main domain and `postmaster` exist. Returns the
/// postmaster password if this call generated one (first start without
/// `postmaster_password`); it is also written to a file only the owner can
/// read (`data_dir/postmaster.password`).
///
/// # Errors
/// Raft or storage failures.
pub async fn ensure_main_domain(
    config: &NodeConfig,
    cluster: &ClusterHandle,
    accounts: &AccountHub,
) -> Result<Option<String>> {
    let main = cluster.read(|s| s.directory.main_domain.clone());
    if main.is_empty() {
        let op = DirectoryOp::Bootstrap {
            main_domain: config.main_domain.clone(),
        };
        expect_done(propose_at_start(cluster, Command::Directory(op)).await?)?;
    }
    let main = cluster.read(|s| s.directory.main_domain.clone());
    let exists = cluster.read(|s| s.directory.resolve(&format!("postmaster@{main}")).is_some());
    if exists {
        return Ok(None);
    }
    let (password, generated) = match &config.postmaster_password {
        Some(p) => (p.clone(), false),
        None => (random_password(), true),
    };
    let hash = {
        let p = password.clone();
        tokio::task::spawn_blocking(move || cluster::password::hash(&p))
            .await
            .map_err(|e| Error::Task(e.to_string()))?
    };
    if generated {
        write_secret(&password_file(config), &password)?;
    }
    let op = DirectoryOp::CreateAccount {
        domain: main.clone(),
        name: "postmaster".into(),
        kind: AccountKind::MultiMailbox,
        password: Some(Password {
            hash,
            apop_secret: Some(password.clone()),
        }),
        settings: Default::default(),
    };
    match propose_at_start(cluster, Command::Directory(op)).await? {
        CommandResult::Done | CommandResult::Rejected(Rejection::AccountExists) => {}
        other => expect_done(other)?,
    }
    let store = accounts.store().clone();
    tokio::task::spawn_blocking(move || {
        match store.create_account(None, "postmaster", AccountKind::MultiMailbox) {
            Ok(()) | Err(storage::Error::AccountExists) => Ok(()),
            Err(e) => Err(e),
        }
    })
    .await
    .map_err(|e| Error::Task(e.to_string()))??;
    Ok(generated.then_some(password))
}

/// Every how many attempts (half a second apart) start-up says it is still
/// waiting for a commit: once a minute.
const START_WARN_EVERY: u32 = 120;

/// Proposes `command` during start-up, again every half second while the
/// cluster cannot commit it: a leader change or a lost quorum while this
/// member starts must not make it give up (it rejoins by itself once the
/// cluster is back).
async fn propose_at_start(cluster: &ClusterHandle, command: Command) -> Result<CommandResult> {
    let mut attempts = 0u32;
    loop {
        match cluster.propose(command.clone()).await {
            Err(e) if e.is_temporary() => {
                attempts = attempts.wrapping_add(1);
                if attempts.is_multiple_of(START_WARN_EVERY) {
                    tracing::warn!("start: {e}; still waiting for the cluster");
                }
                tokio::time::sleep(std::time::Duration::from_millis(500)).await;
            }
            other => return Ok(other?),
        }
    }
}

fn expect_done(result: CommandResult) -> Result<()> {
    match result {
        CommandResult::Done => Ok(()),
        CommandResult::Rejected(r) => Err(Error::Rejected(r)),
        other => Err(Error::Task(format!("unexpected result {other:?}"))),
    }
}

/// 16 characters from an alphabet without look-alikes.
fn random_password() -> String {
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut rng = rand::thread_rng();
    (0..16)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect()
}

/// Writes a secret to a file readable by its owner only (mode 0600).
fn write_secret(path: &std::path::Path, secret: &str) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| Error::path(path, e))?;
    writeln!(file, "{secret}").map_err(|e| Error::path(path, e))?;
    file.sync_all().map_err(|e| Error::path(path, e))
}

/// The cluster secret: configured, or kept in the shared base directory
/// (`Settings/cluster.secret`, mode 0600), where the first node writes it
/// and joining nodes read it. Whoever can read the base directory can read
/// all mail anyway, so it is the cluster's trust boundary.
///
/// # Errors
/// The file cannot be read or written.
pub fn cluster_secret(config: &NodeConfig, base: &storage::BaseDir) -> Result<String> {
    if let Some(secret) = &config.cluster_secret {
        return Ok(secret.clone());
    }
    let path = base.settings_dir().join("cluster.secret");
    match std::fs::read_to_string(&path) {
        Ok(text) if !text.trim().is_empty() => return Ok(text.trim().to_string()),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(Error::path(&path, e)),
    }
    let secret: String = (0..32)
        .map(|_| format!("{:02x}", rand::random::<u8>()))
        .collect();
    write_secret(&path, &secret)?;
    Ok(secret)
}

/// The address peers reach a listener at: its own, or the host name with
/// its port when it listens on all interfaces.
pub fn advertised(local: std::net::SocketAddr) -> String {
    if local.ip().is_unspecified() {
        let host = gethostname::gethostname().to_string_lossy().into_owned();
        format!("{host}:{}", local.port())
    } else {
        local.to_string()
    }
}

/// How old an unqueued body must be to count as an orphan: enqueueing
/// takes seconds at most.
const ORPHAN_AGE: std::time::Duration = std::time::Duration::from_secs(600);

/// Publishes this member's name, version and service addresses in the
/// replicated state (for `mailnode cluster status` and peers).
///
/// # Errors
/// The command cannot be committed.
pub async fn register_node<'a>(
    config: &NodeConfig,
    cluster: &ClusterHandle,
    listeners: impl Iterator<Item = (&'a str, &'a tokio::net::TcpListener)>,
) -> Result<()> {
    let services = listeners
        .filter_map(|(key, l)| Some((key.to_string(), advertised(l.local_addr().ok()?))))
        .collect();
    let info = cluster::status::NodeInfo {
        name: config.node_name.clone(),
        version: env!("CARGO_PKG_VERSION").to_string(),
        protocol: config.cluster_protocol(),
        services,
    };
    let id = cluster.node_id();
    expect_done(propose_at_start(cluster, Command::RegisterNode { id, info }).await?)
}

/// Drops the queue claims this node held before it (re)started: whatever
/// it was delivering then is not being delivered now, so the entries are
/// due again at once instead of after the claim lease.
///
/// # Errors
/// The command cannot be committed.
pub async fn release_claims(cluster: &ClusterHandle) -> Result<()> {
    let node = cluster.node_id();
    expect_done(propose_at_start(cluster, Command::ReleaseClaims { node }).await?)
}

/// Removes queue files nothing needs any more, at start: the bodies of
/// dequeued messages whose removal a crash interrupted (the queue state
/// lists them), and bodies written for a message whose `Enqueue` never
/// committed (no `250` was sent). Other members may be between writing a
/// body and committing its entry, so only unlisted files older than
/// [`ORPHAN_AGE`] count as the latter. Returns the dequeued ids, for the
/// DEQUEUER to forget in its time (`Delivery::forgetting`).
///
/// # Errors
/// The queue folder cannot be listed.
pub async fn sweep_spool(
    cluster: &ClusterHandle,
    spool: &Spool,
    log: &SystemLog,
) -> Result<Vec<cluster::QueueId>> {
    spool.clean_temp()?;
    let removable: Vec<cluster::QueueId> =
        cluster.read(|s| s.queue.removable.iter().copied().collect());
    for id in &removable {
        spool.remove(id.0)?;
    }
    for id in spool.list_ids()? {
        let queued = cluster.read(|s| s.queue.entries.contains_key(&cluster::QueueId(id)));
        let old = std::fs::metadata(spool.body_path(id))
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > ORPHAN_AGE);
        if !queued && old {
            spool.remove(id)?;
            log.write(
                level::PROBLEM,
                "QUEUE",
                &format!("[{id}]"),
                "orphan message file removed",
            );
        }
    }
    Ok(removable)
}
