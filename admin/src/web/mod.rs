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
use actix_web::http::{Method, StatusCode, header};
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

/// One route of the JSON API as the server registers it.
pub struct ApiRoute {
    /// Its HTTP method.
    pub method: Method,
    /// Its path under `/api/v1`, with `{parameters}`.
    pub path: &'static str,
    route: actix_web::Route,
}

fn api_route<F, Args>(method: Method, path: &'static str, handler: F) -> ApiRoute
where
    F: actix_web::Handler<Args>,
    Args: actix_web::FromRequest + 'static,
    F::Output: actix_web::Responder + 'static,
{
    ApiRoute {
        route: web::method(method.clone()).to(handler),
        method,
        path,
    }
}

/// Every route the JSON API serves: the one list the server registers
/// from, so a test can hold it against the OpenAPI document
/// ([`api::openapi::ROUTES`]).
pub fn api_routes() -> Vec<ApiRoute> {
    use Method as M;
    use api::{accounts, domains, forwarders, groups, openapi, queue, server};
    vec![
        api_route(M::GET, "/openapi.json", openapi::serve),
        api_route(M::GET, "/server", api::server),
        api_route(M::GET, "/cluster", server::cluster),
        api_route(M::GET, "/about", server::about),
        api_route(M::GET, "/router", server::router),
        api_route(M::PUT, "/router", server::set_router),
        api_route(M::GET, "/router/settings", server::router_settings),
        api_route(M::PUT, "/router/settings", server::set_router_settings),
        api_route(M::GET, "/settings/modules", server::modules),
        api_route(
            M::PATCH,
            "/settings/modules/{module}",
            server::update_module,
        ),
        api_route(M::GET, "/settings/ip-lists", server::ip_lists),
        api_route(M::PUT, "/settings/ip-lists/{list}", server::set_ip_list),
        api_route(M::GET, "/log", server::log),
        api_route(M::GET, "/queue", queue::list),
        api_route(M::POST, "/queue/release", queue::release),
        api_route(M::POST, "/queue/{id}/reject", queue::reject),
        api_route(M::GET, "/domains", domains::list),
        api_route(M::POST, "/domains", domains::create),
        api_route(M::DELETE, "/domains/{domain}", domains::delete),
        api_route(M::GET, "/domains/{domain}/settings", domains::settings),
        api_route(
            M::PATCH,
            "/domains/{domain}/settings",
            domains::update_settings,
        ),
        api_route(M::GET, "/domains/{domain}/accounts", domains::accounts),
        api_route(M::GET, "/domains/{domain}/state", domains::state),
        api_route(M::POST, "/domains/{domain}/suspend", domains::suspend),
        api_route(M::POST, "/domains/{domain}/resume", domains::resume),
        api_route(M::GET, "/domains/{domain}/aliases", domains::aliases),
        api_route(M::PUT, "/domains/{domain}/aliases", domains::set_aliases),
        api_route(
            M::GET,
            "/domains/{domain}/account-defaults",
            domains::account_defaults,
        ),
        api_route(
            M::PATCH,
            "/domains/{domain}/account-defaults",
            domains::update_account_defaults,
        ),
        api_route(M::GET, "/domains/{domain}/forwarders", forwarders::list),
        api_route(M::POST, "/domains/{domain}/forwarders", forwarders::create),
        api_route(
            M::DELETE,
            "/domains/{domain}/forwarders/{name}",
            forwarders::delete,
        ),
        api_route(M::GET, "/domains/{domain}/groups", groups::list),
        api_route(M::POST, "/domains/{domain}/groups", groups::create),
        api_route(M::GET, "/domains/{domain}/groups/{name}", groups::get),
        api_route(M::PUT, "/domains/{domain}/groups/{name}", groups::set),
        api_route(M::DELETE, "/domains/{domain}/groups/{name}", groups::delete),
        api_route(M::POST, "/accounts", accounts::create),
        api_route(M::DELETE, "/accounts/{account}", accounts::delete),
        api_route(M::POST, "/accounts/{account}/rename", accounts::rename),
        api_route(M::GET, "/accounts/{account}/settings", accounts::settings),
        api_route(
            M::PATCH,
            "/accounts/{account}/settings",
            accounts::update_settings,
        ),
        api_route(
            M::PUT,
            "/accounts/{account}/password",
            accounts::set_password,
        ),
        api_route(M::GET, "/accounts/{account}/aliases", accounts::aliases),
        api_route(M::PUT, "/accounts/{account}/aliases", accounts::set_aliases),
        api_route(M::GET, "/accounts/{account}/mailboxes", accounts::mailboxes),
        api_route(
            M::POST,
            "/accounts/{account}/mailboxes",
            accounts::create_mailbox,
        ),
        api_route(
            M::GET,
            "/accounts/{account}/subscriptions",
            accounts::subscriptions,
        ),
        api_route(
            M::PUT,
            "/accounts/{account}/subscriptions",
            accounts::set_subscriptions,
        ),
        api_route(
            M::POST,
            "/accounts/{account}/kill-sessions",
            accounts::kill_sessions,
        ),
    ]
}

/// The JSON API: one resource per path of [`api_routes`], answering 405
/// with an `Allow` header for the other methods (RFC 9110 §15.5.6), and
/// 404 for other paths; both as JSON errors.
fn api_scope() -> actix_web::Scope {
    let mut paths: Vec<(&'static str, Vec<ApiRoute>)> = Vec::new();
    for route in api_routes() {
        match paths.iter_mut().find(|(path, _)| *path == route.path) {
            Some((_, routes)) => routes.push(route),
            None => paths.push((route.path, vec![route])),
        }
    }
    let mut scope = web::scope("/api/v1");
    for (path, routes) in paths {
        let allow: Vec<&str> = routes.iter().map(|r| r.method.as_str()).collect();
        let allow = allow.join(", ");
        let mut resource = web::resource(path);
        for route in routes {
            resource = resource.route(route.route);
        }
        scope = scope.service(resource.default_service(web::to(move |req: HttpRequest| {
            method_not_allowed(req, allow.clone())
        })));
    }
    scope.default_service(web::to(api_not_found))
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
        .route("/router/tls-policy", web::post().to(server::set_tls_policy))
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

async fn method_not_allowed(req: HttpRequest, allow: String) -> HttpResponse {
    let mut response = json_error(
        StatusCode::METHOD_NOT_ALLOWED,
        &format!("{} is not allowed on {}", req.method(), req.path()),
    );
    if let Ok(allow) = header::HeaderValue::from_str(&allow) {
        response.headers_mut().insert(header::ALLOW, allow);
    }
    response
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
