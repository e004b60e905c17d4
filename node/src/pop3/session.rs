//! The POP3 session driver: runs the sans-I/O [`proto::Session`] over one
//! connection (port 110 with STLS, or 995 under implicit TLS) and carries
//! out its actions against the directory and the account's INBOX.
//!
//! Invariants:
//! - The maildrop lock ([`MaildropLock`]) is taken at login and held until
//!   the session ends, however it ends (RFC 1939 §8; a second session gets
//!   `-ERR [IN-USE]`, RFC 2449 §8.1.2). It is released by drop, so I/O
//!   errors and timeouts release it too.
//! - The maildrop is the listing taken at login: messages delivered during
//!   the session are not seen until the next one (RFC 1939 §8). Messages are
//!   read and expunged by UID, so a concurrent delivery cannot shift them.
//! - Unique ids are `UIDVALIDITY.UID`, stable across sessions and restarts
//!   (RFC 1939 §7).
//! - Messages marked deleted are expunged only after QUIT in TRANSACTION
//!   (the UPDATE state, RFC 1939 §6); `+OK` is sent only once the expunge is
//!   on disk, otherwise `-ERR [SYS/TEMP]`.
//! - Plain-text logins (USER/PASS, AUTH PLAIN/LOGIN) are offered under TLS,
//!   or on loopback when `pop3.plaintext_on_loopback` is set (RFC 2595
//!   §2.2). After STLS, input buffered before the handshake is discarded
//!   (RFC 2595 §4).
//! - The connection closes after `pop3.idle_timeout_secs` without input
//!   (RFC 1939 §3 autologout timer), without entering UPDATE.
//! - Passwords and SASL responses never reach the log.

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use admin::api::Undecided;
use cluster::rpc::{SessionHandoff, SessionProtocol};
use cluster::{AccountRef, MaildropLock, SessionPin};
use storage::{AccountKind, Uid};
use tokio::io::{AsyncRead, AsyncWrite};

use crate::net::{Ended, Framer, Stream};
use crate::pop3::proto::line::{MAX_LINE_LEN, MAX_SASL_LINE_LEN};
use crate::pop3::proto::{
    Action, LineError, LineReceiver, LoginFailure, MaildropView, MessageInfo, Options, Reply,
    RespCode, Session, encode_message, parse_command,
};
use crate::sasl::{Sasl, SaslError, SaslStep};
use crate::server::Services;
use crate::syslog::level;

/// The module name in the system log.
const LOG_MODULE: &str = "POP";

/// Output is written once this much is pending even while pipelined
/// commands remain, so a client pipelining many RETRs cannot make the
/// server buffer their sum (RFC 2449 §6.6 allows the server to write as it
/// goes).
const FLUSH_AT: usize = 64 * 1024;

/// Serves one POP3 connection until QUIT, idle timeout, error or
/// disconnect. `stream` is already TLS on the pop3s port.
pub async fn run<IO: AsyncRead + AsyncWrite + Unpin>(
    stream: Stream<IO>,
    peer: SocketAddr,
    services: Arc<Services>,
) {
    let ctx = format!("[{}]:{}", peer.ip(), peer.port());
    let token = format!(
        "{}.{}@{}",
        std::process::id(),
        rand::random::<u64>(),
        services.hostname
    );
    let idle = Duration::from_secs(services.config.pop3.idle_timeout_secs);
    let plaintext_on_loopback =
        peer.ip().is_loopback() && services.config.pop3.plaintext_on_loopback;
    let tls_active = stream.is_tls();
    let mut driver = Driver {
        session: Session::new(Options {
            // Every node has TLS material (configured or self-signed).
            tls_available: true,
            tls_active,
            allow_plaintext: tls_active || plaintext_on_loopback,
        }),
        services,
        ctx,
        maildrop: None,
    };
    let stopping = driver.services.stopping.clone();
    let mut conn = Conn::new(stream, LineReceiver::new(), idle, stopping);
    driver.log(
        level::LOW,
        format_args!("connected{}", if tls_active { " (TLS)" } else { "" }),
    );
    let greeting = driver.session.greeting(&token);
    driver.reply(&mut conn, &greeting);
    serve(driver, conn).await;
}

/// Continues a session that logged in on another member, which relays the
/// client's bytes over `stream` ([`crate::handoff`]): opens the maildrop
/// and answers the login here, then serves the session as [`run`] does.
pub async fn resume<IO: AsyncRead + AsyncWrite + Unpin>(
    stream: Stream<IO>,
    handoff: SessionHandoff,
    pin: SessionPin,
    services: Arc<Services>,
) {
    let idle = Duration::from_secs(services.config.pop3.idle_timeout_secs);
    let mut driver = Driver {
        session: Session::resumed(Options {
            tls_available: false,
            tls_active: handoff.tls,
            allow_plaintext: true,
        }),
        services,
        ctx: handoff.client,
        maildrop: None,
    };
    let stopping = driver.services.stopping.clone();
    let mut conn = Conn::new(stream, LineReceiver::new(), idle, stopping);
    driver.log(
        level::LOW,
        format_args!("session continues here from another member"),
    );
    let opened = driver.open_maildrop(pin, &handoff.method).await;
    let action = driver.session.login_result(opened);
    match driver.perform(&mut conn, action).await {
        Flow::Continue => serve(driver, conn).await,
        // A refused login (e.g. `[IN-USE]`) leaves the client on the
        // other member, which cannot take the session back: close.
        _ => conn.close().await,
    }
}

/// Reads and answers commands until the session ends.
async fn serve<IO: AsyncRead + AsyncWrite + Unpin>(mut driver: Driver, mut conn: Conn<IO>) {
    let idle = conn.idle();
    let ended = loop {
        let line = match conn.next_line().await {
            Ok(line) => line,
            Err(ended) => break ended,
        };
        match driver.on_line(&mut conn, line).await {
            Flow::Continue => {
                if conn.out.len() >= FLUSH_AT
                    && let Err(ended) = conn.flush().await
                {
                    break ended;
                }
            }
            Flow::Close => break Ended::Closed,
            Flow::Ended(ended) => break ended,
            Flow::Handoff(holder) => {
                if let Err(ended) = conn.relay_to(holder).await {
                    driver.log(level::LOW, format_args!("handing over failed: {ended:?}"));
                    return;
                }
                driver.log(
                    level::LOW,
                    format_args!("session ended on the account's member"),
                );
                return;
            }
            Flow::StartTls => {
                if let Err(ended) = conn.flush().await {
                    break ended;
                }
                let discarded = conn.rx.take_rest();
                if !discarded.is_empty() {
                    driver.log(
                        level::LOW,
                        format_args!(
                            "discarded {} octets sent before the TLS handshake",
                            discarded.len()
                        ),
                    );
                }
                conn = match conn
                    .start_tls(driver.services.tls.clone(), LineReceiver::new())
                    .await
                {
                    Ok(conn) => conn,
                    Err(e) => {
                        driver.log(level::LOW, format_args!("TLS handshake failed: {e}"));
                        return;
                    }
                };
                // RFC 2595 §4: the client starts over in AUTHORIZATION,
                // and plain-text logins are now protected.
                driver.session.tls_started();
                driver.log(level::LOW, format_args!("TLS started"));
            }
        }
    };
    match &ended {
        Ended::Closed => driver.log(level::LOW, format_args!("closing connection")),
        Ended::Idle => {
            driver.log(
                level::LOW,
                format_args!("idle for {}s, closing", idle.as_secs()),
            );
            driver.reply(&mut conn, &Reply::err("autologout: idle for too long"));
        }
        Ended::Eof => driver.log(level::LOW, format_args!("connection closed by the client")),
        Ended::Io(e) => driver.log(level::LOW, format_args!("connection error: {e}")),
        Ended::Shutdown => {
            // Nothing marked deleted is expunged (no UPDATE state).
            driver.log(level::LOW, format_args!("server stopping, closing"));
            driver.reply(
                &mut conn,
                &Reply::err_code(RespCode::SysTemp, "server shutting down, try again later"),
            );
        }
    }
    // Unlock before the last write, which may wait on a slow client.
    driver.maildrop = None;
    if !matches!(ended, Ended::Io(_)) {
        conn.close().await;
    }
}

/// What the loop does after a command.
enum Flow {
    /// Read the next command.
    Continue,
    /// Send what is pending, then close.
    Close,
    /// The pending reply is `+OK`; flush it and run the TLS handshake.
    StartTls,
    /// The connection ended during the command (e.g. mid-AUTH).
    Ended(Ended),
    /// The account is open on another member, which now serves the
    /// session over this connection to it ([`crate::handoff`]).
    Handoff(tokio::net::TcpStream),
}

/// How a verified login goes on.
enum Login {
    /// The maildrop is open here, or the login failed.
    Here(Result<MaildropView, LoginFailure>),
    /// The session continues on the member holding the account.
    Elsewhere(tokio::net::TcpStream),
}

/// The POP3 connection: commands are CRLF lines.
type Conn<IO> = crate::net::Conn<IO, LineReceiver>;

impl Framer for LineReceiver {
    fn feed(&mut self, bytes: &[u8]) {
        LineReceiver::feed(self, bytes);
    }

    fn take_rest(&mut self) -> Vec<u8> {
        LineReceiver::take_rest(self)
    }
}

impl<IO: AsyncRead + AsyncWrite + Unpin> crate::net::Conn<IO, LineReceiver> {
    /// The next framed line; pending output is written before waiting for
    /// input, so pipelined commands get their replies in one write.
    async fn next_line(&mut self) -> Result<Result<Vec<u8>, LineError>, Ended> {
        loop {
            if let Some(line) = self.rx.next_line() {
                return Ok(line);
            }
            self.flush().await?;
            self.read_some().await?;
        }
    }
}

/// The maildrop of a logged-in session.
struct Maildrop {
    account: AccountRef,
    kind: AccountKind,
    /// UIDs in message-number order: index `i` is message `i + 1`.
    uids: Vec<Uid>,
    /// Held for the whole session; released on drop.
    _lock: MaildropLock,
    /// Keeps the account on this member while the session lasts.
    _pin: SessionPin,
}

/// The per-session state around the protocol machine.
struct Driver {
    session: Session,
    services: Arc<Services>,
    ctx: String,
    maildrop: Option<Maildrop>,
}

impl Driver {
    fn log(&self, lvl: u8, text: fmt::Arguments<'_>) {
        if self.services.log.enabled(lvl) {
            self.services
                .log
                .write(lvl, LOG_MODULE, &self.ctx, &text.to_string());
        }
    }

    /// Queues a reply and dumps its status line at ALL.
    fn reply<IO>(&self, conn: &mut Conn<IO>, reply: &Reply) {
        let bytes = reply.encode();
        if self.services.log.enabled(level::ALL) {
            let status = bytes.split(|&b| b == b'\r').next().unwrap_or_default();
            self.log(
                level::ALL,
                format_args!("out: {}", String::from_utf8_lossy(status)),
            );
        }
        conn.out.extend_from_slice(&bytes);
    }

    /// Handles one framed line.
    async fn on_line<IO: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        conn: &mut Conn<IO>,
        line: Result<Vec<u8>, LineError>,
    ) -> Flow {
        let action = match line {
            Err(e) => {
                self.log(level::ALL, format_args!("inp: <{e}>"));
                self.session.on_line_error(e)
            }
            Ok(bytes) => {
                if self.services.log.enabled(level::ALL) {
                    self.log(level::ALL, format_args!("inp: {}", loggable(&bytes)));
                }
                match parse_command(&bytes) {
                    Ok(cmd) => self.session.on_command(cmd),
                    Err(e) => self.session.on_parse_error(e),
                }
            }
        };
        self.perform(conn, action).await
    }

    /// Carries out an action and the actions that follow from it.
    async fn perform<IO: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        conn: &mut Conn<IO>,
        mut action: Action,
    ) -> Flow {
        loop {
            action = match action {
                Action::Reply(reply) => {
                    self.reply(conn, &reply);
                    return Flow::Continue;
                }
                Action::ReplyAndClose(reply) => {
                    self.reply(conn, &reply);
                    return Flow::Close;
                }
                Action::CheckPassword { user, pass } => {
                    let account = self.services.admin.check_password(&user, &pass).await;
                    match self.login(account, &user, "USER").await {
                        Login::Here(result) => self.session.login_result(result),
                        Login::Elsewhere(holder) => return Flow::Handoff(holder),
                    }
                }
                Action::CheckApop {
                    user,
                    digest,
                    timestamp,
                } => {
                    let account = self.services.admin.verify_apop(&user, &timestamp, &digest);
                    match self.login(Ok(account), &user, "APOP").await {
                        Login::Here(result) => self.session.login_result(result),
                        Login::Elsewhere(holder) => return Flow::Handoff(holder),
                    }
                }
                Action::Authenticate { mechanism, initial } => {
                    match self
                        .authenticate(conn, &mechanism, initial.as_deref())
                        .await
                    {
                        Ok(Login::Here(result)) => self.session.login_result(result),
                        Ok(Login::Elsewhere(holder)) => return Flow::Handoff(holder),
                        Err(ended) => return Flow::Ended(ended),
                    }
                }
                Action::StartTls(reply) => {
                    self.reply(conn, &reply);
                    return Flow::StartTls;
                }
                Action::SendMessage { index, top_lines } => {
                    self.send_message(conn, index, top_lines).await;
                    return Flow::Continue;
                }
                Action::Commit { deleted } => {
                    let reply = self.commit(&deleted).await;
                    // Unlock before the reply: a client that logs in again
                    // right after `+OK` must not find the maildrop locked.
                    self.maildrop = None;
                    self.reply(conn, &reply);
                    return Flow::Close;
                }
            };
        }
    }

    /// Goes on with a checked login (`None`: bad credentials; `Undecided`:
    /// a temporary failure): opens the maildrop here, or hands the session
    /// to the member holding the account.
    async fn login(
        &mut self,
        account: Result<Option<AccountRef>, Undecided>,
        user: &str,
        method: &str,
    ) -> Login {
        let Ok(account) = account else {
            self.log(
                level::PROBLEM,
                format_args!("'{user}' {method} login undecided: the cluster cannot be asked"),
            );
            return Login::Here(Err(LoginFailure::Temporary));
        };
        let Some(account) = account else {
            self.log(
                level::PROBLEM,
                format_args!("'{user}' {method} login failed: bad credentials"),
            );
            return Login::Here(Err(LoginFailure::BadCredentials));
        };
        let node = match self.services.accounts.pin(&account).await {
            Ok(pin) => return Login::Here(self.open_maildrop(pin, method).await),
            Err(cluster::Error::AccountBusy { node }) => node,
            Err(e) => {
                self.log(
                    level::PROBLEM,
                    format_args!("'{account}' login failed: cannot open the account: {e}"),
                );
                return Login::Here(Err(LoginFailure::Temporary));
            }
        };
        let handoff = SessionHandoff {
            protocol: SessionProtocol::Pop3,
            account,
            client: self.ctx.clone(),
            tls: self.session.tls_active(),
            tag: String::new(),
            method: method.to_string(),
        };
        match self.services.cluster.open_session(node, handoff).await {
            Ok(holder) => {
                self.log(
                    level::LOW,
                    format_args!("'{user}' session handed to member {node}"),
                );
                Login::Elsewhere(holder)
            }
            Err(e) => {
                self.log(
                    level::PROBLEM,
                    format_args!("'{user}' login failed: member {node} has the account: {e}"),
                );
                Login::Here(Err(LoginFailure::Temporary))
            }
        }
    }

    /// Locks and lists the maildrop of the pinned account.
    async fn open_maildrop(
        &mut self,
        pin: SessionPin,
        method: &str,
    ) -> Result<MaildropView, LoginFailure> {
        let account = pin.account().clone();
        let Some(lock) = self.services.accounts.lock_maildrop(&account) else {
            self.log(
                level::PROBLEM,
                format_args!("'{account}' login failed: maildrop in use"),
            );
            return Err(LoginFailure::InUse);
        };
        // The account may have been deleted since the password check; never
        // recreate its files by opening its INBOX.
        let kind = self
            .services
            .cluster
            .read(|s| s.directory.account(&account).map(|a| a.kind));
        let Some(kind) = kind else {
            self.log(
                level::PROBLEM,
                format_args!("'{account}' login failed: account removed"),
            );
            return Err(LoginFailure::BadCredentials);
        };
        let listing = self
            .services
            .accounts
            .with_inbox(&account, kind, |inbox| {
                let messages: Vec<(Uid, u64)> =
                    inbox.messages().iter().map(|m| (m.uid, m.size)).collect();
                Ok((inbox.uid_validity(), messages))
            })
            .await;
        let (validity, listing) = match listing {
            Ok(listing) => listing,
            Err(e) => {
                self.log(
                    level::PROBLEM,
                    format_args!("'{account}' login failed: cannot open INBOX: {e}"),
                );
                return Err(LoginFailure::Temporary);
            }
        };
        let messages: Vec<MessageInfo> = listing
            .iter()
            .map(|&(uid, size)| MessageInfo {
                size,
                uid: unique_id(validity, uid),
            })
            .collect();
        self.log(
            level::MAJOR,
            format_args!(
                "'{account}' connected ({method}), {} messages",
                messages.len()
            ),
        );
        self.maildrop = Some(Maildrop {
            account,
            kind,
            uids: listing.into_iter().map(|(uid, _)| uid).collect(),
            _lock: lock,
            _pin: pin,
        });
        Ok(MaildropView { messages })
    }

    /// Runs a SASL exchange (RFC 5034 §4) and logs in with its credentials.
    ///
    /// # Errors
    /// The connection ended during the exchange.
    async fn authenticate<IO: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        conn: &mut Conn<IO>,
        mechanism: &str,
        initial: Option<&str>,
    ) -> Result<Login, Ended> {
        conn.rx.set_max_len(MAX_SASL_LINE_LEN);
        let credentials = self.sasl_exchange(conn, mechanism, initial).await;
        conn.rx.set_max_len(MAX_LINE_LEN);
        let (authzid, user, password) = match credentials? {
            Ok(credentials) => credentials,
            Err(err) => {
                self.log(
                    level::PROBLEM,
                    format_args!("AUTH {mechanism} failed: {err}"),
                );
                return Ok(Login::Here(Err(LoginFailure::from(&err))));
            }
        };
        let account = self
            .services
            .admin
            .verify_sasl(authzid.as_deref(), &user, &password)
            .await;
        Ok(self
            .login(account, &user, &format!("AUTH {mechanism}"))
            .await)
    }

    /// Exchanges challenges and responses until the mechanism yields
    /// credentials `(authzid, user, password)`.
    async fn sasl_exchange<IO: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        conn: &mut Conn<IO>,
        mechanism: &str,
        initial: Option<&str>,
    ) -> Result<Result<(Option<String>, String, String), SaslError>, Ended> {
        let (mut sasl, mut step) = match Sasl::start(mechanism, initial) {
            Ok(started) => started,
            Err(e) => return Ok(Err(e)),
        };
        loop {
            match step {
                SaslStep::Done {
                    authzid,
                    user,
                    password,
                } => return Ok(Ok((authzid, user, password))),
                SaslStep::Challenge(challenge) => {
                    self.log(level::ALL, format_args!("out: + {challenge}"));
                    conn.out
                        .extend_from_slice(format!("+ {challenge}\r\n").as_bytes());
                }
            }
            let line = conn.next_line().await?;
            self.log(level::ALL, format_args!("inp: <SASL response>"));
            let text = match line {
                Ok(bytes) => String::from_utf8(bytes).map_err(|_| SaslError::BadEncoding),
                Err(LineError::TooLong) => Err(SaslError::BadEncoding),
            };
            step = match text.and_then(|text| sasl.step(&text)) {
                Ok(step) => step,
                Err(e) => return Ok(Err(e)),
            };
        }
    }

    /// Answers RETR or TOP for the message at `index`.
    async fn send_message<IO>(&self, conn: &mut Conn<IO>, index: usize, top_lines: Option<usize>) {
        let Some(maildrop) = self.maildrop.as_ref() else {
            self.reply(conn, &Reply::err_code(RespCode::SysPerm, "internal error"));
            return;
        };
        let Some(&uid) = maildrop.uids.get(index) else {
            self.reply(conn, &Reply::err_code(RespCode::SysPerm, "internal error"));
            return;
        };
        let read = self
            .services
            .accounts
            .with_inbox(&maildrop.account, maildrop.kind, move |inbox| {
                inbox.read(uid)
            })
            .await;
        match read {
            Ok(bytes) => {
                let what = if top_lines.is_some() {
                    "TOP of message"
                } else {
                    "message"
                };
                self.log(
                    level::LOW,
                    format_args!(
                        "'{}' {what} {} retrieved ({} octets)",
                        maildrop.account,
                        index + 1,
                        bytes.len()
                    ),
                );
                self.log(level::ALL, format_args!("out: <message {}>", index + 1));
                conn.out
                    .extend_from_slice(&encode_message(&bytes, top_lines));
            }
            Err(cluster::Error::Storage(storage::Error::MessageNotFound(_))) => {
                self.log(
                    level::PROBLEM,
                    format_args!(
                        "'{}' message {} was removed by another client",
                        maildrop.account,
                        index + 1
                    ),
                );
                self.reply(
                    conn,
                    &Reply::err(format!("message {} is no longer available", index + 1)),
                );
            }
            Err(e) => {
                self.log(
                    level::PROBLEM,
                    format_args!(
                        "'{}' cannot read message {}: {e}",
                        maildrop.account,
                        index + 1
                    ),
                );
                let code = if e.is_temporary() {
                    RespCode::SysTemp
                } else {
                    RespCode::SysPerm
                };
                self.reply(conn, &Reply::err_code(code, "cannot read the message"));
            }
        }
    }

    /// The UPDATE state (RFC 1939 §6): expunges the messages marked deleted.
    async fn commit(&self, deleted: &[usize]) -> Reply {
        let Some(maildrop) = self.maildrop.as_ref() else {
            return Reply::signing_off();
        };
        let uids: Vec<Uid> = deleted
            .iter()
            .filter_map(|&i| maildrop.uids.get(i).copied())
            .collect();
        if uids.is_empty() {
            return Reply::signing_off();
        }
        let count = uids.len();
        let result = self
            .services
            .accounts
            .with_inbox(&maildrop.account, maildrop.kind, move |inbox| {
                inbox.expunge(&uids)
            })
            .await;
        match result {
            Ok(()) => {
                self.log(
                    level::LOW,
                    format_args!("'{}' {count} messages deleted", maildrop.account),
                );
                Reply::signing_off()
            }
            Err(e) => {
                self.log(
                    level::PROBLEM,
                    format_args!("'{}' cannot delete {count} messages: {e}", maildrop.account),
                );
                Reply::commit_failed()
            }
        }
    }
}

/// The unique id of a message (RFC 1939 §7): `UIDVALIDITY.UID` stays the
/// same across sessions and restarts, and a recreated mailbox (new
/// UIDVALIDITY) never reuses an id.
fn unique_id(uid_validity: u32, uid: Uid) -> String {
    format!("{uid_validity}.{uid}")
}

/// A command line as it may be logged: the argument of PASS and an AUTH
/// initial response are masked.
fn loggable(line: &[u8]) -> String {
    let text = String::from_utf8_lossy(line);
    let mut words = text.splitn(3, ' ');
    let keyword = words.next().unwrap_or_default();
    if keyword.eq_ignore_ascii_case("PASS") {
        return format!("{keyword} ****");
    }
    if keyword.eq_ignore_ascii_case("AUTH")
        && let (Some(mechanism), Some(_)) = (words.next(), words.next())
    {
        return format!("{keyword} {mechanism} ****");
    }
    text.into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc1939_7_unique_id_is_validity_dot_uid() {
        assert_eq!(unique_id(1_700_000_000, Uid(42)), "1700000000.42");
    }

    #[test]
    fn secrets_are_not_logged() {
        assert_eq!(loggable(b"PASS my secret"), "PASS ****");
        assert_eq!(loggable(b"pass x"), "pass ****");
        assert_eq!(loggable(b"AUTH PLAIN AGFsaWNlAHB3"), "AUTH PLAIN ****");
        assert_eq!(loggable(b"AUTH PLAIN"), "AUTH PLAIN");
        assert_eq!(loggable(b"USER alice"), "USER alice");
        assert_eq!(loggable(b"RETR 1"), "RETR 1");
    }
}
