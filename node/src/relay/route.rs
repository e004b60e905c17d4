//! Where a remote domain's mail goes: the router table, then the smarthost, then DNS.
//!
//! Pure: no I/O. The order follows CommuniGate's router and RFC 5321 §5.1:
//!
//! 1. the cluster's router table (replicated through Raft, `SetRouterTable`; its syntax is in
//!    `cluster::router`): an exact rule, else the longest `*.parent`, else `*`. A target
//!    `host:port` (or an IP address, port 25) is used as is; a bare host name means that
//!    name's MX records (routing a domain to another domain);
//! 2. the node's `[relay] routes` (exact, else the longest `*.parent`), then its `smarthost`;
//! 3. the domain's MX records (resolved by the agent).
//!
//! So the config is each node's fallback and the CLI table, the same on every node,
//! overrides it; an empty table (the default) leaves the config in charge.
//!
//! The TLS policy comes from the cluster's router settings (`SetRouterSettings`, replicated,
//! so every member relays a domain alike), else the node's `[relay] tls_policy` (same key
//! forms), whatever the next hop: `verify` requires STARTTLS and a certificate valid for the
//! host, otherwise TLS is opportunistic (RFC 7435).

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;

use cluster::RelaySettings;

use super::proto::StartTls;
use crate::config::{RelayConfig, TlsPolicy};

/// The SMTP port (RFC 5321 §4.5.4.2).
pub const SMTP_PORT: u16 = 25;

/// Where a domain's mail goes, and how carefully.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Destination {
    /// The host or MX set to connect to.
    pub hop: NextHop,
    /// The TLS policy for the domain (see [`tls_policy`]).
    pub tls: StartTls,
}

/// The next hop for a domain.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum NextHop {
    /// A configured `host:port` (route or smarthost).
    Host {
        /// Host name or IP address (without brackets).
        host: String,
        /// TCP port.
        port: u16,
    },
    /// The domain's mail exchangers, found in DNS.
    Mx {
        /// The recipient domain, lowercase.
        domain: String,
    },
}

impl fmt::Display for NextHop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NextHop::Host { host, port } if host.contains(':') => write!(f, "[{host}]:{port}"),
            NextHop::Host { host, port } => write!(f, "{host}:{port}"),
            NextHop::Mx { domain } => write!(f, "MX({domain})"),
        }
    }
}

/// The next hop only: the CLI's `Route` shows it, the log names it.
impl fmt::Display for Destination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.hop.fmt(f)
    }
}

/// The domain part of an address, lowercase (`user@Remote.Test` → `remote.test`).
pub fn domain_of(address: &str) -> String {
    address
        .rsplit_once('@')
        .map_or("", |(_, d)| d)
        .trim_end_matches('.')
        .to_ascii_lowercase()
}

/// The destination of `domain` under the cluster's router `table`, then `config`.
pub fn route(domain: &str, table: &RelaySettings, config: &RelayConfig) -> Destination {
    let domain = domain.trim_end_matches('.').to_ascii_lowercase();
    let tls = tls_policy(&domain, table, config);
    let hop = table
        .route(&domain)
        .and_then(parse_target)
        .or_else(|| {
            lookup(&config.routes, &domain)
                .or(config.smarthost.as_ref())
                .and_then(|target| parse_host_port(target))
        })
        .unwrap_or(NextHop::Mx { domain });
    Destination { hop, tls }
}

/// The TLS policy for `domain`: the cluster's entry, else the node's `[relay] tls_policy`
/// entry (each exact, longest `*.parent`, then `*`), else opportunistic, or never when
/// `starttls` is off.
pub fn tls_policy(domain: &str, table: &RelaySettings, config: &RelayConfig) -> StartTls {
    let configured = table
        .tls_policy(domain)
        .or_else(|| lookup(&config.tls_policy, domain).copied());
    match configured {
        Some(TlsPolicy::Verify) => StartTls::Required,
        Some(TlsPolicy::Opportunistic) if config.starttls => StartTls::Opportunistic,
        None if config.starttls => StartTls::Opportunistic,
        Some(TlsPolicy::Opportunistic) | None => StartTls::Never,
    }
}

/// The value of `domain` in a config table (see [`cluster::router::lookup_domain`]).
fn lookup<'a, T>(table: &'a BTreeMap<String, T>, domain: &str) -> Option<&'a T> {
    cluster::router::lookup_domain(table.iter().map(|(k, v)| (k.as_str(), v)), domain)
}

/// A router table target: `host:port`, an IP address (port 25), or a host name (its MX).
pub fn parse_target(s: &str) -> Option<NextHop> {
    let s = s.trim();
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Some(NextHop::Host {
            host: ip.to_string(),
            port: SMTP_PORT,
        });
    }
    parse_host_port(s).or_else(|| {
        (!s.is_empty() && !s.contains([':', '[', ']'])).then(|| NextHop::Mx {
            domain: s.trim_end_matches('.').to_ascii_lowercase(),
        })
    })
}

/// Splits `host:port` or `[v6]:port`; `None` if malformed (validation reports those).
pub fn parse_host_port(s: &str) -> Option<NextHop> {
    let (host, port) = s.trim().rsplit_once(':')?;
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    let port = port.parse().ok()?;
    (!host.is_empty()).then(|| NextHop::Host {
        host: host.to_string(),
        port,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(routes: &[(&str, &str)], smarthost: Option<&str>) -> RelayConfig {
        RelayConfig {
            routes: routes
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            smarthost: smarthost.map(str::to_string),
            ..RelayConfig::default()
        }
    }

    fn host(h: &str, port: u16) -> NextHop {
        NextHop::Host {
            host: h.into(),
            port,
        }
    }

    fn hop(domain: &str, table: &RelaySettings, config: &RelayConfig) -> NextHop {
        route(domain, table, config).hop
    }

    #[test]
    fn exact_route_then_longest_wildcard_then_smarthost_then_mx() {
        let c = config(
            &[
                ("remote.test", "127.0.0.1:2526"),
                ("*.corp.test", "relay.corp.test:25"),
                ("*.eu.corp.test", "[::1]:2525"),
            ],
            Some("smart.isp.test:587"),
        );
        let none = RelaySettings::default();
        assert_eq!(hop("Remote.Test", &none, &c), host("127.0.0.1", 2526));
        assert_eq!(hop("a.corp.test", &none, &c), host("relay.corp.test", 25));
        assert_eq!(hop("x.eu.corp.test", &none, &c), host("::1", 2525));
        // `*.corp.test` covers subdomains only, and not `xcorp.test`.
        assert_eq!(hop("corp.test", &none, &c), host("smart.isp.test", 587));
        assert_eq!(hop("xcorp.test", &none, &c), host("smart.isp.test", 587));
        let no_smarthost = config(&[("remote.test", "127.0.0.1:2526")], None);
        assert_eq!(
            hop("other.test.", &none, &no_smarthost),
            NextHop::Mx {
                domain: "other.test".into()
            }
        );
    }

    #[test]
    fn host_port_forms_and_display() {
        assert_eq!(parse_host_port("[::1]:25"), Some(host("::1", 25)));
        assert_eq!(parse_host_port("mx:x"), None);
        assert_eq!(parse_host_port(":25"), None);
        assert_eq!(host("::1", 25).to_string(), "[::1]:25");
        assert_eq!(host("127.0.0.1", 25).to_string(), "127.0.0.1:25");
        assert_eq!(domain_of("Bob@Remote.TEST"), "remote.test");
        assert_eq!(domain_of("nodomain"), "");
    }

    #[test]
    fn issue_5_the_raft_router_table_overrides_the_config() {
        let c = config(
            &[("remote.test", "127.0.0.1:2526")],
            Some("smart.isp.test:587"),
        );
        let table = RelaySettings {
            routes: cluster::router::parse_router_table(
                "remote.test = 10.0.0.1:26\n*.corp.test = 192.0.2.1\n<*@alias.test> = mx.other.test",
            )
            .unwrap(),
            ..RelaySettings::default()
        };
        assert_eq!(hop("remote.test", &table, &c), host("10.0.0.1", 26));
        assert_eq!(hop("a.corp.test", &table, &c), host("192.0.2.1", 25));
        assert_eq!(
            hop("alias.test", &table, &c),
            NextHop::Mx {
                domain: "mx.other.test".into()
            }
        );
        // Not in the table: the config decides.
        assert_eq!(hop("x.test", &table, &c), host("smart.isp.test", 587));
        assert_eq!(parse_target("::1"), Some(host("::1", 25)));
        assert_eq!(parse_target("a:b:c"), None);
    }

    #[test]
    fn issue_5_tls_policy_per_domain_wildcard_and_default() {
        let mut c = config(&[], None);
        c.tls_policy = [
            ("secure.test", TlsPolicy::Verify),
            ("*.bank.test", TlsPolicy::Verify),
            ("open.bank.test", TlsPolicy::Opportunistic),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        let none = RelaySettings::default();
        let tls = |d: &str, c: &RelayConfig| route(d, &none, c).tls;
        assert_eq!(tls("Secure.Test", &c), StartTls::Required);
        assert_eq!(tls("www.bank.test", &c), StartTls::Required);
        assert_eq!(tls("open.bank.test", &c), StartTls::Opportunistic);
        assert_eq!(tls("bank.test", &c), StartTls::Opportunistic);
        c.starttls = false;
        assert_eq!(tls("other.test", &c), StartTls::Never);
        assert_eq!(tls("secure.test", &c), StartTls::Required);
        c.tls_policy.insert("*".into(), TlsPolicy::Verify);
        assert_eq!(tls("other.test", &c), StartTls::Required);
        assert_eq!(tls("open.bank.test", &c), StartTls::Never);
        // The cluster's policy comes first.
        let cluster = RelaySettings {
            tls_policy: [
                ("open.bank.test".to_string(), TlsPolicy::Verify),
                ("*.test".to_string(), TlsPolicy::Opportunistic),
            ]
            .into(),
            ..RelaySettings::default()
        };
        let tls = |d: &str| route(d, &cluster, &c).tls;
        assert_eq!(tls("open.bank.test"), StartTls::Required);
        assert_eq!(
            tls("secure.test"),
            StartTls::Never,
            "opportunistic, starttls off"
        );
        assert_eq!(tls("other.example"), StartTls::Required, "the node's *");
    }
}
