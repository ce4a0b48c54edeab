//! The readers of membership sources: a CSV file, a command's output, an LDAP search. Each
//! turns a [`SourceSpec`] into a [`SourceRead`] (everyone it yielded) or a [`SourceFailure`]
//! (why it could not): a failed, partial or empty read is never a list of nobody. `list`
//! sources need no read (their addresses are in the file); the expansion into groups is the
//! core's ([`tallyfy_groups_core::desired::expand`]).
//!
//! [`read_all`] reads every source a run uses at once (a slow directory costs its own time, not
//! the sum); [`check_offline`] is what `validate` may check without running anything or
//! contacting anyone. Does I/O: files, processes, network.

#![deny(clippy::print_stdout, clippy::print_stderr)]

mod command;
mod csv_file;
mod entra;
mod google;
mod http;
mod ldap;
mod okta;
mod people;
mod scim;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use tallyfy_groups_core::desired::{DesiredState, Diagnostic};
use tallyfy_groups_core::source::{SourceFailure, SourceKind, SourceRead, SourceSpec};

pub use command::ALLOW_COMMANDS_VAR;
pub use http::HttpOptions;
pub use ldap::PAGE_SIZE as LDAP_PAGE_SIZE;

/// What reading needs besides the declarations.
#[derive(Debug, Clone, Default)]
pub struct ReadOptions {
    /// Whether `command` sources may run (`--allow-command-sources`): the pipeline's owner
    /// decides, never the files a pull request can edit.
    pub allow_commands: bool,
    /// Where the variables named by sources (`bind_dn_env`, `password_env`, a command's `env`)
    /// are looked up.
    pub env: Environment,
    /// How the identity providers' requests are retried.
    pub http: HttpOptions,
}

/// The variables sources may name: the process's, or a fixed set (tests, embedding).
#[derive(Debug, Clone, Default)]
pub struct Environment(Option<Arc<BTreeMap<String, String>>>);

impl Environment {
    /// The process's own variables.
    pub fn process() -> Self {
        Environment(None)
    }

    /// Exactly these variables.
    pub fn fixed(vars: impl IntoIterator<Item = (String, String)>) -> Self {
        Environment(Some(Arc::new(vars.into_iter().collect())))
    }

    /// The value of `name`, when it is set and valid Unicode.
    pub fn get(&self, name: &str) -> Option<String> {
        match &self.0 {
            None => std::env::var(name).ok(),
            Some(vars) => vars.get(name).cloned(),
        }
    }
}

/// Reads one source. A `list` yields its written addresses.
pub async fn read(spec: &SourceSpec, options: &ReadOptions) -> Result<SourceRead, SourceFailure> {
    let started = std::time::Instant::now();
    let result = match &spec.kind {
        SourceKind::List(list) => Ok(SourceRead {
            people: list.iter().map(|(email, _)| tallyfy_groups_core::source::Person { email: email.clone(), line: None }).collect(),
            warnings: Vec::new(),
        }),
        SourceKind::Csv(csv) => {
            let csv = csv.clone();
            match tokio::task::spawn_blocking(move || csv_file::read(&csv)).await {
                Ok(result) => result,
                Err(e) => Err(format!("the reader stopped unexpectedly: {e}")),
            }
        }
        SourceKind::Command(command) => command::read(spec, command, options).await,
        SourceKind::Ldap(ldap) => ldap::read(ldap, &options.env).await,
        SourceKind::Okta(okta) => okta::read(okta, &options.env, &options.http).await,
        SourceKind::Entra(entra) => entra::read(entra, &options.env, &options.http).await,
        SourceKind::Google(google) => google::read(google, &options.env, &options.http).await,
        SourceKind::Scim(scim) => scim::read(scim, &options.env, &options.http).await,
    };
    match &result {
        Ok(read) => tracing::info!(
            source = %spec.name,
            kind = spec.kind.label(),
            people = read.people.len(),
            ms = started.elapsed().as_millis() as u64,
            "read source"
        ),
        Err(reason) => tracing::debug!(source = %spec.name, kind = spec.kind.label(), %reason, "source failed"),
    }
    result.map_err(|reason| failure(spec, reason))
}

/// What each source read yielded, or why it failed, by the source's name.
pub type Reads = BTreeMap<String, Result<SourceRead, SourceFailure>>;

/// Reads every source given (but `list`s, which need no read) at once, each once: by name,
/// what each yielded or why it failed.
pub async fn read_all(specs: &[SourceSpec], options: &ReadOptions) -> Reads {
    Reader::new(options.clone()).read_all(specs).await
}

/// One declaration's read, done once and shared by everyone who asks.
type Slot = Arc<tokio::sync::OnceCell<Result<SourceRead, SourceFailure>>>;

/// The sources of one run: each read at most once however many groups and targets use it (a
/// workspace's targets often share files), all at once.
#[derive(Debug, Clone, Default)]
pub struct Reader {
    options: ReadOptions,
    done: Arc<Mutex<HashMap<String, Slot>>>,
}

impl Reader {
    /// A reader with these options and nothing read yet.
    pub fn new(options: ReadOptions) -> Self {
        Reader { options, done: Arc::default() }
    }

    /// The options it reads with.
    pub fn options(&self) -> &ReadOptions {
        &self.options
    }

    /// Reads every source given (but `list`s) at once, or takes what an earlier call read of
    /// the same declaration (same kind, settings and folder).
    pub async fn read_all(&self, specs: &[SourceSpec]) -> Reads {
        let mut set = tokio::task::JoinSet::new();
        for spec in specs.iter().filter(|s| !matches!(s.kind, SourceKind::List(_))) {
            let cell = {
                let mut done = self.done.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                done.entry(format!("{:?}|{}", spec.kind, spec.dir.display())).or_default().clone()
            };
            let (spec, options) = (spec.clone(), self.options.clone());
            set.spawn(async move {
                let result = cell.get_or_init(|| async { read(&spec, &options).await }).await.clone();
                // Read for a declaration of another name (or place): said of this one.
                let result = result.map_err(|f| SourceFailure { name: spec.name.clone(), at: spec.at.clone(), ..f });
                (spec, result)
            });
        }
        Self::collect(set).await
    }

    async fn collect(mut set: tokio::task::JoinSet<(SourceSpec, Result<SourceRead, SourceFailure>)>) -> Reads {
        let mut reads = BTreeMap::new();
        while let Some(joined) = set.join_next().await {
            // A reader that panicked is a bug; its source is failed, never empty, by `expand`
            // (a source missing from the reads fails).
            if let Ok((spec, result)) = joined {
                reads.insert(spec.name.clone(), result);
            }
        }
        reads
    }
}

/// What `validate` checks of the sources without running a command or contacting a directory:
/// that each CSV file a group uses exists and has the named column and `where` columns (a
/// source no group uses is not read by `plan` either, and is a warning). Every problem, at the
/// source's definition.
pub fn check_offline(state: &DesiredState) -> Vec<Diagnostic> {
    let mut problems = Vec::new();
    for spec in state.used_sources() {
        if let SourceKind::Csv(csv) = &spec.kind
            && let Err(reason) = csv_file::check_header(csv)
        {
            problems.push(
                Diagnostic::at(&spec.at, format!("source {} (csv): {reason}", spec.name))
                    .with_hint("csv.path is relative to the file that defines the source; the column names are the header row's"),
            );
        }
    }
    problems
}

fn failure(spec: &SourceSpec, reason: String) -> SourceFailure {
    SourceFailure { name: spec.name.clone(), kind: spec.kind.label(), at: spec.at.clone(), reason }
}
