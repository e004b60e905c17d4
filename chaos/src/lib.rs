//! Fault injection and load for Mailnode.
//!
//! Holds the benchmarks ([`bench`]), chaos scenarios ([`run`]) and the small protocol clients
//! they use ([`client`]), and the fixed ports their processes listen on ([`ports`]). Rolling upgrades (`chaos upgrade`) reuse the chaos scenario with a
//! rolling-restart schedule ([`run::upgrade`]).

pub mod bench;
pub mod client;
pub mod ports;
pub mod run;
