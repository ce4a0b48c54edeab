//! tallyfy-groups-engine: the run model. One target goes load → fetch → plan (with a baseline) →
//! gates, over any [`TallyfyApi`](tallyfy_groups_api::TallyfyApi); what can stop it is typed:
//! [`TargetError`] for what failed, [`Refusal`] for what a gate refused. A gate is one function
//! in [`gate`]; a fetch step is one step of [`pipeline`]. The terminal layer builds the inputs,
//! asks, prints and maps the outcome to an exit status; nothing here prints or reads a command
//! line. Does file I/O (the groups files) and network I/O through the API it is given.

#![forbid(unsafe_code)]
#![deny(clippy::print_stdout, clippy::print_stderr)]
// Errors are on the cold path and carry what a user needs to act; boxing them would only
// complicate matching on them.
#![allow(clippy::result_large_err)]

pub mod credentials;
pub mod error;
pub mod gate;
pub mod pipeline;
pub mod policy;
pub mod run;
pub mod settings;
pub mod usage;
pub mod workspace;

pub use error::{Refusal, Stage, TargetError};
pub use run::{Run, RunReport, TargetOutcome, TargetStatus};
pub use settings::{ConnectSettings, Endpoint, Limiters, TargetSettings};
pub use tallyfy_groups_core::outcome::ExitStatus;
