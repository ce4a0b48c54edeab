//! The terminal layer: runs one command (load → fetch → plan → render → confirm → apply), and
//! owns everything a person sees or does: printing, the y/N prompt, signals, exit codes. Does
//! file, network and terminal I/O.

pub mod completions;
pub mod man;
pub mod progress;
pub mod sandbox;

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tracing::{info, warn};

use crate::apply::{self, ApplyOptions, ApplyReport};
use crate::cli::{ApplyArgs, ColorChoice, Command, ConnectArgs, ExportArgs, PlanArgs, PlanFormat, TargetArgs};
use crate::credentials;
use crate::desired::{self, DesiredState, Diagnostics, ReadError};
use crate::diff::{DiffOptions, Scope};
use crate::model::LiveState;
pub use crate::pipeline::{PlanError, make_plan};
use crate::plan::{self, Plan, Target};
use crate::render;
use crate::saved;
use crate::tallyfy::{ApiError, Client, ClientConfig, ConfigError, Credentials, OrgContext, RetryPolicy, Secret};
use tallyfy_groups_sandbox as embedded;

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
    /// 130: a second Ctrl-C or SIGTERM abandoned an apply (after writing its report).
    Interrupted,
}

impl ExitStatus {
    pub fn code(self) -> i32 {
        match self {
            ExitStatus::Success => 0,
            ExitStatus::Error => 1,
            ExitStatus::Changes => 2,
            ExitStatus::Refused => 3,
            ExitStatus::Interrupted => 130,
        }
    }
}

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
    #[error("the embedded sandbox failed: {0}")]
    Sandbox(String),
    #[error("the sandbox failed: {0}")]
    Serve(String),
    #[error("these groups could not be resolved and were left untouched (--keep-going); every other group was processed: {0}")]
    KeptGoing(Diagnostics),
}

fn invalid_message(diags: &Diagnostics) -> String {
    format!("{} invalid: {diags}", crate::pipeline::files_of(diags))
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
    /// `-q`: nothing on stderr but errors.
    pub quiet: bool,
    /// `-v`: the text plan lists every unmanaged group.
    pub verbose: bool,
}

impl Output {
    pub fn new(choice: ColorChoice) -> Self {
        Output { color: color_enabled(choice, std::io::stdout().is_terminal()), quiet: false, verbose: false }
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

/// Runs one command.
pub async fn run(command: Command, out: Output) -> Result<ExitStatus, Error> {
    QUIET.store(out.quiet, Ordering::Relaxed);
    match command {
        Command::Validate { files } => validate(&files.files),
        Command::Plan(args) => plan_command(args, out).await,
        Command::Apply(args) => apply_command(args, out).await,
        Command::Export(args) => export_command(args, out).await,
        Command::Schema => {
            print(&crate::schema::schema_json());
            Ok(ExitStatus::Success)
        }
        Command::Completions { shell } => write_stdout(&completions::script(shell)),
        Command::Man { out_dir: None } => write_stdout(&man::main_page().roff),
        Command::Man { out_dir: Some(dir) } => write_man_pages(&dir),
        Command::Sandbox(args) => sandbox::serve_command(args).await.map_err(Error::Serve).map(|_| ExitStatus::Success),
    }
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
    let sources = desired::read_sources(files)?;
    desired::load(sources).map_err(Error::Invalid)
}

fn validate(files: &[PathBuf]) -> Result<ExitStatus, Error> {
    let state = load(files)?;
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

/// A connected client, and the sandbox it talks to when `--sandbox` is on.
struct Connection {
    /// The client and the target a saved plan records (stable across sandbox restarts).
    org: OrgContext<Client>,
    _sandbox: Option<embedded::Embedded>,
}

async fn connect(args: &ConnectArgs) -> Result<Connection, Error> {
    let (base_url, org, credentials, embedded) = if args.sandbox {
        let embedded = embedded::Embedded::start(&args.sandbox_state).await.map_err(Error::Sandbox)?;
        (embedded.base_url.clone(), embedded.org.clone(), Credentials::Token(Secret::new(embedded.token.clone())), Some(embedded))
    } else {
        let org = args.org.clone().filter(|o| !o.trim().is_empty()).ok_or_else(|| {
            Error::Config("no organization id: set TALLYFY_ORG_ID or pass --org (or use --sandbox to try the tool locally)".into())
        })?;
        let sources = credentials::Sources::from_env(args);
        let api_url = sources.api_url().map_err(Error::Config)?;
        let choice = sources.choose(&api_url).map_err(Error::Config)?;
        (api_url, org, credentials::credentials(choice).map_err(Error::Config)?, None)
    };
    let config = ClientConfig {
        base_url,
        org: org.into(),
        credentials,
        timeout: Duration::from_secs(args.timeout.max(1)),
        retry: RetryPolicy { max_total: Duration::from_secs(args.max_retry_time), ..RetryPolicy::default() },
        max_requests_per_minute: args.max_requests_per_minute,
        max_rps: args.max_rps.filter(|r| r.is_finite() && *r > 0.0).unwrap_or(0.0),
        parallelism: usize::from(args.parallelism),
    };
    let label = embedded.as_ref().map(|e| e.label.clone()).unwrap_or_else(|| config.base_url.trim_end_matches('/').to_string());
    let target = Target { api_url: label, org: config.org.clone() };
    let client = Client::new(config)?;
    // Client credentials are exchanged now, so wrong ones fail before anything is read.
    client.authenticate().await?;
    Ok(Connection { org: OrgContext { target, api: client }, _sandbox: embedded })
}

/// Reads the live groups, users and (when needed) guests; lists run concurrently.
pub async fn fetch(client: &Client, need_guests: bool) -> Result<LiveState, Error> {
    let progress = progress::ReadProgress::new(QUIET.load(Ordering::Relaxed));
    if let Some(callback) = progress.callback() {
        client.on_page(callback);
    }
    let read = crate::tallyfy::read_live(client, need_guests).await;
    progress.finish();
    Ok(read?)
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
    let client = &conn.org.api;
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
    Ok(DiffOptions { scope, no_removals: target.no_removals, keep_going: target.keep_going })
}

fn render_plan(plan: &Plan, format: PlanFormat, out: Output) -> String {
    match format {
        PlanFormat::Text => render::text::render_plan_with(plan, out.color, out.verbose),
        PlanFormat::Markdown => render::markdown::render_plan(plan),
        PlanFormat::Json => render::json::render_plan(plan),
    }
}

async fn plan_command(args: PlanArgs, out: Output) -> Result<ExitStatus, Error> {
    let options = diff_options(&args.target)?;
    let (desired, baseline, conn, live) = load_while_fetching(&args.files.files, &args.baseline, &args.connect).await?;
    let mut plan = make_plan(&desired, &live, &options, conn.org.target.clone())?;
    if let Some(baseline) = &baseline {
        let base_plan = make_plan(baseline, &live, &options, conn.org.target.clone())?;
        plan::label_origins(&mut plan, &base_plan);
    }
    plan.guard.allow(args.allow_removals.as_deref());
    if let Some(path) = &args.out {
        saved::write(path, &plan).map_err(|source| Error::Write { path: path.display().to_string(), source })?;
        info!(path = %path.display(), "saved the plan");
    }
    print(&render_plan(&plan, args.format, out));
    if !plan.errors.is_empty() {
        return Err(Error::KeptGoing(Diagnostics(plan.errors)));
    }
    // A pull-request check turns red when apply would refuse, not green-then-refused-after-merge.
    if plan.guard.refuses() {
        return Err(Error::Refused(format!(
            "the removal guard tripped ({}); apply would refuse this plan.\n    hint: if the removals are intended, plan (or apply) with --allow-removals \"why\"",
            plan.guard.tripped.join("; ")
        )));
    }
    Ok(if args.detailed_exitcode && !plan.is_empty() { ExitStatus::Changes } else { ExitStatus::Success })
}

async fn apply_command(args: ApplyArgs, out: Output) -> Result<ExitStatus, Error> {
    // Input is checked before any connection, so a bad file never waits on the network.
    // One value per run, moved once: its size does not matter.
    #[allow(clippy::large_enum_variant)]
    enum Source {
        Saved(Box<saved::SavedPlan>),
        Desired(DesiredState, DiffOptions),
    }
    let source = match &args.plan {
        Some(path) => Source::Saved(Box::new(saved::read(path).map_err(|e| match e {
            saved::ReadError::Unusable(m) => Error::Config(m),
            saved::ReadError::Tampered(m) => Error::Refused(m),
        })?)),
        None => Source::Desired(load(&args.files.files)?, diff_options(&args.target)?),
    };
    let conn = connect(&args.connect).await?;
    let client = &conn.org.api;
    let (mut plan, saved_plan) = match source {
        Source::Saved(saved_plan) => {
            let plan = checked_saved_plan(&saved_plan, &conn).await?;
            (plan, Some(saved_plan))
        }
        Source::Desired(desired, options) => {
            let live = fetch(client, desired.names_guests()).await?;
            (make_plan(&desired, &live, &options, conn.org.target.clone())?, None)
        }
    };
    plan.guard.allow(args.allow_removals.as_deref());
    print(&render::text::render_plan_with(&plan, out.color, out.verbose));
    let unresolved = std::mem::take(&mut plan.errors);
    let finish =
        |status: ExitStatus| if unresolved.is_empty() { Ok(status) } else { Err(Error::KeptGoing(Diagnostics(unresolved.clone()))) };
    if plan.is_empty() {
        return finish(ExitStatus::Success);
    }
    check_guard(&mut plan, args.allow_removals.as_deref())?;
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
        // Time has passed at the prompt: right before the first write, what a saved plan relied
        // on must still hold (a plan made from files re-reads the groups it writes with values
        // the files do not manage, in the applier).
        if let Some(saved_plan) = &saved_plan {
            plan = checked_saved_plan(saved_plan, &conn).await?;
            check_guard(&mut plan, args.allow_removals.as_deref())?;
        }
    }
    let options = ApplyOptions {
        parallelism: usize::from(args.connect.parallelism),
        allow_removals: plan.guard.allowed.clone(),
        guest_invites_per_hour: args.guest_invites_per_hour,
        stop: apply::Stop::default(),
    };
    // Ctrl-C or SIGTERM (what CI systems send on cancel): start nothing new, let the requests in
    // flight finish, and still report. A second signal abandons the requests in flight; the
    // report is still written, then the process exits 130.
    let interrupt = {
        let stop = options.stop.clone();
        let mut signals = Signals::new();
        tokio::spawn(async move {
            signals.next().await;
            stop.finish_in_flight();
            eprintln!("\nInterrupted: finishing the requests in flight, then reporting. Interrupt again to stop at once.");
            signals.next().await;
            stop.abandon_in_flight();
            eprintln!("\nInterrupted again: abandoning the requests in flight; writing the report.");
        })
    };
    info!(actions = plan.actions.len(), "applying");
    let progress = progress::for_apply(plan.actions.len(), out.quiet);
    let report = apply::apply(&plan, client, &options, progress.callback()).await;
    progress.finish();
    interrupt.abort();
    print(&format!("\n{}", render::text::render_report(&report, out.color)));
    if let Some(path) = &args.report {
        write_report(path, &report)?;
    }
    finish(if options.stop.is_abandoned() {
        ExitStatus::Interrupted
    } else if report.all_applied() {
        ExitStatus::Success
    } else {
        ExitStatus::Error
    })
}

/// Reads live state and checks a saved plan against it; returns the plan rebuilt from the saved
/// actions and that live state (the guard and everything shown come from live state, never from
/// the file).
async fn checked_saved_plan(saved_plan: &saved::SavedPlan, conn: &Connection) -> Result<Plan, Error> {
    let needs_guests = saved_plan.actions.iter().any(|a| matches!(a, saved::SavedAction::CreateGuest { .. }));
    let live = fetch(&conn.org.api, needs_guests).await?;
    saved::check(saved_plan, &conn.org.target.api_url, &conn.org.target.org, &live).map_err(Error::Refused)?;
    saved_plan.to_plan(&live).map_err(Error::Refused)
}

/// Refuses a plan whose removal guard tripped, unless overridden with a reason.
fn check_guard(plan: &mut Plan, allow_removals: Option<&str>) -> Result<(), Error> {
    if allow_removals.is_some() {
        plan.guard.allow(allow_removals);
    }
    if !plan.guard.is_tripped() {
        return Ok(());
    }
    match &plan.guard.allowed {
        Some(reason) => {
            warn!(reason = reason.as_str(), "removal guard overridden with --allow-removals");
            Ok(())
        }
        None => Err(Error::Refused(format!(
            "refusing to apply: the removal guard tripped ({}).\n    hint: check the plan; if the removals are intended, run again with --allow-removals \"why\"",
            plan.guard.tripped.join("; ")
        ))),
    }
}

fn write_report(path: &Path, report: &ApplyReport) -> Result<(), Error> {
    let json = serde_json::to_string_pretty(report).unwrap_or_default() + "\n";
    saved::write_atomic(path, json.as_bytes()).map_err(|source| Error::Write { path: path.display().to_string(), source })
}

async fn export_command(args: ExportArgs, out: Output) -> Result<ExitStatus, Error> {
    let conn = connect(&args.connect).await?;
    let live = fetch(&conn.org.api, false).await?;
    let yaml = crate::export::to_yaml(&live);
    match &args.out {
        Some(path) => {
            saved::write_atomic(path, yaml.as_bytes()).map_err(|source| Error::Write { path: path.display().to_string(), source })?;
            if !out.quiet {
                eprintln!("Wrote {} groups to {}.", live.groups.len(), path.display());
            }
        }
        None => print(&yaml),
    }
    Ok(ExitStatus::Success)
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
