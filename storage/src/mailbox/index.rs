//! The index journal of a mailbox: `<mailbox path>.idx`.
//!
//! A text file of lines. The first line is the header
//! `mailnode-index 1 UIDVALIDITY UIDNEXT END FILEID`; END is the committed
//! length of an mbox file and FILEID the inode of the mbox file the index
//! describes (both 0 for a directory mailbox). Each later line is a record:
//!
//! * `A UID FLAGS SIZE DATE LOC KEY`: a message was appended. FLAGS is the
//!   letter string or `-` for none, SIZE the wire size, DATE the internal
//!   date in unix seconds, LOC `OFFSET+LENGTH` (mbox) or the file name
//!   (mdir), KEY `-` for none or `=` and the key with `%XX` escapes.
//! * `F UID FLAGS`: the flags of a message changed.
//! * `X UID`: a message was expunged.
//!
//! Invariants: a record is committed once its line, with its final newline,
//! is fsynced; a last line without a newline is a torn write and is ignored.
//! Replaying the lines in order gives the state of the mailbox. The index is
//! a cache (DESIGN.md §7): whatever happens to it, the mailbox can be rebuilt
//! from the mailbox file or folder, except for the delivery keys.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;

use super::{MailboxFormat, MessageInfo, Uid};
use crate::flags::Flags;

/// The magic word and version that start the header line.
const MAGIC: &str = "mailnode-index 1";

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
}

/// The result of replaying a journal.
#[derive(Debug)]
pub(crate) struct Replayed {
    /// The header, with `uid_next` and `end` advanced by the records.
    pub header: Header,
    pub entries: BTreeMap<u32, Entry>,
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
}

/// Renders the header line.
pub(crate) fn render_header(h: &Header) -> String {
    format!(
        "{MAGIC} {} {} {} {}\n",
        h.uid_validity, h.uid_next, h.end, h.file_id
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
        "A {} {} {} {} {loc} {key}\n",
        i.uid.0,
        flags_token(i.flags),
        i.size,
        i.internal_date
    )
}

/// Renders an `F` record.
pub(crate) fn render_flags(uid: Uid, flags: Flags) -> String {
    format!("F {} {}\n", uid.0, flags_token(flags))
}

/// Renders an `X` record.
pub(crate) fn render_expunge(uid: Uid) -> String {
    format!("X {}\n", uid.0)
}

/// Renders a compacted index: the header and one `A` record per message.
pub(crate) fn render_full<'a>(h: &Header, entries: impl Iterator<Item = &'a Entry>) -> String {
    let mut s = render_header(h);
    for e in entries {
        s.push_str(&render_append(e));
    }
    s
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

fn parse_header(line: &str) -> Result<Header, String> {
    let rest = line
        .strip_prefix(MAGIC)
        .ok_or("missing index header")?
        .trim_start();
    let mut it = rest.split(' ');
    Ok(Header {
        uid_validity: num(it.next(), "UIDVALIDITY")?,
        uid_next: num(it.next(), "UIDNEXT")?,
        end: num(it.next(), "END")?,
        file_id: num(it.next(), "FILEID")?,
    })
}

fn parse_append(fields: &[&str], format: MailboxFormat) -> Result<Entry, String> {
    let [uid, flags, size, date, loc, key] = fields else {
        return Err("bad A record".into());
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
        },
        loc,
    })
}

/// Replays a journal.
///
/// # Errors
/// A description of the first line that is not a valid record.
pub(crate) fn parse(text: &str, format: MailboxFormat) -> Result<Replayed, String> {
    let torn = !text.is_empty() && !text.ends_with('\n');
    let mut lines: Vec<&str> = text.split('\n').collect();
    // The piece after the last newline is empty or a torn record.
    lines.pop();
    let mut lines = lines.into_iter();
    let mut header = parse_header(lines.next().ok_or("empty index")?)?;
    let mut entries = BTreeMap::new();
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
                entries.insert(e.info.uid.0, e);
            }
            Some((&"F", [uid, flags])) => {
                let uid: u32 = num(Some(uid), "UID").map_err(at)?;
                let flags = parse_flags(flags).map_err(at)?;
                if let Some(e) = entries.get_mut(&uid) {
                    e.info.flags = flags;
                }
            }
            Some((&"X", [uid])) => {
                let uid: u32 = num(Some(uid), "UID").map_err(at)?;
                entries.remove(&uid);
            }
            _ => return Err(at("unknown record".into())),
        }
    }
    Ok(Replayed {
        header,
        entries,
        records,
        torn,
    })
}

/// Saves what can be read from a damaged index, line by line: UIDVALIDITY,
/// the highest UIDNEXT and the delivery keys.
pub(crate) fn salvage(text: &str, format: MailboxFormat) -> Salvage {
    let mut s = Salvage::default();
    let mut lines = text.split('\n');
    if let Some(Ok(h)) = lines.next().map(parse_header) {
        s.uid_validity = Some(h.uid_validity);
        s.uid_next = h.uid_next;
    }
    for line in lines {
        let fields: Vec<&str> = line.split(' ').collect();
        if let Some((&"A", rest)) = fields.split_first()
            && let Ok(e) = parse_append(rest, format)
        {
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
            },
            loc: Loc::Mbox {
                offset: u64::from(uid) * 100,
                len: 100,
            },
        }
    }

    #[test]
    fn journal_replays() {
        let h = Header {
            uid_validity: 42,
            uid_next: 1,
            end: 0,
            file_id: 7,
        };
        let mut text = render_header(&h);
        text += &render_append(&entry(1, Some("q1 rcpt@x%y\n")));
        text += &render_append(&entry(2, None));
        text += &render_flags(Uid(1), Flags::EMPTY);
        text += &render_expunge(Uid(2));
        text += "A 3 S 1";
        let r = parse(&text, MailboxFormat::Mbox).unwrap();
        assert!(r.torn);
        assert_eq!(r.records, 4);
        assert_eq!(r.header.uid_next, 3);
        assert_eq!(r.header.end, 300);
        assert_eq!(r.entries.len(), 1);
        let e = &r.entries[&1];
        assert_eq!(e.info.flags, Flags::EMPTY);
        assert_eq!(e.info.key.as_deref(), Some("q1 rcpt@x%y\n"));

        let s = salvage(&text.replace("X 2", "garbage"), MailboxFormat::Mbox);
        assert_eq!(s.uid_validity, Some(42));
        assert_eq!(s.uid_next, 3);
        assert_eq!(s.keys[&1], "q1 rcpt@x%y\n");
        assert!(parse(&text.replace("X 2", "garbage"), MailboxFormat::Mbox).is_err());
    }
}
