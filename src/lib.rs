//! tallyfy-groups: keeps the groups of a Tallyfy organization equal to a `groups.yaml` in Git.
//!
//! The binary's library: [`cli`] (the command line, clap types only) and [`term`] (the terminal
//! layer: printing, prompting, signals, exit codes) over the workspace's crates:
//! `tallyfy-groups-core` (pure: load, resolve, diff, plan, render), `tallyfy-groups-api` (the
//! Tallyfy client and the apply use case) and `tallyfy-groups-sandbox` (a Tallyfy-compatible
//! server); [`comment`] (pull-request comments), [`notify`] (webhook summaries) and [`annotate`]
//! (`validate`'s annotations) serve pipelines. See docs/architecture.md.

// Errors are on the cold path and carry what a user needs to act (status, message, field
// errors); boxing them would only complicate matching on them.
#![allow(clippy::result_large_err)]

// clap turns a doc comment on an argument struct, a field or a value into help text, so the
// command line's types are documented by their `#[arg]` and `#[command]` attributes instead.
#[allow(missing_docs)]
pub mod cli;
pub mod term;

pub use tallyfy_groups_sandbox as sandbox;

use clap::{CommandFactory, FromArgMatches};
use tallyfy_groups_core::names;

pub use term::ExitStatus;

/// Parses the command line, sets up logging, runs the command and returns its exit status.
pub fn run<I, T>(args: I) -> ExitStatus
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let parsed = cli::Cli::command().try_get_matches_from(args).and_then(|matches| {
        let mut cli = cli::Cli::from_arg_matches(&matches).map_err(|e| e.format(&mut cli::Cli::command()))?;
        if let (Some((_, mut sub)), Some(workspace)) = (matches.subcommand(), cli.command.workspace_mut()) {
            // `report access`: the options are the innermost subcommand's.
            while let Some((_, inner)) = sub.subcommand() {
                sub = inner;
            }
            workspace.single_org = cli::SINGLE_ORG_ARGS
                .iter()
                .any(|id| sub.ids().any(|i| i.as_str() == *id) && sub.value_source(id) == Some(clap::parser::ValueSource::CommandLine));
        }
        Ok(cli)
    });
    let cli = match parsed {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            // Usage errors exit 1: clap's default 2 would read as "changes present" in a drift job.
            return if e.use_stderr() { ExitStatus::Error } else { ExitStatus::Success };
        }
    };
    init_logging(&cli.global);
    let mut out = term::Output::new(cli.global.color());
    out.quiet = cli.global.quiet;
    out.verbose = cli.global.verbose > 0;
    let json_logs = cli.global.log_format == cli::LogFormat::Json;
    out.json_logs = json_logs;
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitStatus::Error;
        }
    };
    match runtime.block_on(term::run(cli.command, out)) {
        Ok(status) => status,
        Err(e) => {
            if json_logs {
                // One JSON line like every other log line, for log collectors.
                tracing::error!(exit_code = e.exit_status().code(), "{e}");
            } else {
                term::eprint_lines(&format!("error: {e}"));
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
    let color = term::color_enabled(global.color(), std::io::IsTerminal::is_terminal(&std::io::stderr()));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_target(false);
    let _ = match global.log_format {
        cli::LogFormat::Json => builder.json().with_current_span(true).try_init(),
        cli::LogFormat::Text => {
            use tracing_subscriber::field::MakeExt;
            builder.with_ansi(color).fmt_fields(tracing_subscriber::fmt::format::debug_fn(escaped_field).delimited(" ")).try_init()
        }
    };
}

/// One field of a text log line, as tracing's default format writes it (the message bare, the
/// others `name=value`), escaped with [`names::visible`]: the message keeps its line breaks (our
/// messages may span lines; text from outside in them is escaped where it enters them), every
/// other field is kept on one line, so a live name or a server's text in a field can neither
/// start a line nor move the cursor. JSON logs need none of this: serde escapes them.
fn escaped_field(
    w: &mut tracing_subscriber::fmt::format::Writer<'_>,
    field: &tracing::field::Field,
    value: &dyn std::fmt::Debug,
) -> std::fmt::Result {
    let text = format!("{value:?}");
    match field.name() {
        "message" => w.write_str(&names::visible_lines(&text)),
        name => {
            let name = name.strip_prefix("r#").unwrap_or(name);
            if w.has_ansi_escapes() {
                // Italic name and dimmed `=`, as tracing's default format writes them.
                write!(w, "\x1b[3m{name}\x1b[0m\x1b[2m=\x1b[0m{}", names::visible(&text))
            } else {
                write!(w, "{name}={}", names::visible(&text))
            }
        }
    }
}
