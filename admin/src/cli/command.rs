//! CLI command lines → typed [`Command`]s.
//!
//! Owns the grammar of one CLI line as the CommuniGate CLI reads it
//! (reference §2.1, §2.4 and the command list of §2.5, taken from what
//! Stalker's `CLI.pm` v2.8.3 sends): a command word, then arguments in the
//! data syntax of [`crate::data`] and bare keywords (`into`, `PASSWORD`,
//! `MAILBOX`, ...). Command words and keywords are case-insensitive; a
//! keyword is only recognised when written as an atom, so a quoted `"into"`
//! is an ordinary string.
//!
//! `USER`, `PASS` and `AUTH WEBUSER` take the rest of the line verbatim,
//! as POP3 does: `CLI.pm` sends passwords without quoting them.
//!
//! Commands this server does not implement, but which CommuniGate has
//! (the [`KNOWN_COMMANDS`] table), parse to [`Command::Unsupported`] so the
//! session can say "not implemented" rather than "unknown command".

pub use crate::data::Dict;
use crate::data::{self, Value};
pub use crate::error::Error as CommandError;
use crate::error::{Error, Result};

/// One parsed CLI command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `USER name`: first half of a clear-text login.
    User(String),
    /// `PASS password`: second half of a clear-text login.
    Pass(String),
    /// `APOP name digest`: login with `hex(MD5(challenge + password))`.
    Apop {
        /// Account name.
        name: String,
        /// Lowercase or uppercase hex MD5 digest as sent.
        digest: String,
    },
    /// `AUTH WEBUSER name password`: clear-text login in one line.
    AuthWebUser {
        /// Account name.
        name: String,
        /// Password, the rest of the line.
        password: String,
    },
    /// `INLINE`: answer data on the status line (`201 <object>`).
    Inline,
    /// `QUIT`: close the session.
    Quit,
    /// `NOOP`: do nothing.
    Noop,
    /// `GetVersion`: the server version string.
    GetVersion,
    /// `CreateDomain name [dict]`.
    CreateDomain {
        /// Domain name.
        name: String,
        /// Initial domain settings.
        settings: Option<Dict>,
    },
    /// `DeleteDomain name [force]`.
    DeleteDomain {
        /// Domain name.
        name: String,
        /// Delete even when the domain still has accounts.
        force: bool,
    },
    /// `ListDomains`.
    ListDomains,
    /// `MainDomainName`.
    MainDomainName,
    /// `GetDomainSettings [domain]` (alias `GetDomain`).
    GetDomainSettings {
        /// Domain name; the authenticated user's domain when absent.
        name: Option<String>,
    },
    /// `UpdateDomainSettings [domain] dict`: merges into the settings.
    UpdateDomainSettings {
        /// Domain name; the authenticated user's domain when absent.
        name: Option<String>,
        /// Settings to merge.
        settings: Dict,
    },
    /// `GetDomainEffectiveSettings [domain]`: the settings with defaults
    /// filled in. Mailnode keeps no server-wide domain defaults
    /// (`GetDomainDefaults` is not supported), so these are the domain's own.
    GetDomainEffectiveSettings {
        /// Domain name; the main domain when absent.
        name: Option<String>,
    },
    /// `SetDomainSettings [domain] dict`: replaces the settings.
    SetDomainSettings {
        /// Domain name; the main domain when absent.
        name: Option<String>,
        /// The complete new settings.
        settings: Dict,
    },
    /// `CreateAccount name [type] [dict]`.
    CreateAccount {
        /// Account name, possibly `user@domain`.
        name: String,
        /// Storage kind atom as written (`MultiMailbox`, `TextMailbox`,
        /// `MailDirMailbox`, ...); the caller validates it.
        kind: Option<String>,
        /// Initial account settings.
        settings: Option<Dict>,
    },
    /// `RenameAccount old into new`.
    RenameAccount {
        /// Current name.
        old: String,
        /// New name.
        new: String,
    },
    /// `DeleteAccount name`.
    DeleteAccount {
        /// Account name.
        name: String,
    },
    /// `ListAccounts [domain]`.
    ListAccounts {
        /// Domain name; the authenticated user's domain when absent.
        domain: Option<String>,
    },
    /// `GetAccountSettings name` (alias `GetAccount`).
    GetAccountSettings {
        /// Account name.
        name: String,
    },
    /// `UpdateAccountSettings name dict`: merges into the settings.
    UpdateAccountSettings {
        /// Account name.
        name: String,
        /// Settings to merge.
        settings: Dict,
    },
    /// `SetAccountPassword name PASSWORD pwd [CHECK]` (`TO` is accepted for
    /// `PASSWORD`, as older CLI versions wrote it).
    SetAccountPassword {
        /// Account name.
        name: String,
        /// New password.
        password: String,
        /// Apply the password policy checks, as for a user's own change.
        check: bool,
    },
    /// `VerifyAccountPassword name PASSWORD pwd`.
    VerifyAccountPassword {
        /// Account name.
        name: String,
        /// Password to check.
        password: String,
    },
    /// `GetAccountAliases name`.
    GetAccountAliases {
        /// Account name.
        name: String,
    },
    /// `SetAccountAliases name (a1, a2, ...)`.
    SetAccountAliases {
        /// Account name.
        name: String,
        /// The complete new alias list.
        aliases: Vec<String>,
    },
    /// `ListMailboxes account [FILTER pattern]`.
    ListMailboxes {
        /// Account name.
        account: String,
        /// IMAP-style name pattern.
        filter: Option<String>,
    },
    /// `CreateMailbox account [MAILBOX] name`.
    CreateMailbox {
        /// Account name.
        account: String,
        /// Mailbox name, `/`-separated.
        mailbox: String,
    },
    /// `NEWPASS password`: the logged-in user changes their own password
    /// (poppwd).
    NewPass(String),
    /// `SHUTDOWN`: stop this node gracefully.
    Shutdown,
    /// `WriteLog level "text"`: write a line into the system log.
    WriteLog {
        /// CommuniGate log level (0 crash .. 5 all).
        level: i64,
        /// The text.
        text: String,
    },
    /// `GetCurrentController`: the Raft leader's address.
    GetCurrentController,
    /// `GetCurrentTime`: the server's clock.
    GetCurrentTime,
    /// `GetAccountEffectiveSettings name`: settings with defaults filled in.
    GetAccountEffectiveSettings {
        /// Account name.
        name: String,
    },
    /// `SetAccountSettings name dict`: replaces the settings.
    SetAccountSettings {
        /// Account name.
        name: String,
        /// The complete new settings.
        settings: Dict,
    },
    /// `SetAccountType name type`.
    SetAccountType {
        /// Account name.
        name: String,
        /// Type atom as written.
        kind: String,
    },
    /// `GetAccountInfo name [Key k | (k1, k2)]`.
    GetAccountInfo {
        /// Account name.
        name: String,
        /// One key (answered with its bare value).
        key: Option<String>,
        /// Several keys (answered with a dictionary).
        keys: Option<Vec<String>>,
    },
    /// `GetAccountStat name [Key k]`.
    GetAccountStat {
        /// Account name.
        name: String,
        /// One key (answered with its bare value).
        key: Option<String>,
    },
    /// `Get|Set|UpdateAccountDefaults [domain] [dict]` and the
    /// `...ServerAccountDefaults` forms.
    AccountDefaults {
        /// Whose defaults.
        of: DefaultsOf,
        /// `None` reads; `Some` sets (replace) or updates (merge).
        change: Option<(Dict, bool)>,
    },
    /// `ListForwarders [domain]`.
    ListForwarders {
        /// Domain name; the main domain when absent.
        domain: Option<String>,
    },
    /// `CreateForwarder name TO address`.
    CreateForwarder {
        /// Forwarder name, possibly `name@domain`.
        name: String,
        /// Target address.
        to: String,
    },
    /// `RenameForwarder old into new`.
    RenameForwarder {
        /// Current name.
        old: String,
        /// New name.
        new: String,
    },
    /// `DeleteForwarder name`.
    DeleteForwarder {
        /// Forwarder name.
        name: String,
    },
    /// `GetForwarder name`: the target address.
    GetForwarder {
        /// Forwarder name.
        name: String,
    },
    /// `FindForwarders domain TO address`: the forwarders pointing there.
    FindForwarders {
        /// Domain name.
        domain: String,
        /// Target address.
        to: String,
    },
    /// `ListGroups [domain]`.
    ListGroups {
        /// Domain name; the main domain when absent.
        domain: Option<String>,
    },
    /// `CreateGroup name [dict]`.
    CreateGroup {
        /// Group name, possibly `name@domain`.
        name: String,
        /// Settings; `Members` is the member array.
        settings: Option<Dict>,
    },
    /// `RenameGroup old into new`.
    RenameGroup {
        /// Current name.
        old: String,
        /// New name.
        new: String,
    },
    /// `DeleteGroup name`.
    DeleteGroup {
        /// Group name.
        name: String,
    },
    /// `GetGroup name`.
    GetGroup {
        /// Group name.
        name: String,
    },
    /// `SetGroup name dict`: replaces the group.
    SetGroup {
        /// Group name.
        name: String,
        /// Settings; `Members` is the member array.
        settings: Dict,
    },
    /// `RenameDomain old into new`.
    RenameDomain {
        /// Current name.
        old: String,
        /// New name.
        new: String,
    },
    /// `SuspendDomain name` (`suspend`) or `ResumeDomain name`.
    SuspendDomain {
        /// Domain name.
        name: String,
        /// Suspend (true) or resume (false).
        suspend: bool,
    },
    /// `GetDomainAliases [domain]`.
    GetDomainAliases {
        /// Domain name; the main domain when absent.
        name: Option<String>,
    },
    /// `SetDomainAliases [domain] (a1, ...)`.
    SetDomainAliases {
        /// Domain name; the main domain when absent.
        name: Option<String>,
        /// The complete new alias list.
        aliases: Vec<String>,
    },
    /// `RENAMEMAILBOX account MAILBOX[ES] old INTO new`.
    RenameMailbox {
        /// Account name.
        account: String,
        /// Current mailbox name.
        old: String,
        /// New mailbox name.
        new: String,
        /// The `MAILBOXES` form: the whole subtree.
        subtree: bool,
    },
    /// `DELETEMAILBOX account MAILBOX[ES] name`.
    DeleteMailbox {
        /// Account name.
        account: String,
        /// Mailbox name.
        mailbox: String,
        /// The `MAILBOXES` form: with every mailbox inside it.
        subtree: bool,
    },
    /// `GETMAILBOXINFO account MAILBOX name`.
    GetMailboxInfo {
        /// Account name.
        account: String,
        /// Mailbox name.
        mailbox: String,
    },
    /// `ListModules`.
    ListModules,
    /// `GetModule name`.
    GetModule {
        /// Module name.
        name: String,
    },
    /// `UpdateModule name dict` (merge) or `SetModule name dict` (replace).
    UpdateModule {
        /// Module name.
        name: String,
        /// Settings.
        settings: Dict,
        /// `SetModule`: replace instead of merge.
        replace: bool,
    },
    /// `GetLANIPs`, `GetBlacklistedIPs`, `GetClientIPs`, `GetWhiteHoleIPs`,
    /// `GetDeniedIPs` and their `GetCluster...` forms.
    GetIpList {
        /// List name (`LANIPs`, ...).
        list: &'static str,
    },
    /// `SetLANIPs "..."`, `SetBlacklistedIPs "..."`, ... and their
    /// `SetCluster...` forms.
    SetIpList {
        /// List name (`LANIPs`, ...).
        list: &'static str,
        /// `\e`-separated entries.
        value: String,
    },
    /// `GetAccountSubscription account` (also `GetMailboxSubscription`):
    /// the subscribed mailbox names (IMAP `LSUB`/`LIST (SUBSCRIBED)`).
    GetAccountSubscription {
        /// Account name.
        account: String,
    },
    /// `SetAccountSubscription account (names)` (also
    /// `SetMailboxSubscription`): replaces the subscription list.
    SetAccountSubscription {
        /// Account name.
        account: String,
        /// The complete new list of mailbox names.
        mailboxes: Vec<String>,
    },
    /// `KillAccountSessions name`: closes the account's POP3 and IMAP
    /// sessions on this node.
    KillAccountSessions {
        /// Account name.
        name: String,
    },
    /// `SubmitMessage message`: hands an RFC 5322 message (string or data
    /// block, native line ends) to the PIPE module, as a file dropped into
    /// `Submitted/` would be; the envelope comes from its headers.
    SubmitMessage {
        /// The message text.
        message: Vec<u8>,
    },
    /// `GetRouterTable` (issue #5, `crate::relay`).
    GetRouterTable,
    /// `SetRouterTable "table"`, lines separated by `\e`.
    SetRouterTable {
        /// The whole table.
        table: String,
    },
    /// `GetRouterSettings`: `{TLSPolicy = {domain = verify; ...};}`.
    GetRouterSettings,
    /// `SetRouterSettings {TLSPolicy = {...};}`: replaces them.
    SetRouterSettings {
        /// The settings.
        settings: Dict,
    },
    /// `ReleaseSMTPQueue "domain"`: retry that domain's messages now.
    ReleaseSmtpQueue {
        /// The domain (`*` for all).
        queue: String,
    },
    /// `RejectQueueMessage id ["text"]`: bounce a queued message now.
    RejectQueueMessage {
        /// The queue id.
        id: u64,
        /// The reason given in the bounce.
        text: Option<String>,
    },
    /// `ListQueue` (a Mailnode extension): every queued message.
    ListQueue,
    /// `Route address [mail|access|signal]`: how mail to `address` is routed.
    Route {
        /// The address.
        address: String,
    },
    /// `GetMessageQueueInfo SMTP QUEUE "domain"`: one delivery queue's totals.
    GetMessageQueueInfo {
        /// The module (`SMTP`; `LOCAL` names the local deliveries).
        module: String,
        /// The queue: a remote domain for `SMTP`.
        queue: String,
    },
    /// A CommuniGate command word (from [`KNOWN_COMMANDS`]) this server does
    /// not implement yet, in its canonical spelling.
    Unsupported(String),
}

/// Whose account settings defaults an `AccountDefaults` command names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DefaultsOf {
    /// `...ServerAccountDefaults`: every domain's.
    Server,
    /// `...AccountDefaults [domain]`: one domain's (main domain when absent).
    Domain(Option<String>),
}

/// The IP-list commands implemented, by the list name after `Get`/`Set`
/// (or `GetCluster`/`SetCluster`: every Mailnode setting is replicated to
/// the whole cluster, so the `Cluster...` forms name the same lists).
const IP_LIST_NAMES: &[&str] = &[
    "LANIPs",
    "BlacklistedIPs",
    "ClientIPs",
    "WhiteHoleIPs",
    "DeniedIPs",
];

/// CommuniGate CLI commands that Mailnode recognises but does not
/// implement, in their canonical spelling (reference §2.5).
#[rustfmt::skip]
pub const KNOWN_COMMANDS: &[&str] = &[
    // Session / misc
    "RefreshOSData",
    "GetSNMPElement", "GetStatElement", "SetStatElement", "GetNextStatName", "GetDialogInfo",
    "GetQueueInfo",
    // Account set
    "ListDomainObjects", "GetAccountLocation",
    "ResetAccountStat", "GetAccountPresence",
    // Account settings
    "GetAccountPrefs", "SetAccountPrefs",
    "UpdateAccountPrefs", "GetAccountEffectivePrefs", "GetAccountRights", "SetAccountRights",
    "GetAccountACL", "SetAccountACL", "GetAccountACLRights", 
    "GetAccountTemplate", "SetAccountTemplate",
    "UpdateAccountTemplate", 
    "GetAllAccountsDefaults", "SetAllAccountsDefaults",
    "UpdateAllAccountsDefaults", "GetAccountDefaultPrefs", "SetAccountDefaultPrefs",
    "UpdateAccountDefaultPrefs", "GetServerAccountPrefs", "SetServerAccountPrefs",
    "UpdateServerAccountPrefs", "GetClusterAccountPrefs", "SetClusterAccountPrefs",
    "UpdateClusterAccountPrefs",
    // Aliases / telephone numbers
    "GetAccountTelnums", "SetAccountTelnums", 
    // Forwarders and groups
    
    
    
    // Domain set and settings
    "CreateDirectoryDomain", 
    "ReloadDirectoryDomains", "ListAdminDomains", "GetDomainLocation", "GetDomainStat",
    "ResetDomainStat", "GetDomainDefaults",
    "SetDomainDefaults", "UpdateDomainDefaults", "GetClusterDomainDefaults",
    "SetClusterDomainDefaults", "UpdateClusterDomainDefaults", "GetWebUserDefaults",
    "SetWebUserDefaults", "UpdateWebUserDefaults",
    // Rules
    "GetAccountRules", "SetAccountRules", "GetAccountMailRules", "SetAccountMailRules",
    "UpdateAccountMailRule", "GetAccountSignalRules", "SetAccountSignalRules",
    "UpdateAccountSignalRule", "GetDomainRules", "SetDomainRules", "GetDomainMailRules",
    "SetDomainMailRules", "GetDomainSignalRules", "SetDomainSignalRules", "GetServerRules",
    "SetServerRules", "GetServerMailRules", "SetServerMailRules", "GetServerSignalRules",
    "SetServerSignalRules", "GetClusterRules", "SetClusterRules", "GetClusterMailRules",
    "SetClusterMailRules", "GetClusterSignalRules", "SetClusterSignalRules",
    // Mailboxes
    "GetMailboxACL", "SetMailboxACL",
    "GetMailboxRights", "SetMailboxClass", "GetMailboxAliases", "SetMailboxAliases",
    // Mailing lists
    "ListLists", "GetDomainLists", "GetAccountLists", "CreateList", "RenameList", "DeleteList",
    "GetList", "UpdateList", "List", "ListSubscribers", "GetSubscriberInfo", "SetPostingMode",
    "ProcessBounce",
    // Queue / transfer
    "GetQueueSettings",
    "SetQueueSettings", "GetServerIntercept",
    "SetServerIntercept", "GetClusterIntercept", "SetClusterIntercept",
    // Server settings
    "GetSignalSettings",
    "SetSignalSettings", "GetSessionSettings", "SetSessionSettings", "GetClusterSettings",
    "SetClusterSettings", "GetMediaServerSettings", "SetMediaServerSettings", 
    
    // NAT lists concern SIP/RTP, which Mailnode does not have; debug
    // logging per address is not built.
    "GetNATedIPs", "SetNATedIPs", "GetNATSiteIPs",
    "SetNATSiteIPs", "GetDebugIPs", "SetDebugIPs",
    "GetClusterNATedIPs", "SetClusterNATedIPs", "GetClusterNATSiteIPs",
    "SetClusterNATSiteIPs", "GetClusterDebugIPs", "SetClusterDebugIPs",
    "GetProtection", "SetProtection", "GetClusterProtection",
    "SetClusterProtection", "GetNetwork", "SetNetwork", "GetClusterNetwork", "SetClusterNetwork",
    "GetBanned", "SetBanned", "GetClusterBanned", "SetClusterBanned", "GetTempClientIPs",
    "GetTempBlacklistedIPs", "SetTempBlacklistedIPs", "GetServerTrustedCerts",
    "SetServerTrustedCerts", "GetClusterTrustedCerts", "SetClusterTrustedCerts",
    "GetDirectoryIntegration", "SetDirectoryIntegration", "GetClusterDirectoryIntegration",
    "SetClusterDirectoryIntegration",
    // Directory
    "ListDirectoryUnits", "CreateDirectoryUnit", "DeleteDirectoryUnit", "GetDirectoryUnit",
    "SetDirectoryUnit", "GetDirectoryAccessRights", "SetDirectoryAccessRights",
    "InsertDirectoryRecords", "DeleteDirectoryRecords",
    // Alerts
    "GetDomainAlerts", "SetDomainAlerts", "GetAccountAlerts", "SetAccountAlerts",
    "GetServerAlerts", "SetServerAlerts", "GetClusterAlerts", "SetClusterAlerts",
    "PostDomainAlert", "PostAccountAlert", "PostServerAlert", "PostClusterAlert",
    "RemoveDomainAlert", "RemoveAccountAlert", "RemoveServerAlert", "RemoveClusterAlert",
    // Files / skins / web
    "GetWebFile", "PutWebFile", "RenameWebFile", "DeleteWebFile", "ListWebFiles",
    "GetWebFilesInfo", "ReadStorageFile", "WriteStorageFile", "RenameStorageFile",
    "DeleteStorageFile", "ListStorageFiles", "GetStorageFileInfo", "ReadStorageFileAttr",
    "UpdateStorageFileAttr", "ListDomainSkins", "CreateDomainSkin", "RenameDomainSkin",
    "DeleteDomainSkin", "ListDomainSkinFiles", "ReadDomainSkinFile", "StoreDomainSkinFile",
    "ListServerSkins", "CreateServerSkin", "RenameServerSkin", "DeleteServerSkin",
    "ListServerSkinFiles", "ReadServerSkinFile", "StoreServerSkinFile", "ListClusterSkins",
    "CreateClusterSkin", "RenameClusterSkin", "DeleteClusterSkin", "ListClusterSkinFiles",
    "ReadClusterSkinFile", "StoreClusterSkinFile", "ListWebUserInterface", "GetWebUserInterface",
    "PutWebUserInterface", "DeleteWebUserInterface", "ClearWebUserCache",
    // Sessions
    "CreateWebUserSession", "CreateXIMSSSession", "FindWebUserSession", "GetWebUserSession",
    "KillWebUserSession", "FindAccountSession", "GetSession", "KillSession",
    // Named tasks / PBX / real-time
    "ListDomainNamedTasks", "ListAccountNamedTasks", "CreateNamedTask", "RenameNamedTask",
    "DeleteNamedTask", "GetNamedTask", "UpdateNamedTask", "CreateDomainPBX", "CreateServerPBX",
    "CreateClusterPBX", "ListDomainPBXFiles", "ListServerPBXFiles", "ListClusterPBXFiles",
    "ReadDomainPBXFile", "ReadServerPBXFile", "ReadClusterPBXFile", "StoreDomainPBXFile",
    "StoreServerPBXFile", "StoreClusterPBXFile", "StartPBXTask", "SendTaskEvent", "KillNode",
    "ReadNodeStatus",
    // Also in CLI.pm v2.8.3
    "DeleteDomainSkinFile", "DeleteServerSkinFile", "DeleteClusterSkinFile",
    "DeleteDomainPBXFile", "DeleteServerPBXFile", "DeleteClusterPBXFile", "ListDomainTelnums",
    "ListServerTelnums", "ListClusterTelnums", "GetAccountRPOPs", "SetAccountRPOPs",
    "GetAccountSIPs", "SetAccountSIPs", "GetFileSubscription", "SetFileSubscription",
    "RelocateDirectoryUnit",
    // Account services
    "RemoveAccountSubset", "Dataset", "Roster", "Balance",
];

/// Parses one CLI line (without its line ending) into a [`Command`].
///
/// # Errors
/// [`Error::EmptyCommand`] for a blank line, [`Error::UnknownCommand`] for a
/// word that is not a CommuniGate command, [`Error::Syntax`] for a malformed
/// argument (position counted in the whole line) and
/// [`Error::BadArguments`] when the arguments do not fit the command.
pub fn parse_command(line: &str) -> Result<Command> {
    let start = line.len() - line.trim_start_matches(' ').len();
    let body = &line[start..];
    let word_len = body.find(' ').unwrap_or(body.len());
    let word = &body[..word_len];
    if word.is_empty() {
        return Err(Error::EmptyCommand);
    }
    if !word.bytes().all(|c| c.is_ascii_alphanumeric()) {
        return Err(Error::Syntax {
            pos: start,
            reason: "invalid command word",
        });
    }
    let rest_pos = start + word_len;
    let rest = &line[rest_pos..];
    let is = |name: &str| word.eq_ignore_ascii_case(name);

    // Login commands take raw text: CLI.pm does not quote these arguments.
    if is("USER") {
        let name = rest.trim_matches(' ');
        return match name {
            "" => Err(bad("USER", "missing account name")),
            _ => Ok(Command::User(name.to_owned())),
        };
    }
    if is("PASS") {
        return match rest.strip_prefix(' ') {
            Some(pwd) if !pwd.is_empty() => Ok(Command::Pass(pwd.to_owned())),
            _ => Err(bad("PASS", "missing password")),
        };
    }
    if is("APOP") {
        let mut parts = rest.split(' ').filter(|p| !p.is_empty());
        let (Some(name), Some(digest), None) = (parts.next(), parts.next(), parts.next()) else {
            return Err(bad("APOP", "expected account name and digest"));
        };
        return Ok(Command::Apop {
            name: name.to_owned(),
            digest: digest.to_owned(),
        });
    }
    if is("AUTH") {
        return parse_auth(rest);
    }

    let mut args = Args::new(line, rest_pos)?;
    let cmd = if is("INLINE") {
        args.done("INLINE", Command::Inline)?
    } else if is("QUIT") {
        args.done("QUIT", Command::Quit)?
    } else if is("NOOP") {
        args.done("NOOP", Command::Noop)?
    } else if is("GetVersion") {
        args.done("GetVersion", Command::GetVersion)?
    } else if is("CreateDomain") || is("CreateSharedDomain") {
        // Every Mailnode domain is the whole cluster's: CommuniGate's
        // "shared" (cluster-wide) domain is the only kind.
        args.cmd = "CreateDomain";
        let name = args.string("domain name")?;
        let settings = args.opt_dict();
        args.done("CreateDomain", Command::CreateDomain { name, settings })?
    } else if is("DeleteDomain") {
        args.cmd = "DeleteDomain";
        let name = args.string("domain name")?;
        let force = args.opt_keyword("force");
        args.done("DeleteDomain", Command::DeleteDomain { name, force })?
    } else if is("ListDomains") {
        args.done("ListDomains", Command::ListDomains)?
    } else if is("MainDomainName") {
        args.done("MainDomainName", Command::MainDomainName)?
    } else if is("GetDomainSettings") || is("GetDomain") {
        args.cmd = "GetDomainSettings";
        let name = args.opt_string();
        args.done(args.cmd, Command::GetDomainSettings { name })?
    } else if is("UpdateDomainSettings") {
        args.cmd = "UpdateDomainSettings";
        let name = args.opt_string();
        let settings = args.dict("settings dictionary")?;
        args.done(args.cmd, Command::UpdateDomainSettings { name, settings })?
    } else if is("GetDomainEffectiveSettings") {
        args.cmd = "GetDomainEffectiveSettings";
        let name = args.opt_string();
        args.done(args.cmd, Command::GetDomainEffectiveSettings { name })?
    } else if is("SetDomainSettings") {
        args.cmd = "SetDomainSettings";
        let name = args.opt_string();
        let settings = args.dict("settings dictionary")?;
        args.done(args.cmd, Command::SetDomainSettings { name, settings })?
    } else if is("CreateAccount") {
        args.cmd = "CreateAccount";
        let name = args.string("account name")?;
        if args.opt_keyword("external") {
            return Err(bad(args.cmd, "external accounts are not supported"));
        }
        let kind = args.opt_atom();
        if args.opt_keyword("external") {
            return Err(bad(args.cmd, "external accounts are not supported"));
        }
        let settings = args.opt_dict();
        args.done(
            args.cmd,
            Command::CreateAccount {
                name,
                kind,
                settings,
            },
        )?
    } else if is("RenameAccount") {
        args.cmd = "RenameAccount";
        let old = args.string("account name")?;
        args.keyword("into")?;
        let new = args.string("new account name")?;
        args.done(args.cmd, Command::RenameAccount { old, new })?
    } else if is("DeleteAccount") {
        args.cmd = "DeleteAccount";
        let name = args.string("account name")?;
        args.done(args.cmd, Command::DeleteAccount { name })?
    } else if is("ListAccounts") {
        args.cmd = "ListAccounts";
        let domain = args.opt_string();
        args.done(args.cmd, Command::ListAccounts { domain })?
    } else if is("GetAccountSettings") || is("GetAccount") {
        args.cmd = "GetAccountSettings";
        let name = args.string("account name")?;
        args.done(args.cmd, Command::GetAccountSettings { name })?
    } else if is("UpdateAccountSettings") {
        args.cmd = "UpdateAccountSettings";
        let name = args.string("account name")?;
        let settings = args.dict("settings dictionary")?;
        args.done(args.cmd, Command::UpdateAccountSettings { name, settings })?
    } else if is("SetAccountPassword") {
        args.cmd = "SetAccountPassword";
        let name = args.string("account name")?;
        if !args.opt_keyword("TO") {
            args.keyword("PASSWORD")?;
        }
        let password = args.string("password")?;
        let check = args.opt_keyword("CHECK");
        let cmd = Command::SetAccountPassword {
            name,
            password,
            check,
        };
        args.done(args.cmd, cmd)?
    } else if is("VerifyAccountPassword") {
        args.cmd = "VerifyAccountPassword";
        let name = args.string("account name")?;
        args.keyword("PASSWORD")?;
        let password = args.string("password")?;
        args.done(args.cmd, Command::VerifyAccountPassword { name, password })?
    } else if is("GetAccountAliases") {
        args.cmd = "GetAccountAliases";
        let name = args.string("account name")?;
        args.done(args.cmd, Command::GetAccountAliases { name })?
    } else if is("SetAccountAliases") {
        args.cmd = "SetAccountAliases";
        let name = args.string("account name")?;
        let aliases = args.string_array("alias array")?;
        args.done(args.cmd, Command::SetAccountAliases { name, aliases })?
    } else if is("ListMailboxes") {
        args.cmd = "ListMailboxes";
        let account = args.string("account name")?;
        let filter = match args.opt_keyword("FILTER") {
            true => Some(args.string("filter pattern")?),
            false => None,
        };
        args.refuse_auth()?;
        args.done(args.cmd, Command::ListMailboxes { account, filter })?
    } else if is("CreateMailbox") {
        args.cmd = "CreateMailbox";
        let account = args.string("account name")?;
        // `MAILBOX` is a keyword only when a name follows it.
        if args.remaining() >= 2 {
            args.opt_keyword("MAILBOX");
        }
        let mailbox = args.string("mailbox name")?;
        args.refuse_auth()?;
        if args.opt_keyword("CLASS") {
            return Err(bad(args.cmd, "CLASS is not supported"));
        }
        args.done(args.cmd, Command::CreateMailbox { account, mailbox })?
    } else if is("NEWPASS") {
        args.cmd = "NEWPASS";
        let password = args.string("password")?;
        args.done(args.cmd, Command::NewPass(password))?
    } else if is("SHUTDOWN") {
        args.done("SHUTDOWN", Command::Shutdown)?
    } else if is("WriteLog") {
        args.cmd = "WriteLog";
        let level = args.number("log level")?;
        let text = args.string("text")?;
        args.done(args.cmd, Command::WriteLog { level, text })?
    } else if is("GetCurrentController") {
        args.done("GetCurrentController", Command::GetCurrentController)?
    } else if is("GetCurrentTime") {
        args.done("GetCurrentTime", Command::GetCurrentTime)?
    } else if is("GetAccountEffectiveSettings") {
        args.cmd = "GetAccountEffectiveSettings";
        let name = args.string("account name")?;
        args.done(args.cmd, Command::GetAccountEffectiveSettings { name })?
    } else if is("SetAccountSettings") {
        args.cmd = "SetAccountSettings";
        let name = args.string("account name")?;
        let settings = args.dict("settings dictionary")?;
        args.done(args.cmd, Command::SetAccountSettings { name, settings })?
    } else if is("SetAccountType") {
        args.cmd = "SetAccountType";
        let name = args.string("account name")?;
        let kind = args.string("account type")?;
        args.done(args.cmd, Command::SetAccountType { name, kind })?
    } else if is("GetAccountInfo") {
        args.cmd = "GetAccountInfo";
        let name = args.string("account name")?;
        let (mut key, mut keys) = (None, None);
        if args.opt_keyword("Key") {
            key = Some(args.string("key")?);
        } else if args.remaining() > 0 {
            keys = Some(args.string_array("key array")?);
        }
        args.done(args.cmd, Command::GetAccountInfo { name, key, keys })?
    } else if is("GetAccountStat") {
        args.cmd = "GetAccountStat";
        let name = args.string("account name")?;
        let key = match args.opt_keyword("Key") {
            true => Some(args.string("key")?),
            false => None,
        };
        args.done(args.cmd, Command::GetAccountStat { name, key })?
    } else if let Some((cmd, of, change)) = defaults_command(word) {
        args.cmd = cmd;
        let of = match of {
            DefaultsOf::Server => DefaultsOf::Server,
            DefaultsOf::Domain(_) => DefaultsOf::Domain(args.opt_string()),
        };
        let change = match change {
            None => None,
            Some(replace) => Some((args.dict("settings dictionary")?, replace)),
        };
        args.done(args.cmd, Command::AccountDefaults { of, change })?
    } else if is("ListForwarders") {
        args.cmd = "ListForwarders";
        let domain = args.opt_string();
        args.done(args.cmd, Command::ListForwarders { domain })?
    } else if is("CreateForwarder") {
        args.cmd = "CreateForwarder";
        let name = args.string("forwarder name")?;
        args.keyword("TO")?;
        let to = args.string("address")?;
        args.done(args.cmd, Command::CreateForwarder { name, to })?
    } else if is("RenameForwarder") {
        args.cmd = "RenameForwarder";
        let old = args.string("forwarder name")?;
        args.keyword("into")?;
        let new = args.string("new forwarder name")?;
        args.done(args.cmd, Command::RenameForwarder { old, new })?
    } else if is("DeleteForwarder") {
        args.cmd = "DeleteForwarder";
        let name = args.string("forwarder name")?;
        args.done(args.cmd, Command::DeleteForwarder { name })?
    } else if is("GetForwarder") {
        args.cmd = "GetForwarder";
        let name = args.string("forwarder name")?;
        args.done(args.cmd, Command::GetForwarder { name })?
    } else if is("FindForwarders") {
        args.cmd = "FindForwarders";
        let domain = args.string("domain name")?;
        args.keyword("TO")?;
        let to = args.string("address")?;
        args.done(args.cmd, Command::FindForwarders { domain, to })?
    } else if is("ListGroups") {
        args.cmd = "ListGroups";
        let domain = args.opt_string();
        args.done(args.cmd, Command::ListGroups { domain })?
    } else if is("CreateGroup") {
        args.cmd = "CreateGroup";
        let name = args.string("group name")?;
        let settings = args.opt_dict();
        args.done(args.cmd, Command::CreateGroup { name, settings })?
    } else if is("RenameGroup") {
        args.cmd = "RenameGroup";
        let old = args.string("group name")?;
        args.keyword("into")?;
        let new = args.string("new group name")?;
        args.done(args.cmd, Command::RenameGroup { old, new })?
    } else if is("DeleteGroup") {
        args.cmd = "DeleteGroup";
        let name = args.string("group name")?;
        args.done(args.cmd, Command::DeleteGroup { name })?
    } else if is("GetGroup") {
        args.cmd = "GetGroup";
        let name = args.string("group name")?;
        args.done(args.cmd, Command::GetGroup { name })?
    } else if is("SetGroup") {
        args.cmd = "SetGroup";
        let name = args.string("group name")?;
        let settings = args.dict("settings dictionary")?;
        args.done(args.cmd, Command::SetGroup { name, settings })?
    } else if is("RenameDomain") {
        args.cmd = "RenameDomain";
        let old = args.string("domain name")?;
        args.keyword("into")?;
        let new = args.string("new domain name")?;
        args.done(args.cmd, Command::RenameDomain { old, new })?
    } else if is("SuspendDomain") || is("ResumeDomain") {
        args.cmd = if is("SuspendDomain") {
            "SuspendDomain"
        } else {
            "ResumeDomain"
        };
        let name = args.string("domain name")?;
        let suspend = is("SuspendDomain");
        args.done(args.cmd, Command::SuspendDomain { name, suspend })?
    } else if is("GetDomainAliases") {
        args.cmd = "GetDomainAliases";
        let name = args.opt_string();
        args.done(args.cmd, Command::GetDomainAliases { name })?
    } else if is("SetDomainAliases") {
        args.cmd = "SetDomainAliases";
        let name = args.opt_string();
        let aliases = args.string_array("alias array")?;
        args.done(args.cmd, Command::SetDomainAliases { name, aliases })?
    } else if is("RenameMailbox") {
        args.cmd = "RenameMailbox";
        let account = args.string("account name")?;
        let subtree = args.mailbox_keyword()?;
        let old = args.string("mailbox name")?;
        args.keyword("INTO")?;
        let new = args.string("new mailbox name")?;
        args.refuse_auth()?;
        let cmd = Command::RenameMailbox {
            account,
            old,
            new,
            subtree,
        };
        args.done(args.cmd, cmd)?
    } else if is("DeleteMailbox") {
        args.cmd = "DeleteMailbox";
        let account = args.string("account name")?;
        let subtree = args.mailbox_keyword()?;
        let mailbox = args.string("mailbox name")?;
        args.refuse_auth()?;
        let cmd = Command::DeleteMailbox {
            account,
            mailbox,
            subtree,
        };
        args.done(args.cmd, cmd)?
    } else if is("GetMailboxInfo") {
        args.cmd = "GetMailboxInfo";
        let account = args.string("account name")?;
        args.keyword("MAILBOX")?;
        let mailbox = args.string("mailbox name")?;
        args.refuse_auth()?;
        args.done(args.cmd, Command::GetMailboxInfo { account, mailbox })?
    } else if is("ListModules") {
        args.done("ListModules", Command::ListModules)?
    } else if is("GetModule") {
        args.cmd = "GetModule";
        let name = args.string("module name")?;
        args.done(args.cmd, Command::GetModule { name })?
    } else if is("UpdateModule") || is("SetModule") {
        let replace = is("SetModule");
        args.cmd = if replace { "SetModule" } else { "UpdateModule" };
        let name = args.string("module name")?;
        let settings = args.dict("settings dictionary")?;
        let cmd = Command::UpdateModule {
            name,
            settings,
            replace,
        };
        args.done(args.cmd, cmd)?
    } else if is("GetAccountSubscription") || is("GetMailboxSubscription") {
        args.cmd = "GetAccountSubscription";
        let account = args.string("account name")?;
        args.done(args.cmd, Command::GetAccountSubscription { account })?
    } else if is("SetAccountSubscription") || is("SetMailboxSubscription") {
        args.cmd = "SetAccountSubscription";
        let account = args.string("account name")?;
        let mailboxes = args.string_array("mailbox name array")?;
        let cmd = Command::SetAccountSubscription { account, mailboxes };
        args.done(args.cmd, cmd)?
    } else if is("SubmitMessage") {
        args.cmd = "SubmitMessage";
        for unsupported in ["ANNOTATION", "QUEUE"] {
            if args.is_keyword(unsupported) {
                return Err(bad(args.cmd, format!("{unsupported} is not supported")));
            }
        }
        let message = match args.take() {
            Some(Value::String(s)) => s.into_bytes(),
            Some(Value::Data(d)) => d,
            _ => {
                return Err(bad(
                    args.cmd,
                    "expected the message as a string or data block",
                ));
            }
        };
        args.done(args.cmd, Command::SubmitMessage { message })?
    } else if is("KillAccountSessions") {
        args.cmd = "KillAccountSessions";
        let name = args.string("account name")?;
        args.done(args.cmd, Command::KillAccountSessions { name })?
    } else if let Some(list) = ip_list(word, "Get") {
        args.done("GetIPs", Command::GetIpList { list })?
    } else if let Some(list) = ip_list(word, "Set") {
        args.cmd = "SetIPs";
        let value = args.string("address list string")?;
        args.done(args.cmd, Command::SetIpList { list, value })?
    // Issue 5: router table and queue (executed in crate::relay).
    // The router table is replicated: the cluster's is the server's.
    } else if is("GetRouterTable") || is("GetClusterRouterTable") {
        args.done("GetRouterTable", Command::GetRouterTable)?
    } else if is("SetRouterTable") || is("SetClusterRouterTable") {
        args.cmd = "SetRouterTable";
        let table = args.string("router table string")?;
        args.done(args.cmd, Command::SetRouterTable { table })?
    } else if is("GetRouterSettings") {
        args.done("GetRouterSettings", Command::GetRouterSettings)?
    } else if is("SetRouterSettings") {
        args.cmd = "SetRouterSettings";
        let settings = args.dict("router settings dictionary")?;
        args.done(args.cmd, Command::SetRouterSettings { settings })?
    } else if is("ReleaseSMTPQueue") {
        args.cmd = "ReleaseSMTPQueue";
        let queue = args.string("queue name")?;
        args.done(args.cmd, Command::ReleaseSmtpQueue { queue })?
    } else if is("RejectQueueMessage") {
        args.cmd = "RejectQueueMessage";
        let id = args.string("message id")?;
        let id = id
            .parse()
            .map_err(|_| bad(args.cmd, "the message id must be a number"))?;
        let text = args.opt_string();
        args.done(args.cmd, Command::RejectQueueMessage { id, text })?
    } else if is("ListQueue") {
        args.done("ListQueue", Command::ListQueue)?
    } else if is("Route") {
        args.cmd = "Route";
        let address = args.string("address")?;
        // The mode only matters for access/signal routing, which is not
        // implemented: every mode answers the mail route.
        let _ =
            args.opt_keyword("mail") || args.opt_keyword("access") || args.opt_keyword("signal");
        args.done(args.cmd, Command::Route { address })?
    } else if is("GetMessageQueueInfo") {
        args.cmd = "GetMessageQueueInfo";
        let module = args.string("module name")?;
        args.keyword("QUEUE")?;
        let queue = args.string("queue name")?;
        args.done(args.cmd, Command::GetMessageQueueInfo { module, queue })?
    } else if let Some(name) = KNOWN_COMMANDS
        .iter()
        .find(|name| word.eq_ignore_ascii_case(name))
    {
        Command::Unsupported((*name).to_owned())
    } else {
        return Err(Error::UnknownCommand(word.chars().take(64).collect()));
    };
    Ok(cmd)
}

/// `Get|Set|UpdateAccountDefaults` and `...ServerAccountDefaults`: the
/// canonical name, whose defaults, and `None` for Get or `Some(replace)`.
fn defaults_command(word: &str) -> Option<(&'static str, DefaultsOf, Option<bool>)> {
    const TABLE: &[(&str, bool, Option<bool>)] = &[
        ("GetAccountDefaults", false, None),
        ("SetAccountDefaults", false, Some(true)),
        ("UpdateAccountDefaults", false, Some(false)),
        ("GetServerAccountDefaults", true, None),
        ("SetServerAccountDefaults", true, Some(true)),
        ("UpdateServerAccountDefaults", true, Some(false)),
        // Settings are replicated: the cluster's defaults are the server's.
        ("GetClusterAccountDefaults", true, None),
        ("SetClusterAccountDefaults", true, Some(true)),
        ("UpdateClusterAccountDefaults", true, Some(false)),
    ];
    TABLE
        .iter()
        .find(|(name, _, _)| word.eq_ignore_ascii_case(name))
        .map(|&(name, server, change)| {
            let of = match server {
                true => DefaultsOf::Server,
                false => DefaultsOf::Domain(None),
            };
            (name, of, change)
        })
}

/// `GetLANIPs` → `LANIPs` (for `prefix` `Get`), and so on.
fn ip_list(word: &str, prefix: &str) -> Option<&'static str> {
    let rest = word
        .get(..prefix.len())?
        .eq_ignore_ascii_case(prefix)
        .then(|| &word[prefix.len()..])?;
    let rest = match rest.get(..7) {
        Some(c) if c.eq_ignore_ascii_case("Cluster") => &rest[7..],
        _ => rest,
    };
    IP_LIST_NAMES
        .iter()
        .find(|name| rest.eq_ignore_ascii_case(name))
        .copied()
}

fn bad(command: &'static str, reason: impl Into<String>) -> Error {
    Error::BadArguments {
        command,
        reason: reason.into(),
    }
}

/// `AUTH WEBUSER name password`; other SASL mechanisms are not offered.
fn parse_auth(rest: &str) -> Result<Command> {
    let rest = rest.trim_start_matches(' ');
    let (mech, rest) = rest.split_once(' ').unwrap_or((rest, ""));
    if !mech.eq_ignore_ascii_case("WEBUSER") {
        return Err(bad("AUTH", "only AUTH WEBUSER is supported"));
    }
    let rest = rest.trim_start_matches(' ');
    let (name, password) = rest.split_once(' ').unwrap_or((rest, ""));
    if name.is_empty() {
        return Err(bad("AUTH", "missing account name"));
    }
    if password.is_empty() {
        return Err(bad("AUTH", "missing password"));
    }
    Ok(Command::AuthWebUser {
        name: name.to_owned(),
        password: password.to_owned(),
    })
}

/// One argument: its value and whether it was written as a bare atom
/// (only atoms can be keywords).
struct Arg {
    value: Value,
    atom: bool,
}

/// The arguments of one command line, consumed left to right.
struct Args {
    cmd: &'static str,
    items: Vec<Arg>,
    next: usize,
}

impl Args {
    /// Splits `line[pos..]` into data values; syntax error positions are
    /// counted from the start of the line.
    fn new(line: &str, mut pos: usize) -> Result<Self> {
        let mut items = Vec::new();
        loop {
            let rest = &line[pos..];
            let trimmed = rest.trim_start_matches(' ');
            if trimmed.is_empty() {
                break;
            }
            let atom = trimmed
                .bytes()
                .next()
                .is_some_and(|c| c != b'#' && c != b'"' && c != b'[' && c != b'(' && c != b'{');
            let (value, used) = data::parse_prefix(rest).map_err(|e| match e {
                Error::Syntax { pos: p, reason } => Error::Syntax {
                    pos: pos + p,
                    reason,
                },
                other => other,
            })?;
            items.push(Arg { value, atom });
            pos += used;
        }
        Ok(Args {
            cmd: "",
            items,
            next: 0,
        })
    }

    fn remaining(&self) -> usize {
        self.items.len() - self.next
    }

    fn peek(&self) -> Option<&Arg> {
        self.items.get(self.next)
    }

    fn take(&mut self) -> Option<Value> {
        let arg = self.items.get_mut(self.next)?;
        self.next += 1;
        Some(std::mem::replace(&mut arg.value, Value::Null))
    }

    fn string(&mut self, what: &str) -> Result<String> {
        match self.peek().map(|a| &a.value) {
            None => Err(bad(self.cmd, format!("missing {what}"))),
            Some(Value::String(_)) => match self.take() {
                Some(Value::String(s)) => Ok(s),
                _ => Err(bad(self.cmd, format!("missing {what}"))),
            },
            Some(_) => Err(bad(self.cmd, format!("{what} must be a string"))),
        }
    }

    fn opt_string(&mut self) -> Option<String> {
        match self.peek().map(|a| &a.value) {
            Some(Value::String(_)) => self.take().and_then(|v| match v {
                Value::String(s) => Some(s),
                _ => None,
            }),
            _ => None,
        }
    }

    fn opt_atom(&mut self) -> Option<String> {
        match self.peek() {
            Some(a) if a.atom => self.opt_string(),
            _ => None,
        }
    }

    fn dict(&mut self, what: &str) -> Result<Dict> {
        match self.peek().map(|a| &a.value) {
            None => Err(bad(self.cmd, format!("missing {what}"))),
            Some(Value::Dict(_)) => match self.take() {
                Some(Value::Dict(d)) => Ok(d),
                _ => Err(bad(self.cmd, format!("missing {what}"))),
            },
            Some(_) => Err(bad(self.cmd, format!("expected {what}"))),
        }
    }

    fn opt_dict(&mut self) -> Option<Dict> {
        match self.peek().map(|a| &a.value) {
            Some(Value::Dict(_)) => self.take().and_then(|v| match v {
                Value::Dict(d) => Some(d),
                _ => None,
            }),
            _ => None,
        }
    }

    fn string_array(&mut self, what: &str) -> Result<Vec<String>> {
        let Some(Value::Array(items)) = self.peek().map(|a| &a.value) else {
            return Err(bad(self.cmd, format!("expected {what}")));
        };
        let strings: Option<Vec<String>> = items
            .iter()
            .map(|v| v.as_str().map(str::to_owned))
            .collect();
        let strings = strings.ok_or_else(|| bad(self.cmd, format!("{what} must hold strings")))?;
        self.next += 1;
        Ok(strings)
    }

    fn is_keyword(&self, kw: &str) -> bool {
        self.peek()
            .is_some_and(|a| a.atom && a.value.as_str().is_some_and(|s| s.eq_ignore_ascii_case(kw)))
    }

    fn opt_keyword(&mut self, kw: &str) -> bool {
        let found = self.is_keyword(kw);
        if found {
            self.next += 1;
        }
        found
    }

    fn keyword(&mut self, kw: &str) -> Result<()> {
        if self.opt_keyword(kw) {
            Ok(())
        } else {
            Err(bad(self.cmd, format!("expected '{kw}'")))
        }
    }

    fn number(&mut self, what: &str) -> Result<i64> {
        let value = match self.peek().map(|a| &a.value) {
            Some(Value::Number(n)) => Some(*n),
            Some(Value::String(s)) => s.parse().ok(),
            _ => None,
        };
        let n = value.ok_or_else(|| bad(self.cmd, format!("expected {what}")))?;
        self.next += 1;
        Ok(n)
    }

    /// `MAILBOX` (false) or `MAILBOXES` (true), required.
    fn mailbox_keyword(&mut self) -> Result<bool> {
        if self.opt_keyword("MAILBOXES") {
            Ok(true)
        } else {
            self.keyword("MAILBOX")?;
            Ok(false)
        }
    }

    fn refuse_auth(&mut self) -> Result<()> {
        if self.is_keyword("AUTH") {
            return Err(bad(self.cmd, "AUTH is not supported"));
        }
        Ok(())
    }

    /// Finishes parsing: every argument must have been used.
    fn done(&self, cmd: &'static str, command: Command) -> Result<Command> {
        if self.next < self.items.len() {
            return Err(bad(cmd, "unexpected extra argument"));
        }
        Ok(command)
    }
}

#[cfg(test)]
mod tests;
