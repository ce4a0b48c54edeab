//! Orchestration: load → fetch → resolve → diff → plan → render → confirm → apply. The
//! effectful shell around the pure core: reads files, talks to Tallyfy, prints.

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tracing::{info, warn};

use crate::apply::{self, ApplyOptions, ApplyReport};
use crate::cli::{ApplyArgs, ColorChoice, Command, ConnectArgs, ExportArgs, PlanArgs, PlanFormat, TargetArgs};
use crate::desired::{self, DesiredState, Diagnostics, ReadError};
use crate::diff::{self, DiffOptions, Scope};
use crate::model::LiveState;
use crate::plan::{self, GuardLimits, Plan, Target};
use crate::render;
use crate::resolve::{self, Directory};
use crate::sandbox;
use crate::saved;
use crate::tallyfy::{ApiError, Client, ClientConfig, ConfigError, RetryPolicy, Secret};

/// How the process ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub enum ExitStatus {
    /// 0: success (no changes, for `plan --detailed-exitcode`).
    Success,
    /// 1: bad input, API failure, partial apply, usage error.
    Error,
    /// 2: `plan --detailed-exitcode` found changes.
    Changes,
    /// 3: refused: a safety guard tripped, or a saved plan is stale.
    Refused,
}

impl ExitStatus {
    pub fn code(self) -> i32 {
        match self {
            ExitStatus::Success => 0,
            ExitStatus::Error => 1,
            ExitStatus::Changes => 2,
            ExitStatus::Refused => 3,
        }
    }
}

/// Every way a command can fail, each with its exit status.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Read(#[from] ReadError),
    #[error("groups.yaml is invalid: {0}")]
    Invalid(Diagnostics),
    #[error("groups.yaml does not match the organization's users: {0}")]
    Unresolved(Diagnostics),
    #[error("{0}")]
    Config(String),
    #[error(transparent)]
    Client(#[from] ConfigError),
    #[error(transparent)]
    Api(#[from] ApiError),
    #[error("cannot write {path}: {source}")]
    Write { path: String, source: std::io::Error },
    #[error("{0}")]
    Refused(String),
    #[error("the embedded sandbox failed: {0}")]
    Sandbox(String),
}

impl Error {
    pub fn exit_status(&self) -> ExitStatus {
        match self {
            Error::Refused(_) => ExitStatus::Refused,
            _ => ExitStatus::Error,
        }
    }
}

/// Output settings decided once per run.
#[derive(Debug, Clone, Copy)]
pub struct Output {
    pub color: bool,
}

impl Output {
    pub fn new(choice: ColorChoice) -> Self {
        Output { color: color_enabled(choice, std::io::stdout().is_terminal()) }
    }
}

/// Whether to color a stream: `auto` means a terminal, no `NO_COLOR`, and not `TERM=dumb`.
pub fn color_enabled(choice: ColorChoice, is_terminal: bool) -> bool {
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            is_terminal
                && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
                && std::env::var("TERM").map(|t| t != "dumb").unwrap_or(true)
        }
    }
}

/// Runs one command.
pub async fn run(command: Command, out: Output) -> Result<ExitStatus, Error> {
    match command {
        Command::Validate { files } => validate(&files.files),
        Command::Plan(args) => plan_command(args, out).await,
        Command::Apply(args) => apply_command(args, out).await,
        Command::Export(args) => export_command(args).await,
        Command::Schema => {
            print(&crate::schema::schema_json());
            Ok(ExitStatus::Success)
        }
        Command::Completions { shell } => {
            let mut cmd = <crate::cli::Cli as clap::CommandFactory>::command();
            clap_complete::generate(shell, &mut cmd, "tallyfy-groups", &mut std::io::stdout());
            Ok(ExitStatus::Success)
        }
        Command::Sandbox(args) => sandbox::serve_command(args).await.map_err(Error::Sandbox).map(|_| ExitStatus::Success),
    }
}

fn print(text: &str) {
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(text.as_bytes());
    let _ = stdout.flush();
}

fn load(files: &[PathBuf]) -> Result<DesiredState, Error> {
    let sources = desired::read_sources(files)?;
    desired::load(sources).map_err(Error::Invalid)
}

fn validate(files: &[PathBuf]) -> Result<ExitStatus, Error> {
    let state = load(files)?;
    let absent = state.groups.iter().filter(|g| g.absent).count();
    print(&format!(
        "{} valid: {} ({} absent).\n",
        files.iter().map(|f| f.display().to_string()).collect::<Vec<_>>().join(", "),
        render::plural(state.groups.len() - absent, "group", "groups"),
        absent
    ));
    Ok(ExitStatus::Success)
}

/// A connected client, and the sandbox it talks to when `--sandbox` is on.
struct Connection {
    client: Client,
    /// What a saved plan records as its target (stable across sandbox restarts).
    target: Target,
    _sandbox: Option<sandbox::Embedded>,
}

async fn connect(args: &ConnectArgs) -> Result<Connection, Error> {
    let (base_url, org, token, embedded) = if args.sandbox {
        let embedded = sandbox::Embedded::start(&args.sandbox_state).await.map_err(Error::Sandbox)?;
        (embedded.base_url.clone(), embedded.org.clone(), Secret::new(embedded.token.clone()), Some(embedded))
    } else {
        let org = args.org.clone().filter(|o| !o.trim().is_empty()).ok_or_else(|| {
            Error::Config("no organization id: set TALLYFY_ORG_ID or pass --org (or use --sandbox to try the tool locally)".into())
        })?;
        (args.api_url.clone(), org, read_token(args.token_file.as_deref())?, None)
    };
    let config = ClientConfig {
        base_url,
        org,
        token,
        timeout: Duration::from_secs(args.timeout.max(1)),
        retry: RetryPolicy { max_total: Duration::from_secs(args.max_retry_time), ..RetryPolicy::default() },
        max_requests_per_minute: args.max_requests_per_minute,
        max_rps: args.max_rps.filter(|r| r.is_finite() && *r > 0.0).unwrap_or(0.0),
        parallelism: usize::from(args.parallelism),
    };
    let label = embedded.as_ref().map(|e| e.label.clone()).unwrap_or_else(|| config.base_url.trim_end_matches('/').to_string());
    let target = Target { api_url: label, org: config.org.clone() };
    Ok(Connection { client: Client::new(config)?, target, _sandbox: embedded })
}

fn read_token(file: Option<&Path>) -> Result<Secret, Error> {
    let token = match file {
        Some(path) => std::fs::read_to_string(path)
            .map_err(|e| Error::Config(format!("cannot read the token file {}: {e}", path.display())))?
            .trim()
            .to_string(),
        None => std::env::var("TALLYFY_ACCESS_TOKEN").unwrap_or_default().trim().to_string(),
    };
    if token.is_empty() {
        return Err(Error::Config(
            "no access token: set TALLYFY_ACCESS_TOKEN or pass --token-file FILE (or use --sandbox to try the tool locally)".into(),
        ));
    }
    Ok(Secret::new(token))
}

/// Reads the live groups, users and (when needed) guests; lists run concurrently.
pub async fn fetch(client: &Client, need_guests: bool) -> Result<LiveState, Error> {
    let guests = async { if need_guests { client.list_guests().await.map(Some) } else { Ok(None) } };
    let (groups, users, guests) = tokio::try_join!(client.list_groups(), client.list_users(), guests)?;
    info!(groups = groups.len(), users = users.len(), guests = guests.as_ref().map(Vec::len), "read live state");
    Ok(LiveState { groups, users, guests })
}

/// Loads groups.yaml (and the baseline) on a blocking thread while the live groups and users are
/// read, then the guests when the files name any: one read of the live state serves both plans.
/// Whichever fails first is reported; a bad file fails long before any read could.
async fn load_while_fetching(
    files: &[PathBuf],
    baseline: &[PathBuf],
    args: &ConnectArgs,
) -> Result<(DesiredState, Option<DesiredState>, Connection, LiveState), Error> {
    let (files, baseline) = (files.to_vec(), baseline.to_vec());
    let loading = tokio::task::spawn_blocking(move || {
        let desired = load(&files)?;
        let baseline = if baseline.is_empty() { None } else { Some(load(&baseline)?) };
        Ok::<_, Error>((desired, baseline))
    });
    let loaded = async { loading.await.map_err(|e| Error::Config(format!("reading the files failed: {e}")))? };
    let conn = match connect(args).await {
        Ok(conn) => conn,
        // A bad file is reported before a missing token.
        Err(e) => return Err(loaded.await.err().unwrap_or(e)),
    };
    let client = &conn.client;
    let lists = async { tokio::try_join!(client.list_groups(), client.list_users()).map_err(Error::from) };
    let files_and_guests = async {
        let (desired, baseline) = loaded.await?;
        let guests = if desired.names_guests() || baseline.as_ref().is_some_and(DesiredState::names_guests) {
            Some(client.list_guests().await?)
        } else {
            None
        };
        Ok::<_, Error>((desired, baseline, guests))
    };
    let ((groups, users), (desired, baseline, guests)) = tokio::try_join!(lists, files_and_guests)?;
    info!(groups = groups.len(), users = users.len(), guests = guests.as_ref().map(Vec::len), "read live state");
    Ok((desired, baseline, conn, LiveState { groups, users, guests }))
}

/// `--only`, `--exclude` and `--no-removals`, checked.
fn diff_options(target: &TargetArgs) -> Result<DiffOptions, Error> {
    let scope = Scope::new(&target.only, &target.exclude).map_err(Error::Config)?;
    Ok(DiffOptions { scope, no_removals: target.no_removals })
}

/// The whole pure pipeline from desired + live to a plan.
pub fn make_plan(desired: &DesiredState, live: &LiveState, options: &DiffOptions, target: Target) -> Result<Plan, Error> {
    let directory = Directory::new(&live.users);
    let resolved = resolve::resolve(desired, &directory, |g| options.scope.includes(&g.name.value)).map_err(Error::Unresolved)?;
    let d = diff::diff(desired, &resolved, &live.groups, live.guests.as_deref(), options);
    let limits = GuardLimits::of(desired);
    Ok(plan::build(d, &limits, &directory, target))
}

fn render_plan(plan: &Plan, format: PlanFormat, out: Output) -> String {
    match format {
        PlanFormat::Text => render::text::render_plan(plan, out.color),
        PlanFormat::Markdown => render::markdown::render_plan(plan),
        PlanFormat::Json => render::json::render_plan(plan),
    }
}

async fn plan_command(args: PlanArgs, out: Output) -> Result<ExitStatus, Error> {
    let options = diff_options(&args.target)?;
    let (desired, baseline, conn, live) = load_while_fetching(&args.files.files, &args.baseline, &args.connect).await?;
    let mut plan = make_plan(&desired, &live, &options, conn.target.clone())?;
    if let Some(baseline) = &baseline {
        let base_plan = make_plan(baseline, &live, &options, conn.target.clone())?;
        plan::label_origins(&mut plan, &base_plan);
    }
    if let Some(path) = &args.out {
        saved::write(path, &plan).map_err(|source| Error::Write { path: path.display().to_string(), source })?;
        info!(path = %path.display(), "saved the plan");
    }
    print(&render_plan(&plan, args.format, out));
    Ok(if args.detailed_exitcode && !plan.is_empty() { ExitStatus::Changes } else { ExitStatus::Success })
}

async fn apply_command(args: ApplyArgs, out: Output) -> Result<ExitStatus, Error> {
    // Input is checked before any connection, so a bad file never waits on the network.
    enum Source {
        Saved(Box<Plan>),
        Desired(DesiredState, DiffOptions),
    }
    let source = match &args.plan {
        Some(path) => Source::Saved(Box::new(saved::read(path).map_err(Error::Config)?)),
        None => Source::Desired(load(&args.files.files)?, diff_options(&args.target)?),
    };
    let conn = connect(&args.connect).await?;
    let client = &conn.client;
    let plan = match source {
        Source::Saved(plan) => {
            let live = fetch(client, plan.actions.iter().any(|a| matches!(a, plan::Action::CreateGuest { .. }))).await?;
            saved::check(&plan, &conn.target.api_url, &conn.target.org, &live).map_err(Error::Refused)?;
            *plan
        }
        Source::Desired(desired, options) => {
            let live = fetch(client, desired.names_guests()).await?;
            make_plan(&desired, &live, &options, conn.target.clone())?
        }
    };
    print(&render::text::render_plan(&plan, out.color));
    if plan.is_empty() {
        return Ok(ExitStatus::Success);
    }
    if plan.guard.is_tripped() {
        match &args.allow_removals {
            Some(reason) if !reason.trim().is_empty() => {
                warn!(reason = reason.as_str(), "removal guard overridden with --allow-removals");
            }
            _ => {
                return Err(Error::Refused(format!(
                    "refusing to apply: the removal guard tripped ({}).\n    hint: check the plan; if the removals are intended, run again with --allow-removals \"why\"",
                    plan.guard.tripped.join("; ")
                )));
            }
        }
    }
    if !args.auto_approve {
        if !std::io::stdin().is_terminal() {
            return Err(Error::Refused(
                "refusing to apply without confirmation: stdin is not a terminal.\n    hint: review the plan above and pass --auto-approve"
                    .into(),
            ));
        }
        eprint!("\nApply these changes to organization {}? Only 'y' or 'yes' continues [y/N]: ", client.org());
        let mut answer = String::new();
        let _ = std::io::stdin().lock().read_line(&mut answer);
        if !matches!(answer.trim().to_lowercase().as_str(), "y" | "yes") {
            eprintln!("Apply cancelled; nothing was changed.");
            return Ok(ExitStatus::Success);
        }
    }
    let options = ApplyOptions {
        parallelism: usize::from(args.connect.parallelism),
        allow_removals: if plan.guard.is_tripped() { args.allow_removals.clone() } else { None },
        guest_invites_per_hour: args.guest_invites_per_hour,
        stop: Arc::new(AtomicBool::new(false)),
    };
    // Ctrl-C: start nothing new, let requests in flight finish, and still print the report.
    let interrupt = {
        let stop = options.stop.clone();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                stop.store(true, Ordering::SeqCst);
                eprintln!("\nInterrupted: finishing the requests in flight, then reporting. Press Ctrl-C again to quit at once.");
                if tokio::signal::ctrl_c().await.is_ok() {
                    std::process::exit(130);
                }
            }
        })
    };
    let progress = crate::progress::for_apply(plan.actions.len());
    let report = apply::apply(&plan, client, &options, progress.callback()).await;
    progress.finish();
    interrupt.abort();
    print(&format!("\n{}", render::text::render_report(&report, out.color)));
    if let Some(path) = &args.report {
        write_report(path, &report)?;
    }
    Ok(if report.all_applied() { ExitStatus::Success } else { ExitStatus::Error })
}

fn write_report(path: &Path, report: &ApplyReport) -> Result<(), Error> {
    let json = serde_json::to_string_pretty(report).unwrap_or_default() + "\n";
    saved::write_atomic(path, json.as_bytes()).map_err(|source| Error::Write { path: path.display().to_string(), source })
}

async fn export_command(args: ExportArgs) -> Result<ExitStatus, Error> {
    let conn = connect(&args.connect).await?;
    let live = fetch(&conn.client, false).await?;
    let yaml = crate::export::to_yaml(&live);
    match &args.out {
        Some(path) => {
            saved::write_atomic(path, yaml.as_bytes()).map_err(|source| Error::Write { path: path.display().to_string(), source })?;
            eprintln!("Wrote {} groups to {}.", live.groups.len(), path.display());
        }
        None => print(&yaml),
    }
    Ok(ExitStatus::Success)
}
