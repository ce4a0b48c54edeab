use super::*;
use crate::desired::{Source, load};

const OWNERS: &str = r#"rules:
  - path: "teams/finance/*.yaml"
    groups: ["Finance *", "Accounts Payable"]
    reviewers: ["@acme/finance-admins"]
  - path: "teams/it/**"
    groups: ["IT *"]
    reviewers: ["@acme/it"]
  - path: "groups.yaml"
    groups: ["*"]
    settings: true
    sources: true
    reviewers: ["@acme/platform"]
"#;

fn owners() -> Owners {
    parse("owners.yaml", OWNERS, Path::new("")).expect("valid")
}

/// The problems of these files (name, text) under the rules above.
fn problems(files: &[(&str, &str)]) -> Vec<String> {
    let sources = files.iter().map(|(n, t)| Source { name: n.to_string(), bytes: t.as_bytes().to_vec() }).collect();
    let state = load(sources).unwrap_or_else(|e| panic!("{e}"));
    let paths = files.iter().map(|(n, _)| (n.to_string(), PathBuf::from(n))).collect();
    owners().check(&state, &paths).iter().map(ToString::to_string).collect()
}

#[test]
fn the_first_rule_whose_path_matches_governs_a_file() {
    let o = owners();
    assert_eq!(o.rule_for(Path::new("teams/finance/ap.yaml")).map(|r| r.path.as_str()), Some("teams/finance/*.yaml"));
    assert!(o.rule_for(Path::new("teams/finance/sub/ap.yaml")).is_none(), "`*` stays within a folder");
    assert_eq!(o.rule_for(Path::new("teams/it/deep/er/x.yaml")).map(|r| r.path.as_str()), Some("teams/it/**"));
    assert_eq!(o.rule_for(Path::new("./groups.yaml")).map(|r| r.path.as_str()), Some("groups.yaml"));
    assert!(o.rule_for(Path::new("other.yaml")).is_none());
    assert_eq!(o.reviewers_of("Finance Approvers", Some(Path::new("teams/finance/a.yaml"))), ["@acme/finance-admins"]);
    assert_eq!(o.reviewers_of("IT Helpdesk", None), ["@acme/it"], "a pruned group: the first rule that allows it");
}

#[test]
fn a_file_may_define_only_what_its_rule_allows_in_any_case() {
    assert!(problems(&[("teams/finance/a.yaml", "groups:\n  - name: Finance Approvers\n  - name: accounts payable\n")]).is_empty());
    let said = problems(&[("teams/it/it.yaml", "groups:\n  - name: IT Helpdesk\n  - name: FINANCE approvers\n    members: []\n")]);
    assert_eq!(said.len(), 1, "{said:#?}");
    assert!(said[0].starts_with("teams/it/it.yaml:3:11: group \"FINANCE approvers\" is not allowed in teams/it/it.yaml: the rule at owners.yaml:5:5 (path `teams/it/**`) allows `IT *`"), "{said:#?}");
}

#[test]
fn renames_deletions_settings_sources_and_unmatched_files_are_refused_with_their_rule() {
    let said = problems(&[
        (
            "teams/it/it.yaml",
            "settings:\n  prune: true\nsources:\n  s:\n    list: [a@b.co]\ngroups:\n  - name: IT Desk\n    previously: [Finance Desk]\n  - name: Finance Old\n    absent: true\n",
        ),
        ("stray.yaml", "groups:\n  - name: IT Stray\n"),
    ]);
    let joined = said.join("\n");
    assert_eq!(said.len(), 5, "{joined}");
    for want in [
        "teams/it/it.yaml:1:1: `settings` is not allowed in teams/it/it.yaml: the rule at owners.yaml:5:5 (path `teams/it/**`) does not say `settings: true`",
        "source `s` is not allowed in teams/it/it.yaml",
        "renaming group \"Finance Desk\" is not allowed",
        "deleting group \"Finance Old\" is not allowed",
        "stray.yaml:2:11: stray.yaml matches no rule of owners.yaml, so it may define nothing (group \"IT Stray\")",
    ] {
        assert!(joined.contains(want), "missing {want:?} in\n{joined}");
    }
}

#[test]
fn prune_deletes_only_what_some_rule_allows() {
    let o = owners();
    assert!(o.owned("it helpdesk") && o.owned("Anything at all"), "the platform rule allows every name");
    let narrow = parse("owners.yaml", "rules:\n  - path: \"*.yaml\"\n    groups: [\"Team *\"]\n", Path::new("")).expect("valid");
    assert!(narrow.owned("TEAM A") && !narrow.owned("Marketing"));
}

#[test]
fn codeowners_lines_come_in_reverse_order_anchored_at_the_root() {
    assert_eq!(
        owners().codeowners(""),
        ["/groups.yaml @acme/platform", "/teams/it/** @acme/it", "/teams/finance/*.yaml @acme/finance-admins"]
    );
    assert_eq!(owners().codeowners("access/")[0], "/access/groups.yaml @acme/platform");
}

#[test]
fn a_broken_owners_file_is_refused_with_locations() {
    let e = parse("owners.yaml", "rules:\n  - groups: [x]\n  - path: \"../up/*.yaml\"\n  - path: a.yaml\n    grops: [x]\n", Path::new(""))
        .expect_err("refused");
    let said = e.to_string();
    assert!(said.contains("owners.yaml:2:5: a rule has no `path`"), "{said}");
    assert!(said.contains("owners.yaml:3:11: `../up/*.yaml` leaves the folder of owners.yaml"), "{said}");
    assert!(said.contains("unknown") && said.contains("grops"), "{said}");
}
