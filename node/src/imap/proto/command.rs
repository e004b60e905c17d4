//! The IMAP command grammar (RFC 9051 §9, RFC 3501 §9, and the extension
//! commands of RFC 2177, 2342, 2971, 3691, 4315, 5161, 6851, with the
//! LIST-EXTENDED (RFC 5258, 5819), CONDSTORE (RFC 7162), BINARY (RFC 3516:
//! `literal8` in APPEND, FETCH BINARY), MULTIAPPEND (RFC 3502) and ESORT
//! (RFC 5267 `SORT RETURN`) syntax).
//!
//! Input is one framed command from [`super::receiver`], literals inline.
//! Mailbox names are decoded from modified UTF-7 (RFC 3501 §5.1.3) here,
//! so everything after the parser sees UTF-8 names.

use storage::Flags;

use super::sort::{SortCriterion, SortKey, ThreadAlgorithm};
use super::utf7;

/// A parsed command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    /// The client's tag.
    pub tag: String,
    /// What to do.
    pub kind: CommandKind,
}

/// The commands this server knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandKind {
    /// RFC 9051 §6.1.1.
    Capability,
    /// RFC 9051 §6.1.2.
    Noop,
    /// RFC 9051 §6.1.3.
    Logout,
    /// RFC 9051 §6.2.1.
    StartTls,
    /// RFC 9051 §6.2.2 with RFC 4959 initial response.
    Authenticate {
        /// SASL mechanism name.
        mechanism: String,
        /// Initial response (base64, `=` for empty).
        initial: Option<String>,
    },
    /// RFC 9051 §6.2.3.
    Login {
        /// User name.
        user: String,
        /// Password.
        password: String,
    },
    /// RFC 9051 §6.3.2 (`read_only`: EXAMINE, §6.3.3).
    Select {
        /// Mailbox (UTF-8).
        mailbox: String,
        /// EXAMINE.
        read_only: bool,
        /// The `(CONDSTORE)` parameter (RFC 7162 §3.1.8).
        condstore: bool,
        /// The `(QRESYNC ...)` parameter (RFC 7162 §3.2.5).
        qresync: Option<Qresync>,
    },
    /// RFC 9051 §6.3.4.
    Create(String),
    /// RFC 9051 §6.3.5.
    Delete(String),
    /// RFC 9051 §6.3.6.
    Rename {
        /// Existing name.
        from: String,
        /// New name.
        to: String,
    },
    /// RFC 9051 §6.3.7.
    Subscribe(String),
    /// RFC 9051 §6.3.8.
    Unsubscribe(String),
    /// RFC 9051 §6.3.9 LIST (with RFC 5258 options), RFC 3501 §6.3.9 LSUB.
    List {
        /// Reference name.
        reference: String,
        /// Mailbox patterns with `*` and `%` (several only in the
        /// extended syntax). Patterns that are not valid modified UTF-7
        /// name no mailbox and are left out, so this may be empty.
        patterns: Vec<String>,
        /// LSUB rather than LIST.
        lsub: bool,
        /// Selection options (RFC 5258 §3.1).
        select: ListSelect,
        /// Return options (RFC 5258 §3.2, RFC 5819).
        ret: ListReturn,
    },
    /// RFC 9051 §6.3.10 NAMESPACE.
    Namespace,
    /// RFC 9051 §6.3.11.
    Status {
        /// Mailbox.
        mailbox: String,
        /// Requested items.
        items: Vec<StatusItem>,
    },
    /// RFC 9051 §6.3.12, with several messages (RFC 3502 MULTIAPPEND).
    Append {
        /// Target mailbox.
        mailbox: String,
        /// The messages, at least one, in order.
        messages: Vec<AppendMessage>,
    },
    /// RFC 2177.
    Idle,
    /// RFC 3501 §6.4.1.
    Check,
    /// RFC 9051 §6.4.1.
    Close,
    /// RFC 3691 / RFC 9051 §6.4.2.
    Unselect,
    /// RFC 9051 §6.4.3 (with `uids`: UID EXPUNGE, RFC 4315 §2.1).
    Expunge {
        /// UID EXPUNGE set.
        uids: Option<SequenceSet>,
    },
    /// RFC 9051 §6.4.4.
    Search {
        /// UID SEARCH.
        uid: bool,
        /// Criteria (AND of the top-level keys).
        key: SearchKey,
        /// `RETURN (...)` options (RFC 4731 §3): an ESEARCH reply.
        ret: Option<SearchReturn>,
    },
    /// RFC 9051 §6.4.5.
    Fetch {
        /// UID FETCH.
        uid: bool,
        /// Messages.
        set: SequenceSet,
        /// Data items.
        items: Vec<FetchItem>,
        /// The CHANGEDSINCE modifier (RFC 7162 §3.1.4).
        changed_since: Option<u64>,
        /// The VANISHED modifier (RFC 7162 §3.2.6).
        vanished: bool,
    },
    /// RFC 9051 §6.4.6.
    Store {
        /// UID STORE.
        uid: bool,
        /// Messages.
        set: SequenceSet,
        /// Replace, add or remove.
        op: StoreOp,
        /// `.SILENT`.
        silent: bool,
        /// The flags and keywords.
        flags: FlagSet,
        /// The UNCHANGEDSINCE modifier (RFC 7162 §3.1.3).
        unchanged_since: Option<u64>,
    },
    /// RFC 9051 §6.4.7 COPY and RFC 6851 MOVE.
    Copy {
        /// UID COPY/MOVE.
        uid: bool,
        /// Messages.
        set: SequenceSet,
        /// Target mailbox.
        mailbox: String,
        /// MOVE.
        is_move: bool,
    },
    /// RFC 2971.
    Id,
    /// RFC 5161.
    Enable(Vec<String>),
    /// RFC 9208 §4.2: GETQUOTA of a quota root.
    GetQuota(String),
    /// RFC 9208 §4.3: GETQUOTAROOT of a mailbox.
    GetQuotaRoot(String),
    /// RFC 9208 §4.1: SETQUOTA (refused: limits come from the settings).
    SetQuota,
    /// RFC 5256 §3: SORT.
    Sort {
        /// UID SORT.
        uid: bool,
        /// Sort criteria, most significant first.
        criteria: Vec<SortCriterion>,
        /// Search criteria.
        key: SearchKey,
        /// `RETURN (...)` options (RFC 5267 §3.2, ESORT): an ESEARCH reply
        /// in sort order.
        ret: Option<SearchReturn>,
    },
    /// RFC 5256 §3: THREAD.
    Thread {
        /// UID THREAD.
        uid: bool,
        /// The algorithm.
        algorithm: ThreadAlgorithm,
        /// Search criteria.
        key: SearchKey,
    },
}

/// One message of an APPEND (RFC 3502 §6 `append-message`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppendMessage {
    /// Initial flags and keywords.
    pub flags: FlagSet,
    /// Internal date, unix seconds.
    pub date: Option<i64>,
    /// The message.
    pub message: Vec<u8>,
    /// Sent as `literal8` (`~{n}`, RFC 3516 §4.3): may hold binary data.
    pub binary: bool,
}

/// The QRESYNC parameter of SELECT/EXAMINE (RFC 7162 §3.2.5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Qresync {
    /// The UIDVALIDITY the client knows.
    pub uid_validity: u32,
    /// The last mod-sequence the client knows.
    pub modseq: u64,
    /// The UIDs the client knows (all when absent).
    pub known_uids: Option<SequenceSet>,
    /// Message numbers and their UIDs as the client knows them.
    pub seq_match: Option<(SequenceSet, SequenceSet)>,
}

/// The result options of `SEARCH RETURN (...)` (RFC 4731 §3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SearchReturn {
    /// MIN: the lowest match.
    pub min: bool,
    /// MAX: the highest match.
    pub max: bool,
    /// ALL: every match as a sequence set.
    pub all: bool,
    /// COUNT: the number of matches.
    pub count: bool,
    /// SAVE: keep the result for `$` (RFC 5182 §2.4).
    pub save: bool,
}

impl SearchReturn {
    /// RFC 5182 §2.4: SAVE alone asks for no ESEARCH response.
    pub fn only_save(&self) -> bool {
        self.save && !(self.min || self.max || self.all || self.count)
    }
}

/// STATUS data items (RFC 9051 §6.3.11).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusItem {
    /// MESSAGES.
    Messages,
    /// RECENT (IMAP4rev1).
    Recent,
    /// UIDNEXT.
    UidNext,
    /// UIDVALIDITY.
    UidValidity,
    /// UNSEEN.
    Unseen,
    /// DELETED (RFC 9051).
    Deleted,
    /// SIZE (RFC 9051).
    Size,
    /// HIGHESTMODSEQ (RFC 7162 §3.1.6).
    HighestModSeq,
}

/// System flags and keywords (RFC 9051 §2.3.2).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FlagSet {
    /// The system flags.
    pub system: Flags,
    /// Keywords as sent, unique ignoring ASCII case.
    pub keywords: Vec<String>,
}

impl From<Flags> for FlagSet {
    fn from(system: Flags) -> FlagSet {
        FlagSet {
            system,
            keywords: Vec::new(),
        }
    }
}

/// LIST selection options (RFC 5258 §3.1, RFC 6154 §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ListSelect {
    /// SUBSCRIBED.
    pub subscribed: bool,
    /// REMOTE (no remote mailboxes here: no effect).
    pub remote: bool,
    /// RECURSIVEMATCH.
    pub recursive: bool,
    /// SPECIAL-USE.
    pub special_use: bool,
}

/// LIST return options (RFC 5258 §3.2, RFC 5819, RFC 6154).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ListReturn {
    /// The extended syntax was used (selection options, several
    /// patterns or RETURN).
    pub extended: bool,
    /// CHILDREN.
    pub children: bool,
    /// SUBSCRIBED.
    pub subscribed: bool,
    /// SPECIAL-USE.
    pub special_use: bool,
    /// STATUS (items).
    pub status: Option<Vec<StatusItem>>,
}

/// STORE modes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreOp {
    /// FLAGS.
    Replace,
    /// +FLAGS.
    Add,
    /// -FLAGS.
    Remove,
}

/// One end of a sequence range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeqNum {
    /// A number.
    Value(u32),
    /// `*`: the largest number in use.
    Star,
}

/// A sequence set (RFC 9051 §9 `sequence-set`). The grammar needs at
/// least one number, so the empty set stands for `$`, the saved search
/// result (RFC 5182 §2.1), until the session replaces it; left in place,
/// it names no message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SequenceSet(pub Vec<(SeqNum, SeqNum)>);

impl SequenceSet {
    /// `$`, the saved search result (RFC 5182).
    pub fn saved() -> SequenceSet {
        SequenceSet(Vec::new())
    }

    /// Whether this is `$`.
    pub fn is_saved(&self) -> bool {
        self.0.is_empty()
    }

    /// The set of the given numbers (ascending or not).
    pub fn of(numbers: impl IntoIterator<Item = u32>) -> SequenceSet {
        SequenceSet(
            numbers
                .into_iter()
                .map(|n| (SeqNum::Value(n), SeqNum::Value(n)))
                .collect(),
        )
    }

    /// Whether `n` is in the set, `star` being the value of `*`.
    pub fn contains(&self, n: u32, star: u32) -> bool {
        self.0.iter().any(|&(a, b)| {
            let a = resolve(a, star);
            let b = resolve(b, star);
            (a.min(b)..=a.max(b)).contains(&n)
        })
    }
}

fn resolve(n: SeqNum, star: u32) -> u32 {
    match n {
        SeqNum::Value(v) => v,
        SeqNum::Star => star,
    }
}

/// A BODY[] section (RFC 9051 §6.4.5).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Section {
    /// Part numbers, e.g. `[1, 2]` for `1.2`.
    pub part: Vec<u32>,
    /// The text specifier after the part.
    pub text: Option<SectionText>,
}

/// Section text specifiers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SectionText {
    /// HEADER.
    Header,
    /// HEADER.FIELDS / HEADER.FIELDS.NOT.
    HeaderFields {
        /// `.NOT`.
        not: bool,
        /// Field names as sent.
        fields: Vec<String>,
    },
    /// TEXT.
    Text,
    /// MIME.
    Mime,
}

/// FETCH data items.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchItem {
    /// FLAGS.
    Flags,
    /// UID.
    Uid,
    /// INTERNALDATE.
    InternalDate,
    /// RFC822.SIZE.
    Rfc822Size,
    /// RFC822 (as BODY[]).
    Rfc822,
    /// RFC822.HEADER (as BODY.PEEK[HEADER]).
    Rfc822Header,
    /// RFC822.TEXT (as BODY[TEXT]).
    Rfc822Text,
    /// ENVELOPE.
    Envelope,
    /// BODY (structure without extension data).
    Body,
    /// BODYSTRUCTURE.
    BodyStructure,
    /// MODSEQ (RFC 7162 §3.1.4.1).
    ModSeq,
    /// BODY[section]<partial> and BODY.PEEK.
    Section {
        /// BODY.PEEK: do not set `\Seen`.
        peek: bool,
        /// Which part.
        section: Section,
        /// `<origin.count>`.
        partial: Option<(u32, u32)>,
    },
    /// BINARY[part]<partial> and BINARY.PEEK (RFC 3516 §4.1): the part
    /// with its content transfer encoding undone.
    Binary {
        /// BINARY.PEEK: do not set `\Seen`.
        peek: bool,
        /// Part numbers (empty: the whole message).
        part: Vec<u32>,
        /// `<origin.count>` of the decoded data.
        partial: Option<(u32, u32)>,
    },
    /// BINARY.SIZE[part] (RFC 3516 §4.1): the decoded size.
    BinarySize(Vec<u32>),
}

/// SEARCH keys (RFC 9051 §6.4.4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SearchKey {
    /// ALL.
    All,
    /// Has all these flags.
    Flags(Flags),
    /// Has none of these flags.
    NotFlags(Flags),
    /// NEW (recent and unseen).
    New,
    /// OLD.
    Old,
    /// RECENT.
    Recent,
    /// KEYWORD.
    Keyword(String),
    /// UNKEYWORD.
    Unkeyword(String),
    /// MODSEQ (RFC 7162 §3.1.5): mod-sequence at least this; the
    /// entry-name and type, if given, are ignored.
    ModSeq(u64),
    /// A header contains a substring (FROM, TO, CC, BCC, SUBJECT, HEADER).
    Header(String, String),
    /// BODY.
    Body(String),
    /// TEXT.
    Text(String),
    /// BEFORE/ON/SINCE on the internal date (days since epoch, compare).
    Date(DateCmp, i64),
    /// SENTBEFORE/SENTON/SENTSINCE on the Date header.
    SentDate(DateCmp, i64),
    /// LARGER.
    Larger(u64),
    /// SMALLER.
    Smaller(u64),
    /// UID set.
    Uid(SequenceSet),
    /// Sequence set.
    Seq(SequenceSet),
    /// NOT.
    Not(Box<SearchKey>),
    /// OR.
    Or(Box<SearchKey>, Box<SearchKey>),
    /// A parenthesised list (AND).
    And(Vec<SearchKey>),
}

/// Date comparisons of SEARCH.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DateCmp {
    /// Strictly earlier day.
    Before,
    /// Same day.
    On,
    /// Same or later day.
    Since,
}

/// Why a command could not be parsed. The driver answers `BAD`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct ParseError {
    /// The tag, when it could be read.
    pub tag: Option<String>,
    /// A short, client-safe explanation.
    pub reason: &'static str,
}

impl ParseError {
    /// Always `false`: the client sent something malformed.
    pub fn is_temporary(&self) -> bool {
        false
    }

    /// Whether the command was well formed but named a mailbox that is
    /// not valid modified UTF-7 (RFC 3501 §5.1.3): no mailbox can have
    /// that name, which calls for NO rather than BAD.
    pub fn is_bad_mailbox_name(&self) -> bool {
        self.reason == BAD_MAILBOX_NAME
    }
}

/// The reason for a mailbox name that is not valid modified UTF-7.
const BAD_MAILBOX_NAME: &str = "invalid mailbox name encoding";

/// Whether `b` may appear in a tag (`ATOM-CHAR` except `+`).
pub fn is_tag_char(b: u8) -> bool {
    is_atom_char(b) && b != b'+' && b != b']'
}

fn is_atom_char(b: u8) -> bool {
    b > 0x20 && b < 0x7f && !matches!(b, b'(' | b')' | b'{' | b'%' | b'*' | b'"' | b'\\')
}

type PResult<T> = Result<T, &'static str>;

/// Longest keyword accepted (a keyword is an atom, RFC 9051 §9; this
/// bounds the index line).
pub const MAX_KEYWORD_LEN: usize = 100;

/// Most keywords in one flag list.
pub const MAX_KEYWORDS: usize = 64;

/// A cursor over one command.
struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl<'a> Parser<'a> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn at_end(&self) -> bool {
        self.i >= self.s.len()
    }

    fn expect(&mut self, b: u8, what: &'static str) -> PResult<()> {
        if self.peek() == Some(b) {
            self.i += 1;
            Ok(())
        } else {
            Err(what)
        }
    }

    fn sp(&mut self) -> PResult<()> {
        self.expect(b' ', "expected a space")
    }

    fn eat(&mut self, b: u8) -> bool {
        if self.peek() == Some(b) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    fn end(&self) -> PResult<()> {
        if self.at_end() {
            Ok(())
        } else {
            Err("unexpected characters at the end")
        }
    }

    /// Bytes while `f` holds (at least one).
    fn take_while(&mut self, f: impl Fn(u8) -> bool, what: &'static str) -> PResult<&'a [u8]> {
        let start = self.i;
        while self.peek().is_some_and(&f) {
            self.i += 1;
        }
        if self.i == start {
            return Err(what);
        }
        Ok(&self.s[start..self.i])
    }

    fn atom(&mut self) -> PResult<String> {
        let a = self.take_while(|b| is_atom_char(b) && b != b']', "expected an atom")?;
        Ok(String::from_utf8_lossy(a).into_owned())
    }

    fn number(&mut self) -> PResult<u32> {
        let d = self.take_while(|b| b.is_ascii_digit(), "expected a number")?;
        std::str::from_utf8(d)
            .ok()
            .and_then(|d| d.parse().ok())
            .ok_or("number out of range")
    }

    fn number64(&mut self) -> PResult<u64> {
        let d = self.take_while(|b| b.is_ascii_digit(), "expected a number")?;
        std::str::from_utf8(d)
            .ok()
            .and_then(|d| d.parse().ok())
            .ok_or("number out of range")
    }

    fn quoted(&mut self) -> PResult<Vec<u8>> {
        self.expect(b'"', "expected a quoted string")?;
        let mut out = Vec::new();
        loop {
            match self.peek() {
                None | Some(b'\r' | b'\n') => return Err("unterminated quoted string"),
                Some(b'"') => {
                    self.i += 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    self.i += 1;
                    match self.peek() {
                        Some(c @ (b'"' | b'\\')) => out.push(c),
                        _ => return Err("bad escape in quoted string"),
                    }
                    self.i += 1;
                }
                Some(c) => {
                    out.push(c);
                    self.i += 1;
                }
            }
        }
    }

    fn literal(&mut self) -> PResult<Vec<u8>> {
        self.literal_or_literal8(false).map(|(v, _)| v)
    }

    /// `literal`, or with `allow8` also `literal8` (`~{n}`, RFC 3516
    /// §4.3); tells which it was. A plain literal may not carry NUL
    /// (RFC 9051 §9 `CHAR8`).
    fn literal_or_literal8(&mut self, allow8: bool) -> PResult<(Vec<u8>, bool)> {
        let binary = allow8 && self.eat(b'~');
        self.expect(b'{', "expected a literal")?;
        let n = self.number()? as usize;
        self.eat(b'+');
        self.expect(b'}', "bad literal")?;
        self.expect(b'\r', "bad literal")?;
        self.expect(b'\n', "bad literal")?;
        let end = self
            .i
            .checked_add(n)
            .filter(|&e| e <= self.s.len())
            .ok_or("short literal")?;
        let v = self.s[self.i..end].to_vec();
        self.i = end;
        if !binary && v.contains(&0) {
            return Err("NUL in a literal; use literal8 (~{n})");
        }
        Ok((v, binary))
    }

    fn string(&mut self) -> PResult<Vec<u8>> {
        match self.peek() {
            Some(b'"') => self.quoted(),
            Some(b'{') => self.literal(),
            _ => Err("expected a string"),
        }
    }

    /// astring: atom (with `]`) or string. 8-bit bytes are accepted in
    /// the atom form too: clients send UTF-8 search strings that way.
    fn astring_bytes(&mut self) -> PResult<Vec<u8>> {
        match self.peek() {
            Some(b'"' | b'{') => self.string(),
            _ => Ok(self
                .take_while(|b| is_atom_char(b) || b >= 0x80, "expected a string")?
                .to_vec()),
        }
    }

    fn astring(&mut self) -> PResult<String> {
        String::from_utf8(self.astring_bytes()?).map_err(|_| "invalid UTF-8")
    }

    fn mailbox(&mut self) -> PResult<String> {
        let raw = self.astring()?;
        let name = utf7::decode(&raw).ok_or(BAD_MAILBOX_NAME)?;
        Ok(if name.eq_ignore_ascii_case("INBOX") {
            "INBOX".into()
        } else {
            name
        })
    }

    /// list-mailbox: like astring but `%` and `*` allowed in the atom form.
    /// `None` when it is not valid modified UTF-7: it matches no name.
    fn list_mailbox(&mut self) -> PResult<Option<String>> {
        let raw = match self.peek() {
            Some(b'"' | b'{') => String::from_utf8(self.string()?).map_err(|_| "invalid UTF-8")?,
            _ => {
                let a = self.take_while(
                    |b| is_atom_char(b) || b == b'%' || b == b'*',
                    "expected a mailbox pattern",
                )?;
                String::from_utf8_lossy(a).into_owned()
            }
        };
        Ok(utf7::decode(&raw))
    }

    fn seq_num(&mut self) -> PResult<SeqNum> {
        if self.eat(b'*') {
            return Ok(SeqNum::Star);
        }
        match self.number()? {
            0 => Err("sequence number 0"),
            n => Ok(SeqNum::Value(n)),
        }
    }

    fn sequence_set(&mut self) -> PResult<SequenceSet> {
        // RFC 5182 §4: `$` stands alone.
        if self.eat(b'$') {
            return Ok(SequenceSet::saved());
        }
        let mut ranges = Vec::new();
        loop {
            let a = self.seq_num()?;
            let b = if self.eat(b':') { self.seq_num()? } else { a };
            ranges.push((a, b));
            if !self.eat(b',') {
                return Ok(SequenceSet(ranges));
            }
        }
    }

    /// A system flag, or (`Err` inside) a keyword.
    fn flag(&mut self) -> PResult<Result<Flags, String>> {
        let had_slash = self.eat(b'\\');
        let name = self.atom()?;
        if !had_slash {
            if name.len() > MAX_KEYWORD_LEN {
                return Err("keyword too long");
            }
            return Ok(Err(name));
        }
        Ok(Ok(match name.to_ascii_lowercase().as_str() {
            "seen" => Flags::SEEN,
            "answered" => Flags::ANSWERED,
            "flagged" => Flags::FLAGGED,
            "deleted" => Flags::DELETED,
            "draft" => Flags::DRAFT,
            // \Recent cannot be stored (RFC 3501 §2.3.2).
            "recent" => return Err("\\Recent cannot be set"),
            _ => return Err("unknown system flag"),
        }))
    }

    /// `(flag ...)` or, for STORE, flags without parentheses.
    fn flag_list(&mut self, parens_optional: bool) -> PResult<FlagSet> {
        let parens = self.eat(b'(');
        if !parens && !parens_optional {
            return Err("expected a flag list");
        }
        let mut flags = FlagSet::default();
        if parens && self.eat(b')') {
            return Ok(flags);
        }
        loop {
            match self.flag()? {
                Ok(f) => flags.system.insert(f),
                Err(k) => {
                    if !flags.keywords.iter().any(|o| o.eq_ignore_ascii_case(&k)) {
                        if flags.keywords.len() >= MAX_KEYWORDS {
                            return Err("too many keywords");
                        }
                        flags.keywords.push(k);
                    }
                }
            }
            if !self.eat(b' ') {
                break;
            }
        }
        if parens {
            self.expect(b')', "expected )")?;
        }
        Ok(flags)
    }
}

/// Parses one framed command.
///
/// # Errors
/// [`ParseError`] with the tag when one could be read.
pub fn parse_command(input: &[u8]) -> Result<Command, ParseError> {
    let mut p = Parser { s: input, i: 0 };
    let tag = p
        .take_while(is_tag_char, "missing tag")
        .map(|t| String::from_utf8_lossy(t).into_owned())
        .map_err(|reason| ParseError { tag: None, reason })?;
    let kind = (|| {
        p.sp()?;
        let name = p.atom()?.to_ascii_uppercase();
        let kind = parse_kind(&mut p, &name)?;
        p.end()?;
        Ok(kind)
    })()
    .map_err(|reason| ParseError {
        tag: Some(tag.clone()),
        reason,
    })?;
    Ok(Command { tag, kind })
}

fn parse_kind(p: &mut Parser<'_>, name: &str) -> PResult<CommandKind> {
    use CommandKind as K;
    Ok(match name {
        "CAPABILITY" => K::Capability,
        "NOOP" => K::Noop,
        "LOGOUT" => K::Logout,
        "STARTTLS" => K::StartTls,
        "CHECK" => K::Check,
        "CLOSE" => K::Close,
        "UNSELECT" => K::Unselect,
        "IDLE" => K::Idle,
        "NAMESPACE" => K::Namespace,
        "EXPUNGE" => K::Expunge { uids: None },
        "AUTHENTICATE" => {
            p.sp()?;
            let mechanism = p.atom()?;
            let initial = if p.eat(b' ') {
                let r = p.take_while(
                    |b| b.is_ascii_alphanumeric() || b"+/=".contains(&b),
                    "bad initial response",
                )?;
                Some(String::from_utf8_lossy(r).into_owned())
            } else {
                None
            };
            K::Authenticate { mechanism, initial }
        }
        "LOGIN" => {
            p.sp()?;
            let user = p.astring()?;
            p.sp()?;
            let password = p.astring()?;
            K::Login { user, password }
        }
        "SELECT" | "EXAMINE" => {
            p.sp()?;
            let mailbox = p.mailbox()?;
            let mut condstore = false;
            let mut qresync = None;
            if p.eat(b' ') {
                p.expect(b'(', "expected (")?;
                loop {
                    match p.atom()?.to_ascii_uppercase().as_str() {
                        "CONDSTORE" => condstore = true,
                        "QRESYNC" if qresync.is_none() => {
                            p.sp()?;
                            qresync = Some(qresync_param(p)?);
                        }
                        _ => return Err("unknown SELECT parameter"),
                    }
                    if !p.eat(b' ') {
                        break;
                    }
                }
                p.expect(b')', "expected )")?;
            }
            K::Select {
                mailbox,
                read_only: name == "EXAMINE",
                condstore,
                qresync,
            }
        }
        "CREATE" | "DELETE" | "SUBSCRIBE" | "UNSUBSCRIBE" => {
            p.sp()?;
            let mut mailbox = p.mailbox()?;
            if name == "CREATE" {
                // RFC 9051 §6.3.4: a trailing separator only declares intent.
                while mailbox.len() > 1 && mailbox.ends_with('/') {
                    mailbox.pop();
                }
            }
            match name {
                "CREATE" => K::Create(mailbox),
                "DELETE" => K::Delete(mailbox),
                "SUBSCRIBE" => K::Subscribe(mailbox),
                _ => K::Unsubscribe(mailbox),
            }
        }
        "RENAME" => {
            p.sp()?;
            let from = p.mailbox()?;
            p.sp()?;
            let to = p.mailbox()?;
            K::Rename { from, to }
        }
        "LIST" | "LSUB" => parse_list(p, name == "LSUB")?,
        "STATUS" => {
            p.sp()?;
            let mailbox = p.mailbox()?;
            p.sp()?;
            p.expect(b'(', "expected (")?;
            let items = status_items(p)?;
            K::Status { mailbox, items }
        }
        "APPEND" => {
            p.sp()?;
            let mailbox = p.mailbox()?;
            // RFC 3502 §6: 1*append-message, each `SP [flags SP] [date SP]
            // literal`.
            let mut messages = Vec::new();
            while p.eat(b' ') {
                if messages.len() >= MAX_APPEND_MESSAGES {
                    return Err("too many messages in one APPEND");
                }
                messages.push(append_message(p)?);
            }
            if messages.is_empty() {
                return Err("APPEND needs a message");
            }
            K::Append { mailbox, messages }
        }
        "SEARCH" => parse_search(p, false)?,
        "SORT" => parse_sort(p, false)?,
        "THREAD" => parse_thread(p, false)?,
        "FETCH" => parse_fetch(p, false)?,
        "STORE" => parse_store(p, false)?,
        "COPY" | "MOVE" => parse_copy(p, false, name == "MOVE")?,
        "UID" => {
            p.sp()?;
            let sub = p.atom()?.to_ascii_uppercase();
            match sub.as_str() {
                "SEARCH" => parse_search(p, true)?,
                "SORT" => parse_sort(p, true)?,
                "THREAD" => parse_thread(p, true)?,
                "FETCH" => parse_fetch(p, true)?,
                "STORE" => parse_store(p, true)?,
                "COPY" | "MOVE" => parse_copy(p, true, sub == "MOVE")?,
                "EXPUNGE" => {
                    p.sp()?;
                    K::Expunge {
                        uids: Some(p.sequence_set()?),
                    }
                }
                _ => return Err("unknown UID command"),
            }
        }
        "ID" => {
            // The parameters are only logged by other servers; accept any
            // well-formed list or NIL without interpreting it.
            p.sp()?;
            if p.peek() == Some(b'(') {
                skip_list(p)?;
            } else if !p.atom()?.eq_ignore_ascii_case("NIL") {
                return Err("expected a list or NIL");
            }
            K::Id
        }
        "ENABLE" => {
            let mut caps = Vec::new();
            while p.eat(b' ') {
                caps.push(p.atom()?.to_ascii_uppercase());
            }
            if caps.is_empty() {
                return Err("ENABLE needs a capability");
            }
            K::Enable(caps)
        }
        "GETQUOTA" => {
            p.sp()?;
            K::GetQuota(p.astring()?)
        }
        "GETQUOTAROOT" => {
            p.sp()?;
            K::GetQuotaRoot(p.mailbox()?)
        }
        "SETQUOTA" => {
            p.sp()?;
            p.astring()?;
            p.sp()?;
            if p.peek() != Some(b'(') {
                return Err("expected (");
            }
            skip_list(p)?;
            K::SetQuota
        }
        _ => return Err("unknown command"),
    })
}

/// Most messages in one MULTIAPPEND; the command's size is bounded by
/// [`super::receiver::MAX_COMMAND_LEN`] too.
pub const MAX_APPEND_MESSAGES: usize = 1000;

/// `[flag-list SP] [date-time SP] (literal / literal8)` (RFC 3502 §6,
/// RFC 3516 §4.3).
fn append_message(p: &mut Parser<'_>) -> PResult<AppendMessage> {
    let mut flags = FlagSet::default();
    if p.peek() == Some(b'(') {
        flags = p.flag_list(false)?;
        p.sp()?;
    }
    let mut date = None;
    if p.peek() == Some(b'"') {
        let d = p.quoted()?;
        date = Some(parse_date_time(&d).ok_or("bad date-time")?);
        p.sp()?;
    }
    let (message, binary) = p.literal_or_literal8(true)?;
    Ok(AppendMessage {
        flags,
        date,
        message,
        binary,
    })
}

/// `item ...)` after the `(` of STATUS or LIST RETURN STATUS.
fn status_items(p: &mut Parser<'_>) -> PResult<Vec<StatusItem>> {
    let mut items = Vec::new();
    loop {
        items.push(match p.atom()?.to_ascii_uppercase().as_str() {
            "MESSAGES" => StatusItem::Messages,
            "RECENT" => StatusItem::Recent,
            "UIDNEXT" => StatusItem::UidNext,
            "UIDVALIDITY" => StatusItem::UidValidity,
            "UNSEEN" => StatusItem::Unseen,
            "DELETED" => StatusItem::Deleted,
            "SIZE" => StatusItem::Size,
            "HIGHESTMODSEQ" => StatusItem::HighestModSeq,
            _ => return Err("unknown status item"),
        });
        if !p.eat(b' ') {
            break;
        }
    }
    p.expect(b')', "expected )")?;
    Ok(items)
}

/// Most patterns in one extended LIST.
const MAX_LIST_PATTERNS: usize = 32;

/// LIST and LSUB, with the RFC 5258 extended syntax for LIST:
/// `LIST [(select-opts)] ref (pattern ...)|pattern [RETURN (ret-opts)]`.
fn parse_list(p: &mut Parser<'_>, lsub: bool) -> PResult<CommandKind> {
    let mut select = ListSelect::default();
    let mut ret = ListReturn::default();
    p.sp()?;
    if !lsub && p.eat(b'(') {
        ret.extended = true;
        let mut first = true;
        while !p.eat(b')') {
            if !first {
                p.sp()?;
            }
            first = false;
            match p.atom()?.to_ascii_uppercase().as_str() {
                "SUBSCRIBED" => select.subscribed = true,
                "REMOTE" => select.remote = true,
                "RECURSIVEMATCH" => select.recursive = true,
                "SPECIAL-USE" => select.special_use = true,
                _ => return Err("unknown LIST selection option"),
            }
        }
        // RFC 5258 §3.1: RECURSIVEMATCH needs another option.
        if select.recursive && !select.subscribed {
            return Err("RECURSIVEMATCH needs SUBSCRIBED");
        }
        p.sp()?;
    }
    let reference = p.list_mailbox()?;
    p.sp()?;
    let mut patterns = Vec::new();
    if !lsub && p.eat(b'(') {
        ret.extended = true;
        for n in 0.. {
            if n >= MAX_LIST_PATTERNS {
                return Err("too many patterns");
            }
            patterns.extend(p.list_mailbox()?);
            if !p.eat(b' ') {
                break;
            }
        }
        p.expect(b')', "expected )")?;
    } else {
        patterns.extend(p.list_mailbox()?);
    }
    // An invalid reference makes every pattern name nothing.
    let reference = reference.unwrap_or_else(|| {
        patterns.clear();
        String::new()
    });
    if !lsub && p.eat(b' ') {
        if !p.atom()?.eq_ignore_ascii_case("RETURN") {
            return Err("expected RETURN");
        }
        ret.extended = true;
        p.sp()?;
        p.expect(b'(', "expected (")?;
        let mut first = true;
        while !p.eat(b')') {
            if !first {
                p.sp()?;
            }
            first = false;
            match p.atom()?.to_ascii_uppercase().as_str() {
                "CHILDREN" => ret.children = true,
                "SUBSCRIBED" => ret.subscribed = true,
                "SPECIAL-USE" => ret.special_use = true,
                "STATUS" => {
                    p.sp()?;
                    p.expect(b'(', "expected (")?;
                    ret.status = Some(status_items(p)?);
                }
                _ => return Err("unknown LIST return option"),
            }
        }
    }
    Ok(CommandKind::List {
        reference,
        patterns,
        lsub,
        select,
        ret,
    })
}

/// Skips a parenthesised list of strings, NILs and nested lists.
fn skip_list(p: &mut Parser<'_>) -> PResult<()> {
    p.expect(b'(', "expected (")?;
    let mut first = true;
    loop {
        if p.eat(b')') {
            return Ok(());
        }
        if !first {
            p.sp()?;
        }
        first = false;
        match p.peek() {
            Some(b'(') => skip_list(p)?,
            _ => {
                p.astring_bytes()?;
            }
        }
    }
}

fn parse_copy(p: &mut Parser<'_>, uid: bool, is_move: bool) -> PResult<CommandKind> {
    p.sp()?;
    let set = p.sequence_set()?;
    p.sp()?;
    let mailbox = p.mailbox()?;
    Ok(CommandKind::Copy {
        uid,
        set,
        mailbox,
        is_move,
    })
}

fn parse_store(p: &mut Parser<'_>, uid: bool) -> PResult<CommandKind> {
    p.sp()?;
    let set = p.sequence_set()?;
    p.sp()?;
    let mut unchanged_since = None;
    if p.eat(b'(') {
        if !p.atom()?.eq_ignore_ascii_case("UNCHANGEDSINCE") {
            return Err("unknown STORE modifier");
        }
        p.sp()?;
        unchanged_since = Some(p.number64()?);
        p.expect(b')', "expected )")?;
        p.sp()?;
    }
    let item = p.atom()?.to_ascii_uppercase();
    let (op, rest) = match item.as_bytes().first() {
        Some(b'+') => (StoreOp::Add, &item[1..]),
        Some(b'-') => (StoreOp::Remove, &item[1..]),
        _ => (StoreOp::Replace, &item[..]),
    };
    let silent = match rest {
        "FLAGS" => false,
        "FLAGS.SILENT" => true,
        _ => return Err("expected FLAGS"),
    };
    p.sp()?;
    let flags = p.flag_list(true)?;
    Ok(CommandKind::Store {
        uid,
        set,
        op,
        silent,
        flags,
        unchanged_since,
    })
}

fn parse_fetch(p: &mut Parser<'_>, uid: bool) -> PResult<CommandKind> {
    p.sp()?;
    let set = p.sequence_set()?;
    p.sp()?;
    let mut items = Vec::new();
    if p.eat(b'(') {
        loop {
            fetch_item(p, &mut items)?;
            if !p.eat(b' ') {
                break;
            }
        }
        p.expect(b')', "expected )")?;
    } else {
        fetch_item(p, &mut items)?;
    }
    let mut changed_since = None;
    let mut vanished = false;
    if p.eat(b' ') {
        p.expect(b'(', "expected (")?;
        loop {
            match p.atom()?.to_ascii_uppercase().as_str() {
                "CHANGEDSINCE" if changed_since.is_none() => {
                    p.sp()?;
                    changed_since = Some(p.number64()?);
                }
                "VANISHED" if !vanished => vanished = true,
                _ => return Err("unknown FETCH modifier"),
            }
            if !p.eat(b' ') {
                break;
            }
        }
        p.expect(b')', "expected )")?;
        // RFC 7162 §3.2.6: VANISHED only with CHANGEDSINCE.
        if vanished && changed_since.is_none() {
            return Err("VANISHED needs CHANGEDSINCE");
        }
        // RFC 7162 §3.1.4.1: CHANGEDSINCE implies MODSEQ.
        if !items.contains(&FetchItem::ModSeq) {
            items.push(FetchItem::ModSeq);
        }
    }
    Ok(CommandKind::Fetch {
        uid,
        set,
        items,
        changed_since,
        vanished,
    })
}

/// `(uidvalidity modseq [known-uids [(seq-set uid-set)]])` after
/// `QRESYNC ` (RFC 7162 §3.2.5, §7 `select-param`).
fn qresync_param(p: &mut Parser<'_>) -> PResult<Qresync> {
    p.expect(b'(', "expected (")?;
    let uid_validity = p.number()?;
    if uid_validity == 0 {
        return Err("UIDVALIDITY must be non-zero");
    }
    p.sp()?;
    let modseq = p.number64()?;
    if modseq == 0 {
        return Err("mod-sequence must be non-zero");
    }
    let mut known_uids = None;
    let mut seq_match = None;
    if p.eat(b' ') {
        if p.peek() != Some(b'(') {
            known_uids = Some(p.sequence_set()?).filter(|s| !s.is_saved());
            if known_uids.is_none() {
                return Err("$ is not a known-uids set");
            }
            if !p.eat(b' ') {
                p.expect(b')', "expected )")?;
                return Ok(Qresync {
                    uid_validity,
                    modseq,
                    known_uids,
                    seq_match,
                });
            }
        }
        p.expect(b'(', "expected (")?;
        let seqs = p.sequence_set()?;
        p.sp()?;
        let uids = p.sequence_set()?;
        p.expect(b')', "expected )")?;
        seq_match = Some((seqs, uids));
    }
    p.expect(b')', "expected )")?;
    Ok(Qresync {
        uid_validity,
        modseq,
        known_uids,
        seq_match,
    })
}

fn fetch_item(p: &mut Parser<'_>, items: &mut Vec<FetchItem>) -> PResult<()> {
    let name = p
        .take_while(
            |b| b.is_ascii_alphanumeric() || b == b'.',
            "expected a fetch item",
        )?
        .to_ascii_uppercase();
    use FetchItem as F;
    match &name[..] {
        b"ALL" => items.extend([F::Flags, F::InternalDate, F::Rfc822Size, F::Envelope]),
        b"FAST" => items.extend([F::Flags, F::InternalDate, F::Rfc822Size]),
        b"FULL" => items.extend([
            F::Flags,
            F::InternalDate,
            F::Rfc822Size,
            F::Envelope,
            F::Body,
        ]),
        b"FLAGS" => items.push(F::Flags),
        b"UID" => items.push(F::Uid),
        b"INTERNALDATE" => items.push(F::InternalDate),
        b"RFC822.SIZE" => items.push(F::Rfc822Size),
        b"RFC822" => items.push(F::Rfc822),
        b"RFC822.HEADER" => items.push(F::Rfc822Header),
        b"RFC822.TEXT" => items.push(F::Rfc822Text),
        b"ENVELOPE" => items.push(F::Envelope),
        b"BODYSTRUCTURE" => items.push(F::BodyStructure),
        b"MODSEQ" => items.push(F::ModSeq),
        b"BINARY" | b"BINARY.PEEK" | b"BINARY.SIZE" => {
            // RFC 3516 §6: section-binary = "[" [section-part] "]".
            p.expect(b'[', "expected [")?;
            let mut part = Vec::new();
            if p.peek().is_some_and(|b| b.is_ascii_digit()) {
                loop {
                    let n = p.number()?;
                    if n == 0 {
                        return Err("part number 0");
                    }
                    part.push(n);
                    if !p.eat(b'.') {
                        break;
                    }
                }
            }
            p.expect(b']', "expected ] (BINARY takes part numbers only)")?;
            if name == b"BINARY.SIZE" {
                items.push(F::BinarySize(part));
                return Ok(());
            }
            let partial = partial(p)?;
            items.push(F::Binary {
                peek: name == b"BINARY.PEEK",
                part,
                partial,
            });
        }
        b"BODY" | b"BODY.PEEK" => {
            let peek = name == b"BODY.PEEK";
            if p.peek() != Some(b'[') {
                if peek {
                    return Err("BODY.PEEK needs a section");
                }
                items.push(F::Body);
                return Ok(());
            }
            p.i += 1;
            let section = section(p)?;
            p.expect(b']', "expected ]")?;
            let partial = partial(p)?;
            items.push(F::Section {
                peek,
                section,
                partial,
            });
        }
        _ => return Err("unknown fetch item"),
    }
    Ok(())
}

/// `<origin.count>` after a section, if present.
fn partial(p: &mut Parser<'_>) -> PResult<Option<(u32, u32)>> {
    if !p.eat(b'<') {
        return Ok(None);
    }
    let origin = p.number()?;
    p.expect(b'.', "expected .")?;
    let count = p.number()?;
    if count == 0 {
        return Err("partial count 0");
    }
    p.expect(b'>', "expected >")?;
    Ok(Some((origin, count)))
}

fn section(p: &mut Parser<'_>) -> PResult<Section> {
    let mut s = Section::default();
    while p.peek().is_some_and(|b| b.is_ascii_digit()) {
        let n = p.number()?;
        if n == 0 {
            return Err("part number 0");
        }
        s.part.push(n);
        if !p.eat(b'.') {
            return Ok(s);
        }
    }
    if p.peek() == Some(b']') {
        if !s.part.is_empty() {
            return Err("bad section");
        }
        return Ok(s);
    }
    let name = p
        .take_while(|b| b.is_ascii_alphabetic() || b == b'.', "bad section")?
        .to_ascii_uppercase();
    s.text = Some(match &name[..] {
        b"HEADER" => SectionText::Header,
        b"TEXT" => SectionText::Text,
        b"MIME" if !s.part.is_empty() => SectionText::Mime,
        b"HEADER.FIELDS" | b"HEADER.FIELDS.NOT" => {
            p.sp()?;
            p.expect(b'(', "expected (")?;
            let mut fields = Vec::new();
            loop {
                fields.push(p.astring()?);
                if !p.eat(b' ') {
                    break;
                }
            }
            p.expect(b')', "expected )")?;
            SectionText::HeaderFields {
                not: name.ends_with(b".NOT"),
                fields,
            }
        }
        _ => return Err("bad section"),
    });
    Ok(s)
}

fn parse_search(p: &mut Parser<'_>, uid: bool) -> PResult<CommandKind> {
    let mut keys = Vec::new();
    let mut ret = None;
    if p.s[p.i..].to_ascii_uppercase().starts_with(b" RETURN ") {
        p.sp()?;
        p.atom()?;
        p.sp()?;
        ret = Some(search_return(p)?);
    }
    while p.eat(b' ') {
        if keys.is_empty() && p.s[p.i..].to_ascii_uppercase().starts_with(b"CHARSET ") {
            p.atom()?;
            p.sp()?;
            let charset = p.astring()?;
            if !charset.eq_ignore_ascii_case("UTF-8") && !charset.eq_ignore_ascii_case("US-ASCII") {
                return Err("[BADCHARSET (UTF-8 US-ASCII)] unsupported charset");
            }
            continue;
        }
        keys.push(search_key(p, 0)?);
    }
    if keys.is_empty() {
        return Err("SEARCH needs criteria");
    }
    let key = if keys.len() == 1 {
        keys.remove(0)
    } else {
        SearchKey::And(keys)
    };
    Ok(CommandKind::Search { uid, key, ret })
}

/// ` charset key...` of SORT and THREAD (RFC 5256 §5: the charset is
/// required).
fn charset_and_keys(p: &mut Parser<'_>) -> PResult<SearchKey> {
    p.sp()?;
    let charset = p.astring()?;
    if !charset.eq_ignore_ascii_case("UTF-8") && !charset.eq_ignore_ascii_case("US-ASCII") {
        return Err("[BADCHARSET (UTF-8 US-ASCII)] unsupported charset");
    }
    let mut keys = Vec::new();
    while p.eat(b' ') {
        keys.push(search_key(p, 0)?);
    }
    Ok(match keys.len() {
        0 => return Err("search criteria missing"),
        1 => keys.remove(0),
        _ => SearchKey::And(keys),
    })
}

/// `SORT [RETURN (opts)] (criteria) charset keys` (RFC 5256 §5 `sort`,
/// RFC 5267 §5 `extended-sort`).
fn parse_sort(p: &mut Parser<'_>, uid: bool) -> PResult<CommandKind> {
    p.sp()?;
    let mut ret = None;
    if p.s[p.i..].to_ascii_uppercase().starts_with(b"RETURN ") {
        p.atom()?;
        p.sp()?;
        ret = Some(search_return(p)?);
        p.sp()?;
    }
    p.expect(b'(', "expected (")?;
    let mut criteria = Vec::new();
    loop {
        let mut word = p.atom()?.to_ascii_uppercase();
        let reverse = word == "REVERSE";
        if reverse {
            p.sp()?;
            word = p.atom()?.to_ascii_uppercase();
        }
        let key = match word.as_str() {
            "ARRIVAL" => SortKey::Arrival,
            "CC" => SortKey::Cc,
            "DATE" => SortKey::Date,
            "DISPLAYFROM" => SortKey::DisplayFrom,
            "DISPLAYTO" => SortKey::DisplayTo,
            "FROM" => SortKey::From,
            "SIZE" => SortKey::Size,
            "SUBJECT" => SortKey::Subject,
            "TO" => SortKey::To,
            _ => return Err("unknown sort key"),
        };
        criteria.push(SortCriterion { key, reverse });
        if !p.eat(b' ') {
            break;
        }
    }
    p.expect(b')', "expected )")?;
    let key = charset_and_keys(p)?;
    Ok(CommandKind::Sort {
        uid,
        criteria,
        key,
        ret,
    })
}

/// `THREAD algorithm charset keys` (RFC 5256 §5 `thread`).
fn parse_thread(p: &mut Parser<'_>, uid: bool) -> PResult<CommandKind> {
    p.sp()?;
    let algorithm = match p.atom()?.to_ascii_uppercase().as_str() {
        "ORDEREDSUBJECT" => ThreadAlgorithm::OrderedSubject,
        "REFERENCES" => ThreadAlgorithm::References,
        _ => return Err("unsupported threading algorithm"),
    };
    let key = charset_and_keys(p)?;
    Ok(CommandKind::Thread {
        uid,
        algorithm,
        key,
    })
}

/// `(option ...)` of `SEARCH RETURN` (RFC 4731 §3.1); `()` means ALL.
fn search_return(p: &mut Parser<'_>) -> PResult<SearchReturn> {
    p.expect(b'(', "expected (")?;
    let mut r = SearchReturn::default();
    if p.eat(b')') {
        r.all = true;
        return Ok(r);
    }
    loop {
        match p.atom()?.to_ascii_uppercase().as_str() {
            "MIN" => r.min = true,
            "MAX" => r.max = true,
            "ALL" => r.all = true,
            "COUNT" => r.count = true,
            "SAVE" => r.save = true,
            _ => return Err("unknown SEARCH return option"),
        }
        if !p.eat(b' ') {
            break;
        }
    }
    p.expect(b')', "expected )")?;
    Ok(r)
}

/// Deepest nesting of NOT/OR/parentheses accepted, so hostile input
/// cannot exhaust the stack.
const MAX_SEARCH_DEPTH: usize = 32;

fn search_key(p: &mut Parser<'_>, depth: usize) -> PResult<SearchKey> {
    use SearchKey as S;
    if depth > MAX_SEARCH_DEPTH {
        return Err("search criteria nested too deeply");
    }
    if p.eat(b'(') {
        let mut keys = vec![search_key(p, depth + 1)?];
        while p.eat(b' ') {
            keys.push(search_key(p, depth + 1)?);
        }
        p.expect(b')', "expected )")?;
        return Ok(S::And(keys));
    }
    if p.peek()
        .is_some_and(|b| b.is_ascii_digit() || b == b'*' || b == b'$')
    {
        return Ok(S::Seq(p.sequence_set()?));
    }
    let name = p.atom()?.to_ascii_uppercase();
    let flag = |f| Ok(S::Flags(f));
    let not_flag = |f| Ok(S::NotFlags(f));
    match name.as_str() {
        "ALL" => Ok(S::All),
        "ANSWERED" => flag(Flags::ANSWERED),
        "DELETED" => flag(Flags::DELETED),
        "DRAFT" => flag(Flags::DRAFT),
        "FLAGGED" => flag(Flags::FLAGGED),
        "SEEN" => flag(Flags::SEEN),
        "UNANSWERED" => not_flag(Flags::ANSWERED),
        "UNDELETED" => not_flag(Flags::DELETED),
        "UNDRAFT" => not_flag(Flags::DRAFT),
        "UNFLAGGED" => not_flag(Flags::FLAGGED),
        "UNSEEN" => not_flag(Flags::SEEN),
        "NEW" => Ok(S::New),
        "OLD" => Ok(S::Old),
        "RECENT" => Ok(S::Recent),
        "KEYWORD" | "UNKEYWORD" => {
            p.sp()?;
            let k = p.atom()?;
            Ok(if name == "KEYWORD" {
                S::Keyword(k)
            } else {
                S::Unkeyword(k)
            })
        }
        "MODSEQ" => {
            p.sp()?;
            // RFC 7162 §3.1.5: [entry-name entry-type-req] mod-sequence.
            if p.peek() == Some(b'"') {
                p.quoted()?;
                p.sp()?;
                let t = p.atom()?.to_ascii_lowercase();
                if !matches!(t.as_str(), "priv" | "shared" | "all") {
                    return Err("bad MODSEQ entry type");
                }
                p.sp()?;
            }
            Ok(S::ModSeq(p.number64()?))
        }
        "FROM" | "TO" | "CC" | "BCC" | "SUBJECT" => {
            p.sp()?;
            let v = p.astring()?;
            let field = name[..1].to_string() + &name[1..].to_ascii_lowercase();
            Ok(S::Header(field, v))
        }
        "HEADER" => {
            p.sp()?;
            let field = p.astring()?;
            p.sp()?;
            let v = p.astring()?;
            Ok(S::Header(field, v))
        }
        "BODY" | "TEXT" => {
            p.sp()?;
            let v = p.astring()?;
            Ok(if name == "BODY" {
                S::Body(v)
            } else {
                S::Text(v)
            })
        }
        "BEFORE" | "ON" | "SINCE" | "SENTBEFORE" | "SENTON" | "SENTSINCE" => {
            p.sp()?;
            let d = p.astring()?;
            let day = parse_date(d.as_bytes()).ok_or("bad date")?;
            let cmp = match name.trim_start_matches("SENT") {
                "BEFORE" => DateCmp::Before,
                "ON" => DateCmp::On,
                _ => DateCmp::Since,
            };
            Ok(if name.starts_with("SENT") {
                S::SentDate(cmp, day)
            } else {
                S::Date(cmp, day)
            })
        }
        "LARGER" | "SMALLER" => {
            p.sp()?;
            let n = p.number64()?;
            Ok(if name == "LARGER" {
                S::Larger(n)
            } else {
                S::Smaller(n)
            })
        }
        "UID" => {
            p.sp()?;
            Ok(S::Uid(p.sequence_set()?))
        }
        "NOT" => {
            p.sp()?;
            Ok(S::Not(Box::new(search_key(p, depth + 1)?)))
        }
        "OR" => {
            p.sp()?;
            let a = search_key(p, depth + 1)?;
            p.sp()?;
            let b = search_key(p, depth + 1)?;
            Ok(S::Or(Box::new(a), Box::new(b)))
        }
        _ => Err("unknown search key"),
    }
}

const MONTHS: [&str; 12] = [
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];

/// `d-Mon-yyyy` (RFC 9051 §9 `date`) as days since the unix epoch.
pub fn parse_date(s: &[u8]) -> Option<i64> {
    let s = std::str::from_utf8(s).ok()?;
    let mut it = s.splitn(3, '-');
    let day: u32 = it.next()?.trim_start().parse().ok()?;
    let mon = it.next()?.to_ascii_uppercase();
    let month = MONTHS.iter().position(|m| *m == mon)? as u32 + 1;
    let year: i32 = it.next()?.parse().ok()?;
    let date = chrono::NaiveDate::from_ymd_opt(year, month, day)?;
    Some(
        date.signed_duration_since(chrono::NaiveDate::default())
            .num_days(),
    )
}

/// `dd-Mon-yyyy hh:mm:ss +zzzz` (RFC 9051 §9 `date-time`) as unix seconds.
pub fn parse_date_time(s: &[u8]) -> Option<i64> {
    let s = std::str::from_utf8(s).ok()?;
    let (date, rest) = s.trim_start().split_once(' ')?;
    let days = parse_date(date.as_bytes())?;
    let (time, zone) = rest.split_once(' ')?;
    let t: Vec<i64> = time
        .split(':')
        .map(|x| x.parse().ok())
        .collect::<Option<_>>()?;
    let [h, m, sec] = t[..] else { return None };
    if h > 23 || m > 59 || sec > 60 || zone.len() != 5 {
        return None;
    }
    let sign = match zone.as_bytes()[0] {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let zh: i64 = zone.get(1..3)?.parse().ok()?;
    let zm: i64 = zone.get(3..5)?.parse().ok()?;
    Some(days * 86400 + h * 3600 + m * 60 + sec - sign * (zh * 3600 + zm * 60))
}

#[cfg(test)]
mod tests;
