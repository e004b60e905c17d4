//! The SMTP session driver: runs the sans-I/O [`Session`] of
//! [`super::proto`] over one client connection (ports 25, 587 and 465).
//!
//! Owns the connection, the framing receivers and the reply buffer of one
//! session; the protocol rules stay in the state machine, the driver carries
//! out its [`Action`]s: recipient look-ups in the directory, the DATA phase
//! (a `Received:` trace field, RFC 5321 §4.4, then the enqueuer), STARTTLS
//! (RFC 3207) and SASL exchanges (RFC 4954).
//!
//! Invariants:
//! - `250` after DATA is sent only once the enqueuer reports the message
//!   durable and committed;
//! - replies are buffered and written only before the driver blocks on a
//!   read, so pipelined commands (RFC 2920) get their replies in one batch;
//! - bytes buffered before the TLS handshake are dropped (RFC 3207 §5);
//! - submission ports (587, 465) refuse MAIL before AUTH (RFC 6409 §4.3);
//!   relaying (a recipient outside the local domains) needs an authenticated
//!   session or a trusted client address (the replicated `ClientIPs`);
//! - clients in the replicated `BlacklistedIPs` (and not in `WhiteHoleIPs`)
//!   get a `554 5.7.1` greeting and are disconnected (RFC 5321 §3.1);
//! - per-address rate limits (`crate::smtp::rate`): too many connections get
//!   `421 4.7.0` at once, too many messages `451 4.7.1` to MAIL; trusted
//!   addresses (and authenticated sessions, for messages) are exempt;
//! - mail from unauthenticated, untrusted clients (loopback only with
//!   `auth_check_loopback`) gets SPF/DKIM/DMARC checks (`crate::mailauth`):
//!   forged `Authentication-Results` fields naming this host are removed and
//!   ours is prepended (RFC 8601 §5); `auth_failure_policy` decides between
//!   tagging, `X-Spam-Flag: YES` (which files the message into local
//!   recipients' Junk, `crate::mailauth::marked_junk`), and `550 5.7.1` for
//!   DMARC `p=reject`;
//! - a node cut off from its cluster's majority answers MAIL (and DATA, if
//!   the cut happens in between) with `451 4.3.0` at once: it cannot make
//!   a message durable (`ClusterHandle::in_contact`);
//! - credentials and AUTH exchanges never reach the protocol log;
//! - every I/O error or timeout ends the session quietly, nothing panics.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use cluster::{DsnRet, Notify, RcptDsn};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::proto::{
    Action, Address, Capabilities, Command, DataReceiver, DataStatus, Limits, LineError,
    LineReceiver, Reply, Session, parse_command,
};
use crate::config::AuthFailurePolicy;
use crate::enqueuer::{Submit, SubmitDsn};
use crate::error::Error;
use crate::net::Stream;
use crate::sasl::{Sasl, SaslError, SaslStep};
use crate::server::{Service, Services};
use crate::syslog::level;

/// Log module name.
const MODULE: &str = "SMTP";

/// Bytes read from the socket at once.
const READ_CHUNK: usize = 16 * 1024;

/// Failed AUTH attempts after which the connection is closed; slows down
/// password guessing without bothering a user who mistypes once or twice.
const MAX_AUTH_FAILURES: u32 = 3;

/// How long the closing TLS alert / FIN may take before the socket is
/// simply dropped.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);

/// Serves one SMTP connection until QUIT, an error, a timeout or
/// disconnect. `stream` is already TLS for [`Service::Smtps`].
pub async fn run<IO: AsyncRead + AsyncWrite + Unpin>(
    mut stream: Stream<IO>,
    peer: SocketAddr,
    service: Service,
    services: Arc<Services>,
) {
    let mut conn = SmtpSession::new(peer, service, services, stream.is_tls());
    conn.log(level::LOW, &format!("connected to {service:?}"));
    if !conn.connection_allowed() {
        conn.log(level::PROBLEM, "connection rate limit exceeded");
        let text = format!("{} too many connections, try later", conn.services.hostname);
        conn.queue(&Reply::new(421, "4.7.0", text));
        let _ = conn.flush(&mut stream).await;
        let _ = tokio::time::timeout(SHUTDOWN_TIMEOUT, stream.shutdown()).await;
        return;
    }
    if conn.services.admin.is_blacklisted(peer.ip()) {
        // RFC 5321 §3.1: a 554 greeting refuses the whole session.
        conn.log(level::PROBLEM, "refused: the address is blacklisted");
        let text = format!("{} your address is blacklisted", conn.services.hostname);
        conn.queue(&Reply::new(554, "5.7.1", text));
        let _ = conn.flush(&mut stream).await;
        let _ = tokio::time::timeout(SHUTDOWN_TIMEOUT, stream.shutdown()).await;
        return;
    }
    let greeting = conn.proto.greeting();
    conn.queue(&greeting);
    loop {
        match conn.serve(&mut stream).await {
            Ok(Upgrade::StartTls) => {}
            Err(Ended) => break,
        }
        let tls = conn.services.tls.clone();
        stream = match stream.start_tls(tls).await {
            Ok(s) => s,
            Err(e) => {
                conn.log(level::LOW, &format!("TLS handshake failed: {e}"));
                return;
            }
        };
        conn.log(level::LOW, "TLS established");
        let caps = capabilities(&conn.services, peer, true);
        conn.proto.tls_started(caps);
    }
    let _ = tokio::time::timeout(SHUTDOWN_TIMEOUT, stream.shutdown()).await;
    conn.log(level::LOW, "closing connection");
}

/// The session is over (QUIT, error, timeout, disconnect); any farewell
/// has been sent already.
#[derive(Debug)]
struct Ended;

/// Why [`SmtpSession::serve`] returned without ending the session.
#[derive(Debug)]
enum Upgrade {
    /// The `220` to STARTTLS is sent; run the handshake.
    StartTls,
}

/// One connection's driver state.
struct SmtpSession {
    services: Arc<Services>,
    service: Service,
    peer: SocketAddr,
    /// Log context, `[ip]:port`.
    ctx: String,
    proto: Session,
    lines: LineReceiver,
    /// Replies not yet written.
    out: Vec<u8>,
    buf: Vec<u8>,
    auth_failures: u32,
    idle_timeout: Duration,
    data_timeout: Duration,
}

impl SmtpSession {
    fn new(peer: SocketAddr, service: Service, services: Arc<Services>, tls: bool) -> Self {
        let config = &services.config.smtp;
        let limits = Limits {
            max_recipients: config.max_recipients,
            max_errors: u32::try_from(config.max_errors).unwrap_or(u32::MAX),
            ..Limits::default()
        };
        let idle_timeout = Duration::from_secs(config.idle_timeout_secs);
        let data_timeout = Duration::from_secs(config.data_timeout_secs);
        let caps = capabilities(&services, peer, tls);
        let mut proto = Session::new(caps.clone(), limits);
        if tls {
            // Implicit TLS (port 465): TLS from the first byte.
            proto.tls_started(caps);
        }
        SmtpSession {
            ctx: format!("[{}]:{}", peer.ip(), peer.port()),
            service,
            peer,
            proto,
            services,
            lines: LineReceiver::new(),
            out: Vec::new(),
            buf: vec![0; READ_CHUNK],
            auth_failures: 0,
            idle_timeout,
            data_timeout,
        }
    }

    /// Reads and answers commands until the session ends or STARTTLS asks
    /// for a handshake.
    async fn serve<IO: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        stream: &mut Stream<IO>,
    ) -> Result<Upgrade, Ended> {
        loop {
            let action = match self.read_line(stream).await? {
                Ok(line) => self.command(&line),
                Err(err) => {
                    self.log(level::ALL, &format!("inp: <{err}>"));
                    self.proto.on_line_error(err)
                }
            };
            if let Some(upgrade) = self.perform(stream, action).await? {
                return Ok(upgrade);
            }
        }
    }

    /// Parses one command line and hands it to the state machine.
    fn command(&mut self, line: &[u8]) -> Action {
        let cmd = parse_command(line);
        if self.services.log.enabled(level::ALL) {
            let text = match &cmd {
                // The initial response carries the password.
                Ok(Command::Auth { mechanism, .. }) => format!("AUTH {mechanism}"),
                _ => String::from_utf8_lossy(line).into_owned(),
            };
            self.log(level::ALL, &format!("inp: {text}"));
        }
        match cmd {
            Ok(Command::Mail { .. }) if self.proto.helo().is_some() && !self.message_allowed() => {
                self.log(level::PROBLEM, "message rate limit exceeded");
                Action::Reply(Reply::new(451, "4.7.1", "Too many messages, try later"))
            }
            Ok(Command::Mail { .. }) if self.needs_auth() => {
                Action::Reply(Reply::new(530, "5.7.0", "Authentication required"))
            }
            Ok(Command::Mail { .. })
                if self.proto.helo().is_some() && !self.services.cluster.in_contact() =>
            {
                self.log(level::PROBLEM, "cut off from the cluster majority");
                Action::Reply(Reply::new(
                    451,
                    "4.3.0",
                    "Cluster unavailable from this server, try later",
                ))
            }
            Ok(cmd) => self.proto.on_command(cmd),
            Err(err) => self.proto.on_parse_error(err),
        }
    }

    /// RFC 6409 §4.3: submission requires authentication before MAIL.
    /// Before EHLO the state machine's `503` is the better answer.
    fn needs_auth(&self) -> bool {
        matches!(self.service, Service::Submission | Service::Smtps)
            && self.proto.helo().is_some()
            && self.proto.authenticated().is_none()
    }

    /// Carries out one action; `Some` when the caller must upgrade to TLS.
    async fn perform<IO: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        stream: &mut Stream<IO>,
        action: Action,
    ) -> Result<Option<Upgrade>, Ended> {
        let mut action = action;
        loop {
            match action {
                Action::Reply(reply) => self.queue(&reply),
                Action::ReplyAndClose(reply) => {
                    self.queue(&reply);
                    let _ = self.flush(stream).await;
                    return Err(Ended);
                }
                Action::CheckRecipient(to) => {
                    let result = self.check_recipient(&to).await;
                    let reply = self.proto.rcpt_result(result);
                    self.queue(&reply);
                }
                Action::StartData(reply) => {
                    self.queue(&reply);
                    self.data(stream).await?;
                }
                Action::StartTls(reply) => {
                    self.queue(&reply);
                    self.flush(stream).await?;
                    // RFC 3207 §5: commands pipelined behind STARTTLS were
                    // sent in clear text and must not run under TLS.
                    drop(self.lines.take_rest());
                    return Ok(Some(Upgrade::StartTls));
                }
                Action::Authenticate { mechanism, initial } => {
                    action = self
                        .authenticate(stream, &mechanism, initial.as_deref())
                        .await?;
                    continue;
                }
            }
            return Ok(None);
        }
    }

    /// Decides on one recipient: local accounts, forwarders and groups, the
    /// special `<postmaster>`, and remote domains only for authenticated
    /// senders.
    async fn check_recipient(&self, to: &Address) -> Result<(), Reply> {
        let authenticated = self.proto.authenticated().is_some() || self.trusted_client();
        let classify = |s: &cluster::State| {
            let dir = &s.directory;
            if to.is_postmaster() {
                // RFC 5321 §4.5.1: `<postmaster>` is the main domain's.
                return (true, dir.resolve("postmaster").is_some());
            }
            if dir.is_local_domain(&to.domain) {
                // Accounts, forwarders and groups all take mail; the DEQUEUER
                // expands the latter two (`crate::delivery`).
                let known = !matches!(
                    dir.route(&to.to_string()),
                    cluster::directory::Route::Unknown | cluster::directory::Route::Remote
                );
                (true, known)
            } else {
                (false, false)
            }
        };
        let (mut local, mut known) = self.services.cluster.read(classify);
        if local && !known {
            // This member may lag: an account created through another one a
            // moment ago must take mail here at once (DESIGN §5.5).
            if let Ok(fresh) = self.services.cluster.read_linearizable(classify).await {
                (local, known) = fresh;
            }
        }
        match (local, known) {
            (true, true) => Ok(()),
            (true, false) => {
                self.log(level::LOW, &format!("<{to}> refused: unknown user"));
                Err(Reply::new(550, "5.1.1", format!("<{to}>: unknown user")))
            }
            (false, _) if authenticated => Ok(()),
            (false, _) => {
                self.log(level::LOW, &format!("<{to}> refused: relaying denied"));
                Err(Reply::new(554, "5.7.1", format!("<{to}>: relaying denied")))
            }
        }
    }

    /// Reads the message after `354`, queues it and answers; the
    /// transaction ends whatever happened (RFC 5321 §4.1.1.4).
    async fn data<IO: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        stream: &mut Stream<IO>,
    ) -> Result<(), Ended> {
        let mut receiver = DataReceiver::new(self.services.config.smtp.max_message_size);
        let mut chunk = self.lines.take_rest();
        let (reply, rest) = loop {
            match receiver.feed(&chunk) {
                DataStatus::NeedMore => {}
                DataStatus::Done { message, rest } => match self.submit(message).await {
                    Some(reply) => break (reply, rest),
                    // Neither `250` nor a refusal can be told truthfully:
                    // the client retries (RFC 5321 §6.1: rather twice than
                    // lost).
                    None => return Err(Ended),
                },
                DataStatus::TooBig { rest } => {
                    self.log(level::PROBLEM, "message refused: too big");
                    break (Reply::too_big(), rest);
                }
                DataStatus::Invalid { reason, rest } => {
                    self.log(level::PROBLEM, &format!("message refused: {reason}"));
                    break (Reply::bare_line_ending(), rest);
                }
            }
            let n = self
                .read_some(stream, self.data_timeout, "data", false)
                .await?;
            chunk = self.buf[..n].to_vec();
        };
        self.proto.data_received();
        self.queue(&reply);
        // The next pipelined commands, if any, follow the terminator.
        self.lines.feed(&rest);
        Ok(())
    }

    /// Adds the trace field and hands the message to the enqueuer; `250`
    /// only once it is committed. `None`: whether it was queued is unknown,
    /// so the connection closes without a reply.
    async fn submit(&mut self, message: Vec<u8>) -> Option<Reply> {
        let Some(txn) = self.proto.transaction() else {
            // The state machine keeps the transaction until
            // `data_received`; without one there is nothing to queue.
            return Some(Reply::new(451, "4.3.0", "Local error in processing"));
        };
        let return_path = txn
            .from
            .as_ref()
            .map(Address::to_string)
            .unwrap_or_default();
        let main_domain = self
            .services
            .cluster
            .read(|s| s.directory.main_domain.clone());
        let recipients: Vec<String> = txn
            .rcpts
            .iter()
            .map(|a| {
                if a.is_postmaster() {
                    format!("postmaster@{main_domain}")
                } else {
                    a.to_string()
                }
            })
            .collect();
        let (auth, message) = match self.authentication(&return_path, message).await {
            Ok(checked) => checked,
            Err(reply) => return Some(reply),
        };
        let mut body = auth.into_bytes();
        body.extend_from_slice(self.received_field(&txn.rcpts).as_bytes());
        body.extend_from_slice(&message);
        let size = body.len();
        let submit = Submit {
            return_path: return_path.clone(),
            recipients: recipients.clone(),
            body,
            source: "SMTP",
            dsn: dsn_of(txn),
        };
        match self.services.enqueuer.send(submit).await {
            Ok(Ok(id)) => {
                self.log(
                    level::MAJOR,
                    &format!(
                        "[{id}] received, {size} bytes, from <{return_path}> to {}",
                        recipients
                            .iter()
                            .map(|r| format!("<{r}>"))
                            .collect::<Vec<_>>()
                            .join(",")
                    ),
                );
                Some(Reply::queued(&id.to_string()))
            }
            Ok(Err(err @ Error::OutcomeUnknown(_))) => {
                self.log(level::PROBLEM, &format!("closing without a reply: {err}"));
                None
            }
            Ok(Err(err)) => {
                self.log(level::PROBLEM, &format!("message not queued: {err}"));
                Some(error_reply(&err))
            }
            Err(err) => {
                self.log(
                    level::PROBLEM,
                    &format!("message not queued: enqueuer: {err}"),
                );
                Some(Reply::new(451, "4.3.0", "Local error in processing"))
            }
        }
    }

    /// SPF, DKIM and DMARC (`crate::mailauth`) for mail from unauthenticated,
    /// untrusted clients: the fields to prepend (`Authentication-Results`,
    /// RFC 8601 §5, plus `X-Spam-Flag` under the `junk` policy), or the
    /// refusal under the `reject` policy when DMARC says `p=reject`.
    async fn authentication(
        &self,
        return_path: &str,
        message: Vec<u8>,
    ) -> Result<(String, Vec<u8>), Reply> {
        let config = &self.services.config.smtp;
        let exempt = self.proto.authenticated().is_some()
            || self.trusted_client()
            || (self.peer.ip().is_loopback() && !config.auth_check_loopback);
        let Some(checker) = self.services.mail_auth.as_ref().filter(|_| !exempt) else {
            return Ok((String::new(), message));
        };
        let message = crate::mailauth::strip_forged_results(&message, &self.services.hostname);
        let helo = self.proto.helo().unwrap_or("unknown");
        let verdict = checker
            .check(self.peer.ip(), helo, return_path, &message)
            .await;
        let summary = verdict.header.replace("\r\n\t", " ");
        self.log(level::LOW, summary.trim_end());
        match config.auth_failure_policy {
            AuthFailurePolicy::Reject if verdict.dmarc_reject => {
                self.log(level::PROBLEM, "message refused: DMARC policy is reject");
                Err(Reply::new(
                    550,
                    "5.7.1",
                    "Message rejected: DMARC policy of the author domain",
                ))
            }
            AuthFailurePolicy::Junk if verdict.failed => {
                let junk = crate::mailauth::JUNK_FIELD;
                Ok((format!("{}{junk}", verdict.header), message))
            }
            _ => Ok((verdict.header, message)),
        }
    }

    /// The `Received:` field of RFC 5321 §4.4, with the protocol names of
    /// RFC 3848 and `for` only for a single recipient (more would disclose
    /// the other recipients of a Bcc).
    fn received_field(&self, rcpts: &[Address]) -> String {
        let with = match (
            self.proto.is_esmtp(),
            self.proto.is_tls(),
            self.proto.authenticated().is_some(),
        ) {
            (false, _, _) => "SMTP",
            (true, false, false) => "ESMTP",
            (true, true, false) => "ESMTPS",
            (true, false, true) => "ESMTPA",
            (true, true, true) => "ESMTPSA",
        };
        let ip = match self.peer.ip() {
            IpAddr::V4(ip) => format!("[{ip}]"),
            IpAddr::V6(ip) => format!("[IPv6:{ip}]"),
        };
        let helo = self.proto.helo().unwrap_or("unknown");
        let host = &self.services.hostname;
        let date = chrono::Utc::now().to_rfc2822();
        let mut field =
            format!("Received: from {helo} ({ip})\r\n\tby {host} (Mailnode) with {with}");
        if let [rcpt] = rcpts {
            field.push_str(&format!("\r\n\tfor <{rcpt}>"));
        }
        field.push_str(&format!("; {date}\r\n"));
        field
    }

    /// Runs a SASL exchange (RFC 4954 §4) and returns the state machine's
    /// answer to its outcome.
    async fn authenticate<IO: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        stream: &mut Stream<IO>,
        mechanism: &str,
        initial: Option<&str>,
    ) -> Result<Action, Ended> {
        let mut step = Sasl::start(mechanism, initial);
        let credentials = loop {
            match step {
                Ok((
                    _,
                    SaslStep::Done {
                        authzid,
                        user,
                        password,
                    },
                )) => {
                    break Ok((authzid, user, password));
                }
                Ok((mut sasl, SaslStep::Challenge(challenge))) => {
                    self.queue(&Reply::auth_challenge(&challenge));
                    let line = self.read_line(stream).await?;
                    self.log(level::ALL, "inp: <SASL response>");
                    let response = match line {
                        Ok(line) => String::from_utf8(line).map_err(|_| SaslError::BadEncoding),
                        Err(_) => Err(SaslError::BadEncoding),
                    };
                    step = response.and_then(|r| sasl.step(&r)).map(|s| (sasl, s));
                }
                Err(err) => break Err(err),
            }
        };
        let result = match credentials {
            Err(err) => {
                self.log(level::PROBLEM, &format!("AUTH {mechanism} failed: {err}"));
                Err(Reply::from_sasl_error(&err))
            }
            Ok((authzid, user, password)) => {
                let account = self
                    .services
                    .admin
                    .verify_sasl(authzid.as_deref(), &user, &password)
                    .await;
                match account {
                    Ok(Some(account)) => {
                        self.log(
                            level::MAJOR,
                            &format!("'{user}' authenticated as {account}"),
                        );
                        Ok(account.to_string())
                    }
                    // RFC 4954 §6: the credentials cannot be checked now.
                    Err(_undecided) => {
                        self.log(
                            level::PROBLEM,
                            &format!("'{user}' authentication undecided"),
                        );
                        Err(Reply::new(454, "4.7.0", "Temporary authentication failure"))
                    }
                    Ok(None) => {
                        self.auth_failures += 1;
                        self.log(level::MAJOR, &format!("'{user}' authentication failed"));
                        Err(Reply::auth_failed())
                    }
                }
            }
        };
        let action = self.proto.auth_result(result);
        if self.auth_failures >= MAX_AUTH_FAILURES
            && let Action::Reply(reply) = action
        {
            self.log(level::PROBLEM, "too many authentication failures");
            return Ok(Action::ReplyAndClose(reply));
        }
        Ok(action)
    }

    /// The next framed line, reading (after writing the pending replies)
    /// when none is buffered.
    async fn read_line<IO: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        stream: &mut Stream<IO>,
    ) -> Result<Result<Vec<u8>, LineError>, Ended> {
        loop {
            if let Some(line) = self.lines.next_line() {
                return Ok(line);
            }
            let n = self
                .read_some(stream, self.idle_timeout, "idle", true)
                .await?;
            self.lines.feed(&self.buf[..n]);
        }
    }

    /// Writes the pending replies, then reads into `buf`. A timeout sends
    /// `421 4.4.2` (RFC 5321 §3.8) and ends the session; so does the node
    /// stopping (`421 4.3.2`) while waiting for a command, when
    /// `between_commands` (a message being transferred is let finish).
    async fn read_some<IO: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        stream: &mut Stream<IO>,
        limit: Duration,
        what: &str,
        between_commands: bool,
    ) -> Result<usize, Ended> {
        self.flush(stream).await?;
        let mut stopping = self.services.stopping.clone();
        let stopped = async move {
            if !between_commands {
                std::future::pending::<()>().await;
            }
            let _ = stopping.changed().await;
        };
        let read = tokio::select! {
            read = tokio::time::timeout(limit, stream.read(&mut self.buf)) => Some(read),
            () = stopped => None,
        };
        let Some(read) = read else {
            self.log(level::LOW, "server stopping, closing");
            let host = self.services.hostname.clone();
            self.queue(&Reply::new(
                421,
                "4.3.2",
                format!("{host} Service shutting down"),
            ));
            let _ = self.flush(stream).await;
            return Err(Ended);
        };
        match read {
            Ok(Ok(0)) | Ok(Err(_)) => Err(Ended),
            Ok(Ok(n)) => Ok(n),
            Err(_) => {
                self.log(level::PROBLEM, &format!("{what} timeout"));
                let host = self.services.hostname.clone();
                self.queue(&Reply::new(421, "4.4.2", format!("{host} {what} timeout")));
                let _ = self.flush(stream).await;
                Err(Ended)
            }
        }
    }

    /// Buffers a reply until the next flush.
    fn queue(&mut self, reply: &Reply) {
        let bytes = reply.encode();
        if self.services.log.enabled(level::ALL) {
            for line in String::from_utf8_lossy(&bytes).split_terminator("\r\n") {
                self.log(level::ALL, &format!("out: {line}"));
            }
        }
        self.out.extend_from_slice(&bytes);
    }

    /// Writes the buffered replies; a client that does not read within the
    /// idle timeout is dropped.
    async fn flush<IO: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        stream: &mut Stream<IO>,
    ) -> Result<(), Ended> {
        if self.out.is_empty() {
            return Ok(());
        }
        let out = std::mem::take(&mut self.out);
        let write = async {
            stream.write_all(&out).await?;
            stream.flush().await
        };
        match tokio::time::timeout(self.idle_timeout, write).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) | Err(_) => Err(Ended),
        }
    }

    fn log(&self, level: u8, text: &str) {
        self.services.log.write(level, MODULE, &self.ctx, text);
    }

    /// Whether the client address is in the replicated `ClientIPs` (trusted:
    /// may relay, not rate limited), references such as `#LAN` followed.
    fn trusted_client(&self) -> bool {
        let ip = self.peer.ip();
        self.services
            .cluster
            .read(|s| cluster::router::ip_listed(&s.directory.server.ip_lists, "ClientIPs", ip))
    }

    /// Counts this connection against the per-address connection rate.
    fn connection_allowed(&self) -> bool {
        let rates = &self.services.smtp_rates;
        let ip = self.peer.ip();
        !rates.applies_to(ip)
            || self.trusted_client()
            || rates.connections.allow(ip, std::time::Instant::now())
    }

    /// Counts one MAIL against the per-address message rate.
    fn message_allowed(&self) -> bool {
        let rates = &self.services.smtp_rates;
        let ip = self.peer.ip();
        !rates.applies_to(ip)
            || self.proto.authenticated().is_some()
            || self.trusted_client()
            || rates.messages.allow(ip, std::time::Instant::now())
    }
}

/// What EHLO offers: AUTH only where passwords cannot be sniffed (TLS, or
/// loopback when the operator allows it).
fn capabilities(services: &Services, peer: SocketAddr, tls: bool) -> Capabilities {
    let config = &services.config.smtp;
    Capabilities {
        size_limit: config.max_message_size,
        starttls: !tls,
        auth: tls || (config.auth_plaintext_on_loopback && peer.ip().is_loopback()),
        hostname: services.hostname.clone(),
    }
}

/// The DSN parameters (RFC 3461) of a transaction, for the queue entry.
fn dsn_of(txn: &super::proto::Transaction) -> SubmitDsn {
    use super::proto::Ret;
    SubmitDsn {
        ret: txn.params.ret.map(|r| match r {
            Ret::Full => DsnRet::Full,
            Ret::Hdrs => DsnRet::Hdrs,
        }),
        envid: txn.params.envid.clone(),
        recipients: txn
            .rcpt_params
            .iter()
            .map(|p| RcptDsn {
                notify: p.notify.map(|n| Notify {
                    success: n.success,
                    failure: n.failure,
                    delay: n.delay,
                }),
                orcpt: p.orcpt.clone(),
            })
            .collect(),
    }
}

/// Maps a failure to queue a message to the reply after DATA: temporary
/// faults invite a retry (`451`), permanent ones do not (`554`). The text
/// stays generic; the cause is in the log.
fn error_reply(err: &Error) -> Reply {
    if err.is_temporary() {
        Reply::new(451, "4.3.0", "Local error in processing, try again later")
    } else {
        Reply::new(554, "5.3.0", "Message not accepted")
    }
}
