//! Unit tests of sources: their grammar, the `{source}` and `{group}` entries and their checks
//! across files, and the expansion with its provenance.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use super::*;
use crate::source::{
    CommandSpec, CsvSpec, EntraSpec, GoogleSpec, LdapBind, LdapSpec, Missing, OktaSpec, Person, Provenance, ScimSpec, SourceFailure,
    SourceKind, SourceRead, Unknown,
};
use crate::warning::{At, Warning};

fn errors(text: &str) -> Vec<String> {
    match load_str("g.yaml", text) {
        Ok(_) => Vec::new(),
        Err(d) => d.0.iter().map(|d| d.to_string()).collect(),
    }
}

fn ok(text: &str) -> DesiredState {
    match load_str("g.yaml", text) {
        Ok(s) => s,
        Err(d) => panic!("expected valid input, got:\n{d}"),
    }
}

fn load_files(files: &[(&str, &str)]) -> Result<DesiredState, Diagnostics> {
    load(files.iter().map(|(name, text)| Source { name: name.to_string(), bytes: text.as_bytes().to_vec() }).collect())
}

/// Asserts that `text` fails with exactly these messages (each a prefix of one diagnostic, in order).
#[track_caller]
fn fails(text: &str, expected: &[&str]) {
    let e = errors(text);
    assert_eq!(e.len(), expected.len(), "{e:#?}");
    for (got, want) in e.iter().zip(expected) {
        assert!(got.starts_with(want), "got {got:?}\nwant prefix {want:?}");
    }
}

const EVERY_KIND: &str = r#"sources:
  finance-hr:
    csv: {path: hr/finance.csv, column: email, where: {status: active}}
  approvers:
    command: [./scripts/approvers.sh, --team, finance]
    timeout: 30
    env: [APPROVERS_TOKEN]
  engineering:
    ldap:
      url: ldaps://ldap.example.com
      base: ou=people,dc=example,dc=com
      filter: (memberOf=cn=eng,ou=groups,dc=example,dc=com)
      bind_dn_env: LDAP_BIND_DN
      password_env: LDAP_PASSWORD
      missing: skip
    unknown: warn
  leads:
    list: [cto@example.com, CFO@example.com]
    allow_empty: true
  auditors:
    list: [audit@partner.example]
groups:
  - name: Finance Leads
    members: [{source: leads}]
  - name: Finance
    members:
      - cfo@example.com
      - source: finance-hr
      - {source: approvers}
      - source: engineering
      - group: finance leads
    guests:
      - source: auditors
      - {email: x@y.com, first_name: X}
"#;

#[test]
fn every_kind_of_source_is_read_with_its_defaults() {
    let s = load_str("conf/groups.yaml", EVERY_KIND).expect("valid");
    let names: Vec<&str> = s.sources.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["approvers", "auditors", "engineering", "finance-hr", "leads"]);
    let by = |n: &str| s.source(n).expect(n);
    assert_eq!(
        by("finance-hr").kind,
        SourceKind::Csv(CsvSpec {
            path: PathBuf::from("conf/hr/finance.csv"),
            column: "email".into(),
            filter: BTreeMap::from([("status".to_string(), "active".to_string())]),
        })
    );
    assert_eq!(by("finance-hr").dir, PathBuf::from("conf"));
    assert_eq!((by("finance-hr").at.line, by("finance-hr").at.column), (2, 3));
    assert_eq!(
        by("approvers").kind,
        SourceKind::Command(CommandSpec {
            argv: vec!["./scripts/approvers.sh".into(), "--team".into(), "finance".into()],
            timeout: Duration::from_secs(30),
            env: vec!["APPROVERS_TOKEN".into()],
        })
    );
    assert_eq!(
        by("engineering").kind,
        SourceKind::Ldap(LdapSpec {
            url: "ldaps://ldap.example.com".into(),
            starttls: false,
            base: "ou=people,dc=example,dc=com".into(),
            filter: "(memberOf=cn=eng,ou=groups,dc=example,dc=com)".into(),
            attribute: "mail".into(),
            bind: Some(LdapBind { dn_env: "LDAP_BIND_DN".into(), password_env: "LDAP_PASSWORD".into() }),
            missing: Missing::Skip,
        })
    );
    assert_eq!(by("engineering").unknown, Unknown::Warn);
    assert_eq!(by("approvers").unknown, Unknown::Error);
    let SourceKind::List(list) = &by("leads").kind else { panic!("a list") };
    let emails: Vec<&str> = list.iter().map(|(e, _)| e.as_str()).collect();
    assert_eq!(emails, ["cto@example.com", "cfo@example.com"]);
    assert_eq!(list[1].1.to_string(), "conf/groups.yaml:18:29");
    assert!(by("leads").allow_empty && !by("auditors").allow_empty);

    let finance = &s.groups[1];
    let refs = |v: &[Located<String>]| v.iter().map(|r| format!("{}@{}", r.value, r.at)).collect::<Vec<_>>();
    assert_eq!(
        refs(&finance.member_sources),
        ["finance-hr@conf/groups.yaml:28:17", "approvers@conf/groups.yaml:29:18", "engineering@conf/groups.yaml:30:17"]
    );
    assert_eq!(refs(&finance.member_groups), ["finance leads@conf/groups.yaml:31:16"]);
    assert_eq!(refs(&finance.guest_sources), ["auditors@conf/groups.yaml:33:17"]);
    assert_eq!(finance.members.as_ref().map(Vec::len), Some(1));
    assert_eq!(finance.guests.as_ref().map(Vec::len), Some(1));
    assert!(s.warnings.is_empty(), "{:?}", s.warnings);
    let used: Vec<&str> = s.used_sources().iter().map(|s| s.name.as_str()).collect();
    assert_eq!(used, names);
}

#[test]
fn a_command_takes_the_default_timeout_and_a_bare_file_name_the_current_folder() {
    let s = ok(
        "sources:\n  a:\n    command: [date]\n  b:\n    csv: {path: x.csv, column: mail}\ngroups:\n  - name: G\n    members: [{source: a}, {source: b}]\n",
    );
    let SourceKind::Command(c) = &s.sources[0].kind else { panic!("a command") };
    assert_eq!(c.timeout, Duration::from_secs(60));
    assert!(c.env.is_empty());
    assert_eq!(s.sources[1].dir, PathBuf::from("."));
    assert_eq!(
        s.sources[1].kind,
        SourceKind::Csv(CsvSpec { path: PathBuf::from("./x.csv"), column: "mail".into(), filter: BTreeMap::new() })
    );
}

#[test]
fn a_source_reads_exactly_one_thing() {
    fails(
        "sources:\n  a:\n    allow_empty: true\n  b:\n    csv: {path: x.csv, column: e}\n    list: [a@b.co]\ngroups: []\n",
        &[
            "g.yaml:3:5: source `a` says nothing to read\n    hint: give it one of `csv`, `command`, `ldap`, `list`, `okta`, `entra`, `google` or `scim`",
            "g.yaml:6:11: source `b` has both `csv` and `list`\n    hint: a source reads one thing",
        ],
    );
}

#[test]
fn timeout_and_env_belong_to_a_command() {
    fails(
        "sources:\n  a:\n    list: [a@b.co]\n    timeout: 5\n    env: [X]\n  b:\n    command: [x]\n    timeout: 0\ngroups:\n  - name: G\n    members: [{source: a}, {source: b}]\n",
        &[
            "g.yaml:4:14: `timeout` is for a `command` source only\n    hint: remove `timeout` from source `a`",
            "g.yaml:5:10: `env` is for a `command` source only",
            "g.yaml:8:14: `timeout` must be at least 1 second",
        ],
    );
    fails(
        "sources:\n  a:\n    command: []\n  b:\n    command: [x]\n    env: [NOT-A-NAME]\ngroups: []\n",
        &["g.yaml:3:14: `command` is empty", "g.yaml:6:11: `NOT-A-NAME` is not the name of an environment variable"],
    );
}

#[test]
fn ldap_rules_are_checked_where_they_are_written() {
    fails(
        "sources:\n  a:\n    ldap: {url: https://x, base: b, filter: f}\n  b:\n    ldap: {url: ldaps://x, starttls: true, base: b, filter: f}\n  c:\n    ldap: {url: ldap://x, base: b, filter: f, bind_dn_env: DN}\n  d:\n    ldap: {url: ldap://x, starttls: true}\ngroups: []\n",
        &[
            "g.yaml:3:17: `url` must start with ldap:// or ldaps://, found `https://x`",
            "g.yaml:5:38: `starttls` upgrades an ldap:// connection; an ldaps:// one is encrypted already",
            "g.yaml:7:60: `bind_dn_env` needs `password_env` too\n    hint: add `password_env`, or remove `bind_dn_env` for an anonymous bind",
            "g.yaml:9:11: `ldap` needs `base`",
            "g.yaml:9:11: `ldap` needs `filter`",
        ],
    );
    let s = ok(
        "sources:\n  a:\n    ldap: {url: ldap://x, starttls: true, base: b, filter: f, attribute: uid}\ngroups:\n  - name: G\n    members: [{source: a}]\n",
    );
    let SourceKind::Ldap(l) = &s.sources[0].kind else { panic!("ldap") };
    assert!(l.starttls && l.bind.is_none() && l.missing == Missing::Error);
    assert_eq!(l.attribute, "uid");
}

#[test]
fn csv_needs_a_path_and_a_column_and_a_list_needs_emails() {
    fails(
        "sources:\n  a:\n    csv: {path: x.csv}\n  b:\n    list: [a@b.co, not-an-email, A@b.co]\ngroups: []\n",
        &[
            "g.yaml:3:10: `csv` needs `column`",
            "g.yaml:5:20: `not-an-email` in source `b` is not an email address",
            "g.yaml:5:34: a@b.co is listed twice in source `b` (first on line 5)",
        ],
    );
}

#[test]
fn unknown_keys_of_sources_and_entries_get_hints() {
    fails(
        "sources:\n  a:\n    comand: [x]\n    list: [a@b.co]\n    unknown: ignore\n  b:\n    csv: {path: x.csv, colum: e}\n  c:\n    ldap: {url: ldap://x, base: b, filter: f, passwd_env: P}\ngroups:\n  - name: G\n    members: [{sorce: a}]\n    guests: [{source: a, first_name: A}]\n",
        &[
            "g.yaml:3:5: unknown source key `comand`\n    hint: did you mean `command`?",
            "g.yaml:5:14: `unknown` must be `error` or `warn`, found `ignore`",
            "g.yaml:7:10: `csv` needs `column`",
            "g.yaml:7:24: unknown `csv` key `colum`\n    hint: did you mean `column`?",
            "g.yaml:9:47: unknown `ldap` key `passwd_env`\n    hint: did you mean `password_env`?",
            "g.yaml:12:15: a member written as a mapping needs `email`, `id`, `source` or `group`",
            "g.yaml:12:16: unknown member key `sorce`\n    hint: did you mean `source`?",
            "g.yaml:13:38: a guest entry with `source` cannot have `first_name`",
        ],
    );
}

#[test]
fn an_entry_names_one_thing() {
    fails(
        "sources:\n  a:\n    list: [a@b.co]\ngroups:\n  - name: G\n    members:\n      - {source: a, group: H}\n      - {source: a}\n      - source: a\n      - group: ''\n    guests: [{source: a, email: x@y.co}]\n  - name: H\n    members: []\n",
        &[
            "g.yaml:7:9: a member entry has both `source` and `group`",
            "g.yaml:9:17: source `a` is listed twice in this list (first on line 8)",
            "g.yaml:10:16: `group` is empty",
            "g.yaml:11:33: a guest entry with `source` cannot have `email`",
        ],
    );
}

#[test]
fn source_names_are_unique_across_files() {
    let e = load_files(&[
        ("a.yaml", "sources:\n  hr:\n    list: [a@b.co]\ngroups:\n  - name: A\n    members: [{source: hr}]\n"),
        ("b.yaml", "groups: []\nsources:\n  hr:\n    list: [c@d.co]\n"),
    ])
    .expect_err("a duplicate");
    assert_eq!(e.0.len(), 1, "{e}");
    assert_eq!(
        e.0[0].to_string(),
        "b.yaml:3:3: source `hr` is defined twice (first at a.yaml:2:3)\n    hint: source names are unique across all files; rename one of them"
    );
    // A source of one file serves the groups of another.
    let s = load_files(&[
        ("a.yaml", "sources:\n  hr:\n    list: [a@b.co]\ngroups: []\n"),
        ("b.yaml", "groups:\n  - name: A\n    members: [{source: hr}]\n"),
    ])
    .expect("valid");
    assert_eq!(s.used_sources().len(), 1);
    assert_eq!(s.files, ["a.yaml", "b.yaml"]);
}

#[test]
fn a_reference_to_nothing_is_an_error_with_the_closest_name() {
    fails(
        "sources:\n  finance-hr:\n    list: [a@b.co]\ngroups:\n  - name: Finance Leads\n    members: []\n  - name: G\n    members: [{source: finance_hr}, {group: Finance Lead}, {source: payroll}, {group: Nobody At All}]\n    guests: [{source: financehr}]\n",
        &[
            "g.yaml:8:24: source `finance_hr` is not defined\n    hint: did you mean `finance-hr`?",
            "g.yaml:8:45: group \"Finance Lead\" is not defined in these files\n    hint: did you mean \"Finance Leads\"?",
            "g.yaml:8:69: source `payroll` is not defined\n    hint: define it under `sources:`; the sources are `finance-hr`",
            "g.yaml:8:87: group \"Nobody At All\" is not defined in these files\n    hint: `group:` names another group",
            "g.yaml:9:23: source `financehr` is not defined\n    hint: did you mean `finance-hr`?",
        ],
    );
}

#[test]
fn an_included_group_must_manage_its_members_and_exist() {
    fails(
        "groups:\n  - name: A\n    members: [{group: b}, {group: C}]\n  - name: B\n    description: members not managed\n  - name: C\n    absent: true\n",
        &[
            "g.yaml:3:23: group \"B\" does not manage its members (it has no `members:`), so there is nothing to include",
            "g.yaml:3:35: group \"C\" is `absent: true`: it has no members to include",
        ],
    );
    fails(
        "groups:\n  - name: A\n    guests: [{group: B}]\n  - name: B\n    members: []\n",
        &[
            "g.yaml:3:14: a guest written as a mapping needs `email` (or `source`)",
            "g.yaml:3:15: unknown guest key `group`\n    hint: `group:` is written under `members` only",
        ],
    );
}

#[test]
fn cycles_are_named_whole() {
    fails(
        "groups:\n  - name: A\n    members: [{group: B}]\n  - name: B\n    members: [{group: C}]\n  - name: C\n    members: [x@y.co, {group: a}]\n  - name: D\n    members: [{group: D}, {group: A}]\n",
        &[
            "g.yaml:3:23: groups include each other in a cycle: \"A\" → \"B\" → \"C\" → \"A\"",
            "g.yaml:9:23: groups include each other in a cycle: \"D\" → \"D\"",
        ],
    );
}

#[test]
fn an_unused_source_is_a_warning() {
    let s = ok("sources:\n  spare:\n    list: [a@b.co]\ngroups: []\n");
    assert_eq!(s.warnings, [Warning::UnusedSource { at: At { file: "g.yaml".into(), line: 2, column: 3 }, source: "spare".into() }]);
    assert!(s.used_sources().is_empty());
    // An `absent` group cannot use one (it has no members), so nothing else counts as a use.
    let s = ok("sources:\n  s:\n    list: [a@b.co]\ngroups:\n  - name: G\n    guests: [{source: s}]\n");
    assert!(s.warnings.is_empty() && s.names_guests());
}

// ---- Expansion -------------------------------------------------------------------------------

const TEAMS: &str = r#"sources:
  hr:
    csv: {path: hr.csv, column: email}
  eng:
    ldap: {url: ldaps://ldap.example.com, base: b, filter: f}
    unknown: warn
  leads:
    list: [cto@example.com]
groups:
  - name: Leads
    members: [ann@example.com, {source: leads}]
  - name: Finance
    members:
      - ann@example.com
      - source: hr
      - source: eng
      - group: leads
    guests: [{source: hr}, g@partner.example]
  - name: Board
    members: [{group: Finance}]
  - name: Typed
    members: [bob@example.com]
"#;

fn person(email: &str, line: Option<usize>) -> Person {
    Person { email: Email::new(email), line }
}

fn read(people: &[(&str, Option<usize>)]) -> SourceRead {
    SourceRead { people: people.iter().map(|(e, l)| person(e, *l)).collect(), warnings: Vec::new() }
}

fn reads() -> BTreeMap<String, Result<SourceRead, SourceFailure>> {
    BTreeMap::from([
        ("hr".to_string(), Ok(read(&[("dana@example.com", Some(14)), ("ann@example.com", Some(2))]))),
        ("eng".to_string(), Ok(read(&[("dana@example.com", None), ("eve@example.com", None)]))),
    ])
}

fn group<'s>(s: &'s DesiredState, name: &str) -> &'s GroupExpansion {
    s.groups.iter().find(|g| g.name.value == name).and_then(|g| g.expanded.as_ref()).expect(name)
}

/// Each member as "email: origin, origin".
fn members_of(e: &GroupExpansion) -> Vec<String> {
    e.members
        .iter()
        .flatten()
        .map(|m| {
            format!(
                "{}: {}",
                m.value,
                m.origins
                    .iter()
                    .map(|o| match o {
                        Provenance::Static { at } => at.clone(),
                        other => other.to_string(),
                    })
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })
        .collect()
}

fn csv(source: &str, line: usize) -> Provenance {
    Provenance::Source { kind: "csv", source: source.into(), line: Some(line) }
}

#[test]
fn expansion_is_the_union_each_person_once_with_every_origin() {
    let mut s = ok(TEAMS);
    assert_eq!(s.used_sources().iter().map(|s| s.name.as_str()).collect::<Vec<_>>(), ["eng", "hr", "leads"]);
    let e = expand(&mut s, &reads(), false).expect("expands");
    assert_eq!(e, Expansion::default());
    assert_eq!(
        members_of(group(&s, "Finance")),
        [
            "ann@example.com: g.yaml:11:15, g.yaml:14:9, csv:hr:2",
            "cto@example.com: list:leads",
            "dana@example.com: csv:hr:14, ldap:eng",
            "eve@example.com: ldap:eng",
        ]
    );
    // Transitively, with the origins of the included groups' people.
    assert_eq!(members_of(group(&s, "Board")), members_of(group(&s, "Finance")));
    assert_eq!(group(&s, "Board").sources.iter().collect::<Vec<_>>(), ["eng", "hr", "leads"]);
    let guests: Vec<(String, Vec<Provenance>)> =
        group(&s, "Finance").guests.iter().flatten().map(|g| (g.value.to_string(), g.origins.clone())).collect();
    assert_eq!(
        guests,
        [
            ("ann@example.com".to_string(), vec![csv("hr", 2)]),
            ("dana@example.com".to_string(), vec![csv("hr", 14)]),
            ("g@partner.example".to_string(), vec![Provenance::Static { at: "g.yaml:18:28".into() }]),
        ]
    );
    // Where a message points, and who may be left out with a warning.
    let finance = group(&s, "Finance").members.as_ref().expect("members");
    assert_eq!(finance[0].at.to_string(), "g.yaml:14:9", "a typed entry of the group itself");
    assert_eq!(finance[2].at.to_string(), "g.yaml:2:3", "where the first source is defined");
    assert_eq!(finance[2].unknown, Unknown::Error, "one origin that must resolve is enough");
    assert_eq!(finance[3].unknown, Unknown::Warn);
    assert_eq!(group(&s, "Finance").people_from_sources(), 4 + 2);
    assert_eq!(members_of(group(&s, "Typed")), ["bob@example.com: g.yaml:22:15"]);
}

#[test]
fn a_failed_or_missing_read_fails_the_expansion_naming_every_source() {
    let mut s = ok(TEAMS);
    let mut r = reads();
    r.insert(
        "hr".into(),
        Err(SourceFailure { name: "hr".into(), kind: "csv", at: s.sources[1].at.clone(), reason: "hr.csv: no such file".into() }),
    );
    r.remove("eng");
    let before = s.clone();
    let e = expand(&mut s, &r, false).expect_err("fails");
    let ExpandError::SourcesFailed(failed) = &e;
    assert_eq!(failed.iter().map(|f| f.name.as_str()).collect::<Vec<_>>(), ["eng", "hr"]);
    assert_eq!(
        e.to_string(),
        "2 sources could not be read, so nothing is planned:\n  source eng (ldap, defined at g.yaml:4:3): it was not read (nothing came back for it), and a source that was not read is never taken for empty\n  source hr (csv, defined at g.yaml:2:3): hr.csv: no such file\n    hint: fix them and run again; --keep-going plans every group that does not use them and leaves those untouched"
    );
    assert_eq!(s, before, "nothing is expanded");
}

#[test]
fn nobody_from_a_source_is_a_failure_unless_allowed() {
    let text = "sources:\n  a:\n    csv: {path: a.csv, column: e}\n  b:\n    csv: {path: b.csv, column: e}\n    allow_empty: true\ngroups:\n  - name: G\n    members: [{source: a}, {source: b}]\n";
    let empty = BTreeMap::from([("a".to_string(), Ok(read(&[]))), ("b".to_string(), Ok(read(&[])))]);
    let ExpandError::SourcesFailed(failed) = expand(&mut ok(text), &empty, false).expect_err("a is empty");
    assert_eq!(failed.len(), 1);
    assert!(failed[0].reason.contains("allow_empty: true"), "{}", failed[0].reason);
    let mut s = ok(text);
    let fine = BTreeMap::from([("a".to_string(), Ok(read(&[("x@y.co", Some(2))]))), ("b".to_string(), Ok(read(&[])))]);
    let _ = expand(&mut s, &fine, false).expect("b may be empty");
    assert_eq!(members_of(group(&s, "G")), ["x@y.co: csv:a:2"]);
}

#[test]
fn keep_going_leaves_only_the_groups_that_use_a_failed_source_untouched() {
    let mut s = ok(TEAMS);
    let mut r = reads();
    r.remove("eng");
    let e = expand(&mut s, &r, true).expect("keeps going");
    assert_eq!(e.failed.iter().map(|f| f.name.as_str()).collect::<Vec<_>>(), ["eng"]);
    assert_eq!(e.untouched, ["Finance", "Board"], "Board uses eng through `group: Finance`");
    let finance = group(&s, "Finance");
    assert!(finance.members.is_none() && finance.guests.is_none());
    assert_eq!(finance.failed.len(), 1);
    assert_eq!(members_of(group(&s, "Leads")), ["ann@example.com: g.yaml:11:15", "cto@example.com: list:leads"]);
}

#[test]
fn what_a_read_left_out_becomes_a_warning_of_the_state() {
    let mut s = ok(TEAMS);
    let mut r = reads();
    r.insert(
        "eng".into(),
        Ok(SourceRead { people: vec![person("eve@example.com", None)], warnings: vec!["uid=x has no mail: skipped".into()] }),
    );
    let _ = expand(&mut s, &r, false).expect("expands");
    assert_eq!(
        s.warnings,
        [Warning::SourceSkipped { source: "eng".into(), source_kind: "ldap".into(), message: "uid=x has no mail: skipped".into() }]
    );
}

mod order {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        /// The people a source yields may come in any order, and one file's groups in any
        /// order: the expansion is the same.
        #[test]
        fn expansion_does_not_depend_on_the_order_of_reads_or_groups(
            hr in proptest::collection::btree_set(0u8..12, 1..8),
            eng in proptest::collection::btree_set(0u8..12, 1..8),
            seed in any::<u64>(),
        ) {
            let people = |set: &std::collections::BTreeSet<u8>, line: bool| -> Vec<Person> {
                set.iter().map(|n| person(&format!("p{n}@example.com"), line.then_some(usize::from(*n) + 2))).collect()
            };
            let as_read = |v: Vec<Person>| Ok(SourceRead { people: v, warnings: Vec::new() });
            let mut hr_people = people(&hr, true);
            let mut eng_people = people(&eng, false);
            let forward = BTreeMap::from([("hr".to_string(), as_read(hr_people.clone())), ("eng".to_string(), as_read(eng_people.clone()))]);
            let rotate = (seed % 8) as usize;
            hr_people.reverse();
            let n = eng_people.len();
            eng_people.rotate_left(rotate % n);
            let shuffled = BTreeMap::from([("hr".to_string(), as_read(hr_people)), ("eng".to_string(), as_read(eng_people))]);
            let mut a = ok(TEAMS);
            let mut b = ok(TEAMS);
            b.groups.reverse();
            let _ = expand(&mut a, &forward, false).expect("a");
            let _ = expand(&mut b, &shuffled, false).expect("b");
            for name in ["Leads", "Finance", "Board", "Typed"] {
                prop_assert_eq!(group(&a, name), group(&b, name));
            }
            // Expanding again changes nothing.
            let once = a.clone();
            let _ = expand(&mut a, &forward, false).expect("again");
            prop_assert_eq!(&a.groups, &once.groups);
        }
    }
}

#[test]
fn identity_providers_parse_with_their_defaults() {
    let s = ok(r#"sources:
  finance-okta:
    okta:
      url: https://example.okta.com/
      group_id: 00g1abcd2EFGH3ijk4x7
      token_env: OKTA_API_TOKEN
  eng:
    entra:
      tenant: contoso.onmicrosoft.com
      group_id: 2f1c6a8e-0d3b-4a57-9c61-7e2b5d4f9a10
      client_id_env: AZURE_CLIENT_ID
      client_secret_env: AZURE_CLIENT_SECRET
  sales:
    google: {group: sales@example.com, token_env: GOOGLE_ACCESS_TOKEN}
  contractors:
    scim: {url: "http://127.0.0.1:8080/scim/v2", group_id: 7d0c, token_env: SCIM_TOKEN, missing: skip}
  login-okta:
    okta: {url: "https://example.okta.com", group_id: g, token_env: T, attribute: login, missing: skip}
  upn:
    entra: {tenant: t, group_id: g, client_id_env: I, client_secret_env: S, transitive: false, attribute: userPrincipalName,
            authority_url: "https://login.microsoftonline.us", graph_url: "https://graph.microsoft.us/"}
  direct:
    google: {group: g, token_env: T, derived: false, directory_url: "http://localhost:9000"}
groups:
  - name: G
    members: [{source: finance-okta}, {source: eng}, {source: sales}, {source: contractors}, {source: login-okta}, {source: upn}, {source: direct}]
"#);
    let kinds: BTreeMap<&str, &SourceKind> = s.sources.iter().map(|s| (s.name.as_str(), &s.kind)).collect();
    assert_eq!(
        kinds["finance-okta"],
        &SourceKind::Okta(OktaSpec {
            url: "https://example.okta.com".into(),
            group_id: "00g1abcd2EFGH3ijk4x7".into(),
            token_env: "OKTA_API_TOKEN".into(),
            login: false,
            missing: Missing::Error,
        })
    );
    assert_eq!(
        kinds["eng"],
        &SourceKind::Entra(EntraSpec {
            tenant: "contoso.onmicrosoft.com".into(),
            group_id: "2f1c6a8e-0d3b-4a57-9c61-7e2b5d4f9a10".into(),
            client_id_env: "AZURE_CLIENT_ID".into(),
            client_secret_env: "AZURE_CLIENT_SECRET".into(),
            transitive: true,
            user_principal_name: false,
            missing: Missing::Error,
            authority_url: "https://login.microsoftonline.com".into(),
            graph_url: "https://graph.microsoft.com".into(),
        })
    );
    assert_eq!(
        kinds["sales"],
        &SourceKind::Google(GoogleSpec {
            group: "sales@example.com".into(),
            token_env: "GOOGLE_ACCESS_TOKEN".into(),
            derived: true,
            missing: Missing::Error,
            directory_url: "https://admin.googleapis.com".into(),
        })
    );
    assert_eq!(
        kinds["contractors"],
        &SourceKind::Scim(ScimSpec {
            url: "http://127.0.0.1:8080/scim/v2".into(),
            group_id: "7d0c".into(),
            token_env: "SCIM_TOKEN".into(),
            missing: Missing::Skip,
        })
    );
    let SourceKind::Okta(o) = kinds["login-okta"] else { panic!("okta") };
    assert!(o.login && o.missing == Missing::Skip);
    let SourceKind::Entra(e) = kinds["upn"] else { panic!("entra") };
    assert!(!e.transitive && e.user_principal_name);
    assert_eq!((e.authority_url.as_str(), e.graph_url.as_str()), ("https://login.microsoftonline.us", "https://graph.microsoft.us"));
    let SourceKind::Google(g) = kinds["direct"] else { panic!("google") };
    assert!(!g.derived);
    assert_eq!(g.directory_url, "http://localhost:9000");
}

#[test]
fn identity_provider_rules_are_checked_where_they_are_written() {
    fails(
        "sources:\n  a:\n    okta: {url: http://example.okta.com, group_id: g, token_env: T}\n  b:\n    okta: {url: https://x, grup_id: g, token_env: 00aBcDeFgHiJkLmNoPqRsTuVwXyZ-123}\n  c:\n    entra: {tenant: t, group_id: g, client_id_env: I, client_secret_env: S, attribute: email, graph_url: ftp://x}\n  d:\n    scim: {url: https://x/scim?x=1, group_id: g, token_env: T}\n  e:\n    google: {token_env: T}\n    timeout: 5\ngroups: []\n",
        &[
            "g.yaml:3:17: `url` must use https: `http://example.okta.com` would send the token in clear text\n    hint: write https://; plain http:// is allowed to a loopback address only",
            "g.yaml:5:11: `okta` needs `group_id`",
            "g.yaml:5:28: unknown `okta` key `grup_id`\n    hint: did you mean `group_id`?",
            "g.yaml:5:51: `token_env` is not the name of an environment variable\n    hint: write the NAME of the variable that holds the secret",
            "g.yaml:7:88: `attribute` must be `mail` or `userPrincipalName`, found `email`",
            "g.yaml:7:106: `graph_url` must start with https://, found `ftp://x`\n    hint: write the service's https:// address",
            "g.yaml:9:17: `url` has a query or fragment",
            "g.yaml:11:13: `google` needs `group`",
            "g.yaml:12:14: `timeout` is for a `command` source only",
        ],
    );
}
