//! The plan as JSON for other tools (one target's, or every target's of a workspace run);
//! documented field by field in docs/plan-format.md. Pure; no I/O.

use schemars::JsonSchema;
use serde::Serialize;

use super::words;
use crate::model::{Email, GroupId, UserId};
use crate::plan::{Action, GroupProvenance, GroupState, GuardReport, GuardTrip, MembershipChange, Origin, Plan, Summary, Target};
use crate::report::{ActionResult, ApplyReport};
use crate::source::Provenance;
use crate::warning::Warning;

/// A typed fact with its sentence: the fact's own fields (and `kind` tag), then `message`.
#[derive(Serialize, JsonSchema)]
struct Said<'a, T> {
    #[serde(flatten)]
    fact: &'a T,
    message: String,
}

/// The guard with each trip said.
#[derive(Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
struct JsonGuard<'a> {
    deleted_groups: usize,
    max_deleted_groups: usize,
    removed_memberships: usize,
    current_memberships: usize,
    removed_ratio: f64,
    max_removed_ratio: f64,
    min_removed_for_ratio: usize,
    prune_with_no_groups: bool,
    tripped: Vec<Said<'a, GuardTrip>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    allowed: Option<&'a str>,
}

impl<'a> JsonGuard<'a> {
    fn of(g: &'a GuardReport) -> Self {
        JsonGuard {
            deleted_groups: g.deleted_groups,
            max_deleted_groups: g.max_deleted_groups,
            removed_memberships: g.removed_memberships,
            current_memberships: g.current_memberships,
            removed_ratio: g.removed_ratio,
            max_removed_ratio: g.max_removed_ratio,
            min_removed_for_ratio: g.min_removed_for_ratio,
            prune_with_no_groups: g.prune_with_no_groups,
            tripped: g.tripped.iter().map(|t| Said { fact: t, message: words::guard_trip(t) }).collect(),
            allowed: g.allowed.as_deref(),
        }
    }
}

/// The policy's judgement: its file and checksum, every violation with its sentence (first, so
/// that a reader meets what stops the plan before the changes), the overrides.
#[derive(Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
struct JsonPolicy<'a> {
    file: &'a str,
    checksum: &'a str,
    passed: bool,
    violations: Vec<Said<'a, crate::policy::Violation>>,
    overrides: &'a [crate::policy::PolicyOverride],
}

impl<'a> JsonPolicy<'a> {
    fn of(r: &'a crate::policy::PolicyReport) -> Self {
        JsonPolicy {
            file: &r.file,
            checksum: &r.checksum,
            passed: r.blocking().next().is_none(),
            violations: r.violations.iter().map(|v| Said { fact: v, message: words::policy_violation(v) }).collect(),
            overrides: &r.overrides,
        }
    }
}

#[derive(Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
struct JsonPlan<'a> {
    format_version: u32,
    target: &'a Target,
    #[serde(skip_serializing_if = "Option::is_none")]
    policy: Option<JsonPolicy<'a>>,
    summary: &'a Summary,
    changes: Vec<JsonChange<'a>>,
    guests_to_invite: Vec<JsonGuest<'a>>,
    unmanaged: &'a [String],
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    same_name: &'a [crate::diff::SameNameGroup],
    unmanageable: &'a [crate::diff::UnmanageableGroup],
    ignored: &'a [String],
    out_of_scope: usize,
    guard: JsonGuard<'a>,
    warnings: Vec<Said<'a, Warning>>,
    usage_check: crate::usage::UsageCheck,
    scope_counts: crate::plan::ScopeCounts,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    external: &'a [String],
    evaluated_at: crate::date::Date,
    expired: &'a [crate::expiry::ExpiryNote],
    expiring: &'a [crate::expiry::ExpiryNote],
    overdue_reviews: &'a [crate::expiry::OverdueReview],
}

#[derive(Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
struct JsonGuest<'a> {
    email: &'a Email,
    first_name: &'a str,
    last_name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    origin: Option<Origin>,
}

#[derive(Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
struct JsonChange<'a> {
    action: &'static str,
    group: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<&'a GroupId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    renamed_from: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<crate::diff::DeleteReason>,
    before: Option<JsonState<'a>>,
    after: Option<JsonState<'a>>,
    members_added: Vec<JsonUser<'a>>,
    members_removed: Vec<JsonUser<'a>>,
    members_unchanged: usize,
    guests_added: Vec<Email>,
    guests_removed: Vec<Email>,
    guests_unchanged: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    origin: Option<Origin>,
    /// The sources the group uses (with an expanded desired state, when it uses any).
    #[serde(skip_serializing_if = "Option::is_none")]
    sources: Option<JsonSources<'a>>,
    /// Where the group is used, for a group the usage check is about.
    #[serde(skip_serializing_if = "Option::is_none")]
    usage: Option<JsonUsage<'a>>,
    /// How the file reconciles the group: `exact` or `additive`.
    scope: crate::desired::Sync,
    /// Live people not in the file that the group keeps.
    #[serde(skip_serializing_if = "Option::is_none")]
    kept: Option<&'a crate::diff::KeptPeople>,
    /// Who must review the change (with an owners file that names reviewers).
    #[serde(skip_serializing_if = "Option::is_none")]
    reviewers: Option<&'a [String]>,
}

/// Where a group is used: `checked: false` under `--usage-check never`; otherwise the usage
/// read, whether it counts as in use, and the sentence.
#[derive(Serialize, JsonSchema)]
struct JsonUsage<'a> {
    checked: bool,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    usage: Option<&'a crate::usage::GroupUsage>,
    #[serde(skip_serializing_if = "Option::is_none")]
    in_use: Option<bool>,
    message: String,
}

fn usage_of<'a>(plan: &'a Plan, action: &Action) -> Option<JsonUsage<'a>> {
    let (_, message) = super::usage_note(plan, action)?;
    if plan.usage.not_checked(action) {
        return Some(JsonUsage { checked: false, usage: None, in_use: None, message });
    }
    let usage = crate::usage::needs_check(action, plan.usage.check).and_then(|id| plan.usage.of(id))?;
    Some(JsonUsage { checked: true, usage: Some(usage), in_use: Some(usage.in_use()), message })
}

#[derive(Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
struct JsonSources<'a> {
    names: &'a [String],
    people: usize,
}

#[derive(Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
struct JsonState<'a> {
    name: &'a str,
    description: &'a str,
    members: Vec<JsonUser<'a>>,
    guests: &'a [Email],
    /// Each guest's origins (the state after the change, with an expanded desired state).
    #[serde(skip_serializing_if = "Option::is_none")]
    guest_origins: Option<std::collections::BTreeMap<&'a Email, &'a [Provenance]>>,
    /// The last day of access of each guest whose every entry has one (the state after the change).
    #[serde(skip_serializing_if = "Option::is_none")]
    guest_until: Option<std::collections::BTreeMap<&'a Email, crate::date::Date>>,
}

#[derive(Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
struct JsonUser<'a> {
    id: UserId,
    email: Option<String>,
    name: Option<String>,
    /// Invited, not yet active.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pending: bool,
    /// Where the member comes from (members the group will have, with an expanded desired state).
    #[serde(skip_serializing_if = "Option::is_none")]
    origins: Option<&'a [Provenance]>,
    /// The last day of access, when every entry that grants it has one (members the group will have).
    #[serde(skip_serializing_if = "Option::is_none")]
    until: Option<crate::date::Date>,
}

/// A member for display; `kept`: the group the member keeps or gains (their origins and last
/// day are shown), none for a member before or removed.
fn user<'a>(plan: &Plan, id: UserId, prov: Option<&'a GroupProvenance>, kept: Option<&str>) -> JsonUser<'a> {
    let u = plan.users.get(&id);
    JsonUser {
        id,
        email: u.map(|u| u.email.to_string()),
        name: u.map(|u| u.name.clone()),
        pending: u.is_some_and(|u| u.pending),
        origins: prov.filter(|_| kept.is_some()).map(|p| p.member(id)),
        until: kept.and_then(|group| super::member_until(plan, group, id, prov)),
    }
}

/// A group's state; `prov`: the origins of its people, and `after`: the state after a change
/// (its people's origins and last days are shown).
fn state<'a>(plan: &Plan, s: &'a GroupState, prov: Option<&'a GroupProvenance>, after: bool) -> JsonState<'a> {
    let kept = after.then_some(s.name.as_str());
    let guest_until: std::collections::BTreeMap<&Email, crate::date::Date> = if after {
        s.guests.iter().filter_map(|g| super::guest_until(plan, &s.name, g, prov).map(|d| (g, d))).collect()
    } else {
        Default::default()
    };
    JsonState {
        name: &s.name,
        description: &s.description,
        members: s.members.iter().map(|id| user(plan, *id, prov, kept)).collect(),
        guests: &s.guests,
        guest_origins: prov.filter(|_| after).map(|p| s.guests.iter().map(|g| (g, p.guest(g))).collect()),
        guest_until: (!guest_until.is_empty()).then_some(guest_until),
    }
}

/// Renders the plan as pretty JSON (with a trailing newline).
pub fn render_plan(plan: &Plan) -> String {
    serde_json::to_string_pretty(&view(plan)).unwrap_or_default() + "\n"
}

/// The JSON document of several targets' plans (a workspace run).
#[derive(Serialize, JsonSchema)]
struct JsonTargets<'a> {
    format_version: u32,
    exit_code: i32,
    /// Every target's own exit code, so a tool can tell which target refused or failed.
    exit_codes: InOrder<'a, i32>,
    targets: InOrder<'a, JsonPlan<'a>>,
    failed: InOrder<'a, JsonFailed<'a>>,
}

/// A target without a plan.
#[derive(Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
struct JsonFailed<'a> {
    exit_code: i32,
    error: &'a str,
}

/// A JSON object whose keys keep the order given.
struct InOrder<'a, T>(Vec<(&'a str, T)>);

/// An object of `T` by name.
impl<T: JsonSchema> JsonSchema for InOrder<'_, T> {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        format!("Map_of_{}", T::schema_name()).into()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        std::collections::BTreeMap::<String, T>::json_schema(generator)
    }
}

/// What `plan --format json` prints: one organization's plan, or a workspace run's targets.
#[derive(JsonSchema)]
#[allow(dead_code, clippy::large_enum_variant)] // only its schema is used
#[serde(untagged)]
enum PlanDocument<'a> {
    /// One organization's plan.
    One(JsonPlan<'a>),
    /// A workspace run: every target's plan by name, and the targets without one.
    Targets(JsonTargets<'a>),
}

/// The JSON Schema of `plan --format json` (`schema --plan`), as pretty
/// JSON with a trailing newline: one organization's plan object, or a workspace run's.
pub fn schema_json() -> String {
    let mut schema =
        schemars::generate::SchemaSettings::draft2020_12().for_serialize().into_generator().into_root_schema_for::<PlanDocument<'_>>();
    schema.insert("title".into(), "tallyfy-groups plan --format json".into());
    serde_json::to_string_pretty(&schema).unwrap_or_default() + "\n"
}

impl<T: Serialize> Serialize for InOrder<'_, T> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

/// Renders the plans of several targets (a workspace run) as pretty JSON (with a trailing
/// newline): `format_version`, `exit_code` (the most severe across targets), `exit_codes` (each
/// target's own), `targets` (each
/// planned target's name → exactly the object [`render_plan`] gives for its plan) and `failed`
/// (each target without a plan → its `exit_code` and `error`; present even when empty). Both
/// maps keep the order of `targets`. Documented in docs/plan-format.md.
pub fn render_targets(targets: &[super::TargetView<'_>]) -> String {
    let doc = JsonTargets {
        format_version: crate::plan::FORMAT_VERSION,
        exit_code: crate::outcome::ExitStatus::most_severe(targets.iter().map(|t| t.status)).code(),
        exit_codes: InOrder(targets.iter().map(|t| (t.name, t.status.code())).collect()),
        targets: InOrder(targets.iter().filter_map(|t| t.plan.ok().map(|plan| (t.name, view(plan)))).collect()),
        failed: InOrder(
            targets.iter().filter_map(|t| t.plan.err().map(|error| (t.name, JsonFailed { exit_code: t.status.code(), error }))).collect(),
        ),
    };
    serde_json::to_string_pretty(&doc).unwrap_or_default() + "\n"
}

/// The plan's JSON object.
fn view(plan: &Plan) -> JsonPlan<'_> {
    let mut changes = Vec::new();
    let mut guests = Vec::new();
    for (i, a) in plan.actions.iter().enumerate() {
        let origin = plan.origins.get(i).copied();
        let (action, group, id, renamed_from, reason, before, after) = match a {
            Action::CreateGuest { email, first_name, last_name } => {
                guests.push(JsonGuest { email, first_name, last_name, origin });
                continue;
            }
            Action::CreateGroup { after } => ("create", after.name.as_str(), None, None, None, None, Some(after)),
            Action::UpdateGroup { id, before, after, renamed_from, .. } => {
                ("update", after.name.as_str(), Some(id), renamed_from.as_deref(), None, Some(before), Some(after))
            }
            Action::DeleteGroup { id, before, reason } => {
                ("delete", before.name.as_str(), Some(id), None, Some(*reason), Some(before), None)
            }
        };
        let c = MembershipChange::between(before, after);
        let prov = super::provenance_of(plan, a);
        changes.push(JsonChange {
            action,
            group,
            id,
            renamed_from,
            reason,
            before: before.map(|s| state(plan, s, None, false)),
            after: after.map(|s| state(plan, s, prov, true)),
            members_added: c.members_added.iter().map(|id| user(plan, *id, prov, after.map(|a| a.name.as_str()))).collect(),
            members_removed: c.members_removed.iter().map(|id| user(plan, *id, None, None)).collect(),
            members_unchanged: c.members_kept,
            guests_added: c.guests_added,
            guests_removed: c.guests_removed,
            guests_unchanged: c.guests_kept,
            origin,
            sources: prov.filter(|p| !p.sources.is_empty()).map(|p| JsonSources { names: &p.sources, people: p.people }),
            usage: usage_of(plan, a),
            scope: plan.scope_of(group),
            kept: plan.kept.get(group),
            reviewers: plan.reviewers.get(group).map(Vec::as_slice),
        });
    }
    JsonPlan {
        format_version: plan.format_version,
        target: &plan.target,
        policy: plan.policy.as_ref().map(JsonPolicy::of),
        summary: &plan.summary,
        changes,
        guests_to_invite: guests,
        unmanaged: &plan.unmanaged,
        same_name: &plan.same_name,
        unmanageable: &plan.unmanageable,
        ignored: &plan.ignored,
        out_of_scope: plan.out_of_scope,
        guard: JsonGuard::of(&plan.guard),
        warnings: sorted_warnings(&plan.warnings),
        usage_check: plan.usage.check,
        scope_counts: plan.scope_counts(),
        external: &plan.external,
        evaluated_at: plan.expiry.evaluated_at,
        expired: &plan.expiry.expired,
        expiring: &plan.expiry.expiring,
        overdue_reviews: &plan.expiry.overdue_reviews,
    }
}

/// The warnings with their sentences, in the order the other renderings show them.
fn sorted_warnings(ws: &[Warning]) -> Vec<Said<'_, Warning>> {
    let mut out: Vec<Said<'_, Warning>> = ws.iter().map(|w| Said { fact: w, message: words::warning(w) }).collect();
    out.sort_by(|a, b| a.message.cmp(&b.message));
    out
}

#[derive(Serialize)]
struct JsonReport<'a> {
    format_version: u32,
    /// Where the actions were sent (absent where the caller does not say).
    #[serde(skip_serializing_if = "Option::is_none")]
    target: Option<&'a crate::plan::Target>,
    results: Vec<JsonResult<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    allow_removals: Option<&'a str>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    policy_overrides: &'a [crate::policy::PolicyOverride],
}

#[derive(Serialize)]
struct JsonResult<'a> {
    #[serde(flatten)]
    result: &'a ActionResult,
    /// The outcome in words (absent when applied).
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<String>,
}

/// Renders the apply report (`apply --report`) as pretty JSON (with a trailing newline);
/// documented in docs/plan-format.md.
pub fn render_report(report: &ApplyReport) -> String {
    serde_json::to_string_pretty(&JsonReport::of(report)).unwrap_or_default() + "\n"
}

/// The same, naming the organization and API URL the actions were sent to (`"target"`, as in
/// the JSON plan).
pub fn render_report_to(report: &ApplyReport, target: &crate::plan::Target) -> String {
    serde_json::to_string_pretty(&JsonReport { target: Some(target), ..JsonReport::of(report) }).unwrap_or_default() + "\n"
}

/// Renders the apply reports of a workspace's targets (`apply --report`) as pretty JSON:
/// `{"format_version": N, "targets": {name: report}}`, each report exactly what
/// [`render_report`] gives, the targets by name.
pub fn render_reports<'a>(reports: impl IntoIterator<Item = (&'a str, &'a ApplyReport, Option<&'a crate::plan::Target>)>) -> String {
    #[derive(Serialize)]
    struct JsonReports<'a> {
        format_version: u32,
        targets: std::collections::BTreeMap<&'a str, JsonReport<'a>>,
    }
    let doc = JsonReports {
        format_version: crate::plan::FORMAT_VERSION,
        targets: reports.into_iter().map(|(name, report, target)| (name, JsonReport { target, ..JsonReport::of(report) })).collect(),
    };
    serde_json::to_string_pretty(&doc).unwrap_or_default() + "\n"
}

impl<'a> JsonReport<'a> {
    fn of(report: &'a ApplyReport) -> Self {
        JsonReport {
            format_version: crate::plan::FORMAT_VERSION,
            target: None,
            results: report.results.iter().map(|r| JsonResult { result: r, message: words::outcome_detail(&r.outcome) }).collect(),
            allow_removals: report.allow_removals.as_deref(),
            policy_overrides: &report.policy_overrides,
        }
    }
}
