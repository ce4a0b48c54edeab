//! `validate`: the groups files (or a workspace file and every selected target's files)
//! checked offline, without credentials, in text, JSON or GitHub annotations. Does file and
//! terminal I/O.

use std::path::{Path, PathBuf};

use tallyfy_groups_core::annotate::{self, Problem, Verdict};
use tallyfy_groups_core::date::Date;
use tallyfy_groups_core::desired::{DesiredState, Diagnostics};
use tallyfy_groups_core::expiry;
use tallyfy_groups_core::outcome::ExitStatus;
use tallyfy_groups_core::render;
use tallyfy_groups_core::render::words;
use tallyfy_groups_core::workspace::{self as ws, Workspace};
use tallyfy_groups_engine::pipeline;

use super::console::{eprint_lines, print};
use super::error::Error;
use super::targets::locate;
use crate::cli::{FileArgs, ValidateFormat, WorkspaceArgs};
use tallyfy_groups_engine::workspace::Selected;

/// `validate` of one organization's files, or of a workspace.
pub(crate) fn validate(
    files: &FileArgs,
    format: ValidateFormat,
    workspace_args: &WorkspaceArgs,
    as_of: Date,
    owners: Option<&Path>,
    policy: Option<&Path>,
) -> Result<ExitStatus, Error> {
    // The policy file's grammar and checks, offline (whether its globs match groups needs the
    // live ones: `plan` checks that).
    if let Some(path) = policy {
        tallyfy_groups_engine::policy::load(path)?;
    }
    match locate(workspace_args)? {
        Some(path) => workspace(&path, &workspace_args.targets, format, as_of, owners),
        None => single(&files.paths(), format, as_of, owners),
    }
}

/// The files, validated, their dates evaluated as of `as_of` (a date beyond a limit, or an
/// overdue review under `overdue_review: error`, is a problem), and their CSV sources' files
/// checked (offline: no command runs and no directory is contacted); with the warnings: an
/// `until` passed or near, an overdue review. A passed `until` is a warning, never an error: a
/// pipeline must not break on the morning a date passes.
fn load(files: &[PathBuf], as_of: Date, owners: Option<&Path>) -> Result<(DesiredState, Vec<Problem>), Error> {
    let mut state = pipeline::load(files)?;
    if let Some(o) = pipeline::load_owners(files, owners)? {
        let problems = o.check(&state, &pipeline::file_paths(&state));
        if !problems.is_empty() {
            return Err(Error::Invalid(Diagnostics(problems)));
        }
    }
    let (report, mut problems) = expiry::evaluate(&mut state, as_of);
    problems.extend(tallyfy_groups_sources::check_offline(&state));
    if !problems.is_empty() {
        return Err(Error::Invalid(Diagnostics(problems)));
    }
    let mut warnings: Vec<Problem> =
        report.expired.iter().map(|n| Problem::at(&n.at, format!("`until` has passed: {}", words::expired(n)))).collect();
    warnings.extend(report.expiring.iter().map(|n| Problem::at(&n.at, words::expiring(n))));
    warnings.extend(report.overdue_reviews.iter().map(|r| Problem::at(&r.at, words::overdue_review(r))));
    Ok((state, warnings))
}

/// Prints the warnings where the format puts them (text: stderr; GitHub: `::warning`).
fn warn(format: ValidateFormat, warnings: &[Problem]) {
    match format {
        ValidateFormat::Text => {
            for w in warnings {
                let at = match (&w.file, w.line, w.column) {
                    (Some(f), Some(l), Some(c)) => format!("{f}:{l}:{c}: "),
                    _ => String::new(),
                };
                eprint_lines(&format!("warning: {at}{}", w.message));
            }
        }
        ValidateFormat::Github => {
            let cwd = std::env::current_dir().unwrap_or_default();
            let workspace = std::env::var_os("GITHUB_WORKSPACE").filter(|w| !w.is_empty()).map(PathBuf::from);
            print(&annotate::github_warnings(warnings, |f| annotate::workspace_path(f, &cwd, workspace.as_deref())));
        }
        ValidateFormat::Json => {}
    }
}

fn single(files: &[PathBuf], format: ValidateFormat, as_of: Date, owners: Option<&Path>) -> Result<ExitStatus, Error> {
    let result = load(files, as_of, owners);
    let no_warnings = Vec::new();
    let warnings = result.as_ref().map_or(&no_warnings, |(_, w)| w);
    warn(format, warnings);
    if format != ValidateFormat::Text {
        let verdict = match &result {
            Ok((state, _)) => {
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
                print(&annotate::json_with_warnings(&names, &verdict, warnings));
            }
            (_, Verdict::Invalid(problems)) => {
                let cwd = std::env::current_dir().unwrap_or_default();
                let workspace = std::env::var_os("GITHUB_WORKSPACE").filter(|w| !w.is_empty()).map(PathBuf::from);
                print(&annotate::github(problems, |f| annotate::workspace_path(f, &cwd, workspace.as_deref())));
            }
            _ => {}
        }
    }
    let (state, _) = result?;
    if format == ValidateFormat::Json {
        return Ok(ExitStatus::Success);
    }
    let absent = state.groups.iter().filter(|g| g.absent).count();
    let keep = render::plural(state.groups.len() - absent, "group to keep", "groups to keep");
    let delete = if absent > 0 { format!(", {absent} to delete (absent)") } else { String::new() };
    let names = match state.files.as_slice() {
        [one] => format!("{one} is"),
        more => format!("{} are", more.join(", ")),
    };
    print(&format!("{names} valid: {keep}{delete}.\n"));
    Ok(ExitStatus::Success)
}

/// `validate` with a workspace: the workspace file itself, then every selected target's files.
fn workspace(path: &Path, names: &[String], format: ValidateFormat, as_of: Date, owners: Option<&Path>) -> Result<ExitStatus, Error> {
    let sel = match Selected::open(path, names).map_err(Error::from) {
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
                print_verdict(format, &path.display().to_string(), &Verdict::Invalid(problems), &[]);
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
    let mut all_warnings: Vec<Problem> = Vec::new();
    for spec in &sel.targets {
        let files: Vec<PathBuf> = spec.files.iter().map(|f| f.path.clone()).collect();
        if files.iter().any(|f| !f.exists()) {
            invalid.push(spec.name.clone());
            continue;
        }
        match load(&files, as_of, spec.owners.as_ref().map(|o| o.path.as_path()).or(owners)) {
            Ok((state, warnings)) => {
                for w in warnings {
                    if !all_warnings.contains(&w) {
                        all_warnings.push(w);
                    }
                }
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
    warn(format, &all_warnings);
    if format == ValidateFormat::Text {
        for (valid, line) in &lines {
            if *valid {
                print(&format!("{line}\n"));
            } else {
                eprint_lines(line);
            }
        }
    } else {
        print_verdict(format, &sel.workspace.file, &verdict, &all_warnings);
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
fn print_verdict(format: ValidateFormat, file: &str, verdict: &Verdict, warnings: &[Problem]) {
    match (format, verdict) {
        (ValidateFormat::Json, _) => print(&annotate::json_with_warnings(&[file.to_string()], verdict, warnings)),
        (ValidateFormat::Github, Verdict::Invalid(problems)) => {
            let cwd = std::env::current_dir().unwrap_or_default();
            let workspace = std::env::var_os("GITHUB_WORKSPACE").filter(|w| !w.is_empty()).map(PathBuf::from);
            print(&annotate::github(problems, |f| annotate::workspace_path(f, &cwd, workspace.as_deref())));
        }
        _ => {}
    }
}
