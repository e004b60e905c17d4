//! What the administration API needs from the node it runs in: the system
//! log (`WriteLog`), a graceful stop (`SHUTDOWN`), the node's name and its
//! live sessions (`KillAccountSessions`).
//!
//! The node implements [`NodeControl`] and hands it to
//! [`AdminApi::with_control`](crate::AdminApi::with_control); without one
//! (unit tests, tools) those commands answer "not supported".

/// Where and how a node relays a remote domain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelayRoute {
    /// The next hop: `host:port`, or `MX(domain)`.
    pub host: String,
    /// The TLS policy that applies: `verify`, `opportunistic` or `none`
    /// (STARTTLS is off in the node's configuration).
    pub tls: &'static str,
}

/// Hooks into the running node.
pub trait NodeControl: Send + Sync {
    /// Writes `text` into the system log at CommuniGate `level` (0 crash ..
    /// 5 all), module tag `CLI`.
    fn write_log(&self, level: u8, text: &str);
    /// Starts a graceful stop of this node; returns at once.
    fn shutdown(&self);
    /// The name this node greets with, answered by `GetCurrentController`
    /// on a node without a cluster address.
    fn hostname(&self) -> String;
    /// Where and how this node relays mail for a remote `domain` under the
    /// cluster's router `settings`, falling back on its configuration
    /// (`[relay] routes`, `smarthost`, `tls_policy`), for the CLI's `Route`;
    /// `None` if unknown.
    fn relay_route(&self, _domain: &str, _settings: &cluster::RelaySettings) -> Option<RelayRoute> {
        None
    }
    /// Records that the session running the current task logged in as
    /// `account`, so [`NodeControl::kill_account_sessions`] can find it.
    /// Called by the `AdminApi` credential checks; a task that is not a
    /// registered session (the CLI, WebAdmin) is ignored.
    fn session_login(&self, _account: &cluster::AccountRef) {}
    /// Closes this node's sessions logged in as `account`; returns how many,
    /// or `None` when the node keeps no session registry.
    fn kill_account_sessions(&self, _account: &cluster::AccountRef) -> Option<usize> {
        None
    }
    /// Open sessions on this node by protocol (`SMTP`, `POP3`, `IMAP`,
    /// `CLI`), or `None` when the node keeps no session registry.
    fn session_counts(&self) -> Option<std::collections::BTreeMap<String, usize>> {
        None
    }
    /// Like [`NodeControl::session_counts`], without the sessions other
    /// members handed to this one (their clients are counted there), for
    /// cluster-wide sums.
    fn client_session_counts(&self) -> Option<std::collections::BTreeMap<String, usize>> {
        self.session_counts()
    }
    /// This node's configuration facts to show (listeners as bound,
    /// limits), as (key, value); empty when unknown.
    fn node_settings(&self) -> Vec<(String, String)> {
        Vec::new()
    }
    /// (messages accepted, recipients delivered) by this node in the last
    /// minute, or `None` when the node keeps no counters.
    fn last_minute(&self) -> Option<(u64, u64)> {
        None
    }
}
