//! The sandbox: a Tallyfy-compatible API served by the binary itself (axum), for trying the tool,
//! for end-to-end tests and for users' CI. Same paths, headers, envelopes, pagination, status
//! codes and error shapes as Tallyfy; one server serves several organizations, each with a state
//! of its own, to one user whose tokens are good for all of them; optional latency, 5xx, dropped
//! connections, and 429s from rolling-window rate limits with Tallyfy's `X-RateLimit-*` headers;
//! `POST /oauth/token` issues access tokens for client credentials that expire after a time or a
//! number of requests. Nothing in the reconciler core depends on this module. Does network and
//! file I/O.

// Handlers answer early with a ready response (`Result<_, Response>`), axum's own idiom; the
// response is built once per request, so its size does not matter.
#![allow(clippy::result_large_err)]

pub mod file;
pub mod memory;
pub mod state;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{MatchedPath, Path as UrlPath, Query, Request, State as AxState};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::time::Instant;

pub use file::{Organizations, StateFile};
pub use memory::MemoryApi;
use state::{GroupInput, NewGuests, Rejection};
pub use state::{Seed, State};
use tallyfy_groups_api::retry::{MINUTE, Window as RateWindow};

/// The sandbox's behaviour.
#[derive(Debug, Clone)]
pub struct Config {
    /// A bearer token that never expires.
    pub token: String,
    /// The client credentials `POST /oauth/token` accepts.
    pub client_id: String,
    pub client_secret: String,
    /// How long an issued access token lasts.
    pub token_ttl: Duration,
    /// Requests an issued access token is good for; 0 = no limit.
    pub token_uses: u64,
    /// The organization ids served (at least one; see [`check_orgs`]), each with a state of its
    /// own; any other answers 403. Tokens, rate limits, faults and quirks apply to all of them;
    /// the guest limit is per organization.
    pub orgs: Vec<String>,
    pub latency: Duration,
    pub fault_rate: f64,
    /// Requests per second (a rolling window of one second, or of one request for rates below
    /// one); 0 = no limit.
    pub rate_limit: f64,
    /// Requests per rolling minute, as Tallyfy limits them (600); 0 = no limit. When set, every
    /// answer carries `X-RateLimit-Limit` and `X-RateLimit-Remaining`.
    pub rate_limit_per_minute: u32,
    /// Methods that faults are injected into; empty = all.
    pub fault_methods: Vec<axum::http::Method>,
    pub fault_seed: u64,
    /// State file, written (debounced) after writes.
    pub persist: Option<PathBuf>,
    /// New guests accepted per rolling hour, as Tallyfy limits them; 0 = no limit.
    pub guest_limit: u32,
    /// Ways to answer like a misbehaving API.
    pub quirks: Vec<Quirk>,
    /// Refuse group writes that list guests who do not exist yet (by default they are created,
    /// as Tallyfy documents).
    pub strict_guests: bool,
}

/// A way the sandbox can misbehave, to show what a client does with such answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quirk {
    /// The group list leaves out `members` and `guests` (reading one group gives them).
    ListWithoutLists,
    /// Every group answer (list and single) holds a member that is not a user id.
    JunkMembers,
    /// The group list says `total_pages: 99999`.
    LyingPagination,
    /// Right after the first page of groups is served, someone adds a member to each group on
    /// it (a change made in Tallyfy between a plan's read and apply's write).
    EditAfterRead,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            token: "sandbox-token".into(),
            client_id: "sandbox-client".into(),
            client_secret: "sandbox-secret".into(),
            token_ttl: TOKEN_TTL,
            token_uses: 0,
            orgs: vec![DEFAULT_ORG.into()],
            latency: Duration::ZERO,
            fault_rate: 0.0,
            rate_limit: 0.0,
            rate_limit_per_minute: 0,
            fault_methods: Vec::new(),
            fault_seed: 1,
            persist: None,
            guest_limit: 30,
            quirks: Vec::new(),
            strict_guests: false,
        }
    }
}

/// The organization served when none is named.
pub const DEFAULT_ORG: &str = "sandbox";

/// Checks organization ids for serving: at least one, each a plain path segment (letters,
/// digits, `-`, `_`, `.`, `~`; not `.` or `..`); duplicates collapse, the first kept.
pub fn check_orgs(orgs: &[String]) -> Result<Vec<String>, String> {
    if orgs.is_empty() {
        return Err("the sandbox serves at least one organization: name one (--org ID)".into());
    }
    for org in orgs {
        let plain = org.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.~".contains(&b));
        if org.is_empty() {
            return Err("an organization id is empty: give one such as `sandbox`".into());
        }
        if !plain || org == "." || org == ".." {
            return Err(format!(
                "the organization id `{org}` is not a plain path segment: use letters, digits, `-`, `_`, `.` and `~` (not `.` or `..` alone)"
            ));
        }
    }
    Ok(distinct(orgs))
}

/// `orgs` without repetitions, in the order of their first appearance.
fn distinct(orgs: &[String]) -> Vec<String> {
    let mut seen: Vec<String> = Vec::with_capacity(orgs.len());
    for org in orgs {
        if !seen.contains(org) {
            seen.push(org.clone());
        }
    }
    seen
}

/// Request counts, by route, by status and by organization.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct Stats {
    pub total: u64,
    /// Requests for each organization served (whatever their answer).
    pub organizations: BTreeMap<String, u64>,
    pub requests: BTreeMap<String, u64>,
    pub statuses: BTreeMap<u16, u64>,
    pub faults_injected: u64,
    pub rate_limited: u64,
    /// Group lists filtered with `q`.
    pub searches: u64,
    /// Access tokens issued by `POST /oauth/token`.
    pub tokens_issued: u64,
    /// Requests refused (401) because their access token had expired.
    pub tokens_expired: u64,
}

/// How long issued access tokens last unless told otherwise: seven days, as Tallyfy's.
pub const TOKEN_TTL: Duration = Duration::from_secs(7 * 86_400);

/// An access token issued by `POST /oauth/token`.
struct Issued {
    expires: Instant,
    /// Requests it is still good for; `None` = no limit.
    uses_left: Option<u64>,
}

impl Issued {
    fn expired(&self, now: Instant) -> bool {
        now >= self.expires || self.uses_left == Some(0)
    }
}

/// One API request as the sandbox saw it arrive.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Logged {
    /// Milliseconds since the sandbox started.
    pub at_ms: f64,
    /// `METHOD /route`, as in [`Stats::requests`].
    pub request: String,
    pub status: u16,
}

/// Most requests kept in the log (the oldest are dropped).
const LOG_CAPACITY: usize = 200_000;

/// The rate limits in force; both count a request or neither does.
struct Limits {
    per_second: Option<RateWindow>,
    per_minute: Option<RateWindow>,
}

/// What the rate limits made of one request.
struct Admission {
    /// How long until it would have been accepted, when it was refused.
    refused: Option<Duration>,
    /// The per-minute limit and what is left of it, for the `X-RateLimit-*` headers.
    headers: Option<(u32, u32)>,
}

impl Limits {
    fn admit(&mut self, now: Instant) -> Admission {
        let wait = |w: &mut Option<RateWindow>| w.as_mut().and_then(|w| w.wait(now, 0)).unwrap_or_default();
        let refused = Some(wait(&mut self.per_second).max(wait(&mut self.per_minute))).filter(|d| !d.is_zero());
        if refused.is_none() {
            for w in [&mut self.per_second, &mut self.per_minute].into_iter().flatten() {
                w.record(now);
            }
        }
        // Laravel's throttle, in Tallyfy's per-minute shape: every answer says the limit and what
        // is left of it, and a refusal says nothing is left (with `Retry-After` for when that
        // ends). The per-second limit is a fault to inject, not Tallyfy's shape: announcing it as
        // `X-RateLimit-Limit` would be read as a limit per minute.
        let headers = self.per_minute.as_mut().map(|w| {
            let remaining = if refused.is_some() { 0 } else { w.limit().saturating_sub(w.count(now) as u32) };
            (w.limit(), remaining)
        });
        Admission { refused, headers }
    }
}

/// One organization served: its state, and what is counted per organization.
struct Org {
    state: Mutex<State>,
    /// The guests invited in the last hour.
    guest_invites: Mutex<RateWindow>,
    /// Whether the `edit-after-read` edit was made.
    edited_after_read: AtomicBool,
}

struct Inner {
    /// The organizations served, by id.
    orgs: BTreeMap<String, Org>,
    /// The organizations served, in the order given (the first is [`Sandbox::snapshot`]'s).
    served: Vec<String>,
    /// Organizations of the state file that are not served, written back as they were read.
    kept: BTreeMap<String, State>,
    config: Config,
    stats: Mutex<Stats>,
    rng: Mutex<fastrand::Rng>,
    limits: Mutex<Limits>,
    dirty: AtomicBool,
    /// The fault rate in force (f64 bits), adjustable while serving.
    fault_rate: AtomicU64,
    started: Instant,
    log: Mutex<std::collections::VecDeque<Logged>>,
    /// Access tokens issued by `POST /oauth/token`.
    issued: Mutex<std::collections::HashMap<String, Issued>>,
    /// Draws the issued tokens (apart from the fault injection's seeded choices).
    token_rng: Mutex<fastrand::Rng>,
}

/// The sandbox's shared state; cheap to clone.
#[derive(Clone)]
pub struct Sandbox {
    inner: Arc<Inner>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
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
        let limits = Limits {
            per_second: (config.rate_limit.is_finite() && config.rate_limit > 0.0).then(|| RateWindow::per_second(config.rate_limit)),
            per_minute: (config.rate_limit_per_minute > 0).then(|| RateWindow::new(config.rate_limit_per_minute, MINUTE)),
        };
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
                issued: Mutex::new(std::collections::HashMap::new()),
                token_rng: Mutex::new(fastrand::Rng::new()),
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

    /// Writes the state file now, if there is one and anything changed.
    pub fn flush(&self) -> std::io::Result<()> {
        let Some(path) = &self.inner.config.persist else { return Ok(()) };
        if !self.inner.dirty.swap(false, Ordering::SeqCst) {
            return Ok(());
        }
        let json = self.encode().map_err(std::io::Error::other)?;
        // The state file's folder is the sandbox's own to make (a fresh machine has none).
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        tallyfy_groups_core::saved::write_atomic(path, &json)
    }

    /// The state file's bytes: every organization served, and those kept.
    fn encode(&self) -> Result<Vec<u8>, serde_json::Error> {
        // Every organization's lock is held while the bytes are made, taken in the order of
        // their ids (a request takes one at a time).
        let guards: Vec<(&str, MutexGuard<'_, State>)> = self.inner.orgs.iter().map(|(org, o)| (org.as_str(), lock(&o.state))).collect();
        let all =
            guards.iter().map(|(org, state)| (*org, &**state)).chain(self.inner.kept.iter().map(|(org, state)| (org.as_str(), state)));
        file::encode(&all.collect())
    }

    /// The organization `org` of a request, which the `auth` layer let through only if served.
    fn org(&self, org: &str) -> Result<&Org, Response> {
        self.inner.orgs.get(org).ok_or_else(forbidden)
    }

    fn write<T>(&self, org: &Org, f: impl FnOnce(&mut State) -> Result<T, Rejection>) -> Result<T, Rejection> {
        let result = f(&mut lock(&org.state));
        if result.is_ok() {
            self.inner.dirty.store(true, Ordering::SeqCst);
        }
        result
    }

    fn new_guests_policy(&self) -> NewGuests {
        if self.inner.config.strict_guests { NewGuests::Reject } else { NewGuests::Create }
    }

    /// Runs a write that creates `new` guests if the hourly guest cap allows them (429 with
    /// `Retry-After` otherwise), and counts them when it succeeds. The cap's lock is held during
    /// the write, so two requests cannot both pass the check.
    fn with_guest_quota<T>(&self, org: &Org, new: usize, write: impl FnOnce() -> Result<T, Rejection>) -> Result<T, Response> {
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
    fn issue_token(&self) -> String {
        let token = {
            let mut rng = lock(&self.inner.token_rng);
            format!("sandbox-access-{:016x}{:016x}", rng.u64(..), rng.u64(..))
        };
        let config = &self.inner.config;
        let now = Instant::now();
        let mut issued = lock(&self.inner.issued);
        // Expired tokens are forgotten (then answered like any unknown token).
        issued.retain(|_, t| !t.expired(now));
        let uses_left = (config.token_uses > 0).then_some(config.token_uses);
        issued.insert(token.clone(), Issued { expires: now + config.token_ttl, uses_left });
        lock(&self.inner.stats).tokens_issued += 1;
        token
    }

    /// Whether `token` may make one more request (and counts the request against it).
    fn admit_token(&self, token: &str) -> Result<(), &'static str> {
        if token == self.inner.config.token {
            return Ok(());
        }
        let mut issued = lock(&self.inner.issued);
        let Some(t) = issued.get_mut(token) else { return Err("Unauthenticated.") };
        if t.expired(Instant::now()) {
            lock(&self.inner.stats).tokens_expired += 1;
            return Err("Unauthenticated: the access token has expired.");
        }
        if let Some(left) = &mut t.uses_left {
            *left -= 1;
        }
        Ok(())
    }

    /// The axum router of the API (under `/api`), of `POST /oauth/token` and of the `/_sandbox`
    /// endpoints.
    pub fn router(&self) -> Router {
        let api = Router::new()
            .route("/api/organizations/{org}/groups", get(list_groups).post(create_group))
            .route("/api/organizations/{org}/groups/{id}", get(get_group).put(update_group).delete(delete_group))
            .route("/api/organizations/{org}/users", get(list_users))
            .route("/api/organizations/{org}/guests", get(list_guests).post(create_guest))
            .route("/api/organizations/{org}/guests/{email}", get(get_guest))
            .method_not_allowed_fallback(method_not_allowed)
            .layer(middleware::from_fn_with_state(self.clone(), auth))
            .layer(middleware::from_fn_with_state(self.clone(), faults))
            .layer(middleware::from_fn_with_state(self.clone(), count));
        // Outside `/api`, as Tallyfy's; counted, but neither rate limited nor faulty.
        let oauth = Router::new().route("/oauth/token", post(token)).layer(middleware::from_fn_with_state(self.clone(), count));
        let admin = Router::new().route("/_sandbox/stats", get(stats)).route("/_sandbox/state", get(dump)).route("/_sandbox/log", get(log));
        api.merge(oauth).merge(admin).fallback(not_found).with_state(self.clone())
    }

    /// Serves on `listener` until the task is dropped; flushes the state file every 200 ms.
    pub fn spawn(&self, listener: TcpListener) -> tokio::task::JoinHandle<()> {
        let app = self.router();
        if self.inner.config.persist.is_some() {
            let weak = Arc::downgrade(&self.inner);
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    let Some(inner) = weak.upgrade() else { break };
                    if let Err(e) = (Sandbox { inner }).flush() {
                        tracing::warn!(error = %e, "could not write the sandbox state");
                    }
                }
            });
        }
        tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::error!(error = %e, "sandbox server stopped");
            }
        })
    }
}

fn reply(status: StatusCode, body: Value) -> Response {
    (status, Json(body)).into_response()
}

fn rejection(r: Rejection) -> Response {
    reply(StatusCode::from_u16(r.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR), r.body)
}

fn error(status: StatusCode, message: &str, code: &str) -> Response {
    reply(status, json!({ "error": true, "message": message, "code": code }))
}

async fn not_found() -> Response {
    error(StatusCode::NOT_FOUND, "The requested resource was not found.", "RESOURCE_NOT_FOUND")
}

async fn method_not_allowed() -> Response {
    error(StatusCode::METHOD_NOT_ALLOWED, "The method is not supported for this route.", "METHOD_NOT_ALLOWED")
}

async fn count(AxState(sb): AxState<Sandbox>, req: Request, next: Next) -> Response {
    let route = req.extensions().get::<MatchedPath>().map(|p| p.as_str().to_string()).unwrap_or_else(|| "(unmatched)".into());
    let key = format!("{} {}", req.method(), route);
    let org = org_of(req.uri().path()).filter(|org| sb.inner.orgs.contains_key(*org)).map(str::to_string);
    let at_ms = sb.inner.started.elapsed().as_secs_f64() * 1000.0;
    let mut response = next.run(req).await;
    {
        let mut log = lock(&sb.inner.log);
        if log.len() >= LOG_CAPACITY {
            log.pop_front();
        }
        log.push_back(Logged { at_ms, request: key.clone(), status: response.status().as_u16() });
    }
    let mut stats = lock(&sb.inner.stats);
    stats.total += 1;
    *stats.requests.entry(key).or_default() += 1;
    *stats.statuses.entry(response.status().as_u16()).or_default() += 1;
    if let Some(org) = org {
        *stats.organizations.entry(org).or_default() += 1;
    }
    // Like Tallyfy, every answer carries an id to quote when reporting a problem.
    if let Ok(id) = HeaderValue::from_str(&format!("sandbox-{}", stats.total)) {
        response.headers_mut().insert("x-request-id", id);
    }
    response
}

async fn faults(AxState(sb): AxState<Sandbox>, req: Request, next: Next) -> Response {
    // Rate limits count a request when it arrives, as Tallyfy's do; a refused one is not counted.
    let arrived = Instant::now();
    let admission = lock(&sb.inner.limits).admit(arrived);
    let mut response = match admission.refused {
        Some(wait) => {
            lock(&sb.inner.stats).rate_limited += 1;
            too_many("Too Many Attempts.", wait)
        }
        None => inject(&sb, req, next).await,
    };
    // The answer leaves `--latency` after the request arrived (or when ready, if later): the
    // latency stands for the network and the server's work together.
    tokio::time::sleep_until(arrived + sb.inner.config.latency).await;
    if let Some((limit, remaining)) = admission.headers {
        let headers = response.headers_mut();
        headers.insert("x-ratelimit-limit", HeaderValue::from(limit));
        headers.insert("x-ratelimit-remaining", HeaderValue::from(remaining));
    }
    response
}

/// 429 with `Retry-After` in whole seconds (at least one).
fn too_many(message: &str, wait: Duration) -> Response {
    let mut r = error(StatusCode::TOO_MANY_REQUESTS, message, "TOO_MANY_REQUESTS");
    r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(wait.as_secs_f64().ceil().max(1.0) as u64));
    r
}

/// Runs the request, or fails it as `--fault-rate` says.
async fn inject(sb: &Sandbox, req: Request, next: Next) -> Response {
    let config = &sb.inner.config;
    let methods = &config.fault_methods;
    if !methods.is_empty() && !methods.contains(req.method()) {
        return next.run(req).await;
    }
    let fault_rate = f64::from_bits(sb.inner.fault_rate.load(Ordering::SeqCst));
    let fault = if fault_rate > 0.0 {
        let mut rng = lock(&sb.inner.rng);
        (rng.f64() < fault_rate).then(|| rng.u8(0..5))
    } else {
        None
    };
    let Some(kind) = fault else {
        return next.run(req).await;
    };
    lock(&sb.inner.stats).faults_injected += 1;
    match kind {
        0 => error(StatusCode::INTERNAL_SERVER_ERROR, "Server Error", "SERVER_ERROR"),
        1 => error(StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable", "SERVICE_UNAVAILABLE"),
        2 => dropped(),
        3 => {
            // The request takes effect, but the client hears a server error.
            let _ = next.run(req).await;
            error(StatusCode::INTERNAL_SERVER_ERROR, "Server Error", "SERVER_ERROR")
        }
        _ => {
            // The request takes effect, but the connection drops before the answer arrives.
            let _ = next.run(req).await;
            dropped()
        }
    }
}

/// A body that fails at once: the server aborts the connection mid-response.
struct FailingBody;

impl http_body::Body for FailingBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        Poll::Ready(Some(Err(std::io::Error::new(std::io::ErrorKind::ConnectionReset, "injected fault: connection dropped"))))
    }
}

fn dropped() -> Response {
    Response::new(Body::new(FailingBody))
}

async fn auth(AxState(sb): AxState<Sandbox>, req: Request, next: Next) -> Response {
    let headers = req.headers();
    let token = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
    let Some(token) = token else {
        return error(StatusCode::UNAUTHORIZED, "Unauthenticated: a valid bearer token is required.", "UNAUTHENTICATED");
    };
    if let Err(message) = sb.admit_token(token) {
        return error(StatusCode::UNAUTHORIZED, message, "UNAUTHENTICATED");
    }
    if headers.get("x-tallyfy-client").is_none() {
        return error(StatusCode::UNAUTHORIZED, "Unauthenticated: the X-Tallyfy-Client header is required.", "UNAUTHENTICATED");
    }
    if !org_of(req.uri().path()).is_some_and(|org| sb.inner.orgs.contains_key(org)) {
        return forbidden();
    }
    next.run(req).await
}

/// The organization id of an API path, `/api/organizations/{org}/...`.
fn org_of(path: &str) -> Option<&str> {
    let mut segments = path.split('/');
    match (segments.next(), segments.next(), segments.next(), segments.next()) {
        (Some(""), Some("api"), Some("organizations"), Some(org)) => Some(org),
        _ => None,
    }
}

/// Tallyfy's answer for an organization the user does not belong to.
fn forbidden() -> Response {
    error(StatusCode::FORBIDDEN, "You do not have access to this organization.", "FORBIDDEN")
}

/// An OAuth error answer, shaped as Tallyfy's (Laravel Passport's).
fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    reply(status, json!({ "error": error, "error_description": description, "message": description }))
}

/// `POST /oauth/token`: the client credentials grant, form-encoded.
async fn token(AxState(sb): AxState<Sandbox>, headers: axum::http::HeaderMap, body: Bytes) -> Response {
    let form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(';').next().is_some_and(|t| t.trim().eq_ignore_ascii_case("application/x-www-form-urlencoded")));
    if !form {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_request", "The request body must be application/x-www-form-urlencoded.");
    }
    let fields: BTreeMap<String, String> = url::form_urlencoded::parse(&body).into_owned().collect();
    let field = |name: &str| fields.get(name).map(String::as_str);
    if field("grant_type") != Some("client_credentials") {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "The authorization grant type is not supported by the authorization server.",
        );
    }
    if !matches!(field("scope"), None | Some("*")) {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_scope", "The requested scope is invalid, unknown, or malformed.");
    }
    let config = &sb.inner.config;
    if field("client_id") != Some(config.client_id.as_str()) || field("client_secret") != Some(config.client_secret.as_str()) {
        return oauth_error(StatusCode::UNAUTHORIZED, "invalid_client", "Client authentication failed");
    }
    let expires_in = config.token_ttl.as_secs_f64().ceil() as u64;
    reply(StatusCode::OK, json!({ "token_type": "Bearer", "expires_in": expires_in, "access_token": sb.issue_token() }))
}

#[derive(Debug, Deserialize)]
struct PageQuery {
    page: Option<String>,
    per_page: Option<String>,
    /// Search text (groups: name or description, ignoring case).
    q: Option<String>,
}

/// Which slice of a list a page request asks for.
struct Window {
    per_page: usize,
    current: usize,
    /// Query parameters kept in the `next` link (the search).
    keep: String,
}

impl Window {
    fn new(q: &PageQuery, default_per_page: usize) -> Self {
        let per_page = q.per_page.as_deref().and_then(|p| p.parse::<usize>().ok()).filter(|&p| p > 0).unwrap_or(default_per_page).min(100);
        let current = q.page.as_deref().and_then(|p| p.parse::<usize>().ok()).filter(|&p| p > 0).unwrap_or(1);
        Window { per_page, current, keep: String::new() }
    }

    /// The index range of this page in a list of `total` items.
    fn range(&self, total: usize) -> std::ops::Range<usize> {
        let start = (self.current - 1).saturating_mul(self.per_page).min(total);
        start..(start + self.per_page).min(total)
    }

    /// The `{"data": ..., "meta": {"pagination": ...}}` answer for one page.
    fn reply(&self, data: Vec<Value>, total: usize, path: &str) -> Response {
        self.reply_with_pages(data, total, total.div_ceil(self.per_page).max(1), path)
    }

    fn reply_with_pages(&self, data: Vec<Value>, total: usize, total_pages: usize, path: &str) -> Response {
        let links = if self.current < total_pages {
            json!({ "next": format!("{path}?{}page={}&per_page={}", self.keep, self.current + 1, self.per_page) })
        } else {
            json!([])
        };
        let count = data.len();
        reply(
            StatusCode::OK,
            json!({
                "data": data,
                "meta": { "pagination": {
                    "total": total, "count": count, "per_page": self.per_page,
                    "current_page": self.current, "total_pages": total_pages, "links": links,
                }},
            }),
        )
    }
}

/// One page of a list, converting only the items on it.
fn page<T: serde::Serialize>(items: &[T], q: &PageQuery, path: &str) -> Response {
    let w = Window::new(q, 10);
    let data = items[w.range(items.len())].iter().map(|i| serde_json::to_value(i).unwrap_or_default()).collect();
    w.reply(data, items.len(), path)
}

async fn list_groups(AxState(sb): AxState<Sandbox>, UrlPath(org_id): UrlPath<String>, Query(q): Query<PageQuery>) -> Response {
    let org = match sb.org(&org_id) {
        Ok(o) => o,
        Err(r) => return r,
    };
    let mut w = Window::new(&q, 10);
    let quirks = &sb.inner.config.quirks;
    let quirk = |q: Quirk| quirks.contains(&q);
    let search = q.q.as_deref().map(str::trim).filter(|t| !t.is_empty()).map(str::to_lowercase);
    let (mut data, total, ids): (Vec<Value>, usize, Vec<String>) = {
        let state = lock(&org.state);
        let found: Vec<&state::SGroup> = match &search {
            None => state.order.iter().filter_map(|id| state.groups.get(id)).collect(),
            Some(text) => state
                .order
                .iter()
                .filter_map(|id| state.groups.get(id))
                .filter(|g| g.name.to_lowercase().contains(text.as_str()) || g.description.to_lowercase().contains(text.as_str()))
                .collect(),
        };
        let page = &found[w.range(found.len())];
        (page.iter().map(|g| quirky(g.to_json(), quirks)).collect(), found.len(), page.iter().map(|g| g.id.clone()).collect())
    };
    if let Some(text) = &search {
        lock(&sb.inner.stats).searches += 1;
        w.keep = format!("q={}&", url::form_urlencoded::byte_serialize(text.as_bytes()).collect::<String>());
    }
    if quirk(Quirk::ListWithoutLists) {
        for g in &mut data {
            if let Some(o) = g.as_object_mut() {
                o.remove("members");
                o.remove("guests");
            }
        }
    }
    if quirk(Quirk::EditAfterRead) && search.is_none() && !org.edited_after_read.swap(true, Ordering::SeqCst) {
        let _ = sb.write(org, |s| {
            s.add_someone_to(&ids);
            Ok(())
        });
    }
    let path = format!("/api/organizations/{org_id}/groups");
    if quirk(Quirk::LyingPagination) { w.reply_with_pages(data, total, 99_999, &path) } else { w.reply(data, total, &path) }
}

/// A group's JSON as the configured quirks distort it.
fn quirky(mut group: Value, quirks: &[Quirk]) -> Value {
    if quirks.contains(&Quirk::JunkMembers)
        && let Some(Value::Array(members)) = group.get_mut("members")
    {
        members.push(json!("n/a"));
    }
    group
}

async fn list_users(AxState(sb): AxState<Sandbox>, UrlPath(org_id): UrlPath<String>, Query(q): Query<PageQuery>) -> Response {
    match sb.org(&org_id) {
        Ok(org) => page(&lock(&org.state).users, &q, &format!("/api/organizations/{org_id}/users")),
        Err(r) => r,
    }
}

async fn list_guests(AxState(sb): AxState<Sandbox>, UrlPath(org_id): UrlPath<String>, Query(q): Query<PageQuery>) -> Response {
    match sb.org(&org_id) {
        Ok(org) => page(&lock(&org.state).guests, &q, &format!("/api/organizations/{org_id}/guests")),
        Err(r) => r,
    }
}

async fn get_group(AxState(sb): AxState<Sandbox>, UrlPath((org, id)): UrlPath<(String, String)>) -> Response {
    let org = match sb.org(&org) {
        Ok(o) => o,
        Err(r) => return r,
    };
    match lock(&org.state).groups.get(&id) {
        Some(g) => reply(StatusCode::OK, json!({ "data": quirky(g.to_json(), &sb.inner.config.quirks) })),
        None => rejection(Rejection::not_found("Group")),
    }
}

async fn get_guest(AxState(sb): AxState<Sandbox>, UrlPath((org, email)): UrlPath<(String, String)>) -> Response {
    let org = match sb.org(&org) {
        Ok(o) => o,
        Err(r) => return r,
    };
    let email = email.to_lowercase();
    match lock(&org.state).guests.iter().find(|g| g.email == email) {
        Some(g) => reply(StatusCode::OK, json!({ "data": g })),
        None => rejection(Rejection::not_found("Guest")),
    }
}

/// Parses a JSON object body, or answers 400.
fn object(body: &Bytes) -> Result<Value, Response> {
    match serde_json::from_slice::<Value>(body) {
        Ok(v @ Value::Object(_)) => Ok(v),
        Ok(_) => Err(error(StatusCode::BAD_REQUEST, "The request body must be a JSON object.", "BAD_REQUEST")),
        Err(e) => Err(error(StatusCode::BAD_REQUEST, &format!("Malformed JSON: {e}"), "BAD_REQUEST")),
    }
}

fn group_input(body: &Bytes) -> Result<GroupInput, Response> {
    let v = object(body)?;
    serde_json::from_value(v).map_err(|e| error(StatusCode::BAD_REQUEST, &format!("Malformed body: {e}"), "BAD_REQUEST"))
}

async fn create_group(AxState(sb): AxState<Sandbox>, UrlPath(org): UrlPath<String>, body: Bytes) -> Response {
    let org = match sb.org(&org) {
        Ok(o) => o,
        Err(r) => return r,
    };
    let input = match group_input(&body) {
        Ok(i) => i,
        Err(r) => return r,
    };
    let policy = sb.new_guests_policy();
    let new = if policy == NewGuests::Create { lock(&org.state).new_guests(&input) } else { 0 };
    match sb.with_guest_quota(org, new, || sb.write(org, |s| s.create_group_with(&input, policy))) {
        Ok(g) => reply(StatusCode::CREATED, json!({ "data": g.to_json() })),
        Err(r) => r,
    }
}

async fn update_group(AxState(sb): AxState<Sandbox>, UrlPath((org, id)): UrlPath<(String, String)>, body: Bytes) -> Response {
    let org = match sb.org(&org) {
        Ok(o) => o,
        Err(r) => return r,
    };
    let input = match group_input(&body) {
        Ok(i) => i,
        Err(r) => return r,
    };
    let policy = sb.new_guests_policy();
    let new = if policy == NewGuests::Create { lock(&org.state).new_guests(&input) } else { 0 };
    match sb.with_guest_quota(org, new, || sb.write(org, |s| s.update_group_with(&id, &input, policy))) {
        Ok(g) => reply(StatusCode::CREATED, json!({ "data": g.to_json() })),
        Err(r) => r,
    }
}

async fn delete_group(AxState(sb): AxState<Sandbox>, UrlPath((org, id)): UrlPath<(String, String)>) -> Response {
    let org = match sb.org(&org) {
        Ok(o) => o,
        Err(r) => return r,
    };
    match sb.write(org, |s| s.delete_group(&id)) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(r) => rejection(r),
    }
}

async fn create_guest(AxState(sb): AxState<Sandbox>, UrlPath(org): UrlPath<String>, body: Bytes) -> Response {
    let org = match sb.org(&org) {
        Ok(o) => o,
        Err(r) => return r,
    };
    let v = match object(&body) {
        Ok(v) => v,
        Err(r) => return r,
    };
    match sb.with_guest_quota(org, 1, || sb.write(org, |s| s.create_guest(&v))) {
        Ok(g) => reply(StatusCode::CREATED, json!({ "data": g })),
        Err(r) => r,
    }
}

async fn stats(AxState(sb): AxState<Sandbox>) -> Response {
    reply(StatusCode::OK, serde_json::to_value(sb.stats()).unwrap_or_default())
}

async fn log(AxState(sb): AxState<Sandbox>) -> Response {
    reply(StatusCode::OK, serde_json::to_value(sb.log()).unwrap_or_default())
}

/// The state of the organization served, or `{"organizations": {org: state}}` when several are.
async fn dump(AxState(sb): AxState<Sandbox>) -> Response {
    let inner = &sb.inner;
    let value = match inner.served.as_slice() {
        [one] => serde_json::to_value(sb.snapshot_of(one)),
        _ => {
            let states: BTreeMap<&str, Value> =
                inner.orgs.iter().map(|(org, o)| (org.as_str(), serde_json::to_value(&*lock(&o.state)).unwrap_or_default())).collect();
            serde_json::to_value(json!({ "organizations": states }))
        }
    };
    reply(StatusCode::OK, value.unwrap_or_default())
}

/// Loads a state file, or says how to recover.
pub fn load_state(path: &Path) -> Result<Option<StateFile>, String> {
    match std::fs::read(path) {
        Ok(bytes) => StateFile::parse(&bytes)
            .map(Some)
            .map_err(|e| format!("the sandbox state {} is not readable ({e}); delete it to start over", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("cannot read the sandbox state {}: {e}", path.display())),
    }
}

/// How a saved plan's target names an embedded sandbox: this prefix and the state file's path.
pub const LABEL_PREFIX: &str = "sandbox:";

/// An in-process sandbox on an ephemeral loopback port, for `--sandbox`.
pub struct Embedded {
    pub base_url: String,
    /// The organizations served, in the order asked for (duplicates collapsed).
    pub orgs: Vec<String>,
    pub token: String,
    /// A stable name for this sandbox, used as a saved plan's target.
    pub label: String,
    sandbox: Sandbox,
    server: tokio::task::JoinHandle<()>,
}

impl Embedded {
    /// Starts the sandbox with the state in `path`, serving the organization `sandbox` (seeded
    /// with the demo organization on first use).
    pub async fn start(path: &Path) -> Result<Embedded, String> {
        Embedded::start_orgs(path, &[DEFAULT_ORG.to_string()]).await
    }

    /// Starts one sandbox serving exactly `orgs` (plain path segments; duplicates collapse),
    /// with their states in the one file `path`: an organization the file lacks (every one, on
    /// first use) starts as the demo organization, and the file is written at once; the file's
    /// other organizations are kept in it. A file that cannot be read is left alone.
    pub async fn start_orgs(path: &Path, orgs: &[String]) -> Result<Embedded, String> {
        let orgs = check_orgs(orgs)?;
        let file = load_state(path)?;
        let config = Config { orgs: orgs.clone(), persist: Some(path.to_path_buf()), ..Config::default() };
        let sandbox = Sandbox::load(file, Seed::Demo, config.clone());
        sandbox.flush().map_err(|e| format!("cannot create the sandbox state {}: {e}", path.display()))?;
        let listener = TcpListener::bind(("127.0.0.1", 0)).await.map_err(|e| format!("cannot listen on loopback: {e}"))?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        let server = sandbox.spawn(listener);
        Ok(Embedded {
            base_url: format!("http://{addr}/api"),
            orgs,
            token: config.token,
            label: format!("{LABEL_PREFIX}{}", path.display()),
            sandbox,
            server,
        })
    }

    /// The first organization served (the only one, after [`Embedded::start`]).
    pub fn org(&self) -> &str {
        self.orgs.first().map(String::as_str).unwrap_or(DEFAULT_ORG)
    }
}

impl Drop for Embedded {
    fn drop(&mut self) {
        self.server.abort();
        if let Err(e) = self.sandbox.flush() {
            eprintln!("warning: could not save the sandbox state: {e}");
        }
    }
}

/// A sandbox serving on a listener until [`Served::stop`].
pub struct Served {
    pub addr: SocketAddr,
    pub sandbox: Sandbox,
    server: tokio::task::JoinHandle<()>,
}

/// Starts serving `sandbox` on `listen`.
pub async fn serve(sandbox: Sandbox, listen: SocketAddr) -> Result<Served, String> {
    // A new state file is written at once, not only after the first change.
    sandbox.inner.dirty.store(true, Ordering::SeqCst);
    let listener = TcpListener::bind(listen).await.map_err(|e| format!("cannot listen on {listen}: {e}"))?;
    let addr: SocketAddr = listener.local_addr().map_err(|e| e.to_string())?;
    let server = sandbox.spawn(listener);
    Ok(Served { addr, sandbox, server })
}

impl Served {
    /// Stops serving and writes the state file.
    pub fn stop(self) -> Result<(), String> {
        self.server.abort();
        self.sandbox.flush().map_err(|e| format!("could not save the sandbox state: {e}"))
    }
}

/// Parses `--fault-methods` values.
pub fn fault_methods(names: &[String]) -> Result<Vec<axum::http::Method>, String> {
    names
        .iter()
        .map(|m| {
            let upper = m.trim().to_ascii_uppercase();
            match upper.as_str() {
                "GET" | "POST" | "PUT" | "DELETE" => axum::http::Method::from_bytes(upper.as_bytes()).map_err(|e| e.to_string()),
                _ => Err(format!("--fault-methods takes GET, POST, PUT and DELETE, not `{m}`")),
            }
        })
        .collect()
}
