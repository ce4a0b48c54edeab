//! `plan`: every target read and planned by the engine's run, its gates asked as apply would
//! ask them, saved with `--out`, rendered in text, markdown or JSON. Does file, network and
//! terminal I/O.

use tallyfy_groups_core::outcome::ExitStatus;
use tallyfy_groups_engine::gate::Allowances;
use tallyfy_groups_engine::{TargetStatus, pipeline, run};
use tallyfy_groups_publish::notify::Facts;

use super::console::{Output, print};
use super::error::Error;
use super::outcome;
use super::progress;
use super::targets::{Chosen, diff_options};
use crate::cli::{PlanArgs, PlanFormat};

/// `plan` for one organization or a workspace's targets.
pub(crate) async fn plan(args: PlanArgs, out: Output, facts: &mut Facts) -> Result<ExitStatus, Error> {
    let mut chosen = Chosen::for_plan(&args).await?;
    chosen.run.show_reads = progress::show_reads(out.quiet);
    chosen.run.sources = args.target.source_reader(&args.connect);
    chosen.run.usage_check = args.target.usage_check.into();
    chosen.run.owners = args.target.owners.clone();
    chosen.set_policy(&args.target)?;
    if let Some(day) = args.target.as_of {
        chosen.run.as_of = day;
    }
    let options = diff_options(&args.target)?;
    let mut report = run::plan_targets(&chosen.run, &options).await;
    outcome::single_failure(&chosen, &mut report)?;
    for (target, outcome) in chosen.run.targets.iter().zip(&mut report.targets) {
        let Some(planned) = outcome.planned.as_mut() else { continue };
        let removals = chosen.allow.for_target(target.name.as_deref().unwrap_or_default());
        // The reason is recorded in the plan (and in a saved one) even when the guard has nothing
        // to say.
        planned.plan.guard.allow(removals);
        if let Err(e) = pipeline::plan_verdict(&mut planned.plan, false, Allowances { removals }, target.name.as_deref()) {
            outcome.status = TargetStatus::from(e);
        }
    }
    outcome::record_plans(facts, &chosen, &report);
    if let Some(path) = &args.out {
        outcome::save(path, &chosen, &report, out)?;
    }
    print(&outcome::render_plans(&chosen, &report, args.detailed_exitcode, args.format, out));
    // A workspace's failures were shown in the renderings; stderr names them too.
    outcome::finish(&chosen, report, args.detailed_exitcode, args.format == PlanFormat::Text, out, facts)
}
