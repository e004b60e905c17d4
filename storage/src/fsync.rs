//! Crash-safe writes: fsync of folders and atomic replacement of files.
//!
//! Invariant: after [`write_atomic`] returns, a crash leaves either the old
//! or the new content at `path`, never a mix, and the new content survives a
//! power loss. Leftover temporary files are named `<name>.tmp-<pid>-<n>` next
//! to the target so that their owner can sweep them.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{Result, io_err};

/// Opens the folder `dir` and fsyncs it, making renames and unlinks of its
/// entries durable.
///
/// # Errors
/// [`crate::Error::Io`] if the folder cannot be opened or synced.
pub fn sync_dir(dir: &Path) -> Result<()> {
    let f = File::open(dir).map_err(io_err(dir))?;
    sync_file(&f, dir)
}

/// Fsyncs `f`, the open file (or folder) at `path`: the one way this crate
/// waits for the disk, so that injected faults ([`crate::faults`]) reach
/// every durable write.
///
/// # Errors
/// [`crate::Error::Io`] if the fsync fails.
pub(crate) fn sync_file(f: &File, path: &Path) -> Result<()> {
    crate::faults::before_sync()
        .and_then(|()| f.sync_all())
        .map_err(io_err(path))
}

/// Replaces `path` with `bytes` atomically and durably: writes a temporary
/// file in the same folder, fsyncs it, renames it over `path`, fsyncs the
/// folder.
///
/// # Errors
/// [`crate::Error::Io`] on any failed step; the temporary file is removed on
/// a best-effort basis.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = temp_path(path);
    write_synced(&tmp, bytes)?;
    if let Err(e) = fs::rename(&tmp, path) {
        let _ = fs::remove_file(&tmp);
        return Err(io_err(path)(e));
    }
    sync_dir(parent_dir(path))
}

/// A fresh temporary name next to `path`: `<path>.tmp-<pid>-<counter>`.
pub(crate) fn temp_path(path: &Path) -> PathBuf {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut s = path.as_os_str().to_os_string();
    s.push(format!(".tmp-{}-{n}", std::process::id()));
    PathBuf::from(s)
}

/// Creates (or truncates) `path`, writes `bytes` and fsyncs the file. The
/// folder is not synced.
pub(crate) fn write_synced(path: &Path, bytes: &[u8]) -> Result<()> {
    let res = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)?;
        f.write_all(bytes)?;
        Ok(f)
    })();
    let synced = res.map_err(io_err(path)).and_then(|f| sync_file(&f, path));
    if synced.is_err() {
        let _ = fs::remove_file(path);
    }
    synced
}

/// The folder holding `path` (`.` for a bare file name).
pub(crate) fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_atomic_replaces_and_leaves_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.settings");
        write_atomic(&p, b"one").unwrap();
        write_atomic(&p, b"two").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
        sync_dir(dir.path()).unwrap();
    }

    #[test]
    fn temp_names_are_unique() {
        let p = Path::new("/x/y");
        assert_ne!(temp_path(p), temp_path(p));
    }
}
