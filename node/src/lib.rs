//! The `mailnode` server: configuration, listeners, protocol sessions (SMTP,
//! POP3, the CLI driver), the enqueuer, delivery, the PIPE module
//! (`Submitted/`), `sendmail`, the CommuniGate-style system log and TLS.
//!
//! Protocol parsers live in `*/proto/` and never touch sockets or clocks; the
//! sessions drive them over any `AsyncRead + AsyncWrite`.

pub mod bootstrap;
pub mod cli;
pub mod cluster_cli;
pub mod config;
pub mod delivery;
pub mod dsn;
pub mod enqueuer;
pub mod error;
pub mod faults;
pub mod handoff;
pub mod imap;
pub mod mailauth;
pub mod metrics;
pub mod net;
pub mod pipe;
pub mod pop3;
pub mod relay;
pub mod sasl;
pub mod sendmail;
pub mod server;
pub mod sessions;
pub mod smtp;
pub mod syslog;
pub mod tls;
