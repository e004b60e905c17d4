//! The SMTP DATA receiver: the same statuses whether the message arrives
//! whole or in chunks, and a received message dot-stuffed again and sent
//! with its terminator is received unchanged (RFC 5321 §4.5.2).
#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;
use node::smtp::proto::{DataReceiver, DataStatus};

/// Small, so that the fuzzer reaches the size limit.
const MAX_SIZE: u64 = 1024;

/// Feeds the chunks, restarting on the rest after each final status.
fn receive(chunks: &[&[u8]]) -> Vec<DataStatus> {
    let mut rx = DataReceiver::new(MAX_SIZE);
    let mut out = Vec::new();
    for chunk in chunks {
        let mut bytes = chunk.to_vec();
        loop {
            let status = rx.feed(&bytes);
            let rest = match &status {
                DataStatus::NeedMore => break,
                DataStatus::Done { rest, .. }
                | DataStatus::TooBig { rest }
                | DataStatus::Invalid { rest, .. } => rest.clone(),
            };
            out.push(strip_rest(status));
            bytes = rest;
        }
    }
    out
}

/// The `rest` of a status depends on where the chunk ended; compare without it.
fn strip_rest(status: DataStatus) -> DataStatus {
    match status {
        DataStatus::Done { message, .. } => DataStatus::Done {
            message,
            rest: Vec::new(),
        },
        DataStatus::TooBig { .. } => DataStatus::TooBig { rest: Vec::new() },
        DataStatus::Invalid { reason, .. } => DataStatus::Invalid {
            reason,
            rest: Vec::new(),
        },
        DataStatus::NeedMore => DataStatus::NeedMore,
    }
}

/// Dot-stuffs `message` (CRLF lines) and appends the terminator.
fn stuff(message: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut line_start = true;
    for &b in message {
        if line_start && b == b'.' {
            out.push(b'.');
        }
        out.push(b);
        line_start = b == b'\n';
    }
    out.extend_from_slice(b".\r\n");
    out
}

fuzz_target!(|data: &[u8]| {
    let whole = common::same_whole_or_chunked(data, receive);
    for status in &whole {
        if let DataStatus::Done { message, .. } = status {
            let again = DataReceiver::new(MAX_SIZE).feed(&stuff(message));
            assert_eq!(
                again,
                DataStatus::Done {
                    message: message.clone(),
                    rest: Vec::new()
                },
                "re-stuffed message does not round-trip"
            );
        }
    }
});
