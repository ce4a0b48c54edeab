//! The apply report: how each action of a plan ended. Plain data that the applier fills and the
//! renderers read. Pure; no I/O.

use serde::{Deserialize, Serialize};

use crate::model::{Email, GroupId};
use crate::plan::{Action, ActionKind};

/// How one action ended. Serialised with a `status` tag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Outcome {
    /// It took effect.
    Applied,
    /// It failed.
    Failed {
        /// How.
        error: ActionError,
    },
    /// It was not started.
    Skipped {
        /// Why.
        reason: SkipReason,
    },
    /// It may or may not have taken effect (a create whose re-read failed, a request abandoned
    /// in flight); the next plan shows which.
    Unknown {
        /// Why.
        reason: UnknownReason,
        /// The failure that left it unknown, when a request failed.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<ActionError>,
    },
}

/// Why an action failed: what kind of failure, the HTTP status and Tallyfy's error code when the
/// API answered, and the message (the server's text included; never the token).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActionError {
    /// What kind of failure.
    pub kind: ErrorKind,
    /// The HTTP status, when the API answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// Tallyfy's machine-readable error code, when its answer had one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// What went wrong and what to do, the server's text included.
    pub message: String,
}

/// The kind of an action's failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The API answered with an error status.
    Http,
    /// No answer: connection refused or dropped, or a timeout.
    Transport,
    /// An answer that is not the JSON the API documents.
    Decode,
    /// A list read back was incomplete or its pagination could not be trusted.
    IncompleteRead,
    /// Tallyfy asked to wait longer than the retry budget allows.
    RateLimited,
    /// A redirect, never followed.
    Redirected,
    /// The API stopped answering.
    StoppedAnswering,
    /// A create that may have taken effect, and reading it back failed too.
    Unconfirmed,
    /// The credentials were refused or could not be exchanged.
    Unauthorized,
    /// The group was gone when read right before the write.
    GroupGone,
    /// The group's lists were not read whole right before the write.
    UnreadLists,
    /// A stop (Ctrl-C, SIGTERM) ended the request.
    Interrupted,
}

/// Why an action was not started.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SkipReason {
    /// A guest the group lists could not be invited.
    GuestNotInvited {
        /// The guest's email.
        email: Email,
    },
    /// Apply was interrupted before the action started.
    Interrupted,
    /// The API stopped answering after this many connection failures or timeouts in a row.
    StoppedAnswering {
        /// The failures in a row.
        failures: u32,
    },
    /// The action's task ended abnormally.
    EndedAbnormally,
}

/// Why an action's effect is unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UnknownReason {
    /// A create failed in a way that may have taken effect, and reading it back failed too.
    ReadBackFailed,
    /// A create's last attempt failed in a way that may have taken effect.
    Ambiguous,
    /// Apply was interrupted while the request was in flight, and its grace ran out.
    AbandonedInFlight,
}

/// The group or guest an action is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Subject {
    /// `id` is absent for a create.
    Group {
        /// The group's id.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<GroupId>,
        /// Its name (the new one, for an update that renames it).
        name: String,
    },
    /// A guest.
    Guest {
        /// The guest's email.
        email: Email,
    },
}

impl Subject {
    /// The group or guest `action` is about.
    pub fn of(action: &Action) -> Self {
        match action {
            Action::CreateGuest { email, .. } => Subject::Guest { email: email.clone() },
            Action::CreateGroup { after } => Subject::Group { id: None, name: after.name.clone() },
            Action::UpdateGroup { id, after, .. } => Subject::Group { id: Some(id.clone()), name: after.name.clone() },
            Action::DeleteGroup { id, before, .. } => Subject::Group { id: Some(id.clone()), name: before.name.clone() },
        }
    }
}

/// One action's result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActionResult {
    /// The action's position in the plan, from 0.
    pub index: usize,
    /// What kind of API call it was.
    pub action: ActionKind,
    /// The group or guest it was about.
    #[serde(flatten)]
    pub subject: Subject,
    /// How it ended.
    pub outcome: Outcome,
}

/// Every action's result, in plan order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApplyReport {
    /// One result per action.
    pub results: Vec<ActionResult>,
    /// The reason given with `--allow-removals`, when the guard was overridden.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_removals: Option<String>,
    /// The policy rules overridden for the run (`--allow-policy`), with why.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub policy_overrides: Vec<crate::policy::PolicyOverride>,
}

impl ApplyReport {
    /// (applied, failed, skipped).
    pub fn counts(&self) -> (usize, usize, usize) {
        let mut c = (0, 0, 0);
        for r in &self.results {
            match r.outcome {
                Outcome::Applied => c.0 += 1,
                Outcome::Failed { .. } => c.1 += 1,
                Outcome::Skipped { .. } => c.2 += 1,
                Outcome::Unknown { .. } => {}
            }
        }
        c
    }

    /// Actions that may or may not have taken effect.
    pub fn unknown(&self) -> usize {
        self.results.iter().filter(|r| matches!(r.outcome, Outcome::Unknown { .. })).count()
    }

    /// Whether every action took effect.
    pub fn all_applied(&self) -> bool {
        self.results.iter().all(|r| r.outcome == Outcome::Applied)
    }
}
