//! Shell completion scripts (clap_complete), with the bash script repaired for a hyphenated
//! binary name. Pure: builds the script in memory; the caller prints it.

use clap_complete::Shell;

/// The name the completions are registered for.
pub const BIN_NAME: &str = "tallyfy-groups";

/// The completion script for `shell`.
pub fn script(shell: Shell) -> Vec<u8> {
    let mut cmd = <crate::cli::Cli as clap::CommandFactory>::command();
    let mut buf = Vec::new();
    clap_complete::generate(shell, &mut cmd, BIN_NAME, &mut buf);
    match shell {
        Shell::Bash => repair_bash(&String::from_utf8_lossy(&buf), BIN_NAME).into_bytes(),
        _ => buf,
    }
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
