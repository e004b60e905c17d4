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
        expect_done(cluster.propose(Command::Directory(op)).await?)?;
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
    match cluster.propose(Command::Directory(op)).await? {
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

/// Drops the queue claims this node held before it (re)started: whatever
/// it was delivering then is not being delivered now, so the entries are
/// due again at once instead of after the claim lease.
///
/// # Errors
/// The command cannot be committed.
pub async fn release_claims(cluster: &ClusterHandle) -> Result<()> {
    let node = cluster.node_id();
    expect_done(cluster.propose(Command::ReleaseClaims { node }).await?)
}

/// Removes queue files that no queue entry names: bodies written for a
/// message whose `Enqueue` never committed (the client got no `250`).
/// Runs at start, before anything enqueues.
///
/// # Errors
/// The queue folder cannot be listed.
pub fn sweep_spool(cluster: &ClusterHandle, spool: &Spool, log: &SystemLog) -> Result<()> {
    spool.clean_temp()?;
    for id in spool.list_ids()? {
        let queued = cluster.read(|s| s.queue.entries.contains_key(&cluster::QueueId(id)));
        if !queued {
            spool.remove(id)?;
            log.write(
                level::PROBLEM,
                "QUEUE",
                &format!("[{id}]"),
                "orphan message file removed",
            );
        }
    }
    Ok(())
}
