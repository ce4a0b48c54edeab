//! `/api/organizations/{org}/guests`: list (paged), get by email, and invite, within the hourly
//! guest cap. No I/O: an invitation goes to the organization's state.

use axum::body::Bytes;
use axum::extract::{Path as UrlPath, Query, State as AxState};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::json;

use crate::paging::{PageQuery, page};
use crate::respond::{object, rejection, reply};
use crate::sandbox::{Sandbox, lock};
use crate::state::Rejection;

/// `GET .../guests`: one page of the guests.
pub(super) async fn list(AxState(sb): AxState<Sandbox>, UrlPath(org_id): UrlPath<String>, Query(q): Query<PageQuery>) -> Response {
    match sb.org(&org_id) {
        Ok(org) => page(&lock(&org.state).guests, &q, &format!("/api/organizations/{org_id}/guests")),
        Err(r) => r,
    }
}

/// `GET .../guests/{email}`, the email in any case.
pub(super) async fn get(AxState(sb): AxState<Sandbox>, UrlPath((org, email)): UrlPath<(String, String)>) -> Response {
    let org = match sb.org(&org) {
        Ok(o) => o,
        Err(r) => return r,
    };
    let email = email.to_lowercase();
    match lock(&org.state).guests.iter().find(|g| g.email == email) {
        Some(g) => reply(StatusCode::OK, json!({ "data": g })),
        None => rejection(Rejection::not_found("Guest")),
    }
}

/// `POST .../guests`: 201 with the new guest; 429 beyond the hourly guest cap.
pub(super) async fn create(AxState(sb): AxState<Sandbox>, UrlPath(org): UrlPath<String>, body: Bytes) -> Response {
    let org = match sb.org(&org) {
        Ok(o) => o,
        Err(r) => return r,
    };
    let v = match object(&body) {
        Ok(v) => v,
        Err(r) => return r,
    };
    match sb.with_guest_quota(org, 1, || sb.write(org, |s| s.create_guest(&v))) {
        Ok(g) => reply(StatusCode::CREATED, json!({ "data": g })),
        Err(r) => r,
    }
}
