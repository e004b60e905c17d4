//! WebAdmin: browser administration and the JSON API over HTTP
//! (CommuniGate's HTTP Admin module, ports 8010 and 9010 for TLS;
//! reference §5).
//!
//! Everything goes through the one [`AdminApi`], so the pages, the JSON API
//! and the CLI cannot disagree: the same rights, the same error texts.
//!
//! - [`pages`]: server-rendered HTML (maud), usable without JavaScript.
//!   Sign-in with a form and a session cookie, or HTTP Basic for reading
//!   pages from scripts; every form carries a per-session CSRF token
//!   ([`auth`]).
//! - [`api`]: JSON under `/api/v1/`, HTTP Basic, documented in
//!   `admin/API.md`.
//!
//! [`start`] runs the server inside the node's actix system on a listener
//! the node bound, and stops it when the node's shutdown signal fires.

pub mod api;
pub mod auth;
pub mod error;
pub mod json;
pub mod pages;
pub mod paging;
pub mod session;
pub mod view;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::middleware::DefaultHeaders;
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};

use crate::AdminApi;
use error::json_error;
use session::Sessions;

/// Worker threads of one WebAdmin server: administration traffic is light,
/// and each worker is a thread with its own runtime.
const WORKERS: usize = 2;

/// Largest JSON or form body accepted; settings dictionaries are small.
const MAX_BODY: usize = 256 * 1024;

/// What the handlers of one WebAdmin server share.
#[derive(Clone)]
pub struct WebState {
    api: AdminApi,
    sessions: Arc<Sessions>,
    secure: bool,
}

impl WebState {
    /// State over `api`; `secure` when served over HTTPS (cookies then get
    /// the `Secure` attribute).
    pub fn new(api: AdminApi, secure: bool) -> WebState {
        WebState {
            api,
            sessions: Arc::new(Sessions::default()),
            secure,
        }
    }
}

/// The WebAdmin application: pages, JSON API and their error handling.
pub fn app(
    state: WebState,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    let json_config = web::JsonConfig::default()
        .limit(MAX_BODY)
        .error_handler(|e, _| {
            let response = json_error(StatusCode::BAD_REQUEST, &format!("Bad JSON body: {e}"));
            actix_web::error::InternalError::from_response(e, response).into()
        });
    let path_config = web::PathConfig::default().error_handler(|e, _| {
        let response = json_error(StatusCode::NOT_FOUND, "No such resource");
        actix_web::error::InternalError::from_response(e, response).into()
    });
    let query_config = web::QueryConfig::default().error_handler(|e, _| {
        let response = json_error(StatusCode::BAD_REQUEST, &format!("Bad query: {e}"));
        actix_web::error::InternalError::from_response(e, response).into()
    });
    App::new()
        .app_data(web::Data::new(state))
        .app_data(query_config)
        .app_data(json_config)
        .app_data(path_config)
        .app_data(web::FormConfig::default().limit(MAX_BODY))
        .wrap(
            DefaultHeaders::new()
                .add(("X-Content-Type-Options", "nosniff"))
                .add(("X-Frame-Options", "DENY"))
                .add(("Referrer-Policy", "same-origin"))
                .add(("Cache-Control", "no-store"))
                .add((
                    "Content-Security-Policy",
                    "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; \
                     form-action 'self'; frame-ancestors 'none'",
                )),
        )
        .service(api_scope())
        .configure(page_routes)
        .default_service(web::to(not_found_page))
}

fn api_scope() -> actix_web::Scope {
    use api::{accounts, domains, forwarders, groups, openapi, queue, server};
    web::scope("/api/v1")
        .route("/openapi.json", web::get().to(openapi::serve))
        .route("/server", web::get().to(api::server))
        .route("/cluster", web::get().to(server::cluster))
        .route("/about", web::get().to(server::about))
        .route("/router", web::get().to(server::router))
        .route("/router", web::put().to(server::set_router))
        .route("/settings/modules", web::get().to(server::modules))
        .route(
            "/settings/modules/{module}",
            web::patch().to(server::update_module),
        )
        .route("/settings/ip-lists", web::get().to(server::ip_lists))
        .route(
            "/settings/ip-lists/{list}",
            web::put().to(server::set_ip_list),
        )
        .route("/log", web::get().to(server::log))
        .route("/queue", web::get().to(queue::list))
        .route("/queue/release", web::post().to(queue::release))
        .route("/queue/{id}/reject", web::post().to(queue::reject))
        .route(
            "/domains/{domain}/forwarders",
            web::get().to(forwarders::list),
        )
        .route(
            "/domains/{domain}/forwarders",
            web::post().to(forwarders::create),
        )
        .route(
            "/domains/{domain}/forwarders/{name}",
            web::delete().to(forwarders::delete),
        )
        .route("/domains/{domain}/groups", web::get().to(groups::list))
        .route("/domains/{domain}/groups", web::post().to(groups::create))
        .route(
            "/domains/{domain}/groups/{name}",
            web::get().to(groups::get),
        )
        .route(
            "/domains/{domain}/groups/{name}",
            web::put().to(groups::set),
        )
        .route(
            "/domains/{domain}/groups/{name}",
            web::delete().to(groups::delete),
        )
        .route("/domains/{domain}/state", web::get().to(domains::state))
        .route(
            "/domains/{domain}/suspend",
            web::post().to(domains::suspend),
        )
        .route("/domains/{domain}/resume", web::post().to(domains::resume))
        .route("/domains/{domain}/aliases", web::get().to(domains::aliases))
        .route(
            "/domains/{domain}/aliases",
            web::put().to(domains::set_aliases),
        )
        .route(
            "/domains/{domain}/account-defaults",
            web::get().to(domains::account_defaults),
        )
        .route(
            "/domains/{domain}/account-defaults",
            web::patch().to(domains::update_account_defaults),
        )
        .route("/domains", web::get().to(domains::list))
        .route("/domains", web::post().to(domains::create))
        .route("/domains/{domain}", web::delete().to(domains::delete))
        .route(
            "/domains/{domain}/settings",
            web::get().to(domains::settings),
        )
        .route(
            "/domains/{domain}/settings",
            web::patch().to(domains::update_settings),
        )
        .route(
            "/domains/{domain}/accounts",
            web::get().to(domains::accounts),
        )
        .route("/accounts", web::post().to(accounts::create))
        .route("/accounts/{account}", web::delete().to(accounts::delete))
        .route(
            "/accounts/{account}/rename",
            web::post().to(accounts::rename),
        )
        .route(
            "/accounts/{account}/settings",
            web::get().to(accounts::settings),
        )
        .route(
            "/accounts/{account}/settings",
            web::patch().to(accounts::update_settings),
        )
        .route(
            "/accounts/{account}/password",
            web::put().to(accounts::set_password),
        )
        .route(
            "/accounts/{account}/aliases",
            web::get().to(accounts::aliases),
        )
        .route(
            "/accounts/{account}/aliases",
            web::put().to(accounts::set_aliases),
        )
        .route(
            "/accounts/{account}/mailboxes",
            web::get().to(accounts::mailboxes),
        )
        .route(
            "/accounts/{account}/mailboxes",
            web::post().to(accounts::create_mailbox),
        )
        .route(
            "/accounts/{account}/subscriptions",
            web::get().to(accounts::subscriptions),
        )
        .route(
            "/accounts/{account}/subscriptions",
            web::put().to(accounts::set_subscriptions),
        )
        .route(
            "/accounts/{account}/kill-sessions",
            web::post().to(accounts::kill_sessions),
        )
        .default_service(web::to(api_not_found))
}

fn page_routes(cfg: &mut web::ServiceConfig) {
    use pages::{
        about, accounts, domains, forwarders, groups, log, login, overview, queue, server,
    };
    cfg.route("/", web::get().to(overview::show))
        .route("/about", web::get().to(about::show))
        .route("/log", web::get().to(log::show))
        .route("/domains/{domain}/groups", web::get().to(groups::list))
        .route("/domains/{domain}/groups", web::post().to(groups::create))
        .route(
            "/domains/{domain}/groups/{name}",
            web::get().to(groups::show),
        )
        .route(
            "/domains/{domain}/groups/{name}",
            web::post().to(groups::save),
        )
        .route(
            "/domains/{domain}/groups/{name}/delete",
            web::post().to(groups::delete),
        )
        .route(
            "/domains/{domain}/suspend",
            web::post().to(domains::suspend),
        )
        .route("/domains/{domain}/resume", web::post().to(domains::resume))
        .route(
            "/domains/{domain}/aliases",
            web::post().to(domains::set_aliases),
        )
        .route(
            "/domains/{domain}/account-defaults",
            web::post().to(domains::update_account_defaults),
        )
        .route(
            "/accounts/{address}/subscriptions",
            web::post().to(accounts::set_subscriptions),
        )
        .route(
            "/accounts/{address}/kill-sessions",
            web::post().to(accounts::kill_sessions),
        )
        .route("/queue", web::get().to(queue::list))
        .route("/queue/release", web::post().to(queue::release))
        .route("/queue/{id}/reject", web::post().to(queue::reject))
        .route("/router", web::get().to(server::router))
        .route("/router", web::post().to(server::set_router))
        .route("/settings", web::get().to(server::settings))
        .route("/settings/log-level", web::post().to(server::set_log_level))
        .route(
            "/settings/ip-lists/{list}",
            web::post().to(server::set_ip_list),
        )
        .route(
            "/domains/{domain}/forwarders",
            web::get().to(forwarders::list),
        )
        .route(
            "/domains/{domain}/forwarders",
            web::post().to(forwarders::create),
        )
        .route(
            "/domains/{domain}/forwarders/{name}/delete",
            web::post().to(forwarders::delete),
        )
        .route("/login", web::get().to(login::show))
        .route("/login", web::post().to(login::submit))
        .route("/logout", web::get().to(login::logout_page))
        .route("/logout", web::post().to(login::logout))
        .route("/domains", web::get().to(domains::list))
        .route("/domains", web::post().to(domains::create))
        .route("/domains/{domain}", web::get().to(domains::show))
        .route(
            "/domains/{domain}/settings",
            web::post().to(domains::update_settings),
        )
        .route(
            "/domains/{domain}/delete",
            web::get().to(domains::confirm_delete),
        )
        .route("/domains/{domain}/delete", web::post().to(domains::delete))
        .route(
            "/domains/{domain}/accounts",
            web::post().to(domains::create_account),
        )
        .route("/accounts/{address}", web::get().to(accounts::show))
        .route(
            "/accounts/{address}/settings",
            web::post().to(accounts::update_settings),
        )
        .route(
            "/accounts/{address}/password",
            web::post().to(accounts::set_password),
        )
        .route(
            "/accounts/{address}/aliases",
            web::post().to(accounts::set_aliases),
        )
        .route(
            "/accounts/{address}/rename",
            web::post().to(accounts::rename),
        )
        .route(
            "/accounts/{address}/mailboxes",
            web::post().to(accounts::create_mailbox),
        )
        .route(
            "/accounts/{address}/delete",
            web::get().to(accounts::confirm_delete),
        )
        .route(
            "/accounts/{address}/delete",
            web::post().to(accounts::delete),
        );
}

async fn api_not_found(req: HttpRequest) -> HttpResponse {
    json_error(
        StatusCode::NOT_FOUND,
        &format!("No route {} {}", req.method(), req.path()),
    )
}

async fn not_found_page() -> HttpResponse {
    view::error_page(StatusCode::NOT_FOUND, "There is no such page.")
}

/// Serves WebAdmin on `listener` (already bound by the node), over TLS
/// when `tls` is given, until `shutdown` completes. Must be called inside
/// the node's actix system (or any tokio runtime); the server runs on its
/// own worker threads and is spawned onto the current runtime.
///
/// # Errors
/// The listener cannot be switched to non-blocking mode or registered.
pub fn start(
    listener: std::net::TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    api: AdminApi,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    listener.set_nonblocking(true)?;
    let state = WebState::new(api, tls.is_some());
    let server = HttpServer::new(move || app(state.clone()))
        .workers(WORKERS)
        // The node owns signals and the system; WebAdmin only follows.
        .disable_signals()
        .shutdown_signal(shutdown)
        .shutdown_timeout(2)
        .client_request_timeout(Duration::from_secs(10));
    let server = match tls {
        // actix takes the config by value and adds its ALPN protocols.
        Some(tls) => server.listen_rustls_0_23(listener, (*tls).clone())?,
        None => server.listen(listener)?,
    };
    let running = server.run();
    tokio::spawn(async move {
        if let Err(e) = running.await {
            tracing::warn!(error = %e, "WebAdmin server stopped with an error");
        }
    });
    Ok(())
}

#[cfg(test)]
mod tests;
