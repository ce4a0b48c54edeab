//! wiremock tests of the credentials: the client credentials exchange (method, path, headers,
//! body, call count), the new token after a 401 shared by every request refused at the same
//! time, and what is said (and never shown) when credentials are refused.

use std::time::Duration;

use serde_json::{Value, json};
use tallyfy_groups_api::wire::GroupPayload;
use tallyfy_groups_api::{ApiError, Client, ClientConfig, Credentials, RetryPolicy, Secret};
use tallyfy_groups_core::model::GroupId;
use wiremock::matchers::{body_string, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const CLIENT_SECRET: &str = "cs-SECRET-4f2a90";
const USERS: &str = "/organizations/org1/users";

fn oauth_client(server: &MockServer) -> Client {
    let credentials =
        Credentials::Client { id: "app-7".into(), secret: Secret::new(CLIENT_SECRET), token_url: format!("{}/oauth/token", server.uri()) };
    let mut config = ClientConfig::new(server.uri(), "org1", credentials);
    config.max_rps = 0.0;
    config.timeout = Duration::from_millis(500);
    config.retry = RetryPolicy {
        max_attempts: 4,
        base_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(5),
        max_total: Duration::from_secs(10),
    };
    Client::new(config).expect("client")
}

fn issued(token: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({"token_type": "Bearer", "expires_in": 604800, "access_token": token}))
}

/// The token endpoint hands out `tokens` in order (the last one from then on).
async fn mount_tokens(server: &MockServer, tokens: &[&str]) {
    for (i, token) in tokens.iter().enumerate() {
        let mut m = Mock::given(method("POST")).and(path("/oauth/token")).respond_with(issued(token));
        if i + 1 < tokens.len() {
            m = m.up_to_n_times(1).with_priority(1 + i as u8);
        } else {
            m = m.with_priority(100);
        }
        m.mount(server).await;
    }
}

fn users_page() -> Value {
    json!({"data": [{"id": 1, "email": "a@b.co", "status": "active"}], "meta": {"pagination": {"total": 1, "count": 1, "per_page": 100, "current_page": 1, "total_pages": 1, "links": []}}})
}

async fn requests_to(server: &MockServer, route: &str, bearer: Option<&str>) -> usize {
    let want = bearer.map(|b| format!("Bearer {b}"));
    server
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .filter(|r| r.url.path() == route)
        .filter(|r| want.as_deref().is_none_or(|w| r.headers.get("authorization").and_then(|v| v.to_str().ok()) == Some(w)))
        .count()
}

#[tokio::test]
async fn the_client_credentials_are_exchanged_once_with_a_form_post() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/oauth/token"))
        .and(header("Content-Type", "application/x-www-form-urlencoded"))
        .and(header("Accept", "application/json"))
        .and(body_string(format!("grant_type=client_credentials&client_id=app-7&client_secret={CLIENT_SECRET}&scope=*")))
        .respond_with(issued("tok-ISSUED-0a1b2c"))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(USERS))
        .and(header("Authorization", "Bearer tok-ISSUED-0a1b2c"))
        .and(header("X-Tallyfy-Client", "APIClient"))
        .respond_with(ResponseTemplate::new(200).set_body_json(users_page()))
        .expect(2)
        .mount(&server)
        .await;
    let c = oauth_client(&server);
    c.authenticate().await.expect("exchanged");
    // Authenticating again, and requests, use the token held.
    c.authenticate().await.expect("held");
    assert_eq!(c.list_users().await.expect("users").len(), 1);
    assert_eq!(c.list_users().await.expect("users").len(), 1);
}

#[tokio::test]
async fn requests_refused_at_the_same_time_share_one_new_token_and_are_each_retried_once() {
    let server = MockServer::start().await;
    mount_tokens(&server, &["tok-OLD-111111", "tok-NEW-222222"]).await;
    let route = |id: &str| format!("/organizations/org1/groups/{id}");
    for id in ["g1", "g2", "g3", "g4"] {
        let g = json!({"data": {"id": id, "name": id, "description": "d", "members": [], "guests": []}});
        Mock::given(method("GET"))
            .and(path(route(id)))
            .and(header("Authorization", "Bearer tok-OLD-111111"))
            .respond_with(ResponseTemplate::new(401).set_body_json(json!({"message": "Unauthenticated."})))
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path(route(id)))
            .and(header("Authorization", "Bearer tok-NEW-222222"))
            .respond_with(ResponseTemplate::new(200).set_body_json(g))
            .mount(&server)
            .await;
    }
    let c = oauth_client(&server);
    c.authenticate().await.expect("first token");
    // Polled together, the four requests all leave with the first token before any answer.
    let ids = ["g1", "g2", "g3", "g4"].map(|id| GroupId(id.into()));
    let (a, b, d, e) = tokio::join!(c.get_group(&ids[0]), c.get_group(&ids[1]), c.get_group(&ids[2]), c.get_group(&ids[3]));
    for (got, id) in [a, b, d, e].into_iter().zip(&ids) {
        assert_eq!(got.expect("read after the new token").id, *id);
    }
    assert_eq!(requests_to(&server, "/oauth/token", None).await, 2, "one exchange at start, one shared by the four 401s");
    for id in ["g1", "g2", "g3", "g4"] {
        assert_eq!(requests_to(&server, &route(id), Some("tok-OLD-111111")).await, 1, "{id} refused once");
        assert_eq!(requests_to(&server, &route(id), Some("tok-NEW-222222")).await, 1, "{id} retried once");
    }
}

#[tokio::test]
async fn a_second_401_for_the_same_request_is_an_error() {
    let server = MockServer::start().await;
    mount_tokens(&server, &["tok-ONE-111111", "tok-TWO-222222"]).await;
    Mock::given(method("GET"))
        .and(path(USERS))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({"message": "Unauthenticated."})))
        .expect(2)
        .mount(&server)
        .await;
    let err = oauth_client(&server).list_users().await.unwrap_err();
    assert!(matches!(err, ApiError::StillUnauthorized { .. }), "{err:?}");
    assert_eq!(err.status(), Some(401));
    let text = err.to_string();
    assert!(
        text.starts_with("GET /organizations/org1/users failed with HTTP 401: Unauthenticated., also with an access token just obtained"),
        "{text}"
    );
    assert!(text.contains("check the organization id"), "{text}");
    assert_eq!(requests_to(&server, "/oauth/token", None).await, 2, "the exchange at start, and one more");
}

#[tokio::test]
async fn refused_client_credentials_are_explained_not_retried_and_never_shown() {
    let server = MockServer::start().await;
    // A token endpoint that quotes what it was sent.
    Mock::given(method("POST"))
        .and(path("/oauth/token"))
        .respond_with(
            ResponseTemplate::new(401)
                .set_body_json(json!({"error": "invalid_client", "message": format!("Client authentication failed for {CLIENT_SECRET}")})),
        )
        .expect(2)
        .mount(&server)
        .await;
    Mock::given(method("GET")).respond_with(ResponseTemplate::new(200).set_body_json(users_page())).expect(0).mount(&server).await;
    let c = oauth_client(&server);
    let err = c.authenticate().await.unwrap_err();
    let text = format!("{err} {err:?}");
    assert!(!text.contains(CLIENT_SECRET), "the secret leaked: {text}");
    assert!(err.to_string().contains("failed with HTTP 401: Client authentication failed for ***"), "{err}");
    assert!(err.to_string().contains("check TALLYFY_CLIENT_ID and TALLYFY_CLIENT_SECRET"), "{err}");
    // Not the status of any API request: a refused exchange is never taken for "already deleted".
    assert_eq!(err.status(), None);
    // A request made anyway asks for a token again (not retried either), and is not sent.
    assert!(matches!(c.list_users().await, Err(ApiError::TokenExchange { status: Some(401), .. })));
}

#[tokio::test]
async fn a_failing_token_endpoint_is_retried_and_an_unusable_answer_explained() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/oauth/token"))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(1)
        .with_priority(1)
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST")).and(path("/oauth/token")).respond_with(issued("tok-LATE-333333")).expect(1).mount(&server).await;
    oauth_client(&server).authenticate().await.expect("exchanged after the 503");

    let odd = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/oauth/token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"token_type": "mac", "access_token": "tok-MAC-444444"})))
        .expect(1)
        .mount(&odd)
        .await;
    let err = oauth_client(&odd).authenticate().await.unwrap_err();
    assert!(err.to_string().contains("answered without a usable access token: the answer's `token_type` is `mac`"), "{err}");
    assert!(err.to_string().contains("TALLYFY_TOKEN_URL"), "{err}");
    assert!(!err.to_string().contains("tok-MAC-444444"), "{err}");
}

/// Answers with the `Authorization` header the request carried, as a hostile server might.
struct EchoAuthorization;

impl wiremock::Respond for EchoAuthorization {
    fn respond(&self, request: &wiremock::Request) -> ResponseTemplate {
        let auth = request.headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
        ResponseTemplate::new(422).insert_header("X-Request-Id", auth.as_str()).set_body_json(json!({"message": format!("Invalid {auth}")}))
    }
}

#[tokio::test]
async fn server_text_never_carries_an_issued_token() {
    let server = MockServer::start().await;
    mount_tokens(&server, &["tok-ISSUED-5d6e7f"]).await;
    Mock::given(method("PUT")).respond_with(EchoAuthorization).expect(1).mount(&server).await;
    let body = GroupPayload { name: "A".into(), description: "D".into(), members: vec![], guests: vec![] };
    let err = oauth_client(&server).update_group(&GroupId("g".into()), &body).await.unwrap_err();
    let text = format!("{err} {err:?}");
    assert!(!text.contains("tok-ISSUED-5d6e7f"), "the token leaked: {text}");
    assert!(err.to_string().contains("Invalid Bearer ***"), "{err}");
}

#[tokio::test]
async fn a_401_with_a_personal_token_explains_why_and_points_to_client_credentials() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({"message": "Unauthenticated."})))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST")).respond_with(issued("never")).expect(0).mount(&server).await;
    let mut config = ClientConfig::new(server.uri(), "org1", Secret::new("tok-PERSONAL-1"));
    config.max_rps = 0.0;
    let err = Client::new(config).expect("client").list_users().await.unwrap_err();
    assert_eq!(err.status(), Some(401));
    let text = err.to_string();
    for want in ["logs out", "six months", "TALLYFY_ACCESS_TOKEN", "TALLYFY_CLIENT_ID and TALLYFY_CLIENT_SECRET"] {
        assert!(text.contains(want), "missing {want:?}: {text}");
    }
}

#[tokio::test]
async fn a_create_refused_as_a_duplicate_after_a_401_is_looked_up_not_failed() {
    let server = MockServer::start().await;
    mount_tokens(&server, &["tok-old", "tok-new"]).await;
    // A hostile (or confused) server takes the create and answers 401 all the same; the create
    // sent again with the new token is then refused as a duplicate.
    Mock::given(method("POST"))
        .and(path("/organizations/org1/groups"))
        .and(header("Authorization", "Bearer tok-old"))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({"message": "Unauthenticated."})))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/organizations/org1/groups"))
        .and(header("Authorization", "Bearer tok-new"))
        .respond_with(
            ResponseTemplate::new(422)
                .set_body_json(json!({"message": "The given data was invalid.", "errors": {"name": ["The name has already been taken."]}})),
        )
        .expect(1)
        .mount(&server)
        .await;
    let created = json!({"id": "g9", "name": "Ops", "description": "d", "members": [], "guests": []});
    Mock::given(method("GET"))
        .and(path("/organizations/org1/groups"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"data": [created], "meta": {"pagination": {"total": 1, "count": 1, "per_page": 100, "current_page": 1, "total_pages": 1}}})))
        .expect(1)
        .mount(&server)
        .await;
    let body = GroupPayload { name: "Ops".into(), description: "d".into(), members: vec![], guests: vec![] };
    let group = oauth_client(&server).create_group(&body).await.expect("found after the refusal, not reported failed");
    assert_eq!(group.id, GroupId("g9".into()));
}

/// A personal token written with its scheme (`Bearer xyz`, as copied from an example request;
/// any case, any spaces) is sent as `Bearer xyz`, never `Bearer Bearer xyz`.
#[tokio::test]
async fn a_token_given_with_its_bearer_scheme_is_sent_with_it_once() {
    const BARE: &str = "tok-PERSONAL-9z8y7x";
    for given in [format!("Bearer {BARE}"), format!("  bearer   {BARE}\n"), format!("BEARER\t{BARE}"), BARE.to_string()] {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path(USERS))
            .and(header("Authorization", format!("Bearer {BARE}").as_str()))
            .respond_with(ResponseTemplate::new(200).set_body_json(users_page()))
            .expect(1)
            .mount(&server)
            .await;
        let mut config = ClientConfig::new(server.uri(), "org1", Secret::new(given.as_str()));
        config.max_rps = 0.0;
        let users = Client::new(config).expect("client").list_users().await;
        assert!(users.is_ok(), "{given:?}: {users:?}");
    }
}
