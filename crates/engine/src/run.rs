//! One run over its targets (the one organization of a command line is a run of one unnamed
//! target): each read and planned by [`crate::pipeline`] a few at a time, with shared rate
//! limiters and one stop; a saved plan's targets checked against live state; the ready plans
//! applied. What becomes of each target is a [`Stand`]. How reads are shown is the caller's
//! ([`ShowReads`]). Does file I/O and network I/O.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use tallyfy_groups_api::apply::{self, ApplyOptions, ApplyReport, Progress};
use tallyfy_groups_api::client::PageProgress;
use tallyfy_groups_api::{Client, OrgContext, Stop};
use tallyfy_groups_core::diff::DiffOptions;
use tallyfy_groups_core::model::LiveState;
use tallyfy_groups_core::plan::{Plan, Target};
use tallyfy_groups_core::saved::{SavedAction, SavedPlan};
use tokio::task::JoinSet;
use tracing::{Instrument, warn};

use crate::error::{Refusal, TargetError};
use crate::pipeline;
use crate::settings::{self, ConnectError, ConnectSettings, Limiters, TargetSettings};

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
}

impl Run {
    /// A run of these targets that shows nothing of its reads.
    pub fn new(targets: Vec<TargetSettings>, connect: ConnectSettings, stop: Stop) -> Self {
        let show_reads: ShowReads = Arc::new(|_| (None, Box::new(|| {})));
        Run { targets, connect: Arc::new(connect), limiters: Arc::default(), stop, show_reads }
    }
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

/// Where a target stands in a run.
pub enum Stand {
    /// Planned; ready to show and (for apply) to apply.
    Planned(Box<Planned>),
    /// A saved plan whose result live state already holds.
    AlreadyApplied,
    /// Failed or refused before anything was written.
    Failed(TargetError),
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
pub async fn plan_targets(run: &Run, options: &DiffOptions) -> Vec<Stand> {
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
            let loaded =
                pipeline::load_while_fetching(&target.files, target.baseline.as_deref(), connecting, |c: &Connection| &c.api).await;
            done();
            let (loaded, conn) = loaded?;
            let plan = pipeline::plan_with_baseline(loaded, &options, conn.target.clone())?;
            Ok(Planned { plan, conn, saved: None })
        }
    })
    .await;
    results.into_iter().map(|r| r.map_or_else(Stand::Failed, |p| Stand::Planned(Box::new(p)))).collect()
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
pub async fn checked_saved_plan(run: &Run, saved_plan: &SavedPlan, conn: &Connection) -> Result<Option<Plan>, TargetError> {
    let needs_guests = saved_plan.actions.iter().any(|a| matches!(a, SavedAction::CreateGuest { .. }));
    let live = fetch(run, &conn.api, needs_guests).await?;
    Ok(pipeline::check_saved(saved_plan, &conn.target, &live)?)
}

/// `apply PLAN`: connects every target of the saved plan (`plans`, by target name; `""` for one
/// organization), refuses a plan made for another target (said with `elsewhere`'s hint: the
/// target, the configured and the recorded target), and checks each plan against live state.
/// One organization's limits were checked when its plan was read (with `-f`'s files).
pub async fn check_saved_targets<H>(run: &Run, plans: &BTreeMap<String, SavedPlan>, elsewhere: H) -> Vec<Stand>
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
            match checked_saved_plan(&run, &saved_plan, &conn).await? {
                Some(plan) => Ok(Some(Planned { plan, conn, saved: Some(saved_plan) })),
                None => Ok(None),
            }
        }
    })
    .await;
    results
        .into_iter()
        .map(|r| match r {
            Ok(Some(p)) => Stand::Planned(Box::new(p)),
            Ok(None) => Stand::AlreadyApplied,
            Err(e) => Stand::Failed(e),
        })
        .collect()
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

/// Applies the plans of the `ready` stands (a few targets at once, each through its own client,
/// all sharing the run's stop): each target's report, in the stands' order (none for a target
/// not applied).
pub async fn apply_targets(run: &Run, stands: &[Stand], ready: &[usize], settings: ApplySettings) -> Vec<Option<ApplyReport>> {
    let mut reports: Vec<Option<ApplyReport>> = (0..stands.len()).map(|_| None).collect();
    let permits = Arc::new(tokio::sync::Semaphore::new(TARGETS_AT_ONCE));
    let mut set = JoinSet::new();
    for &i in ready {
        let Some(Stand::Planned(p)) = stands.get(i) else { continue };
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
