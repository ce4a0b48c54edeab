//! The command reader running real programs (small shell scripts in a temporary folder): what
//! it prints becomes people; a failing, slow, garbled or empty command fails the whole source,
//! never part of it; it sees only the variables it is given; and nothing it started outlives a
//! timeout.

#![cfg(unix)]

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tallyfy_groups_core::desired::Location;
use tallyfy_groups_core::source::{CommandSpec, SourceFailure, SourceKind, SourceRead, SourceSpec, Unknown};
use tallyfy_groups_sources::{Environment, ReadOptions};

/// Writes an executable `name` into `dir` with this shell script body.
fn script(dir: &Path, name: &str, body: &str) {
    let path = dir.join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

fn spec(dir: &Path, argv: &[&str], timeout: Duration, env: &[&str]) -> SourceSpec {
    SourceSpec {
        name: "roster".to_string(),
        kind: SourceKind::Command(CommandSpec {
            argv: argv.iter().map(|s| s.to_string()).collect(),
            timeout,
            env: env.iter().map(|s| s.to_string()).collect(),
        }),
        allow_empty: false,
        unknown: Unknown::Error,
        at: Location { file: Arc::from("groups.yaml"), line: 4, column: 5 },
        dir: dir.to_path_buf(),
    }
}

fn allowed(vars: &[(&str, &str)]) -> ReadOptions {
    let mut all: Vec<(String, String)> = vec![("PATH".into(), std::env::var("PATH").unwrap_or_else(|_| "/usr/bin:/bin".into()))];
    all.extend(vars.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    ReadOptions { allow_commands: true, env: Environment::fixed(all), ..ReadOptions::default() }
}

fn addresses(read: &SourceRead) -> Vec<&str> {
    read.people.iter().map(|p| p.email.as_str()).collect()
}

/// The reason of a read that must fail, after checking the failure names the source.
fn failure(result: Result<SourceRead, SourceFailure>) -> String {
    match result {
        Ok(read) => panic!("the read succeeded with {:?}", addresses(&read)),
        Err(failure) => {
            assert_eq!((failure.name.as_str(), failure.kind), ("roster", "command"));
            assert_eq!((failure.at.line, failure.at.column), (4, 5));
            failure.reason
        }
    }
}

#[tokio::test]
async fn prints_addresses_one_per_line_and_runs_in_the_defining_folder() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("people.txt"), "# finance\nAda@Example.com\n\n  bob@example.com  \nada@example.com\n").unwrap();
    script(dir.path(), "roster.sh", "cat people.txt");
    let read =
        tallyfy_groups_sources::read(&spec(dir.path(), &["./roster.sh"], Duration::from_secs(30), &[]), &allowed(&[])).await.unwrap();
    // Normalised, in order, each once; comments and blank lines ignored.
    assert_eq!(addresses(&read), ["ada@example.com", "bob@example.com"]);
    assert!(read.warnings.is_empty());
}

#[tokio::test]
async fn never_runs_unless_the_pipeline_allows_it() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("ran");
    script(dir.path(), "roster.sh", &format!("touch '{}'\necho ada@example.com", marker.display()));
    let options = ReadOptions { allow_commands: false, env: Environment::fixed([]), ..ReadOptions::default() };
    let reason = failure(tallyfy_groups_sources::read(&spec(dir.path(), &["./roster.sh"], Duration::from_secs(30), &[]), &options).await);
    assert!(reason.contains("--allow-command-sources"), "{reason}");
    assert!(reason.contains("TALLYFY_GROUPS_ALLOW_COMMANDS=1"), "{reason}");
    assert!(!marker.exists(), "the program ran although commands were not allowed");
}

#[tokio::test]
async fn a_failing_command_fails_the_source_with_its_error_output_scrubbed_of_secrets() {
    let dir = tempfile::tempdir().unwrap();
    script(
        dir.path(),
        "roster.sh",
        "echo ada@example.com\necho \"connecting with token $ROSTER_TOKEN\" >&2\necho 'the directory said no' >&2\nexit 3",
    );
    let reason = failure(
        tallyfy_groups_sources::read(
            &spec(dir.path(), &["./roster.sh"], Duration::from_secs(30), &["ROSTER_TOKEN"]),
            &allowed(&[("ROSTER_TOKEN", "s3cret-value")]),
        )
        .await,
    );
    assert!(reason.contains("exited with status 3"), "{reason}");
    assert!(reason.contains("the directory said no"), "{reason}");
    assert!(reason.contains("connecting with token ***"), "{reason}");
    assert!(!reason.contains("s3cret-value"), "{reason}");
}

#[tokio::test]
async fn the_command_sees_only_path_home_and_the_variables_it_names() {
    let dir = tempfile::tempdir().unwrap();
    // Prints an address per variable it can see, so the read says which ones were visible.
    script(
        dir.path(),
        "roster.sh",
        "[ -n \"$ROSTER_TOKEN\" ] && echo token@example.com\n[ -n \"$OTHER_SECRET\" ] && echo other@example.com\n[ -n \"$PATH\" ] && echo path@example.com\nexit 0",
    );
    let read = tallyfy_groups_sources::read(
        &spec(dir.path(), &["./roster.sh"], Duration::from_secs(30), &["ROSTER_TOKEN"]),
        &allowed(&[("ROSTER_TOKEN", "t"), ("OTHER_SECRET", "o")]),
    )
    .await
    .unwrap();
    assert_eq!(addresses(&read), ["token@example.com", "path@example.com"]);
}

#[tokio::test]
async fn a_line_that_is_not_an_address_fails_the_whole_source() {
    let dir = tempfile::tempdir().unwrap();
    script(dir.path(), "roster.sh", "echo ada@example.com\necho 'Bob Smith'\necho bob@example.com\necho 'also wrong'");
    let reason =
        failure(tallyfy_groups_sources::read(&spec(dir.path(), &["./roster.sh"], Duration::from_secs(30), &[]), &allowed(&[])).await);
    assert!(reason.starts_with("line 2 of its output, `Bob Smith`, is not an email address"), "{reason}");
    assert!(reason.contains("(and 1 more such lines)"), "{reason}");
}

#[tokio::test]
async fn a_missing_or_unexecutable_program_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let reason =
        failure(tallyfy_groups_sources::read(&spec(dir.path(), &["./nowhere.sh"], Duration::from_secs(30), &[]), &allowed(&[])).await);
    assert!(reason.contains("nowhere.sh was not found"), "{reason}");
    assert!(reason.contains("relative to the folder of the file that defines the source"), "{reason}");

    std::fs::write(dir.path().join("plain.sh"), "#!/bin/sh\necho ada@example.com\n").unwrap();
    let reason =
        failure(tallyfy_groups_sources::read(&spec(dir.path(), &["./plain.sh"], Duration::from_secs(30), &[]), &allowed(&[])).await);
    assert!(reason.contains("permission denied"), "{reason}");

    let reason = failure(
        tallyfy_groups_sources::read(&spec(dir.path(), &["no-such-program-here"], Duration::from_secs(30), &[]), &allowed(&[])).await,
    );
    assert_eq!(reason, "`no-such-program-here` was not found in PATH");
}

/// Whether a process is still running (a zombie waiting to be reaped counts as gone).
fn running(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat.rsplit(')').next().unwrap_or("").trim_start().starts_with('Z'),
        Err(_) => false,
    }
}

#[tokio::test]
async fn a_slow_command_is_stopped_at_its_timeout_with_everything_it_started() {
    let dir = tempfile::tempdir().unwrap();
    let pids = dir.path().join("pids");
    // The script starts a helper that outlives it and holds the output pipe open, then sleeps.
    script(dir.path(), "roster.sh", &format!("echo ada@example.com\nsleep 300 &\necho $$ $! > '{}'\nsleep 300", pids.display()));
    let started = Instant::now();
    let reason =
        failure(tallyfy_groups_sources::read(&spec(dir.path(), &["./roster.sh"], Duration::from_secs(1), &[]), &allowed(&[])).await);
    let took = started.elapsed();
    assert!(reason.starts_with("it did not finish within 1 s, so it was stopped"), "{reason}");
    assert!(took < Duration::from_secs(60), "the timeout was not kept: {took:?}");
    let pids: Vec<u32> = std::fs::read_to_string(&pids).unwrap().split_whitespace().map(|p| p.parse().unwrap()).collect();
    assert_eq!(pids.len(), 2);
    // SIGKILL is delivered at once, but the kernel may take a moment to tear a process down.
    let deadline = Instant::now() + Duration::from_secs(10);
    while pids.iter().any(|&p| running(p)) && Instant::now() < deadline {
        std::thread::yield_now();
    }
    for pid in pids {
        assert!(!running(pid), "process {pid} outlived the timeout");
    }
}

#[tokio::test]
async fn a_command_whose_helper_keeps_the_output_open_is_stopped_too() {
    let dir = tempfile::tempdir().unwrap();
    // The script itself exits at once, but a helper it left behind still holds standard output.
    script(dir.path(), "roster.sh", "echo ada@example.com\nsleep 300 &\nexit 0");
    let reason =
        failure(tallyfy_groups_sources::read(&spec(dir.path(), &["./roster.sh"], Duration::from_secs(1), &[]), &allowed(&[])).await);
    assert!(reason.starts_with("it did not finish within 1 s"), "{reason}");
}

#[tokio::test]
async fn printing_nobody_is_a_read_of_nobody_that_expansion_refuses_without_allow_empty() {
    use tallyfy_groups_core::desired::{ExpandError, expand, load, read_sources};

    let dir = tempfile::tempdir().unwrap();
    script(dir.path(), "roster.sh", "echo '# nobody today'");
    let yaml = "sources:\n  roster:\n    command: [./roster.sh]\ngroups:\n  - name: Finance\n    members:\n      - source: roster\n";
    let file = dir.path().join("groups.yaml");
    std::fs::write(&file, yaml).unwrap();
    let mut state = load(read_sources(&[file]).unwrap()).unwrap();
    let reads = tallyfy_groups_sources::read_all(&state.sources, &allowed(&[])).await;
    assert_eq!(reads["roster"].as_ref().map(|r| r.people.len()), Ok(0));
    match expand(&mut state, &reads, false) {
        Err(ExpandError::SourcesFailed(failed)) => {
            assert_eq!(failed.len(), 1);
            assert!(failed[0].reason.contains("it yielded nobody"), "{}", failed[0].reason);
            assert!(failed[0].reason.contains("allow_empty: true"), "{}", failed[0].reason);
        }
        other => panic!("expected the empty source to fail, got {other:?}"),
    }
}

#[tokio::test]
async fn a_command_that_never_stops_printing_is_stopped_at_the_output_cap() {
    let dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let reason = failure(
        tallyfy_groups_sources::read(&spec(dir.path(), &["yes", "ada@example.com"], Duration::from_secs(600), &[]), &allowed(&[])).await,
    );
    assert_eq!(reason, "it printed more than 256 MiB, so it was stopped");
    // Stopped at the cap, not left blocked on a full pipe until its ten-minute timeout.
    assert!(started.elapsed() < Duration::from_secs(300), "{:?}", started.elapsed());
}

#[tokio::test]
async fn a_relative_program_runs_from_a_file_in_a_relative_folder() {
    // `-f teams/groups.yaml` from the repository's root: the source's folder is `teams`.
    let root = tempfile::tempdir().unwrap();
    std::fs::create_dir(root.path().join("teams")).unwrap();
    script(&root.path().join("teams"), "roster.sh", "echo ada@example.com");
    std::env::set_current_dir(root.path()).unwrap();
    let read = tallyfy_groups_sources::read(&spec(Path::new("teams"), &["./roster.sh"], Duration::from_secs(30), &[]), &allowed(&[]))
        .await
        .expect("the program is found in teams/, not teams/teams/");
    assert_eq!(addresses(&read), ["ada@example.com"]);
}
