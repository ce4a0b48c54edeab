//! Wire DTOs of the Tallyfy API and their conversion to domain types. Pure; no I/O.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use tallyfy_groups_core::model::{Email, GroupId, GroupList, Guest, ListProblem, LiveGroup, Unread, User, UserId, UserStatus};
use tallyfy_groups_core::usage::{Step, Template};

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

/// A template (Tallyfy's "checklist") as the API writes it, read loosely: `groups` (access) and
/// `steps` are taken apart by [`WireTemplate::into_domain`], which refuses any shape it does not
/// know rather than take it for "not used".
#[derive(Debug, Deserialize)]
pub struct WireTemplate {
    /// The template's id.
    pub id: serde_json::Value,
    /// Its title.
    #[serde(default)]
    pub title: Option<String>,
    /// Groups the template grants access to.
    #[serde(default)]
    pub groups: Option<serde_json::Value>,
    /// Its steps: a list, or `{"data": [...]}`; absent or null when not included.
    #[serde(default)]
    pub steps: Option<serde_json::Value>,
}

/// An id written as a string or a number.
fn id_text(v: &serde_json::Value) -> Option<String> {
    match v {
        serde_json::Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// The items of an included resource: a plain list or `{"data": [...]}`; `None` when absent or
/// null.
fn included<'v>(v: Option<&'v serde_json::Value>, what: &str) -> Result<Option<&'v [serde_json::Value]>, String> {
    match v {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::Array(items)) => Ok(Some(items)),
        Some(serde_json::Value::Object(o)) => match o.get("data") {
            Some(serde_json::Value::Array(items)) => {
                // Included resources come whole; a `meta.pagination` that says there are more
                // means the rest were left out, and a partial list is never taken for the whole.
                let pagination = o.get("meta").and_then(|m| m.get("pagination"));
                let total = pagination.and_then(|p| p.get("total")).and_then(serde_json::Value::as_u64);
                let pages = pagination.and_then(|p| p.get("total_pages")).and_then(serde_json::Value::as_u64);
                if total.is_some_and(|t| t != items.len() as u64) || pages.is_some_and(|p| p > 1) {
                    return Err(format!(
                        "`{what}` holds {} items of a longer list (its `meta.pagination` says there are more), and the rest are not in the answer",
                        items.len()
                    ));
                }
                Ok(Some(items))
            }
            Some(serde_json::Value::Null) => Ok(None),
            _ => Err(format!("`{what}` is an object without a `data` list")),
        },
        Some(other) => Err(format!("`{what}` is neither a list nor {{\"data\": [...]}}: {}", short(other))),
    }
}

/// Group ids of a `groups` field: ids as strings or numbers, or objects with an `id`.
fn group_ids(v: Option<&serde_json::Value>, what: &str) -> Result<Vec<GroupId>, String> {
    let Some(items) = included(v, what)? else { return Ok(Vec::new()) };
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let id = match item {
                serde_json::Value::Object(o) => o.get("id").and_then(id_text),
                other => id_text(other),
            };
            id.map(GroupId).ok_or_else(|| format!("`{what}[{i}]` is not a group id: {}", short(item)))
        })
        .collect()
}

fn short(v: &serde_json::Value) -> String {
    let text = v.to_string();
    if text.chars().count() > 40 { format!("{}…", text.chars().take(40).collect::<String>()) } else { text }
}

impl WireTemplate {
    /// The template's id, as text.
    pub fn id_text(&self) -> String {
        id_text(&self.id).unwrap_or_else(|| self.id.to_string())
    }

    /// Whether the answer carries any steps (absent, null or empty: it does not, and the
    /// template is read alone); `steps` of a shape not known counts as carried, so that reading
    /// it refuses it.
    pub fn carries_steps(&self) -> bool {
        !matches!(included(self.steps.as_ref(), "steps"), Ok(None)) && !matches!(included(self.steps.as_ref(), "steps"), Ok(Some([])))
    }

    /// The template, or what about it could not be read. `steps_required`: an answer without
    /// `steps` is refused (a template read alone with `with=steps`), not taken for one without.
    pub fn into_domain(self, archived: bool, steps_required: bool) -> Result<Template, String> {
        let id = id_text(&self.id).ok_or_else(|| format!("a template's `id` is not an id: {}", short(&self.id)))?;
        let at = |field: &str| format!("template {id}: {field}");
        let access = group_ids(self.groups.as_ref(), "groups").map_err(|e| at(&e))?;
        let steps = match included(self.steps.as_ref(), "steps").map_err(|e| at(&e))? {
            Some(items) => items,
            None if steps_required => return Err(at("the answer does not include its `steps`")),
            None => &[],
        };
        let mut out = Vec::with_capacity(steps.len());
        for (i, step) in steps.iter().enumerate() {
            let serde_json::Value::Object(o) = step else { return Err(at(&format!("`steps[{i}]` is not an object"))) };
            let step_id = o.get("id").and_then(id_text).ok_or_else(|| at(&format!("`steps[{i}].id` is missing or not an id")))?;
            let max_assignable = match o.get("max_assignable") {
                None | Some(serde_json::Value::Null) => 0,
                Some(v) => v
                    .as_u64()
                    .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
                    .ok_or_else(|| at(&format!("`steps[{i}].max_assignable` is not a count: {}", short(v))))?,
            };
            out.push(Step {
                id: step_id,
                title: o.get("title").and_then(serde_json::Value::as_str).unwrap_or_default().to_string(),
                groups: group_ids(o.get("groups"), &format!("steps[{i}].groups")).map_err(|e| at(&e))?,
                max_assignable,
            });
        }
        Ok(Template { id, title: self.title.unwrap_or_default(), archived, access, steps: out })
    }
}
