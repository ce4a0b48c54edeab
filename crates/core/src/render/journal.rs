//! `journal show`: the journal's entries as text (who changed what, when, from which commit) or
//! as JSON lines. Reads only the entries; returns strings. Pure; no I/O.

use crate::journal::{Entry, EntryResult};
use crate::names::visible;

use super::words;

/// One block per entry: its header line (when, outcome, where, who, from which commit), why it
/// was refused or failed, and one line per result.
pub fn render_text(entries: &[Entry]) -> String {
    let mut out = String::new();
    for e in entries {
        out.push_str(&header(e));
        out.push('\n');
        if let Some(reason) = &e.reason {
            out.push_str(&format!("  refused: {}\n", first_line(reason)));
        }
        if let Some(error) = &e.error {
            out.push_str(&format!("  error: {}\n", first_line(error)));
        }
        if !e.policy_overrides.is_empty() {
            let rules: Vec<String> = e.policy_overrides.iter().map(|o| format!("{} ({})", visible(&o.rule), visible(&o.reason))).collect();
            out.push_str(&format!("  policy overridden: {}\n", rules.join(", ")));
        }
        if let Some(reason) = &e.allow_removals {
            out.push_str(&format!("  removal guard overridden: {}\n", visible(reason)));
        }
        for r in &e.results {
            out.push_str(&format!("  {}\n", result_line(r)));
        }
    }
    if entries.is_empty() {
        out.push_str("No entries.\n");
    }
    out
}

/// The entries as JSON lines (without their `prev_sha256` chain, which only the file proves).
pub fn render_json(entries: &[Entry]) -> String {
    entries.iter().map(|e| serde_json::to_string(e).map(|l| l + "\n").unwrap_or_default()).collect()
}

/// `2026-03-05T09:41:07Z applied target prod (organization 1234) by alice from acme/groups@abc1234 (refs/heads/main)`.
fn header(e: &Entry) -> String {
    let target = match (&e.target.name, &e.target.organization) {
        (Some(name), Some(org)) => format!("target {} (organization {})", visible(name), visible(org)),
        (Some(name), None) => format!("target {}", visible(name)),
        (None, Some(org)) => format!("organization {}", visible(org)),
        (None, None) => "no target".to_string(),
    };
    let actor = e.actor.as_deref().map_or_else(|| "an unknown actor".to_string(), |a| visible(a).into_owned());
    let mut from = String::new();
    if e.git.repo.is_some() || e.git.commit.is_some() {
        let repo = e.git.repo.as_deref().map(visible).unwrap_or_default();
        let commit: String = e.git.commit.as_deref().map(|c| c.chars().take(12).collect()).unwrap_or_default();
        from = match (repo.is_empty(), commit.is_empty()) {
            (false, false) => format!(" from {repo}@{}", visible(&commit)),
            (false, true) => format!(" from {repo}"),
            _ => format!(" from commit {}", visible(&commit)),
        };
        if let Some(r) = &e.git.git_ref {
            from.push_str(&format!(" ({})", visible(r)));
        }
    }
    format!("{} {} {target} by {actor}{from}", e.started_at, e.outcome.as_str())
}

/// `update group "Ops": +bob@x.example -carol@x.example` (and how it ended, unless applied).
fn result_line(r: &EntryResult) -> String {
    let subject = match (&r.group, &r.guest) {
        (Some(group), _) => format!("group \"{}\"", visible(group)),
        (None, Some(guest)) => format!("guest {}", visible(guest)),
        (None, None) => "?".to_string(),
    };
    let mut line = format!("{} {subject}", words::verb(r.action));
    if let Some(old) = &r.renamed_from {
        line.push_str(&format!(" (renamed from \"{}\")", visible(old)));
    }
    let people: Vec<String> =
        r.added.iter().map(|a| format!("+{}", visible(a))).chain(r.removed.iter().map(|a| format!("-{}", visible(a)))).collect();
    if !people.is_empty() {
        line.push_str(&format!(": {}", people.join(" ")));
    }
    if r.status != "applied" {
        line.push_str(&format!(" [{}", r.status));
        if let Some(error) = &r.error {
            line.push_str(&format!(": {}", first_line(error)));
        }
        line.push(']');
    }
    line
}

fn first_line(text: &str) -> String {
    visible(text.lines().next().unwrap_or_default()).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::{GitRef, RunOutcome, TargetRef};
    use crate::plan::ActionKind;

    #[test]
    fn an_entry_reads_as_who_changed_what_from_which_commit() {
        let e = Entry {
            format_version: 1,
            prev_sha256: String::new(),
            run_id: "r".into(),
            started_at: "2026-03-05T09:41:07Z".into(),
            finished_at: "2026-03-05T09:41:09Z".into(),
            tool_version: "1.0.0".into(),
            target: TargetRef { name: Some("prod".into()), organization: Some("1234".into()) },
            git: GitRef {
                repo: Some("acme/groups".into()),
                git_ref: Some("refs/heads/main".into()),
                commit: Some("abcdef0123456789".into()),
            },
            actor: Some("alice".into()),
            plan_checksum: None,
            allow_removals: None,
            policy_overrides: Vec::new(),
            summary: None,
            outcome: RunOutcome::Applied,
            reason: None,
            error: None,
            results: vec![EntryResult {
                action: ActionKind::UpdateGroup,
                group: Some("Ops".into()),
                group_id: None,
                renamed_from: None,
                guest: None,
                added: vec!["bob@x.example".into()],
                removed: vec!["carol@x.example".into()],
                status: "applied".into(),
                error: None,
            }],
        };
        assert_eq!(
            render_text(&[e]),
            "2026-03-05T09:41:07Z applied target prod (organization 1234) by alice from acme/groups@abcdef012345 (refs/heads/main)\n  update group \"Ops\": +bob@x.example -carol@x.example\n"
        );
        assert_eq!(render_text(&[]), "No entries.\n");
    }
}
