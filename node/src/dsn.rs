//! Delivery status notifications (RFC 3464): the bounce, the delay notice and the success
//! notice (RFC 3461 `NOTIFY=SUCCESS`) sent to a message's envelope sender.
//!
//! A notification is a `multipart/report; report-type=delivery-status` (RFC 6522) with three
//! parts: a human-readable explanation, the `message/delivery-status` fields (per message:
//! `Original-Envelope-Id` when the sender gave `ENVID`, `Reporting-MTA`, `Arrival-Date`; per
//! recipient: `Original-Recipient` when it came with `ORCPT`, `Final-Recipient`, `Action`,
//! `Status`, `Remote-MTA`, `Diagnostic-Code`), and the original: its header as
//! `text/rfc822-headers`, or the whole message as `message/rfc822` when a failure notice is
//! asked for with `RET=FULL` (RFC 3461 §4.3).
//!
//! Loop prevention is the caller's rule, restated here: a notification is never sent to the
//! null reverse-path (RFC 5321 §4.5.5, RFC 3464 §2), and it is itself sent with the null
//! reverse-path, so a notification about a notification cannot arise. `Auto-Submitted:
//! auto-replied` (RFC 3834 §5) tells responders not to answer it.

use chrono::{DateTime, Utc};

/// What happened to a recipient (RFC 3464 §2.3.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DsnAction {
    /// Delivery failed for good.
    Failed,
    /// Still trying; this is a warning.
    Delayed,
    /// Delivered to the recipient's mailbox.
    Delivered,
    /// Handed to a next hop that does not offer DSN (RFC 3464 §2.3.3): no further
    /// notification will come from there.
    Relayed,
}

impl DsnAction {
    fn as_str(self) -> &'static str {
        match self {
            DsnAction::Failed => "failed",
            DsnAction::Delayed => "delayed",
            DsnAction::Delivered => "delivered",
            DsnAction::Relayed => "relayed",
        }
    }

    fn is_success(self) -> bool {
        matches!(self, DsnAction::Delivered | DsnAction::Relayed)
    }
}

/// One recipient's entry in a notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DsnRecipient {
    /// The recipient address.
    pub address: String,
    /// Failed or delayed.
    pub action: DsnAction,
    /// The reason as the queue recorded it: a reply line (`550 5.1.1 no such user`) or an
    /// enhanced code and text (`5.1.1 unknown user account`).
    pub reason: String,
    /// The remote host that gave the reason, when one did.
    pub remote_mta: Option<String>,
    /// The `ORCPT` the recipient came with, `addr-type;address` (RFC 3461 §4.2).
    pub original: Option<String>,
}

/// Everything a notification needs.
#[derive(Debug, Clone)]
pub struct DsnInput<'a> {
    /// Host name of this MTA (`Reporting-MTA`, the `From` domain).
    pub reporting_mta: &'a str,
    /// The envelope sender being notified (never empty: see the module docs).
    pub sender: &'a str,
    /// Queue id of the original message.
    pub queue_id: &'a str,
    /// When the original message was received (ms since the epoch).
    pub arrival_ms: u64,
    /// Now (ms since the epoch).
    pub now_ms: u64,
    /// The recipients reported on; all of the same action.
    pub recipients: &'a [DsnRecipient],
    /// The original message.
    pub original: &'a [u8],
    /// `ENVID` of the original transaction (RFC 3461 §4.4).
    pub envid: Option<&'a str>,
    /// Return the whole message (`RET=FULL`, failure notices only); else its header.
    pub full: bool,
}

/// The status code of a reason: its enhanced code when it has one (RFC 3463), else derived
/// from its reply code class, else `5.0.0`/`4.0.0`/`2.0.0` by `action`.
pub fn status_of(reason: &str, action: DsnAction) -> String {
    let words: Vec<&str> = reason.split_whitespace().take(2).collect();
    for word in &words {
        let parts: Vec<&str> = word.split('.').collect();
        if parts.len() == 3
            && matches!(parts[0], "2" | "4" | "5")
            && parts[1..]
                .iter()
                .all(|p| !p.is_empty() && p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit()))
        {
            return (*word).to_string();
        }
    }
    match smtp_code(reason) {
        Some(code) => format!("{}.0.0", code / 100),
        None if action == DsnAction::Delayed => "4.0.0".into(),
        None if action.is_success() => "2.0.0".into(),
        None => "5.0.0".into(),
    }
}

/// The SMTP reply code a reason starts with, if any.
fn smtp_code(reason: &str) -> Option<u16> {
    let head = reason.get(..3)?;
    let code: u16 = head.parse().ok()?;
    let next = reason.as_bytes().get(3);
    ((200..600).contains(&code) && matches!(next, None | Some(b' '))).then_some(code)
}

/// The header of a message: everything before the first empty line.
fn header_of(message: &[u8]) -> &[u8] {
    let crlf = message
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|p| p + 2);
    let lf = message.windows(2).position(|w| w == b"\n\n").map(|p| p + 1);
    let end = match (crlf, lf) {
        (Some(a), Some(b)) => a.min(b),
        (a, b) => a.or(b).unwrap_or(message.len()),
    };
    &message[..end]
}

fn rfc2822(ms: u64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms as i64)
        .unwrap_or_default()
        .to_rfc2822()
}

/// Keeps CR/LF out of a header field value built from remote text.
fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| if c == '\r' || c == '\n' { ' ' } else { c })
        .collect()
}

/// Builds the notification message (CRLF line ends), ready to enqueue with the null
/// reverse-path to `input.sender`.
pub fn build(input: &DsnInput<'_>) -> Vec<u8> {
    let delayed = input
        .recipients
        .iter()
        .all(|r| r.action == DsnAction::Delayed);
    let success = input.recipients.iter().all(|r| r.action.is_success());
    let full = input.full && !delayed && !success;
    let mta = one_line(input.reporting_mta);
    let boundary = format!("{}.{}/{mta}", input.queue_id, input.now_ms);
    let subject = if delayed {
        "Delayed Mail (still being retried)"
    } else if success {
        "Successful Mail Delivery Report"
    } else {
        "Undelivered Mail Returned to Sender"
    };
    let mut out = String::new();
    let mut line = |s: &str| {
        out.push_str(s);
        out.push_str("\r\n");
    };
    line(&format!("From: Mail Delivery System <MAILER-DAEMON@{mta}>"));
    line(&format!("To: <{}>", one_line(input.sender)));
    line(&format!("Subject: {subject}"));
    line(&format!("Date: {}", rfc2822(input.now_ms)));
    line(&format!(
        "Message-ID: <dsn.{}.{}@{mta}>",
        input.queue_id, input.now_ms
    ));
    line("Auto-Submitted: auto-replied");
    line("MIME-Version: 1.0");
    line(&format!(
        "Content-Type: multipart/report; report-type=delivery-status;\r\n\tboundary=\"{boundary}\""
    ));
    line("");
    line("This is a MIME-encapsulated message.");
    line("");
    line(&format!("--{boundary}"));
    line("Content-Type: text/plain; charset=utf-8");
    line("Content-Description: Notification");
    line("");
    line(&format!("This is the mail system at host {mta}."));
    line("");
    if delayed {
        line("Your message could not be delivered yet to the recipients below.");
        line("It is still in the queue and will be retried; you need not send it again.");
    } else if success {
        line("Your message was delivered (or relayed) to the recipients below,");
        line("as you asked with a delivery status notification request.");
    } else {
        line("Your message could not be delivered to the recipients below.");
        line("This is a permanent error; delivery will not be retried.");
    }
    line("");
    for r in input.recipients {
        line(&format!(
            "<{}>: {}",
            one_line(&r.address),
            one_line(&r.reason)
        ));
    }
    line("");
    line(&format!("--{boundary}"));
    line("Content-Type: message/delivery-status");
    line("Content-Description: Delivery report");
    line("");
    if let Some(envid) = input.envid {
        line(&format!("Original-Envelope-Id: {}", one_line(envid)));
    }
    line(&format!("Reporting-MTA: dns; {mta}"));
    line(&format!("X-Mailnode-Queue-ID: {}", input.queue_id));
    line(&format!("Arrival-Date: {}", rfc2822(input.arrival_ms)));
    for r in input.recipients {
        line("");
        if let Some((kind, address)) = r.original.as_deref().and_then(|o| o.split_once(';')) {
            line(&format!(
                "Original-Recipient: {}; {}",
                one_line(kind),
                one_line(address)
            ));
        }
        line(&format!(
            "Final-Recipient: rfc822; {}",
            one_line(&r.address)
        ));
        line(&format!("Action: {}", r.action.as_str()));
        line(&format!("Status: {}", status_of(&r.reason, r.action)));
        if let Some(remote) = &r.remote_mta {
            line(&format!("Remote-MTA: dns; {}", one_line(remote)));
        }
        if smtp_code(&r.reason).is_some() {
            line(&format!("Diagnostic-Code: smtp; {}", one_line(&r.reason)));
        } else {
            line(&format!(
                "Diagnostic-Code: x-mailnode; {}",
                one_line(&r.reason)
            ));
        }
        if delayed {
            line(&format!("Last-Attempt-Date: {}", rfc2822(input.now_ms)));
        }
    }
    line("");
    line(&format!("--{boundary}"));
    if full {
        line("Content-Type: message/rfc822");
        line("Content-Description: Undelivered Message");
    } else {
        line("Content-Type: text/rfc822-headers");
        line("Content-Description: Message Headers");
    }
    line("");
    let mut bytes = out.into_bytes();
    let header = if full {
        input.original
    } else {
        header_of(input.original)
    };
    // Lines as CRLF, whatever the stored form; the header's blank lines are dropped.
    let mut pieces: Vec<&[u8]> = header.split(|b| *b == b'\n').collect();
    if pieces.last().is_some_and(|l| l.is_empty()) {
        pieces.pop();
    }
    for l in pieces {
        let l = l.strip_suffix(b"\r").unwrap_or(l);
        if l.is_empty() && !full {
            continue;
        }
        bytes.extend_from_slice(l);
        bytes.extend_from_slice(b"\r\n");
    }
    bytes.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input<'a>(recipients: &'a [DsnRecipient], original: &'a [u8]) -> DsnInput<'a> {
        DsnInput {
            reporting_mta: "mx.example.test",
            sender: "pm@example.test",
            queue_id: "42",
            arrival_ms: 1_700_000_000_000,
            now_ms: 1_700_000_060_000,
            recipients,
            original,
            envid: None,
            full: false,
        }
    }

    #[test]
    fn status_from_enhanced_code_reply_code_or_action() {
        assert_eq!(
            status_of("550 5.1.1 no such user", DsnAction::Failed),
            "5.1.1"
        );
        assert_eq!(
            status_of("5.1.1 unknown user account", DsnAction::Failed),
            "5.1.1"
        );
        assert_eq!(status_of("554 rejected", DsnAction::Failed), "5.0.0");
        assert_eq!(status_of("451 later", DsnAction::Delayed), "4.0.0");
        assert_eq!(status_of("gave up", DsnAction::Failed), "5.0.0");
        assert_eq!(status_of("1.2.3.4 refused", DsnAction::Failed), "5.0.0");
    }

    #[test]
    fn rfc3464_bounce_structure() {
        let rcpts = [
            DsnRecipient {
                address: "bob@remote.test".into(),
                action: DsnAction::Failed,
                reason: "550 5.1.1 <bob@remote.test>: no such user".into(),
                remote_mta: Some("127.0.0.1".into()),
                original: None,
            },
            DsnRecipient {
                address: "nobody@example.test".into(),
                action: DsnAction::Failed,
                reason: "5.1.1 unknown user account".into(),
                remote_mta: None,
                original: None,
            },
        ];
        let original = b"From: pm@example.test\r\nSubject: hi\r\n\r\nsecret body\r\n";
        let dsn = String::from_utf8(build(&input(&rcpts, original))).unwrap();
        assert!(
            !dsn.contains("\n\n") && !dsn.replace("\r\n", "").contains('\n'),
            "CRLF only"
        );
        let boundary = "42.1700000060000/mx.example.test";
        for needle in [
            "From: Mail Delivery System <MAILER-DAEMON@mx.example.test>\r\n",
            "To: <pm@example.test>\r\n",
            "Auto-Submitted: auto-replied\r\n",
            "Content-Type: multipart/report; report-type=delivery-status;\r\n\tboundary=\"42.1700000060000/mx.example.test\"\r\n",
            "Content-Type: message/delivery-status\r\n",
            "Reporting-MTA: dns; mx.example.test\r\n",
            "Arrival-Date: Tue, 14 Nov 2023 22:13:20 +0000\r\n",
            "Final-Recipient: rfc822; bob@remote.test\r\nAction: failed\r\nStatus: 5.1.1\r\nRemote-MTA: dns; 127.0.0.1\r\nDiagnostic-Code: smtp; 550 5.1.1 <bob@remote.test>: no such user\r\n",
            "Final-Recipient: rfc822; nobody@example.test\r\nAction: failed\r\nStatus: 5.1.1\r\nDiagnostic-Code: x-mailnode; 5.1.1 unknown user account\r\n",
            "Content-Type: text/rfc822-headers\r\n",
            "From: pm@example.test\r\nSubject: hi\r\n",
        ] {
            assert!(dsn.contains(needle), "lacks {needle:?}:\n{dsn}");
        }
        assert!(!dsn.contains("secret body"), "only the header is returned");
        assert_eq!(dsn.matches(&format!("--{boundary}\r\n")).count(), 3);
        assert!(dsn.ends_with(&format!("\r\n--{boundary}--\r\n")));
        let parsed = mail_parser::MessageParser::default()
            .parse(dsn.as_bytes())
            .unwrap();
        assert_eq!(parsed.parts.len(), 4, "multipart + 3 parts");
    }

    #[test]
    fn delay_notice_says_delayed() {
        let rcpts = [DsnRecipient {
            address: "bob@remote.test".into(),
            action: DsnAction::Delayed,
            reason: "451 4.4.1 cannot connect".into(),
            remote_mta: None,
            original: None,
        }];
        let dsn = String::from_utf8(build(&input(&rcpts, b"Subject: x\n\nbody\n"))).unwrap();
        assert!(dsn.contains("Subject: Delayed Mail"));
        assert!(dsn.contains("Action: delayed\r\nStatus: 4.4.1\r\n"));
        assert!(dsn.contains("Subject: x\r\n\r\n--"));
    }

    #[test]
    fn rfc3461_success_notice_with_envid_orcpt() {
        let rcpts = [DsnRecipient {
            address: "bob@remote.test".into(),
            action: DsnAction::Relayed,
            reason: "250 2.0.0 queued".into(),
            remote_mta: Some("sink.test".into()),
            original: Some("rfc822;Bob@Remote.test".into()),
        }];
        let mut inp = input(&rcpts, b"Subject: x\r\n\r\nbody\r\n");
        inp.envid = Some("QQ314159");
        inp.full = true;
        let dsn = String::from_utf8(build(&inp)).unwrap();
        for needle in [
            "Subject: Successful Mail Delivery Report\r\n",
            "Original-Envelope-Id: QQ314159\r\nReporting-MTA: dns; mx.example.test\r\n",
            "Original-Recipient: rfc822; Bob@Remote.test\r\nFinal-Recipient: rfc822; bob@remote.test\r\nAction: relayed\r\nStatus: 2.0.0\r\n",
            "Content-Type: text/rfc822-headers\r\n",
        ] {
            assert!(dsn.contains(needle), "lacks {needle:?}:\n{dsn}");
        }
        assert!(!dsn.contains("body"), "RET=FULL applies to failures only");
    }

    #[test]
    fn rfc3461_ret_full_returns_the_whole_message() {
        let rcpts = [DsnRecipient {
            address: "bob@remote.test".into(),
            action: DsnAction::Failed,
            reason: "550 5.1.1 no".into(),
            remote_mta: None,
            original: None,
        }];
        let mut inp = input(&rcpts, b"Subject: x\r\n\r\nfirst\r\n\r\nlast\r\n");
        inp.full = true;
        let dsn = String::from_utf8(build(&inp)).unwrap();
        assert!(
            dsn.contains(
                "Content-Type: message/rfc822\r\nContent-Description: Undelivered Message\r\n\r\n\
                 Subject: x\r\n\r\nfirst\r\n\r\nlast\r\n\r\n--"
            ),
            "{dsn}"
        );
        let parsed = mail_parser::MessageParser::default()
            .parse(dsn.as_bytes())
            .unwrap();
        assert_eq!(parsed.parts.len(), 4, "multipart + 3 parts");
    }
}
