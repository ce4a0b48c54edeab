//! Temporary access end to end: the real binary on the embedded sandbox, every date evaluated
//! `--as-of` a given day (never the clock's). Apply before the day keeps the person, after it
//! removes them and the next plan is empty; a saved plan made before the day is refused after
//! it; validate warns on a passed day and fails on a broken rule.

use std::path::Path;

use serde_json::Value;

mod common;

use common::cli::{Cli, Run, write};

fn scratch() -> tempfile::TempDir {
    tempfile::tempdir().expect("tempdir")
}

/// `tallyfy-groups <args> --sandbox` with the sandbox state in `dir`.
fn sb(dir: &Path, args: &[&str]) -> Run {
    let state = dir.join("state.json");
    Cli::new(dir).args(args).args(&["--sandbox", "--sandbox-state", state.to_str().unwrap_or_default()]).run()
}

const AUDIT: &str = "groups:
  - name: Audit 2026
    description: Year-end audit.
    members:
      - alice.nguyen@example.com
      - {email: tom.becker@example.com, until: 2026-12-31, reason: TICKET-42}
    guests:
      - {email: auditor@audit-firm.example, until: 2027-01-15}
";

#[test]
fn access_ends_after_its_last_day_and_the_next_plan_is_empty() {
    let dir = scratch();
    let d = dir.path();
    let f = write(d, "groups.yaml", AUDIT);
    sb(d, &["apply", "-f", &f, "--auto-approve", "--as-of", "2026-12-20"]).expect_code(0);
    // Its last day: nothing changes, and it is expiring.
    let last_day = sb(d, &["plan", "-f", &f, "--detailed-exitcode", "--as-of", "2026-12-31"]).expect_code(0);
    assert!(
        last_day.stdout.contains("tom.becker@example.com in \"Audit 2026\" has its last day today (2026-12-31, TICKET-42)"),
        "{}",
        last_day.stdout
    );
    // The day after: the plan removes him, says why, and counts as a change.
    let after = sb(d, &["plan", "-f", &f, "--detailed-exitcode", "--as-of", "2027-01-01"]).expect_code(2);
    assert!(after.stdout.contains("- member tom.becker@example.com (Tom Becker) (expired 2026-12-31, TICKET-42)"), "{}", after.stdout);
    assert!(after.stdout.contains("auditor@audit-firm.example in \"Audit 2026\" expires in 14 days (2027-01-15)"), "{}", after.stdout);
    let json = sb(d, &["plan", "-f", &f, "--format", "json", "--as-of", "2027-01-01"]).expect_code(0);
    let doc: Value = serde_json::from_str(&json.stdout).expect("json");
    assert_eq!(doc["evaluated_at"], "2027-01-01");
    assert_eq!(doc["expired"][0]["email"], "tom.becker@example.com");
    assert_eq!(doc["expired"][0]["days"], -1);
    assert_eq!(doc["expiring"][0]["days"], 14);
    assert_eq!(doc["changes"][0]["after"]["guest_until"]["auditor@audit-firm.example"], "2027-01-15");
    sb(d, &["apply", "-f", &f, "--auto-approve", "--as-of", "2027-01-01"]).expect_code(0);
    sb(d, &["plan", "-f", &f, "--detailed-exitcode", "--as-of", "2027-01-01"]).expect_code(0);
    let exported = sb(d, &["export"]).expect_code(0).stdout;
    let audit = exported.split("- name: ").find(|s| s.starts_with("Audit 2026")).expect("exported");
    assert!(!audit.contains("tom.becker") && !audit.contains("until"), "export writes plain entries: {audit}");
}

#[test]
fn a_saved_plan_made_before_a_day_passed_is_stale_after_it() {
    let dir = scratch();
    let d = dir.path();
    let f = write(d, "groups.yaml", AUDIT);
    let pf = d.join("plan.json");
    let pf = pf.to_str().unwrap_or_default();
    sb(d, &["plan", "-f", &f, "--out", pf, "--as-of", "2026-12-30"]).expect_code(0);
    let state = d.join("state.json");
    let before = std::fs::read(&state).expect("state");
    let run = sb(d, &["apply", pf, "--as-of", "2027-01-02"]).expect_code(3);
    assert!(run.stderr.contains("refusing to apply a stale plan"), "{}", run.stderr);
    assert!(
        run.stderr.contains("tom.becker@example.com in \"Audit 2026\" had access until 2026-12-31: the plan was made as of 2026-12-30, and it is 2027-01-02 now"),
        "{}",
        run.stderr
    );
    assert_eq!(std::fs::read(&state).expect("state"), before, "nothing written");
    // Applied while the days still hold, it goes through.
    sb(d, &["apply", pf, "--as-of", "2026-12-31"]).expect_code(0);
}

#[test]
fn validate_warns_on_a_passed_day_and_fails_on_a_broken_rule() {
    let dir = scratch();
    let d = dir.path();
    let f = write(d, "groups.yaml", AUDIT);
    let passed = Cli::new(d).args(&["validate", "-f", &f, "--as-of", "2027-01-02"]).run().expect_code(0);
    assert!(
        passed.stderr.contains(
            "groups.yaml:6:17: `until` has passed: tom.becker@example.com in \"Audit 2026\": access ended after 2026-12-31 (TICKET-42)"
        ),
        "{}",
        passed.stderr
    );
    let json = Cli::new(d).args(&["validate", "-f", &f, "--as-of", "2027-01-02", "--format", "json"]).run().expect_code(0);
    let doc: Value = serde_json::from_str(&json.stdout).expect("json");
    assert_eq!(doc["valid"], true);
    assert_eq!(doc["warnings"].as_array().map(Vec::len), Some(2), "{}", json.stdout);
    let github = Cli::new(d).args(&["validate", "-f", &f, "--as-of", "2027-01-02", "--format", "github"]).run().expect_code(0);
    assert!(github.stdout.contains("groups.yaml,line=6,col=17,"), "{}", github.stdout);
    // A rule of the settings is an error of the files, in validate and plan alike.
    let strict = write(d, "strict.yaml", &format!("settings:\n  max_guest_days: 10\n{AUDIT}"));
    let run = Cli::new(d).args(&["validate", "-f", &strict, "--as-of", "2026-12-20"]).run().expect_code(1);
    assert!(
        run.stderr
            .contains("`until: 2027-01-15` of auditor@audit-firm.example in \"Audit 2026\" is 26 days away, more than max_guest_days (10"),
        "{}",
        run.stderr
    );
    sb(d, &["plan", "-f", &strict, "--as-of", "2026-12-20"]).expect_code(1);
    let review =
        write(d, "review.yaml", &format!("settings:\n  overdue_review: error\n{AUDIT}    review: {{every_days: 30, last: 2026-11-01}}\n"));
    let run = Cli::new(d).args(&["validate", "-f", &review, "--as-of", "2026-12-20"]).run().expect_code(1);
    assert!(
        run.stderr.contains("the review of \"Audit 2026\" is overdue: last 2026-11-01, every 30 days, due 2026-12-01 (19 days ago)"),
        "{}",
        run.stderr
    );
    Cli::new(d).args(&["validate", "-f", &review, "--as-of", "2026-12-01"]).run().expect_code(0);
    // A day that is not one is a usage error, and a malformed `until` an error with its place.
    let bad = Cli::new(d).args(&["validate", "-f", &f, "--as-of", "2026-13-01"]).run().expect_code(1);
    assert!(bad.stderr.contains("`2026-13-01` is not a day of the calendar"), "{}", bad.stderr);
    let broken = write(d, "broken.yaml", &AUDIT.replace("until: 2026-12-31", "until: 31/12/2026"));
    let run = Cli::new(d).args(&["validate", "-f", &broken]).run().expect_code(1);
    assert!(run.stderr.contains("broken.yaml:6:48: `until`: `31/12/2026` is not a date: write it as YYYY-MM-DD"), "{}", run.stderr);
}
