//! Network partitions on loopback: one TCP proxy in front of each node's cluster port.
//!
//! Every node listens for cluster traffic on an internal port and advertises the proxy's
//! address (`cluster_address`), so peers reach it only through the proxy. A partition assigns
//! each node a group; a connection from node A to node B's proxy is refused (accepted, then
//! closed at once) while A and B are in different groups, and open connections between groups
//! are dropped the moment the partition starts. The partition is two-way: node B's proxy also
//! refuses A, and A's proxy refuses B.
//!
//! All nodes connect from 127.0.0.1, so the proxy identifies the connecting node by its socket:
//! the client's port is looked up in `/proc/net/tcp` (its inode) and the inode among the file
//! descriptors of the member processes (`/proc/PID/fd`). A connection whose source cannot be
//! identified is refused while a partition is active (never let an unknown peer bridge groups)
//! and counted in [`Net::unknown`].
//!
//! Invariants: the proxies only touch loopback; every copy ends when either side closes or the
//! partition separates the two ends; a proxy never outlives the run (its task is aborted on
//! drop of the [`ProxyHandle`]).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{Context, Result};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// The partition state shared by every proxy: each node's group (all equal: healed) and the
/// PIDs of the member processes.
#[derive(Debug)]
pub struct Net {
    groups: watch::Sender<Vec<u8>>,
    pids: Mutex<Vec<Option<u32>>>,
    /// Connections refused or dropped because of the partition.
    pub cut: AtomicU64,
    /// Connections whose source node could not be identified.
    pub unknown: AtomicU64,
}

impl Net {
    /// A healed network of `n` nodes.
    pub fn new(n: usize) -> Arc<Self> {
        Arc::new(Self {
            groups: watch::Sender::new(vec![0; n]),
            pids: Mutex::new(vec![None; n]),
            cut: AtomicU64::new(0),
            unknown: AtomicU64::new(0),
        })
    }

    /// Records the PID of node `index` (1-based), `None` when it is not running.
    pub fn set_pid(&self, index: usize, pid: Option<u32>) {
        let mut pids = self
            .pids
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(slot) = pids.get_mut(index - 1) {
            *slot = pid;
        }
    }

    /// Separates `minority` (1-based node indexes) from every other node.
    pub fn partition(&self, minority: &[usize]) {
        self.groups.send_modify(|g| {
            for (i, group) in g.iter_mut().enumerate() {
                *group = u8::from(minority.contains(&(i + 1)));
            }
        });
    }

    /// Heals every partition.
    pub fn heal(&self) {
        self.groups
            .send_modify(|g| g.iter_mut().for_each(|x| *x = 0));
    }

    /// Whether traffic from `src` (1-based, `None`: unidentified) to `dst` is cut under `groups`.
    fn blocked(groups: &[u8], src: Option<usize>, dst: usize) -> bool {
        let active = groups.iter().any(|g| *g != groups[0]);
        match src {
            _ if !active => false,
            None => true,
            Some(s) => groups.get(s - 1) != groups.get(dst - 1),
        }
    }

    /// Which member holds the client end of a connection from local port `port` to `server`.
    fn identify(&self, port: u16, server: u16) -> Option<usize> {
        let inode = socket_inode(port, server)?;
        let want = format!("socket:[{inode}]");
        let pids = self
            .pids
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        for (i, pid) in pids.iter().enumerate() {
            let Some(pid) = pid else { continue };
            let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
                continue;
            };
            for fd in dir.flatten() {
                if std::fs::read_link(fd.path())
                    .is_ok_and(|target| target.as_os_str() == want.as_str())
                {
                    return Some(i + 1);
                }
            }
        }
        None
    }
}

/// The inode of the IPv4 TCP socket whose local port is `port` and remote port `server`.
fn socket_inode(port: u16, server: u16) -> Option<u64> {
    let table = std::fs::read_to_string("/proc/net/tcp").ok()?;
    let local = format!(":{port:04X}");
    let remote = format!(":{server:04X}");
    table.lines().skip(1).find_map(|line| {
        let cols: Vec<&str> = line.split_whitespace().collect();
        if cols.len() > 9 && cols[1].ends_with(&local) && cols[2].ends_with(&remote) {
            cols[9].parse().ok().filter(|inode| *inode != 0)
        } else {
            None
        }
    })
}

/// A running proxy; aborted when dropped.
#[derive(Debug)]
pub struct ProxyHandle {
    task: JoinHandle<()>,
}

impl Drop for ProxyHandle {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Starts the proxy of node `dst` (1-based): accepts on `listener`, forwards to `target`.
///
/// # Errors
/// Fails if the listener cannot be handed to tokio.
pub fn start(
    net: Arc<Net>,
    dst: usize,
    listener: std::net::TcpListener,
    target: SocketAddr,
) -> Result<ProxyHandle> {
    listener
        .set_nonblocking(true)
        .context("proxy listener nonblocking")?;
    let listener = TcpListener::from_std(listener).context("proxy listener")?;
    let server_port = listener.local_addr().context("proxy address")?.port();
    let task = tokio::spawn(async move {
        let mut conns = tokio::task::JoinSet::new();
        loop {
            let Ok((client, peer)) = listener.accept().await else {
                continue;
            };
            // Reap finished connection tasks so the set stays small.
            while conns.try_join_next().is_some() {}
            let net = net.clone();
            conns.spawn(async move {
                // `/proc/net/tcp` is read in pages and may miss a row while the table
                // changes: look again a few times before calling the source unknown.
                let mut src = None;
                for attempt in 0..4u64 {
                    src = net.identify(peer.port(), server_port);
                    if src.is_some() {
                        break;
                    }
                    tokio::time::sleep(std::time::Duration::from_millis(5 * (attempt + 1))).await;
                }
                if src.is_none() {
                    net.unknown.fetch_add(1, Ordering::Relaxed);
                }
                let mut groups = net.groups.subscribe();
                if Net::blocked(&groups.borrow_and_update(), src, dst) {
                    net.cut.fetch_add(1, Ordering::Relaxed);
                    return;
                }
                let Ok(Ok(mut server)) = tokio::time::timeout(
                    std::time::Duration::from_secs(5),
                    TcpStream::connect(target),
                )
                .await
                else {
                    return;
                };
                let _ = server.set_nodelay(true);
                let mut client = client;
                let _ = client.set_nodelay(true);
                tokio::select! {
                    _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                    _ = groups.wait_for(|g| Net::blocked(g, src, dst)) => {
                        net.cut.fetch_add(1, Ordering::Relaxed);
                    }
                }
            });
        }
    });
    Ok(ProxyHandle { task })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocked_only_across_groups_and_only_while_partitioned() {
        assert!(!Net::blocked(&[0, 0, 0], None, 1));
        assert!(!Net::blocked(&[0, 0, 0], Some(2), 1));
        assert!(Net::blocked(&[1, 0, 0], Some(1), 2));
        assert!(Net::blocked(&[1, 0, 0], Some(2), 1));
        assert!(!Net::blocked(&[1, 0, 0], Some(2), 3));
        assert!(!Net::blocked(&[1, 0, 0], Some(1), 1));
        assert!(Net::blocked(&[1, 0, 0], None, 3));
    }

    #[tokio::test]
    async fn proxy_forwards_then_cuts_unknown_sources() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let echo = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let echo_addr = echo.local_addr().expect("addr");
        tokio::spawn(async move {
            while let Ok((mut s, _)) = echo.accept().await {
                tokio::spawn(async move {
                    let mut buf = [0u8; 64];
                    while let Ok(n) = s.read(&mut buf).await {
                        if n == 0 || s.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                });
            }
        });
        let net = Net::new(3);
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let proxy_addr = l.local_addr().expect("addr");
        let _p = start(net.clone(), 1, l, echo_addr).expect("proxy");
        let mut c = TcpStream::connect(proxy_addr).await.expect("connect");
        c.write_all(b"ping").await.expect("write");
        let mut buf = [0u8; 4];
        c.read_exact(&mut buf).await.expect("echo");
        assert_eq!(&buf, b"ping");
        // This test process is no member: unknown, so cut by any partition.
        net.partition(&[3]);
        let mut rest = Vec::new();
        let n = tokio::time::timeout(std::time::Duration::from_secs(5), c.read_to_end(&mut rest))
            .await
            .expect("dropped in time")
            .unwrap_or(0);
        assert_eq!(n, 0);
        net.heal();
        let mut c = TcpStream::connect(proxy_addr).await.expect("connect");
        c.write_all(b"pong").await.expect("write");
        c.read_exact(&mut buf).await.expect("echo after heal");
        assert_eq!(&buf, b"pong");
    }
}
