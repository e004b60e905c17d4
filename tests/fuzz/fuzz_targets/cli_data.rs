//! The CommuniGate data syntax: parsing never panics, and what parses
//! prints back to text that parses to the same value, both in the
//! single-line CLI form (`Display`) and the settings-file form
//! ([`to_text_pretty`]).
#![no_main]

use admin::data::{Value, parse, parse_prefix, parse_text, to_text_pretty};
use libfuzzer_sys::fuzz_target;

fn round_trips(value: &Value) {
    let line = value.to_string();
    assert!(
        !line.bytes().any(|b| b.is_ascii_control()),
        "printed value holds a control character: {line:?}"
    );
    assert_eq!(parse(&line).as_ref(), Ok(value), "line form: {line:?}");
    let text = to_text_pretty(value);
    assert_eq!(parse_text(&text).as_ref(), Ok(value), "text form: {text:?}");
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(value) = parse(text) {
        round_trips(&value);
    }
    if let Ok(value) = parse_text(text) {
        round_trips(&value);
    }
    if let Ok((value, used)) = parse_prefix(text) {
        assert!(used <= text.len());
        round_trips(&value);
    }
});
