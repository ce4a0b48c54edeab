//! The applier: executes `plan.actions` (and nothing else) against Tallyfy, in phases: guests,
//! then group creates and updates, then deletes, each phase with bounded parallelism. A failed
//! action never stops the others; every action ends applied, failed or skipped. Does network I/O.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::Semaphore;
use tracing::{Instrument, info, info_span, warn};

use tallyfy_groups_core::model::Email;
use tallyfy_groups_core::plan::Phase;
use tallyfy_groups_core::plan::{Action, ActionKind, Plan};
pub use tallyfy_groups_core::report::{ActionError, ActionResult, ApplyReport, ErrorKind, Outcome, SkipReason, Subject, UnknownReason};

use crate::{FreshWrite, RateLimiter, STOP_AFTER_FAILURES, Stop, TallyfyApi};
use tallyfy_groups_core::model::LiveGroup;

/// Options of one apply.
#[derive(Debug, Clone)]
pub struct ApplyOptions {
    /// Actions run at once.
    pub parallelism: usize,
    /// The reason given with `--allow-removals`, recorded in the report when the guard was
    /// overridden.
    pub allow_removals: Option<String>,
    /// Guest invitations per hour beyond the first burst of as many (Tallyfy's limit).
    pub guest_invites_per_hour: u32,
    /// Asks the apply to stop (Ctrl-C, SIGTERM); the client given to [`apply`] should share it,
    /// so that its waits and requests stop too.
    pub stop: Stop,
}

/// Called after each action ends, with how the actions so far ended.
pub type Progress = Arc<dyn Fn(&Tally) + Send + Sync>;

/// How many actions have ended so far, and how: an action skipped after Ctrl-C has ended, but
/// was not done.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    /// Actions in the plan.
    pub total: usize,
    /// Actions that have ended, however they ended.
    pub ended: usize,
    /// Actions applied.
    pub applied: usize,
    /// Actions that failed.
    pub failed: usize,
    /// Actions skipped, not attempted.
    pub skipped: usize,
    /// Actions whose effect is unknown.
    pub unknown: usize,
}

impl Tally {
    fn count(&mut self, outcome: &Outcome) {
        self.ended += 1;
        match outcome {
            Outcome::Applied => self.applied += 1,
            Outcome::Failed { .. } => self.failed += 1,
            Outcome::Skipped { .. } => self.skipped += 1,
            Outcome::Unknown { .. } => self.unknown += 1,
        }
    }
}

/// Executes the plan's actions.
pub async fn apply<A: TallyfyApi>(plan: &Plan, client: &A, options: &ApplyOptions, progress: Option<Progress>) -> ApplyReport {
    let mut run = Run {
        plan,
        client,
        parallelism: options.parallelism.max(1),
        stop: options.stop.clone(),
        outcomes: vec![None; plan.actions.len()],
        tally: Tally { total: plan.actions.len(), ..Tally::default() },
        progress,
    };

    // Guests first, paced; the groups that list a new guest after them. Groups that need no new
    // guest run beside the invitations instead of waiting behind their pacing.
    let guests = run.indices(Phase::Guests);
    let invited: HashSet<Email> = guests.iter().filter_map(|&i| plan.actions[i].invites().cloned()).collect();
    let writes = run.indices(Phase::Writes);
    let (after_guests, beside_guests): (Vec<usize>, Vec<usize>) =
        writes.into_iter().partition(|&i| missing_guest(&plan.actions[i], &invited).is_some());
    let per_hour = options.guest_invites_per_hour.max(1);
    // Tallyfy counts new guests per rolling hour, as the client's limiter counts requests.
    let pacing = Arc::new(RateLimiter::rolling(per_hour, std::time::Duration::from_secs(3600)));
    run.phase(&[guests.as_slice(), beside_guests.as_slice()].concat(), &HashSet::new(), Some(pacing)).await;
    let failed_guests: HashSet<Email> = guests
        .iter()
        .filter(|&&i| !matches!(run.outcomes[i], Some(Outcome::Applied)))
        .filter_map(|&i| plan.actions[i].invites().cloned())
        .collect();
    run.phase(&after_guests, &failed_guests, None).await;
    let deletes = run.indices(Phase::Deletes);
    run.phase(&deletes, &failed_guests, None).await;

    let results = plan
        .actions
        .iter()
        .zip(run.outcomes)
        .enumerate()
        .map(|(index, (a, o))| ActionResult {
            index,
            action: a.kind(),
            subject: tallyfy_groups_core::report::Subject::of(a),
            outcome: o.unwrap_or(Outcome::Skipped { reason: SkipReason::EndedAbnormally }),
        })
        .collect();
    ApplyReport {
        results,
        allow_removals: options.allow_removals.clone(),
        policy_overrides: plan.policy.as_ref().map(|p| p.overrides.clone()).unwrap_or_default(),
    }
}

/// One apply in progress: the outcome of every action so far.
struct Run<'a, A> {
    plan: &'a Plan,
    client: &'a A,
    parallelism: usize,
    stop: Stop,
    outcomes: Vec<Option<Outcome>>,
    tally: Tally,
    progress: Option<Progress>,
}

impl<A: TallyfyApi> Run<'_, A> {
    /// The actions of one phase, in plan order.
    fn indices(&self, phase: Phase) -> Vec<usize> {
        (0..self.plan.actions.len()).filter(|&i| self.plan.actions[i].phase() == phase).collect()
    }

    fn finish(&mut self, i: usize, outcome: Outcome) {
        self.tally.count(&outcome);
        self.outcomes[i] = Some(outcome);
        if let Some(p) = &self.progress {
            p(&self.tally);
        }
    }

    /// Runs the actions `indices` with at most `parallelism` at once, guest invitations paced
    /// by `pacing` (if any); an action that needs a guest in `failed_guests` is skipped. Once a
    /// stop is requested no action starts (a wait for pacing ends at once), and the client ends
    /// the actions under way: unsent ones as skipped, a write in flight past the grace as
    /// unknown.
    async fn phase(&mut self, indices: &[usize], failed_guests: &HashSet<Email>, pacing: Option<Arc<RateLimiter>>) {
        let semaphore = Arc::new(Semaphore::new(self.parallelism));
        let mut set = tokio::task::JoinSet::new();
        let mut started = Vec::new();
        for &i in indices {
            let action = self.plan.actions[i].clone();
            if self.stop.is_requested() {
                self.finish(i, interrupted());
                continue;
            }
            if let Some(missing) = missing_guest(&action, failed_guests) {
                let reason = SkipReason::GuestNotInvited { email: missing.clone() };
                self.finish(i, Outcome::Skipped { reason });
                continue;
            }
            let client = self.client.clone();
            let semaphore = semaphore.clone();
            let pacing = pacing.clone().filter(|_| action.invites().is_some());
            let stop = self.stop.clone();
            let began = Arc::new(AtomicBool::new(false));
            started.push((i, began.clone()));
            let span = info_span!("action", index = i, kind = ?action.kind());
            set.spawn(
                async move {
                    let ready = async {
                        // Held until the invitation is answered, so the hour runs from then.
                        let paced = match &pacing {
                            Some(p) => Some(p.acquire().await),
                            None => None,
                        };
                        (paced, semaphore.acquire_owned().await)
                    };
                    let stopped_answering = |failures: u32| (i, Outcome::Skipped { reason: SkipReason::StoppedAnswering { failures } });
                    let (_paced, _permit) = tokio::select! {
                        biased;
                        () = stop.requested() => return (i, interrupted()),
                        () = client.wait_stopped_answering() => {
                            return stopped_answering(client.stopped_answering().unwrap_or(STOP_AFTER_FAILURES));
                        }
                        permit = ready => permit,
                    };
                    if let Some(failures) = client.stopped_answering() {
                        return stopped_answering(failures);
                    }
                    began.store(true, Ordering::SeqCst);
                    (i, outcome(&action, execute(&client, &action).await))
                }
                .instrument(span),
            );
        }
        // Made once: rebuilt in the loop, every action that ends would restart its grace.
        let stop = self.stop.clone();
        let backstop = async move {
            stop.abandoned().await;
            tokio::time::sleep(BACKSTOP).await;
        };
        tokio::pin!(backstop);
        loop {
            tokio::select! {
                joined = set.join_next() => match joined {
                    None => break,
                    Some(Ok((i, outcome))) => self.finish(i, outcome),
                    Some(Err(e)) => warn!(error = %e, "an action task ended abnormally"),
                },
                // The client abandons its own requests when the stop's grace ends and says which
                // were sent; this is the backstop for anything that did not end by itself.
                () = &mut backstop => {
                    set.abort_all();
                    while let Some(joined) = set.join_next().await {
                        if let Ok((i, outcome)) = joined {
                            self.finish(i, outcome);
                        }
                    }
                    for (i, began) in started {
                        if self.outcomes[i].is_none() {
                            let outcome = if began.load(Ordering::SeqCst) {
                                Outcome::Unknown { reason: UnknownReason::AbandonedInFlight, error: None }
                            } else {
                                interrupted()
                            };
                            self.finish(i, outcome);
                        }
                    }
                    break;
                }
            }
        }
    }
}

/// How long after the stop's grace an action that has not ended by itself is abandoned.
const BACKSTOP: std::time::Duration = std::time::Duration::from_millis(500);

fn interrupted() -> Outcome {
    Outcome::Skipped { reason: SkipReason::Interrupted }
}

/// How an action ended, from its request's result. A create that may or may not have taken
/// effect (its re-read failed, or its last attempt failed ambiguously) is unknown, not failed.
fn outcome(action: &Action, result: Result<(), Failure>) -> Outcome {
    let result = match result {
        Err(Failure::Reread(kind, why)) => {
            warn!(error = %why, "failed");
            return Outcome::Failed { error: ActionError { kind, status: None, code: None, message: why } };
        }
        Err(Failure::Api(e)) => Err(e),
        Ok(()) => Ok(()),
    };
    match result {
        Ok(()) => {
            info!("applied");
            Outcome::Applied
        }
        Err(crate::ApiError::Interrupted { sent: false, .. }) => interrupted(),
        Err(crate::ApiError::Interrupted { sent: true, .. }) => {
            warn!("interrupted while a write was in flight; whether it took effect is unknown");
            Outcome::Unknown { reason: UnknownReason::AbandonedInFlight, error: None }
        }
        Err(e) if e.is_unconfirmed() => {
            warn!(error = %e, "unknown whether it took effect");
            Outcome::Unknown { reason: UnknownReason::ReadBackFailed, error: Some(action_error(&e)) }
        }
        Err(e) if e.is_ambiguous() && matches!(action.kind(), ActionKind::CreateGroup | ActionKind::InviteGuest) => {
            warn!(error = %e, "unknown whether it took effect");
            Outcome::Unknown { reason: UnknownReason::Ambiguous, error: Some(action_error(&e)) }
        }
        Err(e) => {
            warn!(error = %e, "failed");
            Outcome::Failed { error: action_error(&e) }
        }
    }
}

/// The typed form of an API error: its kind, the HTTP status and Tallyfy's error code of the
/// answer that decided it (the last one, after retries), and its message.
fn action_error(e: &crate::ApiError) -> ActionError {
    use crate::ApiError as E;
    fn kind_and_code(e: &E) -> (ErrorKind, Option<String>) {
        match e {
            E::Status { status: 401, code, .. } => (ErrorKind::Unauthorized, code.clone()),
            E::Status { code, .. } => (ErrorKind::Http, code.clone()),
            E::Transport { .. } => (ErrorKind::Transport, None),
            E::Decode { .. } => (ErrorKind::Decode, None),
            E::Incomplete { .. } | E::Pagination { .. } => (ErrorKind::IncompleteRead, None),
            E::Exhausted { last, .. } => kind_and_code(last),
            E::RateLimited { .. } => (ErrorKind::RateLimited, None),
            E::Redirected { .. } => (ErrorKind::Redirected, None),
            E::StoppedAnswering { .. } => (ErrorKind::StoppedAnswering, None),
            E::Unconfirmed { create, .. } => (ErrorKind::Unconfirmed, kind_and_code(create).1),
            E::TokenExchange { .. } | E::StillUnauthorized { .. } => (ErrorKind::Unauthorized, None),
            E::Interrupted { .. } => (ErrorKind::Interrupted, None),
            E::ResentAfter401 { last } => kind_and_code(last),
            E::WrongGroup { .. } | E::TooLarge { .. } => (ErrorKind::Decode, None),
        }
    }
    let status = match e {
        E::Unconfirmed { create, .. } => create.status(),
        other => other.status(),
    };
    let (kind, code) = kind_and_code(e);
    ActionError { kind, status, code, message: e.to_string() }
}

fn missing_guest<'a>(action: &'a Action, failed: &HashSet<Email>) -> Option<&'a Email> {
    action.needs_guests().iter().find(|g| failed.contains(*g))
}

/// Why an action was not sent.
#[derive(Debug)]
enum Failure {
    Api(crate::ApiError),
    /// The group as read right before an update could not be used.
    Reread(ErrorKind, String),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Api(e) => e.fmt(f),
            Failure::Reread(_, why) => f.write_str(why),
        }
    }
}

impl From<crate::ApiError> for Failure {
    fn from(e: crate::ApiError) -> Self {
        Failure::Api(e)
    }
}

async fn execute<A: TallyfyApi>(client: &A, action: &Action) -> Result<(), Failure> {
    match action {
        Action::CreateGuest { email, first_name, last_name } => Ok(client.create_guest(email, first_name, last_name).await?),
        Action::CreateGroup { after } => Ok(client.create_group(after).await.map(|_| ())?),
        Action::UpdateGroup { id, before, after, carried, .. } if carried.any() => {
            // The body carries values the file does not manage: it is built from the group as it
            // is right before the write (read and written back to back), so a change made in
            // Tallyfy since the plan is not undone.
            let body_of = |fresh: &LiveGroup| {
                if !fresh.is_fully_known() {
                    return None;
                }
                let body = carried.body(before, after, fresh);
                if body != *after {
                    info!("the group changed in Tallyfy since the plan; keeping those changes in the fields groups.yaml does not manage");
                }
                Some(body)
            };
            match client.update_group_fresh(id, body_of).await {
                Ok(FreshWrite::Written(_)) => Ok(()),
                Ok(FreshWrite::Declined(fresh)) => {
                    let why: Vec<String> = fresh.unread.iter().map(ToString::to_string).collect();
                    Err(Failure::Reread(
                        ErrorKind::UnreadLists,
                        format!("refusing to write group \"{}\" (id {id}): read right before the write, {}", before.name, why.join("; ")),
                    ))
                }
                Err(e) if e.status() == Some(404) => Err(Failure::Reread(
                    ErrorKind::GroupGone,
                    format!("group \"{}\" (id {id}) no longer exists; run plan again", before.name),
                )),
                Err(e) => Err(e.into()),
            }
        }
        Action::UpdateGroup { id, after, .. } => Ok(client.update_group(id, after).await.map(|_| ())?),
        Action::DeleteGroup { id, .. } => Ok(client.delete_group(id).await?),
    }
}
