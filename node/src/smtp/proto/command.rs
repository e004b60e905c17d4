//! SMTP command grammar (RFC 5321 §4.1.1, §4.1.2) with the parameters of
//! SIZE (RFC 1870), 8BITMIME (RFC 6152), SMTPUTF8 (RFC 6531), AUTH
//! (RFC 4954) and DSN (RFC 3461 §4: RET, ENVID, NOTIFY, ORCPT).
//!
//! Owns only the parsing of one framed line (see [`super::LineReceiver`]).
//! Verbs and parameter keywords are case-insensitive; keywords come out
//! upper-cased. Paths are validated against RFC 5321 §4.1.2 but leniently:
//! a space after `FROM:`/`TO:` is accepted, source routes are parsed and
//! dropped (§4.1.1.3, §C), and UTF-8 is accepted in local parts and domains
//! whatever the parameters say, so the session can answer 553 5.6.7 for a
//! non-ASCII address sent without SMTPUTF8 (RFC 6531 §3.5).

use std::fmt;

/// Longest reverse- or forward-path, angle brackets included
/// (RFC 5321 §4.5.3.1.3).
pub const MAX_PATH_LEN: usize = 256;

/// Longest ENVID, decoded (RFC 3461 §4.4: "at most 100 characters").
pub const MAX_ENVID_LEN: usize = 100;

/// Longest ORCPT, `addr-type;address` as sent (RFC 3461 §4.2: 500
/// characters).
pub const MAX_ORCPT_LEN: usize = 500;

/// Longest SASL mechanism name (RFC 4422 §3.1: 1 to 20 characters).
const MAX_MECHANISM_LEN: usize = 20;

/// A mailbox `local@domain` from a path.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Address {
    /// Local part as written: a dot-string, or a quoted string with its
    /// quotes and backslashes kept.
    pub local: String,
    /// Domain, or address literal with its brackets (`[192.0.2.1]`). Empty
    /// only for the special `<postmaster>` recipient (RFC 5321 §4.5.1).
    pub domain: String,
}

impl Address {
    /// Whether both parts are ASCII; if not, MAIL needs SMTPUTF8.
    pub fn is_ascii(&self) -> bool {
        self.local.is_ascii() && self.domain.is_ascii()
    }

    /// Whether this is the domain-less `<postmaster>` of RFC 5321 §4.5.1.
    pub fn is_postmaster(&self) -> bool {
        self.domain.is_empty() && self.local.eq_ignore_ascii_case("postmaster")
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.domain.is_empty() {
            f.write_str(&self.local)
        } else {
            write!(f, "{}@{}", self.local, self.domain)
        }
    }
}

/// The BODY parameter of MAIL (RFC 6152 §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Body {
    /// `BODY=7BIT`.
    SevenBit,
    /// `BODY=8BITMIME`.
    EightBitMime,
}

/// The RET parameter of MAIL (RFC 3461 §4.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ret {
    /// `RET=FULL`: return the whole message in a failure notice.
    Full,
    /// `RET=HDRS`: return only its header.
    Hdrs,
}

/// The NOTIFY parameter of RCPT (RFC 3461 §4.1); `NEVER` is all `false`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Notify {
    /// `SUCCESS`.
    pub success: bool,
    /// `FAILURE`.
    pub failure: bool,
    /// `DELAY`.
    pub delay: bool,
}

/// The parameters of RCPT TO.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RcptParams {
    /// `NOTIFY=` (RFC 3461 §4.1).
    pub notify: Option<Notify>,
    /// `ORCPT=addr-type;xtext`, decoded to `addr-type;address` with the
    /// type as sent (RFC 3461 §4.2).
    pub orcpt: Option<String>,
    /// Any other parameter, keyword upper-cased, for the session to refuse.
    pub other: Vec<(String, Option<String>)>,
}

/// The parameters of MAIL FROM.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MailParams {
    /// `SIZE=n`: the client's estimate in octets (RFC 1870 §3).
    pub size: Option<u64>,
    /// `BODY=` (RFC 6152).
    pub body: Option<Body>,
    /// `SMTPUTF8` was given (RFC 6531 §3.4).
    pub smtputf8: bool,
    /// `AUTH=` mailbox, xtext-decoded (RFC 4954 §5); `<>` when unknown.
    pub auth: Option<String>,
    /// `RET=` (RFC 3461 §4.3).
    pub ret: Option<Ret>,
    /// `ENVID=`, xtext-decoded (RFC 3461 §4.4).
    pub envid: Option<String>,
    /// Any other parameter, keyword upper-cased, for the session to refuse.
    pub other: Vec<(String, Option<String>)>,
}

/// One parsed SMTP command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `EHLO domain` (RFC 5321 §4.1.1.1).
    Ehlo(String),
    /// `HELO domain`.
    Helo(String),
    /// `MAIL FROM:<path> [params]`; `from` is `None` for the null path `<>`.
    Mail {
        /// Reverse-path.
        from: Option<Address>,
        /// ESMTP parameters.
        params: MailParams,
    },
    /// `RCPT TO:<path> [params]`.
    Rcpt {
        /// Forward-path (possibly `<postmaster>`).
        to: Address,
        /// ESMTP parameters.
        params: RcptParams,
    },
    /// `DATA`.
    Data,
    /// `RSET`.
    Rset,
    /// `NOOP [string]`.
    Noop,
    /// `QUIT`.
    Quit,
    /// `VRFY string`.
    Vrfy(String),
    /// `EXPN string`.
    Expn(String),
    /// `HELP [string]`.
    Help,
    /// `STARTTLS` (RFC 3207).
    StartTls,
    /// `AUTH mechanism [initial-response]` (RFC 4954 §4).
    Auth {
        /// Mechanism name, upper-cased.
        mechanism: String,
        /// Initial response, base64 or `=`.
        initial: Option<String>,
    },
}

/// Why a line is not a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    /// Unknown or unimplemented verb (answer 500 5.5.1).
    #[error("unrecognized command")]
    Unknown,
    /// Known verb, bad arguments (answer 501 5.5.4).
    #[error("syntax error: {0}")]
    Syntax(&'static str),
}

impl CommandError {
    /// Always `false`: the client sent a bad command.
    pub fn is_temporary(&self) -> bool {
        false
    }
}

type Result<T> = std::result::Result<T, CommandError>;

/// Parses one command line (without CRLF).
///
/// # Errors
/// [`CommandError::Unknown`] for an unknown verb (including BDAT, which is
/// not offered), [`CommandError::Syntax`] for bad arguments or a line that
/// is not UTF-8.
pub fn parse_command(line: &[u8]) -> Result<Command> {
    let line = std::str::from_utf8(line).map_err(|_| CommandError::Syntax("invalid UTF-8"))?;
    let line = line.trim_end_matches([' ', '\t']);
    let (verb, args) = match line.split_once(' ') {
        Some((verb, args)) => (verb, args.trim_start_matches(' ')),
        None => (line, ""),
    };
    let verb = verb.to_ascii_uppercase();
    match verb.as_str() {
        "EHLO" => Ok(Command::Ehlo(domain_arg(args)?)),
        "HELO" => Ok(Command::Helo(domain_arg(args)?)),
        "MAIL" => parse_mail(args),
        "RCPT" => parse_rcpt(args),
        "DATA" => no_args(args, Command::Data),
        "RSET" => no_args(args, Command::Rset),
        "QUIT" => no_args(args, Command::Quit),
        "STARTTLS" => no_args(args, Command::StartTls),
        "NOOP" => Ok(Command::Noop),
        "HELP" => Ok(Command::Help),
        "VRFY" => Ok(Command::Vrfy(string_arg(args)?)),
        "EXPN" => Ok(Command::Expn(string_arg(args)?)),
        "AUTH" => parse_auth(args),
        _ => Err(CommandError::Unknown),
    }
}

fn no_args(args: &str, cmd: Command) -> Result<Command> {
    if args.is_empty() {
        Ok(cmd)
    } else {
        Err(CommandError::Syntax("no arguments allowed"))
    }
}

fn string_arg(args: &str) -> Result<String> {
    if args.is_empty() {
        return Err(CommandError::Syntax("argument required"));
    }
    if args.chars().any(char::is_control) {
        return Err(CommandError::Syntax("control character"));
    }
    Ok(args.to_owned())
}

/// EHLO/HELO argument: the first word, any printable text. RFC 5321
/// §4.1.1.1 asks for a domain or address literal, but §4.1.4 forbids
/// refusing a session over a wrong one, so only its presence is checked.
fn domain_arg(args: &str) -> Result<String> {
    let word = args.split(' ').next().unwrap_or_default();
    if word.is_empty() {
        return Err(CommandError::Syntax("domain or address literal required"));
    }
    string_arg(word)
}

fn parse_auth(args: &str) -> Result<Command> {
    let mut words = args.split(' ').filter(|w| !w.is_empty());
    let mechanism = words
        .next()
        .ok_or(CommandError::Syntax("mechanism required"))?;
    let initial = words.next().map(str::to_owned);
    if words.next().is_some() {
        return Err(CommandError::Syntax("too many arguments"));
    }
    let valid = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
    if mechanism.len() > MAX_MECHANISM_LEN || !mechanism.chars().all(valid) {
        return Err(CommandError::Syntax("bad mechanism name"));
    }
    Ok(Command::Auth {
        mechanism: mechanism.to_ascii_uppercase(),
        initial,
    })
}

fn parse_mail(args: &str) -> Result<Command> {
    let rest = strip_prefix_ci(args, "FROM:").ok_or(CommandError::Syntax("expected FROM:"))?;
    let (from, rest) = parse_path(rest.trim_start_matches(' '), false)?;
    let mut params = MailParams::default();
    for (keyword, value) in parse_params(rest)? {
        match (keyword.as_str(), value) {
            ("SIZE", Some(v)) if params.size.is_none() => {
                if !v.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(CommandError::Syntax("bad SIZE value"));
                }
                params.size = Some(
                    v.parse()
                        .map_err(|_| CommandError::Syntax("bad SIZE value"))?,
                );
            }
            ("BODY", Some(v)) if params.body.is_none() => {
                params.body = Some(if v.eq_ignore_ascii_case("7BIT") {
                    Body::SevenBit
                } else if v.eq_ignore_ascii_case("8BITMIME") {
                    Body::EightBitMime
                } else {
                    return Err(CommandError::Syntax("unsupported BODY value"));
                });
            }
            ("SMTPUTF8", None) if !params.smtputf8 => params.smtputf8 = true,
            ("AUTH", Some(v)) if params.auth.is_none() => params.auth = Some(xtext_decode(&v)?),
            ("RET", Some(v)) if params.ret.is_none() => {
                params.ret = Some(if v.eq_ignore_ascii_case("FULL") {
                    Ret::Full
                } else if v.eq_ignore_ascii_case("HDRS") {
                    Ret::Hdrs
                } else {
                    return Err(CommandError::Syntax("bad RET value"));
                });
            }
            ("ENVID", Some(v)) if params.envid.is_none() => {
                let envid = xtext_decode(&v)?;
                // RFC 3461 §4.4: printable US-ASCII, at most 100 characters.
                if envid.len() > MAX_ENVID_LEN || !envid.bytes().all(|b| b.is_ascii_graphic()) {
                    return Err(CommandError::Syntax("bad ENVID value"));
                }
                params.envid = Some(envid);
            }
            ("SIZE" | "BODY" | "SMTPUTF8" | "AUTH" | "RET" | "ENVID", _) => {
                return Err(CommandError::Syntax("bad or repeated parameter"));
            }
            (_, value) => params.other.push((keyword, value)),
        }
    }
    Ok(Command::Mail { from, params })
}

fn parse_rcpt(args: &str) -> Result<Command> {
    let rest = strip_prefix_ci(args, "TO:").ok_or(CommandError::Syntax("expected TO:"))?;
    let (to, rest) = parse_path(rest.trim_start_matches(' '), true)?;
    let to = to.ok_or(CommandError::Syntax("null forward-path"))?;
    let mut params = RcptParams::default();
    for (keyword, value) in parse_params(rest)? {
        match (keyword.as_str(), value) {
            ("NOTIFY", Some(v)) if params.notify.is_none() => params.notify = Some(notify(&v)?),
            ("ORCPT", Some(v)) if params.orcpt.is_none() => params.orcpt = Some(orcpt(&v)?),
            ("NOTIFY" | "ORCPT", _) => {
                return Err(CommandError::Syntax("bad or repeated parameter"));
            }
            (_, value) => params.other.push((keyword, value)),
        }
    }
    Ok(Command::Rcpt { to, params })
}

/// `NOTIFY=NEVER` or a comma list of `SUCCESS`, `FAILURE`, `DELAY`
/// (RFC 3461 §4.1); NEVER stands alone.
fn notify(v: &str) -> Result<Notify> {
    let bad = CommandError::Syntax("bad NOTIFY value");
    if v.eq_ignore_ascii_case("NEVER") {
        return Ok(Notify::default());
    }
    let mut n = Notify::default();
    for word in v.split(',') {
        let slot = match word.to_ascii_uppercase().as_str() {
            "SUCCESS" => &mut n.success,
            "FAILURE" => &mut n.failure,
            "DELAY" => &mut n.delay,
            _ => return Err(bad),
        };
        if *slot {
            return Err(bad);
        }
        *slot = true;
    }
    Ok(n)
}

/// `ORCPT=addr-type ";" xtext` (RFC 3461 §4.2), decoded.
fn orcpt(v: &str) -> Result<String> {
    let bad = CommandError::Syntax("bad ORCPT value");
    if v.len() > MAX_ORCPT_LEN {
        return Err(bad);
    }
    let (kind, address) = v.split_once(';').ok_or(bad)?;
    // addr-type = atom (RFC 3461 §4.2; RFC 5322 atext).
    let atext = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~".contains(c);
    if kind.is_empty() || !kind.chars().all(atext) {
        return Err(bad);
    }
    let address = xtext_decode(address)?;
    if address.is_empty() || address.chars().any(char::is_control) {
        return Err(bad);
    }
    Ok(format!("{kind};{address}"))
}

fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

/// `esmtp-param *(SP esmtp-param)` (RFC 5321 §4.1.2), after the path.
fn parse_params(rest: &str) -> Result<Vec<(String, Option<String>)>> {
    if !rest.is_empty() && !rest.starts_with(' ') {
        return Err(CommandError::Syntax("junk after path"));
    }
    let mut out = Vec::new();
    for param in rest.split(' ').filter(|p| !p.is_empty()) {
        let (keyword, value) = match param.split_once('=') {
            Some((k, v)) => (k, Some(v)),
            None => (param, None),
        };
        let mut chars = keyword.chars();
        let keyword_ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '-');
        // esmtp-value: 1*(%d33-60 / %d62-126), plus UTF-8 (RFC 6531 §3.3).
        let value_ok = value.is_none_or(|v| {
            !v.is_empty()
                && v.chars()
                    .all(|c| c != '=' && (c.is_ascii_graphic() || !c.is_ascii()))
        });
        if !keyword_ok || !value_ok {
            return Err(CommandError::Syntax("bad parameter"));
        }
        out.push((keyword.to_ascii_uppercase(), value.map(str::to_owned)));
    }
    Ok(out)
}

/// RFC 3461 §4 xtext: every octet outside `!`..`~`, and `+` and `=`, is
/// written `+XX` (for ENVID and ORCPT passed on to the next hop).
pub fn xtext_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if (33..=126).contains(&b) && b != b'+' && b != b'=' {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("+{b:02X}"));
        }
    }
    out
}

/// RFC 3461 §4 xtext: `+XX` stands for the octet XX.
fn xtext_decode(s: &str) -> Result<String> {
    let bad = CommandError::Syntax("bad xtext");
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'+' {
            let hex = s
                .get(i + 1..i + 3)
                .filter(|h| h.bytes().all(|b| b.is_ascii_hexdigit()))
                .ok_or(bad)?;
            out.push(u8::from_str_radix(hex, 16).map_err(|_| bad)?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| bad)
}

/// Parses `Path` (or `<>`, or `<postmaster>` when `rcpt`) at the start of
/// `s`; returns the address and the text after `>`.
fn parse_path(s: &str, rcpt: bool) -> Result<(Option<Address>, &str)> {
    let inner = s
        .strip_prefix('<')
        .ok_or(CommandError::Syntax("path must be in angle brackets"))?;
    if let Some(rest) = inner.strip_prefix('>') {
        return Ok((None, rest));
    }
    // A-d-l ":" — the source route of RFC 5321 §4.1.2, ignored (§C).
    let mailbox = if inner.starts_with('@') {
        let (route, mailbox) = inner
            .split_once(':')
            .ok_or(CommandError::Syntax("bad source route"))?;
        for hop in route.split(',') {
            let domain = hop
                .strip_prefix('@')
                .ok_or(CommandError::Syntax("bad source route"))?;
            if !is_domain(domain) {
                return Err(CommandError::Syntax("bad source route"));
            }
        }
        mailbox
    } else {
        inner
    };
    let (local, after) = split_local(mailbox)?;
    let (domain, rest) = if let Some(rest) = after.strip_prefix('>') {
        if !(rcpt && local.eq_ignore_ascii_case("postmaster")) {
            return Err(CommandError::Syntax("domain required"));
        }
        ("", rest)
    } else {
        let after = after
            .strip_prefix('@')
            .ok_or(CommandError::Syntax("bad local part"))?;
        let end = after.find('>').ok_or(CommandError::Syntax("missing '>'"))?;
        let domain = &after[..end];
        if !(is_domain(domain) || is_address_literal(domain)) {
            return Err(CommandError::Syntax("bad domain"));
        }
        (domain, &after[end + 1..])
    };
    if s.len() - rest.len() > MAX_PATH_LEN {
        return Err(CommandError::Syntax("path too long"));
    }
    Ok((
        Some(Address {
            local: local.to_owned(),
            domain: domain.to_owned(),
        }),
        rest,
    ))
}

/// Splits `Local-part` off the front: a `Dot-string` or `Quoted-string`.
fn split_local(s: &str) -> Result<(&str, &str)> {
    if let Some(body) = s.strip_prefix('"') {
        let mut escaped = false;
        for (i, c) in body.char_indices() {
            if escaped {
                // quoted-pairSMTP = %d92 %d32-126
                if !(c == ' ' || c.is_ascii_graphic()) {
                    return Err(CommandError::Syntax("bad quoted pair"));
                }
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                return Ok(s.split_at(i + 2));
            } else if !(c == ' ' || c.is_ascii_graphic() || !c.is_ascii()) {
                return Err(CommandError::Syntax("bad quoted string"));
            }
        }
        return Err(CommandError::Syntax("unterminated quoted string"));
    }
    let end = s.find(['@', '>']).unwrap_or(s.len());
    let local = &s[..end];
    let is_atext = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~".contains(c);
    if local
        .split('.')
        .any(|atom| atom.is_empty() || !atom.chars().all(|c| is_atext(c) || !c.is_ascii()))
    {
        return Err(CommandError::Syntax("bad local part"));
    }
    Ok(s.split_at(end))
}

/// `Domain = sub-domain *("." sub-domain)`, with U-labels (RFC 6531 §3.3).
fn is_domain(s: &str) -> bool {
    !s.is_empty()
        && s.split('.').all(|label| {
            let ldh = |c: char| c.is_ascii_alphanumeric() || c == '-' || !c.is_ascii();
            !label.is_empty()
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(ldh)
        })
}

/// `address-literal = "[" ( IPv4 / "IPv6:" IPv6 / General ) "]"`.
fn is_address_literal(s: &str) -> bool {
    let Some(inner) = s.strip_prefix('[').and_then(|s| s.strip_suffix(']')) else {
        return false;
    };
    if let Some(v6) = strip_prefix_ci(inner, "IPv6:") {
        return v6.parse::<std::net::Ipv6Addr>().is_ok();
    }
    if let Some((tag, content)) = inner.split_once(':') {
        // General-address-literal = Standardized-tag ":" 1*dcontent
        return is_domain(tag)
            && !content.is_empty()
            && content
                .chars()
                .all(|c| c.is_ascii_graphic() && !matches!(c, '[' | '\\' | ']'));
    }
    let octets: Vec<&str> = inner.split('.').collect();
    octets.len() == 4
        && octets.iter().all(|o| {
            (1..=3).contains(&o.len())
                && o.bytes().all(|b| b.is_ascii_digit())
                && o.parse::<u16>().is_ok_and(|n| n <= 255)
        })
}

#[cfg(test)]
mod tests;
