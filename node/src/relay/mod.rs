//! Relaying: delivering queued mail to other SMTP servers (RFC 5321 §5, issue #5).
//!
//! - [`proto`]: the SMTP client protocol, sans-I/O (EHLO, STARTTLS, PIPELINING, SIZE,
//!   8BITMIME, per-recipient replies, dot-stuffing);
//! - [`route`]: where a domain's mail goes (router table, smarthost, MX);
//! - [`agent`]: resolution, connections, TLS; drives the protocol over a socket.
//!
//! The DEQUEUER (`crate::delivery`) decides what to send and records the outcome in Raft.

pub mod agent;
pub mod downgrade;
pub mod proto;
pub mod route;

pub use agent::{Envelope, HostOutcome, RelayAgent};
pub use route::{Destination, NextHop, domain_of, route};
