//! The differ: desired groups (resolved) + live groups → what must be created, updated, deleted
//! or left alone. Member and guest changes are set differences. Pure; no I/O.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use serde::{Deserialize, Serialize};

use crate::desired::{DesiredState, Settings};
use crate::model::{Carried, Carry, Email, GroupId, GroupList, GroupState, Guest, LiveGroup, Unmanageable, Unread, UserId, name_key};
use crate::resolve::ResolvedGroup;
use crate::warning::{At, Warning};

/// `--only` / `--exclude` globs over group names.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scope {
    only: Vec<glob::Pattern>,
    exclude: Vec<glob::Pattern>,
    /// Exact names (case-insensitive keys) left out: groups that could not be resolved under
    /// `--keep-going`, with their old names.
    skipped: HashSet<String>,
}

impl Scope {
    /// Compiles the globs, or says which one is not valid.
    pub fn new(only: &[String], exclude: &[String]) -> Result<Self, String> {
        let compile = |list: &[String]| {
            list.iter()
                .map(|p| glob::Pattern::new(p).map_err(|e| format!("`{p}` is not a valid glob: {}", e.msg)))
                .collect::<Result<Vec<_>, _>>()
        };
        Ok(Scope { only: compile(only)?, exclude: compile(exclude)?, skipped: HashSet::new() })
    }

    /// Leaves these names (any case) out of scope as well.
    pub fn skip(&mut self, names: impl IntoIterator<Item = String>) {
        self.skipped.extend(names.into_iter().map(|n| name_key(&n)));
    }

    /// Whether a live group of this name is in scope: matched by `--only` (if given), not by
    /// `--exclude`, and not skipped.
    pub fn includes(&self, name: &str) -> bool {
        (self.only.is_empty() || self.only.iter().any(|p| p.matches(name)))
            && !self.exclude.iter().any(|p| p.matches(name))
            && (self.skipped.is_empty() || !self.skipped.contains(&name_key(name)))
    }
}

/// Options of one diff.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DiffOptions {
    /// Which live groups take part.
    pub scope: Scope,
    /// Additive-only: never remove a member, guest or group.
    pub no_removals: bool,
    /// Plan every group that resolves; leave the others untouched (and fail the run at the end).
    pub keep_going: bool,
}

/// Why a group is deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeleteReason {
    /// `absent: true` in the desired state.
    Absent,
    /// Not listed, and `prune: true`.
    Pruned,
}

/// A live group that changes.
#[derive(Debug, Clone, PartialEq)]
pub struct Update {
    /// The group as it is live.
    pub live: LiveGroup,
    /// The group as it will be.
    pub after: GroupState,
    /// Its live name, when the update renames it.
    pub renamed_from: Option<String>,
    /// Values of `after` that come from the live read rather than the file.
    pub carried: Carried,
}

/// A live group that goes.
#[derive(Debug, Clone, PartialEq)]
pub struct Delete {
    /// The group as it is live.
    pub live: LiveGroup,
    /// Why it goes.
    pub reason: DeleteReason,
}

/// The differences, sorted by group name.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Diff {
    /// Groups to create.
    pub creates: Vec<GroupState>,
    /// Live groups to change.
    pub updates: Vec<Update>,
    /// Live groups to delete.
    pub deletes: Vec<Delete>,
    /// Names of the listed live groups that already match.
    pub unchanged: Vec<String>,
    /// Names of the live groups left alone: not listed (and not pruned), or a second group
    /// under a listed name.
    pub unmanaged: Vec<String>,
    /// Names of the live groups that match `ignore`.
    pub ignored: Vec<String>,
    /// Live groups outside `--only`/`--exclude`.
    pub out_of_scope: usize,
    /// Guests that groups will list but that do not exist yet, with the names groups.yaml gives
    /// them (if any).
    pub missing_guests: BTreeSet<Email>,
    /// The names groups.yaml gives guests, for their invitations.
    pub guest_names: std::collections::BTreeMap<Email, crate::desired::GuestName>,
    /// What the plan should say but does not stop it.
    pub warnings: Vec<Warning>,
    /// Current memberships the plan could remove (the guard's denominator): those of the lists
    /// the file manages, and every membership of a group it deletes.
    pub managed_memberships: usize,
    /// Ids of the managed live groups (what the guard's denominator counts).
    pub managed_groups: Vec<GroupId>,
    /// Lists of managed live groups that the plan cannot change (not in the file, or
    /// `--no-removals`): left out of the guard's denominator.
    pub unmanaged_lists: BTreeMap<GroupId, Vec<GroupList>>,
    /// Every user id the desired state resolved to.
    pub resolved_users: BTreeSet<UserId>,
    /// Live groups that can never be written (blank name, odd id): listed, never touched.
    pub unmanageable: Vec<UnmanageableGroup>,
    /// Live groups left alone because another live group under the same name is the one matched.
    pub same_name: Vec<SameNameGroup>,
    /// Live groups the plan would write but whose lists were not read whole: the plan fails.
    pub unread: Vec<UnreadGroup>,
    /// Where the people of each created or updated group come from, by the group's name (for
    /// groups of an expanded desired state).
    pub provenance: BTreeMap<String, crate::plan::GroupProvenance>,
    /// Listed `external: true` groups found live (by their live name): never written.
    pub external: Vec<String>,
    /// Listed `external: true` groups not found live: the plan fails.
    pub missing_external: Vec<String>,
    /// Live members and guests not in the file that a group keeps, by the group's name:
    /// `(members, guests, why)` (additive groups; `keep:` rules).
    pub kept: BTreeMap<String, KeptPeople>,
    /// Managed groups by how they are reconciled: `(exact, additive)`.
    pub sync_counts: (usize, usize),
}

/// Live people a group keeps although the file does not list them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct KeptPeople {
    /// Members kept.
    pub members: usize,
    /// Guests kept.
    pub guests: usize,
    /// `additive` (`sync: additive`) or `keep` (its `keep:` rules).
    pub why: KeptWhy,
}

/// Why a group keeps people the file does not list.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum KeptWhy {
    /// `sync: additive`.
    #[default]
    Additive,
    /// `keep:` rules.
    Keep,
}

/// A live group that is listed but never deleted, renamed or adopted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct UnmanageableGroup {
    /// The group's live name.
    pub name: String,
    /// Its id.
    pub id: GroupId,
    /// Why it cannot be written.
    pub why: Unmanageable,
}

/// A live group under a name that groups.yaml lists, left alone because another live group has
/// the same name (by [`name_key`]) and is the one matched: which of them the file means is for a
/// person to settle, so this one is never renamed, updated, adopted or pruned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SameNameGroup {
    /// The group left alone.
    pub name: String,
    /// Its id.
    pub id: GroupId,
    /// The live group under the same name that is matched.
    pub matched: String,
    /// Its id.
    pub matched_id: GroupId,
}

/// A live group the plan would write although its lists were not read whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnreadGroup {
    /// The group's live name.
    pub name: String,
    /// Its id.
    pub id: GroupId,
    /// The lists that were not read whole.
    pub unread: Vec<Unread>,
}

impl UnreadGroup {
    fn of(live: &LiveGroup) -> Self {
        UnreadGroup { name: live.name.clone(), id: live.id.clone(), unread: live.unread.clone() }
    }
}

/// Whether a write (update or delete) of `live` may go ahead; records why not.
fn writable(live: &LiveGroup, out: &mut Diff) -> bool {
    if let Some(why) = live.unmanageable() {
        out.unmanageable.push(UnmanageableGroup { name: live.name.clone(), id: live.id.clone(), why });
        return false;
    }
    if !live.is_fully_known() {
        out.unread.push(UnreadGroup::of(live));
        return false;
    }
    true
}

/// Compares the desired groups in scope with the live groups.
pub fn diff(
    desired: &DesiredState,
    resolved: &[ResolvedGroup<'_>],
    live_groups: &[LiveGroup],
    live_guests: Option<&[Guest]>,
    options: &DiffOptions,
) -> Diff {
    let settings: &Settings = &desired.settings;
    let mut out = Diff::default();
    let mut index = LiveIndex::new(live_groups, settings, &options.scope, &mut out);
    let present: Vec<&ResolvedGroup> = resolved.iter().filter(|r| !r.desired.absent).collect();
    let matched = index.match_present(&present);
    let candidates = &index.candidates;
    let blocked = protect_out_of_scope(&present, &matched, candidates, &index.outside, &mut out.warnings);
    let skeletons = skeletons(candidates);
    let ignored: Vec<(&LiveGroup, &str)> = live_groups
        .iter()
        .filter_map(|g| settings.ignore.iter().find(|p| p.value.matches(&g.name)).map(|p| (g, p.value.as_str())))
        .collect();
    unmatched_previously(&present, &matched, &blocked, candidates, &ignored, &skeletons, &mut out.warnings);
    look_alike_names(&present, &matched, &blocked, &skeletons, &mut out.warnings);

    for ((slot, r), blocked) in matched.iter().zip(&present).zip(&blocked) {
        if *blocked {
            continue;
        }
        if r.desired.external {
            match *slot {
                Some(i) => out.external.push(candidates[i].name.clone()),
                None => out.missing_external.push(r.desired.name.value.clone()),
            }
            continue;
        }
        if let Some(m) = &r.members {
            out.resolved_users.extend(m.iter().copied());
        }
        match r.desired.sync {
            crate::desired::Sync::Exact => out.sync_counts.0 += 1,
            crate::desired::Sync::Additive => out.sync_counts.1 += 1,
        }
        let written = out.creates.len() + out.updates.len();
        match *slot {
            None => out.creates.push(new_group(r, settings)),
            Some(i) => group_update(r, candidates[i], options, &mut out),
        }
        if out.creates.len() + out.updates.len() > written
            && let Some(p) = &r.provenance
        {
            out.provenance.insert(r.desired.name.value.clone(), p.clone());
        }
    }
    absent_groups(resolved, &mut index, &skeletons, options, &mut out);
    classify_unclaimed(desired, &present, &index, options, &mut out);
    missing_guests(desired, live_groups, live_guests, &mut out);
    sort(&mut out);
    out
}

/// The live groups that take part in matching (not ignored), indexed by exact and case-folded
/// name, and which of them are taken.
struct LiveIndex<'a> {
    candidates: Vec<&'a LiveGroup>,
    exact: HashMap<&'a str, Vec<usize>>,
    folded: HashMap<String, Vec<usize>>,
    /// Outside `--only`/`--exclude`: never matched, renamed, updated or deleted.
    outside: Vec<bool>,
    claimed: Vec<bool>,
}

impl<'a> LiveIndex<'a> {
    /// Indexes the live groups; records the ignored ones and warns about duplicate names.
    fn new(live_groups: &'a [LiveGroup], settings: &Settings, scope: &Scope, out: &mut Diff) -> Self {
        let mut candidates: Vec<&LiveGroup> = Vec::new();
        for g in live_groups {
            if settings.is_ignored(&g.name) {
                out.ignored.push(g.name.clone());
            } else {
                candidates.push(g);
            }
        }
        let mut exact: HashMap<&str, Vec<usize>> = HashMap::new();
        let mut folded: HashMap<String, Vec<usize>> = HashMap::new();
        for (i, g) in candidates.iter().enumerate() {
            exact.entry(g.name.as_str()).or_default().push(i);
            folded.entry(name_key(&g.name)).or_default().push(i);
        }
        for (key, idx) in &folded {
            if idx.len() > 1 {
                let mut groups: Vec<(String, GroupId)> =
                    idx.iter().map(|&i| (candidates[i].name.clone(), candidates[i].id.clone())).collect();
                groups.sort();
                let (names, ids) = groups.into_iter().unzip();
                out.warnings.push(Warning::DuplicateLiveNames { key: key.clone(), names, ids });
            }
        }
        let outside: Vec<bool> = candidates.iter().map(|g| !scope.includes(&g.name)).collect();
        let claimed = outside.clone();
        LiveIndex { candidates, exact, folded, outside, claimed }
    }

    /// Claims the first free live group whose name is exactly `name`.
    fn take_exact(&mut self, name: &str) -> Option<usize> {
        let i = self.exact.get(name)?.iter().copied().find(|&i| !self.claimed[i])?;
        self.claimed[i] = true;
        Some(i)
    }

    /// Claims the first free live group whose name is `name` ignoring case.
    fn take_folded(&mut self, name: &str) -> Option<usize> {
        let i = self.folded.get(&name_key(name))?.iter().copied().find(|&i| !self.claimed[i])?;
        self.claimed[i] = true;
        Some(i)
    }

    /// Matches the present desired groups to live groups: exact names first, then names
    /// differing in case, then `previously` names.
    fn match_present(&mut self, present: &[&ResolvedGroup]) -> Vec<Option<usize>> {
        let mut matched: Vec<Option<usize>> = present.iter().map(|r| self.take_exact(&r.desired.name.value)).collect();
        for (slot, r) in matched.iter_mut().zip(present) {
            if slot.is_none() {
                *slot = self.take_folded(&r.desired.name.value);
            }
        }
        for (slot, r) in matched.iter_mut().zip(present) {
            for old in &r.desired.previously {
                if slot.is_none() {
                    *slot = self.take_exact(&old.value).or_else(|| self.take_folded(&old.value));
                }
            }
        }
        matched
    }
}

/// What each live name looks like, for the warnings about near misses (the first name in
/// order when several look alike, so the output does not depend on the live order).
fn skeletons<'a>(candidates: &[&'a LiveGroup]) -> HashMap<String, &'a LiveGroup> {
    let mut skeletons: HashMap<String, &LiveGroup> = HashMap::new();
    for g in candidates {
        skeletons
            .entry(crate::names::skeleton(&g.name))
            .and_modify(|e| {
                if (&g.name, &g.id) < (&e.name, &e.id) {
                    *e = g;
                }
            })
            .or_insert(g);
    }
    skeletons
}

/// The group a desired group without a live match becomes (people its `keep:` rules match are
/// neither removed nor added, so a new group starts without them).
fn new_group(r: &ResolvedGroup, settings: &Settings) -> GroupState {
    GroupState {
        name: r.desired.name.value.clone(),
        description: r.desired.description.as_ref().map(|d| d.value.clone()).unwrap_or_else(|| settings.description_for_new().to_string()),
        members: r.members.iter().flatten().copied().filter(|id| !keeps_member(r, *id)).collect(),
        guests: r.guests.iter().flatten().filter(|e| !keeps_guest(r, e)).cloned().collect(),
    }
}

/// Whether the group's `keep:` rules match this member.
fn keeps_member(r: &ResolvedGroup, id: UserId) -> bool {
    r.kept.contains(&id) || r.desired.keep.iter().any(|k| matches!(k.value, crate::desired::KeepRule::Id(k) if k == id))
}

/// Whether the group's `keep:` rules match this guest.
fn keeps_guest(r: &ResolvedGroup, email: &Email) -> bool {
    r.desired.keep.iter().any(|k| k.value.keeps_guest(email))
}

/// One matched group: unchanged, updated, or recorded as not writable.
fn group_update(r: &ResolvedGroup, live: &LiveGroup, options: &DiffOptions, out: &mut Diff) {
    if let Some(why) = live.unmanageable() {
        out.unmanageable.push(UnmanageableGroup { name: live.name.clone(), id: live.id.clone(), why });
        return;
    }
    // A list the file manages but that was not read whole: the differences cannot be known.
    let manages = |list: GroupList| match list {
        GroupList::Members => r.members.is_some(),
        GroupList::Guests => r.guests.is_some(),
    };
    if live.unread.iter().any(|u| manages(u.list)) {
        out.unread.push(UnreadGroup::of(live));
        return;
    }
    // The guard's denominator: the memberships this plan could remove, those of the lists the
    // file manages (a group listed without `members` cannot lose a member, so an "Everyone" group
    // of hundreds must not hide the emptying of a few teams).
    let add_only = options.no_removals || r.desired.sync == crate::desired::Sync::Additive;
    let mut unmanaged = Vec::new();
    if add_only || r.members.is_none() {
        unmanaged.push(GroupList::Members);
    }
    if add_only || r.guests.is_none() {
        unmanaged.push(GroupList::Guests);
    }
    out.managed_memberships += live.removable_memberships(&unmanaged);
    if !unmanaged.is_empty() {
        out.unmanaged_lists.insert(live.id.clone(), unmanaged);
    }
    out.managed_groups.push(live.id.clone());
    let mut members: BTreeSet<UserId> = r.members.clone().unwrap_or_else(|| live.members.clone());
    let mut guests: BTreeSet<Email> = r.guests.clone().unwrap_or_else(|| live.guests.clone());
    let keeps = !r.desired.keep.is_empty() && !add_only;
    if keeps {
        // People the rules match are the group's own business: never added, never removed.
        let kept_m: BTreeSet<UserId> = live.members.iter().copied().filter(|id| keeps_member(r, *id)).collect();
        let kept_g: BTreeSet<Email> = live.guests.iter().filter(|e| keeps_guest(r, e)).cloned().collect();
        if r.members.is_some() {
            members.retain(|id| !keeps_member(r, *id));
            let extra = kept_m.difference(&members).count();
            members.extend(kept_m);
            if extra > 0 {
                out.kept
                    .entry(r.desired.name.value.clone())
                    .or_insert_with(|| KeptPeople { why: KeptWhy::Keep, ..KeptPeople::default() })
                    .members = extra;
            }
        }
        if r.guests.is_some() {
            guests.retain(|e| !keeps_guest(r, e));
            let extra = kept_g.difference(&guests).count();
            guests.extend(kept_g);
            if extra > 0 {
                out.kept
                    .entry(r.desired.name.value.clone())
                    .or_insert_with(|| KeptPeople { why: KeptWhy::Keep, ..KeptPeople::default() })
                    .guests = extra;
            }
        }
    }
    if add_only {
        let kept_m = if r.members.is_some() { live.members.difference(&members).count() } else { 0 };
        let kept_g = if r.guests.is_some() { live.guests.difference(&guests).count() } else { 0 };
        if kept_m + kept_g > 0 {
            if options.no_removals {
                out.warnings.push(Warning::NoRemovalsKeeps { group: r.desired.name.value.clone(), members: kept_m, guests: kept_g });
            } else {
                out.kept.insert(r.desired.name.value.clone(), KeptPeople { members: kept_m, guests: kept_g, why: KeptWhy::Additive });
            }
        }
        members.extend(live.members.iter().copied());
        guests.extend(live.guests.iter().cloned());
    }
    let after = GroupState {
        name: r.desired.name.value.clone(),
        description: r.desired.description.as_ref().map(|d| d.value.clone()).unwrap_or_else(|| live.description.clone()),
        members: members.into_iter().collect(),
        guests: guests.into_iter().collect(),
    };
    if after == GroupState::from_live(live) {
        out.unchanged.push(live.name.clone());
    } else if writable(live, out) {
        let renamed_from = (live.name != after.name).then(|| live.name.clone());
        let carry = |managed: bool| match (managed, add_only, keeps) {
            (false, _, _) => Carry::Kept,
            (true, true, _) => Carry::AddOnly,
            (true, false, true) => Carry::Delta,
            (true, false, false) => Carry::No,
        };
        let carried = Carried {
            description: r.desired.description.is_none(),
            members: carry(r.members.is_some()),
            guests: carry(r.guests.is_some()),
        };
        out.updates.push(Update { live: live.clone(), after, renamed_from, carried });
    }
}

/// `absent: true` groups: deleted when found (never under `--no-removals`).
fn absent_groups(
    resolved: &[ResolvedGroup],
    index: &mut LiveIndex,
    skeletons: &HashMap<String, &LiveGroup>,
    options: &DiffOptions,
    out: &mut Diff,
) {
    for r in resolved.iter().filter(|r| r.desired.absent) {
        let name = &r.desired.name.value;
        let Some(i) = index.take_exact(name).or_else(|| index.take_folded(name)) else {
            out.warnings.extend(absent_unmatched(r.desired, &index.candidates, &index.outside, skeletons));
            continue;
        };
        let live = index.candidates[i];
        if options.no_removals {
            out.warnings.push(Warning::NoRemovalsNotDeleting { group: live.name.clone() });
        } else if writable(live, out) {
            out.managed_memberships += live.membership_count();
            out.managed_groups.push(live.id.clone());
            out.deletes.push(Delete { live: live.clone(), reason: DeleteReason::Absent });
        }
    }
}

/// Live groups nothing claimed: out of scope, old names, duplicates, pruned, or not managed.
fn classify_unclaimed(desired: &DesiredState, present: &[&ResolvedGroup], index: &LiveIndex, options: &DiffOptions, out: &mut Diff) {
    let settings = &desired.settings;
    let names_of = |g: &crate::desired::DesiredGroup| {
        std::iter::once(name_key(&g.name.value)).chain(g.previously.iter().map(|p| name_key(&p.value))).collect::<Vec<_>>()
    };
    let (in_scope, out_of_scope): (Vec<_>, Vec<_>) = desired.groups.iter().partition(|g| options.scope.includes(&g.name.value));
    let excluded: HashSet<String> = out_of_scope.into_iter().flat_map(names_of).collect();
    let listed: HashSet<String> = in_scope.iter().map(|g| name_key(&g.name.value)).collect();
    let renamed_to: HashMap<String, &str> = present
        .iter()
        .flat_map(|r| r.desired.previously.iter().map(move |p| (name_key(&p.value), r.desired.name.value.as_str())))
        .collect();
    for (i, live) in index.candidates.iter().enumerate() {
        if index.outside[i] {
            out.out_of_scope += 1;
            continue;
        }
        if index.claimed[i] {
            continue;
        }
        let key = name_key(&live.name);
        if excluded.contains(&key) {
            out.out_of_scope += 1;
        } else if let Some(new_name) = renamed_to.get(&key) {
            out.warnings.push(Warning::PreviouslyStillExists { old: live.name.clone(), group: new_name.to_string() });
            out.unmanaged.push(live.name.clone());
        } else if listed.contains(&key) {
            // A second live group under a listed name (see the duplicate-name warning): never pruned.
            match index.folded.get(&key).into_iter().flatten().find(|&&j| j != i && index.claimed[j] && !index.outside[j]) {
                Some(&j) => out.same_name.push(SameNameGroup {
                    name: live.name.clone(),
                    id: live.id.clone(),
                    matched: index.candidates[j].name.clone(),
                    matched_id: index.candidates[j].id.clone(),
                }),
                None => out.unmanaged.push(live.name.clone()),
            }
        } else if let Some(why) = live.unmanageable() {
            out.unmanageable.push(UnmanageableGroup { name: live.name.clone(), id: live.id.clone(), why });
        } else if settings.prune && !options.no_removals && settings.owns(&live.name) {
            if writable(live, out) {
                out.managed_memberships += live.membership_count();
                out.managed_groups.push(live.id.clone());
                out.deletes.push(Delete { live: (*live).clone(), reason: DeleteReason::Pruned });
            }
        } else {
            // Under --no-removals a group prune would delete is said; one no owners rule allows
            // is simply not this repository's (the plan says why in its "not managed" line).
            if settings.prune && options.no_removals && settings.owns(&live.name) {
                out.warnings.push(Warning::NoRemovalsNotPruning { group: live.name.clone() });
            }
            out.unmanaged.push(live.name.clone());
        }
    }
}

/// Guests that a group will list but that do not exist in the organization yet, with the names
/// the files give them.
fn missing_guests(desired: &DesiredState, live_groups: &[LiveGroup], live_guests: Option<&[Guest]>, out: &mut Diff) {
    let mut known: HashSet<&Email> = live_groups.iter().flat_map(|g| g.guests.iter()).collect();
    if let Some(list) = live_guests {
        known.extend(list.iter().map(|g| &g.email));
    }
    for g in out.creates.iter().flat_map(|c| c.guests.iter()).chain(out.updates.iter().flat_map(|u| u.after.guests.iter())) {
        if !known.contains(g) {
            out.missing_guests.insert(g.clone());
        }
    }
    for g in &desired.groups {
        for (email, name) in &g.guest_names {
            if out.missing_guests.contains(email) {
                out.guest_names.entry(email.clone()).or_insert_with(|| name.clone());
            }
        }
    }
}

/// Every list in a stable order, whatever the order of the inputs.
fn sort(out: &mut Diff) {
    out.creates.sort_by(|a, b| a.name.cmp(&b.name));
    out.updates.sort_by(|a, b| a.after.name.cmp(&b.after.name));
    out.deletes.sort_by(|a, b| a.live.name.cmp(&b.live.name).then_with(|| a.live.id.cmp(&b.live.id)));
    out.unchanged.sort();
    out.unmanaged.sort();
    out.ignored.sort();
    out.managed_groups.sort();
    out.unmanageable.sort_by(|a, b| a.name.cmp(&b.name).then_with(|| a.id.cmp(&b.id)));
    out.unread.sort_by(|a, b| a.name.cmp(&b.name).then_with(|| a.id.cmp(&b.id)));
    out.same_name.sort_by(|a, b| a.name.cmp(&b.name).then_with(|| a.id.cmp(&b.id)));
}

/// Desired groups (by index in `present`) that match nothing in scope but would match a live
/// group outside `--only`/`--exclude` (by a name differing in case, or by `previously`): they
/// are left alone with a warning, so that a narrowed run never renames that group, nor creates a
/// twin beside it.
fn protect_out_of_scope(
    present: &[&ResolvedGroup<'_>],
    matched: &[Option<usize>],
    candidates: &[&LiveGroup],
    outside: &[bool],
    warnings: &mut Vec<Warning>,
) -> Vec<bool> {
    let outside_by_key: HashMap<String, &LiveGroup> =
        candidates.iter().zip(outside).filter(|(_, out)| **out).map(|(g, _)| (name_key(&g.name), *g)).collect();
    present
        .iter()
        .zip(matched)
        .map(|(r, slot)| {
            if slot.is_some() || outside_by_key.is_empty() {
                return false;
            }
            let names = std::iter::once(&r.desired.name.value).chain(r.desired.previously.iter().map(|p| &p.value));
            let Some(live) = names.filter_map(|n| outside_by_key.get(&name_key(n))).next() else { return false };
            warnings.push(out_of_scope_warning(&r.desired.name.value, live));
            true
        })
        .collect()
}

/// Why an `absent: true` entry that matched nothing in scope may still deserve a look: it names
/// a live group outside the scope (left alone), or one that differs only by invisible,
/// look-alike or space characters (so nothing is deleted).
fn absent_unmatched(
    desired: &crate::desired::DesiredGroup,
    candidates: &[&LiveGroup],
    outside: &[bool],
    skeletons: &HashMap<String, &LiveGroup>,
) -> Option<Warning> {
    let name = &desired.name.value;
    if let Some((live, _)) = candidates.iter().zip(outside).find(|(g, out)| **out && name_key(&g.name) == name_key(name)) {
        return Some(out_of_scope_warning(name, live));
    }
    let live = skeletons.get(&crate::names::skeleton(name))?;
    Some(Warning::AbsentLookAlike { at: At::from(&desired.name.at), group: name.clone(), live: live.name.clone() })
}

fn out_of_scope_warning(name: &str, live: &LiveGroup) -> Warning {
    Warning::OutsideScope { group: name.to_string(), live: live.name.clone() }
}

/// Warns about `previously` names that match no live group when the group is about to be
/// created: a typo there turns a rename into a new group (and, with prune, the old group into a
/// deletion). Suggests the closest live name. Once a rename is done the old name matches nothing
/// by design, so groups that exist under their name are not checked. An old name that is a live
/// group matching `ignore` is said to be one (with the pattern): it is not adopted.
fn unmatched_previously(
    present: &[&ResolvedGroup<'_>],
    matched: &[Option<usize>],
    blocked: &[bool],
    candidates: &[&LiveGroup],
    ignored: &[(&LiveGroup, &str)],
    skeletons: &HashMap<String, &LiveGroup>,
    warnings: &mut Vec<Warning>,
) {
    for ((r, slot), blocked) in present.iter().zip(matched).zip(blocked) {
        if slot.is_some() || *blocked {
            continue;
        }
        let new = &r.desired.name.value;
        for old in &r.desired.previously {
            let key = name_key(&old.value);
            let exact = ignored.iter().find(|(g, _)| g.name == old.value);
            if let Some((live, pattern)) = exact.or_else(|| ignored.iter().find(|(g, _)| name_key(&g.name) == key)) {
                warnings.push(Warning::PreviouslyIgnored {
                    at: At::from(&old.at),
                    old: old.value.clone(),
                    group: new.clone(),
                    live: live.name.clone(),
                    pattern: pattern.to_string(),
                });
                continue;
            }
            warnings.push(Warning::PreviouslyUnmatched {
                at: At::from(&old.at),
                old: old.value.clone(),
                group: new.clone(),
                closest: closest_name(&old.value, candidates, skeletons).map(str::to_string),
            });
        }
    }
}

/// The live name closest to `name`: one that looks the same, or else within a few edits.
fn closest_name<'a>(name: &str, candidates: &[&'a LiveGroup], skeletons: &HashMap<String, &'a LiveGroup>) -> Option<&'a str> {
    if let Some(g) = skeletons.get(&crate::names::skeleton(name)) {
        return Some(&g.name);
    }
    let key = name_key(name);
    let limit = 2.max(key.chars().count() / 5);
    candidates
        .iter()
        .map(|g| (strsim::levenshtein(&key, &name_key(&g.name)), g.name.as_str()))
        .filter(|(d, _)| *d <= limit)
        .min()
        .map(|(_, n)| n)
}

/// Warns when a group about to be created differs from a live group only by invisible,
/// look-alike or space characters: most likely the same group, mistyped on one side.
fn look_alike_names(
    present: &[&ResolvedGroup<'_>],
    matched: &[Option<usize>],
    blocked: &[bool],
    skeletons: &HashMap<String, &LiveGroup>,
    warnings: &mut Vec<Warning>,
) {
    for ((r, slot), blocked) in present.iter().zip(matched).zip(blocked) {
        if slot.is_some() || *blocked {
            continue;
        }
        let name = &r.desired.name;
        if let Some(live) = skeletons.get(&crate::names::skeleton(&name.value)) {
            warnings.push(Warning::CreateLookAlike { at: At::from(&name.at), group: name.value.clone(), live: live.name.clone() });
        }
    }
}

#[cfg(test)]
mod tests;
