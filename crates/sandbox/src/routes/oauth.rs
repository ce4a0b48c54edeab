//! `POST /oauth/token`: the client credentials grant, answered as Tallyfy's (Laravel
//! Passport's), with an access token from the sandbox's issued tokens. No I/O.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::State as AxState;
use axum::http::{StatusCode, header};
use axum::response::Response;
use serde_json::json;

use crate::respond::reply;
use crate::sandbox::Sandbox;

/// An OAuth error answer, shaped as Tallyfy's (Laravel Passport's).
fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    reply(status, json!({ "error": error, "error_description": description, "message": description }))
}

/// `POST /oauth/token`: the client credentials grant, form-encoded.
pub(super) async fn token(AxState(sb): AxState<Sandbox>, headers: axum::http::HeaderMap, body: Bytes) -> Response {
    let form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(';').next().is_some_and(|t| t.trim().eq_ignore_ascii_case("application/x-www-form-urlencoded")));
    if !form {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_request", "The request body must be application/x-www-form-urlencoded.");
    }
    let fields: BTreeMap<String, String> = url::form_urlencoded::parse(&body).into_owned().collect();
    let field = |name: &str| fields.get(name).map(String::as_str);
    if field("grant_type") != Some("client_credentials") {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "The authorization grant type is not supported by the authorization server.",
        );
    }
    if !matches!(field("scope"), None | Some("*")) {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_scope", "The requested scope is invalid, unknown, or malformed.");
    }
    let config = &sb.inner.config;
    if field("client_id") != Some(config.client_id.as_str()) || field("client_secret") != Some(config.client_secret.as_str()) {
        return oauth_error(StatusCode::UNAUTHORIZED, "invalid_client", "Client authentication failed");
    }
    let expires_in = config.token_ttl.as_secs_f64().ceil() as u64;
    reply(StatusCode::OK, json!({ "token_type": "Bearer", "expires_in": expires_in, "access_token": sb.issue_token() }))
}
