//! Account folders on the shared base directory (DESIGN.md §3, §7).
//!
//! Layout inside the domain folder ([`BaseDir::domain_dir`]):
//! * MultiMailbox: `NAME.macnt/` with `account.settings` and `INBOX.mbox`;
//! * MailDirMailbox: `NAME.macnt/` with `account.settings` and `INBOX.mdir/`;
//! * TextMailbox: `NAME.mbox` and `NAME.settings` side by side; INBOX is the
//!   only mailbox such an account can have.
//! * IMAP subscriptions: `account.subscriptions` in the folder
//!   (`NAME.subscriptions` for a TextMailbox), one name per line.
//!
//! The kind of an account is read from what is on disk: `NAME.macnt/` with
//! `INBOX.mdir/` is MailDirMailbox, other `NAME.macnt/` are MultiMailbox,
//! `NAME.mbox` is TextMailbox.
//!
//! Mailbox names use `/` as hierarchy separator. Mailbox `a/b` is stored as
//! `a/b.mbox` (or `a/b.mdir/`) inside the account folder, where `a/` is a
//! plain folder; mailbox `a` itself, if it exists, is `a.mbox` next to it.
//! The first level `INBOX` is matched case-insensitively (RFC 9051 §5.1).
//! A hierarchy folder holding no mailbox has no meaning: DELETE and RENAME
//! remove the ones they empty, and CREATE and RENAME reuse any that remain
//! (left by a crash or an older version).
//!
//! A mailbox RENAME is all or nothing (RFC 9051 §6.3.6): every target is
//! checked first, and a step failing undoes the steps before it.
//!
//! Invariants: a `NAME.macnt/` folder appears complete or not at all (it is
//! built under a hidden temporary name and renamed into place) and disappears
//! the same way (renamed to a hidden name before removal). Names starting
//! with `.` are never accounts or mailboxes, so leftovers are ignored.

use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result, io_err};
use crate::fsync::{parent_dir, sync_dir, temp_path, write_atomic};
use crate::layout::{BaseDir, validate_mailbox_name, validate_name};
use crate::mailbox::{Mailbox, MailboxFormat, lock_path, uid_validity_path};

/// Settings file inside a `NAME.macnt/` folder.
const SETTINGS_FILE: &str = "account.settings";

/// The IMAP subscription list inside an account folder.
const SUBSCRIPTIONS_FILE: &str = "account.subscriptions";

/// The storage kind of an account, named as in CommuniGate Pro.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum AccountKind {
    /// A folder holding any number of mailboxes; INBOX is an mbox.
    MultiMailbox,
    /// A single mbox file: only INBOX.
    TextMailbox,
    /// A folder holding any number of mailboxes; INBOX is an mdir.
    MailDirMailbox,
}

impl AccountKind {
    /// The name: `MultiMailbox`, `TextMailbox` or `MailDirMailbox`.
    pub fn as_str(self) -> &'static str {
        match self {
            AccountKind::MultiMailbox => "MultiMailbox",
            AccountKind::TextMailbox => "TextMailbox",
            AccountKind::MailDirMailbox => "MailDirMailbox",
        }
    }

    /// Parses a name, case-insensitively.
    pub fn parse(s: &str) -> Option<AccountKind> {
        [
            AccountKind::MultiMailbox,
            AccountKind::TextMailbox,
            AccountKind::MailDirMailbox,
        ]
        .into_iter()
        .find(|k| k.as_str().eq_ignore_ascii_case(s))
    }

    /// The format of the INBOX of such an account.
    pub fn inbox_format(self) -> MailboxFormat {
        match self {
            AccountKind::MailDirMailbox => MailboxFormat::Mdir,
            AccountKind::MultiMailbox | AccountKind::TextMailbox => MailboxFormat::Mbox,
        }
    }
}

/// Accounts and their mailboxes under a base directory.
#[derive(Debug, Clone)]
pub struct AccountStore {
    base: BaseDir,
}

impl AccountStore {
    /// An account store on `base`; touches nothing on disk.
    pub fn new(base: BaseDir) -> AccountStore {
        AccountStore { base }
    }

    /// The base directory.
    pub fn base(&self) -> &BaseDir {
        &self.base
    }

    /// The domain folder, after validating the domain name.
    fn domain_dir(&self, domain: Option<&str>) -> Result<PathBuf> {
        if let Some(d) = domain {
            validate_name(d)?;
        }
        Ok(self.base.domain_dir(domain))
    }

    /// `NAME.macnt`, `NAME.mbox` and `NAME.settings` paths of an account.
    fn paths(&self, domain: Option<&str>, name: &str) -> Result<AccountPaths> {
        validate_name(name)?;
        let dir = self.domain_dir(domain)?;
        Ok(AccountPaths {
            macnt: dir.join(format!("{name}.macnt")),
            text: dir.join(format!("{name}.mbox")),
            text_settings: dir.join(format!("{name}.settings")),
            dir,
        })
    }

    fn detect(p: &AccountPaths) -> Option<AccountKind> {
        if p.macnt.is_dir() {
            if p.macnt.join("INBOX.mdir").is_dir() {
                Some(AccountKind::MailDirMailbox)
            } else {
                Some(AccountKind::MultiMailbox)
            }
        } else if p.text.is_file() {
            Some(AccountKind::TextMailbox)
        } else {
            None
        }
    }

    /// The kind of an existing account, detected from the disk.
    ///
    /// # Errors
    /// [`Error::AccountNotFound`], [`Error::BadName`].
    pub fn account_kind(&self, domain: Option<&str>, name: &str) -> Result<AccountKind> {
        Self::detect(&self.paths(domain, name)?).ok_or(Error::AccountNotFound)
    }

    /// Creates an account with an empty settings file and an empty INBOX.
    /// The domain folder is created if missing.
    ///
    /// # Errors
    /// [`Error::AccountExists`], [`Error::BadName`], [`Error::Io`].
    pub fn create_account(
        &self,
        domain: Option<&str>,
        name: &str,
        kind: AccountKind,
    ) -> Result<()> {
        let p = self.paths(domain, name)?;
        fs::create_dir_all(&p.dir).map_err(io_err(&p.dir))?;
        if Self::detect(&p).is_some() {
            return Err(Error::AccountExists);
        }
        match kind {
            AccountKind::TextMailbox => {
                write_atomic(&p.text_settings, b"")?;
                Mailbox::create(&p.text, MailboxFormat::Mbox).map_err(|e| match e {
                    Error::MailboxExists(_) => Error::AccountExists,
                    e => e,
                })
            }
            AccountKind::MultiMailbox | AccountKind::MailDirMailbox => {
                let tmp = temp_path(&p.dir.join(format!(".{name}.macnt")));
                let res = (|| {
                    fs::create_dir(&tmp).map_err(io_err(&tmp))?;
                    write_atomic(&tmp.join(SETTINGS_FILE), b"")?;
                    let format = kind.inbox_format();
                    let inbox = tmp.join(format!("INBOX.{}", format.extension()));
                    Mailbox::create(&inbox, format)?;
                    match fs::rename(&tmp, &p.macnt) {
                        Err(e)
                            if e.kind() == std::io::ErrorKind::AlreadyExists
                                || e.kind() == std::io::ErrorKind::DirectoryNotEmpty =>
                        {
                            Err(Error::AccountExists)
                        }
                        r => r.map_err(io_err(&p.macnt)),
                    }
                })();
                if res.is_err() {
                    let _ = fs::remove_dir_all(&tmp);
                }
                res?;
                sync_dir(&p.dir)
            }
        }
    }

    /// Renames an account, possibly into another domain (whose folder is
    /// created if missing).
    ///
    /// # Errors
    /// [`Error::AccountNotFound`], [`Error::AccountExists`] if the new name
    /// is taken, [`Error::BadName`], [`Error::Io`].
    pub fn rename_account(
        &self,
        domain: Option<&str>,
        old: &str,
        new_domain: Option<&str>,
        new: &str,
    ) -> Result<()> {
        let from = self.paths(domain, old)?;
        let to = self.paths(new_domain, new)?;
        let kind = Self::detect(&from).ok_or(Error::AccountNotFound)?;
        if Self::detect(&to).is_some() {
            return Err(Error::AccountExists);
        }
        fs::create_dir_all(&to.dir).map_err(io_err(&to.dir))?;
        match kind {
            AccountKind::TextMailbox => {
                // The mbox goes last: it is what makes the account exist.
                rename_if_present(&from.text_settings, &to.text_settings)?;
                rename_if_present(&idx_of(&from.text), &idx_of(&to.text))?;
                rename_if_present(&uid_validity_path(&from.text), &uid_validity_path(&to.text))?;
                rename_if_present(&lock_path(&from.text), &lock_path(&to.text))?;
                rename(&from.text, &to.text)?;
            }
            AccountKind::MultiMailbox | AccountKind::MailDirMailbox => {
                rename(&from.macnt, &to.macnt)?;
            }
        }
        sync_dir(&from.dir)?;
        if to.dir != from.dir {
            sync_dir(&to.dir)?;
        }
        Ok(())
    }

    /// Deletes an account and all its mailboxes.
    ///
    /// # Errors
    /// [`Error::AccountNotFound`], [`Error::BadName`], [`Error::Io`].
    pub fn delete_account(&self, domain: Option<&str>, name: &str) -> Result<()> {
        let p = self.paths(domain, name)?;
        match Self::detect(&p).ok_or(Error::AccountNotFound)? {
            AccountKind::TextMailbox => {
                remove_file_if_present(&p.text)?;
                sync_dir(&p.dir)?;
                remove_file_if_present(&idx_of(&p.text))?;
                remove_file_if_present(&uid_validity_path(&p.text))?;
                remove_file_if_present(&lock_path(&p.text))?;
                remove_file_if_present(&p.text_settings)?;
                remove_file_if_present(&p.dir.join(format!("{name}.subscriptions")))?;
            }
            AccountKind::MultiMailbox | AccountKind::MailDirMailbox => {
                // Hide it first, so a crash never leaves half an account.
                let doomed = temp_path(&p.dir.join(format!(".{name}.macnt")));
                rename(&p.macnt, &doomed)?;
                sync_dir(&p.dir)?;
                fs::remove_dir_all(&doomed).map_err(io_err(&doomed))?;
            }
        }
        sync_dir(&p.dir)
    }

    fn settings_path(&self, domain: Option<&str>, name: &str) -> Result<PathBuf> {
        let p = self.paths(domain, name)?;
        match Self::detect(&p).ok_or(Error::AccountNotFound)? {
            AccountKind::TextMailbox => Ok(p.text_settings),
            _ => Ok(p.macnt.join(SETTINGS_FILE)),
        }
    }

    /// Replaces the account's settings file (`account.settings` or
    /// `NAME.settings`) with already rendered text, atomically.
    ///
    /// # Errors
    /// [`Error::AccountNotFound`], [`Error::BadName`], [`Error::Io`].
    pub fn write_settings(&self, domain: Option<&str>, name: &str, text: &str) -> Result<()> {
        write_atomic(&self.settings_path(domain, name)?, text.as_bytes())
    }

    /// Reads the account's settings file (empty if it is missing).
    ///
    /// # Errors
    /// [`Error::AccountNotFound`], [`Error::BadName`], [`Error::Io`].
    pub fn read_settings(&self, domain: Option<&str>, name: &str) -> Result<String> {
        let p = self.settings_path(domain, name)?;
        match fs::read(&p) {
            Ok(b) => Ok(String::from_utf8_lossy(&b).into_owned()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(String::new()),
            Err(e) => Err(io_err(&p)(e)),
        }
    }

    fn subscriptions_path(&self, domain: Option<&str>, name: &str) -> Result<PathBuf> {
        let p = self.paths(domain, name)?;
        match Self::detect(&p).ok_or(Error::AccountNotFound)? {
            AccountKind::TextMailbox => Ok(p.dir.join(format!("{name}.subscriptions"))),
            _ => Ok(p.macnt.join(SUBSCRIPTIONS_FILE)),
        }
    }

    /// The account's subscribed mailbox names (IMAP SUBSCRIBE, RFC 9051
    /// §6.3.7), sorted; empty when none were ever written. The names need
    /// not exist as mailboxes.
    ///
    /// # Errors
    /// [`Error::AccountNotFound`], [`Error::BadName`], [`Error::Io`].
    pub fn read_subscriptions(&self, domain: Option<&str>, name: &str) -> Result<Vec<String>> {
        let p = self.subscriptions_path(domain, name)?;
        match fs::read(&p) {
            Ok(b) => {
                let mut names: Vec<String> = String::from_utf8_lossy(&b)
                    .lines()
                    .filter(|l| !l.is_empty())
                    .map(str::to_owned)
                    .collect();
                names.sort();
                names.dedup();
                Ok(names)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
            Err(e) => Err(io_err(&p)(e)),
        }
    }

    /// Replaces the account's subscription list atomically: one UTF-8
    /// name per line in `account.subscriptions` (`NAME.subscriptions` for
    /// a text account).
    ///
    /// # Errors
    /// [`Error::BadName`] for an empty name or one with a control
    /// character, [`Error::AccountNotFound`], [`Error::Io`].
    pub fn write_subscriptions(
        &self,
        domain: Option<&str>,
        name: &str,
        names: &[String],
    ) -> Result<()> {
        let mut text = String::new();
        for n in names {
            if n.is_empty() || n.chars().any(char::is_control) {
                return Err(Error::BadName(n.clone()));
            }
            text.push_str(n);
            text.push('\n');
        }
        write_atomic(&self.subscriptions_path(domain, name)?, text.as_bytes())
    }

    /// The names of the account's mailboxes, sorted (`INBOX`, `Sent`,
    /// `INBOX/important`, ...).
    ///
    /// # Errors
    /// [`Error::AccountNotFound`], [`Error::BadName`], [`Error::Io`].
    pub fn list_mailboxes(&self, domain: Option<&str>, name: &str) -> Result<Vec<String>> {
        let p = self.paths(domain, name)?;
        let mut out = Vec::new();
        match Self::detect(&p).ok_or(Error::AccountNotFound)? {
            AccountKind::TextMailbox => out.push("INBOX".to_string()),
            _ => walk(&p.macnt, "", &mut out)?,
        }
        out.sort();
        Ok(out)
    }

    /// Creates a mailbox in a MultiMailbox or MailDirMailbox account, in
    /// `format` or, if `None`, in the format of the account's INBOX.
    /// Intermediate hierarchy folders are created as needed.
    ///
    /// # Errors
    /// [`Error::MailboxExists`], [`Error::NotSupported`] for a TextMailbox
    /// account, [`Error::AccountNotFound`], [`Error::BadName`],
    /// [`Error::Io`].
    pub fn create_mailbox(
        &self,
        domain: Option<&str>,
        name: &str,
        mailbox: &str,
        format: Option<MailboxFormat>,
    ) -> Result<()> {
        let p = self.paths(domain, name)?;
        let kind = Self::detect(&p).ok_or(Error::AccountNotFound)?;
        validate_mailbox_name(mailbox)?;
        let mailbox = canonical(mailbox);
        if kind == AccountKind::TextMailbox {
            if mailbox == "INBOX" {
                return Err(Error::MailboxExists(mailbox));
            }
            return Err(Error::NotSupported(
                "a TextMailbox account holds only INBOX".into(),
            ));
        }
        if find_mailbox(&p.macnt, &mailbox).is_some() {
            return Err(Error::MailboxExists(mailbox));
        }
        let format = format.unwrap_or(kind.inbox_format());
        let path = p.macnt.join(format!("{mailbox}.{}", format.extension()));
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).map_err(io_err(parent))?;
            // Make each new hierarchy folder durable in its parent.
            for dir in parent.ancestors().take_while(|d| d.starts_with(&p.macnt)) {
                sync_dir(dir)?;
            }
        }
        Mailbox::create(&path, format).map_err(|e| match e {
            Error::MailboxExists(_) => Error::MailboxExists(mailbox),
            e => e,
        })
    }

    /// Deletes a mailbox other than INBOX, with its index (RFC 9051
    /// §6.3.4). Inferior mailboxes stay, so the name remains as a
    /// `\Noselect` level above them. Hierarchy folders left holding no
    /// mailbox at all are removed, so that none lingers to collide with a
    /// later CREATE or RENAME.
    ///
    /// # Errors
    /// [`Error::MailboxNotFound`], [`Error::NotSupported`] for INBOX,
    /// [`Error::AccountNotFound`], [`Error::BadName`], [`Error::Io`].
    pub fn delete_mailbox(&self, domain: Option<&str>, name: &str, mailbox: &str) -> Result<()> {
        let mailbox = canonical(mailbox);
        if mailbox == "INBOX" {
            return Err(Error::NotSupported("INBOX cannot be deleted".into()));
        }
        let path = self.mailbox_path(domain, name, &mailbox)?;
        let parent = parent_dir(&path).to_path_buf();
        if path.is_dir() {
            // Hidden first, so that a crash never leaves half an mdir
            // that still looks like a mailbox.
            let doomed = hidden_temp(&path);
            rename(&path, &doomed)?;
            sync_dir(&parent)?;
            fs::remove_dir_all(&doomed).map_err(io_err(&doomed))?;
        } else {
            remove_file_if_present(&path)?;
        }
        for companion in companions(&path) {
            remove_file_if_present(&companion)?;
        }
        sync_dir(&parent)?;
        let macnt = self.paths(domain, name)?.macnt;
        prune_hierarchy(&macnt, &macnt.join(&mailbox));
        Ok(())
    }

    /// Renames a mailbox other than INBOX, with its index, UIDVALIDITY and
    /// inferior mailboxes (RFC 9051 §6.3.6); UIDs and UIDVALIDITY stay, as
    /// the messages are the same. A name that is only a hierarchy level
    /// (`\Noselect`) can be renamed too: its inferiors move.
    ///
    /// All or nothing (RFC 9051 §6.3.6 allows no partial rename): every
    /// target is checked before anything moves; hierarchy folders of the
    /// new name that hold no mailbox are reused (merged into); if a step
    /// fails, the steps done are undone in reverse order. A crash in the
    /// middle can leave some inferiors under the old name, but each
    /// mailbox is whole under one name.
    ///
    /// # Errors
    /// [`Error::MailboxNotFound`], [`Error::MailboxExists`] when the new
    /// name, an inferior's new name or a file in the way is taken,
    /// [`Error::NotSupported`] for INBOX or for a name inside the old one,
    /// [`Error::AccountNotFound`], [`Error::BadName`], [`Error::Io`].
    pub fn rename_mailbox(
        &self,
        domain: Option<&str>,
        name: &str,
        from: &str,
        to: &str,
    ) -> Result<()> {
        let (from, to) = (canonical(from), canonical(to));
        if from == "INBOX" {
            return Err(Error::NotSupported(
                "INBOX is renamed by moving its messages".into(),
            ));
        }
        validate_mailbox_name(&from)?;
        validate_mailbox_name(&to)?;
        if to.starts_with(&format!("{from}/")) {
            return Err(Error::NotSupported(
                "a mailbox cannot move inside itself".into(),
            ));
        }
        let p = self.paths(domain, name)?;
        let names = self.list_mailboxes(domain, name)?;
        let under =
            |m: &str, n: &str| m == n || m.strip_prefix(n).is_some_and(|r| r.starts_with('/'));
        if !names.iter().any(|m| under(m, &from)) {
            return Err(Error::MailboxNotFound(from));
        }
        // Also refuses moving a mailbox up onto its own parent level.
        if names.iter().any(|m| under(m, &to)) {
            return Err(Error::MailboxExists(to));
        }
        let taken = || Error::MailboxExists(to.clone());

        // Plan and check everything before the first change.
        let mut leftovers = Vec::new();
        let mut moves = Vec::new();
        if let Some(old) = find_mailbox(&p.macnt, &from) {
            let ext = MailboxFormat::of_path(&old)
                .unwrap_or(MailboxFormat::Mbox)
                .extension();
            let new = p.macnt.join(format!("{to}.{ext}"));
            if exists(&new)? {
                return Err(taken());
            }
            // Index and UIDVALIDITY first: a crash in between leaves a
            // mailbox whose index is rebuilt, never an index describing
            // another mailbox.
            for (a, b) in companions(&old).into_iter().zip(companions(&new)) {
                // No mailbox owns them: what a crash during DELETE left.
                if exists(&b)? {
                    leftovers.push(b.clone());
                }
                if exists(&a)? {
                    moves.push((a, b));
                }
            }
            moves.push((old, new));
        }
        let old_dir = p.macnt.join(&from);
        let new_dir = p.macnt.join(&to);
        let merge = old_dir.is_dir();
        if merge && !check_merge(&old_dir, &new_dir, &mut leftovers)? {
            return Err(taken());
        }

        for f in &leftovers {
            remove_file_if_present(f)?;
        }
        let mut journal = Journal::new();
        for f in &leftovers {
            journal.dirty.insert(parent_dir(f).to_path_buf());
        }
        let res = (|| {
            for (a, b) in &moves {
                journal.make_parents(b)?;
                journal.rename(a, b)?;
            }
            if merge {
                journal.merge(&old_dir, &new_dir)?;
            }
            journal.sync()
        })();
        if let Err(e) = res {
            journal.undo();
            return Err(e);
        }
        prune_hierarchy(&p.macnt, &old_dir);
        Ok(())
    }

    /// The path of an existing mailbox (`.mbox` file or `.mdir` folder).
    ///
    /// # Errors
    /// [`Error::MailboxNotFound`], [`Error::AccountNotFound`],
    /// [`Error::BadName`].
    pub fn mailbox_path(&self, domain: Option<&str>, name: &str, mailbox: &str) -> Result<PathBuf> {
        let p = self.paths(domain, name)?;
        let kind = Self::detect(&p).ok_or(Error::AccountNotFound)?;
        validate_mailbox_name(mailbox)?;
        let mailbox = canonical(mailbox);
        let found = match kind {
            AccountKind::TextMailbox => (mailbox == "INBOX").then_some(p.text),
            _ => find_mailbox(&p.macnt, &mailbox),
        };
        found.ok_or(Error::MailboxNotFound(mailbox))
    }

    /// Opens an existing mailbox (see [`Mailbox::open`]).
    ///
    /// # Errors
    /// As [`AccountStore::mailbox_path`] and [`Mailbox::open`].
    pub fn open_mailbox(&self, domain: Option<&str>, name: &str, mailbox: &str) -> Result<Mailbox> {
        Mailbox::open(&self.mailbox_path(domain, name, mailbox)?)
    }

    /// Creates the folder of a secondary domain (`Domains/<domain>/`); an
    /// existing folder is fine.
    ///
    /// # Errors
    /// [`Error::BadName`], [`Error::Io`].
    pub fn create_domain_dir(&self, domain: &str) -> Result<()> {
        let dir = self.domain_dir(Some(domain))?;
        fs::create_dir_all(&dir).map_err(io_err(&dir))?;
        sync_dir(&self.base.domains_dir())
    }

    /// Deletes the folder of a secondary domain with all its accounts; a
    /// missing folder is fine.
    ///
    /// # Errors
    /// [`Error::BadName`], [`Error::Io`].
    pub fn delete_domain_dir(&self, domain: &str) -> Result<()> {
        let dir = self.domain_dir(Some(domain))?;
        if !dir.exists() {
            return Ok(());
        }
        let doomed = temp_path(&self.base.domains_dir().join(format!(".{domain}")));
        rename(&dir, &doomed)?;
        sync_dir(&self.base.domains_dir())?;
        fs::remove_dir_all(&doomed).map_err(io_err(&doomed))
    }
}

/// Paths of one account.
struct AccountPaths {
    dir: PathBuf,
    macnt: PathBuf,
    text: PathBuf,
    text_settings: PathBuf,
}

/// `INBOX` for any case of a first level `inbox` (RFC 9051 §5.1).
fn canonical(mailbox: &str) -> String {
    match mailbox.split_once('/') {
        Some((first, rest)) if first.eq_ignore_ascii_case("INBOX") => format!("INBOX/{rest}"),
        None if mailbox.eq_ignore_ascii_case("INBOX") => "INBOX".to_string(),
        _ => mailbox.to_string(),
    }
}

/// The existing `.mbox` file or `.mdir` folder of `mailbox` in `macnt`.
fn find_mailbox(macnt: &Path, mailbox: &str) -> Option<PathBuf> {
    let mbox = macnt.join(format!("{mailbox}.mbox"));
    if mbox.is_file() {
        return Some(mbox);
    }
    let mdir = macnt.join(format!("{mailbox}.mdir"));
    mdir.is_dir().then_some(mdir)
}

/// Collects mailbox names under `dir`, prefixed with `prefix`.
fn walk(dir: &Path, prefix: &str, out: &mut Vec<String>) -> Result<()> {
    for entry in fs::read_dir(dir).map_err(io_err(dir))? {
        let entry = entry.map_err(io_err(dir))?;
        let Ok(fname) = entry.file_name().into_string() else {
            continue;
        };
        if fname.starts_with('.') {
            continue;
        }
        let ft = entry.file_type().map_err(io_err(&entry.path()))?;
        if let Some(stem) = fname.strip_suffix(".mbox").filter(|_| ft.is_file()) {
            out.push(format!("{prefix}{stem}"));
        } else if let Some(stem) = fname.strip_suffix(".mdir").filter(|_| ft.is_dir()) {
            out.push(format!("{prefix}{stem}"));
        } else if ft.is_dir() {
            walk(&entry.path(), &format!("{prefix}{fname}/"), out)?;
        }
    }
    Ok(())
}

fn idx_of(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_os_string();
    s.push(".idx");
    PathBuf::from(s)
}

fn rename(from: &Path, to: &Path) -> Result<()> {
    fs::rename(from, to).map_err(io_err(from))
}

fn rename_if_present(from: &Path, to: &Path) -> Result<()> {
    match fs::rename(from, to) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io_err(from)(e)),
        _ => Ok(()),
    }
}

fn remove_file_if_present(p: &Path) -> Result<()> {
    match fs::remove_file(p) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io_err(p)(e)),
        _ => Ok(()),
    }
}

/// The files that go with the mailbox at `path`: index, UIDVALIDITY, lock.
fn companions(path: &Path) -> [PathBuf; 3] {
    [idx_of(path), uid_validity_path(path), lock_path(path)]
}

/// Whether `path` is named as a companion file of a mailbox.
fn is_companion(path: &Path) -> bool {
    let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
        return false;
    };
    [".idx", ".uidvalidity", ".lock"].iter().any(|suffix| {
        name.strip_suffix(suffix)
            .is_some_and(|m| MailboxFormat::of_path(Path::new(m)).is_some())
    })
}

/// Whether a folder entry named `name` is an mdir mailbox (never merged
/// into another folder).
fn is_mdir(name: &std::ffi::OsStr) -> bool {
    name.to_str().is_some_and(|n| n.ends_with(".mdir"))
}

/// A hidden (hence ignored) fresh name next to `path`.
fn hidden_temp(path: &Path) -> PathBuf {
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    temp_path(&parent_dir(path).join(format!(".{name}")))
}

/// The metadata of `path` itself (not following a symlink), `None` if
/// nothing is there.
fn metadata(path: &Path) -> Result<Option<fs::Metadata>> {
    match fs::symlink_metadata(path) {
        Ok(m) => Ok(Some(m)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_err(path)(e)),
    }
}

fn exists(path: &Path) -> Result<bool> {
    Ok(metadata(path)?.is_some())
}

/// Whether the tree `src` can be merged into `dst` (which holds no
/// mailbox): each entry of `src` lands where nothing is, or is a folder
/// landing on a folder. Companion files in the way are leftovers that no
/// mailbox owns; they are added to `leftovers`.
fn check_merge(src: &Path, dst: &Path, leftovers: &mut Vec<PathBuf>) -> Result<bool> {
    match metadata(dst)? {
        None => return Ok(true),
        Some(m) if !m.is_dir() => return Ok(false),
        Some(_) => {}
    }
    for entry in fs::read_dir(src).map_err(io_err(src))? {
        let entry = entry.map_err(io_err(src))?;
        let (s, d) = (entry.path(), dst.join(entry.file_name()));
        let s_dir = entry.file_type().map_err(io_err(&s))?.is_dir();
        let fits = match metadata(&d)? {
            None => true,
            Some(m) if m.is_dir() && s_dir && !is_mdir(&entry.file_name()) => {
                check_merge(&s, &d, leftovers)?
            }
            Some(m) if m.is_file() && !s_dir && is_companion(&d) => {
                leftovers.push(d);
                true
            }
            Some(_) => false,
        };
        if !fits {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Removes `dir` if it holds nothing but hierarchy folders without
/// mailboxes, then each ancestor below `macnt` left empty. Best effort:
/// the mailbox operation before it has succeeded, and an empty folder
/// that survives (or comes back after a crash) is harmless, since every
/// operation here merges into such folders.
fn prune_hierarchy(macnt: &Path, dir: &Path) {
    let res = (|| -> Result<()> {
        if exists(dir)? && !remove_empty_tree(dir)? {
            return Ok(());
        }
        let mut top = None;
        let mut cur = dir;
        while let Some(parent) = cur.parent().filter(|p| *p != macnt && p.starts_with(macnt)) {
            match fs::remove_dir(parent) {
                Ok(()) => top = Some(parent),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) if e.kind() == std::io::ErrorKind::DirectoryNotEmpty => break,
                Err(e) => return Err(io_err(parent)(e)),
            }
            cur = parent;
        }
        // Only the folder holding the topmost removed one changed visibly.
        let removed = top.unwrap_or(dir);
        sync_dir(parent_dir(removed))
    })();
    if let Err(e) = res {
        tracing::warn!(dir = %dir.display(), error = %e, "empty hierarchy folders not removed");
    }
}

/// Removes the folder `dir` if it and its subfolders hold no file, no
/// mdir mailbox and nothing hidden; returns whether it did.
fn remove_empty_tree(dir: &Path) -> Result<bool> {
    let mut empty = true;
    for entry in fs::read_dir(dir).map_err(io_err(dir))? {
        let entry = entry.map_err(io_err(dir))?;
        let name = entry.file_name();
        let folder = entry.file_type().map_err(io_err(&entry.path()))?.is_dir()
            && !is_mdir(&name)
            && !name.to_string_lossy().starts_with('.');
        if !folder || !remove_empty_tree(&entry.path())? {
            empty = false;
        }
    }
    if empty {
        fs::remove_dir(dir).map_err(io_err(dir))?;
    }
    Ok(empty)
}

/// One change made by a rename, to undo on failure.
#[derive(Debug)]
enum Step {
    Renamed(PathBuf, PathBuf),
    MadeDir(PathBuf),
    RemovedDir(PathBuf),
}

#[cfg(test)]
thread_local! {
    /// Makes step number N (counted from 0, the final fsync included) of
    /// a [`Journal`] on this thread fail, to test the undo.
    static FAIL_STEP: std::cell::Cell<Option<usize>> = const { std::cell::Cell::new(None) };
}

/// The changes of one mailbox rename, kept so that a failure in the
/// middle can be undone, and the folders whose entries changed.
struct Journal {
    done: Vec<Step>,
    dirty: std::collections::BTreeSet<PathBuf>,
}

impl Journal {
    fn new() -> Journal {
        Journal {
            done: Vec::new(),
            dirty: Default::default(),
        }
    }

    fn step(&self) -> Result<()> {
        #[cfg(test)]
        if FAIL_STEP.with(std::cell::Cell::get) == Some(self.done.len()) {
            return Err(io_err(Path::new("(test)"))(std::io::Error::other(
                "injected failure",
            )));
        }
        Ok(())
    }

    /// Creates the missing folders above `path`.
    fn make_parents(&mut self, path: &Path) -> Result<()> {
        let missing: Vec<PathBuf> = parent_dir(path)
            .ancestors()
            .take_while(|d| !d.exists())
            .map(Path::to_path_buf)
            .collect();
        for d in missing.into_iter().rev() {
            self.step()?;
            fs::create_dir(&d).map_err(io_err(&d))?;
            self.dirty.insert(parent_dir(&d).to_path_buf());
            self.dirty.insert(d.clone());
            self.done.push(Step::MadeDir(d));
        }
        Ok(())
    }

    /// Renames `from` to `to`, never replacing anything (which could not
    /// be undone).
    fn rename(&mut self, from: &Path, to: &Path) -> Result<()> {
        self.step()?;
        if exists(to)? {
            return Err(Error::MailboxExists(to.display().to_string()));
        }
        rename(from, to)?;
        self.dirty.insert(parent_dir(from).to_path_buf());
        self.dirty.insert(parent_dir(to).to_path_buf());
        self.done
            .push(Step::Renamed(from.to_path_buf(), to.to_path_buf()));
        Ok(())
    }

    /// Moves the hierarchy folder `src` to `dst`: one rename if `dst` is
    /// free, else entry by entry into the existing folders.
    fn merge(&mut self, src: &Path, dst: &Path) -> Result<()> {
        if !metadata(dst)?.is_some_and(|m| m.is_dir()) {
            self.make_parents(dst)?;
            return self.rename(src, dst);
        }
        let mut names = Vec::new();
        for entry in fs::read_dir(src).map_err(io_err(src))? {
            names.push(entry.map_err(io_err(src))?.file_name());
        }
        names.sort();
        for n in names {
            let (s, d) = (src.join(&n), dst.join(&n));
            if metadata(&s)?.is_some_and(|m| m.is_dir()) && !is_mdir(&n) {
                self.merge(&s, &d)?;
            } else {
                self.rename(&s, &d)?;
            }
        }
        self.step()?;
        fs::remove_dir(src).map_err(io_err(src))?;
        // Gone: only its parent has a change to sync.
        self.dirty.remove(src);
        self.dirty.insert(parent_dir(src).to_path_buf());
        self.done.push(Step::RemovedDir(src.to_path_buf()));
        Ok(())
    }

    /// Makes every change durable.
    fn sync(&self) -> Result<()> {
        self.step()?;
        self.dirty.iter().try_for_each(|d| sync_dir(d))
    }

    /// Undoes the changes, newest first, as far as possible; what cannot
    /// be undone is logged.
    fn undo(mut self) {
        while let Some(step) = self.done.pop() {
            let res = match &step {
                Step::Renamed(from, to) => fs::rename(to, from),
                Step::MadeDir(d) => fs::remove_dir(d),
                Step::RemovedDir(d) => fs::create_dir(d),
            };
            if let Err(e) = res {
                tracing::error!(?step, error = %e, "mailbox rename not undone");
            }
        }
        for d in self.dirty.iter().filter(|d| d.is_dir()) {
            if let Err(e) = sync_dir(d) {
                tracing::error!(dir = %d.display(), error = %e, "undone mailbox rename not synced");
            }
        }
    }
}

#[cfg(test)]
mod tests;
