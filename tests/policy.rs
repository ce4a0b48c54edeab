//! The policy gate end to end on the embedded sandbox: a plan that breaks a rule exits 3 in every
//! rendering, lists the violation first with its rule, group, person and place, and is not saved;
//! apply refuses it and writes nothing; `--allow-policy` lets one rule give way for one run and is
//! recorded (in a saved plan too, where `apply PLAN` still needs its own override); a typo in the
//! policy fails closed; `schema --policy` prints the file's schema.

use std::path::Path;

use serde_json::Value;

mod common;

use common::cli::{Cli, Run, write};

const POLICY: &str = r#"rules:
  - id: finance-size
    description: Finance groups stay small.
    groups: ["Finance *"]
    max_members: 3
  - id: company-domains
    groups: ["*"]
    member_domains: [example.com]
    guest_domains: [audit-firm.example, staffing.example]
  - id: keep-core
    forbid_delete: ["Finance Approvers", "Support *"]
"#;

/// Finance Approvers grows to four and gains a guest from an unlisted domain.
const GROUPS: &str = "groups:
  - name: Finance Approvers
    description: Approves invoices.
    members: [dana.okafor@example.com, li.wei@example.com, sam.taylor@example.com, priya.shah@example.com]
    guests: [auditor@audit-firm.example, someone@gmail.com]
";

fn repo(groups: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    write(dir.path(), "policy.yaml", POLICY);
    write(dir.path(), "groups.yaml", groups);
    dir
}

fn sb(dir: &Path, args: &[&str]) -> Run {
    let state = dir.join("state.json");
    Cli::new(dir).args(args).args(&["-f", "groups.yaml", "--sandbox", "--sandbox-state", state.to_str().unwrap_or_default()]).run()
}

#[test]
fn a_plan_that_breaks_a_rule_exits_3_lists_it_first_and_is_not_saved() {
    let dir = repo(GROUPS);
    let d = dir.path();
    let text = sb(d, &["plan", "--policy", "policy.yaml", "--out", "plan.json"]).expect_code(3);
    let first_change = text.stdout.find("~ update").or_else(|| text.stdout.find("update")).unwrap_or(usize::MAX);
    let violations = text.stdout.find("Policy: 2 violations of policy.yaml").expect("the violations are listed");
    assert!(violations < first_change, "violations come before the changes:\n{}", text.stdout);
    assert!(
        text.stdout.contains("✗ finance-size: \"Finance Approvers\" would have 6 people, more than 3 (groups.yaml:2:11)"),
        "{}",
        text.stdout
    );
    assert!(
        text.stdout.contains("✗ company-domains: guest someone@gmail.com of \"Finance Approvers\" is from gmail.com, which the rule does not allow (groups.yaml:5:42)"),
        "{}",
        text.stdout
    );
    assert!(text.stderr.contains("violates the policy: finance-size, company-domains (2 violations)"), "{}", text.stderr);
    assert!(text.stderr.contains("--allow-policy RULE=\"why\""), "{}", text.stderr);
    assert!(text.stderr.contains("The plan was not saved to plan.json: it violates the policy."), "{}", text.stderr);
    assert!(!d.join("plan.json").exists(), "a refused plan is never saved");
    // An earlier plan under that name stays, and the refusal says it is not this one.
    sb(d, &["plan", "--out", "plan.json"]).expect_code(0);
    let again = sb(d, &["plan", "--policy", "policy.yaml", "--out", "plan.json"]).expect_code(3);
    assert!(again.stderr.contains("The file already there is an earlier plan, not this one."), "{}", again.stderr);

    let json = sb(d, &["plan", "--policy", "policy.yaml", "--format", "json"]).expect_code(3);
    let doc: Value = serde_json::from_str(&json.stdout).expect("json");
    let (at_policy, at_changes) = (json.stdout.find("\"policy\":"), json.stdout.find("\"changes\":"));
    assert!(at_policy.is_some() && at_policy < at_changes, "the policy comes before the changes:\n{}", json.stdout);
    let policy = &doc["policy"];
    assert_eq!(policy["file"], "policy.yaml");
    assert!(policy["checksum"].as_str().is_some_and(|c| c.starts_with("sha256:")));
    assert_eq!(policy["passed"], false);
    let v = &policy["violations"][0];
    assert_eq!(
        (v["rule"].as_str(), v["group"].as_str(), v["kind"].as_str()),
        (Some("finance-size"), Some("Finance Approvers"), Some("too_many_members"))
    );
    assert_eq!((v["count"].as_u64(), v["max"].as_u64()), (Some(6), Some(3)));
    assert_eq!(v["message"], "\"Finance Approvers\" would have 6 people, more than 3");
    assert_eq!(policy["violations"][1]["subject"], "someone@gmail.com");

    let md = sb(d, &["plan", "--policy", "policy.yaml", "--format", "markdown"]).expect_code(3);
    let caution = md.stdout.find("> [!CAUTION]").expect("a caution");
    assert!(caution < md.stdout.find("| create |").unwrap_or(usize::MAX), "{}", md.stdout);
    assert!(
        md.stdout.contains("> - `finance-size`: &quot;Finance Approvers&quot; would have 6 people, more than 3 — `groups.yaml:2:11`"),
        "{}",
        md.stdout
    );
}

#[test]
fn apply_refuses_and_writes_nothing_and_an_override_is_recorded_but_not_carried_over() {
    let dir = repo(GROUPS);
    let d = dir.path();
    let export = || {
        let state = d.join("state.json");
        Cli::new(d).args(&["export", "--sandbox", "--sandbox-state", state.to_str().unwrap_or_default()]).run().expect_code(0).stdout
    };
    let before = export();
    let refused = sb(d, &["apply", "--auto-approve", "--policy", "policy.yaml"]).expect_code(3);
    assert!(
        refused.stderr.contains("refusing to apply: the plan violates the policy: finance-size, company-domains"),
        "{}",
        refused.stderr
    );
    assert_eq!(export(), before, "nothing was written");

    // One rule overridden: the other still stops the plan.
    let one =
        sb(d, &["plan", "--policy", "policy.yaml", "--allow-policy", "finance-size=quarter close, approved by the CFO"]).expect_code(3);
    assert!(one.stdout.contains("~ finance-size:"), "{}", one.stdout);
    assert!(one.stdout.contains("--allow-policy finance-size=\"quarter close, approved by the CFO\""), "{}", one.stdout);
    assert!(one.stderr.contains("violates the policy: company-domains (1 violation)"), "{}", one.stderr);

    // Both overridden: the plan passes, is saved with its overrides for the record.
    let both =
        ["--policy", "policy.yaml", "--allow-policy", "finance-size=quarter close", "--allow-policy", "company-domains=interim partner"];
    sb(d, &[&["plan", "--out", "plan.json"], &both[..]].concat()).expect_code(0);
    let saved: Value = serde_json::from_str(&std::fs::read_to_string(d.join("plan.json")).expect("saved")).expect("json");
    assert_eq!(saved["policy"]["overrides"][0]["rule"], "company-domains");
    assert_eq!(saved["policy"]["overrides"][1]["reason"], "quarter close");
    // apply PLAN judges it again with its own policy and overrides: without them it refuses.
    let state = d.join("state.json");
    let state = state.to_str().unwrap_or_default();
    let again =
        Cli::new(d).args(&["apply", "plan.json", "--policy", "policy.yaml", "--sandbox", "--sandbox-state", state]).run().expect_code(3);
    assert!(again.stderr.contains("violates the policy"), "{}", again.stderr);
    let applied = Cli::new(d)
        .args(&["apply", "plan.json", "--sandbox", "--sandbox-state", state, "--report", "report.json", "--journal", "journal.jsonl"])
        .args(&both)
        .run()
        .expect_code(0);
    assert!(applied.stdout.contains("policy rule finance-size overridden: quarter close"), "{}", applied.stdout);
    // The overrides are on the record: the apply report and the journal.
    let report: Value = serde_json::from_str(&std::fs::read_to_string(d.join("report.json")).expect("report")).expect("json");
    assert_eq!(report["policy_overrides"][0]["rule"], "company-domains", "{report}");
    let journal = std::fs::read_to_string(d.join("journal.jsonl")).expect("journal");
    let entry: Value = serde_json::from_str(journal.lines().last().unwrap_or_default()).expect("json line");
    assert_eq!(entry["policy_overrides"][1]["reason"], "quarter close", "{entry}");
    // A new plan without the overrides trips again (the group now breaks the rules as it is,
    // but it is unchanged, so only a change to it is judged).
    write(d, "groups.yaml", &GROUPS.replace("priya.shah@example.com]", "priya.shah@example.com, tom.becker@example.com]"));
    sb(d, &["plan", "--policy", "policy.yaml"]).expect_code(3);
}

#[test]
fn forbid_delete_stops_a_prune_and_a_typo_in_the_policy_fails_closed() {
    let dir = repo("settings:\n  prune: true\n  max_deleted_groups: 10\n  max_removed_ratio: 1\ngroups: []\n");
    let d = dir.path();
    let run = sb(d, &["plan", "--policy", "policy.yaml", "--allow-policy", "finance-size=x", "--allow-policy", "company-domains=y"])
        .expect_code(3);
    assert!(
        run.stdout
            .contains("✗ keep-core: \"Finance Approvers\" would be deleted (pruned: not in the files), and the rule forbids deleting it"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("✗ keep-core: \"Support Escalation\" would be deleted"), "{}", run.stdout);

    write(d, "typo.yaml", "rules:\n  - id: keep\n    forbid_delete: [\"Fnance *\"]\n");
    let typo = sb(d, &["plan", "--policy", "typo.yaml"]).expect_code(1);
    assert!(typo.stderr.contains("typo.yaml:3:21: rule `keep`: \"Fnance *\" matches no group, live or in the files"), "{}", typo.stderr);
    let unknown = sb(d, &["plan", "--policy", "policy.yaml", "--allow-policy", "keep-cor=x"]).expect_code(1);
    assert!(unknown.stderr.contains("--allow-policy names rule `keep-cor`, which policy.yaml does not have"), "{}", unknown.stderr);
    let missing = sb(d, &["plan", "--policy", "nowhere.yaml"]).expect_code(1);
    assert!(missing.stderr.contains("cannot read the policy file nowhere.yaml"), "{}", missing.stderr);
    write(d, "bad.yaml", "rules:\n  - id: x\n    groups: [\"*\"]\n    max_member: 3\n");
    let bad = sb(d, &["plan", "--policy", "bad.yaml"]).expect_code(1);
    assert!(bad.stderr.contains("bad.yaml:4:5: unknown key `max_member`"), "{}", bad.stderr);
    let malformed = Cli::new(d).args(&["plan", "--allow-policy", "no-reason", "--sandbox"]).run().expect_code(1);
    assert!(malformed.stderr.contains("RULE=\"why\""), "{}", malformed.stderr);
    let nothing = sb(d, &["plan", "--allow-policy", "keep-core=x"]).expect_code(1);
    assert!(nothing.stderr.contains("--allow-policy overrides a rule of a policy, but no policy is named"), "{}", nothing.stderr);
}

#[test]
fn a_plan_that_keeps_the_rules_passes_and_says_so() {
    let dir = repo(
        "groups:\n  - name: Finance Approvers\n    description: Approves invoices.\n    members: [dana.okafor@example.com, li.wei@example.com]\n    guests: [auditor@audit-firm.example]\n",
    );
    let d = dir.path();
    let run = sb(d, &["plan", "--policy", "policy.yaml"]).expect_code(0);
    assert!(run.stdout.contains("Policy: policy.yaml ("), "{}", run.stdout);
    assert!(run.stdout.contains(") kept, no violations."), "{}", run.stdout);
    // The environment names it too (a pipeline's setting).
    let state = d.join("state.json");
    let json = Cli::new(d)
        .args(&["plan", "-f", "groups.yaml", "--format", "json", "--sandbox", "--sandbox-state", state.to_str().unwrap_or_default()])
        .env("TALLYFY_GROUPS_POLICY", "policy.yaml")
        .run()
        .expect_code(0);
    let doc: Value = serde_json::from_str(&json.stdout).expect("json");
    assert_eq!(doc["policy"]["passed"], true);
    assert_eq!(doc["policy"]["violations"], Value::Array(Vec::new()));
}

#[test]
fn schema_policy_prints_the_policy_files_schema() {
    let dir = tempfile::tempdir().expect("tempdir");
    let run = Cli::new(dir.path()).args(&["schema", "--policy"]).run().expect_code(0);
    let schema: Value = serde_json::from_str(&run.stdout).expect("json");
    let rule = &schema["$defs"]["RawRule"]["properties"];
    for key in ["id", "groups", "max_members", "member_domains", "forbid_delete", "max_changes_per_group", "guests_require_until"] {
        assert!(rule.get(key).is_some(), "{key} in {rule}");
    }
}

#[test]
fn a_saved_plan_that_renames_a_group_under_a_rule_applies_with_the_same_policy() {
    let dir = repo(
        "groups:\n  - name: Onboarding Specialists\n    previously: [Onboarding Team]\n    description: Team responsible for new client onboarding.\n    members: [alice.nguyen@example.com, li.wei@example.com, marco.rossi@example.com]\n",
    );
    let d = dir.path();
    write(d, "rename.yaml", "rules:\n  - id: onboarding-size\n    groups: [\"Onboarding Specialists\"]\n    max_members: 10\n");
    sb(d, &["plan", "--policy", "rename.yaml", "--out", "plan.json"]).expect_code(0);
    let state = d.join("state.json");
    let applied = Cli::new(d)
        .args(&["apply", "plan.json", "--policy", "rename.yaml", "--sandbox", "--sandbox-state", state.to_str().unwrap_or_default()])
        .run()
        .expect_code(0);
    assert!(applied.stdout.contains("kept, no violations"), "{}", applied.stdout);
}

#[test]
fn validate_checks_the_policy_file_offline() {
    let dir = repo(GROUPS);
    let d = dir.path();
    Cli::new(d).args(&["validate", "-f", "groups.yaml", "--policy", "policy.yaml"]).run().expect_code(0);
    write(d, "bad.yaml", "rules:\n  - id: x\n    groups: [\"*\"]\n    max_member: 3\n");
    let bad = Cli::new(d).args(&["validate", "-f", "groups.yaml", "--policy", "bad.yaml"]).run().expect_code(1);
    assert!(bad.stderr.contains("bad.yaml:4:5: unknown key `max_member`"), "{}", bad.stderr);
}
