//! The JSON Schema of groups.yaml, generated from the loader's raw serde types. Pure; no I/O.

use crate::desired::raw::RawFile;

/// The schema as pretty JSON (with a trailing newline).
pub fn schema_json() -> String {
    let schema = schemars::schema_for!(RawFile);
    serde_json::to_string_pretty(&schema).unwrap_or_default() + "\n"
}
