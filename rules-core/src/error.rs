//! Structured problems: what every failure answer carries.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A stable, machine-readable class of problem.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(feature = "tsify", derive(tsify::Tsify))]
#[cfg_attr(feature = "tsify", tsify(missing_as_null))]
#[serde(rename_all = "snake_case")]
pub enum ProblemCode {
    /// The input is not UTF-8, not JSON, or too large.
    InvalidInput,
    /// The JSON does not have the shape of a request.
    InvalidRequest,
    /// The rule set is well-formed JSON but not a valid rule set.
    InvalidRuleSet,
    /// The ticket (or a ticket in a list) is inconsistent or over a limit.
    InvalidTicket,
    /// A context value (users, counters, period) is inconsistent or over a limit.
    InvalidContext,
}

/// One problem found in a request. Messages are lowercase, without a final period, and quote
/// user input in backticks: ``unknown priority `P9` in rule `outage` ``.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, thiserror::Error)]
#[cfg_attr(feature = "tsify", derive(tsify::Tsify))]
#[cfg_attr(feature = "tsify", tsify(missing_as_null))]
#[error("{message}")]
pub struct Problem {
    /// The class of problem.
    pub code: ProblemCode,
    /// A sentence for people.
    pub message: String,
    /// Where in the request (`ticket.history[2].at`), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// The rule the problem is in, when it is in one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// The field of that rule (`priority`, `keywords[1]`, `after`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

impl Problem {
    /// A problem with only a code and a message.
    pub fn new(code: ProblemCode, message: impl Into<String>) -> Self {
        Self { code, message: message.into(), path: None, rule: None, field: None }
    }

    /// Sets the request path.
    pub fn at(mut self, path: impl Into<String>) -> Self {
        self.path = Some(path.into());
        self
    }

    /// A rule-set problem located at a rule's field.
    pub fn in_rule(rule: &str, field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            code: ProblemCode::InvalidRuleSet,
            message: message.into(),
            path: None,
            rule: Some(rule.to_owned()),
            field: Some(field.into()),
        }
    }
}
