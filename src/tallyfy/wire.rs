//! Wire DTOs of the Tallyfy API and their conversion to domain types. Pure; no I/O.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::model::{Email, GroupId, Guest, LiveGroup, User, UserId, UserStatus};

/// `{"data": ..., "meta": ...}`.
#[derive(Debug, Deserialize)]
pub struct Envelope<T> {
    pub data: T,
    #[serde(default)]
    pub meta: Option<Meta>,
}

#[derive(Debug, Default, Deserialize)]
pub struct Meta {
    #[serde(default)]
    pub pagination: Option<Pagination>,
}

/// `meta.pagination`; `links` may be an object, `{}`, `[]` or null and is not used.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct Pagination {
    pub total: u64,
    #[serde(default)]
    pub count: Option<u64>,
    #[serde(default)]
    pub per_page: Option<u64>,
    #[serde(default)]
    pub current_page: Option<u64>,
    pub total_pages: u64,
    #[serde(default)]
    pub links: serde_json::Value,
}

/// A user id as the API writes it: a number, or a string of digits.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum WireId {
    Num(u64),
    Str(String),
}

impl WireId {
    fn to_user_id(&self) -> Option<UserId> {
        match self {
            WireId::Num(n) => Some(UserId(*n)),
            WireId::Str(s) => s.trim().parse().ok().map(UserId),
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct WireGroup {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub members: Option<Vec<WireId>>,
    #[serde(default)]
    pub guests: Option<Vec<String>>,
}

impl WireGroup {
    pub fn into_domain(self) -> LiveGroup {
        LiveGroup {
            id: GroupId(self.id),
            name: self.name,
            description: self.description.unwrap_or_default(),
            members: self.members.unwrap_or_default().iter().filter_map(WireId::to_user_id).collect(),
            guests: self.guests.unwrap_or_default().iter().map(|e| Email::new(e)).collect::<BTreeSet<_>>(),
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct WireUser {
    pub id: u64,
    pub email: String,
    #[serde(default)]
    pub first_name: Option<String>,
    #[serde(default)]
    pub last_name: Option<String>,
    #[serde(default)]
    pub status: Option<UserStatus>,
}

impl WireUser {
    pub fn into_domain(self) -> User {
        User {
            id: UserId(self.id),
            email: Email::new(&self.email),
            first_name: self.first_name.unwrap_or_default(),
            last_name: self.last_name.unwrap_or_default(),
            status: self.status.unwrap_or(UserStatus::Active),
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct WireGuest {
    pub email: String,
    #[serde(default)]
    pub first_name: Option<String>,
    #[serde(default)]
    pub last_name: Option<String>,
}

impl WireGuest {
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
    pub name: String,
    pub description: String,
    pub members: Vec<UserId>,
    pub guests: Vec<Email>,
}

/// The body of a guest create.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GuestPayload {
    pub email: Email,
    pub first_name: String,
    pub last_name: String,
}

/// The body of an error answer: `message`, `code` and a per-field `errors` map, all optional.
#[derive(Debug, Default, Deserialize)]
pub struct WireError {
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub code: Option<String>,
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
    fn pagination_links_in_every_shape() {
        for links in ["{}", "[]", "null", r#"{"next":"x"}"#] {
            let body = format!(
                r#"{{"data":[],"meta":{{"pagination":{{"total":0,"count":0,"per_page":100,"current_page":1,"total_pages":1,"links":{links}}}}}}}"#
            );
            let env: Envelope<Vec<WireUser>> = serde_json::from_str(&body).unwrap();
            assert_eq!(env.meta.unwrap().pagination.unwrap().total_pages, 1);
        }
    }

    #[test]
    fn unknown_user_status_is_not_an_error() {
        let u: WireUser = serde_json::from_str(r#"{"id":1,"email":"A@b.co","status":"suspended-ish"}"#).unwrap();
        assert_eq!(u.into_domain().status, UserStatus::Other);
    }
}
