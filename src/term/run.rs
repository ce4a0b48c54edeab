//! One run over its targets: the one organization of the command line, or the targets of a
//! workspace file, reached through [`Reach`], each read and planned by the engine's pipeline a
//! few at a time ([`plan_targets`]); what becomes of each is a [`Stand`]. The commands differ
//! only in how they present the stands. Does file, network and terminal I/O.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use tallyfy_groups_api::error::Names;
use tallyfy_groups_api::{Client, OrgContext};
use tallyfy_groups_core::workspace::TargetSpec;
use tallyfy_groups_engine::credentials::CredentialSource;
use tallyfy_groups_engine::settings::{ConnectError, EmbeddedSite};
use tallyfy_groups_engine::{ConnectSettings, Endpoint, Limiters, TargetSettings, pipeline};
use tokio::task::JoinSet;
use tracing::warn;

use super::console::QUIET;
use super::error::Error;
use super::progress;
use tallyfy_groups_api::DEFAULT_API_URL;
use tallyfy_groups_core::diff::DiffOptions;
use tallyfy_groups_core::model::LiveState;
use tallyfy_groups_core::plan::{Plan, Target};
use tallyfy_groups_core::saved::{SavedAction, SavedPlan};

/// Targets read, planned or applied at once.
pub(crate) const TARGETS_AT_ONCE: usize = 4;

/// A run's targets and what their clients share: the connection settings and one rate limiter
/// per Tallyfy user.
#[derive(Clone)]
pub(crate) struct Run {
    pub targets: Vec<TargetSettings>,
    pub connect: Arc<ConnectSettings>,
    pub limiters: Arc<Limiters>,
}

impl Run {
    /// A run of these targets.
    pub(crate) fn new(targets: Vec<TargetSettings>, connect: ConnectSettings) -> Self {
        Run { targets, connect: Arc::new(connect), limiters: Arc::default() }
    }
}

/// A connected target: a client of its organization, and the target a saved plan records.
pub(crate) type Connection = OrgContext<Client>;

/// A client for the target (see [`tallyfy_groups_engine::connect`]).
pub(crate) async fn connect(target: &TargetSettings, run: &Run) -> Result<Connection, Error> {
    tallyfy_groups_engine::connect(target, &run.connect, &run.limiters, super::signals::run_stop()).await.map_err(|e| match e {
        ConnectError::Credentials(m) => Error::Config(m),
        ConnectError::Client(e) => Error::Client(e),
        ConnectError::Api(e) => Error::Api(e),
    })
}

/// The settings of a workspace's target: its organization, API URL and files from the workspace
/// file, its credentials from the variables its `credentials_env` names (or the embedded
/// sandbox's). Credentials that cannot be chosen fail this target only, when it connects.
pub(crate) fn workspace_target(spec: &TargetSpec, sandbox: Option<&EmbeddedSite>, token_url: Option<&str>) -> TargetSettings {
    let endpoint = match sandbox {
        Some(site) => Endpoint::Embedded(site.clone()),
        None => {
            let api_url = spec.api_url.clone().unwrap_or_else(|| DEFAULT_API_URL.to_string());
            match CredentialSource::of_target(&spec.credentials_env, &api_url, token_url, |name| std::env::var(name).ok()) {
                Ok(credentials) => Endpoint::Tallyfy { api_url, credentials },
                Err(reason) => Endpoint::Unusable { reason },
            }
        }
    };
    TargetSettings {
        name: Some(spec.name.clone()),
        org: spec.org_id.clone().into(),
        endpoint,
        files: spec.files.iter().map(|f| f.path.clone()).collect(),
        baseline: None,
        names: target_names(spec),
    }
}

/// Runs `task` for every target, a few at a time; the results in the targets' order, each
/// error in its target's words.
pub(crate) async fn each_target<T, F, Fut>(targets: &[TargetSettings], task: F) -> Vec<Result<T, Error>>
where
    T: Send + 'static,
    F: Fn(TargetSettings) -> Fut,
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
            r.unwrap_or_else(|| Err(Error::Config(format!("target {}: its task ended without a result", target.label()))))
                .map_err(|e| in_words(e, target))
        })
        .collect()
}

/// The client's hints name the variables and options of a single organization; a workspace's
/// target reads its own (`credentials_env`), and its organization and API URL come from the
/// workspace file. An API or client error of a target is said with its names ([`Names`]).
pub(crate) fn in_words(e: Error, target: &TargetSettings) -> Error {
    if target.name.is_none() {
        return e;
    }
    match e {
        Error::Api(error) => Error::TargetApi { error, names: Box::new(target.names.clone()) },
        Error::Client(error) => Error::TargetClient { error, names: Box::new(target.names.clone()) },
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
pub(crate) async fn plan_targets(run: &Run, options: &DiffOptions, quiet: bool) -> Vec<Stand> {
    let alone = run.targets.len() == 1;
    let results = each_target(&run.targets, |target| {
        let (options, run) = (options.clone(), run.clone());
        async move {
            let reads = progress::ReadProgress::new(quiet || !alone);
            let connecting = async {
                let conn = connect(&target, &run).await?;
                if let Some(callback) = reads.callback() {
                    conn.api.on_page(callback);
                }
                Ok::<_, Error>(conn)
            };
            let loaded =
                pipeline::load_while_fetching(&target.files, target.baseline.as_deref(), connecting, |c: &Connection| &c.api).await;
            reads.finish();
            let (loaded, conn) = loaded?;
            let plan = pipeline::plan_with_baseline(loaded, &options, conn.target.clone())?;
            Ok(Planned { plan, conn, saved: None })
        }
    })
    .await;
    results.into_iter().map(|r| r.map_or_else(Stand::Failed, |p| Stand::Planned(Box::new(p)))).collect()
}

/// How the targets of a run are applied.
pub(crate) struct ApplySettings {
    /// Requests in flight at once per target (`--parallelism`).
    pub parallelism: usize,
    pub guest_invites_per_hour: u32,
    /// Progress of a run of one target (a bar or log lines); none for several.
    pub progress: Option<tallyfy_groups_api::apply::Progress>,
}

/// Applies the plans of the `ready` stands (a few targets at once, each through its own client,
/// all sharing the run's stop): each target's report, in the stands' order (none for a target
/// not applied).
pub(crate) async fn apply_targets(
    stands: &[Stand],
    ready: &[usize],
    settings: ApplySettings,
) -> Vec<Option<tallyfy_groups_api::apply::ApplyReport>> {
    use tallyfy_groups_api::apply::{self, ApplyOptions};
    let stop = super::signals::run_stop();
    let mut reports: Vec<Option<tallyfy_groups_api::apply::ApplyReport>> = (0..stands.len()).map(|_| None).collect();
    let permits = Arc::new(tokio::sync::Semaphore::new(TARGETS_AT_ONCE));
    let mut set = JoinSet::new();
    for &i in ready {
        let Some(Stand::Planned(p)) = stands.get(i) else { continue };
        let (plan, client, permits, progress) = (p.plan.clone(), p.conn.api.clone(), permits.clone(), settings.progress.clone());
        let options = ApplyOptions {
            parallelism: settings.parallelism,
            allow_removals: plan.guard.allowed.clone(),
            guest_invites_per_hour: settings.guest_invites_per_hour,
            stop: stop.clone(),
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

/// Reads the live groups, users and (when needed) guests; lists run concurrently.
pub(crate) async fn fetch(client: &Client, need_guests: bool) -> Result<LiveState, Error> {
    let progress = progress::ReadProgress::new(QUIET.load(Ordering::Relaxed));
    if let Some(callback) = progress.callback() {
        client.on_page(callback);
    }
    let read = tallyfy_groups_api::read_live(client, need_guests).await;
    progress.finish();
    Ok(read?)
}

/// Reads live state and checks a saved plan against it; returns the plan rebuilt from the saved
/// actions and that live state (the guard and everything shown come from live state, never from
/// the file), or `None` when live state already equals the plan's result.
pub(crate) async fn checked_saved_plan(saved_plan: &SavedPlan, conn: &Connection) -> Result<Option<Plan>, Error> {
    let needs_guests = saved_plan.actions.iter().any(|a| matches!(a, SavedAction::CreateGuest { .. }));
    let live = fetch(&conn.api, needs_guests).await?;
    Ok(pipeline::check_saved(saved_plan, &conn.target, &live)?)
}

/// `apply PLAN`: connects every target of the saved plan (`plans`, by target name; `""` for one
/// organization), refuses a plan made for another target (said with `elsewhere`'s hint), and
/// checks each plan against live state.
pub(crate) async fn check_saved_targets<H>(run: &Run, plans: &BTreeMap<String, SavedPlan>, elsewhere: H) -> Vec<Stand>
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
                .ok_or_else(|| Error::Config(format!("the saved plan holds no plan for target {}", target.label())))?;
            // One organization's limits were checked when its plan was read (with -f's files).
            if target.name.is_some() {
                pipeline::check_saved_limits(&saved_plan, &target.files, Path::new(crate::cli::DEFAULT_FILE), target.name.as_deref())?;
            }
            let conn = connect(&target, &run).await?;
            if !made_for(&saved_plan.target, &conn.target) {
                let hint = elsewhere(&target, &conn.target, &saved_plan.target);
                return Err(other_target(&saved_plan.target, &conn.target, &hint));
            }
            match checked_saved_plan(&saved_plan, &conn).await? {
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
fn other_target(recorded: &Target, configured: &Target, hint: &str) -> Error {
    Error::Refused(format!(
        "refusing to apply: the saved plan was made for another target; nothing was read or changed\n    made for:   organization {} at {}\n    configured: organization {} at {}\n    hint: {hint}",
        recorded.org, recorded.api_url, configured.org, configured.api_url
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;
    use tallyfy_groups_api::config::ConfigError;
    use tallyfy_groups_api::error::{ApiError, TransportCause};
    use tallyfy_groups_core::outcome::ExitStatus;
    use tallyfy_groups_core::workspace as ws;

    fn target() -> TargetSpec {
        let text = "targets:\n  eu:\n    org_id: a\n    credentials_env: ACME\n    files: a.yaml\n";
        ws::parse("ws.yaml", text, Path::new("")).map(|w| w.targets[0].clone()).unwrap_or_else(|d| panic!("{d}"))
    }

    fn status(status: u16) -> ApiError {
        ApiError::Status {
            method: "GET".into(),
            path: "/organizations/a/groups".into(),
            status,
            message: "no".into(),
            code: None,
            field_errors: Default::default(),
            request_id: None,
        }
    }

    fn transport(cause: TransportCause) -> ApiError {
        ApiError::Transport { method: "GET".into(), path: "/x".into(), detail: "d".into(), timeout: false, connect: true, cause }
    }

    #[test]
    fn a_targets_errors_name_its_own_variables_never_a_single_organizations() {
        let exchange = |status| ApiError::TokenExchange { url: "https://t/oauth/token".into(), status, detail: "no".into() };
        let errors = vec![
            Error::Api(status(401)),
            Error::Api(status(404)),
            Error::Api(exchange(Some(401))),
            Error::Api(exchange(None)),
            Error::Api(exchange(Some(302))),
            Error::Api(ApiError::StillUnauthorized { last: Box::new(status(401)) }),
            Error::Api(transport(TransportCause::UnknownHost { host: "h".into() })),
            Error::Api(transport(TransportCause::Refused { address: "127.0.0.1:1".into() })),
            Error::Api(transport(TransportCause::UntrustedCertificate { host: "h".into(), reason: "r".into() })),
            Error::Api(transport(TransportCause::Other)),
            Error::Api(ApiError::Redirected { method: "GET".into(), path: "/x".into(), status: 301, location: None }),
            Error::Client(ConfigError::BadTokenUrl("x".into())),
        ];
        let spec = workspace_target(&target(), None, None);
        for e in errors {
            let before = e.to_string();
            assert!(before.contains("TALLYFY_") || before.contains("--"), "the case names a single organization's words: {before}");
            let after = in_words(e, &spec).to_string();
            for single in ["TALLYFY_", "--token-file", "--client-secret-file", "--org", "--api-url"] {
                assert!(!after.contains(single), "`{single}` in:\n{after}");
            }
        }
        let said = in_words(Error::Api(status(401)), &spec).to_string();
        assert!(said.contains("update ACME_ACCESS_TOKEN.") && said.contains("(ACME_CLIENT_ID and ACME_CLIENT_SECRET,"), "{said}");
        let said = in_words(Error::Api(status(404)), &spec).to_string();
        assert!(said.contains("check the organization id (the `org_id` of target eu) and the API URL"), "{said}");
        // Other errors, and their exit status, are left as they are.
        let refused = in_words(Error::Refused("stale".into()), &spec);
        assert_eq!((refused.to_string(), refused.exit_status()), ("stale".to_string(), ExitStatus::Refused));
    }
}
