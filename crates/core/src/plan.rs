//! The plan: plain, serialisable data that every renderer reads and `apply` executes, plus the
//! planner that builds it from the differences and computes the removal guard. Pure; no I/O.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::diff::{DeleteReason, Diff};
pub use crate::model::{Carried, Carry, GroupState};
use crate::model::{Email, GroupId, UserId, UserLookup};
use crate::source::Provenance;
pub use crate::warning::Warning;

/// Version of the plan's JSON form (`--format json`) and of the apply report (`--report`);
/// bumped on incompatible changes.
pub const FORMAT_VERSION: u32 = 2;

/// Tallyfy accepts about this many new guests per hour; apply paces invitations beyond it.
pub const GUEST_INVITES_PER_HOUR: u32 = 30;

/// One API call that apply will make.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Action {
    /// Invite an external guest (before any group lists them).
    CreateGuest {
        /// The guest's email.
        email: Email,
        /// Their first name: the file's, or one made from the address.
        first_name: String,
        /// Their last name: the file's, or one made from the address.
        last_name: String,
    },
    /// Create a group.
    CreateGroup {
        /// The group as it will be.
        after: GroupState,
    },
    /// Replace a group's name, description, members and guests.
    UpdateGroup {
        /// The group's id.
        id: GroupId,
        /// The group as it was read.
        before: GroupState,
        /// The group as it will be.
        after: GroupState,
        /// The live name when the group is renamed.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        renamed_from: Option<String>,
        /// Fields whose value comes from the live read.
        #[serde(default, skip_serializing_if = "is_default")]
        carried: Carried,
    },
    /// Delete a group.
    DeleteGroup {
        /// The group's id.
        id: GroupId,
        /// The group as it was read.
        before: GroupState,
        /// Why it goes.
        reason: DeleteReason,
    },
}

/// What kind of API call an action is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionKind {
    /// Invite a guest.
    InviteGuest,
    /// Create a group.
    CreateGroup,
    /// Update a group.
    UpdateGroup,
    /// Delete a group.
    DeleteGroup,
}

/// When apply runs an action: guests first, then group creates and updates, then deletes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Phase {
    /// Guest invitations.
    Guests,
    /// Group creates and updates.
    Writes,
    /// Group deletes.
    Deletes,
}

impl ActionKind {
    /// The phase apply runs this kind of action in.
    pub fn phase(self) -> Phase {
        match self {
            ActionKind::InviteGuest => Phase::Guests,
            ActionKind::CreateGroup | ActionKind::UpdateGroup => Phase::Writes,
            ActionKind::DeleteGroup => Phase::Deletes,
        }
    }
}

/// What a saved plan relies on for one action, checked again before it is applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reliance<'a> {
    /// The live group, unchanged since the plan (its fingerprint).
    Group(&'a GroupId),
    /// The name, still free (a create).
    FreeName(&'a str),
    /// The guest, still not in the organization (an invitation).
    NoGuest(&'a Email),
}

/// The one place that says what each action is and needs: its kind and phase, the group or
/// guest it is about, the guests it needs invited first, the members it sends, and what a saved
/// plan relies on for it.
impl Action {
    /// What kind of API call this is.
    pub fn kind(&self) -> ActionKind {
        match self {
            Action::CreateGuest { .. } => ActionKind::InviteGuest,
            Action::CreateGroup { .. } => ActionKind::CreateGroup,
            Action::UpdateGroup { .. } => ActionKind::UpdateGroup,
            Action::DeleteGroup { .. } => ActionKind::DeleteGroup,
        }
    }

    /// The phase apply runs it in.
    pub fn phase(&self) -> Phase {
        self.kind().phase()
    }

    /// The guest this action invites.
    pub fn invites(&self) -> Option<&Email> {
        match self {
            Action::CreateGuest { email, .. } => Some(email),
            _ => None,
        }
    }

    /// The state this action writes (creates and updates).
    pub fn writes(&self) -> Option<&GroupState> {
        match self {
            Action::CreateGroup { after } | Action::UpdateGroup { after, .. } => Some(after),
            _ => None,
        }
    }

    /// The state this action replaces or deletes.
    pub fn replaces(&self) -> Option<&GroupState> {
        match self {
            Action::UpdateGroup { before, .. } | Action::DeleteGroup { before, .. } => Some(before),
            _ => None,
        }
    }

    /// Guests the written group lists: an invitation of any of them must succeed first.
    pub fn needs_guests(&self) -> &[Email] {
        self.writes().map(|s| s.guests.as_slice()).unwrap_or_default()
    }

    /// Members the written group lists (what apply sends).
    pub fn sends_members(&self) -> &[UserId] {
        self.writes().map(|s| s.members.as_slice()).unwrap_or_default()
    }

    /// What a saved plan relies on for this action.
    pub fn relies_on(&self) -> Reliance<'_> {
        match self {
            Action::CreateGuest { email, .. } => Reliance::NoGuest(email),
            Action::CreateGroup { after } => Reliance::FreeName(&after.name),
            Action::UpdateGroup { id, .. } | Action::DeleteGroup { id, .. } => Reliance::Group(id),
        }
    }

    /// API calls apply makes for it: an update that carries live values reads the group first.
    pub fn api_calls(&self) -> usize {
        match self {
            Action::UpdateGroup { carried, .. } if carried.any() => 2,
            _ => 1,
        }
    }
}

fn is_default<T: Default + PartialEq>(v: &T) -> bool {
    *v == T::default()
}

/// Set differences of one group's members and guests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MembershipChange {
    /// Members added.
    pub members_added: Vec<UserId>,
    /// Members removed.
    pub members_removed: Vec<UserId>,
    /// Members in both.
    pub members_kept: usize,
    /// Guests added.
    pub guests_added: Vec<Email>,
    /// Guests removed.
    pub guests_removed: Vec<Email>,
    /// Guests in both.
    pub guests_kept: usize,
}

impl MembershipChange {
    /// The change from `before` to `after` (`None`: a group that does not exist, so has no
    /// memberships).
    pub fn between(before: Option<&GroupState>, after: Option<&GroupState>) -> Self {
        let set = |s: Option<&GroupState>| -> (BTreeSet<UserId>, BTreeSet<Email>) {
            s.map(|s| (s.members.iter().copied().collect(), s.guests.iter().cloned().collect())).unwrap_or_default()
        };
        let (bm, bg) = set(before);
        let (am, ag) = set(after);
        MembershipChange {
            members_added: am.difference(&bm).copied().collect(),
            members_removed: bm.difference(&am).copied().collect(),
            members_kept: am.intersection(&bm).count(),
            guests_added: ag.difference(&bg).cloned().collect(),
            guests_removed: bg.difference(&ag).cloned().collect(),
            guests_kept: ag.intersection(&bg).count(),
        }
    }

    /// Memberships removed: members and guests.
    pub fn removed(&self) -> usize {
        self.members_removed.len() + self.guests_removed.len()
    }
}

/// One reason the removal guard refuses a plan. Serialised with a `kind` tag.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum GuardTrip {
    /// More groups deleted than `max_deleted_groups`.
    TooManyDeletedGroups {
        /// The groups the plan deletes.
        deleted: usize,
        /// `max_deleted_groups`.
        max: usize,
    },
    /// More memberships removed than `max_removed_ratio` of the current ones.
    TooManyRemovedMemberships {
        /// The memberships the plan removes.
        removed: usize,
        /// The current memberships it could remove.
        current: usize,
        /// `removed / current`.
        ratio: f64,
        /// `max_removed_ratio`.
        max_ratio: f64,
    },
    /// `prune: true` with no groups listed.
    PruneWithNoGroups,
    /// Groups the plan deletes are still used by templates, active processes or open tasks.
    GroupInUse {
        /// Each such group and where it is used.
        groups: Vec<crate::usage::InUse>,
    },
}

/// The removal guard, computed at plan time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GuardReport {
    /// Groups the plan deletes.
    pub deleted_groups: usize,
    /// The most it may delete.
    pub max_deleted_groups: usize,
    /// Memberships (members + guests) removed by updates and deletes.
    pub removed_memberships: usize,
    /// Current memberships of the managed live groups.
    pub current_memberships: usize,
    /// `removed_memberships / current_memberships` (0 when there are none).
    pub removed_ratio: f64,
    /// The largest ratio allowed.
    pub max_removed_ratio: f64,
    /// The ratio counts only when more memberships than this are removed.
    pub min_removed_for_ratio: usize,
    /// `prune: true` with no groups listed.
    pub prune_with_no_groups: bool,
    /// Why apply will refuse; empty when the plan is within the limits.
    pub tripped: Vec<GuardTrip>,
    /// The reason given with `--allow-removals` when the guard tripped and was overridden.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed: Option<String>,
}

impl GuardReport {
    /// Whether the plan is beyond a limit (overridden or not).
    pub fn is_tripped(&self) -> bool {
        !self.tripped.is_empty()
    }

    /// Whether apply will refuse: tripped, and not overridden with a reason.
    pub fn refuses(&self) -> bool {
        self.is_tripped() && self.allowed.is_none()
    }

    /// Records an `--allow-removals` reason, when the guard tripped (a blank reason does not count).
    pub fn allow(&mut self, reason: Option<&str>) {
        if let Some(reason) = reason.map(str::trim).filter(|r| !r.is_empty())
            && self.is_tripped()
        {
            self.allowed = Some(reason.to_string());
        }
    }
}

/// Counts shown in every rendering.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Summary {
    /// Groups to create.
    pub create: usize,
    /// Groups to update.
    pub update: usize,
    /// Groups to delete.
    pub delete: usize,
    /// Guests to invite.
    pub guests_to_invite: usize,
    /// Listed groups that already match.
    pub unchanged: usize,
    /// API calls apply will make (one per action).
    pub api_calls: usize,
    /// Reads of where groups are used, made by the plan (and again by apply).
    #[serde(default)]
    pub usage_reads: usize,
}

/// The organization and API a plan was made for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Target {
    /// The API's base URL (or `sandbox:` and the state file of an embedded sandbox).
    pub api_url: String,
    /// The organization's id.
    pub org: crate::model::OrgId,
}

/// A user the plan mentions, for display (never drives apply).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRef {
    /// Their email.
    pub email: Email,
    /// Their name, or their email when they have none.
    pub name: String,
    /// Invited and not yet active: they gain access once they accept.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub pending: bool,
}

/// What a saved plan relied on: checked again before a saved plan is applied.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fingerprints {
    /// Group id → fingerprint of the live group the plan updates or deletes.
    pub groups: BTreeMap<GroupId, String>,
    /// Names (case-insensitive keys) that must still be free for the groups the plan creates.
    pub absent_names: Vec<String>,
    /// User id → fingerprint of the directory entry the plan resolved.
    pub users: BTreeMap<UserId, String>,
}

/// The plan: what apply will do, and everything the renderers show.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    /// [`FORMAT_VERSION`].
    pub format_version: u32,
    /// The organization and API the plan was made for.
    pub target: Target,
    /// In execution order: guests, creates, updates, deletes.
    pub actions: Vec<Action>,
    /// The counts every rendering shows.
    pub summary: Summary,
    /// Live groups not in the desired state, left alone: prune is off, or (with prune on) the
    /// warnings say why (`--no-removals`, an old name whose new one exists).
    pub unmanaged: Vec<String>,
    /// Live groups under a listed name left alone because another live group under the same
    /// name is the one matched.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub same_name: Vec<crate::diff::SameNameGroup>,
    /// Live groups matching `ignore`.
    pub ignored: Vec<String>,
    /// Live groups outside `--only`/`--exclude`.
    pub out_of_scope: usize,
    /// The removal guard.
    pub guard: GuardReport,
    /// What the renderings should say; none stops the plan.
    pub warnings: Vec<Warning>,
    /// Display directory of every user the plan mentions.
    pub users: BTreeMap<UserId, UserRef>,
    /// What a saved plan relies on.
    pub fingerprints: Fingerprints,
    /// Live groups that can never be written (blank name, odd id).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unmanageable: Vec<crate::diff::UnmanageableGroup>,
    /// The guard's limits, kept so that apply recomputes the guard from live state.
    pub limits: GuardLimits,
    /// Ids of the managed live groups (the guard's denominator).
    pub managed_groups: Vec<GroupId>,
    /// Lists of managed groups the plan cannot change, left out of the guard's denominator.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub unmanaged_lists: BTreeMap<GroupId, Vec<crate::model::GroupList>>,
    /// The files the desired state was read from. Display only.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<String>,
    /// Groups left untouched because they could not be resolved (`--keep-going`), with why.
    #[serde(skip)]
    pub errors: Vec<crate::desired::Diagnostic>,
    /// With `plan --baseline`: one entry per action, in action order. Display only.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub origins: Vec<Origin>,
    /// Where the people of each created or updated group come from, by the group's name (as it
    /// will be). Present when the desired state was expanded. Display only.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub provenance: BTreeMap<String, GroupProvenance>,
    /// Where the groups the plan deletes or empties are used (`--usage-check`).
    #[serde(default)]
    pub usage: crate::usage::UsageReport,
    /// Temporary access as of the day the plan was made: expired and expiring entries, overdue
    /// reviews.
    #[serde(default)]
    pub expiry: crate::expiry::ExpiryReport,
    /// Listed `external: true` groups (live names): managed elsewhere, never written.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub external: Vec<String>,
    /// Names of the groups the file reconciles additively (`sync: additive`).
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub additive: BTreeSet<String>,
    /// Live people not in the file that a group keeps, by the group's name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub kept: BTreeMap<String, crate::diff::KeptPeople>,
    /// Managed groups by how they are reconciled: `(exact, additive)`.
    #[serde(default)]
    pub sync_counts: (usize, usize),
    /// Who must review each changed group, by its name (with an owners file that names
    /// reviewers).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub reviewers: BTreeMap<String, Vec<String>>,
    /// With an owners file, `prune` deletes only live groups one of its rules allows.
    #[serde(default)]
    pub owned_only: bool,
    /// What the policy file (`--policy`) said of the plan, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<crate::policy::PolicyReport>,
}

/// How many groups of each scope a plan covers, for the line every rendering ends with.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ScopeCounts {
    /// Listed groups the file reconciles exactly.
    pub exact: usize,
    /// Listed groups it reconciles additively.
    pub additive: usize,
    /// Listed `external: true` groups.
    pub external: usize,
    /// Live groups not listed and left alone.
    pub not_managed: usize,
    /// Live groups matching `ignore`.
    pub ignored: usize,
}

impl Plan {
    /// The scope counts.
    pub fn scope_counts(&self) -> ScopeCounts {
        ScopeCounts {
            exact: self.sync_counts.0,
            additive: self.sync_counts.1,
            external: self.external.len(),
            not_managed: self.unmanaged.len(),
            ignored: self.ignored.len(),
        }
    }

    /// `exact` or `additive`: how the plan reconciles the group of this name.
    pub fn scope_of(&self, name: &str) -> crate::desired::Sync {
        if self.additive.contains(name) { crate::desired::Sync::Additive } else { crate::desired::Sync::Exact }
    }
}

/// Where the people of one group come from (display only; never drives apply).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupProvenance {
    /// The origins of each member the group will have.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub members: BTreeMap<UserId, Vec<Provenance>>,
    /// The origins of each guest the group will have.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub guests: BTreeMap<Email, Vec<Provenance>>,
    /// The sources the group uses, directly or through `{group}` entries, sorted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<String>,
    /// Distinct members and guests a source yielded.
    #[serde(default)]
    pub people: usize,
}

impl GroupProvenance {
    /// The origins of a member, when known.
    pub fn member(&self, id: UserId) -> &[Provenance] {
        self.members.get(&id).map_or(&[], Vec::as_slice)
    }

    /// The origins of a guest, when known.
    pub fn guest(&self, email: &Email) -> &[Provenance] {
        self.guests.get(email).map_or(&[], Vec::as_slice)
    }
}

/// Where a change comes from, relative to the target branch (`plan --baseline`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    /// The change under review introduces it.
    Introduced,
    /// Drift: the target branch's groups.yaml would make the same change.
    Drift,
    /// The group has drifted and the change under review changes it further.
    DriftAndIntroduced,
}

impl Origin {
    /// How the renderings name it.
    pub fn label(self) -> &'static str {
        match self {
            Origin::Introduced => "introduced by this change",
            Origin::Drift => "existing drift",
            Origin::DriftAndIntroduced => "existing drift, changed further by this change",
        }
    }
}

/// What an action is about, to pair actions of two plans.
fn action_key(a: &Action) -> String {
    match a.relies_on() {
        Reliance::NoGuest(email) => format!("guest:{email}"),
        Reliance::FreeName(name) => format!("name:{}", crate::model::name_key(name)),
        Reliance::Group(id) => format!("id:{id}"),
    }
}

/// Labels each action of `plan` as introduced or drift, by comparing it with the plan of the
/// target branch's groups.yaml against the same live state.
pub fn label_origins(plan: &mut Plan, baseline: &Plan) {
    let base: BTreeMap<String, &Action> = baseline.actions.iter().map(|a| (action_key(a), a)).collect();
    plan.origins = plan
        .actions
        .iter()
        .map(|a| match base.get(&action_key(a)) {
            None => Origin::Introduced,
            Some(b) if *b == a => Origin::Drift,
            Some(_) => Origin::DriftAndIntroduced,
        })
        .collect();
}

impl Plan {
    /// Whether there is nothing to do.
    pub fn is_empty(&self) -> bool {
        self.actions.is_empty()
    }

    /// "alice@example.com (Alice Smith)", or the id when the user is unknown.
    pub fn describe_user(&self, id: UserId) -> String {
        let pending = if self.users.get(&id).is_some_and(|u| u.pending) { ", invited, pending" } else { "" };
        match self.users.get(&id) {
            Some(u) if u.name != u.email.as_str() => format!("{} ({}{pending})", u.email, u.name),
            Some(u) if u.pending => format!("{} (invited, pending)", u.email),
            Some(u) => u.email.to_string(),
            None => format!("user id {id}"),
        }
    }
}

/// Guard limits and overrides.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GuardLimits {
    /// The most groups one apply may delete.
    pub max_deleted_groups: usize,
    /// The largest share of current memberships one apply may remove.
    pub max_removed_ratio: f64,
    /// The ratio applies only when more memberships than this are removed.
    pub min_removed_for_ratio: usize,
    /// `prune:` of the settings.
    pub prune: bool,
    /// The groups the file lists (not `absent`).
    pub desired_group_count: usize,
}

impl GuardLimits {
    /// The limits a desired state sets.
    pub fn of(desired: &crate::desired::DesiredState) -> Self {
        GuardLimits {
            max_deleted_groups: desired.settings.max_deleted_groups,
            max_removed_ratio: desired.settings.max_removed_ratio,
            min_removed_for_ratio: desired.settings.min_removed_for_ratio,
            prune: desired.settings.prune,
            desired_group_count: desired.groups.iter().filter(|g| !g.absent).count(),
        }
    }
}

/// Builds the plan from the differences.
pub fn build(diff: Diff, limits: &GuardLimits, directory: &dyn UserLookup, target: Target) -> Plan {
    let mut actions = Vec::new();
    for g in &diff.missing_guests {
        let (first_name, last_name) = guest_names(g);
        let given = diff.guest_names.get(g);
        let first_name = given.and_then(|n| n.first_name.clone()).unwrap_or(first_name);
        let last_name = given.and_then(|n| n.last_name.clone()).unwrap_or(last_name);
        actions.push(Action::CreateGuest { email: g.clone(), first_name, last_name });
    }
    for after in diff.creates {
        actions.push(Action::CreateGroup { after });
    }
    for u in diff.updates {
        actions.push(Action::UpdateGroup {
            id: u.live.id.clone(),
            before: GroupState::from_live(&u.live),
            after: u.after,
            renamed_from: u.renamed_from,
            carried: u.carried,
        });
    }
    for d in &diff.deletes {
        actions.push(Action::DeleteGroup { id: d.live.id.clone(), before: GroupState::from_live(&d.live), reason: d.reason });
    }

    let mut fingerprints = Fingerprints::default();
    // Fingerprints of the resolved users the actions send (an unchanged group relies on
    // nothing a saved plan would do).
    for id in sent_users(&actions).filter(|id| diff.resolved_users.contains(id)) {
        if let Some(u) = directory.user(id) {
            fingerprints.users.entry(id).or_insert_with(|| user_fingerprint(u));
        }
    }
    for a in &actions {
        match (a.relies_on(), a.replaces()) {
            (Reliance::Group(id), Some(before)) => {
                fingerprints.groups.insert(id.clone(), fingerprint(before));
            }
            (Reliance::FreeName(name), _) => fingerprints.absent_names.push(crate::model::name_key(name)),
            _ => {}
        }
    }
    let mut plan = assemble(actions, diff.managed_memberships, limits.clone(), diff.managed_groups, directory, target, fingerprints);
    plan.unmanaged_lists = diff.unmanaged_lists;
    plan.warnings.extend(diff.warnings);
    plan.summary.unchanged = diff.unchanged.len();
    plan.unmanaged = diff.unmanaged;
    plan.same_name = diff.same_name;
    plan.ignored = diff.ignored;
    plan.out_of_scope = diff.out_of_scope;
    plan.unmanageable = diff.unmanageable;
    plan.provenance = diff.provenance;
    plan.external = diff.external;
    plan.kept = diff.kept;
    plan.sync_counts = diff.sync_counts;
    plan
}

/// The fingerprint of a directory entry a plan relies on.
pub fn user_fingerprint(u: &crate::model::User) -> String {
    fingerprint(&(u.id, &u.email, u.status))
}

/// A plan from its actions: the guard, the counts, the pacing warning and the display names,
/// all computed here (never taken from a file). `current` is the memberships of the managed
/// live groups.
pub fn assemble(
    actions: Vec<Action>,
    current: usize,
    limits: GuardLimits,
    managed_groups: Vec<GroupId>,
    directory: &dyn UserLookup,
    target: Target,
    fingerprints: Fingerprints,
) -> Plan {
    let guard = guard(&actions, current, &limits);
    let mut warnings = Vec::new();
    let count = |kind: ActionKind| actions.iter().filter(|a| a.kind() == kind).count();
    let invites = count(ActionKind::InviteGuest);
    if invites > GUEST_INVITES_PER_HOUR as usize {
        let extra_minutes = (invites - GUEST_INVITES_PER_HOUR as usize) * 60 / GUEST_INVITES_PER_HOUR as usize;
        warnings.push(Warning::GuestPacing { invites, per_hour: GUEST_INVITES_PER_HOUR, extra_minutes });
    }
    let summary = Summary {
        create: count(ActionKind::CreateGroup),
        update: count(ActionKind::UpdateGroup),
        delete: count(ActionKind::DeleteGroup),
        guests_to_invite: invites,
        unchanged: 0,
        api_calls: actions.iter().map(Action::api_calls).sum(),
        usage_reads: 0,
    };
    // Display names of the users the actions mention.
    let mut users = BTreeMap::new();
    for id in mentioned_users(&actions) {
        if let Some(u) = directory.user(id) {
            users.entry(id).or_insert_with(|| UserRef {
                email: u.email.clone(),
                name: u.display_name(),
                pending: u.status == crate::model::UserStatus::Invited,
            });
        }
    }
    Plan {
        format_version: FORMAT_VERSION,
        target,
        actions,
        summary,
        unmanaged: Vec::new(),
        same_name: Vec::new(),
        ignored: Vec::new(),
        out_of_scope: 0,
        guard,
        warnings,
        users,
        fingerprints,
        unmanageable: Vec::new(),
        limits,
        managed_groups,
        unmanaged_lists: BTreeMap::new(),
        sources: Vec::new(),
        errors: Vec::new(),
        origins: Vec::new(),
        provenance: BTreeMap::new(),
        usage: crate::usage::UsageReport::default(),
        expiry: crate::expiry::ExpiryReport::default(),
        external: Vec::new(),
        additive: BTreeSet::new(),
        kept: BTreeMap::new(),
        sync_counts: (0, 0),
        reviewers: BTreeMap::new(),
        owned_only: false,
        policy: None,
    }
}

/// Members of the groups the actions create or update (what apply sends).
fn sent_users(actions: &[Action]) -> impl Iterator<Item = UserId> + '_ {
    actions.iter().flat_map(Action::sends_members).copied()
}

/// Every user an action mentions, before or after.
fn mentioned_users(actions: &[Action]) -> impl Iterator<Item = UserId> + '_ {
    actions.iter().flat_map(|a| {
        let before = a.replaces().map(|s| s.members.as_slice()).unwrap_or_default();
        before.iter().chain(a.sends_members()).copied()
    })
}

fn guard(actions: &[Action], current: usize, limits: &GuardLimits) -> GuardReport {
    let mut deleted = 0;
    let mut removed = 0;
    for a in actions {
        match a {
            Action::DeleteGroup { before, .. } => {
                deleted += 1;
                removed += before.membership_count();
            }
            Action::UpdateGroup { before, after, .. } => removed += MembershipChange::between(Some(before), Some(after)).removed(),
            _ => {}
        }
    }
    let ratio = if current == 0 { 0.0 } else { removed as f64 / current as f64 };
    let mut tripped = Vec::new();
    if deleted > limits.max_deleted_groups {
        tripped.push(GuardTrip::TooManyDeletedGroups { deleted, max: limits.max_deleted_groups });
    }
    if ratio > limits.max_removed_ratio && removed > limits.min_removed_for_ratio {
        tripped.push(GuardTrip::TooManyRemovedMemberships { removed, current, ratio, max_ratio: limits.max_removed_ratio });
    }
    let prune_with_no_groups = limits.prune && limits.desired_group_count == 0;
    if prune_with_no_groups {
        tripped.push(GuardTrip::PruneWithNoGroups);
    }
    GuardReport {
        deleted_groups: deleted,
        max_deleted_groups: limits.max_deleted_groups,
        removed_memberships: removed,
        current_memberships: current,
        removed_ratio: ratio,
        max_removed_ratio: limits.max_removed_ratio,
        min_removed_for_ratio: limits.min_removed_for_ratio,
        prune_with_no_groups,
        tripped,
        allowed: None,
    }
}

/// First and last name for a new guest, from the address: `client.liaison@x` → Client, Liaison.
pub fn guest_names(email: &Email) -> (String, String) {
    let local = email.as_str().split('@').next().unwrap_or_default();
    let mut parts = local.split(['.', '_', '-', '+']).filter(|p| !p.is_empty()).map(capitalise);
    let first = parts.next().unwrap_or_else(|| local.to_string());
    let rest: Vec<String> = parts.collect();
    let last = if rest.is_empty() { "(guest)".to_string() } else { rest.join(" ") };
    (first, last)
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

/// A stable fingerprint (FNV-1a 64 over the canonical JSON form).
pub fn fingerprint(value: &impl Serialize) -> String {
    let bytes = serde_json::to_vec(value).unwrap_or_default();
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guest_names_from_the_address() {
        assert_eq!(guest_names(&Email::new("client.liaison@partner.com")), ("Client".into(), "Liaison".into()));
        assert_eq!(guest_names(&Email::new("bob@x.co")), ("Bob".into(), "(guest)".into()));
    }

    #[test]
    fn fingerprints_are_stable_and_sensitive() {
        let a = GroupState { name: "A".into(), description: "d".into(), members: vec![UserId(1)], guests: vec![] };
        let mut b = a.clone();
        assert_eq!(fingerprint(&a), fingerprint(&b));
        b.members.push(UserId(2));
        assert_ne!(fingerprint(&a), fingerprint(&b));
        assert_eq!(fingerprint(&a).len(), 16);
    }
}
