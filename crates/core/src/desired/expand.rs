//! Expansion: every group's members and guests put together from its typed entries, the people
//! its sources yielded and the members of the groups it includes (transitively), each person
//! once, with every origin ([`Provenance`]). The reads are done elsewhere (the sources crate);
//! here they are only looked up. A used source whose read failed, or is missing, fails the
//! expansion, or, with `keep_going`, leaves the groups that use it untouched. Pure; no I/O.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::{DesiredGroup, DesiredState, Location, MemberRef};
use crate::model::{Email, name_key};
use crate::source::{Person, Provenance, SourceFailure, SourceKind, SourceRead, SourceSpec, Unknown};
use crate::warning::Warning;

/// One member or guest of an expanded group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expanded<T> {
    /// Who: a member as written (email or id), or a guest's email.
    pub value: T,
    /// Where a message about them points: their typed entry (this group's first), else where the
    /// source that yielded them is defined.
    pub at: Location,
    /// Every origin, sorted, each once.
    pub origins: Vec<Provenance>,
    /// [`Unknown::Warn`] when every origin is a source with `unknown: warn`: an address that is
    /// no user is then left out with a warning instead of failing.
    pub unknown: Unknown,
}

/// A group's people once expanded.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GroupExpansion {
    /// Every member, sorted, each once (`None`: members not managed, or the group is untouched).
    pub members: Option<Vec<Expanded<MemberRef>>>,
    /// Every guest, sorted, each once (`None`: guests not managed, or the group is untouched).
    pub guests: Option<Vec<Expanded<Email>>>,
    /// The sources the group uses, directly or through `{group}` entries.
    pub sources: BTreeSet<String>,
    /// The sources it uses that could not be read (with `keep_going`): the group is left
    /// untouched in this run.
    pub failed: Vec<SourceFailure>,
}

impl GroupExpansion {
    /// Distinct members and guests that a source yielded.
    pub fn people_from_sources(&self) -> usize {
        let from_source = |origins: &[Provenance]| origins.iter().any(Provenance::is_source);
        self.members.iter().flatten().filter(|m| from_source(&m.origins)).count()
            + self.guests.iter().flatten().filter(|g| from_source(&g.origins)).count()
    }
}

/// What an expansion with `keep_going` left out.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[must_use]
pub struct Expansion {
    /// Every used source that could not be read, sorted by name.
    pub failed: Vec<SourceFailure>,
    /// The groups left untouched because they use one of them (directly or through `{group}`).
    pub untouched: Vec<String>,
}

/// Why the desired state could not be expanded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExpandError {
    /// Sources could not be read (without `keep_going`): nothing may be planned.
    #[error("{}", failed_message(.0))]
    SourcesFailed(Vec<SourceFailure>),
}

impl ExpandError {
    /// The same, said for the access report (which has no `--keep-going`).
    pub fn for_report(&self) -> String {
        let ExpandError::SourcesFailed(failed) = self;
        let mut text = format!(
            "{} could not be read, so no report is written:",
            if failed.len() == 1 { "1 source".to_string() } else { format!("{} sources", failed.len()) }
        );
        for f in failed {
            text.push_str(&format!("\n  {f}"));
        }
        text.push_str("\n    hint: fix them and run again: who a source grants is never reported from a source that was not read");
        text
    }
}

fn failed_message(failed: &[SourceFailure]) -> String {
    let mut text = format!(
        "{} could not be read, so nothing is planned:",
        if failed.len() == 1 { "1 source".to_string() } else { format!("{} sources", failed.len()) }
    );
    for f in failed {
        text.push_str(&format!("\n  {f}"));
    }
    text.push_str("\n    hint: fix them and run again; --keep-going plans every group that does not use them and leaves those untouched");
    text
}

/// The people of one used source, or why there are none.
type Outcome = Result<Vec<Person>, SourceFailure>;

/// Fills `expanded` of every group that is not `absent`, from the typed entries, the reads of
/// the used sources (by name; see [`DesiredState::used_sources`]) and the groups it includes.
/// A `list` source is taken from its declaration (a read given for it is not looked at). A used
/// source whose read failed, is missing from `reads`, or yielded nobody without `allow_empty`,
/// is failed: without `keep_going` that is an error naming every failed source; with it, the
/// groups that use a failed source are left untouched ([`GroupExpansion::failed`], which
/// resolution reports like an unresolvable member). What the reads left out becomes warnings
/// of the state.
pub fn expand(
    state: &mut DesiredState,
    reads: &BTreeMap<String, Result<SourceRead, SourceFailure>>,
    keep_going: bool,
) -> Result<Expansion, ExpandError> {
    let mut outcomes: HashMap<String, Outcome> = HashMap::new();
    let mut notes = Vec::new();
    for spec in state.used_sources() {
        let outcome = people_of(spec, reads.get(&spec.name), &mut notes);
        outcomes.insert(spec.name.clone(), outcome);
    }
    let mut failed: Vec<SourceFailure> = outcomes.values().filter_map(|o| o.as_ref().err().cloned()).collect();
    failed.sort_by(|a, b| a.name.cmp(&b.name));
    if !failed.is_empty() && !keep_going {
        return Err(ExpandError::SourcesFailed(failed));
    }
    state.warnings.extend(notes);

    let specs: HashMap<&str, &SourceSpec> = state.sources.iter().map(|s| (s.name.as_str(), s)).collect();
    let groups = &state.groups;
    let mut index: HashMap<String, usize> = HashMap::new();
    for (i, g) in groups.iter().enumerate() {
        index.entry(name_key(&g.name.value)).or_insert(i);
    }
    let ctx = Context { groups, external: &state.external_members, index: &index, specs: &specs, outcomes: &outcomes };
    let mut memo: Vec<Option<Members>> = vec![None; groups.len()];
    let mut on_path = vec![false; groups.len()];
    let mut expansions = Vec::with_capacity(groups.len());
    for (i, g) in groups.iter().enumerate() {
        if g.absent {
            expansions.push(None);
            continue;
        }
        let members = g.members.as_ref().map(|_| ctx.members(i, &mut memo, &mut on_path));
        let mut sources = members.as_ref().map(|m| m.sources.clone()).unwrap_or_default();
        let mut failing = members.as_ref().map(|m| m.failed.clone()).unwrap_or_default();
        let guests = g.guests.as_ref().map(|typed| {
            let mut people = People::default();
            for e in typed {
                people.add(e.value.clone(), &e.at, Provenance::Static { at: e.at.to_string() }, Unknown::Error);
            }
            for r in &g.guest_sources {
                sources.insert(r.value.clone());
                ctx.add_source(&r.value, &mut people, &mut failing, std::convert::identity);
            }
            people.into_sorted()
        });
        let mut failed_here: Vec<SourceFailure> = failed.iter().filter(|f| failing.contains(&f.name)).cloned().collect();
        // A name no source has (validation refuses it; a state built by hand may have one).
        for name in failing.iter().filter(|n| !specs.contains_key(n.as_str())) {
            let reason = "no source of this name is defined".to_string();
            failed_here.push(SourceFailure { name: name.clone(), kind: "source", at: g.at.clone(), reason });
        }
        expansions.push(Some(if failed_here.is_empty() {
            GroupExpansion { members: members.map(|m| m.people.into_sorted()), guests, sources, failed: Vec::new() }
        } else {
            GroupExpansion { members: None, guests: None, sources, failed: failed_here }
        }));
    }
    let mut untouched = Vec::new();
    for (g, expansion) in state.groups.iter_mut().zip(expansions) {
        if expansion.as_ref().is_some_and(|e| !e.failed.is_empty()) {
            untouched.push(g.name.value.clone());
        }
        g.expanded = expansion;
    }
    Ok(Expansion { failed, untouched })
}

/// The people of a used source: a `list` from its declaration, any other kind from its read.
fn people_of(spec: &SourceSpec, read: Option<&Result<SourceRead, SourceFailure>>, notes: &mut Vec<Warning>) -> Outcome {
    let fail =
        |reason: &str| SourceFailure { name: spec.name.clone(), kind: spec.kind.label(), at: spec.at.clone(), reason: reason.to_string() };
    let people: Vec<Person> = match (&spec.kind, read) {
        (SourceKind::List(list), _) => list.iter().map(|(email, _)| Person { email: email.clone(), line: None }).collect(),
        (_, None) => {
            return Err(fail("it was not read (nothing came back for it), and a source that was not read is never taken for empty"));
        }
        (_, Some(Err(failure))) => return Err(failure.clone()),
        (_, Some(Ok(read))) => {
            notes.extend(read.warnings.iter().map(|message| Warning::SourceSkipped {
                source: spec.name.clone(),
                source_kind: spec.kind.label().to_string(),
                message: message.clone(),
            }));
            read.people.clone()
        }
    };
    if people.is_empty() && !spec.allow_empty {
        return Err(fail("it yielded nobody; if that is expected, set `allow_empty: true` on the source"));
    }
    Ok(people)
}

/// The people of one list of a group, by who they are.
#[derive(Debug, Clone)]
struct People<T: Ord>(BTreeMap<T, Expanded<T>>);

impl<T: Ord> Default for People<T> {
    fn default() -> Self {
        People(BTreeMap::new())
    }
}

impl<T: Ord + Clone> People<T> {
    /// Adds a person with one more origin; the first place stays where messages point, and one
    /// origin that must resolve makes the person one that must resolve.
    fn add(&mut self, value: T, at: &Location, origin: Provenance, unknown: Unknown) {
        let entry = self.0.entry(value.clone()).or_insert_with(|| Expanded { value, at: at.clone(), origins: Vec::new(), unknown });
        if !entry.origins.contains(&origin) {
            entry.origins.push(origin);
        }
        if unknown == Unknown::Error {
            entry.unknown = Unknown::Error;
        }
    }

    /// Adds everyone of another list, with all their origins.
    fn merge(&mut self, other: &People<T>) {
        for e in other.0.values() {
            for origin in &e.origins {
                self.add(e.value.clone(), &e.at, origin.clone(), e.unknown);
            }
        }
    }

    fn into_sorted(self) -> Vec<Expanded<T>> {
        self.0
            .into_values()
            .map(|mut e| {
                e.origins.sort();
                e
            })
            .collect()
    }
}

/// A group's members before they are final: the people, the sources used, and those that failed.
#[derive(Debug, Clone, Default)]
struct Members {
    people: People<MemberRef>,
    sources: BTreeSet<String>,
    failed: BTreeSet<String>,
}

/// What expanding a group needs to look up.
struct Context<'a> {
    groups: &'a [DesiredGroup],
    external: &'a std::collections::BTreeMap<String, Vec<crate::model::UserId>>,
    index: &'a HashMap<String, usize>,
    specs: &'a HashMap<&'a str, &'a SourceSpec>,
    outcomes: &'a HashMap<String, Outcome>,
}

impl Context<'_> {
    /// The members of group `i`: typed, from sources, and from the groups it includes (each
    /// worked out once; a cycle, refused by validation, is cut rather than followed).
    fn members(&self, i: usize, memo: &mut Vec<Option<Members>>, on_path: &mut Vec<bool>) -> Members {
        if let Some(done) = &memo[i] {
            return done.clone();
        }
        on_path[i] = true;
        let g = &self.groups[i];
        let mut out = Members::default();
        if g.external {
            // Managed elsewhere: its members are Tallyfy's, read live.
            let at = g.name.at.to_string();
            for id in self.external.get(&name_key(&g.name.value)).into_iter().flatten() {
                out.people.add(MemberRef::Id(*id), &g.name.at, Provenance::Static { at: at.clone() }, Unknown::Error);
            }
        }
        for m in g.members.iter().flatten() {
            out.people.add(m.value.clone(), &m.at, Provenance::Static { at: m.at.to_string() }, Unknown::Error);
        }
        for r in &g.member_sources {
            out.sources.insert(r.value.clone());
            self.add_source(&r.value, &mut out.people, &mut out.failed, MemberRef::Email);
        }
        for r in &g.member_groups {
            let Some(&j) = self.index.get(&name_key(&r.value)) else { continue };
            if on_path[j] || self.groups[j].absent {
                continue;
            }
            let included = self.members(j, memo, on_path);
            out.people.merge(&included.people);
            out.sources.extend(included.sources);
            out.failed.extend(included.failed);
        }
        on_path[i] = false;
        memo[i] = Some(out.clone());
        out
    }

    /// Adds everyone source `name` yielded, or records that it failed.
    fn add_source<T: Ord + Clone>(&self, name: &str, people: &mut People<T>, failed: &mut BTreeSet<String>, make: fn(Email) -> T) {
        let (Some(spec), Some(outcome)) = (self.specs.get(name), self.outcomes.get(name)) else {
            // Not defined (refused by validation): nothing to add, and never taken for nobody.
            failed.insert(name.to_string());
            return;
        };
        match outcome {
            Err(_) => {
                failed.insert(name.to_string());
            }
            Ok(list) => {
                for p in list {
                    let origin = Provenance::Source { kind: spec.kind.label(), source: spec.name.clone(), line: p.line };
                    people.add(make(p.email.clone()), &spec.at, origin, spec.unknown);
                }
            }
        }
    }
}
