//! The POP3 session state machine (RFC 1939 §§3–6) with CAPA and response
//! codes (RFC 2449), STLS (RFC 2595 §4), AUTH (RFC 5034) and the `AUTH` /
//! `SYS` codes (RFC 3206).
//!
//! Owns the protocol state (AUTHORIZATION → TRANSACTION → UPDATE) and, in
//! TRANSACTION, the maildrop listing handed over at login plus the set of
//! messages marked deleted; it answers STAT, LIST, UIDL, DELE, RSET and NOOP
//! itself. It never sees bytes, passwords stores or message contents:
//! credentials, message bodies, the TLS handshake and the final expunge are
//! [`Action`]s for the driver. Message numbers on the wire are 1-based; the
//! indexes in actions are 0-based positions in [`MaildropView::messages`].
//! While the driver owes a result (login, TLS, commit) no command is taken.

use md5::{Digest, Md5};

use super::command::{Command, CommandError};
use super::line::LineError;
use super::reply::{Reply, RespCode};
use crate::sasl::{Mechanism, SaslError};

/// Failed commands tolerated before `-ERR` and close.
const MAX_ERRORS: u32 = 20;

/// Refused logins tolerated before `-ERR [AUTH]` and close; slows password
/// guessing on one connection.
const MAX_AUTH_FAILURES: u32 = 3;

/// RFC 1939 §7: a unique-id is 1 to 70 characters in 0x21–0x7E.
const MAX_UID_LEN: usize = 70;

/// What the server offers on this connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    /// STLS can be offered (a certificate is configured).
    pub tls_available: bool,
    /// The connection is already under TLS (port 995, or after STLS).
    pub tls_active: bool,
    /// USER/PASS and the SASL mechanisms (all plaintext) are allowed; the
    /// driver usually sets this only under TLS (RFC 2595 §2.2).
    pub allow_plaintext: bool,
}

/// One message of the maildrop as listed at login.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageInfo {
    /// Exact size in octets as RETR will send it (RFC 1939 §5).
    pub size: u64,
    /// Unique id (RFC 1939 §7); characters outside 0x21–0x7E are dropped
    /// and it is cut to 70 characters on output.
    pub uid: String,
}

/// The maildrop the driver locked at login.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MaildropView {
    /// Messages in the order they are numbered, from 1.
    pub messages: Vec<MessageInfo>,
}

/// Why a login attempt failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LoginFailure {
    /// Wrong user, password or digest: `-ERR [AUTH]`.
    #[error("bad credentials")]
    BadCredentials,
    /// Maildrop locked by another session: `-ERR [IN-USE]`.
    #[error("maildrop in use")]
    InUse,
    /// Store or directory unavailable: `-ERR [SYS/TEMP]`.
    #[error("temporary failure")]
    Temporary,
    /// The client cancelled the SASL exchange with `*`.
    #[error("authentication cancelled")]
    Cancelled,
    /// The SASL response could not be decoded or parsed.
    #[error("malformed authentication response")]
    Malformed,
}

impl LoginFailure {
    /// Whether retrying later may succeed.
    pub fn is_temporary(&self) -> bool {
        matches!(self, Self::InUse | Self::Temporary)
    }
}

impl From<&SaslError> for LoginFailure {
    fn from(err: &SaslError) -> Self {
        match err {
            SaslError::Cancelled => Self::Cancelled,
            SaslError::Unsupported
            | SaslError::BadEncoding
            | SaslError::Malformed
            | SaslError::Finished => Self::Malformed,
        }
    }
}

/// What the driver must do after a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Send the reply, keep reading.
    Reply(Reply),
    /// Send the reply, then close.
    ReplyAndClose(Reply),
    /// Check the password, lock the maildrop, call [`Session::login_result`].
    CheckPassword {
        /// Name from USER.
        user: String,
        /// Password from PASS.
        pass: String,
    },
    /// Check `digest` against [`apop_digest`]`(timestamp, secret)`, then as
    /// [`Action::CheckPassword`].
    CheckApop {
        /// Name from APOP.
        user: String,
        /// Lower-case hex digest from APOP.
        digest: String,
        /// The `<…>` timestamp of the greeting.
        timestamp: String,
    },
    /// Run a [`Sasl`](crate::sasl::Sasl) exchange (challenges after `+ `),
    /// then call [`Session::login_result`].
    Authenticate {
        /// Upper-case mechanism, one of [`Mechanism`].
        mechanism: String,
        /// Initial response from the AUTH line.
        initial: Option<String>,
    },
    /// Send the reply, drop buffered input (RFC 2595 §4), run the TLS
    /// handshake, then call [`Session::tls_started`].
    StartTls(Reply),
    /// Send [`encode_message`](super::encode_message)`(bytes, top_lines)`
    /// for the message at `index` (0-based).
    SendMessage {
        /// 0-based index into [`MaildropView::messages`].
        index: usize,
        /// `Some(n)` for TOP.
        top_lines: Option<usize>,
    },
    /// UPDATE state (RFC 1939 §6): expunge these 0-based indexes, send
    /// [`Reply::signing_off`] or [`Reply::commit_failed`], close.
    Commit {
        /// Messages marked deleted, ascending.
        deleted: Vec<usize>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    Authorization {
        user: Option<String>,
    },
    LoggingIn,
    StartingTls,
    Transaction {
        messages: Vec<MessageInfo>,
        deleted: Vec<bool>,
    },
    Update,
}

/// One POP3 session's protocol state.
#[derive(Debug, Clone)]
pub struct Session {
    options: Options,
    state: State,
    timestamp: Option<String>,
    errors: u32,
    auth_failures: u32,
}

/// The APOP digest (RFC 1939 §7): lower-case hex of MD5(timestamp + secret).
pub fn apop_digest(timestamp: &str, secret: &str) -> String {
    let mut md5 = Md5::new();
    md5.update(timestamp.as_bytes());
    md5.update(secret.as_bytes());
    md5.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

impl Session {
    /// A session in the AUTHORIZATION state.
    pub fn new(options: Options) -> Self {
        Self {
            options,
            state: State::Authorization { user: None },
            timestamp: None,
            errors: 0,
            auth_failures: 0,
        }
    }

    /// A session whose login was checked on another cluster member and
    /// continues here: it waits for [`Session::login_result`] like one
    /// that has just sent PASS.
    pub fn resumed(options: Options) -> Self {
        Self {
            state: State::LoggingIn,
            ..Self::new(options)
        }
    }

    /// The greeting, `+OK Mailnode POP3 ready <token>` (RFC 1939 §4, §7).
    /// `token` is unique per connection, e.g. `pid.clock@host`; APOP is
    /// offered only when it is non-empty and free of `<>`, spaces and
    /// control characters.
    pub fn greeting(&mut self, token: &str) -> Reply {
        let valid = !token.is_empty()
            && token
                .bytes()
                .all(|b| b.is_ascii_graphic() && b != b'<' && b != b'>');
        if valid {
            let timestamp = format!("<{token}>");
            let reply = Reply::ok(format!("Mailnode POP3 ready {timestamp}"));
            self.timestamp = Some(timestamp);
            reply
        } else {
            self.timestamp = None;
            Reply::ok("Mailnode POP3 ready")
        }
    }

    /// Whether the session is in the TRANSACTION state.
    pub fn is_authenticated(&self) -> bool {
        matches!(self.state, State::Transaction { .. })
    }

    /// Handles one parsed command.
    pub fn on_command(&mut self, cmd: Command) -> Action {
        if cmd == Command::Capa {
            return Action::Reply(self.capa());
        }
        let state = std::mem::replace(&mut self.state, State::Update);
        match state {
            State::Authorization { user } => self.authorization(user, cmd),
            State::Transaction { messages, deleted } => {
                self.state = State::Transaction { messages, deleted };
                self.transaction(cmd)
            }
            State::LoggingIn | State::StartingTls | State::Update => {
                // The driver broke its contract; stop rather than guess.
                self.state = state;
                Action::ReplyAndClose(Reply::err_code(RespCode::SysPerm, "internal error"))
            }
        }
    }

    /// Answers a line that did not parse.
    pub fn on_parse_error(&mut self, err: CommandError) -> Action {
        match err {
            CommandError::Unknown => self.fail(Reply::err("unknown command")),
            CommandError::Syntax(why) => self.fail(Reply::err(format!("syntax error: {why}"))),
        }
    }

    /// Answers a line the framer refused (RFC 2449 §4).
    pub fn on_line_error(&mut self, _err: LineError) -> Action {
        self.fail(Reply::err("line too long"))
    }

    /// Completes a login action (PASS, APOP or AUTH).
    pub fn login_result(&mut self, result: Result<MaildropView, LoginFailure>) -> Action {
        if self.state != State::LoggingIn {
            return Action::Reply(Reply::err("no login pending"));
        }
        self.state = State::Authorization { user: None };
        let failure = match result {
            Ok(view) => {
                let count = view.messages.len();
                let octets: u64 = view.messages.iter().map(|m| m.size).sum();
                self.state = State::Transaction {
                    deleted: vec![false; count],
                    messages: view.messages,
                };
                return Action::Reply(Reply::ok(format!(
                    "maildrop has {count} messages ({octets} octets)"
                )));
            }
            Err(failure) => failure,
        };
        match failure {
            LoginFailure::BadCredentials => {
                self.auth_failures = self.auth_failures.saturating_add(1);
                let reply = Reply::err_code(RespCode::Auth, "invalid credentials");
                if self.auth_failures >= MAX_AUTH_FAILURES {
                    Action::ReplyAndClose(reply)
                } else {
                    Action::Reply(reply)
                }
            }
            LoginFailure::InUse => {
                Action::Reply(Reply::err_code(RespCode::InUse, "mailbox already locked"))
            }
            LoginFailure::Temporary => Action::Reply(Reply::err_code(
                RespCode::SysTemp,
                "temporary failure, try again later",
            )),
            LoginFailure::Cancelled => Action::Reply(Reply::err("authentication cancelled")),
            LoginFailure::Malformed => self.fail(Reply::err("malformed authentication response")),
        }
    }

    /// Whether the client's connection is under TLS.
    pub fn tls_active(&self) -> bool {
        self.options.tls_active
    }

    /// Completes [`Action::StartTls`]: TLS is now active and the client
    /// starts over in AUTHORIZATION (RFC 2595 §4).
    pub fn tls_started(&mut self) {
        self.options.tls_active = true;
        // Passwords no longer travel in clear text.
        self.options.allow_plaintext = true;
        self.state = State::Authorization { user: None };
    }

    fn fail(&mut self, reply: Reply) -> Action {
        self.errors = self.errors.saturating_add(1);
        if self.errors > MAX_ERRORS {
            Action::ReplyAndClose(Reply::err("too many errors, closing connection"))
        } else {
            Action::Reply(reply)
        }
    }

    fn capa(&self) -> Reply {
        let auth = matches!(self.state, State::Authorization { .. });
        let mut lines = Vec::new();
        if auth && self.options.allow_plaintext {
            lines.push("USER".to_owned());
        }
        lines.extend(
            ["TOP", "UIDL", "RESP-CODES", "AUTH-RESP-CODE", "PIPELINING"].map(String::from),
        );
        if auth && self.options.allow_plaintext {
            lines.push(format!("SASL {}", mechanisms()));
        }
        if auth && self.options.tls_available && !self.options.tls_active {
            lines.push("STLS".to_owned());
        }
        lines.push("IMPLEMENTATION Mailnode".to_owned());
        Reply::multi("Capability list follows", lines)
    }

    fn authorization(&mut self, user: Option<String>, cmd: Command) -> Action {
        self.state = State::Authorization { user: None };
        let plaintext = self.options.allow_plaintext;
        match cmd {
            Command::User(name) if plaintext => {
                // Always +OK: no hint whether the mailbox exists.
                self.state = State::Authorization { user: Some(name) };
                Action::Reply(Reply::ok("send PASS"))
            }
            Command::User(_) | Command::Auth { .. } if !plaintext => {
                self.fail(Reply::err("plaintext authentication not allowed, use STLS"))
            }
            Command::Pass(pass) => match user {
                Some(user) => {
                    self.state = State::LoggingIn;
                    Action::CheckPassword { user, pass }
                }
                None => self.fail(Reply::err("send USER first")),
            },
            Command::Apop { name, digest } => match self.timestamp.clone() {
                Some(timestamp) => {
                    self.state = State::LoggingIn;
                    Action::CheckApop {
                        user: name,
                        digest,
                        timestamp,
                    }
                }
                None => self.fail(Reply::err("APOP not available")),
            },
            Command::Auth {
                mechanism: None, ..
            } => Action::Reply(Reply::multi(
                "supported mechanisms",
                mechanisms().split(' ').map(String::from).collect(),
            )),
            Command::Auth {
                mechanism: Some(mechanism),
                initial,
            } => match Mechanism::from_name(&mechanism) {
                Some(mech) => {
                    self.state = State::LoggingIn;
                    Action::Authenticate {
                        mechanism: mech.as_str().to_owned(),
                        initial,
                    }
                }
                None => self.fail(Reply::err("unsupported mechanism")),
            },
            Command::Stls if self.options.tls_available && !self.options.tls_active => {
                self.state = State::StartingTls;
                Action::StartTls(Reply::ok("Begin TLS negotiation"))
            }
            Command::Stls => self.fail(Reply::err("STLS not available")),
            Command::Quit => Action::ReplyAndClose(Reply::signing_off()),
            _ => self.fail(Reply::err("not allowed in AUTHORIZATION state")),
        }
    }

    fn transaction(&mut self, cmd: Command) -> Action {
        let State::Transaction { messages, deleted } = &mut self.state else {
            return self.fail(Reply::err("not in TRANSACTION state"));
        };
        // Index of a live message for a 1-based number, or the error text.
        let live = |deleted: &[bool], n: u32| -> Result<usize, String> {
            let index = usize::try_from(n).ok().and_then(|n| n.checked_sub(1));
            match index.and_then(|i| deleted.get(i).map(|d| (i, *d))) {
                Some((i, false)) => Ok(i),
                Some((_, true)) => Err(format!("message {n} already deleted")),
                None => Err(format!(
                    "no such message, only {} messages in maildrop",
                    deleted.len()
                )),
            }
        };
        let reply = match cmd {
            Command::Stat => {
                let (count, octets) = messages
                    .iter()
                    .zip(deleted.iter())
                    .filter(|(_, d)| !**d)
                    .fold((0usize, 0u64), |(c, o), (m, _)| {
                        (c + 1, o.saturating_add(m.size))
                    });
                Ok(Reply::ok(format!("{count} {octets}")))
            }
            Command::List(None) | Command::Uidl(None) => {
                let uidl = matches!(cmd, Command::Uidl(_));
                let (mut count, mut octets) = (0usize, 0u64);
                let lines = messages
                    .iter()
                    .zip(deleted.iter())
                    .enumerate()
                    .filter(|(_, (_, d))| !**d)
                    .map(|(i, (m, _))| {
                        count += 1;
                        octets = octets.saturating_add(m.size);
                        listing(i, m, uidl)
                    })
                    .collect();
                let text = if uidl {
                    String::new()
                } else {
                    format!("{count} messages ({octets} octets)")
                };
                Ok(Reply::multi(text, lines))
            }
            Command::List(Some(n)) | Command::Uidl(Some(n)) => {
                let uidl = matches!(cmd, Command::Uidl(_));
                live(deleted, n).map(|i| {
                    let line = messages.get(i).map(|m| listing(i, m, uidl));
                    Reply::ok(line.unwrap_or_default())
                })
            }
            Command::Retr(n) => match live(deleted, n) {
                Ok(index) => {
                    return Action::SendMessage {
                        index,
                        top_lines: None,
                    };
                }
                Err(e) => Err(e),
            },
            Command::Top { msg, lines } => match live(deleted, msg) {
                Ok(index) => {
                    let top = usize::try_from(lines).unwrap_or(usize::MAX);
                    return Action::SendMessage {
                        index,
                        top_lines: Some(top),
                    };
                }
                Err(e) => Err(e),
            },
            Command::Dele(n) => live(deleted, n).map(|i| {
                if let Some(d) = deleted.get_mut(i) {
                    *d = true;
                }
                Reply::ok(format!("message {n} deleted"))
            }),
            Command::Rset => {
                deleted.iter_mut().for_each(|d| *d = false);
                let octets: u64 = messages.iter().map(|m| m.size).sum();
                Ok(Reply::ok(format!(
                    "maildrop has {} messages ({octets} octets)",
                    messages.len()
                )))
            }
            Command::Noop => Ok(Reply::ok("")),
            Command::Quit => {
                let deleted = deleted
                    .iter()
                    .enumerate()
                    .filter_map(|(i, d)| d.then_some(i))
                    .collect();
                self.state = State::Update;
                return Action::Commit { deleted };
            }
            _ => Err("not allowed in TRANSACTION state".to_owned()),
        };
        match reply {
            Ok(reply) => Action::Reply(reply),
            Err(text) => self.fail(Reply::err(text)),
        }
    }
}

/// `n size` for LIST or `n uid` for UIDL, with 1-based `n`.
fn listing(index: usize, message: &MessageInfo, uidl: bool) -> String {
    let n = index + 1;
    if uidl {
        let uid: String = message
            .uid
            .chars()
            .filter(|c| c.is_ascii_graphic())
            .take(MAX_UID_LEN)
            .collect();
        format!("{n} {uid}")
    } else {
        format!("{n} {}", message.size)
    }
}

/// The SASL mechanisms offered, space-separated.
fn mechanisms() -> String {
    format!(
        "{} {}",
        Mechanism::Plain.as_str(),
        Mechanism::Login.as_str()
    )
}

#[cfg(test)]
mod tests;
