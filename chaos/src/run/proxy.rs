//! Network partitions on loopback: one TCP proxy in front of each node's cluster port.
//!
//! Every node listens for cluster traffic on an internal port and advertises the proxy's
//! address (`cluster_address`), so peers reach it only through the proxy. A partition assigns
//! each node a group; a connection from node A to node B's proxy is refused (accepted, then
//! closed at once) while A and B are in different groups, and open connections between groups
//! are dropped the moment the partition starts. The partition is two-way: node B's proxy also
//! refuses A, and A's proxy refuses B.
//!
//! The proxy knows the connecting node by its source address: node N's cluster listener is
//! bound to [`member_ip`]`(N)` (127.0.1.N), and a member connects to its peers from the
//! address its listener is bound to. A connection from any other address is refused while a
//! partition is active (never let an unknown peer bridge groups) and counted in
//! [`Net::unknown`].
//!
//! Invariants: the proxies only touch loopback; every copy ends when either side closes or the
//! partition separates the two ends; a proxy never outlives the run (its task is aborted on
//! drop of the [`ProxyHandle`]).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Context, Result};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Where node `index` (1-based) listens for cluster traffic and connects from.
pub fn member_ip(index: usize) -> IpAddr {
    IpAddr::from([127, 0, 1, u8::try_from(index).unwrap_or(u8::MAX)])
}

/// The node (1-based) whose cluster traffic comes from `ip`, if any.
fn member_of(ip: IpAddr) -> Option<usize> {
    match ip {
        IpAddr::V4(v4) => match v4.octets() {
            [127, 0, 1, n] if n > 0 => Some(usize::from(n)),
            _ => None,
        },
        IpAddr::V6(_) => None,
    }
}

/// The partition state shared by every proxy: each node's group (all equal: healed).
#[derive(Debug)]
pub struct Net {
    groups: watch::Sender<Vec<u8>>,
    /// Connections refused or dropped because of the partition.
    pub cut: AtomicU64,
    /// Connections from an address that is no member's.
    pub unknown: AtomicU64,
}

impl Net {
    /// A healed network of `n` nodes.
    pub fn new(n: usize) -> Arc<Self> {
        Arc::new(Self {
            groups: watch::Sender::new(vec![0; n]),
            cut: AtomicU64::new(0),
            unknown: AtomicU64::new(0),
        })
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
    let task = tokio::spawn(async move {
        let mut conns = tokio::task::JoinSet::new();
        loop {
            let Ok((client, peer)) = listener.accept().await else {
                continue;
            };
            // Reap finished connection tasks so the set stays small.
            while conns.try_join_next().is_some() {}
            let net = net.clone();
            let src = member_of(peer.ip());
            if src.is_none() {
                net.unknown.fetch_add(1, Ordering::Relaxed);
            }
            conns.spawn(async move {
                let mut groups = net.groups.subscribe();
                if Net::blocked(&groups.borrow_and_update(), src, dst) {
                    net.cut.fetch_add(1, Ordering::Relaxed);
                    return;
                }
                let Ok(Ok(mut server)) =
                    tokio::time::timeout(Duration::from_secs(5), TcpStream::connect(target)).await
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

    #[test]
    fn members_are_known_by_their_source_address() {
        assert_eq!(member_of(member_ip(1)), Some(1));
        assert_eq!(member_of(member_ip(3)), Some(3));
        assert_eq!(member_of(IpAddr::from([127, 0, 0, 1])), None);
        assert_eq!(member_of(IpAddr::from([127, 0, 1, 0])), None);
        assert_eq!(member_of("::1".parse().expect("ip")), None);
    }

    /// A client connecting from node 2's address: its connection to node 1's proxy survives
    /// a partition that leaves nodes 1 and 2 together and is cut by one that separates them.
    #[tokio::test]
    async fn proxy_identifies_members_and_cuts_only_across_groups() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let echo = echo_server().await;
        let net = Net::new(3);
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let proxy_addr = l.local_addr().expect("addr");
        let _p = start(net.clone(), 1, l, echo).expect("proxy");
        let from_node2 = || async {
            let socket = tokio::net::TcpSocket::new_v4().expect("socket");
            socket.bind(SocketAddr::new(member_ip(2), 0)).expect("bind");
            socket.connect(proxy_addr).await.expect("connect")
        };
        let mut c = from_node2().await;
        let mut buf = [0u8; 4];
        net.partition(&[3]);
        c.write_all(b"same").await.expect("write");
        c.read_exact(&mut buf)
            .await
            .expect("same group: still open");
        assert_eq!(&buf, b"same");
        net.heal();
        net.partition(&[2]);
        let mut rest = Vec::new();
        let n = tokio::time::timeout(Duration::from_secs(5), c.read_to_end(&mut rest))
            .await
            .expect("dropped in time")
            .unwrap_or(0);
        assert_eq!(n, 0);
        // New connections across the groups are refused while the partition lasts.
        let mut c = from_node2().await;
        let n = tokio::time::timeout(Duration::from_secs(5), c.read_to_end(&mut rest))
            .await
            .expect("refused in time")
            .unwrap_or(0);
        assert_eq!(n, 0);
        assert_eq!(net.cut.load(Ordering::Relaxed), 2);
        assert_eq!(net.unknown.load(Ordering::Relaxed), 0);
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
