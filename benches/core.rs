//! Micro-benchmarks of the pure core on the L scenario (10,000 groups of 25 members, 100,000
//! users, 2,000 guests; one group in ten changed): loader, resolver, differ and planner, and each
//! renderer; the loader alone on a 30 MB file (10,000 groups of 100 members); then the
//! stale-file case (50,000 users, about 1,300 members named in groups.yaml who are no longer
//! users) through the resolver's "did you mean". Run with `cargo bench --bench core`; prints the
//! median of several runs.

use std::time::{Duration, Instant};

use tallyfy_groups_core::desired::{Source, load};
use tallyfy_groups_core::diff::{DiffOptions, diff};
use tallyfy_groups_core::model::{Email, GroupId, Guest, LiveGroup, User, UserId, UserStatus};
use tallyfy_groups_core::plan::{self, GuardLimits, Target};
use tallyfy_groups_core::render::{json, markdown, text};
use tallyfy_groups_core::resolve::{Directory, resolve};

const GROUPS: usize = 10_000;
const USERS: usize = 100_000;
const GUESTS: usize = 2_000;

fn member(g: usize, k: usize) -> usize {
    (g * 7919 + k * 104_729) % USERS
}

fn scenario() -> (String, Vec<User>, Vec<LiveGroup>, Vec<Guest>) {
    let users: Vec<User> = (0..USERS)
        .map(|i| User {
            id: UserId(100_000 + i as u64),
            email: Email::new(&format!("user{i}@example.com")),
            first_name: "User".into(),
            last_name: i.to_string(),
            status: UserStatus::Active,
        })
        .collect();
    let guests: Vec<Guest> = (0..GUESTS)
        .map(|i| Guest { email: Email::new(&format!("guest{i}@partner.example")), first_name: "G".into(), last_name: i.to_string() })
        .collect();
    let mut yaml = String::from("settings:\n  max_removed_ratio: 1\ngroups:\n");
    let mut live = Vec::with_capacity(GROUPS);
    for g in 0..GROUPS {
        yaml.push_str(&format!("  - name: Group {g:05}\n    description: Seeded group {g}.\n    members:\n"));
        for k in 0..25 {
            yaml.push_str(&format!("      - user{}@example.com\n", member(g, k)));
        }
        if g % 5 == 0 {
            yaml.push_str(&format!("    guests: [guest{}@partner.example]\n", g % GUESTS));
        }
        // One group in ten differs live: a member more and a member less.
        let mut members: Vec<u64> = (0..25).map(|k| 100_000 + member(g, k) as u64).collect();
        if g % 10 == 0 {
            members[0] = 100_000 + ((g * 31) % USERS) as u64;
        }
        live.push(LiveGroup {
            id: GroupId(format!("{g:032x}")),
            name: format!("Group {g:05}"),
            description: format!("Seeded group {g}."),
            members: members.into_iter().map(UserId).collect(),
            guests: if g % 5 == 0 { [Email::new(&format!("guest{}@partner.example", g % GUESTS))].into() } else { Default::default() },
            unread: Vec::new(),
        });
    }
    (yaml, users, live, guests)
}

fn measure<T>(name: &str, runs: usize, mut f: impl FnMut() -> T) -> T {
    let mut times = Vec::with_capacity(runs);
    let mut out = None;
    for _ in 0..runs {
        let t = Instant::now();
        out = Some(std::hint::black_box(f()));
        times.push(t.elapsed());
    }
    times.sort();
    let median = times[runs / 2];
    println!("| {name} | {} | {} | {} |", ms(median), ms(times[0]), ms(times[runs - 1]));
    out.expect("at least one run")
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

fn main() {
    let (yaml, users, live, guests) = scenario();
    println!("L: {GROUPS} groups × 25 members, {USERS} users, {GUESTS} guests; groups.yaml is {:.1} MB\n", yaml.len() as f64 / 1e6);
    println!("| step | median | min | max |");
    println!("|---|---:|---:|---:|");
    let runs = 7;
    let source = Source { name: "groups.yaml".into(), bytes: yaml.into_bytes() };
    let desired = measure("load (parse + validate)", runs, || load(vec![source.clone()]).expect("valid"));
    let directory = measure("index the user directory", runs, || Directory::new(&users));
    let resolved = measure("resolve members", runs, || resolve(&desired, &directory, |_| true).expect("resolved"));
    let options = DiffOptions::default();
    let d = measure("diff", runs, || diff(&desired, &resolved, &live, Some(&guests), &options));
    let limits =
        GuardLimits { max_deleted_groups: 5, max_removed_ratio: 1.0, min_removed_for_ratio: 10, prune: false, desired_group_count: GROUPS };
    let target = Target { api_url: "https://go.tallyfy.com/api".into(), org: "bench".into() };
    let p = measure("plan (guard, fingerprints)", runs, || plan::build(d.clone(), &limits, &directory, target.clone()));
    measure("render text", runs, || text::render_plan(&p, false));
    measure("render markdown", runs, || markdown::render_plan(&p));
    measure("render json", runs, || json::render_plan(&p));
    println!("\n{} updates planned.", p.summary.update);
    large_file();
    stale();
}

/// The loader alone on a larger file: 10,000 groups of 100 members (about 30 MB).
fn large_file() {
    let mut yaml = String::from("groups:\n");
    for g in 0..GROUPS {
        yaml.push_str(&format!("  - name: Group {g:05}\n    description: Seeded group {g}.\n    members:\n"));
        for k in 0..100 {
            yaml.push_str(&format!("      - user{}@example.com\n", member(g, k)));
        }
    }
    let size = yaml.len() as f64 / 1e6;
    let source = Source { name: "groups.yaml".into(), bytes: yaml.into_bytes() };
    println!("\n| large file | median | min | max |\n|---|---:|---:|---:|");
    let desired = measure(&format!("load 10,000 groups × 100 members ({size:.1} MB)"), 7, || load(vec![source.clone()]).expect("valid"));
    println!("\n{} groups loaded.", desired.groups.len());
}

/// 1,000 groups of 25 members drawn from 52,750 people, of whom only the first 50,000 are users.
fn stale() {
    const STALE_USERS: usize = 50_000;
    const LEFT: usize = 2_750;
    let users: Vec<User> = (0..STALE_USERS)
        .map(|i| User {
            id: UserId(100_000 + i as u64),
            email: Email::new(&format!("user{i}@example.com")),
            first_name: "User".into(),
            last_name: i.to_string(),
            status: UserStatus::Active,
        })
        .collect();
    let mut yaml = String::from("groups:\n");
    for g in 0..1_000 {
        yaml.push_str(&format!("  - name: Group {g:05}\n    members:\n"));
        for k in 0..25 {
            yaml.push_str(&format!("      - user{}@example.com\n", (g * 7919 + k * 104_729) % (STALE_USERS + LEFT)));
        }
    }
    let desired = load(vec![Source { name: "groups.yaml".into(), bytes: yaml.into_bytes() }]).expect("valid");
    let directory = Directory::new(&users);
    println!("\n| stale file | median | min | max |\n|---|---:|---:|---:|");
    let diags =
        measure("resolve, listing every stale member with its hint", 7, || resolve(&desired, &directory, |_| true).expect_err("stale"));
    let hints = diags.0.iter().filter(|d| d.to_string().contains("did you mean")).count();
    println!("\n{} stale members among {STALE_USERS} users; {hints} with a \"did you mean\".", diags.0.len());
}
