//! The client's one error type: every failure of a Tallyfy request, with what to do about it.
//! Text a server sent is kept as sent and shown escaped ([`visible`]: on one line, no control
//! or bidi character), so it cannot forge a line of this tool's output. Pure; no I/O.

use std::collections::BTreeMap;
use std::fmt;

use tallyfy_groups_core::names::visible;

/// A failed Tallyfy request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// The API answered with a non-success status.
    Status {
        /// The request's method.
        method: String,
        /// The request's path.
        path: String,
        /// The HTTP status.
        status: u16,
        /// The answer's `message`, as sent.
        message: String,
        /// The answer's `code`, if it had one.
        code: Option<String>,
        /// 422: field name → messages.
        field_errors: BTreeMap<String, Vec<String>>,
        /// The answer's `X-Request-Id`, to quote when reporting a problem to Tallyfy.
        request_id: Option<String>,
    },
    /// No answer: connection refused or dropped, or the request timed out; `cause` says what
    /// is known of why.
    Transport {
        /// The request's method.
        method: String,
        /// The request's path.
        path: String,
        /// What the HTTP library said.
        detail: String,
        /// The request timed out.
        timeout: bool,
        /// The connection could not be opened (so nothing was sent).
        connect: bool,
        /// What is known of why.
        cause: TransportCause,
    },
    /// An answer that is not the JSON the API documents.
    Decode {
        /// The request's method.
        method: String,
        /// The request's path.
        path: String,
        /// What did not decode, and where in the JSON.
        detail: String,
    },
    /// A paginated list came back with fewer (or more) items than it announced.
    Incomplete {
        /// The list's path.
        path: String,
        /// The items the list announced.
        expected: u64,
        /// The distinct items read.
        got: u64,
    },
    /// A paginated list whose pagination cannot be trusted.
    Pagination {
        /// The list's path.
        path: String,
        /// What is wrong with it.
        problem: PagingProblem,
    },
    /// Retries ran out; `last` is the final failure.
    Exhausted {
        /// The attempts made.
        attempts: u32,
        /// The seconds spent waiting between them.
        waited_secs: u64,
        /// The last attempt's failure.
        last: Box<ApiError>,
    },
    /// Tallyfy asked to wait longer than the retry budget allows.
    RateLimited {
        /// The request's method.
        method: String,
        /// The request's path.
        path: String,
        /// The wait Tallyfy asked for, in seconds.
        retry_after_secs: u64,
    },
    /// A 3xx answer. The Tallyfy API does not redirect, and following one would send the request
    /// (and the token) somewhere else, so it is never followed.
    Redirected {
        /// The request's method.
        method: String,
        /// The request's path.
        path: String,
        /// The 3xx status.
        status: u16,
        /// The `Location` the answer pointed to, if any.
        location: Option<String>,
    },
    /// The API stopped answering (several connection failures or timeouts in a row), so the
    /// client sends nothing more; `last` is this request's own last failure, if it made one.
    StoppedAnswering {
        /// The failures in a row that stopped the client.
        failures: u32,
        /// This request's own last failure, if it made one.
        last: Option<Box<ApiError>>,
    },
    /// A create failed in a way that may or may not have taken effect, and reading back whether
    /// it did failed too.
    Unconfirmed {
        /// How the create failed.
        create: Box<ApiError>,
        /// How reading back failed.
        reread: Box<ApiError>,
    },
    /// The OAuth token endpoint did not hand out an access token: `status` is `None` when it
    /// did not answer, a success status when its answer held no usable token.
    TokenExchange {
        /// The token URL.
        url: String,
        /// The endpoint's status, if it answered.
        status: Option<u16>,
        /// What went wrong, scrubbed of secrets.
        detail: String,
    },
    /// A request was refused (401) with a token just obtained from the client credentials too.
    StillUnauthorized {
        /// The refusal of the request sent with the new token.
        last: Box<ApiError>,
    },
    /// A stop (Ctrl-C, SIGTERM) ended the request: before it was sent (`sent: false`), or while
    /// a write may have reached the server unanswered (`sent: true`: its effect is unknown).
    Interrupted {
        /// The request's method.
        method: String,
        /// The request's path.
        path: String,
        /// Whether the request may have reached the server.
        sent: bool,
    },
    /// A create answered 401, sent again with a new access token, and refused (422): the first
    /// may have been taken all the same, so the caller looks for what it created.
    ResentAfter401 {
        /// The refusal of the create sent again.
        last: Box<ApiError>,
    },
    /// The answer was about another group than the one asked for (its `data.id` differs).
    WrongGroup {
        /// The request's method.
        method: String,
        /// The request's path.
        path: String,
        /// The id of the group asked for.
        asked: String,
        /// The id the answer held.
        got: String,
    },
    /// The answer's body is larger than any answer of the API can be.
    TooLarge {
        /// The request's method.
        method: String,
        /// The request's path.
        path: String,
        /// The most bytes an answer may have.
        limit: u64,
    },
}

/// What is known of why a request got no answer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum TransportCause {
    /// Nothing more than the detail says.
    #[default]
    Other,
    /// The TLS handshake refused the server's certificate (an unknown issuer, such as a
    /// corporate proxy's CA; expired; for another name). Retrying cannot help.
    UntrustedCertificate {
        /// The server's host name.
        host: String,
        /// Why the certificate was refused.
        reason: String,
    },
    /// The host name did not resolve.
    UnknownHost {
        /// The host name.
        host: String,
    },
    /// The connection was refused: nothing listens at that address and port.
    Refused {
        /// The address and port connected to.
        address: String,
    },
}

/// Why a paginated list was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PagingProblem {
    /// A full page came back without `meta.pagination.total`/`total_pages`: there may be more.
    Missing {
        /// The items on the page.
        items: u64,
    },
    /// `total_pages` is not `max(1, ceil(total / per_page))`.
    Disagrees {
        /// `meta.pagination.total`.
        total: u64,
        /// `meta.pagination.per_page`.
        per_page: u64,
        /// `meta.pagination.total_pages`.
        total_pages: u64,
    },
    /// More pages than any organization has.
    Implausible {
        /// `meta.pagination.total_pages`.
        total_pages: u64,
    },
    /// The same item came back twice (read twice, both times).
    Repeated {
        /// The item's key: its id, or a guest's email.
        key: String,
    },
}

/// How to trust a certificate authority that signs the API's certificate.
fn untrusted_hint(n: &Names) -> String {
    format!(
        "when a proxy or firewall of your network inspects HTTPS with its own certificate authority, add that CA to the system's trust store (update-ca-certificates, or your OS's keychain), or set SSL_CERT_FILE to a PEM file holding it and the public CAs; otherwise check the API URL ({}). See docs/commands.md#certificates",
        n.api_url
    )
}

/// What a person sets for each setting a hint points at: the variables and flags of the single
/// organization of the command line ([`Names::single`]), or a workspace target's own. Hints are
/// written with these names, never edited afterwards.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Names {
    /// The organization id: `TALLYFY_ORG_ID / --org`.
    pub org: String,
    /// The API URL: `TALLYFY_API_URL / --api-url`.
    pub api_url: String,
    /// The personal access token: `TALLYFY_ACCESS_TOKEN (or --token-file)`.
    pub access_token: String,
    /// The client credentials: `TALLYFY_CLIENT_ID and TALLYFY_CLIENT_SECRET`.
    pub client: String,
    /// The same, with the file a secret can be read from.
    pub client_or_file: String,
    /// The token URL: `TALLYFY_TOKEN_URL / --token-url`.
    pub token_url: String,
}

impl Names {
    /// The single organization's variables and flags.
    pub fn single() -> Self {
        Names {
            org: "TALLYFY_ORG_ID / --org".into(),
            api_url: "TALLYFY_API_URL / --api-url".into(),
            access_token: "TALLYFY_ACCESS_TOKEN (or --token-file)".into(),
            client: "TALLYFY_CLIENT_ID and TALLYFY_CLIENT_SECRET".into(),
            client_or_file: "TALLYFY_CLIENT_ID and TALLYFY_CLIENT_SECRET (or --client-secret-file)".into(),
            token_url: "TALLYFY_TOKEN_URL / --token-url".into(),
        }
    }
}

impl Default for Names {
    fn default() -> Self {
        Names::single()
    }
}

/// An [`ApiError`] said with a target's own [`Names`].
pub struct Named<'a>(&'a ApiError, &'a Names);

impl fmt::Display for Named<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt_named(f, self.1)
    }
}

impl fmt::Display for PagingProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PagingProblem::Missing { items } => {
                write!(f, "answered a full page of {items} items without `meta.pagination.total` and `total_pages`, so there may be more")
            }
            PagingProblem::Disagrees { total, per_page, total_pages } => write!(
                f,
                "says `total_pages: {total_pages}`, but {total} items at {per_page} per page make {} pages",
                if *per_page == 0 { 0 } else { total.div_ceil(*per_page).max(1) }
            ),
            PagingProblem::Implausible { total_pages } => {
                write!(f, "at `meta.pagination.total_pages`: {total_pages} pages is implausible (at most {})", super::MAX_PAGES)
            }
            PagingProblem::Repeated { key } => write!(f, "returned the item `{}` twice, also when read again", visible(key)),
        }
    }
}

impl ApiError {
    /// HTTP status, when there was an answer.
    pub fn status(&self) -> Option<u16> {
        match self {
            ApiError::Status { status, .. } => Some(*status),
            ApiError::Exhausted { last, .. } => last.status(),
            ApiError::StoppedAnswering { last: Some(last), .. } => last.status(),
            ApiError::Redirected { status, .. } => Some(*status),
            ApiError::StillUnauthorized { last } | ApiError::ResentAfter401 { last } => last.status(),
            // Deliberately not the token endpoint's status: it says nothing about the request.
            _ => None,
        }
    }

    /// Whether a retry could help (rate limits, 5xx, timeouts, dropped connections).
    pub fn is_transient(&self) -> bool {
        match self {
            ApiError::Status { status, .. } => *status == 429 || *status >= 500,
            // A certificate is not trusted, and a host not found, the next time either: said at
            // once, not after retries.
            ApiError::Transport { cause, .. } => {
                !matches!(cause, TransportCause::UntrustedCertificate { .. } | TransportCause::UnknownHost { .. })
            }
            _ => false,
        }
    }

    /// A failure after which a POST may or may not have taken effect.
    pub fn is_ambiguous(&self) -> bool {
        match self {
            ApiError::Status { status, .. } => *status >= 500,
            ApiError::Transport { connect, .. } => !connect,
            ApiError::StoppedAnswering { last: Some(last), .. } => last.is_ambiguous(),
            ApiError::Unconfirmed { .. } => true,
            ApiError::Interrupted { sent, .. } => *sent,
            _ => false,
        }
    }

    /// A create that may or may not have taken effect, and whose re-read failed.
    pub fn is_unconfirmed(&self) -> bool {
        matches!(self, ApiError::Unconfirmed { .. })
    }

    /// The same error with `f` applied to every text it carries (to scrub secrets from what a
    /// server sent).
    pub fn map_text(self, f: &impl Fn(String) -> String) -> ApiError {
        match self {
            ApiError::Status { method, path, status, message, code, field_errors, request_id } => ApiError::Status {
                method,
                path,
                status,
                message: f(message),
                code: code.map(f),
                field_errors: field_errors.into_iter().map(|(k, v)| (f(k), v.into_iter().map(f).collect())).collect(),
                request_id: request_id.map(f),
            },
            ApiError::Transport { method, path, detail, timeout, connect, cause } => {
                ApiError::Transport { method, path, detail: f(detail), timeout, connect, cause }
            }
            ApiError::Decode { method, path, detail } => ApiError::Decode { method, path, detail: f(detail) },
            ApiError::Pagination { path, problem: PagingProblem::Repeated { key } } => {
                ApiError::Pagination { path, problem: PagingProblem::Repeated { key: f(key) } }
            }
            ApiError::Exhausted { attempts, waited_secs, last } => {
                ApiError::Exhausted { attempts, waited_secs, last: Box::new(last.map_text(f)) }
            }
            ApiError::Redirected { method, path, status, location } => {
                ApiError::Redirected { method, path, status, location: location.map(f) }
            }
            ApiError::StoppedAnswering { failures, last } => {
                ApiError::StoppedAnswering { failures, last: last.map(|l| Box::new(l.map_text(f))) }
            }
            ApiError::Unconfirmed { create, reread } => {
                ApiError::Unconfirmed { create: Box::new(create.map_text(f)), reread: Box::new(reread.map_text(f)) }
            }
            ApiError::TokenExchange { url, status, detail } => ApiError::TokenExchange { url, status, detail: f(detail) },
            ApiError::StillUnauthorized { last } => ApiError::StillUnauthorized { last: Box::new(last.map_text(f)) },
            ApiError::ResentAfter401 { last } => ApiError::ResentAfter401 { last: Box::new(last.map_text(f)) },
            ApiError::WrongGroup { method, path, asked, got } => ApiError::WrongGroup { method, path, asked, got: f(got) },
            other @ (ApiError::Incomplete { .. }
            | ApiError::RateLimited { .. }
            | ApiError::Pagination { .. }
            | ApiError::Interrupted { .. }
            | ApiError::TooLarge { .. }) => other,
        }
    }

    fn hint(&self, n: &Names) -> Option<String> {
        Some(match self.status()? {
            // With client credentials a 401 is answered by a new token; what is left is a personal
            // access token that stopped working.
            401 => personal_token_refused(n),
            403 => "the token's user lacks permission to manage groups in this organization (manage_groups), or the org id is wrong".into(),
            404 => format!(
                "check the organization id ({}) and that the API URL ends in /api (such as https://go.tallyfy.com/api); a group may have been deleted meanwhile, so run plan again",
                n.org
            ),
            422 => "Tallyfy rejected the values; fix them in groups.yaml".into(),
            429 => "Tallyfy is rate limiting (600 requests per minute per user, shared with anything else using this token); lower --max-requests-per-minute, or run again later".into(),
            s if s >= 500 => "Tallyfy had a server error; run again later (a rerun converges)".into(),
            _ => return None,
        })
    }

    /// The error said with a target's own names for its settings.
    pub fn named<'a>(&'a self, names: &'a Names) -> Named<'a> {
        Named(self, names)
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.fmt_named(f, &Names::single())
    }
}

impl ApiError {
    fn fmt_named(&self, f: &mut fmt::Formatter<'_>, n: &Names) -> fmt::Result {
        let first_line = |e: &ApiError| first_line_named(e, n);
        match self {
            ApiError::Status { method, path, status, message, code, field_errors, request_id } => {
                write!(f, "{method} {path} failed with HTTP {status}")?;
                if !message.is_empty() {
                    write!(f, ": {}", visible(message))?;
                }
                if let Some(code) = code {
                    write!(f, " ({})", visible(code))?;
                }
                for (field, msgs) in field_errors {
                    write!(f, "; {}: {}", visible(field), visible(&msgs.join(", ")))?;
                }
                if let Some(id) = request_id {
                    write!(f, " [request id {}]", visible(id))?;
                }
                if let Some(hint) = self.hint(n) {
                    write!(f, "\n    hint: {hint}")?;
                }
                Ok(())
            }
            ApiError::Transport { method, path, detail, timeout, cause, .. } => {
                let detail = visible(detail);
                if let TransportCause::UntrustedCertificate { host, reason } = cause {
                    write!(
                        f,
                        "{method} {path}: the server's certificate is not trusted ({host}: {reason}); nothing was sent\n    hint: {}",
                        untrusted_hint(n)
                    )
                } else if let TransportCause::UnknownHost { host } = cause {
                    write!(
                        f,
                        "{method} {path} got no answer: the host {host} was not found (DNS): {detail}\n    hint: check the host in the API URL ({}) and the network's DNS",
                        n.api_url
                    )
                } else if let TransportCause::Refused { address } = cause {
                    write!(
                        f,
                        "{method} {path} got no answer: nothing is listening at {address} (connection refused)\n    hint: check the host and port of the API URL ({}); a served sandbox must be running",
                        n.api_url
                    )
                } else if *timeout {
                    write!(f, "{method} {path} timed out: {detail}\n    hint: raise --timeout, or check the network and the API URL")
                } else {
                    write!(f, "{method} {path} got no answer: {detail}\n    hint: check the API URL ({}) and the network", n.api_url)
                }
            }
            ApiError::Decode { method, path, detail } => write!(
                f,
                "{method} {path} answered with JSON this tool does not understand: {}\n    hint: check the API URL points at Tallyfy's API (it ends in /api)",
                visible(detail)
            ),
            ApiError::Incomplete { path, expected, got } => write!(
                f,
                "GET {path} announced {expected} items but returned {got}; refusing to plan from a partial list\n    hint: the data changed while it was read, or the API is paginating inconsistently; run again"
            ),
            ApiError::Pagination { path, problem } => write!(
                f,
                "GET {path} {problem}; refusing to plan from a list that may be partial\n    hint: the API's pagination is inconsistent; run again, and report it to Tallyfy if it persists"
            ),
            ApiError::Exhausted { attempts, waited_secs, last } => {
                let tries = if *attempts == 1 { "attempt" } else { "attempts" };
                write!(f, "gave up after {attempts} {tries} over {waited_secs} s: {last}")
            }
            ApiError::RateLimited { method, path, retry_after_secs } => write!(
                f,
                "{method} {path} was rate limited and Tallyfy asks to wait {retry_after_secs} s, longer than the retry budget\n    hint: run again later, or raise --max-retry-time"
            ),
            ApiError::Redirected { method, path, status, location } => write!(
                f,
                "{method} {path} was redirected (HTTP {status}) to {}; the Tallyfy API does not redirect, so the redirect was not followed and nothing was sent there\n    hint: check the API URL ({}); if the new address is right, use it",
                location.as_deref().map_or("(no Location)".into(), visible),
                n.api_url
            ),
            // Nothing listens at the address: that is the headline, with its hint.
            ApiError::StoppedAnswering { failures, last: Some(last) }
                if matches!(&**last, ApiError::Transport { cause: TransportCause::Refused { .. }, .. }) =>
            {
                let said = Named(last, n).to_string();
                let (headline, hint) = said.split_once("\n    hint:").map_or((said.as_str(), None), |(h, rest)| (h, Some(rest)));
                write!(f, "{headline} (the API stopped answering: {failures} connection failures in a row)")?;
                hint.map_or(Ok(()), |hint| write!(f, "\n    hint:{hint}"))
            }
            ApiError::StoppedAnswering { failures, last } => {
                write!(f, "the API stopped answering ({failures} connection failures or timeouts in a row)")?;
                match last {
                    Some(last) => write!(f, "; this request's last attempt: {}", first_line(last))?,
                    None => write!(f, "; this request was not sent")?,
                }
                write!(f, "\n    hint: check the network and the API URL, then run again (a rerun converges)")
            }
            ApiError::TokenExchange { url, status, detail } => {
                let detail = visible(detail);
                match status {
                    None => write!(f, "POST {url} (the token exchange) got no answer: {detail}")?,
                    Some(s) if (200..300).contains(s) => {
                        write!(f, "POST {url} (the token exchange) answered without a usable access token: {detail}")?
                    }
                    Some(s) => write!(f, "POST {url} (the token exchange) failed with HTTP {s}: {detail}")?,
                }
                write!(f, "\n    hint: {}", token_exchange_hint(*status, n))
            }
            ApiError::StillUnauthorized { last } => write!(
                f,
                "{}, also with an access token just obtained from the client credentials\n    hint: Tallyfy issues tokens for these client credentials but refuses them here: check the organization id ({}), and that the API URL and the token URL belong to the same Tallyfy",
                first_line(last),
                n.org
            ),
            ApiError::Interrupted { method, path, sent: false } => {
                write!(f, "{method} {path} was not sent: interrupted (Ctrl-C or SIGTERM)")
            }
            ApiError::Interrupted { method, path, sent: true } => write!(
                f,
                "{method} {path} was abandoned in flight: interrupted (Ctrl-C or SIGTERM); whether it took effect is unknown\n    hint: run plan again: it shows what is still different"
            ),
            ApiError::ResentAfter401 { last } => last.fmt_named(f, n),
            ApiError::WrongGroup { method, path, asked, got } => write!(
                f,
                "{method} {path} answered with group id {got:?}, not the {asked:?} asked for; refusing to use that answer\n    hint: the API (or a proxy in front of it) answered for another group; run again, and report it if it persists"
            ),
            ApiError::TooLarge { method, path, limit } => write!(
                f,
                "{method} {path} answered more than {}; refusing to read it\n    hint: check the API URL ({}) points at Tallyfy's API; no answer of it is that large",
                if *limit >= 1024 * 1024 { format!("{} MiB", limit / (1024 * 1024)) } else { format!("{limit} bytes") },
                n.api_url
            ),
            ApiError::Unconfirmed { create, reread } => write!(
                f,
                "{}; whether it took effect is unknown, because reading it back failed too: {}\n    hint: run plan again: it shows whether the create is still needed",
                first_line(create),
                first_line(reread)
            ),
        }
    }
}

/// The hint of a 401 with a personal access token.
fn personal_token_refused(n: &Names) -> String {
    format!(
        "the personal access token was refused. Tallyfy invalidates a personal access token when its user logs out, and six months after it was made: make a new one (Settings > Integrations > REST API) and update {}. For pipelines, use client credentials instead ({}, issued by Tallyfy Support): the tool exchanges them for a new access token whenever one expires",
        n.access_token, n.client
    )
}

/// The hint of a failed token exchange, by the token endpoint's status.
fn token_exchange_hint(status: Option<u16>, n: &Names) -> String {
    match status {
        Some(400 | 401 | 403) => {
            format!("Tallyfy refused the client credentials: check {}; Tallyfy Support issues them", n.client_or_file)
        }
        Some(429) => "Tallyfy's token endpoint is rate limiting; run again later".into(),
        Some(s) if s >= 500 => "Tallyfy's token endpoint had a server error; run again later".into(),
        None => format!("check the token URL ({}; by default the API URL with /api replaced by /oauth/token) and the network", n.token_url),
        Some(_) => format!(
            "check that the token URL ({}) is Tallyfy's OAuth token endpoint; by default it is the API URL with /api replaced by /oauth/token",
            n.token_url
        ),
    }
}

fn first_line_named(e: &ApiError, n: &Names) -> String {
    e.named(n).to_string().lines().next().unwrap_or_default().to_string()
}

/// Turns the `errors` member of a 422 answer into field → messages, whatever its shape.
pub fn field_errors(value: Option<&serde_json::Value>) -> BTreeMap<String, Vec<String>> {
    let mut out = BTreeMap::new();
    let Some(serde_json::Value::Object(map)) = value else { return out };
    for (field, v) in map {
        let msgs = match v {
            serde_json::Value::Array(items) => items.iter().map(text).collect(),
            other => vec![text(other)],
        };
        out.insert(field.clone(), msgs);
    }
    out
}

fn text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A transport error with every cause in its chain, for messages.
pub fn describe(e: &reqwest::Error) -> String {
    use std::error::Error;
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn giving_up_counts_attempts_in_words() {
        let last = || {
            Box::new(ApiError::Status {
                method: "GET".into(),
                path: "/x".into(),
                status: 503,
                message: "busy".into(),
                code: None,
                field_errors: Default::default(),
                request_id: None,
            })
        };
        let one = ApiError::Exhausted { attempts: 1, waited_secs: 0, last: last() }.to_string();
        assert!(one.starts_with("gave up after 1 attempt over 0 s: GET /x"), "{one}");
        let three = ApiError::Exhausted { attempts: 3, waited_secs: 2, last: last() }.to_string();
        assert!(three.starts_with("gave up after 3 attempts over 2 s"), "{three}");
    }

    #[test]
    fn a_422_lists_its_fields_and_a_hint() {
        let errors = serde_json::json!({"name": ["The name has already been taken."], "description": "required"});
        let e = ApiError::Status {
            method: "POST".into(),
            path: "/organizations/o/groups".into(),
            status: 422,
            message: "The given data was invalid.".into(),
            code: None,
            field_errors: field_errors(Some(&errors)),
            request_id: Some("r-1".into()),
        };
        assert_eq!(
            e.to_string(),
            "POST /organizations/o/groups failed with HTTP 422: The given data was invalid.; description: required; name: The name has already been taken. [request id r-1]\n    hint: Tallyfy rejected the values; fix them in groups.yaml"
        );
        assert!(!e.is_transient() && !e.is_ambiguous());
    }

    #[test]
    fn classification() {
        let with = |connect: bool, cause: TransportCause| ApiError::Transport {
            method: "POST".into(),
            path: "/".into(),
            detail: String::new(),
            timeout: !connect,
            connect,
            cause,
        };
        let t = |connect: bool| with(connect, TransportCause::Other);
        assert!(t(true).is_transient() && !t(true).is_ambiguous());
        assert!(t(false).is_ambiguous());
        let untrusted = with(true, TransportCause::UntrustedCertificate { host: "go.tallyfy.com".into(), reason: "UnknownIssuer".into() });
        assert!(!untrusted.is_transient() && !untrusted.is_ambiguous());
        assert_eq!(
            untrusted.to_string().lines().next(),
            Some("POST /: the server's certificate is not trusted (go.tallyfy.com: UnknownIssuer); nothing was sent")
        );
        let dns = with(true, TransportCause::UnknownHost { host: "go.tallyfy.cmo".into() });
        assert!(dns.to_string().contains("the host go.tallyfy.cmo was not found (DNS)"), "{dns}");
        // A host DNS does not know is not found on a retry either: said at once.
        assert!(!dns.is_transient());
        // Nothing listening: the headline of the stopped-answering error, with its own hint.
        let refused = with(true, TransportCause::Refused { address: "127.0.0.1:1".into() });
        assert!(refused.is_transient());
        let stopped = ApiError::StoppedAnswering { failures: 5, last: Some(Box::new(refused)) }.to_string();
        assert!(
            stopped.starts_with("POST / got no answer: nothing is listening at 127.0.0.1:1 (connection refused) (the API stopped answering: 5 connection failures in a row)\n    hint: check the host and port"),
            "{stopped}"
        );
    }
}
