//! The directory: domains (with their aliases, suspension and account
//! defaults), accounts, their settings, passwords and aliases, forwarders,
//! groups, and the server-wide settings (module settings, IP lists, server
//! account defaults).
//!
//! Invariants kept by [`Directory::apply`] (so every node reaches the same
//! state from the same log):
//! - domain, domain alias and object names are stored lowercase;
//! - within a domain, accounts, account aliases, forwarders and groups share
//!   one namespace (CommuniGate Objects.html, reference §6.4);
//! - domain names and domain alias names share one namespace;
//! - the main domain always exists once bootstrapped and cannot be deleted
//!   or renamed.
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
    /// Server-wide settings.
    pub server: ServerSettings,
}

/// Server-wide settings kept in Raft, so every member applies the same.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct ServerSettings {
    /// Account settings defaults for every domain (`ServerAccountDefaults`).
    pub account_defaults: Settings,
    /// Settings per module (`SMTP`, `POP`, `IMAP`, `CLI`, ...), e.g.
    /// `LogLevel`.
    pub modules: BTreeMap<String, Settings>,
    /// Address lists by name (`LANIPs`, `BlacklistedIPs`, `ClientIPs`,
    /// `WhiteHoleIPs`, `DeniedIPs`):
    /// one entry per line, as the CLI's `\e`-separated string holds them.
    pub ip_lists: BTreeMap<String, String>,
}

/// The address lists a [`DirectoryOp::SetIpList`] may name.
pub const IP_LISTS: &[&str] = &[
    "LANIPs",
    "BlacklistedIPs",
    "ClientIPs",
    "WhiteHoleIPs",
    "DeniedIPs",
];

/// The node-to-node protocol version whose members know address list
/// `name`: a member of an older version rejects a `SetIpList` that the
/// others apply, so the list is set only once every member speaks it
/// (the cluster's effective version, see `ClusterStatus`).
pub fn ip_list_protocol(name: &str) -> u32 {
    match name {
        "WhiteHoleIPs" | "DeniedIPs" => 3,
        _ => 1,
    }
}

/// One domain and its objects.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Domain {
    /// Domain settings set explicitly.
    pub settings: Settings,
    /// Accounts by lowercase name.
    pub accounts: BTreeMap<String, Account>,
    /// Forwarders: name -> the address mail is redirected to.
    pub forwarders: BTreeMap<String, String>,
    /// Groups by name.
    pub groups: BTreeMap<String, Group>,
    /// Other names of the domain (lowercase).
    pub aliases: Vec<String>,
    /// A suspended domain refuses logins.
    pub suspended: bool,
    /// Account settings defaults of this domain (`AccountDefaults`).
    pub account_defaults: Settings,
}

/// A group: a name that distributes mail to its members.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Group {
    /// Member addresses (local names or full addresses).
    pub members: Vec<String>,
    /// Other group settings (`RealName`, ...), values in data syntax.
    pub settings: Settings,
}

/// Where mail for an address goes, as far as the directory knows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Route {
    /// Store in this local account (aliases, domain aliases and forwarders
    /// to local accounts followed).
    Account(AccountRef),
    /// A forwarder of a local domain points outside: send to this address.
    Forward(String),
    /// A group of a local domain: deliver to each member address.
    Group(Vec<String>),
    /// A local domain without such an object.
    Unknown,
    /// Not a local domain.
    Remote,
}

/// How many forwarders [`Directory::route`] follows before giving up on a
/// loop (CommuniGate bounces such mail as looping).
const MAX_FORWARD_HOPS: usize = 10;

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
    /// Replaces an account's aliases. An alias may not name another
    /// account or another account's alias; forwarder and group names are
    /// not checked, as before protocol 5 (see
    /// [`DirectoryOp::SetAccountAliases`]).
    SetAliases {
        /// Domain name.
        domain: String,
        /// Account name.
        name: String,
        /// New aliases.
        aliases: Vec<String>,
    },
    /// Replaces an account's settings.
    SetAccountSettings {
        /// Domain name.
        domain: String,
        /// Account name.
        name: String,
        /// The complete new settings.
        settings: Settings,
    },
    /// Changes account settings defaults: a domain's, or the server's when
    /// `domain` is `None`. `replace` replaces them, otherwise merges.
    SetAccountDefaults {
        /// Domain name, or `None` for the server defaults.
        domain: Option<String>,
        /// Settings to set or merge.
        settings: Settings,
        /// Replace instead of merge.
        replace: bool,
    },
    /// Creates a forwarder.
    CreateForwarder {
        /// Domain name.
        domain: String,
        /// Forwarder name.
        name: String,
        /// The address mail is redirected to.
        to: String,
    },
    /// Renames (and possibly moves) a forwarder.
    RenameForwarder {
        /// Current domain.
        domain: String,
        /// Current name.
        name: String,
        /// New domain.
        new_domain: String,
        /// New name.
        new_name: String,
    },
    /// Deletes a forwarder.
    DeleteForwarder {
        /// Domain name.
        domain: String,
        /// Forwarder name.
        name: String,
    },
    /// Creates a group.
    CreateGroup {
        /// Domain name.
        domain: String,
        /// Group name.
        name: String,
        /// Members and settings.
        group: Group,
    },
    /// Renames (and possibly moves) a group.
    RenameGroup {
        /// Current domain.
        domain: String,
        /// Current name.
        name: String,
        /// New domain.
        new_domain: String,
        /// New name.
        new_name: String,
    },
    /// Deletes a group.
    DeleteGroup {
        /// Domain name.
        domain: String,
        /// Group name.
        name: String,
    },
    /// Replaces a group's members and settings.
    SetGroup {
        /// Domain name.
        domain: String,
        /// Group name.
        name: String,
        /// Members and settings.
        group: Group,
    },
    /// Renames a secondary domain with everything in it.
    RenameDomain {
        /// Current name.
        name: String,
        /// New name.
        new_name: String,
    },
    /// Suspends or resumes a domain.
    SetDomainSuspended {
        /// Domain name.
        name: String,
        /// Whether logins are refused.
        suspended: bool,
    },
    /// Replaces a domain's aliases.
    SetDomainAliases {
        /// Domain name.
        name: String,
        /// New aliases.
        aliases: Vec<String>,
    },
    /// Changes a module's settings; `replace` replaces them, otherwise
    /// merges.
    UpdateModule {
        /// Module name as CommuniGate spells it (`SMTP`, `IMAP`, ...).
        module: String,
        /// Settings to set or merge.
        settings: Settings,
        /// Replace instead of merge.
        replace: bool,
    },
    /// Replaces one of the [`IP_LISTS`].
    SetIpList {
        /// List name.
        name: String,
        /// Entries, one per line.
        value: String,
    },
    /// Replaces an account's aliases; an alias may name no other object of
    /// the domain: no account, other account's alias, forwarder or group
    /// (one namespace, reference §6.4), checked here so that a forwarder
    /// or group created at the same moment cannot slip in between.
    /// [`DirectoryOp::SetAliases`] keeps its earlier meaning, because
    /// entries earlier versions applied are replayed, and must give every
    /// member the same directory. Proposed once every member speaks
    /// protocol [`crate::rpc::ALIAS_NAMESPACE_VERSION`].
    SetAccountAliases {
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
    /// lowercase (name, domain); a domain alias is replaced by its domain.
    pub fn split_address(&self, address: &str) -> (String, String) {
        match address.rsplit_once('@') {
            Some((user, domain)) => (user.to_lowercase(), self.canonical_domain(domain)),
            None => (address.to_lowercase(), self.main_domain.clone()),
        }
    }

    /// The lowercase domain a name stands for: the domain itself, or the
    /// domain whose alias it is. Unknown names come back lowercased.
    pub fn canonical_domain(&self, domain: &str) -> String {
        let domain = domain.to_lowercase();
        if self.domains.contains_key(&domain) {
            return domain;
        }
        self.domains
            .iter()
            .find(|(_, d)| d.aliases.contains(&domain))
            .map_or(domain, |(name, _)| name.clone())
    }

    /// Finds the account an address delivers to: by account name or alias,
    /// in the domain or one of its aliases, following forwarders whose
    /// target is a local account. Logins use [`Directory::login_account`],
    /// which does not follow forwarders.
    pub fn resolve(&self, address: &str) -> Option<AccountRef> {
        match self.route(address) {
            Route::Account(account) => Some(account),
            _ => None,
        }
    }

    /// The account a login name names (account name or alias, domain
    /// aliases honoured); `None` when the account's domain is suspended.
    pub fn login_account(&self, login: &str) -> Option<AccountRef> {
        let (user, domain) = self.split_address(login);
        let dom = self.domains.get(&domain)?;
        if dom.suspended {
            return None;
        }
        let name = account_named(dom, &user)?;
        Some(self.account_ref(&domain, &name))
    }

    /// Where mail for `address` goes (see [`Route`]).
    pub fn route(&self, address: &str) -> Route {
        let mut address = address.to_string();
        for _ in 0..MAX_FORWARD_HOPS {
            let (user, domain) = self.split_address(&address);
            let Some(dom) = self.domains.get(&domain) else {
                return Route::Remote;
            };
            if let Some(name) = account_named(dom, &user) {
                return Route::Account(self.account_ref(&domain, &name));
            }
            if let Some(group) = dom.groups.get(&user) {
                return Route::Group(group.members.clone());
            }
            let Some(to) = dom.forwarders.get(&user) else {
                return Route::Unknown;
            };
            let (_, target_domain) = self.split_address(to);
            if !self.domains.contains_key(&target_domain) {
                return Route::Forward(to.clone());
            }
            address = to.clone();
        }
        Route::Unknown
    }

    /// Whether `domain` (or a domain alias) is served here.
    pub fn is_local_domain(&self, domain: &str) -> bool {
        self.domains.contains_key(&self.canonical_domain(domain))
    }

    /// An account's effective settings: the server's account defaults,
    /// overlaid with its domain's, overlaid with its own.
    pub fn effective_settings(&self, r: &AccountRef) -> Option<Settings> {
        let mut out = self.account_defaults(&r.domain)?;
        out.extend(self.account(r)?.settings.clone());
        Some(out)
    }

    /// Account settings defaults for an account of `domain`: the server's
    /// overlaid with the domain's (`None` for an unknown domain).
    pub fn account_defaults(&self, domain: &str) -> Option<Settings> {
        let dom = self.domains.get(domain)?;
        let mut out = self.server.account_defaults.clone();
        out.extend(dom.account_defaults.clone());
        Some(out)
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
                if self.domain_name_taken(&name) {
                    return Err(Rejection::DomainExists);
                }
                self.domains.insert(
                    name,
                    Domain {
                        settings,
                        ..Domain::default()
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
            } => self.set_aliases(&domain, &name, &aliases, AliasCheck::Accounts),
            DirectoryOp::SetAccountAliases {
                domain,
                name,
                aliases,
            } => self.set_aliases(&domain, &name, &aliases, AliasCheck::EveryObject),
            DirectoryOp::SetAccountSettings {
                domain,
                name,
                settings,
            } => {
                self.account_mut(&domain, &name)?.settings = settings;
                Ok(())
            }
            DirectoryOp::SetAccountDefaults {
                domain,
                settings,
                replace,
            } => {
                let target = match domain {
                    None => &mut self.server.account_defaults,
                    Some(d) => {
                        &mut self
                            .domains
                            .get_mut(&d.to_lowercase())
                            .ok_or(Rejection::DomainNotFound)?
                            .account_defaults
                    }
                };
                if replace {
                    *target = settings;
                } else {
                    merge_settings(target, settings);
                }
                Ok(())
            }
            DirectoryOp::CreateForwarder { domain, name, to } => {
                let name = name.to_lowercase();
                let dom = self.domain_mut(&domain)?;
                if name_taken(dom, &name) {
                    return Err(Rejection::AccountExists);
                }
                dom.forwarders.insert(name, to);
                Ok(())
            }
            DirectoryOp::RenameForwarder {
                domain,
                name,
                new_domain,
                new_name,
            } => self.rename_object(
                (&domain, &name),
                (&new_domain, &new_name),
                |d| &mut d.forwarders,
                Rejection::ForwarderNotFound,
            ),
            DirectoryOp::DeleteForwarder { domain, name } => self
                .domain_mut(&domain)?
                .forwarders
                .remove(&name.to_lowercase())
                .map(|_| ())
                .ok_or(Rejection::ForwarderNotFound),
            DirectoryOp::CreateGroup {
                domain,
                name,
                group,
            } => {
                let name = name.to_lowercase();
                let dom = self.domain_mut(&domain)?;
                if name_taken(dom, &name) {
                    return Err(Rejection::AccountExists);
                }
                dom.groups.insert(name, group);
                Ok(())
            }
            DirectoryOp::RenameGroup {
                domain,
                name,
                new_domain,
                new_name,
            } => self.rename_object(
                (&domain, &name),
                (&new_domain, &new_name),
                |d| &mut d.groups,
                Rejection::GroupNotFound,
            ),
            DirectoryOp::DeleteGroup { domain, name } => self
                .domain_mut(&domain)?
                .groups
                .remove(&name.to_lowercase())
                .map(|_| ())
                .ok_or(Rejection::GroupNotFound),
            DirectoryOp::SetGroup {
                domain,
                name,
                group,
            } => {
                let slot = self
                    .domain_mut(&domain)?
                    .groups
                    .get_mut(&name.to_lowercase())
                    .ok_or(Rejection::GroupNotFound)?;
                *slot = group;
                Ok(())
            }
            DirectoryOp::RenameDomain { name, new_name } => {
                let (name, new_name) = (name.to_lowercase(), new_name.to_lowercase());
                if name == self.main_domain {
                    return Err(Rejection::MainDomain);
                }
                if !self.domains.contains_key(&name) {
                    return Err(Rejection::DomainNotFound);
                }
                if self.domain_name_taken(&new_name) {
                    return Err(Rejection::DomainExists);
                }
                if let Some(dom) = self.domains.remove(&name) {
                    self.domains.insert(new_name, dom);
                }
                Ok(())
            }
            DirectoryOp::SetDomainSuspended { name, suspended } => {
                self.domain_mut(&name)?.suspended = suspended;
                Ok(())
            }
            DirectoryOp::SetDomainAliases { name, aliases } => {
                let name = name.to_lowercase();
                let aliases: Vec<String> = aliases.iter().map(|a| a.to_lowercase()).collect();
                if !self.domains.contains_key(&name) {
                    return Err(Rejection::DomainNotFound);
                }
                for alias in &aliases {
                    let clash = self.domains.contains_key(alias)
                        || self
                            .domains
                            .iter()
                            .any(|(n, d)| *n != name && d.aliases.contains(alias));
                    if clash {
                        return Err(Rejection::AliasExists(alias.clone()));
                    }
                }
                self.domain_mut(&name)?.aliases = aliases;
                Ok(())
            }
            DirectoryOp::UpdateModule {
                module,
                settings,
                replace,
            } => {
                let target = self.server.modules.entry(module).or_default();
                if replace {
                    *target = settings;
                } else {
                    merge_settings(target, settings);
                }
                Ok(())
            }
            DirectoryOp::SetIpList { name, value } => {
                if !IP_LISTS.contains(&name.as_str()) {
                    return Err(Rejection::Invalid(format!("Unknown address list {name}")));
                }
                self.server.ip_lists.insert(name, value);
                Ok(())
            }
        }
    }

    /// Checks that `aliases` may become the aliases of account `name` of
    /// `domain` (see [`AliasCheck`]).
    ///
    /// # Errors
    /// [`Rejection::AliasExists`] naming the first alias taken,
    /// [`Rejection::DomainNotFound`].
    pub fn check_aliases(
        &self,
        domain: &str,
        name: &str,
        aliases: &[String],
        check: AliasCheck,
    ) -> Result<(), Rejection> {
        let name = name.to_lowercase();
        let dom = self
            .domains
            .get(&domain.to_lowercase())
            .ok_or(Rejection::DomainNotFound)?;
        for alias in aliases.iter().map(|a| a.to_lowercase()) {
            let clash = dom.accounts.contains_key(&alias)
                || dom
                    .accounts
                    .iter()
                    .any(|(n, a)| *n != name && a.aliases.contains(&alias))
                || (check == AliasCheck::EveryObject
                    && (dom.forwarders.contains_key(&alias) || dom.groups.contains_key(&alias)));
            if clash {
                return Err(Rejection::AliasExists(alias));
            }
        }
        Ok(())
    }

    fn set_aliases(
        &mut self,
        domain: &str,
        name: &str,
        aliases: &[String],
        check: AliasCheck,
    ) -> Result<(), Rejection> {
        self.check_aliases(domain, name, aliases, check)?;
        self.account_mut(domain, name)?.aliases =
            aliases.iter().map(|a| a.to_lowercase()).collect();
        Ok(())
    }

    /// Whether `name` is a domain or a domain alias.
    fn domain_name_taken(&self, name: &str) -> bool {
        self.domains.contains_key(name)
            || self
                .domains
                .values()
                .any(|d| d.aliases.iter().any(|a| a == name))
    }

    fn domain_mut(&mut self, domain: &str) -> Result<&mut Domain, Rejection> {
        self.domains
            .get_mut(&domain.to_lowercase())
            .ok_or(Rejection::DomainNotFound)
    }

    /// Moves a forwarder or group (picked by `map`) to a new name, possibly
    /// in another domain; the new name must be free there.
    fn rename_object<T>(
        &mut self,
        (domain, name): (&str, &str),
        (new_domain, new_name): (&str, &str),
        map: impl Fn(&mut Domain) -> &mut BTreeMap<String, T>,
        missing: Rejection,
    ) -> Result<(), Rejection> {
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
        let object = map(self.domain_mut(&domain)?)
            .remove(&name)
            .ok_or(missing)?;
        map(self.domain_mut(&new_domain)?).insert(new_name, object);
        Ok(())
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

/// What an account's new aliases are checked against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AliasCheck {
    /// Other accounts and their aliases ([`DirectoryOp::SetAliases`]).
    Accounts,
    /// Also forwarders and groups: the whole namespace
    /// ([`DirectoryOp::SetAccountAliases`]).
    EveryObject,
}

/// Whether `name` is used by an account, an alias, a forwarder or a group
/// of `domain` (one namespace, reference §6.4).
fn name_taken(domain: &Domain, name: &str) -> bool {
    account_named(domain, name).is_some()
        || domain.forwarders.contains_key(name)
        || domain.groups.contains_key(name)
}

/// The account of `domain` called `name` directly or by an alias.
fn account_named(domain: &Domain, name: &str) -> Option<String> {
    if domain.accounts.contains_key(name) {
        return Some(name.to_string());
    }
    domain
        .accounts
        .iter()
        .find(|(_, a)| a.aliases.iter().any(|al| al == name))
        .map(|(n, _)| n.clone())
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

    #[test]
    fn forwarders_groups_and_domain_aliases_route() {
        let mut d = dir();
        create(&mut d, "example.test", "user1").unwrap();
        d.apply(DirectoryOp::CreateDomain {
            name: "b.com".into(),
            settings: Settings::new(),
        })
        .unwrap();
        let fwd = |name: &str, to: &str| DirectoryOp::CreateForwarder {
            domain: "example.test".into(),
            name: name.into(),
            to: to.into(),
        };
        d.apply(fwd("sales", "user1")).unwrap();
        d.apply(fwd("out", "x@remote.test")).unwrap();
        d.apply(fwd("loop1", "loop2")).unwrap();
        d.apply(fwd("loop2", "loop1")).unwrap();
        assert_eq!(d.apply(fwd("user1", "x")), Err(Rejection::AccountExists));
        assert_eq!(d.resolve("sales").unwrap().name, "user1");
        assert!(d.login_account("sales").is_none());
        assert_eq!(d.route("out"), Route::Forward("x@remote.test".into()));
        assert_eq!(d.route("loop1"), Route::Unknown);
        assert_eq!(d.route("nobody"), Route::Unknown);
        assert_eq!(d.route("a@elsewhere.test"), Route::Remote);
        d.apply(DirectoryOp::CreateGroup {
            domain: "example.test".into(),
            name: "team".into(),
            group: Group {
                members: vec!["user1".into()],
                settings: Settings::new(),
            },
        })
        .unwrap();
        assert_eq!(d.route("team"), Route::Group(vec!["user1".into()]));
        d.apply(DirectoryOp::RenameForwarder {
            domain: "example.test".into(),
            name: "sales".into(),
            new_domain: "b.com".into(),
            new_name: "sales2".into(),
        })
        .unwrap();
        assert!(d.resolve("sales").is_none());
        assert_eq!(d.resolve("sales2@b.com").unwrap().name, "user1");
        d.apply(DirectoryOp::SetDomainAliases {
            name: "example.test".into(),
            aliases: vec!["Alias.TEST".into()],
        })
        .unwrap();
        assert_eq!(
            d.resolve("user1@alias.test").unwrap().domain,
            "example.test"
        );
        assert!(d.is_local_domain("ALIAS.test"));
        assert_eq!(
            d.apply(DirectoryOp::CreateDomain {
                name: "alias.test".into(),
                settings: Settings::new()
            }),
            Err(Rejection::DomainExists)
        );
    }

    #[test]
    fn suspended_domain_refuses_logins_and_rename_keeps_objects() {
        let mut d = dir();
        d.apply(DirectoryOp::CreateDomain {
            name: "b.com".into(),
            settings: Settings::new(),
        })
        .unwrap();
        create(&mut d, "b.com", "u").unwrap();
        d.apply(DirectoryOp::SetDomainSuspended {
            name: "b.com".into(),
            suspended: true,
        })
        .unwrap();
        assert!(d.login_account("u@b.com").is_none());
        assert!(d.resolve("u@b.com").is_some());
        d.apply(DirectoryOp::RenameDomain {
            name: "b.com".into(),
            new_name: "c.com".into(),
        })
        .unwrap();
        assert!(d.resolve("u@c.com").is_some());
        assert_eq!(
            d.apply(DirectoryOp::RenameDomain {
                name: "example.test".into(),
                new_name: "x.com".into()
            }),
            Err(Rejection::MainDomain)
        );
        let mut s = Settings::new();
        s.insert("MaxAccountSize".into(), "10M".into());
        d.apply(DirectoryOp::SetAccountDefaults {
            domain: None,
            settings: s.clone(),
            replace: true,
        })
        .unwrap();
        s.insert("MaxAccountSize".into(), "20M".into());
        d.apply(DirectoryOp::SetAccountDefaults {
            domain: Some("c.com".into()),
            settings: s,
            replace: false,
        })
        .unwrap();
        assert_eq!(
            d.account_defaults("c.com").unwrap()["MaxAccountSize"],
            "20M"
        );
        assert_eq!(
            d.account_defaults("example.test").unwrap()["MaxAccountSize"],
            "10M"
        );
    }

    #[test]
    fn issue_4_account_aliases_share_the_namespace_with_forwarders_and_groups() {
        let mut d = dir();
        create(&mut d, "example.test", "user1").unwrap();
        create(&mut d, "example.test", "user2").unwrap();
        d.apply(DirectoryOp::CreateForwarder {
            domain: "example.test".into(),
            name: "sales".into(),
            to: "user1".into(),
        })
        .unwrap();
        d.apply(DirectoryOp::CreateGroup {
            domain: "example.test".into(),
            name: "team".into(),
            group: Group::default(),
        })
        .unwrap();
        let set = |aliases: &[&str]| DirectoryOp::SetAccountAliases {
            domain: "Example.Test".into(),
            name: "User1".into(),
            aliases: aliases.iter().map(|a| a.to_string()).collect(),
        };
        for (taken, alias) in [("sales", "Sales"), ("team", "TEAM"), ("user2", "user2")] {
            assert_eq!(
                d.apply(set(&["free", alias])),
                Err(Rejection::AliasExists(taken.into())),
                "{alias}"
            );
            assert!(d.resolve("free").is_none(), "nothing applied");
        }
        d.apply(set(&["Free"])).unwrap();
        assert_eq!(d.resolve("free").unwrap().name, "user1");
        // Taken by user1 now: neither another account's aliases nor a new
        // forwarder may have it.
        assert_eq!(
            d.apply(DirectoryOp::SetAccountAliases {
                domain: "example.test".into(),
                name: "user2".into(),
                aliases: vec!["free".into()],
            }),
            Err(Rejection::AliasExists("free".into()))
        );
        assert_eq!(
            d.apply(DirectoryOp::CreateForwarder {
                domain: "example.test".into(),
                name: "free".into(),
                to: "user2".into(),
            }),
            Err(Rejection::AccountExists)
        );
        assert_eq!(
            d.apply(DirectoryOp::SetAccountAliases {
                domain: "nowhere.test".into(),
                name: "user1".into(),
                aliases: vec![],
            }),
            Err(Rejection::DomainNotFound)
        );
        // SetAliases, as entries of earlier versions hold it, still takes
        // a forwarder's name: a replayed log reaches the state it reached.
        d.apply(DirectoryOp::SetAliases {
            domain: "example.test".into(),
            name: "user2".into(),
            aliases: vec!["sales".into()],
        })
        .unwrap();
    }
}
