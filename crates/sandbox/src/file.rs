//! The sandbox's state file: one organization's state (the original format, which any
//! organization served alone reads), or several keyed by organization id; which states a
//! sandbox serves from it and which it keeps. Pure; no I/O.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::state::{Seed, State};

/// What a state file holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StateFile {
    /// One organization's state, as every state file was before the sandbox served several:
    /// `{"users": ..., "guests": ..., "groups": ..., ...}`. It is not named, so it is the state
    /// of whichever organization is served first.
    Single(Box<State>),
    /// `{"organizations": {"<org>": <one organization's state>, ...}}`.
    Several(BTreeMap<String, State>),
}

/// The file of several organizations.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Several<S> {
    organizations: S,
}

impl StateFile {
    /// Reads a state file's bytes: an object with `organizations` holds several, any other one
    /// organization's state.
    pub fn parse(bytes: &[u8]) -> Result<StateFile, serde_json::Error> {
        let value: Value = serde_json::from_slice(bytes)?;
        if value.get("organizations").is_some() {
            let file: Several<BTreeMap<String, State>> = serde_json::from_value(value)?;
            Ok(StateFile::Several(file.organizations))
        } else {
            serde_json::from_value(value).map(|s| StateFile::Single(Box::new(s)))
        }
    }
}

/// A state file's bytes for these organizations: one is written in the original format (byte
/// for byte as before), several as `{"organizations": {...}}` in the order of their ids.
pub fn encode(orgs: &BTreeMap<&str, &State>) -> Result<Vec<u8>, serde_json::Error> {
    match orgs.values().next() {
        Some(state) if orgs.len() == 1 => serde_json::to_vec(state),
        _ => serde_json::to_vec(&Several { organizations: orgs }),
    }
}

/// The states a sandbox starts with.
#[derive(Debug, Default)]
pub struct Organizations {
    /// The organizations served, each with its state, in the order asked for.
    pub served: Vec<(String, State)>,
    /// Organizations in the file that are not served: written back as they were read.
    pub kept: BTreeMap<String, State>,
    /// The organizations served that the file did not hold (all of them without a file).
    pub seeded: Vec<String>,
}

impl Organizations {
    /// Sorts the states of `file` (if there is one) into the organizations of `orgs` (distinct)
    /// and the others; an organization the file lacks starts from `seed`. A file of one
    /// unnamed state gives it to the first organization of `orgs`.
    pub fn arrange(file: Option<StateFile>, orgs: &[String], seed: Seed) -> Organizations {
        let mut found = match file {
            None => BTreeMap::new(),
            Some(StateFile::Several(states)) => states,
            Some(StateFile::Single(state)) => orgs.first().map(|first| (first.clone(), *state)).into_iter().collect(),
        };
        let mut arranged = Organizations::default();
        for org in orgs {
            if arranged.served.iter().any(|(o, _)| o == org) {
                continue;
            }
            let mut state = found.remove(org).unwrap_or_else(|| {
                arranged.seeded.push(org.clone());
                seed.state(org)
            });
            state.assign_org(org);
            arranged.served.push((org.clone(), state));
        }
        arranged.kept = found;
        arranged
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn orgs(names: &[&str]) -> Vec<String> {
        names.iter().map(|o| o.to_string()).collect()
    }

    fn served(o: &Organizations) -> Vec<&str> {
        o.served.iter().map(|(org, _)| org.as_str()).collect()
    }

    #[test]
    fn one_state_is_written_in_the_original_format_and_several_by_organization() {
        let demo = State::demo();
        let one = encode(&[("a", &demo)].into_iter().collect()).unwrap();
        assert_eq!(one, serde_json::to_vec(&demo).unwrap());
        assert_eq!(StateFile::parse(&one).unwrap(), StateFile::Single(Box::new(demo.clone())));
        let other = Seed::Generated { users: 2, groups: 1, guests: 0, templates: 0 }.state("b");
        let two = encode(&[("b", &other), ("a", &demo)].into_iter().collect()).unwrap();
        let text = String::from_utf8(two.clone()).unwrap();
        assert!(text.starts_with(r#"{"organizations":{"a":{"users":"#), "{text}");
        let StateFile::Several(back) = StateFile::parse(&two).unwrap() else { panic!("several") };
        assert_eq!((back["a"].groups.clone(), back["b"].groups.clone()), (demo.groups, other.groups));
    }

    #[test]
    fn unreadable_files_are_errors() {
        for text in ["{broken", "[]", r#"{"organizations": {"a": {"users": []}}}"#, r#"{"organizations": {}, "users": []}"#, "{}"] {
            assert!(StateFile::parse(text.as_bytes()).is_err(), "{text}");
        }
        // An empty file of several is no error: every organization asked for is seeded.
        assert_eq!(StateFile::parse(br#"{"organizations": {}}"#).unwrap(), StateFile::Several(BTreeMap::new()));
    }

    #[test]
    fn the_file_is_sorted_into_served_seeded_and_kept() {
        let none = Organizations::arrange(None, &orgs(&["b", "a", "b"]), Seed::Demo);
        assert_eq!((served(&none), none.seeded.clone()), (vec!["b", "a"], orgs(&["b", "a"])));
        assert!(none.kept.is_empty());

        let single = Organizations::arrange(Some(StateFile::Single(Box::new(State::seeded(1, 1, 0)))), &orgs(&["x", "y"]), Seed::Demo);
        assert_eq!((served(&single), single.seeded.clone()), (vec!["x", "y"], orgs(&["y"])));
        assert_eq!((single.served[0].1.users.len(), single.served[1].1.users.len()), (1, 10));

        let file = StateFile::Several([("a".to_string(), State::seeded(1, 0, 0)), ("c".to_string(), State::seeded(2, 0, 0))].into());
        let several =
            Organizations::arrange(Some(file), &orgs(&["a", "b"]), Seed::Generated { users: 3, groups: 0, guests: 0, templates: 0 });
        assert_eq!((served(&several), several.seeded.clone()), (vec!["a", "b"], orgs(&["b"])));
        assert_eq!((several.served[0].1.users.len(), several.served[1].1.users.len()), (1, 3));
        assert_eq!(several.kept.keys().collect::<Vec<_>>(), ["c"]);
    }
}
