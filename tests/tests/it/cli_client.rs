//! An independent CLI client, written from the protocol description
//! (reference §2.1–2.3, §2.5) and not from the server's parser: its own
//! reader and writer of CommuniGate data syntax. Every dictionary or array
//! the server returns must read, write back and read again to the same
//! value.

use std::collections::BTreeMap;

use tests::{LineClient, POSTMASTER_PASSWORD, TestNode};

/// A CommuniGate data value as this client understands it.
#[derive(Debug, Clone, PartialEq)]
enum Data {
    Str(String),
    Num(i64),
    Other(String),
    Array(Vec<Data>),
    Dict(BTreeMap<String, Data>),
}

/// Reads one value from the start of `text`; returns it and the rest.
fn read(text: &str) -> (Data, &str) {
    let t = text.trim_start();
    let first = t.chars().next().expect("a value");
    match first {
        '(' => {
            let mut rest = t[1..].trim_start();
            let mut items = Vec::new();
            while !rest.starts_with(')') {
                let (v, r) = read(rest);
                items.push(v);
                rest = r.trim_start();
                rest = rest.strip_prefix(',').unwrap_or(rest).trim_start();
            }
            (Data::Array(items), &rest[1..])
        }
        '{' => {
            let mut rest = t[1..].trim_start();
            let mut map = BTreeMap::new();
            while !rest.starts_with('}') {
                let (k, r) = read(rest);
                let Data::Str(k) = k else { panic!("key {k:?}") };
                let r = r.trim_start().strip_prefix('=').expect("=");
                let (v, r) = read(r);
                map.insert(k, v);
                rest = r.trim_start().strip_prefix(';').expect(";").trim_start();
            }
            (Data::Dict(map), &rest[1..])
        }
        '"' => {
            let mut out = String::new();
            let mut chars = t[1..].char_indices();
            while let Some((i, c)) = chars.next() {
                match c {
                    '"' => return (Data::Str(out), &t[i + 2..]),
                    '\\' => match chars.next().expect("escape").1 {
                        'e' | 'n' => out.push('\n'),
                        'r' => out.push('\r'),
                        't' => out.push('\t'),
                        d if d.is_ascii_digit() => {
                            let code: String =
                                [d, chars.next().unwrap().1, chars.next().unwrap().1]
                                    .iter()
                                    .collect();
                            out.push(char::from(code.parse::<u8>().unwrap()));
                        }
                        c => out.push(c),
                    },
                    c => out.push(c),
                }
            }
            panic!("unterminated string in {text}")
        }
        '#' if t[1..].starts_with(|c: char| c == '-' || c.is_ascii_digit()) => {
            let end = t[1..]
                .find(|c: char| c != '-' && !c.is_ascii_digit())
                .map_or(t.len(), |e| e + 1);
            (Data::Num(t[1..end].parse().unwrap()), &t[end..])
        }
        '#' => {
            let end = t.find([',', ';', ')', '}']).unwrap_or(t.len());
            (Data::Other(t[..end].trim_end().to_string()), &t[end..])
        }
        _ => {
            let end = t
                .find(|c: char| !(c.is_alphanumeric() || "-_.@!#%:".contains(c)))
                .unwrap_or(t.len());
            assert!(end > 0, "bad atom in {text}");
            (Data::Str(t[..end].to_string()), &t[end..])
        }
    }
}

/// Writes a value the way the Perl client does (quotes unless a plain word).
fn write(v: &Data) -> String {
    match v {
        Data::Str(s) if !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric()) => s.clone(),
        Data::Str(s) => {
            let mut out = String::from("\"");
            for c in s.chars() {
                match c {
                    '"' => out.push_str("\\\""),
                    '\\' => out.push_str("\\\\"),
                    '\n' => out.push_str("\\e"),
                    c if (c as u32) < 32 => out.push_str(&format!("\\{:03}", c as u32)),
                    c => out.push(c),
                }
            }
            out.push('"');
            out
        }
        Data::Num(n) => format!("#{n}"),
        Data::Other(o) => o.clone(),
        Data::Array(items) => format!(
            "({})",
            items.iter().map(write).collect::<Vec<_>>().join(",")
        ),
        Data::Dict(map) => format!(
            "{{{}}}",
            map.iter()
                .map(|(k, v)| format!("{}={};", write(&Data::Str(k.clone())), write(v)))
                .collect::<String>()
        ),
    }
}

/// Parses a whole reply body and checks it round-trips.
fn parse(text: &str) -> Data {
    let (v, rest) = read(text);
    assert!(rest.trim().is_empty(), "trailing text {rest:?} in {text}");
    let again = read(&write(&v)).0;
    assert_eq!(again, v, "round trip of {text}");
    v
}

struct Cli(LineClient);

impl Cli {
    fn login(node: &TestNode, user: &str, password: &str) -> Cli {
        let mut c = LineClient::connect(node.addr("cli"));
        c.expect("200 ");
        c.send(&format!("USER {user}"));
        c.expect("300 ");
        c.send(&format!("PASS {password}"));
        c.expect("200 ");
        c.send("INLINE");
        c.expect("200 ");
        Cli(c)
    }

    fn ok(&mut self, cmd: &str) {
        self.0.send(cmd);
        let reply = self.0.line();
        assert!(reply.starts_with("200 "), "{cmd}: {reply}");
    }

    fn fail(&mut self, cmd: &str) -> String {
        self.0.send(cmd);
        let reply = self.0.line();
        assert!(reply.starts_with("501 "), "{cmd}: {reply}");
        reply
    }

    fn data(&mut self, cmd: &str) -> Data {
        self.0.send(cmd);
        let reply = self.0.line();
        let body = reply
            .strip_prefix("201 ")
            .unwrap_or_else(|| panic!("{cmd}: {reply}"));
        parse(body)
    }
}

fn s(x: &str) -> Data {
    Data::Str(x.into())
}

fn dict_get<'a>(d: &'a Data, key: &str) -> &'a Data {
    match d {
        Data::Dict(m) => m.get(key).unwrap_or_else(|| panic!("{key} in {d:?}")),
        other => panic!("not a dictionary: {other:?}"),
    }
}

#[test]
fn issue_4_reader_round_trips_examples() {
    let v = parse(
        "{ServiceClasses={Guests={Changed=#T22-10-2009_15:24:45;Folders=(INBOX,\"Sent Items\");};};}",
    );
    let folders = dict_get(
        dict_get(dict_get(&v, "ServiceClasses"), "Guests"),
        "Folders",
    );
    assert_eq!(*folders, Data::Array(vec![s("INBOX"), s("Sent Items")]));
    assert_eq!(parse("#-50"), Data::Num(-50));
    assert_eq!(parse("\"a\\eb\\012\""), s("a\nb\u{c}"));
}

#[test]
fn issue_4_settings_defaults_and_info() {
    let node = TestNode::start();
    let mut c = Cli::login(&node, "postmaster", POSTMASTER_PASSWORD);
    c.ok("CreateAccount pat {Password=\"pw\";RealName=\"Pat Q\";}");
    c.ok("UpdateServerAccountDefaults {MaxAccountSize=10M;}");
    c.ok("UpdateAccountDefaults {MaxAccountSize=20M;Language=fr;}");
    assert_eq!(
        c.data("GetAccountDefaults"),
        parse("{Language=fr;MaxAccountSize=20M;}")
    );
    assert_eq!(
        c.data("GetServerAccountDefaults"),
        parse("{MaxAccountSize=10M;}")
    );
    let eff = c.data("GetAccountEffectiveSettings pat");
    assert_eq!(*dict_get(&eff, "MaxAccountSize"), s("20M"));
    assert_eq!(*dict_get(&eff, "RealName"), s("Pat Q"));
    assert_eq!(*dict_get(&eff, "CanModifyPassword"), s("YES"));
    c.ok("SetAccountSettings pat {RealName=Pat;}");
    assert_eq!(c.data("GetAccountSettings pat"), parse("{RealName=Pat;}"));
    c.fail("GetAccountEffectiveSettings nobody");
    c.ok("SetAccountType pat MultiMailbox");
    c.fail("SetAccountType pat TextMailbox");
    c.fail("SetAccountType pat Bogus");
    let info = c.data("GetAccountInfo pat");
    assert_eq!(*dict_get(&info, "Messages"), Data::Num(0));
    assert_eq!(c.data("GetAccountInfo pat Key StorageUsed"), Data::Num(0));
    c.fail("GetAccountInfo pat Key LastLogin");
    let some = c.data("GetAccountInfo pat (Messages, LastLogin)");
    assert_eq!(some, parse("{Messages=#0;}"));
    c.data("GetAccountStat pat");
    let time = c.data("GetCurrentTime");
    assert!(
        matches!(time, Data::Other(ref t) if t.starts_with("#T")),
        "{time:?}"
    );
    c.ok("KillAccountSessions pat");
    c.fail("KillAccountSessions nobody");
}

#[test]
fn issue_4_forwarders_groups_and_domains() {
    let node = TestNode::start();
    let mut c = Cli::login(&node, "postmaster", POSTMASTER_PASSWORD);
    c.ok("CreateAccount pat");
    c.ok("CreateForwarder sales TO \"pat\"");
    c.ok("CreateForwarder out TO \"someone@remote.test\"");
    c.fail("CreateForwarder pat TO \"x@y.z\"");
    c.fail("CreateForwarder x@nodomain.test TO \"x@y.z\"");
    c.fail("CreateForwarder x \"x@y.z\"");
    assert_eq!(c.data("ListForwarders"), parse("(out, sales)"));
    assert_eq!(c.data("GetForwarder sales"), s("pat"));
    assert_eq!(
        c.data("FindForwarders example.test TO \"pat\""),
        parse("(sales)")
    );
    c.ok("RenameForwarder sales into team-sales");
    c.fail("GetForwarder sales");
    c.fail("RenameForwarder nothere into x");
    c.ok("DeleteForwarder team-sales");
    c.fail("DeleteForwarder team-sales");

    c.ok("CreateGroup staff {Members=(pat, \"x@remote.test\");RealName=\"All Staff\";}");
    c.fail("CreateGroup pat");
    c.fail("CreateGroup g2 {Members=\"x\";}");
    assert_eq!(c.data("ListGroups"), parse("(staff)"));
    let g = c.data("GetGroup staff");
    assert_eq!(*dict_get(&g, "Members"), parse("(pat, \"x@remote.test\")"));
    c.ok("SetGroup staff {Members=(pat);}");
    assert_eq!(c.data("GetGroup staff"), parse("{Members=(pat);}"));
    c.ok("RenameGroup staff into crew");
    c.fail("GetGroup staff");
    c.ok("DeleteGroup crew");
    c.fail("DeleteGroup crew");

    c.ok("CreateDomain d1.test");
    c.ok("CreateAccount u@d1.test {Password=\"pw\";}");
    c.ok("SetDomainAliases d1.test (d1-alias.test)");
    assert_eq!(c.data("GetDomainAliases d1.test"), parse("(d1-alias.test)"));
    c.fail("SetDomainAliases d1.test (example.test)");
    assert_eq!(c.data("GetAccountSettings u@d1-alias.test"), parse("{}"));
    c.ok("SuspendDomain d1.test");
    let mut u = LineClient::connect(node.addr("cli"));
    u.expect("200 ");
    u.send("USER u@d1.test");
    u.expect("300 ");
    u.send("PASS pw");
    u.expect("500 ");
    c.ok("ResumeDomain d1.test");
    Cli::login(&node, "u@d1.test", "pw");
    c.ok("RenameDomain d1.test into d2.test");
    assert!(node.base().join("Domains/d2.test").is_dir());
    c.data("GetAccountSettings u@d2.test");
    c.fail("RenameDomain example.test into x.test");
    c.fail("RenameDomain nothere.test into x.test");
    c.fail("SuspendDomain nothere.test");
}

#[test]
fn issue_4_mailboxes_server_settings_and_node_commands() {
    let node = TestNode::start();
    let mut c = Cli::login(&node, "postmaster", POSTMASTER_PASSWORD);
    c.ok("CreateAccount pat");
    c.ok("CREATEMAILBOX pat MAILBOX \"Work\"");
    c.ok("CREATEMAILBOX pat MAILBOX \"Work/2024\"");
    c.fail("CREATEMAILBOX pat MAILBOX \"Work\"");
    let info = c.data("GETMAILBOXINFO pat MAILBOX \"Work\"");
    assert_eq!(*dict_get(&info, "Messages"), Data::Num(0));
    c.fail("GETMAILBOXINFO pat MAILBOX \"Nope\"");
    c.ok("RENAMEMAILBOX pat MAILBOXES \"Work\" INTO \"Jobs\"");
    let boxes = c.data("ListMailboxes pat");
    dict_get(&boxes, "Jobs/2024");
    c.fail("RENAMEMAILBOX pat MAILBOX \"Nope\" INTO \"X\"");
    c.ok("DELETEMAILBOX pat MAILBOXES \"Jobs\"");
    let boxes = c.data("ListMailboxes pat");
    assert_eq!(
        boxes,
        parse("{INBOX={Messages=#0;Size=#0;UIDNEXT=#1;UIDVALIDITY=#1;};}")
            .clone()
            .min_keys(&boxes)
    );
    c.fail("DELETEMAILBOX pat MAILBOX \"INBOX\"");

    let modules = c.data("ListModules");
    assert!(matches!(&modules, Data::Array(m) if m.contains(&s("SMTP"))));
    c.ok("UpdateModule SMTP {LogLevel=#5;}");
    assert_eq!(c.data("GetModule smtp"), parse("{LogLevel=#5;}"));
    c.ok("SetModule SMTP {}");
    assert_eq!(c.data("GetModule SMTP"), parse("{}"));
    c.fail("GetModule NOPE");
    c.ok("SetClientIPs \"10.0.0.0/8\\e192.168.1.1\"");
    assert_eq!(c.data("GetClientIPs"), s("10.0.0.0/8\n192.168.1.1"));
    c.ok("SetLANIPs \"127.0.0.1\"");
    assert_eq!(c.data("GetLANIPs"), s("127.0.0.1"));
    assert_eq!(c.data("GetBlacklistedIPs"), s(""));
    c.ok("WriteLog 2 \"hello from the CLI test\"");
    c.fail("WriteLog 9 \"x\"");
    match c.data("GetCurrentController") {
        Data::Str(a) => assert!(!a.is_empty()),
        other => panic!("{other:?}"),
    }
    assert_eq!(c.data("GetAccountSubscription pat"), parse("()"));
    c.ok("SetAccountSubscription pat (INBOX, \"Work/2024\")");
    assert_eq!(
        c.data("GetAccountSubscription pat"),
        parse("(INBOX, \"Work/2024\")")
    );
    c.fail("SetAccountSubscription pat {INBOX=YES;}");
    c.ok("SetClusterLANIPs \"192.168.0.0/16\"");
    assert_eq!(c.data("GetLANIPs"), s("192.168.0.0/16"));
    c.ok("SetDeniedIPs \"192.0.2.1\"");
    assert_eq!(c.data("GetClusterDeniedIPs"), s("192.0.2.1"));
    c.ok("SetWhiteHoleIPs \"\"");
    assert_eq!(c.data("GetWhiteHoleIPs"), s(""));
    let reply = c.fail("GetDebugIPs");
    assert_eq!(reply, "501 GetDebugIPs is not supported");
}

#[test]
fn issue_4_domain_settings_accounts_and_logins() {
    let node = TestNode::start();
    let mut c = Cli::login(&node, "postmaster", POSTMASTER_PASSWORD);
    c.ok("CreateDomain d1.test {MaxAccounts=#10;Notes=first;}");
    assert_eq!(c.data("ListDomains"), parse("(d1.test, example.test)"));
    assert_eq!(c.data("MainDomainName"), s("example.test"));
    assert_eq!(
        c.data("GetDomainSettings d1.test"),
        parse("{MaxAccounts=#10;Notes=first;}")
    );
    c.ok("UpdateDomainSettings d1.test {Notes=second;}");
    assert_eq!(
        c.data("GetDomain d1.test"),
        parse("{MaxAccounts=#10;Notes=second;}")
    );
    // SetDomainSettings replaces: keys it does not name are gone.
    c.ok("SetDomainSettings d1.test {Language=fr;}");
    assert_eq!(c.data("GetDomainSettings d1.test"), parse("{Language=fr;}"));
    assert_eq!(
        c.data("GetDomainEffectiveSettings d1.test"),
        parse("{Language=fr;}")
    );
    c.ok("SetDomainSettings {Notes=\"main one\";}");
    assert_eq!(c.data("GetDomainSettings"), parse("{Notes=\"main one\";}"));
    c.ok("SetDomainSettings example.test {}");
    assert_eq!(c.data("GetDomainEffectiveSettings"), parse("{}"));
    c.fail("SetDomainSettings nothere.test {A=B;}");
    c.fail("GetDomainEffectiveSettings nothere.test");
    c.fail("SetDomainSettings d1.test (a, b)");
    c.fail("SetDomainSettings d1.test");

    c.ok("CreateAccount admin@d1.test {Password=\"pw\";DomainAdmin=YES;}");
    let mut da = Cli::login(&node, "admin@d1.test", "pw");
    da.ok("SetDomainSettings d1.test {Language=de;}");
    assert_eq!(
        da.data("GetDomainEffectiveSettings d1.test"),
        parse("{Language=de;}")
    );
    da.fail("SetDomainSettings example.test {Language=de;}");
    da.fail("GetDomainEffectiveSettings example.test");

    c.ok("CreateAccount u@d1.test {Password=\"pw\";}");
    match c.data("ListAccounts d1.test") {
        Data::Dict(m) => assert_eq!(m.keys().collect::<Vec<_>>(), ["admin", "u"]),
        other => panic!("{other:?}"),
    }
    c.ok("RenameAccount u@d1.test into v@d1.test");
    c.fail("RenameAccount u@d1.test into w@d1.test");
    c.ok("SetAccountPassword v@d1.test PASSWORD \"pw2\"");
    c.ok("VerifyAccountPassword v@d1.test PASSWORD \"pw2\"");
    c.fail("VerifyAccountPassword v@d1.test PASSWORD \"pw\"");
    c.ok("SetAccountAliases v@d1.test (vee, vv)");
    assert_eq!(c.data("GetAccountAliases v@d1.test"), parse("(vee, vv)"));
    // AUTH WEBUSER logs in as CLI.pm's alternative mode does.
    let mut w = LineClient::connect(node.addr("cli"));
    w.expect("200 ");
    w.send("AUTH WEBUSER vee@d1.test pw2");
    w.expect("200 ");
    w.send("AUTH WEBUSER v@d1.test wrong");
    let reply = w.line();
    assert!(!reply.starts_with('2'), "{reply}");
    c.ok("DeleteAccount v@d1.test");
    c.fail("DeleteAccount v@d1.test");
    c.fail("DeleteDomain d1.test");
    c.ok("DeleteDomain d1.test force");
    assert_eq!(c.data("ListDomains"), parse("(example.test)"));

    // Every domain is cluster-wide, and so are the account defaults.
    c.ok("CreateSharedDomain shared.test {Notes=x;}");
    assert_eq!(c.data("ListDomains"), parse("(example.test, shared.test)"));
    assert_eq!(c.data("GetDomainSettings shared.test"), parse("{Notes=x;}"));
    c.fail("CreateSharedDomain shared.test");
    c.ok("UpdateClusterAccountDefaults {MaxAccountSize=5M;}");
    assert_eq!(
        c.data("GetServerAccountDefaults"),
        parse("{MaxAccountSize=5M;}")
    );
    c.ok("SetClusterAccountDefaults {Language=fr;}");
    assert_eq!(c.data("GetClusterAccountDefaults"), parse("{Language=fr;}"));
    da.fail("SetClusterAccountDefaults {Language=de;}");
}

#[test]
fn issue_4_queue_router_and_route_round_trip() {
    let node = TestNode::start();
    let mut c = Cli::login(&node, "postmaster", POSTMASTER_PASSWORD);
    // A port nothing listens on: mail for remote.test stays queued.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    c.ok(&format!(
        "SetRouterTable \"remote.test = 127.0.0.1:{port}\""
    ));
    assert_eq!(
        c.data("GetRouterTable"),
        s(&format!("remote.test = 127.0.0.1:{port}\n"))
    );
    c.fail("SetRouterTable \"not a rule\"");
    // Replicated: the Cluster... form names the same table.
    assert_eq!(
        c.data("GetClusterRouterTable"),
        s(&format!("remote.test = 127.0.0.1:{port}\n"))
    );
    let route = c.data("Route friend@remote.test");
    assert_eq!(*dict_get(&route, "module"), s("SMTP"));
    assert_eq!(*dict_get(&route, "host"), s(&format!("127.0.0.1:{port}")));
    let route = c.data("Route postmaster@example.test");
    assert_eq!(*dict_get(&route, "module"), s("LOCAL"));
    c.fail("Route nobody@example.test");

    c.ok(
        "SubmitMessage \"From: postmaster@example.test\\eTo: friend@remote.test\\eSubject: q\\e\\ebody\\e\"",
    );
    c.fail("SubmitMessage QUEUE \"x\" \"y\"");
    let queued = tests::wait_for(std::time::Duration::from_secs(30), || {
        let Data::Array(list) = c.data("ListQueue") else {
            panic!("ListQueue is an array")
        };
        let entry = list.into_iter().next()?;
        (*dict_get(&entry, "attempts") != Data::Num(0)).then_some(entry)
    })
    .expect("the message is queued and tried");
    assert_eq!(*dict_get(&queued, "from"), s("postmaster@example.test"));
    let info = c.data("GetMessageQueueInfo SMTP QUEUE \"remote.test\"");
    assert_eq!(*dict_get(&info, "nTotal"), Data::Num(1));
    c.fail("GetMessageQueueInfo NOPE QUEUE \"remote.test\"");
    c.ok("ReleaseSMTPQueue \"remote.test\"");
    let Data::Str(id) = dict_get(&queued, "id").clone() else {
        panic!("id is a string")
    };
    c.ok(&format!("RejectQueueMessage {id} \"not wanted\""));
    c.fail("RejectQueueMessage notanumber");
    let gone = tests::wait_for(std::time::Duration::from_secs(30), || {
        let info = c.data("GetMessageQueueInfo SMTP QUEUE \"remote.test\"");
        (*dict_get(&info, "nTotal") == Data::Num(0)).then_some(())
    });
    assert!(gone.is_some(), "the rejected message left the queue");
    let version = c.data("GetVersion");
    assert!(
        matches!(version, Data::Str(ref v) if !v.is_empty()),
        "{version:?}"
    );
}

#[test]
fn issue_4_access_rights() {
    let node = TestNode::start();
    let mut pm = Cli::login(&node, "postmaster", POSTMASTER_PASSWORD);
    pm.ok("CreateDomain d1.test");
    pm.ok("CreateDomain d2.test");
    pm.ok("CreateAccount admin@d1.test {Password=\"pw\";DomainAdmin=YES;}");
    pm.ok("CreateAccount u@d1.test {Password=\"pw\";}");
    pm.ok("CreateAccount v@d2.test {Password=\"pw\";}");
    pm.ok("CreateAccount boss {Password=\"pw\";ServerAdmin=YES;}");
    pm.ok("CreateAccount fixed@d1.test {Password=\"pw\";CanModifyPassword=NO;}");

    let mut da = Cli::login(&node, "admin@d1.test", "pw");
    da.ok("CreateAccount new@d1.test");
    da.ok("CreateForwarder f@d1.test TO \"u@d1.test\"");
    da.data("ListAccounts d1.test");
    da.ok("UpdateAccountDefaults d1.test {Language=de;}");
    da.fail("CreateAccount x@d2.test");
    da.fail("GetAccountSettings v@d2.test");
    da.fail("ListAccounts d2.test");
    da.fail("CreateDomain d3.test");
    da.fail("UpdateAccountSettings u@d1.test {ServerAdmin=YES;}");
    da.fail("RenameAccount u@d1.test into u@d2.test");
    da.fail("SHUTDOWN");
    da.ok("KillAccountSessions u@d1.test");
    da.fail("KillAccountSessions v@d2.test");
    da.data("GetAccountSubscription u@d1.test");
    da.fail("SetDeniedIPs \"\"");

    let mut u = Cli::login(&node, "u@d1.test", "pw");
    u.data("GetAccountSettings u@d1.test");
    u.data("GetAccountEffectiveSettings u@d1.test");
    u.fail("GetAccountSettings admin@d1.test");
    u.fail("ListAccounts d1.test");
    u.fail("UpdateAccountSettings u@d1.test {DomainAdmin=YES;}");
    u.ok("SetAccountSubscription u@d1.test (INBOX)");
    assert_eq!(u.data("GetAccountSubscription u@d1.test"), parse("(INBOX)"));
    u.fail("GetAccountSubscription admin@d1.test");
    u.fail("KillAccountSessions u@d1.test");
    u.fail("GetBlacklistedIPs");
    u.ok("NEWPASS \"pw2\"");
    Cli::login(&node, "u@d1.test", "pw2");

    let mut fixed = Cli::login(&node, "fixed@d1.test", "pw");
    fixed.fail("NEWPASS \"x\"");
    fixed.fail("SetAccountPassword fixed@d1.test PASSWORD \"x\"");

    let mut boss = Cli::login(&node, "boss", "pw");
    boss.ok("CreateDomain d3.test");
    boss.data("ListDomains");
}

trait MinKeys {
    fn min_keys(self, other: &Data) -> Data;
}

impl MinKeys for Data {
    /// Keeps only the keys both dictionaries have, values from `other`
    /// (UIDVALIDITY differs per run): compares the key sets.
    fn min_keys(self, other: &Data) -> Data {
        match (self, other) {
            (Data::Dict(a), Data::Dict(b)) => {
                assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>());
                Data::Dict(b.clone())
            }
            (a, _) => a,
        }
    }
}
