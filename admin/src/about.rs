//! What WebAdmin's About page and `GET /api/v1/about` show: the version
//! (the string `GetVersion` answers on the CLI), the build (the git
//! commit recorded by `build.rs`, else the version), when this node
//! started, its name and Raft id, and the node-to-node protocol the
//! cluster speaks (the oldest of its members', `effective_protocol`).

use std::time::{Duration, SystemTime};

use chrono::{DateTime, Utc};

use crate::api::AdminApi;
use crate::cli::session::VERSION;

/// The build this binary came from: `MAILNODE_BUILD` or the git commit at
/// build time, else the crate version.
pub const BUILD: &str = match option_env!("MAILNODE_BUILD") {
    Some(build) => build,
    None => VERSION,
};

/// This node's facts for the About page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct About {
    /// The Mailnode version, as `GetVersion` answers it.
    pub version: &'static str,
    /// The build: a git commit, or the version when none was recorded.
    pub build: &'static str,
    /// When this node's administration API came up (the node's start).
    pub started: DateTime<Utc>,
    /// How long ago that was.
    pub uptime: Duration,
    /// This node's name (as registered in the cluster, else its host name).
    pub node_name: String,
    /// This node's Raft id.
    pub node_id: u64,
    /// The protocol version every member speaks, once all have registered.
    pub cluster_protocol: Option<u32>,
    /// The newest protocol version this build speaks.
    pub node_protocol: u32,
}

impl AdminApi {
    /// This node's version, build, start time and cluster protocol.
    pub fn about(&self) -> About {
        let status = self.cluster.status();
        let me = status.members.iter().find(|m| m.id == status.node_id);
        let node_name = me
            .and_then(|m| m.info.as_ref())
            .map(|i| i.name.clone())
            .filter(|n| !n.is_empty())
            .or_else(|| self.control.as_ref().map(|c| c.hostname()))
            .unwrap_or_default();
        About {
            version: VERSION,
            build: BUILD,
            started: DateTime::<Utc>::from(self.started),
            uptime: SystemTime::now()
                .duration_since(self.started)
                .unwrap_or_default(),
            node_name,
            node_id: status.node_id,
            cluster_protocol: status.effective_protocol(),
            node_protocol: cluster::rpc::PROTOCOL_VERSION,
        }
    }
}

/// `uptime` as `3d 4h 5m 6s`, leading zero units left out.
pub fn format_uptime(uptime: Duration) -> String {
    let s = uptime.as_secs();
    let (d, h, m, s) = (s / 86_400, s / 3600 % 24, s / 60 % 60, s % 60);
    let mut out = String::new();
    for (n, unit) in [(d, "d"), (h, "h"), (m, "m")] {
        if n > 0 || !out.is_empty() {
            out.push_str(&format!("{n}{unit} "));
        }
    }
    out.push_str(&format!("{s}s"));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uptime_reads_like_a_duration() {
        assert_eq!(format_uptime(Duration::from_secs(0)), "0s");
        assert_eq!(format_uptime(Duration::from_secs(61)), "1m 1s");
        assert_eq!(format_uptime(Duration::from_secs(3600)), "1h 0m 0s");
        assert_eq!(
            format_uptime(Duration::from_secs(2 * 86_400 + 5)),
            "2d 0h 0m 5s"
        );
    }

    #[test]
    fn build_is_never_empty() {
        assert!(!BUILD.trim().is_empty());
    }
}
