//! `/api/organizations/{org}/users`: the organization's users, paged. No I/O.

use axum::extract::{Path as UrlPath, Query, State as AxState};
use axum::response::Response;

use crate::paging::{PageQuery, page};
use crate::sandbox::{Sandbox, lock};

/// `GET .../users`: one page of the users.
pub(super) async fn list(AxState(sb): AxState<Sandbox>, UrlPath(org_id): UrlPath<String>, Query(q): Query<PageQuery>) -> Response {
    match sb.org(&org_id) {
        Ok(org) => page(&lock(&org.state).users, &q, &format!("/api/organizations/{org_id}/users")),
        Err(r) => r,
    }
}
