//! The IMAP phase of `chaos bench cluster`: mail readers against every member at once.
//!
//! Each of `sessions` workers repeats, until the time is up, one reader's visit: connect to the
//! next member (round-robin), `LOGIN` as the next benchmark account, `SELECT INBOX`, `FETCH
//! 1:* (FLAGS)`, fetch the newest message (`FETCH n BODY.PEEK[]`), `STORE n +FLAGS (\Seen)`,
//! `LOGOUT` (two `NOOP`s instead of the last two in an empty INBOX). On a cluster a visit often lands on a member that does not hold the
//! account, so the session is handed to the holder: that cost is part of the figure.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::task::JoinSet;
use tokio::time::{Instant, timeout};

use super::smtp::{ACCOUNT_PASSWORD, account};
use crate::client::imap::ImapClient;

/// Longest one visit may take before it counts as failed.
const VISIT_TIMEOUT: Duration = Duration::from_secs(30);

/// Commands in one visit.
const COMMANDS_PER_VISIT: u64 = 6;

/// What the phase measured.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ImapFigures {
    /// Visits that completed.
    pub visits: u64,
    /// Visits that failed (an error or `NO` at any step, or the time limit).
    pub failed: u64,
    /// From the first connection to the end of the last visit.
    pub elapsed: Duration,
}

impl ImapFigures {
    /// IMAP commands of completed visits per second.
    pub fn commands_per_sec(&self) -> f64 {
        let secs = self.elapsed.as_secs_f64();
        if secs > 0.0 {
            (self.visits * COMMANDS_PER_VISIT) as f64 / secs
        } else {
            0.0
        }
    }
}

/// Runs `sessions` readers over `targets` for `duration` against accounts `bench1..benchN`.
pub async fn measure(
    targets: &[SocketAddr],
    accounts: u32,
    sessions: u32,
    duration: Duration,
) -> ImapFigures {
    let started = Instant::now();
    let deadline = started + duration;
    let mut workers = JoinSet::new();
    for worker in 0..sessions {
        let targets = targets.to_vec();
        workers.spawn(async move {
            let (mut visits, mut failed) = (0u64, 0u64);
            let mut n = u64::from(worker);
            while Instant::now() < deadline {
                let target = targets[(n % targets.len() as u64) as usize];
                let k = u32::try_from(n % u64::from(accounts.max(1))).unwrap_or(0) + 1;
                match timeout(VISIT_TIMEOUT, visit(target, &account(k))).await {
                    Ok(Ok(())) => visits += 1,
                    _ => failed += 1,
                }
                n += u64::from(sessions);
            }
            (visits, failed)
        });
    }
    let mut figures = ImapFigures::default();
    while let Some(done) = workers.join_next().await {
        let (visits, failed) = done.unwrap_or((0, 1));
        figures.visits += visits;
        figures.failed += failed;
    }
    figures.elapsed = started.elapsed();
    figures
}

/// One reader's visit (see the module docs).
async fn visit(target: SocketAddr, user: &str) -> anyhow::Result<()> {
    let mut imap = ImapClient::connect(target).await?;
    imap.login(user, ACCOUNT_PASSWORD).await?;
    let selected = imap.command("SELECT INBOX").await?;
    let exists = selected
        .iter()
        .find_map(|l| {
            l.strip_prefix("* ")?
                .strip_suffix(" EXISTS")?
                .parse::<u64>()
                .ok()
        })
        .unwrap_or(0);
    imap.command("FETCH 1:* (FLAGS)").await?;
    if exists > 0 {
        imap.command(&format!("FETCH {exists} BODY.PEEK[]")).await?;
        imap.command(&format!("STORE {exists} +FLAGS (\\Seen)"))
            .await?;
    } else {
        imap.command("NOOP").await?;
        imap.command("NOOP").await?;
    }
    imap.logout().await
}
