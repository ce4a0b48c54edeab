//! The plan as a pull-request comment: summary and counts first, a warning banner when anyone
//! loses access, one collapsible `<details>` per changed group, capped below GitHub's comment
//! limit with an explicit truncation note. Pure; no I/O.

use std::fmt::Write;

use super::{description_diff, plural};
use crate::names::visible as v;
use crate::plan::{Action, MembershipChange, Origin, Plan};

/// GitHub rejects comments over 65,536 characters; stay well below it.
pub const MAX_CHARS: usize = 60_000;

/// First line of every rendering: lets a pipeline find and update its own comment.
pub const MARKER: &str = "<!-- tallyfy-groups plan -->";

/// Renders the plan as GitHub-flavoured markdown.
pub fn render_plan(plan: &Plan) -> String {
    render_plan_capped(plan, MAX_CHARS)
}

/// Renders with an explicit size cap (in characters).
pub fn render_plan_capped(plan: &Plan, cap: usize) -> String {
    let s = &plan.summary;
    let mut head = String::new();
    let _ = writeln!(head, "{MARKER}");
    if plan.is_empty() {
        let _ = writeln!(head, "### Tallyfy groups: no changes");
        let _ = writeln!(head);
        let target = super::target_name(plan);
        let mut target_chars = target.chars();
        let target: String = target_chars.next().map(|f| f.to_uppercase().chain(target_chars).collect()).unwrap_or_default();
        let _ = writeln!(
            head,
            "{} matches {} ({} unchanged).",
            escape(&target),
            escape(&super::sources_name(plan)),
            plural(s.unchanged, "group", "groups")
        );
    } else {
        let _ = writeln!(head, "### Tallyfy groups plan: {} to create, {} to update, {} to delete", s.create, s.update, s.delete);
        let _ = writeln!(head);
        let (gain, lose) = access_counts(plan);
        let _ = writeln!(
            head,
            "| create | update | delete | guests to invite | unchanged | API calls | memberships added | memberships removed |"
        );
        let _ = writeln!(head, "|---:|---:|---:|---:|---:|---:|---:|---:|");
        let _ = writeln!(
            head,
            "| {} | {} | {} | {} | {} | {} | {gain} | {lose} |",
            s.create, s.update, s.delete, s.guests_to_invite, s.unchanged, s.api_calls
        );
        if s.delete > 0 || lose > 0 {
            let _ = writeln!(head);
            let _ = writeln!(head, "> [!WARNING]");
            let mut parts = Vec::new();
            if s.delete > 0 {
                parts.push(format!("deletes {}", plural(s.delete, "group", "groups")));
            }
            if lose > 0 {
                parts.push(format!("removes {}: people lose access", plural(lose, "membership", "memberships")));
            }
            let _ = writeln!(head, "> This plan {}.", parts.join(" and "));
        }
    }
    if plan.guard.is_tripped() {
        let _ = writeln!(head);
        let _ = writeln!(head, "> [!CAUTION]");
        match &plan.guard.allowed {
            Some(reason) => {
                let _ = writeln!(head, "> **Removal guard tripped**, overridden with `--allow-removals`: {}", escape(reason));
            }
            None => {
                let _ = writeln!(head, "> **Removal guard tripped**: apply will refuse unless run with `--allow-removals \"reason\"`.");
            }
        }
        for t in &plan.guard.tripped {
            let _ = writeln!(head, "> - {}", escape(&v(&super::words::guard_trip(t))));
        }
    }
    let mut tail = String::new();
    if !plan.unmanaged.is_empty() {
        let _ = writeln!(tail);
        let _ = writeln!(
            tail,
            "**Not managed:** {} in {} not in {}, left alone (prune is off): {}",
            plural(plan.unmanaged.len(), "group", "groups"),
            escape(&super::target_name(plan)),
            escape(&super::sources_name(plan)),
            plan.unmanaged.iter().take(20).map(|n| format!("`{}`", code(&v(n)))).collect::<Vec<_>>().join(", ")
                + if plan.unmanaged.len() > 20 { ", …" } else { "" }
        );
    }
    if !plan.unmanageable.is_empty() {
        let _ = writeln!(tail);
        let _ = writeln!(
            tail,
            "**Cannot be managed:** {} in Tallyfy, listed here but never deleted, renamed or adopted: {}",
            plural(plan.unmanageable.len(), "group", "groups"),
            plan.unmanageable
                .iter()
                .take(20)
                .map(|g| format!("`{}` (id `{}`: {})", code(&g.name), code(&g.id.0), g.why))
                .collect::<Vec<_>>()
                .join(", ")
                + if plan.unmanageable.len() > 20 { ", …" } else { "" }
        );
    }
    if !plan.ignored.is_empty() {
        let _ = writeln!(tail);
        let _ = writeln!(tail, "**Ignored:** {} matching `ignore`.", plural(plan.ignored.len(), "group", "groups"));
    }
    if !plan.warnings.is_empty() {
        let _ = writeln!(tail);
        let _ = writeln!(tail, "**Warnings:**");
        for w in super::words::warnings(&plan.warnings) {
            let _ = writeln!(tail, "- {}", escape(&v(&w)));
        }
    }

    let mut body = String::new();
    let origins_shown = !plan.origins.is_empty();
    let sections: Vec<(Option<Origin>, Vec<usize>)> = if origins_shown {
        let pick = |o: Origin| (0..plan.actions.len()).filter(|&i| plan.origins.get(i) == Some(&o)).collect::<Vec<_>>();
        vec![
            (Some(Origin::Introduced), pick(Origin::Introduced)),
            (Some(Origin::DriftAndIntroduced), pick(Origin::DriftAndIntroduced)),
            (Some(Origin::Drift), pick(Origin::Drift)),
        ]
    } else {
        vec![(None, (0..plan.actions.len()).collect())]
    };
    let reserve = 400;
    let mut shown = 0;
    let mut truncated = false;
    'outer: for (origin, indices) in &sections {
        if indices.is_empty() {
            continue;
        }
        let mut section = String::new();
        if let Some(o) = origin {
            let title = match o {
                Origin::Introduced => "Changes introduced by this pull request",
                Origin::DriftAndIntroduced => "Drifted groups this pull request changes further",
                Origin::Drift => "Existing drift (the target branch would make these changes too)",
            };
            let _ = writeln!(section, "\n#### {title} ({})\n", indices.len());
        } else {
            section.push('\n');
        }
        if head.len() + body.len() + section.len() + tail.len() + reserve > cap {
            truncated = true;
            break;
        }
        body.push_str(&section);
        for &i in indices {
            let block = details(plan, &plan.actions[i]);
            if head.len() + body.len() + block.len() + tail.len() + reserve > cap {
                truncated = true;
                break 'outer;
            }
            body.push_str(&block);
            shown += 1;
        }
    }
    let mut out = head;
    out.push_str(&body);
    if truncated {
        let hidden = plan.actions.len() - shown;
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "> [!NOTE]\n> **Truncated:** {} not shown to stay under GitHub's comment size limit. \
             The counts above are complete. For the full plan run `tallyfy-groups plan --format text` \
             (or `--format json`), or see the plan artifact of this pipeline run.",
            plural(hidden, "more change is", "more changes are")
        );
    }
    out.push_str(&tail);
    out
}

/// (memberships added, memberships removed) across the plan.
/// Memberships (members and guests) the plan adds and removes.
pub fn access_counts(plan: &Plan) -> (usize, usize) {
    let mut gain = 0;
    let mut lose = 0;
    for a in &plan.actions {
        let c = match a {
            Action::CreateGroup { after } => MembershipChange::between(None, Some(after)),
            Action::UpdateGroup { before, after, .. } => MembershipChange::between(Some(before), Some(after)),
            Action::DeleteGroup { before, .. } => MembershipChange::between(Some(before), None),
            Action::CreateGuest { .. } => continue,
        };
        gain += c.members_added.len() + c.guests_added.len();
        lose += c.removed();
    }
    (gain, lose)
}

fn details(plan: &Plan, action: &Action) -> String {
    let mut diff = String::new();
    let (summary, change) = match action {
        Action::CreateGuest { email, first_name, last_name } => {
            let _ = writeln!(diff, "+ invite guest {} ({} {})", v(email.as_str()), v(first_name), v(last_name));
            (format!("<code>+ invite</code> guest {}", html(&v(email.as_str()))), None)
        }
        Action::CreateGroup { after } => {
            let _ = writeln!(diff, "+ create group \"{}\"", v(&after.name));
            let _ = writeln!(diff, "+   description:");
            for line in after.description.lines() {
                let _ = writeln!(diff, "+     {}", v(line));
            }
            (format!("<code>+ create</code> <b>{}</b>", html(&v(&after.name))), Some(MembershipChange::between(None, Some(after))))
        }
        Action::UpdateGroup { before, after, renamed_from, .. } => {
            let verb = match renamed_from {
                Some(old) => {
                    let _ = writeln!(diff, "! rename group \"{}\" → \"{}\"", v(old), v(&after.name));
                    format!("<code>→ rename</code> <b>{}</b> → <b>{}</b>", html(&v(old)), html(&v(&after.name)))
                }
                None => {
                    let _ = writeln!(diff, "! update group \"{}\"", v(&after.name));
                    format!("<code>~ update</code> <b>{}</b>", html(&v(&after.name)))
                }
            };
            if before.description != after.description {
                let _ = writeln!(diff, "    description:");
                for (tag, line) in description_diff(&before.description, &after.description) {
                    let _ = writeln!(diff, "{tag}     {}", v(&line));
                }
            }
            (verb, Some(MembershipChange::between(Some(before), Some(after))))
        }
        Action::DeleteGroup { before, .. } => {
            let _ = writeln!(diff, "- delete group \"{}\"", v(&before.name));
            (format!("<code>- delete</code> <b>{}</b>", html(&v(&before.name))), Some(MembershipChange::between(Some(before), None)))
        }
    };
    let mut counts = String::new();
    if let Some(c) = &change {
        for id in &c.members_added {
            let _ = writeln!(diff, "+ member {}", v(&plan.describe_user(*id)));
        }
        for id in &c.members_removed {
            let _ = writeln!(diff, "- member {}", v(&plan.describe_user(*id)));
        }
        for e in &c.guests_added {
            let _ = writeln!(diff, "+ guest {}", v(e.as_str()));
        }
        for e in &c.guests_removed {
            let _ = writeln!(diff, "- guest {}", v(e.as_str()));
        }
        if let Some(kept) = super::unchanged_counts(c) {
            let _ = writeln!(diff, "  {kept}");
        }
        if let Some(change) = super::change_counts(c) {
            counts = format!(" ({})", html(&change));
        }
    }
    let fence = fence_for(&diff);
    format!("<details><summary>{summary}{counts}</summary>\n\n{fence}diff\n{diff}{fence}\n\n</details>\n")
}

/// A code fence longer than any backtick run in the text.
fn fence_for(text: &str) -> String {
    let mut longest = 0;
    let mut run = 0;
    for c in text.chars() {
        if c == '`' {
            run += 1;
            longest = longest.max(run);
        } else {
            run = 0;
        }
    }
    "`".repeat((longest + 1).max(3))
}

/// Escapes text for HTML inside `<summary>`.
fn html(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// Escapes markdown-significant characters in running text.
fn escape(s: &str) -> String {
    html(s).replace('*', "\\*").replace('_', "\\_").replace('`', "\\`").replace('|', "\\|")
}

/// Text inside an inline code span (backticks replaced).
fn code(s: &str) -> String {
    s.replace('`', "'")
}
