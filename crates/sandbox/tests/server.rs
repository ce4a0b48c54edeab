//! Server tests of the sandbox: every status code and validation rule, over real HTTP.

use std::time::Duration;

use serde_json::{Value, json};
use tallyfy_groups_sandbox::{Config, Sandbox, State};

struct Server {
    url: String,
    sandbox: Sandbox,
    http: reqwest::Client,
    _task: tokio::task::JoinHandle<()>,
}

async fn start(config: Config) -> Server {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let sandbox = Sandbox::new(State::demo(), config);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let task = sandbox.spawn(listener);
    Server { url, sandbox, http: reqwest::Client::new(), _task: task }
}

impl Server {
    async fn call(&self, method: &str, path: &str, body: Option<&str>, auth: bool) -> (u16, Value, reqwest::header::HeaderMap) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut req = self.http.request(method, format!("{}{path}", self.url));
        if auth {
            req = req
                .header("Authorization", "Bearer sandbox-token")
                .header("X-Tallyfy-Client", "APIClient")
                .header("Accept", "application/json");
        }
        if let Some(b) = body {
            req = req.header("Content-Type", "application/json").body(b.to_string());
        }
        let resp = req.send().await.expect("send");
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let text = resp.text().await.expect("body");
        let value = if text.is_empty() { Value::Null } else { serde_json::from_str(&text).expect("JSON body") };
        (status, value, headers)
    }

    async fn ok(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let b = body.map(|b| b.to_string());
        let (s, v, _) = self.call(method, path, b.as_deref(), true).await;
        (s, v)
    }
}

const GROUPS: &str = "/api/organizations/sandbox/groups";

#[tokio::test]
async fn crud_with_tallyfy_status_codes_and_envelopes() {
    let s = start(Config::default()).await;
    let (status, created) = s
        .ok("POST", GROUPS, Some(json!({"name": "New", "description": "D", "members": [1001], "guests": ["auditor@audit-firm.example"]})))
        .await;
    assert_eq!(status, 201);
    let id = created["data"]["id"].as_str().expect("id").to_string();
    assert_eq!(id.len(), 32);
    assert_eq!(created["data"]["logo"], Value::Null);
    assert!(created["data"]["created_at"].is_string() && created["data"]["last_updated"].is_string());
    let (status, got) = s.ok("GET", &format!("{GROUPS}/{id}"), None).await;
    assert_eq!((status, &got["data"]["name"]), (200, &json!("New")));
    let (status, updated) =
        s.ok("PUT", &format!("{GROUPS}/{id}"), Some(json!({"name": "Newer", "description": "D2", "members": [1002]}))).await;
    assert_eq!(status, 201);
    assert_eq!(updated["data"]["members"], json!([1002]));
    assert_eq!(updated["data"]["guests"], json!([]), "PUT replaces the whole guest list");
    let (status, body, _) = s.call("DELETE", &format!("{GROUPS}/{id}"), None, true).await;
    assert_eq!((status, body), (204, Value::Null));
    let (status, body) = s.ok("GET", &format!("{GROUPS}/{id}"), None).await;
    assert_eq!(status, 404);
    assert_eq!(body["code"], "RESOURCE_NOT_FOUND");
    assert_eq!(body["error"], true);
    assert_eq!(s.ok("DELETE", &format!("{GROUPS}/{id}"), None).await.0, 404);
    assert_eq!(s.ok("PUT", &format!("{GROUPS}/{id}"), Some(json!({"name": "x", "description": "y"}))).await.0, 404);
}

#[tokio::test]
async fn pagination_matches_tallyfy() {
    let s = start(Config::default()).await;
    let (_, first) = s.ok("GET", &format!("{GROUPS}?page=1&per_page=4"), None).await;
    let p = &first["meta"]["pagination"];
    assert_eq!(
        (p["total"].as_u64(), p["count"].as_u64(), p["per_page"].as_u64(), p["total_pages"].as_u64()),
        (Some(6), Some(4), Some(4), Some(2))
    );
    assert!(p["links"]["next"].is_string());
    let (_, last) = s.ok("GET", &format!("{GROUPS}?page=2&per_page=4"), None).await;
    assert_eq!(last["data"].as_array().map(Vec::len), Some(2));
    assert_eq!(last["meta"]["pagination"]["links"], json!([]));
    let (_, default) = s.ok("GET", "/api/organizations/sandbox/users", None).await;
    assert_eq!(default["meta"]["pagination"]["per_page"], 10);
    let (_, capped) = s.ok("GET", "/api/organizations/sandbox/users?per_page=1000", None).await;
    assert_eq!(capped["meta"]["pagination"]["per_page"], 100);
    let (_, beyond) = s.ok("GET", "/api/organizations/sandbox/guests?page=9", None).await;
    assert_eq!(beyond["data"], json!([]));
}

#[tokio::test]
async fn every_validation_rule_answers_422_with_field_errors() {
    let s = start(Config::default()).await;
    let cases = [
        (json!({"description": "d"}), "name", "The name field is required."),
        (json!({"name": "  ", "description": "d"}), "name", "The name field is required."),
        (json!({"name": "x".repeat(201), "description": "d"}), "name", "The name may not be greater than 200 characters."),
        (json!({"name": "marketing", "description": "d"}), "name", "The name has already been taken."),
        (json!({"name": "A"}), "description", "The description field is required."),
        (json!({"name": "A", "description": ""}), "description", "The description field is required."),
        (json!({"name": "A", "description": null}), "description", "The description field is required."),
        (json!({"name": "A", "description": "d", "members": [42]}), "members.0", "The selected members.0 is invalid."),
        (json!({"name": "A", "description": "d", "guests": ["nope"]}), "guests.0", "The guests.0 must be a valid email address."),
        (
            json!({"name": "A", "description": "d", "guests": ["alice.nguyen@example.com"]}),
            "guests.0",
            "The guests.0 belongs to a member of the organization.",
        ),
    ];
    for (body, field, message) in cases {
        let (status, v) = s.ok("POST", GROUPS, Some(body.clone())).await;
        assert_eq!(status, 422, "{body}");
        assert_eq!(v["errors"][field][0], message, "{body} → {v}");
        assert!(v["message"].is_string());
    }
    let guests = "/api/organizations/sandbox/guests";
    for (body, message) in [
        (json!({}), "The email field is required."),
        (json!({"email": "bad"}), "The email must be a valid email address."),
        (json!({"email": "li.wei@example.com"}), "The email belongs to a member of the organization."),
        (json!({"email": "auditor@audit-firm.example"}), "The email has already been taken."),
    ] {
        let (status, v) = s.ok("POST", guests, Some(body.clone())).await;
        assert_eq!((status, &v["errors"]["email"][0]), (422, &json!(message)), "{body}");
    }
    let (status, g) = s.ok("POST", guests, Some(json!({"email": "New@X.co", "first_name": "N", "last_name": "X"}))).await;
    assert_eq!((status, &g["data"]["email"]), (201, &json!("new@x.co")));
    assert_eq!(s.ok("GET", &format!("{guests}/new@x.co"), None).await.0, 200);
    assert_eq!(s.ok("GET", &format!("{guests}/other@x.co"), None).await.0, 404);
}

#[tokio::test]
async fn auth_org_path_method_and_json_errors() {
    let s = start(Config::default()).await;
    let (status, body, _) = s.call("GET", GROUPS, None, false).await;
    assert_eq!((status, &body["code"]), (401, &json!("UNAUTHENTICATED")));
    let no_client = s.http.get(format!("{}{GROUPS}", s.url)).header("Authorization", "Bearer sandbox-token").send().await.expect("send");
    assert_eq!(no_client.status().as_u16(), 401);
    let wrong = s
        .http
        .get(format!("{}{GROUPS}", s.url))
        .header("Authorization", "Bearer nope")
        .header("X-Tallyfy-Client", "APIClient")
        .send()
        .await
        .expect("send");
    assert_eq!(wrong.status().as_u16(), 401);
    assert_eq!(s.ok("GET", "/api/organizations/other/groups", None).await.0, 403);
    let (status, body) = s.ok("GET", "/api/organizations/sandbox/nothing", None).await;
    assert_eq!((status, &body["code"]), (404, &json!("RESOURCE_NOT_FOUND")));
    let (status, body) = s.ok("PATCH", GROUPS, None).await;
    assert_eq!((status, &body["code"]), (405, &json!("METHOD_NOT_ALLOWED")));
    let (status, body, _) = s.call("POST", GROUPS, Some("{not json"), true).await;
    assert_eq!((status, &body["code"]), (400, &json!("BAD_REQUEST")));
    let (status, _, _) = s.call("POST", GROUPS, Some("[1, 2]"), true).await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn rate_limit_answers_429_with_retry_after_and_stats_count_requests() {
    // One request every two seconds: the second of four quick requests is over the limit even on
    // a slow machine.
    let s = start(Config { rate_limit: 0.5, ..Config::default() }).await;
    let mut statuses = Vec::new();
    let mut retry_after = None;
    for _ in 0..4 {
        let (status, _, headers) = s.call("GET", "/api/organizations/sandbox/users", None, true).await;
        statuses.push(status);
        if status == 429 {
            retry_after = headers.get("retry-after").and_then(|v| v.to_str().ok()).map(str::to_string);
        }
    }
    assert_eq!(statuses[0], 200);
    assert!(statuses[1..].contains(&429), "{statuses:?}");
    assert!(matches!(retry_after.as_deref(), Some("1" | "2")), "{retry_after:?}");
    let stats = s.sandbox.stats();
    assert_eq!(stats.total, 4);
    assert_eq!(stats.requests["GET /api/organizations/{org}/users"], 4);
    assert!(stats.rate_limited >= 1);
    let (_, admin, _) = s.call("GET", "/_sandbox/stats", None, false).await;
    assert_eq!(admin["total"], 4);
    let (_, state, _) = s.call("GET", "/_sandbox/state", None, false).await;
    assert_eq!(state["users"].as_array().map(Vec::len), Some(10));
    // Every API answer carries a request id (the admin endpoints are not counted).
    let (_, _, headers) = s.call("GET", "/api/organizations/sandbox/users", None, true).await;
    assert_eq!(headers.get("x-request-id").and_then(|v| v.to_str().ok()), Some("sandbox-5"));
}

#[tokio::test]
async fn faults_and_latency_are_injected() {
    let s = start(Config { fault_rate: 1.0, fault_seed: 3, ..Config::default() }).await;
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..30 {
        let resp = s
            .http
            .get(format!("{}/api/organizations/sandbox/users", s.url))
            .header("Authorization", "Bearer sandbox-token")
            .header("X-Tallyfy-Client", "x")
            .send()
            .await;
        let outcome = match resp {
            Ok(r) => match r.text().await {
                Ok(_) => "answered".to_string(),
                Err(_) => "dropped".to_string(),
            },
            Err(_) => "dropped".to_string(),
        };
        seen.insert(outcome);
    }
    assert!(seen.contains("dropped") && seen.contains("answered"), "{seen:?}");
    assert_eq!(s.sandbox.stats().faults_injected, 30);

    let slow = start(Config { latency: Duration::from_millis(50), ..Config::default() }).await;
    let t = std::time::Instant::now();
    slow.ok("GET", "/api/organizations/sandbox/users", None).await;
    assert!(t.elapsed() >= Duration::from_millis(50));
}

#[tokio::test]
async fn state_persists_to_its_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("state.json");
    let s = start(Config { persist: Some(path.clone()), ..Config::default() }).await;
    s.ok("DELETE", &format!("{GROUPS}/{}", s.sandbox.snapshot().order[0]), None).await;
    s.sandbox.flush().expect("flush");
    let Some(StateFile::Single(saved)) = load_state(&path).expect("readable") else { panic!("one organization, one state") };
    assert_eq!(saved.groups.len(), 5);
    std::fs::write(&path, "{broken").expect("write");
    let err = load_state(&path).unwrap_err();
    assert!(err.contains("delete it to start over"), "{err}");
}

#[tokio::test]
async fn guest_invitations_are_limited_per_hour() {
    let s = start(Config { guest_limit: 2, ..Config::default() }).await;
    let guests = "/api/organizations/sandbox/guests";
    for i in 0..2 {
        assert_eq!(s.ok("POST", guests, Some(json!({"email": format!("g{i}@x.co")}))).await.0, 201);
    }
    let (status, body, headers) = s.call("POST", guests, Some(&json!({"email": "g2@x.co"}).to_string()), true).await;
    assert_eq!(status, 429);
    assert_eq!(body["code"], "TOO_MANY_REQUESTS");
    let wait: u64 = headers.get("retry-after").and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok()).expect("Retry-After");
    assert!((3500..=3600).contains(&wait), "{wait}");
    // A rejected invitation does not count against the limit, and other writes are not limited.
    assert_eq!(s.ok("POST", GROUPS, Some(json!({"name": "Z", "description": "d"}))).await.0, 201);
}

#[tokio::test]
async fn guest_emails_in_a_group_write_create_the_guests_as_tallyfy_documents() {
    let s = start(Config { guest_limit: 3, ..Config::default() }).await;
    // Tallyfy's documented JavaScript sample: a new guest straight in `guests`.
    let (status, body) = s
        .ok(
            "POST",
            GROUPS,
            Some(json!({"name": "Design", "description": "Freelancers", "members": [1001], "guests": ["freelancer@design.co"]})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["data"]["guests"], json!(["freelancer@design.co"]));
    let id = body["data"]["id"].as_str().expect("id").to_string();
    let (_, guests) = s.ok("GET", "/api/organizations/sandbox/guests?per_page=100", None).await;
    let emails: Vec<&str> = guests["data"].as_array().into_iter().flatten().filter_map(|g| g["email"].as_str()).collect();
    assert!(emails.contains(&"freelancer@design.co"), "{emails:?}");
    // An update may add a new guest too; each counts against the hourly cap (two of three now).
    let (status, body) = s
        .ok(
            "PUT",
            &format!("{GROUPS}/{id}"),
            Some(json!({"name": "Design", "description": "Freelancers", "guests": ["freelancer@design.co", "second@design.co"]})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    // Two more new guests would pass the cap: 429, and nothing changes.
    let over = json!({"name": "More", "description": "d", "guests": ["third@design.co", "fourth@design.co"]}).to_string();
    let (status, _, headers) = s.call("POST", GROUPS, Some(&over), true).await;
    assert_eq!(status, 429);
    assert!(headers.contains_key("retry-after"));
    assert!(!s.sandbox.snapshot().groups.values().any(|g| g.name == "More"));
    assert!(!s.sandbox.snapshot().guests.iter().any(|g| g.email == "third@design.co"));
    // A member's address is still not a guest.
    let (status, body) = s.ok("POST", GROUPS, Some(json!({"name": "M", "description": "d", "guests": ["alice.nguyen@example.com"]}))).await;
    assert_eq!(status, 422, "{body}");
}

#[tokio::test]
async fn strict_guests_requires_guests_to_exist_first() {
    let s = start(Config { strict_guests: true, ..Config::default() }).await;
    let (status, body) =
        s.ok("POST", GROUPS, Some(json!({"name": "Design", "description": "d", "guests": ["freelancer@design.co"]}))).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["errors"]["guests.0"][0], "The selected guests.0 is not a guest of the organization.");
}

#[tokio::test]
async fn a_rolling_minute_limit_sends_tallyfys_headers_and_logs_every_request() {
    let s = start(Config { rate_limit_per_minute: 3, ..Config::default() }).await;
    let users = "/api/organizations/sandbox/users";
    let header = |h: &reqwest::header::HeaderMap, name: &str| h.get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
    for remaining in ["2", "1", "0"] {
        let (status, _, headers) = s.call("GET", users, None, true).await;
        assert_eq!(status, 200);
        assert_eq!(header(&headers, "x-ratelimit-limit").as_deref(), Some("3"));
        assert_eq!(header(&headers, "x-ratelimit-remaining").as_deref(), Some(remaining));
    }
    let (status, body, headers) = s.call("GET", users, None, true).await;
    assert_eq!((status, &body["code"]), (429, &json!("TOO_MANY_REQUESTS")));
    // Laravel's three headers on a refusal.
    assert_eq!(header(&headers, "x-ratelimit-limit").as_deref(), Some("3"));
    assert_eq!(header(&headers, "x-ratelimit-remaining").as_deref(), Some("0"));
    let wait: u64 = header(&headers, "retry-after").and_then(|v| v.parse().ok()).expect("Retry-After");
    assert!((55..=60).contains(&wait), "{wait}");
    assert_eq!(s.sandbox.stats().rate_limited, 1);
    let (_, log, _) = s.call("GET", "/_sandbox/log", None, false).await;
    let log = log.as_array().cloned().unwrap_or_default();
    let statuses: Vec<u64> = log.iter().filter_map(|r| r["status"].as_u64()).collect();
    assert_eq!(statuses, vec![200, 200, 200, 429]);
    assert!(log.iter().all(|r| r["request"] == "GET /api/organizations/{org}/users"), "{log:?}");
    let times: Vec<f64> = log.iter().filter_map(|r| r["at_ms"].as_f64()).collect();
    assert!(times.len() == 4 && times.windows(2).all(|w| w[0] <= w[1]), "{times:?}");
}

#[tokio::test]
async fn groups_are_searched_by_name_or_description_with_q() {
    let s = start(Config::default()).await;
    let names = |v: &Value| {
        v["data"].as_array().into_iter().flatten().map(|g| g["name"].as_str().unwrap_or_default().to_string()).collect::<Vec<_>>()
    };
    // "audit" is in one name and in no description; "TEAM" in a name and its description.
    let (status, found) = s.ok("GET", &format!("{GROUPS}?q=audit&page=1&per_page=100"), None).await;
    assert_eq!((status, names(&found)), (200, vec!["Temp Q3 Audit".to_string()]));
    let (_, found) = s.ok("GET", &format!("{GROUPS}?q=TEAM"), None).await;
    assert_eq!(names(&found), vec!["Onboarding Team"]);
    let (_, found) = s.ok("GET", &format!("{GROUPS}?q=invoices"), None).await;
    assert_eq!(names(&found), vec!["Finance Approvers"]);
    // Searches page like lists, and the next link keeps the search.
    let (_, found) = s.ok("GET", &format!("{GROUPS}?q=o&per_page=2"), None).await;
    assert_eq!(found["meta"]["pagination"]["total"], 5);
    assert_eq!(found["meta"]["pagination"]["links"]["next"], format!("{GROUPS}?q=o&page=2&per_page=2"));
    let (_, none) = s.ok("GET", &format!("{GROUPS}?q=nothing%20like%20this"), None).await;
    assert_eq!((names(&none).len(), &none["meta"]["pagination"]["total_pages"]), (0, &json!(1)));
    // An empty search is the whole list.
    let (_, all) = s.ok("GET", &format!("{GROUPS}?q=&per_page=100"), None).await;
    assert_eq!(names(&all).len(), 6);
    assert_eq!(s.sandbox.stats().searches, 5);
}

#[tokio::test]
async fn faults_can_be_limited_to_some_methods() {
    let s = start(Config { fault_rate: 1.0, fault_methods: vec![axum::http::Method::POST], ..Config::default() }).await;
    for _ in 0..5 {
        assert_eq!(s.ok("GET", GROUPS, None).await.0, 200);
    }
    assert_eq!(s.sandbox.stats().faults_injected, 0);
    let resp = s
        .http
        .post(format!("{}{GROUPS}", s.url))
        .header("Authorization", "Bearer sandbox-token")
        .header("X-Tallyfy-Client", "x")
        .body(json!({"name": "F", "description": "d"}).to_string())
        .send()
        .await;
    let answered_ok = matches!(&resp, Ok(r) if r.status().is_success());
    assert!(!answered_ok, "{resp:?}");
    assert_eq!(s.sandbox.stats().faults_injected, 1);
}

#[tokio::test]
async fn the_token_endpoint_issues_tokens_that_expire_after_their_uses() {
    let s = start(Config { client_id: "app".into(), client_secret: "cs-123".into(), token_uses: 2, ..Config::default() }).await;
    let exchange = |content_type: &'static str, body: &'static str| {
        let req = s.http.post(format!("{}/oauth/token", s.url)).header("Content-Type", content_type).body(body);
        async move {
            let resp = req.send().await.expect("send");
            let status = resp.status().as_u16();
            (status, serde_json::from_str::<Value>(&resp.text().await.expect("body")).expect("JSON body"))
        }
    };
    let form = "application/x-www-form-urlencoded";
    let (status, refused) = exchange(form, "grant_type=client_credentials&client_id=app&client_secret=wrong&scope=*").await;
    assert_eq!((status, refused["error"].as_str()), (401, Some("invalid_client")));
    let (status, refused) = exchange(form, "grant_type=password&client_id=app&client_secret=cs-123").await;
    assert_eq!((status, refused["error"].as_str()), (400, Some("unsupported_grant_type")));
    let (status, _) = exchange("application/json", r#"{"grant_type":"client_credentials"}"#).await;
    assert_eq!(status, 400);
    let (status, issued) = exchange(form, "grant_type=client_credentials&client_id=app&client_secret=cs-123&scope=*").await;
    assert_eq!(status, 200);
    assert_eq!((issued["token_type"].as_str(), issued["expires_in"].as_u64()), (Some("Bearer"), Some(604_800)));
    let token = issued["access_token"].as_str().unwrap_or_default().to_string();
    assert!(token.starts_with("sandbox-access-") && token.len() > 30, "{token}");
    let get = |bearer: String| {
        let req = s
            .http
            .get(format!("{}{GROUPS}", s.url))
            .header("Authorization", format!("Bearer {bearer}"))
            .header("X-Tallyfy-Client", "APIClient");
        async move { req.send().await.expect("send").status().as_u16() }
    };
    // Two uses, then 401; the static token keeps working; an unknown token never did.
    assert_eq!(get(token.clone()).await, 200);
    assert_eq!(get(token.clone()).await, 200);
    assert_eq!(get(token.clone()).await, 401);
    assert_eq!(get("sandbox-token".into()).await, 200);
    assert_eq!(get("sandbox-access-made-up".into()).await, 401);
    let stats = s.sandbox.stats();
    assert_eq!((stats.tokens_issued, stats.tokens_expired), (1, 1));
    assert_eq!(stats.requests.get("POST /oauth/token"), Some(&4));
}

// Several organizations from one sandbox.

use std::collections::BTreeSet;

use tallyfy_groups_sandbox::{Embedded, Seed, StateFile, load_state};

fn orgs(names: &[&str]) -> Config {
    Config { orgs: names.iter().map(|o| o.to_string()).collect(), ..Config::default() }
}

/// Serves `sandbox` on a loopback port.
async fn serve_sandbox(sandbox: Sandbox) -> Server {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let task = sandbox.spawn(listener);
    Server { url, sandbox, http: reqwest::Client::new(), _task: task }
}

/// `(name, id)` of every group listed in `org`.
async fn groups_of(s: &Server, org: &str) -> Vec<(String, String)> {
    let (status, v) = s.ok("GET", &format!("/api/organizations/{org}/groups?per_page=100"), None).await;
    assert_eq!(status, 200, "{v}");
    v["data"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|g| (g["name"].as_str().unwrap_or_default().to_string(), g["id"].as_str().unwrap_or_default().to_string()))
        .collect()
}

fn names(groups: &[(String, String)]) -> Vec<&str> {
    groups.iter().map(|(n, _)| n.as_str()).collect()
}

fn ids(groups: &[(String, String)]) -> BTreeSet<&str> {
    groups.iter().map(|(_, id)| id.as_str()).collect()
}

#[tokio::test]
async fn each_organization_has_its_own_groups_and_guests() {
    let s = serve_sandbox(Sandbox::load(None, Seed::Demo, orgs(&["a", "b"]))).await;
    // The same seed in both, under ids of their own (ids are global in Tallyfy).
    let (a, b) = (groups_of(&s, "a").await, groups_of(&s, "b").await);
    assert_eq!(names(&a), names(&b));
    assert_eq!(a.len(), 6);
    assert!(ids(&a).is_disjoint(&ids(&b)), "{a:?} {b:?}");
    // A group created in `a` is not seen in `b`; the same name is free there.
    let body = json!({"name": "Ops", "description": "d", "members": [1001]});
    let (status, made_a) = s.ok("POST", "/api/organizations/a/groups", Some(body.clone())).await;
    assert_eq!(status, 201, "{made_a}");
    assert!(!names(&groups_of(&s, "b").await).contains(&"Ops"));
    let id_a = made_a["data"]["id"].as_str().expect("id").to_string();
    assert_eq!(s.ok("GET", &format!("/api/organizations/b/groups/{id_a}"), None).await.0, 404);
    assert_eq!(s.ok("DELETE", &format!("/api/organizations/b/groups/{id_a}"), None).await.0, 404);
    let (status, made_b) = s.ok("POST", "/api/organizations/b/groups", Some(body)).await;
    assert_eq!(status, 201, "{made_b}");
    assert_ne!(made_b["data"]["id"], made_a["data"]["id"]);
    // Deleting in `b` leaves `a` alone; so do guests.
    assert_eq!(s.ok("DELETE", &format!("/api/organizations/b/groups/{}", b[0].1), None).await.0, 204);
    assert_eq!(groups_of(&s, "a").await.len(), 7);
    assert_eq!(s.ok("POST", "/api/organizations/a/guests", Some(json!({"email": "only.a@x.co"}))).await.0, 201);
    assert_eq!(s.ok("GET", "/api/organizations/a/guests/only.a@x.co", None).await.0, 200);
    assert_eq!(s.ok("GET", "/api/organizations/b/guests/only.a@x.co", None).await.0, 404);
    let snapshot_b = s.sandbox.snapshot_of("b").expect("b is served");
    assert_eq!(snapshot_b.groups.len(), 6);
    assert!(s.sandbox.snapshot_of("c").is_none());
}

#[tokio::test]
async fn an_organization_not_served_is_refused_and_one_token_serves_all() {
    let s = serve_sandbox(Sandbox::load(None, Seed::Demo, orgs(&["a", "b"]))).await;
    for org in ["a", "b"] {
        assert_eq!(s.ok("GET", &format!("/api/organizations/{org}/users"), None).await.0, 200, "{org}");
    }
    for org in ["sandbox", "c"] {
        let (status, body) = s.ok("GET", &format!("/api/organizations/{org}/groups"), None).await;
        assert_eq!((status, &body["message"]), (403, &json!("You do not have access to this organization.")), "{org}");
    }
    // An access token from the client credentials is good for every organization too.
    let issued = s
        .http
        .post(format!("{}/oauth/token", s.url))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials&client_id=sandbox-client&client_secret=sandbox-secret&scope=*")
        .send()
        .await
        .expect("send");
    let issued: Value = serde_json::from_str(&issued.text().await.expect("body")).expect("JSON");
    let token = issued["access_token"].as_str().expect("token").to_string();
    for org in ["a", "b"] {
        let status = s
            .http
            .get(format!("{}/api/organizations/{org}/groups", s.url))
            .header("Authorization", format!("Bearer {token}"))
            .header("X-Tallyfy-Client", "APIClient")
            .send()
            .await
            .expect("send")
            .status();
        assert_eq!(status.as_u16(), 200, "{org}");
    }
}

#[tokio::test]
async fn rate_limits_are_per_user_guest_limits_per_organization_and_stats_count_both() {
    let s =
        serve_sandbox(Sandbox::load(None, Seed::Demo, Config { guest_limit: 1, rate_limit_per_minute: 100, ..orgs(&["a", "b"]) })).await;
    // One rolling minute for the token, whichever organization it reads.
    let mut remaining = Vec::new();
    for org in ["a", "b", "a", "b"] {
        let (status, _, headers) = s.call("GET", &format!("/api/organizations/{org}/users"), None, true).await;
        assert_eq!(status, 200);
        remaining.push(headers.get("x-ratelimit-remaining").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string());
    }
    assert_eq!(remaining, ["99", "98", "97", "96"]);
    // One new guest an hour in each organization.
    let guest = |email: &str| Some(json!({ "email": email }).to_string());
    assert_eq!(s.call("POST", "/api/organizations/a/guests", guest("g1@x.co").as_deref(), true).await.0, 201);
    assert_eq!(s.call("POST", "/api/organizations/a/guests", guest("g2@x.co").as_deref(), true).await.0, 429);
    assert_eq!(s.call("POST", "/api/organizations/b/guests", guest("g1@x.co").as_deref(), true).await.0, 201);
    assert_eq!(s.call("GET", "/api/organizations/c/users", None, true).await.0, 403);
    let (_, stats, _) = s.call("GET", "/_sandbox/stats", None, false).await;
    assert_eq!(stats["total"], 8);
    assert_eq!(stats["organizations"], json!({"a": 4, "b": 3}));
    // The dump shows every organization, keyed by its id.
    let (_, dump, _) = s.call("GET", "/_sandbox/state", None, false).await;
    let keys: Vec<&String> = dump.as_object().map(|o| o.keys().collect()).unwrap_or_default();
    assert_eq!(keys, ["organizations"]);
    let guests = |org: &str| dump["organizations"][org]["guests"].as_array().map(Vec::len);
    assert_eq!((guests("a"), guests("b")), (Some(3), Some(3)));
    assert_eq!(dump["organizations"]["a"]["users"].as_array().map(Vec::len), Some(10));
}

#[tokio::test]
async fn two_organizations_persist_and_load_back() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("state.json");
    let config = Config { persist: Some(path.clone()), ..orgs(&["b", "a"]) };
    let s = serve_sandbox(Sandbox::load(None, Seed::Demo, config.clone())).await;
    assert_eq!(s.ok("POST", "/api/organizations/a/groups", Some(json!({"name": "Ops", "description": "d"}))).await.0, 201);
    let first_b = s.sandbox.snapshot_of("b").expect("b").order[0].clone();
    assert_eq!(s.ok("DELETE", &format!("/api/organizations/b/groups/{first_b}"), None).await.0, 204);
    s.sandbox.flush().expect("flush");
    let raw: Value = serde_json::from_slice(&std::fs::read(&path).expect("written")).expect("JSON");
    let keys: Vec<&String> = raw.as_object().map(|o| o.keys().collect()).unwrap_or_default();
    assert_eq!(keys, ["organizations"]);
    let Some(StateFile::Several(saved)) = load_state(&path).expect("readable") else { panic!("not a file of several organizations") };
    assert_eq!(saved.keys().collect::<Vec<_>>(), ["a", "b"]);
    assert_eq!((saved["a"].groups.len(), saved["b"].groups.len()), (7, 5));
    // Served again from the file: every organization as it was left.
    let again = Sandbox::load(load_state(&path).expect("readable"), Seed::Demo, config);
    for org in ["a", "b"] {
        let (before, after) = (s.sandbox.snapshot_of(org).expect("served"), again.snapshot_of(org).expect("served again"));
        assert_eq!(
            (&before.groups, &before.order, before.seq, before.clock),
            (&after.groups, &after.order, after.seq, after.clock),
            "{org}"
        );
    }
    // Groups created after the reload still get ids of their own in each organization.
    let again = serve_sandbox(again).await;
    let (_, x) = again.ok("POST", "/api/organizations/a/groups", Some(json!({"name": "X", "description": "d"}))).await;
    let (_, y) = again.ok("POST", "/api/organizations/b/groups", Some(json!({"name": "X", "description": "d"}))).await;
    assert!(x["data"]["id"].is_string() && x["data"]["id"] != y["data"]["id"], "{x} {y}");
}

const ONE_ORG_FILE: &[u8] = include_bytes!("fixtures/state-one-org.json");

#[tokio::test]
async fn a_state_file_from_before_organizations_loads_and_keeps_its_format() {
    // A state file written before the sandbox served several organizations (an applied
    // groups.example.yaml): read, and written back byte for byte.
    let Ok(StateFile::Single(state)) = StateFile::parse(ONE_ORG_FILE) else { panic!("the old format no longer parses") };
    assert_eq!(tallyfy_groups_sandbox::file::encode(&[("sandbox", &*state)].into_iter().collect()).expect("encode"), ONE_ORG_FILE);
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("state.json");
    std::fs::write(&path, ONE_ORG_FILE).expect("write");
    let config = Config { persist: Some(path.clone()), ..orgs(&["acme"]) };
    let s = serve_sandbox(Sandbox::load(load_state(&path).expect("readable"), Seed::Demo, config)).await;
    assert!(names(&groups_of(&s, "acme").await).contains(&"Product Council"));
    assert_eq!(s.ok("POST", "/api/organizations/acme/groups", Some(json!({"name": "Ops", "description": "d"}))).await.0, 201);
    s.sandbox.flush().expect("flush");
    let Some(StateFile::Single(saved)) = load_state(&path).expect("readable") else { panic!("one organization keeps the old format") };
    assert!(saved.groups.values().any(|g| g.name == "Ops") && saved.groups.len() == 7);

    // Served with a second organization: the file's state is the first one's, the second is
    // seeded, and the file then names both.
    std::fs::write(&path, ONE_ORG_FILE).expect("write");
    let config = Config { persist: Some(path.clone()), ..orgs(&["x", "y"]) };
    let s = serve_sandbox(Sandbox::load(load_state(&path).expect("readable"), Seed::Demo, config)).await;
    assert!(names(&groups_of(&s, "x").await).contains(&"Product Council"));
    assert!(names(&groups_of(&s, "y").await).contains(&"Onboarding Team"));
    s.sandbox.flush().expect("a seeded organization is written without any request");
    let Some(StateFile::Several(saved)) = load_state(&path).expect("readable") else { panic!("two organizations") };
    assert_eq!(saved.keys().collect::<Vec<_>>(), ["x", "y"]);
    assert_eq!(saved["x"].groups, state.groups);
}

#[tokio::test]
async fn an_organization_missing_from_the_file_is_seeded_and_one_not_asked_for_is_kept() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("state.json");
    let mut a = Seed::Demo.state("a");
    a.create_group(&serde_json::from_value(json!({"name": "Ops", "description": "d"})).expect("input")).expect("created");
    let c = Seed::Generated { users: 3, groups: 2, guests: 1, templates: 0 }.state("c");
    let file = tallyfy_groups_sandbox::file::encode(&[("a", &a), ("c", &c)].into_iter().collect()).expect("encode");
    std::fs::write(&path, &file).expect("write");
    let seed = Seed::Generated { users: 5, groups: 2, guests: 0, templates: 0 };
    let config = Config { persist: Some(path.clone()), ..orgs(&["a", "b"]) };
    let s = serve_sandbox(Sandbox::load(load_state(&path).expect("readable"), seed, config)).await;
    assert!(names(&groups_of(&s, "a").await).contains(&"Ops"));
    assert_eq!(names(&groups_of(&s, "b").await), ["Group 00000", "Group 00001"]);
    assert_eq!(s.ok("GET", "/api/organizations/c/groups", None).await.0, 403, "kept, not served");
    s.sandbox.flush().expect("flush");
    let Some(StateFile::Several(saved)) = load_state(&path).expect("readable") else { panic!("several organizations") };
    assert_eq!(saved.keys().collect::<Vec<_>>(), ["a", "b", "c"]);
    assert_eq!(saved["b"].users.len(), 5);
    // The organization not served is written back exactly as it was read.
    let raw = |bytes: &[u8]| serde_json::from_slice::<Value>(bytes).expect("JSON")["organizations"]["c"].to_string();
    assert_eq!(raw(&std::fs::read(&path).expect("read")), raw(&file));
    assert_eq!(saved["c"].groups, c.groups);
}

#[tokio::test]
async fn the_embedded_sandbox_serves_the_organizations_asked_for() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("state.json");
    let asked: Vec<String> = ["staging", "production", "staging"].iter().map(|o| o.to_string()).collect();
    let embedded = Embedded::start_orgs(&path, &asked).await.expect("starts");
    assert_eq!(embedded.orgs, ["staging", "production"], "duplicates collapse");
    assert_eq!(embedded.org(), "staging");
    assert_eq!(embedded.label, format!("sandbox:{}", path.display()));
    // The new file is written at once, with both organizations.
    let Some(StateFile::Several(saved)) = load_state(&path).expect("readable") else { panic!("several organizations") };
    assert_eq!(saved.keys().collect::<Vec<_>>(), ["production", "staging"]);
    let http = reqwest::Client::new();
    for org in ["staging", "production"] {
        let resp = http
            .get(format!("{}/organizations/{org}/groups", embedded.base_url))
            .header("Authorization", format!("Bearer {}", embedded.token))
            .header("X-Tallyfy-Client", "APIClient")
            .send()
            .await
            .expect("send");
        assert_eq!(resp.status().as_u16(), 200, "{org}");
    }
    drop(embedded);
    // `start` is the single organization "sandbox"; the file's first organization is kept.
    let one = Embedded::start(&dir.path().join("one.json")).await.expect("starts");
    assert_eq!((one.orgs.as_slice(), one.org()), (["sandbox".to_string()].as_slice(), "sandbox"));
    drop(one);
    let Some(StateFile::Single(_)) = load_state(&dir.path().join("one.json")).expect("readable") else { panic!("one organization") };
}

#[tokio::test]
async fn organization_ids_must_be_plain_path_segments_and_a_corrupt_file_is_left_alone() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("state.json");
    for (orgs, says) in [
        (vec![], "at least one organization"),
        (vec!["a/b"], "`a/b`"),
        (vec![".."], "`..`"),
        (vec![""], "empty"),
        (vec!["ok", "a b"], "`a b`"),
    ] {
        let orgs: Vec<String> = orgs.iter().map(|o| o.to_string()).collect();
        let Err(e) = Embedded::start_orgs(&path, &orgs).await else { panic!("{orgs:?} accepted") };
        assert!(e.contains(says), "{orgs:?}: {e}");
        assert!(!path.exists(), "nothing written for {orgs:?}");
    }
    std::fs::write(&path, "{broken").expect("write");
    let Err(e) = Embedded::start_orgs(&path, &["a".to_string(), "b".to_string()]).await else { panic!("a corrupt file was accepted") };
    assert!(e.contains("delete it to start over"), "{e}");
    assert_eq!(std::fs::read_to_string(&path).expect("read"), "{broken");
    std::fs::write(&path, r#"{"organizations": {"a": {"users": []}}}"#).expect("write");
    let Err(e) = Embedded::start_orgs(&path, &["a".to_string()]).await else { panic!("an incomplete organization was accepted") };
    assert!(e.contains("delete it to start over"), "{e}");
}
