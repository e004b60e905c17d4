//! The SMTP session state machine (RFC 5321 §3, §4.1.4) with STARTTLS
//! (RFC 3207), AUTH (RFC 4954), SIZE (RFC 1870), 8BITMIME (RFC 6152),
//! PIPELINING (RFC 2920), ENHANCEDSTATUSCODES (RFC 2034), SMTPUTF8
//! (RFC 6531) and DSN (RFC 3461).
//!
//! Owns the envelope and the command sequence rules, nothing else: it never
//! sees bytes (the driver frames with [`LineReceiver`](super::LineReceiver)
//! and [`DataReceiver`](super::DataReceiver)) and never knows users (RCPT
//! and AUTH are handed to the driver as [`Action`]s). Invariants: a
//! transaction exists only after EHLO/HELO; recipients only inside a
//! transaction; while the driver owes an answer (recipient check, message,
//! AUTH exchange, TLS handshake) no other command is accepted.

use super::command::{Address, Command, CommandError, MailParams, RcptParams};
use super::line::LineError;
use super::reply::Reply;
use crate::sasl::Mechanism;

/// What the server offers, from configuration and connection state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Capabilities {
    /// Largest message accepted, octets (advertised as `SIZE n`, RFC 1870).
    pub size_limit: u64,
    /// Offer STARTTLS (only shown while TLS is not active).
    pub starttls: bool,
    /// Offer `AUTH PLAIN LOGIN` (the driver decides, e.g. only under TLS).
    pub auth: bool,
    /// This server's name for the greeting and EHLO reply.
    pub hostname: String,
}

/// Abuse limits of one session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Recipients per transaction; RFC 5321 §4.5.3.1.8 requires at least
    /// 100, more get `452 4.5.3`.
    pub max_recipients: usize,
    /// Failed commands (unknown, syntax, out of sequence) tolerated before
    /// `421` and close.
    pub max_errors: u32,
    /// Commands outside a transaction (NOOP, RSET, VRFY, HELP, EHLO, …)
    /// tolerated since the last MAIL before `421` and close.
    pub max_idle_commands: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            // RFC 5321 §4.5.3.1.8: the minimum a server must accept.
            max_recipients: 100,
            // Generous for broken clients, small enough to stop scanners.
            max_errors: 20,
            // Room for a long idle keep-alive with NOOP, not for spamming.
            max_idle_commands: 100,
        }
    }
}

/// The envelope of the current mail transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transaction {
    /// Reverse-path; `None` is the null sender `<>`.
    pub from: Option<Address>,
    /// MAIL parameters.
    pub params: MailParams,
    /// Accepted recipients, in order.
    pub rcpts: Vec<Address>,
    /// The RCPT parameters of each accepted recipient (same order).
    pub rcpt_params: Vec<RcptParams>,
}

/// What the driver must do after a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Send the reply, keep reading commands.
    Reply(Reply),
    /// Send the reply, then close the connection.
    ReplyAndClose(Reply),
    /// Look the recipient up, then call [`Session::rcpt_result`] and send
    /// its reply.
    CheckRecipient(Address),
    /// Send the reply (354), read the message with a
    /// [`DataReceiver`](super::DataReceiver) fed with the bytes left in the
    /// line receiver, store it, then call [`Session::data_received`].
    StartData(Reply),
    /// Send the reply (220), drop every byte buffered after the command
    /// (RFC 3207 §5), run the TLS handshake, then call
    /// [`Session::tls_started`].
    StartTls(Reply),
    /// Run a [`Sasl`](crate::sasl::Sasl) exchange for `mechanism` (sending
    /// `334` challenges), then call [`Session::auth_result`].
    Authenticate {
        /// Upper-case mechanism name, one of [`Mechanism`].
        mechanism: String,
        /// Initial response from the AUTH line.
        initial: Option<String>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    /// No EHLO/HELO yet (also right after STARTTLS).
    Connected,
    /// Greeted, no transaction.
    Greeted,
    /// Inside a transaction (MAIL accepted, possibly recipients).
    Mail(Transaction),
    /// Waiting for [`Session::rcpt_result`].
    CheckingRcpt(Transaction, Address, RcptParams),
    /// Waiting for [`Session::data_received`].
    Data(Transaction),
    /// Waiting for [`Session::auth_result`].
    Authenticating,
    /// Waiting for [`Session::tls_started`].
    StartingTls,
}

/// One SMTP session's protocol state.
#[derive(Debug, Clone)]
pub struct Session {
    caps: Capabilities,
    limits: Limits,
    state: State,
    helo: Option<String>,
    esmtp: bool,
    tls: bool,
    authenticated: Option<String>,
    errors: u32,
    idle: u32,
}

impl Session {
    /// A fresh session, before the greeting. For implicit TLS (port 465)
    /// call [`Session::tls_started`] right away.
    pub fn new(caps: Capabilities, limits: Limits) -> Self {
        Self {
            caps,
            limits,
            state: State::Connected,
            helo: None,
            esmtp: false,
            tls: false,
            authenticated: None,
            errors: 0,
            idle: 0,
        }
    }

    /// The `220` greeting to send on connect.
    pub fn greeting(&self) -> Reply {
        Reply::greeting(&self.caps.hostname)
    }

    /// The current transaction's envelope, if MAIL was accepted.
    pub fn transaction(&self) -> Option<&Transaction> {
        match &self.state {
            State::Mail(t) | State::CheckingRcpt(t, ..) | State::Data(t) => Some(t),
            _ => None,
        }
    }

    /// The EHLO/HELO argument, once given.
    pub fn helo(&self) -> Option<&str> {
        self.helo.as_deref()
    }

    /// Whether the client greeted with EHLO (ESMTP parameters allowed).
    pub fn is_esmtp(&self) -> bool {
        self.esmtp
    }

    /// Whether TLS is active.
    pub fn is_tls(&self) -> bool {
        self.tls
    }

    /// The authenticated user, after a successful AUTH.
    pub fn authenticated(&self) -> Option<&str> {
        self.authenticated.as_deref()
    }

    /// Handles one parsed command.
    pub fn on_command(&mut self, cmd: Command) -> Action {
        let state = std::mem::replace(&mut self.state, State::Connected);
        match state {
            State::CheckingRcpt(..)
            | State::Data(_)
            | State::Authenticating
            | State::StartingTls => {
                // The driver broke its contract; stop rather than guess.
                self.state = state;
                return Action::ReplyAndClose(Reply::closing(
                    &self.caps.hostname,
                    "Internal error, closing connection",
                ));
            }
            State::Connected | State::Greeted | State::Mail(_) => self.state = state,
        }
        match cmd {
            Command::Ehlo(name) => self.on_helo(name, true),
            Command::Helo(name) => self.on_helo(name, false),
            Command::Mail { from, params } => self.on_mail(from, params),
            Command::Rcpt { to, params } => self.on_rcpt(to, params),
            Command::Data => self.on_data(),
            Command::Rset => self.idle_reply(|s| {
                s.reset();
                Reply::ok()
            }),
            Command::Noop => self.idle_reply(|_| Reply::ok()),
            // RFC 5321 §3.5.3: 252 when we will not verify.
            Command::Vrfy(_) => self.idle_reply(|_| {
                Reply::new(
                    252,
                    "2.5.0",
                    "Cannot VRFY user, but will accept message and attempt delivery",
                )
            }),
            Command::Expn(_) => self.fail(Reply::new(502, "5.5.1", "EXPN not supported")),
            Command::Help => self.idle_reply(|_| {
                Reply::new(
                    214,
                    "2.0.0",
                    "See RFC 5321 (https://www.rfc-editor.org/rfc/rfc5321)",
                )
            }),
            Command::Quit => Action::ReplyAndClose(Reply::bye()),
            Command::StartTls => self.on_starttls(),
            Command::Auth { mechanism, initial } => self.on_auth(mechanism, initial),
        }
    }

    /// Answers a line that did not parse; counts towards
    /// [`Limits::max_errors`].
    pub fn on_parse_error(&mut self, err: CommandError) -> Action {
        match err {
            CommandError::Unknown => self.fail(Reply::new(500, "5.5.1", "Command unrecognized")),
            CommandError::Syntax(why) => {
                self.fail(Reply::new(501, "5.5.4", format!("Syntax error: {why}")))
            }
        }
    }

    /// Answers a line the framer refused; counts towards
    /// [`Limits::max_errors`].
    pub fn on_line_error(&mut self, _err: LineError) -> Action {
        self.fail(Reply::line_error())
    }

    /// Completes [`Action::CheckRecipient`]: `Ok` adds the recipient and
    /// gives `250 2.1.5`, `Err(reply)` gives back the driver's refusal.
    pub fn rcpt_result(&mut self, accepted: Result<(), Reply>) -> Reply {
        let state = std::mem::replace(&mut self.state, State::Connected);
        let State::CheckingRcpt(mut txn, rcpt, params) = state else {
            self.state = state;
            return Reply::bad_sequence("No recipient check pending");
        };
        let reply = match accepted {
            Ok(()) => {
                txn.rcpts.push(rcpt);
                txn.rcpt_params.push(params);
                Reply::new(250, "2.1.5", "OK")
            }
            Err(reply) => reply,
        };
        self.state = State::Mail(txn);
        reply
    }

    /// Completes [`Action::StartData`], whatever happened to the message:
    /// the transaction ends (RFC 5321 §4.1.1.4) and the driver sends its
    /// own reply (`250`, `552`, `550`, …).
    pub fn data_received(&mut self) {
        if matches!(self.state, State::Data(_)) {
            self.state = State::Greeted;
        }
    }

    /// Completes [`Action::StartTls`] (or marks implicit TLS): everything
    /// learnt from the client is forgotten and it must EHLO again
    /// (RFC 3207 §4.2). `caps` may differ under TLS (e.g. AUTH offered).
    pub fn tls_started(&mut self, caps: Capabilities) {
        self.caps = caps;
        self.tls = true;
        self.state = State::Connected;
        self.helo = None;
        self.esmtp = false;
        self.authenticated = None;
    }

    /// Completes [`Action::Authenticate`]: `Ok(user)` gives `235 2.7.0`;
    /// `Err(reply)` (e.g. [`Reply::auth_failed`] or
    /// [`Reply::from_sasl_error`]) is counted as an error and sent back.
    pub fn auth_result(&mut self, result: Result<String, Reply>) -> Action {
        if self.state != State::Authenticating {
            return Action::Reply(Reply::bad_sequence("No authentication pending"));
        }
        self.state = State::Greeted;
        match result {
            Ok(user) => {
                self.authenticated = Some(user);
                Action::Reply(Reply::auth_ok())
            }
            Err(reply) => self.fail(reply),
        }
    }

    fn reset(&mut self) {
        if self.state != State::Connected {
            self.state = State::Greeted;
        }
    }

    fn greeted(&self) -> bool {
        self.state != State::Connected
    }

    /// Counts an error; past the limit the reply becomes `421` and close.
    fn fail(&mut self, reply: Reply) -> Action {
        self.errors = self.errors.saturating_add(1);
        if self.errors > self.limits.max_errors {
            Action::ReplyAndClose(Reply::closing(
                &self.caps.hostname,
                "Too many errors, closing connection",
            ))
        } else {
            Action::Reply(reply)
        }
    }

    /// Counts a command that does not advance a transaction.
    fn idle_reply(&mut self, reply: impl FnOnce(&mut Self) -> Reply) -> Action {
        self.idle = self.idle.saturating_add(1);
        if self.idle > self.limits.max_idle_commands {
            return Action::ReplyAndClose(Reply::closing(
                &self.caps.hostname,
                "Too many commands without mail, closing connection",
            ));
        }
        Action::Reply(reply(self))
    }

    fn on_helo(&mut self, name: String, esmtp: bool) -> Action {
        let caps = &self.caps;
        let reply = if esmtp {
            let mut lines = vec![format!("{} greets {name}", caps.hostname)];
            lines.push("PIPELINING".into());
            lines.push(format!("SIZE {}", caps.size_limit));
            lines.push("8BITMIME".into());
            lines.push("ENHANCEDSTATUSCODES".into());
            lines.push("SMTPUTF8".into());
            lines.push("DSN".into());
            if caps.starttls && !self.tls {
                lines.push("STARTTLS".into());
            }
            if caps.auth && self.authenticated.is_none() {
                lines.push(format!(
                    "AUTH {} {}",
                    Mechanism::Plain.as_str(),
                    Mechanism::Login.as_str()
                ));
            }
            Reply::plain(250, lines.join("\n"))
        } else {
            Reply::plain(250, caps.hostname.clone())
        };
        // RFC 5321 §4.1.4: EHLO/HELO also resets any transaction.
        self.state = State::Greeted;
        self.helo = Some(name);
        self.esmtp = esmtp;
        self.idle_reply(|_| reply)
    }

    fn on_mail(&mut self, from: Option<Address>, params: MailParams) -> Action {
        match &self.state {
            State::Connected => return self.fail(Reply::bad_sequence("Send EHLO/HELO first")),
            State::Mail(_) => return self.fail(Reply::bad_sequence("Nested MAIL command")),
            _ => {}
        }
        let has_params = params.size.is_some()
            || params.body.is_some()
            || params.smtputf8
            || params.auth.is_some()
            || params.ret.is_some()
            || params.envid.is_some()
            || !params.other.is_empty();
        if (has_params && !self.esmtp) || !params.other.is_empty() {
            // RFC 5321 §4.1.1.11: parameters not recognised (or no EHLO).
            return self.fail(Reply::new(
                555,
                "5.5.4",
                "MAIL FROM parameters not recognized or not implemented",
            ));
        }
        if params.size.is_some_and(|size| size > self.caps.size_limit) {
            return Action::Reply(Reply::too_big());
        }
        if !params.smtputf8 && from.as_ref().is_some_and(|a| !a.is_ascii()) {
            // RFC 6531 §3.5.
            return Action::Reply(Reply::new(
                553,
                "5.6.7",
                "Non-ASCII address requires SMTPUTF8",
            ));
        }
        self.idle = 0;
        self.state = State::Mail(Transaction {
            from,
            params,
            rcpts: Vec::new(),
            rcpt_params: Vec::new(),
        });
        Action::Reply(Reply::new(250, "2.1.0", "OK"))
    }

    fn on_rcpt(&mut self, to: Address, params: RcptParams) -> Action {
        let state = std::mem::replace(&mut self.state, State::Connected);
        let State::Mail(txn) = state else {
            self.state = state;
            return self.fail(Reply::bad_sequence("Need MAIL before RCPT"));
        };
        let has_dsn = params.notify.is_some() || params.orcpt.is_some();
        let reply = if !params.other.is_empty() || (has_dsn && !self.esmtp) {
            Some(self.fail(Reply::new(
                555,
                "5.5.4",
                "RCPT TO parameters not recognized or not implemented",
            )))
        } else if !txn.params.smtputf8 && !to.is_ascii() {
            Some(Action::Reply(Reply::new(
                553,
                "5.6.7",
                "Non-ASCII address requires SMTPUTF8",
            )))
        } else if txn.rcpts.len() >= self.limits.max_recipients {
            Some(Action::Reply(Reply::new(
                452,
                "4.5.3",
                "Too many recipients",
            )))
        } else {
            None
        };
        match reply {
            Some(action) => {
                self.state = State::Mail(txn);
                action
            }
            None => {
                self.state = State::CheckingRcpt(txn, to.clone(), params);
                Action::CheckRecipient(to)
            }
        }
    }

    fn on_data(&mut self) -> Action {
        let state = std::mem::replace(&mut self.state, State::Connected);
        match state {
            State::Mail(txn) if !txn.rcpts.is_empty() => {
                self.state = State::Data(txn);
                Action::StartData(Reply::start_data())
            }
            State::Mail(txn) => {
                self.state = State::Mail(txn);
                // RFC 5321 §3.3: 554 "no valid recipients".
                self.fail(Reply::new(554, "5.5.1", "No valid recipients"))
            }
            other => {
                self.state = other;
                self.fail(Reply::bad_sequence("Need MAIL and RCPT before DATA"))
            }
        }
    }

    fn on_starttls(&mut self) -> Action {
        if self.tls {
            return self.fail(Reply::bad_sequence("TLS already active"));
        }
        if !self.caps.starttls {
            return self.fail(Reply::new(502, "5.5.1", "STARTTLS not available"));
        }
        if !self.greeted() {
            return self.fail(Reply::bad_sequence("Send EHLO first"));
        }
        if self.transaction().is_some() {
            return self.fail(Reply::bad_sequence(
                "STARTTLS not allowed during a transaction",
            ));
        }
        self.state = State::StartingTls;
        Action::StartTls(Reply::new(220, "2.0.0", "Ready to start TLS"))
    }

    fn on_auth(&mut self, mechanism: String, initial: Option<String>) -> Action {
        if !self.caps.auth {
            return self.fail(Reply::new(502, "5.5.1", "AUTH not available"));
        }
        if !self.esmtp {
            return self.fail(Reply::bad_sequence("Send EHLO first"));
        }
        if self.authenticated.is_some() {
            return self.fail(Reply::bad_sequence("Already authenticated"));
        }
        if self.transaction().is_some() {
            // RFC 4954 §4: not permitted during a mail transaction.
            return self.fail(Reply::bad_sequence("AUTH not allowed during a transaction"));
        }
        let Some(mech) = Mechanism::from_name(&mechanism) else {
            return self.fail(Reply::new(504, "5.5.4", "Unrecognized authentication type"));
        };
        self.state = State::Authenticating;
        Action::Authenticate {
            mechanism: mech.as_str().to_owned(),
            initial,
        }
    }
}

#[cfg(test)]
mod tests;
