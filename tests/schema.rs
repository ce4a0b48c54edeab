//! The JSON Schema printed by `tallyfy-groups schema` accepts groups.example.yaml and rejects
//! what the loader rejects for shape; its keys are exactly the loader's keys. A small validator
//! for the JSON Schema keywords the generated schema uses lives here.

use marked_yaml::Node;
use serde_json::{Map, Value, json};
use tallyfy_groups::desired::KNOWN_GROUP_KEYS;

fn schema() -> Value {
    serde_json::from_str(&tallyfy_groups::schema::schema_json()).expect("the schema is JSON")
}

/// YAML (as the loader reads it) to JSON, typing plain scalars like YAML 1.2's core schema.
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
    to_json(&marked_yaml::parse_yaml(0, text).expect("YAML"))
}

/// Errors of `value` against `schema` (empty: valid). Supports the keywords schemars emits here.
fn validate(root: &Value, schema: &Value, value: &Value, at: &str, errors: &mut Vec<String>) {
    if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
        let name = r.trim_start_matches("#/$defs/");
        return validate(root, &root["$defs"][name], value, at, errors);
    }
    if let Some(options) = schema.get("anyOf").or_else(|| schema.get("oneOf")).and_then(Value::as_array) {
        let matching = options
            .iter()
            .filter(|o| {
                let mut e = Vec::new();
                validate(root, o, value, at, &mut e);
                e.is_empty()
            })
            .count();
        if matching == 0 {
            errors.push(format!("{at}: matches none of the alternatives"));
        }
        return;
    }
    if let Some(types) = schema.get("type") {
        let types: Vec<&str> = match types {
            Value::String(t) => vec![t.as_str()],
            Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
            _ => vec![],
        };
        let ok = types.iter().any(|t| match *t {
            "object" => value.is_object(),
            "array" => value.is_array(),
            "string" => value.is_string(),
            "boolean" => value.is_boolean(),
            "null" => value.is_null(),
            "integer" => value.is_u64() || value.is_i64(),
            "number" => value.is_number(),
            _ => false,
        });
        if !ok {
            errors.push(format!("{at}: expected {types:?}, found {value}"));
            return;
        }
    }
    if let (Some(s), Some(min)) = (value.as_str(), schema.get("minLength").and_then(Value::as_u64))
        && (s.chars().count() as u64) < min
    {
        errors.push(format!("{at}: shorter than {min}"));
    }
    if let (Some(s), Some(max)) = (value.as_str(), schema.get("maxLength").and_then(Value::as_u64))
        && s.chars().count() as u64 > max
    {
        errors.push(format!("{at}: longer than {max}"));
    }
    if let (Some(n), Some(min)) = (value.as_f64(), schema.get("minimum").and_then(Value::as_f64))
        && n < min
    {
        errors.push(format!("{at}: below {min}"));
    }
    if let (Some(n), Some(max)) = (value.as_f64(), schema.get("maximum").and_then(Value::as_f64))
        && n > max
    {
        errors.push(format!("{at}: above {max}"));
    }
    if let Some(obj) = value.as_object() {
        let props = schema.get("properties").and_then(Value::as_object);
        for req in schema.get("required").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str) {
            if !obj.contains_key(req) {
                errors.push(format!("{at}: missing `{req}`"));
            }
        }
        for (k, v) in obj {
            match props.and_then(|p| p.get(k)) {
                Some(s) => validate(root, s, v, &format!("{at}.{k}"), errors),
                None if schema.get("additionalProperties") == Some(&json!(false)) => errors.push(format!("{at}: unknown key `{k}`")),
                None => {}
            }
        }
    }
    if let (Some(items), Some(s)) = (value.as_array(), schema.get("items")) {
        for (i, v) in items.iter().enumerate() {
            validate(root, s, v, &format!("{at}[{i}]"), errors);
        }
    }
}

fn errors_of(value: &Value) -> Vec<String> {
    let root = schema();
    let mut errors = Vec::new();
    validate(&root, &root, value, "$", &mut errors);
    errors
}

#[test]
fn the_example_validates_against_the_schema() {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/groups.example.yaml")).expect("example");
    assert_eq!(errors_of(&yaml(&text)), Vec::<String>::new());
    assert!(tallyfy_groups::desired::load_str("groups.example.yaml", &text).is_ok());
}

#[test]
fn the_schema_rejects_what_the_loader_rejects_for_shape() {
    for bad in [
        "groups:\n  - name: A\n    member: [x@y.co]\n",
        "groups:\n  - description: no name\n",
        "settings:\n  prune: yes\ngroups: []\n",
        "settings:\n  max_removed_ratio: 2\ngroups: []\n",
        "groups:\n  - name: A\n    absent: 1\n",
        "colour: red\ngroups: []\n",
    ] {
        assert!(!errors_of(&yaml(bad)).is_empty(), "the schema accepted {bad:?}");
        assert!(tallyfy_groups::desired::load_str("g.yaml", bad).is_err(), "the loader accepted {bad:?}");
    }
}

#[test]
fn schema_keys_are_the_loaders_keys() {
    let root = schema();
    let group = &root["$defs"]["RawGroup"]["properties"];
    let mut keys: Vec<&str> = group.as_object().expect("group properties").keys().map(String::as_str).collect();
    keys.sort_unstable();
    let mut known = KNOWN_GROUP_KEYS.to_vec();
    known.sort_unstable();
    assert_eq!(keys, known);
    assert_eq!(root["title"], "groups.yaml");
}
