//! `/api/organizations/{org}/groups`: list (paged, searchable with `q`), get, create, update and
//! delete, with the configured quirks. No I/O: the group writes go to the organization's state.

use std::sync::atomic::Ordering;

use axum::body::Bytes;
use axum::extract::{Path as UrlPath, Query, State as AxState};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::config::Quirk;
use crate::paging::{PageQuery, Window};
use crate::respond::{error, object, rejection, reply};
use crate::sandbox::{Sandbox, lock};
use crate::state::{self, GroupInput, NewGuests, Rejection};

/// `GET .../groups`: one page of the groups, those matching `q` if given.
pub(super) async fn list(AxState(sb): AxState<Sandbox>, UrlPath(org_id): UrlPath<String>, Query(q): Query<PageQuery>) -> Response {
    let org = match sb.org(&org_id) {
        Ok(o) => o,
        Err(r) => return r,
    };
    let mut w = Window::new(&q, 10);
    let quirks = &sb.inner.config.quirks;
    let quirk = |q: Quirk| quirks.contains(&q);
    let search = q.q.as_deref().map(str::trim).filter(|t| !t.is_empty()).map(str::to_lowercase);
    let (mut data, total, ids): (Vec<Value>, usize, Vec<String>) = {
        let state = lock(&org.state);
        let found: Vec<&state::SGroup> = match &search {
            None => state.order.iter().filter_map(|id| state.groups.get(id)).collect(),
            Some(text) => state
                .order
                .iter()
                .filter_map(|id| state.groups.get(id))
                .filter(|g| g.name.to_lowercase().contains(text.as_str()) || g.description.to_lowercase().contains(text.as_str()))
                .collect(),
        };
        let page = &found[w.range(found.len())];
        (page.iter().map(|g| quirky(g.to_json(), quirks)).collect(), found.len(), page.iter().map(|g| g.id.clone()).collect())
    };
    if let Some(text) = &search {
        lock(&sb.inner.stats).searches += 1;
        w.keep = format!("q={}&", url::form_urlencoded::byte_serialize(text.as_bytes()).collect::<String>());
    }
    if quirk(Quirk::ListWithoutLists) {
        for g in &mut data {
            if let Some(o) = g.as_object_mut() {
                o.remove("members");
                o.remove("guests");
            }
        }
    }
    if quirk(Quirk::EditAfterRead) && search.is_none() && !org.edited_after_read.swap(true, Ordering::SeqCst) {
        let _ = sb.write(org, |s| {
            s.add_someone_to(&ids);
            Ok(())
        });
    }
    let path = format!("/api/organizations/{org_id}/groups");
    if quirk(Quirk::LyingPagination) { w.reply_with_pages(data, total, 99_999, &path) } else { w.reply(data, total, &path) }
}

/// A group's JSON as the configured quirks distort it.
fn quirky(mut group: Value, quirks: &[Quirk]) -> Value {
    if quirks.contains(&Quirk::JunkMembers)
        && let Some(Value::Array(members)) = group.get_mut("members")
    {
        members.push(json!("n/a"));
    }
    group
}

/// `GET .../groups/{id}`.
pub(super) async fn get(AxState(sb): AxState<Sandbox>, UrlPath((org, id)): UrlPath<(String, String)>) -> Response {
    let org = match sb.org(&org) {
        Ok(o) => o,
        Err(r) => return r,
    };
    match lock(&org.state).groups.get(&id) {
        Some(g) => reply(StatusCode::OK, json!({ "data": quirky(g.to_json(), &sb.inner.config.quirks) })),
        None => rejection(Rejection::not_found("Group")),
    }
}

/// Parses a group write's body, or answers 400.
fn group_input(body: &Bytes) -> Result<GroupInput, Response> {
    let v = object(body)?;
    serde_json::from_value(v).map_err(|e| error(StatusCode::BAD_REQUEST, &format!("Malformed body: {e}"), "BAD_REQUEST"))
}

/// `POST .../groups`: 201 with the new group.
pub(super) async fn create(AxState(sb): AxState<Sandbox>, UrlPath(org): UrlPath<String>, body: Bytes) -> Response {
    write_group(&sb, &org, &body, |s, input, policy| s.create_group_with(input, policy))
}

/// `PUT .../groups/{id}`: 201 with the group as written.
pub(super) async fn update(AxState(sb): AxState<Sandbox>, UrlPath((org, id)): UrlPath<(String, String)>, body: Bytes) -> Response {
    write_group(&sb, &org, &body, |s, input, policy| s.update_group_with(&id, input, policy))
}

/// A group's create or update: the body parsed, the guests it would invite counted against the
/// hourly quota, then `write` under the state's lock; 201 with the group as written.
fn write_group<F>(sb: &Sandbox, org: &str, body: &Bytes, write: F) -> Response
where
    F: FnOnce(&mut state::State, &GroupInput, NewGuests) -> Result<state::SGroup, Rejection>,
{
    let org = match sb.org(org) {
        Ok(o) => o,
        Err(r) => return r,
    };
    let input = match group_input(body) {
        Ok(i) => i,
        Err(r) => return r,
    };
    let policy = sb.new_guests_policy();
    let new = if policy == NewGuests::Create { lock(&org.state).new_guests(&input) } else { 0 };
    match sb.with_guest_quota(org, new, || sb.write(org, |s| write(s, &input, policy))) {
        Ok(g) => reply(StatusCode::CREATED, json!({ "data": g.to_json() })),
        Err(r) => r,
    }
}

/// `DELETE .../groups/{id}`: 204.
pub(super) async fn delete(AxState(sb): AxState<Sandbox>, UrlPath((org, id)): UrlPath<(String, String)>) -> Response {
    let org = match sb.org(&org) {
        Ok(o) => o,
        Err(r) => return r,
    };
    match sb.write(org, |s| s.delete_group(&id)) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(r) => rejection(r),
    }
}
