//! The directory: domains, accounts, their settings, passwords and aliases.
//!
//! Invariants kept by [`Directory::apply`] (so every node reaches the same
//! state from the same log):
//! - domain and account names are stored lowercase;
//! - within a domain, account names and alias names share one namespace;
//! - the main domain always exists once bootstrapped and cannot be deleted.
//!
//! Settings values are kept as CommuniGate data-syntax text; the `admin`
//! crate parses and prints them. This crate never interprets them.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use storage::AccountKind;

use crate::command::Rejection;

/// Settings of a domain or account: key -> value in CommuniGate data syntax.
pub type Settings = BTreeMap<String, String>;

/// All domains of the cluster.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Directory {
    /// The main domain's name (empty before bootstrap).
    pub main_domain: String,
    /// Domains by lowercase name, the main domain included.
    pub domains: BTreeMap<String, Domain>,
}

/// One domain and its objects.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Domain {
    /// Domain settings set explicitly.
    pub settings: Settings,
    /// Accounts by lowercase name.
    pub accounts: BTreeMap<String, Account>,
}

/// One account.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Account {
    /// How the account's mail is stored.
    pub kind: AccountKind,
    /// The account's password; `None` means no password login.
    pub password: Option<Password>,
    /// Settings set explicitly for the account.
    pub settings: Settings,
    /// Other names of the account in its domain (lowercase).
    pub aliases: Vec<String>,
}

/// How an account's password is kept.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Password {
    /// argon2 PHC string, for USER/PASS, PLAIN and LOGIN.
    pub hash: String,
    /// The password itself, kept only because challenge-response logins
    /// (APOP on POP3 and the CLI) need the shared secret, as CommuniGate's
    /// clear-text password storage does.
    pub apop_secret: Option<String>,
}

/// A resolved account: its name and domain.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct AccountRef {
    /// Account name (lowercase).
    pub name: String,
    /// Domain name (lowercase).
    pub domain: String,
    /// Whether the domain is the main domain (its accounts live in `Accounts/`).
    pub in_main_domain: bool,
}

impl AccountRef {
    /// The domain as the storage crate wants it: `None` for the main domain.
    pub fn storage_domain(&self) -> Option<&str> {
        if self.in_main_domain {
            None
        } else {
            Some(&self.domain)
        }
    }

    /// The full address `name@domain`.
    pub fn address(&self) -> String {
        format!("{}@{}", self.name, self.domain)
    }
}

impl fmt::Display for AccountRef {
    /// CommuniGate writes main-domain accounts by bare name, others in full.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.in_main_domain {
            f.write_str(&self.name)
        } else {
            write!(f, "{}@{}", self.name, self.domain)
        }
    }
}

/// Directory changes, as carried in Raft commands.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum DirectoryOp {
    /// Sets the main domain and creates it if missing (first start).
    Bootstrap {
        /// Main domain name.
        main_domain: String,
    },
    /// Creates a secondary domain.
    CreateDomain {
        /// Domain name.
        name: String,
        /// Initial settings.
        settings: Settings,
    },
    /// Deletes a domain; refused while it has accounts unless `force`.
    DeleteDomain {
        /// Domain name.
        name: String,
        /// Delete its accounts too.
        force: bool,
    },
    /// Merges settings into a domain's (a value of `"default"` removes the key).
    UpdateDomainSettings {
        /// Domain name.
        name: String,
        /// Settings to merge.
        settings: Settings,
    },
    /// Creates an account.
    CreateAccount {
        /// Domain name.
        domain: String,
        /// Account name.
        name: String,
        /// Storage kind.
        kind: AccountKind,
        /// Password.
        password: Option<Password>,
        /// Initial settings.
        settings: Settings,
    },
    /// Renames (and possibly moves) an account.
    RenameAccount {
        /// Current domain.
        domain: String,
        /// Current name.
        name: String,
        /// New domain.
        new_domain: String,
        /// New name.
        new_name: String,
    },
    /// Deletes an account.
    DeleteAccount {
        /// Domain name.
        domain: String,
        /// Account name.
        name: String,
    },
    /// Merges settings into an account's (a value of `"default"` removes the key).
    UpdateAccountSettings {
        /// Domain name.
        domain: String,
        /// Account name.
        name: String,
        /// Settings to merge.
        settings: Settings,
    },
    /// Replaces an account's password hash.
    SetPassword {
        /// Domain name.
        domain: String,
        /// Account name.
        name: String,
        /// The new password.
        password: Password,
    },
    /// Replaces an account's aliases.
    SetAliases {
        /// Domain name.
        domain: String,
        /// Account name.
        name: String,
        /// New aliases.
        aliases: Vec<String>,
    },
}

impl Directory {
    /// Splits `user@domain` (or a bare `user`, meaning the main domain) into
    /// lowercase (name, domain).
    pub fn split_address(&self, address: &str) -> (String, String) {
        match address.rsplit_once('@') {
            Some((user, domain)) => (user.to_lowercase(), domain.to_lowercase()),
            None => (address.to_lowercase(), self.main_domain.clone()),
        }
    }

    /// Finds the account an address (or bare account name) delivers to,
    /// following aliases.
    pub fn resolve(&self, address: &str) -> Option<AccountRef> {
        let (user, domain) = self.split_address(address);
        let dom = self.domains.get(&domain)?;
        let name = if dom.accounts.contains_key(&user) {
            user
        } else {
            dom.accounts
                .iter()
                .find(|(_, a)| a.aliases.contains(&user))
                .map(|(n, _)| n.clone())?
        };
        Some(self.account_ref(&domain, &name))
    }

    /// Whether `domain` is served here.
    pub fn is_local_domain(&self, domain: &str) -> bool {
        self.domains.contains_key(&domain.to_lowercase())
    }

    /// Looks up an account by its exact name (no aliases).
    pub fn account(&self, r: &AccountRef) -> Option<&Account> {
        self.domains.get(&r.domain)?.accounts.get(&r.name)
    }

    /// Builds the reference of an account of `domain`.
    pub fn account_ref(&self, domain: &str, name: &str) -> AccountRef {
        AccountRef {
            name: name.to_string(),
            domain: domain.to_string(),
            in_main_domain: domain == self.main_domain,
        }
    }

    /// Applies one change. Deterministic: the same state and op give the
    /// same result on every node.
    pub fn apply(&mut self, op: DirectoryOp) -> Result<(), Rejection> {
        match op {
            DirectoryOp::Bootstrap { main_domain } => {
                let main_domain = main_domain.to_lowercase();
                if self.main_domain.is_empty() {
                    self.main_domain = main_domain.clone();
                }
                self.domains.entry(self.main_domain.clone()).or_default();
                Ok(())
            }
            DirectoryOp::CreateDomain { name, settings } => {
                let name = name.to_lowercase();
                if self.domains.contains_key(&name) {
                    return Err(Rejection::DomainExists);
                }
                self.domains.insert(
                    name,
                    Domain {
                        settings,
                        accounts: BTreeMap::new(),
                    },
                );
                Ok(())
            }
            DirectoryOp::DeleteDomain { name, force } => {
                let name = name.to_lowercase();
                if name == self.main_domain {
                    return Err(Rejection::MainDomain);
                }
                let dom = self.domains.get(&name).ok_or(Rejection::DomainNotFound)?;
                if !dom.accounts.is_empty() && !force {
                    return Err(Rejection::DomainNotEmpty);
                }
                self.domains.remove(&name);
                Ok(())
            }
            DirectoryOp::UpdateDomainSettings { name, settings } => {
                let dom = self
                    .domains
                    .get_mut(&name.to_lowercase())
                    .ok_or(Rejection::DomainNotFound)?;
                merge_settings(&mut dom.settings, settings);
                Ok(())
            }
            DirectoryOp::CreateAccount {
                domain,
                name,
                kind,
                password,
                settings,
            } => {
                let name = name.to_lowercase();
                let dom = self
                    .domains
                    .get_mut(&domain.to_lowercase())
                    .ok_or(Rejection::DomainNotFound)?;
                if name_taken(dom, &name) {
                    return Err(Rejection::AccountExists);
                }
                dom.accounts.insert(
                    name,
                    Account {
                        kind,
                        password,
                        settings,
                        aliases: Vec::new(),
                    },
                );
                Ok(())
            }
            DirectoryOp::RenameAccount {
                domain,
                name,
                new_domain,
                new_name,
            } => {
                let (domain, name) = (domain.to_lowercase(), name.to_lowercase());
                let (new_domain, new_name) = (new_domain.to_lowercase(), new_name.to_lowercase());
                let target = self
                    .domains
                    .get(&new_domain)
                    .ok_or(Rejection::DomainNotFound)?;
                let same = domain == new_domain && name == new_name;
                if !same && name_taken(target, &new_name) {
                    return Err(Rejection::AccountExists);
                }
                let account = self
                    .domains
                    .get_mut(&domain)
                    .and_then(|d| d.accounts.remove(&name))
                    .ok_or(Rejection::AccountNotFound)?;
                if let Some(target) = self.domains.get_mut(&new_domain) {
                    target.accounts.insert(new_name, account);
                }
                Ok(())
            }
            DirectoryOp::DeleteAccount { domain, name } => self
                .domains
                .get_mut(&domain.to_lowercase())
                .ok_or(Rejection::DomainNotFound)?
                .accounts
                .remove(&name.to_lowercase())
                .map(|_| ())
                .ok_or(Rejection::AccountNotFound),
            DirectoryOp::UpdateAccountSettings {
                domain,
                name,
                settings,
            } => {
                let account = self.account_mut(&domain, &name)?;
                merge_settings(&mut account.settings, settings);
                Ok(())
            }
            DirectoryOp::SetPassword {
                domain,
                name,
                password,
            } => {
                self.account_mut(&domain, &name)?.password = Some(password);
                Ok(())
            }
            DirectoryOp::SetAliases {
                domain,
                name,
                aliases,
            } => {
                let name = name.to_lowercase();
                let aliases: Vec<String> = aliases.iter().map(|a| a.to_lowercase()).collect();
                let dom = self
                    .domains
                    .get(&domain.to_lowercase())
                    .ok_or(Rejection::DomainNotFound)?;
                for alias in &aliases {
                    let clash = dom.accounts.contains_key(alias)
                        || dom
                            .accounts
                            .iter()
                            .any(|(n, a)| *n != name && a.aliases.contains(alias));
                    if clash {
                        return Err(Rejection::AliasExists(alias.clone()));
                    }
                }
                self.account_mut(&domain, &name)?.aliases = aliases;
                Ok(())
            }
        }
    }

    fn account_mut(&mut self, domain: &str, name: &str) -> Result<&mut Account, Rejection> {
        self.domains
            .get_mut(&domain.to_lowercase())
            .ok_or(Rejection::DomainNotFound)?
            .accounts
            .get_mut(&name.to_lowercase())
            .ok_or(Rejection::AccountNotFound)
    }
}

/// Whether `name` is used by an account or an alias of `domain`.
fn name_taken(domain: &Domain, name: &str) -> bool {
    domain.accounts.contains_key(name)
        || domain
            .accounts
            .values()
            .any(|a| a.aliases.iter().any(|al| al == name))
}

/// Merges `update` into `settings`; the value `default` removes a key, as
/// CommuniGate's Update*Settings commands do.
fn merge_settings(settings: &mut Settings, update: Settings) {
    for (key, value) in update {
        if value == "default" {
            settings.remove(&key);
        } else {
            settings.insert(key, value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir() -> Directory {
        let mut d = Directory::default();
        d.apply(DirectoryOp::Bootstrap {
            main_domain: "Example.TEST".into(),
        })
        .unwrap();
        d
    }

    fn create(d: &mut Directory, domain: &str, name: &str) -> Result<(), Rejection> {
        d.apply(DirectoryOp::CreateAccount {
            domain: domain.into(),
            name: name.into(),
            kind: AccountKind::MultiMailbox,
            password: None,
            settings: Settings::new(),
        })
    }

    #[test]
    fn create_twice_is_account_exists() {
        let mut d = dir();
        create(&mut d, "example.test", "User1").unwrap();
        assert_eq!(
            create(&mut d, "example.test", "user1"),
            Err(Rejection::AccountExists)
        );
        assert_eq!(
            d.resolve("USER1@example.test").unwrap().name,
            "user1".to_string()
        );
        assert!(d.resolve("user1").unwrap().in_main_domain);
    }

    #[test]
    fn rename_moves_account_and_aliases_resolve() {
        let mut d = dir();
        create(&mut d, "example.test", "user1").unwrap();
        d.apply(DirectoryOp::CreateDomain {
            name: "client1.com".into(),
            settings: Settings::new(),
        })
        .unwrap();
        d.apply(DirectoryOp::RenameAccount {
            domain: "example.test".into(),
            name: "user1".into(),
            new_domain: "client1.com".into(),
            new_name: "user2".into(),
        })
        .unwrap();
        assert!(d.resolve("user1@example.test").is_none());
        let r = d.resolve("user2@client1.com").unwrap();
        assert_eq!(r.to_string(), "user2@client1.com");
        d.apply(DirectoryOp::SetAliases {
            domain: "client1.com".into(),
            name: "user2".into(),
            aliases: vec!["Sales".into()],
        })
        .unwrap();
        assert_eq!(d.resolve("sales@client1.com").unwrap().name, "user2");
        assert_eq!(
            create(&mut d, "client1.com", "sales"),
            Err(Rejection::AccountExists)
        );
    }

    #[test]
    fn domain_rules() {
        let mut d = dir();
        assert_eq!(
            d.apply(DirectoryOp::DeleteDomain {
                name: "example.test".into(),
                force: true
            }),
            Err(Rejection::MainDomain)
        );
        d.apply(DirectoryOp::CreateDomain {
            name: "a.com".into(),
            settings: Settings::new(),
        })
        .unwrap();
        create(&mut d, "a.com", "x").unwrap();
        assert_eq!(
            d.apply(DirectoryOp::DeleteDomain {
                name: "a.com".into(),
                force: false
            }),
            Err(Rejection::DomainNotEmpty)
        );
        let mut s = Settings::new();
        s.insert("MaxAccountSize".into(), "100M".into());
        d.apply(DirectoryOp::UpdateDomainSettings {
            name: "a.com".into(),
            settings: s,
        })
        .unwrap();
        let mut s = Settings::new();
        s.insert("MaxAccountSize".into(), "default".into());
        d.apply(DirectoryOp::UpdateDomainSettings {
            name: "a.com".into(),
            settings: s,
        })
        .unwrap();
        assert!(d.domains["a.com"].settings.is_empty());
    }
}
