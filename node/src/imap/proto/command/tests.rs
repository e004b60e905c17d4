use super::*;

fn parse(s: &str) -> CommandKind {
    parse_command(s.as_bytes())
        .unwrap_or_else(|e| panic!("{s}: {e}"))
        .kind
}

fn set(r: &[(u32, u32)]) -> SequenceSet {
    SequenceSet(
        r.iter()
            .map(|&(a, b)| (SeqNum::Value(a), SeqNum::Value(b)))
            .collect(),
    )
}

#[test]
fn rfc9051_8_sample_session() {
    assert_eq!(
        parse("a001 login mrc secret"),
        CommandKind::Login {
            user: "mrc".into(),
            password: "secret".into()
        }
    );
    assert_eq!(
        parse("a002 select inbox"),
        CommandKind::Select {
            mailbox: "INBOX".into(),
            read_only: false,
            condstore: false,
            qresync: None,
        }
    );
    let CommandKind::Fetch {
        items, set: s, uid, ..
    } = parse("a003 fetch 12 full")
    else {
        panic!()
    };
    assert!(!uid);
    assert_eq!(s, set(&[(12, 12)]));
    assert_eq!(
        items,
        [
            FetchItem::Flags,
            FetchItem::InternalDate,
            FetchItem::Rfc822Size,
            FetchItem::Envelope,
            FetchItem::Body
        ]
    );
    assert_eq!(
        parse("a004 fetch 12 body[header]"),
        CommandKind::Fetch {
            uid: false,
            set: set(&[(12, 12)]),
            items: vec![FetchItem::Section {
                peek: false,
                section: Section {
                    part: vec![],
                    text: Some(SectionText::Header)
                },
                partial: None
            }],
            changed_since: None,
            vanished: false,
        }
    );
    assert_eq!(
        parse("a005 store 12 +flags \\deleted"),
        CommandKind::Store {
            uid: false,
            set: set(&[(12, 12)]),
            op: StoreOp::Add,
            silent: false,
            flags: Flags::DELETED.into(),
            unchanged_since: None
        }
    );
    assert_eq!(parse("a006 logout"), CommandKind::Logout);
}

#[test]
fn literals_quoted_and_mailbox_names() {
    assert_eq!(
        parse("A1 LOGIN {5}\r\nalice \"p\\\"w\""),
        CommandKind::Login {
            user: "alice".into(),
            password: "p\"w".into()
        }
    );
    assert_eq!(
        parse("A2 CREATE \"Entw&APw-rfe/\""),
        CommandKind::Create("Entwürfe".into())
    );
    assert_eq!(
        parse(
            "A3 APPEND saved-messages (\\Seen) \"17-Jul-1996 02:44:25 -0700\" {12+}\r\nHello\r\nWorld"
        ),
        CommandKind::Append {
            mailbox: "saved-messages".into(),
            messages: vec![AppendMessage {
                flags: Flags::SEEN.into(),
                date: Some(837_596_665),
                message: b"Hello\r\nWorld".to_vec(),
                binary: false,
            }]
        }
    );
    assert_eq!(
        parse("A4 LIST \"\" %"),
        CommandKind::List {
            reference: String::new(),
            patterns: vec!["%".into()],
            lsub: false,
            select: ListSelect::default(),
            ret: ListReturn::default()
        }
    );
    assert_eq!(
        parse("A5 UID MOVE 1:*,7 Trash"),
        CommandKind::Copy {
            uid: true,
            set: SequenceSet(vec![
                (SeqNum::Value(1), SeqNum::Star),
                (SeqNum::Value(7), SeqNum::Value(7))
            ]),
            mailbox: "Trash".into(),
            is_move: true
        }
    );
}

#[test]
fn fetch_sections_and_partials() {
    let CommandKind::Fetch { items, .. } = parse(
        "a UID FETCH 1:* (UID BODY.PEEK[1.2.HEADER.FIELDS.NOT (Subject \"To\")]<0.100> BODY[2.MIME] BODYSTRUCTURE RFC822.HEADER)",
    ) else {
        panic!()
    };
    assert_eq!(items.len(), 5);
    assert_eq!(
        items[1],
        FetchItem::Section {
            peek: true,
            section: Section {
                part: vec![1, 2],
                text: Some(SectionText::HeaderFields {
                    not: true,
                    fields: vec!["Subject".into(), "To".into()]
                })
            },
            partial: Some((0, 100))
        }
    );
    assert_eq!(
        items[2],
        FetchItem::Section {
            peek: false,
            section: Section {
                part: vec![2],
                text: Some(SectionText::Mime)
            },
            partial: None
        }
    );
}

#[test]
fn search_criteria() {
    let CommandKind::Search { key, uid, .. } = parse(
        "a UID SEARCH CHARSET UTF-8 OR FROM \"smith\" NOT SEEN (SINCE 1-Feb-1994 LARGER 10) 1:5",
    ) else {
        panic!()
    };
    assert!(uid);
    let SearchKey::And(keys) = key else { panic!() };
    assert_eq!(keys.len(), 3);
    assert!(matches!(keys[0], SearchKey::Or(..)));
    assert!(matches!(&keys[2], SearchKey::Seq(_)));
    assert_eq!(parse_date(b"1-Feb-1994"), Some(8797));
}

#[test]
fn malformed_commands_are_errors_not_panics() {
    let cases: &[&[u8]] = &[
        b"",
        b" ",
        b"a",
        b"a ",
        b"* NOOP",
        b"a FOO",
        b"a NOOP extra",
        b"a LOGIN",
        b"a LOGIN \"unterminated",
        b"a LOGIN {5}\r\nab",
        b"a LOGIN {99999999999}\r\n",
        b"a SELECT &Jjo!",
        b"a FETCH 0 FLAGS",
        b"a FETCH 1 BODY[0]",
        b"a FETCH 1 BODY[MIME]",
        b"a FETCH 1 BODY.PEEK",
        b"a FETCH 1 BODY[]<1.0>",
        b"a FETCH 1:",
        b"a STORE 1 +FLAGS (\\Recent)",
        b"a STORE 1 +FLAGS (\\Junk)",
        b"a STORE 1 FLAGZ \\Seen",
        b"a SEARCH",
        b"a SEARCH CHARSET KOI8-R ALL",
        b"a SEARCH SINCE 31-Feb-2020",
        b"a APPEND INBOX (\\Seen) \"bad date\" {1}\r\nx",
        b"a STATUS INBOX (FOO)",
        b"a UID FOO 1",
        b"a ENABLE",
        b"a ID (\"name\"",
        b"a LOGIN \xff\xfe x",
        b"a\x00 NOOP",
    ];
    for case in cases {
        assert!(
            parse_command(case).is_err(),
            "{:?}",
            String::from_utf8_lossy(case)
        );
    }
    assert_eq!(
        parse_command(b"t1 FOO").unwrap_err().tag.as_deref(),
        Some("t1")
    );
    let deep = format!("a SEARCH {}ALL", "NOT ".repeat(100));
    assert!(parse_command(deep.as_bytes()).is_err());
    let deep = format!("a SEARCH {}ALL{}", "(".repeat(100), ")".repeat(100));
    assert!(parse_command(deep.as_bytes()).is_err());
}

/// RFC 3501 §5.1.3: a name that is not valid modified UTF-7 is a NO for
/// SELECT (no mailbox has it), and a LIST pattern that matches nothing.
#[test]
fn rfc3501_5_1_3_invalid_modified_utf7_names() {
    let e = parse_command(b"t SELECT !#$&'+,-.0123456789:;<=>?@^_`|[}").unwrap_err();
    assert!(e.is_bad_mailbox_name());
    assert_eq!(e.tag.as_deref(), Some("t"));
    assert!(
        !parse_command(b"t SELECT (x")
            .unwrap_err()
            .is_bad_mailbox_name()
    );
    assert!(
        !parse_command(b"t FOO &'")
            .unwrap_err()
            .is_bad_mailbox_name()
    );
    let patterns = |s: &str| match parse(s) {
        CommandKind::List { patterns, .. } => patterns,
        other => panic!("{other:?}"),
    };
    assert!(patterns("a LIST \"\" !#$&'+,-.0123456789:;<=>?@^_`|[}%*").is_empty());
    assert_eq!(patterns("a LIST \"\" (&' INBOX)"), ["INBOX"]);
    assert!(patterns("a LIST &' *").is_empty());
    assert!(patterns("a LSUB \"\" \"&Jjo!\"").is_empty());
    assert_eq!(patterns("a LIST \"\" &AOk-*"), ["\u{e9}*"]);
}

#[test]
fn every_prefix_of_valid_commands_is_handled() {
    let lines: &[&[u8]] = &[
        b"a UID FETCH 1:* (UID BODY.PEEK[1.2.HEADER.FIELDS (Subject)]<0.100>)",
        b"b APPEND INBOX (\\Seen \\Draft) \"17-Jul-1996 02:44:25 -0700\" {3}\r\nabc",
        b"c SEARCH OR (FROM x TO y) NOT UID 1:3,5",
        b"d ID (\"name\" \"x\" \"version\" NIL)",
    ];
    for line in lines {
        assert!(parse_command(line).is_ok());
        for i in 0..line.len() {
            let _ = parse_command(&line[..i]);
        }
    }
}

#[test]
fn keywords_in_flag_lists() {
    let CommandKind::Store { flags, .. } =
        parse("a STORE 1 +FLAGS ($Forwarded \\Seen $forwarded Work)")
    else {
        panic!()
    };
    assert_eq!(flags.system, Flags::SEEN);
    assert_eq!(flags.keywords, ["$Forwarded", "Work"]);
    let CommandKind::Append { messages, .. } = parse("a APPEND x ($Junk) {1+}\r\nx") else {
        panic!()
    };
    assert_eq!(messages[0].flags.keywords, ["$Junk"]);
    assert!(parse_command(format!("a STORE 1 FLAGS ({})", "k".repeat(200)).as_bytes()).is_err());
    assert!(parse_command(b"a STORE 1 FLAGS (\\Recent)").is_err());
}

/// RFC 7162 §3.1 syntax: SELECT (CONDSTORE), FETCH (CHANGEDSINCE),
/// STORE (UNCHANGEDSINCE), SEARCH MODSEQ, STATUS HIGHESTMODSEQ.
#[test]
fn condstore_syntax() {
    assert!(matches!(
        parse("a SELECT INBOX (CONDSTORE)"),
        CommandKind::Select {
            condstore: true,
            ..
        }
    ));
    let CommandKind::Fetch {
        items,
        changed_since,
        ..
    } = parse("s100 UID FETCH 1:* (FLAGS) (CHANGEDSINCE 12345)")
    else {
        panic!()
    };
    assert_eq!(changed_since, Some(12345));
    assert_eq!(items, [FetchItem::Flags, FetchItem::ModSeq]);
    let CommandKind::Fetch { items, .. } = parse("a103 FETCH 7 (UID MODSEQ FLAGS)") else {
        panic!()
    };
    assert_eq!(items, [FetchItem::Uid, FetchItem::ModSeq, FetchItem::Flags]);
    let CommandKind::Store {
        unchanged_since,
        flags,
        ..
    } = parse("d105 STORE 7,5,9 (UNCHANGEDSINCE 320162338) +FLAGS.SILENT (\\Deleted)")
    else {
        panic!()
    };
    assert_eq!(unchanged_since, Some(320_162_338));
    assert_eq!(flags.system, Flags::DELETED);
    let CommandKind::Search { key, .. } =
        parse("a SEARCH MODSEQ \"/flags/\\\\draft\" all 620162338")
    else {
        panic!()
    };
    assert_eq!(key, SearchKey::ModSeq(620_162_338));
    let CommandKind::Status { items, .. } =
        parse("a STATUS blurdybloop (UIDNEXT MESSAGES HIGHESTMODSEQ)")
    else {
        panic!()
    };
    assert_eq!(items[2], StatusItem::HighestModSeq);
}

/// RFC 5258 §5 examples.
#[test]
fn list_extended_syntax() {
    let CommandKind::List {
        patterns,
        select,
        ret,
        ..
    } = parse("A02 LIST (SUBSCRIBED) \"\" \"*\"")
    else {
        panic!()
    };
    assert!(select.subscribed && ret.extended);
    assert_eq!(patterns, ["*"]);
    let CommandKind::List { ret, .. } = parse("A03 LIST () \"\" \"%\" RETURN (CHILDREN)") else {
        panic!()
    };
    assert!(ret.children);
    let CommandKind::List { select, .. } = parse("A04 LIST (REMOTE) \"\" \"%\" RETURN (CHILDREN)")
    else {
        panic!()
    };
    assert!(select.remote);
    let CommandKind::List { select, .. } =
        parse("C02 LIST (SUBSCRIBED RECURSIVEMATCH) \"\" \"%\" RETURN (CHILDREN)")
    else {
        panic!()
    };
    assert!(select.recursive && select.subscribed);
    let CommandKind::List { patterns, .. } =
        parse("BBB LIST \"\" (\"INBOX\" \"Drafts\" \"Sent/%\")")
    else {
        panic!()
    };
    assert_eq!(patterns, ["INBOX", "Drafts", "Sent/%"]);
    // RFC 5819 §2.
    let CommandKind::List { ret, .. } = parse("A01 LIST \"\" % RETURN (STATUS (MESSAGES UNSEEN))")
    else {
        panic!()
    };
    assert_eq!(
        ret.status,
        Some(vec![StatusItem::Messages, StatusItem::Unseen])
    );
    // RECURSIVEMATCH alone is an error (RFC 5258 §3.1).
    assert!(parse_command(b"A LIST (RECURSIVEMATCH) \"\" %").is_err());
    assert!(parse_command(b"A LSUB (SUBSCRIBED) \"\" %").is_err());
}

/// RFC 7162 §3.2.5.2 and §3.2.6 examples: SELECT (QRESYNC ...) with known
/// UIDs and sequence match data, and UID FETCH (CHANGEDSINCE n VANISHED).
#[test]
fn rfc7162_3_2_qresync_syntax() {
    let CommandKind::Select {
        qresync: Some(q), ..
    } = parse("A02 SELECT INBOX (QRESYNC (67890007 20050715194045000 41,43:211,214:541))")
    else {
        panic!()
    };
    assert_eq!(q.uid_validity, 67_890_007);
    assert_eq!(q.modseq, 20_050_715_194_045_000);
    assert_eq!(q.known_uids, Some(set(&[(41, 41), (43, 211), (214, 541)])));
    assert_eq!(q.seq_match, None);
    let CommandKind::Select {
        qresync: Some(q), ..
    } = parse(
        "B04 SELECT INBOX (QRESYNC (67890007 \
         90060115194045000 41:211,214:541 (1:15,19,30:32 4:7,13:15,60:61)))",
    )
    else {
        panic!()
    };
    assert_eq!(q.known_uids, Some(set(&[(41, 211), (214, 541)])));
    let (seqs, uids) = q.seq_match.unwrap();
    assert_eq!(seqs, set(&[(1, 15), (19, 19), (30, 32)]));
    assert_eq!(uids, set(&[(4, 7), (13, 15), (60, 61)]));
    let CommandKind::Select {
        qresync: Some(q), ..
    } = parse("a EXAMINE INBOX (QRESYNC (1 5 (1:2 3:4)))")
    else {
        panic!()
    };
    assert_eq!(q.known_uids, None);
    assert!(q.seq_match.is_some());
    let CommandKind::Fetch {
        uid,
        changed_since,
        vanished,
        ..
    } = parse("A04 UID FETCH 300:500 (FLAGS) (CHANGEDSINCE 12345 VANISHED)")
    else {
        panic!()
    };
    assert!(uid && vanished);
    assert_eq!(changed_since, Some(12345));
    for bad in [
        "a SELECT INBOX (QRESYNC (0 5))",
        "a SELECT INBOX (QRESYNC (1 0))",
        "a SELECT INBOX (QRESYNC (1))",
        "a UID FETCH 1:* FLAGS (VANISHED)",
    ] {
        assert!(parse_command(bad.as_bytes()).is_err(), "{bad}");
    }
}

/// RFC 4731 §3.1 and its examples: SEARCH RETURN (...).
#[test]
fn rfc4731_search_return_syntax() {
    let CommandKind::Search { ret, key, .. } =
        parse("A282 SEARCH RETURN (MIN COUNT) FLAGGED SINCE 1-Feb-1994 NOT FROM \"Smith\"")
    else {
        panic!()
    };
    assert_eq!(
        ret,
        Some(SearchReturn {
            min: true,
            count: true,
            ..SearchReturn::default()
        })
    );
    assert!(matches!(key, SearchKey::And(ref k) if k.len() == 3));
    let CommandKind::Search { ret, uid, .. } = parse("A283 UID SEARCH RETURN () CHARSET UTF-8 ALL")
    else {
        panic!()
    };
    assert!(uid);
    assert_eq!(
        ret,
        Some(SearchReturn {
            all: true,
            ..SearchReturn::default()
        })
    );
    let CommandKind::Search { ret, .. } = parse("A284 SEARCH UNSEEN") else {
        panic!()
    };
    assert_eq!(ret, None);
    assert!(parse_command(b"A285 SEARCH RETURN (BOGUS) ALL").is_err());
}

/// RFC 9208 §4.1-§4.3 examples.
#[test]
fn rfc9208_quota_syntax() {
    assert_eq!(
        parse("G0001 GETQUOTA \"!partition/sda4\""),
        CommandKind::GetQuota("!partition/sda4".into())
    );
    assert_eq!(
        parse("G0002 GETQUOTAROOT INBOX"),
        CommandKind::GetQuotaRoot("INBOX".into())
    );
    assert_eq!(
        parse("S0000 SETQUOTA \"User quota\" (STORAGE 510)"),
        CommandKind::SetQuota
    );
    assert_eq!(parse("S0001 SETQUOTA \"\" ()"), CommandKind::SetQuota);
    assert!(parse_command(b"S0002 SETQUOTA \"\" STORAGE").is_err());
    assert!(parse_command(b"G0003 GETQUOTAROOT").is_err());
}

/// RFC 5256 §4 examples: SORT and THREAD commands.
#[test]
fn rfc5256_sort_and_thread_syntax() {
    use crate::imap::proto::sort::{SortCriterion, SortKey};
    let c = |key, reverse| SortCriterion { key, reverse };
    let CommandKind::Sort {
        uid,
        criteria,
        key,
        ret,
    } = parse("A282 SORT (SUBJECT) UTF-8 SINCE 1-Feb-1994")
    else {
        panic!()
    };
    assert!(!uid);
    assert_eq!(ret, None);
    assert_eq!(criteria, [c(SortKey::Subject, false)]);
    assert!(matches!(key, SearchKey::Date(DateCmp::Since, _)));
    let CommandKind::Sort { uid, criteria, .. } =
        parse("A283 UID SORT (SUBJECT REVERSE DATE) UTF-8 ALL")
    else {
        panic!()
    };
    assert!(uid);
    assert_eq!(
        criteria,
        [c(SortKey::Subject, false), c(SortKey::Date, true)]
    );
    let CommandKind::Sort { criteria, key, .. } =
        parse("A284 SORT (ARRIVAL CC FROM SIZE TO) US-ASCII SUBJECT \"afternoon\" DELETED")
    else {
        panic!()
    };
    assert_eq!(criteria.len(), 5);
    assert!(matches!(key, SearchKey::And(ref k) if k.len() == 2));
    // RFC 5957 §3.
    let CommandKind::Sort { criteria, .. } =
        parse("A286 SORT (DISPLAYFROM REVERSE DISPLAYTO) UTF-8 ALL")
    else {
        panic!()
    };
    assert_eq!(
        criteria,
        [c(SortKey::DisplayFrom, false), c(SortKey::DisplayTo, true)]
    );
    assert!(matches!(
        parse("A285 THREAD ORDEREDSUBJECT UTF-8 SINCE 5-MAR-2000"),
        CommandKind::Thread { uid: false, .. }
    ));
    assert!(matches!(
        parse("A286 UID THREAD orderedsubject UTF-8 ALL"),
        CommandKind::Thread { uid: true, .. }
    ));
    for bad in [
        "a SORT (SUBJECT) ALL",
        "a SORT () UTF-8 ALL",
        "a SORT (REVERSE) UTF-8 ALL",
        "a SORT (BOGUS) UTF-8 ALL",
        "a SORT (DATE) KOI8-R ALL",
        "a SORT (DATE) UTF-8",
        "a THREAD BOGUS UTF-8 ALL",
        "a THREAD ORDEREDSUBJECT UTF-8",
    ] {
        assert!(parse_command(bad.as_bytes()).is_err(), "{bad}");
    }
}

/// RFC 5182 §2.4 and §3 examples: SEARCH RETURN (SAVE) and `$`.
#[test]
fn rfc5182_searchres_syntax() {
    let CommandKind::Search { ret: Some(ret), .. } =
        parse("A282 SEARCH RETURN (SAVE) FLAGGED SINCE 1-Feb-1994 NOT FROM \"Smith\"")
    else {
        panic!()
    };
    assert!(ret.save && ret.only_save());
    let CommandKind::Search { ret: Some(ret), .. } = parse("A283 SEARCH RETURN (SAVE MIN) ALL")
    else {
        panic!()
    };
    assert!(ret.save && ret.min && !ret.only_save());
    let CommandKind::Fetch { set, .. } = parse("A284 FETCH $ (UID INTERNALDATE FLAGS RFC822.SIZE)")
    else {
        panic!()
    };
    assert!(set.is_saved());
    assert!(
        matches!(parse("A285 UID COPY $ Trash"), CommandKind::Copy { ref set, .. } if set.is_saved())
    );
    assert!(
        matches!(parse("A286 STORE $ +FLAGS.SILENT (\\Deleted)"), CommandKind::Store { ref set, .. } if set.is_saved())
    );
    assert!(
        matches!(parse("A287 UID EXPUNGE $"), CommandKind::Expunge { uids: Some(ref set) } if set.is_saved())
    );
    let CommandKind::Search { key, .. } = parse("A288 SEARCH $ SMALLER 4096") else {
        panic!()
    };
    let SearchKey::And(keys) = key else { panic!() };
    assert!(matches!(&keys[0], SearchKey::Seq(s) if s.is_saved()));
    assert!(
        matches!(parse("A289 UID SEARCH UID $"), CommandKind::Search { key: SearchKey::Uid(ref s), .. } if s.is_saved())
    );
    for bad in [
        "a FETCH $,1 FLAGS",
        "a FETCH 1,$ FLAGS",
        "a SELECT INBOX (QRESYNC (1 2 $))",
    ] {
        assert!(parse_command(bad.as_bytes()).is_err(), "{bad}");
    }
}

/// RFC 3502 §6 example: two messages in one APPEND, the second with
/// flags and a date, each a synchronizing literal.
#[test]
fn rfc3502_multiappend_example() {
    let m1 = "Date: Mon, 7 Feb 1994 21:52:25 -0800 (PST)\r\n\
From: Fred Foobar <foobar@Blurdybloop.example.COM>\r\n\
Subject: afternoon meeting\r\n\
To: mooch@owatagu.example.net\r\n\
Message-Id: <B27397-0100000@Blurdybloop.example.COM>\r\n\
MIME-Version: 1.0\r\n\
Content-Type: TEXT/PLAIN; CHARSET=US-ASCII\r\n\
\r\n\
Hello Joe, do you think we can meet at 3:30 tomorrow?\r\n";
    let m2 = "Date: Mon, 7 Feb 1994 22:43:04 -0800 (PST)\r\n\
From: Joe Mooch <mooch@OWaTaGu.example.net>\r\n\
Subject: Re: afternoon meeting\r\n\
To: foobar@blurdybloop.example.com\r\n\
Message-Id: <a0434793874930@OWaTaGu.example.net>\r\n\
MIME-Version: 1.0\r\n\
Content-Type: TEXT/PLAIN; CHARSET=US-ASCII\r\n\
\r\n\
3:30 is fine with me.\r\n";
    let input = format!(
        "A003 APPEND saved-messages (\\Seen) {{{}}}\r\n{m1} (\\Seen) \" 7-Feb-1994 22:43:04 -0800\" {{{}}}\r\n{m2}",
        m1.len(),
        m2.len()
    );
    // The framed command, as the receiver hands it out, split anywhere.
    let wire = format!("{input}\r\n");
    let frame = |at: usize| {
        let mut rx = crate::imap::proto::Receiver::new();
        let mut frames = Vec::new();
        for chunk in [&wire.as_bytes()[..at], &wire.as_bytes()[at..]] {
            rx.feed(chunk);
            while let Some(f) = rx.next_frame() {
                frames.push(f);
            }
        }
        frames
    };
    let frames = frame(0);
    for at in 1..=wire.len() {
        assert_eq!(frame(at), frames, "split at {at}");
    }
    assert_eq!(frames.len(), 3, "two continuations and the command");
    let crate::imap::proto::Frame::Command(framed) = &frames[2] else {
        panic!("{frames:?}")
    };
    let CommandKind::Append { mailbox, messages } = parse_command(framed).unwrap().kind else {
        panic!()
    };
    assert_eq!(mailbox, "saved-messages");
    assert_eq!(messages.len(), 2);
    assert_eq!(messages[0].message, m1.as_bytes());
    assert_eq!(messages[0].date, None);
    assert_eq!(messages[1].message, m2.as_bytes());
    assert_eq!(messages[1].flags.system, Flags::SEEN);
    assert_eq!(
        messages[1].date,
        parse_date_time(b" 7-Feb-1994 22:43:04 -0800")
    );
    assert!(messages.iter().all(|m| !m.binary));
    for bad in [
        "a APPEND x",
        "a APPEND x ",
        "a APPEND x {1}\r\nx ",
        "a APPEND x {1}\r\nx (\\Seen)",
        "a APPEND x {1}\r\nx  {1}\r\ny",
    ] {
        assert!(parse_command(bad.as_bytes()).is_err(), "{bad:?}");
    }
}

/// RFC 3516 §4.3 and §6: `literal8` in APPEND, NUL only there.
#[test]
fn rfc3516_append_literal8() {
    let CommandKind::Append { messages, .. } =
        parse("a APPEND INBOX (\\Seen) ~{5}\r\nA\0B\r\n {1+}\r\nx ~{2+}\r\n\0\0")
    else {
        panic!()
    };
    assert_eq!(messages.len(), 3);
    assert!(messages[0].binary && !messages[1].binary && messages[2].binary);
    assert_eq!(messages[0].message, b"A\0B\r\n");
    assert_eq!(messages[2].message, b"\0\0");
    // NUL in a plain literal, literal8 where a string is expected.
    for bad in [
        &b"a APPEND INBOX {3}\r\nA\0B"[..],
        b"a LOGIN ~{1}\r\nu p",
        b"a APPEND INBOX ~{3}\r\nAB",
        b"a APPEND INBOX ~ {3}\r\nABC",
    ] {
        assert!(
            parse_command(bad).is_err(),
            "{:?}",
            String::from_utf8_lossy(bad)
        );
    }
}

/// RFC 3516 §4.1 and §6: BINARY, BINARY.PEEK and BINARY.SIZE.
#[test]
fn rfc3516_fetch_binary_items() {
    let CommandKind::Fetch { items, .. } =
        parse("a FETCH 1 (BINARY[] BINARY.PEEK[1.2]<0.100> binary.size[3] BINARY.SIZE[])")
    else {
        panic!()
    };
    assert_eq!(
        items,
        [
            FetchItem::Binary {
                peek: false,
                part: vec![],
                partial: None
            },
            FetchItem::Binary {
                peek: true,
                part: vec![1, 2],
                partial: Some((0, 100))
            },
            FetchItem::BinarySize(vec![3]),
            FetchItem::BinarySize(vec![]),
        ]
    );
    for bad in [
        "a FETCH 1 BINARY",
        "a FETCH 1 BINARY[1.MIME]",
        "a FETCH 1 BINARY[HEADER]",
        "a FETCH 1 BINARY[0]",
        "a FETCH 1 BINARY[1.]",
        "a FETCH 1 BINARY.SIZE[1]<0.5>",
        "a FETCH 1 BINARY[1]<0.0>",
        "a FETCH 1 BINARY.PEEK",
    ] {
        assert!(parse_command(bad.as_bytes()).is_err(), "{bad}");
    }
}

/// RFC 5267 §3.2 and §5: SORT RETURN (ESORT).
#[test]
fn rfc5267_esort_syntax() {
    let CommandKind::Sort {
        uid, criteria, ret, ..
    } = parse("A282 SORT RETURN (MIN MAX) (DATE) UTF-8 SINCE 1-Feb-1994")
    else {
        panic!()
    };
    assert!(!uid);
    assert_eq!(criteria.len(), 1);
    let ret = ret.expect("RETURN");
    assert!(ret.min && ret.max && !ret.all && !ret.count);
    let CommandKind::Sort { uid, ret, .. } =
        parse("A283 UID SORT RETURN () (REVERSE ARRIVAL) UTF-8 UNSEEN")
    else {
        panic!()
    };
    assert!(uid);
    assert!(ret.expect("RETURN").all, "RETURN () means ALL");
    let CommandKind::Sort { ret, .. } =
        parse("A284 SORT RETURN (COUNT ALL SAVE) (SUBJECT) US-ASCII ALL")
    else {
        panic!()
    };
    let ret = ret.expect("RETURN");
    assert!(ret.count && ret.all && ret.save);
    for bad in [
        "a SORT RETURN (PARTIAL 1:10) (DATE) UTF-8 ALL",
        "a SORT RETURN (MIN) UTF-8 ALL",
        "a SORT RETURN (MIN)(DATE) UTF-8 ALL",
        "a SORT RETURN MIN (DATE) UTF-8 ALL",
        "a SORT (DATE) RETURN (MIN) UTF-8 ALL",
    ] {
        assert!(parse_command(bad.as_bytes()).is_err(), "{bad}");
    }
}

/// Deterministic mutations (seeded xorshift) of BINARY, MULTIAPPEND and
/// ESORT commands: the parser answers or refuses, never panics.
#[test]
fn binary_multiappend_esort_survive_mutation() {
    let seeds: [&[u8]; 4] = [
        b"a APPEND INBOX (\\Seen) ~{5}\r\nA\0B\r\n {1+}\r\nx \"07-Feb-1994 22:43:04 -0800\" ~{2+}\r\n\0\0",
        b"a FETCH 1:* (BINARY[1.2]<0.100> BINARY.PEEK[] BINARY.SIZE[3])",
        b"a UID SORT RETURN (MIN MAX ALL COUNT SAVE) (REVERSE SUBJECT) UTF-8 UNSEEN",
        b"a APPEND x {3}\r\nabc {0}\r\n",
    ];
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for round in 0..20_000 {
        let mut m = seeds[round % seeds.len()].to_vec();
        for _ in 0..1 + next() % 4 {
            let at = (next() as usize) % (m.len() + 1);
            let table = b"~{}[]<>.()0 9\r\n\0\"+";
            let b = table[(next() % table.len() as u64) as usize];
            match next() % 3 {
                0 if at < m.len() => m[at] = b,
                1 if at < m.len() => {
                    m.remove(at);
                }
                _ => m.insert(at, b),
            }
        }
        let _ = parse_command(&m);
    }
}
