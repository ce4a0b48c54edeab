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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::desired::load_str;
    use crate::diff::DiffOptions;
    use crate::model::{Email, GroupId, Guest, LiveGroup, User, UserId, UserStatus};
    use crate::plan::Target;

    fn live() -> LiveState {
        let users = (1..=3)
            .map(|i| User {
                id: UserId(i),
                email: Email::new(&format!("u{i}@x.co")),
                first_name: "U".into(),
                last_name: i.to_string(),
                status: UserStatus::Active,
            })
            .collect();
        let g = |id: &str, name: &str, m: &[u64]| LiveGroup {
            id: GroupId(id.into()),
            name: name.into(),
            description: "d".into(),
            members: m.iter().map(|&i| UserId(i)).collect(),
            guests: Default::default(),
        };
        LiveState { groups: vec![g("a", "A", &[1]), g("b", "B", &[1]), g("c", "Same", &[3])], users, guests: Some(vec![]) }
    }

    fn plan() -> Plan {
        let desired = load_str(
            "g.yaml",
            "groups:\n  - name: A\n    members: [u2@x.co]\n  - name: B\n    absent: true\n  - name: New\n    guests: [g@p.co]\n  - name: Same\n    members: [u3@x.co]\n",
        )
        .expect("valid");
        crate::app::make_plan(&desired, &live(), &DiffOptions::default(), Target { api_url: "https://t/api".into(), org: "o".into() })
            .expect("plan")
    }

    fn stale(live: &LiveState) -> String {
        check(&plan(), "https://t/api", "o", live).unwrap_err()
    }

    #[test]
    fn a_fresh_plan_passes_and_round_trips() {
        let p = plan();
        check(&p, "https://t/api", "o", &live()).expect("fresh");
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("plan.json");
        write(&path, &p).expect("written");
        assert_eq!(read(&path).expect("read"), p);
        // Only users the actions send are fingerprinted: u2 (into A), not u3 (unchanged group).
        assert_eq!(p.fingerprints.users.keys().copied().collect::<Vec<_>>(), vec![UserId(2)]);
    }

    #[test]
    fn every_kind_of_change_is_named() {
        let mut l = live();
        l.groups[0].members.insert(UserId(3));
        assert!(stale(&l).contains("group \"A\" (id a) changed since the plan was made"));
        let mut l = live();
        l.groups.remove(1);
        assert!(stale(&l).contains("group \"B\" (id b) no longer exists"));
        let mut l = live();
        l.groups.push(LiveGroup {
            id: GroupId("n".into()),
            name: "new".into(),
            description: "d".into(),
            members: Default::default(),
            guests: Default::default(),
        });
        assert!(stale(&l).contains("group \"new\" now exists, but the plan creates it"));
        let mut l = live();
        l.users[1].status = UserStatus::Disabled;
        assert!(stale(&l).contains("user u2@x.co (id 2) changed since the plan was made"));
        let mut l = live();
        l.users.remove(1);
        assert!(stale(&l).contains("user id 2 is no longer in the organization"));
        let mut l = live();
        l.guests = Some(vec![Guest { email: Email::new("g@p.co"), first_name: "G".into(), last_name: "P".into() }]);
        assert!(stale(&l).contains("guest g@p.co now exists, but the plan invites them"));
        // Changes the plan did not rely on do not make it stale.
        let mut l = live();
        l.users[2].email = Email::new("renamed@x.co");
        check(&plan(), "https://t/api", "o", &l).expect("u3 is not sent by any action");
    }

    #[test]
    fn another_target_is_refused() {
        let e = check(&plan(), "https://other/api", "o", &live()).unwrap_err();
        assert!(e.contains("made for organization o at https://t/api, not o at https://other/api"), "{e}");
    }

    #[test]
    fn unreadable_or_foreign_files_are_explained() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("p.json");
        std::fs::write(&path, "{\"format_version\": 9}").expect("write");
        assert!(read(&path).unwrap_err().contains("not a saved plan of this version"));
        std::fs::write(&path, "not json").expect("write");
        assert!(read(&path).unwrap_err().contains("is not a saved plan (not JSON"));
        std::fs::write(&path, "{\"format_version\": 1}").expect("write");
        assert!(read(&path).unwrap_err().contains("is not a valid saved plan: at `"));
    }
}
