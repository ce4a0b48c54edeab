//! The usage check, a fetch step after the plan is made: the groups the plan deletes or empties
//! (every changed group with `--usage-check always`) are looked up in Tallyfy's templates,
//! processes and tasks, and what was found goes into the plan (its guard trips on a deleted group
//! in use, see [`tallyfy_groups_core::usage`]). A saved plan's recorded usage is compared with a
//! fresh read before it is applied. Does network I/O through the API it is given.

use tallyfy_groups_api::{TallyfyApi, read_usage};
use tallyfy_groups_core::plan::{Action, Plan};
use tallyfy_groups_core::render::words;
use tallyfy_groups_core::saved::{SavedPlan, StaleInput, Staleness};
use tallyfy_groups_core::usage::{self, UsageCheck};

use crate::error::{Refusal, TargetError};

/// Reads where the plan's deleted or emptied groups are used (under `mode`) and records it in
/// the plan; no request at all when no group needs a check. A failed read fails the target.
pub async fn check<A: TallyfyApi>(api: &A, plan: &mut Plan, mode: UsageCheck) -> Result<(), TargetError> {
    let groups = usage::groups_to_check(plan, mode);
    if groups.is_empty() {
        usage::attach(plan, mode, None);
        return Ok(());
    }
    match read_usage(api, &groups).await {
        Ok(read) => {
            usage::attach(plan, mode, Some(&read));
            Ok(())
        }
        Err(error) => Err(TargetError::Usage { groups: names(plan, &groups), error }),
    }
}

/// The names of groups `ids`, as the plan's actions show them.
fn names(plan: &Plan, ids: &[tallyfy_groups_core::model::GroupId]) -> Vec<String> {
    ids.iter()
        .map(|id| {
            plan.actions
                .iter()
                .find_map(|a| match a {
                    Action::DeleteGroup { id: i, before, .. } | Action::UpdateGroup { id: i, before, .. } if i == id => {
                        Some(before.name.clone())
                    }
                    _ => None,
                })
                .unwrap_or_else(|| format!("group id {id}"))
        })
        .collect()
}

/// Refuses a saved plan (as stale) that deletes a group it recorded as checked and unused, which
/// the fresh read in `plan` (rebuilt from it, usage checked) finds in use.
pub fn check_saved(saved: &SavedPlan, plan: &Plan) -> Result<(), Refusal> {
    // What the reviewer saw was checked; a run that does not check again cannot apply it.
    let unchecked: Vec<&str> = plan
        .actions
        .iter()
        .filter_map(|a| match a {
            Action::DeleteGroup { id, before, .. } if saved.usage.contains_key(id) && plan.usage.of(id).is_none() => {
                Some(before.name.as_str())
            }
            _ => None,
        })
        .collect();
    if !unchecked.is_empty() {
        return Err(Refusal::SavedPlan(format!(
            "refusing to apply: the saved plan checked where {} {} used, and this run does not check it again (--usage-check never)\n    hint: apply without --usage-check never, so that a group that became used since is seen; or make a new plan with --usage-check never and have it reviewed",
            unchecked.iter().map(|n| format!("\"{n}\"")).collect::<Vec<_>>().join(", "),
            if unchecked.len() == 1 { "is" } else { "are" }
        )));
    }
    let changes: Vec<StaleInput> = usage::became_used(&saved.usage, plan)
        .into_iter()
        .map(|(id, name)| StaleInput::GroupNowUsed {
            id: id.clone(),
            name: name.to_string(),
            usage: plan.usage.of(id).cloned().unwrap_or_default(),
        })
        .collect();
    if changes.is_empty() { Ok(()) } else { Err(Refusal::SavedPlan(words::staleness(&Staleness::Changed { changes }))) }
}
