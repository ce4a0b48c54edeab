//! Identity resolution: member emails and ids of the desired state become user ids of the live
//! user directory. Unknown emails, unknown ids, disabled users and guests who are members all
//! fail here, listed at once with their YAML location. Pure; no I/O.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use crate::desired::{DesiredGroup, DesiredState, Diagnostic, Diagnostics, Expanded, GroupExpansion, MemberRef};
use crate::model::{Email, User, UserId, UserLookup, UserStatus};
use crate::plan::GroupProvenance;
use crate::source::{Provenance, Unknown};
use crate::warning::{At, Warning};

/// A desired group with its members resolved to user ids.
#[derive(Debug, Clone, PartialEq)]
pub struct ResolvedGroup<'a> {
    /// The group as the file gives it.
    pub desired: &'a DesiredGroup,
    /// `None`: members not managed.
    pub members: Option<BTreeSet<UserId>>,
    /// `None`: guests not managed.
    pub guests: Option<BTreeSet<Email>>,
    /// Where each member and guest comes from, when the desired state was expanded.
    pub provenance: Option<GroupProvenance>,
    /// The organization's users the group's `keep:` rules match (by id or email glob).
    pub kept: BTreeSet<UserId>,
}

/// The user directory, indexed for lookups (borrowing the users it indexes).
#[derive(Debug, Clone, Default)]
pub struct Directory<'a> {
    by_id: HashMap<UserId, &'a User>,
    /// Users by email, in the directory's order; more than one is an email two accounts share
    /// (emails compare without case). A user without an email is not here.
    by_email: HashMap<&'a Email, Vec<&'a User>>,
}

impl<'a> Directory<'a> {
    /// Indexes `users`.
    pub fn new(users: &'a [User]) -> Self {
        let mut by_email: HashMap<&'a Email, Vec<&'a User>> = HashMap::new();
        for u in users.iter().filter(|u| !u.email.as_str().trim().is_empty()) {
            by_email.entry(&u.email).or_default().push(u);
        }
        Directory { by_id: users.iter().map(|u| (u.id, u)).collect(), by_email }
    }

    /// The user with this id, if there is one.
    pub fn get(&self, id: UserId) -> Option<&'a User> {
        self.by_id.get(&id).copied()
    }

    /// The one user with this email; `None` when there is none, or more than one (see
    /// [`Directory::all_by_email`]).
    pub fn by_email(&self, email: &Email) -> Option<&'a User> {
        match self.by_email.get(email).map(Vec::as_slice) {
            Some([one]) => Some(one),
            _ => None,
        }
    }

    /// Every user with this email (two accounts can share one, in any case).
    pub fn all_by_email(&self, email: &Email) -> &[&'a User] {
        self.by_email.get(email).map_or(&[], Vec::as_slice)
    }

    /// The users `keep` rules match.
    pub fn kept(&self, keep: &[crate::desired::Located<crate::desired::KeepRule>]) -> BTreeSet<UserId> {
        if keep.is_empty() {
            return BTreeSet::new();
        }
        self.by_id.values().filter(|u| keep.iter().any(|k| k.value.keeps_member(u.id, Some(&u.email)))).map(|u| u.id).collect()
    }
}

/// Most unknown emails looked up for a "did you mean"; past it, a file is stale rather than
/// mistyped, and the rest get the plain hint.
pub const MAX_SUGGESTION_SEARCHES: usize = 50;

/// Finds, for an email that is not a user's, the user's email it plausibly mistypes:
/// - the same local part, with a domain at most two edits away (`alice@exampel.com`);
/// - the same domain, with a local part of at least four characters one edit away (a character
///   added, dropped, changed, or two swapped) and the same digits: `user0` is not a typo of
///   `user10`, it is someone else.
///
/// Built on first need, from indexes that bound each search to those candidates; each unknown
/// email is searched once, and at most [`MAX_SUGGESTION_SEARCHES`] are.
struct Suggester<'u> {
    by_local: HashMap<&'u str, Vec<&'u Email>>,
    /// By domain, digits of the local part, and its length.
    by_shape: HashMap<(&'u str, String, usize), Vec<&'u Email>>,
    searched: HashMap<Email, Option<&'u Email>>,
}

/// The digits of a local part, in order.
fn digits(local: &str) -> String {
    local.chars().filter(char::is_ascii_digit).collect()
}

/// Whether two strings are at most one edit apart (insert, delete, substitute, or swap two
/// neighbours).
fn within_one_edit(a: &[u8], b: &[u8]) -> bool {
    let (a, b) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    if b.len() - a.len() > 1 {
        return false;
    }
    let p = a.iter().zip(b).take_while(|(x, y)| x == y).count();
    if p == a.len() {
        return true;
    }
    if a.len() < b.len() {
        return a[p..] == b[p + 1..];
    }
    a[p + 1..] == b[p + 1..] || (p + 1 < a.len() && a[p] == b[p + 1] && a[p + 1] == b[p] && a[p + 2..] == b[p + 2..])
}

impl<'u> Suggester<'u> {
    fn new(directory: &Directory<'u>) -> Self {
        let mut by_local: HashMap<&'u str, Vec<&'u Email>> = HashMap::new();
        let mut by_shape: HashMap<(&'u str, String, usize), Vec<&'u Email>> = HashMap::new();
        for &email in directory.by_email.keys() {
            let Some((local, domain)) = email.as_str().rsplit_once('@') else { continue };
            by_local.entry(local).or_default().push(email);
            by_shape.entry((domain, digits(local), local.len())).or_default().push(email);
        }
        Suggester { by_local, by_shape, searched: HashMap::new() }
    }

    /// The suggestion for `email`, searched once.
    fn suggest(&mut self, email: &Email) -> Option<&'u Email> {
        if let Some(&known) = self.searched.get(email) {
            return known;
        }
        if self.searched.len() >= MAX_SUGGESTION_SEARCHES {
            return None;
        }
        let found = self.search(email);
        self.searched.insert(email.clone(), found);
        found
    }

    /// The nearest plausible typo: fewest edits, then alphabetical.
    fn search(&self, email: &Email) -> Option<&'u Email> {
        let (local, domain) = email.as_str().rsplit_once('@')?;
        let mut best: Option<(usize, &'u Email)> = None;
        let mut consider = |distance: usize, e: &'u Email| {
            if best.is_none_or(|(d, b)| (distance, e.as_str()) < (d, b.as_str())) {
                best = Some((distance, e));
            }
        };
        for &e in self.by_local.get(local).into_iter().flatten() {
            let other = e.as_str().rsplit_once('@').map_or("", |(_, d)| d);
            let distance = strsim::osa_distance(other, domain);
            if distance <= 2 {
                consider(distance, e);
            }
        }
        if local.len() >= 4 {
            let digits = digits(local);
            for len in [local.len() - 1, local.len(), local.len() + 1] {
                for &e in self.by_shape.get(&(domain, digits.clone(), len)).into_iter().flatten() {
                    let other = e.as_str().rsplit_once('@').map_or("", |(l, _)| l);
                    if other.len() >= 4 && within_one_edit(other.as_bytes(), local.as_bytes()) {
                        consider(1, e);
                    }
                }
            }
        }
        best.map(|(_, e)| e)
    }
}

/// What resolution found: the groups that resolved, every error (each naming its group), and
/// warnings (disabled members left out).
#[derive(Debug, Clone, Default)]
pub struct Resolution<'a> {
    /// The groups without errors.
    pub groups: Vec<ResolvedGroup<'a>>,
    /// Every member that did not resolve, naming its group.
    pub errors: Vec<Diagnostic>,
    /// Disabled members left out.
    pub warnings: Vec<Warning>,
    /// Names of the groups that had errors (left untouched under `--keep-going`).
    pub failed: BTreeSet<String>,
}

impl UserLookup for Directory<'_> {
    fn user(&self, id: UserId) -> Option<&User> {
        self.get(id)
    }
}

/// Resolves the groups accepted by `in_scope` (absent groups need no resolution); fails on the
/// first group with an error, listing every error.
pub fn resolve<'a>(
    desired: &'a DesiredState,
    directory: &Directory<'_>,
    in_scope: impl Fn(&DesiredGroup) -> bool,
) -> Result<Vec<ResolvedGroup<'a>>, Diagnostics> {
    let r = resolve_all(desired, directory, in_scope);
    if r.errors.is_empty() { Ok(r.groups) } else { Err(Diagnostics(r.errors)) }
}

/// Resolves the groups accepted by `in_scope`, collecting every error and warning.
pub fn resolve_all<'a>(desired: &'a DesiredState, directory: &Directory<'_>, in_scope: impl Fn(&DesiredGroup) -> bool) -> Resolution<'a> {
    let strict_disabled = desired.settings.disabled_members == crate::desired::DisabledMembers::Error;
    let mut diags = Vec::new();
    let mut warnings = Vec::new();
    let mut failed = BTreeSet::new();
    let mut out = Vec::new();
    let mut suggester: Option<Suggester<'_>> = None;
    for g in desired.groups.iter().filter(|g| in_scope(g)) {
        if g.absent {
            out.push(ResolvedGroup { desired: g, members: None, guests: None, provenance: None, kept: BTreeSet::new() });
            continue;
        }
        let expansion: Cow<'_, GroupExpansion> = match &g.expanded {
            Some(e) => Cow::Borrowed(e),
            None if g.includes_others() => {
                // Planning without its sources' people would remove them all.
                diags.push(
                    Diagnostic::at(
                        &g.at,
                        format!("group \"{}\" takes people from sources or other groups, but they were not expanded", g.name.value),
                    )
                    .with_hint("this is a bug of the tool: expand the desired state before resolving it"),
                );
                failed.insert(g.name.value.clone());
                continue;
            }
            None => Cow::Owned(typed_only(g)),
        };
        if !expansion.failed.is_empty() {
            for f in &expansion.failed {
                diags.push(
                    Diagnostic::at(
                        &f.at,
                        format!(
                            "source {} ({}) could not be read, so \"{}\" is left untouched: {}",
                            f.name, f.kind, g.name.value, f.reason
                        ),
                    )
                    .with_hint("fix the source; the other groups are planned (--keep-going)"),
                );
            }
            failed.insert(g.name.value.clone());
            continue;
        }
        let errors_before = diags.len();
        let own: HashSet<&MemberRef> = g.members.iter().flatten().map(|m| &m.value).collect();
        let mut member_origins: BTreeMap<UserId, Vec<Provenance>> = BTreeMap::new();
        let members = expansion.members.as_ref().map(|list| {
            let mut ids: BTreeMap<UserId, (crate::desired::Location, bool)> = BTreeMap::new();
            for m in list {
                let from = from_sources(m);
                let user = match &m.value {
                    MemberRef::Email(e) => match directory.all_by_email(e) {
                        [u] => *u,
                        [_, _, ..] => {
                            // Picking one would follow the list's order: an active member could be
                            // removed in favour of an old, disabled account.
                            let ids: Vec<String> = directory.all_by_email(e).iter().map(|u| format!("{} ({})", u.id, u.status)).collect();
                            diags.push(
                                Diagnostic::at(
                                    &m.at,
                                    format!("member {e}{from} of \"{}\" is the email of {} users of this organization: user ids {}", g.name.value, ids.len(), ids.join(", ")),
                                )
                                .with_hint("list the member by user id instead, and give each account its own email in Tallyfy"),
                            );
                            continue;
                        }
                        [] if m.unknown == Unknown::Warn => {
                            warnings.push(Warning::UnknownFromSource {
                                email: e.clone(),
                                group: g.name.value.clone(),
                                origins: m.origins.clone(),
                            });
                            continue;
                        }
                        [] => {
                            let mut d = Diagnostic::at(
                                &m.at,
                                format!("member {e}{from} of \"{}\" is not a user of this organization", g.name.value),
                            );
                            d = match suggester.get_or_insert_with(|| Suggester::new(directory)).suggest(e) {
                                Some(close) => d.with_hint(format!("did you mean {close}?")),
                                None if !from.is_empty() && !m.origins.iter().any(|o| !o.is_source()) => d.with_hint(
                                    "correct the source, invite them in Tallyfy, or set `unknown: warn` on the source to leave such addresses out with a warning",
                                ),
                                None => d.with_hint("invite them in Tallyfy first, or list an external person under `guests`"),
                            };
                            diags.push(d);
                            continue;
                        }
                    },
                    MemberRef::Id(id) => match directory.get(*id) {
                        Some(u) => u,
                        None => {
                            diags.push(
                                Diagnostic::at(
                                    &m.at,
                                    format!("member user id {id} of \"{}\" is not a user of this organization", g.name.value),
                                )
                                .with_hint("list members by email; `tallyfy-groups export` shows the current ones"),
                            );
                            continue;
                        }
                    },
                };
                match user.status {
                    UserStatus::Active | UserStatus::Invited => {}
                    UserStatus::Disabled if strict_disabled => {
                        diags.push(
                            Diagnostic::at(&m.at, format!("member {} (user id {}) of \"{}\" is disabled", user.email, user.id, g.name.value))
                                .with_hint("remove them from the group, or re-enable the user in Tallyfy (settings.disabled_members is `error`)"),
                        );
                        continue;
                    }
                    UserStatus::Disabled => {
                        // Tallyfy removes a disabled user from every group by itself: offboarding
                        // must not halt the nightly run.
                        warnings.push(Warning::DisabledMember {
                            at: At::from(&m.at),
                            email: user.email.clone(),
                            user: user.id,
                            group: g.name.value.clone(),
                        });
                        continue;
                    }
                    UserStatus::Other => {
                        diags.push(
                            Diagnostic::at(
                                &m.at,
                                format!(
                                    "member {} (user id {}) of \"{}\" has a status this version does not know (not active, invited or disabled; a bot account?)",
                                    user.email, user.id, g.name.value
                                ),
                            )
                            .with_hint("list only people who are active or invited in Tallyfy"),
                        );
                        continue;
                    }
                }
                // Two entries that are the same user: a mistake when both are typed in this
                // group; otherwise (a source, an included group) the origins add up.
                let typed_here = own.contains(&m.value);
                match ids.get(&user.id) {
                    Some((first, true)) if typed_here => {
                        diags.push(Diagnostic::at(
                            &m.at,
                            format!("member {} (user id {}) is listed twice in \"{}\" (first at {first})", user.email, user.id, g.name.value),
                        ));
                    }
                    Some(_) => {}
                    None => {
                        ids.insert(user.id, (m.at.clone(), typed_here));
                    }
                }
                let origins = member_origins.entry(user.id).or_default();
                origins.extend(m.origins.iter().cloned());
                origins.sort();
                origins.dedup();
            }
            ids.into_keys().collect::<BTreeSet<_>>()
        });
        let guests = expansion.guests.as_ref().map(|list| {
            let mut set = BTreeSet::new();
            for guest in list {
                if let Some(u) = directory.all_by_email(&guest.value).first() {
                    diags.push(
                        Diagnostic::at(
                            &guest.at,
                            format!(
                                "guest {}{} of \"{}\" is an org member ({}, user id {})",
                                guest.value,
                                from_sources(guest),
                                g.name.value,
                                u.display_name(),
                                u.id
                            ),
                        )
                        .with_hint("list the address under `members` instead"),
                    );
                    continue;
                }
                set.insert(guest.value.clone());
            }
            set
        });
        if diags.len() > errors_before {
            failed.insert(g.name.value.clone());
        } else {
            let provenance = g.expanded.as_ref().map(|e| {
                let guests: BTreeMap<Email, Vec<Provenance>> =
                    e.guests.iter().flatten().map(|g| (g.value.clone(), g.origins.clone())).collect();
                // The people the group will have from sources (an address left out is not one).
                let from_source = |origins: &Vec<Provenance>| origins.iter().any(Provenance::is_source);
                let people =
                    member_origins.values().filter(|o| from_source(o)).count() + guests.values().filter(|o| from_source(o)).count();
                GroupProvenance { members: member_origins, guests, sources: e.sources.iter().cloned().collect(), people }
            });
            out.push(ResolvedGroup { desired: g, members, guests, provenance, kept: directory.kept(&g.keep) });
        }
    }
    diags.sort();
    warnings.sort();
    Resolution { groups: out, errors: diags, warnings, failed }
}

/// The expansion of a group that has only typed entries (nothing to expand).
fn typed_only(g: &DesiredGroup) -> GroupExpansion {
    fn typed<T: Clone>(list: &[crate::desired::Located<T>]) -> Vec<Expanded<T>> {
        list.iter()
            .map(|e| Expanded {
                value: e.value.clone(),
                at: e.at.clone(),
                origins: vec![Provenance::Static { at: e.at.to_string() }],
                unknown: Unknown::Error,
            })
            .collect()
    }
    GroupExpansion {
        members: g.members.as_deref().map(typed),
        guests: g.guests.as_deref().map(typed),
        sources: BTreeSet::new(),
        failed: Vec::new(),
    }
}

/// " (from csv:finance-hr:14, ldap:engineering)" for a person a source yielded, or "".
fn from_sources<T>(e: &Expanded<T>) -> String {
    let from: Vec<String> = e.origins.iter().filter(|o| o.is_source()).map(ToString::to_string).collect();
    if from.is_empty() { String::new() } else { format!(" (from {})", from.join(", ")) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::desired::load_str;

    pub(crate) fn user(id: u64, email: &str, status: UserStatus) -> User {
        User { id: UserId(id), email: Email::new(email), first_name: format!("F{id}"), last_name: "L".into(), status }
    }

    fn users() -> Vec<User> {
        vec![
            user(1, "alice@example.com", UserStatus::Active),
            user(2, "bob@example.com", UserStatus::Invited),
            user(3, "carol@example.com", UserStatus::Disabled),
        ]
    }

    #[test]
    fn an_email_two_users_share_is_an_error_naming_both() {
        let mut us = users();
        us.push(user(7, "ALICE@example.com", UserStatus::Disabled));
        let s = load_str("g.yaml", "groups:\n  - name: A\n    members: [alice@example.com, 7]\n").unwrap();
        let e: Vec<String> = resolve(&s, &Directory::new(&us), |_| true).unwrap_err().0.iter().map(|d| d.to_string()).collect();
        assert_eq!(e.len(), 1, "{e:#?}");
        assert!(e[0].starts_with("g.yaml:3:15: member alice@example.com of \"A\" is the email of 2 users of this organization: user ids 1 (active), 7 (disabled)"), "{e:#?}");
        assert!(e[0].contains("list the member by user id instead"), "{e:#?}");
        // By id, each account is plain.
        let s = load_str("g.yaml", "groups:\n  - name: A\n    members: [1]\n").unwrap();
        assert!(resolve(&s, &Directory::new(&us), |_| true).is_ok());
    }

    #[test]
    fn users_without_an_email_are_found_by_id_only() {
        let mut us = users();
        us.push(user(8, "", UserStatus::Active));
        us.push(user(9, "", UserStatus::Active));
        let d = Directory::new(&us);
        assert!(d.all_by_email(&Email::new("")).is_empty());
        let s = load_str("g.yaml", "groups:\n  - name: A\n    members: [8, 9]\n").unwrap();
        assert!(resolve(&s, &d, |_| true).is_ok());
    }

    #[test]
    fn resolves_emails_and_ids() {
        let s = load_str("g.yaml", "groups:\n  - name: A\n    members: [ALICE@example.com, 2]\n    guests: [x@p.co]\n").unwrap();
        let r = resolve(&s, &Directory::new(&users()), |_| true).unwrap();
        assert_eq!(r[0].members.as_ref().unwrap().iter().copied().collect::<Vec<_>>(), vec![UserId(1), UserId(2)]);
        assert_eq!(r[0].guests.as_ref().unwrap().len(), 1);
    }

    #[test]
    fn lists_every_problem_with_locations() {
        let s = load_str(
            "g.yaml",
            "groups:\n  - name: A\n    members: [alice@exampel.com, nobody@x.co, 99, carol@example.com, 1, alice@example.com]\n    guests: [bob@example.com]\n",
        )
        .unwrap();
        let e: Vec<String> = resolve(&s, &Directory::new(&users()), |_| true).unwrap_err().0.iter().map(|d| d.to_string()).collect();
        let expect = [
            "g.yaml:3:15: member alice@exampel.com of \"A\" is not a user of this organization\n    hint: did you mean alice@example.com?",
            "g.yaml:3:34: member nobody@x.co of \"A\" is not a user of this organization\n    hint: invite them in Tallyfy first",
            "g.yaml:3:47: member user id 99 of \"A\" is not a user of this organization",
            "g.yaml:3:73: member alice@example.com (user id 1) is listed twice in \"A\" (first at g.yaml:3:70)",
            "g.yaml:4:14: guest bob@example.com of \"A\" is an org member (F2 L, user id 2)",
        ];
        assert_eq!(e.len(), expect.len(), "{e:#?}");
        for (got, want) in e.iter().zip(expect) {
            assert!(got.starts_with(want), "got {got:?}\nwant prefix {want:?}");
        }
    }

    #[test]
    fn disabled_members_are_left_out_with_a_warning_unless_strict() {
        let yaml = "groups:\n  - name: A\n    members: [alice@example.com, carol@example.com, bob@example.com]\n";
        let s = load_str("g.yaml", yaml).unwrap();
        let r = resolve_all(&s, &Directory::new(&users()), |_| true);
        assert!(r.errors.is_empty(), "{:?}", r.errors);
        assert_eq!(r.groups[0].members.as_ref().unwrap().iter().copied().collect::<Vec<_>>(), vec![UserId(1), UserId(2)]);
        assert_eq!(r.warnings.len(), 1);
        assert!(
            matches!(&r.warnings[0], Warning::DisabledMember { email, user: UserId(3), group, .. } if email.as_str() == "carol@example.com" && group == "A"),
            "{:?}",
            r.warnings
        );
        let w = crate::render::words::warning(&r.warnings[0]);
        assert!(w.starts_with("g.yaml:3:34: member carol@example.com (user id 3) of \"A\" is disabled in Tallyfy: left out"), "{w}");
        let strict = load_str("g.yaml", &format!("settings:\n  disabled_members: error\n{yaml}")).unwrap();
        let r = resolve_all(&strict, &Directory::new(&users()), |_| true);
        assert!(r.errors[0].to_string().contains("member carol@example.com (user id 3) of \"A\" is disabled"), "{:?}", r.errors);
        assert_eq!(r.failed.iter().collect::<Vec<_>>(), vec!["A"]);
    }

    #[test]
    fn a_status_this_version_does_not_know_is_refused() {
        let mut users = users();
        users.push(user(4, "robot@example.com", UserStatus::Other));
        let s =
            load_str("g.yaml", "groups:\n  - name: A\n    members: [robot@example.com]\n  - name: B\n    members: [alice@example.com]\n")
                .unwrap();
        let r = resolve_all(&s, &Directory::new(&users), |_| true);
        assert!(r.errors[0].to_string().contains("has a status this version does not know"), "{:?}", r.errors);
        assert_eq!(r.failed.iter().collect::<Vec<_>>(), vec!["A"]);
        assert_eq!(r.groups.len(), 1, "B still resolves");
    }

    #[test]
    fn out_of_scope_groups_are_not_resolved() {
        let s = load_str("g.yaml", "groups:\n  - name: A\n    members: [nobody@x.co]\n  - name: B\n").unwrap();
        let r = resolve(&s, &Directory::new(&users()), |g| g.name.value == "B").unwrap();
        assert_eq!(r.len(), 1);
    }

    /// The hint of each unknown member, in file order; each member is in a group of its own.
    fn unknown_hints(users: &[User], members: &[&str]) -> Vec<String> {
        let yaml: String = std::iter::once("groups:\n".to_string())
            .chain(members.iter().enumerate().map(|(i, m)| format!("  - name: G{i}\n    members: [{m}]\n")))
            .collect();
        let s = load_str("g.yaml", &yaml).unwrap();
        let diags = resolve(&s, &Directory::new(users), |_| true).unwrap_err();
        let mut located: Vec<(usize, String)> = diags
            .0
            .iter()
            .map(|d| {
                let text = d.to_string();
                let line = text.split(':').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
                (line, text.split("hint: ").nth(1).unwrap_or_default().to_string())
            })
            .collect();
        located.sort();
        assert_eq!(located.len(), members.len());
        located.into_iter().map(|(_, hint)| hint).collect()
    }

    const PLAIN: &str = "invite them in Tallyfy first";

    #[test]
    fn another_number_is_another_person_not_a_typo() {
        let users: Vec<User> = [1, 10, 100, 20].iter().map(|&i| user(i, &format!("user{i}@example.com"), UserStatus::Active)).collect();
        let hints = unknown_hints(&users, &["user0@example.com", "user2@example.com", "usr10@example.com"]);
        assert!(hints[0].starts_with(PLAIN), "{hints:?}");
        assert!(hints[1].starts_with(PLAIN), "{hints:?}");
        assert_eq!(hints[2], "did you mean user10@example.com?");
    }

    #[test]
    fn near_misses_in_the_local_part_or_the_domain_are_suggested() {
        let users = vec![
            user(1, "alice@example.com", UserStatus::Active),
            user(2, "john.smith@example.com", UserStatus::Active),
            user(3, "tim@example.com", UserStatus::Active),
            user(4, "john.smith@partner.example", UserStatus::Active),
        ];
        let hints = unknown_hints(
            &users,
            &[
                "alcie@example.com",
                "jon.smith@example.com",
                "john.smiths@example.com",
                "alice@example.co",
                "tom@example.com",
                "alice@elsewhere.org",
                "jhon.smtih@example.com",
            ],
        );
        let alice = "did you mean alice@example.com?";
        let john = "did you mean john.smith@example.com?";
        assert_eq!(hints[..4], [alice, john, john, alice]);
        // Too short to tell a typo from another name, another domain, two edits in the local part.
        for hint in &hints[4..] {
            assert!(hint.starts_with(PLAIN), "{hints:?}");
        }
    }

    #[test]
    fn each_unknown_is_searched_once_and_suggestions_stop_past_a_cap() {
        let users = vec![user(1, "alice@example.com", UserStatus::Active)];
        // One typo five times counts once against the cap; 49 more unknowns reach it.
        let mut members: Vec<String> = vec!["alicee@example.com".into(); 5];
        members.extend((0..MAX_SUGGESTION_SEARCHES - 1).map(|i| format!("nobody{i}@nowhere.example")));
        members.push("alicf@example.com".into());
        let refs: Vec<&str> = members.iter().map(String::as_str).collect();
        let hints = unknown_hints(&users, &refs);
        assert!(hints[..5].iter().all(|h| h == "did you mean alice@example.com?"), "{hints:?}");
        assert!(hints[5..].iter().all(|h| h.starts_with(PLAIN)), "past the cap: {:?}", hints.last());
    }

    #[test]
    fn one_edit_means_one_edit() {
        let yes = [("alice", "alcie"), ("alice", "alicee"), ("alice", "alce"), ("alice", "alide"), ("alice", "lice"), ("alice", "alice")];
        for (a, b) in yes {
            assert!(within_one_edit(a.as_bytes(), b.as_bytes()), "{a} {b}");
            assert!(within_one_edit(b.as_bytes(), a.as_bytes()), "{b} {a}");
        }
        let no = [("alice", "lacie"), ("alice", "al"), ("alice", "bob"), ("alice", "aliceee"), ("alice", "elica")];
        for (a, b) in no {
            assert!(!within_one_edit(a.as_bytes(), b.as_bytes()), "{a} {b}");
            assert!(!within_one_edit(b.as_bytes(), a.as_bytes()), "{b} {a}");
        }
    }
}
