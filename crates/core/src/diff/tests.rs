//! Unit tests of the differ and the planner (pure).

use super::*;
use crate::desired::load_str;
use crate::model::{GroupId, User, UserStatus};
use crate::plan::{self, Action, GuardLimits, Plan, Target};
use crate::render::words;
use crate::resolve::{Directory, resolve};

fn users() -> Vec<User> {
    (1..=12)
        .map(|i| User {
            id: UserId(i),
            email: Email::new(&format!("u{i}@example.com")),
            first_name: format!("U{i}"),
            last_name: "Test".into(),
            status: UserStatus::Active,
        })
        .collect()
}

fn live(id: &str, name: &str, members: &[u64], guests: &[&str]) -> LiveGroup {
    LiveGroup {
        id: GroupId(id.into()),
        name: name.into(),
        description: format!("{name} description"),
        members: members.iter().map(|&m| UserId(m)).collect(),
        guests: guests.iter().map(|g| Email::new(g)).collect(),
        unread: Vec::new(),
    }
}

fn plan_with(yaml: &str, groups: &[LiveGroup], options: &DiffOptions) -> Plan {
    let desired = load_str("g.yaml", yaml).unwrap_or_else(|e| panic!("{e}"));
    let users = users();
    let dir = Directory::new(&users);
    let resolved = resolve(&desired, &dir, |g| options.scope.includes(&g.name.value)).unwrap_or_else(|e| panic!("{e}"));
    let guests = vec![crate::model::Guest { email: Email::new("known@partner.co"), first_name: "K".into(), last_name: "P".into() }];
    let d = diff(&desired, &resolved, groups, Some(&guests), options);
    let limits = GuardLimits::of(&desired);
    plan::build(d, &limits, &dir, Target { api_url: "https://x/api".into(), org: "o".into() })
}

fn plan_of(yaml: &str, groups: &[LiveGroup]) -> Plan {
    plan_with(yaml, groups, &DiffOptions::default())
}

fn kinds(plan: &Plan) -> Vec<String> {
    plan.actions
        .iter()
        .map(|a| match a {
            Action::CreateGuest { email, .. } => format!("invite {email}"),
            Action::CreateGroup { after } => format!("create {}", after.name),
            Action::UpdateGroup { after, renamed_from: Some(old), .. } => format!("rename {old} -> {}", after.name),
            Action::UpdateGroup { after, .. } => format!("update {}", after.name),
            Action::DeleteGroup { before, .. } => format!("delete {}", before.name),
        })
        .collect()
}

#[test]
fn creates_updates_deletes_and_leaves_equal_groups_alone() {
    let yaml = "groups:\n  - name: New\n    members: [u1@example.com]\n  - name: Same\n    members: [u2@example.com, u1@example.com]\n  - name: Changed\n    members: [u3@example.com]\n  - name: Gone\n    absent: true\n  - name: Never existed\n    absent: true\n";
    let groups = [live("a", "Same", &[1, 2], &[]), live("b", "Changed", &[4], &[]), live("c", "Gone", &[5], &[])];
    let p = plan_of(yaml, &groups);
    assert_eq!(kinds(&p), vec!["create New", "update Changed", "delete Gone"]);
    assert_eq!(p.summary.unchanged, 1);
    // "Changed" does not manage its description or guests: apply re-reads it before the PUT.
    assert_eq!(p.summary.api_calls, 4);
    let Action::CreateGroup { after } = &p.actions[0] else { panic!() };
    assert_eq!(after.description, crate::desired::DEFAULT_DESCRIPTION);
    let Action::UpdateGroup { after, .. } = &p.actions[1] else { panic!() };
    assert_eq!(after.members, vec![UserId(3)]);
    assert_eq!(after.description, "Changed description", "an omitted description is kept");
}

#[test]
fn omitted_lists_are_not_managed() {
    let p = plan_of("groups:\n  - name: A\n    description: new words\n", &[live("a", "A", &[1, 2], &["g@p.co"])]);
    let Action::UpdateGroup { after, .. } = &p.actions[0] else { panic!() };
    assert_eq!(after.members, vec![UserId(1), UserId(2)]);
    assert_eq!(after.guests, vec![Email::new("g@p.co")]);
    let p = plan_of("groups:\n  - name: A\n    members: []\n    guests: []\n", &[live("a", "A", &[1, 2], &["g@p.co"])]);
    let Action::UpdateGroup { after, .. } = &p.actions[0] else { panic!() };
    assert!(after.members.is_empty() && after.guests.is_empty());
}

#[test]
fn renames_via_previously_and_case() {
    let yaml = "groups:\n  - name: Onboarding Specialists\n    previously: [Onboarding Team]\n  - name: Finance\n";
    let p = plan_of(yaml, &[live("a", "onboarding team", &[1], &[]), live("b", "FINANCE", &[2], &[])]);
    assert_eq!(kinds(&p), vec!["rename FINANCE -> Finance", "rename onboarding team -> Onboarding Specialists"]);
    let Action::UpdateGroup { id, .. } = &p.actions[1] else { panic!() };
    assert_eq!(id, &GroupId("a".into()));
}

#[test]
fn an_old_name_beside_the_new_one_is_left_alone_with_a_warning() {
    let yaml = "settings:\n  prune: true\ngroups:\n  - name: New\n    previously: [Old]\n";
    let p = plan_of(yaml, &[live("a", "New", &[], &[]), live("b", "Old", &[1], &[])]);
    assert!(p.actions.is_empty(), "{:?}", kinds(&p));
    assert_eq!(p.unmanaged, vec!["Old"]);
    assert!(said(&p.warnings)[0].contains("\"Old\" is listed in `previously` of \"New\""), "{:?}", said(&p.warnings));
}

#[test]
fn prune_ignore_and_unmanaged() {
    let groups = [live("a", "Keep", &[1], &[]), live("b", "Stray", &[2, 3, 4, 5], &[]), live("c", "Temp 1", &[3], &[])];
    let p = plan_of("settings:\n  ignore: ['Temp *']\ngroups:\n  - name: Keep\n", &groups);
    assert!(p.actions.is_empty());
    assert_eq!(p.unmanaged, vec!["Stray"]);
    assert_eq!(p.ignored, vec!["Temp 1"]);
    let p = plan_of("settings:\n  prune: true\n  ignore: ['Temp *']\n  max_removed_ratio: 1\ngroups:\n  - name: Keep\n", &groups);
    assert_eq!(kinds(&p), vec!["delete Stray"]);
    assert!(p.unmanaged.is_empty());
    let Action::DeleteGroup { reason, .. } = &p.actions[0] else { panic!() };
    assert_eq!(*reason, DeleteReason::Pruned);
}

#[test]
fn no_removals_only_adds() {
    let yaml =
        "settings:\n  prune: true\ngroups:\n  - name: A\n    members: [u1@example.com, u3@example.com]\n  - name: B\n    absent: true\n";
    let groups = [live("a", "A", &[1, 2], &[]), live("b", "B", &[1], &[]), live("c", "C", &[1], &[])];
    let p = plan_with(yaml, &groups, &DiffOptions { no_removals: true, ..DiffOptions::default() });
    assert_eq!(kinds(&p), vec!["update A"]);
    let Action::UpdateGroup { after, .. } = &p.actions[0] else { panic!() };
    assert_eq!(after.members, vec![UserId(1), UserId(2), UserId(3)]);
    assert_eq!(said(&p.warnings).len(), 3, "{:?}", said(&p.warnings));
    assert_eq!(p.guard.removed_memberships, 0);
}

#[test]
fn scope_limits_what_is_read_and_changed() {
    let yaml = "settings:\n  prune: true\n  max_removed_ratio: 1\ngroups:\n  - name: Ops A\n    members: [u1@example.com]\n  - name: Dev B\n    members: [u2@example.com]\n";
    let groups =
        [live("a", "Ops A", &[], &[]), live("b", "Dev B", &[], &[]), live("c", "Ops Stray", &[1], &[]), live("d", "Dev Stray", &[1], &[])];
    let only = DiffOptions { scope: Scope::new(&["Ops*".into()], &[]).unwrap(), no_removals: false, keep_going: false };
    let p = plan_with(yaml, &groups, &only);
    assert_eq!(kinds(&p), vec!["update Ops A", "delete Ops Stray"]);
    assert_eq!(p.out_of_scope, 2);
    let exclude = DiffOptions { scope: Scope::new(&[], &["*Stray".into()]).unwrap(), no_removals: false, keep_going: false };
    assert_eq!(kinds(&plan_with(yaml, &groups, &exclude)), vec!["update Dev B", "update Ops A"]);
}

#[test]
fn missing_guests_are_invited_first() {
    let yaml = "groups:\n  - name: A\n    guests: [new@partner.co, known@partner.co, in.group@partner.co]\n";
    let p = plan_of(yaml, &[live("b", "B", &[], &["in.group@partner.co"])]);
    assert_eq!(kinds(&p), vec!["invite new@partner.co", "create A"]);
    assert_eq!(p.summary.guests_to_invite, 1);
}

#[test]
fn the_ratios_denominator_counts_only_memberships_the_plan_could_remove() {
    // An "Everyone" group of 40 listed without `members` cannot lose anyone: it must not dilute
    // the emptying of two teams.
    let yaml = "settings:\n  min_removed_for_ratio: 3\ngroups:\n  - name: Everyone\n  - name: T1\n    members: []\n  - name: T2\n    members: []\n";
    let everyone: Vec<u64> = (1..=40).collect();
    let groups = [live("e", "Everyone", &everyone, &[]), live("t1", "T1", &[1, 2, 3], &[]), live("t2", "T2", &[4, 5], &[])];
    let p = plan_of(yaml, &groups);
    assert_eq!(p.guard.removed_memberships, 5);
    assert_eq!(p.guard.current_memberships, 5, "only the managed lists count");
    assert_eq!(p.guard.tripped.len(), 1, "{:?}", p.guard.tripped);
    assert!(words::guard_trip(&p.guard.tripped[0]).contains("removes 5 of 5 memberships (100%)"));
    // A saved plan recomputes the same denominator at apply.
    let state = crate::model::LiveState { groups: groups.to_vec(), users: users(), guests: Some(vec![]) };
    let saved = crate::saved::parse("plan.json", &crate::saved::to_text(&p)).expect("reads back");
    let again = saved.to_plan(&state).expect("rebuilt");
    assert_eq!((again.guard.removed_memberships, again.guard.current_memberships), (5, 5));
}

#[test]
fn guard_counts_deletes_and_removed_memberships() {
    let mut yaml = String::from("settings:\n  max_deleted_groups: 1\n  min_removed_for_ratio: 3\ngroups:\n");
    for n in ["A", "B"] {
        yaml.push_str(&format!("  - name: {n}\n    absent: true\n"));
    }
    yaml.push_str("  - name: C\n    members: [u1@example.com]\n");
    let groups = [live("a", "A", &[1], &[]), live("b", "B", &[1], &[]), live("c", "C", &[1, 2, 3, 4, 5, 6], &[])];
    let p = plan_of(&yaml, &groups);
    assert_eq!(p.guard.deleted_groups, 2);
    assert_eq!(p.guard.removed_memberships, 7);
    assert_eq!(p.guard.current_memberships, 8);
    assert_eq!(p.guard.tripped.len(), 2, "{:?}", p.guard.tripped);
    assert!(words::guard_trip(&p.guard.tripped[0]).contains("deletes 2 groups, more than max_deleted_groups (1)"));
    assert!(words::guard_trip(&p.guard.tripped[1]).contains("removes 7 of 8 memberships (88%)"));

    // The ratio is for mass removals: replacing a few members of a small group is not one.
    let small = plan_of(&yaml.replace("min_removed_for_ratio: 3", "min_removed_for_ratio: 7"), &groups);
    assert_eq!(small.guard.removed_memberships, 7);
    assert_eq!(small.guard.tripped.len(), 1, "{:?}", small.guard.tripped);
    let default = plan_of(&yaml.replace("  min_removed_for_ratio: 3\n", ""), &groups);
    assert_eq!(default.guard.min_removed_for_ratio, 10);
    assert!(!default.guard.tripped.iter().map(words::guard_trip).any(|t| t.contains("max_removed_ratio")), "{:?}", default.guard.tripped);

    let p = plan_of("settings:\n  prune: true\ngroups: []\n", &[]);
    assert!(p.guard.prune_with_no_groups && p.guard.is_tripped());

    let p = plan_of(
        "groups:\n  - name: C\n    members: [u1@example.com, u2@example.com, u3@example.com, u4@example.com, u5@example.com]\n",
        &groups,
    );
    assert!(!p.guard.is_tripped(), "1 of 6 removed is under 25%: {:?}", p.guard);
}

#[test]
fn output_does_not_depend_on_input_order() {
    let yaml = "settings:\n  prune: true\n  max_removed_ratio: 1\n  max_deleted_groups: 10\ngroups:\n  - name: B\n    members: [u3@example.com, u1@example.com]\n  - name: A\n    members: [u2@example.com]\n";
    let mut groups = vec![live("1", "Z", &[1], &[]), live("2", "B", &[2], &[]), live("3", "Y", &[3], &[]), live("4", "A", &[4], &[])];
    let first = plan_of(yaml, &groups);
    groups.reverse();
    assert_eq!(plan_of(yaml, &groups), first);
}

#[test]
fn baseline_labels_changes() {
    let groups = [live("a", "A", &[1], &[]), live("b", "B", &[1], &[])];
    let base = plan_of("groups:\n  - name: A\n    members: [u2@example.com]\n  - name: B\n    members: [u1@example.com]\n", &groups);
    let mut pr =
        plan_of("groups:\n  - name: A\n    members: [u2@example.com]\n  - name: B\n    members: [u3@example.com]\n  - name: C\n", &groups);
    plan::label_origins(&mut pr, &base);
    use crate::plan::Origin;
    assert_eq!(kinds(&pr), vec!["create C", "update A", "update B"]);
    assert_eq!(pr.origins, vec![Origin::Introduced, Origin::Drift, Origin::Introduced]);
}

#[test]
fn a_second_live_group_under_a_listed_name_is_never_pruned() {
    let yaml = "settings:\n  prune: true\n  max_removed_ratio: 1\ngroups:\n  - name: Team\n    members: [u1@example.com]\n";
    let p = plan_of(yaml, &[live("a", "Team", &[1], &[]), live("b", "TEAM", &[2], &[])]);
    assert!(p.actions.is_empty(), "{:?}", kinds(&p));
    // Not "not in groups.yaml, prune is off": prune is on, and the name is listed.
    assert!(p.unmanaged.is_empty(), "{:?}", p.unmanaged);
    let same = |name: &str, id: &str| SameNameGroup {
        name: name.into(),
        id: GroupId(id.into()),
        matched: "Team".into(),
        matched_id: GroupId("a".into()),
    };
    assert_eq!(p.same_name, vec![same("TEAM", "b")]);
    assert!(
        said(&p.warnings)
            .iter()
            .any(|w| w
                .starts_with("2 live groups share the name \"team\" (ignoring case and Unicode form): \"TEAM\" (id b), \"Team\" (id a)")),
        "{:?}",
        said(&p.warnings)
    );
    for (shown, said) in [
        (crate::render::text::render_plan(&p, false), "\"TEAM\" (id b) shares its name with \"Team\" (id a)"),
        (crate::render::markdown::render_plan(&p), "`TEAM` (id `b`) shares its name with `Team` (id `a`)"),
    ] {
        assert!(!shown.contains("prune is off") && shown.contains(said), "{shown}");
    }
    // Two left beside the matched one; and with prune off, the reason is still the name.
    let yaml = "groups:\n  - name: Team\n";
    let p = plan_of(yaml, &[live("c", "team", &[], &[]), live("a", "Team", &[1], &[]), live("b", "TEAM", &[2], &[])]);
    assert!(p.unmanaged.is_empty(), "{:?}", p.unmanaged);
    assert_eq!(p.same_name, vec![same("TEAM", "b"), same("team", "c")]);
    // Not listed: an ordinary unmanaged group, each of the two.
    let p = plan_of("groups:\n  - name: Other\n", &[live("a", "Team", &[1], &[]), live("b", "TEAM", &[2], &[])]);
    assert_eq!(p.unmanaged, vec!["TEAM", "Team"]);
    assert!(p.same_name.is_empty());
}

#[test]
fn groups_left_alone_with_prune_on_are_not_said_to_be_left_by_prune_being_off() {
    let yaml = "settings:\n  prune: true\ngroups:\n  - name: New\n    previously: [Old]\n";
    let p = plan_of(yaml, &[live("a", "New", &[], &[]), live("b", "Old", &[1], &[])]);
    assert_eq!(p.unmanaged, vec!["Old"]);
    let text = crate::render::text::render_plan(&p, false);
    assert!(!text.contains("prune is off") && text.contains("left alone (see the warnings):"), "{text}");
    let md = crate::render::markdown::render_plan(&p);
    assert!(!md.contains("prune is off") && md.contains("left alone (see the warnings):"), "{md}");
}

#[test]
fn groups_of_out_of_scope_entries_are_out_of_scope() {
    let yaml = "settings:\n  prune: true\n  max_removed_ratio: 1\ngroups:\n  - name: Dev New\n    previously: [Ops Old]\n  - name: Ops A\n";
    let only = DiffOptions { scope: Scope::new(&["Ops*".into()], &[]).unwrap(), no_removals: false, keep_going: false };
    let p = plan_with(yaml, &[live("a", "Ops Old", &[1], &[]), live("b", "Ops A", &[], &[])], &only);
    assert!(p.actions.is_empty(), "the old name of an out-of-scope group is not pruned: {:?}", kinds(&p));
    assert_eq!(p.out_of_scope, 1);
}

fn diff_of(yaml: &str, groups: &[LiveGroup]) -> Diff {
    let desired = load_str("g.yaml", yaml).unwrap_or_else(|e| panic!("{e}"));
    let users = users();
    let dir = Directory::new(&users);
    let resolved = resolve(&desired, &dir, |_| true).unwrap_or_else(|e| panic!("{e}"));
    diff(&desired, &resolved, groups, Some(&[]), &DiffOptions::default())
}

fn unread(mut g: LiveGroup, list: GroupList) -> LiveGroup {
    g.unread.push(Unread { list, problem: crate::model::ListProblem::Null });
    g
}

#[test]
fn a_group_not_read_whole_is_never_written() {
    let partial = || unread(live("a", "Sales", &[], &[]), GroupList::Members);
    // The file manages the unread list: the difference cannot be known.
    let d = diff_of("groups:\n  - name: Sales\n    members: [u1@example.com]\n", &[partial()]);
    assert!(d.updates.is_empty());
    assert_eq!(d.unread.iter().map(|u| u.name.as_str()).collect::<Vec<_>>(), vec!["Sales"]);
    // The file does not manage it, but the PUT would carry it.
    let d = diff_of("groups:\n  - name: Sales\n    description: new\n", &[partial()]);
    assert!(d.updates.is_empty() && d.unread.len() == 1);
    // Deletes, explicit or pruned, are writes too.
    let d = diff_of("groups:\n  - name: Sales\n    absent: true\n", &[partial()]);
    assert!(d.deletes.is_empty() && d.unread.len() == 1);
    let d = diff_of("settings:\n  prune: true\ngroups:\n  - name: Other\n", &[partial()]);
    assert!(d.deletes.is_empty() && d.unread.len() == 1);
    // Nothing to write, and the unread list is not managed: no error.
    let d = diff_of("groups:\n  - name: Sales\n    description: Sales description\n", &[partial()]);
    assert!(d.unread.is_empty() && d.unchanged == vec!["Sales".to_string()]);
    // Left alone (prune off): no error either.
    let d = diff_of("groups:\n  - name: Other\n", &[partial()]);
    assert!(d.unread.is_empty() && d.unmanaged == vec!["Sales".to_string()]);
}

#[test]
fn groups_with_blank_names_or_odd_ids_are_listed_never_touched() {
    let blank = live("b1", " ", &[1], &[]);
    let dotdot = live("..", "Ops", &[1], &[]);
    let slash = live("a/b", "Old", &[1], &[]);
    let groups = [blank, dotdot, slash];
    // prune: never deleted.
    let p = plan_of("settings:\n  prune: true\ngroups:\n  - name: Keep\n", &groups);
    assert_eq!(kinds(&p), vec!["create Keep"]);
    let why: Vec<(String, Unmanageable)> = p.unmanageable.iter().map(|g| (g.id.0.clone(), g.why)).collect();
    assert_eq!(why, vec![("b1".into(), Unmanageable::BlankName), ("a/b".into(), Unmanageable::BadId), ("..".into(), Unmanageable::BadId)]);
    // Never adopted by name, renamed by `previously`, or deleted by `absent`: and never created
    // a second time under the same name either.
    let p = plan_of(
        "groups:\n  - name: Ops\n    members: [u2@example.com]\n  - name: New\n    previously: [Old]\n  - name: x\n    absent: true\n",
        &groups,
    );
    assert_eq!(kinds(&p), Vec::<String>::new());
    assert_eq!(p.unmanageable.len(), 3);
}

fn scope(only: &[&str], exclude: &[&str]) -> DiffOptions {
    let owned = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    DiffOptions { scope: Scope::new(&owned(only), &owned(exclude)).unwrap(), no_removals: false, keep_going: false }
}

#[test]
fn a_previously_name_that_matches_nothing_is_a_warning_with_a_suggestion() {
    let yaml =
        "settings:\n  prune: true\n  max_removed_ratio: 1\ngroups:\n  - name: Onboarding Specialists\n    previously: [Onbaording Team]\n";
    let p = plan_of(yaml, &[live("a", "Onboarding Team", &[1], &[])]);
    // The typo turns a rename into delete-and-recreate: the plan must say so.
    assert_eq!(kinds(&p), vec!["create Onboarding Specialists", "delete Onboarding Team"]);
    let w: Vec<String> = said(&p.warnings).into_iter().filter(|w| w.contains("Onbaording Team")).collect();
    assert_eq!(w.len(), 1, "{:?}", said(&p.warnings));
    assert!(
        w[0].starts_with(
            "g.yaml:6:18: `previously` name \"Onbaording Team\" of \"Onboarding Specialists\" matches no live group, so \"Onboarding Specialists\" is created as a new group"
        ),
        "{}",
        w[0]
    );
    assert!(w[0].ends_with("did you mean \"Onboarding Team\"?"), "{}", w[0]);
    // Nothing close: still a warning, without a suggestion.
    let p = plan_of("groups:\n  - name: A\n    previously: [Zzz]\n", &[live("a", "Onboarding Team", &[1], &[])]);
    assert_eq!(said(&p.warnings).len(), 1, "{:?}", said(&p.warnings));
    assert!(!said(&p.warnings)[0].contains("did you mean"), "{:?}", said(&p.warnings));
    // After the rename the old name matches nothing, as expected: no warning.
    let p = plan_of(yaml, &[live("a", "Onboarding Specialists", &[1], &[])]);
    assert!(said(&p.warnings).is_empty(), "{:?}", said(&p.warnings));
}

#[test]
fn live_groups_out_of_scope_are_never_renamed_updated_or_deleted() {
    // `previously` names a live group outside --only: not renamed, and no twin is created.
    let p = plan_with(
        "groups:\n  - name: Ops New\n    previously: [Legacy Ops]\n",
        &[live("a", "Legacy Ops", &[1], &[])],
        &scope(&["Ops*"], &[]),
    );
    assert!(p.actions.is_empty(), "{:?}", kinds(&p));
    assert_eq!(p.out_of_scope, 1);
    assert!(
        said(&p.warnings)
            .iter()
            .any(|w| w.contains("\"Ops New\" matches the live group \"Legacy Ops\", which is outside --only/--exclude")),
        "{:?}",
        said(&p.warnings)
    );
    // A case-only match outside the scope is neither renamed nor updated.
    let p = plan_with("groups:\n  - name: ops\n    members: [u1@example.com]\n", &[live("a", "OPS", &[2], &[])], &scope(&["ops"], &[]));
    assert!(p.actions.is_empty(), "{:?}", kinds(&p));
    assert!(said(&p.warnings).iter().any(|w| w.contains("\"ops\" matches the live group \"OPS\"")), "{:?}", said(&p.warnings));
    // Nor deleted by `absent: true`.
    let p = plan_with("groups:\n  - name: team\n    absent: true\n", &[live("a", "Team", &[1], &[])], &scope(&[], &["Team"]));
    assert!(p.actions.is_empty(), "{:?}", kinds(&p));
    assert!(said(&p.warnings).iter().any(|w| w.contains("\"team\" matches the live group \"Team\"")), "{:?}", said(&p.warnings));
    // Inside the scope the same files do what they say.
    let p =
        plan_with("groups:\n  - name: ops\n    members: [u1@example.com]\n", &[live("a", "OPS", &[2], &[])], &scope(&["ops", "OPS"], &[]));
    assert_eq!(kinds(&p), vec!["rename OPS -> ops"]);
}

#[test]
fn a_name_that_differs_only_by_invisible_look_alike_or_space_characters_is_warned_about() {
    for desired in ["Sales\\u200BTeam", "Sales\\u200B Team", "Sales  Team", "S\\u0430les Team", "Sales Team\\u202E"] {
        let yaml = format!("groups:\n  - name: \"{desired}\"\n");
        let p = plan_of(&yaml, &[live("a", "Sales Team", &[1], &[])]);
        assert_eq!(p.summary.create, 1, "{desired}: {:?}", kinds(&p));
        assert!(
            said(&p.warnings).iter().any(|w| w.starts_with("g.yaml:2:11: ")
                && w.contains("differs from the live group \"Sales Team\" only by invisible, look-alike or space characters")),
            "{desired}: {:?}",
            said(&p.warnings)
        );
    }
    // A no-break space is a compatibility form of a space (NFKC): the same group, renamed.
    let p = plan_of("groups:\n  - name: \"Sales\\u00A0Team\"\n", &[live("a", "Sales Team", &[1], &[])]);
    assert_eq!(kinds(&p), vec!["rename Sales Team -> Sales\u{a0}Team"]);
    // The other way round: the live name carries the invisible character.
    let p = plan_of("groups:\n  - name: Sales Team\n", &[live("a", "Sales\u{200b} Team", &[1], &[])]);
    assert!(said(&p.warnings).iter().any(|w| w.contains("the live group \"Sales\u{200b} Team\"")), "{:?}", said(&p.warnings));
    // An `absent: true` entry that would silently delete nothing.
    let p = plan_of("groups:\n  - name: \"Sales\\u200BTeam\"\n    absent: true\n", &[live("a", "Sales Team", &[1], &[])]);
    assert!(p.actions.is_empty());
    assert!(said(&p.warnings).iter().any(|w| w.contains("so nothing is deleted")), "{:?}", said(&p.warnings));
    // Genuinely different names are not confusable.
    let p = plan_of("groups:\n  - name: Sales Teams\n", &[live("a", "Sales Team", &[1], &[])]);
    assert!(said(&p.warnings).is_empty(), "{:?}", said(&p.warnings));
}

#[test]
fn a_name_in_another_unicode_form_or_with_compatibility_characters_is_the_same_group() {
    // Deleting and re-creating would give the group a new id: templates that assign the old one
    // would lose it. The same group, at most renamed to the file's form.
    let yaml = "settings:\n  prune: true\n  max_removed_ratio: 1\ngroups:\n  - name: \"Caf\\u00E9\"\n    members: [u1@example.com]\n  - name: finance\n    members: [u2@example.com]\n  - name: \"\\u0130stanbul\"\n    members: [u3@example.com]\n";
    let groups = [live("a", "Cafe\u{301}", &[1], &[]), live("b", "\u{fb01}nance", &[2], &[]), live("c", "I\u{307}stanbul", &[3], &[])];
    let p = plan_of(yaml, &groups);
    assert_eq!(
        kinds(&p),
        vec!["rename Cafe\u{301} -> Café", "rename \u{fb01}nance -> finance", "rename I\u{307}stanbul -> \u{130}stanbul"]
    );
    assert_eq!(p.summary.delete, 0);
    // Two live groups under one such name are a duplicate: neither is touched.
    let p = plan_of(yaml, &[live("a", "Café", &[1], &[]), live("d", "CAFE\u{301}", &[2], &[]), groups[1].clone(), groups[2].clone()]);
    assert!(said(&p.warnings).iter().any(|w| w.contains("2 live groups share the name")), "{:?}", said(&p.warnings));
    assert!(!kinds(&p).iter().any(|k| k.starts_with("delete")), "{:?}", kinds(&p));
    // A dotless capital I is another letter: another group, but the plan says it looks alike.
    let p = plan_of("groups:\n  - name: Istanbul\n", &[live("c", "\u{130}stanbul", &[3], &[])]);
    assert_eq!(kinds(&p), vec!["create Istanbul"]);
    assert!(said(&p.warnings).iter().any(|w| w.contains("only by invisible, look-alike or space characters")), "{:?}", said(&p.warnings));
}

#[test]
fn a_warning_with_a_hint_prints_as_lines_and_live_text_stays_escaped() {
    let mut p = plan_of("groups:\n  - name: Ops\n", &[]);
    let at = crate::warning::At { file: "g.yaml".into(), line: 3, column: 9 };
    p.warnings.push(crate::warning::Warning::DisabledMember { at, email: Email::new("a@b.co"), user: UserId(1), group: "Ops".into() });
    let hostile = "x\nNo changes.".to_string();
    p.warnings.push(crate::warning::Warning::DuplicateLiveNames {
        key: hostile.clone(),
        names: vec![hostile.clone(), hostile],
        ids: vec![GroupId("a".into()), GroupId("b".into())],
    });
    let text = crate::render::text::render_plan(&p, false);
    assert!(
        text.contains(
            "  ! g.yaml:3:9: member a@b.co (user id 1) of \"Ops\" is disabled in Tallyfy: left out\n    hint: remove them from groups.yaml"
        ),
        "{text}"
    );
    assert!(!text.contains("\\n    hint") && !text.contains("\nNo changes.") && text.contains("\"x\\nNo changes.\" (id a)"), "{text}");
    let md = crate::render::markdown::render_plan(&p);
    assert!(md.contains("is disabled in Tallyfy: left out<br>\n  hint: remove them from groups.yaml"), "{md}");
    assert!(!md.contains("\\n    hint") && !md.contains("\nNo changes.") && md.contains("x\\nNo changes."), "{md}");
    // JSON keeps the sentence as one string, its hint after a line break, as before.
    let json = crate::render::json::render_plan(&p);
    assert!(json.contains("left out\\n    hint: remove them"), "{json}");
}

#[test]
fn a_previously_name_of_an_ignored_live_group_says_so_and_names_the_pattern() {
    let yaml = "settings:\n  ignore: ['Temp *', 'Legacy*']\ngroups:\n  - name: Onboarding\n    previously: [legacy onboarding]\n";
    let p = plan_of(yaml, &[live("a", "Legacy Onboarding", &[1], &[])]);
    assert_eq!(kinds(&p), vec!["create Onboarding"]);
    assert_eq!(p.ignored, vec!["Legacy Onboarding"]);
    let w = said(&p.warnings);
    assert_eq!(w.len(), 1, "{w:?}");
    assert_eq!(
        w[0],
        "g.yaml:5:18: `previously` name \"legacy onboarding\" of \"Onboarding\" is the live group \"Legacy Onboarding\", which matches the `ignore` pattern `Legacy*`, so it is not adopted and \"Onboarding\" is created as a new group; remove the pattern or narrow it to rename that group"
    );
    assert!(!w[0].contains("matches no live group"));
}

/// The warnings in words, as every rendering shows them.
fn said(ws: &[crate::warning::Warning]) -> Vec<String> {
    words::warnings(ws)
}

fn members_after(plan: &Plan, group: &str) -> Vec<u64> {
    plan.actions
        .iter()
        .find_map(|a| match a {
            Action::UpdateGroup { after, .. } | Action::CreateGroup { after } if after.name == group => {
                Some(after.members.iter().map(|u| u.0).collect())
            }
            _ => None,
        })
        .unwrap_or_default()
}

#[test]
fn flipping_a_group_from_exact_to_additive_plans_no_removals_in_that_same_run() {
    let live = [live("g1", "Ops", &[1, 2, 3], &["x@partner.co"])];
    let exact = plan_of(
        "groups:\n  - name: Ops\n    description: Ops description\n    members: [u1@example.com, u4@example.com]\n    guests: []\n",
        &live,
    );
    assert_eq!(exact.guard.removed_memberships, 3, "exact removes 2, 3 and the guest");
    let additive = plan_of(
        "groups:\n  - name: Ops\n    description: Ops description\n    sync: additive\n    members: [u1@example.com, u4@example.com]\n    guests: []\n",
        &live,
    );
    assert_eq!(members_after(&additive, "Ops"), [1, 2, 3, 4]);
    assert_eq!(additive.guard.removed_memberships, 0);
    assert_eq!(additive.guard.current_memberships, 0, "an additive group removes nobody, so the guard leaves it out");
    let kept = additive.kept.get("Ops").expect("kept");
    assert_eq!((kept.members, kept.guests, kept.why), (2, 1, KeptWhy::Additive));
    assert_eq!(
        crate::render::kept_line(&additive, "Ops").as_deref(),
        Some("2 live members and 1 live guest not in the file, kept (additive)")
    );
    match &additive.actions[0] {
        Action::UpdateGroup { carried, .. } => assert_eq!((carried.members, carried.guests), (Carry::AddOnly, Carry::AddOnly)),
        other => panic!("{other:?}"),
    }
    // A placeholder: `members: []` adds nobody and removes nobody.
    let placeholder = plan_of("groups:\n  - name: Ops\n    description: Ops description\n    sync: additive\n    members: []\n", &live);
    assert!(placeholder.is_empty(), "{:?}", placeholder.actions);
    assert_eq!(placeholder.scope_counts().additive, 1);
}

#[test]
fn keep_rules_neither_remove_nor_add_the_people_they_match() {
    let live = [live("g1", "Ops", &[1, 2, 11], &["svc-bot@partner.co", "x@partner.co"])];
    let yaml = "groups:\n  - name: Ops\n    description: Ops description\n    members: [u1@example.com, u3@example.com, u12@example.com]\n    guests: []\n    keep: [\"u1?@example.com\", 2, \"svc-*\"]\n";
    let plan = plan_of(yaml, &live);
    // 11 matches `u1?@…` and 2 by id: kept; 12 matches `u1?@…`: listed, but never added; 3 added.
    assert_eq!(members_after(&plan, "Ops"), [1, 2, 3, 11]);
    match &plan.actions[0] {
        Action::UpdateGroup { after, carried, .. } => {
            assert_eq!(after.guests.iter().map(ToString::to_string).collect::<Vec<_>>(), ["svc-bot@partner.co"]);
            assert_eq!(carried.members, Carry::Delta);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(plan.guard.removed_memberships, 1, "only x@partner.co goes");
    // Applied onto a group where someone the rules keep was added since the plan: they stay.
    let Action::UpdateGroup { before, after, carried, .. } = &plan.actions[0] else { unreachable!() };
    let fresh = live_after_hand_edit();
    let body = carried.body(before, after, &fresh);
    assert_eq!(body.members.iter().map(|u| u.0).collect::<Vec<_>>(), [1, 2, 3, 10, 11]);
    // A new group starts without them.
    let created = plan_of("groups:\n  - name: New\n    members: [u1@example.com, u2@example.com]\n    keep: [2]\n", &[]);
    assert_eq!(members_after(&created, "New"), [1]);
}

fn live_after_hand_edit() -> LiveGroup {
    live("g1", "Ops", &[1, 2, 10, 11], &["svc-bot@partner.co", "x@partner.co"])
}

#[test]
fn an_external_group_is_never_written_and_must_exist() {
    let live = [live("g1", "IT Helpdesk", &[1], &[]), live("g2", "Other", &[2], &[])];
    let yaml = "settings:\n  prune: true\ngroups:\n  - name: IT Helpdesk\n    external: true\n  - name: Other\n    description: Other description\n    members: [u2@example.com]\n";
    let plan = plan_of(yaml, &live);
    assert!(plan.is_empty(), "{:?}", plan.actions);
    assert_eq!(plan.external, ["IT Helpdesk"]);
    assert!(plan.unmanaged.is_empty(), "not pruned, not unmanaged");
    let c = plan.scope_counts();
    assert_eq!((c.exact, c.external), (1, 1));
    let desired = load_str("g.yaml", "groups:\n  - name: Gone\n    external: true\n").expect("valid");
    let users = users();
    let err = crate::pipeline::make_plan(
        &desired,
        &crate::model::LiveState { groups: Vec::new(), users, guests: None },
        &DiffOptions::default(),
        Target { api_url: "x".into(), org: "o".into() },
    )
    .expect_err("missing");
    assert!(err.to_string().starts_with("\"Gone\" is `external: true` but does not exist in Tallyfy, so nothing is planned"), "{err}");
    for (yaml, message) in [
        ("groups:\n  - name: X\n    external: true\n    members: []\n", "an `external: true` group cannot have `members`"),
        ("groups:\n  - name: X\n    sync: additive\n    keep: [1]\n", "`keep` with `sync: additive`"),
        ("groups:\n  - name: X\n    sync: sometimes\n", "`sync` must be"),
        (
            "groups:\n  - name: X\n    sync: additive\n    members: [{email: a@b.co, until: 2026-01-01}]\n",
            "`until` on a@b.co in a `sync: additive` group, which removes nobody",
        ),
    ] {
        let e = load_str("g.yaml", yaml).expect_err("refused");
        assert!(e.to_string().contains(message), "{yaml}: {e}");
    }
}
