//! tallyfy-groups-core: the pure core of tallyfy-groups.
//!
//! Data flows one way: [`desired`] (the groups.yaml files, parsed and validated, then expanded
//! with what their [`source`]s yielded, read elsewhere) and the live
//! state ([`model::LiveState`], read by the API crate) → [`resolve`] (member emails to user ids)
//! → [`diff`] → [`plan`] (typed actions, the removal guard) → [`render`] (text, markdown, JSON)
//! or the applier (in the API crate) → [`report`]. [`pipeline`] composes resolve, diff and plan;
//! [`saved`] is the saved-plan document; [`export`] writes live groups as groups.yaml; [`schema`]
//! is groups.yaml's JSON Schema; [`workspace`] is the workspace file that maps targets to
//! organizations; [`access`] is the access report (live groups set against the files). No async,
//! no network, no printing: the only I/O is reading the input files and writing files atomically
//! ([`desired::read_sources`], [`saved`]).

#![forbid(unsafe_code)]
#![deny(clippy::print_stdout, clippy::print_stderr)]
// Errors are on the cold path and carry what a user needs to act; boxing them would only
// complicate matching on them.
#![allow(clippy::result_large_err)]

pub mod access;
pub mod annotate;
pub mod date;
pub mod desired;
pub mod diff;
pub mod expiry;
pub mod export;
pub mod journal;
pub mod model;
pub mod names;
pub mod outcome;
pub mod owners;
pub mod pipeline;
pub mod plan;
pub mod policy;
pub mod render;
pub mod report;
pub mod resolve;
pub mod saved;
pub mod schema;
pub mod source;
pub mod usage;
pub mod warning;
pub mod workspace;
