//! `validate`'s machine-readable renderings: GitHub Actions workflow commands
//! (`::error file=…,line=…,col=…::message`, shown on the pull request's diff) and JSON for other
//! tools. Pure; no I/O (the caller passes the working directory and `GITHUB_WORKSPACE`).

use std::path::{Component, Path, PathBuf};

use serde::Serialize;

use crate::desired::{Diagnostic, ReadError};

/// `format_version` of the JSON rendering; changes only on incompatible changes.
pub const FORMAT_VERSION: u32 = 1;

/// One problem `validate` found, located as precisely as it is known.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Problem {
    /// The file as given on the command line (or found in a directory given there).
    pub file: Option<String>,
    /// The line, from 1, when known.
    pub line: Option<usize>,
    /// The column, from 1, when known.
    pub column: Option<usize>,
    /// What is wrong.
    pub message: String,
    /// What to do about it, if there is more to say.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

impl Problem {
    /// A warning about a place of a groups file.
    pub fn at(at: &crate::warning::At, message: String) -> Self {
        Problem { file: Some(at.file.clone()), line: Some(at.line), column: Some(at.column), message, hint: None }
    }

    /// A problem the loader found.
    pub fn from_diagnostic(d: &Diagnostic) -> Self {
        Problem {
            file: d.at.as_ref().map(|at| at.file.to_string()),
            line: d.at.as_ref().map(|at| at.line),
            column: d.at.as_ref().map(|at| at.column),
            message: d.message.clone(),
            hint: d.hint.clone(),
        }
    }

    /// A file that could not be read: located at the file, without a line.
    pub fn from_read_error(e: &ReadError) -> Self {
        let file = match e {
            ReadError::Io { path, .. } | ReadError::TooLarge { path, .. } | ReadError::EmptyDirectory { path } => Some(path.clone()),
            ReadError::NoInput => None,
        };
        Problem { file, line: None, column: None, message: e.to_string(), hint: None }
    }
}

/// What `validate` concluded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Valid: groups to keep, and groups marked `absent`.
    Valid {
        /// Groups to keep.
        groups: usize,
        /// Groups marked `absent`.
        absent: usize,
    },
    /// Invalid, with every problem found.
    Invalid(Vec<Problem>),
}

/// One `::error` workflow command per problem. `path` turns a file as given into the path
/// GitHub knows (relative to the repository root); see [`workspace_path`].
pub fn github(problems: &[Problem], path: impl Fn(&str) -> String) -> String {
    commands("error", problems, path)
}

/// One `::warning` workflow command per warning, as [`github`] writes errors.
pub fn github_warnings(warnings: &[Problem], path: impl Fn(&str) -> String) -> String {
    commands("warning", warnings, path)
}

fn commands(kind: &str, problems: &[Problem], path: impl Fn(&str) -> String) -> String {
    let mut out = String::new();
    for p in problems {
        let mut props = Vec::new();
        if let Some(file) = &p.file {
            props.push(format!("file={}", property(&path(file))));
        }
        if let Some(line) = p.line {
            props.push(format!("line={line}"));
        }
        if let Some(col) = p.column {
            props.push(format!("col={col}"));
        }
        props.push(format!("title={}", property("tallyfy-groups validate")));
        let mut message = p.message.clone();
        if let Some(hint) = &p.hint {
            message.push_str("\nhint: ");
            message.push_str(hint);
        }
        out.push_str(&format!("::{kind} {}::{}\n", props.join(","), data(&message)));
    }
    out
}

#[derive(Serialize)]
struct JsonValidation<'a> {
    format_version: u32,
    valid: bool,
    files: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    groups: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    absent: Option<usize>,
    problems: &'a [Problem],
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    warnings: &'a [Problem],
}

/// The verdict as one JSON document (documented in docs/commands.md).
pub fn json(files: &[String], verdict: &Verdict) -> String {
    json_with_warnings(files, verdict, &[])
}

/// The same, with what `validate` warns about (an `until` passed or near, an overdue review).
pub fn json_with_warnings(files: &[String], verdict: &Verdict, warnings: &[Problem]) -> String {
    let doc = match verdict {
        Verdict::Valid { groups, absent } => JsonValidation {
            format_version: FORMAT_VERSION,
            valid: true,
            files,
            groups: Some(*groups),
            absent: Some(*absent),
            problems: &[],
            warnings,
        },
        Verdict::Invalid(problems) => {
            JsonValidation { format_version: FORMAT_VERSION, valid: false, files, groups: None, absent: None, problems, warnings }
        }
    };
    // Serialising plain strings and numbers cannot fail.
    serde_json::to_string_pretty(&doc).unwrap_or_default() + "\n"
}

/// The path of `file` (as given, relative to `cwd`) relative to the repository root
/// `workspace` (`GITHUB_WORKSPACE`), with `/` separators: what an annotation's `file=` needs
/// when the job runs in a subdirectory or is given absolute paths. Outside the workspace, or
/// without one, the file as given (without a leading `./`).
pub fn workspace_path(file: &str, cwd: &Path, workspace: Option<&Path>) -> String {
    let given = file.strip_prefix("./").unwrap_or(file);
    let Some(workspace) = workspace else { return given.to_string() };
    let absolute = normalize(&cwd.join(file));
    match absolute.strip_prefix(normalize(workspace)) {
        Ok(rel) if !rel.as_os_str().is_empty() => {
            rel.components().map(|c| c.as_os_str().to_string_lossy().into_owned()).collect::<Vec<_>>().join("/")
        }
        _ => given.to_string(),
    }
}

/// `a/./b/../c` → `a/c`, without touching the file system.
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// Escapes a workflow command's message (as @actions/core does).
fn data(text: &str) -> String {
    text.replace('%', "%25").replace('\r', "%0D").replace('\n', "%0A")
}

/// Escapes a workflow command's property value.
fn property(text: &str) -> String {
    data(text).replace(':', "%3A").replace(',', "%2C")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problem(file: Option<&str>, line: Option<usize>, message: &str, hint: Option<&str>) -> Problem {
        Problem { file: file.map(str::to_string), line, column: line.map(|_| 5), message: message.into(), hint: hint.map(str::to_string) }
    }

    #[test]
    fn each_problem_is_one_escaped_error_command() {
        let problems = [
            problem(Some("groups/a,b.yaml"), Some(3), "unknown group key `memebers`", Some("did you mean `members`?")),
            problem(Some("groups.yaml"), Some(9), "100% wrong: a\r\nb", None),
            problem(None, None, "no input files", None),
        ];
        let text = github(&problems, str::to_string);
        insta::assert_snapshot!(text, @r"
        ::error file=groups/a%2Cb.yaml,line=3,col=5,title=tallyfy-groups validate::unknown group key `memebers`%0Ahint: did you mean `members`?
        ::error file=groups.yaml,line=9,col=5,title=tallyfy-groups validate::100%25 wrong: a%0D%0Ab
        ::error title=tallyfy-groups validate::no input files
        ");
    }

    #[test]
    fn json_lists_every_problem_or_the_counts() {
        let files = vec!["groups.yaml".to_string()];
        let invalid = json(&files, &Verdict::Invalid(vec![problem(Some("groups.yaml"), Some(3), "bad", Some("fix it"))]));
        let v: serde_json::Value = serde_json::from_str(&invalid).expect("json");
        assert_eq!(
            v,
            serde_json::json!({"format_version": 1, "valid": false, "files": ["groups.yaml"],
                "problems": [{"file": "groups.yaml", "line": 3, "column": 5, "message": "bad", "hint": "fix it"}]})
        );
        let valid: serde_json::Value = serde_json::from_str(&json(&files, &Verdict::Valid { groups: 4, absent: 1 })).expect("json");
        assert_eq!(
            valid,
            serde_json::json!({"format_version": 1, "valid": true, "files": ["groups.yaml"], "groups": 4, "absent": 1, "problems": []})
        );
    }

    #[test]
    fn paths_are_made_relative_to_the_workspace() {
        let ws = Path::new("/w/repo");
        assert_eq!(workspace_path("groups.yaml", Path::new("/w/repo"), Some(ws)), "groups.yaml");
        assert_eq!(workspace_path("./groups/a.yaml", Path::new("/w/repo/config"), Some(ws)), "config/groups/a.yaml");
        assert_eq!(workspace_path("/w/repo/x/../groups.yaml", Path::new("/elsewhere"), Some(ws)), "groups.yaml");
        assert_eq!(workspace_path("../outside.yaml", Path::new("/w/repo"), Some(ws)), "../outside.yaml");
        assert_eq!(workspace_path("./groups.yaml", Path::new("/w/repo/sub"), None), "groups.yaml");
    }

    #[test]
    fn a_read_error_is_located_at_its_file() {
        let e = ReadError::EmptyDirectory { path: "groups".into() };
        let p = Problem::from_read_error(&e);
        assert_eq!((p.file.as_deref(), p.line), (Some("groups"), None));
        assert!(p.message.contains("no *.yaml or *.yml files"));
        assert_eq!(Problem::from_read_error(&ReadError::NoInput).file, None);
    }
}
