//! The JSON Schema of groups.yaml, generated from the loader's raw serde types. Pure; no I/O.

use serde_json::Value;

use crate::desired::raw::RawFile;

/// The schema as pretty JSON (with a trailing newline).
pub fn schema_json() -> String {
    let mut schema = serde_json::to_value(schemars::schema_for!(RawFile)).unwrap_or_default();
    drop_null_defaults(&mut schema);
    serde_json::to_string_pretty(&schema).unwrap_or_default() + "\n"
}

/// The schema of owners.yaml as pretty JSON (with a trailing newline).
pub fn owners_schema_json() -> String {
    let mut schema = serde_json::to_value(schemars::schema_for!(crate::owners::RawOwners)).unwrap_or_default();
    drop_null_defaults(&mut schema);
    serde_json::to_string_pretty(&schema).unwrap_or_default() + "\n"
}

/// The schema of the policy file as pretty JSON (with a trailing newline).
pub fn policy_schema_json() -> String {
    let mut schema = serde_json::to_value(schemars::schema_for!(crate::policy::RawPolicy)).unwrap_or_default();
    drop_null_defaults(&mut schema);
    serde_json::to_string_pretty(&schema).unwrap_or_default() + "\n"
}

/// Optional keys have no value when omitted; `"default": null` would tell editors otherwise.
fn drop_null_defaults(v: &mut Value) {
    match v {
        Value::Object(map) => {
            if map.get("default") == Some(&Value::Null) {
                map.remove("default");
            }
            map.values_mut().for_each(drop_null_defaults);
        }
        Value::Array(items) => items.iter_mut().for_each(drop_null_defaults),
        _ => {}
    }
}
