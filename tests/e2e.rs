//! End-to-end tests: the real binary against the embedded sandbox, a served sandbox with faults,
//! and a wiremock Tallyfy holding three pages of groups and users.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_tallyfy-groups");

/// A small builder for one CLI run in a scratch directory.
struct Cli {
    cmd: Command,
}

impl Cli {
    fn new(dir: &Path) -> Self {
        let mut cmd = Command::new(BIN);
        cmd.current_dir(dir)
            .env_remove("TALLYFY_ACCESS_TOKEN")
            .env_remove("TALLYFY_ORG_ID")
            .env_remove("TALLYFY_API_URL")
            .env("NO_COLOR", "1");
        cmd.stdin(Stdio::null());
        Cli { cmd }
    }

    fn args(mut self, args: &[&str]) -> Self {
        self.cmd.args(args);
        self
    }

    fn env(mut self, k: &str, v: &str) -> Self {
        self.cmd.env(k, v);
        self
    }

    fn run(mut self) -> Run {
        let out: Output = self.cmd.output().expect("the binary runs");
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into(),
            stderr: String::from_utf8_lossy(&out.stderr).into(),
        }
    }
}

#[derive(Debug)]
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn expect_code(self, code: i32) -> Self {
        assert_eq!(self.code, code, "exit code\n--- stdout\n{}\n--- stderr\n{}", self.stdout, self.stderr);
        self
    }
}

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

fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write");
    p.to_string_lossy().into_owned()
}

#[test]
fn quick_start_plan_apply_plan() {
    let dir = scratch();
    let d = dir.path();
    let ex = example();
    let ex = ex.to_str().unwrap_or_default();
    let first = sb(d, &["plan", "-f", ex, "--detailed-exitcode"]).expect_code(2);
    assert!(
        first.stdout.contains("Plan: 1 to create, 3 to update, 1 to delete. 1 guest to invite. Apply will make 6 API calls."),
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
    let plan = sb(d, &["plan", "-f", &f, "--detailed-exitcode"]).expect_code(2);
    for line in [
        "- member marco.rossi@example.com (Marco Rossi)",
        "+ member tom.becker@example.com (Tom Becker)",
        "→ rename group \"Product Council\" → \"Product Board\"",
        "- delete group \"Support Escalation\"",
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
    assert_eq!(report["results"].as_array().map(Vec::len), Some(6));
    assert!(report["results"].as_array().into_iter().flatten().all(|r| r["outcome"]["status"] == "applied"));
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

    // A plan for another organization is refused.
    sb(d, &["plan", "-f", &other, "--out", pf]).expect_code(0);
    let text = std::fs::read_to_string(&plan_file).expect("plan").replace("\"org\": \"sandbox\"", "\"org\": \"elsewhere\"");
    std::fs::write(&plan_file, text).expect("write");
    let other_org = sb(d, &["apply", pf, "--auto-approve"]).expect_code(3);
    assert!(other_org.stderr.contains("made for organization elsewhere"), "{}", other_org.stderr);
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
    assert_eq!(v["format_version"], 1);
    assert_eq!(v["summary"]["api_calls"], 6);
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

/// A served sandbox process; killed on drop.
struct Served {
    child: Child,
    url: String,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(args: &[&str]) -> Served {
    let mut child = Command::new(BIN)
        .args(["sandbox", "--listen", "127.0.0.1:0"])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("sandbox starts");
    let stderr = child.stderr.take().expect("stderr");
    let mut lines = BufReader::new(stderr).lines();
    let first = lines.next().and_then(Result::ok).unwrap_or_default();
    let url = first.rsplit(' ').next().unwrap_or_default().to_string();
    assert!(url.starts_with("http://127.0.0.1:"), "unexpected first line {first:?}");
    // Keep draining stderr so the server never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    Served { child, url }
}

fn admin(url: &str, what: &str) -> Value {
    let base = url.trim_end_matches("/api");
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    rt.block_on(async {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let text = reqwest::get(format!("{base}/_sandbox/{what}")).await.expect("admin endpoint").text().await.expect("body");
        serde_json::from_str(&text).expect("json")
    })
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
    use wiremock::matchers::{body_json, method, path, query_param};
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
        Mock::given(method("DELETE"))
            .and(path(format!("/organizations/o/groups/{:032x}", 1)))
            .respond_with(ResponseTemplate::new(204))
            .expect(1)
            .mount(&server)
            .await;
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
        assert!(plan.stdout.contains("Plan: 1 to create, 1 to update, 1 to delete. Apply will make 3 API calls."), "{}", plan.stdout);
        let apply = run(s(&["apply", "-f", &f, "--auto-approve"])).await.expect("join").expect_code(0);
        assert!(apply.stdout.contains("Apply: 3 applied, 0 failed, 0 skipped."), "{}", apply.stdout);
        run(s(&["plan", "-f", &f, "--detailed-exitcode"])).await.expect("join").expect_code(0);
        // 3 plans' worth of reads: ceil(250/100) group pages + 3 user pages each; no per-group GETs.
        let requests = server.received_requests().await.unwrap_or_default();
        let gets = requests.iter().filter(|r| r.method.as_str() == "GET").count();
        assert_eq!(gets, 3 * (3 + 3));
    }
}

#[test]
fn the_token_never_appears_in_any_output() {
    const TOKEN: &str = "tfy-SECRET-7f3a9c";
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
    for run in &outputs {
        assert!(run.code == 0 || run.code == 1, "{run:?}");
        assert!(!run.stdout.contains(TOKEN) && !run.stderr.contains(TOKEN), "the token leaked:\n{run:?}");
    }
    assert!(outputs.iter().any(|r| r.stderr.contains("request")), "verbose runs logged requests");
    for file in [&plan, &report, &exported] {
        let text = std::fs::read_to_string(file).expect("written");
        assert!(!text.contains(TOKEN), "the token leaked into {}", file.display());
    }
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
    assert!(run.stderr.contains("is 68157440 bytes, over the 67108864-byte limit for one file"), "{}", run.stderr);
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
    assert!(run.stdout.contains("1 group (0 absent)"), "{}", run.stdout);
    let plan = sb(d, &["plan", "-f", g]).expect_code(0);
    assert!(plan.stdout.contains("~ update group \"Support Escalation\""), "{}", plan.stdout);
    assert!(plan.stdout.contains("Ignored: 1 group"), "{}", plan.stdout);
    std::fs::write(groups.join("30-more.yaml"), "groups:\n  - name: support escalation\n").expect("write");
    let run = Cli::new(d).args(&["validate", "-f", g]).run().expect_code(1);
    assert!(run.stderr.contains("30-more.yaml:2:11: group \"support escalation\" is defined twice (first at"), "{}", run.stderr);
    assert!(run.stderr.contains("20-teams.yml:2:11)"), "{}", run.stderr);
}
