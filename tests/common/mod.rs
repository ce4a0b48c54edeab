//! Test helpers shared by the integration tests (each test file includes this module and uses
//! what it needs).

#![allow(dead_code)]

pub mod cli;
