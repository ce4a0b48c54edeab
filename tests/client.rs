//! wiremock tests of every Tallyfy API interaction: method, path, headers, body and call count.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tallyfy_groups::model::{Email, GroupId, UserId};
use tallyfy_groups::tallyfy::wire::{GroupPayload, GuestPayload};
use tallyfy_groups::tallyfy::{ApiError, Client, ClientConfig, RetryPolicy, Secret};
use wiremock::matchers::{body_json, header, method, path, query_param, query_param_is_missing};
use wiremock::{Mock, MockServer, ResponseTemplate};

const GROUPS: &str = "/organizations/org1/groups";

fn client(server: &MockServer) -> Client {
    let mut config = ClientConfig::new(server.uri(), "org1", Secret::new("tok-123"));
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

fn group(id: &str, name: &str, members: &[u64]) -> Value {
    json!({"id": id, "name": name, "description": "d", "logo": null, "members": members, "guests": [], "created_at": "x", "last_updated": "y"})
}

fn page(data: Vec<Value>, total: usize, current: u64, pages: u64, links: Value) -> Value {
    json!({"data": data, "meta": {"pagination": {"total": total, "count": 0, "per_page": 100, "current_page": current, "total_pages": pages, "links": links}}})
}

fn authed(m: wiremock::MockBuilder) -> wiremock::MockBuilder {
    m.and(header("Authorization", "Bearer tok-123")).and(header("Accept", "application/json")).and(header("X-Tallyfy-Client", "APIClient"))
}

#[tokio::test]
async fn lists_follow_total_pages_with_every_links_shape() {
    let server = MockServer::start().await;
    let links = [json!({"next": "x"}), json!({}), json!([])];
    for (i, links) in links.into_iter().enumerate() {
        let n = i as u64 + 1;
        authed(Mock::given(method("GET")).and(path(GROUPS)).and(query_param("page", n.to_string())).and(query_param("per_page", "100")))
            .respond_with(ResponseTemplate::new(200).set_body_json(page(
                vec![group(&format!("g{n}"), &format!("G{n}"), &[n])],
                3,
                n,
                3,
                links,
            )))
            .expect(1)
            .mount(&server)
            .await;
    }
    let groups = client(&server).list_groups().await.expect("groups");
    let names: Vec<&str> = groups.iter().map(|g| g.name.as_str()).collect();
    assert_eq!(names, vec!["G1", "G2", "G3"]);
    assert_eq!(groups[2].members.iter().copied().collect::<Vec<_>>(), vec![UserId(3)]);
}

#[tokio::test]
async fn a_short_read_is_refused() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/organizations/org1/users"))
        .respond_with(ResponseTemplate::new(200).set_body_json(page(vec![json!({"id": 1, "email": "a@b.co"})], 2, 1, 1, Value::Null)))
        .expect(1)
        .mount(&server)
        .await;
    let err = client(&server).list_users().await.unwrap_err();
    assert_eq!(err, ApiError::Incomplete { path: "/organizations/org1/users".into(), expected: 2, got: 1 });
    assert!(err.to_string().contains("refusing to plan from a partial list"));
}

#[tokio::test]
async fn rate_limit_429_honours_retry_after_on_any_method() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(GROUPS))
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "1").set_body_json(json!({"message": "Too Many Attempts."})))
        .up_to_n_times(1)
        .expect(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(GROUPS))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"data": group("n", "N", &[])})))
        .expect(1)
        .mount(&server)
        .await;
    let started = Instant::now();
    let body = GroupPayload { name: "N".into(), description: "d".into(), members: vec![], guests: vec![] };
    let g = client(&server).create_group(&body).await.expect("created after the 429");
    assert_eq!(g.id, GroupId("n".into()));
    assert!(started.elapsed() >= Duration::from_millis(950), "Retry-After: 1 was not honoured: {:?}", started.elapsed());
}

#[tokio::test]
async fn retry_after_as_an_http_date() {
    let server = MockServer::start().await;
    let past = httpdate::fmt_http_date(std::time::SystemTime::now() - Duration::from_secs(60));
    Mock::given(method("DELETE"))
        .and(path(format!("{GROUPS}/g1")))
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", past.as_str()))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("DELETE")).and(path(format!("{GROUPS}/g1"))).respond_with(ResponseTemplate::new(204)).expect(1).mount(&server).await;
    client(&server).delete_group(&GroupId("g1".into())).await.expect("deleted");
}

#[tokio::test]
async fn get_503_then_success_is_retried() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(GROUPS))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(2)
        .with_priority(1)
        .expect(2)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(GROUPS))
        .respond_with(ResponseTemplate::new(200).set_body_json(page(vec![], 0, 1, 1, json!([]))))
        .expect(1)
        .mount(&server)
        .await;
    assert!(client(&server).list_groups().await.expect("listed").is_empty());
}

#[tokio::test]
async fn get_timeout_is_retried() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(GROUPS))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(3)).set_body_json(page(vec![], 0, 1, 1, json!([]))))
        .up_to_n_times(1)
        .with_priority(1)
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(GROUPS))
        .respond_with(ResponseTemplate::new(200).set_body_json(page(vec![], 0, 1, 1, json!([]))))
        .expect(1)
        .mount(&server)
        .await;
    assert!(client(&server).list_groups().await.expect("listed").is_empty());
}

#[tokio::test]
async fn post_500_after_the_group_was_created_never_duplicates() {
    let server = MockServer::start().await;
    let body = GroupPayload { name: "Ops".into(), description: "d".into(), members: vec![UserId(7)], guests: vec![Email::new("g@p.co")] };
    authed(Mock::given(method("POST")).and(path(GROUPS)).and(header("Content-Type", "application/json")))
        .and(body_json(json!({"name": "Ops", "description": "d", "members": [7], "guests": ["g@p.co"]})))
        .respond_with(ResponseTemplate::new(500).set_body_json(json!({"message": "Server Error"})))
        .expect(1)
        .mount(&server)
        .await;
    // The server did create it: the re-read finds it under its name (in another case).
    Mock::given(method("GET"))
        .and(path(GROUPS))
        .respond_with(ResponseTemplate::new(200).set_body_json(page(vec![group("x", "OPS", &[7])], 1, 1, 1, json!([]))))
        .expect(1)
        .mount(&server)
        .await;
    let g = client(&server).create_group(&body).await.expect("found after the ambiguous failure");
    assert_eq!(g.id, GroupId("x".into()));
}

#[tokio::test]
async fn post_500_without_effect_is_sent_again_after_the_reread() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(GROUPS))
        .respond_with(ResponseTemplate::new(502))
        .up_to_n_times(1)
        .with_priority(1)
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(GROUPS))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"data": group("n", "Ops", &[])})))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(GROUPS))
        .respond_with(ResponseTemplate::new(200).set_body_json(page(vec![], 0, 1, 1, json!([]))))
        .expect(1)
        .mount(&server)
        .await;
    let body = GroupPayload { name: "Ops".into(), description: "d".into(), members: vec![], guests: vec![] };
    assert_eq!(client(&server).create_group(&body).await.expect("created").id, GroupId("n".into()));
}

#[tokio::test]
async fn post_timeout_rereads_before_retrying() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/organizations/org1/guests"))
        .and(body_json(json!({"email": "new@p.co", "first_name": "New", "last_name": "(guest)"})))
        .respond_with(ResponseTemplate::new(201).set_delay(Duration::from_secs(3)))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/organizations/org1/guests"))
        .respond_with(ResponseTemplate::new(200).set_body_json(page(vec![json!({"email": "NEW@p.co"})], 1, 1, 1, json!([]))))
        .expect(1)
        .mount(&server)
        .await;
    let body = GuestPayload { email: Email::new("new@p.co"), first_name: "New".into(), last_name: "(guest)".into() };
    client(&server).create_guest(&body).await.expect("found after the timeout");
}

#[tokio::test]
async fn put_replaces_the_whole_group() {
    let server = MockServer::start().await;
    authed(Mock::given(method("PUT")).and(path(format!("{GROUPS}/abc"))).and(header("Content-Type", "application/json")))
        .and(body_json(json!({"name": "A", "description": "D", "members": [1, 2], "guests": []})))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"data": group("abc", "A", &[1, 2])})))
        .expect(1)
        .mount(&server)
        .await;
    let body = GroupPayload { name: "A".into(), description: "D".into(), members: vec![UserId(1), UserId(2)], guests: vec![] };
    let g = client(&server).update_group(&GroupId("abc".into()), &body).await.expect("updated");
    assert_eq!(g.members.len(), 2);
}

#[tokio::test]
async fn delete_accepts_empty_bodies_and_an_already_deleted_group() {
    let server = MockServer::start().await;
    authed(Mock::given(method("DELETE")).and(path(format!("{GROUPS}/a"))))
        .respond_with(ResponseTemplate::new(200))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("DELETE"))
        .and(path(format!("{GROUPS}/b")))
        .respond_with(
            ResponseTemplate::new(404).set_body_json(json!({"error": true, "message": "Group not found.", "code": "RESOURCE_NOT_FOUND"})),
        )
        .expect(1)
        .mount(&server)
        .await;
    let c = client(&server);
    c.delete_group(&GroupId("a".into())).await.expect("200 with an empty body");
    c.delete_group(&GroupId("b".into())).await.expect("404 means already gone");
}

#[tokio::test]
async fn a_422_is_surfaced_with_its_field_errors() {
    let server = MockServer::start().await;
    Mock::given(method("PUT"))
        .respond_with(ResponseTemplate::new(422).insert_header("X-Request-Id", "req-9").set_body_json(
            json!({"message": "The given data was invalid.", "errors": {"name": ["The name has already been taken."], "members.0": ["The selected members.0 is invalid."]}}),
        ))
        .expect(1)
        .mount(&server)
        .await;
    let body = GroupPayload { name: "A".into(), description: "D".into(), members: vec![UserId(9)], guests: vec![] };
    let err = client(&server).update_group(&GroupId("g".into()), &body).await.unwrap_err();
    let ApiError::Status { status, field_errors, request_id, .. } = &err else { panic!("{err:?}") };
    assert_eq!(*status, 422);
    assert_eq!(field_errors["name"], vec!["The name has already been taken."]);
    assert_eq!(request_id.as_deref(), Some("req-9"));
    let text = err.to_string();
    assert!(text.contains("members.0: The selected members.0 is invalid."), "{text}");
    assert!(!text.contains("tok-123"));
}

#[tokio::test]
async fn a_401_is_explained_and_not_retried() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({"message": "Unauthenticated."})))
        .expect(1)
        .mount(&server)
        .await;
    let err = client(&server).list_groups().await.unwrap_err();
    assert_eq!(err.status(), Some(401));
    assert!(err.to_string().contains("check TALLYFY_ACCESS_TOKEN"), "{err}");
}

#[tokio::test]
async fn retries_give_up_with_the_last_error() {
    let server = MockServer::start().await;
    Mock::given(method("GET")).respond_with(ResponseTemplate::new(500)).expect(4).mount(&server).await;
    let err = client(&server).list_groups().await.unwrap_err();
    let ApiError::Exhausted { attempts, last, .. } = &err else { panic!("{err:?}") };
    assert_eq!(*attempts, 4);
    assert_eq!(last.status(), Some(500));
}

#[tokio::test]
async fn undecodable_answers_name_the_path() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"data": [{"id": "g", "name": 5}]})))
        .expect(1)
        .mount(&server)
        .await;
    let err = client(&server).list_groups().await.unwrap_err();
    assert!(err.to_string().contains("at `data[0].name`"), "{err}");
}

#[test]
fn the_default_pacing_is_tallyfys_rolling_minute_and_max_rps_adds_a_ceiling() {
    let config = ClientConfig::new("https://go.tallyfy.com/api", "org1", Secret::new("t"));
    let status = Client::new(config.clone()).expect("client").rate_limiter().status();
    assert_eq!((status.limit, status.spacing), (Some(600), None));
    let paced = Client::new(ClientConfig { max_rps: 20.0, max_requests_per_minute: 0, ..config }).expect("client");
    let status = paced.rate_limiter().status();
    assert_eq!((status.limit, status.spacing), (None, Some(Duration::from_millis(50))));
}

#[tokio::test]
async fn the_servers_rate_limit_headers_are_learned() {
    let server = MockServer::start().await;
    // Someone else has used 39 of the 50 requests this minute.
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("X-RateLimit-Limit", "50")
                .insert_header("X-RateLimit-Remaining", "10")
                .set_body_json(page(vec![], 0, 1, 1, json!([]))),
        )
        .expect(1)
        .mount(&server)
        .await;
    let c = client(&server);
    c.list_groups().await.expect("listed");
    let status = c.rate_limiter().status();
    assert_eq!((status.limit, status.in_window, status.foreign), (Some(50), 40, 39));
}

#[tokio::test]
async fn a_retry_after_beyond_the_budget_fails_at_once() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/organizations/org1/guests"))
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "3600"))
        .expect(1)
        .mount(&server)
        .await;
    let started = Instant::now();
    let body = GuestPayload { email: Email::new("new@p.co"), first_name: "New".into(), last_name: "(guest)".into() };
    let c = client(&server);
    let err = c.create_guest(&body).await.unwrap_err();
    assert_eq!(err, ApiError::RateLimited { method: "POST".into(), path: "/organizations/org1/guests".into(), retry_after_secs: 3600 });
    assert!(err.to_string().contains("asks to wait 3600 s, longer than the retry budget"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(2));
    // A wait beyond the rate window (Tallyfy's hourly guest cap) does not hold back other requests.
    assert_eq!(c.rate_limiter().status().held_for, None);
}

#[tokio::test]
async fn implausible_pagination_is_refused_before_fetching() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_json(page(vec![], 5, 1, 4_000_000_000, json!({}))))
        .expect(1)
        .mount(&server)
        .await;
    let err = client(&server).list_groups().await.unwrap_err();
    assert!(err.to_string().contains("4000000000 pages is implausible"), "{err}");
}

/// A POST answered 500 (or 502) once, then `then`.
async fn mount_ambiguous_post(server: &MockServer, status: u16, then: Option<ResponseTemplate>) {
    Mock::given(method("POST"))
        .and(path(GROUPS))
        .respond_with(ResponseTemplate::new(status))
        .up_to_n_times(1)
        .with_priority(1)
        .expect(1)
        .mount(server)
        .await;
    if let Some(then) = then {
        Mock::given(method("POST")).and(path(GROUPS)).respond_with(then).expect(1).mount(server).await;
    }
}

/// The full, unfiltered read of the groups, expected `times` times per page.
async fn mount_full_read(server: &MockServer, groups: Vec<Value>, times: u64) {
    let total = groups.len();
    authed(Mock::given(method("GET")).and(path(GROUPS)).and(query_param_is_missing("q")).and(query_param("page", "1")))
        .respond_with(ResponseTemplate::new(200).set_body_json(page(groups, total, 1, 1, json!([]))))
        .expect(times)
        .mount(server)
        .await;
}

fn ops() -> GroupPayload {
    GroupPayload { name: "Ops Team".into(), description: "d".into(), members: vec![], guests: vec![] }
}

#[tokio::test]
async fn an_ambiguous_create_looks_the_name_up_with_one_search() {
    let server = MockServer::start().await;
    mount_ambiguous_post(&server, 500, None).await;
    // The search matches by name or description: a near name comes back too.
    authed(Mock::given(method("GET")).and(path(GROUPS)).and(query_param("q", "Ops Team")).and(query_param("page", "1")))
        .respond_with(ResponseTemplate::new(200).set_body_json(page(
            vec![group("y", "Ops Team Leads", &[]), group("x", "OPS TEAM", &[])],
            2,
            1,
            1,
            json!([]),
        )))
        .expect(1)
        .mount(&server)
        .await;
    mount_full_read(&server, vec![], 0).await;
    let g = client(&server).create_group(&ops()).await.expect("found with the search");
    assert_eq!(g.id, GroupId("x".into()));
}

#[tokio::test]
async fn a_search_of_one_page_without_the_name_settles_it() {
    let server = MockServer::start().await;
    mount_ambiguous_post(&server, 502, Some(ResponseTemplate::new(201).set_body_json(json!({"data": group("n", "Ops Team", &[])})))).await;
    Mock::given(method("GET"))
        .and(path(GROUPS))
        .and(query_param("q", "Ops Team"))
        .respond_with(ResponseTemplate::new(200).set_body_json(page(vec![group("y", "Ops Team Leads", &[])], 1, 1, 1, json!([]))))
        .expect(1)
        .mount(&server)
        .await;
    mount_full_read(&server, vec![], 0).await;
    assert_eq!(client(&server).create_group(&ops()).await.expect("created").id, GroupId("n".into()));
}

#[tokio::test]
async fn a_search_of_several_pages_without_the_name_falls_back_to_the_full_read() {
    let server = MockServer::start().await;
    mount_ambiguous_post(&server, 500, None).await;
    Mock::given(method("GET"))
        .and(path(GROUPS))
        .and(query_param("q", "Ops Team"))
        .respond_with(ResponseTemplate::new(200).set_body_json(page(vec![group("y", "Ops Team Leads", &[])], 150, 1, 2, json!({}))))
        .expect(1)
        .mount(&server)
        .await;
    mount_full_read(&server, vec![group("y", "Ops Team Leads", &[]), group("x", "Ops Team", &[])], 1).await;
    assert_eq!(client(&server).create_group(&ops()).await.expect("found in the full read").id, GroupId("x".into()));
}

#[tokio::test]
async fn a_refused_search_falls_back_to_the_full_read() {
    let server = MockServer::start().await;
    mount_ambiguous_post(&server, 500, None).await;
    Mock::given(method("GET"))
        .and(path(GROUPS))
        .and(query_param("q", "Ops Team"))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({"message": "Unknown parameter q."})))
        .expect(1)
        .mount(&server)
        .await;
    mount_full_read(&server, vec![group("x", "ops team", &[])], 1).await;
    assert_eq!(client(&server).create_group(&ops()).await.expect("found in the full read").id, GroupId("x".into()));
}

#[tokio::test]
async fn a_retry_refused_as_a_duplicate_is_looked_up_in_the_full_list() {
    let server = MockServer::start().await;
    // The first POST took effect; the search missed it; the retry is refused as a duplicate.
    let taken = ResponseTemplate::new(422)
        .set_body_json(json!({"message": "The name has already been taken.", "errors": {"name": ["The name has already been taken."]}}));
    mount_ambiguous_post(&server, 500, Some(taken)).await;
    Mock::given(method("GET"))
        .and(path(GROUPS))
        .and(query_param("q", "Ops Team"))
        .respond_with(ResponseTemplate::new(200).set_body_json(page(vec![], 0, 1, 1, json!([]))))
        .expect(1)
        .mount(&server)
        .await;
    mount_full_read(&server, vec![group("x", "Ops Team", &[])], 1).await;
    assert_eq!(client(&server).create_group(&ops()).await.expect("found after the refusal").id, GroupId("x".into()));
}

#[tokio::test]
async fn a_429_holds_back_every_request_not_only_the_refused_one() {
    let server = MockServer::start().await;
    Mock::given(method("DELETE"))
        .and(path(format!("{GROUPS}/g1")))
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "30"))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("DELETE")).and(path(format!("{GROUPS}/g2"))).respond_with(ResponseTemplate::new(204)).expect(0).mount(&server).await;
    let c = client(&server);
    let err = c.delete_group(&GroupId("g1".into())).await.unwrap_err();
    assert!(matches!(err, ApiError::RateLimited { retry_after_secs: 30, .. }), "{err:?}");
    // Another request is held back too: 30 s is beyond its 10 s budget, so it fails unsent.
    let err = c.delete_group(&GroupId("g2".into())).await.unwrap_err();
    assert_eq!(err, ApiError::RateLimited { method: "DELETE".into(), path: format!("{GROUPS}/g2"), retry_after_secs: 30 });
    assert!(c.rate_limiter().status().held_for.is_some_and(|d| d > Duration::from_secs(25)));
}
