//! The sandbox's shared state ([`Sandbox`]): the organizations served, each with its state and
//! guest cap, and what every request goes through (counters, rate limits, tokens, faults). The
//! writes and quotas the handlers use are here; serving and the state file are in `serve`, the
//! routes in `routes`. No I/O.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::response::Response;
use tallyfy_groups_api::retry::Window as RateWindow;
use tokio::time::Instant;

use crate::auth::{Refused, Tokens};
use crate::config::{Config, distinct};
use crate::file::{Organizations, StateFile};
use crate::limits::Limits;
use crate::respond::{forbidden, rejection, too_many};
use crate::state::{NewGuests, Rejection, Seed, State};
use crate::stats::{Logged, Stats};

/// One organization served: its state, and what is counted per organization.
pub(crate) struct Org {
    /// Its users, guests and groups.
    pub(crate) state: Mutex<State>,
    /// The guests invited in the last hour.
    guest_invites: Mutex<RateWindow>,
    /// Whether the `edit-after-read` edit was made.
    pub(crate) edited_after_read: AtomicBool,
}

/// What the clones of a [`Sandbox`] share.
pub(crate) struct Inner {
    /// The organizations served, by id.
    pub(crate) orgs: BTreeMap<String, Org>,
    /// The organizations served, in the order given (the first is [`Sandbox::snapshot`]'s).
    pub(crate) served: Vec<String>,
    /// Organizations of the state file that are not served, written back as they were read.
    pub(crate) kept: BTreeMap<String, State>,
    /// The sandbox's behaviour.
    pub(crate) config: Config,
    /// The request counts.
    pub(crate) stats: Mutex<Stats>,
    /// Draws the injected faults (seeded by `config.fault_seed`).
    pub(crate) rng: Mutex<fastrand::Rng>,
    /// The rate limits in force.
    pub(crate) limits: Mutex<Limits>,
    /// Whether a state changed since the state file was written.
    pub(crate) dirty: AtomicBool,
    /// The fault rate in force (f64 bits), adjustable while serving.
    pub(crate) fault_rate: AtomicU64,
    /// When the sandbox started, for [`Logged::at_ms`].
    pub(crate) started: Instant,
    /// The requests received, the last [`crate::stats::LOG_CAPACITY`] of them.
    pub(crate) log: Mutex<std::collections::VecDeque<Logged>>,
    /// Access tokens issued by `POST /oauth/token`.
    tokens: Mutex<Tokens>,
}

/// The sandbox's shared state; cheap to clone.
#[derive(Clone)]
pub struct Sandbox {
    pub(crate) inner: Arc<Inner>,
}

/// Locks `m`, even if a thread panicked while holding it (the data stays usable).
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Sandbox {
    /// Serves `state` as the first organization of `config.orgs`, and a copy of it (its groups
    /// under ids of their own) as each other one.
    pub fn new(state: State, config: Config) -> Self {
        let orgs = distinct(&config.orgs);
        let mut served: Vec<(String, State)> = orgs.iter().skip(1).map(|org| (org.clone(), state.copy_for(org))).collect();
        if let Some(first) = orgs.first() {
            served.insert(0, (first.clone(), state));
        }
        for (org, state) in &mut served {
            state.assign_org(org);
        }
        Sandbox::with(Organizations { served, ..Organizations::default() }, config)
    }

    /// Serves the organizations of `config.orgs` from the content of a state file, if there is
    /// one (see [`Organizations::arrange`]): each one the file lacks starts from `seed` and is
    /// written to the file at the next flush; the file's others are kept in it, not served.
    pub fn load(file: Option<StateFile>, seed: Seed, config: Config) -> Self {
        let orgs = Organizations::arrange(file, &config.orgs, seed);
        for org in &orgs.seeded {
            tracing::info!(org = %org, "seeded a new organization in the sandbox");
        }
        let seeded = !orgs.seeded.is_empty();
        let sandbox = Sandbox::with(orgs, config);
        sandbox.inner.dirty.store(seeded, Ordering::SeqCst);
        sandbox
    }

    fn with(orgs: Organizations, config: Config) -> Self {
        let guest_window = || RateWindow::new(config.guest_limit.max(1), Duration::from_secs(3600));
        let served = orgs.served.iter().map(|(org, _)| org.clone()).collect();
        let stats = Stats { organizations: orgs.served.iter().map(|(org, _)| (org.clone(), 0)).collect(), ..Stats::default() };
        let orgs_served = orgs
            .served
            .into_iter()
            .map(|(org, mut state)| {
                state.reindex();
                (
                    org,
                    Org { state: Mutex::new(state), guest_invites: Mutex::new(guest_window()), edited_after_read: AtomicBool::new(false) },
                )
            })
            .collect();
        let rng = fastrand::Rng::with_seed(config.fault_seed);
        let limits = Limits::new(config.rate_limit, config.rate_limit_per_minute);
        let fault_rate = AtomicU64::new(config.fault_rate.to_bits());
        Sandbox {
            inner: Arc::new(Inner {
                orgs: orgs_served,
                served,
                kept: orgs.kept,
                config,
                stats: Mutex::new(stats),
                rng: Mutex::new(rng),
                limits: Mutex::new(limits),
                dirty: AtomicBool::new(false),
                fault_rate,
                started: Instant::now(),
                log: Mutex::new(std::collections::VecDeque::new()),
                tokens: Mutex::new(Tokens::new()),
            }),
        }
    }

    /// Changes the share of requests that fail (0 turns fault injection off).
    pub fn set_fault_rate(&self, rate: f64) {
        self.inner.fault_rate.store(rate.clamp(0.0, 1.0).to_bits(), Ordering::SeqCst);
    }

    /// A copy of the current state of the first organization served.
    pub fn snapshot(&self) -> State {
        self.inner.served.first().and_then(|org| self.snapshot_of(org)).unwrap_or_default()
    }

    /// A copy of the current state of organization `org`, if it is served.
    pub fn snapshot_of(&self, org: &str) -> Option<State> {
        self.inner.orgs.get(org).map(|o| lock(&o.state).clone())
    }

    /// The organizations served, in the order given.
    pub fn orgs(&self) -> &[String] {
        &self.inner.served
    }

    /// A copy of the request counts.
    pub fn stats(&self) -> Stats {
        lock(&self.inner.stats).clone()
    }

    /// The API requests received (the last 200,000), in order of arrival.
    pub fn log(&self) -> Vec<Logged> {
        lock(&self.inner.log).iter().cloned().collect()
    }

    /// The organization `org` of a request, which the `auth` layer let through only if served.
    pub(crate) fn org(&self, org: &str) -> Result<&Org, Response> {
        self.inner.orgs.get(org).ok_or_else(forbidden)
    }

    /// Runs a write on `org`'s state; one that succeeds marks the state file out of date.
    pub(crate) fn write<T>(&self, org: &Org, f: impl FnOnce(&mut State) -> Result<T, Rejection>) -> Result<T, Rejection> {
        let result = f(&mut lock(&org.state));
        if result.is_ok() {
            self.inner.dirty.store(true, Ordering::SeqCst);
        }
        result
    }

    /// What group writes do with guests who do not exist yet.
    pub(crate) fn new_guests_policy(&self) -> NewGuests {
        if self.inner.config.strict_guests { NewGuests::Reject } else { NewGuests::Create }
    }

    /// Runs a write that creates `new` guests if the hourly guest cap allows them (429 with
    /// `Retry-After` otherwise), and counts them when it succeeds. The cap's lock is held during
    /// the write, so two requests cannot both pass the check.
    pub(crate) fn with_guest_quota<T>(&self, org: &Org, new: usize, write: impl FnOnce() -> Result<T, Rejection>) -> Result<T, Response> {
        let limit = self.inner.config.guest_limit as usize;
        if new == 0 || limit == 0 {
            return write().map_err(rejection);
        }
        let mut invites = lock(&org.guest_invites);
        // Room for `new` more: the window with `new - 1` counted beside its own events.
        match invites.wait(Instant::now(), new - 1) {
            Some(d) if d.is_zero() => {}
            wait => return Err(too_many("Too many guest invitations; try again later.", wait.unwrap_or(Duration::from_secs(3600)))),
        }
        let result = write().map_err(rejection)?;
        let now = Instant::now();
        for _ in 0..new {
            invites.record(now);
        }
        Ok(result)
    }

    /// Issues an access token for the client credentials.
    pub(crate) fn issue_token(&self) -> String {
        let config = &self.inner.config;
        let token = lock(&self.inner.tokens).issue(Instant::now(), config.token_ttl, config.token_uses);
        lock(&self.inner.stats).tokens_issued += 1;
        token
    }

    /// Whether `token` may make one more request (and counts the request against it).
    pub(crate) fn admit_token(&self, token: &str) -> Result<(), &'static str> {
        if token == self.inner.config.token {
            return Ok(());
        }
        let admitted = lock(&self.inner.tokens).admit(token, Instant::now());
        match admitted {
            Ok(()) => Ok(()),
            Err(Refused::Unknown) => Err("Unauthenticated."),
            Err(Refused::Expired) => {
                lock(&self.inner.stats).tokens_expired += 1;
                Err("Unauthenticated: the access token has expired.")
            }
        }
    }
}
