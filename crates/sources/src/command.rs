//! `command: [program, args...]`: run without a shell, in the folder of the file that defines
//! it, with a clean environment (`PATH`, `HOME` and the variables its `env:` names, nothing
//! else), its own process group, and a `timeout` after which the whole group is killed. Its
//! standard output is one address per line (blank lines and `#` comments ignored; anything
//! else fails the source); its error output is shown, with the values of the variables it was
//! given scrubbed, when it fails. Runs only when the pipeline allows commands.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};

use tallyfy_groups_core::model::Email;
use tallyfy_groups_core::source::{CommandSpec, Person, SourceRead, SourceSpec};
use tokio::io::AsyncReadExt;

use crate::ReadOptions;

/// The variable that allows command sources, like `--allow-command-sources` (`1` or `true`).
pub const ALLOW_COMMANDS_VAR: &str = "TALLYFY_GROUPS_ALLOW_COMMANDS";

/// `PATH` when the process has none.
const DEFAULT_PATH: &str = "/usr/local/bin:/usr/bin:/bin";

/// The last lines of error output shown in a failure.
const STDERR_LINES_SHOWN: usize = 20;

/// Standard output beyond this fails the source (no list of people is that long).
const MAX_STDOUT: u64 = 256 * 1024 * 1024;

/// Runs the command and reads the addresses it prints.
pub(crate) async fn read(spec: &SourceSpec, command: &CommandSpec, options: &ReadOptions) -> Result<SourceRead, String> {
    if !options.allow_commands {
        return Err(format!(
            "command sources run only when the pipeline allows them: pass --allow-command-sources (or set {ALLOW_COMMANDS_VAR}=1) where the pipeline runs; a pull request can edit the groups files, so the files alone never start a program"
        ));
    }
    let Some(program) = command.argv.first() else {
        return Err("the command is empty".to_string());
    };
    let program = program_path(program, &spec.dir);
    let mut cmd = tokio::process::Command::new(&program);
    cmd.args(&command.argv[1..])
        .current_dir(&spec.dir)
        .env_clear()
        .env("PATH", options.env.get("PATH").unwrap_or_else(|| DEFAULT_PATH.to_string()))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    if let Some(home) = options.env.get("HOME") {
        cmd.env("HOME", home);
    }
    let mut secrets = Vec::new();
    for name in &command.env {
        if let Some(value) = options.env.get(name) {
            if value.len() >= 4 {
                secrets.push(value.clone());
            }
            cmd.env(name, value);
        }
    }
    #[cfg(unix)]
    cmd.process_group(0);
    let mut child = cmd.spawn().map_err(|e| spawn_error(&program, &spec.dir, &e))?;
    // Killed, with everything it started, if this read is abandoned (an interrupted run).
    let mut group = GroupGuard(child.id());
    let mut stdout = child.stdout.take().ok_or("its output could not be read")?;
    let mut stderr = child.stderr.take().ok_or("its error output could not be read")?;
    let out = tokio::spawn(async move {
        let mut buf = Vec::new();
        (&mut stdout).take(MAX_STDOUT + 1).read_to_end(&mut buf).await.map(|_| buf)
    });
    let err = tokio::spawn(async move {
        let mut buf = Vec::new();
        stderr.read_to_end(&mut buf).await.map(|_| buf)
    });
    let timeout = command.timeout;
    let deadline = tokio::time::Instant::now() + timeout;
    let finished = async {
        // Until its output ends (something it started may still hold it open: the deadline
        // covers that too), or passes the cap: then it is stopped rather than left blocked on
        // a full pipe until the timeout.
        let out = out.await;
        if matches!(&out, Ok(Ok(bytes)) if bytes.len() as u64 > MAX_STDOUT) {
            return None;
        }
        let status = child.wait().await;
        let err = err.await;
        Some((status, out, err))
    };
    let (status, out, err) = match tokio::time::timeout_at(deadline, finished).await {
        Ok(Some(done)) => done,
        Ok(None) => {
            group.kill();
            return Err(format!("it printed more than {} MiB, so it was stopped", MAX_STDOUT / 1024 / 1024));
        }
        Err(_) => {
            group.kill();
            return Err(format!(
                "it did not finish within {} s, so it was stopped with every process it started (raise `timeout:` if it needs longer)",
                timeout.as_secs_f64()
            ));
        }
    };
    group.disarm();
    let status = status.map_err(|e| format!("waiting for it failed: {e}"))?;
    let stderr_text = err.ok().and_then(Result::ok).map(|b| scrub(&String::from_utf8_lossy(&b), &secrets)).unwrap_or_default();
    if !status.success() {
        return Err(format!("it {}{}", exit_words(status), stderr_tail(&stderr_text)));
    }
    let out = match out {
        Ok(Ok(bytes)) => bytes,
        _ => return Err("its output could not be read".to_string()),
    };
    let text = String::from_utf8(out).map_err(|_| "its output is not UTF-8 text".to_string())?;
    parse_output(&text)
}

/// One address per line; blank lines and `#` comments ignored; anything else fails.
fn parse_output(text: &str) -> Result<SourceRead, String> {
    let mut people = Vec::new();
    let mut seen = HashSet::new();
    let mut bad = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        match Email::parse(line) {
            Ok(email) => {
                if seen.insert(email.clone()) {
                    people.push(Person { email, line: None });
                }
            }
            Err(why) => bad.push(format!("line {} of its output, `{}`, is not an email address ({why})", i + 1, shorten(line))),
        }
    }
    if let Some(first) = bad.first() {
        let more = if bad.len() > 1 { format!(" (and {} more such lines)", bad.len() - 1) } else { String::new() };
        return Err(format!("{first}{more}; a command source prints one address per line, and `#` starts a comment"));
    }
    Ok(SourceRead { people, warnings: Vec::new() })
}

/// A program with a `/` is a path relative to the defining file's folder; a bare name is looked
/// up in `PATH`.
fn program_path(program: &str, dir: &Path) -> PathBuf {
    let path = Path::new(program);
    if path.is_absolute() || !program.contains('/') {
        return path.to_path_buf();
    }
    // Absolute: a relative program is resolved in the folder the child runs in, which is `dir`
    // itself, so `dir/./script` would be looked for in `dir/dir/`.
    let joined = dir.join(path);
    std::path::absolute(&joined).unwrap_or(joined)
}

fn spawn_error(program: &Path, dir: &Path, e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound if !program.is_absolute() && program.components().count() == 1 => {
            format!("`{}` was not found in PATH", program.display())
        }
        std::io::ErrorKind::NotFound => format!(
            "{} was not found (a relative program is relative to the folder of the file that defines the source, {})",
            program.display(),
            dir.display()
        ),
        std::io::ErrorKind::PermissionDenied if program.is_dir() => {
            format!("{} is a folder, not a program", program.display())
        }
        std::io::ErrorKind::PermissionDenied => {
            format!("{} cannot be run: permission denied (is it executable? chmod +x)", program.display())
        }
        _ => format!("{} could not be started: {e}", program.display()),
    }
}

fn exit_words(status: ExitStatus) -> String {
    if let Some(code) = status.code() {
        return format!("exited with status {code}");
    }
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(signal) = status.signal() {
            return format!("was killed by signal {signal}");
        }
    }
    "ended abnormally".to_string()
}

fn stderr_tail(text: &str) -> String {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    if lines.is_empty() {
        return " (it wrote no error output)".to_string();
    }
    let skipped = lines.len().saturating_sub(STDERR_LINES_SHOWN);
    let mut out = String::from("; its error output");
    if skipped > 0 {
        out.push_str(&format!(" (last {STDERR_LINES_SHOWN} lines)"));
    }
    out.push(':');
    for l in &lines[skipped..] {
        out.push_str("\n      ");
        out.push_str(&shorten(l));
    }
    out
}

/// The values of the variables the command was given, replaced wherever they appear.
fn scrub(text: &str, secrets: &[String]) -> String {
    secrets.iter().fold(text.to_string(), |t, s| t.replace(s.as_str(), "***"))
}

fn shorten(s: &str) -> String {
    const MAX: usize = 200;
    if s.chars().count() <= MAX { s.to_string() } else { format!("{}…", s.chars().take(MAX).collect::<String>()) }
}

/// Kills the child's process group when dropped armed: a read that times out or is abandoned
/// leaves nothing running.
struct GroupGuard(Option<u32>);

impl GroupGuard {
    fn kill(&mut self) {
        if let Some(pid) = self.0.take() {
            kill_group(pid);
        }
    }

    fn disarm(&mut self) {
        self.0 = None;
    }
}

impl Drop for GroupGuard {
    fn drop(&mut self) {
        self.kill();
    }
}

#[cfg(unix)]
fn kill_group(pid: u32) {
    if let Some(pgid) = i32::try_from(pid).ok().and_then(rustix::process::Pid::from_raw) {
        // The group's id is the child's pid (`process_group(0)`); the child is not reaped yet,
        // so the id cannot have been reused.
        let _ = rustix::process::kill_process_group(pgid, rustix::process::Signal::KILL);
    }
}

#[cfg(not(unix))]
fn kill_group(_pid: u32) {
    // `kill_on_drop` ends the child itself.
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_is_one_address_per_line_with_comments() {
        let read = parse_output("# finance approvers\n\nAnn@Example.com\n  bob@example.com  \nann@example.com\n").expect("read");
        let got: Vec<&str> = read.people.iter().map(|p| p.email.as_str()).collect();
        assert_eq!(got, ["ann@example.com", "bob@example.com"]);
        let err = parse_output("ann@example.com\nERROR: directory down\nbob\n").unwrap_err();
        assert!(err.starts_with("line 2 of its output, `ERROR: directory down`, is not an email address"), "{err}");
        assert!(err.contains("(and 1 more such lines)"), "{err}");
    }

    #[test]
    fn secrets_are_scrubbed_and_error_output_is_cut_to_its_end() {
        assert_eq!(scrub("bind failed for s3cret-pw", &["s3cret-pw".into()]), "bind failed for ***");
        let long: String = (1..=30).map(|i| format!("line {i}\n")).collect();
        let tail = stderr_tail(&long);
        assert!(tail.contains("(last 20 lines)") && tail.contains("line 30") && !tail.contains("line 10\n"), "{tail}");
        assert_eq!(stderr_tail(""), " (it wrote no error output)");
    }

    #[test]
    fn programs_with_a_slash_are_relative_to_the_defining_folder() {
        let dir = Path::new("/repo/teams");
        assert_eq!(program_path("./scripts/a.sh", dir), Path::new("/repo/teams/scripts/a.sh"));
        let cwd = std::env::current_dir().unwrap();
        assert_eq!(program_path("./a.sh", Path::new("teams")), cwd.join("teams/a.sh"));
        assert_eq!(program_path("python3", dir), Path::new("python3"));
        assert_eq!(program_path("/usr/bin/env", dir), Path::new("/usr/bin/env"));
    }
}
