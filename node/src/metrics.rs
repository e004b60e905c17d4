//! This node's activity over the last minute, for WebAdmin's overview:
//! messages accepted (committed to the queue) and recipients delivered
//! (stored in a mailbox or handed to the next host).
//!
//! Each counter keeps one bucket per second for the last 60 seconds, on the
//! monotonic clock; a bucket older than a minute is reused, so memory stays
//! fixed however busy the node is.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

/// Seconds a rate looks back.
const WINDOW_SECS: u64 = 60;

/// The node's counters; cheap to clone.
#[derive(Clone)]
pub struct Metrics(Arc<Inner>);

struct Inner {
    start: Instant,
    accepted: Rate,
    delivered: Rate,
}

/// Events per second over the last [`WINDOW_SECS`] seconds.
struct Rate {
    /// (second since start, events in it), indexed by second modulo 60.
    buckets: Mutex<[(u64, u64); WINDOW_SECS as usize]>,
}

impl Default for Metrics {
    fn default() -> Metrics {
        Metrics::new()
    }
}

impl Metrics {
    /// Counters at zero.
    pub fn new() -> Metrics {
        Metrics(Arc::new(Inner {
            start: Instant::now(),
            accepted: Rate::new(),
            delivered: Rate::new(),
        }))
    }

    fn now(&self) -> u64 {
        self.0.start.elapsed().as_secs()
    }

    /// Counts one accepted message.
    pub fn accepted(&self) {
        self.0.accepted.add(self.now(), 1);
    }

    /// Counts `n` delivered recipients.
    pub fn delivered(&self, n: u64) {
        self.0.delivered.add(self.now(), n);
    }

    /// (messages accepted, recipients delivered) in the last minute.
    pub fn last_minute(&self) -> (u64, u64) {
        let now = self.now();
        (self.0.accepted.sum(now), self.0.delivered.sum(now))
    }
}

impl Rate {
    fn new() -> Rate {
        Rate {
            buckets: Mutex::new([(u64::MAX, 0); WINDOW_SECS as usize]),
        }
    }

    fn add(&self, second: u64, n: u64) {
        // Plain counters: a poisoned lock holds valid numbers.
        let mut buckets = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
        let bucket = &mut buckets[(second % WINDOW_SECS) as usize];
        if bucket.0 != second {
            *bucket = (second, 0);
        }
        bucket.1 += n;
    }

    fn sum(&self, now: u64) -> u64 {
        let buckets = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
        buckets
            .iter()
            .filter(|(s, _)| *s != u64::MAX && now.saturating_sub(*s) < WINDOW_SECS)
            .map(|(_, n)| n)
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_only_the_last_minute() {
        let rate = Rate::new();
        rate.add(0, 5);
        rate.add(30, 2);
        rate.add(30, 1);
        assert_eq!(rate.sum(30), 8);
        assert_eq!(rate.sum(59), 8);
        // Second 0 has left the window; its bucket is reused at 60.
        assert_eq!(rate.sum(60), 3);
        rate.add(60, 4);
        assert_eq!(rate.sum(60), 7);
        assert_eq!(rate.sum(200), 0);
    }

    #[test]
    fn metrics_add_up() {
        let m = Metrics::new();
        m.accepted();
        m.accepted();
        m.delivered(3);
        assert_eq!(m.last_minute(), (2, 3));
    }
}
