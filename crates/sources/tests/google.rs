//! The Google Workspace reader against a wiremock Directory API: pages followed by
//! `nextPageToken` to the end, a page that keeps failing fails the whole source, 429 waits for
//! `Retry-After`, 401, 403 and 404 explained, suspended users left out with warnings and members
//! that are not users counted, and the token never shown, not even by a server that echoes it.

#[path = "support/provider.rs"]
mod provider;

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use tallyfy_groups_core::desired::Location;
use tallyfy_groups_core::source::{GoogleSpec, Missing, SourceFailure, SourceKind, SourceRead, SourceSpec, Unknown};
use tallyfy_groups_sources::{Environment, ReadOptions};
use wiremock::matchers::{header, method, path, query_param, query_param_is_missing};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

const TOKEN: &str = "ya29.a0AfB_byGoogleAccessToken-0123456789abcdefXYZ";
const GROUP: &str = "finance@example.com";
const MEMBERS_PATH: &str = "/admin/directory/v1/groups/finance@example.com/members";
/// Page tokens are opaque and may hold `+`, `/` and `=`: sent percent-encoded.
const PAGE_2: &str = "CgkI2+/x=";
const PAGE_3: &str = "CgkI3+/y=";

fn spec(server: &MockServer) -> GoogleSpec {
    GoogleSpec {
        group: GROUP.into(),
        token_env: "GOOGLE_TOKEN".into(),
        derived: true,
        missing: Missing::Error,
        directory_url: server.uri(),
    }
}

fn options() -> ReadOptions {
    provider::options(&[("GOOGLE_TOKEN", TOKEN)])
}

async fn read(google: GoogleSpec) -> Result<SourceRead, SourceFailure> {
    provider::read(SourceKind::Google(google), &options()).await
}

fn failure(result: Result<SourceRead, SourceFailure>) -> String {
    provider::failure(result, "google", &[TOKEN])
}

fn member(n: usize, kind: &str, status: &str) -> Value {
    json!({"kind": "admin#directory#member", "id": format!("1000{n}"), "email": format!("Person{n}@Example.com"), "role": "MEMBER", "type": kind, "status": status})
}

fn page(range: std::ops::Range<usize>, next: Option<&str>) -> Value {
    let mut body = json!({"kind": "admin#directory#members", "members": range.map(|n| member(n, "USER", "ACTIVE")).collect::<Vec<_>>()});
    if let Some(token) = next {
        body["nextPageToken"] = json!(token);
    }
    body
}

/// Pages 1 and 2 (200 members each), each with the next page's token.
async fn two_pages(server: &MockServer) {
    let auth = format!("Bearer {TOKEN}");
    Mock::given(method("GET"))
        .and(path(MEMBERS_PATH))
        .and(query_param("maxResults", "200"))
        .and(query_param("includeDerivedMembership", "true"))
        .and(query_param_is_missing("pageToken"))
        .and(header("authorization", auth.as_str()))
        .and(header("accept", "application/json"))
        .respond_with(ResponseTemplate::new(200).set_body_json(page(0..200, Some(PAGE_2))))
        .expect(1)
        .mount(server)
        .await;
    Mock::given(method("GET"))
        .and(path(MEMBERS_PATH))
        .and(query_param("maxResults", "200"))
        .and(query_param("includeDerivedMembership", "true"))
        .and(query_param("pageToken", PAGE_2))
        .and(header("authorization", auth.as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(page(200..400, Some(PAGE_3))))
        .expect(1)
        .mount(server)
        .await;
}

#[tokio::test]
async fn three_pages_are_read_whole_following_the_page_tokens() {
    let server = MockServer::start().await;
    two_pages(&server).await;
    Mock::given(method("GET"))
        .and(path(MEMBERS_PATH))
        .and(query_param("pageToken", PAGE_3))
        .and(header("authorization", format!("Bearer {TOKEN}").as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(page(400..450, None)))
        .expect(1)
        .mount(&server)
        .await;
    let read = read(spec(&server)).await.expect("read");
    let got: Vec<&str> = read.people.iter().map(|p| p.email.as_str()).collect();
    let want: Vec<String> = (0..450).map(|n| format!("person{n}@example.com")).collect();
    assert_eq!(got, want);
    assert!(read.warnings.is_empty());
}

#[tokio::test]
async fn direct_members_only_when_derived_is_off() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(MEMBERS_PATH))
        .and(query_param("includeDerivedMembership", "false"))
        .respond_with(ResponseTemplate::new(200).set_body_json(page(0..2, None)))
        .expect(1)
        .mount(&server)
        .await;
    assert_eq!(read(GoogleSpec { derived: false, ..spec(&server) }).await.expect("read").people.len(), 2);
}

#[tokio::test]
async fn a_page_that_keeps_failing_fails_the_whole_source() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(MEMBERS_PATH))
        .and(query_param_is_missing("pageToken"))
        .respond_with(ResponseTemplate::new(200).set_body_json(page(0..200, Some(PAGE_2))))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(MEMBERS_PATH))
        .and(query_param("pageToken", PAGE_2))
        .respond_with(ResponseTemplate::new(500).set_body_string("internal error"))
        .expect(3)
        .mount(&server)
        .await;
    let reason = failure(read(spec(&server)).await);
    assert!(reason.starts_with("page 2 of the group's members failed, so none of the read is used: HTTP 500 from"), "{reason}");
    assert!(reason.ends_with("internal error (after 3 attempts)"), "{reason}");
}

#[tokio::test]
async fn a_failure_on_page_2_that_passes_on_retry_reads_everyone() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(MEMBERS_PATH))
        .and(query_param_is_missing("pageToken"))
        .respond_with(ResponseTemplate::new(200).set_body_json(page(0..200, Some(PAGE_2))))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(MEMBERS_PATH))
        .and(query_param("pageToken", PAGE_2))
        .respond_with(ResponseTemplate::new(500))
        .up_to_n_times(1)
        .with_priority(1)
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(MEMBERS_PATH))
        .and(query_param("pageToken", PAGE_2))
        .respond_with(ResponseTemplate::new(200).set_body_json(page(200..210, None)))
        .expect(1)
        .mount(&server)
        .await;
    assert_eq!(read(spec(&server)).await.expect("read").people.len(), 210);
}

#[tokio::test]
async fn rate_limited_requests_wait_for_retry_after() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(MEMBERS_PATH))
        .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "1"))
        .up_to_n_times(1)
        .with_priority(1)
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(MEMBERS_PATH))
        .respond_with(ResponseTemplate::new(200).set_body_json(page(0..3, None)))
        .expect(1)
        .mount(&server)
        .await;
    let started = std::time::Instant::now();
    assert_eq!(read(spec(&server)).await.expect("read").people.len(), 3);
    // It waited the second Google asked for, not the 10 ms first pause.
    assert!(started.elapsed() >= Duration::from_millis(900), "{:?}", started.elapsed());
}

#[tokio::test]
async fn refusals_and_an_unknown_group_are_explained() {
    for (status, words, also) in [
        (401, "Google refused the access token in GOOGLE_TOKEN (HTTP 401", "obtain a fresh one"),
        (
            403,
            "the token in GOOGLE_TOKEN may not list the members of finance@example.com (HTTP 403",
            "https://www.googleapis.com/auth/admin.directory.group.member.readonly",
        ),
        (404, "Google Workspace has no group finance@example.com (HTTP 404", "check `group`"),
    ] {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path(MEMBERS_PATH))
            .respond_with(
                ResponseTemplate::new(status)
                    .set_body_json(json!({"error": {"code": status, "message": "Not Authorized to access this resource/api"}})),
            )
            .expect(1)
            .mount(&server)
            .await;
        let reason = failure(read(spec(&server)).await);
        assert!(reason.starts_with(words), "{status}: {reason}");
        assert!(reason.contains(also), "{status}: {reason}");
    }
}

#[tokio::test]
async fn suspended_users_are_left_out_and_members_that_are_not_users_counted() {
    let server = MockServer::start().await;
    let members = json!({"members": [
        member(1, "USER", "ACTIVE"),
        member(2, "USER", "SUSPENDED"),
        {"id": "g1", "email": "Team@Example.com", "role": "MEMBER", "type": "GROUP"},
        {"id": "c1", "role": "MEMBER", "type": "CUSTOMER"},
        {"id": "g2", "email": "Other@Example.com", "role": "MEMBER", "type": "GROUP"},
        member(3, "USER", "ACTIVE"),
        {"id": "10004", "role": "MEMBER", "type": "USER", "status": "SUSPENDED"},
    ]});
    Mock::given(method("GET")).and(path(MEMBERS_PATH)).respond_with(ResponseTemplate::new(200).set_body_json(members)).mount(&server).await;
    let read = read(spec(&server)).await.expect("read");
    let got: Vec<&str> = read.people.iter().map(|p| p.email.as_str()).collect();
    assert_eq!(got, ["person1@example.com", "person3@example.com"]);
    assert_eq!(
        read.warnings,
        [
            "Person2@Example.com (Google user 10002) is suspended: left out",
            "10004 (Google user 10004) is suspended: left out",
            "3 members that are not users ignored: 1 customer, 2 groups",
        ]
    );
}

#[tokio::test]
async fn many_left_out_are_named_ten_and_the_rest_counted() {
    let server = MockServer::start().await;
    let members: Vec<Value> = (0..13).map(|n| member(n, "USER", if n == 0 { "ACTIVE" } else { "SUSPENDED" })).collect();
    Mock::given(method("GET"))
        .and(path(MEMBERS_PATH))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"members": members})))
        .mount(&server)
        .await;
    let read = read(spec(&server)).await.expect("read");
    assert_eq!(read.people.len(), 1);
    assert_eq!(read.warnings.len(), 11);
    assert_eq!(read.warnings[0], "Person1@Example.com (Google user 10001) is suspended: left out");
    assert_eq!(read.warnings[10], "and 2 more left out");
}

#[tokio::test]
async fn a_member_without_an_address_fails_the_read_or_is_skipped() {
    let server = MockServer::start().await;
    let members = json!({"members": [member(1, "USER", "ACTIVE"), {"id": "10002", "role": "MEMBER", "type": "USER", "status": "ACTIVE"}]});
    Mock::given(method("GET")).and(path(MEMBERS_PATH)).respond_with(ResponseTemplate::new(200).set_body_json(members)).mount(&server).await;
    let reason = failure(read(spec(&server)).await);
    assert!(reason.starts_with("Google member 10002 has no email, so the read is not used"), "{reason}");
    let skipped = read(GoogleSpec { missing: Missing::Skip, ..spec(&server) }).await.expect("read");
    assert_eq!(skipped.people.len(), 1);
    assert_eq!(skipped.warnings, ["Google member 10002 has no email: skipped"]);
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
        let server = MockServer::start().await;
        Mock::given(method("GET")).and(path(MEMBERS_PATH)).respond_with(EchoHeaders(status)).mount(&server).await;
        let reason = failure(read(spec(&server)).await);
        assert!(reason.contains("authorization: Bearer ***"), "{status}: {reason}");
    }
}

#[tokio::test]
async fn not_even_part_of_the_token_is_shown_where_the_answer_is_cut_short() {
    let server = MockServer::start().await;
    // The excerpt of an answer is its first 300 characters: here the token starts 20 before them.
    Mock::given(method("GET"))
        .and(path(MEMBERS_PATH))
        .respond_with(
            ResponseTemplate::new(400).set_body_string(format!("{} Bearer {TOKEN} and more", "x".repeat(300 - 20 - " Bearer ".len()))),
        )
        .mount(&server)
        .await;
    let reason = failure(read(spec(&server)).await);
    assert!(!reason.contains(&TOKEN[..20]), "part of the token was shown: {reason}");
}

#[tokio::test]
async fn an_unset_token_variable_is_named_and_nothing_is_asked() {
    let server = MockServer::start().await;
    Mock::given(method("GET")).respond_with(ResponseTemplate::new(200)).expect(0).mount(&server).await;
    let spec = SourceSpec {
        name: "finance-google".into(),
        kind: SourceKind::Google(spec(&server)),
        allow_empty: false,
        unknown: Unknown::Error,
        at: Location { file: Arc::from("groups.yaml"), line: 2, column: 3 },
        dir: ".".into(),
    };
    let options = ReadOptions { env: Environment::fixed([]), ..options() };
    let reason = failure(tallyfy_groups_sources::read(&spec, &options).await);
    assert!(reason.starts_with("GOOGLE_TOKEN (the OAuth access token) is not set or is empty"), "{reason}");
}

#[tokio::test]
async fn a_rate_limit_said_with_a_403_is_retried() {
    let server = MockServer::start().await;
    let limited = json!({"error": {"code": 403, "message": "Quota exceeded", "errors": [{"reason": "userRateLimitExceeded"}]}});
    Mock::given(method("GET"))
        .and(path(MEMBERS_PATH))
        .respond_with(ResponseTemplate::new(403).set_body_json(limited.clone()))
        .up_to_n_times(1)
        .with_priority(1)
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(MEMBERS_PATH))
        .respond_with(ResponseTemplate::new(200).set_body_json(page(0..3, None)))
        .expect(1)
        .mount(&server)
        .await;
    assert_eq!(read(spec(&server)).await.expect("read").people.len(), 3);

    // Still limited after the retries: said as a rate limit, not as a missing scope.
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(MEMBERS_PATH))
        .respond_with(ResponseTemplate::new(403).set_body_json(limited))
        .expect(3)
        .mount(&server)
        .await;
    let reason = failure(read(spec(&server)).await);
    assert!(reason.starts_with("Google's rate limit for the token in GOOGLE_TOKEN was still exceeded after the retries"), "{reason}");
}
