//! Where groups are used in Tallyfy: template steps assigned to them, templates granting them
//! access, active processes and open tasks. Which groups a plan checks ([`groups_to_check`]),
//! what the reads found for each ([`attach`]), the removal guard's `group_in_use` trip and the
//! warnings (emptying a group in use, a group growing past a step's `max_assignable`, a deleted
//! group that archived templates still name). The reads themselves are the engine's. Pure; no
//! I/O.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::model::GroupId;
use crate::plan::{Action, GuardTrip, Plan};
use crate::warning::Warning;

/// When a plan reads where groups are used (`--usage-check`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum UsageCheck {
    /// For the groups the plan deletes or empties (their last member and guest removed).
    #[default]
    Auto,
    /// For every group the plan changes (an audit).
    Always,
    /// Never: the plan says "usage not checked" for every group it deletes or empties.
    Never,
}

impl UsageCheck {
    /// The flag's value.
    pub fn as_str(self) -> &'static str {
        match self {
            UsageCheck::Auto => "auto",
            UsageCheck::Always => "always",
            UsageCheck::Never => "never",
        }
    }
}

/// A template (Tallyfy's "checklist") as read: the groups it grants access to and its steps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    /// Its id.
    pub id: String,
    /// Its title.
    pub title: String,
    /// Read from the archived templates.
    pub archived: bool,
    /// Groups the template grants access to.
    pub access: Vec<GroupId>,
    /// Its steps.
    pub steps: Vec<Step>,
}

/// One step of a template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// Its id.
    pub id: String,
    /// Its title.
    pub title: String,
    /// Groups the step is assigned to.
    pub groups: Vec<GroupId>,
    /// The most people the step may be assigned to (members and guests of its groups counted);
    /// 0: no limit.
    pub max_assignable: u64,
}

/// Active processes and open tasks of one group, as Tallyfy counts them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Processes (runs) with status `active` the group is in.
    pub active_processes: u64,
    /// Tasks with status `incomplete` the group owns.
    pub open_tasks: u64,
}

/// What the usage reads found, whole: every template (active and archived), the counts of each
/// checked group, and how many requests it took.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UsageRead {
    /// Every template, with its steps.
    pub templates: Vec<Template>,
    /// The counts of each checked group.
    pub counts: BTreeMap<GroupId, Counts>,
    /// The requests the reads made.
    pub reads: usize,
}

/// A step that names a group, for display.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct StepRef {
    /// The step's id.
    pub id: String,
    /// Its title.
    pub title: String,
}

/// How one template uses a group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct TemplateUse {
    /// The template's id.
    pub id: String,
    /// Its title.
    pub title: String,
    /// Its steps assigned to the group.
    pub steps: Vec<StepRef>,
    /// Whether the template grants the group access.
    pub access: bool,
}

/// Where one group is used.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct GroupUsage {
    /// Templates (not archived) whose steps or access name the group.
    pub templates: Vec<TemplateUse>,
    /// Archived templates that name it (reported; they cannot be launched until restored).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub archived_templates: Vec<TemplateUse>,
    /// Active processes the group is in.
    pub active_processes: u64,
    /// Open tasks the group owns.
    pub open_tasks: u64,
}

impl GroupUsage {
    /// Whether deleting the group would break something that runs: a template that is not
    /// archived names it, or a process or task is open with it.
    pub fn in_use(&self) -> bool {
        !self.templates.is_empty() || self.active_processes > 0 || self.open_tasks > 0
    }

    /// The steps of templates (not archived) assigned to the group.
    pub fn steps(&self) -> usize {
        self.templates.iter().map(|t| t.steps.len()).sum()
    }
}

/// What a plan knows of where its groups are used.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsageReport {
    /// `--usage-check`.
    pub check: UsageCheck,
    /// Usage of every group checked, by id (none when nothing needed a check).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub groups: BTreeMap<GroupId, GroupUsage>,
    /// Requests the usage reads made.
    #[serde(default)]
    pub reads: usize,
}

impl UsageReport {
    /// The usage of group `id`, when it was checked.
    pub fn of(&self, id: &GroupId) -> Option<&GroupUsage> {
        self.groups.get(id)
    }

    /// Whether the action needed a check that `--usage-check never` skipped.
    pub fn not_checked(&self, action: &Action) -> bool {
        self.check == UsageCheck::Never && needs_check(action, UsageCheck::Auto).is_some()
    }
}

/// The group an action needs checked under `mode`: a delete, or an update that empties the group
/// (its last member and guest removed); with `always`, every update too. Creates have no usage.
pub fn needs_check(action: &Action, mode: UsageCheck) -> Option<&GroupId> {
    match (action, mode) {
        (_, UsageCheck::Never) => None,
        (Action::DeleteGroup { id, .. }, _) => Some(id),
        (Action::UpdateGroup { id, .. }, UsageCheck::Always) => Some(id),
        (Action::UpdateGroup { id, before, after, .. }, UsageCheck::Auto) => {
            (before.membership_count() > 0 && after.membership_count() == 0).then_some(id)
        }
        _ => None,
    }
}

/// The groups whose usage the plan reads under `mode`, in action order; none: no reads at all.
pub fn groups_to_check(plan: &Plan, mode: UsageCheck) -> Vec<GroupId> {
    plan.actions.iter().filter_map(|a| needs_check(a, mode)).cloned().collect()
}

/// How the templates use group `id`, the archived ones apart.
pub fn usage_of(id: &GroupId, templates: &[Template], counts: Counts) -> GroupUsage {
    let mut usage = GroupUsage { active_processes: counts.active_processes, open_tasks: counts.open_tasks, ..GroupUsage::default() };
    for t in templates {
        let steps: Vec<StepRef> =
            t.steps.iter().filter(|s| s.groups.contains(id)).map(|s| StepRef { id: s.id.clone(), title: s.title.clone() }).collect();
        let access = t.access.contains(id);
        if steps.is_empty() && !access {
            continue;
        }
        let used = TemplateUse { id: t.id.clone(), title: t.title.clone(), steps, access };
        if t.archived { usage.archived_templates.push(used) } else { usage.templates.push(used) }
    }
    usage
}

/// Records in `plan` what the usage check found (`read`: none when nothing was read, under
/// `never` or with nothing to check): each checked group's usage, the guard's `group_in_use`
/// trip for deleted groups in use, and the warnings (a group emptied while in use, a deleted
/// group archived templates name, a group growing past a step's `max_assignable`).
pub fn attach(plan: &mut Plan, mode: UsageCheck, read: Option<&UsageRead>) {
    plan.usage = UsageReport { check: mode, ..UsageReport::default() };
    let Some(read) = read else { return };
    plan.usage.reads = read.reads;
    plan.summary.usage_reads = read.reads;
    for id in groups_to_check(plan, mode) {
        let counts = read.counts.get(&id).copied().unwrap_or_default();
        plan.usage.groups.insert(id.clone(), usage_of(&id, &read.templates, counts));
    }
    let mut in_use = Vec::new();
    let mut warnings = Vec::new();
    for action in &plan.actions {
        match action {
            Action::DeleteGroup { id, before, .. } => {
                let Some(usage) = plan.usage.groups.get(id) else { continue };
                if usage.in_use() {
                    in_use.push(InUse::of(id, &before.name, usage));
                } else if !usage.archived_templates.is_empty() {
                    warnings.push(Warning::DeletedGroupInArchivedTemplates {
                        group: before.name.clone(),
                        templates: usage.archived_templates.iter().map(|t| t.title.clone()).collect(),
                    });
                }
            }
            Action::UpdateGroup { id, before, after, .. } => {
                if let Some(usage) = plan.usage.groups.get(id)
                    && before.membership_count() > 0
                    && after.membership_count() == 0
                    && usage.in_use()
                {
                    warnings.push(Warning::EmptiedGroupInUse {
                        group: after.name.clone(),
                        templates: usage.templates.iter().map(|t| t.title.clone()).collect(),
                        steps: usage.steps(),
                        active_processes: usage.active_processes,
                        open_tasks: usage.open_tasks,
                    });
                }
                let (was, will) = (before.membership_count(), after.membership_count());
                if will > was
                    && let Some((template, step)) = tightest_step(id, &read.templates)
                    && will as u64 > step.max_assignable
                {
                    warnings.push(Warning::PastMaxAssignable {
                        group: after.name.clone(),
                        template: template.title.clone(),
                        step: step.title.clone(),
                        max_assignable: step.max_assignable,
                        people: will,
                    });
                }
            }
            _ => {}
        }
    }
    if !in_use.is_empty() {
        plan.guard.tripped.push(GuardTrip::GroupInUse { groups: in_use });
    }
    plan.warnings.extend(warnings);
}

/// The step (of a template that is not archived) assigned to group `id` with the smallest
/// non-zero `max_assignable`.
fn tightest_step<'t>(id: &GroupId, templates: &'t [Template]) -> Option<(&'t Template, &'t Step)> {
    templates
        .iter()
        .filter(|t| !t.archived)
        .flat_map(|t| t.steps.iter().map(move |s| (t, s)))
        .filter(|(_, s)| s.max_assignable > 0 && s.groups.contains(id))
        .min_by_key(|(_, s)| s.max_assignable)
}

/// A deleted group still in use, as the guard reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct InUse {
    /// The group's id.
    pub id: GroupId,
    /// Its name.
    pub name: String,
    /// Templates (not archived) that name it.
    pub templates: usize,
    /// Steps of those templates assigned to it.
    pub steps: usize,
    /// Active processes it is in.
    pub active_processes: u64,
    /// Open tasks it owns.
    pub open_tasks: u64,
}

impl InUse {
    fn of(id: &GroupId, name: &str, u: &GroupUsage) -> Self {
        InUse {
            id: id.clone(),
            name: name.to_string(),
            templates: u.templates.len(),
            steps: u.steps(),
            active_processes: u.active_processes,
            open_tasks: u.open_tasks,
        }
    }
}

/// Deleted groups the saved plan recorded as checked and unused that are in use now: a saved
/// plan whose reviewer saw "not used" must not delete a group that became used since.
pub fn became_used<'p>(recorded: &BTreeMap<GroupId, GroupUsage>, plan: &'p Plan) -> Vec<(&'p GroupId, &'p str)> {
    plan.actions
        .iter()
        .filter_map(|a| match a {
            Action::DeleteGroup { id, before, .. } => Some((id, before.name.as_str())),
            _ => None,
        })
        .filter(|(id, _)| recorded.get(*id).is_some_and(|was| !was.in_use()) && plan.usage.of(id).is_some_and(GroupUsage::in_use))
        .collect()
}

#[cfg(test)]
mod tests;
