//! Sign-in and sign-out.
//!
//! The sign-in form is protected against login CSRF with a double-submit
//! token: a random value in an `HttpOnly`, `SameSite=Strict` cookie that
//! must equal the form's hidden field.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use maud::{Markup, html};
use serde::Deserialize;

use crate::web::WebState;
use crate::web::auth::{self, LOGIN_COOKIE, PageCaller, Posted, SESSION_COOKIE};
use crate::web::session::{random_token, same_secret};
use crate::web::view;

fn home(admin: bool, address: &str) -> String {
    if admin {
        "/".to_string()
    } else {
        view::account_url(address)
    }
}

fn login_form(token: &str, user: &str, error: Option<&str>) -> Markup {
    view::page(
        "Sign in",
        None,
        html! {
            div.login {
                div.card {
                    h1 { "Sign in" }
                    @if let Some(e) = error {
                        div.flash.err role="alert" { (e) }
                    }
                    form method="post" action="/login" {
                        input type="hidden" name="csrf" value=(token);
                        label for="user" { "Account" }
                        input type="text" id="user" name="user" value=(user)
                            autocomplete="username" required autofocus;
                        label for="password" { "Password" }
                        input type="password" id="password" name="password"
                            autocomplete="current-password" required;
                        button type="submit" { "Sign in" }
                    }
                }
            }
        },
    )
}

fn form_response(
    state: &WebState,
    status: StatusCode,
    user: &str,
    error: Option<&str>,
) -> HttpResponse {
    let token = random_token();
    let mut response = view::html_response(status, login_form(&token, user, error));
    let _ = response.add_cookie(&auth::login_cookie(token, state.secure));
    response
}

/// `GET /login`: the sign-in form (or home, when already signed in).
pub async fn show(state: web::Data<WebState>, req: HttpRequest) -> HttpResponse {
    if let Some(id) = req.cookie(SESSION_COOKIE)
        && let Some(s) = state.sessions.touch(id.value())
    {
        return view::redirect(&home(
            state.api.is_server_admin(&s.account),
            &s.account.address(),
        ));
    }
    form_response(&state, StatusCode::OK, "", None)
}

/// The sign-in form's fields.
#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    user: String,
    #[serde(default)]
    password: String,
}

/// `POST /login`: checks the password and starts a session.
pub async fn submit(
    state: web::Data<WebState>,
    req: HttpRequest,
    form: web::Form<LoginForm>,
) -> HttpResponse {
    let cookie = req.cookie(LOGIN_COOKIE).map(|c| c.value().to_string());
    if form.csrf.is_empty() || !cookie.is_some_and(|c| same_secret(&c, &form.csrf)) {
        return form_response(
            &state,
            StatusCode::FORBIDDEN,
            &form.user,
            Some("The sign-in form has expired. Please try again."),
        );
    }
    let Some(account) = state.api.verify_password(&form.user, &form.password).await else {
        return form_response(
            &state,
            StatusCode::UNAUTHORIZED,
            &form.user,
            Some("Incorrect account name or password"),
        );
    };
    let admin = state.api.is_server_admin(&account);
    let id = state.sessions.create(account.clone());
    let mut response = view::redirect(&home(admin, &account.address()));
    let _ = response.add_cookie(&auth::session_cookie(id, state.secure));
    let _ = response.add_cookie(&auth::removal(LOGIN_COOKIE, "/login"));
    response
}

/// Sign-out has no fields but the CSRF token.
#[derive(Deserialize)]
pub struct Empty {}

/// `POST /logout`: ends the session.
pub async fn logout(state: web::Data<WebState>, posted: Posted<Empty>) -> HttpResponse {
    state.sessions.remove(posted.session_id());
    let mut response = view::redirect("/login");
    let _ = response.add_cookie(&auth::removal(SESSION_COOKIE, "/"));
    response
}

/// `GET /logout` (a bookmark or typed URL): shows a sign-out button,
/// since a GET must not change anything.
pub async fn logout_page(PageCaller(caller): PageCaller) -> HttpResponse {
    view::html_response(
        StatusCode::OK,
        view::page(
            "Sign out",
            Some(&caller),
            html! {
                div.card {
                    h1 { "Sign out" }
                    form method="post" action="/logout" {
                        (view::csrf_field(&caller))
                        button type="submit" { "Sign out" }
                    }
                }
            },
        ),
    )
}
