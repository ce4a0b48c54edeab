//! The apply journal (`apply --journal FILE`): one JSON line per target of every apply run,
//! chained by the SHA-256 of the line before it, so that an edit, a removal or an insertion
//! breaks the chain where it was made. The entry's types, the chain ([`line_sha256`],
//! [`append`], [`verify`]), the provenance read from CI variables, and the `journal show`
//! filter. Does file I/O ([`append`], [`verify_file`], [`read_entries`]) and nothing else; the
//! clock, the environment and `git` are the caller's.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::date::Date;
use crate::plan::{Action, ActionKind, MembershipChange, Plan};
use crate::report::{ApplyReport, Outcome as ActionOutcome};

/// The version of an entry's format; `journal verify` refuses others.
pub const FORMAT_VERSION: u32 = 1;

/// The `prev_sha256` of a journal's first line.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// One line of the journal: one target of one apply run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// [`FORMAT_VERSION`].
    pub format_version: u32,
    /// The SHA-256 (hex) of the previous line's bytes without its newline; [`GENESIS`] first.
    pub prev_sha256: String,
    /// Shared by the entries of one run (a workspace's targets).
    pub run_id: String,
    /// When the run started (RFC 3339, UTC).
    pub started_at: String,
    /// When it ended.
    pub finished_at: String,
    /// The version of tallyfy-groups that ran.
    pub tool_version: String,
    /// The organization and, in a workspace, the target's name.
    pub target: TargetRef,
    /// The commit the run came from.
    pub git: GitRef,
    /// Who ran it: the CI's user, or the local `USER`.
    pub actor: Option<String>,
    /// The checksum `plan --out` gives the plan (`sha256:…`), when there was a plan.
    pub plan_checksum: Option<String>,
    /// The `--allow-removals` reason that applied to the target.
    pub allow_removals: Option<String>,
    /// The policy rules overridden with `--allow-policy`, each with its reason.
    pub policy_overrides: Vec<PolicyOverride>,
    /// What the plan held, when there was one.
    pub summary: Option<EntrySummary>,
    /// How the target ended.
    pub outcome: RunOutcome,
    /// Why it was refused (`refused`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// What failed (`failed`, `interrupted`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// One result per action sent, in plan order (none when nothing was sent).
    pub results: Vec<EntryResult>,
}

/// Where a run's changes went.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetRef {
    /// The workspace target's name (none for the one organization of the command line).
    pub name: Option<String>,
    /// The organization's id (none when the run failed before it knew it).
    pub organization: Option<String>,
}

/// The commit a run came from.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GitRef {
    /// The repository (`owner/name`, or a remote's URL without any user or password).
    pub repo: Option<String>,
    /// The branch or ref.
    #[serde(rename = "ref")]
    pub git_ref: Option<String>,
    /// The commit's SHA.
    pub commit: Option<String>,
}

/// A policy rule overridden for one run (`--allow-policy RULE=REASON`).
pub use crate::policy::PolicyOverride;

/// The counts of a plan.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntrySummary {
    /// Groups to create.
    pub create: usize,
    /// Groups to update.
    pub update: usize,
    /// Groups to delete.
    pub delete: usize,
    /// Guests to invite.
    pub guests_to_invite: usize,
}

impl EntrySummary {
    /// The counts of `plan`.
    pub fn of(plan: &Plan) -> Self {
        let s = &plan.summary;
        EntrySummary { create: s.create, update: s.update, delete: s.delete, guests_to_invite: s.guests_to_invite }
    }
}

/// How a target of an apply run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunOutcome {
    /// Its changes were sent, and every one applied.
    Applied,
    /// Its plan was empty.
    NoChanges,
    /// A saved plan whose result live state already held.
    AlreadyApplied,
    /// A gate, a stale saved plan or a missing confirmation stopped it; nothing was sent.
    Refused,
    /// Declined at the prompt; nothing was sent.
    Declined,
    /// It failed: before anything was sent, or some of its actions did not apply.
    Failed,
    /// Ctrl-C or SIGTERM stopped it.
    Interrupted,
}

impl RunOutcome {
    /// Its name in the journal.
    pub fn as_str(self) -> &'static str {
        match self {
            RunOutcome::Applied => "applied",
            RunOutcome::NoChanges => "no_changes",
            RunOutcome::AlreadyApplied => "already_applied",
            RunOutcome::Refused => "refused",
            RunOutcome::Declined => "declined",
            RunOutcome::Failed => "failed",
            RunOutcome::Interrupted => "interrupted",
        }
    }
}

/// One action sent, and how it ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntryResult {
    /// What kind of call it was.
    pub action: ActionKind,
    /// The group's name (the new one, for a rename); none for a guest invitation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// The group's id (none for a create).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_id: Option<String>,
    /// The name it had, for a rename.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub renamed_from: Option<String>,
    /// The guest invited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guest: Option<String>,
    /// Emails of the members and guests it gave the group.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub added: Vec<String>,
    /// Emails (or `user N` when unknown) of the members and guests it took away.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub removed: Vec<String>,
    /// `applied`, `failed`, `skipped` or `unknown`.
    pub status: String,
    /// Why it did not apply.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The results of `report`, with what each action of `plan` changed.
pub fn results_of(plan: &Plan, report: &ApplyReport) -> Vec<EntryResult> {
    let email = |id: &crate::model::UserId| plan.users.get(id).map(|u| u.email.to_string()).unwrap_or_else(|| format!("user {id}"));
    report
        .results
        .iter()
        .map(|r| {
            let action = plan.actions.get(r.index);
            let (before, after) = match action {
                Some(Action::CreateGroup { after }) => (None, Some(after)),
                Some(Action::UpdateGroup { before, after, .. }) => (Some(before), Some(after)),
                Some(Action::DeleteGroup { before, .. }) => (Some(before), None),
                _ => (None, None),
            };
            let change = MembershipChange::between(before, after);
            let mut added: Vec<String> = change.members_added.iter().map(email).collect();
            added.extend(change.guests_added.iter().map(ToString::to_string));
            let mut removed: Vec<String> = change.members_removed.iter().map(email).collect();
            removed.extend(change.guests_removed.iter().map(ToString::to_string));
            let (group, group_id, guest) = match &r.subject {
                crate::report::Subject::Group { id, name } => (Some(name.clone()), id.as_ref().map(ToString::to_string), None),
                crate::report::Subject::Guest { email } => (None, None, Some(email.to_string())),
            };
            let renamed_from = match action {
                Some(Action::UpdateGroup { renamed_from, .. }) => renamed_from.clone(),
                _ => None,
            };
            let status = match r.outcome {
                ActionOutcome::Applied => "applied",
                ActionOutcome::Failed { .. } => "failed",
                ActionOutcome::Skipped { .. } => "skipped",
                ActionOutcome::Unknown { .. } => "unknown",
            };
            EntryResult {
                action: r.action,
                group,
                group_id,
                renamed_from,
                guest,
                added,
                removed,
                status: status.to_string(),
                error: crate::render::words::outcome_detail(&r.outcome),
            }
        })
        .collect()
}

/// The policy rules overridden (`--allow-policy RULE=REASON`) for `plan`, for its entry's
/// `policy_overrides`.
pub fn policy_overrides(plan: &Plan) -> Vec<PolicyOverride> {
    plan.policy.as_ref().map(|p| p.overrides.clone()).unwrap_or_default()
}

/// The checksum `plan --out` seals `plan` with (`sha256:…`).
pub fn plan_checksum(plan: &Plan) -> Option<String> {
    let text = crate::saved::to_text(plan);
    let value: serde_json::Value = serde_json::from_str(&text).ok()?;
    value.get("checksum").and_then(|c| c.as_str()).map(str::to_string)
}

/// The SHA-256 (hex) of a line's bytes, without its newline: the next line's `prev_sha256`.
pub fn line_sha256(line: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(line).iter().map(|b| format!("{b:02x}")).collect()
}

/// `2026-03-05T09:41:07Z`: a Unix time in RFC 3339, UTC, to the second.
pub fn timestamp(unix_seconds: i64) -> String {
    let (y, m, d) = Date::from_unix_seconds(unix_seconds).ymd();
    let s = unix_seconds.rem_euclid(86_400);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", s / 3600, s / 60 % 60, s % 60)
}

/// A repository's URL without its user and password (`https://user:token@host/x` →
/// `https://host/x`, `git@host:x` → `host:x`); other text as it is.
pub fn strip_userinfo(repo: &str) -> String {
    let repo = repo.trim();
    // A query or fragment can carry a token too (`?token=…`): neither names the repository.
    let repo = match repo.find("://") {
        Some(_) => repo.split(['?', '#']).next().unwrap_or(repo),
        None => repo,
    };
    let (scheme, rest) = match repo.find("://") {
        Some(i) => repo.split_at(i + 3),
        None => ("", repo),
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    // scp-like `user@host:path`: the authority ends at the first `:` (before any `/`).
    let authority_end = if scheme.is_empty() { rest.find(':').map_or(authority_end, |c| c.min(authority_end)) } else { authority_end };
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}{}", &rest[at + 1..]),
        None => repo.to_string(),
    }
}

/// The commit and the actor a CI run says through its variables (GitHub Actions, GitLab CI),
/// when it is one; `var` reads a variable (an empty one counts as unset).
pub fn ci_provenance(var: impl Fn(&str) -> Option<String>) -> Option<(GitRef, Option<String>)> {
    let get = |name: &str| var(name).map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
    let read = |names: [&str; 4]| {
        let [repo, git_ref, commit, actor] = names.map(get);
        (repo.is_some() || commit.is_some()).then(|| (GitRef { repo: repo.map(|r| strip_userinfo(&r)), git_ref, commit }, actor))
    };
    read(["GITHUB_REPOSITORY", "GITHUB_REF", "GITHUB_SHA", "GITHUB_ACTOR"])
        .or_else(|| read(["CI_PROJECT_PATH", "CI_COMMIT_REF_NAME", "CI_COMMIT_SHA", "GITLAB_USER_LOGIN"]))
}

/// Why the journal could not be appended to.
#[derive(Debug, thiserror::Error)]
pub enum AppendError {
    /// The file could not be locked, read, written or synced.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// Its last line has no newline: it was cut short or edited, and a new line would join it.
    #[error("its last line does not end with a newline (cut short, or edited)")]
    Unterminated,
}

/// Appends `entries` to the journal open in `file` (opened to append): takes an exclusive lock,
/// reads the last line, chains each entry to the one before, writes them in one write and
/// syncs the file. Each entry's `prev_sha256` is set here.
pub fn append(file: &mut File, entries: &mut [Entry]) -> Result<(), AppendError> {
    file.lock()?;
    let result = append_locked(file, entries);
    let unlocked = file.unlock();
    result?;
    unlocked?;
    Ok(())
}

fn append_locked(file: &mut File, entries: &mut [Entry]) -> Result<(), AppendError> {
    let mut prev = match last_line(file)? {
        None => GENESIS.to_string(),
        Some(line) => line_sha256(&line),
    };
    let mut bytes = Vec::new();
    for entry in entries.iter_mut() {
        entry.prev_sha256 = prev;
        let line = serde_json::to_vec(entry).map_err(std::io::Error::other)?;
        prev = line_sha256(&line);
        bytes.extend_from_slice(&line);
        bytes.push(b'\n');
    }
    file.write_all(&bytes)?;
    file.sync_all()?;
    Ok(())
}

/// The last line of the file (without its newline), read backwards from the end; `None` for an
/// empty file.
fn last_line(file: &mut File) -> Result<Option<Vec<u8>>, AppendError> {
    const CHUNK: u64 = 64 * 1024;
    let len = file.seek(SeekFrom::End(0))?;
    if len == 0 {
        return Ok(None);
    }
    let mut tail: Vec<u8> = Vec::new();
    let mut pos = len;
    loop {
        let start = pos.saturating_sub(CHUNK);
        let mut chunk = vec![0; usize::try_from(pos - start).map_err(std::io::Error::other)?];
        file.seek(SeekFrom::Start(start))?;
        file.read_exact(&mut chunk)?;
        chunk.extend_from_slice(&tail);
        tail = chunk;
        pos = start;
        if tail.last() != Some(&b'\n') {
            return Err(AppendError::Unterminated);
        }
        let body = &tail[..tail.len() - 1];
        if let Some(nl) = body.iter().rposition(|&b| b == b'\n') {
            return Ok(Some(body[nl + 1..].to_vec()));
        }
        if pos == 0 {
            return Ok(Some(body.to_vec()));
        }
    }
}

/// Why a line breaks the chain.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Broken {
    /// The line is empty.
    #[error("an empty line")]
    Empty,
    /// The line is not a JSON object.
    #[error("not JSON: {0}")]
    NotJson(String),
    /// The line's `format_version` is missing or not one this version reads.
    #[error("unknown format_version {0} (this version reads {FORMAT_VERSION})")]
    UnknownFormat(String),
    /// The line's `prev_sha256` is not the previous line's hash.
    #[error(
        "prev_sha256 mismatch: the line says {found}, the previous line hashes to {expected} (a line before it, or this one, was changed, removed or inserted)"
    )]
    PrevMismatch {
        /// The previous line's hash.
        expected: String,
        /// What the line says.
        found: String,
    },
    /// The last line has no newline.
    #[error("no newline at its end (cut short, or edited)")]
    Unterminated,
    /// The line is JSON, but not a journal entry.
    #[error("not a journal entry: {0}")]
    NotAnEntry(String),
}

/// Where the chain breaks: the line (from 1) and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {why}")]
pub struct BrokenLine {
    /// The line's number, from 1.
    pub line: usize,
    /// Why.
    pub why: Broken,
}

/// Why a journal could not be verified or read.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// The file could not be read.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The chain breaks.
    #[error(transparent)]
    Broken(#[from] BrokenLine),
}

/// Checks every line of a journal and returns its entries: each a JSON entry of a known
/// format, chained to the line before it, ending with a newline.
pub fn verify(reader: impl BufRead) -> Result<Vec<Entry>, VerifyError> {
    let mut reader = reader;
    let mut expected = GENESIS.to_string();
    let mut entries = Vec::new();
    let mut buf = Vec::new();
    let mut n = 0;
    loop {
        buf.clear();
        if reader.read_until(b'\n', &mut buf)? == 0 {
            return Ok(entries);
        }
        n += 1;
        let broken = |why| VerifyError::Broken(BrokenLine { line: n, why });
        if buf.last() != Some(&b'\n') {
            return Err(broken(Broken::Unterminated));
        }
        let line = &buf[..buf.len() - 1];
        let entry = check_line(line, &expected).map_err(broken)?;
        expected = line_sha256(line);
        entries.push(entry);
    }
}

/// One line, given the previous line's hash.
fn check_line(line: &[u8], expected: &str) -> Result<Entry, Broken> {
    if line.iter().all(u8::is_ascii_whitespace) {
        return Err(Broken::Empty);
    }
    let value: serde_json::Value = serde_json::from_slice(line).map_err(|e| Broken::NotJson(e.to_string()))?;
    let version = value.get("format_version");
    if version.and_then(serde_json::Value::as_u64) != Some(u64::from(FORMAT_VERSION)) {
        return Err(Broken::UnknownFormat(version.map_or_else(|| "(missing)".to_string(), ToString::to_string)));
    }
    let found = value.get("prev_sha256").and_then(|v| v.as_str()).unwrap_or_default();
    if found != expected {
        return Err(Broken::PrevMismatch { expected: expected.to_string(), found: found.to_string() });
    }
    serde_path_to_error::deserialize(value).map_err(|e| Broken::NotAnEntry(e.to_string()))
}

/// [`verify`] of the file at `path`.
pub fn verify_file(path: &Path) -> Result<Vec<Entry>, VerifyError> {
    verify(BufReader::new(File::open(path)?))
}

/// A `journal show --group` glob.
pub fn group_pattern(text: &str) -> Result<glob::Pattern, String> {
    glob::Pattern::new(text).map_err(|e| format!("not a glob: {e}"))
}

/// What `journal show` keeps.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Entries of runs started on this day or later.
    pub since: Option<Date>,
    /// Results about a group whose name matches (its old name too, for a rename).
    pub group: Option<glob::Pattern>,
    /// Results that gave or took this person's access (an email, any case).
    pub person: Option<String>,
}

impl Filter {
    /// `entry` with only the results the filter keeps, or `None` when it keeps nothing of it
    /// (with `group` or `person`, an entry without a matching result).
    pub fn select(&self, entry: &Entry) -> Option<Entry> {
        if let Some(since) = self.since {
            let day = entry.started_at.get(..10).and_then(|d| Date::parse(d).ok())?;
            if day < since {
                return None;
            }
        }
        if self.group.is_none() && self.person.is_none() {
            return Some(entry.clone());
        }
        let results: Vec<EntryResult> = entry.results.iter().filter(|r| self.keeps(r)).cloned().collect();
        (!results.is_empty()).then(|| Entry { results, ..entry.clone() })
    }

    fn keeps(&self, r: &EntryResult) -> bool {
        let group = self.group.as_ref().is_none_or(|g| r.group.iter().chain(&r.renamed_from).any(|name| g.matches(name)));
        let person = self.person.as_ref().is_none_or(|p| {
            let p = p.trim();
            r.added.iter().chain(&r.removed).chain(&r.guest).any(|e| e.eq_ignore_ascii_case(p))
        });
        group && person
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(run: &str) -> Entry {
        Entry {
            format_version: FORMAT_VERSION,
            prev_sha256: String::new(),
            run_id: run.into(),
            started_at: "2026-03-05T09:41:07Z".into(),
            finished_at: "2026-03-05T09:41:09Z".into(),
            tool_version: "0.0.0".into(),
            target: TargetRef { name: None, organization: Some("org".into()) },
            git: GitRef::default(),
            actor: Some("alice".into()),
            plan_checksum: None,
            allow_removals: None,
            policy_overrides: Vec::new(),
            summary: None,
            outcome: RunOutcome::NoChanges,
            reason: None,
            error: None,
            results: Vec::new(),
        }
    }

    fn result(group: &str, added: &[&str], removed: &[&str]) -> EntryResult {
        EntryResult {
            action: ActionKind::UpdateGroup,
            group: Some(group.into()),
            group_id: Some("g1".into()),
            renamed_from: None,
            guest: None,
            added: added.iter().map(|s| s.to_string()).collect(),
            removed: removed.iter().map(|s| s.to_string()).collect(),
            status: "applied".into(),
            error: None,
        }
    }

    fn journal(entries: &mut [Entry]) -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("journal.jsonl");
        for e in entries.chunks_mut(1) {
            let mut f = std::fs::OpenOptions::new().create(true).append(true).read(true).open(&path).expect("open");
            append(&mut f, e).expect("append");
        }
        (dir, path)
    }

    #[test]
    fn appended_lines_chain_and_verify() {
        let (_d, path) = journal(&mut [entry("a"), entry("b"), entry("c")]);
        let entries = verify_file(&path).expect("intact");
        assert_eq!(entries.len(), 3);
        assert_eq!(entries[0].prev_sha256, GENESIS);
        let text = std::fs::read_to_string(&path).expect("read");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(entries[1].prev_sha256, line_sha256(lines[0].as_bytes()));
        assert_eq!(entries[2].prev_sha256, line_sha256(lines[1].as_bytes()));
    }

    #[test]
    fn one_call_chains_several_entries() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("j");
        let mut f = std::fs::OpenOptions::new().create(true).append(true).read(true).open(&path).expect("open");
        append(&mut f, &mut [entry("a"), entry("a")]).expect("append");
        append(&mut f, &mut [entry("b")]).expect("append");
        assert_eq!(verify_file(&path).expect("intact").len(), 3);
    }

    #[test]
    fn a_long_last_line_is_read_across_chunks() {
        let mut big = entry("a");
        big.error = Some("x".repeat(200_000));
        let (_d, path) = journal(&mut [entry("0"), big, entry("b")]);
        assert_eq!(verify_file(&path).expect("intact").len(), 3);
    }

    #[test]
    fn every_kind_of_break_names_its_line() {
        let (_d, path) = journal(&mut [entry("a"), entry("b"), entry("c")]);
        let text = std::fs::read_to_string(&path).expect("read");
        let lines: Vec<String> = text.lines().map(str::to_string).collect();
        let check = |text: String| match verify(text.as_bytes()) {
            Err(VerifyError::Broken(b)) => b,
            other => panic!("expected a break, got {other:?}"),
        };
        // One byte changed in line 2: line 3's prev_sha256 no longer matches.
        let edited = text.replacen("\"run_id\":\"b\"", "\"run_id\":\"B\"", 1);
        assert!(matches!(check(edited), BrokenLine { line: 3, why: Broken::PrevMismatch { .. } }));
        // Line 2 removed.
        let removed = format!("{}\n{}\n", lines[0], lines[2]);
        assert!(matches!(check(removed), BrokenLine { line: 2, why: Broken::PrevMismatch { .. } }));
        let empty = format!("{}\n\n{}\n", lines[0], lines[1]);
        assert_eq!(check(empty), BrokenLine { line: 2, why: Broken::Empty });
        let junk = format!("{}\nnot json\n", lines[0]);
        assert!(matches!(check(junk), BrokenLine { line: 2, why: Broken::NotJson(_) }));
        let future = text.replacen("\"format_version\":1", "\"format_version\":9", 1);
        assert_eq!(check(future), BrokenLine { line: 1, why: Broken::UnknownFormat("9".into()) });
        let cut = text.trim_end().to_string();
        assert_eq!(check(cut), BrokenLine { line: 3, why: Broken::Unterminated });
        assert_eq!(verify("".as_bytes()).expect("empty journal").len(), 0);
    }

    #[test]
    fn an_unterminated_journal_is_not_appended_to() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("j");
        std::fs::write(&path, "{\"x\":1}").expect("write");
        let mut f = std::fs::OpenOptions::new().append(true).read(true).open(&path).expect("open");
        assert!(matches!(append(&mut f, &mut [entry("a")]), Err(AppendError::Unterminated)));
        assert_eq!(std::fs::read_to_string(&path).expect("read"), "{\"x\":1}");
    }

    #[test]
    fn timestamps_are_rfc3339_utc() {
        assert_eq!(timestamp(0), "1970-01-01T00:00:00Z");
        assert_eq!(timestamp(1_772_703_667), "2026-03-05T09:41:07Z");
    }

    #[test]
    fn userinfo_is_stripped_from_repository_urls() {
        assert_eq!(strip_userinfo("https://x-access-token:ghs_secret@github.com/acme/groups.git"), "https://github.com/acme/groups.git");
        assert_eq!(strip_userinfo("https://github.com/acme/groups"), "https://github.com/acme/groups");
        assert_eq!(strip_userinfo("git@github.com:acme/groups.git"), "github.com:acme/groups.git");
        assert_eq!(strip_userinfo("ssh://git@host:22/a@b"), "ssh://host:22/a@b");
        assert_eq!(strip_userinfo("acme/groups"), "acme/groups");
        assert_eq!(strip_userinfo("https://github.com/acme/x?token=SECRET9#frag"), "https://github.com/acme/x");
    }

    #[test]
    fn ci_variables_give_the_commit_and_actor() {
        let github = |name: &str| {
            [("GITHUB_REPOSITORY", "acme/groups"), ("GITHUB_REF", "refs/heads/main"), ("GITHUB_SHA", "abc"), ("GITHUB_ACTOR", "alice")]
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        };
        let (git, actor) = ci_provenance(github).expect("github");
        assert_eq!(git, GitRef { repo: Some("acme/groups".into()), git_ref: Some("refs/heads/main".into()), commit: Some("abc".into()) });
        assert_eq!(actor.as_deref(), Some("alice"));
        let gitlab = |name: &str| match name {
            "CI_PROJECT_PATH" => Some("acme/groups".to_string()),
            "CI_COMMIT_SHA" => Some("def".to_string()),
            "GITLAB_USER_LOGIN" => Some("bob".to_string()),
            _ => None,
        };
        let (git, actor) = ci_provenance(gitlab).expect("gitlab");
        assert_eq!(git.commit.as_deref(), Some("def"));
        assert_eq!(actor.as_deref(), Some("bob"));
        assert_eq!(ci_provenance(|_| None), None);
        assert_eq!(ci_provenance(|_| Some(" ".into())), None);
    }

    #[test]
    fn the_filter_keeps_matching_results_and_days() {
        let mut e = entry("a");
        e.results = vec![result("Finance Approvers", &["bob@example.com"], &[]), result("Engineering", &[], &["carol@example.com"])];
        let by_group = Filter { group: Some(glob::Pattern::new("Fin*").expect("glob")), ..Filter::default() };
        assert_eq!(by_group.select(&e).expect("kept").results.len(), 1);
        let by_person = Filter { person: Some("Carol@Example.com".into()), ..Filter::default() };
        assert_eq!(by_person.select(&e).expect("kept").results[0].group.as_deref(), Some("Engineering"));
        let nobody = Filter { person: Some("dan@example.com".into()), ..Filter::default() };
        assert_eq!(nobody.select(&e), None);
        let later = Filter { since: Date::from_ymd(2026, 3, 6), ..Filter::default() };
        assert_eq!(later.select(&e), None);
        let same_day = Filter { since: Date::from_ymd(2026, 3, 5), ..Filter::default() };
        assert_eq!(same_day.select(&e).expect("kept").results.len(), 2);
    }
}
