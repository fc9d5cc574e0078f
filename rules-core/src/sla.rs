//! Service-level clocks, the next wake-up instant, and compliance reports.
//!
//! A clock counts the time a ticket spends in statuses that are neither paused (per policy) nor
//! final. First response stops at the first response (or the first final status); resolution
//! stops while the ticket is in a final status. A target is **breached** once counted time
//! reaches it (exactly at the deadline counts as breached) and **met** when the clock stopped at
//! or before it (a response exactly at the deadline is met).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::escalate::{current_status_entry, pending};
use crate::model::{Millis, Priority, Status, Ticket, User};
use crate::ruleset::{RuleSet, SlaPolicy};

/// A metric's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(feature = "tsify", derive(tsify::Tsify))]
#[cfg_attr(feature = "tsify", tsify(missing_as_null))]
#[serde(rename_all = "snake_case")]
pub enum SlaState {
    /// Running, below the warning fraction.
    Ok,
    /// Running, at or past the warning fraction.
    Warning,
    /// Target reached without the clock stopping.
    Breached,
    /// Not running: the ticket is in a pause status.
    Paused,
    /// The clock stopped in time.
    Met,
}

/// The two clocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(feature = "tsify", derive(tsify::Tsify))]
#[cfg_attr(feature = "tsify", tsify(missing_as_null))]
#[serde(rename_all = "snake_case")]
pub enum SlaMetric {
    /// Time to first response.
    FirstResponse,
    /// Time to resolution.
    Resolution,
}

/// One clock, read at `now`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(feature = "tsify", derive(tsify::Tsify))]
#[cfg_attr(feature = "tsify", tsify(missing_as_null))]
pub struct MetricStatus {
    /// The target.
    pub target_ms: Millis,
    /// State at `now`.
    pub state: SlaState,
    /// Counted time so far (up to the stop, if stopped).
    pub elapsed_ms: Millis,
    /// `target_ms - elapsed_ms`; negative once breached.
    pub remaining_ms: Millis,
    /// When counted time reaches the warning fraction: past, or future if the clock keeps
    /// running; none while paused or after the clock stopped short of it.
    pub warning_at: Option<Millis>,
    /// When counted time reaches the target, on the same terms.
    pub deadline_at: Option<Millis>,
    /// When the clock stopped in time.
    pub met_at: Option<Millis>,
    /// When the target was reached without a stop.
    pub breached_at: Option<Millis>,
}

/// Both clocks of a ticket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(feature = "tsify", derive(tsify::Tsify))]
#[cfg_attr(feature = "tsify", tsify(missing_as_null))]
pub struct SlaStatus {
    /// The rule set (policy) version.
    pub rule_set_version: u64,
    /// The priority whose targets apply.
    pub priority: Priority,
    /// Whether the ticket is in a pause status now.
    pub paused: bool,
    /// Time to first response.
    pub first_response: MetricStatus,
    /// Time to resolution.
    pub resolution: MetricStatus,
}

/// What the next wake-up is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(feature = "tsify", derive(tsify::Tsify))]
#[cfg_attr(feature = "tsify", tsify(missing_as_null))]
#[serde(rename_all = "snake_case")]
pub enum WakeUpKind {
    /// An escalation rule becomes due.
    Escalation,
    /// A clock reaches its warning fraction.
    SlaWarning,
    /// A clock reaches its target.
    SlaBreach,
}

/// The earliest instant at which something about the ticket changes by time alone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(feature = "tsify", derive(tsify::Tsify))]
#[cfg_attr(feature = "tsify", tsify(missing_as_null))]
pub struct WakeUp {
    /// The instant (may be at or before `now` when something is already due).
    pub at: Millis,
    /// What happens then.
    pub kind: WakeUpKind,
    /// The escalation rule id, or `first_response` / `resolution`.
    pub subject: String,
}

/// A stretch of time in one status; `to` is `None` for the current status.
struct Segment {
    status: Status,
    from: Millis,
    to: Option<Millis>,
}

fn segments(ticket: &Ticket) -> Vec<Segment> {
    if ticket.history.is_empty() {
        return vec![Segment { status: ticket.status, from: ticket.created_at, to: None }];
    }
    let mut out: Vec<Segment> = Vec::with_capacity(ticket.history.len());
    for entry in &ticket.history {
        if let Some(last) = out.last_mut() {
            last.to = Some(entry.at);
        }
        out.push(Segment { status: entry.status, from: entry.at, to: None });
    }
    out
}

struct Clock<'a> {
    segments: &'a [Segment],
    policy: &'a SlaPolicy,
}

impl Clock<'_> {
    fn counts(&self, status: Status) -> bool {
        !status.is_final() && !self.policy.pauses_in(status)
    }

    /// Counted time in `[created, t)`.
    fn elapsed_at(&self, t: Millis) -> Millis {
        let mut total: Millis = 0;
        for s in self.segments.iter().filter(|s| self.counts(s.status)) {
            let end = s.to.map_or(t, |to| to.min(t));
            if end > s.from {
                total = total.saturating_add(end.saturating_sub(s.from));
            }
        }
        total
    }

    /// The instant at which counted time reaches `amount`, if the timeline gets there (the
    /// current segment is taken to run on forever).
    fn reaches(&self, amount: Millis) -> Option<Millis> {
        let mut acc: Millis = 0;
        for s in self.segments.iter().filter(|s| self.counts(s.status)) {
            let need = amount.saturating_sub(acc);
            match s.to {
                Some(to) if to.saturating_sub(s.from) < need => acc = acc.saturating_add(to.saturating_sub(s.from)),
                _ => return Some(s.from.saturating_add(need)),
            }
        }
        None
    }

    fn metric(&self, target: Millis, warning_bp: u32, stop: Option<Millis>, now: Millis, paused: bool) -> MetricStatus {
        let warn = target.saturating_mul(Millis::from(warning_bp)) / 10_000;
        let stopped_at = stop.filter(|&s| s <= now);
        let elapsed = self.elapsed_at(stopped_at.unwrap_or(now));
        let reach_target = self.reaches(target);
        let reach_warn = self.reaches(warn);
        // A clock that stopped short of an instant never reaches it.
        let keep = |at: Option<Millis>| at.filter(|&a| stopped_at.is_none_or(|s| a <= s));
        // INVARIANT: once stopped at or under the target, the metric is met; everything at or
        // over it is breached, stopped or not; only a running clock can be paused or warning.
        let (state, met_at, breached_at) = match stopped_at {
            Some(s) if elapsed <= target => (SlaState::Met, Some(s), None),
            _ if elapsed >= target => (SlaState::Breached, None, reach_target),
            _ if paused => (SlaState::Paused, None, None),
            _ if elapsed >= warn => (SlaState::Warning, None, None),
            _ => (SlaState::Ok, None, None),
        };
        MetricStatus {
            target_ms: target,
            state,
            elapsed_ms: elapsed,
            remaining_ms: target.saturating_sub(elapsed),
            warning_at: keep(reach_warn),
            deadline_at: keep(reach_target),
            met_at,
            breached_at,
        }
    }
}

/// Reads both clocks of a ticket at `now`. `None` when the rule set has no SLA policy or no
/// target for the ticket's priority (or the ticket has no priority).
pub fn status(rules: &RuleSet, ticket: &Ticket, now: Millis) -> Option<SlaStatus> {
    let policy = rules.sla.as_ref()?;
    let priority = ticket.priority?;
    let target = policy.targets.get(&priority)?;
    let segments = segments(ticket);
    let clock = Clock { segments: &segments, policy };
    let paused = policy.pauses_in(ticket.status);
    let first_final = match ticket.history.iter().find(|e| e.status.is_final()) {
        Some(e) => Some(e.at),
        None => (ticket.history.is_empty() && ticket.status.is_final()).then_some(ticket.created_at),
    };
    let first_stop = match (ticket.first_response_at, first_final) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    let resolution_stop = ticket.status.is_final().then(|| current_status_entry(ticket));
    Some(SlaStatus {
        rule_set_version: rules.version,
        priority,
        paused,
        first_response: clock.metric(target.first_response_ms, policy.warning_bp, first_stop, now, paused),
        resolution: clock.metric(target.resolution_ms, policy.warning_bp, resolution_stop, now, paused),
    })
}

/// The earliest instant at which an escalation or SLA transition could occur for the ticket.
pub fn next_wake_up(rules: &RuleSet, ticket: &Ticket, users: &[User], now: Millis) -> Option<WakeUp> {
    wake_up_from(&pending(rules, ticket, users, now, None), status(rules, ticket, now).as_ref())
}

/// The earliest of the pending escalations and the next SLA transitions.
pub(crate) fn wake_up_from(pending: &[crate::escalate::Escalation], sla: Option<&SlaStatus>) -> Option<WakeUp> {
    let mut candidates: Vec<WakeUp> = pending
        .iter()
        .map(|e| WakeUp { at: e.due_at, kind: WakeUpKind::Escalation, subject: e.rule.clone() })
        .collect();
    if let Some(sla) = sla {
        for (subject, m) in [("first_response", &sla.first_response), ("resolution", &sla.resolution)] {
            let next = match m.state {
                SlaState::Ok => m.warning_at.map(|at| (at, WakeUpKind::SlaWarning)),
                SlaState::Warning => m.deadline_at.map(|at| (at, WakeUpKind::SlaBreach)),
                SlaState::Paused | SlaState::Met | SlaState::Breached => None,
            };
            if let Some((at, kind)) = next {
                candidates.push(WakeUp { at, kind, subject: subject.to_owned() });
            }
        }
    }
    // INVARIANT: `min_by_key` keeps the first of equal minima: escalations (rule order) first.
    candidates.into_iter().min_by_key(|w| w.at)
}

/// Met and breached counts for one clock.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(feature = "tsify", derive(tsify::Tsify))]
#[cfg_attr(feature = "tsify", tsify(missing_as_null))]
pub struct ComplianceCounts {
    /// Targets met in the period.
    pub met: u64,
    /// Targets breached in the period.
    pub breached: u64,
    /// `met / (met + breached)` in basis points, rounded down; none without outcomes.
    pub compliance_bp: Option<u64>,
}

impl ComplianceCounts {
    fn add(&mut self, m: &MetricStatus, from: Millis, to: Millis) {
        let within = |at: Option<Millis>| at.is_some_and(|a| a >= from && a < to);
        if m.state == SlaState::Met && within(m.met_at) {
            self.met = self.met.saturating_add(1);
        } else if m.state == SlaState::Breached && within(m.breached_at) {
            self.breached = self.breached.saturating_add(1);
        }
    }

    fn finish(&mut self) {
        let total = self.met.saturating_add(self.breached);
        self.compliance_bp = self.met.saturating_mul(10_000).checked_div(total);
    }
}

/// Compliance of one priority.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(feature = "tsify", derive(tsify::Tsify))]
#[cfg_attr(feature = "tsify", tsify(missing_as_null))]
pub struct PriorityCompliance {
    /// The priority.
    pub priority: Priority,
    /// First-response outcomes.
    pub first_response: ComplianceCounts,
    /// Resolution outcomes.
    pub resolution: ComplianceCounts,
}

/// Met and breached targets whose outcome fell in `[from, to)`, per priority.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(feature = "tsify", derive(tsify::Tsify))]
#[cfg_attr(feature = "tsify", tsify(missing_as_null))]
pub struct ComplianceReport {
    /// The rule set (policy) version.
    pub rule_set_version: u64,
    /// Period start (inclusive).
    pub from: Millis,
    /// Period end (exclusive).
    pub to: Millis,
    /// Most urgent first.
    pub by_priority: Vec<PriorityCompliance>,
    /// All priorities together.
    pub total: PriorityTotals,
    /// Tickets with no SLA target (no policy, no priority, or no target for it).
    pub tickets_without_target: u64,
}

/// All priorities together.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(feature = "tsify", derive(tsify::Tsify))]
#[cfg_attr(feature = "tsify", tsify(missing_as_null))]
pub struct PriorityTotals {
    /// First-response outcomes.
    pub first_response: ComplianceCounts,
    /// Resolution outcomes.
    pub resolution: ComplianceCounts,
}

/// Builds a compliance report for the period `[from, to)`, reading every clock at `now`.
pub fn compliance(rules: &RuleSet, tickets: &[Ticket], from: Millis, to: Millis, now: Millis) -> ComplianceReport {
    let mut by: Vec<PriorityCompliance> = Priority::ALL
        .iter()
        .rev()
        .map(|&priority| PriorityCompliance {
            priority,
            first_response: ComplianceCounts::default(),
            resolution: ComplianceCounts::default(),
        })
        .collect();
    let mut total = PriorityTotals::default();
    let mut without = 0u64;
    for ticket in tickets {
        let Some(s) = status(rules, ticket, now) else {
            without = without.saturating_add(1);
            continue;
        };
        if let Some(row) = by.iter_mut().find(|r| r.priority == s.priority) {
            row.first_response.add(&s.first_response, from, to);
            row.resolution.add(&s.resolution, from, to);
        }
        total.first_response.add(&s.first_response, from, to);
        total.resolution.add(&s.resolution, from, to);
    }
    for row in &mut by {
        row.first_response.finish();
        row.resolution.finish();
    }
    total.first_response.finish();
    total.resolution.finish();
    ComplianceReport {
        rule_set_version: rules.version,
        from,
        to,
        by_priority: by,
        total,
        tickets_without_target: without,
    }
}
