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
    /// The directory refused the request for an expected reason
    /// (CommuniGate's wording, e.g. `Account with this name already exists`).
    /// `kind` tells front ends what kind of refusal it is (HTTP 404 or
    /// 409); the text is what the CLI prints.
    #[error("{text}")]
    Refused {
        /// A missing object, or a conflict with the current state.
        kind: RefusalKind,
        /// CommuniGate's text.
        text: String,
    },
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

/// Why a request was refused, for front ends that answer with a status
/// (the CLI prints only the text).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefusalKind {
    /// The named object does not exist (`Unknown account`, ...).
    NotFound,
    /// The request conflicts with the current state (already exists, not
    /// empty, the main domain, ...).
    Conflict,
}

impl Error {
    /// A refusal because the named object does not exist.
    pub fn not_found(text: impl Into<String>) -> Error {
        Error::Refused {
            kind: RefusalKind::NotFound,
            text: text.into(),
        }
    }

    /// A refusal because the request conflicts with the current state.
    pub fn conflict(text: impl Into<String>) -> Error {
        Error::Refused {
            kind: RefusalKind::Conflict,
            text: text.into(),
        }
    }
}

impl From<cluster::Rejection> for Error {
    fn from(r: cluster::Rejection) -> Error {
        use cluster::Rejection as R;
        match r {
            R::AccountNotFound
            | R::DomainNotFound
            | R::NotInQueue
            | R::ForwarderNotFound
            | R::GroupNotFound => Error::not_found(r.to_string()),
            // Exists, not empty, the main domain, stale claims, invalid
            // requests: all about the current state.
            _ => Error::conflict(r.to_string()),
        }
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
                Error::conflict(format!("Mailbox {m} already exists"))
            }
            storage::Error::MailboxNotFound(m) => Error::not_found(format!("Unknown mailbox {m}")),
            storage::Error::AccountNotFound => Error::from(cluster::Rejection::AccountNotFound),
            storage::Error::AccountExists => Error::from(cluster::Rejection::AccountExists),
            storage::Error::NotSupported(what) => Error::conflict(what),
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
