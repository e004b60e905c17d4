//! The shared base directory and its CommuniGate-like folder names
//! (DESIGN.md §3).
//!
//! Invariant: every path built from a caller-supplied account, domain or
//! mailbox name has passed [`validate_name`] / [`validate_mailbox_name`], so a
//! name can never escape its folder (`..`, `/`), hide as a dot file, or
//! collide with the temporary files of this crate (which start with `.`).

use std::fs;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result, io_err};
use crate::fsync::sync_dir;

/// Folders created by [`BaseDir::create_all`].
const TOP_FOLDERS: [&str; 7] = [
    "Settings",
    "Queue",
    "BadFiles",
    "Accounts",
    "Domains",
    "Submitted",
    "SystemLogs",
];

/// The shared base directory of a cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaseDir {
    root: PathBuf,
}

impl BaseDir {
    /// Wraps `root`; touches nothing on disk.
    pub fn new(root: impl Into<PathBuf>) -> BaseDir {
        BaseDir { root: root.into() }
    }

    /// Creates the root and its top folders (Settings/ Queue/ BadFiles/
    /// Accounts/ Domains/ Submitted/ SystemLogs/) if missing, durably.
    ///
    /// # Errors
    /// [`Error::Io`] if a folder cannot be created or synced.
    pub fn create_all(&self) -> Result<()> {
        fs::create_dir_all(&self.root).map_err(io_err(&self.root))?;
        for name in TOP_FOLDERS {
            let p = self.root.join(name);
            fs::create_dir_all(&p).map_err(io_err(&p))?;
        }
        sync_dir(&self.root)
    }

    /// The base directory itself.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `Queue/`: one body file per accepted message.
    pub fn queue_dir(&self) -> PathBuf {
        self.root.join("Queue")
    }

    /// `BadFiles/`: inputs that could not be parsed.
    pub fn bad_files_dir(&self) -> PathBuf {
        self.root.join("BadFiles")
    }

    /// `Submitted/`: the PIPE drop folder.
    pub fn submitted_dir(&self) -> PathBuf {
        self.root.join("Submitted")
    }

    /// `Settings/`: exported copies of server settings.
    pub fn settings_dir(&self) -> PathBuf {
        self.root.join("Settings")
    }

    /// `Accounts/`: accounts of the main domain.
    pub fn accounts_dir(&self) -> PathBuf {
        self.root.join("Accounts")
    }

    /// `Domains/`: one folder per secondary domain.
    pub fn domains_dir(&self) -> PathBuf {
        self.root.join("Domains")
    }

    /// `SystemLogs/<node>/`: the log folder of one node. `node` is not
    /// validated here; node ids come from configuration, not from clients.
    pub fn system_logs_dir(&self, node: &str) -> PathBuf {
        self.root.join("SystemLogs").join(node)
    }

    /// The folder holding a domain's accounts: `Accounts/` for the main
    /// domain (`None`), `Domains/<d>/` for a secondary domain.
    pub fn domain_dir(&self, domain: Option<&str>) -> PathBuf {
        match domain {
            None => self.accounts_dir(),
            Some(d) => self.domains_dir().join(d),
        }
    }
}

/// Checks an account or domain name for use as a single path component: not
/// empty, not `.`/`..`, not starting with `.`, without `/`, `\` or NUL.
///
/// # Errors
/// [`Error::BadName`] if the name is refused.
pub fn validate_name(name: &str) -> Result<()> {
    let bad = name.is_empty()
        || name.starts_with('.')
        || name
            .chars()
            .any(|c| c == '/' || c == '\\' || c == '\0' || c.is_control());
    if bad {
        return Err(Error::BadName(name.to_string()));
    }
    Ok(())
}

/// Checks a mailbox name: `/` separates hierarchy levels and each level must
/// pass [`validate_name`]. A level may not end in `.mbox` or `.mdir`, since an
/// intermediate level is stored as a plain folder of that name and would be
/// mistaken for a mailbox.
///
/// # Errors
/// [`Error::BadName`] if the name is refused.
pub fn validate_mailbox_name(name: &str) -> Result<()> {
    for part in name.split('/') {
        validate_name(part).map_err(|_| Error::BadName(name.to_string()))?;
        if part.ends_with(".mbox") || part.ends_with(".mdir") {
            return Err(Error::BadName(name.to_string()));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_all_makes_top_folders() {
        let dir = tempfile::tempdir().unwrap();
        let base = BaseDir::new(dir.path().join("data"));
        base.create_all().unwrap();
        base.create_all().unwrap();
        for p in [
            base.queue_dir(),
            base.bad_files_dir(),
            base.submitted_dir(),
            base.settings_dir(),
            base.accounts_dir(),
            base.domains_dir(),
            base.root().join("SystemLogs"),
        ] {
            assert!(p.is_dir(), "{}", p.display());
        }
        assert_eq!(base.domain_dir(None), base.root().join("Accounts"));
        assert_eq!(
            base.domain_dir(Some("client1.com")),
            base.root().join("Domains/client1.com")
        );
        assert_eq!(
            base.system_logs_dir("n1"),
            base.root().join("SystemLogs/n1")
        );
    }

    #[test]
    fn bad_names_are_refused() {
        for n in ["", ".", "..", ".hidden", "a/b", "a\0b", "a\\b", "a\nb"] {
            assert!(matches!(validate_name(n), Err(Error::BadName(_))), "{n:?}");
        }
        for n in ["user1", "john.dite", "x-y_z", "Ärger"] {
            validate_name(n).unwrap();
        }
        for n in ["INBOX/..", "/a", "a/", "a//b", "x.mdir/y", "a/.b"] {
            assert!(validate_mailbox_name(n).is_err(), "{n:?}");
        }
        for n in ["INBOX", "INBOX/important", "Sent Items"] {
            validate_mailbox_name(n).unwrap();
        }
    }
}
