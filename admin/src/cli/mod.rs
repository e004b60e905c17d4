//! The CLI/PWD protocol (CommuniGate PWD module, TCP 106; reference §2.1–2.2):
//! command-line grammar in [`command`], the pure session state machine in
//! [`session`].

pub mod command;
pub mod session;
