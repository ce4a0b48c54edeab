//! The policy file: rules a plan must satisfy before it passes `plan` or is applied (group sizes,
//! the domains of members and guests, groups that must never be deleted, how much one plan may
//! change a group, guests only for a time). Named by the pipeline (`--policy`, a workspace
//! target's `policy:`), never by the groups files, so that a change cannot switch its own check
//! off. Rules judge the plan, after renames, prune, sources and expiry: every group it creates or
//! updates as it will be, and every group it deletes; a group the plan leaves alone is not judged.
//! Read with the loader's YAML reader and deserializer, so its messages read like groups.yaml's.
//! Pure; no I/O (the caller reads the file).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::desired::de::{self, Problems, What};
use crate::desired::parse::{self, Kind};
use crate::desired::raw::Field;
use crate::desired::{Diagnostic, Diagnostics, Location};
use crate::diff::DeleteReason;
use crate::model::{Email, UserId, name_key};
use crate::plan::{Action, GroupState, Plan};

const KIND: Kind = Kind {
    name: "policy.yaml",
    top_key: "rules",
    empty_hint: "start it with `rules:` followed by one rule per line of policy: an `id`, the `groups` it judges, and a check such as `max_members: 25`",
    depth_hint: "a policy file needs only four levels: rules → rule → key → list",
    documents_hint: "merge the documents into one `rules:` list",
};

/// The policy file as written.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawPolicy {
    /// The rules; every rule is checked against every plan.
    pub rules: Field<Vec<Field<RawRule>>>,
}

/// One rule: an id, the groups it judges and at least one check.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawRule {
    /// The rule's id, unique in the file: violations name it, and `--allow-policy ID="why"` overrides it.
    #[schemars(length(min = 1))]
    pub id: Field<String>,
    /// What the rule is for, for people reading the file.
    #[serde(default)]
    pub description: Field<String>,
    /// The groups the rule judges: globs over group names, as `ignore` uses (ignoring case). Every glob must match a group, live or in the files.
    #[serde(default)]
    pub groups: Field<Vec<Field<String>>>,
    /// At most this many people (members and guests) in each judged group.
    #[serde(default)]
    pub max_members: Field<u32>,
    /// At least this many people (members and guests) in each judged group.
    #[serde(default)]
    pub min_members: Field<u32>,
    /// Members' email domains allowed (an allow-list; a subdomain is not its parent).
    #[serde(default)]
    pub member_domains: Field<Vec<Field<String>>>,
    /// Members' email domains refused.
    #[serde(default)]
    pub deny_member_domains: Field<Vec<Field<String>>>,
    /// Guests' email domains allowed (an allow-list).
    #[serde(default)]
    pub guest_domains: Field<Vec<Field<String>>>,
    /// Guests' email domains refused.
    #[serde(default)]
    pub deny_guest_domains: Field<Vec<Field<String>>>,
    /// Groups no plan may delete (by `absent`, by `prune`, by removal from the file) or rename away: globs over group names.
    #[serde(default)]
    pub forbid_delete: Field<Vec<Field<String>>>,
    /// At most this many people added and removed in one judged group by one plan.
    #[serde(default)]
    pub max_changes_per_group: Field<u32>,
    /// At most this many people removed from one judged group by one plan (a deleted group's people count).
    #[serde(default)]
    pub max_removals_per_group: Field<u32>,
    /// Every guest the files grant in a judged group must have an `until` (temporary access).
    #[serde(default)]
    pub guests_require_until: Field<bool>,
}

/// A glob over group names, with where it is written.
#[derive(Debug, Clone)]
pub struct NameGlob {
    /// As written.
    pub text: String,
    pattern: glob::Pattern,
    /// Where it is written.
    pub at: Location,
}

impl NameGlob {
    /// Whether it matches this group name (ignoring case and Unicode form).
    pub fn matches(&self, name: &str) -> bool {
        self.pattern.matches(&name_key(name))
    }
}

/// An allow-list or a deny-list of email domains.
#[derive(Debug, Clone, Default)]
pub struct Domains {
    /// Allowed (empty: any).
    pub allow: BTreeSet<String>,
    /// Refused.
    pub deny: BTreeSet<String>,
}

impl Domains {
    fn is_set(&self) -> bool {
        !self.allow.is_empty() || !self.deny.is_empty()
    }

    /// Whether an address of this domain passes: a denied domain's subdomains are denied too
    /// (`mail.gmail.com` under `gmail.com`); an allowed domain's are not (a subdomain may be
    /// anyone's).
    fn admits(&self, domain: &str) -> bool {
        let denied = self.deny.iter().any(|d| domain == d || domain.strip_suffix(d.as_str()).is_some_and(|rest| rest.ends_with('.')));
        !denied && (self.allow.is_empty() || self.allow.contains(domain))
    }
}

/// One checked rule.
#[derive(Debug, Clone)]
pub struct Rule {
    /// Its id.
    pub id: String,
    /// The groups it judges.
    pub groups: Vec<NameGlob>,
    /// `max_members`.
    pub max_members: Option<u32>,
    /// `min_members`.
    pub min_members: Option<u32>,
    /// `member_domains` and `deny_member_domains`.
    pub member_domains: Domains,
    /// `guest_domains` and `deny_guest_domains`.
    pub guest_domains: Domains,
    /// `forbid_delete`.
    pub forbid_delete: Vec<NameGlob>,
    /// `max_changes_per_group`.
    pub max_changes_per_group: Option<u32>,
    /// `max_removals_per_group`.
    pub max_removals_per_group: Option<u32>,
    /// `guests_require_until`.
    pub guests_require_until: bool,
    /// Where the rule is written.
    pub at: Location,
}

impl Rule {
    fn judges(&self, name: &str) -> bool {
        self.groups.iter().any(|g| g.matches(name))
    }

    fn protects(&self, name: &str) -> bool {
        self.forbid_delete.iter().any(|g| g.matches(name))
    }
}

/// A parsed and checked policy file.
#[derive(Debug, Clone)]
pub struct Policy {
    /// The file's name as given (used in messages and recorded in plans).
    pub file: String,
    /// `sha256:` and the hex digest of the file's bytes: which policy a plan was checked against.
    pub checksum: String,
    /// In file order.
    pub rules: Vec<Rule>,
}

/// Parses and checks a policy file. Every problem at once, located.
pub fn parse(file: &str, text: &str) -> Result<Policy, Diagnostics> {
    let name: Arc<str> = Arc::from(file);
    let (node, duplicates) = parse::read_document(&name, text, &KIND).map_err(Diagnostics)?;
    let problems = Problems::new(name);
    for d in duplicates {
        problems.push(Diagnostic::at(&d.at, format!("`{}` is written twice (first on line {})", d.key, d.first_line)));
    }
    let mut rules: Vec<Rule> = Vec::new();
    if let Some(raw) = de::from_node::<RawPolicy>(&node, What::Named("the file"), &problems) {
        match raw.rules.get() {
            None if !raw.rules.is_given() => problems.error_hint(node.span(), "missing `rules:`", KIND.empty_hint),
            None => {}
            Some((span, list)) => {
                if list.is_empty() {
                    problems.error_hint(span, "`rules` is empty: the policy would check nothing", KIND.empty_hint);
                }
                for (span, r) in list.iter().filter_map(Field::get) {
                    if let Some(rule) = rule(&problems, span, r) {
                        if let Some(first) = rules.iter().find(|o| o.id == rule.id) {
                            problems.error_hint(
                                span,
                                format!("rule id `{}` is used twice (first on line {})", rule.id, first.at.line),
                                "give every rule its own id: violations and --allow-policy name rules by id",
                            );
                            continue;
                        }
                        rules.push(rule);
                    }
                }
            }
        }
    }
    let diags = problems.into_vec();
    if !diags.is_empty() {
        return Err(Diagnostics(diags));
    }
    Ok(Policy { file: file.to_string(), checksum: format!("sha256:{}", crate::saved::sha256_hex(text.as_bytes())), rules })
}

fn globs(p: &Problems, field: &Field<Vec<Field<String>>>, key: &str) -> Vec<NameGlob> {
    let mut out = Vec::new();
    for (s, g) in field.value().into_iter().flatten().filter_map(Field::get) {
        match glob::Pattern::new(&name_key(g.trim())) {
            Ok(pattern) if !g.trim().is_empty() => out.push(NameGlob { text: g.trim().to_string(), pattern, at: p.loc(s) }),
            Ok(_) => p.error(s, format!("a `{key}` glob is empty")),
            Err(e) => p.error_hint(s, format!("`{g}` is not a valid glob: {}", e.msg), "use `*` for any text, such as `Finance *`"),
        }
    }
    if field.value().is_some_and(Vec::is_empty)
        && let Some(s) = field.span()
    {
        p.error_hint(s, format!("`{key}` is empty"), "list at least one group name or glob, or remove the key");
    }
    out
}

fn domains(p: &Problems, field: &Field<Vec<Field<String>>>, key: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for (s, d) in field.value().into_iter().flatten().filter_map(Field::get) {
        let domain = {
            use unicode_normalization::UnicodeNormalization;
            d.trim().trim_start_matches('@').nfkc().collect::<String>().to_lowercase().trim_end_matches('.').to_string()
        };
        if domain.is_empty() || !domain.contains('.') || domain.contains(|c: char| c.is_whitespace() || c == '@' || c == '*') {
            p.error_hint(s, format!("`{d}` is not an email domain"), format!("write domains as `example.com`, one per `{key}` entry"));
        } else {
            out.insert(domain);
        }
    }
    if field.value().is_some_and(Vec::is_empty)
        && let Some(s) = field.span()
    {
        p.error_hint(s, format!("`{key}` is empty"), "list at least one domain, or remove the key");
    }
    out
}

fn rule(p: &Problems, span: &marked_yaml::Span, r: &RawRule) -> Option<Rule> {
    let at = p.loc(span);
    let id = match r.id.get() {
        Some((s, id)) => {
            let id = id.trim();
            if id.is_empty() || id.contains(|c: char| c.is_whitespace() || c == '=' || c == ',') {
                p.error_hint(s, format!("`{id}` is not a rule id"), "use letters, digits, `-` and `_`, such as `finance-size`");
                return None;
            }
            id.to_string()
        }
        None => {
            if !r.id.is_given() {
                p.error_hint(
                    span,
                    "a rule has no `id`",
                    "add `id:` with a short name, such as `finance-size`: violations and overrides name it",
                );
            }
            return None;
        }
    };
    let rule = Rule {
        groups: globs(p, &r.groups, "groups"),
        max_members: r.max_members.value().copied(),
        min_members: r.min_members.value().copied(),
        member_domains: Domains {
            allow: domains(p, &r.member_domains, "member_domains"),
            deny: domains(p, &r.deny_member_domains, "deny_member_domains"),
        },
        guest_domains: Domains {
            allow: domains(p, &r.guest_domains, "guest_domains"),
            deny: domains(p, &r.deny_guest_domains, "deny_guest_domains"),
        },
        forbid_delete: globs(p, &r.forbid_delete, "forbid_delete"),
        max_changes_per_group: r.max_changes_per_group.value().copied(),
        max_removals_per_group: r.max_removals_per_group.value().copied(),
        guests_require_until: r.guests_require_until.value().copied().unwrap_or(false),
        at,
        id,
    };
    // What was written, not what survived its own checks: a bad domain is its own problem, not
    // also a rule that checks nothing.
    let group_checks = [
        r.max_members.is_given(),
        r.min_members.value().is_some_and(|&m| m > 0),
        r.member_domains.is_given(),
        r.deny_member_domains.is_given(),
        r.guest_domains.is_given(),
        r.deny_guest_domains.is_given(),
        r.max_changes_per_group.is_given(),
        r.max_removals_per_group.is_given(),
        r.guests_require_until.value().copied().unwrap_or(false),
    ]
    .contains(&true);
    if !group_checks && !r.forbid_delete.is_given() {
        p.error_hint(
            span,
            format!("rule `{}` checks nothing", rule.id),
            "add a check: max_members, min_members, member_domains, guest_domains, forbid_delete, max_changes_per_group, max_removals_per_group or guests_require_until",
        );
        return None;
    }
    if group_checks && !r.groups.is_given() {
        p.error_hint(
            span,
            format!("rule `{}` has checks but no `groups`", rule.id),
            "add `groups:` with the names (or globs, such as `\"*\"`) of the groups it judges",
        );
        return None;
    }
    if !group_checks && r.groups.is_given() {
        let s = r.groups.span().unwrap_or(span);
        p.error_hint(
            s,
            format!("rule `{}` names `groups` but checks nothing about them", rule.id),
            "`forbid_delete` names its own groups: remove `groups`, or add a check such as `max_members`",
        );
        return None;
    }
    if let (Some(min), Some(max)) = (rule.min_members, rule.max_members)
        && min > max
    {
        p.error(span, format!("rule `{}`: min_members ({min}) is more than max_members ({max})", rule.id));
        return None;
    }
    Some(rule)
}

/// What a violation is.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ViolationKind {
    /// More people than `max_members`.
    TooManyMembers {
        /// People the group would have.
        count: usize,
        /// The rule's limit.
        max: u32,
    },
    /// Fewer people than `min_members`.
    TooFewMembers {
        /// People the group would have.
        count: usize,
        /// The rule's limit.
        min: u32,
    },
    /// A member whose domain the rule does not allow.
    MemberDomain {
        /// The member's domain.
        domain: String,
    },
    /// A guest whose domain the rule does not allow.
    GuestDomain {
        /// The guest's domain.
        domain: String,
    },
    /// A group the rule protects is deleted.
    ForbiddenDelete {
        /// Why the plan deletes it.
        reason: DeleteReason,
    },
    /// A group the rule protects is renamed to a name it does not protect.
    RenamedAway {
        /// The new name.
        to: String,
    },
    /// More people added and removed than `max_changes_per_group`.
    TooManyChanges {
        /// People added and removed.
        count: usize,
        /// The rule's limit.
        max: u32,
    },
    /// More people removed than `max_removals_per_group`.
    TooManyRemovals {
        /// People removed.
        count: usize,
        /// The rule's limit.
        max: u32,
    },
    /// A guest the files grant without an `until`.
    GuestWithoutUntil,
}

/// One violation of one rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Violation {
    /// The rule's id.
    pub rule: String,
    /// The group, as it will be named (a deleted group: as it was).
    pub group: String,
    /// The person it is about (an email, or `user id N`), when it is about one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// What is wrong.
    #[serde(flatten)]
    pub kind: ViolationKind,
    /// The `file:line:col` (or source) that caused it, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<String>,
    /// Overridden for this run with `--allow-policy`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub overridden: bool,
}

/// A rule overridden for one run, with why.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PolicyOverride {
    /// The rule's id.
    pub rule: String,
    /// Why.
    pub reason: String,
}

/// What the policy said of a plan.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyReport {
    /// The policy file, as named.
    pub file: String,
    /// Its checksum.
    pub checksum: String,
    /// Every violation, in rule order, then by group and person.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub violations: Vec<Violation>,
    /// The rules overridden for this run (`--allow-policy`; a saved plan's are sealed in it).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub overrides: Vec<PolicyOverride>,
}

impl PolicyReport {
    /// Records the overrides and marks the violations they cover.
    pub fn allow(&mut self, overrides: &[PolicyOverride]) {
        for o in overrides {
            if !self.overrides.iter().any(|x| x.rule == o.rule) {
                self.overrides.push(o.clone());
            }
        }
        self.overrides.sort();
        for v in &mut self.violations {
            v.overridden = self.overrides.iter().any(|o| o.rule == v.rule);
        }
    }

    /// The violations no override covers: any stops the plan.
    pub fn blocking(&self) -> impl Iterator<Item = &Violation> {
        self.violations.iter().filter(|v| !v.overridden)
    }
}

/// What the rules are judged against beside the plan.
#[derive(Debug, Clone, Default)]
pub struct Context {
    /// Every group name a rule may mean: the live groups' and the files'. A glob that matches
    /// none of them is an error (most likely a typo).
    pub names: Vec<String>,
    /// Where each group of the files is declared (`file:line:col`), by folded name.
    pub declared: BTreeMap<String, String>,
}

/// Judges the plan: every violation of every rule, or (the gate fails closed) the globs that
/// match no group and the overrides that name no rule, as located problems.
pub fn evaluate(policy: &Policy, plan: &Plan, context: &Context, overrides: &[PolicyOverride]) -> Result<PolicyReport, Diagnostics> {
    let mut problems = Vec::new();
    for rule in &policy.rules {
        for g in rule.groups.iter().chain(&rule.forbid_delete) {
            if !context.names.iter().any(|n| g.matches(n)) {
                problems.push(
                    Diagnostic::at(&g.at, format!("rule `{}`: \"{}\" matches no group, live or in the files", rule.id, g.text))
                        .with_hint("check the name for a typo (globs ignore case); a rule that matches nothing checks nothing"),
                );
            }
        }
    }
    for (i, o) in overrides.iter().enumerate() {
        if overrides[..i].iter().any(|earlier| earlier.rule == o.rule) {
            problems.push(Diagnostic {
                at: None,
                message: format!("--allow-policy names rule `{}` twice", o.rule),
                hint: Some("give one reason per rule".to_string()),
            });
        }
        if !policy.rules.iter().any(|r| r.id == o.rule) {
            let ids: Vec<&str> = policy.rules.iter().map(|r| r.id.as_str()).collect();
            problems.push(Diagnostic {
                at: None,
                message: format!("--allow-policy names rule `{}`, which {} does not have", o.rule, policy.file),
                hint: Some(format!("its rules are: {}", ids.join(", "))),
            });
        }
    }
    if !problems.is_empty() {
        return Err(Diagnostics(problems));
    }
    let mut violations = Vec::new();
    for (order, rule) in policy.rules.iter().enumerate() {
        let mut found = Vec::new();
        for action in &plan.actions {
            judge(rule, action, plan, context, &mut found);
        }
        found.sort_by(|a: &Violation, b: &Violation| (&a.group, &a.subject, &a.kind).cmp(&(&b.group, &b.subject, &b.kind)));
        violations.extend(found.into_iter().map(|v| (order, v)));
    }
    let mut report = PolicyReport {
        file: policy.file.clone(),
        checksum: policy.checksum.clone(),
        violations: violations.into_iter().map(|(_, v)| v).collect(),
        overrides: Vec::new(),
    };
    report.allow(overrides);
    Ok(report)
}

fn judge(rule: &Rule, action: &Action, plan: &Plan, context: &Context, out: &mut Vec<Violation>) {
    let declared = |name: &str| context.declared.get(&name_key(name)).cloned();
    let violation = |group: &str, subject: Option<String>, kind: ViolationKind, at: Option<String>| Violation {
        rule: rule.id.clone(),
        group: group.to_string(),
        subject,
        kind,
        at: at.or_else(|| declared(group)),
        overridden: false,
    };
    match action {
        Action::CreateGuest { .. } => {}
        Action::DeleteGroup { before, reason, .. } => {
            if rule.protects(&before.name) {
                out.push(violation(&before.name, None, ViolationKind::ForbiddenDelete { reason: *reason }, None));
            }
            if rule.judges(&before.name) {
                let removed = before.membership_count();
                sizes_of_change(rule, &before.name, removed, removed, None, &violation, out);
            }
        }
        Action::CreateGroup { after } => {
            if rule.judges(&after.name) {
                judge_after(rule, None, after, plan, &violation, out);
            }
        }
        Action::UpdateGroup { before, after, renamed_from, .. } => {
            if let Some(old) = renamed_from
                && rule.protects(old)
                && !rule.protects(&after.name)
            {
                out.push(violation(old, None, ViolationKind::RenamedAway { to: after.name.clone() }, declared(&after.name)));
            }
            // A rename does not take a group out of a rule: the rules of its old name judge it
            // too (a group renamed and emptied in one change is still emptied).
            if rule.judges(&after.name) || renamed_from.as_deref().is_some_and(|old| rule.judges(old)) {
                judge_after(rule, Some(before), after, plan, &violation, out);
            }
        }
    }
}

/// Judges a group as the plan leaves it (created or updated), for a rule that covers it.
fn judge_after<F>(rule: &Rule, before: Option<&GroupState>, after: &GroupState, plan: &Plan, violation: &F, out: &mut Vec<Violation>)
where
    F: Fn(&str, Option<String>, ViolationKind, Option<String>) -> Violation,
{
    let name = after.name.as_str();
    let count = after.membership_count();
    if let Some(max) = rule.max_members
        && count > max as usize
    {
        out.push(violation(name, None, ViolationKind::TooManyMembers { count, max }, None));
    }
    if let Some(min) = rule.min_members
        && count < min as usize
    {
        out.push(violation(name, None, ViolationKind::TooFewMembers { count, min }, None));
    }
    let provenance = plan.provenance.get(name);
    let member_at = |id: UserId| provenance.and_then(|p| p.member(id).first()).map(at_of);
    let guest_at = |e: &Email| provenance.and_then(|p| p.guest(e).first()).map(at_of);
    if rule.member_domains.is_set() {
        for id in &after.members {
            let Some(user) = plan.users.get(id) else { continue };
            let domain = domain_of(&user.email);
            if !rule.member_domains.admits(&domain) {
                out.push(violation(name, Some(user.email.to_string()), ViolationKind::MemberDomain { domain }, member_at(*id)));
            }
        }
    }
    if rule.guest_domains.is_set() {
        for g in &after.guests {
            let domain = domain_of(g);
            if !rule.guest_domains.admits(&domain) {
                out.push(violation(name, Some(g.to_string()), ViolationKind::GuestDomain { domain }, guest_at(g)));
            }
        }
    }
    if rule.guests_require_until {
        for g in &after.guests {
            let origins = provenance.map(|p| p.guest(g)).unwrap_or_default();
            // Only the guests the files grant: a guest a group keeps from live state has no entry
            // to give an `until` to.
            if origins.is_empty() {
                continue;
            }
            // Every entry that grants the guest must end: a typed entry by its own `until`, a
            // source's by the `until` of the `{source}` entry.
            let key = name_key(name);
            let notes: Vec<&crate::expiry::ExpiryNote> =
                plan.expiry.ongoing.iter().filter(|n| name_key(&n.group) == key && n.list == crate::expiry::List::Guests).collect();
            let dated = origins.iter().all(|o| match o {
                crate::source::Provenance::Static { .. } => notes.iter().any(|n| n.email.as_ref() == Some(g)),
                crate::source::Provenance::Source { source, .. } => notes.iter().any(|n| n.source.as_deref() == Some(source.as_str())),
            });
            if !dated {
                out.push(violation(name, Some(g.to_string()), ViolationKind::GuestWithoutUntil, guest_at(g)));
            }
        }
    }
    let (added, removed) = match before {
        None => (count, 0),
        Some(b) => {
            let added = after.members.iter().filter(|m| !b.members.contains(m)).count()
                + after.guests.iter().filter(|g| !b.guests.contains(g)).count();
            let removed = b.members.iter().filter(|m| !after.members.contains(m)).count()
                + b.guests.iter().filter(|g| !after.guests.contains(g)).count();
            (added, removed)
        }
    };
    sizes_of_change(rule, name, added + removed, removed, None, violation, out);
}

fn sizes_of_change<F>(rule: &Rule, name: &str, changes: usize, removals: usize, at: Option<String>, violation: &F, out: &mut Vec<Violation>)
where
    F: Fn(&str, Option<String>, ViolationKind, Option<String>) -> Violation,
{
    if let Some(max) = rule.max_changes_per_group
        && changes > max as usize
    {
        out.push(violation(name, None, ViolationKind::TooManyChanges { count: changes, max }, at.clone()));
    }
    if let Some(max) = rule.max_removals_per_group
        && removals > max as usize
    {
        out.push(violation(name, None, ViolationKind::TooManyRemovals { count: removals, max }, at));
    }
}

/// A provenance as a place: a file entry's `file:line:col`, a source's `kind:name[:line]`.
fn at_of(p: &crate::source::Provenance) -> String {
    match p {
        crate::source::Provenance::Static { at } => at.clone(),
        source @ crate::source::Provenance::Source { .. } => source.to_string(),
    }
}

/// The domain of an address, in Unicode compatibility form and lower case (`ｇmail.com` is
/// `gmail.com`), without a trailing dot.
fn domain_of(email: &Email) -> String {
    use unicode_normalization::UnicodeNormalization;
    let domain = email.as_str().rsplit_once('@').map(|(_, d)| d).unwrap_or_default();
    domain.nfkc().collect::<String>().to_lowercase().trim_end_matches('.').to_string()
}

#[cfg(test)]
mod tests;
