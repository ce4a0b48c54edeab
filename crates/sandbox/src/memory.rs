//! The sandbox's state behind the [`TallyfyApi`] trait, without HTTP: the use cases (read live
//! state, apply a plan) run against it in tests in microseconds, under the same rules as the
//! served sandbox (validation and its 422 answers, 404s, guests created by group writes). It
//! answers exactly what the served sandbox would; faults, latency and rate limits are the
//! server's. No I/O.

use std::sync::{Arc, Mutex, MutexGuard};

use serde_json::{Value, json};
use tallyfy_groups_api::wire::{WireGroup, WireGuest, WireTemplate, WireUser};
use tallyfy_groups_api::{ApiError, Counted, TallyfyApi, TemplateList};
use tallyfy_groups_core::model::{Email, GroupId, Guest, LiveGroup, User};
use tallyfy_groups_core::plan::GroupState;

use crate::state::{GroupInput, NewGuests, Rejection, State};

/// An in-memory Tallyfy organization. Cheap to clone; clones share the state.
#[derive(Clone, Default)]
pub struct MemoryApi {
    state: Arc<Mutex<State>>,
}

impl MemoryApi {
    /// Serves `state`.
    pub fn new(mut state: State) -> Self {
        state.reindex();
        MemoryApi { state: Arc::new(Mutex::new(state)) }
    }

    /// A copy of the current state.
    pub fn snapshot(&self) -> State {
        self.lock().clone()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The API error a served sandbox would answer with.
fn refused(method: &str, path: &str, r: Rejection) -> ApiError {
    let text = |key: &str| r.body.get(key).and_then(Value::as_str).map(str::to_string);
    ApiError::Status {
        method: method.to_string(),
        path: path.to_string(),
        status: r.status,
        message: text("message").unwrap_or_default(),
        code: text("code"),
        field_errors: tallyfy_groups_api::error::field_errors(r.body.get("errors")),
        request_id: None,
    }
}

/// Reads a value the way the HTTP client reads an answer.
fn wire<T: serde::de::DeserializeOwned>(value: Value, path: &str) -> Result<T, ApiError> {
    serde_json::from_value(value).map_err(|e| ApiError::Decode { method: "GET".into(), path: path.to_string(), detail: e.to_string() })
}

fn input(group: &GroupState) -> GroupInput {
    let body = json!({ "name": group.name, "description": group.description, "members": group.members, "guests": group.guests });
    serde_json::from_value(body).unwrap_or_default()
}

impl TallyfyApi for MemoryApi {
    async fn list_groups(&self) -> Result<Vec<LiveGroup>, ApiError> {
        let json: Vec<Value> = {
            let state = self.lock();
            state.order.iter().filter_map(|id| state.groups.get(id)).map(|g| g.to_json()).collect()
        };
        json.into_iter().map(|v| wire::<WireGroup>(v, "/groups").map(WireGroup::into_domain)).collect()
    }

    async fn list_users(&self) -> Result<Vec<User>, ApiError> {
        let json = serde_json::to_value(&self.lock().users).unwrap_or_default();
        Ok(wire::<Vec<WireUser>>(json, "/users")?.into_iter().map(WireUser::into_domain).collect())
    }

    async fn list_guests(&self) -> Result<Vec<Guest>, ApiError> {
        let json = serde_json::to_value(&self.lock().guests).unwrap_or_default();
        Ok(wire::<Vec<WireGuest>>(json, "/guests")?.into_iter().map(WireGuest::into_domain).collect())
    }

    async fn get_group(&self, id: &GroupId) -> Result<LiveGroup, ApiError> {
        let path = format!("/groups/{id}");
        let json =
            self.lock().groups.get(&id.0).map(|g| g.to_json()).ok_or_else(|| refused("GET", &path, Rejection::not_found("Group")))?;
        Ok(wire::<WireGroup>(json, &path)?.into_domain())
    }

    async fn create_group(&self, group: &GroupState) -> Result<LiveGroup, ApiError> {
        let created = self.lock().create_group_with(&input(group), NewGuests::Create).map_err(|r| refused("POST", "/groups", r))?;
        Ok(wire::<WireGroup>(created.to_json(), "/groups")?.into_domain())
    }

    async fn update_group(&self, id: &GroupId, group: &GroupState) -> Result<LiveGroup, ApiError> {
        let path = format!("/groups/{id}");
        let updated = self.lock().update_group_with(&id.0, &input(group), NewGuests::Create).map_err(|r| refused("PUT", &path, r))?;
        Ok(wire::<WireGroup>(updated.to_json(), &path)?.into_domain())
    }

    async fn delete_group(&self, id: &GroupId) -> Result<(), ApiError> {
        match self.lock().delete_group(&id.0) {
            // Already gone is the state asked for, as over HTTP.
            Ok(()) => Ok(()),
            Err(r) if r.status == 404 => Ok(()),
            Err(r) => Err(refused("DELETE", &format!("/groups/{id}"), r)),
        }
    }

    async fn create_guest(&self, email: &Email, first_name: &str, last_name: &str) -> Result<(), ApiError> {
        let body = json!({ "email": email, "first_name": first_name, "last_name": last_name });
        self.lock().create_guest(&body).map(|_| ()).map_err(|r| refused("POST", "/guests", r))
    }

    async fn list_templates(&self, archived: bool) -> Result<TemplateList, ApiError> {
        let json: Vec<Value> = self.lock().templates(archived).into_iter().map(|t| t.to_json(true, false)).collect();
        let pages = json.len().div_ceil(100).max(1);
        let mut templates = Vec::with_capacity(json.len());
        for v in json {
            let t = wire::<WireTemplate>(v, "/checklists")?.into_domain(archived, true).map_err(|detail| ApiError::Decode {
                method: "GET".into(),
                path: "/checklists".into(),
                detail,
            })?;
            templates.push(t);
        }
        templates.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(TemplateList { templates, pages, read_alone: 0 })
    }

    fn parallelism(&self) -> usize {
        4
    }

    async fn count(&self, what: Counted, group: &GroupId) -> Result<u64, ApiError> {
        let state = self.lock();
        let groups = std::slice::from_ref(&group.0);
        Ok(match what {
            Counted::ActiveProcesses => state.runs(groups, Some("active")).len(),
            Counted::OpenTasks => state.tasks(groups, Some("incomplete")).len(),
        } as u64)
    }
}
