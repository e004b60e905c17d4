//! openraft glue: the type config, the sled-backed log store, the state
//! machine with durable snapshots, and the node-to-node network.

// openraft's storage traits fix the (large) error type of these helpers.
#![allow(clippy::result_large_err)]

// The macro names the default snapshot type `Cursor<Vec<u8>>` unqualified.
use std::io::Cursor;

use serde::{Deserialize, Serialize};

use crate::command::{Command, CommandResult};

pub mod log_store;
pub mod network;
pub mod state_machine;

/// One Raft log entry's payload: a batch of commands drained by the
/// proposer (`reference/raft-throughput.md`: one entry per message caps
/// throughput; batches carry it).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Request(pub Vec<Command>);

/// One result per command of the [`Request`], in order.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Response(pub Vec<CommandResult>);

openraft::declare_raft_types!(
    /// Mailnode's openraft type configuration.
    pub TypeConfig:
        D = Request,
        R = Response,
);

/// The Raft handle type.
pub type Raft = openraft::Raft<TypeConfig>;
/// Storage error with our node id type.
pub type StorageError = openraft::StorageError<u64>;

/// Wraps an I/O or codec failure as the storage error openraft expects.
pub fn io_err(
    subject: openraft::ErrorSubject<u64>,
    verb: openraft::ErrorVerb,
    e: impl std::error::Error + 'static,
) -> StorageError {
    openraft::StorageIOError::new(subject, verb, openraft::AnyError::new(&e)).into()
}

/// Encodes a value for the log, the snapshot store or the wire.
pub fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, bincode::error::EncodeError> {
    bincode::serde::encode_to_vec(value, bincode::config::standard())
}

/// Decodes what [`encode`] wrote.
pub fn decode<T: serde::de::DeserializeOwned>(
    bytes: &[u8],
) -> Result<T, bincode::error::DecodeError> {
    bincode::serde::decode_from_slice(bytes, bincode::config::standard()).map(|(v, _)| v)
}
