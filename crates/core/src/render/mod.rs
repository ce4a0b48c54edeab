//! Renderers: the plan as terminal text, a pull-request comment (markdown) or JSON, and the
//! apply report. They read only the plan (or report) and return strings. Pure; no I/O.

pub mod journal;
pub mod json;
pub mod markdown;
pub mod text;
pub mod words;

use similar::{ChangeTag, TextDiff};

use crate::plan::{MembershipChange, Plan};

/// Line diff of two descriptions: `(tag, line)` pairs, `tag` one of `-`, `+`, ` `.
pub fn description_diff(before: &str, after: &str) -> Vec<(char, String)> {
    let diff = TextDiff::from_lines(before, after);
    diff.iter_all_changes()
        .map(|c| {
            let tag = match c.tag() {
                ChangeTag::Delete => '-',
                ChangeTag::Insert => '+',
                ChangeTag::Equal => ' ',
            };
            (tag, c.value().trim_end_matches(['\n', '\r']).to_string())
        })
        .collect()
}

/// "1 group" / "2 groups".
pub fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// Why the plan's unmanaged groups are left alone: prune is off, or the warnings say why.
fn unmanaged_reason(plan: &Plan) -> &'static str {
    match (plan.limits.prune, plan.owned_only) {
        (false, _) => "prune is off",
        (true, true) => "prune deletes only groups a rule of owners.yaml allows",
        (true, false) => "see the warnings",
    }
}

/// How many unmanaged names the text plan lists without `-v` (the count is always shown).
pub const UNMANAGED_SHOWN: usize = 10;

// The words every rendering uses (docs/plan-format.md, "Words"): a *member* is an organization
// user in a group, a *guest* an external person in a group; *memberships* are members and guests
// together (what the removal guard counts).

/// "+2 members, −1 guest", or `None` when nobody gains or loses access.
pub fn change_counts(c: &MembershipChange) -> Option<String> {
    let mut parts = Vec::new();
    let mut part = |sign: char, n: usize, one: &str, many: &str| {
        if n > 0 {
            parts.push(format!("{sign}{}", plural(n, one, many)));
        }
    };
    part('+', c.members_added.len(), "member", "members");
    part('−', c.members_removed.len(), "member", "members");
    part('+', c.guests_added.len(), "guest", "guests");
    part('−', c.guests_removed.len(), "guest", "guests");
    (!parts.is_empty()).then(|| parts.join(", "))
}

/// "  ← ldap:engineering, csv:finance-hr:14" after a member or guest a source yielded (every
/// origin, typed ones as `static`), or "" for one only typed.
pub fn origins_suffix(origins: &[crate::source::Provenance]) -> String {
    if !origins.iter().any(crate::source::Provenance::is_source) {
        return String::new();
    }
    let all: Vec<String> = origins.iter().map(ToString::to_string).collect();
    format!("  ← {}", all.join(", "))
}

/// "3 sources, 412 people" for a group that uses sources, or `None`.
pub fn sources_summary(p: Option<&crate::plan::GroupProvenance>) -> Option<String> {
    let p = p.filter(|p| !p.sources.is_empty())?;
    Some(format!("{}, {}", plural(p.sources.len(), "source", "sources"), plural(p.people, "person", "people")))
}

/// The provenance of the group an action writes, when the plan has it.
pub fn provenance_of<'p>(plan: &'p Plan, action: &crate::plan::Action) -> Option<&'p crate::plan::GroupProvenance> {
    plan.provenance.get(&action.writes()?.name)
}

/// "3 members and 1 guest unchanged", or `None`.
pub fn unchanged_counts(c: &MembershipChange) -> Option<String> {
    let mut kept = Vec::new();
    if c.members_kept > 0 {
        kept.push(plural(c.members_kept, "member", "members"));
    }
    if c.guests_kept > 0 {
        kept.push(plural(c.guests_kept, "guest", "guests"));
    }
    (!kept.is_empty()).then(|| format!("{} unchanged", kept.join(" and ")))
}

/// What the plan compared with: "Tallyfy organization ORG", or "the sandbox".
pub fn target_name(plan: &Plan) -> String {
    if plan.target.api_url.starts_with("sandbox:") {
        // One sandbox can serve several organizations (a workspace's targets).
        if plan.target.org.0 == "sandbox" { "the sandbox".to_string() } else { format!("sandbox organization {}", plan.target.org) }
    } else {
        format!("Tallyfy organization {}", plan.target.org)
    }
}

/// Where the plan writes, for its first line: "Tallyfy organization ORG at URL", or the
/// sandbox's organization and state file.
pub fn where_it_writes(plan: &Plan) -> String {
    let api = crate::names::visible(&plan.target.api_url).into_owned();
    match api.strip_prefix("sandbox:") {
        Some(state) => format!("Sandbox organization {} (state file {state})", crate::names::visible(&plan.target.org.0)),
        None => format!("Tallyfy organization {} at {api}", crate::names::visible(&plan.target.org.0)),
    }
}

/// The files the plan was made from: "groups.yaml", "a.yaml and b.yaml", "3 files".
pub fn sources_name(plan: &Plan) -> String {
    match plan.sources.as_slice() {
        [] => "the desired state".to_string(),
        [one] => file_name(one),
        [a, b] => format!("{} and {}", file_name(a), file_name(b)),
        more => format!("{} files", more.len()),
    }
}

fn file_name(path: &str) -> String {
    std::path::Path::new(path).file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| path.to_string())
}

/// One target of a workspace run, as the renderings show it.
#[derive(Debug, Clone, Copy)]
pub struct TargetView<'a> {
    /// The target's name in the workspace file.
    pub name: &'a str,
    /// The target's plan, or why there is none (the error message, already in words).
    pub plan: Result<&'a Plan, &'a str>,
    /// The target's own exit status (success, changes with `--detailed-exitcode`, error,
    /// refused, interrupted), decided by the caller.
    pub status: crate::outcome::ExitStatus,
}

/// What became of one target, as the multi-target renderings say it: decided by its exit status
/// first (interrupted, refused, failed), then by its plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TargetStatus {
    /// A plan with changes.
    Changes,
    /// A plan without changes.
    NoChanges,
    /// Refused by its removal guard.
    RefusedByGuard,
    /// Refused for another reason (a stale saved plan).
    Refused,
    /// No plan, or an error.
    Failed,
    Interrupted,
}

impl TargetStatus {
    pub(crate) fn of(t: &TargetView<'_>) -> Self {
        use crate::outcome::ExitStatus;
        match (t.status, t.plan) {
            (ExitStatus::Interrupted, _) => TargetStatus::Interrupted,
            (ExitStatus::Refused, Ok(plan)) if plan.guard.refuses() => TargetStatus::RefusedByGuard,
            (ExitStatus::Refused, _) => TargetStatus::Refused,
            (_, Err(_)) => TargetStatus::Failed,
            (ExitStatus::Success | ExitStatus::Changes, Ok(plan)) if plan.is_empty() => TargetStatus::NoChanges,
            (ExitStatus::Success | ExitStatus::Changes, Ok(_)) => TargetStatus::Changes,
            (ExitStatus::Error, Ok(_)) => TargetStatus::Failed,
        }
    }

    /// "no changes", "failed", "refused: removal guard"…; `None` for a plan with changes
    /// (its counts say it).
    pub(crate) fn words(self) -> Option<&'static str> {
        match self {
            TargetStatus::Changes => None,
            TargetStatus::NoChanges => Some("no changes"),
            TargetStatus::RefusedByGuard => Some("refused: removal guard"),
            TargetStatus::Refused => Some("refused"),
            TargetStatus::Failed => Some("failed"),
            TargetStatus::Interrupted => Some("interrupted"),
        }
    }

    /// Whether the status is a problem (the target did not plan, or will not apply).
    pub(crate) fn is_problem(self) -> bool {
        !matches!(self, TargetStatus::Changes | TargetStatus::NoChanges)
    }
}

/// "2 to create, 1 to update, 0 to delete".
pub(crate) fn action_counts(plan: &Plan) -> String {
    let s = &plan.summary;
    format!("{} to create, {} to update, {} to delete", s.create, s.update, s.delete)
}

/// A target's line in the summaries: "2 to create, 1 to update, 0 to delete", "no changes",
/// "failed", "refused: removal guard (0 to create, 0 to update, 7 to delete)".
pub(crate) fn target_outcome(t: &TargetView<'_>) -> String {
    let status = TargetStatus::of(t);
    match (status.words(), t.plan) {
        (None, Ok(plan)) => action_counts(plan),
        (Some(words), Ok(plan)) if !plan.is_empty() => format!("{words} ({})", action_counts(plan)),
        (Some(words), _) => words.to_string(),
        (None, Err(_)) => "failed".to_string(),
    }
}

/// What a rendering says under an action about where its group is used: `(warn, words)`;
/// `warn` when the group is in use (or named by archived templates), or its usage was not
/// checked (`--usage-check never`); `None` when the action needed no check.
pub fn usage_note(plan: &Plan, action: &crate::plan::Action) -> Option<(bool, String)> {
    if plan.usage.not_checked(action) {
        return Some((true, words::USAGE_NOT_CHECKED.to_string()));
    }
    let id = crate::usage::needs_check(action, plan.usage.check)?;
    let usage = plan.usage.of(id)?;
    Some((usage.in_use() || !usage.archived_templates.is_empty(), words::usage(usage)))
}

/// ` (expired 2026-12-31, TICKET-42)` after a member the action removes because an entry of its
/// group expired, or "".
pub fn expired_member_suffix(plan: &Plan, action: &crate::plan::Action, id: crate::model::UserId) -> String {
    let Some(group) = action.writes() else { return String::new() };
    let email = plan.users.get(&id).map(|u| &u.email);
    plan.expiry.expired_member(&group.name, id, email).map(|n| format!(" {}", words::expired_suffix(n))).unwrap_or_default()
}

/// The same for a guest.
pub fn expired_guest_suffix(plan: &Plan, action: &crate::plan::Action, email: &crate::model::Email) -> String {
    let Some(group) = action.writes() else { return String::new() };
    plan.expiry.expired_guest(&group.name, email).map(|n| format!(" {}", words::expired_suffix(n))).unwrap_or_default()
}

/// The last day of access of a member the group keeps or gains, when every entry that grants
/// them carries an `until` (the latest of those days); `None`: access without an end, or not
/// known (an entry of an included group).
pub fn member_until(
    plan: &Plan,
    group: &str,
    id: crate::model::UserId,
    prov: Option<&crate::plan::GroupProvenance>,
) -> Option<crate::date::Date> {
    let email = plan.users.get(&id).map(|u| &u.email);
    let notes = || plan.expiry.ongoing.iter().filter(move |n| n.group == group && n.list == crate::expiry::List::Members);
    let origins = prov.map(|p| p.member(id)).unwrap_or_default();
    if origins.is_empty() {
        return notes().find(|n| n.grants_member(id, email)).map(|n| n.until);
    }
    until_of_origins(origins, notes())
}

/// The same for a guest.
pub fn guest_until(
    plan: &Plan,
    group: &str,
    email: &crate::model::Email,
    prov: Option<&crate::plan::GroupProvenance>,
) -> Option<crate::date::Date> {
    let notes = || plan.expiry.ongoing.iter().filter(move |n| n.group == group && n.list == crate::expiry::List::Guests);
    let origins = prov.map(|p| p.guest(email)).unwrap_or_default();
    if origins.is_empty() {
        return notes().find(|n| n.grants_guest(email)).map(|n| n.until);
    }
    until_of_origins(origins, notes())
}

/// The latest `until` of the entries behind `origins`, when each has one.
fn until_of_origins<'n>(
    origins: &[crate::source::Provenance],
    notes: impl Iterator<Item = &'n crate::expiry::ExpiryNote> + Clone,
) -> Option<crate::date::Date> {
    let mut latest = None;
    for origin in origins {
        let found = match origin {
            crate::source::Provenance::Static { at } => {
                notes.clone().find(|n| format!("{}:{}:{}", n.at.file, n.at.line, n.at.column) == *at)
            }
            crate::source::Provenance::Source { source, .. } => notes.clone().find(|n| n.source.as_deref() == Some(source.as_str())),
        };
        let until = found?.until;
        latest = Some(latest.map_or(until, |l: crate::date::Date| l.max(until)));
    }
    latest
}

/// `Scope: 4 exact, 1 additive, 1 external, 2 not managed, 1 ignored.`: the groups the plan
/// covers, by how they are reconciled (a kind with none is left out, but for exact).
pub fn scope_line(plan: &Plan) -> String {
    let c = plan.scope_counts();
    let mut parts = vec![format!("{} exact", c.exact)];
    for (n, what) in [(c.additive, "additive"), (c.external, "external"), (c.not_managed, "not managed"), (c.ignored, "ignored")] {
        if n > 0 {
            parts.push(format!("{n} {what}"));
        }
    }
    format!("Scope: {}.", parts.join(", "))
}

/// `3 live members not in the file, kept (additive)` under a group that keeps people, or `None`.
pub fn kept_line(plan: &Plan, group: &str) -> Option<String> {
    let k = plan.kept.get(group)?;
    let mut parts = Vec::new();
    if k.members > 0 {
        parts.push(plural(k.members, "live member", "live members"));
    }
    if k.guests > 0 {
        parts.push(plural(k.guests, "live guest", "live guests"));
    }
    let why = match k.why {
        crate::diff::KeptWhy::Additive => "additive",
        crate::diff::KeptWhy::Keep => "its keep rules",
    };
    Some(format!("{} not in the file, kept ({why})", parts.join(" and ")))
}

/// `Needs review by: @acme/finance (Finance Approvers, Accounts Payable), @acme/it (IT Helpdesk)`
/// for the groups the plan changes, or `None` without reviewers.
pub fn reviewers_line(plan: &Plan) -> Option<String> {
    let mut by_reviewer: std::collections::BTreeMap<&str, Vec<&str>> = std::collections::BTreeMap::new();
    for (group, who) in &plan.reviewers {
        for r in who {
            by_reviewer.entry(r.as_str()).or_default().push(group.as_str());
        }
    }
    if by_reviewer.is_empty() {
        return None;
    }
    let parts: Vec<String> = by_reviewer.into_iter().map(|(r, groups)| format!("{r} ({})", groups.join(", "))).collect();
    Some(format!("Needs review by: {}", parts.join(", ")))
}

/// The heading of a plan's policy violations: how many, of which file, and what follows.
pub(crate) fn policy_heading(report: &crate::policy::PolicyReport, target: Option<&str>) -> String {
    let n = report.violations.len();
    let blocking = report.blocking().count();
    let of = format!("{} violation{} of {}", n, if n == 1 { "" } else { "s" }, crate::names::visible(&report.file));
    if blocking == 0 {
        format!("Policy: {of}, every one overridden with --allow-policy:")
    } else {
        let flag = target.map(|t| format!(" (target {t})")).unwrap_or_default();
        format!(
            "Policy: {of}{flag}: plan and apply refuse (exit 3) until the files keep the rules, or a rule is overridden with --allow-policy RULE=\"why\":"
        )
    }
}

/// The line that says a policy judged the plan and found nothing, when one did.
pub(crate) fn policy_kept_line(plan: &Plan) -> Option<String> {
    let report = plan.policy.as_ref()?;
    report.violations.is_empty().then(|| {
        let rules = report.checksum.get(7..19).unwrap_or_default();
        format!("Policy: {} ({rules}) kept, no violations.", crate::names::visible(&report.file))
    })
}
