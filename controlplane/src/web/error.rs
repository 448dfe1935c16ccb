//! The one mapping from an API failure to HTTP: a `tonic::Status` (what every service
//! handler returns, itself the one mapping of [`crate::error::Error`]) becomes an HTTP status
//! and the console's error body
//! `{"error":{"code":"invalid_argument","message":"...","field":"page_size"}}`.
//!
//! `field` names the query parameter or body field at fault when one is known, else it is
//! empty. Codes: `invalid_argument` 400, `unauthenticated` 401, `permission_denied` 403,
//! `not_found` 404, `already_exists` and `aborted` 409, `failed_precondition` 409 (404 for a
//! capability that is not enabled), `resource_exhausted` 429, `unavailable` 503, `internal` 500.

use axum::extract::Request;
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use tonic::Code;

/// Proto field names of requests and the query parameter that sets each, where they differ.
const FIELD_NAMES: &[(&str, &str)] = &[("start_ns", "from_ns"), ("end_ns", "to_ns")];

/// Request fields an `invalid_argument` message may start with.
const KNOWN_FIELDS: &[&str] = &[
    "page_size",
    "page_token",
    "address",
    "start_ns",
    "end_ns",
    "since_ns",
    "until_ns",
    "sid",
    "text",
    "state",
    "value",
    "kind",
    "ttl_secs",
    "time_zone",
    "refresh_seconds",
    "default_range",
];

/// An answer that is not a success.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub field: String,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            field: String::new(),
        }
    }

    /// A bad query parameter or body field.
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        ApiError {
            field: field.to_owned(),
            ..Self::new(StatusCode::BAD_REQUEST, "invalid_argument", message)
        }
    }

    /// No credentials, or ones that are not (or no longer) valid.
    pub fn unauthenticated(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthenticated", message)
    }

    /// A known caller that may not do this (a missing CSRF token too).
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "permission_denied", message)
    }

    /// A route whose capability is off in the config.
    pub fn not_enabled(capability: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "failed_precondition",
            format!("{capability} is not enabled"),
        )
    }

    /// No such route.
    pub fn no_route(method: &str, path: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no route {method} {path} (see /api/v1/openapi.json)"),
        )
    }

    /// A cap is reached (sessions, WebSocket clients, refusals of a peer).
    pub fn exhausted(message: impl Into<String>) -> Self {
        Self::new(StatusCode::TOO_MANY_REQUESTS, "resource_exhausted", message)
    }

    /// The server cannot answer now (timeout, shutting down, a cap of connections).
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message)
    }

    /// An error of HTTP status `status` that something other than a handler answered (an
    /// extractor's rejection, a method not allowed), with its text as the message.
    pub fn of_status(status: StatusCode, message: impl Into<String>) -> Self {
        let code = match status.as_u16() {
            401 => "unauthenticated",
            403 => "permission_denied",
            404 | 405 => "not_found",
            409 => "aborted",
            413 | 429 => "resource_exhausted",
            400..=499 => "invalid_argument",
            503 | 504 => "unavailable",
            _ => "internal",
        };
        Self::new(status, code, message)
    }

    /// The JSON body.
    pub fn body(&self) -> serde_json::Value {
        serde_json::json!({
            "error": { "code": self.code, "message": self.message, "field": self.field }
        })
    }
}

/// The first word of a message, if it names a request field (`page_size 5000 exceeds ...`),
/// as the query parameter that sets it.
fn field_of(message: &str) -> String {
    let first = message
        .split(|c: char| c.is_whitespace() || c == '`' || c == ':')
        .next()
        .unwrap_or("");
    if !KNOWN_FIELDS.contains(&first) {
        return String::new();
    }
    FIELD_NAMES
        .iter()
        .find(|(proto, _)| *proto == first)
        .map_or(first, |(_, rest)| rest)
        .to_owned()
}

impl From<tonic::Status> for ApiError {
    fn from(s: tonic::Status) -> Self {
        let (status, code) = match s.code() {
            Code::InvalidArgument | Code::OutOfRange => {
                (StatusCode::BAD_REQUEST, "invalid_argument")
            }
            Code::Unauthenticated => (StatusCode::UNAUTHORIZED, "unauthenticated"),
            Code::PermissionDenied => (StatusCode::FORBIDDEN, "permission_denied"),
            Code::NotFound => (StatusCode::NOT_FOUND, "not_found"),
            Code::AlreadyExists => (StatusCode::CONFLICT, "already_exists"),
            Code::Aborted => (StatusCode::CONFLICT, "aborted"),
            Code::FailedPrecondition => (StatusCode::CONFLICT, "failed_precondition"),
            Code::ResourceExhausted => (StatusCode::TOO_MANY_REQUESTS, "resource_exhausted"),
            Code::Unavailable | Code::DeadlineExceeded | Code::Cancelled => {
                (StatusCode::SERVICE_UNAVAILABLE, "unavailable")
            }
            _ => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        };
        let field = if code == "invalid_argument" {
            field_of(s.message())
        } else {
            String::new()
        };
        ApiError {
            status,
            code,
            message: s.message().to_owned(),
            field,
        }
    }
}

impl From<crate::error::Error> for ApiError {
    fn from(e: crate::error::Error) -> Self {
        tonic::Status::from(e).into()
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(self.body())).into_response()
    }
}

/// Largest text of a rejection kept as the error's message.
const MAX_REJECTION_TEXT: usize = 4096;

/// Rewrites any error answer that is not already the JSON body (axum's own rejections are
/// plain text) into it, so every error of the API has the one shape.
pub async fn json_errors(req: Request, next: Next) -> Response {
    let r = next.run(req).await;
    let status = r.status();
    let is_json = r
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return r;
    }
    let text = axum::body::to_bytes(r.into_body(), MAX_REJECTION_TEXT)
        .await
        .unwrap_or_default();
    let text = String::from_utf8_lossy(&text).trim().to_owned();
    let message = if text.is_empty() {
        status.canonical_reason().unwrap_or("error").to_owned()
    } else {
        text
    };
    ApiError::of_status(status, message).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_map_to_http_and_name_the_field() {
        let e = ApiError::from(tonic::Status::invalid_argument(
            "page_size 5000 exceeds the maximum of 1000",
        ));
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
        assert_eq!(e.field, "page_size");
        let e = ApiError::from(tonic::Status::invalid_argument("start_ns 5 is not before"));
        assert_eq!(e.field, "from_ns");
        let e = ApiError::from(tonic::Status::invalid_argument("rule text is empty"));
        assert_eq!(e.field, "");
        let e = ApiError::from(crate::error::Error::new(crate::error::Kind::Full, "full"));
        assert_eq!(
            (e.status, e.code),
            (StatusCode::TOO_MANY_REQUESTS, "resource_exhausted")
        );
        let e = ApiError::from(tonic::Status::permission_denied("viewer"));
        assert_eq!(e.status, StatusCode::FORBIDDEN);
        assert_eq!(
            ApiError::not_enabled("incidents").status,
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            ApiError::from(tonic::Status::internal("x")).code,
            "internal"
        );
    }
}
