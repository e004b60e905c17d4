//! Per-client-address rate limits for SMTP (issue #5): connections and
//! messages per IP address per minute, answered with `421 4.7.0` (connection
//! refused) and `451 4.7.1` (MAIL refused), as Postfix's anvil does.
//!
//! A sliding window of [`WINDOW`] per address. The table is bounded: at
//! [`MAX_TRACKED`] addresses, those with no event inside the window are
//! dropped first, so a scan from many addresses cannot grow it without bound
//! (if every tracked address is still active, the new one is simply counted
//! from scratch the next time; the limit then errs on the side of accepting).
//!
//! Pure apart from the mutex: the caller passes `now`, so tests need no clock.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::config::SmtpConfig;

/// The window the limits count over.
pub const WINDOW: Duration = Duration::from_secs(60);

/// Most addresses tracked at once (see the module docs).
const MAX_TRACKED: usize = 100_000;

/// One limit: at most `max` events per address per [`WINDOW`]; 0 disables it.
#[derive(Debug)]
pub struct RateLimiter {
    max: u32,
    events: Mutex<HashMap<IpAddr, VecDeque<Instant>>>,
}

impl RateLimiter {
    /// A limiter allowing `max` events per address per minute (0: no limit).
    pub fn new(max: u32) -> RateLimiter {
        RateLimiter {
            max,
            events: Mutex::new(HashMap::new()),
        }
    }

    /// Records an event from `ip` at `now` if it is within the limit;
    /// `false` (and nothing recorded) when the address is over it.
    pub fn allow(&self, ip: IpAddr, now: Instant) -> bool {
        if self.max == 0 {
            return true;
        }
        // A poisoned lock only means another session panicked mid-update;
        // the counts are still usable.
        let mut events = self.events.lock().unwrap_or_else(|e| e.into_inner());
        if events.len() >= MAX_TRACKED && !events.contains_key(&ip) {
            events.retain(|_, q| q.back().is_some_and(|t| now.duration_since(*t) < WINDOW));
        }
        let queue = events.entry(ip).or_default();
        while queue
            .front()
            .is_some_and(|t| now.duration_since(*t) >= WINDOW)
        {
            queue.pop_front();
        }
        if queue.len() >= self.max as usize {
            return false;
        }
        queue.push_back(now);
        true
    }
}

/// The SMTP limits of one node: shared by every SMTP session.
#[derive(Debug)]
pub struct SmtpRates {
    /// Connections per address per minute.
    pub connections: RateLimiter,
    /// Messages (MAIL commands) per address per minute.
    pub messages: RateLimiter,
    /// Whether loopback clients are limited too.
    pub loopback: bool,
}

impl SmtpRates {
    /// The limits of `config`.
    pub fn new(config: &SmtpConfig) -> SmtpRates {
        SmtpRates {
            connections: RateLimiter::new(config.max_connection_rate_per_ip),
            messages: RateLimiter::new(config.max_message_rate_per_ip),
            loopback: config.rate_limit_loopback,
        }
    }

    /// Whether the limits apply to `ip` at all (loopback is exempt unless configured).
    pub fn applies_to(&self, ip: IpAddr) -> bool {
        self.loopback || !ip.is_loopback()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issue_5_sliding_window_per_address() {
        let limiter = RateLimiter::new(2);
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        let t0 = Instant::now();
        assert!(limiter.allow(a, t0));
        assert!(limiter.allow(a, t0 + Duration::from_secs(10)));
        assert!(!limiter.allow(a, t0 + Duration::from_secs(20)));
        assert!(
            limiter.allow(b, t0 + Duration::from_secs(20)),
            "per address"
        );
        // The first event leaves the window after a minute.
        assert!(limiter.allow(a, t0 + Duration::from_secs(60)));
        assert!(!limiter.allow(a, t0 + Duration::from_secs(61)));
        assert!(limiter.allow(a, t0 + Duration::from_secs(121)));
    }

    #[test]
    fn zero_disables_the_limit() {
        let limiter = RateLimiter::new(0);
        let now = Instant::now();
        let ip: IpAddr = "::1".parse().unwrap();
        assert!((0..1000).all(|_| limiter.allow(ip, now)));
    }
}
