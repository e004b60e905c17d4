//! `/api/v1/queue`: the relay queue, paged (`ListQueue`), releasing a
//! domain's messages (`ReleaseSMTPQueue`) and rejecting a message with a
//! bounce (`RejectQueueMessage`).

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};

use super::{change, string_field};
use crate::cli::command::Command;
use crate::error::Error;
use crate::web::WebState;
use crate::web::auth::ApiCaller;
use crate::web::json::to_json;
use crate::web::paging::{Paging, TOTAL_HEADER};

/// `GET /api/v1/queue?offset=&limit=` → `[{"id", "from", "recipients":
/// [{"address", "state", "lastError"?}], "attempts", "nextAttempt", …}]`,
/// `X-Total-Count`.
pub async fn list(
    state: web::Data<WebState>,
    ApiCaller(caller): ApiCaller,
    paging: web::Query<Paging>,
) -> Result<HttpResponse, Error> {
    let (total, items) = state
        .api
        .queue_page(&caller.account, paging.offset, paging.limit())
        .await?;
    let items: Vec<serde_json::Value> = items.iter().map(to_json).collect();
    Ok(HttpResponse::Ok()
        .insert_header((TOTAL_HEADER, total.to_string()))
        .json(items))
}

/// `POST /api/v1/queue/release {"domain"}` → 204: that domain's messages
/// (`*`: all) are due now.
pub async fn release(
    state: web::Data<WebState>,
    ApiCaller(caller): ApiCaller,
    body: web::Json<serde_json::Value>,
) -> Result<HttpResponse, Error> {
    let command = Command::ReleaseSmtpQueue {
        queue: string_field(&body, "domain")?,
    };
    change(&state, &caller, command, StatusCode::NO_CONTENT).await
}

/// `POST /api/v1/queue/{id}/reject {"reason"?}` → 204: the message's
/// pending recipients fail and the sender gets a bounce.
pub async fn reject(
    state: web::Data<WebState>,
    ApiCaller(caller): ApiCaller,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, Error> {
    let id: u64 = id
        .parse()
        .map_err(|_| Error::not_found(format!("Unknown queue message {id}")))?;
    // The body is optional, but one that is sent must be JSON: a reason
    // lost to a typo would bounce the message without it.
    let body: Option<serde_json::Value> = if body.trim_ascii().is_empty() {
        None
    } else {
        Some(
            serde_json::from_slice(&body)
                .map_err(|e| Error::BadArgument(format!("Bad JSON body: {e}")))?,
        )
    };
    let text = match &body {
        None => None,
        Some(b) => match super::object(b)?.get("reason") {
            None | Some(serde_json::Value::Null) => None,
            Some(_) => Some(string_field(b, "reason")?),
        },
    };
    let command = Command::RejectQueueMessage { id, text };
    change(&state, &caller, command, StatusCode::NO_CONTENT).await
}
