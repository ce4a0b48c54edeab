//! The applier: executes `plan.actions` (and nothing else) against Tallyfy, in phases: guests,
//! then group creates and updates, then deletes, each phase with bounded parallelism. A failed
//! action never stops the others; every action ends applied, failed or skipped. Does network I/O.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

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
    /// Set (by Ctrl-C) to start no further action; requests in flight finish.
    pub stop: Arc<AtomicBool>,
}

/// Called after each action ends, with (done, total).
pub type Progress = Arc<dyn Fn(usize, usize) + Send + Sync>;

/// Executes the plan's actions.
pub async fn apply(plan: &Plan, client: &Client, options: &ApplyOptions, progress: Option<Progress>) -> ApplyReport {
    let mut run = Run {
        plan,
        client,
        parallelism: options.parallelism.max(1),
        stop: options.stop.clone(),
        outcomes: vec![None; plan.actions.len()],
        done: 0,
        progress,
    };

    let guests = run.indices(|a| matches!(a, Action::CreateGuest { .. }));
    let per_hour = options.guest_invites_per_hour.max(1);
    // Tallyfy counts new guests per rolling hour, as the client's limiter counts requests.
    let pacing = Arc::new(RateLimiter::rolling(per_hour, std::time::Duration::from_secs(3600)));
    run.phase(&guests, &HashSet::new(), Some(pacing)).await;
    let failed_guests: HashSet<Email> = guests
        .iter()
        .filter(|&&i| !matches!(run.outcomes[i], Some(Outcome::Applied)))
        .filter_map(|&i| match &plan.actions[i] {
            Action::CreateGuest { email, .. } => Some(email.clone()),
            _ => None,
        })
        .collect();
    let writes = run.indices(|a| matches!(a, Action::CreateGroup { .. } | Action::UpdateGroup { .. }));
    run.phase(&writes, &failed_guests, None).await;
    let deletes = run.indices(|a| matches!(a, Action::DeleteGroup { .. }));
    run.phase(&deletes, &failed_guests, None).await;

    let results = plan
        .actions
        .iter()
        .zip(run.outcomes)
        .map(|(a, o)| ActionResult {
            verb: a.verb().to_string(),
            subject: a.subject(),
            outcome: o.unwrap_or(Outcome::Skipped { reason: "the action ended abnormally; run apply again".into() }),
        })
        .collect();
    ApplyReport { results, allow_removals: options.allow_removals.clone() }
}

/// One apply in progress: the outcome of every action so far.
struct Run<'a> {
    plan: &'a Plan,
    client: &'a Client,
    parallelism: usize,
    stop: Arc<AtomicBool>,
    outcomes: Vec<Option<Outcome>>,
    done: usize,
    progress: Option<Progress>,
}

impl Run<'_> {
    /// The actions of one phase, in plan order.
    fn indices(&self, pred: fn(&Action) -> bool) -> Vec<usize> {
        (0..self.plan.actions.len()).filter(|&i| pred(&self.plan.actions[i])).collect()
    }

    fn finish(&mut self, i: usize, outcome: Outcome) {
        self.outcomes[i] = Some(outcome);
        self.done += 1;
        if let Some(p) = &self.progress {
            p(self.done, self.plan.actions.len());
        }
    }

    /// Runs the actions `indices` with at most `parallelism` at once (and `pacing`, if any);
    /// an action that needs a guest in `failed_guests` is skipped.
    async fn phase(&mut self, indices: &[usize], failed_guests: &HashSet<Email>, pacing: Option<Arc<RateLimiter>>) {
        let semaphore = Arc::new(Semaphore::new(self.parallelism));
        let mut set = tokio::task::JoinSet::new();
        for &i in indices {
            let action = self.plan.actions[i].clone();
            if let Some(missing) = missing_guest(&action, failed_guests) {
                let reason = format!("guest {missing} could not be invited");
                self.finish(i, Outcome::Skipped { reason });
                continue;
            }
            let client = self.client.clone();
            let semaphore = semaphore.clone();
            let pacing = pacing.clone();
            let stop = self.stop.clone();
            let span = info_span!("action", verb = action.verb(), subject = %action.subject());
            set.spawn(
                async move {
                    let _permit = semaphore.acquire_owned().await;
                    // Held until the invitation is answered, so the hour runs from then.
                    let _paced = match &pacing {
                        Some(p) => Some(p.acquire().await),
                        None => None,
                    };
                    if stop.load(Ordering::SeqCst) {
                        return (i, Outcome::Skipped { reason: "apply was interrupted before this action started".into() });
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
                Ok((i, outcome)) => self.finish(i, outcome),
                Err(e) => warn!(error = %e, "an action task ended abnormally"),
            }
        }
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
