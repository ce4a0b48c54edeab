//! `owners codeowners`: the CODEOWNERS lines of owners.yaml, printed or compared with a
//! CODEOWNERS file. Reads files; prints.

use std::path::{Path, PathBuf};

use tallyfy_groups_core::outcome::ExitStatus;
use tallyfy_groups_core::owners;

use super::console::print;
use super::error::Error;

/// The repository root above `dir` (the first folder with `.git`), if any.
fn repository_root(dir: &Path) -> Option<PathBuf> {
    dir.ancestors().find(|d| d.join(".git").exists()).map(Path::to_path_buf)
}

/// The lines, a CODEOWNERS rule per owners.yaml rule with reviewers, anchored at the repository
/// root; with `check`, exit 1 (and say which) when that file lacks one of them, or gives one of
/// their paths other owners.
pub(crate) fn codeowners(path: &Path, check: Option<&Path>) -> Result<ExitStatus, Error> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::Config(format!("cannot read {}: {e}\n    hint: give the owners file with --owners FILE", path.display())))?;
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let dir = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    let owners = owners::parse(&path.display().to_string(), &text, &dir).map_err(Error::Invalid)?;
    let root = repository_root(&dir).unwrap_or_else(|| dir.clone());
    let prefix = dir.strip_prefix(&root).map(|p| p.to_string_lossy().replace('\\', "/")).unwrap_or_default();
    let lines = owners.codeowners(&prefix);
    let Some(check) = check else {
        print(&format!(
            "# Generated from {} by `tallyfy-groups owners codeowners`; the last matching line wins.\n{}\n",
            path.display(),
            lines.join("\n")
        ));
        return Ok(ExitStatus::Success);
    };
    let existing = std::fs::read_to_string(check).map_err(|e| Error::Config(format!("cannot read {}: {e}", check.display())))?;
    let normal = |l: &str| l.split_whitespace().collect::<Vec<_>>().join(" ");
    let have: Vec<String> = existing.lines().map(|l| l.trim()).filter(|l| !l.is_empty() && !l.starts_with('#')).map(normal).collect();
    let mut problems = Vec::new();
    for line in &lines {
        let pattern = line.split_whitespace().next().unwrap_or_default();
        let same_path: Vec<&String> = have.iter().filter(|h| h.split_whitespace().next() == Some(pattern)).collect();
        if !have.contains(line) {
            match same_path.first() {
                Some(other) => {
                    problems.push(format!("{} gives `{pattern}` other owners: `{other}` (owners.yaml says `{line}`)", check.display()))
                }
                None => problems.push(format!("{} lacks `{line}`", check.display())),
            }
        }
    }
    if problems.is_empty() {
        print(&format!("{} agrees with {}.\n", check.display(), path.display()));
        return Ok(ExitStatus::Success);
    }
    Err(Error::Config(format!(
        "{} does not enforce {}:\n  - {}\n    hint: replace its lines with the output of `tallyfy-groups owners codeowners --owners {}`",
        check.display(),
        path.display(),
        problems.join("\n  - "),
        path.display()
    )))
}
