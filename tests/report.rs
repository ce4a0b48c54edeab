//! End-to-end tests of `report access`: the real binary against the embedded sandbox (CSV, JSON,
//! `--only`, the same bytes twice) and against a served sandbox whose answers are partial (exit 1,
//! and no file written).

use std::path::Path;

use serde_json::Value;

mod common;

use common::cli::{Cli, Run, serve, write};

const FILES: &str = "\
sources:
  approvers:
    list: [li.wei@example.com, sam.taylor@example.com]
groups:
  - name: Finance Approvers
    members:
      - {email: dana.okafor@example.com, until: 2026-12-31}
      - {source: approvers}
    guests:
      - {email: auditor@audit-firm.example, until: 2026-06-30}
  - name: Support Escalation
    sync: additive
    members: [marco.rossi@example.com, alice.nguyen@example.com]
";

/// `tallyfy-groups report access <args> --sandbox` with the sandbox state in `dir`.
fn report(dir: &Path, args: &[&str]) -> Run {
    let state = dir.join("state.json");
    Cli::new(dir)
        .args(&["report", "access", "-f", "g.yaml", "--as-of", "2026-01-01"])
        .args(args)
        .args(&["--sandbox", "--sandbox-state", state.to_str().unwrap_or_default()])
        .run()
}

#[test]
fn report_access_writes_csv_rows_against_the_sandbox() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    write(d, "g.yaml", FILES);
    let run = report(d, &[]).expect_code(0);
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines[0], "group,kind,email,user_id,name,status,declared_at,source,until,scope");
    for expected in [
        "Finance Approvers,member,dana.okafor@example.com,1004,Dana Okafor,granted,g.yaml:7:17,,2026-12-31,exact",
        "Finance Approvers,member,li.wei@example.com,1005,Li Wei,granted,g.yaml:2:3,approvers,,exact",
        "Finance Approvers,guest,auditor@audit-firm.example,,Avery Auditor,granted,g.yaml:10:17,,2026-06-30,exact",
        "Support Escalation,member,alice.nguyen@example.com,1001,Alice Nguyen,pending,g.yaml:13:40,,,additive",
        "Support Escalation,member,tom.becker@example.com,1010,Tom Becker,not_in_file,,,,additive",
        "Marketing,member,fatima.haddad@example.com,1009,Fatima Haddad,not_in_file,,,,unmanaged",
    ] {
        assert!(lines.contains(&expected), "no line {expected:?} in\n{}", run.stdout);
    }
    let mut sorted = lines[1..].to_vec();
    sorted.sort_by_key(|l| l.split(',').next().unwrap_or_default().to_string());
    assert_eq!(sorted, lines[1..], "rows are sorted by group");
    // The same state gives the same bytes, and --out writes exactly what stdout shows.
    let again = report(d, &[]).expect_code(0);
    assert_eq!(again.stdout, run.stdout);
    let written = report(d, &["--out", "access.csv"]).expect_code(0);
    assert!(written.stdout.is_empty(), "{}", written.stdout);
    assert!(written.stderr.contains("Wrote 18 access rows to access.csv."), "{}", written.stderr);
    assert_eq!(std::fs::read_to_string(d.join("access.csv")).expect("written"), run.stdout);
}

#[test]
fn report_access_writes_json_of_the_groups_only_selects() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    write(d, "g.yaml", FILES);
    let run = report(d, &["--format", "json", "--only", "Finance*", "--only", "Marketing"]).expect_code(0);
    let doc: Value = serde_json::from_str(&run.stdout).expect("one JSON document");
    assert_eq!(
        (doc["format_version"].as_u64(), doc["organization"].as_str(), doc["as_of"].as_str()),
        (Some(1), Some("sandbox"), Some("2026-01-01"))
    );
    let rows = doc["rows"].as_array().expect("rows");
    let groups: Vec<&str> = rows.iter().filter_map(|r| r["group"].as_str()).collect();
    assert_eq!(groups, ["Finance Approvers", "Finance Approvers", "Finance Approvers", "Finance Approvers", "Marketing"]);
    let sam = rows.iter().find(|r| r["email"] == "sam.taylor@example.com").expect("sam's row");
    assert_eq!(sam["user_id"], 1006);
    assert_eq!(
        (sam["status"].as_str(), sam["source"].as_str(), sam["scope"].as_str()),
        (Some("granted"), Some("approvers"), Some("exact"))
    );
    assert!(sam["until"].is_null() && sam["declared_at"] == "g.yaml:2:3", "{sam}");
    // The same bytes twice.
    assert_eq!(report(d, &["--format", "json", "--only", "Finance*", "--only", "Marketing"]).expect_code(0).stdout, run.stdout);
    // A glob that is not one is a usage error.
    let bad = report(d, &["--only", "[x"]).expect_code(1);
    assert!(bad.stderr.contains("`[x` is not a valid glob"), "{}", bad.stderr);
}

#[test]
fn a_partial_read_exits_1_and_writes_no_file() {
    for (quirk, says) in [
        ("junk-members", "cannot report access: Tallyfy did not return the whole member or guest list of"),
        ("lying-pagination", "says `total_pages: 99999`"),
    ] {
        let served = serve(&["--quirk", quirk]);
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path();
        let f = write(d, "g.yaml", FILES);
        let out = d.join("access.csv");
        let run = Cli::new(d)
            .args(&["report", "access", "-f", &f, "--out", out.to_str().unwrap_or_default()])
            .args(&["--api-url", &served.url, "--org", "sandbox"])
            .env("TALLYFY_ACCESS_TOKEN", "sandbox-token")
            .run()
            .expect_code(1);
        assert!(run.stderr.contains(says), "{quirk}: {}", run.stderr);
        assert!(!out.exists(), "{quirk}: nothing may be written");
        assert!(
            std::fs::read_dir(d).expect("dir").all(|e| e.map(|e| e.file_name() == "g.yaml").unwrap_or(false)),
            "{quirk}: no stray file"
        );
    }
}

#[test]
fn a_source_that_cannot_be_read_writes_no_report_and_says_why() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    write(
        d,
        "g.yaml",
        "sources:\n  hr:\n    csv: {path: missing.csv, column: email}\ngroups:\n  - name: Finance Approvers\n    members: [{source: hr}]\n",
    );
    let run = report(d, &["--out", "access.csv"]).expect_code(1);
    assert!(run.stderr.contains("1 source could not be read, so no report is written"), "{}", run.stderr);
    assert!(!run.stderr.contains("--keep-going"), "report access has no --keep-going: {}", run.stderr);
    assert!(!d.join("access.csv").exists());
}
