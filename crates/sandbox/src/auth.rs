//! The access tokens `POST /oauth/token` issues: each good for a time and, optionally, a number
//! of requests; expired ones are forgotten at the next issue. No I/O.

use std::collections::HashMap;
use std::time::Duration;

use tokio::time::Instant;

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

/// Why an issued token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refused {
    /// Never issued, or expired and forgotten since.
    Unknown,
    /// Issued, but its time or its requests are used up.
    Expired,
}

/// The access tokens issued so far.
pub(crate) struct Tokens {
    issued: HashMap<String, Issued>,
    /// Draws the issued tokens (apart from the fault injection's seeded choices).
    rng: fastrand::Rng,
}

impl Tokens {
    /// No tokens issued yet.
    pub(crate) fn new() -> Self {
        Tokens { issued: HashMap::new(), rng: fastrand::Rng::new() }
    }

    /// Issues a token good for `ttl` from `now` and for `uses` requests (0 = no limit).
    pub(crate) fn issue(&mut self, now: Instant, ttl: Duration, uses: u64) -> String {
        let token = format!("sandbox-access-{:016x}{:016x}", self.rng.u64(..), self.rng.u64(..));
        // Expired tokens are forgotten (then answered like any unknown token).
        self.issued.retain(|_, t| !t.expired(now));
        let uses_left = (uses > 0).then_some(uses);
        self.issued.insert(token.clone(), Issued { expires: now + ttl, uses_left });
        token
    }

    /// Whether the issued `token` may make one more request at `now` (and counts the request
    /// against it).
    pub(crate) fn admit(&mut self, token: &str, now: Instant) -> Result<(), Refused> {
        let Some(t) = self.issued.get_mut(token) else { return Err(Refused::Unknown) };
        if t.expired(now) {
            return Err(Refused::Expired);
        }
        if let Some(left) = &mut t.uses_left {
            *left -= 1;
        }
        Ok(())
    }
}
