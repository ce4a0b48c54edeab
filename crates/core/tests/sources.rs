//! Membership from sources through the whole pure pipeline: expansion, resolution (unknown
//! addresses, `unknown: warn`), `--keep-going`, the removal guard, and the renderings of a plan
//! with provenance (snapshots).

use std::collections::BTreeMap;

use tallyfy_groups_core::desired::{DesiredState, expand, load_str};
use tallyfy_groups_core::diff::DiffOptions;
use tallyfy_groups_core::model::{Email, GroupId, LiveGroup, LiveState, User, UserId, UserStatus};
use tallyfy_groups_core::pipeline::{PlanError, make_plan};
use tallyfy_groups_core::plan::{GuardTrip, Plan, Target};
use tallyfy_groups_core::render::{json, markdown, text};
use tallyfy_groups_core::saved::SavedPlan;
use tallyfy_groups_core::source::{Person, Provenance, SourceFailure, SourceRead};
use tallyfy_groups_core::warning::Warning;

const DESIRED: &str = r#"sources:
  finance-hr:
    csv: {path: hr/finance.csv, column: email, where: {status: active}}
  engineering:
    ldap: {url: ldaps://ldap.example.com, base: "ou=people,dc=example,dc=com", filter: "(team=eng)"}
    unknown: warn
  leads:
    list: [cfo@example.com]
  auditors:
    csv: {path: audit.csv, column: email}
groups:
  - name: Finance Leads
    description: Leads.
    members: [{source: leads}, alice@example.com]
  - name: Finance
    description: Finance team.
    members:
      - bob@example.com
      - source: finance-hr
      - source: engineering
      - group: Finance Leads
    guests: [{source: auditors}, auditor@partner.example]
  - name: Ops
    description: Typed only.
    members: [alice@example.com, bob@example.com]
"#;

fn users() -> Vec<User> {
    ["alice", "bob", "cfo", "dana", "erin", "frank"]
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

fn live_group(id: &str, name: &str, description: &str, members: &[u64]) -> LiveGroup {
    LiveGroup {
        id: GroupId(id.into()),
        name: name.into(),
        description: description.into(),
        members: members.iter().map(|&m| UserId(m)).collect(),
        guests: Default::default(),
        unread: Vec::new(),
    }
}

fn live() -> LiveState {
    LiveState {
        groups: vec![live_group("0a1", "Finance", "Finance team.", &[1002, 1006]), live_group("0b2", "Ops", "Typed only.", &[1001])],
        users: users(),
        guests: Some(Vec::new()),
    }
}

fn person(email: &str, line: Option<usize>) -> Person {
    Person { email: Email::new(email), line }
}

fn reads(hr: &[(&str, usize)], eng: &[&str]) -> BTreeMap<String, Result<SourceRead, SourceFailure>> {
    BTreeMap::from([
        ("finance-hr".to_string(), Ok(SourceRead { people: hr.iter().map(|(e, l)| person(e, Some(*l))).collect(), warnings: Vec::new() })),
        ("engineering".to_string(), Ok(SourceRead { people: eng.iter().map(|e| person(e, None)).collect(), warnings: Vec::new() })),
        ("auditors".to_string(), Ok(SourceRead { people: vec![person("lead@partner.example", Some(2))], warnings: Vec::new() })),
    ])
}

fn target() -> Target {
    Target { api_url: "https://go.tallyfy.com/api".into(), org: "org1".into() }
}

fn expanded(text: &str, r: &BTreeMap<String, Result<SourceRead, SourceFailure>>, keep_going: bool) -> DesiredState {
    let mut s = load_str("groups.yaml", text).expect("valid");
    let _ = expand(&mut s, r, keep_going).expect("expands");
    s
}

fn plan_of(s: &DesiredState, live: &LiveState, keep_going: bool) -> Result<Plan, PlanError> {
    let mut plan = make_plan(s, live, &DiffOptions { keep_going, ..DiffOptions::default() }, target())?;
    plan.sources = s.files.clone();
    Ok(plan)
}

fn sample() -> Plan {
    let r = reads(&[("dana@example.com", 14), ("bob@example.com", 3)], &["dana@example.com", "erin@example.com", "ghost@example.com"]);
    plan_of(&expanded(DESIRED, &r, false), &live(), false).expect("plans")
}

#[test]
fn text_plan_with_provenance() {
    insta::assert_snapshot!(text::render_plan(&sample(), false));
}

#[test]
fn markdown_plan_with_provenance() {
    insta::assert_snapshot!(markdown::render_plan(&sample()));
}

#[test]
fn json_plan_with_provenance() {
    insta::assert_snapshot!(json::render_plan(&sample()));
}

#[test]
fn provenance_reaches_the_plan_and_survives_a_saved_plan() {
    let plan = sample();
    let finance = &plan.provenance["Finance"];
    assert_eq!(finance.sources, ["auditors", "engineering", "finance-hr", "leads"]);
    assert_eq!(
        finance.member(UserId(1004)),
        [
            Provenance::Source { kind: "csv", source: "finance-hr".into(), line: Some(14) },
            Provenance::Source { kind: "ldap", source: "engineering".into(), line: None }
        ]
    );
    // bob is typed and from the CSV: both origins.
    assert_eq!(finance.member(UserId(1002)).len(), 2);
    // Removed members have no origins (frank leaves Finance).
    assert!(finance.member(UserId(1006)).is_empty());
    // A group of typed members only: each has its typed origin, and no source.
    assert!(plan.provenance["Ops"].sources.is_empty());
    assert_eq!(plan.provenance["Ops"].member(UserId(1002)), [Provenance::Static { at: "groups.yaml:25:34".into() }]);
    assert!(
        !plan.provenance.contains_key("Finance Leads")
            || plan.actions.iter().any(|a| a.writes().is_some_and(|g| g.name == "Finance Leads"))
    );
    // The saved plan carries it, and an older saved plan (without it) still reads.
    let saved = SavedPlan::of(&plan);
    let text = serde_json::to_string(&saved).expect("json");
    let back: SavedPlan = serde_json::from_str(&text).expect("reads back");
    assert_eq!(back.to_plan(&live()).expect("plan").provenance, plan.provenance);
    let mut old: serde_json::Value = serde_json::from_str(&text).expect("json");
    old.as_object_mut().expect("object").remove("provenance");
    let old: SavedPlan = serde_json::from_value(old).expect("an older file reads");
    assert!(old.provenance.is_empty());
}

#[test]
fn an_unknown_address_from_a_csv_names_the_source_and_its_line() {
    let r = reads(&[("dana@example.com", 14), ("nobody@example.com", 7)], &["erin@example.com"]);
    let s = expanded(DESIRED, &r, false);
    let Err(PlanError::Unresolved { errors, .. }) = plan_of(&s, &live(), false) else { panic!("unknown address") };
    let all: Vec<String> = errors.0.iter().map(ToString::to_string).collect();
    assert_eq!(
        all,
        [
            "groups.yaml:2:3: member nobody@example.com (from csv:finance-hr:7) of \"Finance\" is not a user of this organization\n    hint: correct the source, invite them in Tallyfy, or set `unknown: warn` on the source to leave such addresses out with a warning"
        ]
    );
    // A typed address stays an error even when a source with `unknown: warn` yields it too.
    let typed = DESIRED.replace("- bob@example.com\n", "- bob@example.com\n      - ghost@example.com\n");
    let r = reads(&[("dana@example.com", 14)], &["ghost@example.com"]);
    let Err(PlanError::Unresolved { errors, .. }) = plan_of(&expanded(&typed, &r, false), &live(), false) else { panic!("typed") };
    assert!(
        errors.0[0].to_string().starts_with("groups.yaml:19:9: member ghost@example.com (from ldap:engineering) of \"Finance\""),
        "{errors}"
    );
}

#[test]
fn unknown_warn_leaves_the_address_out_with_a_warning() {
    let plan = sample();
    let ghost = Warning::UnknownFromSource {
        email: Email::new("ghost@example.com"),
        group: "Finance".into(),
        origins: vec![Provenance::Source { kind: "ldap", source: "engineering".into(), line: None }],
    };
    assert!(plan.warnings.contains(&ghost), "{:?}", plan.warnings);
    assert!(!plan.users.values().any(|u| u.email.as_str() == "ghost@example.com"));
}

#[test]
fn keep_going_plans_every_group_but_those_of_a_failed_source() {
    let mut r = reads(&[("dana@example.com", 14)], &[]);
    r.remove("engineering");
    let mut s = load_str("groups.yaml", DESIRED).expect("valid");
    assert!(expand(&mut s, &r, false).is_err(), "without --keep-going nothing is planned");
    let e = expand(&mut s, &r, true).expect("keeps going");
    assert_eq!(e.untouched, ["Finance"]);
    let plan = plan_of(&s, &live(), true).expect("plans");
    // Ops and Finance Leads are planned; Finance is left untouched and reported.
    let written: Vec<&str> = plan.actions.iter().filter_map(|a| a.writes()).map(|g| g.name.as_str()).collect();
    assert_eq!(written, ["Finance Leads", "Ops"]);
    assert_eq!(plan.errors.len(), 1);
    assert!(
        plan.errors[0]
            .to_string()
            .starts_with("groups.yaml:4:3: source engineering (ldap) could not be read, so \"Finance\" is left untouched"),
        "{}",
        plan.errors[0]
    );
}

#[test]
fn a_source_that_drops_half_its_people_trips_the_removal_guard() {
    let text = "settings:\n  min_removed_for_ratio: 2\nsources:\n  hr:\n    csv: {path: hr.csv, column: email}\ngroups:\n  - name: Finance\n    description: Finance team.\n    members: [{source: hr}]\n";
    let all: Vec<(String, usize)> = users().iter().enumerate().map(|(i, u)| (u.email.to_string(), i + 2)).collect();
    let live = LiveState {
        groups: vec![live_group("0a1", "Finance", "Finance team.", &[1001, 1002, 1003, 1004, 1005, 1006])],
        users: users(),
        guests: None,
    };
    let read = |n: usize| {
        BTreeMap::from([(
            "hr".to_string(),
            Ok(SourceRead { people: all[..n].iter().map(|(e, l)| person(e, Some(*l))).collect(), warnings: Vec::new() }),
        )])
    };
    let whole = plan_of(&expanded(text, &read(6), false), &live, false).expect("plans");
    assert!(whole.is_empty() && !whole.guard.is_tripped());
    let half = plan_of(&expanded(text, &read(3), false), &live, false).expect("plans");
    assert_eq!(half.guard.removed_memberships, 3);
    assert!(
        matches!(half.guard.tripped.as_slice(), [GuardTrip::TooManyRemovedMemberships { removed: 3, current: 6, .. }]),
        "{:?}",
        half.guard
    );
    assert!(half.guard.refuses());
}

#[test]
fn a_user_typed_by_id_and_yielded_by_a_source_is_one_member_with_both_origins() {
    let text = "sources:\n  hr:\n    csv: {path: hr.csv, column: email}\ngroups:\n  - name: Finance\n    description: Finance team.\n    members: [1002, {source: hr}]\n";
    let r = BTreeMap::from([(
        "hr".to_string(),
        Ok(SourceRead { people: vec![person("bob@example.com", Some(5)), person("dana@example.com", Some(6))], warnings: Vec::new() }),
    )]);
    let plan = plan_of(&expanded(text, &r, false), &live(), false).expect("no member is listed twice");
    assert_eq!(
        plan.provenance["Finance"].member(UserId(1002)),
        [Provenance::Static { at: "groups.yaml:7:15".into() }, Provenance::Source { kind: "csv", source: "hr".into(), line: Some(5) }]
    );
    // Two typed entries of one user are still a mistake.
    let twice = "groups:\n  - name: Finance\n    members: [1002, bob@example.com]\n";
    let Err(PlanError::Unresolved { errors, .. }) = plan_of(&expanded(twice, &BTreeMap::new(), false), &live(), false) else {
        panic!("listed twice")
    };
    assert!(errors.to_string().contains("is listed twice in \"Finance\""), "{errors}");
}
