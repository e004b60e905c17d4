//! On-disk formats of Mailnode and the fsync discipline on the shared base
//! directory (DESIGN.md §3, §7).
//!
//! This crate owns the layout of the base directory ([`layout`]), crash-safe
//! writes ([`fsync`]), the queue spool ([`spool`]), mailboxes and their index
//! journals ([`mailbox`]) and account folders ([`account`]). It knows nothing
//! of networks, Raft or mail protocols, and it is plain blocking `std::fs`
//! code: async callers run it in `spawn_blocking`.
//!
//! Durability rule used everywhere: data is written to a temporary name,
//! fsynced, renamed into place, and the containing folder is fsynced before
//! the operation is reported as done.

pub mod account;
pub mod error;
pub mod faults;
pub mod flags;
pub mod fsync;
pub mod layout;
pub mod mailbox;
pub mod spool;

pub use account::{AccountKind, AccountStore};
pub use error::{Error, Result};
pub use flags::Flags;
pub use layout::BaseDir;
pub use mailbox::{Mailbox, MailboxFormat, MessageInfo, NewMessage, Uid};
pub use spool::Spool;
