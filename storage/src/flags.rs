//! Message flags (the IMAP system flags except `\Recent`, RFC 9051 §2.3.2)
//! and their Maildir-style letters.
//!
//! Letters: D=Draft F=Flagged R=Answered S=Seen T=Deleted (trashed). They are
//! always written in alphabetical order, and no flags is the empty string, so
//! each set of flags has exactly one spelling on disk.

use std::fmt;
use std::ops::BitOr;

use crate::error::{Error, Result};

/// A set of message flags.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Flags(u8);

/// The flags with their letters, in alphabetical order of the letter.
const LETTERS: [(Flags, char); 5] = [
    (Flags::DRAFT, 'D'),
    (Flags::FLAGGED, 'F'),
    (Flags::ANSWERED, 'R'),
    (Flags::SEEN, 'S'),
    (Flags::DELETED, 'T'),
];

impl Flags {
    /// No flags.
    pub const EMPTY: Flags = Flags(0);
    /// `\Seen`.
    pub const SEEN: Flags = Flags(1);
    /// `\Answered`.
    pub const ANSWERED: Flags = Flags(2);
    /// `\Flagged`.
    pub const FLAGGED: Flags = Flags(4);
    /// `\Deleted`.
    pub const DELETED: Flags = Flags(8);
    /// `\Draft`.
    pub const DRAFT: Flags = Flags(16);

    /// Whether every flag of `other` is set in `self`.
    pub fn contains(self, other: Flags) -> bool {
        self.0 & other.0 == other.0
    }

    /// Sets the flags of `other`.
    pub fn insert(&mut self, other: Flags) {
        self.0 |= other.0;
    }

    /// Clears the flags of `other`.
    pub fn remove(&mut self, other: Flags) {
        self.0 &= !other.0;
    }

    /// Whether no flag is set.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The letters of the set flags in alphabetical order (`""` for none).
    pub fn to_letters(self) -> String {
        LETTERS
            .iter()
            .filter(|(f, _)| self.contains(*f))
            .map(|(_, c)| *c)
            .collect()
    }

    /// Parses flag letters in any order.
    ///
    /// # Errors
    /// [`Error::BadFlags`] on a letter that is not a flag.
    pub fn from_letters(s: &str) -> Result<Flags> {
        let mut flags = Flags::EMPTY;
        for ch in s.chars() {
            match LETTERS.iter().find(|(_, c)| *c == ch) {
                Some((f, _)) => flags.insert(*f),
                None => return Err(Error::BadFlags(s.to_string())),
            }
        }
        Ok(flags)
    }
}

impl BitOr for Flags {
    type Output = Flags;
    fn bitor(self, rhs: Flags) -> Flags {
        Flags(self.0 | rhs.0)
    }
}

impl fmt::Debug for Flags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Flags({:?})", self.to_letters())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn letters_are_sorted_and_round_trip() {
        let f = Flags::SEEN | Flags::DRAFT | Flags::DELETED;
        assert_eq!(f.to_letters(), "DST");
        assert_eq!(Flags::from_letters("TSD").unwrap(), f);
        assert_eq!(Flags::default().to_letters(), "");
        assert_eq!(Flags::from_letters("").unwrap(), Flags::EMPTY);
        let all = Flags::from_letters("DFRST").unwrap();
        assert_eq!(all.to_letters(), "DFRST");
        assert!(Flags::from_letters("SX").is_err());
    }

    #[test]
    fn insert_remove_contains() {
        let mut f = Flags::default();
        assert!(f.is_empty());
        f.insert(Flags::ANSWERED);
        f.insert(Flags::FLAGGED);
        assert!(f.contains(Flags::ANSWERED | Flags::FLAGGED));
        f.remove(Flags::ANSWERED);
        assert!(!f.contains(Flags::ANSWERED));
        assert_eq!(f.to_letters(), "F");
    }
}
