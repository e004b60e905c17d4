//! POP3 (RFC 1939) service: the sans-I/O protocol in `proto`.

pub mod proto;
pub mod session;
