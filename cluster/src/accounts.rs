//! Account owners: the single place on this node that opens an account's
//! mailboxes.
//!
//! DESIGN invariant 3: one writer per account. Inside a node that is this
//! hub: every mailbox operation of an account runs under the account's lock,
//! on a blocking thread. POP3 additionally takes the account's maildrop
//! lock for a whole session (RFC 1939 §8), so a second session gets
//! `[IN-USE]`. The cluster issue adds leases and forwarding behind this
//! same interface: the cluster crate owns it because account ownership is
//! what the cluster arbitrates.
//!
//! An account's INBOX stays open between operations (opening replays the
//! mailbox index, which grows with the mailbox), up to
//! [`MAX_OPEN_INBOXES`] at once; any other operation on the account's files
//! closes it, so nothing cached outlives a rename or a delete.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use storage::{AccountKind, AccountStore, Mailbox};

use crate::directory::AccountRef;
use crate::error::{Error, Result};

/// The account hub.
#[derive(Clone)]
pub struct AccountHub {
    inner: Arc<Inner>,
}

/// INBOXes kept open at once; past this, mailboxes are closed after use.
pub const MAX_OPEN_INBOXES: usize = 2000;

struct Inner {
    store: AccountStore,
    slots: Mutex<HashMap<AccountRef, Arc<tokio::sync::Mutex<Slot>>>>,
    open_inboxes: AtomicUsize,
    maildrops: Mutex<HashSet<AccountRef>>,
}

/// One account's lock and what stays open under it.
#[derive(Default)]
struct Slot {
    inbox: Option<Mailbox>,
}

/// Holds an account's POP3 maildrop lock; released on drop.
pub struct MaildropLock {
    hub: AccountHub,
    account: AccountRef,
}

impl Drop for MaildropLock {
    fn drop(&mut self) {
        lock(&self.hub.inner.maildrops).remove(&self.account);
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // The guarded maps hold no invariant a panic could break half-way.
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl AccountHub {
    /// Creates the hub over the base directory's accounts.
    pub fn new(store: AccountStore) -> AccountHub {
        AccountHub {
            inner: Arc::new(Inner {
                store,
                slots: Mutex::new(HashMap::new()),
                open_inboxes: AtomicUsize::new(0),
                maildrops: Mutex::new(HashSet::new()),
            }),
        }
    }

    /// The storage layer's account store.
    pub fn store(&self) -> &AccountStore {
        &self.inner.store
    }

    fn slot(&self, account: &AccountRef) -> Arc<tokio::sync::Mutex<Slot>> {
        let mut slots = lock(&self.inner.slots);
        slots.entry(account.clone()).or_default().clone()
    }

    /// Runs `f` with the account store under the account's lock, on a
    /// blocking thread: for operations on the account's files (create,
    /// rename, delete, mailbox listing) that must not race a delivery.
    ///
    /// # Errors
    /// What `f` returns, or the blocking task failing.
    pub async fn with_account<R, F>(&self, account: &AccountRef, f: F) -> Result<R>
    where
        F: FnOnce(&AccountStore) -> storage::Result<R> + Send + 'static,
        R: Send + 'static,
    {
        let mut slot = self.slot(account).lock_owned().await;
        if slot.inbox.take().is_some() {
            self.inner.open_inboxes.fetch_sub(1, Ordering::Relaxed);
        }
        let hub = self.clone();
        // The guard moves into the task: the lock is held until `f` is done.
        tokio::task::spawn_blocking(move || {
            let _held = slot;
            f(&hub.inner.store)
        })
        .await
        .map_err(|e| Error::Task(e.to_string()))?
        .map_err(Error::from)
    }

    /// Runs `f` on the account's INBOX under the account lock, on a blocking
    /// thread. The account's folder is created if the directory has the
    /// account but its files are missing (e.g. a crash right after
    /// `CreateAccount` committed).
    ///
    /// # Errors
    /// Storage errors, or the blocking task failing. After an error the
    /// INBOX is closed, so the next use reopens (and repairs) it.
    pub async fn with_inbox<R, F>(&self, account: &AccountRef, kind: AccountKind, f: F) -> Result<R>
    where
        F: FnOnce(&mut Mailbox) -> storage::Result<R> + Send + 'static,
        R: Send + 'static,
    {
        let mut slot = self.slot(account).lock_owned().await;
        let hub = self.clone();
        let target = account.clone();
        tokio::task::spawn_blocking(move || -> storage::Result<R> {
            let inner = &hub.inner;
            let mut inbox = match slot.inbox.take() {
                Some(inbox) => {
                    inner.open_inboxes.fetch_sub(1, Ordering::Relaxed);
                    inbox
                }
                None => open_inbox(&inner.store, &target, kind)?,
            };
            let result = f(&mut inbox)?;
            if inner.open_inboxes.load(Ordering::Relaxed) < MAX_OPEN_INBOXES {
                inner.open_inboxes.fetch_add(1, Ordering::Relaxed);
                slot.inbox = Some(inbox);
            }
            Ok(result)
        })
        .await
        .map_err(|e| Error::Task(e.to_string()))?
        .map_err(Error::from)
    }

    /// Takes the account's POP3 maildrop lock, or `None` if another session
    /// holds it.
    pub fn lock_maildrop(&self, account: &AccountRef) -> Option<MaildropLock> {
        let mut held = lock(&self.inner.maildrops);
        if !held.insert(account.clone()) {
            return None;
        }
        Some(MaildropLock {
            hub: self.clone(),
            account: account.clone(),
        })
    }
}

/// Opens an account's INBOX, creating the account's files if the
/// directory has the account but the disk does not.
fn open_inbox(
    store: &AccountStore,
    account: &AccountRef,
    kind: AccountKind,
) -> storage::Result<Mailbox> {
    let domain = account.storage_domain();
    match store.open_mailbox(domain, &account.name, "INBOX") {
        Err(storage::Error::AccountNotFound) => {
            store.create_account(domain, &account.name, kind)?;
            store.open_mailbox(domain, &account.name, "INBOX")
        }
        other => other,
    }
}
