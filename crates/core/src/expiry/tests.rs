use super::*;
use crate::desired::load_str;
use crate::diff::DiffOptions;
use crate::model::{LiveGroup, LiveState, User, UserStatus};
use crate::plan::{Plan, Target};

fn day(text: &str) -> Date {
    Date::parse(text).expect("a date")
}

fn live() -> LiveState {
    let users = ["alice", "bob", "carol"]
        .iter()
        .enumerate()
        .map(|(i, n)| User {
            id: UserId(1 + i as u64),
            email: Email::new(&format!("{n}@example.com")),
            first_name: n.to_string(),
            last_name: "X".into(),
            status: UserStatus::Active,
        })
        .collect();
    LiveState {
        groups: vec![LiveGroup {
            id: crate::model::GroupId("g1".into()),
            name: "Audit 2026".into(),
            description: "d".into(),
            members: [UserId(1), UserId(2), UserId(3)].into_iter().collect(),
            guests: [Email::new("auditor@firm.example")].into_iter().collect(),
            unread: Vec::new(),
        }],
        users,
        guests: Some(vec![crate::model::Guest {
            email: Email::new("auditor@firm.example"),
            first_name: "A".into(),
            last_name: "L".into(),
        }]),
    }
}

const AUDIT: &str = "groups:
  - name: Audit 2026
    description: d
    members:
      - alice@example.com
      - {email: bob@example.com, until: 2026-12-31, reason: TICKET-42}
      - {id: 3, until: 2027-03-31}
    guests:
      - {email: auditor@firm.example, until: 2026-12-20, first_name: Ann, last_name: Lee}
";

/// The plan of `yaml` as of `as_of`, with the report.
fn plan_as_of(yaml: &str, as_of: &str) -> (Plan, ExpiryReport, Vec<Diagnostic>) {
    let mut desired = load_str("groups.yaml", yaml).expect("valid");
    let (report, problems) = evaluate(&mut desired, day(as_of));
    let mut plan = crate::pipeline::make_plan(&desired, &live(), &DiffOptions::default(), Target { api_url: "x".into(), org: "o".into() })
        .expect("plan");
    plan.expiry = report.clone();
    (plan, report, problems)
}

fn removed(plan: &Plan) -> (Vec<u64>, Vec<String>) {
    let mut members = Vec::new();
    let mut guests = Vec::new();
    for a in &plan.actions {
        if let crate::plan::Action::UpdateGroup { before, after, .. } = a {
            let c = crate::plan::MembershipChange::between(Some(before), Some(after));
            members.extend(c.members_removed.iter().map(|u| u.0));
            guests.extend(c.guests_removed.iter().map(|g| g.to_string()));
        }
    }
    (members, guests)
}

#[test]
fn the_until_day_itself_still_grants_access_and_the_day_after_does_not() {
    let (plan, report, problems) = plan_as_of(AUDIT, "2026-12-20");
    assert!(problems.is_empty(), "{problems:?}");
    assert!(plan.is_empty(), "on the guest's last day nothing changes: {:?}", plan.actions);
    assert!(report.expired.is_empty());
    let (plan, report, _) = plan_as_of(AUDIT, "2026-12-21");
    assert_eq!(removed(&plan), (vec![], vec!["auditor@firm.example".to_string()]));
    assert_eq!(report.expired.len(), 1);
    assert_eq!(report.expired[0].days, -1);
    let (plan, _, _) = plan_as_of(AUDIT, "2027-01-01");
    assert_eq!(removed(&plan), (vec![2], vec!["auditor@firm.example".to_string()]));
    let (plan, report, _) = plan_as_of(AUDIT, "2027-04-01");
    assert_eq!(removed(&plan), (vec![2, 3], vec!["auditor@firm.example".to_string()]));
    assert_eq!(report.expired.iter().map(ExpiryNote::who).collect::<Vec<_>>(), ["auditor@firm.example", "bob@example.com", "user id 3"]);
    assert!(
        report
            .expired_member("Audit 2026", UserId(2), Some(&Email::new("bob@example.com")))
            .is_some_and(|n| n.reason.as_deref() == Some("TICKET-42"))
    );
    assert!(report.ongoing.is_empty(), "nothing left with a day");
}

#[test]
fn entries_within_the_warning_window_are_expiring_soon_without_changing_anything() {
    let (plan, report, _) = plan_as_of(AUDIT, "2026-12-17");
    assert!(plan.is_empty());
    let soon: Vec<(String, i64)> = report.expiring.iter().map(|n| (n.who(), n.days)).collect();
    assert_eq!(soon, [("auditor@firm.example".to_string(), 3), ("bob@example.com".to_string(), 14)]);
    assert_eq!(report.ongoing.len(), 3, "every entry with a day is recorded");
    // The window is a setting.
    let narrow = format!("settings:\n  expiry_warning_days: 3\n{AUDIT}");
    let (_, report, _) = plan_as_of(&narrow, "2026-12-17");
    assert_eq!(report.expiring.iter().map(ExpiryNote::who).collect::<Vec<_>>(), ["auditor@firm.example"]);
}

#[test]
fn a_person_granted_by_two_entries_one_expired_stays() {
    let yaml = "groups:
  - name: Audit 2026
    description: d
    members:
      - alice@example.com
      - bob@example.com
      - {group: Contractors, until: 2026-06-30}
    guests:
      - auditor@firm.example
  - name: Contractors
    description: c
    members: [bob@example.com, carol@example.com]
";
    let (plan, report, _) = plan_as_of(yaml, "2026-12-01");
    // carol came only through Contractors: removed; bob is typed too: stays.
    assert_eq!(removed(&plan), (vec![3], vec![]));
    assert_eq!(report.expired[0].who(), "group \"Contractors\"");
}

#[test]
fn limits_on_days_and_guests_without_a_day_are_errors_where_they_are_written() {
    let yaml = "settings:
  max_guest_days: 90
  max_member_days: 365
groups:
  - name: Audit 2026
    description: d
    members:
      - {email: bob@example.com, until: 2028-01-01}
    guests:
      - auditor@firm.example
      - {email: second@firm.example, until: 2026-12-31}
";
    let (_, _, problems) = plan_as_of(yaml, "2026-12-01");
    let said: Vec<String> = problems.iter().map(ToString::to_string).collect();
    assert_eq!(said.len(), 2, "{said:#?}");
    assert!(
        said[0].starts_with(
            "groups.yaml:8:41: `until: 2028-01-01` of bob@example.com in \"Audit 2026\" is 396 days away, more than max_member_days (365"
        ),
        "{said:#?}"
    );
    assert!(said[1].starts_with("groups.yaml:10:9: a guest of \"Audit 2026\" has no `until`, and max_guest_days (90"), "{said:#?}");
}

#[test]
fn an_overdue_review_is_reported_and_an_error_only_when_asked() {
    let yaml = "groups:
  - name: Audit 2026
    description: d
    members: [alice@example.com]
    review: {every_days: 90, last: 2026-09-01}
";
    let (_, report, problems) = plan_as_of(yaml, "2026-11-30");
    assert!(report.overdue_reviews.is_empty() && problems.is_empty(), "due on 2026-11-30 itself");
    let (plan, report, problems) = plan_as_of(yaml, "2026-12-03");
    assert!(problems.is_empty());
    assert_eq!((report.overdue_reviews[0].due, report.overdue_reviews[0].days_overdue), (day("2026-11-30"), 3));
    // An overdue review never removes anyone.
    assert_eq!(removed(&plan), (vec![2, 3], vec![]), "only what the file says: bob and carol are not listed");
    let strict = format!("settings:\n  overdue_review: error\n{yaml}");
    let (_, _, problems) = plan_as_of(&strict, "2026-12-03");
    assert_eq!(problems.len(), 1);
    assert!(
        problems[0]
            .to_string()
            .contains("the review of \"Audit 2026\" is overdue: last 2026-09-01, every 90 days, due 2026-11-30 (3 days ago)"),
        "{}",
        problems[0]
    );
}

#[test]
fn dates_that_are_not_days_and_reasons_without_a_day_are_refused_with_their_place() {
    for (entry, message) in [
        ("{email: bob@example.com, until: 2026-02-30}", "groups.yaml:5:41: `until`: `2026-02-30` is not a day of the calendar"),
        ("{email: bob@example.com, until: next week}", "`until`: `next week` is not a date: write it as YYYY-MM-DD"),
        ("{email: bob@example.com, reason: TICKET-1}", "`reason` without `until`"),
        ("{email: 1005, until: 2026-12-31}", "`email: 1005` is a user id, not an email address"),
        ("{id: bob@example.com}", "`id: bob@example.com` is not a user id"),
        ("{email: bob@example.com, source: hr}", "a member entry has both `email` and `source`"),
    ] {
        let yaml = format!("groups:\n  - name: G\n    description: d\n    members:\n      - {entry}\n");
        let problems = load_str("groups.yaml", &yaml).expect_err("refused");
        assert!(problems.to_string().contains(message), "{entry}: {problems}");
    }
}
