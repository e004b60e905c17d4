//! The selected mailbox as one session sees it (RFC 9051 §2.3.1, §7.4,
//! §5.2): message sequence numbers, the session's `\Recent` set, and the
//! untagged updates that bring the session up to date with the store.
//!
//! Invariants: entries are ascending by UID, and message number `n` is
//! entry `n - 1`. Messages expunged by others stay in the view (and keep
//! their numbers) until an update that may carry EXPUNGE responses
//! (RFC 9051 §7.5.1: not during FETCH, STORE or SEARCH).
//! Under QRESYNC they are told as `* VANISHED` (RFC 7162 §3.2.10), and a
//! SELECT with the QRESYNC parameter gets `VANISHED (EARLIER)` and FETCH
//! for what changed since the client's mod-sequence ([`View::resync`]).

use storage::{Flags, Uid};

use super::command::{SeqNum, SequenceSet};
use super::response::{flag_list, number_set, range_set};

/// What identifies one state of a mailbox: every change to it gives one of
/// these a new value (an append, a flag change or an expunge a new
/// mod-sequence, RFC 7162 §3.1; a session taking the recent messages a new
/// first recent UID; a rebuild a new mod-sequence; a re-created mailbox a
/// new UIDVALIDITY). Equal stamps: nothing to tell a session again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    /// UIDVALIDITY.
    pub uid_validity: u32,
    /// UIDNEXT.
    pub uid_next: u32,
    /// HIGHESTMODSEQ.
    pub highest_modseq: u64,
    /// The lowest UID not yet recent to any session.
    pub first_recent: u32,
    /// The number of messages.
    pub messages: usize,
}

/// What the store holds now: UIDVALIDITY, UIDNEXT, HIGHESTMODSEQ, the
/// messages in UID order (their `recent` unused), and from which UID they
/// are `\Recent` to this session.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Snapshot {
    /// UIDVALIDITY.
    pub uid_validity: u32,
    /// UIDNEXT.
    pub uid_next: u32,
    /// HIGHESTMODSEQ (RFC 7162).
    pub highest_modseq: u64,
    /// Messages from this UID on are `\Recent` to the session (RFC 3501
    /// §2.3.2): no session was told of them before it.
    pub first_recent: u32,
    /// Messages ascending by UID: all of them, or with
    /// [`Snapshot::expunged`] only those appended or changed since.
    pub messages: Vec<Entry>,
    /// `None`: `messages` is the whole mailbox. `Some`: the snapshot is
    /// the changes since the state a view last caught up with
    /// ([`View::synced`]): `messages` holds the messages whose
    /// mod-sequence is newer, and this the UIDs expunged since, ascending.
    /// Copying and comparing only those keeps the update after each
    /// command small in a large mailbox.
    pub expunged: Option<Vec<Uid>>,
}

/// One message in the view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The UID.
    pub uid: Uid,
    /// Flags as last told to the client.
    pub flags: Flags,
    /// Keywords as last told to the client.
    pub keywords: Vec<String>,
    /// Mod-sequence as last told to the client.
    pub modseq: u64,
    /// `\Recent` for this session.
    pub recent: bool,
}

impl Entry {
    /// A message without keywords, mod-sequence 1.
    pub fn new(uid: Uid, flags: Flags) -> Entry {
        Entry {
            uid,
            flags,
            keywords: Vec::new(),
            modseq: 1,
            recent: false,
        }
    }

    /// The FLAGS list of the message.
    pub fn flag_list(&self) -> String {
        flag_list(self.flags, &self.keywords, self.recent)
    }
}

/// A message a command names ([`View::resolve`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Target {
    /// Its message number.
    pub seq: u32,
    /// Its UID.
    pub uid: Uid,
    /// `\Recent` for this session.
    pub recent: bool,
}

/// The system flags for FLAGS and PERMANENTFLAGS.
const SYSTEM_FLAGS: &str = "\\Answered \\Flagged \\Deleted \\Seen \\Draft";

/// A session's view of its selected mailbox.
#[derive(Debug, Clone)]
pub struct View {
    /// The mailbox name (UTF-8).
    pub name: String,
    /// EXAMINE, or SELECT of a mailbox that cannot be written.
    pub read_only: bool,
    /// UIDVALIDITY at SELECT.
    pub uid_validity: u32,
    /// UIDNEXT as last seen.
    pub uid_next: u32,
    /// HIGHESTMODSEQ as last seen.
    pub highest_modseq: u64,
    /// CONDSTORE is on (RFC 7162 §3.1): FETCH updates carry MODSEQ.
    pub condstore: bool,
    /// QRESYNC is on (RFC 7162 §3.2.7): expunges are told as VANISHED.
    pub qresync: bool,
    /// The keywords defined in the mailbox, as told in FLAGS.
    keywords: Vec<String>,
    entries: Vec<Entry>,
    /// The state of the mailbox this view last caught up with completely
    /// (nothing held back): while the mailbox keeps it, a sync has nothing
    /// to do.
    pub synced: Option<Stamp>,
}

impl View {
    /// The view right after SELECT: messages from `snap.first_recent` on
    /// are `\Recent`.
    pub fn new(name: String, read_only: bool, snap: &Snapshot) -> View {
        debug_assert!(
            snap.expunged.is_none(),
            "a view starts from the whole mailbox"
        );
        let mut view = View {
            name,
            read_only,
            uid_validity: snap.uid_validity,
            uid_next: snap.uid_next,
            highest_modseq: snap.highest_modseq,
            condstore: false,
            qresync: false,
            keywords: Vec::new(),
            entries: snap.messages.clone(),
            synced: None,
        };
        for e in &mut view.entries {
            e.recent = e.uid.0 >= snap.first_recent;
        }
        view.learn_keywords(snap.messages.iter().flat_map(|m| &m.keywords));
        view
    }

    /// Adds `keywords` to the mailbox's list; whether there were new ones.
    fn learn_keywords<'a>(&mut self, keywords: impl IntoIterator<Item = &'a String>) -> bool {
        let mut new = false;
        for k in keywords {
            if !self.keywords.iter().any(|o| o.eq_ignore_ascii_case(k)) {
                self.keywords.push(k.clone());
                new = true;
            }
        }
        new
    }

    /// Adds keywords about to be shown in a FETCH to the mailbox's list;
    /// the FLAGS responses to send first when some were new.
    pub fn note_keywords<'a>(
        &mut self,
        keywords: impl IntoIterator<Item = &'a String>,
    ) -> Option<String> {
        self.learn_keywords(keywords)
            .then(|| self.flags_responses())
    }

    /// The `* FLAGS` and `* OK [PERMANENTFLAGS]` responses (RFC 9051
    /// §7.3.5, §7.1): system flags, the mailbox's keywords, and `\*`
    /// (new keywords may be stored) unless read-only.
    pub fn flags_responses(&self) -> String {
        let mut all = String::from(SYSTEM_FLAGS);
        for k in &self.keywords {
            all.push(' ');
            all.push_str(k);
        }
        let permanent = if self.read_only {
            String::new()
        } else {
            format!("{all} \\*")
        };
        format!(
            "* FLAGS ({all})\r\n* OK [PERMANENTFLAGS ({permanent})] {}\r\n",
            if self.read_only {
                "Read-only mailbox"
            } else {
                "Flags and keywords are permanent"
            }
        )
    }

    /// The entries in message-number order.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// The number of messages (EXISTS).
    pub fn exists(&self) -> u32 {
        self.entries.len() as u32
    }

    /// How many are `\Recent`.
    pub fn recent(&self) -> u32 {
        self.entries.iter().filter(|e| e.recent).count() as u32
    }

    /// The message number of `uid`.
    pub fn seq_of(&self, uid: Uid) -> Option<u32> {
        self.entries
            .binary_search_by_key(&uid, |e| e.uid)
            .ok()
            .map(|i| i as u32 + 1)
    }

    /// The messages a set designates, in number order. With `uid`, the
    /// set holds UIDs and `*` is the highest UID (RFC 9051 §9
    /// `seq-range`); otherwise numbers and `*` is the last number.
    pub fn resolve(&self, set: &SequenceSet, uid: bool) -> Vec<Target> {
        let star = if uid {
            self.entries.last().map_or(0, |e| e.uid.0)
        } else {
            self.exists()
        };
        self.entries
            .iter()
            .enumerate()
            .filter(|(i, e)| {
                let n = if uid { e.uid.0 } else { *i as u32 + 1 };
                set.contains(n, star)
            })
            .map(|(i, e)| Target {
                seq: i as u32 + 1,
                uid: e.uid,
                recent: e.recent,
            })
            .collect()
    }

    /// Whether a non-UID set names a number past the last message
    /// (RFC 9051 §6.4.5 asks for BAD on an invalid message number).
    pub fn out_of_range(&self, set: &SequenceSet) -> bool {
        let max = self.exists();
        set.0.iter().any(|(a, b)| {
            [a, b].iter().any(|n| {
                matches!(n, SeqNum::Value(v) if *v > max) || (max == 0 && matches!(n, SeqNum::Star))
            })
        })
    }

    /// Records the flags, keywords and mod-sequence of a message the
    /// client has been told (its `\Recent` is the view's own).
    pub fn set_flags(&mut self, told: Entry) {
        if let Ok(i) = self.entries.binary_search_by_key(&told.uid, |e| e.uid) {
            let e = &mut self.entries[i];
            e.flags = told.flags;
            e.keywords = told.keywords;
            e.modseq = e.modseq.max(told.modseq);
        }
    }

    /// Removes messages this session expunged and returns their untagged
    /// report: `* n EXPUNGE` each, or one `* VANISHED` under QRESYNC
    /// (RFC 7162 §3.2.10). `gone` is ascending.
    pub fn expunged(&mut self, gone: &[Uid]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut told = Vec::new();
        for uid in gone {
            if let Some(seq) = self.remove(*uid) {
                told.push(*uid);
                if !self.qresync {
                    out.extend_from_slice(format!("* {seq} EXPUNGE\r\n").as_bytes());
                }
            }
        }
        if self.qresync && !told.is_empty() {
            out.extend_from_slice(&vanished_line(&told));
        }
        out
    }

    /// The untagged responses after the usual ones of a SELECT with the
    /// QRESYNC parameter (RFC 7162 §3.2.5.2): `* VANISHED (EARLIER)` for
    /// the known UIDs expunged since `modseq`, then `* n FETCH (UID FLAGS
    /// MODSEQ)` for the known messages changed since. `expunged` is what
    /// the store remembers ([`vanished_earlier`]).
    pub fn resync(
        &self,
        modseq: u64,
        known: Option<&SequenceSet>,
        expunged: Option<&[Uid]>,
    ) -> Vec<u8> {
        let mut out = Vec::new();
        let present: Vec<Uid> = self.entries.iter().map(|e| e.uid).collect();
        let gone = vanished_earlier(&present, self.uid_next, known, expunged);
        if !gone.is_empty() {
            out.extend_from_slice(
                format!("* VANISHED (EARLIER) {}\r\n", range_set(&gone)).as_bytes(),
            );
        }
        let star = present.last().map_or(0, |u| u.0);
        for (i, e) in self.entries.iter().enumerate() {
            if e.modseq > modseq && known.is_none_or(|k| k.contains(e.uid.0, star)) {
                out.extend_from_slice(
                    format!(
                        "* {} FETCH (UID {} FLAGS {} MODSEQ ({}))\r\n",
                        i + 1,
                        e.uid,
                        e.flag_list(),
                        e.modseq
                    )
                    .as_bytes(),
                );
            }
        }
        out
    }

    /// Removes an expunged message; returns its number for `* n EXPUNGE`.
    pub fn remove(&mut self, uid: Uid) -> Option<u32> {
        let i = self.entries.binary_search_by_key(&uid, |e| e.uid).ok()?;
        self.entries.remove(i);
        Some(i as u32 + 1)
    }

    /// Brings the view up to `snap` (the whole mailbox, or the changes
    /// since [`View::synced`]) and returns the untagged responses that tell
    /// the client: FLAGS for new keywords, EXPUNGE (only with
    /// `allow_expunge`), FETCH FLAGS (and MODSEQ under CONDSTORE) for flags
    /// changed elsewhere, EXISTS and RECENT for new mail.
    pub fn sync(&mut self, snap: &Snapshot, allow_expunge: bool) -> Vec<u8> {
        let mut out = Vec::new();
        if self.learn_keywords(snap.messages.iter().flat_map(|m| &m.keywords)) {
            out.extend_from_slice(self.flags_responses().as_bytes());
        }
        let gone = |uid: Uid| match &snap.expunged {
            None => snap.messages.binary_search_by_key(&uid, |m| m.uid).is_err(),
            Some(expunged) => expunged.binary_search(&uid).is_ok(),
        };
        if allow_expunge {
            let mut told = Vec::new();
            // Highest first, so the numbers of the lower ones still hold.
            for i in (0..self.entries.len()).rev() {
                if gone(self.entries[i].uid) {
                    told.push(self.entries.remove(i).uid);
                    if !self.qresync {
                        out.extend_from_slice(format!("* {} EXPUNGE\r\n", i + 1).as_bytes());
                    }
                }
            }
            if self.qresync && !told.is_empty() {
                told.reverse();
                out.extend_from_slice(&vanished_line(&told));
            }
        }
        for now in &snap.messages {
            let Ok(i) = self.entries.binary_search_by_key(&now.uid, |e| e.uid) else {
                continue;
            };
            let e = &mut self.entries[i];
            let changed = now.flags != e.flags || now.keywords != e.keywords;
            let newer = now.modseq > e.modseq;
            e.modseq = e.modseq.max(now.modseq);
            if changed || (newer && self.condstore) {
                e.flags = now.flags;
                e.keywords = now.keywords.clone();
                let modseq = if self.condstore {
                    format!(" MODSEQ ({})", e.modseq)
                } else {
                    String::new()
                };
                out.extend_from_slice(
                    format!(
                        "* {} FETCH (UID {} FLAGS {}{modseq})\r\n",
                        i + 1,
                        e.uid,
                        e.flag_list()
                    )
                    .as_bytes(),
                );
            }
        }
        let last = self.entries.last().map_or(0, |e| e.uid.0);
        let fresh: Vec<Entry> = snap
            .messages
            .iter()
            .filter(|m| m.uid.0 > last)
            .map(|m| Entry {
                recent: m.uid.0 >= snap.first_recent,
                ..m.clone()
            })
            .collect();
        if !fresh.is_empty() {
            self.entries.extend(fresh);
            out.extend_from_slice(format!("* {} EXISTS\r\n", self.exists()).as_bytes());
            out.extend_from_slice(format!("* {} RECENT\r\n", self.recent()).as_bytes());
        }
        self.uid_next = self.uid_next.max(snap.uid_next);
        self.highest_modseq = self.highest_modseq.max(snap.highest_modseq);
        out
    }
}

/// `* VANISHED uid-set` for UIDs ascending (RFC 7162 §3.2.10).
fn vanished_line(uids: &[Uid]) -> Vec<u8> {
    let ns: Vec<u32> = uids.iter().map(|u| u.0).collect();
    format!("* VANISHED {}\r\n", number_set(&ns)).into_bytes()
}

/// The UIDs to report in `VANISHED (EARLIER)` (RFC 7162 §3.2.5.2,
/// §3.2.6), as ascending disjoint ranges: those of `within` (all UIDs when
/// absent; `*` is the highest UID below `uid_next`) that were expunged,
/// by the store's list `expunged`. When that list does not reach back far
/// enough (`None`), every UID of `within` below `uid_next` that is not
/// `present` (ascending) is reported, which the RFC allows: a client
/// ignores UIDs it does not know.
pub fn vanished_earlier(
    present: &[Uid],
    uid_next: u32,
    within: Option<&SequenceSet>,
    expunged: Option<&[Uid]>,
) -> Vec<(u32, u32)> {
    let max = uid_next.saturating_sub(1);
    if max == 0 {
        return Vec::new();
    }
    // The ranges of `within`, clipped to 1..=max, sorted and merged.
    let mut ranges: Vec<(u32, u32)> = match within {
        None => vec![(1, max)],
        Some(set) => set
            .0
            .iter()
            .map(|&(a, b)| {
                let v = |n: SeqNum| match n {
                    SeqNum::Value(v) => v,
                    SeqNum::Star => max,
                };
                let (a, b) = (v(a).min(v(b)), v(a).max(v(b)));
                (a.max(1), b.min(max))
            })
            .filter(|(a, b)| a <= b)
            .collect(),
    };
    ranges.sort_unstable();
    let mut merged: Vec<(u32, u32)> = Vec::new();
    for (a, b) in ranges {
        match merged.last_mut() {
            Some(m) if a <= m.1.saturating_add(1) => m.1 = m.1.max(b),
            _ => merged.push((a, b)),
        }
    }
    let inside = |u: u32| merged.iter().any(|&(a, b)| a <= u && u <= b);
    let mut out: Vec<(u32, u32)> = Vec::new();
    let mut push = |a: u32, b: u32| match out.last_mut() {
        Some(m) if m.1.checked_add(1) == Some(a) => m.1 = b,
        _ => out.push((a, b)),
    };
    match expunged {
        Some(list) => {
            for u in list.iter().map(|u| u.0).filter(|&u| inside(u)) {
                if present.binary_search(&Uid(u)).is_err() {
                    push(u, u);
                }
            }
        }
        None => {
            for (a, b) in merged.iter().copied() {
                let mut next = a;
                let start = present.partition_point(|u| u.0 < a);
                for u in present[start..].iter().map(|u| u.0).take_while(|&u| u <= b) {
                    if u > next {
                        push(next, u - 1);
                    }
                    next = u + 1;
                }
                if next <= b {
                    push(next, b);
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::command::SeqNum;
    use super::*;

    fn snap(msgs: &[(u32, Flags)]) -> Snapshot {
        Snapshot {
            uid_validity: 7,
            uid_next: msgs.last().map_or(1, |m| m.0 + 1),
            highest_modseq: 1,
            first_recent: msgs.last().map_or(1, |m| m.0 + 1),
            messages: msgs.iter().map(|&(u, f)| Entry::new(Uid(u), f)).collect(),
            expunged: None,
        }
    }

    fn text(b: Vec<u8>) -> String {
        String::from_utf8(b).unwrap()
    }

    #[test]
    fn sequence_sets_resolve_against_numbers_and_uids() {
        let v = View::new(
            "INBOX".into(),
            false,
            &snap(&[(3, Flags::EMPTY), (5, Flags::EMPTY), (9, Flags::EMPTY)]),
        );
        let set = |r: &[(SeqNum, SeqNum)]| SequenceSet(r.to_vec());
        let nums = |r: Vec<Target>| r.iter().map(|t| (t.seq, t.uid.0)).collect::<Vec<_>>();
        assert_eq!(
            nums(v.resolve(&set(&[(SeqNum::Value(2), SeqNum::Star)]), false)),
            [(2, 5), (3, 9)]
        );
        assert_eq!(
            nums(v.resolve(&set(&[(SeqNum::Value(4), SeqNum::Value(9))]), true)),
            [(2, 5), (3, 9)]
        );
        // RFC 9051 §9: "n:*" includes the highest UID even when n is larger.
        assert_eq!(
            nums(v.resolve(&set(&[(SeqNum::Value(100), SeqNum::Star)]), true)),
            [(3, 9)]
        );
        assert!(v.out_of_range(&set(&[(SeqNum::Value(4), SeqNum::Value(4))])));
        assert!(!v.out_of_range(&set(&[(SeqNum::Value(1), SeqNum::Star)])));
    }

    #[test]
    fn sync_reports_expunge_flags_and_new_mail() {
        let mut v = View::new(
            "INBOX".into(),
            false,
            &snap(&[(1, Flags::EMPTY), (2, Flags::EMPTY), (3, Flags::EMPTY)]),
        );
        let mut now = snap(&[(1, Flags::SEEN), (3, Flags::EMPTY), (4, Flags::EMPTY)]);
        // No session was told of message 4 yet: it is recent to this one.
        now.first_recent = 4;
        // During FETCH/STORE/SEARCH the expunged message stays.
        assert_eq!(
            text(v.sync(&now, false)),
            "* 1 FETCH (UID 1 FLAGS (\\Seen))\r\n* 4 EXISTS\r\n* 1 RECENT\r\n"
        );
        assert_eq!(v.exists(), 4);
        assert_eq!(text(v.sync(&now, true)), "* 2 EXPUNGE\r\n");
        assert_eq!(v.exists(), 3);
        assert_eq!(v.seq_of(Uid(4)), Some(3));
        assert_eq!(text(v.sync(&now, true)), "");
        let gone = snap(&[]);
        assert_eq!(
            text(v.sync(&gone, true)),
            "* 3 EXPUNGE\r\n* 2 EXPUNGE\r\n* 1 EXPUNGE\r\n"
        );
    }

    /// A snapshot of the changes since the view's state (what the store
    /// gives once a view has caught up) tells the same as the whole
    /// mailbox, with expunges held back or not.
    #[test]
    fn changes_since_tell_what_the_whole_mailbox_tells() {
        let mut old = snap(&[
            (1, Flags::EMPTY),
            (2, Flags::EMPTY),
            (3, Flags::EMPTY),
            (4, Flags::EMPTY),
        ]);
        old.highest_modseq = 10;
        for m in &mut old.messages {
            m.modseq = 10;
        }
        // Since modseq 10: 2 expunged, 3 flagged and given a keyword, 5
        // and 6 delivered (6 not yet told to any session).
        let mut whole = old.clone();
        whole.messages.remove(1);
        whole.messages[1].flags = Flags::FLAGGED;
        whole.messages[1].keywords = vec!["$Work".into()];
        whole.messages[1].modseq = 11;
        whole.messages.push(Entry {
            modseq: 12,
            ..Entry::new(Uid(5), Flags::SEEN)
        });
        whole.messages.push(Entry {
            modseq: 13,
            ..Entry::new(Uid(6), Flags::EMPTY)
        });
        whole.uid_next = 7;
        whole.highest_modseq = 14;
        whole.first_recent = 6;
        let changes = Snapshot {
            messages: whole
                .messages
                .iter()
                .filter(|m| m.modseq > 10)
                .cloned()
                .collect(),
            expunged: Some(vec![Uid(2)]),
            ..whole.clone()
        };
        for allow_expunge in [false, true] {
            for condstore in [false, true] {
                let mut a = View::new("INBOX".into(), false, &old);
                a.condstore = condstore;
                let mut b = a.clone();
                let told = text(a.sync(&whole, allow_expunge));
                assert_eq!(text(b.sync(&changes, allow_expunge)), told);
                assert_eq!(a.entries(), b.entries());
                assert_eq!(a.flags_responses(), b.flags_responses());
                assert_eq!(b.exists(), if allow_expunge { 5 } else { 6 });
                assert!(
                    told.contains(" FETCH (UID 3 FLAGS (\\Flagged $Work)"),
                    "{told}"
                );
            }
        }
    }

    /// RFC 3501 §2.3.2: `\Recent` is what no earlier session was told of.
    #[test]
    fn rfc3501_2_3_2_recent_from_the_store() {
        let mut first = snap(&[(1, Flags::EMPTY), (2, Flags::SEEN), (3, Flags::EMPTY)]);
        first.first_recent = 2;
        let mut v = View::new("INBOX".into(), false, &first);
        let recent: Vec<bool> = v.entries().iter().map(|e| e.recent).collect();
        assert_eq!(recent, [false, true, true]);
        assert_eq!(v.recent(), 2);
        assert_eq!(v.entries()[1].flag_list(), "(\\Seen \\Recent)");
        // Message 4 was told to another session first; 5 was not.
        let mut now = snap(&[
            (1, Flags::EMPTY),
            (2, Flags::SEEN),
            (3, Flags::EMPTY),
            (4, Flags::EMPTY),
            (5, Flags::EMPTY),
        ]);
        now.first_recent = 5;
        assert_eq!(text(v.sync(&now, true)), "* 5 EXISTS\r\n* 3 RECENT\r\n");
        assert!(!v.entries()[3].recent && v.entries()[4].recent);
    }

    #[test]
    fn keywords_and_condstore_updates() {
        let mut v = View::new("INBOX".into(), false, &snap(&[(1, Flags::EMPTY)]));
        assert_eq!(
            v.flags_responses(),
            "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)\r\n\
             * OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft \\*)] \
             Flags and keywords are permanent\r\n"
        );
        let mut now = snap(&[(1, Flags::EMPTY)]);
        now.messages[0].keywords = vec!["$Junk".into()];
        now.messages[0].modseq = 5;
        let out = text(v.sync(&now, true));
        assert!(
            out.starts_with("* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Junk)\r\n")
        );
        assert!(
            out.ends_with("* 1 FETCH (UID 1 FLAGS ($Junk))\r\n"),
            "{out}"
        );
        // Under CONDSTORE a newer mod-sequence alone is reported, with MODSEQ.
        v.condstore = true;
        now.messages[0].modseq = 6;
        assert_eq!(
            text(v.sync(&now, true)),
            "* 1 FETCH (UID 1 FLAGS ($Junk) MODSEQ (6))\r\n"
        );
        assert_eq!(text(v.sync(&now, true)), "");
    }

    fn uids(r: &[(u32, u32)]) -> SequenceSet {
        SequenceSet(
            r.iter()
                .map(|&(a, b)| (SeqNum::Value(a), SeqNum::Value(b)))
                .collect(),
        )
    }

    /// RFC 7162 §3.2.10 example: EXPUNGE under QRESYNC answers
    /// `* VANISHED 405,407,410,425` instead of `* n EXPUNGE` lines.
    #[test]
    fn rfc7162_3_2_10_expunge_reports_vanished() {
        let msgs: Vec<(u32, Flags)> = [400, 405, 406, 407, 410, 425, 430]
            .iter()
            .map(|&u| (u, Flags::DELETED))
            .collect();
        let mut v = View::new("INBOX".into(), false, &snap(&msgs));
        let gone = [405, 407, 410, 425].map(Uid);
        let mut plain = v.clone();
        assert_eq!(
            text(plain.expunged(&gone)),
            "* 2 EXPUNGE\r\n* 3 EXPUNGE\r\n* 3 EXPUNGE\r\n* 3 EXPUNGE\r\n"
        );
        v.qresync = true;
        assert_eq!(text(v.expunged(&gone)), "* VANISHED 405,407,410,425\r\n");
        assert_eq!(v.exists(), 3);
        // Expunges by another session are told the same way.
        let now = snap(&[(400, Flags::EMPTY)]);
        assert_eq!(
            text(v.sync(&now, false)),
            "* 1 FETCH (UID 400 FLAGS ())\r\n"
        );
        assert_eq!(text(v.sync(&now, true)), "* VANISHED 406,430\r\n");
    }

    /// RFC 7162 §3.2.5.2 example, first SELECT: known UIDs
    /// `41,43:211,214:541`; VANISHED (EARLIER) names those expunged since
    /// the client's mod-sequence, then FETCH for the messages changed since.
    #[test]
    fn rfc7162_3_2_5_2_select_resync() {
        let mut s = snap(&[(41, Flags::EMPTY), (50, Flags::SEEN), (300, Flags::EMPTY)]);
        s.uid_next = 600;
        s.messages[1].modseq = 20;
        s.messages[2].modseq = 30;
        let v = View::new("INBOX".into(), false, &s);
        let known = uids(&[(41, 41), (43, 211), (214, 541)]);
        // The store remembers what was expunged since mod-sequence 10.
        let expunged = [42, 43, 60, 61, 62, 212, 500, 700].map(Uid);
        assert_eq!(
            text(v.resync(10, Some(&known), Some(&expunged))),
            "* VANISHED (EARLIER) 43,60:62,500\r\n\
             * 2 FETCH (UID 50 FLAGS (\\Seen) MODSEQ (20))\r\n\
             * 3 FETCH (UID 300 FLAGS () MODSEQ (30))\r\n"
        );
        // Known UIDs restrict the FETCH responses too; `*` is the last UID.
        let known = uids(&[(100, 599)]);
        assert_eq!(
            text(v.resync(25, Some(&known), Some(&[]))),
            "* 3 FETCH (UID 300 FLAGS () MODSEQ (30))\r\n"
        );
        // Without history every unknown UID of the range is reported.
        assert_eq!(
            text(v.resync(30, Some(&uids(&[(41, 41), (43, 211), (214, 541)])), None)),
            "* VANISHED (EARLIER) 43:49,51:211,214:299,301:541\r\n"
        );
        assert_eq!(
            text(v.resync(30, None, None)),
            "* VANISHED (EARLIER) 1:40,42:49,51:299,301:599\r\n"
        );
    }

    #[test]
    fn vanished_earlier_clips_and_merges() {
        let present = [Uid(2), Uid(5)];
        let star = SequenceSet(vec![
            (SeqNum::Value(4), SeqNum::Star),
            (SeqNum::Value(1), SeqNum::Value(3)),
        ]);
        assert_eq!(
            vanished_earlier(&present, 7, Some(&star), None),
            [(1, 1), (3, 4), (6, 6)]
        );
        assert_eq!(vanished_earlier(&present, 1, None, None), []);
        assert_eq!(
            vanished_earlier(&present, 7, Some(&uids(&[(3, 3)])), Some(&[Uid(1), Uid(3)])),
            [(3, 3)]
        );
    }
}
