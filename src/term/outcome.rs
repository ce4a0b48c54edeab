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
use super::signals::run_stop;
use super::targets::Chosen;
use crate::cli::PlanFormat;
use tallyfy_groups_engine::{RunReport, TargetOutcome, TargetStatus};

/// What `apply PLAN` prints when live state already equals the plan's result.
pub(crate) const ALREADY_APPLIED: &str = "Nothing to do: this plan was already applied (every group it touches already matches it).\n";

/// One organization's run that failed before it was planned ends with its error as it is (a
/// workspace shows its targets' errors under their names instead).
pub(crate) fn single_failure(chosen: &Chosen, report: &mut RunReport) -> Result<(), Error> {
    if !chosen.single() {
        return Ok(());
    }
    match report.targets.first_mut() {
        Some(TargetOutcome { planned: None, status: status @ (TargetStatus::Failed(_) | TargetStatus::Refused(_)) }) => {
            Err(error_of(std::mem::replace(status, TargetStatus::Interrupted)))
        }
        _ => Ok(()),
    }
}

/// The error a target's status ends one organization's run with.
fn error_of(status: TargetStatus) -> Error {
    match status {
        TargetStatus::Failed(e) => Error::from(e),
        TargetStatus::Refused(r) => Error::Refusal(r),
        other => Error::Config(other.problem().unwrap_or_default()),
    }
}

/// The facts a `--notify` summary reports: the organization and its plan, or every target's.
pub(crate) fn record_plans(facts: &mut Facts, chosen: &Chosen, report: &RunReport) {
    let targets = &chosen.run.targets;
    if chosen.single() {
        facts.organization = targets.first().map(|t| t.org.to_string());
        if let Some(planned) = report.targets.first().and_then(|t| t.planned.as_ref()) {
            facts.plan = Some(notify::PlanFacts::of(&planned.plan));
        }
        return;
    }
    facts.organization = Some(targets.iter().map(|t| format!("{} ({})", t.label(), t.org)).collect::<Vec<_>>().join(", "));
    let mut all = notify::PlanFacts::default();
    for (target, outcome) in targets.iter().zip(&report.targets) {
        if let Some(planned) = &outcome.planned {
            all.add(target.label(), &notify::PlanFacts::of(&planned.plan));
        }
    }
    facts.plan = Some(all);
}

/// `plan --out`: one organization's plan, or every target's in one sealed document; a
/// workspace's is not written when a target could not be planned (it would be left out of the
/// plan without a trace).
pub(crate) fn save(path: &Path, chosen: &Chosen, report: &RunReport, out: Output) -> Result<(), Error> {
    let failed = |source| Error::Write { path: path.display().to_string(), source };
    // A plan the policy refuses is not written: apply would refuse it, and a file would only
    // invite an attempt.
    let refused: Vec<&str> = chosen
        .run
        .targets
        .iter()
        .zip(&report.targets)
        .filter(|(_, o)| matches!(o.status, TargetStatus::Refused(tallyfy_groups_engine::Refusal::Policy { .. })))
        .map(|(t, _)| t.label())
        .collect();
    if !refused.is_empty() {
        let whose = if chosen.single() { String::new() } else { format!(" (target {})", refused.join(", ")) };
        let earlier = if path.exists() { " The file already there is an earlier plan, not this one." } else { "" };
        say(out, &format!("The plan was not saved to {}: it violates the policy{whose}.{earlier}", path.display()));
        return Ok(());
    }
    if chosen.single() {
        if let Some(planned) = report.targets.first().and_then(|t| t.planned.as_ref()) {
            saved::write(path, &planned.plan).map_err(failed)?;
            say_saved(path, out);
        }
        return Ok(());
    }
    let targets = &chosen.run.targets;
    let unplanned: Vec<&str> = targets.iter().zip(&report.targets).filter(|(_, o)| o.planned.is_none()).map(|(t, _)| t.label()).collect();
    if !unplanned.is_empty() {
        let line = format!("The plan was not saved to {}: target {} could not be planned.", path.display(), unplanned.join(", "));
        say(out, &line);
        return Ok(());
    }
    let plans = targets.iter().zip(&report.targets).filter_map(|(t, o)| o.planned.as_ref().map(|p| (t.label(), &p.plan)));
    saved::write_workspace(path, plans).map_err(failed)?;
    say_saved(path, out);
    Ok(())
}

/// Where `plan --out` saved the plan, and the command that applies it.
fn say_saved(path: &Path, out: Output) {
    let shown = tallyfy_groups_core::names::visible(&path.display().to_string()).into_owned();
    let quoted = if shown.chars().all(|c| c.is_ascii_alphanumeric() || "/._-+:@".contains(c)) {
        shown.clone()
    } else {
        format!("'{}'", shown.replace('\'', "'\\''"))
    };
    if out.json_logs {
        info!(path = %shown, "saved the plan; apply it with: tallyfy-groups apply {quoted}");
    } else if !out.quiet {
        eprintln!("Saved the plan to {shown}. Apply it with: tallyfy-groups apply {quoted}");
    }
}

/// The plans in `format`: one organization's plan, or every target's (a target whose saved plan
/// is already applied has no plan to show: it is said apart).
pub(crate) fn render_plans(chosen: &Chosen, report: &RunReport, detailed: bool, format: PlanFormat, out: Output) -> String {
    if chosen.single() {
        return match report.targets.first().and_then(|t| t.planned.as_ref()) {
            Some(planned) => render_plan(&planned.plan, format, out),
            None => String::new(),
        };
    }
    let messages: Vec<String> = report.targets.iter().map(|t| t.status.problem().unwrap_or_default()).collect();
    let views: Vec<TargetView> = chosen
        .run
        .targets
        .iter()
        .zip(&report.targets)
        .zip(&messages)
        .filter(|((_, outcome), _)| !matches!(outcome.status, TargetStatus::AlreadyApplied))
        .map(|((target, outcome), message)| TargetView {
            name: target.label(),
            plan: outcome.planned.as_ref().map(|p| &p.plan).ok_or(message.as_str()),
            status: exit_of(&outcome.status, detailed),
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
pub(crate) fn write_reports(path: &Path, chosen: &Chosen, run: &RunReport, reports: &[Option<ApplyReport>]) -> Result<(), Error> {
    // Where each target's actions were sent, as its plan records it.
    let sent_to = |i: usize| run.targets.get(i).and_then(|t| t.planned.as_ref()).map(|p| &p.conn.target);
    let json = if chosen.single() {
        match (reports.first(), sent_to(0)) {
            (Some(Some(report)), Some(target)) => render::json::render_report_to(report, target),
            (Some(Some(report)), None) => render::json::render_report(report),
            _ => return Ok(()),
        }
    } else {
        let named = chosen.run.targets.iter().zip(reports).enumerate();
        render::json::render_reports(named.filter_map(|(i, (t, r))| r.as_ref().map(|r| (t.label(), r, sent_to(i)))))
    };
    saved::write_atomic(path, json.as_bytes()).map_err(|source| Error::Write { path: path.display().to_string(), source })
}

/// How the run ends: one organization's status as it always ended (its error, or its exit
/// status); for a workspace, each target's problem under its name (unless the text rendering
/// already showed it on this terminal), and which targets the exit status comes from.
/// `--notify` reports the targets' problems.
pub(crate) fn finish(
    chosen: &Chosen,
    mut report: RunReport,
    detailed: bool,
    text: bool,
    out: Output,
    facts: &mut Facts,
) -> Result<ExitStatus, Error> {
    if chosen.single() {
        return match report.targets.pop().map(|t| t.status) {
            Some(status @ (TargetStatus::Failed(_) | TargetStatus::Refused(_))) => Err(error_of(status)),
            Some(status) => Ok(exit_of(&status, detailed)),
            None => Ok(ExitStatus::Success),
        };
    }
    let terminal = text && std::io::stdout().is_terminal() && std::io::stderr().is_terminal();
    let names: Vec<&str> = chosen.run.targets.iter().map(|t| t.label()).collect();
    let problems: Vec<Option<String>> = report.targets.iter().map(|t| t.status.problem()).collect();
    let errors: Vec<String> =
        names.iter().zip(&problems).filter_map(|(name, p)| p.as_ref().map(|p| format!("target {name}: {p}"))).collect();
    facts.error = (!errors.is_empty()).then(|| errors.join("\n"));
    for ((name, problem), outcome) in names.iter().zip(&problems).zip(&report.targets) {
        let Some(problem) = problem else { continue };
        // The renderings show a target that could not be planned; stderr names it only when
        // they went elsewhere.
        if terminal && outcome.planned.is_none() {
            continue;
        }
        if out.json_logs {
            tracing::error!(target_name = *name, exit_code = exit_of(&outcome.status, detailed).code(), "{problem}");
        } else {
            eprint_lines(&format!("error: target {name}: {problem}"));
        }
    }
    let statuses: Vec<ExitStatus> = report.targets.iter().map(|t| exit_of(&t.status, detailed)).collect();
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

/// A target's exit status; an error after Ctrl-C or SIGTERM is an interruption.
fn exit_of(status: &TargetStatus, detailed: bool) -> ExitStatus {
    match status {
        TargetStatus::Failed(_) if run_stop().is_requested() => ExitStatus::Interrupted,
        status => status.exit_status(detailed),
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
