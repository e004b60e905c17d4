//! The selected mailbox as one session sees it (RFC 9051 §2.3.1, §7.4,
//! §5.2): message sequence numbers, the session's `\Recent` set, and the
//! untagged updates that bring the session up to date with the store.
//!
//! Invariants: entries are ascending by UID, and message number `n` is
//! entry `n - 1`. Messages expunged by others stay in the view (and keep
//! their numbers) until an update that may carry EXPUNGE responses
//! (RFC 9051 §7.5.1: not during FETCH, STORE or SEARCH).

use storage::{Flags, Uid};

use super::command::SequenceSet;
use super::response::flag_list;

/// What the store holds now: UIDVALIDITY, UIDNEXT, HIGHESTMODSEQ and the
/// messages in UID order (none `recent`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Snapshot {
    /// UIDVALIDITY.
    pub uid_validity: u32,
    /// UIDNEXT.
    pub uid_next: u32,
    /// HIGHESTMODSEQ (RFC 7162).
    pub highest_modseq: u64,
    /// Messages ascending by UID.
    pub messages: Vec<Entry>,
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
    /// The keywords defined in the mailbox, as told in FLAGS.
    keywords: Vec<String>,
    entries: Vec<Entry>,
}

impl View {
    /// The view right after SELECT. Nothing is `\Recent`: which session
    /// sees a message first is not tracked across sessions.
    pub fn new(name: String, read_only: bool, snap: &Snapshot) -> View {
        let mut view = View {
            name,
            read_only,
            uid_validity: snap.uid_validity,
            uid_next: snap.uid_next,
            highest_modseq: snap.highest_modseq,
            condstore: false,
            keywords: Vec::new(),
            entries: snap.messages.clone(),
        };
        for e in &mut view.entries {
            e.recent = false;
        }
        view.learn_keywords(&snap.messages);
        view
    }

    /// Adds the keywords of `messages` to the mailbox's list; whether
    /// there were new ones.
    fn learn_keywords(&mut self, messages: &[Entry]) -> bool {
        let mut new = false;
        for k in messages.iter().flat_map(|m| &m.keywords) {
            if !self.keywords.iter().any(|o| o.eq_ignore_ascii_case(k)) {
                self.keywords.push(k.clone());
                new = true;
            }
        }
        new
    }

    /// Adds keywords about to be shown in a FETCH to the mailbox's list;
    /// the FLAGS responses to send first when some were new.
    pub fn note_keywords(&mut self, keywords: &[String]) -> Option<String> {
        let e = Entry {
            keywords: keywords.to_vec(),
            ..Entry::new(Uid(0), Flags::EMPTY)
        };
        self.learn_keywords(std::slice::from_ref(&e))
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

    /// The `(number, entry)` pairs a set designates, in number order. With
    /// `uid`, the set holds UIDs and `*` is the highest UID (RFC 9051 §9
    /// `seq-range`); otherwise numbers and `*` is the last number.
    pub fn resolve(&self, set: &SequenceSet, uid: bool) -> Vec<(u32, Entry)> {
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
            .map(|(i, e)| (i as u32 + 1, e.clone()))
            .collect()
    }

    /// Whether a non-UID set names a number past the last message
    /// (RFC 9051 §6.4.5 asks for BAD on an invalid message number).
    pub fn out_of_range(&self, set: &SequenceSet) -> bool {
        use super::command::SeqNum;
        let max = self.exists();
        set.0.iter().any(|(a, b)| {
            [a, b].iter().any(|n| {
                matches!(n, SeqNum::Value(v) if *v > max) || (max == 0 && matches!(n, SeqNum::Star))
            })
        })
    }

    /// Records flags, keywords and mod-sequence the client has been
    /// told.
    pub fn set_flags(&mut self, uid: Uid, flags: Flags, keywords: &[String], modseq: u64) {
        if let Ok(i) = self.entries.binary_search_by_key(&uid, |e| e.uid) {
            let e = &mut self.entries[i];
            e.flags = flags;
            e.keywords = keywords.to_vec();
            e.modseq = e.modseq.max(modseq);
        }
    }

    /// Removes an expunged message; returns its number for `* n EXPUNGE`.
    pub fn remove(&mut self, uid: Uid) -> Option<u32> {
        let i = self.entries.binary_search_by_key(&uid, |e| e.uid).ok()?;
        self.entries.remove(i);
        Some(i as u32 + 1)
    }

    /// Brings the view up to `snap` and returns the untagged responses
    /// that tell the client: FLAGS for new keywords, EXPUNGE (only with
    /// `allow_expunge`), FETCH FLAGS (and MODSEQ under CONDSTORE) for flags
    /// changed elsewhere, EXISTS and RECENT for new mail.
    pub fn sync(&mut self, snap: &Snapshot, allow_expunge: bool) -> Vec<u8> {
        let mut out = Vec::new();
        if self.learn_keywords(&snap.messages) {
            out.extend_from_slice(self.flags_responses().as_bytes());
        }
        let present = |uid: Uid| snap.messages.binary_search_by_key(&uid, |m| m.uid).ok();
        if allow_expunge {
            // Highest first, so the numbers of the lower ones still hold.
            for i in (0..self.entries.len()).rev() {
                if present(self.entries[i].uid).is_none() {
                    self.entries.remove(i);
                    out.extend_from_slice(format!("* {} EXPUNGE\r\n", i + 1).as_bytes());
                }
            }
        }
        for (i, e) in self.entries.iter_mut().enumerate() {
            let Some(now) = present(e.uid).map(|j| &snap.messages[j]) else {
                continue;
            };
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
                recent: true,
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

#[cfg(test)]
mod tests {
    use super::super::command::SeqNum;
    use super::*;

    fn snap(msgs: &[(u32, Flags)]) -> Snapshot {
        Snapshot {
            uid_validity: 7,
            uid_next: msgs.last().map_or(1, |m| m.0 + 1),
            highest_modseq: 1,
            messages: msgs.iter().map(|&(u, f)| Entry::new(Uid(u), f)).collect(),
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
        let nums = |r: Vec<(u32, Entry)>| r.iter().map(|(n, e)| (*n, e.uid.0)).collect::<Vec<_>>();
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
        let now = snap(&[(1, Flags::SEEN), (3, Flags::EMPTY), (4, Flags::EMPTY)]);
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
}
