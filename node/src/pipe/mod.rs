//! The PIPE module: `Submitted/*.sub` files become queued messages.

pub mod envelope;
pub mod scanner;
