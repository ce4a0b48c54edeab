//! `google: {group, token_env, derived, missing, directory_url}`: the members of a Google
//! Workspace group through the Admin SDK Directory API,
//! `GET {directory_url}/admin/directory/v1/groups/{group}/members?maxResults=200&includeDerivedMembership=…`
//! with `Authorization: Bearer <token>`, following `nextPageToken` to the end. Members of type
//! `USER` with status `ACTIVE` count; a suspended user (or any other status) is left out with a
//! warning; other types (`GROUP`, `CUSTOMER`, `EXTERNAL`) are not people of this group's list
//! and are counted in one warning.

use std::collections::BTreeMap;

use serde::Deserialize;
use tallyfy_groups_core::source::{GoogleSpec, SourceRead};

use crate::http::{self, Http, WaitHeader};
use crate::people::People;
use crate::{Environment, HttpOptions};

/// Members per page (the API's most).
const PAGE: usize = 200;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Page {
    #[serde(default)]
    members: Vec<Member>,
    #[serde(default)]
    next_page_token: Option<String>,
}

#[derive(Deserialize)]
struct Member {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    email: Option<String>,
    #[serde(default, rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    status: Option<String>,
}

pub(crate) async fn read(spec: &GoogleSpec, env: &Environment, options: &HttpOptions) -> Result<SourceRead, String> {
    let token = http::secret(env, &spec.token_env, "OAuth access token")?;
    let client = Http::new("Google Workspace", options, vec![token.clone()], http::is_loopback_http(&spec.directory_url))?;
    let auth = http::auth_header("Bearer", &token, &spec.token_env)?;
    let mut people = People::new(spec.missing, "email", "");
    let mut other_types: BTreeMap<String, usize> = BTreeMap::new();
    let first = format!(
        "{}/admin/directory/v1/groups/{}/members?maxResults={PAGE}&includeDerivedMembership={}",
        spec.directory_url,
        // The group's address as the API documents it (`@` needs no escaping in a path).
        http::segment(&spec.group).replace("%40", "@"),
        spec.derived
    );
    let mut url = first.clone();
    let mut seen = std::collections::HashSet::new();
    for page in 1..=http::MAX_PAGES {
        let answer = client.get(&url, &auth, WaitHeader::RetryAfter).await.map_err(|f| match f.status {
            Some(401) => format!(
                "Google refused the access token in {} ({}); access tokens expire after an hour: obtain a fresh one in the job that runs the tool",
                spec.token_env, f.message
            ),
            Some(403) if f.body.to_ascii_lowercase().contains("ratelimitexceeded") => {
                format!("Google's rate limit for the token in {} was still exceeded after the retries ({})", spec.token_env, f.message)
            }
            Some(403) => format!(
                "the token in {} may not list the members of {} ({}); it needs the https://www.googleapis.com/auth/admin.directory.group.member.readonly scope, for an admin who may read the group",
                spec.token_env, spec.group, f.message
            ),
            Some(404) => format!("Google Workspace has no group {} ({}); check `group` (its address or id)", spec.group, f.message),
            _ if page > 1 => format!("page {page} of the group's members failed, so none of the read is used: {}", f.message),
            _ => f.message,
        })?;
        let answer: Page = client.decode(&answer.body, &format!("page {page} of Google's answer"))?;
        for member in answer.members {
            let kind = member.kind.as_deref().unwrap_or("USER");
            if kind != "USER" {
                *other_types.entry(kind.to_string()).or_default() += 1;
                continue;
            }
            let status = member.status.as_deref().unwrap_or("ACTIVE");
            let id = member.id.clone().unwrap_or_default();
            if status != "ACTIVE" {
                let who = member.email.as_deref().unwrap_or(&id);
                people.leave_out(format!("{who} (Google user {id}) is {}: left out", status.to_ascii_lowercase()));
                continue;
            }
            people.add(member.email.as_deref(), || format!("Google member {id}")).map_err(|e| client.scrub(&e))?;
        }
        match answer.next_page_token.filter(|t| !t.is_empty()) {
            None => {
                let mut read = people.finish_from(&client);
                if !other_types.is_empty() {
                    let counted: Vec<String> = other_types
                        .iter()
                        .map(|(k, n)| format!("{n} {}{}", k.to_ascii_lowercase(), if *n == 1 { "" } else { "s" }))
                        .collect();
                    read.warnings.push(format!(
                        "{} member{} that {} not users ignored: {}",
                        other_types.values().sum::<usize>(),
                        if other_types.values().sum::<usize>() == 1 { "" } else { "s" },
                        if other_types.values().sum::<usize>() == 1 { "is" } else { "are" },
                        counted.join(", ")
                    ));
                }
                return Ok(read);
            }
            Some(token) => {
                if !seen.insert(token.clone()) {
                    return Err(format!("Google gave page {page} a page token it had already given; the read stops"));
                }
                url = format!("{first}&pageToken={}", url_encode(&token));
            }
        }
    }
    Err(format!("the group has more than {} pages of members; the read stops", http::MAX_PAGES))
}

/// Percent-encodes a query value.
fn url_encode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}
