//! How administration failures look over HTTP.
//!
//! Every [`Error`] of the [`AdminApi`](crate::AdminApi) gets one status
//! and one stable code, used by the JSON API (`{"error": text, "code":
//! code}`) and by the pages (which show the same text the CLI prints).
//! A refusal carries its [`RefusalKind`]: a missing object is 404, the
//! rest (already exists, not empty, the main domain) conflicts with the
//! current state (409).

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde_json::json;

use crate::error::{Error, RefusalKind};

/// The HTTP status of an administration failure.
pub fn status_of(error: &Error) -> StatusCode {
    match error {
        Error::Syntax { .. }
        | Error::EmptyCommand
        | Error::UnknownCommand(_)
        | Error::BadArguments { .. }
        | Error::BadArgument(_) => StatusCode::BAD_REQUEST,
        Error::Refused {
            kind: RefusalKind::NotFound,
            ..
        } => StatusCode::NOT_FOUND,
        Error::Refused {
            kind: RefusalKind::Conflict,
            ..
        } => StatusCode::CONFLICT,
        Error::NotAllowed | Error::IncorrectPassword => StatusCode::FORBIDDEN,
        Error::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
    }
}

/// The stable machine-readable code of a status.
pub fn code_of(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "bad_request",
        401 => "unauthorized",
        403 => "forbidden",
        404 => "not_found",
        405 => "method_not_allowed",
        409 => "conflict",
        503 => "unavailable",
        _ => "error",
    }
}

/// A JSON error response.
pub fn json_error(status: StatusCode, message: &str) -> HttpResponse {
    HttpResponse::build(status).json(json!({"error": message, "code": code_of(status)}))
}

impl ResponseError for Error {
    fn status_code(&self) -> StatusCode {
        status_of(self)
    }

    fn error_response(&self) -> HttpResponse {
        let status = status_of(self);
        if status == StatusCode::SERVICE_UNAVAILABLE {
            // The details are for the log, not for the client.
            tracing::warn!(error = %self, "WebAdmin request failed");
        }
        json_error(status, &self.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_by_kind() {
        let refused = |r: cluster::Rejection| status_of(&Error::from(r));
        assert_eq!(
            refused(cluster::Rejection::AccountNotFound),
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            refused(cluster::Rejection::NotInQueue),
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            refused(cluster::Rejection::AccountExists),
            StatusCode::CONFLICT
        );
        assert_eq!(
            refused(cluster::Rejection::DomainNotEmpty),
            StatusCode::CONFLICT
        );
        // The kind decides, not the wording.
        assert_eq!(
            status_of(&Error::conflict("Unknown-looking text")),
            StatusCode::CONFLICT
        );
        assert_eq!(
            Error::from(cluster::Rejection::DomainNotFound).to_string(),
            "Unknown domain"
        );
        assert_eq!(status_of(&Error::NotAllowed), StatusCode::FORBIDDEN);
        assert_eq!(
            status_of(&Error::BadArgument("Unknown account type x".into())),
            StatusCode::BAD_REQUEST
        );
        assert_eq!(
            status_of(&Error::Unavailable("raft".into())),
            StatusCode::SERVICE_UNAVAILABLE
        );
        assert_eq!(code_of(StatusCode::CONFLICT), "conflict");
    }
}
