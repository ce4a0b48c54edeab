//! `scim: {url, group_id, token_env, missing}`: the members of a group of a SCIM 2.0 service
//! (RFC 7643/7644): `GET {url}/Groups/{group_id}` for the members' ids, then
//! `GET {url}/Users?startIndex=…&count=100`, paged by `totalResults`, for each user's address
//! (`emails` with `primary: true`, else the first) and `active`. A user with `active: false` is
//! left out with a warning; a member id that is no user of the service (a nested group, or a
//! user the token may not see) fails the read, as does a listing that ends before
//! `totalResults`.

use std::collections::HashMap;

use serde::Deserialize;
use tallyfy_groups_core::source::{ScimSpec, SourceRead};

use crate::http::{self, Http, WaitHeader};
use crate::people::People;
use crate::{Environment, HttpOptions};

/// Users asked for per page.
const PAGE: usize = 100;

#[derive(Deserialize)]
struct Group {
    #[serde(default)]
    members: Vec<Member>,
}

#[derive(Deserialize)]
struct Member {
    value: String,
    #[serde(default, rename = "type")]
    kind: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ListResponse {
    total_results: usize,
    #[serde(default, rename = "Resources")]
    resources: Vec<User>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct User {
    id: String,
    #[serde(default)]
    user_name: Option<String>,
    #[serde(default)]
    active: Option<bool>,
    #[serde(default)]
    emails: Vec<ScimEmail>,
}

#[derive(Deserialize)]
struct ScimEmail {
    #[serde(default)]
    value: Option<String>,
    #[serde(default)]
    primary: bool,
}

pub(crate) async fn read(spec: &ScimSpec, env: &Environment, options: &HttpOptions) -> Result<SourceRead, String> {
    let token = http::secret(env, &spec.token_env, "SCIM bearer token")?;
    let client = Http::new("the SCIM service", options, vec![token.clone()], http::is_loopback_http(&spec.url))?;
    let auth = http::auth_header("Bearer", &token, &spec.token_env)?;
    let refused = |f: http::Failure, what: &str| match f.status {
        Some(401) => format!("the SCIM service refused the token in {} ({})", spec.token_env, f.message),
        Some(403) => {
            format!("the token in {} may not read {what} ({}); it needs read access to groups and users", spec.token_env, f.message)
        }
        _ => f.message,
    };

    let group_url = format!("{}/Groups/{}", spec.url, http::segment(&spec.group_id));
    let answer = client.get(&group_url, &auth, WaitHeader::RetryAfter).await.map_err(|f| match f.status {
        Some(404) => format!("the SCIM service has no group {} ({}); check `group_id`", spec.group_id, f.message),
        _ => refused(f, "the group"),
    })?;
    let group: Group = client.decode(&answer.body, "the SCIM group")?;
    if let Some(nested) = group.members.iter().find(|m| m.kind.as_deref().is_some_and(|k| k.eq_ignore_ascii_case("group"))) {
        return Err(client.scrub(&format!(
            "group {} has a group among its members ({}); nested SCIM groups are not expanded: declare that group as a source of its own",
            spec.group_id, nested.value
        )));
    }

    // Every user of the service, by id: SCIM has no "users of this group" listing.
    let mut users: HashMap<String, User> = HashMap::new();
    let mut start = 1;
    let mut total = None;
    for page in 1..=http::MAX_PAGES {
        let url = format!("{}/Users?startIndex={start}&count={PAGE}", spec.url);
        let answer = client.get(&url, &auth, WaitHeader::RetryAfter).await.map_err(|f| {
            if page > 1 && !matches!(f.status, Some(401 | 403)) {
                format!("page {page} of the service's users failed, so none of the read is used: {}", f.message)
            } else {
                refused(f, "the users")
            }
        })?;
        let list: ListResponse = client.decode(&answer.body, &format!("page {page} of the SCIM users"))?;
        let expected = *total.get_or_insert(list.total_results);
        if list.total_results != expected {
            return Err(format!("the number of users changed while they were read ({expected}, then {}); run again", list.total_results));
        }
        let got = list.resources.len();
        for user in list.resources {
            users.insert(user.id.clone(), user);
        }
        start += got;
        if start > expected {
            break;
        }
        if got == 0 {
            return Err(format!(
                "the service said it has {expected} users but page {page} (from {}) was empty; the read stops rather than use {} of them",
                start,
                start - 1
            ));
        }
    }

    let mut people = People::new(spec.missing, "email", "");
    for member in &group.members {
        let Some(user) = users.get(&member.value) else {
            return Err(client.scrub(&format!(
                "member {} of group {} is not among the service's users (a user the token may not read?); the read is not used",
                member.value, spec.group_id
            )));
        };
        let address = user.emails.iter().find(|e| e.primary).or(user.emails.first()).and_then(|e| e.value.as_deref());
        if user.active == Some(false) {
            let who = address.or(user.user_name.as_deref()).unwrap_or(&user.id);
            people.leave_out(format!("{who} (SCIM user {}) is inactive: left out", user.id));
            continue;
        }
        people.add(address, || format!("SCIM user {}", user.id)).map_err(|e| client.scrub(&e))?;
    }
    Ok(people.finish_from(&client))
}
