//! The applier against a wiremock Tallyfy: phase order (guests, then creates and updates, then
//! deletes), one request per action (plus a re-read before an update that carries values the
//! file does not manage), and failures that never stop the other actions.

mod common;

use std::time::Duration;

use serde_json::json;
use tallyfy_groups_api::apply::{self, ApplyOptions, ErrorKind, Outcome, SkipReason, UnknownReason};
use tallyfy_groups_api::{Client, ClientConfig, RetryPolicy, Secret};
use tallyfy_groups_core::desired::load_str;
use tallyfy_groups_core::diff::DiffOptions;
use tallyfy_groups_core::model::{Email, GroupId, LiveGroup, LiveState, User, UserId, UserStatus};
use tallyfy_groups_core::plan::Target;
use tallyfy_groups_core::render::words;
use wiremock::matchers::{body_json, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn live() -> LiveState {
    let users = (1..=3)
        .map(|i| User {
            id: UserId(i),
            email: Email::new(&format!("u{i}@example.com")),
            first_name: "U".into(),
            last_name: i.to_string(),
            status: UserStatus::Active,
        })
        .collect();
    let group = |id: &str, name: &str, members: &[u64]| LiveGroup {
        id: GroupId(id.into()),
        name: name.into(),
        description: "d".into(),
        members: members.iter().map(|&m| UserId(m)).collect(),
        guests: Default::default(),
        unread: Vec::new(),
    };
    LiveState {
        groups: vec![group("g1", "Keep", &[1]), group("g2", "Change", &[1]), group("g3", "Gone", &[2])],
        users,
        guests: Some(vec![]),
    }
}

const DESIRED: &str = "groups:\n  - name: Keep\n    members: [u1@example.com]\n  - name: Change\n    members: [u2@example.com]\n  - name: New\n    description: n\n    members: [u3@example.com]\n    guests: [new@partner.example]\n  - name: Gone\n    absent: true\n";

fn client(server: &MockServer) -> Client {
    common::fast_client(&server.uri(), "o", "t", 2)
}

fn plan() -> tallyfy_groups_core::plan::Plan {
    plan_of(DESIRED)
}

fn plan_of(yaml: &str) -> tallyfy_groups_core::plan::Plan {
    let desired = load_str("g.yaml", yaml).expect("valid");
    tallyfy_groups_core::pipeline::make_plan(&desired, &live(), &DiffOptions::default(), Target { api_url: "x".into(), org: "o".into() })
        .expect("plan")
}

/// DESIRED with every field of "Change" managed: its update needs no re-read.
fn managed_plan() -> tallyfy_groups_core::plan::Plan {
    plan_of(&DESIRED.replace("  - name: Change\n", "  - name: Change\n    description: d\n    guests: []\n"))
}

/// `GET` of group g2 ("Change") as it is right before the write.
async fn mount_change(server: &MockServer, group: serde_json::Value) {
    Mock::given(method("GET"))
        .and(path("/organizations/o/groups/g2"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "data": group })))
        .expect(1)
        .mount(server)
        .await;
}

fn options() -> ApplyOptions {
    ApplyOptions { parallelism: 4, allow_removals: None, guest_invites_per_hour: 30, stop: Default::default() }
}

#[tokio::test]
async fn phases_run_in_order_with_one_request_per_action() {
    let server = MockServer::start().await;
    mount_change(&server, json!({"id": "g2", "name": "Change", "description": "d", "members": [1], "guests": []})).await;
    Mock::given(method("POST"))
        .and(path("/organizations/o/guests"))
        .and(body_json(json!({"email": "new@partner.example", "first_name": "New", "last_name": "(guest)"})))
        .respond_with(ResponseTemplate::new(201).set_delay(Duration::from_millis(50)))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/organizations/o/groups"))
        .and(body_json(json!({"name": "New", "description": "n", "members": [3], "guests": ["new@partner.example"]})))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"data": {"id": "g4", "name": "New"}})))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("PUT"))
        .and(path("/organizations/o/groups/g2"))
        .and(body_json(json!({"name": "Change", "description": "d", "members": [2], "guests": []})))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"data": {"id": "g2", "name": "Change"}})))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("DELETE"))
        .and(path("/organizations/o/groups/g3"))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&server)
        .await;

    let plan = plan();
    // "Change" leaves its description and guests to Tallyfy: one re-read before its PUT.
    assert_eq!(plan.summary.api_calls, 5);
    let report = apply::apply(&plan, &client(&server), &options(), None).await;
    assert!(report.all_applied(), "{report:?}");
    let order: Vec<String> =
        server.received_requests().await.unwrap_or_default().iter().map(|r| format!("{} {}", r.method, r.url.path())).collect();
    assert_eq!(order.len(), 5);
    let at = |what: &str| order.iter().position(|o| o == what).unwrap_or(usize::MAX);
    // The group that lists the new guest is created after the guest; a group that needs no new
    // guest does not wait for the invitations.
    assert!(at("POST /organizations/o/guests") < at("POST /organizations/o/groups"), "the guest first: {order:?}");
    assert_eq!(order[4], "DELETE /organizations/o/groups/g3", "deletes last: {order:?}");
    let (get, put) = (at("GET /organizations/o/groups/g2"), at("PUT /organizations/o/groups/g2"));
    assert!(get < put && put != usize::MAX, "re-read right before the write: {order:?}");
}

#[tokio::test]
async fn an_update_keeps_what_changed_in_tallyfy_since_the_plan_in_fields_the_file_does_not_manage() {
    let server = MockServer::start().await;
    // Since the plan: someone edited the description and added a guest in the Tallyfy UI, and
    // added member 3. The file manages only the members of "Change".
    mount_change(
        &server,
        json!({"id": "g2", "name": "Change", "description": "edited in the UI", "members": [1, 3], "guests": ["added@partner.example"]}),
    )
    .await;
    Mock::given(method("PUT"))
        .and(path("/organizations/o/groups/g2"))
        .and(body_json(json!({"name": "Change", "description": "edited in the UI", "members": [2], "guests": ["added@partner.example"]})))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"data": {"id": "g2", "name": "Change"}})))
        .expect(1)
        .mount(&server)
        .await;
    let desired = load_str("g.yaml", "groups:\n  - name: Change\n    members: [u2@example.com]\n").expect("valid");
    let plan = tallyfy_groups_core::pipeline::make_plan(
        &desired,
        &live(),
        &DiffOptions::default(),
        Target { api_url: "x".into(), org: "o".into() },
    )
    .expect("plan");
    let report = apply::apply(&plan, &client(&server), &options(), None).await;
    assert!(report.all_applied(), "{report:?}");
}

#[tokio::test]
async fn a_fully_managed_update_is_not_re_read() {
    let server = MockServer::start().await;
    Mock::given(method("GET")).respond_with(ResponseTemplate::new(500)).expect(0).mount(&server).await;
    Mock::given(method("PUT"))
        .and(path("/organizations/o/groups/g2"))
        .and(body_json(json!({"name": "Change", "description": "new", "members": [2], "guests": []})))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"data": {"id": "g2", "name": "Change"}})))
        .expect(1)
        .mount(&server)
        .await;
    let desired = load_str("g.yaml", "groups:\n  - name: Change\n    description: new\n    members: [u2@example.com]\n    guests: []\n")
        .expect("valid");
    let plan = tallyfy_groups_core::pipeline::make_plan(
        &desired,
        &live(),
        &DiffOptions::default(),
        Target { api_url: "x".into(), org: "o".into() },
    )
    .expect("plan");
    assert_eq!(plan.summary.api_calls, 1);
    let report = apply::apply(&plan, &client(&server), &options(), None).await;
    assert!(report.all_applied(), "{report:?}");
}

#[tokio::test]
async fn an_update_whose_re_read_is_not_whole_is_refused() {
    let server = MockServer::start().await;
    mount_change(&server, json!({"id": "g2", "name": "Change", "description": "d", "members": [1], "guests": null})).await;
    Mock::given(method("PUT")).respond_with(ResponseTemplate::new(200)).expect(0).mount(&server).await;
    let desired = load_str("g.yaml", "groups:\n  - name: Change\n    members: [u2@example.com]\n").expect("valid");
    let plan = tallyfy_groups_core::pipeline::make_plan(
        &desired,
        &live(),
        &DiffOptions::default(),
        Target { api_url: "x".into(), org: "o".into() },
    )
    .expect("plan");
    let report = apply::apply(&plan, &client(&server), &options(), None).await;
    assert!(
        matches!(&report.results[0].outcome, Outcome::Failed { error } if error.kind == ErrorKind::UnreadLists && error.message.contains("refusing to write group \"Change\" (id g2)") && error.message.contains("`guests` was null")),
        "{report:?}"
    );
}

#[tokio::test]
async fn a_failure_never_stops_the_others_and_dependents_are_skipped() {
    let server = MockServer::start().await;
    mount_change(&server, json!({"id": "g2", "name": "Change", "description": "d", "members": [1], "guests": []})).await;
    Mock::given(method("POST"))
        .and(path("/organizations/o/guests"))
        .respond_with(ResponseTemplate::new(422).set_body_json(
            json!({"message": "The email is invalid.", "code": "invalid_email", "errors": {"email": ["The email is invalid."]}}),
        ))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("PUT"))
        .respond_with(
            ResponseTemplate::new(422)
                .set_body_json(json!({"message": "bad", "errors": {"members.0": ["The selected members.0 is invalid."]}})),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("DELETE")).respond_with(ResponseTemplate::new(204)).expect(1).mount(&server).await;
    Mock::given(method("POST"))
        .and(path("/organizations/o/groups"))
        .respond_with(ResponseTemplate::new(201))
        .expect(0)
        .mount(&server)
        .await;

    let report = apply::apply(&plan(), &client(&server), &options(), None).await;
    let subjects: Vec<String> = report.results.iter().map(|r| words::subject(&r.subject)).collect();
    let outcomes: Vec<(&str, &Outcome)> = subjects.iter().map(String::as_str).zip(report.results.iter().map(|r| &r.outcome)).collect();
    // Which action failed, with which status and Tallyfy error code, is data in the report.
    assert_eq!(report.results.iter().map(|r| r.index).collect::<Vec<_>>(), vec![0, 1, 2, 3]);
    assert!(
        matches!(outcomes[0], ("guest new@partner.example", Outcome::Failed { error })
            if error.kind == ErrorKind::Http && error.status == Some(422) && error.code.as_deref() == Some("invalid_email") && error.message.contains("The email is invalid.")),
        "{outcomes:?}"
    );
    assert!(
        matches!(outcomes[1], ("group \"New\"", Outcome::Skipped { reason: SkipReason::GuestNotInvited { email } }) if email.as_str() == "new@partner.example"),
        "{outcomes:?}"
    );
    assert!(
        matches!(outcomes[2], ("group \"Change\"", Outcome::Failed { error })
            if error.status == Some(422) && error.code.is_none() && error.message.contains("members.0: The selected members.0 is invalid.")),
        "{outcomes:?}"
    );
    assert!(
        matches!(&report.results[2].subject, apply::Subject::Group { id: Some(id), name } if id.0 == "g2" && name == "Change"),
        "{report:?}"
    );
    assert_eq!(outcomes[3], ("group \"Gone\"", &Outcome::Applied));
    assert_eq!(report.counts(), (1, 2, 1));
}

#[tokio::test]
async fn an_interrupted_apply_finishes_what_started_and_reports_the_rest() {
    let server = MockServer::start().await;
    let (tx, rx) = tokio::sync::oneshot::channel();
    Mock::given(wiremock::matchers::any()).respond_with(Arrived::new(tx, Duration::from_millis(200))).expect(1).mount(&server).await;
    let options = ApplyOptions { parallelism: 1, ..options() };
    // Interrupt while the first request is in flight.
    let stop = options.stop.clone();
    tokio::spawn(async move {
        let _ = rx.await;
        stop.request();
    });
    let report = apply::apply(&managed_plan(), &client(&server), &options, None).await;
    assert_eq!(report.counts(), (1, 0, 3), "{report:?}");
    assert_eq!(
        report.results.iter().filter(|r| r.outcome == Outcome::Skipped { reason: SkipReason::Interrupted }).count(),
        3,
        "{report:?}"
    );
    assert_eq!(server.received_requests().await.unwrap_or_default().len(), 1, "nothing is sent after the interrupt");
}

/// A plan of `n` updates (groups g1..gn gain a member).
fn updates(n: usize) -> tallyfy_groups_core::plan::Plan {
    let mut state = live();
    state.groups = (1..=n)
        .map(|i| LiveGroup {
            id: GroupId(format!("g{i}")),
            name: format!("G{i}"),
            description: "d".into(),
            members: Default::default(),
            guests: Default::default(),
            unread: Vec::new(),
        })
        .collect();
    // Fully managed groups: no re-read before each PUT.
    let yaml: String = std::iter::once("groups:\n".to_string())
        .chain((1..=n).map(|i| format!("  - name: G{i}\n    description: d\n    members: [u1@example.com]\n    guests: []\n")))
        .collect();
    let desired = load_str("g.yaml", &yaml).expect("valid");
    tallyfy_groups_core::pipeline::make_plan(&desired, &state, &DiffOptions::default(), Target { api_url: "x".into(), org: "o".into() })
        .expect("plan")
}

#[tokio::test]
async fn when_the_api_stops_answering_the_rest_is_skipped_at_once() {
    // A port nobody listens on: every connection is refused.
    let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port").port();
    let mut config = ClientConfig::new(format!("http://127.0.0.1:{port}"), "o", Secret::new("t"));
    config.max_rps = 0.0;
    config.retry = RetryPolicy {
        max_attempts: 50,
        base_delay: Duration::from_millis(20),
        max_delay: Duration::from_millis(20),
        max_total: Duration::from_secs(600),
    };
    let client = Client::new(config).expect("client");
    let plan = updates(8);
    let started = std::time::Instant::now();
    let report = apply::apply(&plan, &client, &ApplyOptions { parallelism: 1, ..options() }, None).await;
    assert!(started.elapsed() < Duration::from_secs(5), "took {:?}", started.elapsed());
    let (applied, failed, skipped) = report.counts();
    assert_eq!((applied, failed, skipped), (0, 1, 7), "{report:?}");
    assert!(
        report.results[1..].iter().all(|r| matches!(&r.outcome, Outcome::Skipped { reason: SkipReason::StoppedAnswering { .. } })),
        "{report:?}"
    );
}

#[tokio::test]
async fn a_create_whose_reread_fails_is_reported_unknown() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/organizations/o/groups"))
        .respond_with(ResponseTemplate::new(500))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET")).respond_with(ResponseTemplate::new(503)).mount(&server).await;
    let desired = load_str("g.yaml", "groups:\n  - name: New\n").expect("valid");
    let plan = tallyfy_groups_core::pipeline::make_plan(
        &desired,
        &live(),
        &DiffOptions::default(),
        Target { api_url: "x".into(), org: "o".into() },
    )
    .expect("plan");
    let report = apply::apply(&plan, &client(&server), &options(), None).await;
    assert!(
        matches!(&report.results[0].outcome, Outcome::Unknown { reason: UnknownReason::ReadBackFailed, error: Some(e) } if e.kind == ErrorKind::Unconfirmed && e.status == Some(500))
            && words::outcome_detail(&report.results[0].outcome)
                .is_some_and(|s| s.contains("whether it took effect is unknown") && s.contains("run plan again")),
        "{report:?}"
    );
    assert_eq!(report.counts(), (0, 0, 0));
    assert_eq!(report.unknown(), 1);
    assert!(!report.all_applied());
}

const WITH_GUESTS: &str = "groups:\n  - name: Change\n    description: d\n    members: [u2@example.com]\n    guests: []\n  - name: First\n    guests: [first@partner.example]\n  - name: Second\n    guests: [second@partner.example]\n";

#[tokio::test]
async fn paced_invitations_neither_hold_back_other_groups_nor_an_interrupt() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/organizations/o/guests"))
        .respond_with(ResponseTemplate::new(201))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("PUT"))
        .and(path("/organizations/o/groups/g2"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"data": {"id": "g2", "name": "Change"}})))
        .expect(1)
        .mount(&server)
        .await;
    let desired = load_str("g.yaml", WITH_GUESTS).expect("valid");
    let plan = tallyfy_groups_core::pipeline::make_plan(
        &desired,
        &live(),
        &DiffOptions::default(),
        Target { api_url: "x".into(), org: "o".into() },
    )
    .expect("plan");
    // One invitation per hour: the second guest waits an hour behind the first.
    let options = ApplyOptions { guest_invites_per_hour: 1, ..options() };
    // Interrupt once two actions have ended: the first invitation and the group that needs no guest.
    let stop = options.stop.clone();
    let progress: apply::Progress = std::sync::Arc::new(move |tally: &apply::Tally| {
        if tally.ended == 2 {
            stop.request();
        }
    });
    let report = tokio::time::timeout(Duration::from_secs(10), apply::apply(&plan, &client(&server), &options, Some(progress)))
        .await
        .expect("neither the update nor the interrupt waits for the paced invitation");
    let outcome = |subject: &str| report.results.iter().find(|r| words::subject(&r.subject) == subject).map(|r| r.outcome.clone());
    assert_eq!(outcome("guest first@partner.example"), Some(Outcome::Applied));
    assert_eq!(outcome("group \"Change\""), Some(Outcome::Applied));
    let interrupted = Some(Outcome::Skipped { reason: SkipReason::Interrupted });
    assert_eq!(outcome("guest second@partner.example"), interrupted);
    assert_eq!(outcome("group \"First\""), interrupted);
    assert_eq!(outcome("group \"Second\""), interrupted);
    assert_eq!(outcome("group \"Gone\""), None, "not in this plan");
}

/// Tells the test when the first request arrived, then answers after `delay`.
struct Arrived {
    tx: std::sync::Mutex<Option<tokio::sync::oneshot::Sender<()>>>,
    delay: Duration,
}

impl Arrived {
    fn new(tx: tokio::sync::oneshot::Sender<()>, delay: Duration) -> Self {
        Arrived { tx: std::sync::Mutex::new(Some(tx)), delay }
    }
}

impl wiremock::Respond for Arrived {
    fn respond(&self, _: &wiremock::Request) -> ResponseTemplate {
        if let Some(tx) = self.tx.lock().ok().and_then(|mut t| t.take()) {
            let _ = tx.send(());
        }
        ResponseTemplate::new(200).set_delay(self.delay).set_body_json(json!({"data": {"id": "g1", "name": "G1"}}))
    }
}

#[tokio::test]
async fn a_second_interrupt_abandons_the_requests_in_flight_and_still_reports() {
    let server = MockServer::start().await;
    let (tx, rx) = tokio::sync::oneshot::channel();
    Mock::given(method("PUT")).respond_with(Arrived::new(tx, Duration::from_secs(30))).expect(1).mount(&server).await;
    let mut config = ClientConfig::new(server.uri(), "o", Secret::new("t"));
    config.max_rps = 0.0;
    config.timeout = Duration::from_secs(60);
    let client = Client::new(config).expect("client");
    let options = ApplyOptions { parallelism: 1, ..options() };
    let stop = options.stop.clone();
    tokio::spawn(async move {
        let _ = rx.await;
        stop.request();
        stop.abandon();
    });
    let plan = updates(3);
    let report = tokio::time::timeout(Duration::from_secs(10), apply::apply(&plan, &client, &options, None))
        .await
        .expect("a second interrupt does not wait for the request in flight");
    assert!(
        matches!(&report.results[0].outcome, Outcome::Unknown { reason: UnknownReason::AbandonedInFlight, error: None })
            && words::outcome_detail(&report.results[0].outcome).is_some_and(|s| s.contains("in flight") && s.contains("run plan again")),
        "{report:?}"
    );
    assert!(report.results[1..].iter().all(|r| matches!(r.outcome, Outcome::Skipped { .. })), "{report:?}");
}

#[tokio::test]
async fn a_paced_invitation_does_not_outwait_an_api_that_stopped_answering() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port").port();
    let mut config = ClientConfig::new(format!("http://127.0.0.1:{port}"), "o", Secret::new("t"));
    config.max_rps = 0.0;
    config.retry = RetryPolicy {
        max_attempts: 50,
        base_delay: Duration::from_millis(20),
        max_delay: Duration::from_millis(20),
        max_total: Duration::from_secs(600),
    };
    let client = Client::new(config).expect("client");
    let desired = load_str("g.yaml", WITH_GUESTS).expect("valid");
    let plan = tallyfy_groups_core::pipeline::make_plan(
        &desired,
        &live(),
        &DiffOptions::default(),
        Target { api_url: "x".into(), org: "o".into() },
    )
    .expect("plan");
    // The second invitation would wait an hour for its turn.
    let options = ApplyOptions { guest_invites_per_hour: 1, ..options() };
    let report = tokio::time::timeout(Duration::from_secs(10), apply::apply(&plan, &client, &options, None))
        .await
        .expect("the apply ends once the API stopped answering");
    let second = report.results.iter().find(|r| words::subject(&r.subject) == "guest second@partner.example").map(|r| r.outcome.clone());
    assert!(matches!(&second, Some(Outcome::Skipped { reason: SkipReason::StoppedAnswering { .. } })), "{report:?}");
}

#[tokio::test]
async fn progress_counts_actions_skipped_after_a_stop_as_skipped_not_done() {
    let server = MockServer::start().await;
    let options = options();
    // Ctrl-C before the first action starts: every action ends, none is done.
    options.stop.request();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let record = seen.clone();
    let progress: apply::Progress = std::sync::Arc::new(move |t: &apply::Tally| record.lock().expect("lock").push(*t));
    let plan = plan();
    let report = apply::apply(&plan, &client(&server), &options, Some(progress)).await;
    assert_eq!(server.received_requests().await.unwrap_or_default().len(), 0);
    let seen = seen.lock().expect("lock").clone();
    assert_eq!(seen.len(), plan.actions.len());
    let last = seen.last().copied().unwrap_or_default();
    assert_eq!(last, apply::Tally { total: 4, ended: 4, applied: 0, failed: 0, skipped: 4, unknown: 0 });
    assert_eq!(report.results.len(), 4);
}

/// A client that shares the apply's stop, with the default retry budget (a `Retry-After: 30` is
/// waited out).
fn stopping_client(server: &MockServer, stop: &tallyfy_groups_api::Stop) -> Client {
    let mut config = ClientConfig::new(server.uri(), "o", Secret::new("t"));
    config.max_rps = 0.0;
    config.timeout = Duration::from_secs(60);
    config.stop = stop.clone();
    Client::new(config).expect("client")
}

#[tokio::test]
async fn a_stop_while_writes_wait_out_a_429_ends_them_at_once_as_nothing_sent() {
    let server = MockServer::start().await;
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let tx = std::sync::Mutex::new(Some(tx));
    Mock::given(method("PUT"))
        .respond_with(move |_: &wiremock::Request| {
            if let Some(tx) = tx.lock().ok().and_then(|mut t| t.take()) {
                let _ = tx.send(());
            }
            ResponseTemplate::new(429).insert_header("Retry-After", "30")
        })
        .expect(1)
        .mount(&server)
        .await;
    let options = ApplyOptions { parallelism: 1, ..options() };
    let client = stopping_client(&server, &options.stop);
    let stop = options.stop.clone();
    tokio::spawn(async move {
        let _ = rx.await;
        tokio::time::sleep(Duration::from_millis(100)).await;
        stop.request();
    });
    let started = std::time::Instant::now();
    let report = tokio::time::timeout(Duration::from_secs(10), apply::apply(&updates(3), &client, &options, None))
        .await
        .expect("the stop does not wait out the Retry-After");
    assert!(started.elapsed() < Duration::from_secs(2), "took {:?}", started.elapsed());
    assert!(
        report.results.iter().all(|r| r.outcome == Outcome::Skipped { reason: SkipReason::Interrupted }),
        "a refused write and the waiting ones were never applied: {report:?}"
    );
    assert_eq!(server.received_requests().await.unwrap_or_default().len(), 1, "the 429 is not retried after the stop");
}

#[tokio::test]
async fn a_write_still_in_flight_when_the_grace_ends_is_unknown() {
    let server = MockServer::start().await;
    let (tx, rx) = tokio::sync::oneshot::channel();
    Mock::given(method("PUT")).respond_with(Arrived::new(tx, Duration::from_secs(30))).expect(1).mount(&server).await;
    let options = ApplyOptions { parallelism: 1, ..options() };
    let client = stopping_client(&server, &options.stop);
    let stop = options.stop.clone();
    tokio::spawn(async move {
        let _ = rx.await;
        stop.request();
    });
    let started = std::time::Instant::now();
    let report = tokio::time::timeout(Duration::from_secs(10), apply::apply(&updates(2), &client, &options, None))
        .await
        .expect("the grace is short");
    let took = started.elapsed();
    assert!(took >= tallyfy_groups_api::stop::GRACE && took < Duration::from_secs(5), "took {took:?}");
    assert!(matches!(&report.results[0].outcome, Outcome::Unknown { reason: UnknownReason::AbandonedInFlight, .. }), "{report:?}");
    assert_eq!(report.results[1].outcome, Outcome::Skipped { reason: SkipReason::Interrupted });
}
