//! A domain's forwarders: the paged list with targets, the create form and
//! a delete button per forwarder.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use maud::html;
use serde::Deserialize;

use super::{act, pager, unless_admin};
use crate::cli::command::Command;
use crate::web::WebState;
use crate::web::api::forwarders::page;
use crate::web::auth::{PageCaller, Posted};
use crate::web::error::status_of;
use crate::web::paging::Paging;
use crate::web::view;

fn base(domain: &str) -> String {
    format!("{}/forwarders", view::domain_url(domain))
}

/// `GET /domains/{domain}/forwarders?q=&offset=&limit=`.
pub async fn list(
    state: web::Data<WebState>,
    PageCaller(caller): PageCaller,
    domain: web::Path<String>,
    paging: web::Query<Paging>,
) -> HttpResponse {
    if let Some(page) = unless_admin(&caller) {
        return page;
    }
    let domain = domain.into_inner().to_lowercase();
    let (total, rows) = match page(&state, &caller, &domain, &paging).await {
        Ok(p) => p,
        Err(e) => return view::error_page(status_of(&e), &e.to_string()),
    };
    let base = base(&domain);
    let body = html! {
        p.crumbs {
            a href="/domains" { "Domains" } " / "
            a href=(view::domain_url(&domain)) { (domain) } " / forwarders"
        }
        h1 { "Forwarders of " (domain) }
        div.grid {
            div.card style="grid-column:span 2" {
                form.inline method="get" action=(base) {
                    input type="search" name="q" value=(paging.q) placeholder="Search forwarders";
                    button type="submit" { "Search" }
                }
                table {
                    thead { tr { th { "Forwarder" } th { "Forwards to" } th {} } }
                    tbody {
                        @for (name, to) in &rows {
                            tr {
                                td { (name) "@" (domain) }
                                td { (to) }
                                td {
                                    form method="post" action={ (base) "/" (view::segment(name)) "/delete" } {
                                        (view::csrf_field(&caller))
                                        button.danger type="submit" style="margin-top:0" { "Delete" }
                                    }
                                }
                            }
                        }
                    }
                }
                @if rows.is_empty() { p.muted { "No forwarders." } }
                (pager(&paging, &base, total))
            }
            div.card {
                h2 { "Create a forwarder" }
                form method="post" action=(base) {
                    (view::csrf_field(&caller))
                    label for="name" { "Name (in " (domain) ")" }
                    input type="text" id="name" name="name" required;
                    label for="to" { "Forwards to" }
                    input type="text" id="to" name="to" placeholder="someone@example.org" required;
                    button type="submit" { "Create forwarder" }
                }
            }
        }
    };
    view::html_response(
        StatusCode::OK,
        view::page("Forwarders", Some(&caller), body),
    )
}

/// The create-forwarder form.
#[derive(Deserialize)]
pub struct CreateForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    to: String,
}

/// `POST /domains/{domain}/forwarders`.
pub async fn create(
    state: web::Data<WebState>,
    domain: web::Path<String>,
    posted: Posted<CreateForm>,
) -> HttpResponse {
    let domain = domain.into_inner().to_lowercase();
    let name = posted.form.name.trim().to_lowercase();
    let command = Command::CreateForwarder {
        name: format!("{name}@{domain}"),
        to: posted.form.to.trim().to_string(),
    };
    let back = base(&domain);
    act(
        &state,
        &posted,
        command,
        format!("Forwarder {name}@{domain} created"),
        &back,
        &back,
    )
    .await
}

/// The delete button's form has only the CSRF token.
#[derive(Deserialize)]
pub struct DeleteForm {}

/// `POST /domains/{domain}/forwarders/{name}/delete`.
pub async fn delete(
    state: web::Data<WebState>,
    path: web::Path<(String, String)>,
    posted: Posted<DeleteForm>,
) -> HttpResponse {
    let (domain, name) = path.into_inner();
    let command = Command::DeleteForwarder {
        name: format!("{name}@{domain}"),
    };
    let back = base(&domain);
    act(
        &state,
        &posted,
        command,
        format!("Forwarder {name}@{domain} deleted"),
        &back,
        &back,
    )
    .await
}
