//! Membership sources: where the people of a `{source: NAME}` entry come from (a CSV file, a
//! command, an LDAP directory, a named `list`), as the files declare them, and what reading one
//! yields. The declarations are parsed by [`crate::desired`]; the readers (I/O) live in the
//! `tallyfy-groups-sources` crate and return a [`SourceRead`] or a [`SourceFailure`]; the
//! expansion of entries into members, with each member's [`Provenance`], is pure. A failed,
//! partial or empty read is never a list of nobody: it is a [`SourceFailure`]. Pure; no I/O.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize};

use crate::desired::Location;
use crate::model::Email;

/// Default `timeout` of a command source.
pub const DEFAULT_COMMAND_TIMEOUT: Duration = Duration::from_secs(60);

/// Default `attribute` of an LDAP source.
pub const DEFAULT_LDAP_ATTRIBUTE: &str = "mail";

/// A source as declared under `sources:`.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceSpec {
    /// Its name (unique across all files).
    pub name: String,
    /// What it reads.
    pub kind: SourceKind,
    /// `allow_empty: true`: yielding nobody is not an error.
    pub allow_empty: bool,
    /// `unknown: warn`: an address that is no user of the organization is left out with a
    /// warning instead of failing.
    pub unknown: Unknown,
    /// Where its definition starts.
    pub at: Location,
    /// The folder of the file that defines it: relative paths are relative to it.
    pub dir: PathBuf,
}

/// What a source reads.
#[derive(Debug, Clone, PartialEq)]
pub enum SourceKind {
    /// A CSV file.
    Csv(CsvSpec),
    /// A command's standard output.
    Command(CommandSpec),
    /// An LDAP search.
    Ldap(LdapSpec),
    /// A list written in the file.
    List(Vec<(Email, Location)>),
    /// The users of an Okta group.
    Okta(OktaSpec),
    /// The users of a Microsoft Entra ID group.
    Entra(EntraSpec),
    /// The members of a Google Workspace group.
    Google(GoogleSpec),
    /// The members of a group of a SCIM 2.0 service.
    Scim(ScimSpec),
}

impl SourceKind {
    /// The kind's name, as in the grammar and in provenance (`csv`, `command`, `ldap`, `list`).
    pub fn label(&self) -> &'static str {
        match self {
            SourceKind::Csv(_) => "csv",
            SourceKind::Command(_) => "command",
            SourceKind::Ldap(_) => "ldap",
            SourceKind::List(_) => "list",
            SourceKind::Okta(_) => "okta",
            SourceKind::Entra(_) => "entra",
            SourceKind::Google(_) => "google",
            SourceKind::Scim(_) => "scim",
        }
    }
}

/// `csv: {path, column, where}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsvSpec {
    /// The file, already joined to the defining file's folder.
    pub path: PathBuf,
    /// The column of addresses, by header name (matched case-insensitively).
    pub column: String,
    /// Exact equality on other columns (header names matched case-insensitively); all must hold.
    pub filter: BTreeMap<String, String>,
}

/// `command: [argv...]`, run without a shell in the defining file's folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandSpec {
    /// The program and its arguments; a relative program path is relative to [`SourceSpec::dir`].
    pub argv: Vec<String>,
    /// Killed (its whole process group) after this long.
    pub timeout: Duration,
    /// Variables passed on besides `PATH` and `HOME`.
    pub env: Vec<String>,
}

/// `ldap: {url, starttls, base, filter, attribute, bind_dn_env, password_env, missing}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LdapSpec {
    /// `ldap://` or `ldaps://`.
    pub url: String,
    /// Upgrade an `ldap://` connection with StartTLS.
    pub starttls: bool,
    /// The search base.
    pub base: String,
    /// The search filter.
    pub filter: String,
    /// The attribute holding the address (default `mail`).
    pub attribute: String,
    /// The variables holding the bind DN and password; both or neither (anonymous bind).
    pub bind: Option<LdapBind>,
    /// An entry without the attribute.
    pub missing: Missing,
}

/// `okta: {url, group_id, token_env, attribute, missing}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OktaSpec {
    /// The organization's URL (`https://example.okta.com`), without a trailing `/`.
    pub url: String,
    /// The group's id.
    pub group_id: String,
    /// The variable holding the API token (sent as `SSWS <token>`).
    pub token_env: String,
    /// `profile.email` (true, the default) or `profile.login`.
    pub login: bool,
    /// A user without the attribute.
    pub missing: Missing,
}

/// `entra: {tenant, group_id, client_id_env, client_secret_env, transitive, attribute, missing,
/// authority_url, graph_url}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntraSpec {
    /// The tenant: its id or a verified domain.
    pub tenant: String,
    /// The group's object id.
    pub group_id: String,
    /// The variable holding the application's client id.
    pub client_id_env: String,
    /// The variable holding its client secret.
    pub client_secret_env: String,
    /// Nested groups flattened (`transitiveMembers`, the default) or direct members only.
    pub transitive: bool,
    /// `userPrincipalName` (true) instead of `mail` (false, the default).
    pub user_principal_name: bool,
    /// A user without the attribute (`null`: often a permission the application lacks).
    pub missing: Missing,
    /// The token service, without a trailing `/` (default [`ENTRA_AUTHORITY_URL`]).
    pub authority_url: String,
    /// Microsoft Graph, without a trailing `/` (default [`ENTRA_GRAPH_URL`]).
    pub graph_url: String,
}

/// `google: {group, token_env, derived, missing, directory_url}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GoogleSpec {
    /// The group's address (or id).
    pub group: String,
    /// The variable holding an OAuth access token.
    pub token_env: String,
    /// `includeDerivedMembership`: the members of nested groups too (default true).
    pub derived: bool,
    /// A member without an address.
    pub missing: Missing,
    /// The Admin SDK, without a trailing `/` (default [`GOOGLE_DIRECTORY_URL`]).
    pub directory_url: String,
}

/// `scim: {url, group_id, token_env, missing}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScimSpec {
    /// The service's base URL (`https://idp.example.com/scim/v2`), without a trailing `/`.
    pub url: String,
    /// The group's id.
    pub group_id: String,
    /// The variable holding the bearer token.
    pub token_env: String,
    /// A user without an address.
    pub missing: Missing,
}

/// Microsoft's token service.
pub const ENTRA_AUTHORITY_URL: &str = "https://login.microsoftonline.com";
/// Microsoft Graph.
pub const ENTRA_GRAPH_URL: &str = "https://graph.microsoft.com";
/// Google's Admin SDK.
pub const GOOGLE_DIRECTORY_URL: &str = "https://admin.googleapis.com";

/// The names of the variables a simple bind reads (never their values).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LdapBind {
    /// The variable holding the bind DN.
    pub dn_env: String,
    /// The variable holding the password.
    pub password_env: String,
}

/// `unknown:` of a source.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Unknown {
    /// An address that is no user fails, as a typed one does.
    #[default]
    Error,
    /// Left out with a warning.
    Warn,
}

/// `missing:` of an LDAP or identity-provider source.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Missing {
    /// An entry without the attribute fails the source.
    #[default]
    Error,
    /// Skipped with a warning.
    Skip,
}

/// One person a source yielded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    /// The address, normalised.
    pub email: Email,
    /// The CSV line it came from (CSV sources only).
    pub line: Option<usize>,
}

/// What one source yielded: every person (at most once each, in the order read) and warnings
/// (entries skipped by `missing: skip`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SourceRead {
    /// The people.
    pub people: Vec<Person>,
    /// What was left out, and why.
    pub warnings: Vec<String>,
}

/// A source that could not be read: the whole source fails, never part of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceFailure {
    /// The source's name.
    pub name: String,
    /// Its kind (`csv`, `command`, `ldap`, `list`).
    pub kind: &'static str,
    /// Where it is defined.
    pub at: Location,
    /// Why it failed, with what to do.
    pub reason: String,
}

impl fmt::Display for SourceFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "source {} ({}, defined at {}): {}", self.name, self.kind, self.at, self.reason)
    }
}

/// Where a member of a plan comes from: typed in a file, or yielded by a source.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Provenance {
    /// Typed as an entry of the group (or of a group it includes with `group:`).
    Static {
        /// `file:line:col` of the entry.
        at: String,
    },
    /// Yielded by a source.
    #[serde(untagged)]
    Source {
        /// The source's kind (`csv`, `command`, `ldap`, `list`), serialised as `kind`.
        kind: &'static str,
        /// The source's name.
        source: String,
        /// The CSV line, when the source is a CSV file.
        #[serde(skip_serializing_if = "Option::is_none")]
        line: Option<usize>,
    },
}

/// `{"kind": "static", "at": "file:line:col"}`, or a source's `{"kind", "source", "line"?}`.
impl schemars::JsonSchema for Provenance {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Provenance".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "Where a member comes from: typed in a file (`static`, with `at`), or yielded by a source (its kind, name and, for a CSV file, line).",
            "oneOf": [
                {
                    "type": "object",
                    "properties": {"kind": {"const": "static"}, "at": {"type": "string"}},
                    "required": ["kind", "at"],
                    "additionalProperties": false
                },
                {
                    "type": "object",
                    "properties": {
                        "kind": {"type": "string", "not": {"const": "static"}},
                        "source": {"type": "string"},
                        "line": {"type": "integer", "minimum": 1}
                    },
                    "required": ["kind", "source"],
                    "additionalProperties": false
                }
            ]
        })
    }
}

/// Read back as written (a saved plan carries the provenance of its members): `kind` is
/// `static` or one of the source kinds.
impl<'de> Deserialize<'de> for Provenance {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Written {
            kind: String,
            at: Option<String>,
            source: Option<String>,
            line: Option<usize>,
        }
        let w = Written::deserialize(d)?;
        let kind = match w.kind.as_str() {
            "static" => {
                let at = w.at.ok_or_else(|| serde::de::Error::missing_field("at"))?;
                return Ok(Provenance::Static { at });
            }
            "csv" => "csv",
            "command" => "command",
            "ldap" => "ldap",
            "list" => "list",
            other => return Err(serde::de::Error::unknown_variant(other, &["static", "csv", "command", "ldap", "list"])),
        };
        let source = w.source.ok_or_else(|| serde::de::Error::missing_field("source"))?;
        Ok(Provenance::Source { kind, source, line: w.line })
    }
}

impl Provenance {
    /// Whether a source yielded it (rather than a typed entry).
    pub fn is_source(&self) -> bool {
        matches!(self, Provenance::Source { .. })
    }
}

impl fmt::Display for Provenance {
    /// `csv:finance-hr:14`, `ldap:engineering`, `static`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Provenance::Static { .. } => f.write_str("static"),
            Provenance::Source { kind, source, line: Some(line) } => write!(f, "{kind}:{source}:{line}"),
            Provenance::Source { kind, source, line: None } => write!(f, "{kind}:{source}"),
        }
    }
}
