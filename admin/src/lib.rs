//! Mailnode administration: the CLI/PWD protocol (port 106), the
//! CommuniGate data syntax it speaks, and the `AdminApi` every
//! administration front end calls.

pub mod about;
pub mod api;
pub mod cli;
pub mod control;
pub mod data;
pub mod error;
pub mod names;
mod objects;
mod relay;
pub mod rights;
mod verified;
pub mod views;
pub mod web;

pub use api::AdminApi;
pub use control::{NodeControl, RelayRoute};
