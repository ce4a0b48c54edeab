//! Wire DTOs of the Tallyfy API and their conversion to domain types. Pure; no I/O.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use tallyfy_groups_core::model::{Email, GroupId, GroupList, Guest, ListProblem, LiveGroup, Unread, User, UserId, UserStatus};

/// `{"data": ..., "meta": ...}`.
#[derive(Debug, Deserialize)]
pub struct Envelope<T> {
    /// The answer's content: one item or a page of a list.
    pub data: T,
    /// The list's `meta`, if any.
    #[serde(default)]
    pub meta: Option<Meta>,
}

/// A list answer's `meta`.
#[derive(Debug, Default, Deserialize)]
pub struct Meta {
    /// How the list is paged, if it says.
    #[serde(default)]
    pub pagination: Option<Pagination>,
}

/// `meta.pagination`; `links` may be an object, `{}`, `[]` or null and is not used.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct Pagination {
    /// The items in the whole list.
    #[serde(default)]
    pub total: Option<u64>,
    /// The items on this page.
    #[serde(default)]
    pub count: Option<u64>,
    /// The items a full page holds.
    #[serde(default)]
    pub per_page: Option<u64>,
    /// This page's number, from 1.
    #[serde(default)]
    pub current_page: Option<u64>,
    /// The pages of the whole list.
    #[serde(default)]
    pub total_pages: Option<u64>,
    /// Links to other pages (not used).
    #[serde(default)]
    pub links: serde_json::Value,
}

/// A group as the API writes it. `members` and `guests` are read loosely, so that an answer
/// that leaves them out, nulls them or holds junk is recorded as not fully known (never as an
/// empty list, which the next PUT would write back).
#[derive(Debug, Deserialize)]
pub struct WireGroup {
    /// The group's id.
    pub id: String,
    /// Its name.
    #[serde(default)]
    pub name: Option<String>,
    /// Its description.
    #[serde(default)]
    pub description: Option<String>,
    /// Its members' user ids, as sent: `None` when left out.
    #[serde(default, deserialize_with = "present")]
    pub members: Option<serde_json::Value>,
    /// Its guests' emails, as sent: `None` when left out.
    #[serde(default, deserialize_with = "present")]
    pub guests: Option<serde_json::Value>,
}

/// Distinguishes a missing field (`None`, from `default`) from `null` (`Some(Value::Null)`).
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<serde_json::Value>, D::Error> {
    serde_json::Value::deserialize(d).map(Some)
}

/// Reads one list of a group: every element through `item`, or the reason it is not whole.
fn read_list<T: Ord>(
    list: GroupList,
    value: Option<serde_json::Value>,
    item: impl Fn(&serde_json::Value) -> Option<T>,
) -> Result<BTreeSet<T>, Unread> {
    let problem = match value {
        None => ListProblem::Absent,
        Some(serde_json::Value::Null) => ListProblem::Null,
        Some(serde_json::Value::Array(items)) => {
            let mut out = BTreeSet::new();
            for (index, v) in items.iter().enumerate() {
                match item(v) {
                    Some(x) => {
                        out.insert(x);
                    }
                    None => {
                        let mut value = v.to_string();
                        if value.len() > 40 {
                            value = format!("{}…", value.chars().take(40).collect::<String>());
                        }
                        return Err(Unread { list, problem: ListProblem::BadElement { index, value } });
                    }
                }
            }
            return Ok(out);
        }
        Some(_) => ListProblem::NotAList,
    };
    Err(Unread { list, problem })
}

fn member_id(v: &serde_json::Value) -> Option<UserId> {
    match v {
        serde_json::Value::Number(n) => n.as_u64().map(UserId),
        serde_json::Value::String(s) => s.trim().parse().ok().map(UserId),
        _ => None,
    }
}

fn guest_email(v: &serde_json::Value) -> Option<Email> {
    v.as_str().and_then(|s| Email::parse(s).ok())
}

impl WireGroup {
    /// The live group, with the lists that could not be read recorded as unread.
    pub fn into_domain(self) -> LiveGroup {
        let mut unread = Vec::new();
        let members = read_list(GroupList::Members, self.members, member_id).unwrap_or_else(|u| {
            unread.push(u);
            BTreeSet::new()
        });
        let guests = read_list(GroupList::Guests, self.guests, guest_email).unwrap_or_else(|u| {
            unread.push(u);
            BTreeSet::new()
        });
        LiveGroup {
            id: GroupId(self.id),
            name: self.name.unwrap_or_default(),
            description: self.description.unwrap_or_default(),
            members,
            guests,
            unread,
        }
    }
}

/// A user as the API writes it.
#[derive(Debug, Deserialize)]
pub struct WireUser {
    /// The user's id.
    pub id: u64,
    /// Missing or `null` on some accounts (bots, users without an address): such a user is
    /// found by id only.
    #[serde(default)]
    pub email: Option<String>,
    /// Their first name.
    #[serde(default)]
    pub first_name: Option<String>,
    /// Their last name.
    #[serde(default)]
    pub last_name: Option<String>,
    /// Active or disabled; active when left out.
    #[serde(default)]
    pub status: Option<UserStatus>,
}

impl WireUser {
    /// The user, with what was left out empty.
    pub fn into_domain(self) -> User {
        User {
            id: UserId(self.id),
            email: Email::new(self.email.as_deref().unwrap_or_default()),
            first_name: self.first_name.unwrap_or_default(),
            last_name: self.last_name.unwrap_or_default(),
            status: self.status.unwrap_or(UserStatus::Active),
        }
    }
}

/// A guest as the API writes it.
#[derive(Debug, Deserialize)]
pub struct WireGuest {
    /// The guest's email.
    pub email: String,
    /// Their first name.
    #[serde(default)]
    pub first_name: Option<String>,
    /// Their last name.
    #[serde(default)]
    pub last_name: Option<String>,
}

impl WireGuest {
    /// The guest, with what was left out empty.
    pub fn into_domain(self) -> Guest {
        Guest {
            email: Email::new(&self.email),
            first_name: self.first_name.unwrap_or_default(),
            last_name: self.last_name.unwrap_or_default(),
        }
    }
}

/// The body of a group create or update: always the complete desired group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupPayload {
    /// The group's name.
    pub name: String,
    /// Its description.
    pub description: String,
    /// Every member's user id.
    pub members: Vec<UserId>,
    /// Every guest's email.
    pub guests: Vec<Email>,
}

/// The body of a guest create.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GuestPayload {
    /// The guest's email.
    pub email: Email,
    /// Their first name.
    pub first_name: String,
    /// Their last name.
    pub last_name: String,
}

/// The body of an error answer: `message`, `code` and a per-field `errors` map, all optional.
#[derive(Debug, Default, Deserialize)]
pub struct WireError {
    /// What went wrong, as the API says it.
    #[serde(default)]
    pub message: Option<String>,
    /// A machine-readable code.
    #[serde(default)]
    pub code: Option<String>,
    /// Field name → messages, on a 422.
    #[serde(default)]
    pub errors: Option<serde_json::Value>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_accepts_every_payload_generation() {
        let body = r#"{"data":{"id":"53a4","name":"N","description":null,"logo":null,
            "members":[1001,"1005"],"guests":["A@Partner.com"],"created_at":"x","updated_at":"y","deleted_at":null,"extra":{}}}"#;
        let env: Envelope<WireGroup> = serde_json::from_str(body).unwrap();
        let g = env.data.into_domain();
        assert_eq!(g.id, GroupId("53a4".into()));
        assert_eq!(g.description, "");
        assert_eq!(g.members.into_iter().collect::<Vec<_>>(), vec![UserId(1001), UserId(1005)]);
        assert_eq!(g.guests.iter().next().unwrap().as_str(), "a@partner.com");
    }

    #[test]
    fn a_list_not_read_whole_is_marked_never_emptied() {
        let read = |members: &str, guests: &str| {
            let body = format!(r#"{{"id":"g","name":"N","description":"d"{members}{guests}}}"#);
            serde_json::from_str::<WireGroup>(&body).unwrap().into_domain()
        };
        let problems = |g: LiveGroup| g.unread.into_iter().map(|u| u.to_string()).collect::<Vec<_>>();
        assert_eq!(problems(read("", r#","guests":[]"#)), vec!["`members` was missing from the answer"]);
        assert_eq!(problems(read(r#","members":null"#, r#","guests":[]"#)), vec!["`members` was null"]);
        assert_eq!(problems(read(r#","members":{"1":2}"#, r#","guests":[]"#)), vec!["`members` was not a list"]);
        assert_eq!(problems(read(r#","members":[1,"x",3]"#, r#","guests":[]"#)), vec!["`members[1]` is \"x\", not a user id"]);
        assert_eq!(problems(read(r#","members":[1,-2]"#, r#","guests":[]"#)), vec!["`members[1]` is -2, not a user id"]);
        assert_eq!(problems(read(r#","members":[1]"#, r#","guests":["a@b.co",7]"#)), vec!["`guests[1]` is 7, not an email"]);
        assert_eq!(problems(read(r#","members":[1]"#, r#","guests":"a@b.co""#)), vec!["`guests` was not a list"]);
        let whole = read(r#","members":[1,"2"]"#, r#","guests":[]"#);
        assert!(whole.is_fully_known());
        assert_eq!(whole.members.len(), 2);
    }

    #[test]
    fn pagination_links_in_every_shape() {
        for links in ["{}", "[]", "null", r#"{"next":"x"}"#] {
            let body = format!(
                r#"{{"data":[],"meta":{{"pagination":{{"total":0,"count":0,"per_page":100,"current_page":1,"total_pages":1,"links":{links}}}}}}}"#
            );
            let env: Envelope<Vec<WireUser>> = serde_json::from_str(&body).unwrap();
            assert_eq!(env.meta.unwrap().pagination.unwrap().total_pages, Some(1));
        }
    }

    #[test]
    fn unknown_user_status_is_not_an_error() {
        let u: WireUser = serde_json::from_str(r#"{"id":1,"email":"A@b.co","status":"suspended-ish"}"#).unwrap();
        assert_eq!(u.into_domain().status, UserStatus::Other);
    }
}
