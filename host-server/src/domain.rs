//! The ticket aggregate: its events, the pure fold that turns them into state, and the state
//! machine. Events carry the decision made (with rule-set version and module hash), so a replay
//! never re-runs rules that may since have changed. All decision logic lives in the command
//! handlers (`service.rs`); [`TicketState::apply`] only records.

use rules_core::model::{FiredEscalation, Millis, Priority, PrioritySource, Status, StatusEntry};
use rules_core::sla::SlaMetric;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use utoipa::ToSchema;

/// The stream that holds published rule sets.
pub const RULESET_STREAM: &str = "ruleset";

/// The stream that holds rule-module uploads and activations.
pub const MODULES_STREAM: &str = "rules-modules";

/// Streams every signed-in user may read, requesters included: a browser's preview must follow
/// rule-set publications and module activations. Their content is already public through the
/// preview context.
pub const PUBLIC_STREAMS: [&str; 2] = [RULESET_STREAM, MODULES_STREAM];

/// The stream that holds changes to user accounts (an audit trail; credentials live in the
/// users table).
pub const USERS_STREAM: &str = "users";

/// The stream that holds SLA compliance reports.
pub const REPORTS_STREAM: &str = "sla-reports";

/// JSON kept as the text it arrived in: a rule module's decision is stored and served as the
/// module wrote it, never parsed into a tree and written back (a create's explain trace is a few
/// kilobytes). Equal when the texts are equal.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RawJson(Box<RawValue>);

impl RawJson {
    /// The JSON text.
    pub fn get(&self) -> &str {
        self.0.get()
    }

    /// The JSON read as a `T`.
    pub fn parse<T: serde::de::DeserializeOwned>(&self) -> serde_json::Result<T> {
        serde_json::from_str(self.get())
    }

    /// A copy of `raw`.
    pub fn from_raw(raw: &RawValue) -> Self {
        Self(raw.to_owned())
    }

    /// `value` written as JSON.
    pub fn from_serialize(value: &impl Serialize) -> serde_json::Result<Self> {
        serde_json::value::to_raw_value(value).map(Self)
    }
}

impl From<Box<RawValue>> for RawJson {
    fn from(raw: Box<RawValue>) -> Self {
        Self(raw)
    }
}

impl PartialEq for RawJson {
    fn eq(&self, other: &Self) -> bool {
        self.get() == other.get()
    }
}

impl Eq for RawJson {}

impl utoipa::PartialSchema for RawJson {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::schema::ObjectBuilder::new().schema_type(utoipa::openapi::schema::SchemaType::AnyValue).into()
    }
}

impl ToSchema for RawJson {}

/// Which rules decided, and with which module: recorded on every automation event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Provenance {
    /// sha256 of the rule module that answered.
    pub module_sha256: String,
    /// Version of the rule set it evaluated.
    pub rule_set_version: u64,
    /// What caused the evaluation (`ticket.created`, `ticket.updated`, …).
    pub trigger: String,
}

/// A comment on a ticket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Comment {
    /// Author's user id.
    pub author: String,
    /// Text.
    pub body: String,
    /// When (epoch ms).
    pub at: Millis,
}

/// Every event NixFlow records. The wire `type` is the CloudEvents type (`ticket.created`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum EventPayload {
    /// A ticket was filed.
    #[serde(rename = "ticket.created")]
    TicketCreated {
        /// `TKT-YYYYMMDD-NNNN`.
        number: String,
        /// Title.
        title: String,
        /// Description.
        description: String,
        /// Category.
        category: String,
        /// Requester's user id.
        requester: String,
        /// A priority set by a person at creation, if any.
        priority: Option<Priority>,
    },
    /// Fields changed by a person.
    #[serde(rename = "ticket.updated")]
    TicketUpdated {
        /// New title.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        title: Option<String>,
        /// New description.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        description: Option<String>,
        /// New category.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        category: Option<String>,
        /// New priority, set by a person.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        priority: Option<Priority>,
    },
    /// A person commented.
    #[serde(rename = "ticket.commented")]
    TicketCommented {
        /// The comment.
        comment: Comment,
        /// Whether this comment is the first response (by someone other than the requester).
        first_response: bool,
    },
    /// A status transition other than approval, rejection and closing.
    #[serde(rename = "ticket.status_changed")]
    TicketStatusChanged {
        /// Previous status.
        from: Status,
        /// New status.
        to: Status,
        /// Why, if given.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// Approved (InApproval → Approved).
    #[serde(rename = "ticket.approved")]
    TicketApproved {
        /// Why, if given.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// Rejected (InApproval → Rejected).
    #[serde(rename = "ticket.rejected")]
    TicketRejected {
        /// Why, if given.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// Closed (Resolved → Closed).
    #[serde(rename = "ticket.closed")]
    TicketClosed {
        /// Why, if given.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// Assigned by a person.
    #[serde(rename = "ticket.assigned")]
    TicketAssigned {
        /// New assignee.
        assignee: String,
        /// Previous assignee.
        previous: Option<String>,
    },
    /// The rule module prioritized the ticket.
    #[serde(rename = "automation.prioritization_applied")]
    PrioritizationApplied {
        /// Which module and rules.
        provenance: Provenance,
        /// The priority now.
        priority: Priority,
        /// Who owns it now.
        priority_source: PrioritySource,
        /// The module's whole decision (rule, matches, reason).
        decision: RawJson,
    },
    /// The rule module assigned the ticket by round-robin.
    #[serde(rename = "automation.assignment_applied")]
    AssignmentApplied {
        /// Which module and rules.
        provenance: Provenance,
        /// The new assignee.
        assignee: String,
        /// Team role rotated over.
        role: String,
        /// The round-robin counter value used.
        counter: u64,
        /// The module's whole decision (eligible list, skipped users and why).
        decision: RawJson,
    },
    /// One evaluation, with its explain trace and outcome (whether or not it changed anything).
    #[serde(rename = "automation.rule_evaluated")]
    RuleEvaluated {
        /// Which module and rules.
        provenance: Provenance,
        /// The module's evaluation (prioritization, assignment, SLA, escalation timeline,
        /// next wake-up, trace).
        evaluation: RawJson,
    },
    /// The rule module could not answer; the triggering change is stored regardless.
    #[serde(rename = "automation.rule_evaluation_failed")]
    RuleEvaluationFailed {
        /// sha256 of the module that failed, if one was loaded.
        module_sha256: String,
        /// What caused the evaluation.
        trigger: String,
        /// Why it failed.
        reason: String,
    },
    /// An escalation rule came due and fired: the decision, with its explain trace.
    #[serde(rename = "automation.escalation_triggered")]
    EscalationTriggered {
        /// Which module and rules.
        provenance: Provenance,
        /// The rule that fired.
        rule: String,
        /// The deterministic key (ticket, rule, status-entry instant); unique in the log.
        key: String,
        /// The exact instant the rule came due.
        due_at: Millis,
        /// How late the scheduler fired it (ms after `due_at`).
        lag_ms: Millis,
        /// The module's decision (target role, user, new priority, reason).
        decision: RawJson,
    },
    /// The ticket was escalated: what changed. Caused by `automation.escalation_triggered`.
    #[serde(rename = "ticket.escalated")]
    TicketEscalated {
        /// The rule that fired.
        rule: String,
        /// The status the ticket had been in too long.
        status: Status,
        /// When it entered that status.
        status_entered_at: Millis,
        /// The team role escalated to.
        role: String,
        /// The new assignee (none when nobody in the role is available).
        assignee: Option<String>,
        /// The assignee before.
        previous_assignee: Option<String>,
        /// The raised priority, if the rule sets one.
        priority: Option<Priority>,
        /// The priority before.
        previous_priority: Option<Priority>,
    },
    /// SLA clocks started: the deadlines of the matching policy.
    #[serde(rename = "sla.metric_created")]
    SlaMetricCreated {
        /// Which module and rules (the rule-set version is the policy version).
        provenance: Provenance,
        /// The priority whose targets apply.
        priority: Priority,
        /// First response.
        first_response: SlaDeadline,
        /// Resolution.
        resolution: SlaDeadline,
    },
    /// A clock passed its warning fraction.
    #[serde(rename = "sla.warning")]
    SlaWarning {
        /// Which module and rules.
        provenance: Provenance,
        /// Which clock.
        metric: SlaMetric,
        /// The exact instant of the warning.
        at: Millis,
        /// The deadline, if the clock keeps running.
        deadline_at: Option<Millis>,
    },
    /// A clock passed its target.
    #[serde(rename = "sla.breach")]
    SlaBreach {
        /// Which module and rules.
        provenance: Provenance,
        /// Which clock.
        metric: SlaMetric,
        /// The exact instant of the breach (the deadline).
        at: Millis,
        /// The target.
        target_ms: Millis,
    },
    /// A clock stopped within its target.
    #[serde(rename = "sla.met")]
    SlaMet {
        /// Which module and rules.
        provenance: Provenance,
        /// Which clock.
        metric: SlaMetric,
        /// When it stopped.
        at: Millis,
        /// Counted time.
        elapsed_ms: Millis,
        /// The target.
        target_ms: Millis,
    },
    /// The clocks stopped counting: the ticket entered a pause status.
    #[serde(rename = "sla.paused")]
    SlaPaused {
        /// Which module and rules.
        provenance: Provenance,
        /// The pause status.
        status: Status,
    },
    /// The clocks count again: the ticket left a pause status.
    #[serde(rename = "sla.resumed")]
    SlaResumed {
        /// Which module and rules.
        provenance: Provenance,
        /// The status it entered.
        status: Status,
    },
    /// Someone acknowledged the ticket's breaches.
    #[serde(rename = "sla.breach_acknowledged")]
    SlaBreachAcknowledged {
        /// The breached clocks acknowledged.
        metrics: Vec<SlaMetric>,
        /// A note, if given.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        note: Option<String>,
    },
    /// A compliance report over `[from, to)`.
    #[serde(rename = "sla.compliance_report_generated")]
    ComplianceReportGenerated {
        /// Which module and rules.
        provenance: Provenance,
        /// Start (epoch ms, inclusive).
        from: Millis,
        /// End (epoch ms, exclusive).
        to: Millis,
        /// Whether the daily schedule made it (rather than a request).
        scheduled: bool,
        /// The module's report.
        report: serde_json::Value,
    },
    /// A rule module was uploaded, validated and passed the conformance run (not yet active).
    #[serde(rename = "rules.module_uploaded")]
    ModuleUploaded {
        /// Its record (sha256, size, ABI version, its own info, conformance fingerprint).
        module: crate::store::ModuleRecord,
    },
    /// A rule module became the one every decision uses.
    #[serde(rename = "rules.module_activated")]
    ModuleActivated {
        /// sha256 of the module now active.
        sha256: String,
        /// sha256 of the module active before, if any.
        previous: Option<String>,
        /// Whether this was a rollback to the previous module.
        rollback: bool,
    },
    /// An admin created a user account (the event never holds the password hash).
    #[serde(rename = "user.created")]
    UserCreated {
        /// The account.
        user: crate::store::UserRecord,
    },
    /// A user account changed: the fields set, with their new values.
    #[serde(rename = "user.updated")]
    UserUpdated {
        /// The user's id.
        user_id: String,
        /// The changed fields.
        changes: serde_json::Value,
    },
    /// A new rule-set version was published.
    #[serde(rename = "ruleset.published")]
    RuleSetPublished {
        /// The version.
        version: u64,
        /// The rule set (JSON, as validated by the module).
        rule_set: serde_json::Value,
        /// sha256 of the module that validated it.
        module_sha256: String,
    },
}

impl EventPayload {
    /// The CloudEvents type.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::TicketCreated { .. } => "ticket.created",
            Self::TicketUpdated { .. } => "ticket.updated",
            Self::TicketCommented { .. } => "ticket.commented",
            Self::TicketStatusChanged { .. } => "ticket.status_changed",
            Self::TicketApproved { .. } => "ticket.approved",
            Self::TicketRejected { .. } => "ticket.rejected",
            Self::TicketClosed { .. } => "ticket.closed",
            Self::TicketAssigned { .. } => "ticket.assigned",
            Self::PrioritizationApplied { .. } => "automation.prioritization_applied",
            Self::AssignmentApplied { .. } => "automation.assignment_applied",
            Self::RuleEvaluated { .. } => "automation.rule_evaluated",
            Self::RuleEvaluationFailed { .. } => "automation.rule_evaluation_failed",
            Self::EscalationTriggered { .. } => "automation.escalation_triggered",
            Self::TicketEscalated { .. } => "ticket.escalated",
            Self::SlaMetricCreated { .. } => "sla.metric_created",
            Self::SlaWarning { .. } => "sla.warning",
            Self::SlaBreach { .. } => "sla.breach",
            Self::SlaMet { .. } => "sla.met",
            Self::SlaPaused { .. } => "sla.paused",
            Self::SlaResumed { .. } => "sla.resumed",
            Self::SlaBreachAcknowledged { .. } => "sla.breach_acknowledged",
            Self::ComplianceReportGenerated { .. } => "sla.compliance_report_generated",
            Self::ModuleUploaded { .. } => "rules.module_uploaded",
            Self::ModuleActivated { .. } => "rules.module_activated",
            Self::UserCreated { .. } => "user.created",
            Self::UserUpdated { .. } => "user.updated",
            Self::RuleSetPublished { .. } => "ruleset.published",
        }
    }

    /// The types that change what every instance runs: a rule set published, a rule module
    /// uploaded (compiled ahead) or activated.
    pub const ACTIVATING_KINDS: [&'static str; 3] =
        ["ruleset.published", "rules.module_uploaded", "rules.module_activated"];

    /// Whether this event changes what every instance runs ([`Self::ACTIVATING_KINDS`]).
    pub fn changes_what_is_active(&self) -> bool {
        Self::ACTIVATING_KINDS.contains(&self.kind())
    }

    /// Every type, for filters and metrics.
    pub const KINDS: [&'static str; 27] = [
        "ticket.created",
        "ticket.updated",
        "ticket.commented",
        "ticket.status_changed",
        "ticket.approved",
        "ticket.rejected",
        "ticket.closed",
        "ticket.assigned",
        "automation.prioritization_applied",
        "automation.assignment_applied",
        "automation.rule_evaluated",
        "automation.rule_evaluation_failed",
        "automation.escalation_triggered",
        "ticket.escalated",
        "sla.metric_created",
        "sla.warning",
        "sla.breach",
        "sla.met",
        "sla.paused",
        "sla.resumed",
        "sla.breach_acknowledged",
        "sla.compliance_report_generated",
        "rules.module_uploaded",
        "rules.module_activated",
        "user.created",
        "user.updated",
        "ruleset.published",
    ];
}

/// A deadline as `sla.metric_created` records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SlaDeadline {
    /// The target (counted time).
    pub target_ms: Millis,
    /// When the warning falls, if the clock keeps running.
    pub warning_at: Option<Millis>,
    /// When the deadline falls, if the clock keeps running.
    pub deadline_at: Option<Millis>,
}

/// One SLA clock as the log records it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct MetricRecord {
    /// The target (counted time).
    pub target_ms: Millis,
    /// When `sla.warning` fell.
    pub warned_at: Option<Millis>,
    /// When `sla.breach` fell.
    pub breached_at: Option<Millis>,
    /// When `sla.met` fell.
    pub met_at: Option<Millis>,
}

impl MetricRecord {
    /// Met or breached: nothing more happens to this clock.
    pub fn settled(&self) -> bool {
        self.met_at.is_some() || self.breached_at.is_some()
    }
}

/// A ticket's SLA as the log records it (the live clocks come from the rule module).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SlaRecord {
    /// The rule-set version whose policy started the clocks.
    pub policy_version: u64,
    /// The priority the targets were taken from.
    #[schema(value_type = String)]
    pub priority: Priority,
    /// Whether the clocks are paused.
    pub paused: bool,
    /// First response.
    pub first_response: MetricRecord,
    /// Resolution.
    pub resolution: MetricRecord,
    /// When the last breach was acknowledged.
    pub acknowledged_at: Option<Millis>,
}

impl SlaRecord {
    /// One clock.
    pub fn metric(&self, metric: SlaMetric) -> &MetricRecord {
        match metric {
            SlaMetric::FirstResponse => &self.first_response,
            SlaMetric::Resolution => &self.resolution,
        }
    }

    fn metric_mut(&mut self, metric: SlaMetric) -> &mut MetricRecord {
        match metric {
            SlaMetric::FirstResponse => &mut self.first_response,
            SlaMetric::Resolution => &mut self.resolution,
        }
    }

    /// Breached clocks not yet acknowledged.
    pub fn unacknowledged_breaches(&self) -> Vec<SlaMetric> {
        [SlaMetric::FirstResponse, SlaMetric::Resolution]
            .into_iter()
            .filter(|&m| self.metric(m).breached_at.is_some_and(|b| self.acknowledged_at.is_none_or(|a| a < b)))
            .collect()
    }
}

/// A ticket as the projections hold it: the fold of its stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TicketState {
    /// Stream id (also the ticket id).
    pub id: String,
    /// `TKT-YYYYMMDD-NNNN`.
    pub number: String,
    /// Title.
    pub title: String,
    /// Description.
    pub description: String,
    /// Category.
    pub category: String,
    /// Requester's user id.
    pub requester: String,
    /// Current priority (`None` only before the first prioritization).
    #[schema(value_type = Option<String>)]
    pub priority: Option<Priority>,
    /// Whether a person or automation set it.
    #[schema(value_type = String)]
    pub priority_source: PrioritySource,
    /// Status.
    #[schema(value_type = String)]
    pub status: Status,
    /// Assignee's user id.
    pub assignee: Option<String>,
    /// Creation instant (epoch ms).
    pub created_at: Millis,
    /// Last change (epoch ms).
    pub updated_at: Millis,
    /// Status history, oldest first; starts with InApproval at `created_at`.
    #[schema(value_type = Vec<Object>)]
    pub history: Vec<StatusEntry>,
    /// First response by someone other than the requester.
    pub first_response_at: Option<Millis>,
    /// Escalations that fired.
    #[schema(value_type = Vec<Object>)]
    pub escalations_fired: Vec<FiredEscalation>,
    /// Comments, oldest first.
    pub comments: Vec<Comment>,
    /// Stream version: the number of events applied.
    pub version: u64,
    /// Rule-set version of the last evaluation.
    pub rule_set_version: Option<u64>,
    /// Module of the last evaluation.
    pub module_sha256: Option<String>,
    /// SLA clocks as recorded, once started.
    #[serde(default)]
    pub sla: Option<SlaRecord>,
}

impl TicketState {
    /// Folds one event into the state. `None` + `ticket.created` starts a ticket; anything else
    /// on `None` is ignored (the store never produces it).
    pub fn apply(state: Option<Self>, id: &str, at: Millis, payload: &EventPayload) -> Option<Self> {
        let mut t = match (state, payload) {
            (None, EventPayload::TicketCreated { number, title, description, category, requester, priority }) => {
                return Some(Self {
                    id: id.to_owned(),
                    number: number.clone(),
                    title: title.clone(),
                    description: description.clone(),
                    category: category.clone(),
                    requester: requester.clone(),
                    priority: *priority,
                    priority_source: PrioritySource::Person,
                    status: Status::InApproval,
                    assignee: None,
                    created_at: at,
                    updated_at: at,
                    history: vec![StatusEntry { status: Status::InApproval, at }],
                    first_response_at: None,
                    escalations_fired: Vec::new(),
                    comments: Vec::new(),
                    version: 1,
                    rule_set_version: None,
                    module_sha256: None,
                    sla: None,
                });
            }
            (None, _) => return None,
            (Some(t), _) => t,
        };
        let enter = |t: &mut Self, status: Status| {
            t.status = status;
            t.history.push(StatusEntry { status, at });
        };
        match payload {
            EventPayload::TicketCreated { .. }
            | EventPayload::RuleSetPublished { .. }
            | EventPayload::ComplianceReportGenerated { .. }
            | EventPayload::ModuleUploaded { .. }
            | EventPayload::ModuleActivated { .. }
            | EventPayload::UserCreated { .. }
            | EventPayload::UserUpdated { .. } => {}
            EventPayload::TicketUpdated { title, description, category, priority } => {
                if let Some(v) = title {
                    t.title.clone_from(v);
                }
                if let Some(v) = description {
                    t.description.clone_from(v);
                }
                if let Some(v) = category {
                    t.category.clone_from(v);
                }
                if let Some(p) = priority {
                    t.priority = Some(*p);
                    t.priority_source = PrioritySource::Person;
                }
            }
            EventPayload::TicketCommented { comment, first_response } => {
                if *first_response && t.first_response_at.is_none() {
                    t.first_response_at = Some(comment.at);
                }
                t.comments.push(comment.clone());
            }
            EventPayload::TicketStatusChanged { to, .. } => enter(&mut t, *to),
            EventPayload::TicketApproved { .. } => enter(&mut t, Status::Approved),
            EventPayload::TicketRejected { .. } => enter(&mut t, Status::Rejected),
            EventPayload::TicketClosed { .. } => enter(&mut t, Status::Closed),
            EventPayload::TicketAssigned { assignee, .. } => t.assignee = Some(assignee.clone()),
            EventPayload::PrioritizationApplied { provenance, priority, priority_source, .. } => {
                t.priority = Some(*priority);
                t.priority_source = *priority_source;
                t.note(provenance);
            }
            EventPayload::AssignmentApplied { provenance, assignee, .. } => {
                t.assignee = Some(assignee.clone());
                t.note(provenance);
            }
            EventPayload::RuleEvaluated { provenance, .. } => t.note(provenance),
            EventPayload::RuleEvaluationFailed { .. } => {}
            EventPayload::EscalationTriggered { provenance, .. } => t.note(provenance),
            EventPayload::TicketEscalated { rule, status_entered_at, assignee, priority, .. } => {
                t.escalations_fired.push(FiredEscalation { rule: rule.clone(), status_entered_at: *status_entered_at });
                if let Some(a) = assignee {
                    t.assignee = Some(a.clone());
                }
                if let Some(p) = priority {
                    t.priority = Some(*p);
                    t.priority_source = PrioritySource::Automation;
                }
            }
            EventPayload::SlaMetricCreated { provenance, priority, first_response, resolution } => {
                let metric = |d: &SlaDeadline| MetricRecord { target_ms: d.target_ms, ..Default::default() };
                t.sla = Some(SlaRecord {
                    policy_version: provenance.rule_set_version,
                    priority: *priority,
                    paused: false,
                    first_response: metric(first_response),
                    resolution: metric(resolution),
                    acknowledged_at: None,
                });
            }
            EventPayload::SlaWarning { metric, at, .. } => t.sla_metric(*metric, |m| m.warned_at = Some(*at)),
            EventPayload::SlaBreach { metric, at, .. } => t.sla_metric(*metric, |m| m.breached_at = Some(*at)),
            EventPayload::SlaMet { metric, at, .. } => t.sla_metric(*metric, |m| m.met_at = Some(*at)),
            EventPayload::SlaPaused { .. } | EventPayload::SlaResumed { .. } => {
                if let Some(sla) = &mut t.sla {
                    sla.paused = matches!(payload, EventPayload::SlaPaused { .. });
                }
            }
            EventPayload::SlaBreachAcknowledged { .. } => {
                if let Some(sla) = &mut t.sla {
                    sla.acknowledged_at = Some(at);
                }
            }
        }
        t.updated_at = t.updated_at.max(at);
        t.version = t.version.saturating_add(1);
        Some(t)
    }

    fn sla_metric(&mut self, metric: SlaMetric, f: impl FnOnce(&mut MetricRecord)) {
        if let Some(sla) = &mut self.sla {
            f(sla.metric_mut(metric));
        }
    }

    fn note(&mut self, provenance: &Provenance) {
        self.rule_set_version = Some(provenance.rule_set_version);
        self.module_sha256 = Some(provenance.module_sha256.clone());
    }

    /// The ticket as the rule module reads it.
    pub fn to_rules(&self) -> rules_core::model::Ticket {
        rules_core::model::Ticket {
            id: self.id.clone(),
            title: self.title.clone(),
            description: self.description.clone(),
            category: self.category.clone(),
            requester: self.requester.clone(),
            priority: self.priority,
            priority_source: self.priority_source,
            status: self.status,
            assignee: self.assignee.clone(),
            created_at: self.created_at,
            history: self.history.clone(),
            first_response_at: self.first_response_at,
            escalations_fired: self.escalations_fired.clone(),
        }
    }
}

/// The state machine. `Ok` names the event a transition records.
pub fn transition(from: Status, to: Status) -> Result<TransitionKind, String> {
    use Status::*;
    let kind = match (from, to) {
        (InApproval, Approved) => TransitionKind::Approve,
        (InApproval, Rejected) => TransitionKind::Reject,
        (Resolved, Closed) => TransitionKind::Close,
        (Approved, InProgress)
        | (InProgress, OnHold)
        | (OnHold, InProgress)
        | (InProgress, Resolved)
        // Reopen: a resolved ticket that was not really solved, a rejected request resubmitted.
        | (Resolved, InProgress)
        | (Rejected, InApproval) => TransitionKind::Change,
        _ => {
            let allowed: Vec<&str> = Status::ALL
                .into_iter()
                .filter(|&s| s != from && transition_allowed(from, s))
                .map(Status::as_str)
                .collect();
            return Err(if allowed.is_empty() {
                format!("a ticket in `{}` cannot change status", from.as_str())
            } else {
                format!(
                    "cannot go from `{}` to `{}`; allowed: {}",
                    from.as_str(),
                    to.as_str(),
                    allowed.join(", ")
                )
            });
        }
    };
    Ok(kind)
}

fn transition_allowed(from: Status, to: Status) -> bool {
    use Status::*;
    matches!(
        (from, to),
        (InApproval, Approved)
            | (InApproval, Rejected)
            | (Resolved, Closed)
            | (Approved, InProgress)
            | (InProgress, OnHold)
            | (OnHold, InProgress)
            | (InProgress, Resolved)
            | (Resolved, InProgress)
            | (Rejected, InApproval)
    )
}

/// Which event a legal transition records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransitionKind {
    /// `ticket.approved`.
    Approve,
    /// `ticket.rejected`.
    Reject,
    /// `ticket.closed`.
    Close,
    /// `ticket.status_changed`.
    Change,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_state_machine_allows_exactly_the_documented_edges() {
        let mut legal = Vec::new();
        for from in Status::ALL {
            for to in Status::ALL {
                if transition(from, to).is_ok() {
                    legal.push(format!("{}->{}", from.as_str(), to.as_str()));
                }
            }
        }
        assert_eq!(
            legal,
            [
                "InApproval->Approved",
                "InApproval->Rejected",
                "Approved->InProgress",
                "Rejected->InApproval",
                "InProgress->OnHold",
                "InProgress->Resolved",
                "OnHold->InProgress",
                "Resolved->InProgress",
                "Resolved->Closed",
            ]
        );
        let err = transition(Status::Closed, Status::InProgress).unwrap_err();
        assert_eq!(err, "a ticket in `Closed` cannot change status");
    }

    #[test]
    fn the_fold_records_history_and_first_response() {
        let created = EventPayload::TicketCreated {
            number: "TKT-20250129-0001".into(),
            title: "t".into(),
            description: "d".into(),
            category: "Hardware".into(),
            requester: "u1".into(),
            priority: None,
        };
        let t = TicketState::apply(None, "t1", 10, &created).unwrap();
        let t = TicketState::apply(Some(t), "t1", 20, &EventPayload::TicketApproved { reason: None }).unwrap();
        let comment = Comment { author: "a1".into(), body: "on it".into(), at: 30 };
        let t = TicketState::apply(Some(t), "t1", 30, &EventPayload::TicketCommented { comment, first_response: true })
            .unwrap();
        assert_eq!(t.status, Status::Approved);
        assert_eq!(t.history.len(), 2);
        assert_eq!(t.first_response_at, Some(30));
        assert_eq!(t.version, 3);
        assert_eq!(t.updated_at, 30);
    }
}
