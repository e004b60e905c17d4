//! The chaos-testing hook: with `fault_hooks = true` in the config, the node
//! reads `DATA_DIR/faults` (TOML) every [`POLL`] and applies what it says to
//! this process: a skewed clock for leases and claims
//! ([`cluster::clock`]), slow or failing fsyncs ([`storage::faults`]).
//!
//! ```toml
//! clock_offset_ms = -1500   # this member's clock runs 1.5 s behind
//! disk = "slow"             # "ok", "slow" (each fsync waits disk_delay_ms) or "fail"
//! disk_delay_ms = 400
//! ```
//!
//! No file (or an empty one) means no fault. Off by default: a production
//! node never looks for the file. The faults are process-wide, so the hook
//! is for nodes that run one per process (as `chaos run` starts them).

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use storage::faults::DiskFault;

use crate::syslog::{SystemLog, level};

/// How often the file is read.
const POLL: Duration = Duration::from_millis(200);

/// The file's content.
#[derive(Debug, Default, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct Faults {
    clock_offset_ms: i64,
    disk: DiskMode,
    disk_delay_ms: u64,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum DiskMode {
    #[default]
    Ok,
    Slow,
    Fail,
}

impl Faults {
    fn disk_fault(&self) -> DiskFault {
        match self.disk {
            DiskMode::Ok => DiskFault::None,
            DiskMode::Slow => DiskFault::Slow(Duration::from_millis(self.disk_delay_ms)),
            DiskMode::Fail => DiskFault::Fail,
        }
    }

    fn apply(&self) {
        cluster::clock::set_offset_ms(self.clock_offset_ms);
        storage::faults::set_disk_fault(self.disk_fault());
    }
}

/// Follows `DATA_DIR/faults` until the process ends, logging each change.
pub async fn follow(data_dir: PathBuf, log: SystemLog) {
    let path = data_dir.join("faults");
    let mut applied = Faults::default();
    loop {
        let read = match std::fs::read_to_string(&path) {
            Ok(text) => toml::from_str::<Faults>(&text).map_err(|e| e.to_string()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Faults::default()),
            Err(e) => Err(e.to_string()),
        };
        match read {
            Ok(faults) if faults != applied => {
                faults.apply();
                log.write(
                    level::MAJOR,
                    "SYSTEM",
                    "",
                    &format!(
                        "injected faults now: clock {:+} ms, disk {:?}",
                        faults.clock_offset_ms,
                        faults.disk_fault()
                    ),
                );
                applied = faults;
            }
            Ok(_) => {}
            // Half-written by the tester, or malformed: keep what is in force.
            Err(e) => log.write(
                level::PROBLEM,
                "SYSTEM",
                "",
                &format!("cannot read {}: {e}", path.display()),
            ),
        }
        tokio::time::sleep(POLL).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_format() {
        let f: Faults =
            toml::from_str("clock_offset_ms = -1500\ndisk = \"slow\"\ndisk_delay_ms = 400\n")
                .unwrap();
        assert_eq!(f.clock_offset_ms, -1500);
        assert_eq!(f.disk_fault(), DiskFault::Slow(Duration::from_millis(400)));
        let f: Faults = toml::from_str("disk = \"fail\"").unwrap();
        assert_eq!(f.disk_fault(), DiskFault::Fail);
        assert_eq!(toml::from_str::<Faults>("").unwrap(), Faults::default());
        assert!(toml::from_str::<Faults>("disk = \"melting\"").is_err());
        assert!(toml::from_str::<Faults>("clock = 1").is_err());
    }
}
