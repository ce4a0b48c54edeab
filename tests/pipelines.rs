//! The pipeline recipes and the GitHub Action, run as a pipeline would run them: every YAML block
//! in the docs parses and keeps the recipes' promises (what triggers them is what they read, one
//! lock for every apply, GitLab applies only on pushes), the Action's shell steps run with fake
//! `GITHUB_*` variables against a fake release server, a fake GitHub API and a served sandbox,
//! and the GitLab plan job runs as written. No network beyond loopback.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

mod common;

use common::cli::{BIN, Served};

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn scratch() -> tempfile::TempDir {
    tempfile::tempdir().expect("tempdir")
}

/// The binary, with nothing from the caller's CI environment leaking in.
fn cli(dir: &Path) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.current_dir(dir).stdin(Stdio::null()).env("NO_COLOR", "1");
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy().into_owned();
        if key.starts_with("TALLYFY_") || key.starts_with("GITHUB_") || key.starts_with("GITLAB_") || key.starts_with("CI_") {
            cmd.env_remove(&key);
        }
    }
    cmd
}

#[derive(Debug)]
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn run(mut cmd: Command) -> Run {
    let out = cmd.output().expect("the command runs");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

impl Run {
    fn expect_code(self, code: i32) -> Self {
        assert_eq!(self.code, code, "exit code\n--- stdout\n{}\n--- stderr\n{}", self.stdout, self.stderr);
        self
    }
}

fn sandboxed(dir: &Path, args: &[&str]) -> Run {
    let state = dir.join("state.json");
    let mut cmd = cli(dir);
    cmd.args(args).args(["--sandbox", "--sandbox-state", state.to_str().expect("UTF-8 path")]);
    run(cmd)
}

/// The target branch has no groups.yaml yet: its baseline is an empty file, and every change is
/// introduced by the pull request.
#[test]
fn an_empty_baseline_means_the_target_branch_has_no_groups_yet() {
    let dir = scratch();
    let d = dir.path();
    std::fs::write(d.join("empty.yaml"), "").expect("write");
    std::fs::write(d.join("comments.yaml"), "# no groups yet\n\n").expect("write");
    let example = repo().join("groups.example.yaml");
    let example = example.to_str().expect("UTF-8 path");
    for baseline in ["empty.yaml", "comments.yaml"] {
        let out = sandboxed(d, &["plan", "-f", example, "--baseline", baseline, "--format", "json"]).expect_code(0);
        let plan: Value = serde_json::from_str(&out.stdout).expect("json");
        let origins: BTreeSet<&str> = plan["changes"].as_array().into_iter().flatten().filter_map(|c| c["origin"].as_str()).collect();
        assert_eq!(origins, BTreeSet::from(["introduced"]), "{baseline}: {}", out.stdout);
    }
    // Only a baseline may be empty: an empty groups.yaml is still a mistake.
    let out = sandboxed(d, &["plan", "-f", "empty.yaml"]).expect_code(1);
    assert!(out.stderr.contains("the file is empty"), "{}", out.stderr);
}

// ---------------------------------------------------------------------------------------------
// The YAML blocks of the docs.

/// A fenced ```yaml block of a markdown file.
#[derive(Debug, Clone)]
struct Block {
    file: String,
    line: usize,
    text: String,
}

impl Block {
    fn at(&self) -> String {
        format!("{}:{}", self.file, self.line)
    }

    /// The file a block says it is, from its first line (`# .github/workflows/x.yml`).
    fn names(&self) -> Option<&str> {
        self.text.lines().next()?.strip_prefix("# ").map(str::trim)
    }
}

fn doc_files() -> Vec<PathBuf> {
    let mut files = vec![repo().join("README.md")];
    let mut docs: Vec<PathBuf> = std::fs::read_dir(repo().join("docs"))
        .expect("docs/")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    docs.sort();
    files.extend(docs);
    files
}

/// Every ```yaml block (indented ones too, as in lists), without its indentation.
fn yaml_blocks() -> Vec<Block> {
    let mut blocks = Vec::new();
    for path in doc_files() {
        let text = std::fs::read_to_string(&path).expect("doc");
        let file = path.strip_prefix(repo()).unwrap_or(&path).display().to_string();
        let mut lines = text.lines().enumerate();
        while let Some((i, line)) = lines.next() {
            let indent = line.len() - line.trim_start().len();
            if line.trim_start() != "```yaml" {
                continue;
            }
            let mut body = String::new();
            for (_, l) in lines.by_ref() {
                if l.trim_start() == "```" && l.len() - l.trim_start().len() == indent {
                    break;
                }
                body.push_str(l.get(indent..).unwrap_or(l.trim_start()));
                body.push('\n');
            }
            blocks.push(Block { file: file.clone(), line: i + 1, text: body });
        }
    }
    assert!(blocks.len() >= 10, "too few YAML blocks found: {}", blocks.len());
    blocks
}

/// A YAML node as JSON with every scalar a string (what a YAML 1.2 parser keeps of it).
fn to_json(node: &marked_yaml::Node) -> Value {
    match node {
        marked_yaml::Node::Scalar(s) => Value::String(s.as_str().to_string()),
        marked_yaml::Node::Sequence(items) => Value::Array(items.iter().map(to_json).collect()),
        marked_yaml::Node::Mapping(map) => Value::Object(map.iter().map(|(k, v)| (k.as_str().to_string(), to_json(v))).collect()),
    }
}

/// Parses a block (each `---`-separated document), failing with its location.
fn parse(block: &Block) -> Vec<Value> {
    let mut docs = Vec::new();
    let mut current = String::new();
    let mut chunks = Vec::new();
    for line in block.text.lines() {
        if line.trim_end() == "---" {
            chunks.push(std::mem::take(&mut current));
        } else {
            current.push_str(line);
            current.push('\n');
        }
    }
    chunks.push(current);
    for chunk in chunks {
        if chunk.lines().all(|l| l.trim().is_empty() || l.trim_start().starts_with('#')) {
            continue;
        }
        let options = || marked_yaml::LoaderOptions::default().error_on_duplicate_keys(true);
        let node = marked_yaml::parse_yaml_with_options(0, &chunk, options())
            .or_else(|_| marked_yaml::parse_yaml_with_options(0, &chunk, options().toplevel_sequence()))
            .unwrap_or_else(|e| panic!("{}: the YAML block does not parse: {e}\n{}", block.at(), block.text));
        docs.push(to_json(&node));
    }
    docs
}

#[test]
fn every_yaml_block_in_the_docs_parses() {
    let blocks = yaml_blocks();
    for block in &blocks {
        parse(block);
    }
    // The ones that are groups.yaml files load as groups.yaml.
    for block in blocks.iter().filter(|b| b.names() == Some("groups.yaml")) {
        tallyfy_groups_core::desired::load_str("groups.yaml", &block.text).unwrap_or_else(|e| panic!("{}: {e}", block.at()));
    }
}

/// The GitHub workflows the docs give as whole files (`# .github/workflows/NAME.yml` first).
fn github_workflows() -> Vec<(Block, Value)> {
    let found: Vec<(Block, Value)> = yaml_blocks()
        .into_iter()
        .filter(|b| b.names().is_some_and(|n| n.starts_with(".github/workflows/")))
        .map(|b| {
            let doc = parse(&b).into_iter().next().expect("one document");
            (b, doc)
        })
        .collect();
    assert!(found.len() >= 3, "the docs give at least the plan, apply and drift workflows");
    found
}

/// The GitLab pipelines the docs give (`# .gitlab-ci.yml` first).
fn gitlab_pipelines() -> Vec<(Block, Value)> {
    let found: Vec<(Block, Value)> = yaml_blocks()
        .into_iter()
        .filter(|b| b.names() == Some(".gitlab-ci.yml"))
        .map(|b| {
            let doc = parse(&b).into_iter().next().expect("one document");
            (b, doc)
        })
        .collect();
    assert!(!found.is_empty(), "the docs give a GitLab pipeline");
    found
}

fn strings(v: &Value) -> Vec<String> {
    match v {
        Value::String(s) => vec![s.clone()],
        Value::Array(items) => items.iter().flat_map(strings).collect(),
        _ => Vec::new(),
    }
}

/// Every run script of a workflow, and every `with:` of a step using this repository's Action.
fn steps(workflow: &Value) -> Vec<&Value> {
    workflow["jobs"]
        .as_object()
        .into_iter()
        .flat_map(|jobs| jobs.values())
        .flat_map(|job| job["steps"].as_array().into_iter().flatten())
        .collect()
}

fn uses_this_action(step: &Value) -> bool {
    step["uses"].as_str().is_some_and(|u| u.starts_with("tallyfy-groups/tallyfy-groups@"))
}

/// The files a script passes with `-f`/`--file`.
fn files_in_script(script: &str) -> Vec<String> {
    let words: Vec<&str> = script.split_whitespace().collect();
    words
        .windows(2)
        .filter(|w| w[0] == "-f" || w[0] == "--file" || w[0] == "--owners")
        .map(|w| w[1].trim_matches(['"', '\'']).to_string())
        .collect()
}

/// Whether a `paths:` / `changes:` pattern covers a file or directory given with `-f`.
fn covers(pattern: &str, file: &str) -> bool {
    let file = file.trim_start_matches("./");
    let dir = file.trim_end_matches('/');
    pattern == file || pattern == format!("{dir}/**") || pattern == format!("{dir}/*.yaml")
}

/// What a run without `-f` reads in a repository with the docs' workspace file: the file itself
/// and every target's files.
fn workspace_reads() -> Vec<String> {
    let mut read = vec!["tallyfy-groups.yaml".to_string()];
    for block in yaml_blocks().into_iter().filter(|b| b.names() == Some("tallyfy-groups.yaml")) {
        for doc in parse(&block) {
            for target in doc["targets"].as_object().into_iter().flat_map(|t| t.values()) {
                read.extend(strings(&target["files"]));
            }
        }
    }
    read
}

/// Whether a script runs a command that reads groups files, without naming them with `-f`.
fn reads_the_workspace(script: &str) -> bool {
    ["tallyfy-groups plan", "tallyfy-groups apply", "tallyfy-groups validate"].iter().any(|c| script.contains(c))
        && files_in_script(script).is_empty()
}

/// A workflow triggered by changes to some paths reads exactly those (beside its own file).
#[test]
fn recipes_read_what_they_trigger_on() {
    for (block, wf) in github_workflows() {
        let mut read = BTreeSet::new();
        for step in steps(&wf) {
            let script = step["run"].as_str().unwrap_or_default();
            read.extend(files_in_script(script));
            if reads_the_workspace(script) {
                read.extend(workspace_reads());
            }
            if uses_this_action(step) {
                let files = step["with"]["files"].as_str().unwrap_or("groups.yaml");
                read.extend(files.split_whitespace().map(str::to_string));
                if files.trim().is_empty() && step["with"]["command"] != "validate" {
                    read.extend(workspace_reads());
                }
            }
        }
        for event in ["push", "pull_request"] {
            let paths = strings(&wf["on"][event]["paths"]);
            let paths: Vec<&String> = paths.iter().filter(|p| !p.starts_with(".github/")).collect();
            if paths.is_empty() {
                continue;
            }
            for p in &paths {
                assert!(read.iter().any(|f| covers(p, f)), "{}: triggers on `{p}` but reads only {read:?}", block.at());
            }
            for f in &read {
                assert!(paths.iter().any(|p| covers(p, f)), "{}: reads `{f}` but does not trigger on it ({paths:?})", block.at());
            }
        }
    }
    for (block, pipeline) in gitlab_pipelines() {
        for (name, job) in pipeline.as_object().into_iter().flatten() {
            let read: BTreeSet<String> = strings(&job["script"]).iter().flat_map(|s| files_in_script(s)).collect();
            for rule in job["rules"].as_array().into_iter().flatten() {
                for p in strings(&rule["changes"]) {
                    assert!(read.iter().any(|f| covers(&p, f)), "{}: job {name} triggers on `{p}` but reads {read:?}", block.at());
                }
            }
        }
    }
}

fn applies(script: &str) -> bool {
    script.contains("tallyfy-groups apply")
}

/// Two quick merges must not apply concurrently: every workflow or job that applies holds the
/// same CI-level lock (GitHub `concurrency:` without cancelling, GitLab `resource_group`).
#[test]
fn every_apply_holds_one_ci_lock() {
    let mut github = 0;
    for (block, wf) in github_workflows() {
        for (name, job) in wf["jobs"].as_object().into_iter().flatten() {
            let job_steps = job["steps"].as_array().cloned().unwrap_or_default();
            let applying = job_steps
                .iter()
                .any(|s| applies(s["run"].as_str().unwrap_or_default()) || (uses_this_action(s) && s["with"]["command"] == "apply"));
            if !applying {
                continue;
            }
            github += 1;
            let lock = if job["concurrency"].is_null() { &wf["concurrency"] } else { &job["concurrency"] };
            assert_eq!(
                lock["group"],
                "tallyfy-groups",
                "{}: job {name} applies without the `tallyfy-groups` concurrency group",
                block.at()
            );
            assert_eq!(lock["cancel-in-progress"], "false", "{}: job {name}: an apply in progress must never be cancelled", block.at());
        }
    }
    assert!(github >= 2, "the docs apply on merge and (optionally) nightly");
    for (block, pipeline) in gitlab_pipelines() {
        for (name, job) in pipeline.as_object().into_iter().flatten() {
            if strings(&job["script"]).iter().any(|s| applies(s)) {
                assert_eq!(job["resource_group"], "tallyfy-groups", "{}: job {name} applies without `resource_group`", block.at());
            }
        }
    }
}

/// A GitLab rule on the default branch also matches scheduled pipelines unless it names the
/// pipeline source; the apply-on-merge job must not run on the nightly schedule.
#[test]
fn gitlab_jobs_say_which_pipelines_run_them() {
    for (block, pipeline) in gitlab_pipelines() {
        for (name, job) in pipeline.as_object().into_iter().flatten() {
            for rule in job["rules"].as_array().into_iter().flatten() {
                let cond = rule["if"].as_str().unwrap_or_default();
                if cond.contains("$CI_DEFAULT_BRANCH") {
                    assert!(cond.contains("$CI_PIPELINE_SOURCE"), "{}: job {name}: `{cond}` also matches scheduled pipelines", block.at());
                }
            }
        }
    }
}

/// `plan --out FILE` saves a plan for `apply FILE`; no recipe may write a JSON rendering under
/// a name another recipe uses for a saved plan.
#[test]
fn a_saved_plan_name_never_holds_a_rendering() {
    let mut saved = BTreeSet::new();
    let mut rendered = BTreeSet::new();
    for block in yaml_blocks() {
        for line in block.text.lines() {
            let words: Vec<&str> = line.split_whitespace().collect();
            for w in words.windows(2) {
                if w[0] == "--out" && line.contains("tallyfy-groups plan") {
                    saved.insert(w[1].trim_matches('"').to_string());
                }
                if w[0] == ">" && line.contains("--format json") {
                    rendered.insert(w[1].trim_matches('"').to_string());
                }
            }
        }
    }
    assert!(!saved.is_empty());
    let both: Vec<_> = saved.intersection(&rendered).collect();
    assert!(both.is_empty(), "{both:?} is a saved plan in one recipe and a JSON rendering in another");
}

// ---------------------------------------------------------------------------------------------
// The GitHub Action: action.yml's steps run as a runner runs them.

/// A composite action's step, as action.yml declares it.
#[derive(Debug)]
struct Step {
    id: Option<String>,
    name: String,
    run: String,
    env: Vec<(String, String)>,
    working_directory: Option<String>,
}

/// action.yml, read with the parser the project uses.
#[derive(Debug)]
struct Action {
    inputs: BTreeMap<String, String>,
    outputs: BTreeMap<String, String>,
    steps: Vec<Step>,
}

fn action() -> Action {
    let text = std::fs::read_to_string(repo().join("action.yml")).expect("action.yml");
    let node = marked_yaml::parse_yaml_with_options(0, &text, marked_yaml::LoaderOptions::default().error_on_duplicate_keys(true))
        .expect("action.yml parses");
    let doc = to_json(&node);
    assert_eq!(doc["runs"]["using"], "composite");
    let map = |v: &Value, key: &str| -> BTreeMap<String, String> {
        v.as_object().into_iter().flatten().map(|(name, spec)| (name.clone(), spec[key].as_str().unwrap_or_default().to_string())).collect()
    };
    let steps = doc["runs"]["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .map(|s| {
            assert_eq!(s["shell"], "bash", "every step runs in bash: {s}");
            let run = s["run"].as_str().expect("a run step").to_string();
            assert!(!run.contains("${{"), "expressions belong in env:, not in scripts: {run}");
            Step {
                id: s["id"].as_str().map(str::to_string),
                name: s["name"].as_str().unwrap_or_default().to_string(),
                run,
                env: s["env"]
                    .as_object()
                    .into_iter()
                    .flatten()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                    .collect(),
                working_directory: s["working-directory"].as_str().map(str::to_string),
            }
        })
        .collect();
    Action { inputs: map(&doc["inputs"], "default"), outputs: map(&doc["outputs"], "value"), steps }
}

/// What one run of the action did.
#[derive(Debug, Default)]
struct ActionRun {
    /// (step name, exit code, stdout, stderr) of each step that ran.
    steps: Vec<(String, i32, String, String)>,
    outputs: BTreeMap<String, String>,
    summary: String,
}

impl ActionRun {
    fn succeeded(&self) -> bool {
        self.steps.iter().all(|s| s.1 == 0)
    }

    fn stdout(&self) -> String {
        self.steps.iter().map(|s| s.2.as_str()).collect()
    }

    fn log(&self) -> String {
        self.steps.iter().map(|s| format!("--- {} (exit {})\n{}{}", s.0, s.1, s.2, s.3)).collect()
    }
}

/// A fake runner: a workspace, RUNNER_TEMP, the standard `GITHUB_*` variables and the
/// `github` context the action's expressions read.
struct Runner {
    workspace: PathBuf,
    temp: PathBuf,
    env: BTreeMap<String, String>,
    github: BTreeMap<String, String>,
    /// Directories searched for programs (GITHUB_PATH entries go first).
    path: Vec<PathBuf>,
}

/// The system's programs, without any cargo or tallyfy-groups (the action must bring its own).
fn system_path(extra: &[&Path]) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = extra.iter().map(|p| p.to_path_buf()).collect();
    for dir in std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()) {
        // No GitHub CLI either: a test that wants one puts a stand-in first.
        if !dir.join("cargo").exists() && !dir.join("tallyfy-groups").exists() && !dir.join("gh").exists() && !dirs.contains(&dir) {
            dirs.push(dir);
        }
    }
    dirs
}

impl Runner {
    fn new(workspace: &Path, temp: &Path, github_api: &str, tallyfy: &str) -> Self {
        let os = match std::env::consts::OS {
            "linux" => "Linux",
            "macos" => "macOS",
            other => panic!("no runner OS for {other}"),
        };
        let arch = if std::env::consts::ARCH == "aarch64" { "ARM64" } else { "X64" };
        let mut env = BTreeMap::new();
        for (k, v) in [
            ("CI", "true"),
            ("GITHUB_ACTIONS", "true"),
            ("GITHUB_REPOSITORY", "octo/groups"),
            ("GITHUB_SERVER_URL", "https://github.com"),
            ("GITHUB_RUN_ID", "4242"),
            ("GITHUB_EVENT_NAME", "push"),
            ("GITHUB_SHA", "1111111111111111111111111111111111111111"),
            ("RUNNER_OS", os),
            ("RUNNER_ARCH", arch),
        ] {
            env.insert(k.to_string(), v.to_string());
        }
        env.insert("GITHUB_API_URL".into(), github_api.into());
        env.insert("GITHUB_WORKSPACE".into(), workspace.display().to_string());
        env.insert("GITHUB_ACTION_PATH".into(), repo().display().to_string());
        env.insert("RUNNER_TEMP".into(), temp.display().to_string());
        env.insert("HOME".into(), temp.display().to_string());
        env.insert("TALLYFY_API_URL".into(), tallyfy.into());
        let mut github = BTreeMap::new();
        github.insert("action_path".to_string(), repo().display().to_string());
        github.insert("token".to_string(), "ghs_FAKE_WORKFLOW_TOKEN_123".to_string());
        Runner { workspace: workspace.to_path_buf(), temp: temp.to_path_buf(), env, github, path: system_path(&[]) }
    }

    /// A `pull_request` event for pull request 7 into `main`, at `head`.
    fn pull_request(&mut self, head: &str) {
        self.env.insert("GITHUB_EVENT_NAME".into(), "pull_request".into());
        self.env.insert("GITHUB_BASE_REF".into(), "main".into());
        self.github.insert("event.pull_request.number".into(), "7".into());
        self.github.insert("event.pull_request.head.sha".into(), head.into());
    }

    /// Runs the action's steps in order, as a runner does: a failed step ends the run.
    fn run(&mut self, inputs: &[(&str, &str)]) -> ActionRun {
        let action = action();
        for (name, _) in inputs {
            assert!(action.inputs.contains_key(*name), "action.yml declares no input `{name}`");
        }
        let mut result = ActionRun::default();
        let mut step_outputs: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
        let mut added_path: Vec<PathBuf> = Vec::new();
        for (i, step) in action.steps.iter().enumerate() {
            let eval = |text: &str| self.eval(text, &action, inputs, &step_outputs);
            let files = self.temp.join(format!("step-{i}"));
            std::fs::create_dir_all(&files).expect("mkdir");
            let (output, summary, github_path) = (files.join("output"), files.join("summary"), files.join("path"));
            for f in [&output, &summary, &github_path] {
                std::fs::write(f, "").expect("write");
            }
            let script = files.join("script.sh");
            std::fs::write(&script, &step.run).expect("write");
            let cwd = match &step.working_directory {
                Some(dir) => self.workspace.join(eval(dir)),
                None => self.workspace.clone(),
            };
            let path = std::env::join_paths(added_path.iter().rev().chain(self.path.iter())).expect("PATH");
            let mut cmd = Command::new("bash");
            cmd.args(["--noprofile", "--norc", "-eo", "pipefail"])
                .arg(&script)
                .current_dir(&cwd)
                .env_clear()
                .envs(&self.env)
                .env("PATH", path)
                .env("GITHUB_OUTPUT", &output)
                .env("GITHUB_STEP_SUMMARY", &summary)
                .env("GITHUB_PATH", &github_path)
                .stdin(Stdio::null());
            for (k, v) in &step.env {
                cmd.env(k, eval(v));
            }
            let started = std::time::Instant::now();
            let out = run(cmd);
            let took = format!("{} ({:.1} s)", step.name, started.elapsed().as_secs_f64());
            result.steps.push((took, out.code, out.stdout, out.stderr));
            result.summary.push_str(&std::fs::read_to_string(&summary).expect("summary"));
            added_path.extend(std::fs::read_to_string(&github_path).expect("path").lines().map(PathBuf::from));
            if let Some(id) = &step.id {
                step_outputs.insert(id.clone(), parse_outputs(&std::fs::read_to_string(&output).expect("output")));
            }
            if out.code != 0 {
                break;
            }
        }
        for (name, value) in &action.outputs {
            result.outputs.insert(name.clone(), self.eval(value, &action, inputs, &step_outputs));
        }
        result
    }

    /// Evaluates `${{ inputs.x }}`, `${{ github.x }}` and `${{ steps.id.outputs.x }}`; any
    /// other expression fails the test, so action.yml stays within what is checked here.
    fn eval(&self, text: &str, action: &Action, inputs: &[(&str, &str)], steps: &BTreeMap<String, BTreeMap<String, String>>) -> String {
        let mut out = String::new();
        let mut rest = text;
        while let Some(start) = rest.find("${{") {
            out.push_str(&rest[..start]);
            let end = start + rest[start..].find("}}").expect("an unclosed expression");
            let expr = rest[start + 3..end].trim();
            let value = if let Some(name) = expr.strip_prefix("inputs.") {
                let given = inputs.iter().find(|(n, _)| *n == name).map(|(_, v)| v.to_string());
                let default = action.inputs.get(name).unwrap_or_else(|| panic!("no input `{name}`"));
                given.unwrap_or_else(|| self.eval(default, action, inputs, steps))
            } else if let Some(key) = expr.strip_prefix("github.") {
                assert!(
                    ["action_path", "token", "event.pull_request.number", "event.pull_request.head.sha"].contains(&key),
                    "the test runner does not know `{expr}`"
                );
                self.github.get(key).cloned().unwrap_or_default()
            } else if let Some(rest) = expr.strip_prefix("steps.") {
                let (id, name) = rest.split_once(".outputs.").unwrap_or_else(|| panic!("unsupported `{expr}`"));
                steps.get(id).and_then(|o| o.get(name)).cloned().unwrap_or_default()
            } else {
                panic!("the test runner does not evaluate `{expr}`");
            };
            out.push_str(&value);
            rest = &rest[end + 2..];
        }
        out.push_str(rest);
        out
    }
}

/// `name=value` lines and `name<<DELIMITER` blocks of a GITHUB_OUTPUT file.
fn parse_outputs(text: &str) -> BTreeMap<String, String> {
    let mut map = BTreeMap::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        if let Some((name, delim)) = line.split_once("<<") {
            let value: Vec<&str> = lines.by_ref().take_while(|l| *l != delim).collect();
            map.insert(name.to_string(), value.join("\n"));
        } else if let Some((name, value)) = line.split_once('=') {
            map.insert(name.to_string(), value.to_string());
        }
    }
    map
}

/// The release archive name of this platform, as release.yml names it.
fn archive_name(version: &str) -> String {
    let target = match (std::env::consts::OS, std::env::consts::ARCH) {
        ("linux", "aarch64") => "aarch64-unknown-linux-musl",
        ("linux", _) => "x86_64-unknown-linux-musl",
        ("macos", "aarch64") => "aarch64-apple-darwin",
        ("macos", _) => "x86_64-apple-darwin",
        (os, _) => panic!("no release for {os}"),
    };
    format!("tallyfy-groups-{version}-{target}")
}

fn sh(dir: &Path, script: &str) -> String {
    let mut cmd = Command::new("bash");
    cmd.args(["-eo", "pipefail", "-c", script])
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "T")
        .env("GIT_AUTHOR_EMAIL", "t@example.com")
        .env("GIT_COMMITTER_NAME", "T")
        .env("GIT_COMMITTER_EMAIL", "t@example.com")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("HOME", dir);
    let out = run(cmd);
    assert_eq!(out.code, 0, "{script}\n{}{}", out.stdout, out.stderr);
    out.stdout
}

#[cfg(unix)]
/// A stand-in for a release binary: a script that runs this build (archiving the 150 MB debug
/// binary itself would take seconds).
fn stand_in(to: &Path) {
    std::fs::write(to, format!("#!/bin/sh\nexec '{BIN}' \"$@\"\n")).expect("write");
    let mut perms = std::fs::metadata(to).expect("metadata").permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
    std::fs::set_permissions(to, perms).expect("chmod");
}

#[cfg(unix)]
/// A release server holding this build as `version`'s archive for this platform, with its
/// checksum (or, with `tamper`, the checksum of something else).
async fn release_server(dir: &Path, version: &str, tamper: bool) -> MockServer {
    let name = archive_name(version);
    std::fs::create_dir_all(dir.join(&name)).expect("mkdir");
    stand_in(&dir.join(&name).join("tallyfy-groups"));
    sh(
        dir,
        &format!(
            "tar -czf {name}.tar.gz {name} && sha256sum {name}.tar.gz > {name}.tar.gz.sha256 || shasum -a 256 {name}.tar.gz > {name}.tar.gz.sha256"
        ),
    );
    let archive = std::fs::read(dir.join(format!("{name}.tar.gz"))).expect("archive");
    let mut sum = std::fs::read_to_string(dir.join(format!("{name}.tar.gz.sha256"))).expect("checksum");
    if tamper {
        sum = format!("{}  {name}.tar.gz\n", "0".repeat(64));
    }
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(format!("/download/{version}/{name}.tar.gz")))
        .respond_with(ResponseTemplate::new(200).set_body_bytes(archive))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("/download/{version}/{name}.tar.gz.sha256")))
        .respond_with(ResponseTemplate::new(200).set_body_string(sum))
        .mount(&server)
        .await;
    server
}

/// A served sandbox; killed on drop.
fn serve_sandbox() -> Served {
    serve_sandbox_with(&[])
}

fn serve_sandbox_with(args: &[&str]) -> Served {
    common::cli::serve(args)
}

/// A clone of a repository whose `main` has no groups.yaml yet, on a branch that adds one.
fn workspace(root: &Path) -> (PathBuf, String) {
    let origin = root.join("origin");
    let ws = root.join("workspace");
    std::fs::create_dir_all(&origin).expect("mkdir");
    sh(&origin, "git init -q -b main && echo '# groups' > README.md && git add README.md && git commit -qm start");
    sh(root, "git clone -q origin workspace");
    let example = std::fs::read_to_string(repo().join("groups.example.yaml")).expect("example");
    std::fs::write(ws.join("groups.yaml"), example).expect("write");
    let head = sh(&ws, "git checkout -q -b feature && git add groups.yaml && git commit -qm groups && git rev-parse HEAD");
    (ws, head.trim().to_string())
}

const TALLYFY: [(&str, &str); 2] = [("tallyfy-token", "sandbox-token"), ("org", "sandbox")];

fn inputs<'a>(more: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    TALLYFY.iter().copied().chain(more.iter().copied()).collect()
}

/// The fake GitHub answers `GET /user` as it does for the Actions `GITHUB_TOKEN` (403): the
/// comment's author is then `github-actions[bot]`.
async fn mount_actions_token(github: &MockServer) {
    Mock::given(method("GET"))
        .and(path("/user"))
        .respond_with(ResponseTemplate::new(403).set_body_json(json!({"message": "Resource not accessible by integration"})))
        .mount(github)
        .await;
}

/// The comment the fake GitHub got, by method.
async fn comment_bodies(github: &MockServer, verb: &str) -> Vec<String> {
    github
        .received_requests()
        .await
        .expect("recorded")
        .iter()
        .filter(|r| r.method.as_str() == verb)
        .map(|r| serde_json::from_slice::<Value>(&r.body).expect("JSON")["body"].as_str().unwrap_or_default().to_string())
        .collect()
}

/// On a pull request: the pinned release is installed after its checksum is checked; the plan
/// (every change new: main has no groups.yaml yet) goes to the job summary and to one comment;
/// then a mistake in groups.yaml shows as an annotation and replaces the comment, and so does a
/// plan that fails: no outdated plan stays up.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_action_plans_a_pull_request_in_one_comment_and_replaces_it_when_the_plan_fails() {
    let root = scratch();
    let temp = root.path().join("runner-temp");
    std::fs::create_dir_all(&temp).expect("mkdir");
    let version = action().inputs["version"].clone();
    let release = release_server(&root.path().join("release"), &version, false).await;
    let github = MockServer::start().await;
    let sandbox = serve_sandbox();
    let (ws, head) = workspace(root.path());
    // A shallow checkout has no origin/main: the action fetches it.
    sh(&ws, "git update-ref -d refs/remotes/origin/main");
    let mut runner = Runner::new(&ws, &temp, &github.uri(), &sandbox.url);
    runner.pull_request(&head);
    let download = format!("{}/download", release.uri());
    let plan_inputs = inputs(&[("download-url", download.as_str())]);

    let comments = "/repos/octo/groups/issues/7/comments";
    mount_actions_token(&github).await;
    Mock::given(method("GET"))
        .and(path(comments))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([])))
        .expect(1)
        .mount(&github)
        .await;
    Mock::given(method("POST"))
        .and(path(comments))
        .respond_with(
            ResponseTemplate::new(201)
                .set_body_json(json!({"id": 55, "html_url": "https://github.com/octo/groups/pull/7#issuecomment-55"})),
        )
        .expect(1)
        .mount(&github)
        .await;
    let first = runner.run(&plan_inputs);
    assert!(first.succeeded(), "{}", first.log());
    let installed = temp.join("tallyfy-groups/bin/tallyfy-groups");
    let released = root.path().join("release").join(archive_name(&version)).join("tallyfy-groups");
    assert_eq!(std::fs::read(&installed).ok(), std::fs::read(released).ok(), "the released binary is installed");
    assert!(first.steps[0].2.contains("SHA-256") && first.steps[0].2.contains("verified"), "{}", first.log());
    assert_eq!(first.outputs["exit-code"], "2");
    assert_eq!(first.outputs["has-changes"], "true");
    assert!(first.outputs["plan-file"].ends_with("plan.json") && Path::new(&first.outputs["plan-file"]).is_file(), "{:?}", first.outputs);
    assert!(first.summary.contains("### Tallyfy groups plan: 1 to create, 3 to update, 1 to delete"), "{}", first.summary);
    assert!(!first.stdout().contains("::error"), "{}", first.log());
    let posted = comment_bodies(&github, "POST").await;
    assert_eq!(posted.len(), 1);
    assert!(posted[0].starts_with("<!-- tallyfy-groups plan -->\n### Tallyfy groups plan: 1 to create"), "{}", posted[0]);
    assert!(posted[0].contains("Changes introduced by this pull request") && !posted[0].contains("drift"), "{}", posted[0]);
    assert!(posted[0].contains(&format!("For commit {head}")), "{}", posted[0]);

    // A mistake: annotated on the diff, and the comment now says so instead of the old plan.
    github.reset().await;
    mount_actions_token(&github).await;
    let ours = json!([
        {"id": 54, "body": "<!-- tallyfy-groups plan -->\nNo changes.", "user": {"login": "mallory", "type": "User"}},
        {"id": 55, "body": "<!-- tallyfy-groups plan -->\n### Tallyfy groups plan: 1 to create", "user": {"login": "github-actions[bot]", "type": "Bot"}},
    ]);
    Mock::given(method("GET"))
        .and(path(comments))
        .respond_with(ResponseTemplate::new(200).set_body_json(ours.clone()))
        .mount(&github)
        .await;
    Mock::given(method("PATCH"))
        .and(path("/repos/octo/groups/issues/comments/55"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": 55})))
        .mount(&github)
        .await;
    let good = std::fs::read_to_string(ws.join("groups.yaml")).expect("read");
    std::fs::write(ws.join("groups.yaml"), "groups:\n  - name: Ops\n    memebers: [alice@example.com]\n").expect("write");
    let invalid = runner.run(&plan_inputs);
    assert!(!invalid.succeeded());
    assert_eq!(invalid.outputs["exit-code"], "1");
    assert!(invalid.steps[0].2.contains("already installed"), "{}", invalid.log());
    assert!(
        invalid.stdout().contains("::error file=groups.yaml,line=3,col=5,title=tallyfy-groups validate::unknown group key `memebers`"),
        "{}",
        invalid.log()
    );
    let edited = comment_bodies(&github, "PATCH").await;
    assert_eq!(edited.len(), 1, "only the bot's own comment is edited");
    assert!(edited[0].contains("groups.yaml is invalid") && edited[0].contains("memebers"), "{}", edited[0]);
    assert!(!edited[0].contains("Tallyfy groups plan:"), "no outdated plan stays up: {}", edited[0]);

    // Valid, but the plan fails (a member Tallyfy does not know).
    github.reset().await;
    mount_actions_token(&github).await;
    Mock::given(method("GET")).and(path(comments)).respond_with(ResponseTemplate::new(200).set_body_json(ours)).mount(&github).await;
    Mock::given(method("PATCH")).respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": 55}))).mount(&github).await;
    std::fs::write(ws.join("groups.yaml"), good.replace("alice.nguyen@example.com", "nobody@example.com")).expect("write");
    let failed = runner.run(&plan_inputs);
    assert!(!failed.succeeded());
    assert_eq!((failed.outputs["exit-code"].as_str(), failed.outputs["has-changes"].as_str()), ("1", "false"));
    let edited = comment_bodies(&github, "PATCH").await;
    assert_eq!(edited.len(), 1);
    assert!(edited[0].contains("### The plan failed (exit 1)") && edited[0].contains("nobody@example.com"), "{}", edited[0]);
    assert!(edited[0].contains("actions/runs/4242"), "{}", edited[0]);
    assert!(!edited[0].contains("Tallyfy groups plan:"), "{}", edited[0]);
    for run in [&first, &invalid, &failed] {
        assert!(!run.log().contains("ghs_FAKE_WORKFLOW_TOKEN_123"), "the GitHub token was printed");
    }
}

/// A repository whose `main` has a README only, on a branch that adds a workspace of two targets
/// (staging, production) against the served sandbox `url`.
fn workspace_of_two(root: &Path, url: &str) -> (PathBuf, String) {
    let (ws, _) = workspace(root);
    sh(&ws, "git rm -q groups.yaml && git commit -qm 'no single file'");
    let file = format!(
        "targets:\n  staging:\n    org_id: org-staging\n    api_url: {url}\n    files: [groups/common/, groups/staging/]\n  production:\n    org_id: org-production\n    api_url: {url}\n    files: [groups/common/]\n"
    );
    std::fs::write(ws.join("tallyfy-groups.yaml"), file).expect("write");
    for (dir, text) in [
        ("groups/common", "groups:\n  - name: Support Escalation\n    description: Second line.\n    members: [marco.rossi@example.com]\n"),
        ("groups/staging", "groups:\n  - name: Staging Testers\n    description: Try first.\n    members: [alice.nguyen@example.com]\n"),
    ] {
        std::fs::create_dir_all(ws.join(dir)).expect("mkdir");
        std::fs::write(ws.join(dir).join("groups.yaml"), text).expect("write");
    }
    let head = sh(&ws, "git add -A && git commit -qm workspace && git rev-parse HEAD");
    (ws, head.trim().to_string())
}

/// The Action run on a repository with a workspace of two targets (see [`workspace_of_two`]):
/// the release to install, a fake GitHub that takes one new comment, and a served sandbox of
/// both organizations; kept alive together.
struct WorkspaceAction {
    _root: tempfile::TempDir,
    _release: MockServer,
    ws: PathBuf,
    temp: PathBuf,
    download: String,
    github: MockServer,
    sandbox: Served,
}

impl WorkspaceAction {
    async fn new() -> (Self, String) {
        let root = scratch();
        let temp = root.path().join("runner-temp");
        std::fs::create_dir_all(&temp).expect("mkdir");
        let version = action().inputs["version"].clone();
        let release = release_server(&root.path().join("release"), &version, false).await;
        let github = MockServer::start().await;
        let comments = "/repos/octo/groups/issues/7/comments";
        mount_actions_token(&github).await;
        Mock::given(method("GET"))
            .and(path(comments))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!([])))
            .mount(&github)
            .await;
        Mock::given(method("POST"))
            .and(path(comments))
            .respond_with(ResponseTemplate::new(201).set_body_json(json!({"id": 56})))
            .expect(1)
            .mount(&github)
            .await;
        let sandbox = serve_sandbox_with(&["--org", "org-staging", "--org", "org-production"]);
        let (ws, head) = workspace_of_two(root.path(), &sandbox.url);
        let download = format!("{}/download", release.uri());
        (WorkspaceAction { _root: root, _release: release, ws, temp, download, github, sandbox }, head)
    }

    /// A runner on pull request 7 at `head`, with both targets' tokens.
    fn runner(&self, head: &str) -> Runner {
        let mut runner = Runner::new(&self.ws, &self.temp, &self.github.uri(), &self.sandbox.url);
        runner.env.insert("TALLYFY_STAGING_ACCESS_TOKEN".into(), "sandbox-token".into());
        runner.env.insert("TALLYFY_PRODUCTION_ACCESS_TOKEN".into(), "sandbox-token".into());
        runner.pull_request(head);
        runner
    }
}

/// `files: ""` runs every target of the workspace file: one comment with a section per target
/// (the base branch's checkout as the baseline), a saved plan of both that apply takes, and a
/// rerun with nothing left to do.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_action_plans_and_applies_every_target_of_a_workspace() {
    let (a, head) = WorkspaceAction::new().await;
    let mut runner = a.runner(&head);
    let download = a.download.as_str();
    let plan = runner.run(&[("download-url", download), ("files", "")]);
    assert!(plan.succeeded(), "{}", plan.log());
    assert_eq!((plan.outputs["exit-code"].as_str(), plan.outputs["has-changes"].as_str()), ("2", "true"));
    let posted = comment_bodies(&a.github, "POST").await;
    assert_eq!(posted.len(), 1);
    assert!(posted[0].starts_with("<!-- tallyfy-groups plan -->\n### Tallyfy groups plan: 2 targets"), "{}", posted[0]);
    assert!(posted[0].contains("| **staging** |") && posted[0].contains("| **production** |"), "{}", posted[0]);
    assert!(posted[0].contains("Changes introduced by this pull request"), "labelled against the base branch's checkout: {}", posted[0]);
    let saved = std::fs::read_to_string(&plan.outputs["plan-file"]).expect("the saved plan");
    assert!(saved.contains("\"saved_workspace_plan_version\": 1"), "{saved}");
    assert!(!sh(&a.ws, "git worktree list").contains("checkout"), "the base branch's checkout is removed");

    // After the merge: the saved plan applies to both; a plan then finds nothing.
    runner.env.insert("GITHUB_EVENT_NAME".into(), "push".into());
    runner.github.remove("event.pull_request.number");
    let plan_file = plan.outputs["plan-file"].clone();
    let apply = runner.run(&[("download-url", download), ("files", ""), ("command", "apply"), ("plan-file", plan_file.as_str())]);
    assert!(apply.succeeded(), "{}", apply.log());
    assert_eq!(apply.outputs["has-changes"], "true");
    assert!(apply.summary.contains("staging: apply report") && apply.summary.contains("production: apply report"), "{}", apply.summary);
    let again = runner.run(&[("download-url", download), ("files", "")]);
    assert!(again.succeeded(), "{}", again.log());
    assert_eq!((again.outputs["exit-code"].as_str(), again.outputs["has-changes"].as_str()), ("0", "false"));
}

/// Run in a folder below the workspace file (`working-directory`), the baseline is still the base
/// branch's checkout at the workspace file's folder: changes the base branch would make too are
/// drift, the pull request's own are introduced.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_action_reads_the_baseline_of_a_workspace_above_its_working_directory() {
    let (a, _) = WorkspaceAction::new().await;
    // The workspace is on main already; the pull request adds a member in the shared folder.
    sh(&a.ws, "git update-ref refs/remotes/origin/main HEAD");
    let common = a.ws.join("groups/common/groups.yaml");
    let text = std::fs::read_to_string(&common)
        .expect("read")
        .replace("[marco.rossi@example.com]", "[marco.rossi@example.com, li.wei@example.com]");
    std::fs::write(&common, text).expect("write");
    let head = sh(&a.ws, "git commit -qam 'li joins' && git rev-parse HEAD");
    let mut runner = a.runner(head.trim());
    let plan = runner.run(&[("download-url", a.download.as_str()), ("files", ""), ("working-directory", "groups/staging")]);
    assert!(plan.succeeded(), "{}", plan.log());
    assert!(!plan.log().contains("holds none of the targets' files"), "{}", plan.log());
    let posted = comment_bodies(&a.github, "POST").await;
    assert_eq!(posted.len(), 1);
    assert!(posted[0].contains("Existing drift (the target branch would make these changes too)"), "{}", posted[0]);
    assert!(posted[0].contains("Drifted groups this pull request changes further"), "{}", posted[0]);
}

/// On a push: apply, then nothing left to apply; a plan there comments nowhere.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_action_applies_and_says_whether_anything_changed() {
    let root = scratch();
    let temp = root.path().join("runner-temp");
    std::fs::create_dir_all(&temp).expect("mkdir");
    let version = action().inputs["version"].clone();
    let release = release_server(&root.path().join("release"), &version, false).await;
    let github = MockServer::start().await;
    Mock::given(wiremock::matchers::any()).respond_with(ResponseTemplate::new(500)).expect(0).mount(&github).await;
    let sandbox = serve_sandbox();
    let (ws, _) = workspace(root.path());
    let mut runner = Runner::new(&ws, &temp, &github.uri(), &sandbox.url);
    let download = format!("{}/download", release.uri());
    let apply = inputs(&[("download-url", download.as_str()), ("command", "apply")]);
    let first = runner.run(&apply);
    assert!(first.succeeded(), "{}", first.log());
    assert_eq!((first.outputs["exit-code"].as_str(), first.outputs["has-changes"].as_str()), ("0", "true"));
    assert!(Path::new(&first.outputs["report-file"]).is_file(), "{:?}", first.outputs);
    assert!(first.summary.contains("Apply: 6 applied, 0 failed, 0 skipped."), "{}", first.summary);
    let again = runner.run(&apply);
    assert!(again.succeeded(), "{}", again.log());
    assert_eq!(again.outputs["has-changes"], "false");
    let plan = runner.run(&inputs(&[("download-url", download.as_str()), ("fail-on-changes", "true")]));
    assert!(plan.succeeded(), "{}", plan.log());
    assert_eq!((plan.outputs["exit-code"].as_str(), plan.outputs["has-changes"].as_str()), ("0", "false"));
    assert!(plan.summary.contains("Tallyfy groups: no changes"), "{}", plan.summary);
}

/// A checksum that does not match fails the install: nothing unverified runs, and no source
/// build stands in for it.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_action_refuses_a_release_whose_checksum_does_not_match() {
    let root = scratch();
    let temp = root.path().join("runner-temp");
    std::fs::create_dir_all(&temp).expect("mkdir");
    let version = action().inputs["version"].clone();
    let release = release_server(&root.path().join("release"), &version, true).await;
    let (ws, _) = workspace(root.path());
    let mut runner = Runner::new(&ws, &temp, "http://127.0.0.1:9", "http://127.0.0.1:9/api");
    let download = format!("{}/download", release.uri());
    let run = runner.run(&inputs(&[("download-url", download.as_str()), ("command", "validate")]));
    assert_eq!(run.steps.len(), 1, "the run stops at the install: {}", run.log());
    assert_eq!(run.steps[0].1, 1);
    assert!(
        run.steps[0].2.contains("::error title=tallyfy-groups install::")
            && run.steps[0].2.contains("does not match its published SHA-256"),
        "{}",
        run.log()
    );
    assert!(!temp.join("tallyfy-groups/bin/tallyfy-groups").exists());
}

/// With the GitHub CLI on the runner, the archive's build provenance must verify too: a
/// stand-in `gh` that finds no attestation fails the install, one that verifies it lets the
/// release in; `verify-attestation: true` without `gh` fails.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_action_verifies_the_build_provenance_when_gh_is_there() {
    let root = scratch();
    let temp = root.path().join("runner-temp");
    std::fs::create_dir_all(&temp).expect("mkdir");
    let version = action().inputs["version"].clone();
    let release = release_server(&root.path().join("release"), &version, false).await;
    let download = format!("{}/download", release.uri());
    let (ws, _) = workspace(root.path());
    let tools = root.path().join("gh-bin");
    std::fs::create_dir_all(&tools).expect("mkdir");
    let calls = root.path().join("gh-calls");
    let gh = |answer: u8| {
        let script =
            format!("#!/bin/sh\necho \"$GH_TOKEN $*\" >> '{}'\necho 'no attestations found' >&2\nexit {answer}\n", calls.display());
        std::fs::write(tools.join("gh"), script).expect("write");
        let mut perms = std::fs::metadata(tools.join("gh")).expect("metadata").permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
        std::fs::set_permissions(tools.join("gh"), perms).expect("chmod");
    };
    gh(1);
    let mut runner = Runner::new(&ws, &temp, "http://127.0.0.1:9", "http://127.0.0.1:9/api");
    runner.path.insert(0, tools.clone());
    let refused = runner.run(&inputs(&[("download-url", download.as_str()), ("command", "validate")]));
    assert_eq!(refused.steps.len(), 1, "the run stops at the install: {}", refused.log());
    assert!(
        refused.steps[0].2.contains("has no valid build provenance attestation from tallyfy-groups/tallyfy-groups"),
        "{}",
        refused.log()
    );
    let call = std::fs::read_to_string(&calls).expect("gh was called");
    assert!(call.starts_with("ghs_FAKE_WORKFLOW_TOKEN_123 attestation verify "), "{call}");
    assert!(call.trim_end().ends_with("--repo tallyfy-groups/tallyfy-groups"), "{call}");
    assert!(!temp.join("tallyfy-groups/bin/tallyfy-groups").exists());
    gh(0);
    let verified = runner.run(&inputs(&[("download-url", download.as_str()), ("command", "validate")]));
    assert!(verified.steps[0].2.contains("build provenance verified"), "{}", verified.log());
    assert!(temp.join("tallyfy-groups/bin/tallyfy-groups").exists(), "{}", verified.log());
    // Required, and no GitHub CLI (a fresh runner: nothing installed yet).
    let fresh = root.path().join("runner-temp-2");
    std::fs::create_dir_all(&fresh).expect("mkdir");
    let mut bare = Runner::new(&ws, &fresh, "http://127.0.0.1:9", "http://127.0.0.1:9/api");
    let required = bare.run(&inputs(&[("download-url", download.as_str()), ("command", "validate"), ("verify-attestation", "true")]));
    assert!(
        required.steps[0].2.contains("verify-attestation is true, but the GitHub CLI (gh) is not on this runner"),
        "{}",
        required.log()
    );
}

/// No release published yet (HTTP 404): the action builds its own source with cargo; without
/// cargo it says what to add.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_published_release_the_action_builds_its_own_source() {
    let root = scratch();
    let temp = root.path().join("runner-temp");
    std::fs::create_dir_all(&temp).expect("mkdir");
    let release = MockServer::start().await;
    Mock::given(method("GET")).respond_with(ResponseTemplate::new(404)).mount(&release).await;
    let (ws, _) = workspace(root.path());
    let download = format!("{}/download", release.uri());
    let validate = inputs(&[("download-url", download.as_str()), ("command", "validate")]);

    let mut runner = Runner::new(&ws, &temp, "http://127.0.0.1:9", "http://127.0.0.1:9/api");
    let without = runner.run(&validate);
    assert_eq!(without.steps.len(), 1, "{}", without.log());
    assert!(without.steps[0].2.contains("cargo is not installed to build it: add a Rust toolchain step"), "{}", without.log());

    // A cargo that records how it was called and installs this build where it was told to.
    let fake = root.path().join("fake-bin");
    std::fs::create_dir_all(&fake).expect("mkdir");
    let calls = root.path().join("cargo-calls");
    let script = format!(
        "#!/usr/bin/env bash\nset -eu\necho \"$*\" >> '{}'\nwhile [ $# -gt 0 ]; do if [ \"$1\" = --root ]; then root=$2; fi; shift; done\nmkdir -p \"$root/bin\"\ncp '{BIN}' \"$root/bin/tallyfy-groups\"\n",
        calls.display()
    );
    std::fs::write(fake.join("cargo"), script).expect("write");
    sh(&fake, "chmod +x cargo");
    runner.path = system_path(&[&fake]);
    let built = runner.run(&validate);
    assert!(built.succeeded(), "{}", built.log());
    assert!(
        built.steps[0].2.contains("::notice title=tallyfy-groups install::release v") && built.steps[0].2.contains("HTTP 404"),
        "{}",
        built.log()
    );
    let called = std::fs::read_to_string(&calls).expect("cargo was called");
    assert_eq!(
        called.trim(),
        format!("install --locked --path {} --root {}/tallyfy-groups --bin tallyfy-groups", repo().display(), temp.display())
    );
    assert_eq!(built.outputs["exit-code"], "0");
    assert!(built.summary.contains("groups.yaml valid"), "{}", built.summary);
}

/// The Action installs the release of this very version.
#[test]
fn the_action_pins_the_release_of_this_version() {
    assert_eq!(action().inputs["version"], format!("v{}", env!("CARGO_PKG_VERSION")));
}

/// Docs that use the Action pass only inputs it declares.
#[test]
fn docs_use_only_inputs_the_action_declares() {
    let declared = action().inputs;
    let mut used = 0;
    for block in yaml_blocks() {
        for doc in parse(&block) {
            let mut all_steps: Vec<Value> = steps(&doc).into_iter().cloned().collect();
            if let Value::Array(items) = &doc {
                all_steps.extend(items.iter().cloned());
            }
            for step in all_steps.iter().filter(|s| uses_this_action(s)) {
                used += 1;
                for key in step["with"].as_object().into_iter().flatten().map(|(k, _)| k) {
                    assert!(declared.contains_key(key), "{}: the Action has no input `{key}`", block.at());
                }
            }
        }
    }
    assert!(used >= 3, "the docs show the Action in the plan, apply and drift recipes");
}

// ---------------------------------------------------------------------------------------------
// validate --format

/// In a job that runs in a subdirectory, an annotation's file is still relative to the
/// repository root, so it lands on the pull request's diff.
#[test]
fn validate_annotations_name_the_file_from_the_repository_root() {
    let dir = scratch();
    let sub = dir.path().join("config");
    std::fs::create_dir_all(sub.join("groups")).expect("mkdir");
    std::fs::write(sub.join("groups/a.yaml"), "groups:\n  - name: Ops\n    members: [ann@example.com, ann@example.com]\n").expect("write");
    std::fs::write(sub.join("groups/b.yaml"), "groups:\n  - name: Ops\n").expect("write");
    let mut cmd = cli(&sub);
    cmd.args(["validate", "-f", "groups/", "--format", "github"]).env("GITHUB_WORKSPACE", dir.path());
    let out = run(cmd).expect_code(1);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{}", out.stdout);
    assert!(lines.iter().all(|l| l.starts_with("::error file=config/groups/")), "{}", out.stdout);
    assert!(
        out.stdout
            .contains("file=config/groups/a.yaml,line=3,col=32,title=tallyfy-groups validate::member ann@example.com is listed twice"),
        "{}",
        out.stdout
    );
    assert!(out.stderr.contains("groups/a.yaml and groups/b.yaml are invalid: 2 problems found"), "{}", out.stderr);

    let mut cmd = cli(&sub);
    cmd.args(["validate", "-f", "groups/", "--format", "json"]);
    let out = run(cmd).expect_code(1);
    let v: Value = serde_json::from_str(&out.stdout).expect("only JSON on stdout");
    assert_eq!((v["valid"].as_bool(), v["problems"].as_array().map(Vec::len)), (Some(false), Some(2)));
    assert_eq!(v["problems"][0]["file"], "groups/a.yaml");

    let mut cmd = cli(&sub);
    cmd.args(["validate", "-f", "missing.yaml", "--format", "github"]);
    let out = run(cmd).expect_code(1);
    assert!(out.stdout.starts_with("::error file=missing.yaml,title=tallyfy-groups validate::cannot read missing.yaml"), "{}", out.stdout);

    let mut cmd = cli(dir.path());
    cmd.args(["validate", "-f", repo().join("groups.example.yaml").to_str().expect("UTF-8"), "--format", "json"]);
    let out = run(cmd).expect_code(0);
    let v: Value = serde_json::from_str(&out.stdout).expect("JSON");
    assert_eq!((v["valid"].as_bool(), v["groups"].as_u64(), v["absent"].as_u64()), (Some(true), Some(4), Some(1)));
}

// ---------------------------------------------------------------------------------------------
// The GitLab recipe, run as written.

/// Runs a GitLab job's `script` as the runner would (one shell, stopping at the first failing
/// line), with the recipe's `variables` under the project's CI/CD variables (which take
/// precedence, as in GitLab). The `before_script` install is replaced by this build on PATH.
fn gitlab_job(pipeline: &Value, job: &str, dir: &Path, project: &[(&str, &str)], bin: &Path) -> Run {
    let project: BTreeMap<String, String> = project.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    let mut vars = BTreeMap::new();
    for scope in [&pipeline["variables"], &pipeline[job]["variables"]] {
        for (k, v) in scope.as_object().into_iter().flatten() {
            let v = v.as_str().unwrap_or_default();
            let value = match v.strip_prefix('$') {
                Some(name) => project.get(name).cloned().unwrap_or_default(),
                None => v.to_string(),
            };
            vars.insert(k.clone(), value);
        }
    }
    vars.extend(project.clone());
    let script = strings(&pipeline[job]["script"]).join("\n");
    let path = std::env::join_paths(system_path(&[bin])).expect("PATH");
    let mut cmd = Command::new("bash");
    cmd.args(["--noprofile", "--norc", "-eo", "pipefail", "-c", &script])
        .current_dir(dir)
        .env_clear()
        .envs(&vars)
        .env("PATH", path)
        .env("HOME", dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .stdin(Stdio::null());
    run(cmd)
}

/// The fake GitLab's `GET /user`: the project access token's bot user.
async fn mount_project_bot(gitlab: &MockServer) {
    Mock::given(method("GET"))
        .and(path("/api/v4/user"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": 99, "username": "project_42_bot", "bot": true})))
        .mount(gitlab)
        .await;
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gitlab_recipe_runs_as_written() {
    let (block, pipeline) = gitlab_pipelines().into_iter().next().expect("a GitLab pipeline");
    let root = scratch();
    let bin = root.path().join("bin");
    std::fs::create_dir_all(&bin).expect("mkdir");
    std::os::unix::fs::symlink(BIN, bin.join("tallyfy-groups")).expect("symlink");
    let sandbox = serve_sandbox();
    let gitlab = MockServer::start().await;
    let (ws, head) = workspace(root.path());
    let api = format!("{}/api/v4", gitlab.uri());
    let project = [
        ("TALLYFY_PLAN_TOKEN", "sandbox-token"),
        ("TALLYFY_ORG_ID", "sandbox"),
        ("TALLYFY_API_URL", sandbox.url.as_str()),
        ("GITLAB_TOKEN", "glpat-FAKE-TOKEN-0123"),
        ("CI_PIPELINE_SOURCE", "merge_request_event"),
        ("CI_PROJECT_ID", "42"),
        ("CI_MERGE_REQUEST_IID", "3"),
        ("CI_MERGE_REQUEST_TARGET_BRANCH_NAME", "main"),
        ("CI_COMMIT_SHA", head.as_str()),
        ("CI_API_V4_URL", api.as_str()),
    ];
    let notes = "/api/v4/projects/42/merge_requests/3/notes";
    mount_project_bot(&gitlab).await;
    Mock::given(method("GET"))
        .and(path(notes))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([])))
        .expect(1)
        .mount(&gitlab)
        .await;
    Mock::given(method("POST"))
        .and(path(notes))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"id": 8})))
        .expect(1)
        .mount(&gitlab)
        .await;
    let plan = gitlab_job(&pipeline, "groups:plan", &ws, &project, &bin);
    assert_eq!(plan.code, 0, "{}: groups:plan\n{}{}", block.at(), plan.stdout, plan.stderr);
    let saved: Value = serde_json::from_str(&std::fs::read_to_string(ws.join("plan.json")).expect("plan.json")).expect("JSON");
    assert!(saved["checksum"].as_str().is_some_and(|c| c.starts_with("sha256:")), "plan.json is a saved plan: {saved}");
    let noted: Vec<String> = gitlab
        .received_requests()
        .await
        .expect("recorded")
        .iter()
        .filter(|r| r.method.as_str() == "POST")
        .map(|r| serde_json::from_slice::<Value>(&r.body).expect("JSON")["body"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(noted.len(), 1);
    assert!(
        noted[0].contains("Changes introduced by this pull request") && noted[0].contains(&format!("For commit {head}")),
        "{}",
        noted[0]
    );

    // A member Tallyfy does not know: the job fails and the note shows the error, not the plan.
    gitlab.reset().await;
    mount_project_bot(&gitlab).await;
    Mock::given(method("GET"))
        .and(path(notes))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!([{"id": 8, "body": "<!-- tallyfy-groups plan -->\nold", "system": false, "author": {"id": 99, "username": "project_42_bot"}}]),
        ))
        .mount(&gitlab)
        .await;
    Mock::given(method("PUT"))
        .and(path(format!("{notes}/8")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": 8})))
        .expect(1)
        .mount(&gitlab)
        .await;
    let good = std::fs::read_to_string(ws.join("groups.yaml")).expect("read");
    std::fs::write(ws.join("groups.yaml"), good.replace("alice.nguyen@example.com", "nobody@example.com")).expect("write");
    let failed = gitlab_job(&pipeline, "groups:plan", &ws, &project, &bin);
    assert_eq!(failed.code, 1, "{}{}", failed.stdout, failed.stderr);
    let put =
        gitlab.received_requests().await.expect("recorded").into_iter().find(|r| r.method.as_str() == "PUT").expect("the note was edited");
    let body = serde_json::from_slice::<Value>(&put.body).expect("JSON")["body"].as_str().unwrap_or_default().to_string();
    assert!(body.contains("Tallyfy groups plan failed (exit 1)") && body.contains("nobody@example.com"), "{body}");
    assert!(!body.contains("### Tallyfy groups plan:"), "{body}");

    // The merge: the apply job applies (with the protected token).
    std::fs::write(ws.join("groups.yaml"), good).expect("write");
    let merged = [
        ("TALLYFY_ACCESS_TOKEN", "sandbox-token"),
        ("TALLYFY_ORG_ID", "sandbox"),
        ("TALLYFY_API_URL", sandbox.url.as_str()),
        ("CI_PIPELINE_SOURCE", "push"),
    ];
    let apply = gitlab_job(&pipeline, "groups:apply", &ws, &merged, &bin);
    assert_eq!(apply.code, 0, "{}{}", apply.stdout, apply.stderr);
    assert!(apply.stdout.contains("Apply: 6 applied, 0 failed, 0 skipped."), "{}", apply.stdout);
    assert!(ws.join("report.json").is_file());
}

/// The target branch may name a member who has since left Tallyfy (the change under review may
/// be the one removing them), or hold a file that no longer validates: the baseline only labels
/// changes, so the plan still runs, labels what it can, and says in its warnings why the rest
/// is not labelled.
#[test]
fn a_baseline_that_does_not_resolve_or_validate_still_plans() {
    let dir = scratch();
    let d = dir.path();
    let example = std::fs::read_to_string(repo().join("groups.example.yaml")).expect("example");
    std::fs::write(d.join("live.yaml"), &example).expect("write");
    sandboxed(d, &["apply", "-f", "live.yaml", "--auto-approve"]).expect_code(0);
    // The target branch still lists someone Tallyfy no longer knows; the pull request removes
    // them and adds a group.
    let base = example.replace(
        "      - fatima.haddad@example.com\n\n  - name: Old",
        "      - fatima.haddad@example.com\n      - gone@example.com\n\n  - name: Old",
    );
    assert_ne!(base, example);
    std::fs::write(d.join("base.yaml"), base).expect("write");
    let pr = format!("{}\n  - name: Legal Review\n    members: [dana.okafor@example.com]\n", example.trim_end());
    std::fs::write(d.join("pr.yaml"), pr).expect("write");
    let out = sandboxed(d, &["plan", "-f", "pr.yaml", "--baseline", "base.yaml", "--format", "json"]).expect_code(0);
    let plan: Value = serde_json::from_str(&out.stdout).expect("json");
    let origins: Vec<(String, String)> = plan["changes"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| (c["group"].as_str().unwrap_or_default().to_string(), c["origin"].as_str().unwrap_or_default().to_string()))
        .collect();
    assert_eq!(origins, [("Legal Review".to_string(), "introduced".to_string())]);
    let warnings = plan["warnings"].to_string();
    assert!(warnings.contains("baseline") && warnings.contains("gone@example.com"), "{warnings}");

    std::fs::write(d.join("base.yaml"), "groups:\n  - nme: Ops\n").expect("write");
    let out = sandboxed(d, &["plan", "-f", "pr.yaml", "--baseline", "base.yaml", "--format", "json"]).expect_code(0);
    let plan: Value = serde_json::from_str(&out.stdout).expect("json");
    assert!(plan["changes"].as_array().into_iter().flatten().all(|c| c.get("origin").is_none()), "{}", out.stdout);
    let warnings = plan["warnings"].to_string();
    assert!(warnings.contains("baseline") && warnings.contains("base.yaml:2:5"), "{warnings}");
}

/// Every third-party action the repository's workflows and the docs' recipes use is pinned by
/// commit SHA, with the release it is as a comment (`owner/repo@<40 hex> # vX.Y.Z`): a moved tag
/// cannot change what runs. The Action of this repository (`./`, `tallyfy-groups/tallyfy-groups@…`)
/// is the product itself.
#[test]
fn every_third_party_action_is_pinned_by_commit() {
    let mut files: Vec<PathBuf> = std::fs::read_dir(repo().join(".github/workflows"))
        .expect("workflows")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "yml"))
        .collect();
    files.extend(doc_files());
    files.push(repo().join("action.yml"));
    let mut seen = 0;
    for file in files {
        let text = std::fs::read_to_string(&file).expect("readable");
        for (n, line) in text.lines().enumerate() {
            let Some(at) = line.find("uses: ") else { continue };
            let used = line[at + 6..].trim().trim_start_matches(['"', '\'']);
            if used.starts_with("./") || used.starts_with("tallyfy-groups/tallyfy-groups@") || !used.contains('@') {
                continue;
            }
            seen += 1;
            let (_, rest) = used.split_once('@').unwrap_or_default();
            let sha: String = rest.chars().take_while(|c| c.is_ascii_hexdigit()).collect();
            let tagged = rest[sha.len()..].trim_start().strip_prefix("# v").is_some_and(|t| t.starts_with(|c: char| c.is_ascii_digit()));
            assert!(sha.len() == 40 && tagged, "{}:{}: `{used}` is not pinned as owner/repo@<sha> # vX.Y.Z", file.display(), n + 1);
        }
    }
    assert!(seen > 10, "the workflows use actions: {seen} found");
}

/// The Action's list inputs (`files`, `args`): one item per line when they span lines (spaces
/// kept, so `--only` and `Sales Team*` can be given), else split on white space; never globbed.
#[test]
fn the_actions_list_inputs_keep_spaces_one_item_per_line() {
    let script = std::fs::read_to_string(repo().join("action/run.sh")).expect("run.sh");
    let start = script.find("list_items() {").expect("list_items in run.sh");
    let end = start + script[start..].find("\n}\n").expect("its end") + 3;
    let dir = scratch();
    std::fs::write(dir.path().join("SalesX"), "").expect("a file a glob would match");
    let items = |input: &str| -> Vec<String> {
        let program = format!("{}\nwhile IFS= read -r a; do printf '%s\\n' \"$a\"; done < <(list_items \"$INPUT\")", &script[start..end]);
        let out = Command::new("bash").arg("-c").arg(program).env("INPUT", input).current_dir(dir.path()).output().expect("bash runs");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).lines().map(str::to_owned).collect()
    };
    assert_eq!(items("--only\n  Sales Team*  \n\n--parallelism\n2\n"), ["--only", "Sales Team*", "--parallelism", "2"]);
    assert_eq!(items("--only=Sales* --parallelism 2"), ["--only=Sales*", "--parallelism", "2"]);
    assert_eq!(items("groups/a.yaml groups/b.yaml"), ["groups/a.yaml", "groups/b.yaml"]);
    assert!(items("").is_empty());
}
