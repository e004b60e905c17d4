//! Sans-I/O IMAP: bytes in, values out, no sockets, clocks or tasks.
//!
//! [`Receiver`] frames commands with their literals, [`parse_command`]
//! turns one into a [`Command`], [`View`] keeps a session's picture of its
//! selected mailbox and computes untagged updates, [`message`] renders
//! ENVELOPE, BODYSTRUCTURE and body sections, [`binary`] undoes content
//! transfer encodings for BINARY (RFC 3516), [`search`] evaluates SEARCH,
//! [`sort`] orders and threads messages for SORT and THREAD (RFC 5256),
//! [`quota`] reads storage limits and writes QUOTA responses (RFC 9208),
//! and [`response`] encodes replies. Mailbox names cross this boundary in
//! UTF-8; [`utf7`] converts them for the wire.

pub mod binary;
pub mod command;
pub mod message;
pub mod quota;
pub mod receiver;
pub mod response;
pub mod search;
pub mod sort;
pub mod utf7;
pub mod view;

pub use command::{Command, CommandKind, ParseError, parse_command};
pub use receiver::{Frame, FrameError, Receiver};
pub use response::{Status, StatusResponse};
pub use view::{Snapshot, Stamp, Target, View};
