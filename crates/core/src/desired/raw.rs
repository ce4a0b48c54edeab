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
    /// Org members by email (preferred) or numeric user id; the group ends up with exactly these.
    /// Omitted means members are not managed.
    #[serde(default)]
    pub members: Field<Vec<Field<RawMember>>>,
    /// External guests by email (or `{email, first_name, last_name}`: the names are used when the guest is invited); the group ends up with exactly these. Omitted means not managed.
    #[serde(default)]
    pub guests: Field<Vec<Field<RawGuest>>>,
    /// Old names: a live group found under one of them is renamed instead of recreated.
    #[serde(default)]
    pub previously: Field<OneOrMany>,
    /// true: the group must not exist (it is deleted if it does).
    #[serde(default)]
    pub absent: Field<bool>,
}

/// A member as written: an email address or a numeric user id (`1005` and `"1005"` alike).
#[derive(Debug, Deserialize)]
#[serde(transparent)]
pub struct RawMember(pub String);

impl JsonSchema for RawMember {
    fn schema_name() -> Cow<'static, str> {
        "RawMember".into()
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

/// A guest: an email, or an email with the names used when the guest is invited.
#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(untagged)]
#[expect(missing_docs, reason = "a `///` on a variant would become a description in the JSON Schema (and change its shape)")]
pub enum RawGuest {
    #[serde(rename = "scalar")]
    Email(#[schemars(email)] String),
    #[serde(rename = "mapping")]
    Named(Box<RawNamedGuest>),
}

/// A guest written as a mapping.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawNamedGuest {
    /// The guest's email.
    #[schemars(email)]
    pub email: Field<String>,
    /// First name, used when the guest is invited.
    #[serde(default)]
    pub first_name: Field<String>,
    /// Last name, used when the guest is invited.
    #[serde(default)]
    pub last_name: Field<String>,
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
