//! Test helpers shared by the integration tests (each test file includes this module and uses
//! what it needs).

#![allow(dead_code)]
// Each test file is its own crate, and the helpers are `pub` for the files that include them.
#![allow(unreachable_pub)]

pub mod cli;
