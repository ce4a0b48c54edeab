//! The applier: executes `plan.actions` (and nothing else) against Tallyfy, in phases: guests,
//! then group creates and updates, then deletes, each phase with bounded parallelism. A failed
//! action never stops the others; every action ends applied, failed or skipped. Does network I/O.

use std::collections::HashSet;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tokio::sync::Semaphore;
use tracing::{Instrument, info, info_span, warn};

use crate::model::Email;
use crate::plan::{Action, GroupState, Plan};
use crate::tallyfy::wire::{GroupPayload, GuestPayload};
use crate::tallyfy::{Client, RateLimiter};

/// How one action ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Outcome {
    Applied,
    Failed { error: String },
    Skipped { reason: String },
}

/// One action's result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActionResult {
    pub verb: String,
    pub subject: String,
    pub outcome: Outcome,
}

/// Every action's result, in plan order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApplyReport {
    pub results: Vec<ActionResult>,
    /// The reason given with `--allow-removals`, when the guard was overridden.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_removals: Option<String>,
}

impl ApplyReport {
    /// (applied, failed, skipped).
    pub fn counts(&self) -> (usize, usize, usize) {
        let mut c = (0, 0, 0);
        for r in &self.results {
            match r.outcome {
                Outcome::Applied => c.0 += 1,
                Outcome::Failed { .. } => c.1 += 1,
                Outcome::Skipped { .. } => c.2 += 1,
            }
        }
        c
    }

    pub fn all_applied(&self) -> bool {
        self.results.iter().all(|r| r.outcome == Outcome::Applied)
    }
}

/// Options of one apply.
#[derive(Debug, Clone)]
pub struct ApplyOptions {
    pub parallelism: usize,
    pub allow_removals: Option<String>,
    /// Guest invitations per hour beyond the first burst of as many (Tallyfy's limit).
    pub guest_invites_per_hour: u32,
}

/// Called after each action ends, with (done, total).
pub type Progress = Arc<dyn Fn(usize, usize) + Send + Sync>;

/// Executes the plan's actions.
pub async fn apply(plan: &Plan, client: &Client, options: &ApplyOptions, progress: Option<Progress>) -> ApplyReport {
    let total = plan.actions.len();
    let mut outcomes: Vec<Option<Outcome>> = vec![None; total];
    let done = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let phase = |pred: fn(&Action) -> bool| -> Vec<usize> { (0..total).filter(|&i| pred(&plan.actions[i])).collect() };

    let guests = phase(|a| matches!(a, Action::CreateGuest { .. }));
    let rate = f64::from(options.guest_invites_per_hour.max(1)) / 3600.0;
    let pacing = Arc::new(RateLimiter::with_burst(rate, options.guest_invites_per_hour.max(1)));
    run_phase(plan, client, options, &guests, &mut outcomes, &HashSet::new(), &done, &progress, Some(pacing)).await;
    let failed_guests: HashSet<Email> = guests
        .iter()
        .filter(|&&i| !matches!(outcomes[i], Some(Outcome::Applied)))
        .filter_map(|&i| match &plan.actions[i] {
            Action::CreateGuest { email, .. } => Some(email.clone()),
            _ => None,
        })
        .collect();
    let writes = phase(|a| matches!(a, Action::CreateGroup { .. } | Action::UpdateGroup { .. }));
    run_phase(plan, client, options, &writes, &mut outcomes, &failed_guests, &done, &progress, None).await;
    let deletes = phase(|a| matches!(a, Action::DeleteGroup { .. }));
    run_phase(plan, client, options, &deletes, &mut outcomes, &failed_guests, &done, &progress, None).await;

    let results = plan
        .actions
        .iter()
        .zip(outcomes)
        .map(|(a, o)| ActionResult {
            verb: a.verb().to_string(),
            subject: a.subject(),
            outcome: o.unwrap_or(Outcome::Skipped { reason: "not reached".into() }),
        })
        .collect();
    ApplyReport { results, allow_removals: options.allow_removals.clone() }
}

#[allow(clippy::too_many_arguments)]
async fn run_phase(
    plan: &Plan,
    client: &Client,
    options: &ApplyOptions,
    indices: &[usize],
    outcomes: &mut [Option<Outcome>],
    failed_guests: &HashSet<Email>,
    done: &Arc<std::sync::atomic::AtomicUsize>,
    progress: &Option<Progress>,
    pacing: Option<Arc<RateLimiter>>,
) {
    let semaphore = Arc::new(Semaphore::new(options.parallelism.max(1)));
    let mut set = tokio::task::JoinSet::new();
    let total = plan.actions.len();
    for &i in indices {
        let action = plan.actions[i].clone();
        if let Some(missing) = missing_guest(&action, failed_guests) {
            outcomes[i] = Some(Outcome::Skipped { reason: format!("guest {missing} could not be invited") });
            tick(done, total, progress);
            continue;
        }
        let client = client.clone();
        let semaphore = semaphore.clone();
        let pacing = pacing.clone();
        let span = info_span!("action", verb = action.verb(), subject = %action.subject());
        set.spawn(
            async move {
                let _permit = semaphore.acquire_owned().await;
                if let Some(p) = &pacing {
                    p.acquire().await;
                }
                let outcome = match execute(&client, &action).await {
                    Ok(()) => {
                        info!("applied");
                        Outcome::Applied
                    }
                    Err(e) => {
                        warn!(error = %e, "failed");
                        Outcome::Failed { error: e.to_string() }
                    }
                };
                (i, outcome)
            }
            .instrument(span),
        );
    }
    while let Some(joined) = set.join_next().await {
        match joined {
            Ok((i, outcome)) => {
                outcomes[i] = Some(outcome);
                tick(done, total, progress);
            }
            Err(e) => warn!(error = %e, "an action task ended abnormally"),
        }
    }
}

fn tick(done: &Arc<std::sync::atomic::AtomicUsize>, total: usize, progress: &Option<Progress>) {
    let n = done.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
    if let Some(p) = progress {
        p(n, total);
    }
}

fn missing_guest<'a>(action: &'a Action, failed: &HashSet<Email>) -> Option<&'a Email> {
    match action {
        Action::CreateGroup { after } | Action::UpdateGroup { after, .. } => after.guests.iter().find(|g| failed.contains(*g)),
        _ => None,
    }
}

fn payload(s: &GroupState) -> GroupPayload {
    GroupPayload { name: s.name.clone(), description: s.description.clone(), members: s.members.clone(), guests: s.guests.clone() }
}

async fn execute(client: &Client, action: &Action) -> Result<(), crate::tallyfy::ApiError> {
    match action {
        Action::CreateGuest { email, first_name, last_name } => {
            client.create_guest(&GuestPayload { email: email.clone(), first_name: first_name.clone(), last_name: last_name.clone() }).await
        }
        Action::CreateGroup { after } => client.create_group(&payload(after)).await.map(|_| ()),
        Action::UpdateGroup { id, after, .. } => client.update_group(id, &payload(after)).await.map(|_| ()),
        Action::DeleteGroup { id, .. } => client.delete_group(id).await,
    }
}
