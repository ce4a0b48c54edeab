//! tallyfy-groups: keeps the groups of a Tallyfy organization equal to a `groups.yaml` in Git.
//!
//! Data flows one way: [`desired`] (load) → [`tallyfy`] (fetch) → [`resolve`] → [`diff`] →
//! [`plan`] → [`render`] → [`apply`]. The loader, resolver, differ, planner and renderers are
//! pure; [`app`] and [`apply`] are the effectful shell.

pub mod desired;
pub mod model;
pub mod tallyfy;
