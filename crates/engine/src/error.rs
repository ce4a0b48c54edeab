//! What stops a target: [`TargetError`] (it failed: bad input, the API, a write) and
//! [`Refusal`] (a gate refused it: exit status 3). Each knows its exit status; the messages are
//! the words the terminal prints. Pure; no I/O.

use tallyfy_groups_api::ApiError;
use tallyfy_groups_api::config::ConfigError;
use tallyfy_groups_api::error::Names;
use tallyfy_groups_core::desired::{Diagnostics, ReadError};
use tallyfy_groups_core::outcome::ExitStatus;
use tallyfy_groups_core::pipeline::{PlanError, files_of};

/// When a gate is asked: before showing a plan (a pull request's check), or before applying it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// `plan`: the check turns red when apply would refuse.
    Plan,
    /// `apply`: nothing is written.
    Apply,
}

/// Why a gate refused a target's plan (exit status 3).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Refusal {
    /// The removal guard tripped and no `--allow-removals` reason overrides it. `trips` is the
    /// guard's own account; `target` names a workspace's target, whose override is
    /// `TARGET=REASON`.
    #[error("{}", removal_guard_words(*.stage, .trips, .target.as_deref()))]
    RemovalGuard {
        /// Where it was asked.
        stage: Stage,
        /// The guard's account of what tripped it.
        trips: String,
        /// The workspace target it refused, if any.
        target: Option<String>,
    },
    /// A saved plan that no longer holds, or cannot be applied here; the words say why.
    #[error("{0}")]
    SavedPlan(String),
    /// The policy found violations no `--allow-policy` override covers. `trips` names the
    /// rules; `target` names a workspace's target.
    #[error("{}", policy_words(*.stage, .trips, .target.as_deref()))]
    Policy {
        /// Where it was asked.
        stage: Stage,
        /// The rules violated, and how often.
        trips: String,
        /// The workspace target it refused, if any.
        target: Option<String>,
    },
}

fn policy_words(stage: Stage, trips: &str, target: Option<&str>) -> String {
    let of = target.map(|t| format!(" of target {t}")).unwrap_or_default();
    match stage {
        Stage::Plan => format!(
            "the plan{of} violates the policy: {trips}; apply would refuse it.\n    hint: change the files so that the plan keeps the rules (the violations are listed above); if a rule must give way this once, plan (or apply) with --allow-policy RULE=\"why\""
        ),
        Stage::Apply => format!(
            "refusing to apply: the plan{of} violates the policy: {trips}.\n    hint: change the files so that the plan keeps the rules (the violations are listed above); if a rule must give way this once, run again with --allow-policy RULE=\"why\""
        ),
    }
}

fn removal_guard_words(stage: Stage, trips: &str, target: Option<&str>) -> String {
    let flag = match target {
        Some(name) => format!("--allow-removals {name}=\"why\""),
        None => "--allow-removals \"why\"".to_string(),
    };
    match stage {
        Stage::Plan => format!(
            "the removal guard tripped ({trips}); apply would refuse this plan.\n    hint: if the removals are intended, plan (or apply) with {flag}"
        ),
        Stage::Apply => format!(
            "refusing to apply: the removal guard tripped ({trips}).\n    hint: check the plan; if the removals are intended, run again with {flag}"
        ),
    }
}

fn usage_words(groups: &[String], error: &ApiError) -> String {
    let shown: Vec<String> = groups.iter().take(5).map(|g| format!("\"{g}\"")).collect();
    let more = if groups.len() > 5 { format!(" and {} more", groups.len() - 5) } else { String::new() };
    let why = match error.status() {
        Some(403) => {
            "the token may not read templates, processes or tasks (Tallyfy answered 403); use a token of a member who can read every template, or "
        }
        Some(_) | None => "run again once the API answers, or ",
    };
    // The API error's own hints speak of group writes and URLs; this one says what to do here.
    let text = error.to_string();
    let error = text.lines().next().unwrap_or_default();
    format!(
        "could not read where {}{more} {} used, so nothing is deleted or emptied: {error}\n    hint: {why}run with --usage-check never to go on without the check (every rendering of the plan then says \"usage not checked\")",
        shown.join(", "),
        if groups.len() == 1 { "is" } else { "are" },
    )
}

/// Why a target failed before anything was written.
#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    /// A groups file could not be read.
    #[error(transparent)]
    Read(#[from] ReadError),
    /// The groups files are invalid: every problem, with its location.
    #[error("{} invalid: {}", files_of(.0), .0)]
    Invalid(Diagnostics),
    /// The plan could not be made (unresolved members, lists not read whole).
    #[error(transparent)]
    Plan(#[from] PlanError),
    /// The API failed.
    #[error(transparent)]
    Api(#[from] ApiError),
    /// Reading the files stopped abnormally.
    #[error("reading the files failed: {0}")]
    Loading(String),
    /// Groups whose members did not resolve were left untouched (`--keep-going`); the rest was
    /// planned (and applied).
    #[error("these groups could not be resolved and were left untouched (--keep-going); every other group was processed: {0}")]
    KeptGoing(Diagnostics),
    /// Sources the files use could not be read (without `--keep-going`): nothing is planned.
    #[error(transparent)]
    Sources(tallyfy_groups_core::desired::ExpandError),
    /// Where the groups the plan deletes or empties are used could not be read: nothing is
    /// written, since an unread usage is never taken for "not used".
    #[error("{}", usage_words(.groups, .error))]
    Usage {
        /// The groups whose usage was to be read, by name.
        groups: Vec<String>,
        /// Why the read failed.
        error: ApiError,
    },
    /// A gate refused it.
    #[error(transparent)]
    Refused(#[from] Refusal),
    /// Live groups the access report selects were not read whole: a partial read never becomes
    /// rows.
    #[error(transparent)]
    Incomplete(#[from] tallyfy_groups_core::access::Incomplete),
    /// Its client's configuration is unusable.
    #[error(transparent)]
    Client(#[from] ConfigError),
    /// A setting of the target cannot be used (its credentials cannot be chosen, say); the words
    /// say what to do.
    #[error("{0}")]
    Unusable(String),
    /// An API error of a workspace's target, said with the target's own names for its settings.
    #[error("{}", .error.named(.names))]
    NamedApi {
        /// The error.
        error: ApiError,
        /// The target's names.
        names: Box<Names>,
    },
    /// The same for the client's configuration.
    #[error("{}", .error.named(.names))]
    NamedClient {
        /// The error.
        error: ConfigError,
        /// The target's names.
        names: Box<Names>,
    },
}

impl TargetError {
    /// The error in its target's words: the client's hints name the variables and options of a
    /// single organization; a workspace's target reads its own (`credentials_env`), and its
    /// organization and API URL come from the workspace file.
    pub fn named(self, target: &crate::settings::TargetSettings) -> Self {
        if target.name.is_none() {
            return self;
        }
        match self {
            TargetError::Api(error) => TargetError::NamedApi { error, names: Box::new(target.names.clone()) },
            TargetError::Client(error) => TargetError::NamedClient { error, names: Box::new(target.names.clone()) },
            other => other,
        }
    }

    /// The exit status this error ends a run with.
    pub fn exit_status(&self) -> ExitStatus {
        match self {
            TargetError::Refused(_) => ExitStatus::Refused,
            TargetError::Api(ApiError::Interrupted { .. })
            | TargetError::NamedApi { error: ApiError::Interrupted { .. }, .. }
            | TargetError::Usage { error: ApiError::Interrupted { .. }, .. } => ExitStatus::Interrupted,
            _ => ExitStatus::Error,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_targets_refusal_names_its_own_override() {
        let one = Refusal::RemovalGuard { stage: Stage::Apply, trips: "deletes 7 groups".into(), target: None };
        assert!(one.to_string().contains("run again with --allow-removals \"why\""), "{one}");
        let named = Refusal::RemovalGuard { stage: Stage::Plan, trips: "deletes 7 groups".into(), target: Some("production".into()) };
        assert!(named.to_string().contains("plan (or apply) with --allow-removals production=\"why\""), "{named}");
        assert_eq!(TargetError::from(named).exit_status(), ExitStatus::Refused);
    }
}
