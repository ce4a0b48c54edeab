//! End-to-end tests of a workspace file (`tallyfy-groups.yaml`): several organizations from one
//! repository, run by the real binary against the embedded sandbox and a served one.

mod common;

use std::path::Path;

use common::cli::{Cli, Run, serve, write};
use serde_json::Value;

/// Two targets that share `groups/common/` and have a folder each.
const WORKSPACE: &str = "\
targets:
  staging:
    org_id: org-staging
    files: [groups/common/, groups/staging/]
    export_to: groups/staging/exported.yaml
  production:
    org_id: org-production
    files: [groups/common/, groups/production/]
";

const COMMON: &str = "\
groups:
  - name: Support Escalation
    description: Second-line support.
    members: [marco.rossi@example.com, li.wei@example.com]
";

const STAGING: &str = "\
groups:
  - name: Staging Testers
    description: Try changes first.
    members: [alice.nguyen@example.com]
";

const PRODUCTION: &str = "\
groups:
  - name: Finance Approvers
    description: Approves invoices.
    members: [dana.okafor@example.com, li.wei@example.com]
";

/// A repository with the workspace above.
fn repo() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    std::fs::create_dir_all(d.join(".git")).expect("mkdir .git");
    write(d, "tallyfy-groups.yaml", WORKSPACE);
    write(d, "groups/common/common.yaml", COMMON);
    write(d, "groups/staging/staging.yaml", STAGING);
    write(d, "groups/production/production.yaml", PRODUCTION);
    dir
}

/// A run in `dir` against the embedded sandbox whose state lives in the repository.
fn sb(dir: &Path, args: &[&str]) -> Run {
    let state = dir.join(".sandbox/state.json");
    Cli::new(dir).args(args).args(&["--sandbox", "--sandbox-state", state.to_str().unwrap_or_default()]).run()
}

#[test]
fn plan_shows_every_target_and_apply_converges_them_all() {
    let dir = repo();
    let d = dir.path();
    let plan = sb(d, &["plan", "--detailed-exitcode"]).expect_code(2);
    let (staging, production) =
        (plan.stdout.find("staging").expect("staging shown"), plan.stdout.find("production").expect("production shown"));
    assert!(staging < production, "targets in the workspace's order:\n{}", plan.stdout);
    assert!(plan.stdout.contains("Staging Testers") && plan.stdout.contains("Finance Approvers"), "{}", plan.stdout);
    // Each organization gets only its own groups.
    let production_part = &plan.stdout[production..];
    assert!(!production_part.contains("+ create Staging Testers"), "{}", plan.stdout);
    assert!(plan.stderr.contains("Exit 2 from target staging, production (changes)"), "{}", plan.stderr);

    let applied = sb(d, &["apply", "--auto-approve", "--report", "report.json"]).expect_code(0);
    let report: Value = serde_json::from_str(&std::fs::read_to_string(d.join("report.json")).expect("report")).expect("json");
    assert_eq!(report["format_version"], 2);
    for target in ["staging", "production"] {
        let results = report["targets"][target]["results"].as_array().cloned().unwrap_or_default();
        assert_eq!(report["targets"][target]["target"]["org"], format!("org-{target}"), "{report}");
        assert!(!results.is_empty() && results.iter().all(|r| r["outcome"]["status"] == "applied"), "{target}: {report}");
    }
    assert!(
        applied.stdout.contains("── staging: apply report ──") && applied.stdout.contains("── production: apply report ──"),
        "{}",
        applied.stdout
    );
    sb(d, &["plan", "--detailed-exitcode"]).expect_code(0);

    // Promotion: a change to the shared folder plans against, and reaches, every target.
    write(d, "groups/common/common.yaml", &COMMON.replace("li.wei@example.com]", "li.wei@example.com, priya.shah@example.com]"));
    let promoted = sb(d, &["plan", "--detailed-exitcode", "--format", "json"]).expect_code(2);
    let v: Value = serde_json::from_str(&promoted.stdout).expect("json");
    for target in ["staging", "production"] {
        let changes = v["targets"][target]["changes"].as_array().cloned().unwrap_or_default();
        assert_eq!(changes.len(), 1, "{target}: {changes:?}");
        assert_eq!(changes[0]["group"], "Support Escalation");
        assert_eq!(changes[0]["members_added"][0]["email"], "priya.shah@example.com");
    }
    assert_eq!(v["exit_code"], 2);
    assert_eq!(v["exit_codes"], serde_json::json!({"staging": 2, "production": 2}));
    sb(d, &["apply", "--auto-approve"]).expect_code(0);
    sb(d, &["plan", "--detailed-exitcode"]).expect_code(0);
}

#[test]
fn target_selects_and_single_org_flags_ignore_the_workspace() {
    let dir = repo();
    let d = dir.path();
    let only = sb(d, &["plan", "--target", "production"]).expect_code(0);
    assert!(only.stdout.contains("Finance Approvers") && !only.stdout.contains("Staging Testers"), "{}", only.stdout);
    let typo = sb(d, &["plan", "--target", "stagin"]).expect_code(1);
    assert!(typo.stderr.contains("did you mean `staging` for `stagin`?"), "{}", typo.stderr);
    let unknown = sb(d, &["plan", "--target", "prod"]).expect_code(1);
    assert!(unknown.stderr.contains("has no target `prod`; its targets are `staging`, `production`"), "{}", unknown.stderr);
    // -f means one organization, exactly as without a workspace file.
    let single = sb(d, &["plan", "-f", "groups/staging/staging.yaml"]).expect_code(0);
    assert!(single.stdout.contains("Staging Testers") && !single.stdout.contains("── "), "{}", single.stdout);
    let alone = sb(d, &["apply", "-f", "groups/staging/staging.yaml", "--all-or-nothing", "--auto-approve"]).expect_code(1);
    assert!(alone.stderr.contains("--all-or-nothing is for the targets of a workspace file"), "{}", alone.stderr);
    let mixed = sb(d, &["plan", "-f", "groups/staging/staging.yaml", "--target", "staging"]).expect_code(1);
    assert!(mixed.stderr.contains("--target cannot be combined with -f, --org or --api-url"), "{}", mixed.stderr);
    // Found from a folder below, up to the repository root.
    let below = d.join("groups/staging");
    let state = d.join(".sandbox/state.json");
    let run = Cli::new(&below).args(&["plan", "--sandbox", "--sandbox-state", state.to_str().unwrap_or_default()]).run().expect_code(0);
    assert!(run.stdout.contains("── staging") && run.stdout.contains("── production"), "{}", run.stdout);
}

#[test]
fn one_failing_target_leaves_the_other_applied_and_is_named() {
    let served = serve(&["--org", "org-staging", "--org", "org-production"]);
    let dir = repo();
    let d = dir.path();
    let url = format!("    api_url: {}\n", served.url);
    let text = WORKSPACE
        .replace("    files: [groups/common/, groups/staging/]\n", &format!("{url}    files: [groups/common/, groups/staging/]\n"));
    let text = text
        .replace("    files: [groups/common/, groups/production/]\n", &format!("{url}    files: [groups/common/, groups/production/]\n"));
    write(d, "tallyfy-groups.yaml", &text);
    let run = |args: &[&str], production_token: &str| {
        Cli::new(d)
            .args(args)
            .env("TALLYFY_STAGING_ACCESS_TOKEN", "sandbox-token")
            .env("TALLYFY_PRODUCTION_ACCESS_TOKEN", production_token)
            .run()
    };
    let applied = run(&["apply", "--auto-approve"], "revoked-token").expect_code(1);
    assert!(applied.stderr.contains("error: target production: "), "{}", applied.stderr);
    assert!(applied.stderr.contains("Exit 1 from target production (failed) (staging exit 0)."), "{}", applied.stderr);
    assert!(applied.stdout.contains("── staging: apply report ──"), "staging was applied:\n{}", applied.stdout);
    // Staging converged; production was never written.
    let staging = Cli::new(d).args(&[
        "plan",
        "-f",
        "groups/common/",
        "-f",
        "groups/staging/",
        "--api-url",
        &served.url,
        "--org",
        "org-staging",
        "--detailed-exitcode",
    ]);
    staging.env("TALLYFY_ACCESS_TOKEN", "sandbox-token").run().expect_code(0);
    run(&["plan", "--detailed-exitcode", "--target", "production"], "sandbox-token").expect_code(2);
    // With its credentials back, the rerun applies production and changes nothing in staging.
    let rerun = run(&["apply", "--auto-approve"], "sandbox-token").expect_code(0);
    assert!(
        rerun.stdout.contains("── production: apply report ──") && !rerun.stdout.contains("── staging: apply report ──"),
        "{}",
        rerun.stdout
    );
    run(&["plan", "--detailed-exitcode"], "sandbox-token").expect_code(0);
}

#[test]
fn saved_plans_cover_every_target_and_a_stale_target_refuses_only_itself() {
    let dir = repo();
    let d = dir.path();
    sb(d, &["apply", "--auto-approve"]).expect_code(0);
    write(d, "groups/common/common.yaml", &COMMON.replace("li.wei@example.com]", "li.wei@example.com, priya.shah@example.com]"));
    sb(d, &["plan", "--out", "plan.json"]).expect_code(0);
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(d.join("plan.json")).expect("saved")).expect("json");
    assert_eq!(doc["saved_workspace_plan_version"], 1);
    assert_eq!(doc["targets"].as_object().map(|t| t.len()), Some(2));

    // Someone edits the group in production after the plan was made.
    let edit = write(d, "edit.yaml", "groups:\n  - name: Support Escalation\n    members: [marco.rossi@example.com]\n");
    sb(d, &["apply", "-f", &edit, "--org", "org-production", "--auto-approve"]).expect_code(0);

    // All or nothing: the stale target stops both.
    let none = Cli::new(d).args(&["apply", "plan.json", "--auto-approve", "--all-or-nothing"]).run().expect_code(3);
    assert!(none.stderr.contains("Nothing was applied (--all-or-nothing)"), "{}", none.stderr);
    assert!(none.stderr.contains("target production"), "{}", none.stderr);
    sb(d, &["plan", "--target", "staging", "--detailed-exitcode"]).expect_code(2);

    // By default the stale target refuses itself only; the saved plan goes back to the sandbox.
    let some = Cli::new(d).args(&["apply", "plan.json", "--auto-approve"]).run().expect_code(3);
    assert!(
        some.stderr.contains("error: target production: ") && some.stderr.contains("Exit 3 from target production (refused)"),
        "{}",
        some.stderr
    );
    assert!(some.stdout.contains("── staging: apply report ──"), "{}", some.stdout);
    sb(d, &["plan", "--target", "staging", "--detailed-exitcode"]).expect_code(0);
    // Applying the same plan again: staging is done, production still refuses.
    let again = Cli::new(d).args(&["apply", "plan.json", "--auto-approve"]).run().expect_code(3);
    assert!(again.stdout.contains("staging: nothing to do, this plan was already applied."), "{}", again.stdout);

    // An edited saved plan is refused as a whole.
    let text = std::fs::read_to_string(d.join("plan.json")).expect("saved");
    write(d, "edited.json", &text.replace("Support Escalation", "Support Escalation 2"));
    let edited = Cli::new(d).args(&["apply", "edited.json", "--auto-approve"]).run().expect_code(3);
    assert!(edited.stderr.contains("was changed after `plan --out` wrote it"), "{}", edited.stderr);
}

#[test]
fn the_removal_guard_is_per_target_and_overridden_per_target() {
    let dir = repo();
    let d = dir.path();
    // Twelve members in production's group, then all but one removed: the guard trips there only.
    let many = ["alice.nguyen", "marco.rossi", "priya.shah", "dana.okafor", "li.wei", "sam.taylor", "fatima.haddad", "tom.becker"]
        .map(|u| format!("{u}@example.com"))
        .join(", ");
    write(
        d,
        "groups/production/production.yaml",
        &format!(
            "groups:\n  - name: Finance Approvers\n    description: x\n    members: [{many}]\n  - name: Audit\n    description: x\n    members: [{many}]\n"
        ),
    );
    sb(d, &["apply", "--auto-approve"]).expect_code(0);
    write(
        d,
        "groups/production/production.yaml",
        "groups:\n  - name: Finance Approvers\n    description: x\n    members: [li.wei@example.com]\n  - name: Audit\n    description: x\n    members: [li.wei@example.com]\n",
    );
    let refused = sb(d, &["plan"]).expect_code(3);
    assert!(refused.stderr.contains("error: target production: the removal guard tripped"), "{}", refused.stderr);
    assert!(refused.stderr.contains("--allow-removals production=\"why\""), "the hint names the target: {}", refused.stderr);
    // A mistyped target name is refused, not read as a reason for every target.
    let typo = sb(d, &["apply", "--auto-approve", "--allow-removals", "prodution=offboarding"]).expect_code(1);
    assert!(typo.stderr.contains("`prodution` is not a target of tallyfy-groups.yaml; did you mean `production`?"), "{}", typo.stderr);
    // A reason for another target does not count; one for production does.
    sb(d, &["apply", "--auto-approve", "--allow-removals", "staging=not this one"]).expect_code(3);
    let allowed = sb(d, &["apply", "--auto-approve", "--allow-removals", "production=offboarding the audit team"]).expect_code(0);
    assert!(allowed.stdout.contains("offboarding the audit team"), "{}", allowed.stdout);
}

#[test]
fn markdown_has_a_summary_table_and_a_section_per_target() {
    let dir = repo();
    let d = dir.path();
    let md = sb(d, &["plan", "--format", "markdown"]).expect_code(0);
    assert!(md.stdout.starts_with("<!-- tallyfy-groups plan -->\n"), "{}", md.stdout);
    assert_eq!(md.stdout.matches("<summary><b>").count(), 2, "a section per target:\n{}", md.stdout);
    assert!(md.stdout.contains("| **staging** | sandbox `org-staging` |") && md.stdout.contains("| **production** |"), "{}", md.stdout);
}

#[test]
fn validate_checks_the_workspace_file_with_locations() {
    let dir = repo();
    let d = dir.path();
    let ok = Cli::new(d).args(&["validate"]).run().expect_code(0);
    assert!(ok.stdout.contains("staging: valid") && ok.stdout.contains("production: valid"), "{}", ok.stdout);
    write(
        d,
        "tallyfy-groups.yaml",
        "targets:\n  staging:\n    org_id: a\n    files: [groups/common/, groups/stagin/]\n  production:\n    org_idd: b\n    files: [groups/common/]\n",
    );
    let bad = Cli::new(d).args(&["validate"]).run().expect_code(1);
    assert!(bad.stderr.contains("tallyfy-groups.yaml:6:5"), "unknown key located:\n{}", bad.stderr);
    assert!(bad.stderr.contains("org_id"), "{}", bad.stderr);
    write(d, "tallyfy-groups.yaml", "targets:\n  staging:\n    org_id: a\n    files: [groups/common/, groups/stagin/]\n");
    let missing = Cli::new(d).args(&["validate"]).run().expect_code(1);
    assert!(missing.stderr.contains("tallyfy-groups.yaml:4:29") && missing.stderr.contains("groups/stagin/"), "{}", missing.stderr);
    // Another target's missing folder is not this target's problem.
    write(
        d,
        "tallyfy-groups.yaml",
        "targets:\n  staging:\n    org_id: a\n    files: [groups/common/, groups/stagin/]\n  production:\n    org_id: b\n    files: [groups/common/, groups/production/]\n",
    );
    let other = Cli::new(d).args(&["validate", "--target", "production"]).run().expect_code(0);
    assert!(other.stdout.contains("production: valid") && !other.stderr.contains("stagin"), "{}\n{}", other.stdout, other.stderr);
}

#[test]
fn export_writes_the_targets_export_to() {
    let dir = repo();
    let d = dir.path();
    sb(d, &["apply", "--auto-approve"]).expect_code(0);
    let needs = sb(d, &["export"]).expect_code(1);
    assert!(needs.stderr.contains("export writes one target: name it with --target"), "{}", needs.stderr);
    sb(d, &["export", "--target", "staging"]).expect_code(0);
    let exported = std::fs::read_to_string(d.join("groups/staging/exported.yaml")).expect("exported");
    assert!(exported.contains("- name: Staging Testers"), "{exported}");
    // A target without export_to exports to stdout; each target exports its own organization.
    let production = sb(d, &["export", "--target", "production"]).expect_code(0);
    assert!(
        production.stdout.contains("- name: Support Escalation") && !production.stdout.contains("Staging Testers"),
        "{}",
        production.stdout
    );
}

#[test]
fn baseline_is_a_checkout_of_the_target_branch_with_each_targets_files_at_the_same_paths() {
    let dir = repo();
    let d = dir.path();
    sb(d, &["apply", "--auto-approve"]).expect_code(0);
    // The target branch: the files as applied.
    let base = tempfile::tempdir().expect("tempdir");
    for (name, text) in [
        ("tallyfy-groups.yaml", WORKSPACE),
        ("groups/common/common.yaml", COMMON),
        ("groups/staging/staging.yaml", STAGING),
        ("groups/production/production.yaml", PRODUCTION),
    ] {
        write(base.path(), name, text);
    }
    // Drift in production (someone removed a member by hand), and this change edits staging only.
    let edit = write(d, "edit.yaml", "groups:\n  - name: Finance Approvers\n    members: [dana.okafor@example.com]\n");
    sb(d, &["apply", "-f", &edit, "--org", "org-production", "--auto-approve"]).expect_code(0);
    write(
        d,
        "groups/staging/staging.yaml",
        &STAGING.replace("[alice.nguyen@example.com]", "[alice.nguyen@example.com, li.wei@example.com]"),
    );
    let base_dir = base.path().to_str().unwrap_or_default();
    let plan = sb(d, &["plan", "--format", "json", "--baseline", base_dir]).expect_code(0);
    let v: Value = serde_json::from_str(&plan.stdout).expect("json");
    assert_eq!(v["targets"]["staging"]["changes"][0]["origin"], "introduced", "{}", plan.stdout);
    assert_eq!(v["targets"]["production"]["changes"][0]["origin"], "drift", "{}", plan.stdout);
    // A folder that holds none of the targets' files is most likely the wrong one: said.
    let empty = tempfile::tempdir().expect("tempdir");
    let wrong = sb(d, &["plan", "--baseline", empty.path().to_str().unwrap_or_default()]).expect_code(0);
    assert!(wrong.stderr.contains("the baseline folder holds none of the targets' files"), "{}", wrong.stderr);
    assert!(!plan.stderr.contains("holds none"), "{}", plan.stderr);
    // A file, not a checkout, is refused with what to give instead.
    let file = sb(d, &["plan", "--baseline", "groups/common/common.yaml"]).expect_code(1);
    assert!(file.stderr.contains("--baseline takes one directory: a checkout of the target branch"), "{}", file.stderr);
}

#[test]
fn validate_reports_an_invalid_workspace_file_in_json_and_github_formats() {
    let dir = repo();
    let d = dir.path();
    write(d, "tallyfy-groups.yaml", "targets:\n  staging:\n    org_idd: a\n    files: [groups/common/]\n");
    let json = Cli::new(d).args(&["validate", "--format", "json"]).run().expect_code(1);
    let v: Value = serde_json::from_str(&json.stdout).unwrap_or_else(|e| panic!("JSON on stdout ({e}):\n{}", json.stdout));
    assert_eq!(v["valid"], false, "{v}");
    let problems = v["problems"].as_array().cloned().unwrap_or_default();
    assert!(
        problems.iter().any(|p| p["file"] == "tallyfy-groups.yaml"
            && p["line"] == 3
            && p["column"] == 5
            && p["message"] == "unknown target key `org_idd`"),
        "{v}"
    );
    let github = Cli::new(d).args(&["validate", "--format", "github"]).run().expect_code(1);
    assert!(
        github.stdout.contains("::error file=tallyfy-groups.yaml,line=3,col=5,title=tallyfy-groups validate::unknown target key `org_idd`"),
        "{}",
        github.stdout
    );
    // A workspace file that cannot be read is a problem too, without a location.
    let missing = Cli::new(d).args(&["validate", "--format", "json", "--workspace", "nowhere.yaml"]).run().expect_code(1);
    let v: Value = serde_json::from_str(&missing.stdout).unwrap_or_else(|e| panic!("JSON on stdout ({e}):\n{}", missing.stdout));
    assert!(v["problems"][0]["message"].as_str().is_some_and(|m| m.contains("cannot read the workspace file nowhere.yaml")), "{v}");
}

/// Runs `args` on a pseudo-terminal (`script`, util-linux) in `dir` with `envs`; when the run asks
/// y/N, calls `meanwhile`, then types `answer`. Returns the exit code and everything it showed.
fn on_terminal(dir: &Path, args: &[&str], envs: &[(&str, &str)], meanwhile: impl FnOnce(), answer: &str) -> (i32, String) {
    use std::io::{Read, Write};
    use std::process::{Command, Stdio};
    if Command::new("script").arg("--version").output().is_err() {
        panic!("this test needs `script` (util-linux) to give the binary a terminal");
    }
    let command = std::iter::once(common::cli::BIN).chain(args.iter().copied()).collect::<Vec<_>>().join(" ");
    let mut cmd = Command::new("script");
    cmd.args(["-qec", &command, "/dev/null"]).current_dir(dir).env("NO_COLOR", "1");
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("TALLYFY_") {
            cmd.env_remove(name);
        }
    }
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let mut child = cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::null()).spawn().expect("script runs");
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
    meanwhile();
    child.stdin.take().expect("stdin").write_all(format!("{answer}\n").as_bytes()).expect("answer");
    let status = child.wait().expect("exit");
    while let Ok(chunk) = rx.recv_timeout(std::time::Duration::from_secs(5)) {
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    (status.code().unwrap_or(-1), seen)
}

#[test]
fn declining_the_prompt_still_exits_with_the_code_of_a_failed_target() {
    let dir = repo();
    let d = dir.path();
    write(d, "groups/production/broken.yaml", "groups:\n  - nam: Typo\n");
    let state = d.join(".sandbox/state.json");
    let state = state.to_str().unwrap_or_default();
    let (code, seen) = on_terminal(d, &["apply", "--sandbox", "--sandbox-state", state], &[], || {}, "n");
    assert!(seen.contains("Apply cancelled; nothing was changed."), "{seen}");
    assert_eq!(code, 1, "production could not be planned; declining staging's changes does not make that a success:\n{seen}");
    assert!(seen.contains("Exit 1 from target production (failed)"), "{seen}");
    sb(d, &["plan", "--target", "staging", "--detailed-exitcode"]).expect_code(2);
}

#[test]
fn a_saved_plan_applied_while_the_prompt_was_open_is_not_sent_again() {
    let served = serve(&["--org", "org-staging", "--org", "org-production"]);
    let dir = repo();
    let d = dir.path();
    let url = format!("    api_url: {}\n    files:", served.url);
    write(d, "tallyfy-groups.yaml", &WORKSPACE.replace("    files:", &url));
    let tokens = [("TALLYFY_STAGING_ACCESS_TOKEN", "sandbox-token"), ("TALLYFY_PRODUCTION_ACCESS_TOKEN", "sandbox-token")];
    let cli = |args: &[&str]| tokens.iter().fold(Cli::new(d).args(args), |c, (k, v)| c.env(k, v)).run();
    cli(&["plan", "--out", "plan.json"]).expect_code(0);
    // While the prompt is open, another run applies the same plan.
    let (code, seen) = on_terminal(
        d,
        &["apply", "plan.json", "--confirm"],
        &tokens,
        || drop(cli(&["apply", "plan.json", "--auto-approve"]).expect_code(0)),
        "y",
    );
    let stats = common::cli::admin(&served.url, "stats");
    assert_eq!(stats["requests"]["POST /api/organizations/{org}/groups"], 1, "the create is sent once, by the other run: {stats}\n{seen}");
    assert!(stats["statuses"].get("422").is_none(), "{stats}");
    assert_eq!(code, 0, "{seen}");
    assert!(
        seen.contains("staging: nothing to do, this plan was already applied.")
            && seen.contains("production: nothing to do, this plan was already applied."),
        "{seen}"
    );
    cli(&["plan", "--detailed-exitcode"]).expect_code(0);
}

#[test]
fn notify_names_the_failed_target_and_its_error() {
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let server = rt.block_on(MockServer::start());
    rt.block_on(Mock::given(method("POST")).and(path("/hook")).respond_with(ResponseTemplate::new(200)).expect(2).mount(&server));
    let dir = repo();
    let d = dir.path();
    write(d, "groups/production/broken.yaml", "groups:\n  - nam: Typo\n");
    let hook = format!("{}/hook", server.uri());
    sb(d, &["plan", "--notify", &hook]).expect_code(1);
    sb(d, &["apply", "--auto-approve", "--notify", &hook]).expect_code(1);
    let posts: Vec<Value> = rt
        .block_on(server.received_requests())
        .unwrap_or_default()
        .iter()
        .map(|r| serde_json::from_slice(&r.body).expect("JSON"))
        .collect();
    assert_eq!(posts.len(), 2, "{posts:#?}");
    for (post, event) in posts.iter().zip(["plan_failed", "apply_failed"]) {
        assert_eq!(post["event"], event, "{post:#}");
        let error = post["error"].as_str().unwrap_or_default();
        assert!(error.starts_with("target production: groups/production/broken.yaml is invalid"), "{post:#}");
        let text = post["text"].as_str().unwrap_or_default();
        assert!(text.contains("\nError: target production: groups/production/broken.yaml is invalid"), "{text}");
    }
}

#[test]
fn a_secret_file_with_a_workspace_is_one_usage_error_before_anything_is_read() {
    let dir = repo();
    let d = dir.path();
    let token = write(d, "token.txt", "sandbox-token\n");
    for args in [
        &["plan", "--token-file", &token][..],
        &["apply", "--auto-approve", "--client-secret-file", &token],
        &["export", "--target", "staging", "--token-file", &token],
    ] {
        let run = Cli::new(d)
            .args(args)
            .env("TALLYFY_STAGING_ACCESS_TOKEN", "t")
            .env("TALLYFY_PRODUCTION_ACCESS_TOKEN", "t")
            .run()
            .expect_code(1);
        assert_eq!(
            run.stderr.matches("--token-file and --client-secret-file are for one organization").count(),
            1,
            "{args:?}:\n{}",
            run.stderr
        );
        assert!(run.stdout.is_empty(), "{args:?}: nothing planned:\n{}", run.stdout);
    }
}

#[test]
fn json_logs_stay_json_across_targets() {
    let dir = repo();
    let d = dir.path();
    write(d, "groups/production/broken.yaml", "groups:\n  - nam: Typo\n");
    for args in [&["plan", "--out", "plan.json"][..], &["apply", "--auto-approve", "--all-or-nothing"]] {
        let run = sb(d, &[args, &["--log-format", "json"]].concat()).expect_code(1);
        let lines: Vec<Value> =
            run.stderr.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{args:?}: not JSON ({e}): {l}"))).collect();
        assert!(
            lines.iter().any(|l| l["level"] == "ERROR" && l["fields"]["target_name"] == "production" && l["fields"]["exit_code"] == 1),
            "{args:?}: {lines:#?}"
        );
    }
}

#[test]
fn a_saved_plan_applied_again_says_nothing_to_do_and_nothing_failed() {
    let dir = repo();
    let d = dir.path();
    sb(d, &["plan", "--out", "plan.json"]).expect_code(0);
    Cli::new(d).args(&["apply", "plan.json", "--auto-approve"]).run().expect_code(0);
    let again = Cli::new(d).args(&["apply", "plan.json", "--auto-approve"]).run().expect_code(0);
    for target in ["staging", "production"] {
        assert!(again.stdout.contains(&format!("{target}: nothing to do, this plan was already applied.")), "{}", again.stdout);
    }
    assert!(!again.stdout.contains("failed"), "nothing failed:\n{}", again.stdout);
}

#[test]
fn a_file_outside_the_workspace_folder_has_no_baseline_and_is_never_its_own() {
    let dir = repo();
    let d = dir.path();
    // Staging names the shared folder by its absolute path; the baseline checkout has only staging's folder.
    let common = d.join("groups/common/");
    write(
        d,
        "tallyfy-groups.yaml",
        &WORKSPACE.replace("[groups/common/, groups/staging/]", &format!("[{}, groups/staging/]", common.display())),
    );
    let base = tempfile::tempdir().expect("tempdir");
    write(base.path(), "groups/staging/staging.yaml", "groups: []\n");
    let run =
        sb(d, &["plan", "--target", "staging", "--baseline", base.path().to_str().unwrap_or_default(), "--format", "json"]).expect_code(0);
    let v: Value = serde_json::from_str(&run.stdout).expect("json");
    let changes = v["targets"]["staging"]["changes"].as_array().cloned().unwrap_or_default();
    let origin = |group: &str| changes.iter().find(|c| c["group"] == group).map(|c| c["origin"].clone());
    assert_eq!(origin("Staging Testers"), Some(Value::from("introduced")), "{changes:#?}");
    // The shared folder has no counterpart in the checkout, so its change counts as introduced
    // (as for a baseline that cannot be read); never "drift", which the file compared with
    // itself would say.
    assert_eq!(origin("Support Escalation"), Some(Value::from("introduced")), "{changes:#?}");
}

#[test]
fn validate_says_a_shared_files_problems_once() {
    let dir = repo();
    let d = dir.path();
    write(d, "groups/common/common.yaml", "groups:\n  - nam: Typo\n");
    write(d, "groups/production/production.yaml", "groups:\n  - name: Finance Approvers\n    membres: []\n");
    let run = Cli::new(d).args(&["validate"]).run().expect_code(1);
    assert_eq!(run.stderr.matches("unknown group key `nam`").count(), 1, "{}", run.stderr);
    // Each target is still named, and a problem of its own is still said.
    assert!(run.stderr.contains("error: target staging: ") && run.stderr.contains("error: target production: "), "{}", run.stderr);
    assert_eq!(run.stderr.matches("unknown group key `membres`").count(), 1, "{}", run.stderr);
}

#[test]
fn a_saved_plan_refuses_the_options_of_the_other_kind() {
    let dir = repo();
    let d = dir.path();
    sb(d, &["plan", "--out", "plan.json"]).expect_code(0);
    // A workspace plan names every target's organization and API: --org and --api-url cannot redirect it.
    let run = Cli::new(d).args(&["apply", "plan.json", "--org", "elsewhere", "--auto-approve"]).run().expect_code(1);
    assert!(run.stderr.contains("plan.json is the saved plan of a workspace's targets: --org and --api-url"), "{}", run.stderr);
    assert!(run.stdout.is_empty(), "{}", run.stdout);
    // A single organization's plan has no targets: --target and --workspace do not select anything in it.
    sb(d, &["plan", "-f", "groups/staging/", "--org", "org-staging", "--out", "single.json"]).expect_code(0);
    let run = Cli::new(d).args(&["apply", "single.json", "--target", "production", "--auto-approve"]).run().expect_code(1);
    assert!(run.stderr.contains("single.json is the saved plan of one organization: --target and --workspace"), "{}", run.stderr);
    assert!(run.stdout.is_empty(), "{}", run.stdout);
}

#[test]
fn refused_credentials_are_explained_with_the_targets_own_variables() {
    let served = serve(&["--org", "org-staging", "--org", "org-production"]);
    let dir = repo();
    let d = dir.path();
    let url = format!("    api_url: {}\n    files:", served.url);
    write(d, "tallyfy-groups.yaml", &WORKSPACE.replace("    files:", &url));
    let run = Cli::new(d)
        .args(&["plan"])
        .env("TALLYFY_STAGING_ACCESS_TOKEN", "revoked-token")
        .env("TALLYFY_PRODUCTION_CLIENT_ID", "sandbox-client")
        .env("TALLYFY_PRODUCTION_CLIENT_SECRET", "wrong-secret")
        .run()
        .expect_code(1);
    assert!(run.stderr.contains("update TALLYFY_STAGING_ACCESS_TOKEN."), "{}", run.stderr);
    assert!(run.stderr.contains("check TALLYFY_PRODUCTION_CLIENT_ID and TALLYFY_PRODUCTION_CLIENT_SECRET;"), "{}", run.stderr);
    // Not the single organization's variables, which a target never reads.
    for single in ["TALLYFY_ACCESS_TOKEN", "TALLYFY_CLIENT_ID", "--token-file", "--client-secret-file"] {
        assert!(!run.stderr.contains(single) && !run.stdout.contains(single), "{single}:\n{}", run.stderr);
    }
}

#[test]
fn the_default_sandbox_state_is_in_the_workspace_folder_whatever_folder_runs() {
    let dir = repo();
    let d = dir.path();
    Cli::new(d).args(&["apply", "--sandbox", "--auto-approve"]).run().expect_code(0);
    assert!(d.join(".tallyfy-sandbox/state.json").is_file());
    let below = d.join("groups/staging");
    Cli::new(&below).args(&["plan", "--sandbox", "--detailed-exitcode"]).run().expect_code(0);
    assert!(!below.join(".tallyfy-sandbox").exists(), "no second sandbox in the folder below");
    // A plan saved below applies from the root, to the same sandbox.
    write(d, "groups/common/common.yaml", &COMMON.replace("li.wei@example.com]", "li.wei@example.com, priya.shah@example.com]"));
    Cli::new(&below).args(&["plan", "--sandbox", "--out", "plan.json"]).run().expect_code(0);
    let plan = below.join("plan.json");
    Cli::new(d).args(&["apply", plan.to_str().unwrap_or_default(), "--auto-approve"]).run().expect_code(0);
    Cli::new(d).args(&["plan", "--sandbox", "--detailed-exitcode"]).run().expect_code(0);
    // And one saved at the root applies from below.
    write(d, "groups/common/common.yaml", COMMON);
    Cli::new(d).args(&["plan", "--sandbox", "--out", "root-plan.json"]).run().expect_code(0);
    let root_plan = d.join("root-plan.json");
    Cli::new(&below).args(&["apply", root_plan.to_str().unwrap_or_default(), "--auto-approve"]).run().expect_code(0);
    Cli::new(&below).args(&["plan", "--sandbox", "--detailed-exitcode"]).run().expect_code(0);
}

#[test]
fn the_sandbox_refuses_two_targets_on_one_organization_id() {
    let dir = repo();
    let d = dir.path();
    let text = WORKSPACE.replace("org_id: org-production", "org_id: org-staging\n    api_url: https://eu.tallyfy.example/api");
    write(d, "tallyfy-groups.yaml", &text);
    Cli::new(d).args(&["validate"]).run().expect_code(0);
    let run = sb(d, &["plan"]).expect_code(1);
    assert!(run.stderr.contains("targets staging and production both use org-staging"), "{}", run.stderr);
    sb(d, &["plan", "--target", "staging"]).expect_code(0);
}

#[test]
fn a_saved_target_for_another_organization_refuses_itself_with_the_workspaces_words() {
    let dir = repo();
    let d = dir.path();
    sb(d, &["plan", "--out", "plan.json"]).expect_code(0);
    // The workspace file now names another organization for production.
    write(d, "tallyfy-groups.yaml", &WORKSPACE.replace("org_id: org-production", "org_id: org-production-eu"));
    let run = Cli::new(d).args(&["apply", "plan.json", "--auto-approve"]).run().expect_code(3);
    assert!(
        run.stderr.contains("error: target production: refusing to apply: the saved plan was made for another target"),
        "{}",
        run.stderr
    );
    // The way out is the workspace file or a new plan: --org and --api-url are refused with a
    // workspace's saved plan, so the hint never suggests them.
    assert!(run.stderr.contains("the `org_id` and `api_url` of target production in tallyfy-groups.yaml"), "{}", run.stderr);
    for single in ["--org", "--api-url", "TALLYFY_ORG_ID", "TALLYFY_API_URL"] {
        assert!(!run.stderr.contains(single), "{single}:\n{}", run.stderr);
    }
    // The other target applies.
    assert!(run.stdout.contains("── staging: apply report ──"), "{}", run.stdout);
}

#[test]
fn validate_says_a_missing_folder_in_the_same_run_as_the_files_other_problems() {
    let dir = repo();
    let d = dir.path();
    write(
        d,
        "tallyfy-groups.yaml",
        "targets:\n  staging:\n    org_id: a\n    files: [groups/common/, groups/stagin/]\n  production:\n    org_idd: b\n    files: [groups/common/]\n",
    );
    let run = Cli::new(d).args(&["validate"]).run().expect_code(1);
    assert!(run.stderr.contains("tallyfy-groups.yaml:6:5: unknown target key `org_idd`"), "{}", run.stderr);
    assert!(run.stderr.contains("tallyfy-groups.yaml:4:29: `groups/stagin/` does not exist"), "in the same run:\n{}", run.stderr);
    assert!(run.stderr.contains("3 problems found"), "{}", run.stderr);
}

#[test]
fn the_usage_check_reads_each_targets_own_templates() {
    let dir = repo();
    let d = dir.path();
    // Both organizations are copies of the demo, each with its own group ids: its templates,
    // processes and tasks name its own. Production deletes Finance Approvers, which its templates
    // use; staging deletes Old Contractors, which only an archived template names.
    write(d, "groups/production/production.yaml", "groups:\n  - name: Finance Approvers\n    absent: true\n");
    write(d, "groups/staging/staging.yaml", "groups:\n  - name: Old Contractors\n    absent: true\n");
    let plan = sb(d, &["plan", "--format", "json"]).expect_code(3);
    let doc: Value = serde_json::from_str(&plan.stdout).expect("json");
    let usage = |target: &str| {
        doc["targets"][target]["changes"].as_array().into_iter().flatten().find(|c| c["action"] == "delete").map(|c| c["usage"].clone())
    };
    let production = usage("production").expect("production deletes");
    assert_eq!((production["in_use"].as_bool(), production["open_tasks"].as_u64()), (Some(true), Some(3)), "{production}");
    assert_eq!(doc["targets"]["production"]["guard"]["tripped"][0]["kind"], "group_in_use");
    let staging = usage("staging").expect("staging deletes");
    assert_eq!(staging["in_use"], false, "{staging}");
    assert_eq!(staging["archived_templates"][0]["title"], "2025 Contractor Migration");
    assert_eq!(doc["exit_codes"]["staging"], 0);
    assert_eq!(doc["exit_codes"]["production"], 3);
    // Overridden for production alone, both apply.
    sb(d, &["apply", "--auto-approve", "--allow-removals", "production=invoices moved"]).expect_code(0);
}
