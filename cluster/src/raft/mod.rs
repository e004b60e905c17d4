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

/// The compact encoding's settings. The limit bounds what a decode may
/// allocate: a damaged length prefix (a torn store, a peer of another
/// layout) then gives an error instead of an allocation that aborts.
const CODEC: bincode::config::Configuration<
    bincode::config::LittleEndian,
    bincode::config::Varint,
    bincode::config::Limit<{ 1 << 30 }>,
> = bincode::config::standard().with_limit::<{ 1 << 30 }>();

/// Encodes a value for the log, the snapshot store or the wire.
pub fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, bincode::error::EncodeError> {
    bincode::serde::encode_to_vec(value, CODEC)
}

/// Decodes what [`encode`] wrote.
pub fn decode<T: serde::de::DeserializeOwned>(
    bytes: &[u8],
) -> Result<T, bincode::error::DecodeError> {
    bincode::serde::decode_from_slice(bytes, CODEC).map(|(v, _)| v)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A length prefix of 2^40 (varint tag 253, then eight bytes) claims
    /// more than the limit: an error, not an allocation that aborts.
    #[test]
    fn a_damaged_length_prefix_is_an_error() {
        let mut bytes = vec![253];
        bytes.extend_from_slice(&(1u64 << 40).to_le_bytes());
        bytes.extend_from_slice(b"abc");
        assert!(decode::<String>(&bytes).is_err());
        assert!(decode::<Vec<String>>(&bytes).is_err());
        let roundtrip: Vec<String> = decode(&encode(&vec!["a".to_string()]).unwrap()).unwrap();
        assert_eq!(roundtrip, ["a"]);
    }
}
