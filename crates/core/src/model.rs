//! Domain types shared by every layer: newtype ids, emails, live groups and directory entries.
//! Pure data; no I/O.

use std::collections::BTreeSet;
use std::fmt;

use serde::{Deserialize, Serialize};

/// A Tallyfy organization id.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(transparent)]
pub struct OrgId(pub String);

impl OrgId {
    /// Whether the id can go into a URL path as it is: letters, digits, `-` and `_` only.
    pub fn is_plain(&self) -> bool {
        !self.0.is_empty() && self.0.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    }

    /// The id's text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for OrgId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl From<&str> for OrgId {
    fn from(s: &str) -> Self {
        OrgId(s.to_string())
    }
}

impl From<String> for OrgId {
    fn from(s: String) -> Self {
        OrgId(s)
    }
}

/// A Tallyfy user id (an integer on the wire).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(transparent)]
pub struct UserId(pub u64);

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A Tallyfy group id (a 32-hex string on the wire).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(transparent)]
pub struct GroupId(pub String);

impl fmt::Display for GroupId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// An email address, normalised to lower case so that comparisons are case-insensitive.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(transparent)]
pub struct Email(String);

impl Email {
    /// Normalises (trims, lower-cases) without checking the syntax; see [`Email::parse`].
    pub fn new(raw: &str) -> Self {
        Email(raw.trim().to_lowercase())
    }

    /// Parses and normalises an email, or says what is wrong with it.
    ///
    /// ```
    /// use tallyfy_groups_core::model::Email;
    /// assert_eq!(Email::parse(" Alice@Example.com").unwrap().as_str(), "alice@example.com");
    /// assert_eq!(Email::parse("alice.example.com"), Err("has no '@'"));
    /// ```
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        let s = raw.trim();
        let Some((local, domain)) = s.rsplit_once('@') else {
            return Err("has no '@'");
        };
        if local.is_empty() {
            return Err("has nothing before the '@'");
        }
        if local.contains('@') {
            return Err("has more than one '@'");
        }
        if domain.is_empty() || !domain.contains('.') {
            return Err("has no domain with a dot after the '@'");
        }
        if domain.starts_with('.') || domain.ends_with('.') || domain.contains("..") {
            return Err("has a malformed domain");
        }
        if s.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err("contains white space");
        }
        Ok(Email::new(s))
    }

    /// The normalised address.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A user's state in the organization.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UserStatus {
    /// An active member.
    Active,
    /// Invited, not yet joined.
    Invited,
    /// Disabled: Tallyfy takes them out of groups itself.
    Disabled,
    /// Any status this version does not know; treated like `active`.
    #[serde(other)]
    Other,
}

impl fmt::Display for UserStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            UserStatus::Active => "active",
            UserStatus::Invited => "invited",
            UserStatus::Disabled => "disabled",
            UserStatus::Other => "another status",
        })
    }
}

/// An organization member, as the user directory lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    /// The user's id.
    pub id: UserId,
    /// Their email (empty for accounts without one).
    pub email: Email,
    /// Their first name.
    pub first_name: String,
    /// Their last name.
    pub last_name: String,
    /// Their state in the organization.
    pub status: UserStatus,
}

impl User {
    /// "First Last", or the email when the user has no name.
    pub fn display_name(&self) -> String {
        let name = format!("{} {}", self.first_name.trim(), self.last_name.trim());
        let name = name.trim();
        if name.is_empty() { self.email.to_string() } else { name.to_string() }
    }
}

/// An external guest of the organization, keyed by email.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Guest {
    /// The guest's email.
    pub email: Email,
    /// Their first name.
    pub first_name: String,
    /// Their last name.
    pub last_name: String,
}

/// A group as Tallyfy holds it now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LiveGroup {
    /// The group's id.
    pub id: GroupId,
    /// Its name.
    pub name: String,
    /// Its description.
    pub description: String,
    /// Its members' user ids.
    pub members: BTreeSet<UserId>,
    /// Its guests' emails.
    pub guests: BTreeSet<Email>,
    /// Lists the API did not return whole: `members`/`guests` above are then not the truth,
    /// and the group is never written. Empty for a fully known group.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unread: Vec<Unread>,
}

/// One of a group's lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupList {
    /// `members`: user ids.
    Members,
    /// `guests`: emails.
    Guests,
}

impl fmt::Display for GroupList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            GroupList::Members => "members",
            GroupList::Guests => "guests",
        })
    }
}

/// Why a list of a live group is not fully known.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "problem", rename_all = "snake_case")]
pub enum ListProblem {
    /// The field was missing from the answer.
    Absent,
    /// The field was `null`.
    Null,
    /// The field was not a JSON list.
    NotAList,
    /// An element is not a user id (members) or an email (guests).
    BadElement {
        /// Its position in the list, from 0.
        index: usize,
        /// What it was, as JSON (cut after 40 characters).
        value: String,
    },
}

/// A list of a live group that was not read whole.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Unread {
    /// Which list.
    pub list: GroupList,
    /// What was wrong with it.
    #[serde(flatten)]
    pub problem: ListProblem,
}

impl fmt::Display for Unread {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list = self.list;
        match &self.problem {
            ListProblem::Absent => write!(f, "`{list}` was missing from the answer"),
            ListProblem::Null => write!(f, "`{list}` was null"),
            ListProblem::NotAList => write!(f, "`{list}` was not a list"),
            ListProblem::BadElement { index, value } => {
                let what = if list == GroupList::Members { "a user id" } else { "an email" };
                write!(f, "`{list}[{index}]` is {value}, not {what}")
            }
        }
    }
}

/// Why a live group cannot be managed at all (it is listed, never written).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Unmanageable {
    /// The name is empty or blank.
    BlankName,
    /// The id is empty, `.`/`..`, or holds characters other than letters, digits, `-`, `_`, `.`, `~`.
    BadId,
}

impl fmt::Display for Unmanageable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Unmanageable::BlankName => "its name is blank",
            Unmanageable::BadId => "its id is not a plain path segment",
        })
    }
}

impl LiveGroup {
    /// Memberships (members + guests) a plan could remove, leaving out the lists in `unmanaged`.
    pub fn removable_memberships(&self, unmanaged: &[GroupList]) -> usize {
        let count = |list: GroupList, n: usize| if unmanaged.contains(&list) { 0 } else { n };
        count(GroupList::Members, self.members.len()) + count(GroupList::Guests, self.guests.len())
    }

    /// Whether both lists were read whole.
    pub fn is_fully_known(&self) -> bool {
        self.unread.is_empty()
    }

    /// Why this group can never be written, if it cannot.
    pub fn unmanageable(&self) -> Option<Unmanageable> {
        if self.name.trim().is_empty() {
            return Some(Unmanageable::BlankName);
        }
        let id = self.id.0.as_str();
        let plain = !id.is_empty()
            && id != "."
            && id != ".."
            && id.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~'));
        if !plain {
            return Some(Unmanageable::BadId);
        }
        None
    }

    /// Members plus guests: the memberships the removal guard counts.
    pub fn membership_count(&self) -> usize {
        self.members.len() + self.guests.len()
    }
}

/// Everything read from Tallyfy that a plan depends on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LiveState {
    /// Every group.
    pub groups: Vec<LiveGroup>,
    /// Every user.
    pub users: Vec<User>,
    /// `None` when the guest list was not read (the desired state names no guests).
    pub guests: Option<Vec<Guest>>,
}

/// The key under which group names match: names with the same key are one group (Tallyfy treats
/// names as unique regardless of case), so a live group found under a desired name's key is that
/// group, renamed if the text differs, never deleted and created anew. The name is trimmed,
/// compatibility-normalised (NFKC: `Cafe\u{301}` and `Café`, `ﬁ` and `fi`, full-width and ASCII
/// letters, a no-break space and a space) and case-folded (`Ops` and `OPS`, `ß` and `ss`, `ς`
/// and `σ`, `İ` and `i̇`; the dotless `I` stays another letter than `İ`).
///
/// ```
/// use tallyfy_groups_core::model::name_key;
/// assert_eq!(name_key("Cafe\u{301} Team"), name_key("CAFÉ team"));
/// assert_eq!(name_key("\u{fb01}nance"), name_key("Finance"));
/// assert_ne!(name_key("Café"), name_key("Cafe"));
/// ```
pub fn name_key(name: &str) -> String {
    use unicode_normalization::UnicodeNormalization;
    let folded: String = name.trim().nfkd().flat_map(fold_case).collect();
    folded.nfkc().collect::<String>().trim().to_string()
}

/// Unicode's full case folding of one character (what `char::to_lowercase` gives, but for the
/// few letters whose folding is not their lower case).
fn fold_case(c: char) -> impl Iterator<Item = char> {
    let (first, second) = match c {
        'ß' | '\u{1e9e}' => (Some('s'), Some('s')),
        'ς' => (Some('σ'), None),
        '\u{345}' => (Some('ι'), None),
        _ => (None, None),
    };
    let lower = first.is_none().then(|| c.to_lowercase()).into_iter().flatten();
    first.into_iter().chain(second).chain(lower)
}

/// Looks users up by id: what the planner needs of the user directory.
pub trait UserLookup {
    /// The user with this id, if there is one.
    fn user(&self, id: UserId) -> Option<&User>;
}

/// A group's complete state, as sent to or read from Tallyfy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupState {
    /// The group's name.
    pub name: String,
    /// Its description.
    pub description: String,
    /// Sorted.
    pub members: Vec<UserId>,
    /// Sorted.
    pub guests: Vec<Email>,
}

impl GroupState {
    /// The state of a live group.
    pub fn from_live(g: &LiveGroup) -> Self {
        GroupState {
            name: g.name.clone(),
            description: g.description.clone(),
            members: g.members.iter().copied().collect(),
            guests: g.guests.iter().cloned().collect(),
        }
    }

    /// Members and guests together.
    pub fn membership_count(&self) -> usize {
        self.members.len() + self.guests.len()
    }
}

/// How apply builds one field of an update's body.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Carry {
    /// The file manages the field: the planned value is sent as it is.
    #[default]
    No,
    /// The file does not manage the field: the value is whatever Tallyfy holds right before the write.
    Kept,
    /// `--no-removals` or `sync: additive`: the planned additions on top of what Tallyfy holds
    /// right before the write.
    AddOnly,
    /// `keep:`: the planned additions and removals applied to what Tallyfy holds right before
    /// the write, so that people the group keeps (added since the plan, too) stay.
    Delta,
}

impl Carry {
    fn is_no(&self) -> bool {
        *self == Carry::No
    }
}

/// Which fields of an update carry values from the live read. Apply re-reads the group right
/// before such an update, so a change made in Tallyfy since the plan is not undone.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Carried {
    /// The description is Tallyfy's, not the file's.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub description: bool,
    /// How the members are built.
    #[serde(default, skip_serializing_if = "Carry::is_no")]
    pub members: Carry,
    /// How the guests are built.
    #[serde(default, skip_serializing_if = "Carry::is_no")]
    pub guests: Carry,
}

impl Carried {
    /// Whether any field comes from the live read (and so needs a re-read before the write).
    pub fn any(&self) -> bool {
        self.description || !self.members.is_no() || !self.guests.is_no()
    }

    /// The body to send, given the group as read right before the write.
    pub fn body(&self, before: &GroupState, after: &GroupState, fresh: &LiveGroup) -> GroupState {
        fn list<T: Ord + Clone>(carry: Carry, before: &[T], after: &[T], fresh: &BTreeSet<T>) -> Vec<T> {
            match carry {
                Carry::No => after.to_vec(),
                Carry::Kept => fresh.iter().cloned().collect(),
                Carry::AddOnly => {
                    let before: BTreeSet<&T> = before.iter().collect();
                    let mut out = fresh.clone();
                    out.extend(after.iter().filter(|x| !before.contains(x)).cloned());
                    out.into_iter().collect()
                }
                Carry::Delta => {
                    let (b, a): (BTreeSet<&T>, BTreeSet<&T>) = (before.iter().collect(), after.iter().collect());
                    let mut out: BTreeSet<T> = fresh.iter().filter(|x| !b.contains(x) || a.contains(x)).cloned().collect();
                    out.extend(after.iter().filter(|x| !b.contains(x)).cloned());
                    out.into_iter().collect()
                }
            }
        }
        GroupState {
            name: after.name.clone(),
            description: if self.description { fresh.description.clone() } else { after.description.clone() },
            members: list(self.members, &before.members, &after.members, &fresh.members),
            guests: list(self.guests, &before.guests, &after.guests, &fresh.guests),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_normalises_case_and_space() {
        assert_eq!(Email::parse(" Alice@Example.COM ").unwrap().as_str(), "alice@example.com");
    }

    #[test]
    fn email_rejects_malformed() {
        for bad in ["alice", "@example.com", "alice@", "alice@example", "a b@example.com", "a@b@c.com", "a@.com", "a@x..com"] {
            assert!(Email::parse(bad).is_err(), "{bad} should be rejected");
        }
    }

    #[test]
    fn display_name_falls_back_to_email() {
        let u = User {
            id: UserId(1),
            email: Email::new("x@y.z"),
            first_name: " ".into(),
            last_name: String::new(),
            status: UserStatus::Active,
        };
        assert_eq!(u.display_name(), "x@y.z");
    }

    #[test]
    fn names_match_across_unicode_forms_compatibility_characters_and_case() {
        for (a, b) in [
            ("Cafe\u{301}", "Café"),
            ("CAFE\u{301}", "café"),
            ("\u{fb01}nance", "Finance"),
            ("Ｆｉｎａｎｃｅ", "finance"),
            ("\u{130}stanbul", "I\u{307}stanbul"),
            ("\u{130}STANBUL", "i\u{307}stanbul"),
            ("Straße", "STRASSE"),
            ("Stra\u{1e9e}e", "strasse"),
            ("ΟΔΟΣ", "οδος"),
            ("ΟΔΟΣ Α", "οδοσ α"),
            ("\u{1f88}", "\u{1f00}\u{3b9}"),
            ("Ops\u{a0}Team", "ops team"),
            (" Sales ", "sales"),
        ] {
            assert_eq!(name_key(a), name_key(b), "{a:?} and {b:?}");
        }
        for (a, b) in [("Café", "Cafe"), ("\u{130}stanbul", "Istanbul"), ("Sales", "Sales Team")] {
            assert_ne!(name_key(a), name_key(b), "{a:?} and {b:?}");
        }
    }

    #[test]
    fn the_name_key_is_its_own_key() {
        for c in (0..=0x2ffffu32).filter_map(char::from_u32) {
            let key = name_key(&format!("a{c}"));
            assert_eq!(name_key(&key), key, "U+{:04X}", u32::from(c));
        }
    }
}
