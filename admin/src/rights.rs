//! Who may run which CLI command (reference §2.1, "Access rights").
//!
//! Three roles, decided from the directory on every command:
//! - **server administrator**: the main domain's `postmaster`, or a main
//!   domain account whose effective `ServerAdmin` setting is `YES`:
//!   everything (CommuniGate honours server rights only in the main
//!   domain, reference §5);
//! - **domain administrator**: effective `DomainAdmin = YES`: the objects
//!   (accounts, forwarders, groups, mailboxes, settings, defaults,
//!   aliases) of the administrator's own domain;
//! - **user**: their own settings, info, mailboxes and password
//!   (`SetAccountPassword` on themselves and `NEWPASS`, unless their
//!   effective `CanModifyPassword` is `NO`).
//!
//! CommuniGate keeps finer rights (`CanCreateAccounts`, ...) per domain
//! administrator; Mailnode grants a domain administrator all of them.
//! Only a server administrator may set the `ServerAdmin` key anywhere, so a
//! domain administrator cannot raise anyone's role above their own.

use cluster::{AccountRef, Directory, Settings};

use crate::cli::command::{Command, DefaultsOf};
use crate::data::Dict;
use crate::error::{Error, Result};

/// Account settings every account has unless the server, its domain or the
/// account sets them: the bottom layer of `GetAccountEffectiveSettings`.
pub const BUILTIN_ACCOUNT_DEFAULTS: &[(&str, &str)] = &[
    ("CanModifyPassword", "YES"),
    ("DomainAdmin", "NO"),
    ("MaxAccountSize", "unlimited"),
    ("ServerAdmin", "NO"),
];

/// The setting that makes an account a server administrator.
pub const SERVER_ADMIN: &str = "ServerAdmin";
/// The setting that makes an account an administrator of its domain.
pub const DOMAIN_ADMIN: &str = "DomainAdmin";
/// The setting that lets a user change their own password.
pub const CAN_MODIFY_PASSWORD: &str = "CanModifyPassword";

/// What an account may administer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    /// Everything.
    Server,
    /// This domain's objects.
    Domain(String),
    /// Only itself.
    User,
}

/// The effective settings of `account` with the built-in defaults under
/// them (`None` for a missing account).
pub fn effective_settings(dir: &Directory, account: &AccountRef) -> Option<Settings> {
    let mut out: Settings = BUILTIN_ACCOUNT_DEFAULTS
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    out.extend(dir.effective_settings(account)?);
    Some(out)
}

/// Whether a data-syntax setting value says `YES`.
fn is_yes(settings: &Settings, key: &str) -> bool {
    settings
        .get(key)
        .is_some_and(|v| v.trim_matches('"').eq_ignore_ascii_case("YES"))
}

/// Whether a data-syntax setting value says `NO`.
fn is_no(settings: &Settings, key: &str) -> bool {
    settings
        .get(key)
        .is_some_and(|v| v.trim_matches('"').eq_ignore_ascii_case("NO"))
}

/// The role of `caller`.
pub fn role(dir: &Directory, caller: &AccountRef) -> Role {
    if caller.in_main_domain && caller.name == "postmaster" {
        return Role::Server;
    }
    let Some(settings) = effective_settings(dir, caller) else {
        return Role::User;
    };
    if caller.in_main_domain && is_yes(&settings, SERVER_ADMIN) {
        Role::Server
    } else if is_yes(&settings, DOMAIN_ADMIN) {
        Role::Domain(caller.domain.clone())
    } else {
        Role::User
    }
}

/// Whether `caller` may change their own password (`NEWPASS`, or
/// `SetAccountPassword` on themselves as a user).
pub fn can_modify_password(dir: &Directory, caller: &AccountRef) -> bool {
    effective_settings(dir, caller).is_some_and(|s| !is_no(&s, CAN_MODIFY_PASSWORD))
}

/// What a command touches, for the rights check.
enum Scope<'a> {
    /// Any logged-in user.
    Anyone,
    /// An account a user may act on when it is their own.
    Own(&'a str),
    /// Objects named `name[@domain]`: their domain's administrator.
    Objects(Vec<&'a str>),
    /// A domain (`None`: the main domain): its administrator.
    Domain(Option<&'a str>),
    /// Server administrators only.
    Server,
}

fn scope(command: &Command) -> Scope<'_> {
    use Command as C;
    match command {
        C::MainDomainName | C::GetCurrentTime | C::NewPass(_) | C::GetVersion | C::Noop => {
            Scope::Anyone
        }
        C::GetAccountSettings { name }
        | C::GetAccountEffectiveSettings { name }
        | C::GetAccountAliases { name }
        | C::SetAccountPassword { name, .. }
        | C::VerifyAccountPassword { name, .. }
        | C::GetAccountInfo { name, .. }
        | C::GetAccountStat { name, .. } => Scope::Own(name),
        C::ListMailboxes { account, .. }
        | C::CreateMailbox { account, .. }
        | C::RenameMailbox { account, .. }
        | C::DeleteMailbox { account, .. }
        | C::GetMailboxInfo { account, .. }
        | C::GetAccountSubscription { account }
        | C::SetAccountSubscription { account, .. } => Scope::Own(account),
        C::CreateAccount { name, .. }
        | C::DeleteAccount { name }
        | C::UpdateAccountSettings { name, .. }
        | C::SetAccountSettings { name, .. }
        | C::SetAccountType { name, .. }
        | C::SetAccountAliases { name, .. }
        | C::CreateForwarder { name, .. }
        | C::DeleteForwarder { name }
        | C::GetForwarder { name }
        | C::CreateGroup { name, .. }
        | C::DeleteGroup { name }
        | C::GetGroup { name }
        | C::SetGroup { name, .. }
        | C::KillAccountSessions { name } => Scope::Objects(vec![name]),
        C::RenameAccount { old, new }
        | C::RenameForwarder { old, new }
        | C::RenameGroup { old, new } => Scope::Objects(vec![old, new]),
        C::ListAccounts { domain }
        | C::ListForwarders { domain }
        | C::ListGroups { domain }
        | C::GetDomainSettings { name: domain }
        | C::UpdateDomainSettings { name: domain, .. }
        | C::GetDomainEffectiveSettings { name: domain }
        | C::SetDomainSettings { name: domain, .. }
        | C::GetDomainAliases { name: domain }
        | C::SetDomainAliases { name: domain, .. } => Scope::Domain(domain.as_deref()),
        C::FindForwarders { domain, .. } => Scope::Domain(Some(domain)),
        C::AccountDefaults {
            of: DefaultsOf::Domain(domain),
            ..
        } => Scope::Domain(domain.as_deref()),
        _ => Scope::Server,
    }
}

/// The settings dictionary a command would store, if any.
fn stored_settings(command: &Command) -> Option<&Dict> {
    match command {
        Command::CreateAccount { settings, .. } => settings.as_ref(),
        Command::UpdateAccountSettings { settings, .. }
        | Command::SetAccountSettings { settings, .. } => Some(settings),
        Command::AccountDefaults {
            change: Some((settings, _)),
            ..
        } => Some(settings),
        _ => None,
    }
}

/// Decides whether `caller` may run `command`.
///
/// # Errors
/// [`Error::NotAllowed`].
pub fn check(dir: &Directory, caller: &AccountRef, command: &Command) -> Result<()> {
    let role = role(dir, caller);
    if role == Role::Server {
        return Ok(());
    }
    if stored_settings(command).is_some_and(|s| s.keys().any(|k| k == SERVER_ADMIN)) {
        return Err(Error::NotAllowed);
    }
    let in_my_domain = |name: &str| match &role {
        Role::Domain(d) => dir.split_address(name).1 == *d,
        _ => false,
    };
    let allowed = match scope(command) {
        Scope::Anyone => true,
        Scope::Own(name) => {
            let own = dir.login_account(name).as_ref() == Some(caller)
                || dir.resolve(name).as_ref() == Some(caller);
            let password_change = matches!(command, Command::SetAccountPassword { .. });
            match (own, &role) {
                (_, Role::Domain(_)) if in_my_domain(name) => true,
                (true, _) if password_change => can_modify_password(dir, caller),
                (own, _) => own,
            }
        }
        Scope::Objects(names) => names.iter().all(|n| in_my_domain(n)),
        Scope::Domain(domain) => match &role {
            Role::Domain(mine) => {
                let domain =
                    domain.map_or_else(|| dir.main_domain.clone(), |d| dir.canonical_domain(d));
                domain == *mine
            }
            _ => false,
        },
        Scope::Server => false,
    };
    if allowed {
        Ok(())
    } else {
        Err(Error::NotAllowed)
    }
}
