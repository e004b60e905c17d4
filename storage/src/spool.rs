//! The queue spool `Queue/`: one body file `ID.msg` per accepted message
//! (DESIGN.md §6).
//!
//! Invariants: a `*.msg` file is only ever created by renaming a fully written
//! and fsynced `ID.tmp`, so a `*.msg` file is always complete. The rename is
//! durable only after [`Spool::sync`] (one folder fsync per batch, so callers
//! can group-commit); a message must not be acknowledged before that.

use std::fs;
use std::path::PathBuf;

use crate::error::{Result, io_err};
use crate::fsync::{sync_dir, write_synced};
use crate::layout::BaseDir;

/// The queue spool folder.
#[derive(Debug, Clone)]
pub struct Spool {
    dir: PathBuf,
}

impl Spool {
    /// The spool of `base` (`Queue/`); touches nothing on disk.
    pub fn new(base: &BaseDir) -> Spool {
        Spool {
            dir: base.queue_dir(),
        }
    }

    /// The path of the body file of message `id`.
    pub fn body_path(&self, id: u64) -> PathBuf {
        self.dir.join(format!("{id}.msg"))
    }

    fn temp_path(&self, id: u64) -> PathBuf {
        self.dir.join(format!("{id}.tmp"))
    }

    /// Writes `ID.tmp`, fsyncs it and renames it to `ID.msg`. The folder is
    /// NOT synced: call [`Spool::sync`] once for the batch before
    /// acknowledging.
    ///
    /// # Errors
    /// [`crate::Error::Io`]; the temporary file is removed on a best-effort
    /// basis.
    pub fn write_body(&self, id: u64, bytes: &[u8]) -> Result<()> {
        let tmp = self.temp_path(id);
        write_synced(&tmp, bytes)?;
        let dst = self.body_path(id);
        if let Err(e) = fs::rename(&tmp, &dst) {
            let _ = fs::remove_file(&tmp);
            return Err(io_err(&dst)(e));
        }
        Ok(())
    }

    /// Fsyncs the `Queue/` folder, making every earlier rename durable.
    ///
    /// # Errors
    /// [`crate::Error::Io`].
    pub fn sync(&self) -> Result<()> {
        sync_dir(&self.dir)
    }

    /// Reads the body of message `id`.
    ///
    /// # Errors
    /// [`crate::Error::Io`] (kind `NotFound` if there is no such body; see
    /// [`crate::Error::is_not_found`]).
    pub fn read_body(&self, id: u64) -> Result<Vec<u8>> {
        let p = self.body_path(id);
        fs::read(&p).map_err(io_err(&p))
    }

    /// Removes the body of message `id`; a missing file is not an error. The
    /// folder is not synced: a body that reappears after a crash is swept as
    /// an orphan.
    ///
    /// # Errors
    /// [`crate::Error::Io`].
    pub fn remove(&self, id: u64) -> Result<()> {
        let p = self.body_path(id);
        match fs::remove_file(&p) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io_err(&p)(e)),
            _ => Ok(()),
        }
    }

    /// The ids of all `*.msg` files, ascending (for the orphan sweep).
    ///
    /// # Errors
    /// [`crate::Error::Io`] if the folder cannot be read.
    pub fn list_ids(&self) -> Result<Vec<u64>> {
        let mut ids: Vec<u64> = self
            .names()?
            .iter()
            .filter_map(|n| n.strip_suffix(".msg")?.parse().ok())
            .collect();
        ids.sort_unstable();
        Ok(ids)
    }

    /// Removes leftover `*.tmp` files of writes interrupted by a crash and
    /// returns how many were removed. Call it at start-up, before any writer
    /// runs.
    ///
    /// # Errors
    /// [`crate::Error::Io`].
    pub fn clean_temp(&self) -> Result<usize> {
        let mut n = 0;
        for name in self.names()? {
            if name.ends_with(".tmp") {
                let p = self.dir.join(&name);
                match fs::remove_file(&p) {
                    Ok(()) => n += 1,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(io_err(&p)(e)),
                }
            }
        }
        Ok(n)
    }

    fn names(&self) -> Result<Vec<String>> {
        let rd = fs::read_dir(&self.dir).map_err(io_err(&self.dir))?;
        let mut out = Vec::new();
        for entry in rd {
            let entry = entry.map_err(io_err(&self.dir))?;
            if let Ok(name) = entry.file_name().into_string() {
                out.push(name);
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spool_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let base = BaseDir::new(dir.path());
        base.create_all().unwrap();
        let spool = Spool::new(&base);
        spool.write_body(7, b"hello\r\n").unwrap();
        spool.write_body(3, b"").unwrap();
        spool.sync().unwrap();
        assert_eq!(spool.read_body(7).unwrap(), b"hello\r\n");
        assert_eq!(spool.read_body(3).unwrap(), b"");
        assert_eq!(spool.list_ids().unwrap(), vec![3, 7]);
        assert!(spool.body_path(7).ends_with("Queue/7.msg"));

        spool.remove(7).unwrap();
        spool.remove(7).unwrap();
        assert!(spool.read_body(7).unwrap_err().is_not_found());
        assert_eq!(spool.list_ids().unwrap(), vec![3]);

        fs::write(base.queue_dir().join("9.tmp"), b"half").unwrap();
        fs::write(base.queue_dir().join("junk"), b"x").unwrap();
        assert_eq!(spool.list_ids().unwrap(), vec![3]);
        assert_eq!(spool.clean_temp().unwrap(), 1);
        assert_eq!(spool.clean_temp().unwrap(), 0);
        assert!(base.queue_dir().join("junk").exists());
    }
}
