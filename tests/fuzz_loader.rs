//! Fuzzing the loader with proptest: arbitrary bytes and YAML-shaped token soup must give a
//! validated state or located diagnostics, never a panic. CI runs the default number of cases;
//! run longer with `PROPTEST_CASES=200000 cargo test --release --test fuzz_loader`.

use proptest::prelude::*;
use tallyfy_groups_core::desired::{Source, load};

fn check(bytes: Vec<u8>) -> Result<(), TestCaseError> {
    // YAML breaks lines at LF, CRLF and a lone CR.
    let breaks = bytes.iter().enumerate().filter(|&(i, &b)| b == b'\n' || (b == b'\r' && bytes.get(i + 1) != Some(&b'\n'))).count();
    let lines = breaks + 1;
    let source = Source { name: "fuzz.yaml".into(), bytes };
    let outcome = std::panic::catch_unwind(|| load(vec![source]));
    prop_assert!(outcome.is_ok(), "the loader panicked");
    if let Ok(Err(diags)) = outcome {
        prop_assert!(!diags.0.is_empty());
        for d in &diags.0 {
            let at = d.at.as_ref();
            prop_assert!(at.is_some(), "diagnostic without a location: {d}");
            let at = at.expect("checked");
            prop_assert!(at.line >= 1 && at.line <= lines + 1, "line {} outside a {lines}-line file: {d}", at.line);
            prop_assert!(!d.message.is_empty());
        }
    }
    Ok(())
}

fn yamlish() -> impl Strategy<Value = Vec<u8>> {
    let token = prop::sample::select(vec![
        "groups:",
        "settings:",
        "- name: ",
        "name:",
        "members:",
        "guests:",
        "previously:",
        "absent: true",
        "prune: ",
        "ignore:",
        "description: ",
        "default_description:",
        "max_removed_ratio: 0.5",
        "max_deleted_groups: 3",
        "\n",
        "\n  ",
        "\n    ",
        "\n      - ",
        "- ",
        "[",
        "]",
        "{",
        "}",
        ",",
        ": ",
        "\"",
        "'",
        "#",
        "&a ",
        "*a",
        "!tag ",
        "|",
        ">",
        "---",
        "...",
        "a@b.co",
        "1005",
        "Team",
        "~",
        "null",
        "true",
        "\t",
        "\u{feff}",
        "é",
        "%YAML 1.2",
        "? ",
        "\\",
        "\r\n",
    ]);
    prop::collection::vec(token, 0..64).prop_map(|t| t.concat().into_bytes())
}

/// A value in any position: scalars of every flavour, lists and mappings.
fn value() -> impl Strategy<Value = String> {
    let scalar = prop::sample::select(vec![
        "Team A",
        "team a",
        "a@b.co",
        "A@B.CO",
        "not-an-email",
        "1005",
        "007",
        "-1",
        "1.5",
        "true",
        "no",
        "~",
        "null",
        "''",
        "\"\"",
        "\"x\\ny\"",
        "Temp *",
        "[",
        "é@ü.de",
        "   ",
        "a@b",
        "x@y.co",
        "99999999999999999999999",
    ])
    .prop_map(str::to_string);
    scalar.prop_recursive(2, 12, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(|v| format!("[{}]", v.join(", "))),
            prop::collection::vec((prop::sample::select(vec!["name", "members", "x", "email"]), inner), 0..3)
                .prop_map(|kv| format!("{{{}}}", kv.into_iter().map(|(k, v)| format!("{k}: {v}")).collect::<Vec<_>>().join(", "))),
        ]
    })
}

/// groups.yaml-shaped documents: real and misspelled keys with arbitrary values.
fn documents() -> impl Strategy<Value = Vec<u8>> {
    let key = prop::sample::select(vec![
        "name",
        "description",
        "members",
        "guests",
        "previously",
        "absent",
        "member",
        "Name",
        "prune",
        "ignore",
        "max_removed_ratio",
    ]);
    let group = prop::collection::vec((key, value()), 0..6)
        .prop_map(|kv| kv.into_iter().map(|(k, v)| format!("    {k}: {v}\n")).collect::<String>().replacen("    ", "  - ", 1));
    let settings = prop::collection::vec(
        (prop::sample::select(vec!["prune", "ignore", "default_description", "max_deleted_groups", "max_removed_ratio", "prnue"]), value()),
        0..4,
    )
    .prop_map(|kv| kv.into_iter().map(|(k, v)| format!("  {k}: {v}\n")).collect::<String>());
    (settings, prop::collection::vec(group, 0..6)).prop_map(|(s, gs)| {
        let settings = if s.is_empty() { String::new() } else { format!("settings:\n{s}") };
        let groups: String = gs.into_iter().filter(|g| !g.is_empty()).collect();
        let groups = if groups.is_empty() { "groups: []\n".to_string() } else { format!("groups:\n{groups}") };
        format!("{settings}{groups}").into_bytes()
    })
}

proptest! {
    #![proptest_config(ProptestConfig { failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        check(bytes)?;
    }

    #[test]
    fn yaml_shaped_input_never_panics(bytes in yamlish()) {
        check(bytes)?;
    }

    #[test]
    fn groups_shaped_documents_never_panic(bytes in documents()) {
        check(bytes)?;
    }
}
