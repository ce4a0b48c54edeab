//! The targets of a run, chosen once: the one organization of the command line (`--org`,
//! `--api-url`, `TALLYFY_*`, `--sandbox`), or the targets of a workspace file
//! (`tallyfy-groups.yaml`, found upwards to the repository root), each with its settings, its
//! `--allow-removals` reason and, for `apply PLAN`, its saved plan. One organization is a
//! workspace of one unnamed target: everything after this runs the same way for both. Reads the
//! workspace file and the environment, and starts the embedded sandbox.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tallyfy_groups_api::Secret;
use tallyfy_groups_api::error::Names;

use tallyfy_groups_core::diff::{DiffOptions, Scope};
use tallyfy_groups_core::plan::Target;
use tallyfy_groups_core::saved::{self, SavedPlan, SavedWorkspacePlan};
use tallyfy_groups_core::workspace as ws;
use tallyfy_groups_engine::credentials;
use tallyfy_groups_engine::pipeline;
use tallyfy_groups_engine::settings::EmbeddedSite;
use tallyfy_groups_engine::workspace::{Overrides, Selected, WorkspaceError, baseline_files, find_upwards};
use tallyfy_groups_engine::{ConnectSettings, Endpoint, Run, TargetSettings};
use tallyfy_groups_sandbox as embedded;
use tracing::{info, warn};

use super::error::Error;
use super::signals::run_stop;

impl From<WorkspaceError> for Error {
    fn from(e: WorkspaceError) -> Self {
        match e {
            WorkspaceError::Unusable(m) => Error::Config(m),
            WorkspaceError::Invalid(d) => Error::Invalid(d),
            WorkspaceError::Refused(m) => Error::Refused(m),
        }
    }
}
use crate::cli::{AccessArgs, ApplyArgs, ConnectArgs, ExportArgs, PlanArgs, TargetArgs, WorkspaceArgs};

/// The targets of this run and what comes with them.
pub(crate) struct Chosen {
    /// Their settings.
    pub run: Run,
    /// Their `--allow-removals` reasons.
    pub allow: Overrides,
    /// The workspace file they come from; `None` for the one organization of the command line.
    pub workspace: Option<Selected>,
    /// `apply PLAN`: each target's saved plan, by target name (`""` for one organization).
    pub saved: Option<BTreeMap<String, SavedPlan>>,
    /// The embedded sandbox of `--sandbox`, kept running while the run lasts.
    _sandbox: Option<embedded::Embedded>,
}

impl Chosen {
    /// The run's policy (`--policy`) and its overrides (`--allow-policy`); an override with no
    /// policy to override is a usage error, not a silent no-op.
    pub(crate) fn set_policy(&mut self, args: &crate::cli::TargetArgs) -> Result<(), Error> {
        self.run.policy = args.policy.clone();
        self.run.policy_overrides = args.allow_policy.clone();
        if !args.allow_policy.is_empty() && args.policy.is_none() && self.run.targets.iter().all(|t| t.policy.is_none()) {
            return Err(Error::Config(
                "--allow-policy overrides a rule of a policy, but no policy is named\n    hint: add --policy FILE (or set TALLYFY_GROUPS_POLICY), or drop --allow-policy".into(),
            ));
        }
        Ok(())
    }

    /// Whether the run is about the one organization of the command line.
    pub(crate) fn single(&self) -> bool {
        self.workspace.is_none()
    }

    /// `plan`: a workspace's targets (each with its baseline files, `--baseline DIR`), or one
    /// organization (`--baseline FILE...`).
    pub(crate) async fn for_plan(args: &PlanArgs) -> Result<Self, Error> {
        let Some(path) = locate(&args.workspace)? else {
            let baseline = (!args.baseline.is_empty()).then(|| args.baseline.clone());
            let allow = Overrides::single(&args.allow_removals).map_err(Error::Config)?;
            return Chosen::organization(&args.connect, args.files.paths(), baseline, allow).await;
        };
        let sel = Selected::open(&path, &args.workspace.targets)?;
        no_secret_files(&args.connect, &sel)?;
        diff_options(&args.target)?;
        let allow = Overrides::parse(&args.allow_removals, &sel.workspace).map_err(Error::Config)?;
        let baseline = match args.baseline.as_slice() {
            [] => None,
            [root] if root.is_dir() => Some(root.clone()),
            _ => {
                return Err(Error::Config(
                    "with a workspace file, --baseline takes one directory: a checkout of the target branch, where each target's files are read at the same paths".into(),
                ));
            }
        };
        if let Some(root) = &baseline
            && sel.targets.iter().all(|spec| baseline_files(root, &sel.dir, spec).is_empty())
        {
            warn!(
                baseline = %root.display(),
                "the baseline folder holds none of the targets' files, so every change counts as introduced; give the root of a checkout of the target branch (where {} is)",
                ws::FILE_NAME
            );
        }
        let mut chosen = Chosen::workspace(sel, &args.connect, allow, None).await?;
        // A target whose files the target branch does not have yet is new: every change counts as
        // introduced.
        if let Some(sel) = &chosen.workspace {
            for (target, spec) in chosen.run.targets.iter_mut().zip(&sel.targets) {
                target.baseline = baseline.as_ref().map(|root| baseline_files(root, &sel.dir, spec));
            }
        }
        Ok(chosen)
    }

    /// `apply`: from the files, or from a saved plan (`apply PLAN`), checked before anything is
    /// read: a plan of one organization applies where it was made, a workspace's with its
    /// workspace file.
    pub(crate) async fn for_apply(args: &ApplyArgs) -> Result<Self, Error> {
        let Some(path) = &args.plan else {
            let chosen = match locate(&args.workspace)? {
                Some(path) => {
                    let sel = Selected::open(&path, &args.workspace.targets)?;
                    no_secret_files(&args.connect, &sel)?;
                    let allow = Overrides::parse(&args.allow_removals, &sel.workspace).map_err(Error::Config)?;
                    Chosen::workspace(sel, &args.connect, allow, None).await?
                }
                None => {
                    diff_options(&args.target)?;
                    no_all_or_nothing(args)?;
                    let allow = Overrides::single(&args.allow_removals).map_err(Error::Config)?;
                    Chosen::organization(&args.connect, args.files.paths(), None, allow).await?
                }
            };
            return Ok(chosen);
        };
        let read_error = |e| match e {
            saved::ReadError::Unusable(m) => Error::Config(m),
            saved::ReadError::Tampered(m) => Error::Refused(m),
        };
        match saved::read_any(path).map_err(read_error)? {
            saved::AnySaved::One(plan) => {
                if args.workspace.workspace.is_some() || !args.workspace.targets.is_empty() {
                    return Err(Error::Config(format!(
                        "{} is the saved plan of one organization: --target and --workspace select targets of a workspace's saved plan\n    hint: drop them to apply this plan to the organization it was made for",
                        path.display()
                    )));
                }
                pipeline::check_saved_limits(&plan, &args.files.files, Path::new(crate::cli::DEFAULT_FILE), None)?;
                no_all_or_nothing(args)?;
                let allow = Overrides::single(&args.allow_removals).map_err(Error::Config)?;
                let connect = saved_plan_connection(&plan.target, &args.connect);
                let mut chosen = Chosen::organization(&connect, args.files.files.clone(), None, allow).await?;
                chosen.saved = Some(BTreeMap::from([(String::new(), *plan)]));
                Ok(chosen)
            }
            saved::AnySaved::Workspace(plan) => {
                if args.workspace.single_org {
                    return Err(Error::Config(format!(
                        "{} is the saved plan of a workspace's targets: --org and --api-url cannot redirect it (the workspace file names each target's organization and API URL)\n    hint: drop --org and --api-url",
                        path.display()
                    )));
                }
                let path = locate_for_saved(&args.workspace)?;
                let sel = Selected::open(&path, &args.workspace.targets)?;
                no_secret_files(&args.connect, &sel)?;
                let allow = Overrides::parse(&args.allow_removals, &sel.workspace).map_err(Error::Config)?;
                sel.check_saved(&plan, &args.workspace.targets)?;
                let mut connect = args.connect.clone();
                sandbox_of_saved(&plan, &mut connect);
                // A saved plan applies to its own targets only.
                let sel = sel.only_saved(&plan);
                Chosen::workspace(sel, &connect, allow, Some(plan.targets)).await
            }
        }
    }

    /// `export`: one organization, or one target of a workspace.
    pub(crate) async fn for_export(args: &ExportArgs) -> Result<Self, Error> {
        let Some(path) = locate(&args.workspace)? else {
            return Chosen::organization(&args.connect, Vec::new(), None, Overrides::default()).await;
        };
        let sel = Selected::open(&path, &args.workspace.targets)?;
        no_secret_files(&args.connect, &sel)?;
        if sel.targets.len() != 1 {
            return Err(Error::Config(format!(
                "export writes one target: name it with --target ({})",
                sel.targets.iter().map(|t| t.name.as_str()).collect::<Vec<_>>().join(", ")
            )));
        }
        Chosen::workspace(sel, &args.connect, Overrides::default(), None).await
    }

    /// `report access`: one organization with its groups files, or one target of a workspace.
    pub(crate) async fn for_report(args: &AccessArgs) -> Result<Self, Error> {
        let Some(path) = locate(&args.workspace)? else {
            return Chosen::organization(&args.connect, args.files.paths(), None, Overrides::default()).await;
        };
        let sel = Selected::open(&path, &args.workspace.targets)?;
        no_secret_files(&args.connect, &sel)?;
        if sel.targets.len() != 1 {
            return Err(Error::Config(format!(
                "report access reads one target: name it with --target ({})",
                sel.targets.iter().map(|t| t.name.as_str()).collect::<Vec<_>>().join(", ")
            )));
        }
        Chosen::workspace(sel, &args.connect, Overrides::default(), None).await
    }

    /// The one organization of `--org`, `--api-url`, the credentials of `TALLYFY_*` or
    /// `--token-file`, or `--sandbox` (started now); `files` are its groups files.
    async fn organization(
        args: &ConnectArgs,
        files: Vec<PathBuf>,
        baseline: Option<Vec<PathBuf>>,
        allow: Overrides,
    ) -> Result<Self, Error> {
        let (org, endpoint, sandbox) = if args.sandbox {
            // `--org` names the sandbox's organization too (several share one state file).
            let org = args.org.clone().filter(|o| !o.trim().is_empty()).unwrap_or_else(|| embedded::DEFAULT_ORG.to_string());
            let embedded = embedded::Embedded::start_orgs(&args.sandbox_state, &[org]).await.map_err(Error::Sandbox)?;
            let site = EmbeddedSite {
                base_url: embedded.base_url.clone(),
                token: Secret::new(embedded.token.clone()),
                label: embedded.label.clone(),
            };
            (embedded.org().to_string(), Endpoint::Embedded(site), Some(embedded))
        } else {
            // What is missing here fails when the organization is connected, after the files
            // are read: a bad file is said first.
            let chosen = || {
                let org = args.org.clone().filter(|o| !o.trim().is_empty()).ok_or_else(|| {
                    "no organization id: set TALLYFY_ORG_ID or pass --org (or use --sandbox to try the tool locally)".to_string()
                })?;
                let flags = credentials::Flags {
                    api_url: args.api_url.clone(),
                    token_url: args.token_url.clone(),
                    token_file: args.token_file.clone(),
                    client_secret_file: args.client_secret_file.clone(),
                };
                let sources = credentials::Sources::from_env(flags);
                let api_url = sources.api_url()?;
                let credentials = sources.choose(&api_url)?;
                Ok::<_, String>((org, Endpoint::Tallyfy { api_url, credentials }))
            };
            let (org, endpoint) = chosen().unwrap_or_else(|reason| (String::new(), Endpoint::Unusable { reason }));
            (org, endpoint, None)
        };
        let target =
            TargetSettings { name: None, org: org.into(), endpoint, files, baseline, names: Names::single(), owners: None, policy: None };
        let run = Run::new(vec![target], connect_settings(args), run_stop());
        Ok(Chosen { run, allow, workspace: None, saved: None, _sandbox: sandbox })
    }

    /// The selected targets of a workspace file, on the embedded sandbox with `--sandbox`.
    async fn workspace(
        sel: Selected,
        args: &ConnectArgs,
        allow: Overrides,
        saved: Option<BTreeMap<String, SavedPlan>>,
    ) -> Result<Self, Error> {
        let sandbox = start_sandbox(args, &sel).await?;
        let site = sandbox.as_ref().map(|(_, site)| site);
        let var = |name: &str| std::env::var(name).ok();
        let targets = sel.targets.iter().map(|spec| TargetSettings::of_workspace(spec, site, args.token_url.as_deref(), var)).collect();
        let run = Run::new(targets, connect_settings(args), run_stop());
        Ok(Chosen { run, allow, workspace: Some(sel), saved, _sandbox: sandbox.map(|(sandbox, _)| sandbox) })
    }

    /// The hint of a saved plan made for another target than `target`'s configured one: a
    /// workspace's way back is its workspace file (`--org` and `--api-url` do not apply to its
    /// plans).
    pub(crate) fn elsewhere_hint(workspace_file: Option<&str>, target: &TargetSettings, configured: &Target, recorded: &Target) -> String {
        match (workspace_file, &target.name) {
            (Some(file), Some(name)) => format!(
                "a plan applies only where it was made: set the `org_id` and `api_url` of target {name} in {file} back to those it was made for, or make a new plan with `plan --out`"
            ),
            _ if configured.api_url.starts_with(embedded::LABEL_PREFIX) => "a plan applies only where it was made: configure that target (TALLYFY_API_URL / --api-url, TALLYFY_ORG_ID / --org) without --sandbox, or make a new plan here with `plan --out`".into(),
            _ if recorded.api_url.starts_with(embedded::LABEL_PREFIX) => "a plan made on the embedded sandbox applies there when no API URL is configured (or with --sandbox --sandbox-state set to its state file); or make a new plan here with `plan --out`".into(),
            _ => "a plan applies only where it was made: set TALLYFY_API_URL / --api-url and TALLYFY_ORG_ID / --org to its target, or make a new plan here with `plan --out`".into(),
        }
    }
}

/// `--all-or-nothing` waits for a workspace's other targets; one organization has none.
fn no_all_or_nothing(args: &ApplyArgs) -> Result<(), Error> {
    if args.all_or_nothing {
        return Err(Error::Config(
            "--all-or-nothing is for the targets of a workspace file (tallyfy-groups.yaml); one organization's apply has no other target to wait for".into(),
        ));
    }
    Ok(())
}

/// The workspace file this run uses, if any: `--workspace FILE`, else `tallyfy-groups.yaml` in
/// the current directory or a parent up to the repository root. None when `-f`, `--org` or
/// `--api-url` is given: then the run is about one organization, exactly as without a workspace.
pub(crate) fn locate(args: &WorkspaceArgs) -> Result<Option<PathBuf>, Error> {
    if args.single_org {
        if args.workspace.is_some() || !args.targets.is_empty() {
            let flag = if args.workspace.is_some() { "--workspace" } else { "--target" };
            return Err(Error::Config(format!(
                "{flag} cannot be combined with -f, --org or --api-url: a workspace file names each target's organization, API URL and files\n    hint: drop -f/--org/--api-url to run on the workspace's targets, or drop {flag} to run on one organization"
            )));
        }
        return Ok(None);
    }
    if let Some(file) = &args.workspace {
        return Ok(Some(file.clone()));
    }
    let cwd = std::env::current_dir().map_err(|e| Error::Config(format!("cannot read the current directory: {e}")))?;
    let found = find_upwards(&cwd);
    if found.is_none() && !args.targets.is_empty() {
        return Err(Error::Config(format!(
            "--target names a target of a workspace file, and there is no {} in this directory or its parents up to the repository root\n    hint: pass --workspace FILE, or run in the repository that has one",
            ws::FILE_NAME
        )));
    }
    Ok(found)
}

/// The workspace file a saved workspace plan is applied with (it names each target's credentials).
fn locate_for_saved(args: &WorkspaceArgs) -> Result<PathBuf, Error> {
    locate(&WorkspaceArgs { single_org: false, ..args.clone() })?.ok_or_else(|| {
        Error::Config(format!(
            "this is the saved plan of a workspace's targets, and there is no {} in this directory or its parents up to the repository root\n    hint: apply it in the repository it was made in, or pass --workspace FILE",
            ws::FILE_NAME
        ))
    })
}

/// Starts the embedded sandbox for `--sandbox`: one server, each target's organization in it.
/// Its default state file is in the workspace file's folder, so every folder of the repository
/// sees the same sandbox.
async fn start_sandbox(args: &ConnectArgs, sel: &Selected) -> Result<Option<(embedded::Embedded, EmbeddedSite)>, Error> {
    if !args.sandbox {
        return Ok(None);
    }
    let state = if args.sandbox_state == Path::new(crate::cli::DEFAULT_SANDBOX_STATE) {
        // Absolute, so that a plan saved here applies from any folder.
        let state = sel.dir.join(crate::cli::DEFAULT_SANDBOX_STATE);
        std::path::absolute(&state).unwrap_or(state)
    } else {
        args.sandbox_state.clone()
    };
    let targets = &sel.targets;
    let mut orgs: Vec<String> = Vec::new();
    for t in targets {
        if let Some(other) = targets.iter().find(|o| o.org_id == t.org_id && o.name != t.name) {
            // At different API URLs they are different organizations; one sandbox has one of each id.
            return Err(Error::Config(format!(
                "--sandbox serves each organization id once, and targets {} and {} both use {}\n    hint: run them apart with --target, or give them different org_id values for the sandbox",
                t.name, other.name, t.org_id
            )));
        }
        orgs.push(t.org_id.clone());
    }
    let sandbox = embedded::Embedded::start_orgs(&state, &orgs).await.map_err(Error::Sandbox)?;
    let site = EmbeddedSite { base_url: sandbox.base_url.clone(), token: Secret::new(sandbox.token.clone()), label: sandbox.label.clone() };
    Ok(Some((sandbox, site)))
}

/// `--token-file` and `--client-secret-file` name one secret, and a workspace's targets each
/// read their own: refused once, before anything is read.
fn no_secret_files(args: &ConnectArgs, sel: &Selected) -> Result<(), Error> {
    if args.token_file.is_none() && args.client_secret_file.is_none() {
        return Ok(());
    }
    let prefixes: Vec<String> = sel.targets.iter().map(|t| format!("{} ({}_…)", t.name, t.credentials_env)).collect();
    Err(Error::Config(format!(
        "--token-file and --client-secret-file are for one organization; the credentials of the targets of {} come from the variables their credentials_env names: {}\n    hint: set those variables, or pass -f/--org to run on one organization",
        sel.workspace.file,
        prefixes.join(", ")
    )))
}

/// A plan made on the embedded sandbox goes back to it when no API URL is configured, as for
/// one organization (no credentials leave the machine).
fn sandbox_of_saved(saved_plan: &SavedWorkspacePlan, args: &mut ConnectArgs) {
    if args.sandbox {
        return;
    }
    let states: Vec<&str> = saved_plan.targets.values().filter_map(|p| p.target.api_url.strip_prefix(embedded::LABEL_PREFIX)).collect();
    if let [first, ..] = states.as_slice()
        && states.len() == saved_plan.targets.len()
        && states.iter().all(|s| s == first)
    {
        info!(state = first, "the plan was made on the embedded sandbox: applying it there");
        args.sandbox = true;
        args.sandbox_state = PathBuf::from(first);
    }
}

/// How every client of the run connects, from the command line's connection options.
pub(crate) fn connect_settings(args: &ConnectArgs) -> ConnectSettings {
    ConnectSettings {
        timeout: Duration::from_secs(args.timeout.max(1)),
        max_retry_time: Duration::from_secs(args.max_retry_time),
        max_requests_per_minute: args.max_requests_per_minute,
        max_rps: args.max_rps.filter(|r| r.is_finite() && *r > 0.0).unwrap_or(0.0),
        parallelism: usize::from(args.parallelism),
    }
}

/// `--only`, `--exclude` and `--no-removals`, checked.
pub(crate) fn diff_options(target: &TargetArgs) -> Result<DiffOptions, Error> {
    let scope = Scope::new(&target.only, &target.exclude).map_err(Error::Config)?;
    Ok(DiffOptions { scope, no_removals: target.no_removals, keep_going: target.keep_going })
}

/// Where `apply PLAN` connects: as configured, except that a plan made on the embedded sandbox
/// goes back to that sandbox when no API URL is configured (no credentials leave the machine).
/// A plan made on Tallyfy never decides where to connect.
fn saved_plan_connection(recorded: &Target, configured: &ConnectArgs) -> ConnectArgs {
    let mut args = configured.clone();
    let api_url_configured = args.api_url.as_ref().is_some_and(|u| !u.trim().is_empty())
        || credentials::API_URL_VARIABLES.iter().any(|v| std::env::var_os(v).is_some_and(|u| !u.is_empty()));
    if let Some(state) = recorded.api_url.strip_prefix(embedded::LABEL_PREFIX)
        && !args.sandbox
        && !api_url_configured
    {
        info!(state, "the plan was made on the embedded sandbox: applying it there");
        args.sandbox = true;
        args.sandbox_state = PathBuf::from(state);
    }
    if args.sandbox && args.org.as_ref().is_none_or(|o| o.trim().is_empty()) {
        args.org = Some(recorded.org.to_string());
    }
    args
}
