//! Command-line framing for POP3 (RFC 1939 §3, RFC 2449 §4).
//!
//! Owns the bytes read from the client between commands. RFC 1939 §3 ends
//! lines with CRLF, but POP3 carries no message data from the client, so a
//! bare LF cannot smuggle anything: it is accepted as a line end (some old
//! clients send it), and one CR before it is stripped. Lines longer than the
//! limit are discarded up to the next LF and reported as
//! [`LineError::TooLong`]. Unconsumed bytes are kept for pipelining
//! (RFC 2449 §6.6).

/// Longest command line, CRLF included: RFC 2449 §4 caps commands at 255
/// octets.
pub const MAX_LINE_LEN: usize = 255;

/// Longest line during an AUTH exchange. The 255 octets of RFC 2449 §4
/// bound commands; SASL responses may be longer, so we allow the 12288
/// octets RFC 4954 §4 sets for SMTP.
pub const MAX_SASL_LINE_LEN: usize = 12288;

/// A line that could not be framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LineError {
    /// The line was over the limit; it was discarded up to its end.
    #[error("line too long")]
    TooLong,
}

impl LineError {
    /// Always `false`: the client sent too much.
    pub fn is_temporary(&self) -> bool {
        false
    }
}

/// Splits the client byte stream into lines.
#[derive(Debug, Clone)]
pub struct LineReceiver {
    buf: Vec<u8>,
    max_len: usize,
    scanned: usize,
    discarding: bool,
}

impl Default for LineReceiver {
    fn default() -> Self {
        Self::new()
    }
}

impl LineReceiver {
    /// An empty receiver with the [`MAX_LINE_LEN`] limit.
    pub fn new() -> Self {
        Self {
            buf: Vec::new(),
            max_len: MAX_LINE_LEN,
            scanned: 0,
            discarding: false,
        }
    }

    /// Switches the limit, e.g. to [`MAX_SASL_LINE_LEN`] during AUTH and
    /// back to [`MAX_LINE_LEN`] after it.
    pub fn set_max_len(&mut self, max_len: usize) {
        self.max_len = max_len;
    }

    /// Appends bytes read from the client.
    pub fn feed(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Takes the next line without its line end, or `None` when more bytes
    /// are needed.
    pub fn next_line(&mut self) -> Option<Result<Vec<u8>, LineError>> {
        loop {
            if self.discarding {
                let lf = self.buf.iter().position(|&b| b == b'\n');
                let Some(lf) = lf else {
                    self.buf.clear();
                    return None;
                };
                self.buf.drain(..=lf);
                self.discarding = false;
                return Some(Err(LineError::TooLong));
            }
            let window = self.buf.len().min(self.max_len);
            let start = self.scanned.min(window);
            match self.buf[start..window].iter().position(|&b| b == b'\n') {
                Some(pos) => {
                    self.scanned = 0;
                    let mut line: Vec<u8> = self.buf.drain(..=start + pos).collect();
                    line.pop();
                    line.pop_if(|b| *b == b'\r');
                    return Some(Ok(line));
                }
                None if self.buf.len() >= self.max_len => {
                    self.scanned = 0;
                    self.discarding = true;
                }
                None => {
                    self.scanned = window;
                    return None;
                }
            }
        }
    }

    /// Removes and returns the bytes not yet framed. After STLS the driver
    /// drops them: nothing sent before the handshake may be executed after
    /// it (RFC 2595 §4).
    pub fn take_rest(&mut self) -> Vec<u8> {
        self.scanned = 0;
        if std::mem::take(&mut self.discarding) {
            self.buf.clear();
        }
        std::mem::take(&mut self.buf)
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

    fn frame(input: &[u8]) -> Lines {
        let whole = run(&[input]);
        for i in 0..=input.len() {
            assert_eq!(run(&[&input[..i], &input[i..]]), whole, "split at {i}");
        }
        whole
    }

    fn ok(s: &str) -> Result<Vec<u8>, LineError> {
        Ok(s.as_bytes().to_vec())
    }

    #[test]
    fn rfc1939_commands_with_crlf_or_lf() {
        assert_eq!(
            frame(b"APOP mrose c4c9334bac560ecc979e58001b3e22fb\r\nSTAT\nLIST\r\n"),
            vec![
                ok("APOP mrose c4c9334bac560ecc979e58001b3e22fb"),
                ok("STAT"),
                ok("LIST")
            ]
        );
    }

    #[test]
    fn rfc2449_4_long_line_is_discarded() {
        let mut input = vec![b'A'; MAX_LINE_LEN + 10];
        input.extend_from_slice(b"\r\nNOOP\r\n");
        assert_eq!(frame(&input), vec![Err(LineError::TooLong), ok("NOOP")]);
        let mut input = vec![b'A'; MAX_LINE_LEN - 2];
        input.extend_from_slice(b"\r\n");
        assert!(frame(&input)[0].is_ok());
        let mut input = vec![b'A'; MAX_LINE_LEN];
        input.extend_from_slice(b"\n");
        assert_eq!(frame(&input), vec![Err(LineError::TooLong)]);
    }

    #[test]
    fn sasl_limit_and_rest() {
        let mut rx = LineReceiver::new();
        rx.set_max_len(MAX_SASL_LINE_LEN);
        let long = vec![b'A'; 1000];
        rx.feed(&long);
        rx.feed(b"\r\nQUIT\r\nST");
        assert_eq!(rx.next_line(), Some(Ok(long)));
        assert_eq!(rx.next_line(), Some(ok("QUIT")));
        assert_eq!(rx.next_line(), None);
        assert_eq!(rx.take_rest(), b"ST");
    }
}
