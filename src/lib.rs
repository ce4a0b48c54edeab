//! tallyfy-groups: keeps the groups of a Tallyfy organization equal to a `groups.yaml` in Git.
//!
//! Data flows one way: [`desired`] (load) → [`tallyfy`] (fetch) → [`resolve`] → [`diff`] →
//! [`plan`] → [`render`] → [`apply`]. The loader, resolver, differ, planner and renderers are
//! pure; [`app`], [`apply`], [`saved`] and [`tallyfy`] are the effectful shell. [`sandbox`] is a
//! Tallyfy-compatible server that nothing in the core depends on. [`comment`] (pull-request
//! comments), [`notify`] (webhook summaries) and [`annotate`] (`validate`'s annotations) serve
//! pipelines.

// Errors are on the cold path and carry what a user needs to act (status, message, field
// errors); boxing them would only complicate matching on them.
#![allow(clippy::result_large_err)]

pub mod annotate;
pub mod app;
pub mod apply;
pub mod cli;
pub mod comment;
pub mod completions;
pub mod desired;
pub mod diff;
pub mod export;
pub mod man;
pub mod model;
pub mod names;
pub mod notify;
pub mod plan;
pub mod progress;
pub mod render;
pub mod resolve;
pub mod sandbox;
pub mod saved;
pub mod schema;
pub mod tallyfy;

use clap::Parser;

pub use app::ExitStatus;

/// Parses the command line, sets up logging, runs the command and returns its exit status.
pub fn run<I, T>(args: I) -> ExitStatus
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let cli = match cli::Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            // Usage errors exit 1: clap's default 2 would read as "changes present" in a drift job.
            return if e.use_stderr() { ExitStatus::Error } else { ExitStatus::Success };
        }
    };
    init_logging(&cli.global);
    let mut out = app::Output::new(cli.global.color);
    out.quiet = cli.global.quiet;
    let json_logs = cli.global.log_format == cli::LogFormat::Json;
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitStatus::Error;
        }
    };
    match runtime.block_on(app::run(cli.command, out)) {
        Ok(status) => status,
        Err(e) => {
            if json_logs {
                // One JSON line like every other log line, for log collectors.
                tracing::error!(exit_code = e.exit_status().code(), "{e}");
            } else {
                eprintln!("error: {e}");
            }
            e.exit_status()
        }
    }
}

fn init_logging(global: &cli::GlobalArgs) {
    use tracing_subscriber::EnvFilter;
    let level = if global.quiet {
        "error"
    } else {
        match global.verbose {
            0 => "warn,tallyfy_groups::progress=info",
            1 => "info,tallyfy_groups=debug",
            _ => "trace,hyper=debug,hyper_util=debug,reqwest=debug",
        }
    };
    let filter = EnvFilter::try_from_env("TALLYFY_GROUPS_LOG").unwrap_or_else(|_| EnvFilter::new(level));
    let color = app::color_enabled(global.color, std::io::IsTerminal::is_terminal(&std::io::stderr()));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_target(false);
    let _ = match global.log_format {
        cli::LogFormat::Json => builder.json().with_current_span(true).try_init(),
        cli::LogFormat::Text => builder.with_ansi(color).try_init(),
    };
}
