//! The raw shape of a groups.yaml file as serde types. The JSON Schema (`tallyfy-groups schema`)
//! is generated from these, and the loader deserialises every valid file into them as a final
//! cross-check, so the schema and the loader cannot drift apart. Pure; no I/O.

use schemars::JsonSchema;
use serde::Deserialize;

/// A groups.yaml file.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "groups.yaml", description = "Desired Tallyfy groups, managed by tallyfy-groups")]
pub struct RawFile {
    /// Settings for the whole desired state (in one file only).
    #[serde(default)]
    pub settings: Option<RawSettings>,
    /// The groups.
    pub groups: Vec<RawGroup>,
}

/// `settings:`; every key is optional (an omitted key takes its default; `null` is not a value).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawSettings {
    /// Delete live groups that are not listed (and not ignored). Default false.
    #[serde(default)]
    #[schemars(with = "bool")]
    pub prune: Option<bool>,
    /// Globs of live group names that are never read as managed and never touched.
    #[serde(default)]
    #[schemars(with = "OneOrMany")]
    pub ignore: Option<OneOrMany>,
    /// Description given to new groups that have none. Default "Managed in groups.yaml".
    #[serde(default)]
    #[schemars(length(min = 1))]
    #[schemars(with = "String")]
    pub default_description: Option<String>,
    /// Removal guard: most groups one apply may delete. Default 5.
    #[serde(default)]
    #[schemars(with = "u32")]
    pub max_deleted_groups: Option<u32>,
    /// Removal guard: largest share (0 to 1) of current memberships one apply may remove. Default 0.25.
    #[serde(default)]
    #[schemars(range(min = 0.0, max = 1.0))]
    #[schemars(with = "f64")]
    pub max_removed_ratio: Option<f64>,
    /// Removal guard: `max_removed_ratio` applies only when more memberships than this are removed. Default 10.
    #[serde(default)]
    #[schemars(with = "u32")]
    pub min_removed_for_ratio: Option<u32>,
    /// A member disabled in Tallyfy: `warn` (default: left out with a warning, as Tallyfy removes disabled users from groups itself) or `error`.
    #[serde(default)]
    pub disabled_members: Option<RawDisabledMembers>,
}

/// `settings.disabled_members`.
#[derive(Debug, Clone, Copy, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
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
    pub name: String,
    /// The description; omitted means "keep the live one" (new groups get default_description).
    #[serde(default)]
    #[schemars(length(min = 1))]
    #[schemars(with = "String")]
    pub description: Option<String>,
    /// Org members by email (preferred) or numeric user id; the group ends up with exactly these.
    /// Omitted means members are not managed.
    #[serde(default)]
    #[schemars(with = "Vec<RawMember>")]
    pub members: Option<Vec<RawMember>>,
    /// External guests by email (or `{email, first_name, last_name}`: the names are used when the guest is invited); the group ends up with exactly these. Omitted means not managed.
    #[serde(default)]
    #[schemars(with = "Vec<RawGuest>")]
    pub guests: Option<Vec<RawGuest>>,
    /// Old names: a live group found under one of them is renamed instead of recreated.
    #[serde(default)]
    #[schemars(with = "OneOrMany")]
    pub previously: Option<OneOrMany>,
    /// true: the group must not exist (it is deleted if it does).
    #[serde(default)]
    #[schemars(with = "bool")]
    pub absent: Option<bool>,
}

/// A member: an email address or a numeric user id.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum RawMember {
    /// A Tallyfy user id.
    Id(u64),
    /// An email address of an org member.
    Email(String),
}

/// One string or a list of strings.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

/// A guest: an email, or an email with the names used when the guest is invited.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum RawGuest {
    Email(#[schemars(email)] String),
    Named(RawNamedGuest),
}

/// A guest written as a mapping.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawNamedGuest {
    /// The guest's email.
    #[schemars(email)]
    pub email: String,
    /// First name, used when the guest is invited.
    #[serde(default)]
    pub first_name: Option<String>,
    /// Last name, used when the guest is invited.
    #[serde(default)]
    pub last_name: Option<String>,
}
