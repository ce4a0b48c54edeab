//! `okta: {url, group_id, token_env, attribute, missing}`: the users of an Okta group,
//! `GET {url}/api/v1/groups/{group_id}/users?limit=200` with `Authorization: SSWS <token>`,
//! following `Link: <…>; rel="next"` to the end. Users who can sign in count (`ACTIVE`,
//! `PASSWORD_EXPIRED`, `LOCKED_OUT`, `RECOVERY`); the others (`STAGED`, `PROVISIONED`,
//! `SUSPENDED`, `DEPROVISIONED`, any status Okta adds) are left out with a warning naming them.
//! Any page that fails, after retries, fails the whole source.

use serde::Deserialize;
use tallyfy_groups_core::source::{OktaSpec, SourceRead};

use crate::http::{self, Http, WaitHeader};
use crate::people::People;
use crate::{Environment, HttpOptions};

/// Users per page (Okta's most for this list).
const PAGE: usize = 200;

/// Statuses of users who can sign in.
const COUNTED: [&str; 4] = ["ACTIVE", "PASSWORD_EXPIRED", "LOCKED_OUT", "RECOVERY"];

#[derive(Deserialize)]
struct User {
    id: String,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    profile: Profile,
}

#[derive(Deserialize, Default)]
struct Profile {
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    login: Option<String>,
}

pub(crate) async fn read(spec: &OktaSpec, env: &Environment, options: &HttpOptions) -> Result<SourceRead, String> {
    let token = http::secret(env, &spec.token_env, "Okta API token")?;
    let client = Http::new("Okta", options, vec![token.clone()], http::is_loopback_http(&spec.url))?;
    let auth = http::auth_header("SSWS", &token, &spec.token_env)?;
    let attribute = if spec.login { "profile.login" } else { "profile.email" };
    let mut people = People::new(spec.missing, attribute, "");
    let mut url = format!("{}/api/v1/groups/{}/users?limit={PAGE}", spec.url, http::segment(&spec.group_id));
    let mut seen = std::collections::HashSet::new();
    for page in 1..=http::MAX_PAGES {
        let answer = client.get(&url, &auth, WaitHeader::OktaReset).await.map_err(|f| match f.status {
            Some(401) => format!(
                "Okta refused the token in {} ({}); use an API token of an admin who may read the group's users (a read-only admin is enough)",
                spec.token_env, f.message
            ),
            Some(403) => format!(
                "the token in {} may not read group {} ({}); its admin needs read access to the group (a read-only admin, or a group admin of it)",
                spec.token_env, spec.group_id, f.message
            ),
            Some(404) => format!("Okta has no group {} at {} ({}); check `group_id`", spec.group_id, spec.url, f.message),
            _ if page > 1 => format!("page {page} of the group's users failed, so none of the read is used: {}", f.message),
            _ => f.message,
        })?;
        let users: Vec<User> = client.decode(&answer.body, &format!("page {page} of Okta's answer"))?;
        for user in users {
            let status = user.status.as_deref().unwrap_or("");
            let address = if spec.login { user.profile.login } else { user.profile.email };
            if !COUNTED.contains(&status) {
                let who = address.as_deref().unwrap_or(&user.id);
                people.leave_out(format!(
                    "{who} (Okta user {}) is {}: left out",
                    user.id,
                    if status.is_empty() { "without a status" } else { status }
                ));
                continue;
            }
            people.add(address.as_deref(), || format!("Okta user {}", user.id)).map_err(|e| client.scrub(&e))?;
        }
        match http::next_link(&answer.headers) {
            None => return Ok(people.finish_from(&client)),
            Some(next) => {
                let next = http::same_origin(&spec.url, &next).map_err(|e| client.scrub(&e))?;
                if !seen.insert(next.clone()) {
                    return Err(format!(
                        "Okta linked page {page} to a page it had already given ({}); the read stops",
                        client.scrub(&next)
                    ));
                }
                url = next;
            }
        }
    }
    Err(format!("the group has more than {} pages of users; the read stops", http::MAX_PAGES))
}
