//! Export: live groups as canonical groups.yaml (sorted, members as emails with a comment naming
//! the user), so that adopting the tool is one commit and its first plan is empty. Whatever
//! cannot be written so that it reads back the same (a member who is disabled or not in the
//! user directory, a guest address that is malformed or a member's, a second group under the
//! same name, a name the loader refuses) is written as a comment and left unmanaged. Pure; no I/O.

use std::collections::HashSet;
use std::fmt::Write;

use crate::model::{Email, GroupList, LiveGroup, LiveState, UserStatus, name_key};
use crate::names::visible;
use crate::resolve::Directory;

/// Longest group name Tallyfy (and the loader) accepts.
const MAX_NAME_CHARS: usize = 200;

/// Renders the live groups as groups.yaml.
pub fn to_yaml(live: &LiveState) -> String {
    to_yaml_from(live, None)
}

/// The same, with a header naming where the groups were read (`target`: the organization and
/// its API URL, or the sandbox's state file).
pub fn to_yaml_from(live: &LiveState, target: Option<&crate::plan::Target>) -> String {
    let directory = Directory::new(&live.users);
    // By name; groups under the same name keep the live order, so the one written is the one
    // a plan matches first.
    let mut groups: Vec<&LiveGroup> = live.groups.iter().collect();
    groups.sort_by(|a, b| a.name.cmp(&b.name));
    let mut out = String::new();
    match target {
        Some(target) => {
            let api = visible(&target.api_url);
            let org = visible(&target.org.0);
            let from = match api.strip_prefix("sandbox:") {
                Some(state) => format!("sandbox organization {org} (state file {state})"),
                None => format!("Tallyfy organization {org} at {api}"),
            };
            let _ = writeln!(out, "# Exported by tallyfy-groups: the live groups of {from}.");
        }
        None => out.push_str("# Exported by tallyfy-groups: the live groups of the organization.\n"),
    }
    out.push_str("# Members are listed by email; the comment names the user and their id.\n");
    let mut written: HashSet<String> = HashSet::new();
    let mut body = String::new();
    for g in groups {
        if !writable_name(&g.name) {
            let _ = writeln!(
                body,
                "  # Not exported: group {} (id {}): its name is empty, padded with spaces or over {MAX_NAME_CHARS} characters.",
                comment(&g.name),
                comment(&g.id.0)
            );
            continue;
        }
        if !written.insert(name_key(&g.name)) {
            let _ = writeln!(
                body,
                "  # Not exported: group {} (id {}): another group has the same name (ignoring case); plan leaves it alone.",
                comment(&g.name),
                comment(&g.id.0)
            );
            continue;
        }
        write_group(&mut body, g, &directory);
    }
    if written.is_empty() {
        out.push_str("groups: []\n");
        out.push_str(&body);
    } else {
        out.push_str("groups:\n");
        out.push_str(&body);
    }
    out
}

fn write_group(out: &mut String, g: &LiveGroup, directory: &Directory<'_>) {
    let _ = writeln!(out, "  - name: {}", scalar(&g.name));
    if !g.description.trim().is_empty() {
        let _ = writeln!(out, "    description: {}", scalar(&g.description));
    }
    // A list Tallyfy did not return whole is not the truth: written as `[]` (or as the partial
    // list), applying the export once the API heals would empty the group.
    let unread_members: Vec<String> = g.unread.iter().filter(|u| u.list == GroupList::Members).map(ToString::to_string).collect();
    if !unread_members.is_empty() {
        write_unread(out, "members", &unread_members);
    } else {
        // (sort key, item, comment, whether it can be listed)
        let mut members: Vec<(String, String, String, bool)> = Vec::new();
        for id in &g.members {
            match directory.get(*id) {
                Some(u) if u.status == UserStatus::Disabled => members.push((
                    u.email.to_string(),
                    scalar(u.email.as_str()),
                    format!("{}, user id {id}: disabled, and plan refuses disabled members", comment(&u.display_name())),
                    false,
                )),
                Some(u) if u.status == UserStatus::Other => members.push((
                    u.email.to_string(),
                    scalar(u.email.as_str()),
                    format!(
                        "{}, user id {id}: not active, invited or disabled (a bot account?), and plan refuses such members",
                        comment(&u.display_name())
                    ),
                    false,
                )),
                // No address of its own to list (none, not an address, or another account's too):
                // listed by id, which resolves to exactly this user.
                Some(u) if Email::parse(u.email.as_str()).is_err() || directory.all_by_email(&u.email).len() != 1 => {
                    let why = if u.email.as_str().trim().is_empty() {
                        "no email in Tallyfy".to_string()
                    } else if Email::parse(u.email.as_str()).is_err() {
                        format!("email {} is not an address", comment(u.email.as_str()))
                    } else {
                        format!("email {} is shared with another user", comment(u.email.as_str()))
                    };
                    members.push((
                        format!("~{id:020}"),
                        id.to_string(),
                        format!("{}, user id {id}: {why}", comment(&u.display_name())),
                        true,
                    ));
                }
                Some(u) => members.push((
                    u.email.to_string(),
                    scalar(u.email.as_str()),
                    format!("{}, user id {id}", comment(&u.display_name())),
                    true,
                )),
                None => members.push((format!("~{id:020}"), id.to_string(), format!("user id {id} is not in the user directory"), false)),
            }
        }
        members.sort();
        let items: Vec<(String, String)> = members.iter().map(|(_, item, note, _)| (item.clone(), note.clone())).collect();
        write_list(
            out,
            "members",
            &items,
            members.iter().all(|m| m.3),
            "a member is disabled, of an unknown status, or not in the user directory",
        );
    }
    let unread_guests: Vec<String> = g.unread.iter().filter(|u| u.list == GroupList::Guests).map(ToString::to_string).collect();
    if !unread_guests.is_empty() {
        write_unread(out, "guests", &unread_guests);
        return;
    }
    let guests: Vec<(String, String)> = g
        .guests
        .iter()
        .map(|e| {
            let note = match (Email::parse(e.as_str()), directory.all_by_email(e).first()) {
                (Err(why), _) => format!("not an email address: it {why}"),
                (Ok(_), Some(u)) => format!("an org member (user id {}), not a guest", u.id),
                (Ok(_), None) => String::new(),
            };
            (scalar(e.as_str()), note)
        })
        .collect();
    let listable = guests.iter().all(|(_, note)| note.is_empty());
    write_list(out, "guests", &guests, listable, "a guest address is malformed or belongs to a member");
}

/// Writes `key:` and its items, or, when some item cannot be listed, the whole list as comments
/// (the key is then not managed and the live list is kept).
fn write_list(out: &mut String, key: &str, items: &[(String, String)], listable: bool, why: &str) {
    let line = |item: &str, note: &str| if note.is_empty() { item.to_string() } else { format!("{item}  # {note}") };
    if items.is_empty() {
        let _ = writeln!(out, "    {key}: []");
    } else if listable {
        let _ = writeln!(out, "    {key}:");
        for (item, note) in items {
            let _ = writeln!(out, "      - {}", line(item, note));
        }
    } else {
        let _ = writeln!(out, "    # `{key}` is not managed here, so the live list is kept: {why}.");
        let _ = writeln!(out, "    # To manage it, uncomment the list and drop what cannot be listed.");
        let _ = writeln!(out, "    # {key}:");
        for (item, note) in items {
            let _ = writeln!(out, "    #   - {}", line(item, note));
        }
    }
}

/// A list Tallyfy did not return whole: not managed (so the live list is kept), and nothing of
/// it written, commented or not: what was read is not the list.
fn write_unread(out: &mut String, key: &str, problems: &[String]) {
    let _ = writeln!(
        out,
        "    # `{key}` is not managed here, so the live list is kept: Tallyfy did not return it whole ({}).",
        comment(&problems.join("; "))
    );
    let _ = writeln!(out, "    # Export again once the API returns it, or list it by hand.");
}

/// Whether the loader accepts the name as it is.
fn writable_name(name: &str) -> bool {
    !name.trim().is_empty() && name.trim() == name && name.chars().count() <= MAX_NAME_CHARS
}

/// Text for a comment: on one line, whatever it holds.
fn comment(text: &str) -> String {
    visible(text).into_owned()
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
    if plain_safe { s.to_string() } else { double_quoted(s) }
}

/// A YAML double-quoted scalar that reads back as exactly `s`: quotes, backslashes and every
/// character YAML does not allow raw (controls, DEL, C1 controls, line separators, the byte
/// order mark) are escaped.
fn double_quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() || matches!(c, '\u{2028}' | '\u{2029}' | '\u{FEFF}' | '\u{FFFE}' | '\u{FFFF}') => {
                let _ = write!(out, "\\u{:04X}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
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

#[cfg(test)]
mod round_trip {
    //! An export's first plan is empty, whatever the live groups hold.
    use crate::desired::load_str;
    use crate::diff::DiffOptions;
    use crate::model::{Email, GroupId, LiveGroup, LiveState, User, UserId, UserStatus};
    use crate::plan::Target;

    fn user(id: u64, email: &str, status: UserStatus) -> User {
        User { id: UserId(id), email: Email::new(email), first_name: "F".into(), last_name: "L".into(), status }
    }

    fn group(id: &str, name: &str, description: &str, members: &[u64], guests: &[&str]) -> LiveGroup {
        LiveGroup {
            id: GroupId(id.into()),
            name: name.into(),
            description: description.into(),
            members: members.iter().map(|&m| UserId(m)).collect(),
            guests: guests.iter().map(|g| Email::new(g)).collect(),
            unread: Vec::new(),
        }
    }

    fn assert_first_plan_is_empty(live: &LiveState) {
        let yaml = super::to_yaml(live);
        let desired = load_str("exported.yaml", &yaml).unwrap_or_else(|e| panic!("the export does not load:\n{e}\n{yaml}"));
        let plan = crate::pipeline::make_plan(&desired, live, &DiffOptions::default(), Target { api_url: "x".into(), org: "o".into() })
            .unwrap_or_else(|e| panic!("the export does not plan: {e}\n{yaml}"));
        assert!(plan.is_empty(), "the first plan is not empty:\n{}\n{yaml}", crate::render::text::render_plan(&plan, false));
    }

    #[test]
    fn lists_not_read_whole_are_never_written_as_lists() {
        use crate::model::{GroupList, ListProblem, Unread};
        let users = vec![user(1, "a@example.com", UserStatus::Active)];
        let mut null_members = group("g1", "Null members", "d", &[], &[]);
        null_members.unread = vec![Unread { list: GroupList::Members, problem: ListProblem::Null }];
        let mut junk_guests = group("g2", "Junk guests", "d", &[1], &["ok@partner.example"]);
        junk_guests.unread = vec![Unread { list: GroupList::Guests, problem: ListProblem::BadElement { index: 1, value: "42".into() } }];
        let live = LiveState { groups: vec![null_members, junk_guests], users, guests: Some(vec![]) };
        let yaml = super::to_yaml(&live);
        assert!(!yaml.contains("members: []") && !yaml.contains("ok@partner.example"), "{yaml}");
        assert!(
            yaml.contains(
                "# `members` is not managed here, so the live list is kept: Tallyfy did not return it whole (`members` was null)."
            ),
            "{yaml}"
        );
        assert!(yaml.contains("# `guests` is not managed here, so the live list is kept: Tallyfy did not return it whole"), "{yaml}");
        let desired = load_str("exported.yaml", &yaml).expect("loads");
        let by_name = |n: &str| desired.groups.iter().find(|g| g.name.value == n).expect("group");
        assert!(by_name("Null members").members.is_none() && by_name("Junk guests").guests.is_none(), "{yaml}");
    }

    #[test]
    fn odd_accounts_export_to_a_file_whose_first_plan_is_empty() {
        let users = vec![
            user(1, "a@example.com", UserStatus::Active),
            user(2, "bot@example.com", UserStatus::Other),
            user(3, "", UserStatus::Active),
            user(4, "Shared@example.com", UserStatus::Active),
            user(5, "shared@example.com", UserStatus::Disabled),
            user(6, "not an address", UserStatus::Active),
        ];
        let groups = vec![
            group("g1", "With a bot", "d", &[1, 2], &[]),
            group("g2", "Without emails", "d", &[1, 3, 6], &[]),
            group("g3", "Shared email", "d", &[4], &[]),
        ];
        let live = LiveState { groups, users, guests: Some(vec![]) };
        assert_first_plan_is_empty(&live);
        let yaml = super::to_yaml(&live);
        assert!(yaml.contains("      - 3  # F L, user id 3: no email in Tallyfy"), "{yaml}");
        assert!(yaml.contains("      - 4  # F L, user id 4: email shared@example.com is shared with another user"), "{yaml}");
    }

    #[test]
    fn names_that_yaml_would_read_as_something_else() {
        let users = vec![user(1, "a@example.com", UserStatus::Active)];
        let names = [
            "null",
            "Null",
            "~",
            "yes",
            "No",
            "on",
            "OFF",
            "y",
            "n",
            "true",
            "0123",
            "0x1F",
            "0o17",
            "1e3",
            ".5",
            "-1",
            "+1",
            "1_000",
            ".inf",
            "-.inf",
            ".NaN",
            "12:30",
            "2024-01-01",
            "#hash",
            "a #b",
            "x: y",
            "x:",
            "- x",
            "? x",
            "[x]",
            "{x}",
            "*x",
            "&x",
            "!x",
            "%x",
            "@x",
            "`x`",
            "|",
            ">",
            "'q'",
            "\"q\"",
            "a'b",
            "tab\there",
            "line\nbreak",
            "back\\slash",
            "Ünïcødé ✓",
            "emoji 🎉",
            "bidi \u{202e}x",
            "zero\u{200b}width",
            "nbsp\u{a0}x",
            "del\u{7f}x",
            "c1\u{85}x",
            "bom\u{feff}x",
            "ctl\u{1}x",
            "---",
            "...",
        ];
        let groups = names.iter().enumerate().map(|(i, n)| group(&format!("g{i}"), n, n, &[1], &[])).collect();
        assert_first_plan_is_empty(&LiveState { groups, users, guests: Some(vec![]) });
    }

    #[test]
    fn members_that_cannot_be_listed() {
        let users = vec![
            user(1, "a@example.com", UserStatus::Active),
            user(2, "gone@example.com", UserStatus::Disabled),
            user(3, "c@example.com", UserStatus::Invited),
        ];
        // A user name that would break out of its comment.
        let mut users = users;
        users[2].first_name = "C\n  - name: Injected\n".into();
        let groups = vec![
            // Every member unknown or disabled.
            group("g1", "All unknown or disabled", "d", &[2, 99], &[]),
            // Some disabled, some unknown.
            group("g2", "Mixed", "d", &[1, 2, 3, 98], &[]),
            // Guests that are malformed or belong to a member.
            group("g3", "Odd guests", "d", &[1], &["not-an-email", "a@example.com", "ok@partner.example"]),
            // No description, no members.
            group("g4", "Empty", "", &[], &[]),
            // The same name twice, and once more in another case.
            group("g5", "Twin", "first", &[1], &[]),
            group("g6", "Twin", "second", &[3], &[]),
            group("g7", "TWIN", "third", &[], &[]),
        ];
        assert_first_plan_is_empty(&LiveState { groups, users, guests: Some(vec![]) });
    }

    #[test]
    fn the_header_names_where_the_groups_were_read() {
        let live = LiveState::default();
        let target = |api: &str| crate::plan::Target { api_url: api.into(), org: crate::model::OrgId("acme".into()) };
        let yaml = super::to_yaml_from(&live, Some(&target("https://go.tallyfy.com/api")));
        assert!(
            yaml.starts_with("# Exported by tallyfy-groups: the live groups of Tallyfy organization acme at https://go.tallyfy.com/api.\n"),
            "{yaml}"
        );
        let yaml = super::to_yaml_from(&live, Some(&target("sandbox:.tallyfy-sandbox/state.json")));
        assert!(
            yaml.starts_with(
                "# Exported by tallyfy-groups: the live groups of sandbox organization acme (state file .tallyfy-sandbox/state.json).\n"
            ),
            "{yaml}"
        );
        // The file still loads.
        assert!(crate::desired::load_str("g.yaml", &yaml).is_ok());
    }
}
