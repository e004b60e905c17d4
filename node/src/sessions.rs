//! The node's live sessions (POP3 and IMAP with the accounts they are
//! logged in as; SMTP and CLI counted only), so the CLI's
//! `KillAccountSessions` can close them and WebAdmin can count them.
//!
//! A session runs inside [`SessionRegistry::run`], which gives its task an
//! id (a tokio task-local) and races it against a kill signal. The login
//! itself is recorded by the `AdminApi` credential checks through
//! [`admin::NodeControl::session_login`], which finds the session by that
//! task-local; so the protocol code needs no hook of its own.
//!
//! Killing drops the session future: its socket closes without a farewell
//! line (as a network failure would look to the client). Writes the session
//! had started run to their end, because mailbox writes run on the blocking
//! pool under the account's lock, not inside the session future.
//!
//! The registry is node-local; `KillAccountSessions` asks the other members
//! to close theirs (cluster protocol 4). A session another member hands
//! over runs here under [`SessionRegistry::run_as`] (the account's holder),
//! and its client side on the member the client reached: closing either
//! ends it. Both count as this node's sessions, but only the client side
//! in [`SessionRegistry::client_counts`], so cluster-wide sums count each
//! client once.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};

use cluster::AccountRef;
use tokio::sync::oneshot;

tokio::task_local! {
    /// The registry id of the session running on this task.
    static CURRENT: u64;
}

/// The live sessions of one node.
#[derive(Clone, Default)]
pub struct SessionRegistry {
    inner: Arc<Mutex<Inner>>,
}

#[derive(Default)]
struct Inner {
    next_id: u64,
    open: HashMap<u64, Entry>,
}

struct Entry {
    protocol: &'static str,
    account: Option<AccountRef>,
    kill: Option<oneshot::Sender<()>>,
    /// Handed over by the member the client is connected to.
    handed_over: bool,
}

/// Removes a session's entry when its future ends or is dropped.
struct Registered {
    inner: Arc<Mutex<Inner>>,
    id: u64,
}

impl Drop for Registered {
    fn drop(&mut self) {
        lock(&self.inner).open.remove(&self.id);
    }
}

fn lock(inner: &Mutex<Inner>) -> std::sync::MutexGuard<'_, Inner> {
    // The map stays consistent across a panic: every change is one insert
    // or remove.
    inner.lock().unwrap_or_else(PoisonError::into_inner)
}

impl SessionRegistry {
    /// An empty registry.
    pub fn new() -> SessionRegistry {
        SessionRegistry::default()
    }

    /// Runs `session` as a registered `protocol` session until it ends or
    /// [`SessionRegistry::kill`] closes it; returns whether it was killed.
    /// Its login is recorded by [`SessionRegistry::login`].
    pub async fn run(&self, protocol: &'static str, session: impl Future<Output = ()>) -> bool {
        self.run_entry(protocol, None, true, false, session).await
    }

    /// Runs a session that is logged in as `account` from its start (one
    /// another member handed over to this one, which holds the account).
    pub async fn run_as(
        &self,
        protocol: &'static str,
        account: AccountRef,
        session: impl Future<Output = ()>,
    ) -> bool {
        self.run_entry(protocol, Some(account), true, true, session)
            .await
    }

    /// Runs a session that is only counted, never killed (SMTP, whose
    /// transactions must not be cut between the queue commit and the
    /// `250`; the CLI).
    pub async fn count(&self, protocol: &'static str, session: impl Future<Output = ()>) {
        self.run_entry(protocol, None, false, false, session).await;
    }

    async fn run_entry(
        &self,
        protocol: &'static str,
        account: Option<AccountRef>,
        killable: bool,
        handed_over: bool,
        session: impl Future<Output = ()>,
    ) -> bool {
        let (kill, killed) = oneshot::channel();
        let id = {
            let mut inner = lock(&self.inner);
            inner.next_id += 1;
            let id = inner.next_id;
            let entry = Entry {
                protocol,
                account,
                kill: killable.then_some(kill),
                handed_over,
            };
            inner.open.insert(id, entry);
            id
        };
        let _registered = Registered {
            inner: self.inner.clone(),
            id,
        };
        if !killable {
            // No task-local: a login on this task is not recorded.
            session.await;
            return false;
        }
        tokio::select! {
            () = CURRENT.scope(id, session) => false,
            Ok(()) = killed => true,
        }
    }

    /// Records that the session on the current task logged in as
    /// `account`; outside a registered session it does nothing.
    pub fn login(&self, account: &AccountRef) {
        let Ok(id) = CURRENT.try_with(|id| *id) else {
            return;
        };
        if let Some(entry) = lock(&self.inner).open.get_mut(&id) {
            entry.account.get_or_insert_with(|| account.clone());
        }
    }

    /// Closes every session logged in as `account`; returns how many.
    pub fn kill(&self, account: &AccountRef) -> usize {
        let mut inner = lock(&self.inner);
        inner
            .open
            .values_mut()
            .filter(|e| e.account.as_ref() == Some(account))
            .filter_map(|e| e.kill.take())
            .map(|kill| kill.send(()))
            .filter(Result::is_ok)
            .count()
    }

    /// Open sessions by protocol, logged in or not.
    pub fn counts(&self) -> BTreeMap<&'static str, usize> {
        self.count_where(|_| true)
    }

    /// Open sessions by protocol whose clients are connected to this node:
    /// without those other members handed over (their clients are counted
    /// there).
    pub fn client_counts(&self) -> BTreeMap<&'static str, usize> {
        self.count_where(|e| !e.handed_over)
    }

    fn count_where(&self, keep: impl Fn(&Entry) -> bool) -> BTreeMap<&'static str, usize> {
        let mut counts = BTreeMap::new();
        for entry in lock(&self.inner).open.values().filter(|e| keep(e)) {
            *counts.entry(entry.protocol).or_insert(0) += 1;
        }
        counts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account(name: &str) -> AccountRef {
        AccountRef {
            domain: "example.test".into(),
            name: name.into(),
            in_main_domain: true,
        }
    }

    #[tokio::test]
    async fn kill_closes_only_that_accounts_sessions() {
        let registry = SessionRegistry::new();
        let (a_in, a_out) = oneshot::channel::<bool>();
        let (b_in, b_out) = oneshot::channel::<bool>();
        let r = registry.clone();
        let a = tokio::spawn(async move {
            let killed = r
                .run("POP3", async {
                    r.login(&account("ann"));
                    std::future::pending::<()>().await;
                })
                .await;
            let _ = a_in.send(killed);
        });
        let r = registry.clone();
        let b = tokio::spawn(async move {
            let killed = r
                .run("IMAP", async {
                    r.login(&account("bob"));
                    tokio::task::yield_now().await;
                    r.login(&account("ann")); // a second login does not move it
                    std::future::pending::<()>().await;
                })
                .await;
            let _ = b_in.send(killed);
        });
        while registry.counts().values().sum::<usize>() < 2 {
            tokio::task::yield_now().await;
        }
        // Logins happen on the sessions' tasks: wait until both are seen.
        let logged_in = |who: &str| {
            lock(&registry.inner)
                .open
                .values()
                .any(|e| e.account == Some(account(who)))
        };
        while !(logged_in("ann") && logged_in("bob")) {
            tokio::task::yield_now().await;
        }
        assert_eq!(registry.kill(&account("ann")), 1);
        assert!(a_out.await.unwrap());
        a.await.unwrap();
        assert_eq!(registry.counts().get("IMAP"), Some(&1));
        assert_eq!(registry.counts().get("POP3"), None);
        assert_eq!(registry.kill(&account("ann")), 0);
        assert_eq!(registry.kill(&account("bob")), 1);
        assert!(b_out.await.unwrap());
        b.await.unwrap();
        assert!(registry.counts().is_empty());
    }

    #[tokio::test]
    async fn counted_sessions_are_not_killed_and_handed_over_ones_are() {
        let registry = SessionRegistry::new();
        let r = registry.clone();
        let counted = tokio::spawn(async move {
            r.count("SMTP", async {
                r.login(&account("ann"));
                std::future::pending::<()>().await;
            })
            .await;
        });
        let r = registry.clone();
        let handed = tokio::spawn(async move {
            r.run_as("IMAP", account("ann"), std::future::pending::<()>())
                .await
        });
        while registry.counts().values().sum::<usize>() < 2 {
            tokio::task::yield_now().await;
        }
        assert_eq!(registry.counts().get("IMAP"), Some(&1));
        assert_eq!(
            registry.client_counts().get("IMAP"),
            None,
            "counted where its client is"
        );
        assert_eq!(registry.kill(&account("ann")), 1);
        assert!(handed.await.unwrap());
        assert_eq!(registry.counts().get("SMTP"), Some(&1));
        counted.abort();
    }

    #[test]
    fn login_outside_a_session_is_ignored() {
        let registry = SessionRegistry::new();
        registry.login(&account("ann"));
        assert_eq!(registry.kill(&account("ann")), 0);
    }
}
