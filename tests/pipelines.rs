//! The pipeline recipes and the GitHub Action, run as a pipeline would run them: every YAML block
//! in the docs parses and keeps the recipes' promises (what triggers them is what they read, one
//! lock for every apply, GitLab applies only on pushes), the Action's shell steps run with fake
//! `GITHUB_*` variables against a fake release server, a fake GitHub API and a served sandbox,
//! and the GitLab plan job runs as written. No network beyond loopback.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_tallyfy-groups");

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
        tallyfy_groups::desired::load_str("groups.yaml", &block.text).unwrap_or_else(|e| panic!("{}: {e}", block.at()));
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
    words.windows(2).filter(|w| w[0] == "-f" || w[0] == "--file").map(|w| w[1].trim_matches(['"', '\'']).to_string()).collect()
}

/// Whether a `paths:` / `changes:` pattern covers a file or directory given with `-f`.
fn covers(pattern: &str, file: &str) -> bool {
    let file = file.trim_start_matches("./");
    let dir = file.trim_end_matches('/');
    pattern == file || pattern == format!("{dir}/**") || pattern == format!("{dir}/*.yaml")
}

/// A workflow triggered by changes to some paths reads exactly those (beside its own file).
#[test]
fn recipes_read_what_they_trigger_on() {
    for (block, wf) in github_workflows() {
        let mut read = BTreeSet::new();
        for step in steps(&wf) {
            read.extend(files_in_script(step["run"].as_str().unwrap_or_default()));
            if uses_this_action(step) {
                let files = step["with"]["files"].as_str().unwrap_or("groups.yaml");
                read.extend(files.split_whitespace().map(str::to_string));
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
