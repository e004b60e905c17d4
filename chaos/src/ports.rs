//! Fixed loopback ports for processes started by the tool and by tests.
//!
//! A port handed to another process cannot stay bound here, so two races remain between the
//! pick and that process's bind: the kernel may hand the same port to the next bind to port 0,
//! and any outgoing connection may take it as its local port. Both come from the ephemeral
//! range, so ports are picked below it, each held until the whole set is picked.

use std::net::{IpAddr, SocketAddr, TcpListener};

use rand::Rng;

/// Where ports are picked: below Linux's default ephemeral range (32768–60999).
const RANGE: std::ops::Range<u16> = 20_000..32_000;

/// Ports picked so far, each held open until this value is dropped.
#[derive(Debug, Default)]
pub struct Ports(Vec<TcpListener>);

impl Ports {
    /// A free loopback port outside the ephemeral range, distinct from those held here.
    ///
    /// # Errors
    /// Fails if no port of the range can be bound.
    pub fn pick(&mut self) -> std::io::Result<SocketAddr> {
        self.pick_on(IpAddr::from([127, 0, 0, 1]))
    }

    /// Like [`Ports::pick`], on the loopback address `ip`.
    ///
    /// # Errors
    /// Fails if no port of the range can be bound.
    pub fn pick_on(&mut self, ip: IpAddr) -> std::io::Result<SocketAddr> {
        let span = RANGE.end - RANGE.start;
        let start = rand::thread_rng().gen_range(0..span);
        for step in 0..span {
            let port = RANGE.start + (start + step) % span;
            if let Ok(listener) = TcpListener::bind((ip, port)) {
                let addr = listener.local_addr()?;
                self.0.push(listener);
                return Ok(addr);
            }
        }
        Err(std::io::Error::new(
            std::io::ErrorKind::AddrInUse,
            format!("no free port on {ip} in {RANGE:?}"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_distinct_ports_outside_the_ephemeral_range() {
        let mut ports = Ports::default();
        let picked: std::collections::HashSet<u16> =
            (0..50).map(|_| ports.pick().unwrap().port()).collect();
        assert_eq!(picked.len(), 50);
        assert!(picked.iter().all(|p| RANGE.contains(p)));
    }
}
