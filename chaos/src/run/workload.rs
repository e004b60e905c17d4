//! The workload: SMTP senders, POP3 readers, an expunger and a directory writer, each a loop
//! against random nodes that records every operation in the [`History`].
//!
//! Every random choice comes from the worker's own `StdRng`, seeded from the run's seed and the
//! worker's name, so a seed replays the same sequence of choices (timing still varies).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use tokio::time::{Instant, sleep, timeout};

use super::cluster::{Addrs, DOMAIN, POSTMASTER_PASSWORD};
use super::history::{Entry, History, Op, Outcome};
use crate::client::cli::{CliClient, quote};
use crate::client::imap::ImapClient;
use crate::client::pop3::Pop3Client;
use crate::client::smtp::SmtpClient;

/// Bound on one whole operation; a paused node must not hold a worker for the client's 30 s.
pub const OP_TIMEOUT: Duration = Duration::from_secs(12);

/// The account whose messages are deleted by the expunger.
pub const EXPUNGER: &str = "expunger";

/// The regular recipient accounts.
pub const ACCOUNTS: [&str; 5] = ["u1", "u2", "u3", "u4", "u5"];

/// The password of an account.
pub fn password(account: &str) -> String {
    format!("pw-{account}")
}

/// What every worker shares.
#[derive(Debug)]
pub struct Ctx {
    /// The run's seed.
    pub seed: u64,
    /// The nodes' addresses (index 0 is node 1).
    pub nodes: Vec<Addrs>,
    /// The history.
    pub history: History,
    /// When the workload stops.
    pub deadline: Instant,
}

impl Ctx {
    /// A worker's RNG: the seed mixed with the worker's name.
    pub fn rng(&self, worker: &str) -> StdRng {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in worker.bytes() {
            h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
        StdRng::seed_from_u64(self.seed ^ h)
    }

    fn pick_node(&self, rng: &mut StdRng) -> usize {
        rng.gen_range(1..=self.nodes.len())
    }

    fn addrs(&self, node: usize) -> Addrs {
        self.nodes[node - 1]
    }
}

/// The token carried by a message's Subject (`Subject: chaos <token>`).
pub fn token_of(headers: &[String]) -> Option<String> {
    headers.iter().find_map(|l| {
        l.strip_prefix("Subject: chaos ")
            .map(|t| t.trim().to_owned())
    })
}

fn message(token: &str, rcpts: &[String]) -> Vec<u8> {
    let to: Vec<String> = rcpts.iter().map(|r| format!("<{r}@{DOMAIN}>")).collect();
    format!(
        "From: <chaos@sender.test>\r\nTo: {}\r\nSubject: chaos {token}\r\n\
         Message-ID: <{token}@chaos.test>\r\n\r\nchaos body {token}\r\n",
        to.join(", ")
    )
    .into_bytes()
}

/// The result of one SMTP transaction, before it is recorded.
struct SendResult {
    accepted: Vec<String>,
    data_sent: bool,
    reply: Option<String>,
    /// The code of `reply`.
    code: Option<u16>,
    outcome: Outcome,
    error: Option<String>,
}

/// A transaction's outcome from what the end of data got: a `250` is an acknowledgement
/// whatever happens after it (a QUIT that hangs on a paused node); another reply a refusal; no
/// reply after the whole message was written may be either.
fn send_outcome(data_sent: bool, code: Option<u16>) -> Outcome {
    match code {
        Some(250) => Outcome::Ok,
        Some(_) => Outcome::Failed,
        None if data_sent => Outcome::Unknown,
        None => Outcome::Failed,
    }
}

async fn smtp_send(addr: SocketAddr, token: &str, rcpts: &[String]) -> SendResult {
    let mut r = SendResult {
        accepted: Vec::new(),
        data_sent: false,
        reply: None,
        code: None,
        outcome: Outcome::Failed,
        error: None,
    };
    let attempt = async {
        let (mut smtp, greeting) = SmtpClient::connect(addr).await?;
        if greeting.code != 220 {
            bail!("greeting {greeting}");
        }
        let reply = smtp.command("EHLO chaos.test").await?;
        if reply.code != 250 {
            bail!("EHLO {reply}");
        }
        let reply = smtp.command("MAIL FROM:<chaos@sender.test>").await?;
        if reply.code != 250 {
            bail!("MAIL {reply}");
        }
        for rcpt in rcpts {
            let reply = smtp.command(&format!("RCPT TO:<{rcpt}@{DOMAIN}>")).await?;
            if reply.code == 250 {
                r.accepted.push(rcpt.clone());
            }
        }
        if r.accepted.is_empty() {
            bail!("no recipient accepted");
        }
        let reply = smtp.command("DATA").await?;
        if reply.code != 354 {
            bail!("DATA {reply}");
        }
        r.data_sent = true;
        let reply = smtp.data(&message(token, rcpts)).await?;
        r.reply = Some(reply.to_string());
        r.code = Some(reply.code);
        if reply.code != 250 {
            bail!("end of data: {reply}");
        }
        let _ = smtp.command("QUIT").await;
        Ok(())
    };
    match timeout(OP_TIMEOUT, attempt).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => r.error = Some(format!("{e:#}")),
        Err(_) => r.error = Some("timed out".into()),
    }
    r.outcome = send_outcome(r.data_sent, r.code);
    // `data_sent` means DATA got 354; the end-of-data marker may not have been written if
    // the write failed, but treating that as unknown is only conservative.
    r
}

/// Sends one recorded message with token `token` to `rcpts` through `node`.
pub async fn send_recorded(
    ctx: &Ctx,
    worker: &str,
    node: usize,
    token: String,
    rcpts: Vec<String>,
) -> Outcome {
    let start = ctx.history.now_ms();
    let r = smtp_send(ctx.addrs(node).smtp, &token, &rcpts).await;
    ctx.history.record(
        worker,
        node,
        start,
        r.outcome,
        r.error,
        Op::Send {
            token,
            rcpts,
            accepted: r.accepted,
            data_sent: r.data_sent,
            reply: r.reply,
        },
    );
    r.outcome
}

/// An SMTP sender: messages to 1-3 random recipients (the expunger among them at times).
pub async fn sender(ctx: Arc<Ctx>, worker: String) {
    let mut rng = ctx.rng(&worker);
    let mut n = 0u64;
    while Instant::now() < ctx.deadline {
        n += 1;
        let token = format!("s{}-{worker}-{n}", ctx.seed);
        let count = rng.gen_range(1..=3);
        let mut pool: Vec<String> = ACCOUNTS.iter().map(|a| (*a).to_owned()).collect();
        pool.push(EXPUNGER.to_owned());
        pool.shuffle(&mut rng);
        pool.truncate(count);
        let node = ctx.pick_node(&mut rng);
        send_recorded(&ctx, &worker, node, token, pool).await;
        sleep(Duration::from_millis(rng.gen_range(0..100))).await;
    }
}

/// Whether a POP3 login error is temporary (account open on another node, or a transient
/// server problem), as opposed to a refusal of the credentials.
pub fn is_temporary(error: &str) -> bool {
    error.contains("[IN-USE]") || error.contains("[SYS/TEMP]")
}

/// How a POP3 session failed.
#[derive(Debug)]
pub enum PopError {
    /// The login was refused: credentials or account unknown.
    Refused(String),
    /// Temporary: in use elsewhere, connection refused, timeout, ...
    Other(String),
}

/// Logs in, lists with UIDL and reads the headers of the messages `pick` chooses (all of
/// them when `pick` is `None`), RETRs the numbers in `retr`, then QUITs.
pub async fn pop_list(
    addr: SocketAddr,
    account: &str,
    pick: Option<&mut StdRng>,
) -> std::result::Result<Vec<Entry>, PopError> {
    let attempt = async {
        let mut pop = Pop3Client::connect(addr)
            .await
            .map_err(|e| PopError::Other(format!("{e:#}")))?;
        if let Err(e) = pop.login(account, &password(account)).await {
            let text = format!("{e:#}");
            return Err(if is_temporary(&text) || !text.contains("-ERR") {
                PopError::Other(text)
            } else {
                PopError::Refused(text)
            });
        }
        let other = |e: anyhow::Error| PopError::Other(format!("{e:#}"));
        let list = pop.uidl().await.map_err(other)?;
        let mut entries: Vec<Entry> = list
            .into_iter()
            .map(|(num, uidl)| Entry {
                num,
                uidl,
                token: None,
                seen: None,
            })
            .collect();
        let chosen: Vec<usize> = match pick {
            None => (0..entries.len()).collect(),
            Some(rng) => {
                let mut all: Vec<usize> = (0..entries.len()).collect();
                all.shuffle(rng);
                all.truncate(4);
                all
            }
        };
        for (k, i) in chosen.iter().enumerate() {
            let num = entries[*i].num;
            // Read a couple in full, the rest by headers only.
            let lines = if k < 2 {
                pop.retr(num).await.map_err(other)?
            } else {
                pop.top_headers(num).await.map_err(other)?
            };
            entries[*i].token = token_of(&lines);
        }
        let _ = pop.quit().await;
        Ok(entries)
    };
    timeout(OP_TIMEOUT * 3, attempt)
        .await
        .unwrap_or_else(|_| Err(PopError::Other("timed out".into())))
}

/// Records one read of `account` through `node`.
pub async fn read_recorded(
    ctx: &Ctx,
    worker: &str,
    node: usize,
    account: &str,
    pick: Option<&mut StdRng>,
) -> Option<Vec<Entry>> {
    let final_check = pick.is_none();
    let start = ctx.history.now_ms();
    let result = pop_list(ctx.addrs(node).pop3, account, pick).await;
    let (outcome, error, listing) = match result {
        Ok(l) => (Outcome::Ok, None, Some(l)),
        Err(PopError::Refused(e)) => (Outcome::Failed, Some(format!("refused: {e}")), None),
        Err(PopError::Other(e)) => (Outcome::Failed, Some(e), None),
    };
    ctx.history.record(
        worker,
        node,
        start,
        outcome,
        error,
        Op::Read {
            account: account.to_owned(),
            final_check,
            listing: listing.clone(),
        },
    );
    listing
}

/// A POP3 reader: lists a random account on a random node and reads a few messages.
pub async fn reader(ctx: Arc<Ctx>, worker: String) {
    let mut rng = ctx.rng(&worker);
    while Instant::now() < ctx.deadline {
        let node = ctx.pick_node(&mut rng);
        let account = if rng.gen_bool(0.15) {
            EXPUNGER
        } else {
            ACCOUNTS[rng.gen_range(0..ACCOUNTS.len())]
        };
        read_recorded(&ctx, &worker, node, account, Some(&mut rng)).await;
        sleep(Duration::from_millis(rng.gen_range(50..300))).await;
    }
}

/// The expunger: deletes one or two random messages of [`EXPUNGER`] per session.
pub async fn expunger(ctx: Arc<Ctx>, worker: String) {
    let mut rng = ctx.rng(&worker);
    while Instant::now() < ctx.deadline {
        let node = ctx.pick_node(&mut rng);
        let start = ctx.history.now_ms();
        let mut deleted = Vec::new();
        let mut quit_sent = false;
        let want = rng.gen_range(1..=2usize);
        let seed: u64 = rng.r#gen();
        let attempt = async {
            let mut rng = StdRng::seed_from_u64(seed);
            let mut pop = Pop3Client::connect(ctx.addrs(node).pop3).await?;
            pop.login(EXPUNGER, &password(EXPUNGER)).await?;
            let mut list = pop.uidl().await?;
            list.shuffle(&mut rng);
            for (num, uidl) in list.into_iter().take(want) {
                let token = token_of(&pop.top_headers(num).await?);
                pop.dele(num).await?;
                deleted.push(Entry {
                    num,
                    uidl,
                    token,
                    seen: None,
                });
            }
            quit_sent = true;
            pop.quit().await.context("QUIT")?;
            Ok::<(), anyhow::Error>(())
        };
        let result = timeout(OP_TIMEOUT, attempt).await;
        let (outcome, error) = match result {
            Ok(Ok(())) => (Outcome::Ok, None),
            Ok(Err(e)) if quit_sent => (Outcome::Unknown, Some(format!("{e:#}"))),
            Ok(Err(e)) => (Outcome::Failed, Some(format!("{e:#}"))),
            Err(_) if quit_sent => (Outcome::Unknown, Some("timed out".into())),
            Err(_) => (Outcome::Failed, Some("timed out".into())),
        };
        ctx.history.record(
            &worker,
            node,
            start,
            outcome,
            error,
            Op::Expunge {
                account: EXPUNGER.to_owned(),
                deleted,
            },
        );
        sleep(Duration::from_millis(rng.gen_range(200..800))).await;
    }
}

/// Sends one CLI command as postmaster through `addr`; returns the reply line.
pub async fn cli_command(addr: SocketAddr, line: &str) -> Result<crate::client::cli::CliReply> {
    timeout(OP_TIMEOUT, async {
        let mut cli = CliClient::connect(addr).await?;
        cli.login("postmaster", POSTMASTER_PASSWORD).await?;
        // Data on the reply line (`201 data`), not after `200 data follow`.
        let inline = cli.command("INLINE").await?;
        if !inline.is_ok() {
            bail!("INLINE refused: {inline}");
        }
        let reply = cli.command(line).await?;
        let _ = cli.quit().await;
        Ok(reply)
    })
    .await
    .unwrap_or_else(|_| bail!("timed out"))
}

/// Creates `account` on `node`, then reads it on `verify_node` (CLI) and logs in on
/// `login_node` (POP3) at once: the directory's linearizability probe.
pub async fn create_and_probe(
    ctx: &Ctx,
    worker: &str,
    node: usize,
    verify_node: usize,
    login_node: usize,
    account: String,
) -> Outcome {
    let start = ctx.history.now_ms();
    let create = cli_command(
        ctx.addrs(node).cli,
        &format!(
            "CreateAccount {} {{Password={};}}",
            quote(&account),
            quote(&password(&account))
        ),
    )
    .await;
    let (outcome, error) = match &create {
        Ok(r) if r.is_ok() => (Outcome::Ok, None),
        Ok(r) => (Outcome::Failed, Some(r.to_string())),
        // The command may have been written; the account may exist.
        Err(e) => (Outcome::Unknown, Some(format!("{e:#}"))),
    };
    let (mut verify, mut verify_saw, mut login, mut login_ok) = (None, None, None, None);
    if outcome == Outcome::Ok {
        match cli_command(
            ctx.addrs(verify_node).cli,
            &format!("GetAccountSettings {}", quote(&account)),
        )
        .await
        {
            Ok(r) => {
                // Only a definite "no such account" is a stale read; "not the leader" or
                // "cannot do this now" is a read that was not served (a cut-off node).
                let text = r.to_string();
                verify_saw = if r.is_ok() {
                    Some(true)
                } else if text.to_ascii_lowercase().contains("unknown") {
                    Some(false)
                } else {
                    None
                };
                verify = Some(text);
            }
            Err(e) => verify = Some(format!("{e:#}")),
        }
        let attempt = async {
            let mut pop = Pop3Client::connect(ctx.addrs(login_node).pop3).await?;
            pop.login(&account, &password(&account)).await?;
            let _ = pop.quit().await;
            Ok::<(), anyhow::Error>(())
        };
        match timeout(OP_TIMEOUT, attempt).await {
            Ok(Ok(())) => {
                login_ok = Some(true);
                login = Some("+OK".into());
            }
            Ok(Err(e)) => {
                let text = format!("{e:#}");
                if text.contains("-ERR") && !is_temporary(&text) {
                    login_ok = Some(false);
                }
                login = Some(text);
            }
            Err(_) => login = Some("timed out".into()),
        }
    }
    ctx.history.record(
        worker,
        node,
        start,
        outcome,
        error,
        Op::CreateAccount {
            account,
            verify_node,
            verify,
            verify_saw,
            login_node,
            login,
            login_ok,
        },
    );
    outcome
}

/// The directory writer: creates accounts and probes them on other nodes at once.
pub async fn directory(ctx: Arc<Ctx>, worker: String) {
    let mut rng = ctx.rng(&worker);
    let mut n = 0u64;
    while Instant::now() < ctx.deadline {
        n += 1;
        let node = ctx.pick_node(&mut rng);
        // Read on other nodes than the writer, where a stale replica would show.
        let n_nodes = ctx.nodes.len();
        let verify = (node + rng.gen_range(0..n_nodes.max(2) - 1)) % n_nodes + 1;
        let login = (node + rng.gen_range(0..n_nodes.max(2) - 1)) % n_nodes + 1;
        create_and_probe(&ctx, &worker, node, verify, login, format!("lin{n}")).await;
        sleep(Duration::from_millis(rng.gen_range(200..1000))).await;
    }
}

/// Logs in over IMAP, SELECTs INBOX and fetches every message's UID, flags and Subject.
async fn imap_open(addr: SocketAddr, account: &str) -> Result<(ImapClient, u64, Vec<Entry>)> {
    let mut imap = ImapClient::connect(addr).await?;
    imap.login(account, &password(account)).await?;
    let validity = imap.select("INBOX").await?;
    let mut fetched = imap.fetch_all().await?;
    // Unsolicited FETCH responses (flag changes made by other sessions, RFC 3501 §7.4.2) may
    // come among the answers: keep the ones carrying the Subject asked for, one per UID.
    fetched.retain(|f| !f.literal.is_empty());
    fetched.sort_by_key(|f| f.seq);
    fetched.dedup_by_key(|f| f.uid);
    let entries = fetched
        .iter()
        .map(|f| Entry {
            num: f.seq,
            uidl: format!("{validity}.{}", f.uid),
            token: token_of(&f.literal.lines().map(str::to_owned).collect::<Vec<_>>()),
            seen: Some(f.flags.iter().any(|x| x.eq_ignore_ascii_case("\\Seen"))),
        })
        .collect();
    Ok((imap, validity, entries))
}

/// An IMAP reader and flagger: SELECTs a random account on a random node, fetches every
/// UID, flags and Subject (recorded as a read: checks 1-4 judge it like a POP3 listing), and
/// marks one message `\Seen`.
pub async fn imap_reader(ctx: Arc<Ctx>, worker: String) {
    let mut rng = ctx.rng(&worker);
    while Instant::now() < ctx.deadline {
        let node = ctx.pick_node(&mut rng);
        let account = if rng.gen_bool(0.2) {
            EXPUNGER
        } else {
            ACCOUNTS[rng.gen_range(0..ACCOUNTS.len())]
        };
        let pick: u64 = rng.r#gen();
        let start = ctx.history.now_ms();
        let mut listing = None;
        let mut flagged: Option<(String, u64)> = None;
        let attempt = async {
            let (mut imap, _, entries) = imap_open(ctx.addrs(node).imap, account).await?;
            listing = Some(entries.clone());
            if !entries.is_empty() {
                let e = &entries[usize::try_from(pick % entries.len() as u64).unwrap_or(0)];
                if let Some((_, uid)) = e.uidl.split_once('.')
                    && let Ok(uid) = uid.parse()
                {
                    imap.add_flag(uid, "\\Seen").await?;
                    flagged = Some((e.uidl.clone(), ctx.history.now_ms()));
                }
            }
            let _ = imap.logout().await;
            Ok::<(), anyhow::Error>(())
        };
        let result = timeout(OP_TIMEOUT, attempt).await;
        // The read counts once the listing came, whatever happened to the flag.
        let (outcome, error) = match (&listing, result) {
            (Some(_), Ok(Ok(()))) => (Outcome::Ok, None),
            (Some(_), Ok(Err(e))) => (Outcome::Ok, Some(format!("STORE: {e:#}"))),
            (Some(_), Err(_)) => (Outcome::Ok, Some("STORE timed out".into())),
            (None, Ok(Err(e))) => (Outcome::Failed, Some(format!("{e:#}"))),
            (None, _) => (Outcome::Failed, Some("timed out".into())),
        };
        ctx.history.record(
            &worker,
            node,
            start,
            outcome,
            error,
            Op::Read {
                account: account.to_owned(),
                final_check: false,
                listing,
            },
        );
        if let Some((uidl, at)) = flagged {
            ctx.history.record(
                &worker,
                node,
                at,
                Outcome::Ok,
                None,
                Op::Flag {
                    account: account.to_owned(),
                    uidl,
                },
            );
        }
        sleep(Duration::from_millis(rng.gen_range(50..300))).await;
    }
}

/// The IMAP expunger: deletes one random message of [`EXPUNGER`] with `UID STORE +FLAGS
/// (\Deleted)` and `UID EXPUNGE` (recorded as an expunge: acknowledged by the tagged `OK` to
/// UID EXPUNGE).
pub async fn imap_expunger(ctx: Arc<Ctx>, worker: String) {
    let mut rng = ctx.rng(&worker);
    while Instant::now() < ctx.deadline {
        let node = ctx.pick_node(&mut rng);
        let pick: u64 = rng.r#gen();
        let start = ctx.history.now_ms();
        let mut deleted = Vec::new();
        let mut expunge_sent = false;
        let attempt = async {
            let (mut imap, _, entries) = imap_open(ctx.addrs(node).imap, EXPUNGER).await?;
            if let Some(e) = entries
                .get(usize::try_from(pick % (entries.len() as u64).max(1)).unwrap_or(0))
                .cloned()
            {
                let uid: u64 = e
                    .uidl
                    .split_once('.')
                    .and_then(|(_, u)| u.parse().ok())
                    .context("uid")?;
                imap.add_flag(uid, "\\Deleted").await?;
                deleted.push(e);
                expunge_sent = true;
                imap.uid_expunge(uid).await?;
            }
            let _ = imap.logout().await;
            Ok::<(), anyhow::Error>(())
        };
        let result = timeout(OP_TIMEOUT, attempt).await;
        let (outcome, error) = match result {
            Ok(Ok(())) => (Outcome::Ok, None),
            Ok(Err(e)) if expunge_sent => (Outcome::Unknown, Some(format!("{e:#}"))),
            Ok(Err(e)) => (Outcome::Failed, Some(format!("{e:#}"))),
            Err(_) if expunge_sent => (Outcome::Unknown, Some("timed out".into())),
            Err(_) => (Outcome::Failed, Some("timed out".into())),
        };
        // A \Deleted flag without an acknowledged expunge may still be expunged later by
        // another session's EXPUNGE or CLOSE: keep it as unknown, never as failed.
        let outcome = if outcome == Outcome::Failed && !deleted.is_empty() {
            Outcome::Unknown
        } else {
            outcome
        };
        ctx.history.record(
            &worker,
            node,
            start,
            outcome,
            error,
            Op::Expunge {
                account: EXPUNGER.to_owned(),
                deleted,
            },
        );
        sleep(Duration::from_millis(rng.gen_range(200..800))).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_250_at_the_end_of_data_is_an_acknowledgement_whatever_follows() {
        assert_eq!(send_outcome(true, Some(250)), Outcome::Ok);
        assert_eq!(send_outcome(true, Some(451)), Outcome::Failed);
        assert_eq!(send_outcome(true, Some(554)), Outcome::Failed);
        assert_eq!(send_outcome(true, None), Outcome::Unknown);
        assert_eq!(send_outcome(false, None), Outcome::Failed);
    }
}
