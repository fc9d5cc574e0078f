//! Time-in-status escalation: each rule fires at most once per entry into a status.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::duration::format_millis;
use crate::evaluate::{ineligibility, members_of, stable_order};
use crate::model::{FiredEscalation, Millis, Priority, Status, Ticket, User};
use crate::ruleset::{EscalationRule, RuleSet};
use crate::trace::{ConditionCheck, RuleKind, Text, TraceEntry};
use crate::write::{concat, push_i64};

/// An escalation that is due (or, in a plan, will be due) for a ticket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(feature = "tsify", derive(tsify::Tsify))]
#[cfg_attr(feature = "tsify", tsify(missing_as_null))]
pub struct Escalation {
    /// The rule.
    pub rule: String,
    /// Exactly-once key: `{ticket}:{rule}:{status_entered_at}`. The host stores it under a
    /// unique constraint.
    pub key: String,
    /// The status the ticket is in.
    pub status: Status,
    /// When the ticket entered that status (the entry this firing belongs to).
    pub status_entered_at: Millis,
    /// The first instant at which time in status is strictly beyond the threshold.
    pub due_at: Millis,
    /// The role escalated to.
    pub role: String,
    /// Who the ticket is reassigned to: the first available member of the role by id.
    pub assignee: Option<String>,
    /// The priority set by the rule, if it sets one.
    pub set_priority: Option<Priority>,
    /// One sentence for people.
    pub reason: String,
}

/// The last instant the ticket entered its current status (else its creation).
pub(crate) fn current_status_entry(ticket: &Ticket) -> Millis {
    // INVARIANT: history is validated to be chronological, so the last match is the latest.
    ticket.history.iter().rev().find(|e| e.status == ticket.status).map_or(ticket.created_at, |e| e.at)
}

/// The first instant at which `elapsed > after` holds: one millisecond past the threshold.
fn due_at(entered: Millis, rule: &EscalationRule) -> Millis {
    entered.saturating_add(rule.after_ms).saturating_add(1)
}

fn already_fired(ticket: &Ticket, rule: &str, entered: Millis) -> bool {
    ticket.escalations_fired.iter().any(|f| f.rule == rule && f.status_entered_at == entered)
}

fn target_user(users: &[User], role: &str) -> Option<String> {
    members_of(users, role).into_iter().find(|u| ineligibility(u).is_none()).map(|u| u.id.clone())
}

/// The escalation trace's text that does not depend on the rule.
struct TraceTexts {
    saw_elapsed: Text,
    expected_unfired: Text,
    saw_priority: Text,
    saw_status: Text,
    fired: Text,
    not_fired: Text,
}

/// Escalation rules matching the ticket's priority and status that have not fired for the
/// current status entry, with their due instants, in rule order. When `trace` is given, every
/// rule considered is recorded as of `now`.
pub(crate) fn pending(
    rules: &RuleSet,
    ticket: &Ticket,
    users: &[User],
    now: Millis,
    mut trace: Option<&mut Vec<TraceEntry>>,
) -> Vec<Escalation> {
    let entered = current_status_entry(ticket);
    let elapsed = now.saturating_sub(entered);
    let mut out = Vec::new();
    // Trace text shared by every rule's entry: formatted once per evaluation, not per rule.
    let texts = trace.is_some().then(|| TraceTexts {
        saw_elapsed: {
            let mut text = format_millis(elapsed);
            text.push_str(" since ");
            push_i64(&mut text, entered);
            text.into()
        },
        expected_unfired: {
            let mut text = String::from("not fired for the entry at ");
            push_i64(&mut text, entered);
            text.into()
        },
        saw_priority: ticket.priority.map_or("none", Priority::as_str).into(),
        saw_status: ticket.status.as_str().into(),
        fired: "already fired".into(),
        not_fired: "not fired".into(),
    });
    for rule in &rules.escalation {
        let priority_ok = ticket.priority == Some(rule.priority);
        let status_ok = ticket.status == rule.status;
        let fired = already_fired(ticket, &rule.id, entered);
        let due = due_at(entered, rule);
        if let (Some(trace), Some(texts)) = (trace.as_deref_mut(), &texts) {
            let entry = TraceEntry::new(
                RuleKind::Escalation,
                &rule.id,
                vec![
                    ConditionCheck::new(
                        "priority",
                        priority_ok,
                        rule.expected_priority.clone(),
                        texts.saw_priority.clone(),
                    ),
                    ConditionCheck::new("status", status_ok, rule.expected_status.clone(), texts.saw_status.clone()),
                    ConditionCheck::new(
                        "time_in_status",
                        elapsed > rule.after_ms,
                        rule.expected_after.clone(),
                        texts.saw_elapsed.clone(),
                    ),
                    ConditionCheck::new(
                        "not_yet_fired",
                        !fired,
                        texts.expected_unfired.clone(),
                        if fired { &texts.fired } else { &texts.not_fired }.clone(),
                    ),
                ],
            );
            trace.push(entry);
        }
        if !priority_ok || !status_ok || fired {
            continue;
        }
        let assignee = target_user(users, &rule.escalate_to_role);
        // "Critical in Approved for more than PT2H: escalate to `u-mgr-1` (role `Manager`)"
        let role = &rule.escalate_to_role;
        let mut reason = concat(&[
            rule.priority.as_str(),
            " in ",
            rule.status.as_str(),
            " for more than ",
            &format_millis(rule.after_ms),
            ": escalate to ",
        ]);
        match &assignee {
            Some(a) => reason.extend(["`", a, "` (role `", role, "`)"]),
            None => reason.extend(["role `", role, "`, which has nobody available"]),
        }
        let mut key = concat(&[&ticket.id, ":", &rule.id, ":"]);
        push_i64(&mut key, entered);
        out.push(Escalation {
            rule: rule.id.to_string(),
            key,
            status: ticket.status,
            status_entered_at: entered,
            due_at: due,
            role: rule.escalate_to_role.clone(),
            assignee,
            set_priority: rule.set_priority,
            reason,
        });
    }
    out
}

/// The result of checking a ticket's escalations at `now`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(feature = "tsify", derive(tsify::Tsify))]
#[cfg_attr(feature = "tsify", tsify(missing_as_null))]
pub struct EscalationCheck {
    /// The rule set version that decided.
    pub rule_set_version: u64,
    /// Escalations due now, in order of due instant (then rule order). Their effects apply in
    /// that order, so the last one's assignee and priority are the ticket's.
    pub fired: Vec<Escalation>,
    /// The ticket's priority after applying them.
    pub priority: Option<Priority>,
    /// The ticket's assignee after applying them.
    pub assignee: Option<String>,
    /// The ticket's next wake-up after applying them.
    pub next_wake_up: Option<crate::sla::WakeUp>,
    /// Every escalation rule considered.
    pub trace: Vec<TraceEntry>,
}

/// Orders escalations by due instant. One function for every caller, so that the module holds
/// one copy of the sort.
pub(crate) fn sort_by_due(escalations: &mut Vec<Escalation>) {
    if escalations.is_sorted_by_key(|e| e.due_at) {
        return; // what a stable sort would leave as it is
    }
    let due = |i: usize| escalations.get(i).map(|e| e.due_at);
    // INVARIANT: stable sort, so equal due instants keep rule order.
    let order = stable_order(escalations.len(), &|a, b| due(a).cmp(&due(b)));
    let mut slots: Vec<Option<Escalation>> = std::mem::take(escalations).into_iter().map(Some).collect();
    escalations.extend(order.into_iter().filter_map(|i| slots.get_mut(i).and_then(Option::take)));
}

/// Checks which escalations are due at `now` and what the ticket looks like after them.
pub fn check(rules: &RuleSet, ticket: &Ticket, users: &[User], now: Millis) -> EscalationCheck {
    let mut trace = Vec::with_capacity(rules.escalation.len());
    let mut fired: Vec<Escalation> =
        pending(rules, ticket, users, now, Some(&mut trace)).into_iter().filter(|e| e.due_at <= now).collect();
    sort_by_due(&mut fired);
    let mut after = ticket.clone();
    for e in &fired {
        if let Some(a) = &e.assignee {
            after.assignee = Some(a.clone());
        }
        if let Some(p) = e.set_priority {
            after.priority = Some(p);
        }
        after.escalations_fired.push(FiredEscalation { rule: e.rule.clone(), status_entered_at: e.status_entered_at });
    }
    let next_wake_up = crate::sla::next_wake_up(rules, &after, users, now);
    EscalationCheck {
        rule_set_version: rules.version,
        fired,
        priority: after.priority,
        assignee: after.assignee,
        next_wake_up,
        trace,
    }
}
