//! `AdminApi`: the one implementation of administration commands.
//!
//! The CLI (and later WebAdmin and the JSON API) call it, so they cannot
//! disagree. It owns no state: changes are Raft proposals through the
//! [`ClusterHandle`], reads are linearizable reads of the replicated state
//! (DESIGN invariant 5), and account files are touched through the
//! [`AccountHub`], under the account's lock.
//!
//! Order of effects: the directory change commits first (it decides
//! uniqueness cluster-wide), then the files follow. Account folders that
//! are missing after a crash are created on first delivery.

use std::collections::BTreeMap;
use std::sync::Arc;

use cluster::{
    AccountHub, AccountRef, ClusterHandle, Command as Raft, CommandResult, DirectoryOp, Password,
    Settings, State,
};
use storage::AccountKind;

use crate::cli::command::Command;
use crate::control::NodeControl;
use crate::data::{self, Dict, Value};
use crate::error::{Error, Result};

/// The setting that carries a password in CreateAccount/UpdateAccountSettings
/// dictionaries; it is never stored with the other settings.
pub(crate) const PASSWORD_KEY: &str = "Password";

/// A credential check that could not be decided: this member cannot
/// reach the leader to confirm what its own state does not.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Undecided;

/// The administration API.
#[derive(Clone)]
pub struct AdminApi {
    pub(crate) cluster: ClusterHandle,
    pub(crate) accounts: AccountHub,
    pub(crate) control: Option<Arc<dyn NodeControl>>,
    verified: crate::verified::VerifiedPasswords,
    /// When this API was made: the node's start, for the About page.
    pub(crate) started: std::time::SystemTime,
}

impl AdminApi {
    /// Creates the API over a node's cluster handle and account hub.
    pub fn new(cluster: ClusterHandle, accounts: AccountHub) -> AdminApi {
        AdminApi {
            cluster,
            accounts,
            control: None,
            verified: crate::verified::VerifiedPasswords::new(),
            started: std::time::SystemTime::now(),
        }
    }

    /// Adds the node hooks `WriteLog`, `SHUTDOWN` and
    /// `GetCurrentController` use.
    pub fn with_control(mut self, control: Arc<dyn NodeControl>) -> AdminApi {
        self.control = Some(control);
        self
    }

    /// A domain's name (the main domain for `None`) and explicit settings.
    async fn domain_settings(&self, name: Option<String>) -> Result<(String, Settings)> {
        self.read(move |s| {
            let name = name.map_or_else(|| s.directory.main_domain.clone(), |n| n.to_lowercase());
            let settings = s.directory.domains.get(&name)?.settings.clone();
            Some((name, settings))
        })
        .await?
        .ok_or(Error::from(cluster::Rejection::DomainNotFound))
    }

    /// Checks a clear-text login password; returns the account (`None`
    /// for a failed login or when the check cannot be decided, see
    /// [`AdminApi::check_password`]).
    pub async fn verify_password(&self, login: &str, password: &str) -> Option<AccountRef> {
        self.check_password(login, password).await.ok().flatten()
    }

    /// Checks a clear-text login password: `Ok(Some(account))`, or
    /// `Ok(None)` for wrong credentials. Accounts of a suspended domain
    /// cannot log in; forwarders are not logins.
    ///
    /// # Errors
    /// [`Undecided`] when this member's state does not confirm the password
    /// and the leader cannot be asked (a member cut off from the majority):
    /// protocols answer with a temporary failure, not "invalid credentials".
    pub async fn check_password(
        &self,
        login: &str,
        password: &str,
    ) -> std::result::Result<Option<AccountRef>, Undecided> {
        let lookup = |s: &cluster::State| {
            let account = s.directory.login_account(login)?;
            let hash = s
                .directory
                .account(&account)?
                .password
                .as_ref()?
                .hash
                .clone();
            Some((account, hash))
        };
        let local = self.cluster.read(lookup);
        if let Some(found) = self.check_hash(local.clone(), password).await {
            self.logged_in(&found);
            return Ok(Some(found));
        }
        // A miss may only mean this member lags: an account created (or a
        // password set) through another member a moment ago must work here
        // at once (DESIGN §5.5), so look again at the leader's state.
        let fresh = self
            .cluster
            .read_linearizable(lookup)
            .await
            .map_err(|_| Undecided)?;
        if fresh == local {
            return Ok(None);
        }
        let found = self.check_hash(fresh, password).await;
        if let Some(found) = &found {
            self.logged_in(found);
        }
        Ok(found)
    }

    /// Tells the node which account the current session logged in as
    /// (for `KillAccountSessions`).
    fn logged_in(&self, account: &AccountRef) {
        if let Some(control) = &self.control {
            control.session_login(account);
        }
    }

    /// Checks SASL credentials (PLAIN, LOGIN) for SMTP, POP3 and IMAP:
    /// the password, and, as proxy authorization is not offered, an
    /// authorization identity given by the client must name the same
    /// account.
    ///
    /// # Errors
    /// [`Undecided`], as [`AdminApi::check_password`].
    pub async fn verify_sasl(
        &self,
        authzid: Option<&str>,
        user: &str,
        password: &str,
    ) -> std::result::Result<Option<AccountRef>, Undecided> {
        let Some(account) = self.check_password(user, password).await? else {
            return Ok(None);
        };
        let Some(authzid) = authzid else {
            return Ok(Some(account));
        };
        let named = self.cluster.read(|s| s.directory.login_account(authzid));
        Ok((named.as_ref() == Some(&account)).then_some(account))
    }

    async fn check_hash(
        &self,
        found: Option<(AccountRef, String)>,
        password: &str,
    ) -> Option<AccountRef> {
        let (account, hash) = found?;
        if self.verified.contains(&hash, password) {
            return Some(account);
        }
        let password = password.to_string();
        let verified = self.verified.clone();
        let ok = tokio::task::spawn_blocking(move || {
            let ok = cluster::password::verify(&password, &hash);
            if ok {
                verified.insert(&hash, &password);
            }
            ok
        })
        .await
        .unwrap_or(false);
        ok.then_some(account)
    }

    /// Checks an APOP digest (RFC 1939 §7) against the account's secret.
    pub fn verify_apop(&self, login: &str, challenge: &str, digest: &str) -> Option<AccountRef> {
        let (account, secret) = self.cluster.read(|s| {
            let account = s.directory.login_account(login)?;
            let secret = s
                .directory
                .account(&account)?
                .password
                .as_ref()?
                .apop_secret
                .clone()?;
            Some((account, secret))
        })?;
        let ok = crate::cli::session::verify_apop(challenge, &secret, digest);
        ok.then(|| {
            self.logged_in(&account);
            account
        })
    }

    /// Runs one authenticated command for `caller`. `Ok(None)` is a plain
    /// success, `Ok(Some(v))` returns data.
    ///
    /// # Errors
    /// Refusals, bad arguments, missing rights, unavailability.
    pub async fn execute(&self, caller: &AccountRef, command: Command) -> Result<Option<Value>> {
        self.check_rights(caller, &command)?;
        match command {
            Command::CreateDomain { name, settings } => {
                let name = name.to_lowercase();
                crate::names::domain_name(&name)?;
                let op = DirectoryOp::CreateDomain {
                    name: name.clone(),
                    settings: to_settings(settings.unwrap_or_default()),
                };
                self.propose(op).await?;
                let store = self.accounts.store().clone();
                blocking(move || store.create_domain_dir(&name)).await?;
                Ok(None)
            }
            Command::DeleteDomain { name, force } => {
                let name = name.to_lowercase();
                self.propose(DirectoryOp::DeleteDomain {
                    name: name.clone(),
                    force,
                })
                .await?;
                let store = self.accounts.store().clone();
                blocking(move || store.delete_domain_dir(&name)).await?;
                Ok(None)
            }
            Command::ListDomains => {
                let domains = self
                    .read(|s| s.directory.domains.keys().cloned().collect::<Vec<_>>())
                    .await?;
                Ok(Some(Value::Array(
                    domains.into_iter().map(Value::String).collect(),
                )))
            }
            Command::MainDomainName => {
                let main = self.read(|s| s.directory.main_domain.clone()).await?;
                Ok(Some(Value::String(main)))
            }
            // No server-wide domain defaults exist: the effective settings
            // are the domain's own.
            Command::GetDomainSettings { name } | Command::GetDomainEffectiveSettings { name } => {
                let (_, settings) = self.domain_settings(name).await?;
                Ok(Some(Value::Dict(from_settings(&settings))))
            }
            Command::SetDomainSettings { name, settings } => {
                // Replacing is merging the new dictionary with every other
                // key reset ("default" removes a key): one proposal, so
                // the domain never shows half of each.
                let (domain, current) = self.domain_settings(name).await?;
                let mut update = to_settings(settings);
                for key in current.into_keys() {
                    update.entry(key).or_insert_with(|| "default".to_string());
                }
                self.propose(DirectoryOp::UpdateDomainSettings {
                    name: domain,
                    settings: update,
                })
                .await?;
                Ok(None)
            }
            Command::UpdateDomainSettings { name, settings } => {
                let main = self.read(|s| s.directory.main_domain.clone()).await?;
                let op = DirectoryOp::UpdateDomainSettings {
                    name: name.unwrap_or(main),
                    settings: to_settings(settings),
                };
                self.propose(op).await?;
                Ok(None)
            }
            Command::CreateAccount {
                name,
                kind,
                settings,
            } => self.create_account(&name, kind, settings).await,
            Command::RenameAccount { old, new } => {
                let from = self.existing(&old).await?;
                refuse_postmaster(&from, "renamed")?;
                let (new_name, new_domain) = self.split(&new).await?;
                crate::names::object_name(&new_name)?;
                self.propose(DirectoryOp::RenameAccount {
                    domain: from.domain.clone(),
                    name: from.name.clone(),
                    new_domain: new_domain.clone(),
                    new_name: new_name.clone(),
                })
                .await?;
                let to = self
                    .cluster
                    .read(|s| s.directory.account_ref(&new_domain, &new_name));
                let source = from.clone();
                self.accounts
                    .with_account(&from, move |store| {
                        store.rename_account(
                            source.storage_domain(),
                            &source.name,
                            to.storage_domain(),
                            &to.name,
                        )
                    })
                    .await?;
                Ok(None)
            }
            Command::DeleteAccount { name } => {
                let account = self.existing(&name).await?;
                refuse_postmaster(&account, "removed")?;
                self.propose(DirectoryOp::DeleteAccount {
                    domain: account.domain.clone(),
                    name: account.name.clone(),
                })
                .await?;
                let target = account.clone();
                self.accounts
                    .with_account(&account, move |store| {
                        match store.delete_account(target.storage_domain(), &target.name) {
                            Err(storage::Error::AccountNotFound) => Ok(()),
                            other => other,
                        }
                    })
                    .await?;
                Ok(None)
            }
            Command::ListAccounts { domain } => {
                let accounts = self
                    .read(move |s| {
                        let domain = domain
                            .map_or_else(|| s.directory.main_domain.clone(), |d| d.to_lowercase());
                        s.directory.domains.get(&domain).map(|d| {
                            d.accounts
                                .iter()
                                .map(|(name, a)| {
                                    (name.clone(), Value::string(storage_kind_name(a.kind)))
                                })
                                .collect::<Dict>()
                        })
                    })
                    .await?
                    .ok_or(Error::from(cluster::Rejection::DomainNotFound))?;
                Ok(Some(Value::Dict(accounts)))
            }
            Command::GetAccountSettings { name } => {
                let account = self.existing(&name).await?;
                let settings = self.account_field(&account, |a| a.settings.clone()).await?;
                Ok(Some(Value::Dict(from_settings(&settings))))
            }
            Command::UpdateAccountSettings { name, mut settings } => {
                let account = self.existing(&name).await?;
                if let Some(password) = settings.remove(PASSWORD_KEY) {
                    self.set_password(&account, password_text(&password)?)
                        .await?;
                }
                self.propose(DirectoryOp::UpdateAccountSettings {
                    domain: account.domain.clone(),
                    name: account.name.clone(),
                    settings: to_settings(settings),
                })
                .await?;
                self.export_settings(&account).await?;
                Ok(None)
            }
            Command::SetAccountPassword { name, password, .. } => {
                let account = self.existing(&name).await?;
                self.set_password(&account, password).await?;
                Ok(None)
            }
            Command::VerifyAccountPassword { name, password } => {
                let account = self.existing(&name).await?;
                match self.verify_password(&account.address(), &password).await {
                    Some(found) if found == account => Ok(None),
                    _ => Err(Error::IncorrectPassword),
                }
            }
            Command::GetAccountAliases { name } => {
                let account = self.existing(&name).await?;
                let aliases = self.account_field(&account, |a| a.aliases.clone()).await?;
                Ok(Some(Value::Array(
                    aliases.into_iter().map(Value::String).collect(),
                )))
            }
            Command::SetAccountAliases { name, aliases } => {
                let account = self.existing(&name).await?;
                for alias in &aliases {
                    crate::names::object_name(alias)?;
                }
                // An alias shares the domain's namespace with accounts,
                // forwarders and groups (reference §6.4): the state machine
                // checks it all atomically once every member knows
                // SetAccountAliases. Until then this member checks the
                // forwarders and groups first (a forwarder created between
                // the check and the commit can slip in).
                let domain = account.domain.clone();
                let name = account.name.clone();
                let op = if self
                    .cluster
                    .status()
                    .speaks(cluster::rpc::ALIAS_NAMESPACE_VERSION)
                {
                    DirectoryOp::SetAccountAliases {
                        domain,
                        name,
                        aliases,
                    }
                } else {
                    let wanted = aliases.clone();
                    let (d, n) = (domain.clone(), name.clone());
                    self.read(move |s| {
                        s.directory
                            .check_aliases(&d, &n, &wanted, cluster::AliasCheck::EveryObject)
                    })
                    .await??;
                    DirectoryOp::SetAliases {
                        domain,
                        name,
                        aliases,
                    }
                };
                self.propose(op).await?;
                Ok(None)
            }
            Command::ListMailboxes { account, filter } => {
                let account = self.existing(&account).await?;
                let target = account.clone();
                let boxes = self
                    .accounts
                    .with_account(&account, move |store| {
                        let domain = target.storage_domain();
                        let mut out = Dict::new();
                        for name in store.list_mailboxes(domain, &target.name)? {
                            if filter.as_deref().is_some_and(|f| !wildcard_match(f, &name)) {
                                continue;
                            }
                            let mailbox = store.open_mailbox(domain, &target.name, &name)?;
                            let info = crate::objects::mailbox_info(&mailbox);
                            out.insert(name, Value::Dict(info));
                        }
                        Ok(out)
                    })
                    .await?;
                Ok(Some(Value::Dict(boxes)))
            }
            Command::CreateMailbox { account, mailbox } => {
                let account = self.existing(&account).await?;
                let target = account.clone();
                self.accounts
                    .with_account(&account, move |store| {
                        store.create_mailbox(target.storage_domain(), &target.name, &mailbox, None)
                    })
                    .await?;
                Ok(None)
            }
            // Session commands are answered by the CLI session itself.
            Command::User(_)
            | Command::Pass(_)
            | Command::Apop { .. }
            | Command::AuthWebUser { .. }
            | Command::Inline
            | Command::Quit
            | Command::Noop
            | Command::GetVersion => Ok(None),
            Command::Unsupported(name) => {
                Err(Error::BadArgument(format!("{name} is not supported")))
            }
            // Issue 5 commands: crate::relay.
            cmd @ (Command::GetRouterTable
            | Command::SetRouterTable { .. }
            | Command::GetRouterSettings
            | Command::SetRouterSettings { .. }
            | Command::ReleaseSmtpQueue { .. }
            | Command::RejectQueueMessage { .. }
            | Command::ListQueue
            | Command::Route { .. }
            | Command::GetMessageQueueInfo { .. }) => self.execute_relay(cmd).await,
            // Issue 4 commands: crate::objects.
            other => self.execute_objects(caller, other).await,
        }
    }

    /// Whether `caller` is a server administrator (the postmaster, or a
    /// main-domain account with `ServerAdmin = YES`; see [`crate::rights`]),
    /// so WebAdmin and the JSON API grant what the CLI grants. Decided
    /// from this member's directory at each call, so a revoked right stops
    /// working at once, as it does for the CLI's next command.
    pub fn is_server_admin(&self, caller: &AccountRef) -> bool {
        self.role(caller) == crate::rights::Role::Server
    }

    /// What `caller` may administer (see [`crate::rights`]).
    pub fn role(&self, caller: &AccountRef) -> crate::rights::Role {
        self.cluster
            .read(|s| crate::rights::role(&s.directory, caller))
    }

    /// The cluster as this node sees it: members, roles, leader, term,
    /// applied index (for the WebAdmin overview). Local metrics, no Raft
    /// round trip.
    pub fn cluster_status(&self) -> cluster::status::ClusterStatus {
        self.cluster.status()
    }

    /// One page of `ListAccounts domain`: the accounts whose name contains
    /// `filter`, from `offset`, at most `limit`, and how many match in
    /// all; a list page never copies the whole domain.
    ///
    /// # Errors
    /// As `ListAccounts`.
    pub async fn account_page(
        &self,
        caller: &AccountRef,
        domain: &str,
        filter: &str,
        offset: usize,
        limit: usize,
    ) -> Result<(usize, Dict)> {
        let domain = domain.to_lowercase();
        let command = Command::ListAccounts {
            domain: Some(domain.clone()),
        };
        self.check_rights(caller, &command)?;
        let filter = filter.to_lowercase();
        self.read(move |s| {
            let d = s
                .directory
                .domains
                .get(&domain)
                .ok_or(Error::from(cluster::Rejection::DomainNotFound))?;
            let matching = d.accounts.iter().filter(|(n, _)| n.contains(&filter));
            let total = matching.clone().count();
            let page = matching
                .skip(offset)
                .take(limit)
                .map(|(n, a)| (n.clone(), Value::string(storage_kind_name(a.kind))))
                .collect();
            Ok((total, page))
        })
        .await?
    }

    /// One page of `ListQueue`, from `offset`, at most `limit`, and the
    /// queue's length.
    ///
    /// # Errors
    /// As `ListQueue`.
    pub async fn queue_page(
        &self,
        caller: &AccountRef,
        offset: usize,
        limit: usize,
    ) -> Result<(usize, Vec<Value>)> {
        self.check_rights(caller, &Command::ListQueue)?;
        self.read(move |s| {
            let page = s
                .queue
                .entries
                .values()
                .skip(offset)
                .take(limit)
                .map(crate::relay::entry_dict)
                .collect();
            (s.queue.entries.len(), page)
        })
        .await
    }

    /// See [`crate::rights`].
    fn check_rights(&self, caller: &AccountRef, command: &Command) -> Result<()> {
        self.cluster
            .read(|s| crate::rights::check(&s.directory, caller, command))
    }

    async fn create_account(
        &self,
        name: &str,
        kind: Option<String>,
        settings: Option<Dict>,
    ) -> Result<Option<Value>> {
        let kind = match kind {
            None => AccountKind::MultiMailbox,
            Some(k) => AccountKind::parse(&k)
                .ok_or_else(|| Error::BadArgument(format!("Unknown account type {k}")))?,
        };
        let (name, domain) = self.split(name).await?;
        crate::names::object_name(&name)?;
        let mut settings = settings.unwrap_or_default();
        let password = match settings.remove(PASSWORD_KEY) {
            Some(p) => Some(hash_password(password_text(&p)?).await?),
            None => None,
        };
        self.propose(DirectoryOp::CreateAccount {
            domain: domain.clone(),
            name: name.clone(),
            kind,
            password,
            settings: to_settings(settings),
        })
        .await?;
        let account = self
            .cluster
            .read(|s| s.directory.account_ref(&domain, &name));
        let target = account.clone();
        self.accounts
            .with_account(&account, move |store| {
                match store.create_account(target.storage_domain(), &target.name, kind) {
                    // Left by a crash after an earlier commit: reuse it.
                    Err(storage::Error::AccountExists) => Ok(()),
                    other => other,
                }
            })
            .await?;
        self.export_settings(&account).await?;
        Ok(None)
    }

    pub(crate) async fn set_password(&self, account: &AccountRef, password: String) -> Result<()> {
        let password = hash_password(password).await?;
        self.propose(DirectoryOp::SetPassword {
            domain: account.domain.clone(),
            name: account.name.clone(),
            password,
        })
        .await
    }

    /// Writes the human-readable copy of the account's settings
    /// (`account.settings`); the truth stays in Raft.
    pub(crate) async fn export_settings(&self, account: &AccountRef) -> Result<()> {
        let settings = self.account_field(account, |a| a.settings.clone()).await?;
        let text = data::to_text_pretty(&Value::Dict(from_settings(&settings)));
        let target = account.clone();
        self.accounts
            .with_account(account, move |store| {
                store.write_settings(target.storage_domain(), &target.name, &text)
            })
            .await?;
        Ok(())
    }

    pub(crate) async fn propose(&self, op: DirectoryOp) -> Result<()> {
        match self.cluster.propose(Raft::Directory(op)).await? {
            CommandResult::Done => Ok(()),
            CommandResult::Rejected(r) => Err(r.into()),
            other => Err(Error::Unavailable(format!("unexpected result {other:?}"))),
        }
    }

    pub(crate) async fn read<R>(&self, f: impl FnOnce(&State) -> R) -> Result<R> {
        Ok(self.cluster.read_linearizable(f).await?)
    }

    /// Splits `name[@domain]` into (name, domain), the domain defaulting to
    /// the main domain; the domain must exist.
    pub(crate) async fn split(&self, address: &str) -> Result<(String, String)> {
        let address = address.to_string();
        self.read(move |s| {
            let (name, domain) = s.directory.split_address(&address);
            if s.directory.is_local_domain(&domain) {
                Ok((name, domain))
            } else {
                Err(Error::from(cluster::Rejection::DomainNotFound))
            }
        })
        .await?
    }

    /// The account named exactly `name[@domain]` (aliases do not count).
    pub(crate) async fn existing(&self, address: &str) -> Result<AccountRef> {
        let address = address.to_string();
        self.read(move |s| {
            let (name, domain) = s.directory.split_address(&address);
            let r = s.directory.account_ref(&domain, &name);
            s.directory
                .account(&r)
                .map(|_| r)
                .ok_or(Error::from(cluster::Rejection::AccountNotFound))
        })
        .await?
    }

    pub(crate) async fn account_field<R>(
        &self,
        account: &AccountRef,
        f: impl FnOnce(&cluster::Account) -> R,
    ) -> Result<R> {
        let account = account.clone();
        self.read(move |s| {
            s.directory
                .account(&account)
                .map(f)
                .ok_or(Error::from(cluster::Rejection::AccountNotFound))
        })
        .await?
    }
}

/// The main domain's postmaster is the administrator of last resort (the
/// node recreates it at start): it is neither removed nor renamed.
fn refuse_postmaster(account: &AccountRef, what: &str) -> Result<()> {
    if account.in_main_domain && account.name == "postmaster" {
        Err(Error::conflict(format!(
            "The postmaster account cannot be {what}"
        )))
    } else {
        Ok(())
    }
}

/// ListAccounts' storage kind names (reference §2.6).
fn storage_kind_name(kind: AccountKind) -> &'static str {
    match kind {
        AccountKind::TextMailbox => "mbox",
        AccountKind::MultiMailbox | AccountKind::MailDirMailbox => "macnt",
    }
}

pub(crate) fn password_text(value: &Value) -> Result<String> {
    value
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| Error::BadArgument("Password must be a string".into()))
}

async fn hash_password(password: String) -> Result<Password> {
    let secret = password.clone();
    let hash = blocking(move || Ok(cluster::password::hash(&secret))).await?;
    Ok(Password {
        hash,
        apop_secret: Some(password),
    })
}

pub(crate) async fn blocking<R: Send + 'static>(
    f: impl FnOnce() -> storage::Result<R> + Send + 'static,
) -> Result<R> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::Unavailable(e.to_string()))?
        .map_err(Error::from)
}

/// Settings as Raft keeps them: values in data-syntax text.
pub(crate) fn to_settings(dict: Dict) -> Settings {
    dict.into_iter().map(|(k, v)| (k, v.to_string())).collect()
}

/// Settings as the CLI shows them.
pub(crate) fn from_settings(settings: &Settings) -> Dict {
    settings
        .iter()
        .map(|(k, v)| {
            (
                k.clone(),
                data::parse(v).unwrap_or_else(|_| Value::string(v.clone())),
            )
        })
        .collect::<BTreeMap<_, _>>()
}

/// CommuniGate mailbox filters: `*` matches anything, `%` anything but the
/// hierarchy separator `/`.
pub(crate) fn wildcard_match(pattern: &str, name: &str) -> bool {
    fn go(p: &[char], n: &[char]) -> bool {
        match p.split_first() {
            None => n.is_empty(),
            Some(('*', rest)) => (0..=n.len()).any(|i| go(rest, &n[i..])),
            Some(('%', rest)) => (0..=n.len())
                .take_while(|&i| i == 0 || n[i - 1] != '/')
                .any(|i| go(rest, &n[i..])),
            Some((c, rest)) => {
                n.first().is_some_and(|x| x.eq_ignore_ascii_case(c)) && go(rest, &n[1..])
            }
        }
    }
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    go(&p, &n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards() {
        assert!(wildcard_match("*", "INBOX/a"));
        assert!(wildcard_match("IN%", "INBOX"));
        assert!(!wildcard_match("%", "INBOX/a"));
        assert!(wildcard_match("inbox/*", "INBOX/a/b"));
        assert!(!wildcard_match("Sent", "Trash"));
    }

    #[test]
    fn settings_round_trip_through_text() {
        let dict = Dict::from([
            ("RealName".to_string(), Value::string("Pat Q")),
            ("Limit".to_string(), Value::Number(10)),
        ]);
        assert_eq!(from_settings(&to_settings(dict.clone())), dict);
    }
}
