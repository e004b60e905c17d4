//! Domains: the list, creating and deleting one (with a confirmation
//! page), its settings, and its accounts (searchable and paged) with the
//! form that creates an account.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use maud::html;
use serde::Deserialize;

use super::{
    act, display, entries, failed, fetch, forbidden, pager, parse_settings, settings_card,
    titled_settings_card,
};
use crate::cli::command::{Command, DefaultsOf};
use crate::data::{Dict, Value};
use crate::web::WebState;
use crate::web::auth::{PageCaller, Posted};
use crate::web::error::status_of;
use crate::web::paging::Paging;
use crate::web::view;

/// `GET /domains`.
pub async fn list(state: web::Data<WebState>, PageCaller(caller): PageCaller) -> HttpResponse {
    if !caller.admin {
        return forbidden();
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
        // A count only: an empty page of the list.
        let count = state
            .api
            .account_page(&caller.account, name, "", 0, 0)
            .await
            .map_or(0, |(n, _)| n);
        rows.push((name.to_string(), count));
    }
    let body = html! {
        h1 { "Domains" }
        div.grid {
            div.card style="grid-column:span 2" {
                table {
                    thead { tr { th { "Domain" } th { "Accounts" } th {} } }
                    tbody {
                        @for (name, n) in &rows {
                            tr {
                                td {
                                    a href=(view::domain_url(name)) { (name) }
                                    @if *name == main { " " span.tag { "main" } }
                                }
                                td.num { (n) }
                                td {
                                    @if *name != main {
                                        a href={ (view::domain_url(name)) "/delete" } { "Delete…" }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            div.card {
                h2 { "Create a domain" }
                form method="post" action="/domains" {
                    (view::csrf_field(&caller))
                    label for="name" { "Domain name" }
                    input type="text" id="name" name="name" placeholder="example.com" required;
                    button type="submit" { "Create domain" }
                }
            }
        }
    };
    view::html_response(StatusCode::OK, view::page("Domains", Some(&caller), body))
}

/// The create-domain form.
#[derive(Deserialize)]
pub struct CreateForm {
    #[serde(default)]
    name: String,
}

/// `POST /domains`.
pub async fn create(state: web::Data<WebState>, posted: Posted<CreateForm>) -> HttpResponse {
    let name = posted.form.name.trim().to_lowercase();
    let command = Command::CreateDomain {
        name: name.clone(),
        settings: None,
    };
    act(
        &state,
        &posted,
        command,
        format!("Domain {name} created"),
        &view::domain_url(&name),
        "/domains",
    )
    .await
}

/// `GET /domains/{domain}`: settings, accounts, create-account form.
pub async fn show(
    state: web::Data<WebState>,
    PageCaller(caller): PageCaller,
    domain: web::Path<String>,
    query: web::Query<Paging>,
) -> HttpResponse {
    if !caller.admin {
        return forbidden();
    }
    let domain = domain.into_inner().to_lowercase();
    let settings = match fetch(
        &state,
        &caller,
        Command::GetDomainSettings {
            name: Some(domain.clone()),
        },
    )
    .await
    {
        Ok(v) => v,
        Err(page) => return page,
    };
    let (total, shown) = match state
        .api
        .account_page(
            &caller.account,
            &domain,
            query.q.trim(),
            query.offset,
            query.limit(),
        )
        .await
    {
        Ok(p) => p,
        Err(e) => return view::error_page(status_of(&e), &e.to_string()),
    };
    let domain_state = match state.api.domain_state(&caller.account, &domain).await {
        Ok(s) => s,
        Err(e) => return view::error_page(status_of(&e), &e.to_string()),
    };
    let defaults = match fetch(
        &state,
        &caller,
        Command::AccountDefaults {
            of: DefaultsOf::Domain(Some(domain.clone())),
            change: None,
        },
    )
    .await
    {
        Ok(v) => v,
        Err(page) => return page,
    };
    let base = view::domain_url(&domain);
    let body = html! {
        p.crumbs { a href="/domains" { "Domains" } " / " (domain) }
        h1 {
            (domain)
            @if domain_state.suspended { " " span.tag.warn { "suspended" } }
        }
        div.grid {
            div.card style="grid-column:span 2" {
                h2 { "Accounts (" (total) ")" }
                form.inline method="get" action=(base) {
                    input type="search" name="q" value=(query.q) placeholder="Search accounts";
                    input type="hidden" name="limit" value=(query.limit());
                    button type="submit" { "Search" }
                }
                table {
                    thead { tr { th { "Account" } th { "Storage" } } }
                    tbody {
                        @for (name, kind) in &shown {
                            tr {
                                td { a href=(view::account_url(&format!("{name}@{domain}"))) { (name) } }
                                td { (display(kind)) }
                            }
                        }
                    }
                }
                @if total == 0 {
                    p.muted { "No accounts match." }
                }
                (pager(&query, &base, total))
                p {
                    a href={ (base) "/forwarders" } { "Forwarders (" (domain_state.forwarders) ") →" }
                    " · "
                    a href={ (base) "/groups" } { "Groups (" (domain_state.groups) ") →" }
                }
            }
            div.card {
                h2 { "Create an account" }
                form method="post" action={ (base) "/accounts" } {
                    (view::csrf_field(&caller))
                    label for="name" { "Account name" }
                    input type="text" id="name" name="name" required;
                    label for="kind" { "Type" }
                    select id="kind" name="kind" {
                        option value="MultiMailbox" selected { "MultiMailbox" }
                        option value="TextMailbox" { "TextMailbox" }
                        option value="MailDirMailbox" { "MailDirMailbox" }
                    }
                    label for="password" { "Password" }
                    input type="password" id="password" name="password" autocomplete="new-password";
                    button type="submit" { "Create account" }
                }
            }
        }
        div.grid {
            div.card {
                h2 { "State" }
                @if domain_state.suspended {
                    p { "Suspended: the domain's accounts cannot log in; mail is still accepted." }
                    form method="post" action={ (base) "/resume" } {
                        (view::csrf_field(&caller))
                        button type="submit" { "Resume domain" }
                    }
                } @else {
                    p { "Active." }
                    form method="post" action={ (base) "/suspend" } {
                        (view::csrf_field(&caller))
                        button.danger type="submit" { "Suspend domain" }
                    }
                }
            }
            div.card {
                h2 { "Domain aliases" }
                form method="post" action={ (base) "/aliases" } {
                    (view::csrf_field(&caller))
                    label for="aliases" { "Other names of " (domain) ", one a line (the whole list)" }
                    textarea id="aliases" name="aliases" { (domain_state.aliases.join("\n")) }
                    button type="submit" { "Save aliases" }
                }
            }
        }
        (settings_card(&caller, &settings, &format!("{base}/settings")))
        (titled_settings_card(&caller, "Account defaults", &defaults, &format!("{base}/account-defaults")))
        p { a href={ (base) "/delete" } { "Delete this domain…" } }
    };
    view::html_response(StatusCode::OK, view::page(&domain, Some(&caller), body))
}

/// A settings form.
#[derive(Deserialize)]
pub struct SettingsForm {
    #[serde(default)]
    settings: String,
}

/// `POST /domains/{domain}/settings`.
pub async fn update_settings(
    state: web::Data<WebState>,
    domain: web::Path<String>,
    posted: Posted<SettingsForm>,
) -> HttpResponse {
    let domain = domain.into_inner();
    let back = view::domain_url(&domain);
    let settings = match parse_settings(&posted.form.settings) {
        Ok(s) => s,
        Err(e) => return failed(&state, &posted, &e, &back),
    };
    let command = Command::UpdateDomainSettings {
        name: Some(domain),
        settings,
    };
    act(
        &state,
        &posted,
        command,
        "Settings saved".into(),
        &back,
        &back,
    )
    .await
}

/// `GET /domains/{domain}/delete`: asks for confirmation.
pub async fn confirm_delete(
    PageCaller(caller): PageCaller,
    domain: web::Path<String>,
) -> HttpResponse {
    if !caller.admin {
        return forbidden();
    }
    let domain = domain.into_inner();
    let body = html! {
        p.crumbs { a href="/domains" { "Domains" } " / " a href=(view::domain_url(&domain)) { (domain) } }
        div.card {
            h1 { "Delete domain " (domain) "?" }
            p { "This removes the domain from the directory and deletes its folder. It cannot be undone." }
            form method="post" action={ (view::domain_url(&domain)) "/delete" } {
                (view::csrf_field(&caller))
                label {
                    input type="checkbox" name="force" value="yes";
                    " Also delete all accounts of the domain and their mail"
                }
                button.danger type="submit" { "Delete domain" }
            }
        }
    };
    view::html_response(
        StatusCode::OK,
        view::page("Delete domain", Some(&caller), body),
    )
}

/// The delete-domain form.
#[derive(Deserialize)]
pub struct DeleteForm {
    #[serde(default)]
    force: Option<String>,
}

/// `POST /domains/{domain}/delete`.
pub async fn delete(
    state: web::Data<WebState>,
    domain: web::Path<String>,
    posted: Posted<DeleteForm>,
) -> HttpResponse {
    let domain = domain.into_inner();
    let command = Command::DeleteDomain {
        name: domain.clone(),
        force: posted.form.force.is_some(),
    };
    act(
        &state,
        &posted,
        command,
        format!("Domain {domain} deleted"),
        "/domains",
        &view::domain_url(&domain),
    )
    .await
}

/// The create-account form.
#[derive(Deserialize)]
pub struct CreateAccountForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    password: String,
}

/// `POST /domains/{domain}/accounts`.
pub async fn create_account(
    state: web::Data<WebState>,
    domain: web::Path<String>,
    posted: Posted<CreateAccountForm>,
) -> HttpResponse {
    let domain = domain.into_inner().to_lowercase();
    let name = posted.form.name.trim().to_lowercase();
    let address = format!("{name}@{domain}");
    let mut settings = Dict::new();
    if !posted.form.password.is_empty() {
        settings.insert(
            "Password".into(),
            Value::string(posted.form.password.clone()),
        );
    }
    let kind = posted.form.kind.trim();
    let command = Command::CreateAccount {
        name: address.clone(),
        kind: (!kind.is_empty()).then(|| kind.to_string()),
        settings: Some(settings),
    };
    act(
        &state,
        &posted,
        command,
        format!("Account {address} created"),
        &view::account_url(&address),
        &view::domain_url(&domain),
    )
    .await
}

/// The suspend and resume buttons' forms have only the CSRF token.
#[derive(Deserialize)]
pub struct EmptyForm {}

/// `POST /domains/{domain}/suspend` and `/resume`.
async fn set_suspended(
    state: &WebState,
    domain: String,
    posted: &Posted<EmptyForm>,
    suspend: bool,
) -> HttpResponse {
    let back = view::domain_url(&domain);
    let done = match suspend {
        true => format!("Domain {domain} suspended"),
        false => format!("Domain {domain} resumed"),
    };
    let command = Command::SuspendDomain {
        name: domain,
        suspend,
    };
    act(state, posted, command, done, &back, &back).await
}

/// `POST /domains/{domain}/suspend`.
pub async fn suspend(
    state: web::Data<WebState>,
    domain: web::Path<String>,
    posted: Posted<EmptyForm>,
) -> HttpResponse {
    set_suspended(&state, domain.into_inner(), &posted, true).await
}

/// `POST /domains/{domain}/resume`.
pub async fn resume(
    state: web::Data<WebState>,
    domain: web::Path<String>,
    posted: Posted<EmptyForm>,
) -> HttpResponse {
    set_suspended(&state, domain.into_inner(), &posted, false).await
}

/// The domain aliases form.
#[derive(Deserialize)]
pub struct AliasesForm {
    #[serde(default)]
    aliases: String,
}

/// `POST /domains/{domain}/aliases`: replaces the list.
pub async fn set_aliases(
    state: web::Data<WebState>,
    domain: web::Path<String>,
    posted: Posted<AliasesForm>,
) -> HttpResponse {
    let domain = domain.into_inner();
    let back = view::domain_url(&domain);
    let aliases = entries(&posted.form.aliases)
        .into_iter()
        .map(|a| a.to_lowercase())
        .collect();
    let command = Command::SetDomainAliases {
        name: Some(domain),
        aliases,
    };
    act(
        &state,
        &posted,
        command,
        "Domain aliases saved".into(),
        &back,
        &back,
    )
    .await
}

/// `POST /domains/{domain}/account-defaults`: merges the keys given.
pub async fn update_account_defaults(
    state: web::Data<WebState>,
    domain: web::Path<String>,
    posted: Posted<SettingsForm>,
) -> HttpResponse {
    let domain = domain.into_inner();
    let back = view::domain_url(&domain);
    let settings = match parse_settings(&posted.form.settings) {
        Ok(s) => s,
        Err(e) => return failed(&state, &posted, &e, &back),
    };
    let command = Command::AccountDefaults {
        of: DefaultsOf::Domain(Some(domain)),
        change: Some((settings, false)),
    };
    act(
        &state,
        &posted,
        command,
        "Account defaults saved".into(),
        &back,
        &back,
    )
    .await
}
