//! Prioritization and assignment of a ticket after a change (create or update).

use std::cmp::Ordering;
use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::matcher::{Hit, utf16_offset};
use crate::model::{Priority, PrioritySource, Ticket, User};
use crate::ruleset::{PrioritizationRule, RuleSet, TextField};
use crate::trace::{ConditionCheck, RuleKind, Text, TraceEntry};
use crate::write::{concat, push_u64};

/// How prioritization came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(feature = "tsify", derive(tsify::Tsify))]
#[cfg_attr(feature = "tsify", tsify(missing_as_null))]
#[serde(rename_all = "snake_case")]
pub enum PrioritizationOutcome {
    /// The ticket had no priority; the winning rule set it.
    SetByRule,
    /// The ticket had no priority and no rule matched; the rule set's default applies.
    Default,
    /// A rule raised the priority.
    Raised,
    /// A rule that opts into lowering lowered it.
    Lowered,
    /// The priority stays as it was.
    Kept,
}

/// A keyword occurrence that made a rule match, for highlighting.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(feature = "tsify", derive(tsify::Tsify))]
#[cfg_attr(feature = "tsify", tsify(missing_as_null))]
pub struct KeywordMatch {
    /// The rule.
    pub rule: String,
    /// The keyword as written in the rule.
    pub keyword: String,
    /// Where it was found.
    pub field: TextField,
    /// Start offset in UTF-16 code units (JavaScript `String.slice`).
    pub start: usize,
    /// End offset in UTF-16 code units.
    pub end: usize,
    /// Start offset in UTF-8 bytes.
    pub start_byte: usize,
    /// End offset in UTF-8 bytes.
    pub end_byte: usize,
}

/// The prioritization decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(feature = "tsify", derive(tsify::Tsify))]
#[cfg_attr(feature = "tsify", tsify(missing_as_null))]
pub struct PrioritizationDecision {
    /// The ticket's priority after automation.
    pub priority: Priority,
    /// Who the resulting priority is attributed to.
    pub priority_source: PrioritySource,
    /// The priority before.
    pub previous: Option<Priority>,
    /// Whether the priority differs from `previous`.
    pub changed: bool,
    /// What happened.
    pub outcome: PrioritizationOutcome,
    /// The rule that decided, if one did (the highest-priority match; the first written on ties).
    pub rule: Option<String>,
    /// Every keyword occurrence of every matching rule.
    pub matches: Vec<KeywordMatch>,
    /// One sentence for people.
    pub reason: String,
}

/// How assignment came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(feature = "tsify", derive(tsify::Tsify))]
#[cfg_attr(feature = "tsify", tsify(missing_as_null))]
#[serde(rename_all = "snake_case")]
pub enum AssignmentOutcome {
    /// Assigned to the next eligible member of the role.
    Assigned,
    /// The ticket already has an assignee; nothing changes.
    AlreadyAssigned,
    /// No rule routes this category.
    NoRule,
    /// A rule matched but nobody in the role is eligible; the ticket stays unassigned.
    NobodyEligible,
    /// The host must obtain the role's round-robin counter (e.g. Redis `INCR`) and call again
    /// with it in `counters`.
    NeedsCounter,
}

/// Why a member of the role was passed over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(feature = "tsify", derive(tsify::Tsify))]
#[cfg_attr(feature = "tsify", tsify(missing_as_null))]
#[serde(rename_all = "snake_case")]
pub enum SkipReason {
    /// Marked unavailable.
    Unavailable,
    /// At or over their open-ticket cap.
    AtCapacity,
}

/// A member of the role who was passed over.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(feature = "tsify", derive(tsify::Tsify))]
#[cfg_attr(feature = "tsify", tsify(missing_as_null))]
pub struct SkippedUser {
    /// User id.
    pub user: String,
    /// Why.
    pub reason: SkipReason,
}

/// The assignment decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(feature = "tsify", derive(tsify::Tsify))]
#[cfg_attr(feature = "tsify", tsify(missing_as_null))]
pub struct AssignmentDecision {
    /// What happened.
    pub outcome: AssignmentOutcome,
    /// The routing rule, if one matched.
    pub rule: Option<String>,
    /// The team role, if a rule matched.
    pub role: Option<String>,
    /// The assignee after automation.
    pub assignee: Option<String>,
    /// The counter value used (as returned by the host's `INCR`: 1 for the first ticket).
    pub counter: Option<u64>,
    /// Eligible members in round-robin order (by id).
    pub eligible: Vec<String>,
    /// Members passed over, by id.
    pub skipped: Vec<SkippedUser>,
    /// One sentence for people.
    pub reason: String,
}

/// Prioritizes a ticket. Pure: the same rule set and ticket always give the same decision.
pub fn prioritize(rules: &RuleSet, ticket: &Ticket, trace: &mut Vec<TraceEntry>) -> PrioritizationDecision {
    let mut hits: Vec<Hit> = Vec::new();
    rules.matcher.find(TextField::Title, &ticket.title, &mut hits);
    rules.matcher.find(TextField::Description, &ticket.description, &mut hits);

    let mut winner: Option<(usize, Priority)> = None;
    let mut matches = Vec::new();
    // What the ticket had, formatted once for all rules, and only if a rule asks.
    let mut saw_category: Option<Text> = None;
    let mut saw_requester: Option<Text> = None;
    for (index, rule) in rules.prioritization.iter().enumerate() {
        let rule_hits: Vec<&Hit> = hits.iter().filter(|h| h.rule == index && rule.fields.contains(&h.field)).collect();
        let holds = RuleConditions::check(rule, !rule_hits.is_empty(), &ticket.category, &ticket.requester);
        let explain = &rule.explain;
        let mut conditions = Vec::with_capacity(3);
        let saw: Text = match rule_hits.first() {
            Some(h) => {
                // "`down` in title at 4..8"
                let mut text = String::with_capacity(64);
                text.push('`');
                text.push_str(field_text(ticket, h.field).get(h.start_byte..h.end_byte).unwrap_or_default());
                text.push_str("` in ");
                text.push_str(h.field.as_str());
                text.push_str(" at ");
                push_u64(&mut text, h.start_byte as u64);
                text.push_str("..");
                push_u64(&mut text, h.end_byte as u64);
                text.into()
            }
            None => explain.no_match.clone(),
        };
        conditions.push(ConditionCheck::new("keywords", holds.keywords, explain.keywords.clone(), saw));
        if !rule.categories.is_empty() {
            conditions.push(ConditionCheck::new(
                "category",
                holds.category,
                explain.categories.clone(),
                saw_category.get_or_insert_with(|| concat(&["`", &ticket.category, "`"]).into()).clone(),
            ));
        }
        if !rule.requesters.is_empty() {
            conditions.push(ConditionCheck::new(
                "requester",
                holds.requester,
                explain.requesters.clone(),
                saw_requester.get_or_insert_with(|| concat(&["`", &ticket.requester, "`"]).into()).clone(),
            ));
        }
        let mut entry = TraceEntry::new(RuleKind::Prioritization, &rule.id, conditions);
        if holds.all() {
            entry.note = Some(explain.would_set.clone());
            winner = better(winner, index, rule);
            for h in rule_hits {
                let text = field_text(ticket, h.field);
                matches.push(KeywordMatch {
                    rule: rule.id.to_string(),
                    keyword: rule.keywords.get(h.keyword_index).cloned().unwrap_or_default(),
                    field: h.field,
                    start: utf16_offset(text, h.start_byte),
                    end: utf16_offset(text, h.end_byte),
                    start_byte: h.start_byte,
                    end_byte: h.end_byte,
                });
            }
        }
        trace.push(entry);
    }

    let winning_rule = winner.and_then(|(i, _)| rules.prioritization.get(i));
    let previous = ticket.priority;
    let (priority, outcome, rule, reason) = match (previous, winning_rule) {
        (None, None) => (
            rules.default_priority,
            PrioritizationOutcome::Default,
            None,
            concat(&["no rule matched; the default priority ", rules.default_priority.as_str(), " applies"]),
        ),
        (None, Some(w)) => (
            w.priority,
            PrioritizationOutcome::SetByRule,
            Some(w.id.to_string()),
            concat(&["rule `", &w.id, "` set ", w.priority.as_str()]),
        ),
        (Some(p), None) => (p, PrioritizationOutcome::Kept, None, concat(&["no rule matched; ", p.as_str(), " stays"])),
        (Some(p), Some(w)) if w.priority > p => (
            w.priority,
            PrioritizationOutcome::Raised,
            Some(w.id.to_string()),
            concat(&["rule `", &w.id, "` raised ", p.as_str(), " to ", w.priority.as_str()]),
        ),
        (Some(p), Some(w)) if w.priority < p && w.may_lower => (
            w.priority,
            PrioritizationOutcome::Lowered,
            Some(w.id.to_string()),
            concat(&["rule `", &w.id, "` lowered ", p.as_str(), " to ", w.priority.as_str(), " (it may lower)"]),
        ),
        (Some(p), Some(w)) if w.priority < p => {
            let by = match ticket.priority_source {
                PrioritySource::Person => "a person",
                PrioritySource::Automation => "automation",
            };
            (
                p,
                PrioritizationOutcome::Kept,
                Some(w.id.to_string()),
                concat(&[
                    "rule `",
                    &w.id,
                    "` would set ",
                    w.priority.as_str(),
                    ", but automation never lowers the ",
                    p.as_str(),
                    " set by ",
                    by,
                ]),
            )
        }
        (Some(p), Some(w)) => (
            p,
            PrioritizationOutcome::Kept,
            Some(w.id.to_string()),
            concat(&["rule `", &w.id, "` agrees with ", p.as_str()]),
        ),
    };
    let priority_source = match outcome {
        PrioritizationOutcome::Kept => ticket.priority_source,
        _ => PrioritySource::Automation,
    };
    PrioritizationDecision {
        priority,
        priority_source,
        previous,
        changed: previous != Some(priority),
        outcome,
        rule,
        matches,
        reason,
    }
}

/// Which conditions of a prioritization rule hold. Shared by [`prioritize`] and [`classify`] so
/// the two cannot disagree.
struct RuleConditions {
    keywords: bool,
    category: bool,
    requester: bool,
}

impl RuleConditions {
    fn check(rule: &PrioritizationRule, keyword_hit: bool, category: &str, requester: &str) -> Self {
        Self {
            keywords: keyword_hit,
            category: rule.categories.is_empty() || rule.categories.iter().any(|c| c == category),
            requester: rule.requesters.is_empty() || rule.requesters.iter().any(|r| r == requester),
        }
    }

    fn all(&self) -> bool {
        self.keywords && self.category && self.requester
    }
}

/// The winner after considering rule `index`.
fn better(winner: Option<(usize, Priority)>, index: usize, rule: &PrioritizationRule) -> Option<(usize, Priority)> {
    // INVARIANT: strictly greater, so on equal priorities the first rule written wins.
    if winner.is_none_or(|(_, p)| rule.priority > p) { Some((index, rule.priority)) } else { winner }
}

/// The lean decision for a new ticket, for previews on every keystroke and batch
/// classification: no trace, no highlights, no SLA.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(feature = "tsify", derive(tsify::Tsify))]
#[cfg_attr(feature = "tsify", tsify(missing_as_null))]
pub struct Classification {
    /// The priority a new ticket gets (the winning rule's, else the default).
    pub priority: Priority,
    /// The winning prioritization rule.
    pub rule: Option<String>,
    /// The team role its category routes to.
    pub role: Option<String>,
}

/// Which rules decide a [`Classification`]: the winning prioritization rule and the routing
/// (assignment) rule, by index into the rule set. Equal keys give equal classifications, so a
/// caller may keep one answer per key (the browser package hands out one frozen object each).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ClassificationKey {
    /// Index of the winning prioritization rule, if any matched.
    pub winner: Option<usize>,
    /// Index of the assignment rule the category routes by, if any.
    pub route: Option<usize>,
}

impl ClassificationKey {
    /// The classification these rules decide.
    pub fn classification(self, rules: &RuleSet) -> Classification {
        let rule = self.winner.and_then(|i| rules.prioritization.get(i));
        Classification {
            priority: rule.map_or(rules.default_priority, |r| r.priority),
            rule: rule.map(|r| r.id.to_string()),
            role: self.route.and_then(|i| rules.assignment.get(i)).map(|r| r.role.clone()),
        }
    }
}

/// Classifies a new, unprioritized ticket: exactly what [`evaluate`] decides for its priority
/// and role, without the explanation.
pub fn classify(rules: &RuleSet, title: &str, description: &str, category: &str, requester: &str) -> Classification {
    classification_key(rules, title, description, category, requester).classification(rules)
}

/// The rules that [`classify`] would report, without building its answer.
pub fn classification_key(
    rules: &RuleSet,
    title: &str,
    description: &str,
    category: &str,
    requester: &str,
) -> ClassificationKey {
    // On the stack for up to 64 rules: this runs on every keystroke.
    let (mut small, mut large) = ([false; 64], Vec::new());
    let hit = match small.get_mut(..rules.prioritization.len()) {
        Some(hit) => hit,
        None => {
            large.resize(rules.prioritization.len(), false);
            large.as_mut_slice()
        }
    };
    let reads =
        |field: TextField| move |i: usize| rules.prioritization.get(i).is_some_and(|r| r.fields.contains(&field));
    rules.matcher.mark(title, hit, reads(TextField::Title));
    rules.matcher.mark(description, hit, reads(TextField::Description));
    let mut winner = None;
    for ((index, rule), &hit) in rules.prioritization.iter().enumerate().zip(hit.iter()) {
        if RuleConditions::check(rule, hit, category, requester).all() {
            winner = better(winner, index, rule);
        }
    }
    ClassificationKey {
        winner: winner.map(|(i, _)| i),
        route: rules.assignment.iter().position(|r| r.category == category),
    }
}

fn field_text(ticket: &Ticket, field: TextField) -> &str {
    match field {
        TextField::Title => &ticket.title,
        TextField::Description => &ticket.description,
    }
}

/// The order of `len` items sorted by `cmp` (a stable sort: equal items keep their order).
///
/// Every sort of the crate goes through here, and it is a bottom-up merge sort of our own
/// rather than the standard library's `sort_by`: each instantiation of that was 5–7 KB of rule
/// module (BENCHMARKS.md, "Module sizes"), this is a few hundred bytes, and the crate sorts
/// only a role's members (at most `limits::USERS`) and a ticket's escalations. O(n log n)
/// comparisons, through a `dyn` reference; a test holds it to `sort_by` on generated keys.
pub(crate) fn stable_order(len: usize, cmp: &dyn Fn(usize, usize) -> Ordering) -> Vec<usize> {
    let mut order: Vec<usize> = (0..len).collect();
    let mut merged: Vec<usize> = Vec::with_capacity(len);
    let mut width = 1_usize;
    while width < len {
        merged.clear();
        for pair in order.chunks(width.saturating_mul(2)) {
            let (left, right) = pair.split_at(width.min(pair.len()));
            merge(left, right, cmp, &mut merged);
        }
        std::mem::swap(&mut order, &mut merged);
        width = width.saturating_mul(2);
    }
    order
}

/// Appends the sorted runs `left` and `right` to `out` as one sorted run; on ties, `left`
/// first (which makes the sort stable).
fn merge(left: &[usize], right: &[usize], cmp: &dyn Fn(usize, usize) -> Ordering, out: &mut Vec<usize>) {
    let (mut left, mut right) = (left.iter().copied().peekable(), right.iter().copied().peekable());
    while let (Some(&a), Some(&b)) = (left.peek(), right.peek()) {
        if cmp(b, a) == Ordering::Less {
            out.push(b);
            right.next();
        } else {
            out.push(a);
            left.next();
        }
    }
    out.extend(left);
    out.extend(right);
}

/// Members of `role` in round-robin order: sorted by id.
pub(crate) fn members_of<'a>(users: &'a [User], role: &str) -> Vec<&'a User> {
    let holders: Vec<&User> = users.iter().filter(|u| u.roles.iter().any(|r| r == role)).collect();
    // INVARIANT: round-robin and escalation depend on this order being total and stable.
    let mut members = if holders.is_sorted_by(|a, b| a.id <= b.id) {
        holders // the usual case (hosts list users by id): nothing to permute
    } else {
        let id = |i: usize| holders.get(i).map(|u| u.id.as_str());
        stable_order(holders.len(), &|a, b| id(a).cmp(&id(b)))
            .into_iter()
            .filter_map(|i| holders.get(i).copied())
            .collect()
    };
    members.dedup_by(|a, b| a.id == b.id);
    members
}

/// Why a user cannot take a ticket now, if they cannot.
pub(crate) fn ineligibility(user: &User) -> Option<SkipReason> {
    if !user.available {
        Some(SkipReason::Unavailable)
    } else if user.max_open_tickets.is_some_and(|cap| user.open_tickets >= cap) {
        Some(SkipReason::AtCapacity)
    } else {
        None
    }
}

/// Assigns a ticket round-robin. `counters` holds, per role, the value the host's atomic
/// counter returned for this ticket.
pub fn assign(
    rules: &RuleSet,
    ticket: &Ticket,
    users: &[User],
    counters: &BTreeMap<String, u64>,
    trace: &mut Vec<TraceEntry>,
) -> AssignmentDecision {
    let mut chosen = None;
    let saw_category: Text = concat(&["`", &ticket.category, "`"]).into();
    for rule in &rules.assignment {
        let matched = rule.category == ticket.category;
        let mut entry = TraceEntry::new(
            RuleKind::Assignment,
            &rule.id,
            vec![ConditionCheck::new("category", matched, rule.expected.clone(), saw_category.clone())],
        );
        if matched {
            entry.note = Some(rule.note.clone());
            chosen = chosen.or(Some(rule));
        }
        trace.push(entry);
    }
    let mut decision = AssignmentDecision {
        outcome: AssignmentOutcome::NoRule,
        rule: chosen.map(|r| r.id.to_string()),
        role: chosen.map(|r| r.role.clone()),
        assignee: ticket.assignee.clone(),
        counter: None,
        eligible: Vec::new(),
        skipped: Vec::new(),
        reason: String::new(),
    };
    if let Some(assignee) = &ticket.assignee {
        decision.outcome = AssignmentOutcome::AlreadyAssigned;
        decision.reason = concat(&["already assigned to `", assignee, "`"]);
        return decision;
    }
    let Some(rule) = chosen else {
        decision.reason = concat(&["no rule routes category `", &ticket.category, "`"]);
        return decision;
    };

    for user in members_of(users, &rule.role) {
        match ineligibility(user) {
            Some(reason) => decision.skipped.push(SkippedUser { user: user.id.clone(), reason }),
            None => decision.eligible.push(user.id.clone()),
        }
    }
    if decision.eligible.is_empty() {
        decision.outcome = AssignmentOutcome::NobodyEligible;
        decision.reason = if decision.skipped.is_empty() {
            concat(&["role `", &rule.role, "` has no members; the ticket stays unassigned"])
        } else {
            concat(&[
                "every member of role `",
                &rule.role,
                "` is unavailable or at capacity; the ticket stays unassigned",
            ])
        };
        return decision;
    }
    let Some(&counter) = counters.get(&rule.role) else {
        decision.outcome = AssignmentOutcome::NeedsCounter;
        decision.reason = concat(&["needs the round-robin counter of role `", &rule.role, "`"]);
        return decision;
    };
    // The counter is 1-based (the first INCR returns 1); slot = (counter - 1) mod eligible.
    let slots = u64::try_from(decision.eligible.len()).unwrap_or(u64::MAX).max(1);
    let slot = usize::try_from(counter.saturating_sub(1).checked_rem(slots).unwrap_or(0)).unwrap_or(0);
    let assignee = decision.eligible.get(slot).cloned();
    decision.counter = Some(counter);
    decision.outcome = AssignmentOutcome::Assigned;
    // "counter 42 of role `Engineer` picks slot 1 of 2 eligible: `u-eng-3`"
    let mut reason = String::from("counter ");
    push_u64(&mut reason, counter);
    reason.push_str(" of role `");
    reason.push_str(&rule.role);
    reason.push_str("` picks slot ");
    push_u64(&mut reason, slot as u64);
    reason.push_str(" of ");
    push_u64(&mut reason, decision.eligible.len() as u64);
    reason.push_str(" eligible: `");
    reason.push_str(assignee.as_deref().unwrap_or_default());
    reason.push('`');
    decision.reason = reason;
    decision.assignee = assignee;
    decision
}

/// The role whose round-robin counter [`evaluate()`] needs to assign this ticket, if any.
///
/// INVARIANT: `Some(role)` exactly when [`evaluate()`] of the same ticket and users, given no
/// counter for `role`, answers [`AssignmentOutcome::NeedsCounter`] with that role; both run the
/// same [`assign`], which reads the counters only at its last step. A host asks this first
/// (it skips prioritization, the clocks and the trace), obtains the counter, then evaluates once.
pub fn counter_needed(rules: &RuleSet, ticket: &Ticket, users: &[User]) -> Option<String> {
    let decision = assign(rules, ticket, users, &BTreeMap::new(), &mut Vec::new());
    match decision.outcome {
        AssignmentOutcome::NeedsCounter => decision.role,
        _ => None,
    }
}

/// Everything automation decides about a ticket after a change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(feature = "tsify", derive(tsify::Tsify))]
#[cfg_attr(feature = "tsify", tsify(missing_as_null))]
pub struct Evaluation {
    /// The rule set version that decided.
    pub rule_set_version: u64,
    /// Priority.
    pub prioritization: PrioritizationDecision,
    /// Assignee.
    pub assignment: AssignmentDecision,
    /// SLA clocks of the resulting ticket at `now`, when a target applies.
    pub sla: Option<crate::sla::SlaStatus>,
    /// Escalations that will become due if nothing changes, earliest first.
    pub escalations: Vec<crate::escalate::Escalation>,
    /// When the host should look at the ticket again.
    pub next_wake_up: Option<crate::sla::WakeUp>,
    /// Every rule considered: prioritization and assignment on the ticket as changed, then
    /// escalation on the ticket as decided (which of them the timeline holds, and why not).
    pub trace: Vec<TraceEntry>,
}

/// Prioritizes and assigns a ticket after a change, and reads what follows from the result:
/// SLA clocks, the escalation timeline and the next wake-up.
///
/// Takes the ticket by value: the ticket as decided is the same one changed in place, not a
/// copy of its texts (a kilobyte of description, per evaluation).
pub fn evaluate(
    rules: &RuleSet,
    ticket: Ticket,
    users: &[User],
    counters: &BTreeMap<String, u64>,
    now: crate::model::Millis,
) -> Evaluation {
    // One entry per rule considered: every prioritization and assignment rule, and every
    // escalation rule behind the timeline.
    let mut trace = Vec::with_capacity(
        rules.prioritization.len().saturating_add(rules.assignment.len()).saturating_add(rules.escalation.len()),
    );
    let prioritization = prioritize(rules, &ticket, &mut trace);
    let assignment = assign(rules, &ticket, users, counters, &mut trace);
    let mut after = ticket;
    after.priority = Some(prioritization.priority);
    after.priority_source = prioritization.priority_source;
    after.assignee.clone_from(&assignment.assignee);
    let mut escalations = crate::escalate::pending(rules, &after, users, now, Some(&mut trace));
    let sla = crate::sla::status(rules, &after, now);
    let next_wake_up = crate::sla::wake_up_from(&escalations, sla.as_ref());
    crate::escalate::sort_by_due(&mut escalations);
    Evaluation { rule_set_version: rules.version, sla, next_wake_up, escalations, prioritization, assignment, trace }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stable_order_sorts_and_keeps_equal_items_in_place() {
        let keys = [3, 1, 2, 1, 3, 0, 2, 1];
        let order = stable_order(keys.len(), &|a, b| keys[a].cmp(&keys[b]));
        assert_eq!(order, [5, 1, 3, 7, 2, 6, 0, 4]);
        assert!(stable_order(0, &|_, _| Ordering::Equal).is_empty());
    }

    #[test]
    fn stable_order_equals_the_standard_stable_sort() {
        let mut state = 7_u64;
        let mut next = |n: u64| {
            state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            (state >> 33) % n
        };
        for len in 0..300 {
            // Few distinct keys (many ties), or many; sometimes already sorted or reversed.
            let distinct = if next(2) == 0 { 3 } else { 1_000 };
            let mut keys: Vec<u64> = (0..len).map(|_| next(distinct)).collect();
            match next(4) {
                0 => keys.sort(),
                1 => keys.sort_by(|a, b| b.cmp(a)),
                _ => {}
            }
            let mut expected: Vec<usize> = (0..keys.len()).collect();
            expected.sort_by_key(|&i| keys[i]);
            assert_eq!(stable_order(keys.len(), &|a, b| keys[a].cmp(&keys[b])), expected, "{keys:?}");
        }
    }

    #[test]
    fn members_are_in_id_order_once_each() {
        let user = |id: &str, roles: &[&str]| User {
            id: id.to_owned(),
            roles: roles.iter().map(|r| (*r).to_owned()).collect(),
            available: true,
            open_tickets: 0,
            max_open_tickets: None,
        };
        let users = [
            user("u-3", &["Engineer"]),
            user("u-1", &["Engineer", "Manager"]),
            user("u-9", &["Manager"]),
            user("u-2", &["Engineer"]),
            user("u-1", &["Engineer"]),
        ];
        let ids: Vec<&str> = members_of(&users, "Engineer").iter().map(|u| u.id.as_str()).collect();
        assert_eq!(ids, ["u-1", "u-2", "u-3"]);
    }
}
