//! The JSON API under `/api/v1/` (documented in `admin/API.md`): the same
//! operations as the pages, for scripts, authenticated with HTTP Basic.
//! Bodies and results are JSON; data objects convert as [`super::json`]
//! describes. Failures are `{"error": text, "code": code}` with the status
//! of [`super::error::status_of`].

pub mod accounts;
pub mod domains;
pub mod forwarders;
pub mod groups;
pub mod openapi;
pub mod queue;
pub mod server;

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use serde_json::json;

use super::WebState;
use super::auth::{ApiCaller, Caller};
use super::json::to_json;
use crate::cli::command::Command;
use crate::cli::session::VERSION;
use crate::data::Value;
use crate::error::Error;

/// Runs a command and answers 200 with its data as JSON.
pub async fn read(
    state: &WebState,
    caller: &Caller,
    command: Command,
) -> Result<HttpResponse, Error> {
    let value = state.api.execute(&caller.account, command).await?;
    Ok(HttpResponse::Ok().json(to_json(&value.unwrap_or(Value::Null))))
}

/// Runs a command and answers `status` with no body (201/204).
pub async fn change(
    state: &WebState,
    caller: &Caller,
    command: Command,
    status: StatusCode,
) -> Result<HttpResponse, Error> {
    state.api.execute(&caller.account, command).await?;
    Ok(HttpResponse::build(status).finish())
}

/// `GET /api/v1/server`: version, main domain, and who is asking; for
/// administrators also this node's open sessions per protocol and the
/// base directory's disk space (`null` where unknown).
pub async fn server(
    state: web::Data<WebState>,
    ApiCaller(caller): ApiCaller,
) -> Result<HttpResponse, Error> {
    let main = state
        .api
        .execute(&caller.account, Command::MainDomainName)
        .await?
        .unwrap_or(Value::Null);
    let mut body = json!({
        "version": VERSION,
        "mainDomain": to_json(&main),
        "account": caller.account.address(),
        "administrator": caller.admin,
    });
    if caller.admin {
        body["sessions"] = json!(state.api.session_counts());
        let node: serde_json::Map<String, serde_json::Value> = state
            .api
            .node_settings()
            .into_iter()
            .map(|(k, v)| (k, json!(v)))
            .collect();
        body["node"] = json!(node);
        body["lastMinute"] = json!(state.api.last_minute().map(|(accepted, delivered)| {
            json!({"accepted": accepted, "delivered": delivered})
        }));
        body["cluster"] = json!(state.api.cluster_activity().await.map(|c| json!({
            "accepted": c.accepted,
            "delivered": c.delivered,
            "sessions": c.sessions,
            "membersCounted": c.counted,
            "members": c.members,
        })));
        body["disk"] = json!(state.api.disk_usage().await.map(|d| json!({
            "total": d.total, "used": d.used, "available": d.available,
        })));
    }
    Ok(HttpResponse::Ok().json(body))
}

/// Requires a JSON object body field to be a string.
///
/// # Errors
/// `BadArgument` naming the field.
pub fn string_field(body: &serde_json::Value, field: &str) -> Result<String, Error> {
    body.get(field)
        .and_then(serde_json::Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| Error::BadArgument(format!("\"{field}\" must be a string")))
}

/// Requires a JSON body to be an object.
///
/// # Errors
/// `BadArgument`.
pub fn object(
    body: &serde_json::Value,
) -> Result<&serde_json::Map<String, serde_json::Value>, Error> {
    body.as_object()
        .ok_or_else(|| Error::BadArgument("the body must be a JSON object".into()))
}

/// Requires a JSON body to be an array of strings.
///
/// # Errors
/// `BadArgument`.
pub fn strings(body: &serde_json::Value) -> Result<Vec<String>, Error> {
    body.as_array()
        .and_then(|items| {
            items
                .iter()
                .map(|a| a.as_str().map(str::to_string))
                .collect::<Option<Vec<_>>>()
        })
        .ok_or_else(|| Error::BadArgument("the body must be an array of strings".into()))
}
