//! Message structure for FETCH and SEARCH: ENVELOPE and BODYSTRUCTURE
//! (RFC 9051 §7.5.2), BODY[section] extraction (RFC 9051 §6.4.5), BINARY
//! sections (RFC 3516 §4.1), and the decoded header and body text SEARCH
//! compares against (§6.4.4). [`store_binary`] rewrites the binary parts
//! of an APPENDed `literal8` message as base64 (RFC 3516 §4.3).
//!
//! MIME parsing is `mail-parser`'s; this module only walks its tree.
//! Malformed MIME never fails: missing pieces become `NIL` or empty
//! sections, and a message that does not parse at all is treated as one
//! text part whose header ends at the first empty line.

use base64::Engine as _;
use mail_parser::{
    Address, HeaderValue, Message, MessageParser, MessagePart, MimeHeaders, PartType,
};

use super::binary::{Cte, base64_lines};
use super::command::{Section, SectionText};
use super::response::{nstring, string};

/// A message in wire form, parsed by mail-parser at the first item that
/// needs its structure (`None` when it could not be parsed). The whole
/// message (`BODY[]`, `RFC822`) needs none, and parsing was most of the
/// cost of fetching it.
pub struct Parsed<'a> {
    raw: &'a [u8],
    msg: std::cell::OnceCell<Option<Message<'a>>>,
}

impl<'a> Parsed<'a> {
    /// A message in wire form, parsed when first needed.
    pub fn new(raw: &'a [u8]) -> Self {
        Parsed {
            raw,
            msg: std::cell::OnceCell::new(),
        }
    }

    fn msg(&self) -> Option<&Message<'a>> {
        self.msg
            .get_or_init(|| MessageParser::default().parse(self.raw))
            .as_ref()
    }

    /// The ENVELOPE of the message.
    pub fn envelope(&self) -> Vec<u8> {
        let mut out = Vec::new();
        match self.msg() {
            Some(m) => envelope(m, &mut out),
            None => out.extend_from_slice(b"(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)"),
        }
        out
    }

    /// BODYSTRUCTURE (`ext`) or BODY.
    pub fn body_structure(&self, ext: bool) -> Vec<u8> {
        let mut out = Vec::new();
        match self.msg() {
            Some(m) => structure(m, 0, ext, &mut out),
            None => {
                let (_, body) = split_header(self.raw);
                out.extend_from_slice(
                    format!(
                        "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" {} {})",
                        body.len(),
                        count_lines(body)
                    )
                    .as_bytes(),
                );
            }
        }
        out
    }

    /// The bytes of a section, or `None` if the message has no such part.
    pub fn section(&self, section: &Section) -> Option<Vec<u8>> {
        if section.part.is_empty() {
            let Some(text) = &section.text else {
                // RFC 9051 §6.4.5: BODY[] is the entire message.
                return Some(self.raw.to_vec());
            };
            let Some(msg) = self.msg() else {
                let (header, body) = split_header(self.raw);
                return match text {
                    SectionText::Header => Some(header.to_vec()),
                    SectionText::HeaderFields { not, fields } => {
                        Some(header_fields(header, fields, *not))
                    }
                    SectionText::Text => Some(body.to_vec()),
                    SectionText::Mime => None,
                };
            };
            return Some(message_section(msg, text).unwrap_or_else(|| self.raw.to_vec()));
        }
        let msg = self.msg()?;
        let (owner, id) = find_part(msg, &section.part)?;
        let part = owner.parts.get(id as usize)?;
        let raw = &owner.raw_message[..];
        match &section.text {
            None => Some(slice(raw, part.offset_body, part.offset_end).to_vec()),
            Some(SectionText::Mime) => {
                Some(slice(raw, part.offset_header, part.offset_body).to_vec())
            }
            Some(text) => match &part.body {
                // The encapsulated message ends where its part does, after
                // any epilogue of its own multipart body.
                PartType::Message(_) if *text == SectionText::Text => {
                    let whole = slice(raw, part.offset_body, part.offset_end);
                    Some(split_header(whole).1.to_vec())
                }
                PartType::Message(nested) => message_section(nested, text),
                _ => None,
            },
        }
    }

    /// The header of the whole message as `BODY[HEADER]` and
    /// `RFC822.HEADER` return it; `BODY[HEADER.FIELDS ...]` is
    /// [`header_fields`] of it. `None` for a message parsed without a root
    /// part, whose sections are the whole message.
    pub fn whole_header(&self) -> Option<Vec<u8>> {
        match self.msg() {
            None => Some(split_header(self.raw).0.to_vec()),
            Some(msg) => message_section(msg, &SectionText::Header),
        }
    }

    /// BINARY[part] (RFC 3516 §4.2): the part with its content transfer
    /// encoding undone; for the whole message of a single part, the
    /// header then says `binary`. `None` when there is no such part;
    /// `Some(Err(UnknownCte))` when the encoding is not known.
    pub fn binary(&self, part: &[u32]) -> Option<Result<Vec<u8>, UnknownCte>> {
        let whole = || {
            self.section(&Section {
                part: part.to_vec(),
                text: None,
            })
        };
        let Some(msg) = self.msg() else {
            // Not MIME: nothing is encoded.
            return whole().map(Ok);
        };
        let (owner, id) = if part.is_empty() {
            (msg, 0)
        } else {
            find_part(msg, part)?
        };
        let p = owner.parts.get(id as usize)?;
        let cte_header = raw_header(owner, p, CTE);
        let Some(cte) = Cte::from_header(cte_header.as_deref()) else {
            return Some(Err(UnknownCte));
        };
        let raw = &owner.raw_message[..];
        let body = slice(raw, p.offset_body, p.offset_end);
        if !part.is_empty() {
            return Some(Ok(cte.decode(body)));
        }
        if cte == Cte::Identity || matches!(p.body, PartType::Multipart(_)) {
            return whole().map(Ok);
        }
        let header = slice(raw, p.offset_header, p.offset_body);
        let mut out = with_cte(header, "binary");
        out.extend_from_slice(&cte.decode(body));
        Some(Ok(out))
    }

    /// Whether a header named `field` contains `needle` (lower case) in
    /// its raw or decoded form; an empty needle matches any such header.
    pub fn header_contains(&self, field: &str, needle: &str) -> bool {
        let Some(msg) = self.msg() else {
            let (header, _) = split_header(self.raw);
            return fields(header).any(|(name, value)| {
                name.eq_ignore_ascii_case(field.as_bytes())
                    && lower(&String::from_utf8_lossy(value)).contains(needle)
            });
        };
        let raw = &msg.raw_message[..];
        msg.root_part().headers.iter().any(|h| {
            if !h.name.as_str().eq_ignore_ascii_case(field) {
                return false;
            }
            let raw_value = unfold(slice(raw, h.offset_start, h.offset_end));
            if lower(&raw_value).contains(needle) {
                return true;
            }
            decoded_texts(&h.value)
                .iter()
                .any(|t| lower(t).contains(needle))
        })
    }

    /// Whether the decoded text of any text part contains `needle`
    /// (lower case).
    pub fn body_contains(&self, needle: &str) -> bool {
        match self.msg() {
            Some(m) => body_contains(m, needle, 0),
            None => lower(&String::from_utf8_lossy(split_header(self.raw).1)).contains(needle),
        }
    }

    /// Whether the header (raw and decoded) or body contains `needle`.
    pub fn text_contains(&self, needle: &str) -> bool {
        if self.body_contains(needle) {
            return true;
        }
        let (header, _) = split_header(self.raw);
        if lower(&String::from_utf8_lossy(header)).contains(needle) {
            return true;
        }
        self.msg().is_some_and(|m| {
            m.root_part().headers.iter().any(|h| {
                decoded_texts(&h.value)
                    .iter()
                    .any(|t| lower(t).contains(needle))
            })
        })
    }

    /// The decoded Subject, empty when there is none (RFC 5256 §2.1
    /// step 1 starts from the decoded text).
    pub fn subject(&self) -> String {
        match self.msg() {
            Some(m) => m.subject().unwrap_or_default().to_owned(),
            None => {
                let (header, _) = split_header(self.raw);
                fields(header)
                    .find(|(name, _)| name.eq_ignore_ascii_case(b"Subject"))
                    .map(|(_, v)| unfold(v))
                    .unwrap_or_default()
            }
        }
    }

    /// The local part of the first address of `field` (`From`, `To` or
    /// `Cc`), empty when there is none: the SORT key of RFC 5256 §3, the
    /// addr-mailbox of the first ENVELOPE address, which for a group is
    /// the group's name (RFC 9051 §7.5.2).
    pub fn first_mailbox(&self, field: &str) -> String {
        let Some(m) = self.msg() else {
            return String::new();
        };
        let list = match field {
            "From" => m.from(),
            "To" => m.to(),
            _ => m.cc(),
        };
        if let Some(Address::Group(groups)) = list
            && let Some(name) = groups.first().and_then(|g| g.name.as_deref())
        {
            return name.to_owned();
        }
        let addr = list
            .map(addr_list)
            .and_then(|l| l.into_iter().find_map(|(_, a)| a))
            .unwrap_or_default();
        match addr.rsplit_once('@') {
            Some((local, _)) => local.to_owned(),
            None => addr,
        }
    }

    /// The DISPLAYFROM / DISPLAYTO sort key of `field` (`From` or `To`,
    /// RFC 5957 §2), lower case: the decoded display name of the first
    /// address, else its addr-spec; for a group, as for SORT (CC), its
    /// name. Empty when there is no address.
    pub fn display_name(&self, field: &str) -> String {
        let Some(m) = self.msg() else {
            return String::new();
        };
        let list = if field == "From" { m.from() } else { m.to() };
        let key = match list {
            Some(Address::Group(groups)) => groups
                .first()
                .and_then(|g| g.name.as_deref())
                .unwrap_or_default()
                .to_owned(),
            Some(a) => addr_list(a)
                .into_iter()
                .next()
                .map(|(name, addr)| match name.filter(|n| !n.trim().is_empty()) {
                    Some(n) => n,
                    None => addr.unwrap_or_default(),
                })
                .unwrap_or_default(),
            None => String::new(),
        };
        lower(key.trim())
    }

    /// The Message-ID without angle brackets.
    pub fn message_id(&self) -> Option<String> {
        Some(self.msg()?.message_id()?.to_owned())
    }

    /// The References ids, oldest first, or else the first In-Reply-To id
    /// (RFC 5256 §3 REFERENCES step 1).
    pub fn references(&self) -> Vec<String> {
        let Some(m) = self.msg() else {
            return Vec::new();
        };
        let ids = |v: &HeaderValue<'_>| -> Vec<String> {
            match v {
                HeaderValue::Text(t) => vec![t.to_string()],
                HeaderValue::TextList(l) => l.iter().map(|t| t.to_string()).collect(),
                _ => Vec::new(),
            }
        };
        let refs = ids(m.references());
        if refs.is_empty() {
            ids(m.in_reply_to()).into_iter().take(1).collect()
        } else {
            refs
        }
    }

    /// The Date header as seconds since the epoch (UTC), if it parses.
    pub fn sent_time(&self) -> Option<i64> {
        Some(self.msg()?.date()?.to_timestamp())
    }

    /// The day of the Date header (days since the epoch, its own zone).
    pub fn sent_day(&self) -> Option<i64> {
        let d = self.msg()?.date()?;
        let date = chrono::NaiveDate::from_ymd_opt(
            i32::from(d.year),
            u32::from(d.month),
            u32::from(d.day),
        )?;
        Some(
            date.signed_duration_since(chrono::NaiveDate::default())
                .num_days(),
        )
    }
}

/// Lower case for case-insensitive comparison.
pub fn lower(s: &str) -> String {
    s.to_lowercase()
}

fn slice(raw: &[u8], start: u32, end: u32) -> &[u8] {
    let start = (start as usize).min(raw.len());
    let end = (end as usize).clamp(start, raw.len());
    &raw[start..end]
}

/// The header of a message in wire form, with the empty line that ends it.
pub fn header_of(raw: &[u8]) -> &[u8] {
    split_header(raw).0
}

/// Splits at the empty line ending the header; the header keeps it.
fn split_header(raw: &[u8]) -> (&[u8], &[u8]) {
    if raw.starts_with(b"\r\n") {
        return (&raw[..2], &raw[2..]);
    }
    match raw.windows(4).position(|w| w == b"\r\n\r\n") {
        Some(p) => (&raw[..p + 4], &raw[p + 4..]),
        None => (raw, &[]),
    }
}

fn count_lines(b: &[u8]) -> usize {
    b.iter().filter(|&&c| c == b'\n').count()
}

/// The HEADER/TEXT/HEADER.FIELDS section of a (possibly nested) message.
fn message_section(msg: &Message<'_>, text: &SectionText) -> Option<Vec<u8>> {
    let root = msg.parts.first()?;
    let raw = &msg.raw_message[..];
    let header = slice(raw, root.offset_header, root.offset_body);
    Some(match text {
        SectionText::Header => header.to_vec(),
        SectionText::HeaderFields { not, fields } => header_fields(header, fields, *not),
        SectionText::Text => slice(raw, root.offset_body, root.offset_end).to_vec(),
        SectionText::Mime => return None,
    })
}

/// Walks part numbers (RFC 9051 §6.4.5): returns the message owning the
/// part and the part's index in it.
fn find_part<'m>(msg: &'m Message<'m>, numbers: &[u32]) -> Option<(&'m Message<'m>, u32)> {
    let mut owner = msg;
    let mut id = 0u32;
    for (i, &n) in numbers.iter().enumerate() {
        let part = owner.parts.get(id as usize)?;
        if i > 0 {
            match &part.body {
                PartType::Message(nested) => {
                    owner = nested;
                    id = 0;
                }
                PartType::Multipart(_) => {}
                _ => return None,
            }
        }
        let part = owner.parts.get(id as usize)?;
        match &part.body {
            PartType::Multipart(children) => id = *children.get(n as usize - 1)?,
            // Part 1 of a non-multipart message is its body.
            _ if n == 1 => {}
            _ => return None,
        }
    }
    Some((owner, id))
}

/// The Content-Transfer-Encoding header name.
const CTE: &str = "Content-Transfer-Encoding";

/// A part's content transfer encoding is not one this server knows
/// (RFC 3516 §4.2: `[UNKNOWN-CTE]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnknownCte;

/// `header` (with its empty line) with its Content-Transfer-Encoding
/// field replaced by one saying `cte`.
fn with_cte(header: &[u8], cte: &str) -> Vec<u8> {
    let mut out = header_fields(header, &[CTE.to_owned()], true);
    out.truncate(out.len() - 2);
    out.extend_from_slice(format!("{CTE}: {cte}\r\n\r\n").as_bytes());
    out
}

/// Why an APPENDed message cannot be stored (RFC 3516 §4.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unstorable;

/// Rewrites an APPENDed message for storage (RFC 3516 §4.3: the server
/// may change the encoding of binary data). With `binary` (sent as
/// `literal8`), every part labelled `binary` and every part holding NUL
/// is re-encoded as base64, so FETCH BODY never sends NUL and bare line
/// ends inside binary data survive the storage's CRLF form. `Ok(None)`:
/// keep the message as it is.
///
/// # Errors
/// [`Unstorable`] when NUL is left where no part can be re-encoded (in a
/// header, an encoded part, or a nested message).
pub fn store_binary(raw: &[u8], binary: bool) -> Result<Option<Vec<u8>>, Unstorable> {
    if !binary {
        return Ok(None);
    }
    let Some(msg) = MessageParser::default().parse(raw) else {
        return if raw.contains(&0) {
            Err(Unstorable)
        } else {
            Ok(None)
        };
    };
    let src = &msg.raw_message[..];
    // (start, end, replacement) in ascending, disjoint ranges.
    let mut edits: Vec<(usize, usize, Vec<u8>)> = Vec::new();
    for p in &msg.parts {
        if matches!(p.body, PartType::Multipart(_) | PartType::Message(_)) {
            continue;
        }
        let body = slice(src, p.offset_body, p.offset_end);
        let label = raw_header(&msg, p, CTE).map(|v| v.to_ascii_lowercase());
        if !(label.as_deref() == Some("binary") || body.contains(&0)) {
            continue;
        }
        if Cte::from_header(label.as_deref()) != Some(Cte::Identity) {
            return Err(Unstorable);
        }
        let header = slice(src, p.offset_header, p.offset_body);
        let mut encoded = base64_lines(body);
        if p.offset_end as usize >= src.len() {
            encoded.extend_from_slice(b"\r\n");
        }
        edits.push((
            p.offset_header as usize,
            p.offset_body as usize,
            with_cte(header, "base64"),
        ));
        edits.push((p.offset_body as usize, p.offset_end as usize, encoded));
    }
    if edits.is_empty() {
        return if raw.contains(&0) {
            Err(Unstorable)
        } else {
            Ok(None)
        };
    }
    edits.sort_by_key(|e| e.0);
    let mut out = Vec::with_capacity(src.len() * 4 / 3);
    let mut at = 0;
    for (start, end, with) in edits {
        if start < at || start > end || end > src.len() {
            // Overlapping parts: a parser oddity; refuse rather than guess.
            return Err(Unstorable);
        }
        out.extend_from_slice(&src[at..start]);
        out.extend_from_slice(&with);
        at = end;
    }
    out.extend_from_slice(&src[at..]);
    if out.contains(&0) {
        return Err(Unstorable);
    }
    Ok(Some(out))
}

/// Splits a header block into `(name, raw field including CRLF)`.
fn fields(header: &[u8]) -> impl Iterator<Item = (&[u8], &[u8])> {
    let mut rest = header;
    std::iter::from_fn(move || {
        loop {
            if rest.is_empty() || rest.starts_with(b"\r\n") {
                return None;
            }
            // A field runs until a line end not followed by whitespace.
            let mut end = 0;
            loop {
                match rest[end..].iter().position(|&b| b == b'\n') {
                    Some(p) => {
                        end += p + 1;
                        if !matches!(rest.get(end), Some(b' ' | b'\t')) {
                            break;
                        }
                    }
                    None => {
                        end = rest.len();
                        break;
                    }
                }
            }
            let field = &rest[..end];
            rest = &rest[end..];
            if let Some(colon) = field.iter().position(|&b| b == b':') {
                let name = field[..colon].trim_ascii();
                return Some((name, field));
            }
        }
    })
}

/// HEADER.FIELDS (NOT): the matching fields and the empty line.
pub fn header_fields(header: &[u8], names: &[String], not: bool) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, field) in fields(header) {
        let listed = names
            .iter()
            .any(|n| n.as_bytes().eq_ignore_ascii_case(name));
        if listed != not {
            out.extend_from_slice(field);
            if !field.ends_with(b"\n") {
                out.extend_from_slice(b"\r\n");
            }
        }
    }
    out.extend_from_slice(b"\r\n");
    out
}

/// A raw header value without folding and outer whitespace.
fn unfold(raw: &[u8]) -> String {
    let s: Vec<u8> = raw
        .iter()
        .copied()
        .filter(|&b| b != b'\r' && b != b'\n')
        .collect();
    String::from_utf8_lossy(&s).trim().to_owned()
}

/// The decoded text forms of a header value.
fn decoded_texts(v: &HeaderValue<'_>) -> Vec<String> {
    match v {
        HeaderValue::Text(t) => vec![t.to_string()],
        HeaderValue::TextList(l) => l.iter().map(|t| t.to_string()).collect(),
        HeaderValue::Address(a) => addr_list(a)
            .into_iter()
            .flat_map(|(n, a)| [n.unwrap_or_default(), a.unwrap_or_default()])
            .collect(),
        _ => Vec::new(),
    }
}

fn addr_list(a: &Address<'_>) -> Vec<(Option<String>, Option<String>)> {
    let one = |x: &mail_parser::Addr<'_>| {
        (
            x.name.as_ref().map(|n| n.to_string()),
            x.address.as_ref().map(|a| a.to_string()),
        )
    };
    match a {
        Address::List(l) => l.iter().map(one).collect(),
        Address::Group(g) => g.iter().flat_map(|g| g.addresses.iter().map(one)).collect(),
    }
}

fn body_contains(msg: &Message<'_>, needle: &str, depth: usize) -> bool {
    msg.parts.iter().any(|p| match &p.body {
        PartType::Text(t) | PartType::Html(t) => lower(t).contains(needle),
        PartType::Message(m) if depth < 8 => body_contains(m, needle, depth + 1),
        _ => false,
    })
}

/// The first header named `name` of `part`, raw and unfolded.
fn raw_header(msg: &Message<'_>, part: &MessagePart<'_>, name: &str) -> Option<String> {
    let h = part
        .headers
        .iter()
        .find(|h| h.name.as_str().eq_ignore_ascii_case(name))?;
    Some(unfold(slice(
        &msg.raw_message,
        h.offset_start,
        h.offset_end,
    )))
}

fn nstr(out: &mut Vec<u8>, s: Option<&str>) {
    nstring(out, s.map(str::as_bytes));
}

/// A display name safe for a 7-bit quoted string: non-ASCII names are
/// re-encoded as an RFC 2047 encoded word.
fn ascii_name(name: &str) -> String {
    if name.is_ascii() {
        name.to_owned()
    } else {
        format!(
            "=?utf-8?b?{}?=",
            base64::engine::general_purpose::STANDARD.encode(name)
        )
    }
}

fn address_list(out: &mut Vec<u8>, value: Option<&HeaderValue<'_>>) {
    let Some(HeaderValue::Address(a)) = value else {
        out.extend_from_slice(b"NIL");
        return;
    };
    let mut items = Vec::new();
    let addr = |items: &mut Vec<u8>, x: &mail_parser::Addr<'_>| {
        let address = x.address.as_deref().unwrap_or_default();
        // An obsolete source route (`<@a,@b:user@host>`, RFC 5322 §4.4)
        // is the addr-adl.
        let (adl, address) = match address.split_once(':') {
            Some((adl, rest)) if adl.starts_with('@') => (Some(adl), rest),
            _ => (None, address),
        };
        let (mailbox, host) = address.rsplit_once('@').unwrap_or((address, ""));
        items.push(b'(');
        nstr(items, x.name.as_deref().map(ascii_name).as_deref());
        items.push(b' ');
        nstr(items, adl);
        items.push(b' ');
        string(items, mailbox.as_bytes());
        items.push(b' ');
        string(items, host.as_bytes());
        items.push(b')');
    };
    match a {
        Address::List(l) => l.iter().for_each(|x| addr(&mut items, x)),
        Address::Group(groups) => {
            for g in groups {
                if let Some(name) = &g.name {
                    items.extend_from_slice(b"(NIL NIL ");
                    string(&mut items, ascii_name(name).as_bytes());
                    items.extend_from_slice(b" NIL)");
                }
                // A comment alone (`group: (foo) ;`) is no group member.
                g.addresses
                    .iter()
                    .filter(|x| x.address.is_some())
                    .for_each(|x| addr(&mut items, x));
                if g.name.is_some() {
                    items.extend_from_slice(b"(NIL NIL NIL NIL)");
                }
            }
        }
    }
    if items.is_empty() {
        out.extend_from_slice(b"NIL");
    } else {
        out.push(b'(');
        out.extend_from_slice(&items);
        out.push(b')');
    }
}

fn envelope(msg: &Message<'_>, out: &mut Vec<u8>) {
    let Some(root) = msg.parts.first() else {
        out.extend_from_slice(b"(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)");
        return;
    };
    let header = |name: &str| {
        root.headers
            .iter()
            .find(|h| h.name.as_str().eq_ignore_ascii_case(name))
            .map(|h| &h.value)
    };
    out.push(b'(');
    nstr(out, raw_header(msg, root, "Date").as_deref());
    out.push(b' ');
    nstr(out, raw_header(msg, root, "Subject").as_deref());
    let from = header("From");
    for name in ["From", "Sender", "Reply-To", "To", "Cc", "Bcc"] {
        out.push(b' ');
        let v = header(name);
        // RFC 9051 §7.5.2: Sender and Reply-To default to From when
        // absent or empty.
        let empty = !matches!(v, Some(HeaderValue::Address(_)));
        let v = if empty && (name == "Sender" || name == "Reply-To") {
            from
        } else {
            v
        };
        address_list(out, v);
    }
    out.push(b' ');
    nstr(out, raw_header(msg, root, "In-Reply-To").as_deref());
    out.push(b' ');
    nstr(out, raw_header(msg, root, "Message-ID").as_deref());
    out.push(b')');
}

fn params(
    out: &mut Vec<u8>,
    attrs: Option<&[mail_parser::Attribute<'_>]>,
    default: Option<(&str, &str)>,
) {
    let mut list: Vec<(String, String)> = attrs
        .unwrap_or_default()
        .iter()
        .map(|a| (a.name.to_string(), a.value.to_string()))
        .collect();
    if list.is_empty()
        && let Some((k, v)) = default
    {
        list.push((k.into(), v.into()));
    }
    if list.is_empty() {
        out.extend_from_slice(b"NIL");
        return;
    }
    out.push(b'(');
    for (i, (k, v)) in list.iter().enumerate() {
        if i > 0 {
            out.push(b' ');
        }
        string(out, k.as_bytes());
        out.push(b' ');
        string(out, v.as_bytes());
    }
    out.push(b')');
}

/// Extension data shared by single and multipart bodies: disposition,
/// language, location (RFC 9051 §7.5.2).
fn ext_tail(msg: &Message<'_>, part: &MessagePart<'_>, out: &mut Vec<u8>) {
    out.push(b' ');
    match part.content_disposition() {
        Some(d) => {
            out.push(b'(');
            string(out, d.c_type.as_bytes());
            out.push(b' ');
            params(out, d.attributes(), None);
            out.push(b')');
        }
        None => out.extend_from_slice(b"NIL"),
    }
    out.push(b' ');
    nstr(out, raw_header(msg, part, "Content-Language").as_deref());
    out.push(b' ');
    nstr(out, raw_header(msg, part, "Content-Location").as_deref());
}

/// Deepest MIME nesting described; deeper parts are cut off (mail-parser
/// bounds nesting too), so hostile messages cannot exhaust the stack.
const MAX_DEPTH: usize = 32;

fn structure(msg: &Message<'_>, id: u32, ext: bool, out: &mut Vec<u8>) {
    structure_at(msg, id, ext, out, 0);
}

fn structure_at(msg: &Message<'_>, id: u32, ext: bool, out: &mut Vec<u8>, depth: usize) {
    let Some(part) = msg.parts.get(id as usize) else {
        out.extend_from_slice(b"(\"text\" \"plain\" NIL NIL NIL \"7bit\" 0 0)");
        return;
    };
    let ct = part.content_type();
    let raw = &msg.raw_message[..];
    if let PartType::Multipart(children) = &part.body
        && depth < MAX_DEPTH
    {
        out.push(b'(');
        for &child in children {
            structure_at(msg, child, ext, out, depth + 1);
        }
        if children.is_empty() {
            out.extend_from_slice(b"(\"text\" \"plain\" NIL NIL NIL \"7bit\" 0 0)");
        }
        out.push(b' ');
        let sub = ct.and_then(|c| c.subtype()).unwrap_or("mixed");
        string(out, sub.as_bytes());
        if ext {
            out.push(b' ');
            params(out, ct.and_then(|c| c.attributes()), None);
            ext_tail(msg, part, out);
        }
        out.push(b')');
        return;
    }
    let (ctype, subtype) = match ct {
        Some(c) => (
            c.ctype().to_ascii_lowercase(),
            c.subtype().map(str::to_ascii_lowercase),
        ),
        None => ("text".to_owned(), None),
    };
    let subtype = subtype.unwrap_or_else(|| {
        if ctype == "text" {
            "plain".into()
        } else {
            "octet-stream".into()
        }
    });
    let body = slice(raw, part.offset_body, part.offset_end);
    out.push(b'(');
    string(out, ctype.as_bytes());
    out.push(b' ');
    string(out, subtype.as_bytes());
    out.push(b' ');
    let default = (ctype == "text").then_some(("charset", "us-ascii"));
    params(out, ct.and_then(|c| c.attributes()), default);
    out.push(b' ');
    nstr(out, raw_header(msg, part, "Content-ID").as_deref());
    out.push(b' ');
    nstr(out, raw_header(msg, part, "Content-Description").as_deref());
    out.push(b' ');
    let encoding =
        raw_header(msg, part, "Content-Transfer-Encoding").unwrap_or_else(|| "7bit".into());
    string(out, encoding.as_bytes());
    out.extend_from_slice(format!(" {}", body.len()).as_bytes());
    match &part.body {
        PartType::Message(nested) if depth < MAX_DEPTH && ctype == "message" => {
            out.push(b' ');
            envelope(nested, out);
            out.push(b' ');
            structure_at(nested, 0, ext, out, depth + 1);
            out.extend_from_slice(format!(" {}", count_lines(body)).as_bytes());
        }
        _ if ctype == "text" => out.extend_from_slice(format!(" {}", count_lines(body)).as_bytes()),
        _ => {}
    }
    if ext {
        out.extend_from_slice(b" NIL");
        ext_tail(msg, part, out);
    }
    out.push(b')');
}

#[cfg(test)]
mod tests;
