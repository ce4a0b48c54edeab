//! The sandbox's own endpoints, outside Tallyfy's API: `/_sandbox/stats` (request counts),
//! `/_sandbox/log` (the requests in order) and `/_sandbox/state` (the organizations' states).
//! No I/O.

use std::collections::BTreeMap;

use axum::extract::State as AxState;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};

use crate::respond::reply;
use crate::sandbox::{Sandbox, lock};

/// `GET /_sandbox/stats`: [`crate::Stats`].
pub(super) async fn stats(AxState(sb): AxState<Sandbox>) -> Response {
    reply(StatusCode::OK, serde_json::to_value(sb.stats()).unwrap_or_default())
}

/// `GET /_sandbox/log`: the requests received, as [`crate::Logged`].
pub(super) async fn log(AxState(sb): AxState<Sandbox>) -> Response {
    reply(StatusCode::OK, serde_json::to_value(sb.log()).unwrap_or_default())
}

/// `GET /_sandbox/state`: the state of the organization served, or `{"organizations": {org: state}}` when several are.
pub(super) async fn dump(AxState(sb): AxState<Sandbox>) -> Response {
    let inner = &sb.inner;
    let value = match inner.served.as_slice() {
        [one] => serde_json::to_value(sb.snapshot_of(one)),
        _ => {
            let states: BTreeMap<&str, Value> =
                inner.orgs.iter().map(|(org, o)| (org.as_str(), serde_json::to_value(&*lock(&o.state)).unwrap_or_default())).collect();
            serde_json::to_value(json!({ "organizations": states }))
        }
    };
    reply(StatusCode::OK, value.unwrap_or_default())
}
