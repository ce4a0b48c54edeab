//! `export`: one organization's live groups (or one workspace target's) written as
//! groups.yaml. Does file, network and terminal I/O.

use std::path::PathBuf;

use tallyfy_groups_core::outcome::ExitStatus;

use super::console::{Output, print};
use super::error::Error;
use super::progress;
use super::targets::Chosen;
use crate::cli::ExportArgs;
use tallyfy_groups_engine::run::{connect, fetch};

/// `export` to `--out`, a workspace target's `export_to`, or stdout.
pub(crate) async fn export(args: ExportArgs, out: Output) -> Result<ExitStatus, Error> {
    let mut chosen = Chosen::for_export(&args).await?;
    chosen.run.show_reads = progress::show_reads(out.quiet);
    let export_to =
        chosen.workspace.as_ref().and_then(|sel| sel.targets.first()).and_then(|spec| spec.export_to.as_ref()).map(|p| p.path.clone());
    let path: Option<PathBuf> = args.out.clone().or(export_to);
    let Some(target) = chosen.run.targets.first() else { return Err(Error::Config("export writes one target".into())) };
    let named = |e: tallyfy_groups_engine::TargetError| Error::from(e.named(target));
    let conn = connect(target, &chosen.run).await.map_err(named)?;
    let live = fetch(&chosen.run, &conn.api, false).await.map_err(named)?;
    let yaml = tallyfy_groups_core::export::to_yaml_from(&live, Some(&conn.target));
    match path {
        Some(path) => {
            tallyfy_groups_core::saved::write_atomic(&path, yaml.as_bytes())
                .map_err(|source| Error::Write { path: path.display().to_string(), source })?;
            if !out.quiet {
                let of = target.name.as_ref().map(|name| format!(" of target {name}")).unwrap_or_default();
                eprintln!("Wrote {} groups{of} to {}.", live.groups.len(), path.display());
            }
        }
        None => print(&yaml),
    }
    Ok(ExitStatus::Success)
}
