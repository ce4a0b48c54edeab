//! The JSON Schema of groups.yaml: a snapshot (so that every change to it is deliberate), and
//! the keys of the sources grammar, which must be the loader's.

use tallyfy_groups_core::desired::raw::{
    self, RawCsv, RawEntra, RawGoogle, RawLdap, RawMemberEntry, RawNamedGuest, RawOkta, RawScim, RawSource,
};

fn schema() -> serde_json::Value {
    serde_json::from_str(&tallyfy_groups_core::schema::schema_json()).expect("the schema is JSON")
}

#[test]
fn schema_snapshot() {
    insta::assert_snapshot!(tallyfy_groups_core::schema::schema_json());
}

#[test]
fn the_sources_grammar_has_the_loaders_keys() {
    let root = schema();
    let defs = &root["$defs"];
    for (name, keys) in [
        ("RawSource", raw::keys::<RawSource>()),
        ("RawCsv", raw::keys::<RawCsv>()),
        ("RawLdap", raw::keys::<RawLdap>()),
        ("RawOkta", raw::keys::<RawOkta>()),
        ("RawEntra", raw::keys::<RawEntra>()),
        ("RawGoogle", raw::keys::<RawGoogle>()),
        ("RawScim", raw::keys::<RawScim>()),
        ("RawMemberEntry", raw::keys::<RawMemberEntry>()),
        ("RawNamedGuest", raw::keys::<RawNamedGuest>()),
    ] {
        let mut in_schema: Vec<&str> = defs[name]["properties"].as_object().expect(name).keys().map(String::as_str).collect();
        in_schema.sort_unstable();
        let mut in_loader = keys.to_vec();
        in_loader.sort_unstable();
        assert_eq!(in_schema, in_loader, "{name}");
        assert_eq!(defs[name]["additionalProperties"], serde_json::json!(false), "{name}");
    }
    assert_eq!(defs["RawCsv"]["required"], serde_json::json!(["path", "column"]));
    assert_eq!(defs["RawLdap"]["required"], serde_json::json!(["url", "base", "filter"]));
    assert_eq!(defs["RawOkta"]["required"], serde_json::json!(["url", "group_id", "token_env"]));
    assert_eq!(defs["RawEntra"]["required"], serde_json::json!(["tenant", "group_id", "client_id_env", "client_secret_env"]));
    assert_eq!(defs["RawGoogle"]["required"], serde_json::json!(["group", "token_env"]));
    assert_eq!(defs["RawScim"]["required"], serde_json::json!(["url", "group_id", "token_env"]));
    assert_eq!(defs["RawSource"]["oneOf"].as_array().map(Vec::len), Some(8));
    assert_eq!(root["properties"]["sources"]["additionalProperties"]["$ref"], "#/$defs/RawSource");
}

/// YAML to JSON the way an editor sees it (plain scalars typed, quoted ones strings).
fn yaml(text: &str) -> serde_json::Value {
    fn to_json(node: &marked_yaml::Node) -> serde_json::Value {
        use serde_json::json;
        match node {
            marked_yaml::Node::Scalar(s) => {
                let v = s.as_str();
                if !s.may_coerce() {
                    return json!(v);
                }
                match v {
                    "" | "~" | "null" => serde_json::Value::Null,
                    "true" => json!(true),
                    "false" => json!(false),
                    _ => v.parse::<u64>().map(|n| json!(n)).unwrap_or_else(|_| json!(v)),
                }
            }
            marked_yaml::Node::Sequence(items) => serde_json::Value::Array(items.iter().map(to_json).collect()),
            marked_yaml::Node::Mapping(map) => {
                serde_json::Value::Object(map.iter().map(|(k, v)| (k.as_str().to_string(), to_json(v))).collect())
            }
        }
    }
    let options = marked_yaml::LoaderOptions::default().prevent_coercion(true);
    to_json(&marked_yaml::parse_yaml_with_options(0, text, options).expect("YAML"))
}

fn valid(value: &serde_json::Value) -> bool {
    jsonschema::draft202012::new(&schema()).expect("a valid schema").is_valid(value)
}

#[test]
fn the_schema_and_the_loader_agree_on_sources_and_entries() {
    use tallyfy_groups_core::desired::load_str;
    let good = [
        "sources:\n  a:\n    csv: {path: a.csv, column: email, where: {status: active}}\n    unknown: warn\ngroups:\n  - name: G\n    members: [x@y.co, 1005, {source: a}, {group: H}]\n  - name: H\n    members: []\n",
        "sources:\n  a:\n    command: [./x.sh, --flag]\n    timeout: 5\n    env: [TOKEN]\n    allow_empty: true\ngroups:\n  - name: G\n    guests: [{source: a}, g@p.co, {email: n@p.co, first_name: N}]\n",
        "sources:\n  a:\n    ldap: {url: ldap://h, starttls: true, base: b, filter: f, attribute: uid, bind_dn_env: D, password_env: P, missing: skip}\ngroups:\n  - name: G\n    members: [{source: a}]\n",
        "sources:\n  a:\n    list: [a@b.co]\ngroups:\n  - name: G\n    members: [{source: a}]\n",
    ];
    for text in good {
        assert!(valid(&yaml(text)), "the schema rejected {text:?}");
        assert!(load_str("g.yaml", text).is_ok(), "the loader rejected {text:?}");
    }
    let bad = [
        "sources:\n  a:\n    allow_empty: true\ngroups: []\n",
        "sources:\n  a:\n    list: [a@b.co]\n    csv: {path: a.csv, column: e}\ngroups: []\n",
        "sources:\n  a:\n    command: [x]\n    timeout: 0\ngroups: []\n",
        "sources:\n  a:\n    ldap: {url: https://h, base: b, filter: f}\ngroups: []\n",
        "sources:\n  a:\n    ldap: {url: ldap://h, base: b}\ngroups: []\n",
        "sources:\n  a:\n    csv: {path: a.csv}\ngroups: []\n",
        "sources:\n  a:\n    list: [a@b.co]\n    unknown: ignore\ngroups: []\n",
        "sources:\n  a:\n    comand: [x]\ngroups: []\n",
        "sources:\n  a:\n    list: [a@b.co]\ngroups:\n  - name: G\n    members: [{source: a, group: H}]\n  - name: H\n    members: []\n",
        "sources:\n  a:\n    list: [a@b.co]\ngroups:\n  - name: G\n    members: [{sorce: a}]\n",
        "groups:\n  - name: G\n    members: [{}]\n",
        "sources:\n  a:\n    list: [a@b.co]\ngroups:\n  - name: G\n    guests: [{group: H}]\n",
    ];
    for text in bad {
        assert!(!valid(&yaml(text)), "the schema accepted {text:?}");
        assert!(load_str("g.yaml", text).is_err(), "the loader accepted {text:?}");
    }
}
