//! Answers shaped as Tallyfy's: the JSON reply, its error bodies (403, 404, 405, 429, and the
//! 400 for a body that is not a JSON object) and the answer for a rejected write. No I/O: they
//! only build responses.

use std::time::Duration;

use axum::Json;
use axum::body::Bytes;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::state::Rejection;

/// `body` as JSON with `status`.
pub(crate) fn reply(status: StatusCode, body: Value) -> Response {
    (status, Json(body)).into_response()
}

/// The answer for a request the state's rules refused.
pub(crate) fn rejection(r: Rejection) -> Response {
    reply(StatusCode::from_u16(r.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR), r.body)
}

/// Tallyfy's error body: `{"error": true, "message": ..., "code": ...}`.
pub(crate) fn error(status: StatusCode, message: &str, code: &str) -> Response {
    reply(status, json!({ "error": true, "message": message, "code": code }))
}

/// The answer for a path the API does not have.
pub(crate) async fn not_found() -> Response {
    error(StatusCode::NOT_FOUND, "The requested resource was not found.", "RESOURCE_NOT_FOUND")
}

/// The answer for a method a path does not take.
pub(crate) async fn method_not_allowed() -> Response {
    error(StatusCode::METHOD_NOT_ALLOWED, "The method is not supported for this route.", "METHOD_NOT_ALLOWED")
}

/// 429 with `Retry-After` in whole seconds (at least one).
pub(crate) fn too_many(message: &str, wait: Duration) -> Response {
    let mut r = error(StatusCode::TOO_MANY_REQUESTS, message, "TOO_MANY_REQUESTS");
    r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(wait.as_secs_f64().ceil().max(1.0) as u64));
    r
}

/// Tallyfy's answer for an organization the user does not belong to.
pub(crate) fn forbidden() -> Response {
    error(StatusCode::FORBIDDEN, "You do not have access to this organization.", "FORBIDDEN")
}

/// Parses a JSON object body, or answers 400.
pub(crate) fn object(body: &Bytes) -> Result<Value, Response> {
    match serde_json::from_slice::<Value>(body) {
        Ok(v @ Value::Object(_)) => Ok(v),
        Ok(_) => Err(error(StatusCode::BAD_REQUEST, "The request body must be a JSON object.", "BAD_REQUEST")),
        Err(e) => Err(error(StatusCode::BAD_REQUEST, &format!("Malformed JSON: {e}"), "BAD_REQUEST")),
    }
}
