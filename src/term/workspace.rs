//! Several organizations from one repository: finds the workspace file (`tallyfy-groups.yaml`)
//! and runs `validate`, `plan`, `apply` and `export` for its targets. Every target is read and
//! planned concurrently (a few at a time) with its own client and credentials; targets that use
//! the same credentials share one rate limiter (Tallyfy counts requests per user). One target's
//! failure never stops the others: it is reported under the target's name, and the run ends with
//! the most severe exit status across targets, naming the targets behind it. Does file, network
//! and terminal I/O.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tallyfy_groups_core::workspace::{self as ws, TargetSpec, Workspace};
use tracing::{info, warn};

use super::run::{ApplySettings, Planned, Run, Stand, apply_targets, each_target, export_target, plan_targets, workspace_target};
use super::{Error, ExitStatus, Output, checked_saved_plan, diff_options, load, print};
use crate::cli::{ApplyArgs, ConnectArgs, ExportArgs, PlanArgs, PlanFormat, ValidateFormat, WorkspaceArgs};
use tallyfy_groups_api::Secret;
use tallyfy_groups_api::apply::ApplyReport;
use tallyfy_groups_core::annotate::{self, Problem, Verdict};
use tallyfy_groups_core::desired::{self, Diagnostics};
use tallyfy_groups_core::render::{self, TargetView};
use tallyfy_groups_core::saved::{self, SavedWorkspacePlan};
use tallyfy_groups_engine::gate::{self, Allowances as Allowed};
use tallyfy_groups_engine::settings::EmbeddedSite;
use tallyfy_groups_engine::{Stage, pipeline};
use tallyfy_groups_publish::notify::{self, Facts};
use tallyfy_groups_sandbox as embedded;

/// A workspace file and the targets this run acts on (in the file's order).
pub struct Selected {
    pub workspace: Workspace,
    /// The workspace file's folder: the files of the targets are relative to it.
    pub dir: PathBuf,
    pub targets: Vec<TargetSpec>,
}

/// The workspace file this run uses, if any: `--workspace FILE`, else `tallyfy-groups.yaml` in
/// the current directory or a parent up to the repository root. None when `-f`, `--org` or
/// `--api-url` is given: then the run is about one organization, exactly as without a workspace.
pub fn locate(args: &WorkspaceArgs) -> Result<Option<PathBuf>, Error> {
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
pub fn locate_for_saved(args: &WorkspaceArgs) -> Result<PathBuf, Error> {
    locate(&WorkspaceArgs { single_org: false, ..args.clone() })?.ok_or_else(|| {
        Error::Config(format!(
            "this is the saved plan of a workspace's targets, and there is no {} in this directory or its parents up to the repository root\n    hint: apply it in the repository it was made in, or pass --workspace FILE",
            ws::FILE_NAME
        ))
    })
}

/// `tallyfy-groups.yaml` in `start` or a parent, up to the folder holding `.git` (outside a
/// repository, only `start` itself). Found in `start`, it is named relatively.
fn find_upwards(start: &Path) -> Option<PathBuf> {
    let root = start.ancestors().find(|d| d.join(".git").exists());
    for dir in start.ancestors() {
        if dir.join(ws::FILE_NAME).is_file() {
            return Some(if dir == start { PathBuf::from(ws::FILE_NAME) } else { dir.join(ws::FILE_NAME) });
        }
        if root.is_none_or(|root| dir == root) {
            return None;
        }
    }
    None
}

/// Reads and checks the workspace file, and selects the targets named with `--target` (all
/// when none is named).
pub fn open_workspace(path: &Path, names: &[String]) -> Result<Selected, Error> {
    let shown = path.display().to_string();
    let text = match desired::read_bounded(path, desired::MAX_FILE_BYTES) {
        Ok(desired::Bounded::Read(bytes)) => {
            String::from_utf8(bytes).map_err(|_| Error::Config(format!("the workspace file {shown} is not UTF-8 text")))?
        }
        Ok(desired::Bounded::TooLarge { .. }) => return Err(Error::Config(format!("the workspace file {shown} is larger than 64 MiB"))),
        Err(e) => return Err(Error::Config(format!("cannot read the workspace file {shown}: {e}"))),
    };
    let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let workspace = ws::parse(&shown, &text, &dir).map_err(Error::Invalid)?;
    let mut targets: Vec<TargetSpec> = Vec::new();
    let unknown: Vec<&String> = names.iter().filter(|n| workspace.target(n).is_none()).collect();
    if !unknown.is_empty() {
        let list = unknown.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ");
        let hint = match unknown.iter().find_map(|n| workspace.closest_target(n).map(|m| (n, m))) {
            Some((n, meant)) => format!("\n    hint: did you mean `{meant}` for `{n}`?"),
            None => String::new(),
        };
        return Err(Error::Config(format!(
            "{shown} has no target {list}; its targets are {}{hint}",
            workspace.names().iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ")
        )));
    }
    for t in &workspace.targets {
        if names.is_empty() || names.contains(&t.name) {
            targets.push(t.clone());
        }
    }
    info!(workspace = %shown, targets = ?targets.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(), "using the workspace file");
    Ok(Selected { workspace, dir, targets })
}

/// `--allow-removals`: a reason for every target, and `TARGET=REASON` for one (the prefix counts
/// only when it names a target of the workspace; otherwise the whole text is the reason).
#[derive(Debug, Default)]
struct Allowances {
    all: Option<String>,
    one: HashMap<String, String>,
}

impl Allowances {
    fn parse(given: &[String], workspace: &Workspace) -> Result<Self, Error> {
        let mut allow = Allowances::default();
        for text in given {
            // A mistyped target name must not become a reason for every target (production's
            // included): a prefix that looks like one is refused.
            if let Some((name, _)) = text.split_once('=')
                && let Some(meant) = workspace.closest_target(name.trim())
            {
                return Err(Error::Config(format!(
                    "--allow-removals `{}=…`: `{}` is not a target of {}; did you mean `{meant}`?\n    hint: write `{meant}=REASON` to override one target's guard; a reason for every target must not start with a target-like word and `=`",
                    name.trim(),
                    name.trim(),
                    workspace.file
                )));
            }
            match text.split_once('=').filter(|(name, _)| workspace.target(name.trim()).is_some()) {
                Some((name, reason)) => {
                    if allow.one.insert(name.trim().to_string(), reason.trim().to_string()).is_some() {
                        return Err(Error::Config(format!("--allow-removals is given twice for target {}", name.trim())));
                    }
                }
                None if allow.all.is_some() => {
                    return Err(Error::Config(
                        "--allow-removals is given twice without a target; give one reason for all targets, or TARGET=REASON per target"
                            .into(),
                    ));
                }
                None => allow.all = Some(text.clone()),
            }
        }
        Ok(allow)
    }

    fn for_target(&self, name: &str) -> Option<&str> {
        self.one.get(name).or(self.all.as_ref()).map(String::as_str)
    }
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

/// The run of the selected targets, on the embedded sandbox when one was started.
fn workspace_run(sel: &Selected, sandbox: Option<&(embedded::Embedded, EmbeddedSite)>, args: &ConnectArgs) -> Run {
    let site = sandbox.map(|(_, site)| site);
    let targets = sel.targets.iter().map(|spec| workspace_target(spec, site, args.token_url.as_deref())).collect();
    Run::new(targets, super::connect_settings(args))
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

/// The files of a target on the baseline branch: its files at the same paths in `root`. A file
/// outside the workspace file's folder (an absolute path, or one through `..`) has no place in
/// the checkout and no baseline: joined to `root` it would be the file itself, and every change
/// to it would read as drift.
fn baseline_files(root: &Path, dir: &Path, spec: &TargetSpec) -> Vec<PathBuf> {
    spec.files
        .iter()
        .filter_map(|f| f.path.strip_prefix(dir).ok())
        .filter(|p| p.components().all(|c| matches!(c, std::path::Component::Normal(_) | std::path::Component::CurDir)))
        .map(|p| root.join(p))
        .filter(|p| p.exists())
        .collect()
}

/// The views the renderings take, and each target's exit status.
fn views<'a>(sel: &'a Selected, stands: &'a [Stand], messages: &'a [Option<String>], codes: &[ExitStatus]) -> Vec<TargetView<'a>> {
    sel.targets
        .iter()
        .zip(stands)
        .zip(messages)
        .zip(codes)
        .map(|(((spec, stand), message), code)| TargetView {
            name: &spec.name,
            plan: match stand {
                Stand::Planned(p) => Ok(&p.plan),
                _ => Err(message.as_deref().unwrap_or("")),
            },
            status: *code,
        })
        .collect()
}

/// Which targets' errors the text rendering already showed on this terminal (stdout and
/// stderr both on it): stderr does not repeat them.
fn shown_in_text(stands: &[Stand], text: bool) -> Vec<bool> {
    let terminal = text && std::io::stdout().is_terminal() && std::io::stderr().is_terminal();
    stands.iter().map(|s| terminal && matches!(s, Stand::Failed(_))).collect()
}

/// Prints each target's error under its name (unless already shown), and which targets the exit
/// status comes from; `--notify` reports the targets' errors.
fn report_exit(sel: &Selected, results: &[Result<ExitStatus, Error>], out: Output, shown: &[bool], facts: &mut Facts) -> ExitStatus {
    let errors: Vec<String> =
        sel.targets.iter().zip(results).filter_map(|(spec, r)| r.as_ref().err().map(|e| format!("target {}: {e}", spec.name))).collect();
    facts.error = (!errors.is_empty()).then(|| errors.join("\n"));
    for (i, (spec, result)) in sel.targets.iter().zip(results).enumerate() {
        if let Err(e) = result
            && !shown.get(i).copied().unwrap_or(false)
        {
            if out.json_logs {
                tracing::error!(target_name = spec.name.as_str(), exit_code = e.exit_status().code(), "{e}");
            } else {
                super::eprint_lines(&format!("error: target {}: {e}", spec.name));
            }
        }
    }
    let statuses: Vec<ExitStatus> = results.iter().map(|r| r.as_ref().map_or_else(Error::exit_status, |s| *s)).collect();
    let status = ExitStatus::most_severe(statuses.iter().copied());
    let worst = status.code();
    if status != ExitStatus::Success && sel.targets.len() > 1 {
        let because: Vec<&str> = sel.targets.iter().zip(&statuses).filter(|(_, s)| **s == status).map(|(t, _)| t.name.as_str()).collect();
        let what = match status {
            ExitStatus::Changes => "changes",
            ExitStatus::Refused => "refused",
            ExitStatus::Interrupted => "interrupted",
            _ => "failed",
        };
        let others: Vec<String> = sel
            .targets
            .iter()
            .zip(&statuses)
            .filter(|(_, s)| **s != status)
            .map(|(t, s)| format!("{} exit {}", t.name, s.code()))
            .collect();
        let rest = if others.is_empty() { String::new() } else { format!(" ({})", others.join(", ")) };
        let line = format!("Exit {worst} from target {} ({what}){rest}.", because.join(", "));
        match (out.json_logs, status) {
            (false, _) => eprintln!("{line}"),
            (true, ExitStatus::Changes) => warn!(exit_code = worst, "{line}"),
            (true, _) => tracing::error!(exit_code = worst, "{line}"),
        }
    }
    status
}

/// `plan` for the targets of a workspace.
pub async fn plan(sel: Selected, args: PlanArgs, out: Output, facts: &mut Facts) -> Result<ExitStatus, Error> {
    no_secret_files(&args.connect, &sel)?;
    let options = diff_options(&args.target)?;
    let allow = Allowances::parse(&args.allow_removals, &sel.workspace)?;
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
    let sandbox = start_sandbox(&args.connect, &sel).await?;
    let mut run = workspace_run(&sel, sandbox.as_ref(), &args.connect);
    // A target whose files the target branch does not have yet is new: every change counts as
    // introduced.
    for (target, spec) in run.targets.iter_mut().zip(&sel.targets) {
        target.baseline = baseline.as_ref().map(|root| baseline_files(root, &sel.dir, spec));
    }
    let mut stands = plan_targets(&run, &options, out.quiet).await;
    let mut results = Vec::new();
    for (spec, stand) in sel.targets.iter().zip(&mut stands) {
        results.push(match stand {
            Stand::Planned(p) => {
                let allowed = Allowed { removals: allow.for_target(&spec.name) };
                pipeline::plan_verdict(&mut p.plan, args.detailed_exitcode, allowed, Some(&spec.name)).map_err(Error::from)
            }
            Stand::Failed(e) => Err(same(e)),
            Stand::AlreadyApplied => Ok(ExitStatus::Success),
        });
    }
    record_plans(facts, &sel, &stands);
    if let Some(path) = &args.out {
        save(path, &sel, &stands, out)?;
    }
    let messages: Vec<Option<String>> = stands.iter().map(|s| if let Stand::Failed(e) = s { Some(e.to_string()) } else { None }).collect();
    let codes: Vec<ExitStatus> = results.iter().map(|r| r.as_ref().map_or_else(|e| e.exit_status(), |s| *s)).collect();
    let views = views(&sel, &stands, &messages, &codes);
    print(&match args.format {
        PlanFormat::Text => render::text::render_targets(&views, out.color, out.verbose),
        PlanFormat::Markdown => render::markdown::render_targets(&views),
        PlanFormat::Json => render::json::render_targets(&views),
    });
    // The failures were shown in the renderings; stderr names them too.
    Ok(report_exit(&sel, &results, out, &shown_in_text(&stands, args.format == PlanFormat::Text), facts))
}

/// The same error again (errors are not `Clone`), keeping its exit status.
fn same(e: &Error) -> Error {
    match e.exit_status() {
        ExitStatus::Refused => Error::Refused(e.to_string()),
        _ => Error::Config(e.to_string()),
    }
}

/// `plan --out` for a workspace: every target's plan in one sealed document; not written when a
/// target could not be planned (it would be left out of the plan without a trace).
fn save(path: &Path, sel: &Selected, stands: &[Stand], out: Output) -> Result<(), Error> {
    let failed: Vec<&str> =
        sel.targets.iter().zip(stands).filter(|(_, s)| matches!(s, Stand::Failed(_))).map(|(t, _)| t.name.as_str()).collect();
    if !failed.is_empty() {
        let line = format!("The plan was not saved to {}: target {} could not be planned.", path.display(), failed.join(", "));
        if out.json_logs {
            warn!("{line}")
        } else {
            eprintln!("{line}")
        }
        return Ok(());
    }
    let plans = sel.targets.iter().zip(stands).filter_map(|(t, s)| match s {
        Stand::Planned(p) => Some((t.name.as_str(), &p.plan)),
        _ => None,
    });
    saved::write_workspace(path, plans).map_err(|source| Error::Write { path: path.display().to_string(), source })?;
    info!(path = %path.display(), "saved the plan of every target");
    Ok(())
}

/// The facts a `--notify` summary reports, across targets.
fn record_plans(facts: &mut Facts, sel: &Selected, stands: &[Stand]) {
    facts.organization = Some(sel.targets.iter().map(|t| format!("{} ({})", t.name, t.org_id)).collect::<Vec<_>>().join(", "));
    let mut all = notify::PlanFacts::default();
    for (spec, stand) in sel.targets.iter().zip(stands) {
        if let Stand::Planned(p) = stand {
            all.add(&spec.name, &notify::PlanFacts::of(&p.plan));
        }
    }
    facts.plan = Some(all);
}

/// `apply` for the targets of a workspace, from their files or from a saved workspace plan.
pub async fn apply(
    sel: Selected,
    saved_plan: Option<SavedWorkspacePlan>,
    args: ApplyArgs,
    out: Output,
    facts: &mut Facts,
) -> Result<ExitStatus, Error> {
    no_secret_files(&args.connect, &sel)?;
    let allow = Allowances::parse(&args.allow_removals, &sel.workspace)?;
    let mut connect_args = args.connect.clone();
    if let Some(saved_plan) = &saved_plan {
        check_saved_targets(&sel, saved_plan, &args.workspace.targets)?;
        sandbox_of_saved(saved_plan, &mut connect_args);
    }
    // A saved plan applies to its own targets only.
    let sel = only_saved(sel, saved_plan.as_ref());
    let sandbox = start_sandbox(&connect_args, &sel).await?;
    let run = workspace_run(&sel, sandbox.as_ref(), &connect_args);
    let mut stands = match &saved_plan {
        None => plan_targets(&run, &diff_options(&args.target)?, out.quiet).await,
        Some(saved_plan) => check_all_saved(&sel, &run, saved_plan).await,
    };
    // The guard of every target, with its own override.
    let mut results: Vec<Result<ExitStatus, Error>> = Vec::new();
    let mut unresolved: Vec<Option<Diagnostics>> = Vec::new();
    for (spec, stand) in sel.targets.iter().zip(&mut stands) {
        let (result, kept) = match stand {
            Stand::Planned(p) => {
                let kept = (!p.plan.errors.is_empty()).then(|| Diagnostics(std::mem::take(&mut p.plan.errors)));
                let allowed = Allowed { removals: allow.for_target(&spec.name) };
                let gates = gate::check(&mut p.plan, Stage::Apply, allowed, Some(&spec.name));
                (gates.map(|()| ExitStatus::Success).map_err(Error::from), kept)
            }
            Stand::AlreadyApplied => (Ok(ExitStatus::Success), None),
            Stand::Failed(e) => (Err(same(e)), None),
        };
        results.push(result);
        unresolved.push(kept);
    }
    record_plans(facts, &sel, &stands);
    let messages: Vec<Option<String>> = stands.iter().map(|s| if let Stand::Failed(e) = s { Some(e.to_string()) } else { None }).collect();
    let codes: Vec<ExitStatus> = results.iter().map(|r| r.as_ref().map_or_else(|e| e.exit_status(), |s| *s)).collect();
    // A target whose saved plan is already applied has no plan to show: it is said below.
    let shown: Vec<TargetView> = views(&sel, &stands, &messages, &codes)
        .into_iter()
        .zip(&stands)
        .filter(|(_, s)| !matches!(s, Stand::AlreadyApplied))
        .map(|(v, _)| v)
        .collect();
    if !shown.is_empty() {
        print(&render::text::render_targets(&shown, out.color, out.verbose));
    }
    for (spec, stand) in sel.targets.iter().zip(&stands) {
        if matches!(stand, Stand::AlreadyApplied) {
            print(&format!("{}: nothing to do, this plan was already applied.\n", spec.name));
        }
    }
    let blocked = results.iter().any(Result::is_err) || unresolved.iter().any(Option::is_some);
    if args.all_or_nothing && blocked {
        nothing_applied(out);
        return Ok(report_exit(&sel, &results, out, &shown_in_text(&stands, true), facts));
    }
    let ready: Vec<usize> =
        (0..sel.targets.len()).filter(|&i| results[i].is_ok() && matches!(&stands[i], Stand::Planned(p) if !p.plan.is_empty())).collect();
    if !ready.is_empty() && !args.auto_approve {
        if !std::io::stdin().is_terminal() {
            return Err(Error::Refused(
                "refusing to apply without confirmation: stdin is not a terminal.\n    hint: review the plans above and pass --auto-approve".into(),
            ));
        }
        let names: Vec<String> =
            ready.iter().map(|&i| format!("{} (organization {})", sel.targets[i].name, sel.targets[i].org_id)).collect();
        if !super::confirm(&format!("Apply these changes to {}?", names.join(", "))).await? {
            eprintln!("Apply cancelled; nothing was changed.");
            // Declining the changes of some targets does not make another target's failure a success.
            return Ok(report_exit(&sel, &results, out, &shown_in_text(&stands, true), facts));
        }
        // Time has passed at the prompt: what each saved plan relied on must still hold.
        for &i in &ready {
            let Stand::Planned(p) = &mut stands[i] else { continue };
            let Some(saved_plan) = p.saved.clone() else { continue };
            results[i] = match checked_saved_plan(&saved_plan, &p.conn).await {
                Ok(Some(again)) => {
                    p.plan = again;
                    let name = &sel.targets[i].name;
                    let allowed = Allowed { removals: allow.for_target(name) };
                    gate::check(&mut p.plan, Stage::Apply, allowed, Some(name)).map(|()| ExitStatus::Success).map_err(Error::from)
                }
                Ok(None) => {
                    // Applied meanwhile (by another run): nothing is sent again.
                    print(&format!("{}: nothing to do, this plan was already applied.\n", sel.targets[i].name));
                    stands[i] = Stand::AlreadyApplied;
                    Ok(ExitStatus::Success)
                }
                Err(e) => Err(e),
            };
        }
        if args.all_or_nothing && results.iter().any(Result::is_err) {
            nothing_applied(out);
            return Ok(report_exit(&sel, &results, out, &shown_in_text(&stands, true), facts));
        }
    }
    let stop = super::run_stop();
    // Every ready target applies at once (a few at a time), each through its own client.
    let applying: Vec<usize> = ready.iter().copied().filter(|&i| results[i].is_ok()).collect();
    let settings = ApplySettings {
        parallelism: usize::from(args.connect.parallelism),
        guest_invites_per_hour: args.guest_invites_per_hour,
        progress: None,
    };
    let reports = apply_targets(&stands, &applying, settings).await;
    let mut all = notify::ApplyFacts::default();
    let mut text = String::new();
    for (i, spec) in sel.targets.iter().enumerate() {
        let Some(report) = &reports[i] else {
            if ready.contains(&i) && results[i].is_ok() && matches!(stands[i], Stand::Planned(_)) {
                results[i] = Err(Error::Config("its apply ended without a report".into()));
            }
            continue;
        };
        all.add(&spec.name, &notify::ApplyFacts::of(report));
        text.push_str(&format!("\n── {}: apply report ──\n{}", spec.name, render::text::render_report(report, out.color)));
        // A target whose every action applied is done, even when a second interrupt abandoned
        // another target's requests.
        results[i] = if report.all_applied() {
            Ok(ExitStatus::Success)
        } else if stop.is_requested() {
            Ok(ExitStatus::Interrupted)
        } else {
            Err(Error::Config(format!("{} of its actions did not apply (see its report above)", report.results.len() - report.counts().0)))
        };
    }
    for (i, kept) in unresolved.into_iter().enumerate() {
        if let Some(kept) = kept
            && results[i].is_ok()
        {
            results[i] = Err(Error::KeptGoing(kept));
        }
    }
    facts.apply = Some(all);
    print(&text);
    if let Some(path) = &args.report {
        write_reports(path, &sel, &reports)?;
    }
    Ok(report_exit(&sel, &results, out, &shown_in_text(&stands, true), facts))
}

/// Says that `--all-or-nothing` held every target back.
fn nothing_applied(out: Output) {
    const LINE: &str = "Nothing was applied (--all-or-nothing): not every target is ready.";
    if out.json_logs { warn!("{LINE}") } else { eprintln!("{LINE}") }
}

/// `apply --report` for a workspace: `{"format_version": 2, "targets": {name: report}}`.
fn write_reports(path: &Path, sel: &Selected, reports: &[Option<ApplyReport>]) -> Result<(), Error> {
    let json =
        render::json::render_reports(sel.targets.iter().zip(reports).filter_map(|(spec, r)| r.as_ref().map(|r| (spec.name.as_str(), r))));
    saved::write_atomic(path, json.as_bytes()).map_err(|source| Error::Write { path: path.display().to_string(), source })
}

/// A saved workspace plan names only targets of this workspace (and `--target` only targets it
/// holds); anything else is refused before anything is read.
fn check_saved_targets(sel: &Selected, saved_plan: &SavedWorkspacePlan, named: &[String]) -> Result<(), Error> {
    let missing: Vec<&str> = saved_plan.targets.keys().filter(|n| sel.workspace.target(n).is_none()).map(String::as_str).collect();
    if !missing.is_empty() {
        return Err(Error::Refused(format!(
            "refusing to apply: the saved plan holds target {} that the workspace file {} does not define; nothing was read or changed\n    hint: apply it with the workspace file it was made with, or make a new plan with `plan --out`",
            missing.join(", "),
            sel.workspace.file
        )));
    }
    let absent: Vec<&str> = named.iter().filter(|n| !saved_plan.targets.contains_key(*n)).map(String::as_str).collect();
    if !absent.is_empty() {
        return Err(Error::Config(format!("the saved plan holds no plan for target {}", absent.join(", "))));
    }
    Ok(())
}

/// The targets of the saved plan, in the workspace's order (and only those `--target` named).
fn only_saved(sel: Selected, saved_plan: Option<&SavedWorkspacePlan>) -> Selected {
    let Some(saved_plan) = saved_plan else { return sel };
    let targets = sel.targets.into_iter().filter(|t| saved_plan.targets.contains_key(&t.name)).collect();
    Selected { targets, ..sel }
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

/// Connects every target of a saved plan and checks its plan against live state.
async fn check_all_saved(sel: &Selected, run: &Run, saved_plan: &SavedWorkspacePlan) -> Vec<Stand> {
    let plans = Arc::new(saved_plan.targets.clone());
    let file = Arc::new(sel.workspace.file.clone());
    let results = each_target(&run.targets, |target| {
        let (plans, file, run) = (plans.clone(), file.clone(), run.clone());
        async move {
            let name = target.label();
            let saved_plan =
                plans.get(name).cloned().ok_or_else(|| Error::Config(format!("the saved plan holds no plan for target {name}")))?;
            pipeline::check_saved_limits(&saved_plan, &target.files, Path::new(crate::cli::DEFAULT_FILE), target.name.as_deref())?;
            let conn = super::run::connect(&target, &run).await?;
            // The way back is the workspace file (--org and --api-url do not apply to its plans).
            if !super::made_for(&saved_plan.target, &conn.target) {
                let hint = format!(
                    "a plan applies only where it was made: set the `org_id` and `api_url` of target {name} in {file} back to those it was made for, or make a new plan with `plan --out`"
                );
                return Err(super::other_target(&saved_plan.target, &conn.target, &hint));
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

/// `export` for one target of a workspace: to its `export_to` (or `--out`, or stdout).
pub async fn export(sel: Selected, args: ExportArgs, out: Output) -> Result<ExitStatus, Error> {
    no_secret_files(&args.connect, &sel)?;
    let spec = match sel.targets.as_slice() {
        [one] => one.clone(),
        _ => {
            return Err(Error::Config(format!(
                "export writes one target: name it with --target ({})",
                sel.targets.iter().map(|t| t.name.as_str()).collect::<Vec<_>>().join(", ")
            )));
        }
    };
    let sandbox = start_sandbox(&args.connect, &sel).await?;
    let path = args.out.clone().or_else(|| spec.export_to.as_ref().map(|p| p.path.clone()));
    export_target(&workspace_run(&sel, sandbox.as_ref(), &args.connect), path, out.quiet).await
}

/// `validate` with a workspace: the workspace file itself, then every selected target's files.
pub fn validate(path: &Path, names: &[String], format: ValidateFormat) -> Result<ExitStatus, Error> {
    let sel = match open_workspace(path, names) {
        Ok(sel) => sel,
        Err(e) => {
            // Missing `files` entries are said with the file's other problems, in one run.
            let e = match (e, std::fs::read_to_string(path)) {
                (Error::Invalid(_), Ok(text)) => {
                    let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
                    Error::Invalid(ws::all_problems(&path.display().to_string(), &text, &dir, |p| p.exists()))
                }
                (e, _) => e,
            };
            // The workspace file's own problems go where the format puts problems, too.
            if format != ValidateFormat::Text {
                let problems = match &e {
                    Error::Invalid(d) => d.0.iter().map(Problem::from_diagnostic).collect(),
                    other => vec![Problem { file: None, line: None, column: None, message: other.to_string(), hint: None }],
                };
                print_verdict(format, &path.display().to_string(), &Verdict::Invalid(problems));
            }
            return Err(e);
        }
    };
    // Only the targets asked for: `validate --target staging` is not about production's files.
    let selected = Workspace { targets: sel.targets.clone(), ..sel.workspace.clone() };
    let missing = selected.missing_files(|p| p.exists());
    let mut problems: Vec<Problem> = missing.iter().map(Problem::from_diagnostic).collect();
    // (valid, line): valid lines go to stdout, problems to stderr.
    let mut lines: Vec<(bool, String)> = missing.iter().map(|d| (false, d.to_string())).collect();
    let (mut groups, mut absent, mut invalid) = (0, 0, Vec::new());
    let mut said = std::collections::BTreeSet::new();
    for spec in &sel.targets {
        let files: Vec<PathBuf> = spec.files.iter().map(|f| f.path.clone()).collect();
        if files.iter().any(|f| !f.exists()) {
            invalid.push(spec.name.clone());
            continue;
        }
        match load(&files) {
            Ok(state) => {
                let gone = state.groups.iter().filter(|g| g.absent).count();
                groups += state.groups.len() - gone;
                absent += gone;
                let delete = if gone > 0 { format!(", {gone} to delete (absent)") } else { String::new() };
                lines.push((
                    true,
                    format!(
                        "{}: valid: {}{delete}.",
                        spec.name,
                        render::plural(state.groups.len() - gone, "group to keep", "groups to keep")
                    ),
                ));
            }
            Err(e) => {
                invalid.push(spec.name.clone());
                match &e {
                    Error::Read(r) => problems.push(Problem::from_read_error(r)),
                    Error::Invalid(d) => problems.extend(d.0.iter().map(Problem::from_diagnostic)),
                    other => problems.push(Problem { file: None, line: None, column: None, message: other.to_string(), hint: None }),
                }
                // A problem in a file shared with a target above was said there.
                let line = match e {
                    Error::Invalid(d) => {
                        let new: Vec<_> = d.0.into_iter().filter(|d| said.insert(d.clone())).collect();
                        if new.is_empty() {
                            format!("error: target {}: its files shared with a target above are invalid (see above)", spec.name)
                        } else {
                            format!("error: target {}: {}", spec.name, Error::Invalid(Diagnostics(new)))
                        }
                    }
                    e => format!("error: target {}: {e}", spec.name),
                };
                lines.push((false, line));
            }
        }
    }
    // A file shared by several targets is reported once.
    let mut seen = std::collections::HashSet::new();
    problems.retain(|p| seen.insert((p.file.clone(), p.line, p.column, p.message.clone())));
    let verdict = if problems.is_empty() && invalid.is_empty() { Verdict::Valid { groups, absent } } else { Verdict::Invalid(problems) };
    if format == ValidateFormat::Text {
        for (valid, line) in &lines {
            if *valid {
                print(&format!("{line}\n"));
            } else {
                super::eprint_lines(line);
            }
        }
    } else {
        print_verdict(format, &sel.workspace.file, &verdict);
    }
    if invalid.is_empty() && missing.is_empty() {
        Ok(ExitStatus::Success)
    } else {
        let mut failed = invalid;
        failed.dedup();
        Err(Error::Config(format!(
            "{} is not valid{}",
            sel.workspace.file,
            if failed.is_empty() { String::new() } else { format!(": target {} failed", failed.join(", ")) }
        )))
    }
}

/// `validate --format json|github`: the verdict on stdout (text is printed line by line).
fn print_verdict(format: ValidateFormat, file: &str, verdict: &Verdict) {
    match (format, verdict) {
        (ValidateFormat::Json, _) => print(&annotate::json(&[file.to_string()], verdict)),
        (ValidateFormat::Github, Verdict::Invalid(problems)) => {
            let cwd = std::env::current_dir().unwrap_or_default();
            let workspace = std::env::var_os("GITHUB_WORKSPACE").filter(|w| !w.is_empty()).map(PathBuf::from);
            print(&annotate::github(problems, |f| annotate::workspace_path(f, &cwd, workspace.as_deref())));
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::super::run::in_words;
    use super::*;
    use tallyfy_groups_api::config::ConfigError;
    use tallyfy_groups_api::error::{ApiError, TransportCause};

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
