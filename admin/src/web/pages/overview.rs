//! `GET /`: the overview an administrator lands on.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use maud::html;

use super::fetch;
use crate::cli::command::Command;
use crate::cli::session::VERSION;
use crate::web::WebState;
use crate::web::auth::PageCaller;
use crate::web::view;

/// The overview: main domain, version, domain and account counts.
pub async fn show(state: web::Data<WebState>, PageCaller(caller): PageCaller) -> HttpResponse {
    if !caller.admin {
        return view::redirect(&view::account_url(&caller.account.address()));
    }
    let main = match fetch(&state, &caller, Command::MainDomainName).await {
        Ok(v) => v.as_str().unwrap_or_default().to_string(),
        Err(page) => return page,
    };
    let domains = match fetch(&state, &caller, Command::ListDomains).await {
        Ok(v) => v,
        Err(page) => return page,
    };
    let mut rows = Vec::new();
    for d in domains.as_array().unwrap_or_default() {
        let Some(name) = d.as_str() else { continue };
        let accounts = fetch(
            &state,
            &caller,
            Command::ListAccounts {
                domain: Some(name.to_string()),
            },
        )
        .await
        .ok()
        .and_then(|v| v.as_dict().map(|d| d.len()))
        .unwrap_or(0);
        rows.push((name.to_string(), accounts));
    }
    let total: usize = rows.iter().map(|(_, n)| n).sum();
    let body = html! {
        h1 { "Overview" }
        div.stats {
            div.stat { b { (main) } span { "Main domain" } }
            div.stat { b { (rows.len()) } span { "Domains" } }
            div.stat { b { (total) } span { "Accounts" } }
            div.stat { b { (VERSION) } span { "Mailnode version" } }
        }
        div.card style="margin-top:1.25rem" {
            h2 { "Domains" }
            table {
                thead { tr { th { "Domain" } th { "Accounts" } } }
                tbody {
                    @for (name, n) in &rows {
                        tr {
                            td {
                                a href=(view::domain_url(name)) { (name) }
                                @if *name == main { " " span.tag { "main" } }
                            }
                            td.num { (n) }
                        }
                    }
                }
            }
            p { a href="/domains" { "Manage domains →" } }
        }
    };
    view::html_response(StatusCode::OK, view::page("Overview", Some(&caller), body))
}
