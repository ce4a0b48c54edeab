//! Apply progress on stderr: a bar on a terminal, a log line every few seconds otherwise.

use std::io::IsTerminal;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::apply::Progress;

/// Shows how far an apply has come.
pub enum ApplyProgress {
    Bar(ProgressBar),
    Log { last: Arc<Mutex<Instant>> },
    Silent,
}

/// Progress for an apply of `total` actions: nothing for small applies.
pub fn for_apply(total: usize) -> ApplyProgress {
    if total < 10 {
        return ApplyProgress::Silent;
    }
    if std::io::stderr().is_terminal() {
        let bar = ProgressBar::with_draw_target(Some(total as u64), ProgressDrawTarget::stderr());
        if let Ok(style) = ProgressStyle::with_template("{bar:40} {pos}/{len} actions, {elapsed} elapsed, about {eta} left") {
            bar.set_style(style);
        }
        ApplyProgress::Bar(bar)
    } else {
        ApplyProgress::Log { last: Arc::new(Mutex::new(Instant::now())) }
    }
}

impl ApplyProgress {
    /// The callback the applier calls after each action.
    pub fn callback(&self) -> Option<Progress> {
        match self {
            ApplyProgress::Bar(bar) => {
                let bar = bar.clone();
                Some(Arc::new(move |done, _| bar.set_position(done as u64)))
            }
            ApplyProgress::Log { last } => {
                let last = last.clone();
                Some(Arc::new(move |done, total| {
                    let mut last = last.lock().unwrap_or_else(|e| e.into_inner());
                    if done == total || last.elapsed() >= Duration::from_secs(5) {
                        *last = Instant::now();
                        tracing::info!(done, total, "apply progress");
                    }
                }))
            }
            ApplyProgress::Silent => None,
        }
    }

    /// Clears the bar.
    pub fn finish(&self) {
        if let ApplyProgress::Bar(bar) = self {
            bar.finish_and_clear();
        }
    }
}
