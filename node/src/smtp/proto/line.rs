//! Command-line framing for SMTP (RFC 5321 §2.3.8, §4.1.1, §4.5.3.1.4).
//!
//! Owns the bytes read from the client between commands. Lines end with CRLF
//! and nothing else: a bare LF ends the offending line with
//! [`LineError::BareLf`], and a CR not followed by LF inside a line gives
//! [`LineError::BareCr`] (RFC 5321 §2.3.8; accepting either is what makes
//! SMTP smuggling possible). Unconsumed bytes are kept, so several pipelined
//! commands (RFC 2920) read at once come out one by one.

/// Longest command line accepted, CRLF included. RFC 5321 §4.5.3.1.4 sets
/// 512 octets for plain commands, but RFC 4954 §4 lets SASL response lines
/// reach 12288 octets, and extensions (RFC 5321 §4.5.3.1) may
/// lengthen MAIL/RCPT; one bound for every line keeps the framer simple.
pub const MAX_LINE_LEN: usize = 12288;

/// A line that could not be framed. The bytes of the line are dropped and
/// framing resumes after its end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LineError {
    /// The line ended with LF not preceded by CR.
    #[error("bare LF in command line")]
    BareLf,
    /// The line held a CR not followed by LF.
    #[error("bare CR in command line")]
    BareCr,
    /// The line was longer than [`MAX_LINE_LEN`]; it was discarded up to
    /// the next CRLF.
    #[error("command line too long")]
    TooLong,
}

impl LineError {
    /// Always `false`: the client sent bad bytes.
    pub fn is_temporary(&self) -> bool {
        false
    }
}

/// Splits the client byte stream into CRLF-terminated lines.
#[derive(Debug, Default, Clone)]
pub struct LineReceiver {
    buf: Vec<u8>,
    /// Bytes of `buf` already searched for LF without finding one.
    scanned: usize,
    /// Discarding an overlong line until the next CRLF.
    discarding: bool,
    /// While discarding: the last byte dropped was CR.
    last_cr: bool,
}

impl LineReceiver {
    /// An empty receiver.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends bytes read from the client.
    pub fn feed(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Takes the next complete line, without its CRLF, or `None` when more
    /// bytes are needed.
    pub fn next_line(&mut self) -> Option<Result<Vec<u8>, LineError>> {
        if self.discarding {
            return self.discard();
        }
        let window = self.buf.len().min(MAX_LINE_LEN);
        let start = self.scanned.min(window);
        match self.buf[start..window].iter().position(|&b| b == b'\n') {
            Some(pos) => {
                let lf = start + pos;
                self.scanned = 0;
                let mut line: Vec<u8> = self.buf.drain(..=lf).collect();
                line.pop();
                if line.pop_if(|b| *b == b'\r').is_none() {
                    return Some(Err(LineError::BareLf));
                }
                if line.contains(&b'\r') {
                    return Some(Err(LineError::BareCr));
                }
                Some(Ok(line))
            }
            None if self.buf.len() >= MAX_LINE_LEN => {
                self.discarding = true;
                self.last_cr = false;
                self.scanned = 0;
                self.discard()
            }
            None => {
                self.scanned = window;
                None
            }
        }
    }

    /// Drops bytes up to and including the next CRLF.
    fn discard(&mut self) -> Option<Result<Vec<u8>, LineError>> {
        let mut last_cr = self.last_cr;
        let end = self.buf.iter().position(|&b| {
            let found = b == b'\n' && last_cr;
            last_cr = b == b'\r';
            found
        });
        match end {
            Some(lf) => {
                self.buf.drain(..=lf);
                self.discarding = false;
                self.last_cr = false;
                Some(Err(LineError::TooLong))
            }
            None => {
                self.buf.clear();
                self.last_cr = last_cr;
                None
            }
        }
    }

    /// Removes and returns the bytes not yet framed, e.g. the start of the
    /// message after `DATA` for the [`DataReceiver`](super::DataReceiver).
    /// After STARTTLS the driver must call this and drop the result: bytes
    /// pipelined before the TLS handshake must not be executed (RFC 3207 §5,
    /// CVE-2011-0411).
    pub fn take_rest(&mut self) -> Vec<u8> {
        self.scanned = 0;
        if std::mem::take(&mut self.discarding) {
            self.buf.clear();
        }
        std::mem::take(&mut self.buf)
    }

    /// Whether bytes are buffered that do not yet form a line.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty() && !self.discarding
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Lines = Vec<Result<Vec<u8>, LineError>>;

    fn run(chunks: &[&[u8]]) -> Lines {
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

    /// Feeds `input` whole, split at every offset, and byte by byte; all
    /// must agree.
    fn frame(input: &[u8]) -> Lines {
        let whole = run(&[input]);
        for i in 0..=input.len() {
            assert_eq!(run(&[&input[..i], &input[i..]]), whole, "split at {i}");
        }
        let bytes: Vec<&[u8]> = input.chunks(1).collect();
        assert_eq!(run(&bytes), whole, "byte by byte");
        whole
    }

    fn ok(s: &str) -> Result<Vec<u8>, LineError> {
        Ok(s.as_bytes().to_vec())
    }

    #[test]
    fn rfc5321_appendix_d_pipelined_commands() {
        let input =
            b"EHLO bar.com\r\nMAIL FROM:<Smith@bar.com>\r\nRCPT TO:<Jones@foo.com>\r\nDATA\r\n";
        assert_eq!(
            frame(input),
            vec![
                ok("EHLO bar.com"),
                ok("MAIL FROM:<Smith@bar.com>"),
                ok("RCPT TO:<Jones@foo.com>"),
                ok("DATA"),
            ]
        );
    }

    #[test]
    fn partial_line_stays_buffered() {
        let mut rx = LineReceiver::new();
        rx.feed(b"QUIT\r\nNOOP");
        assert_eq!(rx.next_line(), Some(ok("QUIT")));
        assert_eq!(rx.next_line(), None);
        assert_eq!(rx.take_rest(), b"NOOP");
        assert!(rx.is_empty());
    }

    #[test]
    fn bare_lf_and_cr_are_refused() {
        assert_eq!(
            frame(b"NOOP\nQUIT\r\n"),
            vec![Err(LineError::BareLf), ok("QUIT")]
        );
        assert_eq!(
            frame(b"NO\rOP\r\nQUIT\r\n"),
            vec![Err(LineError::BareCr), ok("QUIT")]
        );
        assert_eq!(frame(b"\r\r\n"), vec![Err(LineError::BareCr)]);
        assert_eq!(frame(b"\n\r\n"), vec![Err(LineError::BareLf), ok("")]);
    }

    #[test]
    fn overlong_line_is_discarded_to_crlf() {
        let mut input = vec![b'A'; MAX_LINE_LEN];
        // A bare LF inside the overlong line does not end the discarding.
        input.extend_from_slice(b"x\nRCPT TO:<evil@example.com>\r\nQUIT\r\n");
        assert_eq!(run(&[&input]), vec![Err(LineError::TooLong), ok("QUIT")]);
        let bytes: Vec<&[u8]> = input.chunks(7).collect();
        assert_eq!(run(&bytes), vec![Err(LineError::TooLong), ok("QUIT")]);
    }

    #[test]
    fn line_at_the_limit() {
        let mut input = vec![b'A'; MAX_LINE_LEN - 2];
        input.extend_from_slice(b"\r\n");
        assert_eq!(run(&[&input]).len(), 1);
        assert!(run(&[&input])[0].is_ok());
        let mut input = vec![b'A'; MAX_LINE_LEN - 1];
        input.extend_from_slice(b"\r\nNOOP\r\n");
        assert_eq!(run(&[&input]), vec![Err(LineError::TooLong), ok("NOOP")]);
        let halves: Vec<&[u8]> = input.chunks(MAX_LINE_LEN).collect();
        assert_eq!(run(&halves), vec![Err(LineError::TooLong), ok("NOOP")]);
    }
}
