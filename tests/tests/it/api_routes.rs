//! Every route of the JSON API (issue 4), from one table against one node:
//! success as the postmaster, and each failure that applies to the route:
//! no or wrong credentials (401), a plain user, another domain's
//! administrator and an account of another domain with `ServerAdmin = YES`
//! (403; CommuniGate honours server rights in the main domain only),
//! malformed JSON and invalid input (400), a missing
//! object (404), a conflict with the current state (409). Every failure is
//! JSON `{"code", "error"}` with the stable code of its status.
//!
//! The table, the OpenAPI document the node serves, and the routes the
//! server registers (`admin::web::api_routes`) must name the same routes,
//! so a route added to one of them alone fails a test.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::Value;
use tests::{ClosedPort, TestNode};

use crate::it::cli::{login, run};
use crate::it::webadmin::{Http, Reply, pm};

/// Where the JSON API lives; table paths are under it.
const API: &str = "/api/v1";
/// A plain user of domain `a.test`, where the table's objects live.
const USER: &str = "user@a.test:User-Pass-1";
/// The administrator of domain `b.test`: no rights in `a.test` or on the
/// server.
const OTHER_ADMIN: &str = "da@b.test:Da-Pass-1";
/// A server administrator other than the postmaster (`ServerAdmin = YES`
/// in the main domain): may read every administrators' route.
const SERVER_ADMIN: &str = "boss@example.test:Boss-Pass-1";
/// `ServerAdmin = YES` outside the main domain: no server rights.
const FOREIGN_SERVER_ADMIN: &str = "sa@b.test:Sa-Pass-1";
/// Methods a route can have.
const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

/// Who may call a route.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Who {
    /// No credentials needed (the OpenAPI document).
    Public,
    /// Any signed-in account.
    Anyone,
    /// Administrators of the object: the plain user and the other domain's
    /// administrator are refused.
    Admin,
}

/// A request: path under [`API`] and JSON body. `{queued}` is replaced by
/// the id of the message the fixture queued, `{port}` by a closed port.
type Req = (&'static str, Option<&'static str>);

/// One route and how to exercise it. Failures that change nothing run
/// before the success, so a refused create is seen not to have created
/// anything; 404 and 409 cases run after it.
struct Case {
    /// Method, lowercase as OpenAPI writes it.
    method: &'static str,
    /// The OpenAPI path under [`API`].
    route: &'static str,
    /// The request that succeeds for the postmaster.
    ok: Req,
    who: Who,
    /// Valid JSON (or query) the route refuses (400); malformed JSON is
    /// tried on every route with a body.
    bad: &'static [Req],
    /// Requests naming a missing object (404).
    missing: &'static [Req],
    /// Requests that conflict with the state after `ok` (409).
    conflict: &'static [Req],
}

fn case(method: &'static str, route: &'static str, ok: Req) -> Case {
    Case {
        method,
        route,
        ok,
        who: Who::Admin,
        bad: &[],
        missing: &[],
        conflict: &[],
    }
}

/// The table, in the order it runs (a row may rely on rows above it).
fn cases() -> Vec<Case> {
    vec![
        Case {
            who: Who::Public,
            ..case("get", "/openapi.json", ("/openapi.json", None))
        },
        Case {
            who: Who::Anyone,
            ..case("get", "/server", ("/server", None))
        },
        case("get", "/cluster", ("/cluster", None)),
        case("get", "/about", ("/about", None)),
        case("get", "/domains", ("/domains", None)),
        Case {
            bad: &[
                ("/domains", Some(r#"{"name":"bad name!"}"#)),
                ("/domains", Some(r#"{"name":7}"#)),
                ("/domains", Some(r#"{"name":"x.test","settings":[]}"#)),
            ],
            conflict: &[
                ("/domains", Some(r#"{"name":"new.test"}"#)),
                ("/domains", Some(r#"{"name":"A.TEST"}"#)),
            ],
            ..case(
                "post",
                "/domains",
                ("/domains", Some(r#"{"name":"new.test"}"#)),
            )
        },
        Case {
            bad: &[("/domains/a.test?force=maybe", None)],
            missing: &[
                ("/domains/nowhere.test", None),
                ("/domains/empty.test", None),
            ],
            conflict: &[("/domains/a.test", None), ("/domains/example.test", None)],
            ..case("delete", "/domains/{domain}", ("/domains/empty.test", None))
        },
        Case {
            missing: &[("/domains/nowhere.test/settings", None)],
            ..case(
                "get",
                "/domains/{domain}/settings",
                ("/domains/a.test/settings", None),
            )
        },
        Case {
            bad: &[("/domains/a.test/settings", Some("[1]"))],
            missing: &[("/domains/nowhere.test/settings", Some("{}"))],
            ..case(
                "patch",
                "/domains/{domain}/settings",
                ("/domains/a.test/settings", Some(r#"{"MaxAccounts":"10"}"#)),
            )
        },
        Case {
            bad: &[("/domains/a.test/accounts?limit=x", None)],
            missing: &[("/domains/nowhere.test/accounts", None)],
            ..case(
                "get",
                "/domains/{domain}/accounts",
                ("/domains/a.test/accounts?limit=2", None),
            )
        },
        Case {
            bad: &[("/domains/a.test/forwarders?offset=-1", None)],
            missing: &[("/domains/nowhere.test/forwarders", None)],
            ..case(
                "get",
                "/domains/{domain}/forwarders",
                ("/domains/a.test/forwarders", None),
            )
        },
        Case {
            bad: &[
                (
                    "/domains/a.test/forwarders",
                    Some(r#"{"name":"bad name","to":"x@remote.test"}"#),
                ),
                (
                    "/domains/a.test/forwarders",
                    Some(r#"{"name":"fw3","to":"not an address"}"#),
                ),
                ("/domains/a.test/forwarders", Some(r#"{"name":"fw3"}"#)),
            ],
            missing: &[(
                "/domains/nowhere.test/forwarders",
                Some(r#"{"name":"fw2","to":"x@remote.test"}"#),
            )],
            conflict: &[
                (
                    "/domains/a.test/forwarders",
                    Some(r#"{"name":"fw2","to":"x@remote.test"}"#),
                ),
                (
                    "/domains/a.test/forwarders",
                    Some(r#"{"name":"alice","to":"x@remote.test"}"#),
                ),
            ],
            ..case(
                "post",
                "/domains/{domain}/forwarders",
                (
                    "/domains/a.test/forwarders",
                    Some(r#"{"name":"fw2","to":"x@remote.test"}"#),
                ),
            )
        },
        Case {
            missing: &[
                ("/domains/a.test/forwarders/nope", None),
                ("/domains/a.test/forwarders/fw1", None),
                ("/domains/nowhere.test/forwarders/fw1", None),
            ],
            ..case(
                "delete",
                "/domains/{domain}/forwarders/{name}",
                ("/domains/a.test/forwarders/fw1", None),
            )
        },
        Case {
            bad: &[
                ("/accounts", Some(r#"{"name":"bad name@a.test"}"#)),
                ("/accounts", Some(r#"{"name":"x@a.test","type":"Bogus"}"#)),
                ("/accounts", Some(r#"{"name":"x@a.test","password":7}"#)),
                ("/accounts", Some(r#"{"nom":"x@a.test"}"#)),
            ],
            missing: &[("/accounts", Some(r#"{"name":"x@nowhere.test"}"#))],
            conflict: &[
                ("/accounts", Some(r#"{"name":"new@a.test"}"#)),
                ("/accounts", Some(r#"{"name":"team@a.test"}"#)),
            ],
            ..case(
                "post",
                "/accounts",
                (
                    "/accounts",
                    Some(r#"{"name":"new@a.test","password":"New-Pass-1"}"#),
                ),
            )
        },
        Case {
            missing: &[
                ("/accounts/nope@a.test", None),
                ("/accounts/deleteme@a.test", None),
            ],
            conflict: &[("/accounts/postmaster", None)],
            ..case(
                "delete",
                "/accounts/{account}",
                ("/accounts/deleteme@a.test", None),
            )
        },
        Case {
            bad: &[
                (
                    "/accounts/renameme@a.test/rename",
                    Some(r#"{"name":"bad name@a.test"}"#),
                ),
                ("/accounts/renameme@a.test/rename", Some(r#"{"name":7}"#)),
            ],
            missing: &[
                (
                    "/accounts/nope@a.test/rename",
                    Some(r#"{"name":"x@a.test"}"#),
                ),
                (
                    "/accounts/renamed@a.test/rename",
                    Some(r#"{"name":"x@nowhere.test"}"#),
                ),
            ],
            conflict: &[
                (
                    "/accounts/renamed@a.test/rename",
                    Some(r#"{"name":"alice@a.test"}"#),
                ),
                ("/accounts/postmaster/rename", Some(r#"{"name":"boss"}"#)),
            ],
            ..case(
                "post",
                "/accounts/{account}/rename",
                (
                    "/accounts/renameme@a.test/rename",
                    Some(r#"{"name":"renamed@a.test"}"#),
                ),
            )
        },
        Case {
            missing: &[("/accounts/nope@a.test/settings", None)],
            ..case(
                "get",
                "/accounts/{account}/settings",
                ("/accounts/alice@a.test/settings", None),
            )
        },
        Case {
            bad: &[
                ("/accounts/alice@a.test/settings", Some("[]")),
                ("/accounts/alice@a.test/settings", Some(r#"{"Password":5}"#)),
            ],
            missing: &[("/accounts/nope@a.test/settings", Some("{}"))],
            ..case(
                "patch",
                "/accounts/{account}/settings",
                (
                    "/accounts/alice@a.test/settings",
                    Some(r#"{"RealName":"Alice A"}"#),
                ),
            )
        },
        Case {
            bad: &[
                (
                    "/accounts/alice@a.test/password",
                    Some(r#"{"password":""}"#),
                ),
                ("/accounts/alice@a.test/password", Some(r#"{"password":7}"#)),
            ],
            missing: &[(
                "/accounts/nope@a.test/password",
                Some(r#"{"password":"x"}"#),
            )],
            ..case(
                "put",
                "/accounts/{account}/password",
                (
                    "/accounts/alice@a.test/password",
                    Some(r#"{"password":"Alice-Pass-2"}"#),
                ),
            )
        },
        Case {
            missing: &[("/accounts/nope@a.test/aliases", None)],
            ..case(
                "get",
                "/accounts/{account}/aliases",
                ("/accounts/alice@a.test/aliases", None),
            )
        },
        Case {
            bad: &[
                ("/accounts/alice@a.test/aliases", Some(r#"["bad alias"]"#)),
                ("/accounts/alice@a.test/aliases", Some(r#"{"a":1}"#)),
            ],
            missing: &[("/accounts/nope@a.test/aliases", Some("[]"))],
            conflict: &[
                ("/accounts/alice@a.test/aliases", Some(r#"["user"]"#)),
                ("/accounts/alice@a.test/aliases", Some(r#"["team"]"#)),
            ],
            ..case(
                "put",
                "/accounts/{account}/aliases",
                ("/accounts/alice@a.test/aliases", Some(r#"["ali"]"#)),
            )
        },
        Case {
            missing: &[("/accounts/nope@a.test/mailboxes", None)],
            ..case(
                "get",
                "/accounts/{account}/mailboxes",
                ("/accounts/alice@a.test/mailboxes", None),
            )
        },
        Case {
            bad: &[
                (
                    "/accounts/alice@a.test/mailboxes",
                    Some(r#"{"name":"a/../b"}"#),
                ),
                ("/accounts/alice@a.test/mailboxes", Some(r#"{"name":""}"#)),
            ],
            missing: &[(
                "/accounts/nope@a.test/mailboxes",
                Some(r#"{"name":"Archive"}"#),
            )],
            conflict: &[
                (
                    "/accounts/alice@a.test/mailboxes",
                    Some(r#"{"name":"Archive"}"#),
                ),
                (
                    "/accounts/alice@a.test/mailboxes",
                    Some(r#"{"name":"INBOX"}"#),
                ),
            ],
            ..case(
                "post",
                "/accounts/{account}/mailboxes",
                (
                    "/accounts/alice@a.test/mailboxes",
                    Some(r#"{"name":"Archive"}"#),
                ),
            )
        },
        Case {
            missing: &[("/accounts/nope@a.test/subscriptions", None)],
            ..case(
                "get",
                "/accounts/{account}/subscriptions",
                ("/accounts/alice@a.test/subscriptions", None),
            )
        },
        Case {
            bad: &[
                ("/accounts/alice@a.test/subscriptions", Some(r#"["a\nb"]"#)),
                ("/accounts/alice@a.test/subscriptions", Some(r#"{"x":1}"#)),
            ],
            missing: &[("/accounts/nope@a.test/subscriptions", Some("[]"))],
            ..case(
                "put",
                "/accounts/{account}/subscriptions",
                (
                    "/accounts/alice@a.test/subscriptions",
                    Some(r#"["INBOX","Archive"]"#),
                ),
            )
        },
        Case {
            missing: &[("/accounts/nope@a.test/kill-sessions", None)],
            ..case(
                "post",
                "/accounts/{account}/kill-sessions",
                ("/accounts/alice@a.test/kill-sessions", None),
            )
        },
        Case {
            bad: &[("/queue?limit=x", None)],
            ..case("get", "/queue", ("/queue?limit=10", None))
        },
        // Rejected before the release below could start an attempt on it.
        Case {
            bad: &[
                ("/queue/{queued}/reject", Some(r#"{"reason":5}"#)),
                ("/queue/{queued}/reject", Some(r#"["spam"]"#)),
            ],
            missing: &[
                ("/queue/999999/reject", None),
                ("/queue/abc/reject", None),
                ("/queue/{queued}/reject", None),
            ],
            ..case(
                "post",
                "/queue/{id}/reject",
                ("/queue/{queued}/reject", Some(r#"{"reason":"spam"}"#)),
            )
        },
        Case {
            bad: &[
                ("/queue/release", Some("{}")),
                ("/queue/release", Some(r#"{"domain":5}"#)),
            ],
            ..case(
                "post",
                "/queue/release",
                ("/queue/release", Some(r#"{"domain":"remote.test"}"#)),
            )
        },
        case("get", "/router", ("/router", None)),
        Case {
            bad: &[
                ("/router", Some(r#"{"table":"garbage"}"#)),
                ("/router", Some("{}")),
            ],
            ..case(
                "put",
                "/router",
                (
                    "/router",
                    Some(r#"{"table":"<*@remote.test> = 127.0.0.1:{port}\n"}"#),
                ),
            )
        },
        Case {
            bad: &[
                (
                    "/router/settings",
                    Some(r#"{"TLSPolicy":{"bad domain!":"verify"}}"#),
                ),
                (
                    "/router/settings",
                    Some(r#"{"TLSPolicy":{"x.test":"maybe"}}"#),
                ),
                ("/router/settings", Some(r#"{"TLSPolicy":"verify"}"#)),
                ("/router/settings", Some(r#"{"Nope":{}}"#)),
                ("/router/settings", Some("[]")),
            ],
            ..case(
                "put",
                "/router/settings",
                (
                    "/router/settings",
                    Some(r#"{"TLSPolicy":{"*.bank.test":"verify"}}"#),
                ),
            )
        },
        case("get", "/router/settings", ("/router/settings", None)),
        case("get", "/settings/ip-lists", ("/settings/ip-lists", None)),
        Case {
            bad: &[
                ("/settings/ip-lists/WhiteHoleIPs", Some(r#"{"value":5}"#)),
                (
                    "/settings/ip-lists/LANIPs",
                    Some(r#"{"value":"not an ip"}"#),
                ),
                (
                    "/settings/ip-lists/ClientIPs",
                    Some(r#"{"value":"10.0.0.0/8\n#LNA"}"#),
                ),
            ],
            missing: &[("/settings/ip-lists/NoSuchIPs", Some(r#"{"value":""}"#))],
            ..case(
                "put",
                "/settings/ip-lists/{list}",
                (
                    "/settings/ip-lists/WhiteHoleIPs",
                    Some(r#"{"value":"192.0.2.1\n"}"#),
                ),
            )
        },
        Case {
            bad: &[("/domains/a.test/groups?limit=x", None)],
            missing: &[("/domains/nowhere.test/groups", None)],
            ..case(
                "get",
                "/domains/{domain}/groups",
                ("/domains/a.test/groups", None),
            )
        },
        Case {
            bad: &[
                ("/domains/a.test/groups", Some(r#"{"name":"bad name"}"#)),
                (
                    "/domains/a.test/groups",
                    Some(r#"{"name":"crew2","members":"x"}"#),
                ),
            ],
            missing: &[("/domains/nowhere.test/groups", Some(r#"{"name":"crew"}"#))],
            conflict: &[
                ("/domains/a.test/groups", Some(r#"{"name":"crew"}"#)),
                ("/domains/a.test/groups", Some(r#"{"name":"alice"}"#)),
            ],
            ..case(
                "post",
                "/domains/{domain}/groups",
                (
                    "/domains/a.test/groups",
                    Some(r#"{"name":"crew","members":["alice@a.test"]}"#),
                ),
            )
        },
        Case {
            missing: &[
                ("/domains/a.test/groups/nope", None),
                ("/domains/nowhere.test/groups/team", None),
            ],
            ..case(
                "get",
                "/domains/{domain}/groups/{name}",
                ("/domains/a.test/groups/team", None),
            )
        },
        Case {
            bad: &[
                ("/domains/a.test/groups/team", Some(r#"{"Members":"x"}"#)),
                ("/domains/a.test/groups/team", Some("[]")),
            ],
            missing: &[("/domains/a.test/groups/nope", Some(r#"{"Members":[]}"#))],
            ..case(
                "put",
                "/domains/{domain}/groups/{name}",
                (
                    "/domains/a.test/groups/team",
                    Some(r#"{"Members":["alice@a.test","user@a.test"]}"#),
                ),
            )
        },
        Case {
            missing: &[
                ("/domains/a.test/groups/nope", None),
                ("/domains/a.test/groups/oldteam", None),
            ],
            ..case(
                "delete",
                "/domains/{domain}/groups/{name}",
                ("/domains/a.test/groups/oldteam", None),
            )
        },
        Case {
            missing: &[("/domains/nowhere.test/state", None)],
            ..case(
                "get",
                "/domains/{domain}/state",
                ("/domains/a.test/state", None),
            )
        },
        Case {
            missing: &[("/domains/nowhere.test/suspend", None)],
            conflict: &[("/domains/example.test/suspend", None)],
            ..case(
                "post",
                "/domains/{domain}/suspend",
                ("/domains/sleepy.test/suspend", None),
            )
        },
        Case {
            missing: &[("/domains/nowhere.test/resume", None)],
            ..case(
                "post",
                "/domains/{domain}/resume",
                ("/domains/sleepy.test/resume", None),
            )
        },
        Case {
            missing: &[("/domains/nowhere.test/aliases", None)],
            ..case(
                "get",
                "/domains/{domain}/aliases",
                ("/domains/a.test/aliases", None),
            )
        },
        Case {
            bad: &[
                ("/domains/a.test/aliases", Some(r#"["bad alias!"]"#)),
                ("/domains/a.test/aliases", Some("{}")),
            ],
            missing: &[("/domains/nowhere.test/aliases", Some("[]"))],
            conflict: &[("/domains/a.test/aliases", Some(r#"["b.test"]"#))],
            ..case(
                "put",
                "/domains/{domain}/aliases",
                ("/domains/a.test/aliases", Some(r#"["a-alias.test"]"#)),
            )
        },
        Case {
            missing: &[("/domains/nowhere.test/account-defaults", None)],
            ..case(
                "get",
                "/domains/{domain}/account-defaults",
                ("/domains/a.test/account-defaults", None),
            )
        },
        Case {
            bad: &[("/domains/a.test/account-defaults", Some(r#""x""#))],
            missing: &[("/domains/nowhere.test/account-defaults", Some("{}"))],
            ..case(
                "patch",
                "/domains/{domain}/account-defaults",
                (
                    "/domains/a.test/account-defaults",
                    Some(r#"{"RealName":"Someone"}"#),
                ),
            )
        },
        case("get", "/settings/modules", ("/settings/modules", None)),
        Case {
            bad: &[
                ("/settings/modules/POP", Some(r#"{"LogLevel":9}"#)),
                ("/settings/modules/POP", Some("[]")),
            ],
            missing: &[("/settings/modules/NOPE", Some("{}"))],
            ..case(
                "patch",
                "/settings/modules/{module}",
                ("/settings/modules/POP", Some(r#"{"LogLevel":2}"#)),
            )
        },
        Case {
            bad: &[("/log?level=x", None)],
            missing: &[("/log?node=nope", None)],
            ..case("get", "/log", ("/log?limit=5", None))
        },
    ]
}

/// The stable code of an error status (`admin::web::error::code_of`).
fn code_of(status: u16) -> &'static str {
    match status {
        400 => "bad_request",
        401 => "unauthorized",
        403 => "forbidden",
        404 => "not_found",
        405 => "method_not_allowed",
        409 => "conflict",
        _ => "error",
    }
}

/// One request; `auth` is `user:password` for HTTP Basic.
fn send(web: &Http, auth: Option<&str>, method: &str, path: &str, body: Option<&str>) -> Reply {
    let method = method.to_uppercase();
    let url = format!("{API}{path}");
    match auth {
        Some(auth) => web.api(auth, &method, &url, body),
        None => {
            let mut args = vec!["-H", "Accept: application/json"];
            if let Some(b) = body {
                args.extend(["-H", "Content-Type: application/json", "--data-binary", b]);
            }
            web.request(&method, &url, &args)
        }
    }
}

/// Checks that `r` is the JSON error of `status`; records a failure
/// otherwise.
fn expect_error(r: &Reply, status: u16, what: &str, failures: &mut Vec<String>) {
    let code = code_of(status);
    let json = r
        .header("content-type")
        .is_some_and(|t| t.starts_with("application/json"));
    let body: Value = serde_json::from_str(&r.body).unwrap_or(Value::Null);
    let ok = r.status == status
        && json
        && body["code"] == code
        && body["error"].as_str().is_some_and(|e| !e.is_empty())
        && body.as_object().is_some_and(|o| o.len() == 2);
    if !ok {
        failures.push(format!(
            "{what}: want {status} {code}, got {} {:?} {}",
            r.status,
            r.header("content-type"),
            r.body.trim()
        ));
    }
}

/// The fixture the table runs on, and the id of one queued message.
///
/// Domains `a.test` (the objects), `b.test` (with its administrator),
/// `empty.test` (to delete) and `sleepy.test` (to suspend); a plain user,
/// accounts to act on, a forwarder and two groups; a message to a remote
/// domain held in the queue (routed to a closed port, retried in an hour).
fn fixture(node: &TestNode, web: &Http, port: u16) -> String {
    let mut cli = login(node);
    for command in [
        "CreateDomain a.test",
        "CreateDomain b.test",
        "CreateDomain empty.test",
        "CreateDomain sleepy.test",
        "CreateAccount user@a.test {Password=\"User-Pass-1\";}",
        "CreateAccount da@b.test {Password=\"Da-Pass-1\";DomainAdmin=YES;}",
        "CreateAccount boss {Password=\"Boss-Pass-1\";ServerAdmin=YES;}",
        "CreateAccount sa@b.test {Password=\"Sa-Pass-1\";ServerAdmin=YES;}",
        "CreateAccount alice@a.test",
        "CreateAccount renameme@a.test",
        "CreateAccount deleteme@a.test",
        "CreateForwarder fw1@a.test TO \"x@remote.test\"",
        "CreateGroup team@a.test {Members=(alice@a.test);}",
        "CreateGroup oldteam@a.test",
    ] {
        run(&mut cli, command, "200 ");
    }
    let table = format!("{{\"table\":\"<*@remote.test> = 127.0.0.1:{port}\\n\"}}");
    let r = send(web, Some(&pm()), "put", "/router", Some(&table));
    assert_eq!(r.status, 204, "{r:?}");
    // The trusted submission folder queues it without an SMTP session.
    let dir = node.base().join("Submitted");
    let text = "From: postmaster@example.test\nTo: bob@remote.test\nSubject: held\n\nbody\n";
    std::fs::write(dir.join("held.tmp"), text).expect("write");
    std::fs::rename(dir.join("held.tmp"), dir.join("held.sub")).expect("rename");
    // Deferred, so no delivery attempt is under way when it is rejected;
    // generous, as a full parallel run on two cores has taken over 20 s.
    tests::wait_for(Duration::from_secs(60), || {
        let r = send(web, Some(&pm()), "get", "/queue?limit=10", None);
        let items: Value = serde_json::from_str(&r.body).ok()?;
        items.as_array()?.iter().find_map(|m| {
            let text = m.to_string();
            let held = text.contains("bob@remote.test") && text.contains("deferred");
            held.then(|| m["id"].as_str().map(str::to_string))?
        })
    })
    .expect("the message is queued and deferred")
}

#[test]
fn issue_4_json_api_every_route_success_and_failures() {
    let closed = ClosedPort::reserve();
    let port = closed.port();
    let node = TestNode::start_with(|c| {
        // The retry is an hour away, so the message stays queued.
        c.relay.retry_first_secs = 3600;
        c.relay.retry_max_secs = 3600;
    });
    let web = Http::plain(node.addr("webadmin"));
    let queued = fixture(&node, &web, port);
    let doc: Value = serde_json::from_str(&send(&web, None, "get", "/openapi.json", None).body)
        .expect("the OpenAPI document is JSON");
    let pm = pm();
    let fill = |(path, body): Req| {
        let fill = |s: &str| {
            s.replace("{queued}", &queued)
                .replace("{port}", &port.to_string())
        };
        (fill(path), body.map(fill))
    };
    let mut failures = Vec::new();
    for c in cases() {
        let name = format!("{} {API}{}", c.method.to_uppercase(), c.route);
        let op = &doc["paths"][format!("{API}{}", c.route)][c.method];
        let Some(success) = op["responses"]
            .as_object()
            .and_then(|r| r.keys().find(|k| k.starts_with('2')))
            .and_then(|k| k.parse::<u16>().ok())
        else {
            failures.push(format!("{name}: not in the OpenAPI document"));
            continue;
        };
        let (path, body) = fill(c.ok);
        let call = |auth: Option<&str>, (path, body): &(String, Option<String>)| {
            send(&web, auth, c.method, path, body.as_deref())
        };
        let ok = (path, body);

        // Who may call it; refusals change nothing (the success follows).
        if c.who != Who::Public {
            for auth in [None, Some("postmaster:wrong")] {
                let r = call(auth, &ok);
                let what = format!("{name} with credentials {auth:?}");
                expect_error(&r, 401, &what, &mut failures);
                if !r
                    .header("www-authenticate")
                    .is_some_and(|v| v.starts_with("Basic"))
                {
                    failures.push(format!("{what}: no Basic challenge"));
                }
            }
        }
        if c.who == Who::Admin {
            for auth in [USER, OTHER_ADMIN, FOREIGN_SERVER_ADMIN] {
                let what = format!("{name} as {auth}");
                expect_error(&call(Some(auth), &ok), 403, &what, &mut failures);
            }
        }
        // Bad input.
        if ok.1.is_some() {
            let malformed = (ok.0.clone(), Some("{not json".to_string()));
            let what = format!("{name} with malformed JSON");
            expect_error(&call(Some(&pm), &malformed), 400, &what, &mut failures);
        }
        for bad in c.bad {
            let req = fill(*bad);
            let what = format!("{name} bad input {req:?}");
            expect_error(&call(Some(&pm), &req), 400, &what, &mut failures);
        }
        // Success.
        let auth = (c.who != Who::Public).then_some(pm.as_str());
        let r = call(auth, &ok);
        let paged = op["responses"][success.to_string()]["headers"]["X-Total-Count"].is_object();
        let json_ok = success != 200 || serde_json::from_str::<Value>(&r.body).is_ok();
        if r.status != success || !json_ok || (paged && r.header("x-total-count").is_none()) {
            failures.push(format!(
                "{name} {ok:?}: want {success}{}, got {} {}",
                if paged { " with X-Total-Count" } else { "" },
                r.status,
                r.body.trim()
            ));
        }
        // Reads again as the other server administrator (a second write
        // would conflict with the first).
        if c.who == Who::Admin && c.method == "get" {
            let r = call(Some(SERVER_ADMIN), &ok);
            if r.status != success {
                let body = r.body.trim();
                failures.push(format!("{name} as {SERVER_ADMIN}: got {} {body}", r.status));
            }
        }
        if c.who == Who::Anyone {
            let r = call(Some(USER), &ok);
            if r.status != success {
                failures.push(format!("{name} as {USER}: got {} {}", r.status, r.body));
            }
        }
        // The state the success left.
        for (reqs, status) in [(c.missing, 404), (c.conflict, 409)] {
            for req in reqs {
                let req = fill(*req);
                let what = format!("{name} {req:?}");
                expect_error(&call(Some(&pm), &req), status, &what, &mut failures);
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// `(method, path)` of every operation of an OpenAPI document.
fn documented(doc: &Value) -> BTreeSet<(String, String)> {
    doc["paths"]
        .as_object()
        .expect("paths")
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .expect("path item")
                .keys()
                .map(move |method| (method.clone(), path.clone()))
        })
        .collect()
}

#[test]
fn issue_4_json_api_table_openapi_and_server_routes_agree() {
    let node = TestNode::start();
    let web = Http::plain(node.addr("webadmin"));
    let served = send(&web, None, "get", "/openapi.json", None);
    assert_eq!(served.status, 200, "{served:?}");
    let doc: Value = serde_json::from_str(&served.body).expect("JSON");
    let documented = documented(&doc);

    let registered: BTreeSet<(String, String)> = admin::web::api_routes()
        .iter()
        .map(|r| {
            let method = r.method.as_str().to_lowercase();
            (method, format!("{API}{}", r.path))
        })
        .collect();
    let tabled: BTreeSet<(String, String)> = cases()
        .iter()
        .map(|c| (c.method.to_string(), format!("{API}{}", c.route)))
        .collect();
    assert_eq!(cases().len(), tabled.len(), "a route is in the table twice");
    for (name, set) in [
        ("registered by the server", &registered),
        ("in the test table", &tabled),
    ] {
        let undocumented: Vec<_> = set.difference(&documented).collect();
        let missing: Vec<_> = documented.difference(set).collect();
        assert!(
            undocumented.is_empty() && missing.is_empty(),
            "routes {name} but not in openapi.json: {undocumented:?}; \
             in openapi.json but not {name}: {missing:?}"
        );
    }

    // Every documented path refuses the methods it does not take with a
    // JSON 405 naming the ones it does.
    let mut failures = Vec::new();
    let paths: BTreeSet<&String> = documented.iter().map(|(_, p)| p).collect();
    for path in paths {
        let allowed: Vec<&str> = METHODS
            .into_iter()
            .filter(|m| documented.contains(&(m.to_string(), path.clone())))
            .collect();
        let Some(other) = METHODS.into_iter().find(|m| !allowed.contains(m)) else {
            continue;
        };
        let concrete = path
            .strip_prefix(API)
            .unwrap_or(path)
            .replace(['{', '}'], "");
        let r = send(&web, Some(&pm()), other, &concrete, None);
        let what = format!("{} {path}", other.to_uppercase());
        expect_error(&r, 405, &what, &mut failures);
        let allow: BTreeSet<String> = r
            .header("allow")
            .unwrap_or("")
            .split(',')
            .map(|m| m.trim().to_lowercase())
            .collect();
        let want: BTreeSet<String> = allowed.iter().map(|m| m.to_string()).collect();
        if allow != want {
            failures.push(format!("{what}: Allow {allow:?}, want {want:?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
