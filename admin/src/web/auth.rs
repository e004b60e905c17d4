//! Who is calling: session cookies for browsers, HTTP Basic for scripts,
//! and the CSRF check on every form.
//!
//! - Pages accept a session cookie (set by the sign-in form) or HTTP Basic
//!   (RFC 7617). Without either, a page redirects to the sign-in form.
//! - Forms ([`Posted`]) need a session, and the session's CSRF token in the
//!   `csrf` field; Basic credentials are not enough for a form, because a
//!   browser replays cached Basic credentials on cross-site posts.
//! - The JSON API ([`ApiCaller`]) takes HTTP Basic only, answering 401 with
//!   a `WWW-Authenticate` challenge otherwise.
//!
//! The session cookie is `HttpOnly`, `SameSite=Strict`, and `Secure` when
//! the server speaks HTTPS.

use actix_web::cookie::{Cookie, SameSite};
use actix_web::dev::Payload;
use actix_web::http::{StatusCode, header};
use actix_web::{FromRequest, HttpRequest, HttpResponse, web};
use base64::Engine;
use cluster::AccountRef;
use futures::future::LocalBoxFuture;
use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::WebState;
use super::error::json_error;
use super::session::{Session, same_secret};
use super::view;
use crate::AdminApi;

/// The session cookie.
pub const SESSION_COOKIE: &str = "mailnode_session";
/// The sign-in form's CSRF cookie (there is no session yet to hold it).
pub const LOGIN_COOKIE: &str = "mailnode_login";

/// A signed-in caller.
#[derive(Clone, Debug)]
pub struct Caller {
    /// The account.
    pub account: AccountRef,
    /// Whether it is a server administrator, so it may use every
    /// administration page (decided at each request, see
    /// [`AdminApi::is_server_admin`]).
    pub admin: bool,
    /// The browser session (absent for HTTP Basic).
    pub session: Option<(String, Session)>,
}

impl Caller {
    /// The CSRF token forms must carry; empty under HTTP Basic, where
    /// forms are refused anyway.
    pub fn csrf(&self) -> &str {
        self.session.as_ref().map_or("", |(_, s)| s.csrf.as_str())
    }
}

/// The caller of a page.
pub struct PageCaller(pub Caller);

/// The caller of a JSON API route.
pub struct ApiCaller(pub Caller);

/// A form posted by a signed-in browser with a valid CSRF token.
pub struct Posted<T> {
    /// The caller; always has a session.
    pub caller: Caller,
    /// The form's fields.
    pub form: T,
}

impl<T> Posted<T> {
    /// The session id.
    pub fn session_id(&self) -> &str {
        self.caller
            .session
            .as_ref()
            .map_or("", |(id, _)| id.as_str())
    }
}

#[derive(Deserialize)]
struct WithCsrf<T> {
    #[serde(default)]
    csrf: String,
    #[serde(flatten)]
    form: T,
}

fn state(req: &HttpRequest) -> web::Data<WebState> {
    req.app_data::<web::Data<WebState>>()
        .cloned()
        .expect("invariant: the WebAdmin app always carries its WebState")
}

fn from_cookie(req: &HttpRequest, state: &WebState) -> Option<Caller> {
    let id = req.cookie(SESSION_COOKIE)?.value().to_string();
    let session = state.sessions.touch(&id)?;
    Some(Caller {
        admin: state.api.is_server_admin(&session.account),
        account: session.account.clone(),
        session: Some((id, session)),
    })
}

/// `Ok(None)` without an `Authorization: Basic` header, `Err(())` with
/// wrong credentials.
async fn from_basic(req: &HttpRequest, api: &AdminApi) -> Result<Option<Caller>, ()> {
    let Some(value) = req.headers().get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let value = value.to_str().map_err(|_| ())?;
    let (scheme, encoded) = value.trim().split_once(' ').ok_or(())?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(());
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .map_err(|_| ())?;
    let decoded = String::from_utf8(decoded).map_err(|_| ())?;
    let (user, password) = decoded.split_once(':').ok_or(())?;
    let account = api.verify_password(user, password).await.ok_or(())?;
    Ok(Some(Caller {
        admin: api.is_server_admin(&account),
        account,
        session: None,
    }))
}

fn basic_challenge(mut response: HttpResponse) -> HttpResponse {
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        header::HeaderValue::from_static("Basic realm=\"Mailnode WebAdmin\", charset=\"UTF-8\""),
    );
    response
}

fn respond(response: HttpResponse) -> actix_web::Error {
    actix_web::error::InternalError::from_response("", response).into()
}

impl FromRequest for PageCaller {
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let state = state(&req);
            if let Some(caller) = from_cookie(&req, &state) {
                return Ok(PageCaller(caller));
            }
            match from_basic(&req, &state.api).await {
                Ok(Some(caller)) => Ok(PageCaller(caller)),
                Ok(None) => Err(respond(view::redirect("/login"))),
                Err(()) => Err(respond(basic_challenge(view::error_page(
                    StatusCode::UNAUTHORIZED,
                    "Incorrect account name or password",
                )))),
            }
        })
    }
}

impl FromRequest for ApiCaller {
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let state = state(&req);
            match from_basic(&req, &state.api).await {
                Ok(Some(caller)) => Ok(ApiCaller(caller)),
                Ok(None) => Err(respond(basic_challenge(json_error(
                    StatusCode::UNAUTHORIZED,
                    "Authentication required",
                )))),
                Err(()) => Err(respond(basic_challenge(json_error(
                    StatusCode::UNAUTHORIZED,
                    "Incorrect account name or password",
                )))),
            }
        })
    }
}

impl<T: DeserializeOwned + 'static> FromRequest for Posted<T> {
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let req = req.clone();
        let form = web::Form::<WithCsrf<T>>::from_request(&req, payload);
        Box::pin(async move {
            let state = state(&req);
            let Some(caller) = from_cookie(&req, &state) else {
                return Err(respond(view::error_page(
                    StatusCode::FORBIDDEN,
                    "Forms need a signed-in session: sign in and try again.",
                )));
            };
            let form = form.await.map_err(|e| {
                respond(view::error_page(
                    StatusCode::BAD_REQUEST,
                    &format!("The form could not be read: {e}"),
                ))
            })?;
            let form = form.into_inner();
            if form.csrf.is_empty() || !same_secret(&form.csrf, caller.csrf()) {
                return Err(respond(view::error_page(
                    StatusCode::FORBIDDEN,
                    "The form has expired or was not sent from this site. \
                     Reload the page and try again.",
                )));
            }
            Ok(Posted {
                caller,
                form: form.form,
            })
        })
    }
}

/// The session cookie for a new session.
pub fn session_cookie(id: String, secure: bool) -> Cookie<'static> {
    Cookie::build(SESSION_COOKIE, id)
        .path("/")
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(secure)
        .finish()
}

/// The sign-in form's CSRF cookie.
pub fn login_cookie(token: String, secure: bool) -> Cookie<'static> {
    Cookie::build(LOGIN_COOKIE, token)
        .path("/login")
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(secure)
        .finish()
}

/// A cookie that tells the browser to forget `name`.
pub fn removal(name: &'static str, path: &'static str) -> Cookie<'static> {
    let mut c = Cookie::build(name, "").path(path).finish();
    c.make_removal();
    c
}
