//! The workspace file, `tallyfy-groups.yaml`: target names mapped to the organizations they
//! manage, each with its API URL, its credentials' variables and its groups.yaml files. Read
//! with the loader's YAML reader and deserializer (`desired::parse`, `desired::de`), so its
//! messages and locations read like those of groups.yaml, and checked all at once. Pure; no I/O
//! (the caller reads the file, and says which paths exist for [`Workspace::missing_files`]).

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use marked_yaml::{Node, Span};
use serde::de::{MapAccess, Visitor};
use serde::{Deserialize, Deserializer};

use crate::desired::de::FILES_HINT;
use crate::desired::de::{self, Problems, What};
use crate::desired::parse::{self, DuplicateKey, Kind};
use crate::desired::raw::Field;
use crate::desired::{Diagnostic, Diagnostics, Location};
use crate::model::OrgId;
use crate::names::visible;

/// The workspace file's name, looked for in the current folder and its parents.
pub const FILE_NAME: &str = "tallyfy-groups.yaml";

/// The API URL of a target that names none.
pub const DEFAULT_API_URL: &str = "https://go.tallyfy.com/api";

/// Longest target name.
pub const MAX_TARGET_NAME_CHARS: usize = 63;

const KIND: Kind = Kind {
    name: FILE_NAME,
    top_key: "targets",
    empty_hint: "start it with `targets:` followed by one entry per organization (a name, then its `org_id` and `files`)",
    depth_hint: "tallyfy-groups.yaml needs only four levels: targets → target → files → file",
    documents_hint: "merge the documents into one `targets:` mapping",
};

const TARGETS_HINT: &str = "add `targets:` with one entry per organization: a name, then its `org_id` and `files`";

/// A parsed and checked workspace file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Workspace {
    /// The file's name as given to `parse` (used in messages).
    pub file: String,
    /// In file order.
    pub targets: Vec<TargetSpec>,
}

/// One target: an organization, how to reach it, and the files that describe its groups.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetSpec {
    /// The target's name.
    pub name: String,
    /// The organization's id.
    pub org_id: String,
    /// As written (trimmed); None = the default API URL.
    pub api_url: Option<String>,
    /// Given, or the default `TALLYFY_` + name in capitals with every char that is not an ASCII
    /// letter or digit turned into `_` (`eu-prod` -> `TALLYFY_EU_PROD`).
    pub credentials_env: String,
    /// The groups.yaml files and directories that describe its groups.
    pub files: Vec<WorkspacePath>,
    /// Where `export --target NAME` writes, if given.
    pub export_to: Option<WorkspacePath>,
    /// Its owners file (which of its files may define which groups), when it names one.
    pub owners: Option<WorkspacePath>,
    /// Its policy file (rules every plan of it must keep), when it names one.
    pub policy: Option<WorkspacePath>,
    /// Where the target's name is written.
    pub at: Location,
}

/// A path written in the workspace file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkspacePath {
    /// `dir` joined with the path as written (an absolute path stays as it is).
    pub path: PathBuf,
    /// As written, for messages.
    pub written: String,
    /// Where it is written.
    pub at: Location,
}

impl TargetSpec {
    /// The API URL, the default one when none is written.
    pub fn api_url_or_default(&self) -> &str {
        self.api_url.as_deref().unwrap_or(DEFAULT_API_URL)
    }
}

/// The default `credentials_env` of a target: `TALLYFY_` and the name in capitals, every
/// character that is not an ASCII letter or digit turned into `_`.
///
/// ```
/// assert_eq!(tallyfy_groups_core::workspace::default_credentials_env("eu-prod"), "TALLYFY_EU_PROD");
/// ```
pub fn default_credentials_env(name: &str) -> String {
    let upper: String = name.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_uppercase() } else { '_' }).collect();
    format!("TALLYFY_{upper}")
}

/// Parses and checks the workspace file; paths are relative to `dir` (the file's folder).
/// Every problem at once, each with file:line:col (the same `Diagnostic`s as groups.yaml).
pub fn parse(file: &str, text: &str, dir: &Path) -> Result<Workspace, Diagnostics> {
    let (workspace, diags) = parse_partly(file, text, dir)?;
    if diags.is_empty() { Ok(workspace) } else { Err(Diagnostics(diags)) }
}

/// Every problem of the workspace file at once, those that need the file system included
/// (`exists` says which paths exist; see [`Workspace::missing_files`]): what `validate` says of
/// a file that does not parse cleanly, so a missing `files` entry is not left for a second run.
pub fn all_problems(file: &str, text: &str, dir: &Path, exists: impl Fn(&Path) -> bool) -> Diagnostics {
    match parse_partly(file, text, dir) {
        Ok((workspace, mut diags)) => {
            diags.extend(workspace.missing_files(exists));
            diags.sort();
            diags.dedup();
            Diagnostics(diags)
        }
        Err(unreadable) => unreadable,
    }
}

/// The targets that could be read (a target with problems as far as it could) and the problems,
/// sorted; Err when the file is not a YAML document at all.
fn parse_partly(file: &str, text: &str, dir: &Path) -> Result<(Workspace, Vec<Diagnostic>), Diagnostics> {
    let name: Arc<str> = Arc::from(file);
    let (node, duplicates) = parse::read_document(&name, text, &KIND).map_err(Diagnostics)?;
    let problems = Problems::new(name);
    for d in duplicates {
        problems.push(duplicate(d));
    }
    let targets = match de::from_node::<RawWorkspace>(&node, What::Named("the file"), &problems) {
        Some(raw) => check(&problems, &raw, &node, dir),
        None => Vec::new(),
    };
    let mut diags = problems.into_vec();
    diags.sort();
    diags.dedup();
    Ok((Workspace { file: file.to_string(), targets }, diags))
}

impl Workspace {
    /// Problems that need the file system: a target whose `files` entry does not exist, given a
    /// way to ask (the caller passes `|p| p.exists()`); one Diagnostic per missing path, at its
    /// location, with a hint.
    pub fn missing_files(&self, exists: impl Fn(&Path) -> bool) -> Vec<Diagnostic> {
        let mut out = Vec::new();
        for t in &self.targets {
            for f in t.files.iter().filter(|f| !exists(&f.path)) {
                out.push(
                    Diagnostic::at(&f.at, format!("`{}` does not exist (in `files` of target `{}`)", visible(&f.written), t.name))
                        .with_hint(format!("paths in {} are relative to its folder; create the file or correct the path", self.file)),
                );
            }
        }
        out
    }

    /// The target of that name.
    pub fn target(&self, name: &str) -> Option<&TargetSpec> {
        self.targets.iter().find(|t| t.name == name)
    }

    /// The targets' names, in file order.
    pub fn names(&self) -> Vec<&str> {
        self.targets.iter().map(|t| t.name.as_str()).collect()
    }

    /// The target whose name `name` most likely mistypes (the same but for case, or a couple of
    /// edits away), when `name` is not a target itself.
    pub fn closest_target(&self, name: &str) -> Option<&str> {
        if self.target(name).is_some() {
            return None;
        }
        let lower = name.to_lowercase();
        self.targets
            .iter()
            .map(|t| (strsim::levenshtein(&lower, &t.name.to_lowercase()), t.name.as_str()))
            .filter(|(d, cand)| *d <= 1.max(cand.chars().count() / 4))
            .min()
            .map(|(_, cand)| cand)
    }
}

/// The workspace file's grammar (its keys and their shapes; the rules are in [`check`]).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWorkspace {
    targets: Field<RawTargets>,
}

/// `targets:`, a mapping of target names, in file order.
#[derive(Debug)]
struct RawTargets(Vec<(String, Field<RawTarget>)>);

impl<'de> Deserialize<'de> for RawTargets {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Entries;
        impl<'de> Visitor<'de> for Entries {
            type Value = RawTargets;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a mapping of target names")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawTargets, A::Error> {
                let mut out = Vec::new();
                while let Some(name) = map.next_key::<String>()? {
                    let target = map.next_value::<Field<RawTarget>>()?;
                    out.push((name, target));
                }
                Ok(RawTargets(out))
            }
        }
        d.deserialize_map(Entries)
    }
}

/// One target as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTarget {
    org_id: Field<String>,
    #[serde(default)]
    api_url: Field<String>,
    #[serde(default)]
    credentials_env: Field<String>,
    files: Field<RawPaths>,
    #[serde(default)]
    export_to: Field<String>,
    #[serde(default)]
    owners: Field<String>,
    #[serde(default)]
    policy: Field<String>,
}

/// One path or a list of paths.
#[derive(Debug, Deserialize)]
enum RawPaths {
    #[serde(rename = "scalar")]
    One(Field<String>),
    #[serde(rename = "list")]
    Many(Vec<Field<String>>),
}

/// A key written twice, said for where it is.
fn duplicate(d: DuplicateKey) -> Diagnostic {
    let key = visible(&d.key);
    match d.path.as_slice() {
        [top] if top == "targets" => Diagnostic::at(&d.at, format!("target `{key}` is defined twice (first on line {})", d.first_line))
            .with_hint("give each target its own name, or merge the two"),
        [top, target] if top == "targets" => {
            Diagnostic::at(&d.at, format!("duplicate key `{key}` in target `{}` (first written on line {})", visible(target), d.first_line))
        }
        _ => Diagnostic::at(&d.at, format!("duplicate key `{key}` (first written on line {})", d.first_line)),
    }
}

/// Where each key of a mapping node is written.
fn key_spans(node: Option<&Node>) -> HashMap<&str, Span> {
    node.and_then(Node::as_mapping).map(|m| m.keys().map(|k| (k.as_str(), *k.span()))).into_iter().flatten().collect()
}

/// The rules beyond the shape: names, org ids, credentials' variables, paths, and no two
/// targets on the same organization.
fn check(p: &Problems, raw: &RawWorkspace, node: &Node, dir: &Path) -> Vec<TargetSpec> {
    let top_keys = key_spans(Some(node));
    let Some((targets_span, targets)) = raw.targets.get() else {
        if !raw.targets.is_given() {
            p.error_hint(node.span(), "missing `targets:`", TARGETS_HINT);
        }
        return Vec::new();
    };
    let targets_key = top_keys.get("targets").unwrap_or(targets_span);
    if targets.0.is_empty() {
        p.error_hint(targets_key, "`targets` is empty", TARGETS_HINT);
    }
    let name_spans = key_spans(node.as_mapping().and_then(|m| m.get_node("targets")));
    let mut out: Vec<TargetSpec> = Vec::new();
    let mut orgs: HashMap<(String, String), FirstTarget> = HashMap::new();
    for (name, field) in &targets.0 {
        let at = p.loc(name_spans.get(name.as_str()).unwrap_or(targets_key));
        check_name(p, &at, name);
        let Some((_, t)) = field.get() else { continue };
        let org_id = match t.org_id.get() {
            Some((span, v)) => check_org_id(p, span, v),
            None => {
                if !t.org_id.is_given() {
                    p.push(
                        Diagnostic::at(&at, format!("target `{}` has no `org_id`", visible(name)))
                            .with_hint("add `org_id:` with the id of the Tallyfy organization it manages"),
                    );
                }
                None
            }
        };
        let api_url = t.api_url.get().and_then(|(span, v)| check_api_url(p, span, v));
        let credentials_env =
            t.credentials_env.get().and_then(|(span, v)| check_env(p, span, v)).unwrap_or_else(|| default_credentials_env(name));
        let files = files(p, t, name, &at, dir);
        let export_to = t.export_to.get().and_then(|(span, v)| {
            if v.trim().is_empty() {
                p.error_hint(span, "`export_to` is empty", "name the file `export --target NAME` writes, or remove the key");
                return None;
            }
            Some(WorkspacePath { path: dir.join(v), written: v.clone(), at: p.loc(span) })
        });
        let owners = t.owners.get().and_then(|(span, v)| {
            if v.trim().is_empty() {
                p.error_hint(span, "`owners` is empty", "name the target's owners.yaml, or remove the key");
                return None;
            }
            Some(WorkspacePath { path: dir.join(v), written: v.clone(), at: p.loc(span) })
        });
        let policy = t.policy.get().and_then(|(span, v)| {
            if v.trim().is_empty() {
                p.error_hint(span, "`policy` is empty", "name the target's policy file, or remove the key");
                return None;
            }
            Some(WorkspacePath { path: dir.join(v), written: v.clone(), at: p.loc(span) })
        });
        if let Some(org) = &org_id {
            let written_url = api_url.as_deref().unwrap_or(DEFAULT_API_URL);
            let key = (org.to_ascii_lowercase(), api_identity(written_url));
            match orgs.get(&key) {
                Some(first) => {
                    let (first_org, first_url) = (&first.org, &first.url);
                    let also = if (first_org.as_str(), first_url.as_str()) == (org.as_str(), written_url) {
                        String::new()
                    } else {
                        format!(" (`{}` writes it as {} at {})", visible(name), visible(org), visible(written_url))
                    };
                    p.push(
                        Diagnostic::at(
                            &at,
                            format!(
                                "targets `{}` ({}) and `{}` ({at}) both manage organization {} at {}{also}: each organization belongs to one target",
                                visible(&first.name),
                                first.at,
                                visible(name),
                                visible(first_org),
                                visible(first_url),
                            ),
                        )
                        .with_hint("merge them into one target (with the files of both), or correct the `org_id` of one of them"),
                    )
                }
                None => {
                    orgs.insert(key, FirstTarget { name: name.clone(), at: at.clone(), org: org.clone(), url: written_url.to_string() });
                }
            }
        }
        out.push(TargetSpec {
            name: name.clone(),
            org_id: org_id.unwrap_or_default(),
            api_url,
            credentials_env,
            files,
            export_to,
            owners,
            policy,
            at,
        });
    }
    out
}

/// The first target found on an organization, as written, for the message about a second one.
struct FirstTarget {
    name: String,
    at: Location,
    org: String,
    url: String,
}

/// What an API URL reaches, as compared to find two targets on one organization: the URL as the
/// client would send requests to it, every way of writing the same API made one. Scheme, host and
/// path are compared without regard to case; `localhost`, `127.0.0.1` and `[::1]` are one host; a
/// default port (`:443` for https, `:80` for http), a trailing dot of the host, empty, `.` and
/// `..` path segments (a trailing `/`, a double `/`, `/api/.`), an empty query `?` and any
/// fragment (never sent) are left out; and `https://api.tallyfy.com` (with the path `/` or
/// none) is `https://go.tallyfy.com/api`, the same API under its other documented address.
fn api_identity(written: &str) -> String {
    let written = written.trim();
    let Ok(url) = url::Url::parse(written) else { return written.to_lowercase() };
    let host = match url.host() {
        Some(url::Host::Domain(d)) => match d.trim_end_matches('.').to_lowercase() {
            d if d == "localhost" => LOOPBACK.to_string(),
            d => d,
        },
        Some(url::Host::Ipv4(ip)) if ip == std::net::Ipv4Addr::LOCALHOST => LOOPBACK.to_string(),
        Some(url::Host::Ipv6(ip)) if ip == std::net::Ipv6Addr::LOCALHOST => LOOPBACK.to_string(),
        Some(other) => other.to_string(),
        None => String::new(),
    };
    let segments: Vec<String> = url.path().split('/').filter(|s| !s.is_empty() && *s != ".").map(str::to_lowercase).collect();
    let (host, path) = if url.scheme() == "https" && url.port().is_none() && host == "api.tallyfy.com" && segments.is_empty() {
        ("go.tallyfy.com".to_string(), "/api".to_string())
    } else {
        (host, segments.iter().map(|s| format!("/{s}")).collect())
    };
    let port = url.port().map(|p| format!(":{p}")).unwrap_or_default();
    let query = url.query().filter(|q| !q.is_empty()).map(|q| format!("?{q}")).unwrap_or_default();
    format!("{}://{host}{port}{path}{query}", url.scheme())
}

/// The one name [`api_identity`] gives this machine.
const LOOPBACK: &str = "localhost";

/// A target name: 1 to 63 ASCII letters, digits, `-` and `_`, not starting with `-`, as it is
/// typed in `--target NAME` and `--allow-removals NAME="reason"`.
fn check_name(p: &Problems, at: &Location, name: &str) {
    const USE: &str = "the name is typed in `--target NAME` and `--allow-removals NAME=\"reason\"`";
    if name.is_empty() {
        p.push(Diagnostic::at(at, "a target name is empty").with_hint(format!("name it with ASCII letters, digits, `-` and `_`; {USE}")));
    } else if name.chars().count() > MAX_TARGET_NAME_CHARS {
        p.push(
            Diagnostic::at(at, format!("target name `{}` is longer than {MAX_TARGET_NAME_CHARS} characters", visible(name)))
                .with_hint(format!("shorten it; {USE}")),
        );
    } else if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
        let fixed: String = name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '-' }).collect();
        p.push(
            Diagnostic::at(at, format!("target name `{}` may use only ASCII letters, digits, `-` and `_`", visible(name)))
                .with_hint(format!("for example `{}`; {USE}", visible(no_leading_dash(&fixed)))),
        );
    } else if name.starts_with('-') {
        // `--target -f` would be read as an option.
        p.push(
            Diagnostic::at(at, format!("target name `{}` starts with `-`", visible(name)))
                .with_hint(format!("for example `{}`; {USE}", visible(no_leading_dash(name)))),
        );
    }
}

/// A suggested target name without leading `-` (`target` when nothing is left).
fn no_leading_dash(name: &str) -> &str {
    match name.trim_start_matches('-') {
        "" => "target",
        rest => rest,
    }
}

/// An organization id: one plain path segment of the API's URLs, as the client sends it
/// (letters, digits, `-` and `_`; [`OrgId::is_plain`]).
fn check_org_id(p: &Problems, span: &Span, v: &str) -> Option<String> {
    let v = v.trim();
    if v.is_empty() {
        p.error(span, "`org_id` is empty");
        return None;
    }
    if !OrgId(v.to_string()).is_plain() {
        p.error_hint(
            span,
            format!("`org_id` `{}` is not an organization id: it may use only ASCII letters, digits, `-` and `_`", visible(v)),
            "write only the organization's id, not a URL or a path",
        );
        return None;
    }
    Some(v.to_string())
}

/// An API URL: written in full, with its scheme (whether plain http is allowed is decided where
/// the client is made).
fn check_api_url(p: &Problems, span: &Span, v: &str) -> Option<String> {
    let v = v.trim();
    if v.is_empty() {
        p.error_hint(span, "`api_url` is empty", format!("remove the key to use {DEFAULT_API_URL}"));
        return None;
    }
    let lower = v.to_ascii_lowercase();
    if !(lower.starts_with("https://") || lower.starts_with("http://")) {
        p.error_hint(
            span,
            format!("`api_url` `{}` is not an https:// URL", visible(v)),
            format!("write it in full, e.g. {DEFAULT_API_URL}"),
        );
        return None;
    }
    if let Some(rest) = lower.strip_prefix("http://")
        && !is_loopback_host(rest)
    {
        p.error_hint(
            span,
            format!("`api_url` `{}` is plain http to another machine: the credentials would cross the network unencrypted", visible(v)),
            "use https:// (plain http is for a sandbox on this machine: localhost, 127.0.0.1 or [::1])",
        );
        return None;
    }
    Some(v.to_string())
}

/// Whether the host of `rest` (a URL after `http://`) is this machine, as the client decides.
fn is_loopback_host(rest: &str) -> bool {
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => host.split(':').next().unwrap_or_default(),
    };
    host == "localhost"
        || host == "::1"
        || host.strip_prefix("127.").is_some_and(|r| r.split('.').count() == 3 && r.split('.').all(|o| o.parse::<u8>().is_ok()))
}

/// A prefix of environment variables: capital ASCII letters, digits and `_`, not starting with
/// a digit; a prefix, not a whole variable's name.
fn check_env(p: &Problems, span: &Span, v: &str) -> Option<String> {
    let reads = |prefix: &str| format!("it reads {prefix}_ACCESS_TOKEN, or {prefix}_CLIENT_ID and {prefix}_CLIENT_SECRET");
    let valid = !v.is_empty()
        && !v.starts_with(|c: char| c.is_ascii_digit())
        && v.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
    if !valid {
        let mut fixed: String = v.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_uppercase() } else { '_' }).collect();
        if fixed.is_empty() || fixed.starts_with(|c: char| c.is_ascii_digit()) {
            fixed.insert_str(0, "TALLYFY_");
        }
        p.error_hint(
            span,
            format!("`credentials_env` `{}` must be capital ASCII letters, digits and `_`, not starting with a digit", visible(v)),
            format!("for example `{fixed}`: {}", reads(&fixed)),
        );
        return None;
    }
    if let Some(suffix) = ["_ACCESS_TOKEN", "_CLIENT_ID", "_CLIENT_SECRET", "_"].into_iter().find(|s| v.ends_with(s))
        && v.len() > suffix.len()
    {
        let prefix = &v[..v.len() - suffix.len()];
        p.error_hint(
            span,
            format!("`credentials_env` `{v}` is a variable's name, not a prefix"),
            format!("write `{prefix}`: {}", reads(prefix)),
        );
        return None;
    }
    Some(v.to_string())
}

/// A target's `files`: required, not empty, no blank entry.
fn files(p: &Problems, t: &RawTarget, name: &str, at: &Location, dir: &Path) -> Vec<WorkspacePath> {
    let Some((span, paths)) = t.files.get() else {
        if !t.files.is_given() {
            p.push(Diagnostic::at(at, format!("target `{}` has no `files`", visible(name))).with_hint(FILES_HINT));
        }
        return Vec::new();
    };
    let entries: &[Field<String>] = match paths {
        RawPaths::One(one) => std::slice::from_ref(one),
        RawPaths::Many(many) => many,
    };
    if entries.is_empty() || matches!(paths, RawPaths::One(one) if one.value().is_some_and(|v| v.trim().is_empty())) {
        p.error_hint(span, "`files` is empty", FILES_HINT);
        return Vec::new();
    }
    let mut out = Vec::new();
    for (span, v) in entries.iter().filter_map(Field::get) {
        if v.trim().is_empty() {
            p.error(span, "an item of `files` is empty");
            continue;
        }
        out.push(WorkspacePath { path: dir.join(v), written: v.clone(), at: p.loc(span) });
    }
    out
}

#[cfg(test)]
mod tests;
