//! Which names the directory accepts, checked before anything is proposed.
//!
//! - Object names (accounts, their aliases, forwarders, groups) are the
//!   local part of an address, so they must be a Dot-string that needs no
//!   quoting (RFC 5321 §4.1.2: `Atom *("." Atom)`); they are also path
//!   components on the shared base directory, so `/` is out
//!   ([`storage::layout::validate_name`]).
//! - Domain names (and domain aliases) follow the preferred name syntax of
//!   RFC 1035 §2.3.1 as relaxed by RFC 1123 §2.1: dot-separated labels of
//!   letters, digits and inner hyphens, at most 63 octets each and 253 in
//!   all.
//! - A forwarding address is `local[@domain]` with those rules, or a
//!   domain literal (`local@[10.0.0.1]`, RFC 5321 §4.1.3).

use crate::error::{Error, Result};

/// The longest domain name (RFC 1035 §2.3.4 allows 255 octets on the wire,
/// which is 253 characters of text).
const MAX_DOMAIN_LEN: usize = 253;
/// The longest label of a domain name (RFC 1035 §2.3.4).
const MAX_LABEL_LEN: usize = 63;
/// The longest local part (RFC 5321 §4.5.3.1.1).
const MAX_LOCAL_LEN: usize = 64;

fn illegal(name: &str) -> Error {
    Error::BadArgument(format!("Illegal name: {name}"))
}

/// `atext` of RFC 5322 §3.2.3, without `/` (a path separator on disk).
fn is_atext(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-=?^_`{|}~".contains(c)
}

/// Checks the name of an account, alias, forwarder or group (without its
/// domain).
///
/// # Errors
/// `BadArgument` naming it.
pub fn object_name(name: &str) -> Result<()> {
    storage::layout::validate_name(name).map_err(Error::from)?;
    let dot_string = name.len() <= MAX_LOCAL_LEN
        && name
            .split('.')
            .all(|atom| !atom.is_empty() && atom.chars().all(is_atext));
    if dot_string {
        Ok(())
    } else {
        Err(illegal(name))
    }
}

/// Checks a domain name or domain alias.
///
/// # Errors
/// `BadArgument` naming it.
pub fn domain_name(name: &str) -> Result<()> {
    let name_ok = !name.is_empty()
        && name.len() <= MAX_DOMAIN_LEN
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= MAX_LABEL_LEN
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        });
    if name_ok { Ok(()) } else { Err(illegal(name)) }
}

/// Checks the target of a forwarder: `local`, `local@domain` or
/// `local@[address]`.
///
/// # Errors
/// `BadArgument`.
pub fn forwarding_address(address: &str) -> Result<()> {
    let bad = || Error::BadArgument("Illegal forwarding address".into());
    let (local, domain) = match address.rsplit_once('@') {
        Some((local, domain)) => (local, Some(domain)),
        None => (address, None),
    };
    object_name(local).map_err(|_| bad())?;
    match domain {
        None => Ok(()),
        Some(d) => match d.strip_prefix('[').and_then(|d| d.strip_suffix(']')) {
            Some(literal) => literal
                .parse::<std::net::IpAddr>()
                .map(|_| ())
                .map_err(|_| bad()),
            None => domain_name(d).map_err(|_| bad()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_names_are_unquoted_dot_strings() {
        for good in ["pat", "p.q", "user_1", "a-b", "x+y", "O'Brien", "5"] {
            assert!(object_name(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "bad name",
            "a@b",
            ".hidden",
            "a..b",
            "trailing.",
            "x/y",
            "<x>",
            "a\"b",
            "tab\there",
            "café",
        ] {
            assert!(object_name(bad).is_err(), "{bad:?}");
        }
        assert!(object_name(&"a".repeat(64)).is_ok());
        assert!(object_name(&"a".repeat(65)).is_err());
    }

    #[test]
    fn domain_names_are_letters_digits_hyphens() {
        for good in ["example.test", "a.b-c.d", "1and1.com", "localhost"] {
            assert!(domain_name(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "bad name!",
            "a..b",
            ".a",
            "a.",
            "-a.test",
            "a-.test",
            "x/y",
            "under_score.test",
        ] {
            assert!(domain_name(bad).is_err(), "{bad:?}");
        }
        assert!(domain_name(&format!("{}.test", "a".repeat(63))).is_ok());
        assert!(domain_name(&format!("{}.test", "a".repeat(64))).is_err());
    }

    #[test]
    fn forwarding_addresses() {
        for good in ["pat", "x@remote.test", "ops@[10.0.0.1]", "a.b@c.d"] {
            assert!(forwarding_address(good).is_ok(), "{good}");
        }
        for bad in ["", "not an address", "x@", "@x.test", "x@[nope]", "x@a b"] {
            assert!(forwarding_address(bad).is_err(), "{bad:?}");
        }
    }
}
