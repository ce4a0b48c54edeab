//! Unit tests of the loader: every validation rule, with its location.

use super::*;
use crate::model::{Email, UserId};

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

#[test]
#[expect(clippy::float_cmp, reason = "0.5 is read from the file, not computed: it is exact")]
fn loads_the_full_format() {
    let s = ok(r#"
settings:
  prune: true
  ignore: ["Temp *"]
  default_description: Managed
  max_deleted_groups: 2
  max_removed_ratio: 0.5
groups:
  - name: Onboarding Specialists
    description: Team responsible for new client onboarding.
    members:
      - Alice@Example.com
      - 1005
    guests: [client.liaison@partner.com]
    previously: [Onboarding Team]
  - name: Old Contractors
    absent: true
"#);
    assert!(s.settings.prune);
    assert_eq!(s.settings.max_deleted_groups, 2);
    assert_eq!(s.settings.max_removed_ratio, 0.5);
    assert!(s.settings.is_ignored("Temp 1"));
    assert!(!s.settings.is_ignored("Temporary"));
    assert_eq!(s.settings.description_for_new(), "Managed");
    let g = &s.groups[0];
    assert_eq!(g.name.value, "Onboarding Specialists");
    assert_eq!((g.name.at.line, g.name.at.column), (9, 11));
    let members: Vec<_> = g.members.as_ref().unwrap().iter().map(|m| m.value.clone()).collect();
    assert_eq!(members, vec![MemberRef::Email(Email::new("alice@example.com")), MemberRef::Id(UserId(1005))]);
    assert_eq!(g.members.as_ref().unwrap()[1].at.line, 13);
    assert_eq!(g.guests.as_ref().unwrap()[0].value.as_str(), "client.liaison@partner.com");
    assert_eq!(g.previously[0].value, "Onboarding Team");
    assert!(s.groups[1].absent);
    assert!(s.groups[1].members.is_none());
}

#[test]
fn omitted_fields_are_unmanaged_and_defaults_apply() {
    let s = ok("groups:\n  - name: A\n");
    assert_eq!(s.settings, Settings::default());
    assert_eq!(s.settings.description_for_new(), DEFAULT_DESCRIPTION);
    assert!(s.groups[0].description.is_none() && s.groups[0].members.is_none() && s.groups[0].guests.is_none());
    let s = ok("groups: []\n");
    assert!(s.groups.is_empty());
}

#[test]
fn unknown_keys_suggest_the_closest() {
    let e = errors("setings: {}\ngroups:\n  - name: A\n    member: [a@b.co]\n    colour: red\n");
    assert_eq!(e.len(), 3, "{e:#?}");
    assert!(e[0].starts_with("g.yaml:1:1: unknown top-level key `setings`") && e[0].contains("did you mean `settings`?"), "{}", e[0]);
    assert!(e[1].starts_with("g.yaml:4:5: unknown group key `member`") && e[1].contains("did you mean `members`?"), "{}", e[1]);
    assert!(e[2].starts_with("g.yaml:5:5: unknown group key `colour`") && !e[2].contains("did you mean"), "{}", e[2]);
}

#[test]
fn every_problem_is_reported_at_once_with_locations() {
    let long = "x".repeat(201);
    let text = format!(
        "groups:\n  - name: A\n    description: \"\"\n    members: [a@b.co, A@B.CO, not-an-email, 7, 7]\n    guests: [g@p.co, g@P.co, nope]\n  - name: a\n  - name: {long}\n  - description: no name\n"
    );
    let e = errors(&text);
    let expect = [
        "g.yaml:3:18: `description` is empty",
        "g.yaml:4:23: member a@b.co is listed twice",
        "g.yaml:4:31: member `not-an-email` is not an email address or a user id: it has no '@'",
        "g.yaml:4:48: member user id 7 is listed twice",
        "g.yaml:5:22: guest g@p.co is listed twice",
        "g.yaml:5:30: guest `nope` is not an email address",
        "g.yaml:6:11: group \"a\" is defined twice (first at g.yaml:2:11)",
        "g.yaml:7:11: `name` is 201 characters long; Tallyfy allows at most 200",
        "g.yaml:8:5: a group has no `name`",
    ];
    assert_eq!(e.len(), expect.len(), "{e:#?}");
    for (got, want) in e.iter().zip(expect) {
        assert!(got.starts_with(want), "got {got:?}\nwant prefix {want:?}");
    }
}

#[test]
fn previously_conflicts_are_reported() {
    let e = errors("groups:\n  - name: A\n    previously: [B, C]\n  - name: B\n  - name: D\n    previously: C\n");
    assert_eq!(e.len(), 2, "{e:#?}");
    assert!(
        e[0].starts_with("g.yaml:3:18: \"B\" is in `previously` of \"A\" but is also a current group name (at g.yaml:4:11)"),
        "{}",
        e[0]
    );
    assert!(e[1].starts_with("g.yaml:6:17: \"C\" is in `previously` of both \"A\" (at g.yaml:3:21) and \"D\""), "{}", e[1]);
}

#[test]
fn guest_who_is_a_member_is_an_error() {
    let e = errors("groups:\n  - name: A\n    members: [x@y.co]\n  - name: B\n    guests: [X@y.co]\n");
    assert_eq!(e.len(), 1, "{e:#?}");
    assert!(e[0].starts_with("g.yaml:5:14: guest x@y.co is listed as a member at g.yaml:3:15"), "{}", e[0]);
}

#[test]
fn absent_groups_cannot_carry_content() {
    let e = errors("groups:\n  - name: A\n    absent: true\n    members: []\n");
    assert_eq!(e.len(), 1, "{e:#?}");
    assert!(e[0].starts_with("g.yaml:4:14: an `absent: true` group cannot have `members`"), "{}", e[0]);
}

#[test]
fn types_are_checked() {
    let e = errors(
        "settings:\n  prune: yes\n  max_removed_ratio: 2\n  ignore: ['[']\ngroups:\n  - name: A\n    members: a@b.co\n    absent: 1\n  - just a string\n",
    );
    let expect = [
        "g.yaml:2:10: `prune` must be true or false, found `yes`",
        "g.yaml:3:22: `max_removed_ratio` must be a number from 0 to 1",
        "g.yaml:4:12: `[` is not a valid glob",
        "g.yaml:7:14: `members` must be a list, found a scalar",
        "g.yaml:8:13: `absent` must be true or false",
        "g.yaml:9:5: a group must be a mapping, found a scalar",
    ];
    assert_eq!(e.len(), expect.len(), "{e:#?}");
    for (got, want) in e.iter().zip(expect) {
        assert!(got.starts_with(want), "got {got:?}\nwant prefix {want:?}");
    }
    // One member written without the list around it: the hint shows the list form.
    assert!(e[3].contains("hint: write `[a@b.co]`, or one `- a@b.co` per line"), "{}", e[3]);
}

#[test]
fn ignored_names_cannot_be_managed() {
    let e = errors("settings:\n  ignore: ['Temp *']\ngroups:\n  - name: Temp team\n");
    assert_eq!(e.len(), 1);
    assert!(e[0].starts_with("g.yaml:4:11: group \"Temp team\" matches an `ignore` pattern"), "{}", e[0]);
}

#[test]
fn syntax_errors_have_locations() {
    let e = errors("groups:\n  - name: A\n   members: [\n");
    assert_eq!(e.len(), 1, "{e:#?}");
    assert!(e[0].starts_with("g.yaml:3:"), "{}", e[0]);
    assert!(e[0].contains("YAML syntax error"), "{}", e[0]);
    let e = errors("groups:\n  - name: A\n    name: B\n");
    assert!(e[0].starts_with("g.yaml:3:5: duplicate key `name` (first written on line 2)"), "{}", e[0]);
}

#[test]
fn hostile_documents_are_refused_cleanly() {
    let bomb = "a: &a [x, x]\nb: &b [*a, *a]\ngroups: [*b]\n";
    assert!(errors(bomb)[0].contains("anchors and aliases are not supported"));
    let deep = format!("groups: {}{}\n", "[".repeat(5000), "]".repeat(5000));
    assert!(errors(&deep)[0].contains("nests deeper than 64 levels"));
    let e = load(vec![Source { name: "bin.yaml".into(), bytes: b"groups:\n  - name: \xff\n".to_vec() }]).unwrap_err();
    assert!(e.0[0].to_string().starts_with("bin.yaml:2:11: the file is not valid UTF-8"), "{}", e.0[0]);
    assert!(errors("")[0].contains("the file is empty"));
    assert!(errors("- a\n- b\n")[0].contains("expected a mapping with `groups:`"));
    assert!(errors("groups: [a]\n---\ngroups: [b]\n").len() == 1);
    assert!(errors("!!map\ngroups: []\n").len() == 1);
}

#[test]
fn files_merge_and_duplicates_name_both_places() {
    let a = Source { name: "a.yaml".into(), bytes: b"settings:\n  prune: true\ngroups:\n  - name: A\n".to_vec() };
    let b = Source { name: "b.yaml".into(), bytes: b"settings: {}\ngroups:\n  - name: B\n  - name: a\n".to_vec() };
    let e = load(vec![a.clone(), b]).unwrap_err().0;
    assert_eq!(e.len(), 2, "{e:#?}");
    assert!(e[0].to_string().starts_with("b.yaml:1:1: `settings` is defined again (first at a.yaml:1:1)"), "{}", e[0]);
    assert!(e[1].to_string().starts_with("b.yaml:4:11: group \"a\" is defined twice (first at a.yaml:4:11)"), "{}", e[1]);
    let c = Source { name: "c.yaml".into(), bytes: b"groups:\n  - name: C\n".to_vec() };
    let s = load(vec![a, c]).unwrap();
    assert!(s.settings.prune);
    assert_eq!(s.groups.len(), 2);
}

#[test]
fn guests_may_carry_their_names() {
    let s = load_str(
        "g.yaml",
        "groups:\n  - name: A\n    guests:\n      - plain@partner.co\n      - {email: Ann.Lee@Partner.co, first_name: Ann, last_name: Lee}\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let g = &s.groups[0];
    let emails: Vec<&str> = g.guests.iter().flatten().map(|e| e.value.as_str()).collect();
    assert_eq!(emails, vec!["plain@partner.co", "ann.lee@partner.co"]);
    let name = g.guest_names.get(&crate::model::Email::new("ann.lee@partner.co")).expect("named");
    assert_eq!((name.first_name.as_deref(), name.last_name.as_deref()), (Some("Ann"), Some("Lee")));
    assert_eq!(g.guest_names.len(), 1);
}

#[test]
fn guest_mappings_are_checked_with_locations() {
    let e = errors(
        "groups:\n  - name: A\n    guests:\n      - {email: a@p.co, frist_name: Ann}\n      - {first_name: Bo}\n      - {email: a@p.co}\n      - {email: nope}\n",
    );
    assert!(
        e.iter().any(|d| d.starts_with("g.yaml:4:25: unknown guest key `frist_name`") && d.contains("did you mean `first_name`?")),
        "{e:#?}"
    );
    assert!(e.iter().any(|d| d.starts_with("g.yaml:5:9: a guest written as a mapping needs `email`")), "{e:#?}");
    assert!(e.iter().any(|d| d.starts_with("g.yaml:6:17: guest a@p.co is listed twice in this group (first on line 4)")), "{e:#?}");
    assert!(e.iter().any(|d| d.starts_with("g.yaml:7:17: guest `nope` is not an email address")), "{e:#?}");
}

#[test]
fn a_second_document_is_refused_where_it_starts() {
    // Today's parser reads the first document only: the second would be dropped silently.
    for (text, line) in [
        ("groups:\n  - name: A\n---\ngroups:\n  - name: B\n", 3),
        ("--- {groups: []}\n--- {groups: [{name: B}]}\n", 2),
        ("groups: []\n...\ngroups:\n  - name: B\n", 3),
        ("groups:\n  - name: A\n--- # more\n", 3),
    ] {
        let e = errors(text);
        assert_eq!(e.len(), 1, "{text:?}: {e:#?}");
        assert!(e[0].starts_with(&format!("g.yaml:{line}:1: a second YAML document starts here")), "{text:?}: {}", e[0]);
        assert!(e[0].contains("hint: "), "{}", e[0]);
    }
    // One document, with an explicit start and end, is fine; so is `---` inside a value.
    ok("# groups\n--- # the only document\ngroups:\n  - name: A\n    description: \"a\n      --- b\"\n...\n# trailing comment\n");
    ok("groups:\n  - name: A\n    description: |\n      ---\n");
}

#[test]
fn a_blank_baseline_has_no_groups_and_anything_else_is_checked() {
    let source = |text: &str| Source { name: "base.yaml".into(), bytes: text.as_bytes().to_vec() };
    for blank in ["", "\n\n", "\u{feff}# not yet\n  \n"] {
        assert_eq!(load_baseline(vec![source(blank)]), Ok(DesiredState::default()), "{blank:?}");
    }
    let both = load_baseline(vec![source(""), source("groups:\n  - name: A\n")]).expect("loads");
    assert_eq!(both.groups.len(), 1);
    let bad = load_baseline(vec![source(""), source("groups:\n  - nme: A\n")]).expect_err("checked like any file");
    assert!(bad.to_string().contains("base.yaml:2:5"), "{bad}");
    assert!(!is_blank(&[0xff, b'\n']));
}

#[test]
fn shape_problems_name_their_key_and_the_rest_is_still_read() {
    let e = errors(
        "settings:\n  prune: ~\n  max_deleted_groups: \"5\"\n  disabled_members: [warn]\ngroups:\n  - name: A\n    members: [a@b.co, {x: 1}, not-an-email]\n    guests:\n      - {email: [x], first_name: Ann}\n    previously: ~\n    absent: maybe\n",
    );
    let expect = [
        "g.yaml:2:10: `prune` is empty\n    hint: write true or false",
        "g.yaml:3:23: `max_deleted_groups` must be a whole number, found `5`\n    hint: write the number without quotes",
        "g.yaml:4:21: `disabled_members` must be `warn` or `error`, found a list",
        "g.yaml:7:23: a member written as a mapping needs `email`, `id`, `source` or `group`",
        "g.yaml:7:24: unknown member key `x`\n    hint: expected one of `email`, `id`, `until`, `reason`, `source`, `group`",
        "g.yaml:7:31: member `not-an-email` is not an email address or a user id",
        "g.yaml:9:17: `email` must be a single value, found a list",
        "g.yaml:10:17: `previously` is empty\n    hint: write `[]` for an empty list",
        "g.yaml:11:13: `absent` must be true or false, found `maybe`",
    ];
    assert_eq!(e.len(), expect.len(), "{e:#?}");
    for (got, want) in e.iter().zip(expect) {
        assert!(got.starts_with(want), "got {got:?}\nwant prefix {want:?}");
    }
}

#[test]
fn empty_settings_are_the_defaults_and_count_as_settings() {
    let s = ok("settings:\ngroups: []\n");
    assert_eq!(s.settings, Settings::default());
    let a = Source { name: "a.yaml".into(), bytes: b"settings:\ngroups: []\n".to_vec() };
    let b = Source { name: "b.yaml".into(), bytes: b"settings: ~\ngroups: []\n".to_vec() };
    let e = load(vec![a, b]).unwrap_err().0;
    assert_eq!(e.len(), 1, "{e:#?}");
    assert!(e[0].to_string().starts_with("b.yaml:1:1: `settings` is defined again (first at a.yaml:1:1)"), "{}", e[0]);
}

#[test]
fn a_bare_carriage_return_breaks_lines_as_the_parser_does() {
    // The parser takes CR, LF and CRLF alike for a line break, so every pre-scan must too: a
    // marker after a bare CR starts a second document that would otherwise be dropped silently.
    for (text, line) in [
        ("groups:\r  - name: A\r---\rgroups:\r  - name: B\r", 3),
        ("groups:\r\n  - name: A\r---\ngroups:\r\n  - name: B\r\n", 3),
        ("groups: []\r...\rgroups:\r  - name: B\r", 3),
        ("groups: [] # a comment\r---\rgroups: [{name: B}]\r", 2),
        ("# a comment\r--- {groups: []}\r--- {groups: [{name: B}]}\r", 3),
    ] {
        let e = errors(text);
        assert_eq!(e.len(), 1, "{text:?}: {e:#?}");
        assert!(e[0].starts_with(&format!("g.yaml:{line}:1: a second YAML document starts here")), "{text:?}: {}", e[0]);
    }
    // A comment ending in a bare CR does not hide the line after it.
    let s = ok("# managed\rgroups:\r  - name: A\r");
    assert_eq!(s.groups[0].name.at.line, 3);
    assert!(!is_blank(b"# not yet\rgroups:\r  - name: A\r"));
    let base = Source { name: "base.yaml".into(), bytes: b"# not yet\rgroups:\r  - name: A\r".to_vec() };
    assert_eq!(load_baseline(vec![base]).expect("loads").groups.len(), 1);
    // Locations count a bare CR, a CRLF and an LF as one line each, like the parser's.
    let e = load(vec![Source { name: "bin.yaml".into(), bytes: b"a: 1\r\ngroups:\r  - x: 1\n  - name: \xff\r".to_vec() }]).unwrap_err();
    assert!(e.0[0].to_string().starts_with("bin.yaml:4:11: the file is not valid UTF-8"), "{}", e.0[0]);
    let deep = format!("a: 1\rgroups: {}{}\r", "[".repeat(100), "]".repeat(100));
    assert!(errors(&deep)[0].starts_with("g.yaml:2:73: the document nests deeper than 64 levels"), "{}", errors(&deep)[0]);
    let e = errors("groups:\r  - name: A\r\n    member: []\r");
    assert!(e[0].starts_with("g.yaml:3:5: unknown group key `member`"), "{}", e[0]);
}

#[test]
fn names_written_in_another_unicode_form_are_the_same_name() {
    let e = errors("groups:\n  - name: \"Caf\\u00E9\"\n  - name: \"CAFE\\u0301\"\n  - name: \"\\uFB01nance\"\n  - name: Finance\n");
    assert_eq!(e.len(), 2, "{e:#?}");
    assert!(e[0].starts_with("g.yaml:3:11: group \"CAFE\u{301}\" is defined twice (first at g.yaml:2:11)"), "{}", e[0]);
    assert!(e[1].starts_with("g.yaml:5:11: group \"Finance\" is defined twice (first at g.yaml:4:11)"), "{}", e[1]);
    // An old name in another form is the group's own name: a form-only rename, matched anyway.
    ok("groups:\n  - name: \"Caf\\u00E9\"\n    previously: [\"Cafe\\u0301\"]\n");
}

#[test]
fn a_directory_gives_its_yaml_files_in_order_but_not_its_dot_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    for name in ["b.yaml", "a.yml", ".hidden.yaml", ".b.yaml.swp", "notes.txt"] {
        std::fs::write(dir.path().join(name), "groups: []\n").expect("write");
    }
    std::fs::create_dir(dir.path().join(".git")).expect("mkdir");
    std::fs::write(dir.path().join(".git").join("c.yaml"), "groups: []\n").expect("write");
    let read = read_sources(&[dir.path().to_path_buf()]).expect("read");
    let names: Vec<String> =
        read.iter().map(|s| Path::new(&s.name).file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()).collect();
    assert_eq!(names, ["a.yml", "b.yaml"]);
}

#[test]
fn a_missing_groups_file_says_how_to_make_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let e = read_sources(&[dir.path().join("groups.yaml")]).expect_err("missing").to_string();
    assert!(
        e.contains("groups.yaml")
            && e.contains("hint: name the groups files with -f PATH")
            && e.contains("tallyfy-groups export --out groups.yaml"),
        "{e}"
    );
}
