use super::*;
use crate::desired::load_str;
use crate::diff::DiffOptions;
use crate::model::{Email, LiveGroup, LiveState, User, UserId, UserStatus};
use crate::plan::Target;
use crate::render::words;

fn live() -> LiveState {
    let users = (1..=6)
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
        groups: vec![
            group("g-help", "IT Helpdesk", &[1, 2]),
            group("g-idle", "Idle", &[3]),
            group("g-empty", "Emptied", &[4]),
            group("g-grow", "Growing", &[1]),
            group("g-keep", "Kept", &[5]),
        ],
        users,
        guests: Some(Vec::new()),
    }
}

/// IT Helpdesk and Idle deleted, Emptied emptied, Growing grown to 4, Kept renamed only.
fn plan() -> Plan {
    let yaml = "groups:
  - name: IT Helpdesk
    absent: true
  - name: Idle
    absent: true
  - name: Emptied
    description: d
    members: []
  - name: Growing
    description: d
    members: [u1@example.com, u2@example.com, u3@example.com, u4@example.com]
  - name: Kept again
    previously: [Kept]
    description: d
    members: [u5@example.com]
";
    let desired = load_str("g.yaml", yaml).expect("valid");
    crate::pipeline::make_plan(&desired, &live(), &DiffOptions::default(), Target { api_url: "x".into(), org: "o".into() }).expect("plan")
}

fn step(id: &str, title: &str, groups: &[&str], max_assignable: u64) -> Step {
    Step { id: id.into(), title: title.into(), groups: groups.iter().map(|g| GroupId((*g).into())).collect(), max_assignable }
}

fn read() -> UsageRead {
    let templates = vec![
        Template {
            id: "t1".into(),
            title: "Employee Onboarding".into(),
            archived: false,
            access: vec![GroupId("g-help".into())],
            steps: vec![
                step("s1", "Laptop", &["g-help"], 0),
                step("s2", "Accounts", &["g-help", "g-empty"], 0),
                step("s3", "Welcome", &["g-grow"], 3),
            ],
        },
        Template {
            id: "t2".into(),
            title: "Old Process".into(),
            archived: true,
            access: Vec::new(),
            steps: vec![step("s4", "Hand over", &["g-idle"], 0), step("s5", "Loose", &["g-grow"], 2)],
        },
        Template {
            id: "t3".into(),
            title: "Roomy".into(),
            archived: false,
            access: Vec::new(),
            steps: vec![step("s6", "Big", &["g-grow"], 50)],
        },
    ];
    let counts = BTreeMap::from([
        (GroupId("g-help".into()), Counts { active_processes: 4, open_tasks: 12 }),
        (GroupId("g-idle".into()), Counts::default()),
        (GroupId("g-empty".into()), Counts { active_processes: 0, open_tasks: 1 }),
    ]);
    UsageRead { templates, counts, reads: 7 }
}

fn sorted(v: Vec<GroupId>) -> Vec<String> {
    let mut out: Vec<String> = v.into_iter().map(|g| g.0).collect();
    out.sort();
    out
}

#[test]
fn auto_checks_deleted_and_emptied_groups_always_every_changed_group_never_none() {
    let plan = plan();
    assert_eq!(sorted(groups_to_check(&plan, UsageCheck::Auto)), ["g-empty", "g-help", "g-idle"]);
    assert_eq!(sorted(groups_to_check(&plan, UsageCheck::Always)), ["g-empty", "g-grow", "g-help", "g-idle", "g-keep"]);
    assert!(groups_to_check(&plan, UsageCheck::Never).is_empty());
    // A plan that deletes and empties nothing checks nothing: no reads at all.
    let mut quiet = plan.clone();
    quiet.actions.retain(|a| !matches!(a, Action::DeleteGroup { .. }));
    quiet.actions.retain(|a| needs_check(a, UsageCheck::Auto).is_none());
    assert!(groups_to_check(&quiet, UsageCheck::Auto).is_empty());
}

#[test]
fn a_deleted_group_in_use_trips_the_guard_and_an_unused_one_does_not() {
    let mut plan = plan();
    assert!(!plan.guard.is_tripped());
    attach(&mut plan, UsageCheck::Auto, Some(&read()));
    let help = plan.usage.of(&GroupId("g-help".into())).expect("checked");
    assert!(help.in_use());
    assert_eq!(help.templates.len(), 1);
    assert!(help.templates[0].access);
    assert_eq!(help.templates[0].steps.iter().map(|s| s.title.as_str()).collect::<Vec<_>>(), ["Laptop", "Accounts"]);
    assert_eq!((help.active_processes, help.open_tasks), (4, 12));
    let trips: Vec<&GuardTrip> = plan.guard.tripped.iter().collect();
    match trips.as_slice() {
        [GuardTrip::GroupInUse { groups }] => {
            assert_eq!(groups.len(), 1, "Idle is used by an archived template only: {groups:?}");
            assert_eq!((groups[0].name.as_str(), groups[0].templates, groups[0].steps), ("IT Helpdesk", 1, 2));
        }
        other => panic!("expected one group_in_use trip, got {other:?}"),
    }
    assert!(plan.guard.refuses());
    assert_eq!(
        words::guard_trip(trips[0]),
        "the plan deletes 1 group still in use: \"IT Helpdesk\" (1 template, 2 steps, 12 open tasks, 4 active processes)"
    );
    assert_eq!(plan.summary.usage_reads, 7);
    // An override is recorded like any other trip's.
    plan.guard.allow(Some("helpdesk moves to Zendesk"));
    assert!(!plan.guard.refuses());
}

#[test]
fn an_archived_template_warns_an_emptied_group_in_use_warns_a_step_limit_warns() {
    let mut plan = plan();
    attach(&mut plan, UsageCheck::Auto, Some(&read()));
    let said = words::warnings(&plan.warnings);
    assert!(
        said.iter().any(|w| w
            == "\"Idle\" is deleted while 1 archived template still names it (\"Old Process\"): restoring it brings back steps or access without the group"),
        "{said:#?}"
    );
    assert!(
        said.iter().any(|w| w
            == "\"Emptied\" is emptied while used by 1 template (\"Employee Onboarding\"), 1 open task: 1 step assigned to it will have nobody to do them"),
        "{said:#?}"
    );
    // The smallest non-zero limit of a step (not archived) the group is assigned to: 3, not 2
    // (archived) or 50.
    assert!(
        said.iter().any(|w| w.starts_with(
            "\"Growing\" grows to 4 members and guests, past the limit of 3 of step \"Welcome\" of template \"Employee Onboarding\""
        )),
        "{said:#?}"
    );
    assert_eq!(said.len(), 3, "{said:#?}");
}

#[test]
fn a_group_that_stays_within_its_step_limit_or_shrinks_does_not_warn() {
    let mut plan = plan();
    let mut read = read();
    read.templates[0].steps[2].max_assignable = 4;
    attach(&mut plan, UsageCheck::Auto, Some(&read));
    assert!(!plan.warnings.iter().any(|w| matches!(w, Warning::PastMaxAssignable { .. })), "{:?}", plan.warnings);
}

#[test]
fn never_reads_nothing_and_says_so_for_each_group_it_would_have_checked() {
    let mut plan = plan();
    attach(&mut plan, UsageCheck::Never, None);
    assert!(plan.usage.groups.is_empty() && !plan.guard.is_tripped());
    let unchecked: Vec<&Action> = plan.actions.iter().filter(|a| plan.usage.not_checked(a)).collect();
    assert_eq!(unchecked.len(), 3, "the two deletes and the emptied group");
    let text = crate::render::text::render_plan(&plan, false);
    assert_eq!(text.matches("usage not checked").count(), 3, "{text}");
    let json = crate::render::json::render_plan(&plan);
    assert!(json.contains("\"usage_check\": \"never\""), "{json}");
    assert_eq!(json.matches("\"checked\": false").count(), 3, "{json}");
}

#[test]
fn usage_is_said_with_its_steps_access_and_counts_capped() {
    let mut u = usage_of(&GroupId("g-help".into()), &read().templates, Counts { active_processes: 4, open_tasks: 12 });
    assert_eq!(
        words::usage(&u),
        "used by 1 template (Employee Onboarding: steps \"Laptop\", \"Accounts\", grants access), 12 open tasks, 4 active processes"
    );
    u.templates = (1..=5).map(|i| TemplateUse { id: format!("t{i}"), title: format!("T{i}"), steps: Vec::new(), access: true }).collect();
    assert_eq!(
        words::usage(&u),
        "used by 5 templates (T1: grants access; T2: grants access; T3: grants access; 2 more), 12 open tasks, 4 active processes"
    );
    assert_eq!(words::usage(&GroupUsage::default()), "used by no template, active process or open task");
}

#[test]
fn a_saved_plan_refuses_a_group_that_became_used_but_not_one_it_never_checked() {
    let mut made = plan();
    let mut quiet = read();
    quiet.templates.clear();
    quiet.counts.values_mut().for_each(|c| *c = Counts::default());
    attach(&mut made, UsageCheck::Auto, Some(&quiet));
    assert!(!made.guard.is_tripped());
    let recorded = made.usage.groups.clone();
    let mut now = plan();
    attach(&mut now, UsageCheck::Auto, Some(&read()));
    let used: Vec<&str> = became_used(&recorded, &now).into_iter().map(|(_, name)| name).collect();
    assert_eq!(used, ["IT Helpdesk"]);
    // Not checked when made (`never`): the guard speaks at apply, not staleness.
    assert!(became_used(&BTreeMap::new(), &now).is_empty());
}
