//! wiremock tests of every Tallyfy API interaction: method, path, headers, body and call count.

mod common;

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tallyfy_groups_api::wire::{GroupPayload, GuestPayload};
use tallyfy_groups_api::{ApiError, Client, ClientConfig, RetryPolicy, Secret};
use tallyfy_groups_core::model::{Email, GroupId, UserId};
use wiremock::matchers::{body_json, header, method, path, query_param, query_param_is_missing};
use wiremock::{Mock, MockServer, ResponseTemplate};

const GROUPS: &str = "/organizations/org1/groups";

fn client(server: &MockServer) -> Client {
    common::fast_client(&server.uri(), "org1", "tok-123", 4)
}

fn group(id: &str, name: &str, members: &[u64]) -> Value {
    common::wire_group(id, name, members)
}

/// One page of a list answer; `per_page` is what makes `total` items fill `pages` pages.
fn page(data: Vec<Value>, total: usize, current: u64, pages: u64, links: Value) -> Value {
    let per_page = if pages > 1 { (total as u64).div_ceil(pages) } else { 100 };
    json!({"data": data, "meta": {"pagination": {"total": total, "count": 0, "per_page": per_page, "current_page": current, "total_pages": pages, "links": links}}})
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
async fn a_short_read_is_read_once_more_then_refused() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/organizations/org1/users"))
        .respond_with(ResponseTemplate::new(200).set_body_json(page(vec![json!({"id": 1, "email": "a@b.co"})], 2, 1, 1, Value::Null)))
        .expect(2)
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

/// Laravel's throttle answer: `Retry-After` with `X-RateLimit-Limit` and `X-RateLimit-Remaining: 0`.
fn laravel_429(retry_after: &str) -> ResponseTemplate {
    ResponseTemplate::new(429)
        .insert_header("Retry-After", retry_after)
        .insert_header("X-RateLimit-Limit", "600")
        .insert_header("X-RateLimit-Remaining", "0")
        .set_body_json(json!({"message": "Too Many Attempts."}))
}

#[tokio::test]
async fn a_laravel_429_costs_its_retry_after_not_a_rolling_minute() {
    let server = MockServer::start().await;
    let one = format!("{GROUPS}/g1");
    authed(Mock::given(method("GET")).and(path(one.as_str())))
        .respond_with(laravel_429("1"))
        .up_to_n_times(1)
        .expect(1)
        .with_priority(1)
        .mount(&server)
        .await;
    authed(Mock::given(method("GET")).and(path(one.as_str())))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("X-RateLimit-Limit", "600")
                .insert_header("X-RateLimit-Remaining", "598")
                .set_body_json(json!({"data": group("g1", "One", &[])})),
        )
        .expect(2)
        .mount(&server)
        .await;
    let c = client(&server);
    let started = Instant::now();
    c.get_group(&GroupId("g1".into())).await.expect("read after the 429");
    let retried = started.elapsed();
    assert!(retried >= Duration::from_millis(950), "Retry-After: 1 was not honoured: {retried:?}");
    assert!(retried < Duration::from_secs(5), "the 429's Remaining: 0 held requests past its Retry-After: {retried:?}");
    // The next request is not held back either.
    c.get_group(&GroupId("g1".into())).await.expect("read");
    assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
    assert_eq!(c.rate_limiter().status().held_for, None);
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
    assert!(err.to_string().contains("update TALLYFY_ACCESS_TOKEN"), "{err}");
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
async fn clients_for_two_organizations_can_share_one_rate_limiter() {
    // Tallyfy counts requests per user: two organizations read with the same credentials draw
    // on one budget, and what the server says of it is learned once for both.
    let server = MockServer::start().await;
    for org in ["org1", "org2"] {
        Mock::given(method("GET"))
            .and(path(format!("/organizations/{org}/groups")))
            .respond_with(
                ResponseTemplate::new(200)
                    .insert_header("X-RateLimit-Limit", "50")
                    .insert_header("X-RateLimit-Remaining", if org == "org1" { "49" } else { "48" })
                    .set_body_json(page(vec![], 0, 1, 1, json!([]))),
            )
            .expect(1)
            .mount(&server)
            .await;
    }
    let shared = std::sync::Arc::new(tallyfy_groups_api::RateLimiter::per_minute(600));
    let config = |org: &str| ClientConfig { limiter: Some(shared.clone()), ..ClientConfig::new(server.uri(), org, Secret::new("tok-123")) };
    let (one, two) = (Client::new(config("org1")).expect("client"), Client::new(config("org2")).expect("client"));
    one.list_groups().await.expect("org1 listed");
    two.list_groups().await.expect("org2 listed");
    for c in [&one, &two] {
        let status = c.rate_limiter().status();
        assert_eq!((status.limit, status.in_window, status.foreign), (Some(50), 2, 0), "{c:?}");
    }
    // Without sharing, each client counts only its own.
    let own = Client::new(ClientConfig::new(server.uri(), "org1", Secret::new("tok-123"))).expect("client");
    assert_eq!(own.rate_limiter().status().in_window, 0);
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

fn paged(data: Vec<Value>, total: u64, per_page: u64, current: u64, total_pages: u64) -> Value {
    json!({"data": data, "meta": {"pagination": {"total": total, "count": 0, "per_page": per_page, "current_page": current, "total_pages": total_pages, "links": {}}}})
}

async fn mount_page(server: &MockServer, route: &str, n: u64, body: Value, times: u64) {
    Mock::given(method("GET"))
        .and(path(route))
        .and(query_param("page", n.to_string()))
        .respond_with(ResponseTemplate::new(200).set_body_json(body))
        .expect(times)
        .mount(server)
        .await;
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

#[tokio::test]
async fn a_full_page_without_pagination_is_refused_a_short_one_is_whole() {
    let server = MockServer::start().await;
    let users: Vec<Value> = (1..=100).map(|i| json!({"id": i, "email": format!("u{i}@x.co")})).collect();
    mount_page(&server, "/organizations/org1/users", 1, json!({"data": users}), 1).await;
    let err = client(&server).list_users().await.unwrap_err();
    assert!(
        err.to_string()
            .contains("answered a full page of 100 items without `meta.pagination.total` and `total_pages`, so there may be more"),
        "{err}"
    );
    // Pagination without total_pages is no better.
    let server = MockServer::start().await;
    let users: Vec<Value> = (1..=100).map(|i| json!({"id": i, "email": format!("u{i}@x.co")})).collect();
    mount_page(&server, "/organizations/org1/users", 1, json!({"data": users, "meta": {"pagination": {"total": 500}}}), 1).await;
    assert!(matches!(client(&server).list_users().await, Err(ApiError::Pagination { .. })));
    // A short answer without pagination is certainly whole.
    let server = MockServer::start().await;
    mount_page(&server, "/organizations/org1/users", 1, json!({"data": [{"id": 1, "email": "a@x.co"}], "meta": {}}), 1).await;
    assert_eq!(client(&server).list_users().await.expect("whole").len(), 1);
}

#[tokio::test]
async fn total_pages_that_disagree_with_total_are_refused_before_fetching_more() {
    let server = MockServer::start().await;
    // 150 items at 100 per page are 2 pages, not 99999: nothing beyond page 1 is requested.
    let groups: Vec<Value> = (0..100).map(|i| group(&format!("g{i}"), &format!("G{i}"), &[1])).collect();
    mount_page(&server, GROUPS, 1, paged(groups, 150, 100, 1, 99_999), 1).await;
    let err = client(&server).list_groups().await.unwrap_err();
    assert!(err.to_string().contains("says `total_pages: 99999`, but 150 items at 100 per page make 2 pages"), "{err}");
    assert_eq!(server.received_requests().await.unwrap_or_default().len(), 1);
    // An empty organization legitimately says total 0 and one page.
    let server = MockServer::start().await;
    mount_page(&server, GROUPS, 1, paged(vec![], 0, 100, 1, 1), 1).await;
    assert!(client(&server).list_groups().await.expect("empty").is_empty());
}

#[tokio::test]
async fn the_same_item_on_two_pages_is_read_once_more_then_refused() {
    let server = MockServer::start().await;
    mount_page(&server, GROUPS, 1, paged(vec![group("a", "A", &[1])], 2, 1, 1, 2), 2).await;
    mount_page(&server, GROUPS, 2, paged(vec![group("a", "A", &[1])], 2, 1, 2, 2), 2).await;
    let err = client(&server).list_groups().await.unwrap_err();
    assert!(err.to_string().contains("returned the item `a` twice, also when read again"), "{err}");
}

#[tokio::test]
async fn a_list_that_moved_while_paged_is_read_again() {
    let server = MockServer::start().await;
    // First read: "a" shows on both pages (a group was inserted meanwhile); second read is clean.
    Mock::given(method("GET"))
        .and(path(GROUPS))
        .and(query_param("page", "2"))
        .respond_with(ResponseTemplate::new(200).set_body_json(paged(vec![group("a", "A", &[1])], 2, 1, 2, 2)))
        .up_to_n_times(1)
        .with_priority(1)
        .expect(1)
        .mount(&server)
        .await;
    mount_page(&server, GROUPS, 2, paged(vec![group("b", "B", &[2])], 2, 1, 2, 2), 1).await;
    mount_page(&server, GROUPS, 1, paged(vec![group("a", "A", &[1])], 2, 1, 1, 2), 2).await;
    let groups = client(&server).list_groups().await.expect("the second read is consistent");
    assert_eq!(groups.iter().map(|g| g.name.as_str()).collect::<Vec<_>>(), vec!["A", "B"]);
}

#[tokio::test]
async fn a_group_listed_without_its_lists_is_read_alone_and_used_when_whole() {
    let server = MockServer::start().await;
    let listed = json!({"id": "g1", "name": "Sales", "description": "d"});
    mount_page(&server, GROUPS, 1, paged(vec![listed, group("g2", "Ops", &[2])], 2, 100, 1, 1), 1).await;
    authed(Mock::given(method("GET")).and(path(format!("{GROUPS}/g1"))))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"data": group("g1", "Sales", &[1, 5])})))
        .expect(1)
        .mount(&server)
        .await;
    let groups = client(&server).list_groups().await.expect("groups");
    assert!(groups.iter().all(|g| g.is_fully_known()));
    assert_eq!(groups[0].members.iter().copied().collect::<Vec<_>>(), vec![UserId(1), UserId(5)]);
}

#[tokio::test]
async fn a_group_still_not_whole_when_read_alone_stays_marked() {
    let server = MockServer::start().await;
    let junk = json!({"id": "g1", "name": "Sales", "description": "d", "members": [1, "n/a"], "guests": []});
    mount_page(&server, GROUPS, 1, paged(vec![junk.clone(), group("g2", "Ops", &[2])], 2, 100, 1, 1), 1).await;
    Mock::given(method("GET"))
        .and(path(format!("{GROUPS}/g1")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"data": junk})))
        .expect(1)
        .mount(&server)
        .await;
    let groups = client(&server).list_groups().await.expect("groups");
    assert_eq!(groups[0].unread.iter().map(ToString::to_string).collect::<Vec<_>>(), vec!["`members[1]` is \"n/a\", not a user id"]);
    assert!(groups[1].is_fully_known());
}

#[tokio::test]
async fn a_listed_group_whose_read_alone_answers_404_stays_and_is_never_written() {
    let server = MockServer::start().await;
    mount_page(&server, GROUPS, 1, paged(vec![json!({"id": "g1", "name": "Sales", "members": null, "guests": []})], 1, 100, 1, 1), 1).await;
    Mock::given(method("GET"))
        .and(path(format!("{GROUPS}/g1")))
        .respond_with(
            ResponseTemplate::new(404).set_body_json(json!({"error": true, "message": "Group not found.", "code": "RESOURCE_NOT_FOUND"})),
        )
        .expect(1)
        .mount(&server)
        .await;
    let groups = client(&server).list_groups().await.expect("groups");
    // Not dropped (a group of the file by that name would be planned as a create, then refused
    // with 422): kept as listed, not fully known, so it is never written.
    assert_eq!(groups.len(), 1);
    assert_eq!(groups[0].name, "Sales");
    assert!(!groups[0].is_fully_known(), "{groups:?}");
}

#[tokio::test]
async fn an_answer_about_another_group_is_refused() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(format!("{GROUPS}/g1")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"data": group("g2", "Other", &[9])})))
        .expect(1)
        .mount(&server)
        .await;
    let err = client(&server).get_group(&GroupId("g1".into())).await.unwrap_err();
    assert!(matches!(&err, ApiError::WrongGroup { asked, got, .. } if asked == "g1" && got == "g2"), "{err:?}");
    assert!(err.to_string().contains("answered with group id \"g2\", not the \"g1\" asked for"), "{err}");
}

#[tokio::test]
async fn a_pre_write_read_about_another_group_writes_nothing() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(format!("{GROUPS}/g1")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"data": group("g2", "Other", &[9])})))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("PUT")).respond_with(ResponseTemplate::new(200)).expect(0).mount(&server).await;
    let body = |_: &tallyfy_groups_core::model::LiveGroup| {
        Some(GroupPayload { name: "One".into(), description: "d".into(), members: vec![], guests: vec![] })
    };
    let err = client(&server).update_group_fresh(&GroupId("g1".into()), body).await.unwrap_err();
    assert!(matches!(err, ApiError::WrongGroup { .. }), "{err:?}");
}

/// Answers with `body` and records when each request arrived.
struct Timed {
    body: Value,
    at: std::sync::Arc<std::sync::Mutex<Vec<Instant>>>,
}

impl wiremock::Respond for Timed {
    fn respond(&self, _: &wiremock::Request) -> ResponseTemplate {
        self.at.lock().expect("lock").push(Instant::now());
        ResponseTemplate::new(200).set_body_json(self.body.clone())
    }
}

#[tokio::test]
async fn the_pre_write_read_and_the_write_go_back_to_back_whatever_the_rate_limit() {
    let server = MockServer::start().await;
    let (reads, writes) = (std::sync::Arc::default(), std::sync::Arc::default());
    // As read right before the write: a description changed in Tallyfy since the plan.
    let fresh = json!({"data": {"id": "g1", "name": "One", "description": "changed in Tallyfy", "members": [1], "guests": []}});
    Mock::given(method("GET"))
        .and(path(format!("{GROUPS}/g1")))
        .respond_with(Timed { body: fresh, at: std::sync::Arc::clone(&reads) })
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("PUT"))
        .and(path(format!("{GROUPS}/g1")))
        .and(body_json(json!({"name": "One", "description": "changed in Tallyfy", "members": [1, 2], "guests": []})))
        .respond_with(Timed { body: json!({"data": group("g1", "One", &[1, 2])}), at: std::sync::Arc::clone(&writes) })
        .expect(1)
        .mount(&server)
        .await;
    // Two requests per 1.5 s, one of them just used: a read and a write cannot both go now.
    let mut config = ClientConfig::new(server.uri(), "org1", Secret::new("tok-123"));
    config.limiter = Some(std::sync::Arc::new(tallyfy_groups_api::RateLimiter::rolling(2, Duration::from_millis(1500))));
    let c = Client::new(config).expect("client");
    c.rate_limiter().acquire().await.finish(Default::default());
    let body = |g: &tallyfy_groups_core::model::LiveGroup| {
        Some(GroupPayload { name: g.name.clone(), description: g.description.clone(), members: vec![UserId(1), UserId(2)], guests: vec![] })
    };
    let wrote = c.update_group_fresh(&GroupId("g1".into()), body).await.expect("written");
    assert!(matches!(wrote, tallyfy_groups_api::FreshWrite::Written(_)), "{wrote:?}");
    let (read, write) = (reads.lock().expect("lock")[0], writes.lock().expect("lock")[0]);
    // Earlier the read took the free slot and the write waited the window out (1.5 s) after it:
    // a change made in that gap was overwritten.
    assert!(write.duration_since(read) < Duration::from_millis(500), "the write waited {:?} after its read", write.duration_since(read));
}

#[tokio::test]
async fn odd_group_ids_are_never_requested() {
    let server = MockServer::start().await;
    mount_page(&server, GROUPS, 1, paged(vec![json!({"id": "..", "name": "X", "members": null, "guests": []})], 1, 100, 1, 1), 1).await;
    let groups = client(&server).list_groups().await.expect("groups");
    assert_eq!(groups[0].unmanageable(), Some(tallyfy_groups_core::model::Unmanageable::BadId));
    assert_eq!(server.received_requests().await.unwrap_or_default().len(), 1);
}

#[tokio::test]
async fn every_page_read_is_reported_for_progress() {
    let server = MockServer::start().await;
    for n in 1..=3u64 {
        mount_page(&server, GROUPS, n, paged(vec![group(&format!("g{n}"), &format!("G{n}"), &[n])], 3, 1, n, 3), 1).await;
    }
    let c = client(&server);
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = seen.clone();
    c.on_page(std::sync::Arc::new(move |name: &str, done, total| sink.lock().expect("lock").push((name.to_string(), done, total))));
    c.list_groups().await.expect("groups");
    let mut seen = seen.lock().expect("lock").clone();
    seen.sort();
    assert_eq!(seen, vec![("groups".to_string(), 1, 3), ("groups".to_string(), 2, 3), ("groups".to_string(), 3, 3)]);
}

/// Answers with whatever `Authorization` header the request carried, as a careless or hostile
/// server might.
struct EchoAuthorization(u16);

impl wiremock::Respond for EchoAuthorization {
    fn respond(&self, request: &wiremock::Request) -> ResponseTemplate {
        let auth = request.headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
        ResponseTemplate::new(self.0).insert_header("X-Request-Id", auth.as_str()).set_body_json(json!({
            "message": format!("Invalid credentials: {auth}"),
            "code": auth,
            "errors": {auth.clone(): [format!("{auth} is not valid")]},
        }))
    }
}

#[tokio::test]
async fn server_text_never_carries_the_token() {
    let server = MockServer::start().await;
    Mock::given(method("PUT")).respond_with(EchoAuthorization(422)).expect(1).mount(&server).await;
    // A body of the wrong type, whose decode error would quote the token.
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"data": [{"id": "tok-123", "email": "a@b.co"}]})))
        .expect(1)
        .mount(&server)
        .await;
    let c = client(&server);
    let body = GroupPayload { name: "A".into(), description: "D".into(), members: vec![], guests: vec![] };
    let put = c.update_group(&GroupId("g".into()), &body).await.unwrap_err();
    let get = c.list_users().await.unwrap_err();
    for err in [put, get] {
        let text = format!("{err} {err:?}");
        assert!(!text.contains("tok-123"), "the token leaked: {text}");
        assert!(text.contains("***"), "the token is shown as ***: {text}");
    }
}

#[tokio::test]
async fn redirects_are_never_followed() {
    let elsewhere = MockServer::start().await;
    Mock::given(wiremock::matchers::any()).respond_with(ResponseTemplate::new(201)).expect(0).mount(&elsewhere).await;
    let server = MockServer::start().await;
    let target = format!("{}/organizations/org1/groups/g", elsewhere.uri());
    Mock::given(method("PUT"))
        .respond_with(ResponseTemplate::new(307).insert_header("Location", target.as_str()))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(301).insert_header("Location", target.as_str()))
        .expect(1)
        .mount(&server)
        .await;
    let c = client(&server);
    let body = GroupPayload { name: "A".into(), description: "D".into(), members: vec![], guests: vec![] };
    let put = c.update_group(&GroupId("g".into()), &body).await.unwrap_err();
    assert!(put.to_string().starts_with(&format!("PUT /organizations/org1/groups/g was redirected (HTTP 307) to {target}")), "{put}");
    assert!(!put.is_transient());
    let get = c.list_groups().await.unwrap_err();
    assert!(get.to_string().contains("redirected (HTTP 301)"), "{get}");
}

#[tokio::test]
async fn consecutive_timeouts_stop_the_client_instead_of_retrying_for_minutes() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(5)).set_body_json(page(vec![], 0, 1, 1, json!([]))))
        .mount(&server)
        .await;
    let mut config = ClientConfig::new(server.uri(), "org1", Secret::new("tok-123"));
    config.max_rps = 0.0;
    config.timeout = Duration::from_millis(100);
    config.retry = RetryPolicy {
        max_attempts: 20,
        base_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(5),
        max_total: Duration::from_secs(60),
    };
    let c = Client::new(config).expect("client");
    let err = c.list_groups().await.unwrap_err();
    assert!(err.to_string().contains("the API stopped answering"), "{err}");
    assert_eq!(server.received_requests().await.unwrap_or_default().len(), 5, "five timeouts in a row, then nothing more");
    assert!(c.stopped_answering().is_some());
    let err = c.list_users().await.unwrap_err();
    assert!(err.to_string().contains("the API stopped answering"), "{err}");
    assert_eq!(server.received_requests().await.unwrap_or_default().len(), 5, "a stopped client sends nothing");
}

#[tokio::test]
async fn a_create_whose_reread_fails_is_unconfirmed_not_failed() {
    let server = MockServer::start().await;
    Mock::given(method("POST")).and(path(GROUPS)).respond_with(ResponseTemplate::new(500)).expect(1).mount(&server).await;
    Mock::given(method("GET")).and(path(GROUPS)).respond_with(ResponseTemplate::new(503)).expect(4).mount(&server).await;
    let body = GroupPayload { name: "Ops".into(), description: "d".into(), members: vec![], guests: vec![] };
    let err = client(&server).create_group(&body).await.unwrap_err();
    assert!(err.is_unconfirmed(), "{err:?}");
    assert!(err.to_string().contains("whether it took effect is unknown"), "{err}");
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

/// An HTTPS server on loopback whose certificate (self-signed, in tests/tls) no system trusts;
/// counts the connections it accepts.
fn untrusted_https_server() -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let _ = rustls::crypto::ring::default_provider().install_default();
    let certs = vec![CertificateDer::from_pem_slice(include_bytes!("tls/cert.pem")).expect("cert")];
    let key = PrivateKeyDer::from_pem_slice(include_bytes!("tls/key.pem")).expect("key");
    let config =
        std::sync::Arc::new(rustls::ServerConfig::builder().with_no_client_auth().with_single_cert(certs, key).expect("server config"));
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("https://127.0.0.1:{}/api", listener.local_addr().expect("addr").port());
    let accepted = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let count = accepted.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let Ok(mut conn) = rustls::ServerConnection::new(config.clone()) else { continue };
            // The client refuses the certificate, so the handshake ends in an error.
            while conn.is_handshaking() {
                if conn.complete_io(&mut stream).is_err() {
                    break;
                }
            }
        }
    });
    (url, accepted)
}

#[tokio::test]
async fn an_untrusted_certificate_fails_at_once_and_says_how_to_trust_a_ca() {
    let (url, accepted) = untrusted_https_server();
    let started = Instant::now();
    let err = common::fast_client(&url, "org1", "tok-123", 5).list_groups().await.unwrap_err();
    let text = err.to_string();
    assert!(text.contains("the server's certificate is not trusted"), "{text}");
    assert!(text.contains("127.0.0.1"), "names the host: {text}");
    assert!(text.contains("SSL_CERT_FILE"), "{text}");
    assert!(!text.contains("gave up after") && !text.contains("got no answer"), "{text}");
    assert!(!err.is_transient(), "{err:?}");
    assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 1, "no retry");
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn a_refused_connection_says_nothing_is_listening_there() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
    // The listener is dropped: nothing listens on the port any more.
    let err = common::fast_client(&format!("http://127.0.0.1:{port}/api"), "org1", "tok-123", 2).list_groups().await.unwrap_err();
    let text = err.to_string();
    assert!(text.contains(&format!("nothing is listening at 127.0.0.1:{port} (connection refused)")), "{text}");
}

#[tokio::test]
async fn an_answer_larger_than_the_cap_is_refused_not_held_in_memory() {
    let server = MockServer::start().await;
    let big = json!({"data": [group("g1", &"x".repeat(4096), &[])], "meta": {"pagination": {"total": 1, "per_page": 100, "current_page": 1, "total_pages": 1}}});
    Mock::given(method("GET")).and(path(GROUPS)).respond_with(ResponseTemplate::new(200).set_body_json(big)).expect(1).mount(&server).await;
    let mut config = ClientConfig::new(server.uri(), "org1", Secret::new("tok-123"));
    config.max_answer_bytes = 1024;
    let err = Client::new(config).expect("client").list_groups().await.unwrap_err();
    assert!(matches!(err, ApiError::TooLarge { limit: 1024, .. }), "{err:?}");
    assert!(err.to_string().contains("GET /organizations/org1/groups answered more than"), "{err}");
    assert_eq!(tallyfy_groups_api::MAX_ANSWER_BYTES, 64 * 1024 * 1024);
}

#[tokio::test]
async fn a_user_without_an_email_is_read_not_a_broken_answer() {
    let server = MockServer::start().await;
    let users = json!({"data": [
        {"id": 1, "email": "a@example.com", "status": "active"},
        {"id": 2, "email": null, "status": "active"},
        {"id": 3, "status": "bot"}
    ], "meta": {"pagination": {"total": 3, "per_page": 100, "current_page": 1, "total_pages": 1}}});
    Mock::given(method("GET"))
        .and(path("/organizations/org1/users"))
        .respond_with(ResponseTemplate::new(200).set_body_json(users))
        .expect(1)
        .mount(&server)
        .await;
    let users = client(&server).list_users().await.expect("users");
    assert_eq!(users.len(), 3);
    assert_eq!(users[1].email.as_str(), "");
}
