//! Component tests: the WebAdmin app through `actix_web::test`, over a
//! real single-node cluster in a temp dir (no node, no sockets).

use actix_web::http::{StatusCode, header};
use actix_web::test::{self, TestRequest};
use base64::Engine;
use cluster::{AccountHub, AccountRef, ClusterConfig, ClusterHandle, Command as Raft, DirectoryOp};
use storage::{AccountStore, BaseDir};

use super::{WebState, app};
use crate::AdminApi;
use crate::cli::command::Command;
use crate::data::{Dict, Value};

const PASSWORD: &str = "Pm-Pass-1";

async fn api(dir: &std::path::Path) -> (AdminApi, ClusterHandle) {
    let cluster = ClusterHandle::start(
        ClusterConfig {
            data_dir: dir.join("node"),
            address: "127.0.0.1:0".into(),
            max_batch: 64,
            secret: "test-secret".into(),
            join: None,
            protocol_version: cluster::rpc::PROTOCOL_VERSION,
        },
        None,
    )
    .await
    .expect("cluster starts");
    let boot = DirectoryOp::Bootstrap {
        main_domain: "example.test".into(),
    };
    cluster
        .propose(Raft::Directory(boot))
        .await
        .expect("bootstrap");
    let base = BaseDir::new(dir.join("base"));
    base.create_all().expect("base dir");
    let api = AdminApi::new(cluster.clone(), AccountHub::new(AccountStore::new(base)));
    let postmaster = AccountRef {
        name: "postmaster".into(),
        domain: "example.test".into(),
        in_main_domain: true,
    };
    let settings = Dict::from([("Password".to_string(), Value::string(PASSWORD))]);
    api.execute(
        &postmaster,
        Command::CreateAccount {
            name: "postmaster".into(),
            kind: None,
            settings: Some(settings),
        },
    )
    .await
    .expect("postmaster created");
    (api, cluster)
}

fn basic(user: &str, password: &str) -> (header::HeaderName, String) {
    let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    (header::AUTHORIZATION, format!("Basic {token}"))
}

fn body_text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn csrf_of(page: &str) -> String {
    let marker = "name=\"csrf\" value=\"";
    let start = page.find(marker).expect("csrf field") + marker.len();
    let end = page[start..].find('"').expect("quote") + start;
    page[start..end].to_string()
}

/// Signs in as the postmaster through the login form (its token is a
/// double-submit cookie); returns the session cookie.
async fn sign_in<S, B>(app: &S) -> actix_web::cookie::Cookie<'static>
where
    S: actix_web::dev::Service<
            actix_http::Request,
            Response = actix_web::dev::ServiceResponse<B>,
            Error = actix_web::Error,
        >,
    B: actix_web::body::MessageBody,
{
    let resp = test::call_service(app, TestRequest::get().uri("/login").to_request()).await;
    let login_cookie = resp
        .response()
        .cookies()
        .find(|c| c.name() == "mailnode_login")
        .expect("login cookie")
        .into_owned();
    let page = body_text(&test::read_body(resp).await);
    let token = csrf_of(&page);
    let resp = test::call_service(
        app,
        TestRequest::post()
            .uri("/login")
            .cookie(login_cookie)
            .set_form([
                ("csrf", token.as_str()),
                ("user", "postmaster"),
                ("password", PASSWORD),
            ])
            .to_request(),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    resp.response()
        .cookies()
        .find(|c| c.name() == "mailnode_session")
        .expect("session cookie")
        .into_owned()
}

#[actix_web::test]
async fn sign_in_csrf_and_json_api_through_the_app() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (api, cluster) = api(dir.path()).await;
    let app = test::init_service(app(WebState::new(api, false))).await;

    // The JSON API wants Basic credentials.
    let resp =
        test::call_service(&app, TestRequest::get().uri("/api/v1/domains").to_request()).await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let resp = test::call_service(
        &app,
        TestRequest::post()
            .uri("/api/v1/accounts")
            .insert_header(basic("postmaster", PASSWORD))
            .set_json(serde_json::json!({"name": "amy", "password": "Amy-1"}))
            .to_request(),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    let resp = test::call_service(
        &app,
        TestRequest::get()
            .uri("/api/v1/domains/example.test/accounts")
            .insert_header(basic("postmaster", PASSWORD))
            .to_request(),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let accounts: serde_json::Value = test::read_body_json(resp).await;
    assert_eq!(accounts["amy"], "macnt");

    // Sign in through the form: the login token is a double-submit cookie.
    let session = sign_in(&app).await;
    assert_eq!(session.http_only(), Some(true));
    assert_eq!(session.secure(), None);

    let resp = test::call_service(
        &app,
        TestRequest::get()
            .uri("/accounts/amy@example.test")
            .cookie(session.clone())
            .to_request(),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let page = body_text(&test::read_body(resp).await);
    assert!(page.contains("amy@example.test"));
    let csrf = csrf_of(&page);

    // A wrong token changes nothing; the right one does.
    let resp = test::call_service(
        &app,
        TestRequest::post()
            .uri("/accounts/amy@example.test/delete")
            .cookie(session.clone())
            .set_form([("csrf", "forged")])
            .to_request(),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    let resp = test::call_service(
        &app,
        TestRequest::post()
            .uri("/accounts/amy@example.test/delete")
            .cookie(session.clone())
            .set_form([("csrf", csrf.as_str())])
            .to_request(),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let resp = test::call_service(
        &app,
        TestRequest::get()
            .uri("/api/v1/accounts/amy/settings")
            .insert_header(basic("postmaster", PASSWORD))
            .to_request(),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    let error: serde_json::Value = test::read_body_json(resp).await;
    assert_eq!(error["error"], "Unknown account");
    assert_eq!(error["code"], "not_found");

    cluster.shutdown().await;
}

/// Status, `X-Total-Count` and body of one request.
async fn send<S, R, B>(app: &S, req: R) -> (StatusCode, Option<String>, String)
where
    S: actix_web::dev::Service<
            R,
            Response = actix_web::dev::ServiceResponse<B>,
            Error = actix_web::Error,
        >,
    B: actix_web::body::MessageBody,
{
    let resp = test::call_service(app, req).await;
    let status = resp.status();
    let total = resp
        .headers()
        .get("x-total-count")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    (status, total, body_text(&test::read_body(resp).await))
}

fn api_request(method: &str, uri: &str, body: Option<serde_json::Value>) -> TestRequest {
    let req = match method {
        "get" => TestRequest::get(),
        "post" => TestRequest::post(),
        "put" => TestRequest::put(),
        "patch" => TestRequest::patch(),
        "delete" => TestRequest::delete(),
        other => panic!("no method {other}"),
    }
    .uri(uri)
    .insert_header(basic("postmaster", PASSWORD));
    match body {
        Some(b) => req.set_json(b),
        None => req,
    }
}

/// Every route of the OpenAPI document exists (no "No route" answer),
/// wants credentials (but the document itself), and answers without a
/// server error. Parameters name missing objects, so nothing is changed.
#[actix_web::test]
async fn every_openapi_route_exists_and_answers() {
    use crate::web::api::openapi::{Body, ROUTES, document};
    let dir = tempfile::tempdir().expect("temp dir");
    let (api, cluster) = api(dir.path()).await;
    let app = test::init_service(app(WebState::new(api, false))).await;

    let (status, _, served) = send(
        &app,
        TestRequest::get().uri("/api/v1/openapi.json").to_request(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let served: serde_json::Value = serde_json::from_str(&served).expect("JSON");
    assert_eq!(served, document());

    for route in ROUTES {
        let uri = route
            .path
            .replace("{domain}", "example.test")
            .replace("{account}", "nobody")
            .replace("{name}", "nobody")
            .replace("{id}", "424242")
            .replace("{list}", "LANIPs")
            .replace("{module}", "NOSUCHMODULE");
        let body = match route.body {
            Body::None => None,
            Body::Strings => Some(serde_json::json!([])),
            Body::Fields(_) | Body::Settings => Some(serde_json::json!({})),
        };
        let (status, _, text) = send(
            &app,
            api_request(route.method, &uri, body.clone()).to_request(),
        )
        .await;
        let what = format!("{} {uri}: {status} {text}", route.method);
        assert!(!text.contains("No route"), "{what}");
        assert!(!status.is_server_error(), "{what}");
        if status.is_success() {
            assert_eq!(status.as_u16(), route.success, "{what}");
        }
        if !route.path.ends_with("openapi.json") {
            let mut anonymous = api_request(route.method, &uri, body).to_request();
            anonymous.headers_mut().remove(header::AUTHORIZATION);
            let (status, _, _) = send(&app, anonymous).await;
            assert_eq!(
                status,
                StatusCode::UNAUTHORIZED,
                "{what} without credentials"
            );
        }
    }
    cluster.shutdown().await;
}

#[actix_web::test]
async fn forwarders_queue_router_ip_lists_cluster_and_paging() {
    use serde_json::json;
    let dir = tempfile::tempdir().expect("temp dir");
    let (api, cluster) = api(dir.path()).await;
    let app = test::init_service(app(WebState::new(api, false))).await;
    let call = |m: &str, uri: &str, body: Option<serde_json::Value>| {
        api_request(m, uri, body).to_request()
    };

    // Forwarders: create, list, conflict, delete, missing (404 by kind).
    let fw = "/api/v1/domains/example.test/forwarders";
    let (s, _, _) = send(
        &app,
        call(
            "post",
            fw,
            Some(json!({"name": "info", "to": "x@remote.test"})),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED);
    let (s, _, t) = send(
        &app,
        call(
            "post",
            fw,
            Some(json!({"name": "info", "to": "y@remote.test"})),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::CONFLICT, "{t}");
    let (s, total, t) = send(&app, call("get", fw, None)).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(total.as_deref(), Some("1"));
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&t).expect("json"),
        json!({"info": "x@remote.test"})
    );
    let (s, _, _) = send(&app, call("delete", &format!("{fw}/info"), None)).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _, t) = send(&app, call("delete", &format!("{fw}/info"), None)).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{t}");
    let (s, _, _) = send(
        &app,
        call("get", "/api/v1/domains/nowhere.test/forwarders", None),
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // Accounts, paged and searched.
    for name in ["ann", "bob", "cat", "dan"] {
        let (s, _, _) = send(
            &app,
            call("post", "/api/v1/accounts", Some(json!({"name": name}))),
        )
        .await;
        assert_eq!(s, StatusCode::CREATED);
    }
    let accounts = "/api/v1/domains/example.test/accounts";
    let (_, total, t) = send(&app, call("get", &format!("{accounts}?limit=2"), None)).await;
    assert_eq!(total.as_deref(), Some("5"));
    let page: serde_json::Value = serde_json::from_str(&t).expect("json");
    assert_eq!(page, json!({"ann": "macnt", "bob": "macnt"}));
    let (_, _, t) = send(
        &app,
        call("get", &format!("{accounts}?offset=2&limit=2"), None),
    )
    .await;
    let page: serde_json::Value = serde_json::from_str(&t).expect("json");
    assert_eq!(page, json!({"cat": "macnt", "dan": "macnt"}));
    let (_, total, _) = send(&app, call("get", &format!("{accounts}?q=an"), None)).await;
    assert_eq!(total.as_deref(), Some("2"), "ann and dan");
    let (s, _, t) = send(&app, call("get", &format!("{accounts}?limit=lots"), None)).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{t}");
    assert!(t.contains("bad_request"));

    // Queue: empty; rejecting a missing message is 404.
    let (s, total, t) = send(&app, call("get", "/api/v1/queue?offset=0&limit=10", None)).await;
    assert_eq!(
        (s, total.as_deref(), t.as_str()),
        (StatusCode::OK, Some("0"), "[]")
    );
    let (s, _, _) = send(
        &app,
        call(
            "post",
            "/api/v1/queue/77/reject",
            Some(json!({"reason": "spam"})),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _, _) = send(
        &app,
        call(
            "post",
            "/api/v1/queue/release",
            Some(json!({"domain": "remote.test"})),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::NO_CONTENT);

    // Router table and IP lists round-trip; bad input is 400.
    let (s, _, t) = send(
        &app,
        call("put", "/api/v1/router", Some(json!({"table": "a b"}))),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{t}");
    let (s, _, t) = send(
        &app,
        call(
            "put",
            "/api/v1/router",
            Some(json!({"table": "ok.test = relay.test:2525\n"})),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{t}");
    let (_, _, t) = send(&app, call("get", "/api/v1/router", None)).await;
    assert!(t.contains("ok.test"), "{t}");
    let (s, _, _) = send(
        &app,
        call(
            "put",
            "/api/v1/settings/ip-lists/LANIPs",
            Some(json!({"value": "10.0.0.0/8"})),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (_, _, t) = send(&app, call("get", "/api/v1/settings/ip-lists", None)).await;
    let lists: serde_json::Value = serde_json::from_str(&t).expect("json");
    assert_eq!(lists["LANIPs"], "10.0.0.0/8");
    let (s, _, _) = send(
        &app,
        call(
            "put",
            "/api/v1/settings/ip-lists/NoSuch",
            Some(json!({"value": ""})),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // Cluster status: one member, the leader, with an applied index.
    let (s, _, t) = send(&app, call("get", "/api/v1/cluster", None)).await;
    assert_eq!(s, StatusCode::OK);
    let status: serde_json::Value = serde_json::from_str(&t).expect("json");
    assert_eq!(status["role"], "Leader");
    assert_eq!(status["leader"], status["node_id"]);
    assert_eq!(status["members"][0]["leader"], true);
    assert!(status["last_applied"].as_u64().is_some_and(|a| a > 0));

    // A non-administrator may not see the cluster.
    let (s, _, _) = send(
        &app,
        call(
            "put",
            "/api/v1/accounts/ann/password",
            Some(json!({"password": "Ann-1"})),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _, _) = send(
        &app,
        TestRequest::get()
            .uri("/api/v1/cluster")
            .insert_header(basic("ann", "Ann-1"))
            .to_request(),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);

    // The pages, read with HTTP Basic.
    for (uri, needle) in [
        ("/", "Cluster"),
        ("/queue", "The queue is empty"),
        ("/router", "ok.test = relay.test:2525"),
        ("/settings", "10.0.0.0/8"),
        ("/domains/example.test/forwarders", "Create a forwarder"),
        ("/domains/example.test?limit=2&offset=2", "cat"),
    ] {
        let (s, _, page) = send(
            &app,
            TestRequest::get()
                .uri(uri)
                .insert_header(basic("postmaster", PASSWORD))
                .to_request(),
        )
        .await;
        assert_eq!(s, StatusCode::OK, "{uri}");
        assert!(page.contains(needle), "{uri} lacks {needle}");
    }
    let (s, _, _) = send(
        &app,
        TestRequest::get()
            .uri("/queue")
            .insert_header(basic("ann", "Ann-1"))
            .to_request(),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    cluster.shutdown().await;
}

#[actix_web::test]
async fn groups_domain_state_defaults_subscriptions_and_log() {
    use serde_json::json;
    let dir = tempfile::tempdir().expect("temp dir");
    let (api, cluster) = api(dir.path()).await;
    let app = test::init_service(app(WebState::new(api, false))).await;
    let call = |m: &str, uri: &str, body: Option<serde_json::Value>| {
        api_request(m, uri, body).to_request()
    };
    let parse = |t: &str| serde_json::from_str::<serde_json::Value>(t).expect("json");

    // Groups: create (with members), conflict, paged list, get, replace,
    // bad members, delete, missing.
    let groups = "/api/v1/domains/example.test/groups";
    let body = json!({"name": "staff", "members": ["ann", "bob@remote.test"]});
    let (s, _, t) = send(&app, call("post", groups, Some(body.clone()))).await;
    assert_eq!(s, StatusCode::CREATED, "{t}");
    let (s, _, _) = send(&app, call("post", groups, Some(body))).await;
    assert_eq!(s, StatusCode::CONFLICT);
    let (s, _, t) = send(
        &app,
        call(
            "post",
            groups,
            Some(json!({"name": "g2", "members": "ann"})),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{t}");
    send(&app, call("post", groups, Some(json!({"name": "crew"})))).await;
    let (s, total, t) = send(&app, call("get", &format!("{groups}?limit=1"), None)).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(total.as_deref(), Some("2"));
    assert_eq!(parse(&t), json!({"crew": []}));
    let (_, total, t) = send(&app, call("get", &format!("{groups}?q=sta"), None)).await;
    assert_eq!(total.as_deref(), Some("1"));
    assert_eq!(parse(&t), json!({"staff": ["ann", "bob@remote.test"]}));
    let one = format!("{groups}/staff");
    let (s, _, _) = send(
        &app,
        call(
            "put",
            &one,
            Some(json!({"Members": ["cy"], "RealName": "All"})),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _, t) = send(&app, call("get", &one, None)).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(parse(&t), json!({"Members": ["cy"], "RealName": "All"}));
    let (s, _, _) = send(&app, call("delete", &one, None)).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _, _) = send(&app, call("get", &one, None)).await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // Domain state, suspension, aliases, account defaults.
    let d = "/api/v1/domains/example.test";
    let (s, _, t) = send(&app, call("get", &format!("{d}/state"), None)).await;
    assert_eq!(s, StatusCode::OK);
    let st = parse(&t);
    assert_eq!(st["suspended"], json!(false));
    assert_eq!(st["groups"], json!(1));
    let (s, _, _) = send(
        &app,
        call("post", "/api/v1/domains", Some(json!({"name": "d1.test"}))),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED);
    let (s, _, _) = send(&app, call("post", "/api/v1/domains/d1.test/suspend", None)).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (_, _, t) = send(&app, call("get", "/api/v1/domains/d1.test/state", None)).await;
    assert_eq!(parse(&t)["suspended"], json!(true));
    let (s, _, _) = send(&app, call("post", "/api/v1/domains/d1.test/resume", None)).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (_, _, t) = send(&app, call("get", "/api/v1/domains/d1.test/state", None)).await;
    assert_eq!(parse(&t)["suspended"], json!(false));
    let (s, _, _) = send(
        &app,
        call("post", "/api/v1/domains/nowhere.test/suspend", None),
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let aliases = "/api/v1/domains/d1.test/aliases";
    let (s, _, _) = send(&app, call("put", aliases, Some(json!(["d1-alias.test"])))).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (_, _, t) = send(&app, call("get", aliases, None)).await;
    assert_eq!(parse(&t), json!(["d1-alias.test"]));
    let (s, _, _) = send(&app, call("put", aliases, Some(json!({"a": 1})))).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let defaults = "/api/v1/domains/d1.test/account-defaults";
    let (s, _, _) = send(
        &app,
        call("patch", defaults, Some(json!({"Language": "fr"}))),
    )
    .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (_, _, t) = send(&app, call("get", defaults, None)).await;
    assert_eq!(parse(&t), json!({"Language": "fr"}));

    // Subscriptions and sessions of an account.
    let (s, _, _) = send(
        &app,
        call(
            "post",
            "/api/v1/accounts",
            Some(json!({"name": "pat", "password": "pw"})),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED);
    let subs = "/api/v1/accounts/pat/subscriptions";
    let (s, _, _) = send(&app, call("put", subs, Some(json!(["Work", "INBOX"])))).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (_, _, t) = send(&app, call("get", subs, None)).await;
    assert_eq!(parse(&t), json!(["INBOX", "Work"]));
    let (s, _, _) = send(
        &app,
        call("get", "/api/v1/accounts/nobody/subscriptions", None),
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    // A user reads their own subscriptions, not the log.
    let mut own = TestRequest::get().uri(subs).to_request();
    own.headers_mut().insert(
        header::AUTHORIZATION,
        basic("pat", "pw").1.parse().expect("header"),
    );
    let (s, _, _) = send(&app, own).await;
    assert_eq!(s, StatusCode::OK);
    let mut log = TestRequest::get().uri("/api/v1/log").to_request();
    log.headers_mut().insert(
        header::AUTHORIZATION,
        basic("pat", "pw").1.parse().expect("header"),
    );
    let (s, _, _) = send(&app, log).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    // Without a node there is no session registry: a clear refusal, not
    // a pretended success.
    let (s, _, t) = send(
        &app,
        call("post", "/api/v1/accounts/pat/kill-sessions", None),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{t}");
    assert!(t.contains("KillAccountSessions is not supported"), "{t}");

    // The log of a node that wrote one.
    let logs = dir.path().join("base/SystemLogs/node7");
    std::fs::create_dir_all(&logs).expect("log dir");
    std::fs::write(
        logs.join("2026-11-30.log"),
        "10:00:00.00 2 SMTP([1.2.3.4]:5) hello\n10:00:01.00 5 IMAP() noise\n",
    )
    .expect("log");
    let (s, _, t) = send(&app, call("get", "/api/v1/log?level=3", None)).await;
    assert_eq!(s, StatusCode::OK, "{t}");
    let v = parse(&t);
    assert_eq!(v["nodes"], json!(["node7"]));
    assert_eq!(
        v["records"],
        json!([{"time": "10:00:00.00", "level": 2, "module": "SMTP([1.2.3.4]:5)", "text": "hello"}])
    );
    // A node without a log is a missing object.
    let (s, _, _) = send(&app, call("get", "/api/v1/log?node=other", None)).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _, _) = send(&app, call("get", "/api/v1/log?level=x", None)).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    cluster.shutdown().await;
}

/// The router page shows and replaces the TLS policy of the router settings.
#[actix_web::test]
async fn router_page_edits_the_tls_policy() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (api, cluster) = api(dir.path()).await;
    let app = test::init_service(app(WebState::new(api, false))).await;
    let session = sign_in(&app).await;
    let page = |session| async {
        let resp = test::call_service(
            &app,
            TestRequest::get()
                .uri("/router")
                .cookie(session)
                .to_request(),
        )
        .await;
        assert_eq!(resp.status(), StatusCode::OK);
        body_text(&test::read_body(resp).await)
    };
    let before = page(session.clone()).await;
    assert!(before.contains("TLS policy"), "{before}");
    let csrf = csrf_of(&before);
    let post = |policy: &'static str| {
        TestRequest::post()
            .uri("/router/tls-policy")
            .cookie(session.clone())
            .set_form([("csrf", csrf.as_str()), ("policy", policy)])
            .to_request()
    };

    let resp = test::call_service(
        &app,
        post("*.Test = VERIFY\r\n\r\nclear.test=opportunistic\r\n"),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let (_, _, settings) = send(
        &app,
        api_request("get", "/api/v1/router/settings", None).to_request(),
    )
    .await;
    let settings: serde_json::Value = serde_json::from_str(&settings).expect("json");
    assert_eq!(
        settings,
        serde_json::json!({"TLSPolicy": {"*.test": "verify", "clear.test": "opportunistic"}})
    );
    let after = page(session.clone()).await;
    assert!(
        after.contains("*.test = verify\nclear.test = opportunistic"),
        "{after}"
    );

    // A line without `=` and an unknown policy are refused, and change nothing.
    for (bad, error) in [
        (
            "secure.example verify",
            "line 1: secure.example verify: expected",
        ),
        ("secure.example = maybe", "maybe"),
    ] {
        let resp = test::call_service(&app, post(bad)).await;
        assert_eq!(resp.status(), StatusCode::SEE_OTHER);
        let shown = page(session.clone()).await;
        assert!(shown.contains(error), "{bad}: no error shown: {shown}");
    }
    let (_, _, unchanged) = send(
        &app,
        api_request("get", "/api/v1/router/settings", None).to_request(),
    )
    .await;
    assert!(unchanged.contains("clear.test"), "{unchanged}");
    assert!(!unchanged.contains("secure.example"), "{unchanged}");
    cluster.shutdown().await;
}
