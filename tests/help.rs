//! `--help` of every command: snapshots, and the promise that each ends with examples and exit
//! codes and shows the global options under their own heading.

use clap::CommandFactory;
use tallyfy_groups::cli::Cli;

/// The `--help` text of `tallyfy-groups <path>`.
fn help(path: &[&str]) -> String {
    let mut cmd = Cli::command();
    cmd.build();
    let mut at = &mut cmd;
    for name in path {
        at = at.find_subcommand_mut(name).unwrap_or_else(|| panic!("no subcommand {name}"));
    }
    at.render_help().to_string()
}

#[test]
fn every_command_ends_with_examples_and_exit_codes() {
    let mut cmd = Cli::command();
    cmd.build();
    let mut paths: Vec<Vec<String>> = vec![vec![]];
    for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
        paths.push(vec![sub.get_name().to_string()]);
        for nested in sub.get_subcommands().filter(|s| s.get_name() != "help") {
            paths.push(vec![sub.get_name().to_string(), nested.get_name().to_string()]);
        }
    }
    assert!(paths.len() >= 12, "{paths:?}");
    for path in paths {
        let path: Vec<&str> = path.iter().map(String::as_str).collect();
        let text = help(&path);
        let examples = text.find("\nExamples:\n").unwrap_or_else(|| panic!("{path:?} has no examples:\n{text}"));
        let codes = text.find("\nExit codes:\n").unwrap_or_else(|| panic!("{path:?} has no exit codes:\n{text}"));
        assert!(examples < codes, "{path:?}: examples come first");
        let listed = text[examples..codes].lines().filter(|l| l.starts_with("  tallyfy-groups ")).count();
        assert!((1..=3).contains(&listed), "{path:?}: {listed} examples");
        assert!(text[codes..].contains("\n  0  ") || text[codes..].contains("\n  0    "), "{path:?}:\n{text}");
        let global = text.find("\nGlobal options:\n").unwrap_or_else(|| panic!("{path:?} has no global options heading:\n{text}"));
        assert!(text[global..].contains("--log-format"), "{path:?}");
        // The global options stand under their heading only, not between the command's own.
        let before = &text[..global];
        assert!(!before.contains("--log-format") && !before.contains("--verbose"), "{path:?}:\n{text}");
    }
}

#[test]
fn help_snapshots() {
    for path in [&[][..], &["validate"], &["plan"], &["apply"], &["export"], &["sandbox"], &["comment", "github"], &["report", "access"]] {
        let name = if path.is_empty() { "help_main".to_string() } else { format!("help_{}", path.join("_")) };
        insta::assert_snapshot!(name, without_env_values(&help(path)));
    }
}

/// `[env: NAME=value]` as `[env: NAME]`: a variable set where the tests run shows its value.
fn without_env_values(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("[env: ") {
        let (head, tail) = rest.split_at(at);
        out.push_str(head);
        let end = tail.find(']').map_or(tail.len(), |e| e + 1);
        let inside = &tail[..end];
        match inside.find('=') {
            Some(eq) => {
                out.push_str(&inside[..eq]);
                out.push(']');
            }
            None => out.push_str(inside),
        }
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

#[test]
fn env_values_are_left_out_of_snapshots() {
    assert_eq!(without_env_values("a [env: X=1] b [env: Y=] c [env: Z]"), "a [env: X] b [env: Y] c [env: Z]");
}
