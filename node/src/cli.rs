//! The CLI/PWD listener's session driver (port 106): runs the pure
//! `admin::cli::session` state machine over a connection and the
//! `AdminApi` behind it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use admin::cli::session::{CliSession, MAX_LINE_LEN, Step};
use cluster::AccountRef;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};

use crate::net::Stream;
use crate::relay::proto::StartTls;
use crate::server::Services;
use crate::syslog::level;

/// The node hooks of the administration API: `WriteLog` into the system
/// log, `SHUTDOWN` through the node's halt signal.
pub struct CliControl {
    log: crate::syslog::SystemLog,
    hostname: String,
    halt: Arc<tokio::sync::Notify>,
    relay: crate::config::RelayConfig,
    sessions: Option<crate::sessions::SessionRegistry>,
    metrics: Option<crate::metrics::Metrics>,
    node_settings: Vec<(String, String)>,
}

impl CliControl {
    /// Hooks over the node's log, name and halt signal.
    pub fn new(
        log: crate::syslog::SystemLog,
        hostname: String,
        halt: Arc<tokio::sync::Notify>,
    ) -> CliControl {
        CliControl {
            log,
            hostname,
            halt,
            relay: crate::config::RelayConfig::default(),
            sessions: None,
            metrics: None,
            node_settings: Vec::new(),
        }
    }

    /// Shows `config` and the addresses its listeners are bound to
    /// (`bound`, by config key) on WebAdmin's settings page.
    pub fn with_node_settings(
        mut self,
        config: &crate::config::NodeConfig,
        bound: &[(String, std::net::SocketAddr)],
    ) -> CliControl {
        self.node_settings = node_settings(config, bound);
        self
    }

    /// Answers the overview's per-minute activity from the node's counters.
    pub fn with_metrics(mut self, metrics: crate::metrics::Metrics) -> CliControl {
        self.metrics = Some(metrics);
        self
    }

    /// Answers `KillAccountSessions` from the node's session registry.
    pub fn with_sessions(mut self, sessions: crate::sessions::SessionRegistry) -> CliControl {
        self.sessions = Some(sessions);
        self
    }

    /// Answers `Route` for remote domains from `relay` (routes, smarthost).
    pub fn with_relay(mut self, relay: crate::config::RelayConfig) -> CliControl {
        self.relay = relay;
        self
    }
}

impl admin::NodeControl for CliControl {
    fn write_log(&self, level: u8, text: &str) {
        self.log.write(level, "CLI", "", text);
    }

    fn shutdown(&self) {
        // A stored permit: the node stops even if it is not waiting yet.
        self.halt.notify_one();
    }

    fn hostname(&self) -> String {
        self.hostname.clone()
    }

    fn relay_route(
        &self,
        domain: &str,
        settings: &cluster::RelaySettings,
    ) -> Option<admin::RelayRoute> {
        let dest = crate::relay::route(domain, settings, &self.relay);
        let tls = match dest.tls {
            StartTls::Required => "verify",
            StartTls::Opportunistic => "opportunistic",
            StartTls::Never => "none",
        };
        Some(admin::RelayRoute {
            host: dest.to_string(),
            tls,
        })
    }

    fn session_login(&self, account: &AccountRef) {
        if let Some(sessions) = &self.sessions {
            sessions.login(account);
        }
    }

    fn kill_account_sessions(&self, account: &AccountRef) -> Option<usize> {
        self.sessions.as_ref().map(|s| s.kill(account))
    }

    fn node_settings(&self) -> Vec<(String, String)> {
        self.node_settings.clone()
    }

    fn last_minute(&self) -> Option<(u64, u64)> {
        self.metrics
            .as_ref()
            .map(crate::metrics::Metrics::last_minute)
    }

    fn session_counts(&self) -> Option<std::collections::BTreeMap<String, usize>> {
        let counts = self.sessions.as_ref()?.counts();
        let counts = counts.into_iter().map(|(p, n)| (p.to_string(), n));
        Some(counts.collect())
    }

    fn client_session_counts(&self) -> Option<std::collections::BTreeMap<String, usize>> {
        let counts = self.sessions.as_ref()?.client_counts();
        let counts = counts.into_iter().map(|(p, n)| (p.to_string(), n));
        Some(counts.collect())
    }
}

/// The read-only facts of this node's configuration WebAdmin shows: its
/// name, listeners as bound, and the limits of `[smtp]`, `[pop3]`,
/// `[imap]` and `[queue]` (the config file is where they change).
fn node_settings(
    config: &crate::config::NodeConfig,
    bound: &[(String, std::net::SocketAddr)],
) -> Vec<(String, String)> {
    let mut out = vec![
        ("node_name".to_string(), config.node_name.clone()),
        ("log_level".to_string(), config.log_level.to_string()),
    ];
    for (key, addr) in bound {
        out.push((format!("listen.{key}"), addr.to_string()));
    }
    let (smtp, pop3, imap, queue) = (&config.smtp, &config.pop3, &config.imap, &config.queue);
    for (key, value) in [
        ("smtp.max_message_size", smtp.max_message_size.to_string()),
        ("smtp.max_recipients", smtp.max_recipients.to_string()),
        ("smtp.idle_timeout_secs", smtp.idle_timeout_secs.to_string()),
        ("smtp.data_timeout_secs", smtp.data_timeout_secs.to_string()),
        (
            "smtp.max_connections_per_ip",
            smtp.max_connections_per_ip.to_string(),
        ),
        (
            "smtp.max_connection_rate_per_ip",
            smtp.max_connection_rate_per_ip.to_string(),
        ),
        (
            "smtp.max_message_rate_per_ip",
            smtp.max_message_rate_per_ip.to_string(),
        ),
        ("pop3.idle_timeout_secs", pop3.idle_timeout_secs.to_string()),
        ("imap.idle_timeout_secs", imap.idle_timeout_secs.to_string()),
        ("queue.retry_secs", queue.retry_secs.to_string()),
        ("queue.max_batch", queue.max_batch.to_string()),
    ] {
        out.push((key.to_string(), value));
    }
    out
}

/// How often a node looks for changed log levels in the replicated module
/// settings.
const LOG_LEVEL_POLL: Duration = Duration::from_secs(1);

/// Applies the replicated log levels to this node's log until the node's
/// services are gone: `UpdateModule SYSTEM {LogLevel=N;}` sets the node's
/// level (without it, the configured `log_level` holds), and another
/// module's `LogLevel` decides about that module's records. Polls the
/// local replica, so a change made through any member reaches every one.
pub async fn follow_log_levels(services: std::sync::Weak<Services>, configured: u8) {
    let mut applied = None;
    loop {
        let Some(services) = services.upgrade() else {
            return;
        };
        let levels = services.admin.module_log_levels();
        if applied.as_ref() != Some(&levels) {
            let system = levels.iter().find(|(m, _)| m == "SYSTEM").map(|(_, l)| *l);
            services.log.set_level(system.unwrap_or(configured));
            let modules = levels.iter().filter(|(m, _)| m != "SYSTEM").cloned();
            services.log.set_module_levels(modules.collect());
            applied = Some(levels);
        }
        drop(services);
        tokio::time::sleep(LOG_LEVEL_POLL).await;
    }
}

/// An idle CLI connection is closed after this long.
const IDLE_TIMEOUT: Duration = Duration::from_secs(30 * 60);

/// Serves one CLI connection until QUIT, timeout or disconnect.
pub async fn run<IO: AsyncRead + AsyncWrite + Unpin>(
    stream: Stream<IO>,
    peer: SocketAddr,
    services: Arc<Services>,
) {
    let ctx = format!("[{}]:{}", peer.ip(), peer.port());
    let token = format!("{}.{}", std::process::id(), rand::random::<u32>());
    let mut session = CliSession::new(&services.hostname, &token);
    let mut io = BufReader::new(stream);
    let mut account: Option<AccountRef> = None;
    services.log.write(level::LOW, "CLI", &ctx, "connected");
    if write_line(&mut io, &session.greeting()).await.is_err() {
        return;
    }
    let mut buf = Vec::new();
    let mut stopping = services.stopping.clone();
    loop {
        buf.clear();
        let mut limited = (&mut io).take(MAX_LINE_LEN as u64 + 1);
        let read = tokio::time::timeout(IDLE_TIMEOUT, limited.read_until(b'\n', &mut buf));
        let read = tokio::select! {
            read = read => read,
            // The node is stopping: a partial line is dropped with the session.
            _ = stopping.changed() => break,
        };
        let line = match read {
            Ok(Ok(0)) | Err(_) | Ok(Err(_)) => break,
            Ok(Ok(_)) if buf.len() > MAX_LINE_LEN => {
                // Drop the rest of the over-long line before answering.
                if skip_line(&mut io).await.is_err()
                    || write_line(&mut io, "501 line too long").await.is_err()
                {
                    break;
                }
                continue;
            }
            Ok(Ok(_)) => String::from_utf8_lossy(&buf)
                .trim_end_matches(['\r', '\n'])
                .to_string(),
        };
        let reply = match session.on_line(&line) {
            Step::Reply(r) => r,
            Step::Close(r) => {
                let _ = write_line(&mut io, &r).await;
                break;
            }
            Step::CheckPassword { user, password } => {
                account = services.admin.verify_password(&user, &password).await;
                login_reply(&mut session, &services, &ctx, &user, account.is_some())
            }
            Step::CheckApop {
                user,
                digest,
                challenge,
            } => {
                account = services.admin.verify_apop(&user, &challenge, &digest);
                login_reply(&mut session, &services, &ctx, &user, account.is_some())
            }
            Step::Execute { command, .. } => {
                let Some(caller) = account.as_ref() else {
                    break;
                };
                services
                    .log
                    .write(level::ALL, "CLI", &ctx, &format!("inp: {line}"));
                let result = services.admin.execute(caller, command).await.map_err(|e| {
                    if e.is_temporary() {
                        services
                            .log
                            .write(level::PROBLEM, "CLI", &ctx, &e.to_string());
                    }
                    e.to_string()
                });
                session.render_result(result)
            }
        };
        if write_line(&mut io, &reply).await.is_err() {
            break;
        }
    }
    services
        .log
        .write(level::LOW, "CLI", &ctx, "closing connection");
}

fn login_reply(
    session: &mut CliSession,
    services: &Services,
    ctx: &str,
    user: &str,
    ok: bool,
) -> String {
    let text = if ok { "logged in" } else { "login failed" };
    services
        .log
        .write(level::MAJOR, "CLI", ctx, &format!("'{user}' {text}"));
    session.login_result(ok)
}

async fn write_line<W: AsyncWrite + Unpin>(io: &mut W, line: &str) -> std::io::Result<()> {
    let mut bytes = line
        .replace("\r\n", "\n")
        .replace('\n', "\r\n")
        .into_bytes();
    bytes.extend_from_slice(b"\r\n");
    io.write_all(&bytes).await?;
    io.flush().await
}

async fn skip_line<R: AsyncBufReadExt + Unpin>(io: &mut R) -> std::io::Result<()> {
    loop {
        let chunk = io.fill_buf().await?;
        if chunk.is_empty() {
            return Ok(());
        }
        match chunk.iter().position(|&b| b == b'\n') {
            Some(i) => {
                io.consume(i + 1);
                return Ok(());
            }
            None => {
                let n = chunk.len();
                io.consume(n);
            }
        }
    }
}

/// `mailnode cli`: a small CLI client over a blocking socket. Logs in
/// with USER/PASS, switches to INLINE, and runs each command line,
/// returning the reply lines as the server wrote them (data on the
/// `201` line).
pub struct CliClient {
    reader: std::io::BufReader<std::net::TcpStream>,
    writer: std::net::TcpStream,
}

impl CliClient {
    /// Connects to `addr`, logs in as `user` and turns INLINE on.
    ///
    /// # Errors
    /// The connection failed, or the server refused the login (the
    /// server's reply is the error text).
    pub fn connect(addr: &str, user: &str, password: &str) -> std::io::Result<CliClient> {
        let stream = std::net::TcpStream::connect(addr)?;
        stream.set_read_timeout(Some(Duration::from_secs(120)))?;
        let mut client = CliClient {
            reader: std::io::BufReader::new(stream.try_clone()?),
            writer: stream,
        };
        client.expect_ok(None)?;
        let reply = client.call(&format!("USER {user}"))?;
        if !reply.starts_with("300") {
            return Err(std::io::Error::other(reply));
        }
        client.expect_ok(Some(&format!("PASS {password}")))?;
        client.expect_ok(Some("INLINE"))?;
        Ok(client)
    }

    /// Sends one command line and returns the reply line.
    ///
    /// # Errors
    /// The connection failed or closed.
    pub fn call(&mut self, line: &str) -> std::io::Result<String> {
        use std::io::{BufRead as _, Write as _};
        if line.contains(['\r', '\n']) {
            return Err(std::io::Error::other("a command is one line"));
        }
        self.writer.write_all(format!("{line}\r\n").as_bytes())?;
        let mut reply = String::new();
        if self.reader.read_line(&mut reply)? == 0 {
            return Err(std::io::Error::other("the server closed the connection"));
        }
        Ok(reply.trim_end_matches(['\r', '\n']).to_string())
    }

    fn expect_ok(&mut self, line: Option<&str>) -> std::io::Result<()> {
        let reply = match line {
            Some(line) => self.call(line)?,
            None => {
                use std::io::BufRead as _;
                let mut greeting = String::new();
                self.reader.read_line(&mut greeting)?;
                greeting
            }
        };
        if reply.starts_with('2') {
            Ok(())
        } else {
            Err(std::io::Error::other(reply.trim_end().to_string()))
        }
    }
}
