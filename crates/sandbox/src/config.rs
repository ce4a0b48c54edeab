//! The sandbox's settings: what it serves ([`Config`]), the ways it can misbehave ([`Quirk`]),
//! and the checks of the organization ids and fault methods given on the command line. No I/O.

use std::path::PathBuf;
use std::time::Duration;

use crate::auth::TOKEN_TTL;

/// The sandbox's behaviour.
#[derive(Debug, Clone)]
pub struct Config {
    /// A bearer token that never expires.
    pub token: String,
    /// The client credentials `POST /oauth/token` accepts.
    pub client_id: String,
    /// The client secret that goes with `client_id`.
    pub client_secret: String,
    /// How long an issued access token lasts.
    pub token_ttl: Duration,
    /// Requests an issued access token is good for; 0 = no limit.
    pub token_uses: u64,
    /// The organization ids served (at least one; see [`check_orgs`]), each with a state of its
    /// own; any other answers 403. Tokens, rate limits, faults and quirks apply to all of them;
    /// the guest limit is per organization.
    pub orgs: Vec<String>,
    /// How long after a request arrives its answer leaves (at the earliest).
    pub latency: Duration,
    /// The share (0 to 1) of requests that fail with an injected fault.
    pub fault_rate: f64,
    /// Requests per second (a rolling window of one second, or of one request for rates below
    /// one); 0 = no limit.
    pub rate_limit: f64,
    /// Requests per rolling minute, as Tallyfy limits them (600); 0 = no limit. When set, every
    /// answer carries `X-RateLimit-Limit` and `X-RateLimit-Remaining`.
    pub rate_limit_per_minute: u32,
    /// Methods that faults are injected into; empty = all.
    pub fault_methods: Vec<axum::http::Method>,
    /// Seeds the choice of faults, so a run can be repeated.
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
    /// The template list leaves out every template's `steps` (reading one template gives them).
    TemplatesWithoutSteps,
    /// Templates carry their steps as Tallyfy's included-resource form `{"data": [...]}`.
    StepsAsData,
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
pub(crate) fn distinct(orgs: &[String]) -> Vec<String> {
    let mut seen: Vec<String> = Vec::with_capacity(orgs.len());
    for org in orgs {
        if !seen.contains(org) {
            seen.push(org.clone());
        }
    }
    seen
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
