//! Credentials and the bearer token every request carries: a personal access token as given, or
//! OAuth client credentials exchanged for access tokens, with one new exchange (shared by every
//! request refused at the same time) when the API refuses the current token. Does network I/O
//! (the token exchange).

use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Instant, SystemTime};

use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderValue};
use serde_json::Value;
use tracing::{debug, info, warn};

use crate::config::{ConfigError, MIN_SCRUBBED_SECRET, Secret, check_base_url};
use crate::error::describe;
use crate::{ApiError, RetryPolicy, retry};

/// How the client proves who it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credentials {
    /// A personal access token (Tallyfy: Settings > Integrations > REST API). Tallyfy invalidates
    /// it when its user logs out, and six months after it was made.
    Token(Secret),
    /// OAuth client credentials (issued by Tallyfy Support), exchanged at `token_url` for access
    /// tokens that last seven days and come without a refresh token. What Tallyfy recommends
    /// for automation.
    Client {
        /// The client id.
        id: String,
        /// The client secret.
        secret: Secret,
        /// Where they are exchanged for access tokens (`POST`).
        token_url: String,
    },
}

impl From<Secret> for Credentials {
    fn from(token: Secret) -> Self {
        Credentials::Token(token)
    }
}

/// The token URL that goes with an API URL: the API URL with its final `/api` replaced by
/// `/oauth/token` (`https://go.tallyfy.com/api` → `https://go.tallyfy.com/oauth/token`); `None`
/// when the API URL does not end in `/api`.
pub fn default_token_url(api_url: &str) -> Option<String> {
    let base = api_url.trim().trim_end_matches('/').strip_suffix("/api")?;
    let (_, host) = base.split_once("://")?;
    (!host.is_empty()).then(|| format!("{base}/oauth/token"))
}

/// The form-encoded body of the client credentials exchange.
pub fn token_request_body(client_id: &str, client_secret: &str) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .append_pair("grant_type", "client_credentials")
        .append_pair("client_id", client_id)
        .append_pair("client_secret", client_secret)
        .append_pair("scope", "*")
        .finish()
}

/// The `Authorization` header in force, and which one it is (a new exchange makes the next).
#[derive(Clone)]
pub(crate) struct Bearer {
    pub header: HeaderValue,
    pub generation: u64,
}

enum Source {
    Token,
    Client {
        /// The client id.
        id: String,
        /// The client secret.
        secret: Secret,
        /// Where they are exchanged for access tokens (`POST`).
        token_url: String,
    },
}

/// The credentials of one client, and the bearer header its requests carry.
pub(crate) struct Auth {
    source: Source,
    retry: RetryPolicy,
    /// `None` until client credentials were first exchanged.
    current: RwLock<Option<Bearer>>,
    /// Held during an exchange, so that requests refused at the same time share one.
    renewing: tokio::sync::Mutex<()>,
    /// Texts scrubbed from everything a server sends back: the token or client secret, and every
    /// access token obtained.
    secrets: RwLock<Vec<String>>,
}

fn read<T>(lock: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(|e| e.into_inner())
}

fn write<T>(lock: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(|e| e.into_inner())
}

/// The token without a leading `Bearer` and the white space after it (any case), which people
/// copy along from an example request or a header; [`bearer_header`] adds the scheme once.
fn without_scheme(token: &str) -> &str {
    match token.split_once(char::is_whitespace) {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("bearer") && !rest.trim().is_empty() => rest.trim(),
        _ => token,
    }
}

fn bearer_header(token: &str) -> Option<HeaderValue> {
    let mut header = HeaderValue::from_str(&format!("Bearer {token}")).ok()?;
    // Marked sensitive, so it never shows in debug output.
    header.set_sensitive(true);
    Some(header)
}

fn scrubbed(secret: &str) -> Vec<String> {
    if secret.len() >= MIN_SCRUBBED_SECRET { vec![secret.to_string()] } else { Vec::new() }
}

impl Auth {
    /// Checks the credentials; no request is made yet.
    pub(crate) fn new(credentials: Credentials, retry: RetryPolicy) -> Result<Self, ConfigError> {
        let (source, current, secrets) = match credentials {
            Credentials::Token(token) => {
                let given = token.expose().trim();
                let token = without_scheme(given);
                if token.len() != given.len() {
                    debug!("the personal access token starts with `Bearer `; it is sent without the repeated scheme");
                }
                if token.is_empty() {
                    return Err(ConfigError::EmptyToken);
                }
                let header = bearer_header(token).ok_or(ConfigError::BadToken)?;
                (Source::Token, Some(Bearer { header, generation: 0 }), scrubbed(token))
            }
            Credentials::Client { id, secret, token_url } => {
                let (id, secret_text) = (id.trim().to_string(), secret.expose().trim().to_string());
                if id.is_empty() || secret_text.is_empty() {
                    return Err(ConfigError::EmptyClientCredentials);
                }
                let token_url = check_base_url(&token_url).map_err(|e| match e {
                    ConfigError::InsecureUrl(u) => ConfigError::InsecureTokenUrl(u),
                    _ => ConfigError::BadTokenUrl(token_url.clone()),
                })?;
                let secrets = scrubbed(&secret_text);
                (Source::Client { id, secret: Secret::new(secret_text), token_url }, None, secrets)
            }
        };
        Ok(Auth { source, retry, current: RwLock::new(current), renewing: tokio::sync::Mutex::new(()), secrets: RwLock::new(secrets) })
    }

    /// Whether a refused token can be replaced (client credentials) rather than being final.
    pub(crate) fn renews(&self) -> bool {
        matches!(self.source, Source::Client { .. })
    }

    /// The token URL, for client credentials.
    pub(crate) fn token_url(&self) -> Option<&str> {
        match &self.source {
            Source::Client { token_url, .. } => Some(token_url),
            Source::Token => None,
        }
    }

    /// Replaces every secret in `text` with `***`.
    pub(crate) fn scrub(&self, text: String) -> String {
        read(&self.secrets).iter().fold(text, |t, secret| if t.contains(secret.as_str()) { t.replace(secret.as_str(), "***") } else { t })
    }

    /// The header to send now; exchanges the client credentials first if that was never done.
    pub(crate) async fn bearer(&self, http: &reqwest::Client) -> Result<Bearer, ApiError> {
        if let Some(bearer) = read(&self.current).clone() {
            return Ok(bearer);
        }
        self.renew(http, None).await?;
        read(&self.current).clone().ok_or_else(|| self.failure(None, "no access token was obtained".into()))
    }

    /// Obtains a new access token because the API refused the one of generation `refused`
    /// (`None`: there is none yet). Requests that were refused the same token share one exchange:
    /// whoever comes second finds a newer generation and uses it.
    pub(crate) async fn renew(&self, http: &reqwest::Client, refused: Option<u64>) -> Result<(), ApiError> {
        let Source::Client { id, secret, token_url } = &self.source else { return Ok(()) };
        let _single_flight = self.renewing.lock().await;
        let previous = read(&self.current).as_ref().map(|b| b.generation);
        if previous.is_some() && previous != refused {
            return Ok(());
        }
        let (token, expires_in) = self.exchange(http, id, secret, token_url).await?;
        // Scrubbed from server text before it is ever sent.
        if token.len() >= MIN_SCRUBBED_SECRET {
            write(&self.secrets).push(token.clone());
        }
        let header = bearer_header(&token)
            .ok_or_else(|| self.failure(Some(200), "the access token holds characters that cannot be sent in an HTTP header".into()))?;
        let generation = previous.map_or(1, |g| g + 1);
        *write(&self.current) = Some(Bearer { header, generation });
        if previous.is_some() {
            info!(expires_in_s = expires_in, "the API refused the access token; obtained a new one with the client credentials");
        } else {
            info!(expires_in_s = expires_in, "obtained an access token with the client credentials");
        }
        Ok(())
    }

    fn failure(&self, status: Option<u16>, detail: String) -> ApiError {
        let url = self.token_url().unwrap_or_default().to_string();
        ApiError::TokenExchange { url, status, detail }.map_text(&|t| self.scrub(t))
    }

    /// `POST {token_url}` with the client credentials, retried like an idempotent request when
    /// it fails in a way a retry could help (429, 5xx, no answer): a second token does no harm.
    async fn exchange(&self, http: &reqwest::Client, id: &str, secret: &Secret, url: &str) -> Result<(String, Option<u64>), ApiError> {
        let body = token_request_body(id, secret.expose());
        let policy = &self.retry;
        let mut first_failure: Option<Instant> = None;
        let mut attempt = 0u32;
        loop {
            let (err, retry_after) = match self.exchange_once(http, url, &body).await {
                Ok(answer) => return Ok(answer),
                Err(failure) => failure,
            };
            let transient = matches!(err, ApiError::TokenExchange { status: None | Some(429 | 500..=599), .. });
            attempt += 1;
            let delay = retry_after.unwrap_or_else(|| policy.backoff(attempt - 1));
            let waited = first_failure.get_or_insert_with(Instant::now).elapsed();
            if !transient || attempt >= policy.max_attempts || waited + delay > policy.max_total {
                return Err(err);
            }
            warn!(url, attempt, delay_ms = delay.as_millis() as u64, error = %err.to_string().lines().next().unwrap_or_default(), "retrying the token exchange");
            tokio::time::sleep(delay).await;
        }
    }

    async fn exchange_once(
        &self,
        http: &reqwest::Client,
        url: &str,
        body: &str,
    ) -> Result<(String, Option<u64>), (ApiError, Option<std::time::Duration>)> {
        let started = Instant::now();
        let response = http
            .post(url)
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(ACCEPT, "application/json")
            .body(body.to_string())
            .send()
            .await
            .map_err(|e| (self.failure(None, describe(&e)), None))?;
        let status = response.status();
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| retry::parse_retry_after(v, SystemTime::now()))
            .filter(|_| matches!(status.as_u16(), 429 | 503));
        let bytes = response.bytes().await.map_err(|e| (self.failure(None, describe(&e)), None))?;
        debug!(url, status = status.as_u16(), duration_ms = started.elapsed().as_millis() as u64, "token exchange answered");
        let code = Some(status.as_u16());
        // Fields are picked out of the JSON one by one, so no error text ever quotes the answer
        // (which holds the token).
        let value: Option<Value> = serde_json::from_slice(&bytes).ok();
        let field = |name: &str| value.as_ref().and_then(|v| v.get(name)).and_then(Value::as_str).map(str::trim).filter(|s| !s.is_empty());
        if !status.is_success() {
            let message = field("message")
                .or_else(|| field("error_description"))
                .or_else(|| field("error"))
                .unwrap_or_else(|| status.canonical_reason().unwrap_or(""))
                .to_string();
            return Err((self.failure(code, message), retry_after));
        }
        let unusable = |why: &str| (self.failure(code, why.to_string()), None);
        if value.is_none() {
            return Err(unusable("the answer is not JSON"));
        }
        if let Some(kind) = field("token_type")
            && !kind.eq_ignore_ascii_case("bearer")
        {
            return Err(unusable(&format!("the answer's `token_type` is `{kind}`, not `Bearer`")));
        }
        let token = field("access_token").ok_or_else(|| unusable("the answer has no `access_token`"))?;
        let expires_in = value.as_ref().and_then(|v| v.get("expires_in")).and_then(Value::as_u64);
        Ok((token.to_string(), expires_in))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_leading_bearer_scheme_is_taken_off() {
        assert_eq!(without_scheme("Bearer abc"), "abc");
        assert_eq!(without_scheme("bEaReR \t abc"), "abc");
        assert_eq!(without_scheme("abc"), "abc");
        // Not a scheme followed by a token: left as given (and refused by the API if wrong).
        for kept in ["Bearer", "Bearerabc", "Token abc", "abc Bearer"] {
            assert_eq!(without_scheme(kept), kept);
        }
    }

    #[test]
    fn the_token_url_is_derived_only_from_an_api_url_ending_in_api() {
        assert_eq!(default_token_url("https://go.tallyfy.com/api").as_deref(), Some("https://go.tallyfy.com/oauth/token"));
        assert_eq!(default_token_url("https://go.tallyfy.com/api/").as_deref(), Some("https://go.tallyfy.com/oauth/token"));
        assert_eq!(default_token_url("http://127.0.0.1:8787/api").as_deref(), Some("http://127.0.0.1:8787/oauth/token"));
        assert_eq!(default_token_url("https://example.com/tallyfy/api").as_deref(), Some("https://example.com/tallyfy/oauth/token"));
        for other in ["https://api.tallyfy.com", "https://go.tallyfy.com/apis", "https://go.tallyfy.com/api/v2", "/api", "https:///api"] {
            assert_eq!(default_token_url(other), None, "{other}");
        }
    }

    #[test]
    fn the_exchange_body_is_form_encoded() {
        assert_eq!(
            token_request_body("app 7", "s&c=r+t"),
            "grant_type=client_credentials&client_id=app+7&client_secret=s%26c%3Dr%2Bt&scope=*"
        );
    }

    #[test]
    fn credentials_are_checked_before_any_request() {
        let client = |id: &str, secret: &str, url: &str| {
            Auth::new(Credentials::Client { id: id.into(), secret: Secret::new(secret), token_url: url.into() }, RetryPolicy::default())
        };
        assert!(client("id", "secret", "https://go.tallyfy.com/oauth/token").is_ok_and(|a| a.renews()));
        assert!(matches!(client(" ", "secret", "https://x/oauth/token"), Err(ConfigError::EmptyClientCredentials)));
        assert!(matches!(client("id", "", "https://x/oauth/token"), Err(ConfigError::EmptyClientCredentials)));
        assert!(matches!(client("id", "secret", "http://go.tallyfy.com/oauth/token"), Err(ConfigError::InsecureTokenUrl(_))));
        assert!(matches!(client("id", "secret", "not a url"), Err(ConfigError::BadTokenUrl(_))));
        let token = Auth::new(Credentials::Token(Secret::new("tok-123456")), RetryPolicy::default()).map(|a| a.renews());
        assert_eq!(token.ok(), Some(false));
    }

    #[test]
    fn the_secret_and_every_token_are_scrubbed() {
        let auth = Auth::new(
            Credentials::Client { id: "id".into(), secret: Secret::new("cs-123456"), token_url: "https://x/oauth/token".into() },
            RetryPolicy::default(),
        )
        .expect("auth");
        write(&auth.secrets).push("tok-abcdef".into());
        assert_eq!(auth.scrub("cs-123456 and Bearer tok-abcdef".into()), "*** and Bearer ***");
    }
}
