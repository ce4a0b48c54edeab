//! Domain types shared by every layer: newtype ids, emails, live groups and directory entries.
//! Pure data; no I/O.

use std::collections::BTreeSet;
use std::fmt;

use serde::{Deserialize, Serialize};

/// A Tallyfy user id (an integer on the wire).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct UserId(pub u64);

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A Tallyfy group id (a 32-hex string on the wire).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct GroupId(pub String);

impl fmt::Display for GroupId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// An email address, normalised to lower case so that comparisons are case-insensitive.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
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
    Active,
    Invited,
    Disabled,
    /// Any status this version does not know; treated like `active`.
    #[serde(other)]
    Other,
}

/// An organization member, as the user directory lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub id: UserId,
    pub email: Email,
    pub first_name: String,
    pub last_name: String,
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
    pub email: Email,
    pub first_name: String,
    pub last_name: String,
}

/// A group as Tallyfy holds it now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LiveGroup {
    pub id: GroupId,
    pub name: String,
    pub description: String,
    pub members: BTreeSet<UserId>,
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
    Members,
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
    BadElement { index: usize, value: String },
}

/// A list of a live group that was not read whole.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Unread {
    pub list: GroupList,
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
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
    pub groups: Vec<LiveGroup>,
    pub users: Vec<User>,
    /// `None` when the guest list was not read (the desired state names no guests).
    pub guests: Option<Vec<Guest>>,
}

/// Case-insensitive key for group names (Tallyfy treats names as unique regardless of case).
pub fn name_key(name: &str) -> String {
    name.trim().to_lowercase()
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
}
