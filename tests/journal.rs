//! The apply journal end to end: the real binary on the embedded (or a served) sandbox appends
//! one chained line per apply, whatever came of it; `journal verify` finds an edited line;
//! `journal show` filters by group, person and day; the journal never holds the token.

use std::path::Path;

use serde_json::Value;

mod common;

use common::cli::{Cli, Run, serve, write};

fn scratch() -> tempfile::TempDir {
    tempfile::tempdir().expect("tempdir")
}

/// A run as a GitHub Actions job would make it (so that the commit and actor are known, and the
/// host's own CI variables do not leak in).
fn ci(dir: &Path) -> Cli {
    Cli::new(dir)
        .env("GITHUB_REPOSITORY", "acme/groups")
        .env("GITHUB_REF", "refs/heads/main")
        .env("GITHUB_SHA", "0123456789abcdef0123456789abcdef01234567")
        .env("GITHUB_ACTOR", "alice")
}

/// `tallyfy-groups <args> --sandbox` with the sandbox state in `dir`.
fn sb(dir: &Path, args: &[&str]) -> Run {
    let state = dir.join("state.json");
    ci(dir).args(args).args(&["--sandbox", "--sandbox-state", state.to_str().unwrap_or_default()]).run()
}

fn entries(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).expect("journal");
    text.lines().map(|l| serde_json::from_str(l).expect("a JSON line")).collect()
}

const ONE: &str =
    "groups:\n  - name: Journal Room\n    description: Kept by the journal test.\n    members:\n      - alice.nguyen@example.com\n";
const TWO: &str = "groups:\n  - name: Journal Room\n    description: Kept by the journal test.\n    members:\n      - alice.nguyen@example.com\n      - marco.rossi@example.com\n  - name: Other Room\n    description: Another.\n    members:\n      - priya.shah@example.com\n";

#[test]
fn two_applies_make_a_chain_that_verifies() {
    let dir = scratch();
    let d = dir.path();
    let journal = d.join("journal.jsonl");
    let j = journal.to_str().unwrap_or_default();
    let f = write(d, "groups.yaml", ONE);
    sb(d, &["apply", "-f", &f, "--auto-approve", "--journal", j]).expect_code(0);
    write(d, "groups.yaml", TWO);
    sb(d, &["apply", "-f", &f, "--auto-approve", "--journal", j]).expect_code(0);
    let lines = entries(&journal);
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["prev_sha256"], "0".repeat(64));
    assert_ne!(lines[0]["run_id"], lines[1]["run_id"]);
    for e in &lines {
        assert_eq!(e["format_version"], 1);
        assert_eq!(e["outcome"], "applied");
        assert_eq!(e["target"]["organization"], "sandbox");
        assert_eq!(e["git"]["repo"], "acme/groups");
        assert_eq!(e["git"]["ref"], "refs/heads/main");
        assert_eq!(e["git"]["commit"], "0123456789abcdef0123456789abcdef01234567");
        assert_eq!(e["actor"], "alice");
        assert!(e["plan_checksum"].as_str().is_some_and(|c| c.starts_with("sha256:")), "{e}");
        assert_eq!(e["policy_overrides"], Value::Array(Vec::new()));
        assert!(e["started_at"].as_str().is_some_and(|t| t.len() == 20 && t.ends_with('Z')), "{e}");
    }
    assert_eq!(lines[0]["summary"]["create"], 1);
    assert_eq!(lines[0]["results"][0]["action"], "create_group");
    assert_eq!(lines[0]["results"][0]["group"], "Journal Room");
    assert_eq!(lines[0]["results"][0]["added"][0], "alice.nguyen@example.com");
    let update = lines[1]["results"].as_array().into_iter().flatten().find(|r| r["group"] == "Journal Room").expect("the update");
    assert_eq!(update["action"], "update_group");
    assert_eq!(update["added"], serde_json::json!(["marco.rossi@example.com"]));
    let verified = Cli::new(d).args(&["journal", "verify", j]).run().expect_code(0);
    // The last entry is checked by no later line: verify gives its hash to pin elsewhere.
    let text = std::fs::read(&journal).expect("read");
    let last = text.strip_suffix(b"\n").unwrap_or(&text).rsplit(|&b| b == b'\n').next().unwrap_or_default();
    let pin = tallyfy_groups_core::journal::line_sha256(last);
    assert!(verified.stdout.starts_with(&format!("2 entries, chain intact\nlast entry: sha256 {pin}\n")), "{}", verified.stdout);
    // An edit of the last entry that keeps it JSON passes the chain, and changes that hash.
    let body = String::from_utf8(text.clone()).expect("utf-8");
    let start = body.trim_end_matches('\n').rfind('\n').map_or(0, |i| i + 1);
    let edited = format!("{}{}", &body[..start], body[start..].replace("\"alice\"", "\"mallo\""));
    assert_ne!(edited, body);
    std::fs::write(&journal, &edited).expect("write");
    let again = Cli::new(d).args(&["journal", "verify", j]).run().expect_code(0);
    assert!(!again.stdout.contains(&pin), "the pinned hash tells the edit: {}", again.stdout);
}

#[test]
fn a_journal_cut_short_refuses_the_apply_before_anything_is_written() {
    let dir = scratch();
    let d = dir.path();
    let journal = d.join("journal.jsonl");
    let j = journal.to_str().unwrap_or_default();
    let f = write(d, "groups.yaml", ONE);
    sb(d, &["apply", "-f", &f, "--auto-approve", "--journal", j]).expect_code(0);
    let text = std::fs::read(&journal).expect("read");
    std::fs::write(&journal, &text[..text.len() - 1]).expect("cut");
    let g = write(d, "groups.yaml", TWO);
    let state_before = std::fs::read(d.join("state.json")).expect("state");
    let refused = sb(d, &["apply", "-f", &g, "--auto-approve", "--journal", j]).expect_code(1);
    assert!(
        refused.stderr.contains("its last line does not end with a newline (cut short, or edited); nothing was applied"),
        "{}",
        refused.stderr
    );
    assert_eq!(std::fs::read(d.join("state.json")).expect("state"), state_before, "nothing was applied");
    assert_eq!(std::fs::read(&journal).expect("read"), text[..text.len() - 1], "nothing was appended");
}

#[test]
fn one_flipped_byte_breaks_the_chain_at_the_next_line() {
    let dir = scratch();
    let d = dir.path();
    let journal = d.join("journal.jsonl");
    let j = journal.to_str().unwrap_or_default();
    let f = write(d, "groups.yaml", ONE);
    sb(d, &["apply", "-f", &f, "--auto-approve", "--journal", j]).expect_code(0);
    for _ in 0..2 {
        sb(d, &["apply", "-f", &f, "--auto-approve", "--journal", j]).expect_code(0);
    }
    Cli::new(d).args(&["journal", "verify", j]).run().expect_code(0);
    let original = std::fs::read(&journal).expect("read");
    let starts: Vec<usize> =
        std::iter::once(0).chain(original.iter().enumerate().filter(|(_, b)| **b == b'\n').map(|(i, _)| i + 1)).collect();
    // A byte of line 2's actor (alice → blice): line 3's prev_sha256 no longer matches.
    let mut edited = original.clone();
    let line2 = &original[starts[1]..starts[2]];
    let at = starts[1] + line2.windows(7).position(|w| w == b"\"alice\"").expect("actor") + 1;
    edited[at] ^= 0x03;
    std::fs::write(&journal, &edited).expect("write");
    let broken = Cli::new(d).args(&["journal", "verify", j]).run().expect_code(1);
    assert!(broken.stderr.contains("broken at line 3: prev_sha256 mismatch"), "{}", broken.stderr);
    assert!(broken.stderr.contains("line 3 or the line before it was changed; line 1 is intact"), "{}", broken.stderr);
    // The last line's own bytes: nothing follows it, so its own hash is not checked, but its
    // JSON is; a flipped quote makes it not JSON.
    let mut edited = original.clone();
    edited[starts[2]] = b'x';
    std::fs::write(&journal, &edited).expect("write");
    let broken = Cli::new(d).args(&["journal", "verify", j]).run().expect_code(1);
    assert!(broken.stderr.contains("broken at line 3: not JSON"), "{}", broken.stderr);
    // The first line's prev_sha256 itself.
    let mut edited = original.clone();
    let zeros = original.windows(3).position(|w| w == b"000").expect("genesis");
    edited[zeros] = b'1';
    std::fs::write(&journal, &edited).expect("write");
    let broken = Cli::new(d).args(&["journal", "verify", j]).run().expect_code(1);
    assert!(broken.stderr.contains("broken at line 1: prev_sha256 mismatch"), "{}", broken.stderr);
    // A broken journal is not appended to blindly: its chain stays as it was, and show refuses.
    Cli::new(d).args(&["journal", "show", j]).run().expect_code(1);
}

#[test]
fn a_run_that_changes_nothing_is_recorded() {
    let dir = scratch();
    let d = dir.path();
    let journal = d.join("journal.jsonl");
    let j = journal.to_str().unwrap_or_default();
    let f = write(d, "groups.yaml", ONE);
    sb(d, &["apply", "-f", &f, "--auto-approve"]).expect_code(0);
    // No changes.
    sb(d, &["apply", "-f", &f, "--auto-approve", "--journal", j]).expect_code(0);
    // Refused by the removal guard.
    let prune = write(d, "prune.yaml", "settings:\n  prune: true\ngroups: []\n");
    sb(d, &["apply", "-f", &prune, "--auto-approve", "--journal", j]).expect_code(3);
    // Refused: neither a terminal nor --auto-approve.
    write(d, "groups.yaml", TWO);
    sb(d, &["apply", "-f", &f, "--journal", j]).expect_code(3);
    // Failed before anything was planned: a file that does not load.
    let bad = write(d, "bad.yaml", "groups:\n  - name: [\n");
    sb(d, &["apply", "-f", &bad, "--auto-approve", "--journal", j]).expect_code(1);
    let lines = entries(&journal);
    let outcomes: Vec<&str> = lines.iter().map(|e| e["outcome"].as_str().unwrap_or_default()).collect();
    assert_eq!(outcomes, ["no_changes", "refused", "refused", "failed"]);
    assert!(lines.iter().all(|e| e["results"] == Value::Array(Vec::new())), "nothing was sent");
    assert!(lines[1]["reason"].as_str().is_some_and(|r| r.contains("removal guard")), "{}", lines[1]);
    assert_eq!(lines[1]["summary"]["delete"].as_u64().map(|n| n > 0), Some(true));
    assert!(lines[2]["reason"].as_str().is_some_and(|r| r.contains("stdin is not a terminal")), "{}", lines[2]);
    assert!(lines[3]["error"].as_str().is_some_and(|r| r.contains("bad.yaml")), "{}", lines[3]);
    Cli::new(d).args(&["journal", "verify", j]).run().expect_code(0);
}

#[test]
fn the_environment_variable_names_the_journal() {
    let dir = scratch();
    let d = dir.path();
    let journal = d.join("from-env.jsonl");
    let f = write(d, "groups.yaml", ONE);
    let state = d.join("state.json");
    ci(d)
        .env("TALLYFY_GROUPS_JOURNAL", journal.to_str().unwrap_or_default())
        .args(&["apply", "-f", &f, "--auto-approve", "--sandbox", "--sandbox-state", state.to_str().unwrap_or_default()])
        .run()
        .expect_code(0);
    assert_eq!(entries(&journal).len(), 1);
    // A journal that cannot be opened stops the run before it changes anything.
    write(d, "groups.yaml", TWO);
    let missing = d.join("no-such-folder").join("j.jsonl");
    let run = sb(d, &["apply", "-f", &f, "--auto-approve", "--journal", missing.to_str().unwrap_or_default()]).expect_code(1);
    assert!(run.stderr.contains("cannot open the journal") && run.stderr.contains("nothing was applied"), "{}", run.stderr);
    sb(d, &["plan", "-f", &f, "--detailed-exitcode"]).expect_code(2);
}

#[test]
fn show_filters_by_group_person_and_day() {
    let dir = scratch();
    let d = dir.path();
    let journal = d.join("journal.jsonl");
    let j = journal.to_str().unwrap_or_default();
    let f = write(d, "groups.yaml", ONE);
    sb(d, &["apply", "-f", &f, "--auto-approve", "--journal", j]).expect_code(0);
    write(d, "groups.yaml", TWO);
    sb(d, &["apply", "-f", &f, "--auto-approve", "--journal", j]).expect_code(0);
    let show = |args: &[&str]| Cli::new(d).args(&["journal", "show", j]).args(args).run().expect_code(0).stdout;
    let all = show(&[]);
    assert_eq!(
        all.lines()
            .filter(|l| l.contains(" applied organization sandbox by alice from acme/groups@0123456789ab (refs/heads/main)"))
            .count(),
        2,
        "{all}"
    );
    assert!(all.contains("  create group \"Journal Room\": +alice.nguyen@example.com\n"), "{all}");
    assert!(all.contains("  update group \"Journal Room\": +marco.rossi@example.com\n"), "{all}");
    let marco = show(&["--person", "Marco.Rossi@example.com"]);
    assert_eq!(marco.lines().count(), 2, "one entry, one result: {marco}");
    assert!(marco.contains("+marco.rossi@example.com"), "{marco}");
    let other = show(&["--group", "Other*", "--format", "json"]);
    let kept: Vec<Value> = other.lines().map(|l| serde_json::from_str(l).expect("json")).collect();
    assert_eq!(kept.len(), 1);
    assert_eq!(kept[0]["results"].as_array().map(Vec::len), Some(1));
    assert_eq!(kept[0]["results"][0]["group"], "Other Room");
    assert_eq!(show(&["--since", "2999-01-01"]), "No entries.\n");
    assert_eq!(show(&["--since", "2000-01-01"]), all);
    let bad = Cli::new(d).args(&["journal", "show", j, "--group", "[unclosed"]).run().expect_code(1);
    assert!(bad.stderr.contains("not a glob"), "{}", bad.stderr);
}

#[test]
fn the_journal_never_holds_the_token() {
    let dir = scratch();
    let d = dir.path();
    let token = "journal-test-secret-4f9a27";
    let served = serve(&["--token", token]);
    let journal = d.join("journal.jsonl");
    let f = write(d, "groups.yaml", ONE);
    let run = |args: &[&str]| {
        ci(d)
            .args(args)
            .args(&["--api-url", &served.url, "--org", "sandbox", "--journal", journal.to_str().unwrap_or_default()])
            .env("TALLYFY_ACCESS_TOKEN", token)
            .run()
    };
    run(&["apply", "-f", &f, "--auto-approve"]).expect_code(0);
    // A failed run records its error, and the error never carries the token either.
    let wrong = ci(d)
        .args(&["apply", "-f", &f, "--auto-approve", "--api-url", &served.url, "--org", "sandbox"])
        .args(&["--journal", journal.to_str().unwrap_or_default()])
        .env("TALLYFY_ACCESS_TOKEN", "wrong-secret-88b1")
        .run();
    assert_eq!(wrong.code, 1, "{}", wrong.stderr);
    let text = std::fs::read_to_string(&journal).expect("journal");
    assert_eq!(text.lines().count(), 2, "{text}");
    assert!(!text.contains(token) && !text.contains("wrong-secret-88b1"), "{text}");
    let lines = entries(&journal);
    assert_eq!(lines[1]["outcome"], "failed");
    assert!(lines[1]["target"]["organization"] == "sandbox", "{}", lines[1]);
}
