//! `apply`: every target planned from its files (or rebuilt from a saved plan and checked
//! against live state), its gates asked, one y/N prompt for all, the saved plans checked again
//! after it, then applied a few targets at once; the reports printed and written. Does file,
//! network and terminal I/O.

use std::io::IsTerminal;

use tallyfy_groups_core::desired::Diagnostics;
use tallyfy_groups_core::outcome::ExitStatus;
use tallyfy_groups_core::render;
use tallyfy_groups_engine::gate::{self, Allowances};
use tallyfy_groups_engine::run::{self, ApplySettings};
use tallyfy_groups_engine::{RunReport, Stage, TargetError, TargetOutcome, TargetStatus};
use tallyfy_groups_publish::notify::{self, Facts};

use super::console::{Output, confirm, print};
use super::error::Error;
use super::journal::Ledger;
use super::outcome::{self, ALREADY_APPLIED, print_line, say};
use super::progress;
use super::targets::{Chosen, diff_options};
use crate::cli::{ApplyArgs, PlanFormat};

/// Says that `--all-or-nothing` held every target back.
const NOTHING_APPLIED: &str = "Nothing was applied (--all-or-nothing): not every target is ready.";

/// `apply` for one organization or a workspace's targets, from their files or a saved plan.
pub(crate) async fn apply(args: ApplyArgs, out: Output, facts: &mut Facts, ledger: &mut Ledger) -> Result<ExitStatus, Error> {
    let mut chosen = Chosen::for_apply(&args).await?;
    chosen.run.show_reads = progress::show_reads(out.quiet);
    chosen.run.sources = args.target.source_reader(&args.connect);
    chosen.run.usage_check = args.target.usage_check.into();
    chosen.run.owners = args.target.owners.clone();
    chosen.set_policy(&args.target)?;
    if let Some(day) = args.target.as_of {
        chosen.run.as_of = day;
    }
    let single = chosen.single();
    let mut report = match &chosen.saved {
        None => run::plan_targets(&chosen.run, &diff_options(&args.target)?).await,
        Some(plans) => {
            let workspace_file = chosen.workspace.as_ref().map(|sel| sel.workspace.file.clone());
            let hint = move |target: &tallyfy_groups_engine::TargetSettings, configured: &_, recorded: &_| {
                Chosen::elsewhere_hint(workspace_file.as_deref(), target, configured, recorded)
            };
            run::check_saved_targets(&chosen.run, plans, hint).await
        }
    };
    ledger.note(&chosen, &report);
    outcome::single_failure(&chosen, &mut report)?;
    if single && matches!(report.targets.as_slice(), [TargetOutcome { status: TargetStatus::AlreadyApplied, .. }]) {
        outcome::record_plans(facts, &chosen, &report);
        ledger.note(&chosen, &report);
        print(ALREADY_APPLIED);
        return Ok(ExitStatus::Success);
    }
    // Every target's gates, with its own override; groups left unresolved (--keep-going) make
    // the target an error after its apply.
    let mut unresolved: Vec<Option<Diagnostics>> = Vec::new();
    for (target, outcome) in chosen.run.targets.iter().zip(&mut report.targets) {
        let Some(planned) = outcome.planned.as_mut() else {
            unresolved.push(None);
            continue;
        };
        let removals = chosen.allow.for_target(target.name.as_deref().unwrap_or_default());
        planned.plan.guard.allow(removals);
        unresolved.push((!planned.plan.errors.is_empty()).then(|| Diagnostics(std::mem::take(&mut planned.plan.errors))));
        // An empty plan has nothing for a gate to refuse.
        if !planned.plan.is_empty()
            && let Err(refusal) = gate::check(&mut planned.plan, Stage::Apply, Allowances { removals }, target.name.as_deref())
        {
            outcome.status = TargetStatus::Refused(refusal);
        }
    }
    outcome::record_plans(facts, &chosen, &report);
    ledger.note(&chosen, &report);
    print(&outcome::render_plans(&chosen, &report, false, PlanFormat::Text, out));
    for (target, outcome) in chosen.run.targets.iter().zip(&report.targets) {
        if !single && matches!(outcome.status, TargetStatus::AlreadyApplied) {
            print_line(&format!("{}: nothing to do, this plan was already applied.", target.label()));
        }
    }
    // One organization's refusal ends the run before the prompt.
    if single && report.targets.iter().any(|t| t.status.is_blocked()) {
        return outcome::finish(&chosen, report, false, true, out, facts);
    }
    let blocked = report.targets.iter().any(|t| t.status.is_blocked()) || unresolved.iter().any(Option::is_some);
    if args.all_or_nothing && blocked {
        ledger.held_back(NOTHING_APPLIED);
        say(out, NOTHING_APPLIED);
        return outcome::finish(&chosen, report, false, true, out, facts);
    }
    let ready: Vec<usize> = (0..report.targets.len()).filter(|&i| matches!(report.targets[i].status, TargetStatus::Changes)).collect();
    // A saved plan is the reviewed one: it is applied without asking, unless --confirm asks.
    let ask = !args.auto_approve && (chosen.saved.is_none() || args.confirm);
    if !ready.is_empty() && ask {
        if !std::io::stdin().is_terminal() {
            let plans = if single { "the plan" } else { "the plans" };
            return Err(Error::Refused(format!(
                "refusing to apply without confirmation: stdin is not a terminal.\n    hint: review {plans} above and pass --auto-approve"
            )));
        }
        let question = if single {
            format!("Apply these changes to organization {}?", chosen.run.targets[0].org)
        } else {
            let names: Vec<String> =
                ready.iter().map(|&i| format!("{} (organization {})", chosen.run.targets[i].label(), chosen.run.targets[i].org)).collect();
            format!("Apply these changes to {}?", names.join(", "))
        };
        if !confirm(&question).await? {
            eprintln!("Apply cancelled; nothing was changed.");
            ledger.declined();
            // Declining the changes of some targets does not make another target's failure a success.
            return if single { Ok(ExitStatus::Success) } else { outcome::finish(&chosen, report, false, true, out, facts) };
        }
        // Time has passed at the prompt: right before the first write, what a saved plan relied
        // on must still hold (a plan made from files re-reads the groups it writes with values
        // the files do not manage, in the applier).
        for &i in &ready {
            let target = &chosen.run.targets[i];
            let outcome = &mut report.targets[i];
            let Some(planned) = outcome.planned.as_mut() else { continue };
            let Some(saved_plan) = planned.saved.clone() else { continue };
            match run::checked_saved_plan(&chosen.run, &saved_plan, &planned.conn, chosen.run.policy_of(target)).await {
                Ok(Some(again)) => {
                    planned.plan = again;
                    let removals = chosen.allow.for_target(target.name.as_deref().unwrap_or_default());
                    if let Err(refusal) = gate::check(&mut planned.plan, Stage::Apply, Allowances { removals }, target.name.as_deref()) {
                        outcome.status = TargetStatus::Refused(refusal);
                    }
                }
                Ok(None) => {
                    // Applied meanwhile (by another run): nothing is sent again.
                    ledger.already_applied(i);
                    if single {
                        print(ALREADY_APPLIED);
                        return Ok(ExitStatus::Success);
                    }
                    print_line(&format!("{}: nothing to do, this plan was already applied.", target.label()));
                    outcome.status = TargetStatus::AlreadyApplied;
                }
                Err(e) => outcome.status = TargetStatus::from(e.named(target)),
            }
        }
        ledger.note(&chosen, &report);
        let blocked = report.targets.iter().any(|t| t.status.is_blocked());
        if blocked && single {
            return outcome::finish(&chosen, report, false, true, out, facts);
        }
        if blocked && args.all_or_nothing {
            ledger.held_back(NOTHING_APPLIED);
            say(out, NOTHING_APPLIED);
            return outcome::finish(&chosen, report, false, true, out, facts);
        }
    }
    let applying: Vec<usize> = ready.iter().copied().filter(|&i| matches!(report.targets[i].status, TargetStatus::Changes)).collect();
    let reports = apply_ready(&chosen, &report, &applying, &args, out).await;
    ledger.applied(&report, &reports);
    if let Some(path) = &args.report {
        outcome::write_reports(path, &chosen, &report, &reports)?;
    }
    settle(&chosen, &mut report, &applying, reports, facts, out);
    // Groups left unresolved make an otherwise successful target an error.
    for (outcome, kept) in report.targets.iter_mut().zip(unresolved) {
        if let Some(kept) = kept
            && !outcome.status.is_blocked()
            && (single || outcome.status.problem().is_none())
        {
            outcome.status = TargetStatus::Failed(TargetError::KeptGoing(kept));
        }
    }
    ledger.note(&chosen, &report);
    outcome::finish(&chosen, report, false, true, out, facts)
}

/// Applies the `applying` targets at once (a few at a time), each through its own client; one
/// organization shows a progress bar.
async fn apply_ready(
    chosen: &Chosen,
    report: &RunReport,
    applying: &[usize],
    args: &ApplyArgs,
    out: Output,
) -> Vec<Option<tallyfy_groups_api::apply::ApplyReport>> {
    let actions = applying.iter().filter_map(|&i| report.targets[i].ready()).map(|p| p.plan.actions.len()).sum();
    let bar = progress::for_apply(actions, out.quiet || !chosen.single());
    let settings = ApplySettings {
        parallelism: chosen.run.connect.parallelism,
        guest_invites_per_hour: args.guest_invites_per_hour,
        progress: bar.callback(),
    };
    let reports = run::apply_targets(&chosen.run, report, applying, settings).await;
    bar.finish();
    reports
}

/// Prints the apply reports and records each applied target's status: applied, or interrupted
/// (one organization's run after Ctrl-C or SIGTERM; a workspace's target whose actions did not
/// all apply before it).
fn settle(
    chosen: &Chosen,
    report: &mut RunReport,
    applying: &[usize],
    reports: Vec<Option<tallyfy_groups_api::apply::ApplyReport>>,
    facts: &mut Facts,
    out: Output,
) {
    let single = chosen.single();
    let stopped = chosen.run.stop.is_requested();
    let mut all = notify::ApplyFacts::default();
    let mut text = String::new();
    for (i, (target, applied)) in chosen.run.targets.iter().zip(reports).enumerate() {
        let Some(applied) = applied else {
            if applying.contains(&i) {
                let what = if single { "the apply ended without a report" } else { "its apply ended without a report" };
                report.targets[i].status = TargetStatus::Failed(TargetError::Unusable(what.into()));
            }
            continue;
        };
        if single {
            facts.apply = Some(notify::ApplyFacts::of(&applied));
            text.push_str(&format!("\n{}", render::text::render_report(&applied, out.color)));
        } else {
            all.add(target.label(), &notify::ApplyFacts::of(&applied));
            text.push_str(&format!("\n── {}: apply report ──\n{}", target.label(), render::text::render_report(&applied, out.color)));
        }
        // A target whose every action applied is done, even when a second interrupt abandoned
        // another target's requests.
        report.targets[i].status =
            if stopped && (single || !applied.all_applied()) { TargetStatus::Interrupted } else { TargetStatus::Applied(applied) };
    }
    if !single {
        facts.apply = Some(all);
    }
    print(&text);
}
