//! A workspace file's part in a run, decided before anything is read: which file (found
//! upwards to the repository root), each target's `--allow-removals` reason ([`Overrides`]), and
//! its files on the baseline branch. Reads the file tree; no network.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use tallyfy_groups_core::desired::{self, Diagnostics};
use tallyfy_groups_core::saved::SavedWorkspacePlan;
use tallyfy_groups_core::workspace::{self as ws, TargetSpec, Workspace};
use tracing::info;

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

/// Why a workspace file cannot be used.
#[derive(Debug)]
pub enum WorkspaceError {
    /// It cannot be read, or a flag asks for what it does not hold; the words say what to do.
    Unusable(String),
    /// It is invalid: every problem, with its location.
    Invalid(Diagnostics),
    /// A saved plan does not fit it: refused (exit 3) before anything is read.
    Refused(String),
}

/// A workspace file and the targets this run acts on (in the file's order).
pub struct Selected {
    /// The workspace file, checked.
    pub workspace: Workspace,
    /// The workspace file's folder: the files of the targets are relative to it.
    pub dir: PathBuf,
    /// The targets this run acts on.
    pub targets: Vec<TargetSpec>,
}

impl Selected {
    /// Reads and checks the workspace file, and selects the targets named with `--target` (all
    /// when none is named).
    pub fn open(path: &Path, names: &[String]) -> Result<Selected, WorkspaceError> {
        let shown = path.display().to_string();
        let text = match desired::read_bounded(path, desired::MAX_FILE_BYTES) {
            Ok(desired::Bounded::Read(bytes)) => {
                String::from_utf8(bytes).map_err(|_| WorkspaceError::Unusable(format!("the workspace file {shown} is not UTF-8 text")))?
            }
            Ok(desired::Bounded::TooLarge { .. }) => {
                return Err(WorkspaceError::Unusable(format!("the workspace file {shown} is larger than 64 MiB")));
            }
            Err(e) => return Err(WorkspaceError::Unusable(format!("cannot read the workspace file {shown}: {e}"))),
        };
        let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        let workspace = ws::parse(&shown, &text, &dir).map_err(WorkspaceError::Invalid)?;
        let mut targets: Vec<TargetSpec> = Vec::new();
        let unknown: Vec<&String> = names.iter().filter(|n| workspace.target(n).is_none()).collect();
        if !unknown.is_empty() {
            let list = unknown.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ");
            let hint = match unknown.iter().find_map(|n| workspace.closest_target(n).map(|m| (n, m))) {
                Some((n, meant)) => format!("\n    hint: did you mean `{meant}` for `{n}`?"),
                None => String::new(),
            };
            return Err(WorkspaceError::Unusable(format!(
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

    /// A saved workspace plan names only targets of this workspace (and `--target` only targets
    /// it holds); anything else is refused before anything is read.
    pub fn check_saved(&self, saved_plan: &SavedWorkspacePlan, named: &[String]) -> Result<(), WorkspaceError> {
        let missing: Vec<&str> = saved_plan.targets.keys().filter(|n| self.workspace.target(n).is_none()).map(String::as_str).collect();
        if !missing.is_empty() {
            return Err(WorkspaceError::Refused(format!(
                "refusing to apply: the saved plan holds target {} that the workspace file {} does not define; nothing was read or changed\n    hint: apply it with the workspace file it was made with, or make a new plan with `plan --out`",
                missing.join(", "),
                self.workspace.file
            )));
        }
        let absent: Vec<&str> = named.iter().filter(|n| !saved_plan.targets.contains_key(*n)).map(String::as_str).collect();
        if !absent.is_empty() {
            return Err(WorkspaceError::Unusable(format!("the saved plan holds no plan for target {}", absent.join(", "))));
        }
        Ok(())
    }

    /// The targets of the saved plan, in the workspace's order (and only those `--target` named).
    pub fn only_saved(self, saved_plan: &SavedWorkspacePlan) -> Selected {
        let targets = self.targets.into_iter().filter(|t| saved_plan.targets.contains_key(&t.name)).collect();
        Selected { targets, ..self }
    }
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
