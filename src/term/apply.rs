//! `apply`: every target planned from its files (or rebuilt from a saved plan and checked
//! against live state), its gates asked, one y/N prompt for all, the saved plans checked again
//! after it, then applied a few targets at once; the reports printed and written. Does file,
//! network and terminal I/O.

use std::io::IsTerminal;

use tallyfy_groups_core::desired::Diagnostics;
use tallyfy_groups_core::outcome::ExitStatus;
use tallyfy_groups_core::render;
use tallyfy_groups_engine::Stage;
use tallyfy_groups_engine::gate::{self, Allowances};
use tallyfy_groups_publish::notify::{self, Facts};

use super::console::{Output, confirm, print};
use super::error::Error;
use super::outcome::{self, ALREADY_APPLIED, print_line, same, say};
use super::progress;
use super::targets::{Chosen, diff_options};
use crate::cli::ApplyArgs;
use tallyfy_groups_engine::run::{self, ApplySettings, Stand};

/// `apply` for one organization or a workspace's targets, from their files or a saved plan.
pub(crate) async fn apply(args: ApplyArgs, out: Output, facts: &mut Facts) -> Result<ExitStatus, Error> {
    let mut chosen = Chosen::for_apply(&args).await?;
    chosen.run.show_reads = progress::show_reads(out.quiet);
    let single = chosen.single();
    let mut stands = match &chosen.saved {
        None => run::plan_targets(&chosen.run, &diff_options(&args.target)?).await,
        Some(plans) => {
            let hint = {
                let workspace_file = chosen.workspace.as_ref().map(|sel| sel.workspace.file.clone());
                move |target: &tallyfy_groups_engine::TargetSettings, configured: &_, recorded: &_| {
                    Chosen::elsewhere_hint(workspace_file.as_deref(), target, configured, recorded)
                }
            };
            run::check_saved_targets(&chosen.run, plans, hint).await
        }
    };
    if let Some(e) = outcome::single_failure(&chosen, &mut stands) {
        return Err(e);
    }
    if single && matches!(stands.as_slice(), [Stand::AlreadyApplied]) {
        outcome::record_plans(facts, &chosen, &stands);
        print(ALREADY_APPLIED);
        return Ok(ExitStatus::Success);
    }
    // Every target's gates, with its own override; groups left unresolved (--keep-going) make
    // the target's result an error after its apply.
    let mut results: Vec<Result<ExitStatus, Error>> = Vec::new();
    let mut unresolved: Vec<Option<Diagnostics>> = Vec::new();
    for (target, stand) in chosen.run.targets.iter().zip(&mut stands) {
        let (result, kept) = match stand {
            Stand::Planned(p) => {
                let removals = chosen.allow.for_target(target.name.as_deref().unwrap_or_default());
                p.plan.guard.allow(removals);
                let kept = (!p.plan.errors.is_empty()).then(|| Diagnostics(std::mem::take(&mut p.plan.errors)));
                // An empty plan has nothing for a gate to refuse.
                let gates = if single && p.plan.is_empty() {
                    Ok(())
                } else {
                    gate::check(&mut p.plan, Stage::Apply, Allowances { removals }, target.name.as_deref())
                };
                (gates.map(|()| ExitStatus::Success).map_err(Error::from), kept)
            }
            Stand::AlreadyApplied => (Ok(ExitStatus::Success), None),
            Stand::Failed(e) => (Err(same(e)), None),
        };
        results.push(result);
        unresolved.push(kept);
    }
    outcome::record_plans(facts, &chosen, &stands);
    print(&outcome::render_plans(&chosen, &stands, &results, crate::cli::PlanFormat::Text, out));
    for (target, stand) in chosen.run.targets.iter().zip(&stands) {
        if !single && matches!(stand, Stand::AlreadyApplied) {
            print_line(&format!("{}: nothing to do, this plan was already applied.", target.label()));
        }
    }
    // One organization: what failed or was refused ends the run before the prompt.
    let kept_going = |results: Vec<Result<ExitStatus, Error>>, unresolved: Vec<Option<Diagnostics>>| {
        results
            .into_iter()
            .zip(unresolved)
            .map(|(result, kept)| match (result, kept) {
                (Ok(_), Some(kept)) => Err(Error::KeptGoing(kept)),
                (result, _) => result,
            })
            .collect::<Vec<_>>()
    };
    if single && results.first().is_some_and(Result::is_err) {
        return outcome::finish(&chosen, results, &stands, true, out, facts);
    }
    let blocked = results.iter().any(Result::is_err) || unresolved.iter().any(Option::is_some);
    if args.all_or_nothing && blocked {
        say(out, NOTHING_APPLIED);
        return outcome::finish(&chosen, results, &stands, true, out, facts);
    }
    let ready: Vec<usize> =
        (0..stands.len()).filter(|&i| results[i].is_ok() && matches!(&stands[i], Stand::Planned(p) if !p.plan.is_empty())).collect();
    if ready.is_empty() && single {
        return outcome::finish(&chosen, kept_going(results, unresolved), &stands, true, out, facts);
    }
    if !ready.is_empty() && !args.auto_approve {
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
            // Declining the changes of some targets does not make another target's failure a success.
            return if single { Ok(ExitStatus::Success) } else { outcome::finish(&chosen, results, &stands, true, out, facts) };
        }
        // Time has passed at the prompt: right before the first write, what a saved plan relied
        // on must still hold (a plan made from files re-reads the groups it writes with values
        // the files do not manage, in the applier).
        for &i in &ready {
            let Stand::Planned(p) = &mut stands[i] else { continue };
            let Some(saved_plan) = p.saved.clone() else { continue };
            let target = &chosen.run.targets[i];
            results[i] = match run::checked_saved_plan(&chosen.run, &saved_plan, &p.conn).await {
                Ok(Some(again)) => {
                    p.plan = again;
                    let removals = chosen.allow.for_target(target.name.as_deref().unwrap_or_default());
                    gate::check(&mut p.plan, Stage::Apply, Allowances { removals }, target.name.as_deref())
                        .map(|()| ExitStatus::Success)
                        .map_err(Error::from)
                }
                Ok(None) => {
                    // Applied meanwhile (by another run): nothing is sent again.
                    if single {
                        print(ALREADY_APPLIED);
                        return Ok(ExitStatus::Success);
                    }
                    print_line(&format!("{}: nothing to do, this plan was already applied.", target.label()));
                    stands[i] = Stand::AlreadyApplied;
                    Ok(ExitStatus::Success)
                }
                Err(e) => Err(Error::from(e.named(target))),
            };
        }
        if single && results.first().is_some_and(Result::is_err) {
            return outcome::finish(&chosen, results, &stands, true, out, facts);
        }
        if args.all_or_nothing && results.iter().any(Result::is_err) {
            say(out, NOTHING_APPLIED);
            return outcome::finish(&chosen, results, &stands, true, out, facts);
        }
    }
    // Every ready target applies at once (a few at a time), each through its own client; one
    // organization shows a progress bar.
    let applying: Vec<usize> = ready.iter().copied().filter(|&i| results[i].is_ok() && matches!(stands[i], Stand::Planned(_))).collect();
    let actions = applying.iter().map(|&i| if let Stand::Planned(p) = &stands[i] { p.plan.actions.len() } else { 0 }).sum();
    let bar = progress::for_apply(actions, out.quiet || !single);
    let settings = ApplySettings {
        parallelism: chosen.run.connect.parallelism,
        guest_invites_per_hour: args.guest_invites_per_hour,
        progress: bar.callback(),
    };
    let reports = run::apply_targets(&chosen.run, &stands, &applying, settings).await;
    bar.finish();
    let stop = chosen.run.stop.clone();
    let mut all = notify::ApplyFacts::default();
    let mut text = String::new();
    for (i, target) in chosen.run.targets.iter().enumerate() {
        let Some(report) = &reports[i] else {
            if applying.contains(&i) {
                results[i] =
                    Err(Error::Config(if single { "the apply ended without a report" } else { "its apply ended without a report" }.into()));
            }
            continue;
        };
        if single {
            facts.apply = Some(notify::ApplyFacts::of(report));
            text.push_str(&format!("\n{}", render::text::render_report(report, out.color)));
        } else {
            all.add(target.label(), &notify::ApplyFacts::of(report));
            text.push_str(&format!("\n── {}: apply report ──\n{}", target.label(), render::text::render_report(report, out.color)));
        }
        // A target whose every action applied is done, even when a second interrupt abandoned
        // another target's requests; one organization's run that was interrupted is.
        results[i] = if single && stop.is_requested() {
            Ok(ExitStatus::Interrupted)
        } else if report.all_applied() {
            Ok(ExitStatus::Success)
        } else if stop.is_requested() {
            Ok(ExitStatus::Interrupted)
        } else if single {
            Ok(ExitStatus::Error)
        } else {
            Err(Error::Config(format!("{} of its actions did not apply (see its report above)", report.results.len() - report.counts().0)))
        };
    }
    if !single {
        facts.apply = Some(all);
    }
    print(&text);
    if let Some(path) = &args.report {
        outcome::write_reports(path, &chosen, &reports)?;
    }
    outcome::finish(&chosen, kept_going(results, unresolved), &stands, true, out, facts)
}

/// Says that `--all-or-nothing` held every target back.
const NOTHING_APPLIED: &str = "Nothing was applied (--all-or-nothing): not every target is ready.";
