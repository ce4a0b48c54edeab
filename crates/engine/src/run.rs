//! One run over its targets (the one organization of a command line is a run of one unnamed
//! target): each read and planned by [`crate::pipeline`] a few at a time, with shared rate
//! limiters and one stop; a saved plan's targets checked against live state; the ready plans
//! applied. What becomes of each target is a [`TargetOutcome`], of the run a [`RunReport`]. How reads are shown is the caller's
//! ([`ShowReads`]). Does file I/O and network I/O.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tallyfy_groups_api::apply::{self, ApplyOptions, ApplyReport, Progress};
use tallyfy_groups_api::client::PageProgress;
use tallyfy_groups_api::{Client, OrgContext, Stop};
use tallyfy_groups_core::access::AccessRow;
use tallyfy_groups_core::date::Date;
use tallyfy_groups_core::diff::{DiffOptions, Scope};
use tallyfy_groups_core::model::LiveState;
use tallyfy_groups_core::plan::{Plan, Target};
use tallyfy_groups_core::saved::{SavedAction, SavedPlan};
use tallyfy_groups_core::usage::UsageCheck;
use tallyfy_groups_sources::Reader;
use tokio::task::JoinSet;
use tracing::{Instrument, warn};

use crate::error::{Refusal, TargetError};
use crate::pipeline;
use crate::settings::{self, ConnectError, ConnectSettings, Limiters, TargetSettings};
use tallyfy_groups_core::outcome::ExitStatus;

/// Targets read, planned or applied at once.
pub const TARGETS_AT_ONCE: usize = 4;

/// How the reads of live state are shown: called as a read starts (`alone`: the run has one
/// target), it gives the callback the client calls after each page (none shows nothing) and
/// what to do when the read ends.
pub type ShowReads = Arc<dyn Fn(bool) -> (Option<PageProgress>, Box<dyn FnOnce() + Send>) + Send + Sync>;

/// A run's targets and what their clients share: the connection settings, one rate limiter per
/// Tallyfy user, the stop, and how reads are shown.
#[derive(Clone)]
pub struct Run {
    /// The targets, in order.
    pub targets: Vec<TargetSettings>,
    /// How every client connects.
    pub connect: Arc<ConnectSettings>,
    /// The rate limiters, shared by targets of one Tallyfy user.
    pub limiters: Arc<Limiters>,
    /// Ctrl-C or SIGTERM: no request starts after it.
    pub stop: Stop,
    /// How reads are shown.
    pub show_reads: ShowReads,
    /// The membership sources' reader: each source read once per run, whatever the targets.
    pub sources: Reader,
    /// When the plans read where groups are used (`--usage-check`).
    pub usage_check: UsageCheck,
    /// The day the files' dates are evaluated as of (`--as-of`; today in UTC by default).
    pub as_of: Date,
    /// The owners file (`--owners`); none: `owners.yaml` beside each target's first groups file,
    /// when there is one.
    pub owners: Option<PathBuf>,
    /// The policy file (`--policy`): it judges every target (a target's own `policy:` only
    /// where the run names none).
    pub policy: Option<PathBuf>,
    /// The policy rules overridden for this run (`--allow-policy RULE=REASON`).
    pub policy_overrides: Vec<tallyfy_groups_core::policy::PolicyOverride>,
}

impl Run {
    /// A run of these targets that shows nothing of its reads.
    pub fn new(targets: Vec<TargetSettings>, connect: ConnectSettings, stop: Stop) -> Self {
        let show_reads: ShowReads = Arc::new(|_| (None, Box::new(|| {})));
        Run {
            targets,
            connect: Arc::new(connect),
            limiters: Arc::default(),
            stop,
            show_reads,
            sources: Reader::default(),
            usage_check: UsageCheck::default(),
            as_of: today(),
            owners: None,
            policy: None,
            policy_overrides: Vec::new(),
        }
    }

    /// The policy file of `target`: the run's (`--policy`, named by the pipeline) wins; a
    /// workspace target's `policy:` (a file of the repository, which a change can edit) judges
    /// it only when the pipeline names none.
    pub fn policy_of<'a>(&'a self, target: &'a TargetSettings) -> Option<&'a Path> {
        if let (Some(run), Some(own)) = (&self.policy, &target.policy)
            && run != own
        {
            warn!(
                target = target.label(),
                policy = %run.display(),
                ignored = %own.display(),
                "the target's `policy:` is not used: the --policy the pipeline names judges every target"
            );
        }
        self.policy.as_deref().or(target.policy.as_deref())
    }
}

/// Today, in UTC, from the system clock.
pub fn today() -> Date {
    let seconds = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    Date::from_unix_seconds(i64::try_from(seconds).unwrap_or(0))
}

/// A connected target: a client of its organization, and the target a saved plan records.
pub type Connection = OrgContext<Client>;

/// A target's plan and the connection it was read through.
pub struct Planned {
    /// The plan, from live state.
    pub plan: Plan,
    /// The client it was read through (and is applied through).
    pub conn: Connection,
    /// The saved plan it was rebuilt from (`apply PLAN`), checked again after a prompt.
    pub saved: Option<SavedPlan>,
}

/// What became of a target in a run.
#[derive(Debug)]
pub enum TargetStatus {
    /// Planned, with nothing to change.
    NoChanges,
    /// Planned, with changes to show or to apply.
    Changes,
    /// A saved plan whose result live state already holds: nothing to do.
    AlreadyApplied,
    /// Applied: the report says how each action ended.
    Applied(ApplyReport),
    /// A gate refused its plan; nothing was written.
    Refused(Refusal),
    /// It failed; nothing was written (or, for groups left unresolved by `--keep-going`, the
    /// rest was).
    Failed(TargetError),
    /// Ctrl-C or SIGTERM stopped it.
    Interrupted,
}

impl TargetStatus {
    /// The exit status it ends a run with; changes count (exit 2) with `--detailed-exitcode`.
    pub fn exit_status(&self, detailed_exitcode: bool) -> ExitStatus {
        match self {
            TargetStatus::NoChanges | TargetStatus::AlreadyApplied => ExitStatus::Success,
            TargetStatus::Changes if detailed_exitcode => ExitStatus::Changes,
            TargetStatus::Changes => ExitStatus::Success,
            TargetStatus::Applied(report) if report.all_applied() => ExitStatus::Success,
            TargetStatus::Applied(_) => ExitStatus::Error,
            TargetStatus::Refused(_) => ExitStatus::Refused,
            TargetStatus::Failed(e) => e.exit_status(),
            TargetStatus::Interrupted => ExitStatus::Interrupted,
        }
    }

    /// What went wrong, in words, when something did.
    pub fn problem(&self) -> Option<String> {
        match self {
            TargetStatus::Applied(report) if !report.all_applied() => {
                Some(format!("{} of its actions did not apply (see its report above)", report.results.len() - report.counts().0))
            }
            TargetStatus::Refused(r) => Some(r.to_string()),
            TargetStatus::Failed(e) => Some(e.to_string()),
            _ => None,
        }
    }

    /// Whether it failed or was refused.
    pub fn is_blocked(&self) -> bool {
        matches!(self, TargetStatus::Refused(_) | TargetStatus::Failed(_))
    }
}

impl From<TargetError> for TargetStatus {
    fn from(e: TargetError) -> Self {
        match e {
            TargetError::Refused(r) => TargetStatus::Refused(r),
            e => TargetStatus::Failed(e),
        }
    }
}

/// One target's outcome: its plan, when it was planned, and what became of it.
pub struct TargetOutcome {
    /// The plan and the connection it was read through.
    pub planned: Option<Box<Planned>>,
    /// What became of it.
    pub status: TargetStatus,
}

impl TargetOutcome {
    /// A target planned (or rebuilt from its saved plan) and not yet gated.
    pub fn planned(planned: Planned) -> Self {
        let status = if planned.plan.is_empty() { TargetStatus::NoChanges } else { TargetStatus::Changes };
        TargetOutcome { planned: Some(Box::new(planned)), status }
    }

    /// A target that ended without a plan.
    pub fn ended(status: TargetStatus) -> Self {
        TargetOutcome { planned: None, status }
    }

    /// The plan, when it still stands (not failed, refused or already applied).
    pub fn ready(&self) -> Option<&Planned> {
        self.planned.as_deref().filter(|_| matches!(self.status, TargetStatus::Changes | TargetStatus::NoChanges))
    }
}

/// A run's outcome: every target's, in order.
pub struct RunReport {
    /// The targets' outcomes.
    pub targets: Vec<TargetOutcome>,
}

impl RunReport {
    /// The most severe of the targets' exit statuses.
    pub fn exit_status(&self, detailed_exitcode: bool) -> ExitStatus {
        ExitStatus::most_severe(self.targets.iter().map(|t| t.status.exit_status(detailed_exitcode)))
    }
}

/// A client for the target.
pub async fn connect(target: &TargetSettings, run: &Run) -> Result<Connection, TargetError> {
    settings::connect(target, &run.connect, &run.limiters, run.stop.clone()).await.map_err(|e| match e {
        ConnectError::Credentials(m) => TargetError::Unusable(m),
        ConnectError::Client(e) => TargetError::Client(e),
        ConnectError::Api(e) => TargetError::Api(e),
    })
}

/// Runs `task` for every target, a few at a time, each in a tracing span of its own; the
/// results in the targets' order, each error in its target's words ([`TargetError::named`]).
pub async fn each_target<T, F, Fut>(targets: &[TargetSettings], task: F) -> Vec<Result<T, TargetError>>
where
    T: Send + 'static,
    F: Fn(TargetSettings) -> Fut,
    Fut: Future<Output = Result<T, TargetError>> + Send + 'static,
{
    let permits = Arc::new(tokio::sync::Semaphore::new(TARGETS_AT_ONCE));
    let mut set = JoinSet::new();
    for (i, target) in targets.iter().enumerate() {
        let span = tracing::info_span!("target", name = target.label(), org = %target.org);
        let (work, permits) = (task(target.clone()), permits.clone());
        set.spawn(
            async move {
                let _permit = permits.acquire_owned().await;
                (i, work.await)
            }
            .instrument(span),
        );
    }
    let mut results: Vec<Option<Result<T, TargetError>>> = (0..targets.len()).map(|_| None).collect();
    while let Some(joined) = set.join_next().await {
        match joined {
            Ok((i, result)) => results[i] = Some(result),
            Err(e) => warn!(error = %e, "a target's task ended without a result"),
        }
    }
    results
        .into_iter()
        .zip(targets)
        .map(|(r, target)| {
            r.unwrap_or_else(|| Err(TargetError::Unusable(format!("target {}: its task ended without a result", target.label()))))
                .map_err(|e| e.named(target))
        })
        .collect()
}

/// Reads and plans every target: the files load while the live state is read, then the plan is
/// made (labelled against the baseline, if any).
pub async fn plan_targets(run: &Run, options: &DiffOptions) -> RunReport {
    let alone = run.targets.len() == 1;
    let results = each_target(&run.targets, |target| {
        let (options, run) = (options.clone(), run.clone());
        async move {
            let (on_page, done) = (run.show_reads)(alone);
            let connecting = async {
                let conn = connect(&target, &run).await?;
                if let Some(callback) = on_page {
                    conn.api.on_page(callback);
                }
                Ok::<_, TargetError>(conn)
            };
            let loaded = pipeline::load_while_fetching(
                &target.files,
                target.baseline.as_deref(),
                &run.sources,
                run.as_of,
                target.owners.as_deref().or(run.owners.as_deref()),
                connecting,
                |c: &Connection| &c.api,
            )
            .await;
            let (loaded, conn) = match loaded {
                Ok(loaded) => loaded,
                Err(e) => {
                    done();
                    return Err(e);
                }
            };
            let policy = match run.policy_of(&target).map(crate::policy::load).transpose() {
                Ok(policy) => policy,
                Err(e) => {
                    done();
                    return Err(e);
                }
            };
            let context = policy.as_ref().map(|_| crate::policy::context(&loaded.live, Some(&loaded.desired)));
            let mut plan = pipeline::plan_with_baseline(loaded, &options, conn.target.clone())?;
            let checked = crate::usage::check(&conn.api, &mut plan, run.usage_check).await;
            done();
            checked?;
            if let (Some(policy), Some(context)) = (&policy, context) {
                crate::policy::judge(policy, &mut plan, context, &run.policy_overrides)?;
            }
            Ok(Planned { plan, conn, saved: None })
        }
    })
    .await;
    RunReport { targets: results.into_iter().map(|r| r.map_or_else(|e| TargetOutcome::ended(e.into()), TargetOutcome::planned)).collect() }
}

/// `report access`: one target's files loaded while its live state is read, and the rows of the
/// groups `only` selects; with the organization and API they were read from.
pub async fn access_report(run: &Run, target: &TargetSettings, only: &Scope) -> Result<(Vec<AccessRow>, Target), TargetError> {
    let (on_page, done) = (run.show_reads)(true);
    let connecting = async {
        let conn = connect(target, run).await?;
        if let Some(callback) = on_page {
            conn.api.on_page(callback);
        }
        Ok::<_, TargetError>(conn)
    };
    let owners = target.owners.as_deref().or(run.owners.as_deref());
    let loaded =
        pipeline::load_while_fetching(&target.files, None, &run.sources, run.as_of, owners, connecting, |c: &Connection| &c.api).await;
    done();
    let (loaded, conn) = loaded.map_err(|e| e.named(target))?;
    let rows = pipeline::access_rows(loaded, only).map_err(|e| e.named(target))?;
    Ok((rows, conn.target))
}

/// Reads the live groups, users and (when needed) guests; lists run concurrently.
pub async fn fetch(run: &Run, client: &Client, need_guests: bool) -> Result<LiveState, TargetError> {
    let (on_page, done) = (run.show_reads)(true);
    if let Some(callback) = on_page {
        client.on_page(callback);
    }
    let read = tallyfy_groups_api::read_live(client, need_guests).await;
    done();
    Ok(read?)
}

/// Reads live state and checks a saved plan against it; returns the plan rebuilt from the saved
/// actions and that live state (the guard and everything shown come from live state, never from
/// the file), or `None` when live state already equals the plan's result.
/// `policy` is the target's policy file, which judges the rebuilt plan again.
pub async fn checked_saved_plan(
    run: &Run,
    saved_plan: &SavedPlan,
    conn: &Connection,
    policy: Option<&Path>,
) -> Result<Option<Plan>, TargetError> {
    // An `until` that passed since the plan was made: the plan would keep access the files end.
    let ended = tallyfy_groups_core::saved::ended_since(saved_plan, run.as_of);
    if !ended.is_empty() {
        let words = tallyfy_groups_core::render::words::staleness(&tallyfy_groups_core::saved::Staleness::Changed { changes: ended });
        return Err(Refusal::SavedPlan(words).into());
    }
    let needs_guests = saved_plan.actions.iter().any(|a| matches!(a, SavedAction::CreateGuest { .. }));
    let live = fetch(run, &conn.api, needs_guests).await?;
    let Some(mut plan) = pipeline::check_saved(saved_plan, &conn.target, &live)? else { return Ok(None) };
    crate::usage::check(&conn.api, &mut plan, run.usage_check).await?;
    crate::usage::check_saved(saved_plan, &plan)?;
    // The policy of this run judges the plan again (a saved plan's judgement is a record).
    if let Some(path) = policy {
        let policy = crate::policy::load(path)?;
        crate::policy::judge(&policy, &mut plan, crate::policy::context(&live, None), &run.policy_overrides)?;
    }
    Ok(Some(plan))
}

/// `apply PLAN`: connects every target of the saved plan (`plans`, by target name; `""` for one
/// organization), refuses a plan made for another target (said with `elsewhere`'s hint: the
/// target, the configured and the recorded target), and checks each plan against live state.
/// One organization's limits were checked when its plan was read (with `-f`'s files).
pub async fn check_saved_targets<H>(run: &Run, plans: &BTreeMap<String, SavedPlan>, elsewhere: H) -> RunReport
where
    H: Fn(&TargetSettings, &Target, &Target) -> String + Clone + Send + 'static,
{
    let plans = Arc::new(plans.clone());
    let results = each_target(&run.targets, |target| {
        let (plans, run, elsewhere) = (plans.clone(), run.clone(), elsewhere.clone());
        async move {
            let key = target.name.clone().unwrap_or_default();
            let saved_plan = plans
                .get(&key)
                .cloned()
                .ok_or_else(|| TargetError::Unusable(format!("the saved plan holds no plan for target {}", target.label())))?;
            if target.name.is_some() {
                pipeline::check_saved_limits(&saved_plan, &target.files, Path::new(pipeline::DEFAULT_FILE), target.name.as_deref())?;
            }
            let conn = connect(&target, &run).await?;
            if !made_for(&saved_plan.target, &conn.target) {
                let hint = elsewhere(&target, &conn.target, &saved_plan.target);
                return Err(other_target(&saved_plan.target, &conn.target, &hint));
            }
            match checked_saved_plan(&run, &saved_plan, &conn, run.policy_of(&target)).await? {
                Some(plan) => Ok(Some(Planned { plan, conn, saved: Some(saved_plan) })),
                None => Ok(None),
            }
        }
    })
    .await;
    let targets = results
        .into_iter()
        .map(|r| match r {
            Ok(Some(p)) => TargetOutcome::planned(p),
            Ok(None) => TargetOutcome::ended(TargetStatus::AlreadyApplied),
            Err(e) => TargetOutcome::ended(e.into()),
        })
        .collect();
    RunReport { targets }
}

/// Whether a saved plan `recorded` for a target was made for the `configured` one.
fn made_for(recorded: &Target, configured: &Target) -> bool {
    recorded.api_url == configured.api_url && recorded.org == configured.org
}

/// The refusal of a saved plan made for another target than the configured one, with `hint`.
fn other_target(recorded: &Target, configured: &Target, hint: &str) -> TargetError {
    Refusal::SavedPlan(format!(
        "refusing to apply: the saved plan was made for another target; nothing was read or changed\n    made for:   organization {} at {}\n    configured: organization {} at {}\n    hint: {hint}",
        recorded.org, recorded.api_url, configured.org, configured.api_url
    ))
    .into()
}

/// How the targets of a run are applied.
pub struct ApplySettings {
    /// Requests in flight at once per target (`--parallelism`).
    pub parallelism: usize,
    /// Guests invited per hour at most.
    pub guest_invites_per_hour: u32,
    /// Progress of a run of one target (a bar or log lines); none for several.
    pub progress: Option<Progress>,
}

/// Applies the plans of the `ready` targets (a few at once, each through its own client, all
/// sharing the run's stop): each target's report, in the targets' order (none for a target not
/// applied).
pub async fn apply_targets(run: &Run, report: &RunReport, ready: &[usize], settings: ApplySettings) -> Vec<Option<ApplyReport>> {
    let mut reports: Vec<Option<ApplyReport>> = (0..report.targets.len()).map(|_| None).collect();
    let permits = Arc::new(tokio::sync::Semaphore::new(TARGETS_AT_ONCE));
    let mut set = JoinSet::new();
    for &i in ready {
        let Some(p) = report.targets.get(i).and_then(TargetOutcome::ready) else { continue };
        let (plan, client, permits, progress) = (p.plan.clone(), p.conn.api.clone(), permits.clone(), settings.progress.clone());
        let options = ApplyOptions {
            parallelism: settings.parallelism,
            allow_removals: plan.guard.allowed.clone(),
            guest_invites_per_hour: settings.guest_invites_per_hour,
            stop: run.stop.clone(),
        };
        tracing::info!(org = %p.conn.target.org, actions = plan.actions.len(), "applying");
        set.spawn(async move {
            let _permit = permits.acquire_owned().await;
            (i, apply::apply(&plan, &client, &options, progress).await)
        });
    }
    while let Some(joined) = set.join_next().await {
        match joined {
            Ok((i, report)) => reports[i] = Some(report),
            Err(e) => warn!(error = %e, "a target's apply ended without a report"),
        }
    }
    reports
}

#[cfg(test)]
mod tests {
    use super::*;
    use tallyfy_groups_core::desired::Diagnostics;

    fn ended(status: TargetStatus) -> TargetOutcome {
        TargetOutcome::ended(status)
    }

    #[test]
    fn a_runs_exit_status_is_its_most_severe_targets() {
        let refused = || TargetStatus::Refused(Refusal::SavedPlan("stale".into()));
        let failed = || TargetStatus::Failed(TargetError::KeptGoing(Diagnostics(Vec::new())));
        let report = |statuses: Vec<TargetStatus>| RunReport { targets: statuses.into_iter().map(ended).collect() };
        assert_eq!(report(vec![TargetStatus::NoChanges, TargetStatus::AlreadyApplied]).exit_status(true), ExitStatus::Success);
        assert_eq!(report(vec![TargetStatus::NoChanges, TargetStatus::Changes]).exit_status(false), ExitStatus::Success);
        assert_eq!(report(vec![TargetStatus::NoChanges, TargetStatus::Changes]).exit_status(true), ExitStatus::Changes);
        assert_eq!(report(vec![TargetStatus::Changes, refused()]).exit_status(true), ExitStatus::Refused);
        assert_eq!(report(vec![TargetStatus::Changes, failed()]).exit_status(true), ExitStatus::Error);
        // A refusal outranks a failure: it asks a person to decide.
        assert_eq!(report(vec![refused(), failed()]).exit_status(false), ExitStatus::Refused);
        assert_eq!(report(vec![failed(), TargetStatus::Interrupted]).exit_status(false), ExitStatus::Interrupted);
        assert_eq!(report(vec![TargetStatus::Applied(ApplyReport::default())]).exit_status(false), ExitStatus::Success);
    }

    #[test]
    fn only_a_failure_or_a_refusal_blocks_a_target_and_says_why() {
        assert!(TargetStatus::from(TargetError::from(Refusal::SavedPlan("stale".into()))).is_blocked());
        assert!(matches!(TargetStatus::from(TargetError::Unusable("no".into())), TargetStatus::Failed(_)));
        assert_eq!(TargetStatus::from(TargetError::Unusable("no token".into())).problem().as_deref(), Some("no token"));
        assert!(!TargetStatus::Interrupted.is_blocked() && TargetStatus::Changes.problem().is_none());
    }
}
