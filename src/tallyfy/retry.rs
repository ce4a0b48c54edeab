//! Retry policy (backoff with jitter, `Retry-After`) and the client-side request rate limiter
//! shared by every concurrent request. The policy is pure; the limiter sleeps.

use std::time::{Duration, SystemTime};

use tokio::sync::Mutex;
use tokio::time::Instant;

/// How failed requests are retried.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    /// Attempts per request, the first included.
    pub max_attempts: u32,
    /// First backoff delay; doubles per attempt.
    pub base_delay: Duration,
    /// Longest single backoff delay.
    pub max_delay: Duration,
    /// Longest total wait spent on one request's retries; past it the request fails.
    pub max_total: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 6,
            base_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(20),
            max_total: Duration::from_secs(120),
        }
    }
}

impl RetryPolicy {
    /// Exponential backoff with "equal jitter": between half and all of `base · 2^attempt`.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let exp = self.base_delay.saturating_mul(1u32 << attempt.min(16)).min(self.max_delay);
        let half = exp / 2;
        half + exp.saturating_sub(half).mul_f64(fastrand::f64())
    }
}

/// Parses `Retry-After`: delay-seconds or an HTTP date (a date in the past means now).
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let v = value.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    if let Ok(secs) = v.parse::<f64>()
        && secs.is_finite()
        && secs >= 0.0
    {
        return Some(Duration::from_secs_f64(secs.min(86_400.0)));
    }
    let when = httpdate::parse_http_date(v).ok()?;
    Some(when.duration_since(now).unwrap_or(Duration::ZERO))
}

/// Allows at most `rate` requests per second on average, in bursts of up to `burst`, across all
/// tasks that share it (the generic cell rate algorithm).
#[derive(Debug)]
pub struct RateLimiter {
    interval: Option<Duration>,
    /// How far ahead of now the theoretical arrival time may run: `(burst - 1) · interval`.
    tolerance: Duration,
    /// Theoretical arrival time of the next request.
    tat: Mutex<Instant>,
}

impl RateLimiter {
    /// Evenly spaced requests; `rps <= 0` (or not finite) means no limit.
    pub fn new(rps: f64) -> Self {
        Self::with_burst(rps, 1)
    }

    /// `rate` per second on average, `burst` at once.
    pub fn with_burst(rate: f64, burst: u32) -> Self {
        let interval = (rate.is_finite() && rate > 0.0).then(|| Duration::from_secs_f64(1.0 / rate));
        let tolerance = interval.map(|i| i * burst.saturating_sub(1)).unwrap_or_default();
        RateLimiter { interval, tolerance, tat: Mutex::new(Instant::now()) }
    }

    /// Waits for this request's slot.
    pub async fn acquire(&self) {
        let Some(interval) = self.interval else { return };
        let slot = {
            let mut tat = self.tat.lock().await;
            let now = Instant::now();
            let start = (*tat).max(now);
            *tat = start + interval;
            start.checked_sub(self.tolerance).unwrap_or(now).max(now)
        };
        tokio::time::sleep_until(slot).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_seconds_and_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_445_412_480);
        assert_eq!(parse_retry_after("7", now), Some(Duration::from_secs(7)));
        assert_eq!(parse_retry_after(" 0.5 ", now), Some(Duration::from_millis(500)));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:10 GMT", now), Some(Duration::from_secs(10)));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:00:00 GMT", now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("soon", now), None);
    }

    #[test]
    fn backoff_grows_with_jitter_and_caps() {
        let p = RetryPolicy::default();
        for attempt in 0..10 {
            let d = p.backoff(attempt);
            let exp = p.base_delay.saturating_mul(1 << attempt).min(p.max_delay);
            assert!(d >= exp / 2 && d <= exp, "attempt {attempt}: {d:?} vs {exp:?}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn limiter_spaces_requests() {
        let limiter = RateLimiter::new(10.0);
        let start = Instant::now();
        for _ in 0..5 {
            limiter.acquire().await;
        }
        assert_eq!(start.elapsed(), Duration::from_millis(400));
    }

    #[tokio::test(start_paused = true)]
    async fn limiter_allows_a_burst_then_paces() {
        let limiter = RateLimiter::with_burst(30.0 / 3600.0, 30);
        let start = Instant::now();
        for _ in 0..30 {
            limiter.acquire().await;
        }
        assert_eq!(start.elapsed(), Duration::ZERO);
        limiter.acquire().await;
        assert_eq!(start.elapsed().as_secs(), 120);
    }
}
