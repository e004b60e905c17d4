//! The server-rendered pages, one file per resource. Handlers are thin:
//! read the request, run [`Command`]s through the [`AdminApi`](crate::AdminApi),
//! render. Every change is a POST form answered by a redirect (303) to the
//! page that shows the result, with the outcome as a one-time message;
//! errors carry the same text the CLI prints.

pub mod about;
pub mod accounts;
pub mod domains;
pub mod forwarders;
pub mod groups;
pub mod log;
pub mod login;
pub mod overview;
pub mod queue;
pub mod server;

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use maud::{Markup, html};

use super::WebState;
use super::auth::{Caller, Posted};
use super::error::status_of;
use super::session::Flash;
use super::view;
use crate::cli::command::Command;
use crate::data::Value;
use crate::error::Error;

/// Runs a read for a page; a failure becomes the page to answer with.
pub async fn fetch(
    state: &WebState,
    caller: &Caller,
    command: Command,
) -> Result<Value, HttpResponse> {
    match state.api.execute(&caller.account, command).await {
        Ok(Some(v)) => Ok(v),
        Ok(None) => Ok(Value::Null),
        Err(e) => Err(view::error_page(status_of(&e), &e.to_string())),
    }
}

/// Runs the change a form asked for and redirects: to `done_to` with
/// `done` as the message, or to `failed_to` with the error text. Missing
/// rights are answered 403 instead, as on the pages themselves.
pub async fn act<T>(
    state: &WebState,
    posted: &Posted<T>,
    command: Command,
    done: String,
    done_to: &str,
    failed_to: &str,
) -> HttpResponse {
    match state.api.execute(&posted.caller.account, command).await {
        Ok(_) => {
            state
                .sessions
                .set_flash(posted.session_id(), Flash::Done(done));
            view::redirect(done_to)
        }
        Err(e) => failed(state, posted, &e, failed_to),
    }
}

/// Reports a failed action: 403 for missing rights, otherwise a message
/// on the page at `to`.
pub fn failed<T>(state: &WebState, posted: &Posted<T>, error: &Error, to: &str) -> HttpResponse {
    if matches!(error, Error::NotAllowed) {
        return view::error_page(StatusCode::FORBIDDEN, &error.to_string());
    }
    state
        .sessions
        .set_flash(posted.session_id(), Flash::Failed(error.to_string()));
    view::redirect(to)
}

/// The 403 page for signed-in users who are not administrators.
pub fn forbidden() -> HttpResponse {
    view::error_page(StatusCode::FORBIDDEN, &Error::NotAllowed.to_string())
}

/// A settings dictionary as a table and, for administrators, a form that
/// merges edited keys (CommuniGate data syntax).
pub fn settings_card(caller: &Caller, settings: &Value, action: &str) -> Markup {
    titled_settings_card(caller, "Settings", settings, action)
}

/// [`settings_card`] under another title (account defaults, ...).
pub fn titled_settings_card(
    caller: &Caller,
    title: &str,
    settings: &Value,
    action: &str,
) -> Markup {
    let empty = crate::data::Dict::new();
    let dict = settings.as_dict().unwrap_or(&empty);
    html! {
        div.card {
            h2 { (title) }
            @if dict.is_empty() {
                p.muted { "No settings: defaults apply." }
            } @else {
                table {
                    thead { tr { th { "Setting" } th { "Value" } } }
                    tbody {
                        @for (k, v) in dict {
                            tr { td { (k) } td { (display(v)) } }
                        }
                    }
                }
            }
            @if caller.admin {
                form method="post" action=(action) {
                    (view::csrf_field(caller))
                    label for=(text_id(title)) {
                        "Change settings (CommuniGate dictionary; the keys given are set, others are kept)"
                    }
                    textarea id=(text_id(title)) name="settings" {
                        (crate::data::to_text_pretty(settings))
                    }
                    button type="submit" { "Save settings" }
                }
            }
        }
    }
}

/// The id of a settings card's text area: `settings` for the account's or
/// domain's own, `account-defaults` and so on for the others.
fn text_id(title: &str) -> String {
    title.to_lowercase().replace(' ', "-")
}

/// The lines of a one-entry-a-line text area (also accepting commas), as
/// the group members and domain alias forms take them.
pub fn entries(text: &str) -> Vec<String> {
    text.split([',', '\n', '\r'])
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .map(str::to_string)
        .collect()
}

/// Parses the settings text of a settings form.
///
/// # Errors
/// The data-syntax error, or a value that is not a dictionary.
pub fn parse_settings(text: &str) -> Result<crate::data::Dict, Error> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(crate::data::Dict::new());
    }
    match crate::data::parse_text(text)? {
        Value::Dict(d) => Ok(d),
        _ => Err(Error::BadArgument(
            "Settings must be a dictionary: {Key=Value;}".into(),
        )),
    }
}

/// A value as it reads in a table: strings bare, the rest in data syntax.
pub fn display(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Previous/next links of a paged list of `total` items.
pub fn pager(paging: &crate::web::paging::Paging, base: &str, total: usize) -> Markup {
    let limit = paging.limit();
    let first = paging.offset.min(total);
    let last = (paging.offset + limit).min(total);
    html! {
        div.pager {
            @if let Some(prev) = paging.previous() {
                a href=(paging.link(base, prev)) { "← Previous" }
            }
            span.muted { (first + usize::from(last > first)) "–" (last) " of " (total) }
            @if let Some(next) = paging.next(total) {
                a href=(paging.link(base, next)) { "Next →" }
            }
        }
    }
}

/// The 403 page when a page needs an administrator and `caller` is not.
pub fn unless_admin(caller: &Caller) -> Option<HttpResponse> {
    (!caller.admin).then(forbidden)
}
