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

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use storage::{AccountKind, AccountStore, Mailbox};

use crate::directory::AccountRef;
use crate::error::{Error, Result};

/// The account hub.
#[derive(Clone)]
pub struct AccountHub {
    inner: Arc<Inner>,
}

struct Inner {
    store: AccountStore,
    locks: Mutex<HashMap<AccountRef, Arc<tokio::sync::Mutex<()>>>>,
    maildrops: Mutex<HashSet<AccountRef>>,
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
                locks: Mutex::new(HashMap::new()),
                maildrops: Mutex::new(HashSet::new()),
            }),
        }
    }

    /// The storage layer's account store.
    pub fn store(&self) -> &AccountStore {
        &self.inner.store
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
        let account_lock = {
            let mut locks = lock(&self.inner.locks);
            locks.entry(account.clone()).or_default().clone()
        };
        let _held = account_lock.lock().await;
        let hub = self.clone();
        tokio::task::spawn_blocking(move || f(&hub.inner.store))
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
    /// Storage errors, or the blocking task failing.
    pub async fn with_inbox<R, F>(&self, account: &AccountRef, kind: AccountKind, f: F) -> Result<R>
    where
        F: FnOnce(&mut Mailbox) -> storage::Result<R> + Send + 'static,
        R: Send + 'static,
    {
        let target = account.clone();
        self.with_account(account, move |store| {
            let domain = target.storage_domain();
            let mut inbox = match store.open_mailbox(domain, &target.name, "INBOX") {
                Ok(m) => m,
                Err(storage::Error::AccountNotFound) => {
                    store.create_account(domain, &target.name, kind)?;
                    store.open_mailbox(domain, &target.name, "INBOX")?
                }
                Err(e) => return Err(e),
            };
            f(&mut inbox)
        })
        .await
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
