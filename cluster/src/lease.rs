//! Account leases: which node may open an account's mailboxes (DESIGN
//! invariant 3, one writer per account).
//!
//! A lease is granted through Raft for a time-to-live and renewed by use;
//! it lapses when its holder stops renewing it (idle, or dead). Expiry is
//! judged with the proposer's wall clock carried in the command, and the
//! holder counts its own validity from a monotonic instant taken before it
//! proposed, minus a margin: so nodes' clocks must agree within that
//! margin ([`crate::accounts::CLOCK_SKEW_MARGIN`]).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One account's lease.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    /// The holder.
    pub node: u64,
    /// When it lapses (ms since the epoch, proposer's clock).
    pub expires_ms: u64,
    /// Fencing token, new for every new holder.
    pub token: u64,
}

/// The answer to a lease request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum LeaseOutcome {
    /// The requester holds the lease until `expires_ms`.
    Granted {
        /// The lease's token.
        token: u64,
        /// When it lapses.
        expires_ms: u64,
    },
    /// Another node holds it.
    HeldBy {
        /// The holder.
        node: u64,
        /// When its lease lapses if not renewed.
        expires_ms: u64,
    },
}

/// All leases, by account address.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Leases {
    /// Leases by `name@domain`.
    pub held: BTreeMap<String, Lease>,
    next_token: u64,
}

impl Leases {
    /// Grants (or renews) `account` to `node` unless another node holds a
    /// live lease.
    pub fn acquire(&mut self, account: &str, node: u64, now_ms: u64, ttl_ms: u64) -> LeaseOutcome {
        match self.held.get_mut(account) {
            Some(lease) if lease.node != node && lease.expires_ms > now_ms => {
                LeaseOutcome::HeldBy {
                    node: lease.node,
                    expires_ms: lease.expires_ms,
                }
            }
            Some(lease) if lease.node == node => {
                lease.expires_ms = lease.expires_ms.max(now_ms + ttl_ms);
                LeaseOutcome::Granted {
                    token: lease.token,
                    expires_ms: lease.expires_ms,
                }
            }
            _ => {
                self.next_token += 1;
                let lease = Lease {
                    node,
                    expires_ms: now_ms + ttl_ms,
                    token: self.next_token,
                };
                let outcome = LeaseOutcome::Granted {
                    token: lease.token,
                    expires_ms: lease.expires_ms,
                };
                self.held.insert(account.to_string(), lease);
                outcome
            }
        }
    }

    /// Drops `node`'s lease on `account`, if it holds it.
    pub fn release(&mut self, account: &str, node: u64) {
        if self.held.get(account).is_some_and(|l| l.node == node) {
            self.held.remove(account);
        }
    }

    /// Drops every lease of `node` (it restarted or left).
    pub fn release_all(&mut self, node: u64) {
        self.held.retain(|_, l| l.node != node);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_holder_at_a_time_until_expiry() {
        let mut l = Leases::default();
        let first = l.acquire("a@x", 1, 1000, 10_000);
        assert!(matches!(
            first,
            LeaseOutcome::Granted {
                expires_ms: 11_000,
                ..
            }
        ));
        assert_eq!(
            l.acquire("a@x", 2, 5000, 10_000),
            LeaseOutcome::HeldBy {
                node: 1,
                expires_ms: 11_000
            }
        );
        // Renewal keeps the token.
        let renewed = l.acquire("a@x", 1, 6000, 10_000);
        let (
            LeaseOutcome::Granted { token: t1, .. },
            LeaseOutcome::Granted {
                token: t2,
                expires_ms,
            },
        ) = (first, renewed)
        else {
            panic!("not granted");
        };
        assert_eq!((t1, expires_ms), (t2, 16_000));
        // After expiry another node takes it with a new token.
        let taken = l.acquire("a@x", 2, 16_000, 10_000);
        assert!(matches!(taken, LeaseOutcome::Granted { token, .. } if token != t1));
    }

    #[test]
    fn release_frees_the_account() {
        let mut l = Leases::default();
        l.acquire("a@x", 1, 0, 10_000);
        l.acquire("b@x", 1, 0, 10_000);
        l.release("a@x", 2);
        assert!(l.held.contains_key("a@x"));
        l.release("a@x", 1);
        assert!(matches!(
            l.acquire("a@x", 2, 1, 10_000),
            LeaseOutcome::Granted { .. }
        ));
        l.release_all(1);
        assert!(!l.held.contains_key("b@x"));
    }
}
