//! Every way a command can fail, each with its exit status. Pure.

use tallyfy_groups_api::error::Names;
use tallyfy_groups_api::{ApiError, ConfigError};
use tallyfy_groups_core::desired::{Diagnostics, ReadError};
use tallyfy_groups_core::outcome::ExitStatus;
use tallyfy_groups_core::pipeline::PlanError;
use tallyfy_groups_engine::{Refusal, TargetError};
use tallyfy_groups_publish::comment::CommentError;

use super::signals::run_stop;

/// Every way a command can fail, each with its exit status.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The groups files could not be read.
    #[error(transparent)]
    Read(#[from] ReadError),
    /// The groups files are invalid.
    #[error("{}", invalid_message(.0))]
    Invalid(Diagnostics),
    /// The plan could not be made.
    #[error(transparent)]
    Plan(#[from] PlanError),
    /// A flag, variable or file is unusable; the words say what to do.
    #[error("{0}")]
    Config(String),
    /// The client's configuration is unusable.
    #[error(transparent)]
    Client(#[from] ConfigError),
    /// The API failed.
    #[error(transparent)]
    Api(#[from] ApiError),
    /// A file could not be written.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// Refused before anything was written (exit 3); the words say why.
    #[error("{0}")]
    Refused(String),
    /// A gate refused the plan (the removal guard), or a saved plan no longer holds.
    #[error(transparent)]
    Refusal(#[from] Refusal),
    /// The embedded sandbox of `--sandbox` could not start.
    #[error("the embedded sandbox failed: {0}")]
    Sandbox(String),
    /// `tallyfy-groups sandbox` failed.
    #[error("the sandbox failed: {0}")]
    Serve(String),
    /// Groups left untouched by `--keep-going`.
    #[error("these groups could not be resolved and were left untouched (--keep-going); every other group was processed: {0}")]
    KeptGoing(Diagnostics),
    /// `comment` failed.
    #[error(transparent)]
    Comment(#[from] CommentError),
    /// Ctrl-C or SIGTERM.
    #[error("interrupted (Ctrl-C or SIGTERM): {0}")]
    Interrupted(String),
    /// An API error of a workspace's target, said with the target's own names for its settings.
    #[error("{}", .error.named(.names))]
    TargetApi {
        /// The error.
        error: ApiError,
        /// The target's names.
        names: Box<Names>,
    },
    /// The same for the client's configuration.
    #[error("{}", .error.named(.names))]
    TargetClient {
        /// The error.
        error: ConfigError,
        /// The target's names.
        names: Box<Names>,
    },
}

impl From<TargetError> for Error {
    fn from(e: TargetError) -> Self {
        match e {
            TargetError::Read(e) => Error::Read(e),
            TargetError::Invalid(d) => Error::Invalid(d),
            TargetError::Plan(e) => Error::Plan(e),
            TargetError::Api(e) => Error::Api(e),
            TargetError::Loading(m) => Error::Config(format!("reading the files failed: {m}")),
            TargetError::KeptGoing(d) => Error::KeptGoing(d),
            TargetError::Refused(r) => Error::Refusal(r),
            TargetError::Client(e) => Error::Client(e),
            TargetError::Unusable(m) => Error::Config(m),
            TargetError::Sources(e) => Error::Config(e.to_string()),
            TargetError::Incomplete(e) => Error::Config(e.to_string()),
            e @ TargetError::Usage { error: ApiError::Interrupted { .. }, .. } => Error::Interrupted(e.to_string()),
            e @ TargetError::Usage { .. } => Error::Config(e.to_string()),
            TargetError::NamedApi { error, names } => Error::TargetApi { error, names },
            TargetError::NamedClient { error, names } => Error::TargetClient { error, names },
        }
    }
}

fn invalid_message(diags: &Diagnostics) -> String {
    format!("{} invalid: {diags}", tallyfy_groups_core::pipeline::files_of(diags))
}

impl Error {
    /// The exit status the run ends with.
    pub fn exit_status(&self) -> ExitStatus {
        match self {
            Error::Refused(_) | Error::Refusal(_) => ExitStatus::Refused,
            Error::Interrupted(_)
            | Error::Api(ApiError::Interrupted { .. })
            | Error::TargetApi { error: ApiError::Interrupted { .. }, .. }
            | Error::Comment(CommentError::Interrupted { .. }) => ExitStatus::Interrupted,
            _ if run_stop().is_requested() => ExitStatus::Interrupted,
            _ => ExitStatus::Error,
        }
    }
}
