//! The index journal of a mailbox: `<mailbox path>.idx`.
//!
//! A text file of lines. The first line is the header
//! `mailnode-index 1 UIDVALIDITY UIDNEXT END FILEID`; END is the committed
//! length of an mbox file and FILEID the inode of the mbox file the index
//! describes (both 0 for a directory mailbox). Each later line is a record:
//!
//! * `A UID FLAGS SIZE DATE LOC KEY [MODSEQ KEYWORD...]`: a message was
//!   appended. FLAGS is the letter string or `-` for none, SIZE the wire
//!   size, DATE the internal date in unix seconds, LOC `OFFSET+LENGTH`
//!   (mbox) or the file name (mdir), KEY `-` for none or `=` and the key
//!   with `%XX` escapes, MODSEQ the message's mod-sequence (RFC 7162) and
//!   the KEYWORDs (custom flags) `%XX`-escaped.
//! * `F UID FLAGS [MODSEQ KEYWORD...]`: the flags of a message changed;
//!   with MODSEQ the keywords are replaced too.
//! * `X UID [MODSEQ]`: a message was expunged (at MODSEQ). Compaction keeps
//!   the last [`MAX_VANISHED`] of these for QRESYNC.
//!
//! * `R UID`: every message below UID has been recent to a session
//!   (`\Recent`, RFC 3501 §2.3.2); only later ones are recent to the next.
//!
//! The header may carry three more fields, `HIGHESTMODSEQ VANISHEDFLOOR
//! FIRSTRECENT`: the mailbox's highest mod-sequence, the highest
//! mod-sequence of an expunge that is no longer remembered, and the `R`
//! value (an index without it has no recent messages). Files written before MODSEQ
//! existed (no such fields, 6-field `A`, 2-field `F`, 1-field `X`) still
//! open: their messages get mod-sequence 1.
//!
//! Format versions: the `1` after the magic word is the format version. A
//! change an older reader would misread (a new record kind, a new meaning
//! of a field) raises it. A reader never rebuilds an index of a version it
//! does not know: rebuilding loses what only the index holds (keywords,
//! delivery keys, UIDVALIDITY), so it refuses the mailbox with
//! [`Unreadable::Newer`] until it is upgraded too. In a cluster a new
//! format is written only once every member reads it (the cluster's
//! effective protocol, as for new Raft commands).
//!
//! Invariants: a record is committed once its line, with its final newline,
//! is fsynced; a last line without a newline is a torn write and is ignored.
//! Replaying the lines in order gives the state of the mailbox. The index is
//! a cache (DESIGN.md §7): whatever happens to it, the mailbox can be rebuilt
//! from the mailbox file or folder, except for the delivery keys.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write as _;

use super::{MailboxFormat, MessageInfo, Uid};
use crate::flags::Flags;

/// The magic word that starts the header line.
const MAGIC: &str = "mailnode-index";

/// The format version this code writes and the highest it reads.
pub(crate) const FORMAT: u32 = 1;

/// Expunged UIDs (with their mod-sequence) remembered for QRESYNC.
pub(crate) const MAX_VANISHED: usize = 4096;

/// Where a message lives in its mailbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Loc {
    /// A byte range of the mbox file, from the `From ` line through the
    /// empty line after the message.
    Mbox {
        /// Offset of the `From ` line.
        offset: u64,
        /// Length of the whole entry.
        len: u64,
    },
    /// A file name in the mdir folder.
    Mdir(String),
}

/// A message as the index knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entry {
    pub info: MessageInfo,
    pub loc: Loc,
}

/// The header of an index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Header {
    pub uid_validity: u32,
    pub uid_next: u32,
    /// Committed length of the mbox file (0 for mdir).
    pub end: u64,
    /// Inode of the mbox file (0 for mdir or unknown).
    pub file_id: u64,
    /// HIGHESTMODSEQ (RFC 7162); 0 for an index written before MODSEQ.
    pub highest_modseq: u64,
    /// Expunges at or below this mod-sequence may have been forgotten.
    pub vanished_floor: u64,
    /// The lowest UID that is still `\Recent` (no session has been told
    /// of it); 0 in an index written before it was kept.
    pub first_recent: u32,
}

/// A remembered expunge: for QRESYNC's VANISHED, and the delivery key of
/// the message, so that a retried delivery of a message the user already
/// deleted is not stored again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Vanished {
    pub uid: u32,
    pub modseq: u64,
    pub key: Option<String>,
}

/// The result of replaying a journal.
#[derive(Debug)]
pub(crate) struct Replayed {
    /// The header, with `uid_next` and `end` advanced by the records.
    pub header: Header,
    pub entries: BTreeMap<u32, Entry>,
    /// Remembered expunges, oldest first.
    pub vanished: Vec<Vanished>,
    /// Number of records (lines after the header).
    pub records: usize,
    /// Whether the last line was torn (no final newline).
    pub torn: bool,
}

/// What can be saved from an unreadable index for a rebuild.
#[derive(Debug, Default)]
pub(crate) struct Salvage {
    pub uid_validity: Option<u32>,
    pub uid_next: u32,
    pub keys: HashMap<u32, String>,
    pub highest_modseq: u64,
    /// UIDs the index records as expunged (`X`): a rebuild must not bring
    /// them back from a mailbox whose expunge was not carried out yet.
    pub expunged: HashSet<u32>,
}

/// Why a journal could not be replayed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Unreadable {
    /// It is damaged: the description of the first bad line.
    Damaged(String),
    /// It was written in a later format version than [`FORMAT`].
    Newer(u32),
}

impl From<String> for Unreadable {
    fn from(reason: String) -> Self {
        Unreadable::Damaged(reason)
    }
}

impl From<&str> for Unreadable {
    fn from(reason: &str) -> Self {
        Unreadable::Damaged(reason.to_string())
    }
}

/// Renders the header line.
pub(crate) fn render_header(h: &Header) -> String {
    format!(
        "{MAGIC} {FORMAT} {} {} {} {} {} {} {}\n",
        h.uid_validity,
        h.uid_next,
        h.end,
        h.file_id,
        h.highest_modseq,
        h.vanished_floor,
        h.first_recent
    )
}

/// Renders an `A` record.
pub(crate) fn render_append(e: &Entry) -> String {
    let i = &e.info;
    let loc = match &e.loc {
        Loc::Mbox { offset, len } => format!("{offset}+{len}"),
        Loc::Mdir(name) => name.clone(),
    };
    let key = match &i.key {
        None => "-".to_string(),
        Some(k) => format!("={}", escape(k)),
    };
    format!(
        "A {} {} {} {} {loc} {key} {}{}\n",
        i.uid.0,
        flags_token(i.flags),
        i.size,
        i.internal_date,
        i.modseq,
        keywords_tail(&i.keywords)
    )
}

/// Renders an `F` record (flags, keywords and mod-sequence of a message).
pub(crate) fn render_flags(info: &MessageInfo) -> String {
    format!(
        "F {} {} {}{}\n",
        info.uid.0,
        flags_token(info.flags),
        info.modseq,
        keywords_tail(&info.keywords)
    )
}

/// Renders an `R` record.
pub(crate) fn render_recent(first_recent: u32) -> String {
    format!("R {first_recent}\n")
}

/// Renders an `X` record: UID, mod-sequence and, if the message had one,
/// its delivery key.
pub(crate) fn render_expunge(v: &Vanished) -> String {
    match &v.key {
        None => format!("X {} {}\n", v.uid, v.modseq),
        Some(k) => format!("X {} {} ={}\n", v.uid, v.modseq, escape(k)),
    }
}

/// Renders a compacted index: the header, one `A` record per message and
/// one `X` record per remembered expunge.
pub(crate) fn render_full<'a>(
    h: &Header,
    entries: impl Iterator<Item = &'a Entry>,
    vanished: &[Vanished],
) -> String {
    let mut s = render_header(h);
    for e in entries {
        s.push_str(&render_append(e));
    }
    for v in vanished {
        s.push_str(&render_expunge(v));
    }
    s
}

fn keywords_tail(keywords: &[String]) -> String {
    keywords.iter().map(|k| format!(" {}", escape(k))).collect()
}

fn parse_keywords(fields: &[&str]) -> Result<Vec<String>, String> {
    fields.iter().map(|k| unescape(k)).collect()
}

fn flags_token(f: Flags) -> String {
    if f.is_empty() {
        "-".to_string()
    } else {
        f.to_letters()
    }
}

fn parse_flags(s: &str) -> Result<Flags, String> {
    if s == "-" {
        return Ok(Flags::EMPTY);
    }
    Flags::from_letters(s).map_err(|e| e.to_string())
}

/// Escapes a delivery key so that it is one token of printable ASCII.
fn escape(k: &str) -> String {
    let mut s = String::with_capacity(k.len());
    for &b in k.as_bytes() {
        if b.is_ascii_graphic() && b != b'%' {
            s.push(char::from(b));
        } else {
            let _ = write!(s, "%{b:02X}");
        }
    }
    s
}

fn unescape(s: &str) -> Result<String, String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = s.get(i + 1..i + 3).ok_or("truncated escape")?;
            out.push(u8::from_str_radix(hex, 16).map_err(|e| e.to_string())?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|e| e.to_string())
}

fn num<T: std::str::FromStr>(s: Option<&str>, what: &str) -> Result<T, String> {
    s.and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("bad {what}"))
}

fn parse_header(line: &str) -> Result<Header, Unreadable> {
    let mut it = line.split(' ');
    if it.next() != Some(MAGIC) {
        return Err("missing index header".into());
    }
    let version: u32 = num(it.next(), "format version")?;
    if version > FORMAT {
        return Err(Unreadable::Newer(version));
    }
    let mut h = Header {
        uid_validity: num(it.next(), "UIDVALIDITY")?,
        uid_next: num(it.next(), "UIDNEXT")?,
        end: num(it.next(), "END")?,
        file_id: num(it.next(), "FILEID")?,
        highest_modseq: 0,
        vanished_floor: 0,
        first_recent: 0,
    };
    if let Some(m) = it.next() {
        h.highest_modseq = num(Some(m), "HIGHESTMODSEQ")?;
        h.vanished_floor = num(it.next(), "VANISHEDFLOOR")?;
    }
    if let Some(r) = it.next() {
        h.first_recent = num(Some(r), "FIRSTRECENT")?;
    }
    Ok(h)
}

fn parse_append(fields: &[&str], format: MailboxFormat) -> Result<Entry, String> {
    let (fields, ext) = fields.split_at(fields.len().min(6));
    let [uid, flags, size, date, loc, key] = fields else {
        return Err("bad A record".into());
    };
    let (modseq, keywords) = match ext.split_first() {
        None => (0, Vec::new()),
        Some((m, kws)) => (num(Some(m), "MODSEQ")?, parse_keywords(kws)?),
    };
    let loc = match format {
        MailboxFormat::Mbox => {
            let (o, l) = loc.split_once('+').ok_or("bad mbox location")?;
            Loc::Mbox {
                offset: num(Some(o), "offset")?,
                len: num(Some(l), "length")?,
            }
        }
        MailboxFormat::Mdir => Loc::Mdir((*loc).to_string()),
    };
    let key = match *key {
        "-" => None,
        k => Some(unescape(k.strip_prefix('=').ok_or("bad key")?)?),
    };
    Ok(Entry {
        info: MessageInfo {
            uid: Uid(num(Some(uid), "UID")?),
            flags: parse_flags(flags)?,
            size: num(Some(size), "size")?,
            internal_date: num(Some(date), "date")?,
            key,
            keywords,
            modseq,
        },
        loc,
    })
}

/// Replays a journal.
///
/// # Errors
/// [`Unreadable::Damaged`] with a description of the first line that is
/// not a valid record, [`Unreadable::Newer`] for a later format version.
pub(crate) fn parse(text: &str, format: MailboxFormat) -> Result<Replayed, Unreadable> {
    let torn = !text.is_empty() && !text.ends_with('\n');
    let mut lines: Vec<&str> = text.split('\n').collect();
    // The piece after the last newline is empty or a torn record.
    lines.pop();
    let mut lines = lines.into_iter();
    let mut header = parse_header(lines.next().ok_or("empty index")?)?;
    let mut entries = BTreeMap::new();
    let mut vanished = Vec::new();
    let mut records = 0;
    for (n, line) in lines.enumerate() {
        records += 1;
        let fields: Vec<&str> = line.split(' ').collect();
        let at = |e: String| format!("line {}: {e}", n + 2);
        match fields.split_first() {
            Some((&"A", rest)) => {
                let e = parse_append(rest, format).map_err(at)?;
                header.uid_next = header.uid_next.max(e.info.uid.0.saturating_add(1));
                if let Loc::Mbox { offset, len } = e.loc {
                    header.end = header.end.max(offset + len);
                }
                header.highest_modseq = header.highest_modseq.max(e.info.modseq);
                entries.insert(e.info.uid.0, e);
            }
            Some((&"F", [uid, flags, ext @ ..])) => {
                let uid: u32 = num(Some(uid), "UID").map_err(at)?;
                let flags = parse_flags(flags).map_err(at)?;
                let ext = match ext.split_first() {
                    None => None,
                    Some((m, kws)) => Some((
                        num::<u64>(Some(m), "MODSEQ").map_err(at)?,
                        parse_keywords(kws).map_err(at)?,
                    )),
                };
                if let Some(e) = entries.get_mut(&uid) {
                    e.info.flags = flags;
                    if let Loc::Mdir(name) = &mut e.loc {
                        // The change renamed the message file (see mdir).
                        *name = super::mdir::file_name(e.info.uid, flags, e.info.internal_date);
                    }
                    if let Some((modseq, keywords)) = ext {
                        header.highest_modseq = header.highest_modseq.max(modseq);
                        e.info.modseq = modseq;
                        e.info.keywords = keywords;
                    }
                }
            }
            Some((&"X", [uid, ext @ ..])) if ext.len() <= 2 => {
                let uid: u32 = num(Some(uid), "UID").map_err(at)?;
                entries.remove(&uid);
                if let Some(m) = ext.first() {
                    let modseq: u64 = num(Some(m), "MODSEQ").map_err(at)?;
                    let key = match ext.get(1) {
                        None => None,
                        Some(k) => {
                            Some(unescape(k.strip_prefix('=').ok_or("bad key")?).map_err(at)?)
                        }
                    };
                    header.highest_modseq = header.highest_modseq.max(modseq);
                    vanished.push(Vanished { uid, modseq, key });
                }
            }
            Some((&"R", [uid])) => {
                let uid: u32 = num(Some(uid), "UID").map_err(at)?;
                header.first_recent = header.first_recent.max(uid);
            }
            _ => return Err(at("unknown record".into()).into()),
        }
    }
    // An index that did not keep it: nothing is recent.
    if header.first_recent == 0 {
        header.first_recent = header.uid_next;
    }
    // Messages of an index written before MODSEQ: mod-sequence 1.
    header.highest_modseq = header.highest_modseq.max(1);
    for e in entries.values_mut() {
        if e.info.modseq == 0 {
            e.info.modseq = 1;
        }
    }
    if vanished.len() > MAX_VANISHED {
        let cut = vanished.len() - MAX_VANISHED;
        let forgotten = vanished.drain(..cut).map(|v| v.modseq).max().unwrap_or(0);
        header.vanished_floor = header.vanished_floor.max(forgotten);
    }
    Ok(Replayed {
        header,
        entries,
        vanished,
        records,
        torn,
    })
}

/// The format version of an index written in a later format than
/// [`FORMAT`], if it is one.
pub(crate) fn newer_format(text: &str) -> Option<u32> {
    match parse_header(text.split('\n').next()?) {
        Err(Unreadable::Newer(version)) => Some(version),
        _ => None,
    }
}

/// Saves what can be read from a damaged index, line by line: UIDVALIDITY,
/// the highest UIDNEXT and the delivery keys.
pub(crate) fn salvage(text: &str, format: MailboxFormat) -> Salvage {
    let mut s = Salvage::default();
    let mut lines = text.split('\n');
    if let Some(Ok(h)) = lines.next().map(parse_header) {
        s.uid_validity = Some(h.uid_validity);
        s.uid_next = h.uid_next;
        s.highest_modseq = h.highest_modseq;
    }
    for line in lines {
        let fields: Vec<&str> = line.split(' ').collect();
        // Keep the highest mod-sequence, so that a rebuilt mailbox's
        // HIGHESTMODSEQ does not go back.
        let modseq = match fields.first() {
            Some(&"F") => fields.get(3),
            Some(&"X") => fields.get(2),
            _ => None,
        };
        if let Some(n) = modseq.and_then(|m| m.parse::<u64>().ok()) {
            s.highest_modseq = s.highest_modseq.max(n);
        }
        if let ["X", uid, ..] = fields.as_slice()
            && let Ok(uid) = uid.parse::<u32>()
        {
            s.expunged.insert(uid);
        }
        if let Some((&"A", rest)) = fields.split_first()
            && let Ok(e) = parse_append(rest, format)
        {
            s.highest_modseq = s.highest_modseq.max(e.info.modseq);
            s.uid_next = s.uid_next.max(e.info.uid.0.saturating_add(1));
            if let Some(k) = e.info.key {
                s.keys.insert(e.info.uid.0, k);
            }
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(uid: u32, key: Option<&str>) -> Entry {
        Entry {
            info: MessageInfo {
                uid: Uid(uid),
                flags: Flags::SEEN,
                size: 10,
                internal_date: 1_700_000_000,
                key: key.map(str::to_string),
                keywords: Vec::new(),
                modseq: 0,
            },
            loc: Loc::Mbox {
                offset: u64::from(uid) * 100,
                len: 100,
            },
        }
    }

    #[test]
    fn journal_replays() {
        // The format before MODSEQ and keywords.
        let mut text = "mailnode-index 1 42 1 0 7\n".to_string();
        text += &render_append(&entry(1, Some("q1 rcpt@x%y\n"))).replace(" 0\n", "\n");
        text += &render_append(&entry(2, None)).replace(" 0\n", "\n");
        text += "F 1 -\n";
        text += "X 2\n";
        text += "A 3 S 1";
        let r = parse(&text, MailboxFormat::Mbox).unwrap();
        assert!(r.torn);
        assert_eq!(r.records, 4);
        assert_eq!(r.header.uid_next, 3);
        assert_eq!(r.header.end, 300);
        assert_eq!(r.entries.len(), 1);
        let e = &r.entries[&1];
        assert_eq!(e.info.flags, Flags::EMPTY);
        assert_eq!((e.info.modseq, r.header.highest_modseq), (1, 1));
        assert!(r.vanished.is_empty());
        assert_eq!(e.info.key.as_deref(), Some("q1 rcpt@x%y\n"));

        let s = salvage(&text.replace("X 2", "garbage"), MailboxFormat::Mbox);
        assert_eq!(s.uid_validity, Some(42));
        assert_eq!(s.uid_next, 3);
        assert_eq!(s.keys[&1], "q1 rcpt@x%y\n");
        assert!(parse(&text.replace("X 2", "garbage"), MailboxFormat::Mbox).is_err());
    }

    #[test]
    fn modseq_keywords_and_vanished_replay() {
        let h = Header {
            uid_validity: 42,
            uid_next: 1,
            end: 0,
            file_id: 7,
            highest_modseq: 3,
            vanished_floor: 2,
            first_recent: 1,
        };
        let mut e1 = entry(1, None);
        e1.info.modseq = 4;
        e1.info.keywords = vec!["$Forwarded".into(), "odd%kw".into()];
        let mut text = render_header(&h);
        text += &render_append(&e1);
        text += &render_append(&Entry {
            info: MessageInfo {
                modseq: 4,
                ..entry(2, None).info
            },
            ..entry(2, None)
        });
        let mut changed = e1.info.clone();
        changed.modseq = 5;
        changed.keywords = vec!["$Junk".into()];
        text += &render_flags(&changed);
        text += &render_expunge(&Vanished {
            uid: 2,
            modseq: 6,
            key: Some("q7/odd key%".into()),
        });
        let r = parse(&text, MailboxFormat::Mbox).unwrap();
        assert_eq!(r.header.highest_modseq, 6);
        assert_eq!(r.header.vanished_floor, 2);
        assert_eq!(r.entries[&1].info.keywords, ["$Junk"]);
        assert_eq!(r.entries[&1].info.modseq, 5);
        assert_eq!(
            r.vanished,
            [Vanished {
                uid: 2,
                modseq: 6,
                key: Some("q7/odd key%".into())
            }]
        );
        let full = render_full(&r.header, r.entries.values(), &r.vanished);
        let again = parse(&full, MailboxFormat::Mbox).unwrap();
        assert_eq!(again.entries, r.entries);
        assert_eq!(again.vanished, r.vanished);
        assert_eq!(again.header, r.header);
        // Keywords with odd bytes survive the escaping.
        let r = parse(
            &(render_header(&h) + &render_append(&e1)),
            MailboxFormat::Mbox,
        )
        .unwrap();
        assert_eq!(r.entries[&1].info.keywords, e1.info.keywords);
        assert_eq!(salvage(&text, MailboxFormat::Mbox).highest_modseq, 6);
    }
}
