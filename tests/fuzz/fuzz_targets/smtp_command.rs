//! SMTP command lines: the CRLF framer ([`LineReceiver`]) must give the
//! same lines whether the stream arrives whole or in chunks, and the
//! command grammar ([`parse_command`]) must answer every line with a value
//! or an error, never a panic.
#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;
use node::smtp::proto::{LineReceiver, parse_command};

fuzz_target!(|data: &[u8]| {
    let _ = parse_command(data);
    let whole = common::same_whole_or_chunked(data, |chunks| {
        common::frames(
            LineReceiver::new(),
            chunks,
            LineReceiver::feed,
            LineReceiver::next_line,
        )
    });
    for line in whole.into_iter().flatten() {
        let _ = parse_command(&line);
    }
});
