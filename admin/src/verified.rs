//! Passwords verified lately, so that a client logging in again (IMAP
//! clients reconnect all day, often several connections at once) does not
//! cost an argon2 hash each time — as Dovecot's authentication cache does.
//!
//! The cache maps an account's stored password hash (a salted PHC string:
//! a new password is a new key, so nothing stale can match) to an HMAC of
//! the password under a key drawn at start and never stored. Only
//! successful checks are cached: every failed guess still costs a full
//! hash.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Entries kept at most; past this the cache starts over.
const MAX_ENTRIES: usize = 10_000;

/// The cache (cheap to clone: shared).
#[derive(Clone)]
pub struct VerifiedPasswords {
    key: Arc<ring::hmac::Key>,
    seen: Arc<Mutex<HashMap<String, ring::hmac::Tag>>>,
}

impl VerifiedPasswords {
    /// An empty cache with a fresh key.
    pub fn new() -> VerifiedPasswords {
        let secret: [u8; 32] = rand::random();
        VerifiedPasswords {
            key: Arc::new(ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &secret)),
            seen: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// Whether `password` was verified against `stored` before.
    pub fn contains(&self, stored: &str, password: &str) -> bool {
        let seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        seen.get(stored).is_some_and(|tag| {
            ring::hmac::verify(&self.key, password.as_bytes(), tag.as_ref()).is_ok()
        })
    }

    /// Remembers that `password` matches `stored`.
    pub fn insert(&self, stored: &str, password: &str) {
        let tag = ring::hmac::sign(&self.key, password.as_bytes());
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        if seen.len() >= MAX_ENTRIES {
            seen.clear();
        }
        seen.insert(stored.to_string(), tag);
    }
}

impl Default for VerifiedPasswords {
    fn default() -> Self {
        VerifiedPasswords::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_verified_password_of_that_hash_matches() {
        let cache = VerifiedPasswords::new();
        assert!(!cache.contains("$argon2id$a", "pw"));
        cache.insert("$argon2id$a", "pw");
        assert!(cache.contains("$argon2id$a", "pw"));
        assert!(!cache.contains("$argon2id$a", "pw2"), "another password");
        assert!(
            !cache.contains("$argon2id$b", "pw"),
            "a new hash: the password was set again"
        );
    }
}
