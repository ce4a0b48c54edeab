//! The differ: desired groups (resolved) + live groups → what must be created, updated, deleted
//! or left alone. Member and guest changes are set differences. Pure; no I/O.

use std::collections::{BTreeSet, HashMap, HashSet};

use serde::{Deserialize, Serialize};

use crate::desired::{DesiredState, Settings};
use crate::model::{Email, GroupId, GroupList, Guest, LiveGroup, Unmanageable, Unread, UserId, name_key};
use crate::plan::{Carried, Carry, GroupState};
use crate::resolve::ResolvedGroup;

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

    pub fn includes(&self, name: &str) -> bool {
        (self.only.is_empty() || self.only.iter().any(|p| p.matches(name)))
            && !self.exclude.iter().any(|p| p.matches(name))
            && (self.skipped.is_empty() || !self.skipped.contains(&name_key(name)))
    }
}

/// Options of one diff.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DiffOptions {
    pub scope: Scope,
    /// Additive-only: never remove a member, guest or group.
    pub no_removals: bool,
    /// Plan every group that resolves; leave the others untouched (and fail the run at the end).
    pub keep_going: bool,
}

/// Why a group is deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
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
    pub live: LiveGroup,
    pub after: GroupState,
    pub renamed_from: Option<String>,
    /// Values of `after` that come from the live read rather than the file.
    pub carried: Carried,
}

/// A live group that goes.
#[derive(Debug, Clone, PartialEq)]
pub struct Delete {
    pub live: LiveGroup,
    pub reason: DeleteReason,
}

/// The differences, sorted by group name.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Diff {
    pub creates: Vec<GroupState>,
    pub updates: Vec<Update>,
    pub deletes: Vec<Delete>,
    pub unchanged: Vec<String>,
    pub unmanaged: Vec<String>,
    pub ignored: Vec<String>,
    pub out_of_scope: usize,
    /// Guests that groups will list but that do not exist yet, with the names groups.yaml gives
    /// them (if any).
    pub missing_guests: BTreeSet<Email>,
    pub guest_names: std::collections::BTreeMap<Email, crate::desired::GuestName>,
    pub warnings: Vec<String>,
    /// Current memberships of the managed live groups (the guard's denominator).
    pub managed_memberships: usize,
    /// Ids of the managed live groups (what the guard's denominator counts).
    pub managed_groups: Vec<GroupId>,
    /// Every user id the desired state resolved to.
    pub resolved_users: BTreeSet<UserId>,
    /// Live groups that can never be written (blank name, odd id): listed, never touched.
    pub unmanageable: Vec<UnmanageableGroup>,
    /// Live groups the plan would write but whose lists were not read whole: the plan fails.
    pub unread: Vec<UnreadGroup>,
}

/// A live group that is listed but never deleted, renamed or adopted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnmanageableGroup {
    pub name: String,
    pub id: GroupId,
    pub why: Unmanageable,
}

/// A live group the plan would write although its lists were not read whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnreadGroup {
    pub name: String,
    pub id: GroupId,
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

    // Ignored live groups take no part in matching.
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
            let names: Vec<&str> = idx.iter().map(|&i| candidates[i].name.as_str()).collect();
            out.warnings.push(format!("{} live groups share the name \"{key}\" (ignoring case): {}", idx.len(), names.join(", ")));
        }
    }
    let mut claimed = vec![false; candidates.len()];
    let take = |claimed: &mut Vec<bool>, idx: Option<&Vec<usize>>| -> Option<usize> {
        let i = idx?.iter().copied().find(|&i| !claimed[i])?;
        claimed[i] = true;
        Some(i)
    };

    // Pass 1: exact names. Pass 2: names differing in case. Pass 3: `previously`.
    let present: Vec<&ResolvedGroup> = resolved.iter().filter(|r| !r.desired.absent).collect();
    let mut matched: Vec<Option<usize>> = present.iter().map(|r| take(&mut claimed, exact.get(r.desired.name.value.as_str()))).collect();
    for (slot, r) in matched.iter_mut().zip(&present) {
        if slot.is_none() {
            *slot = take(&mut claimed, folded.get(&name_key(&r.desired.name.value)));
        }
    }
    for (slot, r) in matched.iter_mut().zip(&present) {
        for old in &r.desired.previously {
            if slot.is_none() {
                *slot = take(&mut claimed, exact.get(old.value.as_str())).or_else(|| take(&mut claimed, folded.get(&name_key(&old.value))));
            }
        }
    }

    for (slot, r) in matched.iter().zip(&present) {
        if let Some(m) = &r.members {
            out.resolved_users.extend(m.iter().copied());
        }
        let Some(i) = *slot else {
            out.creates.push(GroupState {
                name: r.desired.name.value.clone(),
                description: r
                    .desired
                    .description
                    .as_ref()
                    .map(|d| d.value.clone())
                    .unwrap_or_else(|| settings.description_for_new().to_string()),
                members: r.members.iter().flatten().copied().collect(),
                guests: r.guests.iter().flatten().cloned().collect(),
            });
            continue;
        };
        let live = candidates[i];
        if let Some(why) = live.unmanageable() {
            out.unmanageable.push(UnmanageableGroup { name: live.name.clone(), id: live.id.clone(), why });
            continue;
        }
        // A list the file manages but that was not read whole: the differences cannot be known.
        let manages = |list: GroupList| match list {
            GroupList::Members => r.members.is_some(),
            GroupList::Guests => r.guests.is_some(),
        };
        if live.unread.iter().any(|u| manages(u.list)) {
            out.unread.push(UnreadGroup::of(live));
            continue;
        }
        out.managed_memberships += live.membership_count();
        out.managed_groups.push(live.id.clone());
        let mut members: BTreeSet<UserId> = r.members.clone().unwrap_or_else(|| live.members.clone());
        let mut guests: BTreeSet<Email> = r.guests.clone().unwrap_or_else(|| live.guests.clone());
        if options.no_removals {
            let kept_m = live.members.difference(&members).count();
            let kept_g = live.guests.difference(&guests).count();
            if kept_m + kept_g > 0 {
                out.warnings.push(format!(
                    "--no-removals: \"{}\" keeps {kept_m} member(s) and {kept_g} guest(s) that groups.yaml no longer lists",
                    r.desired.name.value
                ));
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
        } else if writable(live, &mut out) {
            let renamed_from = (live.name != after.name).then(|| live.name.clone());
            let carry = |managed: bool| match (managed, options.no_removals) {
                (false, _) => Carry::Kept,
                (true, true) => Carry::AddOnly,
                (true, false) => Carry::No,
            };
            let carried = Carried {
                description: r.desired.description.is_none(),
                members: carry(r.members.is_some()),
                guests: carry(r.guests.is_some()),
            };
            out.updates.push(Update { live: live.clone(), after, renamed_from, carried });
        }
    }

    // Absent groups.
    for r in resolved.iter().filter(|r| r.desired.absent) {
        let name = &r.desired.name.value;
        let found = take(&mut claimed, exact.get(name.as_str())).or_else(|| take(&mut claimed, folded.get(&name_key(name))));
        if let Some(i) = found {
            let live = candidates[i];
            if options.no_removals {
                out.warnings.push(format!("--no-removals: not deleting \"{}\" (absent: true)", live.name));
            } else if writable(live, &mut out) {
                out.managed_memberships += live.membership_count();
                out.managed_groups.push(live.id.clone());
                out.deletes.push(Delete { live: live.clone(), reason: DeleteReason::Absent });
            }
        }
    }

    // Unclaimed live groups: out of scope, old names, duplicates, pruned, or not managed.
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
    for (i, live) in candidates.iter().enumerate() {
        if claimed[i] {
            continue;
        }
        let key = name_key(&live.name);
        if !options.scope.includes(&live.name) || excluded.contains(&key) {
            out.out_of_scope += 1;
        } else if let Some(new_name) = renamed_to.get(&key) {
            out.warnings.push(format!(
                "\"{}\" is listed in `previously` of \"{new_name}\", which already exists; the old group is left alone (add it with `absent: true` to delete it)",
                live.name
            ));
            out.unmanaged.push(live.name.clone());
        } else if listed.contains(&key) {
            // A second live group under a listed name (see the duplicate-name warning): never pruned.
            out.unmanaged.push(live.name.clone());
        } else if let Some(why) = live.unmanageable() {
            out.unmanageable.push(UnmanageableGroup { name: live.name.clone(), id: live.id.clone(), why });
        } else if settings.prune && !options.no_removals {
            if writable(live, &mut out) {
                out.managed_memberships += live.membership_count();
                out.managed_groups.push(live.id.clone());
                out.deletes.push(Delete { live: (*live).clone(), reason: DeleteReason::Pruned });
            }
        } else {
            if settings.prune {
                out.warnings.push(format!("--no-removals: not pruning \"{}\"", live.name));
            }
            out.unmanaged.push(live.name.clone());
        }
    }

    // Guests that a group will list but that do not exist in the organization yet.
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

    out.creates.sort_by(|a, b| a.name.cmp(&b.name));
    out.updates.sort_by(|a, b| a.after.name.cmp(&b.after.name));
    out.deletes.sort_by(|a, b| a.live.name.cmp(&b.live.name).then_with(|| a.live.id.cmp(&b.live.id)));
    out.unchanged.sort();
    out.unmanaged.sort();
    out.ignored.sort();
    out.warnings.sort();
    out.managed_groups.sort();
    out.unmanageable.sort_by(|a, b| a.name.cmp(&b.name).then_with(|| a.id.cmp(&b.id)));
    out.unread.sort_by(|a, b| a.name.cmp(&b.name).then_with(|| a.id.cmp(&b.id)));
    out
}

#[cfg(test)]
mod tests;
