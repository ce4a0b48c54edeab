//! `entra: {tenant, group_id, client_id_env, client_secret_env, transitive, attribute, missing,
//! authority_url, graph_url}`: the users of a Microsoft Entra ID group through Microsoft Graph.
//! A client-credentials token from `{authority_url}/{tenant}/oauth2/v2.0/token` (scope
//! `{graph_url}/.default`), obtained once for the read, then
//! `GET {graph_url}/v1.0/groups/{id}/transitiveMembers/microsoft.graph.user` (`members/…` with
//! `transitive: false`) with `$select=id,mail,userPrincipalName,accountEnabled&$top=999`,
//! following `@odata.nextLink` to the end. A disabled account is left out with a warning; a user
//! whose attribute is `null` (often: the application lacks `User.Read.All`) fails the read, or
//! with `missing: skip` is left out with a warning.

use serde::Deserialize;
use tallyfy_groups_core::source::{EntraSpec, SourceRead};

use crate::http::{self, Http, WaitHeader};
use crate::people::People;
use crate::{Environment, HttpOptions};

#[derive(Deserialize)]
struct Token {
    access_token: String,
}

#[derive(Deserialize)]
struct TokenError {
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    error_description: Option<String>,
}

#[derive(Deserialize)]
struct Page {
    value: Vec<User>,
    #[serde(rename = "@odata.nextLink", default)]
    next: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct User {
    id: String,
    #[serde(default)]
    mail: Option<String>,
    #[serde(default)]
    user_principal_name: Option<String>,
    #[serde(default)]
    account_enabled: Option<bool>,
}

const MISSING_HINT: &str = " (Graph returns null for a property the application may not read: grant it the User.Read.All application permission, with admin consent)";

pub(crate) async fn read(spec: &EntraSpec, env: &Environment, options: &HttpOptions) -> Result<SourceRead, String> {
    let client_id = http::secret(env, &spec.client_id_env, "application's client id")?;
    let client_secret = http::secret(env, &spec.client_secret_env, "application's client secret")?;
    let loopback = http::is_loopback_http(&spec.authority_url) || http::is_loopback_http(&spec.graph_url);
    // The token request sends the secret form-encoded (`~` as `%7E`): an echo of it is scrubbed too.
    let in_form: String = url::form_urlencoded::byte_serialize(client_secret.as_bytes()).collect();
    let client = Http::new("Microsoft Entra ID", options, vec![client_secret.clone(), in_form.clone()], loopback)?;
    let token = token(&client, spec, &client_id, &client_secret).await?;
    let client = Http::new("Microsoft Graph", options, vec![client_secret, in_form, token.clone()], loopback)?;
    let auth = http::auth_header("Bearer", &token, "the access token the token service gave")?;

    let (attribute, hint) = if spec.user_principal_name { ("userPrincipalName", "") } else { ("mail", MISSING_HINT) };
    let mut people = People::new(spec.missing, attribute, hint);
    let relation = if spec.transitive { "transitiveMembers" } else { "members" };
    let mut url = format!(
        "{}/v1.0/groups/{}/{relation}/microsoft.graph.user?$select=id,mail,userPrincipalName,accountEnabled&$top=999",
        spec.graph_url,
        http::segment(&spec.group_id)
    );
    let mut seen = std::collections::HashSet::new();
    for page in 1..=http::MAX_PAGES {
        let answer = client.get(&url, &auth, WaitHeader::RetryAfter).await.map_err(|f| match f.status {
            Some(401) => format!(
                "Microsoft Graph refused the token of the application in {} ({}); check that it is registered in tenant {}",
                spec.client_id_env, f.message, spec.tenant
            ),
            Some(403) => format!(
                "the application ({}) may not read the members of group {} ({}); grant it the GroupMember.Read.All and User.Read.All application permissions, with admin consent",
                spec.client_id_env, spec.group_id, f.message
            ),
            Some(404) => format!("Microsoft Graph has no group {} in tenant {} ({}); check `group_id` (the group's object id)", spec.group_id, spec.tenant, f.message),
            _ if page > 1 => format!("page {page} of the group's members failed, so none of the read is used: {}", f.message),
            _ => f.message,
        })?;
        let answer: Page = client.decode(&answer.body, &format!("page {page} of Microsoft Graph's answer"))?;
        for user in answer.value {
            let address = if spec.user_principal_name { user.user_principal_name } else { user.mail };
            if user.account_enabled == Some(false) {
                let who = address.as_deref().unwrap_or(&user.id);
                people.leave_out(format!("{who} (Entra user {}) is disabled: left out", user.id));
                continue;
            }
            people.add(address.as_deref(), || format!("Entra user {}", user.id)).map_err(|e| client.scrub(&e))?;
        }
        match answer.next {
            None => return Ok(people.finish_from(&client)),
            Some(next) => {
                let next = http::same_origin(&spec.graph_url, &next).map_err(|e| client.scrub(&e))?;
                if !seen.insert(next.clone()) {
                    return Err(format!("Microsoft Graph linked page {page} to a page it had already given; the read stops"));
                }
                url = next;
            }
        }
    }
    Err(format!("the group has more than {} pages of members; the read stops", http::MAX_PAGES))
}

/// The access token of the client-credentials grant.
async fn token(client: &Http, spec: &EntraSpec, client_id: &str, client_secret: &str) -> Result<String, String> {
    let url = format!("{}/{}/oauth2/v2.0/token", spec.authority_url, http::segment(&spec.tenant));
    let scope = format!("{}/.default", spec.graph_url);
    let form = [("grant_type", "client_credentials"), ("client_id", client_id), ("client_secret", client_secret), ("scope", &scope)];
    match client.post_form(&url, &form).await {
        Ok(answer) => {
            let token: Token = client.decode(&answer.body, "the token service's answer")?;
            if token.access_token.trim().is_empty() {
                return Err("the token service answered without an access token".to_string());
            }
            Ok(token.access_token)
        }
        Err(f) => {
            // The token service says why in `error` and `error_description` (AADSTS codes).
            let detail: Option<TokenError> = serde_json::from_str(&f.body).ok();
            let code = detail.as_ref().and_then(|d| d.error.clone()).unwrap_or_default();
            let description = detail.and_then(|d| d.error_description).unwrap_or_default();
            let description = description.lines().next().unwrap_or("").trim().to_string();
            let why = if code.is_empty() { f.message.clone() } else { format!("{code}: {}", client.scrub(&description)) };
            Err(match (f.status, code.as_str()) {
                (Some(400 | 401), "invalid_client" | "unauthorized_client") => format!(
                    "the token service refused the application ({why}); check {} and {} (an expired secret is the usual cause)",
                    spec.client_id_env, spec.client_secret_env
                ),
                (Some(400), "invalid_request") if description.contains("AADSTS90002") || description.contains("AADSTS900023") => {
                    format!("tenant {} was not found ({why}); check `tenant`", spec.tenant)
                }
                (Some(400 | 401), _) => format!(
                    "the token service refused the request ({why}); check `tenant`, {} and {}",
                    spec.client_id_env, spec.client_secret_env
                ),
                (Some(404), _) => {
                    format!("tenant {} was not found at {} ({why}); check `tenant` and `authority_url`", spec.tenant, spec.authority_url)
                }
                _ => format!("no token from {}: {why}", spec.authority_url),
            })
        }
    }
}
