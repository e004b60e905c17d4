//! SMTP command lines: the CRLF framer ([`LineReceiver`]) must give the
//! same lines whether the stream arrives whole or in chunks, and the
//! command grammar ([`parse_command`]) must answer every line with a value
//! or an error, never a panic.
#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;
use node::smtp::proto::{LineError, LineReceiver, parse_command};

fn frame(chunks: &[&[u8]]) -> Vec<Result<Vec<u8>, LineError>> {
    let mut rx = LineReceiver::new();
    let mut out = Vec::new();
    for chunk in chunks {
        rx.feed(chunk);
        while let Some(line) = rx.next_line() {
            out.push(line);
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
    for line in whole.into_iter().flatten() {
        let _ = parse_command(&line);
    }
});
