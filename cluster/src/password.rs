//! Password hashing for account passwords (argon2id, PHC strings).
//!
//! Hashing is slow on purpose; callers run these functions on a blocking
//! thread. The hash, never the password, goes into a Raft command.

use argon2::Argon2;
use argon2::password_hash::{
    PasswordHash, PasswordHasher, PasswordVerifier, SaltString, rand_core::OsRng,
};

/// Hashes `password` into a PHC string.
///
/// # Panics
/// Never in practice: argon2 with default parameters only fails on
/// impossible parameter combinations.
pub fn hash(password: &str) -> String {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .expect("argon2 default parameters are valid")
}

/// Checks `password` against a PHC string made by [`hash`]. A malformed
/// hash never verifies.
pub fn verify(password: &str, phc: &str) -> bool {
    match PasswordHash::new(phc) {
        Ok(parsed) => Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_then_verify() {
        let h = hash("secret");
        assert!(verify("secret", &h));
        assert!(!verify("Secret", &h));
        assert!(!verify("secret", "not a hash"));
    }
}
