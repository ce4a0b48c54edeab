//! Snapshot tests of every rendering: text (plain and colored), markdown (full, truncated, with
//! baseline origins), JSON, and the apply report.

use tallyfy_groups_core::desired::load_str;
use tallyfy_groups_core::diff::{DiffOptions, diff};
use tallyfy_groups_core::model::{Email, GroupId, Guest, LiveGroup, User, UserId, UserStatus};
use tallyfy_groups_core::outcome::ExitStatus;
use tallyfy_groups_core::plan::ActionKind;
use tallyfy_groups_core::plan::{self, GuardLimits, Plan, Target};
use tallyfy_groups_core::render::{TargetView, json, markdown, text};
use tallyfy_groups_core::report::{ActionError, ActionResult, ApplyReport, ErrorKind, Outcome, SkipReason, Subject, UnknownReason};
use tallyfy_groups_core::resolve::{Directory, resolve};

const DESIRED: &str = r#"
settings:
  ignore: ["Temp *"]
  min_removed_for_ratio: 0
groups:
  - name: Onboarding Specialists
    description: Team responsible for new client onboarding.
    previously: [Onboarding Team]
    members: [alice@example.com, bob@example.com, carol@example.com]
    guests: [liaison@partner.example]
  - name: Finance Approvers
    description: |
      Approves invoices over $5,000.
      Escalations go to the CFO.
    members: [dave@example.com, erin@example.com, frank@example.com, grace@example.com]
  - name: Product Council
    members: [alice@example.com]
  - name: Old Contractors
    absent: true
"#;

fn users() -> Vec<User> {
    ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi"]
        .iter()
        .enumerate()
        .map(|(i, n)| User {
            id: UserId(1001 + i as u64),
            email: Email::new(&format!("{n}@example.com")),
            first_name: n[..1].to_uppercase() + &n[1..],
            last_name: "Example".into(),
            status: UserStatus::Active,
        })
        .collect()
}

fn live(id: &str, name: &str, description: &str, members: &[u64], guests: &[&str]) -> LiveGroup {
    LiveGroup {
        id: GroupId(id.into()),
        name: name.into(),
        description: description.into(),
        members: members.iter().map(|&m| UserId(m)).collect(),
        guests: guests.iter().map(|g| Email::new(g)).collect(),
        unread: Vec::new(),
    }
}

fn live_groups() -> Vec<LiveGroup> {
    vec![
        live("0a1", "Onboarding Team", "Team responsible for new client onboarding.", &[1001, 1002, 1008], &[]),
        live("0b2", "Finance Approvers", "Approves invoices.\nEscalations go to the CFO.\n", &[1004, 1005, 1006, 1007, 1008], &[]),
        live("0c3", "Old Contractors", "2025 contractors.", &[1008], &["temp@staffing.example"]),
        live("0d4", "Marketing", "By hand.", &[1001], &[]),
        live("0e5", "Temp Audit", "Ignored.", &[1001], &[]),
    ]
}

fn make(desired: &str, groups: &[LiveGroup]) -> Plan {
    let desired = load_str("groups.yaml", desired).expect("valid");
    let users = users();
    let dir = Directory::new(&users);
    let resolved = resolve(&desired, &dir, |_| true).expect("resolved");
    let guests: Vec<Guest> = Vec::new();
    let d = diff(&desired, &resolved, groups, Some(&guests), &DiffOptions::default());
    let limits = GuardLimits::of(&desired);
    let mut plan = plan::build(d, &limits, &dir, Target { api_url: "https://go.tallyfy.com/api".into(), org: "org1".into() });
    plan.sources = desired.files.clone();
    plan
}

fn sample() -> Plan {
    make(DESIRED, &live_groups())
}

#[test]
fn text_plan() {
    insta::assert_snapshot!(text::render_plan(&sample(), false));
}

#[test]
fn text_plan_colored() {
    insta::assert_snapshot!(text::render_plan(&sample(), true));
}

#[test]
fn text_plan_without_changes() {
    let groups = vec![live("1", "A", "d", &[1001], &[])];
    insta::assert_snapshot!(text::render_plan(&make("groups:\n  - name: A\n    members: [alice@example.com]\n", &groups), false));
}

#[test]
fn text_plan_with_tripped_guard() {
    let desired = "settings:\n  prune: true\n  max_deleted_groups: 1\ngroups:\n  - name: Finance Approvers\n    members: []\n";
    insta::assert_snapshot!(text::render_plan(&make(desired, &live_groups()), false));
}

#[test]
fn markdown_plan() {
    insta::assert_snapshot!(markdown::render_plan(&sample()));
}

#[test]
fn markdown_plan_without_changes() {
    let groups = vec![live("1", "A", "d", &[1001], &[])];
    insta::assert_snapshot!(markdown::render_plan(&make("groups:\n  - name: A\n", &groups)));
}

#[test]
fn markdown_plan_truncated() {
    let mut desired = String::from("groups:\n");
    for i in 0..400 {
        desired.push_str(&format!("  - name: Team {i:03}\n    description: Team number {i}, with a description long enough to take room.\n    members: [alice@example.com, bob@example.com, carol@example.com, dave@example.com]\n"));
    }
    let plan = make(&desired, &[]);
    let full = markdown::render_plan(&plan);
    assert!(full.chars().count() < 65_536, "{} characters", full.chars().count());
    assert!(full.contains("**Truncated:**"));
    let small = markdown::render_plan_capped(&plan, 3_000);
    assert!(small.len() <= 3_000, "{}", small.len());
    insta::assert_snapshot!(small);
}

#[test]
fn markdown_plan_with_origins() {
    let groups = live_groups();
    let base = make(
        "groups:\n  - name: Finance Approvers\n    members: [dave@example.com, erin@example.com, frank@example.com, grace@example.com]\n  - name: Onboarding Team\n",
        &groups,
    );
    let mut pr = sample();
    plan::label_origins(&mut pr, &base);
    insta::assert_snapshot!(markdown::render_plan(&pr));
}

#[test]
fn json_plan() {
    insta::assert_snapshot!(json::render_plan(&sample()));
}

#[test]
fn renderings_are_byte_identical_across_runs() {
    let a = sample();
    let mut groups = live_groups();
    groups.reverse();
    let b = make(DESIRED, &groups);
    assert_eq!(text::render_plan(&a, false), text::render_plan(&b, false));
    assert_eq!(markdown::render_plan(&a), markdown::render_plan(&b));
    assert_eq!(json::render_plan(&a), json::render_plan(&b));
}

#[test]
fn apply_report() {
    let report = ApplyReport {
        results: vec![
            ActionResult {
                index: 0,
                action: ActionKind::InviteGuest,
                subject: Subject::Guest { email: Email::new("liaison@partner.example") },
                outcome: Outcome::Applied,
            },
            ActionResult {
                index: 1,
                action: ActionKind::CreateGroup,
                subject: Subject::Group { id: None, name: "Product Council".into() },
                outcome: Outcome::Failed {
                    error: ActionError {
                        kind: ErrorKind::Http,
                        status: Some(422),
                        code: Some("validation_failed".into()),
                        message: "POST /organizations/org1/groups failed with HTTP 422: The name has already been taken.\n    hint: Tallyfy rejected the values; fix them in groups.yaml".into(),
                    },
                },
            },
            ActionResult {
                index: 2,
                action: ActionKind::UpdateGroup,
                subject: Subject::Group { id: Some(GroupId("0b2".into())), name: "Ops".into() },
                outcome: Outcome::Skipped { reason: SkipReason::GuestNotInvited { email: Email::new("x@y.co") } },
            },
        ],
        allow_removals: Some("offboarding the 2025 contractors".into()),
        policy_overrides: vec![tallyfy_groups_core::policy::PolicyOverride { rule: "keep-core".into(), reason: "contractors leave".into() }],
    };
    insta::assert_snapshot!(text::render_report(&report, false));
    insta::assert_snapshot!(json::render_report(&report));
}

#[test]
fn groups_that_cannot_be_managed_in_every_rendering() {
    let groups = vec![live("1", "A", "d", &[1001], &[]), live("2", " ", "blank", &[1001], &[]), live("..", "Ops", "odd id", &[1001], &[])];
    let plan = make("settings:\n  prune: true\ngroups:\n  - name: A\n", &groups);
    insta::assert_snapshot!("cannot_be_managed_text", text::render_plan(&plan, false));
    insta::assert_snapshot!("cannot_be_managed_markdown", markdown::render_plan(&plan));
    let json: serde_json::Value = serde_json::from_str(&json::render_plan(&plan)).expect("json");
    assert_eq!(
        json["unmanageable"],
        serde_json::json!([{"name": " ", "id": "2", "why": "blank_name"}, {"name": "Ops", "id": "..", "why": "bad_id"}])
    );
}

/// Live data that tries to forge or hide output: line breaks, a terminal escape sequence, a bidi
/// override and zero-width characters in names, descriptions, user names and guest emails.
fn hostile_plan() -> Plan {
    const FAKE: &str = "Stray\n\nNo changes. Tallyfy matches groups.yaml (9 unchanged groups).\n";
    let groups = vec![
        live("1", "Ops", "Line one\u{1b}[2K\rforged\u{202e}", &[1001, 1002], &["g\u{200b}@partner.example"]),
        live("2", FAKE, "d", &[1001], &[]),
        live("3", "Gone\u{202e}txt.exe", "d", &[1003], &[]),
    ];
    let mut users = users();
    users[1].first_name = "Bob\u{1b}[31m".into();
    let desired = load_str("groups.yaml", "groups:\n  - name: Ops\n    description: Ops team\n    members: [alice@example.com]\n    guests: []\n  - name: \"Gone\\u202Etxt.exe\"\n    absent: true\n").expect("valid");
    let dir = Directory::new(&users);
    let resolved = resolve(&desired, &dir, |_| true).expect("resolved");
    let d = diff(&desired, &resolved, &groups, Some(&[]), &DiffOptions::default());
    plan::build(d, &GuardLimits::of(&desired), &dir, Target { api_url: "https://go.tallyfy.com/api".into(), org: "org1".into() })
}

fn assert_inert(rendering: &str) {
    for c in ['\u{1b}', '\r', '\u{202e}', '\u{200b}'] {
        assert!(!rendering.contains(c), "raw {c:?} in\n{rendering}");
    }
    assert!(!rendering.lines().any(|l| l.trim_start().starts_with("No changes")), "a forged line:\n{rendering}");
}

#[test]
fn hostile_live_text_is_shown_escaped() {
    let plan = hostile_plan();
    let text = text::render_plan(&plan, false);
    assert_inert(&text);
    assert!(text.contains("Stray\\n\\nNo changes. Tallyfy matches groups.yaml (9 unchanged groups).\\n"), "{text}");
    assert!(text.contains("- delete group \"Gone\\u{202e}txt.exe\""), "{text}");
    insta::assert_snapshot!("text_plan_hostile", text);
    let md = markdown::render_plan(&plan);
    assert_inert(&md);
    insta::assert_snapshot!("markdown_plan_hostile", md);
    // JSON keeps the exact strings.
    let v: serde_json::Value = serde_json::from_str(&json::render_plan(&plan)).expect("json");
    assert_eq!(v["unmanaged"][0], "Stray\n\nNo changes. Tallyfy matches groups.yaml (9 unchanged groups).\n");
    assert_eq!(v["changes"][1]["group"], "Gone\u{202e}txt.exe");
    // The report too: subjects and server messages cannot forge lines.
    let report = ApplyReport {
        results: vec![ActionResult {
            index: 0,
            action: ActionKind::DeleteGroup,
            subject: Subject::Group { id: Some(GroupId("3".into())), name: "Gone\u{202e}txt.exe".into() },
            outcome: Outcome::Failed {
                error: ActionError {
                    kind: ErrorKind::Http,
                    status: Some(500),
                    code: None,
                    message: "DELETE x failed with HTTP 500: boom\u{1b}[2K\r\u{200b}".into(),
                },
            },
        }],
        allow_removals: None,
        policy_overrides: Vec::new(),
    };
    assert_inert(&text::render_report(&report, false));
}

#[test]
fn apply_report_with_unknown_outcomes() {
    let report = ApplyReport {
        results: vec![
            ActionResult {
                index: 0,
                action: ActionKind::CreateGroup,
                subject: Subject::Group { id: None, name: "Product Council".into() },
                outcome: Outcome::Unknown {
                    reason: UnknownReason::ReadBackFailed,
                    error: Some(ActionError {
                        kind: ErrorKind::Unconfirmed,
                        status: Some(502),
                        code: None,
                        message: "POST /organizations/org1/groups failed with HTTP 502; whether it took effect is unknown, because reading it back failed too: GET /organizations/org1/groups failed with HTTP 503\n    hint: run plan again: it shows whether the create is still needed".into(),
                    }),
                },
            },
            ActionResult {
                index: 1,
                action: ActionKind::UpdateGroup,
                subject: Subject::Group { id: Some(GroupId("0b2".into())), name: "Ops".into() },
                outcome: Outcome::Skipped { reason: SkipReason::StoppedAnswering { failures: 5 } },
            },
        ],
        allow_removals: None,
        policy_overrides: Vec::new(),
    };
    insta::assert_snapshot!(text::render_report(&report, false));
    insta::assert_snapshot!(json::render_report(&report));
}

#[test]
fn json_plan_warnings_are_objects_with_a_kind() {
    use tallyfy_groups_core::warning::{At, Warning};
    let mut plan = sample();
    plan.warnings = vec![
        Warning::NoRemovalsKeeps { group: "Ops".into(), members: 2, guests: 1 },
        Warning::PreviouslyUnmatched {
            at: At { file: "groups.yaml".into(), line: 4, column: 17 },
            old: "Onbaording Team".into(),
            group: "Onboarding Specialists".into(),
            closest: Some("Onboarding Team".into()),
        },
        Warning::GuestPacing { invites: 40, per_hour: 30, extra_minutes: 20 },
    ];
    let v: serde_json::Value = serde_json::from_str(&json::render_plan(&plan)).expect("json");
    insta::assert_snapshot!(serde_json::to_string_pretty(&v["warnings"]).expect("json"));
    // The text rendering says the same warnings in the same order.
    let text = text::render_plan(&plan, false);
    let said: Vec<&str> = v["warnings"].as_array().into_iter().flatten().filter_map(|w| w["message"].as_str()).collect();
    let shown: Vec<&str> = text.lines().filter_map(|l| l.strip_prefix("  ! ")).collect();
    assert_eq!(said, shown);
}

/// A saved plan's file, byte for byte (the tool's version and so the checksum replaced).
#[test]
fn saved_plan() {
    use tallyfy_groups_core::saved;
    let text = saved::to_text(&sample());
    let doc = saved::parse("plan.json", &text).expect("a saved plan reads back");
    assert_eq!(doc.saved_plan_version, saved::SAVED_PLAN_VERSION);
    let version = format!("\"written_by\": \"{}\"", doc.written_by);
    let shown = text.replace(&version, "\"written_by\": \"tallyfy-groups [version]\"").replace(&doc.checksum, "sha256:[checksum]");
    insta::assert_snapshot!(shown);
}

// Several targets (a workspace run): a plan with changes and removals, a plan without changes,
// a target whose removal guard refuses, and a target that failed before it had a plan.

fn staging() -> Plan {
    let mut plan = sample();
    plan.guard.allow(Some("offboarding Heidi"));
    plan
}

fn production() -> Plan {
    let groups = vec![live("1", "A", "d", &[1001], &[])];
    let mut plan = make("groups:\n  - name: A\n    members: [alice@example.com]\n", &groups);
    plan.target.org = "org2".into();
    plan
}

fn legacy() -> Plan {
    let desired = "settings:\n  prune: true\n  max_deleted_groups: 1\ngroups:\n  - name: Finance Approvers\n    members: []\n";
    let mut plan = make(desired, &live_groups());
    plan.target.org = "org3".into();
    plan
}

const EU_ERROR: &str = "2 problems found:\n  groups/eu.yaml:3:5: unknown group key `member`\n    hint: did you mean `members`?\n  groups/eu.yaml:9:11: member `zed@example.com` is not in the organization";

fn two<'a>(staging: &'a Plan, production: &'a Plan) -> Vec<TargetView<'a>> {
    vec![
        TargetView { name: "staging", plan: Ok(staging), status: ExitStatus::Changes },
        TargetView { name: "production", plan: Ok(production), status: ExitStatus::Success },
    ]
}

fn four<'a>(staging: &'a Plan, production: &'a Plan, legacy: &'a Plan) -> Vec<TargetView<'a>> {
    let mut views = two(staging, production);
    views.push(TargetView { name: "legacy", plan: Ok(legacy), status: ExitStatus::Refused });
    views.push(TargetView { name: "eu", plan: Err(EU_ERROR), status: ExitStatus::Error });
    views
}

#[test]
fn text_targets() {
    let (s, p) = (staging(), production());
    let out = text::render_targets(&two(&s, &p), false, false);
    // Each section holds exactly the one-target text, but for its first line (where the plan
    // writes), which the section's heading says.
    let section = |plan| {
        let alone = text::render_plan(plan, false);
        let (first, rest) = alone.split_once("\n\n").expect("a first line");
        assert!(first.starts_with("Tallyfy organization "), "{first}");
        rest.to_string()
    };
    assert!(out.contains(&section(&s)) && out.contains(&section(&p)));
    assert!(out.ends_with("Targets:\n  staging: 1 to create, 2 to update, 1 to delete\n  production: no changes\n"), "{out}");
    insta::assert_snapshot!(out);
}

#[test]
fn text_targets_with_failed_and_refused() {
    let (s, p, l) = (staging(), production(), legacy());
    let out = text::render_targets(&four(&s, &p, &l), false, false);
    assert!(out.ends_with("  legacy: refused: removal guard (0 to create, 1 to update, 4 to delete)\n  eu: failed\n"), "{out}");
    insta::assert_snapshot!(out);
}

#[test]
fn text_targets_colored() {
    let (s, p, l) = (staging(), production(), legacy());
    let out = text::render_targets(&four(&s, &p, &l), true, false);
    assert!(out.contains("\u{1b}[1m── staging · Tallyfy organization org1 ──\u{1b}[0m"), "{out}");
    assert!(out.contains("\u{1b}[31mfailed: 2 problems found:\u{1b}[0m"), "{out}");
    insta::assert_snapshot!(out);
}

#[test]
fn text_targets_verbose_lists_every_unmanaged_group() {
    let groups: Vec<LiveGroup> = (0..12).map(|i| live(&format!("{i}"), &format!("Hand {i:02}"), "d", &[], &[])).collect();
    let plan = make("groups: []\n", &groups);
    let views = [TargetView { name: "a", plan: Ok(&plan), status: ExitStatus::Success }];
    assert!(text::render_targets(&views, false, true).contains("    Hand 11\n"));
    assert!(!text::render_targets(&views, false, false).contains("    Hand 11\n"));
}

#[test]
fn markdown_targets() {
    let (s, p) = (staging(), production());
    let out = markdown::render_targets(&two(&s, &p));
    assert!(out.starts_with(&format!("{}\n", markdown::MARKER)));
    insta::assert_snapshot!(out);
}

#[test]
fn markdown_targets_with_failed_and_refused() {
    let (s, p, l) = (staging(), production(), legacy());
    insta::assert_snapshot!(markdown::render_targets(&four(&s, &p, &l)));
}

#[test]
fn markdown_targets_share_the_cap_fairly() {
    let mut desired = String::from("groups:\n");
    for i in 0..400 {
        desired.push_str(&format!("  - name: Team {i:03}\n    description: Team number {i}, with a description long enough to take room.\n    members: [alice@example.com, bob@example.com, carol@example.com, dave@example.com]\n"));
    }
    let huge = make(&desired, &[]);
    let small = staging();
    let views = vec![
        TargetView { name: "huge", plan: Ok(&huge), status: ExitStatus::Changes },
        TargetView { name: "staging", plan: Ok(&small), status: ExitStatus::Changes },
        TargetView { name: "eu", plan: Err(EU_ERROR), status: ExitStatus::Error },
    ];
    let table_of = |out: &str| {
        out.lines().skip_while(|l| !l.starts_with("| target |")).take_while(|l| l.starts_with('|')).map(str::to_owned).collect::<Vec<_>>()
    };
    for cap in [markdown::MAX_CHARS, 20_000, 8_000] {
        let out = markdown::render_targets_capped(&views, cap);
        assert!(out.len() <= cap, "{} > {cap}", out.len());
        // The small target's plan and the failed target's error are whole; the huge one is cut
        // with the truncation note.
        let staging_body = markdown::render_plan(&small);
        let staging_body = staging_body.strip_prefix(&format!("{}\n", markdown::MARKER)).expect("marker");
        // Less the line that says where it writes: the target's heading says it.
        let (heading, rest) = staging_body.split_once("\n\n").expect("a heading");
        let (_, rest) = rest.split_once("\n\n").expect("where it writes");
        let staging_body = format!("{heading}\n\n{rest}");
        assert!(out.contains(&staging_body.replace("\n### ", "\n#### ").replacen("### ", "#### ", 1)), "cap {cap}:\n{out}");
        assert!(out.contains("member `zed@example.com` is not in the organization"), "cap {cap}");
        assert!(out.contains("**Truncated:**") && out.contains("Team 000") && !out.contains("Team 399"), "cap {cap}");
        // The table is never cut.
        assert_eq!(table_of(&out).len(), 5, "cap {cap}:\n{out}");
    }
    // Room a small target does not need goes to the large one.
    let alone = markdown::render_targets_capped(&views[..1], 20_000);
    let with_others = markdown::render_targets_capped(&views, 20_000);
    let shown = |out: &str| out.matches("<code>+ create</code>").count();
    assert!(shown(&with_others) > 0 && shown(&with_others) < shown(&alone), "{} {}", shown(&with_others), shown(&alone));
    assert!(with_others.len() > 15_000, "the huge target takes what the others leave: {}", with_others.len());
    // With a cap too small for any body, the table still stands whole.
    let tiny = markdown::render_targets_capped(&views, 1_500);
    assert_eq!(table_of(&tiny), table_of(&with_others));
}

#[test]
fn markdown_with_hundreds_of_targets_stays_under_the_cap() {
    // An agency with an organization per client: 400 targets, ten of them with changes.
    let (changed, quiet) = (staging(), production());
    let names: Vec<String> = (0..400).map(|i| format!("client-{i:03}")).collect();
    let views: Vec<TargetView<'_>> = names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            if i % 40 == 7 {
                TargetView { name, plan: Ok(&changed), status: ExitStatus::Changes }
            } else {
                TargetView { name, plan: Ok(&quiet), status: ExitStatus::Success }
            }
        })
        .collect();
    let out = markdown::render_targets(&views);
    assert!(out.len() <= markdown::MAX_CHARS, "{} > {}", out.len(), markdown::MAX_CHARS);
    assert!(out.starts_with(markdown::MARKER));
    // Every target with changes is in the table and has its section; the quiet ones are counted.
    for i in (0..400).filter(|i| i % 40 == 7) {
        assert!(out.contains(&format!("| **client-{i:03}** |")), "client-{i:03} in the table");
        assert!(out.contains(&format!("<summary><b>client-{i:03}</b>")), "client-{i:03} has its section");
    }
    assert!(out.contains("390 targets without changes"), "{}", &out[..2000.min(out.len())]);
    // A smaller cap still holds, and says what it left out.
    let small = markdown::render_targets_capped(&views, 20_000);
    assert!(small.len() <= 20_000, "{}", small.len());
    assert!(small.contains("not shown"), "{small}");
}

#[test]
fn json_targets() {
    let (s, p) = (staging(), production());
    let out = json::render_targets(&two(&s, &p));
    insta::assert_snapshot!(out);
}

#[test]
fn json_targets_with_failed_and_refused() {
    let (s, p, l) = (staging(), production(), legacy());
    let out = json::render_targets(&four(&s, &p, &l));
    insta::assert_snapshot!(out);
}

#[test]
fn json_targets_hold_each_plan_as_render_plan_gives_it() {
    let (s, p, l) = (staging(), production(), legacy());
    let parse = |text: &str| serde_json::from_str::<serde_json::Value>(text).expect("json");
    let doc = parse(&json::render_targets(&four(&s, &p, &l)));
    assert_eq!(doc["format_version"], 2);
    assert_eq!(doc["exit_code"], 3, "the most severe across targets");
    assert_eq!(doc["targets"]["staging"], parse(&json::render_plan(&s)));
    assert_eq!(doc["targets"]["production"], parse(&json::render_plan(&p)));
    assert_eq!(doc["targets"]["legacy"], parse(&json::render_plan(&l)));
    assert_eq!(doc["failed"], serde_json::json!({"eu": {"exit_code": 1, "error": EU_ERROR}}));
    // Keys in the order given (not sorted), and `failed` present when empty.
    let text = json::render_targets(&two(&s, &p));
    assert!(text.find("\"staging\": {").expect("staging") < text.find("\"production\": {").expect("production"));
    assert_eq!(parse(&text)["failed"], serde_json::json!({}));
    assert_eq!(parse(&text)["exit_code"], 2);
    assert_eq!(parse(&json::render_targets(&[]))["exit_code"], 0);
}

#[test]
fn target_renderings_are_byte_identical_across_runs() {
    let (s, p, l) = (staging(), production(), legacy());
    let mut groups = live_groups();
    groups.reverse();
    let mut s2 = make(DESIRED, &groups);
    s2.guard.allow(Some("offboarding Heidi"));
    let (a, b) = (four(&s, &p, &l), four(&s2, &p, &l));
    assert_eq!(text::render_targets(&a, true, false), text::render_targets(&b, true, false));
    assert_eq!(markdown::render_targets(&a), markdown::render_targets(&b));
    assert_eq!(json::render_targets(&a), json::render_targets(&b));
}

#[test]
fn target_summary_lines_say_each_outcome() {
    let (s, p, l) = (staging(), production(), legacy());
    let views = [
        TargetView { name: "a", plan: Ok(&s), status: ExitStatus::Changes },
        TargetView { name: "b", plan: Ok(&s), status: ExitStatus::Success },
        TargetView { name: "c", plan: Ok(&p), status: ExitStatus::Success },
        TargetView { name: "d", plan: Ok(&l), status: ExitStatus::Refused },
        TargetView { name: "e", plan: Err("the saved plan is stale: group Ops changed"), status: ExitStatus::Refused },
        TargetView { name: "f", plan: Ok(&s), status: ExitStatus::Error },
        TargetView { name: "g", plan: Err("interrupted"), status: ExitStatus::Interrupted },
        TargetView { name: "h", plan: Err("HTTP 401"), status: ExitStatus::Error },
    ];
    let out = text::render_targets(&views, false, false);
    let summary: Vec<&str> = out.lines().skip_while(|l| *l != "Targets:").skip(1).collect();
    assert_eq!(
        summary,
        vec![
            "  a: 1 to create, 2 to update, 1 to delete",
            "  b: 1 to create, 2 to update, 1 to delete",
            "  c: no changes",
            "  d: refused: removal guard (0 to create, 1 to update, 4 to delete)",
            "  e: refused",
            "  f: failed (1 to create, 2 to update, 1 to delete)",
            "  g: interrupted",
            "  h: failed",
        ]
    );
    let md = markdown::render_targets(&views);
    assert!(md.starts_with(&format!(
        "{}\n### Tallyfy groups plan: 8 targets, 2 with changes, 1 without changes, 2 refused, 2 failed, 1 interrupted\n",
        markdown::MARKER
    )));
    assert!(md.contains("| **e** | — | — | — | — | — | — | **refused** |"), "{md}");
    assert!(md.contains("> - **e** has no plan (refused): what it would change is not shown."), "{md}");
    assert!(md.contains("> - **f**: **failed** (see its plan below)."), "{md}");
    assert!(md.contains("<details><summary><b>c</b>"), "no changes: closed");
    assert!(md.contains("<details open><summary><b>h</b>: failed</summary>"), "failed: open");
    assert_eq!(serde_json::from_str::<serde_json::Value>(&json::render_targets(&views)).expect("json")["exit_code"], 130);
}

/// The sample plan with the usage check's findings: Old Contractors (deleted) runs a step of
/// "Employee Onboarding" and owns open tasks, and an archived template names it; Marketing
/// (emptied by this plan) is used by nothing.
fn with_usage() -> Plan {
    use tallyfy_groups_core::usage::{self, Counts, Step, Template, UsageCheck, UsageRead};
    let desired = format!("{DESIRED}  - name: Marketing\n    description: By hand.\n    members: []\n");
    let mut plan = make(&desired, &live_groups());
    let step = |id: &str, title: &str, groups: &[&str]| Step {
        id: id.into(),
        title: title.into(),
        groups: groups.iter().map(|g| GroupId((*g).into())).collect(),
        max_assignable: 0,
    };
    let read = UsageRead {
        templates: vec![
            Template {
                id: "t1".into(),
                title: "Employee Onboarding".into(),
                archived: false,
                access: vec![GroupId("0c3".into())],
                steps: vec![step("s1", "Laptop", &["0c3"]), step("s2", "Accounts", &["0c3", "0a1"]), step("s3", "Welcome", &["0a1"])],
            },
            Template {
                id: "t2".into(),
                title: "2024 Migration".into(),
                archived: true,
                access: Vec::new(),
                steps: vec![step("s4", "Hand over laptops", &["0c3"])],
            },
        ],
        counts: [(GroupId("0c3".into()), Counts { active_processes: 4, open_tasks: 12 }), (GroupId("0d4".into()), Counts::default())]
            .into_iter()
            .collect(),
        reads: 6,
    };
    usage::attach(&mut plan, UsageCheck::Auto, Some(&read));
    plan
}

#[test]
fn usage_in_every_rendering() {
    let plan = with_usage();
    assert!(plan.guard.refuses(), "a deleted group in use trips the guard");
    insta::assert_snapshot!("text_plan_with_usage", text::render_plan(&plan, false));
    insta::assert_snapshot!("markdown_plan_with_usage", markdown::render_plan(&plan));
    insta::assert_snapshot!("json_plan_with_usage", json::render_plan(&plan));
}

#[test]
fn usage_not_checked_in_every_rendering() {
    use tallyfy_groups_core::usage::{self, UsageCheck};
    let desired = format!("{DESIRED}  - name: Marketing\n    description: By hand.\n    members: []\n");
    let mut plan = make(&desired, &live_groups());
    usage::attach(&mut plan, UsageCheck::Never, None);
    let (text, markdown, json) = (text::render_plan(&plan, false), markdown::render_plan(&plan), json::render_plan(&plan));
    // The delete and the emptied group, in each.
    assert_eq!(text.matches("usage not checked").count(), 2, "{text}");
    assert_eq!(markdown.matches("usage not checked").count(), 4, "summary and diff line of each: {markdown}");
    assert_eq!(json.matches("\"checked\": false").count(), 2, "{json}");
    insta::assert_snapshot!("text_plan_usage_not_checked", text);
}

/// A plan as of 2027-01-05: heidi's entry in Finance Approvers expired on 2027-01-04 (she is
/// removed, with why), the liaison's guest entry expires in 5 days, carol's member entry in
/// 12, and Finance Approvers' review is overdue.
fn with_expiry() -> Plan {
    let desired = r#"
settings:
  min_removed_for_ratio: 100
groups:
  - name: Finance Approvers
    description: |
      Approves invoices.
      Escalations go to the CFO.
    members:
      - dave@example.com
      - erin@example.com
      - frank@example.com
      - grace@example.com
      - {email: heidi@example.com, until: 2027-01-04, reason: "TICKET-42"}
    review: {every_days: 90, last: 2026-09-01}
  - name: Onboarding Team
    description: Team responsible for new client onboarding.
    members: [alice@example.com, bob@example.com, {email: carol@example.com, until: 2027-01-17}]
    guests:
      - {email: liaison@partner.example, until: 2027-01-10, reason: audit}
"#;
    let mut state = load_str("groups.yaml", desired).expect("valid");
    let as_of = tallyfy_groups_core::date::Date::parse("2027-01-05").expect("day");
    let (report, problems) = tallyfy_groups_core::expiry::evaluate(&mut state, as_of);
    assert!(problems.is_empty(), "{problems:?}");
    let users = users();
    let dir = Directory::new(&users);
    let resolved = resolve(&state, &dir, |_| true).expect("resolved");
    let guests: Vec<Guest> = Vec::new();
    let d = diff(&state, &resolved, &live_groups(), Some(&guests), &DiffOptions::default());
    let mut plan =
        plan::build(d, &GuardLimits::of(&state), &dir, Target { api_url: "https://go.tallyfy.com/api".into(), org: "org1".into() });
    plan.sources = state.files.clone();
    plan.expiry = report;
    plan
}

#[test]
fn expiry_in_every_rendering() {
    let plan = with_expiry();
    let text = text::render_plan(&plan, false);
    assert!(text.contains("- member heidi@example.com (Heidi Example) (expired 2027-01-04, TICKET-42)"), "{text}");
    insta::assert_snapshot!("text_plan_with_expiry", text);
    insta::assert_snapshot!("markdown_plan_with_expiry", markdown::render_plan(&plan));
    insta::assert_snapshot!("json_plan_with_expiry", json::render_plan(&plan));
}

/// The sample plan judged by a policy: Finance Approvers over its size, a member of another
/// domain, Old Contractors deleted against `forbid_delete`; the size rule overridden.
fn policy_plan() -> Plan {
    use tallyfy_groups_core::policy::{self, Context, PolicyOverride};
    let mut plan = sample();
    let rules = r#"rules:
  - id: finance-size
    groups: ["Finance *"]
    max_members: 3
  - id: company-domains
    groups: ["*"]
    deny_member_domains: [example.com]
  - id: keep-core
    forbid_delete: ["Old *"]
"#;
    let p = policy::parse("policy.yaml", rules).expect("valid policy");
    let names = live_groups().iter().map(|g| g.name.clone()).chain(["Product Council".to_string()]).collect();
    let context = Context { names, declared: [("finance approvers".to_string(), "groups.yaml:11:11".to_string())].into() };
    let overrides = [PolicyOverride { rule: "finance-size".into(), reason: "quarter close".into() }];
    let mut report = policy::evaluate(&p, &plan, &context, &overrides).expect("judged");
    // One member per group is enough for the snapshot.
    let mut seen = std::collections::BTreeSet::new();
    report.violations.retain(|v| v.rule != "company-domains" || seen.insert(v.group.clone()));
    plan.policy = Some(report);
    plan
}

#[test]
fn text_plan_with_policy_violations() {
    insta::assert_snapshot!(text::render_plan(&policy_plan(), false));
}

#[test]
fn markdown_plan_with_policy_violations() {
    insta::assert_snapshot!(markdown::render_plan(&policy_plan()));
}

#[test]
fn json_plan_with_policy_violations() {
    insta::assert_snapshot!(json::render_plan(&policy_plan()));
}
