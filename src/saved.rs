//! Saved plans: writing a plan to a file, reading it back, and the staleness check that runs
//! before a saved plan is applied. `write`/`read` do file I/O; `check` is pure.

use std::collections::HashMap;
use std::path::Path;

use crate::model::{LiveState, name_key};
use crate::plan::{FORMAT_VERSION, Plan, fingerprint};

/// Writes a file atomically: a temporary file beside it, then a rename, so a crash never
/// leaves half a plan or report behind.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let file_name = path.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_else(|| "out".into());
    let tmp = dir.join(format!(".{file_name}.tmp-{}", std::process::id()));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

/// Saves a plan as JSON.
pub fn write(path: &Path, plan: &Plan) -> std::io::Result<()> {
    let json = serde_json::to_string_pretty(plan).map_err(std::io::Error::other)? + "\n";
    write_atomic(path, json.as_bytes())
}

/// Reads a saved plan, or says why it cannot be used.
pub fn read(path: &Path) -> Result<Plan, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read the saved plan {}: {e}", path.display()))?;
    let version = serde_json::from_str::<serde_json::Value>(&text)
        .map_err(|e| format!("{} is not a saved plan (not JSON: {e})", path.display()))?
        .get("format_version")
        .and_then(|v| v.as_u64());
    if version != Some(u64::from(FORMAT_VERSION)) {
        return Err(format!(
            "{} is not a saved plan of this version (format_version {:?}, expected {FORMAT_VERSION}); run `plan --out` again",
            path.display(),
            version
        ));
    }
    let de = &mut serde_json::Deserializer::from_str(&text);
    serde_path_to_error::deserialize(de)
        .map_err(|e| format!("{} is not a valid saved plan: at `{}`: {}", path.display(), e.path(), e.inner()))
}

/// Refuses a saved plan made for another target, or whose inputs changed since.
pub fn check(plan: &Plan, target_label: &str, org: &str, live: &LiveState) -> Result<(), String> {
    if plan.target.api_url != target_label || plan.target.org != org {
        return Err(format!(
            "refusing to apply: the saved plan was made for organization {} at {}, not {org} at {target_label}",
            plan.target.org, plan.target.api_url
        ));
    }
    let mut stale = Vec::new();
    let by_id: HashMap<_, _> = live.groups.iter().map(|g| (&g.id, g)).collect();
    for a in &plan.actions {
        if let crate::plan::Action::UpdateGroup { id, before, .. } | crate::plan::Action::DeleteGroup { id, before, .. } = a {
            let expected = plan.fingerprints.groups.get(id);
            match by_id.get(id) {
                None => stale.push(format!("group \"{}\" (id {id}) no longer exists", before.name)),
                Some(g) if Some(&fingerprint(&crate::plan::GroupState::from_live(g))) != expected => {
                    stale.push(format!("group \"{}\" (id {id}) changed since the plan was made", before.name))
                }
                Some(_) => {}
            }
        }
    }
    let live_names: HashMap<String, &str> = live.groups.iter().map(|g| (name_key(&g.name), g.name.as_str())).collect();
    for key in &plan.fingerprints.absent_names {
        if let Some(name) = live_names.get(key) {
            stale.push(format!("group \"{name}\" now exists, but the plan creates it"));
        }
    }
    let users: HashMap<_, _> = live.users.iter().map(|u| (u.id, u)).collect();
    for (id, fp) in &plan.fingerprints.users {
        match users.get(id) {
            None => stale.push(format!("user id {id} is no longer in the organization")),
            Some(u) if &fingerprint(&(u.id, &u.email, u.status)) != fp => {
                stale.push(format!("user {} (id {id}) changed since the plan was made", u.email))
            }
            Some(_) => {}
        }
    }
    if let Some(guests) = &live.guests {
        for a in &plan.actions {
            if let crate::plan::Action::CreateGuest { email, .. } = a
                && guests.iter().any(|g| &g.email == email)
            {
                stale.push(format!("guest {email} now exists, but the plan invites them"));
            }
        }
    }
    if stale.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "refusing to apply a stale plan; what it relied on has changed:\n  - {}\n    hint: run `plan --out` again and review the new plan",
            stale.join("\n  - ")
        ))
    }
}
