//! Sans-I/O SMTP (RFC 5321 and the extensions of [`session`]): bytes in,
//! values out, no sockets, clocks or tasks.
//!
//! Framing is kept apart from grammar: [`LineReceiver`] frames command lines
//! and [`DataReceiver`] the message after DATA; the driver swaps them as
//! [`Session`] asks. [`parse_command`] turns a line into a [`Command`],
//! [`Session::on_command`] turns a command into an [`Action`], and
//! [`Reply::encode`] writes every answer.

pub mod command;
pub mod data;
pub mod line;
pub mod reply;
pub mod session;

pub use command::{
    Address, Body, Command, CommandError, MailParams, Notify, RcptParams, Ret, parse_command,
};
pub use data::{DataError, DataReceiver, DataStatus};
pub use line::{LineError, LineReceiver};
pub use reply::Reply;
pub use session::{Action, Capabilities, Limits, Session, Transaction};
