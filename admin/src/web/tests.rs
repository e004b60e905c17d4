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
    let resp = test::call_service(&app, TestRequest::get().uri("/login").to_request()).await;
    let login_cookie = resp
        .response()
        .cookies()
        .find(|c| c.name() == "mailnode_login")
        .expect("login cookie")
        .into_owned();
    let page = body_text(&test::read_body(resp).await);
    let token = csrf_of(&page);
    let resp = test::call_service(
        &app,
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
    let session = resp
        .response()
        .cookies()
        .find(|c| c.name() == "mailnode_session")
        .expect("session cookie")
        .into_owned();
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
