//! The layers every API request passes through, outermost first: counting and logging it
//! (`count`), the rate limits, latency and injected faults (`faults`), and the bearer token,
//! client header and organization checks (`auth`). No I/O of their own (they wrap the handlers)
//! beyond waiting out the configured latency.

use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};

use axum::body::{Body, Bytes};
use axum::extract::{MatchedPath, Request, State as AxState};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use tokio::time::Instant;

use crate::respond::{error, forbidden, too_many};
use crate::sandbox::{Sandbox, lock};
use crate::stats::{LOG_CAPACITY, Logged};

/// Counts and logs every request, by route, status and organization, and gives every answer
/// an `X-Request-Id`.
pub(crate) async fn count(AxState(sb): AxState<Sandbox>, req: Request, next: Next) -> Response {
    let route = req.extensions().get::<MatchedPath>().map(|p| p.as_str().to_string()).unwrap_or_else(|| "(unmatched)".into());
    let key = format!("{} {}", req.method(), route);
    let org = org_of(req.uri().path()).filter(|org| sb.inner.orgs.contains_key(*org)).map(str::to_string);
    let at_ms = sb.inner.started.elapsed().as_secs_f64() * 1000.0;
    let mut response = next.run(req).await;
    {
        let mut log = lock(&sb.inner.log);
        if log.len() >= LOG_CAPACITY {
            log.pop_front();
        }
        log.push_back(Logged { at_ms, request: key.clone(), status: response.status().as_u16() });
    }
    let mut stats = lock(&sb.inner.stats);
    stats.total += 1;
    *stats.requests.entry(key).or_default() += 1;
    *stats.statuses.entry(response.status().as_u16()).or_default() += 1;
    if let Some(org) = org {
        *stats.organizations.entry(org).or_default() += 1;
    }
    // Like Tallyfy, every answer carries an id to quote when reporting a problem.
    if let Ok(id) = HeaderValue::from_str(&format!("sandbox-{}", stats.total)) {
        response.headers_mut().insert("x-request-id", id);
    }
    response
}

/// Applies the rate limits (429 with `Retry-After`), injects faults, and holds the answer until
/// `--latency` after the request arrived; adds the `X-RateLimit-*` headers.
pub(crate) async fn faults(AxState(sb): AxState<Sandbox>, req: Request, next: Next) -> Response {
    // Rate limits count a request when it arrives, as Tallyfy's do; a refused one is not counted.
    let arrived = Instant::now();
    let admission = lock(&sb.inner.limits).admit(arrived);
    let mut response = match admission.refused {
        Some(wait) => {
            lock(&sb.inner.stats).rate_limited += 1;
            too_many("Too Many Attempts.", wait)
        }
        None => inject(&sb, req, next).await,
    };
    // The answer leaves `--latency` after the request arrived (or when ready, if later): the
    // latency stands for the network and the server's work together.
    tokio::time::sleep_until(arrived + sb.inner.config.latency).await;
    if let Some((limit, remaining)) = admission.headers {
        let headers = response.headers_mut();
        headers.insert("x-ratelimit-limit", HeaderValue::from(limit));
        headers.insert("x-ratelimit-remaining", HeaderValue::from(remaining));
    }
    response
}

/// Runs the request, or fails it as `--fault-rate` says.
async fn inject(sb: &Sandbox, req: Request, next: Next) -> Response {
    let config = &sb.inner.config;
    let methods = &config.fault_methods;
    if !methods.is_empty() && !methods.contains(req.method()) {
        return next.run(req).await;
    }
    let fault_rate = f64::from_bits(sb.inner.fault_rate.load(Ordering::SeqCst));
    let fault = if fault_rate > 0.0 {
        let mut rng = lock(&sb.inner.rng);
        (rng.f64() < fault_rate).then(|| rng.u8(0..5))
    } else {
        None
    };
    let Some(kind) = fault else {
        return next.run(req).await;
    };
    lock(&sb.inner.stats).faults_injected += 1;
    match kind {
        0 => error(StatusCode::INTERNAL_SERVER_ERROR, "Server Error", "SERVER_ERROR"),
        1 => error(StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable", "SERVICE_UNAVAILABLE"),
        2 => dropped(),
        3 => {
            // The request takes effect, but the client hears a server error.
            let _ = next.run(req).await;
            error(StatusCode::INTERNAL_SERVER_ERROR, "Server Error", "SERVER_ERROR")
        }
        _ => {
            // The request takes effect, but the connection drops before the answer arrives.
            let _ = next.run(req).await;
            dropped()
        }
    }
}

/// A body that fails at once: the server aborts the connection mid-response.
struct FailingBody;

impl http_body::Body for FailingBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        Poll::Ready(Some(Err(std::io::Error::new(std::io::ErrorKind::ConnectionReset, "injected fault: connection dropped"))))
    }
}

/// An answer whose body fails: the connection drops mid-response.
fn dropped() -> Response {
    Response::new(Body::new(FailingBody))
}

/// Refuses (401) a request without a good bearer token or the `X-Tallyfy-Client` header, and
/// (403) one for an organization that is not served.
pub(crate) async fn auth(AxState(sb): AxState<Sandbox>, req: Request, next: Next) -> Response {
    let headers = req.headers();
    let token = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
    let Some(token) = token else {
        return error(StatusCode::UNAUTHORIZED, "Unauthenticated: a valid bearer token is required.", "UNAUTHENTICATED");
    };
    if let Err(message) = sb.admit_token(token) {
        return error(StatusCode::UNAUTHORIZED, message, "UNAUTHENTICATED");
    }
    if headers.get("x-tallyfy-client").is_none() {
        return error(StatusCode::UNAUTHORIZED, "Unauthenticated: the X-Tallyfy-Client header is required.", "UNAUTHENTICATED");
    }
    if !org_of(req.uri().path()).is_some_and(|org| sb.inner.orgs.contains_key(org)) {
        return forbidden();
    }
    next.run(req).await
}

/// The organization id of an API path, `/api/organizations/{org}/...`.
fn org_of(path: &str) -> Option<&str> {
    let mut segments = path.split('/');
    match (segments.next(), segments.next(), segments.next(), segments.next()) {
        (Some(""), Some("api"), Some("organizations"), Some(org)) => Some(org),
        _ => None,
    }
}
