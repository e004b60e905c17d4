//! CLI command lines: [`parse_command`] answers every line with a command
//! or an error, never a panic.
#![no_main]

use admin::cli::command::parse_command;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(line) = std::str::from_utf8(data) {
        let _ = parse_command(line);
    }
});
