//! `/api/v1/accounts`: create, rename, delete, settings, password,
//! aliases, mailboxes. `{account}` is `name` (main domain) or
//! `name@domain`.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};

use super::{change, object, read, string_field};
use crate::cli::command::Command;
use crate::data::Value;
use crate::error::Error;
use crate::web::WebState;
use crate::web::auth::ApiCaller;
use crate::web::json::from_json_object;

/// `POST /api/v1/accounts {"name", "type"?, "password"?, "settings"?}` → 201.
pub async fn create(
    state: web::Data<WebState>,
    ApiCaller(caller): ApiCaller,
    body: web::Json<serde_json::Value>,
) -> Result<HttpResponse, Error> {
    let name = string_field(&body, "name")?;
    let kind = match body.get("type") {
        None | Some(serde_json::Value::Null) => None,
        Some(_) => Some(string_field(&body, "type")?),
    };
    let mut settings = match body.get("settings") {
        None | Some(serde_json::Value::Null) => Default::default(),
        Some(s) => from_json_object(object(s)?),
    };
    if body.get("password").is_some() {
        settings.insert(
            "Password".into(),
            Value::String(string_field(&body, "password")?),
        );
    }
    let command = Command::CreateAccount {
        name,
        kind,
        settings: Some(settings),
    };
    change(&state, &caller, command, StatusCode::CREATED).await
}

/// `DELETE /api/v1/accounts/{account}` → 204.
pub async fn delete(
    state: web::Data<WebState>,
    ApiCaller(caller): ApiCaller,
    account: web::Path<String>,
) -> Result<HttpResponse, Error> {
    let command = Command::DeleteAccount {
        name: account.into_inner(),
    };
    change(&state, &caller, command, StatusCode::NO_CONTENT).await
}

/// `POST /api/v1/accounts/{account}/rename {"name"}` → 204.
pub async fn rename(
    state: web::Data<WebState>,
    ApiCaller(caller): ApiCaller,
    account: web::Path<String>,
    body: web::Json<serde_json::Value>,
) -> Result<HttpResponse, Error> {
    let command = Command::RenameAccount {
        old: account.into_inner(),
        new: string_field(&body, "name")?,
    };
    change(&state, &caller, command, StatusCode::NO_CONTENT).await
}

/// `GET /api/v1/accounts/{account}/settings` → `{…}`.
pub async fn settings(
    state: web::Data<WebState>,
    ApiCaller(caller): ApiCaller,
    account: web::Path<String>,
) -> Result<HttpResponse, Error> {
    let command = Command::GetAccountSettings {
        name: account.into_inner(),
    };
    read(&state, &caller, command).await
}

/// `PATCH /api/v1/accounts/{account}/settings {…}` → 204; merges the keys.
pub async fn update_settings(
    state: web::Data<WebState>,
    ApiCaller(caller): ApiCaller,
    account: web::Path<String>,
    body: web::Json<serde_json::Value>,
) -> Result<HttpResponse, Error> {
    let command = Command::UpdateAccountSettings {
        name: account.into_inner(),
        settings: from_json_object(object(&body)?),
    };
    change(&state, &caller, command, StatusCode::NO_CONTENT).await
}

/// `PUT /api/v1/accounts/{account}/password {"password"}` → 204.
pub async fn set_password(
    state: web::Data<WebState>,
    ApiCaller(caller): ApiCaller,
    account: web::Path<String>,
    body: web::Json<serde_json::Value>,
) -> Result<HttpResponse, Error> {
    let password = string_field(&body, "password")?;
    if password.is_empty() {
        return Err(Error::BadArgument("The password is empty".into()));
    }
    let command = Command::SetAccountPassword {
        name: account.into_inner(),
        password,
        check: !caller.admin,
    };
    change(&state, &caller, command, StatusCode::NO_CONTENT).await
}

/// `GET /api/v1/accounts/{account}/aliases` → `["alias", …]`.
pub async fn aliases(
    state: web::Data<WebState>,
    ApiCaller(caller): ApiCaller,
    account: web::Path<String>,
) -> Result<HttpResponse, Error> {
    let command = Command::GetAccountAliases {
        name: account.into_inner(),
    };
    read(&state, &caller, command).await
}

/// `PUT /api/v1/accounts/{account}/aliases ["alias", …]` → 204; replaces
/// the list.
pub async fn set_aliases(
    state: web::Data<WebState>,
    ApiCaller(caller): ApiCaller,
    account: web::Path<String>,
    body: web::Json<serde_json::Value>,
) -> Result<HttpResponse, Error> {
    let aliases = body
        .as_array()
        .and_then(|items| {
            items
                .iter()
                .map(|a| a.as_str().map(str::to_string))
                .collect::<Option<Vec<_>>>()
        })
        .ok_or_else(|| Error::BadArgument("the body must be an array of strings".into()))?;
    let command = Command::SetAccountAliases {
        name: account.into_inner(),
        aliases,
    };
    change(&state, &caller, command, StatusCode::NO_CONTENT).await
}

/// `GET /api/v1/accounts/{account}/mailboxes` →
/// `{"INBOX": {"Messages": n, "Size": bytes, …}, …}`.
pub async fn mailboxes(
    state: web::Data<WebState>,
    ApiCaller(caller): ApiCaller,
    account: web::Path<String>,
) -> Result<HttpResponse, Error> {
    let command = Command::ListMailboxes {
        account: account.into_inner(),
        filter: None,
    };
    read(&state, &caller, command).await
}

/// `POST /api/v1/accounts/{account}/mailboxes {"name"}` → 201.
pub async fn create_mailbox(
    state: web::Data<WebState>,
    ApiCaller(caller): ApiCaller,
    account: web::Path<String>,
    body: web::Json<serde_json::Value>,
) -> Result<HttpResponse, Error> {
    let command = Command::CreateMailbox {
        account: account.into_inner(),
        mailbox: string_field(&body, "name")?,
    };
    change(&state, &caller, command, StatusCode::CREATED).await
}

/// `GET /api/v1/accounts/{account}/subscriptions` → `["INBOX", …]`
/// (`GetAccountSubscription`).
pub async fn subscriptions(
    state: web::Data<WebState>,
    ApiCaller(caller): ApiCaller,
    account: web::Path<String>,
) -> Result<HttpResponse, Error> {
    let command = Command::GetAccountSubscription {
        account: account.into_inner(),
    };
    read(&state, &caller, command).await
}

/// `PUT /api/v1/accounts/{account}/subscriptions ["INBOX", …]` → 204;
/// replaces the list (`SetAccountSubscription`).
pub async fn set_subscriptions(
    state: web::Data<WebState>,
    ApiCaller(caller): ApiCaller,
    account: web::Path<String>,
    body: web::Json<serde_json::Value>,
) -> Result<HttpResponse, Error> {
    let command = Command::SetAccountSubscription {
        account: account.into_inner(),
        mailboxes: super::strings(&body)?,
    };
    change(&state, &caller, command, StatusCode::NO_CONTENT).await
}

/// `POST /api/v1/accounts/{account}/kill-sessions` → 204: closes the
/// account's POP3 and IMAP sessions on this node (`KillAccountSessions`).
pub async fn kill_sessions(
    state: web::Data<WebState>,
    ApiCaller(caller): ApiCaller,
    account: web::Path<String>,
) -> Result<HttpResponse, Error> {
    let command = Command::KillAccountSessions {
        name: account.into_inner(),
    };
    change(&state, &caller, command, StatusCode::NO_CONTENT).await
}
