//! Property tests of the reconciler's invariants, against an in-process sandbox over real HTTP:
//! for random desired and live states and random injected failures (5xx, dropped connections,
//! writes that take effect but answer an error), a rerun without faults converges in one pass,
//! a fresh plan is then empty, live equals desired, no group is ever duplicated, and no member
//! that the desired state keeps is ever removed.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use proptest::prelude::*;
use serde_json::json;
use tallyfy_groups_api::apply::{self, ApplyOptions};
use tallyfy_groups_api::{Client, ClientConfig, RetryPolicy, Secret};
use tallyfy_groups_core::desired::load_str;
use tallyfy_groups_core::diff::DiffOptions;
use tallyfy_groups_core::plan::Target;
use tallyfy_groups_sandbox::state::{GroupInput, State};
use tallyfy_groups_sandbox::{Config, Sandbox};

const NAMES: [&str; 8] = ["Alpha", "Beta", "Gamma", "Delta", "Epsilon", "Zeta", "Eta", "Theta"];
const GUESTS: [&str; 4] = ["g0@partner.example", "g1@partner.example", "g2@partner.example", "g3@partner.example"];

#[derive(Debug, Clone)]
struct LiveSpec {
    name: usize,
    members: BTreeSet<u64>,
    guests: BTreeSet<usize>,
}

#[derive(Debug, Clone)]
enum DesiredSpec {
    Present { name: usize, previously: Option<usize>, members: Option<BTreeSet<u64>>, guests: Option<BTreeSet<usize>> },
    Absent { name: usize },
}

/// Demo users; 1008 is disabled, so only live groups may hold it.
fn live_members() -> impl Strategy<Value = BTreeSet<u64>> {
    prop::collection::btree_set(1001u64..=1010, 0..6)
}

fn members() -> impl Strategy<Value = BTreeSet<u64>> {
    prop::collection::btree_set(prop::sample::select(vec![1001u64, 1002, 1003, 1004, 1005, 1006, 1007, 1009, 1010]), 0..6)
}

fn guests() -> impl Strategy<Value = BTreeSet<usize>> {
    prop::collection::btree_set(0usize..GUESTS.len(), 0..3)
}

fn live_specs() -> impl Strategy<Value = Vec<LiveSpec>> {
    prop::collection::btree_map(0usize..NAMES.len(), (live_members(), guests()), 0..6)
        .prop_map(|m| m.into_iter().map(|(name, (members, guests))| LiveSpec { name, members, guests }).collect())
}

fn desired_specs() -> impl Strategy<Value = Vec<DesiredSpec>> {
    let one =
        (any::<u8>(), prop::option::of(0usize..NAMES.len()), prop::option::weighted(0.8, members()), prop::option::weighted(0.6, guests()));
    prop::collection::btree_map(0usize..NAMES.len(), one, 0..6).prop_map(|m| {
        let names: BTreeSet<usize> = m.keys().copied().collect();
        let mut claimed_old = BTreeSet::new();
        m.into_iter()
            .map(|(name, (kind, previously, members, guests))| {
                if kind % 5 == 0 {
                    DesiredSpec::Absent { name }
                } else {
                    // An old name must not be current, nor claimed twice.
                    let previously = previously.filter(|p| !names.contains(p) && claimed_old.insert(*p));
                    DesiredSpec::Present { name, previously, members, guests }
                }
            })
            .collect()
    })
}

fn yaml(specs: &[DesiredSpec], prune: bool) -> String {
    let mut y = format!("settings:\n  prune: {prune}\n  max_deleted_groups: 100\n  max_removed_ratio: 1\n");
    y.push_str(if specs.is_empty() { "groups: []\n" } else { "groups:\n" });
    for s in specs {
        match s {
            DesiredSpec::Absent { name } => y.push_str(&format!("  - name: {}\n    absent: true\n", NAMES[*name])),
            DesiredSpec::Present { name, previously, members, guests } => {
                y.push_str(&format!("  - name: {}\n", NAMES[*name]));
                if let Some(p) = previously {
                    y.push_str(&format!("    previously: [{}]\n", NAMES[*p]));
                }
                if let Some(m) = members {
                    let list: Vec<String> = m.iter().map(u64::to_string).collect();
                    y.push_str(&format!("    members: [{}]\n", list.join(", ")));
                }
                if let Some(g) = guests {
                    let list: Vec<&str> = g.iter().map(|i| GUESTS[*i]).collect();
                    y.push_str(&format!("    guests: [{}]\n", list.join(", ")));
                }
            }
        }
    }
    y
}

fn initial_state(live: &[LiveSpec]) -> State {
    // The demo users; the groups come from the generated live specs. Guests g0 and g1 exist;
    // g2 and g3 must be invited by apply.
    let mut state = State::demo();
    state.groups.clear();
    state.order.clear();
    state.guests = GUESTS[..2]
        .iter()
        .map(|g| tallyfy_groups_sandbox::state::SGuest { email: (*g).into(), first_name: "G".into(), last_name: "X".into() })
        .collect();
    for l in live {
        let guests: Vec<&str> = l.guests.iter().map(|i| GUESTS[*i]).filter(|g| state.guests.iter().any(|x| x.email == *g)).collect();
        let input = GroupInput {
            name: Some(json!(NAMES[l.name])),
            description: Some(json!("live")),
            members: Some(json!(l.members)),
            guests: Some(json!(guests)),
        };
        state.create_group(&input).expect("valid live group");
    }
    state
}

fn client(url: &str) -> Client {
    let mut config = ClientConfig::new(url, "sandbox", Secret::new("sandbox-token"));
    config.max_rps = 0.0;
    config.timeout = Duration::from_secs(5);
    config.retry = RetryPolicy {
        max_attempts: 3,
        base_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(4),
        max_total: Duration::from_secs(5),
    };
    Client::new(config).expect("client")
}

async fn plan_once(client: &Client, text: &str) -> Result<tallyfy_groups_core::plan::Plan, String> {
    let desired = load_str("g.yaml", text).map_err(|e| e.to_string())?;
    let live = tallyfy_groups_api::read_live(client, desired.names_guests()).await.map_err(|e| e.to_string())?;
    tallyfy_groups_core::pipeline::make_plan(
        &desired,
        &live,
        &DiffOptions::default(),
        Target { api_url: "sandbox".into(), org: "sandbox".into() },
    )
    .map_err(|e| e.to_string())
}

fn names_by_key(state: &State) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for g in state.groups.values() {
        *m.entry(g.name.to_lowercase()).or_default() += 1;
    }
    m
}

fn check(live: Vec<LiveSpec>, desired: Vec<DesiredSpec>, prune: bool, fault_rate: f64, seed: u64) -> Result<(), TestCaseError> {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    rt.block_on(async move {
        let text = yaml(&desired, prune);
        let sandbox = Sandbox::new(initial_state(&live), Config { fault_rate, fault_seed: seed, ..Config::default() });
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await.expect("bind");
        let url = format!("http://{}/api", listener.local_addr().expect("addr"));
        let server = sandbox.spawn(listener);
        let client = client(&url);
        let before = sandbox.snapshot();
        let options = ApplyOptions { parallelism: 3, allow_removals: None, guest_invites_per_hour: 1000, stop: Default::default() };

        // A faulty run: planning may fail outright; applying may fail part-way.
        if let Ok(plan) = plan_once(&client, &text).await {
            let _report = apply::apply(&plan, &client, &options, None).await;
        }
        let mid = sandbox.snapshot();
        prop_assert!(names_by_key(&mid).values().all(|&n| n == 1), "duplicate group after faults: {:?}", names_by_key(&mid));
        // Members the desired state keeps are never removed, whatever failed.
        for spec in &desired {
            if let DesiredSpec::Present { name, members: Some(keep), .. } = spec {
                let was = before.groups.values().find(|g| g.name == NAMES[*name]);
                let now = mid.groups.values().find(|g| g.name == NAMES[*name]);
                if let (Some(was), Some(now)) = (was, now) {
                    for m in keep.iter().filter(|m| was.members.contains(m)) {
                        prop_assert!(now.members.contains(m), "member {m} of {} was removed", NAMES[*name]);
                    }
                }
            }
        }

        // The rerun without faults converges in one pass.
        sandbox.set_fault_rate(0.0);
        let plan = plan_once(&client, &text).await.map_err(TestCaseError::fail)?;
        let report = apply::apply(&plan, &client, &options, None).await;
        prop_assert!(report.all_applied(), "rerun failed: {report:?}");
        let fresh = plan_once(&client, &text).await.map_err(TestCaseError::fail)?;
        prop_assert!(fresh.is_empty(), "plan after apply is not empty: {:?}", fresh.actions);

        // Live equals desired.
        let end = sandbox.snapshot();
        prop_assert!(names_by_key(&end).values().all(|&n| n == 1), "duplicate group: {:?}", names_by_key(&end));
        for spec in &desired {
            match spec {
                DesiredSpec::Absent { name } => prop_assert!(!end.groups.values().any(|g| g.name.eq_ignore_ascii_case(NAMES[*name]))),
                DesiredSpec::Present { name, members, guests, .. } => {
                    let g = end.groups.values().find(|g| g.name == NAMES[*name]);
                    prop_assert!(g.is_some(), "{} missing", NAMES[*name]);
                    let g = g.expect("checked");
                    if let Some(m) = members {
                        prop_assert_eq!(&g.members.iter().copied().collect::<BTreeSet<_>>(), m);
                    }
                    if let Some(gs) = guests {
                        let want: BTreeSet<&str> = gs.iter().map(|i| GUESTS[*i]).collect();
                        prop_assert_eq!(g.guests.iter().map(String::as_str).collect::<BTreeSet<_>>(), want);
                    }
                }
            }
        }
        if prune {
            let wanted: BTreeSet<&str> = desired
                .iter()
                .filter_map(|s| match s {
                    DesiredSpec::Present { name, .. } => Some(NAMES[*name]),
                    DesiredSpec::Absent { .. } => None,
                })
                .collect();
            // A group named in `previously` is never pruned: when the new name already exists, the
            // old group stays (with a warning) until it is listed with `absent: true`.
            let old_names: BTreeSet<&str> = desired
                .iter()
                .filter_map(|s| match s {
                    DesiredSpec::Present { previously: Some(p), .. } => Some(NAMES[*p]),
                    _ => None,
                })
                .collect();
            let names: BTreeSet<&str> = end.groups.values().map(|g| g.name.as_str()).filter(|n| !old_names.contains(n)).collect();
            prop_assert_eq!(names, wanted);
        }
        server.abort();
        Ok(())
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn apply_converges_after_any_failure_pattern(
        live in live_specs(),
        desired in desired_specs(),
        prune in any::<bool>(),
        fault_rate in prop::sample::select(vec![0.0, 0.3, 0.6]),
        seed in any::<u64>(),
    ) {
        check(live, desired, prune, fault_rate, seed)?;
    }
}
