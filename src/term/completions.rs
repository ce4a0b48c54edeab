//! Shell completion scripts (clap_complete), with the bash script repaired for a hyphenated
//! binary name, and `--target` completing the workspace's target names (the scripts ask
//! `tallyfy-groups complete-targets`). Builds the script in memory; the caller prints it.

use clap_complete::Shell;

/// The name the completions are registered for.
pub const BIN_NAME: &str = "tallyfy-groups";

/// The completion script for `shell`.
pub fn script(shell: Shell) -> Vec<u8> {
    let mut cmd = <crate::cli::Cli as clap::CommandFactory>::command();
    let mut buf = Vec::new();
    clap_complete::generate(shell, &mut cmd, BIN_NAME, &mut buf);
    let text = String::from_utf8_lossy(&buf);
    match shell {
        Shell::Bash => complete_targets_bash(&repair_bash(&text, BIN_NAME)).into_bytes(),
        Shell::Zsh => complete_targets_zsh(&text).into_bytes(),
        Shell::Fish => complete_targets_fish(&text).into_bytes(),
        _ => buf,
    }
}

/// The names of the workspace file's targets (`workspace`, or the one found from the current
/// folder upwards), one per line; nothing when there is none or it cannot be read (a completion
/// must never print an error into the command line).
pub fn target_names(workspace: Option<std::path::PathBuf>) -> String {
    let file = workspace.or_else(|| std::env::current_dir().ok().and_then(|cwd| tallyfy_groups_engine::workspace::find_upwards(&cwd)));
    let Some(file) = file else { return String::new() };
    match tallyfy_groups_engine::workspace::Selected::open(&file, &[]) {
        Ok(sel) => sel.workspace.targets.iter().map(|t| format!("{}\n", t.name)).collect(),
        Err(_) => String::new(),
    }
}

/// What the shells run to list the targets.
const LIST: &str = "tallyfy-groups complete-targets 2>/dev/null";

/// bash: `--target`'s value from the workspace's target names, not file names.
fn complete_targets_bash(script: &str) -> String {
    let mut out = String::with_capacity(script.len());
    let mut after_target = false;
    for line in script.split_inclusive('\n') {
        if after_target && line.trim() == "COMPREPLY=($(compgen -f \"${cur}\"))" {
            let indent = &line[..line.len() - line.trim_start().len()];
            out.push_str(&format!("{indent}COMPREPLY=($(compgen -W \"$({LIST})\" -- \"${{cur}}\"))\n"));
        } else {
            out.push_str(line);
        }
        after_target = line.trim() == "--target)";
    }
    out
}

/// zsh: `--target`'s value from the workspace's target names.
fn complete_targets_zsh(script: &str) -> String {
    script.replace(":NAME:_default' \\", &format!(":NAME:{{compadd -- ${{(f)\"$({LIST})\"}}}}' \\"))
}

/// fish: `--target`'s value from the workspace's target names (and no file names).
fn complete_targets_fish(script: &str) -> String {
    script
        .lines()
        .map(
            |line| {
                if line.contains(" -l target ") && line.ends_with(" -r") { format!("{line} -f -a \"({LIST})\"") } else { line.to_owned() }
            },
        )
        .collect::<Vec<_>>()
        .join("\n")
        + if script.ends_with('\n') { "\n" } else { "" }
}

/// clap_complete's bash generator (4.6) spells the state of a subcommand two ways when the binary
/// name has a hyphen: the loop that walks the words sets `cmd="tallyfy__groups__subcmd__plan"`,
/// but the arm that completes plan's options is labelled `tallyfy__subcmd__groups__subcmd__plan)`
/// (the hyphen escaped with the subcommand separator). No arm ever matches, so no option of a
/// subcommand completes (clap-rs/clap#6421). This relabels the arms the way the loop spells them.
fn repair_bash(script: &str, bin: &str) -> String {
    if !bin.contains('-') {
        return script.to_owned();
    }
    let wrong = bin.replace('-', "__subcmd__");
    let right = bin.replace('-', "__");
    script
        .lines()
        .map(|line| match line.trim_start().strip_prefix(&wrong) {
            // Only case-arm labels (`        tallyfy__subcmd__groups__subcmd__plan)`) change.
            Some(rest) if rest.ends_with(')') && !rest.contains(' ') => {
                let indent = &line[..line.len() - line.trim_start().len()];
                format!("{indent}{right}{rest}")
            }
            _ => line.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("\n")
        + if script.ends_with('\n') { "\n" } else { "" }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_state_the_bash_loop_sets_has_an_arm() {
        let text = String::from_utf8(script(Shell::Bash)).expect("UTF-8");
        let set: Vec<&str> = text
            .lines()
            .filter_map(|l| l.trim().strip_prefix("cmd=\""))
            .filter_map(|l| l.strip_suffix('"'))
            .filter(|s| !s.is_empty())
            .collect();
        assert!(set.contains(&"tallyfy__groups__subcmd__plan"), "{set:?}");
        for state in &set {
            assert!(text.lines().any(|l| l.trim() == format!("{state})")), "no arm for state {state}");
        }
        assert!(!text.contains("tallyfy__subcmd__groups"), "a mislabelled arm is left");
    }

    #[test]
    fn repair_leaves_other_lines_and_unhyphenated_names_alone() {
        let script = "    tallyfy__subcmd__groups__subcmd__plan)\n        opts=\"tallyfy__subcmd__groups x\"\n";
        assert_eq!(
            repair_bash(script, "tallyfy-groups"),
            "    tallyfy__groups__subcmd__plan)\n        opts=\"tallyfy__subcmd__groups x\"\n"
        );
        assert_eq!(repair_bash(script, "tallyfy"), script);
    }
}
