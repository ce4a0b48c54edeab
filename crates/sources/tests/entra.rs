//! The Entra ID reader against a wiremock token service and Microsoft Graph: one
//! client-credentials token, then pages followed by `@odata.nextLink` to the end, a page that
//! keeps failing fails the whole source, 429 waits for `Retry-After`, the token service's and
//! Graph's refusals explained, disabled accounts left out with warnings, a `null` mail failing
//! the read (or skipped), and neither the client secret nor the token ever shown, not even by a
//! server that echoes them.

#[path = "support/provider.rs"]
mod provider;

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use tallyfy_groups_core::desired::Location;
use tallyfy_groups_core::source::{EntraSpec, Missing, SourceFailure, SourceKind, SourceRead, SourceSpec, Unknown};
use tallyfy_groups_sources::{Environment, ReadOptions};
use wiremock::matchers::{header, method, path, query_param, query_param_is_missing};
use wiremock::{Match, Mock, MockServer, Request, Respond, ResponseTemplate};

const CLIENT_ID: &str = "3f2a1b4c-5d6e-4f70-8a9b-0c1d2e3f4a5b";
/// Entra's client secrets hold `~`, which a form sends as `%7E`.
const CLIENT_SECRET: &str = "Xy78Q~abcDEFghiJKLmnoPQRstuVWXyz0123456789";
const SECRET_IN_FORM: &str = "Xy78Q%7EabcDEFghiJKLmnoPQRstuVWXyz0123456789";
const TOKEN: &str = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.graph-access-token.sig";
const TENANT: &str = "contoso.onmicrosoft.com";
const GROUP: &str = "02bd9fd6-8f93-4758-87c3-1fb73740a315";
const TOKEN_PATH: &str = "/contoso.onmicrosoft.com/oauth2/v2.0/token";
const MEMBERS_PATH: &str = "/v1.0/groups/02bd9fd6-8f93-4758-87c3-1fb73740a315/transitiveMembers/microsoft.graph.user";
const SELECT: &str = "id,mail,userPrincipalName,accountEnabled";

fn spec(server: &MockServer) -> EntraSpec {
    EntraSpec {
        tenant: TENANT.into(),
        group_id: GROUP.into(),
        client_id_env: "ENTRA_CLIENT_ID".into(),
        client_secret_env: "ENTRA_CLIENT_SECRET".into(),
        transitive: true,
        user_principal_name: false,
        missing: Missing::Error,
        authority_url: server.uri(),
        graph_url: server.uri(),
    }
}

fn options() -> ReadOptions {
    provider::options(&[("ENTRA_CLIENT_ID", CLIENT_ID), ("ENTRA_CLIENT_SECRET", CLIENT_SECRET)])
}

async fn read(entra: EntraSpec) -> Result<SourceRead, SourceFailure> {
    provider::read(SourceKind::Entra(entra), &options()).await
}

fn failure(result: Result<SourceRead, SourceFailure>) -> String {
    provider::failure(result, "entra", &[CLIENT_SECRET, SECRET_IN_FORM, TOKEN])
}

/// The token request's form, field by field.
struct Form(Vec<(&'static str, String)>);

impl Match for Form {
    fn matches(&self, request: &Request) -> bool {
        let got: Vec<(String, String)> = url::form_urlencoded::parse(&request.body).into_owned().collect();
        got.len() == self.0.len() && got.iter().zip(&self.0).all(|((k, v), (wk, wv))| k == wk && v == wv)
    }
}

/// The token service grants `TOKEN` once, for exactly the client-credentials form.
async fn token_service(server: &MockServer) {
    token_service_for(server, 1).await;
}

/// The token service grants `TOKEN` to `reads` reads.
async fn token_service_for(server: &MockServer, reads: u64) {
    let form = Form(vec![
        ("grant_type", "client_credentials".into()),
        ("client_id", CLIENT_ID.into()),
        ("client_secret", CLIENT_SECRET.into()),
        ("scope", format!("{}/.default", server.uri())),
    ]);
    Mock::given(method("POST"))
        .and(path(TOKEN_PATH))
        .and(header("content-type", "application/x-www-form-urlencoded"))
        .and(form)
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"token_type": "Bearer", "expires_in": 3599, "access_token": TOKEN})))
        .expect(reads)
        .mount(server)
        .await;
}

fn user(n: usize, enabled: bool) -> Value {
    json!({"id": format!("u{n}"), "mail": format!("Person{n}@Example.com"), "userPrincipalName": format!("p{n}@corp.example"), "accountEnabled": enabled})
}

fn page(server: &MockServer, range: std::ops::Range<usize>, next: Option<&str>) -> Value {
    let mut body = json!({
        "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#users",
        "value": range.map(|n| user(n, true)).collect::<Vec<_>>(),
    });
    if let Some(skip) = next {
        body["@odata.nextLink"] = json!(format!("{}{MEMBERS_PATH}?$select={SELECT}&$top=999&$skiptoken={skip}", server.uri()));
    }
    body
}

/// The token, then pages 1 and 2 (999 people each), each linking to the next.
async fn two_pages(server: &MockServer) {
    token_service(server).await;
    let auth = format!("Bearer {TOKEN}");
    Mock::given(method("GET"))
        .and(path(MEMBERS_PATH))
        .and(query_param("$select", SELECT))
        .and(query_param("$top", "999"))
        .and(query_param_is_missing("$skiptoken"))
        .and(header("authorization", auth.as_str()))
        .and(header("accept", "application/json"))
        .respond_with(ResponseTemplate::new(200).set_body_json(page(server, 0..999, Some("p2"))))
        .expect(1)
        .mount(server)
        .await;
    Mock::given(method("GET"))
        .and(path(MEMBERS_PATH))
        .and(query_param("$select", SELECT))
        .and(query_param("$skiptoken", "p2"))
        .and(header("authorization", auth.as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(page(server, 999..1998, Some("p3"))))
        .expect(1)
        .mount(server)
        .await;
}

#[tokio::test]
async fn three_pages_are_read_whole_with_one_token() {
    let server = MockServer::start().await;
    two_pages(&server).await;
    Mock::given(method("GET"))
        .and(path(MEMBERS_PATH))
        .and(query_param("$skiptoken", "p3"))
        .and(header("authorization", format!("Bearer {TOKEN}").as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(page(&server, 1998..2050, None)))
        .expect(1)
        .mount(&server)
        .await;
    let read = read(spec(&server)).await.expect("read");
    let got: Vec<&str> = read.people.iter().map(|p| p.email.as_str()).collect();
    let want: Vec<String> = (0..2050).map(|n| format!("person{n}@example.com")).collect();
    assert_eq!(got, want);
    assert!(read.warnings.is_empty());
}

#[tokio::test]
async fn direct_members_and_user_principal_names() {
    let server = MockServer::start().await;
    token_service(&server).await;
    Mock::given(method("GET"))
        .and(path(MEMBERS_PATH.replace("transitiveMembers", "members")))
        .and(query_param("$select", SELECT))
        .and(query_param("$top", "999"))
        .respond_with(ResponseTemplate::new(200).set_body_json(page(&server, 0..3, None)))
        .expect(1)
        .mount(&server)
        .await;
    let read = read(EntraSpec { transitive: false, user_principal_name: true, ..spec(&server) }).await.expect("read");
    let got: Vec<&str> = read.people.iter().map(|p| p.email.as_str()).collect();
    assert_eq!(got, ["p0@corp.example", "p1@corp.example", "p2@corp.example"]);
}

#[tokio::test]
async fn a_page_that_keeps_failing_fails_the_whole_source() {
    let server = MockServer::start().await;
    token_service(&server).await;
    Mock::given(method("GET"))
        .and(path(MEMBERS_PATH))
        .and(query_param_is_missing("$skiptoken"))
        .respond_with(ResponseTemplate::new(200).set_body_json(page(&server, 0..999, Some("p2"))))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(MEMBERS_PATH))
        .and(query_param("$skiptoken", "p2"))
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
    token_service(&server).await;
    Mock::given(method("GET"))
        .and(path(MEMBERS_PATH))
        .and(query_param_is_missing("$skiptoken"))
        .respond_with(ResponseTemplate::new(200).set_body_json(page(&server, 0..999, Some("p2"))))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(MEMBERS_PATH))
        .and(query_param("$skiptoken", "p2"))
        .respond_with(ResponseTemplate::new(500))
        .up_to_n_times(1)
        .with_priority(1)
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(MEMBERS_PATH))
        .and(query_param("$skiptoken", "p2"))
        .respond_with(ResponseTemplate::new(200).set_body_json(page(&server, 999..1010, None)))
        .expect(1)
        .mount(&server)
        .await;
    assert_eq!(read(spec(&server)).await.expect("read").people.len(), 1010);
}

#[tokio::test]
async fn rate_limited_requests_wait_for_retry_after() {
    let server = MockServer::start().await;
    token_service(&server).await;
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
        .respond_with(ResponseTemplate::new(200).set_body_json(page(&server, 0..3, None)))
        .expect(1)
        .mount(&server)
        .await;
    let started = std::time::Instant::now();
    assert_eq!(read(spec(&server)).await.expect("read").people.len(), 3);
    // It waited the second Graph asked for, not the 10 ms first pause.
    assert!(started.elapsed() >= Duration::from_millis(900), "{:?}", started.elapsed());
}

#[tokio::test]
async fn graphs_refusals_and_an_unknown_group_are_explained() {
    for (status, words, also) in [
        (
            401,
            "Microsoft Graph refused the token of the application in ENTRA_CLIENT_ID (HTTP 401",
            "registered in tenant contoso.onmicrosoft.com",
        ),
        (
            403,
            "the application (ENTRA_CLIENT_ID) may not read the members of group 02bd9fd6-8f93-4758-87c3-1fb73740a315 (HTTP 403",
            "User.Read.All",
        ),
        (
            404,
            "Microsoft Graph has no group 02bd9fd6-8f93-4758-87c3-1fb73740a315 in tenant contoso.onmicrosoft.com (HTTP 404",
            "`group_id`",
        ),
    ] {
        let server = MockServer::start().await;
        token_service(&server).await;
        Mock::given(method("GET"))
            .and(path(MEMBERS_PATH))
            .respond_with(
                ResponseTemplate::new(status)
                    .set_body_json(json!({"error": {"code": "Authorization_RequestDenied", "message": "Insufficient privileges"}})),
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
async fn the_token_services_refusals_are_explained_and_graph_is_not_asked() {
    for (status, body, words) in [
        (
            401,
            json!({"error": "invalid_client", "error_description": "AADSTS7000215: Invalid client secret provided.\r\nTrace ID: 1"}),
            "the token service refused the application (invalid_client: AADSTS7000215: Invalid client secret provided.); check ENTRA_CLIENT_ID and ENTRA_CLIENT_SECRET",
        ),
        (
            400,
            json!({"error": "unauthorized_client", "error_description": "AADSTS700016: Application not found in the directory."}),
            "the token service refused the application (unauthorized_client: AADSTS700016",
        ),
        (
            400,
            json!({"error": "invalid_request", "error_description": "AADSTS90002: Tenant 'contoso.onmicrosoft.com' not found."}),
            "tenant contoso.onmicrosoft.com was not found (invalid_request: AADSTS90002",
        ),
        (
            400,
            json!({"error": "invalid_scope", "error_description": "AADSTS70011: The provided value for scope is not valid."}),
            "the token service refused the request (invalid_scope: AADSTS70011",
        ),
    ] {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path(TOKEN_PATH))
            .respond_with(ResponseTemplate::new(status).set_body_json(body))
            .expect(1)
            .mount(&server)
            .await;
        Mock::given(method("GET")).respond_with(ResponseTemplate::new(200)).expect(0).mount(&server).await;
        let reason = failure(read(spec(&server)).await);
        assert!(reason.starts_with(words), "{status}: {reason}");
    }
}

#[tokio::test]
async fn disabled_accounts_are_left_out_with_warnings() {
    let server = MockServer::start().await;
    token_service(&server).await;
    let users = json!({"value": [
        user(1, true),
        user(2, false),
        {"id": "u3", "mail": "Person3@Example.com"},
        {"id": "u4", "mail": null, "userPrincipalName": "p4@corp.example", "accountEnabled": false},
    ]});
    Mock::given(method("GET")).and(path(MEMBERS_PATH)).respond_with(ResponseTemplate::new(200).set_body_json(users)).mount(&server).await;
    let read = read(spec(&server)).await.expect("read");
    let got: Vec<&str> = read.people.iter().map(|p| p.email.as_str()).collect();
    assert_eq!(got, ["person1@example.com", "person3@example.com"]);
    assert_eq!(read.warnings, ["Person2@Example.com (Entra user u2) is disabled: left out", "u4 (Entra user u4) is disabled: left out"]);
}

#[tokio::test]
async fn a_null_mail_fails_the_read_naming_the_user_and_the_permission_or_is_skipped() {
    let server = MockServer::start().await;
    token_service_for(&server, 2).await;
    let users =
        json!({"value": [user(1, true), {"id": "9a1c-u2", "mail": null, "userPrincipalName": "p2@corp.example", "accountEnabled": true}]});
    Mock::given(method("GET")).and(path(MEMBERS_PATH)).respond_with(ResponseTemplate::new(200).set_body_json(users)).mount(&server).await;
    let reason = failure(read(spec(&server)).await);
    assert!(reason.starts_with("Entra user 9a1c-u2 has no mail, so the read is not used"), "{reason}");
    assert!(reason.contains("User.Read.All"), "{reason}");
    assert!(reason.ends_with("`missing: skip` leaves such people out with a warning"), "{reason}");
    let skipped = read(EntraSpec { missing: Missing::Skip, ..spec(&server) }).await.expect("read");
    assert_eq!(skipped.people.iter().map(|p| p.email.as_str()).collect::<Vec<_>>(), ["person1@example.com"]);
    assert_eq!(skipped.warnings, ["Entra user 9a1c-u2 has no mail: skipped"]);
}

/// Answers with the request's headers and body, as a broken proxy might; with `json`, as the
/// token service's `error_description`.
struct Echo {
    status: u16,
    json: bool,
}

impl Respond for Echo {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let mut lines: Vec<String> = request.headers.iter().map(|(k, v)| format!("{k}: {}", v.to_str().unwrap_or(""))).collect();
        lines.push(String::from_utf8_lossy(&request.body).into_owned());
        let text = lines.join("\n");
        if self.json {
            ResponseTemplate::new(self.status)
                .set_body_json(json!({"error": "invalid_client", "error_description": text.replace('\n', " ")}))
        } else {
            ResponseTemplate::new(self.status).set_body_string(text)
        }
    }
}

#[tokio::test]
async fn the_client_secret_is_never_shown_even_when_the_token_service_echoes_it() {
    for (status, json) in [(400, true), (401, true), (400, false), (500, false)] {
        let server = MockServer::start().await;
        Mock::given(method("POST")).and(path(TOKEN_PATH)).respond_with(Echo { status, json }).mount(&server).await;
        let reason = failure(read(spec(&server)).await);
        assert!(reason.contains("client_secret=***"), "{status}: {reason}");
    }
}

#[tokio::test]
async fn the_token_is_never_shown_even_when_graph_echoes_it() {
    for status in [400, 401, 500] {
        let server = MockServer::start().await;
        token_service(&server).await;
        Mock::given(method("GET")).and(path(MEMBERS_PATH)).respond_with(Echo { status, json: false }).mount(&server).await;
        let reason = failure(read(spec(&server)).await);
        assert!(reason.contains("authorization: Bearer ***"), "{status}: {reason}");
    }
}

#[tokio::test]
async fn a_next_link_to_another_server_is_never_followed() {
    let server = MockServer::start().await;
    let elsewhere = MockServer::start().await;
    token_service(&server).await;
    Mock::given(method("GET"))
        .and(path(MEMBERS_PATH))
        .respond_with(ResponseTemplate::new(200).set_body_json(page(&elsewhere, 0..999, Some("p2"))))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_json(page(&elsewhere, 0..1, None)))
        .expect(0)
        .mount(&elsewhere)
        .await;
    let reason = failure(read(spec(&server)).await);
    assert!(reason.contains("outside") && reason.contains("the read stops rather than send the token there"), "{reason}");
}

#[tokio::test]
async fn unset_variables_are_named_and_nothing_is_asked() {
    let server = MockServer::start().await;
    Mock::given(wiremock::matchers::any()).respond_with(ResponseTemplate::new(200)).expect(0).mount(&server).await;
    let spec = SourceSpec {
        name: "finance-entra".into(),
        kind: SourceKind::Entra(spec(&server)),
        allow_empty: false,
        unknown: Unknown::Error,
        at: Location { file: Arc::from("groups.yaml"), line: 2, column: 3 },
        dir: ".".into(),
    };
    let options = ReadOptions { env: Environment::fixed([("ENTRA_CLIENT_ID".to_string(), CLIENT_ID.to_string())]), ..options() };
    let reason = failure(tallyfy_groups_sources::read(&spec, &options).await);
    assert!(reason.starts_with("ENTRA_CLIENT_SECRET (the application's client secret) is not set or is empty"), "{reason}");
}
