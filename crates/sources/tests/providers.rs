//! The Microsoft Entra ID, Google Workspace and SCIM readers against wiremock stand-ins: every
//! page read, a page that keeps failing fails the whole source, a 429 waits for `Retry-After`,
//! refusals and unknown groups explained, people who cannot sign in left out with warnings,
//! missing addresses, and secrets never shown (Okta's are in `okta.rs`).

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use tallyfy_groups_core::desired::Location;
use tallyfy_groups_core::source::{EntraSpec, GoogleSpec, Missing, ScimSpec, SourceFailure, SourceKind, SourceRead, SourceSpec, Unknown};
use tallyfy_groups_sources::{Environment, HttpOptions, ReadOptions};
use wiremock::matchers::{body_string_contains, header, method, path, query_param, query_param_is_missing};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

const CLIENT_ID: &str = "11111111-2222-3333-4444-555555555555";
const CLIENT_SECRET: &str = "entra~client~secret~value~0123";
const GRAPH_TOKEN: &str = "eyJ0eXAi.graph-access-token.sig";
const GOOGLE_TOKEN: &str = "ya29.google-access-token-0123";
const SCIM_TOKEN: &str = "scim-bearer-token-0123456789";
const GROUP: &str = "2f1c6a8e-0d3b-4a57-9c61-7e2b5d4f9a10";

fn options() -> ReadOptions {
    ReadOptions {
        env: Environment::fixed(
            [
                ("AZURE_CLIENT_ID", CLIENT_ID),
                ("AZURE_CLIENT_SECRET", CLIENT_SECRET),
                ("GOOGLE_ACCESS_TOKEN", GOOGLE_TOKEN),
                ("SCIM_TOKEN", SCIM_TOKEN),
            ]
            .map(|(k, v)| (k.to_string(), v.to_string())),
        ),
        http: HttpOptions {
            attempts: 3,
            first_pause: Duration::from_millis(10),
            max_wait: Duration::from_secs(5),
            timeout: Duration::from_secs(10),
        },
        ..ReadOptions::default()
    }
}

async fn read(kind: SourceKind) -> Result<SourceRead, SourceFailure> {
    let spec = SourceSpec {
        name: "people".into(),
        kind,
        allow_empty: false,
        unknown: Unknown::Error,
        at: Location { file: Arc::from("groups.yaml"), line: 2, column: 3 },
        dir: ".".into(),
    };
    tallyfy_groups_sources::read(&spec, &options()).await
}

/// The reason of a read that must fail; no secret is in it.
fn failure(result: Result<SourceRead, SourceFailure>) -> String {
    match result {
        Ok(read) => panic!("the read succeeded with {} people", read.people.len()),
        Err(f) => {
            assert_eq!(f.name, "people");
            for secret in [CLIENT_SECRET, GRAPH_TOKEN, GOOGLE_TOKEN, SCIM_TOKEN] {
                assert!(!f.reason.contains(secret), "a secret was shown: {}", f.reason);
            }
            f.reason
        }
    }
}

fn emails(read: &SourceRead) -> Vec<&str> {
    read.people.iter().map(|p| p.email.as_str()).collect()
}

/// Answers with the request's headers and body, as a broken proxy might.
fn echo(status: u16) -> impl Fn(&Request) -> ResponseTemplate {
    move |r: &Request| {
        let headers: Vec<String> = r.headers.iter().map(|(k, v)| format!("{k}: {}", v.to_str().unwrap_or(""))).collect();
        ResponseTemplate::new(status).set_body_string(format!("{}\n{}", headers.join("\n"), String::from_utf8_lossy(&r.body)))
    }
}

// ---- Entra

const GRAPH_USERS: &str = "/v1.0/groups/2f1c6a8e-0d3b-4a57-9c61-7e2b5d4f9a10/transitiveMembers/microsoft.graph.user";

fn entra(server: &MockServer) -> EntraSpec {
    EntraSpec {
        tenant: "contoso.onmicrosoft.com".into(),
        group_id: GROUP.into(),
        client_id_env: "AZURE_CLIENT_ID".into(),
        client_secret_env: "AZURE_CLIENT_SECRET".into(),
        transitive: true,
        user_principal_name: false,
        missing: Missing::Error,
        authority_url: server.uri(),
        graph_url: server.uri(),
    }
}

async fn token_service(server: &MockServer) {
    Mock::given(method("POST"))
        .and(path("/contoso.onmicrosoft.com/oauth2/v2.0/token"))
        .and(header("content-type", "application/x-www-form-urlencoded"))
        .and(body_string_contains("grant_type=client_credentials"))
        .and(body_string_contains(format!("client_id={CLIENT_ID}").as_str()))
        .and(body_string_contains("client_secret=entra%7Eclient%7Esecret%7Evalue%7E0123"))
        .and(body_string_contains(format!("scope={}", url_encode(&format!("{}/.default", server.uri()))).as_str()))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"token_type": "Bearer", "expires_in": 3599, "access_token": GRAPH_TOKEN})),
        )
        .expect(1)
        .mount(server)
        .await;
}

fn url_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'*' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn graph_user(n: usize, enabled: bool) -> Value {
    json!({"id": format!("u{n}"), "mail": format!("Person{n}@Contoso.com"), "userPrincipalName": format!("p{n}@contoso.onmicrosoft.com"), "accountEnabled": enabled})
}

/// Page `n` (from 1) of Graph's answer: `users`, linking to page `n + 1` unless `last`.
fn graph_page(server: &MockServer, users: Vec<Value>, n: usize, last: bool) -> ResponseTemplate {
    let mut body = json!({"value": users});
    if !last {
        body["@odata.nextLink"] = json!(format!("{}{GRAPH_USERS}?$select=id&$top=999&$skiptoken=page{}", server.uri(), n + 1));
    }
    ResponseTemplate::new(200).set_body_json(body)
}

fn graph_get(skiptoken: Option<&str>) -> wiremock::MockBuilder {
    let mock = Mock::given(method("GET")).and(path(GRAPH_USERS)).and(header("authorization", format!("Bearer {GRAPH_TOKEN}").as_str()));
    match skiptoken {
        None => mock
            .and(query_param("$select", "id,mail,userPrincipalName,accountEnabled"))
            .and(query_param("$top", "999"))
            .and(query_param_is_missing("$skiptoken")),
        Some(t) => mock.and(query_param("$skiptoken", t)),
    }
}

#[tokio::test]
async fn entra_reads_three_pages_with_one_token() {
    let server = MockServer::start().await;
    token_service(&server).await;
    let users = |r: std::ops::Range<usize>| r.map(|n| graph_user(n, true)).collect::<Vec<_>>();
    graph_get(None).respond_with(graph_page(&server, users(0..999), 1, false)).expect(1).mount(&server).await;
    graph_get(Some("page2")).respond_with(graph_page(&server, users(999..1998), 2, false)).expect(1).mount(&server).await;
    graph_get(Some("page3")).respond_with(graph_page(&server, users(1998..2010), 3, true)).expect(1).mount(&server).await;
    let read = read(SourceKind::Entra(entra(&server))).await.expect("read");
    assert_eq!(read.people.len(), 2010);
    assert_eq!(emails(&read)[..2], ["person0@contoso.com", "person1@contoso.com"]);
    assert!(read.warnings.is_empty());
}

#[tokio::test]
async fn entra_direct_members_and_user_principal_names() {
    let server = MockServer::start().await;
    token_service(&server).await;
    Mock::given(method("GET"))
        .and(path("/v1.0/groups/2f1c6a8e-0d3b-4a57-9c61-7e2b5d4f9a10/members/microsoft.graph.user"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"value": [graph_user(1, true)]})))
        .expect(1)
        .mount(&server)
        .await;
    let spec = EntraSpec { transitive: false, user_principal_name: true, ..entra(&server) };
    assert_eq!(emails(&read(SourceKind::Entra(spec)).await.expect("read")), ["p1@contoso.onmicrosoft.com"]);
}

#[tokio::test]
async fn entra_page_2_failing_for_good_fails_the_source_and_a_passing_retry_does_not() {
    let server = MockServer::start().await;
    token_service(&server).await;
    graph_get(None).respond_with(graph_page(&server, vec![graph_user(1, true)], 1, false)).expect(1).mount(&server).await;
    graph_get(Some("page2")).respond_with(ResponseTemplate::new(500).set_body_string("Service unavailable")).expect(3).mount(&server).await;
    let reason = failure(read(SourceKind::Entra(entra(&server))).await);
    assert!(reason.starts_with("page 2 of the group's members failed, so none of the read is used: HTTP 500"), "{reason}");
    assert!(reason.ends_with("(after 3 attempts)"), "{reason}");

    let server = MockServer::start().await;
    token_service(&server).await;
    graph_get(None).respond_with(graph_page(&server, vec![graph_user(1, true)], 1, false)).expect(1).mount(&server).await;
    graph_get(Some("page2")).respond_with(ResponseTemplate::new(502)).up_to_n_times(1).with_priority(1).expect(1).mount(&server).await;
    graph_get(Some("page2")).respond_with(graph_page(&server, vec![graph_user(2, true)], 2, true)).expect(1).mount(&server).await;
    assert_eq!(read(SourceKind::Entra(entra(&server))).await.expect("read").people.len(), 2);
}

#[tokio::test]
async fn entra_waits_for_retry_after() {
    let server = MockServer::start().await;
    token_service(&server).await;
    graph_get(None)
        .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "1"))
        .up_to_n_times(1)
        .with_priority(1)
        .expect(1)
        .mount(&server)
        .await;
    graph_get(None).respond_with(graph_page(&server, vec![graph_user(1, true)], 1, true)).expect(1).mount(&server).await;
    let started = std::time::Instant::now();
    assert_eq!(read(SourceKind::Entra(entra(&server))).await.expect("read").people.len(), 1);
    assert!(started.elapsed() >= Duration::from_millis(950), "it did not wait for Retry-After: {:?}", started.elapsed());
}

#[tokio::test]
async fn entra_refusals_are_explained() {
    for (status, words) in [
        (401, "Microsoft Graph refused the token of the application in AZURE_CLIENT_ID"),
        (403, "the application (AZURE_CLIENT_ID) may not read the members of group 2f1c6a8e-0d3b-4a57-9c61-7e2b5d4f9a10"),
        (404, "Microsoft Graph has no group 2f1c6a8e-0d3b-4a57-9c61-7e2b5d4f9a10 in tenant contoso.onmicrosoft.com"),
    ] {
        let server = MockServer::start().await;
        token_service(&server).await;
        graph_get(None).respond_with(echo(status)).expect(1).mount(&server).await;
        let reason = failure(read(SourceKind::Entra(entra(&server))).await);
        assert!(reason.starts_with(words), "{status}: {reason}");
        // The echoed bearer token is scrubbed.
        assert!(reason.contains("authorization: Bearer ***"), "{status}: {reason}");
    }
    let reason = {
        let server = MockServer::start().await;
        graph_get(None).respond_with(echo(403)).expect(0).mount(&server).await;
        failure(read(SourceKind::Entra(entra(&server))).await)
    };
    assert!(reason.starts_with("tenant contoso.onmicrosoft.com was not found at http://127.0.0.1:"), "{reason}");
}

#[tokio::test]
async fn entra_token_errors_name_the_variables_and_never_the_secret() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({
            "error": "invalid_client",
            "error_description": format!("AADSTS7000215: Invalid client secret provided ({CLIENT_SECRET}).\r\nTrace ID: x"),
        })))
        .expect(1)
        .mount(&server)
        .await;
    let reason = failure(read(SourceKind::Entra(entra(&server))).await);
    assert!(reason.starts_with("the token service refused the application (invalid_client: AADSTS7000215"), "{reason}");
    assert!(reason.contains("check AZURE_CLIENT_ID and AZURE_CLIENT_SECRET"), "{reason}");
    assert!(reason.contains("(***)"), "{reason}");

    let server = MockServer::start().await;
    Mock::given(method("POST")).respond_with(echo(400)).expect(1).mount(&server).await;
    let reason = failure(read(SourceKind::Entra(entra(&server))).await);
    assert!(reason.contains("the token service refused the request"), "{reason}");
}

#[tokio::test]
async fn entra_disabled_accounts_are_left_out_and_a_null_mail_fails_or_is_skipped() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"access_token": GRAPH_TOKEN})))
        .mount(&server)
        .await;
    let users = json!({"value": [graph_user(1, true), graph_user(2, false), {"id": "u3", "mail": null, "userPrincipalName": "p3@contoso.onmicrosoft.com", "accountEnabled": true}]});
    graph_get(None).respond_with(ResponseTemplate::new(200).set_body_json(users)).mount(&server).await;
    let reason = failure(read(SourceKind::Entra(entra(&server))).await);
    assert!(reason.starts_with("Entra user u3 has no mail, so the read is not used"), "{reason}");
    assert!(reason.contains("User.Read.All"), "{reason}");
    let read = read(SourceKind::Entra(EntraSpec { missing: Missing::Skip, ..entra(&server) })).await.expect("read");
    assert_eq!(emails(&read), ["person1@contoso.com"]);
    assert_eq!(read.warnings, ["Person2@Contoso.com (Entra user u2) is disabled: left out", "Entra user u3 has no mail: skipped"]);
}

#[tokio::test]
async fn entra_never_follows_a_link_to_another_server() {
    let server = MockServer::start().await;
    let elsewhere = MockServer::start().await;
    token_service(&server).await;
    let body = json!({"value": [graph_user(1, true)], "@odata.nextLink": format!("{}{GRAPH_USERS}?$skiptoken=x", elsewhere.uri())});
    graph_get(None).respond_with(ResponseTemplate::new(200).set_body_json(body)).expect(1).mount(&server).await;
    Mock::given(method("GET")).respond_with(ResponseTemplate::new(200)).expect(0).mount(&elsewhere).await;
    let reason = failure(read(SourceKind::Entra(entra(&server))).await);
    assert!(reason.contains("the read stops rather than send the token there"), "{reason}");
}

// ---- Google

const MEMBERS: &str = "/admin/directory/v1/groups/sales@example.com/members";

fn google(server: &MockServer) -> GoogleSpec {
    GoogleSpec {
        group: "sales@example.com".into(),
        token_env: "GOOGLE_ACCESS_TOKEN".into(),
        derived: true,
        missing: Missing::Error,
        directory_url: server.uri(),
    }
}

fn google_member(n: usize, kind: &str, status: &str) -> Value {
    json!({"kind": "admin#directory#member", "id": format!("1{n:04}"), "email": format!("Seller{n}@Example.com"), "role": "MEMBER", "type": kind, "status": status})
}

fn google_get(page_token: Option<&str>) -> wiremock::MockBuilder {
    let mock = Mock::given(method("GET"))
        .and(path(MEMBERS))
        .and(query_param("maxResults", "200"))
        .and(query_param("includeDerivedMembership", "true"))
        .and(header("authorization", format!("Bearer {GOOGLE_TOKEN}").as_str()));
    match page_token {
        None => mock.and(query_param_is_missing("pageToken")),
        Some(t) => mock.and(query_param("pageToken", t)),
    }
}

fn google_page(range: std::ops::Range<usize>, next: Option<&str>) -> ResponseTemplate {
    let mut body =
        json!({"kind": "admin#directory#members", "members": range.map(|n| google_member(n, "USER", "ACTIVE")).collect::<Vec<_>>()});
    if let Some(next) = next {
        body["nextPageToken"] = json!(next);
    }
    ResponseTemplate::new(200).set_body_json(body)
}

#[tokio::test]
async fn google_reads_three_pages_by_page_token() {
    let server = MockServer::start().await;
    google_get(None).respond_with(google_page(0..200, Some("tok/2+"))).expect(1).mount(&server).await;
    google_get(Some("tok/2+")).respond_with(google_page(200..400, Some("tok3"))).expect(1).mount(&server).await;
    google_get(Some("tok3")).respond_with(google_page(400..401, None)).expect(1).mount(&server).await;
    let read = read(SourceKind::Google(google(&server))).await.expect("read");
    assert_eq!(read.people.len(), 401);
    assert_eq!(emails(&read)[400], "seller400@example.com");
}

#[tokio::test]
async fn google_without_derived_membership_asks_so() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(MEMBERS))
        .and(query_param("includeDerivedMembership", "false"))
        .respond_with(google_page(0..1, None))
        .expect(1)
        .mount(&server)
        .await;
    assert_eq!(read(SourceKind::Google(GoogleSpec { derived: false, ..google(&server) })).await.expect("read").people.len(), 1);
}

#[tokio::test]
async fn google_page_2_failing_for_good_fails_the_source() {
    let server = MockServer::start().await;
    google_get(None).respond_with(google_page(0..200, Some("p2"))).expect(1).mount(&server).await;
    google_get(Some("p2")).respond_with(ResponseTemplate::new(503)).expect(3).mount(&server).await;
    let reason = failure(read(SourceKind::Google(google(&server))).await);
    assert!(reason.starts_with("page 2 of the group's members failed, so none of the read is used: HTTP 503"), "{reason}");
}

#[tokio::test]
async fn google_waits_for_retry_after() {
    let server = MockServer::start().await;
    google_get(None)
        .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "1"))
        .up_to_n_times(1)
        .with_priority(1)
        .expect(1)
        .mount(&server)
        .await;
    google_get(None).respond_with(google_page(0..2, None)).expect(1).mount(&server).await;
    assert_eq!(read(SourceKind::Google(google(&server))).await.expect("read").people.len(), 2);
}

#[tokio::test]
async fn google_refusals_are_explained_without_the_token() {
    for (status, words) in [
        (401, "Google refused the access token in GOOGLE_ACCESS_TOKEN"),
        (403, "the token in GOOGLE_ACCESS_TOKEN may not list the members of sales@example.com"),
        (404, "Google Workspace has no group sales@example.com"),
    ] {
        let server = MockServer::start().await;
        google_get(None).respond_with(echo(status)).expect(1).mount(&server).await;
        let reason = failure(read(SourceKind::Google(google(&server))).await);
        assert!(reason.starts_with(words), "{status}: {reason}");
        assert!(reason.contains("authorization: Bearer ***"), "{status}: {reason}");
    }
}

#[tokio::test]
async fn google_leaves_out_suspended_users_and_counts_other_members() {
    let server = MockServer::start().await;
    let members = json!({"members": [
        google_member(1, "USER", "ACTIVE"), google_member(2, "USER", "SUSPENDED"), google_member(3, "GROUP", "ACTIVE"),
        google_member(4, "CUSTOMER", "ACTIVE"), google_member(5, "GROUP", "ACTIVE"),
    ]});
    google_get(None).respond_with(ResponseTemplate::new(200).set_body_json(members)).mount(&server).await;
    let read = read(SourceKind::Google(google(&server))).await.expect("read");
    assert_eq!(emails(&read), ["seller1@example.com"]);
    assert_eq!(
        read.warnings,
        ["Seller2@Example.com (Google user 10002) is suspended: left out", "3 members that are not users ignored: 1 customer, 2 groups"]
    );
}

// ---- SCIM

fn scim(server: &MockServer) -> ScimSpec {
    ScimSpec { url: format!("{}/scim/v2", server.uri()), group_id: "7d0c".into(), token_env: "SCIM_TOKEN".into(), missing: Missing::Error }
}

fn scim_user(n: usize, active: bool) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "id": format!("id{n}"), "userName": format!("user{n}"), "active": active,
        "emails": [{"value": format!("work{n}@example.com"), "type": "work"}, {"value": format!("Primary{n}@Example.com"), "primary": true}],
    })
}

async fn scim_group(server: &MockServer, members: &[&str]) {
    let members: Vec<Value> = members.iter().map(|m| json!({"value": m, "display": "x"})).collect();
    Mock::given(method("GET"))
        .and(path("/scim/v2/Groups/7d0c"))
        .and(header("authorization", format!("Bearer {SCIM_TOKEN}").as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": "7d0c", "displayName": "Contractors", "members": members})))
        .expect(1)
        .mount(server)
        .await;
}

/// The service's users page that starts at `start` (from 1), of `total` users in all.
fn scim_users(server: &MockServer, start: usize, users: Vec<Value>, total: usize) -> Mock {
    let _ = server;
    Mock::given(method("GET"))
        .and(path("/scim/v2/Users"))
        .and(query_param("startIndex", start.to_string().as_str()))
        .and(query_param("count", "100"))
        .and(header("authorization", format!("Bearer {SCIM_TOKEN}").as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"], "totalResults": total, "startIndex": start,
            "itemsPerPage": users.len(), "Resources": users,
        })))
}

#[tokio::test]
async fn scim_maps_the_group_members_through_every_users_page() {
    let server = MockServer::start().await;
    scim_group(&server, &["id5", "id150", "id249"]).await;
    let page = |r: std::ops::Range<usize>| r.map(|n| scim_user(n, true)).collect::<Vec<_>>();
    scim_users(&server, 1, page(0..100), 250).expect(1).mount(&server).await;
    scim_users(&server, 101, page(100..200), 250).expect(1).mount(&server).await;
    scim_users(&server, 201, page(200..250), 250).expect(1).mount(&server).await;
    let read = read(SourceKind::Scim(scim(&server))).await.expect("read");
    assert_eq!(emails(&read), ["primary5@example.com", "primary150@example.com", "primary249@example.com"]);
}

#[tokio::test]
async fn scim_page_2_failing_for_good_fails_the_source() {
    let server = MockServer::start().await;
    scim_group(&server, &["id1"]).await;
    scim_users(&server, 1, (0..100).map(|n| scim_user(n, true)).collect(), 150).expect(1).mount(&server).await;
    Mock::given(method("GET"))
        .and(path("/scim/v2/Users"))
        .and(query_param("startIndex", "101"))
        .respond_with(ResponseTemplate::new(500))
        .expect(3)
        .mount(&server)
        .await;
    let reason = failure(read(SourceKind::Scim(scim(&server))).await);
    assert!(reason.starts_with("page 2 of the service's users failed, so none of the read is used: HTTP 500"), "{reason}");
}

#[tokio::test]
async fn scim_a_listing_that_ends_early_or_a_member_who_is_no_user_fails() {
    let server = MockServer::start().await;
    scim_group(&server, &["id1"]).await;
    scim_users(&server, 1, (0..100).map(|n| scim_user(n, true)).collect(), 150).mount(&server).await;
    scim_users(&server, 101, Vec::new(), 150).mount(&server).await;
    let reason = failure(read(SourceKind::Scim(scim(&server))).await);
    assert!(reason.contains("said it has 150 users but page 2"), "{reason}");

    let server = MockServer::start().await;
    scim_group(&server, &["id1", "ghost"]).await;
    scim_users(&server, 1, vec![scim_user(1, true)], 1).mount(&server).await;
    let reason = failure(read(SourceKind::Scim(scim(&server))).await);
    assert!(reason.starts_with("member ghost of group 7d0c is not among the service's users"), "{reason}");
}

#[tokio::test]
async fn scim_inactive_users_are_left_out_and_a_user_without_emails_fails_or_is_skipped() {
    let server = MockServer::start().await;
    scim_group(&server, &["id1", "id2", "id3"]).await;
    let users = vec![scim_user(1, true), scim_user(2, false), json!({"id": "id3", "userName": "nobody", "active": true})];
    scim_users(&server, 1, users, 3).mount(&server).await;
    let reason = failure(read(SourceKind::Scim(scim(&server))).await);
    assert!(reason.starts_with("SCIM user id3 has no email, so the read is not used"), "{reason}");

    let server = MockServer::start().await;
    scim_group(&server, &["id1", "id2", "id3"]).await;
    let users = vec![scim_user(1, true), scim_user(2, false), json!({"id": "id3", "userName": "nobody", "active": true})];
    scim_users(&server, 1, users, 3).mount(&server).await;
    let read = read(SourceKind::Scim(ScimSpec { missing: Missing::Skip, ..scim(&server) })).await.expect("read");
    assert_eq!(emails(&read), ["primary1@example.com"]);
    assert_eq!(read.warnings, ["Primary2@Example.com (SCIM user id2) is inactive: left out", "SCIM user id3 has no email: skipped"]);
}

#[tokio::test]
async fn scim_refusals_and_an_unknown_group_are_explained_without_the_token() {
    for (status, words) in [
        (401, "the SCIM service refused the token in SCIM_TOKEN"),
        (403, "the token in SCIM_TOKEN may not read the group"),
        (404, "the SCIM service has no group 7d0c"),
    ] {
        let server = MockServer::start().await;
        Mock::given(method("GET")).and(path("/scim/v2/Groups/7d0c")).respond_with(echo(status)).expect(1).mount(&server).await;
        let reason = failure(read(SourceKind::Scim(scim(&server))).await);
        assert!(reason.starts_with(words), "{status}: {reason}");
        assert!(reason.contains("authorization: Bearer ***"), "{status}: {reason}");
    }
}

#[tokio::test]
async fn scim_a_nested_group_fails_the_source() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/scim/v2/Groups/7d0c"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"members": [{"value": "id1"}, {"value": "g2", "type": "Group"}]})))
        .mount(&server)
        .await;
    let reason = failure(read(SourceKind::Scim(scim(&server))).await);
    assert!(reason.contains("has a group among its members (g2)"), "{reason}");
}
