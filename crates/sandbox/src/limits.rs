//! The rate limits in force: a rolling window per second and one per minute, as Tallyfy's, and
//! the `X-RateLimit-*` numbers every answer carries. No I/O.

use std::time::Duration;

use tallyfy_groups_api::retry::{MINUTE, Window as RateWindow};
use tokio::time::Instant;

/// The rate limits in force; both count a request or neither does.
pub(crate) struct Limits {
    per_second: Option<RateWindow>,
    per_minute: Option<RateWindow>,
}

/// What the rate limits made of one request.
pub(crate) struct Admission {
    /// How long until it would have been accepted, when it was refused.
    pub(crate) refused: Option<Duration>,
    /// The per-minute limit (else the per-second one) and what is left of it, for the
    /// `X-RateLimit-*` headers.
    pub(crate) headers: Option<(u32, u32)>,
}

impl Limits {
    /// `per_second` requests per second (a rolling window of one second, or of one request for
    /// rates below one) and `per_minute` per rolling minute; 0 = no such limit.
    pub(crate) fn new(per_second: f64, per_minute: u32) -> Self {
        Limits {
            per_second: (per_second.is_finite() && per_second > 0.0).then(|| RateWindow::per_second(per_second)),
            per_minute: (per_minute > 0).then(|| RateWindow::new(per_minute, MINUTE)),
        }
    }

    /// Counts a request arriving at `now` against both limits, unless either refuses it.
    pub(crate) fn admit(&mut self, now: Instant) -> Admission {
        let wait = |w: &mut Option<RateWindow>| w.as_mut().and_then(|w| w.wait(now, 0)).unwrap_or_default();
        let refused = Some(wait(&mut self.per_second).max(wait(&mut self.per_minute))).filter(|d| !d.is_zero());
        if refused.is_none() {
            for w in [&mut self.per_second, &mut self.per_minute].into_iter().flatten() {
                w.record(now);
            }
        }
        // Laravel's throttle, in Tallyfy's per-minute shape: every answer says the limit and what
        // is left of it, and a refusal says nothing is left (with `Retry-After` for when that
        // ends). The per-second limit is a fault to inject, not Tallyfy's shape: announcing it as
        // `X-RateLimit-Limit` would be read as a limit per minute.
        let headers = self.per_minute.as_mut().map(|w| {
            let remaining = if refused.is_some() { 0 } else { w.limit().saturating_sub(w.count(now) as u32) };
            (w.limit(), remaining)
        });
        Admission { refused, headers }
    }
}
