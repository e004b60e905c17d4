//! Mailbox names in modified UTF-7 (RFC 3501 §5.1.3, kept by RFC 9051
//! §5.1.3 for clients that did not enable UTF-8).
//!
//! Printable US-ASCII other than `&` stands for itself, `&` is `&-`, and
//! any other run of characters is `&` + modified base64 (`,` for `/`, no
//! padding) of its UTF-16BE encoding + `-`. Decoding rejects what RFC 3501
//! forbids (unterminated shifts, padding bits, encoded printable ASCII), so
//! every name has exactly one spelling.

/// The modified base64 alphabet: `,` replaces `/`.
const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";

/// Encodes a UTF-8 mailbox name.
pub fn encode(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut pending: Vec<u16> = Vec::new();
    for ch in name.chars() {
        if (' '..='~').contains(&ch) {
            flush(&mut pending, &mut out);
            if ch == '&' {
                out.push_str("&-");
            } else {
                out.push(ch);
            }
        } else {
            let mut units = [0u16; 2];
            pending.extend_from_slice(ch.encode_utf16(&mut units));
        }
    }
    flush(&mut pending, &mut out);
    out
}

fn flush(units: &mut Vec<u16>, out: &mut String) {
    if units.is_empty() {
        return;
    }
    let bytes: Vec<u8> = units.iter().flat_map(|u| u.to_be_bytes()).collect();
    out.push('&');
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        let chars = chunk.len() + 1;
        for i in 0..chars {
            out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
        }
    }
    out.push('-');
    units.clear();
}

/// Decodes a modified UTF-7 name to UTF-8, or `None` if it is not valid.
pub fn decode(name: &str) -> Option<String> {
    let bytes = name.as_bytes();
    let mut out = String::with_capacity(name.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if !(0x20..=0x7e).contains(&b) {
            return None;
        }
        if b != b'&' {
            out.push(char::from(b));
            i += 1;
            continue;
        }
        let end = i + 1 + bytes[i + 1..].iter().position(|&c| c == b'-')?;
        let run = &bytes[i + 1..end];
        if run.is_empty() {
            out.push('&');
        } else {
            out.push_str(&decode_run(run)?);
        }
        i = end + 1;
    }
    Some(out)
}

fn decode_run(run: &[u8]) -> Option<String> {
    let mut bits: u32 = 0;
    let mut nbits = 0;
    let mut bytes = Vec::new();
    for &c in run {
        let v = ALPHABET.iter().position(|&a| a == c)? as u32;
        bits = (bits << 6) | v;
        nbits += 6;
        if nbits >= 8 {
            nbits -= 8;
            bytes.push((bits >> nbits) as u8);
            bits &= (1 << nbits) - 1;
        }
    }
    // RFC 3501 §5.1.3: leftover bits must be zero and the bytes whole UTF-16.
    if bits != 0 || nbits >= 6 || bytes.is_empty() || bytes.len() % 2 != 0 {
        return None;
    }
    let units: Vec<u16> = bytes
        .chunks(2)
        .map(|c| u16::from_be_bytes([c[0], c[1]]))
        .collect();
    let text = String::from_utf16(&units).ok()?;
    // ASCII must represent itself (or is a control), never be encoded.
    if text.chars().any(|c| c.is_ascii()) {
        return None;
    }
    Some(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3501_5_1_3_examples() {
        // "~peter/mail/台北/日本語" from RFC 3501 §5.1.3.
        let utf8 = "~peter/mail/\u{53f0}\u{5317}/\u{65e5}\u{672c}\u{8a9e}";
        let wire = "~peter/mail/&U,BTFw-/&ZeVnLIqe-";
        assert_eq!(encode(utf8), wire);
        assert_eq!(decode(wire).as_deref(), Some(utf8));
        // The illegal spellings the RFC lists.
        assert_eq!(decode("&Jjo!"), None);
        assert_eq!(
            decode("&U,BTFw-&ZeVnLIqe-"),
            Some("\u{53f0}\u{5317}\u{65e5}\u{672c}\u{8a9e}".into())
        );
    }

    #[test]
    fn ampersand_and_round_trips() {
        assert_eq!(encode("A&B"), "A&-B");
        assert_eq!(decode("A&-B").as_deref(), Some("A&B"));
        for name in [
            "Entwürfe",
            "Gelöschte Elemente",
            "日本",
            "a😀b",
            "INBOX/x",
            "",
        ] {
            assert_eq!(decode(&encode(name)).as_deref(), Some(name), "{name}");
        }
        assert_eq!(encode("Entwürfe"), "Entw&APw-rfe");
    }

    #[test]
    fn malformed_is_rejected() {
        for bad in ["&", "&AGE-", "&A-", "&Zm9v", "a\u{e9}", "&AAA-", "&2D3-"] {
            assert_eq!(decode(bad), None, "{bad}");
        }
    }
}
