//! The SCIM 2.0 reader against a wiremock SCIM service: the group's member ids, then the users
//! paged by `totalResults` to the end, a page that keeps failing fails the whole source, 429
//! waits for `Retry-After`, 401, 403 and 404 explained, inactive users left out with warnings, a
//! member that is no user or a nested group failing the read, and the token never shown, not
//! even by a server that echoes it.

#[path = "support/provider.rs"]
mod provider;

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use tallyfy_groups_core::desired::Location;
use tallyfy_groups_core::source::{Missing, ScimSpec, SourceFailure, SourceKind, SourceRead, SourceSpec, Unknown};
use tallyfy_groups_sources::{Environment, ReadOptions};
use wiremock::matchers::{header, method, path, query_param};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

const TOKEN: &str = "scim-bearer-secret-0123456789abcdef";
const GROUP: &str = "7d1e6a2c-finance";
const GROUP_PATH: &str = "/scim/v2/Groups/7d1e6a2c-finance";
const USERS_PATH: &str = "/scim/v2/Users";

fn spec(server: &MockServer) -> ScimSpec {
    ScimSpec { url: format!("{}/scim/v2", server.uri()), group_id: GROUP.into(), token_env: "SCIM_TOKEN".into(), missing: Missing::Error }
}

fn options() -> ReadOptions {
    provider::options(&[("SCIM_TOKEN", TOKEN)])
}

async fn read(scim: ScimSpec) -> Result<SourceRead, SourceFailure> {
    provider::read(SourceKind::Scim(scim), &options()).await
}

fn failure(result: Result<SourceRead, SourceFailure>) -> String {
    provider::failure(result, "scim", &[TOKEN])
}

/// A user whose primary address is `Person{n}@Example.com`, listed after a work address.
fn user(n: usize, active: bool) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "id": format!("u{n}"),
        "userName": format!("p{n}@corp.example"),
        "active": active,
        "emails": [{"value": format!("work{n}@corp.example"), "type": "work"}, {"value": format!("Person{n}@Example.com"), "type": "home", "primary": true}],
    })
}

fn group(members: impl IntoIterator<Item = Value>) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
        "id": GROUP,
        "displayName": "Finance",
        "members": members.into_iter().collect::<Vec<_>>(),
    })
}

fn member(id: &str) -> Value {
    json!({"value": id, "$ref": format!("https://idp.example.com/scim/v2/Users/{id}"), "type": "User"})
}

fn list(total: usize, start: usize, users: Vec<Value>) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
        "totalResults": total,
        "startIndex": start,
        "itemsPerPage": users.len(),
        "Resources": users,
    })
}

fn users(range: std::ops::Range<usize>) -> Vec<Value> {
    range.map(|n| user(n, true)).collect()
}

/// A group of `members` users, once.
async fn the_group(server: &MockServer, members: std::ops::Range<usize>) {
    Mock::given(method("GET"))
        .and(path(GROUP_PATH))
        .and(header("authorization", format!("Bearer {TOKEN}").as_str()))
        .and(header("accept", "application/json"))
        .respond_with(ResponseTemplate::new(200).set_body_json(group(members.map(|n| member(&format!("u{n}"))))))
        .expect(1)
        .mount(server)
        .await;
}

/// The page of users from `start`, once.
async fn users_page(server: &MockServer, start: usize, body: ResponseTemplate) {
    Mock::given(method("GET"))
        .and(path(USERS_PATH))
        .and(query_param("startIndex", start.to_string().as_str()))
        .and(query_param("count", "100"))
        .and(header("authorization", format!("Bearer {TOKEN}").as_str()))
        .respond_with(body)
        .expect(1)
        .mount(server)
        .await;
}

#[tokio::test]
async fn three_pages_of_users_are_read_whole_for_the_groups_members() {
    let server = MockServer::start().await;
    the_group(&server, 5..245).await;
    users_page(&server, 1, ResponseTemplate::new(200).set_body_json(list(250, 1, users(0..100)))).await;
    users_page(&server, 101, ResponseTemplate::new(200).set_body_json(list(250, 101, users(100..200)))).await;
    users_page(&server, 201, ResponseTemplate::new(200).set_body_json(list(250, 201, users(200..250)))).await;
    let read = read(spec(&server)).await.expect("read");
    let got: Vec<&str> = read.people.iter().map(|p| p.email.as_str()).collect();
    let want: Vec<String> = (5..245).map(|n| format!("person{n}@example.com")).collect();
    assert_eq!(got, want);
    assert!(read.warnings.is_empty());
}

#[tokio::test]
async fn the_primary_address_else_the_first() {
    let server = MockServer::start().await;
    the_group(&server, 1..4).await;
    let listed = vec![
        user(1, true),
        json!({"id": "u2", "userName": "p2", "emails": [{"value": "First2@Example.com", "type": "work"}, {"value": "second2@example.com"}]}),
        json!({"id": "u3", "userName": "p3", "emails": [{"value": "work3@example.com", "primary": false}, {"value": "Main3@Example.com", "primary": true}]}),
    ];
    users_page(&server, 1, ResponseTemplate::new(200).set_body_json(list(3, 1, listed))).await;
    let read = read(spec(&server)).await.expect("read");
    let got: Vec<&str> = read.people.iter().map(|p| p.email.as_str()).collect();
    assert_eq!(got, ["person1@example.com", "first2@example.com", "main3@example.com"]);
}

#[tokio::test]
async fn a_page_that_keeps_failing_fails_the_whole_source() {
    let server = MockServer::start().await;
    the_group(&server, 0..150).await;
    users_page(&server, 1, ResponseTemplate::new(200).set_body_json(list(250, 1, users(0..100)))).await;
    Mock::given(method("GET"))
        .and(path(USERS_PATH))
        .and(query_param("startIndex", "101"))
        .respond_with(ResponseTemplate::new(500).set_body_string("internal error"))
        .expect(3)
        .mount(&server)
        .await;
    let reason = failure(read(spec(&server)).await);
    assert!(reason.starts_with("page 2 of the service's users failed, so none of the read is used: HTTP 500 from"), "{reason}");
    assert!(reason.ends_with("internal error (after 3 attempts)"), "{reason}");
}

#[tokio::test]
async fn a_failure_on_page_2_that_passes_on_retry_reads_everyone() {
    let server = MockServer::start().await;
    the_group(&server, 0..110).await;
    users_page(&server, 1, ResponseTemplate::new(200).set_body_json(list(110, 1, users(0..100)))).await;
    Mock::given(method("GET"))
        .and(path(USERS_PATH))
        .and(query_param("startIndex", "101"))
        .respond_with(ResponseTemplate::new(500))
        .up_to_n_times(1)
        .with_priority(1)
        .expect(1)
        .mount(&server)
        .await;
    users_page(&server, 101, ResponseTemplate::new(200).set_body_json(list(110, 101, users(100..110)))).await;
    assert_eq!(read(spec(&server)).await.expect("read").people.len(), 110);
}

#[tokio::test]
async fn rate_limited_requests_wait_for_retry_after() {
    let server = MockServer::start().await;
    the_group(&server, 0..3).await;
    Mock::given(method("GET"))
        .and(path(USERS_PATH))
        .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "1"))
        .up_to_n_times(1)
        .with_priority(1)
        .expect(1)
        .mount(&server)
        .await;
    users_page(&server, 1, ResponseTemplate::new(200).set_body_json(list(3, 1, users(0..3)))).await;
    let started = std::time::Instant::now();
    assert_eq!(read(spec(&server)).await.expect("read").people.len(), 3);
    // It waited the second the service asked for, not the 10 ms first pause.
    assert!(started.elapsed() >= Duration::from_millis(900), "{:?}", started.elapsed());
}

#[tokio::test]
async fn refusals_and_an_unknown_group_are_explained() {
    for (status, words) in [
        (401, "the SCIM service refused the token in SCIM_TOKEN (HTTP 401"),
        (403, "the token in SCIM_TOKEN may not read the group (HTTP 403"),
        (404, "the SCIM service has no group 7d1e6a2c-finance (HTTP 404"),
    ] {
        let server = MockServer::start().await;
        let error = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"], "status": status.to_string(), "detail": "denied"});
        Mock::given(method("GET"))
            .and(path(GROUP_PATH))
            .respond_with(ResponseTemplate::new(status).set_body_json(error))
            .expect(1)
            .mount(&server)
            .await;
        Mock::given(method("GET")).and(path(USERS_PATH)).respond_with(ResponseTemplate::new(200)).expect(0).mount(&server).await;
        let reason = failure(read(spec(&server)).await);
        assert!(reason.starts_with(words), "{status}: {reason}");
    }
}

#[tokio::test]
async fn a_token_that_may_not_list_users_is_explained() {
    let server = MockServer::start().await;
    the_group(&server, 0..3).await;
    Mock::given(method("GET")).and(path(USERS_PATH)).respond_with(ResponseTemplate::new(403)).expect(1).mount(&server).await;
    let reason = failure(read(spec(&server)).await);
    assert!(reason.starts_with("the token in SCIM_TOKEN may not read the users (HTTP 403"), "{reason}");
    assert!(reason.ends_with("it needs read access to groups and users"), "{reason}");
}

#[tokio::test]
async fn inactive_users_are_left_out_with_warnings() {
    let server = MockServer::start().await;
    the_group(&server, 1..5).await;
    let listed = vec![
        user(1, true),
        user(2, false),
        json!({"id": "u3", "userName": "p3@corp.example", "active": false, "emails": []}),
        json!({"id": "u4", "userName": "p4", "emails": [{"value": "Person4@Example.com"}]}),
    ];
    users_page(&server, 1, ResponseTemplate::new(200).set_body_json(list(4, 1, listed))).await;
    let read = read(spec(&server)).await.expect("read");
    let got: Vec<&str> = read.people.iter().map(|p| p.email.as_str()).collect();
    assert_eq!(got, ["person1@example.com", "person4@example.com"]);
    assert_eq!(
        read.warnings,
        ["Person2@Example.com (SCIM user u2) is inactive: left out", "p3@corp.example (SCIM user u3) is inactive: left out"]
    );
}

#[tokio::test]
async fn a_member_who_is_no_user_fails_the_read() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(GROUP_PATH))
        .respond_with(ResponseTemplate::new(200).set_body_json(group([member("u1"), member("u999")])))
        .expect(1)
        .mount(&server)
        .await;
    users_page(&server, 1, ResponseTemplate::new(200).set_body_json(list(2, 1, users(0..2)))).await;
    let reason = failure(read(spec(&server)).await);
    assert!(reason.starts_with("member u999 of group 7d1e6a2c-finance is not among the service's users"), "{reason}");
}

#[tokio::test]
async fn a_nested_group_fails_the_read_before_the_users_are_listed() {
    let server = MockServer::start().await;
    let nested = json!({"value": "g7", "$ref": "https://idp.example.com/scim/v2/Groups/g7", "type": "Group"});
    Mock::given(method("GET"))
        .and(path(GROUP_PATH))
        .respond_with(ResponseTemplate::new(200).set_body_json(group([member("u1"), nested])))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET")).and(path(USERS_PATH)).respond_with(ResponseTemplate::new(200)).expect(0).mount(&server).await;
    let reason = failure(read(spec(&server)).await);
    assert!(
        reason.starts_with("group 7d1e6a2c-finance has a group among its members (g7); nested SCIM groups are not expanded"),
        "{reason}"
    );
}

#[tokio::test]
async fn a_user_without_an_address_fails_the_read_or_is_skipped() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(GROUP_PATH))
        .respond_with(ResponseTemplate::new(200).set_body_json(group([member("u1"), member("u2")])))
        .mount(&server)
        .await;
    let listed = vec![user(1, true), json!({"id": "u2", "userName": "p2", "active": true})];
    Mock::given(method("GET"))
        .and(path(USERS_PATH))
        .respond_with(ResponseTemplate::new(200).set_body_json(list(2, 1, listed)))
        .mount(&server)
        .await;
    let reason = failure(read(spec(&server)).await);
    assert!(reason.starts_with("SCIM user u2 has no email, so the read is not used"), "{reason}");
    let skipped = read(ScimSpec { missing: Missing::Skip, ..spec(&server) }).await.expect("read");
    assert_eq!(skipped.people.len(), 1);
    assert_eq!(skipped.warnings, ["SCIM user u2 has no email: skipped"]);
}

#[tokio::test]
async fn a_listing_that_ends_before_total_results_fails_the_read() {
    let server = MockServer::start().await;
    the_group(&server, 0..3).await;
    users_page(&server, 1, ResponseTemplate::new(200).set_body_json(list(150, 1, users(0..100)))).await;
    users_page(&server, 101, ResponseTemplate::new(200).set_body_json(list(150, 101, Vec::new()))).await;
    let reason = failure(read(spec(&server)).await);
    assert!(reason.starts_with("the service said it has 150 users but page 2 (from 101) was empty"), "{reason}");
}

/// Answers with the request's headers in the body, as a broken proxy might.
struct EchoHeaders(u16);

impl Respond for EchoHeaders {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let headers: Vec<String> = request.headers.iter().map(|(k, v)| format!("{k}: {}", v.to_str().unwrap_or(""))).collect();
        ResponseTemplate::new(self.0).set_body_string(headers.join("\n"))
    }
}

#[tokio::test]
async fn the_token_is_never_shown_even_when_a_server_echoes_it() {
    for status in [400, 401, 500] {
        // The group's request and a users page's.
        for on_users in [false, true] {
            let server = MockServer::start().await;
            if on_users {
                the_group(&server, 0..3).await;
                Mock::given(method("GET")).and(path(USERS_PATH)).respond_with(EchoHeaders(status)).mount(&server).await;
            } else {
                Mock::given(method("GET")).and(path(GROUP_PATH)).respond_with(EchoHeaders(status)).mount(&server).await;
            }
            let reason = failure(read(spec(&server)).await);
            assert!(reason.contains("authorization: Bearer ***"), "{status}: {reason}");
        }
    }
}

#[tokio::test]
async fn an_unset_token_variable_is_named_and_nothing_is_asked() {
    let server = MockServer::start().await;
    Mock::given(method("GET")).respond_with(ResponseTemplate::new(200)).expect(0).mount(&server).await;
    let spec = SourceSpec {
        name: "finance-scim".into(),
        kind: SourceKind::Scim(spec(&server)),
        allow_empty: false,
        unknown: Unknown::Error,
        at: Location { file: Arc::from("groups.yaml"), line: 2, column: 3 },
        dir: ".".into(),
    };
    let options = ReadOptions { env: Environment::fixed([("SCIM_TOKEN".to_string(), String::new())]), ..options() };
    let reason = failure(tallyfy_groups_sources::read(&spec, &options).await);
    assert!(reason.starts_with("SCIM_TOKEN (the SCIM bearer token) is not set or is empty"), "{reason}");
}
