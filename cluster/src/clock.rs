//! The wall clock leases and queue claims are judged by (milliseconds since
//! the epoch), with an offset that chaos testing sets to skew one member's
//! clock (`fault_hooks` in the node's config); zero otherwise.
//!
//! The cluster assumes members' clocks agree within
//! [`crate::accounts::CLOCK_SKEW_MARGIN`]: a skew beyond it may let two
//! members believe they hold one lease.

use std::sync::atomic::{AtomicI64, Ordering};

static OFFSET_MS: AtomicI64 = AtomicI64::new(0);

/// Milliseconds since the epoch, skewed by the offset in force.
pub fn now_ms() -> u64 {
    let real = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    real.saturating_add_signed(OFFSET_MS.load(Ordering::Relaxed))
}

/// Skews this process's clock by `offset_ms` (chaos testing only).
pub fn set_offset_ms(offset_ms: i64) {
    OFFSET_MS.store(offset_ms, Ordering::Relaxed);
}
