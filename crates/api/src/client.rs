//! The Tallyfy HTTP client: requests built as plain values, pagination, retries, the client-side
//! rate limit, and the duplicate-safe create. Does network I/O.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::{Duration, Instant, SystemTime};

use reqwest::Method;
use serde::de::DeserializeOwned;
use tracing::{Instrument, debug, info, info_span, warn};

pub use crate::auth::Credentials;
pub use crate::config::{ConfigError, Secret, check_base_url};
use crate::error::describe;
pub use crate::error::{ApiError, PagingProblem, TransportCause};
use crate::retry;
pub use crate::retry::{Feedback, LimiterStatus, RateLimiter, RetryPolicy, Slot};
use crate::stop::Stop;
use crate::wire::{Envelope, GroupPayload, GuestPayload, WireError, WireGroup, WireGuest, WireTemplate, WireUser};

use tallyfy_groups_core::model::{GroupId, Guest, LiveGroup, OrgId, User, name_key};
use tallyfy_groups_core::usage::Template;

/// Items per page of every list request (the API's maximum).
pub const PER_PAGE: u64 = 100;
/// Most pages one list may announce (ten million items); more is a broken answer.
pub(crate) const MAX_PAGES: u64 = 100_000;
/// The default API base URL.
pub const DEFAULT_API_URL: &str = "https://go.tallyfy.com/api";
/// Connection failures or timeouts in a row (across all requests) after which the API is taken
/// to have stopped answering, and nothing more is sent.
pub const STOP_AFTER_FAILURES: u32 = 5;
/// The largest answer body read: a page of 100 groups of thousands of members each is a few
/// MiB; anything near this is not Tallyfy's API (and would otherwise be held in memory whole).
pub const MAX_ANSWER_BYTES: u64 = 64 * 1024 * 1024;
/// Requests in flight at once unless told otherwise.
pub const DEFAULT_PARALLELISM: u16 = 4;

/// Everything the client needs to talk to one organization.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// The API's base URL, such as `https://go.tallyfy.com/api`.
    pub base_url: String,
    /// The organization's id.
    pub org: OrgId,
    /// A personal access token, or client credentials.
    pub credentials: Credentials,
    /// How long one request may take.
    pub timeout: Duration,
    /// How failed requests are retried.
    pub retry: RetryPolicy,
    /// Requests in any rolling minute, across all concurrent requests (Tallyfy allows 600);
    /// 0 = no client-side limit (the server's `X-RateLimit-*` headers are still followed).
    pub max_requests_per_minute: u32,
    /// An extra ceiling of requests per second, evenly spaced; 0 = none.
    pub max_rps: f64,
    /// Requests in flight at once, across everything the client does.
    pub parallelism: usize,
    /// A rate limiter shared with other clients (Tallyfy counts requests per user, so clients
    /// for several organizations that use the same credentials share one); `None`: a limiter of
    /// this client's own, from `max_requests_per_minute` and `max_rps`.
    pub limiter: Option<Arc<RateLimiter>>,
    /// A stop (Ctrl-C, SIGTERM) shared with the rest of the run: once asked, no request starts
    /// and the ones in flight are abandoned after [`crate::stop::GRACE`].
    pub stop: Stop,
    /// The largest answer body read ([`MAX_ANSWER_BYTES`] by default); a larger one fails.
    pub max_answer_bytes: u64,
}

impl ClientConfig {
    /// A configuration with the defaults; `credentials` is a personal token ([`Secret`]) or
    /// [`Credentials::Client`].
    pub fn new(base_url: impl Into<String>, org: impl Into<String>, credentials: impl Into<Credentials>) -> Self {
        ClientConfig {
            base_url: base_url.into(),
            org: OrgId(org.into()),
            credentials: credentials.into(),
            timeout: Duration::from_secs(30),
            retry: RetryPolicy::default(),
            max_requests_per_minute: retry::REQUESTS_PER_MINUTE,
            max_rps: 0.0,
            parallelism: usize::from(DEFAULT_PARALLELISM),
            limiter: None,
            stop: Stop::default(),
            max_answer_bytes: MAX_ANSWER_BYTES,
        }
    }
}

/// A request as a plain value: unit-testable without a server.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiRequest {
    /// The HTTP method.
    pub method: Method,
    /// Path below the base URL, with its query string.
    pub path: String,
    /// The JSON body, if any.
    pub body: Option<serde_json::Value>,
}

impl ApiRequest {
    fn get(path: String) -> Self {
        ApiRequest { method: Method::GET, path, body: None }
    }

    /// `GET {path}?page=N&per_page=100`.
    pub fn list(path: &str, page: u64) -> Self {
        let sep = if path.contains('?') { '&' } else { '?' };
        Self::get(format!("{path}{sep}page={page}&per_page={PER_PAGE}"))
    }

    fn with_body(method: Method, path: String, body: &impl serde::Serialize) -> Self {
        // Serialising our own payload types cannot fail.
        let body = serde_json::to_value(body).unwrap_or(serde_json::Value::Null);
        ApiRequest { method, path, body: Some(body) }
    }

    fn path_only(&self) -> &str {
        self.path.split('?').next().unwrap_or(&self.path)
    }
}

/// Every template of one kind, and what reading them took.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TemplateList {
    /// The templates, with their steps, sorted by id.
    pub templates: Vec<Template>,
    /// Pages of the list read.
    pub pages: usize,
    /// Templates listed without steps and read alone.
    pub read_alone: usize,
}

impl TemplateList {
    /// Requests the read made.
    pub fn reads(&self) -> usize {
        self.pages + self.read_alone
    }
}

/// What [`Client::count`] counts for a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counted {
    /// Active processes (runs) the group is in.
    ActiveProcesses,
    /// Incomplete tasks the group owns.
    OpenTasks,
}

/// What [`Client::update_group_fresh`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FreshWrite {
    /// The group as written.
    Written(LiveGroup),
    /// No write was made; the group as read.
    Declined(LiveGroup),
}

/// A successful answer.
#[derive(Debug)]
struct Answer {
    body: Vec<u8>,
}

/// Makes the write that follows a read from the read's answer; `Ok(None)`: no write after all.
type WriteOf<'w> = &'w (dyn Fn(&[u8]) -> Result<Option<ApiRequest>, ApiError> + Send + Sync);

/// A Tallyfy API client for one organization. Cheap to clone; clones share the rate limiter.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    base_url: String,
    org: OrgId,
    /// The credentials, and the bearer header requests carry.
    auth: crate::auth::Auth,
    retry: RetryPolicy,
    limiter: Arc<RateLimiter>,
    /// Bounds the requests in flight across every caller of this client (`--parallelism`).
    permits: tokio::sync::Semaphore,
    /// The size of `permits`.
    parallelism: usize,
    /// Told about every page read: (list name, pages read, pages in all).
    page_progress: std::sync::Mutex<Option<PageProgress>>,
    /// Connection failures or timeouts in a row, across every request.
    unanswered: AtomicU32,
    /// Woken when `unanswered` reaches [`STOP_AFTER_FAILURES`].
    stopped: tokio::sync::Notify,
    /// Ctrl-C or SIGTERM.
    stop: Stop,
    /// The largest answer body read.
    max_answer_bytes: u64,
}

/// Called after each page of a list is read, with the list's name (`groups`, `users`, `guests`),
/// the pages read so far and the pages in all.
pub type PageProgress = Arc<dyn Fn(&str, u64, u64) + Send + Sync>;

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client").field("base_url", &self.inner.base_url).field("org", &self.inner.org).finish_non_exhaustive()
    }
}

/// reqwest says only "builder error"; the cause is in its source chain. A system without CA
/// certificates (a container image that dropped them) gets told how to fix it.
fn http_setup_error(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    if text.contains("CA certificates") {
        text.push_str(" (HTTPS is verified against the system's CA certificates: install the ca-certificates package or set SSL_CERT_FILE to a PEM bundle)");
    }
    text
}

impl Client {
    /// A client for `config`; checks the URL, the organization id and the credentials, but makes
    /// no request.
    pub fn new(config: ClientConfig) -> Result<Self, ConfigError> {
        let base_url = check_base_url(&config.base_url)?;
        if !config.org.is_plain() {
            return Err(ConfigError::BadOrg(config.org.0));
        }
        let auth = crate::auth::Auth::new(config.credentials, config.retry.clone())?;
        // The process-wide TLS crypto provider; a second install is a harmless no-op.
        let _ = rustls::crypto::ring::default_provider().install_default();
        // The Tallyfy API does not redirect; following one would send the request elsewhere.
        let mut builder = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.timeout.min(Duration::from_secs(10)))
            .user_agent(concat!("tallyfy-groups/", env!("CARGO_PKG_VERSION")))
            .redirect(reqwest::redirect::Policy::none());
        if base_url.starts_with("http://") || auth.token_url().is_some_and(|u| u.starts_with("http://")) {
            // Plain http is allowed on loopback only; a proxy would carry the token (or the
            // client secret) in clear text to another host. HTTPS goes through proxies (CONNECT)
            // as configured.
            builder = builder.no_proxy();
        }
        let http = builder.build().map_err(|e| ConfigError::Http(http_setup_error(&e)))?;
        Ok(Client {
            inner: Arc::new(Inner {
                http,
                base_url,
                org: config.org,
                auth,
                retry: config.retry,
                limiter: config
                    .limiter
                    .unwrap_or_else(|| Arc::new(RateLimiter::per_minute(config.max_requests_per_minute).with_max_rps(config.max_rps))),
                permits: tokio::sync::Semaphore::new(config.parallelism.max(1)),
                parallelism: config.parallelism.max(1),
                page_progress: std::sync::Mutex::new(None),
                unanswered: AtomicU32::new(0),
                stopped: tokio::sync::Notify::new(),
                stop: config.stop.clone(),
                max_answer_bytes: config.max_answer_bytes,
            }),
        })
    }

    /// Makes sure the client holds an access token: with client credentials, exchanges them now
    /// (once), so that wrong ones are reported before anything else is done. A personal token
    /// needs nothing.
    pub async fn authenticate(&self) -> Result<(), ApiError> {
        self.inner.auth.bearer(&self.inner.http).await.map(|_| ())
    }

    /// Reports every page read to `progress` from now on.
    pub fn on_page(&self, progress: PageProgress) {
        *self.inner.page_progress.lock().unwrap_or_else(|e| e.into_inner()) = Some(progress);
    }

    fn page_read(&self, path: &str, done: u64, total: u64) {
        let progress = self.inner.page_progress.lock().unwrap_or_else(|e| e.into_inner()).clone();
        if let Some(p) = progress {
            p(path.rsplit('/').next().unwrap_or(path), done, total);
        }
    }

    /// The base URL requests go to.
    pub fn base_url(&self) -> &str {
        &self.inner.base_url
    }

    /// `Some(failures)` once the API has stopped answering: this many connection failures or
    /// timeouts in a row (at least [`STOP_AFTER_FAILURES`]). The client then sends nothing more.
    pub fn stopped_answering(&self) -> Option<u32> {
        let n = self.inner.unanswered.load(Ordering::SeqCst);
        (n >= STOP_AFTER_FAILURES).then_some(n)
    }

    /// Resolves once the API has stopped answering (see [`Client::stopped_answering`]).
    pub async fn wait_stopped_answering(&self) {
        let notified = self.inner.stopped.notified();
        tokio::pin!(notified);
        // Registered before the check, so a stop between the two is not missed.
        notified.as_mut().enable();
        if self.stopped_answering().is_none() {
            notified.await;
        }
    }

    /// Replaces every secret in text a server sent (or that quotes what it sent) with `***`.
    fn scrub(&self, e: ApiError) -> ApiError {
        e.map_text(&|text| self.scrub_text(text))
    }

    fn scrub_text(&self, text: String) -> String {
        self.inner.auth.scrub(text)
    }

    fn decode<T: DeserializeOwned>(&self, req: &ApiRequest, body: &[u8]) -> Result<T, ApiError> {
        decode(req, body).map_err(|e| self.scrub(e))
    }

    /// Requests in flight at most (`--parallelism`).
    pub fn parallelism(&self) -> usize {
        self.inner.parallelism
    }

    /// The organization id.
    pub fn org(&self) -> &OrgId {
        &self.inner.org
    }

    /// The rate limiter every request of this client (and of its clones) goes through.
    pub fn rate_limiter(&self) -> &RateLimiter {
        &self.inner.limiter
    }

    fn org_path(&self, rest: &str) -> String {
        format!("/organizations/{}{rest}", self.inner.org)
    }

    /// Request for listing groups (page N).
    pub fn list_groups_request(&self, page: u64) -> ApiRequest {
        ApiRequest::list(&self.org_path("/groups"), page)
    }

    /// Request searching the groups by name or description (`q`), first page.
    pub fn search_groups_request(&self, text: &str) -> ApiRequest {
        ApiRequest::get(format!("{}?q={}&page=1&per_page={PER_PAGE}", self.org_path("/groups"), encode(text.trim())))
    }

    /// Request creating a group.
    pub fn create_group_request(&self, body: &GroupPayload) -> ApiRequest {
        ApiRequest::with_body(Method::POST, self.org_path("/groups"), body)
    }

    /// Request replacing a group's name, description, members and guests.
    pub fn update_group_request(&self, id: &GroupId, body: &GroupPayload) -> ApiRequest {
        ApiRequest::with_body(Method::PUT, self.org_path(&format!("/groups/{}", encode(&id.0))), body)
    }

    /// Request deleting a group.
    pub fn delete_group_request(&self, id: &GroupId) -> ApiRequest {
        ApiRequest { method: Method::DELETE, path: self.org_path(&format!("/groups/{}", encode(&id.0))), body: None }
    }

    /// Request creating a guest.
    pub fn create_guest_request(&self, body: &GuestPayload) -> ApiRequest {
        ApiRequest::with_body(Method::POST, self.org_path("/guests"), body)
    }

    /// Request reading one group.
    pub fn get_group_request(&self, id: &GroupId) -> ApiRequest {
        ApiRequest::get(self.org_path(&format!("/groups/{}", encode(&id.0))))
    }

    /// All groups of the organization. A group whose `members` or `guests` did not come back
    /// whole in the list is read again on its own; if that answer is not whole either, the group
    /// stays marked as not fully known ([`LiveGroup::unread`]) and is never written.
    pub async fn list_groups(&self) -> Result<Vec<LiveGroup>, ApiError> {
        let items: Vec<WireGroup> = self.list_all(&self.org_path("/groups")).await?;
        let mut groups: Vec<LiveGroup> = items.into_iter().map(WireGroup::into_domain).collect();
        let partial: Vec<usize> =
            (0..groups.len()).filter(|&i| !groups[i].is_fully_known() && groups[i].unmanageable().is_none()).collect();
        if partial.is_empty() {
            return Ok(groups);
        }
        warn!(groups = partial.len(), "the group list left out members or guests of some groups; reading those groups one by one");
        let mut set = tokio::task::JoinSet::new();
        for i in partial {
            let client = self.clone();
            let id = groups[i].id.clone();
            set.spawn(async move { (i, client.get_group(&id).await) });
        }
        while let Some(joined) = set.join_next().await {
            let (i, fresh) = joined.map_err(|e| ApiError::Transport {
                method: "GET".into(),
                path: self.org_path("/groups/{id}"),
                detail: format!("read task failed: {e}"),
                timeout: false,
                connect: false,
                cause: TransportCause::Other,
            })?;
            match fresh {
                Ok(g) => {
                    if !g.is_fully_known() {
                        warn!(group = %g.name, id = %g.id, "the group's lists are still not whole when read alone; it will not be written");
                    }
                    groups[i] = g;
                }
                // Listed, yet "not found" alone: deleted meanwhile, or an API that cannot be
                // trusted about it. It stays as listed, not fully known: never written, and never
                // taken for absent (a group of the file would be planned as a create).
                Err(e) if e.status() == Some(404) => {
                    warn!(group = %groups[i].name, id = %groups[i].id, "the group was listed, but reading it alone answered 404; it will not be written");
                }
                Err(e) => return Err(e),
            }
        }
        Ok(groups)
    }

    /// One group, read alone.
    pub async fn get_group(&self, id: &GroupId) -> Result<LiveGroup, ApiError> {
        let req = self.get_group_request(id);
        let answer = self.send(&req).await?;
        self.group_answer(&req, id, &answer.body)
    }

    /// The group in an answer about group `id`; an answer about another group is refused.
    fn group_answer(&self, req: &ApiRequest, id: &GroupId, body: &[u8]) -> Result<LiveGroup, ApiError> {
        let group = self.decode::<Envelope<WireGroup>>(req, body)?.data.into_domain();
        if group.id != *id {
            return Err(self.scrub(ApiError::WrongGroup {
                method: req.method.to_string(),
                path: req.path_only().to_string(),
                asked: id.0.clone(),
                got: group.id.0,
            }));
        }
        Ok(group)
    }

    /// Reads group `id` and, at once, replaces it with what `body_of` makes of it (`None`: no
    /// write). The read and the write go back to back (see [`Client::send_exchange`]): a change
    /// made in Tallyfy after the read and before the write is not overwritten by a write that
    /// waited for the rate limit in between.
    pub async fn update_group_fresh<F>(&self, id: &GroupId, body_of: F) -> Result<FreshWrite, ApiError>
    where
        F: Fn(&LiveGroup) -> Option<GroupPayload> + Send + Sync,
    {
        let read = self.get_group_request(id);
        let write_of = |body: &[u8]| -> Result<Option<ApiRequest>, ApiError> {
            let fresh = self.group_answer(&read, id, body)?;
            Ok(body_of(&fresh).map(|b| self.update_group_request(id, &b)))
        };
        let (read_answer, wrote) = self.send_exchange(&read, Some(&write_of)).await?;
        match wrote {
            Some(answer) => {
                let req = ApiRequest { method: Method::PUT, path: read.path.clone(), body: None };
                self.decode::<Envelope<WireGroup>>(&req, &answer.body).map(|e| FreshWrite::Written(e.data.into_domain()))
            }
            None => self.group_answer(&read, id, &read_answer.body).map(FreshWrite::Declined),
        }
    }

    /// All members of the organization (guests are not in this list).
    pub async fn list_users(&self) -> Result<Vec<User>, ApiError> {
        let items: Vec<WireUser> = self.list_all(&self.org_path("/users")).await?;
        Ok(items.into_iter().map(WireUser::into_domain).collect())
    }

    /// All guests of the organization.
    pub async fn list_guests(&self) -> Result<Vec<Guest>, ApiError> {
        let items: Vec<WireGuest> = self.list_all(&self.org_path("/guests")).await?;
        Ok(items.into_iter().map(WireGuest::into_domain).collect())
    }

    /// Every template (`archived`: the archived ones only), each with its steps: listed with
    /// `with=steps`, a hundred to a page; a template listed without any steps is read alone
    /// (`GET .../checklists/{id}?with=steps`). A template whose answer has a shape this client
    /// does not know is an error, never a template that uses no group.
    pub async fn list_templates(&self, archived: bool) -> Result<TemplateList, ApiError> {
        let path = self.org_path(if archived { "/checklists?with=steps&archived=only" } else { "/checklists?with=steps" });
        let items: Vec<WireTemplate> = self.list_all(&path).await?;
        let pages = items.len().div_ceil(PER_PAGE as usize).max(1);
        let listed_req = ApiRequest::list(&path, 1);
        let mut templates = Vec::with_capacity(items.len());
        let mut alone = Vec::new();
        for item in items {
            if item.carries_steps() {
                templates.push(item.into_domain(archived, false).map_err(|detail| self.decode_error(&listed_req, detail))?);
            } else {
                alone.push(item.id_text());
            }
        }
        let read_alone = alone.len();
        let mut alone = alone.into_iter();
        let mut set = tokio::task::JoinSet::new();
        loop {
            // No more reads waiting than requests in flight (`--parallelism`).
            while set.len() < self.parallelism() {
                let Some(id) = alone.next() else { break };
                let client = self.clone();
                set.spawn(async move { client.get_template(&id, archived).await });
            }
            let Some(joined) = set.join_next().await else { break };
            let read = joined.map_err(|e| ApiError::Transport {
                method: "GET".into(),
                path: self.org_path("/checklists/{id}"),
                detail: format!("read task failed: {e}"),
                timeout: false,
                connect: false,
                cause: TransportCause::Other,
            })?;
            templates.push(read?);
        }
        templates.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(TemplateList { templates, pages, read_alone })
    }

    /// Request reading one template with its steps.
    pub fn get_template_request(&self, id: &str) -> ApiRequest {
        ApiRequest::get(self.org_path(&format!("/checklists/{}?with=steps", encode(id))))
    }

    /// One template with its steps, read alone; an answer about another template, or one
    /// without `steps`, is refused.
    pub async fn get_template(&self, id: &str, archived: bool) -> Result<Template, ApiError> {
        let req = self.get_template_request(id);
        let answer = self.send(&req).await?;
        let wire = self.decode::<Envelope<WireTemplate>>(&req, &answer.body)?.data;
        let template = wire.into_domain(archived, true).map_err(|detail| self.decode_error(&req, detail))?;
        if template.id != id {
            return Err(self.decode_error(&req, format!("the answer is about template {}, not {id}", template.id)));
        }
        Ok(template)
    }

    /// Request counting what `what` counts for one group: `per_page=1`, the count is the
    /// answer's `meta.pagination.total`.
    pub fn count_request(&self, what: Counted, group: &GroupId) -> ApiRequest {
        let (path, status) = match what {
            Counted::ActiveProcesses => ("/runs", "active"),
            Counted::OpenTasks => ("/tasks", "incomplete"),
        };
        ApiRequest::get(format!("{}?groups={}&status={status}&per_page=1", self.org_path(path), encode(&group.0)))
    }

    /// Active processes (`runs?status=active`) or open tasks (`tasks?status=incomplete`) of
    /// group `group`: one request. An answer without `meta.pagination.total` is an error.
    pub async fn count(&self, what: Counted, group: &GroupId) -> Result<u64, ApiError> {
        let req = self.count_request(what, group);
        let answer = self.send(&req).await?;
        let env: Envelope<serde_json::Value> = self.decode(&req, &answer.body)?;
        let total = env
            .meta
            .and_then(|m| m.pagination)
            .and_then(|p| p.total)
            .ok_or_else(|| self.decode_error(&req, "the answer has no `meta.pagination.total`, so the count is unknown".to_string()))?;
        // An answer that shows more than its total cannot be trusted about the total.
        let shown = env.data.as_array().map_or(0, Vec::len) as u64;
        if shown > total {
            return Err(self.decode_error(
                &req,
                format!("the answer holds {shown} items but says `meta.pagination.total` is {total}, so the count is unknown"),
            ));
        }
        Ok(total)
    }

    fn decode_error(&self, req: &ApiRequest, detail: String) -> ApiError {
        self.scrub(ApiError::Decode { method: req.method.to_string(), path: req.path_only().to_string(), detail })
    }

    /// Creates a group. A POST that failed ambiguously (5xx, timeout, dropped connection) is
    /// never blindly retried: the name is looked up (see [`Client::find_group`]), and the group
    /// found under it (created after all) is returned; only when the name is still absent is the
    /// POST sent again. Should that POST be refused (422) anyway, every group is read to look.
    pub async fn create_group(&self, body: &GroupPayload) -> Result<LiveGroup, ApiError> {
        let req = self.create_group_request(body);
        let key = name_key(&body.name);
        let read_all = || async {
            let groups = self.list_groups().await?;
            Ok(groups.into_iter().find(|g| name_key(&g.name) == key))
        };
        self.create_once(&req, || self.find_group(&body.name), read_all).await.and_then(|found| match found {
            Created::New(bytes) => self.decode::<Envelope<WireGroup>>(&req, &bytes).map(|e| e.data.into_domain()),
            Created::Found(g) => Ok(g),
        })
    }

    /// Creates a guest, with the same duplicate-safe retry as [`Client::create_group`] (the
    /// guests are read whole: their list has no search).
    pub async fn create_guest(&self, body: &GuestPayload) -> Result<(), ApiError> {
        let req = self.create_guest_request(body);
        let read_all = || async {
            let guests = self.list_guests().await?;
            Ok(guests.into_iter().find(|g| g.email == body.email))
        };
        self.create_once(&req, read_all, read_all).await.map(|_| ())
    }

    /// The group named `name` (ignoring case), looked up with one search request (`q`). The
    /// whole list is read instead when the search cannot settle it: it was refused or not
    /// understood, or it answered more than one page without the name on the first.
    pub async fn find_group(&self, name: &str) -> Result<Option<LiveGroup>, ApiError> {
        let key = name_key(name);
        let req = self.search_groups_request(name);
        let settled = match self.send(&req).await {
            Ok(answer) => match self.decode::<Envelope<Vec<WireGroup>>>(&req, &answer.body) {
                Ok(env) => {
                    let len = env.data.len() as u64;
                    let whole = match env.meta.and_then(|m| m.pagination) {
                        None => len < PER_PAGE,
                        Some(p) => p.total_pages.unwrap_or(1) <= 1 && p.total.map_or(len < PER_PAGE, |t| t <= len),
                    };
                    match env.data.into_iter().map(WireGroup::into_domain).find(|g| name_key(&g.name) == key) {
                        Some(g) => Some(Some(g)),
                        None if whole => Some(None),
                        None => None,
                    }
                }
                Err(e) => {
                    debug!(error = %e, "the group search answered something unexpected");
                    None
                }
            },
            Err(e @ ApiError::Status { .. }) => {
                debug!(error = %first_line(&e), "the group search was refused");
                None
            }
            Err(e) => return Err(e),
        };
        match settled {
            Some(found) => Ok(found),
            None => {
                debug!("the search did not settle whether the group exists; reading every group");
                let groups = self.list_groups().await?;
                Ok(groups.into_iter().find(|g| name_key(&g.name) == key))
            }
        }
    }

    /// Replaces a group's name, description, members and guests.
    pub async fn update_group(&self, id: &GroupId, body: &GroupPayload) -> Result<LiveGroup, ApiError> {
        let req = self.update_group_request(id, body);
        let answer = self.send(&req).await?;
        self.decode::<Envelope<WireGroup>>(&req, &answer.body).map(|e| e.data.into_domain())
    }

    /// Deletes a group. A 404 means it is already gone (for example, a retried delete whose
    /// first answer was lost), which is the state asked for.
    pub async fn delete_group(&self, id: &GroupId) -> Result<(), ApiError> {
        match self.send(&self.delete_group_request(id)).await {
            Ok(_) => Ok(()),
            Err(e) if e.status() == Some(404) => {
                debug!(group = %id, "already deleted");
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// Sends a create; after an ambiguous failure, `find_existing` looks for what it created
    /// before any retry, and `find_thoroughly` looks again when a retry is refused (422) as a
    /// duplicate that the first look missed.
    async fn create_once<T, F, Fut, G, GFut>(&self, req: &ApiRequest, find_existing: F, find_thoroughly: G) -> Result<Created<T>, ApiError>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<Option<T>, ApiError>>,
        G: Fn() -> GFut,
        GFut: std::future::Future<Output = Result<Option<T>, ApiError>>,
    {
        let policy = &self.inner.retry;
        let mut attempt = 0;
        loop {
            match self.send(req).await {
                Ok(answer) => return Ok(Created::New(answer.body)),
                Err(e) if e.is_ambiguous() && attempt + 1 < policy.max_attempts => {
                    attempt += 1;
                    warn!(error = %e, "create failed ambiguously; re-reading before any retry");
                    tokio::select! {
                        () = tokio::time::sleep(policy.backoff(attempt)) => {}
                        // The earlier attempt may have taken effect: unknown, not skipped.
                        () = self.inner.stop.requested() => {
                            return Err(ApiError::Interrupted { method: req.method.to_string(), path: req.path_only().to_string(), sent: true });
                        }
                    }
                    match find_existing().await {
                        Ok(Some(existing)) => {
                            warn!("the earlier create did take effect; not sending it again");
                            return Ok(Created::Found(existing));
                        }
                        Ok(None) => {}
                        Err(reread) => return Err(ApiError::Unconfirmed { create: Box::new(e), reread: Box::new(reread) }),
                    }
                }
                Err(e) if (attempt > 0 || matches!(e, ApiError::ResentAfter401 { .. })) && e.status() == Some(422) => {
                    if let Some(existing) = find_thoroughly().await? {
                        warn!("the earlier create did take effect (the retry was refused as a duplicate)");
                        return Ok(Created::Found(existing));
                    }
                    return Err(e);
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Reads a whole list. An answer whose pages repeat an item or whose count disagrees with
    /// its `total` is read once more (the data may have moved while it was paged); if it is
    /// still inconsistent, or its pagination cannot be trusted at all, the read is refused:
    /// a plan is never made from a partial list.
    async fn list_all<T: Listed>(&self, path: &str) -> Result<Vec<T>, ApiError> {
        match self.list_once(path).await {
            Err(e @ ApiError::Incomplete { .. }) | Err(e @ ApiError::Pagination { problem: PagingProblem::Repeated { .. }, .. }) => {
                warn!(path, error = %first_line(&e), "the list was inconsistent; reading it once more");
                self.list_once(path).await
            }
            other => other,
        }
    }

    async fn list_once<T: Listed>(&self, path: &str) -> Result<Vec<T>, ApiError> {
        let first_req = ApiRequest::list(path, 1);
        let first: Envelope<Vec<T>> = self.decode(&first_req, &self.send(&first_req).await?.body)?;
        let refuse = |problem| ApiError::Pagination { path: path.to_string(), problem };
        let pagination = first.meta.and_then(|m| m.pagination);
        let (total, total_pages) = match pagination.as_ref().map(|p| (p.total, p.total_pages)) {
            Some((Some(total), Some(pages))) => (total, pages),
            // No usable pagination: only a short answer is certainly the whole list.
            // (A `total` it does give must still agree: a short first page of a longer list is
            // never the whole list.)
            _ if (first.data.len() as u64) < PER_PAGE => {
                let total = pagination.as_ref().and_then(|p| p.total);
                return check_distinct(path, first.data, total);
            }
            _ => return Err(refuse(PagingProblem::Missing { items: first.data.len() as u64 })),
        };
        let per_page = pagination.as_ref().and_then(|p| p.per_page).unwrap_or(PER_PAGE);
        if per_page == 0 {
            return Err(refuse(PagingProblem::Disagrees { total, per_page, total_pages }));
        }
        if total_pages > MAX_PAGES {
            return Err(refuse(PagingProblem::Implausible { total_pages }));
        }
        if total_pages != total.div_ceil(per_page).max(1) {
            return Err(refuse(PagingProblem::Disagrees { total, per_page, total_pages }));
        }
        self.page_read(path, 1, total_pages);
        let mut items = first.data;
        if total_pages > 1 {
            let pages = self.fetch_pages::<T>(path, 2..=total_pages).await?;
            for page in pages {
                items.extend(page);
            }
        }
        check_distinct(path, items, Some(total))
    }

    /// Fetches pages concurrently (within the client's parallelism), returned in page order.
    async fn fetch_pages<T: DeserializeOwned + Send + 'static>(
        &self,
        path: &str,
        pages: std::ops::RangeInclusive<u64>,
    ) -> Result<Vec<Vec<T>>, ApiError> {
        let mut set = tokio::task::JoinSet::new();
        for page in pages.clone() {
            let client = self.clone();
            let req = ApiRequest::list(path, page);
            set.spawn(async move {
                let answer = client.send(&req).await?;
                let env: Envelope<Vec<T>> = client.decode(&req, &answer.body)?;
                Ok::<_, ApiError>((page, env.data))
            });
        }
        let mut out = Vec::new();
        let total = pages.end();
        while let Some(joined) = set.join_next().await {
            match joined {
                Ok(Ok(page)) => {
                    out.push(page);
                    self.page_read(path, out.len() as u64 + 1, *total);
                }
                Ok(Err(e)) => return Err(e),
                Err(e) => {
                    return Err(ApiError::Transport {
                        method: "GET".into(),
                        path: path.to_string(),
                        detail: format!("page task failed: {e}"),
                        timeout: false,
                        connect: false,
                        cause: TransportCause::Other,
                    });
                }
            }
        }
        out.sort_by_key(|(page, _)| *page);
        Ok(out.into_iter().map(|(_, data)| data).collect())
    }

    /// Sends one request with the retry policy: 429 on any method; 5xx, timeouts and dropped
    /// connections on GET/PUT/DELETE; connection failures (nothing sent) on any method. With
    /// client credentials, a 401 brings a new access token and one more try (a create refused
    /// after it is [`ApiError::ResentAfter401`], so that its caller looks for the first one).
    async fn send(&self, req: &ApiRequest) -> Result<Answer, ApiError> {
        self.send_exchange(req, None).await.map(|(answer, _)| answer)
    }

    /// Sends `read`, and, when `write_of` is given, at once the write it makes of the read's
    /// answer (`None`: no write after all). The two rate-limit slots are reserved before the
    /// read and the write follows its answer with no wait in between, so nothing can change in
    /// Tallyfy between a group's re-read and the PUT built from it but the round trip itself. A
    /// failure of either retries both: a write is never sent from a read older than its attempt.
    async fn send_exchange(&self, req: &ApiRequest, write_of: Option<WriteOf<'_>>) -> Result<(Answer, Option<Answer>), ApiError> {
        let policy = &self.inner.retry;
        let limiter = &self.inner.limiter;
        // The retry budget runs from the first failure: waiting for the rate limit is not retrying.
        let mut first_failure: Option<Instant> = None;
        let mut attempt = 0u32;
        let mut renewed = false;
        let stop = &self.inner.stop;
        let writes = req.method != Method::GET || write_of.is_some();
        // Whether an earlier attempt of this request may have reached the server unanswered.
        let mut maybe_sent = false;
        let interrupted = |sent: bool| ApiError::Interrupted { method: req.method.to_string(), path: req.path_only().to_string(), sent };
        loop {
            if stop.is_requested() {
                return Err(interrupted(maybe_sent));
            }
            if let Some(failures) = self.stopped_answering() {
                return Err(ApiError::StoppedAnswering { failures, last: None });
            }
            let spent = first_failure.map_or(Duration::ZERO, |t| t.elapsed());
            if let Some(held) = limiter.status().held_for
                && spent + held > policy.max_total
            {
                return Err(ApiError::RateLimited {
                    method: req.method.to_string(),
                    path: req.path_only().to_string(),
                    retry_after_secs: held.as_secs_f64().ceil() as u64,
                });
            }
            let (result, generation) = {
                // The permit is held for the exchange only, not while backing off.
                let asked = Instant::now();
                let ready = async {
                    let permit = self.inner.permits.acquire().await;
                    // Both slots at once (fewer when the limit is lower: the write then waits).
                    let (first, mut rest) = limiter.acquire_many(if write_of.is_some() { 2 } else { 1 }).await;
                    (permit, first, rest.pop())
                };
                let (_permit, slot, second) = tokio::select! {
                    biased;
                    () = stop.requested() => return Err(interrupted(maybe_sent)),
                    ready = ready => ready,
                };
                let paced = asked.elapsed();
                if paced >= Duration::from_secs(1) {
                    info!(method = %req.method, path = req.path_only(), waited_ms = paced.as_millis() as u64, "waited for the rate limit");
                }
                // Taken right before sending, so a request carries the newest token.
                let bearer = tokio::select! {
                    biased;
                    () = stop.requested() => return Err(interrupted(maybe_sent)),
                    bearer = self.inner.auth.bearer(&self.inner.http) => bearer.map_err(|e| self.scrub(e))?,
                };
                let writing = AtomicBool::new(req.method != Method::GET);
                let exchange = async {
                    let first = self.send_once(req, slot, &bearer.header).await;
                    let Some(write_of) = write_of else { return first.map(|a| (a, None)) };
                    let second = match second {
                        Some(second) => second,
                        None => limiter.acquire().await,
                    };
                    let answer = match first {
                        Ok(answer) => answer,
                        Err(e) => {
                            second.cancel();
                            return Err(e);
                        }
                    };
                    let write = match write_of(&answer.body) {
                        Ok(Some(write)) => write,
                        Ok(None) => {
                            second.cancel();
                            return Ok((answer, None));
                        }
                        Err(e) => {
                            second.cancel();
                            return Err((e, None));
                        }
                    };
                    // No request starts after a stop: the write is not sent.
                    if stop.is_requested() {
                        second.cancel();
                        return Err((interrupted(maybe_sent), None));
                    }
                    writing.store(true, Ordering::SeqCst);
                    let wrote = self.send_once(&write, second, &bearer.header).await?;
                    Ok((answer, Some(wrote)))
                };
                let result = tokio::select! {
                    biased;
                    result = exchange => result,
                    // A read abandoned changed nothing; a write's effect is unknown.
                    () = stop.abandoned() => return Err(interrupted(maybe_sent || writing.load(Ordering::SeqCst))),
                };
                (result, bearer.generation)
            };
            let (err, retry_after) = match result {
                Ok(answer) => {
                    self.inner.unanswered.store(0, Ordering::SeqCst);
                    return Ok(answer);
                }
                Err(failure) => failure,
            };
            match &err {
                // A refused certificate is an answer of sorts, and fails at once below.
                ApiError::Transport { timeout, connect, cause, .. }
                    if (*timeout || *connect) && !matches!(cause, TransportCause::UntrustedCertificate { .. }) =>
                {
                    if self.inner.unanswered.fetch_add(1, Ordering::SeqCst) + 1 == STOP_AFTER_FAILURES {
                        self.inner.stopped.notify_waiters();
                    }
                }
                ApiError::Transport { .. } => {}
                _ => self.inner.unanswered.store(0, Ordering::SeqCst),
            }
            if let Some(failures) = self.stopped_answering() {
                return Err(ApiError::StoppedAnswering { failures, last: Some(Box::new(err)) });
            }
            // The token was refused (expired, revoked): client credentials get a new one, shared by
            // every request refused the same token, and this request one more try. A 401 nothing
            // prevented (nothing was applied) is not a retry under the policy.
            if err.status() == Some(401) && self.inner.auth.renews() {
                if renewed {
                    return Err(ApiError::StillUnauthorized { last: Box::new(err) });
                }
                renewed = true;
                tokio::select! {
                    biased;
                    () = stop.requested() => return Err(interrupted(maybe_sent)),
                    renewed = self.inner.auth.renew(&self.inner.http, Some(generation)) => renewed.map_err(|e| self.scrub(e))?,
                }
                continue;
            }
            // Everything here but POST is idempotent (PUT sends the complete group); a POST is
            // retried only when it certainly did not take effect.
            let idempotent = req.method != Method::POST;
            let retryable = err.is_transient() && (idempotent || !err.is_ambiguous());
            if !retryable {
                // A create sent again with a new token and refused (422): the refused first one
                // may have been taken all the same, so its caller looks for it.
                if renewed && !idempotent && err.status() == Some(422) {
                    return Err(ApiError::ResentAfter401 { last: Box::new(err) });
                }
                return Err(err);
            }
            attempt += 1;
            let delay = retry_after.unwrap_or_else(|| policy.backoff(attempt - 1));
            let waited = first_failure.get_or_insert_with(Instant::now).elapsed();
            // A refusal for the rate holds back every request, not only this one; a longer wait
            // than the window is about something else (Tallyfy's hourly guest cap) and concerns
            // this request alone.
            if err.status() == Some(429) && delay <= limiter.window() {
                limiter.hold(tokio::time::Instant::now() + delay);
            }
            if retry_after.is_some_and(|d| d > policy.max_total) {
                return Err(ApiError::RateLimited {
                    method: req.method.to_string(),
                    path: req.path_only().to_string(),
                    retry_after_secs: delay.as_secs(),
                });
            }
            if attempt >= policy.max_attempts || waited + delay > policy.max_total {
                return Err(ApiError::Exhausted { attempts: attempt, waited_secs: waited.as_secs(), last: Box::new(err) });
            }
            warn!(method = %req.method, path = req.path_only(), attempt, delay_ms = delay.as_millis() as u64, error = %first_line(&err), "retrying");
            maybe_sent |= writes && err.is_ambiguous();
            tokio::select! {
                biased;
                () = stop.requested() => return Err(interrupted(maybe_sent)),
                () = tokio::time::sleep(delay) => {}
            }
        }
    }

    async fn send_once(
        &self,
        req: &ApiRequest,
        slot: Slot<'_>,
        bearer: &reqwest::header::HeaderValue,
    ) -> Result<Answer, (ApiError, Option<Duration>)> {
        let span = info_span!("request", method = %req.method, path = req.path_only(), status = tracing::field::Empty, duration_ms = tracing::field::Empty, request_id = tracing::field::Empty);
        async {
            let url = format!("{}{}", self.inner.base_url, req.path);
            let mut builder = self
                .inner
                .http
                .request(req.method.clone(), &url)
                .header(reqwest::header::AUTHORIZATION, bearer.clone())
                .header("Accept", "application/json")
                .header("X-Tallyfy-Client", "APIClient");
            if let Some(body) = &req.body {
                builder = builder.header("Content-Type", "application/json").body(body.to_string());
            }
            let started = Instant::now();
            let transport = |e: reqwest::Error| ApiError::Transport {
                method: req.method.to_string(),
                path: req.path_only().to_string(),
                detail: describe(&e),
                timeout: e.is_timeout(),
                connect: e.is_connect(),
                cause: transport_cause(&e, &self.inner.base_url),
            };
            let response = builder.send().await.map_err(|e| (transport(e), None))?;
            let status = response.status();
            // A 429 whose `Retry-After` the limiter will hold to (within its window) says when
            // the window frees; any other answer, a 429 without it or with an hour's wait (the
            // guest cap) included, teaches `Remaining` as usual.
            let held = response
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| retry::parse_retry_after(v, SystemTime::now()))
                .is_some_and(|d| d <= self.inner.limiter.window());
            slot.finish(if status.as_u16() == 429 && held {
                Feedback::refusal(response.headers())
            } else {
                Feedback::from_headers(response.headers())
            });
            let request_id = response.headers().get("x-request-id").and_then(|v| v.to_str().ok()).map(|id| self.scrub_text(id.to_string()));
            let location = response.headers().get("location").map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
            let retry_after = response
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| retry::parse_retry_after(v, SystemTime::now()));
            let limit = self.inner.max_answer_bytes;
            let too_large = || (ApiError::TooLarge { method: req.method.to_string(), path: req.path_only().to_string(), limit }, None);
            if response.content_length().is_some_and(|n| n > limit) {
                return Err(too_large());
            }
            let mut response = response;
            let mut body = Vec::new();
            while let Some(chunk) = response.chunk().await.map_err(|e| (transport(e), None))? {
                if (body.len() + chunk.len()) as u64 > limit {
                    return Err(too_large());
                }
                body.extend_from_slice(&chunk);
            }
            let span = tracing::Span::current();
            span.record("status", status.as_u16());
            span.record("duration_ms", started.elapsed().as_millis() as u64);
            if let Some(id) = &request_id {
                span.record("request_id", id.as_str());
            }
            debug!("answered");
            if status.is_success() {
                return Ok(Answer { body });
            }
            if status.is_redirection() {
                return Err((
                    ApiError::Redirected {
                        method: req.method.to_string(),
                        path: req.path_only().to_string(),
                        status: status.as_u16(),
                        location,
                    },
                    None,
                ));
            }
            let wire: WireError = serde_json::from_slice(&body).unwrap_or_default();
            let message = wire.message.unwrap_or_else(|| status.canonical_reason().unwrap_or("").to_string());
            let err = ApiError::Status {
                method: req.method.to_string(),
                path: req.path_only().to_string(),
                status: status.as_u16(),
                message,
                code: wire.code,
                field_errors: crate::error::field_errors(wire.errors.as_ref()),
                request_id,
            };
            let retry_after = if status.as_u16() == 429 || status.as_u16() == 503 { retry_after } else { None };
            Err((err, retry_after))
        }
        .instrument(span)
        .await
        .map_err(|(e, retry_after)| (self.scrub(e), retry_after))
    }
}

/// An item of a paginated list, with the key that makes it distinct.
pub trait Listed: DeserializeOwned + Send + 'static {
    /// The key no two items of the list share.
    fn list_key(&self) -> String;
}

impl Listed for WireGroup {
    fn list_key(&self) -> String {
        self.id.clone()
    }
}

impl Listed for WireUser {
    fn list_key(&self) -> String {
        self.id.to_string()
    }
}

impl Listed for WireTemplate {
    fn list_key(&self) -> String {
        self.id_text()
    }
}

impl Listed for WireGuest {
    fn list_key(&self) -> String {
        self.email.trim().to_lowercase()
    }
}

/// Refuses a list that names one item twice, or whose distinct items differ from `total`.
fn check_distinct<T: Listed>(path: &str, items: Vec<T>, total: Option<u64>) -> Result<Vec<T>, ApiError> {
    let mut seen = std::collections::HashSet::with_capacity(items.len());
    for item in &items {
        let key = item.list_key();
        if !seen.insert(key.clone()) {
            return Err(ApiError::Pagination { path: path.to_string(), problem: PagingProblem::Repeated { key } });
        }
    }
    let got = items.len() as u64;
    match total {
        Some(expected) if expected != got => Err(ApiError::Incomplete { path: path.to_string(), expected, got }),
        _ => Ok(items),
    }
}

enum Created<T> {
    New(Vec<u8>),
    Found(T),
}

fn decode<T: DeserializeOwned>(req: &ApiRequest, body: &[u8]) -> Result<T, ApiError> {
    let de = &mut serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(de).map_err(|e| ApiError::Decode {
        method: req.method.to_string(),
        path: req.path_only().to_string(),
        detail: format!("at `{}`: {}", e.path(), e.inner()),
    })
}

/// What the source chain of a failed request says of why it got no answer: a refused
/// certificate, a host that does not resolve, a refused connection. `base_url` names the host.
pub fn transport_cause(e: &reqwest::Error, base_url: &str) -> TransportCause {
    let parsed = url::Url::parse(base_url).ok();
    let host = parsed.as_ref().and_then(|u| u.host_str()).unwrap_or(base_url).to_string();
    let address = match parsed.as_ref().and_then(|u| u.port_or_known_default()) {
        Some(port) => format!("{host}:{port}"),
        None => host.clone(),
    };
    cause_of(e, host, address)
}

fn cause_of(e: &(dyn std::error::Error + 'static), host: String, address: String) -> TransportCause {
    /// A refused certificate in `e`, or in the I/O errors it wraps (`source()` skips them).
    fn certificate(e: &(dyn std::error::Error + 'static)) -> Option<String> {
        if let Some(rustls::Error::InvalidCertificate(why)) = e.downcast_ref::<rustls::Error>() {
            return Some(format!("{why:?}"));
        }
        let inner = e.downcast_ref::<std::io::Error>()?.get_ref()?;
        certificate(inner)
    }
    let mut source = Some(e);
    while let Some(s) = source {
        if let Some(reason) = certificate(s) {
            return TransportCause::UntrustedCertificate { host, reason };
        }
        if s.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::ConnectionRefused) {
            return TransportCause::Refused { address };
        }
        if s.to_string() == "dns error" {
            return TransportCause::UnknownHost { host };
        }
        source = s.source();
    }
    TransportCause::Other
}

fn first_line(e: &ApiError) -> String {
    e.to_string().lines().next().unwrap_or_default().to_string()
}

/// Percent-encodes a path segment (a GitLab project path becomes `group%2Fproject`).
pub fn encode(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for b in segment.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use tallyfy_groups_core::model::{Email, UserId};

    fn client() -> Client {
        Client::new(ClientConfig::new("https://go.tallyfy.com/api/", "org1", Secret::new("t"))).unwrap()
    }

    #[test]
    fn requests_are_plain_values() {
        let c = client();
        assert_eq!(c.list_groups_request(3).path, "/organizations/org1/groups?page=3&per_page=100");
        let body = GroupPayload { name: "N".into(), description: "D".into(), members: vec![UserId(1)], guests: vec![Email::new("g@x.co")] };
        let put = c.update_group_request(&GroupId("a/b".into()), &body);
        assert_eq!(put.method, Method::PUT);
        assert_eq!(put.path, "/organizations/org1/groups/a%2Fb");
        assert_eq!(put.body.unwrap(), serde_json::json!({"name":"N","description":"D","members":[1],"guests":["g@x.co"]}));
        assert_eq!(c.delete_group_request(&GroupId("x".into())).method, Method::DELETE);
        assert_eq!(c.base_url(), "https://go.tallyfy.com/api");
    }

    #[test]
    fn base_url_rules() {
        assert!(check_base_url("https://api.tallyfy.com").is_ok());
        assert!(check_base_url("http://127.0.0.1:8080/api").is_ok());
        assert!(check_base_url("http://localhost:1/api").is_ok());
        assert!(check_base_url("http://[::1]:1/api").is_ok());
        assert!(matches!(check_base_url("http://go.tallyfy.com/api"), Err(ConfigError::InsecureUrl(_))));
        assert!(matches!(check_base_url("ftp://x"), Err(ConfigError::BadUrl(_))));
        assert!(matches!(check_base_url("not a url"), Err(ConfigError::BadUrl(_))));
    }

    #[test]
    fn bad_org_and_token_are_refused() {
        let bad = ClientConfig::new(DEFAULT_API_URL, "a/b", Secret::new("t"));
        assert!(matches!(Client::new(bad), Err(ConfigError::BadOrg(_))));
        let empty = ClientConfig::new(DEFAULT_API_URL, "a", Secret::new(" "));
        assert!(matches!(Client::new(empty), Err(ConfigError::EmptyToken)));
    }

    /// An error with a message and a source, like hyper's connect errors.
    #[derive(Debug)]
    struct Wrapped(&'static str, Box<dyn std::error::Error + Send + Sync>);
    impl fmt::Display for Wrapped {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(self.0)
        }
    }
    impl std::error::Error for Wrapped {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(self.1.as_ref())
        }
    }

    #[test]
    fn causes_are_found_in_the_source_chain() {
        let of = |e: Wrapped| cause_of(&e, "h".into(), "h:443".into());
        let io = |kind, inner: &str| Box::new(std::io::Error::new(kind, inner.to_string()));
        assert_eq!(
            of(Wrapped("dns error", io(std::io::ErrorKind::Other, "failed to lookup address information"))),
            TransportCause::UnknownHost { host: "h".into() }
        );
        assert_eq!(
            of(Wrapped("tcp connect error", io(std::io::ErrorKind::ConnectionRefused, "Connection refused"))),
            TransportCause::Refused { address: "h:443".into() }
        );
        let tls = std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer),
        );
        // As reqwest reports it: an I/O error holding an I/O error holding rustls's error.
        let tls = std::io::Error::other(tls);
        assert_eq!(
            of(Wrapped("client error (Connect)", Box::new(tls))),
            TransportCause::UntrustedCertificate { host: "h".into(), reason: "UnknownIssuer".into() }
        );
        assert_eq!(of(Wrapped("connection reset", io(std::io::ErrorKind::ConnectionReset, "reset"))), TransportCause::Other);
    }

    #[test]
    fn secret_never_debugs() {
        assert_eq!(format!("{:?}", Secret::new("abc")), "Secret(***)");
    }
}
