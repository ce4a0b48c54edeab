//! The stop request: what a Ctrl-C or SIGTERM asks of everything that talks to a server. One
//! [`Stop`] is shared by the Tallyfy client, the token exchange, the applier and the pipeline
//! integrations (comments, notifications), so that a first signal stops them all at once. No
//! I/O of its own; its futures only wait.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

/// How long a request already in flight may still take after a first signal before it is
/// abandoned (its outcome then unknown): well inside the seconds a CI system gives between its
/// signal and its kill (GitHub Actions: 7.5 s to SIGTERM, 2.5 s more to SIGKILL).
pub const GRACE: Duration = Duration::from_secs(3);

/// How far a run has been asked to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Level {
    Running,
    /// Start no request; give the ones in flight [`GRACE`] to be answered.
    Requested,
    /// Abandon the requests in flight now (a second signal).
    Abandoned,
}

/// Asks everything that shares it to stop. Cheap to clone; clones share the request. A default
/// `Stop` is never asked.
#[derive(Debug, Clone)]
pub struct Stop(Arc<watch::Sender<Level>>);

impl Default for Stop {
    fn default() -> Self {
        Stop(Arc::new(watch::channel(Level::Running).0))
    }
}

impl Stop {
    /// A first Ctrl-C or SIGTERM: no request starts any more (a wait for the rate limit or a
    /// retry ends at once), and the requests in flight get [`GRACE`] to be answered.
    pub fn request(&self) {
        self.raise(Level::Requested);
    }

    /// A second signal: the requests in flight are abandoned now.
    pub fn abandon(&self) {
        self.raise(Level::Abandoned);
    }

    fn raise(&self, to: Level) {
        self.0.send_if_modified(|level| {
            let raise = *level < to;
            if raise {
                *level = to;
            }
            raise
        });
    }

    /// Whether a stop was asked for.
    pub fn is_requested(&self) -> bool {
        *self.0.borrow() >= Level::Requested
    }

    /// Whether the requests in flight were to be abandoned at once (a second signal).
    pub fn is_abandoned(&self) -> bool {
        *self.0.borrow() >= Level::Abandoned
    }

    async fn reached(&self, level: Level) {
        let mut rx = self.0.subscribe();
        // The sender lives as long as `self`, so waiting cannot fail.
        let _ = rx.wait_for(|l| *l >= level).await;
    }

    /// Resolves once a stop is asked for.
    pub async fn requested(&self) {
        self.reached(Level::Requested).await;
    }

    /// Resolves once the requests in flight are to be abandoned: [`GRACE`] after a stop was
    /// asked for, or at once on a second signal.
    pub async fn abandoned(&self) {
        self.requested().await;
        tokio::select! {
            () = self.reached(Level::Abandoned) => {}
            () = tokio::time::sleep(GRACE) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::time::Instant;

    #[tokio::test(start_paused = true)]
    async fn in_flight_requests_get_a_grace_or_a_second_signal() {
        let stop = Stop::default();
        assert!(!stop.is_requested());
        let start = Instant::now();
        let waiter = tokio::spawn({
            let stop = stop.clone();
            async move {
                stop.abandoned().await;
                start.elapsed()
            }
        });
        tokio::time::sleep(Duration::from_secs(10)).await;
        stop.request();
        assert!(stop.is_requested() && !stop.is_abandoned());
        assert_eq!(waiter.await.expect("task"), Duration::from_secs(10) + GRACE);

        let stop = Stop::default();
        let start = Instant::now();
        let waiter = tokio::spawn({
            let stop = stop.clone();
            async move {
                stop.abandoned().await;
                start.elapsed()
            }
        });
        stop.request();
        tokio::time::sleep(Duration::from_secs(1)).await;
        stop.abandon();
        assert_eq!(waiter.await.expect("task"), Duration::from_secs(1));
        // Asking again lowers nothing.
        stop.request();
        assert!(stop.is_abandoned());
    }
}
