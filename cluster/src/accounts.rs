//! Account owners: the single place on this node that opens an account's
//! mailboxes.
//!
//! DESIGN invariant 3: one writer per account. Inside a node that is this
//! hub: every mailbox operation of an account runs under the account's lock,
//! on a blocking thread, except reads and unsynced changes of the open
//! INBOX, which run on the caller's ([`AccountHub::read_mailbox`],
//! [`AccountHub::update_mailbox`]). POP3 additionally takes the account's
//! maildrop lock for a whole session (RFC 1939 §8), so a second session gets
//! `[IN-USE]`. The cluster issue adds leases and forwarding behind this
//! same interface: the cluster crate owns it because account ownership is
//! what the cluster arbitrates.
//!
//! Across nodes, an account is open on one node at a time: before any
//! operation the hub holds (or renews) the account's lease in Raft
//! (`crate::lease`); when another node holds it the operation fails with
//! [`Error::AccountBusy`]. Deliveries are then handed to the holder
//! ([`AccountHub::deliver`]); POP3 and IMAP sessions pin the lease for
//! their lifetime ([`AccountHub::pin`]), and a session that logs in on
//! another member is handed to the holder whole
//! ([`crate::rpc::RpcRequest::OpenSession`]), so one member serves all of
//! an account's sessions and they see one state. A lease taken anew means
//! another node may have written the files, so whatever takes it (an
//! operation, a pin, a renewal) drops what was cached.
//!
//! An account's INBOX stays open between operations (opening replays the
//! mailbox index, which grows with the mailbox), up to
//! [`MAX_OPEN_INBOXES`] at once; any other operation on the account's files
//! closes it, so nothing cached outlives a rename or a delete.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use storage::{AccountKind, AccountStore, Flags, Mailbox, MailboxFormat, NewMessage, Uid};

use crate::command::{Command, CommandResult};
use crate::directory::AccountRef;
use crate::error::{Error, Result};
use crate::handle::ClusterHandle;
use crate::lease::LeaseOutcome;
use crate::rpc::{
    Delivery, MAILBOX_DELIVERY_VERSION, MailboxDelivery, RpcRequest, RpcResponse,
    SESSION_HANDOFF_VERSION,
};

/// How long an account lease lasts unless renewed (a dead holder's
/// accounts move within this time).
pub const LEASE_TTL: Duration = Duration::from_secs(10);
/// A lease not used for this long is given back, so that another node can
/// take the account (unless a POP3 session keeps the maildrop open).
pub const IDLE_RELEASE: Duration = Duration::from_secs(2);
/// How far apart the members' clocks may be: a holder stops trusting its
/// lease this much before the cluster considers it lapsed.
pub const CLOCK_SKEW_MARGIN: Duration = Duration::from_secs(2);

/// The account hub.
#[derive(Clone)]
pub struct AccountHub {
    inner: Arc<Inner>,
}

/// The mailbox deliveries go to unless told otherwise.
pub const INBOX: &str = "INBOX";

/// A message to store in an account, as delivery hands it over.
#[derive(Clone, Debug)]
pub struct Arrival {
    /// The mailbox: [`INBOX`], or another one (see [`AccountHub::deliver`]).
    pub mailbox: String,
    /// The message as stored (wire form).
    pub message: Arc<Vec<u8>>,
    /// The delivery key (queue id and recipient) against duplicates.
    pub key: String,
    /// The envelope sender.
    pub return_path: String,
    /// The internal date (unix seconds).
    pub internal_date: i64,
}

/// INBOXes kept open at once; past this, mailboxes are closed after use.
pub const MAX_OPEN_INBOXES: usize = 2000;

struct Inner {
    store: AccountStore,
    /// Where leases are taken; `None` for a hub outside any cluster.
    cluster: Option<ClusterHandle>,
    /// The accounts this node holds.
    leases: Mutex<HashMap<AccountRef, LocalLease>>,
    slots: Mutex<HashMap<AccountRef, Arc<tokio::sync::Mutex<Slot>>>>,
    /// Set when the node stops: no operation starts afterwards.
    closed: std::sync::atomic::AtomicBool,
    open_inboxes: AtomicUsize,
    maildrops: Mutex<HashSet<AccountRef>>,
    /// Sessions open per account ([`SessionPin`]): a pinned lease is kept
    /// (renewed while idle) and never yielded.
    pins: Mutex<HashMap<AccountRef, usize>>,
    /// Per-account change counters for sessions waiting on news (IMAP
    /// IDLE); created by [`AccountHub::watch`].
    changes: Mutex<HashMap<AccountRef, tokio::sync::watch::Sender<u64>>>,
}

/// A hub reference that does not keep the hub alive (held by the RPC
/// service, which the hub's cluster handle owns).
pub struct WeakHub(std::sync::Weak<Inner>);

impl WeakHub {
    /// The hub, if it still exists.
    pub fn upgrade(&self) -> Option<AccountHub> {
        self.0.upgrade().map(|inner| AccountHub { inner })
    }
}

/// This node's view of a lease it holds.
#[derive(Clone, Copy)]
struct LocalLease {
    /// Until when this node may use the account.
    valid_until: Instant,
    /// When an operation last used it.
    last_used: Instant,
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

/// Keeps an account on this node while a POP3 or IMAP session has it
/// open: its lease is renewed even while the session is idle and is not
/// given to peers that ask. Released on drop.
pub struct SessionPin {
    hub: AccountHub,
    account: AccountRef,
}

impl SessionPin {
    /// The pinned account.
    pub fn account(&self) -> &AccountRef {
        &self.account
    }
}

/// Serves sessions handed over by other members (the node's POP3 and IMAP
/// services implement it; see [`crate::ClusterHandle::register_sessions`]).
pub trait SessionAcceptor: Send + Sync + 'static {
    /// Serves `handoff` on `stream` (the connection from the member the
    /// client is on), with the account pinned here.
    fn serve(
        &self,
        handoff: crate::rpc::SessionHandoff,
        pin: SessionPin,
        stream: tokio::net::TcpStream,
    ) -> std::pin::Pin<Box<dyn Future<Output = ()> + Send>>;

    /// This node's recent activity, for peers adding up the cluster's.
    fn activity(&self) -> crate::rpc::NodeActivity {
        crate::rpc::NodeActivity::default()
    }

    /// Closes this node's sessions logged in as `account`; how many.
    fn kill_sessions(&self, _account: &AccountRef) -> u64 {
        0
    }
}

impl Drop for SessionPin {
    fn drop(&mut self) {
        let mut pins = lock(&self.hub.inner.pins);
        if let Some(n) = pins.get_mut(&self.account) {
            *n -= 1;
            if *n == 0 {
                pins.remove(&self.account);
            }
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // The guarded maps hold no invariant a panic could break half-way.
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl AccountHub {
    /// Creates a hub over the base directory's accounts that takes no
    /// leases (a single process owning the files, e.g. tests and tools).
    pub fn new(store: AccountStore) -> AccountHub {
        AccountHub::build(store, None)
    }

    /// Creates the hub of a cluster member: every operation holds the
    /// account's lease, and peers can hand it deliveries.
    pub fn clustered(store: AccountStore, cluster: ClusterHandle) -> AccountHub {
        let hub = AccountHub::build(store, Some(cluster.clone()));
        cluster.register_hub(WeakHub(Arc::downgrade(&hub.inner)));
        hub
    }

    /// Stores a delivered message in the account (idempotent by its key),
    /// here or, when another node holds the account, on that node.
    ///
    /// A mailbox other than INBOX is made when missing; a TextMailbox
    /// account, which has only INBOX, gets the message there. Until every
    /// member speaks [`MAILBOX_DELIVERY_VERSION`] every message goes to
    /// INBOX: an older holder could not be asked for another mailbox, and
    /// where a message lands must not depend on which member holds the
    /// account (a retry on another member would store it twice).
    ///
    /// # Errors
    /// Storage errors, or the holder could not be reached.
    pub async fn deliver(
        &self,
        account: &AccountRef,
        kind: AccountKind,
        mut arrival: Arrival,
    ) -> Result<Uid> {
        if !self.delivers_beyond_inbox() {
            arrival.mailbox = INBOX.to_string();
        }
        let here = self.deliver_here(account, kind, arrival.clone()).await;
        let (Err(Error::AccountBusy { node }), Some(cluster)) = (&here, &self.inner.cluster) else {
            return here;
        };
        let Arrival {
            mailbox,
            message,
            key,
            return_path,
            internal_date,
        } = arrival;
        let delivery = Delivery {
            account: account.clone(),
            kind,
            message: message.to_vec(),
            key,
            return_path,
            internal_date,
        };
        let request = if is_inbox(&mailbox) {
            RpcRequest::Deliver(delivery)
        } else {
            RpcRequest::DeliverInto(MailboxDelivery { delivery, mailbox })
        };
        match cluster.call_node(*node, request).await? {
            RpcResponse::Delivered(Ok(uid)) => Ok(Uid(uid)),
            RpcResponse::Delivered(Err(e)) => Err(Error::Commit(format!("node {node}: {e}"))),
            other => Err(Error::Commit(format!("node {node} answered {other:?}"))),
        }
    }

    /// Whether deliveries may go to mailboxes other than INBOX (see
    /// [`AccountHub::deliver`]).
    fn delivers_beyond_inbox(&self) -> bool {
        self.inner.cluster.as_ref().is_none_or(|cluster| {
            cluster
                .effective_protocol()
                .is_some_and(|v| v >= MAILBOX_DELIVERY_VERSION)
        })
    }

    /// Stores a delivered message in the account on this node.
    pub(crate) async fn deliver_here(
        &self,
        account: &AccountRef,
        kind: AccountKind,
        arrival: Arrival,
    ) -> Result<Uid> {
        let Arrival {
            mailbox,
            message,
            key,
            return_path,
            internal_date,
        } = arrival;
        let append = move |mailbox: &mut Mailbox| {
            let new = NewMessage {
                bytes: &message,
                flags: Flags::default(),
                internal_date,
                key: Some(key),
                return_path: &return_path,
            };
            let uids = mailbox.append(&[new])?;
            Ok(uids.first().copied().unwrap_or(Uid(0)))
        };
        if is_inbox(&mailbox) || kind == AccountKind::TextMailbox {
            return self.with_inbox(account, kind, append).await;
        }
        let slot = self.acquire(account).await?;
        let hub = self.clone();
        let target = account.clone();
        let result = tokio::task::spawn_blocking(move || -> Result<Uid> {
            let _held = slot;
            hub.check_still_held(&target)?;
            let mut mailbox = open_or_make(&hub.inner.store, &target, kind, &mailbox)?;
            Ok(append(&mut mailbox)?)
        })
        .await;
        self.notify(account);
        result.map_err(|e| Error::Task(e.to_string()))?
    }

    fn build(store: AccountStore, cluster: Option<ClusterHandle>) -> AccountHub {
        let hub = AccountHub {
            inner: Arc::new(Inner {
                store,
                cluster,
                leases: Mutex::new(HashMap::new()),
                slots: Mutex::new(HashMap::new()),
                closed: std::sync::atomic::AtomicBool::new(false),
                open_inboxes: AtomicUsize::new(0),
                maildrops: Mutex::new(HashSet::new()),
                pins: Mutex::new(HashMap::new()),
                changes: Mutex::new(HashMap::new()),
            }),
        };
        if hub.inner.cluster.is_some() {
            tokio::spawn(release_idle_leases(Arc::downgrade(&hub.inner)));
        }
        hub
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
        let mut slot = self.acquire(account).await?;
        if slot.inbox.take().is_some() {
            self.inner.open_inboxes.fetch_sub(1, Ordering::Relaxed);
        }
        let hub = self.clone();
        let target = account.clone();
        // The guard moves into the task: the lock is held until `f` is done.
        let result = tokio::task::spawn_blocking(move || {
            let _held = slot;
            hub.check_still_held(&target)?;
            f(&hub.inner.store).map_err(Error::from)
        })
        .await;
        self.notify(account);
        result.map_err(|e| Error::Task(e.to_string()))?
    }

    /// Like [`AccountHub::with_account`] for reads of the account's folder
    /// that open no mailbox (listing mailboxes, reading subscriptions):
    /// the cached INBOX stays open, watchers are not woken, and `f` runs
    /// on the caller's thread (a few small reads the page cache holds).
    /// IMAP clients LIST every few commands; dropping the INBOX there made
    /// the next command replay its whole index.
    ///
    /// # Errors
    /// As [`AccountHub::with_account`].
    pub async fn read_account<R, F>(&self, account: &AccountRef, f: F) -> Result<R>
    where
        F: FnOnce(&AccountStore) -> storage::Result<R> + Send + 'static,
        R: Send + 'static,
    {
        let _held = self.acquire(account).await?;
        self.check_still_held(account)?;
        Ok(f(&self.inner.store)?)
    }

    /// A receiver whose value changes after every operation that may have
    /// changed the account's mailboxes ([`AccountHub::with_account`],
    /// [`AccountHub::with_inbox`], [`AccountHub::with_mailbox`]), so that
    /// sessions (IMAP IDLE) learn of deliveries without polling.
    pub fn watch(&self, account: &AccountRef) -> tokio::sync::watch::Receiver<u64> {
        let mut changes = lock(&self.inner.changes);
        changes.retain(|_, tx| tx.receiver_count() > 0);
        changes
            .entry(account.clone())
            .or_insert_with(|| tokio::sync::watch::channel(0).0)
            .subscribe()
    }

    fn notify(&self, account: &AccountRef) {
        if let Some(tx) = lock(&self.inner.changes).get(account) {
            tx.send_modify(|n| *n = n.wrapping_add(1));
        }
    }

    /// Runs `f` on any mailbox of the account under the account lock, on a
    /// blocking thread, and notifies watchers afterwards. INBOX goes
    /// through [`AccountHub::with_inbox`] (and its cache); other mailboxes
    /// are opened for the call.
    ///
    /// # Errors
    /// Storage errors ([`storage::Error::MailboxNotFound`]...), or the
    /// blocking task failing.
    pub async fn with_mailbox<R, F>(
        &self,
        account: &AccountRef,
        kind: AccountKind,
        mailbox: &str,
        f: F,
    ) -> Result<R>
    where
        F: FnOnce(&mut Mailbox) -> storage::Result<R> + Send + 'static,
        R: Send + 'static,
    {
        let result = self.run_mailbox(account, kind, mailbox, f).await;
        self.notify(account);
        result
    }

    /// Like [`AccountHub::with_mailbox`] for reads: watchers are not
    /// notified, so sessions catching up on changes do not wake each other.
    /// A read of the open INBOX runs in place, under the account lock but
    /// on the caller's thread: it writes nothing and reads files the page
    /// cache holds, and the hop to a blocking thread and back (two thread
    /// wake-ups) cost more than the read itself (IMAP FETCH, STATUS and
    /// the update after every command).
    ///
    /// # Errors
    /// As [`AccountHub::with_mailbox`].
    pub async fn read_mailbox<R, F>(
        &self,
        account: &AccountRef,
        kind: AccountKind,
        mailbox: &str,
        f: F,
    ) -> Result<R>
    where
        F: FnOnce(&Mailbox) -> storage::Result<R> + Send + 'static,
        R: Send + 'static,
    {
        if !is_inbox(mailbox) {
            return self
                .run_mailbox(account, kind, mailbox, move |m: &mut Mailbox| f(m))
                .await;
        }
        let mut slot = self.acquire(account).await?;
        if slot.inbox.is_none() {
            return self
                .inbox_in(slot, account, kind, move |m: &mut Mailbox| f(m))
                .await;
        }
        self.in_place(&mut slot, account, move |m: &mut Mailbox| f(m))
    }

    /// Like [`AccountHub::with_mailbox`] for changes that do not wait for
    /// the disk (flags, expunges, taking the recent messages; see the
    /// durability rules of [`storage::Mailbox`]): on the open INBOX they
    /// run in place, as reads do ([`AccountHub::read_mailbox`]). Appends,
    /// which fsync, go through [`AccountHub::with_mailbox`]. A change may
    /// compact the mailbox's index (an fsync, once every few hundred
    /// changes).
    ///
    /// # Errors
    /// As [`AccountHub::with_mailbox`].
    pub async fn update_mailbox<R, F>(
        &self,
        account: &AccountRef,
        kind: AccountKind,
        mailbox: &str,
        f: F,
    ) -> Result<R>
    where
        F: FnOnce(&mut Mailbox) -> storage::Result<R> + Send + 'static,
        R: Send + 'static,
    {
        if !is_inbox(mailbox) {
            return self.with_mailbox(account, kind, mailbox, f).await;
        }
        let mut slot = self.acquire(account).await?;
        let result = if slot.inbox.is_none() {
            self.inbox_in(slot, account, kind, f).await
        } else {
            self.in_place(&mut slot, account, f)
        };
        self.notify(account);
        result
    }

    /// Runs `f` on the open INBOX of `slot` on this thread. As on a
    /// blocking thread, the INBOX is out of the slot while `f` runs and is
    /// closed after an error, so the next use reopens (and repairs) it.
    fn in_place<R>(
        &self,
        slot: &mut Slot,
        account: &AccountRef,
        f: impl FnOnce(&mut Mailbox) -> storage::Result<R>,
    ) -> Result<R> {
        self.check_still_held(account)?;
        let Some(mut inbox) = slot.inbox.take() else {
            return Err(Error::Task("the INBOX is not open".into()));
        };
        let result = f(&mut inbox);
        if result.is_ok() {
            slot.inbox = Some(inbox);
        } else {
            self.inner.open_inboxes.fetch_sub(1, Ordering::Relaxed);
        }
        Ok(result?)
    }

    async fn run_mailbox<R, F>(
        &self,
        account: &AccountRef,
        kind: AccountKind,
        mailbox: &str,
        f: F,
    ) -> Result<R>
    where
        F: FnOnce(&mut Mailbox) -> storage::Result<R> + Send + 'static,
        R: Send + 'static,
    {
        if is_inbox(mailbox) {
            return self.inbox(account, kind, f).await;
        }
        let slot = self.acquire(account).await?;
        let hub = self.clone();
        let target = account.clone();
        let name = mailbox.to_owned();
        tokio::task::spawn_blocking(move || -> Result<R> {
            let _held = slot;
            hub.check_still_held(&target)?;
            let mut mailbox =
                hub.inner
                    .store
                    .open_mailbox(target.storage_domain(), &target.name, &name)?;
            Ok(f(&mut mailbox)?)
        })
        .await
        .map_err(|e| Error::Task(e.to_string()))?
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
        let result = self.inbox(account, kind, f).await;
        self.notify(account);
        result
    }

    async fn inbox<R, F>(&self, account: &AccountRef, kind: AccountKind, f: F) -> Result<R>
    where
        F: FnOnce(&mut Mailbox) -> storage::Result<R> + Send + 'static,
        R: Send + 'static,
    {
        let slot = self.acquire(account).await?;
        self.inbox_in(slot, account, kind, f).await
    }

    /// [`AccountHub::inbox`] with the account's lock already taken.
    async fn inbox_in<R, F>(
        &self,
        mut slot: tokio::sync::OwnedMutexGuard<Slot>,
        account: &AccountRef,
        kind: AccountKind,
        f: F,
    ) -> Result<R>
    where
        F: FnOnce(&mut Mailbox) -> storage::Result<R> + Send + 'static,
        R: Send + 'static,
    {
        let hub = self.clone();
        let target = account.clone();
        tokio::task::spawn_blocking(move || -> Result<R> {
            hub.check_still_held(&target)?;
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
    }

    /// Takes the account's lock, then makes sure this node holds its lease;
    /// when the lease is taken anew, the cached INBOX is dropped (another
    /// node may have written since). Refused once the hub is closed (the
    /// node is stopping).
    async fn acquire(&self, account: &AccountRef) -> Result<tokio::sync::OwnedMutexGuard<Slot>> {
        if self.inner.closed.load(Ordering::SeqCst) {
            return Err(Error::Shutdown);
        }
        let mut slot = self.slot(account).lock_owned().await;
        // Checked again under the lock: `close` takes every lock after
        // setting the flag, so nothing starts once it has passed.
        if self.inner.closed.load(Ordering::SeqCst) {
            return Err(Error::Shutdown);
        }
        if self.ensure_lease(account).await? && slot.inbox.take().is_some() {
            self.inner.open_inboxes.fetch_sub(1, Ordering::Relaxed);
        }
        Ok(slot)
    }

    /// Right before touching the files: the lease must still be valid (a
    /// node that was stopped — SIGSTOP, a long pause — between taking the
    /// lease and writing must not write once another may hold it).
    fn check_still_held(&self, account: &AccountRef) -> Result<()> {
        let Some(cluster) = &self.inner.cluster else {
            return Ok(());
        };
        let valid = lock(&self.inner.leases)
            .get(account)
            .is_some_and(|l| l.valid_until > Instant::now());
        if valid {
            Ok(())
        } else {
            Err(Error::LeaseLapsed {
                node: cluster.node_id(),
            })
        }
    }

    /// Stops serving: no account operation starts after this returns, the
    /// running ones have finished, and every lease this node held is given
    /// back (so a stopping node never writes after others took over).
    pub async fn close(&self) {
        self.inner.closed.store(true, Ordering::SeqCst);
        let slots: Vec<_> = lock(&self.inner.slots).values().cloned().collect();
        for slot in slots {
            drop(slot.lock_owned().await);
        }
        let held: Vec<AccountRef> = lock(&self.inner.leases).drain().map(|(a, _)| a).collect();
        if let Some(cluster) = &self.inner.cluster {
            let releases = held.into_iter().map(|account| {
                cluster.propose(Command::ReleaseLease {
                    account: account.address(),
                    node: cluster.node_id(),
                })
            });
            futures::future::join_all(releases).await;
        }
    }

    /// Makes sure this node holds `account`'s lease for a while yet,
    /// renewing it when half its time is gone. Returns whether the lease
    /// was taken anew (cached mailbox state may be stale).
    async fn ensure_lease(&self, account: &AccountRef) -> Result<bool> {
        let Some(cluster) = &self.inner.cluster else {
            return Ok(false);
        };
        let now = Instant::now();
        let valid_until = {
            let mut leases = lock(&self.inner.leases);
            let held = leases.get_mut(account);
            let valid_until = held.as_ref().map(|l| l.valid_until);
            if let Some(l) = held {
                l.last_used = now;
            }
            valid_until
        };
        if valid_until.is_some_and(|v| v > now + LEASE_TTL / 2) {
            return Ok(false);
        }
        let anew = valid_until.is_none_or(|v| v <= now);
        // Two tries: if another member holds the account only because it
        // used it a moment ago, it gives it back when asked.
        for attempt in 0..2 {
            let command = Command::AcquireLease {
                account: account.address(),
                node: cluster.node_id(),
                now_ms: crate::clock::now_ms(),
                ttl_ms: LEASE_TTL.as_millis() as u64,
            };
            let started = Instant::now();
            match cluster.propose(command).await? {
                CommandResult::Lease(LeaseOutcome::Granted { .. }) => {
                    // Counted from before the proposal: never longer than the cluster's view.
                    let lease = LocalLease {
                        valid_until: started + LEASE_TTL - CLOCK_SKEW_MARGIN,
                        last_used: started,
                    };
                    lock(&self.inner.leases).insert(account.clone(), lease);
                    return Ok(anew || attempt > 0);
                }
                CommandResult::Lease(LeaseOutcome::HeldBy { node, .. }) => {
                    lock(&self.inner.leases).remove(account);
                    let asked = cluster
                        .call_node(node, RpcRequest::Yield(account.clone()))
                        .await;
                    if attempt > 0 || !matches!(asked, Ok(RpcResponse::Yielded(true))) {
                        return Err(Error::AccountBusy { node });
                    }
                }
                other => return Err(Error::Commit(format!("unexpected lease result {other:?}"))),
            }
        }
        Err(Error::Commit("lease not granted".into()))
    }

    /// Gives `account` back to the cluster if nothing on this node is
    /// using it (a peer asked for it). Returns whether it did.
    pub(crate) async fn yield_account(&self, account: &AccountRef) -> bool {
        give_back(&self.inner, account, Duration::ZERO).await
    }

    /// Pins `account` to this node for a session: takes its lease (asking
    /// an idle holder to give it back) and keeps it until the pin drops.
    ///
    /// # Errors
    /// [`Error::AccountBusy`] when another member holds the account (the
    /// session belongs there), [`Error::Shutdown`] when this node stops,
    /// or the lease could not be committed.
    pub async fn pin(&self, account: &AccountRef) -> Result<SessionPin> {
        // Counted first, so an idle release cannot slip in between.
        *lock(&self.inner.pins).entry(account.clone()).or_insert(0) += 1;
        let pin = SessionPin {
            hub: self.clone(),
            account: account.clone(),
        };
        // The session goes where the account is open rather than taking it
        // away: a handoff costs a relay, moving the lease three commits and
        // a cold mailbox on the new holder.
        if let Some(node) = self.open_elsewhere(account) {
            return Err(Error::AccountBusy { node });
        }
        self.acquire(account).await?;
        Ok(pin)
    }

    /// The member that holds a live lease on `account`, as this member's
    /// replicated state says, if that is another one and every member can
    /// take a session handoff (before that, the lease is moved instead).
    fn open_elsewhere(&self, account: &AccountRef) -> Option<u64> {
        let cluster = self.inner.cluster.as_ref()?;
        let handoff = cluster.effective_protocol()? >= SESSION_HANDOFF_VERSION;
        let (me, now) = (cluster.node_id(), crate::clock::now_ms());
        cluster.read(|s| {
            let lease = s.leases.held.get(&account.address())?;
            (handoff && lease.node != me && lease.expires_ms > now).then_some(lease.node)
        })
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

/// Opens one of an account's mailboxes other than INBOX, making it (in the
/// mbox format, as IMAP makes the special-use ones) and the account's files
/// when missing.
fn open_or_make(
    store: &AccountStore,
    account: &AccountRef,
    kind: AccountKind,
    mailbox: &str,
) -> storage::Result<Mailbox> {
    let domain = account.storage_domain();
    match store.open_mailbox(domain, &account.name, mailbox) {
        Err(storage::Error::AccountNotFound) => {
            store.create_account(domain, &account.name, kind)?;
        }
        Err(storage::Error::MailboxNotFound(_)) => {}
        other => return other,
    }
    match store.create_mailbox(domain, &account.name, mailbox, Some(MailboxFormat::Mbox)) {
        Ok(()) | Err(storage::Error::MailboxExists(_)) => {}
        Err(e) => return Err(e),
    }
    store.open_mailbox(domain, &account.name, mailbox)
}

/// Whether `mailbox` names INBOX (any case, RFC 9051 §5.1).
fn is_inbox(mailbox: &str) -> bool {
    mailbox.eq_ignore_ascii_case(INBOX)
}

/// Gives back the leases this node has not used for [`IDLE_RELEASE`] and
/// renews the pinned ones, until the hub is gone. A release happens under
/// the account's lock, so no operation runs (or starts) while the lease is
/// being given back.
async fn release_idle_leases(hub: std::sync::Weak<Inner>) {
    loop {
        tokio::time::sleep(IDLE_RELEASE / 2).await;
        let Some(inner) = hub.upgrade() else {
            return;
        };
        let now = Instant::now();
        let pinned: Vec<AccountRef> = lock(&inner.pins).keys().cloned().collect();
        let idle: Vec<AccountRef> = lock(&inner.leases)
            .iter()
            .filter(|(a, l)| now.duration_since(l.last_used) >= IDLE_RELEASE && !pinned.contains(a))
            .map(|(a, _)| a.clone())
            .collect();
        for account in idle {
            give_back(&inner, &account, IDLE_RELEASE).await;
        }
        let due: Vec<AccountRef> = {
            let leases = lock(&inner.leases);
            pinned
                .into_iter()
                .filter(|a| {
                    leases
                        .get(a)
                        .is_none_or(|l| l.valid_until <= now + LEASE_TTL / 2)
                })
                .collect()
        };
        for account in due {
            let hub = AccountHub {
                inner: inner.clone(),
            };
            // Renewed under the account's lock, apart from this loop (an
            // operation may hold the lock a while). A failure is retried
            // next round; the session's next operation reports it.
            tokio::spawn(async move {
                if let Err(e) = hub.acquire(&account).await {
                    tracing::debug!(%account, "cannot renew a pinned lease: {e}");
                }
            });
        }
    }
}

/// Releases this node's lease on `account` if it has not been used for
/// `idle_for`, no POP3 maildrop is open and no operation runs. The release
/// happens under the account's lock, so no operation starts meanwhile.
async fn give_back(inner: &Inner, account: &AccountRef, idle_for: Duration) -> bool {
    let Some(cluster) = inner.cluster.clone() else {
        return false;
    };
    if lock(&inner.maildrops).contains(account) || lock(&inner.pins).contains_key(account) {
        return false;
    }
    let slot = lock(&inner.slots).get(account).cloned();
    let mut guard = match slot.map(|s| s.try_lock_owned()) {
        Some(Ok(guard)) => Some(guard),
        Some(Err(_)) => return false,
        None => None,
    };
    let idle = lock(&inner.leases)
        .get(account)
        .is_none_or(|l| l.last_used.elapsed() >= idle_for);
    if !idle {
        return false;
    }
    lock(&inner.leases).remove(account);
    if guard.as_mut().is_some_and(|g| g.inbox.take().is_some()) {
        inner.open_inboxes.fetch_sub(1, Ordering::Relaxed);
    }
    let release = Command::ReleaseLease {
        account: account.address(),
        node: cluster.node_id(),
    };
    match cluster.propose(release).await {
        Ok(_) => true,
        Err(e) => {
            // It lapses by itself after the TTL.
            tracing::debug!(%account, "lease release failed: {e}");
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use storage::{BaseDir, Flags, NewMessage};

    use super::*;

    fn hub() -> (tempfile::TempDir, AccountHub, AccountRef) {
        let dir = tempfile::tempdir().expect("temp dir");
        let base = BaseDir::new(dir.path());
        base.create_all().expect("base folders");
        let store = AccountStore::new(base);
        store
            .create_account(None, "alice", AccountKind::MultiMailbox)
            .expect("account");
        let account = AccountRef {
            name: "alice".into(),
            domain: "example.test".into(),
            in_main_domain: true,
        };
        (dir, AccountHub::new(store), account)
    }

    fn message() -> NewMessage<'static> {
        NewMessage {
            bytes: b"Subject: x\r\n\r\nhi\r\n",
            flags: Flags::EMPTY,
            internal_date: 0,
            key: None,
            return_path: "",
        }
    }

    #[tokio::test]
    async fn writes_notify_watchers_and_reads_do_not() {
        let (_dir, hub, alice) = hub();
        let kind = AccountKind::MultiMailbox;
        let mut rx = hub.watch(&alice);
        hub.with_inbox(&alice, kind, |m| m.append(&[message()]))
            .await
            .expect("delivery");
        assert!(rx.has_changed().expect("sender alive"));
        rx.mark_unchanged();
        let n = hub
            .read_mailbox(&alice, kind, "inbox", |m| Ok(m.messages().len()))
            .await
            .expect("read");
        assert_eq!(n, 1);
        assert!(!rx.has_changed().expect("sender alive"));
        hub.with_account(&alice, |s| s.create_mailbox(None, "alice", "Sent", None))
            .await
            .expect("create");
        assert!(rx.has_changed().expect("sender alive"));
        rx.mark_unchanged();
        let uids = hub
            .with_mailbox(&alice, kind, "Sent", |m| m.append(&[message()]))
            .await
            .expect("append to Sent");
        assert_eq!(uids.len(), 1);
        assert!(rx.has_changed().expect("sender alive"));
        assert!(matches!(
            hub.read_mailbox(&alice, kind, "Nope", |m| Ok(m.uid_next()))
                .await,
            Err(Error::Storage(storage::Error::MailboxNotFound(_)))
        ));
    }

    #[tokio::test]
    async fn issue_5_a_delivery_makes_its_missing_mailbox_and_is_keyed_there() {
        let (_dir, hub, alice) = hub();
        let kind = AccountKind::MultiMailbox;
        let arrival = Arrival {
            mailbox: "Junk".into(),
            message: Arc::new(b"Subject: x\r\n\r\nhi\r\n".to_vec()),
            key: "7/alice@example.test".into(),
            return_path: "ann@sender.test".into(),
            internal_date: 0,
        };
        for _ in 0..2 {
            hub.deliver(&alice, kind, arrival.clone())
                .await
                .expect("delivery into Junk");
        }
        let count =
            |name: &'static str| hub.read_mailbox(&alice, kind, name, |m| Ok(m.messages().len()));
        assert_eq!(count("Junk").await.expect("Junk was made"), 1);
        assert_eq!(count("INBOX").await.expect("INBOX"), 0);
    }
}
