//! POP3 command lines: the line framer gives the same lines whether the
//! stream arrives whole or in chunks, and [`parse_command`] never panics.
#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;
use node::pop3::proto::{LineReceiver, parse_command};

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
