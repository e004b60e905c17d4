//! POP3 command grammar (RFC 1939 §§4–7, RFC 2449 §5 CAPA, RFC 2595 §4
//! STLS, RFC 5034 §4 AUTH).
//!
//! Owns the parsing of one framed line. Keywords are case-insensitive
//! (RFC 1939 §3). Message numbers are 1-based positive decimals as sent;
//! the session maps them to list indexes.

/// Longest argument accepted. RFC 1939 §3 allows 40 characters per
/// argument; a larger bound tolerates long user names and passwords, and the
/// line limit bounds it anyway.
const MAX_ARG_LEN: usize = 255;

/// One parsed POP3 command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `USER name`.
    User(String),
    /// `PASS string`; everything after the first space, spaces included
    /// (RFC 1939 §7).
    Pass(String),
    /// `APOP name digest`.
    Apop {
        /// Mailbox name.
        name: String,
        /// 32 lower-case hex digits of MD5(timestamp + secret).
        digest: String,
    },
    /// `AUTH [mechanism [initial-response]]` (RFC 5034 §4).
    Auth {
        /// Upper-cased mechanism; `None` asks for the list.
        mechanism: Option<String>,
        /// Initial response, base64 or `=`.
        initial: Option<String>,
    },
    /// `STLS` (RFC 2595 §4).
    Stls,
    /// `CAPA` (RFC 2449 §5).
    Capa,
    /// `STAT`.
    Stat,
    /// `LIST [msg]`.
    List(Option<u32>),
    /// `RETR msg`.
    Retr(u32),
    /// `DELE msg`.
    Dele(u32),
    /// `NOOP`.
    Noop,
    /// `RSET`.
    Rset,
    /// `QUIT`.
    Quit,
    /// `TOP msg n`.
    Top {
        /// Message number.
        msg: u32,
        /// Body lines wanted (may be 0).
        lines: u32,
    },
    /// `UIDL [msg]`.
    Uidl(Option<u32>),
}

/// Why a line is not a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    /// Unknown keyword.
    #[error("unknown command")]
    Unknown,
    /// Known keyword, bad arguments.
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

/// Parses one command line (without its line end).
///
/// # Errors
/// [`CommandError::Unknown`] for an unknown keyword, [`CommandError::Syntax`]
/// for missing, extra or bad arguments (message number 0, not a number) and
/// for a line that is not UTF-8.
pub fn parse_command(line: &[u8]) -> Result<Command> {
    let line = std::str::from_utf8(line).map_err(|_| CommandError::Syntax("invalid UTF-8"))?;
    if line.chars().any(char::is_control) {
        return Err(CommandError::Syntax("control character"));
    }
    let (keyword, rest) = line.split_once(' ').unwrap_or((line, ""));
    let keyword = keyword.to_ascii_uppercase();
    if keyword == "PASS" {
        if rest.is_empty() || rest.len() > MAX_ARG_LEN {
            return Err(CommandError::Syntax("PASS needs a password"));
        }
        return Ok(Command::Pass(rest.to_owned()));
    }
    let args: Vec<&str> = rest.split(' ').filter(|a| !a.is_empty()).collect();
    if args.iter().any(|a| a.len() > MAX_ARG_LEN) {
        return Err(CommandError::Syntax("argument too long"));
    }
    let cmd = match (keyword.as_str(), args.as_slice()) {
        ("USER", [name]) => Command::User((*name).to_owned()),
        ("APOP", [name, digest]) => {
            if digest.len() != 32 || !digest.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(CommandError::Syntax("digest must be 32 hex digits"));
            }
            Command::Apop {
                name: (*name).to_owned(),
                digest: digest.to_ascii_lowercase(),
            }
        }
        ("AUTH", []) => Command::Auth {
            mechanism: None,
            initial: None,
        },
        ("AUTH", [mech, initial @ ..]) if initial.len() <= 1 => Command::Auth {
            mechanism: Some(mech.to_ascii_uppercase()),
            initial: initial.first().map(|s| (*s).to_owned()),
        },
        ("STLS", []) => Command::Stls,
        ("CAPA", []) => Command::Capa,
        ("STAT", []) => Command::Stat,
        ("LIST", []) => Command::List(None),
        ("LIST", [n]) => Command::List(Some(msg_number(n)?)),
        ("RETR", [n]) => Command::Retr(msg_number(n)?),
        ("DELE", [n]) => Command::Dele(msg_number(n)?),
        ("NOOP", []) => Command::Noop,
        ("RSET", []) => Command::Rset,
        ("QUIT", []) => Command::Quit,
        ("TOP", [n, lines]) => Command::Top {
            msg: msg_number(n)?,
            lines: decimal(lines).ok_or(CommandError::Syntax("bad line count"))?,
        },
        ("UIDL", []) => Command::Uidl(None),
        ("UIDL", [n]) => Command::Uidl(Some(msg_number(n)?)),
        (
            "USER" | "APOP" | "AUTH" | "STLS" | "CAPA" | "STAT" | "LIST" | "RETR" | "DELE" | "NOOP"
            | "RSET" | "QUIT" | "TOP" | "UIDL",
            _,
        ) => return Err(CommandError::Syntax("wrong number of arguments")),
        _ => return Err(CommandError::Unknown),
    };
    Ok(cmd)
}

/// A non-negative decimal without sign.
fn decimal(s: &str) -> Option<u32> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// RFC 1939 §5: message numbers start at 1.
fn msg_number(s: &str) -> Result<u32> {
    decimal(s)
        .filter(|n| *n > 0)
        .ok_or(CommandError::Syntax("invalid message number"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc1939_commands() {
        let cases: Vec<(&str, Command)> = vec![
            ("USER mrose", Command::User("mrose".into())),
            ("PASS secret", Command::Pass("secret".into())),
            ("PASS with spaces ", Command::Pass("with spaces ".into())),
            (
                "APOP mrose c4c9334bac560ecc979e58001b3e22fb",
                Command::Apop {
                    name: "mrose".into(),
                    digest: "c4c9334bac560ecc979e58001b3e22fb".into(),
                },
            ),
            ("STAT", Command::Stat),
            ("stat", Command::Stat),
            ("LIST", Command::List(None)),
            ("LIST 2", Command::List(Some(2))),
            ("RETR 1", Command::Retr(1)),
            ("DELE 1", Command::Dele(1)),
            ("NOOP", Command::Noop),
            ("RSET", Command::Rset),
            ("QUIT", Command::Quit),
            ("TOP 1 10", Command::Top { msg: 1, lines: 10 }),
            ("TOP 1 0", Command::Top { msg: 1, lines: 0 }),
            ("UIDL", Command::Uidl(None)),
            ("UIDL 2", Command::Uidl(Some(2))),
            ("CAPA", Command::Capa),
            ("STLS", Command::Stls),
            (
                "AUTH",
                Command::Auth {
                    mechanism: None,
                    initial: None,
                },
            ),
            (
                "AUTH plain",
                Command::Auth {
                    mechanism: Some("PLAIN".into()),
                    initial: None,
                },
            ),
            (
                "AUTH PLAIN dGVzdAB0ZXN0AHRlc3Q=",
                Command::Auth {
                    mechanism: Some("PLAIN".into()),
                    initial: Some("dGVzdAB0ZXN0AHRlc3Q=".into()),
                },
            ),
        ];
        for (line, want) in cases {
            assert_eq!(parse_command(line.as_bytes()), Ok(want), "{line}");
        }
    }

    #[test]
    fn malformed_commands() {
        let syntax = [
            "USER",
            "USER a b",
            "PASS",
            "APOP mrose",
            "APOP mrose xyz",
            "APOP mrose c4c9334bac560ecc979e58001b3e22fg",
            "LIST 0",
            "LIST x",
            "LIST 1 2",
            "LIST -1",
            "LIST +1",
            "RETR",
            "RETR 0",
            "RETR 99999999999",
            "DELE",
            "TOP 1",
            "TOP 0 1",
            "TOP 1 -1",
            "UIDL 0",
            "STAT 1",
            "QUIT now",
            "AUTH A B C",
            "STLS x",
            "NOOP\t",
        ];
        for line in syntax {
            assert!(
                matches!(parse_command(line.as_bytes()), Err(CommandError::Syntax(_))),
                "{line}: {:?}",
                parse_command(line.as_bytes())
            );
        }
        for line in ["", "XTND", "RETRIEVE 1", "LAST"] {
            assert_eq!(
                parse_command(line.as_bytes()),
                Err(CommandError::Unknown),
                "{line}"
            );
        }
        assert!(matches!(
            parse_command(b"USER \xff"),
            Err(CommandError::Syntax(_))
        ));
        let long = format!("USER {}", "a".repeat(MAX_ARG_LEN + 1));
        assert!(matches!(
            parse_command(long.as_bytes()),
            Err(CommandError::Syntax(_))
        ));
    }
}
