//! Test message generation: an RFC 5322 message of an exact size in octets.
//!
//! Invariants: every line ends with CRLF and is at most 78 octets including the CRLF (RFC 5322
//! §2.1.1 recommends 78), no line starts with `.` so no dot-stuffing is needed (RFC 5321
//! §4.5.2), and the total length equals the requested size whenever the size is at least the
//! length of the headers.

use std::fmt::Write as _;

/// Octets of filler per full body line, before the CRLF.
pub const BODY_LINE_LEN: usize = 76;

/// A full body line with its CRLF.
const FULL_LINE: usize = BODY_LINE_LEN + 2;

/// Characters cycled through for body filler. None of them is `.`.
const FILLER: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

/// The envelope and header sender of every benchmark message.
pub const SENDER: &str = "bench@bench.test";

/// The `Message-ID` of message `n` of run `run_id`, angle brackets included.
pub fn message_id(run_id: &str, n: u64) -> String {
    format!("<bench-{run_id}-{n}@bench.test>")
}

/// Builds message `n` of run `run_id` for `rcpt`, `size` octets long in total.
///
/// If `size` is smaller than the headers, the message is the headers and an empty body, so the
/// size is then a floor rather than exact.
pub fn message(run_id: &str, n: u64, rcpt: &str, size: usize) -> Vec<u8> {
    let headers = |pad: &str| {
        let mut h = String::with_capacity(160);
        // Writing to a String cannot fail.
        let _ = write!(
            h,
            "From: <{SENDER}>\r\nTo: <{rcpt}>\r\nSubject: bench {run_id} {n}{pad}\r\n\
             Message-ID: {}\r\n\r\n",
            message_id(run_id, n)
        );
        h
    };
    let mut head = headers("");
    // A body of one octet cannot end in CRLF; move that octet into the Subject instead.
    if size.checked_sub(head.len()) == Some(1) {
        head = headers("+");
    }
    let body_len = size.saturating_sub(head.len());
    let mut out = Vec::with_capacity(head.len() + body_len);
    out.extend_from_slice(head.as_bytes());
    for (i, len) in body_lines(body_len).into_iter().enumerate() {
        out.extend(FILLER.iter().cycle().skip(i % FILLER.len()).take(len));
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// Splits `body_len` octets (not 1) into line lengths, CRLF excluded, each at most
/// [`BODY_LINE_LEN`].
fn body_lines(body_len: usize) -> Vec<usize> {
    let mut lines = vec![BODY_LINE_LEN; body_len / FULL_LINE];
    match body_len % FULL_LINE {
        0 => {}
        // One octet left over: shorten the previous line by one so the last line is a bare CRLF.
        1 => {
            if let Some(prev) = lines.last_mut() {
                *prev -= 1;
                lines.push(0);
            }
        }
        rest => lines.push(rest - 2),
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_lines(msg: &[u8]) {
        assert!(msg.ends_with(b"\r\n"), "ends with CRLF");
        for line in msg.split_inclusive(|&b| b == b'\n') {
            assert!(line.ends_with(b"\r\n"), "line {line:?} ends with CRLF");
            assert!(line.len() <= 78, "line of {} octets", line.len());
            assert!(!line.starts_with(b"."), "line starts with a dot");
            assert!(!line[..line.len() - 2].contains(&b'\r'), "bare CR");
        }
    }

    #[test]
    fn size_is_exact_for_every_size_from_headers_up() {
        let floor = message("r1", 7, "bench8@example.test", 0).len();
        for size in floor..floor + 3 * FULL_LINE + 5 {
            let msg = message("r1", 7, "bench8@example.test", size);
            assert_eq!(msg.len(), size, "size {size}");
            check_lines(&msg);
        }
        for size in [4096, 10_000, 1 << 20] {
            let msg = message("r1", 123_456, "bench100@example.test", size);
            assert_eq!(msg.len(), size);
            check_lines(&msg);
        }
    }

    #[test]
    fn small_sizes_are_raised_to_the_headers() {
        let msg = message("r1", 1, "bench2@example.test", 10);
        assert!(msg.ends_with(b"\r\n\r\n"));
        check_lines(&msg);
    }

    #[test]
    fn headers_carry_the_unique_message_id() {
        let msg = message("abc", 42, "bench43@example.test", 4096);
        let text = String::from_utf8(msg).expect("ASCII");
        assert!(text.starts_with("From: <bench@bench.test>\r\nTo: <bench43@example.test>\r\n"));
        assert!(text.contains("\r\nMessage-ID: <bench-abc-42@bench.test>\r\n\r\n"));
    }
}
