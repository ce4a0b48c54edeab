//! What pipelines hear from a run: `comment github|gitlab` (one comment of the tool on a pull
//! or merge request, kept up to date) and the `--notify` webhook summary after `plan` or
//! `apply`. Does file, network and terminal I/O.

use std::path::Path;
use std::time::Duration;

use tallyfy_groups_api::Secret;
use tallyfy_groups_core::desired;
use tallyfy_groups_core::outcome::ExitStatus;
use tallyfy_groups_publish::comment::{self, CommentOptions, CommentTarget, Forge};
use tallyfy_groups_publish::notify::{self, Facts, Webhook};
use tracing::{info, warn};

use super::console::print;
use super::error::Error;
use super::signals::run_stop;
use crate::cli::{CommentArgs, CommentOn, NotifyArgs};

/// `--notify`, checked before anything else runs (the URL is never shown).
pub(crate) fn webhook(args: &NotifyArgs) -> Result<Option<Webhook>, Error> {
    args.notify.as_ref().filter(|url| !url.expose().trim().is_empty()).map(Webhook::new).transpose().map_err(Error::Config)
}

/// Sends the `--notify` summary when the run found drift or failed. A summary that cannot be
/// delivered is logged as an error beside the command's own outcome, which it never changes (an
/// apply that applied its changes stays a success): plan and apply alike. After a Ctrl-C or
/// SIGTERM nothing is sent.
pub(crate) async fn notified(
    hook: Option<Webhook>,
    command: notify::Command,
    facts: &Facts,
    result: Result<ExitStatus, Error>,
) -> Result<ExitStatus, Error> {
    let Some(hook) = hook else { return result };
    let code = match &result {
        Ok(status) => status.code(),
        Err(e) => e.exit_status().code(),
    };
    let Some(event) = notify::event(command, code, facts) else { return result };
    let stop = run_stop();
    if stop.is_requested() {
        warn!("the --notify summary was not sent: interrupted");
        return result;
    }
    let error = result.as_ref().err().map(|e| e.to_string()).or_else(|| facts.error.clone()).map(|e| hook.scrub(&e));
    let run_url = notify::run_url(|name| std::env::var(name).ok());
    let payload = notify::payload(event, command, code, facts, error.as_deref(), run_url.as_deref());
    match hook.send(&payload, Duration::from_secs(1), &stop).await {
        Ok(()) => info!(event = ?event, "sent the --notify summary"),
        Err(why) => {
            let done = match (&result, command) {
                (Ok(ExitStatus::Success), notify::Command::Apply) => "the changes were applied, but ",
                (Ok(_), notify::Command::Plan) => "the plan was made, but ",
                _ => "",
            };
            tracing::error!("{done}the --notify webhook did not take the summary: {why}");
        }
    }
    result
}

/// Largest comment body read (the forges take far less; it is cut to fit).
const MAX_COMMENT_FILE: u64 = 16 * 1024 * 1024;

pub(crate) async fn comment_command(args: CommentArgs) -> Result<ExitStatus, Error> {
    let (forge, api_url, project, number, commit, body) = match &args.on {
        CommentOn::Github(a) => {
            let repo = a.repo.as_ref().filter(|r| !r.trim().is_empty()).ok_or_else(|| {
                Error::Config(
                    "no repository: pass --repo OWNER/REPO, or set GITHUB_REPOSITORY (GitHub Actions sets it for every job)".into(),
                )
            })?;
            (Forge::GitHub, &a.api_url, repo, a.pr, &a.commit, &a.body)
        }
        CommentOn::Gitlab(a) => (Forge::GitLab, &a.api_url, &a.project, a.mr, &a.commit, &a.body),
    };
    let target = CommentTarget::new(forge, api_url, project, number)?;
    let marker = comment::marker(body.key.as_deref())?;
    let commit = commit.as_deref().filter(|c| !c.trim().is_empty()).map(comment::check_commit).transpose()?;
    let text = read_comment_body(&body.body_file)?;
    let token = Secret::new(std::env::var(forge.token_variable()).unwrap_or_default());
    let options = CommentOptions {
        marker,
        commit,
        now: std::time::SystemTime::now(),
        retry_delay: Duration::from_secs(2),
        stop: run_stop(),
        author: body.author.clone(),
        run_url: notify::run_url(|name| std::env::var(name).ok()),
    };
    let posted = comment::upsert(&target, &token, &text, &options).await?;
    let url = posted.url.unwrap_or_else(|| format!("comment {} on {}", posted.id, target.label()));
    print(&format!("{} {url}\n", if posted.edited { "edited" } else { "created" }));
    Ok(ExitStatus::Success)
}

/// Reads `--body-file` (`-` is stdin), at most [`MAX_COMMENT_FILE`] bytes of UTF-8.
fn read_comment_body(path: &Path) -> Result<String, Error> {
    use std::io::Read;
    let shown = path.display();
    let bytes = if path.as_os_str() == "-" {
        let mut bytes = Vec::new();
        std::io::stdin()
            .lock()
            .take(MAX_COMMENT_FILE + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| Error::Config(format!("cannot read the comment from stdin: {e}")))?;
        bytes
    } else {
        match desired::read_bounded(path, MAX_COMMENT_FILE) {
            Ok(desired::Bounded::Read(bytes)) => bytes,
            Ok(desired::Bounded::TooLarge { .. }) => {
                return Err(Error::Config(format!("the comment file {shown} is larger than 16 MiB")));
            }
            Err(e) => return Err(Error::Config(format!("cannot read the comment file {shown}: {e}"))),
        }
    };
    if bytes.len() as u64 > MAX_COMMENT_FILE {
        return Err(Error::Config(format!("the comment file {shown} is larger than 16 MiB")));
    }
    String::from_utf8(bytes).map_err(|_| Error::Config(format!("the comment file {shown} is not UTF-8 text")))
}
