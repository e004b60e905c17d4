//! The SMTP client protocol, sans-I/O: one mail transaction to one remote host.
//!
//! [`ClientSession`] is fed the server's bytes and answers with [`Action`]s (bytes to send,
//! "start TLS now", "close"). It never touches sockets or clocks; the relay agent drives it.
//!
//! The conversation (RFC 5321 §3, §4.1): greeting → `EHLO` (`HELO` when EHLO is not
//! recognised, §4.1.4) → `STARTTLS` when offered and wanted (RFC 3207 §4; after TLS the
//! capabilities are forgotten and EHLO is sent again, §4.2) → `MAIL FROM` with `SIZE=`
//! (RFC 1870), `BODY=8BITMIME` (RFC 6152) and `RET`/`ENVID` (RFC 3461 §4.3, §4.4: passed on
//! only when the server offers `DSN`, §5.2.1) when offered → one `RCPT TO` per recipient, with
//! its `NOTIFY`/`ORCPT` under the same rule →
//! `DATA` → the dot-stuffed message (§4.5.2) → `QUIT`. With `PIPELINING` (RFC 2920 §3.1)
//! MAIL, every RCPT and DATA go out in one write and the replies are matched in order.
//!
//! Before MAIL the message is fitted to the server's extensions: an 8-bit body goes as
//! `BODY=8BITMIME`, or converted to 7 bits where that is not offered (RFC 6152 §3, see
//! [`super::downgrade`]); UTF-8 addresses or headers need `SMTPUTF8` (RFC 6531 §3.2) and fail
//! with `5.6.7`/`5.6.9` without it. A policy may require TLS ([`StartTls::Required`]).
//!
//! Invariants:
//! - every recipient ends with exactly one reply: its own RCPT reply when that was not 2xx,
//!   else the reply to the final dot (or to MAIL/DATA/greeting when those failed);
//! - 2xx means delivered, 4xx means try again later, 5xx means failed (§4.2.1); a recipient
//!   is delivered only by a 2xx to the final dot, so a lost connection before it defers;
//! - a reply line longer than [`MAX_REPLY_LINE`] is cut, not buffered without bound.

use std::collections::VecDeque;

use cluster::{DsnRet, RcptDsn};

use super::downgrade;
use crate::smtp::proto::command::xtext_encode;
use crate::smtp::proto::reply::Reply;

#[cfg(test)]
mod tests;

/// Longest reply line kept, in octets. RFC 5321 §4.5.3.1.5 sets 512 including CRLF; servers
/// exceed it in EHLO replies and long texts, so allow more but stay bounded.
pub const MAX_REPLY_LINE: usize = 4096;
/// Most lines of one multi-line reply kept (an EHLO reply has a few dozen at most).
const MAX_REPLY_LINES: usize = 100;

/// Splits the server's byte stream into replies (RFC 5321 §4.2.1 multi-line form).
///
/// Lines may end in CRLF or, leniently, a bare LF: the client only reads replies, so bare
/// line ends carry no smuggling risk here.
#[derive(Debug, Default)]
pub struct ReplyReader {
    buf: Vec<u8>,
    lines: Vec<(u16, String)>,
}

/// A server reply that cannot be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtoError {
    /// A line does not start with a three-digit code followed by space or `-`.
    #[error("malformed reply line {0:?}")]
    Malformed(String),
    /// The lines of one multi-line reply carry different codes.
    #[error("inconsistent multi-line reply codes {0} and {1}")]
    MixedCodes(u16, u16),
    /// The server sent a reply when none was expected.
    #[error("unexpected reply {0}")]
    Unexpected(u16),
}

impl ProtoError {
    /// A broken server may do better on the next attempt: always temporary.
    pub fn is_temporary(&self) -> bool {
        true
    }
}

impl ReplyReader {
    /// Adds bytes; returns the replies completed by them.
    ///
    /// # Errors
    /// [`ProtoError`] when a line is not an SMTP reply line.
    pub fn feed(&mut self, bytes: &[u8]) -> Result<Vec<Reply>, ProtoError> {
        self.buf.extend_from_slice(bytes);
        let mut replies = Vec::new();
        while let Some(end) = self.buf.iter().position(|b| *b == b'\n') {
            let mut line: Vec<u8> = self.buf.drain(..=end).collect();
            line.pop();
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            line.truncate(MAX_REPLY_LINE);
            if let Some(reply) = self.line(&String::from_utf8_lossy(&line))? {
                replies.push(reply);
            }
        }
        if self.buf.len() > MAX_REPLY_LINE {
            // An endless line: keep its start only; the rest is dropped up to the LF.
            self.buf.truncate(MAX_REPLY_LINE);
        }
        Ok(replies)
    }

    fn line(&mut self, line: &str) -> Result<Option<Reply>, ProtoError> {
        let bytes = line.as_bytes();
        let code = match bytes.get(..3) {
            Some(d) if d.iter().all(u8::is_ascii_digit) => line[..3]
                .parse::<u16>()
                .map_err(|_| ProtoError::Malformed(line.into()))?,
            _ => return Err(ProtoError::Malformed(line.into())),
        };
        let last = match bytes.get(3) {
            None | Some(b' ') => true,
            Some(b'-') => false,
            Some(_) => return Err(ProtoError::Malformed(line.into())),
        };
        if let Some((first, _)) = self.lines.first()
            && *first != code
        {
            let first = *first;
            self.lines.clear();
            return Err(ProtoError::MixedCodes(first, code));
        }
        if self.lines.len() < MAX_REPLY_LINES {
            self.lines
                .push((code, line.get(4..).unwrap_or("").to_string()));
        }
        if !last {
            return Ok(None);
        }
        let lines = std::mem::take(&mut self.lines);
        Ok(Some(parse_reply(code, lines.into_iter().map(|(_, t)| t))))
    }
}

/// Builds a [`Reply`], taking the enhanced code (RFC 2034 §4) from the first line's text.
fn parse_reply(code: u16, lines: impl Iterator<Item = String>) -> Reply {
    let mut enhanced = None;
    let texts: Vec<String> = lines
        .map(|text| {
            let (head, rest) = text.split_once(' ').unwrap_or((&text, ""));
            match parse_enhanced(head, code) {
                Some(e) => {
                    enhanced = enhanced.or(Some(e));
                    rest.to_string()
                }
                None => text.clone(),
            }
        })
        .collect();
    Reply {
        code,
        enhanced,
        text: texts.join("\n"),
    }
}

/// `x.y.z` whose class matches the reply code's first digit.
fn parse_enhanced(s: &str, code: u16) -> Option<(u8, u16, u16)> {
    let mut parts = s.split('.');
    let class: u8 = parts.next()?.parse().ok()?;
    let subject: u16 = parts.next()?.parse().ok()?;
    let detail: u16 = parts.next()?.parse().ok()?;
    (parts.next().is_none() && u16::from(class) == code / 100).then_some((class, subject, detail))
}

/// One reply as one line of text: `550 5.1.1 no such user` (multi-line text joined by spaces).
pub fn reply_line(reply: &Reply) -> String {
    let mut out = format!("{}", reply.code);
    if let Some((c, s, d)) = reply.enhanced {
        out.push_str(&format!(" {c}.{s}.{d}"));
    }
    let text = reply.text.replace('\n', " ");
    if !text.is_empty() {
        out.push(' ');
        out.push_str(&text);
    }
    out
}

/// The extensions the server announced in its EHLO reply (RFC 5321 §4.1.1.1).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Capabilities {
    /// `STARTTLS` (RFC 3207).
    pub starttls: bool,
    /// `PIPELINING` (RFC 2920).
    pub pipelining: bool,
    /// `8BITMIME` (RFC 6152).
    pub eight_bit_mime: bool,
    /// `SMTPUTF8` (RFC 6531).
    pub smtputf8: bool,
    /// `SIZE` (RFC 1870): `Some(0)` means no fixed limit; `None` not announced.
    pub size: Option<u64>,
    /// `DSN` (RFC 3461).
    pub dsn: bool,
}

impl Capabilities {
    /// Reads the keywords from an EHLO reply (its first line is the greeting).
    pub fn from_ehlo(reply: &Reply) -> Capabilities {
        let mut caps = Capabilities::default();
        for line in reply.text.split('\n').skip(1) {
            let mut words = line.split_ascii_whitespace();
            let Some(keyword) = words.next() else {
                continue;
            };
            match keyword.to_ascii_uppercase().as_str() {
                "STARTTLS" => caps.starttls = true,
                "PIPELINING" => caps.pipelining = true,
                "8BITMIME" => caps.eight_bit_mime = true,
                "SMTPUTF8" => caps.smtputf8 = true,
                "DSN" => caps.dsn = true,
                "SIZE" => caps.size = Some(words.next().and_then(|n| n.parse().ok()).unwrap_or(0)),
                _ => {}
            }
        }
        caps
    }
}

/// The envelope and message of one transaction.
#[derive(Debug, Clone)]
pub struct Transaction {
    /// Name sent with EHLO/HELO.
    pub helo_name: String,
    /// Reverse-path; empty for `<>`.
    pub return_path: String,
    /// Forward-paths, all for this host.
    pub recipients: Vec<String>,
    /// The message in wire form (CRLF line ends), not yet dot-stuffed.
    pub message: Vec<u8>,
    /// When to send STARTTLS.
    pub starttls: StartTls,
    /// `RET` of the original MAIL (RFC 3461 §4.3).
    pub ret: Option<DsnRet>,
    /// `ENVID` of the original MAIL, decoded (RFC 3461 §4.4).
    pub envid: Option<String>,
    /// DSN parameters by recipient index (missing: none given).
    pub rcpt_dsn: Vec<RcptDsn>,
}

/// When the client asks for TLS (RFC 3207).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum StartTls {
    /// Never: clear text only.
    Never,
    /// When the server offers it; a refusal leaves the session in clear (RFC 7435).
    #[default]
    Opportunistic,
    /// Always: a server that does not offer or refuses it gets no mail (`4.7.4`), and the
    /// driver verifies its certificate.
    Required,
}

/// What the driver must do next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Write these bytes.
    Send(Vec<u8>),
    /// Start the TLS handshake now, then call [`ClientSession::tls_started`].
    StartTls,
    /// The conversation is over: close the connection.
    Close,
}

/// A command whose reply is awaited, in the order the replies come.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Awaiting {
    Greeting,
    Ehlo,
    Helo,
    StartTls,
    Mail,
    Rcpt(usize),
    Data,
    Dot,
    Quit,
}

/// The client side of one SMTP connection carrying one transaction.
#[derive(Debug)]
pub struct ClientSession {
    tx: Transaction,
    reader: ReplyReader,
    caps: Capabilities,
    tls: bool,
    awaiting: VecDeque<Awaiting>,
    /// Set when MAIL failed: every later reply of the pipeline is only consumed.
    mail_failed: bool,
    /// Indices of recipients whose RCPT got a 2xx.
    accepted: Vec<usize>,
    /// Without pipelining: the next recipient to send RCPT for.
    next_rcpt: usize,
    results: Vec<Option<Reply>>,
    done: bool,
    /// The message was converted to 7 bits for this host.
    converted: bool,
}

/// The MAIL parameters the message needs at this host.
#[derive(Debug, Clone, Copy)]
struct MailParams {
    /// `BODY=8BITMIME` (RFC 6152 §2).
    body_8bit: bool,
    /// `SMTPUTF8` (RFC 6531 §3.4).
    smtputf8: bool,
}

impl ClientSession {
    /// A session that waits for the greeting.
    pub fn new(tx: Transaction) -> ClientSession {
        let n = tx.recipients.len();
        ClientSession {
            tx,
            reader: ReplyReader::default(),
            caps: Capabilities::default(),
            tls: false,
            awaiting: VecDeque::from([Awaiting::Greeting]),
            mail_failed: false,
            accepted: Vec::new(),
            next_rcpt: 0,
            results: vec![None; n],
            done: false,
            converted: false,
        }
    }

    /// Whether the conversation has ended (QUIT answered or the session gave up).
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// Whether TLS is active.
    pub fn is_tls(&self) -> bool {
        self.tls
    }

    /// Whether the message was converted to 7 bits because the host lacks `8BITMIME`.
    pub fn converted_to_7bit(&self) -> bool {
        self.converted
    }

    /// The extensions of the last EHLO reply.
    pub fn capabilities(&self) -> &Capabilities {
        &self.caps
    }

    /// Feeds the server's bytes.
    ///
    /// # Errors
    /// [`ProtoError`] when the server's bytes are not SMTP replies; the driver then closes the
    /// connection and [`ClientSession::finish`] defers whoever has no result yet.
    pub fn feed(&mut self, bytes: &[u8]) -> Result<Vec<Action>, ProtoError> {
        let mut actions = Vec::new();
        for reply in self.reader.feed(bytes)? {
            actions.extend(self.on_reply(reply)?);
        }
        Ok(actions)
    }

    /// The TLS handshake succeeded: forget what was said in clear (RFC 3207 §4.2) and EHLO
    /// again.
    pub fn tls_started(&mut self) -> Vec<Action> {
        self.tls = true;
        self.caps = Capabilities::default();
        self.reader = ReplyReader::default();
        self.awaiting = VecDeque::from([Awaiting::Ehlo]);
        vec![self.command(&format!("EHLO {}", self.tx.helo_name))]
    }

    /// The per-recipient replies, in recipient order; a recipient without one (connection
    /// lost, session cut short) gets `fallback`.
    pub fn finish(self, fallback: &Reply) -> Vec<Reply> {
        self.results
            .into_iter()
            .map(|r| r.unwrap_or_else(|| fallback.clone()))
            .collect()
    }

    fn command(&self, line: &str) -> Action {
        Action::Send(format!("{line}\r\n").into_bytes())
    }

    /// Gives `reply` to every recipient that has no result yet.
    fn settle_all(&mut self, reply: &Reply) {
        for r in self.results.iter_mut().filter(|r| r.is_none()) {
            *r = Some(reply.clone());
        }
    }

    fn quit(&mut self) -> Vec<Action> {
        self.awaiting = VecDeque::from([Awaiting::Quit]);
        vec![self.command("QUIT")]
    }

    /// The failure of a step before the envelope: every recipient gets the reply.
    fn give_up(&mut self, reply: &Reply) -> Vec<Action> {
        self.settle_all(reply);
        self.quit()
    }

    fn on_reply(&mut self, reply: Reply) -> Result<Vec<Action>, ProtoError> {
        let Some(awaiting) = self.awaiting.pop_front() else {
            return Err(ProtoError::Unexpected(reply.code));
        };
        let class = reply.code / 100;
        Ok(match awaiting {
            Awaiting::Greeting if class == 2 => {
                self.awaiting.push_back(Awaiting::Ehlo);
                vec![self.command(&format!("EHLO {}", self.tx.helo_name))]
            }
            Awaiting::Ehlo if class == 2 => {
                self.caps = Capabilities::from_ehlo(&reply);
                if self.caps.starttls && self.tx.starttls != StartTls::Never && !self.tls {
                    self.awaiting.push_back(Awaiting::StartTls);
                    vec![self.command("STARTTLS")]
                } else {
                    self.envelope()
                }
            }
            // RFC 5321 §4.1.4: a server that does not know EHLO answers 500/502; try HELO.
            Awaiting::Ehlo if class == 5 && !self.tls => {
                self.awaiting.push_back(Awaiting::Helo);
                vec![self.command(&format!("HELO {}", self.tx.helo_name))]
            }
            Awaiting::Helo if class == 2 => {
                self.caps = Capabilities::default();
                self.envelope()
            }
            Awaiting::StartTls if reply.code == 220 => vec![Action::StartTls],
            Awaiting::StartTls if self.tx.starttls == StartTls::Required => {
                let reply = Reply::new(
                    451,
                    "4.7.4",
                    format!(
                        "TLS required by policy but STARTTLS refused: {}",
                        reply_line(&reply)
                    ),
                );
                self.give_up(&reply)
            }
            // Opportunistic: a refused STARTTLS leaves a usable clear-text session.
            Awaiting::StartTls => self.envelope(),
            Awaiting::Greeting | Awaiting::Ehlo | Awaiting::Helo => self.give_up(&reply),
            Awaiting::Mail => {
                if class != 2 {
                    self.mail_failed = true;
                    self.settle_all(&reply);
                }
                self.after_envelope_reply()
            }
            Awaiting::Rcpt(i) => {
                if !self.mail_failed {
                    if class == 2 {
                        self.accepted.push(i);
                    } else if let Some(slot) = self.results.get_mut(i) {
                        *slot = Some(reply);
                    }
                }
                self.after_envelope_reply()
            }
            Awaiting::Data => self.on_data_reply(reply),
            Awaiting::Dot => {
                // The reply to the dot is every accepted recipient's result (RFC 5321 §4.1.1.4).
                self.settle_all(&reply);
                self.quit()
            }
            Awaiting::Quit => {
                self.done = true;
                vec![Action::Close]
            }
        })
    }

    /// Sends MAIL, the RCPTs and DATA: all at once with PIPELINING, else MAIL alone.
    fn envelope(&mut self) -> Vec<Action> {
        if self.tx.starttls == StartTls::Required && !self.tls {
            // RFC 3207 §4: a client that requires TLS must not go on without it.
            let reply = Reply::new(
                451,
                "4.7.4",
                "TLS required by policy but not offered by the remote host",
            );
            return self.give_up(&reply);
        }
        let params = match self.fit_message() {
            Ok(params) => params,
            Err(reply) => return self.give_up(&reply),
        };
        let size = self.tx.message.len() as u64;
        if let Some(limit) = self.caps.size
            && limit > 0
            && size > limit
        {
            // RFC 1870 §6: do not send what the server already said it refuses.
            let reply = Reply::new(
                552,
                "5.3.4",
                format!("message size {size} exceeds the remote limit {limit}"),
            );
            return self.give_up(&reply);
        }
        let mut mail = format!("MAIL FROM:<{}>", self.tx.return_path);
        if self.caps.size.is_some() {
            mail.push_str(&format!(" SIZE={size}"));
        }
        if params.body_8bit {
            mail.push_str(" BODY=8BITMIME");
        }
        if params.smtputf8 {
            mail.push_str(" SMTPUTF8");
        }
        if self.caps.dsn {
            match self.tx.ret {
                Some(DsnRet::Full) => mail.push_str(" RET=FULL"),
                Some(DsnRet::Hdrs) => mail.push_str(" RET=HDRS"),
                None => {}
            }
            if let Some(envid) = &self.tx.envid {
                mail.push_str(&format!(" ENVID={}", xtext_encode(envid)));
            }
        }
        self.awaiting.push_back(Awaiting::Mail);
        if !self.caps.pipelining {
            return vec![self.command(&mail)];
        }
        let mut batch = format!("{mail}\r\n");
        for i in 0..self.tx.recipients.len() {
            batch.push_str(&self.rcpt_line(i));
            batch.push_str("\r\n");
            self.awaiting.push_back(Awaiting::Rcpt(i));
        }
        batch.push_str("DATA\r\n");
        self.awaiting.push_back(Awaiting::Data);
        vec![Action::Send(batch.into_bytes())]
    }

    /// `RCPT TO:<rcpt>` for recipient `i`, with its NOTIFY and ORCPT when the server offers
    /// DSN (RFC 3461 §4.1, §4.2).
    fn rcpt_line(&self, i: usize) -> String {
        let mut line = format!("RCPT TO:<{}>", self.tx.recipients[i]);
        let dsn = self.tx.rcpt_dsn.get(i);
        if let (true, Some(dsn)) = (self.caps.dsn, dsn) {
            if let Some(n) = dsn.notify {
                let words: Vec<&str> = [
                    (n.success, "SUCCESS"),
                    (n.failure, "FAILURE"),
                    (n.delay, "DELAY"),
                ]
                .into_iter()
                .filter_map(|(on, w)| on.then_some(w))
                .collect();
                let value = if words.is_empty() {
                    "NEVER".to_string()
                } else {
                    words.join(",")
                };
                line.push_str(&format!(" NOTIFY={value}"));
            }
            if let Some((kind, address)) = dsn.orcpt.as_deref().and_then(|o| o.split_once(';')) {
                line.push_str(&format!(" ORCPT={kind};{}", xtext_encode(address)));
            }
        }
        line
    }

    fn envelope_is_ascii(&self) -> bool {
        self.tx.return_path.is_ascii() && self.tx.recipients.iter().all(|r| r.is_ascii())
    }

    /// Fits the message to what the server offers: the MAIL parameters it needs, after a
    /// conversion to 7 bits when the server lacks `8BITMIME` (RFC 6152 §3); or the reply that
    /// fails every recipient when it cannot be sent there.
    ///
    /// - a UTF-8 address needs `SMTPUTF8` (RFC 6531 §3.2): else `553 5.6.7`;
    /// - UTF-8 headers (RFC 6532) need it too: else `554 5.6.9` (RFC 6531 §3.6.2 has no
    ///   downgrade for them);
    /// - an 8-bit body without `8BITMIME` is converted ([`downgrade::to_7bit`]), or fails
    ///   with `554 5.6.3` when it cannot be.
    fn fit_message(&mut self) -> Result<MailParams, Reply> {
        let utf8_envelope = !self.envelope_is_ascii();
        if utf8_envelope && !self.caps.smtputf8 {
            return Err(Reply::new(
                553,
                "5.6.7",
                "non-ASCII address: the remote host does not offer SMTPUTF8",
            ));
        }
        let plain = MailParams {
            body_8bit: false,
            smtputf8: utf8_envelope,
        };
        if !downgrade::is_8bit(&self.tx.message) {
            return Ok(plain);
        }
        let utf8_headers = downgrade::has_8bit_headers(&self.tx.message);
        if utf8_headers && !self.caps.smtputf8 {
            return Err(Reply::new(
                554,
                "5.6.9",
                "UTF-8 header fields: the remote host does not offer SMTPUTF8",
            ));
        }
        if !self.caps.eight_bit_mime {
            self.tx.message = downgrade::to_7bit(&self.tx.message)?;
            self.converted = true;
            return Ok(plain);
        }
        Ok(MailParams {
            body_8bit: true,
            smtputf8: utf8_envelope || utf8_headers,
        })
    }

    /// After a MAIL or RCPT reply: without pipelining, send the next command.
    fn after_envelope_reply(&mut self) -> Vec<Action> {
        if self.caps.pipelining {
            return Vec::new();
        }
        if self.mail_failed {
            return self.quit();
        }
        if self.next_rcpt < self.tx.recipients.len() {
            let line = self.rcpt_line(self.next_rcpt);
            self.awaiting.push_back(Awaiting::Rcpt(self.next_rcpt));
            self.next_rcpt += 1;
            vec![self.command(&line)]
        } else if self.accepted.is_empty() {
            self.quit()
        } else {
            self.awaiting.push_back(Awaiting::Data);
            vec![self.command("DATA")]
        }
    }

    fn on_data_reply(&mut self, reply: Reply) -> Vec<Action> {
        if reply.code == 354 {
            if self.accepted.is_empty() || self.mail_failed {
                // RFC 2920 §3.1: DATA was accepted although no recipient was; an empty
                // message must be sent. Every recipient already has its RCPT/MAIL result.
                self.awaiting.push_back(Awaiting::Dot);
                return vec![Action::Send(b".\r\n".to_vec())];
            }
            self.awaiting.push_back(Awaiting::Dot);
            return vec![Action::Send(dot_stuff(&self.tx.message))];
        }
        if !self.mail_failed {
            // Accepted recipients get the DATA failure; refused ones keep their RCPT reply.
            self.settle_all(&reply);
        }
        self.quit()
    }
}

/// The message as sent after DATA: CRLF line ends (a bare LF becomes CRLF, RFC 5321 §2.3.8),
/// a leading dot doubled (§4.5.2), and the terminating `.` line.
pub fn dot_stuff(message: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(message.len() + message.len() / 64 + 5);
    let mut at_line_start = true;
    let mut prev = 0u8;
    for &b in message {
        if at_line_start && b == b'.' {
            out.push(b'.');
        }
        if b == b'\n' && prev != b'\r' {
            out.push(b'\r');
        }
        out.push(b);
        at_line_start = b == b'\n';
        prev = b;
    }
    if !out.is_empty() && !out.ends_with(b"\r\n") {
        if out.ends_with(b"\r") {
            out.push(b'\n');
        } else {
            out.extend_from_slice(b"\r\n");
        }
    }
    out.extend_from_slice(b".\r\n");
    out
}
