//! `/api/v1/domains/{domain}/forwarders`: list (paged), create, delete.
//! A forwarder is a name in a domain that forwards to one address
//! (CommuniGate's `CreateForwarder name TO address`).

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};

use super::{change, string_field};
use crate::cli::command::Command;
use crate::error::Error;
use crate::web::WebState;
use crate::web::auth::{ApiCaller, Caller};
use crate::web::paging::{Paging, TOTAL_HEADER};

/// One page of a domain's forwarders with their targets, and how many
/// there are in all (read in one pass over the directory, never the whole
/// list).
///
/// # Errors
/// As `ListForwarders`.
pub async fn page(
    state: &WebState,
    caller: &Caller,
    domain: &str,
    paging: &Paging,
) -> Result<(usize, Vec<(String, String)>), Error> {
    state
        .api
        .forwarder_page(
            &caller.account,
            domain,
            paging.q.trim(),
            paging.offset,
            paging.limit(),
        )
        .await
}

/// `GET /api/v1/domains/{domain}/forwarders?offset=&limit=` →
/// `{"name": "target", …}`, `X-Total-Count`.
pub async fn list(
    state: web::Data<WebState>,
    ApiCaller(caller): ApiCaller,
    domain: web::Path<String>,
    paging: web::Query<Paging>,
) -> Result<HttpResponse, Error> {
    let (total, rows) = page(&state, &caller, &domain, &paging).await?;
    let body: serde_json::Map<String, serde_json::Value> = rows
        .into_iter()
        .map(|(n, to)| (n, serde_json::Value::String(to)))
        .collect();
    Ok(HttpResponse::Ok()
        .insert_header((TOTAL_HEADER, total.to_string()))
        .json(body))
}

/// `POST /api/v1/domains/{domain}/forwarders {"name", "to"}` → 201.
pub async fn create(
    state: web::Data<WebState>,
    ApiCaller(caller): ApiCaller,
    domain: web::Path<String>,
    body: web::Json<serde_json::Value>,
) -> Result<HttpResponse, Error> {
    let command = Command::CreateForwarder {
        name: format!("{}@{domain}", string_field(&body, "name")?),
        to: string_field(&body, "to")?,
    };
    change(&state, &caller, command, StatusCode::CREATED).await
}

/// `DELETE /api/v1/domains/{domain}/forwarders/{name}` → 204.
pub async fn delete(
    state: web::Data<WebState>,
    ApiCaller(caller): ApiCaller,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, Error> {
    let (domain, name) = path.into_inner();
    let command = Command::DeleteForwarder {
        name: format!("{name}@{domain}"),
    };
    change(&state, &caller, command, StatusCode::NO_CONTENT).await
}
