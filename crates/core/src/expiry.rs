//! Temporary access: entries that end on a date (`until`, inclusive: access ends at 00:00 UTC the
//! day after) and periodic reviews. [`evaluate`] looks at a desired state as of one day: an entry
//! whose day has passed is taken out of its list (so its person is removed unless another entry
//! still grants them), one whose day is near is expiring soon, a review whose time has come is
//! overdue; and the settings' limits (`max_guest_days`, `max_member_days`, `overdue_review:
//! error`) are checked. Nothing here reads a clock: the day is the caller's (`--as-of`, or today
//! in UTC). Pure; no I/O.

use serde::{Deserialize, Serialize};

use crate::date::Date;
use crate::desired::{DesiredGroup, DesiredState, Diagnostic, DisabledMembers, Entry, Expiry, Located, MemberRef};
use crate::model::{Email, UserId};
use crate::warning::At;

/// Which list of a group an entry is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum List {
    /// `members`.
    Members,
    /// `guests`.
    Guests,
}

/// One entry with an `until`, as a plan reports it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ExpiryNote {
    /// The group, as the file names it.
    pub group: String,
    /// The list the entry is in.
    pub list: List,
    /// The person's email, for an entry of one person by email.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<Email>,
    /// The person's user id, for a member entry by id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<UserId>,
    /// The source, for a `{source}` entry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// The group included, for a `{group}` entry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub includes: Option<String>,
    /// The last day of access.
    pub until: Date,
    /// Why the entry is there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Days from the evaluation day to `until`: 0 on the last day, negative once passed.
    pub days: i64,
    /// Where the entry is written.
    pub at: At,
}

impl ExpiryNote {
    fn of(group: &DesiredGroup, e: &Expiry, as_of: Date) -> Self {
        let mut note = ExpiryNote {
            group: group.name.value.clone(),
            list: if e.entry.is_guest() { List::Guests } else { List::Members },
            email: None,
            id: None,
            source: None,
            includes: None,
            until: e.until.value,
            reason: e.reason.clone(),
            days: as_of.days_until(e.until.value),
            at: At::from(&e.at),
        };
        match &e.entry {
            Entry::Member(MemberRef::Email(m)) | Entry::Guest(m) => note.email = Some(m.clone()),
            Entry::Member(MemberRef::Id(id)) => note.id = Some(*id),
            Entry::MemberSource(n) | Entry::GuestSource(n) => note.source = Some(n.clone()),
            Entry::MemberGroup(n) => note.includes = Some(n.clone()),
        }
        note
    }

    /// Who the entry grants, in words: an address, `user id N`, `source NAME`, `group "NAME"`.
    pub fn who(&self) -> String {
        match (&self.email, self.id, &self.source, &self.includes) {
            (Some(e), ..) => e.to_string(),
            (None, Some(id), ..) => format!("user id {id}"),
            (None, None, Some(s), _) => format!("source {s}"),
            (None, None, None, Some(g)) => format!("group \"{g}\""),
            _ => "an entry".to_string(),
        }
    }

    /// Whether the entry grants exactly the member with this id and email.
    pub fn grants_member(&self, id: UserId, email: Option<&Email>) -> bool {
        self.list == List::Members && (self.id == Some(id) || (self.email.is_some() && self.email.as_ref() == email))
    }

    /// Whether the entry grants exactly this guest.
    pub fn grants_guest(&self, email: &Email) -> bool {
        self.list == List::Guests && self.email.as_ref() == Some(email)
    }
}

/// A group whose periodic review is overdue.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, schemars::JsonSchema)]
pub struct OverdueReview {
    /// The group.
    pub group: String,
    /// The last review.
    pub last: Date,
    /// Days between reviews.
    pub every_days: u32,
    /// The day the next review was due.
    pub due: Date,
    /// Days past `due`.
    pub days_overdue: i64,
    /// Where `review.last` is written.
    pub at: At,
}

/// What a plan knows of temporary access, as of one day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExpiryReport {
    /// The day every date was evaluated as of.
    pub evaluated_at: Date,
    /// Entries whose day has passed: taken out of their lists.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub expired: Vec<ExpiryNote>,
    /// Entries whose day is at most `expiry_warning_days` away.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub expiring: Vec<ExpiryNote>,
    /// Every entry still granting access with an `until` (the expiring ones too): a saved plan
    /// records them, and is stale once one of their days has passed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ongoing: Vec<ExpiryNote>,
    /// Groups whose review is overdue.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub overdue_reviews: Vec<OverdueReview>,
}

impl Default for ExpiryReport {
    fn default() -> Self {
        ExpiryReport {
            evaluated_at: Date::from_days(0),
            expired: Vec::new(),
            expiring: Vec::new(),
            ongoing: Vec::new(),
            overdue_reviews: Vec::new(),
        }
    }
}

impl ExpiryReport {
    /// The expired entry of group `group` that granted this member, if one did.
    pub fn expired_member(&self, group: &str, id: UserId, email: Option<&Email>) -> Option<&ExpiryNote> {
        self.expired.iter().find(|n| n.group == group && n.grants_member(id, email))
    }

    /// The expired entry of group `group` that granted this guest, if one did.
    pub fn expired_guest(&self, group: &str, email: &Email) -> Option<&ExpiryNote> {
        self.expired.iter().find(|n| n.group == group && n.grants_guest(email))
    }

    /// Whether there is anything to say.
    pub fn is_empty(&self) -> bool {
        self.expired.is_empty() && self.expiring.is_empty() && self.overdue_reviews.is_empty()
    }
}

/// Evaluates the state's dates as of `as_of`: takes out of their lists the entries whose `until`
/// has passed (an `absent` group has none), and reports them, the entries expiring within
/// `expiry_warning_days`, the overdue reviews; and the problems: an `until` beyond
/// `max_member_days` or `max_guest_days`, a guest entry without `until` under `max_guest_days`,
/// an overdue review under `overdue_review: error`. The state is changed even when there are
/// problems (the caller decides whether they stop it).
pub fn evaluate(state: &mut DesiredState, as_of: Date) -> (ExpiryReport, Vec<Diagnostic>) {
    let settings = state.settings.clone();
    let mut report = ExpiryReport { evaluated_at: as_of, ..ExpiryReport::default() };
    let mut problems = Vec::new();
    for g in state.groups.iter_mut().filter(|g| !g.absent) {
        let (expired, live): (Vec<Expiry>, Vec<Expiry>) = g.expiries.iter().cloned().partition(|e| e.until.value < as_of);
        for e in &live {
            let note = ExpiryNote::of(g, e, as_of);
            let limit = if e.entry.is_guest() { &settings.max_guest_days } else { &settings.max_member_days };
            if let Some(max) = limit
                && note.days > i64::from(max.value)
            {
                let key = if e.entry.is_guest() { "max_guest_days" } else { "max_member_days" };
                problems.push(
                    Diagnostic::at(
                        &e.until.at,
                        format!(
                            "`until: {}` of {} in \"{}\" is {} days away, more than {key} ({}, set at {})",
                            e.until.value,
                            note.who(),
                            g.name.value,
                            note.days,
                            max.value,
                            max.at
                        ),
                    )
                    .with_hint(format!(
                        "give a day at most {} days away ({} at the latest)",
                        max.value,
                        as_of.plus_days(i64::from(max.value))
                    )),
                );
            }
            if note.days <= i64::from(settings.expiry_warning_days) {
                report.expiring.push(note.clone());
            }
            report.ongoing.push(note);
        }
        if let Some(max) = &settings.max_guest_days {
            for at in &g.guests_without_until {
                problems.push(
                    Diagnostic::at(
                        at,
                        format!(
                            "a guest of \"{}\" has no `until`, and max_guest_days ({}, set at {}) requires one",
                            g.name.value, max.value, max.at
                        ),
                    )
                    .with_hint(format!(
                        "write the guest as `{{email: …, until: YYYY-MM-DD}}` (or `{{source: …, until: …}}`), at most {} days away",
                        max.value
                    )),
                );
            }
        }
        for e in &expired {
            report.expired.push(ExpiryNote::of(g, e, as_of));
            take_out(g, e);
        }
        g.expiries = live;
        if let Some(review) = &g.review {
            let due = review.last.value.plus_days(i64::from(review.every_days));
            if due < as_of {
                let overdue = OverdueReview {
                    group: g.name.value.clone(),
                    last: review.last.value,
                    every_days: review.every_days,
                    due,
                    days_overdue: due.days_until(as_of),
                    at: At::from(&review.last.at),
                };
                if settings.overdue_review == DisabledMembers::Error {
                    problems.push(
                        Diagnostic::at(
                            &review.last.at,
                            format!(
                                "the review of \"{}\" is overdue: last {}, every {} days, due {} ({} days ago)",
                                g.name.value, overdue.last, overdue.every_days, overdue.due, overdue.days_overdue
                            ),
                        )
                        .with_hint("review the group's members, then update `review.last` in a pull request: its merge is the attestation (settings.overdue_review: error)"),
                    );
                }
                report.overdue_reviews.push(overdue);
            }
        }
    }
    for notes in [&mut report.expired, &mut report.expiring, &mut report.ongoing] {
        notes.sort_by(|a, b| (a.until, &a.group, &a.at).cmp(&(b.until, &b.group, &b.at)));
    }
    report.overdue_reviews.sort();
    problems.sort();
    (report, problems)
}

/// Takes the entry out of its list (the one written at its place).
fn take_out(g: &mut DesiredGroup, e: &Expiry) {
    fn drop_at<T: PartialEq>(list: &mut Vec<Located<T>>, value: &T, at: &crate::desired::Location) {
        list.retain(|l| !(l.value == *value && l.at == *at));
    }
    match &e.entry {
        Entry::Member(m) => {
            if let Some(list) = g.members.as_mut() {
                drop_at(list, m, &e.at);
            }
        }
        Entry::Guest(email) => {
            if let Some(list) = g.guests.as_mut() {
                drop_at(list, email, &e.at);
            }
        }
        Entry::MemberSource(n) => drop_at(&mut g.member_sources, n, &e.at),
        Entry::GuestSource(n) => drop_at(&mut g.guest_sources, n, &e.at),
        Entry::MemberGroup(n) => drop_at(&mut g.member_groups, n, &e.at),
    }
}

#[cfg(test)]
mod tests;
