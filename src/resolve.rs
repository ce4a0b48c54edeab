//! Identity resolution: member emails and ids of the desired state become user ids of the live
//! user directory. Unknown emails, unknown ids, disabled users and guests who are members all
//! fail here, listed at once with their YAML location. Pure; no I/O.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::desired::{DesiredGroup, DesiredState, Diagnostic, Diagnostics, MemberRef};
use crate::model::{Email, User, UserId, UserStatus};

/// A desired group with its members resolved to user ids.
#[derive(Debug, Clone, PartialEq)]
pub struct ResolvedGroup<'a> {
    pub desired: &'a DesiredGroup,
    /// `None`: members not managed.
    pub members: Option<BTreeSet<UserId>>,
    /// `None`: guests not managed.
    pub guests: Option<BTreeSet<Email>>,
}

/// The user directory, indexed for lookups (borrowing the users it indexes).
#[derive(Debug, Clone, Default)]
pub struct Directory<'a> {
    by_id: HashMap<UserId, &'a User>,
    by_email: HashMap<&'a Email, &'a User>,
}

impl<'a> Directory<'a> {
    pub fn new(users: &'a [User]) -> Self {
        Directory { by_id: users.iter().map(|u| (u.id, u)).collect(), by_email: users.iter().map(|u| (&u.email, u)).collect() }
    }

    pub fn get(&self, id: UserId) -> Option<&'a User> {
        self.by_id.get(&id).copied()
    }

    pub fn by_email(&self, email: &Email) -> Option<&'a User> {
        self.by_email.get(email).copied()
    }

    /// The closest known email within two edits (ties broken alphabetically).
    fn closest_email(&self, email: &Email) -> Option<&'a Email> {
        self.by_email.keys().map(|e| (strsim::levenshtein(e.as_str(), email.as_str()), *e)).filter(|(d, _)| *d <= 2).min().map(|(_, e)| e)
    }
}

/// Resolves the groups accepted by `in_scope` (absent groups need no resolution).
pub fn resolve<'a>(
    desired: &'a DesiredState,
    directory: &Directory<'_>,
    in_scope: impl Fn(&DesiredGroup) -> bool,
) -> Result<Vec<ResolvedGroup<'a>>, Diagnostics> {
    let mut diags = Vec::new();
    let mut out = Vec::new();
    for g in desired.groups.iter().filter(|g| in_scope(g)) {
        if g.absent {
            out.push(ResolvedGroup { desired: g, members: None, guests: None });
            continue;
        }
        let members = g.members.as_ref().map(|list| {
            let mut ids = BTreeMap::new();
            for m in list {
                let user = match &m.value {
                    MemberRef::Email(e) => match directory.by_email(e) {
                        Some(u) => u,
                        None => {
                            let mut d =
                                Diagnostic::at(&m.at, format!("member {e} of \"{}\" is not a user of this organization", g.name.value));
                            d = match directory.closest_email(e) {
                                Some(close) => d.with_hint(format!("did you mean {close}?")),
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
                if user.status == UserStatus::Disabled {
                    diags.push(
                        Diagnostic::at(&m.at, format!("member {} (user id {}) of \"{}\" is disabled", user.email, user.id, g.name.value))
                            .with_hint("remove them from the group, or re-enable the user in Tallyfy"),
                    );
                    continue;
                }
                if let Some(first) = ids.insert(user.id, m.at.clone()) {
                    diags.push(Diagnostic::at(
                        &m.at,
                        format!("member {} (user id {}) is listed twice in \"{}\" (first at {first})", user.email, user.id, g.name.value),
                    ));
                }
            }
            ids.into_keys().collect::<BTreeSet<_>>()
        });
        let guests = g.guests.as_ref().map(|list| {
            let mut set = BTreeSet::new();
            for guest in list {
                if let Some(u) = directory.by_email(&guest.value) {
                    diags.push(
                        Diagnostic::at(
                            &guest.at,
                            format!(
                                "guest {} of \"{}\" is an org member ({}, user id {})",
                                guest.value,
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
        out.push(ResolvedGroup { desired: g, members, guests });
    }
    if diags.is_empty() {
        Ok(out)
    } else {
        diags.sort();
        Err(Diagnostics(diags))
    }
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
            "g.yaml:3:51: member carol@example.com (user id 3) of \"A\" is disabled",
            "g.yaml:3:73: member alice@example.com (user id 1) is listed twice in \"A\" (first at g.yaml:3:70)",
            "g.yaml:4:14: guest bob@example.com of \"A\" is an org member (F2 L, user id 2)",
        ];
        assert_eq!(e.len(), expect.len(), "{e:#?}");
        for (got, want) in e.iter().zip(expect) {
            assert!(got.starts_with(want), "got {got:?}\nwant prefix {want:?}");
        }
    }

    #[test]
    fn out_of_scope_groups_are_not_resolved() {
        let s = load_str("g.yaml", "groups:\n  - name: A\n    members: [nobody@x.co]\n  - name: B\n").unwrap();
        let r = resolve(&s, &Directory::new(&users()), |g| g.name.value == "B").unwrap();
        assert_eq!(r.len(), 1);
    }
}
