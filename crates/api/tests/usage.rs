//! wiremock tests of the usage reads: templates (both `steps` shapes, pagination, the read of a
//! template listed without steps, archived templates), the counts of active processes and open
//! tasks, and every way a read can fail, which never becomes "not used".

mod common;

use serde_json::{Value, json};
use tallyfy_groups_api::{ApiError, Client, Counted, read_usage};
use tallyfy_groups_core::model::GroupId;
use wiremock::matchers::{header, method, path, query_param, query_param_is_missing};
use wiremock::{Mock, MockServer, ResponseTemplate};

const CHECKLISTS: &str = "/organizations/org1/checklists";

fn client(server: &MockServer) -> Client {
    common::fast_client(&server.uri(), "org1", "tok-123", 2)
}

fn authed(m: wiremock::MockBuilder) -> wiremock::MockBuilder {
    m.and(header("Authorization", "Bearer tok-123")).and(header("Accept", "application/json"))
}

fn page(data: Vec<Value>, total: usize, current: u64, per_page: u64) -> Value {
    let pages = (total as u64).div_ceil(per_page).max(1);
    json!({"data": data, "meta": {"pagination": {"total": total, "count": data.len(), "per_page": per_page, "current_page": current, "total_pages": pages, "links": {}}}})
}

fn template(id: &str, title: &str, access: &[&str], steps: Value) -> Value {
    json!({"id": id, "title": title, "groups": access, "steps": steps})
}

fn step(id: &str, title: &str, groups: &[&str], max: u64) -> Value {
    json!({"id": id, "title": title, "groups": groups, "assignees": [], "guests": [], "max_assignable": max})
}

/// Mounts the list of templates: `archived` the archived ones (`archived=only`), page by page.
async fn mount_templates(server: &MockServer, archived: bool, pages: Vec<Value>) {
    for (i, body) in pages.into_iter().enumerate() {
        let m = authed(Mock::given(method("GET")).and(path(CHECKLISTS)))
            .and(query_param("with", "steps"))
            .and(query_param("page", (i + 1).to_string()))
            .and(query_param("per_page", "100"));
        let m = if archived { m.and(query_param("archived", "only")) } else { m.and(query_param_is_missing("archived")) };
        m.respond_with(ResponseTemplate::new(200).set_body_json(body)).expect(1).mount(server).await;
    }
}

async fn mount_count(server: &MockServer, route: &str, group: &str, status: &str, total: u64) {
    authed(Mock::given(method("GET")).and(path(format!("/organizations/org1/{route}"))))
        .and(query_param("groups", group))
        .and(query_param("status", status))
        .and(query_param("per_page", "1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(page(vec![json!({"id": "x"})], total as usize, 1, 1)))
        .expect(1)
        .mount(server)
        .await;
}

#[tokio::test]
async fn templates_are_read_page_by_page_in_both_step_shapes_with_archived_ones_apart() {
    let server = MockServer::start().await;
    // 150 templates: two pages. The first carries steps as a list, the second as {"data": [...]}.
    let first: Vec<Value> =
        (0..100).map(|i| template(&format!("t{i:03}"), &format!("T{i}"), &[], json!([step(&format!("s{i}"), "S", &["g9"], 0)]))).collect();
    let mut second: Vec<Value> = (100..149)
        .map(|i| template(&format!("t{i:03}"), &format!("T{i}"), &[], json!({"data": [step(&format!("s{i}"), "S", &[], 0)]})))
        .collect();
    second.push(template("t149", "Employee Onboarding", &["g1"], json!({"data": [step("s-laptop", "Laptop", &["g1"], 5)]})));
    mount_templates(&server, false, vec![page(first, 150, 1, 100), page(second, 150, 2, 100)]).await;
    mount_templates(
        &server,
        true,
        vec![page(vec![template("old", "Old", &[], json!([step("s-old", "Hand over", &["g1"], 0)]))], 1, 1, 100)],
    )
    .await;
    let c = client(&server);
    let active = c.list_templates(false).await.expect("read");
    assert_eq!((active.templates.len(), active.pages, active.read_alone, active.reads()), (150, 2, 0, 2));
    let onboarding = active.templates.iter().find(|t| t.id == "t149").expect("listed");
    assert_eq!(onboarding.access, vec![GroupId("g1".into())]);
    assert_eq!((onboarding.steps[0].title.as_str(), onboarding.steps[0].max_assignable), ("Laptop", 5));
    assert!(!onboarding.archived);
    let archived = c.list_templates(true).await.expect("read");
    assert_eq!(archived.templates.len(), 1);
    assert!(archived.templates[0].archived);
}

#[tokio::test]
async fn a_template_listed_without_steps_is_read_alone() {
    let server = MockServer::start().await;
    let listed = vec![
        template("t1", "Has steps", &[], json!([step("s1", "One", &["g1"], 0)])),
        json!({"id": "t2", "title": "Listed bare", "groups": []}),
        json!({"id": "t3", "title": "Empty list", "groups": [], "steps": []}),
    ];
    mount_templates(&server, false, vec![page(listed, 3, 1, 100)]).await;
    authed(Mock::given(method("GET")).and(path(format!("{CHECKLISTS}/t2"))).and(query_param("with", "steps")))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"data": template("t2", "Listed bare", &[], json!({"data": [step("s2", "Two", &["g1"], 0)]}))})),
        )
        .expect(1)
        .mount(&server)
        .await;
    authed(Mock::given(method("GET")).and(path(format!("{CHECKLISTS}/t3"))).and(query_param("with", "steps")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"data": template("t3", "Empty list", &[], json!([]))})))
        .expect(1)
        .mount(&server)
        .await;
    let list = client(&server).list_templates(false).await.expect("read");
    assert_eq!((list.pages, list.read_alone, list.reads()), (1, 2, 3));
    let t2 = list.templates.iter().find(|t| t.id == "t2").expect("read alone");
    assert_eq!(t2.steps[0].groups, vec![GroupId("g1".into())]);
    assert!(list.templates.iter().find(|t| t.id == "t3").expect("read alone").steps.is_empty());
}

#[tokio::test]
async fn a_template_read_alone_without_its_steps_or_about_another_template_is_an_error() {
    for answer in [json!({"data": {"id": "t2", "title": "Still bare"}}), json!({"data": template("t9", "Other", &[], json!([]))})] {
        let server = MockServer::start().await;
        mount_templates(&server, false, vec![page(vec![json!({"id": "t2", "title": "Bare"})], 1, 1, 100)]).await;
        Mock::given(method("GET"))
            .and(path(format!("{CHECKLISTS}/t2")))
            .respond_with(ResponseTemplate::new(200).set_body_json(answer))
            .mount(&server)
            .await;
        let e = client(&server).list_templates(false).await.expect_err("never a template without steps");
        assert!(matches!(e, ApiError::Decode { .. }), "{e}");
    }
}

#[tokio::test]
async fn shapes_it_does_not_know_are_errors_never_unused() {
    for steps in [
        json!("none"),
        json!({"items": []}),
        json!([{"id": "s1", "groups": "g1"}]),
        json!([{"id": "s1", "groups": [{"name": "x"}]}]),
        json!([{"title": "no id"}]),
        json!([{"id": "s1", "max_assignable": "lots"}]),
    ] {
        let server = MockServer::start().await;
        mount_templates(&server, false, vec![page(vec![template("t1", "T", &[], steps.clone())], 1, 1, 100)]).await;
        let e = client(&server).list_templates(false).await.expect_err("refused");
        assert!(e.to_string().contains("template t1"), "{steps}: {e}");
    }
}

#[tokio::test]
async fn counts_come_from_the_pagination_total_of_one_item_pages() {
    let server = MockServer::start().await;
    mount_count(&server, "runs", "g 1", "active", 4).await;
    mount_count(&server, "tasks", "g 1", "incomplete", 12).await;
    let c = client(&server);
    assert_eq!(c.count(Counted::ActiveProcesses, &GroupId("g 1".into())).await.expect("count"), 4);
    assert_eq!(c.count(Counted::OpenTasks, &GroupId("g 1".into())).await.expect("count"), 12);
    // The id is encoded in the query.
    assert_eq!(
        c.count_request(Counted::OpenTasks, &GroupId("g 1".into())).path,
        "/organizations/org1/tasks?groups=g%201&status=incomplete&per_page=1"
    );
}

#[tokio::test]
async fn a_count_without_a_total_is_an_error() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/organizations/org1/runs"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"data": []})))
        .mount(&server)
        .await;
    let e = client(&server).count(Counted::ActiveProcesses, &GroupId("g1".into())).await.expect_err("unknown count");
    assert!(e.to_string().contains("meta.pagination.total"), "{e}");
}

#[tokio::test]
async fn read_usage_reads_both_lists_and_two_counts_per_group() {
    let server = MockServer::start().await;
    mount_templates(&server, false, vec![page(vec![template("t1", "T", &["g1"], json!([step("s1", "S", &["g2"], 0)]))], 1, 1, 100)]).await;
    mount_templates(&server, true, vec![page(Vec::new(), 0, 1, 100)]).await;
    for g in ["g1", "g2"] {
        mount_count(&server, "runs", g, "active", 1).await;
        mount_count(&server, "tasks", g, "incomplete", 2).await;
    }
    let read = read_usage(&client(&server), &[GroupId("g1".into()), GroupId("g2".into())]).await.expect("read");
    assert_eq!(read.reads, 2 + 2 * 2);
    assert_eq!(read.templates.len(), 1);
    assert_eq!(read.counts.len(), 2);
    assert!(read.counts.values().all(|c| (c.active_processes, c.open_tasks) == (1, 2)));
}

#[tokio::test]
async fn a_failed_second_page_fails_the_whole_read() {
    let server = MockServer::start().await;
    let first: Vec<Value> = (0..100).map(|i| template(&format!("t{i}"), "T", &[], json!([step("s", "S", &[], 0)]))).collect();
    authed(Mock::given(method("GET")).and(path(CHECKLISTS)).and(query_param("page", "1")))
        .respond_with(ResponseTemplate::new(200).set_body_json(page(first, 150, 1, 100)))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(CHECKLISTS))
        .and(query_param("page", "2"))
        .respond_with(ResponseTemplate::new(500).set_body_json(json!({"message": "boom"})))
        // Retried (two attempts), for the active list and perhaps the archived one.
        .expect(2..=4)
        .mount(&server)
        .await;
    for route in ["runs", "tasks"] {
        Mock::given(method("GET"))
            .and(path(format!("/organizations/org1/{route}")))
            .respond_with(ResponseTemplate::new(200).set_body_json(page(Vec::new(), 0, 1, 1)))
            .mount(&server)
            .await;
    }
    let e = read_usage(&client(&server), &[GroupId("g1".into())]).await.expect_err("a partial read is no read");
    assert_eq!(e.status(), Some(500), "{e}");
}

#[tokio::test]
async fn a_token_that_may_not_read_templates_is_an_error_with_its_status() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(CHECKLISTS))
        .respond_with(ResponseTemplate::new(403).set_body_json(json!({"message": "This action is unauthorized."})))
        .expect(1..=2)
        .mount(&server)
        .await;
    for route in ["runs", "tasks"] {
        Mock::given(method("GET"))
            .and(path(format!("/organizations/org1/{route}")))
            .respond_with(ResponseTemplate::new(200).set_body_json(page(Vec::new(), 0, 1, 1)))
            .mount(&server)
            .await;
    }
    let e = read_usage(&client(&server), &[GroupId("g1".into())]).await.expect_err("403");
    assert_eq!(e.status(), Some(403), "{e}");
}

#[tokio::test]
async fn a_short_page_whose_total_says_more_is_never_the_whole_list() {
    let server = MockServer::start().await;
    let short = json!({"data": [template("t1", "T", &[], json!([step("s1", "S", &[], 0)]))], "meta": {"pagination": {"total": 3, "per_page": 1, "current_page": 1}}});
    Mock::given(method("GET")).and(path(CHECKLISTS)).respond_with(ResponseTemplate::new(200).set_body_json(short)).mount(&server).await;
    let e = client(&server).list_templates(false).await.expect_err("one of three is not the list");
    assert!(matches!(e, ApiError::Incomplete { expected: 3, got: 1, .. }), "{e}");
}

#[tokio::test]
async fn a_count_whose_answer_shows_more_than_its_total_is_an_error() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/organizations/org1/runs"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"data": [{"id": "r1"}], "meta": {"pagination": {"total": 0}}})))
        .mount(&server)
        .await;
    let e = client(&server).count(Counted::ActiveProcesses, &GroupId("g1".into())).await.expect_err("contradicts itself");
    assert!(e.to_string().contains("holds 1 items but says `meta.pagination.total` is 0"), "{e}");
}

#[tokio::test]
async fn included_steps_that_say_there_are_more_are_refused() {
    let server = MockServer::start().await;
    let steps = json!({"data": [step("s1", "S", &[], 0)], "meta": {"pagination": {"total": 3, "total_pages": 3}}});
    mount_templates(&server, false, vec![page(vec![template("t1", "T", &[], steps)], 1, 1, 100)]).await;
    let e = client(&server).list_templates(false).await.expect_err("partial steps");
    assert!(e.to_string().contains("`steps` holds 1 items of a longer list"), "{e}");
}
