//! `comment github|gitlab`: keeps one comment of this tool on a pull request (GitHub) or merge
//! request (GitLab): the comment whose first line is the marker and whose author is the token's
//! own user (see [`Author`]) is found (reading every page of comments) and edited in place, or
//! created. The body names the commit it is for and when it was posted. Composing the body is
//! pure; [`upsert`] does network I/O.

use std::fmt;
use std::time::{Duration, SystemTime};

use reqwest::Method;
use serde::Deserialize;
use tracing::{debug, info, warn};

use tallyfy_groups_api::Secret;
use tallyfy_groups_api::encode;
use tallyfy_groups_api::error::describe;
use tallyfy_groups_api::retry::{Retries, pause_unless_stopped, retry_after_of};
use tallyfy_groups_core::render::markdown::MARKER;

/// GitHub's default REST API.
pub const GITHUB_API_URL: &str = "https://api.github.com";
/// GitLab.com's REST API.
pub const GITLAB_API_URL: &str = "https://gitlab.com/api/v4";
/// GitHub refuses comments longer than this many characters.
pub const GITHUB_MAX_CHARS: usize = 65_536;
/// GitLab refuses notes longer than this many characters.
pub const GITLAB_MAX_CHARS: usize = 1_000_000;
/// The login under which GitHub Actions' `GITHUB_TOKEN` writes.
pub const ACTIONS_BOT: &str = "github-actions[bot]";
/// Most pages of comments read while looking for ours (100 comments a page).
pub const MAX_PAGES: usize = 100;
/// Attempts of an idempotent request (GET, PATCH, PUT) answered 429, 5xx or not at all.
const ATTEMPTS: u32 = 3;
/// Longest `Retry-After` waited for; a longer one fails the request.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);
/// Secrets shorter than this are not scrubbed from server text (real tokens are far longer).
const MIN_SCRUBBED_SECRET: usize = 6;

/// Where the comment goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Forge {
    /// A GitHub pull request.
    GitHub,
    /// A GitLab merge request.
    GitLab,
}

impl fmt::Display for Forge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Forge::GitHub => "GitHub",
            Forge::GitLab => "GitLab",
        })
    }
}

impl Forge {
    fn max_chars(self) -> usize {
        match self {
            Forge::GitHub => GITHUB_MAX_CHARS,
            Forge::GitLab => GITLAB_MAX_CHARS,
        }
    }

    /// The environment variable the token comes from.
    pub fn token_variable(self) -> &'static str {
        match self {
            Forge::GitHub => "GITHUB_TOKEN",
            Forge::GitLab => "GITLAB_TOKEN",
        }
    }
}

/// The pull or merge request a comment is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommentTarget {
    /// GitHub or GitLab.
    pub forge: Forge,
    /// The REST API's base URL (checked: https, or http on loopback).
    pub api_url: String,
    /// GitHub: `OWNER/REPO`. GitLab: the project's numeric id or its path (`group/project`).
    pub project: String,
    /// The pull request's number, or the merge request's IID.
    pub number: u64,
}

impl CommentTarget {
    /// Checks the API URL and the project; the number is checked by the command line.
    pub fn new(forge: Forge, api_url: &str, project: &str, number: u64) -> Result<Self, CommentError> {
        let api_url = tallyfy_groups_api::check_base_url(api_url.trim()).map_err(|e| CommentError::Config(format!("{forge} {e}")))?;
        let project = project.trim();
        let valid = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
        let ok = match forge {
            Forge::GitHub => {
                let mut parts = project.split('/');
                matches!((parts.next(), parts.next(), parts.next()), (Some(o), Some(r), None)
                    if !o.is_empty() && !r.is_empty() && o.chars().all(valid) && r.chars().all(valid) && r != "." && r != "..")
            }
            Forge::GitLab => {
                !project.is_empty() && project.split('/').all(|p| !p.is_empty() && p != "." && p != ".." && p.chars().all(valid))
            }
        };
        if !ok {
            return Err(CommentError::Config(match forge {
                Forge::GitHub => format!("--repo `{project}` is not OWNER/REPO (letters, digits, `-`, `_` and `.`)"),
                Forge::GitLab => format!("--project `{project}` is not a project id or path (such as 1234 or group/project)"),
            }));
        }
        Ok(CommentTarget { forge, api_url, project: project.to_string(), number })
    }

    /// What people call the request: `OWNER/REPO#7` or `project 1234 !7`.
    pub fn label(&self) -> String {
        match self.forge {
            Forge::GitHub => format!("{}#{}", self.project, self.number),
            Forge::GitLab => format!("project {} !{}", self.project, self.number),
        }
    }

    fn comments_path(&self) -> String {
        match self.forge {
            Forge::GitHub => format!("/repos/{}/issues/{}/comments", self.project, self.number),
            Forge::GitLab => format!("/projects/{}/merge_requests/{}/notes", encode(&self.project), self.number),
        }
    }

    /// The first page of comments, oldest first.
    pub fn list_url(&self) -> String {
        let query = match self.forge {
            Forge::GitHub => "per_page=100",
            Forge::GitLab => "per_page=100&page=1&sort=asc&order_by=created_at",
        };
        format!("{}{}?{query}", self.api_url, self.comments_path())
    }

    /// Editing comment `id`: GitHub `PATCH`, GitLab `PUT`.
    pub fn edit_request(&self, id: u64) -> (Method, String) {
        match self.forge {
            Forge::GitHub => (Method::PATCH, format!("{}/repos/{}/issues/comments/{id}", self.api_url, self.project)),
            Forge::GitLab => (Method::PUT, format!("{}{}/{id}", self.api_url, self.comments_path())),
        }
    }

    /// Creating a comment.
    pub fn create_request(&self) -> (Method, String) {
        (Method::POST, format!("{}{}", self.api_url, self.comments_path()))
    }

    /// The token's own user: `GET /user` on both forges.
    pub fn user_url(&self) -> String {
        format!("{}/user", self.api_url)
    }
}

/// Whose comments this tool may edit: only those the token itself wrote, so that a comment
/// someone else starts with the marker is never taken over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Author {
    /// The user `GET /user` named (a personal or app user token on GitHub, any token on GitLab;
    /// a project access token is its bot user): compared by id, which a rename does not change.
    User {
        /// The user's id.
        id: u64,
        /// The user's login, for messages.
        login: String,
    },
    /// GitHub Actions' `GITHUB_TOKEN`, which may not read `/user` (401 or 403): the comments of
    /// the Bot [`ACTIONS_BOT`].
    ActionsBot,
    /// `--author LOGIN`: the comments of this login (GitHub `user.login`, GitLab
    /// `author.username`), compared without regard to case.
    Login(String),
}

impl Author {
    /// Checks `--author`: a login of letters, digits, `-`, `_`, `.` and a `[bot]` suffix.
    pub fn given(login: &str) -> Result<Self, CommentError> {
        let login = login.trim();
        let name = login.strip_suffix("[bot]").unwrap_or(login);
        if name.is_empty() || login.len() > 255 || !name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')) {
            return Err(CommentError::Config(format!(
                "--author `{}` is not a login (letters, digits, `-`, `_` and `.`, such as my-app[bot])",
                tallyfy_groups_core::names::visible(login)
            )));
        }
        Ok(Author::Login(login.to_string()))
    }

    /// Whether `comment` was written by this author.
    fn wrote(&self, comment: &Listed) -> bool {
        let Some(by) = comment.user.as_ref().or(comment.author.as_ref()) else { return false };
        match self {
            Author::User { id, .. } => by.id == Some(*id),
            Author::ActionsBot => by.login.as_deref() == Some(ACTIONS_BOT) && by.kind.as_deref() == Some("Bot"),
            Author::Login(login) => by.name().is_some_and(|name| name.eq_ignore_ascii_case(login)),
        }
    }
}

impl fmt::Display for Author {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Author::User { login, .. } | Author::Login(login) => f.write_str(&tallyfy_groups_core::names::visible(login)),
            Author::ActionsBot => f.write_str(ACTIONS_BOT),
        }
    }
}

/// How the comment is written.
#[derive(Debug, Clone)]
pub struct CommentOptions {
    /// The first line that identifies this tool's comment (see [`marker`]).
    pub marker: String,
    /// The commit the comment is for; left out when unknown.
    pub commit: Option<String>,
    /// When the comment is made.
    pub now: SystemTime,
    /// First pause before a retry (doubled each time); `Retry-After` takes precedence.
    pub retry_delay: Duration,
    /// Ctrl-C or SIGTERM: no request starts after it, a wait for a retry ends at once, and a
    /// request in flight is abandoned after the stop's grace.
    pub stop: tallyfy_groups_api::Stop,
    /// `--author LOGIN`: whose comments are this tool's; `None`: the token's own user.
    pub author: Option<String>,
    /// The CI run that made the comment (from the CI's variables), linked in the footer.
    pub run_url: Option<String>,
}

/// What [`upsert`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Posted {
    /// `true`: an existing comment was edited; `false`: a new one was created.
    pub edited: bool,
    /// The comment's id.
    pub id: u64,
    /// The comment's web address, when the API gives one (GitHub).
    pub url: Option<String>,
}

/// Why a comment could not be posted. Server text in it is scrubbed of the token. Each
/// variant's fields are what its message says.
#[derive(Debug, thiserror::Error)]
#[expect(missing_docs, reason = "each variant's fields are named in its message")]
pub enum CommentError {
    /// A flag or value is unusable; nothing was sent.
    #[error("{0}")]
    Config(String),
    /// The forge refused a request.
    #[error("{forge} answered {status} to {what}{}\n    hint: {hint}", message_suffix(.message))]
    Status { forge: Forge, status: u16, what: String, message: String, hint: String },
    /// A request got no answer.
    #[error("{what} got no answer from {forge}: {detail}{}", if *.maybe_done { "\n    hint: the comment may have been created anyway; run again: the next run finds it by its marker and edits it" } else { "" })]
    Transport { forge: Forge, what: String, detail: String, maybe_done: bool },
    /// An answer could not be read.
    #[error("{forge}'s answer to {what} could not be read: {detail}")]
    Decode { forge: Forge, what: String, detail: String },
    /// A next-page link is unusable.
    #[error("{forge}'s next-page link for {what} is unusable: {detail}; nothing was posted")]
    Paging { forge: Forge, what: String, detail: String },
    /// Ctrl-C or SIGTERM stopped it.
    #[error("{what} was stopped: interrupted (Ctrl-C or SIGTERM){}", if *.maybe_done { "; it may have reached the forge\n    hint: run again: the next run finds the comment by its marker and edits it" } else { "; it was not sent" })]
    Interrupted { what: String, maybe_done: bool },
}

fn message_suffix(message: &str) -> String {
    if message.is_empty() { String::new() } else { format!(": {message}") }
}

/// The marker line: `<!-- tallyfy-groups plan -->`, or with a key (`<!-- tallyfy-groups plan:
/// prod -->`) so that one pull request can carry several of this tool's comments.
pub fn marker(key: Option<&str>) -> Result<String, CommentError> {
    match key.map(str::trim) {
        None | Some("") => Ok(MARKER.to_string()),
        Some(k) if k.len() <= 100 && k.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/')) => {
            Ok(format!("<!-- tallyfy-groups plan: {k} -->"))
        }
        Some(k) => Err(CommentError::Config(format!(
            "--key `{k}` may contain only letters, digits, `-`, `_`, `.` and `/` (at most 100 characters)"
        ))),
    }
}

/// Checks a commit id: 7 to 64 hexadecimal digits (abbreviated to full SHA-256).
pub fn check_commit(commit: &str) -> Result<String, CommentError> {
    let c = commit.trim();
    if (7..=64).contains(&c.len()) && c.chars().all(|ch| ch.is_ascii_hexdigit()) {
        Ok(c.to_ascii_lowercase())
    } else {
        Err(CommentError::Config(format!("--commit `{c}` is not a commit id (7 to 64 hexadecimal digits)")))
    }
}

/// Whether a comment is this tool's: its first line is the marker.
pub fn is_ours(body: &str, marker: &str) -> bool {
    body.lines().next().is_some_and(|first| first.trim_end() == marker)
}

/// The comment's text: the marker line, the body (without a marker line of its own), and a
/// footer naming the commit and the time; cut to fit `max_chars` with a note saying so, after
/// closing the code fence and the `<details>` sections the cut falls inside.
pub fn compose(body: &str, options: &CommentOptions, max_chars: usize) -> String {
    let body = match body.split_once('\n') {
        Some((first, rest)) if first.trim_end().starts_with("<!-- tallyfy-groups") && first.trim_end().ends_with("-->") => rest,
        None if body.trim_end().starts_with("<!-- tallyfy-groups") && body.trim_end().ends_with("-->") => "",
        _ => body,
    };
    let body = body.trim_matches(['\n', '\r']).trim_end();
    let mut parts = Vec::new();
    if let Some(commit) = &options.commit {
        parts.push(format!("For commit {commit}"));
    }
    parts.push(format!("posted {}", utc(options.now)));
    parts.push(format!("tallyfy-groups {}", env!("CARGO_PKG_VERSION")));
    if let Some(url) = options.run_url.as_deref().filter(|u| u.starts_with("https://") && !u.contains([')', ' ', '\n'])) {
        parts.push(format!("[run]({url})"));
    }
    let footer = format!("\n\n<sub>{}</sub>\n", parts.join(" · "));
    let head = format!("{}\n", options.marker);
    let fixed = head.chars().count() + footer.chars().count();
    let total = body.chars().count();
    if fixed + total <= max_chars {
        return format!("{head}{body}{footer}");
    }
    let note_for = |kept: usize| {
        format!(
            "\n\n> [!NOTE]\n> Cut here: {} of {total} characters are left out ({max_chars} is the most a comment may hold). The pipeline's log or artifacts have all of it.",
            total - kept
        )
    };
    let room = max_chars.saturating_sub(fixed + note_for(0).chars().count() + 8);
    // Cut at a line end when one is close, so no line is cut in half; then close the code fence
    // and the `<details>` the cut is inside, so the note shows as a note. Each try that does
    // not fit cuts more.
    let mut budget = room;
    let (cut, close) = loop {
        let mut cut: String = body.chars().take(budget).collect();
        if let Some(nl) = cut.rfind('\n')
            && cut.len() - nl < 2_000
        {
            cut.truncate(nl);
        }
        let close = closing(&cut);
        let used = cut.chars().count() + close.chars().count();
        if used <= room || budget == 0 {
            break (cut, close);
        }
        budget = budget.saturating_sub(used - room);
    };
    let kept = cut.chars().count();
    format!("{head}{cut}{close}{}{footer}", note_for(kept))
}

/// What `text` leaves open at its end: a code fence (its character and length: three or more
/// backticks or tildes, indented at most three spaces, closed by a run at least as long of the
/// same character) and how many `<details>` elements, counted outside fences.
fn open_blocks(text: &str) -> (Option<(char, usize)>, usize) {
    let mut fence: Option<(char, usize)> = None;
    let mut details = 0usize;
    for line in text.lines() {
        let rest = line.trim_start_matches(' ');
        let indented = line.len() - rest.len() <= 3;
        // Backticks and tildes are one byte each, so a run's length is also its byte length.
        let run = |c: char| rest.chars().take_while(|&x| x == c).count();
        match fence {
            Some((c, n)) => {
                let r = run(c);
                if indented && r >= n && rest[r..].trim().is_empty() {
                    fence = None;
                }
            }
            None => {
                let opens = ['`', '~'].into_iter().map(|c| (c, run(c))).find(|&(c, r)| r >= 3 && !(c == '`' && rest[r..].contains('`')));
                match opens {
                    Some(opened) if indented => fence = Some(opened),
                    _ => {
                        details += line.matches("<details").count();
                        details = details.saturating_sub(line.matches("</details>").count());
                    }
                }
            }
        }
    }
    (fence, details)
}

/// What closes the blocks `text` leaves open, so that what follows is neither code nor hidden
/// in a collapsed section.
fn closing(text: &str) -> String {
    let (fence, details) = open_blocks(text);
    let mut out = String::new();
    if let Some((c, n)) = fence {
        out.push('\n');
        out.extend(std::iter::repeat_n(c, n));
    }
    for _ in 0..details {
        out.push_str("\n</details>");
    }
    out
}

/// `2025-03-01 14:05 UTC`.
pub fn utc(time: SystemTime) -> String {
    let secs = time.duration_since(SystemTime::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let (days, rest) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
    format!("{y:04}-{m:02}-{d:02} {:02}:{:02} UTC", rest / 3600, rest % 3600 / 60)
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian (H. Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// The `rel="next"` address of a `Link` header.
pub fn next_link(header: &str) -> Option<String> {
    header.split(',').find_map(|part| {
        let (url, params) = part.trim().split_once(';')?;
        let url = url.trim().strip_prefix('<')?.strip_suffix('>')?;
        let next = params
            .split(';')
            .any(|p| p.trim().strip_prefix("rel=").is_some_and(|rel| rel.trim_matches('"').split_whitespace().any(|r| r == "next")));
        next.then(|| url.to_string())
    })
}

/// A comment as both APIs list it.
#[derive(Debug, Deserialize)]
struct Listed {
    id: u64,
    #[serde(default)]
    body: Option<String>,
    /// GitLab: notes the system writes (not comments).
    #[serde(default)]
    system: bool,
    /// GitHub: who wrote it.
    #[serde(default)]
    user: Option<Person>,
    /// GitLab: who wrote it.
    #[serde(default)]
    author: Option<Person>,
}

/// A user as both APIs name one: in a comment, and as `GET /user` answers.
#[derive(Debug, Default, Deserialize)]
struct Person {
    #[serde(default)]
    id: Option<u64>,
    /// GitHub.
    #[serde(default)]
    login: Option<String>,
    /// GitLab.
    #[serde(default)]
    username: Option<String>,
    /// GitHub: `User`, `Bot` or `Organization`.
    #[serde(default, rename = "type")]
    kind: Option<String>,
}

impl Person {
    fn name(&self) -> Option<&str> {
        self.login.as_deref().or(self.username.as_deref())
    }
}

#[derive(Debug, Deserialize)]
struct Written {
    id: u64,
    #[serde(default)]
    html_url: Option<String>,
}

/// Posts `body` as this tool's comment on `target`: edits the comment whose first line is
/// `options.marker` and whose author is the token's own user (or `options.author`), or creates
/// one.
pub async fn upsert(target: &CommentTarget, token: &Secret, body: &str, options: &CommentOptions) -> Result<Posted, CommentError> {
    let author = options.author.as_deref().map(Author::given).transpose()?;
    let api = Api::new(target, token, options.retry_delay, options.stop.clone())?;
    let text = compose(body, options, target.forge.max_chars());
    let author = match author {
        Some(given) => given,
        None => api.own_user().await?,
    };
    debug!(author = %author, "only comments by this author are edited");
    let ours = api.find(&options.marker, &author).await?;
    let payload = serde_json::json!({ "body": text });
    let (edited, (method, url), what) = match ours {
        Some(id) => (true, target.edit_request(id), format!("editing comment {id} on {}", target.label())),
        None => (false, target.create_request(), format!("creating a comment on {}", target.label())),
    };
    let answer = api.send(method, &url, Some(&payload), &what).await?;
    let written: Written = api.decode(&answer.body, &what)?;
    info!(id = written.id, edited, "{}", if edited { "edited the comment in place" } else { "created the comment" });
    Ok(Posted { edited, id: written.id, url: written.html_url })
}

struct Answer {
    body: Vec<u8>,
    headers: reqwest::header::HeaderMap,
}

/// One forge's REST API, with the token attached and scrubbed from everything it answers.
struct Api<'a> {
    target: &'a CommentTarget,
    http: reqwest::Client,
    auth: (reqwest::header::HeaderName, reqwest::header::HeaderValue),
    secret: Option<String>,
    retry_delay: Duration,
    stop: tallyfy_groups_api::Stop,
}

impl<'a> Api<'a> {
    fn new(target: &'a CommentTarget, token: &Secret, retry_delay: Duration, stop: tallyfy_groups_api::Stop) -> Result<Self, CommentError> {
        let forge = target.forge;
        let token = token.expose().trim();
        if token.is_empty() {
            return Err(CommentError::Config(match forge {
                Forge::GitHub => "no GitHub token: set GITHUB_TOKEN (in a workflow: `env: GITHUB_TOKEN: ${{ github.token }}`, with `permissions: pull-requests: write`)".into(),
                Forge::GitLab => "no GitLab token: set GITLAB_TOKEN to a project access token with the `api` scope (a masked CI/CD variable)".into(),
            }));
        }
        let (name, value) = match forge {
            Forge::GitHub => (reqwest::header::AUTHORIZATION, format!("Bearer {token}")),
            Forge::GitLab => (reqwest::header::HeaderName::from_static("private-token"), token.to_string()),
        };
        let mut value = reqwest::header::HeaderValue::from_str(&value).map_err(|_| {
            CommentError::Config(format!(
                "{} contains characters that cannot be sent in an HTTP header (a line break?)",
                forge.token_variable()
            ))
        })?;
        value.set_sensitive(true);
        // The process-wide TLS crypto provider; a second install is a harmless no-op.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut builder = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .connect_timeout(Duration::from_secs(10))
            .user_agent(concat!("tallyfy-groups/", env!("CARGO_PKG_VERSION")))
            // A redirect would carry the token elsewhere.
            .redirect(reqwest::redirect::Policy::none());
        if target.api_url.starts_with("http://") {
            builder = builder.no_proxy();
        }
        let http = builder.build().map_err(|e| CommentError::Config(format!("could not set up the HTTP client: {}", describe(&e))))?;
        let secret = (token.len() >= MIN_SCRUBBED_SECRET).then(|| token.to_string());
        Ok(Api { target, http, auth: (name, value), secret, retry_delay, stop })
    }

    fn scrub(&self, text: &str) -> String {
        match &self.secret {
            Some(s) => text.replace(s.as_str(), "***"),
            None => text.to_string(),
        }
    }

    /// Whose comments are this tool's: the user `GET /user` names; on GitHub, a token that may
    /// not read it (401 or 403: the Actions `GITHUB_TOKEN`, an app installation) is taken for
    /// [`ACTIONS_BOT`].
    async fn own_user(&self) -> Result<Author, CommentError> {
        let what = format!("reading the token's own user (GET {})", self.target.user_url());
        match self.send(Method::GET, &self.target.user_url(), None, &what).await {
            Ok(answer) => {
                let user: Person = self.decode(&answer.body, &what)?;
                let Some(id) = user.id else {
                    return Err(CommentError::Decode { forge: self.target.forge, what, detail: "at `id`: missing".into() });
                };
                Ok(Author::User { id, login: user.name().unwrap_or_default().to_string() })
            }
            Err(CommentError::Status { status: 401 | 403, .. }) if self.target.forge == Forge::GitHub => {
                info!(
                    "the token may not read its own user (GitHub Actions' GITHUB_TOKEN): only comments by {ACTIONS_BOT} are edited; for another app pass --author"
                );
                Ok(Author::ActionsBot)
            }
            Err(e) => Err(e),
        }
    }

    /// The id of the oldest comment whose first line is `marker` and whose author is `author`,
    /// reading page after page. Marked comments by anyone else are left alone, with a warning.
    async fn find(&self, marker: &str, author: &Author) -> Result<Option<u64>, CommentError> {
        let forge = self.target.forge;
        let what = format!("listing the comments of {}", self.target.label());
        let mut url = self.target.list_url();
        let mut foreign = Vec::new();
        for page in 1..=MAX_PAGES {
            let answer = self.send(Method::GET, &url, None, &what).await?;
            let comments: Vec<Listed> = self.decode(&answer.body, &what)?;
            debug!(page, comments = comments.len(), "read a page of comments");
            let marked = comments.iter().filter(|c| !c.system && c.body.as_deref().is_some_and(|b| is_ours(b, marker)));
            let (ours, theirs): (Vec<&Listed>, Vec<&Listed>) = marked.partition(|c| author.wrote(c));
            foreign.extend(theirs.iter().map(|c| (c.id, c.user.as_ref().or(c.author.as_ref()).and_then(Person::name).map(str::to_string))));
            if let Some(found) = ours.first() {
                if ours.len() > 1 {
                    warn!("more than one comment of {author} carries the marker; editing the oldest");
                }
                self.warn_foreign(&foreign, author, false);
                return Ok(Some(found.id));
            }
            match self.next_page(&answer.headers, &url) {
                Ok(Some(next)) => url = next,
                Ok(None) => {
                    self.warn_foreign(&foreign, author, true);
                    return Ok(None);
                }
                Err(detail) => return Err(CommentError::Paging { forge, what, detail }),
            }
        }
        Err(CommentError::Paging { forge, what, detail: format!("more than {MAX_PAGES} pages of comments") })
    }

    /// Says which comments carry the marker but were written by someone else than `author`.
    fn warn_foreign(&self, foreign: &[(u64, Option<String>)], author: &Author, creating: bool) {
        const SHOWN: usize = 5;
        for (id, by) in foreign.iter().take(SHOWN) {
            let by = by.as_deref().map(|n| self.scrub(&tallyfy_groups_core::names::visible(n)));
            warn!(
                "comment {id} on {} starts with this tool's marker but was written by {}, not by {author}: left alone{}",
                self.target.label(),
                by.as_deref().unwrap_or("an unknown user"),
                if creating { "; a comment of its own is created" } else { "" }
            );
        }
        if foreign.len() > SHOWN {
            warn!("{} more comments start with this tool's marker but were written by others: left alone", foreign.len() - SHOWN);
        }
    }

    /// The next page's address: the `Link` header's `rel="next"`, or GitLab's `X-Next-Page`.
    /// A link is followed only below the API's own address, so the token goes nowhere else.
    fn next_page(&self, headers: &reqwest::header::HeaderMap, current: &str) -> Result<Option<String>, String> {
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim).filter(|v| !v.is_empty());
        if let Some(next) = header("link").and_then(next_link) {
            let base = url::Url::parse(&self.target.api_url).map_err(|e| e.to_string())?;
            let link = url::Url::parse(&next).map_err(|_| "not a URL".to_string())?;
            let same_origin = link.scheme() == base.scheme()
                && link.host_str() == base.host_str()
                && link.port_or_known_default() == base.port_or_known_default()
                && link.path().starts_with(base.path().trim_end_matches('/'));
            if !same_origin {
                return Err(format!(
                    "it points outside {} ({}), where the token is not sent",
                    self.target.api_url,
                    link.origin().ascii_serialization()
                ));
            }
            return Ok(Some(next));
        }
        if self.target.forge == Forge::GitLab
            && let Some(page) = header("x-next-page")
        {
            let page: u64 = page.parse().map_err(|_| format!("X-Next-Page `{}` is not a page number", self.scrub(page)))?;
            let mut url = url::Url::parse(current).map_err(|e| e.to_string())?;
            let pairs: Vec<(String, String)> =
                url.query_pairs().filter(|(k, _)| k != "page").map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
            url.query_pairs_mut().clear().extend_pairs(pairs).append_pair("page", &page.to_string());
            return Ok(Some(url.to_string()));
        }
        Ok(None)
    }

    fn decode<T: serde::de::DeserializeOwned>(&self, body: &[u8], what: &str) -> Result<T, CommentError> {
        let de = &mut serde_json::Deserializer::from_slice(body);
        serde_path_to_error::deserialize(de).map_err(|e| CommentError::Decode {
            forge: self.target.forge,
            what: what.to_string(),
            detail: self.scrub(&format!("at `{}`: {}", e.path(), e.inner())),
        })
    }

    /// Sends a request; GET, PATCH and PUT are tried again on 429, 5xx and no answer. A POST
    /// is sent again only when it certainly never arrived (the connection failed).
    async fn send(&self, method: Method, url: &str, body: Option<&serde_json::Value>, what: &str) -> Result<Answer, CommentError> {
        let forge = self.target.forge;
        let idempotent = method != Method::POST;
        let mut retries = Retries::new(ATTEMPTS, self.retry_delay, MAX_RETRY_AFTER);
        // Whether an earlier try of a POST may have arrived.
        let mut maybe_done = false;
        loop {
            if self.stop.is_requested() {
                return Err(CommentError::Interrupted { what: what.to_string(), maybe_done });
            }
            let mut request = self
                .http
                .request(method.clone(), url)
                .header(self.auth.0.clone(), self.auth.1.clone())
                .header(reqwest::header::ACCEPT, if forge == Forge::GitHub { "application/vnd.github+json" } else { "application/json" });
            if forge == Forge::GitHub {
                request = request.header("X-GitHub-Api-Version", "2022-11-28");
            }
            if let Some(body) = body {
                request = request.header(reqwest::header::CONTENT_TYPE, "application/json").body(body.to_string());
            }
            let sent = tokio::select! {
                sent = request.send() => sent,
                () = self.stop.abandoned() => return Err(CommentError::Interrupted { what: what.to_string(), maybe_done: maybe_done || !idempotent }),
            };
            let (retry, wait, failure) = match sent {
                Err(e) => {
                    let connect = e.is_connect();
                    let detail = self.scrub(&describe(&e.without_url()));
                    // A failed connection sent nothing; anything else may have arrived.
                    let retry = connect || idempotent;
                    let maybe_done = !idempotent && !connect;
                    (retry, None, CommentError::Transport { forge, what: what.to_string(), detail, maybe_done })
                }
                Ok(response) => {
                    let status = response.status();
                    let headers = response.headers().clone();
                    let bytes = response.bytes().await.map_err(|e| CommentError::Transport {
                        forge,
                        what: what.to_string(),
                        detail: self.scrub(&describe(&e.without_url())),
                        maybe_done: !idempotent,
                    })?;
                    if status.is_success() {
                        return Ok(Answer { body: bytes.to_vec(), headers });
                    }
                    let code = status.as_u16();
                    let retry_after = retry_after_of(&headers);
                    let transient = matches!(code, 429 | 500 | 502 | 503 | 504);
                    let retry = transient && idempotent;
                    let message = self.scrub(&server_message(&bytes));
                    let hint = hint(self.target, code, &headers, &message);
                    (retry, retry_after, CommentError::Status { forge, status: code, what: what.to_string(), message, hint })
                }
            };
            let attempt = retries.attempt();
            let Some(delay) = retries.next_pause(wait).filter(|_| retry) else { return Err(failure) };
            warn!(attempt, delay_ms = delay.as_millis() as u64, error = %failure.to_string().lines().next().unwrap_or_default(), "retrying");
            maybe_done |= matches!(failure, CommentError::Transport { maybe_done: true, .. });
            if !pause_unless_stopped(delay, &self.stop).await {
                return Err(CommentError::Interrupted { what: what.to_string(), maybe_done });
            }
        }
    }
}

/// The server's own words: `message` (GitHub, GitLab), `error` (GitLab), at most 300 characters,
/// escaped ([`tallyfy_groups_core::names::visible`]).
fn server_message(body: &[u8]) -> String {
    let value: serde_json::Value = serde_json::from_slice(body).unwrap_or(serde_json::Value::Null);
    let text = match (&value["message"], &value["error"]) {
        (serde_json::Value::String(s), _) | (_, serde_json::Value::String(s)) => s.clone(),
        (serde_json::Value::Null, _) => String::from_utf8_lossy(body).trim().to_string(),
        (other, _) => other.to_string(),
    };
    let text: String = text.chars().take(300).collect();
    // Shown on a terminal or in a CI log: escaped, so it cannot forge a line there.
    tallyfy_groups_core::names::visible(&text).into_owned()
}

/// What to do about an error answer.
fn hint(target: &CommentTarget, status: u16, headers: &reqwest::header::HeaderMap, message: &str) -> String {
    let n = target.number;
    let p = &target.project;
    let rate_limited =
        headers.get("x-ratelimit-remaining").is_some_and(|v| v.as_bytes() == b"0") || message.to_lowercase().contains("rate limit");
    let later = "rate limited; run again later (the comment is edited in place, so a rerun never duplicates it)";
    match (target.forge, status) {
        (_, 429) => later.into(),
        (Forge::GitHub, 403) if rate_limited => later.into(),
        (Forge::GitHub, 401) => "GITHUB_TOKEN was not accepted: it is missing, expired or revoked. In a workflow pass `GITHUB_TOKEN: ${{ github.token }}` (the Action does)".into(),
        (Forge::GitHub, 403) => "the token may not comment on this pull request: give the job `permissions: pull-requests: write`. A pull request from a fork gets a read-only token and no secrets, so it cannot get a comment".into(),
        (Forge::GitHub, 404) => format!("no pull request #{n} in {p} that this token can see: check --repo and --pr; GitHub answers 404 when the token has no access to a private repository"),
        (Forge::GitHub, 422) => "GitHub refused the comment as written (locked conversation, or too long)".into(),
        (Forge::GitLab, 401) => "GITLAB_TOKEN was not accepted: it is missing, expired or revoked; use a project access token with the `api` scope".into(),
        (Forge::GitLab, 403) => "the token may not comment on this merge request: it needs the `api` scope and at least the Reporter role, and the discussion must not be locked".into(),
        (Forge::GitLab, 404) => format!("no merge request !{n} in project {p} that this token can see: check --project and --mr; GitLab answers 404 when the token may not read the project"),
        (_, 500..=599) => "the server failed; run again later".into(),
        _ => "see the message above".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(commit: Option<&str>) -> CommentOptions {
        CommentOptions {
            marker: MARKER.to_string(),
            commit: commit.map(str::to_string),
            now: SystemTime::UNIX_EPOCH + Duration::from_secs(1_740_837_900),
            retry_delay: Duration::ZERO,
            stop: Default::default(),
            author: None,
            run_url: None,
        }
    }

    #[test]
    fn the_footer_links_the_ci_run_when_it_is_known() {
        let with = CommentOptions { run_url: Some("https://github.com/o/r/actions/runs/42".into()), ..options(None) };
        let text = compose("plan", &with, GITHUB_MAX_CHARS).replace(env!("CARGO_PKG_VERSION"), "VERSION");
        assert!(
            text.ends_with(
                "<sub>posted 2025-03-01 14:05 UTC · tallyfy-groups VERSION · [run](https://github.com/o/r/actions/runs/42)</sub>\n"
            ),
            "{text}"
        );
        // Only an https URL that cannot break out of the link is linked.
        for odd in ["http://x/y", "https://x/y) [click](https://evil", "javascript:alert(1)"] {
            let text = compose("plan", &CommentOptions { run_url: Some(odd.into()), ..options(None) }, GITHUB_MAX_CHARS);
            assert!(!text.contains("[run]"), "{text}");
        }
    }

    #[test]
    fn the_body_gets_one_marker_and_a_footer_naming_commit_and_time() {
        let plan = format!("{MARKER}\n### Tallyfy groups plan: 1 to create\n\nbody\n");
        let text = compose(&plan, &options(Some("0123456789abcdef0123456789abcdef01234567")), GITHUB_MAX_CHARS);
        insta::assert_snapshot!(text.replace(env!("CARGO_PKG_VERSION"), "VERSION"), @r"
        <!-- tallyfy-groups plan -->
        ### Tallyfy groups plan: 1 to create

        body

        <sub>For commit 0123456789abcdef0123456789abcdef01234567 · posted 2025-03-01 14:05 UTC · tallyfy-groups VERSION</sub>
        ");
        // No commit known: left out. A body without a marker gets one.
        let text = compose("plain text", &options(None), GITHUB_MAX_CHARS);
        assert_eq!(
            text.replace(env!("CARGO_PKG_VERSION"), "VERSION"),
            "<!-- tallyfy-groups plan -->\nplain text\n\n<sub>posted 2025-03-01 14:05 UTC · tallyfy-groups VERSION</sub>\n"
        );
        assert!(is_ours(&text, MARKER));
        // A keyed marker replaces the renderer's own.
        let keyed = CommentOptions { marker: marker(Some("prod")).expect("key"), ..options(None) };
        let text = compose(&plan, &keyed, GITHUB_MAX_CHARS);
        assert!(text.starts_with("<!-- tallyfy-groups plan: prod -->\n### Tallyfy"), "{text}");
        assert!(!is_ours(&text, MARKER) && is_ours(&text, &keyed.marker));
    }

    #[test]
    fn a_body_too_long_is_cut_at_a_line_with_a_note() {
        let body: String = (0..10_000).map(|i| format!("line {i:05} of the plan\n")).collect();
        let text = compose(&body, &options(Some("abcdef1")), GITHUB_MAX_CHARS);
        assert!(text.chars().count() <= GITHUB_MAX_CHARS, "{}", text.chars().count());
        assert!(text.contains("> [!NOTE]\n> Cut here: ") && text.contains("characters are left out"), "{}", &text[text.len() - 400..]);
        assert!(text.ends_with(&format!("tallyfy-groups {}</sub>\n", env!("CARGO_PKG_VERSION"))));
        let before_note = text.split("\n\n> [!NOTE]").next().expect("text");
        assert!(before_note.ends_with("of the plan"), "cut at a line end: {:?}", &before_note[before_note.len() - 40..]);
        // Multi-byte characters are counted as characters, never split.
        let wide = "é".repeat(70_000);
        let text = compose(&wide, &options(None), GITHUB_MAX_CHARS);
        assert!(text.chars().count() <= GITHUB_MAX_CHARS);
    }

    #[test]
    fn a_cut_inside_a_code_fence_closes_it_before_the_note() {
        // The markdown plan's shape: collapsible sections, each a fenced diff; the cut falls
        // inside the last fence.
        let section = |i: usize| {
            format!("<details><summary>Group {i}</summary>\n\n````diff\n+ member a{i}@example.com\n```\nnot a close\n````\n\n</details>\n")
        };
        let mut body: String = (0..400).map(section).collect();
        body.push_str("<details><summary>Last</summary>\n\n````diff\n");
        body.extend((0..5_000).map(|i| format!("+ member m{i:05}@example.com\n")));
        body.push_str("````\n\n</details>\n");
        let text = compose(&body, &options(None), GITHUB_MAX_CHARS);
        assert!(text.chars().count() <= GITHUB_MAX_CHARS, "{}", text.chars().count());
        let (before, note) = text.split_once("\n\n> [!NOTE]").expect("a note");
        assert!(note.contains("Cut here"), "{note}");
        assert!(
            before.ends_with("@example.com\n````\n</details>"),
            "the fence and the section are closed: {:?}",
            &before[before.len() - 80..]
        );
        assert_eq!(open_blocks(before), (None, 0), "nothing is left open before the note");

        // A tilde fence, indented up to three spaces, closed by a longer run of its own kind.
        let body = format!("intro\n  ~~~~ text\n{}", "x ``` y\n```\n~~~\n".repeat(10_000));
        let text = compose(&body, &options(None), 1_000);
        assert!(text.chars().count() <= 1_000, "{}", text.chars().count());
        let before = text.split("\n\n> [!NOTE]").next().expect("text");
        assert!(before.ends_with("\n~~~~"), "{:?}", &before[before.len() - 40..]);
        assert_eq!(open_blocks(before), (None, 0));

        // A cut outside any fence adds nothing.
        let body = "```\ncode\n```\n".to_string() + &"plain line\n".repeat(10_000);
        let text = compose(&body, &options(None), 2_000);
        assert!(text.split("\n\n> [!NOTE]").next().expect("text").ends_with("plain line"), "{text}");
    }

    #[test]
    fn keys_and_commits_are_checked() {
        assert_eq!(marker(None).expect("default"), MARKER);
        assert!(marker(Some("a -->")).is_err() && marker(Some("x\ny")).is_err());
        assert_eq!(check_commit(" ABCDEF1 ").expect("ok"), "abcdef1");
        for bad in ["abc", "main", "g123456", &"a".repeat(65)] {
            assert!(check_commit(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn requests_are_built_per_forge() {
        let gh = CommentTarget::new(Forge::GitHub, "https://api.github.com/", "octo/repo", 7).expect("target");
        assert_eq!(gh.list_url(), "https://api.github.com/repos/octo/repo/issues/7/comments?per_page=100");
        assert_eq!(gh.edit_request(9), (Method::PATCH, "https://api.github.com/repos/octo/repo/issues/comments/9".into()));
        assert_eq!(gh.create_request(), (Method::POST, "https://api.github.com/repos/octo/repo/issues/7/comments".into()));
        let gl = CommentTarget::new(Forge::GitLab, "https://gitlab.example/api/v4", "group/sub/project", 3).expect("target");
        assert_eq!(
            gl.list_url(),
            "https://gitlab.example/api/v4/projects/group%2Fsub%2Fproject/merge_requests/3/notes?per_page=100&page=1&sort=asc&order_by=created_at"
        );
        assert_eq!(
            gl.edit_request(5),
            (Method::PUT, "https://gitlab.example/api/v4/projects/group%2Fsub%2Fproject/merge_requests/3/notes/5".into())
        );
        for (forge, bad) in
            [(Forge::GitHub, "octo"), (Forge::GitHub, "a/b/c"), (Forge::GitHub, "o/.."), (Forge::GitLab, "a//b"), (Forge::GitLab, "a b")]
        {
            assert!(matches!(CommentTarget::new(forge, GITHUB_API_URL, bad, 1), Err(CommentError::Config(_))), "{bad}");
        }
        let insecure = CommentTarget::new(Forge::GitHub, "http://api.github.com", "o/r", 1).expect_err("plain http");
        assert!(insecure.to_string().contains("https://"), "{insecure}");
    }

    #[test]
    fn the_next_link_is_found_among_others() {
        let h = r#"<https://api.github.com/repositories/1/issues/7/comments?page=1>; rel="prev", <https://api.github.com/repositories/1/issues/7/comments?page=3>; rel="next", <https://x/last>; rel="last""#;
        assert_eq!(next_link(h).as_deref(), Some("https://api.github.com/repositories/1/issues/7/comments?page=3"));
        assert_eq!(next_link(r#"<https://x/1>; rel="first", <https://x/9>; rel="last""#), None);
        assert_eq!(next_link(""), None);
    }

    #[test]
    fn utc_dates_are_right_across_leap_years() {
        let at = |s: u64| utc(SystemTime::UNIX_EPOCH + Duration::from_secs(s));
        assert_eq!(at(0), "1970-01-01 00:00 UTC");
        assert_eq!(at(951_782_400), "2000-02-29 00:00 UTC");
        assert_eq!(at(1_709_251_199), "2024-02-29 23:59 UTC");
        assert_eq!(at(4_102_444_800), "2100-01-01 00:00 UTC");
    }
}
