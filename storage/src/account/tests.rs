use super::*;
use crate::flags::Flags;
use crate::mailbox::{NewMessage, Uid};

fn store() -> (tempfile::TempDir, AccountStore) {
    let dir = tempfile::tempdir().unwrap();
    let base = BaseDir::new(dir.path());
    base.create_all().unwrap();
    (dir, AccountStore::new(base))
}

fn msg(bytes: &[u8]) -> NewMessage<'_> {
    NewMessage {
        bytes,
        flags: Flags::EMPTY,
        internal_date: 1_796_065_088,
        key: Some("q1 r1".into()),
        return_path: "a@b",
    }
}

#[test]
fn kind_names() {
    for k in [
        AccountKind::MultiMailbox,
        AccountKind::TextMailbox,
        AccountKind::MailDirMailbox,
    ] {
        assert_eq!(AccountKind::parse(k.as_str()), Some(k));
        assert_eq!(AccountKind::parse(&k.as_str().to_lowercase()), Some(k));
    }
    assert_eq!(AccountKind::parse("Other"), None);
}

#[test]
fn layout_of_each_kind() {
    let (dir, s) = store();
    let root = dir.path();
    s.create_account(None, "multi", AccountKind::MultiMailbox)
        .unwrap();
    s.create_account(None, "text", AccountKind::TextMailbox)
        .unwrap();
    s.create_domain_dir("client1.com").unwrap();
    s.create_account(Some("client1.com"), "user1", AccountKind::MailDirMailbox)
        .unwrap();

    assert!(root.join("Accounts/multi.macnt/account.settings").is_file());
    assert!(root.join("Accounts/multi.macnt/INBOX.mbox").is_file());
    assert!(root.join("Accounts/multi.macnt/INBOX.mbox.idx").is_file());
    assert!(root.join("Accounts/text.mbox").is_file());
    assert!(root.join("Accounts/text.settings").is_file());
    assert!(
        root.join("Domains/client1.com/user1.macnt/INBOX.mdir")
            .is_dir()
    );
    assert!(
        root.join("Domains/client1.com/user1.macnt/account.settings")
            .is_file()
    );
    // No temporary folders are left behind.
    let hidden = fs::read_dir(root.join("Accounts"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with('.')
        })
        .count();
    assert_eq!(hidden, 0);

    assert_eq!(
        s.account_kind(None, "multi").unwrap(),
        AccountKind::MultiMailbox
    );
    assert_eq!(
        s.account_kind(None, "text").unwrap(),
        AccountKind::TextMailbox
    );
    assert_eq!(
        s.account_kind(Some("client1.com"), "user1").unwrap(),
        AccountKind::MailDirMailbox
    );
    assert!(matches!(
        s.account_kind(None, "nobody"),
        Err(Error::AccountNotFound)
    ));
    for (name, kind) in [
        ("multi", AccountKind::TextMailbox),
        ("text", AccountKind::MultiMailbox),
    ] {
        assert!(matches!(
            s.create_account(None, name, kind),
            Err(Error::AccountExists)
        ));
    }

    assert_eq!(
        s.mailbox_path(None, "text", "inbox").unwrap(),
        root.join("Accounts/text.mbox")
    );
    assert_eq!(
        s.mailbox_path(Some("client1.com"), "user1", "INBOX")
            .unwrap(),
        root.join("Domains/client1.com/user1.macnt/INBOX.mdir")
    );
    for (domain, name) in [
        (None, "multi"),
        (None, "text"),
        (Some("client1.com"), "user1"),
    ] {
        let mut mb = s.open_mailbox(domain, name, "INBOX").unwrap();
        assert_eq!(
            mb.append(&[msg(b"Subject: x\r\n\r\nhi\r\n")]).unwrap(),
            [Uid(1)]
        );
        assert_eq!(s.list_mailboxes(domain, name).unwrap(), ["INBOX"]);
    }
}

#[test]
fn settings_are_written_atomically() {
    let (dir, s) = store();
    s.create_account(None, "multi", AccountKind::MultiMailbox)
        .unwrap();
    s.create_account(None, "text", AccountKind::TextMailbox)
        .unwrap();
    s.write_settings(None, "multi", "{ RealName = \"M\"; }\n")
        .unwrap();
    s.write_settings(None, "text", "{ RealName = \"T\"; }\n")
        .unwrap();
    assert_eq!(
        fs::read_to_string(dir.path().join("Accounts/multi.macnt/account.settings")).unwrap(),
        "{ RealName = \"M\"; }\n"
    );
    assert_eq!(
        s.read_settings(None, "text").unwrap(),
        "{ RealName = \"T\"; }\n"
    );
    assert!(matches!(
        s.write_settings(None, "nobody", ""),
        Err(Error::AccountNotFound)
    ));
}

#[test]
fn rename_and_delete() {
    let (dir, s) = store();
    let root = dir.path();
    s.create_account(None, "multi", AccountKind::MultiMailbox)
        .unwrap();
    s.create_account(None, "text", AccountKind::TextMailbox)
        .unwrap();
    s.write_settings(None, "text", "t").unwrap();
    let mut mb = s.open_mailbox(None, "text", "INBOX").unwrap();
    mb.append(&[msg(b"Subject: x\r\n\r\nhi\r\n")]).unwrap();
    drop(mb);

    s.rename_account(None, "multi", Some("client1.com"), "m2")
        .unwrap();
    assert!(
        root.join("Domains/client1.com/m2.macnt/INBOX.mbox")
            .is_file()
    );
    assert!(!root.join("Accounts/multi.macnt").exists());

    s.rename_account(None, "text", None, "t2").unwrap();
    assert!(root.join("Accounts/t2.mbox").is_file());
    assert!(root.join("Accounts/t2.mbox.idx").is_file());
    assert_eq!(s.read_settings(None, "t2").unwrap(), "t");
    assert!(!root.join("Accounts/text.mbox").exists());
    let mb = s.open_mailbox(None, "t2", "INBOX").unwrap();
    assert_eq!(mb.find_key("q1 r1"), Some(Uid(1)));
    drop(mb);

    assert!(matches!(
        s.rename_account(None, "nobody", None, "x"),
        Err(Error::AccountNotFound)
    ));
    s.create_account(None, "other", AccountKind::MultiMailbox)
        .unwrap();
    assert!(matches!(
        s.rename_account(None, "other", None, "t2"),
        Err(Error::AccountExists)
    ));

    s.delete_account(Some("client1.com"), "m2").unwrap();
    s.delete_account(None, "t2").unwrap();
    assert!(!root.join("Domains/client1.com/m2.macnt").exists());
    assert!(!root.join("Accounts/t2.mbox").exists());
    assert!(!root.join("Accounts/t2.mbox.idx").exists());
    assert!(!root.join("Accounts/t2.settings").exists());
    assert!(matches!(
        s.delete_account(None, "t2"),
        Err(Error::AccountNotFound)
    ));
    assert_eq!(
        fs::read_dir(root.join("Domains/client1.com"))
            .unwrap()
            .count(),
        0
    );

    s.delete_domain_dir("client1.com").unwrap();
    s.delete_domain_dir("client1.com").unwrap();
    assert_eq!(fs::read_dir(root.join("Domains")).unwrap().count(), 0);
}

#[test]
fn mailboxes_in_a_multi_mailbox_account() {
    let (dir, s) = store();
    let acct = dir.path().join("Accounts/u.macnt");
    s.create_account(None, "u", AccountKind::MultiMailbox)
        .unwrap();
    s.create_mailbox(None, "u", "Sent", None).unwrap();
    s.create_mailbox(None, "u", "inbox/important", Some(MailboxFormat::Mdir))
        .unwrap();
    s.create_mailbox(None, "u", "Archive/2026/Q4", None)
        .unwrap();
    assert!(acct.join("Sent.mbox").is_file());
    assert!(acct.join("INBOX/important.mdir").is_dir());
    assert!(acct.join("Archive/2026/Q4.mbox").is_file());
    assert_eq!(
        s.list_mailboxes(None, "u").unwrap(),
        ["Archive/2026/Q4", "INBOX", "INBOX/important", "Sent"]
    );
    for (mailbox, err) in [
        ("Sent", "exists"),
        ("INBOX", "exists"),
        ("sent/../x", "bad"),
    ] {
        let e = s.create_mailbox(None, "u", mailbox, None).unwrap_err();
        match err {
            "exists" => assert!(matches!(e, Error::MailboxExists(_)), "{e}"),
            _ => assert!(matches!(e, Error::BadName(_)), "{e}"),
        }
    }
    assert!(matches!(
        s.mailbox_path(None, "u", "Nope"),
        Err(Error::MailboxNotFound(_))
    ));
    let mut mb = s.open_mailbox(None, "u", "INBOX/important").unwrap();
    assert_eq!(mb.append(&[msg(b"x\r\n")]).unwrap(), [Uid(1)]);
    drop(mb);

    s.delete_mailbox(None, "u", "INBOX/important").unwrap();
    assert!(!acct.join("INBOX/important.mdir").exists());
    assert!(!acct.join("INBOX/important.mdir.idx").exists());
    assert!(matches!(
        s.delete_mailbox(None, "u", "INBOX"),
        Err(Error::NotSupported(_))
    ));

    // The default format follows INBOX.
    s.create_account(None, "d", AccountKind::MailDirMailbox)
        .unwrap();
    s.create_mailbox(None, "d", "Sent", None).unwrap();
    assert!(dir.path().join("Accounts/d.macnt/Sent.mdir").is_dir());
}

#[test]
fn text_mailbox_refuses_a_second_mailbox() {
    let (_dir, s) = store();
    s.create_account(None, "t", AccountKind::TextMailbox)
        .unwrap();
    assert!(matches!(
        s.create_mailbox(None, "t", "Sent", None),
        Err(Error::NotSupported(_))
    ));
    assert!(matches!(
        s.create_mailbox(None, "t", "INBOX", None),
        Err(Error::MailboxExists(_))
    ));
    assert!(matches!(
        s.mailbox_path(None, "t", "Sent"),
        Err(Error::MailboxNotFound(_))
    ));
}

#[test]
fn bad_names_are_refused() {
    let (_dir, s) = store();
    for name in ["", ".", "..", ".x", "a/b", "a\0b"] {
        assert!(
            matches!(
                s.create_account(None, name, AccountKind::MultiMailbox),
                Err(Error::BadName(_))
            ),
            "{name:?}"
        );
        assert!(matches!(
            s.create_account(Some(name), "u", AccountKind::MultiMailbox),
            Err(Error::BadName(_))
        ));
        assert!(matches!(s.create_domain_dir(name), Err(Error::BadName(_))));
    }
    s.create_account(None, "u", AccountKind::MultiMailbox)
        .unwrap();
    for mailbox in ["", "../x", "a//b", ".hidden", "x.mdir/y", "/a"] {
        assert!(
            matches!(
                s.create_mailbox(None, "u", mailbox, None),
                Err(Error::BadName(_))
            ),
            "{mailbox:?}"
        );
    }
}

#[test]
fn rename_mailbox_keeps_uids_and_moves_inferiors() {
    let (dir, s) = store();
    let acct = dir.path().join("Accounts/u.macnt");
    s.create_account(None, "u", AccountKind::MultiMailbox)
        .unwrap();
    s.create_mailbox(None, "u", "Work", None).unwrap();
    s.create_mailbox(None, "u", "Work/2026", Some(MailboxFormat::Mdir))
        .unwrap();
    s.create_mailbox(None, "u", "Other", None).unwrap();
    let mut mb = s.open_mailbox(None, "u", "Work").unwrap();
    mb.append(&[msg(b"x\r\n")]).unwrap();
    let validity = mb.uid_validity();
    drop(mb);

    s.rename_mailbox(None, "u", "Work", "Projects/Done")
        .unwrap();
    assert_eq!(
        s.list_mailboxes(None, "u").unwrap(),
        ["INBOX", "Other", "Projects/Done", "Projects/Done/2026"]
    );
    assert!(acct.join("Projects/Done/2026.mdir").is_dir());
    let mb = s.open_mailbox(None, "u", "Projects/Done").unwrap();
    assert_eq!(mb.uid_validity(), validity);
    assert_eq!(mb.messages()[0].uid, Uid(1));
    assert_eq!(mb.read(Uid(1)).unwrap(), b"x\r\n");

    for (from, to) in [
        ("INBOX", "X"),
        ("Nope", "X"),
        ("Other", "Projects/Done"),
        ("Projects/Done", "Projects/Done/Sub"),
        ("Other", "a/../b"),
    ] {
        assert!(
            s.rename_mailbox(None, "u", from, to).is_err(),
            "{from} -> {to}"
        );
    }
    assert!(s.open_mailbox(None, "u", "Other").is_ok());
}

#[test]
fn subscriptions_round_trip() {
    let (_dir, s) = store();
    s.create_account(None, "sub", AccountKind::MultiMailbox)
        .unwrap();
    s.create_account(None, "txt", AccountKind::TextMailbox)
        .unwrap();
    for user in ["sub", "txt"] {
        assert!(s.read_subscriptions(None, user).unwrap().is_empty());
        let names = vec!["INBOX".to_string(), "Grüße/x".into()];
        s.write_subscriptions(None, user, &names).unwrap();
        let mut want = names.clone();
        want.sort();
        assert_eq!(s.read_subscriptions(None, user).unwrap(), want);
        assert!(
            s.write_subscriptions(None, user, &["a\nb".to_string()])
                .is_err()
        );
    }
    // The file is not a mailbox.
    assert_eq!(s.list_mailboxes(None, "sub").unwrap(), ["INBOX"]);
    s.delete_account(None, "txt").unwrap();
    assert!(s.read_subscriptions(None, "txt").is_err());
}

/// Every path under `root` with the content of each file, to compare a
/// tree before and after a failed operation.
fn snapshot(root: &Path) -> Vec<(String, Option<Vec<u8>>)> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let rel = path.strip_prefix(root).unwrap().display().to_string();
            if path.is_dir() {
                stack.push(path);
                out.push((rel, None));
            } else {
                out.push((rel, Some(fs::read(&path).unwrap())));
            }
        }
    }
    out.sort();
    out
}

/// An account `u` with `imaptest` (one message), `imaptest/child` (mdir)
/// and `imaptest/child/deep`; returns the account folder and the
/// UIDVALIDITY of `imaptest`.
fn account_with_tree(dir: &Path, s: &AccountStore) -> (PathBuf, u32) {
    s.create_account(None, "u", AccountKind::MultiMailbox)
        .unwrap();
    s.create_mailbox(None, "u", "imaptest", None).unwrap();
    s.create_mailbox(None, "u", "imaptest/child", Some(MailboxFormat::Mdir))
        .unwrap();
    s.create_mailbox(None, "u", "imaptest/child/deep", None)
        .unwrap();
    let mut mb = s.open_mailbox(None, "u", "imaptest").unwrap();
    mb.append(&[msg(b"x\r\n")]).unwrap();
    let validity = mb.uid_validity();
    drop(mb);
    (dir.join("Accounts/u.macnt"), validity)
}

/// The bug imaptest's `uidvalidity-rename` hit on its second run: an
/// earlier DELETE left the hierarchy folders `imaptest3/test3/test4`
/// with no mailbox in them, and `RENAME imaptest imaptest3` moved the
/// mailbox, then failed on the folder (ENOTEMPTY) and reported a failure.
#[test]
fn issue_3_rename_merges_into_leftover_hierarchy_folders() {
    let (dir, s) = store();
    let (acct, validity) = account_with_tree(dir.path(), &s);
    // What the earlier DELETE left behind.
    fs::create_dir_all(acct.join("imaptest3/test3/test4")).unwrap();
    fs::create_dir_all(acct.join("imaptest3/child")).unwrap();
    assert_eq!(
        s.list_mailboxes(None, "u").unwrap(),
        ["INBOX", "imaptest", "imaptest/child", "imaptest/child/deep"]
    );

    s.rename_mailbox(None, "u", "imaptest", "imaptest3")
        .unwrap();
    assert_eq!(
        s.list_mailboxes(None, "u").unwrap(),
        [
            "INBOX",
            "imaptest3",
            "imaptest3/child",
            "imaptest3/child/deep"
        ]
    );
    assert!(!acct.join("imaptest").exists());
    assert!(!acct.join("imaptest.mbox.idx").exists());
    let mb = s.open_mailbox(None, "u", "imaptest3").unwrap();
    assert_eq!(mb.uid_validity(), validity);
    assert_eq!(mb.read(Uid(1)).unwrap(), b"x\r\n");
    drop(mb);
    s.open_mailbox(None, "u", "imaptest3/child/deep").unwrap();

    // And back, as imaptest does next.
    s.create_mailbox(None, "u", "imaptest2", None).unwrap();
    s.rename_mailbox(None, "u", "imaptest2", "imaptest")
        .unwrap();
    s.rename_mailbox(None, "u", "imaptest3", "imaptest2")
        .unwrap();
    assert_eq!(
        s.list_mailboxes(None, "u").unwrap(),
        [
            "INBOX",
            "imaptest",
            "imaptest2",
            "imaptest2/child",
            "imaptest2/child/deep"
        ]
    );
}

#[test]
fn rename_undoes_a_failure_at_every_step() {
    let (dir, s) = store();
    let (acct, validity) = account_with_tree(dir.path(), &s);
    fs::create_dir_all(acct.join("new/child/x")).unwrap();
    fs::create_dir_all(acct.join("a")).unwrap();
    let before = snapshot(&acct);
    let mut step = 0;
    loop {
        FAIL_STEP.with(|f| f.set(Some(step)));
        let res = s.rename_mailbox(None, "u", "imaptest", "a/b/new");
        FAIL_STEP.with(|f| f.set(None));
        if res.is_ok() {
            break;
        }
        assert_eq!(snapshot(&acct), before, "failure at step {step}");
        step += 1;
        assert!(step < 50, "the rename never succeeds");
    }
    // Made a/b, moved 3 companions and the mbox, then the folder in one
    // rename (a/b/new is free), and the final fsync.
    assert_eq!(step, 7);
    assert_eq!(
        s.list_mailboxes(None, "u").unwrap(),
        ["INBOX", "a/b/new", "a/b/new/child", "a/b/new/child/deep"]
    );
    assert_eq!(
        s.open_mailbox(None, "u", "a/b/new").unwrap().uid_validity(),
        validity
    );

    // Into existing hierarchy folders: entry by entry.
    let before = snapshot(&acct);
    let mut step = 0;
    loop {
        FAIL_STEP.with(|f| f.set(Some(step)));
        let res = s.rename_mailbox(None, "u", "a/b/new", "new");
        FAIL_STEP.with(|f| f.set(None));
        if res.is_ok() {
            break;
        }
        assert_eq!(snapshot(&acct), before, "failure at step {step}");
        step += 1;
        assert!(step < 50, "the rename never succeeds");
    }
    assert!(step > 6, "{step}");
    assert_eq!(
        s.list_mailboxes(None, "u").unwrap(),
        ["INBOX", "new", "new/child", "new/child/deep"]
    );
    // The old name's folders went with it.
    assert!(!acct.join("a").exists());
    assert!(acct.join("new/child/x").is_dir());
}

#[test]
fn rename_checks_every_target_before_moving() {
    let (dir, s) = store();
    let (acct, _) = account_with_tree(dir.path(), &s);
    s.create_mailbox(None, "u", "taken/child/deep", None)
        .unwrap();
    s.create_mailbox(None, "u", "up", None).unwrap();
    s.create_mailbox(None, "u", "up/down", None).unwrap();
    // A non-mailbox in the way of an inferior.
    fs::create_dir_all(acct.join("blocked/child/deep.mbox")).unwrap();
    let before = snapshot(&acct);
    for (from, to, want) in [
        ("imaptest", "taken", "exists"),
        ("imaptest", "blocked", "exists"),
        ("imaptest", "INBOX", "exists"),
        ("imaptest", "imaptest", "exists"),
        // Onto its own \Noselect parent level.
        ("taken/child/deep", "taken", "exists"),
        ("up/down", "up", "exists"),
        ("nope", "x", "missing"),
        ("imaptest", "imaptest/x", "unsupported"),
        ("INBOX", "x", "unsupported"),
    ] {
        let e = s.rename_mailbox(None, "u", from, to).unwrap_err();
        let ok = match want {
            "exists" => matches!(e, Error::MailboxExists(_)),
            "missing" => matches!(e, Error::MailboxNotFound(_)),
            _ => matches!(e, Error::NotSupported(_)),
        };
        assert!(ok, "{from} -> {to}: {e}");
        assert_eq!(snapshot(&acct), before, "{from} -> {to}");
    }
}

#[test]
fn rename_replaces_leftover_companions_and_moves_noselect_levels() {
    let (dir, s) = store();
    let (acct, validity) = account_with_tree(dir.path(), &s);
    // What a crash during DELETE of `other` could leave.
    fs::write(acct.join("other.mbox.uidvalidity"), "7\n").unwrap();
    fs::write(acct.join("other.mbox.idx"), "junk").unwrap();
    fs::create_dir_all(acct.join("other/child")).unwrap();
    fs::write(acct.join("other/child/deep.mbox.idx"), "junk").unwrap();
    s.rename_mailbox(None, "u", "imaptest", "other").unwrap();
    fs::remove_file(acct.join("other.mbox.idx")).unwrap();
    let mb = s.open_mailbox(None, "u", "other").unwrap();
    assert_eq!(mb.uid_validity(), validity);
    assert_eq!(mb.messages().len(), 1);
    drop(mb);
    s.open_mailbox(None, "u", "other/child/deep").unwrap();

    // A \Noselect level: its inferiors move.
    s.delete_mailbox(None, "u", "other").unwrap();
    s.rename_mailbox(None, "u", "other", "third").unwrap();
    assert_eq!(
        s.list_mailboxes(None, "u").unwrap(),
        ["INBOX", "third/child", "third/child/deep"]
    );
    assert!(!acct.join("other").exists());
}

#[test]
fn delete_keeps_inferiors_and_removes_empty_hierarchy_folders() {
    let (dir, s) = store();
    let (acct, _) = account_with_tree(dir.path(), &s);
    // RFC 9051 §6.3.4: the inferiors stay.
    s.delete_mailbox(None, "u", "imaptest").unwrap();
    assert_eq!(
        s.list_mailboxes(None, "u").unwrap(),
        ["INBOX", "imaptest/child", "imaptest/child/deep"]
    );
    assert!(!acct.join("imaptest.mbox.idx").exists());
    assert!(matches!(
        s.delete_mailbox(None, "u", "imaptest"),
        Err(Error::MailboxNotFound(_))
    ));
    s.delete_mailbox(None, "u", "imaptest/child/deep").unwrap();
    assert!(acct.join("imaptest/child.mdir").is_dir());
    assert!(!acct.join("imaptest/child").exists());
    s.delete_mailbox(None, "u", "imaptest/child").unwrap();
    assert!(!acct.join("imaptest").exists());
    assert_eq!(s.list_mailboxes(None, "u").unwrap(), ["INBOX"]);

    // Leftover empty folders below a deleted name go too; hidden or
    // other files are kept.
    s.create_mailbox(None, "u", "a/b/c", None).unwrap();
    fs::create_dir_all(acct.join("a/b/c/d/e")).unwrap();
    fs::create_dir_all(acct.join("a/x")).unwrap();
    fs::write(acct.join("a/x/.keep"), "").unwrap();
    s.delete_mailbox(None, "u", "a/b/c").unwrap();
    assert!(!acct.join("a/b").exists());
    assert!(acct.join("a/x/.keep").exists());
    // The names are free again.
    s.create_mailbox(None, "u", "a/b/c", None).unwrap();
    assert_eq!(s.list_mailboxes(None, "u").unwrap(), ["INBOX", "a/b/c"]);
}
