//! The people of an identity-provider read, put together one by one: addresses normalised and
//! checked, each person once, a person without the address failing the read (or, with
//! `missing: skip`, left out with a warning), and the people left out (inactive, suspended)
//! named in warnings, the first few by name and the rest counted, so that a directory of
//! thousands of leavers does not drown the plan.

use std::collections::HashSet;

use tallyfy_groups_core::model::Email;
use tallyfy_groups_core::source::{Missing, Person, SourceRead};

/// Warnings named one by one; the rest are counted in one more.
const NAMED: usize = 10;

pub(crate) struct People {
    missing: Missing,
    /// The address attribute, for messages (`profile.email`, `mail`).
    attribute: &'static str,
    /// Said when a person lacks the attribute and that fails the read.
    hint: &'static str,
    people: Vec<Person>,
    seen: HashSet<Email>,
    left_out: Vec<String>,
    skipped: Vec<String>,
}

impl People {
    pub(crate) fn new(missing: Missing, attribute: &'static str, hint: &'static str) -> Self {
        People { missing, attribute, hint, people: Vec::new(), seen: HashSet::new(), left_out: Vec::new(), skipped: Vec::new() }
    }

    /// One person, by their address (`None` or blank: they have none); `who` names them.
    pub(crate) fn add(&mut self, address: Option<&str>, who: impl Fn() -> String) -> Result<(), String> {
        let address = address.map(str::trim).filter(|a| !a.is_empty());
        let Some(address) = address else {
            return match self.missing {
                Missing::Error => Err(format!(
                    "{} has no {}, so the read is not used{}; `missing: skip` leaves such people out with a warning",
                    who(),
                    self.attribute,
                    self.hint
                )),
                Missing::Skip => {
                    self.skipped.push(format!("{} has no {}: skipped", who(), self.attribute));
                    Ok(())
                }
            };
        };
        match Email::parse(address) {
            Ok(email) => {
                if self.seen.insert(email.clone()) {
                    self.people.push(Person { email, line: None });
                }
                Ok(())
            }
            Err(why) => {
                Err(format!("the {} of {}, `{address}`, is not an email address ({why}), so the read is not used", self.attribute, who()))
            }
        }
    }

    /// Someone the read leaves out on purpose (inactive, suspended), with why.
    pub(crate) fn leave_out(&mut self, why: String) {
        self.left_out.push(why);
    }

    /// What was read, with the warnings: those left out and those skipped, the first few named;
    /// every warning with `client`'s secrets scrubbed (the names came from its server).
    pub(crate) fn finish_from(self, client: &crate::http::Http) -> SourceRead {
        let mut read = self.finish();
        read.warnings = read.warnings.iter().map(|w| client.scrub(w)).collect();
        read
    }

    /// What was read, with the warnings: those left out and those skipped, the first few named.
    pub(crate) fn finish(self) -> SourceRead {
        let mut warnings = Vec::new();
        for (list, what) in [(self.left_out, "left out"), (self.skipped, "skipped")] {
            let more = list.len().saturating_sub(NAMED);
            warnings.extend(list.into_iter().take(NAMED));
            if more > 0 {
                warnings.push(format!("and {more} more {what}"));
            }
        }
        SourceRead { people: self.people, warnings }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn people_are_normalised_once_and_the_missing_fail_or_are_skipped() {
        let mut p = People::new(Missing::Error, "mail", " (hint)");
        p.add(Some(" Ada@Example.com "), || "user 1".into()).unwrap();
        p.add(Some("ada@example.com"), || "user 2".into()).unwrap();
        let err = p.add(None, || "user 3".into()).unwrap_err();
        assert_eq!(err, "user 3 has no mail, so the read is not used (hint); `missing: skip` leaves such people out with a warning");
        let err = p.add(Some("Ada Lovelace"), || "user 4".into()).unwrap_err();
        assert!(err.starts_with("the mail of user 4, `Ada Lovelace`, is not an email address"), "{err}");

        let mut p = People::new(Missing::Skip, "mail", "");
        p.add(Some(""), || "user 5".into()).unwrap();
        for i in 0..12 {
            p.leave_out(format!("user {i} is suspended: left out"));
        }
        let read = p.finish();
        assert!(read.people.is_empty());
        assert_eq!(read.warnings.len(), 12);
        assert_eq!(read.warnings[10], "and 2 more left out");
        assert_eq!(read.warnings[11], "user 5 has no mail: skipped");
    }
}
