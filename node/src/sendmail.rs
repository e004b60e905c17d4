//! `mailnode sendmail`: the local submission command.
//!
//! Like CommuniGate's sendmail, it reaches the server through the PIPE
//! module: the message is written to `Submitted/` under a temporary name,
//! fsynced, and renamed to `.sub` (reference §3.4), so no network is needed
//! and a message is never half-read by the scanner. The envelope travels
//! in headers the PIPE module understands and removes: `Return-Path:` for
//! `-f`, `Envelope-To:` for recipients named on the command line.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// What the command line asked for.
#[derive(Debug, Default)]
pub struct SendmailArgs {
    /// `-f`: the envelope sender.
    pub sender: Option<String>,
    /// `-t`: take recipients from the message's To/Cc/Bcc.
    pub recipients_from_headers: bool,
    /// `-i`/`-oi`: a line with a single dot does not end the message.
    pub ignore_dots: bool,
    /// Recipients named on the command line.
    pub recipients: Vec<String>,
}

/// Reads the message from `input` and drops it into `submitted`; returns
/// the `.sub` file's path.
///
/// # Errors
/// No recipients, an address with a line break, or I/O failures.
pub fn submit(args: &SendmailArgs, input: impl BufRead, submitted: &Path) -> Result<PathBuf> {
    if args.recipients.is_empty() && !args.recipients_from_headers {
        return Err(Error::Config(
            "no recipients given (name them, or use -t)".into(),
        ));
    }
    let unsafe_value = |s: &str| s.contains(['\r', '\n']);
    if args.sender.as_deref().is_some_and(unsafe_value)
        || args.recipients.iter().any(|r| unsafe_value(r))
    {
        return Err(Error::Config(
            "addresses must not contain line breaks".into(),
        ));
    }
    let mut file = Vec::new();
    if let Some(sender) = &args.sender {
        writeln!(file, "Return-Path: <{sender}>").map_err(|e| Error::io("stdin", e))?;
    }
    if !args.recipients_from_headers {
        for rcpt in &args.recipients {
            writeln!(file, "Envelope-To: {rcpt}").map_err(|e| Error::io("stdin", e))?;
        }
    }
    for line in input.split(b'\n') {
        let mut line = line.map_err(|e| Error::io("stdin", e))?;
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        if !args.ignore_dots && line == b"." {
            break;
        }
        file.extend_from_slice(&line);
        file.push(b'\n');
    }
    write_sub_file(submitted, &file)
}

/// Writes `bytes` durably as a new `.sub` file in `dir`.
fn write_sub_file(dir: &Path, bytes: &[u8]) -> Result<PathBuf> {
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let name = format!("m{stamp}-{}", std::process::id());
    let tmp = dir.join(format!("{name}.tmp"));
    let sub = dir.join(format!("{name}.sub"));
    let mut f = std::fs::File::create(&tmp).map_err(|e| Error::path(&tmp, e))?;
    f.write_all(bytes).map_err(|e| Error::path(&tmp, e))?;
    f.sync_all().map_err(|e| Error::path(&tmp, e))?;
    std::fs::rename(&tmp, &sub).map_err(|e| Error::path(&sub, e))?;
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::path(dir, e))?;
    Ok(sub)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_envelope_headers_and_stops_at_dot() {
        let dir = tempfile::tempdir().unwrap();
        let args = SendmailArgs {
            sender: Some("john.dite@compinia.de".into()),
            recipients: vec!["postmaster@compinia.de".into()],
            ..Default::default()
        };
        let input = b"Subject: hi\r\n\r\nhello world\r\n.\r\nnot this\r\n";
        let path = submit(&args, &input[..], dir.path()).unwrap();
        assert_eq!(path.extension().unwrap(), "sub");
        let text = std::fs::read_to_string(path).unwrap();
        assert_eq!(
            text,
            "Return-Path: <john.dite@compinia.de>\nEnvelope-To: postmaster@compinia.de\nSubject: hi\n\nhello world\n"
        );
    }

    #[test]
    fn refuses_no_recipients_and_header_injection() {
        let dir = tempfile::tempdir().unwrap();
        assert!(submit(&SendmailArgs::default(), &b"x"[..], dir.path()).is_err());
        let args = SendmailArgs {
            recipients: vec!["a@b\nBcc: evil@x".into()],
            ..Default::default()
        };
        assert!(submit(&args, &b"x"[..], dir.path()).is_err());
    }
}
