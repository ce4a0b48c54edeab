//! `owners.yaml`: which groups file may define which groups, hold `settings` or `sources`, and who
//! must review a change to it. Rules are matched by path (relative to the owners file; `*` stays
//! within a folder, `**` crosses folders), first match wins; group names by glob, ignoring case
//! and Unicode form (as Tallyfy matches names). Read with the loader's YAML reader and
//! deserializer, so its messages read like groups.yaml's. Pure; no I/O (the caller reads the
//! file).

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use schemars::JsonSchema;
use serde::Deserialize;

use crate::desired::de::{self, Problems, What};
use crate::desired::parse::{self, Kind};
use crate::desired::raw::Field;
use crate::desired::{DesiredGroup, DesiredState, Diagnostic, Diagnostics, Location};
use crate::model::name_key;

/// The owners file's name, looked for beside the first groups file.
pub const FILE_NAME: &str = "owners.yaml";

const KIND: Kind = Kind {
    name: FILE_NAME,
    top_key: "rules",
    empty_hint: "start it with `rules:` followed by one rule per team: a `path`, the `groups` its files may define, and `reviewers`",
    depth_hint: "owners.yaml needs only four levels: rules → rule → groups → glob",
    documents_hint: "merge the documents into one `rules:` list",
};

/// `owners.yaml` as written.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawOwners {
    /// The rules, first match wins: a groups file is governed by the first rule whose `path` matches it. A file that matches no rule may define nothing.
    pub rules: Field<Vec<Field<RawRule>>>,
}

/// One rule.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawRule {
    /// Groups files this rule governs: a glob relative to owners.yaml (`*` within a folder, `**` across folders).
    #[schemars(length(min = 1))]
    pub path: Field<String>,
    /// Group names those files may define (globs, as `ignore` uses, ignoring case).
    #[serde(default)]
    pub groups: Field<Vec<Field<String>>>,
    /// Who must review a change to those groups: GitHub or GitLab users or teams (`@acme/finance-admins`).
    #[serde(default)]
    pub reviewers: Field<Vec<Field<String>>>,
    /// Whether those files may hold `settings:`. Default false.
    #[serde(default)]
    pub settings: Field<bool>,
    /// Whether those files may hold `sources:`. Default false.
    #[serde(default)]
    pub sources: Field<bool>,
}

/// One checked rule.
#[derive(Debug, Clone)]
pub struct Rule {
    /// The path glob as written.
    pub path: String,
    path_glob: glob::Pattern,
    /// The group globs as written.
    pub groups: Vec<String>,
    group_globs: Vec<glob::Pattern>,
    /// Who must review.
    pub reviewers: Vec<String>,
    /// May hold `settings:`.
    pub settings: bool,
    /// May hold `sources:`.
    pub sources: bool,
    /// Where the rule is written.
    pub at: Location,
}

impl Rule {
    /// Whether the rule lets its files define a group of this name (ignoring case and form).
    pub fn allows(&self, name: &str) -> bool {
        let key = name_key(name);
        self.group_globs.iter().any(|g| g.matches(&key))
    }
}

/// A parsed and checked owners file.
#[derive(Debug, Clone)]
pub struct Owners {
    /// The file's name as given (used in messages).
    pub file: String,
    /// Its folder: rule paths are relative to it.
    pub dir: PathBuf,
    /// In file order.
    pub rules: Vec<Rule>,
}

const PATH_MATCH: glob::MatchOptions =
    glob::MatchOptions { case_sensitive: true, require_literal_separator: true, require_literal_leading_dot: false };

/// Parses and checks an owners file; `dir` is its folder. Every problem at once, located.
pub fn parse(file: &str, text: &str, dir: &Path) -> Result<Owners, Diagnostics> {
    let name: Arc<str> = Arc::from(file);
    let (node, duplicates) = parse::read_document(&name, text, &KIND).map_err(Diagnostics)?;
    let problems = Problems::new(name);
    for d in duplicates {
        problems.push(Diagnostic::at(&d.at, format!("`{}` is written twice (first on line {})", d.key, d.first_line)));
    }
    let mut rules = Vec::new();
    if let Some(raw) = de::from_node::<RawOwners>(&node, What::Named("the file"), &problems) {
        match raw.rules.get() {
            None if !raw.rules.is_given() => problems.error_hint(node.span(), "missing `rules:`", KIND.empty_hint),
            None => {}
            Some((span, list)) => {
                if list.is_empty() {
                    problems.error_hint(span, "`rules` is empty: every groups file would be refused", KIND.empty_hint);
                }
                for (span, r) in list.iter().filter_map(Field::get) {
                    if let Some(rule) = rule(&problems, span, r) {
                        rules.push(rule);
                    }
                }
            }
        }
    }
    let diags = problems.into_vec();
    if diags.is_empty() { Ok(Owners { file: file.to_string(), dir: dir.to_path_buf(), rules }) } else { Err(Diagnostics(diags)) }
}

fn rule(p: &Problems, span: &marked_yaml::Span, r: &RawRule) -> Option<Rule> {
    let at = p.loc(span);
    let Some((path_span, path)) = r.path.get() else {
        if !r.path.is_given() {
            p.error_hint(
                span,
                "a rule has no `path`",
                "add `path:` with a glob of the groups files it governs, such as `teams/finance/*.yaml`",
            );
        }
        return None;
    };
    let path = path.trim().trim_start_matches("./").to_string();
    let path_glob = match glob::Pattern::new(&path) {
        Ok(g) if !path.is_empty() => g,
        Ok(_) => {
            p.error(path_span, "`path` is empty");
            return None;
        }
        Err(e) => {
            p.error_hint(path_span, format!("`{path}` is not a valid glob: {}", e.msg), "use `*` within a folder and `**` across folders");
            return None;
        }
    };
    if Path::new(&path).is_absolute() || path.split('/').any(|c| c == "..") {
        p.error_hint(
            path_span,
            format!("`{path}` leaves the folder of owners.yaml"),
            "rule paths are relative to owners.yaml and stay below it",
        );
        return None;
    }
    let mut groups = Vec::new();
    let mut group_globs = Vec::new();
    for (s, g) in r.groups.value().into_iter().flatten().filter_map(Field::get) {
        match glob::Pattern::new(&name_key(g.trim())) {
            Ok(pattern) if !g.trim().is_empty() => {
                groups.push(g.trim().to_string());
                group_globs.push(pattern);
            }
            Ok(_) => p.error(s, "a `groups` glob is empty"),
            Err(e) => p.error_hint(s, format!("`{g}` is not a valid glob: {}", e.msg), "use `*` for any text, such as `Finance *`"),
        }
    }
    let reviewers = r
        .reviewers
        .value()
        .into_iter()
        .flatten()
        .filter_map(|f| f.value())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect();
    Some(Rule {
        path,
        path_glob,
        groups,
        group_globs,
        reviewers,
        settings: r.settings.value().copied().unwrap_or(false),
        sources: r.sources.value().copied().unwrap_or(false),
        at,
    })
}

/// `path` relative to `dir`, with `/` separators, when it is below it.
fn relative(path: &Path, dir: &Path) -> Option<String> {
    let strip = |p: &Path| -> PathBuf { p.components().filter(|c| !matches!(c, Component::CurDir)).collect() };
    let (path, dir) = (strip(path), strip(dir));
    let rel = path.strip_prefix(&dir).ok()?;
    Some(rel.components().map(|c| c.as_os_str().to_string_lossy().into_owned()).collect::<Vec<_>>().join("/"))
}

impl Owners {
    /// The rule that governs the groups file at `path` (as given, relative to the current folder
    /// like the owners file's `dir`): the first whose `path` matches.
    pub fn rule_for(&self, path: &Path) -> Option<&Rule> {
        let rel = relative(path, &self.dir)?;
        self.rules.iter().find(|r| r.path_glob.matches_with(&rel, PATH_MATCH))
    }

    /// Whether any rule lets its files define a group of this name: `prune` deletes only those.
    pub fn owned(&self, name: &str) -> bool {
        self.rules.iter().any(|r| r.allows(name))
    }

    /// The group globs of every rule (over folded names), for `Settings::owned`.
    pub fn owned_globs(&self) -> Vec<glob::Pattern> {
        self.rules.iter().flat_map(|r| r.group_globs.iter().cloned()).collect()
    }

    /// The reviewers of a group: those of the rule governing the file that defines it, or (a
    /// group no file defines, such as one `prune` deletes) of the first rule that allows it.
    pub fn reviewers_of(&self, name: &str, defined_in: Option<&Path>) -> &[String] {
        let rule = defined_in.and_then(|f| self.rule_for(f)).or_else(|| self.rules.iter().find(|r| r.allows(name)));
        rule.map_or(&[], |r| r.reviewers.as_slice())
    }

    /// The problems of the desired state under these rules: a group (or a `previously` name) its
    /// file's rule does not allow, `settings` or `sources` in a file not allowed them, a file
    /// that matches no rule. `paths` maps the file names of locations to their paths.
    pub fn check(&self, state: &DesiredState, paths: &BTreeMap<String, PathBuf>) -> Vec<Diagnostic> {
        let mut out = Vec::new();
        let rule_of = |file: &str| paths.get(file).and_then(|p| self.rule_for(p));
        let unmatched = |at: &Location, what: &str| {
            Diagnostic::at(at, format!("{} matches no rule of {}, so it may define nothing ({what})", at.file, self.file))
                .with_hint(format!("add a rule whose `path` matches it to {}, or move the content to a file a rule governs", self.file))
        };
        for g in &state.groups {
            let Some(rule) = rule_of(&g.at.file) else {
                out.push(unmatched(&g.name.at, &format!("group \"{}\"", g.name.value)));
                continue;
            };
            check_group(self, rule, g, &mut out);
        }
        if let Some(at) = &state.settings_at {
            match rule_of(&at.file) {
                None => out.push(unmatched(at, "`settings`")),
                Some(r) if !r.settings => out.push(
                    Diagnostic::at(
                        at,
                        format!(
                            "`settings` is not allowed in {}: the rule at {} (path `{}`) does not say `settings: true`",
                            at.file, r.at, r.path
                        ),
                    )
                    .with_hint(format!(
                        "move `settings` to a file whose rule allows it, or add `settings: true` to that rule in {}",
                        self.file
                    )),
                ),
                Some(_) => {}
            }
        }
        for s in &state.sources {
            match rule_of(&s.at.file) {
                None => out.push(unmatched(&s.at, &format!("source `{}`", s.name))),
                Some(r) if !r.sources => out.push(
                    Diagnostic::at(
                        &s.at,
                        format!(
                            "source `{}` is not allowed in {}: the rule at {} (path `{}`) does not say `sources: true`",
                            s.name, s.at.file, r.at, r.path
                        ),
                    )
                    .with_hint(format!(
                        "define the source in a file whose rule allows sources, or add `sources: true` to that rule in {}",
                        self.file
                    )),
                ),
                Some(_) => {}
            }
        }
        out.sort();
        out.dedup();
        out
    }

    /// The CODEOWNERS lines that make GitHub and GitLab require these reviewers: one per rule
    /// with reviewers, in reverse rule order (CODEOWNERS' last match wins, owners.yaml's first),
    /// paths anchored at the repository root (`prefix`: the owners file's folder there, `` at
    /// the root).
    pub fn codeowners(&self, prefix: &str) -> Vec<String> {
        let prefix = prefix.trim_matches('/');
        self.rules
            .iter()
            .rev()
            .filter(|r| !r.reviewers.is_empty())
            .map(|r| {
                let path = if prefix.is_empty() { r.path.clone() } else { format!("{prefix}/{}", r.path) };
                format!("/{} {}", path, r.reviewers.join(" "))
            })
            .collect()
    }
}

fn check_group(owners: &Owners, rule: &Rule, g: &DesiredGroup, out: &mut Vec<Diagnostic>) {
    let refuse = |at: &Location, name: &str, what: &str| {
        Diagnostic::at(
            at,
            format!(
                "{what} \"{name}\" is not allowed in {}: the rule at {} (path `{}`) allows {}",
                at.file,
                rule.at,
                rule.path,
                if rule.groups.is_empty() {
                    "no groups".to_string()
                } else {
                    rule.groups.iter().map(|g| format!("`{g}`")).collect::<Vec<_>>().join(", ")
                }
            ),
        )
        .with_hint(format!(
            "define it in the file of the team that owns it, or change the rule in {} (in review by its owners)",
            owners.file
        ))
    };
    if !rule.allows(&g.name.value) {
        out.push(refuse(&g.name.at, &g.name.value, if g.absent { "deleting group" } else { "group" }));
    }
    for old in &g.previously {
        if !rule.allows(&old.value) {
            out.push(refuse(&old.at, &old.value, "renaming group"));
        }
    }
}

#[cfg(test)]
mod tests;
