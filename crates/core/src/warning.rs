//! What a reviewer of a plan should know, as data: each warning is a variant with the facts it
//! is about; the words are written by the renderers (`render::words`). Pure; no I/O.

use serde::{Deserialize, Serialize};

use crate::model::{Email, GroupId, UserId};

/// Where something was written in the desired state: file, 1-based line and column.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct At {
    pub file: String,
    pub line: usize,
    pub column: usize,
}

impl From<&crate::desired::Location> for At {
    fn from(l: &crate::desired::Location) -> Self {
        At { file: l.file.to_string(), line: l.line, column: l.column }
    }
}

/// A problem found in another input (the baseline's files), carried as it was reported.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Problem {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<At>,
    pub message: String,
}

impl From<&crate::desired::Diagnostic> for Problem {
    fn from(d: &crate::desired::Diagnostic) -> Self {
        Problem { at: d.at.as_ref().map(At::from), message: d.message.clone() }
    }
}

/// One thing a reviewer should know about a plan. Serialised with a `kind` tag.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Warning {
    /// Several live groups share a name, ignoring case and Unicode form; `key` is the folded
    /// name; `names` and `ids` in the same order (sorted by name, then id).
    DuplicateLiveNames {
        key: String,
        names: Vec<String>,
        #[serde(default)]
        ids: Vec<GroupId>,
    },
    /// Under `--no-removals`, a group keeps members and guests that the file no longer lists.
    NoRemovalsKeeps { group: String, members: usize, guests: usize },
    /// Under `--no-removals`, an `absent: true` group is not deleted.
    NoRemovalsNotDeleting { group: String },
    /// Under `--no-removals`, a group `prune` would delete is kept.
    NoRemovalsNotPruning { group: String },
    /// A `previously` name of `group` names a live group, but `group` already exists too: the
    /// old group is left alone.
    PreviouslyStillExists { old: String, group: String },
    /// A desired group matches a live group outside `--only`/`--exclude`: both are left alone.
    OutsideScope { group: String, live: String },
    /// An `absent: true` name differs from a live group's only by invisible, look-alike or space
    /// characters: nothing is deleted.
    AbsentLookAlike { at: At, group: String, live: String },
    /// A group to be created differs from a live group's name only by invisible, look-alike or
    /// space characters.
    CreateLookAlike { at: At, group: String, live: String },
    /// A `previously` name matches no live group, so the group is created anew; `closest` is the
    /// live name it most likely meant.
    PreviouslyUnmatched {
        at: At,
        old: String,
        group: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        closest: Option<String>,
    },
    /// A `previously` name is a live group that matches an `ignore` pattern, so it is not
    /// adopted and the group is created anew.
    PreviouslyIgnored { at: At, old: String, group: String, live: String, pattern: String },
    /// A member disabled in Tallyfy is left out of the group.
    DisabledMember { at: At, email: Email, user: UserId, group: String },
    /// More new guests than Tallyfy accepts per hour: apply paces them.
    GuestPacing { invites: usize, per_hour: u32, extra_minutes: usize },
    /// `--baseline` is invalid: no change is labelled.
    BaselineInvalid { problems: Vec<Problem> },
    /// `--baseline` does not resolve: changes to those groups count as introduced.
    BaselineUnresolved { problems: Vec<Problem> },
    /// `--baseline` could not be planned: no change is labelled. `error` is why.
    BaselineNotPlanned { error: String },
}
