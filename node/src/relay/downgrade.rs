//! What an 8-bit or internationalised message needs from the next hop, and the 8-bit → 7-bit
//! conversion for hosts without `8BITMIME` (RFC 6152 §3).
//!
//! Pure: bytes in, bytes or a reply out. The MIME structure comes from `mail-parser` (its
//! byte offsets locate every part's header and body in the original), the encodings from
//! `mail-builder`. The conversion rewrites only what must change:
//!
//! - each leaf part whose body has 8-bit octets is re-encoded, `text/*` as quoted-printable
//!   (readable, keeps its line structure), anything else as base64 (RFC 2045 §6.8), and gets
//!   a `Content-Transfer-Encoding` header saying so (the old one, `8bit`, is replaced);
//! - a part without `Content-Type` keeps its meaning through a declared charset: `utf-8` when
//!   its octets are UTF-8, else `unknown-8bit` (RFC 1428); a message without `MIME-Version`
//!   gets one (RFC 2045 §4: without it the new headers mean nothing);
//! - the rest of the message (headers, boundaries, 7-bit parts) is copied unchanged.
//!
//! It refuses, with `554 5.6.3` (RFC 3463 "conversion required but not supported"), what
//! cannot be converted without loss: 8-bit octets in a header (RFC 6532 headers need
//! `SMTPUTF8`, not a downgrade) or in a part that claims `base64` or `quoted-printable`.
//! An inline `message/rfc822` part is not encoded (RFC 2046 §5.2.1 forbids it): its inner
//! parts are converted and its own encoding becomes `7bit`, as does a multipart's.
//!
//! DKIM signatures over converted parts no longer verify (RFC 6376 §5.3): signers are told to
//! sign 7-bit forms; there is nothing a relay can do about others.

use mail_builder::encoders::{Base64Encoder, QuotedPrintableEncoder};
use mail_parser::{Encoding, MessageParser, MessagePart, MimeHeaders, PartType};

use crate::smtp::proto::reply::Reply;

/// Whether `bytes` has an octet above 127.
pub fn is_8bit(bytes: &[u8]) -> bool {
    bytes.iter().any(|b| *b >= 0x80)
}

/// The top-level header section of `message` (up to the first empty line).
pub fn header_section(message: &[u8]) -> &[u8] {
    let end = message
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| i + 2)
        .or_else(|| message.windows(2).position(|w| w == b"\n\n").map(|i| i + 1))
        .unwrap_or(message.len());
    &message[..end]
}

/// Whether some header of `message` (top level or of a MIME part) has 8-bit octets, which
/// only `SMTPUTF8` may carry (RFC 6532 §3, RFC 6531 §3.2).
pub fn has_8bit_headers(message: &[u8]) -> bool {
    if is_8bit(header_section(message)) {
        return true;
    }
    if !is_8bit(message) {
        return false;
    }
    let Some(parsed) = MessageParser::default().parse(message) else {
        return false;
    };
    let mut found = false;
    walk(&parsed.parts, &mut |part| {
        let range = part.offset_header as usize..part.offset_body as usize;
        found |= message.get(range).is_some_and(is_8bit);
    });
    found
}

/// Visits every part, descending into inline `message/*` parts.
fn walk<'x>(parts: &[MessagePart<'x>], visit: &mut dyn FnMut(&MessagePart<'x>)) {
    for part in parts {
        visit(part);
        if let PartType::Message(inner) = &part.body
            && part.encoding == Encoding::None
        {
            walk(&inner.parts, visit);
        }
    }
}

/// One change to the original bytes: replace `start..end` with `with`.
struct Edit {
    start: usize,
    end: usize,
    with: Vec<u8>,
}

/// `message` with every 8-bit body part re-encoded in 7 bits (see the module docs).
///
/// # Errors
/// `554 5.6.3` when the message cannot be converted without loss.
pub fn to_7bit(message: &[u8]) -> Result<Vec<u8>, Reply> {
    let refuse = |why: &str| {
        Reply::new(
            554,
            "5.6.3",
            format!("8-bit message cannot be converted for a host without 8BITMIME: {why}"),
        )
    };
    if is_8bit(header_section(message)) {
        return Err(refuse("8-bit header"));
    }
    let parsed = MessageParser::default()
        .parse(message)
        .ok_or_else(|| refuse("unparsable MIME structure"))?;
    let mut edits = Vec::new();
    let mut problem = None;
    walk(&parsed.parts, &mut |part| {
        if problem.is_none()
            && let Err(why) = convert(message, part, &mut edits)
        {
            problem = Some(why);
        }
    });
    if let Some(why) = problem {
        return Err(refuse(why));
    }
    if edits.is_empty() {
        return Ok(message.to_vec());
    }
    if parsed.parts[0]
        .headers
        .iter()
        .all(|h| !h.name.as_str().eq_ignore_ascii_case("MIME-Version"))
    {
        edits.push(Edit {
            start: 0,
            end: 0,
            with: b"MIME-Version: 1.0\r\n".to_vec(),
        });
    }
    // Edits never overlap (each is within one part's headers or body); apply in order, with
    // insertions at one point kept in the order made.
    edits.sort_by_key(|e| (e.start, e.end));
    let mut out = Vec::with_capacity(message.len() + message.len() / 2);
    let mut at = 0;
    for edit in edits {
        out.extend_from_slice(&message[at..edit.start]);
        out.extend_from_slice(&edit.with);
        at = edit.end;
    }
    out.extend_from_slice(&message[at..]);
    Ok(out)
}

/// The edits that make `part` 7-bit, if it is an 8-bit leaf.
fn convert(
    message: &[u8],
    part: &MessagePart<'_>,
    edits: &mut Vec<Edit>,
) -> Result<(), &'static str> {
    let (header_start, body_start, end) = (
        part.offset_header as usize,
        part.offset_body as usize,
        part.offset_end as usize,
    );
    let header = message.get(header_start..body_start).unwrap_or_default();
    if is_8bit(header) {
        return Err("8-bit MIME part header");
    }
    let body = message.get(body_start..end).unwrap_or_default();
    let leaf = match &part.body {
        PartType::Multipart(_) | PartType::Message(_) => false,
        PartType::Text(_) | PartType::Html(_) | PartType::Binary(_) | PartType::InlineBinary(_) => {
            true
        }
    };
    if !leaf {
        // A container's own body is its children's, converted on their own; what is left is
        // its transfer encoding, which must now say 7bit (RFC 2045 §6.4).
        if is_8bit(body)
            && let Some((start, end)) = cte_header(part)
        {
            edits.push(Edit {
                start,
                end,
                with: b"Content-Transfer-Encoding: 7bit\r\n".to_vec(),
            });
        }
        return Ok(());
    }
    if !is_8bit(body) {
        return Ok(());
    }
    let declared = part.content_transfer_encoding().unwrap_or("7bit");
    if ["base64", "quoted-printable"]
        .iter()
        .any(|e| declared.eq_ignore_ascii_case(e))
    {
        return Err("8-bit octets in a base64 or quoted-printable part");
    }
    let text = part
        .content_type()
        .is_none_or(|ct| ct.ctype().eq_ignore_ascii_case("text"));
    let (encoded, cte) = if text {
        let encoded = QuotedPrintableEncoder::new()
            .preserve_line_breaks()
            .encode(body)
            .map_err(|_| "quoted-printable encoding failed")?;
        (encoded, "quoted-printable")
    } else {
        let encoded = Base64Encoder::new()
            .wrap_lines()
            .encode(body)
            .map_err(|_| "base64 encoding failed")?;
        (encoded, "base64")
    };
    let mut headers = format!("Content-Transfer-Encoding: {cte}\r\n").into_bytes();
    if part.content_type().is_none() {
        let charset = if std::str::from_utf8(body).is_ok() {
            "utf-8"
        } else {
            "unknown-8bit"
        };
        headers.extend_from_slice(
            format!("Content-Type: text/plain; charset={charset}\r\n").as_bytes(),
        );
    }
    match cte_header(part) {
        Some((start, end)) => edits.push(Edit {
            start,
            end,
            with: headers,
        }),
        None => edits.push(Edit {
            start: header_start,
            end: header_start,
            with: headers,
        }),
    }
    let mut encoded = encoded;
    if body.ends_with(b"\n") && !encoded.ends_with(b"\n") {
        encoded.extend_from_slice(b"\r\n");
    }
    edits.push(Edit {
        start: body_start,
        end,
        with: encoded,
    });
    Ok(())
}

/// The byte range of `part`'s `Content-Transfer-Encoding` field, line end included.
fn cte_header(part: &MessagePart<'_>) -> Option<(usize, usize)> {
    part.headers
        .iter()
        .find(|h| {
            h.name
                .as_str()
                .eq_ignore_ascii_case("Content-Transfer-Encoding")
        })
        .map(|h| (h.offset_field as usize, h.offset_end as usize))
}

#[cfg(test)]
mod tests;
