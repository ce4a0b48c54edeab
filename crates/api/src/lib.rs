//! tallyfy-groups-api: everything that talks to Tallyfy. The HTTP [`client`] (requests as
//! values, pagination, retries, a rate limiter shaped like Tallyfy's, duplicate-safe creates),
//! the [`wire`] types, the [`TallyfyApi`] trait the use cases call ([`org`]), and the [`apply`]
//! use case that executes a plan's actions. Does network
//! I/O; the decisions it acts on come from `tallyfy-groups-core`.

#![forbid(unsafe_code)]
// Errors are on the cold path and carry what a user needs to act (status, message, field
// errors); boxing them would only complicate matching on them.
#![allow(clippy::result_large_err)]

pub mod apply;
pub mod auth;
pub mod client;
pub mod config;
pub mod error;
pub mod org;
pub mod retry;
pub mod stop;
pub mod wire;

pub use client::*;
pub use org::{OrgContext, TallyfyApi, read_live, read_usage};
pub use stop::Stop;
