//! IMAP commands with literals: the [`Receiver`] gives the same frames
//! (commands, continuation requests, errors) whether the stream arrives
//! whole or in chunks, and [`parse_command`] never panics on a frame.
#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;
use node::imap::proto::{Frame, Receiver, parse_command};

fn frame(chunks: &[&[u8]]) -> Vec<Frame> {
    let mut rx = Receiver::new();
    let mut out = Vec::new();
    for chunk in chunks {
        rx.feed(chunk);
        while let Some(frame) = rx.next_frame() {
            out.push(frame);
        }
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let _ = parse_command(data);
    let (seed, stream) = common::plan(data);
    let whole = frame(&[stream]);
    let split = frame(&common::chunks(seed, stream));
    assert_eq!(whole, split, "framing depends on chunking");
    for frame in whole {
        if let Frame::Command(bytes) = frame {
            let _ = parse_command(&bytes);
        }
    }
});
