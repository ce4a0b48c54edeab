//! The HTTP side of the identity-provider sources (Okta, Entra ID, Google, SCIM), with the
//! Tallyfy client's rules: `https://` (plain `http://` only to loopback, checked by the
//! loader), redirects never followed, the same TLS trust and its one clear error, secrets never
//! shown. A request is retried on 429 and 5xx answers and on lost connections, waiting what the
//! server asks (`Retry-After`, or the provider's own header); anything else fails at once,
//! explained. A page link is followed only on the service's own origin, so a token is never
//! sent elsewhere; a link seen twice, or more pages than any group has, fail the read.

use std::time::{Duration, SystemTime};

use reqwest::header::{HeaderMap, HeaderValue};
use tallyfy_groups_api::error::TransportCause;

/// How requests of sources are retried.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpOptions {
    /// Attempts per request, the first included.
    pub attempts: u32,
    /// The pause before the second attempt; doubled for each further one (a server's wait
    /// header takes precedence).
    pub first_pause: Duration,
    /// The most time spent waiting between one request's attempts, a server's asked waits
    /// included; a retry that would wait longer fails the read instead (0: no retries).
    pub max_wait: Duration,
    /// How long one request may take.
    pub timeout: Duration,
}

impl Default for HttpOptions {
    fn default() -> Self {
        HttpOptions {
            attempts: 5,
            first_pause: Duration::from_millis(500),
            max_wait: Duration::from_secs(120),
            timeout: Duration::from_secs(60),
        }
    }
}

/// The most bytes one answer may have.
const MAX_ANSWER: usize = 64 * 1024 * 1024;

/// The most pages one read follows (10 million people at the smallest page size of the four).
pub(crate) const MAX_PAGES: usize = 100_000;

/// How a provider says how long to wait after a 429, besides `Retry-After`.
#[derive(Debug, Clone, Copy)]
pub(crate) enum WaitHeader {
    /// `Retry-After` only.
    RetryAfter,
    /// Okta's `X-Rate-Limit-Reset`: the second (Unix time) the limit resets; `Retry-After` too.
    OktaReset,
}

/// A client for one source: its service's origin, its secrets (scrubbed from every message),
/// and the words for its errors.
pub(crate) struct Http {
    client: reqwest::Client,
    options: HttpOptions,
    secrets: Vec<String>,
    /// What the source reads, for messages: "Okta", "Microsoft Graph", ….
    pub(crate) service: &'static str,
}

/// A successful answer.
pub(crate) struct Answer {
    pub(crate) headers: HeaderMap,
    pub(crate) body: Vec<u8>,
}

/// A failed request: the status (when the server answered) and the whole explanation.
pub(crate) struct Failure {
    pub(crate) status: Option<u16>,
    pub(crate) message: String,
    /// The answer's body, secrets scrubbed (empty without one).
    pub(crate) body: String,
}

impl Http {
    /// A client for `service`; `secrets` are replaced by `***` wherever a message would show them.
    pub(crate) fn new(service: &'static str, options: &HttpOptions, secrets: Vec<String>, loopback: bool) -> Result<Self, String> {
        // The process-wide TLS crypto provider; a second install is a harmless no-op.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut builder = reqwest::Client::builder()
            .timeout(options.timeout)
            .connect_timeout(options.timeout.min(Duration::from_secs(10)))
            .user_agent(concat!("tallyfy-groups/", env!("CARGO_PKG_VERSION")))
            // A redirect would carry the token elsewhere.
            .redirect(reqwest::redirect::Policy::none());
        if loopback {
            // Plain http goes to loopback only; a proxy would carry the token in clear text.
            builder = builder.no_proxy();
        }
        let client =
            builder.build().map_err(|e| format!("the HTTP client could not be set up: {}", tallyfy_groups_api::error::describe(&e)))?;
        Ok(Http { client, options: options.clone(), secrets: secrets.into_iter().filter(|s| s.len() >= 4).collect(), service })
    }

    /// `text` with every secret replaced by `***`.
    pub(crate) fn scrub(&self, text: &str) -> String {
        self.secrets.iter().fold(text.to_string(), |t, s| t.replace(s.as_str(), "***"))
    }

    /// Decodes a JSON answer, naming where it does not fit (what is quoted of it, scrubbed).
    pub(crate) fn decode<T: serde::de::DeserializeOwned>(&self, body: &[u8], what: &str) -> Result<T, String> {
        let de = &mut serde_json::Deserializer::from_slice(body);
        serde_path_to_error::deserialize(de).map_err(|e| {
            if e.inner().is_syntax() || e.inner().is_eof() {
                let start: String = String::from_utf8_lossy(body).chars().take(60).collect();
                let start = self.scrub(&start.split_whitespace().collect::<Vec<_>>().join(" "));
                format!("{what} is not JSON (it starts `{start}`); check the source's URL")
            } else {
                self.scrub(&format!("{what} is not what was expected (at `{}`: {})", e.path(), e.inner()))
            }
        })
    }

    /// GET `url` with `auth` as the `Authorization` header.
    pub(crate) async fn get(&self, url: &str, auth: &HeaderValue, wait: WaitHeader) -> Result<Answer, Failure> {
        self.send(url, wait, || self.client.get(url).header(reqwest::header::AUTHORIZATION, auth.clone())).await
    }

    /// POST `form` to `url` (a token request).
    pub(crate) async fn post_form(&self, url: &str, form: &[(&str, &str)]) -> Result<Answer, Failure> {
        let body: String = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(form).finish();
        self.send(url, WaitHeader::RetryAfter, || {
            self.client.post(url).header(reqwest::header::CONTENT_TYPE, "application/x-www-form-urlencoded").body(body.clone())
        })
        .await
    }

    async fn send(&self, url: &str, wait: WaitHeader, request: impl Fn() -> reqwest::RequestBuilder) -> Result<Answer, Failure> {
        let shown = self.scrub(url);
        let mut attempt = 1;
        let mut pause = self.options.first_pause;
        let mut waited = Duration::ZERO;
        loop {
            let result = request().header(reqwest::header::ACCEPT, "application/json").send().await;
            let (retry, failure, asked) = match result {
                Ok(response) => {
                    let status = response.status().as_u16();
                    let headers = response.headers().clone();
                    let body = read_body(response).await;
                    match body {
                        Ok(body) if (200..300).contains(&status) => return Ok(Answer { headers, body }),
                        Ok(body) => {
                            let asked = if status == 429 { wait_asked(&headers, wait) } else { None };
                            let message = match headers.get(reqwest::header::LOCATION).and_then(|l| l.to_str().ok()) {
                                Some(to) if (300..400).contains(&status) => format!(
                                    "HTTP {status} from {shown}, a redirect to {}: redirects are not followed, so that a token goes nowhere else; check the source's URL",
                                    self.scrub(to)
                                ),
                                _ => self.status_words(status, &shown, &body),
                            };
                            let failure = Failure { status: Some(status), message, body: self.scrub(&String::from_utf8_lossy(&body)) };
                            // Google says "rate limit exceeded" with a 403 as well as a 429.
                            let limited = status == 429
                                || (status == 403 && String::from_utf8_lossy(&body).to_ascii_lowercase().contains("ratelimitexceeded"));
                            (limited || status >= 500, failure, asked)
                        }
                        Err(why) => (true, Failure { status: Some(status), message: format!("{shown}: {why}"), body: String::new() }, None),
                    }
                }
                Err(e) => {
                    let cause = tallyfy_groups_api::client::transport_cause(&e, url);
                    let (retry, message) = self.transport_words(&e, &cause, &shown);
                    (retry, Failure { status: None, message, body: String::new() }, None)
                }
            };
            if !retry || attempt >= self.options.attempts {
                let mut failure = failure;
                if retry && attempt > 1 {
                    failure.message = format!("{} (after {attempt} attempts)", failure.message);
                }
                return Err(failure);
            }
            let wait = asked.unwrap_or(pause);
            if waited + wait > self.options.max_wait {
                let message = match asked {
                    Some(asked) => format!(
                        "{}; it asked to wait {} s, beyond the {} s a request may spend waiting (--max-retry-time)",
                        failure.message,
                        asked.as_secs(),
                        self.options.max_wait.as_secs()
                    ),
                    None if attempt > 1 => format!("{} (after {attempt} attempts)", failure.message),
                    None => failure.message,
                };
                return Err(Failure { message, ..failure });
            }
            waited += wait;
            tracing::debug!(service = self.service, url = %shown, attempt, wait_ms = wait.as_millis() as u64, "retrying");
            tokio::time::sleep(wait).await;
            attempt += 1;
            pause = pause.saturating_mul(2);
        }
    }

    fn status_words(&self, status: u16, url: &str, body: &[u8]) -> String {
        // Scrubbed before it is cut: a secret cut in two would escape the scrubbing.
        let text = self.scrub(&String::from_utf8_lossy(body));
        let excerpt: String = text.split_whitespace().collect::<Vec<_>>().join(" ").chars().take(300).collect();
        if excerpt.is_empty() { format!("HTTP {status} from {url}") } else { format!("HTTP {status} from {url}: {excerpt}") }
    }

    fn transport_words(&self, e: &reqwest::Error, cause: &TransportCause, url: &str) -> (bool, String) {
        match cause {
            TransportCause::UntrustedCertificate { host, reason } => (
                false,
                format!(
                    "{}'s certificate is not trusted ({host}: {reason}); add its CA to the system's trust store or set SSL_CERT_FILE to a PEM bundle holding it",
                    self.service
                ),
            ),
            TransportCause::UnknownHost { host } => (false, format!("the host {host} was not found (DNS); check the source's URL")),
            TransportCause::Refused { address } => (true, format!("nothing is listening at {address} ({url})")),
            TransportCause::Other if e.is_timeout() => (true, format!("{url} did not answer within {} s", self.options.timeout.as_secs())),
            TransportCause::Other => (true, self.scrub(&format!("{url}: {}", tallyfy_groups_api::error::describe(e)))),
        }
    }
}

async fn read_body(mut response: reqwest::Response) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                if body.len() + chunk.len() > MAX_ANSWER {
                    return Err(format!("the answer is larger than {} MiB", MAX_ANSWER / 1024 / 1024));
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => return Ok(body),
            Err(e) => return Err(format!("the answer was cut off ({})", tallyfy_groups_api::error::describe(&e))),
        }
    }
}

/// How long a 429 asks to wait: `Retry-After`, or Okta's reset time.
fn wait_asked(headers: &HeaderMap, wait: WaitHeader) -> Option<Duration> {
    if let Some(after) = tallyfy_groups_api::retry::retry_after_of(headers) {
        return Some(after);
    }
    match wait {
        WaitHeader::RetryAfter => None,
        WaitHeader::OktaReset => {
            let reset: u64 = headers.get("x-rate-limit-reset")?.to_str().ok()?.trim().parse().ok()?;
            let now = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).ok()?.as_secs();
            // The reset second itself may still be limited: one more second.
            Some(Duration::from_secs(reset.saturating_sub(now) + 1))
        }
    }
}

/// `Authorization: <scheme> <token>`, marked sensitive (never in a debug print); a token with a
/// line break or other byte a header cannot hold is an error naming its variable.
pub(crate) fn auth_header(scheme: &str, token: &str, var: &str) -> Result<HeaderValue, String> {
    let mut value = HeaderValue::from_str(&format!("{scheme} {token}"))
        .map_err(|_| format!("{var} holds characters an HTTP header cannot carry (a line break?)"))?;
    value.set_sensitive(true);
    Ok(value)
}

/// The value of variable `var`, which must be set and not empty.
pub(crate) fn secret(env: &crate::Environment, var: &str, what: &str) -> Result<String, String> {
    match env.get(var) {
        Some(v) if !v.trim().is_empty() => Ok(v.trim().to_string()),
        _ => Err(format!("{var} (the {what}) is not set or is empty; set it where the pipeline runs")),
    }
}

/// Whether `url` is a plain-http loopback address (the loader allows no other http).
pub(crate) fn is_loopback_http(url: &str) -> bool {
    url.starts_with("http://")
}

/// A next-page link, accepted only on `base`'s origin (scheme, host and port): a token is never
/// sent to another server, whatever a page says.
pub(crate) fn same_origin(base: &str, next: &str) -> Result<String, String> {
    let origin = |u: &str| url::Url::parse(u).ok().map(|u| u.origin());
    match (origin(base), origin(next)) {
        (Some(a), Some(b)) if a == b => Ok(next.to_string()),
        (_, Some(_)) => Err(format!("a page links to {next}, outside {base}; the read stops rather than send the token there")),
        _ => Err(format!("a page links to `{next}`, which is not a URL")),
    }
}

/// The `rel="next"` target of a `Link` header.
pub(crate) fn next_link(headers: &HeaderMap) -> Option<String> {
    for value in headers.get_all(reqwest::header::LINK) {
        let Ok(text) = value.to_str() else { continue };
        for part in text.split(',') {
            let mut pieces = part.split(';');
            let target = pieces.next()?.trim();
            let is_next = pieces.any(|p| {
                let p = p.trim().to_ascii_lowercase();
                p == "rel=\"next\"" || p == "rel=next"
            });
            if is_next && target.starts_with('<') && target.ends_with('>') {
                return Some(target[1..target.len() - 1].to_string());
            }
        }
    }
    None
}

/// Percent-encodes a path segment.
pub(crate) fn segment(text: &str) -> String {
    tallyfy_groups_api::client::encode(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn the_next_link_is_found_among_others() {
        let h = headers(&[("link", "<https://x/a?after=1>; rel=\"self\", <https://x/a?after=2>; rel=\"next\"")]);
        assert_eq!(next_link(&h).as_deref(), Some("https://x/a?after=2"));
        let h = headers(&[("link", "<https://x/a?after=1>; rel=\"self\""), ("link", "<https://x/a?after=3>; rel=\"next\"")]);
        assert_eq!(next_link(&h).as_deref(), Some("https://x/a?after=3"));
        assert_eq!(next_link(&headers(&[("link", "<https://x/a>; rel=\"self\"")])), None);
    }

    #[test]
    fn a_link_elsewhere_is_refused() {
        assert!(same_origin("https://example.okta.com", "https://example.okta.com/api/v1/groups/g/users?after=2").is_ok());
        let refused = same_origin("https://example.okta.com", "https://evil.example/steal").unwrap_err();
        assert!(refused.contains("outside https://example.okta.com"), "{refused}");
        assert!(same_origin("https://example.okta.com", "http://example.okta.com/x").is_err());
    }

    #[test]
    fn okta_asks_to_wait_until_its_reset_second() {
        let now = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs();
        let h = headers(&[("x-rate-limit-reset", &(now + 3).to_string())]);
        let wait = wait_asked(&h, WaitHeader::OktaReset).unwrap();
        assert!((Duration::from_secs(3)..=Duration::from_secs(4)).contains(&wait), "{wait:?}");
        assert_eq!(wait_asked(&h, WaitHeader::RetryAfter), None);
        assert_eq!(wait_asked(&headers(&[("retry-after", "2")]), WaitHeader::OktaReset), Some(Duration::from_secs(2)));
    }
}
