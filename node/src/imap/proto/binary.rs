//! Content transfer encodings for BINARY (RFC 3516): undoing them for
//! FETCH BINARY and BINARY.SIZE (§4.1), and base64 for the parts of an
//! APPENDed `literal8` message that cannot be stored as they are (§4.3).
//!
//! Decoding is lenient, as mail readers are: base64 ignores characters
//! outside its alphabet and a dangling last character; quoted-printable
//! keeps malformed `=` sequences as they are (RFC 2045 §6.7 note 1).

use base64::Engine as _;

/// A content transfer encoding this server can undo.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cte {
    /// 7bit, 8bit or binary: the data is the content.
    Identity,
    /// base64 (RFC 2045 §6.8).
    Base64,
    /// quoted-printable (RFC 2045 §6.7).
    QuotedPrintable,
}

impl Cte {
    /// The encoding named by a Content-Transfer-Encoding value (`None`:
    /// no header, which means 7bit); `None` when it is unknown, which
    /// FETCH BINARY reports as `[UNKNOWN-CTE]` (RFC 3516 §4.2).
    pub fn from_header(value: Option<&str>) -> Option<Cte> {
        let Some(v) = value else {
            return Some(Cte::Identity);
        };
        match v.trim().to_ascii_lowercase().as_str() {
            "" | "7bit" | "8bit" | "binary" => Some(Cte::Identity),
            "base64" => Some(Cte::Base64),
            "quoted-printable" => Some(Cte::QuotedPrintable),
            _ => None,
        }
    }

    /// `data` decoded.
    pub fn decode(self, data: &[u8]) -> Vec<u8> {
        match self {
            Cte::Identity => data.to_vec(),
            Cte::Base64 => base64_decode(data),
            Cte::QuotedPrintable => qp_decode(data),
        }
    }
}

/// The value of a base64 digit.
fn b64_value(b: u8) -> Option<u8> {
    Some(match b {
        b'A'..=b'Z' => b - b'A',
        b'a'..=b'z' => b - b'a' + 26,
        b'0'..=b'9' => b - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => return None,
    })
}

/// Base64 (RFC 2045 §6.8): characters outside the alphabet (line ends,
/// padding, stray spaces) are skipped.
pub fn base64_decode(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() / 4 * 3);
    let mut acc = 0u32;
    let mut n = 0;
    for v in data.iter().filter_map(|&b| b64_value(b)) {
        acc = (acc << 6) | u32::from(v);
        n += 1;
        if n == 4 {
            out.extend_from_slice(&acc.to_be_bytes()[1..]);
            acc = 0;
            n = 0;
        }
    }
    // 2 or 3 digits left carry 1 or 2 octets; 1 carries none.
    match n {
        2 => out.push((acc >> 4) as u8),
        3 => out.extend_from_slice(&((acc >> 2) as u16).to_be_bytes()),
        _ => {}
    }
    out
}

/// Quoted-printable (RFC 2045 §6.7): trailing white space of a line is
/// dropped (rule 3), a line ending in `=` continues on the next (rule
/// 5), `=XX` is an octet; hard line breaks come out as CRLF.
pub fn qp_decode(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len());
    let mut lines = data.split(|&b| b == b'\n').peekable();
    while let Some(line) = lines.next() {
        let last = lines.peek().is_none();
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let line = line.trim_ascii_end();
        let (line, soft) = match line.strip_suffix(b"=") {
            Some(l) => (l, true),
            None => (line, false),
        };
        let mut i = 0;
        while i < line.len() {
            let hex = |b: Option<&u8>| b.and_then(|b| (*b as char).to_digit(16));
            if line[i] == b'='
                && let (Some(h), Some(l)) = (hex(line.get(i + 1)), hex(line.get(i + 2)))
            {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
            out.push(line[i]);
            i += 1;
        }
        if !soft && !last {
            out.extend_from_slice(b"\r\n");
        }
    }
    out
}

/// Base64 in lines of 76 characters (RFC 2045 §6.8) joined by CRLF,
/// without a final line end.
pub fn base64_lines(data: &[u8]) -> Vec<u8> {
    let text = base64::engine::general_purpose::STANDARD.encode(data);
    let lines: Vec<&[u8]> = text.as_bytes().chunks(76).collect();
    lines.join(&b"\r\n"[..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cte_names() {
        assert_eq!(Cte::from_header(None), Some(Cte::Identity));
        assert_eq!(Cte::from_header(Some(" 8BIT ")), Some(Cte::Identity));
        assert_eq!(Cte::from_header(Some("Base64")), Some(Cte::Base64));
        assert_eq!(
            Cte::from_header(Some("quoted-printable")),
            Some(Cte::QuotedPrintable)
        );
        assert_eq!(Cte::from_header(Some("x-uuencode")), None);
    }

    #[test]
    fn rfc2045_base64_lenient() {
        assert_eq!(base64_decode(b"aGVs\r\nbG8gd29y\r\nbGQ="), b"hello world");
        assert_eq!(
            base64_decode(b"  aGVs    \r\n bG8g  \r\n   d29y  \t \r\n    bGQ= \r\n"),
            b"hello world"
        );
        assert_eq!(base64_decode(b"YQ"), b"a");
        assert_eq!(base64_decode(b"YWI"), b"ab");
        assert_eq!(base64_decode(b"YWJj!Z"), b"abc");
        assert_eq!(base64_decode(b""), b"");
        let all: Vec<u8> = (0..=255).collect();
        assert_eq!(base64_decode(&base64_lines(&all)), all);
        assert!(
            base64_lines(&all)
                .split(|&b| b == b'\n')
                .all(|l| l.len() <= 77)
        );
    }

    /// The quoted-printable part of imaptest's fetch-binary-mime-qp.
    #[test]
    fn rfc2045_quoted_printable_rules() {
        let body = b"hello  \r\nbar=\r\n\r\nfoo\t=\r\nbar\r\nfoo\t \t= \r\n=62\r\n\
foo = \t\r\nbar\r\nfoo =\r\n=62\r\nfoo  \r\nbar=\r\n\r\nfoo_bar\r\n";
        let want = b"hello\r\nbar\r\nfoo\tbar\r\nfoo\t \tb\r\nfoo bar\r\nfoo b\r\nfoo\r\nbar\r\nfoo_bar\r\n";
        assert_eq!(qp_decode(body), want);
        assert_eq!(qp_decode(body).len(), 65);
        assert_eq!(qp_decode(b"a=3D=3db=\r\nc"), b"a==bc");
        // Malformed escapes stay as they are.
        assert_eq!(qp_decode(b"=G1 =4"), b"=G1 =4");
        assert_eq!(qp_decode(b"=00"), b"\0");
    }
}
