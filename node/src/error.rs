//! The node crate's error type and its mapping to protocol replies.

use std::path::PathBuf;

/// Errors of the node's services.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file or socket operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done (a path, a listener key, ...).
        context: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The storage layer failed.
    #[error(transparent)]
    Storage(#[from] storage::Error),
    /// The replicated state could not be read or written.
    #[error(transparent)]
    Cluster(#[from] cluster::Error),
    /// The replicated state refused a change for an expected reason.
    #[error("{0}")]
    Rejected(cluster::Rejection),
    /// The configuration is invalid.
    #[error("configuration: {0}")]
    Config(String),
    /// A listener could not be bound.
    #[error("cannot bind listen.{key} = {addr}: {source}")]
    Bind {
        /// The config key (`smtp`, `pop3`, ...).
        key: String,
        /// The address.
        addr: std::net::SocketAddr,
        /// The cause.
        source: std::io::Error,
    },
    /// TLS material could not be loaded or made.
    #[error("TLS: {0}")]
    Tls(String),
    /// A background task died.
    #[error("internal task failed: {0}")]
    Task(String),
    /// The cluster could not say whether a message was queued: the client
    /// must hear neither `250` nor a refusal (it may have been queued, so a
    /// refusal could turn out false).
    #[error("outcome unknown: {0}")]
    OutcomeUnknown(String),
}

impl Error {
    /// Wraps an I/O error with what was being done.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Error {
        Error::Io {
            context: context.into(),
            source,
        }
    }

    /// Wraps an I/O error on a path.
    pub fn path(path: &std::path::Path, source: std::io::Error) -> Error {
        Error::io(PathBuf::from(path).display().to_string(), source)
    }

    /// Whether trying again later may succeed; protocols answer 4xx for
    /// temporary errors and 5xx for permanent ones.
    pub fn is_temporary(&self) -> bool {
        match self {
            Error::Storage(e) => e.is_temporary(),
            Error::Cluster(e) => e.is_temporary(),
            Error::Rejected(_) | Error::Config(_) => false,
            Error::Io { .. }
            | Error::Bind { .. }
            | Error::Tls(_)
            | Error::Task(_)
            | Error::OutcomeUnknown(_) => true,
        }
    }
}

/// Result with the node [`Error`].
pub type Result<T> = std::result::Result<T, Error>;
