//! One run over its targets: the one organization of the command line, or the targets of a
//! workspace file, reached through [`Reach`], each read and planned by the engine's pipeline a
//! few at a time ([`plan_targets`]); what becomes of each is a [`Stand`]. The commands differ
//! only in how they present the stands. Does file, network and terminal I/O.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use tallyfy_groups_core::workspace::TargetSpec;
use tallyfy_groups_engine::pipeline;
use tokio::task::JoinSet;
use tracing::warn;

use super::{Connection, Error, client_config, open, progress};
use crate::cli::ConnectArgs;
use crate::credentials::{self, Choice, Given};
use crate::diff::DiffOptions;
use crate::plan::Plan;
use crate::saved::SavedPlan;
use crate::tallyfy::error::Names;
use crate::tallyfy::{Credentials, DEFAULT_API_URL, RateLimiter, Secret};

/// Targets read, planned or applied at once.
pub(crate) const TARGETS_AT_ONCE: usize = 4;

/// How a target is reached.
#[derive(Clone)]
pub(crate) enum Reach {
    /// The one organization of the command line: `--org`, `--api-url`, the credentials of
    /// `TALLYFY_*` or `--token-file`, or `--sandbox`.
    Flags(ConnectArgs),
    /// A target of a workspace file, with the credentials its `credentials_env` names.
    Workspace { spec: TargetSpec, shared: Arc<Shared> },
}

/// One target of a run: its groups files, the baseline's (`plan --baseline`), and its reach.
#[derive(Clone)]
pub(crate) struct RunTarget {
    pub files: Vec<PathBuf>,
    pub baseline: Option<Vec<PathBuf>>,
    pub reach: Reach,
}

impl RunTarget {
    /// A workspace's target.
    pub(crate) fn of_spec(spec: &TargetSpec, shared: &Arc<Shared>) -> Self {
        RunTarget {
            files: spec.files.iter().map(|f| f.path.clone()).collect(),
            baseline: None,
            reach: Reach::Workspace { spec: spec.clone(), shared: shared.clone() },
        }
    }

    /// A connected client for the target. One organization's reads show their progress.
    pub(crate) async fn connect(&self) -> Result<Connection, Error> {
        match &self.reach {
            Reach::Flags(args) => super::connect(args).await,
            Reach::Workspace { spec, shared } => connect_target(spec, shared).await,
        }
    }

    /// The error in this target's words: a workspace target names its own variables.
    fn in_words(&self, e: Error) -> Error {
        match &self.reach {
            Reach::Flags(_) => e,
            Reach::Workspace { spec, .. } => in_target_words(e, spec),
        }
    }

    fn name(&self) -> &str {
        match &self.reach {
            Reach::Flags(_) => "the organization",
            Reach::Workspace { spec, .. } => &spec.name,
        }
    }
}

/// What every workspace target's task shares: the connection options, the embedded sandbox's
/// address (with `--sandbox`) and one rate limiter per set of credentials.
pub(crate) struct Shared {
    pub connect: ConnectArgs,
    pub sandbox: Option<SandboxSite>,
    pub limiters: Mutex<HashMap<String, Arc<RateLimiter>>>,
}

/// Where the embedded sandbox answers.
#[derive(Clone)]
pub(crate) struct SandboxSite {
    pub base_url: String,
    pub token: String,
    pub label: String,
}

impl Shared {
    /// The rate limiter of these credentials, made on first use.
    fn limiter(&self, key: String) -> Arc<RateLimiter> {
        let mut limiters = self.limiters.lock().unwrap_or_else(|p| p.into_inner());
        limiters
            .entry(key)
            .or_insert_with(|| {
                Arc::new(RateLimiter::per_minute(self.connect.max_requests_per_minute).with_max_rps(super::max_rps(&self.connect)))
            })
            .clone()
    }
}

/// Which rate limiter a target's credentials use: Tallyfy counts requests per user, so the same
/// token, or the same client id at the same token URL, is one user and shares one limiter.
pub(crate) fn limiter_key(choice: &Choice) -> String {
    match choice {
        Choice::Token(Given::Value(token)) => format!("token {}", token.expose()),
        Choice::Token(Given::File(path)) => format!("token file {}", path.display()),
        Choice::Client { id, token_url, .. } => format!("client {id} at {token_url}"),
    }
}

/// A client for one workspace target, with the credentials its `credentials_env` names.
pub(crate) async fn connect_target(spec: &TargetSpec, shared: &Shared) -> Result<Connection, Error> {
    let args = &shared.connect;
    let (base_url, credentials, label, key) = match &shared.sandbox {
        Some(site) => {
            (site.base_url.clone(), Credentials::Token(Secret::new(site.token.clone())), site.label.clone(), "sandbox".to_string())
        }
        None => {
            let api_url = spec.api_url.clone().unwrap_or_else(|| DEFAULT_API_URL.to_string());
            let choice =
                credentials::for_target(&spec.credentials_env, &api_url, args.token_url.as_deref(), |name| std::env::var(name).ok())
                    .map_err(Error::Config)?;
            let key = limiter_key(&choice);
            let credentials = credentials::credentials(choice).map_err(Error::Config)?;
            let label = api_url.trim_end_matches('/').to_string();
            (api_url, credentials, label, key)
        }
    };
    let config = client_config(args, base_url, spec.org_id.clone(), credentials, Some(shared.limiter(key)));
    open(config, label, None).await
}

/// Runs `task` for every target, a few at a time; the results in the targets' order, each
/// error in its target's words.
pub(crate) async fn each_target<T, F, Fut>(targets: &[RunTarget], task: F) -> Vec<Result<T, Error>>
where
    T: Send + 'static,
    F: Fn(RunTarget) -> Fut,
    Fut: std::future::Future<Output = Result<T, Error>> + Send + 'static,
{
    let permits = Arc::new(tokio::sync::Semaphore::new(TARGETS_AT_ONCE));
    let mut set = JoinSet::new();
    for (i, target) in targets.iter().enumerate() {
        let (work, permits) = (task(target.clone()), permits.clone());
        set.spawn(async move {
            let _permit = permits.acquire_owned().await;
            (i, work.await)
        });
    }
    let mut results: Vec<Option<Result<T, Error>>> = (0..targets.len()).map(|_| None).collect();
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
            r.unwrap_or_else(|| Err(Error::Config(format!("target {}: its task ended without a result", target.name()))))
                .map_err(|e| target.in_words(e))
        })
        .collect()
}

/// The client's hints name the variables and options of a single organization; a target reads
/// its own (`credentials_env`), and its organization and API URL come from the workspace file.
/// An API or client error of a target is said with those names ([`Names`]).
pub(crate) fn in_target_words(e: Error, spec: &TargetSpec) -> Error {
    match e {
        Error::Api(error) => Error::TargetApi { error, names: Box::new(target_names(spec)) },
        Error::Client(error) => Error::TargetClient { error, names: Box::new(target_names(spec)) },
        other => other,
    }
}

/// What a workspace target's person sets for each setting a hint points at.
fn target_names(spec: &TargetSpec) -> Names {
    let (p, name) = (&spec.credentials_env, &spec.name);
    Names {
        org: format!("the `org_id` of target {name}"),
        api_url: format!("the `api_url` of target {name}"),
        access_token: format!("{p}_ACCESS_TOKEN"),
        client: format!("{p}_CLIENT_ID and {p}_CLIENT_SECRET"),
        client_or_file: format!("{p}_CLIENT_ID and {p}_CLIENT_SECRET"),
        token_url: format!("{p}_TOKEN_URL or --token-url"),
    }
}

/// A target's plan and the connection it was read through.
pub(crate) struct Planned {
    pub plan: Plan,
    pub conn: Connection,
    /// The saved plan it was rebuilt from (`apply PLAN`), checked again after the prompt.
    pub saved: Option<SavedPlan>,
}

/// Where a target stands in a run.
pub(crate) enum Stand {
    /// Planned; ready to show and (for apply) to apply.
    Planned(Box<Planned>),
    /// A saved plan whose result live state already holds.
    AlreadyApplied,
    /// Failed or refused before anything was written.
    Failed(Error),
}

/// Reads and plans every target with the engine's pipeline: the files load while the live
/// state is read, then the plan is made (labelled against the baseline, if any). With one
/// target, the reads show their progress.
pub(crate) async fn plan_targets(targets: &[RunTarget], options: &DiffOptions, quiet: bool) -> Vec<Stand> {
    let alone = targets.len() == 1;
    let results = each_target(targets, |target| {
        let options = options.clone();
        async move {
            let reads = progress::ReadProgress::new(quiet || !alone);
            let connecting = async {
                let conn = target.connect().await?;
                if let Some(callback) = reads.callback() {
                    conn.org.api.on_page(callback);
                }
                Ok::<_, Error>(conn)
            };
            let loaded =
                pipeline::load_while_fetching(&target.files, target.baseline.as_deref(), connecting, |c: &Connection| &c.org.api).await;
            reads.finish();
            let (loaded, conn) = loaded?;
            let plan = pipeline::plan_with_baseline(loaded, &options, conn.org.target.clone())?;
            Ok(Planned { plan, conn, saved: None })
        }
    })
    .await;
    results.into_iter().map(|r| r.map_or_else(Stand::Failed, |p| Stand::Planned(Box::new(p)))).collect()
}

/// The stand of a run of one target (one organization): its plan, or its error as it is.
pub(crate) fn only(stands: Vec<Stand>) -> Result<Planned, Error> {
    match stands.into_iter().next() {
        Some(Stand::Planned(p)) => Ok(*p),
        Some(Stand::Failed(e)) => Err(e),
        Some(Stand::AlreadyApplied) | None => Err(Error::Config("the organization's run ended without a plan".into())),
    }
}

/// How the targets of a run are applied.
pub(crate) struct ApplySettings {
    /// Requests in flight at once per target (`--parallelism`).
    pub parallelism: usize,
    pub guest_invites_per_hour: u32,
    /// Progress of a run of one target (a bar or log lines); none for several.
    pub progress: Option<crate::apply::Progress>,
}

/// Applies the plans of the `ready` stands (a few targets at once, each through its own client,
/// all sharing the run's stop): each target's report, in the stands' order (none for a target
/// not applied).
pub(crate) async fn apply_targets(stands: &[Stand], ready: &[usize], settings: ApplySettings) -> Vec<Option<crate::apply::ApplyReport>> {
    use crate::apply::{self, ApplyOptions};
    let stop = super::run_stop();
    let mut reports: Vec<Option<crate::apply::ApplyReport>> = (0..stands.len()).map(|_| None).collect();
    let permits = Arc::new(tokio::sync::Semaphore::new(TARGETS_AT_ONCE));
    let mut set = JoinSet::new();
    for &i in ready {
        let Some(Stand::Planned(p)) = stands.get(i) else { continue };
        let (plan, client, permits, progress) = (p.plan.clone(), p.conn.org.api.clone(), permits.clone(), settings.progress.clone());
        let options = ApplyOptions {
            parallelism: settings.parallelism,
            allow_removals: plan.guard.allowed.clone(),
            guest_invites_per_hour: settings.guest_invites_per_hour,
            stop: stop.clone(),
        };
        tracing::info!(org = %p.conn.org.target.org, actions = plan.actions.len(), "applying");
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

/// `export`: one target's live groups as groups.yaml, to `path` (stdout when none).
pub(crate) async fn export_target(target: &RunTarget, path: Option<PathBuf>, quiet: bool) -> Result<super::ExitStatus, Error> {
    let conn = target.connect().await.map_err(|e| target.in_words(e))?;
    let live = super::fetch(&conn.org.api, false).await.map_err(|e| target.in_words(e))?;
    let yaml = crate::export::to_yaml(&live);
    match path {
        Some(path) => {
            crate::saved::write_atomic(&path, yaml.as_bytes())
                .map_err(|source| Error::Write { path: path.display().to_string(), source })?;
            if !quiet {
                let of = match &target.reach {
                    Reach::Flags(_) => String::new(),
                    Reach::Workspace { spec, .. } => format!(" of target {}", spec.name),
                };
                eprintln!("Wrote {} groups{of} to {}.", live.groups.len(), path.display());
            }
        }
        None => super::print(&yaml),
    }
    Ok(super::ExitStatus::Success)
}
