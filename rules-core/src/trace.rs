//! The explain trace: every rule considered, whether it matched, and what each condition saw.

use std::borrow::Cow;
use std::sync::Arc;

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

/// Shared, immutable text: trace strings are mostly computed once per rule set (or once per
/// evaluation) and shared by reference count, so a 500-rule trace costs no formatting per rule.
pub type Text = Arc<str>;

/// One condition of one rule, checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(feature = "tsify", derive(tsify::Tsify))]
pub struct ConditionCheck {
    /// Which condition (`keywords`, `category`, `requester`, `priority`, `status`,
    /// `time_in_status`, `not_yet_fired`).
    pub condition: Cow<'static, str>,
    /// Whether it held.
    pub passed: bool,
    /// What the rule asks for.
    #[cfg_attr(feature = "tsify", tsify(type = "string"))]
    pub expected: Text,
    /// What the ticket had.
    #[cfg_attr(feature = "tsify", tsify(type = "string"))]
    pub saw: Text,
}

impl ConditionCheck {
    pub(crate) fn new(condition: &'static str, passed: bool, expected: impl Into<Text>, saw: impl Into<Text>) -> Self {
        Self { condition: Cow::Borrowed(condition), passed, expected: expected.into(), saw: saw.into() }
    }
}

/// One rule, considered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(feature = "tsify", derive(tsify::Tsify))]
pub struct TraceEntry {
    /// Rule kind.
    pub kind: RuleKind,
    /// Rule id.
    #[cfg_attr(feature = "tsify", tsify(type = "string"))]
    pub rule: Text,
    /// Whether every condition held.
    pub matched: bool,
    /// Each condition, in the order checked. All are checked, so a trace shows every reason.
    pub conditions: Vec<ConditionCheck>,
    /// What came of it, when it matched (or why a match had no effect).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "tsify", tsify(type = "string | undefined"))]
    pub note: Option<Text>,
}

impl TraceEntry {
    pub(crate) fn new(kind: RuleKind, rule: &Text, conditions: Vec<ConditionCheck>) -> Self {
        let matched = conditions.iter().all(|c| c.passed);
        Self { kind, rule: Arc::clone(rule), matched, conditions, note: None }
    }
}

/// Formats a list as `` `a`, `b` `` for trace and error text.
pub(crate) fn quoted_list<'a>(items: impl IntoIterator<Item = &'a str>) -> String {
    let parts: Vec<String> = items.into_iter().map(|s| format!("`{s}`")).collect();
    if parts.is_empty() { "nothing".to_owned() } else { parts.join(", ") }
}
