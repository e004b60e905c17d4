//! The error type of the storage crate.
//!
//! Every failure of a file system call carries the path it concerned, so a
//! log line is enough to find the file. Domain outcomes that callers match on
//! (`MailboxNotFound`, `AccountExists`, ...) have their own variants.

use std::io;
use std::path::{Path, PathBuf};

use crate::mailbox::Uid;

/// Errors of the storage crate.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file system call failed.
    #[error("I/O error on {}: {source}", path.display())]
    Io {
        /// The file or folder the call concerned.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// A file does not have the expected format.
    #[error("corrupt {}: {reason}", path.display())]
    Corrupt {
        /// The file that could not be parsed.
        path: PathBuf,
        /// What was wrong with it.
        reason: String,
    },
    /// A file was written by a later version of Mailnode in a format this
    /// one does not read; it is left as it is.
    #[error("{} is in format {version}, written by a newer Mailnode; upgrade this node", path.display())]
    NewerFormat {
        /// The file.
        path: PathBuf,
        /// Its format version.
        version: u32,
    },
    /// The named mailbox does not exist.
    #[error("mailbox {0} not found")]
    MailboxNotFound(String),
    /// A mailbox of that name already exists.
    #[error("mailbox {0} already exists")]
    MailboxExists(String),
    /// The account does not exist.
    #[error("account not found")]
    AccountNotFound,
    /// An account of that name already exists.
    #[error("account already exists")]
    AccountExists,
    /// An account, domain or mailbox name is not acceptable on disk.
    #[error("bad name {0:?}")]
    BadName(String),
    /// A flag string contains a letter that is not a known flag.
    #[error("bad flags {0:?}")]
    BadFlags(String),
    /// No message with that UID is in the mailbox.
    #[error("message {0} not found")]
    MessageNotFound(Uid),
    /// The operation is not possible for this kind of account or mailbox
    /// (e.g. a second mailbox in a TextMailbox account).
    #[error("not supported: {0}")]
    NotSupported(String),
    /// An earlier write to this open mailbox failed half-way; its in-memory
    /// state may not match the disk. Drop it and open the mailbox again.
    #[error("mailbox {} must be reopened after a failed write", .0.display())]
    MustReopen(PathBuf),
    /// Another process wrote the mailbox since this handle read it (its
    /// index changed): nothing was written; open the mailbox again.
    #[error("mailbox {} was changed by another process", .0.display())]
    Stale(PathBuf),
}

/// Result with the storage [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// Whether retrying later may succeed (a failed disk or full file system,
    /// a half-done write, a file of a newer version during a rolling
    /// upgrade), as opposed to a permanent refusal.
    pub fn is_temporary(&self) -> bool {
        matches!(
            self,
            Error::Io { .. } | Error::MustReopen(_) | Error::Stale(_) | Error::NewerFormat { .. }
        )
    }

    /// Whether this is an I/O error of kind `NotFound`.
    pub fn is_not_found(&self) -> bool {
        matches!(self, Error::Io { source, .. } if source.kind() == io::ErrorKind::NotFound)
    }
}

/// Returns a closure mapping an [`io::Error`] to [`Error::Io`] for `path`.
pub(crate) fn io_err(path: &Path) -> impl FnOnce(io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Builds an [`Error::Corrupt`].
pub(crate) fn corrupt(path: &Path, reason: impl Into<String>) -> Error {
    Error::Corrupt {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}
