//! IMAP commands with literals: the [`Receiver`] gives the same frames
//! (commands, continuation requests, errors) whether the stream arrives
//! whole or in chunks, and [`parse_command`] never panics on a frame.
#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;
use node::imap::proto::{Frame, Receiver, parse_command};

fuzz_target!(|data: &[u8]| {
    let _ = parse_command(data);
    let whole = common::same_whole_or_chunked(data, |chunks| {
        common::frames(
            Receiver::new(),
            chunks,
            Receiver::feed,
            Receiver::next_frame,
        )
    });
    for frame in whole {
        if let Frame::Command(bytes) = frame {
            let _ = parse_command(&bytes);
        }
    }
});
