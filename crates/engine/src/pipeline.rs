//! One target's pipeline: the groups files are loaded while the live state is fetched, the plan
//! is made (its changes labelled against a baseline when there is one), and a saved plan is
//! checked against live state. Each step is a function; a new fetch step (a directory read
//! beside the Tallyfy reads, say) is one more future joined in [`load_while_fetching`]. Does
//! file I/O (on a blocking thread) and network I/O through the API it is given.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use tallyfy_groups_api::TallyfyApi;
use tallyfy_groups_core::access::{self, AccessRow};
use tallyfy_groups_core::date::Date;
use tallyfy_groups_core::desired::{self, DesiredState, Diagnostics};
use tallyfy_groups_core::diff::{DiffOptions, Scope};
use tallyfy_groups_core::expiry::{self, ExpiryReport};
use tallyfy_groups_core::model::LiveState;
use tallyfy_groups_core::outcome::ExitStatus;
use tallyfy_groups_core::owners::{self, Owners};
use tallyfy_groups_core::pipeline::make_plan;
use tallyfy_groups_core::plan::{self, GuardLimits, Plan, Target};
use tallyfy_groups_core::render::words;
use tallyfy_groups_core::saved::{self, SavedPlan};
use tallyfy_groups_core::source::{SourceKind, SourceSpec};
use tallyfy_groups_core::warning::{Problem as WarningProblem, Warning};
use tallyfy_groups_sources::{Reader, Reads};
use tracing::info;

use crate::error::{Refusal, Stage, TargetError};
use crate::gate::{self, Allowances};

/// The groups file one organization's run reads when no `-f` is given.
pub const DEFAULT_FILE: &str = "groups.yaml";

/// Reads and validates the groups files: every problem at once.
pub fn load(files: &[PathBuf]) -> Result<DesiredState, TargetError> {
    let sources = desired::read_sources(files)?;
    desired::load(sources).map_err(TargetError::Invalid)
}

/// Reads and validates the groups files and evaluates their dates as of `as_of`: the entries
/// whose `until` has passed are taken out (see [`expiry::evaluate`]); a date beyond a limit of
/// the settings, or an overdue review under `overdue_review: error`, is a problem of the files.
pub fn load_as_of(
    files: &[PathBuf],
    as_of: Date,
    owners: Option<&Path>,
) -> Result<(DesiredState, ExpiryReport, Option<Owners>), TargetError> {
    let mut desired = load(files)?;
    let owners = load_owners(files, owners)?;
    if let Some(o) = &owners {
        let problems = o.check(&desired, &file_paths(&desired));
        if !problems.is_empty() {
            return Err(TargetError::Invalid(Diagnostics(problems)));
        }
        desired.settings.owned = Some(o.owned_globs());
    }
    let (report, problems) = expiry::evaluate(&mut desired, as_of);
    if !problems.is_empty() {
        return Err(TargetError::Invalid(Diagnostics(problems)));
    }
    Ok((desired, report, owners))
}

/// The owners file of these groups files: `explicit` (`--owners`), else `owners.yaml` beside
/// the first of them (inside it, for a folder), when it exists; read, parsed and checked.
pub fn load_owners(files: &[PathBuf], explicit: Option<&Path>) -> Result<Option<Owners>, TargetError> {
    let path = match explicit {
        Some(p) => p.to_path_buf(),
        None => {
            let first = files.first().cloned().unwrap_or_else(|| PathBuf::from(DEFAULT_FILE));
            let dir = if first.is_dir() { first } else { first.parent().map(Path::to_path_buf).unwrap_or_default() };
            let found = dir.join(owners::FILE_NAME);
            if !found.is_file() {
                return Ok(None);
            }
            found
        }
    };
    let text = std::fs::read_to_string(&path).map_err(|e| {
        TargetError::Unusable(format!("cannot read the owners file {}: {e}\n    hint: check the path given to --owners", path.display()))
    })?;
    let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let dir = std::fs::canonicalize(if dir.as_os_str().is_empty() { Path::new(".") } else { &dir }).unwrap_or(dir);
    owners::parse(&path.display().to_string(), &text, &dir).map(Some).map_err(TargetError::Invalid)
}

/// Each groups file's name (as its locations give it) and its path, made absolute so that it
/// compares with the owners file's folder.
pub fn file_paths(desired: &DesiredState) -> BTreeMap<String, PathBuf> {
    let mut names: Vec<String> = desired.files.clone();
    names.extend(desired.groups.iter().map(|g| g.at.file.to_string()));
    names.extend(desired.sources.iter().map(|s| s.at.file.to_string()));
    names.extend(desired.settings_at.iter().map(|a| a.file.to_string()));
    names
        .into_iter()
        .map(|n| {
            let path = std::fs::canonicalize(&n).unwrap_or_else(|_| PathBuf::from(&n));
            (n, path)
        })
        .collect()
}

/// The target branch's files (`plan --baseline`), loaded leniently: they only label changes.
#[derive(Debug)]
pub enum Baseline {
    /// No baseline asked for.
    None,
    /// The baseline's desired state (empty when the target branch has none of the files).
    Loaded(Box<DesiredState>),
    /// The baseline's files do not validate: changes stay unlabelled, with a warning.
    Invalid(Diagnostics),
}

/// What [`load_while_fetching`] read: the files, their baseline, the sources they use, and the
/// live state.
#[derive(Debug)]
pub struct Loaded {
    /// The groups files, validated, their expired entries taken out (not yet expanded:
    /// [`plan_with_baseline`] does that).
    pub desired: DesiredState,
    /// Their dates, as of the run's day.
    pub expiry: ExpiryReport,
    /// The owners file they were checked against, when there is one.
    pub owners: Option<Owners>,
    /// The baseline's, when asked for.
    pub baseline: Baseline,
    /// The live groups, users and (when the files name any) guests.
    pub live: LiveState,
    /// What the sources the files use yielded, or why they failed.
    pub reads: Reads,
    /// The same for the baseline's sources: its own CSV files (a change may edit them), and the
    /// reads above for a command or directory it declares alike (the world outside the
    /// repository is the same on both sides).
    pub baseline_reads: Reads,
}

/// Loads the groups files (and the baseline's) on a blocking thread while `connecting` connects
/// and the live groups and users are read; then, still beside those reads, the guests (when the
/// files name any) and the sources the files use (through `sources`, which reads each once per
/// run): one read of the live state serves both plans. A bad file is reported before a failed
/// connection, and fails long before any read could. `baseline`: none, or the baseline's files
/// (none of them: the target branch has no groups yet). `api` picks the API out of the
/// connection.
pub async fn load_while_fetching<C, E, A>(
    files: &[PathBuf],
    baseline: Option<&[PathBuf]>,
    sources: &Reader,
    as_of: Date,
    owners: Option<&Path>,
    connecting: impl Future<Output = Result<C, E>>,
    api: impl Fn(&C) -> &A,
) -> Result<(Loaded, C), E>
where
    E: From<TargetError>,
    A: TallyfyApi,
{
    let (files, baseline, owners) = (files.to_vec(), baseline.map(<[PathBuf]>::to_vec), owners.map(Path::to_path_buf));
    let loading = tokio::task::spawn_blocking(move || {
        let (desired, expiry, owners) = load_as_of(&files, as_of, owners.as_deref())?;
        let baseline = match baseline {
            None => Baseline::None,
            Some(paths) if paths.is_empty() => Baseline::Loaded(Box::default()),
            Some(paths) => match desired::load_baseline(desired::read_sources(&paths)?) {
                // The baseline's dates as of the same day: an entry that expired there too is
                // not a change of this one. Its limits only label, so they stop nothing.
                Ok(mut b) => {
                    let _ = expiry::evaluate(&mut b, as_of);
                    Baseline::Loaded(Box::new(b))
                }
                Err(problems) => Baseline::Invalid(problems),
            },
        };
        Ok::<_, TargetError>(((desired, expiry, owners), baseline))
    });
    let loaded = async { loading.await.map_err(|e| TargetError::Loading(e.to_string()))? };
    tokio::pin!(loaded, connecting);
    // A bad file is reported at once, and before a failed connection (a missing token, say).
    let (conn, early) = tokio::select! {
        files = &mut loaded => {
            let files = files?;
            (connecting.await?, Some(files))
        }
        conn = &mut connecting => match conn {
            Ok(conn) => (conn, None),
            Err(e) => return Err(loaded.await.err().map_or(e, E::from)),
        },
    };
    let client = api(&conn);
    let lists = async { tokio::try_join!(client.list_groups(), client.list_users()).map_err(TargetError::from) };
    let files_and_guests = async {
        let ((desired, expiry, owners), baseline) = match early {
            Some(files) => files,
            None => loaded.await?,
        };
        let need_guests = desired.names_guests() || matches!(&baseline, Baseline::Loaded(b) if b.names_guests());
        let guests = async { if need_guests { client.list_guests().await.map(Some) } else { Ok(None) } };
        let (guests, (reads, baseline_reads)) = tokio::join!(guests, read_sources(sources, &desired, &baseline));
        Ok::<_, TargetError>((desired, expiry, owners, baseline, guests?, reads, baseline_reads))
    };
    let ((groups, users), (desired, expiry, owners, baseline, guests, reads, baseline_reads)) = tokio::try_join!(lists, files_and_guests)?;
    info!(groups = groups.len(), users = users.len(), guests = guests.as_ref().map(Vec::len), sources = reads.len(), "read live state");
    Ok((Loaded { desired, expiry, owners, baseline, live: LiveState { groups, users, guests }, reads, baseline_reads }, conn))
}

/// Reads the sources the files use, and the baseline's CSV files; takes the files' reads for a
/// command or directory the baseline declares alike.
async fn read_sources(reader: &Reader, desired: &DesiredState, baseline: &Baseline) -> (Reads, Reads) {
    let used: Vec<SourceSpec> = desired.used_sources().into_iter().cloned().collect();
    let base_used: Vec<&SourceSpec> = match baseline {
        Baseline::Loaded(b) => b.used_sources(),
        _ => Vec::new(),
    };
    let base_csv: Vec<SourceSpec> = base_used.iter().filter(|s| matches!(s.kind, SourceKind::Csv(_))).map(|s| (*s).clone()).collect();
    let (reads, mut baseline_reads) = tokio::join!(reader.read_all(&used), reader.read_all(&base_csv));
    for spec in base_used.iter().filter(|s| !matches!(s.kind, SourceKind::Csv(_) | SourceKind::List(_))) {
        let alike = used.iter().find(|u| u.name == spec.name && u.kind == spec.kind);
        if let Some(read) = alike.and_then(|u| reads.get(&u.name)) {
            baseline_reads.insert(spec.name.clone(), read.clone());
        }
    }
    (reads, baseline_reads)
}

/// The plan, its changes labelled against the baseline (`--baseline`) when there is one.
pub fn plan_with_baseline(loaded: Loaded, options: &DiffOptions, target: Target) -> Result<Plan, TargetError> {
    let Loaded { mut desired, expiry, owners, baseline, live, reads, baseline_reads } = loaded;
    fill_external_members(&mut desired, &live)?;
    // A source that failed fails the plan (or, with --keep-going, leaves its groups untouched):
    // never an empty list.
    let _kept_going = desired::expand(&mut desired, &reads, options.keep_going).map_err(TargetError::Sources)?;
    let mut plan = make_plan(&desired, &live, options, target.clone())?;
    plan.expiry = expiry;
    if let Some(o) = &owners {
        plan.reviewers = reviewers(&plan, &desired, o);
    }
    // The baseline only labels changes: one that does not validate or resolve (the target
    // branch may name someone who has left, and this change may be the one removing them)
    // leaves changes unlabelled, with a warning, and never fails the plan.
    let mut baseline_warnings = Vec::new();
    match baseline {
        Baseline::None => {}
        Baseline::Invalid(problems) => {
            baseline_warnings.push(Warning::BaselineInvalid { problems: problems.0.iter().map(WarningProblem::from).collect() })
        }
        Baseline::Loaded(mut baseline) => {
            // A baseline source that was not read (a command or directory declared otherwise
            // there) leaves the baseline's groups that use it unlabelled, with a warning.
            let _ = fill_external_members(&mut baseline, &live);
            let _ = desired::expand(&mut baseline, &baseline_reads, true);
            let base_options = DiffOptions { keep_going: true, ..options.clone() };
            match make_plan(&baseline, &live, &base_options, target) {
                Ok(base_plan) => {
                    plan::label_origins(&mut plan, &base_plan);
                    if !base_plan.errors.is_empty() {
                        baseline_warnings
                            .push(Warning::BaselineUnresolved { problems: base_plan.errors.iter().map(WarningProblem::from).collect() });
                    }
                }
                Err(e) => baseline_warnings.push(Warning::BaselineNotPlanned { error: e.to_string() }),
            }
        }
    }
    plan.warnings.extend(baseline_warnings);
    Ok(plan)
}

/// The access report's rows (`report access`) of the groups `only` selects: the files expanded
/// as a plan expands them (a source that fails, or an included external group whose members were
/// not read whole, fails the report: never rows of nobody), set against live state; a selected
/// live group not read whole fails it too.
pub fn access_rows(loaded: Loaded, only: &Scope) -> Result<Vec<AccessRow>, TargetError> {
    let Loaded { mut desired, live, reads, .. } = loaded;
    fill_external_members(&mut desired, &live)?;
    let _complete = desired::expand(&mut desired, &reads, false).map_err(|e| TargetError::Unusable(e.for_report()))?;
    Ok(access::rows(&desired, &live, only)?)
}

/// Takes the live members of the `external: true` groups other groups include: an external
/// group that is missing, or whose members were not read whole, fails the plan (its members are
/// never taken for nobody).
fn fill_external_members(desired: &mut DesiredState, live: &LiveState) -> Result<(), TargetError> {
    let mut found = BTreeMap::new();
    let mut problems = Vec::new();
    for g in desired.included_external() {
        let key = tallyfy_groups_core::model::name_key(&g.name.value);
        match live.groups.iter().find(|l| tallyfy_groups_core::model::name_key(&l.name) == key) {
            Some(l) if l.unread.iter().all(|u| u.list != tallyfy_groups_core::model::GroupList::Members) => {
                found.insert(key, l.members.iter().copied().collect());
            }
            Some(_) => problems.push(
                tallyfy_groups_core::desired::Diagnostic::at(
                    &g.name.at,
                    format!(
                        "the members of external group \"{}\" were not read whole, so the groups that include it cannot be planned",
                        g.name.value
                    ),
                )
                .with_hint("run again; if it persists, the API leaves out that group's members"),
            ),
            None => problems.push(
                tallyfy_groups_core::desired::Diagnostic::at(
                    &g.name.at,
                    format!(
                        "external group \"{}\" does not exist in Tallyfy, so the groups that include it cannot be planned",
                        g.name.value
                    ),
                )
                .with_hint("an external group is managed elsewhere: create it there (or check its name), or stop including it"),
            ),
        }
    }
    if !problems.is_empty() {
        return Err(TargetError::Invalid(Diagnostics(problems)));
    }
    desired.external_members = found;
    Ok(())
}

/// The reviewers of each group the plan changes, by the group's name: those of the rule that
/// governs the file defining it (a pruned group: of the first rule that allows it).
fn reviewers(plan: &Plan, desired: &DesiredState, owners: &Owners) -> BTreeMap<String, Vec<String>> {
    let paths = file_paths(desired);
    let defined_in = |name: &str| {
        let key = tallyfy_groups_core::model::name_key(name);
        desired.groups.iter().find(|g| tallyfy_groups_core::model::name_key(&g.name.value) == key).and_then(|g| paths.get(&*g.at.file))
    };
    let mut out = BTreeMap::new();
    for a in &plan.actions {
        let name = match (a.writes(), a.replaces()) {
            (Some(after), _) => &after.name,
            (None, Some(before)) => &before.name,
            _ => continue,
        };
        let who = owners.reviewers_of(name, defined_in(name).map(PathBuf::as_path));
        if !who.is_empty() {
            out.insert(name.clone(), who.to_vec());
        }
    }
    out
}

/// What a made plan means for `plan`'s exit status: its unresolved groups (`--keep-going`) are an
/// error, a gate's refusal is a refusal (apply would refuse it), changes are 2 with
/// `--detailed-exitcode`. `target` names a workspace's target.
pub fn plan_verdict(
    plan: &mut Plan,
    detailed_exitcode: bool,
    allow: Allowances<'_>,
    target: Option<&str>,
) -> Result<ExitStatus, TargetError> {
    if !plan.errors.is_empty() {
        return Err(TargetError::KeptGoing(Diagnostics(plan.errors.clone())));
    }
    // A pull-request check turns red when apply would refuse, not green-then-refused-after-merge.
    gate::check(plan, Stage::Plan, allow, target)?;
    Ok(if detailed_exitcode && !plan.is_empty() { ExitStatus::Changes } else { ExitStatus::Success })
}

/// Checks a saved plan against live state, read right before: the plan rebuilt from the saved
/// actions and that live state (the guard and everything shown come from live state, never from
/// the file), or `None` when live state already equals the plan's result.
pub fn check_saved(saved_plan: &SavedPlan, target: &Target, live: &LiveState) -> Result<Option<Plan>, Refusal> {
    let (label, org) = (&target.api_url, &target.org);
    if saved::already_applied(saved_plan, label, org, live) {
        info!("every group the saved plan touches already equals its result");
        return Ok(None);
    }
    let refused = |s: saved::Staleness| Refusal::SavedPlan(words::staleness(&s));
    saved::check(saved_plan, label, org, live).map_err(refused)?;
    saved_plan.to_plan(live).map(Some).map_err(refused)
}

/// Refuses a saved plan whose recorded guard limits differ from those of the groups files it is
/// applied under: `files` when given, else `default` when it exists, else the defaults (a saved
/// plan's seal is a checksum anyone can recompute, so its limits are a record, not a rule).
/// `target` names a workspace's target.
pub fn check_saved_limits(
    saved_plan: &SavedPlan,
    files: &[PathBuf],
    default: &std::path::Path,
    target: Option<&str>,
) -> Result<(), TargetError> {
    let paths: Vec<PathBuf> = if files.is_empty() && default.is_file() { vec![default.to_path_buf()] } else { files.to_vec() };
    let limits = if paths.is_empty() { None } else { Some(GuardLimits::of(&load(&paths)?)) };
    let differ = saved_plan.limits_differ(limits.as_ref());
    if differ.is_empty() {
        return Ok(());
    }
    let of = match &limits {
        Some(_) => format!("in {}", paths.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")),
        None => "by default (no groups file given; -f names the files the plan was made from)".to_string(),
    };
    let lines: Vec<String> =
        differ.iter().map(|(name, recorded, files)| format!("    {name}: {recorded} in the plan, {files} {of}")).collect();
    let whose = target.map(|t| format!("target {t}'s ")).unwrap_or_default();
    Err(Refusal::SavedPlan(format!(
        "refusing to apply: {whose}saved plan records removal-guard limits that differ from its groups files':\n{}\n    hint: the limits apply comes from the files under review, never from a plan file; make the plan again with `plan --out` (with -f naming the same files)",
        lines.join("\n")
    ))
    .into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tallyfy_groups_api::OrgContext;
    use tallyfy_groups_core::plan::GroupState;
    use tallyfy_groups_sandbox::{MemoryApi, State};

    /// The day the tests' files are evaluated as of (never the clock's).
    fn test_day() -> Date {
        Date::parse("2026-06-01").expect("a day")
    }

    fn write(dir: &std::path::Path, name: &str, text: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, text).expect("write");
        path
    }

    #[tokio::test]
    async fn a_target_plans_against_memory_and_its_gate_refuses_a_mass_deletion() {
        let dir = std::env::temp_dir().join(format!("engine-pipeline-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let api = MemoryApi::new(State::demo());
        for i in 0..7 {
            let group = GroupState { name: format!("Old {i}"), description: "d".into(), members: vec![], guests: vec![] };
            api.create_group(&group).await.expect("created");
        }
        let org = OrgContext { target: Target { api_url: "memory".into(), org: "sandbox".into() }, api };
        let files = [write(&dir, "g.yaml", "settings:\n  prune: true\ngroups:\n  - name: Team\n")];
        let connecting = async { Ok::<_, TargetError>(org.clone()) };
        let (loaded, conn) =
            load_while_fetching(&files, None, &Reader::default(), test_day(), None, connecting, |c: &OrgContext<MemoryApi>| &c.api)
                .await
                .expect("loaded");
        let mut plan = plan_with_baseline(loaded, &DiffOptions::default(), conn.target.clone()).expect("planned");
        assert!(plan.summary.delete >= 7, "{:?}", plan.summary);
        let refused = plan_verdict(&mut plan, true, Allowances::default(), Some("prod")).unwrap_err();
        assert_eq!(refused.exit_status(), ExitStatus::Refused);
        assert!(refused.to_string().contains("--allow-removals prod=\"why\""), "{refused}");
        let allowed = plan_verdict(&mut plan, true, Allowances { removals: Some("cleanup") }, Some("prod")).expect("overridden");
        assert_eq!(allowed, ExitStatus::Changes);
        // A bad file is said before a connection that fails.
        let bad = [write(&dir, "bad.yaml", "groups:\n  - nme: X\n")];
        let failing = async { Err::<OrgContext<MemoryApi>, _>(TargetError::Loading("no connection".into())) };
        let failed =
            load_while_fetching(&bad, None, &Reader::default(), test_day(), None, failing, |c: &OrgContext<MemoryApi>| &c.api).await;
        assert!(matches!(failed, Err(TargetError::Invalid(_))), "a bad file is reported first");
        let _ = std::fs::remove_dir_all(&dir);
    }

    const SUPPORT: &str = "settings:\n  min_removed_for_ratio: 1\ngroups:\n  - name: Support Escalation\n    description: Second-line support.\n    members: [{source: support}]\n  - name: Onboarding Team\n    description: Team responsible for new client onboarding.\n    members: [alice.nguyen@example.com, marco.rossi@example.com, li.wei@example.com, dana.okafor@example.com]\n";

    /// Plans `groups.yaml` (with `SUPPORT`'s groups and the `support` source declared as
    /// `source`) against the demo organization.
    async fn plan_support(dir: &std::path::Path, source: &str, options: &DiffOptions) -> Result<Plan, TargetError> {
        let files = [write(dir, "groups.yaml", &format!("sources:\n  support:\n{source}{SUPPORT}"))];
        let api = MemoryApi::new(State::demo());
        let org = OrgContext { target: Target { api_url: "memory".into(), org: "sandbox".into() }, api };
        let connecting = async { Ok::<_, TargetError>(org.clone()) };
        let (loaded, conn) =
            load_while_fetching(&files, None, &Reader::default(), test_day(), None, connecting, |c: &OrgContext<MemoryApi>| &c.api).await?;
        plan_with_baseline(loaded, options, conn.target.clone())
    }

    fn members_after(plan: &Plan, name: &str) -> Option<Vec<u64>> {
        plan.actions.iter().find_map(|a| match a {
            tallyfy_groups_core::plan::Action::UpdateGroup { after, .. } if after.name == name => {
                Some(after.members.iter().map(|m| m.0).collect())
            }
            _ => None,
        })
    }

    #[tokio::test]
    async fn a_source_fills_a_group_and_what_it_no_longer_yields_is_removed_through_the_guard() {
        let dir = tempfile::tempdir().expect("dir");
        let csv = "    csv: {path: support.csv, column: Email}\n";
        let all = "Email\nmarco.rossi@example.com\npriya.shah@example.com\nsam.taylor@example.com\nfatima.haddad@example.com\ntom.becker@example.com\n";
        write(dir.path(), "support.csv", all);
        let plan = plan_support(dir.path(), csv, &DiffOptions::default()).await.expect("planned");
        // The source yields exactly the live members: only the Onboarding Team (Dana added) changes.
        assert_eq!(members_after(&plan, "Support Escalation"), None, "{:?}", plan.actions);
        assert_eq!(plan.actions.len(), 1, "{:?}", plan.actions);

        // One person leaves the export: exactly that membership goes.
        write(dir.path(), "support.csv", &all.replace("priya.shah@example.com\n", ""));
        let mut plan = plan_support(dir.path(), csv, &DiffOptions::default()).await.expect("planned");
        assert_eq!(members_after(&plan, "Support Escalation"), Some(vec![1002, 1006, 1009, 1010]));
        assert_eq!(plan.guard.removed_memberships, 1);
        // With the guard's floor at one removal, losing one of the eight managed memberships
        // (12.5 %) is within the default 25 %.
        assert_eq!(plan.guard.current_memberships, 8);
        assert_eq!(plan_verdict(&mut plan, false, Allowances::default(), None).expect("allowed"), ExitStatus::Success);

        // An export that lost most people trips the guard exactly as deleting the lines would.
        write(dir.path(), "support.csv", "Email\nmarco.rossi@example.com\n");
        let mut plan = plan_support(dir.path(), csv, &DiffOptions::default()).await.expect("planned");
        assert_eq!(plan.guard.removed_memberships, 4);
        let refused = plan_verdict(&mut plan, false, Allowances::default(), None).unwrap_err();
        assert_eq!(refused.exit_status(), ExitStatus::Refused);
    }

    #[tokio::test]
    async fn a_failed_source_plans_nothing_and_keep_going_leaves_only_its_groups_untouched() {
        let dir = tempfile::tempdir().expect("dir");
        // The export is missing: the source fails, and nothing is planned, not even the
        // Onboarding Team's addition (Dana), which does not use it.
        let csv = "    csv: {path: missing.csv, column: Email}\n";
        let failed = plan_support(dir.path(), csv, &DiffOptions::default()).await.unwrap_err();
        let TargetError::Sources(error) = &failed else { panic!("expected a source failure, got {failed:?}") };
        let text = error.to_string();
        assert!(text.starts_with("1 source could not be read, so nothing is planned:"), "{text}");
        assert!(text.contains("missing.csv"), "{text}");
        assert!(text.contains("--keep-going"), "{text}");

        // With --keep-going the Onboarding Team is planned and Support Escalation is left as it
        // is (its five members stay), reported as an error of the plan.
        let options = DiffOptions { keep_going: true, ..DiffOptions::default() };
        let mut plan = plan_support(dir.path(), csv, &options).await.expect("planned");
        assert_eq!(members_after(&plan, "Onboarding Team"), Some(vec![1001, 1002, 1004, 1005]));
        assert_eq!(members_after(&plan, "Support Escalation"), None);
        assert_eq!(plan.guard.removed_memberships, 0);
        assert_eq!(plan.errors.len(), 1, "{:?}", plan.errors);
        assert!(plan.errors[0].to_string().contains("support"), "{:?}", plan.errors);
        assert!(matches!(plan_verdict(&mut plan, false, Allowances::default(), None), Err(TargetError::KeptGoing(_))));
    }
}
