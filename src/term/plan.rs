//! `plan`: every target read and planned by the engine's pipeline, its gates asked as apply
//! would ask them, saved with `--out`, rendered in text, markdown or JSON. Does file, network
//! and terminal I/O.

use tallyfy_groups_core::outcome::ExitStatus;
use tallyfy_groups_engine::gate::Allowances;
use tallyfy_groups_engine::pipeline;
use tallyfy_groups_publish::notify::Facts;

use super::console::{Output, print};
use super::error::Error;
use super::outcome::{self, same};
use super::progress;
use super::targets::{Chosen, diff_options};
use crate::cli::{PlanArgs, PlanFormat};
use tallyfy_groups_engine::run::{self, Stand};

/// `plan` for one organization or a workspace's targets.
pub(crate) async fn plan(args: PlanArgs, out: Output, facts: &mut Facts) -> Result<ExitStatus, Error> {
    let mut chosen = Chosen::for_plan(&args).await?;
    chosen.run.show_reads = progress::show_reads(out.quiet);
    let options = diff_options(&args.target)?;
    let mut stands = run::plan_targets(&chosen.run, &options).await;
    if let Some(e) = outcome::single_failure(&chosen, &mut stands) {
        return Err(e);
    }
    let mut results = Vec::new();
    for (target, stand) in chosen.run.targets.iter().zip(&mut stands) {
        results.push(match stand {
            Stand::Planned(p) => {
                let removals = chosen.allow.for_target(target.name.as_deref().unwrap_or_default());
                // The reason is recorded in the plan (and in a saved one) even when the guard has
                // nothing to say.
                p.plan.guard.allow(removals);
                pipeline::plan_verdict(&mut p.plan, args.detailed_exitcode, Allowances { removals }, target.name.as_deref())
                    .map_err(Error::from)
            }
            Stand::Failed(e) => Err(same(e)),
            Stand::AlreadyApplied => Ok(ExitStatus::Success),
        });
    }
    outcome::record_plans(facts, &chosen, &stands);
    if let Some(path) = &args.out {
        outcome::save(path, &chosen, &stands, out)?;
    }
    print(&outcome::render_plans(&chosen, &stands, &results, args.format, out));
    // A workspace's failures were shown in the renderings; stderr names them too.
    outcome::finish(&chosen, results, &stands, args.format == PlanFormat::Text, out, facts)
}
