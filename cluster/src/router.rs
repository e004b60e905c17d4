//! Replicated relay settings: the router table (CommuniGate's Router),
//! changed through Raft so every node routes alike, and the matching of the
//! trusted client addresses (`ClientIPs`, kept with the server's other
//! address lists in [`crate::directory::ServerSettings`]).
//!
//! Router table text, one rule per line (`GetRouterTable`/`SetRouterTable`):
//!
//! ```text
//! ; comment (also `#`)
//! remote.test = 127.0.0.1:2526     ; a domain to host:port
//! *.corp.test = [::1]:25           ; its subdomains (not the domain itself)
//! <*@legacy.test> = mx.isp.test    ; CommuniGate's form; a bare name: that host's MX
//! * = smarthost.isp.test:587       ; everything else (a cluster-wide smarthost)
//! ```
//!
//! Address list text, CommuniGate's Network Address List format, one entry
//! per line, read in order:
//!
//! ```text
//! 192.0.2.7                    ; one address
//! 10.0.0.0/8                   ; an address and a mask
//! 192.168.1.10-192.168.1.99    ; a range, both ends included
//! !10.9.0.0/16                 ; taken out of what the lines above put in
//! #LAN                         ; every entry of another list (here LANIPs)
//! ```
//!
//! `;` starts a comment, and so does `#` followed by a space or not at the
//! start of an entry. A line that is none of these is refused when a list
//! is set ([`check_ip_list`]); one stored before that check matches
//! nothing. A reference names a list as `LAN`, `Client`, `Blacklisted`, ... or in full
//! (`LANIPs`); a list that refers back to one being read (a cycle) adds
//! nothing. This is how a CommuniGate administrator lets the
//! LAN relay: LANIPs grants nothing by itself, `#LAN` in ClientIPs does.
//!
//! Everything here is pure: parsing and checking happen before a command is
//! proposed, so the state machine only stores validated rules and lists.

use std::collections::BTreeMap;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::directory::IP_LISTS;

/// One router rule.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouteRule {
    /// `domain`, `*.domain` or `*`, lowercase.
    pub pattern: String,
    /// `host:port`, `[v6]:port`, or a bare host name (its MX records).
    pub target: String,
}

/// How relaying to a domain uses TLS (a node's `[relay.tls_policy]`, the
/// cluster's [`RelaySettings::tls_policy`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TlsPolicy {
    /// STARTTLS when offered, certificate not checked (RFC 7435).
    Opportunistic,
    /// STARTTLS required, certificate verified against the trusted CAs and
    /// the host name.
    Verify,
}

/// The relay settings in the replicated state.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RelaySettings {
    /// The router table, in the order written.
    pub routes: Vec<RouteRule>,
    /// TLS policy by `domain`, `*.domain` or `*` (lowercase), over each
    /// node's `[relay.tls_policy]` (`SetRouterSettings`, since protocol
    /// [`crate::rpc::RELAY_TLS_POLICY_VERSION`]). Only in self-describing
    /// encodings, as [`crate::queue::Recipient::delivered_legs`].
    #[serde(default, with = "crate::queue::self_describing_only")]
    pub tls_policy: BTreeMap<String, TlsPolicy>,
}

impl RelaySettings {
    /// The target for `domain` (lowercase, no trailing dot), see
    /// [`lookup_domain`].
    pub fn route(&self, domain: &str) -> Option<&str> {
        let rules = self.routes.iter().map(|r| (r.pattern.as_str(), &r.target));
        lookup_domain(rules, domain).map(String::as_str)
    }

    /// The cluster's TLS policy for `domain` (lowercase, no trailing dot),
    /// see [`lookup_domain`].
    pub fn tls_policy(&self, domain: &str) -> Option<TlsPolicy> {
        lookup_domain(self.tls_policy.iter().map(|(k, v)| (k.as_str(), v)), domain).copied()
    }
}

/// The value for `domain` (lowercase) in a table keyed by `domain`,
/// `*.domain` (its subdomains, not itself) or `*`, keys in any case: an
/// exact key, else the longest matching `*.parent`, else `*`; the first of
/// equal keys.
pub fn lookup_domain<'a, T>(
    table: impl IntoIterator<Item = (&'a str, &'a T)>,
    domain: &str,
) -> Option<&'a T> {
    let mut exact = None;
    let mut wildcard: Option<(usize, &T)> = None;
    let mut default = None;
    for (key, value) in table {
        if key.eq_ignore_ascii_case(domain) {
            exact = exact.or(Some(value));
        } else if key == "*" {
            default = default.or(Some(value));
        } else if let Some(parent) = key.strip_prefix("*.") {
            let hit = domain.len() > parent.len()
                && domain.as_bytes()[domain.len() - parent.len() - 1] == b'.'
                && domain[domain.len() - parent.len()..].eq_ignore_ascii_case(parent);
            if hit && wildcard.is_none_or(|(len, _)| parent.len() > len) {
                wildcard = Some((parent.len(), value));
            }
        }
    }
    exact.or(wildcard.map(|(_, v)| v)).or(default)
}

/// Parses a TLS policy table (`SetRouterSettings`' `TLSPolicy`): keys
/// `domain`, `*.domain` or `*`, values `verify` or `opportunistic`.
///
/// # Errors
/// One sentence per bad entry, joined by `; `.
pub fn parse_tls_policy(
    entries: impl IntoIterator<Item = (String, String)>,
) -> Result<BTreeMap<String, TlsPolicy>, String> {
    let mut policy = BTreeMap::new();
    let mut problems = Vec::new();
    for (key, value) in entries {
        let pattern = key.trim().trim_end_matches('.').to_ascii_lowercase();
        let domain = pattern.strip_prefix("*.").unwrap_or(&pattern);
        let tls = match value.trim().to_ascii_lowercase().as_str() {
            "verify" => Some(TlsPolicy::Verify),
            "opportunistic" => Some(TlsPolicy::Opportunistic),
            _ => None,
        };
        if pattern != "*" && !is_host(domain) {
            problems.push(format!("{key:?} is not a domain, *.domain or *"));
        } else if let Some(tls) = tls {
            policy.insert(pattern, tls);
        } else {
            problems.push(format!(
                "{key:?}: {value:?} is neither verify nor opportunistic"
            ));
        }
    }
    if problems.is_empty() {
        Ok(policy)
    } else {
        Err(problems.join("; "))
    }
}

/// Parses router table text (see the module docs).
///
/// # Errors
/// One sentence per bad line, joined by `; `.
pub fn parse_router_table(text: &str) -> Result<Vec<RouteRule>, String> {
    let mut rules = Vec::new();
    let mut problems = Vec::new();
    for (n, line) in lines(text) {
        let Some((pattern, target)) = line.split_once('=') else {
            problems.push(format!("line {n}: expected `pattern = target`"));
            continue;
        };
        let pattern = pattern.trim();
        let pattern = pattern
            .strip_prefix("<*@")
            .and_then(|p| p.strip_suffix('>'))
            .unwrap_or(pattern)
            .trim_end_matches('.')
            .to_ascii_lowercase();
        let target = target.trim();
        let domain = pattern.strip_prefix("*.").unwrap_or(&pattern);
        if pattern != "*" && !is_host(domain) {
            problems.push(format!("line {n}: bad pattern {pattern:?}"));
        } else if !is_target(target) {
            problems.push(format!("line {n}: bad target {target:?}"));
        } else {
            rules.push(RouteRule {
                pattern,
                target: target.to_string(),
            });
        }
    }
    if problems.is_empty() {
        Ok(rules)
    } else {
        Err(problems.join("; "))
    }
}

/// The router table as text, one `pattern = target` per line.
pub fn format_router_table(rules: &[RouteRule]) -> String {
    rules
        .iter()
        .map(|r| format!("{} = {}\n", r.pattern, r.target))
        .collect()
}

/// Whether `ip` matches address list `text` on its own (see the module
/// docs); references to other lists match nothing here.
pub fn ip_list_contains(text: &str, ip: IpAddr) -> bool {
    list_matches(text, ip, &mut |_| false)
}

/// Checks address list `text` before it is stored: every line must be
/// blank, a comment, or one of the entry forms of the module docs, and a
/// reference must name one of [`IP_LISTS`]. A bad line would otherwise be
/// stored and silently match nothing (`10.0.0.0/33`, a typo in `#LAN`),
/// which an administrator only finds out when relaying or blocking fails.
///
/// The state machine does not repeat this check: entries applied by
/// earlier versions hold such lines, and replaying them must give the
/// same state on every member. Matching skips bad lines.
///
/// # Errors
/// The first bad line: its number (from 1) and why.
pub fn check_ip_list(text: &str) -> Result<(), String> {
    for (n, line) in list_lines(text).enumerate() {
        let entry = list_entry(line).map_err(|why| format!("line {}: {why}", n + 1))?;
        if let Some((_, Entry::Reference(name))) = entry
            && !IP_LISTS.iter().any(|list| names_list(list, name))
        {
            return Err(format!(
                "line {}: #{name} names no address list (one of {})",
                n + 1,
                IP_LISTS.join(", ")
            ));
        }
    }
    Ok(())
}

/// Whether `name` in a `#NAME` reference names `list`: in full (`LANIPs`)
/// or without the `IPs` (`LAN`), in any case.
fn names_list(list: &str, name: &str) -> bool {
    list.eq_ignore_ascii_case(name)
        || list
            .strip_suffix("IPs")
            .is_some_and(|short| short.eq_ignore_ascii_case(name))
}

/// Whether `ip` is in the address list called `name` among `lists` (the
/// server's `ip_lists`), following `#NAME` references to the others.
pub fn ip_listed(lists: &BTreeMap<String, String>, name: &str, ip: IpAddr) -> bool {
    Lists {
        lists,
        ip,
        seen: BTreeMap::new(),
    }
    .listed(name)
}

/// One evaluation of [`ip_listed`]: each list is read at most once, so
/// references cost what the lists' lines cost, and a list that refers back
/// to one being read (a cycle) adds nothing.
struct Lists<'a> {
    lists: &'a BTreeMap<String, String>,
    ip: IpAddr,
    /// Lists read (`Some(result)`) or being read (`None`).
    seen: BTreeMap<&'a str, Option<bool>>,
}

impl<'a> Lists<'a> {
    fn listed(&mut self, name: &str) -> bool {
        let Some((key, text)) = self.lists.iter().find(|(list, _)| names_list(list, name)) else {
            return false;
        };
        if let Some(known) = self.seen.get(key.as_str()) {
            return known.unwrap_or(false);
        }
        self.seen.insert(key, None);
        let ip = self.ip;
        let result = list_matches(text, ip, &mut |reference| self.listed(reference));
        self.seen.insert(key, Some(result));
        result
    }
}

/// One entry of an address list.
enum Entry<'a> {
    /// An address, `ip/bits` or `first-last`.
    Net(Net),
    /// `#NAME`: the entries of another list.
    Reference(&'a str),
}

/// The addresses of an [`Entry::Net`].
#[derive(Clone, Copy)]
enum Net {
    /// `ip/bits` (a lone address has every bit).
    Block(IpAddr, u8),
    /// `first-last`, both included, one address family.
    Range(IpAddr, IpAddr),
}

/// The lines of an address list. CommuniGate's CLI sends lists with `\e`
/// (its escaped line feed) as well as real ones.
fn list_lines(text: &str) -> impl Iterator<Item = &str> {
    text.split(['\n', '\r']).flat_map(|l| l.split("\\e"))
}

/// Evaluates the lines of `text` in order: each matching line includes
/// `ip`, or excludes it when it starts with `!`; `reference` answers for
/// `#NAME` lines. A bad line (stored before [`check_ip_list`] existed)
/// matches nothing.
fn list_matches(text: &str, ip: IpAddr, reference: &mut dyn FnMut(&str) -> bool) -> bool {
    let mut listed = false;
    for line in list_lines(text) {
        let Ok(Some((exclude, entry))) = list_entry(line) else {
            continue;
        };
        let hit = match entry {
            Entry::Net(net) => ip_in(&net, ip),
            Entry::Reference(name) => reference(name),
        };
        if hit {
            listed = !exclude;
        }
    }
    listed
}

/// A line's entry without its comment, and whether it excludes (`!`);
/// `None` for a blank or comment line.
///
/// # Errors
/// Why the line is none of the entry forms.
fn list_entry(line: &str) -> Result<Option<(bool, Entry<'_>)>, String> {
    let line = line.split(';').next().unwrap_or("").trim();
    let (exclude, line) = match line.strip_prefix('!') {
        Some(rest) => (true, rest.trim_start()),
        None => (false, line),
    };
    if let Some(rest) = line.strip_prefix('#') {
        // `# text` is a comment; `#NAME ...` a reference.
        if rest.is_empty() || rest.starts_with(char::is_whitespace) {
            return if exclude {
                Err("nothing after `!`".into())
            } else {
                Ok(None)
            };
        }
        let (name, after) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
        let is_name = name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
        let after = after.trim_start();
        return if !is_name {
            Err(format!("#{name} is not a list name"))
        } else if !after.is_empty() && !after.starts_with('#') {
            Err(format!("{after:?} after #{name}"))
        } else {
            Ok(Some((exclude, Entry::Reference(name))))
        };
    }
    let net = line.split('#').next().unwrap_or("").trim();
    if net.is_empty() {
        return if exclude {
            Err("nothing after `!`".into())
        } else {
            Ok(None)
        };
    }
    parse_entry_net(net)
        .map(|net| Some((exclude, Entry::Net(net))))
        .ok_or_else(|| {
            format!("{net:?} is not an IP address, an address/bits block or a first-last range")
        })
}

/// Non-empty lines without comments, numbered from 1. CommuniGate's CLI
/// sends these tables with `\e` (its escaped line feed) as well as real ones.
fn lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.split(['\n', '\r'])
        .flat_map(|l| l.split("\\e"))
        .enumerate()
        .map(|(i, l)| (i + 1, l.split([';', '#']).next().unwrap_or("").trim()))
        .filter(|(_, l)| !l.is_empty())
}

fn is_host(s: &str) -> bool {
    !s.is_empty()
        && s.split('.').all(|label| {
            !label.is_empty()
                && !label.starts_with('-')
                && label
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        })
}

/// `host:port`, `[v6]:port`, an IP address, or a host name.
fn is_target(s: &str) -> bool {
    if s.parse::<IpAddr>().is_ok() || is_host(s) {
        return true;
    }
    let Some((host, port)) = s.rsplit_once(':') else {
        return false;
    };
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    port.parse::<u16>().is_ok_and(|p| p > 0) && (host.parse::<IpAddr>().is_ok() || is_host(host))
}

/// `ip`, `ip/bits` or `first-last` (one address family, in order).
fn parse_entry_net(s: &str) -> Option<Net> {
    if let Some((first, last)) = s.split_once('-') {
        let first: IpAddr = first.trim().parse().ok()?;
        let last: IpAddr = last.trim().parse().ok()?;
        let ordered = match (first, last) {
            (IpAddr::V4(a), IpAddr::V4(b)) => a <= b,
            (IpAddr::V6(a), IpAddr::V6(b)) => a <= b,
            _ => false,
        };
        return ordered.then_some(Net::Range(first, last));
    }
    let (ip, bits) = match s.split_once('/') {
        Some((ip, bits)) => (ip.parse::<IpAddr>().ok()?, Some(bits.parse::<u8>().ok()?)),
        None => (s.parse::<IpAddr>().ok()?, None),
    };
    let max = if ip.is_ipv4() { 32 } else { 128 };
    let bits = bits.unwrap_or(max);
    (bits <= max).then_some(Net::Block(ip, bits))
}

fn ip_in(net: &Net, ip: IpAddr) -> bool {
    // An IPv4 client seen on a dual-stack socket is `::ffff:a.b.c.d`.
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    };
    match (*net, ip) {
        (Net::Range(IpAddr::V4(a), IpAddr::V4(b)), IpAddr::V4(x)) => a <= x && x <= b,
        (Net::Range(IpAddr::V6(a), IpAddr::V6(b)), IpAddr::V6(x)) => a <= x && x <= b,
        (Net::Block(IpAddr::V4(b), bits), IpAddr::V4(a)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(bits)).unwrap_or(0);
            u32::from(b) & mask == u32::from(a) & mask
        }
        (Net::Block(IpAddr::V6(b), bits), IpAddr::V6(a)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(bits)).unwrap_or(0);
            u128::from(b) & mask == u128::from(a) & mask
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issue_5_router_table_text_round_trip_and_lookup() {
        let text = "; routes\nRemote.Test = 127.0.0.1:2526\n*.corp.test = [::1]:25 # v6\n\
                    <*@legacy.test> = mx.isp.test\n\n* = smart.isp.test:587\n";
        let rules = parse_router_table(text).unwrap();
        assert_eq!(
            format_router_table(&rules),
            "remote.test = 127.0.0.1:2526\n*.corp.test = [::1]:25\n\
             legacy.test = mx.isp.test\n* = smart.isp.test:587\n"
        );
        let settings = RelaySettings {
            routes: rules,
            ..RelaySettings::default()
        };
        assert_eq!(settings.route("remote.test"), Some("127.0.0.1:2526"));
        assert_eq!(settings.route("a.corp.test"), Some("[::1]:25"));
        assert_eq!(settings.route("corp.test"), Some("smart.isp.test:587"));
        assert_eq!(settings.route("legacy.test"), Some("mx.isp.test"));
        assert_eq!(
            RelaySettings::default().route("remote.test"),
            None,
            "an empty table routes nothing"
        );
        let err = parse_router_table("a b\nx.test = :99\nok.test = h:1").unwrap_err();
        assert!(err.contains("line 1") && err.contains("line 2"), "{err}");
    }

    #[test]
    fn issue_5_client_ips_match_addresses_and_blocks() {
        let list = "192.0.2.7\n10.0.0.0/8 ; lan\n2001:db8::/32\nnot-an-address\n10.0.0.0/33";
        let yes = ["192.0.2.7", "10.1.2.3", "2001:db8::1", "::ffff:10.9.9.9"];
        for ip in yes {
            assert!(ip_list_contains(list, ip.parse().unwrap()), "{ip}");
        }
        for ip in ["192.0.2.8", "11.0.0.1", "2001:db9::1", "127.0.0.1"] {
            assert!(!ip_list_contains(list, ip.parse().unwrap()), "{ip}");
        }
        assert!(ip_list_contains(
            "0.0.0.0/0",
            "198.51.100.1".parse().unwrap()
        ));
        assert!(!ip_list_contains("", "127.0.0.1".parse().unwrap()));
    }

    #[test]
    fn issue_4_address_lists_take_ranges_exclusions_and_references() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let list = "192.168.1.10-192.168.1.20\\e10.0.0.0/8\n!10.9.0.0/16 ; not that one\n10.9.9.9";
        for yes in [
            "192.168.1.10",
            "192.168.1.15",
            "192.168.1.20",
            "10.1.1.1",
            "10.9.9.9",
        ] {
            assert!(ip_list_contains(list, ip(yes)), "{yes}");
        }
        for no in ["192.168.1.9", "192.168.1.21", "10.9.0.1"] {
            assert!(!ip_list_contains(list, ip(no)), "{no}");
        }

        let mut lists = BTreeMap::new();
        lists.insert(
            "LANIPs".to_string(),
            "127.0.0.0/8\n192.0.2.0/24".to_string(),
        );
        lists.insert("ClientIPs".to_string(), "#LAN\n!192.0.2.66".to_string());
        lists.insert("DeniedIPs".to_string(), "#lanips".to_string());
        lists.insert(
            "BlacklistedIPs".to_string(),
            "#Blacklisted # a cycle".to_string(),
        );
        lists.insert(
            "WhiteHoleIPs".to_string(),
            "# 127.0.0.1 is a comment".to_string(),
        );
        assert!(ip_listed(&lists, "ClientIPs", ip("127.0.0.1")));
        assert!(ip_listed(&lists, "ClientIPs", ip("192.0.2.1")));
        assert!(!ip_listed(&lists, "ClientIPs", ip("192.0.2.66")));
        assert!(!ip_listed(&lists, "ClientIPs", ip("198.51.100.1")));
        assert!(ip_listed(&lists, "DeniedIPs", ip("192.0.2.9")));
        assert!(!ip_listed(&lists, "BlacklistedIPs", ip("127.0.0.1")));
        assert!(!ip_listed(&lists, "WhiteHoleIPs", ip("127.0.0.1")));
        assert!(!ip_listed(&lists, "NoSuchIPs", ip("127.0.0.1")));
        assert!(
            !ip_list_contains("#LAN", ip("127.0.0.1")),
            "a reference alone names nothing"
        );
    }

    #[test]
    fn issue_4_check_ip_list_reports_the_first_bad_line() {
        let good = "192.0.2.7\n10.0.0.0/8 ; lan\n\n; a comment\n# another\n\
                    192.168.1.10 - 192.168.1.99\\e!10.9.0.0/16\n#LAN\n! #Client # why\n\
                    #WhiteHoleIPs\n2001:db8::/32\n::1\n0.0.0.0/0";
        assert_eq!(check_ip_list(good), Ok(()));
        assert_eq!(check_ip_list(""), Ok(()));
        for (text, line, what) in [
            ("not an ip", 1, "\"not an ip\" is not an IP address"),
            ("10.0.0.1\n10.0.0.0/33", 2, "10.0.0.0/33"),
            ("10.0.0.1\\e::1/129", 2, "::1/129"),
            ("10.0.0.9-10.0.0.1", 1, "first-last range"),
            ("10.0.0.1-::1", 1, "first-last range"),
            ("1.2.3", 1, "\"1.2.3\""),
            ("\n\n!", 3, "nothing after `!`"),
            ("#LNA", 1, "#LNA names no address list"),
            ("#NATed", 1, "#NATed names no address list"),
            ("#LAN junk", 1, "\"junk\" after #LAN"),
            ("#a/b", 1, "#a/b is not a list name"),
            ("10.0.0.1\ngarbage\nmore garbage", 2, "\"garbage\""),
        ] {
            let err = check_ip_list(text).expect_err(text);
            assert!(
                err.starts_with(&format!("line {line}: ")) && err.contains(what),
                "{text:?}: {err}"
            );
        }
    }

    #[test]
    fn issue_5_tls_policy_table_parses_and_matches() {
        let entry = |k: &str, v: &str| (k.to_string(), v.to_string());
        let policy = parse_tls_policy([
            entry("Secure.Test.", "VERIFY"),
            entry("*.bank.test", "verify"),
            entry("open.bank.test", "opportunistic"),
        ])
        .unwrap();
        let settings = RelaySettings {
            tls_policy: policy,
            ..RelaySettings::default()
        };
        assert_eq!(settings.tls_policy("secure.test"), Some(TlsPolicy::Verify));
        assert_eq!(
            settings.tls_policy("www.bank.test"),
            Some(TlsPolicy::Verify)
        );
        assert_eq!(
            settings.tls_policy("open.bank.test"),
            Some(TlsPolicy::Opportunistic)
        );
        assert_eq!(settings.tls_policy("bank.test"), None);
        let err = parse_tls_policy([entry("bad domain!", "verify"), entry("x.test", "maybe")])
            .unwrap_err();
        assert!(
            err.contains("bad domain!") && err.contains("maybe"),
            "{err}"
        );
        assert_eq!(
            parse_tls_policy([entry("*", "verify")]).unwrap()["*"],
            TlsPolicy::Verify
        );
    }

    #[test]
    fn issue_5_tls_policy_is_in_json_snapshots_only() {
        let settings = RelaySettings {
            tls_policy: [("x.test".to_string(), TlsPolicy::Verify)].into(),
            ..RelaySettings::default()
        };
        let json = serde_json::to_string(&settings).unwrap();
        assert!(
            json.contains(r#""tls_policy":{"x.test":"verify"}"#),
            "{json}"
        );
        let back: RelaySettings = serde_json::from_str(&json).unwrap();
        assert_eq!(back, settings);
        // The compact encoding is protocol 4's: no field added.
        let compact = crate::raft::encode(&settings).unwrap();
        let old = crate::raft::encode(&RelaySettings::default()).unwrap();
        assert_eq!(compact, old);
        let back: RelaySettings = crate::raft::decode(&compact).unwrap();
        assert!(back.tls_policy.is_empty());
    }
}
