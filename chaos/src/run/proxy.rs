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
//! descriptors of the member processes (`/proc/PID/fd`). That lookup reads tables as large as
//! the machine's open and closing sockets, so it is made only while a partition is active (for
//! each open connection when the partition starts, and for each new one during it), off the
//! async threads, one scan shared by every connection waiting for it. Outside partitions a
//! connection is forwarded at once: a proxy slower than the nodes' RPC timeouts would make
//! them reconnect ever more often. A connection whose source cannot be identified is refused
//! while a partition is active (never let an unknown peer bridge groups) and counted in
//! [`Net::unknown`].
//!
//! Invariants: the proxies only touch loopback; every copy ends when either side closes or the
//! partition separates the two ends; a proxy never outlives the run (its task is aborted on
//! drop of the [`ProxyHandle`]).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

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
    /// The last scan of which member holds which client socket.
    owners: Mutex<Owners>,
    /// Connections refused or dropped because of the partition.
    pub cut: AtomicU64,
    /// Connections whose source node could not be identified.
    pub unknown: AtomicU64,
}

/// Which member (1-based) holds the client end of each connection to a proxy, by (client
/// port, proxy port), as scanned at `at`.
#[derive(Debug)]
struct Owners {
    at: Instant,
    by_ports: HashMap<(u16, u16), usize>,
}

/// How old a scan may be before a connection it does not know makes a new one.
const RESCAN_AFTER: Duration = Duration::from_millis(20);

impl Net {
    /// A healed network of `n` nodes.
    pub fn new(n: usize) -> Arc<Self> {
        Arc::new(Self {
            groups: watch::Sender::new(vec![0; n]),
            pids: Mutex::new(vec![None; n]),
            owners: Mutex::new(Owners {
                at: Instant::now(),
                by_ports: HashMap::new(),
            }),
            cut: AtomicU64::new(0),
            unknown: AtomicU64::new(0),
        })
    }

    /// Records the PID of node `index` (1-based), `None` when it is not running.
    pub fn set_pid(&self, index: usize, pid: Option<u32>) {
        let mut pids = lock(&self.pids);
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

    /// Whether `groups` separates some nodes.
    fn partitioned(groups: &[u8]) -> bool {
        groups.iter().any(|g| *g != groups[0])
    }

    /// Whether traffic from `src` (1-based, `None`: unidentified) to `dst` is cut under `groups`.
    fn blocked(groups: &[u8], src: Option<usize>, dst: usize) -> bool {
        match src {
            _ if !Self::partitioned(groups) => false,
            None => true,
            Some(s) => groups.get(s - 1) != groups.get(dst - 1),
        }
    }

    /// Which member holds the client end of the connection from local port `port` to the
    /// proxy port `server`, accepted at `accepted`; `None` (counted) if none can be found.
    async fn identify(
        self: &Arc<Self>,
        port: u16,
        server: u16,
        accepted: Instant,
    ) -> Option<usize> {
        // A scan may miss a row while the kernel's table changes: look again a few times.
        for attempt in 0..4u64 {
            let net = self.clone();
            let found = tokio::task::spawn_blocking(move || net.owner(port, server, accepted))
                .await
                .ok()
                .flatten();
            if found.is_some() {
                return found;
            }
            tokio::time::sleep(Duration::from_millis(5 * (attempt + 1))).await;
        }
        self.unknown.fetch_add(1, Ordering::Relaxed);
        None
    }

    /// [`Net::identify`]'s blocking part: the latest scan if it is newer than the connection
    /// and knows it, else a new scan (unless one was just made). Only a scan made after the
    /// connection was accepted is trusted: an older one may hold its ports for a connection of
    /// another process that has closed since.
    fn owner(&self, port: u16, server: u16, accepted: Instant) -> Option<usize> {
        let mut owners = lock(&self.owners);
        let fresh = |o: &Owners| o.at >= accepted;
        if fresh(&owners)
            && let Some(node) = owners.by_ports.get(&(port, server))
        {
            return Some(*node);
        }
        if !fresh(&owners) || owners.at.elapsed() >= RESCAN_AFTER {
            let pids = lock(&self.pids).clone();
            *owners = Owners {
                at: Instant::now(),
                by_ports: scan(&pids),
            };
        }
        owners.by_ports.get(&(port, server)).copied()
    }
}

/// Locks `m`, whatever a panicked holder left.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Which member (1-based, as in `pids`) holds each IPv4 TCP socket on this machine, by (local
/// port, remote port).
fn scan(pids: &[Option<u32>]) -> HashMap<(u16, u16), usize> {
    let Ok(table) = std::fs::read_to_string("/proc/net/tcp") else {
        return HashMap::new();
    };
    let ports_by_inode: HashMap<u64, (u16, u16)> =
        table.lines().skip(1).filter_map(socket_row).collect();
    let mut owners = HashMap::new();
    for (i, pid) in pids.iter().enumerate() {
        let Some(pid) = pid else { continue };
        let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
            continue;
        };
        for fd in dir.flatten() {
            let Ok(target) = std::fs::read_link(fd.path()) else {
                continue;
            };
            let inode = target
                .to_str()
                .and_then(|t| t.strip_prefix("socket:["))
                .and_then(|t| t.strip_suffix(']'))
                .and_then(|t| t.parse::<u64>().ok());
            if let Some(ports) = inode.and_then(|inode| ports_by_inode.get(&inode)) {
                owners.insert(*ports, i + 1);
            }
        }
    }
    owners
}

/// One row of `/proc/net/tcp`: the socket's inode and its (local port, remote port).
fn socket_row(line: &str) -> Option<(u64, (u16, u16))> {
    let cols: Vec<&str> = line.split_whitespace().collect();
    let port = |addr: &str| u16::from_str_radix(addr.rsplit_once(':')?.1, 16).ok();
    let inode = cols.get(9)?.parse().ok().filter(|inode| *inode != 0)?;
    Some((inode, (port(cols.get(1)?)?, port(cols.get(2)?)?)))
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
                let accepted = Instant::now();
                let mut groups = net.groups.subscribe();
                let mut src = None;
                if Net::partitioned(&groups.borrow_and_update()) {
                    src = net.identify(peer.port(), server_port, accepted).await;
                    if Net::blocked(&groups.borrow(), src, dst) {
                        net.cut.fetch_add(1, Ordering::Relaxed);
                        return;
                    }
                }
                let Ok(Ok(mut server)) =
                    tokio::time::timeout(Duration::from_secs(5), TcpStream::connect(target)).await
                else {
                    return;
                };
                let _ = server.set_nodelay(true);
                let mut client = client;
                let _ = client.set_nodelay(true);
                // Ends when a partition separates the two ends; the source is identified
                // when the first partition starts.
                let separated = async {
                    loop {
                        if Net::partitioned(&groups.borrow_and_update()) {
                            if src.is_none() {
                                src = net.identify(peer.port(), server_port, accepted).await;
                            }
                            if Net::blocked(&groups.borrow(), src, dst) {
                                return;
                            }
                        }
                        if groups.changed().await.is_err() {
                            std::future::pending::<()>().await;
                        }
                    }
                };
                tokio::select! {
                    _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                    () = separated => {
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

    #[test]
    fn socket_rows_give_inode_and_ports() {
        let row = "   3: 0100007F:9C40 0100007F:1F90 01 00000000:00000000 00:00000000 00000000     0        0 123456 1 0000000000000000 20 4 30 10 -1";
        assert_eq!(socket_row(row), Some((123_456, (0x9C40, 0x1F90))));
        let listening = "   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 0 1";
        assert_eq!(socket_row(listening), None);
        assert_eq!(socket_row("garbage"), None);
    }

    /// This test process plays node 2: its connection to node 1's proxy survives a partition
    /// that leaves nodes 1 and 2 together and is cut by one that separates them.
    #[tokio::test]
    async fn proxy_identifies_members_and_cuts_only_across_groups() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let echo = echo_server().await;
        let net = Net::new(3);
        net.set_pid(2, Some(std::process::id()));
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let proxy_addr = l.local_addr().expect("addr");
        let _p = start(net.clone(), 1, l, echo).expect("proxy");
        let mut c = TcpStream::connect(proxy_addr).await.expect("connect");
        let mut buf = [0u8; 4];
        net.partition(&[3]);
        tokio::time::sleep(Duration::from_millis(200)).await;
        c.write_all(b"same").await.expect("write");
        c.read_exact(&mut buf)
            .await
            .expect("same group: still open");
        assert_eq!(&buf, b"same");
        assert_eq!(net.unknown.load(Ordering::Relaxed), 0);
        net.heal();
        net.partition(&[2]);
        let mut rest = Vec::new();
        let n = tokio::time::timeout(Duration::from_secs(5), c.read_to_end(&mut rest))
            .await
            .expect("dropped in time")
            .unwrap_or(0);
        assert_eq!(n, 0);
        // New connections across the groups are refused while the partition lasts.
        let mut c = TcpStream::connect(proxy_addr).await.expect("connect");
        let n = tokio::time::timeout(Duration::from_secs(5), c.read_to_end(&mut rest))
            .await
            .expect("refused in time")
            .unwrap_or(0);
        assert_eq!(n, 0);
        assert_eq!(net.cut.load(Ordering::Relaxed), 2);
    }

    /// A server that echoes what it reads.
    async fn echo_server() -> SocketAddr {
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
        echo_addr
    }

    #[tokio::test]
    async fn proxy_forwards_then_cuts_unknown_sources() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let echo_addr = echo_server().await;
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
