//! The JSON Schema printed by `tallyfy-groups schema` accepts groups.example.yaml and rejects
//! what the loader rejects for shape; its keys and required keys are exactly the loader's, for
//! every mapping of the grammar. Documents are checked with the `jsonschema` crate.

use marked_yaml::Node;
use serde_json::{Map, Value, json};
use tallyfy_groups_core::desired::load_str;
use tallyfy_groups_core::desired::raw::{self, RawFile, RawGroup, RawNamedGuest, RawSettings};

fn schema() -> Value {
    serde_json::from_str(&tallyfy_groups_core::schema::schema_json()).expect("the schema is JSON")
}

/// YAML (as the loader reads it) to JSON, typing plain scalars like YAML 1.2's core schema;
/// quoted scalars are strings.
fn to_json(node: &Node) -> Value {
    match node {
        Node::Scalar(s) => {
            let v = s.as_str();
            if !s.may_coerce() {
                return json!(v);
            }
            match v {
                "" | "~" | "null" | "Null" | "NULL" => Value::Null,
                "true" | "True" | "TRUE" => json!(true),
                "false" | "False" | "FALSE" => json!(false),
                _ => v.parse::<u64>().map(|n| json!(n)).or_else(|_| v.parse::<f64>().map(|f| json!(f))).unwrap_or_else(|_| json!(v)),
            }
        }
        Node::Sequence(items) => Value::Array(items.iter().map(to_json).collect()),
        Node::Mapping(map) => Value::Object(map.iter().map(|(k, v)| (k.as_str().to_string(), to_json(v))).collect::<Map<_, _>>()),
    }
}

fn yaml(text: &str) -> Value {
    let quoted_are_text = marked_yaml::LoaderOptions::default().prevent_coercion(true);
    to_json(&marked_yaml::parse_yaml_with_options(0, text, quoted_are_text).expect("YAML"))
}

/// Errors of `value` against the schema (empty: valid).
fn errors_of(value: &Value) -> Vec<String> {
    let validator = jsonschema::draft202012::new(&schema()).expect("the schema is a valid JSON Schema");
    validator.iter_errors(value).map(|e| format!("{}: {e}", e.instance_path())).collect()
}

#[test]
fn the_schema_is_a_valid_2020_12_schema() {
    let schema = schema();
    let meta = jsonschema::meta::validate(&schema);
    assert!(meta.is_ok(), "{meta:?}");
    assert_eq!(schema["$schema"], "https://json-schema.org/draft/2020-12/schema");
}

#[test]
fn the_example_validates_against_the_schema() {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/groups.example.yaml")).expect("example");
    assert_eq!(errors_of(&yaml(&text)), Vec::<String>::new());
    assert!(load_str("groups.example.yaml", &text).is_ok());
}

#[test]
fn the_schema_accepts_every_form_the_loader_accepts() {
    for good in [
        "groups: []\n",
        "settings:\ngroups: []\n",
        "settings:\n  prune: true\n  ignore: 'Temp *'\n  max_deleted_groups: 3\n  max_removed_ratio: 1\n  min_removed_for_ratio: 0\n  disabled_members: error\ngroups: []\n",
        "groups:\n  - name: A\n    members: [a@b.co, 1005, '1006']\n    guests: [g@p.co, {email: n@p.co, first_name: N}]\n    previously: Old A\n",
        "groups:\n  - name: B\n    previously: [Old B, Older B]\n  - name: C\n    absent: true\n",
    ] {
        assert_eq!(errors_of(&yaml(good)), Vec::<String>::new(), "{good:?}");
        assert!(load_str("g.yaml", good).is_ok(), "the loader rejected {good:?}");
    }
}

#[test]
fn the_schema_rejects_what_the_loader_rejects_for_shape() {
    for bad in [
        "groups:\n  - name: A\n    member: [x@y.co]\n",
        "groups:\n  - description: no name\n",
        "settings:\n  prune: yes\ngroups: []\n",
        "settings:\n  max_removed_ratio: 2\ngroups: []\n",
        "settings:\n  max_deleted_groups: '5'\ngroups: []\n",
        "settings:\n  disabled_members: ignore\ngroups: []\n",
        "settings:\n  prnue: true\ngroups: []\n",
        "groups:\n  - name: A\n    absent: 1\n",
        "groups:\n  - name: A\n    members: a@b.co\n",
        "groups:\n  - name: A\n    members:\n",
        "groups:\n  - name: A\n    guests: [{email: g@p.co, frist_name: G}]\n",
        "groups:\n  - name: A\n    guests: [{email: g@p.co, first_name: ~}]\n",
        "groups:\n  - name: A\n    guests: [{first_name: G}]\n",
        "groups:\n  - name: A\n    previously: {B: C}\n",
        "groups:\n  - just a string\n",
        "groups: {}\n",
        "colour: red\ngroups: []\n",
        "settings: {}\n",
    ] {
        assert!(!errors_of(&yaml(bad)).is_empty(), "the schema accepted {bad:?}");
        assert!(load_str("g.yaml", bad).is_err(), "the loader accepted {bad:?}");
    }
}

/// The keys of each mapping of the grammar, in the schema and in the loader (which takes them
/// from serde), and the keys both require.
#[test]
fn schema_keys_are_the_loaders_keys() {
    let root = schema();
    let defs = &root["$defs"];
    for (schema, keys) in [
        (&root, raw::keys::<RawFile>()),
        (&defs["RawSettings"], raw::keys::<RawSettings>()),
        (&defs["RawGroup"], raw::keys::<RawGroup>()),
        (&defs["RawNamedGuest"], raw::keys::<RawNamedGuest>()),
    ] {
        let mut in_schema: Vec<&str> = schema["properties"].as_object().expect("properties").keys().map(String::as_str).collect();
        in_schema.sort_unstable();
        let mut in_loader = keys.to_vec();
        in_loader.sort_unstable();
        assert!(!in_loader.is_empty());
        assert_eq!(in_schema, in_loader);
        assert_eq!(schema["additionalProperties"], json!(false), "{in_loader:?}");
    }
    assert_eq!(root["required"], json!(["groups"]));
    assert_eq!(defs["RawGroup"]["required"], json!(["name"]));
    // A guest mapping is `{email, ...}` or `{source}`: exactly one of the two.
    assert_eq!(defs["RawNamedGuest"].get("required"), None);
    assert_eq!(defs["RawNamedGuest"]["oneOf"], json!([{"required": ["email"]}, {"required": ["source"]}]));
    assert_eq!(defs["RawSettings"].get("required"), None);
    assert_eq!(root["title"], "groups.yaml");
    // The loader requires the same keys.
    let missing = |text: &str, message: &str| {
        let e = load_str("g.yaml", text).expect_err(text).to_string();
        assert!(e.contains(message), "{e}");
    };
    missing("settings: {}\n", "missing `groups:`");
    missing("groups:\n  - description: d\n", "a group has no `name`");
    missing("groups:\n  - name: A\n    guests: [{first_name: G}]\n", "a guest written as a mapping needs `email`");
}

/// The schema `schema --plan` prints.
fn plan_schema() -> Value {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tallyfy-groups")).args(["schema", "--plan"]).output().expect("runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("the plan schema is JSON")
}

/// The errors of `doc` against `schema`, said against the one branch it means (a workspace
/// run's document has `targets`), so that a failure names the field rather than "no branch".
fn plan_errors(schema: &Value, doc: &Value) -> Vec<String> {
    let mut branch = schema.clone();
    let def = if doc.get("targets").is_some() { "#/$defs/JsonTargets" } else { "#/$defs/JsonPlan" };
    if let Some(o) = branch.as_object_mut() {
        o.remove("anyOf");
        o.insert("$ref".into(), json!(def));
    }
    let validator = jsonschema::draft202012::new(&branch).expect("compiles");
    validator.iter_errors(doc).map(|e| format!("{}: {e}", e.instance_path())).collect()
}

/// The body of an insta snapshot file (after its `---` header).
fn snapshot_body(text: &str) -> &str {
    text.splitn(3, "---\n").nth(2).unwrap_or(text)
}

#[test]
fn every_json_plan_snapshot_validates_against_schema_plan() {
    let schema = plan_schema();
    assert!(jsonschema::meta::validate(&schema).is_ok(), "schema --plan is a valid JSON Schema");
    let validator = jsonschema::draft202012::new(&schema).expect("compiles");
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("crates/core/tests/snapshots");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).expect("snapshots") {
        let path = entry.expect("entry").path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_string();
        if !(name.contains("json_plan") || name.contains("json_targets")) || !name.ends_with(".snap") {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("readable");
        let doc: Value = serde_json::from_str(snapshot_body(&text)).unwrap_or_else(|e| panic!("{name}: not JSON: {e}"));
        // A snapshot of a part of the plan (its warnings) is not a whole document.
        if doc.get("format_version").is_none() {
            continue;
        }
        assert!(validator.is_valid(&doc), "{name} breaks schema --plan:\n{}", plan_errors(&schema, &doc).join("\n"));
        checked += 1;
    }
    assert!(checked >= 7, "only {checked} JSON snapshots found in {}", dir.display());
}

#[test]
fn schema_plan_is_strict_an_undocumented_field_or_a_missing_one_fails() {
    let validator = jsonschema::draft202012::new(&plan_schema()).expect("compiles");
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("crates/core/tests/snapshots/render__json_plan.snap");
    let text = std::fs::read_to_string(dir).expect("readable");
    let doc: Value = serde_json::from_str(snapshot_body(&text)).expect("json");
    assert!(validator.is_valid(&doc), "{}", plan_errors(&plan_schema(), &doc).join("\n"));
    let mut extra = doc.clone();
    extra["surprise"] = json!(1);
    assert!(!validator.is_valid(&extra), "a field the schema does not document fails");
    let mut missing = doc.clone();
    missing.as_object_mut().expect("object").remove("changes");
    assert!(!validator.is_valid(&missing), "a missing required field fails");
    let mut wrong = doc;
    wrong["changes"][0]["members_added"] = json!("alice");
    assert!(!validator.is_valid(&wrong), "a wrong type fails");
}

#[test]
fn a_sandbox_plan_with_sources_policy_and_expiry_validates_against_schema_plan() {
    let validator = jsonschema::draft202012::new(&plan_schema()).expect("compiles");
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    std::fs::write(d.join("policy.yaml"), "rules:\n  - id: size\n    groups: [\"Finance *\"]\n    max_members: 2\n").expect("write");
    std::fs::write(
        d.join("groups.yaml"),
        "sources:\n  leads:\n    list: [alice.nguyen@example.com]\ngroups:\n  - name: Finance Approvers\n    description: Approves invoices.\n    members: [{source: leads}, {email: li.wei@example.com, until: 2099-01-01, reason: audit}, dana.okafor@example.com]\n    guests: [auditor@audit-firm.example]\n  - name: Old Contractors\n    absent: true\n",
    )
    .expect("write");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tallyfy-groups"))
        .current_dir(d)
        .args(["plan", "-f", "groups.yaml", "--format", "json", "--policy", "policy.yaml", "--sandbox", "--sandbox-state", "state.json"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(3), "{}", String::from_utf8_lossy(&out.stderr));
    let doc: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert!(validator.is_valid(&doc), "{}", plan_errors(&plan_schema(), &doc).join("\n"));
}
