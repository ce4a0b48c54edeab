//! A workspace file's part in a run, decided before anything is read: which file (found
//! upwards to the repository root), each target's `--allow-removals` reason ([`Overrides`]), and
//! its files on the baseline branch. Reads the file tree; no network.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use tallyfy_groups_core::workspace::{self as ws, TargetSpec, Workspace};

/// `--allow-removals`: a reason for every target, and `TARGET=REASON` for one (the prefix counts
/// only when it names a target of the workspace; otherwise the whole text is the reason).
#[derive(Debug, Default)]
pub struct Overrides {
    all: Option<String>,
    one: HashMap<String, String>,
}

impl Overrides {
    /// The reasons given with a workspace file's targets; a mistyped target name is refused.
    pub fn parse(given: &[String], workspace: &Workspace) -> Result<Self, String> {
        let mut allow = Overrides::default();
        for text in given {
            // A mistyped target name must not become a reason for every target (production's
            // included): a prefix that looks like one is refused.
            if let Some((name, _)) = text.split_once('=')
                && let Some(meant) = workspace.closest_target(name.trim())
            {
                return Err(format!(
                    "--allow-removals `{}=…`: `{}` is not a target of {}; did you mean `{meant}`?\n    hint: write `{meant}=REASON` to override one target's guard; a reason for every target must not start with a target-like word and `=`",
                    name.trim(),
                    name.trim(),
                    workspace.file
                ));
            }
            match text.split_once('=').filter(|(name, _)| workspace.target(name.trim()).is_some()) {
                Some((name, reason)) => {
                    if allow.one.insert(name.trim().to_string(), reason.trim().to_string()).is_some() {
                        return Err(format!("--allow-removals is given twice for target {}", name.trim()));
                    }
                }
                None if allow.all.is_some() => {
                    return Err(
                        "--allow-removals is given twice without a target; give one reason for all targets, or TARGET=REASON per target"
                            .into(),
                    );
                }
                None => allow.all = Some(text.clone()),
            }
        }
        Ok(allow)
    }

    /// `--allow-removals` of one organization: one reason at most.
    pub fn single(given: &[String]) -> Result<Self, String> {
        match given {
            [] => Ok(Overrides::default()),
            [one] => Ok(Overrides { all: Some(one.clone()), one: HashMap::new() }),
            _ => Err(
                "--allow-removals is given more than once; a single organization takes one reason (several, as TARGET=REASON, are for the targets of a workspace file)".into(),
            ),
        }
    }

    /// The reason that applies to a target (`""` names one organization).
    pub fn for_target(&self, name: &str) -> Option<&str> {
        self.one.get(name).or(self.all.as_ref()).map(String::as_str)
    }
}

/// `tallyfy-groups.yaml` in `start` or a parent, up to the folder holding `.git` (outside a
/// repository, only `start` itself). Found in `start`, it is named relatively.
pub fn find_upwards(start: &Path) -> Option<PathBuf> {
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

/// The files of a target on the baseline branch: its files at the same paths in `root`. A file
/// outside the workspace file's folder (an absolute path, or one through `..`) has no place in
/// the checkout and no baseline: joined to `root` it would be the file itself, and every change
/// to it would read as drift.
pub fn baseline_files(root: &Path, dir: &Path, spec: &TargetSpec) -> Vec<PathBuf> {
    spec.files
        .iter()
        .filter_map(|f| f.path.strip_prefix(dir).ok())
        .filter(|p| p.components().all(|c| matches!(c, std::path::Component::Normal(_) | std::path::Component::CurDir)))
        .map(|p| root.join(p))
        .filter(|p| p.exists())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn workspace() -> Workspace {
        let text = "targets:\n  staging:\n    org_id: a\n    files: a.yaml\n  production:\n    org_id: b\n    files: b.yaml\n";
        ws::parse("ws.yaml", text, Path::new("")).unwrap_or_else(|d| panic!("{d}"))
    }

    #[test]
    fn a_reason_is_for_every_target_or_for_the_one_it_names() {
        let given = ["production=cleanup of old teams".to_string(), "reorg".to_string()];
        let o = Overrides::parse(&given, &workspace()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(o.for_target("production"), Some("cleanup of old teams"));
        assert_eq!(o.for_target("staging"), Some("reorg"));
        // A reason whose prefix names no target is the whole text, for every target.
        let o = Overrides::parse(&["a=b is fine".to_string()], &workspace()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(o.for_target("staging"), Some("a=b is fine"));
    }

    #[test]
    fn a_mistyped_target_or_a_second_reason_is_refused() {
        let e = Overrides::parse(&["prodution=x".to_string()], &workspace()).unwrap_err();
        assert!(e.contains("did you mean `production`"), "{e}");
        let e = Overrides::parse(&["x".to_string(), "y".to_string()], &workspace()).unwrap_err();
        assert!(e.contains("given twice without a target"), "{e}");
        let e = Overrides::single(&["x".to_string(), "y".to_string()]).unwrap_err();
        assert!(e.contains("more than once"), "{e}");
        assert_eq!(Overrides::single(&["x".to_string()]).map(|o| o.for_target("").map(str::to_string)), Ok(Some("x".to_string())));
    }

    #[test]
    fn the_workspace_file_is_found_upwards_but_not_past_the_repository() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let repo = dir.path().join("repo");
        let deep = repo.join("teams/finance");
        std::fs::create_dir_all(&deep).unwrap_or_else(|e| panic!("{e}"));
        std::fs::create_dir(repo.join(".git")).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(find_upwards(&deep), None);
        // Above the repository's root it is not looked for.
        std::fs::write(dir.path().join(ws::FILE_NAME), "").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(find_upwards(&deep), None);
        std::fs::write(repo.join(ws::FILE_NAME), "").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(find_upwards(&deep), Some(repo.join(ws::FILE_NAME)));
        assert_eq!(find_upwards(&repo), Some(PathBuf::from(ws::FILE_NAME)));
    }
}
