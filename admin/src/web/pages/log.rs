//! `GET /log`: the tail of a node's system log (`SystemLogs/NODE/`), with
//! level and module filters and an optional live refresh (an HTTP
//! `Refresh` header, so no script is needed). Server administrators only.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use maud::html;

use crate::web::WebState;
use crate::web::api::server::LogQuery;
use crate::web::auth::PageCaller;
use crate::web::error::status_of;
use crate::web::view;

/// Seconds between reloads of the live log.
const LIVE_REFRESH_SECS: u32 = 5;

/// CommuniGate's names of the log levels, 0..5.
const LEVELS: [&str; 6] = [
    "Crashes",
    "Failures",
    "Major",
    "Problems",
    "Low level",
    "All info",
];

/// `GET /log?node=&level=&module=&limit=&live=1`.
pub async fn show(
    state: web::Data<WebState>,
    PageCaller(caller): PageCaller,
    query: web::Query<LogQuery>,
) -> HttpResponse {
    let query = query.into_inner();
    let filter = query.filter();
    let tail = match state.api.log_tail(&caller.account, filter.clone()).await {
        Ok(t) => t,
        Err(e) => return view::error_page(status_of(&e), &e.to_string()),
    };
    let live = query.live.is_some_and(|v| !v.is_empty());
    let body = html! {
        h1 { "System log" }
        div.card {
            form.inline method="get" action="/log" {
                label for="node" { "Node" }
                select id="node" name="node" {
                    @for n in &tail.nodes {
                        option value=(n) selected[*n == tail.node] { (n) }
                    }
                }
                label for="level" { "Up to level" }
                select id="level" name="level" {
                    @for (i, name) in LEVELS.iter().enumerate() {
                        option value=(i) selected[i == usize::from(filter.max_level)] {
                            (i) " " (name)
                        }
                    }
                }
                label for="module" { "Module" }
                input type="text" id="module" name="module" value=(filter.module) placeholder="SMTP";
                input type="hidden" name="limit" value=(filter.limit);
                label { input type="checkbox" name="live" value="1" checked[live]; " Live" }
                button type="submit" { "Show" }
            }
            p.muted {
                @match &tail.file {
                    Some(f) => { (tail.node) " / " (f) ": the newest " (tail.records.len()) " records" }
                    None => { "No log written yet." }
                }
                @if live { " · refreshed every " (LIVE_REFRESH_SECS) " s" }
            }
            table.log {
                thead { tr { th { "Time" } th { "Level" } th { "Module" } th { "Text" } } }
                tbody {
                    @for r in &tail.records {
                        tr {
                            td.num { (r.time) }
                            td.num { (r.level) }
                            td { code { (r.module) } }
                            td { (r.text) }
                        }
                    }
                }
            }
        }
    };
    let mut response = view::html_response(
        StatusCode::OK,
        view::page("System log", Some(&caller), body),
    );
    if live {
        // The same query again (the browser keeps the URL).
        if let Ok(v) =
            actix_web::http::header::HeaderValue::from_str(&LIVE_REFRESH_SECS.to_string())
        {
            response.headers_mut().insert(
                actix_web::http::header::HeaderName::from_static("refresh"),
                v,
            );
        }
    }
    response
}
