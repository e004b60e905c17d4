use std::fs;
use std::os::unix::fs::MetadataExt;

use super::*;

const DATE: i64 = 1_796_065_088; // Mon Nov 30 18:58:08 2026 GMT

fn samples() -> Vec<Vec<u8>> {
    vec![
        b"From: a@b\r\nSubject: one\r\n\r\nHello\r\n".to_vec(),
        b"Subject: quoting\r\n\r\nFrom me\r\n>From x\r\n>>From y\r\nFrom\r\n".to_vec(),
        b"Subject: empty body\r\n\r\n".to_vec(),
        [
            "Subject: 8bit\r\n\r\nGr\u{fc}\u{df}e \u{e9}t\u{e9}\r\n".as_bytes(),
            b"\x80\xff raw\r\n",
        ]
        .concat(),
        b"Subject: no final CRLF\r\n\r\nlast line".to_vec(),
        b"Subject: blank lines at end\r\n\r\nx\r\n\r\n\r\n".to_vec(),
        b"".to_vec(),
        b"Subject: cr\r\n\r\na\rb\r\r\n".to_vec(),
    ]
}

fn new_msgs<'a>(bodies: &'a [Vec<u8>], key: &str) -> Vec<NewMessage<'a>> {
    bodies
        .iter()
        .enumerate()
        .map(|(i, b)| NewMessage {
            bytes: b,
            flags: if i % 2 == 0 {
                Flags::SEEN
            } else {
                Flags::EMPTY
            },
            internal_date: DATE + i as i64,
            key: Some(format!("{key}{i}")),
            return_path: if i == 1 { "" } else { "john.dite@compinia.de" },
        })
        .collect()
}

fn path_for(dir: &tempfile::TempDir, format: MailboxFormat) -> PathBuf {
    dir.path().join(format!("INBOX.{}", format.extension()))
}

fn create(format: MailboxFormat) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let p = path_for(&dir, format);
    Mailbox::create(&p, format).unwrap();
    (dir, p)
}

fn check_all(mb: &Mailbox, bodies: &[Vec<u8>]) {
    assert_eq!(mb.messages().len(), bodies.len());
    for (i, (info, body)) in mb.messages().iter().zip(bodies).enumerate() {
        assert_eq!(info.uid, Uid(i as u32 + 1));
        assert_eq!(mb.read(info.uid).unwrap(), *body, "message {i}");
        assert_eq!(info.size, body.len() as u64, "size of {i}");
        let want = if i % 2 == 0 {
            Flags::SEEN
        } else {
            Flags::EMPTY
        };
        assert_eq!(info.flags, want);
        assert_eq!(info.internal_date, DATE + i as i64);
    }
    let total: u64 = bodies.iter().map(|b| b.len() as u64).sum();
    assert_eq!(mb.total_size(), total);
}

fn round_trip(format: MailboxFormat) {
    let (_dir, p) = create(format);
    let bodies = samples();
    let mut mb = Mailbox::open(&p).unwrap();
    assert_eq!(mb.uid_next(), Uid(1));
    let uv = mb.uid_validity();
    let msgs = new_msgs(&bodies, "k");
    let uids = mb.append(&msgs[..3]).unwrap();
    assert_eq!(uids, vec![Uid(1), Uid(2), Uid(3)]);
    mb.append(&msgs[3..]).unwrap();
    check_all(&mb, &bodies);
    assert_eq!(mb.uid_next(), Uid(bodies.len() as u32 + 1));
    drop(mb);
    let mb = Mailbox::open(&p).unwrap();
    check_all(&mb, &bodies);
    assert_eq!(mb.uid_validity(), uv);
    assert_eq!(mb.find_key("k2"), Some(Uid(3)));
    assert_eq!(
        mb.read(Uid(99)).unwrap_err().to_string(),
        "message 99 not found"
    );
}

#[test]
fn mbox_round_trip() {
    round_trip(MailboxFormat::Mbox);
}

#[test]
fn mdir_round_trip() {
    round_trip(MailboxFormat::Mdir);
}

#[test]
fn mbox_file_format() {
    let (_dir, p) = create(MailboxFormat::Mbox);
    let mut mb = Mailbox::open(&p).unwrap();
    let body = b"Subject: x\r\n\r\nFrom me\r\n>From x\r\n".to_vec();
    let m = |rp| NewMessage {
        bytes: &body,
        flags: Flags::SEEN,
        internal_date: DATE,
        key: None,
        return_path: rp,
    };
    mb.append(&[m("john.dite@compinia.de"), m("")]).unwrap();
    let text = fs::read_to_string(&p).unwrap();
    assert_eq!(
        text,
        "From john.dite@compinia.de (S-1) Mon Nov 30 18:58:08 2026\n\
         Subject: x\n\n>From me\n>>From x\n\n\
         From <> (S-2) Mon Nov 30 18:58:08 2026\n\
         Subject: x\n\n>From me\n>>From x\n\n"
    );
    assert!(p.with_extension("mbox.idx").is_file());
}

#[test]
fn mdir_file_format() {
    let (_dir, p) = create(MailboxFormat::Mdir);
    let mut mb = Mailbox::open(&p).unwrap();
    let body = b"Subject: x\r\n\r\nFrom me\r\n".to_vec();
    let m = |flags| NewMessage {
        bytes: &body,
        flags,
        internal_date: DATE,
        key: None,
        return_path: "",
    };
    mb.append(&[m(Flags::SEEN), m(Flags::EMPTY)]).unwrap();
    let mut names: Vec<String> = fs::read_dir(&p)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["1-S-20261130185808", "2--20261130185808"]);
    assert_eq!(
        fs::read(p.join("1-S-20261130185808")).unwrap(),
        b"Subject: x\n\nFrom me\n"
    );
    assert!(p.with_extension("mdir.idx").is_file());
}

fn idempotent(format: MailboxFormat) {
    let (_dir, p) = create(format);
    let mut mb = Mailbox::open(&p).unwrap();
    let a = b"Subject: a\r\n\r\na\r\n".to_vec();
    let b = b"Subject: b\r\n\r\nb\r\n".to_vec();
    let m = |bytes, key: &str| NewMessage {
        bytes,
        flags: Flags::EMPTY,
        internal_date: DATE,
        key: Some(key.to_string()),
        return_path: "x@y",
    };
    let uids = mb
        .append(&[m(&a, "q1 r1"), m(&b, "q1 r2"), m(&a, "q1 r1")])
        .unwrap();
    assert_eq!(uids, vec![Uid(1), Uid(2), Uid(1)]);
    let uids = mb.append(&[m(&a, "q1 r1")]).unwrap();
    assert_eq!(uids, vec![Uid(1)]);
    assert_eq!(mb.messages().len(), 2);
    drop(mb);
    let mut mb = Mailbox::open(&p).unwrap();
    assert_eq!(mb.append(&[m(&b, "q1 r2")]).unwrap(), vec![Uid(2)]);
    assert_eq!(mb.messages().len(), 2);
    assert_eq!(mb.uid_next(), Uid(3));
    // Messages without a key are never deduplicated.
    let plain = NewMessage {
        key: None,
        ..m(&a, "")
    };
    assert_eq!(
        mb.append(&[plain.clone(), plain]).unwrap(),
        vec![Uid(3), Uid(4)]
    );
}

#[test]
fn mbox_idempotent_append() {
    idempotent(MailboxFormat::Mbox);
}

#[test]
fn mdir_idempotent_append() {
    idempotent(MailboxFormat::Mdir);
}

fn flags_and_expunge(format: MailboxFormat) {
    let (_dir, p) = create(format);
    let bodies = samples();
    let mut mb = Mailbox::open(&p).unwrap();
    mb.append(&new_msgs(&bodies, "k")).unwrap();
    let n = bodies.len() as u32;
    mb.set_flags(Uid(2), Flags::FLAGGED | Flags::ANSWERED)
        .unwrap();
    mb.set_flags(Uid(1), Flags::DELETED).unwrap();
    assert!(mb.set_flags(Uid(99), Flags::SEEN).is_err());
    drop(mb);

    let mut mb = Mailbox::open(&p).unwrap();
    assert_eq!(
        mb.info(Uid(2)).unwrap().flags,
        Flags::FLAGGED | Flags::ANSWERED
    );
    assert_eq!(mb.info(Uid(1)).unwrap().flags, Flags::DELETED);
    if format == MailboxFormat::Mdir {
        assert!(p.join("2-FR-20261130185809").is_file());
    }

    // Expunge the first and the last message.
    mb.expunge(&[Uid(1), Uid(n), Uid(77)]).unwrap();
    let uids: Vec<u32> = mb.messages().iter().map(|m| m.uid.0).collect();
    assert_eq!(uids, (2..n).collect::<Vec<_>>());
    assert_eq!(mb.uid_next(), Uid(n + 1));
    for m in mb.messages() {
        assert_eq!(mb.read(m.uid).unwrap(), bodies[m.uid.0 as usize - 1]);
    }
    // An expunged message's key is remembered: a delivery retried after
    // the user deleted it does not bring it back.
    assert_eq!(mb.find_key("k0"), Some(Uid(1)));
    assert_eq!(
        mb.append(&new_msgs(&bodies[..1], "k")).unwrap(),
        vec![Uid(1)]
    );
    assert!(mb.info(Uid(1)).is_none());
    assert_eq!(mb.uid_next(), Uid(n + 1));
    assert_eq!(mb.find_key("k1"), Some(Uid(2)));
    if format == MailboxFormat::Mbox {
        // Expunged entries stay, marked dead, until they take half the file.
        let text = fs::read(&p).unwrap();
        assert!(text.starts_with(b"From john.dite@compinia.de (S~1) Mon Nov 30 18:58:08 2026\n"));
    }
    drop(mb);

    let mut mb = Mailbox::open(&p).unwrap();
    let uids: Vec<u32> = mb.messages().iter().map(|m| m.uid.0).collect();
    assert_eq!(uids, (2..n).collect::<Vec<_>>());
    assert_eq!(mb.uid_next(), Uid(n + 1));
    assert_eq!(mb.find_key("k1"), Some(Uid(2)));
    // Still remembered when read back from the journal.
    assert_eq!(mb.find_key("k0"), Some(Uid(1)));

    // Expunging everything keeps UIDNEXT.
    let all: Vec<Uid> = mb.messages().iter().map(|m| m.uid).collect();
    mb.expunge(&all).unwrap();
    if format == MailboxFormat::Mbox {
        assert_eq!(fs::metadata(&p).unwrap().len(), 0, "compacted");
    }
    drop(mb);
    let mut mb = Mailbox::open(&p).unwrap();
    assert!(mb.messages().is_empty());
    assert_eq!(mb.uid_next(), Uid(n + 1));
    let uids = mb.append(&new_msgs(&bodies[..1], "new")).unwrap();
    assert_eq!(uids, vec![Uid(n + 1)]);
    assert_eq!(mb.read(Uid(n + 1)).unwrap(), bodies[0]);
}

#[test]
fn mbox_flags_and_expunge() {
    flags_and_expunge(MailboxFormat::Mbox);
}

#[test]
fn mdir_flags_and_expunge() {
    flags_and_expunge(MailboxFormat::Mdir);
}

fn rebuild(format: MailboxFormat) {
    let (_dir, p) = create(format);
    let bodies = samples();
    let mut mb = Mailbox::open(&p).unwrap();
    mb.append(&new_msgs(&bodies, "k")).unwrap();
    mb.set_flags(Uid(3), Flags::DRAFT).unwrap();
    mb.expunge(&[Uid(2)]).unwrap();
    mb.set_flags(Uid(4), Flags::SEEN).unwrap();
    let before: Vec<MessageInfo> = mb.messages().to_vec();
    let uv = mb.uid_validity();
    let uid_next = mb.uid_next();
    drop(mb);

    // A damaged index keeps UIDVALIDITY and the keys.
    let idx = idx_path(&p);
    let text = fs::read_to_string(&idx).unwrap();
    fs::write(&idx, text.replacen("A 3 ", "A three ", 1)).unwrap();
    let mb = Mailbox::open(&p).unwrap();
    assert_eq!(mb.uid_validity(), uv);
    assert_eq!(mb.find_key("k0"), Some(Uid(1)));
    drop(mb);

    fs::remove_file(&idx).unwrap();
    let mb = Mailbox::open(&p).unwrap();
    assert!(idx.is_file());
    // A lost index keeps UIDVALIDITY too: it is also kept beside the mailbox.
    assert_eq!(mb.uid_validity(), uv);
    assert_eq!(mb.messages().len(), before.len());
    for (got, want) in mb.messages().iter().zip(&before) {
        assert_eq!(got.uid, want.uid);
        if format == MailboxFormat::Mbox && [Uid(3), Uid(4)].contains(&got.uid) {
            // Documented: an mbox From line holds the flags as of the last
            // rewrite (a compaction, here none), so a change made after it
            // is lost with the index.
            let appended = if got.uid.0 % 2 == 1 {
                Flags::SEEN
            } else {
                Flags::EMPTY
            };
            assert_eq!(got.flags, appended);
        } else {
            assert_eq!(got.flags, want.flags, "uid {}", got.uid);
        }
        assert_eq!(got.internal_date, want.internal_date);
        assert_eq!(got.key, None);
        let body = mb.read(got.uid).unwrap();
        let orig = &bodies[got.uid.0 as usize - 1];
        if format == MailboxFormat::Mbox && !orig.ends_with(b"\r\n") {
            // The documented exception: the original size is lost.
            assert_eq!(body, [orig.as_slice(), b"\r\n"].concat());
        } else {
            assert_eq!(body, *orig);
        }
        assert_eq!(got.size, body.len() as u64);
    }
    if format == MailboxFormat::Mdir {
        assert_eq!(mb.uid_next(), uid_next);
    } else {
        // With the index gone, UIDNEXT is the highest UID present + 1.
        assert!(mb.uid_next() <= uid_next);
        assert_eq!(mb.uid_next(), Uid(before.last().unwrap().uid.0 + 1));
    }
    drop(mb);
    Mailbox::rebuild_index(&p).unwrap();
    let mb = Mailbox::open(&p).unwrap();
    assert_eq!(mb.messages().len(), before.len());
}

fn flags_many(format: MailboxFormat) {
    let (_dir, p) = create(format);
    let bodies = samples();
    let mut mb = Mailbox::open(&p).unwrap();
    mb.append(&new_msgs(&bodies[..4], "k")).unwrap();
    let before = mb.highest_modseq();
    let kw = |k: &[&str]| k.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    // A missing UID fails the whole call before anything is written.
    let bad = [
        (Uid(1), Flags::FLAGGED, kw(&[])),
        (Uid(9), Flags::SEEN, kw(&[])),
    ];
    assert!(matches!(
        mb.set_flags_many(&bad),
        Err(Error::MessageNotFound(Uid(9)))
    ));
    assert_eq!(mb.highest_modseq(), before);
    let idx_len = fs::metadata(idx_path(&p)).unwrap().len();
    mb.set_flags_many(&[
        (Uid(3), Flags::DELETED, kw(&["$Junk"])),
        // Message 1 already has exactly these: unchanged, no mod-sequence.
        (Uid(1), Flags::SEEN, kw(&[])),
        (Uid(2), Flags::FLAGGED, kw(&[])),
    ])
    .unwrap();
    let modseq = |u: u32| mb.info(Uid(u)).unwrap().modseq;
    assert_eq!((modseq(3), modseq(2)), (before + 1, before + 2));
    assert_eq!(mb.highest_modseq(), before + 2);
    assert!(modseq(1) <= before);
    // One write of two F records.
    let added = fs::read_to_string(idx_path(&p)).unwrap()[idx_len as usize..].to_string();
    assert_eq!(added.lines().count(), 2, "{added}");
    drop(mb);
    let mb = Mailbox::open(&p).unwrap();
    assert_eq!(mb.info(Uid(3)).unwrap().flags, Flags::DELETED);
    assert_eq!(mb.info(Uid(3)).unwrap().keywords, ["$Junk"]);
    assert_eq!(mb.info(Uid(2)).unwrap().flags, Flags::FLAGGED);
    assert_eq!(mb.highest_modseq(), before + 2);
}

#[test]
fn mbox_flags_many() {
    flags_many(MailboxFormat::Mbox);
}

#[test]
fn mdir_flags_many() {
    flags_many(MailboxFormat::Mdir);
}

fn recent(format: MailboxFormat) {
    let (_dir, p) = create(format);
    let bodies = samples();
    let msgs = new_msgs(&bodies, "k");
    let mut mb = Mailbox::open(&p).unwrap();
    mb.append(&msgs[..2]).unwrap();
    // RFC 3501 §2.3.2: new messages are recent until a session claims them.
    assert_eq!((mb.first_recent(), mb.recent_count()), (Uid(1), 2));
    assert_eq!(mb.claim_recent().unwrap(), Uid(1));
    assert_eq!((mb.first_recent(), mb.recent_count()), (Uid(3), 0));
    // A second claim finds nothing and writes nothing.
    assert_eq!(mb.claim_recent().unwrap(), Uid(3));
    mb.append(&msgs[2..5]).unwrap();
    assert_eq!(mb.recent_count(), 3);
    drop(mb);

    // The claim is in the journal, and survives a compaction (expunge).
    let mut mb = Mailbox::open(&p).unwrap();
    assert_eq!((mb.first_recent(), mb.recent_count()), (Uid(3), 3));
    mb.expunge(&[Uid(1), Uid(4)]).unwrap();
    assert_eq!(mb.recent_count(), 2);
    drop(mb);
    let mut mb = Mailbox::open(&p).unwrap();
    assert_eq!((mb.first_recent(), mb.recent_count()), (Uid(3), 2));
    assert_eq!(mb.claim_recent().unwrap(), Uid(3));
    drop(mb);
    let mb = Mailbox::open(&p).unwrap();
    assert_eq!((mb.first_recent(), mb.recent_count()), (Uid(6), 0));
    drop(mb);

    // An index from before the field (6-field header, no R record): nothing
    // is recent.
    let idx = idx_path(&p);
    let text = fs::read_to_string(&idx).unwrap();
    let (header, rest) = text.split_once('\n').unwrap();
    let old: Vec<&str> = header.split(' ').take(8).collect();
    let rest: String = rest
        .lines()
        .filter(|l| !l.starts_with("R "))
        .map(|l| format!("{l}\n"))
        .collect();
    fs::write(&idx, format!("{}\n{rest}", old.join(" "))).unwrap();
    let mut mb = Mailbox::open(&p).unwrap();
    assert_eq!(mb.messages().len(), 3);
    assert_eq!(mb.recent_count(), 0);
    mb.append(&msgs[5..6]).unwrap();
    assert_eq!((mb.first_recent(), mb.recent_count()), (Uid(6), 1));
}

#[test]
fn mbox_recent() {
    recent(MailboxFormat::Mbox);
}

#[test]
fn mdir_recent() {
    recent(MailboxFormat::Mdir);
}

#[test]
fn mbox_rebuild_index() {
    rebuild(MailboxFormat::Mbox);
}

#[test]
fn mdir_rebuild_index() {
    rebuild(MailboxFormat::Mdir);
}

#[test]
fn mbox_torn_write_is_truncated() {
    let (_dir, p) = create(MailboxFormat::Mbox);
    let bodies = samples();
    let mut mb = Mailbox::open(&p).unwrap();
    mb.append(&new_msgs(&bodies[..2], "k")).unwrap();
    drop(mb);
    let good = fs::read(&p).unwrap();
    let mut f = OpenOptions::new().append(true).open(&p).unwrap();
    f.write_all(b"From x@y (-3) Mon Nov 30 18:58:08 2026\nSubject: half\n\nbo")
        .unwrap();
    drop(f);

    let mut mb = Mailbox::open(&p).unwrap();
    assert_eq!(fs::read(&p).unwrap(), good);
    assert_eq!(mb.messages().len(), 2);
    let uids = mb.append(&new_msgs(&bodies[2..4], "n")).unwrap();
    assert_eq!(uids, vec![Uid(3), Uid(4)]);
    assert_eq!(mb.read(Uid(3)).unwrap(), bodies[2]);
    assert_eq!(mb.read(Uid(4)).unwrap(), bodies[3]);
    drop(mb);
    let mb = Mailbox::open(&p).unwrap();
    assert_eq!(mb.messages().len(), 4);
    assert_eq!(mb.read(Uid(1)).unwrap(), bodies[0]);

    // Without an index, a torn last message is dropped too.
    drop(mb);
    let mut f = OpenOptions::new().append(true).open(&p).unwrap();
    f.write_all(b"From x@y (-5) Mon Nov 30 18:58:08 2026\nSubj")
        .unwrap();
    drop(f);
    fs::remove_file(idx_path(&p)).unwrap();
    let mb = Mailbox::open(&p).unwrap();
    assert_eq!(mb.messages().len(), 4);
    assert_eq!(mb.uid_next(), Uid(5));
}

#[test]
fn mbox_torn_journal_line_is_ignored() {
    let (_dir, p) = create(MailboxFormat::Mbox);
    let bodies = samples();
    let mut mb = Mailbox::open(&p).unwrap();
    mb.append(&new_msgs(&bodies[..2], "k")).unwrap();
    drop(mb);
    let mut f = OpenOptions::new().append(true).open(idx_path(&p)).unwrap();
    f.write_all(b"F 1 DS").unwrap();
    drop(f);
    let mut mb = Mailbox::open(&p).unwrap();
    assert_eq!(mb.info(Uid(1)).unwrap().flags, Flags::SEEN);
    mb.set_flags(Uid(2), Flags::DRAFT).unwrap();
    drop(mb);
    let mb = Mailbox::open(&p).unwrap();
    assert_eq!(mb.info(Uid(2)).unwrap().flags, Flags::DRAFT);
    assert_eq!(mb.find_key("k1"), Some(Uid(2)));
}

#[test]
fn mbox_replaced_behind_index_is_rebuilt() {
    // A crash between the two renames of an expunge: new mbox, old index.
    let (dir, p) = create(MailboxFormat::Mbox);
    let bodies = samples();
    let mut mb = Mailbox::open(&p).unwrap();
    mb.append(&new_msgs(&bodies[..4], "k")).unwrap();
    drop(mb);
    let old_idx = fs::read(idx_path(&p)).unwrap();
    let mut mb = Mailbox::open(&p).unwrap();
    mb.set_flags(Uid(3), Flags::FLAGGED).unwrap();
    // Half the file: the expunge compacts it.
    mb.expunge(&[Uid(1), Uid(2)]).unwrap();
    drop(mb);
    fs::write(idx_path(&p), old_idx).unwrap();

    let mb = Mailbox::open(&p).unwrap();
    let uids: Vec<u32> = mb.messages().iter().map(|m| m.uid.0).collect();
    assert_eq!(uids, [3, 4]);
    assert_eq!(mb.info(Uid(3)).unwrap().flags, Flags::FLAGGED);
    assert_eq!(mb.find_key("k3"), Some(Uid(4)));
    assert_eq!(mb.uid_next(), Uid(5));
    for m in mb.messages() {
        assert_eq!(mb.read(m.uid).unwrap(), bodies[m.uid.0 as usize - 1]);
    }
    drop(dir);
}

#[test]
fn mdir_uncommitted_files_are_removed() {
    let (_dir, p) = create(MailboxFormat::Mdir);
    let bodies = samples();
    let mut mb = Mailbox::open(&p).unwrap();
    mb.append(&new_msgs(&bodies[..2], "k")).unwrap();
    drop(mb);
    fs::write(p.join("9--20261130000000"), b"uncommitted\n").unwrap();
    fs::write(p.join(".tmp123"), b"half").unwrap();
    let mut mb = Mailbox::open(&p).unwrap();
    assert!(!p.join("9--20261130000000").exists());
    assert!(!p.join(".tmp123").exists());
    assert_eq!(mb.messages().len(), 2);
    assert_eq!(
        mb.append(&new_msgs(&bodies[2..3], "n")).unwrap(),
        vec![Uid(3)]
    );
    assert_eq!(mb.read(Uid(3)).unwrap(), bodies[2]);

    // A message file lost after the index recorded it counts as expunged.
    fs::remove_file(p.join("1-S-20261130185808")).unwrap();
    drop(mb);
    let mb = Mailbox::open(&p).unwrap();
    let uids: Vec<u32> = mb.messages().iter().map(|m| m.uid.0).collect();
    assert_eq!(uids, [2, 3]);
}

#[test]
fn leftover_temp_files_are_removed() {
    let (dir, p) = create(MailboxFormat::Mbox);
    let t1 = dir.path().join("INBOX.mbox.tmp-1-0");
    let t2 = dir.path().join("INBOX.mbox.idx.tmp-1-0");
    let other = dir.path().join("Sent.mbox.tmp-1-0");
    for t in [&t1, &t2, &other] {
        fs::write(t, b"x").unwrap();
    }
    Mailbox::open(&p).unwrap();
    assert!(!t1.exists() && !t2.exists() && other.exists());
}

#[test]
fn create_and_open_errors() {
    let (dir, p) = create(MailboxFormat::Mbox);
    assert!(matches!(
        Mailbox::create(&p, MailboxFormat::Mbox),
        Err(Error::MailboxExists(_))
    ));
    let q = dir.path().join("Sent.mdir");
    Mailbox::create(&q, MailboxFormat::Mdir).unwrap();
    assert!(matches!(
        Mailbox::create(&q, MailboxFormat::Mdir),
        Err(Error::MailboxExists(_))
    ));
    assert!(matches!(
        Mailbox::open(&dir.path().join("Nope.mbox")),
        Err(Error::MailboxNotFound(_))
    ));
    assert!(matches!(
        Mailbox::open(&dir.path().join("x.txt")),
        Err(Error::BadName(_))
    ));
    let a = Mailbox::open(&p).unwrap().uid_validity();
    let b = Mailbox::open(&q).unwrap().uid_validity();
    assert_ne!(a, b);
}

#[test]
fn journal_is_compacted() {
    let (_dir, p) = create(MailboxFormat::Mbox);
    let bodies = samples();
    let mut mb = Mailbox::open(&p).unwrap();
    mb.append(&new_msgs(&bodies[..1], "k")).unwrap();
    for i in 0..(COMPACT_SLACK * 2) {
        let f = if i % 2 == 0 {
            Flags::SEEN
        } else {
            Flags::FLAGGED
        };
        mb.set_flags(Uid(1), f).unwrap();
    }
    let lines = fs::read_to_string(idx_path(&p)).unwrap().lines().count();
    assert!(lines < COMPACT_SLACK + 10, "{lines}");
    drop(mb);
    let mb = Mailbox::open(&p).unwrap();
    assert_eq!(mb.info(Uid(1)).unwrap().flags, Flags::FLAGGED);
    assert_eq!(mb.find_key("k0"), Some(Uid(1)));
}

#[test]
fn line_end_conversion() {
    let wire = b"a\r\nb\nc\rd\r\r\n";
    let lf = to_lf(wire);
    assert_eq!(lf, b"a\nb\nc\rd\r\n");
    assert_eq!(to_crlf(&lf), b"a\r\nb\r\nc\rd\r\r\n");
    assert_eq!(crlf_len(&lf), 12);
}

#[test]
fn lines_found_by_memchr_match_a_byte_loop() {
    let text = b"From a\n\nline two\r\n>From x\r\r\nbare\rcr\nno end\r";
    for end in 0..=text.len() {
        let stored = &text[..end];
        let mut got = Vec::new();
        for_each_line(stored, |line, lf| got.push((line.to_vec(), lf)));
        let mut want: Vec<(Vec<u8>, bool)> = stored
            .split(|&b| b == b'\n')
            .map(|l| (l.to_vec(), true))
            .collect();
        // split yields a last piece after the final LF (maybe empty).
        let last = want.pop().unwrap();
        if !last.0.is_empty() {
            want.push((last.0, false));
        }
        assert_eq!(got, want, "{end}");
        // CRLF to LF, line by line, as a byte loop does it.
        let mut lf = Vec::new();
        for (i, &b) in stored.iter().enumerate() {
            if !(b == b'\r' && stored.get(i + 1) == Some(&b'\n')) {
                lf.push(b);
            }
        }
        assert_eq!(to_lf(stored), lf, "{end}");
        assert_eq!(crlf_len(&lf), to_crlf(&lf).len() as u64, "{end}");
    }
}

fn keywords_and_modseq(format: MailboxFormat) {
    let (_dir, p) = create(format);
    let bodies = samples();
    let mut mb = Mailbox::open(&p).unwrap();
    assert_eq!(mb.highest_modseq(), 1);
    let kw = vec![vec!["$Forwarded".to_string(), "$forwarded".into()]];
    let uids = mb
        .append_with_keywords(&new_msgs(&bodies[..3], "k"), &kw)
        .unwrap();
    assert_eq!(mb.highest_modseq(), 2);
    assert_eq!(mb.info(uids[0]).unwrap().keywords, ["$Forwarded"]);
    assert!(mb.messages().iter().all(|m| m.modseq == 2));
    let kws = ["$Junk".to_string(), "Work".into()];
    mb.set_flags_and_keywords(uids[1], Flags::FLAGGED, &kws)
        .unwrap();
    assert_eq!(mb.highest_modseq(), 3);
    // No change, no new mod-sequence.
    mb.set_flags_and_keywords(uids[1], Flags::FLAGGED, &["work".into(), "$JUNK".into()])
        .unwrap();
    assert_eq!(mb.highest_modseq(), 3);
    // set_flags keeps the keywords.
    mb.set_flags(uids[1], Flags::SEEN).unwrap();
    assert_eq!(mb.info(uids[1]).unwrap().keywords, kws);
    assert_eq!(mb.info(uids[1]).unwrap().modseq, 4);
    mb.expunge(&[uids[2]]).unwrap();
    assert_eq!(mb.highest_modseq(), 5);
    assert_eq!(mb.expunged_since(4), Some(vec![uids[2]]));
    assert_eq!(mb.expunged_since(5), Some(vec![]));
    drop(mb);

    let mut mb = Mailbox::open(&p).unwrap();
    assert_eq!(mb.highest_modseq(), 5);
    assert_eq!(mb.info(uids[0]).unwrap().keywords, ["$Forwarded"]);
    assert_eq!(mb.info(uids[1]).unwrap().keywords, kws);
    assert_eq!(mb.info(uids[1]).unwrap().modseq, 4);
    assert_eq!(mb.expunged_since(1), Some(vec![uids[2]]));
    // Compaction (as after many changes) keeps everything.
    mb.compact().unwrap();
    drop(mb);
    let mb = Mailbox::open(&p).unwrap();
    assert_eq!(mb.info(uids[1]).unwrap().keywords, kws);
    assert_eq!(mb.expunged_since(1), Some(vec![uids[2]]));
    assert_eq!(mb.highest_modseq(), 5);
    drop(mb);

    // A rebuild loses keywords and expunges but not the mod-sequence order.
    fs::remove_file(idx_path(&p)).unwrap();
    Mailbox::rebuild_index(&p).unwrap();
    let mb = Mailbox::open(&p).unwrap();
    assert!(mb.messages().iter().all(|m| m.keywords.is_empty()));
    assert!(
        mb.messages()
            .iter()
            .all(|m| m.modseq == mb.highest_modseq())
    );
    assert_eq!(mb.expunged_since(1), None);
}

#[test]
fn mbox_keywords_and_modseq() {
    keywords_and_modseq(MailboxFormat::Mbox);
}

#[test]
fn mdir_keywords_and_modseq() {
    keywords_and_modseq(MailboxFormat::Mdir);
}

#[test]
fn rebuild_keeps_modseq_from_a_readable_index() {
    let (_dir, p) = create(MailboxFormat::Mbox);
    let bodies = samples();
    let mut mb = Mailbox::open(&p).unwrap();
    mb.append(&new_msgs(&bodies[..2], "r")).unwrap();
    mb.set_flags(Uid(1), Flags::DRAFT).unwrap();
    let before = mb.highest_modseq();
    drop(mb);
    Mailbox::rebuild_index(&p).unwrap();
    let mb = Mailbox::open(&p).unwrap();
    assert!(mb.highest_modseq() > before);
}

#[test]
fn index_without_modseq_still_opens() {
    let (_dir, p) = create(MailboxFormat::Mbox);
    let bodies = samples();
    let mut mb = Mailbox::open(&p).unwrap();
    mb.append(&new_msgs(&bodies[..2], "o")).unwrap();
    drop(mb);
    // Rewrite the index as the code before MODSEQ wrote it.
    let text = fs::read_to_string(idx_path(&p)).unwrap();
    let old: Vec<String> = text
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            if l.starts_with("mailnode-index") {
                f[..6].join(" ")
            } else {
                f[..7].join(" ")
            }
        })
        .collect();
    fs::write(idx_path(&p), old.join("\n") + "\nF 1 F\n").unwrap();
    let mut mb = Mailbox::open(&p).unwrap();
    assert_eq!(mb.messages().len(), 2);
    assert_eq!(mb.info(Uid(1)).unwrap().flags, Flags::FLAGGED);
    assert_eq!(mb.info(Uid(1)).unwrap().key.as_deref(), Some("o0"));
    assert_eq!(mb.highest_modseq(), 1);
    mb.set_flags(Uid(2), Flags::SEEN).unwrap();
    assert_eq!(mb.highest_modseq(), 2);
}

/// An index written by a later version (a rolling upgrade in progress) is
/// refused, never rebuilt: a rebuild would lose keywords, delivery keys
/// and UIDVALIDITY that only the index holds.
#[test]
fn an_index_of_a_newer_format_is_refused_and_left_alone() {
    for format in [MailboxFormat::Mbox, MailboxFormat::Mdir] {
        let (_dir, p) = create(format);
        let bodies = samples();
        let mut mb = Mailbox::open(&p).unwrap();
        mb.append(&new_msgs(&bodies[..2], "n")).unwrap();
        drop(mb);
        let text = fs::read_to_string(idx_path(&p)).unwrap();
        let newer =
            text.replacen("mailnode-index 1 ", "mailnode-index 2 ", 1) + "Q 1 something new\n";
        fs::write(idx_path(&p), &newer).unwrap();
        for err in [
            Mailbox::open(&p).unwrap_err(),
            Mailbox::rebuild_index(&p).unwrap_err(),
        ] {
            assert!(
                matches!(err, Error::NewerFormat { version: 2, .. }),
                "{err:?}"
            );
            assert!(err.is_temporary());
        }
        assert_eq!(fs::read_to_string(idx_path(&p)).unwrap(), newer);
        // Once the index is back in a format this version reads, it opens.
        fs::write(idx_path(&p), &text).unwrap();
        assert_eq!(Mailbox::open(&p).unwrap().messages().len(), 2);
    }
}

/// Two handles on one mailbox stand for two processes: the one that did
/// not see the other's write gets `Stale` instead of writing over it.
#[test]
fn a_stale_handle_never_writes() {
    for format in [MailboxFormat::Mbox, MailboxFormat::Mdir] {
        let (_dir, p) = create(format);
        let bodies = samples();
        let mut a = Mailbox::open(&p).unwrap();
        let mut b = Mailbox::open(&p).unwrap();
        b.append(&new_msgs(&bodies[..1], "b")).unwrap();
        let refused = a.append(&new_msgs(&bodies[1..2], "a"));
        assert!(
            matches!(refused, Err(Error::Stale(_))),
            "{format:?}: {refused:?}"
        );
        assert!(
            a.set_flags(Uid(1), Flags::SEEN).is_err(),
            "a stale handle stays refused"
        );
        let mut a = Mailbox::open(&p).unwrap();
        let uids = a.append(&new_msgs(&bodies[1..2], "a")).unwrap();
        assert_eq!(uids, vec![Uid(2)]);
        let reopened = Mailbox::open(&p).unwrap();
        assert_eq!(reopened.messages().len(), 2);
        assert_eq!(reopened.read(Uid(1)).unwrap(), bodies[0]);
        assert_eq!(reopened.read(Uid(2)).unwrap(), bodies[1]);
        assert!(crate::mailbox::lock_path(&p).exists());
    }
}

/// A handle keeps its lock file and its index open between writes: the
/// lock is free between them, and the writes after the index was replaced
/// (a compaction, an mbox rewrite) go to the new index.
#[test]
fn kept_handles_free_the_lock_and_follow_a_replaced_index() {
    for format in [MailboxFormat::Mbox, MailboxFormat::Mdir] {
        let (_dir, p) = create(format);
        let bodies = samples();
        let mut mb = Mailbox::open(&p).unwrap();
        mb.append(&new_msgs(&bodies[..4], "k")).unwrap();
        let lock = fs::OpenOptions::new()
            .write(true)
            .open(lock_path(&p))
            .unwrap();
        lock.try_lock().expect("the lock is free between writes");
        lock.unlock().unwrap();

        // More records than the slack: the journal is compacted into a
        // new index file.
        for i in 0..COMPACT_SLACK + 10 {
            let flags = if i % 2 == 0 {
                Flags::SEEN
            } else {
                Flags::EMPTY
            };
            mb.set_flags(Uid(1), flags).unwrap();
        }
        mb.set_flags(Uid(2), Flags::FLAGGED).unwrap();
        let flags = |p: &Path| -> Vec<(u32, Flags)> {
            let reopened = Mailbox::open(p).unwrap();
            reopened
                .messages()
                .iter()
                .map(|m| (m.uid.0, m.flags))
                .collect()
        };
        assert_eq!(flags(&p)[1], (2, Flags::FLAGGED), "{format:?}");
        // Opening may repair the index (an mdir's renamed files): a new
        // handle, with its index open for a first write.
        let mut mb = Mailbox::open(&p).unwrap();
        mb.set_flags(Uid(1), Flags::SEEN).unwrap();
        // Dead entries past half the file: an mbox and its index are
        // rewritten.
        mb.expunge(&[Uid(2), Uid(3), Uid(4)]).unwrap();
        mb.set_flags(Uid(1), Flags::ANSWERED).unwrap();
        assert_eq!(flags(&p), [(1, Flags::ANSWERED)], "{format:?}");
        lock.try_lock().expect("the lock is free after the writes");
        lock.unlock().unwrap();
    }
}

/// Opening a mailbox after flag changes replays them, the new mdir file
/// names included, without repairing (rewriting) the index.
#[test]
fn flag_changes_replay_without_a_repair() {
    for format in [MailboxFormat::Mbox, MailboxFormat::Mdir] {
        let (_dir, p) = create(format);
        let bodies = samples();
        let mut mb = Mailbox::open(&p).unwrap();
        mb.append(&new_msgs(&bodies[..2], "k")).unwrap();
        mb.set_flags(Uid(2), Flags::SEEN | Flags::FLAGGED).unwrap();
        drop(mb);
        let ino = fs::metadata(idx_path(&p)).unwrap().ino();
        let mb = Mailbox::open(&p).unwrap();
        assert_eq!(
            fs::metadata(idx_path(&p)).unwrap().ino(),
            ino,
            "{format:?}: the index was rewritten"
        );
        assert_eq!(mb.info(Uid(2)).unwrap().flags, Flags::SEEN | Flags::FLAGGED);
        assert_eq!(mb.read(Uid(2)).unwrap(), bodies[1]);
    }
}

thread_local! {
    /// Crash points ([`super::crash_point`]) still to pass before the
    /// injected failure; `None`: no failure.
    static CRASH_AT: std::cell::Cell<Option<usize>> = const { std::cell::Cell::new(None) };
}

pub(super) fn crash_point() -> Result<()> {
    CRASH_AT.with(|c| match c.get() {
        Some(0) => {
            c.set(None);
            Err(crate::error::io_err(Path::new("(test)"))(
                std::io::Error::other("injected crash"),
            ))
        }
        Some(n) => {
            c.set(Some(n - 1));
            Ok(())
        }
        None => Ok(()),
    })
}

/// Messages of equal size, so that a test knows when dead entries take
/// half of the mbox.
fn same_size(n: usize) -> Vec<Vec<u8>> {
    (0..n)
        .map(|i| format!("Subject: m{i:02}\r\n\r\nFrom body {i:02}\r\n").into_bytes())
        .collect()
}

/// Messages whose entries differ only in their UID (and body number).
fn plain_msgs(bodies: &[Vec<u8>]) -> Vec<NewMessage<'_>> {
    bodies
        .iter()
        .enumerate()
        .map(|(i, b)| NewMessage {
            bytes: b,
            flags: Flags::EMPTY,
            internal_date: DATE,
            key: Some(format!("k{i}")),
            return_path: "a@b.example",
        })
        .collect()
}

fn uids_of(mb: &Mailbox) -> Vec<u32> {
    mb.messages().iter().map(|m| m.uid.0).collect()
}

/// The mailbox as a rebuild from the mbox file alone sees it.
fn rebuilt_uids(p: &Path) -> Vec<u32> {
    fs::remove_file(idx_path(p)).unwrap();
    uids_of(&Mailbox::open(p).unwrap())
}

#[test]
fn mbox_expunge_is_lazy_until_half_the_file_is_dead() {
    let (_dir, p) = create(MailboxFormat::Mbox);
    let bodies = same_size(10);
    let mut mb = Mailbox::open(&p).unwrap();
    mb.append(&new_msgs(&bodies, "k")).unwrap();
    let full = fs::read(&p).unwrap();
    let ino = fs::metadata(&p).unwrap().ino();

    mb.expunge(&[Uid(2), Uid(5)]).unwrap();
    assert_eq!(uids_of(&mb), [1, 3, 4, 6, 7, 8, 9, 10]);
    let text = fs::read(&p).unwrap();
    assert_eq!(text.len(), full.len(), "nothing rewritten");
    assert_eq!(fs::metadata(&p).unwrap().ino(), ino);
    let dead: Vec<&[u8]> = text
        .split(|&b| b == b'\n')
        .filter(|l| l.starts_with(b"From ") && l.contains(&b'~'))
        .collect();
    assert_eq!(
        dead,
        [
            &b"From <> (~2) Mon Nov 30 18:58:09 2026"[..],
            &b"From john.dite@compinia.de (S~5) Mon Nov 30 18:58:12 2026"[..],
        ]
    );
    drop(mb);

    // Reopened from the index, and rebuilt from the file alone.
    let mut mb = Mailbox::open(&p).unwrap();
    assert_eq!(uids_of(&mb), [1, 3, 4, 6, 7, 8, 9, 10]);
    for m in mb.messages() {
        assert_eq!(mb.read(m.uid).unwrap(), bodies[m.uid.0 as usize - 1]);
    }
    assert_eq!(mb.find_key("k1"), Some(Uid(2)), "an expunged key is kept");
    let uids = mb.append(&new_msgs(&bodies[..1], "new")).unwrap();
    assert_eq!(uids, [Uid(11)]);
    mb.expunge(&[Uid(11)]).unwrap();
    drop(mb);
    assert_eq!(rebuilt_uids(&p), [1, 3, 4, 6, 7, 8, 9, 10]);
    let mut mb = Mailbox::open(&p).unwrap();
    // The rebuild dropped the dead entries, and UIDs are not reused.
    assert!(!fs::read(&p).unwrap().contains(&b'~'));
    assert_eq!(mb.uid_next(), Uid(12));

    // Once half the file is dead, the expunge compacts it.
    let before = fs::read(&p).unwrap().len();
    mb.expunge(&[Uid(1), Uid(3), Uid(4)]).unwrap();
    assert!(fs::read(&p).unwrap().contains(&b'~'));
    assert_eq!(fs::read(&p).unwrap().len(), before);
    mb.expunge(&[Uid(10)]).unwrap();
    let text = fs::read(&p).unwrap();
    assert!(!text.contains(&b'~'), "compacted");
    assert!(text.len() < before / 2 + 100, "{} of {before}", text.len());
    for m in mb.messages() {
        assert_eq!(mb.read(m.uid).unwrap(), bodies[m.uid.0 as usize - 1]);
    }
    drop(mb);
    let mb = Mailbox::open(&p).unwrap();
    assert_eq!(uids_of(&mb), [6, 7, 8, 9]);
    assert_eq!(mb.uid_next(), Uid(12));
}

/// An mbox handle keeps its file open for reading: reads see messages
/// appended since, and after a compaction (which replaces the file) they
/// read the new file.
#[test]
fn mbox_reads_follow_appends_and_compaction() {
    let (_dir, p) = create(MailboxFormat::Mbox);
    let bodies = same_size(10);
    let mut mb = Mailbox::open(&p).unwrap();
    mb.append(&new_msgs(&bodies[..5], "a")).unwrap();
    assert_eq!(mb.read(Uid(1)).unwrap(), bodies[0]);
    mb.append(&new_msgs(&bodies[5..], "b")).unwrap();
    for m in mb.messages() {
        assert_eq!(mb.read(m.uid).unwrap(), bodies[m.uid.0 as usize - 1]);
    }
    let ino = fs::metadata(&p).unwrap().ino();
    mb.expunge(&[Uid(1), Uid(2), Uid(3), Uid(4), Uid(5), Uid(6)])
        .unwrap();
    assert_ne!(fs::metadata(&p).unwrap().ino(), ino, "compacted");
    assert_eq!(uids_of(&mb), [7, 8, 9, 10]);
    for m in mb.messages() {
        assert_eq!(mb.read(m.uid).unwrap(), bodies[m.uid.0 as usize - 1]);
    }
}

/// A crash (a failure injected at every step, the files left as they are)
/// during a lazy expunge or the compaction that follows leaves a mailbox
/// that opens with every expunge committed or not, whole; the messages
/// read back; and a rebuild from the file alone never brings back a
/// message whose expunge was committed.
#[test]
fn mbox_crash_at_every_step_of_expunge_and_compaction() {
    let bodies = same_size(6);
    let mut step = 0;
    loop {
        let (_dir, p) = create(MailboxFormat::Mbox);
        let mut mb = Mailbox::open(&p).unwrap();
        mb.append(&plain_msgs(&bodies)).unwrap();
        CRASH_AT.with(|c| c.set(Some(step)));
        // Lazy, then a compaction (3 of 6 entries dead).
        let first = mb.expunge(&[Uid(2)]);
        let second = first.as_ref().ok().map(|()| mb.expunge(&[Uid(1), Uid(3)]));
        let crashed = CRASH_AT.with(|c| c.replace(None)).is_none();
        drop(mb);

        let mut mb = Mailbox::open(&p).unwrap();
        let uids = uids_of(&mb);
        let committed: &[u32] = match (&first, &second) {
            (Ok(()), Some(Ok(()))) => &[4, 5, 6],
            (Ok(()), _) => &[1, 3, 4, 5, 6],
            _ => &[1, 2, 3, 4, 5, 6],
        };
        // What failed before its commit may or may not have happened,
        // each expunge as a whole.
        let allowed: Vec<Vec<u32>> = match (&first, &second) {
            (Ok(()), Some(Ok(()))) => vec![vec![4, 5, 6]],
            (Ok(()), _) => vec![vec![1, 3, 4, 5, 6], vec![4, 5, 6]],
            _ => vec![vec![1, 2, 3, 4, 5, 6], vec![1, 3, 4, 5, 6]],
        };
        assert!(allowed.contains(&uids), "step {step}: {uids:?}");
        for m in mb.messages() {
            assert_eq!(mb.read(m.uid).unwrap(), bodies[m.uid.0 as usize - 1]);
        }
        assert_eq!(mb.uid_next(), Uid(7), "step {step}");
        // The handle works on: append, expunge, read.
        let fresh = [NewMessage {
            key: None,
            ..plain_msgs(&bodies[..1])[0].clone()
        }];
        assert_eq!(mb.append(&fresh).unwrap(), [Uid(7)]);
        assert_eq!(mb.read(Uid(7)).unwrap(), bodies[0]);
        mb.expunge(&[Uid(7)]).unwrap();
        drop(mb);

        let rebuilt = rebuilt_uids(&p);
        assert!(
            rebuilt.iter().all(|u| uids.contains(u)),
            "step {step}: rebuilt {rebuilt:?}, index had {uids:?}"
        );
        assert!(rebuilt.ends_with(&[4, 5, 6]), "step {step}: {rebuilt:?}");
        assert!(
            rebuilt
                .iter()
                .all(|u| committed.contains(u) || !uids.contains(u)),
            "step {step}"
        );
        let mb = Mailbox::open(&p).unwrap();
        for m in mb.messages() {
            assert_eq!(mb.read(m.uid).unwrap(), bodies[m.uid.0 as usize - 1]);
        }
        if !crashed {
            break;
        }
        step += 1;
    }
    assert!(step >= 9, "only {step} crash points");
}

/// A damaged index whose `X` records survive keeps a lazily expunged
/// message out of the rebuild even when its dead mark was lost.
#[test]
fn mbox_rebuild_keeps_expunges_of_a_damaged_index() {
    let (_dir, p) = create(MailboxFormat::Mbox);
    let bodies = same_size(4);
    let mut mb = Mailbox::open(&p).unwrap();
    mb.append(&new_msgs(&bodies, "k")).unwrap();
    mb.expunge(&[Uid(3)]).unwrap();
    drop(mb);
    let text = fs::read(&p).unwrap();
    let unmarked: Vec<u8> = String::from_utf8(text)
        .unwrap()
        .replace("(~3)", "(-3)")
        .into_bytes();
    fs::write(&p, unmarked).unwrap();
    let idx = idx_path(&p);
    let journal = fs::read_to_string(&idx).unwrap();
    fs::write(&idx, journal.replacen("A 1 ", "A one ", 1)).unwrap();
    let mb = Mailbox::open(&p).unwrap();
    assert_eq!(uids_of(&mb), [1, 2, 4]);
    assert_eq!(mb.uid_next(), Uid(5));
    for m in mb.messages() {
        assert_eq!(mb.read(m.uid).unwrap(), bodies[m.uid.0 as usize - 1]);
    }
}
