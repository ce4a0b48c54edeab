//! The grammar of groups.yaml, written once: the keys, their types and their documentation as
//! serde types. The loader deserialises every item of a file into these types (through `de.rs`,
//! which reports every problem with its location), the unknown-key hints come from the fields
//! serde expects, and the JSON Schema (`tallyfy-groups schema`) is generated from the same types.
//! Adding an optional key to a group is adding a `Field` to [`RawGroup`] (docs/architecture.md,
//! "Adding a key to groups.yaml"). Pure; no I/O.
//!
//! Two conventions of the loader's deserializer, both plain serde:
//! - every value is a [`Field`]: absent, or given with its span, so that one malformed value is
//!   reported and skipped without hiding the others; an optional key has `#[serde(default)]`,
//!   which is also what makes it optional in the schema (a required key that is missing reads
//!   as absent, and validation says so);
//! - an enum whose variants are named `scalar`, `list` or `mapping` is chosen by the shape of the
//!   value (so `OneOrMany` is "one string or a list of strings"); its schema is untagged. Other
//!   enums are chosen by the text of a scalar (`warn`, `error`).

use std::borrow::Cow;
use std::collections::BTreeMap;

use marked_yaml::{Span, Spanned};
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::de::Visitor;
use serde::{Deserialize, Deserializer};

/// A groups.yaml file.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "groups.yaml", description = "Desired Tallyfy groups, managed by tallyfy-groups")]
pub struct RawFile {
    /// Settings for the whole desired state (in one file only).
    #[serde(default)]
    #[schemars(with = "Option<RawSettings>")]
    pub settings: Field<RawSettings>,
    /// Named sources of members and guests (a CSV file, a command, an LDAP search, a list), used by `{source: NAME}` entries of any file; names are unique across all files.
    #[serde(default)]
    pub sources: Field<BTreeMap<String, Field<RawSource>>>,
    /// The groups.
    pub groups: Field<Vec<Field<RawGroup>>>,
}

impl RawFile {
    /// The key whose items the loader reads one at a time, so that a large file is never held
    /// whole; the other keys of the file are read as one [`RawFile`].
    pub const STREAMED_KEY: &'static str = "groups";
}

/// `settings:`; every key is optional (an omitted key takes its default; `null` is not a value).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawSettings {
    /// Delete live groups that are not listed (and not ignored). Default false.
    #[serde(default)]
    pub prune: Field<bool>,
    /// Globs of live group names that are never read as managed and never touched.
    #[serde(default)]
    pub ignore: Field<OneOrMany>,
    /// Description given to new groups that have none. Default "Managed in groups.yaml".
    #[serde(default)]
    #[schemars(length(min = 1))]
    pub default_description: Field<String>,
    /// Removal guard: most groups one apply may delete. Default 5.
    #[serde(default)]
    pub max_deleted_groups: Field<u32>,
    /// Removal guard: largest share (0 to 1) of current memberships one apply may remove. Default 0.25.
    #[serde(default)]
    #[schemars(range(min = 0.0, max = 1.0))]
    pub max_removed_ratio: Field<f64>,
    /// Removal guard: `max_removed_ratio` applies only when more memberships than this are removed. Default 10.
    #[serde(default)]
    pub min_removed_for_ratio: Field<u32>,
    /// A member disabled in Tallyfy: `warn` (default: left out with a warning, as Tallyfy removes disabled users from groups itself) or `error`.
    #[serde(default)]
    pub disabled_members: Field<RawDisabledMembers>,
    /// Entries whose `until` is at most this many days away are shown as expiring soon. Default 14.
    #[serde(default)]
    pub expiry_warning_days: Field<u32>,
    /// Every guest entry must carry an `until` at most this many days away (none: no rule).
    #[serde(default)]
    #[schemars(range(min = 1))]
    pub max_guest_days: Field<u32>,
    /// An `until` on a member entry may be at most this many days away (none: no rule).
    #[serde(default)]
    #[schemars(range(min = 1))]
    pub max_member_days: Field<u32>,
    /// A group whose `review` is overdue: `warn` (default: shown in every rendering) or `error` (validate and plan fail until `review.last` is updated).
    #[serde(default)]
    pub overdue_review: Field<RawOverdueReview>,
}

/// `settings.overdue_review`.
#[derive(Debug, Clone, Copy, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
#[expect(missing_docs, reason = "a `///` on a variant would become a description in the JSON Schema (and change its shape)")]
pub enum RawOverdueReview {
    Warn,
    Error,
}

/// `settings.disabled_members`.
#[derive(Debug, Clone, Copy, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
#[expect(missing_docs, reason = "a `///` on a variant would become a description in the JSON Schema (and change its shape)")]
pub enum RawDisabledMembers {
    Warn,
    Error,
}

/// One group.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawGroup {
    /// The group's name: unique regardless of case, at most 200 characters.
    #[schemars(length(min = 1, max = 200))]
    pub name: Field<String>,
    /// The description; omitted means "keep the live one" (new groups get default_description).
    #[serde(default)]
    #[schemars(length(min = 1))]
    pub description: Field<String>,
    /// Org members by email (preferred) or numeric user id, `{source: NAME}` (everyone a source yields) or `{group: NAME}` (every member of another group of these files); the group ends up with exactly these.
    /// Omitted means members are not managed.
    #[serde(default)]
    pub members: Field<Vec<Field<RawMember>>>,
    /// External guests by email (or `{email, first_name, last_name}`: the names are used when the guest is invited), or `{source: NAME}` (everyone a source yields); the group ends up with exactly these. Omitted means not managed.
    #[serde(default)]
    pub guests: Field<Vec<Field<RawGuest>>>,
    /// Old names: a live group found under one of them is renamed instead of recreated.
    #[serde(default)]
    pub previously: Field<OneOrMany>,
    /// true: the group must not exist (it is deleted if it does).
    #[serde(default)]
    pub absent: Field<bool>,
    /// `exact` (default): the group ends up with exactly its entries. `additive`: they are ensured, nobody is removed (people added by hand in Tallyfy stay).
    #[serde(default)]
    pub sync: Field<RawSync>,
    /// Under `sync: exact`: live members (or guests) matching one of these email globs or user ids are never removed and never added (service accounts, break-glass admins).
    #[serde(default)]
    pub keep: Field<Vec<Field<RawMemberId>>>,
    /// true: the group is managed elsewhere: it must exist, and is never created, updated, renamed or deleted. It has no other keys.
    #[serde(default)]
    pub external: Field<bool>,
    /// Periodic attestation: the group's members are reviewed every `every_days` days; `last` is the day of the last review (a merged pull request that updates it is the attestation).
    #[serde(default)]
    pub review: Field<RawReview>,
}

/// `sync:` of a group.
#[derive(Debug, Clone, Copy, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
#[expect(missing_docs, reason = "a `///` on a variant would become a description in the JSON Schema (and change its shape)")]
pub enum RawSync {
    Exact,
    Additive,
}

/// `review:` of a group.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawReview {
    /// Days between reviews.
    #[serde(default)]
    #[schemars(range(min = 1))]
    pub every_days: Field<u32>,
    /// The day of the last review, `YYYY-MM-DD`.
    #[serde(default)]
    #[schemars(regex(pattern = r"^\d{4}-\d{2}-\d{2}$"))]
    pub last: Field<String>,
}

/// A member as written: an email address or a numeric user id, or an entry naming others.
#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(untagged)]
#[expect(missing_docs, reason = "a `///` on a variant would become a description in the JSON Schema (and change its shape)")]
pub enum RawMember {
    #[serde(rename = "scalar")]
    Person(RawMemberId),
    #[serde(rename = "mapping")]
    Entry(Box<RawMemberEntry>),
}

/// A member written as a scalar: an email address or a numeric user id (`1005` and `"1005"` alike).
#[derive(Debug, Deserialize)]
#[serde(transparent)]
pub struct RawMemberId(pub String);

impl JsonSchema for RawMemberId {
    fn schema_name() -> Cow<'static, str> {
        "RawMemberId".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A member: an email address or a numeric user id.",
            "anyOf": [
                { "description": "A Tallyfy user id.", "type": "integer", "format": "uint64", "minimum": 0 },
                { "description": "An email address of an org member.", "type": "string" }
            ]
        })
    }
}

/// A member entry written as a mapping: exactly one of `email`, `id`, `source` and `group`, each
/// with an optional `until` (and `reason`).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(extend("oneOf" = [{ "required": ["email"] }, { "required": ["id"] }, { "required": ["source"] }, { "required": ["group"] }]))]
pub struct RawMemberEntry {
    /// An org member by email.
    #[serde(default)]
    #[schemars(email)]
    pub email: Field<String>,
    /// An org member by numeric user id.
    #[serde(default)]
    pub id: Field<RawMemberId>,
    /// The last day the entry grants access (`YYYY-MM-DD`, inclusive: access ends at 00:00 UTC the day after).
    #[serde(default)]
    #[schemars(regex(pattern = r"^\d{4}-\d{2}-\d{2}$"))]
    pub until: Field<String>,
    /// Why the entry is there (a ticket, say): shown in the plan.
    #[serde(default)]
    pub reason: Field<String>,
    /// Everyone the named source yields (a name under `sources:` of any file).
    #[serde(default)]
    #[schemars(length(min = 1))]
    pub source: Field<String>,
    /// Every member of another group of these files (by name, in any case), including those it takes from its own sources and groups.
    #[serde(default)]
    #[schemars(length(min = 1))]
    pub group: Field<String>,
}

/// One string or a list of strings.
#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(untagged)]
#[expect(missing_docs, reason = "a `///` on a variant would become a description in the JSON Schema (and change its shape)")]
pub enum OneOrMany {
    #[serde(rename = "scalar")]
    One(Field<String>),
    #[serde(rename = "list")]
    Many(Vec<Field<String>>),
}

impl OneOrMany {
    /// The strings, one or many.
    pub fn iter(&self) -> std::slice::Iter<'_, Field<String>> {
        match self {
            OneOrMany::One(v) => std::slice::from_ref(v).iter(),
            OneOrMany::Many(v) => v.iter(),
        }
    }
}

/// A guest: an email, an email with the names used when the guest is invited, or a source.
#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(untagged)]
#[expect(missing_docs, reason = "a `///` on a variant would become a description in the JSON Schema (and change its shape)")]
pub enum RawGuest {
    #[serde(rename = "scalar")]
    Email(#[schemars(email)] String),
    #[serde(rename = "mapping")]
    Named(Box<RawNamedGuest>),
}

/// A guest written as a mapping: `{email, first_name, last_name}`, or `{source}`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(extend("oneOf" = [{ "required": ["email"] }, { "required": ["source"] }]))]
pub struct RawNamedGuest {
    /// The guest's email.
    #[serde(default)]
    #[schemars(email)]
    pub email: Field<String>,
    /// First name, used when the guest is invited.
    #[serde(default)]
    pub first_name: Field<String>,
    /// Last name, used when the guest is invited.
    #[serde(default)]
    pub last_name: Field<String>,
    /// Everyone the named source yields, as guests (a name under `sources:` of any file).
    #[serde(default)]
    #[schemars(length(min = 1))]
    pub source: Field<String>,
    /// The last day the entry grants access (`YYYY-MM-DD`, inclusive: access ends at 00:00 UTC the day after).
    #[serde(default)]
    #[schemars(regex(pattern = r"^\d{4}-\d{2}-\d{2}$"))]
    pub until: Field<String>,
    /// Why the entry is there (a ticket, say): shown in the plan.
    #[serde(default)]
    pub reason: Field<String>,
}

/// A source under `sources:`: exactly one of `csv`, `command`, `ldap`, `list`, `okta`, `entra`,
/// `google` and `scim`, and the keys every kind takes.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(extend("oneOf" = [
    { "required": ["csv"] }, { "required": ["command"] }, { "required": ["ldap"] }, { "required": ["list"] },
    { "required": ["okta"] }, { "required": ["entra"] }, { "required": ["google"] }, { "required": ["scim"] }
]))]
pub struct RawSource {
    /// A CSV file with a header row: the addresses of one column, of the rows that match `where`.
    #[serde(default)]
    pub csv: Field<RawCsv>,
    /// A program and its arguments, run without a shell in the folder of the file that defines the source; it prints one address per line.
    #[serde(default)]
    #[schemars(length(min = 1))]
    pub command: Field<Vec<Field<String>>>,
    /// With `command`: seconds before the command is stopped. Default 60.
    #[serde(default)]
    #[schemars(range(min = 1))]
    pub timeout: Field<u64>,
    /// With `command`: names of environment variables passed on to it besides PATH and HOME.
    #[serde(default)]
    pub env: Field<Vec<Field<String>>>,
    /// An LDAP search: the addresses in one attribute of the entries found.
    #[serde(default)]
    pub ldap: Field<RawLdap>,
    /// Addresses written here: a named set, reusable by several groups.
    #[serde(default)]
    pub list: Field<Vec<Field<RawListEmail>>>,
    /// The users of an Okta group.
    #[serde(default)]
    pub okta: Field<RawOkta>,
    /// The users of a Microsoft Entra ID group.
    #[serde(default)]
    pub entra: Field<RawEntra>,
    /// The members of a Google Workspace group.
    #[serde(default)]
    pub google: Field<RawGoogle>,
    /// The members of a group of a SCIM 2.0 service.
    #[serde(default)]
    pub scim: Field<RawScim>,
    /// true: yielding nobody is not an error. Default false.
    #[serde(default)]
    pub allow_empty: Field<bool>,
    /// An address from this source that is no user of the organization: `error` (default: the plan fails) or `warn` (left out with a warning).
    #[serde(default)]
    pub unknown: Field<RawUnknown>,
}

/// An address of a `list` source.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(transparent)]
pub struct RawListEmail(#[schemars(email)] pub String);

/// `csv:` of a source.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawCsv {
    /// The file, relative to the folder of the file that defines the source.
    #[schemars(length(min = 1))]
    pub path: Field<String>,
    /// The header of the column that holds the addresses (matched regardless of case).
    #[schemars(length(min = 1))]
    pub column: Field<String>,
    /// Only the rows whose columns (by header, regardless of case) equal these values.
    #[serde(default, rename = "where")]
    pub filter: Field<BTreeMap<String, Field<String>>>,
}

/// `ldap:` of a source.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawLdap {
    /// The server: `ldaps://host[:port]` or `ldap://host[:port]`.
    #[schemars(length(min = 1), regex(pattern = r"^ldaps?://"))]
    pub url: Field<String>,
    /// true: upgrade an `ldap://` connection with StartTLS. Default false.
    #[serde(default)]
    pub starttls: Field<bool>,
    /// The search base (a DN).
    #[schemars(length(min = 1))]
    pub base: Field<String>,
    /// The search filter, e.g. `(memberOf=cn=eng,ou=groups,dc=example,dc=com)`.
    #[schemars(length(min = 1))]
    pub filter: Field<String>,
    /// The attribute that holds the address. Default `mail`.
    #[serde(default)]
    #[schemars(length(min = 1))]
    pub attribute: Field<String>,
    /// The environment variable holding the bind DN (with `password_env`; neither: anonymous bind).
    #[serde(default)]
    #[schemars(length(min = 1))]
    pub bind_dn_env: Field<String>,
    /// The environment variable holding the bind password (with `bind_dn_env`).
    #[serde(default)]
    #[schemars(length(min = 1))]
    pub password_env: Field<String>,
    /// An entry without the attribute: `error` (default: the source fails) or `skip` (left out with a warning).
    #[serde(default)]
    pub missing: Field<RawMissing>,
}

/// `okta:` of a source.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawOkta {
    /// The Okta organization's URL, e.g. `https://example.okta.com` (https; http only to loopback).
    #[schemars(length(min = 1), regex(pattern = r"^https?://"))]
    pub url: Field<String>,
    /// The group's id, e.g. `00g1abcd2EFGH3ijk4x7`.
    #[schemars(length(min = 1))]
    pub group_id: Field<String>,
    /// The environment variable holding the API token (sent as `SSWS <token>`).
    #[schemars(length(min = 1))]
    pub token_env: Field<String>,
    /// The profile attribute holding the address: `email` (default) or `login`.
    #[serde(default)]
    pub attribute: Field<RawOktaAttribute>,
    /// A user without the attribute: `error` (default: the source fails) or `skip` (left out with a warning).
    #[serde(default)]
    pub missing: Field<RawMissing>,
}

/// `entra:` of a source.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawEntra {
    /// The tenant: its id or a verified domain such as `contoso.onmicrosoft.com`.
    #[schemars(length(min = 1))]
    pub tenant: Field<String>,
    /// The group's object id.
    #[schemars(length(min = 1))]
    pub group_id: Field<String>,
    /// The environment variable holding the application's client id.
    #[schemars(length(min = 1))]
    pub client_id_env: Field<String>,
    /// The environment variable holding the application's client secret.
    #[schemars(length(min = 1))]
    pub client_secret_env: Field<String>,
    /// true (default): members of nested groups too; false: direct members only.
    #[serde(default)]
    pub transitive: Field<bool>,
    /// The user property holding the address: `mail` (default) or `userPrincipalName`.
    #[serde(default)]
    pub attribute: Field<RawEntraAttribute>,
    /// A user whose attribute is empty: `error` (default: the source fails) or `skip` (left out with a warning).
    #[serde(default)]
    pub missing: Field<RawMissing>,
    /// The token service. Default `https://login.microsoftonline.com`.
    #[serde(default)]
    #[schemars(length(min = 1), regex(pattern = r"^https?://"))]
    pub authority_url: Field<String>,
    /// Microsoft Graph. Default `https://graph.microsoft.com`.
    #[serde(default)]
    #[schemars(length(min = 1), regex(pattern = r"^https?://"))]
    pub graph_url: Field<String>,
}

/// `google:` of a source.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawGoogle {
    /// The group's address (or id), e.g. `sales@example.com`.
    #[schemars(length(min = 1))]
    pub group: Field<String>,
    /// The environment variable holding an OAuth access token with the `admin.directory.group.member.readonly` scope.
    #[schemars(length(min = 1))]
    pub token_env: Field<String>,
    /// true (default): members of nested groups too (`includeDerivedMembership`).
    #[serde(default)]
    pub derived: Field<bool>,
    /// A member without an address: `error` (default: the source fails) or `skip` (left out with a warning).
    #[serde(default)]
    pub missing: Field<RawMissing>,
    /// The Admin SDK. Default `https://admin.googleapis.com`.
    #[serde(default)]
    #[schemars(length(min = 1), regex(pattern = r"^https?://"))]
    pub directory_url: Field<String>,
}

/// `scim:` of a source.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawScim {
    /// The service's base URL, e.g. `https://idp.example.com/scim/v2`.
    #[schemars(length(min = 1), regex(pattern = r"^https?://"))]
    pub url: Field<String>,
    /// The group's id.
    #[schemars(length(min = 1))]
    pub group_id: Field<String>,
    /// The environment variable holding the bearer token.
    #[schemars(length(min = 1))]
    pub token_env: Field<String>,
    /// A user without an address: `error` (default: the source fails) or `skip` (left out with a warning).
    #[serde(default)]
    pub missing: Field<RawMissing>,
}

/// `attribute:` of an Okta source.
#[derive(Debug, Clone, Copy, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
#[expect(missing_docs, reason = "a `///` on a variant would become a description in the JSON Schema (and change its shape)")]
pub enum RawOktaAttribute {
    Email,
    Login,
}

/// `attribute:` of an Entra source.
#[derive(Debug, Clone, Copy, Deserialize, JsonSchema)]
#[expect(missing_docs, reason = "a `///` on a variant would become a description in the JSON Schema (and change its shape)")]
pub enum RawEntraAttribute {
    #[serde(rename = "mail")]
    Mail,
    #[serde(rename = "userPrincipalName")]
    UserPrincipalName,
}

/// `unknown:` of a source.
#[derive(Debug, Clone, Copy, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
#[expect(missing_docs, reason = "a `///` on a variant would become a description in the JSON Schema (and change its shape)")]
pub enum RawUnknown {
    Error,
    Warn,
}

/// `missing:` of an LDAP or identity-provider source.
#[derive(Debug, Clone, Copy, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
#[expect(missing_docs, reason = "a `///` on a variant would become a description in the JSON Schema (and change its shape)")]
pub enum RawMissing {
    Error,
    Skip,
}

/// The keys of a mapping type of the grammar, as serde expects them (empty for other types).
pub fn keys<'de, T: Deserialize<'de>>() -> &'static [&'static str] {
    super::de::shape_of::<T>().map(|(_, fields)| fields).unwrap_or_default()
}

/// One key's value as written: absent, or given at a place in the file, where the value is
/// `None` when it did not have the shape its type asks for (the loader has then reported what
/// was wrong, where; see `de.rs`).
#[derive(Debug)]
pub struct Field<T>(Option<Spanned<Checked<T>>>);

/// A value, or `None` when it could not be read as a `T`.
#[derive(Debug)]
pub struct Checked<T>(Option<T>);

impl<T> Default for Field<T> {
    fn default() -> Self {
        Field(None)
    }
}

impl<T> Field<T> {
    /// Whether the key was written at all (even with a malformed value).
    pub fn is_given(&self) -> bool {
        self.0.is_some()
    }

    /// Where the value was written, when the key was.
    pub fn span(&self) -> Option<&Span> {
        self.0.as_ref().map(|s| s.span())
    }

    /// The value and where it was written, when it was written with the right shape.
    pub fn get(&self) -> Option<(&Span, &T)> {
        let s = self.0.as_ref()?;
        Some((s.span(), s.0.as_ref()?))
    }

    /// The value, when it was written with the right shape.
    pub fn value(&self) -> Option<&T> {
        self.get().map(|(_, v)| v)
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Field<T> {
    /// Like an `Option`: a key that is not written is absent (serde asks for `None` then);
    /// the loader's deserializer always has a value for a key that is written.
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Given<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for Given<T> {
            type Value = Field<T>;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a value")
            }

            fn visit_none<E: serde::de::Error>(self) -> Result<Field<T>, E> {
                Ok(Field(None))
            }

            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Field<T>, D::Error> {
                Spanned::<Checked<T>>::deserialize(d).map(|s| Field(Some(s)))
            }
        }
        d.deserialize_option(Given(std::marker::PhantomData))
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Checked<T> {
    /// Never fails: the loader's deserializer reports a problem where it finds it, and the value
    /// is then left out, so that the rest of the item is still read and checked.
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Checked(T::deserialize(d).ok()))
    }
}

/// A field's schema is its value's: a key may be left out, but `null` is not a value.
impl<T: JsonSchema> JsonSchema for Field<T> {
    fn inline_schema() -> bool {
        T::inline_schema()
    }

    fn schema_name() -> Cow<'static, str> {
        T::schema_name()
    }

    fn schema_id() -> Cow<'static, str> {
        T::schema_id()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        T::json_schema(generator)
    }
}
