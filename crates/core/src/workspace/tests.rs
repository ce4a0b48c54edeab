//! Unit tests of the workspace file: every check, with its message and location.

use super::*;

fn ok(text: &str) -> Workspace {
    match parse("ws.yaml", text, Path::new("/repo")) {
        Ok(w) => w,
        Err(d) => panic!("expected a valid workspace, got:\n{d}"),
    }
}

fn errors(text: &str) -> Vec<String> {
    match parse("ws.yaml", text, Path::new("/repo")) {
        Ok(w) => panic!("expected problems, got {w:#?}"),
        Err(d) => d.0.iter().map(|d| d.to_string()).collect(),
    }
}

/// The problems' first lines (message with location, without the hints).
fn messages(text: &str) -> Vec<String> {
    errors(text).iter().map(|e| e.lines().next().unwrap_or_default().to_string()).collect()
}

fn at(file: &str, line: usize, column: usize) -> Location {
    Location { file: Arc::from(file), line, column }
}

const VALID: &str = "\
# Two organizations from one repository.
targets:
  staging:
    org_id: 3f1c
    api_url: ' https://eu.tallyfy.example/api/ '
    credentials_env: TALLYFY_STAGE
    files: [groups/common/, groups/staging/]
    export_to: groups/staging/exported.yaml
  production:
    org_id: 9ab0
    files: /abs/groups.yaml
";

#[test]
fn a_valid_file_round_trips() {
    let w = ok(VALID);
    let expected = Workspace {
        file: "ws.yaml".into(),
        targets: vec![
            TargetSpec {
                name: "staging".into(),
                org_id: "3f1c".into(),
                api_url: Some("https://eu.tallyfy.example/api/".into()),
                credentials_env: "TALLYFY_STAGE".into(),
                files: vec![
                    WorkspacePath {
                        path: PathBuf::from("/repo/groups/common/"),
                        written: "groups/common/".into(),
                        at: at("ws.yaml", 7, 13),
                    },
                    WorkspacePath {
                        path: PathBuf::from("/repo/groups/staging/"),
                        written: "groups/staging/".into(),
                        at: at("ws.yaml", 7, 29),
                    },
                ],
                export_to: Some(WorkspacePath {
                    path: PathBuf::from("/repo/groups/staging/exported.yaml"),
                    written: "groups/staging/exported.yaml".into(),
                    at: at("ws.yaml", 8, 16),
                }),
                owners: None,
                policy: None,
                at: at("ws.yaml", 3, 3),
            },
            TargetSpec {
                name: "production".into(),
                org_id: "9ab0".into(),
                api_url: None,
                credentials_env: "TALLYFY_PRODUCTION".into(),
                files: vec![WorkspacePath {
                    path: PathBuf::from("/abs/groups.yaml"),
                    written: "/abs/groups.yaml".into(),
                    at: at("ws.yaml", 11, 12),
                }],
                export_to: None,
                owners: None,
                policy: None,
                at: at("ws.yaml", 9, 3),
            },
        ],
    };
    assert_eq!(w, expected);
    assert_eq!(w.names(), vec!["staging", "production"]);
    assert_eq!(w.target("production").map(|t| t.org_id.as_str()), Some("9ab0"));
    assert_eq!(w.target("Production"), None);
    assert_eq!(w.targets[1].api_url_or_default(), DEFAULT_API_URL);
}

#[test]
fn targets_keep_the_file_order() {
    let w = ok("targets:\n  zeta: {org_id: z, files: a.yaml}\n  alpha: {org_id: a, files: a.yaml}\n  mid: {org_id: m, files: a.yaml}\n");
    assert_eq!(w.names(), vec!["zeta", "alpha", "mid"]);
}

#[test]
fn the_default_credentials_env_is_the_name_in_capitals() {
    assert_eq!(default_credentials_env("eu-prod"), "TALLYFY_EU_PROD");
    assert_eq!(default_credentials_env("staging"), "TALLYFY_STAGING");
    assert_eq!(default_credentials_env("Client_7"), "TALLYFY_CLIENT_7");
    assert_eq!(default_credentials_env("2nd"), "TALLYFY_2ND");
    let w = ok("targets:\n  eu-prod:\n    org_id: x\n    files: g.yaml\n");
    assert_eq!(w.targets[0].credentials_env, "TALLYFY_EU_PROD");
}

#[test]
fn paths_are_joined_to_the_folder_of_the_file() {
    let w = parse(
        "sub/ws.yaml",
        "targets:\n  a:\n    org_id: x\n    files: [../g.yaml, ./h/, /etc/i.yaml]\n    export_to: out.yaml\n",
        Path::new("sub"),
    )
    .expect("valid");
    let t = &w.targets[0];
    let paths: Vec<&Path> = t.files.iter().map(|f| f.path.as_path()).collect();
    assert_eq!(paths, vec![Path::new("sub/../g.yaml"), Path::new("sub/./h/"), Path::new("/etc/i.yaml")]);
    assert_eq!(t.files[0].written, "../g.yaml");
    assert_eq!(t.export_to.as_ref().map(|e| e.path.clone()), Some(PathBuf::from("sub/out.yaml")));
    assert_eq!(t.at.file.as_ref(), "sub/ws.yaml");
}

#[test]
fn not_a_mapping_no_targets_and_empty_targets() {
    assert_eq!(errors("- staging\n"), vec!["ws.yaml:1:1: expected a mapping with `targets:` at the top level"]);
    assert_eq!(
        errors("# nothing yet\n"),
        vec![
            "ws.yaml:1:1: the file is empty\n    hint: start it with `targets:` followed by one entry per organization (a name, then its `org_id` and `files`)"
        ]
    );
    assert_eq!(
        errors("settings: {}\n"),
        vec![
            "ws.yaml:1:1: missing `targets:`\n    hint: add `targets:` with one entry per organization: a name, then its `org_id` and `files`",
            "ws.yaml:1:1: unknown top-level key `settings`\n    hint: expected one of `targets`",
        ]
    );
    assert_eq!(messages("targets:\n"), vec!["ws.yaml:1:1: `targets` is empty"]);
    assert_eq!(messages("\ntargets: {}\n"), vec!["ws.yaml:2:1: `targets` is empty"]);
    assert_eq!(messages("targets:\n  - staging\n"), vec!["ws.yaml:2:3: `targets` must be a mapping, found a list"]);
    assert_eq!(
        errors("targets:\n  staging: 3f1c\n"),
        vec![
            "ws.yaml:2:12: `staging` must be a mapping, found a scalar\n    hint: write it as a mapping with the keys `org_id`, `api_url`, `credentials_env`, `files`, `export_to`, `owners`, `policy`"
        ]
    );
    assert_eq!(
        messages("targets:\n  staging:\n"),
        vec!["ws.yaml:2:3: target `staging` has no `files`", "ws.yaml:2:3: target `staging` has no `org_id`"]
    );
}

#[test]
fn unknown_keys_suggest_the_closest() {
    let e = errors(
        "target:\n  a: {}\ntargets:\n  staging:\n    org-id: x\n    org_id: x\n    file: [a.yaml]\n    files: [a.yaml]\n    colour: red\n",
    );
    assert_eq!(
        e,
        vec![
            "ws.yaml:1:1: unknown top-level key `target`\n    hint: did you mean `targets`? expected one of `targets`",
            "ws.yaml:5:5: unknown target key `org-id`\n    hint: did you mean `org_id`? expected one of `org_id`, `api_url`, `credentials_env`, `files`, `export_to`, `owners`, `policy`",
            "ws.yaml:7:5: unknown target key `file`\n    hint: did you mean `files`? expected one of `org_id`, `api_url`, `credentials_env`, `files`, `export_to`, `owners`, `policy`",
            "ws.yaml:9:5: unknown target key `colour`\n    hint: expected one of `org_id`, `api_url`, `credentials_env`, `files`, `export_to`, `owners`, `policy`",
        ]
    );
}

#[test]
fn duplicate_target_names_and_keys_are_all_reported() {
    let e = errors(
        "targets:\n  staging:\n    org_id: a\n    files: a.yaml\n  staging:\n    org_id: b\n    files: b.yaml\n  prod:\n    org_id: c\n    org_id: d\n    files: c.yaml\n    bogus: 1\n",
    );
    assert_eq!(
        e,
        vec![
            "ws.yaml:5:3: target `staging` is defined twice (first on line 2)\n    hint: give each target its own name, or merge the two",
            "ws.yaml:10:5: duplicate key `org_id` in target `prod` (first written on line 9)",
            "ws.yaml:12:5: unknown target key `bogus`\n    hint: expected one of `org_id`, `api_url`, `credentials_env`, `files`, `export_to`, `owners`, `policy`",
        ]
    );
    assert_eq!(
        messages("targets:\n  a: {org_id: x, files: a.yaml}\ntargets:\n  b: {org_id: y, files: b.yaml}\n"),
        vec!["ws.yaml:3:1: duplicate key `targets` (first written on line 1)"]
    );
}

#[test]
fn target_names_are_plain_words() {
    let long = "x".repeat(64);
    let text = format!(
        "targets:\n  \"eu prod\": {{org_id: a, files: a.yaml}}\n  a=b: {{org_id: b, files: a.yaml}}\n  v1.2: {{org_id: c, files: a.yaml}}\n  \"\": {{org_id: d, files: a.yaml}}\n  {long}: {{org_id: e, files: a.yaml}}\n  {}: {{org_id: f, files: a.yaml}}\n  Ok_name-2: {{org_id: g, files: a.yaml}}\n",
        "y".repeat(63)
    );
    let e = errors(&text);
    let use_ = "the name is typed in `--target NAME` and `--allow-removals NAME=\"reason\"`";
    assert_eq!(
        e,
        vec![
            format!(
                "ws.yaml:2:3: target name `eu prod` may use only ASCII letters, digits, `-` and `_`\n    hint: for example `eu-prod`; {use_}"
            ),
            format!("ws.yaml:3:3: target name `a=b` may use only ASCII letters, digits, `-` and `_`\n    hint: for example `a-b`; {use_}"),
            format!(
                "ws.yaml:4:3: target name `v1.2` may use only ASCII letters, digits, `-` and `_`\n    hint: for example `v1-2`; {use_}"
            ),
            format!("ws.yaml:5:3: a target name is empty\n    hint: name it with ASCII letters, digits, `-` and `_`; {use_}"),
            format!("ws.yaml:6:3: target name `{long}` is longer than 63 characters\n    hint: shorten it; {use_}"),
        ]
    );
}

#[test]
fn org_id_is_required_and_one_path_segment() {
    let e = messages(
        "targets:\n  a:\n    files: a.yaml\n  b:\n    org_id:\n    files: a.yaml\n  c:\n    org_id: '  '\n    files: a.yaml\n  d:\n    org_id: org/1\n    files: a.yaml\n  e:\n    org_id: ..\n    files: a.yaml\n  f:\n    org_id: .\n    files: a.yaml\n  g:\n    org_id: [x]\n    files: a.yaml\n  h:\n    org_id: 12345\n    files: a.yaml\n",
    );
    assert_eq!(
        e,
        vec![
            "ws.yaml:2:3: target `a` has no `org_id`",
            "ws.yaml:5:5: `org_id` is empty",
            "ws.yaml:8:13: `org_id` is empty",
            "ws.yaml:11:13: `org_id` `org/1` is not an organization id: it may use only ASCII letters, digits, `-` and `_`",
            "ws.yaml:14:13: `org_id` `..` is not an organization id: it may use only ASCII letters, digits, `-` and `_`",
            "ws.yaml:17:13: `org_id` `.` is not an organization id: it may use only ASCII letters, digits, `-` and `_`",
            "ws.yaml:20:13: `org_id` must be a single value, found a list",
        ]
    );
    let e = errors("targets:\n  a:\n    files: a.yaml\n");
    assert_eq!(
        e,
        vec!["ws.yaml:2:3: target `a` has no `org_id`\n    hint: add `org_id:` with the id of the Tallyfy organization it manages"]
    );
    assert_eq!(ok("targets:\n  a:\n    org_id: ' 12345 '\n    files: a.yaml\n").targets[0].org_id, "12345");
}

#[test]
fn credentials_env_is_a_valid_prefix() {
    let e = errors(
        "targets:\n  a:\n    org_id: a\n    files: a.yaml\n    credentials_env: tallyfy_staging\n  b:\n    org_id: b\n    files: a.yaml\n    credentials_env: 9LIVES\n  c:\n    org_id: c\n    files: a.yaml\n    credentials_env: MY-ORG\n  d:\n    org_id: d\n    files: a.yaml\n    credentials_env: TALLYFY_PROD_ACCESS_TOKEN\n  e:\n    org_id: e\n    files: a.yaml\n    credentials_env: ''\n",
    );
    let rule = "must be capital ASCII letters, digits and `_`, not starting with a digit";
    assert_eq!(
        e,
        vec![
            format!(
                "ws.yaml:5:22: `credentials_env` `tallyfy_staging` {rule}\n    hint: for example `TALLYFY_STAGING`: it reads TALLYFY_STAGING_ACCESS_TOKEN, or TALLYFY_STAGING_CLIENT_ID and TALLYFY_STAGING_CLIENT_SECRET"
            ),
            format!(
                "ws.yaml:9:22: `credentials_env` `9LIVES` {rule}\n    hint: for example `TALLYFY_9LIVES`: it reads TALLYFY_9LIVES_ACCESS_TOKEN, or TALLYFY_9LIVES_CLIENT_ID and TALLYFY_9LIVES_CLIENT_SECRET"
            ),
            format!(
                "ws.yaml:13:22: `credentials_env` `MY-ORG` {rule}\n    hint: for example `MY_ORG`: it reads MY_ORG_ACCESS_TOKEN, or MY_ORG_CLIENT_ID and MY_ORG_CLIENT_SECRET"
            ),
            "ws.yaml:17:22: `credentials_env` `TALLYFY_PROD_ACCESS_TOKEN` is a variable's name, not a prefix\n    hint: write `TALLYFY_PROD`: it reads TALLYFY_PROD_ACCESS_TOKEN, or TALLYFY_PROD_CLIENT_ID and TALLYFY_PROD_CLIENT_SECRET".to_string(),
            format!(
                "ws.yaml:21:22: `credentials_env` `` {rule}\n    hint: for example `TALLYFY_`: it reads TALLYFY__ACCESS_TOKEN, or TALLYFY__CLIENT_ID and TALLYFY__CLIENT_SECRET"
            ),
        ]
    );
    assert_eq!(ok("targets:\n  a:\n    org_id: a\n    files: a.yaml\n    credentials_env: _ORG2\n").targets[0].credentials_env, "_ORG2");
}

#[test]
fn files_are_required_and_not_empty() {
    let e = errors(
        "targets:\n  a:\n    org_id: a\n  b:\n    org_id: b\n    files: []\n  c:\n    org_id: c\n    files:\n  d:\n    org_id: d\n    files: ['', ok.yaml, ~]\n  e:\n    org_id: e\n    files: ' '\n  f:\n    org_id: f\n    files: {a: b}\n",
    );
    let hint = "list the groups.yaml files or directories this target manages, e.g. `files: [groups/]`";
    assert_eq!(
        e,
        vec![
            format!("ws.yaml:2:3: target `a` has no `files`\n    hint: {hint}"),
            format!("ws.yaml:6:12: `files` is empty\n    hint: {hint}"),
            format!("ws.yaml:9:5: `files` is empty\n    hint: {hint}"),
            "ws.yaml:12:13: an item of `files` is empty".to_string(),
            "ws.yaml:12:26: an item of `files` is empty".to_string(),
            format!("ws.yaml:15:12: `files` is empty\n    hint: {hint}"),
            "ws.yaml:18:12: `files` must be a single value or a list, found a mapping".to_string(),
        ]
    );
}

#[test]
fn api_url_and_export_to_are_not_blank() {
    let e = errors(
        "targets:\n  a:\n    org_id: a\n    files: a.yaml\n    api_url: ''\n    export_to: ' '\n  b:\n    org_id: b\n    files: a.yaml\n    api_url: go.tallyfy.com/api\n",
    );
    assert_eq!(
        e,
        vec![
            "ws.yaml:5:14: `api_url` is empty\n    hint: remove the key to use https://go.tallyfy.com/api",
            "ws.yaml:6:16: `export_to` is empty\n    hint: name the file `export --target NAME` writes, or remove the key",
            "ws.yaml:10:14: `api_url` `go.tallyfy.com/api` is not an https:// URL\n    hint: write it in full, e.g. https://go.tallyfy.com/api",
        ]
    );
}

#[test]
fn two_targets_on_the_same_organization_and_url() {
    let e = errors(
        "targets:\n  staging:\n    org_id: abc\n    files: a.yaml\n  production:\n    org_id: abc\n    api_url: https://go.tallyfy.com/api/\n    files: b.yaml\n  other-api:\n    org_id: abd\n    api_url: https://api.tallyfy.com\n    files: c.yaml\n  again:\n    org_id: abd\n    api_url: https://api.tallyfy.com/\n    files: c.yaml\n",
    );
    let hint = "merge them into one target (with the files of both), or correct the `org_id` of one of them";
    assert_eq!(
        e,
        vec![
            format!(
                "ws.yaml:5:3: targets `staging` (ws.yaml:2:3) and `production` (ws.yaml:5:3) both manage organization abc at https://go.tallyfy.com/api (`production` writes it as abc at https://go.tallyfy.com/api/): each organization belongs to one target\n    hint: {hint}"
            ),
            format!(
                "ws.yaml:13:3: targets `other-api` (ws.yaml:9:3) and `again` (ws.yaml:13:3) both manage organization abd at https://api.tallyfy.com (`again` writes it as abd at https://api.tallyfy.com/): each organization belongs to one target\n    hint: {hint}"
            ),
        ]
    );
    // Written alike, nothing more is said.
    assert_eq!(
        messages("targets:\n  a: {org_id: abc, files: a.yaml}\n  b: {org_id: abc, files: b.yaml}\n"),
        vec![
            "ws.yaml:3:3: targets `a` (ws.yaml:2:3) and `b` (ws.yaml:3:3) both manage organization abc at https://go.tallyfy.com/api: each organization belongs to one target"
        ]
    );
    // The same org at another URL, and other orgs at the same URL, are different organizations.
    let w = ok(
        "targets:\n  a: {org_id: abc, files: a.yaml}\n  b: {org_id: abc, api_url: 'http://127.0.0.1:8080/api', files: a.yaml}\n  c: {org_id: abd, files: a.yaml}\n",
    );
    assert_eq!(w.targets.len(), 3);
}

#[test]
fn every_problem_at_once_in_file_order() {
    let e = messages("targets:\n  bad name:\n    org_id: a/b\n    files: []\n    credentials_env: lower\n  ok:\n    orgid: x\n");
    assert_eq!(
        e,
        vec![
            "ws.yaml:2:3: target name `bad name` may use only ASCII letters, digits, `-` and `_`",
            "ws.yaml:3:13: `org_id` `a/b` is not an organization id: it may use only ASCII letters, digits, `-` and `_`",
            "ws.yaml:4:12: `files` is empty",
            "ws.yaml:5:22: `credentials_env` `lower` must be capital ASCII letters, digits and `_`, not starting with a digit",
            "ws.yaml:6:3: target `ok` has no `files`",
            "ws.yaml:6:3: target `ok` has no `org_id`",
            "ws.yaml:7:5: unknown target key `orgid`",
        ]
    );
}

#[test]
fn syntax_errors_read_like_the_loaders() {
    let e = errors("targets:\n  a:\n    org_id: [x\n    files: a.yaml\n");
    assert_eq!(e.len(), 1, "{e:#?}");
    assert!(
        e[0].starts_with("ws.yaml:")
            && e[0].contains("YAML syntax error: ")
            && e[0].ends_with("hint: check indentation and quoting near this spot"),
        "{}",
        e[0]
    );
    assert_eq!(
        messages("targets:\n  a: &x {org_id: a, files: a.yaml}\n  b: *x\n"),
        vec!["ws.yaml:2:9: YAML anchors and aliases are not supported"]
    );
    assert_eq!(
        errors("targets:\n  a: {org_id: a, files: a.yaml}\n---\ntargets: {}\n"),
        vec![
            "ws.yaml:3:1: a second YAML document starts here; tallyfy-groups.yaml must be a single document\n    hint: merge the documents into one `targets:` mapping"
        ]
    );
    let deep = format!("targets:\n  a:\n    org_id: {}{}\n", "[".repeat(70), "]".repeat(70));
    assert_eq!(
        errors(&deep),
        vec![
            "ws.yaml:3:77: the document nests deeper than 64 levels\n    hint: tallyfy-groups.yaml needs only four levels: targets → target → files → file"
        ]
    );
    assert_eq!(ok("\u{feff}targets:\n  a: {org_id: a, files: a.yaml}\n").names(), vec!["a"], "a byte-order mark is allowed");
}

#[test]
fn missing_files_are_reported_at_their_entry() {
    let w = ok(
        "targets:\n  staging:\n    org_id: a\n    files: [groups/common/, groups/staging/]\n  production:\n    org_id: b\n    files: groups/prod.yaml\n",
    );
    let exists = |p: &Path| p == Path::new("/repo/groups/common/");
    let d: Vec<String> = w.missing_files(exists).iter().map(|d| d.to_string()).collect();
    let hint = "hint: paths in ws.yaml are relative to its folder; create the file or correct the path";
    assert_eq!(
        d,
        vec![
            format!("ws.yaml:4:29: `groups/staging/` does not exist (in `files` of target `staging`)\n    {hint}"),
            format!("ws.yaml:7:12: `groups/prod.yaml` does not exist (in `files` of target `production`)\n    {hint}"),
        ]
    );
    assert!(w.missing_files(|_| true).is_empty());
}

#[test]
fn all_problems_says_missing_files_with_the_others() {
    let text = "targets:\n  staging:\n    org_id: a.b\n    files: [groups/staging/]\n";
    let exists = |p: &Path| p != Path::new("/repo/groups/staging/");
    let said: Vec<String> = all_problems("ws.yaml", text, Path::new("/repo"), exists).0.iter().map(|d| d.message.clone()).collect();
    assert_eq!(
        said,
        vec![
            "`org_id` `a.b` is not an organization id: it may use only ASCII letters, digits, `-` and `_`".to_string(),
            "`groups/staging/` does not exist (in `files` of target `staging`)".to_string(),
        ]
    );
    // A clean file has only the file system's problems; a file that is not YAML only its own.
    assert!(all_problems("ws.yaml", "targets:\n  a: {org_id: a, files: a.yaml}\n", Path::new("/repo"), |_| true).0.is_empty());
    assert_eq!(all_problems("ws.yaml", "targets: [", Path::new("/repo"), |_| false).0.len(), 1);
}

mod fuzz {
    use proptest::prelude::*;

    use super::*;

    fn soup() -> impl Strategy<Value = String> {
        let token = prop::sample::select(vec![
            "targets:",
            "staging:",
            "eu prod:",
            "org_id: ",
            "api_url: ",
            "credentials_env: ",
            "files: ",
            "export_to: ",
            "\n",
            "\n  ",
            "\n    ",
            "\n      - ",
            "- ",
            "[",
            "]",
            "{",
            "}",
            ",",
            ": ",
            "\"",
            "'",
            "#",
            "&a ",
            "*a",
            "!t ",
            "|",
            "---",
            "~",
            "abc",
            "a/b",
            "..",
            "TALLYFY_X",
            "groups/",
            "https://x",
            "\t",
            "\u{feff}",
            "é",
            "? ",
            "\r\n",
        ]);
        prop::collection::vec(token, 0..48).prop_map(|t| t.concat())
    }

    proptest! {
        /// Any text gives a workspace or located problems, never a panic.
        #[test]
        fn any_text_gives_a_workspace_or_located_problems(text in soup()) {
            match std::panic::catch_unwind(|| parse("ws.yaml", &text, Path::new("."))) {
                Err(_) => prop_assert!(false, "parse panicked on {text:?}"),
                Ok(Ok(w)) => prop_assert!(!w.targets.is_empty()),
                Ok(Err(d)) => {
                    prop_assert!(!d.0.is_empty());
                    for d in &d.0 {
                        prop_assert!(d.at.is_some(), "no location: {d}");
                    }
                }
            }
        }
    }
}

#[test]
fn a_target_name_does_not_start_with_a_dash() {
    // `--target -f` and `--allow-removals -f=reason` would be read as options.
    let e = errors(
        "targets:\n  -f: {org_id: a, files: a.yaml}\n  --all-or-nothing: {org_id: b, files: a.yaml}\n  -: {org_id: c, files: a.yaml}\n",
    );
    let use_ = "the name is typed in `--target NAME` and `--allow-removals NAME=\"reason\"`";
    assert_eq!(
        e,
        vec![
            format!("ws.yaml:2:3: target name `-f` starts with `-`\n    hint: for example `f`; {use_}"),
            format!("ws.yaml:3:3: target name `--all-or-nothing` starts with `-`\n    hint: for example `all-or-nothing`; {use_}"),
            format!("ws.yaml:4:3: target name `-` starts with `-`\n    hint: for example `target`; {use_}"),
        ]
    );
    assert_eq!(ok("targets:\n  eu-prod-: {org_id: a, files: a.yaml}\n  _x: {org_id: b, files: a.yaml}\n").targets.len(), 2);
    // What is suggested for another bad name does not start with `-` either.
    assert_eq!(
        errors("targets:\n  ~: {org_id: a, files: a.yaml}\n  .hidden: {org_id: b, files: a.yaml}\n"),
        vec![
            format!("ws.yaml:2:3: target name `~` may use only ASCII letters, digits, `-` and `_`\n    hint: for example `target`; {use_}"),
            format!(
                "ws.yaml:3:3: target name `.hidden` may use only ASCII letters, digits, `-` and `_`\n    hint: for example `hidden`; {use_}"
            ),
        ]
    );
}

#[test]
fn org_id_is_what_the_client_accepts() {
    // Validated ids must be ids every plan can use: the client sends only letters, digits, `-`
    // and `_` in the path (and the sandbox serves no other).
    let e = messages(
        "targets:\n  a:\n    org_id: org a\n    files: a.yaml\n  b:\n    org_id: 'b?x#y'\n    files: a.yaml\n  c:\n    org_id: v1.2\n    files: a.yaml\n  d:\n    org_id: '%2F'\n    files: a.yaml\n",
    );
    let rule = "is not an organization id: it may use only ASCII letters, digits, `-` and `_`";
    assert_eq!(
        e,
        vec![
            format!("ws.yaml:3:13: `org_id` `org a` {rule}"),
            format!("ws.yaml:6:13: `org_id` `b?x#y` {rule}"),
            format!("ws.yaml:9:13: `org_id` `v1.2` {rule}"),
            format!("ws.yaml:12:13: `org_id` `%2F` {rule}"),
        ]
    );
    assert_eq!(ok("targets:\n  a:\n    org_id: 3f1c_d-9\n    files: a.yaml\n").targets[0].org_id, "3f1c_d-9");
}

#[test]
fn the_same_organization_at_a_url_written_in_other_case_is_found() {
    // Scheme, host and path are compared without regard to case: the same organization at the
    // same API.
    let e = messages(
        "targets:\n  staging:\n    org_id: abc\n    files: a.yaml\n  production:\n    org_id: abc\n    api_url: HTTPS://GO.Tallyfy.com/API/\n    files: b.yaml\n",
    );
    assert_eq!(
        e,
        vec![
            "ws.yaml:5:3: targets `staging` (ws.yaml:2:3) and `production` (ws.yaml:5:3) both manage organization abc at https://go.tallyfy.com/api (`production` writes it as abc at HTTPS://GO.Tallyfy.com/API/): each organization belongs to one target"
        ]
    );
}

#[test]
fn the_same_organization_at_an_api_url_written_another_way_is_found() {
    // Each pair is one organization at one API, written two ways.
    for (first, second) in [
        ("org_id: abc, api_url: 'http://localhost:8080/api'", "org_id: abc, api_url: 'http://127.0.0.1:8080/api'"),
        ("org_id: abc, api_url: 'http://[::1]:8080/api'", "org_id: abc, api_url: 'http://localhost:8080/api/'"),
        ("org_id: abc, api_url: 'https://go.tallyfy.com:443/api'", "org_id: abc"),
        ("org_id: abc, api_url: 'http://localhost:80/api'", "org_id: abc, api_url: 'http://localhost/api'"),
        ("org_id: abc, api_url: 'https://go.tallyfy.com./api'", "org_id: abc"),
        ("org_id: abc, api_url: 'https://go.tallyfy.com/api/.'", "org_id: abc"),
        ("org_id: abc, api_url: 'https://go.tallyfy.com//api'", "org_id: abc"),
        ("org_id: abc, api_url: 'https://go.tallyfy.com/api?'", "org_id: abc"),
        ("org_id: abc, api_url: 'https://go.tallyfy.com/api#'", "org_id: abc"),
        ("org_id: abc, api_url: 'https://api.tallyfy.com'", "org_id: abc"),
        ("org_id: abc, api_url: 'https://api.tallyfy.com/'", "org_id: abc, api_url: 'https://go.tallyfy.com/api'"),
        ("org_id: ABC", "org_id: abc"),
    ] {
        let text = format!("targets:\n  one: {{{first}, files: a.yaml}}\n  two: {{{second}, files: b.yaml}}\n");
        let e = messages(&text);
        assert_eq!(e.len(), 1, "{first} / {second}: {e:#?}");
        assert!(
            e[0].starts_with("ws.yaml:3:3: targets `one` (ws.yaml:2:3) and `two` (ws.yaml:3:3) both manage organization "),
            "{first} / {second}: {}",
            e[0]
        );
    }
    // Another port, another host, another path, another org: other organizations or APIs.
    let w = ok(
        "targets:\n  a: {org_id: abc, api_url: 'http://localhost:8080/api', files: a.yaml}\n  b: {org_id: abc, api_url: 'http://localhost:8081/api', files: a.yaml}\n  c: {org_id: abc, api_url: 'http://127.0.0.2:8080/api', files: a.yaml}\n  d: {org_id: abc, api_url: 'https://api.tallyfy.com/api', files: a.yaml}\n  e: {org_id: abc, api_url: 'https://go.tallyfy.com/api/v2', files: a.yaml}\n  f: {org_id: abd, files: a.yaml}\n",
    );
    assert_eq!(w.targets.len(), 6);
}

#[test]
fn api_urls_are_normalised_before_they_are_compared() {
    for (a, b) in [
        ("https://go.tallyfy.com/api", "HTTPS://GO.TALLYFY.COM/API"),
        ("https://go.tallyfy.com/api", "https://go.tallyfy.com:443/api/"),
        ("https://go.tallyfy.com/api", "https://go.tallyfy.com./api"),
        ("https://go.tallyfy.com/api", "https://go.tallyfy.com/api/."),
        ("https://go.tallyfy.com/api", "https://go.tallyfy.com//api//"),
        ("https://go.tallyfy.com/api", "https://go.tallyfy.com/api?#"),
        ("https://go.tallyfy.com/api", "https://go.tallyfy.com/x/../api"),
        ("https://go.tallyfy.com/api", "https://api.tallyfy.com"),
        ("https://go.tallyfy.com/api", "https://api.tallyfy.com/"),
        ("https://go.tallyfy.com/api", " https://api.tallyfy.com:443 "),
        ("http://localhost:8080/api", "http://127.0.0.1:8080/api"),
        ("http://localhost:8080/api", "http://[::1]:8080/api"),
        ("http://localhost:8080/api", "http://LOCALHOST.:8080/API/"),
        ("http://localhost/api", "http://127.0.0.1:80/api"),
    ] {
        assert_eq!(api_identity(a), api_identity(b), "{a} / {b}");
    }
    for (a, b) in [
        ("https://go.tallyfy.com/api", "http://go.tallyfy.com/api"),
        ("https://go.tallyfy.com/api", "https://go.tallyfy.com:8443/api"),
        ("https://go.tallyfy.com/api", "https://api.tallyfy.com/api"),
        ("https://go.tallyfy.com/api", "https://go.tallyfy.com/api/v2"),
        ("https://go.tallyfy.com/api", "https://go.tallyfy.com/api?region=eu"),
        ("http://localhost:8080/api", "http://localhost:8081/api"),
        ("http://localhost:8080/api", "http://127.0.0.2:8080/api"),
        ("http://localhost:80/api", "https://localhost:443/api"),
    ] {
        assert_ne!(api_identity(a), api_identity(b), "{a} / {b}");
    }
    assert_eq!(api_identity("https://api.tallyfy.com/"), "https://go.tallyfy.com/api");
}

#[test]
fn a_mistyped_target_name_finds_the_target_it_meant() {
    let ws = ok(
        "targets:\n  production:\n    org_id: p\n    files: [a/]\n  staging:\n    org_id: s\n    files: [b/]\n  eu:\n    org_id: e\n    files: [c/]\n",
    );
    assert_eq!(ws.closest_target("prodution"), Some("production"));
    assert_eq!(ws.closest_target("Staging"), Some("staging"));
    assert_eq!(ws.closest_target("EU"), Some("eu"));
    assert_eq!(ws.closest_target("ue"), None);
    // A target itself, or a word far from every target, is no typo.
    assert_eq!(ws.closest_target("staging"), None);
    assert_eq!(ws.closest_target("ratio"), None);
    assert_eq!(ws.closest_target("prod"), None);
}

#[test]
fn plain_http_is_for_this_machine_only() {
    let file = |url: &str| format!("targets:\n  a:\n    org_id: a\n    files: a.yaml\n    api_url: {url}\n");
    for local in
        ["http://localhost:8787/api", "http://127.0.0.1:9/api", "http://[::1]:80/api", "HTTP://LOCALHOST/api", "https://go.tallyfy.com/api"]
    {
        assert_eq!(ok(&file(local)).targets[0].api_url.as_deref(), Some(local), "{local}");
    }
    for remote in ["http://go.tallyfy.com/api", "http://127.0.0.1.evil.example/api", "http://localhost.example/api", "http://10.0.0.1/api"]
    {
        let e = errors(&file(remote));
        assert_eq!(e.len(), 1, "{remote}: {e:?}");
        assert!(e[0].starts_with("ws.yaml:5:14: `api_url`") && e[0].contains("plain http to another machine"), "{remote}: {e:?}");
    }
    let e = errors(&file("ftp://files.example/api"));
    assert!(e[0].contains("is not an https:// URL"), "{e:?}");
}
