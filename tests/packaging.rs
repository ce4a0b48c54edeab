//! What installing the tool relies on: the man pages it writes, the pre-commit hook it declares,
//! and the message a container image without CA certificates gets. Runs the real binary.

use std::path::Path;
use std::process::{Command, Output, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_tallyfy-groups");

fn run(args: &[&str], dir: &Path, env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.args(args).current_dir(dir).stdin(Stdio::null()).env("NO_COLOR", "1").env_remove("TALLYFY_ACCESS_TOKEN");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("the binary runs")
}

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Without any CA certificate (an image that dropped them), the error says so and what to do,
/// instead of reqwest's bare "builder error".
#[cfg(all(unix, not(target_vendor = "apple")))]
#[test]
fn missing_ca_certificates_are_named_with_the_fix() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("groups.yaml"), "groups: []\n").expect("write");
    let none = dir.path().join("no-certs");
    let none = none.to_str().expect("UTF-8 path");
    let out = run(
        &["plan", "--org", "acme", "--api-url", "https://127.0.0.1:9/api"],
        dir.path(),
        &[("TALLYFY_ACCESS_TOKEN", "t0ken"), ("SSL_CERT_FILE", none), ("SSL_CERT_DIR", none)],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("No CA certificates were loaded from the system"), "{stderr}");
    assert!(stderr.contains("install the ca-certificates package or set SSL_CERT_FILE"), "{stderr}");
    assert!(!stderr.contains("t0ken"), "{stderr}");
}

#[test]
fn man_out_dir_writes_one_page_per_command() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = run(&["man", "--out-dir", "man/man1"], dir.path(), &[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.stdout.is_empty(), "pages go to files, not stdout");
    let mut names: Vec<String> = std::fs::read_dir(dir.path().join("man/man1"))
        .expect("the directory exists")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert!(names.len() >= 8, "{names:?}");
    for want in ["tallyfy-groups.1", "tallyfy-groups-plan.1", "tallyfy-groups-apply.1", "tallyfy-groups-validate.1"] {
        assert!(names.iter().any(|n| n == want), "{want} missing: {names:?}");
    }
    let main = std::fs::read_to_string(dir.path().join("man/man1/tallyfy-groups.1")).expect("main page");
    let printed = run(&["man"], dir.path(), &[]);
    assert_eq!(main.as_bytes(), printed.stdout, "`man` prints the same main page it writes");
}

#[test]
fn man_out_dir_that_cannot_be_created_is_an_error_naming_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("file"), "").expect("write");
    let out = run(&["man", "--out-dir", "file/man1"], dir.path(), &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("error: cannot write file/man1:"), "{stderr}");
}

#[derive(Debug, serde::Deserialize)]
struct Hook {
    id: String,
    entry: String,
    language: String,
    pass_filenames: bool,
    #[serde(default)]
    args: Vec<String>,
}

/// Each hook in .pre-commit-hooks.yaml runs as pre-commit runs it (its entry and args, at the
/// repository root, no file names, no token): a good groups.yaml passes, a mistake fails the
/// commit with its location.
#[test]
fn pre_commit_hooks_catch_a_mistake_without_a_token() {
    let text = std::fs::read_to_string(repo().join(".pre-commit-hooks.yaml")).expect("the hooks file");
    let hooks: Vec<Hook> = marked_yaml::from_yaml_with_options(0, &text, marked_yaml::LoaderOptions::default().toplevel_sequence())
        .expect("the hooks file parses");
    assert_eq!(hooks.iter().map(|h| h.id.as_str()).collect::<Vec<_>>(), ["validate", "validate-installed"]);
    assert_eq!((hooks[0].language.as_str(), hooks[0].entry.as_str()), ("script", "packaging/pre-commit-validate.sh"));
    let example = std::fs::read_to_string(repo().join("groups.example.yaml")).expect("the example");
    // `validate` runs its script from pre-commit's checkout of this repository: a stand-in
    // checkout whose build is this test's binary (the build itself is the next test's).
    let checkout = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(checkout.path().join("packaging")).expect("mkdir");
    std::fs::create_dir_all(checkout.path().join("target/pre-commit/release")).expect("mkdir");
    std::fs::copy(repo().join("packaging/pre-commit-validate.sh"), checkout.path().join("packaging/pre-commit-validate.sh")).expect("copy");
    std::os::unix::fs::symlink(BIN, checkout.path().join("target/pre-commit/release/tallyfy-groups")).expect("symlink");
    let script = checkout.path().join("packaging/pre-commit-validate.sh");
    for hook in &hooks {
        assert!(!hook.pass_filenames, "{}: validate reads the configured files as a whole", hook.id);
        let run_hook = |dir: &Path| -> Output {
            if hook.language == "script" {
                Command::new(&script).args(&hook.args).current_dir(dir).stdin(Stdio::null()).env("NO_COLOR", "1").output().expect("runs")
            } else {
                let mut words = hook.entry.split_whitespace();
                assert_eq!(words.next(), Some("tallyfy-groups"), "{}", hook.id);
                let args: Vec<&str> = words.chain(hook.args.iter().map(String::as_str)).collect();
                run(&args, dir, &[])
            }
        };
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("groups.yaml"), &example).expect("write");
        let good = run_hook(dir.path());
        assert!(good.status.success(), "{}: {}", hook.id, String::from_utf8_lossy(&good.stderr));
        std::fs::write(dir.path().join("groups.yaml"), "groups:\n  - name: Ops\n    memebers: [a@example.com]\n").expect("write");
        let bad = run_hook(dir.path());
        let stderr = String::from_utf8_lossy(&bad.stderr);
        assert_eq!(bad.status.code(), Some(1), "{}: {stderr}", hook.id);
        assert!(stderr.contains("groups.yaml:3:5") && stderr.contains("members"), "{}: {stderr}", hook.id);
    }
}

/// The `validate` hook builds with `--locked` (Cargo.lock's exact dependencies) into its own
/// target folder on first use, and says what to do without cargo.
#[cfg(unix)]
#[test]
fn the_pre_commit_hook_builds_with_locked() {
    let checkout = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(checkout.path().join("packaging")).expect("mkdir");
    std::fs::copy(repo().join("packaging/pre-commit-validate.sh"), checkout.path().join("packaging/pre-commit-validate.sh")).expect("copy");
    // A stand-in cargo that records its arguments and "builds" the binary as this test's one.
    let tools = checkout.path().join("tools");
    std::fs::create_dir_all(&tools).expect("mkdir");
    let calls = checkout.path().join("cargo-calls");
    let cargo = format!(
        "#!/bin/sh\necho \"$*\" >> '{}'\nmkdir -p '{root}/target/pre-commit/release'\nln -sf '{BIN}' '{root}/target/pre-commit/release/tallyfy-groups'\n",
        calls.display(),
        root = checkout.path().display()
    );
    std::fs::write(tools.join("cargo"), cargo).expect("write");
    let mut perms = std::fs::metadata(tools.join("cargo")).expect("metadata").permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
    std::fs::set_permissions(tools.join("cargo"), perms).expect("chmod");
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("groups.yaml"), "groups: []\n").expect("write");
    let script = checkout.path().join("packaging/pre-commit-validate.sh");
    let path = format!("{}:/usr/bin:/bin", tools.display());
    for _ in 0..2 {
        let out = Command::new(&script).current_dir(dir.path()).env("PATH", &path).env("NO_COLOR", "1").output().expect("runs");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    let calls = std::fs::read_to_string(&calls).expect("cargo ran");
    assert_eq!(calls.lines().count(), 1, "built once, then reused: {calls}");
    assert!(calls.starts_with("build --locked --release --bin tallyfy-groups --manifest-path "), "{calls}");
    // Without cargo (and nothing built yet), it says what to do.
    std::fs::remove_dir_all(checkout.path().join("target")).expect("rm");
    let bare = checkout.path().join("bare");
    std::fs::create_dir_all(&bare).expect("mkdir");
    let dirname = ["/usr/bin/dirname", "/bin/dirname"].into_iter().find(|p| Path::new(p).exists()).expect("dirname");
    std::os::unix::fs::symlink(dirname, bare.join("dirname")).expect("symlink");
    let out = Command::new(&script).current_dir(dir.path()).env("PATH", &bare).output().expect("runs");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("building tallyfy-groups needs cargo"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `cargo binstall tallyfy-groups` finds the archive the release workflow publishes: the
/// metadata's templates, filled in for a target, give the archive's name and the binary's path
/// in it exactly as `.github/workflows/release.yml` makes them.
#[test]
fn binstall_finds_the_release_archives() {
    let manifest = std::fs::read_to_string(repo().join("Cargo.toml")).expect("Cargo.toml");
    let release = std::fs::read_to_string(repo().join(".github/workflows/release.yml")).expect("release.yml");
    let value = |key: &str| {
        manifest
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{key} = \"")).and_then(|v| v.strip_suffix('"')))
            .unwrap_or_else(|| panic!("no {key} in [package.metadata.binstall]"))
    };
    let fill = |template: &str, target: &str, suffix: &str, ext: &str| {
        template
            .replace("{ repo }", "https://github.com/tallyfy-groups/tallyfy-groups")
            .replace("{ name }", "tallyfy-groups")
            .replace("{ version }", "1.2.3")
            .replace("{ target }", target)
            .replace("{ archive-suffix }", suffix)
            .replace("{ bin }", "tallyfy-groups")
            .replace("{ binary-ext }", ext)
    };
    assert!(release.contains(r#"name="tallyfy-groups-$VERSION-$TARGET""#), "the release workflow names its archives another way");
    assert!(release.contains(r#"tar -czf "$name.tar.gz" "$name""#) && release.contains(r#"7z a -tzip "$name.zip" "$name""#));
    assert!(release.contains(r#"cp "$bin" README.md"#), "the binary sits in the archive's folder");
    let url = fill(value("pkg-url"), "x86_64-unknown-linux-musl", ".tar.gz", "");
    assert_eq!(
        url,
        "https://github.com/tallyfy-groups/tallyfy-groups/releases/download/v1.2.3/tallyfy-groups-v1.2.3-x86_64-unknown-linux-musl.tar.gz"
    );
    assert_eq!(
        fill(value("bin-dir"), "x86_64-pc-windows-msvc", ".zip", ".exe"),
        "tallyfy-groups-v1.2.3-x86_64-pc-windows-msvc/tallyfy-groups.exe"
    );
    assert!(manifest.contains("[package.metadata.binstall.overrides.x86_64-pc-windows-msvc]\npkg-fmt = \"zip\""));
}

/// The Homebrew formula a release publishes: made from the release's SHA256SUMS, one archive
/// and checksum per platform; a missing archive or a checksum that is not one fails it.
#[cfg(unix)]
#[test]
fn the_homebrew_formula_names_each_archive_with_its_own_checksum() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sums = dir.path().join("SHA256SUMS");
    let targets = ["aarch64-apple-darwin", "x86_64-apple-darwin", "aarch64-unknown-linux-musl", "x86_64-unknown-linux-musl"];
    let mut text = String::new();
    for (i, t) in targets.iter().enumerate() {
        text.push_str(&format!("{}  tallyfy-groups-v1.2.3-{t}.tar.gz\n", format!("{i}").repeat(64)));
    }
    text.push_str(&format!("{}  tallyfy-groups-v1.2.3-x86_64-pc-windows-msvc.zip\n", "f".repeat(64)));
    std::fs::write(&sums, &text).expect("write");
    let script = repo().join("packaging/homebrew-formula.sh");
    let formula = |sums: &Path| Command::new("sh").arg(&script).args(["v1.2.3"]).arg(sums).arg("acme/tg").output().expect("sh runs");
    let out = formula(&sums);
    let rb = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(rb.contains("class TallyfyGroups < Formula") && rb.contains("version \"1.2.3\""), "{rb}");
    for (i, t) in targets.iter().enumerate() {
        let url = format!("url \"https://github.com/acme/tg/releases/download/v1.2.3/tallyfy-groups-v1.2.3-{t}.tar.gz\"");
        let at = rb.find(&url).unwrap_or_else(|| panic!("{t} missing:\n{rb}"));
        let sha = format!("sha256 \"{}\"", format!("{i}").repeat(64));
        assert!(rb[at..].trim_start_matches(&url).trim_start().starts_with(&sha), "{t} has its own checksum:\n{rb}");
    }
    // A release without one of the archives, or with a bad checksum, gives no formula.
    std::fs::write(&sums, text.replace("tallyfy-groups-v1.2.3-x86_64-apple-darwin.tar.gz", "other.tar.gz")).expect("write");
    let out = formula(&sums);
    assert!(!out.status.success() && out.stdout.is_empty());
    assert!(String::from_utf8_lossy(&out.stderr).contains("has no line for tallyfy-groups-v1.2.3-x86_64-apple-darwin.tar.gz"));
    std::fs::write(&sums, text.replacen(&"1".repeat(64), "not-a-sha", 1)).expect("write");
    assert!(!formula(&sums).status.success());
}

/// The README and every page of docs/, in order.
fn doc_files() -> Vec<std::path::PathBuf> {
    let mut docs: Vec<std::path::PathBuf> = std::fs::read_dir(repo().join("docs"))
        .expect("docs")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
        .collect();
    docs.push(repo().join("README.md"));
    docs.sort();
    docs
}

/// Every file of the repository the docs and the README name by path exists: a doc that points
/// at a moved file (a test location, a script) is a doc that no longer matches the tree.
#[test]
fn every_repository_path_the_docs_name_exists() {
    let roots = ["crates/", "src/", "tests/", "docs/", ".github/", ".ci/", "action/", "packaging/", "bench/"];
    let docs = doc_files();
    let mut missing = Vec::new();
    for doc in &docs {
        let text = std::fs::read_to_string(doc).expect("readable");
        for quoted in text.split('`').skip(1).step_by(2) {
            let path = quoted.trim_start_matches("./");
            if roots.iter().any(|r| path.starts_with(r))
                && !path.contains(['*', ' ', '<', '{', '$'])
                && path.rsplit('/').next().is_some_and(|last| last.contains('.'))
                && !repo().join(path).exists()
            {
                missing.push(format!("{}: {path}", doc.file_name().and_then(|n| n.to_str()).unwrap_or_default()));
            }
        }
    }
    assert!(missing.is_empty(), "paths the docs name that do not exist:\n{}", missing.join("\n"));
}

/// Copies a folder tree.
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read_dir") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

/// Every block of output the docs show under `<!-- output of: tallyfy-groups ARGS -->` is what
/// the binary prints for ARGS (on a fresh embedded sandbox, in a folder holding
/// groups.example.yaml and docs/examples/): a doc example cannot drift from the tool.
#[test]
fn every_output_example_in_the_docs_is_what_the_binary_prints() {
    let docs = doc_files();
    let mut checked = 0;
    let mut wrong = Vec::new();
    for doc in &docs {
        let text = std::fs::read_to_string(doc).expect("readable");
        let lines: Vec<&str> = text.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            let Some(args) = line.strip_prefix("<!-- output of: tallyfy-groups ").and_then(|l| l.strip_suffix(" -->")) else { continue };
            assert!(
                lines.get(i + 1).is_some_and(|l| l.starts_with("```")),
                "{}:{}: the marker must stand right above a block",
                doc.display(),
                i + 1
            );
            let end = lines[i + 2..].iter().position(|l| l.starts_with("```")).map(|n| i + 2 + n).expect("the block ends");
            let shown: String = lines[i + 2..end].iter().map(|l| format!("{l}\n")).collect();
            let dir = tempfile::tempdir().expect("tempdir");
            std::fs::copy(repo().join("groups.example.yaml"), dir.path().join("groups.example.yaml")).expect("copy");
            copy_tree(&repo().join("docs/examples"), &dir.path().join("docs/examples"));
            let args: Vec<&str> = args.split_whitespace().collect();
            let out = run(&args, dir.path(), &[]);
            let printed = String::from_utf8_lossy(&out.stdout);
            if printed != shown {
                wrong.push(format!("{}:{}: `tallyfy-groups {}` prints:\n{printed}", doc.display(), i + 1, args.join(" ")));
            }
            checked += 1;
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    assert!(checked >= 2, "only {checked} output examples are marked");
}
