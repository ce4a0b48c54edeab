//! tallyfy-groups-publish: where a run of tallyfy-groups is published for the people of a
//! pipeline. [`comment`] keeps one comment of the tool on a pull request (GitHub) or merge request
//! (GitLab), edited in place on every push; [`notify`] posts a summary to a webhook (`--notify`)
//! when a scheduled run finds drift or fails. Both treat their tokens and URLs as secrets, retry
//! what a server asks to be retried, and stop on the run's [`tallyfy_groups_api::Stop`]. Composing
//! the bodies is pure; sending them does network I/O.

#![forbid(unsafe_code)]
#![deny(clippy::print_stdout, clippy::print_stderr)]

pub mod comment;
pub mod notify;
