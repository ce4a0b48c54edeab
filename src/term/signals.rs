//! Ctrl-C and SIGTERM: the run's one [`Stop`], shared by everything that sends a request, and
//! the listener that asks it. Does signal and terminal I/O.

use std::time::Duration;

use tallyfy_groups_api::Stop;
use tallyfy_groups_core::outcome::ExitStatus;
use tracing::warn;

/// The stop shared by everything this run sends (see [`listen_for_stop`]).
pub(crate) static RUN_STOP: std::sync::Mutex<Option<Stop>> = std::sync::Mutex::new(None);

/// This run's stop: the Tallyfy clients, the applier, comments and notifications share it.
pub(crate) fn run_stop() -> Stop {
    RUN_STOP.lock().unwrap_or_else(|e| e.into_inner()).get_or_insert_with(Stop::default).clone()
}

/// How long after a first signal the process ends whatever it is doing: a backstop for any wait
/// that does not watch the stop, before a CI system's kill (GitHub Actions: 7.5 s).
const STOP_DEADLINE: Duration = Duration::from_secs(6);

/// Ctrl-C or SIGTERM (what CI systems send on cancel): no request starts any more, waits for the
/// rate limit or a retry end at once, requests in flight get [`tallyfy_groups_api::stop::GRACE`],
/// and an apply still prints and writes its report; the exit status is 130. A second signal
/// abandons the requests in flight at once. Listens until the run ends.
pub(crate) fn listen_for_stop(stop: Stop) {
    let mut signals = Signals::new();
    tokio::spawn(async move {
        signals.next().await;
        stop.request();
        eprintln!(
            "\nInterrupted: stopping; requests in flight get {} s, then the report is written. Interrupt again to stop at once.",
            tallyfy_groups_api::stop::GRACE.as_secs()
        );
        // A plain thread: it must fire even if the runtime is stuck in something blocking.
        std::thread::spawn(|| {
            std::thread::sleep(STOP_DEADLINE);
            eprintln!("error: did not stop within {} s of the interrupt; exiting now", STOP_DEADLINE.as_secs());
            std::process::exit(ExitStatus::Interrupted.code());
        });
        signals.next().await;
        stop.abandon();
        eprintln!("\nInterrupted again: abandoning the requests in flight; writing the report.");
    });
}

/// Ctrl-C (SIGINT) and, on Unix, SIGTERM, listened for from creation on.
struct Signals {
    #[cfg(unix)]
    interrupt: Option<tokio::signal::unix::Signal>,
    #[cfg(unix)]
    terminate: Option<tokio::signal::unix::Signal>,
}

impl Signals {
    fn new() -> Self {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let listen = |kind| signal(kind).inspect_err(|e| warn!(error = %e, "cannot listen for a signal")).ok();
            Signals { interrupt: listen(SignalKind::interrupt()), terminate: listen(SignalKind::terminate()) }
        }
        #[cfg(not(unix))]
        Signals {}
    }

    /// Resolves on the next Ctrl-C or SIGTERM (never, if neither can be listened for).
    async fn next(&mut self) {
        #[cfg(unix)]
        {
            async fn recv(s: &mut Option<tokio::signal::unix::Signal>) {
                if let Some(s) = s
                    && s.recv().await.is_some()
                {
                    return;
                }
                std::future::pending().await
            }
            tokio::select! {
                () = recv(&mut self.interrupt) => {}
                () = recv(&mut self.terminate) => {}
            }
        }
        #[cfg(not(unix))]
        {
            if tokio::signal::ctrl_c().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    }
}
