//! The PIPE module (`Submitted/*.sub`), `sendmail`, and the system log.

use std::time::Duration;

use tests::{TestNode, wait_for};

/// The text of an account's INBOX.mbox once it contains `needle`.
fn wait_in_inbox(node: &TestNode, account: &str, needle: &str) -> String {
    let path = node
        .base()
        .join(format!("Accounts/{account}.macnt/INBOX.mbox"));
    wait_for(Duration::from_secs(10), || {
        let text = std::fs::read_to_string(&path).ok()?;
        text.contains(needle).then_some(text)
    })
    .unwrap_or_else(|| panic!("{needle:?} never reached {account}'s INBOX"))
}

/// Today's system log of the test node.
fn system_log(node: &TestNode) -> String {
    let dir = node.base().join("SystemLogs/node1");
    let mut text = String::new();
    for entry in std::fs::read_dir(dir).expect("log folder").flatten() {
        text.push_str(&std::fs::read_to_string(entry.path()).unwrap_or_default());
    }
    text
}

#[test]
fn sub_file_is_delivered_and_deleted_with_cgp_log_lines() {
    let node = TestNode::start();
    let submitted = node.base().join("Submitted");
    let sub = submitted.join("m1.sub");
    std::fs::write(
        submitted.join("m1.tmp"),
        "From: john.dite@compinia.de\nTo: postmaster@example.test\nBcc: hidden@example.test\nSubject: drop test\n\nhello world\n",
    )
    .unwrap();
    std::fs::rename(submitted.join("m1.tmp"), &sub).unwrap();
    let inbox = wait_in_inbox(&node, "postmaster", "Subject: drop test");
    assert!(inbox.starts_with("From john.dite@compinia.de ("), "{inbox}");
    assert!(inbox.contains("Return-Path: <john.dite@compinia.de>"));
    assert!(!inbox.contains("Bcc:"), "Bcc must be removed: {inbox}");
    assert!(inbox.contains("hello world"));
    let gone = wait_for(Duration::from_secs(5), || (!sub.exists()).then_some(()));
    assert!(
        gone.is_some(),
        "the .sub file must be deleted after enqueueing"
    );

    let log = wait_for(Duration::from_secs(5), || {
        let log = system_log(&node);
        log.contains(" QUEUE(")
            .then_some(log)
            .filter(|l| l.contains(") deleted"))
    })
    .expect("log lines");
    for needle in [
        " 2 PIPE [",
        "received in {Submitted/m1.sub}",
        " 2 QUEUE([",
        "from <john.dite@compinia.de>",
        " 2 ENQUEUER([",
        ") enqueued",
        " 2 MAILBOX(postmaster/INBOX) [",
        "] stored as 1",
        " 2 DEQUEUER [",
        "LOCAL(postmaster) delivered: Delivered to the user mailbox",
        ") deleted",
    ] {
        assert!(log.contains(needle), "log lacks {needle:?}:\n{log}");
    }
    let line = log.lines().find(|l| l.contains(" QUEUE(")).unwrap();
    let (time, _) = line.split_once(' ').unwrap();
    assert_eq!(time.len(), "18:58:08.23".len(), "{line}");
}

#[test]
fn unparseable_sub_file_becomes_bad() {
    let node = TestNode::start();
    let submitted = node.base().join("Submitted");
    std::fs::write(
        submitted.join("broken.sub"),
        "Subject: nobody to send to\n\nbody\n",
    )
    .unwrap();
    let bad = submitted.join("broken.bad");
    let renamed = wait_for(Duration::from_secs(5), || bad.exists().then_some(()));
    assert!(
        renamed.is_some(),
        "a file with no recipients must be renamed .bad"
    );
    assert!(!submitted.join("broken.sub").exists());
    // The scanner logs after the rename, and the log is written by its own
    // task: wait for the line as for the file.
    let logged = wait_for(Duration::from_secs(5), || {
        system_log(&node)
            .contains("{Submitted/broken.sub} rejected")
            .then_some(())
    });
    assert!(logged.is_some(), "{}", system_log(&node));
}

#[test]
fn sendmail_reaches_the_mailbox() {
    let node = TestNode::start();
    let args = node::sendmail::SendmailArgs {
        sender: Some("john.dite@compinia.de".into()),
        recipients: vec!["postmaster@example.test".into()],
        ..Default::default()
    };
    let input = b"Subject: via sendmail\n\nhello world\n";
    node::sendmail::submit(&args, &input[..], &node.base().join("Submitted")).unwrap();
    let inbox = wait_in_inbox(&node, "postmaster", "Subject: via sendmail");
    assert!(inbox.contains("Return-Path: <john.dite@compinia.de>"));
    assert!(!inbox.contains("Envelope-To"), "{inbox}");
}

#[test]
fn mail_and_accounts_survive_a_restart() {
    let node = TestNode::start();
    let submitted = node.base().join("Submitted");
    std::fs::write(
        submitted.join("a.sub"),
        "To: postmaster@example.test\nSubject: before restart\n\nx\n",
    )
    .unwrap();
    wait_in_inbox(&node, "postmaster", "Subject: before restart");
    let node = node.restart();
    let mut c = crate::it::cli::login(&node);
    crate::it::cli::run(&mut c, "INLINE", "200 ");
    crate::it::cli::run(&mut c, "ListAccounts", "201 {postmaster=macnt;}");
    std::fs::write(
        submitted.join("b.sub"),
        "To: postmaster@example.test\nSubject: after restart\n\nx\n",
    )
    .unwrap();
    let inbox = wait_in_inbox(&node, "postmaster", "Subject: after restart");
    assert_eq!(inbox.matches("Subject: before restart").count(), 1);
}
