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
use crate::server::Services;
use crate::syslog::level;

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
    loop {
        buf.clear();
        let mut limited = (&mut io).take(MAX_LINE_LEN as u64 + 1);
        let read = tokio::time::timeout(IDLE_TIMEOUT, limited.read_until(b'\n', &mut buf)).await;
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
