//! Signed-in WebAdmin sessions, kept in memory.
//!
//! A session id and its CSRF token are 256-bit random values from the
//! operating system's generator, so they cannot be guessed. A session ends
//! after [`IDLE_TIMEOUT`] without a request, on logout, or when the node
//! stops; the store holds at most [`MAX_SESSIONS`], dropping the one
//! closest to expiry first, so a flood of sign-ins cannot exhaust memory.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use cluster::AccountRef;
use rand::RngCore;
use rand::rngs::OsRng;

/// Idle time after which a session ends (CommuniGate's WebAdmin default
/// is of the same order: long enough for a settings page, short enough
/// for an unattended browser).
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(30 * 60);

/// Most sessions kept at once.
pub const MAX_SESSIONS: usize = 10_000;

/// A message to show once on the next page (after a POST and redirect).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Flash {
    /// The action succeeded.
    Done(String),
    /// The action failed; the text is the AdminApi error text.
    Failed(String),
}

/// One signed-in browser.
#[derive(Clone, Debug)]
pub struct Session {
    /// Who signed in.
    pub account: AccountRef,
    /// The token every form of this session must carry.
    pub csrf: String,
    flash: Option<Flash>,
    expires: Instant,
}

/// The session store of one WebAdmin server.
pub struct Sessions {
    map: Mutex<HashMap<String, Session>>,
    idle: Duration,
}

impl Default for Sessions {
    fn default() -> Self {
        Sessions::new(IDLE_TIMEOUT)
    }
}

impl Sessions {
    /// An empty store whose sessions end after `idle` without use.
    pub fn new(idle: Duration) -> Sessions {
        Sessions {
            map: Mutex::new(HashMap::new()),
            idle,
        }
    }

    /// Starts a session; returns its id.
    pub fn create(&self, account: AccountRef) -> String {
        self.create_at(account, Instant::now())
    }

    fn create_at(&self, account: AccountRef, now: Instant) -> String {
        let id = random_token();
        let session = Session {
            account,
            csrf: random_token(),
            flash: None,
            expires: now + self.idle,
        };
        let mut map = self.lock();
        map.retain(|_, s| s.expires > now);
        if map.len() >= MAX_SESSIONS {
            let oldest = map
                .iter()
                .min_by_key(|(_, s)| s.expires)
                .map(|(k, _)| k.clone());
            if let Some(k) = oldest {
                map.remove(&k);
            }
        }
        map.insert(id.clone(), session);
        id
    }

    /// The live session with this id, its idle time restarted; the flash
    /// message is handed out once.
    pub fn touch(&self, id: &str) -> Option<Session> {
        self.touch_at(id, Instant::now())
    }

    fn touch_at(&self, id: &str, now: Instant) -> Option<Session> {
        let mut map = self.lock();
        let session = map.get_mut(id)?;
        if session.expires <= now {
            map.remove(id);
            return None;
        }
        session.expires = now + self.idle;
        let out = session.clone();
        session.flash = None;
        Some(out)
    }

    /// Leaves a message for the next page of this session.
    pub fn set_flash(&self, id: &str, flash: Flash) {
        if let Some(s) = self.lock().get_mut(id) {
            s.flash = Some(flash);
        }
    }

    /// Ends a session.
    pub fn remove(&self, id: &str) {
        self.lock().remove(id);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Session>> {
        // A panic while holding the lock cannot leave a half-made entry:
        // every change is one map operation.
        self.map.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Session {
    /// The message left by the previous action, if any.
    pub fn flash(&self) -> Option<&Flash> {
        self.flash.as_ref()
    }
}

/// 256 random bits from the OS, as 64 hex digits.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Compares two secrets in time that depends only on their lengths.
pub fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pm() -> AccountRef {
        AccountRef {
            name: "postmaster".into(),
            domain: "example.test".into(),
            in_main_domain: true,
        }
    }

    #[test]
    fn session_lives_while_used_and_ends_when_idle() {
        let store = Sessions::new(Duration::from_secs(60));
        let t0 = Instant::now();
        let id = store.create_at(pm(), t0);
        assert!(store.touch_at(&id, t0 + Duration::from_secs(50)).is_some());
        // Using it restarted the idle time.
        assert!(store.touch_at(&id, t0 + Duration::from_secs(100)).is_some());
        assert!(store.touch_at(&id, t0 + Duration::from_secs(161)).is_none());
        // Gone for good.
        assert!(store.touch_at(&id, t0).is_none());
    }

    #[test]
    fn ids_and_tokens_are_random_and_distinct() {
        let store = Sessions::default();
        let a = store.create(pm());
        let b = store.create(pm());
        assert_ne!(a, b);
        assert_eq!(a.len(), 64);
        let sa = store.touch(&a).expect("live");
        assert_ne!(sa.csrf, a);
        assert_ne!(sa.csrf, store.touch(&b).expect("live").csrf);
    }

    #[test]
    fn flash_is_shown_once() {
        let store = Sessions::default();
        let id = store.create(pm());
        store.set_flash(&id, Flash::Done("ok".into()));
        assert_eq!(
            store.touch(&id).expect("live").flash(),
            Some(&Flash::Done("ok".into()))
        );
        assert_eq!(store.touch(&id).expect("live").flash(), None);
    }

    #[test]
    fn logout_removes_and_store_is_bounded() {
        let store = Sessions::default();
        let id = store.create(pm());
        store.remove(&id);
        assert!(store.touch(&id).is_none());
        for _ in 0..MAX_SESSIONS + 5 {
            store.create(pm());
        }
        assert_eq!(store.lock().len(), MAX_SESSIONS);
    }

    #[test]
    fn secret_comparison() {
        assert!(same_secret("abc", "abc"));
        assert!(!same_secret("abc", "abd"));
        assert!(!same_secret("abc", "ab"));
        assert!(!same_secret("", "a"));
    }
}
