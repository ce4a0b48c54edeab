//! Shell completions, tested the way a shell uses them: the script that `tallyfy-groups
//! completions SHELL` prints is sourced in that shell and its completion function is called.
//! Runs bash, and fish when installed; zsh's script is checked for structure (and syntax, when
//! zsh is installed). A shell that is not installed is skipped with a printed reason.

use std::io::Write;
use std::process::{Command, Stdio};

use clap::CommandFactory;

const BIN: &str = env!("CARGO_BIN_EXE_tallyfy-groups");

/// The completion script for `shell`, as the binary prints it.
fn script(shell: &str) -> String {
    let out = Command::new(BIN).args(["completions", shell]).stdin(Stdio::null()).output().expect("the binary runs");
    assert!(out.status.success(), "completions {shell} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("the script is UTF-8")
}

/// Whether `shell` can be started; prints why a test is skipped when it cannot.
fn installed(shell: &str, test: &str) -> bool {
    match Command::new(shell).arg("--version").stdout(Stdio::null()).stderr(Stdio::null()).status() {
        Ok(_) => true,
        Err(e) => {
            // Straight to the process's stderr: the test harness captures `eprintln!` of passing
            // tests, and a skip must never be silent.
            let _ = writeln!(std::io::stderr(), "SKIPPED {test}: `{shell}` cannot be started ({e}); install {shell} to run it");
            false
        }
    }
}

/// Sources the bash script, sets COMP_WORDS/COMP_CWORD to `words` (the last one is the word
/// being completed) and calls the function that `complete -p tallyfy-groups` names, as bash does
/// on Tab. Returns COMPREPLY.
const BASH_DRIVER: &str = r#"
source "$1" || exit 90
shift
spec=$(complete -p tallyfy-groups) || exit 91
fn=${spec#*-F }
fn=${fn%% *}
COMP_WORDS=("$@")
COMP_CWORD=$(( $# - 1 ))
COMP_LINE="$*"
COMP_POINT=${#COMP_LINE}
cur=${COMP_WORDS[COMP_CWORD]}
prev=""
if (( COMP_CWORD > 0 )); then prev=${COMP_WORDS[COMP_CWORD-1]}; fi
"$fn" "${COMP_WORDS[0]}" "$cur" "$prev" || exit 92
printf '%s\n' "${COMPREPLY[@]}"
"#;

struct Bash {
    script: tempfile::NamedTempFile,
    cwd: tempfile::TempDir,
}

impl Bash {
    fn new() -> Self {
        let mut file = tempfile::NamedTempFile::new().expect("temp file");
        std::io::Write::write_all(&mut file, script("bash").as_bytes()).expect("write the script");
        Bash { script: file, cwd: tempfile::tempdir().expect("tempdir") }
    }

    /// What bash offers for the command line `words` (the last word is being completed).
    fn complete(&self, words: &[&str]) -> Vec<String> {
        let out = Command::new("bash")
            .args(["--norc", "--noprofile", "-c", BASH_DRIVER, "bash"])
            .arg(self.script.path())
            .args(words)
            .current_dir(self.cwd.path())
            .stdin(Stdio::null())
            .output()
            .expect("bash runs");
        assert!(
            out.status.success(),
            "the completion function failed for {words:?} (exit {:?}): {}",
            out.status.code(),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).lines().filter(|l| !l.is_empty()).map(str::to_owned).collect()
    }
}

#[test]
fn bash_completes_an_option_of_a_subcommand() {
    if !installed("bash", "bash_completes_an_option_of_a_subcommand") {
        return;
    }
    let bash = Bash::new();
    assert_eq!(bash.complete(&["tallyfy-groups", "plan", "--fo"]), ["--format"]);
    assert_eq!(bash.complete(&["tallyfy-groups", "apply", "--auto"]), ["--auto-approve"]);
    assert_eq!(bash.complete(&["tallyfy-groups", "plan", "-f", "groups.yaml", "--detailed"]), ["--detailed-exitcode"]);
}

#[test]
fn bash_completes_values_of_a_subcommand_option() {
    if !installed("bash", "bash_completes_values_of_a_subcommand_option") {
        return;
    }
    let bash = Bash::new();
    assert_eq!(bash.complete(&["tallyfy-groups", "plan", "--format", ""]), ["text", "markdown", "json"]);
    assert_eq!(bash.complete(&["tallyfy-groups", "plan", "--format", "m"]), ["markdown"]);
    assert_eq!(bash.complete(&["tallyfy-groups", "completions", "z"]), ["zsh"]);
}

#[test]
fn bash_completes_subcommands_and_top_level_options() {
    if !installed("bash", "bash_completes_subcommands_and_top_level_options") {
        return;
    }
    let bash = Bash::new();
    assert_eq!(bash.complete(&["tallyfy-groups", "pl"]), ["plan"]);
    assert_eq!(bash.complete(&["tallyfy-groups", "--log"]), ["--log-format"]);
    assert_eq!(bash.complete(&["tallyfy-groups", "help", "ex"]), ["export"]);
}

/// Every long option of every subcommand is offered after `tallyfy-groups SUB --`, so a
/// subcommand added later is covered too.
#[test]
fn bash_offers_every_long_option_of_every_subcommand() {
    if !installed("bash", "bash_offers_every_long_option_of_every_subcommand") {
        return;
    }
    let bash = Bash::new();
    let cli = tallyfy_groups::cli::Cli::command();
    let mut checked = 0;
    for sub in cli.get_subcommands() {
        let offered = bash.complete(&["tallyfy-groups", sub.get_name(), "--"]);
        for arg in sub.get_arguments().filter(|a| !a.is_hide_set()) {
            if let Some(long) = arg.get_long() {
                let want = format!("--{long}");
                assert!(offered.contains(&want), "`tallyfy-groups {} --<Tab>` lacks {want}: {offered:?}", sub.get_name());
                checked += 1;
            }
        }
    }
    assert!(checked > 40, "only {checked} options checked");
}

#[test]
fn fish_completes_an_option_of_a_subcommand() {
    if !installed("fish", "fish_completes_an_option_of_a_subcommand") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("tallyfy-groups.fish");
    std::fs::write(&path, script("fish")).expect("write the script");
    let fish = |line: &str| -> Vec<String> {
        let out = Command::new("fish")
            .args(["--no-config", "-c", "source $argv[1]; complete -C $argv[2]"])
            .arg(&path)
            .arg(line)
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .output()
            .expect("fish runs");
        assert!(out.status.success(), "fish failed: {}", String::from_utf8_lossy(&out.stderr));
        // `complete -C` prints `candidate<TAB>description`.
        String::from_utf8_lossy(&out.stdout).lines().map(|l| l.split('\t').next().unwrap_or_default().to_owned()).collect()
    };
    assert_eq!(fish("tallyfy-groups plan --fo"), ["--format"]);
    assert_eq!(fish("tallyfy-groups plan --format m"), ["markdown"]);
    assert!(fish("tallyfy-groups pl").contains(&"plan".to_owned()));
}

/// `--target` completes the workspace file's target names (bash asks `tallyfy-groups
/// complete-targets`, found on PATH), and nothing outside a workspace; zsh and fish are given
/// the same command.
#[test]
fn target_names_complete_from_the_workspace_file() {
    if !installed("bash", "target_names_complete_from_the_workspace_file") {
        return;
    }
    let bash = Bash::new();
    std::fs::write(
        bash.cwd.path().join("tallyfy-groups.yaml"),
        "targets:\n  staging:\n    org_id: a\n    files: [groups/]\n  production:\n    org_id: b\n    files: [groups/]\n  prod-eu:\n    org_id: c\n    files: [groups/]\n",
    )
    .expect("write");
    std::fs::create_dir_all(bash.cwd.path().join(".git")).expect("git");
    let bin_dir = std::path::Path::new(BIN).parent().expect("bin dir");
    let path = std::env::join_paths(
        std::iter::once(bin_dir.to_path_buf()).chain(std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())),
    )
    .expect("PATH");
    let complete = |words: &[&str]| -> Vec<String> {
        let out = Command::new("bash")
            .args(["--norc", "--noprofile", "-c", BASH_DRIVER, "bash"])
            .arg(bash.script.path())
            .args(words)
            .current_dir(bash.cwd.path())
            .env("PATH", &path)
            .stdin(Stdio::null())
            .output()
            .expect("bash runs");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).lines().filter(|l| !l.is_empty()).map(str::to_owned).collect()
    };
    assert_eq!(complete(&["tallyfy-groups", "plan", "--target", ""]), ["staging", "production", "prod-eu"]);
    assert_eq!(complete(&["tallyfy-groups", "apply", "--target", "pro"]), ["production", "prod-eu"]);
    if installed("fish", "target_names_complete_from_the_workspace_file (its fish part)") {
        let fish_script = bash.cwd.path().join("tallyfy-groups.fish");
        std::fs::write(&fish_script, script("fish")).expect("write the script");
        let out = Command::new("fish")
            .args(["--no-config", "-c", "source $argv[1]; complete -C $argv[2]"])
            .arg(&fish_script)
            .arg("tallyfy-groups plan --target ")
            .current_dir(bash.cwd.path())
            .env("PATH", &path)
            .stdin(Stdio::null())
            .output()
            .expect("fish runs");
        let mut offered: Vec<String> =
            String::from_utf8_lossy(&out.stdout).lines().map(|l| l.split('\t').next().unwrap_or_default().to_owned()).collect();
        offered.sort();
        assert_eq!(offered, ["prod-eu", "production", "staging"]);
    }
    // No workspace file: nothing is offered, and nothing is printed into the command line.
    std::fs::remove_file(bash.cwd.path().join("tallyfy-groups.yaml")).expect("rm");
    assert!(complete(&["tallyfy-groups", "plan", "--target", ""]).is_empty());
    for shell in ["zsh", "fish"] {
        assert!(script(shell).contains("tallyfy-groups complete-targets 2>/dev/null"), "{shell}");
    }
}

/// zsh runs completion functions only inside its line editor, so this checks what the script
/// dispatches on: an arm per subcommand that offers that subcommand's options, and (when zsh is
/// installed) that zsh parses it. zsh keeps the binary name verbatim in its states, so the
/// hyphen that breaks bash does not affect it.
#[test]
fn zsh_script_has_an_arm_with_the_options_of_every_subcommand() {
    let text = script("zsh");
    assert!(text.starts_with("#compdef tallyfy-groups\n"), "{}", &text[..text.len().min(200)]);
    assert!(text.contains(r#"curcontext="${curcontext%:*:*}:tallyfy-groups-command-$line[1]:""#), "dispatch changed");
    let cli = tallyfy_groups::cli::Cli::command();
    for sub in cli.get_subcommands() {
        let lines: Vec<&str> = text.lines().collect();
        let arm = format!("({})", sub.get_name());
        let start = lines.iter().position(|l| l.trim() == arm).unwrap_or_else(|| panic!("no arm for {}", sub.get_name()));
        let end = lines[start..].iter().position(|l| l.trim() == ";;").map_or(lines.len(), |n| start + n);
        let body = lines[start..end].join("\n");
        for long in sub.get_arguments().filter(|a| !a.is_hide_set()).filter_map(|a| a.get_long()) {
            // `'--long…'`, `'*--long…'` (repeatable), or `'(--other …)--long…'` (with the options
            // it excludes).
            let offered = [format!("'--{long}"), format!("'*--{long}"), format!(")--{long}")];
            assert!(offered.iter().any(|o| body.contains(o.as_str())), "{} lacks --{long}", sub.get_name());
        }
    }
    if installed("zsh", "zsh_script_has_an_arm_with_the_options_of_every_subcommand (its `zsh -n` part)") {
        let file = tempfile::NamedTempFile::new().expect("temp file");
        std::fs::write(file.path(), &text).expect("write");
        let out = Command::new("zsh").arg("-n").arg(file.path()).output().expect("zsh runs");
        assert!(out.status.success(), "zsh -n rejects the script: {}", String::from_utf8_lossy(&out.stderr));
    }
}

/// A failed write (a full disk) is an error with a message and exit 1, not a panic.
#[cfg(target_os = "linux")]
#[test]
fn generated_text_to_a_full_disk_fails_with_a_message() {
    for args in [&["completions", "bash"][..], &["man"][..]] {
        let full = std::fs::OpenOptions::new().write(true).open("/dev/full").expect("/dev/full");
        let out = Command::new(BIN).args(args).stdin(Stdio::null()).stdout(full).output().expect("the binary runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(stderr.contains("error: cannot write stdout: No space left on device"), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
}
