//! The rules of groups.yaml beyond its shape, on the raw items the grammar (`raw.rs`) reads:
//! names, emails, duplicates, globs, ranges, `absent`; then, over every file, the checks that
//! span groups and files: duplicate names, `previously` conflicts, guests who are also listed
//! as members, ignored names. Problems of shape were reported while the items were read; here a
//! value that could not be read is simply not there. Pure; no I/O.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::time::Duration;

use marked_yaml::Span;

use super::de::Problems;
use super::raw::{
    Field, OneOrMany, RawCsv, RawDisabledMembers, RawEntra, RawEntraAttribute, RawFile, RawGoogle, RawGroup, RawGuest, RawLdap, RawMember,
    RawMissing, RawOkta, RawOktaAttribute, RawOverdueReview, RawScim, RawSettings, RawSource, RawSync, RawUnknown,
};
use super::{
    DesiredGroup, DesiredState, Diagnostic, DisabledMembers, Entry, Expiry, GuestName, KeepRule, Located, Location, MemberRef, Review,
    Settings, Sync,
};
use crate::date::Date;
use crate::model::{Email, UserId, name_key};
use crate::source::{
    CommandSpec, CsvSpec, DEFAULT_COMMAND_TIMEOUT, DEFAULT_LDAP_ATTRIBUTE, ENTRA_AUTHORITY_URL, ENTRA_GRAPH_URL, EntraSpec,
    GOOGLE_DIRECTORY_URL, GoogleSpec, LdapBind, LdapSpec, Missing, OktaSpec, ScimSpec, SourceKind, SourceSpec, Unknown,
};
use crate::warning::{At, Warning};

const MAX_NAME_CHARS: usize = 200;

/// What one file contributes before the files are merged.
#[derive(Debug, Default)]
pub(super) struct ParsedFile {
    pub settings: Option<(Settings, Location)>,
    pub sources: Vec<SourceSpec>,
    /// The names of the sources the file declares, valid or not (a reference to a source whose
    /// declaration has a problem is not "not defined").
    pub source_names: Vec<String>,
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
    if let Some(&n) = raw.expiry_warning_days.value() {
        s.expiry_warning_days = n;
    }
    for (field, out, key) in
        [(&raw.max_guest_days, &mut s.max_guest_days, "max_guest_days"), (&raw.max_member_days, &mut s.max_member_days, "max_member_days")]
    {
        if let Some((span, &n)) = field.get() {
            if n == 0 {
                p.error_hint(span, format!("`{key}` is 0"), format!("give a number of days of at least 1, or remove `{key}`"));
            } else {
                *out = Some(Located { value: n, at: p.loc(span) });
            }
        }
    }
    if let Some(d) = raw.overdue_review.value() {
        s.overdue_review = match d {
            RawOverdueReview::Warn => DisabledMembers::Warn,
            RawOverdueReview::Error => DisabledMembers::Error,
        };
    }
    s
}

/// The `until` (and `reason`) of an entry written at `at`, granting `entry`: recorded in
/// `expiries` when the date is one.
fn until_of(p: &Problems, until: &Field<String>, reason: &Field<String>, entry: Entry, at: &Location, expiries: &mut Vec<Expiry>) {
    let reason_text = reason.value().map(|r| r.trim().to_string()).filter(|r| !r.is_empty());
    let Some((span, text)) = until.get() else {
        if let Some(span) = reason.span() {
            p.error_hint(
                span,
                "`reason` without `until`",
                "a reason is shown with the end of an entry's access: add `until: YYYY-MM-DD`, or remove `reason`",
            );
        }
        return;
    };
    match Date::parse(text.trim()) {
        Ok(date) => expiries.push(Expiry { entry, at: at.clone(), until: Located { value: date, at: p.loc(span) }, reason: reason_text }),
        Err(why) => p.error_hint(span, format!("`until`: {why}"), "`until` is the last day of access, written YYYY-MM-DD"),
    }
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
    let mut member_sources = Vec::new();
    let mut member_groups = Vec::new();
    let mut expiries = Vec::new();
    let members = raw.members.value().map(|items| members(p, items, &mut member_sources, &mut member_groups, &mut expiries));
    let mut guest_names = BTreeMap::new();
    let mut guest_sources = Vec::new();
    let mut guests_without_until = Vec::new();
    let guests =
        raw.guests.value().map(|items| guests(p, items, &mut guest_names, &mut guest_sources, &mut expiries, &mut guests_without_until));
    let review = raw.review.get().and_then(|(span, r)| {
        let every = r.every_days.get();
        let last = r.last.get();
        if every.is_none() || last.is_none() {
            p.error_hint(span, "`review` needs `every_days` and `last`", "write `review: {every_days: 90, last: YYYY-MM-DD}`");
            return None;
        }
        let (every_span, &every_days) = every?;
        if every_days == 0 {
            p.error(every_span, "`review.every_days` is 0; give a number of days of at least 1");
            return None;
        }
        let (last_span, text) = last?;
        match Date::parse(text.trim()) {
            Ok(date) => Some(Review { every_days, last: Located { value: date, at: p.loc(last_span) } }),
            Err(why) => {
                p.error_hint(last_span, format!("`review.last`: {why}"), "`last` is the day of the last review, written YYYY-MM-DD");
                None
            }
        }
    });
    let previously = raw
        .previously
        .value()
        .into_iter()
        .flat_map(OneOrMany::iter)
        .filter_map(Field::get)
        .filter_map(|(span, v)| check_name(p, span, v, "previously"))
        .collect();
    let sync = match raw.sync.value() {
        Some(RawSync::Additive) => Sync::Additive,
        _ => Sync::Exact,
    };
    let mut keep = Vec::new();
    for (span, rule) in raw.keep.value().into_iter().flatten().filter_map(Field::get) {
        let text = rule.0.trim();
        if text.is_empty() {
            p.error(span, "a `keep` rule is empty");
        } else if text.bytes().all(|b| b.is_ascii_digit()) {
            match text.parse::<u64>() {
                Ok(id) => keep.push(Located { value: KeepRule::Id(UserId(id)), at: p.loc(span) }),
                Err(_) => p.error_hint(span, format!("`{text}` is not a valid user id"), "user ids are whole numbers"),
            }
        } else {
            match glob::Pattern::new(&text.to_lowercase()) {
                Ok(pattern) => keep.push(Located { value: KeepRule::Email(pattern), at: p.loc(span) }),
                Err(e) => p.error_hint(
                    span,
                    format!("`{text}` is not a valid glob: {}", e.msg),
                    "use `*` for any text, such as `svc-*@example.com`",
                ),
            }
        }
    }
    if sync == Sync::Additive {
        // An additive group removes nobody, so an end date could never be enforced.
        for e in &expiries {
            p.push(
                Diagnostic::at(
                    &e.until.at,
                    format!("`until` on {} in a `sync: additive` group, which removes nobody: the access would never end", e.entry),
                )
                .with_hint("use `sync: exact` (with `keep:` for the people it must not touch), or remove `until`"),
            );
        }
    }
    if let (Some(span), Sync::Additive) = (raw.keep.span(), sync) {
        p.error_hint(
            span,
            "`keep` with `sync: additive`",
            "an additive group removes nobody, so there is nothing to keep: remove `keep`, or use `sync: exact`",
        );
    }
    let external = raw.external.value().copied().unwrap_or(false);
    if external {
        let content = [
            ("description", raw.description.span()),
            ("members", raw.members.span()),
            ("guests", raw.guests.span()),
            ("previously", raw.previously.span()),
            ("absent", raw.absent.span()),
            ("sync", raw.sync.span()),
            ("keep", raw.keep.span()),
            ("review", raw.review.span()),
        ];
        for (key, span) in content {
            if let Some(span) = span {
                p.error_hint(
                    span,
                    format!("an `external: true` group cannot have `{key}`"),
                    format!(
                        "it is managed elsewhere and never written: remove `{key}`, or remove `external: true` to manage the group here"
                    ),
                );
            }
        }
    }
    let absent = raw.absent.value().copied().unwrap_or(false);
    if absent {
        let content = [
            ("description", raw.description.span()),
            ("members", raw.members.span()),
            ("guests", raw.guests.span()),
            ("previously", raw.previously.span()),
            ("review", raw.review.span()),
            ("sync", raw.sync.span()),
            ("keep", raw.keep.span()),
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
    Some(DesiredGroup {
        name: name?,
        description,
        members,
        guests,
        member_sources,
        member_groups,
        guest_sources,
        expanded: None,
        guest_names,
        previously,
        absent,
        at,
        expiries,
        review,
        guests_without_until,
        sync,
        keep,
        external,
    })
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

/// Members: the typed ones are returned (scalars, `{email}` and `{id}` entries); `{source}` and
/// `{group}` entries go to `sources` and `groups`; the `until` of any entry to `expiries`.
fn members(
    p: &Problems,
    items: &[Field<RawMember>],
    sources: &mut Vec<Located<String>>,
    groups: &mut Vec<Located<String>>,
    expiries: &mut Vec<Expiry>,
) -> Vec<Located<MemberRef>> {
    let mut out = Vec::with_capacity(items.len());
    let mut seen = HashMap::with_capacity(items.len());
    let mut seen_sources = HashMap::new();
    let mut seen_groups = HashMap::new();
    for (span, raw) in items.iter().filter_map(Field::get) {
        let entry = match raw {
            RawMember::Person(id) => {
                if let Some(value) = member_ref(p, span, id.0.trim(), None) {
                    add_once(p, &mut out, &mut seen, span, "member", value);
                }
                continue;
            }
            RawMember::Entry(entry) => entry,
        };
        let keys = [
            ("email", entry.email.is_given()),
            ("id", entry.id.is_given()),
            ("source", entry.source.is_given()),
            ("group", entry.group.is_given()),
        ];
        let given: Vec<&str> = keys.iter().filter(|(_, g)| *g).map(|(k, _)| *k).collect();
        match given.as_slice() {
            [] => p.error_hint(
                span,
                "a member written as a mapping needs `email`, `id`, `source` or `group`",
                "write `{email: a@example.com, until: YYYY-MM-DD}` for one person, `{source: NAME}` for everyone a source yields, or `{group: NAME}` for every member of another group",
            ),
            [_] => {
                if let Some((s, v)) = entry.source.get().and_then(|(s, v)| reference(p, s, v, "source"))
                    && once(p, sources, &mut seen_sources, s, v.to_string(), v, "source")
                {
                    until_of(p, &entry.until, &entry.reason, Entry::MemberSource(v.to_string()), &p.loc(s), expiries);
                }
                if let Some((s, v)) = entry.group.get().and_then(|(s, v)| reference(p, s, v, "group"))
                    && once(p, groups, &mut seen_groups, s, name_key(v), v, "group")
                {
                    until_of(p, &entry.until, &entry.reason, Entry::MemberGroup(v.to_string()), &p.loc(s), expiries);
                }
                let typed = entry.email.get().map(|(s, v)| (s, v.trim(), Some("email"))).or_else(|| entry.id.get().map(|(s, v)| (s, v.0.trim(), Some("id"))));
                if let Some((s, text, key)) = typed
                    && let Some(value) = member_ref(p, s, text, key)
                    && add_once(p, &mut out, &mut seen, s, "member", value.clone())
                {
                    until_of(p, &entry.until, &entry.reason, Entry::Member(value), &p.loc(s), expiries);
                }
            }
            [first, second, ..] => p.error_hint(
                span,
                format!("a member entry has both `{first}` and `{second}`"),
                "write one entry for each: one person, one source or one group per entry",
            ),
        }
    }
    out
}

/// A member written as `text`: an email address or a numeric user id; `key` is the entry's key
/// (`email` or `id`) when it was written as a mapping, and must agree.
fn member_ref(p: &Problems, span: &Span, raw: &str, key: Option<&str>) -> Option<MemberRef> {
    let is_id = !raw.is_empty() && raw.bytes().all(|b| b.is_ascii_digit());
    match (key, is_id) {
        (Some("email"), true) => {
            p.error_hint(span, format!("`email: {raw}` is a user id, not an email address"), format!("write `id: {raw}`"));
            return None;
        }
        (Some("id"), false) => {
            p.error_hint(span, format!("`id: {raw}` is not a user id"), "user ids are whole numbers; write `email:` for an address");
            return None;
        }
        _ => {}
    }
    if is_id {
        return match raw.parse::<u64>() {
            Ok(id) => Some(MemberRef::Id(UserId(id))),
            Err(_) => {
                p.error_hint(span, format!("member `{raw}` is not a valid user id"), "user ids are whole numbers");
                None
            }
        };
    }
    match Email::parse(raw) {
        Ok(e) => Some(MemberRef::Email(e)),
        Err(why) => {
            p.error_hint(
                span,
                format!("member `{raw}` is not an email address or a user id: it {why}"),
                "list members by email (preferred) or numeric user id",
            );
            None
        }
    }
}

/// The name of a `{source}` or `{group}` entry, when it is one.
fn reference<'v>(p: &Problems, span: &'v Span, v: &'v str, key: &str) -> Option<(&'v Span, &'v str)> {
    if v.trim().is_empty() {
        p.error(span, format!("`{key}` is empty"));
        return None;
    }
    Some((span, v.trim()))
}

/// Adds a `{source}` or `{group}` entry unless the list names it already (by `key`); whether it
/// was added.
fn once(
    p: &Problems,
    out: &mut Vec<Located<String>>,
    seen: &mut HashMap<String, usize>,
    span: &Span,
    key: String,
    name: &str,
    what: &str,
) -> bool {
    let at = p.loc(span);
    if let Some(first) = seen.get(&key) {
        p.error(span, format!("{what} `{name}` is listed twice in this list (first on line {first})"));
        return false;
    }
    seen.insert(key, at.line);
    out.push(Located { value: name.to_string(), at });
    true
}

/// Guests: each an email, or `{email, first_name, last_name}` (the names are used when the
/// guest is invited). Names found go to `names`.
fn guests(
    p: &Problems,
    items: &[Field<RawGuest>],
    names: &mut BTreeMap<Email, GuestName>,
    sources: &mut Vec<Located<String>>,
    expiries: &mut Vec<Expiry>,
    without_until: &mut Vec<Location>,
) -> Vec<Located<Email>> {
    let mut out = Vec::with_capacity(items.len());
    let mut seen = HashMap::with_capacity(items.len());
    let mut seen_sources = HashMap::new();
    for (span, guest) in items.iter().filter_map(Field::get) {
        let (email, name, until) = match guest {
            RawGuest::Email(email) => ((span, email), None, None),
            RawGuest::Named(named) if named.source.is_given() => {
                let others = [("email", &named.email), ("first_name", &named.first_name), ("last_name", &named.last_name)];
                let mut alone = true;
                for (key, field) in others {
                    if let Some(s) = field.span() {
                        alone = false;
                        p.error_hint(
                            s,
                            format!("a guest entry with `source` cannot have `{key}`"),
                            "write `- source: NAME` for everyone a source yields, and each other guest as an entry of its own",
                        );
                    }
                }
                if let Some((s, v)) = named.source.get().and_then(|(s, v)| reference(p, s, v, "source"))
                    && alone
                    && once(p, sources, &mut seen_sources, s, v.to_string(), v, "source")
                {
                    if !named.until.is_given() {
                        without_until.push(p.loc(s));
                    }
                    until_of(p, &named.until, &named.reason, Entry::GuestSource(v.to_string()), &p.loc(s), expiries);
                }
                continue;
            }
            RawGuest::Named(named) => {
                if !named.email.is_given() {
                    p.error_hint(
                        span,
                        "a guest written as a mapping needs `email` (or `source`)",
                        "write `{email: a@example.com, first_name: Ann, last_name: Lee}`, or `{source: NAME}` for everyone a source yields",
                    );
                    continue;
                }
                let Some(email) = named.email.get() else { continue };
                let text = |f: &Field<String>| f.value().map(|s| s.trim().to_string());
                let (first_name, last_name) = (text(&named.first_name), text(&named.last_name));
                (
                    email,
                    (first_name.is_some() || last_name.is_some()).then_some(GuestName { first_name, last_name }),
                    Some((&named.until, &named.reason)),
                )
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
        if !add_once(p, &mut out, &mut seen, span, "guest", value.clone()) {
            continue;
        }
        match until {
            Some((until, reason)) if until.is_given() => until_of(p, until, reason, Entry::Guest(value.clone()), &p.loc(span), expiries),
            Some((_, reason)) => {
                until_of(p, &Field::default(), reason, Entry::Guest(value.clone()), &p.loc(span), expiries);
                without_until.push(p.loc(span));
            }
            None => without_until.push(p.loc(span)),
        }
        if let Some(name) = name {
            names.insert(value, name);
        }
    }
    out
}

pub(super) fn merge_and_check(files: Vec<ParsedFile>, diags: &mut Vec<Diagnostic>) -> DesiredState {
    let mut settings: Option<(Settings, Location)> = None;
    let mut groups = Vec::new();
    let mut sources: Vec<SourceSpec> = Vec::new();
    let mut declared: BTreeSet<String> = BTreeSet::new();
    for file in files {
        declared.extend(file.source_names);
        for source in file.sources {
            match sources.iter().find(|s| s.name == source.name) {
                Some(first) => diags.push(
                    Diagnostic::at(&source.at, format!("source `{}` is defined twice (first at {})", source.name, first.at))
                        .with_hint("source names are unique across all files; rename one of them"),
                ),
                None => sources.push(source),
            }
        }
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
    let settings_at = settings.as_ref().map(|(_, at)| at.clone());
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

    sources.sort_by(|a, b| a.name.cmp(&b.name));
    let warnings = references(&groups, &sources, &declared, diags);
    DesiredState { settings, groups, sources, files: Vec::new(), warnings, settings_at, external_members: BTreeMap::new() }
}

/// The sources of one file's `sources:`; `names` is where each name is written (where its
/// source is defined).
pub(super) fn sources(p: &Problems, raw: &RawFile, names: &HashMap<String, Span>) -> Vec<SourceSpec> {
    let Some(map) = raw.sources.value() else { return Vec::new() };
    let mut out = Vec::with_capacity(map.len());
    for (name, field) in map {
        let Some((span, raw_source)) = field.get() else { continue };
        let name_span = names.get(name).unwrap_or(span);
        if name.trim().is_empty() {
            p.error(name_span, "a source name is empty");
            continue;
        }
        if name.trim() != name {
            p.error_hint(name_span, format!("source name \"{name}\" has leading or trailing spaces"), "remove the spaces");
            continue;
        }
        if let Some(spec) = source(p, name, span, raw_source, p.loc(name_span)) {
            out.push(spec);
        }
    }
    out
}

/// One source; `None` when it cannot be one (its problems are reported).
fn source(p: &Problems, name: &str, span: &Span, raw: &RawSource, at: Location) -> Option<SourceSpec> {
    let kinds = [
        ("csv", raw.csv.span()),
        ("command", raw.command.span()),
        ("ldap", raw.ldap.span()),
        ("list", raw.list.span()),
        ("okta", raw.okta.span()),
        ("entra", raw.entra.span()),
        ("google", raw.google.span()),
        ("scim", raw.scim.span()),
    ];
    let given: Vec<(&str, &Span)> = kinds.iter().filter_map(|(k, s)| s.map(|s| (*k, s))).collect();
    match given.as_slice() {
        [] => {
            p.error_hint(
                span,
                format!("source `{name}` says nothing to read"),
                "give it one of `csv`, `command`, `ldap`, `list`, `okta`, `entra`, `google` or `scim`",
            );
            return None;
        }
        [_] => {}
        [(first, _), rest @ ..] => {
            for (kind, s) in rest {
                p.error_hint(
                    s,
                    format!("source `{name}` has both `{first}` and `{kind}`"),
                    "a source reads one thing; define another source for the other",
                );
            }
            return None;
        }
    }
    if !raw.command.is_given() {
        for (key, s) in [("timeout", raw.timeout.span()), ("env", raw.env.span())] {
            if let Some(s) = s {
                p.error_hint(s, format!("`{key}` is for a `command` source only"), format!("remove `{key}` from source `{name}`"));
            }
        }
    }
    let dir = match Path::new(&*at.file).parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let kind = if let Some((s, csv)) = raw.csv.get() {
        SourceKind::Csv(csv_spec(p, s, csv, &dir)?)
    } else if let Some((s, argv)) = raw.command.get() {
        SourceKind::Command(command_spec(p, s, argv, raw)?)
    } else if let Some((s, ldap)) = raw.ldap.get() {
        SourceKind::Ldap(ldap_spec(p, s, ldap)?)
    } else if let Some((s, okta)) = raw.okta.get() {
        SourceKind::Okta(okta_spec(p, s, okta)?)
    } else if let Some((s, entra)) = raw.entra.get() {
        SourceKind::Entra(entra_spec(p, s, entra)?)
    } else if let Some((s, google)) = raw.google.get() {
        SourceKind::Google(google_spec(p, s, google)?)
    } else if let Some((s, scim)) = raw.scim.get() {
        SourceKind::Scim(scim_spec(p, s, scim)?)
    } else if let Some((_, items)) = raw.list.get() {
        let mut list: Vec<(Email, Location)> = Vec::with_capacity(items.len());
        let mut seen: HashMap<Email, usize> = HashMap::new();
        for (s, item) in items.iter().filter_map(Field::get) {
            let text = item.0.trim();
            match Email::parse(text) {
                Ok(email) => {
                    let at = p.loc(s);
                    if let Some(first) = seen.get(&email) {
                        p.error(s, format!("{email} is listed twice in source `{name}` (first on line {first})"));
                        continue;
                    }
                    seen.insert(email.clone(), at.line);
                    list.push((email, at));
                }
                Err(why) => p.error_hint(
                    s,
                    format!("`{text}` in source `{name}` is not an email address: it {why}"),
                    "a `list` source holds email addresses",
                ),
            }
        }
        if list.len() != items.len() {
            return None;
        }
        SourceKind::List(list)
    } else {
        return None; // the kind's value is malformed: reported already
    };
    let unknown = match raw.unknown.value() {
        Some(RawUnknown::Warn) => Unknown::Warn,
        Some(RawUnknown::Error) | None => Unknown::Error,
    };
    Some(SourceSpec { name: name.to_string(), kind, allow_empty: raw.allow_empty.value().copied().unwrap_or(false), unknown, at, dir })
}

/// A required text key of a source's mapping: reported when missing or empty.
fn required<'r>(p: &Problems, span: &Span, field: &'r Field<String>, key: &str, of: &str) -> Option<&'r str> {
    if !field.is_given() {
        p.error_hint(span, format!("`{of}` needs `{key}`"), format!("add `{key}:`"));
        return None;
    }
    let (s, v) = field.get()?;
    if v.trim().is_empty() {
        p.error(s, format!("`{key}` is empty"));
        return None;
    }
    Some(v.trim())
}

fn csv_spec(p: &Problems, span: &Span, raw: &RawCsv, dir: &Path) -> Option<CsvSpec> {
    let path = required(p, span, &raw.path, "path", "csv");
    let column = required(p, span, &raw.column, "column", "csv");
    let mut filter = BTreeMap::new();
    for (key, value) in raw.filter.value().into_iter().flatten() {
        let value = value.value()?;
        if key.trim().is_empty() {
            if let Some(s) = raw.filter.span() {
                p.error(s, "a `where` column is empty");
            }
            return None;
        }
        filter.insert(key.clone(), value.clone());
    }
    Some(CsvSpec { path: dir.join(path?), column: column?.to_string(), filter })
}

fn command_spec(p: &Problems, span: &Span, argv: &[Field<String>], raw: &RawSource) -> Option<CommandSpec> {
    let args: Vec<String> = argv.iter().filter_map(|a| a.value().cloned()).collect();
    if args.len() != argv.len() {
        return None;
    }
    match args.first() {
        None => {
            p.error_hint(
                span,
                "`command` is empty",
                "write the program and its arguments, e.g. `command: [./scripts/people.sh, --team, finance]`",
            );
            return None;
        }
        Some(program) if program.trim().is_empty() => {
            p.error(argv[0].span().unwrap_or(span), "the program of `command` is empty");
            return None;
        }
        Some(_) => {}
    }
    let mut timeout = DEFAULT_COMMAND_TIMEOUT;
    if let Some((s, &seconds)) = raw.timeout.get() {
        if seconds == 0 {
            p.error_hint(s, "`timeout` must be at least 1 second", "write the seconds the command may take, e.g. `timeout: 60`");
            return None;
        }
        timeout = Duration::from_secs(seconds);
    }
    let mut env = Vec::new();
    for (s, var) in raw.env.value().into_iter().flatten().filter_map(Field::get) {
        let ok = var.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && var.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !ok {
            p.error_hint(s, format!("`{var}` is not the name of an environment variable"), "write names such as `APPROVERS_TOKEN`");
            return None;
        }
        env.push(var.clone());
    }
    Some(CommandSpec { argv: args, timeout, env })
}

fn ldap_spec(p: &Problems, span: &Span, raw: &RawLdap) -> Option<LdapSpec> {
    let url = required(p, span, &raw.url, "url", "ldap");
    let base = required(p, span, &raw.base, "base", "ldap");
    let filter = required(p, span, &raw.filter, "filter", "ldap");
    let starttls = raw.starttls.value().copied().unwrap_or(false);
    let mut ok = true;
    if let (Some(url), Some((s, _))) = (url, raw.url.get()) {
        let lower = url.to_ascii_lowercase();
        if lower.starts_with("ldaps://") {
            if let Some(s) = raw.starttls.span().filter(|_| starttls) {
                p.error_hint(
                    s,
                    "`starttls` upgrades an ldap:// connection; an ldaps:// one is encrypted already",
                    "remove `starttls`, or use an ldap:// url",
                );
                ok = false;
            }
        } else if !lower.starts_with("ldap://") {
            p.error_hint(
                s,
                format!("`url` must start with ldap:// or ldaps://, found `{url}`"),
                "write e.g. `url: ldaps://ldap.example.com`",
            );
            ok = false;
        }
    }
    let attribute = match raw.attribute.get() {
        Some((s, a)) if a.trim().is_empty() => {
            p.error(s, "`attribute` is empty");
            return None;
        }
        Some((_, a)) => a.trim().to_string(),
        None if raw.attribute.is_given() => return None,
        None => DEFAULT_LDAP_ATTRIBUTE.to_string(),
    };
    let bind = match (raw.bind_dn_env.get(), raw.password_env.get()) {
        (Some((_, dn)), Some((_, pw))) => Some(LdapBind { dn_env: dn.trim().to_string(), password_env: pw.trim().to_string() }),
        (None, None) => None,
        (one, other) => {
            let (given, missing, s) = match (one, other) {
                (Some((s, _)), _) => ("bind_dn_env", "password_env", s),
                (_, Some((s, _))) => ("password_env", "bind_dn_env", s),
                _ => return None,
            };
            p.error_hint(
                s,
                format!("`{given}` needs `{missing}` too"),
                format!("add `{missing}`, or remove `{given}` for an anonymous bind"),
            );
            return None;
        }
    };
    for (key, field) in [("bind_dn_env", &raw.bind_dn_env), ("password_env", &raw.password_env)] {
        if let Some((s, v)) = field.get()
            && v.trim().is_empty()
        {
            p.error(s, format!("`{key}` is empty"));
            ok = false;
        }
    }
    let missing = match raw.missing.value() {
        Some(RawMissing::Skip) => Missing::Skip,
        Some(RawMissing::Error) | None => Missing::Error,
    };
    if !ok {
        return None;
    }
    Some(LdapSpec { url: url?.to_string(), starttls, base: base?.to_string(), filter: filter?.to_string(), attribute, bind, missing })
}

/// A required URL of an identity provider: `https://`, or `http://` to a loopback address only
/// (the token would cross the network in clear text otherwise); without a trailing `/`.
fn service_url(p: &Problems, span: &Span, field: &Field<String>, key: &str, of: &str) -> Option<String> {
    let text = required(p, span, field, key, of)?;
    check_service_url(p, field, key, text)
}

/// An optional URL of an identity provider, defaulting to its public service.
fn service_url_or(p: &Problems, field: &Field<String>, key: &str, default: &str) -> Option<String> {
    match field.get() {
        None if field.is_given() => None,
        None => Some(default.to_string()),
        Some((s, v)) if v.trim().is_empty() => {
            p.error(s, format!("`{key}` is empty"));
            None
        }
        Some((_, v)) => check_service_url(p, field, key, v.trim()),
    }
}

fn check_service_url(p: &Problems, field: &Field<String>, key: &str, text: &str) -> Option<String> {
    let s = field.span()?;
    let Ok(url) = url::Url::parse(text) else {
        p.error_hint(s, format!("`{key}` is not a URL: `{text}`"), "write the service's https:// address");
        return None;
    };
    let loopback = match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    };
    match url.scheme() {
        "https" if url.host().is_some() => {}
        "http" if loopback => {}
        "http" => {
            p.error_hint(
                s,
                format!("`{key}` must use https: `{text}` would send the token in clear text"),
                "write https://; plain http:// is allowed to a loopback address only (a local test server)",
            );
            return None;
        }
        _ => {
            p.error_hint(s, format!("`{key}` must start with https://, found `{text}`"), "write the service's https:// address");
            return None;
        }
    }
    if url.query().is_some() || url.fragment().is_some() {
        p.error_hint(s, format!("`{key}` has a query or fragment: `{text}`"), "write the service's base address only");
        return None;
    }
    Some(text.trim_end_matches('/').to_string())
}

/// A required name of an environment variable (never its value).
fn env_name(p: &Problems, span: &Span, field: &Field<String>, key: &str, of: &str) -> Option<String> {
    let name = required(p, span, field, key, of)?;
    let ok = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !ok {
        let hint = if name.len() > 20 && !name.contains(' ') {
            "write the NAME of the variable that holds the secret (e.g. `OKTA_API_TOKEN`), never the secret itself"
        } else {
            "write a variable name such as `OKTA_API_TOKEN`"
        };
        p.error_hint(field.span().unwrap_or(span), format!("`{key}` is not the name of an environment variable"), hint);
        return None;
    }
    Some(name.to_string())
}

fn missing_of(field: &Field<RawMissing>) -> Missing {
    match field.value() {
        Some(RawMissing::Skip) => Missing::Skip,
        Some(RawMissing::Error) | None => Missing::Error,
    }
}

fn okta_spec(p: &Problems, span: &Span, raw: &RawOkta) -> Option<OktaSpec> {
    let url = service_url(p, span, &raw.url, "url", "okta");
    let group_id = required(p, span, &raw.group_id, "group_id", "okta");
    let token_env = env_name(p, span, &raw.token_env, "token_env", "okta");
    if raw.attribute.is_given() && raw.attribute.value().is_none() {
        return None;
    }
    let login = matches!(raw.attribute.value(), Some(RawOktaAttribute::Login));
    Some(OktaSpec { url: url?, group_id: group_id?.to_string(), token_env: token_env?, login, missing: missing_of(&raw.missing) })
}

fn entra_spec(p: &Problems, span: &Span, raw: &RawEntra) -> Option<EntraSpec> {
    let tenant = required(p, span, &raw.tenant, "tenant", "entra");
    let group_id = required(p, span, &raw.group_id, "group_id", "entra");
    let client_id_env = env_name(p, span, &raw.client_id_env, "client_id_env", "entra");
    let client_secret_env = env_name(p, span, &raw.client_secret_env, "client_secret_env", "entra");
    let authority_url = service_url_or(p, &raw.authority_url, "authority_url", ENTRA_AUTHORITY_URL);
    let graph_url = service_url_or(p, &raw.graph_url, "graph_url", ENTRA_GRAPH_URL);
    if let Some((s, t)) = raw.tenant.get()
        && (t.contains('/') || t.contains(char::is_whitespace))
    {
        p.error_hint(s, format!("`tenant` is not a tenant id or domain: `{t}`"), "write e.g. `contoso.onmicrosoft.com` or the tenant's id");
        return None;
    }
    if raw.attribute.is_given() && raw.attribute.value().is_none() {
        return None;
    }
    Some(EntraSpec {
        tenant: tenant?.to_string(),
        group_id: group_id?.to_string(),
        client_id_env: client_id_env?,
        client_secret_env: client_secret_env?,
        transitive: raw.transitive.value().copied().unwrap_or(true),
        user_principal_name: matches!(raw.attribute.value(), Some(RawEntraAttribute::UserPrincipalName)),
        missing: missing_of(&raw.missing),
        authority_url: authority_url?,
        graph_url: graph_url?,
    })
}

fn google_spec(p: &Problems, span: &Span, raw: &RawGoogle) -> Option<GoogleSpec> {
    let group = required(p, span, &raw.group, "group", "google");
    let token_env = env_name(p, span, &raw.token_env, "token_env", "google");
    let directory_url = service_url_or(p, &raw.directory_url, "directory_url", GOOGLE_DIRECTORY_URL);
    Some(GoogleSpec {
        group: group?.to_string(),
        token_env: token_env?,
        derived: raw.derived.value().copied().unwrap_or(true),
        missing: missing_of(&raw.missing),
        directory_url: directory_url?,
    })
}

fn scim_spec(p: &Problems, span: &Span, raw: &RawScim) -> Option<ScimSpec> {
    let url = service_url(p, span, &raw.url, "url", "scim");
    let group_id = required(p, span, &raw.group_id, "group_id", "scim");
    let token_env = env_name(p, span, &raw.token_env, "token_env", "scim");
    Some(ScimSpec { url: url?, group_id: group_id?.to_string(), token_env: token_env?, missing: missing_of(&raw.missing) })
}

/// The closest of `names` to `name`, when it is close enough to be a typo.
fn closest<'n>(name: &str, names: impl Iterator<Item = &'n str>) -> Option<&'n str> {
    let key = name_key(name);
    names
        .map(|cand| (strsim::levenshtein(&key, &name_key(cand)), cand))
        .filter(|(d, cand)| *d <= 2.max(cand.chars().count() / 3) && *d < cand.chars().count())
        .min()
        .map(|(_, cand)| cand)
}

/// The checks of `{source}` and `{group}` entries, across every file: each names something
/// defined; a `{group}` names a group that manages its members and is not `absent`; groups do
/// not include each other in a cycle. Returns a warning for each source no group uses.
fn references(groups: &[DesiredGroup], sources: &[SourceSpec], declared: &BTreeSet<String>, diags: &mut Vec<Diagnostic>) -> Vec<Warning> {
    let mut used = BTreeSet::new();
    for g in groups.iter().filter(|g| !g.absent) {
        for r in g.member_sources.iter().chain(&g.guest_sources) {
            if declared.contains(&r.value) {
                used.insert(r.value.as_str());
                continue;
            }
            let d = Diagnostic::at(&r.at, format!("source `{}` is not defined", r.value));
            diags.push(match closest(&r.value, sources.iter().map(|s| s.name.as_str())) {
                Some(close) => d.with_hint(format!("did you mean `{close}`?")),
                None if sources.is_empty() => d.with_hint("define it under `sources:` in any of the files"),
                None => d.with_hint(format!(
                    "define it under `sources:`; the sources are {}",
                    sources.iter().map(|s| format!("`{}`", s.name)).collect::<Vec<_>>().join(", ")
                )),
            });
        }
    }
    let mut index: HashMap<String, usize> = HashMap::new();
    for (i, g) in groups.iter().enumerate() {
        index.entry(name_key(&g.name.value)).or_insert(i);
    }
    // Who includes whom, with where the `{group}` entry is written.
    let mut edges: Vec<Vec<(usize, &Location)>> = vec![Vec::new(); groups.len()];
    for (i, g) in groups.iter().enumerate().filter(|(_, g)| !g.absent) {
        for r in &g.member_groups {
            let Some(&j) = index.get(&name_key(&r.value)) else {
                let d = Diagnostic::at(&r.at, format!("group \"{}\" is not defined in these files", r.value));
                diags.push(match closest(&r.value, groups.iter().map(|g| g.name.value.as_str())) {
                    Some(close) => d.with_hint(format!("did you mean \"{close}\"?")),
                    None => d.with_hint("`group:` names another group of these files; define it, or list the people here"),
                });
                continue;
            };
            let target = &groups[j];
            if target.absent {
                diags.push(
                    Diagnostic::at(&r.at, format!("group \"{}\" is `absent: true`: it has no members to include", target.name.value))
                        .with_hint("remove this entry, or remove `absent: true` from that group"),
                );
            } else if target.members.is_none() && !target.external {
                diags.push(
                    Diagnostic::at(
                        &r.at,
                        format!(
                            "group \"{}\" does not manage its members (it has no `members:`), so there is nothing to include",
                            target.name.value
                        ),
                    )
                    .with_hint("give that group a `members:` list, or list the people here"),
                );
            } else {
                edges[i].push((j, &r.at));
            }
        }
    }
    for cycle in cycles(&edges) {
        let names: Vec<String> = cycle.iter().chain(cycle.first()).map(|&(i, _)| format!("\"{}\"", groups[i].name.value)).collect();
        let (_, at) = cycle[0];
        diags.push(
            Diagnostic::at(at, format!("groups include each other in a cycle: {}", names.join(" → ")))
                .with_hint("a group cannot include itself, directly or through others; list the people in one of them instead"),
        );
    }
    sources
        .iter()
        .filter(|s| !used.contains(s.name.as_str()))
        .map(|s| Warning::UnusedSource { at: At::from(&s.at), source: s.name.clone() })
        .collect()
}

/// Every cycle of the graph, once each: the nodes in order, each with the edge to the next,
/// starting from the lowest node.
fn cycles<'a>(edges: &[Vec<(usize, &'a Location)>]) -> Vec<Vec<(usize, &'a Location)>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        OnPath,
        Done,
    }
    let mut mark = vec![Mark::New; edges.len()];
    let mut found: BTreeSet<Vec<usize>> = BTreeSet::new();
    let mut out = Vec::new();
    for start in 0..edges.len() {
        if mark[start] != Mark::New {
            continue;
        }
        // The path: (node, index of the next edge to follow, the edge taken to the next node).
        let mut path: Vec<(usize, usize, Option<&Location>)> = vec![(start, 0, None)];
        mark[start] = Mark::OnPath;
        while let Some(&mut (node, ref mut next, _)) = path.last_mut() {
            let Some(&(to, at)) = edges[node].get(*next) else {
                mark[node] = Mark::Done;
                path.pop();
                continue;
            };
            *next += 1;
            if let Some(last) = path.last_mut() {
                last.2 = Some(at);
            }
            match mark[to] {
                Mark::New => {
                    mark[to] = Mark::OnPath;
                    path.push((to, 0, None));
                }
                Mark::OnPath => {
                    let from = path.iter().position(|(n, _, _)| *n == to).unwrap_or(0);
                    let mut cycle: Vec<(usize, &Location)> = path[from..].iter().filter_map(|(n, _, at)| at.map(|at| (*n, at))).collect();
                    let lowest = cycle.iter().enumerate().min_by_key(|(_, (n, _))| *n).map_or(0, |(k, _)| k);
                    cycle.rotate_left(lowest);
                    if found.insert(cycle.iter().map(|(n, _)| *n).collect()) {
                        out.push(cycle);
                    }
                }
                Mark::Done => {}
            }
        }
    }
    out
}
