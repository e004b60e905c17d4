//! The cluster crate's error type.

use std::path::PathBuf;

/// Errors of the replicated state layer. Expected outcomes of a command
/// (an account that already exists, ...) are not errors: they come back as
/// [`crate::Rejection`] values.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The local Raft store could not be opened or written.
    #[error("raft store {path}: {reason}")]
    Store {
        /// The store's folder.
        path: PathBuf,
        /// What failed.
        reason: String,
    },
    /// This node is not the leader and cannot forward the request (yet).
    #[error("not the leader (leader: {leader:?})")]
    NotLeader {
        /// The leader's id, if known.
        leader: Option<u64>,
    },
    /// This member has not heard from a leader backed by a majority lately
    /// (it is partitioned off): nothing was proposed.
    #[error("this member is cut off from the cluster majority")]
    NoQuorum,
    /// The proposal could not be committed (no quorum, shutting down, ...).
    #[error("cannot commit: {0}")]
    Commit(String),
    /// The Raft node is shutting down or stopped.
    #[error("cluster is shut down")]
    Shutdown,
    /// A mailbox or account file operation failed.
    #[error(transparent)]
    Storage(#[from] storage::Error),
    /// Another node holds the account's lease (it has the account open).
    #[error("the account is open on cluster member {node}")]
    AccountBusy {
        /// The holder.
        node: u64,
    },
    /// This node's lease on an account lapsed before it could use it (it
    /// was paused or slow); the operation did not touch the files.
    #[error("the account lease of member {node} lapsed")]
    LeaseLapsed {
        /// This node.
        node: u64,
    },
    /// A blocking task died.
    #[error("internal task failed: {0}")]
    Task(String),
    /// Startup did not reach a usable state in time.
    #[error("cluster start: {0}")]
    Start(String),
}

impl Error {
    /// Whether retrying later may succeed (all cluster errors are
    /// availability problems, except a broken store).
    pub fn is_temporary(&self) -> bool {
        match self {
            Error::Store { .. } => false,
            Error::Storage(e) => e.is_temporary(),
            _ => true,
        }
    }
}

/// Result with the cluster [`Error`].
pub type Result<T> = std::result::Result<T, Error>;
