//! Where groups are used, end to end: the real binary against the sandbox, whose demo
//! organization runs templates, processes and tasks on its groups. Deleting a group in use trips
//! the removal guard and writes nothing until overridden; the reads are counted (and none are made
//! when nothing is deleted or emptied); templates listed without steps are read one by one; a
//! saved plan whose deleted group became used is stale; a token that may not read templates fails
//! the plan with what to do.

use std::path::Path;

use serde_json::{Value, json};

mod common;

use common::cli::{Cli, Run, admin, serve, write};

fn scratch() -> tempfile::TempDir {
    tempfile::tempdir().expect("tempdir")
}

/// `tallyfy-groups <args> --sandbox` with the sandbox state in `dir`.
fn sb(dir: &Path, args: &[&str]) -> Run {
    let state = dir.join("state.json");
    Cli::new(dir).args(args).args(&["--sandbox", "--sandbox-state", state.to_str().unwrap_or_default()]).run()
}

/// `tallyfy-groups <args>` against a served sandbox.
fn at(dir: &Path, url: &str, args: &[&str]) -> Run {
    Cli::new(dir).args(args).args(&["--api-url", url, "--org", "sandbox"]).env("TALLYFY_ACCESS_TOKEN", "sandbox-token").run()
}

/// The demo's groups as groups.example.yaml has them, with `group` deleted.
fn deleting(dir: &Path, group: &str) -> String {
    let example = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("groups.example.yaml")).expect("example");
    let text =
        example.replace(&format!("  - name: {group}\n"), &format!("  - name: {group}\n    absent: true\n  - name: {group} (kept)\n"));
    assert_ne!(text, example, "{group} is in the example");
    write(dir, "groups.yaml", &text)
}

fn requests(stats: &Value, route: &str) -> u64 {
    let key = format!("GET /api/organizations/{{org}}/{route}").replace('/', "~1");
    stats.pointer(&format!("/requests/{key}")).and_then(Value::as_u64).unwrap_or(0)
}

#[test]
fn deleting_a_group_in_use_is_refused_and_writes_nothing_until_allowed() {
    let dir = scratch();
    let d = dir.path();
    let f = deleting(d, "Finance Approvers");
    let plan = sb(d, &["plan", "-f", &f, "--detailed-exitcode"]).expect_code(3);
    assert!(
        plan.stdout.contains("⚠ used by 2 templates (Client Onboarding: step \"Approve the first invoice\"; Expense Report: step \"Approve expenses over $5,000\"), 3 open tasks, 3 active processes"),
        "{}",
        plan.stdout
    );
    assert!(plan.stdout.contains("the plan deletes 1 group still in use: \"Finance Approvers\""), "{}", plan.stdout);
    let before = std::fs::read(d.join("state.json")).expect("state");
    let refused = sb(d, &["apply", "-f", &f, "--auto-approve"]).expect_code(3);
    assert!(refused.stderr.contains("refusing to apply: the removal guard tripped"), "{}", refused.stderr);
    assert_eq!(std::fs::read(d.join("state.json")).expect("state"), before, "nothing written");
    // The JSON plan says the same, with the steps' ids.
    let json = sb(d, &["plan", "-f", &f, "--format", "json"]).expect_code(3);
    let doc: Value = serde_json::from_str(&json.stdout).expect("json");
    let finance = doc["changes"].as_array().into_iter().flatten().find(|c| c["group"] == "Finance Approvers").expect("the delete");
    assert_eq!(finance["usage"]["in_use"], true);
    assert_eq!(finance["usage"]["open_tasks"], 3);
    assert_eq!(finance["usage"]["templates"][0]["steps"][0]["id"], "stp-first-invoice");
    assert_eq!(doc["guard"]["tripped"][0]["kind"], "group_in_use");
    // Overridden with a reason, the group goes; the next plan is empty.
    sb(d, &["apply", "-f", &f, "--auto-approve", "--allow-removals", "invoices move to the new finance desk"]).expect_code(0);
    sb(d, &["plan", "-f", &f, "--detailed-exitcode"]).expect_code(0);
}

#[test]
fn usage_reads_are_made_only_for_deleted_or_emptied_groups_and_counted() {
    let served = serve(&[]);
    let dir = scratch();
    let d = dir.path();
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("groups.example.yaml");
    let example = example.to_str().unwrap_or_default();
    // The example deletes Old Contractors: both template lists (one page each), and its two counts.
    let before = admin(&served.url, "stats");
    let plan = at(d, &served.url, &["plan", "-f", example]).expect_code(0);
    assert!(plan.stdout.contains(", after 4 reads of where groups are used."), "{}", plan.stdout);
    let after = admin(&served.url, "stats");
    let delta = |route: &str| requests(&after, route) - requests(&before, route);
    assert_eq!((delta("checklists"), delta("checklists/{id}"), delta("runs"), delta("tasks")), (2, 0, 1, 1));
    // A plan that deletes and empties nothing reads no usage at all.
    let quiet = write(
        d,
        "quiet.yaml",
        "groups:\n  - name: Marketing\n    description: Managed by hand in the Tallyfy UI.\n    members: [fatima.haddad@example.com]\n",
    );
    let before = admin(&served.url, "stats");
    let plan = at(d, &served.url, &["plan", "-f", &quiet]).expect_code(0);
    assert!(!plan.stdout.contains("where groups are used"), "{}", plan.stdout);
    let after = admin(&served.url, "stats");
    let delta = |route: &str| requests(&after, route) - requests(&before, route);
    assert_eq!((delta("checklists"), delta("runs"), delta("tasks")), (0, 0, 0));
    // `never` reads nothing and says so; `always` checks every changed group.
    let f = deleting(d, "Finance Approvers");
    let before = admin(&served.url, "stats");
    let never = at(d, &served.url, &["plan", "-f", &f, "--usage-check", "never"]).expect_code(0);
    assert!(never.stdout.contains("⚠ usage not checked (--usage-check never)"), "{}", never.stdout);
    let after = admin(&served.url, "stats");
    assert_eq!(requests(&after, "checklists") - requests(&before, "checklists"), 0);
    let always = at(d, &served.url, &["plan", "-f", example, "--usage-check", "always", "--format", "json"]).expect_code(0);
    let doc: Value = serde_json::from_str(&always.stdout).expect("json");
    let checked = doc["changes"].as_array().into_iter().flatten().filter(|c| c["usage"]["checked"] == true).count();
    assert_eq!(checked, 4, "three updates and the delete (a create has no usage): {}", always.stdout);
    assert_eq!(doc["summary"]["usage_reads"], 2 + 2 * 4);
}

#[test]
fn templates_listed_without_steps_are_read_one_by_one() {
    let served = serve(&["--quirk", "templates-without-steps", "--quirk", "steps-as-data"]);
    let dir = scratch();
    let d = dir.path();
    let f = deleting(d, "Finance Approvers");
    let before = admin(&served.url, "stats");
    let plan = at(d, &served.url, &["plan", "-f", &f]).expect_code(3);
    assert!(plan.stdout.contains("⚠ used by 2 templates"), "{}", plan.stdout);
    let after = admin(&served.url, "stats");
    // The demo has three templates and one archived: each read alone, its steps as {"data": [...]}.
    assert_eq!(requests(&after, "checklists/{id}") - requests(&before, "checklists/{id}"), 4);
    assert!(
        plan.stdout.contains("after 10 reads of where groups are used"),
        "2 lists + 4 templates + 2 counts × 2 groups: {}",
        plan.stdout
    );
}

#[test]
fn a_saved_plan_whose_deleted_group_became_used_is_stale() {
    let dir = scratch();
    let d = dir.path();
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("groups.example.yaml");
    let pf = d.join("plan.json");
    let pf = pf.to_str().unwrap_or_default();
    sb(d, &["plan", "-f", example.to_str().unwrap_or_default(), "--out", pf]).expect_code(0);
    let saved: Value = serde_json::from_str(&std::fs::read_to_string(pf).expect("plan")).expect("json");
    let recorded = saved["usage"].as_object().expect("the usage it showed is recorded");
    assert_eq!(recorded.len(), 1);
    let (id, usage) = recorded.iter().next().expect("one");
    assert_eq!((usage["open_tasks"].as_u64(), usage["active_processes"].as_u64()), (Some(0), Some(0)));
    // Meanwhile someone gives Old Contractors an open task.
    let state_path = d.join("state.json");
    let mut state: Value = serde_json::from_str(&std::fs::read_to_string(&state_path).expect("state")).expect("json");
    state["tasks"]
        .as_array_mut()
        .expect("tasks")
        .push(json!({"id": "tsk-new", "title": "Return badges", "status": "incomplete", "owners": {"groups": [id]}}));
    std::fs::write(&state_path, serde_json::to_vec(&state).expect("json")).expect("write");
    let before = std::fs::read(&state_path).expect("state");
    let run = sb(d, &["apply", pf]).expect_code(3);
    assert!(run.stderr.contains("refusing to apply a stale plan"), "{}", run.stderr);
    assert!(
        run.stderr.contains("group \"Old Contractors\"")
            && run.stderr.contains("was not in use when the plan was made; now it is used by 1 open task"),
        "{}",
        run.stderr
    );
    assert_eq!(std::fs::read(&state_path).expect("state"), before, "nothing written");
    // A run that does not check again cannot apply what was checked.
    let run = sb(d, &["apply", pf, "--usage-check", "never"]).expect_code(3);
    assert!(
        run.stderr.contains("the saved plan checked where \"Old Contractors\" is used, and this run does not check it again"),
        "{}",
        run.stderr
    );
    assert_eq!(std::fs::read(&state_path).expect("state"), before, "nothing written");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_that_may_not_read_templates_fails_the_plan_with_what_to_do() {
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};
    let server = MockServer::start().await;
    let list = |data: Value| json!({"data": data, "meta": {"pagination": {"total": data.as_array().map_or(0, Vec::len), "count": 0, "per_page": 100, "current_page": 1, "total_pages": 1}}});
    let users = json!([{"id": 1, "email": "a@example.com", "first_name": "A", "last_name": "B", "status": "active"}]);
    let groups = json!([{"id": "g1", "name": "IT Helpdesk", "description": "d", "members": [1], "guests": []}]);
    for (route, data) in [("users", users), ("groups", groups)] {
        Mock::given(method("GET"))
            .and(path(format!("/organizations/o/{route}")))
            .respond_with(ResponseTemplate::new(200).set_body_json(list(data)))
            .mount(&server)
            .await;
    }
    Mock::given(method("GET"))
        .and(path("/organizations/o/checklists"))
        .respond_with(ResponseTemplate::new(403).set_body_json(json!({"message": "This action is unauthorized."})))
        .mount(&server)
        .await;
    for route in ["runs", "tasks"] {
        Mock::given(method("GET"))
            .and(path(format!("/organizations/o/{route}")))
            .respond_with(ResponseTemplate::new(200).set_body_json(list(json!([]))))
            .mount(&server)
            .await;
    }
    Mock::given(method("DELETE")).respond_with(ResponseTemplate::new(204)).expect(0).mount(&server).await;
    let dir = scratch();
    let f = write(dir.path(), "g.yaml", "groups:\n  - name: IT Helpdesk\n    absent: true\n");
    let (d, uri) = (dir.path().to_path_buf(), server.uri());
    let run = tokio::task::spawn_blocking(move || {
        Cli::new(&d)
            .args(&["apply", "-f", &f, "--auto-approve", "--api-url", &uri, "--org", "o", "--max-rps", "0"])
            .env("TALLYFY_ACCESS_TOKEN", "tok")
            .run()
    })
    .await
    .expect("join")
    .expect_code(1);
    assert!(run.stderr.contains("could not read where \"IT Helpdesk\" is used, so nothing is deleted or emptied"), "{}", run.stderr);
    assert!(run.stderr.contains("the token may not read templates, processes or tasks (Tallyfy answered 403)"), "{}", run.stderr);
    assert!(run.stderr.contains("--usage-check never"), "{}", run.stderr);
    assert_eq!(run.stderr.matches("hint:").count(), 1, "one hint, about reading templates: {}", run.stderr);
    assert!(!run.stderr.contains("tok\n") && !run.stdout.contains("Apply report"), "{}", run.stdout);
}
