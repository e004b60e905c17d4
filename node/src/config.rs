//! Node configuration: the TOML file a `mailnode` process starts from.
//!
//! Owns [`NodeConfig`] and its sections, their defaults and their validation.
//!
//! Invariants:
//! - every struct is `#[serde(default, deny_unknown_fields)]`, so a partial file is completed from
//!   the `Default` impls (the single place where defaults live) and a misspelt key is an error
//!   that names the key and the file;
//! - [`NodeConfig::validate`] reports every problem at once rather than stopping at the first;
//! - keys of services that are not built yet (`listen.webuser`, `listen.cluster`, `join`) are
//!   accepted and ignored, so a configuration written for a later release still loads.
//!
//! References: CommuniGate Pro's `Main.settings` (`LogLevel = 3`) and default ports
//! (`/work/shared/reference/communigate.md` §4, §5); RFC 5321 §4.5.3 (SMTP limits and timeouts);
//! RFC 1939 §3 (POP3 autologout timer).

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::{Deserialize, Deserializer};

/// Highest CommuniGate log level ("All Info").
const MAX_LOG_LEVEL: u8 = 5;

/// Listener keys that this release binds, in the order [`NodeConfig::listeners`] returns them.
pub const SERVED_LISTENERS: [&str; 10] = [
    "smtp",
    "submission",
    "smtps",
    "pop3",
    "pop3s",
    "imap",
    "imaps",
    "cli",
    "webadmin",
    "webadmins",
];

/// Errors from loading or validating a configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The configuration file could not be read.
    #[error("cannot read configuration file {path}: {source}")]
    Read {
        /// The file that was read.
        path: PathBuf,
        /// The underlying I/O error.
        source: std::io::Error,
    },
    /// The file is not valid TOML or does not match the schema (e.g. an unknown key, which the
    /// message names).
    #[error("invalid configuration in {origin}: {source}")]
    Parse {
        /// The file name, or `<string>` for [`NodeConfig::from_toml_str`].
        origin: String,
        /// The TOML/serde error; its text names the offending key and its position.
        source: toml::de::Error,
    },
    /// The configuration parsed but some values are unusable; every problem is listed.
    #[error("invalid configuration: {}", problems.join("; "))]
    Invalid {
        /// One human-readable sentence per problem, naming the key.
        problems: Vec<String>,
    },
}

impl ConfigError {
    /// Whether retrying could succeed without changing the configuration: only a read error can
    /// be transient (e.g. a file system that is not mounted yet).
    pub fn is_temporary(&self) -> bool {
        match self {
            ConfigError::Read { source, .. } => matches!(
                source.kind(),
                std::io::ErrorKind::Interrupted | std::io::ErrorKind::WouldBlock
            ),
            ConfigError::Parse { .. } | ConfigError::Invalid { .. } => false,
        }
    }
}

/// The whole configuration of one node.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NodeConfig {
    /// Name of this node in the cluster; also the name of its `SystemLogs/<node_name>` folder.
    pub node_name: String,
    /// Node-local directory: Raft log, keys, TLS material.
    pub data_dir: PathBuf,
    /// Shared base directory (CommuniGate's base: `Accounts/`, `Submitted/`, `SystemLogs/`, ...).
    pub base_dir: PathBuf,
    /// The main domain; unqualified addresses belong to it.
    pub main_domain: String,
    /// Password given to `postmaster` when the account is created at first start.
    pub postmaster_password: Option<String>,
    /// CommuniGate log level 0..=5: 0 Crashes Only, 1 Failures, 2 Major, 3 Problems, 4 Low
    /// Level, 5 All Info.
    pub log_level: u8,
    /// Listening addresses, one per service.
    pub listen: ListenConfig,
    /// SMTP limits and timeouts.
    pub smtp: SmtpConfig,
    /// POP3 settings.
    pub pop3: Pop3Config,
    /// IMAP settings.
    pub imap: ImapConfig,
    /// Certificate and key files.
    pub tls: TlsConfig,
    /// Queue behaviour.
    pub queue: QueueConfig,
    /// Relaying to other SMTP servers: routes, retries, bounces.
    pub relay: RelayConfig,
    /// Address (`host:port` of its cluster listener) of a member to join
    /// at first start; `None` bootstraps a new cluster.
    pub join: Option<String>,
    /// The secret cluster members authenticate each other with; `None`:
    /// kept in the shared base directory (`Settings/cluster.secret`, made
    /// by the first node).
    pub cluster_secret: Option<String>,
    /// The address other members reach this node's cluster listener at;
    /// `None`: the listener's address (the host name if it listens on all
    /// interfaces).
    pub cluster_address: Option<String>,
    /// The node-to-node protocol version to speak; `None`: the newest this
    /// build knows. Set to the previous version only to try a
    /// mixed-version cluster (the rolling-upgrade tests do): the node then
    /// behaves towards its peers like the previous release.
    pub cluster_protocol: Option<u32>,
    /// Chaos testing only: follow `DATA_DIR/faults` to skew this node's
    /// clock and slow or fail its disk writes (`crate::faults`).
    pub fault_hooks: bool,
}

impl Default for NodeConfig {
    fn default() -> Self {
        NodeConfig {
            // A single-node install needs no naming decision.
            node_name: "node1".to_owned(),
            // Relative paths keep a first run self-contained in the working directory.
            data_dir: PathBuf::from("./mailnode-data/node"),
            base_dir: PathBuf::from("./mailnode-data/base"),
            // CommuniGate uses the host name as the main domain until told otherwise.
            main_domain: default_main_domain(),
            // No password: the operator must choose one; nothing is created with a known secret.
            postmaster_password: None,
            // "Problems", as in CommuniGate's stock Main.settings (`LogLevel = 3`).
            log_level: 3,
            listen: ListenConfig::default(),
            smtp: SmtpConfig::default(),
            pop3: Pop3Config::default(),
            imap: ImapConfig::default(),
            tls: TlsConfig::default(),
            queue: QueueConfig::default(),
            relay: RelayConfig::default(),
            join: None,
            cluster_secret: None,
            cluster_address: None,
            cluster_protocol: None,
            fault_hooks: false,
        }
    }
}

/// The host name, lowercased (DNS names are case-insensitive); `localhost` if it is empty or not
/// valid UTF-8.
fn default_main_domain() -> String {
    let host = gethostname::gethostname();
    match host.to_str() {
        Some(name) if !name.trim().is_empty() => name.trim().to_ascii_lowercase(),
        _ => "localhost".to_owned(),
    }
}

/// A listening address, or `off`.
///
/// Written in TOML as a string: `"off"` or `"ip:port"` (`"[::1]:25"` for IPv6; port 0 asks the
/// kernel for a free port).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listen {
    /// The service does not listen.
    Off,
    /// The service listens on this address.
    Addr(SocketAddr),
}

impl Listen {
    /// The address, if the service is enabled.
    pub fn addr(&self) -> Option<SocketAddr> {
        match self {
            Listen::Off => None,
            Listen::Addr(addr) => Some(*addr),
        }
    }
}

/// The error of parsing a [`Listen`] value; it repeats the value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid listen address {value:?}: expected \"off\" or \"ip:port\"")]
pub struct ListenParseError {
    /// The rejected text.
    pub value: String,
}

impl FromStr for Listen {
    type Err = ListenParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let trimmed = s.trim();
        if trimmed.eq_ignore_ascii_case("off") {
            return Ok(Listen::Off);
        }
        trimmed
            .parse::<SocketAddr>()
            .map(Listen::Addr)
            .map_err(|_| ListenParseError {
                value: s.to_owned(),
            })
    }
}

impl fmt::Display for Listen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Listen::Off => f.write_str("off"),
            Listen::Addr(addr) => write!(f, "{addr}"),
        }
    }
}

impl<'de> Deserialize<'de> for Listen {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// Listening addresses of every service (CommuniGate's default ports).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ListenConfig {
    /// SMTP relay/MX (RFC 5321 §4.5.4.2 port 25).
    pub smtp: Listen,
    /// Message submission (RFC 6409 §3.1, port 587).
    pub submission: Listen,
    /// Submission over implicit TLS (RFC 8314 §3.3, port 465).
    pub smtps: Listen,
    /// POP3 (RFC 1939 §3, port 110).
    pub pop3: Listen,
    /// POP3 over implicit TLS (RFC 8314 §3.3, port 995).
    pub pop3s: Listen,
    /// IMAP (RFC 9051, port 143).
    pub imap: Listen,
    /// IMAP over implicit TLS (RFC 8314 §3.3, port 993).
    pub imaps: Listen,
    /// CommuniGate CLI/PWD (port 106).
    pub cli: Listen,
    /// WebAdmin HTTP (CommuniGate's 8010).
    pub webadmin: Listen,
    /// WebAdmin HTTPS (CommuniGate's 9010).
    pub webadmins: Listen,
    /// WebUser HTTP; accepted and ignored in this release.
    pub webuser: Listen,
    /// Cluster (Raft) traffic; accepted and ignored in this release.
    pub cluster: Listen,
}

impl Default for ListenConfig {
    fn default() -> Self {
        // CommuniGate's defaults on all interfaces; 8010/8100/8200 are its WebAdmin, WebUser and
        // cluster-administration ports (communigate.md §5, §1.6).
        let any = |port: u16| Listen::Addr(SocketAddr::from(([0, 0, 0, 0], port)));
        ListenConfig {
            smtp: any(25),
            submission: any(587),
            smtps: any(465),
            pop3: any(110),
            pop3s: any(995),
            imap: any(143),
            imaps: any(993),
            cli: any(106),
            webadmin: any(8010),
            webadmins: any(9010),
            webuser: any(8100),
            cluster: any(8200),
        }
    }
}

impl ListenConfig {
    /// The listeners this release binds, with their key names, in [`SERVED_LISTENERS`] order.
    fn served(&self) -> [(&'static str, Listen); 10] {
        [
            ("smtp", self.smtp),
            ("submission", self.submission),
            ("smtps", self.smtps),
            ("pop3", self.pop3),
            ("pop3s", self.pop3s),
            ("imap", self.imap),
            ("imaps", self.imaps),
            ("cli", self.cli),
            ("webadmin", self.webadmin),
            ("webadmins", self.webadmins),
        ]
    }
}

/// SMTP limits and timeouts.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SmtpConfig {
    /// Largest accepted message in octets, announced with `SIZE` (RFC 1870).
    pub max_message_size: u64,
    /// Most recipients per transaction.
    pub max_recipients: usize,
    /// Idle time allowed between commands, in seconds.
    pub idle_timeout_secs: u64,
    /// Time allowed for each data block of DATA/BDAT, in seconds.
    pub data_timeout_secs: u64,
    /// Most simultaneous connections from one IP address.
    pub max_connections_per_ip: usize,
    /// Errors after which a session is closed.
    pub max_errors: usize,
    /// Allow `AUTH PLAIN`/`LOGIN` without TLS on loopback connections (for local tools).
    pub auth_plaintext_on_loopback: bool,
    /// Name used in the greeting and `EHLO` reply; `None` means `main_domain`.
    pub hostname: Option<String>,
    /// Most connections one IP address may open per minute (0: no limit); more get
    /// `421 4.7.0`. Trusted client addresses are exempt.
    pub max_connection_rate_per_ip: u32,
    /// Most messages (MAIL commands) one IP address may send per minute (0: no limit);
    /// more get `451 4.7.1`. Authenticated sessions and trusted addresses are exempt.
    pub max_message_rate_per_ip: u32,
    /// Apply the rate limits to loopback clients too (normally local injectors and
    /// benchmarks, so exempt).
    pub rate_limit_loopback: bool,
    /// What to do with inbound mail that fails SPF, DKIM or DMARC (`crate::mailauth`).
    pub auth_failure_policy: AuthFailurePolicy,
    /// Run the SPF/DKIM/DMARC checks on loopback clients too (normally local injectors,
    /// so exempt like trusted and authenticated clients).
    pub auth_check_loopback: bool,
}

/// The `[smtp] auth_failure_policy` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthFailurePolicy {
    /// Accept; the `Authentication-Results` field tells the reader.
    #[default]
    Tag,
    /// Accept, marked as junk (`X-Spam-Flag: YES`), into local recipients' Junk
    /// mailbox instead of their INBOX.
    Junk,
    /// Refuse with `550 5.7.1` when DMARC fails and the domain's policy is `reject`.
    Reject,
}

impl Default for SmtpConfig {
    fn default() -> Self {
        SmtpConfig {
            // 50 MiB: large attachments pass, a runaway sender does not fill the disk.
            max_message_size: 50 * 1024 * 1024,
            // RFC 5321 §4.5.3.1.8: a server must accept at least 100 recipients.
            max_recipients: 100,
            // RFC 5321 §4.5.3.2.7: the server timeout should be at least 5 minutes.
            idle_timeout_secs: 300,
            // RFC 5321 §4.5.3.2.6: the client waits 10 minutes for the reply to the final dot.
            data_timeout_secs: 600,
            // Enough for a busy relay behind one NAT, small enough to blunt a flood.
            max_connections_per_ip: 20,
            // A confused or hostile client is cut off instead of looping forever.
            max_errors: 20,
            // Passwords never cross the network in clear text unless the operator asks.
            auth_plaintext_on_loopback: false,
            hostname: None,
            // A legitimate MTA opens a few connections a minute; a spambot hundreds.
            max_connection_rate_per_ip: 100,
            // Postfix-like anvil figure: a busy but honest relay stays well below it.
            max_message_rate_per_ip: 300,
            // Local tools (sendmail-like injectors, benchmarks) are not throttled.
            rate_limit_loopback: false,
            // RFC 7489 §6.7 leaves the disposition to the receiver; tagging loses no mail.
            auth_failure_policy: AuthFailurePolicy::Tag,
            // Local tools are trusted, as for the rate limits.
            auth_check_loopback: false,
        }
    }
}

/// POP3 settings.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Pop3Config {
    /// Autologout timer in seconds.
    pub idle_timeout_secs: u64,
    /// Allow `USER`/`PASS` and plain `AUTH` without TLS on loopback connections.
    pub plaintext_on_loopback: bool,
}

impl Default for Pop3Config {
    fn default() -> Self {
        Pop3Config {
            // RFC 1939 §3: an autologout timer must be at least 10 minutes.
            idle_timeout_secs: 600,
            // Passwords never cross the network in clear text unless the operator asks.
            plaintext_on_loopback: false,
        }
    }
}

/// IMAP limits and login policy.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ImapConfig {
    /// Idle time allowed between commands (and in IDLE), in seconds.
    pub idle_timeout_secs: u64,
    /// Allow LOGIN and AUTHENTICATE PLAIN without TLS on loopback connections.
    pub plaintext_on_loopback: bool,
}

impl Default for ImapConfig {
    fn default() -> Self {
        ImapConfig {
            // RFC 9051 §5.4: an autologout timer must be at least 30 minutes.
            idle_timeout_secs: 30 * 60,
            // RFC 9051 §6.2.3: LOGIN only under TLS unless the operator asks.
            plaintext_on_loopback: false,
        }
    }
}

/// Certificate and private key; both `None` means a self-signed pair under `data_dir/tls/`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM certificate chain, leaf first.
    pub cert_file: Option<PathBuf>,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1).
    pub key_file: Option<PathBuf>,
}

/// Queue behaviour.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct QueueConfig {
    /// Delay before a temporarily failed local delivery is retried, in seconds (remote
    /// recipients follow the `[relay]` schedule).
    pub retry_secs: u64,
    /// Most queue proposals batched into one Raft entry.
    pub max_batch: usize,
}

impl Default for QueueConfig {
    fn default() -> Self {
        QueueConfig {
            // Local faults (a leader change, a locked mailbox) clear within minutes; RFC 5321
            // §4.5.4.1's 30 minutes concerns remote hosts, whose retries may back off further.
            retry_secs: 300,
            // Amortises one Raft round trip over many messages without huge log entries.
            max_batch: 256,
        }
    }
}

/// Relaying to other SMTP servers (RFC 5321 §5: routes, MX, retries; RFC 3464 bounces).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RelayConfig {
    /// Sends every remote recipient without a `routes` match through this `host:port`.
    pub smarthost: Option<String>,
    /// Static routes: a domain (`remote.test`) or every subdomain of one (`*.remote.test`)
    /// mapped to `host:port`. An exact match wins over a wildcard, a longer wildcard over a
    /// shorter one.
    pub routes: BTreeMap<String, String>,
    /// DNS servers for MX/A/AAAA lookups (`ip:port`); empty means the system's resolv.conf.
    pub nameservers: Vec<SocketAddr>,
    /// Delay before the first retry of a temporarily failed remote recipient, in seconds; each
    /// later retry waits twice as long as the one before, up to `retry_max_secs`.
    pub retry_first_secs: u64,
    /// Longest delay between two retries, in seconds.
    pub retry_max_secs: u64,
    /// Age (since the message was received) after which a deferred recipient fails, in seconds.
    pub give_up_secs: u64,
    /// Age after which the sender is told that recipients are still deferred, in seconds.
    /// 0 disables delay notices.
    pub delay_notify_secs: u64,
    /// Time allowed to open a TCP connection to a remote host, in seconds.
    pub connect_timeout_secs: u64,
    /// Time allowed for each reply of the remote host, in seconds.
    pub command_timeout_secs: u64,
    /// Name given in `EHLO`; `None` means the SMTP host name.
    pub helo_name: Option<String>,
    /// Try `STARTTLS` when the remote host offers it (opportunistic, certificate not checked).
    pub starttls: bool,
    /// TLS policy by recipient domain (`remote.test`, `*.remote.test`, or `*` for every
    /// domain): `verify` requires STARTTLS and a certificate valid for the host, else the
    /// recipients are deferred (`4.7.4`/`4.7.5`); `opportunistic` is the default. The
    /// cluster's policy (`SetRouterSettings`) comes first; this is the node's fallback.
    pub tls_policy: BTreeMap<String, TlsPolicy>,
    /// PEM file of the CA certificates `verify` trusts; `None` means the system's store.
    pub tls_trust_file: Option<PathBuf>,
}

/// How a relay connection uses TLS: one type for the config and the cluster's router settings.
pub use cluster::TlsPolicy;

impl Default for RelayConfig {
    fn default() -> Self {
        RelayConfig {
            // Without a route or smarthost, mail goes where DNS says (RFC 5321 §5.1).
            smarthost: None,
            routes: BTreeMap::new(),
            nameservers: Vec::new(),
            // Postfix's queue manager: first retry after 5 minutes, backing off to an hour,
            // giving up after 5 days (RFC 5321 §4.5.4.1: at least 30 min apart, 4-5 days).
            retry_first_secs: 300,
            retry_max_secs: 3600,
            give_up_secs: 5 * 24 * 3600,
            // Postfix's delay_warning_time is 4 hours when enabled.
            delay_notify_secs: 4 * 3600,
            // An unreachable host must not hold a delivery worker for long.
            connect_timeout_secs: 30,
            // RFC 5321 §4.5.3.2: 5 minutes for most replies (10 for the final dot; one value
            // keeps it simple and errs on the short side only for the dot).
            command_timeout_secs: 300,
            helo_name: None,
            // Encrypt whenever the other side can; opportunistic TLS never blocks delivery.
            starttls: true,
            // Verification needs a policy saying the domain can pass it (RFC 7435 §1.2).
            tls_policy: BTreeMap::new(),
            tls_trust_file: None,
        }
    }
}

impl RelayConfig {
    /// Checks the relay section, appending one sentence per problem.
    fn check(&self, problems: &mut Vec<String>) {
        let positive = [
            ("retry_first_secs", self.retry_first_secs),
            ("retry_max_secs", self.retry_max_secs),
            ("give_up_secs", self.give_up_secs),
            ("connect_timeout_secs", self.connect_timeout_secs),
            ("command_timeout_secs", self.command_timeout_secs),
        ];
        for (key, value) in positive {
            if value == 0 {
                problems.push(format!("relay.{key} must be positive"));
            }
        }
        if self.retry_max_secs < self.retry_first_secs {
            problems.push("relay.retry_max_secs is less than relay.retry_first_secs".into());
        }
        if let Some(host) = &self.smarthost
            && !is_host_port(host)
        {
            problems.push(format!("relay.smarthost {host:?} is not host:port"));
        }
        for (domain, target) in &self.routes {
            let bare = domain.strip_prefix("*.").unwrap_or(domain);
            if bare.is_empty() || bare.contains(['@', '*', ' ']) {
                problems.push(format!(
                    "relay.routes key {domain:?} is not a domain or *.domain"
                ));
            }
            if !is_host_port(target) {
                problems.push(format!(
                    "relay.routes.{domain:?} = {target:?} is not host:port"
                ));
            }
        }
        for domain in self.tls_policy.keys() {
            let bare = domain.strip_prefix("*.").unwrap_or(domain);
            if domain != "*" && (bare.is_empty() || bare.contains(['@', '*', ' '])) {
                problems.push(format!(
                    "relay.tls_policy key {domain:?} is not a domain, *.domain or *"
                ));
            }
        }
        if let Some(path) = &self.tls_trust_file
            && !path.is_file()
        {
            problems.push(format!(
                "relay.tls_trust_file {} is not a readable file",
                path.display()
            ));
        }
        if let Some(host) = &self.helo_name
            && (host.trim().is_empty() || host.chars().any(char::is_whitespace))
        {
            problems.push(format!("relay.helo_name {host:?} is not a host name"));
        }
    }
}

/// Whether `s` looks like `host:port` (`[v6]:port` included) with a valid port.
fn is_host_port(s: &str) -> bool {
    match s.rsplit_once(':') {
        Some((host, port)) => {
            !host.is_empty() && !host.contains(char::is_whitespace) && port.parse::<u16>().is_ok()
        }
        None => false,
    }
}

impl NodeConfig {
    /// Parses a configuration from TOML text; missing keys take their defaults.
    ///
    /// # Errors
    /// [`ConfigError::Parse`] for invalid TOML, a wrong type, a bad listen address or an unknown
    /// key (the message names it). Values are not checked; call [`NodeConfig::validate`].
    pub fn from_toml_str(text: &str) -> Result<NodeConfig, ConfigError> {
        parse(text, "<string>")
    }

    /// Reads and parses a configuration file.
    ///
    /// # Errors
    /// [`ConfigError::Read`] if the file cannot be read, [`ConfigError::Parse`] as for
    /// [`NodeConfig::from_toml_str`], with the file name in the message.
    pub fn load(path: &Path) -> Result<NodeConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        parse(&text, &path.display().to_string())
    }

    /// The node-to-node protocol version this node speaks.
    pub fn cluster_protocol(&self) -> u32 {
        self.cluster_protocol
            .unwrap_or(cluster::rpc::PROTOCOL_VERSION)
    }

    /// Checks the values, reporting every problem at once.
    ///
    /// # Errors
    /// [`ConfigError::Invalid`] listing one sentence per problem.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let mut problems = Vec::new();
        check_node_name(&self.node_name, &mut problems);
        if self.main_domain.trim().is_empty() {
            problems.push("main_domain is empty".to_owned());
        } else if self
            .main_domain
            .chars()
            .any(|c| c.is_whitespace() || c == '@')
        {
            problems.push(format!(
                "main_domain {:?} is not a domain name",
                self.main_domain
            ));
        }
        if self.log_level > MAX_LOG_LEVEL {
            problems.push(format!(
                "log_level {} is out of range 0..={MAX_LOG_LEVEL}",
                self.log_level
            ));
        }
        if self.data_dir.as_os_str().is_empty() {
            problems.push("data_dir is empty".to_owned());
        }
        if self.base_dir.as_os_str().is_empty() {
            problems.push("base_dir is empty".to_owned());
        }
        if matches!(&self.postmaster_password, Some(p) if p.is_empty()) {
            problems.push("postmaster_password is empty".to_owned());
        }
        self.check_listeners(&mut problems);
        self.check_smtp(&mut problems);
        if self.pop3.idle_timeout_secs == 0 {
            problems.push("pop3.idle_timeout_secs must be positive".to_owned());
        }
        let speaks = cluster::rpc::MIN_PROTOCOL_VERSION..=cluster::rpc::PROTOCOL_VERSION;
        if let Some(v) = self.cluster_protocol.filter(|v| !speaks.contains(v)) {
            problems.push(format!(
                "cluster_protocol {v} is not one this build speaks ({}..={})",
                speaks.start(),
                speaks.end()
            ));
        }
        match (&self.tls.cert_file, &self.tls.key_file) {
            (Some(_), None) => problems.push("tls.cert_file is set but tls.key_file is not".into()),
            (None, Some(_)) => problems.push("tls.key_file is set but tls.cert_file is not".into()),
            _ => {}
        }
        if self.queue.retry_secs == 0 {
            problems.push("queue.retry_secs must be positive".to_owned());
        }
        if self.queue.max_batch == 0 {
            problems.push("queue.max_batch must be positive".to_owned());
        }
        self.relay.check(&mut problems);
        if problems.is_empty() {
            Ok(())
        } else {
            Err(ConfigError::Invalid { problems })
        }
    }

    /// The enabled listeners this release binds, as `(key, address)` in [`SERVED_LISTENERS`]
    /// order, so that a bind failure can be reported as `listen.smtp = 0.0.0.0:25`.
    pub fn listeners(&self) -> Vec<(&'static str, SocketAddr)> {
        self.listen
            .served()
            .into_iter()
            .filter_map(|(key, listen)| listen.addr().map(|addr| (key, addr)))
            .collect()
    }

    /// The name SMTP announces: `smtp.hostname`, else `main_domain`.
    pub fn smtp_hostname(&self) -> &str {
        self.smtp.hostname.as_deref().unwrap_or(&self.main_domain)
    }

    fn check_listeners(&self, problems: &mut Vec<String>) {
        let listeners = self.listeners();
        for (i, (key, addr)) in listeners.iter().enumerate() {
            // Port 0 binds a fresh ephemeral port each time, so it never collides.
            if addr.port() == 0 {
                continue;
            }
            if let Some((other, _)) = listeners[..i].iter().find(|(_, a)| a == addr) {
                problems.push(format!("listen.{key} and listen.{other} both use {addr}"));
            }
        }
    }

    fn check_smtp(&self, problems: &mut Vec<String>) {
        let smtp = &self.smtp;
        let positive = [
            ("max_message_size", smtp.max_message_size == 0),
            ("max_recipients", smtp.max_recipients == 0),
            ("idle_timeout_secs", smtp.idle_timeout_secs == 0),
            ("data_timeout_secs", smtp.data_timeout_secs == 0),
            ("max_connections_per_ip", smtp.max_connections_per_ip == 0),
            ("max_errors", smtp.max_errors == 0),
        ];
        for (key, is_zero) in positive {
            if is_zero {
                problems.push(format!("smtp.{key} must be positive"));
            }
        }
        if let Some(host) = &smtp.hostname
            && (host.trim().is_empty() || host.chars().any(char::is_whitespace))
        {
            problems.push(format!("smtp.hostname {host:?} is not a host name"));
        }
    }
}

/// The node name becomes a directory name (`SystemLogs/<node_name>`), so it must be one plain
/// path component.
fn check_node_name(name: &str, problems: &mut Vec<String>) {
    if name.is_empty() {
        problems.push("node_name is empty".to_owned());
        return;
    }
    if name.contains(['/', '\\']) {
        problems.push(format!("node_name {name:?} contains a path separator"));
    }
    if name.starts_with('.') {
        problems.push(format!("node_name {name:?} starts with a dot"));
    }
    if name.chars().any(|c| c.is_whitespace() || c.is_control()) {
        problems.push(format!(
            "node_name {name:?} contains white space or control characters"
        ));
    }
}

fn parse(text: &str, origin: &str) -> Result<NodeConfig, ConfigError> {
    toml::from_str(text).map_err(|source| ConfigError::Parse {
        origin: origin.to_owned(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    fn problems(cfg: &NodeConfig) -> Vec<String> {
        match cfg.validate() {
            Ok(()) => Vec::new(),
            Err(ConfigError::Invalid { problems }) => problems,
            Err(other) => panic!("unexpected error {other}"),
        }
    }

    /// The configurations the README shows are ones an administrator can copy.
    #[test]
    fn readme_configs_parse_and_validate() {
        let readme = include_str!("../../README.md");
        let blocks: Vec<&str> = readme
            .split("```toml\n")
            .skip(1)
            .filter_map(|b| b.split_once("```").map(|(toml, _)| toml))
            .collect();
        assert!(blocks.len() >= 2, "the README's TOML blocks are found");
        let configs: Vec<NodeConfig> = blocks
            .iter()
            .map(|b| NodeConfig::from_toml_str(b).unwrap_or_else(|e| panic!("{e}\n{b}")))
            .collect();
        // The first is the whole sample config; the others name files of the
        // administrator's machine, which validation checks.
        configs[0].validate().unwrap();
    }

    #[test]
    fn empty_file_gives_defaults() {
        let cfg = NodeConfig::from_toml_str("").unwrap();
        assert_eq!(cfg.node_name, "node1");
        assert_eq!(cfg.data_dir, PathBuf::from("./mailnode-data/node"));
        assert_eq!(cfg.base_dir, PathBuf::from("./mailnode-data/base"));
        assert_eq!(cfg.main_domain, cfg.main_domain.to_ascii_lowercase());
        assert!(!cfg.main_domain.is_empty());
        assert_eq!(cfg.log_level, 3);
        assert_eq!(cfg.listen.smtp, Listen::Addr(addr("0.0.0.0:25")));
        assert_eq!(cfg.listen.submission, Listen::Addr(addr("0.0.0.0:587")));
        assert_eq!(cfg.listen.smtps, Listen::Addr(addr("0.0.0.0:465")));
        assert_eq!(cfg.listen.pop3, Listen::Addr(addr("0.0.0.0:110")));
        assert_eq!(cfg.listen.pop3s, Listen::Addr(addr("0.0.0.0:995")));
        assert_eq!(cfg.listen.imap, Listen::Addr(addr("0.0.0.0:143")));
        assert_eq!(cfg.listen.imaps, Listen::Addr(addr("0.0.0.0:993")));
        assert_eq!(cfg.listen.cli, Listen::Addr(addr("0.0.0.0:106")));
        assert_eq!(cfg.listen.webadmin, Listen::Addr(addr("0.0.0.0:8010")));
        assert_eq!(cfg.listen.webuser, Listen::Addr(addr("0.0.0.0:8100")));
        assert_eq!(cfg.listen.cluster, Listen::Addr(addr("0.0.0.0:8200")));
        assert_eq!(cfg.smtp, SmtpConfig::default());
        assert_eq!(cfg.smtp.max_message_size, 52_428_800);
        assert_eq!(cfg.smtp.max_recipients, 100);
        assert_eq!(cfg.pop3.idle_timeout_secs, 600);
        assert_eq!(cfg.tls, TlsConfig::default());
        assert_eq!(cfg.queue.retry_secs, 300);
        assert_eq!(cfg.queue.max_batch, 256);
        assert!(cfg.postmaster_password.is_none() && cfg.join.is_none());
        assert_eq!(cfg.smtp_hostname(), cfg.main_domain);
        cfg.validate().unwrap();
    }

    const FULL: &str = r#"
node_name = "alpha"
data_dir = "/var/mailnode/node"
base_dir = "/srv/mail/base"
main_domain = "example.org"
postmaster_password = "s3cret"
log_level = 5
join = "10.0.0.2:8200"

[listen]
smtp = "127.0.0.1:2525"
submission = "off"
smtps = "[::1]:465"
pop3 = "127.0.0.1:0"
pop3s = "OFF"
imap = "127.0.0.1:143"
imaps = "off"
cli = "127.0.0.1:106"
webadmin = "off"
webuser = "off"
cluster = "10.0.0.1:8200"

[smtp]
max_message_size = 1048576
max_recipients = 500
idle_timeout_secs = 60
data_timeout_secs = 120
max_connections_per_ip = 5
max_errors = 3
auth_plaintext_on_loopback = true
hostname = "mx.example.org"

[pop3]
idle_timeout_secs = 900
plaintext_on_loopback = true

[tls]
cert_file = "/etc/mailnode/cert.pem"
key_file = "/etc/mailnode/key.pem"

[queue]
retry_secs = 60
max_batch = 16
"#;

    #[test]
    fn full_file_sets_every_key() {
        let cfg = NodeConfig::from_toml_str(FULL).unwrap();
        assert_eq!(cfg.node_name, "alpha");
        assert_eq!(cfg.data_dir, PathBuf::from("/var/mailnode/node"));
        assert_eq!(cfg.base_dir, PathBuf::from("/srv/mail/base"));
        assert_eq!(cfg.main_domain, "example.org");
        assert_eq!(cfg.postmaster_password.as_deref(), Some("s3cret"));
        assert_eq!(cfg.log_level, 5);
        assert_eq!(cfg.join.as_deref(), Some("10.0.0.2:8200"));
        assert_eq!(cfg.listen.submission, Listen::Off);
        assert_eq!(cfg.listen.pop3s, Listen::Off);
        assert_eq!(cfg.listen.cluster, Listen::Addr(addr("10.0.0.1:8200")));
        assert_eq!(
            cfg.smtp,
            SmtpConfig {
                max_message_size: 1_048_576,
                max_recipients: 500,
                idle_timeout_secs: 60,
                data_timeout_secs: 120,
                max_connections_per_ip: 5,
                max_errors: 3,
                auth_plaintext_on_loopback: true,
                hostname: Some("mx.example.org".into()),
                ..SmtpConfig::default()
            }
        );
        assert_eq!(cfg.smtp_hostname(), "mx.example.org");
        assert_eq!(
            cfg.pop3,
            Pop3Config {
                idle_timeout_secs: 900,
                plaintext_on_loopback: true
            }
        );
        assert_eq!(
            cfg.tls.cert_file.as_deref(),
            Some(Path::new("/etc/mailnode/cert.pem"))
        );
        assert_eq!(
            cfg.tls.key_file.as_deref(),
            Some(Path::new("/etc/mailnode/key.pem"))
        );
        assert_eq!(
            cfg.queue,
            QueueConfig {
                retry_secs: 60,
                max_batch: 16
            }
        );
        cfg.validate().unwrap();
        // Only served, enabled listeners; cluster is ignored in this release.
        assert_eq!(
            cfg.listeners(),
            vec![
                ("smtp", addr("127.0.0.1:2525")),
                ("smtps", addr("[::1]:465")),
                ("pop3", addr("127.0.0.1:0")),
                ("imap", addr("127.0.0.1:143")),
                ("cli", addr("127.0.0.1:106")),
                ("webadmins", addr("0.0.0.0:9010")),
            ]
        );
    }

    #[test]
    fn unknown_key_error_names_key_and_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mailnode.toml");
        std::fs::write(&path, "node_name = \"a\"\n[smtp]\nmax_mesage_size = 5\n").unwrap();
        let err = NodeConfig::load(&path).unwrap_err();
        assert!(matches!(err, ConfigError::Parse { .. }));
        let text = err.to_string();
        assert!(text.contains("max_mesage_size"), "{text}");
        assert!(text.contains("mailnode.toml"), "{text}");

        let err = NodeConfig::from_toml_str("colour = 1").unwrap_err();
        assert!(err.to_string().contains("colour"), "{err}");
    }

    #[test]
    fn missing_file_is_a_read_error() {
        let dir = tempfile::tempdir().unwrap();
        let err = NodeConfig::load(&dir.path().join("absent.toml")).unwrap_err();
        assert!(matches!(err, ConfigError::Read { .. }));
        assert!(err.to_string().contains("absent.toml"));
        assert!(!err.is_temporary());
    }

    #[test]
    fn listen_off_and_addresses() {
        assert_eq!("off".parse::<Listen>(), Ok(Listen::Off));
        assert_eq!("Off".parse::<Listen>(), Ok(Listen::Off));
        assert_eq!(
            "127.0.0.1:0".parse::<Listen>(),
            Ok(Listen::Addr(addr("127.0.0.1:0")))
        );
        assert_eq!(
            "[::]:25".parse::<Listen>(),
            Ok(Listen::Addr(addr("[::]:25")))
        );
        assert_eq!(Listen::Off.to_string(), "off");
        assert_eq!(Listen::Addr(addr("1.2.3.4:5")).to_string(), "1.2.3.4:5");
        let cfg = NodeConfig::from_toml_str("[listen]\nsmtp = \"off\"\n").unwrap();
        assert_eq!(cfg.listen.smtp, Listen::Off);
        assert!(cfg.listeners().iter().all(|(key, _)| *key != "smtp"));
    }

    #[test]
    fn bad_listen_addresses_are_errors_naming_the_value() {
        for bad in [
            "localhost:25",
            "0.0.0.0",
            "0.0.0.0:99999",
            "",
            "on",
            ":25",
            "::1:25",
        ] {
            let err = bad.parse::<Listen>().unwrap_err();
            assert_eq!(err.value, bad);
            let text = format!("[listen]\npop3 = \"{bad}\"\n");
            let err = NodeConfig::from_toml_str(&text).unwrap_err();
            assert!(err.to_string().contains(&format!("{bad:?}")), "{err}");
        }
        let err = NodeConfig::from_toml_str("[listen]\nsmtp = 25\n").unwrap_err();
        assert!(matches!(err, ConfigError::Parse { .. }));
    }

    #[test]
    fn validate_collects_every_problem() {
        let mut cfg = NodeConfig::from_toml_str("").unwrap();
        cfg.node_name = "a/b".into();
        cfg.log_level = 6;
        cfg.smtp.max_message_size = 0;
        cfg.queue.max_batch = 0;
        cfg.tls.cert_file = Some("cert.pem".into());
        cfg.listen.pop3 = Listen::Addr(addr("0.0.0.0:25"));
        let found = problems(&cfg);
        let expect = [
            "node_name \"a/b\" contains a path separator",
            "log_level 6",
            "listen.pop3 and listen.smtp both use 0.0.0.0:25",
            "smtp.max_message_size",
            "tls.cert_file is set but tls.key_file is not",
            "queue.max_batch",
        ];
        assert_eq!(found.len(), expect.len(), "{found:?}");
        for (problem, prefix) in found.iter().zip(expect) {
            assert!(problem.starts_with(prefix), "{problem:?} vs {prefix:?}");
        }
        let err = cfg.validate().unwrap_err().to_string();
        assert!(
            err.contains("log_level 6") && err.contains("node_name"),
            "{err}"
        );
    }

    #[test]
    fn validate_node_name_rules() {
        let mut cfg = NodeConfig::from_toml_str("").unwrap();
        cfg.node_name = String::new();
        assert_eq!(problems(&cfg), ["node_name is empty"]);
        cfg.node_name = "..".into();
        assert_eq!(problems(&cfg).len(), 1);
        cfg.node_name = "node 2".into();
        assert_eq!(problems(&cfg).len(), 1);
        cfg.node_name = "node-2.eu".into();
        assert!(problems(&cfg).is_empty());
    }

    #[test]
    fn port_zero_listeners_may_repeat() {
        let cfg = NodeConfig::from_toml_str(
            "[listen]\nsmtp = \"127.0.0.1:0\"\nsubmission = \"127.0.0.1:0\"\n",
        )
        .unwrap();
        cfg.validate().unwrap();
    }

    #[test]
    fn issue_5_relay_section_parses_and_validates() {
        let cfg = NodeConfig::from_toml_str(
            r#"
            [relay]
            smarthost = "mail.isp.test:587"
            nameservers = ["127.0.0.1:5353"]
            retry_first_secs = 1
            retry_max_secs = 4
            give_up_secs = 60
            helo_name = "mx.example.test"
            [relay.routes]
            "remote.test" = "127.0.0.1:2526"
            "*.corp.test" = "[::1]:25"
            [relay.tls_policy]
            "*.corp.test" = "verify"
            "*" = "opportunistic"
            "#,
        )
        .unwrap();
        assert_eq!(cfg.relay.smarthost.as_deref(), Some("mail.isp.test:587"));
        assert_eq!(cfg.relay.routes["*.corp.test"], "[::1]:25");
        assert_eq!(cfg.relay.nameservers, vec![addr("127.0.0.1:5353")]);
        assert_eq!(cfg.relay.delay_notify_secs, 4 * 3600);
        assert!(cfg.relay.starttls);
        assert_eq!(cfg.relay.tls_policy["*.corp.test"], TlsPolicy::Verify);
        assert!(problems(&cfg).is_empty(), "{:?}", problems(&cfg));

        let mut bad = cfg.clone();
        bad.relay.retry_first_secs = 10;
        bad.relay.smarthost = Some("nohostport".into());
        bad.relay.routes.insert("a@b".into(), "x:99999".into());
        bad.relay
            .tls_policy
            .insert("*x.test".into(), TlsPolicy::Verify);
        bad.relay.tls_trust_file = Some("/nonexistent/ca.pem".into());
        let found = problems(&bad);
        for needle in [
            "retry_max_secs",
            "relay.smarthost",
            "a@b",
            "x:99999",
            "*x.test",
            "/nonexistent/ca.pem",
        ] {
            assert!(
                found.iter().any(|p| p.contains(needle)),
                "{needle}: {found:?}"
            );
        }
    }
}
