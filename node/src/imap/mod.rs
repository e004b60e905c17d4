//! The IMAP service (RFC 9051 IMAP4rev2 and RFC 3501 IMAP4rev1, ports 143
//! with STARTTLS and 993 with implicit TLS): a sans-I/O protocol core in
//! [`proto`] and the connection driver in [`session`].

pub mod proto;
pub mod session;
