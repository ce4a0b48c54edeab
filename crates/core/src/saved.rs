//! Saved plans: a versioned document of their own (not the internal `Plan`, not the
//! `--format json` rendering), sealed with a SHA-256 checksum; reading one back, the staleness
//! check that runs right before a saved plan is applied, and the plan rebuilt from the saved
//! actions against live state for display and for the removal guard. `write`/`read` do file I/O;
//! the rest is pure.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::diff::DeleteReason;
use crate::model::{Email, GroupId, LiveState, OrgId, name_key};
use crate::plan::{self, Action, Carried, Fingerprints, GroupState, GuardLimits, Plan, Target, fingerprint};
use crate::resolve::Directory;

/// Version of the saved-plan document; bumped on any incompatible change.
pub const SAVED_PLAN_VERSION: u32 = 1;

/// What the checksum is computed over: the file with its checksum value replaced by this.
const CHECKSUM_PLACEHOLDER: &str = "sha256:0000000000000000000000000000000000000000000000000000000000000000";

/// The saved-plan document: what apply needs to execute a plan exactly and to check that it
/// still holds. Display data (`before` states, names of users) is not saved: it is recomputed
/// from live state when the plan is applied.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SavedPlan {
    /// [`SAVED_PLAN_VERSION`].
    pub saved_plan_version: u32,
    /// The tool that wrote it, for people reading the file.
    pub written_by: String,
    /// The organization and API the plan was made for.
    pub target: Target,
    /// The guard's limits, from the files the plan was made from.
    pub limits: GuardLimits,
    /// The managed live groups when the plan was made (the guard's denominator).
    pub managed_groups: Vec<GroupId>,
    /// Lists of those groups the plan cannot change, left out of the denominator.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub unmanaged_lists: std::collections::BTreeMap<GroupId, Vec<crate::model::GroupList>>,
    /// What the plan relied on, checked again before it is applied.
    pub fingerprints: Fingerprints,
    /// The `plan --allow-removals` reason, for the record: apply takes its override from its
    /// own command line only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_removals: Option<String>,
    /// What apply sends, in order.
    pub actions: Vec<SavedAction>,
    /// Where the people of each created or updated group come from, for display after the plan
    /// is read back (absent in files written before sources existed).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub provenance: std::collections::BTreeMap<String, plan::GroupProvenance>,
    /// Where the groups it deletes or empties were used when the plan was made, by group id
    /// (absent: not checked). Apply reads usage again and refuses the plan as stale when a group
    /// recorded as unused is used now.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub usage: std::collections::BTreeMap<GroupId, crate::usage::GroupUsage>,
    /// The day the plan's dates were evaluated as of, its expired and expiring entries (for
    /// display), and every entry still granting access until a day (`ongoing`): apply refuses
    /// the plan as stale once one of those days has passed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiry: Option<crate::expiry::ExpiryReport>,
    /// What the plan showed of scope and ownership (display only): how groups are reconciled,
    /// the external groups, the people additive groups and `keep` rules keep, the reviewers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<SavedScope>,
    /// What the policy said of the plan when it was made, with the `--allow-policy` overrides,
    /// for the record: apply judges the plan again against its own `--policy` and takes
    /// overrides from its own command line only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<crate::policy::PolicyReport>,
    /// `sha256:` and the hex digest of the file with this value replaced by zeros (absent on the
    /// targets of a workspace plan, which is sealed as a whole).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub checksum: String,
}

/// What a saved plan records of scope and ownership, for display when it is applied.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SavedScope {
    /// Managed groups: `(exact, additive)`.
    pub sync_counts: (usize, usize),
    /// The additive groups, by name.
    #[serde(default, skip_serializing_if = "std::collections::BTreeSet::is_empty")]
    pub additive: std::collections::BTreeSet<String>,
    /// The external groups, by live name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub external: Vec<String>,
    /// People groups keep although the file does not list them.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub kept: std::collections::BTreeMap<String, crate::diff::KeptPeople>,
    /// Who must review each changed group.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub reviewers: std::collections::BTreeMap<String, Vec<String>>,
    /// Prune deleted only groups an owners rule allows.
    #[serde(default)]
    pub owned_only: bool,
}

/// Version of the workspace saved-plan document (the plans of several targets, sealed as one).
pub const SAVED_WORKSPACE_PLAN_VERSION: u32 = 1;

/// A saved plan of a workspace: every target's saved plan, by target name, sealed as a whole so
/// that no target's actions can be edited, added or removed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SavedWorkspacePlan {
    /// [`SAVED_WORKSPACE_PLAN_VERSION`].
    pub saved_workspace_plan_version: u32,
    /// The tool that wrote it, for people reading the file.
    pub written_by: String,
    /// Each target's saved plan (without a checksum of its own), by target name.
    pub targets: std::collections::BTreeMap<String, SavedPlan>,
    /// `sha256:` and the hex digest of the whole file with this value replaced by zeros.
    pub checksum: String,
}

/// A saved plan of either kind.
#[derive(Debug, Clone, PartialEq)]
pub enum AnySaved {
    /// The plan of one organization.
    One(Box<SavedPlan>),
    /// The plans of a workspace's targets.
    Workspace(SavedWorkspacePlan),
}

/// One saved action: exactly what apply sends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum SavedAction {
    /// Invite a guest.
    CreateGuest {
        /// The guest's email.
        email: Email,
        /// Their first name.
        first_name: String,
        /// Their last name.
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
        /// The group as it will be.
        after: GroupState,
        /// Fields whose value comes from the live read.
        #[serde(default)]
        carried: Carried,
    },
    /// Delete a group.
    DeleteGroup {
        /// The group's id.
        id: GroupId,
        /// Why it goes.
        reason: DeleteReason,
    },
}

impl SavedPlan {
    /// The saved form of a plan.
    pub fn of(plan: &Plan) -> Self {
        let actions = plan
            .actions
            .iter()
            .map(|a| match a {
                Action::CreateGuest { email, first_name, last_name } => {
                    SavedAction::CreateGuest { email: email.clone(), first_name: first_name.clone(), last_name: last_name.clone() }
                }
                Action::CreateGroup { after } => SavedAction::CreateGroup { after: after.clone() },
                Action::UpdateGroup { id, after, carried, .. } => {
                    SavedAction::UpdateGroup { id: id.clone(), after: after.clone(), carried: *carried }
                }
                Action::DeleteGroup { id, reason, .. } => SavedAction::DeleteGroup { id: id.clone(), reason: *reason },
            })
            .collect();
        SavedPlan {
            saved_plan_version: SAVED_PLAN_VERSION,
            written_by: concat!("tallyfy-groups ", env!("CARGO_PKG_VERSION")).to_string(),
            target: plan.target.clone(),
            limits: plan.limits.clone(),
            managed_groups: plan.managed_groups.clone(),
            unmanaged_lists: plan.unmanaged_lists.clone(),
            fingerprints: plan.fingerprints.clone(),
            allow_removals: plan.guard.allowed.clone(),
            actions,
            provenance: plan.provenance.clone(),
            usage: plan.usage.groups.clone(),
            expiry: Some(plan.expiry.clone()),
            scope: Some(SavedScope {
                sync_counts: plan.sync_counts,
                additive: plan.additive.clone(),
                external: plan.external.clone(),
                kept: plan.kept.clone(),
                reviewers: plan.reviewers.clone(),
                owned_only: plan.owned_only,
            }),
            policy: plan.policy.clone(),
            checksum: CHECKSUM_PLACEHOLDER.to_string(),
        }
    }

    /// The plan to show and execute: the saved actions with their `before` states, the guard,
    /// the counts and the display names all taken from `live` (call [`check`] first, so that
    /// every group the actions touch is there).
    pub fn to_plan(&self, live: &LiveState) -> Result<Plan, Staleness> {
        let by_id: HashMap<&GroupId, &crate::model::LiveGroup> = live.groups.iter().map(|g| (&g.id, g)).collect();
        let before = |id: &GroupId| {
            by_id
                .get(id)
                .map(|g| GroupState::from_live(g))
                .ok_or_else(|| Staleness::Changed { changes: vec![StaleInput::GroupGone { id: id.clone() }] })
        };
        let mut actions = Vec::with_capacity(self.actions.len());
        for a in &self.actions {
            actions.push(match a {
                SavedAction::CreateGuest { email, first_name, last_name } => {
                    Action::CreateGuest { email: email.clone(), first_name: first_name.clone(), last_name: last_name.clone() }
                }
                SavedAction::CreateGroup { after } => Action::CreateGroup { after: after.clone() },
                SavedAction::UpdateGroup { id, after, carried } => {
                    let before = before(id)?;
                    let renamed_from = (before.name != after.name).then(|| before.name.clone());
                    Action::UpdateGroup { id: id.clone(), before, after: after.clone(), renamed_from, carried: *carried }
                }
                SavedAction::DeleteGroup { id, reason } => Action::DeleteGroup { id: id.clone(), before: before(id)?, reason: *reason },
            });
        }
        let managed: BTreeSet<&GroupId> = self.managed_groups.iter().collect();
        let current = live
            .groups
            .iter()
            .filter(|g| managed.contains(&g.id))
            .map(|g| g.removable_memberships(self.unmanaged_lists.get(&g.id).map_or(&[], Vec::as_slice)))
            .sum();
        let directory = Directory::new(&live.users);
        let mut plan = plan::assemble(
            actions,
            current,
            self.limits.clone(),
            self.managed_groups.clone(),
            &directory,
            self.target.clone(),
            self.fingerprints.clone(),
        );
        plan.unmanaged_lists = self.unmanaged_lists.clone();
        plan.provenance = self.provenance.clone();
        plan.expiry = self.expiry.clone().unwrap_or_default();
        if let Some(scope) = &self.scope {
            plan.sync_counts = scope.sync_counts;
            plan.additive = scope.additive.clone();
            plan.external = scope.external.clone();
            plan.kept = scope.kept.clone();
            plan.reviewers = scope.reviewers.clone();
            plan.owned_only = scope.owned_only;
        }
        // The override is `apply --allow-removals`, never the file's: its seal is a checksum
        // anyone can recompute, so what it says about the guard is a record, not a permission.
        // The same holds for the policy: apply judges the plan again, with its own overrides.
        Ok(plan)
    }

    /// Where the guard limits this plan records differ from `files` (the limits of the groups
    /// files it was made from, read again at apply): `(setting, recorded, in the files)`. When
    /// the files are not at hand (`None`), the recorded limits must be the defaults, and prune
    /// and the number of groups cannot be checked.
    pub fn limits_differ(&self, files: Option<&GuardLimits>) -> Vec<(&'static str, String, String)> {
        let defaults = crate::desired::Settings::default();
        let (max_deleted, ratio, min) = match files {
            Some(f) => (f.max_deleted_groups, f.max_removed_ratio, f.min_removed_for_ratio),
            None => (defaults.max_deleted_groups, defaults.max_removed_ratio, defaults.min_removed_for_ratio),
        };
        let r = &self.limits;
        let mut out = Vec::new();
        let mut differ = |name: &'static str, recorded: String, files: String| {
            if recorded != files {
                out.push((name, recorded, files));
            }
        };
        differ("max_deleted_groups", r.max_deleted_groups.to_string(), max_deleted.to_string());
        differ("max_removed_ratio", r.max_removed_ratio.to_string(), ratio.to_string());
        differ("min_removed_for_ratio", r.min_removed_for_ratio.to_string(), min.to_string());
        if let Some(f) = files {
            differ("prune", r.prune.to_string(), f.prune.to_string());
            differ("the number of groups", r.desired_group_count.to_string(), f.desired_group_count.to_string());
        }
        out
    }
}

/// Writes a file atomically and durably: a temporary file beside it, flushed to disk, then a
/// rename, then the directory flushed, so a crash never leaves half a plan or report behind.
///
/// The temporary file has a random name and is created exclusively (`O_EXCL`), so a link planted
/// beside the target in a shared folder (a CI cache, `/tmp`) is never followed. The folder must
/// exist: a mistyped path is an error, not a tree of new folders.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    // A device, a FIFO or a link to one (`--out /dev/stdout`, `/dev/null`, `>(…)`) is written to
    // as it is: replacing it with a regular file would break it for everyone (as root, even
    // /dev/null itself).
    if std::fs::metadata(path).is_ok_and(|m| !m.is_file()) {
        let mut f = std::fs::OpenOptions::new().write(true).open(path)?;
        return f.write_all(bytes).and_then(|()| f.flush());
    }
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    if !dir.is_dir() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            format!("the folder {} does not exist; create it first", dir.display()),
        ));
    }
    let file_name = path.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_else(|| "out".into());
    let prefix = format!(".{file_name}.");
    let mut builder = tempfile::Builder::new();
    builder.prefix(&prefix).suffix(".tmp");
    #[cfg(unix)]
    {
        // What `File::create` would give (0666 less the umask), not tempfile's private 0600.
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(0o666));
    }
    let mut tmp = builder.tempfile_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    // On failure the temporary file is removed when dropped.
    tmp.persist(path).map_err(|e| e.error)?;
    // The rename itself is durable once the directory is flushed (not possible everywhere).
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// The saved-plan file's text for a plan, sealed with its checksum.
pub fn to_text(plan: &Plan) -> String {
    let doc = SavedPlan::of(plan);
    // Serialising our own types cannot fail.
    let unsealed = serde_json::to_string_pretty(&doc).unwrap_or_default() + "\n";
    seal(&unsealed)
}

/// Replaces the placeholder (the last occurrence: `checksum` is the last field) with the digest.
fn seal(unsealed: &str) -> String {
    let digest = format!("sha256:{}", sha256_hex(unsealed.as_bytes()));
    match unsealed.rfind(CHECKSUM_PLACEHOLDER) {
        Some(at) => format!("{}{digest}{}", &unsealed[..at], &unsealed[at + CHECKSUM_PLACEHOLDER.len()..]),
        None => unsealed.to_string(),
    }
}

/// Saves a plan.
pub fn write(path: &Path, plan: &Plan) -> std::io::Result<()> {
    write_atomic(path, to_text(plan).as_bytes())
}

/// The saved-plan file's text for the plans of a workspace's targets, sealed with one checksum.
pub fn workspace_to_text<'a>(plans: impl IntoIterator<Item = (&'a str, &'a Plan)>) -> String {
    let targets =
        plans.into_iter().map(|(name, plan)| (name.to_string(), SavedPlan { checksum: String::new(), ..SavedPlan::of(plan) })).collect();
    let doc = SavedWorkspacePlan {
        saved_workspace_plan_version: SAVED_WORKSPACE_PLAN_VERSION,
        written_by: concat!("tallyfy-groups ", env!("CARGO_PKG_VERSION")).to_string(),
        targets,
        checksum: CHECKSUM_PLACEHOLDER.to_string(),
    };
    seal(&(serde_json::to_string_pretty(&doc).unwrap_or_default() + "\n"))
}

/// Saves the plans of a workspace's targets as one document.
pub fn write_workspace<'a>(path: &Path, plans: impl IntoIterator<Item = (&'a str, &'a Plan)>) -> std::io::Result<()> {
    write_atomic(path, workspace_to_text(plans).as_bytes())
}

/// Why a saved plan cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadError {
    /// Not a saved plan of this version: exit 1.
    Unusable(String),
    /// Edited after it was written: exit 3.
    Tampered(String),
}

/// Reads a saved plan, or says why it cannot be used.
pub fn read(path: &Path) -> Result<SavedPlan, ReadError> {
    let shown = path.display();
    let text = read_text(path).map_err(|e| ReadError::Unusable(format!("cannot read the saved plan {shown}: {e}")))?;
    parse(&shown.to_string(), &text)
}

/// Reads a saved plan of either kind (a single organization's, or a workspace's).
pub fn read_any(path: &Path) -> Result<AnySaved, ReadError> {
    let shown = path.display();
    let text = read_text(path).map_err(|e| ReadError::Unusable(format!("cannot read the saved plan {shown}: {e}")))?;
    parse_any(&shown.to_string(), &text)
}

/// Parses and verifies a saved plan of either kind.
pub fn parse_any(name: &str, text: &str) -> Result<AnySaved, ReadError> {
    let is_workspace = serde_json::from_str::<serde_json::Value>(text).is_ok_and(|v| v.get("saved_workspace_plan_version").is_some());
    if !is_workspace {
        return parse(name, text).map(|p| AnySaved::One(Box::new(p)));
    }
    let value: serde_json::Value = serde_json::from_str(text).map_err(|e| ReadError::Unusable(format!("{name} is not JSON: {e}")))?;
    let version = value.get("saved_workspace_plan_version").and_then(|v| v.as_u64());
    if version != Some(u64::from(SAVED_WORKSPACE_PLAN_VERSION)) {
        return Err(ReadError::Unusable(format!(
            "{name} is a workspace plan of another version ({}); this tallyfy-groups reads version {SAVED_WORKSPACE_PLAN_VERSION}\n    hint: make one with `tallyfy-groups plan --out PLAN`",
            value.get("saved_workspace_plan_version").map(|v| v.to_string()).unwrap_or_default()
        )));
    }
    verify_checksum(name, text, &value)?;
    let de = &mut serde_json::Deserializer::from_str(text);
    serde_path_to_error::deserialize(de)
        .map(AnySaved::Workspace)
        .map_err(|e| ReadError::Unusable(format!("{name} is not a valid saved plan: at `{}`: {}", e.path(), e.inner())))
}

/// Refuses a document whose checksum does not match its text.
fn verify_checksum(name: &str, text: &str, value: &serde_json::Value) -> Result<(), ReadError> {
    let recorded = value.get("checksum").and_then(|v| v.as_str()).unwrap_or_default();
    let valid = recorded.len() == CHECKSUM_PLACEHOLDER.len()
        && recorded.starts_with("sha256:")
        && text.rfind(recorded).is_some_and(|at| {
            let unsealed = format!("{}{CHECKSUM_PLACEHOLDER}{}", &text[..at], &text[at + recorded.len()..]);
            format!("sha256:{}", sha256_hex(unsealed.as_bytes())) == recorded
        });
    if valid {
        return Ok(());
    }
    Err(ReadError::Tampered(format!(
        "refusing to apply {name}: it was changed after `plan --out` wrote it (its checksum does not match); nothing was applied\n    hint: make a new plan with `plan --out` and review it; a saved plan is applied exactly as written or not at all"
    )))
}

/// Reads a text file of at most 64 MiB (a FIFO or `/dev/zero` included).
fn read_text(path: &Path) -> std::io::Result<String> {
    use std::io::Read;
    let limit = crate::desired::MAX_FILE_BYTES;
    let mut text = String::new();
    std::fs::File::open(path)?.take(limit + 1).read_to_string(&mut text)?;
    if text.len() as u64 > limit {
        return Err(std::io::Error::other("larger than 64 MiB"));
    }
    Ok(text)
}

/// Parses and verifies the text of a saved plan; `name` is what messages call it.
pub fn parse(name: &str, text: &str) -> Result<SavedPlan, ReadError> {
    let unusable = |m: String| ReadError::Unusable(m);
    let value: serde_json::Value = serde_json::from_str(text).map_err(|e| {
        if looks_like_groups_file(text) {
            unusable(format!(
                "{name} is a groups file, not a saved plan: use -f\n    hint: `tallyfy-groups apply -f {name}` plans from it and applies; `apply PLAN` takes a file written by `tallyfy-groups plan --out PLAN`"
            ))
        } else {
            unusable(format!("{name} is not a saved plan (not JSON: {e})"))
        }
    })?;
    let version = value.get("saved_plan_version").and_then(|v| v.as_u64());
    if version != Some(u64::from(SAVED_PLAN_VERSION)) {
        let why = match (version, value.get("format_version")) {
            (Some(v), _) => format!("saved_plan_version {v}; this tallyfy-groups reads version {SAVED_PLAN_VERSION}"),
            (None, Some(_)) => {
                "it has no saved_plan_version: it is a `plan --format json` rendering, or a plan saved by an older tallyfy-groups".into()
            }
            (None, None) => "it has no saved_plan_version".into(),
        };
        return Err(unusable(format!(
            "{name} is not a saved plan this version can apply ({why})\n    hint: make one with `tallyfy-groups plan --out PLAN`"
        )));
    }
    verify_checksum(name, text, &value)?;
    let de = &mut serde_json::Deserializer::from_str(text);
    serde_path_to_error::deserialize(de)
        .map_err(|e| unusable(format!("{name} is not a valid saved plan: at `{}`: {}", e.path(), e.inner())))
}

/// Why a saved plan no longer holds. Serialised with a `kind` tag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Staleness {
    /// The plan was made for another organization or API than the configured one.
    OtherTarget {
        /// The target the plan records.
        planned: Target,
        /// The target configured now.
        configured: Target,
    },
    /// What the plan relied on has changed.
    Changed {
        /// Every input that changed.
        changes: Vec<StaleInput>,
    },
}

/// One input of a saved plan that changed since it was made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum StaleInput {
    /// A group the plan updates or deletes no longer exists.
    GroupGone {
        /// The group's id.
        id: GroupId,
    },
    /// A group the plan updates or deletes changed (or could not be read whole).
    GroupChanged {
        /// The group's id.
        id: GroupId,
        /// Its live name.
        name: String,
    },
    /// A name the plan creates is taken now.
    NameTaken {
        /// The name.
        name: String,
    },
    /// A user the plan sends is no longer in the organization.
    UserGone {
        /// The user's id.
        id: crate::model::UserId,
    },
    /// A user the plan sends changed (email or status).
    UserChanged {
        /// The user's id.
        id: crate::model::UserId,
        /// Their email now.
        email: Email,
    },
    /// A guest the plan invites exists now.
    GuestExists {
        /// The guest's email.
        email: Email,
    },
    /// An entry granted access until a day that has passed since the plan was made.
    AccessEnded {
        /// The entry, as the plan recorded it.
        note: crate::expiry::ExpiryNote,
        /// The day the plan was made as of.
        planned_as_of: crate::date::Date,
        /// The day it is applied as of.
        as_of: crate::date::Date,
    },
    /// A group the plan deletes was checked and unused when the plan was made, and is used now.
    GroupNowUsed {
        /// The group's id.
        id: GroupId,
        /// Its live name.
        name: String,
        /// Where it is used now.
        usage: crate::usage::GroupUsage,
    },
}

/// Whether `live` already holds everything the saved plan would write, for its own target: every
/// group it creates or updates equals the planned result in the fields the plan manages, every
/// group it deletes is gone and every guest it invites exists. Such a plan was applied already
/// (a rerun of the same `apply PLAN`), which is not a stale plan: there is nothing to do.
pub fn already_applied(plan: &SavedPlan, target_label: &str, org: &OrgId, live: &LiveState) -> bool {
    use crate::model::{Carry, LiveGroup};
    fn list_holds<T: Ord>(carry: Carry, after: &[T], live: &BTreeSet<T>) -> bool {
        match carry {
            // A delta's removals are not recorded: only the exact result counts as applied (a
            // group changed since is then checked, and refused as stale).
            Carry::No | Carry::Delta => after.len() == live.len() && after.iter().all(|x| live.contains(x)),
            Carry::Kept => true,
            Carry::AddOnly => after.iter().all(|x| live.contains(x)),
        }
    }
    let holds = |after: &GroupState, carried: &Carried, g: &LiveGroup| {
        g.is_fully_known()
            && g.name == after.name
            && (carried.description || g.description == after.description)
            && list_holds(carried.members, &after.members, &g.members)
            && list_holds(carried.guests, &after.guests, &g.guests)
    };
    if plan.target.api_url != target_label || &plan.target.org != org || plan.actions.is_empty() {
        return false;
    }
    let by_id: HashMap<_, _> = live.groups.iter().map(|g| (&g.id, g)).collect();
    let by_name: HashMap<String, &LiveGroup> = live.groups.iter().map(|g| (name_key(&g.name), g)).collect();
    plan.actions.iter().all(|a| match a {
        SavedAction::CreateGuest { email, .. } => live.guests.as_ref().is_some_and(|gs| gs.iter().any(|g| &g.email == email)),
        SavedAction::CreateGroup { after } => by_name.get(&name_key(&after.name)).is_some_and(|g| holds(after, &Carried::default(), g)),
        SavedAction::UpdateGroup { id, after, carried } => by_id.get(id).is_some_and(|g| holds(after, carried, g)),
        SavedAction::DeleteGroup { id, .. } => !by_id.contains_key(id),
    })
}

/// Whether text that is not JSON reads like a groups.yaml: a top-level `groups:` or `settings:` key.
fn looks_like_groups_file(text: &str) -> bool {
    crate::desired::parse::lines(text).any(|line| line.starts_with("groups:") || line.starts_with("settings:"))
}

/// The entries the saved plan recorded as granting access until a day that is before `as_of`:
/// applied now, the plan would keep access the files end.
pub fn ended_since(plan: &SavedPlan, as_of: crate::date::Date) -> Vec<StaleInput> {
    let Some(expiry) = &plan.expiry else { return Vec::new() };
    expiry
        .ongoing
        .iter()
        .filter(|n| n.until < as_of)
        .map(|n| StaleInput::AccessEnded { note: n.clone(), planned_as_of: expiry.evaluated_at, as_of })
        .collect()
}

/// Refuses a saved plan made for another target, or whose inputs changed since.
pub fn check(plan: &SavedPlan, target_label: &str, org: &OrgId, live: &LiveState) -> Result<(), Staleness> {
    if plan.target.api_url != target_label || &plan.target.org != org {
        return Err(Staleness::OtherTarget {
            planned: plan.target.clone(),
            configured: Target { api_url: target_label.to_string(), org: org.clone() },
        });
    }
    let mut stale = Vec::new();
    let by_id: HashMap<_, _> = live.groups.iter().map(|g| (&g.id, g)).collect();
    for a in &plan.actions {
        if let SavedAction::UpdateGroup { id, .. } | SavedAction::DeleteGroup { id, .. } = a {
            let expected = plan.fingerprints.groups.get(id);
            match by_id.get(id) {
                None => stale.push(StaleInput::GroupGone { id: id.clone() }),
                Some(g) if Some(&fingerprint(&GroupState::from_live(g))) != expected || !g.is_fully_known() => {
                    stale.push(StaleInput::GroupChanged { id: id.clone(), name: g.name.clone() })
                }
                Some(_) => {}
            }
        }
    }
    let live_names: HashMap<String, &str> = live.groups.iter().map(|g| (name_key(&g.name), g.name.as_str())).collect();
    // Keyed again: a plan saved before the key knew Unicode forms holds lower-cased names only.
    for key in &plan.fingerprints.absent_names {
        if let Some(name) = live_names.get(&name_key(key)) {
            stale.push(StaleInput::NameTaken { name: name.to_string() });
        }
    }
    let users: HashMap<_, _> = live.users.iter().map(|u| (u.id, u)).collect();
    for (id, fp) in &plan.fingerprints.users {
        match users.get(id) {
            None => stale.push(StaleInput::UserGone { id: *id }),
            Some(u) if &plan::user_fingerprint(u) != fp => stale.push(StaleInput::UserChanged { id: *id, email: u.email.clone() }),
            Some(_) => {}
        }
    }
    if let Some(guests) = &live.guests {
        for a in &plan.actions {
            if let SavedAction::CreateGuest { email, .. } = a
                && guests.iter().any(|g| &g.email == email)
            {
                stale.push(StaleInput::GuestExists { email: email.clone() });
            }
        }
    }
    if stale.is_empty() { Ok(()) } else { Err(Staleness::Changed { changes: stale }) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::desired::load_str;
    use crate::diff::DiffOptions;
    use crate::model::{Email, GroupId, Guest, LiveGroup, User, UserId, UserStatus};
    use crate::plan::Target;

    fn group(id: &str, name: &str, m: &[u64]) -> LiveGroup {
        LiveGroup {
            id: GroupId(id.into()),
            name: name.into(),
            description: "d".into(),
            members: m.iter().map(|&i| UserId(i)).collect(),
            guests: Default::default(),
            unread: Vec::new(),
        }
    }

    fn live() -> LiveState {
        let users = (1..=3)
            .map(|i| User {
                id: UserId(i),
                email: Email::new(&format!("u{i}@x.co")),
                first_name: "U".into(),
                last_name: i.to_string(),
                status: UserStatus::Active,
            })
            .collect();
        LiveState { groups: vec![group("a", "A", &[1]), group("b", "B", &[1]), group("c", "Same", &[3])], users, guests: Some(vec![]) }
    }

    fn made(yaml: &str, live: &LiveState) -> Plan {
        let desired = load_str("g.yaml", yaml).expect("valid");
        crate::pipeline::make_plan(&desired, live, &DiffOptions::default(), Target { api_url: "https://t/api".into(), org: "o".into() })
            .expect("plan")
    }

    fn plan() -> Plan {
        made(
            "groups:\n  - name: A\n    members: [u2@x.co]\n  - name: B\n    absent: true\n  - name: New\n    guests: [g@p.co]\n  - name: Same\n    members: [u3@x.co]\n",
            &live(),
        )
    }

    fn saved() -> SavedPlan {
        parse("plan.json", &to_text(&plan())).expect("a freshly written plan reads back")
    }

    fn stale(live: &LiveState) -> Vec<StaleInput> {
        match check(&saved(), "https://t/api", &"o".into(), live) {
            Err(Staleness::Changed { changes }) => changes,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_link_planted_at_the_old_temporary_name_is_never_followed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let victim = dir.path().join("victim");
        std::fs::write(&victim, "keep me").expect("victim");
        let target = dir.path().join("plan.json");
        // The name earlier versions used, predictable from the process id.
        let planted = dir.path().join(format!(".plan.json.tmp-{}", std::process::id()));
        std::os::unix::fs::symlink(&victim, &planted).expect("symlink");
        write_atomic(&target, b"the plan").expect("written");
        assert_eq!(std::fs::read_to_string(&victim).expect("victim"), "keep me");
        assert_eq!(std::fs::read_to_string(&target).expect("target"), "the plan");
        // Nothing else is left beside it.
        let mut names: Vec<String> =
            std::fs::read_dir(dir.path()).expect("dir").map(|e| e.expect("entry").file_name().to_string_lossy().into_owned()).collect();
        names.sort();
        assert_eq!(names, vec![planted.file_name().expect("name").to_string_lossy().into_owned(), "plan.json".into(), "victim".into()]);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&target).expect("meta").permissions().mode() & 0o777;
            assert_eq!(mode & 0o600, 0o600, "{mode:o}");
        }
    }

    #[test]
    fn a_missing_folder_is_an_error_not_created() {
        let dir = tempfile::tempdir().expect("tempdir");
        let err = write_atomic(&dir.path().join("typo/report.json"), b"x").unwrap_err();
        assert!(err.to_string().contains("does not exist"), "{err}");
        assert!(!dir.path().join("typo").exists());
    }

    #[test]
    fn writing_to_a_device_or_fifo_never_replaces_it() {
        use std::os::unix::fs::FileTypeExt;
        write_atomic(Path::new("/dev/null"), b"nothing").expect("written");
        assert!(std::fs::metadata("/dev/null").expect("exists").file_type().is_char_device(), "/dev/null is still a device");
        let dir = tempfile::tempdir().expect("tempdir");
        let fifo = dir.path().join("fifo");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status().is_ok_and(|s| s.success());
        if made {
            let reader = std::thread::spawn({
                let fifo = fifo.clone();
                move || std::fs::read_to_string(fifo).expect("read")
            });
            write_atomic(&fifo, b"through the pipe").expect("written");
            assert_eq!(reader.join().expect("reader"), "through the pipe");
            assert!(std::fs::metadata(&fifo).expect("exists").file_type().is_fifo());
        }
    }

    #[test]
    fn a_fresh_plan_passes_round_trips_and_rebuilds_to_the_same_plan() {
        let p = plan();
        let s = saved();
        check(&s, "https://t/api", &"o".into(), &live()).expect("fresh");
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("plan.json");
        write(&path, &p).expect("written");
        assert_eq!(read(&path).expect("read"), s);
        let rebuilt = s.to_plan(&live()).expect("rebuilt");
        assert_eq!(rebuilt.actions, p.actions);
        assert_eq!(rebuilt.guard, p.guard);
        assert_eq!(rebuilt.users, p.users);
        // Only users the actions send are fingerprinted: u2 (into A), not u3 (unchanged group).
        assert_eq!(s.fingerprints.users.keys().copied().collect::<Vec<_>>(), vec![UserId(2)]);
    }

    #[test]
    fn every_kind_of_change_is_named() {
        let mut l = live();
        l.groups[0].members.insert(UserId(3));
        assert_eq!(stale(&l), vec![StaleInput::GroupChanged { id: GroupId("a".into()), name: "A".into() }]);
        let mut l = live();
        l.groups.remove(1);
        assert_eq!(stale(&l), vec![StaleInput::GroupGone { id: GroupId("b".into()) }]);
        let mut l = live();
        l.groups.push(group("n", "new", &[]));
        assert_eq!(stale(&l), vec![StaleInput::NameTaken { name: "new".into() }]);
        // A name is taken in any case or Unicode form, also by a plan saved when keys were only
        // lower-cased.
        let mut l = live();
        l.groups.push(group("n", "ＮＥＷ", &[]));
        assert_eq!(stale(&l), vec![StaleInput::NameTaken { name: "ＮＥＷ".into() }]);
        let mut older = saved();
        older.fingerprints.absent_names = vec!["ｎｅｗ".into()];
        let mut l = live();
        l.groups.push(group("n", "New", &[]));
        assert!(
            matches!(check(&older, "https://t/api", &"o".into(), &l), Err(Staleness::Changed { changes }) if changes == vec![StaleInput::NameTaken { name: "New".into() }])
        );
        let mut l = live();
        l.users[1].status = UserStatus::Disabled;
        assert_eq!(stale(&l), vec![StaleInput::UserChanged { id: UserId(2), email: Email::new("u2@x.co") }]);
        let mut l = live();
        l.users.remove(1);
        assert_eq!(stale(&l), vec![StaleInput::UserGone { id: UserId(2) }]);
        let mut l = live();
        l.guests = Some(vec![Guest { email: Email::new("g@p.co"), first_name: "G".into(), last_name: "P".into() }]);
        let changes = stale(&l);
        assert_eq!(changes, vec![StaleInput::GuestExists { email: Email::new("g@p.co") }]);
        // The words are the renderers': every change named, with what to do.
        let said = crate::render::words::staleness(&Staleness::Changed { changes });
        assert!(
            said.contains("guest g@p.co now exists, but the plan invites them") && said.contains("hint: run `plan --out` again"),
            "{said}"
        );
        // Changes the plan did not rely on do not make it stale.
        let mut l = live();
        l.users[2].email = Email::new("renamed@x.co");
        check(&saved(), "https://t/api", &"o".into(), &l).expect("u3 is not sent by any action");
    }

    /// `live()` after the saved plan's actions, all but those `skip` picks.
    fn after_apply(s: &SavedPlan, skip: fn(&SavedAction) -> bool) -> LiveState {
        let mut l = live();
        for a in s.actions.iter().filter(|a| !skip(a)) {
            match a {
                SavedAction::CreateGuest { email, first_name, last_name } => l.guests.get_or_insert_default().push(Guest {
                    email: email.clone(),
                    first_name: first_name.clone(),
                    last_name: last_name.clone(),
                }),
                SavedAction::CreateGroup { after } => {
                    let mut g = group("new-id", &after.name, &[]);
                    g.description = after.description.clone();
                    g.guests = after.guests.iter().cloned().collect();
                    l.groups.push(g);
                }
                SavedAction::UpdateGroup { id, after, .. } => {
                    let g = l.groups.iter_mut().find(|g| &g.id == id).expect("updated group");
                    g.members = after.members.iter().copied().collect();
                }
                SavedAction::DeleteGroup { id, .. } => l.groups.retain(|g| &g.id != id),
            }
        }
        l
    }

    #[test]
    fn a_plan_whose_result_is_already_live_was_already_applied() {
        let s = saved();
        assert_eq!(s.actions.len(), 4, "{:?}", s.actions);
        let o: OrgId = "o".into();
        assert!(!already_applied(&s, "https://t/api", &o, &live()), "nothing applied yet");
        let done = after_apply(&s, |_| false);
        assert!(already_applied(&s, "https://t/api", &o, &done));
        // Another target is never "already applied".
        assert!(!already_applied(&s, "https://other/api", &o, &done));
        assert!(!already_applied(&s, "https://t/api", &"p".into(), &done));
        // Any action not yet done: not applied.
        for skip in [
            (|a: &SavedAction| matches!(a, SavedAction::DeleteGroup { .. })) as fn(&SavedAction) -> bool,
            |a| matches!(a, SavedAction::CreateGroup { .. }),
            |a| matches!(a, SavedAction::UpdateGroup { .. }),
            |a| matches!(a, SavedAction::CreateGuest { .. }),
        ] {
            assert!(!already_applied(&s, "https://t/api", &o, &after_apply(&s, skip)));
        }
        // A member added in Tallyfy after the apply: the result no longer equals the plan's.
        let mut changed = done.clone();
        if let Some(g) = changed.groups.iter_mut().find(|g| g.name == "A") {
            g.members.insert(UserId(3));
        }
        assert!(!already_applied(&s, "https://t/api", &o, &changed));
    }

    #[test]
    fn another_target_is_refused() {
        let e = check(&saved(), "https://other/api", &"o".into(), &live()).unwrap_err();
        assert!(
            matches!(&e, Staleness::OtherTarget { planned, configured } if planned.api_url == "https://t/api" && configured.api_url == "https://other/api"),
            "{e:?}"
        );
        let e = crate::render::words::staleness(&e);
        assert!(e.contains("made for organization o at https://t/api, not o at https://other/api"), "{e}");
    }

    #[test]
    fn any_edited_byte_is_refused() {
        let text = to_text(&plan());
        parse("p.json", &text).expect("intact");
        // Every single-byte change in the body, and a change of the checksum itself.
        for (at, ch) in text.char_indices().filter(|(_, c)| c.is_ascii_alphanumeric()).step_by(7) {
            let replacement = if ch == 'x' { "y" } else { "x" };
            let edited = format!("{}{replacement}{}", &text[..at], &text[at + 1..]);
            match parse("p.json", &edited) {
                Err(ReadError::Tampered(m)) => assert!(m.contains("was changed after `plan --out` wrote it"), "{m}"),
                Err(ReadError::Unusable(_)) => {} // the edit broke the version or the JSON: refused too
                Ok(_) => panic!("an edit at byte {at} was accepted"),
            }
        }
        let spaced = text.replacen("\n", "\n ", 1);
        assert!(matches!(parse("p.json", &spaced), Err(ReadError::Tampered(_))));
    }

    #[test]
    fn a_workspace_plan_holds_every_target_and_is_sealed_as_a_whole() {
        let (one, two) = (plan(), plan());
        let text = workspace_to_text([("staging", &one), ("production", &two)]);
        let AnySaved::Workspace(doc) = parse_any("w.json", &text).expect("intact") else { panic!("not a workspace plan") };
        assert_eq!(doc.targets.keys().collect::<Vec<_>>(), ["production", "staging"]);
        assert_eq!(doc.targets["staging"], SavedPlan { checksum: String::new(), ..SavedPlan::of(&one) });
        // One checksum, at the end; the targets carry none.
        assert_eq!(text.matches("\"checksum\"").count(), 1);
        for (at, ch) in text.char_indices().filter(|(_, c)| c.is_ascii_alphanumeric()).step_by(11) {
            let edited = format!("{}{}{}", &text[..at], if ch == 'x' { "y" } else { "x" }, &text[at + 1..]);
            assert!(parse_any("w.json", &edited).is_err(), "an edit at byte {at} was accepted");
        }
        // Dropping a target is an edit too.
        let AnySaved::Workspace(mut fewer) = parse_any("w.json", &text).expect("intact") else { panic!() };
        fewer.targets.remove("production");
        let dropped = serde_json::to_string_pretty(&fewer).expect("json");
        assert!(matches!(parse_any("w.json", &dropped), Err(ReadError::Tampered(_))));
        // A single organization's plan reads as one.
        assert!(
            matches!(parse_any("p.json", &to_text(&one)), Ok(AnySaved::One(p)) if *p == parse("p.json", &to_text(&one)).expect("intact"))
        );
    }

    #[test]
    fn the_guard_is_recomputed_from_the_saved_actions_and_live_state() {
        // A plan that deletes nothing, then hand-edited into ten deletes and sealed again: the
        // guard in force is computed from the actions, never read from the file.
        let mut l = live();
        for i in 0..10 {
            l.groups.push(group(&format!("x{i}"), &format!("X{i}"), &[1, 2]));
        }
        let mut doc = SavedPlan::of(&made("groups:\n  - name: A\n    members: [u1@x.co]\n", &l));
        assert!(doc.actions.is_empty());
        for i in 0..10 {
            let id = GroupId(format!("x{i}"));
            doc.fingerprints.groups.insert(id.clone(), fingerprint(&GroupState::from_live(&l.groups[3 + i])));
            doc.actions.push(SavedAction::DeleteGroup { id, reason: DeleteReason::Pruned });
        }
        let text = seal(&(serde_json::to_string_pretty(&doc).expect("json") + "\n"));
        let back = parse("p.json", &text).expect("sealed again, so it reads");
        check(&back, "https://t/api", &"o".into(), &l).expect("not stale");
        let rebuilt = back.to_plan(&l).expect("rebuilt");
        assert_eq!(rebuilt.guard.deleted_groups, 10);
        assert!(rebuilt.guard.is_tripped(), "{:?}", rebuilt.guard);
        assert_eq!(rebuilt.guard.tripped[0], plan::GuardTrip::TooManyDeletedGroups { deleted: 10, max: 5 }, "{:?}", rebuilt.guard);
    }

    #[test]
    fn what_apply_shows_comes_from_live_state() {
        let s = saved();
        // The saved file holds no `before` state and no display names at all.
        let text = to_text(&plan());
        assert!(!text.contains("\"before\"") && !text.contains("\"name\": \"U 2\""), "{text}");
        let rebuilt = s.to_plan(&live()).expect("rebuilt");
        let Some(Action::UpdateGroup { before, .. }) = rebuilt.actions.iter().find(|a| matches!(a, Action::UpdateGroup { .. })) else {
            panic!("an update")
        };
        assert_eq!(before, &GroupState::from_live(&live().groups[0]));
    }

    #[test]
    fn unreadable_or_foreign_files_are_explained() {
        let unusable = |text: &str| match parse("p.json", text) {
            Err(ReadError::Unusable(m)) => m,
            other => panic!("{other:?}"),
        };
        assert!(unusable("{\"saved_plan_version\": 9}").contains("saved_plan_version 9; this tallyfy-groups reads version 1"));
        assert!(unusable("{\"format_version\": 1}").contains("it is a `plan --format json` rendering"));
        assert!(unusable("not json").contains("is not a saved plan (not JSON"));
        let yaml = unusable("# ours\ngroups:\n  - name: A\n");
        assert!(yaml.contains("p.json is a groups file, not a saved plan: use -f"), "{yaml}");
        let dir = tempfile::tempdir().expect("tempdir");
        let e = read(&dir.path().join("missing.json")).unwrap_err();
        assert!(matches!(&e, ReadError::Unusable(m) if m.contains("cannot read the saved plan")), "{e:?}");
    }
}
