//! The sandbox: a Tallyfy-compatible API served by the binary itself (axum), for trying the tool,
//! for end-to-end tests and for users' CI. Same paths, headers, envelopes, pagination, status
//! codes and error shapes as Tallyfy; one server serves several organizations, each with a state
//! of its own, to one user whose tokens are good for all of them; optional latency, 5xx, dropped
//! connections, and 429s from rolling-window rate limits with Tallyfy's `X-RateLimit-*` headers;
//! `POST /oauth/token` issues access tokens for client credentials that expire after a time or a
//! number of requests. Nothing in the reconciler core depends on this crate. Does network and
//! file I/O (in `serve` only).
//!
//! Its rooms, from the bottom up (none imports a room that imports it back):
//!
//! - [`state`] (one organization's data and Tallyfy's rules over it), [`file`](mod@file) (the
//!   state file's format), `config` ([`Config`], [`Quirk`]), `auth` (the issued access tokens),
//!   `limits` (the rate limits), `stats` ([`Stats`], [`Logged`]), `respond` (Tallyfy-shaped
//!   answers) and `paging` (pages and their envelope): no I/O;
//! - `sandbox`: [`Sandbox`], the state the clones share, and the writes and quotas handlers use;
//! - `layers` (counting, rate limits and faults, authentication) and `routes` (the handlers,
//!   by resource, and [`Sandbox::router`]);
//! - `serve`: serving on a listener ([`serve()`], [`Embedded`]) and the state file.
//!
//! [`memory`] is the same state behind the `TallyfyApi` trait, without HTTP.

#![forbid(unsafe_code)]
// Handlers answer early with a ready response (`Result<_, Response>`), axum's own idiom; the
// response is built once per request, so its size does not matter.
#![allow(clippy::result_large_err)]

mod auth;
mod config;
pub mod file;
mod layers;
mod limits;
pub mod memory;
mod paging;
mod respond;
mod routes;
mod sandbox;
mod serve;
pub mod state;
mod stats;

pub use auth::TOKEN_TTL;
pub use config::{Config, DEFAULT_ORG, Quirk, check_orgs, fault_methods};
pub use file::{Organizations, StateFile};
pub use memory::MemoryApi;
pub use sandbox::Sandbox;
pub use serve::{Embedded, LABEL_PREFIX, Served, load_state, serve};
pub use state::{Seed, State};
pub use stats::{Logged, Stats};
