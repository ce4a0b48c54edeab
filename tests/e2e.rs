//! End-to-end tests: the real binary against the embedded sandbox, a served sandbox with faults,
//! and a wiremock Tallyfy holding three pages of groups and users.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use serde_json::{Value, json};

mod common;

use common::cli::{BIN, Cli, Run, admin, serve, write};

fn scratch() -> tempfile::TempDir {
    tempfile::tempdir().expect("tempdir")
}

fn example() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("groups.example.yaml")
}

/// `tallyfy-groups <args> --sandbox` with the sandbox state in `dir`.
fn sb(dir: &Path, args: &[&str]) -> Run {
    let state = dir.join("state.json");
    Cli::new(dir).args(args).args(&["--sandbox", "--sandbox-state", state.to_str().unwrap_or_default()]).run()
}

#[test]
fn quick_start_plan_apply_plan() {
    let dir = scratch();
    let d = dir.path();
    let ex = example();
    let ex = ex.to_str().unwrap_or_default();
    let first = sb(d, &["plan", "-f", ex, "--detailed-exitcode"]).expect_code(2);
    assert!(
        first.stdout.contains("Plan: 1 to create, 3 to update, 1 to delete. 1 guest to invite. Apply will make 7 API calls (6 changes + 1 re-read of a partly managed group), after 4 reads of where groups are used."),
        "{}",
        first.stdout
    );
    // The group it deletes is checked: no template, process or task would lose it, but an
    // archived template names it.
    assert!(
        first.stdout.contains("⚠ used by no template, active process or open task; named by 1 archived template (2025 Contractor Migration: step \"Hand over laptops\")"),
        "{}",
        first.stdout
    );
    let applied = sb(d, &["apply", "-f", ex, "--auto-approve"]).expect_code(0);
    assert!(applied.stdout.contains("Apply: 6 applied, 0 failed, 0 skipped."), "{}", applied.stdout);
    let again = sb(d, &["plan", "-f", ex, "--detailed-exitcode"]).expect_code(0);
    assert!(again.stdout.contains("No changes."), "{}", again.stdout);
    assert!(again.stdout.contains("Not managed: 1 group"), "{}", again.stdout);
    // Nothing to do: apply exits 0 without asking, even without a terminal or --auto-approve.
    let noop = sb(d, &["apply", "-f", ex]).expect_code(0);
    assert!(noop.stdout.contains("No changes.") && !noop.stdout.contains("Apply report"), "{}", noop.stdout);
}

#[test]
fn edits_converge_in_one_apply() {
    let dir = scratch();
    let d = dir.path();
    let ex = example();
    sb(d, &["apply", "-f", ex.to_str().unwrap_or_default(), "--auto-approve"]).expect_code(0);
    let edited = std::fs::read_to_string(&ex)
        .expect("example")
        .replace(
            "      - marco.rossi@example.com\n      - priya.shah@example.com\n    guests:",
            "      - priya.shah@example.com\n      - tom.becker@example.com\n    guests:",
        )
        .replace("  - name: Product Council\n", "  - name: Product Board\n    previously: [Product Council]\n")
        .replace("  - name: Support Escalation\n", "  - name: Support Escalation\n    absent: true\n  - name: Support Escalation (old)\n");
    let edited = edited.replace(
        "    absent: true\n  - name: Support Escalation (old)\n    description: Second-line support.\n    members:\n      - marco.rossi@example.com\n      - priya.shah@example.com\n      - sam.taylor@example.com\n      - fatima.haddad@example.com\n      - tom.becker@example.com\n      - jordan.lee@example.com\n",
        "    absent: true\n",
    );
    let f = write(d, "edited.yaml", &edited);
    // Support Escalation runs a template's step: deleting it trips the removal guard (exit 3).
    let plan = sb(d, &["plan", "-f", &f, "--detailed-exitcode"]).expect_code(3);
    for line in [
        "- member marco.rossi@example.com (Marco Rossi)",
        "+ member tom.becker@example.com (Tom Becker)",
        "→ rename group \"Product Council\" → \"Product Board\"",
        "- delete group \"Support Escalation\"",
        "⚠ used by 1 template (Support Escalation: step \"Second-line review\", grants access)",
    ] {
        assert!(plan.stdout.contains(line), "missing {line:?} in\n{}", plan.stdout);
    }
    sb(d, &["apply", "-f", &f, "--auto-approve", "--allow-removals", "support moved to the new desk"]).expect_code(0);
    sb(d, &["plan", "-f", &f, "--detailed-exitcode"]).expect_code(0);
}

#[test]
fn apply_without_a_terminal_needs_auto_approve() {
    let dir = scratch();
    let d = dir.path();
    let ex = example();
    let run = sb(d, &["apply", "-f", ex.to_str().unwrap_or_default()]).expect_code(3);
    assert!(run.stderr.contains("stdin is not a terminal"), "{}", run.stderr);
    sb(d, &["plan", "-f", ex.to_str().unwrap_or_default(), "--detailed-exitcode"]).expect_code(2);
}

#[test]
fn the_removal_guard_refuses_until_overridden() {
    let dir = scratch();
    let d = dir.path();
    let f = write(d, "g.yaml", "settings:\n  prune: true\ngroups: []\n");
    let refused = sb(d, &["apply", "-f", &f, "--auto-approve"]).expect_code(3);
    assert!(refused.stderr.contains("removal guard tripped"), "{}", refused.stderr);
    assert!(refused.stdout.contains("prune is on but the desired state lists no groups"), "{}", refused.stdout);
    let report = d.join("report.json");
    sb(
        d,
        &[
            "apply",
            "-f",
            &f,
            "--auto-approve",
            "--allow-removals",
            "decommissioning the org",
            "--report",
            report.to_str().unwrap_or_default(),
        ],
    )
    .expect_code(0);
    let report: Value = serde_json::from_str(&std::fs::read_to_string(&report).expect("report")).expect("json");
    assert_eq!(report["allow_removals"], "decommissioning the org");
    // The report names where the actions were sent, as the JSON plan does.
    assert_eq!(report["target"]["org"], "sandbox");
    assert!(report["target"]["api_url"].as_str().is_some_and(|u| u.starts_with("sandbox:")), "{}", report["target"]);
    assert_eq!(report["results"].as_array().map(Vec::len), Some(6));
    assert!(report["results"].as_array().into_iter().flatten().all(|r| r["outcome"]["status"] == "applied"));
}

#[test]
fn plan_fails_the_pull_request_check_when_apply_would_refuse() {
    let dir = scratch();
    let d = dir.path();
    let f = write(d, "g.yaml", "settings:\n  prune: true\ngroups: []\n");
    // With or without --detailed-exitcode: exit 3, the plan still printed for the reviewer.
    for extra in [&[][..], &["--detailed-exitcode"][..]] {
        let run = sb(d, &[&["plan", "-f", &f][..], extra].concat()).expect_code(3);
        assert!(run.stdout.contains("Removal guard tripped: apply will refuse"), "{}", run.stdout);
        assert!(run.stderr.contains("apply would refuse this plan") && run.stderr.contains("--allow-removals"), "{}", run.stderr);
    }
    // A reviewer accepts the removals: the plan passes (2 = changes) and the saved plan records
    // the reason; apply takes its override from its own command line only (a plan file's seal
    // is a checksum anyone can recompute).
    let plan_file = d.join("plan.json");
    let pf = plan_file.to_str().unwrap_or_default();
    let accepted = sb(d, &["plan", "-f", &f, "--detailed-exitcode", "--allow-removals", "decommissioning", "--out", pf]).expect_code(2);
    assert!(accepted.stdout.contains("Removal guard tripped, overridden with --allow-removals \"decommissioning\""), "{}", accepted.stdout);
    let refused = sb(d, &["apply", pf, "-f", &f, "--auto-approve"]).expect_code(3);
    assert!(refused.stderr.contains("the removal guard tripped"), "{}", refused.stderr);
    let report = d.join("report.json");
    sb(
        d,
        &["apply", pf, "-f", &f, "--auto-approve", "--allow-removals", "decommissioning", "--report", report.to_str().unwrap_or_default()],
    )
    .expect_code(0);
    let report: Value = serde_json::from_str(&std::fs::read_to_string(&report).expect("report")).expect("json");
    assert_eq!(report["allow_removals"], "decommissioning");
    // Removing two of five members of a group (40%) is not a mass removal: the ratio applies only
    // beyond min_removed_for_ratio (10) removed memberships.
    let fresh = scratch();
    let small = write(
        fresh.path(),
        "small.yaml",
        "groups:\n  - name: Support Escalation\n    members: [marco.rossi@example.com, priya.shah@example.com, sam.taylor@example.com]\n",
    );
    let run = sb(fresh.path(), &["plan", "-f", &small, "--detailed-exitcode"]).expect_code(2);
    assert!(run.stdout.contains("- member tom.becker@example.com") && !run.stdout.contains("Removal guard tripped"), "{}", run.stdout);
}

#[test]
fn a_saved_plan_applies_under_the_files_guard_limits_not_its_own() {
    let dir = scratch();
    let d = dir.path();
    // A plan made under loose limits...
    let loose =
        write(d, "g.yaml", "settings:\n  prune: true\n  max_deleted_groups: 50\n  max_removed_ratio: 1\ngroups:\n  - name: Night Shift\n");
    let pf = d.join("plan.json");
    let pf = pf.to_str().unwrap_or_default();
    // (It prunes groups the demo's templates use: the usage check is not what this is about.)
    sb(d, &["plan", "-f", &loose, "--out", pf, "--usage-check", "never"]).expect_code(0);
    // ...is refused once the files under review say otherwise, naming each setting.
    let strict = write(d, "g.yaml", "settings:\n  prune: true\ngroups:\n  - name: Night Shift\n");
    let run = sb(d, &["apply", pf, "-f", &strict, "--auto-approve"]).expect_code(3);
    assert!(run.stderr.contains("saved plan records removal-guard limits that differ from its groups files'"), "{}", run.stderr);
    assert!(run.stderr.contains("max_deleted_groups: 50 in the plan, 5 in"), "{}", run.stderr);
    assert!(run.stderr.contains("max_removed_ratio: 1 in the plan, 0.25 in"), "{}", run.stderr);
    // Without files at hand, the defaults are the limits.
    let run = sb(d, &["apply", pf, "--auto-approve"]).expect_code(3);
    assert!(run.stderr.contains("5 by default (no groups file given"), "{}", run.stderr);
}

#[test]
fn offboarding_does_not_halt_the_nightly_job() {
    let dir = scratch();
    let d = dir.path();
    // chris.moore is disabled in the demo organization, jordan.lee invited.
    let f = write(
        d,
        "g.yaml",
        "groups:\n  - name: Night Shift\n    members: [alice.nguyen@example.com, chris.moore@example.com, jordan.lee@example.com]\n",
    );
    let plan = sb(d, &["plan", "-f", &f, "--detailed-exitcode"]).expect_code(2);
    assert!(
        plan.stdout.contains("member chris.moore@example.com (user id 1008) of \"Night Shift\" is disabled in Tallyfy: left out"),
        "{}",
        plan.stdout
    );
    assert!(plan.stdout.contains("+ member jordan.lee@example.com (Jordan Lee, invited, pending)"), "{}", plan.stdout);
    assert!(!plan.stdout.contains("+ member chris.moore"), "{}", plan.stdout);
    let md = sb(d, &["plan", "-f", &f, "--format", "markdown"]).expect_code(0);
    assert!(md.stdout.contains("is disabled in Tallyfy: left out"), "{}", md.stdout);
    let js = sb(d, &["plan", "-f", &f, "--format", "json"]).expect_code(0);
    assert!(js.stdout.contains("is disabled in Tallyfy: left out") && js.stdout.contains("\"pending\": true"), "{}", js.stdout);
    sb(d, &["apply", "-f", &f, "--auto-approve"]).expect_code(0);
    sb(d, &["plan", "-f", &f, "--detailed-exitcode"]).expect_code(0);
    // Teams that want the strict behaviour keep it.
    let strict = write(d, "strict.yaml", &format!("settings:\n  disabled_members: error\n{}", std::fs::read_to_string(&f).expect("file")));
    let run = sb(d, &["plan", "-f", &strict]).expect_code(1);
    assert!(run.stderr.contains("of \"Night Shift\" is disabled"), "{}", run.stderr);
}

#[test]
fn keep_going_applies_every_group_that_resolves_and_leaves_the_rest_untouched() {
    let dir = scratch();
    let d = dir.path();
    let f = write(
        d,
        "g.yaml",
        "settings:\n  prune: true\n  max_deleted_groups: 10\n  max_removed_ratio: 1\ngroups:\n  - name: Support Escalation\n    members: [nobody@example.com, marco.rossi@example.com]\n  - name: Design Crew\n    members: [alice.nguyen@example.com]\n",
    );
    // Without --keep-going the error stops everything (the warnings come with it).
    let stopped = sb(d, &["apply", "-f", &f, "--auto-approve"]).expect_code(1);
    assert!(stopped.stderr.contains("member nobody@example.com of \"Support Escalation\" is not a user"), "{}", stopped.stderr);
    assert!(stopped.stderr.contains("--keep-going"), "{}", stopped.stderr);
    // With it: the unresolvable group is neither updated nor pruned, the others are applied, exit 1.
    let before = sb(d, &["export"]).expect_code(0).stdout;
    // (It prunes groups the demo's templates use: the usage check is not what this is about.)
    let kept = sb(d, &["apply", "-f", &f, "--auto-approve", "--keep-going", "--usage-check", "never"]).expect_code(1);
    assert!(kept.stdout.contains("create group \"Design Crew\""), "{}", kept.stdout);
    assert!(!kept.stdout.contains("\"Support Escalation\""), "{}", kept.stdout);
    assert!(kept.stderr.contains("left untouched (--keep-going)") && kept.stderr.contains("nobody@example.com"), "{}", kept.stderr);
    let after = sb(d, &["export"]).expect_code(0).stdout;
    let section = |yaml: &str| yaml.split("- name: ").find(|s| s.starts_with("Support Escalation")).map(|s| s.trim_end().to_string());
    assert!(section(&before).is_some());
    assert_eq!(section(&after), section(&before), "Support Escalation untouched");
    assert!(after.contains("- name: Design Crew"), "{after}");
}

#[test]
fn guests_are_invited_with_the_names_the_file_gives() {
    let dir = scratch();
    let d = dir.path();
    let f = write(
        d,
        "g.yaml",
        "groups:\n  - name: Partners\n    guests:\n      - {email: ann.lee@partner.example, first_name: Ann, last_name: Lee}\n      - bo.k@partner.example\n",
    );
    let plan = sb(d, &["plan", "-f", &f]).expect_code(0);
    assert!(plan.stdout.contains("invite guest ann.lee@partner.example (Ann Lee)"), "{}", plan.stdout);
    assert!(plan.stdout.contains("invite guest bo.k@partner.example (Bo K)"), "{}", plan.stdout);
    sb(d, &["apply", "-f", &f, "--auto-approve"]).expect_code(0);
    let state: Value = serde_json::from_str(&std::fs::read_to_string(d.join("state.json")).expect("state")).expect("json");
    let ann = state["guests"].as_array().into_iter().flatten().find(|g| g["email"] == "ann.lee@partner.example").cloned().expect("invited");
    assert_eq!((ann["first_name"].as_str(), ann["last_name"].as_str()), (Some("Ann"), Some("Lee")));
    // Export keeps writing plain emails; its first plan is empty.
    let exported = sb(d, &["export"]).expect_code(0).stdout;
    assert!(exported.contains("- ann.lee@partner.example") && !exported.contains("first_name"), "{exported}");
    sb(d, &["plan", "-f", &f, "--detailed-exitcode"]).expect_code(0);
}

#[test]
fn quiet_means_quiet_and_json_logs_stay_json() {
    let dir = scratch();
    let d = dir.path();
    let out = d.join("exported.yaml");
    let run = sb(d, &["export", "-q", "--out", out.to_str().unwrap_or_default()]).expect_code(0);
    assert!(run.stderr.is_empty(), "export -q talks: {}", run.stderr);
    assert!(std::fs::read_to_string(&out).expect("written").contains("- name: "));
    // A fatal error under --log-format json is a JSON line too.
    let f = write(d, "u.yaml", "groups:\n  - name: A\n    members: [nobody@example.com]\n");
    let run = sb(d, &["plan", "-f", &f, "--log-format", "json"]).expect_code(1);
    let lines: Vec<Value> = run.stderr.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}"))).collect();
    let fatal = lines.iter().find(|l| l["level"] == "ERROR").expect("an error line");
    assert!(fatal["fields"]["message"].as_str().unwrap_or_default().contains("nobody@example.com"), "{fatal}");
    assert_eq!(fatal["fields"]["exit_code"], 1);
}

#[test]
fn bad_input_is_explained_with_locations() {
    let dir = scratch();
    let d = dir.path();
    let f = write(d, "g.yaml", "groups:\n  - name: A\n    member: [x@y.co]\n  - name: a\n");
    let run = Cli::new(d).args(&["validate", "-f", &f]).run().expect_code(1);
    assert!(run.stderr.contains("g.yaml:3:5: unknown group key `member`"), "{}", run.stderr);
    assert!(run.stderr.contains("did you mean `members`?"), "{}", run.stderr);
    assert!(run.stderr.contains("g.yaml:4:11: group \"a\" is defined twice"), "{}", run.stderr);
    assert!(run.stdout.is_empty());
    // plan reads the files while it connects; a bad file is still what it reports.
    let run = Cli::new(d).args(&["plan", "-f", &f]).run().expect_code(1);
    assert!(run.stderr.contains("g.yaml:3:5: unknown group key `member`"), "{}", run.stderr);
    assert!(!run.stderr.contains("no organization id"), "{}", run.stderr);

    let f = write(d, "u.yaml", "groups:\n  - name: A\n    members: [nobody@example.com, chris.moore@example.com]\n");
    let run = sb(d, &["plan", "-f", &f]).expect_code(1);
    assert!(run.stderr.contains("u.yaml:3:15: member nobody@example.com of \"A\" is not a user"), "{}", run.stderr);
    assert!(run.stderr.contains("u.yaml:3:35: member chris.moore@example.com (user id 1008) of \"A\" is disabled"), "{}", run.stderr);

    let run = Cli::new(d).args(&["plan", "--no-such-flag"]).run().expect_code(1);
    assert!(run.stderr.contains("--no-such-flag"), "{}", run.stderr);
    let run = Cli::new(d).args(&["plan", "-f", &f]).run().expect_code(1);
    assert!(run.stderr.contains("no organization id"), "{}", run.stderr);
    let run = Cli::new(d)
        .args(&["plan", "-f", &f, "--org", "o", "--api-url", "http://example.com/api"])
        .env("TALLYFY_ACCESS_TOKEN", "t")
        .run()
        .expect_code(1);
    assert!(run.stderr.contains("plain http:// on a non-loopback host"), "{}", run.stderr);
    let run = Cli::new(d).args(&["validate", "-f", "missing.yaml"]).run().expect_code(1);
    assert!(run.stderr.contains("cannot read missing.yaml"), "{}", run.stderr);
}

#[test]
fn saved_plans_apply_exactly_or_refuse_when_stale() {
    let dir = scratch();
    let d = dir.path();
    let ex = example();
    let ex = ex.to_str().unwrap_or_default();
    let plan_file = d.join("plan.json");
    let pf = plan_file.to_str().unwrap_or_default();
    sb(d, &["plan", "-f", ex, "--out", pf]).expect_code(0);
    // Someone changes a group the plan touches: the saved plan is stale.
    let other = write(
        d,
        "other.yaml",
        "groups:\n  - name: Support Escalation\n    members: [marco.rossi@example.com, priya.shah@example.com, sam.taylor@example.com, fatima.haddad@example.com, tom.becker@example.com, jordan.lee@example.com, alice.nguyen@example.com]\n",
    );
    sb(d, &["apply", "-f", &other, "--auto-approve"]).expect_code(0);
    let stale = sb(d, &["apply", pf, "--auto-approve"]).expect_code(3);
    assert!(stale.stderr.contains("group \"Support Escalation\""), "{}", stale.stderr);
    assert!(stale.stderr.contains("changed since the plan was made"), "{}", stale.stderr);

    // A fresh plan applies exactly.
    sb(d, &["plan", "-f", ex, "--out", pf]).expect_code(0);
    sb(d, &["apply", pf, "--auto-approve"]).expect_code(0);
    sb(d, &["plan", "-f", ex, "--detailed-exitcode"]).expect_code(0);

    // A plan made against another target is refused: a plan file never decides where to connect.
    sb(d, &["plan", "-f", &other, "--out", pf]).expect_code(0);
    let elsewhere = d.join("elsewhere");
    std::fs::create_dir_all(&elsewhere).expect("dir");
    let other_target = sb(&elsewhere, &["apply", pf, "--auto-approve"]).expect_code(3);
    assert!(other_target.stderr.contains("made for:   organization sandbox at sandbox:"), "{}", other_target.stderr);
    assert!(other_target.stderr.contains("configured: organization sandbox at sandbox:"), "{}", other_target.stderr);
}

#[test]
fn an_edited_saved_plan_is_refused_and_nothing_is_written() {
    let dir = scratch();
    let d = dir.path();
    let ex = example();
    let ex = ex.to_str().unwrap_or_default();
    let plan_file = d.join("plan.json");
    let pf = plan_file.to_str().unwrap_or_default();
    sb(d, &["plan", "-f", ex, "--out", pf]).expect_code(0);
    let state_before = std::fs::read(d.join("state.json")).expect("state");
    // One member id changed by hand: the kind of edit that would otherwise be applied silently.
    let text = std::fs::read_to_string(&plan_file).expect("plan");
    let edited = text.replacen("1003", "1004", 1);
    assert_ne!(edited, text, "the plan names user 1003");
    std::fs::write(&plan_file, edited).expect("write");
    let refused = sb(d, &["apply", pf, "--auto-approve"]).expect_code(3);
    assert!(refused.stderr.contains("it was changed after `plan --out` wrote it (its checksum does not match)"), "{}", refused.stderr);
    assert!(!refused.stdout.contains("Apply report"), "{}", refused.stdout);
    assert_eq!(std::fs::read(d.join("state.json")).expect("state"), state_before, "nothing was written");
    // A `--format json` rendering is not a saved plan.
    let json = sb(d, &["plan", "-f", ex, "--format", "json"]).expect_code(0);
    std::fs::write(&plan_file, json.stdout).expect("write");
    let rendering = sb(d, &["apply", pf, "--auto-approve"]).expect_code(1);
    assert!(rendering.stderr.contains("it is a `plan --format json` rendering"), "{}", rendering.stderr);
}

#[test]
fn export_round_trips_to_an_empty_plan() {
    let dir = scratch();
    let d = dir.path();
    let out = d.join("exported.yaml");
    let o = out.to_str().unwrap_or_default();
    sb(d, &["export", "--out", o]).expect_code(0);
    let text = std::fs::read_to_string(&out).expect("export");
    assert!(text.contains("      - alice.nguyen@example.com  # Alice Nguyen, user id 1001"), "{text}");
    Cli::new(d).args(&["validate", "-f", o]).run().expect_code(0);
    let plan = sb(d, &["plan", "-f", o, "--detailed-exitcode"]).expect_code(0);
    assert!(plan.stdout.contains("No changes."), "{}", plan.stdout);
}

#[test]
fn every_format_goes_to_stdout_alone() {
    let dir = scratch();
    let d = dir.path();
    let ex = example();
    let ex = ex.to_str().unwrap_or_default();
    let md = sb(d, &["plan", "-f", ex, "--format", "markdown"]).expect_code(0);
    assert!(
        md.stdout.starts_with("<!-- tallyfy-groups plan -->\n### Tallyfy groups plan: 1 to create, 3 to update, 1 to delete"),
        "{}",
        md.stdout
    );
    let js = sb(d, &["plan", "-f", ex, "--format", "json", "-v"]).expect_code(0);
    let v: Value = serde_json::from_str(&js.stdout).expect("stdout is pure JSON even with -v");
    assert_eq!(v["format_version"], 2);
    assert_eq!(v["summary"]["api_calls"], 7);
    assert!(js.stderr.contains("read live state"), "{}", js.stderr);
    let schema = Cli::new(d).args(&["schema"]).run().expect_code(0);
    let schema: Value = serde_json::from_str(&schema.stdout).expect("schema is JSON");
    assert_eq!(schema["title"], "groups.yaml");
    let comp = Cli::new(d).args(&["completions", "bash"]).run().expect_code(0);
    assert!(comp.stdout.contains("tallyfy-groups"));
}

#[test]
fn baseline_separates_this_change_from_drift() {
    let dir = scratch();
    let d = dir.path();
    let ex = example();
    let ex = ex.to_str().unwrap_or_default();
    sb(d, &["apply", "-f", ex, "--auto-approve"]).expect_code(0);
    // Drift: someone adds tom.becker to Product Council by hand.
    let drift = std::fs::read_to_string(ex).expect("example").replace(
        "      - fatima.haddad@example.com\n\n  - name: Old",
        "      - fatima.haddad@example.com\n      - tom.becker@example.com\n\n  - name: Old",
    );
    let drift_file = write(d, "drift.yaml", &drift);
    sb(d, &["apply", "-f", &drift_file, "--only", "Product Council", "--auto-approve"]).expect_code(0);
    // The pull request adds a new group; the baseline is the target branch's file.
    let pr = format!(
        "{}\n  - name: Legal Review\n    members: [dana.okafor@example.com]\n",
        std::fs::read_to_string(ex).expect("example").trim_end()
    );
    let pr_file = write(d, "pr.yaml", &pr);
    let run = sb(d, &["plan", "-f", &pr_file, "--baseline", ex, "--format", "json"]).expect_code(0);
    let v: Value = serde_json::from_str(&run.stdout).expect("json");
    let origins: Vec<(String, String)> = v["changes"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| (c["group"].as_str().unwrap_or_default().to_string(), c["origin"].as_str().unwrap_or_default().to_string()))
        .collect();
    assert_eq!(origins, vec![("Legal Review".to_string(), "introduced".to_string()), ("Product Council".to_string(), "drift".to_string())]);
}

#[test]
fn faults_and_rate_limits_converge_without_duplicates() {
    let served = serve(&["--fault-rate", "0.2", "--rate-limit", "20", "--fault-seed", "7"]);
    let dir = scratch();
    let d = dir.path();
    let ex = example();
    let remote = |args: &[&str]| {
        Cli::new(d)
            .args(args)
            .args(&["--api-url", &served.url, "--org", "sandbox", "--max-retry-time", "60"])
            .env("TALLYFY_ACCESS_TOKEN", "sandbox-token")
            .run()
    };
    let ex = ex.to_str().unwrap_or_default();
    let mut converged = false;
    for _ in 0..4 {
        let run = remote(&["apply", "-f", ex, "--auto-approve"]);
        assert!(run.code == 0 || run.code == 1, "{run:?}");
        if remote(&["plan", "-f", ex, "--detailed-exitcode"]).code == 0 {
            converged = true;
            break;
        }
    }
    assert!(converged, "apply did not converge in four runs");
    let state = admin(&served.url, "state");
    let mut names: Vec<String> =
        state["groups"].as_object().into_iter().flatten().map(|(_, g)| g["name"].as_str().unwrap_or_default().to_lowercase()).collect();
    let before = names.len();
    names.sort();
    names.dedup();
    assert_eq!(before, names.len(), "a group was duplicated: {names:?}");
    let stats = admin(&served.url, "stats");
    assert!(stats["faults_injected"].as_u64().unwrap_or(0) > 0, "no fault was injected: {stats}");
}

/// Runs the binary against a served sandbox.
fn remote(d: &Path, url: &str, args: &[&str]) -> Run {
    Cli::new(d).args(args).args(&["--api-url", url, "--org", "sandbox"]).env("TALLYFY_ACCESS_TOKEN", "sandbox-token").run()
}

/// Members of the served sandbox's group `name`.
fn members_of(url: &str, name: &str) -> Vec<u64> {
    let state = admin(url, "state");
    let group = state["groups"].as_object().into_iter().flatten().map(|(_, g)| g).find(|g| g["name"] == name).cloned();
    let mut ids: Vec<u64> =
        group.map(|g| g["members"].as_array().cloned().unwrap_or_default()).unwrap_or_default().iter().filter_map(Value::as_u64).collect();
    ids.sort();
    ids
}

#[test]
fn a_group_list_without_member_lists_never_wipes_a_group() {
    let served = serve(&["--quirk", "list-without-lists"]);
    let dir = scratch();
    let d = dir.path();
    // The file manages the description only; the list answer leaves members out. Reading the
    // group alone gives them, so the update keeps every member.
    let f = write(d, "g.yaml", "groups:\n  - name: Support Escalation\n    description: Second-line support, 24/7.\n");
    let before = members_of(&served.url, "Support Escalation");
    assert_eq!(before.len(), 5);
    let plan = remote(d, &served.url, &["plan", "-f", &f]).expect_code(0);
    assert!(plan.stdout.contains("~ update group \"Support Escalation\""), "{}", plan.stdout);
    assert!(!plan.stdout.contains("- member"), "no removal may be planned: {}", plan.stdout);
    remote(d, &served.url, &["apply", "-f", &f, "--auto-approve"]).expect_code(0);
    assert_eq!(members_of(&served.url, "Support Escalation"), before);
    remote(d, &served.url, &["plan", "-f", &f, "--detailed-exitcode"]).expect_code(0);
}

#[test]
fn groups_whose_lists_hold_junk_are_refused_by_name() {
    let served = serve(&["--quirk", "junk-members"]);
    let dir = scratch();
    let d = dir.path();
    let f = write(d, "g.yaml", "groups:\n  - name: Support Escalation\n    description: Second-line support, 24/7.\n");
    let before = admin(&served.url, "state");
    let run = remote(d, &served.url, &["apply", "-f", &f, "--auto-approve"]).expect_code(1);
    assert!(run.stderr.contains("refusing to plan"), "{}", run.stderr);
    assert!(run.stderr.contains("group \"Support Escalation\" (id"), "{}", run.stderr);
    assert!(run.stderr.contains("`members[5]` is \"n/a\", not a user id"), "{}", run.stderr);
    assert_eq!(admin(&served.url, "state")["groups"], before["groups"], "nothing was written");
}

#[test]
fn lying_pagination_is_refused_before_walking_it() {
    let served = serve(&["--quirk", "lying-pagination"]);
    let dir = scratch();
    let d = dir.path();
    let ex = example();
    let run = remote(d, &served.url, &["plan", "-f", ex.to_str().unwrap_or_default()]).expect_code(1);
    assert!(run.stderr.contains("says `total_pages: 99999`"), "{}", run.stderr);
    let stats = admin(&served.url, "stats");
    assert_eq!(stats["requests"]["GET /api/organizations/{org}/groups"], 1, "{stats}");
}

#[test]
fn a_member_added_in_tallyfy_between_plan_and_write_is_kept() {
    let served = serve(&["--quirk", "edit-after-read"]);
    let dir = scratch();
    let d = dir.path();
    // The file manages the description of "Support Escalation", not its members. Right after
    // apply reads the groups, someone adds a member in Tallyfy; the PUT must not undo it.
    let f = write(d, "g.yaml", "groups:\n  - name: Support Escalation\n    description: Second-line support, 24/7.\n");
    let before = members_of(&served.url, "Support Escalation");
    remote(d, &served.url, &["apply", "-f", &f, "--auto-approve"]).expect_code(0);
    let after = members_of(&served.url, "Support Escalation");
    assert_eq!(after.len(), before.len() + 1, "the member added meanwhile is kept: {before:?} → {after:?}");
    assert!(before.iter().all(|m| after.contains(m)));
}

/// A saved plan is checked right before the first write, after the y/N prompt: a change made
/// while the prompt was open refuses the plan. Runs the binary on a pseudo-terminal (`script`).
#[test]
fn a_saved_plan_is_checked_again_after_the_prompt() {
    use std::io::{Read, Write};
    if Command::new("script").arg("--version").output().is_err() {
        panic!("this test needs `script` (util-linux) to give the binary a terminal");
    }
    let served = serve(&[]);
    let dir = scratch();
    let d = dir.path();
    let ex = example();
    let ex = ex.to_str().unwrap_or_default();
    let plan_file = d.join("plan.json");
    let pf = plan_file.to_str().unwrap_or_default();
    remote(d, &served.url, &["plan", "-f", ex, "--out", pf]).expect_code(0);
    let command = format!("{BIN} apply {pf} --confirm --api-url {} --org sandbox", served.url);
    let mut child = Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .current_dir(d)
        .env("TALLYFY_ACCESS_TOKEN", "sandbox-token")
        .env("NO_COLOR", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("script runs");
    let mut stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel::<Vec<u8>>();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = stdout.read(&mut buf) {
            if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    let mut seen = String::new();
    while !seen.contains("[y/N]") {
        let chunk = rx.recv_timeout(std::time::Duration::from_secs(60)).unwrap_or_else(|_| panic!("no prompt; output so far:\n{seen}"));
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    // While the prompt is open, someone changes a group the plan updates.
    let other = write(
        d,
        "other.yaml",
        "groups:\n  - name: Support Escalation\n    members: [marco.rossi@example.com, priya.shah@example.com, sam.taylor@example.com, fatima.haddad@example.com, tom.becker@example.com, jordan.lee@example.com, alice.nguyen@example.com]\n",
    );
    remote(d, &served.url, &["apply", "-f", &other, "--auto-approve"]).expect_code(0);
    let state_before = admin(&served.url, "state");
    child.stdin.take().expect("stdin").write_all(b"y\n").expect("answer");
    let status = child.wait().expect("exit");
    while let Ok(chunk) = rx.recv_timeout(std::time::Duration::from_secs(5)) {
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert_eq!(status.code(), Some(3), "{seen}");
    assert!(seen.contains("group \"Support Escalation\"") && seen.contains("changed since the plan was made"), "{seen}");
    assert_eq!(admin(&served.url, "state")["groups"], state_before["groups"], "nothing was written after the refusal");
}

#[test]
fn the_sandbox_answers_like_tallyfy() {
    let served = serve(&[]);
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    rt.block_on(async {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::new();
        let url = format!("{}/organizations/sandbox/groups", served.url);
        // Tallyfy's documented Python sample, unchanged but for the base URL.
        let created = http
            .post(&url)
            .header("Authorization", "Bearer sandbox-token")
            .header("Accept", "application/json")
            .header("X-Tallyfy-Client", "APIClient")
            .header("Content-Type", "application/json")
            .body(json!({"name": "Finance Approvers 2", "description": "Docs sample", "members": [1004, 1006]}).to_string())
            .send()
            .await
            .expect("send");
        assert_eq!(created.status().as_u16(), 201);
        let body: Value = serde_json::from_str(&created.text().await.expect("body")).expect("json");
        assert_eq!(body["data"]["members"], json!([1004, 1006]));
        assert_eq!(body["data"]["id"].as_str().map(str::len), Some(32));
        let no_client = http.get(&url).header("Authorization", "Bearer sandbox-token").send().await.expect("send");
        assert_eq!(no_client.status().as_u16(), 401);
        let listed = http
            .get(format!("{url}?page=1"))
            .header("Authorization", "Bearer sandbox-token")
            .header("X-Tallyfy-Client", "APIClient")
            .send()
            .await
            .expect("send")
            .text()
            .await
            .expect("body");
        let listed: Value = serde_json::from_str(&listed).expect("json");
        assert_eq!(listed["meta"]["pagination"]["per_page"], 10);
        assert_eq!(listed["meta"]["pagination"]["total"], 7);
        assert_eq!(listed["meta"]["pagination"]["links"], json!([]));
    });
}

mod wiremock_tallyfy {
    //! Issue-level end to end: a wiremock Tallyfy with three pages of groups and users.
    use super::*;
    use wiremock::matchers::{body_json, body_string, header, method, path, query_param};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    fn paged(items: &[Value], page: usize, per: usize) -> Value {
        let total = items.len();
        let pages = total.div_ceil(per);
        let data: Vec<Value> = items.iter().skip((page - 1) * per).take(per).cloned().collect();
        let links = if page == pages { json!([]) } else { json!({"next": "x"}) };
        json!({"data": data, "meta": {"pagination": {"total": total, "count": data.len(), "per_page": 100, "current_page": page, "total_pages": pages, "links": links}}})
    }

    async fn mount_lists(server: &MockServer, route: &str, items: &[Value], per: usize, times: Option<u64>, priority: u8) {
        for page in 1..=items.len().div_ceil(per) {
            let mut m = Mock::given(method("GET"))
                .and(path(route))
                .and(query_param("page", page.to_string()))
                .respond_with(ResponseTemplate::new(200).set_body_json(paged(items, page, per)))
                .with_priority(priority);
            if let Some(n) = times {
                m = m.up_to_n_times(n);
            }
            m.mount(server).await;
        }
    }

    fn group(i: usize, members: &[u64]) -> Value {
        json!({"id": format!("{i:032x}"), "name": format!("Team {i:03}"), "description": "d", "logo": null, "members": members, "guests": [], "created_at": "x", "last_updated": "y"})
    }

    /// Answers with the `Authorization` header the request carried, as a hostile server might.
    struct EchoAuthorization(u16);

    impl wiremock::Respond for EchoAuthorization {
        fn respond(&self, request: &wiremock::Request) -> ResponseTemplate {
            let auth = request.headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
            ResponseTemplate::new(self.0).insert_header("X-Request-Id", auth.as_str()).set_body_json(
                json!({"message": format!("Rejected {auth}"), "code": auth, "errors": {"name": [format!("{auth} may not")]}}),
            )
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_server_that_echoes_the_token_never_gets_it_printed_logged_or_reported() {
        const TOKEN: &str = "tfy-ECHOED-91c2";
        let server = MockServer::start().await;
        let users = vec![json!({"id": 1, "email": "u1@example.com", "status": "active"})];
        mount_lists(&server, "/organizations/o/users", &users, 100, None, 5).await;
        mount_lists(&server, "/organizations/o/groups", &[group(1, &[1])], 100, None, 5).await;
        // The update leaves members and guests to Tallyfy: the group is re-read before the PUT.
        Mock::given(method("GET"))
            .and(path(format!("/organizations/o/groups/{:032x}", 1)))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({"data": group(1, &[1])})))
            .expect(1)
            .mount(&server)
            .await;
        Mock::given(method("PUT")).respond_with(EchoAuthorization(422)).expect(1).mount(&server).await;
        let dir = scratch();
        let f = write(dir.path(), "g.yaml", "groups:\n  - name: Team 001\n    description: new\n");
        let report = dir.path().join("report.json");
        let (uri, d, f2, r) = (server.uri(), dir.path().to_path_buf(), f.clone(), report.to_string_lossy().into_owned());
        let run = tokio::task::spawn_blocking(move || {
            Cli::new(&d)
                .args(&["apply", "-f", &f2, "--auto-approve", "--report", &r, "-vv", "--api-url", &uri, "--org", "o", "--max-rps", "0"])
                .env("TALLYFY_ACCESS_TOKEN", TOKEN)
                .run()
        })
        .await
        .expect("join")
        .expect_code(1);
        let text = std::fs::read_to_string(&report).expect("report");
        for (what, out) in [("stdout", &run.stdout), ("stderr", &run.stderr), ("report", &text)] {
            assert!(!out.contains(TOKEN), "the token leaked into {what}:\n{out}");
        }
        assert!(run.stdout.contains("Rejected Bearer ***"), "{}", run.stdout);
        assert!(text.contains("Rejected Bearer ***"), "{text}");
        assert!(run.stderr.contains("Rejected Bearer ***"), "the failure is logged, scrubbed: {}", run.stderr);
    }

    /// What a hostile server or a live name may hold to forge a line of this tool's output on a
    /// terminal or in a CI log: erase the line (ESC [2K), return to its start (CR), start a line
    /// of its own (LF), reverse what follows (U+202E).
    const FORGED: &str = "\u{1b}[2K\rNo changes.\nNo changes.\u{202e}";

    /// Asserts that nothing from outside reached `stderr` raw.
    fn assert_escaped(stderr: &str) {
        for raw in ['\u{1b}', '\r', '\u{202e}'] {
            assert!(!stderr.contains(raw), "{raw:?} reached stderr raw:\n{stderr:?}");
        }
        assert!(!stderr.lines().any(|l| l.trim_start().starts_with("No changes.")), "a forged line:\n{stderr}");
    }

    /// Server text (a 503's and a 422's message, field errors) and live names (a group's name in a
    /// warning) reach stderr escaped: in the `error:` line and in the text log. This tool's own
    /// line breaks stay (`\n    hint:`).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn hostile_server_text_and_live_names_reach_stderr_escaped() {
        let dir = scratch();
        let f = write(dir.path(), "g.yaml", "groups: []\n");
        let args = |uri: &str| vec!["plan".to_string(), "-f".into(), f.clone(), "--api-url".into(), uri.to_string()];
        let token = || vec![("TALLYFY_ACCESS_TOKEN", "tfy-HOSTILE-5a6b".to_string())];

        // An error, after a retry.
        let server = MockServer::start().await;
        let hostile = json!({"message": FORGED, "code": FORGED, "errors": {FORGED: [FORGED]}});
        for format in ["text", "json"] {
            server.reset().await;
            // The group list is answered 503 at once (a retry is logged), then every read 422 a
            // little later.
            Mock::given(method("GET"))
                .and(path("/organizations/o/groups"))
                .respond_with(ResponseTemplate::new(503).set_body_json(&hostile))
                .up_to_n_times(1)
                .with_priority(1)
                .mount(&server)
                .await;
            Mock::given(method("GET"))
                .respond_with(ResponseTemplate::new(422).set_body_json(&hostile).set_delay(std::time::Duration::from_millis(400)))
                .mount(&server)
                .await;
            let mut all = args(&server.uri());
            all.extend(["--log-format".to_string(), format.to_string(), "-v".to_string()]);
            let run = run_blocking(dir.path(), all, token()).await.expect("join").expect_code(1);
            assert_escaped(&run.stderr);
            assert!(run.stderr.contains("retrying"), "{}", run.stderr);
            if format == "text" {
                assert!(run.stderr.contains("error: GET /organizations/o/"), "{}", run.stderr);
                assert!(run.stderr.contains("failed with HTTP 422: \\u{1b}[2K\\rNo changes.\\nNo changes.\\u{202e}"), "{}", run.stderr);
                assert!(run.stderr.contains("\n    hint: Tallyfy rejected the values"), "the hint keeps its own line: {}", run.stderr);
            } else {
                for line in run.stderr.lines() {
                    serde_json::from_str::<Value>(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
                }
            }
        }

        // A live group's name in a warning: its lists are not whole, even when read alone.
        let server = MockServer::start().await;
        let partial = json!({"id": format!("{:032x}", 7), "name": format!("Ops{FORGED}"), "description": "", "logo": null, "guests": []});
        mount_lists(&server, "/organizations/o/groups", std::slice::from_ref(&partial), 100, None, 5).await;
        mount_lists(&server, "/organizations/o/users", &[json!({"id": 1, "email": "u1@example.com", "status": "active"})], 100, None, 5)
            .await;
        Mock::given(method("GET"))
            .and(path(format!("/organizations/o/groups/{:032x}", 7)))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({"data": partial})))
            .mount(&server)
            .await;
        let run = run_blocking(dir.path(), args(&server.uri()), token()).await.expect("join");
        assert!(run.stderr.contains("still not whole when read alone"), "{}", run.stderr);
        assert!(run.stderr.contains("group=Ops\\u{1b}[2K\\rNo changes.\\nNo changes.\\u{202e}"), "{}", run.stderr);
        assert_escaped(&run.stderr);
    }

    /// Mounts a one-group and a one-user list under `/api`, answered only to `bearer`.
    async fn mount_small_org(server: &MockServer, bearer: &str, expect: u64) {
        let users = vec![json!({"id": 1, "email": "u1@example.com", "status": "active"})];
        for (route, items) in [("/api/organizations/o/users", users), ("/api/organizations/o/groups", vec![group(1, &[1])])] {
            Mock::given(method("GET"))
                .and(path(route))
                .and(header("Authorization", format!("Bearer {bearer}").as_str()))
                .respond_with(ResponseTemplate::new(200).set_body_json(paged(&items, 1, 100)))
                .expect(expect)
                .mount(server)
                .await;
        }
    }

    fn run_blocking(d: &Path, args: Vec<String>, env: Vec<(&'static str, String)>) -> tokio::task::JoinHandle<Run> {
        let d = d.to_path_buf();
        tokio::task::spawn_blocking(move || {
            let refs: Vec<&str> = args.iter().map(String::as_str).collect();
            let mut cli = Cli::new(&d).args(&refs).args(&["--org", "o", "--max-rps", "0"]);
            for (k, v) in &env {
                cli = cli.env(k, v);
            }
            cli.run()
        })
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_official_clis_variable_names_are_accepted() {
        let server = MockServer::start().await;
        mount_small_org(&server, "tfy-ALIAS-41d8", 2).await;
        let dir = scratch();
        let f = write(dir.path(), "g.yaml", "groups: []\n");
        let api = format!("{}/api", server.uri());
        let plan = vec!["plan".to_string(), "-f".into(), f.clone()];
        // TALLYFY_API_TOKEN and TALLYFY_BASE_URL, as Tallyfy's own CLI reads them.
        let env = vec![("TALLYFY_API_TOKEN", "tfy-ALIAS-41d8".to_string()), ("TALLYFY_BASE_URL", api.clone())];
        let run = run_blocking(dir.path(), plan.clone(), env).await.expect("join").expect_code(0);
        assert!(run.stdout.contains("No changes."), "{}", run.stdout);
        // The same value under both names is one source, not two.
        let env = vec![
            ("TALLYFY_API_TOKEN", "tfy-ALIAS-41d8".to_string()),
            ("TALLYFY_ACCESS_TOKEN", "tfy-ALIAS-41d8".to_string()),
            ("TALLYFY_BASE_URL", api.clone()),
            ("TALLYFY_API_URL", api.clone()),
        ];
        run_blocking(dir.path(), plan.clone(), env).await.expect("join").expect_code(0);
        // Different values under the two names: which one is meant is not guessed.
        let env = vec![
            ("TALLYFY_API_TOKEN", "tfy-ALIAS-41d8".to_string()),
            ("TALLYFY_ACCESS_TOKEN", "tfy-OTHER-0000".to_string()),
            ("TALLYFY_BASE_URL", api.clone()),
        ];
        let run = run_blocking(dir.path(), plan.clone(), env).await.expect("join").expect_code(1);
        assert!(run.stderr.contains("TALLYFY_ACCESS_TOKEN") && run.stderr.contains("TALLYFY_API_TOKEN"), "{}", run.stderr);
        assert!(!run.stderr.contains("tfy-ALIAS-41d8") && !run.stderr.contains("tfy-OTHER-0000"), "{}", run.stderr);
        let env = vec![
            ("TALLYFY_API_TOKEN", "tfy-ALIAS-41d8".to_string()),
            ("TALLYFY_BASE_URL", api.clone()),
            ("TALLYFY_API_URL", "https://go.tallyfy.com/api".to_string()),
        ];
        let run = run_blocking(dir.path(), plan, env).await.expect("join").expect_code(1);
        assert!(run.stderr.contains("TALLYFY_API_URL") && run.stderr.contains("TALLYFY_BASE_URL"), "{}", run.stderr);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn client_credentials_are_exchanged_at_start_and_once_more_on_a_401() {
        const SECRET: &str = "cs-SECRET-9b1e77";
        let server = MockServer::start().await;
        let form = "grant_type=client_credentials&client_id=app-7&client_secret=cs-SECRET-9b1e77&scope=*";
        for (token, times) in [("tfy-FIRST-a1b2c3", Some(1)), ("tfy-SECOND-d4e5f6", None)] {
            let mut m = Mock::given(method("POST"))
                .and(path("/oauth/token"))
                .and(header("Content-Type", "application/x-www-form-urlencoded"))
                .and(body_string(form))
                .respond_with(
                    ResponseTemplate::new(200).set_body_json(json!({"token_type": "Bearer", "expires_in": 604800, "access_token": token})),
                );
            if let Some(n) = times {
                m = m.up_to_n_times(n).with_priority(1);
            }
            m.mount(&server).await;
        }
        // The first token lapses mid-run: the user list still reads, the group list is refused.
        let users = vec![json!({"id": 1, "email": "u1@example.com", "status": "active"})];
        Mock::given(method("GET"))
            .and(path("/api/organizations/o/users"))
            .respond_with(ResponseTemplate::new(200).set_body_json(paged(&users, 1, 100)))
            .expect(1)
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path("/api/organizations/o/groups"))
            .and(header("Authorization", "Bearer tfy-FIRST-a1b2c3"))
            .respond_with(ResponseTemplate::new(401).set_body_json(json!({"message": "Unauthenticated."})))
            .expect(1)
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path("/api/organizations/o/groups"))
            .and(header("Authorization", "Bearer tfy-SECOND-d4e5f6"))
            .respond_with(ResponseTemplate::new(200).set_body_json(paged(&[group(1, &[1])], 1, 100)))
            .expect(1)
            .mount(&server)
            .await;
        let dir = scratch();
        let f = write(dir.path(), "g.yaml", "groups:\n  - name: Team 001\n    members: [u1@example.com]\n");
        let env = vec![
            ("TALLYFY_CLIENT_ID", "app-7".to_string()),
            ("TALLYFY_CLIENT_SECRET", SECRET.to_string()),
            ("TALLYFY_API_URL", format!("{}/api", server.uri())),
        ];
        let args = vec!["plan".to_string(), "-f".into(), f, "-vv".into(), "--detailed-exitcode".into()];
        let run = run_blocking(dir.path(), args, env).await.expect("join").expect_code(0);
        let exchanges = server.received_requests().await.unwrap_or_default().iter().filter(|r| r.url.path() == "/oauth/token").count();
        assert_eq!(exchanges, 2, "one exchange at start, one after the 401");
        for secret in [SECRET, "tfy-FIRST-a1b2c3", "tfy-SECOND-d4e5f6"] {
            assert!(!run.stdout.contains(secret) && !run.stderr.contains(secret), "{secret} leaked:\n{run:?}");
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_personal_token_and_client_credentials_together_are_a_usage_error() {
        let server = MockServer::start().await;
        let dir = scratch();
        let f = write(dir.path(), "g.yaml", "groups: []\n");
        let secret_file = write(dir.path(), "secret", "cs-FILE-5e5e5e\n");
        let api = format!("{}/api", server.uri());
        let plan = || vec!["plan".to_string(), "-f".into(), f.clone()];
        let env = vec![
            ("TALLYFY_ACCESS_TOKEN", "tfy-PERSONAL-1111".to_string()),
            ("TALLYFY_CLIENT_ID", "app-7".to_string()),
            ("TALLYFY_API_URL", api.clone()),
        ];
        let mut args = plan();
        args.extend(["--client-secret-file".to_string(), secret_file.clone()]);
        let run = run_blocking(dir.path(), args, env).await.expect("join").expect_code(1);
        for name in ["TALLYFY_ACCESS_TOKEN", "TALLYFY_CLIENT_ID", "--client-secret-file"] {
            assert!(run.stderr.contains(name), "{name} is not named: {}", run.stderr);
        }
        assert!(!run.stderr.contains("tfy-PERSONAL-1111") && !run.stderr.contains("cs-FILE-5e5e5e"), "{}", run.stderr);
        // A client id without a secret, and a token URL that cannot be derived.
        let env = vec![("TALLYFY_CLIENT_ID", "app-7".to_string()), ("TALLYFY_API_URL", api.clone())];
        let run = run_blocking(dir.path(), plan(), env).await.expect("join").expect_code(1);
        assert!(run.stderr.contains("TALLYFY_CLIENT_SECRET"), "{}", run.stderr);
        let env = vec![
            ("TALLYFY_CLIENT_ID", "app-7".to_string()),
            ("TALLYFY_CLIENT_SECRET", "cs-SECRET-9b1e77".to_string()),
            ("TALLYFY_API_URL", server.uri()),
        ];
        let run = run_blocking(dir.path(), plan(), env).await.expect("join").expect_code(1);
        assert!(run.stderr.contains("TALLYFY_TOKEN_URL") && run.stderr.contains("--token-url"), "{}", run.stderr);
        assert!(server.received_requests().await.unwrap_or_default().is_empty(), "nothing is sent before the usage is right");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn plan_apply_plan_against_three_pages() {
        let server = MockServer::start().await;
        let users: Vec<Value> = (0..250).map(|i| json!({"id": 5000 + i, "email": format!("u{i}@example.com"), "first_name": "U", "last_name": format!("{i}"), "status": "active"})).collect();
        let before: Vec<Value> = (0..250).map(|i| group(i, &[5000 + i as u64])).collect();
        // After apply: Team 000 has two members, Team 001 is gone, Team 250 exists.
        let mut after = before.clone();
        after[0] = group(0, &[5000, 5001]);
        after.remove(1);
        after.push(group(250, &[5002]));
        mount_lists(&server, "/organizations/o/users", &users, 100, None, 5).await;
        // The first two reads (plan, then apply's own read) see the old state.
        mount_lists(&server, "/organizations/o/groups", &before, 100, Some(2), 1).await;
        mount_lists(&server, "/organizations/o/groups", &after, 100, None, 5).await;
        Mock::given(method("PUT"))
            .and(path(format!("/organizations/o/groups/{:032x}", 0)))
            .and(body_json(json!({"name": "Team 000", "description": "d", "members": [5000, 5001], "guests": []})))
            .respond_with(ResponseTemplate::new(201).set_body_json(json!({"data": group(0, &[5000, 5001])})))
            .expect(1)
            .mount(&server)
            .await;
        // Team 000 leaves its description and guests to Tallyfy: re-read right before its PUT.
        Mock::given(method("GET"))
            .and(path(format!("/organizations/o/groups/{:032x}", 0)))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({"data": group(0, &[5000])})))
            .expect(1)
            .mount(&server)
            .await;
        Mock::given(method("DELETE"))
            .and(path(format!("/organizations/o/groups/{:032x}", 1)))
            .respond_with(ResponseTemplate::new(204))
            .expect(1)
            .mount(&server)
            .await;
        // Where Team 001 is used, before it is deleted: no template (active or archived) names
        // it, no process or task is open with it.
        let empty =
            json!({"data": [], "meta": {"pagination": {"total": 0, "count": 0, "per_page": 100, "current_page": 1, "total_pages": 1}}});
        Mock::given(method("GET"))
            .and(path("/organizations/o/checklists"))
            .and(query_param("with", "steps"))
            .and(query_param("archived", "only"))
            .respond_with(ResponseTemplate::new(200).set_body_json(empty.clone()))
            .with_priority(1)
            .expect(2)
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path("/organizations/o/checklists"))
            .and(query_param("with", "steps"))
            .respond_with(ResponseTemplate::new(200).set_body_json(empty.clone()))
            .with_priority(2)
            .expect(2)
            .mount(&server)
            .await;
        for (route, status) in [("/organizations/o/runs", "active"), ("/organizations/o/tasks", "incomplete")] {
            Mock::given(method("GET"))
                .and(path(route))
                .and(query_param("groups", format!("{:032x}", 1)))
                .and(query_param("status", status))
                .and(query_param("per_page", "1"))
                .respond_with(ResponseTemplate::new(200).set_body_json(empty.clone()))
                .expect(2)
                .mount(&server)
                .await;
        }
        Mock::given(method("POST"))
            .and(path("/organizations/o/groups"))
            .and(body_json(json!({"name": "Team 250", "description": "Managed in groups.yaml", "members": [5002], "guests": []})))
            .respond_with(ResponseTemplate::new(201).set_body_json(json!({"data": group(250, &[5002])})))
            .expect(1)
            .mount(&server)
            .await;

        let dir = scratch();
        let mut yaml = String::from("settings:\n  prune: true\ngroups:\n");
        for i in 0..251usize {
            if i == 1 {
                continue;
            }
            let members = match i {
                0 => "[u0@example.com, u1@example.com]".to_string(),
                250 => "[u2@example.com]".to_string(),
                _ => format!("[u{i}@example.com]"),
            };
            yaml.push_str(&format!("  - name: Team {i:03}\n    members: {members}\n"));
        }
        let f = write(dir.path(), "g.yaml", &yaml);
        let uri = server.uri();
        let d = dir.path().to_path_buf();
        let run = move |args: Vec<String>| {
            let d = d.clone();
            let uri = uri.clone();
            tokio::task::spawn_blocking(move || {
                let refs: Vec<&str> = args.iter().map(String::as_str).collect();
                Cli::new(&d).args(&refs).args(&["--api-url", &uri, "--org", "o", "--max-rps", "0"]).env("TALLYFY_ACCESS_TOKEN", "tok").run()
            })
        };
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        let plan = run(s(&["plan", "-f", &f, "--detailed-exitcode"])).await.expect("join").expect_code(2);
        assert!(plan.stdout.contains("Plan: 1 to create, 1 to update, 1 to delete. Apply will make 4 API calls (3 changes + 1 re-read of a partly managed group), after 4 reads of where groups are used."), "{}", plan.stdout);
        let apply = run(s(&["apply", "-f", &f, "--auto-approve"])).await.expect("join").expect_code(0);
        assert!(apply.stdout.contains("Apply: 3 applied, 0 failed, 0 skipped."), "{}", apply.stdout);
        run(s(&["plan", "-f", &f, "--detailed-exitcode"])).await.expect("join").expect_code(0);
        // 3 plans' worth of reads: ceil(250/100) group pages + 3 user pages each, the one
        // re-read of the group whose PUT carries values the file does not manage, and, for the
        // two plans that delete Team 001, where it is used (2 template pages + 2 counts); the
        // last plan deletes nothing and reads no usage.
        let requests = server.received_requests().await.unwrap_or_default();
        let gets = requests.iter().filter(|r| r.method.as_str() == "GET").count();
        assert_eq!(gets, 3 * (3 + 3) + 1 + 2 * 4);
    }

    /// A personal token from `--token-file` or `TALLYFY_ACCESS_TOKEN` written with its scheme
    /// (`Bearer xyz`, any case) is sent as `Bearer xyz`, never `Bearer Bearer xyz`, and `-vv` says
    /// the scheme was dropped without showing the token.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_token_file_or_variable_given_with_its_bearer_scheme_is_sent_with_it_once() {
        const BARE: &str = "tok-PERSONAL-9z8y7x";
        let dir = scratch();
        let file = write(dir.path(), "token", &format!("Bearer {BARE}\n"));
        let groups = write(dir.path(), "groups.yaml", "groups: []\n");
        for from_file in [true, false] {
            let server = MockServer::start().await;
            Mock::given(wiremock::matchers::any())
                .respond_with(ResponseTemplate::new(401).set_body_json(json!({"message": "Unauthenticated."})))
                .mount(&server)
                .await;
            let (d, uri, groups, file) = (dir.path().to_path_buf(), server.uri(), groups.clone(), file.clone());
            let out = tokio::task::spawn_blocking(move || {
                let cli = Cli::new(&d).args(&["plan", "-f", &groups, "--api-url", &uri, "--org", "org1", "-vv"]);
                let cli =
                    if from_file { cli.args(&["--token-file", &file]) } else { cli.env("TALLYFY_ACCESS_TOKEN", &format!("bearer {BARE}")) };
                cli.run()
            })
            .await
            .expect("join");
            assert_eq!(out.code, 1, "{}", out.stderr);
            let requests = server.received_requests().await.expect("recorded");
            assert!(!requests.is_empty(), "{}", out.stderr);
            for r in &requests {
                let sent = r.headers.get("authorization").and_then(|v| v.to_str().ok());
                assert_eq!(sent, Some(format!("Bearer {BARE}").as_str()), "from the file: {from_file}");
            }
            assert!(out.stderr.contains("starts with `Bearer `"), "said so at -vv: {}", out.stderr);
            assert!(!out.stderr.contains(BARE), "{}", out.stderr);
        }
    }
}

#[test]
fn the_token_never_appears_in_any_output() {
    const TOKEN: &str = "tfy-SECRET-7f3a9c";
    const CLIENT_SECRET: &str = "cs-SECRET-3e8d10";
    /// How every access token the sandbox issues begins.
    const ISSUED: &str = "sandbox-access-";
    let served = serve(&["--token", TOKEN]);
    let dir = scratch();
    let d = dir.path();
    let token_file = write(d, "token", &format!("{TOKEN}\n"));
    let ex = example();
    let ex = ex.to_str().unwrap_or_default();
    let plan = d.join("plan.json");
    let report = d.join("report.json");
    let exported = d.join("export.yaml");
    let p = plan.to_str().unwrap_or_default();
    let mut outputs = Vec::new();
    for verbosity in [&[][..], &["-v"][..], &["-vv"][..]] {
        for log_format in ["text", "json"] {
            let common = |args: &[&str]| {
                let mut all: Vec<&str> = args.to_vec();
                all.extend_from_slice(verbosity);
                all.extend_from_slice(&["--log-format", log_format, "--api-url", &served.url, "--org", "sandbox"]);
                Cli::new(d).args(&all).env("TALLYFY_ACCESS_TOKEN", TOKEN).run()
            };
            outputs.push(common(&["plan", "-f", ex, "--out", p, "--format", "json"]));
            outputs.push(common(&["apply", p, "--auto-approve", "--report", report.to_str().unwrap_or_default()]));
            outputs.push(common(&["apply", "-f", ex, "--auto-approve"]));
            outputs.push(common(&["export", "--out", exported.to_str().unwrap_or_default()]));
        }
    }
    // The token file, and a wrong token that the server rejects.
    outputs.push(
        Cli::new(d)
            .args(&["plan", "-f", ex, "-vv", "--api-url", &served.url, "--org", "sandbox", "--token-file", &token_file])
            .run()
            .expect_code(0),
    );
    let rejected = Cli::new(d)
        .args(&["plan", "-f", ex, "-vv", "--api-url", &served.url, "--org", "sandbox"])
        .env("TALLYFY_ACCESS_TOKEN", &format!("{TOKEN}-old"))
        .run()
        .expect_code(1);
    assert!(rejected.stderr.contains("HTTP 401"), "{}", rejected.stderr);
    outputs.push(rejected);
    // Client credentials, with tokens that expire every three requests, and a wrong secret.
    let oauth = serve(&["--client-id", "ci-app", "--client-secret", CLIENT_SECRET, "--token-uses", "3"]);
    for verbosity in ["-v", "-vv"] {
        for log_format in ["text", "json"] {
            let run = |args: &[&str]| {
                let all = [args, &[verbosity, "--log-format", log_format, "--parallelism", "1"][..]].concat();
                with_client(d, &oauth.url, CLIENT_SECRET, &all)
            };
            outputs.push(run(&["plan", "-f", ex, "--out", p, "--format", "json"]).expect_code(0));
            outputs.push(run(&["apply", p, "--auto-approve", "--report", report.to_str().unwrap_or_default()]).expect_code(0));
            outputs.push(run(&["export", "--out", exported.to_str().unwrap_or_default()]).expect_code(0));
        }
    }
    outputs.push(with_client(d, &oauth.url, &format!("{CLIENT_SECRET}-old"), &["plan", "-f", ex, "-vv"]).expect_code(1));
    assert!(admin(&oauth.url, "stats")["tokens_issued"].as_u64().unwrap_or(0) > 12, "tokens were renewed mid-run");
    for run in &outputs {
        assert!(run.code == 0 || run.code == 1, "{run:?}");
        assert!(!run.stdout.contains(TOKEN) && !run.stderr.contains(TOKEN), "the token leaked:\n{run:?}");
        assert!(!run.stdout.contains(CLIENT_SECRET) && !run.stderr.contains(CLIENT_SECRET), "the client secret leaked:\n{run:?}");
        for out in [&run.stdout, &run.stderr] {
            assert!(!out.contains(ISSUED), "an issued access token leaked:\n{run:?}");
        }
    }
    assert!(outputs.iter().any(|r| r.stderr.contains("request")), "verbose runs logged requests");
    for file in [&plan, &report, &exported] {
        let text = std::fs::read_to_string(file).expect("written");
        assert!(!text.contains(TOKEN), "the token leaked into {}", file.display());
        assert!(!text.contains(CLIENT_SECRET) && !text.contains(ISSUED), "a client secret or token leaked into {}", file.display());
    }
}

/// Runs the binary against a served sandbox with client credentials.
fn with_client(d: &Path, url: &str, secret: &str, args: &[&str]) -> Run {
    Cli::new(d)
        .args(args)
        .args(&["--api-url", url, "--org", "sandbox"])
        .env("TALLYFY_CLIENT_ID", "ci-app")
        .env("TALLYFY_CLIENT_SECRET", secret)
        .run()
}

/// A count from the sandbox's request statistics.
fn stat(stats: &Value, pointer: &str) -> u64 {
    stats.pointer(pointer).and_then(Value::as_u64).unwrap_or(0)
}

#[test]
fn client_credentials_outlive_tokens_that_expire_mid_run() {
    const USES: u64 = 2;
    let uses = USES.to_string();
    let served = serve(&["--client-id", "ci-app", "--client-secret", "cs-SANDBOX-77aa", "--token-uses", &uses]);
    let dir = scratch();
    let d = dir.path();
    let ex = example();
    let ex = ex.to_str().unwrap_or_default();
    // One request in flight at a time: every token serves exactly USES requests, then one 401
    // brings one new exchange.
    let mut before = admin(&served.url, "stats");
    for (args, code) in [
        (&["plan", "-f", ex, "--detailed-exitcode"][..], 2),
        (&["apply", "-f", ex, "--auto-approve"][..], 0),
        (&["plan", "-f", ex, "--detailed-exitcode"][..], 0),
    ] {
        let args = [args, &["--parallelism", "1"][..]].concat();
        with_client(d, &served.url, "cs-SANDBOX-77aa", &args).expect_code(code);
        let after = admin(&served.url, "stats");
        let delta = |p: &str| stat(&after, p) - stat(&before, p);
        let exchanges = delta("/requests/POST ~1oauth~1token");
        let refused = delta("/statuses/401");
        let accepted = delta("/total") - exchanges - refused;
        assert_eq!(exchanges, accepted.div_ceil(USES), "{args:?}: {accepted} requests with a token, {exchanges} exchanges");
        assert_eq!(refused, exchanges - 1, "{args:?}: one 401 per expired token");
        assert!(refused >= 1, "{args:?}: a token expired mid-run");
        before = after;
    }
    // The wrong secret is refused at start, explained, and never shown.
    let run = with_client(d, &served.url, "cs-WRONG-0000", &["plan", "-f", ex]).expect_code(1);
    assert!(run.stderr.contains("TALLYFY_CLIENT_SECRET"), "{}", run.stderr);
    assert!(!run.stderr.contains("cs-WRONG-0000"), "{}", run.stderr);
}

#[test]
fn client_credentials_outlive_a_short_token_ttl() {
    // Every answer leaves 600 ms after its request arrived, so a token issued before the reads
    // has expired (0.5 s) by the time the write is sent.
    let served = serve(&["--client-id", "ci-app", "--token-ttl", "0.5", "--latency", "600"]);
    let dir = scratch();
    let d = dir.path();
    let f = write(d, "g.yaml", "groups:\n  - name: Night Shift\n    members: [alice.nguyen@example.com]\n");
    with_client(d, &served.url, "sandbox-secret", &["apply", "-f", &f, "--auto-approve"]).expect_code(0);
    with_client(d, &served.url, "sandbox-secret", &["plan", "-f", &f, "--detailed-exitcode"]).expect_code(0);
    let stats = admin(&served.url, "stats");
    assert!(stat(&stats, "/tokens_expired") >= 1, "no token expired: {stats}");
    assert!(stat(&stats, "/requests/POST ~1oauth~1token") >= 3, "apply renewed its token: {stats}");
    assert_eq!(members_of(&served.url, "Night Shift"), vec![1001]);
}

#[test]
fn large_and_hostile_files() {
    let dir = scratch();
    let d = dir.path();
    // 10,000 groups validate.
    let mut big = String::from("groups:\n");
    for i in 0..10_000 {
        big.push_str(&format!("  - name: Group {i:05}\n    members: [user{i}@example.com]\n"));
    }
    let f = write(d, "big.yaml", &big);
    let run = Cli::new(d).args(&["validate", "-f", &f]).run().expect_code(0);
    assert!(run.stdout.contains("10000 groups"), "{}", run.stdout);
    // Over the size limit: refused before parsing.
    let huge = d.join("huge.yaml");
    std::fs::File::create(&huge).and_then(|f| f.set_len(65 * 1024 * 1024)).expect("sparse file");
    let run = Cli::new(d).args(&["validate", "-f", huge.to_str().unwrap_or_default()]).run().expect_code(1);
    assert!(run.stderr.contains("huge.yaml is larger than 64 MiB (68157440 bytes), the limit for one file"), "{}", run.stderr);
    // An alias bomb, binary garbage and deep nesting: clear errors, no panic.
    let bomb = write(d, "bomb.yaml", "a: &a [x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a]\ngroups: [*b, *b]\n");
    let run = Cli::new(d).args(&["validate", "-f", &bomb]).run().expect_code(1);
    assert!(run.stderr.contains("bomb.yaml:1:7: YAML anchors and aliases are not supported"), "{}", run.stderr);
    let garbage: Vec<u8> = (0..4096u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    let g = d.join("garbage.yaml");
    std::fs::write(&g, garbage).expect("write");
    let run = Cli::new(d).args(&["validate", "-f", g.to_str().unwrap_or_default()]).run().expect_code(1);
    assert!(run.stderr.contains("garbage.yaml:"), "{}", run.stderr);
    let deep = write(
        d,
        "deep.yaml",
        &format!("groups:\n{}\n", (0..200).map(|i| format!("{}- ", " ".repeat(i * 2))).collect::<Vec<_>>().join("\n")),
    );
    let run = Cli::new(d).args(&["validate", "-f", &deep]).run().expect_code(1);
    assert!(run.stderr.contains("deep.yaml:"), "{}", run.stderr);
}

#[test]
fn a_partial_apply_exits_1_reports_every_action_and_the_rerun_plans_the_rest() {
    let served = serve(&["--guest-limit", "1"]);
    let dir = scratch();
    let d = dir.path();
    let f = write(
        d,
        "g.yaml",
        "groups:\n  - name: Partners A\n    guests: [a@partner.example]\n  - name: Partners B\n    guests: [b@partner.example]\n  - name: Staff\n    members: [alice.nguyen@example.com]\n",
    );
    let report = d.join("report.json");
    let remote = |args: &[&str]| {
        Cli::new(d)
            .args(args)
            .args(&["--api-url", &served.url, "--org", "sandbox", "--max-retry-time", "5"])
            .env("TALLYFY_ACCESS_TOKEN", "sandbox-token")
            .run()
    };
    let run = remote(&[
        "apply",
        "-f",
        &f,
        "--auto-approve",
        "--parallelism",
        "1",
        "--guest-invites-per-hour",
        "100",
        "--report",
        report.to_str().unwrap_or_default(),
    ])
    .expect_code(1);
    assert!(run.stdout.contains("Apply: 3 applied, 1 failed, 1 skipped."), "{}", run.stdout);
    assert!(
        run.stdout.contains("FAILED  invite guest b@partner.example: POST /organizations/sandbox/guests was rate limited"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("skipped create group \"Partners B\": guest b@partner.example could not be invited"), "{}", run.stdout);
    let report: Value = serde_json::from_str(&std::fs::read_to_string(&report).expect("report")).expect("json");
    let statuses: Vec<&str> =
        report["results"].as_array().into_iter().flatten().map(|r| r["outcome"]["status"].as_str().unwrap_or_default()).collect();
    assert_eq!(statuses, vec!["applied", "failed", "applied", "skipped", "applied"]);
    let plan = remote(&["plan", "-f", &f, "--detailed-exitcode"]).expect_code(2);
    assert!(
        plan.stdout.contains("Plan: 1 to create, 0 to update, 0 to delete. 1 guest to invite. Apply will make 2 API calls."),
        "{}",
        plan.stdout
    );
}

#[test]
fn a_directory_of_files_merges() {
    let dir = scratch();
    let d = dir.path();
    let groups = d.join("groups");
    std::fs::create_dir(&groups).expect("mkdir");
    std::fs::write(groups.join("10-settings.yaml"), "settings:\n  ignore: ['Temp *']\ngroups: []\n").expect("write");
    std::fs::write(groups.join("20-teams.yml"), "groups:\n  - name: Support Escalation\n    members: [marco.rossi@example.com]\n")
        .expect("write");
    std::fs::write(groups.join("README.md"), "not yaml: [").expect("write");
    let g = groups.to_str().unwrap_or_default();
    let run = Cli::new(d).args(&["validate", "-f", g]).run().expect_code(0);
    assert!(run.stdout.contains("are valid: 1 group to keep."), "{}", run.stdout);
    let plan = sb(d, &["plan", "-f", g]).expect_code(0);
    assert!(plan.stdout.contains("~ update group \"Support Escalation\""), "{}", plan.stdout);
    assert!(plan.stdout.contains("Ignored: 1 group"), "{}", plan.stdout);
    std::fs::write(groups.join("30-more.yaml"), "groups:\n  - name: support escalation\n").expect("write");
    let run = Cli::new(d).args(&["validate", "-f", g]).run().expect_code(1);
    assert!(run.stderr.contains("30-more.yaml:2:11: group \"support escalation\" is defined twice (first at"), "{}", run.stderr);
    assert!(run.stderr.contains("20-teams.yml:2:11)"), "{}", run.stderr);
}

/// A FIFO fed by a thread with `head` and then `pad_bytes` of YAML comments, as `<(...)` gives.
#[cfg(unix)]
fn fifo(dir: &Path, name: &str, head: &str, pad_bytes: usize) -> (String, std::thread::JoinHandle<()>) {
    use std::io::Write;
    let p = dir.join(name);
    let made = Command::new("mkfifo").arg(&p).status().expect("mkfifo runs");
    assert!(made.success());
    let path = p.clone();
    let head = head.to_string();
    let writer = std::thread::spawn(move || {
        let Ok(mut f) = std::fs::OpenOptions::new().write(true).open(&path) else { return };
        let line = format!("#{}\n", "x".repeat(1022));
        let _ = f.write_all(head.as_bytes());
        for _ in 0..pad_bytes / line.len() {
            // The reader stops early when the cap holds: a broken pipe ends the writer.
            if f.write_all(line.as_bytes()).is_err() {
                return;
            }
        }
    });
    (p.to_string_lossy().into_owned(), writer)
}

#[cfg(unix)]
#[test]
fn the_size_cap_holds_for_pipes_devices_and_token_files() {
    use std::time::Duration;
    let dir = scratch();
    let d = dir.path();
    // A FIFO: a valid document followed by 65 MiB of comments is refused, not read whole.
    let (f, writer) = fifo(d, "groups.fifo", "groups: []\n", 65 * 1024 * 1024);
    let run = Cli::new(d).args(&["validate", "-f", &f]).run_within(Duration::from_secs(60)).expect_code(1);
    assert!(run.stderr.contains("groups.fifo is larger than 64 MiB, the limit for one file"), "{}", run.stderr);
    let _ = writer.join();
    // The same file under 64 MiB is read.
    let (f, writer) = fifo(d, "small.fifo", "groups: []\n", 1024 * 1024);
    Cli::new(d).args(&["validate", "-f", &f]).run_within(Duration::from_secs(60)).expect_code(0);
    let _ = writer.join();
    // A device that never ends.
    let run = Cli::new(d).args(&["validate", "-f", "/dev/zero"]).run_within(Duration::from_secs(60)).expect_code(1);
    assert!(run.stderr.contains("/dev/zero is larger than 64 MiB"), "{}", run.stderr);
    let run = Cli::new(d)
        .args(&["plan", "-f", &write(d, "g.yaml", "groups: []\n"), "--org", "o", "--api-url", "http://127.0.0.1:9/api"])
        .args(&["--token-file", "/dev/zero"])
        .run_within(Duration::from_secs(60))
        .expect_code(1);
    assert!(run.stderr.contains("the token file /dev/zero is larger than 64 MiB"), "{}", run.stderr);
}

#[test]
fn plain_http_never_goes_through_a_proxy() {
    let served = serve(&[]);
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let proxy = rt.block_on(wiremock::MockServer::start());
    let dir = scratch();
    let d = dir.path();
    let f = write(d, "g.yaml", "groups: []\n");
    let run = Cli::new(d)
        .args(&["plan", "-f", &f, "--api-url", &served.url, "--org", "sandbox"])
        .env("TALLYFY_ACCESS_TOKEN", "sandbox-token")
        .env("HTTP_PROXY", &proxy.uri())
        .env("http_proxy", &proxy.uri())
        .env("ALL_PROXY", &proxy.uri())
        .env("NO_PROXY", "")
        .run();
    let seen = rt.block_on(proxy.received_requests()).unwrap_or_default();
    assert!(seen.is_empty(), "{} request(s) went through the proxy, token included: {:?}", seen.len(), seen.first().map(|r| &r.url));
    run.expect_code(0);
}

#[test]
fn https_goes_through_a_proxy_with_connect() {
    use std::io::Read;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        if let Ok((mut conn, _)) = listener.accept() {
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") && conn.read(&mut byte).map(|n| n == 1).unwrap_or(false) {
                head.push(byte[0]);
            }
            let _ = tx.send(String::from_utf8_lossy(&head).into_owned());
        }
    });
    let dir = scratch();
    let d = dir.path();
    let f = write(d, "g.yaml", "groups: []\n");
    Cli::new(d)
        .args(&["plan", "-f", &f, "--api-url", "https://tallyfy.invalid/api", "--org", "o", "--max-retry-time", "0", "--timeout", "5"])
        .env("TALLYFY_ACCESS_TOKEN", "tfy-PROXIED-5e1")
        .env("HTTPS_PROXY", &format!("http://127.0.0.1:{port}"))
        .env("https_proxy", &format!("http://127.0.0.1:{port}"))
        .env("NO_PROXY", "")
        .run()
        .expect_code(1);
    let head = rx.recv_timeout(std::time::Duration::from_secs(10)).expect("the proxy was asked to connect");
    assert!(head.starts_with("CONNECT tallyfy.invalid:443 HTTP/1.1\r\n"), "{head}");
    assert!(!head.contains("tfy-PROXIED-5e1"), "the token travels only inside the tunnel: {head}");
}

#[cfg(unix)]
#[test]
fn a_secret_file_readable_by_others_gets_a_warning() {
    use std::os::unix::fs::PermissionsExt;
    let served = serve(&[]);
    let dir = scratch();
    let d = dir.path();
    let f = write(d, "g.yaml", "groups: []\n");
    let token = write(d, "token", "sandbox-token\n");
    let plan = |mode: u32| {
        std::fs::set_permissions(&token, std::fs::Permissions::from_mode(mode)).expect("chmod");
        Cli::new(d).args(&["plan", "-f", &f, "--api-url", &served.url, "--org", "sandbox", "--token-file", &token]).run().expect_code(0)
    };
    let open = plan(0o644);
    assert!(open.stderr.contains(&format!("the token file {token} can be read by other users (mode 644)")), "{}", open.stderr);
    assert!(open.stderr.contains(&format!("chmod 600 {token}")), "{}", open.stderr);
    let closed = plan(0o600);
    assert!(!closed.stderr.contains("can be read by other users"), "{}", closed.stderr);
    // A client secret file, the same.
    let secret = write(d, "client-secret", "sandbox-secret\n");
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o640)).expect("chmod");
    let open = Cli::new(d)
        .args(&["plan", "-f", &f, "--api-url", &served.url, "--org", "sandbox", "--client-secret-file", &secret])
        .env("TALLYFY_CLIENT_ID", "sandbox-client")
        .run()
        .expect_code(0);
    assert!(open.stderr.contains(&format!("the client secret file {secret} can be read by other users (mode 640)")), "{}", open.stderr);
}

/// A running apply whose stderr lines are watched as they come.
#[cfg(unix)]
struct Watched {
    child: Child,
    lines: std::sync::mpsc::Receiver<String>,
    stderr: Vec<String>,
}

#[cfg(unix)]
impl Watched {
    fn start(dir: &Path, args: &[&str], token: &str) -> Self {
        let mut child = Command::new(BIN)
            .current_dir(dir)
            .args(args)
            .env("NO_COLOR", "1")
            .env("TALLYFY_ACCESS_TOKEN", token)
            .env_remove("TALLYFY_API_TOKEN")
            .env_remove("TALLYFY_CLIENT_ID")
            .env_remove("TALLYFY_CLIENT_SECRET")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the binary runs");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        Watched { child, lines, stderr: Vec::new() }
    }

    /// Waits (at most 60 s) for a stderr line containing `text`.
    fn wait_for(&mut self, text: &str) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while let Ok(line) = self.lines.recv_timeout(deadline.saturating_duration_since(std::time::Instant::now())) {
            let found = line.contains(text);
            self.stderr.push(line);
            if found {
                return;
            }
        }
        panic!("no line with {text:?} on stderr:\n{}", self.stderr.join("\n"));
    }

    fn signal(&self, name: &str) {
        let sent = Command::new("kill").args([&format!("-{name}"), &self.child.id().to_string()]).status().expect("kill runs");
        assert!(sent.success());
    }

    fn finish(mut self) -> Run {
        use std::io::Read;
        let mut stdout = String::new();
        if let Some(mut out) = self.child.stdout.take() {
            let _ = out.read_to_string(&mut stdout);
        }
        let status = self.child.wait().expect("wait");
        self.stderr.extend(self.lines.try_iter());
        Run { code: status.code().unwrap_or(-1), stdout, stderr: self.stderr.join("\n") }
    }
}

/// The outcome status of every action in an apply's `--report`, in order.
fn report_statuses(report: &Path) -> Vec<String> {
    let written: Value = serde_json::from_str(&std::fs::read_to_string(report).expect("report")).expect("json");
    written["results"].as_array().into_iter().flatten().map(|r| r["outcome"]["status"].as_str().unwrap_or_default().to_string()).collect()
}

#[cfg(unix)]
#[test]
fn sigterm_stops_an_apply_like_ctrl_c_and_a_second_one_still_writes_the_report() {
    // Each request takes 1.5 s, so the first action is in flight when the signal comes.
    let served = serve(&["--latency", "1500"]);
    let dir = scratch();
    let d = dir.path();
    let ex = example();
    let report = d.join("report.json");
    let args = [
        "apply",
        "-f",
        ex.to_str().unwrap_or_default(),
        "--auto-approve",
        "-v",
        "--parallelism",
        "1",
        "--report",
        report.to_str().unwrap_or_default(),
        "--api-url",
        &served.url,
        "--org",
        "sandbox",
    ];
    let start = |d: &Path| Watched::start(d, &args, "sandbox-token");
    // One SIGTERM: the action in flight finishes (within the grace), nothing else starts, the
    // report is written, exit 130.
    let mut once = start(d);
    once.wait_for("applying");
    std::thread::sleep(std::time::Duration::from_millis(500));
    once.signal("TERM");
    let run = once.finish().expect_code(130);
    assert!(run.stdout.contains("Apply: 1 applied, 0 failed, 5 skipped."), "{}\n{}", run.stdout, run.stderr);
    assert_eq!(run.stdout.matches(": apply was interrupted; nothing of this action was sent").count(), 5, "{}", run.stdout);
    let written: Value = serde_json::from_str(&std::fs::read_to_string(&report).expect("report")).expect("json");
    assert_eq!(written["results"].as_array().map(Vec::len), Some(6), "{written}");
    std::fs::remove_file(&report).expect("rm");
    // Two signals: the request in flight is abandoned, the report still written, exit 130.
    let mut twice = start(d);
    twice.wait_for("applying");
    std::thread::sleep(std::time::Duration::from_millis(500));
    twice.signal("TERM");
    twice.wait_for("Interrupted:");
    twice.signal("INT");
    let run = twice.finish().expect_code(130);
    // The first run applied one action, so five remain.
    assert!(run.stdout.contains("Apply: 0 applied, 0 failed, 4 skipped, 1 unknown"), "{}\n{}", run.stdout, run.stderr);
    let statuses = report_statuses(&report);
    assert_eq!(statuses.iter().filter(|s| **s == "unknown").count(), 1, "{statuses:?}");
}

#[cfg(unix)]
#[test]
fn a_stop_signal_while_waiting_for_the_rate_limit_exits_130_within_seconds_with_a_report() {
    // Four requests a minute: the apply soon waits most of a minute for the window.
    let served = serve(&["--rate-limit-per-minute", "4"]);
    let dir = scratch();
    let d = dir.path();
    let ex = example();
    let report = d.join("report.json");
    let args = [
        "apply",
        "-f",
        ex.to_str().unwrap_or_default(),
        "--auto-approve",
        "-v",
        "--report",
        report.to_str().unwrap_or_default(),
        "--api-url",
        &served.url,
        "--org",
        "sandbox",
        // The usage reads would spend the window before apply starts: not what this is about.
        "--usage-check",
        "never",
    ];
    let mut run = Watched::start(d, &args, "sandbox-token");
    run.wait_for("lower rate limit");
    std::thread::sleep(std::time::Duration::from_millis(300));
    let signalled = std::time::Instant::now();
    run.signal("TERM");
    let run = run.finish().expect_code(130);
    let took = signalled.elapsed();
    assert!(took < std::time::Duration::from_secs(5), "exited {took:?} after SIGTERM\n{}", run.stderr);
    let statuses = report_statuses(&report);
    assert_eq!(statuses.len(), 6, "{statuses:?}");
    assert!(statuses.iter().all(|s| matches!(s.as_str(), "applied" | "skipped")), "nothing was in flight: {statuses:?}");
    assert!(statuses.iter().any(|s| s == "skipped"), "{statuses:?}");
    assert!(run.stdout.contains("apply was interrupted; nothing of this action was sent"), "{}", run.stdout);
}

#[test]
fn out_of_range_numbers_are_usage_errors_never_a_panic() {
    let dir = scratch();
    let d = dir.path();
    let f = write(d, "g.yaml", "groups: []\n");
    let bad = [
        ("plan", "--max-rps", "1e-20"),
        ("plan", "--max-rps", "-1"),
        ("plan", "--max-rps", "NaN"),
        ("plan", "--max-rps", "inf"),
        ("plan", "--max-rps", "1e300"),
        ("plan", "--timeout", "0"),
        ("plan", "--timeout", "18446744073709551615"),
        ("plan", "--max-retry-time", "99999999999"),
        ("plan", "--parallelism", "0"),
        ("apply", "--guest-invites-per-hour", "0"),
        ("export", "--max-rps", "-0.5"),
    ];
    for (command, flag, value) in bad {
        let files: &[&str] = if command == "export" { &[] } else { &["-f", &f] };
        let arg = format!("{flag}={value}");
        let run = sb(d, &[&[command, arg.as_str()][..], files].concat());
        assert_eq!(run.code, 1, "{command} {flag} {value} should be a usage error:\n{}", run.stderr);
        assert!(run.stderr.contains(flag), "{flag} {value}: {}", run.stderr);
        assert!(!run.stderr.contains("panicked"), "{flag} {value}: {}", run.stderr);
    }
    for args in [&["sandbox", "--seed-users", "100000000000"][..], &["sandbox", "--latency", "18446744073709551615"][..]] {
        let run = Cli::new(d).args(args).args(&["--listen", "127.0.0.1:0"]).run_within(std::time::Duration::from_secs(30));
        assert_eq!(run.code, 1, "{args:?} should be a usage error:\n{}", run.stderr);
        assert!(run.stderr.contains(args[1]), "{args:?}: {}", run.stderr);
    }
    // The limits themselves are accepted: 0 means no limit.
    sb(d, &["plan", "-f", &f, "--max-rps", "0", "--timeout", "1", "--max-retry-time", "0"]).expect_code(0);
}

#[test]
fn export_of_edge_cases_plans_empty() {
    let served = serve(&[]);
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    rt.block_on(async {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::new();
        let groups = [
            json!({"name": "null", "description": "~", "members": [1001]}),
            json!({"name": "~", "description": "yes", "members": [1002]}),
            json!({"name": "yes", "description": "null", "members": [1003]}),
            json!({"name": "0123", "description": "0123", "members": [1004]}),
            // Every member disabled, and some (user 1008 is disabled; unknown ids are covered by unit tests).
            json!({"name": "Only disabled", "description": "d", "members": [1008]}),
            json!({"name": "Some disabled", "description": "d", "members": [1001, 1008]}),
        ];
        for g in groups {
            let r = http
                .post(format!("{}/organizations/sandbox/groups", served.url))
                .header("Authorization", "Bearer sandbox-token")
                .header("X-Tallyfy-Client", "APIClient")
                .header("Content-Type", "application/json")
                .body(g.to_string())
                .send()
                .await
                .expect("send");
            assert_eq!(r.status().as_u16(), 201, "{g}");
        }
    });
    let dir = scratch();
    let d = dir.path();
    let out = d.join("exported.yaml");
    let o = out.to_str().unwrap_or_default();
    let remote = |args: &[&str]| {
        Cli::new(d).args(args).args(&["--api-url", &served.url, "--org", "sandbox"]).env("TALLYFY_ACCESS_TOKEN", "sandbox-token").run()
    };
    remote(&["export", "--out", o]).expect_code(0);
    let text = std::fs::read_to_string(&out).expect("export");
    Cli::new(d).args(&["validate", "-f", o]).run().expect_code(0);
    let plan = remote(&["plan", "-f", o, "--detailed-exitcode"]);
    assert_eq!(plan.code, 0, "the first plan is not empty:\n{}\n{}\n{text}", plan.stdout, plan.stderr);
}

#[test]
fn apply_says_what_it_was_given_when_it_is_not_a_saved_plan() {
    let dir = scratch();
    let d = dir.path();
    let ex = example();
    let ex = ex.to_str().unwrap_or_default();
    // A groups file where a saved plan is expected.
    let yaml = sb(d, &["apply", ex, "--auto-approve"]).expect_code(1);
    assert!(yaml.stderr.contains("groups.example.yaml is a groups file, not a saved plan: use -f"), "{}", yaml.stderr);
    assert!(yaml.stderr.contains(&format!("tallyfy-groups apply -f {ex}")), "{}", yaml.stderr);
    assert!(!yaml.stderr.contains("not JSON"), "{}", yaml.stderr);
    // A `--format json` rendering: a rendering, and how to make a saved plan.
    let json = sb(d, &["plan", "-f", ex, "--format", "json"]).expect_code(0);
    let rendering = write(d, "plan.json", &json.stdout);
    let refused = sb(d, &["apply", &rendering, "--auto-approve"]).expect_code(1);
    assert!(refused.stderr.contains("it is a `plan --format json` rendering"), "{}", refused.stderr);
    assert!(refused.stderr.contains("hint: make one with `tallyfy-groups plan --out PLAN`"), "{}", refused.stderr);
}

#[test]
fn a_saved_plan_applied_twice_says_it_was_already_applied() {
    let dir = scratch();
    let d = dir.path();
    let ex = example();
    let plan_file = d.join("plan.json");
    let pf = plan_file.to_str().unwrap_or_default();
    sb(d, &["plan", "-f", ex.to_str().unwrap_or_default(), "--out", pf]).expect_code(0);
    sb(d, &["apply", pf, "--auto-approve"]).expect_code(0);
    let state = std::fs::read(d.join("state.json")).expect("state");
    let again = sb(d, &["apply", pf, "--auto-approve"]).expect_code(0);
    assert!(again.stdout.contains("Nothing to do: this plan was already applied"), "{}\n{}", again.stdout, again.stderr);
    assert!(!again.stderr.contains("changed since the plan was made"), "{}", again.stderr);
    assert!(!again.stdout.contains("Apply report"), "{}", again.stdout);
    assert_eq!(std::fs::read(d.join("state.json")).expect("state"), state, "nothing was written");
    // A group changed after the apply: no longer "already applied", but stale.
    let other = write(d, "other.yaml", "groups:\n  - name: Support Escalation\n    members: [marco.rossi@example.com]\n");
    sb(d, &["apply", "-f", &other, "--auto-approve"]).expect_code(0);
    let stale = sb(d, &["apply", pf, "--auto-approve"]).expect_code(3);
    assert!(stale.stderr.contains("changed since the plan was made"), "{}", stale.stderr);
}

#[test]
fn a_plan_made_on_the_embedded_sandbox_applies_there_without_sandbox_again() {
    let dir = scratch();
    let d = dir.path();
    let ex = example();
    let ex = ex.to_str().unwrap_or_default();
    let plan_file = d.join("plan.json");
    let pf = plan_file.to_str().unwrap_or_default();
    sb(d, &["plan", "-f", ex, "--out", pf]).expect_code(0);
    let applied = Cli::new(d).args(&["apply", pf, "--auto-approve"]).run().expect_code(0);
    assert!(applied.stdout.contains("Apply: 6 applied, 0 failed"), "{}\n{}", applied.stdout, applied.stderr);
    sb(d, &["plan", "-f", ex, "--detailed-exitcode"]).expect_code(0);

    // Another configured target is refused before anything is read, naming both.
    sb(d, &["plan", "-f", ex, "--out", pf]).expect_code(0);
    let elsewhere = Cli::new(d)
        .args(&["apply", pf, "--auto-approve", "--api-url", "https://127.0.0.1:9/api", "--org", "acme"])
        .env("TALLYFY_ACCESS_TOKEN", "t")
        .run()
        .expect_code(3);
    let state = d.join("state.json");
    assert!(elsewhere.stderr.contains(&format!("made for:   organization sandbox at sandbox:{}", state.display())), "{}", elsewhere.stderr);
    assert!(elsewhere.stderr.contains("configured: organization acme at https://127.0.0.1:9/api"), "{}", elsewhere.stderr);
    assert!(!elsewhere.stderr.contains("got no answer"), "nothing is read from the other target: {}", elsewhere.stderr);

    // A plan made on Tallyfy (here a served sandbox) is never sent to the embedded sandbox.
    let served = serve(&[]);
    remote(d, &served.url, &["plan", "-f", ex, "--out", pf]).expect_code(0);
    let moved = sb(d, &["apply", pf, "--auto-approve"]).expect_code(3);
    assert!(moved.stderr.contains(&format!("made for:   organization sandbox at {}", served.url)), "{}", moved.stderr);
    assert!(moved.stderr.contains("configured: organization sandbox at sandbox:"), "{}", moved.stderr);
}

#[test]
fn the_same_file_given_twice_is_read_once() {
    let dir = scratch();
    let d = dir.path();
    let a = write(d, "a.yaml", "groups:\n  - name: Ops\n    members: [marco.rossi@example.com]\n");
    let run = Cli::new(d).args(&["validate", "-f", &a, "-f", &a]).run().expect_code(0);
    assert!(run.stdout.contains("a.yaml is valid: 1 group to keep."), "{}\n{}", run.stdout, run.stderr);
    // The same file through its directory and by a second spelling of its path.
    let dotted = d.join(".").join("a.yaml");
    let run = Cli::new(d).args(&["validate", "-f", d.to_str().unwrap_or_default(), "-f", dotted.to_str().unwrap_or_default()]).run();
    let run = run.expect_code(0);
    assert!(run.stdout.contains("valid: 1 group to keep."), "{}\n{}", run.stdout, run.stderr);
}

#[test]
fn one_sandbox_serves_two_organizations_that_converge_each_on_its_own() {
    let served = serve(&["--org", "staging", "--org", "production"]);
    let dir = scratch();
    let d = dir.path();
    let ex = example();
    let ex = ex.to_str().unwrap_or_default();
    let at = |org: &str, args: &[&str]| {
        Cli::new(d).args(args).args(&["--api-url", &served.url, "--org", org]).env("TALLYFY_ACCESS_TOKEN", "sandbox-token").run()
    };
    let summary = "Plan: 1 to create, 3 to update, 1 to delete.";
    let first = at("staging", &["plan", "-f", ex, "--detailed-exitcode"]).expect_code(2);
    assert!(first.stdout.contains(summary), "{}", first.stdout);
    at("staging", &["apply", "-f", ex, "--auto-approve"]).expect_code(0);
    at("staging", &["plan", "-f", ex, "--detailed-exitcode"]).expect_code(0);
    // Production is untouched by staging's apply, and converges on its own.
    let other = at("production", &["plan", "-f", ex, "--detailed-exitcode"]).expect_code(2);
    assert!(other.stdout.contains(summary), "{}", other.stdout);
    at("production", &["apply", "-f", ex, "--auto-approve"]).expect_code(0);
    at("production", &["plan", "-f", ex, "--detailed-exitcode"]).expect_code(0);
    let refused = at("sandbox", &["plan", "-f", ex]).expect_code(1);
    assert!(refused.stderr.contains("403"), "{}", refused.stderr);
    // The same groups in both, under different ids; requests counted per organization.
    let state = admin(&served.url, "state");
    let groups = |org: &str| -> Vec<(String, String)> {
        let mut g: Vec<(String, String)> = state["organizations"][org]["groups"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(id, g)| (g["name"].as_str().unwrap_or_default().to_string(), id.clone()))
            .collect();
        g.sort();
        g
    };
    let (staging, production) = (groups("staging"), groups("production"));
    assert_eq!(staging.len(), 6, "{state}");
    assert_eq!(staging.iter().map(|g| &g.0).collect::<Vec<_>>(), production.iter().map(|g| &g.0).collect::<Vec<_>>());
    assert!(staging.iter().all(|s| production.iter().all(|p| p.1 != s.1)), "{staging:?} {production:?}");
    let stats = admin(&served.url, "stats");
    let counted = |org: &str| stats["organizations"][org].as_u64().unwrap_or(0);
    assert!(counted("staging") > 0 && counted("production") > 0, "{stats}");
    // Every other request was the refused organization's.
    let refused = stats["statuses"]["403"].as_u64().unwrap_or(0);
    assert!(refused > 0, "{stats}");
    assert_eq!(counted("staging") + counted("production") + refused, stats["total"].as_u64().unwrap_or(0), "{stats}");
}

#[test]
fn the_sandbox_refuses_organization_ids_that_are_not_path_segments() {
    let dir = scratch();
    for org in ["a/b", "..", ""] {
        let run = Cli::new(dir.path())
            .args(&["sandbox", "--listen", "127.0.0.1:0", "--org", "ok", "--org", org])
            .run_within(std::time::Duration::from_secs(20));
        let run = run.expect_code(1);
        assert!(run.stderr.contains("organization id"), "{org:?}: {}", run.stderr);
    }
}

/// Terraform's conventions: a saved plan is the reviewed one and applies without a prompt (no
/// terminal needed); `plan --out` says how to apply it; `-y`/`--yes`, `--no-color` and
/// `apply --dry-run` work as they do there.
#[test]
fn a_saved_plan_applies_without_a_prompt_and_the_usual_flags_work() {
    let dir = scratch();
    let d = dir.path();
    let ex = example();
    let ex = ex.to_str().unwrap_or_default();
    // --dry-run is plan: it shows the changes and writes nothing.
    let dry = sb(d, &["apply", "-f", ex, "--dry-run", "--no-color"]).expect_code(0);
    assert!(dry.stdout.contains("Plan: 1 to create, 3 to update, 1 to delete.") && !dry.stdout.contains("Apply report"), "{}", dry.stdout);
    assert!(!dry.stdout.contains('\u{1b}'), "--no-color: {}", dry.stdout);
    let again = sb(d, &["plan", "-f", ex, "--detailed-exitcode"]).expect_code(2);
    assert!(again.stdout.contains("1 to create"), "the dry run wrote nothing: {}", again.stdout);
    let plan = d.join("plan.json");
    let saved = sb(d, &["plan", "-f", ex, "--out", plan.to_str().unwrap_or_default()]).expect_code(0);
    assert!(
        saved.stderr.contains(&format!("Saved the plan to {}. Apply it with: tallyfy-groups apply {}", plan.display(), plan.display())),
        "{}",
        saved.stderr
    );
    // No terminal and no --auto-approve: the saved plan applies all the same.
    let applied = sb(d, &["apply", plan.to_str().unwrap_or_default(), "-f", ex]).expect_code(0);
    assert!(applied.stdout.contains("Apply: 6 applied, 0 failed, 0 skipped."), "{}", applied.stdout);
    // --confirm asks, and without a terminal refuses.
    sb(d, &["plan", "-f", ex, "--out", plan.to_str().unwrap_or_default()]).expect_code(0);
    let edited = std::fs::read_to_string(ex).expect("example").replace("      - priya.shah@example.com\n    guests:", "    guests:");
    let file = write(d, "groups.yaml", &edited);
    sb(d, &["plan", "-f", &file, "--out", plan.to_str().unwrap_or_default()]).expect_code(0);
    let asked = sb(d, &["apply", plan.to_str().unwrap_or_default(), "-f", &file, "--confirm"]).expect_code(3);
    assert!(asked.stderr.contains("refusing to apply without confirmation: stdin is not a terminal"), "{}", asked.stderr);
    // -y and --yes are --auto-approve.
    sb(d, &["apply", "-f", ex, "-y"]).expect_code(0);
    sb(d, &["apply", "-f", &file, "--yes"]).expect_code(0);
}

/// A token given on the command line is refused without being shown, with what to do instead.
#[test]
fn a_token_on_the_command_line_is_refused_with_the_safe_ways() {
    let dir = scratch();
    for flag in ["--token", "--api-key"] {
        let run = Cli::new(dir.path()).args(&["plan", "--org", "acme", flag, "s3cr3t-value"]).run().expect_code(1);
        assert!(
            run.stderr.contains(&format!("{flag} is not taken: a token on the command line ends up in shell history")),
            "{}",
            run.stderr
        );
        assert!(run.stderr.contains("TALLYFY_ACCESS_TOKEN") && run.stderr.contains("--token-file FILE"), "{}", run.stderr);
        assert!(!run.stderr.contains("s3cr3t-value"), "{}", run.stderr);
    }
}

/// The embedded sandbox's state folder, made inside a Git work tree, ignores itself; outside
/// one it is left alone.
#[test]
fn the_sandbox_state_folder_is_kept_out_of_git() {
    let ex = example();
    let ex = ex.to_str().unwrap_or_default();
    let repo = scratch();
    std::fs::create_dir(repo.path().join(".git")).expect("mkdir");
    Cli::new(repo.path()).args(&["plan", "-f", ex, "--sandbox"]).run().expect_code(0);
    let ignore = std::fs::read_to_string(repo.path().join(".tallyfy-sandbox/.gitignore")).expect("a .gitignore in the state folder");
    assert!(ignore.lines().any(|l| l == "*"), "{ignore}");
    assert!(repo.path().join(".tallyfy-sandbox/state.json").exists());
    let elsewhere = scratch();
    Cli::new(elsewhere.path()).args(&["plan", "-f", ex, "--sandbox"]).run().expect_code(0);
    assert!(!elsewhere.path().join(".tallyfy-sandbox/.gitignore").exists());
}

/// Colour follows the CLICOLOR conventions beside NO_COLOR: CLICOLOR_FORCE colours a pipe,
/// NO_COLOR and CLICOLOR=0 turn it off, and `--color never` wins over them all.
#[test]
fn colour_follows_clicolor_force_no_color_and_clicolor() {
    let dir = scratch();
    let d = dir.path();
    let ex = example();
    let ex = ex.to_str().unwrap_or_default();
    let state = d.join("state.json");
    let state = state.to_str().unwrap_or_default();
    let plan = |env: &[(&str, &str)], extra: &[&str]| {
        let mut cli = Cli::new(d).env_remove("NO_COLOR").env_remove("CLICOLOR").env_remove("CLICOLOR_FORCE");
        for (k, v) in env {
            cli = cli.env(k, v);
        }
        cli.args(&["plan", "-f", ex, "--sandbox", "--sandbox-state", state]).args(extra).run().expect_code(0).stdout
    };
    assert!(!plan(&[], &[]).contains('\u{1b}'), "a pipe is not coloured");
    assert!(plan(&[("CLICOLOR_FORCE", "1")], &[]).contains("\u{1b}["), "CLICOLOR_FORCE colours a pipe");
    assert!(!plan(&[("CLICOLOR_FORCE", "1"), ("NO_COLOR", "1")], &[]).contains('\u{1b}'), "NO_COLOR wins");
    assert!(!plan(&[("CLICOLOR_FORCE", "1")], &["--color", "never"]).contains('\u{1b}'), "--color never wins");
    assert!(plan(&[("CLICOLOR", "0")], &["--color", "always"]).contains("\u{1b}["), "--color always wins");
}
