//! The sandbox's data and Tallyfy's rules over it: one organization's users, guests and groups,
//! validation with Tallyfy-shaped 422 answers, deterministic seeding, group ids of the
//! organization's own. Pure; no I/O.

use std::collections::{BTreeMap, HashSet};

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// A stored user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SUser {
    /// The user's id.
    pub id: u64,
    /// Their email.
    pub email: String,
    /// Their first name.
    pub first_name: String,
    /// Their last name.
    pub last_name: String,
    /// Their state, as Tallyfy writes it (`active`, `invited`, `disabled`).
    pub status: String,
}

/// A stored guest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SGuest {
    /// The guest's email.
    pub email: String,
    /// Their first name.
    pub first_name: String,
    /// Their last name.
    pub last_name: String,
}

/// A stored group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SGroup {
    /// The group's id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Its description.
    pub description: String,
    /// Its members' user ids.
    pub members: Vec<u64>,
    /// Its guests' emails.
    pub guests: Vec<String>,
    /// When it was created, by the state's logical clock.
    pub created_at: String,
    /// When it was last written, by the same clock.
    pub last_updated: String,
}

impl SGroup {
    /// The group as Tallyfy's API writes it.
    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "logo": null,
            "members": self.members,
            "guests": self.guests,
            "created_at": self.created_at,
            "last_updated": self.last_updated,
        })
    }
}

/// A stored template (Tallyfy's "checklist"): read-only in the sandbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct STemplate {
    /// Its id.
    pub id: String,
    /// Its title.
    pub title: String,
    /// Archived (listed with `archived=only`).
    #[serde(default)]
    pub archived: bool,
    /// Ids of the groups it grants access to.
    #[serde(default)]
    pub groups: Vec<String>,
    /// Its steps.
    #[serde(default)]
    pub steps: Vec<SStep>,
}

/// A step of a stored template.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SStep {
    /// Its id.
    pub id: String,
    /// Its title.
    pub title: String,
    /// Ids of the groups it is assigned to.
    #[serde(default)]
    pub groups: Vec<String>,
    /// Ids of the users it is assigned to.
    #[serde(default)]
    pub assignees: Vec<u64>,
    /// Emails of the guests it is assigned to.
    #[serde(default)]
    pub guests: Vec<String>,
    /// The most people it may be assigned to; 0: no limit.
    #[serde(default)]
    pub max_assignable: u64,
}

/// A stored process (Tallyfy's "run"): read-only in the sandbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SRun {
    /// Its id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// `active`, `complete`, `archived`…
    pub status: String,
    /// Ids of the groups it involves.
    #[serde(default)]
    pub groups: Vec<String>,
}

/// A stored task: read-only in the sandbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct STask {
    /// Its id.
    pub id: String,
    /// Its title.
    pub title: String,
    /// `incomplete` or `completed`.
    pub status: String,
    /// Who owns it.
    #[serde(default)]
    pub owners: SOwners,
}

/// A task's owners.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SOwners {
    /// User ids.
    #[serde(default)]
    pub users: Vec<u64>,
    /// Guest emails.
    #[serde(default)]
    pub guests: Vec<String>,
    /// Group ids.
    #[serde(default)]
    pub groups: Vec<String>,
}

impl STemplate {
    /// The template as Tallyfy's API writes it; `steps` included when asked for (`with=steps`),
    /// as a plain list or (`data_form`) as `{"data": [...]}`.
    pub fn to_json(&self, steps: bool, data_form: bool) -> Value {
        let mut t = json!({ "id": self.id, "title": self.title, "groups": self.groups, "status": if self.archived { "archived" } else { "active" } });
        if steps {
            let list: Vec<Value> = self
                .steps
                .iter()
                .map(|s| json!({ "id": s.id, "title": s.title, "groups": s.groups, "assignees": s.assignees, "guests": s.guests, "max_assignable": s.max_assignable }))
                .collect();
            t["steps"] = if data_form { json!({ "data": list }) } else { Value::Array(list) };
        }
        t
    }

    /// Whether the template names group `id`.
    fn names(&self, id: &str) -> bool {
        self.groups.iter().any(|g| g == id) || self.steps.iter().any(|s| s.groups.iter().any(|g| g == id))
    }
}

/// Everything the sandbox holds for one organization; serialised in its state file. Two states
/// are equal when their stored fields are (lookups and the id salt are derived, not stored).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct State {
    /// The organization's users.
    pub users: Vec<SUser>,
    /// Its guests.
    pub guests: Vec<SGuest>,
    /// By id; creation order is kept by `seq`.
    pub groups: BTreeMap<String, SGroup>,
    /// Ids in creation order (list order of the API).
    pub order: Vec<String>,
    /// Groups created so far: the source of new group ids.
    pub seq: u64,
    /// Logical clock for timestamps, so the state is deterministic.
    pub clock: u64,
    /// Its templates, read-only (absent in state files written before they were served).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub templates: Vec<STemplate>,
    /// Its processes, read-only.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub runs: Vec<SRun>,
    /// Its tasks, read-only.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tasks: Vec<STask>,
    /// Lookups over `users` (which never change while serving); see [`State::reindex`].
    #[serde(skip)]
    user_ids: HashSet<u64>,
    #[serde(skip)]
    user_emails: HashSet<String>,
    /// Mixed into new group ids so that each organization's differ (see [`State::assign_org`]).
    #[serde(skip)]
    id_salt: u64,
}

impl PartialEq for State {
    fn eq(&self, other: &Self) -> bool {
        (&self.users, &self.guests, &self.groups, &self.order, self.seq, self.clock, &self.templates, &self.runs, &self.tasks)
            == (
                &other.users,
                &other.guests,
                &other.groups,
                &other.order,
                other.seq,
                other.clock,
                &other.templates,
                &other.runs,
                &other.tasks,
            )
    }
}

impl Eq for State {}

/// A rejected write: status and JSON body, shaped like Tallyfy's.
#[derive(Debug, Clone, PartialEq)]
pub struct Rejection {
    /// The HTTP status.
    pub status: u16,
    /// The JSON body.
    pub body: Value,
}

impl Rejection {
    /// 422 with Tallyfy's field errors; the message is the first of them.
    pub fn invalid(errors: BTreeMap<String, Vec<String>>) -> Self {
        let message = errors.values().flatten().next().cloned().unwrap_or_else(|| "The given data was invalid.".into());
        Rejection { status: 422, body: json!({ "error": true, "message": message, "errors": errors }) }
    }

    /// 404 for a missing `what` ("Group", "Guest").
    pub fn not_found(what: &str) -> Self {
        Rejection { status: 404, body: json!({ "error": true, "message": format!("{what} not found."), "code": "RESOURCE_NOT_FOUND" }) }
    }
}

/// The body of a group write, as loosely as clients may send it.
#[derive(Debug, Default, Deserialize)]
pub struct GroupInput {
    /// `name`, as sent.
    #[serde(default)]
    pub name: Option<Value>,
    /// `description`, as sent.
    #[serde(default)]
    pub description: Option<Value>,
    /// `members`, as sent.
    #[serde(default)]
    pub members: Option<Value>,
    /// `guests`, as sent.
    #[serde(default)]
    pub guests: Option<Value>,
}

/// What a group write does with guest emails that are not guests yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NewGuests {
    /// Create them, as Tallyfy documents (its create sample lists new guest emails).
    Create,
    /// Refuse them with 422 (`--strict-guests`).
    Reject,
}

/// A checked group write: its values, and the guests it creates.
struct Checked {
    name: String,
    description: String,
    members: Vec<u64>,
    guests: Vec<String>,
    new_guests: Vec<String>,
}

fn valid_email(s: &str) -> bool {
    tallyfy_groups_core::model::Email::parse(s).is_ok()
}

/// What a new organization starts with; every organization of a new state gets the same.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seed {
    /// The demo organization that groups.example.yaml is written against.
    Demo,
    /// Deterministic fake data for benchmarks (see [`State::seeded`]).
    Generated {
        /// Users made.
        users: usize,
        /// Groups made.
        groups: usize,
        /// Guests made.
        guests: usize,
        /// Templates of five steps on the first half of the groups, one in ten archived.
        templates: usize,
    },
}

impl Seed {
    /// The seeded state of organization `org`, its groups under ids of that organization's.
    pub fn state(self, org: &str) -> State {
        let mut s = State::default();
        s.assign_org(org);
        match self {
            Seed::Demo => s.seed_demo(),
            Seed::Generated { users, groups, guests, templates } => {
                s.seed_generated(users, groups, guests);
                s.seed_templates(templates);
            }
        }
        s
    }
}

/// FNV-1a: a stable 64-bit number for an organization id.
fn org_salt(org: &str) -> u64 {
    org.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

/// SplitMix64: a well-mixed, deterministic id from a counter.
fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl State {
    /// Makes the groups created from now on get ids derived from `org` and the counter, as
    /// Tallyfy's group ids are unique across organizations. Groups already there keep theirs.
    pub fn assign_org(&mut self, org: &str) {
        self.id_salt = org_salt(org);
    }

    /// A copy for organization `org`: the same users, guests and groups, the groups under ids of
    /// that organization's (in the same order).
    pub fn copy_for(&self, org: &str) -> State {
        let mut copy = State { groups: BTreeMap::new(), order: Vec::new(), seq: 0, ..self.clone() };
        copy.assign_org(org);
        let mut renamed = BTreeMap::new();
        for group in self.order.iter().filter_map(|id| self.groups.get(id)) {
            let id = copy.new_id();
            renamed.insert(group.id.clone(), id.clone());
            copy.groups.insert(id.clone(), SGroup { id: id.clone(), ..group.clone() });
            copy.order.push(id);
        }
        copy.seq = copy.seq.max(self.seq);
        // Templates, processes and tasks name the copy's groups.
        copy.each_group_ref(|id| {
            if let Some(new) = renamed.get(id.as_str()) {
                *id = new.clone();
            }
        });
        copy
    }

    /// Adds, to each group of `ids`, the first active user who is not a member yet (the
    /// sandbox's `edit-after-read` quirk: a hand edit in the UI).
    pub fn add_someone_to(&mut self, ids: &[String]) {
        for id in ids {
            let now = self.tick();
            let Some(g) = self.groups.get_mut(id) else { continue };
            if let Some(u) = self.users.iter().find(|u| u.status == "active" && !g.members.contains(&u.id)) {
                g.members.push(u.id);
                g.last_updated = now;
            }
        }
    }

    /// Calls `f` on every group id the templates, processes and tasks hold.
    fn each_group_ref(&mut self, mut f: impl FnMut(&mut String)) {
        for t in &mut self.templates {
            t.groups.iter_mut().for_each(&mut f);
            t.steps.iter_mut().flat_map(|s| s.groups.iter_mut()).for_each(&mut f);
        }
        self.runs.iter_mut().flat_map(|r| r.groups.iter_mut()).for_each(&mut f);
        self.tasks.iter_mut().flat_map(|t| t.owners.groups.iter_mut()).for_each(&mut f);
    }

    /// The templates (`archived`: the archived ones only), in their order.
    pub fn templates(&self, archived: bool) -> Vec<&STemplate> {
        self.templates.iter().filter(|t| t.archived == archived).collect()
    }

    /// Processes with status `status` (any, when none) that involve any of `groups` (all, when
    /// empty).
    pub fn runs(&self, groups: &[String], status: Option<&str>) -> Vec<&SRun> {
        self.runs
            .iter()
            .filter(|r| status.is_none_or(|s| r.status == s))
            .filter(|r| groups.is_empty() || r.groups.iter().any(|g| groups.contains(g)))
            .collect()
    }

    /// Tasks with status `status` (any, when none) owned by any of `groups` (all, when empty).
    pub fn tasks(&self, groups: &[String], status: Option<&str>) -> Vec<&STask> {
        self.tasks
            .iter()
            .filter(|t| status.is_none_or(|s| t.status == s))
            .filter(|t| groups.is_empty() || t.owners.groups.iter().any(|g| groups.contains(g)))
            .collect()
    }

    /// Whether any template, process or task names group `id`.
    pub fn group_in_use(&self, id: &str) -> bool {
        self.templates.iter().any(|t| t.names(id))
            || self.runs.iter().any(|r| r.groups.iter().any(|g| g == id))
            || self.tasks.iter().any(|t| t.owners.groups.iter().any(|g| g == id))
    }

    /// Rebuilds the user lookups; call after changing `users` or loading a state.
    pub fn reindex(&mut self) {
        self.user_ids = self.users.iter().map(|u| u.id).collect();
        self.user_emails = self.users.iter().map(|u| u.email.to_lowercase()).collect();
    }

    fn is_user(&self, id: u64) -> bool {
        self.user_ids.contains(&id)
    }

    fn is_member_email(&self, email: &str) -> bool {
        self.user_emails.contains(email)
    }

    fn tick(&mut self) -> String {
        self.clock += 1;
        // 2026-01-01T00:00:00Z plus one second per write.
        let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_767_225_600 + self.clock);
        httpdate::fmt_http_date(t)
    }

    fn new_id(&mut self) -> String {
        self.seq += 1;
        let n = self.seq ^ self.id_salt;
        format!("{:016x}{:016x}", splitmix64(n), splitmix64(n ^ 0x9e37_79b9_7f4a_7c15))
    }

    fn check_group(&self, input: &GroupInput, own_id: Option<&str>, policy: NewGuests) -> Result<Checked, Rejection> {
        let mut errors: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let mut err = |k: &str, m: String| errors.entry(k.to_string()).or_default().push(m);
        let name = match &input.name {
            Some(Value::String(s)) if !s.trim().is_empty() => {
                if s.chars().count() > 200 {
                    err("name", "The name may not be greater than 200 characters.".into());
                }
                let taken = self.groups.values().any(|g| Some(g.id.as_str()) != own_id && g.name.to_lowercase() == s.trim().to_lowercase());
                if taken {
                    err("name", "The name has already been taken.".into());
                }
                s.trim().to_string()
            }
            Some(Value::String(_)) | None | Some(Value::Null) => {
                err("name", "The name field is required.".into());
                String::new()
            }
            Some(_) => {
                err("name", "The name must be a string.".into());
                String::new()
            }
        };
        let description = match &input.description {
            Some(Value::String(s)) if !s.trim().is_empty() => s.clone(),
            Some(Value::String(_)) | None | Some(Value::Null) => {
                err("description", "The description field is required.".into());
                String::new()
            }
            Some(_) => {
                err("description", "The description must be a string.".into());
                String::new()
            }
        };
        let mut members = Vec::new();
        match &input.members {
            None | Some(Value::Null) => {}
            Some(Value::Array(items)) => {
                for (i, v) in items.iter().enumerate() {
                    match v.as_u64() {
                        Some(id) if self.is_user(id) => {
                            if !members.contains(&id) {
                                members.push(id);
                            }
                        }
                        _ => err(&format!("members.{i}"), format!("The selected members.{i} is invalid.")),
                    }
                }
            }
            Some(_) => err("members", "The members must be an array.".into()),
        }
        let mut guests = Vec::new();
        let mut new_guests = Vec::new();
        match &input.guests {
            None | Some(Value::Null) => {}
            Some(Value::Array(items)) => {
                for (i, v) in items.iter().enumerate() {
                    let Some(e) = v.as_str().filter(|e| valid_email(e)).map(|e| e.trim().to_lowercase()) else {
                        err(&format!("guests.{i}"), format!("The guests.{i} must be a valid email address."));
                        continue;
                    };
                    if self.is_member_email(&e) {
                        err(&format!("guests.{i}"), format!("The guests.{i} belongs to a member of the organization."));
                    } else if guests.contains(&e) {
                        continue;
                    } else if self.guests.iter().any(|g| g.email.to_lowercase() == e) {
                        guests.push(e);
                    } else if policy == NewGuests::Create {
                        new_guests.push(e.clone());
                        guests.push(e);
                    } else {
                        err(&format!("guests.{i}"), format!("The selected guests.{i} is not a guest of the organization."));
                    }
                }
            }
            Some(_) => err("guests", "The guests must be an array.".into()),
        }
        if errors.is_empty() { Ok(Checked { name, description, members, guests, new_guests }) } else { Err(Rejection::invalid(errors)) }
    }

    /// The guests a group write would create: valid, distinct addresses that are neither a
    /// member's nor an existing guest's.
    pub fn new_guests(&self, input: &GroupInput) -> usize {
        let Some(Value::Array(items)) = &input.guests else { return 0 };
        let mut seen = HashSet::new();
        items
            .iter()
            .filter_map(|v| v.as_str().filter(|e| valid_email(e)).map(|e| e.trim().to_lowercase()))
            .filter(|e| !self.is_member_email(e) && !self.guests.iter().any(|g| g.email.to_lowercase() == *e))
            .filter(|e| seen.insert(e.clone()))
            .count()
    }

    fn add_guests(&mut self, emails: Vec<String>) {
        for email in emails {
            self.guests.push(SGuest { email, first_name: String::new(), last_name: String::new() });
        }
    }

    /// POST /groups, with guests that must exist already.
    pub fn create_group(&mut self, input: &GroupInput) -> Result<SGroup, Rejection> {
        self.create_group_with(input, NewGuests::Reject)
    }

    /// POST /groups.
    pub fn create_group_with(&mut self, input: &GroupInput, policy: NewGuests) -> Result<SGroup, Rejection> {
        let Checked { name, description, members, guests, new_guests } = self.check_group(input, None, policy)?;
        self.add_guests(new_guests);
        let id = self.new_id();
        let now = self.tick();
        let g = SGroup { id: id.clone(), name, description, members, guests, created_at: now.clone(), last_updated: now };
        self.groups.insert(id.clone(), g.clone());
        self.order.push(id);
        Ok(g)
    }

    /// PUT /groups/{id}, with guests that must exist already.
    pub fn update_group(&mut self, id: &str, input: &GroupInput) -> Result<SGroup, Rejection> {
        self.update_group_with(id, input, NewGuests::Reject)
    }

    /// PUT /groups/{id}: replaces name, description, members and guests.
    pub fn update_group_with(&mut self, id: &str, input: &GroupInput, policy: NewGuests) -> Result<SGroup, Rejection> {
        if !self.groups.contains_key(id) {
            return Err(Rejection::not_found("Group"));
        }
        let Checked { name, description, members, guests, new_guests } = self.check_group(input, Some(id), policy)?;
        self.add_guests(new_guests);
        let now = self.tick();
        let g = self.groups.get_mut(id).ok_or_else(|| Rejection::not_found("Group"))?;
        g.name = name;
        g.description = description;
        g.members = members;
        g.guests = guests;
        g.last_updated = now;
        Ok(g.clone())
    }

    /// DELETE /groups/{id}.
    pub fn delete_group(&mut self, id: &str) -> Result<(), Rejection> {
        self.groups.remove(id).ok_or_else(|| Rejection::not_found("Group"))?;
        self.order.retain(|x| x != id);
        // Tallyfy documents nothing about the steps, access and tasks that named a deleted group;
        // the sandbox does what they most likely do: lose it without a word.
        for t in &mut self.templates {
            t.groups.retain(|g| g != id);
            t.steps.iter_mut().for_each(|s| s.groups.retain(|g| g != id));
        }
        self.runs.iter_mut().for_each(|r| r.groups.retain(|g| g != id));
        self.tasks.iter_mut().for_each(|t| t.owners.groups.retain(|g| g != id));
        Ok(())
    }

    /// POST /guests.
    pub fn create_guest(&mut self, body: &Value) -> Result<SGuest, Rejection> {
        let mut errors: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let email = body.get("email").and_then(Value::as_str).map(|e| e.trim().to_lowercase()).unwrap_or_default();
        if email.is_empty() {
            errors.entry("email".into()).or_default().push("The email field is required.".into());
        } else if !valid_email(&email) {
            errors.entry("email".into()).or_default().push("The email must be a valid email address.".into());
        } else if self.is_member_email(&email) {
            errors.entry("email".into()).or_default().push("The email belongs to a member of the organization.".into());
        } else if self.guests.iter().any(|g| g.email == email) {
            errors.entry("email".into()).or_default().push("The email has already been taken.".into());
        }
        if !errors.is_empty() {
            return Err(Rejection::invalid(errors));
        }
        let text = |k: &str| body.get(k).and_then(Value::as_str).unwrap_or_default().to_string();
        let guest = SGuest { email, first_name: text("first_name"), last_name: text("last_name") };
        self.guests.push(guest.clone());
        Ok(guest)
    }

    /// The demo organization that groups.example.yaml is written against.
    pub fn demo() -> State {
        let mut s = State::default();
        s.seed_demo();
        s
    }

    /// Fills an empty state with the demo organization.
    fn seed_demo(&mut self) {
        let s = self;
        let people = [
            (1001, "alice.nguyen@example.com", "Alice", "Nguyen", "active"),
            (1002, "marco.rossi@example.com", "Marco", "Rossi", "active"),
            (1003, "priya.shah@example.com", "Priya", "Shah", "active"),
            (1004, "dana.okafor@example.com", "Dana", "Okafor", "active"),
            (1005, "li.wei@example.com", "Li", "Wei", "active"),
            (1006, "sam.taylor@example.com", "Sam", "Taylor", "active"),
            (1007, "jordan.lee@example.com", "Jordan", "Lee", "invited"),
            (1008, "chris.moore@example.com", "Chris", "Moore", "disabled"),
            (1009, "fatima.haddad@example.com", "Fatima", "Haddad", "active"),
            (1010, "tom.becker@example.com", "Tom", "Becker", "active"),
        ];
        for (id, email, first, last, status) in people {
            s.users.push(SUser { id, email: email.into(), first_name: first.into(), last_name: last.into(), status: status.into() });
        }
        s.reindex();
        s.guests.push(SGuest { email: "auditor@audit-firm.example".into(), first_name: "Avery".into(), last_name: "Auditor".into() });
        s.guests.push(SGuest { email: "temp.help@staffing.example".into(), first_name: "Temp".into(), last_name: "Help".into() });
        let groups: [(&str, &str, &[u64], &[&str]); 5] = [
            ("Onboarding Team", "Team responsible for new client onboarding.", &[1001, 1002, 1005], &[]),
            ("Finance Approvers", "Approves invoices.", &[1004, 1005, 1006], &["auditor@audit-firm.example"]),
            ("Support Escalation", "Second-line support.", &[1002, 1003, 1006, 1009, 1010], &[]),
            ("Old Contractors", "Contractors from the 2025 migration.", &[1006], &["temp.help@staffing.example"]),
            ("Temp Q3 Audit", "Short-lived audit room.", &[1004], &["auditor@audit-firm.example"]),
        ];
        for (name, description, members, guests) in groups {
            let input = GroupInput {
                name: Some(json!(name)),
                description: Some(json!(description)),
                members: Some(json!(members)),
                guests: Some(json!(guests)),
            };
            // The demo data satisfies the rules by construction.
            let _ = s.create_group(&input);
        }
        let marketing = GroupInput {
            name: Some(json!("Marketing")),
            description: Some(json!("Managed by hand in the Tallyfy UI.")),
            members: Some(json!([1009])),
            guests: None,
        };
        let _ = s.create_group(&marketing);
        s.seed_demo_processes();
    }

    /// The demo organization's templates, processes and tasks: what uses its groups.
    fn seed_demo_processes(&mut self) {
        let id_of = |s: &State, name: &str| s.groups.values().find(|g| g.name == name).map(|g| g.id.clone()).unwrap_or_default();
        let onboarding = id_of(self, "Onboarding Team");
        let finance = id_of(self, "Finance Approvers");
        let support = id_of(self, "Support Escalation");
        let contractors = id_of(self, "Old Contractors");
        let step = |id: &str, title: &str, groups: &[&String], max_assignable: u64| SStep {
            id: id.into(),
            title: title.into(),
            groups: groups.iter().map(|g| g.to_string()).collect(),
            assignees: Vec::new(),
            guests: Vec::new(),
            max_assignable,
        };
        self.templates = vec![
            STemplate {
                id: "tpl-client-onboarding".into(),
                title: "Client Onboarding".into(),
                archived: false,
                groups: vec![onboarding.clone()],
                steps: vec![
                    step("stp-kickoff", "Kick-off call", &[&onboarding], 0),
                    step("stp-workspace", "Set up the client's workspace", &[&onboarding], 0),
                    step("stp-first-invoice", "Approve the first invoice", &[&finance], 0),
                ],
            },
            STemplate {
                id: "tpl-expense-report".into(),
                title: "Expense Report".into(),
                archived: false,
                groups: Vec::new(),
                steps: vec![
                    step("stp-submit", "Submit receipts", &[], 0),
                    step("stp-approve-expense", "Approve expenses over $5,000", &[&finance], 10),
                ],
            },
            STemplate {
                id: "tpl-escalation".into(),
                title: "Support Escalation".into(),
                archived: false,
                groups: vec![support.clone()],
                steps: vec![step("stp-second-line", "Second-line review", &[&support], 0)],
            },
            STemplate {
                id: "tpl-contractor-migration".into(),
                title: "2025 Contractor Migration".into(),
                archived: true,
                groups: Vec::new(),
                steps: vec![step("stp-hand-over", "Hand over laptops", &[&contractors], 0)],
            },
        ];
        let run = |id: &str, name: &str, status: &str, groups: &[&String]| SRun {
            id: id.into(),
            name: name.into(),
            status: status.into(),
            groups: groups.iter().map(|g| g.to_string()).collect(),
        };
        self.runs = vec![
            run("run-acme", "Client Onboarding: Acme", "active", &[&onboarding, &finance]),
            run("run-globex", "Client Onboarding: Globex", "active", &[&onboarding, &finance]),
            run("run-expenses-nov", "Expense Report: November", "active", &[&finance]),
            run("run-migration", "2025 Contractor Migration", "complete", &[&contractors]),
        ];
        let task = |id: &str, title: &str, status: &str, group: &String| STask {
            id: id.into(),
            title: title.into(),
            status: status.into(),
            owners: SOwners { users: Vec::new(), guests: Vec::new(), groups: vec![group.clone()] },
        };
        self.tasks = vec![
            task("tsk-acme-invoice", "Approve the first invoice", "incomplete", &finance),
            task("tsk-globex-invoice", "Approve the first invoice", "incomplete", &finance),
            task("tsk-expenses-nov", "Approve expenses over $5,000", "incomplete", &finance),
            task("tsk-acme-kickoff", "Kick-off call", "incomplete", &onboarding),
            task("tsk-ticket-4711", "Second-line review", "completed", &support),
            task("tsk-hand-over", "Hand over laptops", "completed", &contractors),
        ];
    }

    /// Adds `n` deterministic templates of five steps, each step assigned to a group of the first
    /// half of the groups (so the second half is used by none), one in ten archived, and one
    /// active process per template on its first step's group.
    fn seed_templates(&mut self, n: usize) {
        let used: Vec<String> = self.order.iter().take(self.order.len().div_ceil(2)).cloned().collect();
        if used.is_empty() {
            return;
        }
        for i in 0..n {
            let group = |k: usize| used[(i * 5 + k) % used.len()].clone();
            self.templates.push(STemplate {
                id: format!("tpl-{i:05}"),
                title: format!("Template {i:05}"),
                archived: i % 10 == 9,
                groups: Vec::new(),
                steps: (0..5)
                    .map(|k| SStep {
                        id: format!("stp-{i:05}-{k}"),
                        title: format!("Step {k}"),
                        groups: vec![group(k)],
                        assignees: Vec::new(),
                        guests: Vec::new(),
                        max_assignable: 0,
                    })
                    .collect(),
            });
            self.runs.push(SRun {
                id: format!("run-{i:05}"),
                name: format!("Template {i:05}: run"),
                status: "active".into(),
                groups: vec![group(0)],
            });
        }
    }

    /// Deterministic fake data for benchmarks: `users` users, `groups` groups of about 25
    /// members, `guests` guests.
    pub fn seeded(users: usize, groups: usize, guests: usize) -> State {
        let mut s = State::default();
        s.seed_generated(users, groups, guests);
        s
    }

    /// Fills an empty state with [`State::seeded`]'s data.
    fn seed_generated(&mut self, users: usize, groups: usize, guests: usize) {
        let s = self;
        for i in 0..users {
            s.users.push(SUser {
                id: 100_000 + i as u64,
                email: format!("user{i}@example.com"),
                first_name: "User".into(),
                last_name: format!("{i}"),
                status: "active".into(),
            });
        }
        s.reindex();
        for i in 0..guests {
            s.guests.push(SGuest { email: format!("guest{i}@partner.example"), first_name: "Guest".into(), last_name: format!("{i}") });
        }
        let mut rng = fastrand::Rng::with_seed(42);
        for i in 0..groups {
            let mut members: Vec<u64> = if users == 0 { Vec::new() } else { (0..25).map(|_| 100_000 + rng.u64(0..users as u64)).collect() };
            members.sort_unstable();
            members.dedup();
            let group_guests: Vec<String> =
                if guests == 0 || i % 5 != 0 { Vec::new() } else { vec![format!("guest{}@partner.example", rng.usize(0..guests))] };
            let id = s.new_id();
            let now = s.tick();
            s.groups.insert(
                id.clone(),
                SGroup {
                    id: id.clone(),
                    name: format!("Group {i:05}"),
                    description: format!("Seeded group {i}."),
                    members,
                    guests: group_guests,
                    created_at: now.clone(),
                    last_updated: now,
                },
            );
            s.order.push(id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(v: Value) -> GroupInput {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn demo_state_is_consistent() {
        let s = State::demo();
        assert_eq!(s.groups.len(), 6);
        assert_eq!(s.order.len(), 6);
        assert!(s.groups.values().all(|g| g.id.len() == 32 && g.id.chars().all(|c| c.is_ascii_hexdigit())));
    }

    #[test]
    fn validation_collects_every_field() {
        let mut s = State::demo();
        let long = "x".repeat(201);
        let r = s
            .create_group(&input(
                json!({"name": long, "description": "", "members": [1, 1001], "guests": ["bad", "alice.nguyen@example.com", "new@x.co"]}),
            ))
            .unwrap_err();
        assert_eq!(r.status, 422);
        let errors = r.body["errors"].as_object().unwrap();
        let keys: Vec<&str> = errors.keys().map(String::as_str).collect();
        assert_eq!(keys, vec!["description", "guests.0", "guests.1", "guests.2", "members.0", "name"]);
        let r = s.create_group(&input(json!({"name": "onboarding team", "description": "d"}))).unwrap_err();
        assert_eq!(r.body["errors"]["name"][0], "The name has already been taken.");
    }

    #[test]
    fn update_may_keep_its_own_name_and_replaces_lists() {
        let mut s = State::demo();
        let id = s.order[0].clone();
        let g = s.update_group(&id, &input(json!({"name": "ONBOARDING TEAM", "description": "d", "members": [1003]}))).unwrap();
        assert_eq!(g.members, vec![1003]);
        assert!(g.guests.is_empty());
        assert_eq!(s.update_group("nope", &input(json!({}))).unwrap_err().status, 404);
    }

    #[test]
    fn each_organization_gets_ids_of_its_own() {
        let (a, b) = (Seed::Demo.state("a"), Seed::Demo.state("b"));
        assert_eq!(a, Seed::Demo.state("a"), "deterministic");
        let names = |s: &State| s.order.iter().map(|id| s.groups[id].name.clone()).collect::<Vec<_>>();
        assert_eq!(names(&a), names(&b));
        assert!(a.groups.keys().all(|id| !b.groups.contains_key(id) && id.len() == 32));
        // A copy keeps everything but the ids, and its later groups get ids of their own too.
        let mut demo = State::demo();
        let mut copy = demo.copy_for("b");
        assert_eq!((names(&copy), copy.seq, &copy.users), (names(&demo), demo.seq, &demo.users));
        assert!(demo.groups.keys().all(|id| !copy.groups.contains_key(id)));
        let input = input(json!({"name": "New", "description": "d"}));
        demo.assign_org("a");
        assert_ne!(demo.create_group(&input).unwrap().id, copy.create_group(&input).unwrap().id);
    }

    #[test]
    fn seeding_is_deterministic() {
        assert_eq!(State::seeded(50, 10, 5), State::seeded(50, 10, 5));
        let s = State::seeded(1000, 3, 0);
        assert!(s.groups.values().all(|g| g.members.len() > 20));
    }
}
