//! Fault injection and load for Mailnode.
//!
//! Today this holds the benchmarks ([`bench`]) and the small protocol clients they use
//! ([`client`]). Chaos scenarios (`chaos run`) and rolling upgrades (`chaos upgrade`) will live
//! beside them as further subcommands.

pub mod bench;
pub mod client;
