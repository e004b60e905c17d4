//! `/api/v1/domains`: list, create, delete, settings, accounts of a domain.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use serde::Deserialize;

use super::{change, object, read, string_field};
use crate::cli::command::Command;
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
