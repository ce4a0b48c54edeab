//! The terminal layer: runs one command (load → fetch → plan → render → confirm → apply), and
//! owns everything a person sees or does: printing, the y/N prompt, signals, exit codes. Does
//! file, network and terminal I/O.

pub mod completions;
pub mod man;
pub mod progress;
mod run;
pub mod sandbox;
pub mod workspace;

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tracing::{info, warn};

use crate::cli::{
    ApplyArgs, ColorChoice, Command, CommentArgs, CommentOn, ConnectArgs, ExportArgs, NotifyArgs, PlanArgs, PlanFormat, TargetArgs,
    ValidateFormat,
};
use tallyfy_groups_api::apply::ApplyReport;
use tallyfy_groups_api::error::Names;
use tallyfy_groups_api::{ApiError, Client, ConfigError, Secret, Stop};
use tallyfy_groups_core::annotate::{self, Problem, Verdict};
use tallyfy_groups_core::desired::{self, DesiredState, Diagnostics, ReadError};
use tallyfy_groups_core::diff::{DiffOptions, Scope};
use tallyfy_groups_core::model::LiveState;
pub use tallyfy_groups_core::pipeline::{PlanError, make_plan};
use tallyfy_groups_core::plan::{Plan, Target};
use tallyfy_groups_core::render;
use tallyfy_groups_core::saved;
use tallyfy_groups_engine::credentials;
use tallyfy_groups_engine::settings::EmbeddedSite;
use tallyfy_groups_engine::{ConnectSettings, Endpoint, TargetSettings};
use tallyfy_groups_publish::comment::{self, CommentError, CommentOptions, CommentTarget, Forge};
use tallyfy_groups_publish::notify::{self, Facts, Webhook};
use tallyfy_groups_sandbox as embedded;

pub use tallyfy_groups_core::outcome::ExitStatus;
use tallyfy_groups_engine::gate::{self, Allowances};
use tallyfy_groups_engine::pipeline;
use tallyfy_groups_engine::{Refusal, Stage, TargetError};

/// Every way a command can fail, each with its exit status.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Read(#[from] ReadError),
    #[error("{}", invalid_message(.0))]
    Invalid(Diagnostics),
    #[error(transparent)]
    Plan(#[from] PlanError),
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
    /// A gate refused the plan (the removal guard), or a saved plan no longer holds.
    #[error(transparent)]
    Refusal(#[from] Refusal),
    #[error("the embedded sandbox failed: {0}")]
    Sandbox(String),
    #[error("the sandbox failed: {0}")]
    Serve(String),
    #[error("these groups could not be resolved and were left untouched (--keep-going); every other group was processed: {0}")]
    KeptGoing(Diagnostics),
    #[error(transparent)]
    Comment(#[from] CommentError),
    #[error("{0}")]
    Notify(String),
    #[error("interrupted (Ctrl-C or SIGTERM): {0}")]
    Interrupted(String),
    /// An API error of a workspace's target, said with the target's own names for its settings.
    #[error("{}", .error.named(.names))]
    TargetApi { error: ApiError, names: Box<Names> },
    /// The same for the client's configuration.
    #[error("{}", .error.named(.names))]
    TargetClient { error: ConfigError, names: Box<Names> },
}

impl From<TargetError> for Error {
    fn from(e: TargetError) -> Self {
        match e {
            TargetError::Read(e) => Error::Read(e),
            TargetError::Invalid(d) => Error::Invalid(d),
            TargetError::Plan(e) => Error::Plan(e),
            TargetError::Api(e) => Error::Api(e),
            TargetError::Loading(m) => Error::Config(format!("reading the files failed: {m}")),
            TargetError::KeptGoing(d) => Error::KeptGoing(d),
            TargetError::Refused(r) => Error::Refusal(r),
        }
    }
}

fn invalid_message(diags: &Diagnostics) -> String {
    format!("{} invalid: {diags}", tallyfy_groups_core::pipeline::files_of(diags))
}

impl Error {
    pub fn exit_status(&self) -> ExitStatus {
        match self {
            Error::Refused(_) | Error::Refusal(_) => ExitStatus::Refused,
            Error::Interrupted(_)
            | Error::Api(ApiError::Interrupted { .. })
            | Error::TargetApi { error: ApiError::Interrupted { .. }, .. }
            | Error::Comment(CommentError::Interrupted { .. }) => ExitStatus::Interrupted,
            _ if run_stop().is_requested() => ExitStatus::Interrupted,
            _ => ExitStatus::Error,
        }
    }
}

/// Output settings decided once per run.
#[derive(Debug, Clone, Copy)]
pub struct Output {
    pub color: bool,
    /// `-q`: nothing on stderr but errors.
    pub quiet: bool,
    /// `-v`: the text plan lists every unmanaged group.
    pub verbose: bool,
    /// `--log-format json`: errors are logged as JSON lines too.
    pub json_logs: bool,
}

impl Output {
    pub fn new(choice: ColorChoice) -> Self {
        Output { color: color_enabled(choice, std::io::stdout().is_terminal()), quiet: false, verbose: false, json_logs: false }
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

/// `-q` for the whole run (read where no `Output` is at hand).
static QUIET: AtomicBool = AtomicBool::new(false);

/// The stop shared by everything this run sends (see [`listen_for_stop`]).
static RUN_STOP: std::sync::Mutex<Option<Stop>> = std::sync::Mutex::new(None);

/// This run's stop: the Tallyfy clients, the applier, comments and notifications share it.
pub(crate) fn run_stop() -> Stop {
    RUN_STOP.lock().unwrap_or_else(|e| e.into_inner()).get_or_insert_with(Stop::default).clone()
}

/// Runs one command.
pub async fn run(command: Command, out: Output) -> Result<ExitStatus, Error> {
    QUIET.store(out.quiet, Ordering::Relaxed);
    *RUN_STOP.lock().unwrap_or_else(|e| e.into_inner()) = Some(Stop::default());
    // Everything that talks to a server stops on Ctrl-C or SIGTERM; the other commands keep
    // the default (the process ends at once).
    if matches!(command, Command::Plan(_) | Command::Apply(_) | Command::Export(_) | Command::Comment(_)) {
        listen_for_stop(run_stop());
    }
    match command {
        Command::Validate { files, format, workspace: ws } => match workspace::locate(&ws)? {
            Some(path) => workspace::validate(&path, &ws.targets, format),
            None => validate(&files.paths(), format),
        },
        Command::Plan(args) => {
            let hook = webhook(&args.notify)?;
            let mut facts = Facts::default();
            let result = plan_command(args, out, &mut facts).await;
            notified(hook, notify::Command::Plan, &facts, result).await
        }
        Command::Apply(args) => {
            let hook = webhook(&args.notify)?;
            let mut facts = Facts::default();
            let result = apply_command(args, out, &mut facts).await;
            notified(hook, notify::Command::Apply, &facts, result).await
        }
        Command::Comment(args) => comment_command(args).await,
        Command::Export(args) => export_command(args, out).await,
        Command::Schema => {
            print(&tallyfy_groups_core::schema::schema_json());
            Ok(ExitStatus::Success)
        }
        Command::Completions { shell } => write_stdout(&completions::script(shell)),
        Command::Man { out_dir: None } => write_stdout(&man::main_page().roff),
        Command::Man { out_dir: Some(dir) } => write_man_pages(&dir),
        Command::Sandbox(args) => sandbox::serve_command(args).await.map_err(Error::Serve).map(|_| ExitStatus::Success),
    }
}

/// Writes a message of this tool's own to stderr, one line or several, with every control and
/// bidi character in it escaped ([`tallyfy_groups_core::names::visible_lines`]) but its line breaks; text
/// from outside in it must already be escaped, line breaks too (see docs/safety.md).
pub fn eprint_lines(text: &str) {
    eprintln!("{}", tallyfy_groups_core::names::visible_lines(text));
}

fn print(text: &str) {
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(text.as_bytes());
    let _ = stdout.flush();
}

/// Writes generated text to stdout; a closed pipe (`| head`) is not an error, a failed write is.
fn write_stdout(bytes: &[u8]) -> Result<ExitStatus, Error> {
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(bytes).and_then(|()| stdout.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(Error::Write { path: "stdout".into(), source: e }),
        _ => Ok(ExitStatus::Success),
    }
}

fn write_man_pages(dir: &Path) -> Result<ExitStatus, Error> {
    let failed = |source| Error::Write { path: dir.display().to_string(), source };
    std::fs::create_dir_all(dir).map_err(failed)?;
    for page in man::all_pages() {
        let path = dir.join(&page.file_name);
        std::fs::write(&path, &page.roff).map_err(|source| Error::Write { path: path.display().to_string(), source })?;
        info!(path = %path.display(), "wrote man page");
    }
    Ok(ExitStatus::Success)
}

fn load(files: &[PathBuf]) -> Result<DesiredState, Error> {
    Ok(pipeline::load(files)?)
}

fn validate(files: &[PathBuf], format: ValidateFormat) -> Result<ExitStatus, Error> {
    let result = load(files);
    if format != ValidateFormat::Text {
        let verdict = match &result {
            Ok(state) => {
                let absent = state.groups.iter().filter(|g| g.absent).count();
                Verdict::Valid { groups: state.groups.len() - absent, absent }
            }
            Err(Error::Read(e)) => Verdict::Invalid(vec![Problem::from_read_error(e)]),
            Err(Error::Invalid(d)) => Verdict::Invalid(d.0.iter().map(Problem::from_diagnostic).collect()),
            Err(other) => Verdict::Invalid(vec![Problem { file: None, line: None, column: None, message: other.to_string(), hint: None }]),
        };
        match (format, &verdict) {
            (ValidateFormat::Json, _) => {
                let names: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
                print(&annotate::json(&names, &verdict));
            }
            (_, Verdict::Invalid(problems)) => {
                let cwd = std::env::current_dir().unwrap_or_default();
                let workspace = std::env::var_os("GITHUB_WORKSPACE").filter(|w| !w.is_empty()).map(PathBuf::from);
                print(&annotate::github(problems, |f| annotate::workspace_path(f, &cwd, workspace.as_deref())));
            }
            _ => {}
        }
    }
    let state = result?;
    if format == ValidateFormat::Json {
        return Ok(ExitStatus::Success);
    }
    let absent = state.groups.iter().filter(|g| g.absent).count();
    let keep = render::plural(state.groups.len() - absent, "group to keep", "groups to keep");
    let delete = if absent > 0 { format!(", {absent} to delete (absent)") } else { String::new() };
    let names = match state.sources.as_slice() {
        [one] => format!("{one} is"),
        more => format!("{} are", more.join(", ")),
    };
    print(&format!("{names} valid: {keep}{delete}.\n"));
    Ok(ExitStatus::Success)
}

/// The one organization of the command line: its settings and, with `--sandbox`, the embedded
/// sandbox it runs on (kept alive while the run lasts).
pub(crate) struct Single {
    pub run: run::Run,
    _sandbox: Option<embedded::Embedded>,
}

impl Single {
    /// The organization of `--org`, `--api-url`, the credentials of `TALLYFY_*` or
    /// `--token-file`, or `--sandbox` (started now); `files` are its groups files.
    async fn new(args: &ConnectArgs, files: Vec<PathBuf>, baseline: Option<Vec<PathBuf>>) -> Result<Self, Error> {
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
        let target = TargetSettings { name: None, org: org.into(), endpoint, files, baseline, names: Names::single() };
        Ok(Single { run: run::Run::new(vec![target], connect_settings(args)), _sandbox: sandbox })
    }

    /// A client of the organization.
    async fn connect(&self) -> Result<run::Connection, Error> {
        run::connect(&self.run.targets[0], &self.run).await
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

/// Reads the live groups, users and (when needed) guests; lists run concurrently.
pub async fn fetch(client: &Client, need_guests: bool) -> Result<LiveState, Error> {
    let progress = progress::ReadProgress::new(QUIET.load(Ordering::Relaxed));
    if let Some(callback) = progress.callback() {
        client.on_page(callback);
    }
    let read = tallyfy_groups_api::read_live(client, need_guests).await;
    progress.finish();
    Ok(read?)
}

/// `--only`, `--exclude` and `--no-removals`, checked.
fn diff_options(target: &TargetArgs) -> Result<DiffOptions, Error> {
    let scope = Scope::new(&target.only, &target.exclude).map_err(Error::Config)?;
    Ok(DiffOptions { scope, no_removals: target.no_removals, keep_going: target.keep_going })
}

fn render_plan(plan: &Plan, format: PlanFormat, out: Output) -> String {
    match format {
        PlanFormat::Text => render::text::render_plan_with(plan, out.color, out.verbose),
        PlanFormat::Markdown => render::markdown::render_plan(plan),
        PlanFormat::Json => render::json::render_plan(plan),
    }
}

async fn plan_command(args: PlanArgs, out: Output, facts: &mut Facts) -> Result<ExitStatus, Error> {
    if let Some(path) = workspace::locate(&args.workspace)? {
        return workspace::plan(workspace::open_workspace(&path, &args.workspace.targets)?, args, out, facts).await;
    }
    let options = diff_options(&args.target)?;
    let allow_removals = single_allowance(&args.allow_removals)?;
    let baseline = (!args.baseline.is_empty()).then(|| args.baseline.clone());
    let single = Single::new(&args.connect, args.files.paths(), baseline).await?;
    let run::Planned { mut plan, conn, .. } = run::only(run::plan_targets(&single.run, &options, out.quiet).await)?;
    facts.organization = Some(conn.target.org.to_string());
    plan.guard.allow(allow_removals.as_deref());
    facts.plan = Some(notify::PlanFacts::of(&plan));
    if let Some(path) = &args.out {
        saved::write(path, &plan).map_err(|source| Error::Write { path: path.display().to_string(), source })?;
        info!(path = %path.display(), "saved the plan");
    }
    print(&render_plan(&plan, args.format, out));
    Ok(pipeline::plan_verdict(&mut plan, args.detailed_exitcode, Allowances { removals: allow_removals.as_deref() }, None)?)
}

/// `--allow-removals` of a single-organization run: one reason at most.
fn single_allowance(given: &[String]) -> Result<Option<String>, Error> {
    match given {
        [] => Ok(None),
        [one] => Ok(Some(one.clone())),
        _ => Err(Error::Config(
            "--allow-removals is given more than once; a single organization takes one reason (several, as TARGET=REASON, are for the targets of a workspace file)".into(),
        )),
    }
}

async fn apply_command(args: ApplyArgs, out: Output, facts: &mut Facts) -> Result<ExitStatus, Error> {
    // Input is checked before any connection, so a bad file never waits on the network.
    // One value per run, moved once: its size does not matter.
    #[allow(clippy::large_enum_variant)]
    enum Source {
        Saved(Box<saved::SavedPlan>),
        Desired(DiffOptions),
    }
    let located = match &args.plan {
        Some(_) => None,
        None => workspace::locate(&args.workspace)?,
    };
    if let Some(path) = located {
        return workspace::apply(workspace::open_workspace(&path, &args.workspace.targets)?, None, args, out, facts).await;
    }
    let read_error = |e| match e {
        saved::ReadError::Unusable(m) => Error::Config(m),
        saved::ReadError::Tampered(m) => Error::Refused(m),
    };
    let source = match &args.plan {
        Some(path) => match saved::read_any(path).map_err(read_error)? {
            saved::AnySaved::One(plan) => {
                if args.workspace.workspace.is_some() || !args.workspace.targets.is_empty() {
                    return Err(Error::Config(format!(
                        "{} is the saved plan of one organization: --target and --workspace select targets of a workspace's saved plan\n    hint: drop them to apply this plan to the organization it was made for",
                        path.display()
                    )));
                }
                pipeline::check_saved_limits(&plan, &args.files.files, Path::new(crate::cli::DEFAULT_FILE), None)?;
                Source::Saved(plan)
            }
            saved::AnySaved::Workspace(plan) => {
                if args.workspace.single_org {
                    return Err(Error::Config(format!(
                        "{} is the saved plan of a workspace's targets: --org and --api-url cannot redirect it (the workspace file names each target's organization and API URL)\n    hint: drop --org and --api-url",
                        path.display()
                    )));
                }
                let path = workspace::locate_for_saved(&args.workspace)?;
                return workspace::apply(workspace::open_workspace(&path, &args.workspace.targets)?, Some(plan), args, out, facts).await;
            }
        },
        None => Source::Desired(diff_options(&args.target)?),
    };
    if args.all_or_nothing {
        return Err(Error::Config(
            "--all-or-nothing is for the targets of a workspace file (tallyfy-groups.yaml); one organization's apply has no other target to wait for".into(),
        ));
    }
    let allow_removals = single_allowance(&args.allow_removals)?;
    let (mut plan, saved_plan, conn, _single) = match source {
        Source::Saved(saved_plan) => {
            let single = Single::new(&saved_plan_connection(&saved_plan.target, &args.connect), Vec::new(), None).await?;
            let conn = single.connect().await?;
            facts.organization = Some(conn.target.org.to_string());
            same_target(&saved_plan.target, &conn.target)?;
            let Some(plan) = checked_saved_plan(&saved_plan, &conn).await? else {
                print(ALREADY_APPLIED);
                return Ok(ExitStatus::Success);
            };
            (plan, Some(saved_plan), conn, single)
        }
        Source::Desired(options) => {
            let single = Single::new(&args.connect, args.files.paths(), None).await?;
            let planned = run::only(run::plan_targets(&single.run, &options, out.quiet).await)?;
            facts.organization = Some(planned.conn.target.org.to_string());
            (planned.plan, None, planned.conn, single)
        }
    };
    let client = &conn.api;
    plan.guard.allow(allow_removals.as_deref());
    facts.plan = Some(notify::PlanFacts::of(&plan));
    print(&render::text::render_plan_with(&plan, out.color, out.verbose));
    let unresolved = std::mem::take(&mut plan.errors);
    let finish =
        |status: ExitStatus| if unresolved.is_empty() { Ok(status) } else { Err(Error::KeptGoing(Diagnostics(unresolved.clone()))) };
    if plan.is_empty() {
        return finish(ExitStatus::Success);
    }
    gate::check(&mut plan, Stage::Apply, Allowances { removals: allow_removals.as_deref() }, None)?;
    if !args.auto_approve {
        if !std::io::stdin().is_terminal() {
            return Err(Error::Refused(
                "refusing to apply without confirmation: stdin is not a terminal.\n    hint: review the plan above and pass --auto-approve"
                    .into(),
            ));
        }
        if !confirm(&format!("Apply these changes to organization {}?", client.org())).await? {
            eprintln!("Apply cancelled; nothing was changed.");
            return Ok(ExitStatus::Success);
        }
        // Time has passed at the prompt: right before the first write, what a saved plan relied
        // on must still hold (a plan made from files re-reads the groups it writes with values
        // the files do not manage, in the applier).
        if let Some(saved_plan) = &saved_plan {
            let Some(again) = checked_saved_plan(saved_plan, &conn).await? else {
                print(ALREADY_APPLIED);
                return Ok(ExitStatus::Success);
            };
            plan = again;
            gate::check(&mut plan, Stage::Apply, Allowances { removals: allow_removals.as_deref() }, None)?;
        }
    }
    let progress = progress::for_apply(plan.actions.len(), out.quiet);
    let settings = run::ApplySettings {
        parallelism: usize::from(args.connect.parallelism),
        guest_invites_per_hour: args.guest_invites_per_hour,
        progress: progress.callback(),
    };
    let stands = [run::Stand::Planned(Box::new(run::Planned { plan, conn, saved: None }))];
    let report = run::apply_targets(&stands, &[0], settings).await.pop().flatten();
    progress.finish();
    let Some(report) = report else { return Err(Error::Config("the apply ended without a report".into())) };
    facts.apply = Some(notify::ApplyFacts::of(&report));
    print(&format!("\n{}", render::text::render_report(&report, out.color)));
    if let Some(path) = &args.report {
        write_report(path, &report)?;
    }
    finish(if run_stop().is_requested() {
        ExitStatus::Interrupted
    } else if report.all_applied() {
        ExitStatus::Success
    } else {
        ExitStatus::Error
    })
}

/// What `apply PLAN` prints when live state already equals the plan's result.
const ALREADY_APPLIED: &str = "Nothing to do: this plan was already applied (every group it touches already matches it).\n";

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

/// Refuses, before anything is read, a saved plan made for another target than the configured one.
fn same_target(recorded: &Target, configured: &Target) -> Result<(), Error> {
    if made_for(recorded, configured) {
        return Ok(());
    }
    let hint = if configured.api_url.starts_with(embedded::LABEL_PREFIX) {
        "a plan applies only where it was made: configure that target (TALLYFY_API_URL / --api-url, TALLYFY_ORG_ID / --org) without --sandbox, or make a new plan here with `plan --out`"
    } else if recorded.api_url.starts_with(embedded::LABEL_PREFIX) {
        "a plan made on the embedded sandbox applies there when no API URL is configured (or with --sandbox --sandbox-state set to its state file); or make a new plan here with `plan --out`"
    } else {
        "a plan applies only where it was made: set TALLYFY_API_URL / --api-url and TALLYFY_ORG_ID / --org to its target, or make a new plan here with `plan --out`"
    };
    Err(other_target(recorded, configured, hint))
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

/// Reads live state and checks a saved plan against it; returns the plan rebuilt from the saved
/// actions and that live state (the guard and everything shown come from live state, never from
/// the file), or `None` when live state already equals the plan's result.
async fn checked_saved_plan(saved_plan: &saved::SavedPlan, conn: &run::Connection) -> Result<Option<Plan>, Error> {
    let needs_guests = saved_plan.actions.iter().any(|a| matches!(a, saved::SavedAction::CreateGuest { .. }));
    let live = fetch(&conn.api, needs_guests).await?;
    Ok(pipeline::check_saved(saved_plan, &conn.target, &live)?)
}

fn write_report(path: &Path, report: &ApplyReport) -> Result<(), Error> {
    let json = render::json::render_report(report);
    saved::write_atomic(path, json.as_bytes()).map_err(|source| Error::Write { path: path.display().to_string(), source })
}

async fn export_command(args: ExportArgs, out: Output) -> Result<ExitStatus, Error> {
    if let Some(path) = workspace::locate(&args.workspace)? {
        return workspace::export(workspace::open_workspace(&path, &args.workspace.targets)?, args, out).await;
    }
    let single = Single::new(&args.connect, Vec::new(), None).await?;
    run::export_target(&single.run, args.out.clone(), out.quiet).await
}

/// `--notify`, checked before anything else runs (the URL is never shown).
fn webhook(args: &NotifyArgs) -> Result<Option<Webhook>, Error> {
    args.notify.as_ref().filter(|url| !url.expose().trim().is_empty()).map(Webhook::new).transpose().map_err(Error::Config)
}

/// Sends the `--notify` summary when the run found drift or failed. A summary that cannot be
/// delivered is logged as an error beside the command's own outcome, which it never changes (an
/// apply that applied its changes stays a success): plan and apply alike. After a Ctrl-C or
/// SIGTERM nothing is sent.
async fn notified(
    hook: Option<Webhook>,
    command: notify::Command,
    facts: &Facts,
    result: Result<ExitStatus, Error>,
) -> Result<ExitStatus, Error> {
    let Some(hook) = hook else { return result };
    let code = match &result {
        Ok(status) => status.code(),
        Err(e) => e.exit_status().code(),
    };
    let Some(event) = notify::event(command, code, facts) else { return result };
    let stop = run_stop();
    if stop.is_requested() {
        warn!("the --notify summary was not sent: interrupted");
        return result;
    }
    let error = result.as_ref().err().map(|e| e.to_string()).or_else(|| facts.error.clone()).map(|e| hook.scrub(&e));
    let run_url = notify::run_url(|name| std::env::var(name).ok());
    let payload = notify::payload(event, command, code, facts, error.as_deref(), run_url.as_deref());
    match hook.send(&payload, Duration::from_secs(1), &stop).await {
        Ok(()) => info!(event = ?event, "sent the --notify summary"),
        Err(why) => {
            let done = match (&result, command) {
                (Ok(ExitStatus::Success), notify::Command::Apply) => "the changes were applied, but ",
                (Ok(_), notify::Command::Plan) => "the plan was made, but ",
                _ => "",
            };
            tracing::error!("{done}the --notify webhook did not take the summary: {why}");
        }
    }
    result
}

/// Largest comment body read (the forges take far less; it is cut to fit).
const MAX_COMMENT_FILE: u64 = 16 * 1024 * 1024;

async fn comment_command(args: CommentArgs) -> Result<ExitStatus, Error> {
    let (forge, api_url, project, number, commit, body) = match &args.on {
        CommentOn::Github(a) => (Forge::GitHub, &a.api_url, &a.repo, a.pr, &a.commit, &a.body),
        CommentOn::Gitlab(a) => (Forge::GitLab, &a.api_url, &a.project, a.mr, &a.commit, &a.body),
    };
    let target = CommentTarget::new(forge, api_url, project, number)?;
    let marker = comment::marker(body.key.as_deref())?;
    let commit = commit.as_deref().filter(|c| !c.trim().is_empty()).map(comment::check_commit).transpose()?;
    let text = read_comment_body(&body.body_file)?;
    let token = Secret::new(std::env::var(forge.token_variable()).unwrap_or_default());
    let options = CommentOptions {
        marker,
        commit,
        now: std::time::SystemTime::now(),
        retry_delay: Duration::from_secs(2),
        stop: run_stop(),
        author: body.author.clone(),
    };
    let posted = comment::upsert(&target, &token, &text, &options).await?;
    let url = posted.url.unwrap_or_else(|| format!("comment {} on {}", posted.id, target.label()));
    print(&format!("{} {url}\n", if posted.edited { "edited" } else { "created" }));
    Ok(ExitStatus::Success)
}

/// Reads `--body-file` (`-` is stdin), at most [`MAX_COMMENT_FILE`] bytes of UTF-8.
fn read_comment_body(path: &Path) -> Result<String, Error> {
    use std::io::Read;
    let shown = path.display();
    let bytes = if path.as_os_str() == "-" {
        let mut bytes = Vec::new();
        std::io::stdin()
            .lock()
            .take(MAX_COMMENT_FILE + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| Error::Config(format!("cannot read the comment from stdin: {e}")))?;
        bytes
    } else {
        match desired::read_bounded(path, MAX_COMMENT_FILE) {
            Ok(desired::Bounded::Read(bytes)) => bytes,
            Ok(desired::Bounded::TooLarge { .. }) => {
                return Err(Error::Config(format!("the comment file {shown} is larger than 16 MiB")));
            }
            Err(e) => return Err(Error::Config(format!("cannot read the comment file {shown}: {e}"))),
        }
    };
    if bytes.len() as u64 > MAX_COMMENT_FILE {
        return Err(Error::Config(format!("the comment file {shown} is larger than 16 MiB")));
    }
    String::from_utf8(bytes).map_err(|_| Error::Config(format!("the comment file {shown} is not UTF-8 text")))
}

/// How long after a first signal the process ends whatever it is doing: a backstop for any wait
/// that does not watch the stop, before a CI system's kill (GitHub Actions: 7.5 s).
const STOP_DEADLINE: Duration = Duration::from_secs(6);

/// Ctrl-C or SIGTERM (what CI systems send on cancel): no request starts any more, waits for the
/// rate limit or a retry end at once, requests in flight get [`tallyfy_groups_api::stop::GRACE`],
/// and an apply still prints and writes its report; the exit status is 130. A second signal
/// abandons the requests in flight at once. Listens until the run ends.
fn listen_for_stop(stop: Stop) {
    let mut signals = Signals::new();
    tokio::spawn(async move {
        signals.next().await;
        stop.request();
        eprintln!(
            "\nInterrupted: stopping; requests in flight get {} s, then the report is written. Interrupt again to stop at once.",
            tallyfy_groups_api::stop::GRACE.as_secs()
        );
        // A plain thread: it must fire even if the runtime is stuck in something blocking.
        std::thread::spawn(|| {
            std::thread::sleep(STOP_DEADLINE);
            eprintln!("error: did not stop within {} s of the interrupt; exiting now", STOP_DEADLINE.as_secs());
            std::process::exit(ExitStatus::Interrupted.code());
        });
        signals.next().await;
        stop.abandon();
        eprintln!("\nInterrupted again: abandoning the requests in flight; writing the report.");
    });
}

/// Asks `question` with y/N on the terminal; only `y` or `yes` is a yes. A stop while waiting
/// for the answer is an interruption (stdin is read on a thread of its own, so it never holds
/// the run up).
pub(crate) async fn confirm(question: &str) -> Result<bool, Error> {
    eprint!("\n{question} Only 'y' or 'yes' continues [y/N]: ");
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let mut answer = String::new();
        let _ = std::io::stdin().lock().read_line(&mut answer);
        let _ = tx.send(answer);
    });
    let stop = run_stop();
    tokio::select! {
        () = stop.requested() => Err(Error::Interrupted("nothing was changed".into())),
        answer = rx => Ok(matches!(answer.unwrap_or_default().trim().to_lowercase().as_str(), "y" | "yes")),
    }
}

/// Ctrl-C (SIGINT) and, on Unix, SIGTERM, listened for from creation on.
struct Signals {
    #[cfg(unix)]
    interrupt: Option<tokio::signal::unix::Signal>,
    #[cfg(unix)]
    terminate: Option<tokio::signal::unix::Signal>,
}

impl Signals {
    fn new() -> Self {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let listen = |kind| signal(kind).inspect_err(|e| warn!(error = %e, "cannot listen for a signal")).ok();
            Signals { interrupt: listen(SignalKind::interrupt()), terminate: listen(SignalKind::terminate()) }
        }
        #[cfg(not(unix))]
        Signals {}
    }

    /// Resolves on the next Ctrl-C or SIGTERM (never, if neither can be listened for).
    async fn next(&mut self) {
        #[cfg(unix)]
        {
            async fn recv(s: &mut Option<tokio::signal::unix::Signal>) {
                if let Some(s) = s
                    && s.recv().await.is_some()
                {
                    return;
                }
                std::future::pending().await
            }
            tokio::select! {
                () = recv(&mut self.interrupt) => {}
                () = recv(&mut self.terminate) => {}
            }
        }
        #[cfg(not(unix))]
        {
            if tokio::signal::ctrl_c().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    }
}
