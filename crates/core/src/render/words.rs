//! The words for the plan's and the report's typed facts: warnings, removal-guard trips, why a
//! saved plan is stale, and how an action ended. Every rendering (and every message the
//! terminal layer prints about them) takes its sentences from here. Pure; no I/O.

use crate::plan::{ActionKind, GuardTrip};
use crate::report::{ActionError, Outcome, SkipReason, Subject, UnknownReason};
use crate::saved::{StaleInput, Staleness};
use crate::warning::{At, Problem, Warning};

use super::plural;

fn at(a: &At) -> String {
    format!("{}:{}:{}", a.file, a.line, a.column)
}

/// A warning as one string: its sentence, and a hint after a line break when it has one (a
/// disabled member's), as JSON carries it.
pub fn warning(w: &Warning) -> String {
    warning_lines(w).join("\n    ")
}

/// A warning as its lines: the sentence, then its hint. The facts stay as they are inside their
/// line (a line break in a live name is not a line of the warning), so a renderer escapes each
/// line and indents the later ones.
pub fn warning_lines(w: &Warning) -> Vec<String> {
    match w {
        Warning::DisabledMember { at: a, email, user, group } => vec![
            format!("{}: member {email} (user id {user}) of \"{group}\" is disabled in Tallyfy: left out", at(a)),
            "hint: remove them from groups.yaml; set settings.disabled_members: error to fail instead".to_string(),
        ],
        _ => vec![sentence(w)],
    }
}

/// The sentence of a warning that is one line.
fn sentence(w: &Warning) -> String {
    match w {
        Warning::DuplicateLiveNames { key, names, ids } => {
            let groups: Vec<String> = names
                .iter()
                .enumerate()
                .map(|(i, n)| match ids.get(i) {
                    Some(id) => format!("\"{n}\" (id {id})"),
                    None => format!("\"{n}\""),
                })
                .collect();
            format!(
                "{} live groups share the name \"{key}\" (ignoring case and Unicode form): {}; when groups.yaml lists the name, one is matched and the others are left alone, never renamed, updated or pruned",
                names.len(),
                groups.join(", ")
            )
        }
        Warning::NoRemovalsKeeps { group, members, guests } => {
            format!("--no-removals: \"{group}\" keeps {members} member(s) and {guests} guest(s) that groups.yaml no longer lists")
        }
        Warning::NoRemovalsNotDeleting { group } => format!("--no-removals: not deleting \"{group}\" (absent: true)"),
        Warning::NoRemovalsNotPruning { group } => format!("--no-removals: not pruning \"{group}\""),
        Warning::PreviouslyStillExists { old, group } => format!(
            "\"{old}\" is listed in `previously` of \"{group}\", which already exists; the old group is left alone (add it with `absent: true` to delete it)"
        ),
        Warning::OutsideScope { group, live } => format!(
            "\"{group}\" matches the live group \"{live}\", which is outside --only/--exclude; both are left alone (widen the scope to include \"{live}\" to change it)"
        ),
        Warning::AbsentLookAlike { at: a, group, live } => format!(
            "{}: \"{group}\" (absent: true) differs from the live group \"{live}\" only by invisible, look-alike or space characters, so nothing is deleted; if it is meant to be that group, copy its name exactly",
            at(a)
        ),
        Warning::CreateLookAlike { at: a, group, live } => format!(
            "{}: \"{group}\" differs from the live group \"{live}\" only by invisible, look-alike or space characters, so it is created as a new group; if it is meant to be that group, copy its name exactly",
            at(a)
        ),
        Warning::PreviouslyUnmatched { at: a, old, group, closest } => {
            let mut w = format!(
                "{}: `previously` name \"{old}\" of \"{group}\" matches no live group, so \"{group}\" is created as a new group",
                at(a)
            );
            if let Some(close) = closest {
                w.push_str(&format!("; did you mean \"{close}\"?"));
            }
            w
        }
        Warning::PreviouslyIgnored { at: a, old, group, live, pattern } => format!(
            "{}: `previously` name \"{old}\" of \"{group}\" is the live group \"{live}\", which matches the `ignore` pattern `{pattern}`, so it is not adopted and \"{group}\" is created as a new group; remove the pattern or narrow it to rename that group",
            at(a)
        ),
        Warning::DisabledMember { .. } => warning_lines(w).join(" "),
        Warning::UnusedSource { at: a, source } => {
            format!(
                "{}: source `{source}` is used by no group, so it is not read (use it in a group with `source: {source}`, or remove it)",
                at(a)
            )
        }
        Warning::SourceSkipped { source, source_kind, message } => format!("source `{source}` ({source_kind}) left someone out: {message}"),
        Warning::UnknownFromSource { email, group, origins } => {
            let from: Vec<String> = origins.iter().map(ToString::to_string).collect();
            format!(
                "{email} (from {}) is not a user of this organization: left out of \"{group}\" (the source has `unknown: warn`)",
                from.join(", ")
            )
        }
        Warning::GuestPacing { invites, per_hour, extra_minutes } => format!(
            "{invites} new guests: Tallyfy accepts about {per_hour} guest invitations per hour, so apply paces the invitations beyond the first {per_hour} (about {extra_minutes} more minutes)"
        ),
        Warning::BaselineInvalid { problems } => {
            format!("the baseline (--baseline) is invalid, so no change is labelled as introduced or drift: {}", problems_line(problems))
        }
        Warning::BaselineUnresolved { problems } => format!(
            "the baseline (--baseline) does not resolve, so changes to these groups count as introduced: {}",
            problems_line(problems)
        ),
        Warning::EmptiedGroupInUse { group, templates, steps, active_processes, open_tasks } => {
            let steps = if *steps > 0 {
                format!(": {} assigned to it will have nobody to do them", plural(*steps, "step", "steps"))
            } else {
                String::new()
            };
            format!("\"{group}\" is emptied while {}{steps}", used_by(templates, *active_processes, *open_tasks))
        }
        Warning::DeletedGroupInArchivedTemplates { group, templates } => format!(
            "\"{group}\" is deleted while {} still {} it ({}): restoring {} brings back steps or access without the group",
            plural(templates.len(), "archived template", "archived templates"),
            if templates.len() == 1 { "names" } else { "name" },
            quoted_list(templates, 3),
            if templates.len() == 1 { "it" } else { "one" },
        ),
        Warning::PastMaxAssignable { group, template, step, max_assignable, people } => format!(
            "\"{group}\" grows to {people} members and guests, past the limit of {max_assignable} of step \"{step}\" of template \"{template}\", which is assigned to it: Tallyfy refuses that assignment when the template is launched (raise the step's limit, or assign it otherwise)"
        ),
        Warning::BaselineNotPlanned { error } => {
            format!("the baseline (--baseline) could not be planned, so no change is labelled: {}", error.replace('\n', " "))
        }
    }
}

/// The warnings as sentences, sorted (the order every rendering shows them in).
pub fn warnings(ws: &[Warning]) -> Vec<String> {
    let mut out: Vec<String> = ws.iter().map(warning).collect();
    out.sort();
    out
}

/// The warnings as lines ([`warning_lines`]), in the order of [`warnings`].
pub fn warnings_as_lines(ws: &[Warning]) -> Vec<Vec<String>> {
    let mut out: Vec<(String, Vec<String>)> = ws.iter().map(|w| (warning(w), warning_lines(w))).collect();
    out.sort();
    out.into_iter().map(|(_, lines)| lines).collect()
}

/// At most five problems on one line, then how many more.
fn problems_line(problems: &[Problem]) -> String {
    let mut parts: Vec<String> = problems
        .iter()
        .take(5)
        .map(|p| match &p.at {
            Some(a) => format!("{}: {}", at(a), p.message),
            None => p.message.clone(),
        })
        .collect();
    if problems.len() > 5 {
        parts.push(format!("and {} more", problems.len() - 5));
    }
    parts.join("; ")
}

/// Why the removal guard refuses, as one clause.
pub fn guard_trip(t: &GuardTrip) -> String {
    match t {
        GuardTrip::TooManyDeletedGroups { deleted, max } => {
            format!("the plan deletes {deleted} groups, more than max_deleted_groups ({max})")
        }
        GuardTrip::TooManyRemovedMemberships { removed, current, ratio, max_ratio } => format!(
            "the plan removes {removed} of {current} memberships ({:.0}%), more than max_removed_ratio ({:.0}%)",
            ratio * 100.0,
            max_ratio * 100.0
        ),
        GuardTrip::PruneWithNoGroups => "prune is on but the desired state lists no groups".to_string(),
        GuardTrip::GroupInUse { groups } => {
            let each: Vec<String> = groups.iter().map(|g| format!("\"{}\" ({})", g.name, in_use_counts(g))).collect();
            format!("the plan deletes {} still in use: {}", plural(groups.len(), "group", "groups"), each.join(", "))
        }
    }
}

/// "3 templates (5 steps), 12 open tasks, 4 active processes": the non-zero counts of a group
/// in use.
fn in_use_counts(g: &crate::usage::InUse) -> String {
    let mut parts = Vec::new();
    if g.templates > 0 {
        parts.push(plural(g.templates, "template", "templates"));
        if g.steps > 0 {
            parts.push(plural(g.steps, "step", "steps"));
        }
    }
    if g.open_tasks > 0 {
        parts.push(plural(g.open_tasks as usize, "open task", "open tasks"));
    }
    if g.active_processes > 0 {
        parts.push(plural(g.active_processes as usize, "active process", "active processes"));
    }
    parts.join(", ")
}

/// "used by 2 templates ("A", "B"), 12 open tasks, 4 active processes".
fn used_by(templates: &[String], active_processes: u64, open_tasks: u64) -> String {
    let mut parts = Vec::new();
    if !templates.is_empty() {
        parts.push(format!("{} ({})", plural(templates.len(), "template", "templates"), quoted_list(templates, 3)));
    }
    if open_tasks > 0 {
        parts.push(plural(open_tasks as usize, "open task", "open tasks"));
    }
    if active_processes > 0 {
        parts.push(plural(active_processes as usize, "active process", "active processes"));
    }
    if parts.is_empty() { "used by no template, active process or open task".to_string() } else { format!("used by {}", parts.join(", ")) }
}

/// Where a group is used, for the line under its action: `used by 3 templates (Employee
/// Onboarding: steps "Laptop", "Accounts"; Expenses: access; …), 12 open tasks, 4 active
/// processes`; the archived templates after; "used by no template, active process or open
/// task" when it is not used.
pub fn usage(u: &crate::usage::GroupUsage) -> String {
    const SHOWN: usize = 3;
    let mut parts = Vec::new();
    let templates = |ts: &[crate::usage::TemplateUse]| -> String {
        let mut each: Vec<String> = ts
            .iter()
            .take(SHOWN)
            .map(|t| {
                let mut how = Vec::new();
                if !t.steps.is_empty() {
                    let titles: Vec<String> = t.steps.iter().map(|s| s.title.clone()).collect();
                    how.push(format!("{} {}", if titles.len() == 1 { "step" } else { "steps" }, quoted_list(&titles, SHOWN)));
                }
                if t.access {
                    how.push("grants access".to_string());
                }
                format!("{}: {}", t.title, how.join(", "))
            })
            .collect();
        if ts.len() > SHOWN {
            each.push(format!("{} more", ts.len() - SHOWN));
        }
        each.join("; ")
    };
    if !u.templates.is_empty() {
        parts.push(format!("{} ({})", plural(u.templates.len(), "template", "templates"), templates(&u.templates)));
    }
    if u.open_tasks > 0 {
        parts.push(plural(u.open_tasks as usize, "open task", "open tasks"));
    }
    if u.active_processes > 0 {
        parts.push(plural(u.active_processes as usize, "active process", "active processes"));
    }
    let mut line = if parts.is_empty() {
        "used by no template, active process or open task".to_string()
    } else {
        format!("used by {}", parts.join(", "))
    };
    if !u.archived_templates.is_empty() {
        line.push_str(&format!(
            "; named by {} ({})",
            plural(u.archived_templates.len(), "archived template", "archived templates"),
            templates(&u.archived_templates)
        ));
    }
    line
}

/// The words for an action's group whose usage `--usage-check never` left unread.
pub const USAGE_NOT_CHECKED: &str = "usage not checked (--usage-check never): templates, processes and tasks may still use this group";

/// `"a", "b", "c" and 2 more`.
fn quoted_list(items: &[String], shown: usize) -> String {
    let mut out: Vec<String> = items.iter().take(shown).map(|i| format!("\"{i}\"")).collect();
    if items.len() > shown {
        out.push(format!("{} more", items.len() - shown));
    }
    out.join(", ")
}

/// Every trip, joined with "; ".
pub fn guard_trips(ts: &[GuardTrip]) -> String {
    ts.iter().map(guard_trip).collect::<Vec<_>>().join("; ")
}

/// One changed input of a saved plan.
pub fn stale_input(s: &StaleInput) -> String {
    match s {
        StaleInput::GroupGone { id } => format!("group id {id} no longer exists"),
        StaleInput::GroupChanged { id, name } => format!("group \"{name}\" (id {id}) changed since the plan was made"),
        StaleInput::NameTaken { name } => format!("group \"{name}\" now exists, but the plan creates it"),
        StaleInput::UserGone { id } => format!("user id {id} is no longer in the organization"),
        StaleInput::UserChanged { id, email } => format!("user {email} (id {id}) changed since the plan was made"),
        StaleInput::GuestExists { email } => format!("guest {email} now exists, but the plan invites them"),
        StaleInput::AccessEnded { note, planned_as_of, as_of } => format!(
            "{} in \"{}\" had access until {}: the plan was made as of {}, and it is {} now, so the files end that access (make the plan again to remove it)",
            note.who(),
            note.group,
            note.until,
            planned_as_of,
            as_of
        ),
        StaleInput::GroupNowUsed { id, name, usage: u } => {
            format!("group \"{name}\" (id {id}) was not in use when the plan was made; now it is {}", usage(u))
        }
    }
}

/// Why a saved plan is refused, with what to do.
pub fn staleness(s: &Staleness) -> String {
    match s {
        Staleness::OtherTarget { planned, configured } => format!(
            "refusing to apply: the saved plan was made for organization {} at {}, not {} at {}",
            planned.org, planned.api_url, configured.org, configured.api_url
        ),
        Staleness::Changed { changes } => format!(
            "refusing to apply a stale plan; what it relied on has changed:\n  - {}\n    hint: run `plan --out` again and review the new plan",
            changes.iter().map(stale_input).collect::<Vec<_>>().join("\n  - ")
        ),
    }
}

/// A short verb for an action in reports.
pub fn verb(kind: ActionKind) -> &'static str {
    match kind {
        ActionKind::InviteGuest => "invite",
        ActionKind::CreateGroup => "create",
        ActionKind::UpdateGroup => "update",
        ActionKind::DeleteGroup => "delete",
    }
}

/// `group "Ops"` or `guest x@y.co`.
pub fn subject(s: &Subject) -> String {
    match s {
        Subject::Group { name, .. } => format!("group \"{name}\""),
        Subject::Guest { email } => format!("guest {email}"),
    }
}

/// Why an action was skipped.
pub fn skip_reason(r: &SkipReason) -> String {
    match r {
        SkipReason::GuestNotInvited { email } => format!("guest {email} could not be invited"),
        SkipReason::Interrupted => "apply was interrupted; nothing of this action was sent".to_string(),
        SkipReason::StoppedAnswering { failures } => {
            format!("the API stopped answering ({failures} connection failures or timeouts in a row); not started")
        }
        SkipReason::EndedAbnormally => "the action ended abnormally; run apply again".to_string(),
    }
}

/// Why an action's effect is unknown (may span lines: a hint follows).
pub fn unknown_reason(reason: UnknownReason, error: Option<&ActionError>) -> String {
    let message = error.map(|e| e.message.as_str()).unwrap_or_default();
    match reason {
        UnknownReason::ReadBackFailed => message.to_string(),
        UnknownReason::Ambiguous => format!(
            "{}; whether it took effect is unknown\n    hint: run plan again: it shows whether the create is still needed",
            message.lines().next().unwrap_or_default()
        ),
        UnknownReason::AbandonedInFlight => "apply was interrupted while this request was in flight; whether it took effect is unknown\n    hint: run plan again: it shows what is still different".to_string(),
    }
}

/// What to say after an action's name about how it ended (`None` when it applied).
pub fn outcome_detail(o: &Outcome) -> Option<String> {
    match o {
        Outcome::Applied => None,
        Outcome::Failed { error } => Some(error.message.clone()),
        Outcome::Skipped { reason } => Some(skip_reason(reason)),
        Outcome::Unknown { reason, error } => Some(unknown_reason(*reason, error.as_ref())),
    }
}

/// `(expired 2026-12-31, TICKET-42)`: after a member or guest an expired entry no longer grants.
pub fn expired_suffix(n: &crate::expiry::ExpiryNote) -> String {
    match &n.reason {
        Some(reason) => format!("(expired {}, {reason})", n.until),
        None => format!("(expired {})", n.until),
    }
}

/// `bob@x.example in "Audit 2026": access ended after 2026-12-31 (TICKET-42)`.
pub fn expired(n: &crate::expiry::ExpiryNote) -> String {
    let reason = n.reason.as_ref().map(|r| format!(" ({r})")).unwrap_or_default();
    let what = match (&n.source, &n.includes) {
        (Some(_), _) => "the people it yields are no longer granted by it",
        (_, Some(_)) => "its members are no longer granted by it",
        _ => "removed unless another entry grants access",
    };
    format!("{} in \"{}\": access ended after {}{reason}; {what}", n.who(), n.group, n.until)
}

/// `bob@x.example in "Audit 2026" expires in 5 days (2026-12-31, TICKET-42)`.
pub fn expiring(n: &crate::expiry::ExpiryNote) -> String {
    let when = match n.days {
        0 => "has its last day today".to_string(),
        1 => "expires in 1 day".to_string(),
        d => format!("expires in {d} days"),
    };
    let reason = n.reason.as_ref().map(|r| format!(", {r}")).unwrap_or_default();
    format!("{} in \"{}\" {when} ({}{reason})", n.who(), n.group, n.until)
}

/// `the review of "Audit 2026" is overdue: last 2026-09-01, every 90 days, due 2026-11-30 (3 days ago)`.
pub fn overdue_review(r: &crate::expiry::OverdueReview) -> String {
    format!(
        "the review of \"{}\" is overdue: last {}, every {} days, due {} ({})",
        r.group,
        r.last,
        r.every_days,
        r.due,
        if r.days_overdue == 1 { "1 day ago".to_string() } else { format!("{} days ago", r.days_overdue) }
    )
}

/// A policy violation, without its rule id or place: `"Finance AP" would have 27 people, more
/// than 25`.
pub fn policy_violation(v: &crate::policy::Violation) -> String {
    use crate::policy::ViolationKind as K;
    let group = crate::names::visible(&v.group);
    let who = v.subject.as_deref().map(crate::names::visible).unwrap_or_default();
    let people = |n: usize| if n == 1 { "1 person".to_string() } else { format!("{n} people") };
    match &v.kind {
        K::TooManyMembers { count, max } => format!("\"{group}\" would have {}, more than {max}", people(*count)),
        K::TooFewMembers { count, min } => format!("\"{group}\" would have {}, fewer than {min}", people(*count)),
        K::MemberDomain { domain } => format!("member {who} of \"{group}\" is from {domain}, which the rule does not allow"),
        K::GuestDomain { domain } => format!("guest {who} of \"{group}\" is from {domain}, which the rule does not allow"),
        K::ForbiddenDelete { reason } => {
            let why = match reason {
                crate::diff::DeleteReason::Absent => "marked absent",
                crate::diff::DeleteReason::Pruned => "pruned: not in the files",
            };
            format!("\"{group}\" would be deleted ({why}), and the rule forbids deleting it")
        }
        K::RenamedAway { to } => {
            format!("\"{group}\" would be renamed to \"{}\", a name the rule does not protect", crate::names::visible(to))
        }
        K::TooManyChanges { count, max } => format!("\"{group}\" would change by {}, more than {max} in one plan", people(*count)),
        K::TooManyRemovals { count, max } => format!("\"{group}\" would lose {}, more than {max} in one plan", people(*count)),
        K::GuestWithoutUntil => format!("guest {who} of \"{group}\" has no `until`, and the rule grants guests only for a time"),
    }
}

/// A violation as one line: `finance-size: "Finance AP" would have …` and where it comes from.
pub fn policy_line(v: &crate::policy::Violation) -> String {
    let at = v.at.as_deref().map(|a| format!(" ({})", crate::names::visible(a))).unwrap_or_default();
    let overridden = if v.overridden { " [overridden]" } else { "" };
    format!("{}: {}{at}{overridden}", v.rule, policy_violation(v))
}

/// The violations no override covers, said in short for a refusal: `finance-size, keep-core (3
/// violations)`.
pub fn policy_trips(report: &crate::policy::PolicyReport) -> String {
    let mut rules: Vec<&str> = report.blocking().map(|v| v.rule.as_str()).collect();
    let n = rules.len();
    rules.dedup();
    let mut seen = std::collections::BTreeSet::new();
    rules.retain(|r| seen.insert(*r));
    format!("{} ({n} violation{})", rules.join(", "), if n == 1 { "" } else { "s" })
}
