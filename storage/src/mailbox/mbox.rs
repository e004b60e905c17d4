//! Text mailboxes: one BSD mbox file (`NAME.mbox`) in the mboxrd dialect.
//!
//! Each message is stored as
//! `From <return-path> (FLAGS-UID) <asctime date in GMT>\n`, the message with
//! LF line ends, and one empty line. A body line matching `^>*From ` gets one
//! more `>` when stored and loses it when read. The `From ` line carries the
//! flags as of the last rewrite; the index is authoritative while it exists.
//!
//! Messages not ending in CRLF: a stored message always ends in LF (one is
//! added if missing). The index records the original wire size, and reading
//! drops the added CRLF when the stored form is exactly 2 bytes longer than
//! that size. After an index rebuild such a message reads back with a final
//! CRLF (the original size is not recoverable).
//!
//! Expunge is lazy: the entries of expunged messages stay in the file, each
//! marked dead in place by one byte (the `-` of its comment becomes `~`:
//! `(ST~12)`), until a compaction rewrites the file without them, once
//! they take half of it. The mark is written before the index records the
//! expunge (its `X` records, the commit point), so a rebuild from the file
//! never brings back a message whose expunge was committed; a crash between
//! the two leaves a message the index still lists with a dead `From ` line,
//! which reads as before, and which a rebuild or compaction drops (its
//! expunge had been asked for). A rebuild takes UIDNEXT above the UIDs of
//! dead entries too, so fewer UIDs are reused after losing the index.
//!
//! Invariant: the file is exactly the concatenation of the entries, live or
//! dead, appended up to END (index header); anything after END is an
//! uncommitted tail and is truncated on open. A compaction rewrites the file
//! and the index under new names and renames both; the index records the
//! inode of the mbox it describes, so a crash between the two renames is
//! noticed (and the index rebuilt) rather than misread.
//!
//! An older reader (index format 1 too) reads such a file through its index
//! correctly; only its rebuild, which does not know the mark, would bring
//! back dead entries under new UIDs.

use std::collections::HashSet;
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;

use super::index::{self, Entry, Header, Loc, Salvage};
use super::{
    Mailbox, MessageInfo, NewMessage, Uid, crlf_len, file_id, for_each_line, format_time,
    new_uid_validity, parse_time, to_lf,
};
use crate::error::{Result, corrupt, io_err};
use crate::flags::Flags;
use crate::fsync::{parent_dir, sync_dir, sync_file, temp_path, write_synced};

/// asctime(3) format of the `From ` line date, e.g. `Mon Nov 30 18:58:08 2026`.
const ASCTIME: &str = "%a %b %e %H:%M:%S %Y";

/// How much of an entry to read to check its `From ` line.
const FROM_LINE_MAX: u64 = 4096;

/// The separator of flags and UID in the `From ` line comment of a live
/// entry, and the byte that replaces it in a dead (expunged) one.
const LIVE: u8 = b'-';
const DEAD: u8 = b'~';

/// A parsed `From ` line.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct FromLine {
    pub return_path: String,
    pub uid: Option<u32>,
    pub flags: Flags,
    pub date: Option<i64>,
    /// The entry is marked expunged.
    pub dead: bool,
}

/// Renders a `From ` line, with its LF.
pub(super) fn render_from_line(return_path: &str, flags: Flags, uid: Uid, date: i64) -> String {
    format!(
        "From {} ({}-{uid}) {}\n",
        sanitize_return_path(return_path),
        flags.to_letters(),
        format_time(date, ASCTIME)
    )
}

/// `<>` for the null path; characters that would break the line parsing
/// become `_`.
fn sanitize_return_path(rp: &str) -> String {
    let rp = rp.trim();
    if rp.is_empty() {
        return "<>".to_string();
    }
    rp.chars()
        .map(|c| {
            if c.is_whitespace() || c.is_control() || c == '(' {
                '_'
            } else {
                c
            }
        })
        .collect()
}

/// Parses a `From ` line (without or with its LF). The comment may follow
/// the return-path with or without a space. `None` if it is not a `From `
/// line at all; missing parts are `None` in the result.
pub(super) fn parse_from_line(line: &[u8]) -> Option<FromLine> {
    let line = String::from_utf8_lossy(line);
    let rest = line.strip_prefix("From ")?.trim_end_matches(['\r', '\n']);
    let rest = rest.trim_start();
    let rp_end = rest
        .find(|c: char| c.is_whitespace() || c == '(')
        .unwrap_or(rest.len());
    let return_path = rest[..rp_end].to_string();
    let after = rest[rp_end..].trim_start();
    let (mut uid, mut flags, mut date_text, mut dead) = (None, Flags::EMPTY, after, false);
    if let Some((comment, date)) = after.strip_prefix('(').and_then(|c| c.split_once(')')) {
        date_text = date;
        let split = |sep: u8| comment.rsplit_once(char::from(sep));
        if let Some(((fl, u), d)) = split(LIVE)
            .map(|s| (s, false))
            .or_else(|| split(DEAD).map(|s| (s, true)))
            && let (Ok(f), Ok(u)) = (Flags::from_letters(fl), u.parse::<u32>())
            && u > 0
        {
            uid = Some(u);
            flags = f;
            dead = d;
        }
    }
    Some(FromLine {
        return_path,
        uid,
        flags,
        date: parse_time(date_text.trim(), ASCTIME),
        dead,
    })
}

/// The position in a `From ` line (without its LF) of the byte that
/// separates flags and UID in its comment, `None` if the line has no
/// comment that [`parse_from_line`] reads a UID from. The return-path
/// never holds `(` (see [`sanitize_return_path`]), so the first `(` opens
/// the comment.
fn separator_at(line: &[u8]) -> Option<usize> {
    parse_from_line(line)?.uid?;
    let open = line.iter().position(|&b| b == b'(')?;
    let close = open + line[open..].iter().position(|&b| b == b')')?;
    (open..close)
        .rev()
        .find(|&i| line[i] == LIVE || line[i] == DEAD)
}

/// Whether a line (without its LF) matches `^>*From ` (mboxrd): such lines
/// are stored with one more `>`.
fn from_like(line: &[u8]) -> bool {
    let n = line.iter().take_while(|&&b| b == b'>').count();
    line[n..].starts_with(b"From ")
}

/// A stored line as the message had it: one `>` less on a quoted line.
fn unquote_line(line: &[u8]) -> &[u8] {
    match line.split_first() {
        Some((b'>', rest)) if from_like(line) => rest,
        _ => line,
    }
}

/// Adds one `>` to lines matching `^>*From ` (mboxrd).
fn quote(lf: &[u8], out: &mut Vec<u8>) {
    out.reserve(lf.len());
    for_each_line(lf, |line, nl| {
        if from_like(line) {
            out.push(b'>');
        }
        out.extend_from_slice(line);
        if nl {
            out.push(b'\n');
        }
    });
}

/// Removes one `>` from lines matching `^>+From ` (mboxrd).
fn unquote(stored: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(stored.len());
    for_each_line(stored, |line, lf| {
        out.extend_from_slice(unquote_line(line));
        if lf {
            out.push(b'\n');
        }
    });
    out
}

/// [`unquote`] and `to_crlf` in one pass: the wire form of a stored body.
fn unquote_crlf(stored: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(stored.len() + stored.len() / 32);
    for_each_line(stored, |line, lf| {
        out.extend_from_slice(unquote_line(line));
        if lf {
            out.extend_from_slice(b"\r\n");
        }
    });
    out
}

/// Appends the entry of `msg` to `out` and returns its wire size.
fn encode_entry(msg: &NewMessage, uid: Uid, out: &mut Vec<u8>) -> u64 {
    let lf = to_lf(msg.bytes);
    out.extend_from_slice(
        render_from_line(msg.return_path, msg.flags, uid, msg.internal_date).as_bytes(),
    );
    quote(&lf, out);
    if !lf.ends_with(b"\n") {
        out.push(b'\n');
    }
    out.push(b'\n');
    crlf_len(&lf)
}

/// The stored message of an entry: after the `From ` line, without the
/// empty separator line (if there is one).
fn entry_body(entry: &[u8]) -> Option<&[u8]> {
    let nl = entry.iter().position(|&b| b == b'\n')?;
    let body = &entry[nl + 1..];
    Some(if body.ends_with(b"\n\n") {
        &body[..body.len() - 1]
    } else {
        body
    })
}

/// Decodes an entry to wire form of the recorded `size`.
fn decode_entry(entry: &[u8], size: u64) -> std::result::Result<Vec<u8>, String> {
    if !entry.starts_with(b"From ") {
        return Err("entry does not start with a From line".into());
    }
    let body = entry_body(entry).ok_or("entry without a line end")?;
    let mut wire = unquote_crlf(body);
    let len = wire.len() as u64;
    if len == size + 2 && wire.ends_with(b"\r\n") {
        wire.truncate(wire.len() - 2);
    } else if len != size {
        return Err(format!("message is {len} bytes, index says {size}"));
    }
    Ok(wire)
}

/// Splits an mbox file into entries (offset, length), each starting with a
/// `From ` line at the start of a line.
fn split_entries(data: &[u8]) -> std::result::Result<Vec<(usize, usize)>, String> {
    let mut starts = Vec::new();
    let mut pos = 0;
    while pos < data.len() {
        if data[pos..].starts_with(b"From ") {
            starts.push(pos);
        } else if pos == 0 {
            return Err("file does not start with a From line".into());
        }
        match data[pos..].iter().position(|&b| b == b'\n') {
            Some(n) => pos += n + 1,
            None => break,
        }
    }
    let ends = starts.iter().skip(1).copied().chain([data.len()]);
    Ok(starts.iter().zip(ends).map(|(&s, e)| (s, e - s)).collect())
}

fn to_usize(path: &Path, n: u64) -> Result<usize> {
    usize::try_from(n).map_err(|_| corrupt(path, "offset out of range"))
}

impl Mailbox {
    /// Checks the index against the mbox file and truncates an uncommitted
    /// tail. `false` if the index describes another file.
    pub(super) fn mbox_reconcile(&mut self) -> Result<bool> {
        let path = self.path.clone();
        let meta = fs::metadata(&path).map_err(io_err(&path))?;
        let id = file_id(&meta);
        if self.header.file_id != 0 && id != 0 && id != self.header.file_id {
            return Ok(false);
        }
        if meta.len() < self.header.end {
            return Ok(false);
        }
        if let (Some(info), Some(Loc::Mbox { offset, len })) =
            (self.messages.last(), self.locs.last())
        {
            let mut head = Vec::new();
            let mut f = File::open(&path).map_err(io_err(&path))?;
            f.seek(SeekFrom::Start(*offset)).map_err(io_err(&path))?;
            f.take((*len).min(FROM_LINE_MAX))
                .read_to_end(&mut head)
                .map_err(io_err(&path))?;
            let line = head.split(|&b| b == b'\n').next().unwrap_or_default();
            if parse_from_line(line).and_then(|f| f.uid) != Some(info.uid.0) {
                return Ok(false);
            }
        }
        if meta.len() > self.header.end {
            tracing::warn!(
                path = %path.display(),
                committed = self.header.end,
                found = meta.len(),
                "truncating uncommitted tail of mbox"
            );
            truncate(&path, self.header.end)?;
        }
        Ok(true)
    }

    /// Rebuilds the state of an mbox from its `From ` lines.
    pub(super) fn mbox_rebuild(path: &Path, salvage: &Salvage) -> Result<Mailbox> {
        let data = fs::read(path).map_err(io_err(path))?;
        let mut spans = split_entries(&data).map_err(|r| corrupt(path, r))?;
        let mut valid_len = data.len();
        if let Some(&(off, len)) = spans.last()
            && !data[off..off + len].ends_with(b"\n\n")
        {
            tracing::warn!(path = %path.display(), offset = off, "dropping torn last message of mbox");
            spans.pop();
            valid_len = off;
        }
        if valid_len < data.len() {
            truncate(path, valid_len as u64)?;
        }
        let mut found = Vec::with_capacity(spans.len());
        let mut seen = HashSet::new();
        // The highest UID of an expunged entry: UIDs are not handed out again.
        let mut max_dead = 0;
        let mut dead = false;
        for &(off, len) in &spans {
            let entry = &data[off..off + len];
            let nl = entry
                .iter()
                .position(|&b| b == b'\n')
                .unwrap_or(entry.len());
            let from = parse_from_line(&entry[..nl]);
            if let Some(u) = from.as_ref().and_then(|f| f.uid)
                && (from.as_ref().is_some_and(|f| f.dead) || salvage.expunged.contains(&u))
            {
                max_dead = max_dead.max(u);
                dead = true;
                continue;
            }
            let uid = from
                .as_ref()
                .and_then(|f| f.uid)
                .filter(|u| seen.insert(*u));
            let body = entry_body(entry).unwrap_or_default();
            let info = MessageInfo {
                uid: Uid(uid.unwrap_or(0)),
                flags: from.as_ref().map(|f| f.flags).unwrap_or_default(),
                size: crlf_len(&unquote(body)),
                internal_date: from.and_then(|f| f.date).unwrap_or(0),
                key: None,
                keywords: Vec::new(),
                modseq: 0,
            };
            let loc = Loc::Mbox {
                offset: off as u64,
                len: len as u64,
            };
            found.push((uid.is_some(), Entry { info, loc }));
        }
        let max = found.iter().map(|(_, e)| e.info.uid.0).max().unwrap_or(0);
        let mut next = salvage.uid_next.max(max.max(max_dead) + 1).max(1);
        let mut assigned = false;
        for (has_uid, e) in &mut found {
            if !*has_uid {
                tracing::warn!(path = %path.display(), uid = next, "mbox message without a UID, assigning one");
                e.info.uid = Uid(next);
                next += 1;
                assigned = true;
            }
        }
        found.sort_by_key(|(_, e)| e.info.uid);
        let meta = fs::metadata(path).map_err(io_err(path))?;
        let header = Header {
            uid_validity: salvage.uid_validity.unwrap_or_else(new_uid_validity),
            uid_next: next,
            end: valid_len as u64,
            file_id: file_id(&meta),
            highest_modseq: salvage.highest_modseq + 1,
            vanished_floor: salvage.highest_modseq + 1,
            // A rebuild cannot tell which messages sessions have seen.
            first_recent: next,
        };
        let mut mb = Mailbox::from_entries(
            path,
            super::MailboxFormat::Mbox,
            header,
            found.into_iter().map(|(_, e)| e),
        );
        if assigned || dead {
            // Write the assigned UIDs into the From lines, so that the next
            // rebuild finds the same ones, and leave the dead entries out.
            let keep = vec![true; mb.messages.len()];
            mb.mbox_rewrite(&keep)?;
        }
        Ok(mb)
    }

    /// Writes the new messages after the committed end of the file and
    /// fsyncs it. Returns their index entries (not yet committed).
    pub(super) fn mbox_append(
        &mut self,
        batch: &[NewMessage],
        fresh: &[(usize, Uid)],
    ) -> Result<Vec<Entry>> {
        let mut buf = Vec::new();
        let mut entries = Vec::with_capacity(fresh.len());
        for &(i, uid) in fresh {
            let msg = &batch[i];
            let start = buf.len();
            let size = encode_entry(msg, uid, &mut buf);
            entries.push(Entry {
                info: MessageInfo {
                    uid,
                    flags: msg.flags,
                    size,
                    internal_date: msg.internal_date,
                    key: msg.key.clone(),
                    keywords: Vec::new(),
                    modseq: 0,
                },
                loc: Loc::Mbox {
                    offset: self.header.end + start as u64,
                    len: (buf.len() - start) as u64,
                },
            });
        }
        let p = &self.path;
        let mut f = OpenOptions::new().write(true).open(p).map_err(io_err(p))?;
        f.seek(SeekFrom::Start(self.header.end))
            .map_err(io_err(p))?;
        f.write_all(&buf).map_err(io_err(p))?;
        sync_file(&f, p)?;
        Ok(entries)
    }

    /// Expunges the messages whose `keep` flag is false: marks their
    /// entries dead in the file, then commits `X` records (at `modseq`) in
    /// the index; neither is fsynced.
    /// The file is compacted once dead entries take half of it. An entry
    /// whose `From ` line cannot be marked (no comment with a UID) makes
    /// this a compaction at once.
    pub(super) fn mbox_expunge(&mut self, keep: &[bool], modseq: u64) -> Result<()> {
        let p = self.path.clone();
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&p)
            .map_err(io_err(&p))?;
        let mut lines = String::new();
        for ((info, loc), _) in self
            .messages
            .iter()
            .zip(&self.locs)
            .zip(keep)
            .filter(|(_, k)| !**k)
        {
            let Loc::Mbox { offset, len } = *loc else {
                return Err(corrupt(&p, "mdir location in an mbox index"));
            };
            if !mark_dead(&file, &p, offset, len)? {
                return self.mbox_rewrite(keep);
            }
            lines.push_str(&index::render_expunge(&index::Vanished {
                uid: info.uid.0,
                modseq,
                key: info.key.clone(),
            }));
        }
        drop(file);
        super::crash_point()?;
        // Neither the marks nor the records are fsynced (see the module
        // documentation of `mailbox`): the next append's fsyncs carry them.
        self.journal_unsynced(&lines)?;
        self.retain(keep);
        if self.mbox_dead_bytes() * 2 >= self.header.end {
            let all = vec![true; self.messages.len()];
            self.mbox_rewrite(&all)?;
        }
        Ok(())
    }

    /// Bytes of the file up to END taken by dead (expunged) entries.
    pub(super) fn mbox_dead_bytes(&self) -> u64 {
        let live: u64 = self
            .locs
            .iter()
            .map(|l| match l {
                Loc::Mbox { len, .. } => *len,
                Loc::Mdir(_) => 0,
            })
            .sum();
        self.header.end.saturating_sub(live)
    }

    /// Reads and decodes one entry, through the handle's kept reader.
    pub(super) fn mbox_read(&self, offset: u64, len: u64, size: u64) -> Result<Vec<u8>> {
        use std::os::unix::fs::FileExt;
        let p = &self.path;
        let mut buf = vec![0; to_usize(p, len)?];
        let f = match self.reader.get() {
            Some(f) => f,
            None => {
                let f = File::open(p).map_err(io_err(p))?;
                self.reader.get_or_init(|| f)
            }
        };
        f.read_exact_at(&mut buf, offset).map_err(io_err(p))?;
        decode_entry(&buf, size).map_err(|r| corrupt(p, r))
    }

    /// Rewrites the mbox with the messages whose `keep` flag is set, current
    /// flags in the `From ` lines, and a compacted index; both files are
    /// replaced by rename, then the folder is fsynced.
    pub(super) fn mbox_rewrite(&mut self, keep: &[bool]) -> Result<()> {
        // The kept handles would go on using the files this replaces.
        self.reader.take();
        self.journal = None;
        let p = self.path.clone();
        let data = fs::read(&p).map_err(io_err(&p))?;
        let mut out = Vec::with_capacity(data.len());
        let mut kept = Vec::new();
        for ((info, loc), _) in self
            .messages
            .iter()
            .zip(&self.locs)
            .zip(keep)
            .filter(|(_, k)| **k)
        {
            let Loc::Mbox { offset, len } = *loc else {
                return Err(corrupt(&p, "mdir location in an mbox index"));
            };
            let (off, len) = (to_usize(&p, offset)?, to_usize(&p, len)?);
            let entry = data
                .get(off..off + len)
                .ok_or_else(|| corrupt(&p, "message beyond the end of the mbox"))?;
            let nl = entry
                .iter()
                .position(|&b| b == b'\n')
                .ok_or_else(|| corrupt(&p, "message without a From line"))?;
            let rp = parse_from_line(&entry[..nl])
                .map(|f| f.return_path)
                .unwrap_or_default();
            let rp = if rp == "<>" { "" } else { rp.as_str() };
            let start = out.len();
            out.extend_from_slice(
                render_from_line(rp, info.flags, info.uid, info.internal_date).as_bytes(),
            );
            out.extend_from_slice(&entry[nl + 1..]);
            kept.push(Entry {
                info: info.clone(),
                loc: Loc::Mbox {
                    offset: start as u64,
                    len: (out.len() - start) as u64,
                },
            });
        }
        let tmp = temp_path(&p);
        super::crash_point()?;
        write_synced(&tmp, &out)?;
        let header = Header {
            end: out.len() as u64,
            file_id: file_id(&fs::metadata(&tmp).map_err(io_err(&tmp))?),
            ..self.header
        };
        let idx_tmp = temp_path(&self.idx_path);
        let text = index::render_full(&header, kept.iter(), &self.vanished);
        let res = super::crash_point()
            .and_then(|()| write_synced(&idx_tmp, text.as_bytes()))
            .and_then(|()| super::crash_point())
            .and_then(|()| fs::rename(&tmp, &p).map_err(io_err(&p)));
        if let Err(e) = res {
            let _ = fs::remove_file(&tmp);
            let _ = fs::remove_file(&idx_tmp);
            return Err(e);
        }
        // A crash here leaves the new mbox with the old index; the inode
        // recorded in the old index no longer matches, so open rebuilds.
        super::crash_point()?;
        fs::rename(&idx_tmp, &self.idx_path).map_err(io_err(&self.idx_path))?;
        super::crash_point()?;
        sync_dir(parent_dir(&p))?;
        self.header = header;
        self.records = kept.len();
        let (messages, locs) = kept.into_iter().map(|e| (e.info, e.loc)).unzip();
        self.messages = messages;
        self.locs = locs;
        Ok(())
    }
}

/// Marks the entry at `offset` dead in place: one byte of its `From ` line
/// (see the module documentation). Not synced. `false` if the line has no
/// comment to mark.
fn mark_dead(file: &File, path: &Path, offset: u64, len: u64) -> Result<bool> {
    use std::os::unix::fs::FileExt;
    let mut head = vec![0; to_usize(path, len.min(FROM_LINE_MAX))?];
    file.read_exact_at(&mut head, offset)
        .map_err(io_err(path))?;
    let line = head.split(|&b| b == b'\n').next().unwrap_or_default();
    let Some(at) = separator_at(line) else {
        return Ok(false);
    };
    if line[at] == LIVE {
        super::crash_point()?;
        file.write_all_at(&[DEAD], offset + at as u64)
            .map_err(io_err(path))?;
    }
    Ok(true)
}

/// Truncates `path` to `len` bytes and fsyncs it.
fn truncate(path: &Path, len: u64) -> Result<()> {
    let f = OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(io_err(path))?;
    f.set_len(len).map_err(io_err(path))?;
    sync_file(&f, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_line_round_trip() {
        let line = render_from_line("john.dite@compinia.de", Flags::SEEN, Uid(1), 1_796_065_088);
        assert_eq!(
            line,
            "From john.dite@compinia.de (S-1) Mon Nov 30 18:58:08 2026\n"
        );
        let f = parse_from_line(line.as_bytes()).unwrap();
        assert_eq!(f.return_path, "john.dite@compinia.de");
        assert_eq!(
            (f.uid, f.flags, f.date),
            (Some(1), Flags::SEEN, Some(1_796_065_088))
        );

        let f = parse_from_line(b"From <>(-12) Tue Dec  1 01:02:03 2026").unwrap();
        assert_eq!(f.return_path, "<>");
        assert_eq!((f.uid, f.flags), (Some(12), Flags::EMPTY));
        assert_eq!(
            render_from_line("", Flags::EMPTY, Uid(12), f.date.unwrap()),
            "From <> (-12) Tue Dec  1 01:02:03 2026\n"
        );
        let f = parse_from_line(b"From a@b Mon Nov 30 18:58:08 2026").unwrap();
        assert_eq!((f.uid, f.date), (None, Some(1_796_065_088)));
        assert!(parse_from_line(b">From a@b").is_none());
    }

    #[test]
    fn quoting_round_trips() {
        let body = b"From me\n>From x\n>>From y\nFromage\n From z\n";
        let mut out = Vec::new();
        quote(body, &mut out);
        assert_eq!(out, b">From me\n>>From x\n>>>From y\nFromage\n From z\n");
        assert_eq!(unquote(&out), body);
        // The one-pass wire form equals unquoting then adding CRs.
        for stored in [
            &out[..],
            b"",
            b"\n",
            b"no line end",
            b">From a\r\nb\rc\n\n>>From d",
            b">\n>From\nFrom",
        ] {
            assert_eq!(
                unquote_crlf(stored),
                super::super::to_crlf(&unquote(stored)),
                "{stored:?}"
            );
        }
    }
}
