//! How a run's outcome is shown: one organization as it always was (its plan, its report, its
//! error), a workspace's targets under their names, with the exit status of the most severe
//! and the targets behind it. The one place where the two shapes differ. Does terminal and
//! file I/O.

use std::io::IsTerminal;
use std::path::Path;

use tallyfy_groups_api::apply::ApplyReport;
use tallyfy_groups_core::outcome::ExitStatus;
use tallyfy_groups_core::plan::Plan;
use tallyfy_groups_core::render::{self, TargetView};
use tallyfy_groups_core::saved;
use tallyfy_groups_publish::notify::{self, Facts};
use tracing::{info, warn};

use super::console::{Output, eprint_lines, print};
use super::error::Error;
use super::targets::Chosen;
use crate::cli::PlanFormat;
use tallyfy_groups_engine::{Stand, TargetError};

/// What `apply PLAN` prints when live state already equals the plan's result.
pub(crate) const ALREADY_APPLIED: &str = "Nothing to do: this plan was already applied (every group it touches already matches it).\n";

/// The error of one organization's run, taken out of its stands (a workspace shows its targets'
/// errors under their names instead).
pub(crate) fn single_failure(chosen: &Chosen, stands: &mut Vec<Stand>) -> Option<Error> {
    if !chosen.single() || !matches!(stands.as_slice(), [Stand::Failed(_)]) {
        return None;
    }
    match stands.pop() {
        Some(Stand::Failed(e)) => Some(Error::from(e)),
        _ => None,
    }
}

/// The facts a `--notify` summary reports: the organization and its plan, or every target's.
pub(crate) fn record_plans(facts: &mut Facts, chosen: &Chosen, stands: &[Stand]) {
    let targets = &chosen.run.targets;
    if chosen.single() {
        facts.organization = targets.first().map(|t| t.org.to_string());
        if let Some(Stand::Planned(p)) = stands.first() {
            facts.plan = Some(notify::PlanFacts::of(&p.plan));
        }
        return;
    }
    facts.organization = Some(targets.iter().map(|t| format!("{} ({})", t.label(), t.org)).collect::<Vec<_>>().join(", "));
    let mut all = notify::PlanFacts::default();
    for (target, stand) in targets.iter().zip(stands) {
        if let Stand::Planned(p) = stand {
            all.add(target.label(), &notify::PlanFacts::of(&p.plan));
        }
    }
    facts.plan = Some(all);
}

/// `plan --out`: one organization's plan, or every target's in one sealed document; a
/// workspace's is not written when a target could not be planned (it would be left out of the
/// plan without a trace).
pub(crate) fn save(path: &Path, chosen: &Chosen, stands: &[Stand], out: Output) -> Result<(), Error> {
    let failed = |source| Error::Write { path: path.display().to_string(), source };
    if chosen.single() {
        if let Some(Stand::Planned(p)) = stands.first() {
            saved::write(path, &p.plan).map_err(failed)?;
            info!(path = %path.display(), "saved the plan");
        }
        return Ok(());
    }
    let targets = &chosen.run.targets;
    let unplanned: Vec<&str> = targets.iter().zip(stands).filter(|(_, s)| matches!(s, Stand::Failed(_))).map(|(t, _)| t.label()).collect();
    if !unplanned.is_empty() {
        let line = format!("The plan was not saved to {}: target {} could not be planned.", path.display(), unplanned.join(", "));
        say(out, &line);
        return Ok(());
    }
    let plans = targets.iter().zip(stands).filter_map(|(t, s)| match s {
        Stand::Planned(p) => Some((t.label(), &p.plan)),
        _ => None,
    });
    saved::write_workspace(path, plans).map_err(failed)?;
    info!(path = %path.display(), "saved the plan of every target");
    Ok(())
}

/// The plans in `format`: one organization's plan, or every target's (a target whose saved plan
/// is already applied has no plan to show: it is said apart).
pub(crate) fn render_plans(
    chosen: &Chosen,
    stands: &[Stand],
    results: &[Result<ExitStatus, Error>],
    format: PlanFormat,
    out: Output,
) -> String {
    if chosen.single() {
        return match stands.first() {
            Some(Stand::Planned(p)) => render_plan(&p.plan, format, out),
            _ => String::new(),
        };
    }
    let messages: Vec<Option<String>> = stands.iter().map(|s| if let Stand::Failed(e) = s { Some(e.to_string()) } else { None }).collect();
    let views: Vec<TargetView> = chosen
        .run
        .targets
        .iter()
        .zip(stands)
        .zip(&messages)
        .zip(results)
        .filter(|(((_, stand), _), _)| !matches!(stand, Stand::AlreadyApplied))
        .map(|(((target, stand), message), result)| TargetView {
            name: target.label(),
            plan: match stand {
                Stand::Planned(p) => Ok(&p.plan),
                _ => Err(message.as_deref().unwrap_or("")),
            },
            status: status_of(result),
        })
        .collect();
    if views.is_empty() {
        return String::new();
    }
    match format {
        PlanFormat::Text => render::text::render_targets(&views, out.color, out.verbose),
        PlanFormat::Markdown => render::markdown::render_targets(&views),
        PlanFormat::Json => render::json::render_targets(&views),
    }
}

fn render_plan(plan: &Plan, format: PlanFormat, out: Output) -> String {
    match format {
        PlanFormat::Text => render::text::render_plan_with(plan, out.color, out.verbose),
        PlanFormat::Markdown => render::markdown::render_plan(plan),
        PlanFormat::Json => render::json::render_plan(plan),
    }
}

/// `apply --report`: one organization's report, or `{"format_version": 2, "targets": {name:
/// report}}`.
pub(crate) fn write_reports(path: &Path, chosen: &Chosen, reports: &[Option<ApplyReport>]) -> Result<(), Error> {
    let json = if chosen.single() {
        match reports.first() {
            Some(Some(report)) => render::json::render_report(report),
            _ => return Ok(()),
        }
    } else {
        render::json::render_reports(chosen.run.targets.iter().zip(reports).filter_map(|(t, r)| r.as_ref().map(|r| (t.label(), r))))
    };
    saved::write_atomic(path, json.as_bytes()).map_err(|source| Error::Write { path: path.display().to_string(), source })
}

/// How the run ends: one organization's result as it is; for a workspace, each target's error
/// under its name (unless the text rendering already showed it on this terminal), and which
/// targets the exit status comes from. `--notify` reports the targets' errors.
pub(crate) fn finish(
    chosen: &Chosen,
    mut results: Vec<Result<ExitStatus, Error>>,
    stands: &[Stand],
    text: bool,
    out: Output,
    facts: &mut Facts,
) -> Result<ExitStatus, Error> {
    if chosen.single() {
        return results.pop().unwrap_or(Ok(ExitStatus::Success));
    }
    let terminal = text && std::io::stdout().is_terminal() && std::io::stderr().is_terminal();
    let names: Vec<&str> = chosen.run.targets.iter().map(|t| t.label()).collect();
    let errors: Vec<String> =
        names.iter().zip(&results).filter_map(|(name, r)| r.as_ref().err().map(|e| format!("target {name}: {e}"))).collect();
    facts.error = (!errors.is_empty()).then(|| errors.join("\n"));
    for ((name, result), stand) in names.iter().zip(&results).zip(stands) {
        if let Err(e) = result
            && !(terminal && matches!(stand, Stand::Failed(_)))
        {
            if out.json_logs {
                tracing::error!(target_name = *name, exit_code = e.exit_status().code(), "{e}");
            } else {
                eprint_lines(&format!("error: target {name}: {e}"));
            }
        }
    }
    let statuses: Vec<ExitStatus> = results.iter().map(status_of).collect();
    let status = ExitStatus::most_severe(statuses.iter().copied());
    let worst = status.code();
    if status != ExitStatus::Success && names.len() > 1 {
        let because: Vec<&str> = names.iter().zip(&statuses).filter(|(_, s)| **s == status).map(|(n, _)| *n).collect();
        let what = match status {
            ExitStatus::Changes => "changes",
            ExitStatus::Refused => "refused",
            ExitStatus::Interrupted => "interrupted",
            _ => "failed",
        };
        let others: Vec<String> =
            names.iter().zip(&statuses).filter(|(_, s)| **s != status).map(|(n, s)| format!("{n} exit {}", s.code())).collect();
        let rest = if others.is_empty() { String::new() } else { format!(" ({})", others.join(", ")) };
        let line = format!("Exit {worst} from target {} ({what}){rest}.", because.join(", "));
        match (out.json_logs, status) {
            (false, _) => eprintln!("{line}"),
            (true, ExitStatus::Changes) => warn!(exit_code = worst, "{line}"),
            (true, _) => tracing::error!(exit_code = worst, "{line}"),
        }
    }
    Ok(status)
}

/// A target's exit status.
fn status_of(result: &Result<ExitStatus, Error>) -> ExitStatus {
    result.as_ref().map_or_else(Error::exit_status, |s| *s)
}

/// A target's error again (errors are not `Clone`), keeping its exit status.
pub(crate) fn same(e: &TargetError) -> Error {
    match e.exit_status() {
        ExitStatus::Refused => Error::Refused(e.to_string()),
        _ => Error::Config(e.to_string()),
    }
}

/// A line of the run's own on stderr (a warning in JSON logs).
pub(crate) fn say(out: Output, line: &str) {
    if out.json_logs { warn!("{line}") } else { eprintln!("{line}") }
}

/// Prints a line on stdout.
pub(crate) fn print_line(line: &str) {
    print(&format!("{line}\n"));
}
