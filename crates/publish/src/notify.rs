//! `--notify URL` for scheduled runs: after `plan` or `apply`, posts a JSON summary (Slack-
//! compatible `text` plus structured fields) when drift was found or the run failed. The URL is
//! a secret: it is never printed, and it is scrubbed from every error. Deciding and building
//! the summary is pure; [`Webhook::send`] does network I/O.

use std::time::Duration;

use serde::Serialize;
use serde_json::{Value, json};
use tracing::warn;

use tallyfy_groups_api::Secret;
use tallyfy_groups_api::apply::{ApplyReport, Outcome};
use tallyfy_groups_api::error::describe;
use tallyfy_groups_api::retry::{Retries, pause_unless_stopped, retry_after_of};
use tallyfy_groups_core::plan::Plan;
use tallyfy_groups_core::render::words;

/// Group names and failures listed in a summary; the counts always cover all of them.
pub const MAX_LISTED: usize = 20;
/// Attempts at delivering a summary answered 429, 5xx or not at all.
const ATTEMPTS: u32 = 3;
/// Longest `Retry-After` waited for.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(30);

/// The command that ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Command {
    /// `plan`.
    Plan,
    /// `apply`.
    Apply,
}

/// Why a summary is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Event {
    /// `plan` found changes: Tallyfy differs from groups.yaml.
    Drift,
    /// `plan` failed or refused, so drift could not be checked.
    PlanFailed,
    /// `apply` found changes and made every one of them.
    DriftCorrected,
    /// `apply` failed, refused, or left actions failed, skipped or unknown.
    ApplyFailed,
    /// `plan` found nothing to change, but access ends soon or a review is overdue.
    Attention,
}

/// What a run learned, gathered as it goes (all optional: a run may fail before learning it).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Facts {
    /// The organization (or a workspace's targets with theirs).
    #[serde(skip)]
    pub organization: Option<String>,
    /// What the plan holds.
    pub plan: Option<PlanFacts>,
    /// What the apply did.
    pub apply: Option<ApplyFacts>,
    /// Why a run that ended without an error of its own failed: the failed targets of a
    /// workspace, each with its error (`target NAME: …`, one per line).
    #[serde(skip)]
    pub error: Option<String>,
}

/// The plan's counts and the groups it changes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PlanFacts {
    /// Groups to create.
    pub create: usize,
    /// Groups to update.
    pub update: usize,
    /// Groups to delete.
    pub delete: usize,
    /// Guests to invite.
    pub guests_to_invite: usize,
    /// Memberships (members and guests) added.
    pub memberships_added: usize,
    /// Memberships removed.
    pub memberships_removed: usize,
    /// The groups changed, in plan order (at most [`MAX_LISTED`]).
    pub groups: Vec<String>,
    /// Entries expiring soon: who is told before their access ends.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub expiring: Vec<ExpiryFact>,
    /// Entries whose day has passed (the plan removes what no other entry grants).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub expired: Vec<ExpiryFact>,
    /// Groups whose review is overdue.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub overdue_reviews: Vec<ReviewFact>,
}

/// One entry with an end date, for the people concerned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExpiryFact {
    /// The group (`target: group` in a workspace).
    pub group: String,
    /// The person's email, for an entry of one person by email.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Who the entry grants, in words (an address, `user id N`, `source NAME`, `group "NAME"`).
    pub who: String,
    /// The last day of access.
    pub until: String,
    /// Days left (0: the last day; negative once passed).
    pub days_left: i64,
}

/// A group whose review is overdue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReviewFact {
    /// The group (`target: group` in a workspace).
    pub group: String,
    /// The day the review was due.
    pub due: String,
    /// Days past it.
    pub days_overdue: i64,
}

fn expiry_facts(notes: &[tallyfy_groups_core::expiry::ExpiryNote]) -> Vec<ExpiryFact> {
    notes
        .iter()
        .map(|n| ExpiryFact {
            group: tallyfy_groups_core::names::visible(&n.group).into_owned(),
            email: n.email.as_ref().map(ToString::to_string),
            who: tallyfy_groups_core::names::visible(&n.who()).into_owned(),
            until: n.until.to_string(),
            days_left: n.days,
        })
        .collect()
}

impl PlanFacts {
    /// The facts of a plan.
    pub fn of(plan: &Plan) -> Self {
        let (added, removed) = tallyfy_groups_core::render::markdown::access_counts(plan);
        let mut groups: Vec<String> = Vec::new();
        for a in &plan.actions {
            let name = match a {
                tallyfy_groups_core::plan::Action::CreateGuest { .. } => continue,
                tallyfy_groups_core::plan::Action::CreateGroup { after } | tallyfy_groups_core::plan::Action::UpdateGroup { after, .. } => {
                    &after.name
                }
                tallyfy_groups_core::plan::Action::DeleteGroup { before, .. } => &before.name,
            };
            if groups.len() < MAX_LISTED && !groups.contains(name) {
                groups.push(tallyfy_groups_core::names::visible(name).into_owned());
            }
        }
        let s = &plan.summary;
        PlanFacts {
            create: s.create,
            update: s.update,
            delete: s.delete,
            guests_to_invite: s.guests_to_invite,
            memberships_added: added,
            memberships_removed: removed,
            groups,
            expiring: expiry_facts(&plan.expiry.expiring),
            expired: expiry_facts(&plan.expiry.expired),
            overdue_reviews: plan
                .expiry
                .overdue_reviews
                .iter()
                .map(|r| ReviewFact {
                    group: tallyfy_groups_core::names::visible(&r.group).into_owned(),
                    due: r.due.to_string(),
                    days_overdue: r.days_overdue,
                })
                .collect(),
        }
    }

    fn is_empty(&self) -> bool {
        self.create + self.update + self.delete + self.guests_to_invite == 0
    }

    /// Whether people should be told something with no change to make: access ending soon, a
    /// review overdue.
    fn needs_attention(&self) -> bool {
        !self.expiring.is_empty() || !self.overdue_reviews.is_empty()
    }

    /// Adds one workspace target's facts; its groups are named `target: group`.
    pub fn add(&mut self, target: &str, other: &PlanFacts) {
        self.create += other.create;
        self.update += other.update;
        self.delete += other.delete;
        self.guests_to_invite += other.guests_to_invite;
        self.memberships_added += other.memberships_added;
        self.memberships_removed += other.memberships_removed;
        let room = MAX_LISTED.saturating_sub(self.groups.len());
        self.groups.extend(other.groups.iter().take(room).map(|g| format!("{target}: {g}")));
        let named = |f: &ExpiryFact| ExpiryFact { group: format!("{target}: {}", f.group), ..f.clone() };
        self.expiring.extend(other.expiring.iter().map(named));
        self.expired.extend(other.expired.iter().map(named));
        self.overdue_reviews
            .extend(other.overdue_reviews.iter().map(|r| ReviewFact { group: format!("{target}: {}", r.group), ..r.clone() }));
    }
}

/// The apply report's counts and its first failures.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ApplyFacts {
    /// Actions applied.
    pub applied: usize,
    /// Actions that failed.
    pub failed: usize,
    /// Actions skipped.
    pub skipped: usize,
    /// Actions whose outcome is unknown.
    pub unknown: usize,
    /// `subject: error` of the first failed or unknown actions (at most [`MAX_LISTED`]).
    pub failures: Vec<String>,
}

impl ApplyFacts {
    /// The facts of an apply report.
    pub fn of(report: &ApplyReport) -> Self {
        let (applied, failed, skipped) = report.counts();
        let failures = report
            .results
            .iter()
            .filter(|r| matches!(r.outcome, Outcome::Failed { .. } | Outcome::Unknown { .. }))
            .filter_map(|r| {
                let detail = words::outcome_detail(&r.outcome)?;
                Some(format!("{} {}: {}", words::verb(r.action), words::subject(&r.subject), first_line(&detail)))
            })
            .take(MAX_LISTED)
            .collect();
        ApplyFacts { applied, failed, skipped, unknown: report.unknown(), failures }
    }

    /// Adds one workspace target's facts; its failures are prefixed with `target: `.
    pub fn add(&mut self, target: &str, other: &ApplyFacts) {
        self.applied += other.applied;
        self.failed += other.failed;
        self.skipped += other.skipped;
        self.unknown += other.unknown;
        let room = MAX_LISTED.saturating_sub(self.failures.len());
        self.failures.extend(other.failures.iter().take(room).map(|f| format!("{target}: {f}")));
    }

    fn total(&self) -> usize {
        self.applied + self.failed + self.skipped + self.unknown
    }
}

/// Whether a run that exited with `exit_code` sends a summary, and why.
pub fn event(command: Command, exit_code: i32, facts: &Facts) -> Option<Event> {
    match (command, exit_code) {
        (Command::Plan, 0) => match &facts.plan {
            Some(p) if !p.is_empty() => Some(Event::Drift),
            Some(p) if p.needs_attention() => Some(Event::Attention),
            _ => None,
        },
        (Command::Plan, 2) => Some(Event::Drift),
        (Command::Plan, _) => Some(Event::PlanFailed),
        (Command::Apply, 0) => facts.apply.as_ref().is_some_and(|a| a.total() > 0).then_some(Event::DriftCorrected),
        (Command::Apply, _) => Some(Event::ApplyFailed),
    }
}

/// Where the run can be seen: the GitHub Actions run or the GitLab job, from their standard
/// variables (`GITHUB_SERVER_URL`, `GITHUB_REPOSITORY`, `GITHUB_RUN_ID`; `CI_JOB_URL`).
pub fn run_url(var: impl Fn(&str) -> Option<String>) -> Option<String> {
    let nonempty = |name: &str| var(name).map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
    if let (Some(server), Some(repo), Some(run)) = (nonempty("GITHUB_SERVER_URL"), nonempty("GITHUB_REPOSITORY"), nonempty("GITHUB_RUN_ID"))
    {
        return Some(format!("{}/{repo}/actions/runs/{run}", server.trim_end_matches('/')));
    }
    nonempty("CI_JOB_URL")
}

/// The JSON summary: `text` for Slack-compatible webhooks, and the same facts as fields.
pub fn payload(event: Event, command: Command, exit_code: i32, facts: &Facts, error: Option<&str>, run_url: Option<&str>) -> Value {
    let org = facts.organization.as_deref().map(|o| format!(" (organization {o})")).unwrap_or_default();
    let mut text = match event {
        Event::Drift => format!("Tallyfy groups drifted from groups.yaml{org}"),
        Event::PlanFailed => format!("Tallyfy groups drift check failed{org}, exit {exit_code}"),
        Event::DriftCorrected => format!("Tallyfy groups drifted from groups.yaml and apply corrected it{org}"),
        Event::ApplyFailed => format!("Tallyfy groups apply failed{org}, exit {exit_code}"),
        Event::Attention => format!("Tallyfy groups: access ends soon or a review is overdue{org}"),
    };
    if let Some(p) = &facts.plan
        && !p.is_empty()
        && event == Event::Drift
    {
        // Drift is said from Tallyfy's side: what changed there, and what the next apply does.
        text.push_str(&format!(": {}.", drift_words(p)));
        groups_line(&mut text, p);
    } else if let Some(p) = &facts.plan
        && !p.is_empty()
    {
        text.push_str(&format!(
            ": {} to create, {} to update, {} to delete; {} added, {} removed.",
            p.create,
            p.update,
            p.delete,
            tallyfy_groups_core::render::plural(p.memberships_added, "membership", "memberships"),
            p.memberships_removed
        ));
        groups_line(&mut text, p);
    } else {
        text.push('.');
    }
    if let Some(p) = &facts.plan {
        for f in p.expiring.iter().take(5) {
            let when = match f.days_left {
                0 => "has its last day today".to_string(),
                1 => "expires in 1 day".to_string(),
                d => format!("expires in {d} days"),
            };
            text.push_str(&format!("\n• {} in {} {when} ({})", f.who, f.group, f.until));
        }
        for r in p.overdue_reviews.iter().take(5) {
            text.push_str(&format!("\n• the review of {} is overdue (due {})", r.group, r.due));
        }
    }
    if let Some(a) = &facts.apply {
        text.push_str(&format!("\nApply: {} applied, {} failed, {} skipped, {} unknown.", a.applied, a.failed, a.skipped, a.unknown));
        for f in a.failures.iter().take(5) {
            text.push_str(&format!("\n• {f}"));
        }
    }
    let error = error.map(|e| e.chars().take(2_000).collect::<String>());
    if let Some(e) = &error {
        text.push_str(&format!("\nError: {}", first_line(e)));
    }
    if let Some(url) = run_url {
        text.push_str(&format!("\nRun: {url}"));
    }
    json!({
        "text": text,
        "tool": "tallyfy-groups",
        "version": env!("CARGO_PKG_VERSION"),
        "event": event,
        "command": command,
        "exit_code": exit_code,
        "organization": facts.organization,
        "run_url": run_url,
        "plan": facts.plan,
        "apply": facts.apply,
        "error": error,
    })
}

/// What drifted, from Tallyfy's side: "in Tallyfy, 2 memberships were added outside the file
/// (the next apply removes them), 1 group the file lists is missing (the next apply creates it)".
fn drift_words(p: &PlanFacts) -> String {
    use tallyfy_groups_core::render::plural;
    let was = |n: usize| if n == 1 { "was" } else { "were" };
    let is = |n: usize| if n == 1 { "is" } else { "are" };
    let it = |n: usize| if n == 1 { "it" } else { "them" };
    // (how many, of what, how it stands in Tallyfy, what the next apply does)
    let drifted: [(usize, (&str, &str), &str, &str); 4] = [
        (p.memberships_removed, ("membership", "memberships"), "{was} added outside the file", "removes"),
        (p.memberships_added, ("membership", "memberships"), "the file lists {is} missing", "adds"),
        (p.create, ("group", "groups"), "the file lists {is} missing", "creates"),
        (p.delete, ("group", "groups"), "the file no longer wants {is} still there", "deletes"),
    ];
    let mut parts: Vec<String> = drifted
        .iter()
        .filter(|(n, ..)| *n > 0)
        .map(|&(n, (one, many), stands, does)| {
            let stands = stands.replace("{was}", was(n)).replace("{is}", is(n));
            format!("{} {stands} (the next apply {does} {})", plural(n, one, many), it(n))
        })
        .collect();
    // Updates that change no membership: a name or a description.
    if p.update > 0 && p.memberships_added + p.memberships_removed == 0 {
        parts.push(format!(
            "{} from the file (the next apply updates {})",
            plural(p.update, "group differs", "groups differ"),
            it(p.update)
        ));
    }
    if p.guests_to_invite > 0 {
        parts.push(format!("{} to invite", plural(p.guests_to_invite, "guest", "guests")));
    }
    format!("in Tallyfy, {}", parts.join(", "))
}

/// "Groups: A, B and 3 more".
fn groups_line(text: &mut String, p: &PlanFacts) {
    if !p.groups.is_empty() {
        let listed = p.groups.len() as isize;
        let more = (p.create + p.update + p.delete) as isize - listed;
        text.push_str(&format!("\nGroups: {}{}", p.groups.join(", "), if more > 0 { format!(" and {more} more") } else { String::new() }));
    }
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or_default()
}

/// A webhook URL, checked, with everything of it that could be secret kept for scrubbing.
#[derive(Clone)]
pub struct Webhook {
    url: Secret,
    /// The URL, its path and query, and its query alone: replaced by `***` in any text shown.
    secrets: Vec<String>,
    http: reqwest::Client,
}

impl std::fmt::Debug for Webhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Webhook(***)")
    }
}

impl Webhook {
    /// Checks the URL: https, or http on loopback only. The error never shows the URL.
    pub fn new(url: &Secret) -> Result<Self, String> {
        let text = url.expose().trim();
        let parsed =
            url::Url::parse(text).map_err(|_| "the --notify URL is not a valid URL (it is not shown: it is a secret)".to_string())?;
        let loopback = match parsed.host() {
            Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            None => return Err("the --notify URL has no host".into()),
        };
        match parsed.scheme() {
            "https" => {}
            "http" if loopback => {}
            "http" => return Err("the --notify URL uses plain http:// on a non-loopback host; use https:// (the URL is a secret)".into()),
            _ => return Err("the --notify URL must start with https://".into()),
        }
        let mut secrets = vec![text.to_string(), parsed.to_string()];
        let path_and_query = &parsed[url::Position::BeforePath..];
        if path_and_query.len() >= 6 {
            secrets.push(path_and_query.to_string());
        }
        if parsed.path().len() >= 6 {
            secrets.push(parsed.path().to_string());
        }
        if let Some(q) = parsed.query().filter(|q| q.len() >= 6) {
            secrets.push(q.to_string());
        }
        // Longest first, so a shorter secret never leaves part of a longer one behind.
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut builder = reqwest::Client::builder()
            .timeout(Duration::from_secs(20))
            .connect_timeout(Duration::from_secs(10))
            .user_agent(concat!("tallyfy-groups/", env!("CARGO_PKG_VERSION")))
            .redirect(reqwest::redirect::Policy::none());
        if parsed.scheme() == "http" {
            builder = builder.no_proxy();
        }
        let http = builder.build().map_err(|e| format!("could not set up the HTTP client: {}", e.without_url()))?;
        Ok(Webhook { url: Secret::new(text), secrets, http })
    }

    /// Replaces every part of the URL that could be secret with `***`.
    pub fn scrub(&self, text: &str) -> String {
        self.secrets.iter().fold(text.to_string(), |t, s| t.replace(s.as_str(), "***"))
    }

    /// Posts the summary; tries again on 429, 5xx and no answer. The error never shows the URL.
    ///
    /// A `stop` (Ctrl-C, SIGTERM) ends it: no try starts after it, a wait for the next try ends
    /// at once, and a try in flight is abandoned after the stop's grace.
    pub async fn send(&self, payload: &Value, retry_delay: Duration, stop: &tallyfy_groups_api::Stop) -> Result<(), String> {
        let mut retries = Retries::new(ATTEMPTS, retry_delay, MAX_RETRY_AFTER);
        loop {
            if stop.is_requested() {
                return Err("interrupted (Ctrl-C or SIGTERM) before it was sent".into());
            }
            let request = self
                .http
                .post(self.url.expose())
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(payload.to_string())
                .send();
            let sent = tokio::select! {
                sent = request => sent,
                () = stop.abandoned() => return Err("interrupted (Ctrl-C or SIGTERM) while it was being sent".into()),
            };
            let (failure, retry_after) = match sent {
                Err(e) => (format!("no answer: {}", describe(&e.without_url())), None),
                Ok(response) => {
                    let status = response.status();
                    let retry_after = retry_after_of(response.headers());
                    if status.is_success() {
                        return Ok(());
                    }
                    let body = response.text().await.unwrap_or_default();
                    let body: String = body.chars().take(300).collect();
                    let body = tallyfy_groups_core::names::visible(&body);
                    let failure = format!("HTTP {status}{}", if body.is_empty() { String::new() } else { format!(": {body}") });
                    if status.is_redirection() || !(status.as_u16() == 429 || status.is_server_error()) {
                        return Err(self.scrub(&failure));
                    }
                    (failure, retry_after)
                }
            };
            let attempt = retries.attempt();
            let Some(delay) = retries.next_pause(retry_after) else { return Err(self.scrub(&failure)) };
            warn!(attempt, "the notification was not delivered ({}); trying again", self.scrub(&failure));
            if !pause_unless_stopped(delay, stop).await {
                return Err(format!("interrupted (Ctrl-C or SIGTERM) while waiting to try again after: {}", self.scrub(&failure)));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drift() -> Facts {
        Facts {
            organization: Some("acme".into()),
            plan: Some(PlanFacts {
                create: 1,
                update: 2,
                delete: 0,
                guests_to_invite: 1,
                memberships_added: 3,
                memberships_removed: 1,
                groups: vec!["Finance".into(), "Ops".into(), "Sales".into()],
                ..PlanFacts::default()
            }),
            apply: None,
            error: None,
        }
    }

    #[test]
    fn only_drift_and_failures_are_sent() {
        let none = Facts::default();
        let empty_plan = Facts { plan: Some(PlanFacts::default()), ..Facts::default() };
        assert_eq!(event(Command::Plan, 0, &empty_plan), None);
        assert_eq!(event(Command::Plan, 0, &drift()), Some(Event::Drift), "changes without --detailed-exitcode");
        assert_eq!(event(Command::Plan, 2, &drift()), Some(Event::Drift));
        assert_eq!(event(Command::Plan, 1, &none), Some(Event::PlanFailed));
        assert_eq!(event(Command::Plan, 3, &drift()), Some(Event::PlanFailed), "a refused plan is a failed check");
        let applied = Facts { apply: Some(ApplyFacts { applied: 2, ..ApplyFacts::default() }), ..Facts::default() };
        assert_eq!(event(Command::Apply, 0, &none), None, "nothing to do");
        assert_eq!(event(Command::Apply, 0, &applied), Some(Event::DriftCorrected));
        assert_eq!(event(Command::Apply, 1, &applied), Some(Event::ApplyFailed));
        assert_eq!(event(Command::Apply, 3, &none), Some(Event::ApplyFailed));
        assert_eq!(event(Command::Apply, 130, &none), Some(Event::ApplyFailed));
    }

    #[test]
    fn access_ending_soon_or_an_overdue_review_is_sent_without_changes() {
        let soon = ExpiryFact {
            group: "Audit".into(),
            email: Some("bob@x.example".into()),
            who: "bob@x.example".into(),
            until: "2026-12-31".into(),
            days_left: 5,
        };
        let review = ReviewFact { group: "Audit".into(), due: "2026-11-30".into(), days_overdue: 3 };
        let facts = Facts {
            plan: Some(PlanFacts { expiring: vec![soon], overdue_reviews: vec![review], ..PlanFacts::default() }),
            ..Facts::default()
        };
        assert_eq!(event(Command::Plan, 0, &facts), Some(Event::Attention));
        let sent = payload(Event::Attention, Command::Plan, 0, &facts, None, None);
        assert_eq!(sent["event"], "attention");
        assert_eq!(sent["plan"]["expiring"][0]["email"], "bob@x.example");
        assert_eq!(sent["plan"]["expiring"][0]["days_left"], 5);
        assert_eq!(sent["plan"]["overdue_reviews"][0]["due"], "2026-11-30");
        assert_eq!(
            sent["text"],
            "Tallyfy groups: access ends soon or a review is overdue.\n• bob@x.example in Audit expires in 5 days (2026-12-31)\n• the review of Audit is overdue (due 2026-11-30)"
        );
        // Added across a workspace's targets, named by target.
        let mut all = PlanFacts::default();
        all.add("prod", facts.plan.as_ref().expect("plan"));
        assert_eq!(all.expiring[0].group, "prod: Audit");
    }

    #[test]
    fn the_summary_reads_well_and_carries_the_fields() {
        let url = "https://github.com/o/r/actions/runs/42";
        let mut drift = payload(Event::Drift, Command::Plan, 2, &drift(), None, Some(url));
        assert_eq!(drift["version"], env!("CARGO_PKG_VERSION"));
        drift["version"] = json!("VERSION");
        insta::assert_json_snapshot!(drift, @r#"
        {
          "apply": null,
          "command": "plan",
          "error": null,
          "event": "drift",
          "exit_code": 2,
          "organization": "acme",
          "plan": {
            "create": 1,
            "delete": 0,
            "groups": [
              "Finance",
              "Ops",
              "Sales"
            ],
            "guests_to_invite": 1,
            "memberships_added": 3,
            "memberships_removed": 1,
            "update": 2
          },
          "run_url": "https://github.com/o/r/actions/runs/42",
          "text": "Tallyfy groups drifted from groups.yaml (organization acme): in Tallyfy, 1 membership was added outside the file (the next apply removes it), 3 memberships the file lists are missing (the next apply adds them), 1 group the file lists is missing (the next apply creates it), 1 guest to invite.\nGroups: Finance, Ops, Sales\nRun: https://github.com/o/r/actions/runs/42",
          "tool": "tallyfy-groups",
          "version": "VERSION"
        }
        "#);
        let failed = Facts {
            organization: Some("acme".into()),
            plan: None,
            apply: Some(ApplyFacts {
                applied: 1,
                failed: 1,
                skipped: 0,
                unknown: 0,
                failures: vec!["update group \"Ops\": 422 name taken".into()],
            }),
            error: None,
        };
        let p = payload(Event::ApplyFailed, Command::Apply, 1, &failed, Some("1 action failed\n  more"), None);
        assert_eq!(
            p["text"],
            "Tallyfy groups apply failed (organization acme), exit 1.\nApply: 1 applied, 1 failed, 0 skipped, 0 unknown.\n• update group \"Ops\": 422 name taken\nError: 1 action failed"
        );
        assert_eq!(p["error"], "1 action failed\n  more");
    }

    #[test]
    fn the_run_is_found_in_github_or_gitlab_variables() {
        fn vars(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
            move |k: &str| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string())
        }
        const GH: &[(&str, &str)] = &[("GITHUB_SERVER_URL", "https://github.com/"), ("GITHUB_REPOSITORY", "o/r"), ("GITHUB_RUN_ID", "7")];
        let gh = GH;
        assert_eq!(run_url(vars(gh)).as_deref(), Some("https://github.com/o/r/actions/runs/7"));
        assert_eq!(run_url(vars(&[("CI_JOB_URL", "https://gitlab.com/g/p/-/jobs/9")])).as_deref(), Some("https://gitlab.com/g/p/-/jobs/9"));
        assert_eq!(run_url(vars(&[("GITHUB_RUN_ID", "7")])), None);
    }

    #[test]
    fn the_url_is_checked_without_being_shown() {
        for (bad, why) in [
            ("hooks.example.com/services/SECRET123", "not a valid URL"),
            ("http://hooks.example.com/services/SECRET123", "plain http://"),
            ("ftp://hooks.example.com/services/SECRET123", "https://"),
        ] {
            let e = Webhook::new(&Secret::new(bad)).expect_err(bad);
            assert!(e.contains(why) && !e.contains("SECRET123"), "{e}");
        }
        let hook = Webhook::new(&Secret::new("https://hooks.example.com/services/T0/B0/SECRET123?token=QSECRET")).expect("valid");
        let text = hook.scrub("POST https://hooks.example.com/services/T0/B0/SECRET123?token=QSECRET failed; path /services/T0/B0/SECRET123?token=QSECRET; q token=QSECRET");
        assert!(!text.contains("SECRET"), "{text}");
        assert_eq!(format!("{hook:?}"), "Webhook(***)");
        assert!(Webhook::new(&Secret::new("http://127.0.0.1:9/hook")).is_ok());
    }
}
