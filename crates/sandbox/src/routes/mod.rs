//! The routes: Tallyfy's API under `/api` (groups, users, guests, templates, processes and tasks) behind the request layers,
//! `POST /oauth/token`, and the sandbox's own `/_sandbox` endpoints. No I/O of their own: the
//! handlers read and write the organizations' states in memory.

mod admin;
mod groups;
mod guests;
mod oauth;
mod usage;
mod users;

use axum::Router;
use axum::middleware;
use axum::routing::{get, post};

use crate::layers::{auth, count, faults};
use crate::respond::{method_not_allowed, not_found};
use crate::sandbox::Sandbox;

impl Sandbox {
    /// The axum router of the API (under `/api`), of `POST /oauth/token` and of the `/_sandbox`
    /// endpoints.
    pub fn router(&self) -> Router {
        let api = Router::new()
            .route("/api/organizations/{org}/groups", get(groups::list).post(groups::create))
            .route("/api/organizations/{org}/groups/{id}", get(groups::get).put(groups::update).delete(groups::delete))
            .route("/api/organizations/{org}/users", get(users::list))
            .route("/api/organizations/{org}/guests", get(guests::list).post(guests::create))
            .route("/api/organizations/{org}/guests/{email}", get(guests::get))
            .route("/api/organizations/{org}/checklists", get(usage::list))
            .route("/api/organizations/{org}/checklists/{id}", get(usage::get))
            .route("/api/organizations/{org}/runs", get(usage::runs))
            .route("/api/organizations/{org}/tasks", get(usage::tasks))
            .method_not_allowed_fallback(method_not_allowed)
            .layer(middleware::from_fn_with_state(self.clone(), auth))
            .layer(middleware::from_fn_with_state(self.clone(), faults))
            .layer(middleware::from_fn_with_state(self.clone(), count));
        // Outside `/api`, as Tallyfy's; counted, but neither rate limited nor faulty.
        let oauth = Router::new().route("/oauth/token", post(oauth::token)).layer(middleware::from_fn_with_state(self.clone(), count));
        let admin = Router::new()
            .route("/_sandbox/stats", get(admin::stats))
            .route("/_sandbox/state", get(admin::dump))
            .route("/_sandbox/log", get(admin::log));
        api.merge(oauth).merge(admin).fallback(not_found).with_state(self.clone())
    }
}
