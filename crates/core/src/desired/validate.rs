//! The rules of groups.yaml beyond its shape, on the raw items the grammar (`raw.rs`) reads:
//! names, emails, duplicates, globs, ranges, `absent`; then, over every file, the checks that
//! span groups and files: duplicate names, `previously` conflicts, guests who are also listed
//! as members, ignored names. Problems of shape were reported while the items were read; here a
//! value that could not be read is simply not there. Pure; no I/O.

use std::collections::{BTreeMap, HashMap};

use marked_yaml::Span;

use super::de::Problems;
use super::raw::{Field, OneOrMany, RawDisabledMembers, RawFile, RawGroup, RawGuest, RawSettings};
use super::{DesiredGroup, DesiredState, Diagnostic, DisabledMembers, GuestName, Located, Location, MemberRef, Settings};
use crate::model::{Email, UserId, name_key};

const MAX_NAME_CHARS: usize = 200;

/// What one file contributes before the files are merged.
#[derive(Debug, Default)]
pub(super) struct ParsedFile {
    pub settings: Option<(Settings, Location)>,
    pub groups: Vec<DesiredGroup>,
}

/// The top level of a file (its groups are validated one by one as they are read):
/// `settings_key` is where `settings:` was written, `top` where the file's mapping starts.
pub(super) fn file(p: &Problems, raw: &RawFile, top: &Span, settings_key: Option<&Span>) -> Option<(Settings, Location)> {
    if !raw.groups.is_given() {
        p.error_hint(top, "missing `groups:`", "add `groups:` with a list of groups (it may be `groups: []`)");
    }
    let (span, value) = (raw.settings.span()?, raw.settings.value()?);
    Some((settings(p, value), p.loc(settings_key.unwrap_or(span))))
}

fn settings(p: &Problems, raw: &RawSettings) -> Settings {
    let mut s = Settings::default();
    if let Some(&prune) = raw.prune.value() {
        s.prune = prune;
    }
    for (span, pattern) in raw.ignore.value().into_iter().flat_map(OneOrMany::iter).filter_map(Field::get) {
        if pattern.trim().is_empty() {
            p.error(span, "an `ignore` pattern is empty");
            continue;
        }
        match glob::Pattern::new(pattern) {
            Err(e) => p.error_hint(
                span,
                format!("`{pattern}` is not a valid glob: {}", e.msg),
                "use `*` for any text, `?` for one character, `[abc]` for a set",
            ),
            Ok(value) => s.ignore.push(Located { value, at: p.loc(span) }),
        }
    }
    if let Some((span, d)) = raw.default_description.get() {
        if d.trim().is_empty() {
            p.error(span, "`default_description` is empty; Tallyfy requires a non-empty description");
        } else {
            s.default_description = Some(d.clone());
        }
    }
    if let Some(&n) = raw.max_deleted_groups.value() {
        s.max_deleted_groups = n as usize;
    }
    if let Some(&n) = raw.min_removed_for_ratio.value() {
        s.min_removed_for_ratio = n as usize;
    }
    if let Some((span, &r)) = raw.max_removed_ratio.get() {
        if (0.0..=1.0).contains(&r) {
            s.max_removed_ratio = r;
        } else {
            p.error(span, format!("`max_removed_ratio` must be a number from 0 to 1, found `{r}`"));
        }
    }
    if let Some(d) = raw.disabled_members.value() {
        s.disabled_members = match d {
            RawDisabledMembers::Warn => DisabledMembers::Warn,
            RawDisabledMembers::Error => DisabledMembers::Error,
        };
    }
    s
}

/// One group; `None` when it cannot be one (its problems are reported).
pub(super) fn group(p: &Problems, item: &Field<RawGroup>) -> Option<DesiredGroup> {
    let (span, raw) = item.get()?;
    let at = p.loc(span);
    if !raw.name.is_given() {
        p.push(Diagnostic::at(&at, "a group has no `name`"));
    }
    let name = raw.name.get().and_then(|(span, v)| check_name(p, span, v, "name"));
    let description = raw.description.get().and_then(|(span, v)| {
        if v.trim().is_empty() {
            p.error_hint(
                span,
                "`description` is empty; Tallyfy requires a non-empty description",
                "write a description, or remove the key to leave it unmanaged",
            );
            return None;
        }
        Some(Located { value: v.clone(), at: p.loc(span) })
    });
    let members = raw.members.value().map(|items| members(p, items));
    let mut guest_names = BTreeMap::new();
    let guests = raw.guests.value().map(|items| guests(p, items, &mut guest_names));
    let previously = raw
        .previously
        .value()
        .into_iter()
        .flat_map(OneOrMany::iter)
        .filter_map(Field::get)
        .filter_map(|(span, v)| check_name(p, span, v, "previously"))
        .collect();
    let absent = raw.absent.value().copied().unwrap_or(false);
    if absent {
        let content = [
            ("description", raw.description.span()),
            ("members", raw.members.span()),
            ("guests", raw.guests.span()),
            ("previously", raw.previously.span()),
        ];
        for (key, span) in content {
            if let Some(span) = span {
                p.error_hint(
                    span,
                    format!("an `absent: true` group cannot have `{key}`"),
                    format!("remove `{key}`, or remove `absent: true` to keep the group"),
                );
            }
        }
    }
    Some(DesiredGroup { name: name?, description, members, guests, guest_names, previously, absent, at })
}

fn check_name(p: &Problems, span: &Span, v: &str, what: &str) -> Option<Located<String>> {
    if v.trim().is_empty() {
        p.error(span, format!("`{what}` is empty"));
        return None;
    }
    if v.trim() != v {
        p.error_hint(span, format!("`{what}` \"{v}\" has leading or trailing spaces"), "remove the spaces; Tallyfy trims names");
        return None;
    }
    let n = v.chars().count();
    if n > MAX_NAME_CHARS {
        p.error(span, format!("`{what}` is {n} characters long; Tallyfy allows at most {MAX_NAME_CHARS}"));
        return None;
    }
    Some(Located { value: v.to_string(), at: p.loc(span) })
}

/// Adds `value` written at `span` unless the group lists it already (then that is reported).
fn add_once<T: Clone + Eq + std::hash::Hash + std::fmt::Display>(
    p: &Problems,
    out: &mut Vec<Located<T>>,
    seen: &mut HashMap<T, usize>,
    span: &Span,
    what: &str,
    value: T,
) -> bool {
    let at = p.loc(span);
    if let Some(first) = seen.get(&value) {
        p.error(span, format!("{what} {value} is listed twice in this group (first on line {first})"));
        return false;
    }
    seen.insert(value.clone(), at.line);
    out.push(Located { value, at });
    true
}

fn members(p: &Problems, items: &[Field<super::raw::RawMember>]) -> Vec<Located<MemberRef>> {
    let mut out = Vec::with_capacity(items.len());
    let mut seen = HashMap::with_capacity(items.len());
    for (span, raw) in items.iter().filter_map(Field::get) {
        let raw = raw.0.trim();
        let value = if !raw.is_empty() && raw.bytes().all(|b| b.is_ascii_digit()) {
            match raw.parse::<u64>() {
                Ok(id) => MemberRef::Id(UserId(id)),
                Err(_) => {
                    p.error_hint(span, format!("member `{raw}` is not a valid user id"), "user ids are whole numbers");
                    continue;
                }
            }
        } else {
            match Email::parse(raw) {
                Ok(e) => MemberRef::Email(e),
                Err(why) => {
                    p.error_hint(
                        span,
                        format!("member `{raw}` is not an email address or a user id: it {why}"),
                        "list members by email (preferred) or numeric user id",
                    );
                    continue;
                }
            }
        };
        add_once(p, &mut out, &mut seen, span, "member", value);
    }
    out
}

/// Guests: each an email, or `{email, first_name, last_name}` (the names are used when the
/// guest is invited). Names found go to `names`.
fn guests(p: &Problems, items: &[Field<RawGuest>], names: &mut BTreeMap<Email, GuestName>) -> Vec<Located<Email>> {
    let mut out = Vec::with_capacity(items.len());
    let mut seen = HashMap::with_capacity(items.len());
    for (span, guest) in items.iter().filter_map(Field::get) {
        let (email, name) = match guest {
            RawGuest::Email(email) => ((span, email), None),
            RawGuest::Named(named) => {
                if !named.email.is_given() {
                    p.error_hint(
                        span,
                        "a guest written as a mapping needs `email`",
                        "write `{email: a@example.com, first_name: Ann, last_name: Lee}`",
                    );
                    continue;
                }
                let Some(email) = named.email.get() else { continue };
                let text = |f: &Field<String>| f.value().map(|s| s.trim().to_string());
                let (first_name, last_name) = (text(&named.first_name), text(&named.last_name));
                (email, (first_name.is_some() || last_name.is_some()).then_some(GuestName { first_name, last_name }))
            }
        };
        let (span, raw) = (email.0, email.1.trim());
        let value = match Email::parse(raw) {
            Ok(v) => v,
            Err(why) => {
                p.error_hint(
                    span,
                    format!("guest `{raw}` is not an email address: it {why}"),
                    "guests are external people, listed by email",
                );
                continue;
            }
        };
        if add_once(p, &mut out, &mut seen, span, "guest", value.clone())
            && let Some(name) = name
        {
            names.insert(value, name);
        }
    }
    out
}

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

    // Names by their key (case and Unicode form ignored): a group defined twice is an error naming
    // both places.
    let mut by_name: HashMap<String, &Location> = HashMap::new();
    for g in &groups {
        let key = name_key(&g.name.value);
        match by_name.get(&key) {
            Some(first) => diags.push(
                Diagnostic::at(&g.name.at, format!("group \"{}\" is defined twice (first at {first})", g.name.value))
                    .with_hint("names are unique regardless of case and Unicode form; merge the two entries"),
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
                    continue; // a case- or form-only rename is matched anyway; harmless
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
