//! The apply journal: `apply --journal FILE` (or `TALLYFY_GROUPS_JOURNAL`) collects what each
//! target of the run came to in a [`Ledger`] as the apply goes, across every way it can end,
//! and appends one chained line per target once it has returned; `journal verify` and `journal
//! show` read the file. The entry, the chain and the filter are the core's
//! (`tallyfy_groups_core::journal`). Does file, process (`git`) and terminal I/O.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use tallyfy_groups_core::journal::{self, Entry, EntryResult, EntrySummary, Filter, GitRef, RunOutcome, TargetRef, VerifyError};
use tallyfy_groups_core::outcome::ExitStatus;
use tallyfy_groups_core::render;
use tallyfy_groups_engine::{RunReport, TargetStatus};
use tracing::info;

use super::console::print;
use super::error::Error;
use super::signals::run_stop;
use super::targets::Chosen;
use crate::cli::{JournalCommand, JournalFormat};

/// What one target came to, as far as the run got.
#[derive(Debug, Clone)]
struct Record {
    target: TargetRef,
    allow_removals: Option<String>,
    plan_checksum: Option<String>,
    summary: Option<EntrySummary>,
    policy_overrides: Vec<journal::PolicyOverride>,
    state: State,
    results: Vec<EntryResult>,
}

/// A target's status, kept as words (the engine's holds errors that cannot be cloned).
#[derive(Debug, Clone)]
enum State {
    NoChanges,
    Changes,
    AlreadyApplied,
    Refused(String),
    Failed(String),
    Interrupted,
    Applied { problem: Option<String> },
}

/// The journal of one apply run: the open file, and what each target came to.
#[derive(Debug)]
pub(crate) struct Ledger {
    file: Option<(PathBuf, File)>,
    started: SystemTime,
    targets: Vec<Record>,
    declined: bool,
    held_back: Option<String>,
}

/// Whether the file's last byte is not a newline (an empty file ends well).
fn ends_unterminated(file: &mut std::fs::File) -> bool {
    use std::io::{Read, Seek, SeekFrom};
    let mut last = [0u8; 1];
    match file.seek(SeekFrom::End(-1)) {
        Ok(_) => file.read_exact(&mut last).is_ok() && last[0] != b'\n',
        Err(_) => false,
    }
}

impl Ledger {
    /// Opens the journal (created when missing) before anything runs, so that a journal that
    /// cannot be written stops the run before it changes anything; `None`: no journal.
    pub(crate) fn open(path: Option<&Path>) -> Result<Self, Error> {
        let file = match path.filter(|p| !p.as_os_str().is_empty()) {
            None => None,
            Some(path) => {
                let mut file = std::fs::OpenOptions::new().create(true).append(true).read(true).open(path).map_err(|e| {
                    Error::Config(format!(
                        "cannot open the journal {}: {e}; nothing was applied\n    hint: pass --journal (or TALLYFY_GROUPS_JOURNAL) a file in a folder that exists and can be written",
                        path.display()
                    ))
                })?;
                // A journal whose last line was cut short can take no line: say so before
                // anything is applied, not after.
                if ends_unterminated(&mut file) {
                    return Err(Error::Config(format!(
                        "the journal {}: its last line does not end with a newline (cut short, or edited); nothing was applied\n    hint: check it with `tallyfy-groups journal verify {}` and repair it from a copy you trust",
                        path.display(),
                        path.display()
                    )));
                }
                Some((path.to_path_buf(), file))
            }
        };
        Ok(Ledger { file, started: SystemTime::now(), targets: Vec::new(), declined: false, held_back: None })
    }

    /// Takes each target's plan and status as the run now has them (the results stay).
    pub(crate) fn note(&mut self, chosen: &Chosen, report: &RunReport) {
        for (i, (target, outcome)) in chosen.run.targets.iter().zip(&report.targets).enumerate() {
            let planned = outcome.planned.as_ref();
            let record = Record {
                target: TargetRef { name: target.name.clone(), organization: Some(target.org.to_string()) },
                allow_removals: chosen.allow.for_target(target.name.as_deref().unwrap_or_default()).map(str::to_string),
                plan_checksum: planned.and_then(|p| {
                    p.saved.as_ref().map(|s| s.checksum.clone()).filter(|c| !c.is_empty()).or_else(|| journal::plan_checksum(&p.plan))
                }),
                summary: planned.map(|p| EntrySummary::of(&p.plan)),
                policy_overrides: planned.map(|p| journal::policy_overrides(&p.plan)).unwrap_or_default(),
                state: State::of(&outcome.status),
                results: self.targets.get(i).map(|r| r.results.clone()).unwrap_or_default(),
            };
            match self.targets.get_mut(i) {
                Some(r) => *r = record,
                None => self.targets.push(record),
            }
        }
    }

    /// The results of the targets applied (`reports` has one per target, in order).
    pub(crate) fn applied(&mut self, report: &RunReport, reports: &[Option<tallyfy_groups_api::apply::ApplyReport>]) {
        for ((record, outcome), applied) in self.targets.iter_mut().zip(&report.targets).zip(reports) {
            if let (Some(planned), Some(applied)) = (&outcome.planned, applied) {
                record.results = journal::results_of(&planned.plan, applied);
            }
        }
    }

    /// The changes were declined at the prompt.
    pub(crate) fn declined(&mut self) {
        self.declined = true;
    }

    /// The targets ready to apply were held back (`--all-or-nothing`), for this reason.
    pub(crate) fn held_back(&mut self, why: &str) {
        self.held_back = Some(why.to_string());
    }

    /// Target `i`'s saved plan turned out applied meanwhile (by another run).
    pub(crate) fn already_applied(&mut self, i: usize) {
        if let Some(r) = self.targets.get_mut(i) {
            r.state = State::AlreadyApplied;
        }
    }

    /// Appends one line per target (one for the run when it ended before it had targets) and
    /// returns the run's result; a journal that cannot be written makes a successful run exit 1,
    /// saying whether changes were applied.
    pub(crate) fn record(self, result: Result<ExitStatus, Error>) -> Result<ExitStatus, Error> {
        let Some((path, mut file)) = self.file else { return result };
        let finished = SystemTime::now();
        let run_id = run_id(self.started);
        let (git, actor) = provenance();
        let failure = result.as_ref().err().map(|e| (e.exit_status(), e.to_string()));
        let stopped = run_stop().is_requested();
        let records = if self.targets.is_empty() {
            vec![Record {
                target: TargetRef::default(),
                allow_removals: None,
                plan_checksum: None,
                summary: None,
                policy_overrides: Vec::new(),
                state: State::Changes,
                results: Vec::new(),
            }]
        } else {
            self.targets
        };
        let applied_any = records.iter().any(|r| r.results.iter().any(|x| x.status == "applied" || x.status == "unknown"));
        let mut entries: Vec<Entry> = records
            .into_iter()
            .map(|r| {
                let (outcome, reason, error) = r.state.outcome(self.declined, self.held_back.as_deref(), failure.as_ref(), stopped);
                Entry {
                    format_version: journal::FORMAT_VERSION,
                    prev_sha256: String::new(),
                    run_id: run_id.clone(),
                    started_at: stamp(self.started),
                    finished_at: stamp(finished),
                    tool_version: env!("CARGO_PKG_VERSION").to_string(),
                    target: r.target,
                    git: git.clone(),
                    actor: actor.clone(),
                    plan_checksum: r.plan_checksum,
                    allow_removals: r.allow_removals,
                    policy_overrides: r.policy_overrides,
                    summary: r.summary,
                    outcome,
                    reason,
                    error,
                    results: r.results,
                }
            })
            .collect();
        let shown = path.display();
        match journal::append(&mut file, &mut entries) {
            Ok(()) => {
                info!(path = %shown, entries = entries.len(), "appended to the journal");
                result
            }
            Err(e) => {
                let what = if applied_any {
                    format!(
                        "the changes WERE applied, but the journal {shown} could not be written: {e}\n    hint: do not apply again to make up for it; fix the journal (`tallyfy-groups journal verify {shown}` names a broken line), then record this run: it is the apply report above, run {run_id}"
                    )
                } else {
                    format!(
                        "nothing was applied, but the journal {shown} could not be written: {e}\n    hint: `tallyfy-groups journal verify {shown}` names a broken line; fix the journal, then run again"
                    )
                };
                match result {
                    Ok(_) => Err(Error::Config(what)),
                    Err(original) => {
                        tracing::error!("{what}");
                        Err(original)
                    }
                }
            }
        }
    }
}

impl State {
    fn of(status: &TargetStatus) -> Self {
        match status {
            TargetStatus::NoChanges => State::NoChanges,
            TargetStatus::Changes => State::Changes,
            TargetStatus::AlreadyApplied => State::AlreadyApplied,
            TargetStatus::Refused(r) => State::Refused(r.to_string()),
            TargetStatus::Failed(e) => State::Failed(e.to_string()),
            TargetStatus::Interrupted => State::Interrupted,
            TargetStatus::Applied(_) => State::Applied { problem: status.problem() },
        }
    }

    /// The entry's outcome, refusal reason and error.
    fn outcome(
        self,
        declined: bool,
        held_back: Option<&str>,
        failure: Option<&(ExitStatus, String)>,
        stopped: bool,
    ) -> (RunOutcome, Option<String>, Option<String>) {
        match self {
            State::NoChanges => (RunOutcome::NoChanges, None, None),
            State::AlreadyApplied => (RunOutcome::AlreadyApplied, None, None),
            State::Refused(why) => (RunOutcome::Refused, Some(why), None),
            State::Failed(e) if stopped => (RunOutcome::Interrupted, None, Some(e)),
            State::Failed(e) => (RunOutcome::Failed, None, Some(e)),
            State::Interrupted => (RunOutcome::Interrupted, None, None),
            State::Applied { problem: None } => (RunOutcome::Applied, None, None),
            State::Applied { problem: Some(p) } => (RunOutcome::Failed, None, Some(p)),
            State::Changes if declined => (RunOutcome::Declined, None, None),
            State::Changes if held_back.is_some() => (RunOutcome::Refused, held_back.map(str::to_string), None),
            State::Changes => match failure {
                Some((ExitStatus::Refused, why)) => (RunOutcome::Refused, Some(why.clone()), None),
                Some((ExitStatus::Interrupted, e)) => (RunOutcome::Interrupted, None, Some(e.clone())),
                Some((_, e)) => (RunOutcome::Failed, None, Some(e.clone())),
                None if stopped => (RunOutcome::Interrupted, None, None),
                None => (RunOutcome::Failed, None, Some("the run ended before this target was applied".into())),
            },
        }
    }
}

/// RFC 3339, UTC, to the second.
fn stamp(t: SystemTime) -> String {
    journal::timestamp(t.duration_since(UNIX_EPOCH).map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX)).unwrap_or(0))
}

/// 32 hex digits, unique to the run: the SHA-256 of its start, its process and its host.
fn run_id(started: SystemTime) -> String {
    let nanos = started.duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    let host = std::env::var("HOSTNAME").unwrap_or_default();
    let seed = format!("{nanos}:{}:{host}", std::process::id());
    journal::line_sha256(seed.as_bytes())[..32].to_string()
}

/// The commit and the actor: the CI's variables, or the local `git` and `USER`.
fn provenance() -> (GitRef, Option<String>) {
    let var = |name: &str| std::env::var(name).ok();
    if let Some(found) = journal::ci_provenance(var) {
        return found;
    }
    let git = GitRef {
        repo: git(&["remote", "get-url", "origin"]).map(|r| journal::strip_userinfo(&r)),
        git_ref: git(&["rev-parse", "--symbolic-full-name", "HEAD"]).filter(|r| r != "HEAD"),
        commit: git(&["rev-parse", "HEAD"]),
    };
    let actor = ["USER", "USERNAME"].iter().find_map(|n| std::env::var(n).ok()).map(|a| a.trim().to_string()).filter(|a| !a.is_empty());
    (git, actor)
}

/// One line of `git ARGS` in the current folder, when git is there and answers.
fn git(args: &[&str]) -> Option<String> {
    let out = std::process::Command::new("git")
        .args(args)
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    let line = text.lines().next()?.trim().to_string();
    (out.status.success() && !line.is_empty()).then_some(line)
}

/// `journal verify` and `journal show`.
pub(crate) fn command(command: JournalCommand) -> Result<ExitStatus, Error> {
    match command {
        JournalCommand::Verify { file } => {
            let entries = read(&file)?;
            let n = entries.len();
            // The chain checks each line by the next: the last line, and lines cut from the end,
            // are checked only against a hash kept elsewhere.
            let text = std::fs::read(&file).map_err(|e| Error::Config(format!("cannot read the journal {}: {e}", file.display())))?;
            let last = text.strip_suffix(b"\n").unwrap_or(&text).rsplit(|&b| b == b'\n').next().unwrap_or_default();
            let pin = if n == 0 {
                String::new()
            } else {
                format!(
                    "\nlast entry: sha256 {}\n    note: no later line checks the last entry, nor whether lines were cut from the end: keep this hash where the journal's writers cannot change it (a commit message, a CI log) and compare it next time",
                    journal::line_sha256(last)
                )
            };
            print(&format!("{n} {}, chain intact{pin}\n", if n == 1 { "entry" } else { "entries" }));
            Ok(ExitStatus::Success)
        }
        JournalCommand::Show { file, since, group, person, format } => {
            let group = group.as_deref().map(journal::group_pattern).transpose().map_err(Error::Config)?;
            let filter = Filter { since, group, person };
            let entries: Vec<Entry> = read(&file)?.iter().filter_map(|e| filter.select(e)).collect();
            print(&match format {
                JournalFormat::Text => render::journal::render_text(&entries),
                JournalFormat::Json => render::journal::render_json(&entries),
            });
            Ok(ExitStatus::Success)
        }
    }
}

/// Every entry of a journal whose chain is intact.
fn read(path: &Path) -> Result<Vec<Entry>, Error> {
    let shown = path.display();
    journal::verify_file(path).map_err(|e| match e {
        VerifyError::Io(e) => Error::Config(format!("cannot read the journal {shown}: {e}")),
        VerifyError::Broken(b) => {
            // A line is checked by the hash the next one carries: a break at line N may be a
            // change to line N - 1 as well as to line N.
            let intact = match b.line {
                0..=2 => "no line before it can be vouched for".to_string(),
                3 => "line 1 is intact".to_string(),
                n => format!("lines 1 to {} are intact", n - 2),
            };
            Error::Config(format!(
                "the journal {shown} is broken at line {}: {}\n    hint: line {} or the line before it was changed; {intact}; compare the file with a copy you trust (a CI artifact, the branch it is committed to)",
                b.line, b.why, b.line
            ))
        }
    })
}
