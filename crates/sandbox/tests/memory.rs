//! The use cases against the in-memory sandbox, without HTTP: read live state, plan, apply, and
//! the plan after apply is empty.

use tallyfy_groups_api::apply::{self, ApplyOptions};
use tallyfy_groups_api::{TallyfyApi, read_live};
use tallyfy_groups_core::desired::load_str;
use tallyfy_groups_core::diff::DiffOptions;
use tallyfy_groups_core::model::GroupId;
use tallyfy_groups_core::pipeline::make_plan;
use tallyfy_groups_core::plan::{GroupState, Target};
use tallyfy_groups_sandbox::{MemoryApi, State};

const EXAMPLE: &str = include_str!("../../../groups.example.yaml");

fn target() -> Target {
    Target { api_url: "memory".into(), org: "sandbox".into() }
}

fn options() -> ApplyOptions {
    ApplyOptions { parallelism: 4, allow_removals: None, guest_invites_per_hour: 30, stop: Default::default() }
}

#[tokio::test]
async fn plan_apply_plan_converges_in_memory() {
    let api = MemoryApi::new(State::demo());
    let desired = load_str("groups.example.yaml", EXAMPLE).expect("the example loads");
    let live = read_live(&api, desired.names_guests()).await.expect("read");
    let plan = make_plan(&desired, &live, &DiffOptions::default(), target()).expect("plan");
    assert!(!plan.is_empty());
    let report = apply::apply(&plan, &api, &options(), None).await;
    assert!(report.all_applied(), "{report:?}");
    let live = read_live(&api, desired.names_guests()).await.expect("read again");
    let again = make_plan(&desired, &live, &DiffOptions::default(), target()).expect("plan again");
    assert!(again.is_empty(), "{:?}", again.actions);
}

#[tokio::test]
async fn the_in_memory_api_answers_like_the_server() {
    let api = MemoryApi::new(State::demo());
    // Validation and its 422 answer, with field errors.
    let bad = GroupState { name: "X".into(), description: String::new(), members: vec![], guests: vec![] };
    let err = api.create_group(&bad).await.unwrap_err();
    assert_eq!(err.status(), Some(422), "{err}");
    // 404 on a missing group; deleting it again is no error.
    let missing = GroupId("nope".into());
    assert_eq!(api.get_group(&missing).await.unwrap_err().status(), Some(404));
    api.delete_group(&missing).await.expect("already gone counts as done");
    // A created group reads back whole.
    let ops = GroupState { name: "Ops".into(), description: "d".into(), members: vec![], guests: vec![] };
    let created = api.create_group(&ops).await.expect("created");
    let read = api.get_group(&created.id).await.expect("read");
    assert!(read.is_fully_known() && read.name == "Ops");
    assert!(api.snapshot().groups.values().any(|g| g.name == "Ops"));
}
