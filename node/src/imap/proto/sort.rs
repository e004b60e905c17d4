//! SORT and THREAD=ORDEREDSUBJECT (RFC 5256): base subjects, the sort
//! keys, and the thread tree as the `* THREAD` response writes it.
//!
//! Comparisons use the `i;ascii-casemap` collation (RFC 5256 §3: ASCII
//! letters compared in upper case), and ties are broken by the message's
//! number, which orders the same way as its UID. A message whose Date
//! header does not parse sorts by its internal date (§3 DATE).

use std::cmp::Ordering;

/// A SORT key (RFC 5256 §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortKey {
    /// Internal date and time.
    Arrival,
    /// First Cc address's mailbox (local part).
    Cc,
    /// RFC 5957 DISPLAYFROM: the first From address's display name, else
    /// its addr-spec.
    DisplayFrom,
    /// RFC 5957 DISPLAYTO: the same for To.
    DisplayTo,
    /// Sent date (Date header, UTC), else the internal date.
    Date,
    /// First From address's mailbox.
    From,
    /// RFC822.SIZE.
    Size,
    /// Base subject (§2.1).
    Subject,
    /// First To address's mailbox.
    To,
}

/// A THREAD algorithm (RFC 5256 §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThreadAlgorithm {
    /// ORDEREDSUBJECT: by base subject, then sent date.
    OrderedSubject,
    /// REFERENCES: by Message-ID links, then base subject.
    References,
}

/// One SORT criterion: a key and `REVERSE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SortCriterion {
    /// The key.
    pub key: SortKey,
    /// `REVERSE` before it.
    pub reverse: bool,
}

/// What SORT and THREAD compare for one message.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SortFields {
    /// The number reported (message number, or UID for UID SORT/THREAD).
    pub id: u32,
    /// Internal date (seconds since the epoch).
    pub arrival: i64,
    /// Sent date, or the internal date when the Date header is unusable.
    pub date: i64,
    /// RFC822.SIZE.
    pub size: u64,
    /// Base subject, ASCII upper case.
    pub subject: String,
    /// First From mailbox, ASCII upper case.
    pub from: String,
    /// First To mailbox, ASCII upper case.
    pub to: String,
    /// First Cc mailbox, ASCII upper case.
    pub cc: String,
    /// DISPLAYFROM key (RFC 5957), lower case.
    pub display_from: String,
    /// DISPLAYTO key (RFC 5957), lower case.
    pub display_to: String,
    /// The subject was a reply or forward (THREAD=REFERENCES).
    pub reply: bool,
    /// Message-ID without angle brackets (THREAD=REFERENCES).
    pub message_id: Option<String>,
    /// References, or else the first In-Reply-To id, oldest first.
    pub references: Vec<String>,
}

impl SortFields {
    fn cmp_by(&self, other: &SortFields, key: SortKey) -> Ordering {
        match key {
            SortKey::Arrival => self.arrival.cmp(&other.arrival),
            SortKey::Cc => self.cc.cmp(&other.cc),
            SortKey::DisplayFrom => self.display_from.cmp(&other.display_from),
            SortKey::DisplayTo => self.display_to.cmp(&other.display_to),
            SortKey::Date => self.date.cmp(&other.date),
            SortKey::From => self.from.cmp(&other.from),
            SortKey::Size => self.size.cmp(&other.size),
            SortKey::Subject => self.subject.cmp(&other.subject),
            SortKey::To => self.to.cmp(&other.to),
        }
    }
}

/// Orders `msgs` by `criteria`, ties by number (RFC 5256 §3).
pub fn sort(msgs: &mut [SortFields], criteria: &[SortCriterion]) {
    msgs.sort_by(|a, b| {
        criteria
            .iter()
            .map(|c| {
                let o = a.cmp_by(b, c.key);
                if c.reverse { o.reverse() } else { o }
            })
            .find(|o| o.is_ne())
            .unwrap_or_else(|| a.id.cmp(&b.id))
    });
}

/// THREAD=ORDEREDSUBJECT (RFC 5256 §3): messages grouped by base
/// subject, each group in sent-date order with the first as the parent of
/// all others, groups ordered by the date of their first message. Returns
/// the thread list as `* THREAD` writes it, e.g. `(3 (4)(6))(5 7)(9)`.
pub fn ordered_subject(msgs: &[SortFields]) -> String {
    let mut sorted: Vec<&SortFields> = msgs.iter().collect();
    sorted.sort_by(|a, b| (&a.subject, a.date, a.id).cmp(&(&b.subject, b.date, b.id)));
    let mut groups: Vec<Vec<&SortFields>> = Vec::new();
    for m in sorted {
        match groups.last_mut() {
            Some(g) if g[0].subject == m.subject => g.push(m),
            _ => groups.push(vec![m]),
        }
    }
    groups.sort_by_key(|g| (g[0].date, g[0].id));
    let mut out = String::new();
    for g in groups {
        out.push('(');
        out.push_str(&g[0].id.to_string());
        match &g[1..] {
            [] => {}
            [only] => out.push_str(&format!(" {}", only.id)),
            rest => {
                out.push(' ');
                for m in rest {
                    out.push_str(&format!("({})", m.id));
                }
            }
        }
        out.push(')');
    }
    out
}

/// How far up a thread the REFERENCES algorithm looks for loops; a
/// longer chain is not extended (it starts a new thread instead).
const MAX_ANCESTRY: usize = 1000;

/// One container of the REFERENCES algorithm: a message (`msg`, an index
/// into the input) or a dummy standing for a referenced message that is not
/// in the set.
#[derive(Debug, Default, Clone)]
struct Node {
    msg: Option<usize>,
    parent: Option<usize>,
    children: Vec<usize>,
}

/// THREAD=REFERENCES (RFC 5256 §3, after Jamie Zawinski's algorithm):
/// threads from Message-ID, References and In-Reply-To, then roots with
/// the same base subject gathered. Returns the `* THREAD` thread list.
pub fn references(msgs: &[SortFields]) -> String {
    use std::collections::HashMap;
    let mut nodes: Vec<Node> = Vec::new();
    let mut by_id: HashMap<String, usize> = HashMap::new();
    // Whether `anc` is `n` or above it; a chain longer than the bound
    // counts as one, so hostile References cannot make linking quadratic.
    let is_ancestor = |nodes: &[Node], anc: usize, mut n: usize| {
        for _ in 0..MAX_ANCESTRY {
            if n == anc {
                return true;
            }
            match nodes[n].parent {
                Some(p) => n = p,
                None => return false,
            }
        }
        true
    };
    let link = |nodes: &mut Vec<Node>, parent: usize, child: usize| {
        if let Some(old) = nodes[child].parent.take() {
            nodes[old].children.retain(|&c| c != child);
        }
        nodes[child].parent = Some(parent);
        nodes[parent].children.push(child);
    };
    // Step 1: containers and links.
    for (i, m) in msgs.iter().enumerate() {
        // A missing or duplicate Message-ID makes the message unique.
        let own = match m.message_id.as_ref().and_then(|id| match by_id.get(id) {
            Some(&n) if nodes[n].msg.is_none() => Some(n),
            Some(_) => None,
            None => {
                nodes.push(Node::default());
                by_id.insert(id.clone(), nodes.len() - 1);
                Some(nodes.len() - 1)
            }
        }) {
            Some(n) => n,
            None => {
                nodes.push(Node::default());
                nodes.len() - 1
            }
        };
        nodes[own].msg = Some(i);
        // 1A: each reference is the parent of the next, unless that one
        // already has a parent or a loop would form.
        let mut prev: Option<usize> = None;
        for r in &m.references {
            let n = match by_id.get(r) {
                Some(&n) => n,
                None => {
                    nodes.push(Node::default());
                    by_id.insert(r.clone(), nodes.len() - 1);
                    nodes.len() - 1
                }
            };
            if let Some(p) = prev
                && nodes[n].parent.is_none()
                && !is_ancestor(&nodes, n, p)
            {
                link(&mut nodes, p, n);
            }
            prev = Some(n);
        }
        // 1B: the last reference is the message's parent.
        match prev {
            Some(p) if p != own && !is_ancestor(&nodes, own, p) => link(&mut nodes, p, own),
            _ => {
                if let Some(old) = nodes[own].parent.take() {
                    nodes[old].children.retain(|&c| c != own);
                }
            }
        }
    }
    // Steps 2 and 3: the root set, with empty dummies pruned and dummies'
    // children promoted (a dummy stays only as a root of 2+ children).
    // Threads may be arbitrarily deep, so no step here recurses.
    let roots: Vec<usize> = (0..nodes.len())
        .filter(|&n| nodes[n].parent.is_none())
        .collect();
    let mut order = Vec::new();
    let mut stack = roots.clone();
    while let Some(n) = stack.pop() {
        order.push(n);
        stack.extend(nodes[n].children.iter().copied());
    }
    let mut dropped = vec![false; nodes.len()];
    // Children before parents: a dropped child's children move up.
    for &n in order.iter().rev() {
        let mut kids = Vec::new();
        for k in std::mem::take(&mut nodes[n].children) {
            if dropped[k] {
                kids.append(&mut nodes[k].children);
            } else {
                kids.push(k);
            }
        }
        for &k in &kids {
            nodes[k].parent = Some(n);
        }
        nodes[n].children = kids;
        dropped[n] = nodes[n].msg.is_none() && nodes[n].parent.is_some();
    }
    let mut roots: Vec<usize> = roots
        .into_iter()
        .flat_map(|r| {
            if nodes[r].msg.is_none() && nodes[r].children.len() < 2 {
                let kids = std::mem::take(&mut nodes[r].children);
                for &k in &kids {
                    nodes[k].parent = None;
                }
                kids
            } else {
                vec![r]
            }
        })
        .collect();
    // Step 4 (and 6): siblings by sent date, ties by number; a dummy (only
    // ever a root, over messages) by its first child.
    let key_of = |nodes: &[Node], n: usize| -> (i64, u32) {
        let m = nodes[n]
            .msg
            .or_else(|| nodes[n].children.first().and_then(|&c| nodes[c].msg));
        m.map_or((0, 0), |m| (msgs[m].date, msgs[m].id))
    };
    let sort_children = |nodes: &mut Vec<Node>, roots: &mut Vec<usize>| {
        for n in 0..nodes.len() {
            let mut kids = std::mem::take(&mut nodes[n].children);
            kids.sort_by_key(|&k| key_of(nodes, k));
            nodes[n].children = kids;
        }
        roots.sort_by_key(|&n| key_of(nodes, n));
    };
    sort_children(&mut nodes, &mut roots);
    // Step 5: roots with the same base subject are gathered.
    let subject_of = |nodes: &[Node], n: usize| {
        let m = nodes[n]
            .msg
            .or_else(|| nodes[n].children.first().and_then(|&c| nodes[c].msg));
        m.map(|m| &msgs[m])
    };
    let mut table: HashMap<&str, usize> = HashMap::new();
    for &r in &roots {
        let Some(f) = subject_of(&nodes, r).filter(|f| !f.subject.is_empty()) else {
            continue;
        };
        match table.get(f.subject.as_str()) {
            None => {
                table.insert(&f.subject, r);
            }
            Some(&old) => {
                let old_dummy = nodes[old].msg.is_none();
                let old_reply = nodes[old].msg.is_some_and(|m| msgs[m].reply);
                let this_dummy = nodes[r].msg.is_none();
                let this_reply = nodes[r].msg.is_some_and(|m| msgs[m].reply);
                if (this_dummy && !old_dummy) || (old_reply && !this_dummy && !this_reply) {
                    table.insert(&f.subject, r);
                }
            }
        }
    }
    let mut out_roots: Vec<usize> = Vec::new();
    for &r in &roots {
        let target = subject_of(&nodes, r)
            .filter(|f| !f.subject.is_empty())
            .and_then(|f| table.get(f.subject.as_str()).copied())
            .filter(|&t| t != r);
        let Some(t) = target else {
            out_roots.push(r);
            continue;
        };
        let (t_dummy, r_dummy) = (nodes[t].msg.is_none(), nodes[r].msg.is_none());
        let r_reply = nodes[r].msg.is_some_and(|m| msgs[m].reply);
        let t_reply = nodes[t].msg.is_some_and(|m| msgs[m].reply);
        if t_dummy && r_dummy {
            let kids = std::mem::take(&mut nodes[r].children);
            for k in kids {
                link(&mut nodes, t, k);
            }
        } else if t_dummy || (r_reply && !t_reply) {
            // A message under the dummy, or a reply under the original.
            link(&mut nodes, t, r);
        } else {
            // Siblings under a new dummy that takes the table entry's place.
            nodes.push(Node::default());
            let d = nodes.len() - 1;
            link(&mut nodes, d, t);
            link(&mut nodes, d, r);
            // The table entry may come later in the root set: then the
            // dummy takes this place and the entry joins it when reached.
            match out_roots.iter().position(|&x| x == t) {
                Some(pos) => out_roots[pos] = d,
                None => out_roots.push(d),
            }
            // Later roots with this subject join the dummy.
            let subject = subject_of(&nodes, t)
                .map(|f| f.subject.as_str())
                .unwrap_or_default();
            table.insert(subject, d);
        }
    }
    // Step 6: sort again after the merges.
    sort_children(&mut nodes, &mut out_roots);
    // The thread list: `n` then one child inline, or each child in
    // parentheses; a dummy root writes only its children.
    enum Step {
        Node(usize),
        Text(&'static str),
    }
    let mut out = String::new();
    let mut stack: Vec<Step> = Vec::new();
    for &r in out_roots.iter().rev() {
        stack.extend([Step::Text(")"), Step::Node(r), Step::Text("(")]);
    }
    while let Some(step) = stack.pop() {
        let n = match step {
            Step::Text(t) => {
                out.push_str(t);
                continue;
            }
            Step::Node(n) => n,
        };
        if let Some(m) = nodes[n].msg {
            out.push_str(&msgs[m].id.to_string());
        }
        match nodes[n].children.as_slice() {
            [] => {}
            [only] if nodes[n].msg.is_some() => {
                stack.extend([Step::Node(*only), Step::Text(" ")]);
            }
            kids => {
                for &k in kids.iter().rev() {
                    stack.extend([Step::Text(")"), Step::Node(k), Step::Text("(")]);
                }
                if nodes[n].msg.is_some() {
                    stack.push(Step::Text(" "));
                }
            }
        }
    }
    out
}

/// The base subject (RFC 5256 §2.1), ASCII upper case for comparison.
pub fn base_subject(subject: &str) -> String {
    base_subject_and_reply(subject).0
}

/// The base subject and whether the subject was a reply or forward
/// (RFC 5256 §2.1: a `subj-refwd`, `(fwd)` or `[fwd: ]` was removed).
pub fn base_subject_and_reply(subject: &str) -> (String, bool) {
    let mut reply = false;
    // (1) Folding whitespace and runs of blanks become one space.
    let mut s = String::with_capacity(subject.len());
    for c in subject.chars() {
        let c = if matches!(c, '\t' | '\r' | '\n') {
            ' '
        } else {
            c
        };
        if !(c == ' ' && s.ends_with(' ')) {
            s.push(c);
        }
    }
    loop {
        // (2) Trailing "(fwd)" and blanks.
        loop {
            let t = s.trim_end_matches(' ').len();
            if t < s.len() {
                s.truncate(t);
            } else if ends_with_ci(&s, "(fwd)") {
                s.truncate(s.len() - 5);
                reply = true;
            } else {
                break;
            }
        }
        // (3)-(5) Leading "Re:", "Fwd:", "[blob]" and blanks.
        loop {
            let before = s.len();
            while let Some(n) = leader_len(&s) {
                reply |= !s.starts_with(' ');
                s.drain(..n);
            }
            if let Some(n) = blob_len(&s)
                && !s[n..].trim_matches(' ').is_empty()
            {
                s.drain(..n);
            }
            if s.len() == before {
                break;
            }
        }
        // (6) "[fwd: ...]" around the whole subject.
        if s.len() >= 6 && starts_with_ci(&s, "[fwd:") && s.ends_with(']') {
            s = s[5..s.len() - 1].to_owned();
            reply = true;
            continue;
        }
        break;
    }
    (s.to_ascii_uppercase(), reply)
}

/// ASCII case-insensitive prefix test that never splits a character.
fn starts_with_ci(s: &str, prefix: &str) -> bool {
    s.as_bytes()
        .get(..prefix.len())
        .is_some_and(|b| b.eq_ignore_ascii_case(prefix.as_bytes()))
}

/// ASCII case-insensitive suffix test that never splits a character.
fn ends_with_ci(s: &str, suffix: &str) -> bool {
    s.len() >= suffix.len()
        && s.as_bytes()[s.len() - suffix.len()..].eq_ignore_ascii_case(suffix.as_bytes())
}

/// The length of a `subj-blob` at the start of `s`: `[`, no brackets,
/// `]`, blanks.
fn blob_len(s: &str) -> Option<usize> {
    let rest = s.strip_prefix('[')?;
    let close = rest.find([']', '['])?;
    if rest.as_bytes()[close] != b']' {
        return None;
    }
    let after = &rest[close + 1..];
    Some(1 + close + 1 + (after.len() - after.trim_start_matches(' ').len()))
}

/// The length of a `subj-leader` at the start of `s`: a blank, or
/// `*subj-blob ("re" / "fw" / "fwd") *WSP [subj-blob] ":"`.
fn leader_len(s: &str) -> Option<usize> {
    if s.starts_with(' ') {
        return Some(1);
    }
    let mut i = 0;
    while let Some(n) = blob_len(&s[i..]) {
        i += n;
    }
    let word = ["fwd", "fw", "re"]
        .into_iter()
        .find(|w| starts_with_ci(&s[i..], w))?;
    i += word.len();
    i += s[i..].len() - s[i..].trim_start_matches(' ').len();
    if let Some(n) = blob_len(&s[i..]) {
        i += n;
    }
    s[i..].starts_with(':').then_some(i + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 5256 §2.1 rules, one example each.
    #[test]
    fn rfc5256_2_1_base_subject() {
        for (subject, base) in [
            ("Hello", "HELLO"),
            ("Re: Hello", "HELLO"),
            ("RE: re:  Fwd: Hello", "HELLO"),
            ("Re[2]: Hello", "HELLO"),
            ("Re : Hello", "HELLO"),
            ("fw: Hello", "HELLO"),
            ("Fwd: Hello (fwd)", "HELLO"),
            ("Hello (FWD) (fwd) ", "HELLO"),
            ("[mailnode] Re: Hello", "HELLO"),
            ("Re: [mailnode] Hello", "HELLO"),
            ("[a][b] Re: [c] Hello", "HELLO"),
            ("[PATCH]", "[PATCH]"),
            ("[fwd: Re: Hello]", "HELLO"),
            ("[Fwd: [fwd: Hello (fwd)]]", "HELLO"),
            ("Hello\r\n\tworld", "HELLO WORLD"),
            ("  Hello   world  ", "HELLO WORLD"),
            ("Reply: x", "REPLY: X"),
            ("Re:", ""),
            ("", ""),
            ("Grüße", "GRüßE"),
            ("Re: ü", "ü"),
            ("ü(fwd)", "ü"),
            ("[ü] Re: x", "X"),
        ] {
            assert_eq!(base_subject(subject), base, "{subject:?}");
        }
    }

    fn msg(id: u32, date: i64, subject: &str, from: &str, size: u64) -> SortFields {
        SortFields {
            id,
            arrival: 1000 - i64::from(id),
            date,
            size,
            subject: base_subject(subject),
            from: from.to_ascii_uppercase(),
            ..SortFields::default()
        }
    }

    #[test]
    fn rfc5256_3_sort_keys_reverse_and_ties() {
        let mut m = vec![
            msg(1, 30, "Re: beta", "carol", 10),
            msg(2, 10, "alpha", "bob", 30),
            msg(3, 20, "Beta", "alice", 20),
            msg(4, 10, "ALPHA", "bob", 30),
        ];
        let c = |key, reverse| SortCriterion { key, reverse };
        let ids = |m: &[SortFields]| m.iter().map(|f| f.id).collect::<Vec<_>>();
        sort(&mut m, &[c(SortKey::Subject, false)]);
        assert_eq!(ids(&m), [2, 4, 1, 3]);
        sort(
            &mut m,
            &[c(SortKey::Subject, false), c(SortKey::Date, true)],
        );
        assert_eq!(ids(&m), [2, 4, 1, 3]);
        sort(&mut m, &[c(SortKey::Date, false)]);
        assert_eq!(ids(&m), [2, 4, 3, 1]);
        sort(&mut m, &[c(SortKey::Size, true), c(SortKey::From, false)]);
        assert_eq!(ids(&m), [2, 4, 3, 1]);
        sort(&mut m, &[c(SortKey::Arrival, false)]);
        assert_eq!(ids(&m), [4, 3, 2, 1]);
        sort(&mut m, &[c(SortKey::From, false)]);
        assert_eq!(ids(&m), [3, 2, 4, 1]);
    }

    /// RFC 5957 §2 with imaptest's `sort-display-from` messages.
    #[test]
    fn rfc5957_display_from() {
        let froms = [
            "foo bar <a@b.c>",
            "b@c.d",
            "d",
            "=?iso-8859-1?q?foo_aar?= <e@f.g>",
            "=?iso-8859-1?q?foo_car?= <f@g.h>",
            "group: x@y.z;",
        ];
        let mut m: Vec<SortFields> = froms
            .iter()
            .enumerate()
            .map(|(i, f)| {
                let raw = format!("From: {f}\r\n\r\nbody\r\n");
                SortFields {
                    id: i as u32 + 1,
                    display_from: super::super::message::Parsed::new(raw.as_bytes())
                        .display_name("From"),
                    ..SortFields::default()
                }
            })
            .collect();
        let c = |key, reverse| SortCriterion { key, reverse };
        let ids = |m: &[SortFields]| m.iter().map(|f| f.id).collect::<Vec<_>>();
        sort(&mut m, &[c(SortKey::DisplayFrom, false)]);
        assert_eq!(ids(&m), [2, 3, 4, 1, 5, 6]);
        sort(&mut m, &[c(SortKey::DisplayFrom, true)]);
        assert_eq!(ids(&m), [6, 5, 1, 4, 3, 2]);
    }

    /// RFC 5256 §4 response shape: `(root)`, `(root child)`,
    /// `(root (child)(child))`.
    #[test]
    fn rfc5256_ordered_subject_threads() {
        let m = vec![
            msg(1, 50, "Re: lunch", "", 0),
            msg(2, 10, "lunch", "", 0),
            msg(3, 20, "meeting", "", 0),
            msg(4, 60, "Fwd: lunch", "", 0),
            msg(5, 30, "Re: meeting", "", 0),
            msg(6, 40, "other", "", 0),
        ];
        assert_eq!(ordered_subject(&m), "(2 (1)(4))(3 5)(6)");
        assert_eq!(ordered_subject(&[]), "");
    }

    fn threaded(id: u32, date: i64, subject: &str, mid: Option<&str>, refs: &[&str]) -> SortFields {
        let (subject, reply) = base_subject_and_reply(subject);
        SortFields {
            id,
            date,
            subject,
            reply,
            message_id: mid.map(str::to_owned),
            references: refs.iter().map(|r| r.to_string()).collect(),
            ..SortFields::default()
        }
    }

    /// RFC 5256 §3 REFERENCES: links from References, dummies for missing
    /// parents, pruning, subject gathering (dummy, reply under original,
    /// new dummy for two originals), duplicate and missing Message-IDs,
    /// and a self-reference.
    #[test]
    fn rfc5256_references_threads() {
        let m = vec![
            threaded(1, 10, "Lunch", Some("a"), &[]),
            threaded(2, 20, "Re: Lunch", Some("b"), &["a"]),
            threaded(3, 30, "Re: Lunch", Some("c"), &["a", "b"]),
            threaded(4, 25, "Re: Lunch", Some("d"), &["a"]),
            threaded(5, 5, "Meeting", Some("e"), &["x", "y"]),
            threaded(6, 40, "Re: Meeting", Some("f"), &["y"]),
            threaded(7, 50, "Re: Meeting", Some("g"), &[]),
            threaded(8, 60, "Lunch", Some("h"), &[]),
            threaded(9, 1, "other", None, &[]),
            threaded(10, 70, "dup", Some("a"), &[]),
            threaded(11, 80, "self", Some("k"), &["k"]),
        ];
        assert_eq!(references(&m), "(9)((5)(6)(7))((1 (2 3)(4))(8))(10)(11)");
        assert_eq!(references(&[]), "");
        // A reply whose parent is missing and an original with its subject.
        let m = vec![
            threaded(1, 10, "Re: plan", Some("r"), &["gone"]),
            threaded(2, 20, "plan", Some("p"), &[]),
        ];
        assert_eq!(references(&m), "(2 1)");
    }

    /// Deep and hostile reference chains neither recurse nor take
    /// quadratic time: past [`MAX_ANCESTRY`] a chain starts a new thread.
    #[test]
    fn references_deep_chains_are_bounded() {
        let n = 5000u32;
        let m: Vec<SortFields> = (1..=n)
            .map(|i| {
                let prev = format!("m{}", i - 1);
                let refs: Vec<&str> = if i > 1 { vec![prev.as_str()] } else { vec![] };
                threaded(i, i64::from(i), "s", Some(&format!("m{i}")), &refs)
            })
            .collect();
        let out = references(&m);
        // Cut into threads of the same subject, gathered under a dummy.
        assert!(out.starts_with("((1 2 3 "), "{}", &out[..20]);
        assert_eq!(out.matches('(').count(), out.matches(')').count());
        // One message with many references and a loop between messages.
        let refs: Vec<String> = (0..20_000).map(|i| format!("r{i}")).collect();
        let refs: Vec<&str> = refs.iter().map(String::as_str).collect();
        let m = vec![
            threaded(1, 1, "a", Some("x"), &refs),
            threaded(2, 2, "b", Some("y"), &["x"]),
            threaded(3, 3, "c", Some("r5"), &["y"]),
        ];
        let out = references(&m);
        assert!(
            out.contains('1') && out.contains('2') && out.contains('3'),
            "{out}"
        );
    }
}
