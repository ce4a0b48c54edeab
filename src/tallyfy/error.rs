//! The client's one error type: every failure of a Tallyfy request, with what to do about it.
//! Pure; no I/O.

use std::collections::BTreeMap;
use std::fmt;

/// A failed Tallyfy request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// The API answered with a non-success status.
    Status {
        method: String,
        path: String,
        status: u16,
        message: String,
        code: Option<String>,
        /// 422: field name → messages.
        field_errors: BTreeMap<String, Vec<String>>,
        request_id: Option<String>,
    },
    /// No answer: connection refused or dropped, or the request timed out.
    Transport { method: String, path: String, detail: String, timeout: bool, connect: bool },
    /// An answer that is not the JSON the API documents.
    Decode { method: String, path: String, detail: String },
    /// A paginated list came back with fewer (or more) items than it announced.
    Incomplete { path: String, expected: u64, got: u64 },
    /// Retries ran out; `last` is the final failure.
    Exhausted { attempts: u32, waited_secs: u64, last: Box<ApiError> },
    /// Tallyfy asked to wait longer than the retry budget allows.
    RateLimited { method: String, path: String, retry_after_secs: u64 },
}

impl ApiError {
    /// HTTP status, when there was an answer.
    pub fn status(&self) -> Option<u16> {
        match self {
            ApiError::Status { status, .. } => Some(*status),
            ApiError::Exhausted { last, .. } => last.status(),
            _ => None,
        }
    }

    /// Whether a retry could help (rate limits, 5xx, timeouts, dropped connections).
    pub fn is_transient(&self) -> bool {
        match self {
            ApiError::Status { status, .. } => *status == 429 || *status >= 500,
            ApiError::Transport { .. } => true,
            _ => false,
        }
    }

    /// A failure after which a POST may or may not have taken effect.
    pub fn is_ambiguous(&self) -> bool {
        match self {
            ApiError::Status { status, .. } => *status >= 500,
            ApiError::Transport { connect, .. } => !connect,
            _ => false,
        }
    }

    fn hint(&self) -> Option<&'static str> {
        match self.status()? {
            401 => {
                Some("the access token was rejected: check TALLYFY_ACCESS_TOKEN (or --token-file) holds a current personal access token")
            }
            403 => Some("the token's user lacks permission to manage groups in this organization (manage_groups), or the org id is wrong"),
            404 => Some(
                "check the organization id (TALLYFY_ORG_ID / --org) and the API URL; a group may have been deleted meanwhile, so run plan again",
            ),
            422 => Some("Tallyfy rejected the values; fix them in groups.yaml"),
            429 => Some(
                "Tallyfy is rate limiting (600 requests per minute per user, shared with anything else using this token); lower --max-requests-per-minute, or run again later",
            ),
            s if s >= 500 => Some("Tallyfy had a server error; run again later (a rerun converges)"),
            _ => None,
        }
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ApiError::Status { method, path, status, message, code, field_errors, request_id } => {
                write!(f, "{method} {path} failed with HTTP {status}")?;
                if !message.is_empty() {
                    write!(f, ": {message}")?;
                }
                if let Some(code) = code {
                    write!(f, " ({code})")?;
                }
                for (field, msgs) in field_errors {
                    write!(f, "; {field}: {}", msgs.join(", "))?;
                }
                if let Some(id) = request_id {
                    write!(f, " [request id {id}]")?;
                }
                if let Some(hint) = self.hint() {
                    write!(f, "\n    hint: {hint}")?;
                }
                Ok(())
            }
            ApiError::Transport { method, path, detail, timeout, .. } => {
                if *timeout {
                    write!(f, "{method} {path} timed out: {detail}\n    hint: raise --timeout, or check the network and the API URL")
                } else {
                    write!(
                        f,
                        "{method} {path} got no answer: {detail}\n    hint: check the API URL (TALLYFY_API_URL / --api-url) and the network"
                    )
                }
            }
            ApiError::Decode { method, path, detail } => write!(
                f,
                "{method} {path} answered with JSON this tool does not understand: {detail}\n    hint: check the API URL points at Tallyfy's API (it ends in /api)"
            ),
            ApiError::Incomplete { path, expected, got } => write!(
                f,
                "GET {path} announced {expected} items but returned {got}; refusing to plan from a partial list\n    hint: the data changed while it was read, or the API is paginating inconsistently; run again"
            ),
            ApiError::Exhausted { attempts, waited_secs, last } => {
                write!(f, "gave up after {attempts} attempts over {waited_secs} s: {last}")
            }
            ApiError::RateLimited { method, path, retry_after_secs } => write!(
                f,
                "{method} {path} was rate limited and Tallyfy asks to wait {retry_after_secs} s, longer than the retry budget\n    hint: run again later, or raise --max-retry-time"
            ),
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

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
        let t = |connect: bool| ApiError::Transport {
            method: "POST".into(),
            path: "/".into(),
            detail: String::new(),
            timeout: !connect,
            connect,
        };
        assert!(t(true).is_transient() && !t(true).is_ambiguous());
        assert!(t(false).is_ambiguous());
    }
}
