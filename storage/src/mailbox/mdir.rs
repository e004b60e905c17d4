//! Directory mailboxes: a folder (`NAME.mdir/`) with one file per message.
//!
//! A message file is named `UID-FLAGS-yyyymmddhhmmss` (flags as letters, the
//! internal date in GMT) and holds the message with LF line ends (no `From `
//! line, no quoting). Since the file length delimits the message, every
//! message round-trips byte-exactly, with or without an index.
//!
//! Invariants: a message file appears only by renaming a fsynced `.tmp*`
//! file, and the folder is fsynced once per batch before the index commits
//! it. On open, files whose UID is not committed and at or above the
//! committed UIDNEXT, and `.tmp*` files, are leftovers of an interrupted
//! append and are deleted. Flag changes rename the file (the index is
//! authoritative if a crash separates the two); expunge unlinks the files
//! before the index records it, so an indexed message without a file is
//! treated as expunged. Neither is fsynced: a power loss may undo them (a
//! file for an expunged UID below UIDNEXT is left alone on open).

use std::collections::HashMap;
use std::collections::hash_map::Entry as MapEntry;
use std::fs;
use std::path::Path;

use super::index::{self, Entry, Header, Loc, Salvage};
use super::{
    Mailbox, MailboxFormat, MessageInfo, NewMessage, Uid, crlf_len, format_time, new_uid_validity,
    parse_time, to_crlf, to_lf,
};
use crate::error::{Result, corrupt, io_err};
use crate::flags::Flags;
use crate::fsync::{sync_dir, write_synced};

/// Format of the time stamp in file names.
const STAMP: &str = "%Y%m%d%H%M%S";

/// The file name of a message.
pub(super) fn file_name(uid: Uid, flags: Flags, date: i64) -> String {
    format!("{uid}-{}-{}", flags.to_letters(), format_time(date, STAMP))
}

/// Parses a message file name into UID, flags and internal date.
pub(super) fn parse_file_name(name: &str) -> Option<(u32, Flags, i64)> {
    let mut parts = name.splitn(3, '-');
    let uid: u32 = parts.next()?.parse().ok().filter(|u| *u > 0)?;
    let flags = Flags::from_letters(parts.next()?).ok()?;
    let stamp = parts.next()?;
    if stamp.len() != 14 {
        return None;
    }
    Some((uid, flags, parse_time(stamp, STAMP)?))
}

/// A message file found in the folder.
struct Found {
    name: String,
    uid: u32,
    flags: Flags,
    date: i64,
}

/// Lists the message files of `dir`, ascending by UID, deleting `.tmp*`
/// leftovers. Returns the files and whether anything was deleted.
fn scan(dir: &Path) -> Result<(Vec<Found>, bool)> {
    let mut found = Vec::new();
    let mut removed = false;
    for entry in fs::read_dir(dir).map_err(io_err(dir))? {
        let entry = entry.map_err(io_err(dir))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with(".tmp") {
            tracing::warn!(path = %entry.path().display(), "removing leftover temporary file");
            remove_if_present(&entry.path())?;
            removed = true;
        } else if let Some((uid, flags, date)) = parse_file_name(&name) {
            found.push(Found {
                name,
                uid,
                flags,
                date,
            });
        } else if !name.starts_with('.') {
            tracing::warn!(path = %entry.path().display(), "ignoring unknown file in mdir");
        }
    }
    found.sort_by(|a, b| (a.uid, &a.name).cmp(&(b.uid, &b.name)));
    Ok((found, removed))
}

fn remove_if_present(p: &Path) -> Result<()> {
    match fs::remove_file(p) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io_err(p)(e)),
        _ => Ok(()),
    }
}

impl Mailbox {
    /// Matches the index with the files in the folder, deleting uncommitted
    /// files. Always consistent afterwards.
    pub(super) fn mdir_reconcile(&mut self) -> Result<bool> {
        let dir = self.path.clone();
        let (files, mut removed) = scan(&dir)?;
        let mut actual: HashMap<u32, String> = HashMap::new();
        for f in files {
            if self.position(Uid(f.uid)).is_some() {
                match actual.entry(f.uid) {
                    MapEntry::Occupied(_) => tracing::warn!(
                        file = f.name,
                        "second file for the same UID in mdir, ignored"
                    ),
                    MapEntry::Vacant(v) => {
                        v.insert(f.name);
                    }
                }
            } else if f.uid >= self.header.uid_next {
                tracing::warn!(path = %dir.display(), file = f.name, "removing uncommitted message");
                remove_if_present(&dir.join(&f.name))?;
                removed = true;
            } else {
                tracing::warn!(path = %dir.display(), file = f.name, "message file not in the index, left alone");
            }
        }
        let mut dirty = false;
        let mut keep = vec![true; self.messages.len()];
        for (i, info) in self.messages.iter().enumerate() {
            match actual.remove(&info.uid.0) {
                Some(name) => {
                    if self.locs[i] != Loc::Mdir(name.clone()) {
                        self.locs[i] = Loc::Mdir(name);
                        dirty = true;
                    }
                }
                None => {
                    tracing::warn!(path = %dir.display(), uid = info.uid.0, "indexed message has no file, dropping it");
                    keep[i] = false;
                    dirty = true;
                }
            }
        }
        self.retain(&keep);
        if removed {
            sync_dir(&dir)?;
        }
        if dirty {
            self.compact()?;
        }
        Ok(true)
    }

    /// Rebuilds the state of an mdir from its file names.
    pub(super) fn mdir_rebuild(path: &Path, salvage: &Salvage) -> Result<Mailbox> {
        let (files, removed) = scan(path)?;
        if removed {
            sync_dir(path)?;
        }
        let mut entries: Vec<Entry> = Vec::with_capacity(files.len());
        for f in files {
            if entries.last().is_some_and(|e| e.info.uid.0 == f.uid) {
                tracing::warn!(
                    file = f.name,
                    "second file for the same UID in mdir, ignored"
                );
                continue;
            }
            let p = path.join(&f.name);
            let data = fs::read(&p).map_err(io_err(&p))?;
            entries.push(Entry {
                info: MessageInfo {
                    uid: Uid(f.uid),
                    flags: f.flags,
                    size: crlf_len(&data),
                    internal_date: f.date,
                    key: None,
                    keywords: Vec::new(),
                    modseq: 0,
                },
                loc: Loc::Mdir(f.name),
            });
        }
        let max = entries.last().map_or(0, |e| e.info.uid.0);
        let uid_next = salvage.uid_next.max(max + 1).max(1);
        let header = Header {
            uid_validity: salvage.uid_validity.unwrap_or_else(new_uid_validity),
            uid_next,
            end: 0,
            file_id: 0,
            highest_modseq: salvage.highest_modseq + 1,
            vanished_floor: salvage.highest_modseq + 1,
            // A rebuild cannot tell which messages sessions have seen.
            first_recent: uid_next,
        };
        Ok(Mailbox::from_entries(
            path,
            MailboxFormat::Mdir,
            header,
            entries.into_iter(),
        ))
    }

    /// Writes one file per new message (temp, fsync, rename), then fsyncs
    /// the folder once. Returns the index entries (not yet committed).
    pub(super) fn mdir_append(
        &mut self,
        batch: &[NewMessage],
        fresh: &[(usize, Uid)],
    ) -> Result<Vec<Entry>> {
        let dir = self.path.clone();
        let mut entries = Vec::with_capacity(fresh.len());
        let res = (|| {
            for &(i, uid) in fresh {
                let msg = &batch[i];
                let name = file_name(uid, msg.flags, msg.internal_date);
                let tmp = dir.join(format!(".tmp{uid}-{}", std::process::id()));
                let lf = to_lf(msg.bytes);
                write_synced(&tmp, &lf)?;
                let dst = dir.join(&name);
                if let Err(e) = fs::rename(&tmp, &dst) {
                    let _ = fs::remove_file(&tmp);
                    return Err(io_err(&dst)(e));
                }
                entries.push(Entry {
                    info: MessageInfo {
                        uid,
                        flags: msg.flags,
                        size: crlf_len(&lf),
                        internal_date: msg.internal_date,
                        key: msg.key.clone(),
                        keywords: Vec::new(),
                        modseq: 0,
                    },
                    loc: Loc::Mdir(name),
                });
            }
            sync_dir(&dir)
        })();
        if let Err(e) = res {
            for e in &entries {
                if let Loc::Mdir(name) = &e.loc {
                    let _ = fs::remove_file(dir.join(name));
                }
            }
            return Err(e);
        }
        Ok(entries)
    }

    /// Reads one message file in wire form.
    pub(super) fn mdir_read(&self, name: &str) -> Result<Vec<u8>> {
        let p = self.path.join(name);
        let data = fs::read(&p).map_err(io_err(&p))?;
        Ok(to_crlf(&data))
    }

    /// Renames the file of message `i` for new flags; not fsynced (see the
    /// module documentation of `mailbox`), the index is authoritative.
    pub(super) fn mdir_rename(&mut self, i: usize, flags: Flags) -> Result<()> {
        let Loc::Mdir(old) = &self.locs[i] else {
            return Err(corrupt(&self.path, "mbox location in an mdir index"));
        };
        let info = &self.messages[i];
        let new = file_name(info.uid, flags, info.internal_date);
        let (from, to) = (self.path.join(old), self.path.join(&new));
        fs::rename(&from, &to).map_err(io_err(&from))?;
        self.locs[i] = Loc::Mdir(new);
        Ok(())
    }

    /// Unlinks the files of the messages whose `keep` flag is false, then
    /// commits the expunge in the index; neither is fsynced (see the module
    /// documentation of `mailbox`).
    pub(super) fn mdir_expunge(&mut self, keep: &[bool], modseq: u64) -> Result<()> {
        let mut lines = String::new();
        for ((info, loc), _) in self
            .messages
            .iter()
            .zip(&self.locs)
            .zip(keep)
            .filter(|(_, k)| !**k)
        {
            if let Loc::Mdir(name) = loc {
                remove_if_present(&self.path.join(name))?;
            }
            lines.push_str(&index::render_expunge(&index::Vanished {
                uid: info.uid.0,
                modseq,
                key: info.key.clone(),
            }));
        }
        self.journal_unsynced(&lines)?;
        self.retain(keep);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_round_trip() {
        assert_eq!(
            file_name(Uid(1), Flags::SEEN, 1_796_065_088),
            "1-S-20261130185808"
        );
        assert_eq!(
            file_name(Uid(2), Flags::EMPTY, 1_796_065_089),
            "2--20261130185809"
        );
        assert_eq!(
            parse_file_name("2--20261130185809"),
            Some((2, Flags::EMPTY, 1_796_065_089))
        );
        assert_eq!(
            parse_file_name("10-DS-20261130185808"),
            Some((10, Flags::DRAFT | Flags::SEEN, 1_796_065_088))
        );
        for bad in [
            "x--20261130185809",
            "0--20261130185809",
            "1-Q-20261130185809",
            "1--2026",
            ".tmp1",
        ] {
            assert_eq!(parse_file_name(bad), None, "{bad}");
        }
    }
}
