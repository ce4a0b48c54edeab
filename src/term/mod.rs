//! The terminal layer: builds a run's settings from the command line (one organization, or
//! the targets of a workspace file: [`targets`]), runs the command, and owns everything a person
//! sees or does: printing, the y/N prompt, signals, exit codes. The commands are rooms of their
//! own ([`plan`], [`apply`], [`validate`], [`export`], [`report`], [`pipelines`]); each goes through
//! [`targets`] and [`run`], and [`outcome`] shows what came of it. Does file, network and
//! terminal I/O.

mod apply;
pub mod completions;
mod console;
mod error;
mod export;
mod journal;
pub mod man;
mod outcome;
mod owners_cmd;
mod pipelines;
mod plan;
pub mod progress;
mod report;
pub mod sandbox;
mod signals;
mod targets;
mod validate;

use std::path::Path;
use std::sync::atomic::Ordering;

use tallyfy_groups_api::Stop;
use tallyfy_groups_publish::notify::{self, Facts};
use tracing::info;

use crate::cli::Command;
pub use console::{Output, color_enabled, eprint_lines};
use console::{QUIET, print, write_stdout};
pub use error::Error;
use signals::{RUN_STOP, listen_for_stop, run_stop};
pub use tallyfy_groups_core::outcome::ExitStatus;

/// Runs one command.
pub async fn run(command: Command, out: Output) -> Result<ExitStatus, Error> {
    QUIET.store(out.quiet, Ordering::Relaxed);
    *RUN_STOP.lock().unwrap_or_else(|e| e.into_inner()) = Some(Stop::default());
    // Everything that talks to a server stops on Ctrl-C or SIGTERM; the other commands keep
    // the default (the process ends at once).
    if matches!(command, Command::Plan(_) | Command::Apply(_) | Command::Export(_) | Command::Comment(_) | Command::Report(_)) {
        listen_for_stop(run_stop());
    }
    match command {
        Command::Validate { files, format, workspace, as_of, owners, policy } => validate::validate(
            &files,
            format,
            &workspace,
            as_of.unwrap_or_else(tallyfy_groups_engine::run::today),
            owners.as_deref(),
            policy.as_deref(),
        ),
        Command::Plan(args) => {
            args.connect.no_token_on_the_command_line().map_err(Error::Config)?;
            let hook = pipelines::webhook(&args.notify)?;
            let mut facts = Facts::default();
            let result = plan::plan(args, out, &mut facts).await;
            pipelines::notified(hook, notify::Command::Plan, &facts, result).await
        }
        Command::Apply(args) if args.dry_run => {
            args.connect.no_token_on_the_command_line().map_err(Error::Config)?;
            let hook = pipelines::webhook(&args.notify)?;
            let mut facts = Facts::default();
            let result = plan::plan(args.into_plan(), out, &mut facts).await;
            pipelines::notified(hook, notify::Command::Plan, &facts, result).await
        }
        Command::Apply(args) => {
            args.connect.no_token_on_the_command_line().map_err(Error::Config)?;
            let hook = pipelines::webhook(&args.notify)?;
            let mut ledger = journal::Ledger::open(args.journal.as_deref())?;
            let mut facts = Facts::default();
            let result = apply::apply(args, out, &mut facts, &mut ledger).await;
            // Every way the apply ended is recorded, before the webhook is told.
            let result = ledger.record(result);
            pipelines::notified(hook, notify::Command::Apply, &facts, result).await
        }
        Command::Comment(args) => pipelines::comment_command(args).await,
        Command::Journal(command) => journal::command(command),
        Command::Export(args) => {
            args.connect.no_token_on_the_command_line().map_err(Error::Config)?;
            export::export(args, out).await
        }
        Command::Report(crate::cli::ReportCommand::Access(args)) => {
            args.connect.no_token_on_the_command_line().map_err(Error::Config)?;
            report::access(args, out).await
        }
        Command::Schema { owners, policy, plan } => {
            use tallyfy_groups_core::schema;
            print(&if owners {
                schema::owners_schema_json()
            } else if policy {
                schema::policy_schema_json()
            } else if plan {
                tallyfy_groups_core::render::json::schema_json()
            } else {
                schema::schema_json()
            });
            Ok(ExitStatus::Success)
        }
        Command::Owners(crate::cli::OwnersCommand::Codeowners { owners, check }) => owners_cmd::codeowners(&owners, check.as_deref()),
        Command::Completions { shell } => write_stdout(&completions::script(shell)),
        Command::CompleteTargets { workspace } => write_stdout(completions::target_names(workspace).as_bytes()),
        Command::Man { out_dir: None } => write_stdout(&man::main_page().roff),
        Command::Man { out_dir: Some(dir) } => write_man_pages(&dir),
        Command::Sandbox(args) => sandbox::serve_command(args).await.map_err(Error::Serve).map(|_| ExitStatus::Success),
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
