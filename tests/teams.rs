//! Many teams, one repository, end to end on the embedded sandbox: two team folders governed by
//! owners.yaml. A file defining the other team's group fails `validate` with its place and rule;
//! prune leaves groups no rule allows alone; an additive group keeps a member added by hand; the
//! markdown plan names who must review; `owners codeowners` prints and checks CODEOWNERS.

use std::path::Path;

use serde_json::Value;

mod common;

use common::cli::{Cli, Run, write};

const OWNERS: &str = r#"rules:
  - path: "teams/finance/*.yaml"
    groups: ["Finance *"]
    reviewers: ["@acme/finance-admins"]
  - path: "teams/support/**"
    groups: ["Support *"]
    reviewers: ["@acme/support"]
  - path: "groups.yaml"
    groups: []
    settings: true
    reviewers: ["@acme/platform"]
"#;

/// A repository with owners.yaml, a root groups.yaml holding the settings, and two team folders.
fn repo(settings: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    std::fs::create_dir_all(d.join(".git")).expect("git");
    write(d, "owners.yaml", OWNERS);
    write(d, "groups.yaml", &format!("settings:\n{settings}groups: []\n"));
    write(
        d,
        "teams/finance/finance.yaml",
        "groups:\n  - name: Finance Approvers\n    members: [dana.okafor@example.com, li.wei@example.com, sam.taylor@example.com]\n",
    );
    write(
        d,
        "teams/support/support.yaml",
        "groups:\n  - name: Support Escalation\n    sync: additive\n    members: [marco.rossi@example.com]\n",
    );
    dir
}

const FILES: [&str; 6] = ["-f", "groups.yaml", "-f", "teams/finance/", "-f", "teams/support/"];

fn sb(dir: &Path, args: &[&str]) -> Run {
    let state = dir.join("state.json");
    Cli::new(dir).args(args).args(&FILES).args(&["--sandbox", "--sandbox-state", state.to_str().unwrap_or_default()]).run()
}

#[test]
fn a_file_defining_the_other_teams_group_fails_validate_with_its_place_and_rule() {
    let dir = repo("  prune: false\n");
    let d = dir.path();
    Cli::new(d).args(&["validate"]).args(&FILES).run().expect_code(0);
    write(d, "teams/finance/finance.yaml", "groups:\n  - name: Finance Approvers\n  - name: support tier 3\n    members: []\n");
    let run = Cli::new(d).args(&["validate"]).args(&FILES).run().expect_code(1);
    assert!(
        run.stderr.contains("teams/finance/finance.yaml:3:11: group \"support tier 3\" is not allowed in teams/finance/finance.yaml: the rule at owners.yaml:2:5 (path `teams/finance/*.yaml`) allows `Finance *`"),
        "{}",
        run.stderr
    );
    // plan refuses the same files before reading anything.
    sb(d, &["plan"]).expect_code(1);
    // A file no rule governs may define nothing.
    write(d, "teams/stray.yaml", "groups:\n  - name: Finance Stray\n");
    let run = Cli::new(d).args(&["validate", "-f", "groups.yaml", "-f", "teams/stray.yaml"]).run().expect_code(1);
    assert!(run.stderr.contains("teams/stray.yaml matches no rule of"), "{}", run.stderr);
}

#[test]
fn prune_spares_groups_no_rule_allows_and_an_additive_group_keeps_a_hand_added_member() {
    let dir = repo("  prune: true\n  max_removed_ratio: 1\n");
    let d = dir.path();
    let plan = sb(d, &["plan", "--format", "json"]).expect_code(0);
    let doc: Value = serde_json::from_str(&plan.stdout).expect("json");
    let deletes: Vec<&Value> = doc["changes"].as_array().into_iter().flatten().filter(|c| c["action"] == "delete").collect();
    assert!(deletes.is_empty(), "no rule allows Marketing, Old Contractors…: {deletes:?}");
    assert!(doc["unmanaged"].as_array().is_some_and(|u| u.iter().any(|n| n == "Marketing")), "{}", plan.stdout);
    assert_eq!(doc["scope_counts"]["additive"], 1);
    // Support Escalation is additive: its four members the file does not list stay.
    let support = doc["changes"].as_array().into_iter().flatten().find(|c| c["group"] == "Support Escalation");
    assert!(support.is_none(), "nothing to add, nobody removed: {support:?}");
    let text = sb(d, &["plan"]).expect_code(0);
    assert!(text.stdout.contains("Scope: 1 exact, 1 additive, 4 not managed."), "{}", text.stdout);
    assert!(text.stdout.contains("left alone (prune deletes only groups a rule of owners.yaml allows)"), "{}", text.stdout);
    // Someone adds a member by hand in Tallyfy, and the file adds another: only the addition.
    sb(d, &["apply", "--auto-approve"]).expect_code(0);
    write(
        d,
        "teams/support/support.yaml",
        "groups:\n  - name: Support Escalation\n    sync: additive\n    members: [marco.rossi@example.com, alice.nguyen@example.com]\n",
    );
    let plan = sb(d, &["plan", "--format", "markdown"]).expect_code(0);
    assert!(plan.stdout.contains("+ member alice.nguyen@example.com"), "{}", plan.stdout);
    assert!(plan.stdout.contains("4 live members not in the file, kept (additive)"), "{}", plan.stdout);
    assert!(!plan.stdout.contains("- member"), "{}", plan.stdout);
    assert!(plan.stdout.contains("**Needs review by: @acme/support (Support Escalation)**"), "{}", plan.stdout);
    assert!(!plan.stdout.contains("Warnings"), "a group no rule allows is not this repository's: {}", plan.stdout);
    sb(d, &["apply", "--auto-approve"]).expect_code(0);
    sb(d, &["plan", "--detailed-exitcode"]).expect_code(0);
}

#[test]
fn codeowners_lines_are_printed_and_checked() {
    let dir = repo("  prune: false\n");
    let d = dir.path();
    let printed = Cli::new(d).args(&["owners", "codeowners"]).run().expect_code(0);
    let lines: Vec<&str> = printed.stdout.lines().filter(|l| !l.starts_with('#')).collect();
    assert_eq!(lines, ["/groups.yaml @acme/platform", "/teams/support/** @acme/support", "/teams/finance/*.yaml @acme/finance-admins"]);
    write(d, "CODEOWNERS", &printed.stdout);
    Cli::new(d).args(&["owners", "codeowners", "--check", "CODEOWNERS"]).run().expect_code(0);
    write(d, "CODEOWNERS", "/teams/finance/*.yaml @someone-else\n");
    let run = Cli::new(d).args(&["owners", "codeowners", "--check", "CODEOWNERS"]).run().expect_code(1);
    assert!(run.stderr.contains("gives `/teams/finance/*.yaml` other owners"), "{}", run.stderr);
    assert!(run.stderr.contains("lacks `/groups.yaml @acme/platform`"), "{}", run.stderr);
    let schema = Cli::new(d).args(&["schema", "--owners"]).run().expect_code(0);
    let schema: Value = serde_json::from_str(&schema.stdout).expect("json");
    assert!(schema["$defs"]["RawRule"]["properties"]["reviewers"].is_object(), "{schema}");
}

#[test]
fn an_external_group_is_never_written_and_others_include_its_live_members() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let f = write(
        d,
        "groups.yaml",
        "groups:\n  - name: Marketing\n    external: true\n  - name: Campaign Crew\n    description: Launches.\n    members: [{group: Marketing}, alice.nguyen@example.com]\n",
    );
    let state = d.join("state.json");
    let run =
        |args: &[&str]| Cli::new(d).args(args).args(&["-f", &f, "--sandbox", "--sandbox-state", state.to_str().unwrap_or_default()]).run();
    let plan = run(&["plan"]).expect_code(0);
    assert!(plan.stdout.contains("+ member fatima.haddad@example.com (Fatima Haddad)"), "Marketing's live member: {}", plan.stdout);
    assert!(plan.stdout.contains("External (managed elsewhere, never written): 1 group:\n    Marketing"), "{}", plan.stdout);
    assert!(!plan.stdout.contains("update group \"Marketing\""), "{}", plan.stdout);
    run(&["apply", "--auto-approve"]).expect_code(0);
    run(&["plan", "--detailed-exitcode"]).expect_code(0);
    // Missing, it fails the plan, naming it.
    let missing =
        write(d, "missing.yaml", "groups:\n  - name: Brand Team\n    external: true\n  - name: Crew\n    members: [{group: Brand Team}]\n");
    let failed = Cli::new(d)
        .args(&["plan", "-f", &missing, "--sandbox", "--sandbox-state", state.to_str().unwrap_or_default()])
        .run()
        .expect_code(1);
    assert!(failed.stderr.contains("external group \"Brand Team\" does not exist in Tallyfy"), "{}", failed.stderr);
}
