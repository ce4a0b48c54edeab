//! The gates: what must hold before a plan is shown as passing (`plan`) or applied (`apply`).
//! Each gate is one function from the plan (and what the run was told) to a [`Refusal`];
//! [`check`] asks them all, in order. Adding a gate is adding a function here and a line to
//! [`check`]. Pure but for a warning logged when a guard is overridden.

use tallyfy_groups_core::plan::Plan;
use tallyfy_groups_core::render::words;
use tracing::warn;

use crate::error::{Refusal, Stage};

/// What the gates are told by the run.
#[derive(Debug, Clone, Copy, Default)]
pub struct Allowances<'a> {
    /// The `--allow-removals` reason that applies to this target, if any.
    pub removals: Option<&'a str>,
}

/// Asks every gate, in order; the first refusal stops the target. `target` names a
/// workspace's target (its overrides are `TARGET=REASON`).
pub fn check(plan: &mut Plan, stage: Stage, allow: Allowances<'_>, target: Option<&str>) -> Result<(), Refusal> {
    policy(plan, stage, target)?;
    removal_guard(plan, stage, allow.removals, target)
}

/// The policy gate: a violation of the policy file that no `--allow-policy` override covers
/// (the overrides were applied when the plan was judged, see [`crate::policy`]). A plan judged
/// by no policy passes. An override is logged, as the removal guard's is.
pub fn policy(plan: &mut Plan, stage: Stage, target: Option<&str>) -> Result<(), Refusal> {
    let Some(report) = &plan.policy else { return Ok(()) };
    if report.blocking().next().is_some() {
        return Err(Refusal::Policy { stage, trips: words::policy_trips(report), target: target.map(str::to_string) });
    }
    if stage == Stage::Apply {
        for o in &report.overrides {
            if report.violations.iter().any(|v| v.rule == o.rule) {
                warn!(rule = o.rule.as_str(), reason = o.reason.as_str(), "policy rule overridden with --allow-policy");
            }
        }
    }
    Ok(())
}

/// The removal guard (computed with the plan, from live state): too many groups deleted, too
/// large a share of memberships removed, or `prune` over an empty file. A reason overrides it,
/// and is recorded in the plan (and so in every rendering and the report).
pub fn removal_guard(plan: &mut Plan, stage: Stage, allow: Option<&str>, target: Option<&str>) -> Result<(), Refusal> {
    plan.guard.allow(allow);
    if !plan.guard.is_tripped() {
        return Ok(());
    }
    match (&plan.guard.allowed, stage) {
        (Some(reason), Stage::Apply) => {
            warn!(reason = reason.as_str(), "removal guard overridden with --allow-removals");
            Ok(())
        }
        (Some(_), Stage::Plan) => Ok(()),
        (None, _) => {
            Err(Refusal::RemovalGuard { stage, trips: words::guard_trips(&plan.guard.tripped), target: target.map(str::to_string) })
        }
    }
}
