//! The explain trace: every rule considered, whether it matched, and what each condition saw.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The kind of a rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(feature = "tsify", derive(tsify::Tsify))]
#[serde(rename_all = "snake_case")]
pub enum RuleKind {
    /// Keyword → priority.
    Prioritization,
    /// Category → role, round-robin.
    Assignment,
    /// Time in status → reassign.
    Escalation,
    /// Service-level targets.
    Sla,
}

impl RuleKind {
    /// Every kind this crate evaluates.
    pub const ALL: [RuleKind; 4] = [Self::Prioritization, Self::Assignment, Self::Escalation, Self::Sla];
}

/// One condition of one rule, checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(feature = "tsify", derive(tsify::Tsify))]
pub struct ConditionCheck {
    /// Which condition (`keywords`, `category`, `requester`, `priority`, `status`,
    /// `time_in_status`, `not_yet_fired`).
    pub condition: String,
    /// Whether it held.
    pub passed: bool,
    /// What the rule asks for.
    pub expected: String,
    /// What the ticket had.
    pub saw: String,
}

impl ConditionCheck {
    pub(crate) fn new(condition: &str, passed: bool, expected: String, saw: String) -> Self {
        Self { condition: condition.to_owned(), passed, expected, saw }
    }
}

/// One rule, considered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(feature = "tsify", derive(tsify::Tsify))]
pub struct TraceEntry {
    /// Rule kind.
    pub kind: RuleKind,
    /// Rule id.
    pub rule: String,
    /// Whether every condition held.
    pub matched: bool,
    /// Each condition, in the order checked. All are checked, so a trace shows every reason.
    pub conditions: Vec<ConditionCheck>,
    /// What came of it, when it matched (or why a match had no effect).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl TraceEntry {
    pub(crate) fn new(kind: RuleKind, rule: &str, conditions: Vec<ConditionCheck>) -> Self {
        let matched = conditions.iter().all(|c| c.passed);
        Self { kind, rule: rule.to_owned(), matched, conditions, note: None }
    }
}

/// Formats a list as `` `a`, `b` `` for trace and error text.
pub(crate) fn quoted_list<'a>(items: impl IntoIterator<Item = &'a str>) -> String {
    let parts: Vec<String> = items.into_iter().map(|s| format!("`{s}`")).collect();
    if parts.is_empty() { "nothing".to_owned() } else { parts.join(", ") }
}
