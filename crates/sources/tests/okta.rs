//! The Okta reader against a wiremock Okta: pages followed by their `Link` headers to the end,
//! a page that keeps failing fails the whole source, 429 waits for Okta's reset time, 401, 403
//! and 404 explained, users who cannot sign in left out with warnings, and the token never
//! shown, not even by a server that echoes it.

#[path = "support/provider.rs"]
mod provider;

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use tallyfy_groups_core::desired::Location;
use tallyfy_groups_core::source::{Missing, OktaSpec, SourceFailure, SourceKind, SourceRead, SourceSpec, Unknown};
use tallyfy_groups_sources::{Environment, ReadOptions};
use wiremock::matchers::{header, method, path, query_param, query_param_is_missing};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

const TOKEN: &str = "00okta-secret-token-0123456789";
const GROUP: &str = "00g1abcd2EFGH3ijk4x7";
const USERS_PATH: &str = "/api/v1/groups/00g1abcd2EFGH3ijk4x7/users";

fn spec(server: &MockServer) -> OktaSpec {
    OktaSpec { url: server.uri(), group_id: GROUP.into(), token_env: "OKTA_API_TOKEN".into(), login: false, missing: Missing::Error }
}

fn options() -> ReadOptions {
    provider::options(&[("OKTA_API_TOKEN", TOKEN)])
}

async fn read(okta: OktaSpec) -> Result<SourceRead, SourceFailure> {
    provider::read(SourceKind::Okta(okta), &options()).await
}

fn failure(result: Result<SourceRead, SourceFailure>) -> String {
    provider::failure(result, "okta", &[TOKEN])
}

fn user(n: usize, status: &str) -> Value {
    json!({"id": format!("00u{n}"), "status": status, "profile": {"email": format!("Person{n}@Example.com"), "login": format!("p{n}@corp.example")}})
}

fn page(range: std::ops::Range<usize>) -> Value {
    Value::Array(range.map(|n| user(n, "ACTIVE")).collect())
}

fn link(server: &MockServer, after: &str) -> String {
    format!("<{}{USERS_PATH}?limit=200>; rel=\"self\", <{}{USERS_PATH}?limit=200&after={after}>; rel=\"next\"", server.uri(), server.uri())
}

/// Three pages: 200 + 200 + 50 people, the first two linking to the next.
async fn three_pages(server: &MockServer) {
    let auth = format!("SSWS {TOKEN}");
    Mock::given(method("GET"))
        .and(path(USERS_PATH))
        .and(query_param("limit", "200"))
        .and(query_param_is_missing("after"))
        .and(header("authorization", auth.as_str()))
        .and(header("accept", "application/json"))
        .respond_with(ResponseTemplate::new(200).set_body_json(page(0..200)).insert_header("link", link(server, "00u199")))
        .expect(1)
        .mount(server)
        .await;
    Mock::given(method("GET"))
        .and(path(USERS_PATH))
        .and(query_param("after", "00u199"))
        .and(header("authorization", auth.as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(page(200..400)).insert_header("link", link(server, "00u399")))
        .expect(1)
        .mount(server)
        .await;
}

#[tokio::test]
async fn three_pages_are_read_whole_following_the_links() {
    let server = MockServer::start().await;
    three_pages(&server).await;
    Mock::given(method("GET"))
        .and(path(USERS_PATH))
        .and(query_param("after", "00u399"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(page(400..450))
                .insert_header("link", format!("<{}{USERS_PATH}?limit=200&after=00u399>; rel=\"self\"", server.uri())),
        )
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
async fn a_page_that_keeps_failing_fails_the_whole_source() {
    let server = MockServer::start().await;
    three_pages(&server).await;
    Mock::given(method("GET"))
        .and(path(USERS_PATH))
        .and(query_param("after", "00u399"))
        .respond_with(ResponseTemplate::new(500).set_body_string("internal error"))
        .expect(3)
        .mount(&server)
        .await;
    let reason = failure(read(spec(&server)).await);
    assert!(reason.starts_with("page 3 of the group's users failed, so none of the read is used: HTTP 500 from"), "{reason}");
    assert!(reason.ends_with("internal error (after 3 attempts)"), "{reason}");
}

#[tokio::test]
async fn a_failure_on_page_2_that_passes_on_retry_reads_everyone() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(USERS_PATH))
        .and(query_param_is_missing("after"))
        .respond_with(ResponseTemplate::new(200).set_body_json(page(0..200)).insert_header("link", link(&server, "00u199")))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(USERS_PATH))
        .and(query_param("after", "00u199"))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(1)
        .with_priority(1)
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(USERS_PATH))
        .and(query_param("after", "00u199"))
        .respond_with(ResponseTemplate::new(200).set_body_json(page(200..210)))
        .expect(1)
        .mount(&server)
        .await;
    assert_eq!(read(spec(&server)).await.expect("read").people.len(), 210);
}

#[tokio::test]
async fn rate_limited_requests_wait_for_oktas_reset_time() {
    let server = MockServer::start().await;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    Mock::given(method("GET"))
        .and(path(USERS_PATH))
        .respond_with(
            ResponseTemplate::new(429).insert_header("x-rate-limit-reset", now.to_string()).insert_header("x-rate-limit-remaining", "0"),
        )
        .up_to_n_times(1)
        .with_priority(1)
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(USERS_PATH))
        .respond_with(ResponseTemplate::new(200).set_body_json(page(0..3)))
        .expect(1)
        .mount(&server)
        .await;
    let started = std::time::Instant::now();
    assert_eq!(read(spec(&server)).await.expect("read").people.len(), 3);
    // It waited for the reset second to pass (a second at most), not the 10 ms first pause.
    assert!(started.elapsed() >= Duration::from_millis(900), "{:?}", started.elapsed());
}

#[tokio::test]
async fn refusals_and_an_unknown_group_are_explained() {
    for (status, words) in [
        (401, "Okta refused the token in OKTA_API_TOKEN (HTTP 401"),
        (403, "the token in OKTA_API_TOKEN may not read group 00g1abcd2EFGH3ijk4x7 (HTTP 403"),
        (404, "Okta has no group 00g1abcd2EFGH3ijk4x7 at http://127.0.0.1:"),
    ] {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path(USERS_PATH))
            .respond_with(
                ResponseTemplate::new(status).set_body_json(json!({"errorCode": "E0000011", "errorSummary": "Invalid token provided"})),
            )
            .expect(1)
            .mount(&server)
            .await;
        let reason = failure(read(spec(&server)).await);
        assert!(reason.starts_with(words), "{status}: {reason}");
    }
}

#[tokio::test]
async fn users_who_cannot_sign_in_are_left_out_with_warnings() {
    let server = MockServer::start().await;
    let users = json!([
        user(1, "ACTIVE"),
        user(2, "SUSPENDED"),
        user(3, "PASSWORD_EXPIRED"),
        user(4, "DEPROVISIONED"),
        user(5, "LOCKED_OUT"),
        user(6, "STAGED"),
        user(7, "RECOVERY"),
        user(8, "PROVISIONED"),
    ]);
    Mock::given(method("GET")).and(path(USERS_PATH)).respond_with(ResponseTemplate::new(200).set_body_json(users)).mount(&server).await;
    let read = read(spec(&server)).await.expect("read");
    let got: Vec<&str> = read.people.iter().map(|p| p.email.as_str()).collect();
    assert_eq!(got, ["person1@example.com", "person3@example.com", "person5@example.com", "person7@example.com"]);
    assert_eq!(
        read.warnings,
        [
            "Person2@Example.com (Okta user 00u2) is SUSPENDED: left out",
            "Person4@Example.com (Okta user 00u4) is DEPROVISIONED: left out",
            "Person6@Example.com (Okta user 00u6) is STAGED: left out",
            "Person8@Example.com (Okta user 00u8) is PROVISIONED: left out",
        ]
    );
}

#[tokio::test]
async fn login_instead_of_email_and_a_user_without_the_attribute() {
    let server = MockServer::start().await;
    let users = json!([user(1, "ACTIVE"), {"id": "00u2", "status": "ACTIVE", "profile": {"login": "p2@corp.example"}}]);
    Mock::given(method("GET")).and(path(USERS_PATH)).respond_with(ResponseTemplate::new(200).set_body_json(users)).mount(&server).await;
    let by_login = read(OktaSpec { login: true, ..spec(&server) }).await.expect("read");
    assert_eq!(by_login.people.iter().map(|p| p.email.as_str()).collect::<Vec<_>>(), ["p1@corp.example", "p2@corp.example"]);
    let reason = failure(read(spec(&server)).await);
    assert!(reason.starts_with("Okta user 00u2 has no profile.email, so the read is not used"), "{reason}");
    let skipped = read(OktaSpec { missing: Missing::Skip, ..spec(&server) }).await.expect("read");
    assert_eq!(skipped.people.len(), 1);
    assert_eq!(skipped.warnings, ["Okta user 00u2 has no profile.email: skipped"]);
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
        Mock::given(method("GET")).and(path(USERS_PATH)).respond_with(EchoHeaders(status)).mount(&server).await;
        let reason = failure(read(spec(&server)).await);
        assert!(reason.contains("authorization: SSWS ***"), "{status}: {reason}");
    }
}

#[tokio::test]
async fn a_link_to_another_server_is_never_followed() {
    let server = MockServer::start().await;
    let elsewhere = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(USERS_PATH))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(page(0..200))
                .insert_header("link", format!("<{}{USERS_PATH}?after=x>; rel=\"next\"", elsewhere.uri())),
        )
        .mount(&server)
        .await;
    Mock::given(method("GET")).respond_with(ResponseTemplate::new(200).set_body_json(page(0..1))).expect(0).mount(&elsewhere).await;
    let reason = failure(read(spec(&server)).await);
    assert!(reason.contains("outside") && reason.contains("the read stops rather than send the token there"), "{reason}");
}

#[tokio::test]
async fn a_link_back_to_a_page_already_read_stops_the_read() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(USERS_PATH))
        .respond_with(ResponseTemplate::new(200).set_body_json(page(0..200)).insert_header("link", link(&server, "00u199")))
        .expect(2)
        .mount(&server)
        .await;
    let reason = failure(read(spec(&server)).await);
    assert!(reason.contains("to a page it had already given"), "{reason}");
}

#[tokio::test]
async fn an_unset_token_variable_is_named_and_nothing_is_asked() {
    let server = MockServer::start().await;
    Mock::given(method("GET")).respond_with(ResponseTemplate::new(200)).expect(0).mount(&server).await;
    let spec = SourceSpec {
        name: "finance-okta".into(),
        kind: SourceKind::Okta(spec(&server)),
        allow_empty: false,
        unknown: Unknown::Error,
        at: Location { file: Arc::from("groups.yaml"), line: 2, column: 3 },
        dir: ".".into(),
    };
    let options = ReadOptions { env: Environment::fixed([("OKTA_API_TOKEN".to_string(), " ".to_string())]), ..options() };
    let reason = failure(tallyfy_groups_sources::read(&spec, &options).await);
    assert!(reason.starts_with("OKTA_API_TOKEN (the Okta API token) is not set or is empty"), "{reason}");
}

#[tokio::test]
async fn a_token_echoed_in_a_successful_answer_is_not_shown_either() {
    // In a body that is not JSON, in an address that is none, and in a warning's name.
    for body in [
        format!("<html>signed in with SSWS {TOKEN}</html>"),
        json!([{"id": "00u1", "status": "ACTIVE", "profile": {"email": format!("SSWS {TOKEN}")}}]).to_string(),
    ] {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path(USERS_PATH))
            .respond_with(ResponseTemplate::new(200).set_body_string(body))
            .mount(&server)
            .await;
        let reason = failure(read(spec(&server)).await);
        assert!(reason.contains("***"), "{reason}");
    }
    let server = MockServer::start().await;
    let users = json!([user(1, "ACTIVE"), {"id": TOKEN, "status": "SUSPENDED", "profile": {}}]);
    Mock::given(method("GET")).and(path(USERS_PATH)).respond_with(ResponseTemplate::new(200).set_body_json(users)).mount(&server).await;
    let read = read(spec(&server)).await.expect("read");
    assert_eq!(read.warnings, ["*** (Okta user ***) is SUSPENDED: left out"]);
}

#[tokio::test]
async fn a_redirect_is_not_followed_and_says_where_it_pointed() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(USERS_PATH))
        .respond_with(ResponseTemplate::new(302).insert_header("location", "https://login.example/sso"))
        .expect(1)
        .mount(&server)
        .await;
    let reason = failure(read(spec(&server)).await);
    assert!(reason.contains("a redirect to https://login.example/sso: redirects are not followed"), "{reason}");
}
