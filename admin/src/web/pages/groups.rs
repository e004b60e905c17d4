//! A domain's groups: the paged list with members, the create form, one
//! group's page (members and settings) and the delete button.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use maud::html;
use serde::Deserialize;

use super::{act, display, entries, failed, fetch, pager, parse_settings, unless_admin};
use crate::cli::command::Command;
use crate::data::{Dict, Value};
use crate::web::WebState;
use crate::web::auth::{PageCaller, Posted};
use crate::web::error::status_of;
use crate::web::paging::Paging;
use crate::web::view;

/// The group setting holding the member array.
const MEMBERS: &str = "Members";

fn base(domain: &str) -> String {
    format!("{}/groups", view::domain_url(domain))
}

fn group_url(domain: &str, name: &str) -> String {
    format!("{}/{}", base(domain), view::segment(name))
}

/// `GET /domains/{domain}/groups?q=&offset=&limit=`.
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
    let page = state
        .api
        .group_page(
            &caller.account,
            &domain,
            paging.q.trim(),
            paging.offset,
            paging.limit(),
        )
        .await;
    let (total, rows) = match page {
        Ok(p) => p,
        Err(e) => return view::error_page(status_of(&e), &e.to_string()),
    };
    let base = base(&domain);
    let body = html! {
        p.crumbs {
            a href="/domains" { "Domains" } " / "
            a href=(view::domain_url(&domain)) { (domain) } " / groups"
        }
        h1 { "Groups of " (domain) }
        div.grid {
            div.card style="grid-column:span 2" {
                form.inline method="get" action=(base) {
                    input type="search" name="q" value=(paging.q) placeholder="Search groups";
                    button type="submit" { "Search" }
                }
                table {
                    thead { tr { th { "Group" } th { "Members" } th {} } }
                    tbody {
                        @for (name, members) in &rows {
                            tr {
                                td { a href=(group_url(&domain, name)) { (name) "@" (domain) } }
                                td {
                                    @for m in members { span.tag { (m) } " " }
                                    @if members.is_empty() { span.muted { "none" } }
                                }
                                td {
                                    form method="post" action={ (group_url(&domain, name)) "/delete" } {
                                        (view::csrf_field(&caller))
                                        button.danger type="submit" style="margin-top:0" { "Delete" }
                                    }
                                }
                            }
                        }
                    }
                }
                @if rows.is_empty() { p.muted { "No groups." } }
                (pager(&paging, &base, total))
            }
            div.card {
                h2 { "Create a group" }
                form method="post" action=(base) {
                    (view::csrf_field(&caller))
                    label for="name" { "Name (in " (domain) ")" }
                    input type="text" id="name" name="name" required;
                    label for="members" { "Members, one address a line" }
                    textarea id="members" name="members" placeholder="ann\nbob@example.org" {}
                    button type="submit" { "Create group" }
                }
            }
        }
    };
    view::html_response(StatusCode::OK, view::page("Groups", Some(&caller), body))
}

/// `GET /domains/{domain}/groups/{name}`: members and other settings.
pub async fn show(
    state: web::Data<WebState>,
    PageCaller(caller): PageCaller,
    path: web::Path<(String, String)>,
) -> HttpResponse {
    if let Some(page) = unless_admin(&caller) {
        return page;
    }
    let (domain, name) = path.into_inner();
    let (domain, name) = (domain.to_lowercase(), name.to_lowercase());
    let group = match fetch(
        &state,
        &caller,
        Command::GetGroup {
            name: format!("{name}@{domain}"),
        },
    )
    .await
    {
        Ok(v) => v,
        Err(page) => return page,
    };
    let mut settings = group.as_dict().cloned().unwrap_or_default();
    let members: Vec<String> = match settings.remove(MEMBERS) {
        Some(Value::Array(items)) => items.iter().map(display).collect(),
        _ => Vec::new(),
    };
    let url = group_url(&domain, &name);
    let body = html! {
        p.crumbs {
            a href="/domains" { "Domains" } " / "
            a href=(view::domain_url(&domain)) { (domain) } " / "
            a href=(base(&domain)) { "groups" } " / " (name)
        }
        h1 { "Group " (name) "@" (domain) }
        div.card {
            form method="post" action=(url) {
                (view::csrf_field(&caller))
                label for="members" { "Members, one address a line (the whole list)" }
                textarea id="members" name="members" { (members.join("\n")) }
                label for="settings" { "Other settings (CommuniGate dictionary, replaces them)" }
                textarea id="settings" name="settings" {
                    (crate::data::to_text_pretty(&Value::Dict(settings.clone())))
                }
                button type="submit" { "Save group" }
            }
            form method="post" action={ (url) "/delete" } {
                (view::csrf_field(&caller))
                button.danger type="submit" { "Delete group" }
            }
        }
    };
    view::html_response(StatusCode::OK, view::page("Group", Some(&caller), body))
}

/// The create and save forms.
#[derive(Deserialize)]
pub struct GroupForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    members: String,
    /// Only on the group's own page; absent on create.
    #[serde(default)]
    settings: Option<String>,
}

fn group_settings(members: &str, mut settings: Dict) -> Dict {
    let members = entries(members).into_iter().map(Value::String).collect();
    settings.insert(MEMBERS.into(), Value::Array(members));
    settings
}

/// `POST /domains/{domain}/groups`.
pub async fn create(
    state: web::Data<WebState>,
    domain: web::Path<String>,
    posted: Posted<GroupForm>,
) -> HttpResponse {
    let domain = domain.into_inner().to_lowercase();
    let name = posted.form.name.trim().to_lowercase();
    let command = Command::CreateGroup {
        name: format!("{name}@{domain}"),
        settings: Some(group_settings(&posted.form.members, Dict::new())),
    };
    let back = base(&domain);
    act(
        &state,
        &posted,
        command,
        format!("Group {name}@{domain} created"),
        &group_url(&domain, &name),
        &back,
    )
    .await
}

/// `POST /domains/{domain}/groups/{name}`: replaces members and settings.
pub async fn save(
    state: web::Data<WebState>,
    path: web::Path<(String, String)>,
    posted: Posted<GroupForm>,
) -> HttpResponse {
    let (domain, name) = path.into_inner();
    let back = group_url(&domain, &name);
    let settings = match parse_settings(posted.form.settings.as_deref().unwrap_or("")) {
        Ok(s) => s,
        Err(e) => return failed(&state, &posted, &e, &back),
    };
    let command = Command::SetGroup {
        name: format!("{name}@{domain}"),
        settings: group_settings(&posted.form.members, settings),
    };
    act(&state, &posted, command, "Group saved".into(), &back, &back).await
}

/// The delete button's form has only the CSRF token.
#[derive(Deserialize)]
pub struct DeleteForm {}

/// `POST /domains/{domain}/groups/{name}/delete`.
pub async fn delete(
    state: web::Data<WebState>,
    path: web::Path<(String, String)>,
    posted: Posted<DeleteForm>,
) -> HttpResponse {
    let (domain, name) = path.into_inner();
    let command = Command::DeleteGroup {
        name: format!("{name}@{domain}"),
    };
    let back = base(&domain);
    act(
        &state,
        &posted,
        command,
        format!("Group {name}@{domain} deleted"),
        &back,
        &back,
    )
    .await
}
