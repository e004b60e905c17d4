//! The DATA phase receiver (RFC 5321 §4.1.1.4, §4.5.2).
//!
//! Owns the message bytes between the 354 reply and the end-of-data
//! indicator. It removes dot-stuffing (RFC 5321 §4.5.2) and recognises only
//! `CRLF . CRLF` as the end: a bare LF does not start a line, so neither
//! `LF.LF` nor `LF.CRLF` ends the message (SMTP smuggling, CVE-2023-51764).
//! Bare CR or LF anywhere in the message (RFC 5321 §2.3.8, RFC 5322 §2.3)
//! makes the message invalid, but is reported only once the real terminator
//! has been read, so the session answers at the right point in the stream.
//! The same holds for a message larger than the size limit (RFC 1870 §6.3):
//! the rest is read and discarded, then [`DataStatus::TooBig`] is returned.
//! Only the total size is bounded; the 1000-octet text line limit of
//! RFC 5321 §4.5.3.1.6 is not enforced, as many senders exceed it.

/// A reasonable default limit for [`DataReceiver::new`], in octets, also
/// advertised through the SIZE extension (RFC 1870).
pub const DEFAULT_MAX_MESSAGE_SIZE: u64 = 25 * 1024 * 1024;

/// Why a message was refused after its terminator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DataError {
    /// An LF not preceded by CR (answer 550/554, RFC 5321 §2.3.8).
    #[error("bare LF in message")]
    BareLf,
    /// A CR not followed by LF.
    #[error("bare CR in message")]
    BareCr,
}

impl DataError {
    /// Always `false`: the client sent a malformed message.
    pub fn is_temporary(&self) -> bool {
        false
    }
}

/// The outcome of [`DataReceiver::feed`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DataStatus {
    /// The terminator has not been seen yet.
    NeedMore,
    /// The message is complete.
    Done {
        /// The unstuffed message in CRLF wire form, without the final
        /// `.CRLF` (it ends with CRLF unless empty).
        message: Vec<u8>,
        /// Bytes after the terminator: the next pipelined command.
        rest: Vec<u8>,
    },
    /// The message exceeded the size limit (answer 552 5.3.4).
    TooBig {
        /// Bytes after the terminator.
        rest: Vec<u8>,
    },
    /// The message held bare CR or LF (answer 550/554).
    Invalid {
        /// The first fault found.
        reason: DataError,
        /// Bytes after the terminator.
        rest: Vec<u8>,
    },
}

/// Where the receiver is relative to the line structure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pos {
    /// Just after CRLF (or at the very start, right after `DATA` CRLF).
    LineStart,
    /// Inside a line.
    InLine,
    /// Read CR inside a line.
    Cr,
    /// Read `.` at the start of a line.
    Dot,
    /// Read `.` CR at the start of a line.
    DotCr,
}

/// Receives one message in the DATA phase; reusable after a final status.
#[derive(Debug, Clone)]
pub struct DataReceiver {
    max_size: u64,
    pos: Pos,
    message: Vec<u8>,
    too_big: bool,
    invalid: Option<DataError>,
}

impl DataReceiver {
    /// A receiver that refuses messages longer than `max_size` octets
    /// (counted after unstuffing, CRLF included, as RFC 1870 §3 does).
    pub fn new(max_size: u64) -> Self {
        Self {
            max_size,
            pos: Pos::LineStart,
            message: Vec::new(),
            too_big: false,
            invalid: None,
        }
    }

    /// Consumes bytes until the terminator. After a final status the
    /// receiver is reset for the next message.
    pub fn feed(&mut self, bytes: &[u8]) -> DataStatus {
        for (i, &b) in bytes.iter().enumerate() {
            if self.step(b) {
                let rest = bytes[i + 1..].to_vec();
                return self.finish(rest);
            }
        }
        DataStatus::NeedMore
    }

    /// Advances by one byte; `true` at the end of the terminator.
    fn step(&mut self, b: u8) -> bool {
        match (self.pos, b) {
            (Pos::LineStart, b'.') => self.pos = Pos::Dot,
            (Pos::Dot, b'\r') => self.pos = Pos::DotCr,
            (Pos::DotCr, b'\n') => return true,
            (Pos::DotCr, _) => {
                // `.` CR x: the dot was stuffing, the CR is bare.
                self.fault(DataError::BareCr);
                self.push(b"\r");
                self.pos = Pos::InLine;
                return self.step(b);
            }
            (Pos::Cr, b'\n') => {
                self.push(b"\r\n");
                self.pos = Pos::LineStart;
            }
            (Pos::Cr, _) => {
                self.fault(DataError::BareCr);
                self.push(b"\r");
                self.pos = Pos::InLine;
                return self.step(b);
            }
            (_, b'\r') => self.pos = Pos::Cr,
            (_, b'\n') => {
                // A bare LF does not start a line (no `LF.LF` terminator).
                self.fault(DataError::BareLf);
                self.push(b"\n");
                self.pos = Pos::InLine;
            }
            // `Dot` followed by anything else: the leading dot was stuffing.
            (_, _) => {
                self.push(&[b]);
                self.pos = Pos::InLine;
            }
        }
        false
    }

    fn fault(&mut self, err: DataError) {
        self.invalid.get_or_insert(err);
    }

    fn push(&mut self, bytes: &[u8]) {
        if self.too_big {
            return;
        }
        let len = self.message.len().saturating_add(bytes.len());
        if !u64::try_from(len).is_ok_and(|len| len <= self.max_size) {
            // Keep reading to the terminator but hold nothing more.
            self.too_big = true;
            self.message = Vec::new();
        } else {
            self.message.extend_from_slice(bytes);
        }
    }

    fn finish(&mut self, rest: Vec<u8>) -> DataStatus {
        let message = std::mem::take(&mut self.message);
        let too_big = std::mem::take(&mut self.too_big);
        let invalid = self.invalid.take();
        self.pos = Pos::LineStart;
        match (invalid, too_big) {
            (Some(reason), _) => DataStatus::Invalid { reason, rest },
            (None, true) => DataStatus::TooBig { rest },
            (None, false) => DataStatus::Done { message, rest },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds the chunks; returns every non-`NeedMore` status and the count of
    /// `NeedMore` after the last final status is not checked.
    fn run(rx: &mut DataReceiver, chunks: &[&[u8]]) -> Vec<DataStatus> {
        let mut out = Vec::new();
        for chunk in chunks {
            let mut bytes = chunk.to_vec();
            loop {
                match rx.feed(&bytes) {
                    DataStatus::NeedMore => break,
                    status => {
                        let rest = match &status {
                            DataStatus::Done { rest, .. }
                            | DataStatus::TooBig { rest }
                            | DataStatus::Invalid { rest, .. } => rest.clone(),
                            DataStatus::NeedMore => Vec::new(),
                        };
                        out.push(status);
                        if rest.is_empty() {
                            break;
                        }
                        bytes = rest;
                    }
                }
            }
        }
        out
    }

    /// Feeds `input` whole and split at every offset; results must agree
    /// once `rest` is concatenated across the split.
    fn receive(max: u64, input: &[u8]) -> DataStatus {
        let mut rx = DataReceiver::new(max);
        let whole = rx.feed(input);
        for i in 0..=input.len() {
            let mut rx = DataReceiver::new(max);
            let first = rx.feed(&input[..i]);
            let status = match first {
                DataStatus::NeedMore => rx.feed(&input[i..]),
                done => append_rest(done, &input[i..]),
            };
            assert_eq!(status, whole, "split at {i}");
        }
        whole
    }

    fn append_rest(status: DataStatus, more: &[u8]) -> DataStatus {
        match status {
            DataStatus::Done { message, mut rest } => {
                rest.extend_from_slice(more);
                DataStatus::Done { message, rest }
            }
            DataStatus::TooBig { mut rest } => {
                rest.extend_from_slice(more);
                DataStatus::TooBig { rest }
            }
            DataStatus::Invalid { reason, mut rest } => {
                rest.extend_from_slice(more);
                DataStatus::Invalid { reason, rest }
            }
            DataStatus::NeedMore => DataStatus::NeedMore,
        }
    }

    fn done(message: &str, rest: &str) -> DataStatus {
        DataStatus::Done {
            message: message.as_bytes().to_vec(),
            rest: rest.as_bytes().to_vec(),
        }
    }

    #[test]
    fn rfc5321_appendix_d1_message() {
        let input = b"Blah blah blah...\r\n...etc. etc. etc.\r\n.\r\nQUIT\r\n";
        assert_eq!(
            receive(1000, input),
            done("Blah blah blah...\r\n..etc. etc. etc.\r\n", "QUIT\r\n")
        );
    }

    #[test]
    fn rfc5321_4_5_2_dot_stuffing() {
        let cases: &[(&str, &str)] = &[
            (".\r\n", ""),
            ("..\r\n.\r\n", ".\r\n"),
            ("...\r\n.\r\n", "..\r\n"),
            ("a\r\n..b\r\n.\r\n", "a\r\n.b\r\n"),
            ("a.\r\n.\r\n", "a.\r\n"),
            ("\r\n.\r\n", "\r\n"),
            (".x\r\n.\r\n", "x\r\n"),
        ];
        for (input, message) in cases {
            assert_eq!(
                receive(1000, input.as_bytes()),
                done(message, ""),
                "{input:?}"
            );
        }
    }

    #[test]
    fn smuggling_sequences_do_not_end_the_message() {
        // LF.LF, LF.CRLF, CRLF.LF and CR.CR must not terminate; the real
        // terminator afterwards does, and the message is refused.
        let cases: &[(&[u8], DataError)] = &[
            (b"a\n.\nMAIL FROM:<x@y>\r\n.\r\n", DataError::BareLf),
            (b"a\n.\r\nMAIL FROM:<x@y>\r\n.\r\n", DataError::BareLf),
            (b"a\r\n.\nMAIL FROM:<x@y>\r\n.\r\n", DataError::BareLf),
            (b"a\r.\rMAIL FROM:<x@y>\r\n.\r\n", DataError::BareCr),
            (b"a\r\n.\r\rx\r\n.\r\n", DataError::BareCr),
            (b"a\r\r\n.\r\n", DataError::BareCr),
        ];
        for (input, reason) in cases {
            assert_eq!(
                receive(1000, input),
                DataStatus::Invalid {
                    reason: *reason,
                    rest: Vec::new()
                },
                "{:?}",
                String::from_utf8_lossy(input)
            );
        }
    }

    #[test]
    fn oversize_is_read_to_the_terminator() {
        let input = b"0123456789\r\n.\r\nQUIT\r\n";
        assert_eq!(
            receive(5, input),
            DataStatus::TooBig {
                rest: b"QUIT\r\n".to_vec()
            }
        );
        // Exactly at the limit is fine.
        assert_eq!(receive(12, input), done("0123456789\r\n", "QUIT\r\n"));
        assert_eq!(
            receive(11, input),
            DataStatus::TooBig {
                rest: b"QUIT\r\n".to_vec()
            }
        );
    }

    #[test]
    fn receiver_is_reusable_and_pipelined_rest_is_kept() {
        let mut rx = DataReceiver::new(100);
        let out = run(&mut rx, &[b"one\r\n.\r\ntwo\r\n.\r\n"]);
        assert_eq!(out[0], done("one\r\n", "two\r\n.\r\n"));
        assert_eq!(out[1], done("two\r\n", ""));
        assert_eq!(rx.feed(b"partial"), DataStatus::NeedMore);
    }
}
