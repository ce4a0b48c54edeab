//! `report access`: one organization's live groups (or one workspace target's) set against its
//! groups files, written as CSV or JSON for auditors. Nothing is written unless everything was
//! read whole. Does file, network and terminal I/O.

use tallyfy_groups_core::access;
use tallyfy_groups_core::diff::Scope;
use tallyfy_groups_core::outcome::ExitStatus;
use tallyfy_groups_engine::run;

use super::console::{Output, write_stdout};
use super::error::Error;
use super::progress;
use super::targets::Chosen;
use crate::cli::{AccessArgs, AccessFormat};

/// `report access` to `--out` or stdout.
pub(crate) async fn access(args: AccessArgs, out: Output) -> Result<ExitStatus, Error> {
    let only = Scope::new(&args.only, &[]).map_err(Error::Config)?;
    let mut chosen = Chosen::for_report(&args).await?;
    chosen.run.show_reads = progress::show_reads(out.quiet);
    chosen.run.sources = args.connect.source_reader(args.allow_command_sources);
    if let Some(day) = args.as_of {
        chosen.run.as_of = day;
    }
    let Some(target) = chosen.run.targets.first() else { return Err(Error::Config("report access reads one target".into())) };
    let (rows, read_from) = run::access_report(&chosen.run, target, &only).await?;
    let text = match args.format {
        AccessFormat::Csv => access::to_csv(&rows),
        AccessFormat::Json => access::to_json(&rows, read_from.org.as_str(), chosen.run.as_of),
    };
    let Some(path) = &args.out else { return write_stdout(text.as_bytes()) };
    tallyfy_groups_core::saved::write_atomic(path, text.as_bytes())
        .map_err(|source| Error::Write { path: path.display().to_string(), source })?;
    if !out.quiet {
        let of = target.name.as_ref().map(|name| format!(" of target {name}")).unwrap_or_default();
        eprintln!("Wrote {} access rows{of} to {}.", rows.len(), path.display());
    }
    Ok(ExitStatus::Success)
}
