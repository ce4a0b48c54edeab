//! Membership sources end to end: the real binary on the embedded sandbox with the runnable
//! example of docs/examples/sources (CSV, list and group entries), a CSV edited the way an HR
//! export changes, a command source that runs only when the pipeline allows it, and sources
//! that fail without anything being written.

use std::path::{Path, PathBuf};

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

/// A copy of docs/examples/sources in `dir/example`, to edit.
fn example_copy(dir: &Path) -> PathBuf {
    let from = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/examples/sources");
    let to = dir.join("example");
    std::fs::create_dir_all(&to).expect("mkdir");
    for name in ["groups.yaml", "people.csv"] {
        std::fs::copy(from.join(name), to.join(name)).expect("copy");
    }
    to
}

/// The members (emails) `export` lists for `group`, in its order.
fn members_of(export: &str, group: &str) -> Vec<String> {
    let heading = format!("  - name: {group}\n");
    let start = export.find(&heading).unwrap_or_else(|| panic!("{group} in {export}")) + heading.len();
    let section = &export[start..];
    let section = &section[..section.find("\n  - name: ").unwrap_or(section.len())];
    let members = section.split("    members:\n").nth(1).unwrap_or_default();
    members.lines().map_while(|l| l.strip_prefix("      - ")).map(|l| l.split_whitespace().next().unwrap_or_default().to_string()).collect()
}

#[test]
fn the_documented_example_plans_applies_and_follows_the_export() {
    let dir = scratch();
    let d = dir.path();
    let example = example_copy(d);
    let file = example.join("groups.yaml");
    let file = file.to_str().unwrap_or_default();

    let plan = sb(d, &["plan", "-f", file, "--detailed-exitcode"]).expect_code(2);
    for line in [
        "+ member alice.nguyen@example.com (Alice Nguyen)  ← list:leads",
        // Tom is on leave in the export: the `where` leaves him out, so he loses access.
        "- member tom.becker@example.com (Tom Becker)",
        "2 sources, 6 people",
        "Plan: 1 to create, 1 to update, 0 to delete.",
    ] {
        assert!(plan.stdout.contains(line), "missing {line:?} in\n{}", plan.stdout);
    }
    sb(d, &["apply", "-f", file, "--auto-approve"]).expect_code(0);
    let again = sb(d, &["plan", "-f", file, "--detailed-exitcode"]).expect_code(0);
    assert!(again.stdout.contains("No changes."), "{}", again.stdout);

    // Priya leaves support: the next export no longer has her row, and exactly she goes.
    let csv = std::fs::read_to_string(example.join("people.csv")).expect("csv");
    std::fs::write(example.join("people.csv"), csv.replace("priya.shah@example.com,Priya Shah,support,active\n", "")).expect("csv");
    let plan = sb(d, &["plan", "-f", file, "--detailed-exitcode"]).expect_code(2);
    assert!(plan.stdout.contains("- member priya.shah@example.com (Priya Shah)"), "{}", plan.stdout);
    assert_eq!(plan.stdout.matches("\n    - member").count(), 1, "one removal only:\n{}", plan.stdout);
    assert!(plan.stdout.contains("Plan: 0 to create, 1 to update, 0 to delete."), "{}", plan.stdout);

    // Someone joins with a row further down: the plan names the file's line they came from.
    let csv = std::fs::read_to_string(example.join("people.csv")).expect("csv");
    std::fs::write(example.join("people.csv"), format!("{csv}li.wei@example.com,Li Wei,support,active\n")).expect("csv");
    let plan = sb(d, &["plan", "-f", file, "--format", "json"]).expect_code(0);
    let json: Value = serde_json::from_str(&plan.stdout).expect("json plan");
    let change = json["changes"].as_array().and_then(|c| c.iter().find(|c| c["group"] == "Support Escalation")).cloned();
    let change = change.unwrap_or_else(|| panic!("Support Escalation changes in {}", plan.stdout));
    let added = change["members_added"].as_array().cloned().unwrap_or_default();
    assert_eq!(added.len(), 1, "{change}");
    assert_eq!(added[0]["email"], "li.wei@example.com", "{change}");
    assert_eq!(added[0]["origins"], serde_json::json!([{"kind": "csv", "source": "support-desk", "line": 9}]), "{change}");

    sb(d, &["apply", "-f", file, "--auto-approve"]).expect_code(0);
    let export = sb(d, &["export"]).expect_code(0).stdout;
    let mut members = members_of(&export, "Support Escalation");
    members.sort();
    assert_eq!(
        members,
        [
            "alice.nguyen@example.com",
            "dana.okafor@example.com",
            "fatima.haddad@example.com",
            "li.wei@example.com",
            "marco.rossi@example.com",
            "sam.taylor@example.com"
        ]
    );
}

#[test]
fn a_source_that_cannot_be_read_writes_nothing() {
    let dir = scratch();
    let d = dir.path();
    let example = example_copy(d);
    let file = example.join("groups.yaml");
    let file = file.to_str().unwrap_or_default();
    let before = sb(d, &["export"]).expect_code(0).stdout;

    // The export went missing: a missing file is never an empty group.
    std::fs::remove_file(example.join("people.csv")).expect("rm");
    let failed = sb(d, &["apply", "-f", file, "--auto-approve"]).expect_code(1);
    assert!(failed.stderr.contains("2 sources could not be read, so nothing is planned:"), "{}", failed.stderr);
    assert!(failed.stderr.contains("source support-desk (csv"), "{}", failed.stderr);
    assert!(failed.stderr.contains("people.csv"), "{}", failed.stderr);
    assert!(failed.stderr.contains("--keep-going"), "{}", failed.stderr);
    assert_eq!(sb(d, &["export"]).expect_code(0).stdout, before, "nothing was written");

    // An export cut short (only its header row) is a source that yields nobody: an error too.
    std::fs::write(example.join("people.csv"), "email,name,team,status\n").expect("csv");
    let empty = sb(d, &["plan", "-f", file]).expect_code(1);
    assert!(empty.stderr.contains("it yielded nobody"), "{}", empty.stderr);
    assert!(empty.stderr.contains("allow_empty: true"), "{}", empty.stderr);

    // --keep-going applies the groups that do not use the failed sources (Team Leads) and leaves
    // the others untouched, and the run still fails.
    let kept = sb(d, &["apply", "-f", file, "--auto-approve", "--keep-going"]).expect_code(1);
    assert!(kept.stdout.contains("+ create group \"Team Leads\""), "{}", kept.stdout);
    assert!(!kept.stdout.contains("\"Support Escalation\""), "{}", kept.stdout);
    let after = sb(d, &["export"]).expect_code(0).stdout;
    assert_eq!(members_of(&after, "Support Escalation"), members_of(&before, "Support Escalation"));
}

#[cfg(unix)]
#[test]
fn a_command_source_runs_only_when_the_pipeline_allows_it() {
    use std::os::unix::fs::PermissionsExt;

    let dir = scratch();
    let d = dir.path();
    let script = d.join("oncall.sh");
    let ran = d.join("ran");
    std::fs::write(&script, format!("#!/bin/sh\ntouch '{}'\necho priya.shah@example.com\necho tom.becker@example.com\n", ran.display()))
        .expect("script");
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let f = write(
        d,
        "groups.yaml",
        "sources:\n  oncall:\n    command: [./oncall.sh]\n    timeout: 10\ngroups:\n  - name: On Call\n    members: [{source: oncall}]\n",
    );

    let refused = sb(d, &["plan", "-f", &f]).expect_code(1);
    assert!(refused.stderr.contains("source oncall (command"), "{}", refused.stderr);
    assert!(refused.stderr.contains("--allow-command-sources"), "{}", refused.stderr);
    assert!(!ran.exists(), "the command ran without being allowed");
    // validate never runs a command either.
    Cli::new(d).args(&["validate", "-f", &f]).run().expect_code(0);
    assert!(!ran.exists(), "validate ran the command");

    let allowed = sb(d, &["plan", "-f", &f, "--allow-command-sources"]).expect_code(0);
    assert!(allowed.stdout.contains("+ member priya.shah@example.com (Priya Shah)  ← command:oncall"), "{}", allowed.stdout);
    assert!(ran.exists());
    let state = d.join("state.json");
    Cli::new(d)
        .args(&["apply", "-f", &f, "--auto-approve", "--sandbox", "--sandbox-state", state.to_str().unwrap_or_default()])
        .env("TALLYFY_GROUPS_ALLOW_COMMANDS", "1")
        .run()
        .expect_code(0);
    let export = sb(d, &["export"]).expect_code(0).stdout;
    assert_eq!(members_of(&export, "On Call"), ["priya.shah@example.com", "tom.becker@example.com"]);
}

#[test]
fn validate_checks_the_csv_files_of_used_sources_without_contacting_anyone() {
    let dir = scratch();
    let d = dir.path();
    let example = example_copy(d);
    let file = example.join("groups.yaml");
    let file = file.to_str().unwrap_or_default();
    Cli::new(d).args(&["validate", "-f", file]).run().expect_code(0);
    std::fs::write(example.join("people.csv"), "mail,team,status\nmarco.rossi@example.com,support,active\n").expect("csv");
    let bad = Cli::new(d).args(&["validate", "-f", file]).run().expect_code(1);
    assert!(bad.stderr.contains("no column `email`"), "{}", bad.stderr);
}

/// An Okta stand-in (wiremock) serving the users of group `00gSUPPORT`, page by page.
struct Okta {
    rt: tokio::runtime::Runtime,
    server: wiremock::MockServer,
}

const OKTA_TOKEN: &str = "00okta-e2e-secret-token-9876";
const OKTA_USERS: &str = "/api/v1/groups/00gSUPPORT/users";

impl Okta {
    fn start() -> Okta {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("runtime");
        let server = rt.block_on(wiremock::MockServer::start());
        Okta { rt, server }
    }

    /// Serves `pages` of addresses (all ACTIVE), each page linking to the next; `fail_page`
    /// (1-based) answers 500 every time instead.
    fn serve(&self, pages: &[&[&str]], fail_page: Option<usize>) {
        use wiremock::matchers::{header, method, path, query_param, query_param_is_missing};
        use wiremock::{Mock, ResponseTemplate};
        self.rt.block_on(async {
            self.server.reset().await;
            for (i, people) in pages.iter().enumerate() {
                let users: Vec<Value> = people
                    .iter()
                    .enumerate()
                    .map(|(n, email)| serde_json::json!({"id": format!("00u{i}{n}"), "status": "ACTIVE", "profile": {"email": email}}))
                    .collect();
                let mut answer = ResponseTemplate::new(200).set_body_json(users);
                if i + 1 < pages.len() {
                    answer = answer
                        .insert_header("link", format!("<{}{OKTA_USERS}?limit=200&after=p{}>; rel=\"next\"", self.server.uri(), i + 1));
                }
                if fail_page == Some(i + 1) {
                    answer = ResponseTemplate::new(500).set_body_string("Okta is having a bad day");
                }
                let mock =
                    Mock::given(method("GET")).and(path(OKTA_USERS)).and(header("authorization", format!("SSWS {OKTA_TOKEN}").as_str()));
                let mock = if i == 0 {
                    mock.and(query_param_is_missing("after"))
                } else {
                    mock.and(query_param("after", format!("p{i}").as_str()))
                };
                mock.respond_with(answer).mount(&self.server).await;
            }
        });
    }
}

fn okta_file(d: &Path, url: &str) -> String {
    write(
        d,
        "groups.yaml",
        &format!(
            "sources:\n  support-okta:\n    okta: {{url: \"{url}\", group_id: 00gSUPPORT, token_env: OKTA_API_TOKEN}}\ngroups:\n  - name: Support Escalation\n    description: Second-line support.\n    members: [{{source: support-okta}}]\n"
        ),
    )
}

/// `tallyfy-groups <args> --sandbox` with the Okta token in the environment.
fn sb_okta(dir: &Path, args: &[&str]) -> Run {
    let state = dir.join("state.json");
    Cli::new(dir)
        .args(args)
        .args(&["--sandbox", "--sandbox-state", state.to_str().unwrap_or_default(), "--max-retry-time", "0"])
        .env("OKTA_API_TOKEN", OKTA_TOKEN)
        .run()
}

#[test]
fn a_group_follows_an_okta_group_and_a_failed_page_writes_nothing() {
    let dir = scratch();
    let d = dir.path();
    let okta = Okta::start();
    let f = okta_file(d, &okta.server.uri());
    // Two pages: Marco and Priya, then Fatima, Tom and Dana.
    let first: &[&str] = &["marco.rossi@example.com", "priya.shah@example.com"];
    okta.serve(&[first, &["fatima.haddad@example.com", "tom.becker@example.com", "dana.okafor@example.com"]], None);
    let plan = sb_okta(d, &["plan", "-f", &f, "--detailed-exitcode"]).expect_code(2);
    assert!(plan.stdout.contains("+ member dana.okafor@example.com (Dana Okafor)  ← okta:support-okta"), "{}", plan.stdout);
    assert!(plan.stdout.contains("- member sam.taylor@example.com (Sam Taylor)"), "{}", plan.stdout);
    assert!(plan.stdout.contains("1 source, 5 people"), "{}", plan.stdout);
    sb_okta(d, &["apply", "-f", &f, "--auto-approve"]).expect_code(0);
    sb_okta(d, &["plan", "-f", &f, "--detailed-exitcode"]).expect_code(0);

    // Tom leaves the Okta group: exactly he goes.
    okta.serve(&[first, &["fatima.haddad@example.com", "dana.okafor@example.com"]], None);
    let plan = sb_okta(d, &["plan", "-f", &f, "--detailed-exitcode"]).expect_code(2);
    assert!(plan.stdout.contains("- member tom.becker@example.com (Tom Becker)"), "{}", plan.stdout);
    assert_eq!(plan.stdout.matches("member ").count(), 1, "{}", plan.stdout);
    assert!(plan.stdout.contains("1 source, 4 people"), "{}", plan.stdout);

    // Page 2 fails for good: nothing is planned, nothing is written.
    let before = sb_okta(d, &["export"]).expect_code(0).stdout;
    okta.serve(&[first, &["fatima.haddad@example.com"]], Some(2));
    let failed = sb_okta(d, &["apply", "-f", &f, "--auto-approve"]).expect_code(1);
    assert!(failed.stderr.contains("1 source could not be read, so nothing is planned:"), "{}", failed.stderr);
    assert!(failed.stderr.contains("page 2 of the group's users failed, so none of the read is used"), "{}", failed.stderr);
    assert!(failed.stderr.contains("Okta is having a bad day"), "{}", failed.stderr);
    assert_eq!(sb_okta(d, &["export"]).expect_code(0).stdout, before, "nothing was written");
}

#[test]
fn the_okta_token_appears_in_no_output_log_or_saved_plan() {
    use wiremock::matchers::method;
    use wiremock::{Mock, Request, ResponseTemplate};
    let dir = scratch();
    let d = dir.path();
    let okta = Okta::start();
    let f = okta_file(d, &okta.server.uri());
    // A server that echoes every request header, the token's among them, in its answers: first
    // in a page of people (as an address it cannot be), then in an error.
    okta.rt.block_on(
        Mock::given(method("GET"))
            .respond_with(|r: &Request| {
                let echoed: Vec<String> = r.headers.iter().map(|(k, v)| format!("{k}={}", v.to_str().unwrap_or(""))).collect();
                ResponseTemplate::new(500).set_body_string(echoed.join("; "))
            })
            .mount(&okta.server),
    );
    for args in [
        &["plan", "-f", &f][..],
        &["plan", "-f", &f, "-vv"][..],
        &["plan", "-f", &f, "-vv", "--log-format", "json"][..],
        &["plan", "-f", &f, "--format", "json", "--keep-going", "--out", "plan.json"][..],
        &["apply", "-f", &f, "--auto-approve", "--keep-going", "--report", "report.json"][..],
    ] {
        let run = sb_okta(d, args);
        assert_eq!(run.code, 1, "{args:?}\n{}\n{}", run.stdout, run.stderr);
        assert!(run.stderr.contains("authorization=SSWS ***"), "{args:?}: the echo is shown, scrubbed:\n{}", run.stderr);
        for text in [&run.stdout, &run.stderr] {
            assert!(!text.contains(OKTA_TOKEN), "{args:?} showed the token:\n{text}");
        }
    }
    for saved in ["plan.json", "report.json"] {
        let text = std::fs::read_to_string(d.join(saved)).unwrap_or_default();
        assert!(!text.contains(OKTA_TOKEN), "{saved} holds the token");
    }
}
