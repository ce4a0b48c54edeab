//! The access report (`report access`): who can reach each group now, set against what the
//! groups files grant. One [`AccessRow`] per group, kind (member or guest) and person: live
//! people the files grant (`granted`), live people they do not (`not_in_file`, never left out)
//! and people they grant who are not live yet (`pending`), each with where the files declare
//! them, the sources that yielded them, their last day of access and how the group is managed.
//! Rows are sorted on every column, so the same state gives the same bytes; they are written as
//! CSV (every cell a spreadsheet could take for a formula is neutralised, CWE-1236) or JSON. A
//! live group whose lists were not read whole fails the report ([`Incomplete`]): a partial read
//! never becomes rows. Pure; no I/O.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write;

use serde::Serialize;

use crate::date::Date;
use crate::desired::{DesiredGroup, DesiredState, Expanded, Location, MemberRef, Sync};
use crate::diff::{Scope as Selection, UnreadGroup};
use crate::model::{Email, LiveGroup, LiveState, User, UserId, name_key};
use crate::resolve::Directory;
use crate::source::Provenance;

/// The version of the JSON document's shape.
pub const FORMAT_VERSION: u32 = 1;

/// The CSV header: the columns, in order.
pub const COLUMNS: [&str; 10] = ["group", "kind", "email", "user_id", "name", "status", "declared_at", "source", "until", "scope"];

/// Which list of a group a row is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// A member: a user of the organization.
    Member,
    /// A guest, by email.
    Guest,
}

impl Kind {
    /// The word in the report.
    pub fn label(self) -> &'static str {
        match self {
            Kind::Member => "member",
            Kind::Guest => "guest",
        }
    }
}

/// How a person's access compares with the files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// In the group now, and granted by the files.
    Granted,
    /// In the group now, and not granted by the files (whatever the scope: an additive group
    /// keeps them, an unmanaged or external group is not the files' to change, an exact group
    /// removes them on the next apply unless `keep:` keeps them).
    NotInFile,
    /// Granted by the files and not in the group yet (apply has not run, the person is not a
    /// user yet, or the group does not exist yet).
    Pending,
}

impl Status {
    /// The word in the report.
    pub fn label(self) -> &'static str {
        match self {
            Status::Granted => "granted",
            Status::NotInFile => "not_in_file",
            Status::Pending => "pending",
        }
    }
}

/// How the files manage a row's list of its group (the scope a plan shows).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// Listed, `sync: exact`: the group ends up with exactly its entries.
    Exact,
    /// Listed, `sync: additive`: its entries are ensured, nobody is removed.
    Additive,
    /// Listed `external: true`: managed elsewhere, never written.
    External,
    /// The files say the group must not exist (`absent: true`, or not listed under `prune: true`):
    /// apply deletes it.
    Absent,
    /// Not listed (and no `prune`), or listed without this list (`members:` or `guests:` left out):
    /// left as it is.
    Unmanaged,
    /// Matches `ignore`.
    Ignored,
}

impl Scope {
    /// The word in the report.
    pub fn label(self) -> &'static str {
        match self {
            Scope::Exact => "exact",
            Scope::Additive => "additive",
            Scope::External => "external",
            Scope::Absent => "absent",
            Scope::Unmanaged => "unmanaged",
            Scope::Ignored => "ignored",
        }
    }
}

/// One row of the report. The fields are in column order, and rows sort on all of them.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct AccessRow {
    /// The group's name: its live name, or the files' name for a group that does not exist yet.
    pub group: String,
    /// Member or guest.
    pub kind: Kind,
    /// The person's email, when known.
    pub email: Option<Email>,
    /// A member's user id, when known.
    pub user_id: Option<UserId>,
    /// The person's name, when known.
    pub name: Option<String>,
    /// How their access compares with the files.
    pub status: Status,
    /// `file:line:col` of the entry that grants them (their typed entry, else where the source
    /// that yielded them is defined); none when the files do not grant them.
    pub declared_at: Option<String>,
    /// The sources that yielded them, sorted, joined with `;`.
    pub source: Option<String>,
    /// The last day the files grant them access (inclusive); none: no end, or not granted.
    pub until: Option<Date>,
    /// How the files manage this list of the group.
    pub scope: Scope,
}

impl AccessRow {
    /// The row's cells as text, in column order (empty for none).
    pub fn cells(&self) -> [String; 10] {
        let text = |v: Option<String>| v.unwrap_or_default();
        [
            self.group.clone(),
            self.kind.label().to_string(),
            text(self.email.as_ref().map(ToString::to_string)),
            text(self.user_id.map(|id| id.to_string())),
            text(self.name.clone()),
            self.status.label().to_string(),
            text(self.declared_at.clone()),
            text(self.source.clone()),
            text(self.until.map(|d| d.to_string())),
            self.scope.label().to_string(),
        ]
    }
}

/// Live groups whose lists were not read whole: a report from them would misstate who has
/// access, so there is none.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", incomplete_message(.0))]
pub struct Incomplete(pub Vec<UnreadGroup>);

fn incomplete_message(groups: &[UnreadGroup]) -> String {
    let mut text = format!(
        "cannot report access: Tallyfy did not return the whole member or guest list of {}, also when read alone, and a partial list would misstate who has access; nothing was written:",
        crate::render::plural(groups.len(), "group", "groups"),
    );
    for g in groups {
        let why: Vec<String> = g.unread.iter().map(ToString::to_string).collect();
        text.push_str(&format!("\n  - group \"{}\" (id {}): {}", crate::names::visible(&g.name), g.id, why.join("; ")));
    }
    text.push_str("\n    hint: run again later; if it persists, check the group in Tallyfy, or report the other groups with --only");
    text
}

/// The rows of the groups `only` selects (by the row's group name), sorted. `desired` must be
/// expanded ([`crate::desired::expand`], after `external: true` members are filled in) and its
/// dates evaluated ([`crate::expiry::evaluate`]): an entry whose day has passed grants nothing.
pub fn rows(desired: &DesiredState, live: &LiveState, only: &Selection) -> Result<Vec<AccessRow>, Incomplete> {
    let directory = Directory::new(&live.users);
    let groups = &desired.groups;
    let mut by_name: HashMap<String, usize> = HashMap::new();
    for (i, g) in groups.iter().enumerate() {
        by_name.entry(name_key(&g.name.value)).or_insert(i);
    }
    let mut by_old_name: HashMap<String, usize> = HashMap::new();
    for (i, g) in groups.iter().enumerate() {
        for old in &g.previously {
            by_old_name.entry(name_key(&old.value)).or_insert(i);
        }
    }
    // A group found under its old name is that group, unless a live group has its name already.
    let live_keys: BTreeSet<String> = live.groups.iter().map(|l| name_key(&l.name)).collect();
    let listed = |l: &LiveGroup| {
        let key = name_key(&l.name);
        by_name.get(&key).or_else(|| by_old_name.get(&key).filter(|&&i| !live_keys.contains(&name_key(&groups[i].name.value)))).copied()
    };

    let mut out = Vec::new();
    let mut unread = Vec::new();
    let mut seen = BTreeSet::new();
    for l in &live.groups {
        if !only.includes(&l.name) {
            continue;
        }
        if !l.unread.is_empty() {
            unread.push(UnreadGroup { name: l.name.clone(), id: l.id.clone(), unread: l.unread.clone() });
            continue;
        }
        let index = listed(l);
        seen.extend(index);
        let desired_group = index.map(|i| &groups[i]);
        let grants = index.map(|i| Grants::of(desired, &by_name, i, &directory)).unwrap_or_default();
        live_rows(desired, desired_group, l, grants, &directory, live, &mut out);
    }
    if !unread.is_empty() {
        return Err(Incomplete(unread));
    }
    for (i, g) in groups.iter().enumerate() {
        if seen.contains(&i) || g.absent || g.external || !only.includes(&g.name.value) {
            continue;
        }
        let grants = Grants::of(desired, &by_name, i, &directory);
        let scopes = [Kind::Member, Kind::Guest].map(|kind| scope_of(desired, Some(g), &g.name.value, kind));
        pending_rows(&g.name.value, Some(g), grants, scopes, &directory, live, &mut out);
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// What the files grant one person of a group.
#[derive(Debug, Clone)]
struct Grant {
    declared_at: Location,
    sources: BTreeSet<String>,
    until: End,
}

impl Grant {
    fn merge(&mut self, other: Grant) {
        self.declared_at = self.declared_at.clone().min(other.declared_at);
        self.sources.extend(other.sources);
        self.until = self.until.later(other.until);
    }
}

/// When a grant ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    /// No `until`.
    Never,
    /// The last day.
    On(Date),
}

impl End {
    fn later(self, other: End) -> End {
        match (self, other) {
            (End::On(a), End::On(b)) => End::On(a.max(b)),
            _ => End::Never,
        }
    }

    fn earlier(self, other: End) -> End {
        match (self, other) {
            (End::On(a), End::On(b)) => End::On(a.min(b)),
            (End::On(d), End::Never) | (End::Never, End::On(d)) => End::On(d),
            (End::Never, End::Never) => End::Never,
        }
    }

    fn date(self) -> Option<Date> {
        match self {
            End::Never => None,
            End::On(d) => Some(d),
        }
    }
}

/// Who a member entry is, once looked up: a user, or an address no single user has.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Who {
    User(UserId),
    Address(Email),
}

/// What the files grant in one group's managed lists.
#[derive(Debug, Default)]
struct Grants {
    members: Option<BTreeMap<Who, Grant>>,
    guests: Option<BTreeMap<Email, Grant>>,
}

impl Grants {
    fn of(desired: &DesiredState, by_name: &HashMap<String, usize>, i: usize, directory: &Directory<'_>) -> Self {
        let g = &desired.groups[i];
        let Some(expanded) = g.expanded.as_ref().filter(|_| !g.absent && !g.external) else { return Grants::default() };
        let members = g.members.as_ref().and(expanded.members.as_ref()).map(|people| {
            let mut out: BTreeMap<Who, Grant> = BTreeMap::new();
            for p in people {
                let who = match &p.value {
                    MemberRef::Id(id) => Who::User(*id),
                    MemberRef::Email(e) => directory.by_email(e).map_or_else(|| Who::Address(e.clone()), |u| Who::User(u.id)),
                };
                let sources = source_names(p);
                let until = member_end(desired, by_name, i, &p.value, &sources, 0).unwrap_or(End::Never);
                add(&mut out, who, Grant { declared_at: p.at.clone(), sources, until });
            }
            out
        });
        let guests = g.guests.as_ref().and(expanded.guests.as_ref()).map(|people| {
            let mut out: BTreeMap<Email, Grant> = BTreeMap::new();
            for p in people {
                let sources = source_names(p);
                let until = guest_end(g, &p.value, &sources).unwrap_or(End::Never);
                add(&mut out, p.value.clone(), Grant { declared_at: p.at.clone(), sources, until });
            }
            out
        });
        Grants { members, guests }
    }
}

fn add<K: Ord>(map: &mut BTreeMap<K, Grant>, key: K, grant: Grant) {
    match map.entry(key) {
        std::collections::btree_map::Entry::Occupied(mut e) => e.get_mut().merge(grant),
        std::collections::btree_map::Entry::Vacant(e) => {
            e.insert(grant);
        }
    }
}

/// The names of the sources that yielded a person.
fn source_names<T>(p: &Expanded<T>) -> BTreeSet<String> {
    p.origins
        .iter()
        .filter_map(|o| match o {
            Provenance::Source { source, .. } => Some(source.clone()),
            Provenance::Static { .. } => None,
        })
        .collect()
}

/// The last day of the entry written at `at` in group `g`, or none for an entry without `until`.
fn entry_end(g: &DesiredGroup, at: &Location) -> End {
    g.expiries.iter().find(|e| &e.at == at).map_or(End::Never, |e| End::On(e.until.value))
}

/// When the latest of group `i`'s grants of member `p` ends: its typed entries, its `{source}`
/// entries of a source that yielded them (`sources`), and its `{group}` entries (each ending at
/// the earlier of its own `until` and the included group's grant); none when nothing grants them.
fn member_end(
    desired: &DesiredState,
    by_name: &HashMap<String, usize>,
    i: usize,
    p: &MemberRef,
    sources: &BTreeSet<String>,
    depth: usize,
) -> Option<End> {
    let g = &desired.groups[i];
    let mut best: Option<End> = None;
    let mut grant = |end: End| best = Some(best.map_or(end, |b| b.later(end)));
    if g.external
        && let MemberRef::Id(id) = p
        && desired.external_members.get(&name_key(&g.name.value)).is_some_and(|ids| ids.contains(id))
    {
        grant(End::Never);
    }
    for m in g.members.iter().flatten().filter(|m| &m.value == p) {
        grant(entry_end(g, &m.at));
    }
    if matches!(p, MemberRef::Email(_)) {
        for r in g.member_sources.iter().filter(|r| sources.contains(&r.value)) {
            grant(entry_end(g, &r.at));
        }
    }
    // Validation refuses cycles; the depth bound keeps a state built by hand finite.
    if depth < desired.groups.len() {
        for r in &g.member_groups {
            let Some(&j) = by_name.get(&name_key(&r.value)) else { continue };
            if desired.groups[j].absent {
                continue;
            }
            if let Some(inner) = member_end(desired, by_name, j, p, sources, depth + 1) {
                grant(entry_end(g, &r.at).earlier(inner));
            }
        }
    }
    best
}

/// When the latest of group `g`'s grants of guest `email` ends.
fn guest_end(g: &DesiredGroup, email: &Email, sources: &BTreeSet<String>) -> Option<End> {
    let typed = g.guests.iter().flatten().filter(|e| &e.value == email).map(|e| entry_end(g, &e.at));
    let from_sources = g.guest_sources.iter().filter(|r| sources.contains(&r.value)).map(|r| entry_end(g, &r.at));
    typed.chain(from_sources).reduce(End::later)
}

/// How the files manage `kind` of the live group `l` (listed as `g`, when it is).
fn scope_of(desired: &DesiredState, g: Option<&DesiredGroup>, name: &str, kind: Kind) -> Scope {
    match g {
        Some(g) if g.absent => Scope::Absent,
        Some(g) if g.external => Scope::External,
        Some(g) if (kind == Kind::Member && g.members.is_none()) || (kind == Kind::Guest && g.guests.is_none()) => Scope::Unmanaged,
        Some(g) => match g.sync {
            Sync::Exact => Scope::Exact,
            Sync::Additive => Scope::Additive,
        },
        None if desired.settings.is_ignored(name) => Scope::Ignored,
        None if desired.settings.prune && desired.settings.owns(name) => Scope::Absent,
        None => Scope::Unmanaged,
    }
}

fn person_name(u: &User) -> Option<String> {
    let name = format!("{} {}", u.first_name.trim(), u.last_name.trim());
    let name = name.trim();
    (!name.is_empty()).then(|| name.to_string())
}

fn user_email(u: &User) -> Option<Email> {
    (!u.email.as_str().trim().is_empty()).then(|| u.email.clone())
}

/// A guest's name: as Tallyfy holds it when the guest list was read, else as the files give it.
fn guest_name(email: &Email, g: Option<&DesiredGroup>, live: &LiveState) -> Option<String> {
    let held = live.guests.iter().flatten().find(|x| &x.email == email).map(|x| format!("{} {}", x.first_name.trim(), x.last_name.trim()));
    let given = || {
        g.and_then(|g| g.guest_names.get(email)).map(|n| {
            format!("{} {}", n.first_name.as_deref().unwrap_or_default().trim(), n.last_name.as_deref().unwrap_or_default().trim())
        })
    };
    held.or_else(given).map(|n| n.trim().to_string()).filter(|n| !n.is_empty())
}

fn granted(row: &mut AccessRow, grant: Grant) {
    row.declared_at = Some(grant.declared_at.to_string());
    row.source = (!grant.sources.is_empty()).then(|| grant.sources.into_iter().collect::<Vec<_>>().join(";"));
    row.until = grant.until.date();
}

/// The rows of a live group: everyone in it, then everyone the files grant who is not.
fn live_rows(
    desired: &DesiredState,
    g: Option<&DesiredGroup>,
    l: &LiveGroup,
    mut grants: Grants,
    directory: &Directory<'_>,
    live: &LiveState,
    out: &mut Vec<AccessRow>,
) {
    let member_scope = scope_of(desired, g, &l.name, Kind::Member);
    let guest_scope = scope_of(desired, g, &l.name, Kind::Guest);
    for &id in &l.members {
        let user = directory.get(id);
        let mut row = AccessRow {
            group: l.name.clone(),
            kind: Kind::Member,
            email: user.and_then(user_email),
            user_id: Some(id),
            name: user.and_then(person_name),
            status: Status::NotInFile,
            declared_at: None,
            source: None,
            until: None,
            scope: member_scope,
        };
        if let Some(grant) = grants.members.as_mut().and_then(|m| m.remove(&Who::User(id))) {
            row.status = Status::Granted;
            granted(&mut row, grant);
        }
        out.push(row);
    }
    for email in &l.guests {
        let mut row = AccessRow {
            group: l.name.clone(),
            kind: Kind::Guest,
            email: Some(email.clone()),
            user_id: None,
            name: guest_name(email, g, live),
            status: Status::NotInFile,
            declared_at: None,
            source: None,
            until: None,
            scope: guest_scope,
        };
        if let Some(grant) = grants.guests.as_mut().and_then(|m| m.remove(email)) {
            row.status = Status::Granted;
            granted(&mut row, grant);
        }
        out.push(row);
    }
    pending_rows(&l.name, g, grants, [member_scope, guest_scope], directory, live, out);
}

/// A row for everyone the files grant in `group` (what is left of `grants`): not in it yet.
/// `scopes`: of its members, of its guests.
fn pending_rows(
    group: &str,
    g: Option<&DesiredGroup>,
    grants: Grants,
    [member_scope, guest_scope]: [Scope; 2],
    directory: &Directory<'_>,
    live: &LiveState,
    out: &mut Vec<AccessRow>,
) {
    for (who, grant) in grants.members.into_iter().flatten() {
        let (email, user_id, name) = match &who {
            Who::User(id) => {
                let user = directory.get(*id);
                (user.and_then(user_email), Some(*id), user.and_then(person_name))
            }
            Who::Address(e) => (Some(e.clone()), None, None),
        };
        let mut row = AccessRow {
            group: group.to_string(),
            kind: Kind::Member,
            email,
            user_id,
            name,
            status: Status::Pending,
            declared_at: None,
            source: None,
            until: None,
            scope: member_scope,
        };
        granted(&mut row, grant);
        out.push(row);
    }
    for (email, grant) in grants.guests.into_iter().flatten() {
        let name = guest_name(&email, g, live);
        let mut row = AccessRow {
            group: group.to_string(),
            kind: Kind::Guest,
            email: Some(email),
            user_id: None,
            name,
            status: Status::Pending,
            declared_at: None,
            source: None,
            until: None,
            scope: guest_scope,
        };
        granted(&mut row, grant);
        out.push(row);
    }
}

/// The first characters that make a spreadsheet read a cell as a formula (CWE-1236).
const FORMULA_STARTS: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

/// One CSV cell: a cell a spreadsheet could read as a formula gets a `'` in front and is quoted;
/// a cell holding a comma, a quote or a line break is quoted (quotes doubled, RFC 4180).
pub fn csv_cell(text: &str) -> String {
    let quote = |t: &str| format!("\"{}\"", t.replace('"', "\"\""));
    if text.starts_with(FORMULA_STARTS) {
        quote(&format!("'{text}"))
    } else if text.contains([',', '"', '\n', '\r']) {
        quote(text)
    } else {
        text.to_string()
    }
}

/// The rows as CSV: the header ([`COLUMNS`]), then one line per row, each ending with `\n`.
pub fn to_csv(rows: &[AccessRow]) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{}", COLUMNS.join(","));
    for row in rows {
        let cells: Vec<String> = row.cells().iter().map(|c| csv_cell(c)).collect();
        let _ = writeln!(out, "{}", cells.join(","));
    }
    out
}

/// The JSON document.
#[derive(Serialize)]
struct Document<'a> {
    format_version: u32,
    organization: &'a str,
    as_of: Date,
    rows: &'a [AccessRow],
}

/// The rows as one JSON document: `format_version`, the `organization`, the day the files' dates
/// were evaluated as of, and the rows (each with every column; `null` where the CSV cell is
/// empty).
pub fn to_json(rows: &[AccessRow], organization: &str, as_of: Date) -> String {
    let doc = Document { format_version: FORMAT_VERSION, organization, as_of, rows };
    let mut text = serde_json::to_string_pretty(&doc).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
    text.push('\n');
    text
}

#[cfg(test)]
mod tests;
