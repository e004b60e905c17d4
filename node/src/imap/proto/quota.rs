//! QUOTA (RFC 9208): the account's storage limit and the untagged
//! QUOTA/QUOTAROOT responses.
//!
//! One quota root, `""`, covers every mailbox of the account; its only
//! resource is STORAGE (RFC 9208 §5.1, units of 1024 octets), limited by
//! the account's effective `MaxAccountSize` setting (CommuniGate data
//! syntax: `100M`, `10K`, `#1048576`, `unlimited`). An account without a
//! limit has no quota root (RFC 9208 §4.3.2 allows an empty QUOTAROOT
//! list). Limits are set by the administrator: SETQUOTA is refused.

use admin::data::{Value, parse};

use super::response::{mailbox, string};

/// The account setting that holds the storage limit.
pub const LIMIT_SETTING: &str = "MaxAccountSize";

/// The one quota root's name.
pub const ROOT: &str = "";

/// The limit in bytes a `MaxAccountSize` value sets, or `None` for
/// `unlimited`. Sizes are a number with an optional `K`, `M`, `G` or `T`
/// suffix (powers of 1024), as an atom, a string or a `#` number. A value
/// that does not parse sets no limit: refusing mail over a typo would be
/// worse than not enforcing it.
pub fn parse_limit(text: &str) -> Option<u64> {
    match parse(text).ok()? {
        Value::Number(n) => u64::try_from(n).ok(),
        Value::String(s) => parse_size(&s),
        _ => None,
    }
}

/// `123`, `10K`, `100M`, `2G`, `1T` (case-insensitive) in bytes; `None`
/// for `unlimited` and anything else.
pub fn parse_size(s: &str) -> Option<u64> {
    let s = s.trim();
    let (digits, unit) = match s.char_indices().last()? {
        (i, c) if c.is_ascii_alphabetic() => (&s[..i], c.to_ascii_uppercase()),
        _ => (s, ' '),
    };
    let shift = match unit {
        ' ' => 0,
        'K' => 10,
        'M' => 20,
        'G' => 30,
        'T' => 40,
        _ => return None,
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse::<u64>().ok()?.checked_mul(1 << shift)
}

/// STORAGE usage and limits are in units of 1024 octets, rounded up.
fn kib(bytes: u64) -> u64 {
    bytes.div_ceil(1024)
}

/// `* QUOTA "" (STORAGE used limit)` (RFC 9208 §7.1).
pub fn quota_response(used: u64, limit: u64) -> String {
    let mut out = b"* QUOTA ".to_vec();
    string(&mut out, ROOT.as_bytes());
    let mut line = String::from_utf8_lossy(&out).into_owned();
    line.push_str(&format!(" (STORAGE {} {})\r\n", kib(used), kib(limit)));
    line
}

/// `* QUOTAROOT mailbox [""]` (RFC 9208 §7.2): the root only when a limit
/// is set.
pub fn quota_root_response(name: &str, limited: bool) -> String {
    let mut out = b"* QUOTAROOT ".to_vec();
    mailbox(&mut out, name);
    if limited {
        out.push(b' ');
        string(&mut out, ROOT.as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    String::from_utf8_lossy(&out).into_owned()
}

/// Whether adding `adding` bytes to `used` would pass `limit`
/// (RFC 9208 §5.1: the operation fails with `[OVERQUOTA]`).
pub fn over(used: u64, adding: u64, limit: Option<u64>) -> bool {
    limit.is_some_and(|l| used.saturating_add(adding) > l)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_from_settings() {
        assert_eq!(parse_limit("100M"), Some(100 << 20));
        assert_eq!(parse_limit("10K"), Some(10 << 10));
        assert_eq!(parse_limit("10k"), Some(10 << 10));
        assert_eq!(parse_limit("\"2G\""), Some(2 << 30));
        assert_eq!(parse_limit("#1048576"), Some(1_048_576));
        assert_eq!(parse_limit("4096"), Some(4096));
        assert_eq!(parse_limit("unlimited"), None);
        assert_eq!(parse_limit("\"unlimited\""), None);
        for bad in [
            "",
            "M",
            "10X",
            "-5",
            "#-1",
            "(1)",
            "1.5M",
            "99999999999999999999T",
        ] {
            assert_eq!(parse_limit(bad), None, "{bad}");
        }
    }

    /// RFC 9208 §4.3.1 and §4.3.2 examples: `* QUOTA "" (STORAGE 10 512)`
    /// and `* QUOTAROOT INBOX ""`.
    #[test]
    fn rfc9208_responses() {
        assert_eq!(
            quota_response(10 * 1024, 512 * 1024),
            "* QUOTA \"\" (STORAGE 10 512)\r\n"
        );
        assert_eq!(quota_response(1, 1000), "* QUOTA \"\" (STORAGE 1 1)\r\n");
        assert_eq!(
            quota_root_response("INBOX", true),
            "* QUOTAROOT \"INBOX\" \"\"\r\n"
        );
        assert_eq!(
            quota_root_response("Fr\u{fc}chte", false),
            "* QUOTAROOT \"Fr&APw-chte\"\r\n"
        );
        assert!(over(900, 200, Some(1000)));
        assert!(!over(900, 100, Some(1000)));
        assert!(!over(u64::MAX, 1, None));
    }
}
