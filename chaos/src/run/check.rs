//! The checker: judges a history against the invariants of `DESIGN.md` §5.
//!
//! Checks, numbered as in the report:
//! 1. every message acknowledged with `250` is in each accepted recipient's mailbox exactly once
//!    in the final reads from every node (the expunger's deleted messages excepted), and never
//!    twice in any listing, and never in a mailbox it was not addressed to;
//! 2. a refused message (any definite failure) appears nowhere;
//! 3. UIDL ids are unique per listing, ascend with the message number, keep their
//!    UIDVALIDITY prefix per mailbox, and name one message for ever (and one message keeps one id);
//! 4. a message whose deletion was acknowledged (QUIT `+OK`) is absent from every listing of a
//!    session that started afterwards;
//! 5. an account whose CreateAccount returned is seen at once by GetAccountSettings and a POP3
//!    login on other nodes;
//! 6. after healing every node serves (checked by the caller, added as violations);
//! 7. availability (not a pass/fail check): outcomes per node and per fault kind;
//! 8. a node cut off in a partitioned minority does not acknowledge SMTP with `250` (it
//!    cannot commit; `DESIGN.md` wants `451 4.3.0`): a send to a minority node that started
//!    at least [`CUT_GRACE_MS`] after the cut and ended before the heal must not be `ok`. The
//!    replies it got are counted in [`Verdict::partition_minority_smtp`];
//! 9. a `\Seen` flag stored over IMAP (acknowledged) is never lost: later IMAP reads show it.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use serde::Serialize;

use super::history::{Entry, FaultKind, Op, Outcome, Record};
use super::workload::EXPUNGER;

/// One broken invariant.
#[derive(Debug, Clone, Serialize)]
pub struct Violation {
    /// The check number (1-7).
    pub check: u8,
    /// What was seen.
    pub detail: String,
}

/// Outcome counts.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Counts {
    /// Confirmed.
    pub ok: u64,
    /// Definitely not done.
    pub failed: u64,
    /// Maybe done.
    pub unknown: u64,
    /// Of the failed: the account was busy or open on another node (`[IN-USE]`,
    /// `[SYS/TEMP]`).
    pub in_use: u64,
}

impl Counts {
    fn add(&mut self, r: &Record) {
        match r.outcome {
            Outcome::Ok => self.ok += 1,
            Outcome::Failed => self.failed += 1,
            Outcome::Unknown => self.unknown += 1,
        }
        if r.error
            .as_deref()
            .is_some_and(|e| e.contains("IN-USE") || e.contains("SYS/TEMP"))
        {
            self.in_use += 1;
        }
    }

    /// Share of operations confirmed, in percent.
    pub fn ok_pct(&self) -> f64 {
        let total = self.ok + self.failed + self.unknown;
        if total == 0 {
            return 100.0;
        }
        // Counts are far below 2^52: exact in f64.
        #[allow(clippy::cast_precision_loss)]
        let pct = self.ok as f64 * 100.0 / total as f64;
        pct
    }
}

/// What the checker found.
#[derive(Debug, Default, Serialize)]
pub struct Verdict {
    /// Every broken invariant.
    pub violations: Vec<Violation>,
    /// Operation counts by op name.
    pub ops: BTreeMap<String, Counts>,
    /// Messages acknowledged / refused / unknown.
    pub messages: BTreeMap<String, u64>,
    /// Deletions acknowledged / unknown.
    pub deletions: BTreeMap<String, u64>,
    /// Workload outcomes per target node (`node1`, ...).
    pub availability_by_node: BTreeMap<String, Counts>,
    /// Workload outcomes per active fault (`none`, `kill/faulted-node`, `pause/other-node`, ...).
    pub availability_by_fault: BTreeMap<String, Counts>,
    /// Faults injected, by kind.
    pub faults: BTreeMap<String, u64>,
    /// Replies to SMTP sends started inside a partition, to a node of the minority, by reply
    /// code (`250`, `451`, ...; `none`: no reply to the end of data; `before-data`: failed
    /// earlier, with the error), marked `(answered after the heal)` when the reply came only
    /// then.
    pub partition_minority_smtp: BTreeMap<String, u64>,
}

/// Time after a cut before a minority node's `250` counts as a violation: a commit already in
/// flight when the cut happened may still be answered.
pub const CUT_GRACE_MS: u64 = 1_000;

struct SendInfo {
    outcome: Outcome,
    accepted: BTreeSet<String>,
    refused_after_data: bool,
}

fn op_name(op: &Op) -> &'static str {
    match op {
        Op::Send { .. } => "send",
        Op::Read {
            final_check: true, ..
        } => "final_read",
        Op::Read { .. } => "read",
        Op::Expunge { .. } => "expunge",
        Op::CreateAccount { .. } => "create_account",
        Op::Fault { .. } => "fault",
        Op::Flag { .. } => "flag",
    }
}

/// Splits a UIDL id `UIDVALIDITY.UID`.
fn split_uidl(uidl: &str) -> Option<(u64, u64)> {
    let (v, u) = uidl.split_once('.')?;
    Some((v.parse().ok()?, u.parse().ok()?))
}

/// Judges `records`; `nodes` is the cluster size.
#[allow(clippy::too_many_lines)]
pub fn check(records: &[Record], nodes: usize) -> Verdict {
    let mut v = Verdict::default();
    let mut violate = |check: u8, detail: String| v.violations.push(Violation { check, detail });

    // Sends.
    let mut sends: HashMap<&str, SendInfo> = HashMap::new();
    let mut msg_counts: BTreeMap<String, u64> = BTreeMap::new();
    for r in records {
        if let Op::Send {
            token,
            accepted,
            data_sent,
            reply,
            ..
        } = &r.op
        {
            let key = match r.outcome {
                Outcome::Ok => "acknowledged",
                Outcome::Failed if *data_sent && reply.is_some() => "refused_after_data",
                Outcome::Failed => "failed_before_data",
                Outcome::Unknown => "unknown",
            };
            *msg_counts.entry(key.to_owned()).or_default() += 1;
            sends.insert(
                token,
                SendInfo {
                    outcome: r.outcome,
                    accepted: accepted.iter().cloned().collect(),
                    refused_after_data: *data_sent
                        && reply.is_some()
                        && r.outcome == Outcome::Failed,
                },
            );
        }
    }

    // Deletions: token -> end of the acknowledged session; tokens of unknown ones.
    let mut deleted_ok: HashMap<String, u64> = HashMap::new();
    let mut deleted_maybe: HashSet<String> = HashSet::new();
    let mut del_counts: BTreeMap<String, u64> = BTreeMap::new();
    for r in records {
        if let Op::Expunge { deleted, .. } = &r.op {
            for e in deleted {
                let Some(token) = &e.token else { continue };
                match r.outcome {
                    Outcome::Ok => {
                        *del_counts.entry("acknowledged".into()).or_default() += 1;
                        let end = deleted_ok.entry(token.clone()).or_insert(r.end_ms);
                        *end = (*end).min(r.end_ms);
                    }
                    Outcome::Unknown => {
                        *del_counts.entry("unknown".into()).or_default() += 1;
                        deleted_maybe.insert(token.clone());
                    }
                    Outcome::Failed => {}
                }
            }
        }
    }

    // Listings: checks 1 (duplicates, misdelivery), 2, 3, 4.
    let mut uidvalidity: HashMap<&str, (u64, u64)> = HashMap::new();
    let mut uid_token: HashMap<(&str, &str), (&str, u64)> = HashMap::new();
    let mut token_uid: HashMap<(&str, &str), (&str, u64)> = HashMap::new();
    let mut reported: HashSet<String> = HashSet::new();
    let mut once = |key: String, check: u8, detail: String, violate: &mut dyn FnMut(u8, String)| {
        if reported.insert(key) {
            violate(check, detail);
        }
    };
    let mut final_reads: BTreeMap<(&str, usize), &Record> = BTreeMap::new();
    for r in records {
        let (account, listing, final_check): (&str, &[Entry], bool) = match &r.op {
            Op::Read {
                account,
                listing: Some(l),
                final_check,
            } => (account, l, *final_check),
            Op::Expunge { account, deleted } => (account, deleted, false),
            _ => continue,
        };
        if final_check {
            final_reads.insert((account, r.node), r);
        }
        let whole = matches!(r.op, Op::Read { .. });
        let mut seen_uidl = HashSet::new();
        let mut seen_token = HashSet::new();
        let mut last_uid: Option<u64> = None;
        for e in listing {
            if whole && !seen_uidl.insert(e.uidl.as_str()) {
                violate(
                    3,
                    format!(
                        "op {} node{}: {account} lists UIDL {} twice",
                        r.id, r.node, e.uidl
                    ),
                );
            }
            match split_uidl(&e.uidl) {
                Some((validity, uid)) => {
                    let first = uidvalidity.entry(account).or_insert((validity, r.id));
                    if first.0 != validity {
                        once(
                            format!("uidvalidity {account} {validity}"),
                            3,
                            format!(
                                "{account}: UIDVALIDITY changed from {} (op {}) to {validity} (op {} on node{})",
                                first.0, first.1, r.id, r.node
                            ),
                            &mut violate,
                        );
                    }
                    if whole {
                        if let Some(prev) = last_uid
                            && uid <= prev
                        {
                            violate(
                                3,
                                format!(
                                    "op {} node{}: {account} UIDs do not ascend with message numbers ({prev} then {uid})",
                                    r.id, r.node
                                ),
                            );
                        }
                        last_uid = Some(uid);
                    }
                }
                None => once(
                    format!("uidl-format {account}"),
                    3,
                    format!(
                        "{account}: UIDL id {:?} is not UIDVALIDITY.UID (op {})",
                        e.uidl, r.id
                    ),
                    &mut violate,
                ),
            }
            let Some(token) = e.token.as_deref() else {
                continue;
            };
            if let Some((other, first_op)) = uid_token.get(&(account, e.uidl.as_str()))
                && *other != token
            {
                once(
                    format!("uid-reuse {account} {}", e.uidl),
                    3,
                    format!(
                        "{account}: UIDL {} named {other} (op {first_op}) and later {token} (op {} on node{})",
                        e.uidl, r.id, r.node
                    ),
                    &mut violate,
                );
            }
            uid_token
                .entry((account, e.uidl.as_str()))
                .or_insert((token, r.id));
            if let Some((other, first_op)) = token_uid.get(&(account, token))
                && *other != e.uidl
            {
                once(
                    format!("uid-change {account} {token}"),
                    3,
                    format!(
                        "{account}: message {token} had UIDL {other} (op {first_op}) and later {} (op {} on node{}): re-appended?",
                        e.uidl, r.id, r.node
                    ),
                    &mut violate,
                );
            }
            token_uid
                .entry((account, token))
                .or_insert((e.uidl.as_str(), r.id));
            if whole && !seen_token.insert(token) {
                once(
                    format!("dup {account} {token}"),
                    1,
                    format!(
                        "{account}: message {token} listed twice in one session (op {} on node{})",
                        r.id, r.node
                    ),
                    &mut violate,
                );
            }
            match sends.get(token) {
                Some(s) if s.outcome == Outcome::Failed => once(
                    format!("refused {token}"),
                    2,
                    format!(
                        "message {token} was refused ({}) but appears in {account} (op {} on node{})",
                        if s.refused_after_data {
                            "reply to end of data"
                        } else {
                            "before data"
                        },
                        r.id,
                        r.node
                    ),
                    &mut violate,
                ),
                Some(s) if !s.accepted.contains(account) => once(
                    format!("misdelivered {token} {account}"),
                    1,
                    format!(
                        "message {token} appears in {account}, which was not a recipient (op {})",
                        r.id
                    ),
                    &mut violate,
                ),
                None => once(
                    format!("unknown token {token}"),
                    1,
                    format!(
                        "{account} holds a message with token {token} that was never sent (op {})",
                        r.id
                    ),
                    &mut violate,
                ),
                Some(_) => {}
            }
            // Only the expunger's copy is deleted; other recipients keep theirs.
            if whole
                && account == EXPUNGER
                && let Some(end) = deleted_ok.get(token)
                && r.start_ms > *end
            {
                once(
                    format!("reappeared {token} {}", r.id),
                    4,
                    format!(
                        "message {token} deleted by a session acknowledged at {end} ms reappears in op {} on node{} started at {} ms",
                        r.id, r.node, r.start_ms
                    ),
                    &mut violate,
                );
            }
        }
    }

    // Check 1: final presence, per account and node.
    let mut accounts: BTreeSet<&str> = BTreeSet::new();
    for s in sends.values() {
        accounts.extend(s.accepted.iter().map(String::as_str));
    }
    for account in &accounts {
        for node in 1..=nodes {
            let Some(r) = final_reads.get(&(*account, node)) else {
                violate(
                    6,
                    format!("{account} could not be read through node{node} after healing"),
                );
                continue;
            };
            let Op::Read {
                listing: Some(listing),
                ..
            } = &r.op
            else {
                continue;
            };
            let mut count: HashMap<&str, usize> = HashMap::new();
            for e in listing {
                if let Some(t) = e.token.as_deref() {
                    *count.entry(t).or_default() += 1;
                }
            }
            let mut lost = Vec::new();
            for (token, s) in &sends {
                if !s.accepted.contains(*account) {
                    continue;
                }
                let n = count.get(token).copied().unwrap_or(0);
                let deleted = *account == EXPUNGER
                    && (deleted_ok.contains_key(*token) || deleted_maybe.contains(*token));
                match s.outcome {
                    Outcome::Ok if n == 0 && !deleted => lost.push(*token),
                    Outcome::Ok | Outcome::Unknown if n > 1 => violate(
                        1,
                        format!(
                            "{account} through node{node}: message {token} delivered {n} times"
                        ),
                    ),
                    _ => {}
                }
            }
            if !lost.is_empty() {
                lost.sort_unstable();
                violate(
                    1,
                    format!(
                        "{account} through node{node}: {} acknowledged message(s) missing: {}",
                        lost.len(),
                        lost.join(" ")
                    ),
                );
            }
        }
    }

    // Check 5: directory linearizability.
    for r in records {
        if let Op::CreateAccount {
            account,
            verify_node,
            verify,
            verify_saw,
            login_node,
            login,
            login_ok,
        } = &r.op
            && r.outcome == Outcome::Ok
        {
            if *verify_saw == Some(false) {
                violate(
                    5,
                    format!(
                        "{account} created through node{} (op {}, returned at {} ms) but GetAccountSettings through node{verify_node} said {:?}",
                        r.node,
                        r.id,
                        r.end_ms,
                        verify.as_deref().unwrap_or("")
                    ),
                );
            }
            if *login_ok == Some(false) {
                violate(
                    5,
                    format!(
                        "{account} created through node{} (op {}) but a POP3 login through node{login_node} right after was refused: {:?}",
                        r.node,
                        r.id,
                        login.as_deref().unwrap_or("")
                    ),
                );
            }
        }
    }

    // Check 7: availability.
    let faults: Vec<(u64, u64, usize, FaultKind)> = records
        .iter()
        .filter_map(|r| match r.op {
            Op::Fault { kind, .. } => Some((r.start_ms, r.end_ms, r.node, kind)),
            _ => None,
        })
        .collect();
    for (_, _, _, kind) in &faults {
        *v.faults.entry(kind.name().to_owned()).or_default() += 1;
    }
    for r in records {
        if matches!(r.op, Op::Fault { .. }) {
            continue;
        }
        v.ops.entry(op_name(&r.op).to_owned()).or_default().add(r);
        if matches!(
            r.worker.as_str(),
            "heal" | "final" | "drain" | "setup" | "lease"
        ) {
            continue;
        }
        v.availability_by_node
            .entry(format!("node{}", r.node))
            .or_default()
            .add(r);
        let key = faults
            .iter()
            .find(|(s, e, _, _)| r.start_ms >= *s && r.start_ms <= *e)
            .map_or_else(
                || "none".to_owned(),
                |(_, _, node, kind)| {
                    let target = if *node == r.node {
                        "faulted-node"
                    } else {
                        "other-node"
                    };
                    format!("{}/{target}", kind.name())
                },
            );
        v.availability_by_fault.entry(key).or_default().add(r);
    }
    // Check 9: a `\Seen` flag acknowledged by STORE is never lost: an IMAP read that started
    // after the STORE returned shows the message (if still listed) with `\Seen`.
    let mut flagged: HashMap<(&str, &str), u64> = HashMap::new();
    for r in records {
        if let Op::Flag { account, uidl } = &r.op
            && r.outcome == Outcome::Ok
        {
            let end = flagged.entry((account, uidl)).or_insert(r.end_ms);
            *end = (*end).min(r.end_ms);
        }
    }
    let mut lost_flags: HashSet<(&str, &str)> = HashSet::new();
    for r in records {
        let Op::Read {
            account,
            listing: Some(listing),
            ..
        } = &r.op
        else {
            continue;
        };
        for e in listing {
            if e.seen == Some(false)
                && let Some(end) = flagged.get(&(account.as_str(), e.uidl.as_str()))
                && r.start_ms > *end
                && lost_flags.insert((account, &e.uidl))
            {
                v.violations.push(Violation {
                    check: 9,
                    detail: format!(
                        "{account}: \\Seen stored on {} (acknowledged at {end} ms) is missing in op {} on node{} started at {} ms",
                        e.uidl, r.id, r.node, r.start_ms
                    ),
                });
            }
        }
    }

    // Check 8: a cut-off minority does not acknowledge.
    let cuts: Vec<(u64, u64, &[usize])> = records
        .iter()
        .filter_map(|r| match &r.op {
            // Only partitions (of the planned node or of the leader) cut.
            Op::Fault {
                minority,
                cut_ms: Some(cut),
                ..
            } => Some((*cut, r.end_ms, minority.as_slice())),
            _ => None,
        })
        .collect();
    let mut minority_smtp: BTreeMap<String, u64> = BTreeMap::new();
    for r in records {
        let Op::Send {
            token,
            data_sent,
            reply,
            ..
        } = &r.op
        else {
            continue;
        };
        let Some((cut, heal, _)) = cuts.iter().find(|(cut, heal, minority)| {
            minority.contains(&r.node) && r.start_ms >= *cut && r.start_ms < *heal
        }) else {
            continue;
        };
        let after_heal = if r.end_ms > *heal {
            " (answered after the heal)"
        } else {
            ""
        };
        let key = match (reply, data_sent) {
            (Some(reply), _) => reply.chars().take(3).collect(),
            (None, true) => "none".to_owned(),
            (None, false) => format!(
                "before-data: {}",
                r.error
                    .as_deref()
                    .unwrap_or("")
                    .chars()
                    .take(60)
                    .collect::<String>()
            ),
        };
        *minority_smtp
            .entry(format!("{key}{after_heal}"))
            .or_default() += 1;
        if r.outcome == Outcome::Ok && r.start_ms >= cut + CUT_GRACE_MS && r.end_ms <= *heal {
            v.violations.push(Violation {
                check: 8,
                detail: format!(
                    "node{} was cut off in a minority from {cut} to {heal} ms but acknowledged message {token} ({}) sent from {} to {} ms (op {})",
                    r.node,
                    reply.as_deref().unwrap_or(""),
                    r.start_ms,
                    r.end_ms,
                    r.id
                ),
            });
        }
    }
    v.partition_minority_smtp = minority_smtp;
    v.messages = msg_counts;
    v.deletions = del_counts;
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(id: u64, node: usize, start_ms: u64, end_ms: u64, outcome: Outcome, op: Op) -> Record {
        Record {
            id,
            worker: "t".into(),
            node,
            start_ms,
            end_ms,
            outcome,
            error: None,
            op,
        }
    }

    fn send(id: u64, token: &str, to: &[&str], outcome: Outcome) -> Record {
        let to: Vec<String> = to.iter().map(|s| (*s).to_owned()).collect();
        rec(
            id,
            1,
            0,
            1,
            outcome,
            Op::Send {
                token: token.into(),
                rcpts: to.clone(),
                accepted: to,
                data_sent: true,
                reply: (outcome != Outcome::Unknown).then(|| "250 ok".into()),
            },
        )
    }

    fn read(
        id: u64,
        node: usize,
        start: u64,
        account: &str,
        final_check: bool,
        l: &[(&str, &str)],
    ) -> Record {
        let listing = l
            .iter()
            .enumerate()
            .map(|(i, (uidl, token))| Entry {
                num: u32::try_from(i + 1).expect("small"),
                uidl: (*uidl).into(),
                token: Some((*token).into()),
                seen: None,
            })
            .collect();
        rec(
            id,
            node,
            start,
            start + 1,
            Outcome::Ok,
            Op::Read {
                account: account.into(),
                final_check,
                listing: Some(listing),
            },
        )
    }

    fn checks(v: &Verdict) -> Vec<u8> {
        v.violations.iter().map(|x| x.check).collect()
    }

    #[test]
    fn clean_history_passes() {
        let h = vec![
            send(0, "a", &["u1"], Outcome::Ok),
            send(1, "b", &["u1"], Outcome::Unknown),
            read(2, 1, 10, "u1", true, &[("7.1", "a")]),
            read(3, 2, 11, "u1", true, &[("7.1", "a"), ("7.2", "b")]),
        ];
        let v = check(&h, 2);
        assert!(v.violations.is_empty(), "{:?}", v.violations);
    }

    #[test]
    fn lost_duplicate_refused_and_uid_problems_are_found() {
        let mut refused = send(1, "r", &["u1"], Outcome::Failed);
        if let Op::Send { reply, .. } = &mut refused.op {
            *reply = Some("451 4.3.0 try later".into());
        }
        let h = vec![
            send(0, "a", &["u1"], Outcome::Ok),
            refused,
            send(2, "c", &["u1"], Outcome::Ok),
            read(3, 1, 10, "u1", false, &[("7.1", "a"), ("7.1", "r")]),
            read(4, 1, 20, "u1", true, &[("8.2", "c"), ("8.3", "c")]),
        ];
        let v = check(&h, 1);
        let c = checks(&v);
        assert!(c.contains(&1), "lost a / duplicate c: {:?}", v.violations);
        assert!(c.contains(&2), "refused r appears: {:?}", v.violations);
        assert!(
            c.contains(&3),
            "uidl reuse and validity change: {:?}",
            v.violations
        );
    }

    #[test]
    fn deleted_message_reappearing_is_found() {
        let h = vec![
            send(0, "a", &[EXPUNGER], Outcome::Ok),
            rec(
                1,
                1,
                5,
                6,
                Outcome::Ok,
                Op::Expunge {
                    account: EXPUNGER.into(),
                    deleted: vec![Entry {
                        num: 1,
                        uidl: "1.1".into(),
                        token: Some("a".into()),
                        seen: None,
                    }],
                },
            ),
            read(2, 1, 4, EXPUNGER, false, &[("1.1", "a")]),
            read(3, 1, 10, EXPUNGER, true, &[("1.1", "a")]),
        ];
        let v = check(&h, 1);
        assert_eq!(checks(&v), [4], "{:?}", v.violations);
    }

    #[test]
    fn lost_seen_flag_is_found() {
        let mut later = read(2, 2, 10, "u1", false, &[("7.1", "a")]);
        if let Op::Read {
            listing: Some(l), ..
        } = &mut later.op
        {
            l[0].seen = Some(false);
        }
        let h = vec![
            send(0, "a", &["u1"], Outcome::Ok),
            rec(
                1,
                1,
                3,
                4,
                Outcome::Ok,
                Op::Flag {
                    account: "u1".into(),
                    uidl: "7.1".into(),
                },
            ),
            later,
            read(3, 1, 20, "u1", true, &[("7.1", "a")]),
        ];
        assert_eq!(checks(&check(&h, 1)), [9]);
    }

    #[test]
    fn stale_directory_read_is_found() {
        let h = vec![rec(
            0,
            1,
            0,
            1,
            Outcome::Ok,
            Op::CreateAccount {
                account: "lin1".into(),
                verify_node: 2,
                verify: Some("512 Unknown account".into()),
                verify_saw: Some(false),
                login_node: 3,
                login: None,
                login_ok: None,
            },
        )];
        assert_eq!(checks(&check(&h, 3)), [5]);
    }
}
