//! Command-line types (clap derive) only.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Keeps the groups of a Tallyfy organization equal to a groups.yaml kept in Git.
#[derive(Debug, Parser)]
#[command(name = "tallyfy-groups", version, about, long_about = None, propagate_version = true, after_help = help::MAIN)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    #[command(flatten)]
    pub global: GlobalArgs,
}

/// Options every command takes, shown under their own heading.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Global options")]
pub struct GlobalArgs {
    /// More log output on stderr (-v: debug, -vv: trace).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// Only errors on stderr.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Log line format on stderr.
    #[arg(long, value_enum, default_value_t = LogFormat::Text, global = true)]
    pub log_format: LogFormat,
    /// Colored output (`auto`: on a terminal; NO_COLOR or CLICOLOR=0 turn it off, CLICOLOR_FORCE on).
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto, global = true)]
    pub color: ColorChoice,
    /// No colors: the same as --color never.
    #[arg(long, global = true)]
    pub no_color: bool,
}

impl GlobalArgs {
    /// `--color`, with `--no-color` winning.
    pub fn color(&self) -> ColorChoice {
        if self.no_color { ColorChoice::Never } else { self.color }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PlanFormat {
    Text,
    Markdown,
    Json,
}

/// `validate --format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ValidateFormat {
    /// Every problem on stderr, with file:line:column.
    Text,
    /// GitHub Actions annotations on stdout (`::error file=…,line=…,col=…::message`).
    Github,
    /// One JSON document on stdout.
    Json,
}

/// The arguments whose presence on the command line makes a run single-organization.
pub const SINGLE_ORG_ARGS: [&str; 3] = ["files", "org", "api_url"];

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check groups.yaml offline (no token needed).
    #[command(after_help = help::VALIDATE)]
    Validate {
        #[command(flatten)]
        files: FileArgs,
        #[command(flatten)]
        workspace: WorkspaceArgs,
        /// Output format: text, GitHub Actions annotations (shown on the pull request's diff), or JSON.
        #[arg(long, value_enum, default_value_t = ValidateFormat::Text)]
        format: ValidateFormat,
        /// Evaluate every `until` and review as of this day (YYYY-MM-DD; default: today in UTC).
        #[arg(long, value_name = "DATE", value_parser = as_of)]
        as_of: Option<tallyfy_groups_core::date::Date>,
        /// The owners file (default: owners.yaml beside the first groups file, when it exists).
        #[arg(long, value_name = "FILE")]
        owners: Option<PathBuf>,
        /// Check this policy file too (its grammar and rules; whether its globs match groups is
        /// checked by `plan`, which reads the live ones).
        #[arg(long, value_name = "FILE", env = "TALLYFY_GROUPS_POLICY")]
        policy: Option<PathBuf>,
    },
    /// Show what apply would change.
    #[command(after_help = help::PLAN)]
    Plan(PlanArgs),
    /// Make Tallyfy match groups.yaml (or apply a saved plan).
    #[command(after_help = help::APPLY)]
    Apply(ApplyArgs),
    /// Write the live groups as canonical groups.yaml.
    #[command(
        after_help = help::EXPORT,
        mut_arg("targets", |a| a.help("The one target of the workspace file to export (needed when it has several)")),
    )]
    Export(ExportArgs),
    /// Print the JSON Schema of groups.yaml (or of owners.yaml, the policy file or the JSON plan).
    #[command(after_help = help::SCHEMA)]
    Schema {
        /// The schema of owners.yaml instead.
        #[arg(long, conflicts_with_all = ["policy", "plan"])]
        owners: bool,
        /// The schema of the policy file (`--policy`) instead.
        #[arg(long, conflicts_with = "plan")]
        policy: bool,
        /// The schema of `plan --format json` instead, for tools that read the plan (conftest, OPA).
        #[arg(long)]
        plan: bool,
    },
    /// Work with owners.yaml: print the CODEOWNERS lines that make GitHub and GitLab enforce it.
    #[command(subcommand, after_help = help::OWNERS)]
    Owners(OwnersCommand),
    /// Print the target names of the workspace file, one per line (for shell completion of
    /// --target); nothing where there is no workspace file.
    #[command(name = "complete-targets", hide = true, after_help = help::COMPLETE_TARGETS)]
    CompleteTargets {
        /// The workspace file (default: tallyfy-groups.yaml in this folder or above).
        #[arg(long, value_name = "FILE")]
        workspace: Option<PathBuf>,
    },
    /// Print shell completions.
    #[command(after_help = help::COMPLETIONS)]
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page, or write one page per command into a directory.
    #[command(after_help = help::MAN)]
    Man {
        /// Write tallyfy-groups.1 and one page per subcommand (tallyfy-groups-plan.1, ...) here.
        #[arg(long, value_name = "DIR")]
        out_dir: Option<PathBuf>,
    },
    /// Serve a local Tallyfy-compatible API.
    #[command(after_help = help::SANDBOX)]
    Sandbox(SandboxArgs),
    /// Post a file (a markdown plan) as this tool's one comment on a pull or merge request,
    /// edited in place on every run.
    #[command(after_help = help::COMMENT)]
    Comment(CommentArgs),
    /// Check or read the journal that `apply --journal` writes.
    #[command(subcommand, after_help = help::JOURNAL)]
    Journal(JournalCommand),
    /// Reports for auditors, from the live organization and the groups files.
    #[command(subcommand, after_help = help::REPORT)]
    Report(ReportCommand),
}

impl Command {
    /// The workspace options of a command that has them.
    pub fn workspace_mut(&mut self) -> Option<&mut WorkspaceArgs> {
        match self {
            Command::Validate { workspace, .. } => Some(workspace),
            Command::Plan(a) => Some(&mut a.workspace),
            Command::Apply(a) => Some(&mut a.workspace),
            Command::Export(a) => Some(&mut a.workspace),
            Command::Report(ReportCommand::Access(a)) => Some(&mut a.workspace),
            _ => None,
        }
    }
}

#[derive(Debug, Args)]
pub struct CommentArgs {
    #[command(subcommand)]
    pub on: CommentOn,
}

#[derive(Debug, Subcommand)]
pub enum CommentOn {
    /// A GitHub pull request (token: GITHUB_TOKEN).
    #[command(after_help = help::COMMENT_GITHUB)]
    Github(GithubCommentArgs),
    /// A GitLab merge request (token: GITLAB_TOKEN).
    #[command(after_help = help::COMMENT_GITLAB)]
    Gitlab(GitlabCommentArgs),
}

#[derive(Debug, Clone, Args)]
pub struct GithubCommentArgs {
    /// The repository (GitHub Actions sets GITHUB_REPOSITORY).
    #[arg(long, value_name = "OWNER/REPO", env = "GITHUB_REPOSITORY")]
    pub repo: Option<String>,
    /// The pull request's number.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub pr: u64,
    /// The commit the comment is for (in a pull_request workflow, pass
    /// `github.event.pull_request.head.sha`: GITHUB_SHA is a merge commit there).
    #[arg(long, value_name = "SHA", env = "GITHUB_SHA")]
    pub commit: Option<String>,
    /// GitHub's REST API.
    #[arg(long, value_name = "URL", env = "GITHUB_API_URL", default_value = tallyfy_groups_publish::comment::GITHUB_API_URL)]
    pub api_url: String,
    #[command(flatten)]
    pub body: CommentBodyArgs,
}

#[derive(Debug, Clone, Args)]
pub struct GitlabCommentArgs {
    /// The project: its numeric id or its path (group/project).
    #[arg(long, value_name = "ID", env = "CI_PROJECT_ID")]
    pub project: String,
    /// The merge request's IID (the number shown as !N).
    #[arg(long, value_name = "N", env = "CI_MERGE_REQUEST_IID", value_parser = clap::value_parser!(u64).range(1..))]
    pub mr: u64,
    /// The commit the comment is for.
    #[arg(long, value_name = "SHA", env = "CI_COMMIT_SHA")]
    pub commit: Option<String>,
    /// GitLab's REST API (v4).
    #[arg(long, value_name = "URL", env = "CI_API_V4_URL", default_value = tallyfy_groups_publish::comment::GITLAB_API_URL)]
    pub api_url: String,
    #[command(flatten)]
    pub body: CommentBodyArgs,
}

#[derive(Debug, Clone, Args)]
pub struct CommentBodyArgs {
    /// The comment's text (markdown; `-` for stdin), such as `plan --format markdown`'s output.
    #[arg(long, value_name = "FILE")]
    pub body_file: PathBuf,
    /// Keeps a separate comment per key (for several configurations in one repository).
    #[arg(long, value_name = "KEY")]
    pub key: Option<String>,
    /// Edit only a comment this login wrote, such as a GitHub App's `my-app[bot]` (default: the
    /// token's own user, from GET /user; github-actions[bot] for GitHub Actions' token).
    #[arg(long, value_name = "LOGIN")]
    pub author: Option<String>,
}

#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Output")]
pub struct NotifyArgs {
    /// Post a JSON summary (Slack-compatible `text` plus fields) to this webhook when drift is
    /// found or the run fails. A secret: prefer the environment variable; it is never printed.
    #[arg(long, value_name = "URL", env = "TALLYFY_GROUPS_NOTIFY_URL", hide_env_values = true, value_parser = secret)]
    pub notify: Option<tallyfy_groups_api::Secret>,
}

/// A secret as clap parses it (a value parser returns a `Result`).
#[expect(clippy::unnecessary_wraps, reason = "clap's value parsers return a Result")]
fn secret(text: &str) -> Result<tallyfy_groups_api::Secret, String> {
    Ok(tallyfy_groups_api::Secret::new(text))
}

#[derive(Debug, Clone, Args)]
pub struct FileArgs {
    /// groups.yaml files or directories of *.yaml/*.yml files (repeatable; default groups.yaml,
    /// or the targets of a workspace file).
    #[arg(short = 'f', long = "file", value_name = "PATH")]
    pub files: Vec<PathBuf>,
}

impl FileArgs {
    /// The files given, or `groups.yaml`.
    pub fn paths(&self) -> Vec<PathBuf> {
        if self.files.is_empty() { vec![PathBuf::from(DEFAULT_FILE)] } else { self.files.clone() }
    }
}

/// The embedded sandbox's state file unless `--sandbox-state` says otherwise (with a workspace
/// file: in the workspace file's folder).
pub const DEFAULT_SANDBOX_STATE: &str = ".tallyfy-sandbox/state.json";

/// The groups file a single-organization run reads when no `-f` is given.
pub const DEFAULT_FILE: &str = tallyfy_groups_engine::pipeline::DEFAULT_FILE;

/// Several organizations from one repository: a workspace file maps target names to
/// organizations and their files (docs/workspaces.md).
#[derive(Debug, Clone, Args)]
pub struct WorkspaceArgs {
    /// The workspace file (default: tallyfy-groups.yaml in this directory or a parent, up to the
    /// repository root; never used with -f, --org or --api-url).
    #[arg(long, value_name = "FILE")]
    pub workspace: Option<PathBuf>,
    /// Only this target of the workspace file (repeatable; default: every target).
    #[arg(long = "target", value_name = "NAME")]
    pub targets: Vec<String>,
    /// Whether -f, --org or --api-url was given on the command line (a single-organization run);
    /// set after parsing.
    #[arg(skip)]
    pub single_org: bool,
}

#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Connection and credentials")]
pub struct ConnectArgs {
    /// Organization id.
    #[arg(long, env = "TALLYFY_ORG_ID")]
    pub org: Option<String>,
    /// API base URL (otherwise TALLYFY_API_URL or TALLYFY_BASE_URL; default
    /// https://go.tallyfy.com/api).
    #[arg(long, value_name = "URL")]
    pub api_url: Option<String>,
    /// File holding a personal access token (otherwise TALLYFY_ACCESS_TOKEN or TALLYFY_API_TOKEN).
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<PathBuf>,
    /// File holding the OAuth client secret (otherwise TALLYFY_CLIENT_SECRET); the client id comes
    /// from TALLYFY_CLIENT_ID. Client credentials are what pipelines should use.
    #[arg(long, value_name = "FILE")]
    pub client_secret_file: Option<PathBuf>,
    /// Where client credentials are exchanged for access tokens (default: the API URL with /api
    /// replaced by /oauth/token).
    #[arg(long, value_name = "URL", env = "TALLYFY_TOKEN_URL")]
    pub token_url: Option<String>,
    /// Concurrent API requests.
    #[arg(long, help_heading = "Pacing", default_value_t = tallyfy_groups_api::DEFAULT_PARALLELISM, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub parallelism: u16,
    /// Most API requests in any rolling minute, across all concurrent requests, in bursts below
    /// it (Tallyfy allows 600 per user); 0 = no client-side limit.
    #[arg(long, help_heading = "Pacing", value_name = "N", default_value_t = tallyfy_groups_api::retry::REQUESTS_PER_MINUTE)]
    pub max_requests_per_minute: u32,
    /// An extra ceiling: most API requests per second, evenly spaced (none unless given; 0.01 to 10000).
    #[arg(long, help_heading = "Pacing", value_name = "RPS", value_parser = max_rps)]
    pub max_rps: Option<f64>,
    /// Seconds before one request times out (1 to 3600).
    #[arg(long, help_heading = "Pacing", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub timeout: u64,
    /// Most seconds spent retrying one request before it fails (0 to 86400).
    #[arg(long, help_heading = "Pacing", default_value_t = 120, value_parser = clap::value_parser!(u64).range(0..=86_400))]
    pub max_retry_time: u64,
    /// Run against the embedded sandbox instead of Tallyfy (no token or org needed).
    #[arg(long)]
    pub sandbox: bool,
    /// State file of the embedded sandbox.
    #[arg(long, value_name = "FILE", default_value = DEFAULT_SANDBOX_STATE)]
    pub sandbox_state: PathBuf,
    /// Refused: a token on the command line ends up in shell history and process lists.
    #[arg(long, value_name = "TOKEN", hide = true)]
    pub token: Option<String>,
    /// Refused, as --token.
    #[arg(long, value_name = "KEY", hide = true)]
    pub api_key: Option<String>,
}

impl ConnectArgs {
    /// `--token` and `--api-key`, refused without showing the value.
    pub fn no_token_on_the_command_line(&self) -> Result<(), String> {
        let flag = match (&self.token, &self.api_key) {
            (Some(_), _) => "--token",
            (None, Some(_)) => "--api-key",
            (None, None) => return Ok(()),
        };
        Err(format!(
            "{flag} is not taken: a token on the command line ends up in shell history and process lists\n    hint: set TALLYFY_ACCESS_TOKEN (or the client credentials TALLYFY_CLIENT_ID and TALLYFY_CLIENT_SECRET), or pass --token-file FILE"
        ))
    }
}

#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Scope")]
pub struct TargetArgs {
    /// Only groups whose name matches this glob (repeatable).
    #[arg(long, value_name = "GLOB")]
    pub only: Vec<String>,
    /// Leave out groups whose name matches this glob (repeatable).
    #[arg(long, value_name = "GLOB")]
    pub exclude: Vec<String>,
    /// Additive only: never remove a member, guest or group.
    #[arg(long)]
    pub no_removals: bool,
    /// Plan (and apply) every group that resolves; a group with an unknown or refused member is
    /// reported as an error and left untouched, and the run exits 1.
    #[arg(long)]
    pub keep_going: bool,
    /// Let `command` sources of the groups files run (they never run otherwise: a pull request
    /// can edit the files, so the pipeline decides). Also TALLYFY_GROUPS_ALLOW_COMMANDS=1.
    #[arg(
        long,
        env = "TALLYFY_GROUPS_ALLOW_COMMANDS",
        help_heading = "Safety",
        action = clap::ArgAction::SetTrue,
        value_parser = clap::builder::BoolishValueParser::new()
    )]
    pub allow_command_sources: bool,
    /// Where groups are used (template steps and access, active processes, open tasks): `auto`
    /// reads it for the groups the plan deletes or empties, and a deleted group in use trips the
    /// removal guard; `always` for every group it changes; `never` reads nothing, and the plan
    /// says "usage not checked".
    #[arg(long, value_enum, value_name = "WHEN", default_value_t = UsageCheckArg::Auto, help_heading = "Safety")]
    pub usage_check: UsageCheckArg,
    /// Evaluate every `until` and review as of this day (YYYY-MM-DD; default: today in UTC):
    /// "what will change by next Monday?".
    #[arg(long, value_name = "DATE", value_parser = as_of)]
    pub as_of: Option<tallyfy_groups_core::date::Date>,
    /// The owners file: which file may define which groups (default: owners.yaml beside the first
    /// groups file, when it exists).
    #[arg(long, value_name = "FILE", help_heading = "Safety")]
    pub owners: Option<PathBuf>,
    /// The policy file: rules every plan must keep (group sizes, domains, groups never deleted,
    /// changes per group, guests only for a time); a violation makes plan and apply exit 3.
    /// Named by the pipeline, never by the groups files (a workspace target may name its own
    /// with `policy:`).
    #[arg(long, value_name = "FILE", env = "TALLYFY_GROUPS_POLICY", help_heading = "Safety")]
    pub policy: Option<PathBuf>,
    /// Let one policy rule give way for this run, with why (repeatable); recorded in the plan
    /// and in a saved one, but `apply PLAN` needs its own --allow-policy.
    #[arg(long, value_name = "RULE=REASON", value_parser = policy_override, help_heading = "Safety")]
    pub allow_policy: Vec<tallyfy_groups_core::policy::PolicyOverride>,
}

/// `--allow-policy`: `RULE=REASON`, both non-empty.
fn policy_override(text: &str) -> Result<tallyfy_groups_core::policy::PolicyOverride, String> {
    match text.split_once('=') {
        Some((rule, reason)) if !rule.trim().is_empty() && !reason.trim().is_empty() => {
            Ok(tallyfy_groups_core::policy::PolicyOverride { rule: rule.trim().to_string(), reason: reason.trim().to_string() })
        }
        _ => Err("write it as RULE=\"why\", such as finance-size=\"quarter-end hires, approved by the CFO\"".to_string()),
    }
}

/// `--as-of`: a day, `YYYY-MM-DD`.
fn as_of(text: &str) -> Result<tallyfy_groups_core::date::Date, String> {
    tallyfy_groups_core::date::Date::parse(text.trim())
}

/// `owners ...`.
#[derive(Debug, Clone, Subcommand)]
pub enum OwnersCommand {
    /// Print the CODEOWNERS lines of owners.yaml (its rules with reviewers, last rule first, since
    /// CODEOWNERS' last match wins); with --check, compare them with a CODEOWNERS file.
    #[command(after_help = help::OWNERS)]
    Codeowners {
        /// The owners file.
        #[arg(long, value_name = "FILE", default_value = "owners.yaml")]
        owners: PathBuf,
        /// Exit 1 when this CODEOWNERS file lacks a line, or gives one of the paths other owners.
        #[arg(long, value_name = "FILE")]
        check: Option<PathBuf>,
    },
}

/// `journal ...`.
#[derive(Debug, Clone, Subcommand)]
pub enum JournalCommand {
    /// Check that every line is an entry chained to the line before it (exit 1 names the first
    /// line that is not).
    #[command(after_help = help::JOURNAL_VERIFY)]
    Verify {
        /// The journal.
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
    /// Who changed what, when, and from which commit (the chain is verified first).
    #[command(after_help = help::JOURNAL_SHOW)]
    Show {
        /// The journal.
        #[arg(value_name = "FILE")]
        file: PathBuf,
        /// Runs started on this day or later (YYYY-MM-DD, UTC).
        #[arg(long, value_name = "DATE", value_parser = as_of)]
        since: Option<tallyfy_groups_core::date::Date>,
        /// Changes to groups whose name matches this glob (`Finance*`).
        #[arg(long, value_name = "GLOB", value_parser = group_glob)]
        group: Option<String>,
        /// Changes that gave or took this person's access.
        #[arg(long, value_name = "EMAIL")]
        person: Option<String>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = JournalFormat::Text)]
        format: JournalFormat,
    },
}

/// `journal show --format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum JournalFormat {
    /// One block per entry.
    Text,
    /// One JSON entry per line.
    Json,
}

fn group_glob(text: &str) -> Result<String, String> {
    tallyfy_groups_core::journal::group_pattern(text).map(|_| text.to_string())
}

/// `--usage-check`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum UsageCheckArg {
    Auto,
    Always,
    Never,
}

impl From<UsageCheckArg> for tallyfy_groups_core::usage::UsageCheck {
    fn from(a: UsageCheckArg) -> Self {
        match a {
            UsageCheckArg::Auto => Self::Auto,
            UsageCheckArg::Always => Self::Always,
            UsageCheckArg::Never => Self::Never,
        }
    }
}

impl TargetArgs {
    /// How the groups files' sources are read: identity providers with the same request
    /// timeout and retry budget as Tallyfy (`--timeout`, `--max-retry-time`).
    pub fn source_reader(&self, connect: &ConnectArgs) -> tallyfy_groups_sources::Reader {
        connect.source_reader(self.allow_command_sources)
    }
}

impl ConnectArgs {
    /// How the groups files' sources are read: identity providers with the same request timeout
    /// and retry budget as Tallyfy (`--timeout`, `--max-retry-time`); `command` sources run only
    /// when `allow_commands`.
    pub fn source_reader(&self, allow_commands: bool) -> tallyfy_groups_sources::Reader {
        tallyfy_groups_sources::Reader::new(tallyfy_groups_sources::ReadOptions {
            allow_commands,
            env: tallyfy_groups_sources::Environment::process(),
            http: tallyfy_groups_sources::HttpOptions {
                timeout: std::time::Duration::from_secs(self.timeout),
                max_wait: std::time::Duration::from_secs(self.max_retry_time),
                ..tallyfy_groups_sources::HttpOptions::default()
            },
        })
    }
}

#[derive(Debug, Clone, Args)]
pub struct PlanArgs {
    #[command(flatten)]
    pub files: FileArgs,
    #[command(flatten)]
    pub workspace: WorkspaceArgs,
    #[command(flatten)]
    pub connect: ConnectArgs,
    #[command(flatten)]
    pub target: TargetArgs,
    /// Output format.
    #[arg(long, help_heading = "Output", value_enum, default_value_t = PlanFormat::Text)]
    pub format: PlanFormat,
    /// Save the plan (JSON) for `apply PLAN`.
    #[arg(long, help_heading = "Output", value_name = "PLAN")]
    pub out: Option<PathBuf>,
    /// Exit 2 when there are changes, 0 when there are none.
    #[arg(long, help_heading = "Output")]
    pub detailed_exitcode: bool,
    /// The target branch's groups.yaml: changes are labelled as introduced here or as drift.
    /// With a workspace file: a checkout of the target branch, where each target's files are
    /// found at the same paths.
    #[arg(long, help_heading = "Output", value_name = "PATH")]
    pub baseline: Vec<PathBuf>,
    /// Accept the removals when the removal guard trips (plan exits 0/2 instead of 3); recorded
    /// with --out, but `apply PLAN` needs its own --allow-removals. With a workspace file,
    /// TARGET=REASON accepts them for one target (repeatable).
    #[arg(long, help_heading = "Safety", value_name = "REASON")]
    pub allow_removals: Vec<String>,
    #[command(flatten)]
    pub notify: NotifyArgs,
}

#[derive(Debug, Clone, Args)]
pub struct ApplyArgs {
    /// A plan saved with `plan --out`; applied exactly if nothing it relied on changed. Its
    /// removal-guard limits must equal those of the groups files (-f, or groups.yaml).
    #[arg(value_name = "PLAN", conflicts_with_all = ["only", "exclude", "no_removals", "keep_going"])]
    pub plan: Option<PathBuf>,
    #[command(flatten)]
    pub files: FileArgs,
    #[command(flatten)]
    pub workspace: WorkspaceArgs,
    #[command(flatten)]
    pub connect: ConnectArgs,
    #[command(flatten)]
    pub target: TargetArgs,
    /// Apply without asking (a saved plan, the reviewed one, is applied without asking anyway).
    #[arg(short = 'y', long, visible_alias = "yes", help_heading = "Safety")]
    pub auto_approve: bool,
    /// Ask before applying a saved plan too.
    #[arg(long, help_heading = "Safety", requires = "plan", conflicts_with = "auto_approve")]
    pub confirm: bool,
    /// Show the plan and apply nothing: the same as `plan` with these options.
    #[arg(long, help_heading = "Safety", conflicts_with_all = ["plan", "auto_approve", "confirm", "report", "all_or_nothing"])]
    pub dry_run: bool,
    /// Override the removal guard; the reason is logged and written to the report. With a
    /// workspace file, TARGET=REASON overrides it for one target (repeatable).
    #[arg(long, help_heading = "Safety", value_name = "REASON")]
    pub allow_removals: Vec<String>,
    /// With a workspace file: apply nothing unless every target planned, passed its guard and
    /// (for a saved plan) is not stale.
    #[arg(long, help_heading = "Safety")]
    pub all_or_nothing: bool,
    /// Write the per-action results as JSON.
    #[arg(long, help_heading = "Output", value_name = "FILE")]
    pub report: Option<PathBuf>,
    /// Append one hash-chained JSON line per target to this journal: what was applied (or why
    /// nothing was), by whom, from which commit.
    #[arg(long, help_heading = "Output", value_name = "FILE", env = "TALLYFY_GROUPS_JOURNAL")]
    pub journal: Option<PathBuf>,
    /// Guest invitations per hour after a first burst of as many (Tallyfy accepts about 30).
    #[arg(long, help_heading = "Pacing", default_value_t = tallyfy_groups_core::plan::GUEST_INVITES_PER_HOUR, value_parser = clap::value_parser!(u32).range(1..))]
    pub guest_invites_per_hour: u32,
    #[command(flatten)]
    pub notify: NotifyArgs,
}

impl ApplyArgs {
    /// `apply --dry-run`: the plan these options make.
    pub fn into_plan(self) -> PlanArgs {
        PlanArgs {
            files: self.files,
            workspace: self.workspace,
            connect: self.connect,
            target: self.target,
            format: PlanFormat::Text,
            out: None,
            detailed_exitcode: false,
            baseline: Vec::new(),
            allow_removals: self.allow_removals,
            notify: self.notify,
        }
    }
}

#[derive(Debug, Clone, Args)]
pub struct ExportArgs {
    #[command(flatten)]
    pub connect: ConnectArgs,
    #[command(flatten)]
    pub workspace: WorkspaceArgs,
    /// Write to this file instead of stdout (with a workspace file: instead of the target's
    /// `export_to`, or stdout without one).
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

/// `report ...`.
#[derive(Debug, Subcommand)]
pub enum ReportCommand {
    /// Who has access to each group now, set against the groups files (CSV or JSON).
    ///
    /// One row per group, kind and person (granted, not_in_file or pending), with where the
    /// files declare them, the source that yielded them, their last day and the group's scope.
    #[command(
        after_help = help::REPORT_ACCESS,
        mut_arg("targets", |a| a.help("The one target of the workspace file to report on (needed when it has several)")),
    )]
    Access(AccessArgs),
}

/// `report access --format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AccessFormat {
    /// A header and one line per row; cells a spreadsheet could read as a formula are neutralised.
    Csv,
    /// One JSON document: the organization, the day, the rows.
    Json,
}

#[derive(Debug, Clone, Args)]
pub struct AccessArgs {
    #[command(flatten)]
    pub files: FileArgs,
    #[command(flatten)]
    pub workspace: WorkspaceArgs,
    #[command(flatten)]
    pub connect: ConnectArgs,
    /// Output format.
    #[arg(long, help_heading = "Output", value_enum, default_value_t = AccessFormat::Csv)]
    pub format: AccessFormat,
    /// Only groups whose name matches this glob (repeatable).
    #[arg(long, value_name = "GLOB", help_heading = "Scope")]
    pub only: Vec<String>,
    /// Write to this file instead of stdout: atomically, and only once everything was read whole.
    #[arg(long, help_heading = "Output", value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Evaluate every `until` as of this day (YYYY-MM-DD; default: today in UTC): an entry whose
    /// day has passed grants nothing.
    #[arg(long, value_name = "DATE", value_parser = as_of, help_heading = "Scope")]
    pub as_of: Option<tallyfy_groups_core::date::Date>,
    /// Let `command` sources of the groups files run (as `plan` does). Also
    /// TALLYFY_GROUPS_ALLOW_COMMANDS=1.
    #[arg(
        long,
        env = "TALLYFY_GROUPS_ALLOW_COMMANDS",
        help_heading = "Safety",
        action = clap::ArgAction::SetTrue,
        value_parser = clap::builder::BoolishValueParser::new()
    )]
    pub allow_command_sources: bool,
}

#[derive(Debug, Clone, Args)]
pub struct SandboxArgs {
    /// Address to listen on (loopback unless told otherwise).
    #[arg(long, default_value = "127.0.0.1:8787")]
    pub listen: std::net::SocketAddr,
    /// Persist the state in this JSON file (every organization's; one organization alone is
    /// written in the format older versions read).
    #[arg(long, value_name = "FILE")]
    pub state: Option<PathBuf>,
    /// Seed this many deterministic users (in each organization new to the state; without any
    /// --seed-* option the sandbox starts with the demo organization that groups.example.yaml
    /// names).
    #[arg(long, default_value_t = 0, value_parser = seed_count)]
    pub seed_users: usize,
    /// Seed this many deterministic groups of about 25 members (in each new organization).
    #[arg(long, default_value_t = 0, value_parser = seed_count)]
    pub seed_groups: usize,
    /// Seed this many deterministic guests (in each new organization).
    #[arg(long, default_value_t = 0, value_parser = seed_count)]
    pub seed_guests: usize,
    /// Seed this many deterministic templates of five steps, assigned to the first half of the
    /// seeded groups (one in ten archived), each with one active process (in each new
    /// organization).
    #[arg(long, default_value_t = 0, value_parser = seed_count)]
    pub seed_templates: usize,
    /// Bearer token clients must send (it never expires); tokens from POST /oauth/token work too.
    #[arg(long, default_value = "sandbox-token")]
    pub token: String,
    /// Client id that POST /oauth/token accepts.
    #[arg(long, default_value = "sandbox-client")]
    pub client_id: String,
    /// Client secret that POST /oauth/token accepts.
    #[arg(long, default_value = "sandbox-secret")]
    pub client_secret: String,
    /// Seconds an access token from POST /oauth/token lasts (fractions allowed; Tallyfy's last 7
    /// days); later it is answered 401.
    #[arg(long, value_name = "SECONDS", default_value = "604800", value_parser = token_ttl)]
    pub token_ttl: f64,
    /// Requests an access token from POST /oauth/token is good for, then 401 (0 = no limit), so
    /// that a token expires mid-run without waiting.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub token_uses: u64,
    /// Organization id served (repeatable: each organization has users, groups and guests of its
    /// own, seeded alike; tokens and rate limits cover them all; duplicates count once); others
    /// are answered 403.
    #[arg(long, value_name = "ID", default_value = "sandbox")]
    pub org: Vec<String>,
    /// Milliseconds from a request's arrival to its answer, the server's own work included (at most 600000).
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u64).range(0..=600_000))]
    pub latency: u64,
    /// Fraction of requests answered 500/503 or dropped (0 to 1).
    #[arg(long, default_value_t = 0.0)]
    pub fault_rate: f64,
    /// Requests per second before answering 429 with Retry-After (0 = no limit).
    #[arg(long, default_value_t = 0.0)]
    pub rate_limit: f64,
    /// Requests in any rolling minute before answering 429 with Retry-After, as Tallyfy (which
    /// allows 600); answers then carry X-RateLimit-Limit and X-RateLimit-Remaining. 0 = no limit.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub rate_limit_per_minute: u32,
    /// Inject --fault-rate faults only into these methods (comma-separated, e.g. POST); all
    /// methods unless given.
    #[arg(long, value_name = "METHODS", value_delimiter = ',')]
    pub fault_methods: Vec<String>,
    /// Seed for the fault injection's random choices.
    #[arg(long, default_value_t = 1)]
    pub fault_seed: u64,
    /// New guests accepted per rolling hour (429 beyond, as Tallyfy); 0 = no limit.
    #[arg(long, default_value_t = 30)]
    pub guest_limit: u32,
    /// Answer like a misbehaving API, to test clients (repeatable): list-without-lists,
    /// junk-members, lying-pagination, edit-after-read, templates-without-steps, steps-as-data.
    #[arg(long, value_enum, value_name = "QUIRK")]
    pub quirk: Vec<SandboxQuirk>,
    /// Refuse group writes that list guests who do not exist yet (by default they are created, as
    /// Tallyfy documents, counting against --guest-limit).
    #[arg(long)]
    pub strict_guests: bool,
    /// Allow a non-loopback --listen address.
    #[arg(long)]
    pub allow_remote: bool,
}

/// What each command's `--help` ends with: two or three examples, and the exit codes.
mod help {
    pub(super) const MAIN: &str = "\
Examples:
  tallyfy-groups validate
  tallyfy-groups plan --sandbox -f groups.example.yaml
  tallyfy-groups apply --sandbox -f groups.example.yaml

Exit codes:
  0  success (plan --detailed-exitcode: no changes)
  1  error: bad input, configuration, API failure, partial apply, usage error
  2  plan --detailed-exitcode: changes present
  3  refused: a safety guard tripped, a saved plan is stale or for another target,
     or apply had neither a terminal nor --auto-approve

Run `tallyfy-groups COMMAND --help` for a command's options and examples.";

    pub(super) const VALIDATE: &str = "\
Examples:
  tallyfy-groups validate
  tallyfy-groups validate -f groups/ -f extra.yaml
  tallyfy-groups validate --format github

Exit codes:
  0  the files are valid
  1  a file is invalid or cannot be read (every problem is listed)";

    pub(super) const PLAN: &str = "\
Examples:
  tallyfy-groups plan
  tallyfy-groups plan --format markdown --baseline base/groups.yaml > plan.md
  tallyfy-groups plan --out plan.json --detailed-exitcode

Exit codes:
  0  success; with --detailed-exitcode, no changes
  1  error: bad input, configuration, API failure, an unresolved group with --keep-going
  2  with --detailed-exitcode: changes present
  3  refused: the removal guard tripped, so apply would refuse this plan";

    pub(super) const APPLY: &str = "\
Examples:
  tallyfy-groups apply
  tallyfy-groups apply -f groups.yaml --auto-approve --report report.json
  tallyfy-groups apply plan.json --auto-approve

Exit codes:
  0    applied; nothing to do; or cancelled at the prompt
  1    error, or some actions failed (the report lists each)
  3    refused: the removal guard tripped, a saved plan is stale or for another target,
       or neither a terminal nor --auto-approve
  130  interrupted (Ctrl-C or SIGTERM); the report is still printed and written";

    pub(super) const EXPORT: &str = "\
Examples:
  tallyfy-groups export > groups.yaml
  tallyfy-groups export --out groups.yaml

Exit codes:
  0  written
  1  error: configuration, API failure, or the file cannot be written";

    pub(super) const SCHEMA: &str = "\
Examples:
  tallyfy-groups schema > groups.schema.json
  tallyfy-groups schema --policy > policy.schema.json
  tallyfy-groups schema --plan > plan.schema.json

Exit codes:
  0  printed
  1  stdout cannot be written";

    pub(super) const OWNERS: &str = "\
Examples:
  tallyfy-groups owners codeowners > .github/CODEOWNERS
  tallyfy-groups owners codeowners --check .github/CODEOWNERS

Exit codes:
  0  printed, or the CODEOWNERS file agrees
  1  owners.yaml is invalid, or the CODEOWNERS file lacks a line or gives a path other owners";

    pub(super) const COMPLETIONS: &str = "\
Examples:
  tallyfy-groups completions bash > ~/.local/share/bash-completion/completions/tallyfy-groups
  tallyfy-groups completions zsh > ~/.zfunc/_tallyfy-groups

Exit codes:
  0  printed
  1  stdout cannot be written, or an unknown shell";

    pub(super) const COMPLETE_TARGETS: &str = "\
Examples:
  tallyfy-groups complete-targets

Exit codes:
  0  printed (nothing, where there is no workspace file or it cannot be read)";

    pub(super) const MAN: &str = "\
Examples:
  tallyfy-groups man | man -l -
  tallyfy-groups man --out-dir /usr/local/share/man/man1

Exit codes:
  0  printed or written
  1  a page cannot be written";

    pub(super) const SANDBOX: &str = "\
Examples:
  tallyfy-groups sandbox
  tallyfy-groups sandbox --org staging --org production --state sandbox.json
  tallyfy-groups sandbox --seed-users 500 --seed-groups 50 --fault-rate 0.1 --rate-limit-per-minute 600

Exit codes:
  0  stopped with Ctrl-C
  1  the sandbox cannot start (the address is taken, a bad state file, a bad option)";

    pub(super) const COMMENT: &str = "\
Examples:
  tallyfy-groups comment github --pr 42 --body-file plan.md
  tallyfy-groups comment gitlab --body-file plan.md

Exit codes:
  0  the comment was created or edited
  1  error: a missing token, the forge refused, or the body file cannot be read";

    pub(super) const COMMENT_GITHUB: &str = "\
Examples:
  tallyfy-groups comment github --pr 42 --body-file plan.md
  tallyfy-groups plan --format markdown | tallyfy-groups comment github --pr 42 --body-file -

Exit codes:
  0  the comment was created or edited
  1  error: a missing GITHUB_TOKEN, GitHub refused, or the body file cannot be read";

    pub(super) const JOURNAL: &str = "\
Examples:
  tallyfy-groups apply --auto-approve --journal journal.jsonl
  tallyfy-groups journal verify journal.jsonl
  tallyfy-groups journal show journal.jsonl --since 2026-03-01 --person bob@example.com

Exit codes:
  0  the chain is intact (and the entries were shown)
  1  a line breaks the chain (its number and why), or the file cannot be read";

    pub(super) const JOURNAL_VERIFY: &str = "\
Examples:
  tallyfy-groups journal verify journal.jsonl

Exit codes:
  0  N entries, chain intact
  1  a line breaks the chain (its number and why: empty, not JSON, unknown format_version,
     prev_sha256 mismatch), or the file cannot be read";

    pub(super) const JOURNAL_SHOW: &str = "\
Examples:
  tallyfy-groups journal show journal.jsonl --since 2026-03-01
  tallyfy-groups journal show journal.jsonl --group 'Finance*' --person bob@example.com
  tallyfy-groups journal show journal.jsonl --format json

Exit codes:
  0  shown (\"No entries.\" when none matches)
  1  a line breaks the chain, or the file cannot be read";

    pub(super) const REPORT: &str = "\
Examples:
  tallyfy-groups report access --out access.csv
  tallyfy-groups report access --format json --only 'Finance*'

Exit codes:
  0  written
  1  error: bad input, configuration, API failure, a list not read whole, or the file cannot be written";

    pub(super) const REPORT_ACCESS: &str = "\
Examples:
  tallyfy-groups report access --out access.csv
  tallyfy-groups report access --format json --only 'Finance*' --out access.json
  tallyfy-groups report access --sandbox -f groups.example.yaml --as-of 2026-06-30

Exit codes:
  0  written
  1  error: bad input, configuration, API failure, a group or source not read whole
     (nothing is written), or the file cannot be written";

    pub(super) const COMMENT_GITLAB: &str = "\
Examples:
  tallyfy-groups comment gitlab --body-file plan.md
  tallyfy-groups comment gitlab --project group/project --mr 7 --body-file plan.md --key prod

Exit codes:
  0  the comment was created or edited
  1  error: a missing GITLAB_TOKEN, GitLab refused, or the body file cannot be read";
}

/// Fewest and most requests per second `--max-rps` takes besides 0 (no limit).
pub const MAX_RPS_RANGE: std::ops::RangeInclusive<f64> = 0.01..=10_000.0;

/// `--max-rps`: 0 (no limit), or a rate in [`MAX_RPS_RANGE`].
fn max_rps(text: &str) -> Result<f64, String> {
    let rate: f64 = text.trim().parse().map_err(|_| format!("`{text}` is not a number"))?;
    if rate == 0.0 || MAX_RPS_RANGE.contains(&rate) {
        Ok(rate)
    } else {
        Err(format!("must be 0 (no limit) or from {} to {} requests per second", MAX_RPS_RANGE.start(), MAX_RPS_RANGE.end()))
    }
}

/// Longest `--token-ttl`: ten years.
const MAX_TOKEN_TTL: f64 = 10.0 * 365.0 * 86_400.0;

/// `--token-ttl`: seconds, from a millisecond to ten years.
fn token_ttl(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(s) if (0.001..=MAX_TOKEN_TTL).contains(&s) => Ok(s),
        _ => Err(format!("must be a number of seconds from 0.001 to {MAX_TOKEN_TTL}")),
    }
}

/// Most users, groups or guests the sandbox seeds.
const MAX_SEED: usize = 1_000_000;

fn seed_count(text: &str) -> Result<usize, String> {
    match text.trim().parse::<usize>() {
        Ok(n) if n <= MAX_SEED => Ok(n),
        _ => Err(format!("must be a whole number from 0 to {MAX_SEED}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_and_counts_are_checked() {
        assert_eq!(max_rps("0"), Ok(0.0));
        assert_eq!(max_rps(" 2.5"), Ok(2.5));
        for bad in ["1e-20", "-1", "NaN", "inf", "1e300", "x", "-0.5"] {
            assert!(max_rps(bad).is_err(), "{bad}");
        }
        assert_eq!(seed_count("1000000"), Ok(1_000_000));
        assert!(seed_count("1000001").is_err() && seed_count("-1").is_err());
        assert_eq!(token_ttl("0.5"), Ok(0.5));
        for bad in ["0", "-1", "NaN", "inf", "1e12", "x"] {
            assert!(token_ttl(bad).is_err(), "{bad}");
        }
    }
}

/// A way the sandbox misbehaves on purpose (`sandbox --quirk`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SandboxQuirk {
    /// The group list leaves out `members` and `guests` (reading one group gives them).
    ListWithoutLists,
    /// Every group answer holds a member that is not a user id.
    JunkMembers,
    /// The group list says `total_pages: 99999`.
    LyingPagination,
    /// Right after the first page of groups is served, a member is added to each group on it.
    EditAfterRead,
    /// The template list leaves out every template's steps (reading one template gives them).
    TemplatesWithoutSteps,
    /// Templates carry their steps as `{"data": [...]}`.
    StepsAsData,
}
