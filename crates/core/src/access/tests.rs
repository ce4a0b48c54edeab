//! Unit tests of the access report: its rows (granted, not_in_file, pending; where each is
//! declared, its source, its `until`, its scope), their order, `--only`, a partial read, and
//! the CSV (formula cells neutralised) and JSON writings.

use std::collections::BTreeMap;

use super::*;
use crate::desired::{expand, load_str};
use crate::model::{GroupId, GroupList, Guest, ListProblem, Unread, UserStatus};

const FILES: &str = r#"settings:
  ignore: ["Legacy*"]
sources:
  leads:
    list: [carol@example.com]
groups:
  - name: Engineering
    members:
      - alice@example.com
      - {email: bob@example.com, until: 2030-12-31}
      - {source: leads}
    guests:
      - {email: auditor@firm.example, until: 2030-06-30, first_name: Ann, last_name: Lee}
  - name: Contractors
    sync: additive
    members: [dave@example.com]
  - name: Audit
    members:
      - {group: Engineering, until: 2030-03-31}
      - bob@example.com
  - name: Support
    description: Second line.
  - name: New Team
    members: [alice@example.com, nobody@example.com]
"#;

fn user(id: u64, email: &str, first: &str, last: &str) -> User {
    User { id: UserId(id), email: Email::new(email), first_name: first.into(), last_name: last.into(), status: UserStatus::Active }
}

fn group(id: &str, name: &str, members: &[u64], guests: &[&str]) -> LiveGroup {
    LiveGroup {
        id: GroupId(id.into()),
        name: name.into(),
        description: String::new(),
        members: members.iter().map(|&m| UserId(m)).collect(),
        guests: guests.iter().map(|g| Email::new(g)).collect(),
        unread: Vec::new(),
    }
}

fn live() -> LiveState {
    LiveState {
        groups: vec![
            group("g1", "Engineering", &[1, 2, 5], &["auditor@firm.example"]),
            group("g2", "Contractors", &[4, 5], &[]),
            group("g3", "Audit", &[1], &[]),
            group("g4", "Legacy Ops", &[2], &[]),
            group("g5", "Sales", &[3], &["guest@partner.example"]),
            group("g6", "Support", &[1], &[]),
        ],
        users: vec![
            user(1, "alice@example.com", "Alice", "Nguyen"),
            user(2, "bob@example.com", "Bob", "Stone"),
            user(3, "carol@example.com", "Carol", ""),
            user(4, "dave@example.com", "", ""),
            user(5, "eve@example.com", "=HYPERLINK(\"http://x\",\"y\")", ""),
        ],
        guests: Some(vec![Guest { email: Email::new("auditor@firm.example"), first_name: "Ann".into(), last_name: "Lee".into() }]),
    }
}

fn desired(text: &str, as_of: &str) -> DesiredState {
    let mut state = load_str("groups.yaml", text).unwrap_or_else(|d| panic!("valid input expected:\n{d}"));
    let _ = crate::expiry::evaluate(&mut state, Date::parse(as_of).expect("a day"));
    let _ = expand(&mut state, &BTreeMap::new(), false).expect("expands");
    state
}

fn report(only: &[&str]) -> Vec<AccessRow> {
    let only: Vec<String> = only.iter().map(ToString::to_string).collect();
    let selection = Selection::new(&only, &[]).expect("globs");
    rows(&desired(FILES, "2030-01-01"), &live(), &selection).expect("rows")
}

fn find<'a>(rows: &'a [AccessRow], group: &str, email: &str) -> &'a AccessRow {
    rows.iter()
        .find(|r| r.group == group && r.email.as_ref().map(Email::as_str) == Some(email))
        .unwrap_or_else(|| panic!("no row {group} {email}: {rows:#?}"))
}

#[test]
fn live_people_the_files_grant_are_granted_with_where_they_are_declared() {
    let rows = report(&[]);
    let alice = find(&rows, "Engineering", "alice@example.com");
    assert_eq!(alice.status, Status::Granted);
    assert_eq!(alice.user_id, Some(UserId(1)));
    assert_eq!(alice.name.as_deref(), Some("Alice Nguyen"));
    assert_eq!(alice.declared_at.as_deref(), Some("groups.yaml:9:9"));
    assert_eq!((alice.source.as_deref(), alice.until, alice.scope), (None, None, Scope::Exact));
}

#[test]
fn live_people_the_files_do_not_list_are_not_in_file_rows() {
    let rows = report(&[]);
    let eve = find(&rows, "Engineering", "eve@example.com");
    assert_eq!((eve.status, eve.scope), (Status::NotInFile, Scope::Exact));
    assert_eq!((eve.declared_at.as_deref(), eve.source.as_deref(), eve.until), (None, None, None));
    // An additive group keeps them, and says so by its scope.
    let eve = find(&rows, "Contractors", "eve@example.com");
    assert_eq!((eve.status, eve.scope), (Status::NotInFile, Scope::Additive));
    // Groups the files do not list: every member and guest is a row.
    let sales: Vec<_> = rows.iter().filter(|r| r.group == "Sales").map(|r| (r.kind, r.status, r.scope)).collect();
    assert_eq!(sales, [(Kind::Member, Status::NotInFile, Scope::Unmanaged), (Kind::Guest, Status::NotInFile, Scope::Unmanaged)]);
    let legacy = find(&rows, "Legacy Ops", "bob@example.com");
    assert_eq!((legacy.status, legacy.scope), (Status::NotInFile, Scope::Ignored));
    // A listed group whose members the files leave out: unmanaged.
    let support = find(&rows, "Support", "alice@example.com");
    assert_eq!((support.status, support.scope), (Status::NotInFile, Scope::Unmanaged));
}

#[test]
fn a_person_a_source_yielded_names_the_source() {
    let rows = report(&[]);
    // Carol is granted by the `leads` source but is not in Engineering yet: pending.
    let carol = find(&rows, "Engineering", "carol@example.com");
    assert_eq!((carol.status, carol.source.as_deref(), carol.user_id), (Status::Pending, Some("leads"), Some(UserId(3))));
    assert_eq!(carol.declared_at.as_deref(), Some("groups.yaml:4:3"), "where the source is defined");
}

#[test]
fn until_is_the_last_day_of_the_entry_and_of_an_include() {
    let rows = report(&[]);
    let bob = find(&rows, "Engineering", "bob@example.com");
    assert_eq!((bob.status, bob.until.map(|d| d.to_string())), (Status::Granted, Some("2030-12-31".into())));
    let guest = find(&rows, "Engineering", "auditor@firm.example");
    assert_eq!((guest.kind, guest.status, guest.name.as_deref()), (Kind::Guest, Status::Granted, Some("Ann Lee")));
    assert_eq!(guest.until.map(|d| d.to_string()).as_deref(), Some("2030-06-30"));
    // Audit includes Engineering until 2030-03-31: Alice through it; Bob also has an entry of his
    // own without an end.
    let alice = find(&rows, "Audit", "alice@example.com");
    assert_eq!((alice.status, alice.until.map(|d| d.to_string()).as_deref()), (Status::Granted, Some("2030-03-31")));
    let bob = find(&rows, "Audit", "bob@example.com");
    assert_eq!((bob.status, bob.until), (Status::Pending, None));
}

#[test]
fn an_entry_whose_day_has_passed_grants_nothing() {
    let rows = rows(&desired(FILES, "2031-01-01"), &live(), &Selection::default()).expect("rows");
    let bob = find(&rows, "Engineering", "bob@example.com");
    assert_eq!((bob.status, bob.until), (Status::NotInFile, None));
}

#[test]
fn people_granted_who_are_not_live_yet_are_pending() {
    let rows = report(&[]);
    let new_team: Vec<_> = rows
        .iter()
        .filter(|r| r.group == "New Team")
        .map(|r| (r.email.as_ref().map(Email::as_str), r.user_id, r.status, r.scope))
        .collect();
    assert_eq!(
        new_team,
        [
            (Some("alice@example.com"), Some(UserId(1)), Status::Pending, Scope::Exact),
            (Some("nobody@example.com"), None, Status::Pending, Scope::Exact),
        ]
    );
}

#[test]
fn rows_are_sorted_by_group_kind_and_person() {
    let rows = report(&[]);
    let mut sorted = rows.clone();
    sorted.sort();
    assert_eq!(rows, sorted);
    let groups: Vec<&str> = rows.iter().map(|r| r.group.as_str()).collect();
    let mut expected = groups.clone();
    expected.sort();
    assert_eq!(groups, expected);
    let eng: Vec<_> = rows.iter().filter(|r| r.group == "Engineering").map(|r| (r.kind, r.email.as_ref().map(Email::as_str))).collect();
    assert_eq!(
        eng,
        [
            (Kind::Member, Some("alice@example.com")),
            (Kind::Member, Some("bob@example.com")),
            (Kind::Member, Some("carol@example.com")),
            (Kind::Member, Some("eve@example.com")),
            (Kind::Guest, Some("auditor@firm.example")),
        ]
    );
    // The same state, the same bytes.
    assert_eq!(to_csv(&rows), to_csv(&report(&[])));
}

#[test]
fn only_selects_groups_by_name() {
    let rows = report(&["Eng*", "Audit"]);
    let groups: BTreeSet<&str> = rows.iter().map(|r| r.group.as_str()).collect();
    assert_eq!(groups.into_iter().collect::<Vec<_>>(), ["Audit", "Engineering"]);
}

#[test]
fn a_group_not_read_whole_fails_the_report_unless_left_out() {
    let mut state = live();
    state.groups[4].unread = vec![Unread { list: GroupList::Members, problem: ListProblem::Null }];
    let files = desired(FILES, "2030-01-01");
    let err = rows(&files, &state, &Selection::default()).expect_err("a partial read fails");
    assert_eq!(err.0.len(), 1);
    let text = err.to_string();
    assert!(text.starts_with("cannot report access"), "{text}");
    assert!(text.contains("group \"Sales\" (id g5): `members` was null"), "{text}");
    assert!(text.contains("hint: run again later"), "{text}");
    // Outside --only, it is not read into the report.
    let only = Selection::new(&["Eng*".to_string()], &[]).expect("glob");
    assert!(rows(&files, &state, &only).is_ok());
}

#[test]
fn a_formula_in_a_name_is_neutralised_in_csv() {
    let csv = to_csv(&report(&[]));
    let line = csv.lines().find(|l| l.starts_with("Engineering,member,eve@example.com")).expect("eve's row");
    assert_eq!(line, "Engineering,member,eve@example.com,5,\"'=HYPERLINK(\"\"http://x\"\",\"\"y\"\")\",not_in_file,,,,exact");
    for (cell, written) in [
        ("=1+2", "\"'=1+2\""),
        ("+1", "\"'+1\""),
        ("-1", "\"'-1\""),
        ("@SUM(A1)", "\"'@SUM(A1)\""),
        ("\tx", "\"'\tx\""),
        ("\rx", "\"'\rx\""),
        ("a,b", "\"a,b\""),
        ("say \"hi\"", "\"say \"\"hi\"\"\""),
        ("plain", "plain"),
        ("a=b", "a=b"),
    ] {
        assert_eq!(csv_cell(cell), written, "{cell:?}");
    }
}

#[test]
fn a_group_can_be_external_or_absent() {
    let text = "groups:\n  - name: Engineering\n    external: true\n  - name: Sales\n    absent: true\n";
    let mut state = desired(text, "2030-01-01");
    state.external_members.insert(name_key("Engineering"), vec![UserId(1)]);
    let rows = rows(&state, &live(), &Selection::default()).expect("rows");
    let eng = find(&rows, "Engineering", "alice@example.com");
    assert_eq!((eng.status, eng.scope), (Status::NotInFile, Scope::External));
    let sales = find(&rows, "Sales", "carol@example.com");
    assert_eq!((sales.status, sales.scope), (Status::NotInFile, Scope::Absent));
    // Under prune, a group the files do not list is to be deleted.
    let pruned = desired("settings:\n  prune: true\ngroups: []\n", "2030-01-01");
    let rows = super::rows(&pruned, &live(), &Selection::default()).expect("rows");
    assert_eq!(find(&rows, "Sales", "carol@example.com").scope, Scope::Absent);
}

#[test]
fn csv_snapshot() {
    insta::assert_snapshot!(to_csv(&report(&[])));
}

#[test]
fn json_snapshot() {
    insta::assert_snapshot!(to_json(&report(&["Engineering"]), "sandbox", Date::parse("2030-01-01").expect("a day")));
}
