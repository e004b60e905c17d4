//! Where a remote domain's mail goes: the router table, then the smarthost, then DNS.
//!
//! Pure: no I/O. The order follows CommuniGate's router and RFC 5321 §5.1: a static route for
//! the domain (exact, else the longest matching `*.parent`), else the smarthost, else the
//! domain's MX records (resolved by the agent).

use std::fmt;

use crate::config::RelayConfig;

/// The SMTP port (RFC 5321 §4.5.4.2).
pub const SMTP_PORT: u16 = 25;

/// The next hop for a domain.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Destination {
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

impl fmt::Display for Destination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Destination::Host { host, port } if host.contains(':') => write!(f, "[{host}]:{port}"),
            Destination::Host { host, port } => write!(f, "{host}:{port}"),
            Destination::Mx { domain } => write!(f, "MX({domain})"),
        }
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

/// The destination of `domain` under `config`.
pub fn route(domain: &str, config: &RelayConfig) -> Destination {
    let domain = domain.trim_end_matches('.').to_ascii_lowercase();
    let exact = config
        .routes
        .iter()
        .find(|(key, _)| key.eq_ignore_ascii_case(&domain))
        .map(|(_, target)| target);
    let wildcard = || {
        config
            .routes
            .iter()
            .filter_map(|(key, target)| {
                let parent = key.strip_prefix("*.")?.to_ascii_lowercase();
                let matches = domain.len() > parent.len()
                    && domain.ends_with(&parent)
                    && domain.as_bytes()[domain.len() - parent.len() - 1] == b'.';
                matches.then_some((parent.len(), target))
            })
            .max_by_key(|(len, _)| *len)
            .map(|(_, target)| target)
    };
    exact
        .or_else(wildcard)
        .or(config.smarthost.as_ref())
        .and_then(|target| parse_host_port(target))
        .unwrap_or(Destination::Mx { domain })
}

/// Splits `host:port` or `[v6]:port`; `None` if malformed (validation reports those).
pub fn parse_host_port(s: &str) -> Option<Destination> {
    let (host, port) = s.trim().rsplit_once(':')?;
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    let port = port.parse().ok()?;
    (!host.is_empty()).then(|| Destination::Host {
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

    fn host(h: &str, port: u16) -> Destination {
        Destination::Host {
            host: h.into(),
            port,
        }
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
        assert_eq!(route("Remote.Test", &c), host("127.0.0.1", 2526));
        assert_eq!(route("a.corp.test", &c), host("relay.corp.test", 25));
        assert_eq!(route("x.eu.corp.test", &c), host("::1", 2525));
        // `*.corp.test` covers subdomains only, and not `xcorp.test`.
        assert_eq!(route("corp.test", &c), host("smart.isp.test", 587));
        assert_eq!(route("xcorp.test", &c), host("smart.isp.test", 587));
        let no_smarthost = config(&[("remote.test", "127.0.0.1:2526")], None);
        assert_eq!(
            route("other.test.", &no_smarthost),
            Destination::Mx {
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
}
