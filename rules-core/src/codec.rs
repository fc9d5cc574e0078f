//! The one codec: JSON request bytes in, JSON answer text out. Every binding (native, the
//! wasm-bindgen package, the host-abi module) calls [`Codec::call`], so the browser and the
//! server cannot drift apart.
//!
//! Whatever bytes come in, an answer goes out: `{"type":"success","op":…,"answer":…}` or
//! `{"type":"failure","errors":[…]}`. Nothing here panics.

use std::collections::BTreeMap;
use std::sync::Arc;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::check::{check_now, check_ticket, check_users};
use crate::error::{Problem, ProblemCode};
use crate::escalate::EscalationCheck;
use crate::evaluate::Evaluation;
use crate::model::{Millis, Ticket, User, limits};
use crate::read::{ReadError, Reader};
use crate::ruleset::{RuleSet, RuleSetSpec};
use crate::sla::{ComplianceReport, SlaStatus, WakeUp};
use crate::trace::RuleKind;

/// Version of the host ABI (`nixflow_abi_version`) that carries this codec.
pub const ABI_VERSION: u32 = 1;

/// Version of the request and answer JSON schemas (`schema/*.schema.json`).
pub const SCHEMA_VERSION: u32 = 1;

/// A request, typed. The codec reads the same JSON (see `schema/request.schema.json`); Rust
/// callers build requests with this type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
pub enum Request {
    /// Crate version, ABI version, schema version, supported rule kinds.
    ModuleInfo {},
    /// Validate a rule set.
    Validate {
        /// The rule set.
        rule_set: RuleSetSpec,
    },
    /// Prioritize and assign a ticket after a create or update.
    Evaluate {
        /// The rule set.
        rule_set: RuleSetSpec,
        /// The ticket after the change.
        ticket: Ticket,
        /// The instant of the change.
        now: Millis,
        /// Helpdesk members (for assignment and the escalation timeline).
        #[serde(default)]
        users: Vec<User>,
        /// Round-robin counter value per role, as obtained by the host.
        #[serde(default)]
        counters: BTreeMap<String, u64>,
    },
    /// The role whose round-robin counter `evaluate` will need for this ticket, if any: the
    /// host's first, cheap question before it increments that counter and evaluates once.
    CounterNeeded {
        /// The rule set.
        rule_set: RuleSetSpec,
        /// The ticket after the change.
        ticket: Ticket,
        /// The instant of the change.
        now: Millis,
        /// Helpdesk members (the role's eligible members decide whether a counter is needed).
        #[serde(default)]
        users: Vec<User>,
    },
    /// Which escalations are due at `now`.
    CheckEscalations {
        /// The rule set.
        rule_set: RuleSetSpec,
        /// The ticket.
        ticket: Ticket,
        /// Now.
        now: Millis,
        /// Helpdesk members (escalation targets).
        #[serde(default)]
        users: Vec<User>,
    },
    /// SLA clocks at `now`.
    SlaStatus {
        /// The rule set.
        rule_set: RuleSetSpec,
        /// The ticket.
        ticket: Ticket,
        /// Now.
        now: Millis,
    },
    /// The next instant at which time alone changes something.
    NextWakeUp {
        /// The rule set.
        rule_set: RuleSetSpec,
        /// The ticket.
        ticket: Ticket,
        /// Now.
        now: Millis,
        /// Helpdesk members.
        #[serde(default)]
        users: Vec<User>,
    },
    /// Met and breached SLA targets per priority over `[from, to)`, clocks read at `now`.
    ComplianceReport {
        /// The rule set.
        rule_set: RuleSetSpec,
        /// The tickets.
        tickets: Vec<Ticket>,
        /// Now.
        now: Millis,
        /// Period start (inclusive).
        from: Millis,
        /// Period end (exclusive).
        to: Millis,
    },
}

/// What `module_info` answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(feature = "tsify", derive(tsify::Tsify))]
#[cfg_attr(feature = "tsify", tsify(missing_as_null))]
pub struct ModuleInfo {
    /// `nixflow-rules`.
    pub name: String,
    /// rules-core's crate version.
    pub crate_version: String,
    /// [`ABI_VERSION`].
    pub abi_version: u32,
    /// [`SCHEMA_VERSION`].
    pub schema_version: u32,
    /// Rule kinds evaluated.
    pub rule_kinds: Vec<RuleKind>,
    /// Ops answered.
    pub ops: Vec<String>,
}

/// What `validate` answers for a valid rule set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ValidationSummary {
    /// The rule set's version.
    pub version: u64,
    /// Rules per kind.
    pub rules: BTreeMap<String, u64>,
}

/// What `counter_needed` answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct CounterNeededAnswer {
    /// The rule set version that decided.
    pub rule_set_version: u64,
    /// The team role whose counter `evaluate` needs, or none when it decides without one
    /// (already assigned, no routing rule, nobody eligible).
    pub role: Option<String>,
}

/// What `sla_status` answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SlaAnswer {
    /// The clocks, or none when no target applies.
    pub sla: Option<SlaStatus>,
}

/// What `next_wake_up` answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct WakeUpAnswer {
    /// The rule set version that decided.
    pub rule_set_version: u64,
    /// The next wake-up, or none when time alone changes nothing.
    pub next_wake_up: Option<WakeUp>,
}

/// A successful answer, tagged by op.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "op", content = "answer", rename_all = "snake_case")]
#[allow(
    clippy::large_enum_variant,
    reason = "built once per call and serialized at once (the lint fires on 64-bit targets only)"
)]
pub enum Outcome {
    /// See [`Request::ModuleInfo`].
    ModuleInfo(ModuleInfo),
    /// See [`Request::Validate`].
    Validate(ValidationSummary),
    /// See [`Request::Evaluate`].
    Evaluate(Evaluation),
    /// See [`Request::CounterNeeded`].
    CounterNeeded(CounterNeededAnswer),
    /// See [`Request::CheckEscalations`].
    CheckEscalations(EscalationCheck),
    /// See [`Request::SlaStatus`].
    SlaStatus(SlaAnswer),
    /// See [`Request::NextWakeUp`].
    NextWakeUp(WakeUpAnswer),
    /// See [`Request::ComplianceReport`].
    ComplianceReport(ComplianceReport),
}

/// Every answer the codec gives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
#[allow(
    clippy::large_enum_variant,
    reason = "built once per call and serialized at once (the lint fires on 64-bit targets only)"
)]
pub enum Answer {
    /// The request was answered.
    Success(Outcome),
    /// The request was refused; nothing was decided.
    Failure {
        /// Every problem found.
        errors: Vec<Problem>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    ModuleInfo,
    Validate,
    Evaluate,
    CounterNeeded,
    CheckEscalations,
    SlaStatus,
    NextWakeUp,
    ComplianceReport,
}

impl Op {
    const ALL: [(Op, &'static str); 8] = [
        (Op::ModuleInfo, "module_info"),
        (Op::Validate, "validate"),
        (Op::Evaluate, "evaluate"),
        (Op::CounterNeeded, "counter_needed"),
        (Op::CheckEscalations, "check_escalations"),
        (Op::SlaStatus, "sla_status"),
        (Op::NextWakeUp, "next_wake_up"),
        (Op::ComplianceReport, "compliance_report"),
    ];

    fn name(self) -> &'static str {
        Self::ALL.iter().find(|(op, _)| *op == self).map_or("?", |(_, n)| n)
    }

    /// The fields this op takes, required first then optional.
    fn fields(self) -> (&'static [&'static str], &'static [&'static str]) {
        match self {
            Op::ModuleInfo => (&[], &[]),
            Op::Validate => (&["rule_set"], &[]),
            Op::Evaluate => (&["rule_set", "ticket", "now"], &["users", "counters"]),
            Op::CounterNeeded | Op::CheckEscalations | Op::NextWakeUp => (&["rule_set", "ticket", "now"], &["users"]),
            Op::SlaStatus => (&["rule_set", "ticket", "now"], &[]),
            Op::ComplianceReport => (&["rule_set", "tickets", "now", "from", "to"], &[]),
        }
    }
}

/// The request as read off the wire: one flat object whose rule set stays raw text, compared
/// with the cached one before anything is compiled. [`Request`] documents it.
#[derive(Default)]
struct WireRequest<'a> {
    op: Option<Op>,
    rule_set: Option<&'a str>,
    /// Whether `rule_set` is the cached rule set's text.
    rule_set_cached: bool,
    ticket: Option<Ticket>,
    tickets: Option<Vec<Ticket>>,
    now: Option<Millis>,
    users: Option<Vec<User>>,
    counters: Option<BTreeMap<String, u64>>,
    from: Option<Millis>,
    to: Option<Millis>,
}

impl<'a> WireRequest<'a> {
    const FIELDS: &'static [&'static str] =
        &["op", "rule_set", "ticket", "tickets", "now", "users", "counters", "from", "to"];

    /// Reads a request with [`crate::read`], the reader every request type goes through.
    /// `cached`: the text of the rule set in the codec's cache, compared instead of read.
    fn read(text: &'a str, cached: Option<&str>) -> Result<(Op, Self), ReadError> {
        let mut r = Reader::new(text);
        let mut w = WireRequest::default();
        r.object("struct WireRequest", |r, key| match key {
            "op" => {
                if w.op.is_some() {
                    return Err(r.duplicate_field("op"));
                }
                r.colon()?;
                let names = Op::ALL.map(|(_, name)| name);
                let index = r.variant(&names, "enum Op")?;
                w.op = Op::ALL.get(index).map(|(op, _)| *op);
                Ok(())
            }
            "rule_set" => {
                if w.rule_set.is_some() {
                    return Err(r.duplicate_field("rule_set"));
                }
                r.colon()?;
                let (cached, raw) = r.raw_or_known(cached)?;
                (w.rule_set, w.rule_set_cached) = (Some(raw), cached);
                Ok(())
            }
            "ticket" => r.field(&mut w.ticket, "ticket"),
            "tickets" => r.field(&mut w.tickets, "tickets"),
            "now" => r.field(&mut w.now, "now"),
            "users" => r.field(&mut w.users, "users"),
            "counters" => r.field(&mut w.counters, "counters"),
            "from" => r.field(&mut w.from, "from"),
            "to" => r.field(&mut w.to, "to"),
            _ => Err(r.unknown_field(key, Self::FIELDS)),
        })?;
        let op = w.op.ok_or_else(|| r.missing_field("op"))?;
        r.end()?;
        Ok((op, w))
    }

    fn present(&self) -> [(&'static str, bool); 8] {
        [
            ("rule_set", self.rule_set.is_some()),
            ("ticket", self.ticket.is_some()),
            ("tickets", self.tickets.is_some()),
            ("now", self.now.is_some()),
            ("users", self.users.is_some()),
            ("counters", self.counters.is_some()),
            ("from", self.from.is_some()),
            ("to", self.to.is_some()),
        ]
    }
}

/// `input` as text, or where it stops being UTF-8.
///
/// Natively, simdutf8 checks valid input 16 or 32 bytes a step (the standard library's check
/// was 2 % of a native evaluation, BENCHMARKS.md "Stop 28"); only invalid input is checked
/// again, by the standard library, for the offset the error reports. The rule modules, which
/// have no SIMD feature detection, keep the standard library's.
fn utf8(input: &[u8]) -> Result<&str, std::str::Utf8Error> {
    #[cfg(not(target_family = "wasm"))]
    if let Ok(text) = simdutf8::basic::from_utf8(input) {
        return Ok(text);
    }
    std::str::from_utf8(input)
}

/// The codec, with a one-entry cache of the last compiled rule set (keyed by its exact JSON
/// text) so that a long-lived instance evaluates many tickets without recompiling. The cache
/// changes speed only, never answers.
#[derive(Debug, Default)]
pub struct Codec {
    cache: Option<(String, Arc<RuleSet>)>,
    /// The length of the last answer: the next one is written into a buffer that size (at
    /// most [`ANSWER_HINT_MAX`]), so a codec answering similar requests does not regrow it five
    /// times per answer.
    last_answer_len: usize,
}

impl Codec {
    /// A codec with an empty cache.
    pub fn new() -> Self {
        Self::default()
    }

    /// Answers a request given as bytes. Never panics.
    pub fn call(&mut self, input: &[u8]) -> String {
        let answer = match utf8(input) {
            Ok(text) => self.answer(text),
            Err(e) => failure(vec![Problem::new(
                ProblemCode::InvalidInput,
                format!("input is not UTF-8 (invalid byte at offset {})", e.valid_up_to()),
            )]),
        };
        let json = write_json(&answer, self.last_answer_len);
        self.last_answer_len = json.len();
        json
    }

    /// Answers a request given as text, as a typed [`Answer`].
    pub fn answer(&mut self, input: &str) -> Answer {
        match self.try_answer(input) {
            Ok(outcome) => Answer::Success(outcome),
            Err(errors) => failure(errors),
        }
    }

    /// The compiled rule set of `raw`; `cached`: the request reader found it equal to the
    /// cached one's text.
    fn rule_set(&mut self, raw: &str, cached: bool) -> Result<Arc<RuleSet>, Vec<Problem>> {
        if let Some((text, rules)) = &self.cache
            && (cached || same_text(text, raw))
        {
            return Ok(Arc::clone(rules));
        }
        let rules = Arc::new(RuleSet::from_json(raw).map_err(|problems| {
            problems
                .into_iter()
                .map(|mut p| {
                    p.path = Some(match p.path.take() {
                        Some(path) if !path.is_empty() && path != "." => format!("rule_set.{path}"),
                        _ => "rule_set".to_owned(),
                    });
                    p
                })
                .collect::<Vec<_>>()
        })?);
        self.cache = Some((raw.to_owned(), Arc::clone(&rules)));
        Ok(rules)
    }

    fn try_answer(&mut self, input: &str) -> Result<Outcome, Vec<Problem>> {
        if input.len() > limits::INPUT_BYTES {
            return Err(vec![Problem::new(
                ProblemCode::InvalidInput,
                format!("input is {} bytes; the limit is {}", input.len(), limits::INPUT_BYTES),
            )]);
        }
        if !input.trim_start().starts_with('{') && !input.trim().is_empty() {
            return Err(vec![Problem::new(ProblemCode::InvalidRequest, "a request is a JSON object")]);
        }
        // Errors carry line and column; the rule set, which people edit by hand, is read
        // separately, positions within its own text.
        let cached = self.cache.as_ref().map(|(text, _)| text.as_str());
        let (op, request) = WireRequest::read(input, cached).map_err(|e| {
            let code = if e.is_syntax() { ProblemCode::InvalidInput } else { ProblemCode::InvalidRequest };
            vec![Problem::new(code, e.to_string())]
        })?;

        let (required, optional) = op.fields();
        let mut problems = Vec::new();
        for (field, present) in request.present() {
            if present && !required.contains(&field) && !optional.contains(&field) {
                problems.push(
                    Problem::new(ProblemCode::InvalidRequest, format!("op `{}` does not take `{field}`", op.name()))
                        .at(field),
                );
            } else if !present && required.contains(&field) {
                problems.push(
                    Problem::new(ProblemCode::InvalidRequest, format!("op `{}` needs `{field}`", op.name())).at(field),
                );
            }
        }
        if !problems.is_empty() {
            return Err(problems);
        }

        let now = request.now.unwrap_or_default();
        if request.now.is_some() {
            problems.extend(check_now(now, "now"));
        }
        if let Some(ticket) = &request.ticket {
            problems.extend(check_ticket(ticket, Some(now), "ticket"));
        }
        if let Some(tickets) = &request.tickets {
            if tickets.len() > limits::TICKETS {
                problems.push(
                    Problem::new(
                        ProblemCode::InvalidContext,
                        format!("{} tickets; the limit is {}", tickets.len(), limits::TICKETS),
                    )
                    .at("tickets"),
                );
            } else {
                for (i, t) in tickets.iter().enumerate() {
                    problems.extend(check_ticket(t, Some(now), &format!("tickets[{i}]")));
                }
            }
        }
        let users = request.users.unwrap_or_default();
        problems.extend(check_users(&users));
        if let (Some(from), Some(to)) = (request.from, request.to) {
            problems.extend(check_now(from, "from"));
            problems.extend(check_now(to, "to"));
            if from > to {
                problems.push(Problem::new(ProblemCode::InvalidContext, "`from` is after `to`").at("from"));
            }
        }
        // Rule-set problems come with the others, so one answer lists everything wrong.
        let rules = match request.rule_set {
            Some(raw) => match self.rule_set(raw, request.rule_set_cached) {
                Ok(rules) => Some(rules),
                Err(rule_problems) => {
                    problems.extend(rule_problems);
                    None
                }
            },
            None => None,
        };
        if !problems.is_empty() {
            return Err(problems);
        }

        let missing = || vec![Problem::new(ProblemCode::InvalidRequest, "missing field")];
        let rules = rules.as_deref();
        Ok(match op {
            Op::ModuleInfo => Outcome::ModuleInfo(module_info()),
            Op::Validate => {
                let rules = rules.ok_or_else(missing)?;
                Outcome::Validate(ValidationSummary { version: rules.version, rules: rules.rule_counts() })
            }
            Op::Evaluate => {
                let (rules, ticket) = (rules.ok_or_else(missing)?, request.ticket.ok_or_else(missing)?);
                let counters = request.counters.unwrap_or_default();
                Outcome::Evaluate(crate::evaluate::evaluate(rules, ticket, &users, &counters, now))
            }
            Op::CounterNeeded => {
                let (rules, ticket) = (rules.ok_or_else(missing)?, request.ticket.as_ref().ok_or_else(missing)?);
                Outcome::CounterNeeded(CounterNeededAnswer {
                    rule_set_version: rules.version,
                    role: crate::evaluate::counter_needed(rules, ticket, &users),
                })
            }
            Op::CheckEscalations => {
                let (rules, ticket) = (rules.ok_or_else(missing)?, request.ticket.as_ref().ok_or_else(missing)?);
                Outcome::CheckEscalations(crate::escalate::check(rules, ticket, &users, now))
            }
            Op::SlaStatus => {
                let (rules, ticket) = (rules.ok_or_else(missing)?, request.ticket.as_ref().ok_or_else(missing)?);
                Outcome::SlaStatus(SlaAnswer { sla: crate::sla::status(rules, ticket, now) })
            }
            Op::NextWakeUp => {
                let (rules, ticket) = (rules.ok_or_else(missing)?, request.ticket.as_ref().ok_or_else(missing)?);
                Outcome::NextWakeUp(WakeUpAnswer {
                    rule_set_version: rules.version,
                    next_wake_up: crate::sla::next_wake_up(rules, ticket, &users, now),
                })
            }
            Op::ComplianceReport => {
                let (rules, tickets) = (rules.ok_or_else(missing)?, request.tickets.as_deref().ok_or_else(missing)?);
                let (from, to) = (request.from.unwrap_or_default(), request.to.unwrap_or_default());
                Outcome::ComplianceReport(crate::sla::compliance(rules, tickets, from, to, now))
            }
        })
    }
}

/// `a == b`, eight bytes at a time and without an early exit, so that it vectorizes natively
/// and stays a few instructions per eight bytes in WebAssembly, where `memcmp` is a byte loop:
/// comparing the request's rule set with the cached one is how every warm call starts, and as
/// `==` it was 8 % of an `evaluate` in the host module (BENCHMARKS.md, "Instruction counts").
pub(crate) fn same_text(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    // Arrays, not `chunks_exact`: its iterator was left out of line once (2.7 % of an evaluation).
    let ((a, a_tail), (b, b_tail)) = (a.as_chunks::<8>(), b.as_chunks::<8>());
    let difference = a.iter().zip(b).fold(0, |acc, (x, y)| acc | (u64::from_ne_bytes(*x) ^ u64::from_ne_bytes(*y)));
    a_tail == b_tail && difference == 0
}

/// The ticket-side arguments of `evaluate`, for callers that hold a compiled [`RuleSet`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(feature = "tsify", derive(tsify::Tsify))]
#[cfg_attr(feature = "tsify", tsify(missing_as_null))]
#[serde(deny_unknown_fields)]
pub struct EvaluateInput {
    /// The ticket after the change.
    pub ticket: Ticket,
    /// The instant of the change.
    pub now: Millis,
    /// Helpdesk members.
    #[serde(default)]
    pub users: Vec<User>,
    /// Round-robin counter value per role.
    #[serde(default)]
    #[cfg_attr(feature = "tsify", tsify(type = "Record<string, number>"))]
    pub counters: BTreeMap<String, u64>,
}

impl EvaluateInput {
    /// Checks the input as the codec would, then evaluates.
    pub fn evaluate(self, rules: &RuleSet) -> Result<Evaluation, Vec<Problem>> {
        checked(&self.ticket, self.now, &self.users)?;
        Ok(crate::evaluate::evaluate(rules, self.ticket, &self.users, &self.counters, self.now))
    }
}

/// The arguments of `check_escalations`, `sla_status` and `next_wake_up`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(feature = "tsify", derive(tsify::Tsify))]
#[cfg_attr(feature = "tsify", tsify(missing_as_null))]
#[serde(deny_unknown_fields)]
pub struct CheckInput {
    /// The ticket.
    pub ticket: Ticket,
    /// Now.
    pub now: Millis,
    /// Helpdesk members.
    #[serde(default)]
    pub users: Vec<User>,
}

impl CheckInput {
    /// Checks the input as the codec would, then checks escalations.
    pub fn check_escalations(&self, rules: &RuleSet) -> Result<EscalationCheck, Vec<Problem>> {
        checked(&self.ticket, self.now, &self.users)?;
        Ok(crate::escalate::check(rules, &self.ticket, &self.users, self.now))
    }

    /// Checks the input as the codec would, then reads the SLA clocks.
    pub fn sla_status(&self, rules: &RuleSet) -> Result<Option<SlaStatus>, Vec<Problem>> {
        checked(&self.ticket, self.now, &self.users)?;
        Ok(crate::sla::status(rules, &self.ticket, self.now))
    }
}

fn checked(ticket: &Ticket, now: Millis, users: &[User]) -> Result<(), Vec<Problem>> {
    let mut problems = check_now(now, "now");
    problems.extend(check_ticket(ticket, Some(now), "ticket"));
    problems.extend(check_users(users));
    if problems.is_empty() { Ok(()) } else { Err(problems) }
}

/// Answers one request with a fresh codec (no cache).
pub fn call(input: &[u8]) -> String {
    Codec::new().call(input)
}

/// What `module_info` reports.
pub fn module_info() -> ModuleInfo {
    ModuleInfo {
        name: if cfg!(feature = "legacy-substring") { "nixflow-rules-legacy-substring" } else { "nixflow-rules" }
            .to_owned(),
        crate_version: env!("CARGO_PKG_VERSION").to_owned(),
        abi_version: ABI_VERSION,
        schema_version: SCHEMA_VERSION,
        rule_kinds: RuleKind::ALL.to_vec(),
        ops: Op::ALL.iter().map(|(_, n)| (*n).to_owned()).collect(),
    }
}

fn failure(errors: Vec<Problem>) -> Answer {
    Answer::Failure { errors }
}

/// An answer as JSON text, written by [`crate::write`]: byte for byte serde_json's text of
/// the derived `Serialize` (a property test compares them).
pub fn to_json(answer: &Answer) -> String {
    write_json(answer, 0)
}

/// A successful outcome as [`Codec::call`] answers it (`{"type":"success","op":…,"answer":…}`):
/// for bindings that hold typed values and hand them on as JSON.
pub fn success_json(outcome: Outcome) -> String {
    write_json(&Answer::Success(outcome), SUCCESS_HINT)
}

/// The buffer [`success_json`] starts with: a typical evaluation's answer is 3.6 KB.
const SUCCESS_HINT: usize = 4 * 1024;

fn write_json(answer: &Answer, capacity: usize) -> String {
    crate::write::to_string(answer, capacity.clamp(128, ANSWER_HINT_MAX))
}

/// The largest buffer an answer starts with: one huge answer (a compliance report over 50,000
/// tickets) must not make every later small answer allocate as much.
const ANSWER_HINT_MAX: usize = 64 * 1024;

/// The JSON Schema of [`Request`], versioned by [`SCHEMA_VERSION`].
pub fn request_schema() -> serde_json::Value {
    let mut schema = serde_json::to_value(schemars::schema_for!(Request)).unwrap_or_default();
    stamp(&mut schema, "request");
    schema
}

/// The JSON Schema of [`Answer`], versioned by [`SCHEMA_VERSION`].
pub fn answer_schema() -> serde_json::Value {
    let mut schema = serde_json::to_value(schemars::schema_for!(Answer)).unwrap_or_default();
    stamp(&mut schema, "answer");
    schema
}

fn stamp(schema: &mut serde_json::Value, name: &str) {
    if let Some(obj) = schema.as_object_mut() {
        obj.insert("$id".to_owned(), format!("urn:nixflow:rules:schema:v{SCHEMA_VERSION}:{name}").into());
    }
}

#[cfg(test)]
mod tests {
    use super::{same_text, utf8};

    #[test]
    fn utf8_agrees_with_the_standard_library_at_every_offset() {
        // Longer than the SIMD check's 64-byte blocks, with multi-byte characters across their
        // edges; each invalid byte (a lone continuation byte, a truncated character, a
        // surrogate) at every offset.
        let text: String = "ticket é ünïcode 😀 text ".repeat(8);
        assert_eq!(utf8(text.as_bytes()), Ok(text.as_str()));
        for bad in [&[0x80_u8][..], &[0xe2, 0x82], &[0xed, 0xa0, 0x80], &[0xff]] {
            for at in 0..text.len() {
                let mut bytes = text.as_bytes().to_vec();
                bytes.splice(at..at, bad.iter().copied());
                assert_eq!(utf8(&bytes), std::str::from_utf8(&bytes), "{bad:?} at {at}");
                assert!(utf8(&bytes).is_err(), "{bad:?} at {at}");
            }
        }
    }

    #[test]
    fn same_text_is_string_equality() {
        let base: String = (0..100).map(|i| char::from(b'a' + (i % 26) as u8)).collect();
        for len in 0..base.len() {
            let a = &base[..len];
            assert!(same_text(a, a), "{len}");
            assert!(!same_text(a, &base[..len + 1]), "{len}");
            for at in 0..len {
                let mut b = a.as_bytes().to_vec();
                b[at] = b'#';
                assert!(!same_text(a, std::str::from_utf8(&b).unwrap()), "{len} at {at}");
            }
        }
    }
}
