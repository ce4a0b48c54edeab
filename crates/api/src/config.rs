//! What configures a client before any request: the [`Secret`] type, the base-URL rules and
//! [`ConfigError`]. Pure; no I/O.

use std::fmt;

/// Secrets shorter than this are not scrubbed from server text (it would mangle the text; real
/// tokens are far longer).
pub(crate) const MIN_SCRUBBED_SECRET: usize = 6;

/// A secret: an access token or a client secret. It never shows in `Debug`, and has no `Display`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }

    /// The secret's text, for sending it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// Why a client could not be configured.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    /// The API URL does not parse.
    #[error("API URL `{0}` is not a valid URL")]
    BadUrl(String),
    #[error(
        "API URL `{0}` uses plain http:// on a non-loopback host; use https:// (http:// is allowed only for 127.0.0.1, ::1 and localhost)"
    )]
    /// The API URL is plain http:// to a host that is not loopback.
    InsecureUrl(String),
    /// The organization id holds more than letters, digits, `-` and `_`.
    #[error("organization id `{0}` may contain only letters, digits, `-` and `_`")]
    BadOrg(String),
    /// The personal access token is empty.
    #[error("the access token is empty")]
    EmptyToken,
    /// The token cannot be sent in a header.
    #[error("the access token contains characters that cannot be sent in an HTTP header (a line break?)")]
    BadToken,
    /// The client id or secret is empty.
    #[error("the client id or the client secret is empty")]
    EmptyClientCredentials,
    /// The token URL does not parse.
    #[error("token URL `{0}` is not a valid URL (TALLYFY_TOKEN_URL / --token-url)")]
    BadTokenUrl(String),
    #[error(
        "token URL `{0}` uses plain http:// on a non-loopback host; use https:// (http:// is allowed only for 127.0.0.1, ::1 and localhost)"
    )]
    /// The token URL is plain http:// to a host that is not loopback.
    InsecureTokenUrl(String),
    /// The HTTP library could not be set up.
    #[error("could not set up the HTTP client: {0}")]
    Http(String),
}

impl ConfigError {
    /// The error said with a target's own names for its settings.
    pub fn named(&self, n: &crate::error::Names) -> String {
        match self {
            ConfigError::BadTokenUrl(url) => format!("token URL `{url}` is not a valid URL ({})", n.token_url),
            other => other.to_string(),
        }
    }
}

/// Checks an API base URL: parseable, and https unless the host is loopback.
pub fn check_base_url(url: &str) -> Result<String, ConfigError> {
    let parsed = reqwest::Url::parse(url).map_err(|_| ConfigError::BadUrl(url.to_string()))?;
    match parsed.scheme() {
        "https" => {}
        "http" => {
            let loopback = match parsed.host() {
                Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
                Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
                Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
                None => false,
            };
            if !loopback {
                return Err(ConfigError::InsecureUrl(url.to_string()));
            }
        }
        _ => return Err(ConfigError::BadUrl(url.to_string())),
    }
    if parsed.host().is_none() {
        return Err(ConfigError::BadUrl(url.to_string()));
    }
    Ok(url.trim_end_matches('/').to_string())
}
