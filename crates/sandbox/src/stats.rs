//! What the sandbox counts: requests by route, status and organization ([`Stats`], served at
//! `/_sandbox/stats`), and the log of requests in order of arrival ([`Logged`], at
//! `/_sandbox/log`). No I/O.

use std::collections::BTreeMap;

/// Request counts, by route, by status and by organization.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct Stats {
    /// Every request counted.
    pub total: u64,
    /// Requests for each organization served (whatever their answer).
    pub organizations: BTreeMap<String, u64>,
    /// Requests by `METHOD /route`.
    pub requests: BTreeMap<String, u64>,
    /// Requests by the status of their answer.
    pub statuses: BTreeMap<u16, u64>,
    /// Requests that got an injected fault.
    pub faults_injected: u64,
    /// Requests refused (429) by the rate limits.
    pub rate_limited: u64,
    /// Group lists filtered with `q`.
    pub searches: u64,
    /// Access tokens issued by `POST /oauth/token`.
    pub tokens_issued: u64,
    /// Requests refused (401) because their access token had expired.
    pub tokens_expired: u64,
}

/// One API request as the sandbox saw it arrive.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Logged {
    /// Milliseconds since the sandbox started.
    pub at_ms: f64,
    /// `METHOD /route`, as in [`Stats::requests`].
    pub request: String,
    /// The status of its answer.
    pub status: u16,
}

/// Most requests kept in the log (the oldest are dropped).
pub(crate) const LOG_CAPACITY: usize = 200_000;
