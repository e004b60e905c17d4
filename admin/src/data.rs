//! The CommuniGate data syntax: the one text format shared by CLI arguments,
//! CLI results and `*.settings` files.
//!
//! Follows reference §2.3 (CommuniGate Guide `Data.html` v5.1/v6.0 and the
//! reader/writer in Stalker's `CLI.pm` v2.8.3):
//!
//! - strings: atoms (`[-a-zA-Z0-9_.@!#%:]` plus any non-ASCII character, as
//!   the Perl reader accepts) or quoted UTF-8 with `\" \\ \r \n \e \t \nnn`;
//! - `#50` numbers, `#TDD-MM-YYYY[_HH:MM:SS]` dates, `#I[addr][:port]`
//!   addresses, `#NULL#`;
//! - `[base64]` data blocks, adjacent blocks `][` joined;
//! - `(a, b)` arrays and `{key=value;}` dictionaries, nested.
//!
//! Single-line text (CLI) allows only spaces between tokens; multi-line text
//! ([`parse_text`], settings files) also allows tabs, CR, LF and `//` comments
//! up to the end of the line, and joins adjacent quoted strings.
//!
//! Invariants: parsing never panics and nests at most [`MAX_DEPTH`] levels;
//! the printer never emits a control character, so a printed value always
//! fits on one protocol line; `parse(&v.to_string()) == Ok(v)` for every
//! value whose dates have whole seconds and years 0–9999, whose strings hold
//! no NUL (Data.html: strings never contain a zero byte) and whose `Ip`
//! texts are well-formed.

use std::collections::BTreeMap;
use std::fmt;

use base64::Engine as _;
use chrono::{Datelike as _, NaiveDate, NaiveDateTime, Timelike as _};

pub use crate::error::Error as DataError;
use crate::error::{Error, Result};

/// A dictionary: the settings object of CommuniGate. Keys are sorted, as the
/// Perl writer sorts them.
pub type Dict = BTreeMap<String, Value>;

/// Deepest nesting of arrays and dictionaries the parser accepts; deeper
/// input is an error rather than a stack overflow.
pub const MAX_DEPTH: usize = 64;

/// One CommuniGate data object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// A string, written as an atom or quoted.
    String(String),
    /// A number, written `#N`.
    Number(i64),
    /// A timestamp, written `#TDD-MM-YYYY_HH:MM:SS`. A date without a time
    /// reads as midnight; sub-second parts are not written.
    Date(NaiveDateTime),
    /// An IP address as written after `#I`: `[10.0.44.55]` or
    /// `[10.0.44.55]:25` (IPv6 inside the brackets too).
    Ip(String),
    /// A binary data block, written `[base64]`.
    Data(Vec<u8>),
    /// An array, written `(a, b)`.
    Array(Vec<Value>),
    /// A dictionary, written `{key=value;}`.
    Dict(Dict),
    /// The null object, written `#NULL#`.
    Null,
}

impl Value {
    /// A string value.
    pub fn string(s: impl Into<String>) -> Self {
        Value::String(s.into())
    }

    /// An IP address value; `addr` goes inside the brackets.
    pub fn ip(addr: &str, port: Option<u16>) -> Self {
        match port {
            Some(port) => Value::Ip(format!("[{addr}]:{port}")),
            None => Value::Ip(format!("[{addr}]")),
        }
    }

    /// The string, if this is a string.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// The number, if this is a number.
    pub fn as_number(&self) -> Option<i64> {
        match self {
            Value::Number(n) => Some(*n),
            _ => None,
        }
    }

    /// The dictionary, if this is a dictionary.
    pub fn as_dict(&self) -> Option<&Dict> {
        match self {
            Value::Dict(d) => Some(d),
            _ => None,
        }
    }

    /// The elements, if this is an array.
    pub fn as_array(&self) -> Option<&[Value]> {
        match self {
            Value::Array(a) => Some(a),
            _ => None,
        }
    }

    /// The bytes, if this is a data block.
    pub fn as_data(&self) -> Option<&[u8]> {
        match self {
            Value::Data(d) => Some(d),
            _ => None,
        }
    }

    /// The address and port, if this is an IP address value.
    pub fn as_ip(&self) -> Option<(&str, Option<u16>)> {
        let Value::Ip(s) = self else { return None };
        let rest = s.strip_prefix('[')?;
        let (addr, tail) = rest.split_once(']')?;
        match tail.strip_prefix(':') {
            Some(port) => Some((addr, Some(port.parse().ok()?))),
            None if tail.is_empty() => Some((addr, None)),
            None => None,
        }
    }

    /// Whether this is `#NULL#`.
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::String(s.to_owned())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::String(s)
    }
}

impl From<i64> for Value {
    fn from(n: i64) -> Self {
        Value::Number(n)
    }
}

impl From<Vec<Value>> for Value {
    fn from(a: Vec<Value>) -> Self {
        Value::Array(a)
    }
}

impl From<Dict> for Value {
    fn from(d: Dict) -> Self {
        Value::Dict(d)
    }
}

/// Parses exactly one value from single-line text (CLI), spaces allowed
/// around it.
///
/// # Errors
/// [`Error::Syntax`] with the byte position when the text is not one value.
pub fn parse(text: &str) -> Result<Value> {
    parse_whole(text, Mode::Line)
}

/// Parses exactly one value from multi-line text (a settings file): tabs,
/// CR, LF and `//` comments count as whitespace.
///
/// # Errors
/// [`Error::Syntax`] with the byte position when the text is not one value.
pub fn parse_text(text: &str) -> Result<Value> {
    parse_whole(text, Mode::Text)
}

/// Parses one value at the start of single-line `text` (leading spaces
/// skipped) and returns it with the number of bytes consumed, which ends
/// right after the value. Used to read command arguments one by one.
///
/// # Errors
/// [`Error::Syntax`] when no valid value starts the text.
pub fn parse_prefix(text: &str) -> Result<(Value, usize)> {
    let mut p = Parser::new(text, Mode::Line);
    p.skip_ws();
    let v = p.value(0)?;
    Ok((v, p.pos))
}

/// Writes `value` as multi-line text for a settings file: dictionaries one
/// key per line, indented by two spaces; arrays of scalars stay on one line.
/// The text ends with a newline.
pub fn to_text_pretty(value: &Value) -> String {
    let mut out = String::new();
    pretty(value, 0, &mut out);
    out.push('\n');
    out
}

fn parse_whole(text: &str, mode: Mode) -> Result<Value> {
    let mut p = Parser::new(text, mode);
    p.skip_ws();
    let v = p.value(0)?;
    p.skip_ws();
    if p.pos != p.b.len() {
        return Err(p.err("unexpected text after the value"));
    }
    Ok(v)
}

/// Which characters separate tokens (Data.html v6.0, "Textual Representation").
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Single-line: only the space.
    Line,
    /// Multi-line: space, tab, CR, LF and `//` comments.
    Text,
}

struct Parser<'a> {
    s: &'a str,
    b: &'a [u8],
    pos: usize,
    mode: Mode,
}

/// Atom characters of the Perl reader (`CLI.pm` `readWord`); bytes >= 0x80
/// are the parts of non-ASCII UTF-8 characters.
fn is_atom_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c >= 0x80 || b"-_.@!#%:".contains(&c)
}

impl<'a> Parser<'a> {
    fn new(s: &'a str, mode: Mode) -> Self {
        Parser {
            s,
            b: s.as_bytes(),
            pos: 0,
            mode,
        }
    }

    fn err(&self, reason: &'static str) -> Error {
        Error::Syntax {
            pos: self.pos,
            reason,
        }
    }

    fn peek(&self) -> Option<u8> {
        self.b.get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        while let Some(c) = self.peek() {
            match (self.mode, c) {
                (_, b' ') | (Mode::Text, b'\t' | b'\r' | b'\n') => self.pos += 1,
                (Mode::Text, b'/') if self.b.get(self.pos + 1) == Some(&b'/') => {
                    while self.peek().is_some_and(|c| c != b'\n' && c != b'\r') {
                        self.pos += 1;
                    }
                }
                _ => break,
            }
        }
    }

    fn expect(&mut self, c: u8, reason: &'static str) -> Result<()> {
        if self.peek() == Some(c) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.err(reason))
        }
    }

    fn value(&mut self, depth: usize) -> Result<Value> {
        match self.peek() {
            None => Err(self.err("expected a value")),
            Some(b'{') => self.dict(depth + 1),
            Some(b'(') => self.array(depth + 1),
            Some(b'"') => self.quoted().map(Value::String),
            Some(b'[') => self.block(),
            Some(b'#') => self.hash_object(),
            Some(b'<') => Err(self.err("XML objects are not supported")),
            Some(c) if is_atom_byte(c) => Ok(Value::String(self.atom().to_owned())),
            Some(_) => Err(self.err("unexpected character")),
        }
    }

    fn atom(&mut self) -> &'a str {
        let start = self.pos;
        while self.peek().is_some_and(is_atom_byte) {
            self.pos += 1;
        }
        // Atom bytes stop only at ASCII bytes, so both ends are char boundaries.
        self.s.get(start..self.pos).unwrap_or_default()
    }

    fn quoted(&mut self) -> Result<String> {
        let mut out = String::new();
        loop {
            self.expect(b'"', "expected '\"'")?;
            self.quoted_body(&mut out)?;
            if self.mode == Mode::Line {
                return Ok(out);
            }
            // Multi-line text may split a long string into adjacent pieces
            // (CLI.pm readWord joins them).
            let end = self.pos;
            self.skip_ws();
            if self.peek() != Some(b'"') {
                self.pos = end;
                return Ok(out);
            }
        }
    }

    /// Reads after the opening quote up to and including the closing one.
    fn quoted_body(&mut self, out: &mut String) -> Result<()> {
        let mut run = self.pos;
        loop {
            match self.peek() {
                None => return Err(self.err("unterminated string")),
                Some(0) => return Err(self.err("NUL in string")),
                Some(b'"') => {
                    out.push_str(self.s.get(run..self.pos).unwrap_or_default());
                    self.pos += 1;
                    return Ok(());
                }
                Some(b'\\') => {
                    out.push_str(self.s.get(run..self.pos).unwrap_or_default());
                    self.pos += 1;
                    self.escape(out)?;
                    run = self.pos;
                }
                Some(_) => self.pos += 1,
            }
        }
    }

    /// Reads one escape after the backslash.
    fn escape(&mut self, out: &mut String) -> Result<()> {
        let Some(c) = self.peek() else {
            return Err(self.err("unterminated string"));
        };
        let simple = match c {
            b'"' => Some('"'),
            b'\\' => Some('\\'),
            b'r' => Some('\r'),
            b'n' => Some('\n'),
            // `\e` is "the system-independent End-Of-Line"; Mailnode runs on
            // Unix, where that is LF.
            b'e' => Some('\n'),
            b't' => Some('\t'),
            _ => None,
        };
        if let Some(ch) = simple {
            out.push(ch);
            self.pos += 1;
            return Ok(());
        }
        let digits = self.b.get(self.pos..self.pos + 3);
        if let Some(d) = digits.filter(|d| d.iter().all(u8::is_ascii_digit)) {
            let code = d
                .iter()
                .fold(0u32, |acc, &x| acc * 10 + u32::from(x - b'0'));
            match char::from_u32(code) {
                Some('\0') => return Err(self.err("NUL in string")),
                Some(ch) => out.push(ch),
                None => return Err(self.err("invalid character code")),
            }
            self.pos += 3;
            return Ok(());
        }
        // Like the Perl reader, an unknown escape keeps its backslash; the
        // following character is read as ordinary text.
        out.push('\\');
        Ok(())
    }

    fn block(&mut self) -> Result<Value> {
        let mut b64 = String::new();
        loop {
            self.expect(b'[', "expected '['")?;
            loop {
                match self.peek() {
                    None => return Err(self.err("unterminated data block")),
                    Some(b']') => {
                        self.pos += 1;
                        break;
                    }
                    Some(c) if c.is_ascii_alphanumeric() || matches!(c, b'+' | b'/' | b'=') => {
                        b64.push(char::from(c));
                        self.pos += 1;
                    }
                    Some(b' ' | b'\t' | b'\r' | b'\n') if self.mode == Mode::Text => self.pos += 1,
                    Some(_) => return Err(self.err("invalid character in data block")),
                }
            }
            let end = self.pos;
            self.skip_ws();
            if self.peek() != Some(b'[') {
                self.pos = end;
                break;
            }
        }
        base64::engine::general_purpose::STANDARD
            .decode(b64.as_bytes())
            .map(Value::Data)
            .map_err(|_| self.err("invalid base64 in data block"))
    }

    fn hash_object(&mut self) -> Result<Value> {
        let start = self.pos;
        let rest = self.b.get(start + 1..).unwrap_or_default();
        let v = if rest.starts_with(b"NULL#") {
            self.pos += 6;
            Value::Null
        } else if rest.starts_with(b"I[") {
            self.pos += 3;
            self.ip(start + 2)?
        } else if rest.first() == Some(&b'T') {
            self.pos += 2;
            self.date()?
        } else if rest
            .first()
            .is_some_and(|&c| c == b'-' || c.is_ascii_digit())
        {
            self.pos += 1;
            self.number()?
        } else {
            return Err(self.err("unknown '#' object"));
        };
        if self.peek().is_some_and(is_atom_byte) {
            return Err(self.err("unexpected character after '#' object"));
        }
        Ok(v)
    }

    fn number(&mut self) -> Result<Value> {
        let start = self.pos;
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        self.digits_run()?;
        self.s
            .get(start..self.pos)
            .and_then(|t| t.parse().ok())
            .map(Value::Number)
            .ok_or(Error::Syntax {
                pos: start,
                reason: "number out of range",
            })
    }

    fn digits_run(&mut self) -> Result<()> {
        let start = self.pos;
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.pos += 1;
        }
        if self.pos == start {
            return Err(self.err("expected digits"));
        }
        Ok(())
    }

    /// Exactly `n` digits as a number.
    fn fixed(&mut self, n: usize) -> Result<u32> {
        let d = self
            .b
            .get(self.pos..self.pos + n)
            .filter(|d| d.iter().all(u8::is_ascii_digit))
            .ok_or_else(|| self.err("invalid date"))?;
        self.pos += n;
        Ok(d.iter()
            .fold(0u32, |acc, &x| acc * 10 + u32::from(x - b'0')))
    }

    fn date(&mut self) -> Result<Value> {
        let start = self.pos;
        let day = self.fixed(2)?;
        self.expect(b'-', "invalid date")?;
        let month = self.fixed(2)?;
        self.expect(b'-', "invalid date")?;
        let year = self.fixed(4)?;
        let (mut h, mut m, mut s) = (0, 0, 0);
        if self.peek() == Some(b'_') {
            self.pos += 1;
            h = self.fixed(2)?;
            self.expect(b':', "invalid time")?;
            m = self.fixed(2)?;
            self.expect(b':', "invalid time")?;
            s = self.fixed(2)?;
        }
        i32::try_from(year)
            .ok()
            .and_then(|y| NaiveDate::from_ymd_opt(y, month, day))
            .and_then(|d| d.and_hms_opt(h, m, s))
            .map(Value::Date)
            .ok_or(Error::Syntax {
                pos: start,
                reason: "invalid date",
            })
    }

    /// Reads `#I[addr]` and an optional `:port`; `text_start` is where the
    /// stored text (from `[`) begins.
    fn ip(&mut self, text_start: usize) -> Result<Value> {
        let addr_start = self.pos;
        while self
            .peek()
            .is_some_and(|c| c.is_ascii_hexdigit() || c == b'.' || c == b':')
        {
            self.pos += 1;
        }
        if self.pos == addr_start {
            return Err(self.err("expected an IP address"));
        }
        self.expect(b']', "expected ']'")?;
        if self.peek() == Some(b':') {
            self.pos += 1;
            let port_start = self.pos;
            self.digits_run()?;
            let port = self.s.get(port_start..self.pos).unwrap_or_default();
            if port.parse::<u16>().is_err() {
                return Err(Error::Syntax {
                    pos: port_start,
                    reason: "port out of range",
                });
            }
        }
        let text = self.s.get(text_start..self.pos).unwrap_or_default();
        Ok(Value::Ip(text.to_owned()))
    }

    fn array(&mut self, depth: usize) -> Result<Value> {
        if depth > MAX_DEPTH {
            return Err(self.err("nesting too deep"));
        }
        self.expect(b'(', "expected '('")?;
        let mut items = Vec::new();
        loop {
            self.skip_ws();
            if self.peek() == Some(b')') {
                self.pos += 1;
                return Ok(Value::Array(items));
            }
            items.push(self.value(depth)?);
            self.skip_ws();
            match self.peek() {
                // A comma before ')' is accepted, as CLI.pm readArray does.
                Some(b',') => self.pos += 1,
                Some(b')') => {}
                _ => return Err(self.err("expected ',' or ')'")),
            }
        }
    }

    fn dict(&mut self, depth: usize) -> Result<Value> {
        if depth > MAX_DEPTH {
            return Err(self.err("nesting too deep"));
        }
        self.expect(b'{', "expected '{'")?;
        let mut dict = Dict::new();
        loop {
            self.skip_ws();
            let key = match self.peek() {
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(Value::Dict(dict));
                }
                Some(b'"') => self.quoted()?,
                Some(c) if is_atom_byte(c) => self.atom().to_owned(),
                _ => return Err(self.err("expected a key or '}'")),
            };
            self.skip_ws();
            self.expect(b'=', "expected '='")?;
            self.skip_ws();
            let value = self.value(depth)?;
            self.skip_ws();
            self.expect(b';', "expected ';'")?;
            // A repeated key keeps the last value, as the Perl reader does.
            dict.insert(key, value);
        }
    }
}

/// Whether a string prints bare. CommuniGate prints names such as
/// `mail.example.com` or `user@example.com` without quotes (the Guide's
/// `ListDomains` output), and every reader (ours, `CLI.pm`) takes them back
/// as atoms; a leading `#` would read as a number, so it is quoted.
fn is_plain_atom(s: &str) -> bool {
    !s.is_empty()
        && !s.starts_with(['#', '-', '.'])
        && s.bytes()
            .all(|c| c.is_ascii_alphanumeric() || b"-_.@".contains(&c))
}

fn write_string(s: &str, f: &mut impl fmt::Write) -> fmt::Result {
    if is_plain_atom(s) {
        return f.write_str(s);
    }
    f.write_char('"')?;
    for ch in s.chars() {
        match ch {
            '"' => f.write_str("\\\"")?,
            '\\' => f.write_str("\\\\")?,
            // Control characters as `\ddd`, as CLI.pm convertOutput does,
            // so output never breaks the line framing.
            c if c.is_ascii_control() => write!(f, "\\{:03}", u32::from(c))?,
            c => f.write_char(c)?,
        }
    }
    f.write_char('"')
}

fn write_scalar(v: &Value, f: &mut impl fmt::Write) -> fmt::Result {
    match v {
        Value::String(s) => write_string(s, f),
        Value::Number(n) => write!(f, "#{n}"),
        Value::Date(d) => write!(
            f,
            "#T{:02}-{:02}-{:04}_{:02}:{:02}:{:02}",
            d.day(),
            d.month(),
            d.year(),
            d.hour(),
            d.minute(),
            d.second()
        ),
        Value::Ip(s) => write!(f, "#I{s}"),
        Value::Data(d) => write!(
            f,
            "[{}]",
            base64::engine::general_purpose::STANDARD.encode(d)
        ),
        Value::Null => f.write_str("#NULL#"),
        Value::Array(a) => {
            f.write_char('(')?;
            for (i, item) in a.iter().enumerate() {
                if i > 0 {
                    f.write_str(", ")?;
                }
                write_scalar(item, f)?;
            }
            f.write_char(')')
        }
        Value::Dict(d) => {
            f.write_char('{')?;
            for (k, v) in d {
                write_string(k, f)?;
                f.write_char('=')?;
                write_scalar(v, f)?;
                f.write_char(';')?;
            }
            f.write_char('}')
        }
    }
}

/// Single-line text: arrays `(a, b)` (as the Guide's `ListDomains` output),
/// dictionaries `{a=b;c=d;}` with sorted keys (as CLI.pm writes them).
impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_scalar(self, f)
    }
}

fn indent(level: usize, out: &mut String) {
    for _ in 0..level {
        out.push_str("  ");
    }
}

fn pretty(v: &Value, level: usize, out: &mut String) {
    match v {
        Value::Dict(d) if !d.is_empty() => {
            out.push_str("{\n");
            for (k, v) in d {
                indent(level + 1, out);
                let _ = write_string(k, out);
                out.push_str(" = ");
                pretty(v, level + 1, out);
                out.push_str(";\n");
            }
            indent(level, out);
            out.push('}');
        }
        Value::Array(a)
            if a.iter()
                .any(|x| matches!(x, Value::Array(_) | Value::Dict(_))) =>
        {
            out.push_str("(\n");
            for (i, item) in a.iter().enumerate() {
                indent(level + 1, out);
                pretty(item, level + 1, out);
                out.push_str(if i + 1 < a.len() { ",\n" } else { "\n" });
            }
            indent(level, out);
            out.push(')');
        }
        // Writing to a String cannot fail.
        other => {
            let _ = write_scalar(other, out);
        }
    }
}

#[cfg(test)]
mod tests;
