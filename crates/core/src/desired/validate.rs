//! Merging the parsed files and the checks that span groups and files: duplicate names,
//! `previously` conflicts, guests who are also listed as members, ignored names.
//! Pure; no I/O.

use std::collections::HashMap;

use super::parse::ParsedFile;
use super::{DesiredState, Diagnostic, Location, MemberRef, Settings};
use crate::model::{Email, name_key};

pub(super) fn merge_and_check(files: Vec<ParsedFile>, diags: &mut Vec<Diagnostic>) -> DesiredState {
    let mut settings: Option<(Settings, Location)> = None;
    let mut groups = Vec::new();
    for file in files {
        if let Some((s, at)) = file.settings {
            match &settings {
                Some((_, first)) => diags.push(
                    Diagnostic::at(&at, format!("`settings` is defined again (first at {first})"))
                        .with_hint("keep `settings` in one file only"),
                ),
                None => settings = Some((s, at)),
            }
        }
        groups.extend(file.groups);
    }
    let settings = settings.map(|(s, _)| s).unwrap_or_default();

    // Names, case-insensitively: a group defined twice is an error naming both places.
    let mut by_name: HashMap<String, &Location> = HashMap::new();
    for g in &groups {
        let key = name_key(&g.name.value);
        match by_name.get(&key) {
            Some(first) => diags.push(
                Diagnostic::at(&g.name.at, format!("group \"{}\" is defined twice (first at {first})", g.name.value))
                    .with_hint("names are unique regardless of case; merge the two entries"),
            ),
            None => {
                by_name.insert(key, &g.name.at);
            }
        }
        if settings.is_ignored(&g.name.value) {
            diags.push(
                Diagnostic::at(&g.name.at, format!("group \"{}\" matches an `ignore` pattern, so it would never be managed", g.name.value))
                    .with_hint("remove the group or narrow the `ignore` pattern"),
            );
        }
    }

    // `previously`: an old name may not be a current name, nor claimed by two groups.
    let mut old_names: HashMap<String, (&Location, &str)> = HashMap::new();
    for g in &groups {
        for old in &g.previously {
            let key = name_key(&old.value);
            if key == name_key(&g.name.value) {
                if old.value != g.name.value {
                    continue; // a case-only rename is matched anyway; harmless
                }
                diags.push(Diagnostic::at(&old.at, format!("group \"{}\" lists its own name in `previously`", g.name.value)));
                continue;
            }
            if let Some(current) = by_name.get(&key) {
                diags.push(
                    Diagnostic::at(
                        &old.at,
                        format!(
                            "\"{}\" is in `previously` of \"{}\" but is also a current group name (at {current})",
                            old.value, g.name.value
                        ),
                    )
                    .with_hint("a name can be either current or old, not both"),
                );
            }
            match old_names.get(&key) {
                Some((first, owner)) => diags.push(Diagnostic::at(
                    &old.at,
                    format!("\"{}\" is in `previously` of both \"{owner}\" (at {first}) and \"{}\"", old.value, g.name.value),
                )),
                None => {
                    old_names.insert(key, (&old.at, &g.name.value));
                }
            }
        }
    }

    // A guest email that is listed as a member anywhere belongs to an org member.
    let mut member_emails: HashMap<&Email, &Location> = HashMap::new();
    for g in &groups {
        for m in g.members.iter().flatten() {
            if let MemberRef::Email(e) = &m.value {
                member_emails.entry(e).or_insert(&m.at);
            }
        }
    }
    for g in &groups {
        for guest in g.guests.iter().flatten() {
            if let Some(member_at) = member_emails.get(&guest.value) {
                diags.push(
                    Diagnostic::at(&guest.at, format!("guest {} is listed as a member at {member_at}", guest.value))
                        .with_hint("an org member cannot also be a guest; list the address under `members`"),
                );
            }
        }
    }

    DesiredState { settings, groups, sources: Vec::new() }
}
