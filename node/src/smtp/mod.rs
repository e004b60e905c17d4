//! SMTP (RFC 5321) service: the sans-I/O protocol in `proto`.

pub mod proto;
pub mod rate;
pub mod session;
