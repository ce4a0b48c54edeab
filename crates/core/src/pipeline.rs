//! The whole pure pipeline from a desired state and a live state to a plan: resolve, diff,
//! build. Pure; no I/O.

use crate::desired::{DesiredState, Diagnostics};
use crate::diff::{self, DiffOptions, UnreadGroup};
use crate::model::LiveState;
use crate::plan::{self, GuardLimits, Plan, Target};
use crate::render;
use crate::resolve::{self, Directory};
use crate::warning::Warning;

/// Why no plan could be made.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// Members that do not resolve to users (without `--keep-going`).
    #[error("{}", unresolved_message(.errors, .warnings))]
    Unresolved {
        /// Every member that did not resolve.
        errors: Diagnostics,
        /// The warnings of resolving, shown with the errors.
        warnings: Vec<Warning>,
    },
    /// Groups the plan would write whose lists were not read whole.
    #[error("{}", unread_message(.0))]
    Unread(Vec<UnreadGroup>),
    /// `external: true` groups that do not exist.
    #[error("{}", external_message(.0))]
    ExternalMissing(Vec<String>),
}

fn external_message(names: &[String]) -> String {
    let quoted: Vec<String> = names.iter().map(|n| format!("\"{}\"", crate::names::visible(n))).collect();
    format!(
        "{} {} `external: true` but {} not exist in Tallyfy, so nothing is planned\n    hint: an external group is managed elsewhere and never created here: create it there (or check its name), or remove `external: true` to manage it here",
        quoted.join(", "),
        if names.len() == 1 { "is" } else { "are" },
        if names.len() == 1 { "does" } else { "do" }
    )
}

/// The whole pure pipeline from desired + live to a plan.
pub fn make_plan(desired: &DesiredState, live: &LiveState, options: &DiffOptions, target: Target) -> Result<Plan, PlanError> {
    let directory = Directory::new(&live.users);
    let resolution = resolve::resolve_all(desired, &directory, |g| options.scope.includes(&g.name.value));
    if !resolution.errors.is_empty() && !options.keep_going {
        return Err(PlanError::Unresolved { errors: Diagnostics(resolution.errors), warnings: resolution.warnings });
    }
    // --keep-going: groups that did not resolve (and their old names) are left untouched.
    let mut scoped;
    let options = if resolution.failed.is_empty() {
        options
    } else {
        scoped = options.clone();
        let names = desired
            .groups
            .iter()
            .filter(|g| resolution.failed.contains(&g.name.value))
            .flat_map(|g| std::iter::once(g.name.value.clone()).chain(g.previously.iter().map(|p| p.value.clone())));
        scoped.scope.skip(names.collect::<Vec<_>>());
        &scoped
    };
    let d = diff::diff(desired, &resolution.groups, &live.groups, live.guests.as_deref(), options);
    if !d.unread.is_empty() {
        return Err(PlanError::Unread(d.unread));
    }
    if !d.missing_external.is_empty() {
        return Err(PlanError::ExternalMissing(d.missing_external));
    }
    let limits = GuardLimits::of(desired);
    let mut plan = plan::build(d, &limits, &directory, target);
    plan.sources = desired.files.clone();
    plan.owned_only = desired.settings.owned.is_some();
    plan.additive = desired
        .groups
        .iter()
        .filter(|g| g.sync == crate::desired::Sync::Additive && !g.absent && !g.external)
        .map(|g| g.name.value.clone())
        .collect();
    plan.warnings.extend(resolution.warnings);
    plan.warnings.extend(desired.warnings.iter().cloned());
    plan.errors = resolution.errors;
    Ok(plan)
}

/// "bad4.yaml is" / "a.yaml and b.yaml are": the files the diagnostics point into.
pub fn files_of(diags: &Diagnostics) -> String {
    let mut files: Vec<&str> = Vec::new();
    for d in &diags.0 {
        if let Some(at) = &d.at
            && !files.contains(&&*at.file)
        {
            files.push(&at.file);
        }
    }
    match files.as_slice() {
        [] => "the input is".to_string(),
        [one] => format!("{one} is"),
        [a, b] => format!("{a} and {b} are"),
        more => format!("{} files are", more.len()),
    }
}

fn unresolved_message(errors: &Diagnostics, warnings: &[Warning]) -> String {
    let mut text = format!(
        "{} the organization's users: {errors}",
        files_of(errors).replace(" is", " does not match").replace(" are", " do not match")
    );
    if !warnings.is_empty() {
        text.push_str(&format!("\nwarnings found too ({}):", warnings.len()));
        for w in render::words::warnings(warnings) {
            text.push_str(&format!("\n  {w}"));
        }
    }
    text.push_str("\n    hint: fix the file; --keep-going plans and applies every other group and leaves these untouched");
    text
}

fn unread_message(groups: &[UnreadGroup]) -> String {
    let mut text = format!(
        "refusing to plan: Tallyfy did not return the whole member or guest list of {} the plan would write, also when read alone; writing {} could drop memberships:",
        render::plural(groups.len(), "group", "groups"),
        if groups.len() == 1 { "it" } else { "them" }
    );
    for g in groups {
        let why: Vec<String> = g.unread.iter().map(ToString::to_string).collect();
        text.push_str(&format!("\n  - group \"{}\" (id {}): {}", g.name, g.id, why.join("; ")));
    }
    text.push_str("\n    hint: run again later; if it persists, check the group in Tallyfy, or leave it out with --exclude");
    text
}
