//! Where groups are used, read-only: `/api/organizations/{org}/checklists` (templates, paged,
//! `with=steps`, `archived=only`), one template, and `/runs` and `/tasks` filtered by `groups`
//! and `status`, paged (a count is `per_page=1` and the answer's `meta.pagination.total`). No
//! I/O.

use axum::extract::{Path as UrlPath, Query, State as AxState};
use axum::response::Response;
use serde_json::{Value, json};

use crate::config::Quirk;
use crate::paging::{PageQuery, Window};
use crate::respond::{rejection, reply};
use crate::sandbox::{Sandbox, lock};
use crate::state::Rejection;

fn wants_steps(q: &PageQuery) -> bool {
    q.with.as_deref().is_some_and(|w| w.split(',').any(|part| part.trim() == "steps"))
}

fn keep(pairs: &[(&str, Option<&str>)]) -> String {
    pairs
        .iter()
        .filter_map(|(k, v)| v.map(|v| format!("{k}={}&", url::form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>())))
        .collect()
}

/// `GET .../checklists`: one page of the templates (the archived ones with `archived=only`),
/// their steps included with `with=steps`.
pub(super) async fn list(AxState(sb): AxState<Sandbox>, UrlPath(org_id): UrlPath<String>, Query(q): Query<PageQuery>) -> Response {
    let org = match sb.org(&org_id) {
        Ok(o) => o,
        Err(r) => return r,
    };
    let quirks = &sb.inner.config.quirks;
    let archived = q.archived.as_deref() == Some("only");
    let steps = wants_steps(&q) && !quirks.contains(&Quirk::TemplatesWithoutSteps);
    let data_form = quirks.contains(&Quirk::StepsAsData);
    let mut w = Window::new(&q, 10);
    w.keep = keep(&[("with", q.with.as_deref()), ("archived", q.archived.as_deref())]);
    let (data, total): (Vec<Value>, usize) = {
        let state = lock(&org.state);
        let all = state.templates(archived);
        (all[w.range(all.len())].iter().map(|t| t.to_json(steps, data_form)).collect(), all.len())
    };
    w.reply(data, total, &format!("/api/organizations/{org_id}/checklists"))
}

/// `GET .../checklists/{id}`: one template, its steps included with `with=steps`.
pub(super) async fn get(
    AxState(sb): AxState<Sandbox>,
    UrlPath((org_id, id)): UrlPath<(String, String)>,
    Query(q): Query<PageQuery>,
) -> Response {
    let org = match sb.org(&org_id) {
        Ok(o) => o,
        Err(r) => return r,
    };
    let data_form = sb.inner.config.quirks.contains(&Quirk::StepsAsData);
    let found = lock(&org.state).templates.iter().find(|t| t.id == id).map(|t| t.to_json(wants_steps(&q), data_form));
    match found {
        Some(t) => reply(axum::http::StatusCode::OK, json!({ "data": t })),
        None => rejection(Rejection::not_found("Checklist")),
    }
}

fn groups_of(q: &PageQuery) -> Vec<String> {
    q.groups.as_deref().map(|g| g.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect()).unwrap_or_default()
}

/// `GET .../runs`: one page of the processes, filtered by `groups` and `status`.
pub(super) async fn runs(AxState(sb): AxState<Sandbox>, UrlPath(org_id): UrlPath<String>, Query(q): Query<PageQuery>) -> Response {
    let org = match sb.org(&org_id) {
        Ok(o) => o,
        Err(r) => return r,
    };
    let mut w = Window::new(&q, 10);
    w.keep = keep(&[("groups", q.groups.as_deref()), ("status", q.status.as_deref())]);
    let (data, total): (Vec<Value>, usize) = {
        let state = lock(&org.state);
        let found = state.runs(&groups_of(&q), q.status.as_deref());
        (found[w.range(found.len())].iter().map(|r| serde_json::to_value(r).unwrap_or_default()).collect(), found.len())
    };
    w.reply(data, total, &format!("/api/organizations/{org_id}/runs"))
}

/// `GET .../tasks`: one page of the tasks, filtered by `groups` (owners) and `status`.
pub(super) async fn tasks(AxState(sb): AxState<Sandbox>, UrlPath(org_id): UrlPath<String>, Query(q): Query<PageQuery>) -> Response {
    let org = match sb.org(&org_id) {
        Ok(o) => o,
        Err(r) => return r,
    };
    let mut w = Window::new(&q, 10);
    w.keep = keep(&[("groups", q.groups.as_deref()), ("status", q.status.as_deref())]);
    let (data, total): (Vec<Value>, usize) = {
        let state = lock(&org.state);
        let found = state.tasks(&groups_of(&q), q.status.as_deref());
        (found[w.range(found.len())].iter().map(|t| serde_json::to_value(t).unwrap_or_default()).collect(), found.len())
    };
    w.reply(data, total, &format!("/api/organizations/{org_id}/tasks"))
}
