//! Terraform-like terminal rendering of a plan (of one target, or of every target of a
//! workspace) and of an apply report. Pure; no I/O.

use std::fmt::Write;

use anstyle::{AnsiColor, Style};

use super::{description_diff, plural};
use crate::model::{Email, UserId};
use crate::names::visible as v;
use crate::plan::{Action, GroupProvenance, GroupState, MembershipChange, Plan};
use crate::report::{ApplyReport, Outcome};

/// Styles, or none when color is off.
#[derive(Debug, Clone, Copy)]
struct Palette {
    add: Style,
    remove: Style,
    change: Style,
    rename: Style,
    dim: Style,
    bold: Style,
    warn: Style,
}

impl Palette {
    fn new(color: bool) -> Self {
        if !color {
            let s = Style::new();
            return Palette { add: s, remove: s, change: s, rename: s, dim: s, bold: s, warn: s };
        }
        let fg = |c: AnsiColor| Style::new().fg_color(Some(c.into()));
        Palette {
            add: fg(AnsiColor::Green),
            remove: fg(AnsiColor::Red),
            change: fg(AnsiColor::Yellow),
            rename: fg(AnsiColor::Cyan),
            dim: Style::new().dimmed(),
            bold: Style::new().bold(),
            warn: fg(AnsiColor::Yellow).bold(),
        }
    }
}

fn paint(style: Style, text: &str) -> String {
    format!("{style}{text}{style:#}")
}

/// Renders the plan for a terminal (unmanaged groups: the count and the first few names).
pub fn render_plan(plan: &Plan, color: bool) -> String {
    render_plan_with(plan, color, false)
}

/// Renders the plan for a terminal; `all_names` lists every unmanaged group (`-v`).
pub fn render_plan_with(plan: &Plan, color: bool, all_names: bool) -> String {
    plan_text(plan, color, all_names, None)
}

/// The plan's text; `target` is the workspace target it belongs to, so that the guard's hint
/// overrides that target only.
fn plan_text(plan: &Plan, color: bool, all_names: bool, target: Option<&str>) -> String {
    let p = Palette::new(color);
    let mut out = String::new();
    // A workspace's targets say it in their headings.
    if target.is_none() {
        let _ = writeln!(out, "{}\n", super::where_it_writes(plan));
    }
    // What the policy refuses comes first: nothing below matters until it is fixed.
    if let Some(report) = plan.policy.as_ref().filter(|r| !r.violations.is_empty()) {
        let _ = writeln!(out, "{}", paint(p.warn, &super::policy_heading(report, target)));
        for violation in &report.violations {
            let _ = writeln!(out, "  {} {}", if violation.overridden { "~" } else { "✗" }, v(&super::words::policy_line(violation)));
        }
        for o in &report.overrides {
            let _ = writeln!(out, "    --allow-policy {}=\"{}\"", v(&o.rule), v(&o.reason));
        }
        out.push('\n');
    }
    for action in &plan.actions {
        render_action(&mut out, plan, action, &p);
        out.push('\n');
    }
    if !plan.unmanaged.is_empty() {
        let n = plan.unmanaged.len();
        let _ = writeln!(
            out,
            "Not managed: {} in {} {} not in {} and {} left alone ({}):",
            plural(n, "group", "groups"),
            super::target_name(plan),
            if n == 1 { "is" } else { "are" },
            super::sources_name(plan),
            if n == 1 { "is" } else { "are" },
            super::unmanaged_reason(plan),
        );
        let shown = if all_names { n } else { n.min(super::UNMANAGED_SHOWN) };
        for name in &plan.unmanaged[..shown] {
            let _ = writeln!(out, "    {}", v(name));
        }
        if shown < n {
            let _ = writeln!(out, "    … and {} more (all of them with -v, or in --format json)", n - shown);
        }
        out.push('\n');
    }
    if !plan.external.is_empty() {
        let n = plan.external.len();
        let _ = writeln!(out, "External (managed elsewhere, never written): {}:", plural(n, "group", "groups"));
        for name in &plan.external {
            let _ = writeln!(out, "    {}", v(name));
        }
        out.push('\n');
    }
    if !plan.same_name.is_empty() {
        let n = plan.same_name.len();
        let _ = writeln!(
            out,
            "Same name: {} in {} {} left alone, never renamed, updated or pruned: another live group has the same name and is the one matched:",
            plural(n, "group", "groups"),
            super::target_name(plan),
            if n == 1 { "is" } else { "are" },
        );
        for g in &plan.same_name {
            let _ = writeln!(
                out,
                "    \"{}\" (id {}) shares its name with \"{}\" (id {})",
                v(&g.name),
                v(&g.id.0),
                v(&g.matched),
                v(&g.matched_id.0)
            );
        }
        out.push('\n');
    }
    if !plan.unmanageable.is_empty() {
        let _ = writeln!(
            out,
            "Cannot be managed: {} in Tallyfy {} listed but never deleted, renamed or adopted:",
            plural(plan.unmanageable.len(), "group", "groups"),
            if plan.unmanageable.len() == 1 { "is" } else { "are" },
        );
        for g in &plan.unmanageable {
            let _ = writeln!(out, "    {:?} (id {:?}): {}", g.name, g.id.0, g.why);
        }
        out.push('\n');
    }
    if !plan.ignored.is_empty() {
        let _ = writeln!(out, "Ignored: {} matching `ignore`.", plural(plan.ignored.len(), "group", "groups"));
    }
    if plan.out_of_scope > 0 {
        let _ = writeln!(out, "Out of scope: {} outside --only/--exclude.", plural(plan.out_of_scope, "group", "groups"));
    }
    if !plan.ignored.is_empty() || plan.out_of_scope > 0 {
        out.push('\n');
    }
    expiry_sections(&mut out, plan, &p);
    if !plan.warnings.is_empty() {
        let _ = writeln!(out, "{}", paint(p.warn, "Warnings:"));
        for lines in super::words::warnings_as_lines(&plan.warnings) {
            for (i, line) in lines.iter().enumerate() {
                let _ = writeln!(out, "{}{}", if i == 0 { "  ! " } else { "    " }, v(line));
            }
        }
        out.push('\n');
    }
    if plan.guard.is_tripped() {
        let _ = writeln!(
            out,
            "{}",
            paint(
                p.warn,
                &match &plan.guard.allowed {
                    Some(reason) => format!("Removal guard tripped, overridden with --allow-removals \"{reason}\":"),
                    None => format!(
                        "Removal guard tripped: apply will refuse (exit 3) unless run with --allow-removals {}\"reason\":",
                        target.map(|t| format!("{t}=")).unwrap_or_default()
                    ),
                }
            )
        );
        for t in &plan.guard.tripped {
            let _ = writeln!(out, "  - {}", v(&super::words::guard_trip(t)));
        }
        out.push('\n');
    }
    let s = &plan.summary;
    if plan.is_empty() {
        let _ = writeln!(
            out,
            "No changes. {} matches {} ({} unchanged).",
            capitalised(&super::target_name(plan)),
            super::sources_name(plan),
            plural(s.unchanged, "group", "groups")
        );
    } else {
        let mut line = format!("Plan: {} to create, {} to update, {} to delete.", s.create, s.update, s.delete);
        if s.guests_to_invite > 0 {
            let _ = write!(line, " {} to invite.", plural(s.guests_to_invite, "guest", "guests"));
        }
        let _ = write!(line, " Apply will make {}", plural(s.api_calls, "API call", "API calls"));
        // An update of a group the files manage only in part reads it right before the write.
        let changes = plan.actions.len();
        if s.api_calls > changes {
            let reads = s.api_calls - changes;
            let _ = write!(
                line,
                " ({} + {} of a partly managed group)",
                plural(changes, "change", "changes"),
                plural(reads, "re-read", "re-reads")
            );
        }
        if s.usage_reads > 0 {
            let _ = write!(line, ", after {} of where groups are used", plural(s.usage_reads, "read", "reads"));
        }
        line.push('.');
        let _ = writeln!(out, "{}", paint(p.bold, &line));
    }
    if let Some(line) = super::reviewers_line(plan) {
        let _ = writeln!(out, "{}", v(&line));
    }
    if let Some(line) = super::policy_kept_line(plan) {
        let _ = writeln!(out, "{}", v(&line));
    }
    let _ = writeln!(out, "{}", super::scope_line(plan));
    out
}

/// Renders the plans of several targets (a workspace run) for a terminal: a section per target
/// in the order given, headed by its name and organization, holding exactly the one-target text
/// ([`render_plan_with`]) or the target's error; then one summary line per target, so that a
/// long output still ends with the overview. `verbose` lists every unmanaged group.
pub fn render_targets(targets: &[super::TargetView<'_>], color: bool, verbose: bool) -> String {
    let p = Palette::new(color);
    let mut out = String::new();
    for t in targets {
        let header = match t.plan {
            Ok(plan) => format!("── {} · {} ──", v(t.name), super::target_name(plan)),
            Err(_) => format!("── {} ──", v(t.name)),
        };
        let _ = writeln!(
            out,
            "{}
",
            paint(p.bold, &header)
        );
        match t.plan {
            Ok(plan) => out.push_str(&plan_text(plan, color, verbose, Some(t.name))),
            Err(message) => {
                let mut lines = message.lines();
                let _ = writeln!(out, "{}", paint(p.remove, &format!("failed: {}", v(lines.next().unwrap_or_default()))));
                for line in lines {
                    let _ = writeln!(out, "{}", paint(p.remove, &v(line)));
                }
            }
        }
        out.push('\n');
    }
    let _ = writeln!(out, "{}", paint(p.bold, "Targets:"));
    for t in targets {
        let status = super::TargetStatus::of(t);
        let line = format!("{}: {}", v(t.name), super::target_outcome(t));
        let style = match status {
            super::TargetStatus::Failed | super::TargetStatus::Interrupted => p.remove,
            super::TargetStatus::Refused | super::TargetStatus::RefusedByGuard => p.warn,
            super::TargetStatus::Changes | super::TargetStatus::NoChanges => Style::new(),
        };
        let _ = writeln!(out, "  {}", paint(style, &line));
    }
    out
}

fn render_action(out: &mut String, plan: &Plan, action: &Action, p: &Palette) {
    match action {
        Action::CreateGuest { email, first_name, last_name } => {
            let _ = writeln!(out, "{} guest {} ({} {})", paint(p.add, "+ invite"), v(email.as_str()), v(first_name), v(last_name));
        }
        Action::CreateGroup { after } => {
            let _ = writeln!(out, "{} group \"{}\"", paint(p.add, "+ create"), v(&after.name));
            let _ = writeln!(out, "    description: {}", v(after.description.lines().next().unwrap_or_default()));
            for line in after.description.lines().skip(1) {
                let _ = writeln!(out, "                 {}", v(line));
            }
            memberships(out, plan, action, &MembershipChange::between(None, Some(after)), super::provenance_of(plan, action), p);
        }
        Action::UpdateGroup { id, before, after, renamed_from, .. } => {
            match renamed_from {
                Some(old) => {
                    let _ = writeln!(
                        out,
                        "{} group \"{}\" → \"{}\" {}",
                        paint(p.rename, "→ rename"),
                        v(old),
                        v(&after.name),
                        paint(p.dim, &format!("(id {})", v(&id.0)))
                    );
                }
                None => {
                    let _ = writeln!(
                        out,
                        "{} group \"{}\" {}",
                        paint(p.change, "~ update"),
                        v(&after.name),
                        paint(p.dim, &format!("(id {})", v(&id.0)))
                    );
                }
            }
            usage(out, plan, action, p);
            if let Some(kept) = super::kept_line(plan, &after.name) {
                let _ = writeln!(out, "    {}", paint(p.dim, &v(&kept)));
            }
            description(out, before, after, p);
            memberships(out, plan, action, &MembershipChange::between(Some(before), Some(after)), super::provenance_of(plan, action), p);
        }
        Action::DeleteGroup { id, before, reason } => {
            let why = match reason {
                crate::diff::DeleteReason::Absent => "absent: true",
                crate::diff::DeleteReason::Pruned => "not listed, prune is on",
            };
            let _ = writeln!(
                out,
                "{} group \"{}\" {}",
                paint(p.remove, "- delete"),
                v(&before.name),
                paint(p.dim, &format!("(id {}; {why})", v(&id.0)))
            );
            usage(out, plan, action, p);
            memberships(out, plan, action, &MembershipChange::between(Some(before), None), None, p);
        }
    }
}

/// Expired entries, entries expiring soon and overdue reviews, each a section when there are any.
fn expiry_sections(out: &mut String, plan: &Plan, p: &Palette) {
    let e = &plan.expiry;
    let sections: [(&str, Vec<String>); 3] = [
        ("Expired", e.expired.iter().map(super::words::expired).collect()),
        ("Expiring soon", e.expiring.iter().map(super::words::expiring).collect()),
        ("Reviews overdue", e.overdue_reviews.iter().map(super::words::overdue_review).collect()),
    ];
    for (title, lines) in sections {
        if lines.is_empty() {
            continue;
        }
        let _ = writeln!(out, "{}", paint(p.warn, &format!("{title} (as of {}):", e.evaluated_at)));
        for line in lines {
            let _ = writeln!(out, "  - {}", v(&line));
        }
        out.push('\n');
    }
}

/// The line under an action about where its group is used, when it was checked (or skipped).
fn usage(out: &mut String, plan: &Plan, action: &Action, p: &Palette) {
    match super::usage_note(plan, action) {
        Some((true, words)) => {
            let _ = writeln!(out, "    {}", paint(p.warn, &format!("⚠ {}", v(&words))));
        }
        Some((false, words)) => {
            let _ = writeln!(out, "    {}", paint(p.dim, &v(&words)));
        }
        None => {}
    }
}

fn description(out: &mut String, before: &GroupState, after: &GroupState, p: &Palette) {
    if before.description == after.description {
        return;
    }
    let _ = writeln!(out, "    description:");
    for (tag, line) in description_diff(&before.description, &after.description) {
        let style = match tag {
            '-' => p.remove,
            '+' => p.add,
            _ => p.dim,
        };
        let _ = writeln!(out, "      {}", paint(style, &format!("{tag} {}", v(&line))));
    }
}

fn memberships(out: &mut String, plan: &Plan, action: &Action, c: &MembershipChange, prov: Option<&GroupProvenance>, p: &Palette) {
    let user = |id: &UserId| v(&plan.describe_user(*id)).into_owned();
    let guest = |e: &Email| v(e.as_str()).into_owned();
    let member_from = |id: &UserId| prov.map(|g| v(&super::origins_suffix(g.member(*id))).into_owned()).unwrap_or_default();
    let guest_from = |e: &Email| prov.map(|g| v(&super::origins_suffix(g.guest(e))).into_owned()).unwrap_or_default();
    for id in &c.members_added {
        let _ = writeln!(out, "    {}", paint(p.add, &format!("+ member {}{}", user(id), member_from(id))));
    }
    for id in &c.members_removed {
        let _ = writeln!(
            out,
            "    {}",
            paint(p.remove, &format!("- member {}{}", user(id), v(&super::expired_member_suffix(plan, action, *id))))
        );
    }
    for e in &c.guests_added {
        let _ = writeln!(out, "    {}", paint(p.add, &format!("+ guest {}{}", guest(e), guest_from(e))));
    }
    for e in &c.guests_removed {
        let _ =
            writeln!(out, "    {}", paint(p.remove, &format!("- guest {}{}", guest(e), v(&super::expired_guest_suffix(plan, action, e)))));
    }
    if let Some(kept) = super::unchanged_counts(c) {
        let _ = writeln!(out, "    {}", paint(p.dim, &format!("  {kept}")));
    }
    if let Some(summary) = super::sources_summary(prov) {
        let _ = writeln!(out, "    {}", paint(p.dim, &format!("  {summary}")));
    }
}

/// Renders the apply report: one line per action, then the totals.
pub fn render_report(report: &ApplyReport, color: bool) -> String {
    let p = Palette::new(color);
    let mut out = String::new();
    let _ = writeln!(out, "Apply report:");
    for r in &report.results {
        let (mark, style) = match &r.outcome {
            Outcome::Applied => ("applied", p.add),
            Outcome::Failed { .. } => ("FAILED ", p.remove),
            Outcome::Skipped { .. } => ("skipped", p.change),
            Outcome::Unknown { .. } => ("unknown", p.warn),
        };
        let _ = write!(out, "  {} {} {}", paint(style, mark), super::words::verb(r.action), v(&super::words::subject(&r.subject)));
        match (&r.outcome, super::words::outcome_detail(&r.outcome)) {
            (_, None) => out.push('\n'),
            (Outcome::Skipped { .. }, Some(reason)) => {
                let _ = writeln!(out, ": {}", v(&reason));
            }
            (_, Some(text)) => {
                let mut lines = text.lines();
                let _ = writeln!(out, ": {}", v(lines.next().unwrap_or_default()));
                for l in lines {
                    let _ = writeln!(out, "      {}", v(l.trim_start()));
                }
            }
        }
    }
    if let Some(reason) = &report.allow_removals {
        let _ = writeln!(out, "  removal guard overridden: {}", v(reason));
    }
    for o in &report.policy_overrides {
        let _ = writeln!(out, "  policy rule {} overridden: {}", v(&o.rule), v(&o.reason));
    }
    let (a, f, s) = report.counts();
    let u = report.unknown();
    let mut line = format!("Apply: {a} applied, {f} failed, {s} skipped");
    if u > 0 {
        let _ = write!(line, ", {u} unknown (run plan to see whether they took effect)");
    }
    line.push('.');
    let _ = writeln!(out, "{}", paint(if f > 0 { p.remove } else { p.bold }, &line));
    if f > 0 || s > 0 || u > 0 {
        let _ = writeln!(out, "Run the same command again to retry what did not apply; a rerun converges.");
    }
    out
}

/// "The sandbox" from "the sandbox".
fn capitalised(s: &str) -> String {
    let mut c = s.chars();
    c.next().map(|f| f.to_uppercase().chain(c).collect()).unwrap_or_default()
}
