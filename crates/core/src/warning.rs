//! What a reviewer of a plan should know, as data: each warning is a variant with the facts it
//! is about; the words are written by the renderers (`render::words`). Pure; no I/O.

use serde::{Deserialize, Serialize};

use crate::model::{Email, GroupId, UserId};
use crate::source::Provenance;

/// Where something was written in the desired state: file, 1-based line and column.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, schemars::JsonSchema)]
pub struct At {
    /// The file's name, as given.
    pub file: String,
    /// The line, from 1.
    pub line: usize,
    /// The column, from 1.
    pub column: usize,
}

impl From<&crate::desired::Location> for At {
    fn from(l: &crate::desired::Location) -> Self {
        At { file: l.file.to_string(), line: l.line, column: l.column }
    }
}

/// A problem found in another input (the baseline's files), carried as it was reported.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Problem {
    /// Where, when the problem has a place.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<At>,
    /// What is wrong.
    pub message: String,
}

impl From<&crate::desired::Diagnostic> for Problem {
    fn from(d: &crate::desired::Diagnostic) -> Self {
        Problem { at: d.at.as_ref().map(At::from), message: d.message.clone() }
    }
}

/// One thing a reviewer should know about a plan. Serialised with a `kind` tag.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Warning {
    /// Several live groups share a name, ignoring case and Unicode form; `key` is the folded
    /// name; `names` and `ids` in the same order (sorted by name, then id).
    DuplicateLiveNames {
        /// The name, folded.
        key: String,
        /// The live groups' names.
        names: Vec<String>,
        /// Their ids, in the same order.
        #[serde(default)]
        ids: Vec<GroupId>,
    },
    /// Under `--no-removals`, a group keeps members and guests that the file no longer lists.
    NoRemovalsKeeps {
        /// The group, as the file names it.
        group: String,
        /// Members kept.
        members: usize,
        /// Guests kept.
        guests: usize,
    },
    /// Under `--no-removals`, an `absent: true` group is not deleted.
    NoRemovalsNotDeleting {
        /// The live group's name.
        group: String,
    },
    /// Under `--no-removals`, a group `prune` would delete is kept.
    NoRemovalsNotPruning {
        /// The live group's name.
        group: String,
    },
    /// A `previously` name of `group` names a live group, but `group` already exists too: the
    /// old group is left alone.
    PreviouslyStillExists {
        /// The name of the live group under the old name.
        old: String,
        /// The group, as the file names it.
        group: String,
    },
    /// A desired group matches a live group outside `--only`/`--exclude`: both are left alone.
    OutsideScope {
        /// The group, as the file names it.
        group: String,
        /// The live group's name.
        live: String,
    },
    /// An `absent: true` name differs from a live group's only by invisible, look-alike or space
    /// characters: nothing is deleted.
    AbsentLookAlike {
        /// Where the group is written.
        at: At,
        /// The group, as the file names it.
        group: String,
        /// The live group's name.
        live: String,
    },
    /// A group to be created differs from a live group's name only by invisible, look-alike or
    /// space characters.
    CreateLookAlike {
        /// Where the group is written.
        at: At,
        /// The group, as the file names it.
        group: String,
        /// The live group's name.
        live: String,
    },
    /// A `previously` name matches no live group, so the group is created anew; `closest` is the
    /// live name it most likely meant.
    PreviouslyUnmatched {
        /// Where the old name is written.
        at: At,
        /// The old name.
        old: String,
        /// The group, as the file names it.
        group: String,
        /// The live name it most likely meant, if one is close.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        closest: Option<String>,
    },
    /// A `previously` name is a live group that matches an `ignore` pattern, so it is not
    /// adopted and the group is created anew.
    PreviouslyIgnored {
        /// Where the `previously` name is written.
        at: At,
        /// The `previously` name.
        old: String,
        /// The group of the file that names it.
        group: String,
        /// The ignored live group's name.
        live: String,
        /// The `ignore` pattern that matches it.
        pattern: String,
    },
    /// A member disabled in Tallyfy is left out of the group.
    DisabledMember {
        /// Where the member is written.
        at: At,
        /// Their email.
        email: Email,
        /// Their user id.
        user: UserId,
        /// The group, as the file names it.
        group: String,
    },
    /// More new guests than Tallyfy accepts per hour: apply paces them.
    GuestPacing {
        /// New guests to invite.
        invites: usize,
        /// Invitations Tallyfy accepts per hour.
        per_hour: u32,
        /// About how many more minutes apply takes for them.
        extra_minutes: usize,
    },
    /// `--baseline` is invalid: no change is labelled.
    BaselineInvalid {
        /// The baseline's problems.
        problems: Vec<Problem>,
    },
    /// `--baseline` does not resolve: changes to those groups count as introduced.
    BaselineUnresolved {
        /// The members that did not resolve.
        problems: Vec<Problem>,
    },
    /// `--baseline` could not be planned: no change is labelled. `error` is why.
    BaselineNotPlanned {
        /// Why.
        error: String,
    },
    /// A source under `sources:` that no group uses.
    UnusedSource {
        /// Where it is defined.
        at: At,
        /// Its name.
        source: String,
    },
    /// Reading a source left someone out (an LDAP entry without the attribute, with
    /// `missing: skip`).
    SourceSkipped {
        /// The source's name.
        source: String,
        /// Its kind (`csv`, `command`, `ldap`, `list`).
        source_kind: String,
        /// What was left out, and why.
        message: String,
    },
    /// An address that is no user of the organization, from a source with `unknown: warn`:
    /// left out of the group.
    UnknownFromSource {
        /// The address.
        email: Email,
        /// The group, as the file names it.
        group: String,
        /// Where the address comes from.
        origins: Vec<Provenance>,
    },
    /// A group the plan empties (its last member and guest removed) is still used by templates,
    /// active processes or open tasks: steps assigned to it will have nobody to do them.
    EmptiedGroupInUse {
        /// The group's name.
        group: String,
        /// Titles of the templates (not archived) that name it.
        templates: Vec<String>,
        /// Steps of those templates assigned to it.
        steps: usize,
        /// Active processes it is in.
        active_processes: u64,
        /// Open tasks it owns.
        open_tasks: u64,
    },
    /// A deleted group that only archived templates still name (they cannot be launched until
    /// restored, and would then have lost it).
    DeletedGroupInArchivedTemplates {
        /// The group's name.
        group: String,
        /// Titles of the archived templates.
        templates: Vec<String>,
    },
    /// A group grows past the `max_assignable` of a step it is assigned to: Tallyfy refuses
    /// such an assignment when the template is launched.
    PastMaxAssignable {
        /// The group's name.
        group: String,
        /// The template's title.
        template: String,
        /// The step's title.
        step: String,
        /// The step's limit.
        max_assignable: u64,
        /// Members and guests the group will have.
        people: usize,
    },
}
