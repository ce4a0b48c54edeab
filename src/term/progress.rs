//! Progress on stderr while reading live state and while applying: a bar or a line on a
//! terminal, a log line every few seconds otherwise, nothing with `-q`. Does terminal I/O.

use std::io::IsTerminal;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use tallyfy_groups_api::apply::{Progress, Tally};

/// Shows how far an apply has come.
pub enum ApplyProgress {
    /// A bar on a terminal.
    Bar(ProgressBar),
    /// A log line every few seconds elsewhere.
    Log {
        /// When the last line was written.
        last: Arc<Mutex<Instant>>,
    },
    /// Nothing.
    Silent,
}

/// Progress for an apply of `total` actions: nothing for small applies or with `-q`.
pub fn for_apply(total: usize, quiet: bool) -> ApplyProgress {
    if total < 10 || quiet {
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
                Some(Arc::new(move |tally: &Tally| bar.set_position(tally.ended as u64)))
            }
            ApplyProgress::Log { last } => {
                let last = last.clone();
                Some(Arc::new(move |tally: &Tally| {
                    let mut last = last.lock().unwrap_or_else(|e| e.into_inner());
                    if tally.ended == tally.total || last.elapsed() >= Duration::from_secs(5) {
                        *last = Instant::now();
                        log_progress(tally);
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

/// One `apply progress` log line: how the actions so far ended, never counting a skipped action
/// (after Ctrl-C, say) as done.
fn log_progress(t: &Tally) {
    let Tally { total, ended, applied, failed, skipped, unknown } = *t;
    tracing::info!(applied, failed, skipped, unknown, ended, total, "{}", progress_message(t));
}

/// The message of an `apply progress` log line.
fn progress_message(t: &Tally) -> &'static str {
    if t.ended < t.total {
        "apply progress"
    } else if t.applied == t.total {
        "apply progress: every action applied"
    } else {
        "apply progress: every action ended, not all applied"
    }
}

/// Shows how many pages of each list have been read.
pub struct ReadProgress {
    lists: Arc<Mutex<std::collections::BTreeMap<String, (u64, u64)>>>,
    shown: ReadShown,
}

enum ReadShown {
    Line(ProgressBar),
    Log(Arc<Mutex<Instant>>),
    Silent,
}

fn summary(lists: &std::collections::BTreeMap<String, (u64, u64)>) -> String {
    lists.iter().map(|(name, (done, total))| format!("{name} {done}/{total}")).collect::<Vec<_>>().join(", ")
}

impl ReadProgress {
    /// Progress for reading live state (`quiet`: none).
    pub fn new(quiet: bool) -> Self {
        let shown = if quiet {
            ReadShown::Silent
        } else if std::io::stderr().is_terminal() {
            let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
            if let Ok(style) = ProgressStyle::with_template("{spinner} reading Tallyfy: {msg} pages ({elapsed})") {
                bar.set_style(style);
            }
            ReadShown::Line(bar)
        } else {
            ReadShown::Log(Arc::new(Mutex::new(Instant::now())))
        };
        ReadProgress { lists: Arc::default(), shown }
    }

    /// The callback the client calls after each page.
    pub fn callback(&self) -> Option<tallyfy_groups_api::PageProgress> {
        let lists = self.lists.clone();
        match &self.shown {
            ReadShown::Silent => None,
            ReadShown::Line(bar) => {
                let bar = bar.clone();
                Some(Arc::new(move |name: &str, done, total| {
                    let mut lists = lists.lock().unwrap_or_else(|e| e.into_inner());
                    lists.insert(name.to_string(), (done, total));
                    bar.set_message(summary(&lists));
                    bar.tick();
                }))
            }
            ReadShown::Log(last) => {
                let last = last.clone();
                Some(Arc::new(move |name: &str, done, total| {
                    let mut lists = lists.lock().unwrap_or_else(|e| e.into_inner());
                    lists.insert(name.to_string(), (done, total));
                    let mut last = last.lock().unwrap_or_else(|e| e.into_inner());
                    if last.elapsed() >= Duration::from_secs(5) {
                        *last = Instant::now();
                        tracing::info!(pages = %summary(&lists), "read progress");
                    }
                }))
            }
        }
    }

    /// Clears the line.
    pub fn finish(&self) {
        if let ReadShown::Line(bar) = &self.shown {
            bar.finish_and_clear();
        }
    }
}

/// How a run shows its reads: a spinner line per read of one target's run, nothing for several
/// targets (their lines would interleave) or with `-q`.
pub(crate) fn show_reads(quiet: bool) -> tallyfy_groups_engine::run::ShowReads {
    std::sync::Arc::new(move |alone| {
        let reads = ReadProgress::new(quiet || !alone);
        let on_page = reads.callback();
        (on_page, Box::new(move || reads.finish()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_apply_cut_short_is_not_logged_as_done() {
        let t = |applied, skipped| Tally { total: 200, ended: applied + skipped, applied, skipped, ..Tally::default() };
        assert_eq!(progress_message(&t(36, 164)), "apply progress: every action ended, not all applied");
        assert_eq!(progress_message(&t(200, 0)), "apply progress: every action applied");
        assert_eq!(progress_message(&t(20, 0)), "apply progress");
    }
}
