//! Disk faults injected on purpose, for chaos testing: every fsync of this
//! process is made slow, or fails, while a fault is set.
//!
//! Only the `mailnode` test hook (`fault_hooks = true` in its config) ever
//! sets one; otherwise [`before_sync`] is one atomic load. A failed fsync is
//! what a failing disk reports (EIO): callers must treat the write as not
//! done, which the durability rule of this crate already requires.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// The disk fault in force.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DiskFault {
    /// Writes behave.
    None,
    /// Each fsync waits this long first.
    Slow(Duration),
    /// Each fsync fails.
    Fail,
}

/// Encoded: 0 none, `u64::MAX` fail, otherwise a delay in milliseconds.
static FAULT: AtomicU64 = AtomicU64::new(0);

/// Sets the disk fault of this process.
pub fn set_disk_fault(fault: DiskFault) {
    let code = match fault {
        DiskFault::None => 0,
        DiskFault::Fail => u64::MAX,
        DiskFault::Slow(delay) => (delay.as_millis() as u64).clamp(1, u64::MAX - 1),
    };
    FAULT.store(code, Ordering::Relaxed);
}

/// Applies the fault in force before an fsync: waits, or fails.
pub(crate) fn before_sync() -> std::io::Result<()> {
    match FAULT.load(Ordering::Relaxed) {
        0 => Ok(()),
        u64::MAX => Err(std::io::Error::other("injected disk fault")),
        ms => {
            std::thread::sleep(Duration::from_millis(ms));
            Ok(())
        }
    }
}
