//! The answer writer: the codec's answers as JSON text, byte for byte what serde_json writes
//! for their derived `Serialize` (a property test in `tests/tests/properties.rs` compares the
//! two on generated requests).
//!
//! Written for this crate, like the request reader (`read.rs`), for the rule modules' size:
//! serde_json's serializer is instantiated per answer type and was 33 KB of the host module.
//! Here a struct is written field by field by a macro (`write_struct!`), each field's name a
//! literal copied by one small function per length (`push_literal`), so a field costs a few
//! bytes of code and no copy of variable length. The `Serialize` derives stay, for the JSON
//! Schemas and Rust callers.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::Arc;

use crate::codec::{Answer, CounterNeededAnswer, ModuleInfo, Outcome, SlaAnswer, ValidationSummary, WakeUpAnswer};
use crate::error::{Problem, ProblemCode};
use crate::escalate::{Escalation, EscalationCheck};
use crate::evaluate::{
    AssignmentDecision, AssignmentOutcome, Classification, Evaluation, KeywordMatch, PrioritizationDecision,
    PrioritizationOutcome, SkipReason, SkippedUser,
};
use crate::model::{Priority, PrioritySource, Status};
use crate::ruleset::TextField;
use crate::sla::{
    ComplianceCounts, ComplianceReport, MetricStatus, PriorityCompliance, PriorityTotals, SlaMetric, SlaState,
    SlaStatus, WakeUp, WakeUpKind,
};
use crate::trace::{RuleKind, TraceEntry};

/// `push_literal!(out, "text")` appends a string literal (or a `concat!` of them) through
/// [`push_literal`], its length given as the constant.
macro_rules! push_literal {
    ($out:expr, $literal:expr) => {
        push_literal::<{ $literal.len() }>($out, $literal)
    };
}

/// A value the writer can write.
pub trait ToJson {
    /// Appends this value as JSON.
    fn write_json(&self, out: &mut String);
}

/// `value` as JSON text.
pub fn to_string(value: &dyn ToJson, capacity: usize) -> String {
    let mut out = String::with_capacity(capacity);
    value.write_json(&mut out);
    out
}

/// Writes an object of the given fields, in order: for objects whose fields vary ([`Problem`]).
fn object(out: &mut String, fields: &[(&str, &dyn ToJson)]) {
    let mut separator = '{';
    for (name, value) in fields {
        out.push(separator);
        separator = ',';
        out.push('"');
        out.push_str(name);
        out.push_str("\":");
        value.write_json(out);
    }
    if separator == '{' {
        out.push('{');
    }
    out.push('}');
}

/// Appends `text` as a JSON string, escaped as serde_json escapes: `"`, `\` and the control
/// characters, those with a short escape by it, the rest as `\u00xx`. Text with nothing to
/// escape (nearly all of it) is copied whole.
pub(crate) fn json_str(out: &mut String, text: &str) {
    if needs_escape(text.as_bytes()) {
        return json_str_escaped(out, text);
    }
    // One capacity check that may grow the buffer; the three appends then cannot.
    out.reserve(text.len().saturating_add(2));
    out.push('"');
    out.push_str(text);
    out.push('"');
}

/// [`json_str`] of text that needs escapes.
#[cold]
#[inline(never)]
fn json_str_escaped(out: &mut String, text: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push('"');
    let mut plain = 0;
    for (i, byte) in text.bytes().enumerate() {
        let escape = match byte {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x08 => "\\b",
            0x0c => "\\f",
            0..=0x1f => "",
            _ => continue,
        };
        out.push_str(text.get(plain..i).unwrap_or_default());
        plain = i.saturating_add(1);
        if escape.is_empty() {
            out.push_str("\\u00");
            for nibble in [byte >> 4, byte & 0xf] {
                out.push(char::from(HEX.get(usize::from(nibble)).copied().unwrap_or(b'0')));
            }
        } else {
            out.push_str(escape);
        }
    }
    out.push_str(text.get(plain..).unwrap_or_default());
    out.push('"');
}

/// Whether `bytes` hold a byte JSON escapes: a control character (below 0x20), `"` or `\`.
/// Eight bytes at a time (the same bit tricks as serde_json's reader): a byte lane of
/// `x - 0x20…20` that borrows, where `x` had its top bit clear, was below 0x20; XOR with a
/// repeated byte turns "equals it" into "is zero", tested the same way against 0x01…01.
/// A text of eight bytes or more ends with one more step over its last eight bytes, which
/// overlap the steps before (a byte tested twice is still the same byte), instead of a loop over
/// the last few bytes one by one.
pub(crate) fn needs_escape(bytes: &[u8]) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let lanes = |byte: u8| ONES.wrapping_mul(u64::from(byte));
    let flags = |chunk: &[u8; 8]| {
        let x = u64::from_le_bytes(*chunk);
        let quote = x ^ lanes(b'"');
        let backslash = x ^ lanes(b'\\');
        x.wrapping_sub(lanes(0x20)) & !x | quote.wrapping_sub(ONES) & !quote | backslash.wrapping_sub(ONES) & !backslash
    };
    let (chunks, rest) = bytes.as_chunks::<8>();
    let found = chunks.iter().fold(0, |found, chunk| found | flags(chunk));
    let last = match bytes.last_chunk::<8>() {
        Some(last) if !rest.is_empty() => flags(last),
        Some(_) => 0,
        None => return rest.iter().any(|&b| b < 0x20 || b == b'"' || b == b'\\'),
    };
    (found | last) & HIGH != 0
}

impl ToJson for str {
    fn write_json(&self, out: &mut String) {
        json_str(out, self);
    }
}

impl ToJson for String {
    fn write_json(&self, out: &mut String) {
        json_str(out, self);
    }
}

impl ToJson for Arc<str> {
    fn write_json(&self, out: &mut String) {
        json_str(out, self);
    }
}

impl ToJson for Cow<'static, str> {
    fn write_json(&self, out: &mut String) {
        json_str(out, self);
    }
}

impl ToJson for bool {
    fn write_json(&self, out: &mut String) {
        if *self { push_literal!(out, "true") } else { push_literal!(out, "false") }
    }
}

/// Appends `n` in decimal, as `Display` writes it: by the `itoa` crate (serde_json's), two
/// digits a step from a table.
///
/// Not `write!(out, "{n}")`: through `core::fmt`'s `Formatter`, the 18 integers of an
/// `evaluate` answer cost the host module 4.9 k more instructions (BENCHMARKS.md, "Stop 24").
/// The rule modules wrote one digit a step until stop 29, into a buffer and then char by char
/// into `out`: 520 instructions an integer in Wasmtime, with the fuel and epoch checks of two
/// loop rounds per digit; `itoa` takes about 190 there (BENCHMARKS.md, "Stop 29"). Out of line in
/// the modules, so that its code is there once (26 call sites); natively inlined where LLVM
/// likes. A test holds it to `Display` across the whole range.
#[cfg_attr(target_family = "wasm", inline(never))]
#[cfg_attr(not(target_family = "wasm"), inline)]
pub fn push_u64(out: &mut String, n: u64) {
    out.push_str(itoa::Buffer::new().format(n));
}

/// The parts one after the other, in one allocation: a `format!` of strings alone, without
/// `core::fmt` (see [`push_u64`]).
#[inline(never)]
pub fn concat(parts: &[&str]) -> String {
    let mut out = String::with_capacity(parts.iter().fold(0, |n, part| n.saturating_add(part.len())));
    for part in parts {
        out.push_str(part);
    }
    out
}

/// Appends `n` in decimal, with a leading `-` when negative.
pub fn push_i64(out: &mut String, n: i64) {
    if n < 0 {
        out.push('-');
    }
    push_u64(out, n.unsigned_abs());
}

/// Integers, in decimal.
macro_rules! write_integer {
    ($($ty:ty),*) => {$(
        impl ToJson for $ty {
            fn write_json(&self, out: &mut String) {
                push_u64(out, u64::from(*self));
            }
        }
    )*};
}

write_integer!(u32, u64);

impl ToJson for usize {
    fn write_json(&self, out: &mut String) {
        push_u64(out, u64::try_from(*self).unwrap_or(u64::MAX));
    }
}

impl ToJson for i64 {
    fn write_json(&self, out: &mut String) {
        push_i64(out, *self);
    }
}

impl<T: ToJson> ToJson for Option<T> {
    fn write_json(&self, out: &mut String) {
        match self {
            Some(value) => value.write_json(out),
            None => out.push_str("null"),
        }
    }
}

impl<T: ToJson> ToJson for Vec<T> {
    fn write_json(&self, out: &mut String) {
        out.push('[');
        for (i, item) in self.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            item.write_json(out);
        }
        out.push(']');
    }
}

impl ToJson for BTreeMap<String, u64> {
    fn write_json(&self, out: &mut String) {
        out.push('{');
        for (i, (key, value)) in self.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            json_str(out, key);
            out.push(':');
            value.write_json(out);
        }
        out.push('}');
    }
}

/// Unit-variant enums, written as their variant's name.
macro_rules! write_enum {
    ($($ty:ident { $($variant:ident => $name:literal),* $(,)? })*) => {$(
        impl ToJson for $ty {
            fn write_json(&self, out: &mut String) {
                match self { $($ty::$variant => push_literal!(out, concat!("\"", $name, "\"")),)* }
            }
        }
    )*};
}

write_enum! {
    Priority { Low => "Low", Medium => "Medium", High => "High", Critical => "Critical" }
    Status {
        InApproval => "InApproval", Approved => "Approved", Rejected => "Rejected", InProgress => "InProgress",
        OnHold => "OnHold", Resolved => "Resolved", Closed => "Closed",
    }
    PrioritySource { Person => "person", Automation => "automation" }
    TextField { Title => "title", Description => "description" }
    RuleKind { Prioritization => "prioritization", Assignment => "assignment", Escalation => "escalation", Sla => "sla" }
    ProblemCode {
        InvalidInput => "invalid_input", InvalidRequest => "invalid_request", InvalidRuleSet => "invalid_rule_set",
        InvalidTicket => "invalid_ticket", InvalidContext => "invalid_context",
    }
    PrioritizationOutcome {
        SetByRule => "set_by_rule", Default => "default", Raised => "raised", Lowered => "lowered", Kept => "kept",
    }
    AssignmentOutcome {
        Assigned => "assigned", AlreadyAssigned => "already_assigned", NoRule => "no_rule",
        NobodyEligible => "nobody_eligible", NeedsCounter => "needs_counter",
    }
    SkipReason { Unavailable => "unavailable", AtCapacity => "at_capacity" }
    SlaState { Ok => "ok", Warning => "warning", Breached => "breached", Paused => "paused", Met => "met" }
    SlaMetric { FirstResponse => "first_response", Resolution => "resolution" }
    WakeUpKind { Escalation => "escalation", SlaWarning => "sla_warning", SlaBreach => "sla_breach" }
}

/// Structs, written field by field in declaration order (as serde derives them). Each field's
/// name, with its quotes, colon and separator, is one literal copied by [`push_literal`].
macro_rules! write_struct {
    ($($ty:ident { $first:ident $(, $field:ident)* $(,)? })*) => {$(
        impl ToJson for $ty {
            fn write_json(&self, out: &mut String) {
                push_literal!(out, concat!("{\"", stringify!($first), "\":"));
                self.$first.write_json(out);
                $(
                    push_literal!(out, concat!(",\"", stringify!($field), "\":"));
                    self.$field.write_json(out);
                )*
                out.push('}');
            }
        }
    )*};
}

/// Appends `literal`, which is `N` bytes long (call it through `push_literal!`, which says so):
/// a copy of constant length, which a rule module makes in place, where a copy of variable
/// length is a `memory.copy` that Wasmtime performs by calling into the host, and the answer's
/// field and enum names were about 150 of those an `evaluate` (BENCHMARKS.md, "Stop 25"). One
/// function per length, out of line, so each call site stays a few bytes of module.
#[inline(never)]
fn push_literal<const N: usize>(out: &mut String, literal: &'static str) {
    out.push_str(literal.get(..N).unwrap_or(literal));
}

write_struct! {
    Evaluation { rule_set_version, prioritization, assignment, sla, escalations, next_wake_up, trace }
    PrioritizationDecision { priority, priority_source, previous, changed, outcome, rule, matches, reason }
    KeywordMatch { rule, keyword, field, start, end, start_byte, end_byte }
    AssignmentDecision { outcome, rule, role, assignee, counter, eligible, skipped, reason }
    SkippedUser { user, reason }
    SlaStatus { rule_set_version, priority, paused, first_response, resolution }
    MetricStatus { target_ms, state, elapsed_ms, remaining_ms, warning_at, deadline_at, met_at, breached_at }
    WakeUp { at, kind, subject }
    ModuleInfo { name, crate_version, abi_version, schema_version, rule_kinds, ops }
    ValidationSummary { version, rules }
    CounterNeededAnswer { rule_set_version, role }
    SlaAnswer { sla }
    WakeUpAnswer { rule_set_version, next_wake_up }
    Classification { priority, rule, role }
    Escalation { rule, key, status, status_entered_at, due_at, role, assignee, set_priority, reason }
    EscalationCheck { rule_set_version, fired, priority, assignee, next_wake_up, trace }
    ComplianceCounts { met, breached, compliance_bp }
    PriorityCompliance { priority, first_response, resolution }
    ComplianceReport { rule_set_version, from, to, by_priority, total, tickets_without_target }
    PriorityTotals { first_response, resolution }
}

impl ToJson for TraceEntry {
    fn write_json(&self, out: &mut String) {
        self.write_json_to(out);
    }
}

impl ToJson for Problem {
    /// Fields that are `None` are left out (`skip_serializing_if`).
    fn write_json(&self, out: &mut String) {
        let mut fields: Vec<(&str, &dyn ToJson)> = vec![("code", &self.code), ("message", &self.message)];
        for (name, value) in [("path", &self.path), ("rule", &self.rule), ("field", &self.field)] {
            if let Some(value) = value {
                fields.push((name, value));
            }
        }
        object(out, &fields);
    }
}

impl ToJson for Outcome {
    /// `"op":…,"answer":…` — the body of a success, without braces (see [`Answer`]).
    fn write_json(&self, out: &mut String) {
        let (op, answer): (&str, &dyn ToJson) = match self {
            Outcome::ModuleInfo(a) => ("module_info", a),
            Outcome::Validate(a) => ("validate", a),
            Outcome::Evaluate(a) => ("evaluate", a),
            Outcome::CounterNeeded(a) => ("counter_needed", a),
            Outcome::CheckEscalations(a) => ("check_escalations", a),
            Outcome::SlaStatus(a) => ("sla_status", a),
            Outcome::NextWakeUp(a) => ("next_wake_up", a),
            Outcome::ComplianceReport(a) => ("compliance_report", a),
        };
        out.push_str("\"op\":\"");
        out.push_str(op);
        out.push_str("\",\"answer\":");
        answer.write_json(out);
    }
}

impl ToJson for Answer {
    /// `{"type":"success","op":…,"answer":…}` or `{"type":"failure","errors":[…]}`.
    fn write_json(&self, out: &mut String) {
        match self {
            Answer::Success(outcome) => {
                out.push_str("{\"type\":\"success\",");
                outcome.write_json(out);
            }
            Answer::Failure { errors } => {
                out.push_str("{\"type\":\"failure\",\"errors\":");
                errors.write_json(out);
            }
        }
        out.push('}');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_are_written_as_display_writes_them() {
        let mut values: Vec<i64> = vec![0, 1, -1, 9, 10, -10, 99, 100, i64::MAX, i64::MIN, i64::MIN + 1];
        // Every power of ten and its neighbours, both signs.
        let mut p: i64 = 1;
        while let Some(next) = p.checked_mul(10) {
            values.extend([p - 1, p, p + 1, -p, 1 - p]);
            p = next;
        }
        // And a SplitMix64 sequence across the whole range.
        let mut state = 0x1234_5678_9abc_def0_u64;
        for _ in 0..10_000 {
            state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            values.push((z ^ (z >> 31)) as i64 >> (z % 64));
        }
        for n in values {
            let mut out = String::from("x");
            push_i64(&mut out, n);
            assert_eq!(out, format!("x{n}"));
            let mut out = String::new();
            push_u64(&mut out, n as u64);
            assert_eq!(out, (n as u64).to_string());
        }
        let mut out = String::new();
        push_u64(&mut out, u64::MAX);
        assert_eq!(out, "18446744073709551615");
    }

    #[test]
    fn needs_escape_agrees_with_serde_json_on_every_byte_at_every_lane() {
        for byte in 0..=0x7f_u8 {
            let escaped = serde_json::to_string(&char::from(byte).to_string()).unwrap().len() > 3;
            // Every length up to three steps, so that the overlapping last step and texts
            // shorter than one step are covered.
            for len in 1..=24 {
                for lane in 0..len {
                    let mut text = vec![b'a'; len];
                    text[lane] = byte;
                    assert_eq!(needs_escape(&text), escaped, "byte {byte:#04x} at {lane} of {len}");
                }
            }
        }
        // Above ASCII nothing is escaped, whatever the bytes of the UTF-8 encoding.
        for text in ["é", "中文", "😀", "\u{7f}", "\u{80}\u{ffff}\u{10ffff}", "ÿÿÿÿÿÿÿÿÿÿ"] {
            assert!(!needs_escape(text.as_bytes()), "{text:?}");
        }
    }

    #[test]
    fn strings_are_escaped_as_serde_json_escapes_them() {
        let every_ascii: String = (0..=0x7f_u8).map(char::from).collect();
        for text in [every_ascii.as_str(), "", "plain", "中文 \u{1}😀\"\\", "\u{7f}\u{80}", "tab\there"] {
            let mut out = String::new();
            json_str(&mut out, text);
            assert_eq!(out, serde_json::to_string(text).unwrap(), "{text:?}");
        }
    }
}
