use super::*;
use crate::date::Date;
use crate::desired::load_str;
use crate::diff::DiffOptions;
use crate::model::{GroupId, LiveGroup, LiveState, User, UserStatus};
use crate::plan::Target;

fn live() -> LiveState {
    let mut users: Vec<User> = (1..=8)
        .map(|i| User {
            id: UserId(i),
            email: Email::new(&format!("u{i}@example.com")),
            first_name: "U".into(),
            last_name: i.to_string(),
            status: UserStatus::Active,
        })
        .collect();
    users.push(User {
        id: UserId(9),
        email: Email::new("x@contractor.io"),
        first_name: "X".into(),
        last_name: "C".into(),
        status: UserStatus::Active,
    });
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
            group("g-adm", "Admins", &[1]),
            group("g-itops", "IT Ops", &[2]),
            group("g-fin", "Finance AP", &[1, 2, 3, 4, 5, 6]),
            group("g-old", "Legacy", &[7]),
        ],
        users,
        guests: Some(Vec::new()),
    }
}

fn plan_of(yaml: &str) -> Plan {
    let mut desired = load_str("groups.yaml", yaml).expect("valid groups file");
    let (expiry, problems) = crate::expiry::evaluate(&mut desired, Date::parse("2026-12-01").expect("date"));
    assert!(problems.is_empty(), "{problems:?}");
    let _expanded = crate::desired::expand(&mut desired, &Default::default(), false).expect("expands");
    let mut plan = crate::pipeline::make_plan(&desired, &live(), &DiffOptions::default(), Target { api_url: "x".into(), org: "o".into() })
        .expect("plan");
    plan.expiry = expiry;
    plan
}

fn context() -> Context {
    let mut names: Vec<String> = live().groups.iter().map(|g| g.name.clone()).collect();
    names.extend(["Finance AR".to_string(), "Partners".to_string()]);
    Context { names, declared: BTreeMap::from([(name_key("Finance AP"), "groups.yaml:2:5".to_string())]) }
}

fn policy(yaml: &str) -> Policy {
    parse("policy.yaml", yaml).unwrap_or_else(|e| panic!("valid policy: {e}"))
}

fn violations(policy_yaml: &str, groups_yaml: &str) -> Vec<Violation> {
    evaluate(&policy(policy_yaml), &plan_of(groups_yaml), &context(), &[]).expect("evaluates").violations
}

const FIN_GROWS: &str = "groups:
  - name: Finance AP
    description: d
    members: [u1@example.com, u2@example.com, u3@example.com, u4@example.com, u5@example.com, u6@example.com, u7@example.com, u8@example.com]
";

#[test]
fn max_and_min_members_judge_the_group_as_the_plan_leaves_it() {
    let found =
        violations("rules:\n  - id: finance-size\n    groups: [\"finance *\"]\n    max_members: 7\n    min_members: 2\n", FIN_GROWS);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].rule, "finance-size");
    assert_eq!(found[0].group, "Finance AP");
    assert_eq!(found[0].kind, ViolationKind::TooManyMembers { count: 8, max: 7 });
    assert_eq!(found[0].at.as_deref(), Some("groups.yaml:2:5"), "a group's violation points at its declaration");
    let shrinks = "groups:\n  - name: Finance AP\n    description: d\n    members: [u1@example.com]\n";
    let found = violations("rules:\n  - id: finance-size\n    groups: [\"Finance *\"]\n    min_members: 2\n", shrinks);
    assert_eq!(found.iter().map(|v| &v.kind).collect::<Vec<_>>(), [&ViolationKind::TooFewMembers { count: 1, min: 2 }]);
}

#[test]
fn a_group_the_plan_leaves_alone_is_not_judged() {
    // Finance AP has 6 people and stays as it is: only Admins changes.
    let yaml = "groups:
  - name: Finance AP
    description: d
    members: [u1@example.com, u2@example.com, u3@example.com, u4@example.com, u5@example.com, u6@example.com]
  - name: Admins
    description: d
    members: [u1@example.com, u2@example.com]
";
    assert!(violations("rules:\n  - id: small\n    groups: [\"Finance *\"]\n    max_members: 3\n", yaml).is_empty());
}

#[test]
fn member_domains_allow_and_deny_and_point_at_the_entry() {
    let yaml = "groups:\n  - name: IT Ops\n    description: d\n    members: [u2@example.com, x@contractor.io]\n";
    let found = violations("rules:\n  - id: company\n    groups: [\"*\"]\n    member_domains: [example.com]\n", yaml);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].subject.as_deref(), Some("x@contractor.io"));
    assert_eq!(found[0].kind, ViolationKind::MemberDomain { domain: "contractor.io".into() });
    assert_eq!(found[0].at.as_deref(), Some("groups.yaml:4:31"), "the entry that grants the member");
    let found = violations("rules:\n  - id: no-contractors\n    groups: [\"*\"]\n    deny_member_domains: [\"@Contractor.io\"]\n", yaml);
    assert_eq!(found.len(), 1);
    assert!(violations("rules:\n  - id: fine\n    groups: [\"*\"]\n    member_domains: [example.com, contractor.io]\n", yaml).is_empty());
}

#[test]
fn guest_domains_and_guests_require_until() {
    let yaml = "groups:
  - name: Partners
    description: d
    guests:
      - a@partner.com
      - {email: b@partner.com, until: 2026-12-31, reason: audit}
      - c@elsewhere.org
";
    let found = violations("rules:\n  - id: partners\n    groups: [Partners]\n    guest_domains: [partner.com]\n", yaml);
    assert_eq!(found.iter().map(|v| v.subject.as_deref()).collect::<Vec<_>>(), [Some("c@elsewhere.org")]);
    let found = violations("rules:\n  - id: temporary\n    groups: [\"*\"]\n    guests_require_until: true\n", yaml);
    let subjects: Vec<_> = found.iter().map(|v| v.subject.as_deref().unwrap_or_default()).collect();
    assert_eq!(subjects, ["a@partner.com", "c@elsewhere.org"], "b has an until");
    assert!(found.iter().all(|v| v.kind == ViolationKind::GuestWithoutUntil));
}

#[test]
fn forbid_delete_catches_absent_prune_and_removal_from_the_file() {
    let rules = "rules:\n  - id: keep-core\n    forbid_delete: [Admins, \"IT *\"]\n";
    let absent = "groups:\n  - name: Admins\n    absent: true\n";
    let found = violations(rules, absent);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].kind, ViolationKind::ForbiddenDelete { reason: DeleteReason::Absent });
    // Removed from a file that prunes: Admins and IT Ops (and Legacy, unprotected) go.
    let pruned = "settings:\n  prune: true\n  max_deleted_groups: 10\n  max_removed_ratio: 1.0\ngroups:\n  - name: Finance AP\n    description: d\n    members: [u1@example.com, u2@example.com, u3@example.com, u4@example.com, u5@example.com, u6@example.com]\n";
    let found = violations(rules, pruned);
    let groups: Vec<_> = found.iter().map(|v| v.group.as_str()).collect();
    assert_eq!(groups, ["Admins", "IT Ops"]);
    assert!(found.iter().all(|v| v.kind == ViolationKind::ForbiddenDelete { reason: DeleteReason::Pruned }));
}

#[test]
fn a_rename_moves_a_group_under_a_rule_and_away_from_one() {
    // Legacy becomes "Finance AR" with 3 people: judged by the Finance rule under its new name.
    let yaml = "groups:\n  - name: Finance AR\n    previously: [Legacy]\n    description: d\n    members: [u7@example.com, u8@example.com, u1@example.com]\n";
    let found = violations("rules:\n  - id: finance-size\n    groups: [\"Finance *\"]\n    max_members: 2\n", yaml);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].group, "Finance AR");
    // Admins renamed to a name the rule does not protect is a deletion of "Admins" in all but name.
    let away = "groups:\n  - name: Former admins\n    previously: [Admins]\n    description: d\n    members: [u1@example.com]\n";
    let found = violations("rules:\n  - id: keep-core\n    forbid_delete: [Admins]\n", away);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].kind, ViolationKind::RenamedAway { to: "Former admins".into() });
}

#[test]
fn changes_and_removals_per_group_count_people() {
    // Finance AP: 6 → u1 only: 5 removals.
    let yaml = "groups:\n  - name: Finance AP\n    description: d\n    members: [u1@example.com, u7@example.com]\n";
    let found =
        violations("rules:\n  - id: small-steps\n    groups: [\"*\"]\n    max_changes_per_group: 5\n    max_removals_per_group: 4\n", yaml);
    let kinds: Vec<_> = found.iter().map(|v| v.kind.clone()).collect();
    assert_eq!(kinds, [ViolationKind::TooManyChanges { count: 6, max: 5 }, ViolationKind::TooManyRemovals { count: 5, max: 4 }]);
    // A deleted group's people are its removals.
    let gone = "groups:\n  - name: Finance AP\n    absent: true\n";
    let found = violations("rules:\n  - id: small-steps\n    groups: [\"Finance *\"]\n    max_removals_per_group: 5\n", gone);
    assert_eq!(found[0].kind, ViolationKind::TooManyRemovals { count: 6, max: 5 });
}

#[test]
fn overrides_mark_their_rule_and_unknown_ones_fail() {
    let p = policy("rules:\n  - id: finance-size\n    groups: [\"Finance *\"]\n    max_members: 7\n");
    let plan = plan_of(FIN_GROWS);
    let allow = [PolicyOverride { rule: "finance-size".into(), reason: "quarter close".into() }];
    let report = evaluate(&p, &plan, &context(), &allow).expect("evaluates");
    assert_eq!(report.violations.len(), 1);
    assert!(report.violations[0].overridden);
    assert_eq!(report.blocking().count(), 0);
    assert_eq!(report.overrides, allow);
    let typo = [PolicyOverride { rule: "finance-sise".into(), reason: "x".into() }];
    let err = evaluate(&p, &plan, &context(), &typo).expect_err("an override of no rule fails");
    assert!(err.to_string().contains("--allow-policy names rule `finance-sise`"), "{err}");
    assert!(err.to_string().contains("its rules are: finance-size"), "{err}");
}

#[test]
fn a_glob_that_matches_no_group_fails_closed_at_its_line() {
    let p =
        policy("rules:\n  - id: finance-size\n    groups: [\"Finanse *\"]\n    max_members: 7\n  - id: keep\n    forbid_delete: [Admin]\n");
    let err = evaluate(&p, &plan_of(FIN_GROWS), &context(), &[]).expect_err("typos fail");
    let text = err.to_string();
    assert!(text.contains("policy.yaml:3:14: rule `finance-size`: \"Finanse *\" matches no group, live or in the files"), "{text}");
    assert!(text.contains("policy.yaml:6:21: rule `keep`: \"Admin\" matches no group"), "{text}");
}

#[test]
fn a_bad_policy_file_says_every_problem_where_it_is() {
    let text = "rules:\n  - id: a\n    forbid_delete: [x]\n  - id: a\n    max_members: 3\n    groups: [y]\n  - groups: [z]\n    max_member: 3\n  - id: d\n    groups: [\"*\"]\n    member_domains: [\"not a domain\"]\n  - id: e\n    groups: [\"*\"]\n    min_members: 5\n    max_members: 2\n  - id: f\n    forbid_delete: []\n";
    let err = parse("policy.yaml", text).expect_err("invalid");
    let shown = err.to_string();
    for expected in [
        "policy.yaml:4:5: rule id `a` is used twice (first on line 2)",
        "policy.yaml:8:5: unknown key `max_member`",
        "`not a domain` is not an email domain",
        "min_members (5) is more than max_members (2)",
        "`forbid_delete` is empty",
    ] {
        assert!(shown.contains(expected), "missing {expected:?} in:\n{shown}");
    }
    let missing = parse("policy.yaml", "rules:\n  - groups: [x]\n    max_members: 1\n").expect_err("no id");
    assert!(missing.to_string().contains("a rule has no `id`"), "{missing}");
    let unchecked = parse("policy.yaml", "rules:\n  - id: nothing\n").expect_err("no check");
    assert!(unchecked.to_string().contains("rule `nothing` checks nothing"), "{unchecked}");
    let idle = parse("policy.yaml", "rules:\n  - id: idle\n    groups: [x]\n    forbid_delete: [y]\n").expect_err("groups unused");
    assert!(idle.to_string().contains("rule `idle` names `groups` but checks nothing about them"), "{idle}");
    let empty = parse("policy.yaml", "rules: []\n").expect_err("empty");
    assert!(empty.to_string().contains("`rules` is empty"), "{empty}");
}

#[test]
fn the_checksum_is_of_the_file_bytes() {
    let a = policy("rules:\n  - id: k\n    forbid_delete: [Admins]\n");
    let b = policy("rules:\n  - id: k\n    forbid_delete: [Admins] # same rule\n");
    assert!(a.checksum.starts_with("sha256:") && a.checksum.len() == 71);
    assert_ne!(a.checksum, b.checksum);
}

#[test]
fn a_rename_does_not_take_a_group_out_of_the_rules_of_its_old_name() {
    // Finance AP renamed out of "Finance *" and emptied in the same change.
    let yaml = "groups:\n  - name: Approvers (old)\n    previously: [Finance AP]\n    description: d\n    members: [u1@example.com]\n    guests: [evil@gmail.com]\n";
    let found = violations(
        "rules:\n  - id: fin\n    groups: [\"Finance *\"]\n    max_removals_per_group: 1\n    min_members: 3\n    guest_domains: [example.com]\n",
        yaml,
    );
    let kinds: Vec<_> = found.iter().map(|v| (v.group.as_str(), v.kind.clone())).collect();
    assert!(kinds.contains(&("Approvers (old)", ViolationKind::TooFewMembers { count: 2, min: 3 })), "{kinds:?}");
    assert!(kinds.contains(&("Approvers (old)", ViolationKind::TooManyRemovals { count: 5, max: 1 })), "{kinds:?}");
    assert!(kinds.contains(&("Approvers (old)", ViolationKind::GuestDomain { domain: "gmail.com".into() })), "{kinds:?}");
}

#[test]
fn a_guest_needs_an_until_on_every_entry_that_grants_them() {
    // Typed without an end, and from a source with one: the typed entry still grants for ever.
    let yaml = "sources:\n  aud: {list: [a@partner.com]}\ngroups:\n  - name: Partners\n    description: d\n    guests:\n      - a@partner.com\n      - {source: aud, until: 2099-12-31}\n";
    let found = violations("rules:\n  - id: temporary\n    groups: [Partners]\n    guests_require_until: true\n", yaml);
    assert_eq!(found.iter().map(|v| v.subject.as_deref()).collect::<Vec<_>>(), [Some("a@partner.com")]);
    // The other way round: a dated typed entry, and a source without an end.
    let yaml = "sources:\n  aud: {list: [a@partner.com]}\ngroups:\n  - name: Partners\n    description: d\n    guests:\n      - {email: a@partner.com, until: 2099-12-31}\n      - {source: aud}\n";
    assert_eq!(violations("rules:\n  - id: temporary\n    groups: [Partners]\n    guests_require_until: true\n", yaml).len(), 1);
    // Both dated: kept.
    let yaml = "sources:\n  aud: {list: [a@partner.com]}\ngroups:\n  - name: Partners\n    description: d\n    guests:\n      - {email: a@partner.com, until: 2099-12-31}\n      - {source: aud, until: 2099-06-30}\n";
    assert!(violations("rules:\n  - id: temporary\n    groups: [Partners]\n    guests_require_until: true\n", yaml).is_empty());
}

#[test]
fn a_denied_domain_denies_its_subdomains_and_look_alike_forms() {
    let yaml = "groups:\n  - name: Partners\n    description: d\n    guests: [x@mail.gmail.com, y@ｇmail.com, z@notgmail.com]\n";
    let found = violations("rules:\n  - id: no-gmail\n    groups: [Partners]\n    deny_guest_domains: [gmail.com]\n", yaml);
    let subjects: Vec<_> = found.iter().filter_map(|v| v.subject.as_deref()).collect();
    assert_eq!(subjects.len(), 2, "{found:?}");
    assert!(subjects.contains(&"x@mail.gmail.com"), "{subjects:?}");
    assert!(!subjects.contains(&"z@notgmail.com"), "another domain that ends alike is not a subdomain");
    // An allow-list does not let subdomains in.
    let found = violations("rules:\n  - id: only-partner\n    groups: [Partners]\n    guest_domains: [gmail.com]\n", yaml);
    assert_eq!(found.iter().filter_map(|v| v.subject.as_deref()).collect::<Vec<_>>(), ["x@mail.gmail.com", "z@notgmail.com"]);
}

#[test]
fn a_check_that_cannot_fire_is_no_check_and_an_override_is_given_once() {
    for text in [
        "rules:\n  - id: idle\n    groups: [x]\n    guests_require_until: false\n",
        "rules:\n  - id: idle\n    groups: [x]\n    min_members: 0\n",
    ] {
        let err = parse("policy.yaml", text).expect_err("checks nothing");
        assert!(err.to_string().contains("rule `idle`"), "{err}");
    }
    let p = policy("rules:\n  - id: finance-size\n    groups: [\"Finance *\"]\n    max_members: 7\n");
    let twice = [
        PolicyOverride { rule: "finance-size".into(), reason: "one".into() },
        PolicyOverride { rule: "finance-size".into(), reason: "two".into() },
    ];
    let err = evaluate(&p, &plan_of(FIN_GROWS), &context(), &twice).expect_err("twice");
    assert!(err.to_string().contains("--allow-policy names rule `finance-size` twice"), "{err}");
}

#[test]
fn a_renamed_away_violation_points_at_the_new_declaration() {
    let away = "groups:\n  - name: Former admins\n    previously: [Admins]\n    description: d\n    members: [u1@example.com]\n";
    let mut ctx = context();
    ctx.declared.insert(name_key("Former admins"), "groups.yaml:2:11".into());
    let found = evaluate(&policy("rules:\n  - id: keep-core\n    forbid_delete: [Admins]\n"), &plan_of(away), &ctx, &[])
        .expect("judged")
        .violations;
    assert_eq!(found[0].at.as_deref(), Some("groups.yaml:2:11"));
}
