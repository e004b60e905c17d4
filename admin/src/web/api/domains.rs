//! `/api/v1/domains`: list, create, delete, settings, accounts of a domain.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use serde::Deserialize;

use super::{change, object, read, string_field};
use crate::cli::command::{Command, DefaultsOf};
use crate::data::Value;
use crate::error::Error;
use crate::web::WebState;
use crate::web::auth::ApiCaller;
use crate::web::json::{from_json_object, to_json};
use crate::web::paging::{Paging, TOTAL_HEADER};

/// `GET /api/v1/domains` → `["example.com", …]`.
pub async fn list(
    state: web::Data<WebState>,
    ApiCaller(caller): ApiCaller,
) -> Result<HttpResponse, Error> {
    read(&state, &caller, Command::ListDomains).await
}

/// `POST /api/v1/domains {"name", "settings"?}` → 201.
pub async fn create(
    state: web::Data<WebState>,
    ApiCaller(caller): ApiCaller,
    body: web::Json<serde_json::Value>,
) -> Result<HttpResponse, Error> {
    let name = string_field(&body, "name")?;
    let settings = match body.get("settings") {
        None | Some(serde_json::Value::Null) => None,
        Some(s) => Some(from_json_object(object(s)?)),
    };
    let command = Command::CreateDomain { name, settings };
    change(&state, &caller, command, StatusCode::CREATED).await
}

/// `?force=true` on delete.
#[derive(Deserialize)]
pub struct DeleteQuery {
    #[serde(default)]
    force: bool,
}

/// `DELETE /api/v1/domains/{domain}[?force=true]` → 204.
pub async fn delete(
    state: web::Data<WebState>,
    ApiCaller(caller): ApiCaller,
    domain: web::Path<String>,
    query: web::Query<DeleteQuery>,
) -> Result<HttpResponse, Error> {
    let command = Command::DeleteDomain {
        name: domain.into_inner(),
        force: query.force,
    };
    change(&state, &caller, command, StatusCode::NO_CONTENT).await
}

/// `GET /api/v1/domains/{domain}/settings` → `{…}`.
pub async fn settings(
    state: web::Data<WebState>,
    ApiCaller(caller): ApiCaller,
    domain: web::Path<String>,
) -> Result<HttpResponse, Error> {
    let command = Command::GetDomainSettings {
        name: Some(domain.into_inner()),
    };
    read(&state, &caller, command).await
}

/// `PATCH /api/v1/domains/{domain}/settings {…}` → 204; merges the keys.
pub async fn update_settings(
    state: web::Data<WebState>,
    ApiCaller(caller): ApiCaller,
    domain: web::Path<String>,
    body: web::Json<serde_json::Value>,
) -> Result<HttpResponse, Error> {
    let command = Command::UpdateDomainSettings {
        name: Some(domain.into_inner()),
        settings: from_json_object(object(&body)?),
    };
    change(&state, &caller, command, StatusCode::NO_CONTENT).await
}

/// `GET /api/v1/domains/{domain}/accounts?q=&offset=&limit=` →
/// `{"name": "macnt", …}` (one page, names containing `q`),
/// `X-Total-Count`.
pub async fn accounts(
    state: web::Data<WebState>,
    ApiCaller(caller): ApiCaller,
    domain: web::Path<String>,
    paging: web::Query<Paging>,
) -> Result<HttpResponse, Error> {
    let (total, page) = state
        .api
        .account_page(
            &caller.account,
            &domain,
            &paging.q,
            paging.offset,
            paging.limit(),
        )
        .await?;
    Ok(HttpResponse::Ok()
        .insert_header((TOTAL_HEADER, total.to_string()))
        .json(to_json(&Value::Dict(page))))
}

/// `POST /api/v1/domains/{domain}/suspend` → 204 (`SuspendDomain`).
pub async fn suspend(
    state: web::Data<WebState>,
    ApiCaller(caller): ApiCaller,
    domain: web::Path<String>,
) -> Result<HttpResponse, Error> {
    let command = Command::SuspendDomain {
        name: domain.into_inner(),
        suspend: true,
    };
    change(&state, &caller, command, StatusCode::NO_CONTENT).await
}

/// `POST /api/v1/domains/{domain}/resume` → 204 (`ResumeDomain`).
pub async fn resume(
    state: web::Data<WebState>,
    ApiCaller(caller): ApiCaller,
    domain: web::Path<String>,
) -> Result<HttpResponse, Error> {
    let command = Command::SuspendDomain {
        name: domain.into_inner(),
        suspend: false,
    };
    change(&state, &caller, command, StatusCode::NO_CONTENT).await
}

/// `GET /api/v1/domains/{domain}/state` →
/// `{"suspended", "aliases", "accounts", "forwarders", "groups"}`.
pub async fn state(
    state: web::Data<WebState>,
    ApiCaller(caller): ApiCaller,
    domain: web::Path<String>,
) -> Result<HttpResponse, Error> {
    let s = state.api.domain_state(&caller.account, &domain).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "suspended": s.suspended,
        "aliases": s.aliases,
        "accounts": s.accounts,
        "forwarders": s.forwarders,
        "groups": s.groups,
    })))
}

/// `GET /api/v1/domains/{domain}/aliases` → `["alias.example", …]`.
pub async fn aliases(
    state: web::Data<WebState>,
    ApiCaller(caller): ApiCaller,
    domain: web::Path<String>,
) -> Result<HttpResponse, Error> {
    let command = Command::GetDomainAliases {
        name: Some(domain.into_inner()),
    };
    read(&state, &caller, command).await
}

/// `PUT /api/v1/domains/{domain}/aliases ["alias.example", …]` → 204;
/// replaces the list.
pub async fn set_aliases(
    state: web::Data<WebState>,
    ApiCaller(caller): ApiCaller,
    domain: web::Path<String>,
    body: web::Json<serde_json::Value>,
) -> Result<HttpResponse, Error> {
    let command = Command::SetDomainAliases {
        name: Some(domain.into_inner()),
        aliases: super::strings(&body)?,
    };
    change(&state, &caller, command, StatusCode::NO_CONTENT).await
}

/// `GET /api/v1/domains/{domain}/account-defaults` → `{…}`
/// (`GetAccountDefaults`).
pub async fn account_defaults(
    state: web::Data<WebState>,
    ApiCaller(caller): ApiCaller,
    domain: web::Path<String>,
) -> Result<HttpResponse, Error> {
    let command = Command::AccountDefaults {
        of: DefaultsOf::Domain(Some(domain.into_inner())),
        change: None,
    };
    read(&state, &caller, command).await
}

/// `PATCH /api/v1/domains/{domain}/account-defaults {…}` → 204; merges
/// the keys (`UpdateAccountDefaults`).
pub async fn update_account_defaults(
    state: web::Data<WebState>,
    ApiCaller(caller): ApiCaller,
    domain: web::Path<String>,
    body: web::Json<serde_json::Value>,
) -> Result<HttpResponse, Error> {
    let command = Command::AccountDefaults {
        of: DefaultsOf::Domain(Some(domain.into_inner())),
        change: Some((from_json_object(object(&body)?), false)),
    };
    change(&state, &caller, command, StatusCode::NO_CONTENT).await
}
