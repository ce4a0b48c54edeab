//! `comment github|gitlab` and `--notify` against wiremock servers: the requests (method, path,
//! headers, body, count), pagination, edit versus create, the errors a person gets, and that
//! no token or webhook URL is ever printed.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime};

use serde_json::{Value, json};
use tallyfy_groups_api::Secret;
use tallyfy_groups_publish::comment::{self, CommentError, CommentOptions, CommentTarget, Forge};
use wiremock::matchers::{body_string_contains, header, method, path, query_param};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

const BIN: &str = env!("CARGO_BIN_EXE_tallyfy-groups");
const TOKEN: &str = "ghp_SECRET_TOKEN_7f3a";
const MARKER: &str = "<!-- tallyfy-groups plan -->";
const SHA: &str = "0123456789abcdef0123456789abcdef01234567";

fn options() -> CommentOptions {
    CommentOptions {
        marker: MARKER.into(),
        commit: Some(SHA.into()),
        now: SystemTime::UNIX_EPOCH + Duration::from_secs(1_740_837_900),
        retry_delay: Duration::ZERO,
        stop: Default::default(),
        author: None,
        run_url: None,
    }
}

/// The user the token belongs to, as `GET /user` names it.
const OWN_ID: u64 = 41;
const OWN_LOGIN: &str = "tallyfy-bot";

/// `GET {prefix}/user` answers the token's own user (GitHub `login`, GitLab `username`).
async fn mount_own_user(server: &MockServer, prefix: &str) {
    Mock::given(method("GET"))
        .and(path(format!("{prefix}/user")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": OWN_ID, "login": OWN_LOGIN, "username": OWN_LOGIN})))
        .with_priority(1)
        .mount(server)
        .await;
}

/// A comment as GitHub lists it, written by the token's own user.
fn own(id: u64, body: &str) -> Value {
    json!({"id": id, "body": body, "user": {"id": OWN_ID, "login": OWN_LOGIN, "type": "User"}})
}

fn github(server: &MockServer) -> CommentTarget {
    CommentTarget::new(Forge::GitHub, &server.uri(), "octo/repo", 7).expect("target")
}

fn comments(range: std::ops::Range<u64>, body: impl Fn(u64) -> String) -> Value {
    Value::Array(range.map(|id| json!({"id": id, "body": body(id), "user": {"login": "someone"}})).collect())
}

fn sent_body(request: &Request) -> String {
    let v: Value = serde_json::from_slice(&request.body).expect("a JSON body");
    v["body"].as_str().expect("body is a string").to_string()
}

/// Our comment is on the second page; the marker only counts on the first line.
#[tokio::test]
async fn github_edits_the_comment_found_on_a_later_page() {
    let server = MockServer::start().await;
    mount_own_user(&server, "").await;
    let next = format!(r#"<{}/repositories/1/issues/7/comments?per_page=100&page=2>; rel="next""#, server.uri());
    Mock::given(method("GET"))
        .and(path("/repos/octo/repo/issues/7/comments"))
        .and(query_param("per_page", "100"))
        .and(header("authorization", format!("Bearer {TOKEN}").as_str()))
        .and(header("accept", "application/vnd.github+json"))
        .and(header("x-github-api-version", "2022-11-28"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("link", next.as_str())
                .set_body_json(comments(1..101, |id| if id == 50 { format!("> quoting\n{MARKER}") } else { "LGTM".into() })),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/repositories/1/issues/7/comments"))
        .and(query_param("page", "2"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([
            {"id": 101, "body": null},
            own(777, &format!("{MARKER}\r\nold plan")),
            own(778, &format!("{MARKER}\nanother")),
        ])))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("PATCH"))
        .and(path("/repos/octo/repo/issues/comments/777"))
        .and(header("content-type", "application/json"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"id": 777, "html_url": "https://github.com/octo/repo/pull/7#issuecomment-777"})),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST")).respond_with(ResponseTemplate::new(201)).expect(0).mount(&server).await;

    let plan = format!("{MARKER}\n### Tallyfy groups plan: 1 to create, 0 to update, 0 to delete\n");
    let posted = comment::upsert(&github(&server), &Secret::new(TOKEN), &plan, &options()).await.expect("posted");
    assert!(posted.edited);
    assert_eq!(posted.id, 777);
    assert_eq!(posted.url.as_deref(), Some("https://github.com/octo/repo/pull/7#issuecomment-777"));
    let requests = server.received_requests().await.expect("recorded");
    let patch = requests.iter().find(|r| r.method.as_str() == "PATCH").expect("the edit");
    assert_eq!(
        sent_body(patch),
        format!(
            "{MARKER}\n### Tallyfy groups plan: 1 to create, 0 to update, 0 to delete\n\n<sub>For commit {SHA} · posted 2025-03-01 14:05 UTC · tallyfy-groups {}</sub>\n",
            env!("CARGO_PKG_VERSION")
        )
    );
}

#[tokio::test]
async fn github_creates_the_comment_when_none_is_ours() {
    let server = MockServer::start().await;
    mount_own_user(&server, "").await;
    Mock::given(method("GET"))
        .and(path("/repos/octo/repo/issues/7/comments"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!([{"id": 1, "body": "<!-- tallyfy-groups plan: prod -->\nanother key"}])),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/repos/octo/repo/issues/7/comments"))
        .and(header("authorization", format!("Bearer {TOKEN}").as_str()))
        .and(body_string_contains("For commit 0123456789abcdef"))
        .respond_with(
            ResponseTemplate::new(201).set_body_json(json!({"id": 9, "html_url": "https://github.com/octo/repo/pull/7#issuecomment-9"})),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("PATCH")).respond_with(ResponseTemplate::new(200)).expect(0).mount(&server).await;
    let posted = comment::upsert(&github(&server), &Secret::new(TOKEN), "plan text", &options()).await.expect("posted");
    assert_eq!((posted.edited, posted.id), (false, 9));
    let requests = server.received_requests().await.expect("recorded");
    let post = requests.iter().find(|r| r.method.as_str() == "POST").expect("the create");
    assert!(sent_body(post).starts_with(&format!("{MARKER}\nplan text\n")), "{}", sent_body(post));
}

/// GitLab: `X-Next-Page` pagination, system notes skipped, the project path encoded, and the
/// token in `PRIVATE-TOKEN`.
#[tokio::test]
async fn gitlab_pages_by_next_page_skips_system_notes_and_edits_in_place() {
    let server = MockServer::start().await;
    let notes = "/api/v4/projects/group%2Fproject/merge_requests/3/notes";
    mount_own_user(&server, "/api/v4").await;
    Mock::given(method("GET"))
        .and(path(notes))
        .and(query_param("page", "1"))
        .and(query_param("sort", "asc"))
        .and(header("private-token", TOKEN))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("x-next-page", "2")
                .set_body_json(json!([{"id": 5, "body": format!("{MARKER}\nby the system"), "system": true}])),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(notes))
        .and(query_param("page", "2"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("x-next-page", "")
                .set_body_json(json!([{"id": 6, "body": format!("{MARKER}\nold"), "system": false, "author": {"id": OWN_ID}}])),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("PUT"))
        .and(path(format!("{notes}/6")))
        .and(header("private-token", TOKEN))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": 6})))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST")).respond_with(ResponseTemplate::new(201)).expect(0).mount(&server).await;
    let target = CommentTarget::new(Forge::GitLab, &format!("{}/api/v4", server.uri()), "group/project", 3).expect("target");
    let posted = comment::upsert(&target, &Secret::new(TOKEN), "new plan", &options()).await.expect("posted");
    assert_eq!((posted.edited, posted.id, posted.url), (true, 6, None));
}

/// 401, 403 and 404 say what to do; the token the server echoes never shows.
#[tokio::test]
async fn errors_are_explained_and_never_show_the_token() {
    for (forge, status, hint) in [
        (Forge::GitHub, 401, "GITHUB_TOKEN was not accepted"),
        (Forge::GitHub, 403, "permissions: pull-requests: write"),
        (Forge::GitHub, 404, "no pull request #7 in octo/repo that this token can see"),
        (Forge::GitLab, 401, "GITLAB_TOKEN was not accepted"),
        (Forge::GitLab, 403, "at least the Reporter role"),
        (Forge::GitLab, 404, "no merge request !7 in project 42 that this token can see"),
    ] {
        let server = MockServer::start().await;
        mount_own_user(&server, "").await;
        Mock::given(method("GET"))
            .respond_with(ResponseTemplate::new(status).set_body_json(json!({"message": format!("Bad credentials {TOKEN}")})))
            .expect(1)
            .mount(&server)
            .await;
        let project = if forge == Forge::GitHub { "octo/repo" } else { "42" };
        let target = CommentTarget::new(forge, &server.uri(), project, 7).expect("target");
        let e = comment::upsert(&target, &Secret::new(TOKEN), "x", &options()).await.expect_err("refused");
        let text = e.to_string();
        assert!(matches!(e, CommentError::Status { status: s, .. } if s == status), "{text}");
        assert!(text.contains(&format!("{forge} answered {status} to listing the comments")), "{text}");
        assert!(text.contains(hint), "{status}: {text}");
        assert!(text.contains("Bad credentials ***") && !text.contains(TOKEN), "{text}");
    }
}

/// What the forge says is shown escaped: it cannot erase, return over or reverse a line, nor
/// start one of its own.
#[tokio::test]
async fn the_forges_words_are_shown_escaped() {
    let server = MockServer::start().await;
    mount_own_user(&server, "").await;
    Mock::given(method("GET")).respond_with(ResponseTemplate::new(200).set_body_json(json!([]))).mount(&server).await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(422).set_body_json(json!({"message": "\u{1b}[2K\rNo changes.\nNo changes.\u{202e}"})))
        .expect(1)
        .mount(&server)
        .await;
    let e = comment::upsert(&github(&server), &Secret::new(TOKEN), "x", &options()).await.expect_err("refused").to_string();
    assert!(
        e.contains("GitHub answered 422 to creating a comment on octo/repo#7: \\u{1b}[2K\\rNo changes.\\nNo changes.\\u{202e}\n    hint: "),
        "{e}"
    );
}

/// A GitHub rate limit (403 with no requests left) is named as such.
#[tokio::test]
async fn a_rate_limit_is_not_taken_for_a_permission_problem() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(403)
                .insert_header("x-ratelimit-remaining", "0")
                .set_body_json(json!({"message": "API rate limit exceeded"})),
        )
        .mount(&server)
        .await;
    let e = comment::upsert(&github(&server), &Secret::new(TOKEN), "x", &options()).await.expect_err("refused").to_string();
    assert!(e.contains("rate limited; run again later") && !e.contains("pull-requests: write"), "{e}");
    // A 429 is a rate limit whatever it says; reads are tried three times first.
    let gitlab = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(429).set_body_json(json!({"message": "slow down"})))
        .expect(3)
        .mount(&gitlab)
        .await;
    let target = CommentTarget::new(Forge::GitLab, &gitlab.uri(), "42", 7).expect("target");
    let e = comment::upsert(&target, &Secret::new(TOKEN), "x", &options()).await.expect_err("refused").to_string();
    assert!(e.contains("GitLab answered 429") && e.contains("rate limited; run again later"), "{e}");
}

/// The token goes only to the API's own address: a next-page link elsewhere is not followed.
#[tokio::test]
async fn a_next_page_link_to_another_host_is_not_followed() {
    let server = MockServer::start().await;
    mount_own_user(&server, "").await;
    let elsewhere = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("link", format!(r#"<{}/steal?page=2>; rel="next""#, elsewhere.uri()).as_str())
                .set_body_json(json!([])),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(wiremock::matchers::any()).respond_with(ResponseTemplate::new(200)).expect(0).mount(&elsewhere).await;
    let e = comment::upsert(&github(&server), &Secret::new(TOKEN), "x", &options()).await.expect_err("refused");
    assert!(matches!(e, CommentError::Paging { .. }), "{e}");
    assert!(e.to_string().contains("points outside") && e.to_string().contains("nothing was posted"), "{e}");
}

/// A list answered 502 is read again; a create answered 502 is not sent twice (it may have
/// been made), and the error says a rerun edits it.
#[tokio::test]
async fn reads_are_retried_and_a_create_is_never_sent_twice() {
    let server = MockServer::start().await;
    mount_own_user(&server, "").await;
    Mock::given(method("GET")).respond_with(ResponseTemplate::new(502)).up_to_n_times(1).with_priority(1).expect(1).mount(&server).await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([])))
        .with_priority(2)
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST")).respond_with(ResponseTemplate::new(502).set_body_string("bad gateway")).expect(1).mount(&server).await;
    let e = comment::upsert(&github(&server), &Secret::new(TOKEN), "x", &options()).await.expect_err("refused");
    assert!(matches!(e, CommentError::Status { status: 502, .. }), "{e}");
    assert!(e.to_string().contains("creating a comment on octo/repo#7"), "{e}");
}

/// A comment by someone else that starts with the marker is never edited: only the token's own
/// user (`GET /user`) writes this tool's comment. Its own comment is edited, even after theirs.
#[tokio::test]
async fn only_a_comment_by_the_tokens_own_user_is_edited() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/user"))
        .and(header("authorization", format!("Bearer {TOKEN}").as_str()))
        .and(header("accept", "application/vnd.github+json"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": OWN_ID, "login": OWN_LOGIN})))
        .expect(1)
        .mount(&server)
        .await;
    let mallory =
        |id: u64| json!({"id": id, "body": format!("{MARKER}\nNo changes."), "user": {"id": 666, "login": "mallory", "type": "User"}});
    // Someone who took our login after a rename is still someone else: the id decides.
    let renamed = json!({"id": 11, "body": format!("{MARKER}\nx"), "user": {"id": 667, "login": OWN_LOGIN, "type": "User"}});
    Mock::given(method("GET"))
        .and(path("/repos/octo/repo/issues/7/comments"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([mallory(10), renamed, own(12, &format!("{MARKER}\nold"))])))
        .expect(1)
        .mount(&server)
        .await;
    for id in [10, 11] {
        Mock::given(method("PATCH"))
            .and(path(format!("/repos/octo/repo/issues/comments/{id}")))
            .respond_with(ResponseTemplate::new(200))
            .expect(0)
            .mount(&server)
            .await;
    }
    Mock::given(method("PATCH"))
        .and(path("/repos/octo/repo/issues/comments/12"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": 12})))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST")).respond_with(ResponseTemplate::new(201)).expect(0).mount(&server).await;
    let posted = comment::upsert(&github(&server), &Secret::new(TOKEN), "plan", &options()).await.expect("posted");
    assert_eq!((posted.edited, posted.id), (true, 12));

    // Only someone else's marked comment: it is left alone and a new one is created.
    let server = MockServer::start().await;
    mount_own_user(&server, "").await;
    Mock::given(method("GET"))
        .and(path("/repos/octo/repo/issues/7/comments"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([mallory(10), {"id": 13, "body": format!("{MARKER}\nno user")}])))
        .mount(&server)
        .await;
    Mock::given(method("PATCH")).respond_with(ResponseTemplate::new(200)).expect(0).mount(&server).await;
    Mock::given(method("POST"))
        .and(path("/repos/octo/repo/issues/7/comments"))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"id": 14})))
        .expect(1)
        .mount(&server)
        .await;
    let posted = comment::upsert(&github(&server), &Secret::new(TOKEN), "plan", &options()).await.expect("posted");
    assert_eq!((posted.edited, posted.id), (false, 14));
}

/// GitHub Actions' `GITHUB_TOKEN` may not read `/user` (403): its comments are those of
/// `github-actions[bot]`, a Bot; a user who calls themself that is someone else.
#[tokio::test]
async fn the_actions_token_edits_only_the_comments_of_github_actions_bot() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/user"))
        .respond_with(ResponseTemplate::new(403).set_body_json(json!({"message": "Resource not accessible by integration"})))
        .expect(1)
        .mount(&server)
        .await;
    let by = |id: u64, login: &str, kind: &str| json!({"id": id, "body": format!("{MARKER}\nold"), "user": {"id": id + 100, "login": login, "type": kind}});
    Mock::given(method("GET"))
        .and(path("/repos/octo/repo/issues/7/comments"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([
            by(20, "mallory", "User"),
            by(21, "github-actions[bot]", "User"),
            by(22, "other-app[bot]", "Bot"),
            by(23, "github-actions[bot]", "Bot"),
        ])))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("PATCH"))
        .and(path("/repos/octo/repo/issues/comments/23"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": 23})))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("PATCH")).respond_with(ResponseTemplate::new(200)).expect(0).mount(&server).await;
    let posted = comment::upsert(&github(&server), &Secret::new(TOKEN), "plan", &options()).await.expect("posted");
    assert_eq!((posted.edited, posted.id), (true, 23));
}

/// `--author LOGIN` names whose comments are this tool's (a GitHub App's token, which cannot
/// read `/user` and is not `github-actions[bot]`): `/user` is not asked.
#[tokio::test]
async fn an_explicit_author_is_taken_at_its_word() {
    let server = MockServer::start().await;
    Mock::given(method("GET")).and(path("/user")).respond_with(ResponseTemplate::new(403)).expect(0).mount(&server).await;
    Mock::given(method("GET"))
        .and(path("/repos/octo/repo/issues/7/comments"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([
            {"id": 30, "body": format!("{MARKER}\nold"), "user": {"id": 1, "login": "github-actions[bot]", "type": "Bot"}},
            {"id": 31, "body": format!("{MARKER}\nold"), "user": {"id": 2, "login": "Groups-App[bot]", "type": "Bot"}},
        ])))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("PATCH"))
        .and(path("/repos/octo/repo/issues/comments/31"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": 31})))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("PATCH")).respond_with(ResponseTemplate::new(200)).expect(0).mount(&server).await;
    let options = CommentOptions { author: Some("groups-app[bot]".into()), ..options() };
    let posted = comment::upsert(&github(&server), &Secret::new(TOKEN), "plan", &options).await.expect("posted");
    assert_eq!((posted.edited, posted.id), (true, 31));
}

/// GitLab: the note's `author.id` must be the token's user (`GET /user`; for a project access
/// token, its bot user).
#[tokio::test]
async fn gitlab_edits_only_a_note_by_the_tokens_own_user() {
    let server = MockServer::start().await;
    let notes = "/api/v4/projects/42/merge_requests/3/notes";
    Mock::given(method("GET"))
        .and(path("/api/v4/user"))
        .and(header("private-token", TOKEN))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": OWN_ID, "username": "project_42_bot_1a2b"})))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(notes))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([
            {"id": 5, "body": format!("{MARKER}\nhostile"), "system": false, "author": {"id": 9, "username": "mallory"}},
            {"id": 6, "body": format!("{MARKER}\nold"), "system": false, "author": {"id": OWN_ID, "username": "project_42_bot_1a2b"}},
        ])))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("PUT")).and(path(format!("{notes}/5"))).respond_with(ResponseTemplate::new(200)).expect(0).mount(&server).await;
    Mock::given(method("PUT"))
        .and(path(format!("{notes}/6")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": 6})))
        .expect(1)
        .mount(&server)
        .await;
    let target = CommentTarget::new(Forge::GitLab, &format!("{}/api/v4", server.uri()), "42", 3).expect("target");
    let posted = comment::upsert(&target, &Secret::new(TOKEN), "plan", &options()).await.expect("posted");
    assert_eq!((posted.edited, posted.id), (true, 6));
}

// ---------------------------------------------------------------------------------------------
// Through the binary.

/// The binary with nothing from the caller's CI environment.
fn cli(dir: &Path) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.current_dir(dir).stdin(Stdio::null()).env("NO_COLOR", "1");
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy().into_owned();
        if key.starts_with("TALLYFY_") || key.starts_with("GITHUB_") || key.starts_with("GITLAB_") || key.starts_with("CI_") {
            cmd.env_remove(&key);
        }
    }
    cmd
}

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

fn output(mut cmd: Command) -> Out {
    let out = cmd.output().expect("the binary runs");
    Out {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[tokio::test]
async fn the_command_reads_its_settings_from_the_ci_variables_and_prints_the_url() {
    let server = MockServer::start().await;
    mount_own_user(&server, "").await;
    Mock::given(method("GET"))
        .and(path("/repos/octo/repo/issues/12/comments"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([])))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/repos/octo/repo/issues/12/comments"))
        .and(body_string_contains("For commit abcdef1234567"))
        .and(body_string_contains("from stdin"))
        .respond_with(
            ResponseTemplate::new(201).set_body_json(json!({"id": 3, "html_url": "https://github.com/octo/repo/pull/12#issuecomment-3"})),
        )
        .expect(1)
        .mount(&server)
        .await;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cmd = cli(dir.path());
    cmd.args(["comment", "github", "--pr", "12", "--body-file", "-"])
        .env("GITHUB_TOKEN", TOKEN)
        .env("GITHUB_REPOSITORY", "octo/repo")
        .env("GITHUB_API_URL", server.uri())
        .env("GITHUB_SHA", "abcdef1234567")
        .stdin(Stdio::piped());
    let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("spawn");
    std::io::Write::write_all(&mut child.stdin.take().expect("stdin"), b"from stdin\n").expect("write");
    let out = child.wait_with_output().expect("wait");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(stdout, "created https://github.com/octo/repo/pull/12#issuecomment-3\n");
}

/// Someone else's comment with the marker is left alone, and stderr says so.
#[tokio::test]
async fn the_command_warns_that_a_marked_comment_by_someone_else_is_left_alone() {
    let server = MockServer::start().await;
    mount_own_user(&server, "").await;
    Mock::given(method("GET"))
        .and(path("/repos/octo/repo/issues/12/comments"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([
            {"id": 3, "body": format!("{MARKER}\nNo changes."), "user": {"id": 666, "login": "mallory", "type": "User"}},
        ])))
        .mount(&server)
        .await;
    Mock::given(method("PATCH")).respond_with(ResponseTemplate::new(200)).expect(0).mount(&server).await;
    Mock::given(method("POST"))
        .and(path("/repos/octo/repo/issues/12/comments"))
        .respond_with(
            ResponseTemplate::new(201).set_body_json(json!({"id": 4, "html_url": "https://github.com/octo/repo/pull/12#issuecomment-4"})),
        )
        .expect(1)
        .mount(&server)
        .await;
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("plan.md"), "plan").expect("write");
    let mut cmd = cli(dir.path());
    cmd.args(["comment", "github", "--repo", "octo/repo", "--pr", "12", "--body-file", "plan.md", "--api-url", &server.uri()])
        .env("GITHUB_TOKEN", TOKEN);
    let out = output(cmd);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.stdout, "created https://github.com/octo/repo/pull/12#issuecomment-4\n");
    assert!(
        out.stderr.contains(
            "comment 3 on octo/repo#12 starts with this tool's marker but was written by mallory, not by tallyfy-bot: left alone"
        ),
        "{}",
        out.stderr
    );
}

#[tokio::test]
async fn the_token_is_never_printed_and_a_missing_one_is_named() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(401)
                .insert_header("x-request-id", TOKEN)
                .set_body_json(json!({"message": format!("token {TOKEN} is bad")})),
        )
        .expect(1)
        .mount(&server)
        .await;
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("plan.md"), "plan").expect("write");
    let args = ["comment", "gitlab", "--project", "42", "--mr", "3", "--body-file", "plan.md", "-vv"];
    let mut cmd = cli(dir.path());
    cmd.args(args).env("GITLAB_TOKEN", TOKEN).env("CI_API_V4_URL", server.uri());
    let out = output(cmd);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(out.stderr.contains("GitLab answered 401") && out.stderr.contains("GITLAB_TOKEN was not accepted"), "{}", out.stderr);
    assert!(!out.stderr.contains(TOKEN) && !out.stdout.contains(TOKEN), "the token leaked:\n{}", out.stderr);

    let mut cmd = cli(dir.path());
    cmd.args(args).env("CI_API_V4_URL", server.uri());
    let out = output(cmd);
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("no GitLab token: set GITLAB_TOKEN"), "{}", out.stderr);
    assert_eq!(server.received_requests().await.map(|r| r.len()), Some(1), "nothing is sent without a token");
}

// ---------------------------------------------------------------------------------------------
// --notify

const HOOK_PATH: &str = "/services/T000/B000/HOOKSECRET42";

fn sandboxed(dir: &Path, args: &[&str], hook: &str) -> Out {
    let state = dir.join("state.json");
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("groups.example.yaml");
    let mut cmd = cli(dir);
    cmd.args(args)
        .args(["-f", example.to_str().expect("UTF-8"), "--sandbox", "--sandbox-state", state.to_str().expect("UTF-8")])
        .env("TALLYFY_GROUPS_NOTIFY_URL", hook)
        .env("GITHUB_SERVER_URL", "https://github.com")
        .env("GITHUB_REPOSITORY", "octo/repo")
        .env("GITHUB_RUN_ID", "99");
    output(cmd)
}

/// Drift sends one summary; a run with nothing to report sends none.
#[tokio::test]
async fn drift_and_corrections_are_posted_and_quiet_runs_are_not() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(HOOK_PATH))
        .and(header("content-type", "application/json"))
        .respond_with(ResponseTemplate::new(200).set_body_string("ok"))
        .mount(&server)
        .await;
    let hook = format!("{}{HOOK_PATH}", server.uri());
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let plan = sandboxed(d, &["plan", "--detailed-exitcode"], &hook);
    assert_eq!(plan.code, 2, "{}", plan.stderr);
    let applied = sandboxed(d, &["apply", "--auto-approve"], &hook);
    assert_eq!(applied.code, 0, "{}", applied.stderr);
    let quiet = sandboxed(d, &["plan", "--detailed-exitcode"], &hook);
    assert_eq!(quiet.code, 0, "{}", quiet.stderr);
    let noop = sandboxed(d, &["apply", "--auto-approve"], &hook);
    assert_eq!(noop.code, 0, "{}", noop.stderr);

    let posts: Vec<Value> =
        server.received_requests().await.expect("recorded").iter().map(|r| serde_json::from_slice(&r.body).expect("JSON")).collect();
    assert_eq!(posts.len(), 2, "{posts:#?}");
    let (drift, corrected) = (&posts[0], &posts[1]);
    assert_eq!((drift["event"].as_str(), drift["command"].as_str(), drift["exit_code"].as_i64()), (Some("drift"), Some("plan"), Some(2)));
    assert_eq!(drift["plan"]["create"], 1);
    assert_eq!(drift["plan"]["update"], 3);
    assert_eq!(drift["plan"]["delete"], 1);
    assert_eq!(drift["organization"], "sandbox");
    assert_eq!(drift["run_url"], "https://github.com/octo/repo/actions/runs/99");
    let text = drift["text"].as_str().expect("text");
    assert!(
        text.starts_with("Tallyfy groups drifted from groups.yaml (organization sandbox): in Tallyfy, 3 memberships were added outside the file (the next apply removes them), 5 memberships the file lists are missing (the next apply adds them), 1 group the file lists is missing (the next apply creates it), 1 group the file no longer wants is still there (the next apply deletes it), 1 guest to invite."),
        "{text}"
    );
    assert!(text.ends_with("Run: https://github.com/octo/repo/actions/runs/99"), "{text}");
    assert_eq!(corrected["event"], "drift_corrected");
    assert_eq!(corrected["apply"]["applied"], 6);
    for out in [&plan, &applied, &quiet, &noop] {
        assert!(!out.stderr.contains("HOOKSECRET42") && !out.stdout.contains("HOOKSECRET42"));
    }
}

/// A failed run is reported too, and a webhook that refuses the summary fails an otherwise
/// successful run, without the URL in any message.
#[tokio::test]
async fn failures_are_posted_and_an_undelivered_summary_is_an_error_that_keeps_the_exit_code() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(HOOK_PATH))
        .and(body_string_contains("\"event\":\"apply_failed\""))
        .respond_with(ResponseTemplate::new(200))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/gone/HOOKSECRET42"))
        .respond_with(ResponseTemplate::new(404).set_body_string(format!("no such hook {}/gone/HOOKSECRET42", server.uri())))
        .expect(1)
        .mount(&server)
        .await;
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    std::fs::write(d.join("bad.yaml"), "groups:\n  - nme: Ops\n").expect("write");
    let mut cmd = cli(d);
    cmd.args(["apply", "-f", "bad.yaml", "--auto-approve", "--sandbox", "--notify", &format!("{}{HOOK_PATH}", server.uri())]);
    let failed = output(cmd);
    assert_eq!(failed.code, 1, "{}", failed.stderr);

    let gone = format!("{}/gone/HOOKSECRET42", server.uri());
    let out = sandboxed(d, &["plan"], &gone);
    // The plan's own exit code stands (plan and apply alike); the failure is logged as an error.
    assert_eq!(out.code, 0, "changes found, not delivered: {}", out.stderr);
    assert!(
        out.stderr.contains("the plan was made, but the --notify webhook did not take the summary: HTTP 404 Not Found: no such hook ***"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("ERROR"), "logged as an error: {}", out.stderr);
    assert!(!out.stderr.contains("HOOKSECRET42") && !out.stdout.contains("HOOKSECRET42"), "{}", out.stderr);

    // Nor does --help show it from the environment.
    let mut cmd = cli(d);
    cmd.args(["plan", "--help"]).env("TALLYFY_GROUPS_NOTIFY_URL", &gone);
    let help = output(cmd);
    assert!(help.stdout.contains("--notify <URL>") && !help.stdout.contains("HOOKSECRET42"), "{}", help.stdout);
}

#[tokio::test]
async fn a_webhook_answering_503_is_tried_again() {
    let server = MockServer::start().await;
    Mock::given(method("POST")).respond_with(ResponseTemplate::new(503)).up_to_n_times(1).with_priority(1).expect(1).mount(&server).await;
    Mock::given(method("POST")).respond_with(ResponseTemplate::new(200)).with_priority(2).expect(1).mount(&server).await;
    let hook = tallyfy_groups_publish::notify::Webhook::new(&Secret::new(format!("{}{HOOK_PATH}", server.uri()))).expect("valid");
    hook.send(&json!({"text": "hi"}), Duration::ZERO, &Default::default()).await.expect("delivered on the second try");
}

/// `comment github` outside GitHub Actions without `--repo` names the variable that would give it.
#[test]
fn a_missing_repository_names_github_repository() {
    let dir = tempfile::tempdir().expect("tempdir");
    let body = dir.path().join("plan.md");
    std::fs::write(&body, "plan").expect("write");
    let out = Command::new(BIN)
        .args(["comment", "github", "--pr", "7", "--body-file", body.to_str().unwrap_or_default()])
        .env_remove("GITHUB_REPOSITORY")
        .env("GITHUB_TOKEN", TOKEN)
        .stdin(Stdio::null())
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("no repository: pass --repo OWNER/REPO, or set GITHUB_REPOSITORY"), "{stderr}");
}
