//! SEARCH evaluation (RFC 9051 §6.4.4): one message against a
//! [`SearchKey`]. String criteria compare case-insensitively against the
//! decoded header and body text ([`Parsed`]); dates compare whole days,
//! the internal date in UTC and the Date header in its own zone.

use storage::Flags;

use super::command::{DateCmp, SearchKey, SearchReturn};
use super::message::{Parsed, lower};

/// What SEARCH knows of one message.
pub struct Candidate<'a> {
    /// Message number.
    pub seq: u32,
    /// UID.
    pub uid: u32,
    /// Flags.
    pub flags: Flags,
    /// Keywords.
    pub keywords: &'a [String],
    /// The message's mod-sequence (RFC 7162).
    pub modseq: u64,
    /// `\Recent` in this session.
    pub recent: bool,
    /// RFC822.SIZE.
    pub size: u64,
    /// Internal date, unix seconds.
    pub internal_date: i64,
    /// The last message number (`*`).
    pub max_seq: u32,
    /// The highest UID (`*` in UID sets).
    pub max_uid: u32,
    /// The parsed message, or its header, as [`needs_content`] said.
    pub parsed: Option<&'a Parsed<'a>>,
}

/// Whether `key` has a MODSEQ criterion (RFC 7162 §3.1.5: the response
/// then carries the highest mod-sequence of the matches).
pub fn uses_modseq(key: &SearchKey) -> bool {
    match key {
        SearchKey::ModSeq(_) => true,
        SearchKey::Not(k) => uses_modseq(k),
        SearchKey::Or(a, b) => uses_modseq(a) || uses_modseq(b),
        SearchKey::And(keys) => keys.iter().any(uses_modseq),
        _ => false,
    }
}

/// How much of a message evaluating a key needs, least first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Content {
    /// Index data only (flags, dates, sizes, UIDs).
    None,
    /// The header of the whole message (header fields, the sent date):
    /// [`Parsed`] of [`header_of`](super::message::header_of) the message
    /// answers them as the whole message does, without parsing its body.
    Header,
    /// The whole message (body and text searches).
    Whole,
}

/// What evaluating `key` needs of each message.
pub fn needs_content(key: &SearchKey) -> Content {
    match key {
        SearchKey::Header(..) | SearchKey::SentDate(..) => Content::Header,
        SearchKey::Body(_) | SearchKey::Text(_) => Content::Whole,
        SearchKey::Not(k) => needs_content(k),
        SearchKey::Or(a, b) => needs_content(a).max(needs_content(b)),
        SearchKey::And(keys) => keys
            .iter()
            .map(needs_content)
            .max()
            .unwrap_or(Content::None),
        _ => Content::None,
    }
}

fn cmp_day(cmp: DateCmp, day: i64, target: i64) -> bool {
    match cmp {
        DateCmp::Before => day < target,
        DateCmp::On => day == target,
        DateCmp::Since => day >= target,
    }
}

/// Whether the candidate matches `key`.
pub fn matches(key: &SearchKey, c: &Candidate<'_>) -> bool {
    use SearchKey as S;
    match key {
        S::All => true,
        S::Keyword(k) => c.keywords.iter().any(|m| m.eq_ignore_ascii_case(k)),
        S::Unkeyword(k) => !c.keywords.iter().any(|m| m.eq_ignore_ascii_case(k)),
        S::ModSeq(m) => c.modseq >= *m,
        S::Flags(f) => c.flags.contains(*f),
        S::NotFlags(f) => !c.flags.contains(*f),
        S::New => c.recent && !c.flags.contains(Flags::SEEN),
        S::Old => !c.recent,
        S::Recent => c.recent,
        S::Header(field, value) => c
            .parsed
            .is_some_and(|p| p.header_contains(field, &lower(value))),
        S::Body(v) => c.parsed.is_some_and(|p| p.body_contains(&lower(v))),
        S::Text(v) => c.parsed.is_some_and(|p| p.text_contains(&lower(v))),
        S::Date(cmp, target) => cmp_day(*cmp, c.internal_date.div_euclid(86400), *target),
        S::SentDate(cmp, target) => c
            .parsed
            .and_then(Parsed::sent_day)
            .is_some_and(|d| cmp_day(*cmp, d, *target)),
        S::Larger(n) => c.size > *n,
        S::Smaller(n) => c.size < *n,
        S::Uid(set) => set.contains(c.uid, c.max_uid),
        S::Seq(set) => set.contains(c.seq, c.max_seq),
        S::Not(k) => !matches(k, c),
        S::Or(a, b) => matches(a, c) || matches(b, c),
        S::And(keys) => keys.iter().all(|k| matches(k, c)),
    }
}

/// The MODSEQ of a SEARCH answer with a MODSEQ criterion (RFC 7162
/// §3.1.5), from the mod-sequences of the matches in order: the highest of
/// the messages the answer reports, which for ESEARCH `RETURN (MIN)`,
/// `(MAX)` or `(MIN MAX)` are just those (RFC 7162 §3.1.5, RFC 4731).
/// `None` without matches.
pub fn result_modseq(ret: Option<SearchReturn>, modseqs: &[u64]) -> Option<u64> {
    match ret {
        Some(r) if (r.min || r.max) && !r.all && !r.count => {
            let min = r.min.then(|| modseqs.first()).flatten();
            let max = r.max.then(|| modseqs.last()).flatten();
            min.into_iter().chain(max).max().copied()
        }
        _ => modseqs.iter().max().copied(),
    }
}

#[cfg(test)]
mod tests {
    use super::super::command::{CommandKind, parse_command};
    use super::super::message::header_of;
    use super::*;

    const MSG: &[u8] = b"From: =?ISO-8859-1?Q?Andr=E9?= Pirard <PIRARD@vm1.ulg.ac.be>\r\n\
To: alice@example.test\r\nSubject: =?utf-8?q?Gr=C3=BC=C3=9Fe?= from Li\xc3\xa8ge\r\n\
Date: Mon, 7 Feb 1994 21:52:25 -0800\r\nX-Tag: Blue\r\n\r\nHello W\xc3\x96rld\r\n";

    fn search(criteria: &str, flags: Flags) -> bool {
        let cmd = parse_command(format!("a SEARCH {criteria}").as_bytes()).expect("parses");
        let CommandKind::Search { key, .. } = cmd.kind else {
            panic!()
        };
        let content = needs_content(&key);
        let parsed = Parsed::new(match content {
            Content::Header => header_of(MSG),
            _ => MSG,
        });
        let c = Candidate {
            seq: 2,
            uid: 20,
            flags,
            keywords: &["$Forwarded".to_string()],
            modseq: 12,
            recent: false,
            size: MSG.len() as u64,
            internal_date: 760_000_000,
            max_seq: 3,
            max_uid: 30,
            parsed: (content != Content::None).then_some(&parsed),
        };
        matches(&key, &c)
    }

    #[test]
    fn decoded_substrings_case_insensitive() {
        for yes in [
            "FROM andré",
            "FROM pirard@VM1",
            "SUBJECT grüße",
            "SUBJECT \"FROM LI\u{e8}GE\"",
            "HEADER X-Tag blue",
            "HEADER X-Tag \"\"",
            "BODY \"wörld\"",
            "TEXT alice@example",
            "TEXT hello",
            "TO ALICE",
        ] {
            assert!(search(yes, Flags::EMPTY), "{yes}");
        }
        for no in [
            "FROM bob",
            "SUBJECT hello",
            "HEADER X-Other \"\"",
            "BODY alice",
            "CC a",
        ] {
            assert!(!search(no, Flags::EMPTY), "{no}");
        }
    }

    #[test]
    fn content_needed_is_the_most_any_criterion_needs() {
        let needs = |criteria: &str| {
            let cmd = parse_command(format!("a SEARCH {criteria}").as_bytes()).expect("parses");
            let CommandKind::Search { key, .. } = cmd.kind else {
                panic!()
            };
            needs_content(&key)
        };
        assert_eq!(needs("SEEN LARGER 10 ON 1-Feb-1994"), Content::None);
        assert_eq!(needs("SUBJECT x"), Content::Header);
        assert_eq!(needs("NOT SENTON 7-Feb-1994"), Content::Header);
        assert_eq!(needs("SEEN (FROM a HEADER X-Tag b)"), Content::Header);
        assert_eq!(needs("OR SUBJECT x BODY y"), Content::Whole);
        assert_eq!(needs("TEXT y SEEN"), Content::Whole);
    }

    #[test]
    fn flags_sets_dates_sizes_and_logic() {
        let seen = Flags::SEEN;
        assert!(search("SEEN UNDELETED", seen));
        assert!(!search("UNSEEN", seen));
        assert!(search("OR DELETED SEEN", seen));
        assert!(search("NOT (DELETED FLAGGED)", seen));
        assert!(search("2:3 UID 20", seen));
        assert!(search("*:2", seen));
        assert!(search("SENTON 7-Feb-1994", seen));
        assert!(search("SENTBEFORE 8-Feb-1994 SENTSINCE 7-Feb-1994", seen));
        // 760000000 is 1994-01-31 07:06:40 UTC.
        assert!(search(
            "ON 31-Jan-1994 SINCE 1-Jan-1994 BEFORE \"1-Feb-1994\"",
            seen
        ));
        assert!(search(
            &format!("LARGER {} SMALLER {}", MSG.len() - 1, MSG.len() + 1),
            seen
        ));
        assert!(!search("KEYWORD $Junk", seen));
        assert!(search("CHARSET UTF-8 UNKEYWORD $Junk", seen));
        assert!(search("KEYWORD $forwarded", seen));
        assert!(!search("UNKEYWORD $FORWARDED", seen));
        // RFC 7162 §3.1.5 example syntax.
        assert!(search("MODSEQ \"/flags/\\\\draft\" all 12", seen));
        assert!(search("MODSEQ 11", seen));
        assert!(!search("MODSEQ 13", seen));
    }

    #[test]
    fn rfc7162_3_1_5_modseq_of_reported_messages() {
        let ret = |min, max, all, count| {
            Some(SearchReturn {
                min,
                max,
                all,
                count,
                save: false,
            })
        };
        let m = [6, 8, 7];
        assert_eq!(result_modseq(None, &m), Some(8));
        assert_eq!(result_modseq(ret(true, false, false, false), &m), Some(6));
        assert_eq!(result_modseq(ret(false, true, false, false), &m), Some(7));
        assert_eq!(result_modseq(ret(true, true, false, false), &m), Some(7));
        assert_eq!(result_modseq(ret(true, false, true, false), &m), Some(8));
        assert_eq!(result_modseq(ret(false, false, false, true), &m), Some(8));
        assert_eq!(result_modseq(ret(true, true, false, false), &[]), None);
    }
}
