//! The loader: reads `groups.yaml` files into a validated [`DesiredState`], with a source
//! location on every item. [`read_sources`] does the file I/O; everything else here is pure.

pub(crate) mod de;
mod expand;
pub(crate) mod parse;
pub mod raw;
mod validate;

pub use expand::{ExpandError, Expanded, Expansion, GroupExpansion, expand};

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::model::{Email, UserId};
use crate::source::SourceSpec;
use crate::warning::Warning;

/// Largest file the loader reads; bigger ones are refused before parsing.
pub const MAX_FILE_BYTES: u64 = 64 * 1024 * 1024;

/// Default description for new groups when neither the group nor the settings give one.
pub const DEFAULT_DESCRIPTION: &str = "Managed in groups.yaml";

/// Where an item was written: file, 1-based line and column.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Location {
    /// The file's name, as given.
    pub file: Arc<str>,
    /// The line, from 1.
    pub line: usize,
    /// The column, from 1.
    pub column: usize,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.column)
    }
}

/// A value and where it was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located<T> {
    /// The value.
    pub value: T,
    /// Where it was written.
    pub at: Location,
}

/// One problem found in the desired state.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Diagnostic {
    /// Where, when the problem has a place.
    pub at: Option<Location>,
    /// What is wrong.
    pub message: String,
    /// What to do about it, if there is more to say.
    pub hint: Option<String>,
}

impl Diagnostic {
    /// A problem at `at`.
    pub fn at(at: &Location, message: impl Into<String>) -> Self {
        Diagnostic { at: Some(at.clone()), message: message.into(), hint: None }
    }

    /// The same problem, with a hint.
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(at) = &self.at {
            write!(f, "{at}: ")?;
        }
        write!(f, "{}", self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, "\n    hint: {hint}")?;
        }
        Ok(())
    }
}

/// Every problem found, in file order.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0.len();
        writeln!(f, "{n} problem{} found:", if n == 1 { "" } else { "s" })?;
        for d in &self.0 {
            writeln!(f, "  {d}")?;
        }
        Ok(())
    }
}

/// A member as written: an email (preferred) or a numeric user id.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum MemberRef {
    /// By email.
    Email(Email),
    /// By user id.
    Id(UserId),
}

impl fmt::Display for MemberRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MemberRef::Email(e) => e.fmt(f),
            MemberRef::Id(id) => write!(f, "user id {id}"),
        }
    }
}

/// A guest's names as groups.yaml gives them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuestName {
    /// The first name, if given.
    pub first_name: Option<String>,
    /// The last name, if given.
    pub last_name: Option<String>,
}

/// What an entry with an `until` grants.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Entry {
    /// A member typed as `{email}` or `{id}`.
    Member(MemberRef),
    /// A guest typed as `{email}`.
    Guest(Email),
    /// `{source}` under `members`.
    MemberSource(String),
    /// `{source}` under `guests`.
    GuestSource(String),
    /// `{group}` under `members`.
    MemberGroup(String),
}

impl Entry {
    /// Whether the entry is under `guests`.
    pub fn is_guest(&self) -> bool {
        matches!(self, Entry::Guest(_) | Entry::GuestSource(_))
    }
}

impl fmt::Display for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Entry::Member(m) => m.fmt(f),
            Entry::Guest(e) => e.fmt(f),
            Entry::MemberSource(n) | Entry::GuestSource(n) => write!(f, "source {n}"),
            Entry::MemberGroup(n) => write!(f, "group \"{n}\""),
        }
    }
}

/// The end of an entry's access: its `until` (inclusive) and `reason`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expiry {
    /// What the entry grants.
    pub entry: Entry,
    /// Where the entry is written: the same location its list holds it under.
    pub at: Location,
    /// The last day it grants access.
    pub until: Located<crate::date::Date>,
    /// Why it is there.
    pub reason: Option<String>,
}

/// `review:` of a group: its members are attested every `every_days` days.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Review {
    /// Days between reviews.
    pub every_days: u32,
    /// The day of the last review.
    pub last: Located<crate::date::Date>,
}

/// A group as the desired state describes it.
#[derive(Debug, Clone, PartialEq)]
pub struct DesiredGroup {
    /// The group's name.
    pub name: Located<String>,
    /// `None`: the description is not managed (kept as it is live).
    pub description: Option<Located<String>>,
    /// `None`: members are not managed (kept as they are live; empty on create). The members
    /// typed as emails or ids; `{source}` and `{group}` entries are in `member_sources` and
    /// `member_groups`, and [`expand`] puts everyone together in `expanded`.
    pub members: Option<Vec<Located<MemberRef>>>,
    /// `None`: guests are not managed. The guests typed as emails; `{source}` entries are in
    /// `guest_sources`.
    pub guests: Option<Vec<Located<Email>>>,
    /// The `{source: NAME}` entries of `members`, in file order (the name, where it is written).
    pub member_sources: Vec<Located<String>>,
    /// The `{group: NAME}` entries of `members`, in file order (the name, where it is written).
    pub member_groups: Vec<Located<String>>,
    /// The `{source: NAME}` entries of `guests`, in file order (the name, where it is written).
    pub guest_sources: Vec<Located<String>>,
    /// Everyone the entries name, with where each comes from: `None` until [`expand`] runs.
    pub expanded: Option<GroupExpansion>,
    /// Names given to guests written as `{email, first_name, last_name}`: used when the guest is
    /// invited (an existing guest's names are not managed).
    pub guest_names: std::collections::BTreeMap<Email, GuestName>,
    /// Old names: a live group found under one of these is renamed, not recreated.
    pub previously: Vec<Located<String>>,
    /// `true`: the group must not exist.
    pub absent: bool,
    /// Where the group's entry starts.
    pub at: Location,
    /// The entries that carry an `until`, in file order (the entries themselves are in the
    /// lists above; [`crate::expiry::evaluate`] takes out the ones whose day has passed).
    pub expiries: Vec<Expiry>,
    /// `review:`, when the group is reviewed periodically.
    pub review: Option<Review>,
    /// Entries with no `until`, under `guests` (for `max_guest_days`), by where they are written.
    pub guests_without_until: Vec<Location>,
    /// `sync:`: exactly the entries, or only adding them.
    pub sync: Sync,
    /// `keep:`: live members and guests the group never removes or adds.
    pub keep: Vec<Located<KeepRule>>,
    /// `external: true`: managed elsewhere; never written.
    pub external: bool,
}

/// How a group's lists are reconciled (`sync:`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Sync {
    /// The group ends up with exactly its entries.
    #[default]
    Exact,
    /// The entries are ensured; nobody is removed.
    Additive,
}

/// One `keep:` rule: people it matches are never removed or added.
#[derive(Debug, Clone, PartialEq)]
pub enum KeepRule {
    /// A member by user id.
    Id(UserId),
    /// Members and guests whose email matches the glob (ignoring case).
    Email(glob::Pattern),
}

impl KeepRule {
    /// Whether the rule keeps a member with this id and email.
    pub fn keeps_member(&self, id: UserId, email: Option<&Email>) -> bool {
        match self {
            KeepRule::Id(k) => *k == id,
            KeepRule::Email(p) => email.is_some_and(|e| p.matches(e.as_str())),
        }
    }

    /// Whether the rule keeps this guest.
    pub fn keeps_guest(&self, email: &Email) -> bool {
        matches!(self, KeepRule::Email(p) if p.matches(email.as_str()))
    }
}

impl DesiredGroup {
    /// Whether the group has `{source}` or `{group}` entries (its people are known only once
    /// [`expand`] has run).
    pub fn includes_others(&self) -> bool {
        !self.member_sources.is_empty() || !self.member_groups.is_empty() || !self.guest_sources.is_empty()
    }
}

/// `settings:` of groups.yaml.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// Delete live groups that are not listed (and not ignored).
    pub prune: bool,
    /// Compiled `ignore` globs.
    pub ignore: Vec<Located<glob::Pattern>>,
    /// The description new groups get when they name none.
    pub default_description: Option<String>,
    /// Removal guard: the most groups one apply may delete.
    pub max_deleted_groups: usize,
    /// Removal guard: the largest share (0 to 1) of current memberships one apply may
    /// remove.
    pub max_removed_ratio: f64,
    /// The ratio applies only when more memberships than this are removed.
    pub min_removed_for_ratio: usize,
    /// What a disabled member listed in the file is.
    pub disabled_members: DisabledMembers,
    /// Entries whose `until` is at most this many days away are expiring soon.
    pub expiry_warning_days: u32,
    /// Every guest entry must carry an `until` at most this many days away.
    pub max_guest_days: Option<Located<u32>>,
    /// An `until` on a member entry may be at most this many days away.
    pub max_member_days: Option<Located<u32>>,
    /// An overdue review: shown (`Warn`), or an error (`Error`).
    pub overdue_review: DisabledMembers,
    /// With an owners file: the group globs of all its rules (over folded names). `prune`
    /// deletes only live groups one of them matches; the others are not managed.
    pub owned: Option<Vec<glob::Pattern>>,
}

/// `settings.disabled_members` (a member disabled in Tallyfy is left out with a warning, as
/// Tallyfy removes disabled users from groups itself, or is an error) and
/// `settings.overdue_review` (an overdue review is shown, or is an error).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum DisabledMembers {
    /// Left out, with a warning.
    #[default]
    Warn,
    /// An error.
    Error,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            prune: false,
            ignore: Vec::new(),
            default_description: None,
            max_deleted_groups: 5,
            max_removed_ratio: 0.25,
            min_removed_for_ratio: 10,
            disabled_members: DisabledMembers::Warn,
            expiry_warning_days: DEFAULT_EXPIRY_WARNING_DAYS,
            max_guest_days: None,
            max_member_days: None,
            overdue_review: DisabledMembers::Warn,
            owned: None,
        }
    }
}

/// `settings.expiry_warning_days` when the file does not say.
pub const DEFAULT_EXPIRY_WARNING_DAYS: u32 = 14;

impl Settings {
    /// Whether a live group name matches one of the `ignore` globs.
    pub fn is_ignored(&self, name: &str) -> bool {
        self.ignore.iter().any(|p| p.value.matches(name))
    }

    /// Whether `prune` may delete a live group of this name: any, without an owners file; with
    /// one, those some rule lets its files define.
    pub fn owns(&self, name: &str) -> bool {
        let key = crate::model::name_key(name);
        self.owned.as_ref().is_none_or(|globs| globs.iter().any(|g| g.matches(&key)))
    }

    /// The description a new group gets when it names none.
    pub fn description_for_new(&self) -> &str {
        self.default_description.as_deref().unwrap_or(DEFAULT_DESCRIPTION)
    }
}

/// The validated desired state of all input files.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct DesiredState {
    /// The settings (`settings:` may be written in one file only), or the defaults.
    pub settings: Settings,
    /// The groups of every file, in the order read.
    pub groups: Vec<DesiredGroup>,
    /// The sources declared under `sources:` in every file, sorted by name.
    pub sources: Vec<SourceSpec>,
    /// The names of the files read, in order (for messages).
    pub files: Vec<String>,
    /// What a reviewer should know but does not stop a plan: a source no group uses, what
    /// reading the sources left out. Every plan made from this state carries them.
    pub warnings: Vec<Warning>,
    /// Where `settings:` is written, when it is.
    pub settings_at: Option<Location>,
    /// The live members of the `external: true` groups other groups include with `{group}`, by
    /// folded name: filled from live state before [`expand`] (an external group is managed
    /// elsewhere, so its members are Tallyfy's).
    pub external_members: std::collections::BTreeMap<String, Vec<UserId>>,
}

impl DesiredState {
    /// Whether any group manages guests (the guest list then has to be read).
    pub fn names_guests(&self) -> bool {
        self.groups.iter().any(|g| g.guests.as_ref().is_some_and(|v| !v.is_empty()) || !g.guest_sources.is_empty())
    }

    /// The sources that at least one group (not `absent`) names in a `{source}` entry, sorted
    /// by name: the ones to read before [`expand`]. A `list` source is among them but needs no
    /// read (its addresses are in the file; [`expand`] takes them from the declaration).
    pub fn used_sources(&self) -> Vec<&SourceSpec> {
        let used: std::collections::BTreeSet<&str> = self
            .groups
            .iter()
            .filter(|g| !g.absent)
            .flat_map(|g| g.member_sources.iter().chain(&g.guest_sources))
            .map(|s| s.value.as_str())
            .collect();
        self.sources.iter().filter(|s| used.contains(s.name.as_str())).collect()
    }

    /// The `external: true` groups that other groups include with `{group}`.
    pub fn included_external(&self) -> Vec<&DesiredGroup> {
        let included: std::collections::BTreeSet<String> = self
            .groups
            .iter()
            .filter(|g| !g.absent)
            .flat_map(|g| g.member_groups.iter().map(|r| crate::model::name_key(&r.value)))
            .collect();
        self.groups.iter().filter(|g| g.external && included.contains(&crate::model::name_key(&g.name.value))).collect()
    }

    /// The source of this name.
    pub fn source(&self, name: &str) -> Option<&SourceSpec> {
        self.sources.iter().find(|s| s.name == name)
    }
}

/// The text of one input file.
#[derive(Debug, Clone)]
pub struct Source {
    /// The path as the user gave it (used in every location).
    pub name: String,
    /// Its content.
    pub bytes: Vec<u8>,
}

/// Why the input files could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// A file or directory could not be read.
    #[error("cannot read {path}: {source}{}", missing_hint(source))]
    Io {
        /// The path, as given.
        path: String,
        /// Why it could not be read.
        source: std::io::Error,
    },
    /// A file is larger than [`MAX_FILE_BYTES`].
    #[error(
        "{path} is larger than 64 MiB{}, the limit for one file; split it into several files in a directory",
        size.map(|s| format!(" ({s} bytes)")).unwrap_or_default()
    )]
    TooLarge {
        /// The path, as given.
        path: String,
        /// The size, when the file is a regular file (a pipe or device has none).
        size: Option<u64>,
    },
    /// A directory holds no `*.yaml` or `*.yml` file.
    #[error("{path} is a directory with no *.yaml or *.yml files")]
    EmptyDirectory {
        /// The directory, as given.
        path: String,
    },
    /// No file was given.
    #[error("no input files: pass -f groups.yaml (or a directory of *.yaml files)")]
    NoInput,
}

/// What to do when a groups file is not there.
fn missing_hint(e: &std::io::Error) -> &'static str {
    if e.kind() == std::io::ErrorKind::NotFound {
        "\n    hint: name the groups files with -f PATH, or start one from the live groups with `tallyfy-groups export --out groups.yaml`"
    } else {
        ""
    }
}

/// Reads the files and directories given with `-f` (a directory contributes its `*.yaml` and
/// `*.yml` files, sorted by name, not recursively, and not its dot-files). This is the loader's only I/O.
pub fn read_sources(paths: &[PathBuf]) -> Result<Vec<Source>, ReadError> {
    if paths.is_empty() {
        return Err(ReadError::NoInput);
    }
    let mut sources = Vec::new();
    // `-f a.yaml -f a.yaml`, or a file and its directory: each file is read once.
    let mut seen = std::collections::HashSet::new();
    let mut first_time = |path: &Path| seen.insert(std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf()));
    for path in paths {
        let meta = std::fs::metadata(path).map_err(|source| ReadError::Io { path: show(path), source })?;
        if meta.is_dir() {
            let mut files: Vec<PathBuf> = std::fs::read_dir(path)
                .map_err(|source| ReadError::Io { path: show(path), source })?
                .filter_map(|e| e.ok().map(|e| e.path()))
                // Dot-files (an editor's `.groups.yaml.swp`, `.hidden.yaml`) are not groups files.
                .filter(|p| !p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with('.')))
                .filter(|p| p.is_file() && matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml")))
                .collect();
            files.sort();
            if files.is_empty() {
                return Err(ReadError::EmptyDirectory { path: show(path) });
            }
            for file in files.into_iter().filter(|f| first_time(f)) {
                sources.push(read_one(&file)?);
            }
        } else if first_time(path) {
            sources.push(read_one(path)?);
        }
    }
    Ok(sources)
}

fn read_one(path: &Path) -> Result<Source, ReadError> {
    match read_bounded(path, MAX_FILE_BYTES) {
        Ok(Bounded::Read(bytes)) => Ok(Source { name: show(path), bytes }),
        Ok(Bounded::TooLarge { size }) => Err(ReadError::TooLarge { path: show(path), size }),
        Err(source) => Err(ReadError::Io { path: show(path), source }),
    }
}

/// What [`read_bounded`] found.
#[derive(Debug, PartialEq, Eq)]
pub enum Bounded {
    /// The whole content, at most the limit.
    Read(Vec<u8>),
    /// More than the limit.
    TooLarge {
        /// The file's size, when it is a regular file.
        size: Option<u64>,
    },
}

/// Reads a file of any kind (a regular file, a FIFO, a device such as `/dev/zero`, a process
/// substitution) but never more than `limit` bytes of it, so no input can exhaust memory.
pub fn read_bounded(path: &Path, limit: u64) -> std::io::Result<Bounded> {
    use std::io::Read;
    let file = std::fs::File::open(path)?;
    let meta = file.metadata()?;
    if meta.is_file() && meta.len() > limit {
        return Ok(Bounded::TooLarge { size: Some(meta.len()) });
    }
    let mut bytes = Vec::new();
    file.take(limit.saturating_add(1)).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Ok(Bounded::TooLarge { size: meta.is_file().then_some(meta.len()) });
    }
    Ok(Bounded::Read(bytes))
}

fn show(path: &Path) -> String {
    path.display().to_string()
}

/// Parses and validates every source; returns every problem at once.
/// Takes the sources by value so that each file's text is freed as soon as it is parsed.
pub fn load(sources: Vec<Source>) -> Result<DesiredState, Diagnostics> {
    let names: Vec<String> = sources.iter().map(|s| s.name.clone()).collect();
    let mut diags = Vec::new();
    let mut files = Vec::new();
    for source in sources {
        match parse::parse_file(source) {
            Ok((file, mut d)) => {
                diags.append(&mut d);
                files.push(file);
            }
            Err(mut d) => diags.append(&mut d),
        }
    }
    let mut state = validate::merge_and_check(files, &mut diags);
    state.files = names;
    if diags.is_empty() {
        Ok(state)
    } else {
        diags.sort();
        diags.dedup();
        Err(Diagnostics(diags))
    }
}

/// Whether a file holds nothing but blank lines and comments.
pub fn is_blank(bytes: &[u8]) -> bool {
    match std::str::from_utf8(bytes) {
        Ok(text) => {
            parse::lines(text.strip_prefix('\u{feff}').unwrap_or(text)).all(|l| l.trim().is_empty() || l.trim_start().starts_with('#'))
        }
        Err(_) => false,
    }
}

/// Loads a baseline (`plan --baseline`): the target branch's files, where a blank file stands for
/// a branch that has no groups yet (a pipeline writes one when the file is missing there).
/// Anything else is checked exactly as by [`load`]; in `-f` files a blank file stays an error.
pub fn load_baseline(sources: Vec<Source>) -> Result<DesiredState, Diagnostics> {
    let sources: Vec<Source> = sources.into_iter().filter(|s| !is_blank(&s.bytes)).collect();
    if sources.is_empty() {
        return Ok(DesiredState::default());
    }
    load(sources)
}

/// Parses one in-memory document (for tests and tools).
///
/// ```
/// let state = tallyfy_groups_core::desired::load_str("groups.yaml", "groups:\n  - name: Ops\n    members: [ann@example.com]\n").unwrap();
/// assert_eq!(state.groups[0].name.value, "Ops");
/// let errors = tallyfy_groups_core::desired::load_str("groups.yaml", "groups:\n  - name: Ops\n    member: []\n").unwrap_err();
/// assert!(errors.to_string().contains("groups.yaml:3:5: unknown group key `member`"));
/// ```
pub fn load_str(name: &str, text: &str) -> Result<DesiredState, Diagnostics> {
    load(vec![Source { name: name.to_string(), bytes: text.as_bytes().to_vec() }])
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod sources_tests;
