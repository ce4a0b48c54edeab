//! The policy step: the policy file a run names (`--policy`, a workspace target's `policy:`)
//! read and checked, then its rules judged on a made plan (or a saved plan rebuilt from live
//! state), with the run's `--allow-policy` overrides; what it finds goes into the plan, and
//! [`crate::gate::policy`] refuses a plan with a violation no override covers. Does file I/O (the
//! policy file).

use std::collections::BTreeMap;
use std::path::Path;

use tallyfy_groups_core::desired::DesiredState;
use tallyfy_groups_core::model::{LiveState, name_key};
use tallyfy_groups_core::plan::{Action, Plan};
use tallyfy_groups_core::policy::{self, Context, Policy, PolicyOverride};

use crate::error::TargetError;

/// Reads and checks the policy file at `path`; a file that cannot be read or does not check is
/// an error (the gate fails closed).
pub fn load(path: &Path) -> Result<Policy, TargetError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        TargetError::Unusable(format!(
            "cannot read the policy file {}: {e}\n    hint: check the path given to --policy (or the workspace target's `policy:`)",
            path.display()
        ))
    })?;
    policy::parse(&path.display().to_string(), &text).map_err(TargetError::Invalid)
}

/// What the rules are judged against: every group name live and in the files (`desired`, for a
/// plan made from them); where the files declare each group.
pub fn context(live: &LiveState, desired: Option<&DesiredState>) -> Context {
    let mut names: Vec<String> = live.groups.iter().map(|g| g.name.clone()).collect();
    let mut declared = BTreeMap::new();
    if let Some(d) = desired {
        for g in &d.groups {
            names.push(g.name.value.clone());
            declared.insert(name_key(&g.name.value), g.name.at.to_string());
        }
    }
    Context { names, declared }
}

/// Judges `plan` against `policy` (the names it gives groups count as names a rule may mean) and
/// records the report in it.
pub fn judge(policy: &Policy, plan: &mut Plan, mut context: Context, overrides: &[PolicyOverride]) -> Result<(), TargetError> {
    context.names.extend(plan.actions.iter().filter_map(|a| match a {
        Action::CreateGroup { after } | Action::UpdateGroup { after, .. } => Some(after.name.clone()),
        _ => None,
    }));
    let report = policy::evaluate(policy, plan, &context, overrides).map_err(TargetError::Invalid)?;
    plan.policy = Some(report);
    Ok(())
}
