//! Fault injection and load for Mailnode.
//!
//! Holds the benchmarks ([`bench`]), chaos scenarios ([`run`]) and the small protocol clients
//! they use ([`client`]). Rolling upgrades (`chaos upgrade`) will live beside them.

pub mod bench;
pub mod client;
pub mod run;
