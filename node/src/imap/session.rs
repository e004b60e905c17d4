//! The IMAP session driver: runs the sans-I/O [`proto`] pieces over one
//! connection (port 143 with STARTTLS, or 993 under implicit TLS) and
//! carries out commands against the account's mailboxes.
//!
//! Invariants:
//! - Every mailbox access goes through the account owner
//!   ([`cluster::AccountHub`], DESIGN invariant 3): reads through
//!   `read_mailbox`, writes through `with_mailbox`, `update_mailbox`
//!   (changes that are not fsynced: flags, expunges) or `with_account`,
//!   which wake the IDLE sessions of the account.
//! - The selected mailbox is a [`View`]; untagged EXISTS/EXPUNGE/FETCH for
//!   changes made elsewhere are sent at the end of commands, never
//!   EXPUNGE during FETCH, STORE or SEARCH (RFC 9051 §7.5.1), and
//!   immediately while in IDLE (RFC 2177).
//! - LOGIN and AUTHENTICATE are refused on clear connections (LOGINDISABLED,
//!   `[PRIVACYREQUIRED]`, RFC 9051 §6.2.3) unless the peer is loopback and
//!   `imap.plaintext_on_loopback` is set. After STARTTLS, input buffered
//!   before the handshake is discarded (RFC 9051 §6.2.1).
//! - The connection ends after `imap.idle_timeout_secs` without input,
//!   in IDLE too (RFC 9051 §5.4), with `* BYE`.
//! - Keywords are stored per message in the mailbox index (PERMANENTFLAGS
//!   has `\*`); an index rebuild loses them. `\Recent` (RFC 3501
//!   §2.3.2) is kept in the index: a message is recent to the first
//!   session that selects the mailbox read-write (or is selected when it
//!   arrives), and to EXAMINE sessions until then.
//! - Subscriptions are a list of names in the account folder, changed
//!   through the hub; LSUB and LIST (SUBSCRIBED) read it (RFC 5258).
//! - CONDSTORE (RFC 7162) is on for a session after the first
//!   CONDSTORE-enabling command; from then on flag updates carry MODSEQ.
//! - QRESYNC (RFC 7162 §3.2) is on after `ENABLE QRESYNC` (which enables
//!   CONDSTORE too): expunges are then told as `* VANISHED`, SELECT takes
//!   the QRESYNC parameter, a SELECT that replaces a selected mailbox sends
//!   `[CLOSED]`, and UID FETCH takes the VANISHED modifier. When the
//!   mailbox's list of expunged UIDs does not reach back to the client's
//!   mod-sequence, every UID of the range that is not present is reported.
//! - QUOTA (RFC 9208): one root `""` per account with a STORAGE limit from
//!   the effective `MaxAccountSize` setting, read from the directory at
//!   each command; APPEND and COPY past it fail with `[OVERQUOTA]`. MOVE
//!   keeps the usage and is not refused.
//! - SEARCH RETURN answers with ESEARCH (RFC 4731); SORT and THREAD
//!   (RFC 5256) read the header of every message that matches; SORT
//!   RETURN (ESORT, RFC 5267 §3) answers with ESEARCH in sort order.
//!   CONTEXT=SORT is not offered.
//! - APPEND takes several messages (MULTIAPPEND, RFC 3502) and stores
//!   them in one batch of the mailbox: all or none, one APPENDUID set.
//!   A `literal8` message (RFC 3516 §4.3) has its binary parts stored
//!   as base64; FETCH BINARY decodes base64 and quoted-printable and
//!   fails with `[UNKNOWN-CTE]` for other encodings.
//! - `$` (SEARCHRES, RFC 5182) is replaced when a command arrives by the
//!   UIDs that the last SEARCH RETURN (SAVE) kept, which SELECT, EXAMINE,
//!   CLOSE and UNSELECT forget.
//! - Passwords and SASL responses never reach the log.

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use admin::api::Undecided;
use cluster::rpc::{SessionHandoff, SessionProtocol};
use cluster::{AccountRef, SessionPin};
use storage::{AccountKind, Flags, MailboxFormat, NewMessage, Uid};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::watch;

use crate::imap::proto::command::{
    AppendMessage, FetchItem, FlagSet, ListReturn, ListSelect, Qresync, SearchKey, SearchReturn,
    Section, SectionText, SequenceSet, StatusItem, StoreOp,
};
use crate::imap::proto::message::{
    Parsed, UnknownCte, Unstorable, header_fields, header_of, store_binary,
};
use crate::imap::proto::quota;
use crate::imap::proto::search::{
    Candidate, Content, matches, needs_content, result_modseq, uses_modseq,
};
use crate::imap::proto::sort::{
    SortCriterion, SortFields, ThreadAlgorithm, base_subject_and_reply, ordered_subject,
    references, sort,
};
use crate::imap::proto::view::{Entry, vanished_earlier};
use crate::imap::proto::{
    Command, CommandKind, Frame, FrameError, Receiver, Snapshot, Stamp, Status, StatusResponse,
    Target, View, parse_command, response,
};
use crate::net::{Ended, Framer, Stream};
use crate::sasl::{Sasl, SaslStep};
use crate::server::Services;
use crate::syslog::level;

/// The module name in the system log.
const LOG_MODULE: &str = "IMAP";

/// Special-use mailboxes (RFC 6154) made at first login when missing.
const SPECIAL_USE: [(&str, &str); 5] = [
    ("Sent", "\\Sent"),
    ("Drafts", "\\Drafts"),
    ("Trash", "\\Trash"),
    ("Junk", "\\Junk"),
    ("Archive", "\\Archive"),
];

/// Serves one IMAP connection until LOGOUT, idle timeout, error or
/// disconnect. `stream` is already TLS on the imaps port.
pub async fn run<IO: AsyncRead + AsyncWrite + Unpin>(
    stream: Stream<IO>,
    peer: SocketAddr,
    services: Arc<Services>,
) {
    let tls_active = stream.is_tls();
    let loopback_ok = peer.ip().is_loopback() && services.config.imap.plaintext_on_loopback;
    let ctx = format!("[{}]:{}", peer.ip(), peer.port());
    let driver = Driver::new(services, ctx, tls_active, loopback_ok);
    let stopping = driver.services.stopping.clone();
    let mut conn = Conn::new(stream, Receiver::new(), driver.idle_timeout(), stopping);
    driver.log(
        level::LOW,
        format_args!("connected{}", if tls_active { " (TLS)" } else { "" }),
    );
    let greeting = format!(
        "* OK [CAPABILITY {}] Mailnode IMAP ready\r\n",
        driver.capability()
    );
    conn.out.extend_from_slice(greeting.as_bytes());
    driver.serve(conn).await;
}

/// Continues a session that logged in on another member, which relays the
/// client's bytes over `stream` ([`crate::handoff`]): answers the login
/// command here, then serves the session as [`run`] does.
pub async fn resume<IO: AsyncRead + AsyncWrite + Unpin>(
    stream: Stream<IO>,
    handoff: SessionHandoff,
    pin: SessionPin,
    services: Arc<Services>,
) {
    let mut driver = Driver::new(services, handoff.client.clone(), handoff.tls, false);
    let stopping = driver.services.stopping.clone();
    let mut conn = Conn::new(stream, Receiver::new(), driver.idle_timeout(), stopping);
    driver.log(
        level::LOW,
        format_args!("session continues here from another member"),
    );
    driver
        .logged_in(&mut conn, &handoff.tag, pin, &handoff.method)
        .await;
    driver.serve(conn).await;
}

impl Driver {
    fn new(services: Arc<Services>, ctx: String, tls_active: bool, loopback_ok: bool) -> Driver {
        Driver {
            services,
            ctx,
            tls_active,
            loopback_ok,
            auth: None,
            view: None,
            condstore: false,
            qresync: false,
            saved: Vec::new(),
            fetch_cache: FetchCache::default(),
        }
    }

    fn idle_timeout(&self) -> Duration {
        Duration::from_secs(self.services.config.imap.idle_timeout_secs.max(1))
    }

    /// Reads and answers commands until the session ends.
    async fn serve<IO: AsyncRead + AsyncWrite + Unpin>(mut self, mut conn: Conn<IO>) {
        let driver = &mut self;
        let ended = loop {
            let frame = match conn.next_frame().await {
                Ok(f) => f,
                Err(e) => break e,
            };
            let flow = match frame {
                Frame::Continue => {
                    conn.out.extend_from_slice(b"+ Ready for literal data\r\n");
                    Flow::Continue
                }
                Frame::Error { tag, error } => driver.frame_error(&mut conn, tag, error),
                Frame::Command(bytes) => match parse_command(&bytes) {
                    Ok(cmd) => {
                        driver.log(
                            level::ALL,
                            format_args!("inp: {} {}", cmd.tag, command_name(&cmd.kind)),
                        );
                        driver.handle(&mut conn, cmd).await
                    }
                    Err(e) if e.is_bad_mailbox_name() => {
                        let tag = e.tag.as_deref().unwrap_or("*");
                        conn.status(tag, Status::No, Some("CANNOT"), "Invalid mailbox name");
                        Flow::Continue
                    }
                    Err(e) => {
                        let tag = e.tag.as_deref().unwrap_or("*");
                        conn.status(
                            tag,
                            Status::Bad,
                            None,
                            &format!("Syntax error: {}", e.reason),
                        );
                        Flow::Continue
                    }
                },
            };
            match flow {
                Flow::Continue => {}
                Flow::Close => break Ended::Closed,
                Flow::Ended(e) => break e,
                Flow::Handoff(holder) => {
                    if let Err(e) = conn.relay_to(holder).await {
                        driver.log(level::LOW, format_args!("handing over failed: {e:?}"));
                        return;
                    }
                    driver.log(
                        level::LOW,
                        format_args!("session ended on the account's member"),
                    );
                    return;
                }
                Flow::StartTls => {
                    if let Err(e) = conn.flush().await {
                        break e;
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
                        .start_tls(driver.services.tls.clone(), Receiver::new())
                        .await
                    {
                        Ok(c) => c,
                        Err(e) => {
                            driver.log(level::LOW, format_args!("TLS handshake failed: {e}"));
                            return;
                        }
                    };
                    driver.tls_active = true;
                    driver.log(level::LOW, format_args!("TLS started"));
                }
            }
        };
        driver.end(conn, ended).await;
    }

    /// Says goodbye as the way the session ended calls for, and closes.
    async fn end<IO: AsyncRead + AsyncWrite + Unpin>(&self, mut conn: Conn<IO>, ended: Ended) {
        let driver = self;
        let idle = driver.idle_timeout();
        match &ended {
            Ended::Closed => driver.log(level::LOW, format_args!("closing connection")),
            Ended::Idle => {
                driver.log(
                    level::LOW,
                    format_args!("idle for {}s, closing", idle.as_secs()),
                );
                conn.out
                    .extend_from_slice(b"* BYE Autologout; idle for too long\r\n");
            }
            Ended::Eof => driver.log(level::LOW, format_args!("connection closed by the client")),
            Ended::Io(e) => driver.log(level::LOW, format_args!("connection error: {e}")),
            Ended::Shutdown => {
                driver.log(level::LOW, format_args!("server stopping, closing"));
                // RFC 9051 §7.1.5: BYE before closing on shutdown.
                conn.out
                    .extend_from_slice(b"* BYE Server shutting down; please reconnect\r\n");
            }
        }
        if !matches!(ended, Ended::Io(_)) {
            conn.close().await;
        }
    }
}

/// What the loop does after a command.
enum Flow {
    Continue,
    Close,
    StartTls,
    Ended(Ended),
    /// The account is open on another member, which now serves the
    /// session over this connection to it ([`crate::handoff`]).
    Handoff(tokio::net::TcpStream),
}

/// The IMAP connection: commands with literals (see `proto`).
type Conn<IO> = crate::net::Conn<IO, Receiver>;

impl Framer for Receiver {
    fn feed(&mut self, bytes: &[u8]) {
        Receiver::feed(self, bytes);
    }

    fn take_rest(&mut self) -> Vec<u8> {
        Receiver::take_rest(self)
    }
}

impl<IO> crate::net::Conn<IO, Receiver> {
    fn status(&mut self, tag: &str, status: Status, code: Option<&str>, text: &str) {
        let r = if tag == "*" {
            StatusResponse::untagged(status, code, text)
        } else {
            StatusResponse::tagged(tag, status, code, text)
        };
        self.out.extend_from_slice(&r.encode());
    }
}

impl<IO: AsyncRead + AsyncWrite + Unpin> crate::net::Conn<IO, Receiver> {
    /// The next frame; pending output is written before waiting.
    async fn next_frame(&mut self) -> Result<Frame, Ended> {
        loop {
            if let Some(f) = self.rx.next_frame() {
                return Ok(f);
            }
            self.flush().await?;
            self.read_some().await?;
        }
    }
}

/// A logged-in user.
struct Auth {
    account: AccountRef,
    kind: AccountKind,
    changes: watch::Receiver<u64>,
    /// Keeps the account on this member while the session lasts.
    _pin: SessionPin,
}

/// A NO answer for a failed mailbox operation: response code and text.
struct Refusal {
    code: Option<&'static str>,
    text: &'static str,
}

/// Maps a hub error to the client's answer (details go to the log).
fn refusal(e: &cluster::Error) -> Refusal {
    use storage::Error as S;
    let (code, text) = match e {
        cluster::Error::Storage(S::MailboxNotFound(_)) => (Some("NONEXISTENT"), "No such mailbox"),
        cluster::Error::Storage(S::MailboxExists(_)) => {
            (Some("ALREADYEXISTS"), "Mailbox already exists")
        }
        cluster::Error::Storage(S::BadName(_)) => (Some("CANNOT"), "Invalid mailbox name"),
        cluster::Error::Storage(S::NotSupported(_)) => {
            (Some("CANNOT"), "Operation not supported for this mailbox")
        }
        cluster::Error::Storage(S::MessageNotFound(_)) => {
            (Some("EXPUNGEISSUED"), "Message was expunged")
        }
        e if e.is_temporary() => (Some("UNAVAILABLE"), "Temporary failure, try again"),
        _ => (Some("SERVERBUG"), "Internal error"),
    };
    Refusal { code, text }
}

fn is_not_found(e: &cluster::Error) -> bool {
    matches!(
        e,
        cluster::Error::Storage(storage::Error::MailboxNotFound(_))
    )
}

/// The whole mailbox for a view (`since` is `None`), or its changes since
/// `since`, the state a view last caught up with: the messages with a
/// newer mod-sequence and the UIDs expunged since. The whole mailbox
/// again when the store no longer remembers expunges that old, or the
/// mailbox was re-created.
fn snapshot_of(m: &storage::Mailbox, since: Option<Stamp>) -> Snapshot {
    let since = since
        .filter(|s| s.uid_validity == m.uid_validity())
        .and_then(|s| Some((s.highest_modseq, m.expunged_since(s.highest_modseq)?)));
    let (messages, expunged) = match since {
        None => (m.messages().iter().map(entry_of).collect(), None),
        Some((modseq, expunged)) => (
            m.messages()
                .iter()
                .filter(|i| i.modseq > modseq)
                .map(entry_of)
                .collect(),
            Some(expunged),
        ),
    };
    Snapshot {
        uid_validity: m.uid_validity(),
        uid_next: m.uid_next().0,
        highest_modseq: m.highest_modseq(),
        first_recent: m.first_recent().0,
        messages,
        expunged,
    }
}

/// [`snapshot_of`] after taking the mailbox's recent messages for this
/// session: they are recent to it and to no later one.
fn claimed_snapshot(m: &mut storage::Mailbox, since: Option<Stamp>) -> storage::Result<Snapshot> {
    let first = m.claim_recent()?;
    Ok(Snapshot {
        first_recent: first.0,
        ..snapshot_of(m, since)
    })
}

fn stamp_of(m: &storage::Mailbox) -> Stamp {
    Stamp {
        uid_validity: m.uid_validity(),
        uid_next: m.uid_next().0,
        highest_modseq: m.highest_modseq(),
        first_recent: m.first_recent().0,
        messages: m.messages().len(),
    }
}

/// The selected mailbox as a call on it left it: its stamp, and its
/// snapshot unless the view has caught up with that stamp already.
struct Fresh {
    stamp: Stamp,
    snap: Option<Snapshot>,
}

/// [`Fresh`] for a view last caught up with `synced`: no snapshot when
/// nothing changed, only the changes when it can. Copying every message's
/// entry and comparing it with the view, at every command, was a tenth of
/// the node's CPU in the IMAP benchmark.
fn fresh_of(m: &storage::Mailbox, synced: Option<Stamp>) -> Fresh {
    let stamp = stamp_of(m);
    Fresh {
        stamp,
        snap: (synced != Some(stamp)).then(|| snapshot_of(m, synced)),
    }
}

fn entry_of(i: &storage::MessageInfo) -> Entry {
    Entry {
        uid: i.uid,
        flags: i.flags,
        keywords: i.keywords.clone(),
        modseq: i.modseq,
        recent: false,
    }
}

/// The STATUS items of a mailbox, as `NAME value ...`.
fn status_values(m: &storage::Mailbox, items: &[StatusItem]) -> String {
    let msgs = m.messages();
    let count = |f: Flags| msgs.iter().filter(|i| i.flags.contains(f)).count();
    let parts: Vec<String> = items
        .iter()
        .map(|item| match item {
            StatusItem::Messages => format!("MESSAGES {}", msgs.len()),
            StatusItem::Recent => format!("RECENT {}", m.recent_count()),
            StatusItem::UidNext => format!("UIDNEXT {}", m.uid_next()),
            StatusItem::UidValidity => format!("UIDVALIDITY {}", m.uid_validity()),
            StatusItem::Unseen => format!("UNSEEN {}", msgs.len() - count(Flags::SEEN)),
            StatusItem::Deleted => format!("DELETED {}", count(Flags::DELETED)),
            StatusItem::Size => format!("SIZE {}", m.total_size()),
            StatusItem::HighestModSeq => format!("HIGHESTMODSEQ {}", m.highest_modseq()),
        })
        .collect();
    parts.join(" ")
}

/// The per-session state.
struct Driver {
    services: Arc<Services>,
    ctx: String,
    tls_active: bool,
    loopback_ok: bool,
    auth: Option<Auth>,
    view: Option<View>,
    /// CONDSTORE enabled (RFC 7162 §3.1).
    condstore: bool,
    /// QRESYNC enabled (RFC 7162 §3.2.3).
    qresync: bool,
    /// The saved search result, `$` (RFC 5182), as UIDs of the selected
    /// mailbox.
    saved: Vec<Uid>,
    /// What FETCH rendered of the selected mailbox's messages.
    fetch_cache: FetchCache,
}

impl Driver {
    /// Turns CONDSTORE on for the rest of the session. The first time,
    /// with a mailbox selected, its HIGHESTMODSEQ goes to `out` (RFC 7162
    /// §3.1: a CONDSTORE-enabling command in the selected state).
    fn enable_condstore(&mut self, out: &mut Vec<u8>) {
        if let Some(v) = self.view.as_mut().filter(|v| !v.condstore) {
            v.condstore = true;
            out.extend_from_slice(
                format!("* OK [HIGHESTMODSEQ {}] Highest\r\n", v.highest_modseq).as_bytes(),
            );
        }
        self.condstore = true;
    }

    /// Replaces `$` (RFC 5182) in a command by the saved result: message
    /// numbers or UIDs, as the command takes them. Saved messages expunged
    /// since are left out.
    fn with_saved(&self, kind: CommandKind) -> CommandKind {
        let Some(view) = &self.view else { return kind };
        let resolve = |set: SequenceSet, uid: bool| {
            if !set.is_saved() {
                return set;
            }
            let numbers = self.saved.iter().filter_map(|u| {
                let seq = view.seq_of(*u)?;
                Some(if uid { u.0 } else { seq })
            });
            let resolved = SequenceSet::of(numbers);
            if resolved.is_saved() {
                // Nothing saved: a set that names no message.
                SequenceSet::of([0])
            } else {
                resolved
            }
        };
        match kind {
            CommandKind::Fetch {
                uid,
                set,
                items,
                changed_since,
                vanished,
            } => CommandKind::Fetch {
                uid,
                set: resolve(set, uid),
                items,
                changed_since,
                vanished,
            },
            CommandKind::Store {
                uid,
                set,
                op,
                silent,
                flags,
                unchanged_since,
            } => CommandKind::Store {
                uid,
                set: resolve(set, uid),
                op,
                silent,
                flags,
                unchanged_since,
            },
            CommandKind::Copy {
                uid,
                set,
                mailbox,
                is_move,
            } => CommandKind::Copy {
                uid,
                set: resolve(set, uid),
                mailbox,
                is_move,
            },
            CommandKind::Expunge { uids: Some(set) } => CommandKind::Expunge {
                uids: Some(resolve(set, true)),
            },
            CommandKind::Search { uid, key, ret } => CommandKind::Search {
                uid,
                key: saved_key(key, &resolve),
                ret,
            },
            CommandKind::Sort {
                uid,
                criteria,
                key,
                ret,
            } => CommandKind::Sort {
                uid,
                criteria,
                key: saved_key(key, &resolve),
                ret,
            },
            CommandKind::Thread {
                uid,
                algorithm,
                key,
            } => CommandKind::Thread {
                uid,
                algorithm,
                key: saved_key(key, &resolve),
            },
            other => other,
        }
    }

    fn log(&self, lvl: u8, text: fmt::Arguments<'_>) {
        if self.services.log.enabled(lvl) {
            self.services
                .log
                .write(lvl, LOG_MODULE, &self.ctx, &text.to_string());
        }
    }

    fn allow_plaintext(&self) -> bool {
        self.tls_active || self.loopback_ok
    }

    /// The CAPABILITY list for the current state (RFC 9051 §7.2.2).
    fn capability(&self) -> String {
        let mut caps = String::from(
            "IMAP4rev1 LITERAL+ SASL-IR ID ENABLE IDLE NAMESPACE UIDPLUS MOVE CHILDREN UNSELECT SPECIAL-USE LIST-EXTENDED LIST-STATUS CONDSTORE QRESYNC ESEARCH SEARCHRES QUOTA QUOTA=RES-STORAGE SORT THREAD=ORDEREDSUBJECT THREAD=REFERENCES SORT=DISPLAY ESORT BINARY MULTIAPPEND",
        );
        if self.auth.is_none() {
            if !self.tls_active {
                caps.push_str(" STARTTLS");
            }
            if self.allow_plaintext() {
                caps.push_str(" AUTH=PLAIN AUTH=LOGIN");
            } else {
                caps.push_str(" LOGINDISABLED");
            }
        }
        caps
    }

    fn frame_error<IO: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        conn: &mut Conn<IO>,
        tag: Option<String>,
        error: FrameError,
    ) -> Flow {
        self.log(level::PROBLEM, format_args!("input refused: {error}"));
        let tag = tag.unwrap_or_else(|| "*".into());
        match error {
            FrameError::FatalLiteral => {
                conn.out
                    .extend_from_slice(b"* BYE [TOOBIG] Literal too large\r\n");
                Flow::Close
            }
            FrameError::LiteralTooLarge => {
                conn.status(&tag, Status::No, Some("TOOBIG"), "Literal too large");
                Flow::Continue
            }
            FrameError::LineTooLong => {
                conn.status(&tag, Status::Bad, Some("TOOBIG"), "Line too long");
                Flow::Continue
            }
            FrameError::BareLf => {
                conn.status(&tag, Status::Bad, None, "Lines must end with CRLF");
                Flow::Continue
            }
        }
    }

    async fn handle<IO: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        conn: &mut Conn<IO>,
        cmd: Command,
    ) -> Flow {
        let Command { tag, kind } = cmd;
        let kind = self.with_saved(kind);
        let authed = self.auth.is_some();
        let selected = self.view.is_some();
        let t = tag.as_str();
        match kind {
            CommandKind::Capability => {
                conn.out.extend_from_slice(
                    format!("* CAPABILITY {}\r\n", self.capability()).as_bytes(),
                );
                self.done(conn, t, "CAPABILITY completed", true).await;
            }
            CommandKind::Noop | CommandKind::Check
                if matches!(kind, CommandKind::Noop) || selected =>
            {
                self.done(conn, t, "completed", true).await;
            }
            CommandKind::Logout => {
                conn.out
                    .extend_from_slice(b"* BYE Mailnode IMAP logging out\r\n");
                conn.status(t, Status::Ok, None, "LOGOUT completed");
                return Flow::Close;
            }
            CommandKind::Id => {
                conn.out
                    .extend_from_slice(b"* ID (\"name\" \"Mailnode\")\r\n");
                conn.status(t, Status::Ok, None, "ID completed");
            }
            CommandKind::StartTls if !authed => {
                if self.tls_active {
                    conn.status(t, Status::Bad, None, "TLS already active");
                } else {
                    conn.status(t, Status::Ok, None, "Begin TLS negotiation now");
                    return Flow::StartTls;
                }
            }
            CommandKind::Login { user, password } if !authed => {
                if !self.allow_plaintext() {
                    conn.status(
                        t,
                        Status::No,
                        Some("PRIVACYREQUIRED"),
                        "LOGIN needs TLS; use STARTTLS",
                    );
                } else {
                    let account = self.services.admin.check_password(&user, &password).await;
                    return self.login(conn, t, account, &user, "LOGIN").await;
                }
            }
            CommandKind::Authenticate { mechanism, initial } if !authed => {
                if !self.allow_plaintext() {
                    conn.status(
                        t,
                        Status::No,
                        Some("PRIVACYREQUIRED"),
                        "Authentication needs TLS; use STARTTLS",
                    );
                } else {
                    return self
                        .authenticate(conn, t, &mechanism, initial.as_deref())
                        .await;
                }
            }
            CommandKind::Enable(caps) if authed => {
                // Only CONDSTORE and QRESYNC can be enabled (RFC 5161
                // §3.1: ENABLED lists only what was, and only newly).
                // QRESYNC implies CONDSTORE (RFC 7162 §3.2.3).
                let mut enabled = String::from("* ENABLED");
                let mut highest = Vec::new();
                let qresync = caps.iter().any(|c| c == "QRESYNC");
                if (qresync || caps.iter().any(|c| c == "CONDSTORE")) && !self.condstore {
                    self.enable_condstore(&mut highest);
                    enabled.push_str(" CONDSTORE");
                }
                if qresync && !self.qresync {
                    self.qresync = true;
                    if let Some(v) = &mut self.view {
                        v.qresync = true;
                    }
                    enabled.push_str(" QRESYNC");
                }
                self.log(
                    level::LOW,
                    format_args!("ENABLE {} ->{}", caps.join(" "), &enabled[9..]),
                );
                conn.out.extend_from_slice(enabled.as_bytes());
                conn.out.extend_from_slice(b"\r\n");
                conn.out.extend_from_slice(&highest);
                conn.status(t, Status::Ok, None, "ENABLE completed");
            }
            CommandKind::Namespace if authed => {
                conn.out
                    .extend_from_slice(b"* NAMESPACE ((\"\" \"/\")) NIL NIL\r\n");
                self.done(conn, t, "NAMESPACE completed", true).await;
            }
            CommandKind::Select {
                mailbox,
                read_only,
                condstore,
                qresync,
            } if authed => {
                if qresync.is_some() && !self.qresync {
                    // RFC 7162 §3.2.5: QRESYNC must have been enabled.
                    conn.status(t, Status::Bad, None, "ENABLE QRESYNC first");
                    return Flow::Continue;
                }
                if condstore {
                    // SELECT (CONDSTORE) answers with HIGHESTMODSEQ itself.
                    self.condstore = true;
                }
                self.select(conn, t, mailbox, read_only, qresync).await
            }
            CommandKind::Create(name) if authed => self.create(conn, t, name).await,
            CommandKind::Delete(name) if authed => self.delete(conn, t, name).await,
            CommandKind::Rename { from, to } if authed => self.rename(conn, t, from, to).await,
            CommandKind::Subscribe(name) if authed => self.subscribe(conn, t, name, true).await,
            CommandKind::Unsubscribe(name) if authed => self.subscribe(conn, t, name, false).await,
            CommandKind::List {
                reference,
                patterns,
                lsub,
                select,
                ret,
            } if authed => {
                self.list(conn, t, &reference, &patterns, lsub, select, ret)
                    .await
            }
            CommandKind::Status { mailbox, items } if authed => {
                if items.contains(&StatusItem::HighestModSeq) {
                    self.enable_condstore(&mut conn.out);
                }
                self.status(conn, t, mailbox, items).await
            }
            CommandKind::Append { mailbox, messages } if authed => {
                self.append(conn, t, mailbox, messages).await
            }
            CommandKind::Idle if authed => return self.idle(conn, t).await,
            CommandKind::Close | CommandKind::Unselect if selected => {
                self.saved.clear();
                let view = self.view.take();
                if let (CommandKind::Close, Some(view)) = (&kind, view)
                    && !view.read_only
                {
                    // RFC 9051 §6.4.1: silently expunge \Deleted messages.
                    let known: Vec<Uid> = view.entries().iter().map(|e| e.uid).collect();
                    if let Err(e) = self.expunge_in(&view.name, known, None).await {
                        self.log(level::PROBLEM, format_args!("CLOSE expunge failed: {e}"));
                    }
                }
                conn.status(t, Status::Ok, None, "completed");
            }
            CommandKind::Expunge { uids } if selected => self.expunge(conn, t, uids).await,
            CommandKind::Search { uid, key, ret } if selected => {
                if uses_modseq(&key) {
                    self.enable_condstore(&mut conn.out);
                }
                self.search(conn, t, uid, key, ret).await
            }
            CommandKind::Fetch {
                uid,
                set,
                items,
                changed_since,
                vanished,
            } if selected => {
                if vanished && !(uid && self.qresync) {
                    // RFC 7162 §3.2.6: only UID FETCH, only under QRESYNC.
                    conn.status(t, Status::Bad, None, "VANISHED needs UID FETCH and QRESYNC");
                    return Flow::Continue;
                }
                if items.contains(&FetchItem::ModSeq) {
                    self.enable_condstore(&mut conn.out);
                }
                let since = changed_since.map(|s| (s, vanished));
                self.fetch(conn, t, uid, set, items, since).await
            }
            CommandKind::Store {
                uid,
                set,
                op,
                silent,
                flags,
                unchanged_since,
            } if selected => {
                if unchanged_since.is_some() {
                    self.enable_condstore(&mut conn.out);
                }
                let store = StoreArgs {
                    op,
                    silent,
                    flags,
                    unchanged_since,
                };
                self.store(conn, t, uid, set, store).await
            }
            CommandKind::Copy {
                uid,
                set,
                mailbox,
                is_move,
            } if selected => self.copy(conn, t, uid, set, mailbox, is_move).await,
            CommandKind::Sort {
                uid,
                criteria,
                key,
                ret,
            } if selected => {
                if uses_modseq(&key) {
                    self.enable_condstore(&mut conn.out);
                }
                self.sort(conn, t, uid, key, Arrange::Sort(criteria, ret))
                    .await
            }
            CommandKind::Thread {
                uid,
                algorithm,
                key,
            } if selected => {
                if uses_modseq(&key) {
                    self.enable_condstore(&mut conn.out);
                }
                self.sort(conn, t, uid, key, Arrange::Thread(algorithm))
                    .await
            }
            CommandKind::GetQuota(root) if authed => self.get_quota(conn, t, &root).await,
            CommandKind::GetQuotaRoot(name) if authed => self.get_quota_root(conn, t, name).await,
            CommandKind::SetQuota if authed => {
                // RFC 9208 §4.1.3: limits are the administrator's to set.
                conn.status(
                    t,
                    Status::No,
                    Some("NOPERM"),
                    "Quota limits are set by the administrator",
                );
            }
            _ => conn.status(t, Status::Bad, None, "Command not valid in this state"),
        }
        Flow::Continue
    }

    /// Sends pending updates (when selected) and the tagged OK.
    async fn done<IO: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        conn: &mut Conn<IO>,
        tag: &str,
        text: &str,
        allow_expunge: bool,
    ) {
        self.done_with(conn, tag, text, allow_expunge, None).await;
    }

    /// [`Driver::done`] with the selected mailbox as the command's own
    /// call left it (see [`Driver::sync_with`]).
    async fn done_with<IO: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        conn: &mut Conn<IO>,
        tag: &str,
        text: &str,
        allow_expunge: bool,
        fresh: Option<Fresh>,
    ) {
        self.sync_with(conn, allow_expunge, fresh).await;
        conn.status(tag, Status::Ok, None, text);
    }

    /// Brings the selected view up to date and queues the updates.
    async fn sync<IO>(&mut self, conn: &mut Conn<IO>, allow_expunge: bool) {
        self.sync_with(conn, allow_expunge, None).await;
    }

    /// [`Driver::sync`] from `fresh`, when given: the selected mailbox as
    /// the command that just ran left it, taken at the end of its own call
    /// under the account lock. It saves reading the mailbox again (a
    /// blocking-thread hop and the account lock per command); a change
    /// another session makes after it is reported at the next command, as
    /// it would be had it come a moment later.
    async fn sync_with<IO>(
        &mut self,
        conn: &mut Conn<IO>,
        allow_expunge: bool,
        fresh: Option<Fresh>,
    ) {
        let (Some(auth), Some(view)) = (&self.auth, &self.view) else {
            return;
        };
        let accounts = &self.services.accounts;
        let synced = view.synced;
        let mut got = match fresh {
            Some(f) => Ok(f),
            None => {
                accounts
                    .read_mailbox(&auth.account, auth.kind, &view.name, move |m| {
                        Ok(fresh_of(m, synced))
                    })
                    .await
            }
        };
        if let Ok(Fresh { snap: Some(s), .. }) = &got
            && s.first_recent < s.uid_next
            && !view.read_only
        {
            // RFC 3501 §2.3.2: new mail is recent to the first session
            // told of it; this one takes it.
            got = accounts
                .update_mailbox(&auth.account, auth.kind, &view.name, move |m| {
                    Ok(Fresh {
                        snap: Some(claimed_snapshot(m, synced)?),
                        stamp: stamp_of(m),
                    })
                })
                .await;
        }
        match got {
            Ok(Fresh {
                stamp,
                snap: Some(snap),
            }) => {
                if let Some(view) = &mut self.view {
                    let updates = view.sync(&snap, allow_expunge);
                    conn.out.extend_from_slice(&updates);
                    // Nothing held back (expunges wait for a command that
                    // may tell them): the view is this state.
                    if view.entries().len() == stamp.messages {
                        view.synced = Some(stamp);
                    }
                }
            }
            Ok(Fresh { snap: None, .. }) => {}
            Err(e) => self.log(
                level::PROBLEM,
                format_args!("cannot update the selected mailbox: {e}"),
            ),
        }
    }

    /// Finishes LOGIN or AUTHENTICATE with a verified `account` (`None`:
    /// bad credentials): here, or on the member that holds the account.
    async fn login<IO: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        conn: &mut Conn<IO>,
        tag: &str,
        account: Result<Option<AccountRef>, Undecided>,
        user: &str,
        method: &str,
    ) -> Flow {
        let Ok(account) = account else {
            self.log(
                level::PROBLEM,
                format_args!("'{user}' {method} undecided: the cluster cannot be asked"),
            );
            conn.status(
                tag,
                Status::No,
                Some("UNAVAILABLE"),
                "The credentials cannot be checked now; try again later",
            );
            return Flow::Continue;
        };
        let Some(account) = account else {
            self.log(
                level::PROBLEM,
                format_args!("'{user}' {method} failed: bad credentials"),
            );
            conn.status(
                tag,
                Status::No,
                Some("AUTHENTICATIONFAILED"),
                "Authentication failed",
            );
            return Flow::Continue;
        };
        match self.services.accounts.pin(&account).await {
            Ok(pin) => {
                self.logged_in(conn, tag, pin, method).await;
                Flow::Continue
            }
            Err(cluster::Error::AccountBusy { node }) => {
                let handoff = SessionHandoff {
                    protocol: SessionProtocol::Imap,
                    account,
                    client: self.ctx.clone(),
                    tls: self.tls_active,
                    tag: tag.to_string(),
                    method: method.to_string(),
                };
                match self.services.cluster.open_session(node, handoff).await {
                    Ok(holder) => {
                        self.log(
                            level::LOW,
                            format_args!("'{user}' session handed to member {node}"),
                        );
                        Flow::Handoff(holder)
                    }
                    Err(e) => {
                        self.unavailable(conn, tag, user, &e);
                        Flow::Continue
                    }
                }
            }
            Err(e) => {
                self.unavailable(conn, tag, user, &e);
                Flow::Continue
            }
        }
    }

    /// Refuses a login whose account cannot be opened now.
    fn unavailable<IO>(&self, conn: &mut Conn<IO>, tag: &str, user: &str, e: &cluster::Error) {
        self.log(
            level::PROBLEM,
            format_args!("'{user}' login failed: cannot open the account: {e}"),
        );
        conn.status(
            tag,
            Status::No,
            Some("UNAVAILABLE"),
            "The account cannot be opened now; try again later",
        );
    }

    /// Enters the authenticated state for the pinned account and answers
    /// the login command.
    async fn logged_in<IO: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        conn: &mut Conn<IO>,
        tag: &str,
        pin: SessionPin,
        method: &str,
    ) {
        let account = pin.account().clone();
        // The account may have been deleted since the password check.
        let kind = self
            .services
            .cluster
            .read(|s| s.directory.account(&account).map(|a| a.kind));
        let Some(kind) = kind else {
            conn.status(
                tag,
                Status::No,
                Some("AUTHENTICATIONFAILED"),
                "Authentication failed",
            );
            return;
        };
        if kind != AccountKind::TextMailbox {
            self.ensure_special_use(&account).await;
        }
        self.log(level::LOW, format_args!("'{account}' logged in ({method})"));
        let changes = self.services.accounts.watch(&account);
        self.auth = Some(Auth {
            account,
            kind,
            changes,
            _pin: pin,
        });
        let code = format!("CAPABILITY {}", self.capability());
        conn.status(tag, Status::Ok, Some(&code), "Logged in");
    }

    /// Creates missing special-use mailboxes (RFC 6154), lazily at login.
    async fn ensure_special_use(&self, account: &AccountRef) {
        // Looked at first without the write lock's cost (it closes the
        // cached INBOX): after the first login they all exist.
        let target = account.clone();
        let existing = self
            .services
            .accounts
            .read_account(account, move |store| {
                store.list_mailboxes(target.storage_domain(), &target.name)
            })
            .await;
        if existing.is_ok_and(|e| SPECIAL_USE.iter().all(|(n, _)| e.iter().any(|m| m == n))) {
            return;
        }
        let target = account.clone();
        let made = self
            .services
            .accounts
            .with_account(account, move |store| {
                let domain = target.storage_domain();
                let existing = store.list_mailboxes(domain, &target.name)?;
                let mut made = Vec::new();
                for (name, _) in SPECIAL_USE {
                    if !existing.iter().any(|m| m == name) {
                        match store.create_mailbox(
                            domain,
                            &target.name,
                            name,
                            Some(MailboxFormat::Mbox),
                        ) {
                            Ok(()) | Err(storage::Error::MailboxExists(_)) => made.push(name),
                            Err(e) => return Err(e),
                        }
                    }
                }
                Ok(made)
            })
            .await;
        match made {
            Ok(made) if !made.is_empty() => {
                self.log(level::LOW, format_args!("created {}", made.join(", ")))
            }
            Ok(_) => {}
            Err(e) => self.log(
                level::PROBLEM,
                format_args!("cannot create special-use mailboxes: {e}"),
            ),
        }
    }

    /// Logs a failed SASL exchange and answers `NO [AUTHENTICATIONFAILED]`.
    fn sasl_failed<IO>(
        &self,
        conn: &mut Conn<IO>,
        tag: &str,
        mechanism: &str,
        e: &crate::sasl::SaslError,
    ) {
        self.log(
            level::PROBLEM,
            format_args!("AUTHENTICATE {mechanism} failed: {e}"),
        );
        conn.status(
            tag,
            Status::No,
            Some("AUTHENTICATIONFAILED"),
            "Authentication failed",
        );
    }

    async fn authenticate<IO: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        conn: &mut Conn<IO>,
        tag: &str,
        mechanism: &str,
        initial: Option<&str>,
    ) -> Flow {
        let (mut sasl, mut step) = match Sasl::start(mechanism, initial) {
            Ok(s) => s,
            Err(crate::sasl::SaslError::Unsupported) => {
                conn.status(tag, Status::No, Some("CANNOT"), "Unsupported mechanism");
                return Flow::Continue;
            }
            Err(e) => {
                self.sasl_failed(conn, tag, mechanism, &e);
                return Flow::Continue;
            }
        };
        loop {
            match step {
                SaslStep::Done {
                    authzid,
                    user,
                    password,
                } => {
                    let account = self
                        .services
                        .admin
                        .verify_sasl(authzid.as_deref(), &user, &password)
                        .await;
                    return self
                        .login(
                            conn,
                            tag,
                            account,
                            &user,
                            &format!("AUTHENTICATE {mechanism}"),
                        )
                        .await;
                }
                SaslStep::Challenge(challenge) => {
                    conn.out
                        .extend_from_slice(format!("+ {challenge}\r\n").as_bytes());
                }
            }
            let line = match conn.next_frame().await {
                Ok(Frame::Command(line)) => line,
                Ok(_) => {
                    conn.status(tag, Status::Bad, None, "Malformed SASL response");
                    return Flow::Continue;
                }
                Err(e) => return Flow::Ended(e),
            };
            step = match sasl.step(&String::from_utf8_lossy(&line)) {
                Ok(s) => s,
                Err(crate::sasl::SaslError::Cancelled) => {
                    conn.status(tag, Status::Bad, None, "Authentication cancelled");
                    return Flow::Continue;
                }
                Err(e) => {
                    self.sasl_failed(conn, tag, mechanism, &e);
                    return Flow::Continue;
                }
            };
        }
    }

    fn auth(&self) -> (AccountRef, AccountKind) {
        let a = self
            .auth
            .as_ref()
            .expect("commands of the authenticated state run only after login");
        (a.account.clone(), a.kind)
    }

    fn refuse<IO>(&self, conn: &mut Conn<IO>, tag: &str, what: &str, e: &cluster::Error) {
        self.log(level::PROBLEM, format_args!("{what} failed: {e}"));
        let r = refusal(e);
        conn.status(tag, Status::No, r.code, r.text);
    }

    async fn select<IO: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        conn: &mut Conn<IO>,
        tag: &str,
        name: String,
        read_only: bool,
        qresync: Option<Qresync>,
    ) {
        // RFC 5182 §2.1: the saved result belongs to the mailbox.
        self.saved.clear();
        // RFC 9051 §6.3.2: a failed SELECT leaves no mailbox selected.
        // RFC 7162 §3.2.11: under QRESYNC, say that the old one closed.
        if self.view.take().is_some() && self.qresync {
            conn.status("*", Status::Ok, Some("CLOSED"), "Previous mailbox closed");
        }
        let (account, kind) = self.auth();
        let since = qresync.as_ref().map(|q| q.modseq);
        let accounts = &self.services.accounts;
        // RFC 3501 §2.3.2: SELECT takes the recent messages from other
        // sessions; EXAMINE shows them as recent but leaves them so.
        let snap = if read_only {
            accounts
                .read_mailbox(&account, kind, &name, move |m| {
                    let expunged = since.and_then(|s| m.expunged_since(s));
                    Ok((snapshot_of(m, None), expunged))
                })
                .await
        } else {
            accounts
                .update_mailbox(&account, kind, &name, move |m| {
                    let expunged = since.and_then(|s| m.expunged_since(s));
                    Ok((claimed_snapshot(m, None)?, expunged))
                })
                .await
        };
        let (snap, expunged) = match snap {
            Ok(s) => s,
            Err(e) => return self.refuse(conn, tag, "SELECT", &e),
        };
        let mut view = View::new(name, read_only, &snap);
        view.condstore = self.condstore;
        view.qresync = self.qresync;
        let flags = view.flags_responses();
        let (first, permanent) = flags.split_once("\r\n").unwrap_or_default();
        let mut out = format!(
            "{first}\r\n* {} EXISTS\r\n* {} RECENT\r\n",
            view.exists(),
            view.recent()
        );
        if let Some(i) = view
            .entries()
            .iter()
            .position(|e| !e.flags.contains(Flags::SEEN))
        {
            out.push_str(&format!("* OK [UNSEEN {}] First unseen\r\n", i + 1));
        }
        out.push_str(&format!(
            "* OK [UIDVALIDITY {}] UIDs valid\r\n* OK [UIDNEXT {}] Predicted next UID\r\n",
            snap.uid_validity, snap.uid_next
        ));
        out.push_str(permanent);
        out.push_str(&format!(
            "* OK [HIGHESTMODSEQ {}] Highest\r\n",
            snap.highest_modseq
        ));
        conn.out.extend_from_slice(out.as_bytes());
        // RFC 7162 §3.2.5.2: resynchronize only within the same UIDVALIDITY.
        if let Some(q) = qresync.filter(|q| q.uid_validity == snap.uid_validity) {
            // The sequence match data only helps servers that cannot
            // tell what was expunged; without the history every unknown
            // UID is reported instead, so it is not needed here.
            let updates = view.resync(q.modseq, q.known_uids.as_ref(), expunged.as_deref());
            conn.out.extend_from_slice(&updates);
        }
        let code = if read_only { "READ-ONLY" } else { "READ-WRITE" };
        conn.status(
            tag,
            Status::Ok,
            Some(code),
            if read_only {
                "EXAMINE completed"
            } else {
                "SELECT completed"
            },
        );
        self.view = Some(view);
    }

    async fn create<IO: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        conn: &mut Conn<IO>,
        tag: &str,
        name: String,
    ) {
        if name.eq_ignore_ascii_case("INBOX") {
            conn.status(
                tag,
                Status::No,
                Some("ALREADYEXISTS"),
                "INBOX always exists",
            );
            return;
        }
        let (account, _) = self.auth();
        let target = account.clone();
        let r = self
            .services
            .accounts
            .with_account(&account, move |s| {
                s.create_mailbox(target.storage_domain(), &target.name, &name, None)
            })
            .await;
        match r {
            Ok(()) => self.done(conn, tag, "CREATE completed", true).await,
            Err(e) => self.refuse(conn, tag, "CREATE", &e),
        }
    }

    async fn delete<IO: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        conn: &mut Conn<IO>,
        tag: &str,
        name: String,
    ) {
        if name == "INBOX" {
            conn.status(tag, Status::No, Some("CANNOT"), "INBOX cannot be deleted");
            return;
        }
        if self.view.as_ref().is_some_and(|v| v.name == name) {
            self.view = None;
        }
        let (account, _) = self.auth();
        let target = account.clone();
        let r = self
            .services
            .accounts
            .with_account(&account, move |s| {
                s.delete_mailbox(target.storage_domain(), &target.name, &name)
            })
            .await;
        match r {
            Ok(()) => self.done(conn, tag, "DELETE completed", true).await,
            Err(e) => self.refuse(conn, tag, "DELETE", &e),
        }
    }

    async fn rename<IO: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        conn: &mut Conn<IO>,
        tag: &str,
        from: String,
        to: String,
    ) {
        let (account, _) = self.auth();
        let target = account.clone();
        let r = self
            .services
            .accounts
            .with_account(&account, move |s| {
                let (domain, user) = (target.storage_domain(), &target.name);
                if from != "INBOX" {
                    return s.rename_mailbox(domain, user, &from, &to);
                }
                // RFC 9051 §6.3.6: renaming INBOX moves its messages to the
                // new mailbox and leaves INBOX empty.
                s.create_mailbox(domain, user, &to, None)?;
                let mut inbox = s.open_mailbox(domain, user, "INBOX")?;
                let mut dest = s.open_mailbox(domain, user, &to)?;
                let infos: Vec<_> = inbox.messages().to_vec();
                for info in &infos {
                    let bytes = inbox.read(info.uid)?;
                    dest.append_with_keywords(
                        &[NewMessage {
                            bytes: &bytes,
                            flags: info.flags,
                            internal_date: info.internal_date,
                            key: None,
                            return_path: "",
                        }],
                        std::slice::from_ref(&info.keywords),
                    )?;
                }
                let uids: Vec<Uid> = infos.iter().map(|i| i.uid).collect();
                inbox.expunge(&uids)
            })
            .await;
        match r {
            Ok(()) => self.done(conn, tag, "RENAME completed", true).await,
            Err(e) => self.refuse(conn, tag, "RENAME", &e),
        }
    }

    async fn subscribe<IO: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        conn: &mut Conn<IO>,
        tag: &str,
        name: String,
        on: bool,
    ) {
        let (account, _) = self.auth();
        let target = account.clone();
        let r = self
            .services
            .accounts
            .with_account(&account, move |s| {
                let (domain, user) = (target.storage_domain(), &target.name);
                let mut subs = s.read_subscriptions(domain, user)?;
                if on {
                    // RFC 9051 §6.3.7: only existing mailboxes.
                    if !s.list_mailboxes(domain, user)?.contains(&name) {
                        return Err(storage::Error::MailboxNotFound(name));
                    }
                    if !subs.contains(&name) {
                        subs.push(name);
                        s.write_subscriptions(domain, user, &subs)?;
                    }
                } else if let Some(i) = subs.iter().position(|n| *n == name) {
                    subs.remove(i);
                    s.write_subscriptions(domain, user, &subs)?;
                }
                Ok(())
            })
            .await;
        let what = if on { "SUBSCRIBE" } else { "UNSUBSCRIBE" };
        match r {
            Ok(()) => {
                self.done(conn, tag, &format!("{what} completed"), true)
                    .await
            }
            Err(e) => self.refuse(conn, tag, what, &e),
        }
    }

    /// LIST and LSUB (RFC 9051 §6.3.9, RFC 3501 §6.3.9) with the RFC 5258
    /// selection and return options and RFC 5819 STATUS.
    #[allow(clippy::too_many_arguments)]
    async fn list<IO: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        conn: &mut Conn<IO>,
        tag: &str,
        reference: &str,
        patterns: &[String],
        lsub: bool,
        select: ListSelect,
        ret: ListReturn,
    ) {
        let what = if lsub { "LSUB" } else { "LIST" };
        let empty = !patterns.is_empty() && patterns.iter().all(String::is_empty);
        if !lsub && !ret.extended && empty {
            // RFC 9051 §6.3.9: the hierarchy delimiter and root.
            conn.out
                .extend_from_slice(b"* LIST (\\Noselect) \"/\" \"\"\r\n");
            self.done(conn, tag, "LIST completed", true).await;
            return;
        }
        let (account, kind) = self.auth();
        let target = account.clone();
        let r = self
            .services
            .accounts
            .read_account(&account, move |s| {
                let (domain, user) = (target.storage_domain(), &target.name);
                Ok((
                    s.list_mailboxes(domain, user)?,
                    s.read_subscriptions(domain, user)?,
                ))
            })
            .await;
        let (names, subs) = match r {
            Ok(n) => n,
            Err(e) => return self.refuse(conn, tag, what, &e),
        };
        let full: Vec<String> = patterns
            .iter()
            .filter(|p| !p.is_empty())
            .map(|p| canonical_pattern(&format!("{reference}{p}")))
            .collect();
        let lines = list_lines(&names, &subs, &full, lsub, select, &ret);
        for line in lines {
            let mut out = format!("* {what} ({}) \"/\" ", line.attrs.join(" ")).into_bytes();
            response::mailbox(&mut out, &line.name);
            if line.childinfo {
                out.extend_from_slice(b" (\"CHILDINFO\" (\"SUBSCRIBED\"))");
            }
            out.extend_from_slice(b"\r\n");
            conn.out.extend_from_slice(&out);
            if let Some(items) = ret.status.clone().filter(|_| line.selectable) {
                let name = line.name.clone();
                let r = self
                    .services
                    .accounts
                    .read_mailbox(&account, kind, &name, move |m| Ok(status_values(m, &items)))
                    .await;
                match r {
                    Ok(values) => {
                        let mut out = b"* STATUS ".to_vec();
                        response::mailbox(&mut out, &line.name);
                        out.extend_from_slice(format!(" ({values})\r\n").as_bytes());
                        conn.out.extend_from_slice(&out);
                    }
                    Err(e) => self.log(
                        level::PROBLEM,
                        format_args!("LIST STATUS of {} failed: {e}", line.name),
                    ),
                }
            }
        }
        self.done(conn, tag, &format!("{what} completed"), true)
            .await;
    }

    async fn status<IO: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        conn: &mut Conn<IO>,
        tag: &str,
        name: String,
        items: Vec<StatusItem>,
    ) {
        let (account, kind) = self.auth();
        let r = self
            .services
            .accounts
            .read_mailbox(&account, kind, &name, move |m| Ok(status_values(m, &items)))
            .await;
        match r {
            Ok(items) => {
                let mut out = b"* STATUS ".to_vec();
                response::mailbox(&mut out, &name);
                out.extend_from_slice(format!(" ({items})\r\n").as_bytes());
                conn.out.extend_from_slice(&out);
                self.done(conn, tag, "STATUS completed", true).await;
            }
            Err(e) => self.refuse(conn, tag, "STATUS", &e),
        }
    }

    /// APPEND of one or more messages (RFC 3502): stored in one batch,
    /// so all or none.
    async fn append<IO: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        conn: &mut Conn<IO>,
        tag: &str,
        name: String,
        messages: Vec<AppendMessage>,
    ) {
        let mut batch = Vec::with_capacity(messages.len());
        for m in messages {
            if m.message.is_empty() {
                conn.status(tag, Status::No, None, "Empty message");
                return;
            }
            let bytes = match store_binary(&m.message, m.binary) {
                Ok(Some(encoded)) => encoded,
                Ok(None) => m.message,
                Err(Unstorable) => {
                    // RFC 3516 §4.3: binary content that cannot be stored.
                    conn.status(
                        tag,
                        Status::No,
                        Some("UNKNOWN-CTE"),
                        "Binary data outside a part that can be re-encoded",
                    );
                    return;
                }
            };
            let date = m.date.unwrap_or_else(|| chrono::Utc::now().timestamp());
            batch.push((crlf(bytes), m.flags, date));
        }
        let (account, kind) = self.auth();
        if let Some(limit) = self.quota_limit() {
            // RFC 9208 §5.1: an APPEND past the storage limit fails. The
            // check and the append are two steps: a delivery in between
            // may pass the limit by one message.
            let size: u64 = batch.iter().map(|(b, _, _)| b.len() as u64).sum();
            match self.quota_usage().await {
                Ok(used) if quota::over(used, size, Some(limit)) => {
                    conn.status(tag, Status::No, Some("OVERQUOTA"), "Mailbox quota exceeded");
                    return;
                }
                Ok(_) => {}
                Err(e) => return self.refuse(conn, tag, "APPEND", &e),
            }
        }
        // The view's stamp, when the mailbox is the selected one.
        let selected = self
            .view
            .as_ref()
            .filter(|v| v.name == name)
            .map(|v| v.synced);
        let r = self
            .services
            .accounts
            .with_mailbox(&account, kind, &name, move |m| {
                let new: Vec<NewMessage<'_>> = batch
                    .iter()
                    .map(|(bytes, flags, internal_date)| NewMessage {
                        bytes,
                        flags: flags.system,
                        internal_date: *internal_date,
                        key: None,
                        return_path: "",
                    })
                    .collect();
                let keywords: Vec<Vec<String>> =
                    batch.iter().map(|(_, f, _)| f.keywords.clone()).collect();
                let uids = m.append_with_keywords(&new, &keywords)?;
                let fresh = selected.map(|synced| fresh_of(m, synced));
                Ok((m.uid_validity(), uids, fresh))
            })
            .await;
        match r {
            Ok((validity, uids, snap)) => {
                self.sync_with(conn, true, snap).await;
                // RFC 4315 §3 with RFC 3502: the UIDs of all the messages.
                conn.status(
                    tag,
                    Status::Ok,
                    Some(&format!("APPENDUID {validity} {}", uid_set(&uids))),
                    "APPEND completed",
                );
            }
            Err(e) if is_not_found(&e) => {
                conn.status(tag, Status::No, Some("TRYCREATE"), "No such mailbox");
            }
            Err(e) => self.refuse(conn, tag, "APPEND", &e),
        }
    }

    /// The account's storage limit in bytes (`None`: unlimited), from its
    /// effective `MaxAccountSize` setting in the directory.
    fn quota_limit(&self) -> Option<u64> {
        let (account, _) = self.auth();
        let text = self.services.cluster.read(|s| {
            s.directory
                .effective_settings(&account)
                .and_then(|mut m| m.remove(quota::LIMIT_SETTING))
        })?;
        quota::parse_limit(&text)
    }

    /// The bytes stored in all the account's mailboxes.
    async fn quota_usage(&self) -> cluster::Result<u64> {
        let (account, _) = self.auth();
        let target = account.clone();
        self.services
            .accounts
            .with_account(&account, move |s| account_usage(s, &target))
            .await
    }

    /// RFC 9208 §4.2: the one root `""`, when the account has a limit.
    async fn get_quota<IO: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        conn: &mut Conn<IO>,
        tag: &str,
        root: &str,
    ) {
        let limit = self.quota_limit();
        let Some(limit) = limit.filter(|_| root == quota::ROOT) else {
            conn.status(tag, Status::No, Some("NONEXISTENT"), "No such quota root");
            return;
        };
        match self.quota_usage().await {
            Ok(used) => {
                conn.out
                    .extend_from_slice(quota::quota_response(used, limit).as_bytes());
                self.done(conn, tag, "GETQUOTA completed", true).await;
            }
            Err(e) => self.refuse(conn, tag, "GETQUOTA", &e),
        }
    }

    /// RFC 9208 §4.3: the roots of a mailbox (and their quotas).
    async fn get_quota_root<IO: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        conn: &mut Conn<IO>,
        tag: &str,
        name: String,
    ) {
        let (account, kind) = self.auth();
        let exists = self
            .services
            .accounts
            .read_mailbox(&account, kind, &name, |_| Ok(()))
            .await;
        if let Err(e) = exists {
            return self.refuse(conn, tag, "GETQUOTAROOT", &e);
        }
        let limit = self.quota_limit();
        let mut out = quota::quota_root_response(&name, limit.is_some());
        if let Some(limit) = limit {
            match self.quota_usage().await {
                Ok(used) => out.push_str(&quota::quota_response(used, limit)),
                Err(e) => return self.refuse(conn, tag, "GETQUOTAROOT", &e),
            }
        }
        conn.out.extend_from_slice(out.as_bytes());
        self.done(conn, tag, "GETQUOTAROOT completed", true).await;
    }

    /// RFC 2177 IDLE: updates are sent as they happen until `DONE`.
    async fn idle<IO: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        conn: &mut Conn<IO>,
        tag: &str,
    ) -> Flow {
        conn.out.extend_from_slice(b"+ idling\r\n");
        let mut changes = match &self.auth {
            Some(a) => a.changes.clone(),
            None => return Flow::Continue,
        };
        changes.mark_unchanged();
        self.sync(conn, true).await;
        loop {
            if let Some(frame) = conn.rx.next_frame() {
                match frame {
                    Frame::Command(line) if line.eq_ignore_ascii_case(b"DONE") => {
                        self.done(conn, tag, "IDLE terminated", true).await;
                    }
                    _ => conn.status(tag, Status::Bad, None, "Expected DONE"),
                }
                return Flow::Continue;
            }
            if let Err(e) = conn.flush().await {
                return Flow::Ended(e);
            }
            tokio::select! {
                // Cancel-safe: a read that loses the race has consumed nothing.
                read = conn.read_some() => {
                    if let Err(e) = read {
                        return Flow::Ended(e);
                    }
                },
                changed = changes.changed() => {
                    if changed.is_err() {
                        // The hub dropped the account's channel: resubscribe.
                        if let Some(a) = &self.auth {
                            changes = self.services.accounts.watch(&a.account);
                        }
                    }
                    self.sync(conn, true).await;
                }
            }
        }
    }

    /// Expunges the `\Deleted` messages among `known` (and `only`, for
    /// UID EXPUNGE) from `name`; returns the expunged UIDs ascending.
    async fn expunge_in(
        &self,
        name: &str,
        known: Vec<Uid>,
        only: Option<SequenceSet>,
    ) -> cluster::Result<(Vec<Uid>, Fresh)> {
        let (account, kind) = self.auth();
        let synced = self.view.as_ref().and_then(|v| v.synced);
        let max_uid = known.last().map_or(0, |u| u.0);
        self.services
            .accounts
            .update_mailbox(&account, kind, name, move |m| {
                let doomed: Vec<Uid> = m
                    .messages()
                    .iter()
                    .filter(|i| i.flags.contains(Flags::DELETED))
                    .filter(|i| known.binary_search(&i.uid).is_ok())
                    .filter(|i| only.as_ref().is_none_or(|s| s.contains(i.uid.0, max_uid)))
                    .map(|i| i.uid)
                    .collect();
                m.expunge(&doomed)?;
                Ok((doomed, fresh_of(m, synced)))
            })
            .await
    }

    fn view(&self) -> &View {
        self.view
            .as_ref()
            .expect("commands of the selected state run only with a view")
    }

    async fn expunge<IO: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        conn: &mut Conn<IO>,
        tag: &str,
        only: Option<SequenceSet>,
    ) {
        if self.view().read_only {
            conn.status(tag, Status::No, Some("READ-ONLY"), "Mailbox is read-only");
            return;
        }
        let name = self.view().name.clone();
        let known: Vec<Uid> = self.view().entries().iter().map(|e| e.uid).collect();
        match self.expunge_in(&name, known, only).await {
            Ok((gone, snap)) => {
                self.report_expunged(conn, &gone);
                self.done_with(conn, tag, "EXPUNGE completed", true, Some(snap))
                    .await;
            }
            Err(e) => self.refuse(conn, tag, "EXPUNGE", &e),
        }
    }

    fn report_expunged<IO>(&mut self, conn: &mut Conn<IO>, gone: &[Uid]) {
        let Some(view) = &mut self.view else { return };
        let out = view.expunged(gone);
        conn.out.extend_from_slice(&out);
    }

    /// The messages a set names, or a BAD when a number is out of range.
    fn targets<IO>(
        &self,
        conn: &mut Conn<IO>,
        tag: &str,
        uid: bool,
        set: &SequenceSet,
    ) -> Option<Vec<Target>> {
        let view = self.view();
        if !uid && view.out_of_range(set) {
            conn.status(tag, Status::Bad, None, "Invalid message sequence number");
            return None;
        }
        Some(view.resolve(set, uid))
    }

    async fn search<IO: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        conn: &mut Conn<IO>,
        tag: &str,
        uid: bool,
        key: SearchKey,
        ret: Option<SearchReturn>,
    ) {
        let (account, kind) = self.auth();
        let view = self.view();
        let entries: Vec<Entry> = view.entries().to_vec();
        let name = view.name.clone();
        let with_modseq = uses_modseq(&key);
        let cache = std::mem::take(&mut self.fetch_cache);
        let mailbox = name.clone();
        let r = self
            .services
            .accounts
            .read_mailbox(&account, kind, &name, move |m| {
                let max_seq = entries.len() as u32;
                let max_uid = entries.last().map_or(0, |e| e.uid.0);
                let content = needs_content(&key);
                let mut cache = cache.for_mailbox(&mailbox, m.uid_validity());
                if content == Content::Header {
                    cache.forget_expunged(m);
                }
                let mut hits = Vec::new();
                let mut modseqs = Vec::new();
                for (i, e) in entries.iter().enumerate() {
                    let Some(info) = m.info(e.uid) else { continue };
                    let whole;
                    let raw = match content {
                        Content::None => None,
                        Content::Header => Some(cached_header(m, e.uid, &mut cache)?),
                        Content::Whole => {
                            whole = m.read(e.uid)?;
                            Some(&whole[..])
                        }
                    };
                    let parsed = raw.map(Parsed::new);
                    let c = Candidate {
                        seq: i as u32 + 1,
                        uid: e.uid.0,
                        flags: info.flags,
                        keywords: &info.keywords,
                        modseq: info.modseq,
                        recent: e.recent,
                        size: info.size,
                        internal_date: info.internal_date,
                        max_seq,
                        max_uid,
                        parsed: parsed.as_ref(),
                    };
                    if matches(&key, &c) {
                        hits.push(if uid { e.uid.0 } else { i as u32 + 1 });
                        modseqs.push(info.modseq);
                    }
                }
                Ok((hits, modseqs, cache))
            })
            .await;
        match r {
            Ok((hits, modseqs, cache)) => {
                self.fetch_cache = cache;
                if let Some(ret) = ret.filter(|r| r.save) {
                    self.save_result(uid, ret, &hits);
                }
                let modseq = result_modseq(ret, &modseqs).filter(|_| with_modseq);
                let line = match ret {
                    Some(ret) if ret.only_save() => String::new(),
                    Some(ret) => response::esearch(tag, uid, ret, &hits, modseq),
                    None => {
                        let mut line = String::from("* SEARCH");
                        for h in &hits {
                            line.push_str(&format!(" {h}"));
                        }
                        if let Some(m) = modseq {
                            line.push_str(&format!(" (MODSEQ {m})"));
                        }
                        line.push_str("\r\n");
                        line
                    }
                };
                conn.out.extend_from_slice(line.as_bytes());
                self.done(conn, tag, "SEARCH completed", uid).await;
            }
            Err(e) => {
                // RFC 5182 §2.4: a failed SEARCH ... SAVE empties `$`.
                if ret.is_some_and(|r| r.save) {
                    self.saved.clear();
                }
                self.refuse(conn, tag, "SEARCH", &e)
            }
        }
    }

    /// Keeps a SEARCH result for `$` (RFC 5182 §2.4): MIN and/or MAX only
    /// when asked without ALL or COUNT, else every match. `hits` are UIDs
    /// with `uid`, else message numbers, ascending.
    fn save_result(&mut self, uid: bool, ret: SearchReturn, hits: &[u32]) {
        let view = self.view();
        let to_uid = |n: u32| {
            if uid {
                Some(Uid(n))
            } else {
                let i = n.checked_sub(1)? as usize;
                view.entries().get(i).map(|e| e.uid)
            }
        };
        let picked: Vec<u32> = if (ret.min || ret.max) && !(ret.all || ret.count) {
            let mut p = Vec::new();
            if let (true, Some(&m)) = (ret.min, hits.first()) {
                p.push(m);
            }
            if let (true, Some(&m)) = (ret.max, hits.last())
                && p.last() != Some(&m)
            {
                p.push(m);
            }
            p
        } else {
            hits.to_vec()
        };
        self.saved = picked.into_iter().filter_map(to_uid).collect();
    }

    /// SORT or THREAD (RFC 5256 §3).
    async fn sort<IO: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        conn: &mut Conn<IO>,
        tag: &str,
        uid: bool,
        key: SearchKey,
        arrange: Arrange,
    ) {
        let (account, kind) = self.auth();
        let view = self.view();
        let entries: Vec<Entry> = view.entries().to_vec();
        let name = view.name.clone();
        let with_modseq = uses_modseq(&key);
        let r = self
            .services
            .accounts
            .read_mailbox(&account, kind, &name, move |m| {
                let max_seq = entries.len() as u32;
                let max_uid = entries.last().map_or(0, |e| e.uid.0);
                let mut hits = Vec::new();
                let mut top_modseq = 0;
                for (i, e) in entries.iter().enumerate() {
                    let Some(info) = m.info(e.uid) else { continue };
                    // Every key but ARRIVAL and SIZE reads the header.
                    let bytes = m.read(e.uid)?;
                    let parsed = Parsed::new(&bytes);
                    let c = Candidate {
                        seq: i as u32 + 1,
                        uid: e.uid.0,
                        flags: info.flags,
                        keywords: &info.keywords,
                        modseq: info.modseq,
                        recent: e.recent,
                        size: info.size,
                        internal_date: info.internal_date,
                        max_seq,
                        max_uid,
                        parsed: Some(&parsed),
                    };
                    if !matches(&key, &c) {
                        continue;
                    }
                    top_modseq = top_modseq.max(info.modseq);
                    let (subject, reply) = base_subject_and_reply(&parsed.subject());
                    hits.push(SortFields {
                        id: if uid { e.uid.0 } else { i as u32 + 1 },
                        arrival: info.internal_date,
                        date: parsed.sent_time().unwrap_or(info.internal_date),
                        size: info.size,
                        subject,
                        reply,
                        message_id: parsed.message_id(),
                        references: parsed.references(),
                        from: parsed.first_mailbox("From").to_ascii_uppercase(),
                        to: parsed.first_mailbox("To").to_ascii_uppercase(),
                        cc: parsed.first_mailbox("Cc").to_ascii_uppercase(),
                        display_from: parsed.display_name("From"),
                        display_to: parsed.display_name("To"),
                    });
                }
                Ok((hits, top_modseq))
            })
            .await;
        let (mut hits, top_modseq) = match r {
            Ok(r) => r,
            Err(e) => {
                // RFC 5182 §2.4: a failed SAVE empties `$`.
                if let Arrange::Sort(_, Some(r)) = &arrange
                    && r.save
                {
                    self.saved.clear();
                }
                return self.refuse(conn, tag, "SORT", &e);
            }
        };
        let line = match &arrange {
            Arrange::Sort(criteria, Some(ret)) => {
                sort(&mut hits, criteria);
                let ids: Vec<u32> = hits.iter().map(|h| h.id).collect();
                if ret.save {
                    self.save_result(uid, *ret, &ids);
                }
                // RFC 5267 §3.2: MIN and MAX are the first and last in sort
                // order, ALL is in sort order (runs compressed).
                let modseq = (with_modseq && !hits.is_empty()).then_some(top_modseq);
                let mut line = if ret.only_save() {
                    String::new()
                } else {
                    response::esearch(tag, uid, *ret, &ids, modseq)
                };
                line.truncate(line.trim_end().len());
                line
            }
            Arrange::Sort(criteria, None) => {
                sort(&mut hits, criteria);
                let mut line = String::from("* SORT");
                for h in &hits {
                    line.push_str(&format!(" {}", h.id));
                }
                // RFC 7162 §3.1.5: as for SEARCH.
                if with_modseq && !hits.is_empty() {
                    line.push_str(&format!(" (MODSEQ {top_modseq})"));
                }
                line
            }
            Arrange::Thread(algorithm) => {
                let threads = match algorithm {
                    ThreadAlgorithm::OrderedSubject => ordered_subject(&hits),
                    ThreadAlgorithm::References => references(&hits),
                };
                if threads.is_empty() {
                    "* THREAD".to_owned()
                } else {
                    format!("* THREAD {threads}")
                }
            }
        };
        if !line.is_empty() {
            conn.out.extend_from_slice(line.as_bytes());
            conn.out.extend_from_slice(b"\r\n");
        }
        let what = if matches!(arrange, Arrange::Sort(..)) {
            "SORT completed"
        } else {
            "THREAD completed"
        };
        self.done(conn, tag, what, uid).await;
    }

    async fn fetch<IO: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        conn: &mut Conn<IO>,
        tag: &str,
        uid: bool,
        set: SequenceSet,
        mut items: Vec<FetchItem>,
        changed_since: Option<(u64, bool)>,
    ) {
        let Some(mut targets) = self.targets(conn, tag, uid, &set) else {
            return;
        };
        if uid && !items.contains(&FetchItem::Uid) {
            // RFC 9051 §6.4.9: UID FETCH responses always carry the UID.
            items.insert(0, FetchItem::Uid);
        }
        let (account, kind) = self.auth();
        let name = self.view().name.clone();
        if let Some((since, vanished)) = changed_since {
            // RFC 7162 §3.1.4.1: only messages changed after `since`.
            let wanted: Vec<Uid> = targets.iter().map(|t| t.uid).collect();
            let r = self
                .services
                .accounts
                .read_mailbox(&account, kind, &name, move |m| {
                    let changed = wanted
                        .into_iter()
                        .filter(|u| m.info(*u).is_some_and(|i| i.modseq > since))
                        .collect::<Vec<Uid>>();
                    // RFC 7162 §3.2.6: the UIDs of the set expunged since.
                    let gone = vanished.then(|| {
                        let present: Vec<Uid> = m.messages().iter().map(|i| i.uid).collect();
                        let expunged = m.expunged_since(since);
                        vanished_earlier(&present, m.uid_next().0, Some(&set), expunged.as_deref())
                    });
                    Ok((changed, gone))
                })
                .await;
            match r {
                Ok((changed, gone)) => {
                    targets.retain(|t| changed.binary_search(&t.uid).is_ok());
                    if let Some(gone) = gone.filter(|g| !g.is_empty()) {
                        conn.out.extend_from_slice(
                            format!("* VANISHED (EARLIER) {}\r\n", response::range_set(&gone))
                                .as_bytes(),
                        );
                    }
                }
                Err(e) => return self.refuse(conn, tag, "FETCH", &e),
            }
        }
        let read_only = self.view().read_only;
        let marks_seen = !read_only
            && items.iter().any(|i| {
                matches!(
                    i,
                    FetchItem::Rfc822
                        | FetchItem::Rfc822Text
                        | FetchItem::Section { peek: false, .. }
                        | FetchItem::Binary { peek: false, .. }
                )
            });
        let condstore = self.condstore;
        let synced = self.view().synced;
        let cache = std::mem::take(&mut self.fetch_cache);
        let mailbox = name.clone();
        let r = if marks_seen {
            let binary_parts: Vec<Vec<u32>> = items
                .iter()
                .filter_map(|i| match i {
                    FetchItem::Binary { part, .. } | FetchItem::BinarySize(part) => {
                        Some(part.clone())
                    }
                    _ => None,
                })
                .collect();
            // Marking \Seen and answering in one call: one blocking-thread
            // hop and one index write for the whole set.
            self.services
                .accounts
                .update_mailbox(&account, kind, &name, move |m| {
                    // RFC 3516 §4.2: a FETCH that fails with UNKNOWN-CTE
                    // sets no \Seen either, so look before marking.
                    for t in targets.iter().filter(|_| !binary_parts.is_empty()) {
                        if m.info(t.uid).is_none() {
                            continue;
                        }
                        let bytes = m.read(t.uid)?;
                        let parsed = Parsed::new(&bytes);
                        if binary_parts
                            .iter()
                            .any(|p| matches!(parsed.binary(p), Some(Err(UnknownCte))))
                        {
                            return Ok(Err(UnknownCte));
                        }
                    }
                    let changes: Vec<(Uid, Flags, Vec<String>)> = targets
                        .iter()
                        .filter_map(|t| {
                            let info = m.info(t.uid)?;
                            (!info.flags.contains(Flags::SEEN))
                                .then(|| (t.uid, info.flags | Flags::SEEN, info.keywords.clone()))
                        })
                        .collect();
                    m.set_flags_many(&changes)?;
                    let seen_now: Vec<Uid> = changes.into_iter().map(|c| c.0).collect();
                    let mut cache = cache.for_mailbox(&mailbox, m.uid_validity());
                    Ok(
                        render_fetch(m, &targets, &items, &seen_now, condstore, &mut cache)?
                            .map(|(out, told)| (out, told, fresh_of(m, synced), cache)),
                    )
                })
                .await
        } else {
            self.services
                .accounts
                .read_mailbox(&account, kind, &name, move |m| {
                    let mut cache = cache.for_mailbox(&mailbox, m.uid_validity());
                    Ok(
                        render_fetch(m, &targets, &items, &[], condstore, &mut cache)?
                            .map(|(out, told)| (out, told, fresh_of(m, synced), cache)),
                    )
                })
                .await
        };
        match r {
            Ok(Err(UnknownCte)) => unknown_cte(conn, tag),
            Ok(Ok((out, told, snap, cache))) => {
                self.fetch_cache = cache;
                if let Some(view) = &mut self.view {
                    if let Some(flags) = view.note_keywords(told.iter().flat_map(|e| &e.keywords)) {
                        conn.out.extend_from_slice(flags.as_bytes());
                    }
                    for e in told {
                        view.set_flags(e);
                    }
                }
                conn.out.extend_from_slice(&out);
                self.done_with(conn, tag, "FETCH completed", uid, Some(snap))
                    .await;
            }
            Err(e) => self.refuse(conn, tag, "FETCH", &e),
        }
    }

    async fn store<IO: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        conn: &mut Conn<IO>,
        tag: &str,
        uid: bool,
        set: SequenceSet,
        args: StoreArgs,
    ) {
        if self.view().read_only {
            conn.status(tag, Status::No, Some("READ-ONLY"), "Mailbox is read-only");
            return;
        }
        let Some(targets) = self.targets(conn, tag, uid, &set) else {
            return;
        };
        let (account, kind) = self.auth();
        let name = self.view().name.clone();
        let StoreArgs {
            op,
            silent,
            flags,
            unchanged_since,
        } = args;
        let synced = self.view().synced;
        let r = self
            .services
            .accounts
            .update_mailbox(&account, kind, &name, move |m| {
                let mut changes = Vec::new();
                let mut stored = Vec::new();
                let mut modified = Vec::new();
                for t in &targets {
                    let Some(info) = m.info(t.uid) else { continue };
                    if unchanged_since.is_some_and(|u| info.modseq > u) {
                        modified.push(if uid { t.uid } else { Uid(t.seq) });
                        continue;
                    }
                    let (new, keywords) = apply_store(op, &flags, info);
                    changes.push((t.uid, new, keywords));
                    stored.push((t.seq, t.recent, t.uid, info.modseq));
                }
                // One index write and fsync for the whole set.
                m.set_flags_many(&changes)?;
                let result = stored
                    .into_iter()
                    .filter_map(|(seq, recent, uid, before)| {
                        let after = m.info(uid)?;
                        Some((seq, recent, entry_of(after), after.modseq != before))
                    })
                    .collect::<Vec<_>>();
                Ok((result, modified, fresh_of(m, synced)))
            })
            .await;
        match r {
            Ok((result, modified, snap)) => {
                let condstore = self.condstore;
                if let Some(view) = &mut self.view
                    && let Some(flags) =
                        view.note_keywords(result.iter().flat_map(|r| &r.2.keywords))
                {
                    conn.out.extend_from_slice(flags.as_bytes());
                }
                for (seq, recent, now, changed) in result {
                    // RFC 7162 §3.2: under CONDSTORE a change is reported
                    // with its MODSEQ even with .SILENT.
                    if !silent || (condstore && changed) {
                        let out = &mut conn.out;
                        push_fmt(out, format_args!("* {seq} FETCH ("));
                        let mut sep = "";
                        if uid {
                            push_fmt(out, format_args!("UID {}", now.uid));
                            sep = " ";
                        }
                        if !silent {
                            let flags = response::FlagList {
                                flags: now.flags,
                                keywords: &now.keywords,
                                recent,
                            };
                            push_fmt(out, format_args!("{sep}FLAGS {flags}"));
                            sep = " ";
                        }
                        if condstore {
                            push_fmt(out, format_args!("{sep}MODSEQ ({})", now.modseq));
                        }
                        out.extend_from_slice(b")\r\n");
                    }
                    if let Some(view) = &mut self.view {
                        view.set_flags(now);
                    }
                }
                if modified.is_empty() {
                    self.done_with(conn, tag, "STORE completed", uid, Some(snap))
                        .await;
                } else {
                    self.sync_with(conn, uid, Some(snap)).await;
                    let code = format!("MODIFIED {}", uid_set(&modified));
                    conn.status(
                        tag,
                        Status::Ok,
                        Some(&code),
                        "Conditional STORE failed for some messages",
                    );
                }
            }
            Err(e) => self.refuse(conn, tag, "STORE", &e),
        }
    }

    async fn copy<IO: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        conn: &mut Conn<IO>,
        tag: &str,
        uid: bool,
        set: SequenceSet,
        dest: String,
        is_move: bool,
    ) {
        let what = if is_move { "MOVE" } else { "COPY" };
        if is_move && self.view().read_only {
            conn.status(tag, Status::No, Some("READ-ONLY"), "Mailbox is read-only");
            return;
        }
        let Some(targets) = self.targets(conn, tag, uid, &set) else {
            return;
        };
        // MOVE into the selected mailbox itself is no error (RFC 6851 §3.3
        // makes no exception for it): the messages get new UIDs.
        let source = self.view().name.clone();
        let (account, _) = self.auth();
        let target = account.clone();
        let uids: Vec<Uid> = targets.iter().map(|t| t.uid).collect();
        // RFC 9208 §5.1: COPY past the storage limit fails; MOVE within the
        // account does not change the usage, so it is never refused.
        let limit = if is_move { None } else { self.quota_limit() };
        let r = self
            .services
            .accounts
            .with_account(&account, move |s| {
                let (domain, user) = (target.storage_domain(), &target.name);
                let used = if limit.is_some() {
                    account_usage(s, &target)?
                } else {
                    0
                };
                // Check the destination first: no TRYCREATE after work.
                s.mailbox_path(domain, user, &dest)?;
                let src = s.open_mailbox(domain, user, &source)?;
                let mut copied = Vec::new();
                let mut msgs = Vec::new();
                for u in &uids {
                    if let Some(info) = src.info(*u) {
                        msgs.push((info.clone(), src.read(*u)?));
                        copied.push(*u);
                    }
                }
                drop(src);
                let adding: u64 = msgs.iter().map(|(info, _)| info.size).sum();
                if quota::over(used, adding, limit) {
                    return Ok(Err(()));
                }
                let mut dst = s.open_mailbox(domain, user, &dest)?;
                let batch: Vec<NewMessage<'_>> = msgs
                    .iter()
                    .map(|(info, bytes)| NewMessage {
                        bytes,
                        flags: info.flags,
                        internal_date: info.internal_date,
                        key: None,
                        return_path: "",
                    })
                    .collect();
                let keywords: Vec<Vec<String>> =
                    msgs.iter().map(|(info, _)| info.keywords.clone()).collect();
                let new = if batch.is_empty() {
                    Vec::new()
                } else {
                    dst.append_with_keywords(&batch, &keywords)?
                };
                let validity = dst.uid_validity();
                drop(dst);
                if is_move && !copied.is_empty() {
                    let mut src = s.open_mailbox(domain, user, &source)?;
                    src.expunge(&copied)?;
                }
                Ok(Ok((validity, copied, new)))
            })
            .await;
        match r {
            Ok(Err(())) => {
                conn.status(tag, Status::No, Some("OVERQUOTA"), "Mailbox quota exceeded");
            }
            Ok(Ok((validity, copied, new))) => {
                let code = (!copied.is_empty())
                    .then(|| format!("COPYUID {validity} {} {}", uid_set(&copied), uid_set(&new)));
                if is_move {
                    if let Some(code) = &code {
                        conn.status("*", Status::Ok, Some(code), "Moved");
                    }
                    self.report_expunged(conn, &copied);
                    self.done(conn, tag, "MOVE completed", true).await;
                } else {
                    self.sync(conn, uid).await;
                    conn.status(tag, Status::Ok, code.as_deref(), "COPY completed");
                }
            }
            Err(e) if is_not_found(&e) => {
                // The source is selected, so a missing mailbox is the target.
                conn.status(tag, Status::No, Some("TRYCREATE"), "No such mailbox");
            }
            Err(e) => self.refuse(conn, tag, what, &e),
        }
    }
}

/// `$` in search criteria replaced through `resolve` (RFC 5182 §2.1).
fn saved_key(key: SearchKey, resolve: &dyn Fn(SequenceSet, bool) -> SequenceSet) -> SearchKey {
    match key {
        SearchKey::Seq(s) => SearchKey::Seq(resolve(s, false)),
        SearchKey::Uid(s) => SearchKey::Uid(resolve(s, true)),
        SearchKey::Not(k) => SearchKey::Not(Box::new(saved_key(*k, resolve))),
        SearchKey::Or(a, b) => SearchKey::Or(
            Box::new(saved_key(*a, resolve)),
            Box::new(saved_key(*b, resolve)),
        ),
        SearchKey::And(ks) => {
            SearchKey::And(ks.into_iter().map(|k| saved_key(k, resolve)).collect())
        }
        other => other,
    }
}

/// What SORT and THREAD do with the matching messages.
enum Arrange {
    /// SORT by these criteria, with ESORT's RETURN options.
    Sort(Vec<SortCriterion>, Option<SearchReturn>),
    /// THREAD with this algorithm.
    Thread(ThreadAlgorithm),
}

/// The bytes stored in all mailboxes of `account`.
fn account_usage(s: &storage::AccountStore, account: &AccountRef) -> storage::Result<u64> {
    let (domain, name) = (account.storage_domain(), &account.name);
    let mut used = 0;
    for m in s.list_mailboxes(domain, name)? {
        used += s.open_mailbox(domain, name, &m)?.total_size();
    }
    Ok(used)
}

fn needs_body(item: &FetchItem) -> bool {
    !matches!(
        item,
        FetchItem::Flags
            | FetchItem::Uid
            | FetchItem::InternalDate
            | FetchItem::Rfc822Size
            | FetchItem::ModSeq
    )
}

/// What a STORE does besides where: mode, `.SILENT`, flags, and the
/// UNCHANGEDSINCE condition.
struct StoreArgs {
    op: StoreOp,
    silent: bool,
    flags: FlagSet,
    unchanged_since: Option<u64>,
}

/// The flags and keywords of `info` after a STORE.
fn apply_store(op: StoreOp, set: &FlagSet, info: &storage::MessageInfo) -> (Flags, Vec<String>) {
    let mut flags = info.flags;
    let mut keywords = info.keywords.clone();
    let has = |list: &[String], k: &str| list.iter().any(|o| o.eq_ignore_ascii_case(k));
    match op {
        StoreOp::Replace => {
            flags = set.system;
            keywords = set.keywords.clone();
        }
        StoreOp::Add => {
            flags.insert(set.system);
            for k in &set.keywords {
                if !has(&keywords, k) {
                    keywords.push(k.clone());
                }
            }
        }
        StoreOp::Remove => {
            flags.remove(set.system);
            keywords.retain(|k| !has(&set.keywords, k));
        }
    }
    (flags, keywords)
}

/// ENVELOPE, BODY and BODYSTRUCTURE of messages of one mailbox, as a
/// session rendered them. They depend only on a message's bytes, which
/// never change for a UID under one UIDVALIDITY (RFC 9051 §2.3.1.1), so a
/// FETCH of these and of index data (FLAGS, UID, sizes, dates) reads no
/// message the session has fetched before (Dovecot keeps the same in its
/// index cache file).
#[derive(Default)]
struct FetchCache {
    mailbox: String,
    uid_validity: u32,
    entries: HashMap<Uid, Rendered>,
    /// The renderings of a message that found the cache full, kept for
    /// that message only.
    spare: Rendered,
}

/// What [`FetchCache`] holds of one message: ENVELOPE, BODY and
/// BODYSTRUCTURE (by [`cached_item`]'s slot), and the header of the whole
/// message, from which `BODY[HEADER]`, `BODY[HEADER.FIELDS ...]` and
/// `RFC822.HEADER` are cut.
#[derive(Default)]
struct Rendered {
    items: [Option<Vec<u8>>; 3],
    header: Option<Vec<u8>>,
}

/// Messages whose renderings a session keeps (at a few KiB a message, a
/// bound on a session's memory); past it, messages not yet cached are
/// rendered without being kept.
const FETCH_CACHE_MAX: usize = 1000;

impl FetchCache {
    /// This cache if it is of `mailbox` at `uid_validity`, else an empty
    /// one that is.
    fn for_mailbox(self, mailbox: &str, uid_validity: u32) -> FetchCache {
        if self.mailbox == mailbox && self.uid_validity == uid_validity {
            return self;
        }
        FetchCache {
            mailbox: mailbox.to_owned(),
            uid_validity,
            ..FetchCache::default()
        }
    }

    /// Drops the renderings of expunged messages (those `m` no longer
    /// has) once the cache is full, before a command looks messages up.
    fn forget_expunged(&mut self, m: &storage::Mailbox) {
        if self.entries.len() >= FETCH_CACHE_MAX {
            self.entries.retain(|&uid, _| m.info(uid).is_some());
        }
    }

    /// The renderings of message `uid`. A message that finds the cache
    /// full gets the spare entry, emptied: a mailbox larger than the cache
    /// keeps the messages cached first, where starting the cache over
    /// would leave a FETCH of all of it nothing to find.
    fn of(&mut self, uid: Uid) -> &mut Rendered {
        if self.entries.len() >= FETCH_CACHE_MAX && !self.entries.contains_key(&uid) {
            self.spare = Rendered::default();
            return &mut self.spare;
        }
        self.entries.entry(uid).or_default()
    }
}

/// The header of the whole message `uid` from the session's cache, read
/// and cached when missing: header searches read a message once, and share
/// what they read with FETCH of header items.
fn cached_header<'c>(
    m: &storage::Mailbox,
    uid: Uid,
    cache: &'c mut FetchCache,
) -> storage::Result<&'c [u8]> {
    let rendered = cache.of(uid);
    if rendered.header.is_none() {
        rendered.header = whole_header(&m.read(uid)?);
    }
    Ok(rendered.header.as_deref().unwrap_or_default())
}

/// The header of the whole message, as [`FetchCache`] keeps it, from the
/// message in wire form: parsed without its body, which can be most of it.
fn whole_header(raw: &[u8]) -> Option<Vec<u8>> {
    Parsed::new(header_of(raw)).whole_header()
}

/// Whether `item` is cut from the header of the whole message.
fn header_item(item: &FetchItem) -> bool {
    match item {
        FetchItem::Rfc822Header => true,
        FetchItem::Section { section, .. } => {
            section.part.is_empty()
                && matches!(
                    section.text,
                    Some(SectionText::Header | SectionText::HeaderFields { .. })
                )
        }
        _ => false,
    }
}

/// Renders a [`header_item`] from the header of the whole message, as
/// [`render_item`] does from the parsed message.
fn render_header_item(out: &mut Vec<u8>, item: &FetchItem, label: &[u8], header: &[u8]) {
    match item {
        FetchItem::Section {
            section: s,
            partial,
            ..
        } => {
            let data = match &s.text {
                Some(SectionText::HeaderFields { not, fields }) => {
                    header_fields(header, fields, *not)
                }
                _ => header.to_vec(),
            };
            out.extend_from_slice(label);
            let range = partial_range(out, *partial, data.len());
            out.push(b' ');
            response::literal(out, &data[range]);
        }
        _ => {
            out.extend_from_slice(b"RFC822.HEADER ");
            response::literal(out, header);
        }
    }
}

/// The slot of a cached item in [`FetchCache`], and its response label.
fn cached_item(item: &FetchItem) -> Option<(usize, &'static [u8])> {
    match item {
        FetchItem::Envelope => Some((0, b"ENVELOPE ")),
        FetchItem::Body => Some((1, b"BODY ")),
        FetchItem::BodyStructure => Some((2, b"BODYSTRUCTURE ")),
        _ => None,
    }
}

/// FETCH responses, and the entries whose FLAGS they told.
type FetchOutput = (Vec<u8>, Vec<Entry>);

/// The FETCH responses for the messages `targets` names, and
/// the entries whose FLAGS they told. `seen_now`: the messages this FETCH
/// just marked `\Seen`, whose FLAGS are told even when not asked for (RFC
/// 9051 §6.4.5; with MODSEQ under CONDSTORE, RFC 7162 §3.2). A message is
/// read only for items `cache` does not hold.
fn render_fetch(
    m: &storage::Mailbox,
    targets: &[Target],
    items: &[FetchItem],
    seen_now: &[Uid],
    condstore: bool,
    cache: &mut FetchCache,
) -> storage::Result<Result<FetchOutput, UnknownCte>> {
    // A response line of index data is some 60 bytes; bodies grow it.
    let mut out = Vec::with_capacity(targets.len() * 64);
    let mut told = Vec::new();
    // Section labels are the same for every message: made once.
    let labels: Vec<Vec<u8>> = items.iter().map(item_label).collect();
    // Only a FETCH of cached items looks messages up in the cache.
    let cached = items
        .iter()
        .any(|i| cached_item(i).is_some() || header_item(i));
    let mut no_cache = Rendered::default();
    if cached {
        cache.forget_expunged(m);
    }
    for t in targets {
        let Some(info) = m.info(t.uid) else { continue };
        let seen = seen_now.contains(&t.uid);
        let extra = [
            (seen && !items.contains(&FetchItem::Flags)).then_some(&FetchItem::Flags),
            (seen && condstore && !items.contains(&FetchItem::ModSeq))
                .then_some(&FetchItem::ModSeq),
        ];
        let here = items
            .iter()
            .zip(labels.iter().map(Vec::as_slice))
            .chain(extra.into_iter().flatten().map(|i| (i, &[][..])));
        let rendered = if cached {
            cache.of(t.uid)
        } else {
            &mut no_cache
        };
        let read = here.clone().any(|(i, _)| match cached_item(i) {
            Some((slot, _)) => rendered.items[slot].is_none(),
            None if header_item(i) => rendered.header.is_none(),
            None => needs_body(i),
        });
        let bytes = if read { Some(m.read(t.uid)?) } else { None };
        let parsed = bytes.as_deref().map(Parsed::new);
        if rendered.header.is_none() && here.clone().any(|(i, _)| header_item(i)) {
            rendered.header = bytes.as_deref().and_then(whole_header);
        }
        push_fmt(&mut out, format_args!("* {} FETCH (", t.seq));
        if here.clone().any(|(i, _)| *i == FetchItem::Flags) {
            told.push(entry_of(info));
        }
        for (n, (item, label)) in here.enumerate() {
            if n > 0 {
                out.push(b' ');
            }
            if let Some((slot, label)) = cached_item(item) {
                let value = rendered.items[slot].get_or_insert_with(|| match (slot, &parsed) {
                    (0, Some(p)) => p.envelope(),
                    (_, Some(p)) => p.body_structure(slot == 2),
                    (_, None) => Vec::new(),
                });
                out.extend_from_slice(label);
                out.extend_from_slice(value);
            } else if let Some(header) = rendered.header.as_deref().filter(|_| header_item(item)) {
                render_header_item(&mut out, item, label, header);
            } else if render_item(&mut out, item, label, t.recent, info, parsed.as_ref()).is_err() {
                return Ok(Err(UnknownCte));
            }
        }
        out.extend_from_slice(b")\r\n");
    }
    Ok(Ok((out, told)))
}

/// Writes formatted text into a response buffer, with no string between.
fn push_fmt(out: &mut Vec<u8>, args: fmt::Arguments<'_>) {
    // Writing into a Vec cannot fail.
    let _ = std::io::Write::write_fmt(out, args);
}

/// How the response names a data item that names a section or part
/// (`BODY[1.HEADER]`, `BINARY[2]`, `BINARY.SIZE[2]`); empty for the others.
fn item_label(item: &FetchItem) -> Vec<u8> {
    match item {
        FetchItem::Section { section, .. } => format!("BODY[{}]", section_spec(section)),
        FetchItem::Binary { part, .. } => format!("BINARY[{}]", part_spec(part)),
        FetchItem::BinarySize(part) => format!("BINARY.SIZE[{}]", part_spec(part)),
        _ => String::new(),
    }
    .into_bytes()
}

/// Writes one FETCH data item.
///
/// # Errors
/// [`UnknownCte`] for BINARY of a part whose encoding is unknown.
fn render_item(
    out: &mut Vec<u8>,
    item: &FetchItem,
    label: &[u8],
    recent: bool,
    info: &storage::MessageInfo,
    parsed: Option<&Parsed<'_>>,
) -> Result<(), UnknownCte> {
    let section = |s: &Section| parsed.and_then(|p| p.section(s));
    let binary = |part: &[u32]| parsed.and_then(|p| p.binary(part)).transpose();
    match item {
        FetchItem::Flags => push_fmt(
            out,
            format_args!(
                "FLAGS {}",
                response::FlagList {
                    flags: info.flags,
                    keywords: &info.keywords,
                    recent,
                }
            ),
        ),
        FetchItem::ModSeq => push_fmt(out, format_args!("MODSEQ ({})", info.modseq)),
        FetchItem::Uid => push_fmt(out, format_args!("UID {}", info.uid)),
        FetchItem::InternalDate => push_fmt(
            out,
            format_args!("INTERNALDATE {}", response::DateTime(info.internal_date)),
        ),
        FetchItem::Rfc822Size => push_fmt(out, format_args!("RFC822.SIZE {}", info.size)),
        FetchItem::Envelope => {
            out.extend_from_slice(b"ENVELOPE ");
            out.extend_from_slice(&parsed.map(Parsed::envelope).unwrap_or_default());
        }
        FetchItem::Body | FetchItem::BodyStructure => {
            let ext = matches!(item, FetchItem::BodyStructure);
            out.extend_from_slice(if ext { b"BODYSTRUCTURE " } else { b"BODY " });
            out.extend_from_slice(&parsed.map(|p| p.body_structure(ext)).unwrap_or_default());
        }
        FetchItem::Rfc822 | FetchItem::Rfc822Header | FetchItem::Rfc822Text => {
            let (label, text) = match item {
                FetchItem::Rfc822 => ("RFC822 ", None),
                FetchItem::Rfc822Header => ("RFC822.HEADER ", Some(SectionText::Header)),
                _ => ("RFC822.TEXT ", Some(SectionText::Text)),
            };
            out.extend_from_slice(label.as_bytes());
            let data = section(&Section {
                part: Vec::new(),
                text,
            });
            response::literal(out, data.as_deref().unwrap_or_default());
        }
        FetchItem::Section {
            section: s,
            partial,
            ..
        } => {
            out.extend_from_slice(label);
            match section(s) {
                None => out.extend_from_slice(b" NIL"),
                Some(data) => {
                    let range = partial_range(out, *partial, data.len());
                    out.push(b' ');
                    response::literal(out, &data[range]);
                }
            }
        }
        FetchItem::Binary { part, partial, .. } => {
            out.extend_from_slice(label);
            match binary(part)? {
                None => out.extend_from_slice(b" NIL"),
                Some(data) => {
                    let range = partial_range(out, *partial, data.len());
                    out.push(b' ');
                    response::binary_literal(out, &data[range]);
                }
            }
        }
        FetchItem::BinarySize(part) => {
            let size = binary(part)?.map_or(0, |d| d.len());
            out.extend_from_slice(label);
            out.extend_from_slice(format!(" {size}").as_bytes());
        }
    }
    Ok(())
}

/// The bytes of a `len`-byte item that a `<origin.count>` partial fetch
/// returns (RFC 3501 §6.4.5: clipped to the item), after writing the
/// `<origin>` the response names it by; the whole item without one.
fn partial_range(
    out: &mut Vec<u8>,
    partial: Option<(u32, u32)>,
    len: usize,
) -> std::ops::Range<usize> {
    let Some((origin, count)) = partial else {
        return 0..len;
    };
    out.extend_from_slice(format!("<{origin}>").as_bytes());
    let start = (origin as usize).min(len);
    start..start.saturating_add(count as usize).min(len)
}

/// RFC 3516 §4.2: the whole FETCH fails when a part's encoding is unknown.
fn unknown_cte<IO>(conn: &mut Conn<IO>, tag: &str) {
    conn.status(
        tag,
        Status::No,
        Some("UNKNOWN-CTE"),
        "Unknown content transfer encoding",
    );
}

/// Part numbers as in a section (`1.2`).
fn part_spec(part: &[u32]) -> String {
    let spec: Vec<String> = part.iter().map(u32::to_string).collect();
    spec.join(".")
}

/// A section as echoed in the response (RFC 9051 §7.5.2).
fn section_spec(s: &Section) -> String {
    let mut spec: Vec<String> = s.part.iter().map(u32::to_string).collect();
    if let Some(text) = &s.text {
        spec.push(match text {
            SectionText::Header => "HEADER".into(),
            SectionText::Text => "TEXT".into(),
            SectionText::Mime => "MIME".into(),
            SectionText::HeaderFields { not, fields } => {
                let names: Vec<String> = fields
                    .iter()
                    .map(|f| {
                        let mut out = Vec::new();
                        response::string(&mut out, f.as_bytes());
                        String::from_utf8_lossy(&out).into_owned()
                    })
                    .collect();
                format!(
                    "HEADER.FIELDS{} ({})",
                    if *not { ".NOT" } else { "" },
                    names.join(" ")
                )
            }
        });
    }
    spec.join(".")
}

/// A UID set in compact form (`1:3,7`) for COPYUID.
fn uid_set(uids: &[Uid]) -> String {
    let ns: Vec<u32> = uids.iter().map(|u| u.0).collect();
    response::number_set(&ns)
}

/// Normalizes bare LF line ends to CRLF, the storage's wire form.
fn crlf(message: Vec<u8>) -> Vec<u8> {
    let bare = message
        .iter()
        .enumerate()
        .any(|(i, &b)| b == b'\n' && (i == 0 || message[i - 1] != b'\r'));
    if !bare {
        return message;
    }
    let mut out = Vec::with_capacity(message.len() + message.len() / 20);
    let mut prev = 0u8;
    for &b in &message {
        if b == b'\n' && prev != b'\r' {
            out.push(b'\r');
        }
        out.push(b);
        prev = b;
    }
    out
}

/// `INBOX` for any case of a first-level inbox in a LIST pattern.
fn canonical_pattern(p: &str) -> String {
    match p.get(..5) {
        Some(head)
            if head.eq_ignore_ascii_case("INBOX")
                && matches!(p.as_bytes().get(5), None | Some(b'/')) =>
        {
            format!("INBOX{}", &p[5..])
        }
        _ => p.to_owned(),
    }
}

/// LIST pattern matching (RFC 9051 §6.3.9): `*` matches anything, `%`
/// anything but the separator. Dynamic programming, so hostile patterns
/// stay linear in their length times the name's.
fn glob(pattern: &[u8], name: &[u8]) -> bool {
    let mut row = vec![false; name.len() + 1];
    row[0] = true;
    for &p in pattern {
        let mut next = vec![false; name.len() + 1];
        match p {
            b'*' | b'%' => {
                for j in 0..=name.len() {
                    next[j] =
                        row[j] || (j > 0 && next[j - 1] && (p == b'*' || name[j - 1] != b'/'));
                }
            }
            _ => {
                for j in 1..=name.len() {
                    next[j] = row[j - 1] && name[j - 1] == p;
                }
            }
        }
        row = next;
    }
    row[name.len()]
}

/// Every name to list with its attributes: the mailboxes, and the
/// hierarchy levels above them that are not mailboxes (`\Noselect`).
fn list_entries(names: &[String]) -> Vec<(String, String)> {
    let mut all: std::collections::BTreeMap<String, bool> =
        names.iter().map(|n| (n.clone(), true)).collect();
    for n in names {
        let mut prefix = n.as_str();
        while let Some((parent, _)) = prefix.rsplit_once('/') {
            all.entry(parent.to_owned()).or_insert(false);
            prefix = parent;
        }
    }
    let keys: Vec<String> = all.keys().cloned().collect();
    all.into_iter()
        .map(|(name, exists)| {
            let child_prefix = format!("{name}/");
            let children = keys.iter().any(|k| k.starts_with(&child_prefix));
            let mut attrs = Vec::new();
            if !exists {
                attrs.push("\\Noselect");
            }
            attrs.push(if children {
                "\\HasChildren"
            } else {
                "\\HasNoChildren"
            });
            if let Some((_, special)) = SPECIAL_USE.iter().find(|(n, _)| *n == name) {
                attrs.push(special);
            }
            (name, attrs.join(" "))
        })
        .collect()
}

/// One LIST/LSUB response line.
#[derive(Debug, PartialEq, Eq)]
struct ListLine {
    name: String,
    attrs: Vec<&'static str>,
    /// `("CHILDINFO" ("SUBSCRIBED"))` (RFC 5258 §3.5).
    childinfo: bool,
    /// A mailbox that can be selected (for RETURN STATUS).
    selectable: bool,
}

/// The lines of a LIST or LSUB over the account's mailboxes `names` and
/// subscriptions `subs`, for the full patterns (reference prepended).
fn list_lines(
    names: &[String],
    subs: &[String],
    patterns: &[String],
    lsub: bool,
    select: ListSelect,
    ret: &ListReturn,
) -> Vec<ListLine> {
    let matching = |n: &str| patterns.iter().any(|p| glob(p.as_bytes(), n.as_bytes()));
    let subscribed = |n: &str| subs.iter().any(|s| s == n);
    let has_subscribed_child = |n: &str| {
        let prefix = format!("{n}/");
        subs.iter().any(|s| s.starts_with(&prefix))
    };
    let entries = list_entries(names);
    let mut out = Vec::new();
    if lsub || select.subscribed {
        // Every subscribed name and its parents, existing or not.
        let mut all: std::collections::BTreeSet<String> = subs.iter().cloned().collect();
        for n in subs {
            let mut prefix = n.as_str();
            while let Some((parent, _)) = prefix.rsplit_once('/') {
                all.insert(parent.to_owned());
                prefix = parent;
            }
        }
        for name in all.into_iter().filter(|n| matching(n)) {
            let existing = entries.iter().find(|(n, _)| *n == name);
            let is_sub = subscribed(&name);
            if lsub {
                // RFC 3501 §6.3.9: a parent of subscribed names matched
                // by `%` is listed as \Noselect.
                let wildcard = patterns.iter().any(|p| p.ends_with('%'));
                if !(is_sub || wildcard && has_subscribed_child(&name)) {
                    continue;
                }
                let selectable = is_sub && existing.is_some_and(|(_, a)| !a.contains("\\Noselect"));
                out.push(ListLine {
                    attrs: if selectable {
                        vec![]
                    } else {
                        vec!["\\Noselect"]
                    },
                    name,
                    childinfo: false,
                    selectable: false,
                });
                continue;
            }
            // RFC 5258 §3.5: CHILDINFO tells of a subscribed descendant
            // that the patterns do not list by itself.
            let prefix = format!("{name}/");
            let child = !is_sub
                && select.recursive
                && subs.iter().any(|s| s.starts_with(&prefix) && !matching(s));
            if !is_sub && !child {
                continue;
            }
            let mut attrs: Vec<&'static str> = match existing {
                Some((_, a)) => attr_words(a),
                None => vec!["\\NonExistent"],
            };
            if select.special_use && !attrs.iter().any(|a| is_special_use(a)) {
                continue;
            }
            if is_sub {
                attrs.push("\\Subscribed");
            }
            let selectable = !attrs
                .iter()
                .any(|a| *a == "\\Noselect" || *a == "\\NonExistent");
            out.push(ListLine {
                name,
                attrs,
                childinfo: child,
                selectable,
            });
        }
        return out;
    }
    for (name, attrs) in entries {
        if !matching(&name) {
            continue;
        }
        let mut attrs = attr_words(&attrs);
        if select.special_use && !attrs.iter().any(|a| is_special_use(a)) {
            continue;
        }
        if ret.subscribed && subscribed(&name) {
            attrs.push("\\Subscribed");
        }
        let selectable = !attrs.contains(&"\\Noselect");
        out.push(ListLine {
            name,
            attrs,
            childinfo: false,
            selectable,
        });
    }
    out
}

/// The attribute words of [`list_entries`] as static strings.
fn attr_words(attrs: &str) -> Vec<&'static str> {
    const KNOWN: [&str; 8] = [
        "\\Noselect",
        "\\HasChildren",
        "\\HasNoChildren",
        "\\Sent",
        "\\Drafts",
        "\\Trash",
        "\\Junk",
        "\\Archive",
    ];
    attrs
        .split(' ')
        .filter_map(|a| KNOWN.iter().find(|k| **k == a).copied())
        .collect()
}

fn is_special_use(attr: &str) -> bool {
    SPECIAL_USE.iter().any(|(_, a)| *a == attr)
}

fn command_name(kind: &CommandKind) -> &'static str {
    match kind {
        CommandKind::Capability => "CAPABILITY",
        CommandKind::Noop => "NOOP",
        CommandKind::Logout => "LOGOUT",
        CommandKind::StartTls => "STARTTLS",
        CommandKind::Authenticate { .. } => "AUTHENTICATE ****",
        CommandKind::Login { .. } => "LOGIN ****",
        CommandKind::Select {
            read_only: false, ..
        } => "SELECT",
        CommandKind::Select { .. } => "EXAMINE",
        CommandKind::Create(_) => "CREATE",
        CommandKind::Delete(_) => "DELETE",
        CommandKind::Rename { .. } => "RENAME",
        CommandKind::Subscribe(_) => "SUBSCRIBE",
        CommandKind::Unsubscribe(_) => "UNSUBSCRIBE",
        CommandKind::List { lsub: false, .. } => "LIST",
        CommandKind::List { .. } => "LSUB",
        CommandKind::Namespace => "NAMESPACE",
        CommandKind::Status { .. } => "STATUS",
        CommandKind::Append { .. } => "APPEND",
        CommandKind::Idle => "IDLE",
        CommandKind::Check => "CHECK",
        CommandKind::Close => "CLOSE",
        CommandKind::Unselect => "UNSELECT",
        CommandKind::Expunge { .. } => "EXPUNGE",
        CommandKind::Search { .. } => "SEARCH",
        CommandKind::Fetch { .. } => "FETCH",
        CommandKind::Store { .. } => "STORE",
        CommandKind::Copy { is_move: false, .. } => "COPY",
        CommandKind::Copy { .. } => "MOVE",
        CommandKind::Id => "ID",
        CommandKind::Enable(_) => "ENABLE",
        CommandKind::GetQuota(_) => "GETQUOTA",
        CommandKind::GetQuotaRoot(_) => "GETQUOTAROOT",
        CommandKind::SetQuota => "SETQUOTA",
        CommandKind::Sort { .. } => "SORT",
        CommandKind::Thread { .. } => "THREAD",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A new empty text INBOX in a folder that lasts as long as the guard.
    fn temp_inbox() -> (tempfile::TempDir, storage::Mailbox) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("INBOX.mbox");
        storage::Mailbox::create(&path, MailboxFormat::Mbox).unwrap();
        let m = storage::Mailbox::open(&path).unwrap();
        (dir, m)
    }

    /// FETCH answers ENVELOPE, BODY, BODYSTRUCTURE and the whole-message
    /// header items from the session's cache exactly as from the message,
    /// reads no message for them once cached, and starts over for another
    /// mailbox or UIDVALIDITY.
    #[test]
    fn fetch_cache_answers_as_the_message_does() {
        let (_dir, mut m) = temp_inbox();
        let raw = b"From: A <a@example.test>\r\nTo: b@example.test\r\nSubject: hi\r\n\
            Message-ID: <1@x>\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n\
            --b\r\nContent-Type: text/plain\r\n\r\nbody\r\n--b--\r\n";
        let uids = m
            .append(&[NewMessage {
                bytes: raw,
                flags: Flags::EMPTY,
                internal_date: 1_796_065_088,
                key: None,
                return_path: "",
            }])
            .unwrap();
        let header = |text| FetchItem::Section {
            peek: true,
            section: Section {
                part: Vec::new(),
                text: Some(text),
            },
            partial: None,
        };
        let items = vec![
            FetchItem::Uid,
            FetchItem::Envelope,
            FetchItem::Body,
            FetchItem::BodyStructure,
            FetchItem::Rfc822Header,
            header(SectionText::Header),
            header(SectionText::HeaderFields {
                not: false,
                fields: vec!["subject".into(), "To".into()],
            }),
            FetchItem::Section {
                peek: true,
                section: Section {
                    part: Vec::new(),
                    text: Some(SectionText::HeaderFields {
                        not: true,
                        fields: vec!["Subject".into()],
                    }),
                },
                partial: Some((2, 5)),
            },
        ];
        let targets = vec![Target {
            seq: 1,
            uid: uids[0],
            recent: false,
        }];
        let fetch = |cache: &mut FetchCache| {
            let Ok((out, _)) = render_fetch(&m, &targets, &items, &[], false, cache).unwrap()
            else {
                panic!("unknown CTE")
            };
            out
        };
        // Without a cache, every item comes from the parsed message.
        let mut reference = Vec::new();
        let parsed = Parsed::new(raw);
        for item in &items {
            if !reference.is_empty() {
                reference.push(b' ');
            }
            let label = item_label(item);
            render_item(
                &mut reference,
                item,
                &label,
                false,
                &m.messages()[0],
                Some(&parsed),
            )
            .unwrap();
        }
        let reference = [b"* 1 FETCH (".as_slice(), &reference, b")\r\n"].concat();

        let mut cache = FetchCache::default().for_mailbox("INBOX", m.uid_validity());
        assert_eq!(fetch(&mut cache), reference, "first, filling the cache");
        assert_eq!(fetch(&mut cache), reference, "from the cache");
        // Served from the cache: the message is not read again.
        let r = cache.of(uids[0]);
        r.items[0] = Some(b"CACHED".to_vec());
        r.header = Some(b"X: cached\r\n\r\n".to_vec());
        let out = String::from_utf8(fetch(&mut cache)).unwrap();
        assert!(out.contains("ENVELOPE CACHED "), "{out}");
        assert!(out.contains("RFC822.HEADER {13}\r\nX: cached"), "{out}");
        // Another UIDVALIDITY (or mailbox) starts over.
        let mut cache = cache.for_mailbox("INBOX", m.uid_validity() + 1);
        assert!(cache.entries.is_empty());
        assert_eq!(fetch(&mut cache), reference);
        m.expunge(&uids).unwrap();
    }

    /// A full cache keeps what it holds: a message that finds no room is
    /// rendered in the spare entry, and room is made only by forgetting
    /// expunged messages.
    #[test]
    fn full_fetch_cache_keeps_its_entries_and_forgets_expunged_ones() {
        let (_dir, mut m) = temp_inbox();
        let new = NewMessage {
            bytes: b"Subject: x\r\n\r\nbody\r\n",
            flags: Flags::EMPTY,
            internal_date: 1_796_065_088,
            key: None,
            return_path: "",
        };
        let uids = m.append(&[new]).unwrap();
        let mut cache = FetchCache::default().for_mailbox("INBOX", m.uid_validity());
        // Full: the live message and (as far as the cache knows) others.
        cache.of(uids[0]).header = Some(b"live".to_vec());
        for n in 1..FETCH_CACHE_MAX as u32 {
            cache.of(Uid(uids[0].0 + n)).header = Some(b"gone".to_vec());
        }
        let past = Uid(uids[0].0 + FETCH_CACHE_MAX as u32);
        cache.of(past).header = Some(b"spare".to_vec());
        assert_eq!(cache.entries.len(), FETCH_CACHE_MAX);
        assert!(!cache.entries.contains_key(&past));
        assert!(cache.of(past).header.is_none(), "the spare starts empty");
        assert_eq!(cache.of(uids[0]).header.as_deref(), Some(&b"live"[..]));
        // Only the live message is in the mailbox; the others are dropped.
        cache.forget_expunged(&m);
        assert_eq!(cache.entries.len(), 1);
        cache.of(past).header = Some(b"kept".to_vec());
        assert_eq!(cache.entries.len(), 2);
        assert_eq!(cache.of(uids[0]).header.as_deref(), Some(&b"live"[..]));
        // Not full: nothing is dropped, expunged or not.
        m.expunge(&uids).unwrap();
        cache.forget_expunged(&m);
        assert_eq!(cache.entries.len(), 2);
    }

    /// A header search reads a message once: its header goes into the
    /// cache, as FETCH would have cut it, and later searches take it there.
    #[test]
    fn header_searches_fill_and_reuse_the_fetch_cache() {
        let (_dir, mut m) = temp_inbox();
        let raw = b"Subject: cached\r\nFrom: a@example.test\r\n\r\nbody\r\n";
        let uids = m
            .append(&[NewMessage {
                bytes: raw,
                flags: Flags::EMPTY,
                internal_date: 1_796_065_088,
                key: None,
                return_path: "",
            }])
            .unwrap();
        let mut cache = FetchCache::default().for_mailbox("INBOX", m.uid_validity());
        let header = cached_header(&m, uids[0], &mut cache).unwrap().to_vec();
        assert_eq!(header, header_of(raw));
        assert_eq!(whole_header(raw).as_deref(), Some(header_of(raw)));
        assert_eq!(cache.of(uids[0]).header.as_deref(), Some(header_of(raw)));
        // From the cache now: a changed entry is what the next search sees.
        cache.of(uids[0]).header = Some(b"X: kept\r\n\r\n".to_vec());
        assert_eq!(
            cached_header(&m, uids[0], &mut cache).unwrap(),
            b"X: kept\r\n\r\n"
        );
        assert!(matches!(
            cached_header(&m, Uid(uids[0].0 + 1), &mut cache),
            Err(storage::Error::MessageNotFound(_))
        ));
    }

    #[test]
    fn list_patterns() {
        assert!(glob(b"*", b"INBOX/a/b"));
        assert!(glob(b"%", b"Sent"));
        assert!(!glob(b"%", b"INBOX/a"));
        assert!(glob(b"INBOX/%", b"INBOX/a"));
        assert!(glob(b"S%t", b"Sent"));
        assert!(!glob(b"Sent", b"Sent/x"));
        assert!(glob(&[b'*'; 200], b""));
        assert_eq!(canonical_pattern("inbox/%"), "INBOX/%");
        assert_eq!(canonical_pattern("inboxes"), "inboxes");
    }

    #[test]
    fn list_attributes_and_hierarchy() {
        let names: Vec<String> = ["Archive/2026/Q4", "INBOX", "INBOX/x", "Sent"]
            .map(String::from)
            .to_vec();
        let e = list_entries(&names);
        let find = |n: &str| e.iter().find(|(name, _)| name == n).map(|(_, a)| a.clone());
        assert_eq!(
            find("Archive").as_deref(),
            Some("\\Noselect \\HasChildren \\Archive")
        );
        assert_eq!(
            find("Archive/2026").as_deref(),
            Some("\\Noselect \\HasChildren")
        );
        assert_eq!(find("INBOX").as_deref(), Some("\\HasChildren"));
        assert_eq!(find("Sent").as_deref(), Some("\\HasNoChildren \\Sent"));
    }

    fn lines(
        names: &[&str],
        subs: &[&str],
        pattern: &str,
        lsub: bool,
        select: ListSelect,
        ret: ListReturn,
    ) -> Vec<String> {
        let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
        let subs: Vec<String> = subs.iter().map(|s| s.to_string()).collect();
        list_lines(&names, &subs, &[pattern.to_string()], lsub, select, &ret)
            .into_iter()
            .map(|l| {
                format!(
                    "({}) {}{}",
                    l.attrs.join(" "),
                    l.name,
                    if l.childinfo { " CHILDINFO" } else { "" }
                )
            })
            .collect()
    }

    /// RFC 5258 §5 examples 2 and 6, adapted to this store (no
    /// `\Noinferiors`; hierarchy levels without a mailbox are \Noselect).
    #[test]
    fn list_extended_selection() {
        let names = ["INBOX", "Fruit", "Fruit/Apple", "Fruit/Banana", "Tofu"];
        let subs = ["INBOX", "Fruit/Banana", "Fruit/Peach", "Vegetable/Broccoli"];
        let sub = ListSelect {
            subscribed: true,
            ..ListSelect::default()
        };
        assert_eq!(
            lines(&names, &subs, "*", false, sub, ListReturn::default()),
            [
                "(\\HasNoChildren \\Subscribed) Fruit/Banana",
                "(\\NonExistent \\Subscribed) Fruit/Peach",
                "(\\HasNoChildren \\Subscribed) INBOX",
                "(\\NonExistent \\Subscribed) Vegetable/Broccoli",
            ]
        );
        let recursive = ListSelect {
            recursive: true,
            ..sub
        };
        assert_eq!(
            lines(&names, &subs, "%", false, recursive, ListReturn::default()),
            [
                "(\\HasChildren) Fruit CHILDINFO",
                "(\\HasNoChildren \\Subscribed) INBOX",
                "(\\NonExistent) Vegetable CHILDINFO",
            ]
        );
        let ret = ListReturn {
            subscribed: true,
            ..ListReturn::default()
        };
        assert_eq!(
            lines(&names, &subs, "Fruit/%", false, ListSelect::default(), ret),
            [
                "(\\HasNoChildren) Fruit/Apple",
                "(\\HasNoChildren \\Subscribed) Fruit/Banana",
            ]
        );
        assert_eq!(
            lines(
                &names,
                &subs,
                "%",
                true,
                ListSelect::default(),
                ListReturn::default()
            ),
            ["(\\Noselect) Fruit", "() INBOX", "(\\Noselect) Vegetable"]
        );
        let special = ListSelect {
            special_use: true,
            ..ListSelect::default()
        };
        assert_eq!(
            lines(
                &["INBOX", "Sent", "Trash", "x"],
                &[],
                "*",
                false,
                special,
                ListReturn::default()
            ),
            [
                "(\\HasNoChildren \\Sent) Sent",
                "(\\HasNoChildren \\Trash) Trash"
            ]
        );
    }

    /// RFC 5258 §3.5: no CHILDINFO for a descendant that a pattern lists.
    #[test]
    fn childinfo_only_for_unlisted_descendants() {
        let names: Vec<String> = ["box", "box/test2", "box/test2/test1"]
            .map(String::from)
            .to_vec();
        let subs = vec!["box/test2/test1".to_string()];
        let recursive = ListSelect {
            subscribed: true,
            recursive: true,
            ..ListSelect::default()
        };
        let run = |patterns: &[&str]| -> Vec<(String, bool)> {
            let patterns: Vec<String> = patterns.iter().map(|p| p.to_string()).collect();
            list_lines(
                &names,
                &subs,
                &patterns,
                false,
                recursive,
                &ListReturn::default(),
            )
            .into_iter()
            .map(|l| (l.name, l.childinfo))
            .collect()
        };
        assert_eq!(run(&["box/test2"]), [("box/test2".to_string(), true)]);
        assert_eq!(
            run(&["box/test2", "box/test2/test1"]),
            [("box/test2/test1".to_string(), false)]
        );
        assert_eq!(run(&["box/%"]), [("box/test2".to_string(), true)]);
        assert_eq!(run(&[]), []);
    }

    #[test]
    fn store_keywords() {
        let info = storage::MessageInfo {
            uid: Uid(1),
            flags: Flags::SEEN,
            size: 1,
            internal_date: 0,
            key: None,
            keywords: vec!["$Junk".into(), "Work".into()],
            modseq: 3,
        };
        let set = FlagSet {
            system: Flags::FLAGGED,
            keywords: vec!["work".into(), "$Label1".into()],
        };
        assert_eq!(
            apply_store(StoreOp::Add, &set, &info),
            (
                Flags::SEEN | Flags::FLAGGED,
                vec!["$Junk".into(), "Work".into(), "$Label1".into()]
            )
        );
        assert_eq!(
            apply_store(StoreOp::Remove, &set, &info),
            (Flags::SEEN, vec!["$Junk".to_string()])
        );
        assert_eq!(
            apply_store(StoreOp::Replace, &set, &info),
            (Flags::FLAGGED, set.keywords.clone())
        );
    }

    #[test]
    fn helpers() {
        assert_eq!(
            uid_set(&[Uid(1), Uid(2), Uid(3), Uid(7), Uid(9), Uid(10)]),
            "1:3,7,9:10"
        );
        assert_eq!(crlf(b"a\nb\r\nc\n".to_vec()), b"a\r\nb\r\nc\r\n");
        assert_eq!(crlf(b"a\r\n".to_vec()), b"a\r\n");
        assert_eq!(
            section_spec(&Section {
                part: vec![1, 2],
                text: Some(SectionText::HeaderFields {
                    not: true,
                    fields: vec!["Subject".into()]
                })
            }),
            "1.2.HEADER.FIELDS.NOT (\"Subject\")"
        );
    }
}
