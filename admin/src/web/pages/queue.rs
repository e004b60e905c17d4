//! The relay queue, one page at a time: each message with its sender,
//! recipients (state and last error), attempts and next attempt, and the
//! buttons to release its domain now or reject it with a reason.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use maud::html;
use serde::Deserialize;

use super::{act, display, pager, unless_admin};
use crate::cli::command::Command;
use crate::data::Value;
use crate::error::Error;
use crate::web::WebState;
use crate::web::auth::{PageCaller, Posted};
use crate::web::error::status_of;
use crate::web::paging::Paging;
use crate::web::view;

fn field<'a>(entry: &'a Value, key: &str) -> Option<&'a Value> {
    entry.as_dict().and_then(|d| d.get(key))
}

fn text(entry: &Value, key: &str) -> String {
    field(entry, key).map(display).unwrap_or_default()
}

/// Milliseconds since the epoch as a UTC time.
fn when(entry: &Value, key: &str) -> String {
    field(entry, key)
        .and_then(Value::as_number)
        .and_then(chrono::DateTime::from_timestamp_millis)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_default()
}

/// The domain of the first recipient still waiting: what "release now"
/// releases (`ReleaseSMTPQueue` works per domain).
fn waiting_domain(entry: &Value) -> Option<String> {
    field(entry, "recipients")?
        .as_array()?
        .iter()
        .filter(|r| matches!(text(r, "state").as_str(), "pending" | "deferred"))
        .find_map(|r| Some(text(r, "address").rsplit_once('@')?.1.to_string()))
}

/// `GET /queue?offset=&limit=`.
pub async fn list(
    state: web::Data<WebState>,
    PageCaller(caller): PageCaller,
    paging: web::Query<Paging>,
) -> HttpResponse {
    if let Some(page) = unless_admin(&caller) {
        return page;
    }
    let (total, entries) = match state
        .api
        .queue_page(&caller.account, paging.offset, paging.limit())
        .await
    {
        Ok(p) => p,
        Err(e) => return view::error_page(status_of(&e), &e.to_string()),
    };
    let body = html! {
        h1 { "Queue" }
        div.card {
            @if entries.is_empty() {
                p.muted { "The queue is empty." }
            } @else {
                table {
                    thead { tr {
                        th { "Id" } th { "From" } th { "Recipients" } th { "Attempts" }
                        th { "Next attempt" } th {}
                    } }
                    tbody {
                        @for e in &entries {
                            @let id = text(e, "id");
                            tr {
                                td { (id) }
                                td { (text(e, "from")) }
                                td {
                                    @for r in field(e, "recipients").and_then(Value::as_array).unwrap_or_default() {
                                        div {
                                            (text(r, "address")) " "
                                            span.tag { (text(r, "state")) }
                                            @if let Some(err) = field(r, "lastError") {
                                                div.muted { (display(err)) }
                                            }
                                        }
                                    }
                                }
                                td.num { (text(e, "attempts")) }
                                td { (when(e, "nextAttempt")) }
                                td {
                                    @if let Some(domain) = waiting_domain(e) {
                                        form method="post" action="/queue/release" {
                                            (view::csrf_field(&caller))
                                            input type="hidden" name="domain" value=(domain);
                                            button type="submit" style="margin-top:0" { "Release now" }
                                        }
                                    }
                                    form method="post" action={ "/queue/" (id) "/reject" } {
                                        (view::csrf_field(&caller))
                                        input type="text" name="reason" placeholder="Reason";
                                        button.danger type="submit" style="margin-top:.25rem" { "Reject" }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            (pager(&paging, "/queue", total))
        }
    };
    view::html_response(StatusCode::OK, view::page("Queue", Some(&caller), body))
}

/// The release form.
#[derive(Deserialize)]
pub struct ReleaseForm {
    #[serde(default)]
    domain: String,
}

/// `POST /queue/release`.
pub async fn release(state: web::Data<WebState>, posted: Posted<ReleaseForm>) -> HttpResponse {
    let domain = posted.form.domain.trim().to_string();
    let command = Command::ReleaseSmtpQueue {
        queue: domain.clone(),
    };
    act(
        &state,
        &posted,
        command,
        format!("Messages to {domain} released"),
        "/queue",
        "/queue",
    )
    .await
}

/// The reject form.
#[derive(Deserialize)]
pub struct RejectForm {
    #[serde(default)]
    reason: String,
}

/// `POST /queue/{id}/reject`.
pub async fn reject(
    state: web::Data<WebState>,
    id: web::Path<String>,
    posted: Posted<RejectForm>,
) -> HttpResponse {
    let Ok(number) = id.parse::<u64>() else {
        let e = Error::not_found(format!("Unknown queue message {id}"));
        return super::failed(&state, &posted, &e, "/queue");
    };
    let reason = posted.form.reason.trim();
    let command = Command::RejectQueueMessage {
        id: number,
        text: (!reason.is_empty()).then(|| reason.to_string()),
    };
    act(
        &state,
        &posted,
        command,
        format!("Message {id} rejected"),
        "/queue",
        "/queue",
    )
    .await
}
