//! `mailnode cluster status|remove|leave`: the administrator's view of and
//! hand on the cluster, over the node-to-node RPC of the local member.

use std::time::{Duration, Instant};

use cluster::rpc::{self, RemoteError, RpcRequest, RpcResponse, Secret};
use cluster::status::ClusterStatus;

use crate::config::NodeConfig;
use crate::error::{Error, Result};

/// The local member's cluster address from its configuration (`127.0.0.1`
/// when it listens on all interfaces).
fn local_address(config: &NodeConfig) -> Result<String> {
    let addr = config.listen.cluster.addr().ok_or_else(|| {
        Error::Config("listen.cluster is off: this node has no cluster port".into())
    })?;
    let ip = if addr.ip().is_unspecified() {
        std::net::IpAddr::from([127, 0, 0, 1])
    } else {
        addr.ip()
    };
    Ok(std::net::SocketAddr::new(ip, addr.port()).to_string())
}

fn secret(config: &NodeConfig) -> Result<Secret> {
    let base = storage::BaseDir::new(config.base_dir.clone());
    Ok(Secret::new(&crate::bootstrap::cluster_secret(
        config, &base,
    )?))
}

/// The cluster as the member at `node` (default: the local one) sees it.
///
/// # Errors
/// The member cannot be reached or refuses us.
pub async fn status(config: &NodeConfig, node: Option<String>) -> Result<ClusterStatus> {
    let addr = match node {
        Some(a) => a,
        None => local_address(config)?,
    };
    match rpc::call_once(&addr, &secret(config)?, &RpcRequest::Status).await {
        Ok(RpcResponse::Status(status)) => Ok(*status),
        Ok(other) => Err(Error::Task(format!("unexpected answer {other:?}"))),
        Err(e) => Err(Error::Task(e.to_string())),
    }
}

/// Removes member `id` from the cluster (a dead one, or one that left).
///
/// # Errors
/// No leader reachable, or the change failed.
pub async fn remove(config: &NodeConfig, id: u64) -> Result<()> {
    let secret = secret(config)?;
    let mut addr = local_address(config)?;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let answer = rpc::call_once(&addr, &secret, &RpcRequest::RemoveMember { id }).await;
        match answer {
            Ok(RpcResponse::Removed(Ok(()))) => return Ok(()),
            Ok(RpcResponse::Removed(Err(RemoteError::NotLeader(Some((_, leader)))))) => {
                addr = leader
            }
            Ok(RpcResponse::Removed(Err(e))) if Instant::now() > deadline => {
                return Err(Error::Task(e.to_string()));
            }
            Err(e) if Instant::now() > deadline => return Err(Error::Task(e.to_string())),
            Ok(other) if !matches!(other, RpcResponse::Removed(_)) => {
                return Err(Error::Task(format!("unexpected answer {other:?}")));
            }
            _ => tokio::time::sleep(Duration::from_millis(300)).await,
        }
    }
}

/// Drains and removes the local member: stops the running node gracefully
/// (it hands back its queue claims and account leases), waits for it to
/// exit, then removes it from the cluster through another member.
///
/// # Errors
/// The node is not running here, no other member is known, or the removal
/// failed.
pub async fn leave(config: &NodeConfig) -> Result<()> {
    let members = status(config, None).await?;
    let id_path = config.data_dir.join("node.id");
    let id: u64 = std::fs::read_to_string(&id_path)
        .map_err(|e| Error::path(&id_path, e))?
        .trim()
        .parse()
        .map_err(|_| Error::Config(format!("{} does not hold a node id", id_path.display())))?;
    let pid_path = crate::server::pid_file(config);
    if let Ok(text) = std::fs::read_to_string(&pid_path)
        && let Ok(pid) = text.trim().parse::<i32>()
    {
        stop_process(pid).await?;
    }
    let through = members
        .members
        .iter()
        .filter(|m| m.id != id)
        .find_map(|m| m.addr.parse().ok())
        .ok_or_else(|| Error::Config("no other member to leave through".into()))?;
    let mut other = config.clone();
    other.listen.cluster = crate::config::Listen::Addr(through);
    remove(&other, id).await
}

/// Sends SIGTERM to `pid` and waits (up to 60 s) until it is gone.
async fn stop_process(pid: i32) -> Result<()> {
    // Signal 0 only probes whether the process exists.
    let alive = |pid: i32| send_signal(pid, 0);
    if !alive(pid) {
        return Ok(());
    }
    send_signal(pid, libc::SIGTERM);
    let deadline = Instant::now() + Duration::from_secs(60);
    while alive(pid) {
        if Instant::now() > deadline {
            return Err(Error::Task(format!("process {pid} did not stop")));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}

/// Signals a process with kill(1) (the workspace has no unsafe code).
fn send_signal(pid: i32, signal: i32) -> bool {
    std::process::Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}
