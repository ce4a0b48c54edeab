//! Retry policy (backoff with jitter, `Retry-After`), the rolling window that every rate limit of
//! the code base counts with, and the client-side rate limiter shared by every concurrent request.
//! The policy and the window are pure; the limiter sleeps.

use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use tokio::sync::Notify;
use tokio::time::Instant;

/// Tallyfy's documented limit: requests per user in any rolling minute.
pub const REQUESTS_PER_MINUTE: u32 = 600;
/// The length of Tallyfy's rolling window.
pub const MINUTE: Duration = Duration::from_secs(60);

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

/// The retries of one request to a server other than Tallyfy's (a forge's comment API, a
/// webhook): a few attempts, the pause doubling from a first one, a server's `Retry-After`
/// taking precedence up to a longest wait it is worth waiting.
#[derive(Debug, Clone)]
pub struct Retries {
    /// Attempts in all, the first included.
    pub attempts: u32,
    /// The first pause; doubled each time.
    pub first_pause: Duration,
    /// A `Retry-After` longer than this is not waited for: the request fails.
    pub longest_retry_after: Duration,
    tried: u32,
}

impl Retries {
    /// Retries of `attempts` attempts in all.
    pub fn new(attempts: u32, first_pause: Duration, longest_retry_after: Duration) -> Self {
        Retries { attempts, first_pause, longest_retry_after, tried: 1 }
    }

    /// The attempt being made (from 1).
    pub fn attempt(&self) -> u32 {
        self.tried
    }

    /// The pause before the next attempt, given what the server said (`Retry-After`, if any);
    /// `None` when the request should fail now: no attempt left, or a wait too long.
    pub fn next_pause(&mut self, retry_after: Option<Duration>) -> Option<Duration> {
        if self.tried >= self.attempts || retry_after.is_some_and(|d| d > self.longest_retry_after) {
            return None;
        }
        let pause = retry_after.unwrap_or(self.first_pause.saturating_mul(2u32.saturating_pow(self.tried - 1)));
        self.tried += 1;
        Some(pause)
    }
}

/// A response's `Retry-After`, read now.
pub fn retry_after_of(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    headers.get(reqwest::header::RETRY_AFTER).and_then(|v| v.to_str().ok()).and_then(|v| parse_retry_after(v, SystemTime::now()))
}

/// Waits `pause`, or less when `stop` is asked for; whether the whole pause passed.
pub async fn pause_unless_stopped(pause: Duration, stop: &crate::Stop) -> bool {
    tokio::select! {
        () = tokio::time::sleep(pause) => true,
        () = stop.requested() => false,
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

/// Events in a rolling window: at most `limit` in any `length`. Pure: every call is given the
/// time, so the same value serves the client's limiter, the sandbox's limits and tests alike.
#[derive(Debug, Clone)]
pub struct Window {
    limit: usize,
    length: Duration,
    /// When each event of the current window happened, oldest first.
    events: VecDeque<Instant>,
}

impl Window {
    /// At most `limit` events in any `length`.
    pub fn new(limit: u32, length: Duration) -> Self {
        Window { limit: limit as usize, length, events: VecDeque::new() }
    }

    /// A window allowing `rate` events per second, as a rolling window of at least one event:
    /// 10/s is 10 per second, 0.5/s is 1 per 2 seconds.
    pub fn per_second(rate: f64) -> Self {
        let limit = rate.ceil().clamp(1.0, f64::from(u32::MAX));
        Window::new(limit as u32, Duration::from_secs_f64(limit / rate.max(f64::MIN_POSITIVE)))
    }

    /// The events the window allows.
    pub fn limit(&self) -> u32 {
        self.limit as u32
    }

    /// Changes the limit (events already counted stay).
    pub fn set_limit(&mut self, limit: u32) {
        self.limit = limit as usize;
    }

    /// How long the window is.
    pub fn length(&self) -> Duration {
        self.length
    }

    fn expire(&mut self, now: Instant) {
        while self.events.front().is_some_and(|&at| at + self.length <= now) {
            self.events.pop_front();
        }
    }

    /// Events in the window ending now.
    pub fn count(&mut self, now: Instant) -> usize {
        self.expire(now);
        self.events.len()
    }

    /// How long until one more event fits beside `others` counted elsewhere (zero: it fits
    /// now); `None` when the window's own events cannot make room (the others fill it).
    pub fn wait(&mut self, now: Instant, others: usize) -> Option<Duration> {
        self.expire(now);
        let used = self.events.len() + others;
        if used < self.limit {
            return Some(Duration::ZERO);
        }
        // Room for one more appears when this event expires.
        let at = *self.events.get(used - self.limit)?;
        Some((at + self.length).saturating_duration_since(now))
    }

    /// Records an event. Times must not go backwards.
    pub fn record(&mut self, at: Instant) {
        self.events.push_back(at);
    }

    /// Forgets every event.
    pub fn clear(&mut self) {
        self.events.clear();
    }

    /// Like [`Window::wait`], for this window's events and `other`'s together (with this
    /// window's limit and length): room for one more appears when enough of either expire.
    fn wait_with(&mut self, other: &mut Window, now: Instant, others: usize) -> Option<Duration> {
        self.expire(now);
        other.expire(now);
        let used = self.events.len() + other.events.len() + others;
        if used < self.limit {
            return Some(Duration::ZERO);
        }
        let mut merged: Vec<Instant> = self.events.iter().chain(other.events.iter()).copied().collect();
        merged.sort_unstable();
        let at = *merged.get(used - self.limit)?;
        Some((at + self.length).saturating_duration_since(now))
    }

    /// Records an event if one fits now; otherwise says how long until one does.
    pub fn try_record(&mut self, now: Instant) -> Result<(), Duration> {
        match self.wait(now, 0) {
            Some(d) if d.is_zero() => {
                self.record(now);
                Ok(())
            }
            Some(d) => Err(d),
            None => Err(self.length),
        }
    }
}

/// The client-side rate limiter, shaped like Tallyfy's policy: at most `limit` requests in any
/// rolling window, sent as fast as they come below that (no smoothing), shared by every request
/// of a client, reads and writes alike.
///
/// - A request holds a [`Slot`] from the moment it may start until its answer arrives, and
///   counts against the window from then until a window after its answer: the server counted it
///   on arrival, before that, so its own count never sees more than `limit` in a window.
/// - What the server says in `X-RateLimit-Limit` and `X-RateLimit-Remaining` ([`Feedback`]) is
///   learned: a lower limit is adopted, and requests the server counted that this limiter did
///   not make (another job using the same token) are counted as if made when learned, so the
///   limiter slows down before the server has to refuse.
/// - [`RateLimiter::hold`] (after a 429) holds back every request, not only the refused one.
/// - An optional ceiling of `max_rps` requests per second spaces requests evenly on top.
#[derive(Debug)]
pub struct RateLimiter {
    gate: Mutex<Gate>,
    /// Woken when a request ends, so that waiters look again.
    ended: Notify,
}

#[derive(Debug)]
struct Gate {
    /// Ended requests, stamped when answered.
    recent: Window,
    /// Requests learned from the server's headers (another job using the same token), counted
    /// beside `recent` with its limit and length. A 429's `Retry-After` forgets them: the server
    /// has said when its window frees.
    foreign: Window,
    /// Requests started and not yet answered; they count against the window too.
    in_flight: usize,
    /// The limit asked for; `None`: none.
    configured: Option<u32>,
    /// The limit the server announced in `X-RateLimit-Limit`.
    announced: Option<u32>,
    /// No request starts before this (after a 429).
    held_until: Option<Instant>,
    /// `--max-rps`: the spacing between requests and when the next may start.
    ceiling: Option<(Duration, Instant)>,
}

impl Gate {
    fn limit(&self) -> Option<u32> {
        match (self.configured, self.announced) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Starts a request now, or says when to look again (`None`: when a request ends).
    fn try_start(&mut self, now: Instant) -> Result<(), Option<Instant>> {
        self.try_start_n(now, 1)
    }

    /// Starts `n` requests now (`n` at most the limit), or says when to look again.
    fn try_start_n(&mut self, now: Instant, n: usize) -> Result<(), Option<Instant>> {
        if let Some(until) = self.held_until {
            if until > now {
                return Err(Some(until));
            }
            self.held_until = None;
        }
        if let Some((_, next)) = self.ceiling
            && next > now
        {
            return Err(Some(next));
        }
        if self.limit().is_some() {
            // `n` fit when one more fits beside the others in flight and the first `n - 1`.
            match self.recent.wait_with(&mut self.foreign, now, self.in_flight + n.saturating_sub(1)) {
                Some(d) if d.is_zero() => {}
                Some(d) => return Err(Some(now + d)),
                None => return Err(None),
            }
        }
        if let Some((interval, next)) = &mut self.ceiling {
            *next = now + *interval * n as u32;
        }
        self.in_flight += n;
        Ok(())
    }

    fn end(&mut self, now: Instant, feedback: Option<Feedback>) {
        self.in_flight = self.in_flight.saturating_sub(1);
        self.recent.record(now);
        if let Some(f) = feedback {
            self.learn(now, f);
        }
    }

    /// Adopts a lower announced limit, and counts the requests the server has seen in its window
    /// beyond this limiter's own ended ones (those in flight may not have reached it yet).
    fn learn(&mut self, now: Instant, f: Feedback) {
        if let Some(limit) = f.limit.filter(|&l| l > 0) {
            let before = self.limit();
            self.announced = Some(limit);
            if self.configured.is_some_and(|c| limit < c) && before != Some(limit) {
                tracing::warn!(
                    limit,
                    window_secs = self.recent.length().as_secs(),
                    "the server announces a lower rate limit (X-RateLimit-Limit); requests are paced to it"
                );
            }
        }
        if let Some(limit) = self.limit() {
            self.recent.set_limit(limit);
        }
        // A refusal's `Remaining: 0` says the window is full now; its `Retry-After` says for how
        // long, and is what the hold follows.
        if f.refused {
            self.foreign.clear();
            return;
        }
        let (Some(remaining), Some(limit)) = (f.remaining, f.limit.or(self.limit())) else { return };
        let used = limit.saturating_sub(remaining) as usize;
        let known = self.recent.count(now) + self.foreign.count(now);
        if used > known {
            tracing::debug!(counted = used, known, "the server counts requests this client did not make; counting them too");
        }
        for _ in known..used.min(limit as usize) {
            self.foreign.record(now);
        }
    }
}

/// What an answer said about the server's rate limit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Feedback {
    /// `X-RateLimit-Limit`: requests allowed in the window.
    pub limit: Option<u32>,
    /// `X-RateLimit-Remaining`: requests left in the window, this one counted.
    pub remaining: Option<u32>,
    /// The answer was a 429: `Remaining` is not learned from it (its `Retry-After` rules), and
    /// requests learned from earlier answers are forgotten.
    pub refused: bool,
}

impl Feedback {
    /// Reads the headers (absent or unreadable ones are `None`).
    pub fn from_headers(headers: &reqwest::header::HeaderMap) -> Self {
        let read = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse::<u32>().ok());
        Feedback { limit: read("x-ratelimit-limit"), remaining: read("x-ratelimit-remaining"), refused: false }
    }

    /// What a 429 said: its limit, and that it was a refusal.
    pub fn refusal(headers: &reqwest::header::HeaderMap) -> Self {
        Feedback { refused: true, ..Self::from_headers(headers) }
    }
}

/// A limiter's state, for logs and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LimiterStatus {
    /// The limit in force: the configured one, or the server's when lower.
    pub limit: Option<u32>,
    /// Requests counted in the current window: ended, in flight, and learned from the server.
    pub in_window: usize,
    /// Of those, the ones learned from the server's headers.
    pub foreign: usize,
    /// How long every request is still held back after a 429.
    pub held_for: Option<Duration>,
    /// The `--max-rps` spacing, if any.
    pub spacing: Option<Duration>,
}

impl RateLimiter {
    /// At most `limit` requests in any rolling `window` (`0`: no limit).
    pub fn rolling(limit: u32, window: Duration) -> Self {
        let configured = (limit > 0).then_some(limit);
        RateLimiter {
            gate: Mutex::new(Gate {
                recent: Window::new(limit.max(1), window),
                foreign: Window::new(u32::MAX, window),
                in_flight: 0,
                configured,
                announced: None,
                held_until: None,
                ceiling: None,
            }),
            ended: Notify::new(),
        }
    }

    /// Tallyfy's shape: at most `limit` requests in any rolling minute (`0`: no limit).
    pub fn per_minute(limit: u32) -> Self {
        Self::rolling(limit, MINUTE)
    }

    /// Adds a ceiling of `rps` requests per second, evenly spaced (`<= 0` or not finite: none).
    pub fn with_max_rps(self, rps: f64) -> Self {
        if rps.is_finite() && rps > 0.0 {
            self.lock().ceiling = Some((Duration::from_secs_f64(1.0 / rps), Instant::now()));
        }
        self
    }

    fn lock(&self) -> MutexGuard<'_, Gate> {
        self.gate.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits until a request may start; the request counts until its [`Slot`] ends.
    pub async fn acquire(&self) -> Slot<'_> {
        loop {
            let ended = self.ended.notified();
            tokio::pin!(ended);
            // Registered before looking, so an end between the look and the wait is not missed.
            ended.as_mut().enable();
            let next = self.lock().try_start(Instant::now());
            match next {
                Ok(()) => return Slot { limiter: self, ended: false },
                Err(Some(at)) => {
                    tokio::select! {
                        _ = tokio::time::sleep_until(at) => {}
                        _ = &mut ended => {}
                    }
                }
                Err(None) => ended.await,
            }
        }
    }

    /// Waits until `n` requests may start at once (a read and the write made from it), and
    /// returns their slots: the first, and the rest up to `n`, or as many as the limit allows
    /// when it is lower (then the caller acquires the others later).
    pub async fn acquire_many(&self, n: usize) -> (Slot<'_>, Vec<Slot<'_>>) {
        loop {
            let ended = self.ended.notified();
            tokio::pin!(ended);
            ended.as_mut().enable();
            let k = {
                let gate = self.lock();
                gate.limit().map_or(n, |l| n.min(l.max(1) as usize)).max(1)
            };
            let next = self.lock().try_start_n(Instant::now(), k);
            match next {
                Ok(()) => return (Slot { limiter: self, ended: false }, (1..k).map(|_| Slot { limiter: self, ended: false }).collect()),
                Err(Some(at)) => {
                    tokio::select! {
                        _ = tokio::time::sleep_until(at) => {}
                        _ = &mut ended => {}
                    }
                }
                Err(None) => ended.await,
            }
        }
    }

    /// Holds back every request until `until` (extends, never shortens, a hold).
    pub fn hold(&self, until: Instant) {
        let mut gate = self.lock();
        gate.held_until = Some(gate.held_until.map_or(until, |h| h.max(until)));
    }

    /// The window's length.
    pub fn window(&self) -> Duration {
        self.lock().recent.length()
    }

    /// The state now.
    pub fn status(&self) -> LimiterStatus {
        let mut gate = self.lock();
        let now = Instant::now();
        let limit = gate.limit();
        let foreign = gate.foreign.count(now);
        let in_window = gate.recent.count(now) + foreign + gate.in_flight;
        let held_for = gate.held_until.map(|h| h.saturating_duration_since(now)).filter(|d| !d.is_zero());
        LimiterStatus { limit, in_window, foreign, held_for, spacing: gate.ceiling.map(|(i, _)| i) }
    }

    fn end(&self, feedback: Option<Feedback>) {
        self.lock().end(Instant::now(), feedback);
        self.ended.notify_waiters();
    }

    fn cancel(&self) {
        let mut gate = self.lock();
        gate.in_flight = gate.in_flight.saturating_sub(1);
        drop(gate);
        self.ended.notify_waiters();
    }
}

/// One request's place in the limiter, from its start until its answer. Dropped without
/// [`Slot::finish`] (no answer, or the request was abandoned), it still counts as made.
#[derive(Debug)]
#[must_use = "a slot counts until it is finished or dropped"]
pub struct Slot<'a> {
    limiter: &'a RateLimiter,
    ended: bool,
}

impl Slot<'_> {
    /// The answer arrived; `feedback` is what it said about the server's limit.
    pub fn finish(mut self, feedback: Feedback) {
        self.ended = true;
        self.limiter.end(Some(feedback));
    }

    /// The request was never sent (a slot reserved for a write that did not follow its read):
    /// it does not count.
    pub fn cancel(mut self) {
        self.ended = true;
        self.limiter.cancel();
    }
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        if !self.ended {
            self.limiter.end(None);
        }
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
    fn retries_double_their_pause_take_retry_after_and_give_up() {
        let mut r = Retries::new(3, Duration::from_secs(1), Duration::from_secs(30));
        assert_eq!(r.attempt(), 1);
        assert_eq!(r.next_pause(None), Some(Duration::from_secs(1)));
        assert_eq!(r.next_pause(Some(Duration::from_secs(7))), Some(Duration::from_secs(7)));
        assert_eq!(r.attempt(), 3);
        assert_eq!(r.next_pause(None), None, "three attempts in all");
        let mut r = Retries::new(3, Duration::from_secs(1), Duration::from_secs(30));
        assert_eq!(r.next_pause(Some(Duration::from_secs(31))), None, "a wait too long fails at once");
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

    fn at(start: Instant, secs: u64) -> Instant {
        start + Duration::from_secs(secs)
    }

    #[test]
    fn window_counts_waits_and_expires() {
        let t0 = Instant::now();
        let mut w = Window::new(3, Duration::from_secs(60));
        for s in [0, 10, 20] {
            assert_eq!(w.try_record(at(t0, s)), Ok(()));
        }
        assert_eq!(w.count(at(t0, 30)), 3);
        // Full: room when the oldest is a window old.
        assert_eq!(w.try_record(at(t0, 30)), Err(Duration::from_secs(30)));
        assert_eq!(w.wait(at(t0, 30), 0), Some(Duration::from_secs(30)));
        // One counted elsewhere: the second oldest has to go too.
        assert_eq!(w.wait(at(t0, 30), 1), Some(Duration::from_secs(40)));
        // Three counted elsewhere fill it whatever expires.
        assert_eq!(w.wait(at(t0, 30), 3), None);
        assert_eq!(w.try_record(at(t0, 60)), Ok(()));
        assert_eq!(w.count(at(t0, 60)), 3);
        assert_eq!(w.count(at(t0, 200)), 0);
    }

    #[test]
    fn per_second_windows() {
        let w = Window::per_second(10.0);
        assert_eq!((w.limit(), w.length()), (10, Duration::from_secs(1)));
        let w = Window::per_second(0.5);
        assert_eq!((w.limit(), w.length()), (1, Duration::from_secs(2)));
        let w = Window::per_second(2.5);
        assert_eq!((w.limit(), w.length()), (3, Duration::from_millis(1200)));
    }

    /// Starts and finishes `n` requests one after another.
    async fn run(limiter: &RateLimiter, n: usize) {
        for _ in 0..n {
            limiter.acquire().await.finish(Feedback::default());
        }
    }

    #[tokio::test(start_paused = true)]
    async fn the_whole_limit_goes_at_once_then_the_window_rolls() {
        let limiter = RateLimiter::per_minute(600);
        let start = Instant::now();
        run(&limiter, 600).await;
        assert_eq!(start.elapsed(), Duration::ZERO, "no smoothing below the limit");
        tokio::time::sleep(Duration::from_secs(5)).await;
        run(&limiter, 1).await;
        assert_eq!(start.elapsed(), Duration::from_secs(60), "the 601st waits until the first is a minute old");
        assert_eq!(limiter.status().in_window, 1);
    }

    #[tokio::test(start_paused = true)]
    async fn requests_in_flight_count_and_a_window_runs_from_the_answer() {
        let limiter = std::sync::Arc::new(RateLimiter::rolling(2, Duration::from_secs(60)));
        let start = Instant::now();
        let a = limiter.acquire().await;
        let b = limiter.acquire().await;
        let third = tokio::spawn({
            let limiter = limiter.clone();
            async move {
                limiter.acquire().await.finish(Feedback::default());
                start.elapsed()
            }
        });
        tokio::time::sleep(Duration::from_secs(10)).await;
        a.finish(Feedback::default());
        tokio::time::sleep(Duration::from_secs(5)).await;
        // Dropped unanswered, it still counts as made.
        drop(b);
        assert_eq!(third.await.expect("task"), Duration::from_secs(70));
    }

    #[tokio::test(start_paused = true)]
    async fn guest_pacing_counts_a_rolling_hour_as_tallyfy_does() {
        let limiter = RateLimiter::rolling(30, Duration::from_secs(3600));
        let start = Instant::now();
        run(&limiter, 30).await;
        assert_eq!(start.elapsed(), Duration::ZERO);
        // Not two minutes later (an even pace): Tallyfy would refuse the 31st within the hour.
        run(&limiter, 1).await;
        assert_eq!(start.elapsed(), Duration::from_secs(3600));
    }

    #[tokio::test(start_paused = true)]
    async fn max_rps_is_an_extra_ceiling() {
        let limiter = RateLimiter::per_minute(600).with_max_rps(10.0);
        let start = Instant::now();
        run(&limiter, 5).await;
        assert_eq!(start.elapsed(), Duration::from_millis(400));
        let unlimited = RateLimiter::per_minute(0).with_max_rps(0.0);
        run(&unlimited, 10_000).await;
        assert_eq!(start.elapsed(), Duration::from_millis(400));
        assert_eq!(unlimited.status().limit, None);
    }

    #[tokio::test(start_paused = true)]
    async fn the_servers_count_slows_it_down_before_a_refusal() {
        let limiter = RateLimiter::per_minute(600);
        let start = Instant::now();
        // Someone else used 499 of the minute with the same token.
        limiter.acquire().await.finish(Feedback { limit: Some(600), remaining: Some(100), refused: false });
        let status = limiter.status();
        assert_eq!((status.in_window, status.foreign), (500, 499));
        run(&limiter, 100).await;
        assert_eq!(start.elapsed(), Duration::ZERO);
        run(&limiter, 1).await;
        assert_eq!(start.elapsed(), Duration::from_secs(60));
        // A count the limiter already knows adds nothing.
        limiter.acquire().await.finish(Feedback { limit: Some(600), remaining: Some(599), refused: false });
        assert_eq!(limiter.status().foreign, 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_lower_announced_limit_is_adopted() {
        let limiter = RateLimiter::per_minute(600);
        let start = Instant::now();
        limiter.acquire().await.finish(Feedback { limit: Some(3), remaining: Some(2), refused: false });
        assert_eq!(limiter.status().limit, Some(3));
        run(&limiter, 2).await;
        assert_eq!(start.elapsed(), Duration::ZERO);
        run(&limiter, 1).await;
        assert_eq!(start.elapsed(), Duration::from_secs(60));
        // A higher one does not raise the configured limit.
        limiter.acquire().await.finish(Feedback { limit: Some(10_000), remaining: None, refused: false });
        assert_eq!(limiter.status().limit, Some(600));
    }

    #[tokio::test(start_paused = true)]
    async fn a_hold_stops_every_request() {
        let limiter = std::sync::Arc::new(RateLimiter::per_minute(600));
        let start = Instant::now();
        limiter.hold(start + Duration::from_secs(7));
        limiter.hold(start + Duration::from_secs(3));
        assert_eq!(limiter.status().held_for, Some(Duration::from_secs(7)));
        let others: Vec<_> = (0..3)
            .map(|_| {
                let limiter = limiter.clone();
                tokio::spawn(async move {
                    limiter.acquire().await.finish(Feedback::default());
                    start.elapsed()
                })
            })
            .collect();
        for other in others {
            assert_eq!(other.await.expect("task"), Duration::from_secs(7));
        }
        assert_eq!(limiter.status().held_for, None);
    }

    #[tokio::test(start_paused = true)]
    async fn a_refusals_remaining_zero_does_not_outlast_its_retry_after() {
        let limiter = RateLimiter::per_minute(600);
        let start = Instant::now();
        // Laravel's 429: the window is full now, and frees in one second.
        limiter.acquire().await.finish(Feedback { limit: Some(600), remaining: Some(0), refused: true });
        limiter.hold(start + Duration::from_secs(1));
        run(&limiter, 1).await;
        assert_eq!(start.elapsed(), Duration::from_secs(1), "the hold follows Retry-After, not a rolling minute");
        assert_eq!(limiter.status().foreign, 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_refusal_forgets_what_earlier_answers_taught() {
        let limiter = RateLimiter::per_minute(600);
        let start = Instant::now();
        let (a, b) = (limiter.acquire().await, limiter.acquire().await);
        // Another job used the whole minute, as a successful answer said...
        a.finish(Feedback { limit: Some(600), remaining: Some(0), refused: false });
        assert_eq!(limiter.status().foreign, 599);
        // ...and the server's refusal of the other request says its window frees in two seconds.
        b.finish(Feedback { limit: Some(600), remaining: Some(0), refused: true });
        limiter.hold(start + Duration::from_secs(2));
        run(&limiter, 1).await;
        assert_eq!(start.elapsed(), Duration::from_secs(2));
    }

    #[tokio::test(start_paused = true)]
    async fn a_successful_answers_remaining_still_slows_it_down() {
        let limiter = RateLimiter::per_minute(600);
        let start = Instant::now();
        limiter.acquire().await.finish(Feedback { limit: Some(600), remaining: Some(0), refused: false });
        run(&limiter, 1).await;
        assert_eq!(start.elapsed(), Duration::from_secs(60));
    }

    #[tokio::test(start_paused = true)]
    async fn a_pair_waits_for_two_slots_at_once_and_never_for_itself() {
        let limiter = RateLimiter::rolling(2, Duration::from_secs(60));
        let start = Instant::now();
        run(&limiter, 1).await;
        // One slot is free: the pair waits until both are.
        let (first, rest) = limiter.acquire_many(2).await;
        assert_eq!((rest.len(), start.elapsed()), (1, Duration::from_secs(60)));
        drop((first, rest));
        // A limit of one cannot give two at once: one slot, and no wait on itself.
        let one = RateLimiter::rolling(1, Duration::from_secs(60));
        let start = Instant::now();
        let (_first, rest) = one.acquire_many(2).await;
        assert_eq!((rest.len(), start.elapsed()), (0, Duration::ZERO));
    }

    #[tokio::test(start_paused = true)]
    async fn a_cancelled_slot_does_not_count() {
        let limiter = RateLimiter::rolling(1, Duration::from_secs(60));
        let start = Instant::now();
        limiter.acquire().await.cancel();
        run(&limiter, 1).await;
        assert_eq!(start.elapsed(), Duration::ZERO);
        assert_eq!(limiter.status().in_window, 1);
    }

    #[test]
    fn feedback_reads_the_headers() {
        let mut h = reqwest::header::HeaderMap::new();
        h.insert("X-RateLimit-Limit", reqwest::header::HeaderValue::from_static("600"));
        h.insert("x-ratelimit-remaining", reqwest::header::HeaderValue::from_static(" 12 "));
        assert_eq!(Feedback::from_headers(&h), Feedback { limit: Some(600), remaining: Some(12), refused: false });
        h.insert("x-ratelimit-remaining", reqwest::header::HeaderValue::from_static("lots"));
        assert_eq!(Feedback::from_headers(&h).remaining, None);
    }
}
