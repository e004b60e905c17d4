//! Command framing for IMAP (RFC 9051 §2.2, §4.3; RFC 7888 LITERAL+).
//!
//! A command is one or more CRLF-terminated lines; a line ending in a
//! literal announcement `{n}` (synchronizing) or `{n+}` (non-synchronizing)
//! is followed by exactly `n` octets, then the command continues. The
//! receiver hands out a whole command (the literal octets inline, the
//! final CRLF removed) for the grammar in [`super::command`] to parse.
//! Before the octets of a synchronizing literal it yields
//! [`Frame::Continue`], upon which the driver sends `+ Ready`.
//!
//! Invariants: bare LF is not a line end (RFC 9051 §2.2: lines end with
//! CRLF); lines over [`MAX_LINE_LEN`] and commands over
//! [`MAX_COMMAND_LEN`] are discarded up to the next line end and reported.
//! A too large synchronizing literal is refused before the client sends it;
//! a too large non-synchronizing one cannot be refused (RFC 7888 §4) and is
//! reported as fatal.

/// Longest line (outside literals), CRLF included. RFC 7162 §4 asks
/// servers to take at least 8192 octets; UID sets of big mailboxes grow
/// past that, so allow 64 KiB.
pub const MAX_LINE_LEN: usize = 64 * 1024;

/// Largest literal, and so largest APPENDed message, in octets. Matches
/// the size limits mail systems usually accept for a message.
pub const MAX_LITERAL_LEN: usize = 64 * 1024 * 1024;

/// Largest command including its literals.
pub const MAX_COMMAND_LEN: usize = MAX_LITERAL_LEN + MAX_LINE_LEN;

/// What the receiver produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// A complete command line, literals inline, final CRLF removed.
    Command(Vec<u8>),
    /// A synchronizing literal was announced: send `+ ` continuation.
    Continue,
    /// The input could not be framed; `tag` is the command's tag if known.
    Error {
        /// The tag of the refused command, when it could be read.
        tag: Option<String>,
        /// What went wrong.
        error: FrameError,
    },
}

/// A framing error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// The line was over [`MAX_LINE_LEN`].
    #[error("line too long")]
    LineTooLong,
    /// A line ended with a bare LF.
    #[error("line not terminated by CRLF")]
    BareLf,
    /// A synchronizing literal over the limit was refused.
    #[error("literal too large")]
    LiteralTooLarge,
    /// A non-synchronizing literal over the limit: the connection must end.
    #[error("non-synchronizing literal too large")]
    FatalLiteral,
}

impl FrameError {
    /// Always `false`: the client sent too much or malformed input.
    pub fn is_temporary(&self) -> bool {
        false
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Line,
    Literal(usize),
    /// Skipping to the end of an oversize line.
    Discard,
}

/// The outcome of framing one line.
enum Step {
    /// A frame for the caller.
    Frame(Frame),
    /// No complete line yet.
    NeedMore,
    /// A non-synchronizing literal follows; keep framing.
    Literal,
}

/// Splits the client byte stream into commands.
#[derive(Debug, Clone)]
pub struct Receiver {
    buf: Vec<u8>,
    cmd: Vec<u8>,
    mode: Mode,
    /// Bytes of `buf` already scanned for LF.
    scanned: usize,
}

impl Default for Receiver {
    fn default() -> Self {
        Self::new()
    }
}

impl Receiver {
    /// An empty receiver.
    pub fn new() -> Self {
        Receiver {
            buf: Vec::new(),
            cmd: Vec::new(),
            mode: Mode::Line,
            scanned: 0,
        }
    }

    /// Appends bytes read from the client.
    pub fn feed(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Whether a command is partly received (inside a literal or line).
    pub fn in_command(&self) -> bool {
        !self.cmd.is_empty() || matches!(self.mode, Mode::Literal(_))
    }

    /// The next frame, or `None` when more input is needed.
    pub fn next_frame(&mut self) -> Option<Frame> {
        loop {
            match self.mode {
                Mode::Literal(remaining) => {
                    if self.buf.is_empty() {
                        return None;
                    }
                    let n = remaining.min(self.buf.len());
                    self.cmd.extend(self.buf.drain(..n));
                    self.mode = if n == remaining {
                        Mode::Line
                    } else {
                        Mode::Literal(remaining - n)
                    };
                }
                Mode::Discard => {
                    let lf = self.buf.iter().position(|&b| b == b'\n');
                    match lf {
                        Some(lf) => {
                            self.buf.drain(..=lf);
                            self.mode = Mode::Line;
                        }
                        None => {
                            self.buf.clear();
                            return None;
                        }
                    }
                }
                Mode::Line => match self.line() {
                    Step::Frame(frame) => return Some(frame),
                    Step::NeedMore => return None,
                    Step::Literal => {}
                },
            }
        }
    }

    /// Frames one line. A non-synchronizing literal announcement is
    /// [`Step::Literal`]: the caller's loop reads the literal, so a chain of
    /// `{n+}` lines in one buffer costs no stack per line.
    fn line(&mut self) -> Step {
        let window = self.buf.len().min(MAX_LINE_LEN);
        let start = self.scanned.min(window);
        let Some(pos) = self.buf[start..window].iter().position(|&b| b == b'\n') else {
            if self.buf.len() >= MAX_LINE_LEN {
                self.scanned = 0;
                self.mode = Mode::Discard;
                return Step::Frame(self.error(FrameError::LineTooLong));
            }
            self.scanned = window;
            return Step::NeedMore;
        };
        self.scanned = 0;
        let lf = start + pos;
        let line: Vec<u8> = self.buf.drain(..=lf).collect();
        if line.len() < 2 || line[line.len() - 2] != b'\r' {
            self.cmd.extend_from_slice(&line);
            return Step::Frame(self.error(FrameError::BareLf));
        }
        let body = &line[..line.len() - 2];
        if let Some((n, sync)) = literal_announcement(body) {
            self.cmd.extend_from_slice(&line);
            if n > MAX_LITERAL_LEN || self.cmd.len() + n > MAX_COMMAND_LEN {
                let error = if sync {
                    FrameError::LiteralTooLarge
                } else {
                    FrameError::FatalLiteral
                };
                return Step::Frame(self.error(error));
            }
            self.mode = Mode::Literal(n);
            if n == 0 {
                self.mode = Mode::Line;
            }
            return if sync {
                Step::Frame(Frame::Continue)
            } else {
                Step::Literal
            };
        }
        self.cmd.extend_from_slice(body);
        if self.cmd.len() > MAX_COMMAND_LEN {
            return Step::Frame(self.error(FrameError::LineTooLong));
        }
        Step::Frame(Frame::Command(std::mem::take(&mut self.cmd)))
    }

    /// Drops the partial command and reports `error` with its tag.
    fn error(&mut self, error: FrameError) -> Frame {
        let cmd = std::mem::take(&mut self.cmd);
        let src = if cmd.is_empty() {
            &self.buf[..]
        } else {
            &cmd[..]
        };
        let tag = tag_of(src);
        Frame::Error { tag, error }
    }

    /// Removes and returns the bytes not yet framed. After STARTTLS the
    /// driver drops them (RFC 9051 §6.2.1: no plaintext may be acted upon
    /// after the handshake).
    pub fn take_rest(&mut self) -> Vec<u8> {
        self.scanned = 0;
        self.mode = Mode::Line;
        self.cmd.clear();
        std::mem::take(&mut self.buf)
    }
}

/// The tag at the start of `bytes`, if it is a valid tag.
pub fn tag_of(bytes: &[u8]) -> Option<String> {
    let end = bytes
        .iter()
        .position(|&b| b == b' ' || b == b'\r' || b == b'\n')
        .unwrap_or(bytes.len());
    let tag = &bytes[..end];
    let valid =
        !tag.is_empty() && tag.len() <= 64 && tag.iter().all(|&b| super::command::is_tag_char(b));
    valid.then(|| String::from_utf8_lossy(tag).into_owned())
}

/// `{n}` or `{n+}` at the end of a line (RFC 9051 §4.3, RFC 7888 §3).
fn literal_announcement(line: &[u8]) -> Option<(usize, bool)> {
    let inner = line.strip_suffix(b"}")?;
    let open = inner.iter().rposition(|&b| b == b'{')?;
    let mut digits = &inner[open + 1..];
    let sync = match digits.strip_suffix(b"+") {
        Some(d) => {
            digits = d;
            false
        }
        None => true,
    };
    if digits.is_empty() || digits.len() > 19 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let n: u64 = std::str::from_utf8(digits).ok()?.parse().ok()?;
    Some((usize::try_from(n).unwrap_or(usize::MAX), sync))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(chunks: &[&[u8]]) -> Vec<Frame> {
        let mut rx = Receiver::new();
        let mut out = Vec::new();
        for chunk in chunks {
            rx.feed(chunk);
            while let Some(f) = rx.next_frame() {
                out.push(f);
            }
        }
        out
    }

    /// Frames `input` whole and split at every byte; all must agree.
    fn frame(input: &[u8]) -> Vec<Frame> {
        let whole = run(&[input]);
        for i in 0..=input.len() {
            assert_eq!(run(&[&input[..i], &input[i..]]), whole, "split at {i}");
        }
        whole
    }

    fn cmd(s: &[u8]) -> Frame {
        Frame::Command(s.to_vec())
    }

    #[test]
    fn rfc9051_8_sample_lines() {
        let input = b"a001 login mrc secret\r\na002 select inbox\r\n\
a003 fetch 12 full\r\na004 fetch 12 body[header]\r\n\
a005 store 12 +flags \\deleted\r\na006 logout\r\n";
        let frames = frame(input);
        assert_eq!(frames.len(), 6);
        assert_eq!(frames[0], cmd(b"a001 login mrc secret"));
        assert_eq!(frames[4], cmd(b"a005 store 12 +flags \\deleted"));
    }

    #[test]
    fn synchronizing_literal_asks_for_continuation() {
        let input = b"A003 APPEND saved-messages (\\Seen) {11}\r\nHello\r\nWorld\r\n";
        assert_eq!(
            frame(input),
            vec![
                Frame::Continue,
                cmd(b"A003 APPEND saved-messages (\\Seen) {11}\r\nHello\r\nWorld")
            ]
        );
    }

    #[test]
    fn rfc7888_literal_plus_and_several_literals() {
        let input = b"a LOGIN {5+}\r\nalice {3}\r\npw\n\r\nb NOOP\r\n";
        assert_eq!(
            frame(input),
            vec![
                Frame::Continue,
                cmd(b"a LOGIN {5+}\r\nalice {3}\r\npw\n"),
                cmd(b"b NOOP")
            ]
        );
        assert_eq!(
            frame(b"a X {0}\r\n\r\n"),
            vec![Frame::Continue, cmd(b"a X {0}\r\n")]
        );
    }

    #[test]
    fn oversize_and_bare_lf() {
        let big = format!("t1 APPEND x {{{}}}\r\nt2 NOOP\r\n", MAX_LITERAL_LEN + 1);
        assert_eq!(
            frame(big.as_bytes()),
            vec![
                Frame::Error {
                    tag: Some("t1".into()),
                    error: FrameError::LiteralTooLarge
                },
                cmd(b"t2 NOOP")
            ]
        );
        let big = format!("t1 APPEND x {{{}+}}\r\n", MAX_LITERAL_LEN + 1);
        assert!(matches!(
            frame(big.as_bytes())[0],
            Frame::Error {
                error: FrameError::FatalLiteral,
                ..
            }
        ));
        assert_eq!(
            frame(b"t1 NOOP\nt2 NOOP\r\n"),
            vec![
                Frame::Error {
                    tag: Some("t1".into()),
                    error: FrameError::BareLf
                },
                cmd(b"t2 NOOP")
            ]
        );
        let mut long = b"t3 ".to_vec();
        long.extend(std::iter::repeat_n(b'A', MAX_LINE_LEN));
        long.extend_from_slice(b"\r\nt4 NOOP\r\n");
        let frames = run(&[&long]);
        assert_eq!(
            frames,
            vec![
                Frame::Error {
                    tag: Some("t3".into()),
                    error: FrameError::LineTooLong
                },
                cmd(b"t4 NOOP")
            ]
        );
    }

    #[test]
    fn announcement_forms() {
        assert_eq!(literal_announcement(b"x {12}"), Some((12, true)));
        assert_eq!(literal_announcement(b"x {12+}"), Some((12, false)));
        assert_eq!(
            literal_announcement(b"x {99999999999}"),
            Some((99_999_999_999, true))
        );
        for bad in [
            &b"x {}"[..],
            b"x {+}",
            b"x {1a}",
            b"x 12}",
            b"x {99999999999999999999}",
        ] {
            assert_eq!(literal_announcement(bad), None);
        }
    }

    /// Every non-synchronizing literal of a command is framed by the same
    /// call; chained empty ones must not deepen the stack per line.
    #[test]
    fn many_literal_plus_lines_in_one_buffer() {
        let mut input = b"a X".to_vec();
        for _ in 0..10_000 {
            input.extend_from_slice(b" {0+}\r\n");
        }
        input.extend_from_slice(b"\r\n");
        let handle = std::thread::Builder::new()
            .stack_size(256 * 1024)
            .spawn(move || run(&[&input]))
            .expect("spawning a test thread");
        let frames = handle.join().expect("framing overflowed the stack");
        assert!(matches!(&frames[..], [Frame::Command(c)] if c.len() == 70_003));
    }

    #[test]
    fn take_rest_drops_pipelined_input() {
        let mut rx = Receiver::new();
        rx.feed(b"a STARTTLS\r\nb LOGIN x y\r\n");
        assert_eq!(rx.next_frame(), Some(cmd(b"a STARTTLS")));
        assert_eq!(rx.take_rest(), b"b LOGIN x y\r\n");
        assert_eq!(rx.next_frame(), None);
    }
}
