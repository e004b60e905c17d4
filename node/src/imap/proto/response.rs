//! Response encoding (RFC 9051 §7, §9): status responses with response
//! codes, and the string, flag and date forms used in data responses.
//!
//! Strings are written quoted when RFC 9051 §9 `quoted` allows it (7-bit,
//! no CR/LF/NUL, short) and as literals otherwise, so any byte sequence is
//! encodable.

use std::fmt;

use storage::Flags;

use super::command::SearchReturn;

/// Longest string written in quoted form; longer ones become literals.
const MAX_QUOTED: usize = 1024;

/// Status of a tagged or untagged response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// OK.
    Ok,
    /// NO.
    No,
    /// BAD.
    Bad,
    /// BYE.
    Bye,
    /// PREAUTH.
    Preauth,
}

impl Status {
    fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "OK",
            Status::No => "NO",
            Status::Bad => "BAD",
            Status::Bye => "BYE",
            Status::Preauth => "PREAUTH",
        }
    }
}

/// A status response: `tag` (or `*`) status [code] text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusResponse {
    /// `None` for untagged.
    pub tag: Option<String>,
    /// The status.
    pub status: Status,
    /// The response code without brackets (`TRYCREATE`, `UIDNEXT 5`).
    pub code: Option<String>,
    /// Human-readable text.
    pub text: String,
}

impl StatusResponse {
    /// A tagged response.
    pub fn tagged(tag: &str, status: Status, code: Option<&str>, text: &str) -> Self {
        StatusResponse {
            tag: Some(tag.to_owned()),
            status,
            code: code.map(str::to_owned),
            text: text.to_owned(),
        }
    }

    /// An untagged response.
    pub fn untagged(status: Status, code: Option<&str>, text: &str) -> Self {
        StatusResponse {
            tag: None,
            status,
            code: code.map(str::to_owned),
            text: text.to_owned(),
        }
    }

    /// The wire form, CRLF included.
    pub fn encode(&self) -> Vec<u8> {
        let mut s = String::new();
        s.push_str(self.tag.as_deref().unwrap_or("*"));
        s.push(' ');
        s.push_str(self.status.as_str());
        if let Some(code) = &self.code {
            s.push_str(" [");
            s.push_str(code);
            s.push(']');
        }
        s.push(' ');
        // Text is a single line: never let it break the framing.
        s.extend(
            self.text
                .chars()
                .map(|c| if c.is_control() { ' ' } else { c }),
        );
        if self.text.is_empty() {
            s.push_str("done");
        }
        s.push_str("\r\n");
        s.into_bytes()
    }
}

/// Appends `bytes` as a quoted string or literal.
pub fn string(out: &mut Vec<u8>, bytes: &[u8]) {
    let quotable = bytes.len() <= MAX_QUOTED
        && bytes
            .iter()
            .all(|&b| b != 0 && b != b'\r' && b != b'\n' && b < 0x80);
    if quotable {
        out.push(b'"');
        for &b in bytes {
            if b == b'"' || b == b'\\' {
                out.push(b'\\');
            }
            out.push(b);
        }
        out.push(b'"');
    } else {
        literal(out, bytes);
    }
}

/// Appends `bytes` as a literal.
pub fn literal(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(format!("{{{}}}\r\n", bytes.len()).as_bytes());
    out.extend_from_slice(bytes);
}

/// Appends `bytes` as a `literal8` (`~{n}`) when they hold NUL, else as
/// a literal (RFC 3516 §4.2: NUL-free data goes in a plain literal).
pub fn binary_literal(out: &mut Vec<u8>, bytes: &[u8]) {
    if bytes.contains(&0) {
        out.push(b'~');
    }
    literal(out, bytes);
}

/// Appends a string or `NIL`.
pub fn nstring(out: &mut Vec<u8>, bytes: Option<&[u8]>) {
    match bytes {
        Some(b) => string(out, b),
        None => out.extend_from_slice(b"NIL"),
    }
}

/// Appends a mailbox name: modified UTF-7, quoted.
pub fn mailbox(out: &mut Vec<u8>, name: &str) {
    string(out, super::utf7::encode(name).as_bytes());
}

/// The `* ESEARCH` response to `SEARCH RETURN (...)` (RFC 4731 §3.1):
/// `hits` ascending; MIN, MAX and ALL are left out when nothing matched;
/// `modseq` (RFC 7162 §3.1.5) is the highest mod-sequence of the matches.
pub fn esearch(
    tag: &str,
    uid: bool,
    ret: SearchReturn,
    hits: &[u32],
    modseq: Option<u64>,
) -> String {
    let mut out = b"* ESEARCH (TAG ".to_vec();
    string(&mut out, tag.as_bytes());
    out.push(b')');
    let mut line = String::from_utf8_lossy(&out).into_owned();
    if uid {
        line.push_str(" UID");
    }
    if let (Some(min), true) = (hits.first(), ret.min) {
        line.push_str(&format!(" MIN {min}"));
    }
    if let (Some(max), true) = (hits.last(), ret.max) {
        line.push_str(&format!(" MAX {max}"));
    }
    if ret.all && !hits.is_empty() {
        line.push_str(&format!(" ALL {}", number_set(hits)));
    }
    if ret.count {
        line.push_str(&format!(" COUNT {}", hits.len()));
    }
    if let Some(m) = modseq {
        line.push_str(&format!(" MODSEQ {m}"));
    }
    line.push_str("\r\n");
    line
}

/// A compact set (`1:3,7`) of ascending, distinct numbers (RFC 9051 §9
/// `sequence-set`), as in COPYUID, VANISHED and ESEARCH ALL.
pub fn number_set(ns: &[u32]) -> String {
    let mut ranges: Vec<(u32, u32)> = Vec::new();
    for &n in ns {
        match ranges.last_mut() {
            Some(r) if r.1.checked_add(1) == Some(n) => r.1 = n,
            _ => ranges.push((n, n)),
        }
    }
    range_set(&ranges)
}

/// Like [`number_set`] for inclusive ranges, ascending and disjoint.
pub fn range_set(ranges: &[(u32, u32)]) -> String {
    let parts: Vec<String> = ranges
        .iter()
        .map(|&(a, b)| {
            if a == b {
                a.to_string()
            } else {
                format!("{a}:{b}")
            }
        })
        .collect();
    parts.join(",")
}

/// `(\Seen \Flagged ... keyword ...)`, with `\Recent` when `recent`.
pub fn flag_list(flags: Flags, keywords: &[String], recent: bool) -> String {
    FlagList {
        flags,
        keywords,
        recent,
    }
    .to_string()
}

/// [`flag_list`] as a value to `write!`: a FETCH response writes it into
/// its buffer without a string per message.
pub struct FlagList<'a> {
    /// The system flags.
    pub flags: Flags,
    /// The keywords, after the system flags.
    pub keywords: &'a [String],
    /// Whether `\Recent` ends the list.
    pub recent: bool,
}

impl fmt::Display for FlagList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let system = [
            (Flags::SEEN, "\\Seen"),
            (Flags::ANSWERED, "\\Answered"),
            (Flags::FLAGGED, "\\Flagged"),
            (Flags::DELETED, "\\Deleted"),
            (Flags::DRAFT, "\\Draft"),
        ]
        .into_iter()
        .filter(|(flag, _)| self.flags.contains(*flag))
        .map(|(_, name)| name);
        let recent = self.recent.then_some("\\Recent");
        let names = system
            .chain(self.keywords.iter().map(String::as_str))
            .chain(recent);
        f.write_str("(")?;
        for (n, name) in names.enumerate() {
            if n > 0 {
                f.write_str(" ")?;
            }
            f.write_str(name)?;
        }
        f.write_str(")")
    }
}

/// Unix seconds as RFC 9051 `date-time` (`"17-Jul-1996 02:44:25 +0000"`).
pub fn date_time(unix: i64) -> String {
    DateTime(unix).to_string()
}

/// [`date_time`] as a value to `write!`.
pub struct DateTime(pub i64);

impl fmt::Display for DateTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use chrono::{Datelike, Timelike};
        const MONTHS: [&str; 12] = [
            "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
        ];
        let t = chrono::DateTime::from_timestamp(self.0, 0).unwrap_or_default();
        write!(
            f,
            "\"{:02}-{}-{:04} {:02}:{:02}:{:02} +0000\"",
            t.day(),
            MONTHS[t.month0() as usize],
            t.year(),
            t.hour(),
            t.minute(),
            t.second()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lines() {
        let r = StatusResponse::tagged("a1", Status::No, Some("TRYCREATE"), "no such mailbox");
        assert_eq!(r.encode(), b"a1 NO [TRYCREATE] no such mailbox\r\n");
        let r = StatusResponse::untagged(Status::Ok, None, "x\r\ny");
        assert_eq!(r.encode(), b"* OK x  y\r\n");
    }

    #[test]
    fn strings_quote_or_literal() {
        let mut out = Vec::new();
        string(&mut out, b"a \"q\" \\");
        assert_eq!(out, b"\"a \\\"q\\\" \\\\\"");
        let mut out = Vec::new();
        string(&mut out, b"two\r\nlines");
        assert_eq!(out, b"{10}\r\ntwo\r\nlines");
        let mut out = Vec::new();
        string(&mut out, "é".as_bytes());
        assert_eq!(out, b"{2}\r\n\xc3\xa9");
        let mut out = Vec::new();
        nstring(&mut out, None);
        assert_eq!(out, b"NIL");
    }

    #[test]
    fn flags_and_dates() {
        assert_eq!(flag_list(Flags::EMPTY, &[], false), "()");
        assert_eq!(
            flag_list(Flags::SEEN | Flags::DELETED, &["$Junk".into()], true),
            "(\\Seen \\Deleted $Junk \\Recent)"
        );
        assert_eq!(date_time(837_571_465), "\"17-Jul-1996 02:44:25 +0000\"");
        // Days and times below ten keep their zero; December is month 11.
        assert_eq!(date_time(0), "\"01-Jan-1970 00:00:00 +0000\"");
        assert_eq!(date_time(1_796_007_905), "\"30-Nov-2026 03:05:05 +0000\"");
        assert_eq!(date_time(1_798_761_599), "\"31-Dec-2026 23:59:59 +0000\"");
    }

    /// RFC 4731 §3.1 examples: MIN/MAX/COUNT/ALL, UID, and an empty result.
    #[test]
    fn rfc4731_esearch_responses() {
        let r = |min, max, all, count| SearchReturn {
            min,
            max,
            all,
            count,
            save: false,
        };
        assert_eq!(
            esearch(
                "A282",
                false,
                r(true, false, false, true),
                &[2, 10, 11],
                None
            ),
            "* ESEARCH (TAG \"A282\") MIN 2 COUNT 3\r\n"
        );
        assert_eq!(
            esearch(
                "A283",
                false,
                r(false, false, true, false),
                &[2, 10, 11],
                None
            ),
            "* ESEARCH (TAG \"A283\") ALL 2,10:11\r\n"
        );
        assert_eq!(
            esearch("A284", false, r(true, false, false, false), &[], None),
            "* ESEARCH (TAG \"A284\")\r\n"
        );
        assert_eq!(
            esearch("A285", true, r(true, true, false, false), &[7, 3800], None),
            "* ESEARCH (TAG \"A285\") UID MIN 7 MAX 3800\r\n"
        );
        assert_eq!(
            esearch("A286", false, r(false, false, false, true), &[], None),
            "* ESEARCH (TAG \"A286\") COUNT 0\r\n"
        );
        // RFC 7162 §3.1.5: MODSEQ after the results.
        assert_eq!(
            esearch(
                "a",
                true,
                r(false, false, true, false),
                &[1, 2, 3, 5],
                Some(917)
            ),
            "* ESEARCH (TAG \"a\") UID ALL 1:3,5 MODSEQ 917\r\n"
        );
        assert_eq!(number_set(&[1, 2, 3, 7, 9, 10]), "1:3,7,9:10");
    }
}
