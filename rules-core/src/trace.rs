//! The explain trace: every rule considered, whether it matched, and what each condition saw.

use std::borrow::Cow;
use std::sync::Arc;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::write::{json_str, needs_escape};

/// The kind of a rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(feature = "tsify", derive(tsify::Tsify))]
#[cfg_attr(feature = "tsify", tsify(missing_as_null))]
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
///
/// It knows, from when it was made, whether JSON escapes any of its characters: most texts are
/// made once per rule set and written into every answer, and the writer then copies them
/// without looking at them again (the escape check was a third of `json_str`'s instructions;
/// BENCHMARKS.md, "Stop 25"). Serialized, deserialized and described as a plain string.
#[derive(Clone, PartialEq, Eq)]
pub struct Text {
    text: Arc<str>,
    /// Nothing in `text` needs escaping in JSON.
    plain: bool,
}

impl Text {
    /// The text.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Appends this text as a JSON string (as [`json_str`] does).
    pub(crate) fn write_json_str(&self, out: &mut String) {
        if self.plain {
            out.reserve(self.text.len().saturating_add(2));
            out.push('"');
            out.push_str(&self.text);
            out.push('"');
        } else {
            json_str(out, &self.text);
        }
    }
}

impl From<Arc<str>> for Text {
    fn from(text: Arc<str>) -> Self {
        let plain = !needs_escape(text.as_bytes());
        Self { text, plain }
    }
}

impl From<String> for Text {
    fn from(text: String) -> Self {
        Arc::<str>::from(text).into()
    }
}

impl From<&str> for Text {
    fn from(text: &str) -> Self {
        Arc::<str>::from(text).into()
    }
}

impl std::ops::Deref for Text {
    type Target = str;

    fn deref(&self) -> &str {
        &self.text
    }
}

impl std::fmt::Debug for Text {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&*self.text, f)
    }
}

impl std::fmt::Display for Text {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

impl Serialize for Text {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Self::from)
    }
}

impl JsonSchema for Text {
    fn inline_schema() -> bool {
        <str as JsonSchema>::inline_schema()
    }

    fn schema_name() -> Cow<'static, str> {
        <str as JsonSchema>::schema_name()
    }

    fn schema_id() -> Cow<'static, str> {
        <str as JsonSchema>::schema_id()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        <str as JsonSchema>::json_schema(generator)
    }
}

/// One condition of one rule, checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(feature = "tsify", derive(tsify::Tsify))]
#[cfg_attr(feature = "tsify", tsify(missing_as_null))]
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
#[cfg_attr(feature = "tsify", tsify(missing_as_null))]
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
        Self { kind, rule: rule.clone(), matched, conditions, note: None }
    }
}

/// Formats a list as `` `a`, `b` `` for trace and error text.
pub(crate) fn quoted_list<'a>(items: impl IntoIterator<Item = &'a str>) -> String {
    let parts: Vec<String> = items.into_iter().map(|s| format!("`{s}`")).collect();
    if parts.is_empty() { "nothing".to_owned() } else { parts.join(", ") }
}

impl TraceEntry {
    /// Appends this entry as JSON (its `ToJson`): byte for byte what serde_json writes for the derived
    /// `Serialize` above (the tests crate compares the two on generated requests), but with the
    /// field names as literals and each string written whole. The trace is two thirds of an
    /// `evaluate` answer, and serde_json wrote it in about 40 pieces per entry, scanning every
    /// field name for escapes (BENCHMARKS.md, "Instruction counts"). Into a `String`, so the
    /// text is never validated as UTF-8 again.
    pub(crate) fn write_json_to(&self, out: &mut String) {
        // Each literal pushed by itself, so that every copy has a constant length (see
        // `write::write_struct`).
        match self.kind {
            RuleKind::Prioritization => out.push_str(r#"{"kind":"prioritization","rule":"#),
            RuleKind::Assignment => out.push_str(r#"{"kind":"assignment","rule":"#),
            RuleKind::Escalation => out.push_str(r#"{"kind":"escalation","rule":"#),
            RuleKind::Sla => out.push_str(r#"{"kind":"sla","rule":"#),
        }
        self.rule.write_json_str(out);
        if self.matched {
            out.push_str(r#","matched":true,"conditions":["#);
        } else {
            out.push_str(r#","matched":false,"conditions":["#);
        }
        for (i, check) in self.conditions.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(r#"{"condition":"#);
            json_str(out, &check.condition);
            if check.passed {
                out.push_str(r#","passed":true,"expected":"#);
            } else {
                out.push_str(r#","passed":false,"expected":"#);
            }
            check.expected.write_json_str(out);
            out.push_str(r#","saw":"#);
            check.saw.write_json_str(out);
            out.push('}');
        }
        out.push(']');
        if let Some(note) = &self.note {
            out.push_str(r#","note":"#);
            note.write_json_str(out);
        }
        out.push('}');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_written_as_serde_json_writes_them() {
        let check = |note: Option<&str>, saw: &str| {
            let mut entry = TraceEntry::new(
                RuleKind::Escalation,
                &Text::from("rule \"1\""),
                vec![
                    ConditionCheck::new("status", true, "`Approved`", saw),
                    ConditionCheck::new("priority", false, "a\\b", "tab\there, bell\u{7}, 中文 😀"),
                ],
            );
            entry.note = note.map(Text::from);
            let mut out = String::new();
            entry.write_json_to(&mut out);
            assert_eq!(out, serde_json::to_string(&entry).unwrap());
        };
        check(None, "`Approved`");
        check(Some("fires \"now\"\n"), "");
        for kind in RuleKind::ALL {
            let entry = TraceEntry::new(kind, &Text::from("r"), Vec::new());
            let mut out = String::new();
            entry.write_json_to(&mut out);
            assert_eq!(out, serde_json::to_string(&entry).unwrap());
        }
    }
}
