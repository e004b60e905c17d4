//! The admin crate's error type.
//!
//! Owns every fault the CLI layer can report: data-syntax errors (with the
//! byte position, CommuniGate Data.html rules, reference §2.3) and CLI
//! command-line errors (reference §2.5). Each is answered on the wire as a
//! `501 <text>` line (reference §2.2), so the `Display` text is short and
//! safe to show to the client.

/// Everything that can go wrong with an administration request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The text is not valid CommuniGate data syntax.
    #[error("syntax error at byte {pos}: {reason}")]
    Syntax {
        /// Byte offset into the parsed text where the problem was found.
        pos: usize,
        /// A short description of what was expected.
        reason: &'static str,
    },
    /// The command line is empty.
    #[error("empty command")]
    EmptyCommand,
    /// The command word is not a CommuniGate CLI command.
    #[error("unknown command {0}")]
    UnknownCommand(String),
    /// A known command with arguments that do not fit its syntax.
    #[error("{command}: {reason}")]
    BadArguments {
        /// The canonical command name.
        command: &'static str,
        /// What is wrong, e.g. `expected 'into'`.
        reason: String,
    },
    /// The directory refused the change for an expected reason
    /// (CommuniGate's wording, e.g. `Account with this name already exists`).
    #[error("{0}")]
    Refused(String),
    /// An argument is well-formed but not acceptable (unknown account
    /// type, bad name, ...).
    #[error("{0}")]
    BadArgument(String),
    /// The logged-in user may not run this command.
    #[error("Not enough access rights")]
    NotAllowed,
    /// The password given to VerifyAccountPassword does not match.
    #[error("Incorrect password")]
    IncorrectPassword,
    /// The cluster or the disk could not do it now; details are logged.
    #[error("The server cannot do this now: {0}")]
    Unavailable(String),
}

impl From<cluster::Rejection> for Error {
    fn from(r: cluster::Rejection) -> Error {
        Error::Refused(r.to_string())
    }
}

impl From<cluster::Error> for Error {
    fn from(e: cluster::Error) -> Error {
        match e {
            cluster::Error::Storage(s) => Error::from(s),
            other => Error::Unavailable(other.to_string()),
        }
    }
}

impl From<storage::Error> for Error {
    fn from(e: storage::Error) -> Error {
        match e {
            storage::Error::BadName(n) => Error::BadArgument(format!("Illegal name: {n}")),
            storage::Error::MailboxExists(m) => {
                Error::Refused(format!("Mailbox {m} already exists"))
            }
            storage::Error::MailboxNotFound(m) => Error::Refused(format!("Unknown mailbox {m}")),
            storage::Error::AccountNotFound => Error::Refused("Unknown account".into()),
            storage::Error::AccountExists => {
                Error::Refused("Account with this name already exists".into())
            }
            storage::Error::NotSupported(what) => Error::Refused(what),
            other => Error::Unavailable(other.to_string()),
        }
    }
}

impl Error {
    /// Whether retrying the same input could succeed: only when the server
    /// was unavailable.
    pub fn is_temporary(&self) -> bool {
        matches!(self, Error::Unavailable(_))
    }
}

/// Result with the crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;
