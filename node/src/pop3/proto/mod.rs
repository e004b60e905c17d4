//! Sans-I/O POP3 (RFC 1939, with RFC 2449 CAPA and response codes,
//! RFC 2595 STLS and RFC 5034 AUTH): bytes in, values out, no sockets,
//! clocks or tasks.
//!
//! [`LineReceiver`] frames command lines, [`parse_command`] turns a line into
//! a [`Command`], [`Session::on_command`] turns it into an [`Action`], and
//! [`Reply::encode`] / [`encode_message`] write every response.

pub mod command;
pub mod line;
pub mod message;
pub mod reply;
pub mod session;

pub use command::{Command, CommandError, parse_command};
pub use line::{LineError, LineReceiver};
pub use message::encode_message;
pub use reply::{Reply, RespCode};
pub use session::{Action, LoginFailure, MaildropView, MessageInfo, Options, Session, apop_digest};
