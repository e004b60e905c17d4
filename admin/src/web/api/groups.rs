//! `/api/v1/domains/{domain}/groups`: list (paged, with members), create,
//! read, replace, delete. A group distributes mail to its members
//! (CommuniGate's `CreateGroup name {Members=(...);}`).

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};

use super::{change, object, read, string_field, strings};
use crate::cli::command::Command;
use crate::data::{Dict, Value};
use crate::error::Error;
use crate::web::WebState;
use crate::web::auth::ApiCaller;
use crate::web::json::from_json_object;
use crate::web::paging::{Paging, TOTAL_HEADER};

/// `GET /api/v1/domains/{domain}/groups?q=&offset=&limit=` →
/// `{"name": ["member", …], …}`, `X-Total-Count`.
pub async fn list(
    state: web::Data<WebState>,
    ApiCaller(caller): ApiCaller,
    domain: web::Path<String>,
    paging: web::Query<Paging>,
) -> Result<HttpResponse, Error> {
    let (total, rows) = state
        .api
        .group_page(
            &caller.account,
            &domain,
            paging.q.trim(),
            paging.offset,
            paging.limit(),
        )
        .await?;
    let body: serde_json::Map<String, serde_json::Value> = rows
        .into_iter()
        .map(|(n, members)| (n, serde_json::json!(members)))
        .collect();
    Ok(HttpResponse::Ok()
        .insert_header((TOTAL_HEADER, total.to_string()))
        .json(body))
}

/// `POST /api/v1/domains/{domain}/groups {"name", "members"?}` → 201.
pub async fn create(
    state: web::Data<WebState>,
    ApiCaller(caller): ApiCaller,
    domain: web::Path<String>,
    body: web::Json<serde_json::Value>,
) -> Result<HttpResponse, Error> {
    let name = string_field(&body, "name")?;
    let mut settings = Dict::new();
    if let Some(members) = body.get("members").filter(|m| !m.is_null()) {
        let members = strings(members)
            .map_err(|_| Error::BadArgument("\"members\" must be an array of strings".into()))?;
        settings.insert(
            "Members".into(),
            Value::Array(members.into_iter().map(Value::String).collect()),
        );
    }
    let command = Command::CreateGroup {
        name: format!("{name}@{domain}"),
        settings: Some(settings),
    };
    change(&state, &caller, command, StatusCode::CREATED).await
}

/// `GET /api/v1/domains/{domain}/groups/{name}` → `{"Members": […], …}`.
pub async fn get(
    state: web::Data<WebState>,
    ApiCaller(caller): ApiCaller,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, Error> {
    let (domain, name) = path.into_inner();
    let command = Command::GetGroup {
        name: format!("{name}@{domain}"),
    };
    read(&state, &caller, command).await
}

/// `PUT /api/v1/domains/{domain}/groups/{name} {"Members": […], …}` → 204;
/// replaces the group.
pub async fn set(
    state: web::Data<WebState>,
    ApiCaller(caller): ApiCaller,
    path: web::Path<(String, String)>,
    body: web::Json<serde_json::Value>,
) -> Result<HttpResponse, Error> {
    let (domain, name) = path.into_inner();
    let command = Command::SetGroup {
        name: format!("{name}@{domain}"),
        settings: from_json_object(object(&body)?),
    };
    change(&state, &caller, command, StatusCode::NO_CONTENT).await
}

/// `DELETE /api/v1/domains/{domain}/groups/{name}` → 204.
pub async fn delete(
    state: web::Data<WebState>,
    ApiCaller(caller): ApiCaller,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, Error> {
    let (domain, name) = path.into_inner();
    let command = Command::DeleteGroup {
        name: format!("{name}@{domain}"),
    };
    change(&state, &caller, command, StatusCode::NO_CONTENT).await
}
