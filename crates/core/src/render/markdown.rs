//! The plan as a pull-request comment: summary and counts first, a warning banner when anyone
//! loses access, one collapsible `<details>` per changed group, capped below GitHub's comment
//! limit with an explicit truncation note. For a workspace, one comment covers every target: a
//! table across targets, then one `<details>` per target holding its plan. Pure; no I/O.

use std::fmt::Write;

use super::{TargetStatus, TargetView, description_diff, plural};
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
    let mut out = format!("{MARKER}\n");
    out.push_str(&body(plan, cap.saturating_sub(out.len()), 3, None));
    out
}

/// One organization's plan says where it writes under its heading (a workspace's targets say it
/// in theirs).
fn where_line(head: &mut String, plan: &Plan, target: Option<&str>) {
    if target.is_none() {
        let _ = writeln!(head, "{}", escape(&super::where_it_writes(plan)));
        let _ = writeln!(head);
    }
}

/// A plan's rendering without the marker, its headings at `level` (`###` for 3), capped at
/// `cap`: the summary and counts, the banners, a `<details>` per change while they fit (then
/// the truncation note), and the groups not managed. `target`: the workspace target the plan
/// belongs to (the guard's hint then overrides that target only).
fn body(plan: &Plan, cap: usize, level: usize, target: Option<&str>) -> String {
    let s = &plan.summary;
    let hashes = "#".repeat(level);
    let mut head = String::new();
    if plan.is_empty() {
        let _ = writeln!(head, "{hashes} Tallyfy groups: no changes");
        let _ = writeln!(head);
        where_line(&mut head, plan, target);
        policy_block(&mut head, plan, target);
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
        let _ = writeln!(head);
        let _ = writeln!(head, "{}", escape(&super::scope_line(plan)));
        if let Some(line) = super::policy_kept_line(plan) {
            let _ = writeln!(head, "\n{}", escape(&line));
        }
    } else {
        let _ = writeln!(head, "{hashes} Tallyfy groups plan: {} to create, {} to update, {} to delete", s.create, s.update, s.delete);
        let _ = writeln!(head);
        where_line(&mut head, plan, target);
        policy_block(&mut head, plan, target);
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
        let _ = writeln!(head);
        let _ = writeln!(head, "{}", escape(&super::scope_line(plan)));
        if let Some(line) = super::policy_kept_line(plan) {
            let _ = writeln!(head, "\n{}", escape(&line));
        }
        if s.usage_reads > 0 {
            let _ = writeln!(head);
            let _ = writeln!(
                head,
                "Where groups are used was read with {}; apply reads it again.",
                plural(s.usage_reads, "request", "requests")
            );
        }
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
                let name = target.map(|t| format!("{}=", code(t))).unwrap_or_default();
                let _ =
                    writeln!(head, "> **Removal guard tripped**: apply will refuse unless run with `--allow-removals {name}\"reason\"`.");
            }
        }
        for t in &plan.guard.tripped {
            let _ = writeln!(head, "> - {}", escape(&v(&super::words::guard_trip(t))));
        }
    }
    let e = &plan.expiry;
    for (title, lines) in [
        ("Expired", e.expired.iter().map(super::words::expired).collect::<Vec<_>>()),
        ("Expiring soon", e.expiring.iter().map(super::words::expiring).collect()),
        ("Reviews overdue", e.overdue_reviews.iter().map(super::words::overdue_review).collect()),
    ] {
        if lines.is_empty() {
            continue;
        }
        let _ = writeln!(head);
        let _ = writeln!(head, "**{title}** (as of {}):", e.evaluated_at);
        for line in lines {
            let _ = writeln!(head, "- {}", escape(&v(&line)));
        }
    }
    let mut tail = String::new();
    if !plan.unmanaged.is_empty() {
        let _ = writeln!(tail);
        let _ = writeln!(
            tail,
            "**Not managed:** {} in {} not in {}, left alone ({}): {}",
            plural(plan.unmanaged.len(), "group", "groups"),
            escape(&super::target_name(plan)),
            escape(&super::sources_name(plan)),
            super::unmanaged_reason(plan),
            plan.unmanaged.iter().take(20).map(|n| format!("`{}`", code(&v(n)))).collect::<Vec<_>>().join(", ")
                + if plan.unmanaged.len() > 20 { ", …" } else { "" }
        );
    }
    if !plan.same_name.is_empty() {
        let _ = writeln!(tail);
        let _ = writeln!(
            tail,
            "**Same name:** {} in {}, left alone, never renamed, updated or pruned: another live group has the same name and is the one matched: {}",
            plural(plan.same_name.len(), "group", "groups"),
            escape(&super::target_name(plan)),
            plan.same_name
                .iter()
                .take(20)
                .map(|g| format!(
                    "`{}` (id `{}`) shares its name with `{}` (id `{}`)",
                    code(&v(&g.name)),
                    code(&v(&g.id.0)),
                    code(&v(&g.matched)),
                    code(&v(&g.matched_id.0))
                ))
                .collect::<Vec<_>>()
                .join(", ")
                + if plan.same_name.len() > 20 { ", …" } else { "" }
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
    if !plan.external.is_empty() {
        let _ = writeln!(tail);
        let _ = writeln!(
            tail,
            "**External** (managed elsewhere, never written): {}",
            plan.external.iter().map(|n| format!("`{}`", code(&v(n)))).collect::<Vec<_>>().join(", ")
        );
    }
    if !plan.ignored.is_empty() {
        let _ = writeln!(tail);
        let _ = writeln!(tail, "**Ignored:** {} matching `ignore`.", plural(plan.ignored.len(), "group", "groups"));
    }
    if !plan.warnings.is_empty() {
        let _ = writeln!(tail);
        let _ = writeln!(tail, "**Warnings:**");
        for lines in super::words::warnings_as_lines(&plan.warnings) {
            let lines: Vec<String> = lines.iter().map(|l| escape(&v(l))).collect();
            let _ = writeln!(tail, "- {}", lines.join("<br>\n  "));
        }
    }
    if let Some(line) = super::reviewers_line(plan) {
        let _ = writeln!(tail);
        let _ = writeln!(tail, "**{}**", escape(&v(&line)));
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
            let _ = writeln!(section, "\n{hashes}# {title} ({})\n", indices.len());
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
        let _ = writeln!(out);
        out.push_str(&truncation_note(plan.actions.len() - shown));
    }
    out.push_str(&tail);
    out
}

/// The note that says how many changes a capped rendering leaves out.
/// The policy's violations, first thing after the heading: a caution while one stops the plan,
/// a note when every one is overridden.
fn policy_block(head: &mut String, plan: &Plan, target: Option<&str>) {
    let Some(report) = plan.policy.as_ref().filter(|r| !r.violations.is_empty()) else { return };
    let blocking = report.blocking().next().is_some();
    let _ = writeln!(head, "> [!{}]", if blocking { "CAUTION" } else { "NOTE" });
    let _ = writeln!(head, "> **{}**", escape(&v(&super::policy_heading(report, target))));
    for violation in &report.violations {
        let mark = if violation.overridden { " (overridden)" } else { "" };
        let place = violation.at.as_deref().map(|a| format!(" — `{}`", code(&v(a)))).unwrap_or_default();
        let _ = writeln!(head, "> - `{}`: {}{place}{mark}", code(&violation.rule), escape(&v(&super::words::policy_violation(violation))));
    }
    for o in &report.overrides {
        let _ = writeln!(head, "> - overridden: `{}`: {}", code(&o.rule), escape(&v(&o.reason)));
    }
    let _ = writeln!(head);
}

fn truncation_note(hidden: usize) -> String {
    format!(
        "> [!NOTE]\n> **Truncated:** {} not shown to stay under GitHub's comment size limit. \
         The counts above are complete. For the full plan run `tallyfy-groups plan --format text` \
         (or `--format json`), or see the plan artifact of this pipeline run.\n",
        plural(hidden, "more change is", "more changes are")
    )
}

/// Renders the plans of several targets (a workspace run) as one comment, capped at
/// [`MAX_CHARS`].
pub fn render_targets(targets: &[TargetView<'_>]) -> String {
    render_targets_capped(targets, MAX_CHARS)
}

/// Renders the plans of several targets with an explicit size cap (in characters): the marker,
/// a heading, a table across targets (never cut), the warning and caution banners naming the
/// targets, then one `<details>` per target (open when it has changes or a problem) holding
/// its plan as [`render_plan`] shows it (headings one level lower) or its error. What is left
/// of the cap after the table is shared fairly: each target gets at least an equal share, and
/// a share a target does not need goes to the others; a plan cut to its share ends with the
/// truncation note.
pub fn render_targets_capped(targets: &[TargetView<'_>], cap: usize) -> String {
    let mut head = String::new();
    let _ = writeln!(head, "{MARKER}");
    let statuses: Vec<TargetStatus> = targets.iter().map(TargetStatus::of).collect();
    let count = |wanted: &[TargetStatus]| statuses.iter().filter(|s| wanted.contains(s)).count();
    let mut parts = vec![plural(targets.len(), "target", "targets")];
    for (n, words) in [
        (count(&[TargetStatus::Changes]), "with changes"),
        (count(&[TargetStatus::NoChanges]), "without changes"),
        (count(&[TargetStatus::Refused, TargetStatus::RefusedByGuard]), "refused"),
        (count(&[TargetStatus::Failed]), "failed"),
        (count(&[TargetStatus::Interrupted]), "interrupted"),
    ] {
        if n > 0 {
            parts.push(format!("{n} {words}"));
        }
    }
    let _ = writeln!(head, "### Tallyfy groups plan: {}", parts.join(", "));
    let _ = writeln!(head);
    let _ = writeln!(head, "| target | organization | create | update | delete | memberships added | memberships removed | status |");
    let _ = writeln!(head, "|---|---|---:|---:|---:|---:|---:|---|");
    // (target without changes, row): with hundreds of targets, those without changes are
    // counted in one row instead, so the table leaves room for the plans.
    let mut rows: Vec<(bool, String)> = Vec::new();
    let mut warnings = Vec::new();
    let mut cautions = Vec::new();
    for (t, status) in targets.iter().zip(&statuses) {
        let name = format!("**{}**", escape(t.name));
        let words = status.words().map(|w| if status.is_problem() { format!("**{w}**") } else { w.to_string() });
        match t.plan {
            Ok(plan) => {
                let s = &plan.summary;
                let (gain, lose) = access_counts(plan);
                let words = words.unwrap_or_else(|| "changes".to_string());
                let row = format!(
                    "| {name} | {} | {} | {} | {} | {gain} | {lose} | {words} |\n",
                    organization(plan),
                    s.create,
                    s.update,
                    s.delete
                );
                rows.push((*status == TargetStatus::NoChanges, row));
                let mut loses = Vec::new();
                if s.delete > 0 {
                    loses.push(format!("deletes {}", plural(s.delete, "group", "groups")));
                }
                if lose > 0 {
                    loses.push(format!("removes {}", plural(lose, "membership", "memberships")));
                }
                if !loses.is_empty() {
                    warnings.push(format!("{name} {}: people lose access.", loses.join(" and ")));
                }
                if let Some(report) = plan.policy.as_ref().filter(|r| r.blocking().next().is_some()) {
                    cautions.push(format!(
                        "{name}: **policy violated**: {}; apply will refuse unless the files change or run with `--allow-policy RULE=\"why\"`.",
                        escape(&v(&super::words::policy_trips(report)))
                    ));
                }
                if plan.guard.is_tripped() {
                    cautions.push(match &plan.guard.allowed {
                        Some(reason) => {
                            format!("{name}: **removal guard tripped**, overridden with `--allow-removals`: {}", escape(reason))
                        }
                        None => format!(
                            "{name}: **removal guard tripped**: apply will refuse unless run with `--allow-removals {}=\"reason\"`.",
                            code(t.name)
                        ),
                    });
                }
            }
            Err(_) => {
                let words = words.unwrap_or_else(|| "**failed**".to_string());
                rows.push((false, format!("| {name} | — | — | — | — | — | — | {words} |\n")));
            }
        }
        match (t.plan, status.words()) {
            (Err(_), words) => {
                cautions.push(format!("{name} has no plan ({}): what it would change is not shown.", words.unwrap_or("failed")))
            }
            (Ok(_), Some(words)) if matches!(status, TargetStatus::Failed | TargetStatus::Interrupted) => {
                cautions.push(format!("{name}: **{words}** (see its plan below)."));
            }
            _ => {}
        }
    }
    let quiet = rows.iter().filter(|(q, _)| *q).count();
    let all_rows: usize = rows.iter().map(|(_, r)| r.len()).sum();
    if quiet > 1 && head.len() + all_rows > cap / 3 {
        for (_, row) in rows.iter().filter(|(q, _)| !*q) {
            head.push_str(row);
        }
        let _ = writeln!(
            head,
            "| *{}* | | 0 | 0 | 0 | 0 | 0 | no changes |",
            plural(quiet, "target without changes", "targets without changes")
        );
    } else {
        for (_, row) in &rows {
            head.push_str(row);
        }
    }
    for (kind, lines) in [("WARNING", &warnings), ("CAUTION", &cautions)] {
        if !lines.is_empty() {
            let _ = writeln!(head);
            let _ = writeln!(head, "> [!{kind}]");
            for line in lines {
                let _ = writeln!(head, "> - {line}");
            }
        }
    }

    // Each target's section: its `<details>` around the whole body; a body larger than its
    // share is rendered again within it.
    let opens: Vec<String> = targets
        .iter()
        .zip(&statuses)
        .map(|(t, status)| {
            let what = match t.plan {
                Ok(plan) => format!(" · {}: {}", html(&super::target_name(plan)), html(&super::target_outcome(t))),
                Err(_) => format!(": {}", html(&super::target_outcome(t))),
            };
            let open = if *status == TargetStatus::NoChanges { "" } else { " open" };
            format!("\n<details{open}><summary><b>{}</b>{what}</summary>\n\n", html(&v(t.name)))
        })
        .collect();
    const CLOSE: &str = "\n</details>\n";
    // When the sections' frames alone would take more than half of the room, sections are left
    // out: first those of targets without changes, then the last ones; a note names them.
    const NOTE_ROOM: usize = 400;
    let room = cap.saturating_sub(head.len() + NOTE_ROOM);
    let frame_of = |i: usize| opens[i].len() + CLOSE.len();
    let mut shown = vec![true; targets.len()];
    let mut frame: usize = (0..targets.len()).map(frame_of).sum();
    let drop_order = (0..targets.len())
        .rev()
        .filter(|&i| statuses[i] == TargetStatus::NoChanges)
        .chain((0..targets.len()).rev().filter(|&i| statuses[i] != TargetStatus::NoChanges));
    for i in drop_order {
        if frame <= room / 2 {
            break;
        }
        shown[i] = false;
        frame -= frame_of(i);
    }
    let left_out: Vec<&str> = targets.iter().zip(&shown).filter(|(_, s)| !**s).map(|(t, _)| t.name).collect();
    let note = if left_out.is_empty() {
        String::new()
    } else {
        let mut names = String::new();
        for (i, name) in left_out.iter().enumerate() {
            let more = format!(", and {} more", left_out.len() - i);
            if names.len() + name.len() + more.len() > NOTE_ROOM - 150 {
                names.push_str(&more);
                break;
            }
            if i > 0 {
                names.push_str(", ");
            }
            names.push_str(&v(name));
        }
        format!(
            "\n*{} not shown here, to stay under the comment size limit (the table above has their counts; the job's log and `--format json` have every plan): {}.*\n",
            plural(left_out.len(), "target's plan is", "targets' plans are"),
            escape(&names)
        )
    };
    let full: Vec<String> = targets.iter().zip(&shown).map(|(t, s)| if *s { section_body(t, usize::MAX) } else { String::new() }).collect();
    let shares = fair_shares(&full.iter().map(String::len).collect::<Vec<_>>(), cap.saturating_sub(head.len() + frame + note.len()));
    let mut out = head;
    for (((t, open), (full, share)), show) in targets.iter().zip(&opens).zip(full.into_iter().zip(shares)).zip(&shown) {
        if !*show {
            continue;
        }
        out.push_str(open);
        if full.len() <= share {
            out.push_str(&full);
        } else {
            out.push_str(&section_body(t, share));
        }
        out.push_str(CLOSE);
    }
    out.push_str(&note);
    out
}

/// What a target's `<details>` holds, at most `cap` long (or empty when not even the
/// truncation note fits): its plan, or its error.
fn section_body(t: &TargetView<'_>, cap: usize) -> String {
    let text = match t.plan {
        Ok(plan) => {
            let text = body(plan, cap, 4, Some(t.name));
            if text.len() <= cap { text } else { truncation_note(plan.actions.len()) }
        }
        Err(message) => {
            let lines: Vec<String> = message.lines().map(|l| v(l).into_owned()).collect();
            let fence = fence_for(&lines.join("\n"));
            let mut text = format!("{fence}\n");
            let end = |more: usize| {
                if more > 0 { format!("… {}\n{fence}\n", plural(more, "more line", "more lines")) } else { format!("{fence}\n") }
            };
            for (i, line) in lines.iter().enumerate() {
                if text.len() + line.len() + 1 + end(lines.len() - i).len() > cap {
                    text.push_str(&end(lines.len() - i));
                    return if text.len() <= cap { text } else { String::new() };
                }
                text.push_str(line);
                text.push('\n');
            }
            text.push_str(&end(0));
            text
        }
    };
    if text.len() <= cap { text } else { String::new() }
}

/// Shares of `budget` for parts of the given sizes: each gets what it needs up to an equal
/// share of what is left, so a small part never loses room to a large one and room a part
/// does not need goes to the others.
fn fair_shares(sizes: &[usize], budget: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..sizes.len()).collect();
    order.sort_by_key(|&i| sizes[i]);
    let mut shares = vec![0; sizes.len()];
    let mut left = budget;
    for (k, i) in order.into_iter().enumerate() {
        let equal = left / (sizes.len() - k);
        shares[i] = sizes[i].min(equal);
        left -= shares[i];
    }
    shares
}

/// The organization cell of the targets table.
fn organization(plan: &Plan) -> String {
    let org = format!("`{}`", code(&v(&plan.target.org.0)));
    if plan.target.api_url.starts_with("sandbox:") { format!("sandbox {org}") } else { org }
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
            if let Some(kept) = super::kept_line(plan, &after.name) {
                let _ = writeln!(diff, "  {}", v(&kept));
            }
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
    let mut flag = String::new();
    if let Some((warn, words)) = super::usage_note(plan, action) {
        let _ = writeln!(diff, "{} {}", if warn { "! ⚠" } else { " " }, v(&words));
        if plan.usage.not_checked(action) {
            flag = " ⚠ <i>usage not checked</i>".to_string();
        } else if crate::usage::needs_check(action, plan.usage.check).and_then(|id| plan.usage.of(id)).is_some_and(|u| u.in_use()) {
            flag = " ⚠ <b>in use</b>".to_string();
        }
    }
    let prov = super::provenance_of(plan, action);
    if let Some(c) = &change {
        let member_from = |id: &crate::model::UserId| prov.map(|g| super::origins_suffix(g.member(*id))).unwrap_or_default();
        let guest_from = |e: &crate::model::Email| prov.map(|g| super::origins_suffix(g.guest(e))).unwrap_or_default();
        for id in &c.members_added {
            let _ = writeln!(diff, "+ member {}{}", v(&plan.describe_user(*id)), v(&member_from(id)));
        }
        for id in &c.members_removed {
            let _ = writeln!(diff, "- member {}{}", v(&plan.describe_user(*id)), v(&super::expired_member_suffix(plan, action, *id)));
        }
        for e in &c.guests_added {
            let _ = writeln!(diff, "+ guest {}{}", v(e.as_str()), v(&guest_from(e)));
        }
        for e in &c.guests_removed {
            let _ = writeln!(diff, "- guest {}{}", v(e.as_str()), v(&super::expired_guest_suffix(plan, action, e)));
        }
        if let Some(kept) = super::unchanged_counts(c) {
            let _ = writeln!(diff, "  {kept}");
        }
        if let Some(summary) = super::sources_summary(prov) {
            let _ = writeln!(diff, "  {summary}");
        }
        if let Some(change) = super::change_counts(c) {
            counts = format!(" ({})", html(&change));
        }
    }
    let fence = fence_for(&diff);
    format!("<details><summary>{summary}{counts}{flag}</summary>\n\n{fence}diff\n{diff}{fence}\n\n</details>\n")
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

#[cfg(test)]
mod tests {
    use super::fair_shares;

    #[test]
    fn fair_shares_give_small_parts_what_they_need_and_the_rest_to_large_ones() {
        assert_eq!(fair_shares(&[10, 1000, 50], 300), vec![10, 240, 50]);
        assert_eq!(fair_shares(&[1000, 1000, 1000], 300), vec![100, 100, 100]);
        assert_eq!(fair_shares(&[1000, 10, 2000], 300), vec![145, 10, 145]);
        assert_eq!(fair_shares(&[10, 20], 300), vec![10, 20]);
        assert_eq!(fair_shares(&[10, 20], 0), vec![0, 0]);
        assert_eq!(fair_shares(&[], 300), Vec::<usize>::new());
    }
}
