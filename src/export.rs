//! Export: live groups as canonical groups.yaml (sorted, members as emails with a comment naming
//! the user), so that adopting the tool is one commit and its first plan is empty. Pure; no I/O.

use std::fmt::Write;

use crate::model::{LiveState, UserStatus};
use crate::resolve::Directory;

/// Renders the live groups as groups.yaml.
pub fn to_yaml(live: &LiveState) -> String {
    let directory = Directory::new(&live.users);
    let mut groups: Vec<_> = live.groups.iter().collect();
    groups.sort_by(|a, b| a.name.cmp(&b.name).then_with(|| a.id.cmp(&b.id)));
    let mut out = String::new();
    out.push_str("# Exported by tallyfy-groups: the live groups of the organization.\n");
    out.push_str("# Members are listed by email; the comment names the user and their id.\n");
    if groups.is_empty() {
        out.push_str("groups: []\n");
        return out;
    }
    out.push_str("groups:\n");
    for g in groups {
        let _ = writeln!(out, "  - name: {}", scalar(&g.name));
        if !g.description.trim().is_empty() {
            let _ = writeln!(out, "    description: {}", scalar(&g.description));
        }
        let mut members: Vec<(String, String)> = Vec::new();
        for id in &g.members {
            match directory.get(*id) {
                Some(u) if u.status == UserStatus::Disabled => members.push((
                    u.email.to_string(),
                    format!(
                        "    # - {}  # user id {id}, {}: disabled; plan refuses disabled members, so it is left out\n",
                        scalar(u.email.as_str()),
                        u.display_name()
                    ),
                )),
                Some(u) => members
                    .push((u.email.to_string(), format!("      - {}  # {}, user id {id}\n", scalar(u.email.as_str()), u.display_name()))),
                None => {
                    members.push((format!("~{id:020}"), format!("    # - {id}  # user id {id} is not in the user directory; left out\n")))
                }
            }
        }
        members.sort();
        if members.is_empty() {
            out.push_str("    members: []\n");
        } else {
            out.push_str("    members:\n");
            for (_, line) in members {
                out.push_str(&line);
            }
        }
        if g.guests.is_empty() {
            out.push_str("    guests: []\n");
        } else {
            out.push_str("    guests:\n");
            for e in &g.guests {
                let _ = writeln!(out, "      - {}", scalar(e.as_str()));
            }
        }
    }
    out
}

/// A YAML scalar: plain when that reads back as the same string, double-quoted otherwise.
pub fn scalar(s: &str) -> String {
    let plain_safe = !s.is_empty()
        && s.trim() == s
        && s.chars().all(|c| c.is_alphanumeric() || " .,_-@()/&+'".contains(c))
        && !s.starts_with(['-', '@', '\'', '&', '.', ',', '+'])
        && !s.contains(" #")
        && s.parse::<f64>().is_err()
        && !matches!(
            s.to_lowercase().as_str(),
            "true" | "false" | "null" | "yes" | "no" | "on" | "off" | "y" | "n" | "~" | ".inf" | ".nan"
        );
    if plain_safe { s.to_string() } else { serde_json::to_string(s).unwrap_or_else(|_| format!("\"{s}\"")) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scalars_quote_only_when_needed() {
        assert_eq!(scalar("Onboarding Specialists"), "Onboarding Specialists");
        assert_eq!(scalar("alice@example.com"), "alice@example.com");
        for s in ["true", "1005", "a: b", "- x", "x #y", " lead", "multi\nline", "", "{x}", "Ops*"] {
            let q = scalar(s);
            assert!(q.starts_with('"'), "{s:?} → {q}");
            let back: String = serde_json::from_str(&q).unwrap();
            assert_eq!(back, s);
        }
    }
}
