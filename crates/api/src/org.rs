//! One organization as the use cases see it: the [`TallyfyApi`] they call (the HTTP [`Client`],
//! or an in-memory sandbox in tests), the [`OrgContext`] that pairs it with the target a plan
//! records, and [`read_live`], the read every plan starts from. Does network I/O through the API.

use std::future::Future;

use tallyfy_groups_core::model::{Email, GroupId, Guest, LiveGroup, LiveState, User};
use tallyfy_groups_core::plan::{GroupState, Target};
use tallyfy_groups_core::usage::{Counts, UsageRead};
use tracing::info;

use crate::wire::{GroupPayload, GuestPayload};
use crate::{ApiError, Client, Counted, FreshWrite, TemplateList};

/// What the use cases need from Tallyfy, in domain types. Implemented by [`Client`] over HTTP
/// and by the sandbox crate in memory.
pub trait TallyfyApi: Clone + Send + Sync + 'static {
    /// Every group, each either read whole or marked as not fully known.
    fn list_groups(&self) -> impl Future<Output = Result<Vec<LiveGroup>, ApiError>> + Send;
    /// Every member of the organization.
    fn list_users(&self) -> impl Future<Output = Result<Vec<User>, ApiError>> + Send;
    /// Every guest of the organization.
    fn list_guests(&self) -> impl Future<Output = Result<Vec<Guest>, ApiError>> + Send;
    /// One group, read alone.
    fn get_group(&self, id: &GroupId) -> impl Future<Output = Result<LiveGroup, ApiError>> + Send;
    /// Creates a group (never twice, whatever fails on the way).
    fn create_group(&self, group: &GroupState) -> impl Future<Output = Result<LiveGroup, ApiError>> + Send;
    /// Replaces a group's name, description, members and guests.
    fn update_group(&self, id: &GroupId, group: &GroupState) -> impl Future<Output = Result<LiveGroup, ApiError>> + Send;
    /// Reads group `id` and replaces it at once with what `body_of` makes of it (`None`: no
    /// write). Over HTTP the read and the write go back to back, with no wait for the rate
    /// limit between them; this default, for in-memory APIs, reads then writes.
    fn update_group_fresh<F>(&self, id: &GroupId, body_of: F) -> impl Future<Output = Result<FreshWrite, ApiError>> + Send
    where
        F: Fn(&LiveGroup) -> Option<GroupState> + Send + Sync,
    {
        async move {
            let fresh = self.get_group(id).await?;
            match body_of(&fresh) {
                Some(state) => self.update_group(id, &state).await.map(FreshWrite::Written),
                None => Ok(FreshWrite::Declined(fresh)),
            }
        }
    }
    /// Deletes a group (already gone counts as done).
    fn delete_group(&self, id: &GroupId) -> impl Future<Output = Result<(), ApiError>> + Send;
    /// Invites a guest.
    fn create_guest(&self, email: &Email, first_name: &str, last_name: &str) -> impl Future<Output = Result<(), ApiError>> + Send;
    /// Every template (`archived`: the archived ones only), each with its steps.
    fn list_templates(&self, archived: bool) -> impl Future<Output = Result<TemplateList, ApiError>> + Send;
    /// Active processes or open tasks of one group, as the API counts them.
    fn count(&self, what: Counted, group: &GroupId) -> impl Future<Output = Result<u64, ApiError>> + Send;
    /// Requests it sends at once (`--parallelism`): reads that fan out keep no more waiting.
    fn parallelism(&self) -> usize {
        1
    }
    /// `Some(failures)` once the API is taken to have stopped answering.
    fn stopped_answering(&self) -> Option<u32> {
        None
    }
    /// Resolves once the API is taken to have stopped answering (never, by default).
    fn wait_stopped_answering(&self) -> impl Future<Output = ()> + Send {
        std::future::pending()
    }
}

fn payload(s: &GroupState) -> GroupPayload {
    GroupPayload { name: s.name.clone(), description: s.description.clone(), members: s.members.clone(), guests: s.guests.clone() }
}

impl TallyfyApi for Client {
    async fn list_groups(&self) -> Result<Vec<LiveGroup>, ApiError> {
        Client::list_groups(self).await
    }

    async fn list_users(&self) -> Result<Vec<User>, ApiError> {
        Client::list_users(self).await
    }

    async fn list_guests(&self) -> Result<Vec<Guest>, ApiError> {
        Client::list_guests(self).await
    }

    async fn get_group(&self, id: &GroupId) -> Result<LiveGroup, ApiError> {
        Client::get_group(self, id).await
    }

    async fn create_group(&self, group: &GroupState) -> Result<LiveGroup, ApiError> {
        Client::create_group(self, &payload(group)).await
    }

    async fn update_group(&self, id: &GroupId, group: &GroupState) -> Result<LiveGroup, ApiError> {
        Client::update_group(self, id, &payload(group)).await
    }

    async fn update_group_fresh<F>(&self, id: &GroupId, body_of: F) -> Result<FreshWrite, ApiError>
    where
        F: Fn(&LiveGroup) -> Option<GroupState> + Send + Sync,
    {
        Client::update_group_fresh(self, id, |g| body_of(g).as_ref().map(payload)).await
    }

    async fn delete_group(&self, id: &GroupId) -> Result<(), ApiError> {
        Client::delete_group(self, id).await
    }

    async fn create_guest(&self, email: &Email, first_name: &str, last_name: &str) -> Result<(), ApiError> {
        let body = GuestPayload { email: email.clone(), first_name: first_name.to_string(), last_name: last_name.to_string() };
        Client::create_guest(self, &body).await
    }

    async fn list_templates(&self, archived: bool) -> Result<TemplateList, ApiError> {
        Client::list_templates(self, archived).await
    }

    async fn count(&self, what: Counted, group: &GroupId) -> Result<u64, ApiError> {
        Client::count(self, what, group).await
    }

    fn parallelism(&self) -> usize {
        Client::parallelism(self)
    }

    fn stopped_answering(&self) -> Option<u32> {
        Client::stopped_answering(self)
    }

    async fn wait_stopped_answering(&self) {
        Client::wait_stopped_answering(self).await
    }
}

/// One organization: the API to call and the target a plan made against it records.
#[derive(Debug, Clone)]
pub struct OrgContext<A> {
    /// The API URL and organization a plan records.
    pub target: Target,
    /// The API of that organization.
    pub api: A,
}

/// Reads the live groups, users and (when `need_guests`) guests; the lists are read concurrently.
pub async fn read_live<A: TallyfyApi>(api: &A, need_guests: bool) -> Result<LiveState, ApiError> {
    let guests = async { if need_guests { api.list_guests().await.map(Some) } else { Ok(None) } };
    let (groups, users, guests) = tokio::try_join!(api.list_groups(), api.list_users(), guests)?;
    info!(groups = groups.len(), users = users.len(), guests = guests.as_ref().map(Vec::len), "read live state");
    Ok(LiveState { groups, users, guests })
}

/// One read of [`read_usage`].
enum UsageJob {
    Templates(bool),
    Count(Counted, GroupId),
}

/// What one read of [`read_usage`] found.
enum UsageFound {
    Templates(TemplateList),
    Count(Counted, GroupId, u64),
}

/// Reads where `groups` are used: every template and archived template (with their steps), and
/// each group's active processes and open tasks; at most [`TallyfyApi::parallelism`] reads
/// waiting at once, so that `--parallelism 1` is one request at a time. Any failed read fails
/// it all: a usage that was not read whole is never taken for "not used".
pub async fn read_usage<A: TallyfyApi>(api: &A, groups: &[GroupId]) -> Result<UsageRead, ApiError> {
    let mut jobs = vec![UsageJob::Templates(false), UsageJob::Templates(true)];
    for g in groups {
        jobs.push(UsageJob::Count(Counted::ActiveProcesses, g.clone()));
        jobs.push(UsageJob::Count(Counted::OpenTasks, g.clone()));
    }
    let at_once = api.parallelism().max(1);
    let mut jobs = jobs.into_iter();
    let mut set = tokio::task::JoinSet::new();
    let mut read = UsageRead::default();
    loop {
        while set.len() < at_once {
            let Some(job) = jobs.next() else { break };
            let api = api.clone();
            set.spawn(async move {
                match job {
                    UsageJob::Templates(archived) => api.list_templates(archived).await.map(UsageFound::Templates),
                    UsageJob::Count(what, g) => api.count(what, &g).await.map(|n| UsageFound::Count(what, g, n)),
                }
            });
        }
        let Some(joined) = set.join_next().await else { break };
        let found = joined.map_err(|e| ApiError::Transport {
            method: "GET".into(),
            path: "(reading where groups are used)".into(),
            detail: format!("read task failed: {e}"),
            timeout: false,
            connect: false,
            cause: crate::TransportCause::Other,
        })??;
        match found {
            UsageFound::Templates(list) => {
                read.reads += list.reads();
                read.templates.extend(list.templates);
            }
            UsageFound::Count(what, g, n) => {
                read.reads += 1;
                let counts = read.counts.entry(g).or_insert_with(Counts::default);
                match what {
                    Counted::ActiveProcesses => counts.active_processes = n,
                    Counted::OpenTasks => counts.open_tasks = n,
                }
            }
        }
    }
    read.templates.sort_by(|a, b| (a.archived, &a.id).cmp(&(b.archived, &b.id)));
    info!(templates = read.templates.len(), groups = groups.len(), reads = read.reads, "read where groups are used");
    Ok(read)
}
