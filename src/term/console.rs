//! What a person sees and answers on the terminal: the output settings, printing (escaped), and
//! the y/N prompt. Does terminal I/O.

use std::io::{BufRead, IsTerminal, Write};
use std::sync::atomic::AtomicBool;

use super::error::Error;
use super::signals::run_stop;
use crate::cli::ColorChoice;
use tallyfy_groups_core::outcome::ExitStatus;

/// Output settings decided once per run.
#[derive(Debug, Clone, Copy)]
pub struct Output {
    /// Color stdout.
    pub color: bool,
    /// `-q`: nothing on stderr but errors.
    pub quiet: bool,
    /// `-v`: the text plan lists every unmanaged group.
    pub verbose: bool,
    /// `--log-format json`: errors are logged as JSON lines too.
    pub json_logs: bool,
}

impl Output {
    /// The settings for `--color`, before `-q`, `-v` and `--log-format` are known.
    pub fn new(choice: ColorChoice) -> Self {
        Output { color: color_enabled(choice, std::io::stdout().is_terminal()), quiet: false, verbose: false, json_logs: false }
    }
}

/// Whether to color a stream. `auto`, as the CLICOLOR and NO_COLOR conventions (and `anstream`)
/// read the environment: `NO_COLOR` (not empty) never; `CLICOLOR_FORCE` (not empty) always, even
/// through a pipe; `CLICOLOR=0` never; otherwise a terminal whose `TERM` is set and not `dumb`
/// (on Windows, a console that takes ANSI codes), or a CI that shows them, or `CLICOLOR=1`.
pub fn color_enabled(choice: ColorChoice, is_terminal: bool) -> bool {
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            if anstyle_query::no_color() {
                return false;
            }
            if anstyle_query::clicolor_force() {
                return true;
            }
            let clicolor = anstyle_query::clicolor();
            if clicolor == Some(false) {
                return false;
            }
            is_terminal
                && (anstyle_query::term_supports_color() || clicolor == Some(true) || anstyle_query::is_ci())
                && anstyle_query::windows::enable_ansi_colors().unwrap_or(true)
        }
    }
}

/// `-q` for the whole run (read where no `Output` is at hand).
pub(crate) static QUIET: AtomicBool = AtomicBool::new(false);

/// Writes a message of this tool's own to stderr, one line or several, with every control and
/// bidi character in it escaped ([`tallyfy_groups_core::names::visible_lines`]) but its line breaks; text
/// from outside in it must already be escaped, line breaks too (see docs/safety.md).
pub fn eprint_lines(text: &str) {
    eprintln!("{}", tallyfy_groups_core::names::visible_lines(text));
}

pub(crate) fn print(text: &str) {
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(text.as_bytes());
    let _ = stdout.flush();
}

/// Writes generated text to stdout; a closed pipe (`| head`) is not an error, a failed write is.
pub(crate) fn write_stdout(bytes: &[u8]) -> Result<ExitStatus, Error> {
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(bytes).and_then(|()| stdout.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(Error::Write { path: "stdout".into(), source: e }),
        _ => Ok(ExitStatus::Success),
    }
}

/// Asks `question` with y/N on the terminal; only `y` or `yes` is a yes. A stop while waiting
/// for the answer is an interruption (stdin is read on a thread of its own, so it never holds
/// the run up).
pub(crate) async fn confirm(question: &str) -> Result<bool, Error> {
    eprint!("\n{question} Only 'y' or 'yes' continues [y/N]: ");
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let mut answer = String::new();
        let _ = std::io::stdin().lock().read_line(&mut answer);
        let _ = tx.send(answer);
    });
    let stop = run_stop();
    tokio::select! {
        () = stop.requested() => Err(Error::Interrupted("nothing was changed".into())),
        answer = rx => Ok(matches!(answer.unwrap_or_default().trim().to_lowercase().as_str(), "y" | "yes")),
    }
}
