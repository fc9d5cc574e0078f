//! Rule sets: the JSON a manager writes ([`RuleSetSpec`]) and the validated, compiled form the
//! evaluators read ([`RuleSet`]). All fallible work happens here, once per rule set.

use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::duration::DurationSpec;
use crate::error::{Problem, ProblemCode};
use crate::matcher::{KeywordMatcher, KeywordPattern};
use crate::model::{Millis, Priority, Status, limits};
use crate::trace::{Text, quoted_list};

/// The default rule set, shipped with the crate.
pub const DEFAULT_RULE_SET_JSON: &str = include_str!("../default-rules.json");

/// A rule set as written: plain data, validated by [`RuleSet::compile`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(feature = "tsify", derive(tsify::Tsify))]
#[cfg_attr(feature = "tsify", tsify(missing_as_null))]
#[serde(deny_unknown_fields)]
pub struct RuleSetSpec {
    /// Version number; the host assigns a new one on every publish and records it on decisions.
    pub version: u64,
    /// Priority of a new ticket that no rule and no person prioritized.
    #[serde(default = "default_priority")]
    #[schemars(with = "Priority")]
    pub default_priority: String,
    /// Keyword rules that set a priority; the highest matching priority wins.
    #[serde(default)]
    pub prioritization: Vec<PrioritizationRuleSpec>,
    /// Category → team role; the role's members take tickets in turn.
    #[serde(default)]
    pub assignment: Vec<AssignmentRuleSpec>,
    /// Time-in-status escalations.
    #[serde(default)]
    pub escalation: Vec<EscalationRuleSpec>,
    /// Service-level targets; absent means no SLA is tracked.
    #[serde(default)]
    pub sla: Option<SlaPolicySpec>,
}

pub(crate) fn default_priority() -> String {
    Priority::Medium.as_str().to_owned()
}

/// Which text a keyword rule reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(feature = "tsify", derive(tsify::Tsify))]
#[cfg_attr(feature = "tsify", tsify(missing_as_null))]
#[serde(rename_all = "snake_case")]
pub enum TextField {
    /// The ticket's title.
    Title,
    /// The ticket's description.
    Description,
}

impl TextField {
    /// Both fields, in order.
    pub const ALL: [TextField; 2] = [Self::Title, Self::Description];

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Title => "title",
            Self::Description => "description",
        }
    }
}

/// A fieldless enum with few values (at most eight), for [`SmallSet`].
pub trait SmallEnum: Copy + Eq + 'static {
    /// Every value, in order.
    const ALL: &'static [Self];

    /// The value's place in [`Self::ALL`].
    fn index(self) -> u32;
}

impl SmallEnum for TextField {
    const ALL: &'static [Self] = &TextField::ALL;

    fn index(self) -> u32 {
        self as u32
    }
}

impl SmallEnum for Status {
    const ALL: &'static [Self] = &Status::ALL;

    fn index(self) -> u32 {
        self as u32
    }
}

/// A set of a [`SmallEnum`]'s values: one bit each, iterated in the enum's order. In place of a
/// `BTreeSet` for two fields or seven statuses, whose code every rule module carried once per
/// element type (BENCHMARKS.md, "Module sizes").
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct SmallSet<T> {
    bits: u8,
    of: PhantomData<T>,
}

impl<T: SmallEnum> SmallSet<T> {
    /// The empty set.
    pub const fn new() -> Self {
        Self { bits: 0, of: PhantomData }
    }

    fn bit(value: T) -> u8 {
        1_u8.checked_shl(value.index()).unwrap_or(0)
    }

    /// Adds `value`.
    pub fn insert(&mut self, value: T) {
        self.bits |= Self::bit(value);
    }

    /// Whether `value` is in the set.
    pub fn contains(&self, value: &T) -> bool {
        self.bits & Self::bit(*value) != 0
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.bits == 0
    }

    /// The values in the set, in the enum's order.
    pub fn iter(&self) -> impl Iterator<Item = T> + '_ {
        T::ALL.iter().copied().filter(|v| self.contains(v))
    }
}

impl<T: SmallEnum> Default for SmallSet<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: SmallEnum + fmt::Debug> fmt::Debug for SmallSet<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

/// SLA targets by priority: one slot per priority, in place of a `BTreeMap` of at most four.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SlaTargets([Option<SlaTarget>; 4]);

impl SlaTargets {
    fn slot(priority: Priority) -> usize {
        priority as usize
    }

    /// The target for `priority`, if the policy sets one.
    pub fn get(&self, priority: &Priority) -> Option<&SlaTarget> {
        self.0.get(Self::slot(*priority)).and_then(Option::as_ref)
    }

    /// Sets the target for `priority`, returning the one it replaces.
    pub fn insert(&mut self, priority: Priority, target: SlaTarget) -> Option<SlaTarget> {
        self.0.get_mut(Self::slot(priority)).and_then(|slot| slot.replace(target))
    }

    /// How many priorities have a target.
    pub fn len(&self) -> usize {
        self.0.iter().filter(|t| t.is_some()).count()
    }

    /// Whether no priority has a target.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// How a keyword must sit in the text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(feature = "tsify", derive(tsify::Tsify))]
#[cfg_attr(feature = "tsify", tsify(missing_as_null))]
#[serde(rename_all = "snake_case")]
pub enum MatchMode {
    /// As a whole word: `down` matches `down.` and `DOWN` but not `download` or `countdown`.
    #[cfg_attr(not(feature = "legacy-substring"), default)]
    Word,
    /// Anywhere, even inside a word (the default only in the `legacy-substring` flavour).
    #[cfg_attr(feature = "legacy-substring", default)]
    Substring,
}

/// Sets a priority when any keyword appears (and the optional conditions hold).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(feature = "tsify", derive(tsify::Tsify))]
#[cfg_attr(feature = "tsify", tsify(missing_as_null))]
#[serde(deny_unknown_fields)]
pub struct PrioritizationRuleSpec {
    /// Unique id within the rule set.
    pub id: String,
    /// Any one of these, case-insensitively (Unicode case folding).
    pub keywords: Vec<String>,
    /// The priority to set.
    #[schemars(with = "Priority")]
    pub priority: String,
    /// Where to look; both title and description when absent.
    #[serde(default)]
    pub fields: Option<Vec<TextField>>,
    /// Whole word (default) or substring.
    #[serde(default)]
    pub match_mode: MatchMode,
    /// Only tickets in one of these categories; any category when empty.
    #[serde(default)]
    pub categories: Vec<String>,
    /// Only tickets from one of these requesters; anyone when empty.
    #[serde(default)]
    pub requesters: Vec<String>,
    /// Allows this rule to lower a priority (even one a person set). Off by default.
    #[serde(default)]
    pub may_lower: bool,
}

/// Routes a category to a team role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(feature = "tsify", derive(tsify::Tsify))]
#[cfg_attr(feature = "tsify", tsify(missing_as_null))]
#[serde(deny_unknown_fields)]
pub struct AssignmentRuleSpec {
    /// Unique id within the rule set.
    pub id: String,
    /// The ticket category, matched exactly.
    pub category: String,
    /// The team role whose members take turns.
    pub role: String,
}

/// Escalates a ticket that stays too long in a status at a priority.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(feature = "tsify", derive(tsify::Tsify))]
#[cfg_attr(feature = "tsify", tsify(missing_as_null))]
#[serde(deny_unknown_fields)]
pub struct EscalationRuleSpec {
    /// Unique id within the rule set.
    pub id: String,
    /// The ticket's priority.
    #[schemars(with = "Priority")]
    pub priority: String,
    /// The ticket's status.
    #[schemars(with = "Status")]
    pub status: String,
    /// Fires once time in the status is strictly beyond this.
    pub after: DurationSpec,
    /// Reassign to the first available member (by id) of this role.
    pub escalate_to_role: String,
    /// Optionally set this priority.
    #[serde(default)]
    #[schemars(with = "Option<Priority>")]
    pub set_priority: Option<String>,
}

/// Service-level policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(feature = "tsify", derive(tsify::Tsify))]
#[cfg_attr(feature = "tsify", tsify(missing_as_null))]
#[serde(deny_unknown_fields)]
pub struct SlaPolicySpec {
    /// Warning at this fraction of a target, in basis points (8000 = 80%).
    #[serde(default = "default_warning_bp")]
    pub warning_bp: u32,
    /// Statuses in which the clocks stop counting.
    #[serde(default = "default_pause_statuses")]
    #[schemars(with = "Vec<Status>")]
    pub pause_statuses: Vec<String>,
    /// Targets per priority.
    pub targets: Vec<SlaTargetSpec>,
}

pub(crate) fn default_warning_bp() -> u32 {
    8_000
}

pub(crate) fn default_pause_statuses() -> Vec<String> {
    vec![Status::OnHold.as_str().to_owned()]
}

/// First-response and resolution targets for one priority.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(feature = "tsify", derive(tsify::Tsify))]
#[cfg_attr(feature = "tsify", tsify(missing_as_null))]
#[serde(deny_unknown_fields)]
pub struct SlaTargetSpec {
    /// The priority these targets apply to.
    #[schemars(with = "Priority")]
    pub priority: String,
    /// Time to the first response.
    pub first_response: DurationSpec,
    /// Time to resolution.
    pub resolution: DurationSpec,
}

/// A validated, compiled prioritization rule.
#[derive(Debug, Clone)]
pub struct PrioritizationRule {
    /// Rule id.
    pub id: Text,
    /// Keywords as written.
    pub keywords: Vec<String>,
    /// Priority to set.
    pub priority: Priority,
    /// Fields read.
    pub fields: SmallSet<TextField>,
    /// Word or substring.
    pub match_mode: MatchMode,
    /// Category condition (empty = any).
    pub categories: Vec<String>,
    /// Requester condition (empty = any).
    pub requesters: Vec<String>,
    /// May lower a priority.
    pub may_lower: bool,
    /// Trace text, formatted once here instead of on every evaluation.
    pub(crate) explain: PrioritizationExplain,
}

/// Precomputed trace text of a prioritization rule.
#[derive(Debug, Clone)]
pub(crate) struct PrioritizationExplain {
    pub keywords: Text,
    pub no_match: Text,
    pub categories: Text,
    pub requesters: Text,
    pub would_set: Text,
}

impl PrioritizationExplain {
    fn new(
        keywords: &[String],
        fields: &SmallSet<TextField>,
        mode: MatchMode,
        categories: &[String],
        requesters: &[String],
        priority: Priority,
    ) -> Self {
        let fields = quoted_list(fields.iter().map(|f| f.as_str()));
        let mode = match mode {
            MatchMode::Word => "whole word",
            MatchMode::Substring => "substring",
        };
        Self {
            keywords: format!("any of {} ({mode}) in {fields}", quoted_list(keywords.iter().map(String::as_str)))
                .into(),
            no_match: format!("none of them in {fields}").into(),
            categories: format!("one of {}", quoted_list(categories.iter().map(String::as_str))).into(),
            requesters: format!("one of {}", quoted_list(requesters.iter().map(String::as_str))).into(),
            would_set: format!("would set {}", priority.as_str()).into(),
        }
    }
}

/// A validated assignment rule.
#[derive(Debug, Clone)]
pub struct AssignmentRule {
    /// Rule id.
    pub id: Text,
    /// Category matched.
    pub category: String,
    /// Role assigned.
    pub role: String,
    /// Trace text: the category as expected, and what a match does.
    pub(crate) expected: Text,
    pub(crate) note: Text,
}

/// A validated escalation rule.
#[derive(Debug, Clone)]
pub struct EscalationRule {
    /// Rule id.
    pub id: Text,
    /// Priority matched.
    pub priority: Priority,
    /// Status matched.
    pub status: Status,
    /// Threshold in milliseconds (fires when time in status is strictly greater).
    pub after_ms: Millis,
    /// Target role.
    pub escalate_to_role: String,
    /// Priority to set, if any.
    pub set_priority: Option<Priority>,
    /// Trace text of the time condition.
    pub(crate) expected_after: Text,
    /// Trace text of the priority condition (shared, not allocated per evaluation).
    pub(crate) expected_priority: Text,
    /// Trace text of the status condition.
    pub(crate) expected_status: Text,
}

/// Targets for one priority, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlaTarget {
    /// First-response target.
    pub first_response_ms: Millis,
    /// Resolution target.
    pub resolution_ms: Millis,
}

/// A validated SLA policy.
#[derive(Debug, Clone)]
pub struct SlaPolicy {
    /// Warning fraction in basis points (1..=9999).
    pub warning_bp: u32,
    /// Statuses that pause the clocks.
    pub pause_statuses: SmallSet<Status>,
    /// Targets by priority.
    pub targets: SlaTargets,
}

impl SlaPolicy {
    /// Whether the clocks pause in `status`.
    pub fn pauses_in(&self, status: Status) -> bool {
        self.pause_statuses.contains(&status)
    }
}

/// A validated rule set, ready to evaluate many tickets without reparsing.
#[derive(Debug, Clone)]
pub struct RuleSet {
    /// The version from the spec.
    pub version: u64,
    /// Priority for unprioritized new tickets.
    pub default_priority: Priority,
    /// Prioritization rules in written order.
    pub prioritization: Vec<PrioritizationRule>,
    /// Assignment rules in written order.
    pub assignment: Vec<AssignmentRule>,
    /// Escalation rules in written order.
    pub escalation: Vec<EscalationRule>,
    /// SLA policy, if any.
    pub sla: Option<SlaPolicy>,
    pub(crate) matcher: KeywordMatcher,
}

impl RuleSet {
    /// The default rule set, compiled.
    pub fn default_rules() -> Result<Self, Vec<Problem>> {
        Self::from_json(DEFAULT_RULE_SET_JSON)
    }

    /// Parses and compiles a rule set from JSON text. Shape errors carry the line and column
    /// within the rule set's own text.
    pub fn from_json(json: &str) -> Result<Self, Vec<Problem>> {
        let spec: RuleSetSpec =
            crate::read::from_str(json).map_err(|e| vec![Problem::new(ProblemCode::InvalidRuleSet, e.to_string())])?;
        Self::compile(&spec)
    }

    /// Validates a spec and compiles it. Reports every problem found, not just the first.
    pub fn compile(spec: &RuleSetSpec) -> Result<Self, Vec<Problem>> {
        let mut v = Validator::default();
        let default_priority = v.priority("rule set", "default_priority", &spec.default_priority);

        let total =
            spec.prioritization.len().saturating_add(spec.assignment.len()).saturating_add(spec.escalation.len());
        if total > limits::RULES {
            v.problems.push(Problem::new(
                ProblemCode::InvalidRuleSet,
                format!("too many rules: {total}; the limit is {}", limits::RULES),
            ));
            return Err(v.problems);
        }

        let mut prioritization = Vec::with_capacity(spec.prioritization.len());
        let mut patterns = Vec::new();
        for (index, r) in spec.prioritization.iter().enumerate() {
            v.id(&r.id, "prioritization", index);
            let priority = v.priority(&r.id, "priority", &r.priority);
            if r.keywords.is_empty() {
                v.problems.push(Problem::in_rule(&r.id, "keywords", format!("rule `{}` has no keywords", r.id)));
            }
            if r.keywords.len() > limits::KEYWORDS_PER_RULE {
                v.problems.push(Problem::in_rule(
                    &r.id,
                    "keywords",
                    format!(
                        "rule `{}` has {} keywords; the limit is {}",
                        r.id,
                        r.keywords.len(),
                        limits::KEYWORDS_PER_RULE
                    ),
                ));
            }
            for (k, keyword) in r.keywords.iter().enumerate() {
                let field = format!("keywords[{k}]");
                if keyword.trim().is_empty() {
                    v.problems.push(Problem::in_rule(&r.id, &field, format!("empty keyword in rule `{}`", r.id)));
                } else {
                    v.name(&r.id, &field, keyword);
                    patterns.push(KeywordPattern {
                        rule: prioritization.len(),
                        keyword_index: k,
                        keyword: keyword.trim().to_owned(),
                        mode: r.match_mode,
                    });
                }
            }
            let mut fields = SmallSet::new();
            match &r.fields {
                None => {
                    fields.insert(TextField::Title);
                    fields.insert(TextField::Description);
                }
                Some(f) if f.is_empty() => {
                    v.problems.push(Problem::in_rule(&r.id, "fields", format!("rule `{}` reads no fields", r.id)));
                }
                Some(f) => {
                    for field in f {
                        fields.insert(*field);
                    }
                }
            }
            for (k, c) in r.categories.iter().enumerate() {
                v.name(&r.id, &format!("categories[{k}]"), c);
            }
            for (k, c) in r.requesters.iter().enumerate() {
                v.name(&r.id, &format!("requesters[{k}]"), c);
            }
            if let Some(priority) = priority {
                let keywords: Vec<String> = r.keywords.iter().map(|k| k.trim().to_owned()).collect();
                let explain = PrioritizationExplain::new(
                    &keywords,
                    &fields,
                    r.match_mode,
                    &r.categories,
                    &r.requesters,
                    priority,
                );
                prioritization.push(PrioritizationRule {
                    id: r.id.as_str().into(),
                    keywords,
                    priority,
                    explain,
                    fields,
                    match_mode: r.match_mode,
                    categories: r.categories.clone(),
                    requesters: r.requesters.clone(),
                    may_lower: r.may_lower,
                });
            }
            // A rule with an unknown priority is not pushed, so later patterns' indices would
            // be off by one; that is harmless because such a set is refused before the
            // matcher is built.
        }

        let mut assignment = Vec::with_capacity(spec.assignment.len());
        // Category -> the place of the rule routing it: `BTreeMap<String, u64>` is the one B-tree
        // type of the crate (the request's counters, the matcher's index, the rule ids), and each
        // B-tree type is kilobytes of module code.
        let mut categories: BTreeMap<String, u64> = BTreeMap::new();
        for (index, r) in spec.assignment.iter().enumerate() {
            v.id(&r.id, "assignment", index);
            v.name(&r.id, "category", &r.category);
            v.name(&r.id, "role", &r.role);
            if let Some(first) = categories.insert(r.category.clone(), u64::try_from(index).unwrap_or(u64::MAX)) {
                let first =
                    usize::try_from(first).ok().and_then(|i| spec.assignment.get(i)).map_or("", |f| f.id.as_str());
                v.problems.push(Problem::in_rule(
                    &r.id,
                    "category",
                    format!("category `{}` is already routed by rule `{first}` (in rule `{}`)", r.category, r.id),
                ));
            }
            assignment.push(AssignmentRule {
                id: r.id.as_str().into(),
                category: r.category.clone(),
                role: r.role.clone(),
                expected: format!("`{}`", r.category).into(),
                note: format!("routes to role `{}`", r.role).into(),
            });
        }

        let mut escalation = Vec::with_capacity(spec.escalation.len());
        for (index, r) in spec.escalation.iter().enumerate() {
            v.id(&r.id, "escalation", index);
            let priority = v.priority(&r.id, "priority", &r.priority);
            let status = v.status(&r.id, "status", &r.status);
            let after_ms = v.duration(&r.id, "after", &r.after);
            v.name(&r.id, "escalate_to_role", &r.escalate_to_role);
            let set_priority = match &r.set_priority {
                Some(p) => v.priority(&r.id, "set_priority", p).map(Some),
                None => Some(None),
            };
            if let (Some(priority), Some(status), Some(after_ms), Some(set_priority)) =
                (priority, status, after_ms, set_priority)
            {
                escalation.push(EscalationRule {
                    expected_after: format!("more than {}", crate::duration::format_millis(after_ms)).into(),
                    expected_priority: priority.as_str().into(),
                    expected_status: status.as_str().into(),
                    id: r.id.as_str().into(),
                    priority,
                    status,
                    after_ms,
                    escalate_to_role: r.escalate_to_role.clone(),
                    set_priority,
                });
            }
        }

        let sla = spec.sla.as_ref().map(|s| v.sla(s));

        if !v.problems.is_empty() {
            return Err(v.problems);
        }
        let (Some(default_priority), Some(sla)) = (default_priority, sla.map_or(Some(None), |s| s.map(Some))) else {
            return Err(vec![Problem::new(ProblemCode::InvalidRuleSet, "invalid rule set")]);
        };
        let matcher = KeywordMatcher::new(&patterns).map_err(|e| {
            vec![Problem::new(ProblemCode::InvalidRuleSet, format!("keywords cannot be compiled: {e}"))]
        })?;
        Ok(Self { version: spec.version, default_priority, prioritization, assignment, escalation, sla, matcher })
    }

    /// Counts of rules by kind, for summaries.
    pub fn rule_counts(&self) -> BTreeMap<String, u64> {
        let mut counts = BTreeMap::new();
        // Inserted, not built from an array: that sorts, and a sort costs kilobytes of module.
        for (kind, n) in [
            ("prioritization", self.prioritization.len()),
            ("assignment", self.assignment.len()),
            ("escalation", self.escalation.len()),
            ("sla_targets", self.sla.as_ref().map_or(0, |s| s.targets.len())),
        ] {
            counts.insert(kind.to_owned(), u64::try_from(n).unwrap_or(u64::MAX));
        }
        counts
    }
}

#[derive(Default)]
struct Validator {
    problems: Vec<Problem>,
    /// Rule ids seen. A map (to the rule's place in its list, never read) rather than a set:
    /// the request's counters already bring this B-tree type into the modules.
    ids: BTreeMap<String, u64>,
}

impl Validator {
    fn id(&mut self, id: &str, kind: &str, index: usize) {
        if id.trim().is_empty() {
            self.problems.push(
                Problem::new(ProblemCode::InvalidRuleSet, format!("{kind} rule #{index} has an empty id"))
                    .at(format!("{kind}[{index}].id")),
            );
            return;
        }
        if self.ids.insert(id.to_owned(), u64::try_from(index).unwrap_or(u64::MAX)).is_some() {
            self.problems.push(Problem::in_rule(id, "id", format!("duplicate rule id `{id}`")));
        }
        self.name(id, "id", id);
    }

    fn name(&mut self, rule: &str, field: &str, value: &str) {
        if value.len() > limits::NAME_BYTES {
            self.problems.push(Problem::in_rule(
                rule,
                field,
                format!("{field} in rule `{rule}` is {} bytes; the limit is {}", value.len(), limits::NAME_BYTES),
            ));
        } else if value.is_empty() {
            self.problems.push(Problem::in_rule(rule, field, format!("empty {field} in rule `{rule}`")));
        }
    }

    fn priority(&mut self, rule: &str, field: &str, value: &str) -> Option<Priority> {
        let p = Priority::parse(value);
        if p.is_none() {
            self.problems.push(Problem::in_rule(rule, field, format!("unknown priority `{value}` in rule `{rule}`")));
        }
        p
    }

    fn status(&mut self, rule: &str, field: &str, value: &str) -> Option<Status> {
        let s = Status::parse(value);
        if s.is_none() {
            self.problems.push(Problem::in_rule(rule, field, format!("unknown status `{value}` in rule `{rule}`")));
        }
        s
    }

    fn duration(&mut self, rule: &str, field: &str, value: &DurationSpec) -> Option<Millis> {
        match value.to_millis() {
            Ok(ms) => Some(ms),
            Err(reason) => {
                self.problems.push(Problem::in_rule(
                    rule,
                    field,
                    format!("invalid duration `{value}` in rule `{rule}`: {reason}"),
                ));
                None
            }
        }
    }

    fn sla(&mut self, s: &SlaPolicySpec) -> Option<SlaPolicy> {
        const RULE: &str = "sla";
        let before = self.problems.len();
        if !(1..=9_999).contains(&s.warning_bp) {
            self.problems.push(Problem::in_rule(
                RULE,
                "warning_bp",
                format!("warning_bp `{}` in rule `sla` must be between 1 and 9999", s.warning_bp),
            ));
        }
        let mut pause_statuses = SmallSet::new();
        for (k, st) in s.pause_statuses.iter().enumerate() {
            let field = format!("pause_statuses[{k}]");
            if let Some(status) = self.status(RULE, &field, st) {
                if status.is_final() {
                    self.problems.push(Problem::in_rule(
                        RULE,
                        &field,
                        format!("final status `{st}` cannot pause the clocks in rule `sla`"),
                    ));
                }
                pause_statuses.insert(status);
            }
        }
        let mut targets = SlaTargets::default();
        for (k, t) in s.targets.iter().enumerate() {
            let priority = self.priority(RULE, &format!("targets[{k}].priority"), &t.priority);
            let first = self.duration(RULE, &format!("targets[{k}].first_response"), &t.first_response);
            let resolution = self.duration(RULE, &format!("targets[{k}].resolution"), &t.resolution);
            if let (Some(p), Some(first_response_ms), Some(resolution_ms)) = (priority, first, resolution)
                && targets.insert(p, SlaTarget { first_response_ms, resolution_ms }).is_some()
            {
                self.problems.push(Problem::in_rule(
                    RULE,
                    format!("targets[{k}].priority"),
                    format!("duplicate target for priority `{}` in rule `sla`", t.priority),
                ));
            }
        }
        (self.problems.len() == before).then_some(SlaPolicy { warning_bp: s.warning_bp, pause_statuses, targets })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index_is_place_in_all<T: SmallEnum + fmt::Debug>() {
        for (i, &value) in T::ALL.iter().enumerate() {
            assert_eq!(value.index() as usize, i, "{value:?}");
        }
    }

    #[test]
    fn small_sets_hold_their_values_in_enum_order() {
        index_is_place_in_all::<TextField>();
        index_is_place_in_all::<Status>();
        let mut set = SmallSet::new();
        assert!(set.is_empty());
        for status in [Status::Closed, Status::OnHold, Status::InApproval, Status::OnHold] {
            set.insert(status);
        }
        assert_eq!(set.iter().collect::<Vec<_>>(), [Status::InApproval, Status::OnHold, Status::Closed]);
        assert!(set.contains(&Status::OnHold) && !set.contains(&Status::Approved));
    }

    #[test]
    fn sla_targets_keep_one_slot_per_priority() {
        let target = |ms| SlaTarget { first_response_ms: ms, resolution_ms: ms };
        let mut targets = SlaTargets::default();
        assert_eq!(targets.insert(Priority::High, target(1)), None);
        assert_eq!(targets.insert(Priority::Low, target(2)), None);
        assert_eq!(targets.insert(Priority::High, target(3)), Some(target(1)));
        assert_eq!(targets.len(), 2);
        assert_eq!(targets.get(&Priority::High), Some(&target(3)));
        assert_eq!(targets.get(&Priority::Critical), None);
    }
}
