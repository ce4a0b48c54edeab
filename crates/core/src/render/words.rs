//! The words for the plan's and the report's typed facts: warnings, removal-guard trips, why a
//! saved plan is stale, and how an action ended. Every rendering (and every message the
//! terminal layer prints about them) takes its sentences from here. Pure; no I/O.

use crate::plan::{ActionKind, GuardTrip};
use crate::report::{ActionError, Outcome, SkipReason, Subject, UnknownReason};
use crate::saved::{StaleInput, Staleness};
use crate::warning::{At, Problem, Warning};

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
    }
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
