//! One account: settings, aliases, mailboxes with message counts and
//! sizes, and the forms to change its password, rename it, create a
//! mailbox, or delete it (after a confirmation page). Users who are not
//! administrators see their own account and may change their password and
//! create mailboxes; the AdminApi decides, the page only hides what it
//! would refuse.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use maud::html;
use serde::Deserialize;

use super::{act, failed, fetch, parse_settings, settings_card};
use crate::cli::command::Command;
use crate::data::{Dict, Value};
use crate::error::Error;
use crate::web::WebState;
use crate::web::auth::{PageCaller, Posted};
use crate::web::view;

fn domain_of(address: &str) -> &str {
    address.rsplit_once('@').map_or("", |(_, d)| d)
}

/// `GET /accounts/{address}`.
pub async fn show(
    state: web::Data<WebState>,
    PageCaller(caller): PageCaller,
    address: web::Path<String>,
) -> HttpResponse {
    let address = address.into_inner().to_lowercase();
    let settings = match fetch(
        &state,
        &caller,
        Command::GetAccountSettings {
            name: address.clone(),
        },
    )
    .await
    {
        Ok(v) => v,
        Err(page) => return page,
    };
    let aliases = match fetch(
        &state,
        &caller,
        Command::GetAccountAliases {
            name: address.clone(),
        },
    )
    .await
    {
        Ok(v) => v,
        Err(page) => return page,
    };
    let mailboxes = match fetch(
        &state,
        &caller,
        Command::ListMailboxes {
            account: address.clone(),
            filter: None,
        },
    )
    .await
    {
        Ok(v) => v,
        Err(page) => return page,
    };
    let subscribed = match fetch(
        &state,
        &caller,
        Command::GetAccountSubscription {
            account: address.clone(),
        },
    )
    .await
    {
        Ok(v) => v,
        Err(page) => return page,
    };
    let subscribed: Vec<String> = subscribed
        .as_array()
        .unwrap_or_default()
        .iter()
        .filter_map(Value::as_str)
        .map(str::to_string)
        .collect();
    let alias_list: Vec<&str> = aliases
        .as_array()
        .unwrap_or_default()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let empty = Dict::new();
    let boxes = mailboxes.as_dict().unwrap_or(&empty);
    let number = |info: &Value, key: &str| {
        info.as_dict()
            .and_then(|d| d.get(key))
            .and_then(Value::as_number)
            .unwrap_or(0)
    };
    let base = view::account_url(&address);
    let domain = domain_of(&address);
    let body = html! {
        @if caller.admin {
            p.crumbs {
                a href="/domains" { "Domains" } " / "
                a href=(view::domain_url(domain)) { (domain) } " / "
                (address)
            }
        }
        h1 { (address) }
        div.grid {
            div.card style="grid-column:span 2" {
                h2 { "Mailboxes" }
                table {
                    thead { tr { th { "Mailbox" } th { "Messages" } th { "Size" } } }
                    tbody {
                        @for (name, info) in boxes {
                            tr {
                                td { (name) }
                                td.num { (number(info, "Messages")) }
                                td.num { (view::size(number(info, "Size"))) }
                            }
                        }
                    }
                }
                form.inline method="post" action={ (base) "/mailboxes" } style="margin-top:.75rem" {
                    (view::csrf_field(&caller))
                    input type="text" name="mailbox" placeholder="New mailbox, e.g. Archive/2024" required;
                    button type="submit" { "Create mailbox" }
                }
            }
            div.card {
                h2 { "Password" }
                form method="post" action={ (base) "/password" } {
                    (view::csrf_field(&caller))
                    label for="password" { "New password" }
                    input type="password" id="password" name="password" autocomplete="new-password" required;
                    label for="confirm" { "Repeat it" }
                    input type="password" id="confirm" name="confirm" autocomplete="new-password" required;
                    button type="submit" { "Set password" }
                }
            }
        }
        div.grid {
            div.card {
                h2 { "Aliases" }
                @if alias_list.is_empty() {
                    p.muted { "No aliases." }
                } @else {
                    p { @for a in &alias_list { span.tag { (a) } " " } }
                }
                @if caller.admin {
                    form method="post" action={ (base) "/aliases" } {
                        (view::csrf_field(&caller))
                        label for="aliases" { "Aliases, separated by commas or spaces (the whole list)" }
                        input type="text" id="aliases" name="aliases" value=(alias_list.join(", "));
                        button type="submit" { "Save aliases" }
                    }
                }
            }
            div.card {
                h2 { "Subscriptions" }
                form method="post" action={ (base) "/subscriptions" } {
                    (view::csrf_field(&caller))
                    label for="subscriptions" { "Subscribed mailboxes (IMAP), one a line" }
                    textarea id="subscriptions" name="subscriptions" { (subscribed.join("\n")) }
                    button type="submit" { "Save subscriptions" }
                }
            }
            @if caller.admin {
                div.card {
                    h2 { "Sessions" }
                    p { "Close this account's POP3 and IMAP sessions on this node." }
                    form method="post" action={ (base) "/kill-sessions" } {
                        (view::csrf_field(&caller))
                        button.danger type="submit" { "Close sessions" }
                    }
                }
                div.card {
                    h2 { "Rename" }
                    form method="post" action={ (base) "/rename" } {
                        (view::csrf_field(&caller))
                        label for="new" { "New name (name, or name@domain to move it)" }
                        input type="text" id="new" name="new" required;
                        button type="submit" { "Rename account" }
                    }
                    p { a href={ (base) "/delete" } { "Delete this account…" } }
                }
            }
        }
        (settings_card(&caller, &settings, &format!("{base}/settings")))
    };
    view::html_response(StatusCode::OK, view::page(&address, Some(&caller), body))
}

/// A settings form.
#[derive(Deserialize)]
pub struct SettingsForm {
    #[serde(default)]
    settings: String,
}

/// `POST /accounts/{address}/settings`.
pub async fn update_settings(
    state: web::Data<WebState>,
    address: web::Path<String>,
    posted: Posted<SettingsForm>,
) -> HttpResponse {
    let address = address.into_inner();
    let back = view::account_url(&address);
    let settings = match parse_settings(&posted.form.settings) {
        Ok(s) => s,
        Err(e) => return failed(&state, &posted, &e, &back),
    };
    let command = Command::UpdateAccountSettings {
        name: address,
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

/// The password form.
#[derive(Deserialize)]
pub struct PasswordForm {
    #[serde(default)]
    password: String,
    #[serde(default)]
    confirm: String,
}

/// `POST /accounts/{address}/password`.
pub async fn set_password(
    state: web::Data<WebState>,
    address: web::Path<String>,
    posted: Posted<PasswordForm>,
) -> HttpResponse {
    let address = address.into_inner();
    let back = view::account_url(&address);
    if posted.form.password != posted.form.confirm {
        let e = Error::BadArgument("The two passwords differ".into());
        return failed(&state, &posted, &e, &back);
    }
    if posted.form.password.is_empty() {
        let e = Error::BadArgument("The password is empty".into());
        return failed(&state, &posted, &e, &back);
    }
    let command = Command::SetAccountPassword {
        name: address,
        password: posted.form.password.clone(),
        check: !posted.caller.admin,
    };
    act(
        &state,
        &posted,
        command,
        "Password changed".into(),
        &back,
        &back,
    )
    .await
}

/// The aliases form.
#[derive(Deserialize)]
pub struct AliasesForm {
    #[serde(default)]
    aliases: String,
}

/// `POST /accounts/{address}/aliases`.
pub async fn set_aliases(
    state: web::Data<WebState>,
    address: web::Path<String>,
    posted: Posted<AliasesForm>,
) -> HttpResponse {
    let address = address.into_inner();
    let back = view::account_url(&address);
    let aliases = posted
        .form
        .aliases
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|a| !a.is_empty())
        .map(str::to_lowercase)
        .collect();
    let command = Command::SetAccountAliases {
        name: address,
        aliases,
    };
    act(
        &state,
        &posted,
        command,
        "Aliases saved".into(),
        &back,
        &back,
    )
    .await
}

/// The rename form.
#[derive(Deserialize)]
pub struct RenameForm {
    #[serde(default)]
    new: String,
}

/// `POST /accounts/{address}/rename`. A bare new name stays in the
/// account's domain.
pub async fn rename(
    state: web::Data<WebState>,
    address: web::Path<String>,
    posted: Posted<RenameForm>,
) -> HttpResponse {
    let address = address.into_inner().to_lowercase();
    let new = posted.form.new.trim().to_lowercase();
    let new = if new.contains('@') {
        new
    } else {
        format!("{new}@{}", domain_of(&address))
    };
    let command = Command::RenameAccount {
        old: address.clone(),
        new: new.clone(),
    };
    act(
        &state,
        &posted,
        command,
        format!("Account {address} renamed to {new}"),
        &view::account_url(&new),
        &view::account_url(&address),
    )
    .await
}

/// The create-mailbox form.
#[derive(Deserialize)]
pub struct MailboxForm {
    #[serde(default)]
    mailbox: String,
}

/// `POST /accounts/{address}/mailboxes`.
pub async fn create_mailbox(
    state: web::Data<WebState>,
    address: web::Path<String>,
    posted: Posted<MailboxForm>,
) -> HttpResponse {
    let address = address.into_inner();
    let back = view::account_url(&address);
    let mailbox = posted.form.mailbox.trim().to_string();
    let command = Command::CreateMailbox {
        account: address,
        mailbox: mailbox.clone(),
    };
    act(
        &state,
        &posted,
        command,
        format!("Mailbox {mailbox} created"),
        &back,
        &back,
    )
    .await
}

/// `GET /accounts/{address}/delete`: asks for confirmation.
pub async fn confirm_delete(
    PageCaller(caller): PageCaller,
    address: web::Path<String>,
) -> HttpResponse {
    if !caller.admin {
        return super::forbidden();
    }
    let address = address.into_inner();
    let base = view::account_url(&address);
    let body = html! {
        div.card {
            h1 { "Delete account " (address) "?" }
            p { "The account, its mailboxes and all its mail are deleted. This cannot be undone." }
            form method="post" action={ (base) "/delete" } {
                (view::csrf_field(&caller))
                button.danger type="submit" { "Delete account" }
            }
            p { a href=(base) { "Cancel" } }
        }
    };
    view::html_response(
        StatusCode::OK,
        view::page("Delete account", Some(&caller), body),
    )
}

/// The delete-account form has only the CSRF token.
#[derive(Deserialize)]
pub struct DeleteForm {}

/// `POST /accounts/{address}/delete`.
pub async fn delete(
    state: web::Data<WebState>,
    address: web::Path<String>,
    posted: Posted<DeleteForm>,
) -> HttpResponse {
    let address = address.into_inner();
    let domain = domain_of(&address).to_string();
    let command = Command::DeleteAccount {
        name: address.clone(),
    };
    act(
        &state,
        &posted,
        command,
        format!("Account {address} deleted"),
        &view::domain_url(&domain),
        &view::account_url(&address),
    )
    .await
}

/// The subscriptions form.
#[derive(Deserialize)]
pub struct SubscriptionsForm {
    #[serde(default)]
    subscriptions: String,
}

/// `POST /accounts/{address}/subscriptions`: replaces the list.
pub async fn set_subscriptions(
    state: web::Data<WebState>,
    address: web::Path<String>,
    posted: Posted<SubscriptionsForm>,
) -> HttpResponse {
    let address = address.into_inner();
    let back = view::account_url(&address);
    // Mailbox names may hold commas: one a line only.
    let mailboxes = posted
        .form
        .subscriptions
        .lines()
        .map(str::trim)
        .filter(|m| !m.is_empty())
        .map(str::to_string)
        .collect();
    let command = Command::SetAccountSubscription {
        account: address,
        mailboxes,
    };
    act(
        &state,
        &posted,
        command,
        "Subscriptions saved".into(),
        &back,
        &back,
    )
    .await
}

/// The close-sessions button's form has only the CSRF token.
#[derive(Deserialize)]
pub struct KillForm {}

/// `POST /accounts/{address}/kill-sessions`.
pub async fn kill_sessions(
    state: web::Data<WebState>,
    address: web::Path<String>,
    posted: Posted<KillForm>,
) -> HttpResponse {
    let address = address.into_inner();
    let back = view::account_url(&address);
    let command = Command::KillAccountSessions {
        name: address.clone(),
    };
    act(
        &state,
        &posted,
        command,
        format!("Sessions of {address} closed"),
        &back,
        &back,
    )
    .await
}
