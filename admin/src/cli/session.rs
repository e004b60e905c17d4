//! The CLI/PWD session state machine, sans-I/O.
//!
//! Owns the login state and the reply wording of one PWD connection
//! (CommuniGate PWD module on TCP 106, reference §2.1–2.2 and the Guide's
//! sample session, §2.4). The driver feeds it lines and carries out the
//! returned [`Step`]s: it writes replies, checks passwords, runs commands
//! and reports back through [`CliSession::login_result`] and
//! [`CliSession::render_result`]. No sockets, clocks or randomness here:
//! the APOP challenge token comes from the driver.
//!
//! States: `AwaitUser → AwaitPass → Authenticating → Authenticated`, and
//! `Closed` after `QUIT`. Only `USER`, `PASS`, `APOP`, `AUTH`, `NOOP` and
//! `QUIT` are accepted before login.

use md5::{Digest as _, Md5};

use super::command::{Command, parse_command};
use crate::data::Value;

/// Longest command line accepted, in bytes without the line ending. CLI
/// arguments (dictionaries included) must fit on one line (reference §2.2),
/// so this bounds the largest settings update; the driver discards longer
/// lines up to the next LF and passes them on so they get `501`.
pub const MAX_LINE_LEN: usize = 64 * 1024;

/// The version shown in the greeting and returned by `GetVersion`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// What the driver must do after a line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Write this line (without CRLF) and read the next one.
    Reply(String),
    /// Verify the clear-text password, then call
    /// [`CliSession::login_result`] and write what it returns.
    CheckPassword {
        /// Account name as sent.
        user: String,
        /// Password as sent.
        password: String,
    },
    /// Check `digest` against [`apop_digest`]`(challenge, password)` for the
    /// user's password (see [`verify_apop`]), then call
    /// [`CliSession::login_result`].
    CheckApop {
        /// Account name as sent.
        user: String,
        /// Hex MD5 digest as sent.
        digest: String,
        /// The `<token@host>` challenge from the greeting.
        challenge: String,
    },
    /// Run an authenticated command for `user`, then call
    /// [`CliSession::render_result`] and write what it returns.
    Execute {
        /// The authenticated account name.
        user: String,
        /// The command to run.
        command: Command,
    },
    /// Write this line and close the connection.
    Close(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    AwaitUser,
    AwaitPass { user: String },
    Authenticating { user: String },
    Authenticated { user: String },
    Closed,
}

/// One CLI/PWD connection's protocol state.
#[derive(Debug, Clone)]
pub struct CliSession {
    host: String,
    challenge: String,
    state: State,
    inline: bool,
}

impl CliSession {
    /// A new session for a server named `host`; `token` (e.g.
    /// `753.1213987978`, unique per connection) makes the APOP challenge
    /// `<token@host>`.
    pub fn new(host: &str, token: &str) -> Self {
        CliSession {
            host: host.to_owned(),
            challenge: format!("<{token}@{host}>"),
            state: State::AwaitUser,
            inline: false,
        }
    }

    /// The greeting line, CommuniGate's shape with the APOP challenge at the
    /// end, where `CLI.pm` looks for it.
    pub fn greeting(&self) -> String {
        format!(
            "200 Mailnode at {} PWD Server {VERSION} ready {}",
            self.host, self.challenge
        )
    }

    /// The APOP challenge, `<token@host>`.
    pub fn challenge(&self) -> &str {
        &self.challenge
    }

    /// The authenticated account, once logged in.
    pub fn user(&self) -> Option<&str> {
        match &self.state {
            State::Authenticated { user } => Some(user),
            _ => None,
        }
    }

    /// Whether `INLINE` mode is on.
    pub fn is_inline(&self) -> bool {
        self.inline
    }

    /// Handles one line; a trailing CR (and LF) is stripped, since
    /// `CLI.pm` ends commands with a bare LF.
    pub fn on_line(&mut self, line: &str) -> Step {
        let line = line.strip_suffix('\n').unwrap_or(line);
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.len() > MAX_LINE_LEN {
            return Step::Reply("501 line too long".to_owned());
        }
        match &self.state {
            State::Closed => return Step::Close("501 connection is closed".to_owned()),
            State::Authenticating { .. } => {
                return Step::Reply("501 login is in progress".to_owned());
            }
            _ => {}
        }
        let command = match parse_command(line) {
            Ok(c) => c,
            Err(e) => return Step::Reply(format!("501 {e}")),
        };
        match command {
            Command::Quit => {
                self.state = State::Closed;
                Step::Close("200 Mailnode PWD connection closed".to_owned())
            }
            Command::Noop => Step::Reply("200 OK".to_owned()),
            Command::User(_)
            | Command::Pass(_)
            | Command::Apop { .. }
            | Command::AuthWebUser { .. }
                if self.user().is_some() =>
            {
                Step::Reply("501 already logged in".to_owned())
            }
            Command::User(user) => {
                self.state = State::AwaitPass { user };
                Step::Reply("300 please send the PASS".to_owned())
            }
            Command::Pass(password) => match std::mem::replace(&mut self.state, State::AwaitUser) {
                State::AwaitPass { user } => {
                    self.state = State::Authenticating { user: user.clone() };
                    Step::CheckPassword { user, password }
                }
                _ => Step::Reply("501 please send the USER first".to_owned()),
            },
            Command::Apop { name, digest } => {
                self.state = State::Authenticating { user: name.clone() };
                Step::CheckApop {
                    user: name,
                    digest,
                    challenge: self.challenge.clone(),
                }
            }
            Command::AuthWebUser { name, password } => {
                self.state = State::Authenticating { user: name.clone() };
                Step::CheckPassword {
                    user: name,
                    password,
                }
            }
            command => {
                let State::Authenticated { user } = &self.state else {
                    return Step::Reply("501 please log in first".to_owned());
                };
                match command {
                    Command::Inline => {
                        self.inline = true;
                        Step::Reply("200 OK".to_owned())
                    }
                    Command::GetVersion => {
                        Step::Reply(self.render_result(Ok(Some(Value::string(VERSION)))))
                    }
                    Command::Unsupported(name) => {
                        Step::Reply(format!("501 {name} is not supported"))
                    }
                    command => Step::Execute {
                        user: user.clone(),
                        command,
                    },
                }
            }
        }
    }

    /// Records the outcome of a [`Step::CheckPassword`] or
    /// [`Step::CheckApop`] and returns the reply line to write.
    pub fn login_result(&mut self, ok: bool) -> String {
        match std::mem::replace(&mut self.state, State::AwaitUser) {
            State::Authenticating { user } if ok => {
                self.state = State::Authenticated { user };
                "200 login OK".to_owned()
            }
            // 500 is the code CLI.pm names "unknown user"; one wording for
            // a bad name and a bad password avoids revealing which it was.
            State::Authenticating { .. } => "500 incorrect password or account name".to_owned(),
            other => {
                self.state = other;
                "501 no login in progress".to_owned()
            }
        }
    }

    /// The reply for a command's outcome: `Ok(None)` → `200 OK`; data →
    /// `201 <object>` in INLINE mode, else `200 data follow` CRLF
    /// `<object>` (reference §2.2); `Err(text)` → `501 <text>`. Values print
    /// on one line; control characters in the error text become spaces so a
    /// reply is never split.
    pub fn render_result(&self, result: Result<Option<Value>, String>) -> String {
        match result {
            Ok(None) => "200 OK".to_owned(),
            Ok(Some(v)) if self.inline => format!("201 {v}"),
            Ok(Some(v)) => format!("200 data follow\r\n{v}"),
            Err(text) => {
                let text: String = text
                    .chars()
                    .map(|c| if c.is_control() { ' ' } else { c })
                    .collect();
                format!("501 {text}")
            }
        }
    }
}

/// The APOP digest, RFC 1939 §7: lowercase hex MD5 of the challenge
/// (angle brackets included) followed by the password, as `CLI.pm`
/// computes it.
pub fn apop_digest(challenge: &str, password: &str) -> String {
    let mut md5 = Md5::new();
    md5.update(challenge.as_bytes());
    md5.update(password.as_bytes());
    md5.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether `digest` (hex, any case) is the APOP digest of `password` for
/// `challenge`. Compares every byte so timing does not reveal a prefix.
pub fn verify_apop(challenge: &str, password: &str, digest: &str) -> bool {
    let expected = apop_digest(challenge, password);
    expected.len() == digest.len()
        && expected
            .bytes()
            .zip(digest.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b.to_ascii_lowercase()))
            == 0
}

#[cfg(test)]
mod tests;
