//! Mailnode's replicated state.
//!
//! One Raft group (openraft) holds the directory (domains, accounts,
//! aliases), the queue (envelopes and per-recipient state, claims) and the
//! id allocator. This crate is the only one that imports openraft. Everything
//! else talks to a [`ClusterHandle`]: typed proposals that are batched into
//! Raft entries, and local reads of the applied state.
//!
//! A single node is a cluster of one: it runs the same code path as many.

pub mod accounts;
pub mod clock;
pub mod command;
pub mod directory;
mod error;
mod handle;
mod leader;
pub mod lease;
pub mod password;
mod proposer;
pub mod queue;
pub mod raft;
pub mod router;
pub mod rpc;
mod service;
pub mod state;
pub mod status;

pub use accounts::{AccountHub, MaildropLock, SessionAcceptor, SessionPin};
pub use command::{Command, CommandResult, Rejection};
pub use directory::{
    Account, AccountRef, AliasCheck, Directory, DirectoryOp, Domain, Group, IP_LISTS, Password,
    Route, ServerSettings, Settings,
};
pub use error::{Error, Result};
pub use handle::{ClusterConfig, ClusterHandle};
pub use queue::{
    Claim, DsnRet, NewEntry, Notify, QueueEntry, QueueId, RcptDsn, RcptState, Recipient,
};
pub use router::{RelaySettings, TlsPolicy};
pub use state::State;
