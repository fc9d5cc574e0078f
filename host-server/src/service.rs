//! Command handlers: read the stream, decide (through the rule module), append with the stream's
//! version as the fence, and retry on a concurrent write. Every decision is made here; the fold
//! in `domain.rs` only records.

use std::collections::BTreeMap;
use std::sync::Arc;

use rules_core::codec::CounterNeededAnswer;
use rules_core::evaluate::AssignmentOutcome;
use rules_core::model::{Millis, Priority, PrioritySource, Status};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use utoipa::ToSchema;

use crate::AppState;
use crate::auth::Caller;
use crate::domain::{self, Comment, EventPayload, Provenance, RULESET_STREAM, RawJson, TicketState, TransitionKind};
use crate::error::{ApiError, ApiResult};
use crate::module::RuleModule;
use crate::rules::{ActiveRuleSet, RulesError};
use crate::store::{Commit, CommitError, IdempotencyRecord, NewEvent, Permission, StoredEvent};

/// A command is retried this many times when it loses a race.
pub(crate) const MAX_ATTEMPTS: usize = 200;

/// Caps on free text.
pub mod caps {
    /// Title, in characters.
    pub const TITLE: usize = 200;
    /// Description, in bytes (the rule module's own cap).
    pub const DESCRIPTION: usize = 64 * 1024 - 1;
    /// Comment, in bytes.
    pub const COMMENT: usize = 16 * 1024;
    /// Category, in characters.
    pub const CATEGORY: usize = 64;
    /// Reasons, in characters.
    pub const REASON: usize = 1000;
}

/// Who and which request: carried onto every event.
#[derive(Debug, Clone)]
pub struct RequestContext {
    /// Correlation id (the request id, or the client's `X-Correlation-Id`).
    pub correlation_id: String,
    /// `Idempotency-Key`, with the request's hash.
    pub idempotency: Option<(String, String)>,
}

impl RequestContext {
    /// The record that answers a retry of this request with `body`, when it has a key.
    fn idempotency_record(&self, actor: &str, status: u16, body: &RawJson) -> Option<IdempotencyRecord> {
        self.idempotency.as_ref().map(|(key, hash)| IdempotencyRecord {
            actor: actor.to_owned(),
            key: key.clone(),
            request_hash: hash.clone(),
            status,
            body: body.get().to_owned(),
        })
    }
}

/// A new ticket.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTicket {
    /// Title (1–200 characters).
    pub title: String,
    /// Description.
    #[serde(default)]
    pub description: String,
    /// Category (`Hardware`, `ProductionChange`, `Software`, …).
    pub category: String,
    /// A priority set by a person (agents and above).
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub priority: Option<Priority>,
}

/// Changed fields (at least one).
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateTicket {
    /// Title.
    pub title: Option<String>,
    /// Description.
    pub description: Option<String>,
    /// Category.
    pub category: Option<String>,
    /// Priority, set by a person (agents and above).
    #[schema(value_type = Option<String>)]
    pub priority: Option<Priority>,
}

/// What a ticket command answers.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TicketResponse {
    /// The ticket after the command and its automation.
    pub ticket: TicketState,
    /// The rule module's evaluation, without its trace (which is on the
    /// `automation.rule_evaluated` event), when the command triggered one.
    #[schema(value_type = Option<Object>)]
    pub automation: Option<RawJson>,
    /// Why automation failed, when it did (the change itself is stored).
    pub automation_error: Option<String>,
    /// The events appended, in order (ids and types).
    pub events: Vec<EventRef>,
}

/// An appended event, by id.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct EventRef {
    /// Event id.
    pub id: String,
    /// Type.
    #[serde(rename = "type")]
    pub kind: String,
}

/// What a command (or a scheduler wake-up) produced, before it is committed.
#[derive(Clone)]
pub(crate) struct Draft {
    pub(crate) stream: String,
    pub(crate) expected_version: u64,
    pub(crate) state: Option<TicketState>,
    pub(crate) events: Vec<NewEvent>,
    pub(crate) counters: Vec<(String, u64)>,
    pub(crate) automation: Option<RawJson>,
    pub(crate) automation_error: Option<String>,
    /// Deterministic keys of the scheduled transitions among the events.
    pub(crate) keys: Vec<String>,
    /// The ticket's next wake-up, when this draft computed it.
    pub(crate) schedule: Option<Option<Millis>>,
    /// The day (`YYYYMMDD`) of the ticket number this draft's `ticket.created` still waits for:
    /// it is drawn with the round-robin turn when automation needs one (one round trip), else
    /// on its own before the commit.
    pub(crate) pending_number: Option<String>,
}

impl Draft {
    pub(crate) fn new(stream: &str, state: Option<TicketState>) -> Self {
        Self {
            stream: stream.to_owned(),
            expected_version: state.as_ref().map_or(0, |t| t.version),
            state,
            events: Vec::new(),
            counters: Vec::new(),
            automation: None,
            automation_error: None,
            keys: Vec::new(),
            schedule: None,
            pending_number: None,
        }
    }

    /// Gives the created ticket the number `seq` of its day (`TKT-20250129-0001`).
    fn set_number(&mut self, seq: u64) {
        let Some(day) = self.pending_number.take() else { return };
        let number = format!("TKT-{day}-{seq:04}");
        for event in &mut self.events {
            if let EventPayload::TicketCreated { number: n, .. } = &mut event.payload {
                n.clone_from(&number);
            }
        }
        if let Some(state) = &mut self.state {
            state.number = number;
        }
    }

    /// The commit that writes this draft (moved, not copied: a create's events carry the explain
    /// trace).
    pub(crate) fn into_commit(self, idempotency: Option<IdempotencyRecord>) -> Commit {
        let Draft { stream, expected_version, state, events, counters, keys, schedule, .. } = self;
        Commit {
            stream,
            expected_version,
            events,
            ticket: state,
            counters,
            idempotency,
            keys,
            schedule,
            ..Commit::default()
        }
    }

    /// Records an event and folds it into the state; returns its id.
    pub(crate) fn push(
        &mut self,
        ctx: &RequestContext,
        actor: &str,
        at: Millis,
        cause: Option<&str>,
        p: EventPayload,
    ) -> String {
        let id = uuid::Uuid::now_v7().to_string();
        self.state = TicketState::apply(self.state.take(), &self.stream, at, &p);
        self.events.push(NewEvent {
            id: id.clone(),
            payload: p,
            time: at,
            actor: actor.to_owned(),
            correlation_id: ctx.correlation_id.clone(),
            causation_id: cause.map(str::to_owned),
        });
        id
    }

    fn response(&self) -> ApiResult<TicketResponse> {
        let ticket = self.state.clone().ok_or_else(|| anyhow::anyhow!("a ticket command produced no ticket"))?;
        Ok(TicketResponse {
            ticket,
            automation: self.automation.clone(),
            automation_error: self.automation_error.clone(),
            events: self
                .events
                .iter()
                .map(|e| EventRef { id: e.id.clone(), kind: e.payload.kind().to_owned() })
                .collect(),
        })
    }
}

/// A counter the host draws from, by [`Counters`](crate::counters::Counters) key.
enum Sequence {
    /// A team role's round-robin turn.
    RoundRobin { role: String },
    /// The ticket numbers of a day (`YYYYMMDD`).
    TicketNumber { day: String },
}

impl Sequence {
    fn key(&self) -> String {
        match self {
            Sequence::RoundRobin { role } => format!("role:{role}"),
            Sequence::TicketNumber { day } => format!("ticket-number:{day}"),
        }
    }

    /// Where the log says the sequence stands: the seed of a counter the counters lost.
    async fn floor(&self, store: &dyn crate::store::EventStore) -> anyhow::Result<u64> {
        match self {
            Sequence::RoundRobin { role } => store.max_counter(role).await,
            Sequence::TicketNumber { day } => store.max_ticket_number(day).await,
        }
    }
}

/// The day part of a ticket number created at `now` (UTC).
fn ticket_day(now: Millis) -> String {
    chrono::DateTime::from_timestamp_millis(now).map(|t| t.format("%Y%m%d").to_string()).unwrap_or_default()
}

#[derive(Serialize)]
struct EvaluateRequest<'a> {
    op: &'static str,
    rule_set: &'a RawValue,
    ticket: &'a rules_core::model::Ticket,
    now: Millis,
    users: &'a [rules_core::model::User],
    counters: &'a BTreeMap<String, u64>,
}

/// The parts of an `evaluate` answer the host acts on, read in place: each decision stays the
/// text the module wrote (stored verbatim on its event); only the few fields the host acts on
/// are typed. The trace is skipped here and kept whole on `automation.rule_evaluated`.
struct EvaluationParts<'a> {
    rule_set_version: u64,
    prioritization: Part<'a, PrioritizationView>,
    assignment: Part<'a, AssignmentView>,
    sla: &'a RawValue,
    escalations: &'a RawValue,
    next_wake_up: &'a RawValue,
}

/// A decision's text and what the host reads of it.
struct Part<'a, T> {
    raw: &'a RawValue,
    view: T,
}

#[derive(Deserialize)]
struct PrioritizationView {
    priority: Priority,
    priority_source: PrioritySource,
    changed: bool,
}

#[derive(Deserialize)]
struct AssignmentView {
    outcome: AssignmentOutcome,
    role: Option<String>,
    assignee: Option<String>,
    counter: Option<u64>,
}

/// The response's summary of an evaluation: everything but the trace.
#[derive(Serialize)]
struct EvaluationSummary<'a> {
    rule_set_version: u64,
    prioritization: &'a RawValue,
    assignment: &'a RawValue,
    sla: &'a RawValue,
    escalations: &'a RawValue,
    next_wake_up: &'a RawValue,
}

impl<'a> EvaluationParts<'a> {
    /// Reads an `evaluate` answer; a message for people when it is not one.
    fn read(answer: &'a RawValue) -> Result<Self, String> {
        #[derive(Deserialize)]
        struct Text<'a> {
            rule_set_version: u64,
            #[serde(borrow)]
            prioritization: &'a RawValue,
            #[serde(borrow)]
            assignment: &'a RawValue,
            #[serde(borrow)]
            sla: &'a RawValue,
            #[serde(borrow)]
            escalations: &'a RawValue,
            #[serde(borrow)]
            next_wake_up: &'a RawValue,
        }
        let bad = |e: serde_json::Error| format!("rule module returned an unreadable evaluation: {e}");
        let text: Text<'a> = serde_json::from_str(answer.get()).map_err(bad)?;
        Ok(Self {
            rule_set_version: text.rule_set_version,
            prioritization: Part {
                raw: text.prioritization,
                view: serde_json::from_str(text.prioritization.get()).map_err(bad)?,
            },
            assignment: Part { raw: text.assignment, view: serde_json::from_str(text.assignment.get()).map_err(bad)? },
            sla: text.sla,
            escalations: text.escalations,
            next_wake_up: text.next_wake_up,
        })
    }

    /// The role whose round-robin counter the decision waits for, if it waits for one.
    fn needs_counter(&self) -> Result<Option<String>, String> {
        match self.assignment.view.outcome {
            AssignmentOutcome::NeedsCounter => match &self.assignment.view.role {
                Some(role) => Ok(Some(role.clone())),
                None => Err("the module needs a counter but names no role".into()),
            },
            _ => Ok(None),
        }
    }

    /// Everything but the trace, as JSON.
    fn summary(&self) -> Result<RawJson, String> {
        RawJson::from_serialize(&EvaluationSummary {
            rule_set_version: self.rule_set_version,
            prioritization: self.prioritization.raw,
            assignment: self.assignment.raw,
            sla: self.sla,
            escalations: self.escalations,
            next_wake_up: self.next_wake_up,
        })
        .map_err(|e| format!("cannot summarize the evaluation: {e}"))
    }
}

/// The outcome of [`AppState::execute`]: the response and what was appended.
pub struct Executed {
    /// HTTP status of the response.
    pub status: u16,
    /// The response body, as JSON text (the same text a retry with the same key is answered
    /// with).
    pub body: RawJson,
    /// Appended events (empty for a replayed idempotent response).
    pub events: Vec<StoredEvent>,
}

impl AppState {
    /// The helpdesk members as the rule module reads them, with their open-ticket counts.
    pub async fn rule_users(&self) -> anyhow::Result<Vec<rules_core::model::User>> {
        let users = self.store.users_with_load().await?;
        Ok(users
            .into_iter()
            .filter(|(u, _)| !u.team_roles.is_empty())
            .map(|(u, open_tickets)| rules_core::model::User {
                open_tickets,
                id: u.id,
                roles: u.team_roles,
                available: u.available,
                max_open_tickets: u.max_open_tickets,
            })
            .collect())
    }

    /// Runs one evaluation; the answer as the module wrote it.
    pub async fn evaluate(
        &self,
        module: &Arc<RuleModule>,
        rule_set: &ActiveRuleSet,
        ticket: &rules_core::model::Ticket,
        users: &[rules_core::model::User],
        counters: &BTreeMap<String, u64>,
        now: Millis,
    ) -> Result<Box<RawValue>, RulesError> {
        let request = EvaluateRequest { op: "evaluate", rule_set: &rule_set.text, ticket, now, users, counters };
        self.rules.call_raw(module, &request).await
    }

    /// The next value of each sequence, in one round trip to the counters, re-seeding a lost
    /// counter from the log.
    async fn next_values(&self, sequences: &[Sequence]) -> anyhow::Result<Vec<u64>> {
        let keys: Vec<String> = sequences.iter().map(Sequence::key).collect();
        let values = self.counters.next_many(&keys).await?;
        let mut next = Vec::with_capacity(values.len());
        for ((sequence, key), value) in sequences.iter().zip(&keys).zip(values) {
            next.push(match value {
                Some(v) => v,
                None => {
                    let floor = sequence.floor(self.store.as_ref()).await?;
                    tracing::info!(key, floor, "re-seeding a counter from the log");
                    self.counters.seed_and_next(key, floor).await?
                }
            });
        }
        Ok(next)
    }

    /// Evaluates the draft's ticket and appends the automation events it warrants.
    async fn automate(&self, draft: &mut Draft, ctx: &RequestContext, cause: &str, trigger: &str, now: Millis) {
        let Some(state) = draft.state.clone() else { return };
        let module = self.rules.active();
        let rule_set = self.rule_set.load_full();
        let failed = |draft: &mut Draft, reason: String| {
            tracing::warn!(ticket = draft.stream, reason, "rule evaluation failed");
            draft.automation_error = Some(reason.clone());
            draft.push(
                ctx,
                "automation",
                now,
                Some(cause),
                EventPayload::RuleEvaluationFailed {
                    module_sha256: module.sha256().to_owned(),
                    trigger: trigger.to_owned(),
                    reason,
                },
            );
        };
        let users = match self.rule_users().await {
            Ok(u) => u,
            Err(e) => return failed(draft, format!("could not read the helpdesk members: {e:#}")),
        };
        let ticket = state.to_rules();
        let mut counters = BTreeMap::new();
        // First: which round-robin counter, if any, the decision needs. A module that answers
        // `counter_needed` says so cheaply; an older one answers a whole evaluation, which is
        // the decision itself when it needs no counter.
        let (needed, mut evaluation) = if module.answers("counter_needed") {
            let op = "counter_needed";
            match self.ticket_op::<CounterNeededAnswer>(&module, &rule_set, op, &ticket, Some(&users), now).await {
                Ok(answer) => (answer.role, None),
                Err(e) => return failed(draft, e.to_string()),
            }
        } else {
            let answer = self.evaluate(&module, &rule_set, &ticket, &users, &counters, now).await;
            match answer.map_err(|e| e.to_string()).and_then(|v| Ok((EvaluationParts::read(&v)?.needs_counter()?, v))) {
                Ok((Some(role), _)) => (Some(role), None),
                Ok((None, v)) => (None, Some(v)),
                Err(e) => return failed(draft, e),
            }
        };
        if let Some(role) = needed {
            // A new ticket's number comes in the same round trip.
            let mut sequences = vec![Sequence::RoundRobin { role: role.clone() }];
            sequences.extend(draft.pending_number.clone().map(|day| Sequence::TicketNumber { day }));
            let values = match self.next_values(&sequences).await {
                Ok(values) => values,
                Err(e) => return failed(draft, format!("round-robin counter unavailable: {e:#}")),
            };
            let mut values = values.into_iter();
            let Some(counter) = values.next() else {
                return failed(draft, "round-robin counter unavailable: no value".to_owned());
            };
            if let Some(seq) = values.next() {
                draft.set_number(seq);
            }
            counters.insert(role.clone(), counter);
            draft.counters.push((role, counter));
        }
        let evaluation = match evaluation.take() {
            Some(v) => v,
            None => match self.evaluate(&module, &rule_set, &ticket, &users, &counters, now).await {
                Ok(v) => v,
                Err(e) => return failed(draft, e.to_string()),
            },
        };
        let parts = match EvaluationParts::read(&evaluation) {
            Ok(parts) => parts,
            Err(e) => return failed(draft, e),
        };
        let provenance = Provenance {
            module_sha256: module.sha256().to_owned(),
            rule_set_version: rule_set.version,
            trigger: trigger.to_owned(),
        };
        let p = &parts.prioritization;
        if p.view.changed || state.priority.is_none() {
            draft.push(
                ctx,
                "automation",
                now,
                Some(cause),
                EventPayload::PrioritizationApplied {
                    provenance: provenance.clone(),
                    priority: p.view.priority,
                    priority_source: p.view.priority_source,
                    decision: RawJson::from_raw(p.raw),
                },
            );
        }
        let a = &parts.assignment;
        if a.view.outcome == AssignmentOutcome::Assigned
            && let (Some(assignee), Some(role), Some(counter)) = (&a.view.assignee, &a.view.role, a.view.counter)
        {
            metrics::counter!("nixflow_assignments_total", "role" => role.clone()).increment(1);
            draft.push(
                ctx,
                "automation",
                now,
                Some(cause),
                EventPayload::AssignmentApplied {
                    provenance: provenance.clone(),
                    assignee: assignee.clone(),
                    role: role.clone(),
                    counter,
                    decision: RawJson::from_raw(a.raw),
                },
            );
        }
        // The response's summary: everything but the trace (which stays in the event).
        match parts.summary() {
            Ok(summary) => draft.automation = Some(summary),
            Err(e) => return failed(draft, e),
        }
        drop(parts);
        let evaluation = RawJson::from(evaluation);
        draft.push(ctx, "automation", now, Some(cause), EventPayload::RuleEvaluated { provenance, evaluation });
    }

    /// Commits a ticket draft, storing its response under the idempotency key.
    async fn commit(
        &self,
        draft: Draft,
        ctx: &RequestContext,
        actor: &str,
        status: u16,
    ) -> Result<Executed, CommitError> {
        let body = draft
            .response()
            .and_then(|r| RawJson::from_serialize(&r).map_err(|e| ApiError::Internal(e.into())))
            .map_err(|e| CommitError::Database(anyhow::anyhow!("{e}")))?;
        let events = self.append(draft.into_commit(ctx.idempotency_record(actor, status, &body))).await?;
        Ok(Executed { status, body, events })
    }

    /// Appends a commit, moves the ticket in the due-time index and announces the new head.
    pub async fn append(&self, commit: Commit) -> Result<Vec<StoredEvent>, CommitError> {
        let schedule = commit.schedule.map(|due| (commit.stream.clone(), due, commit.expected_version));
        let events = self.store.commit(commit).await?;
        for e in &events {
            metrics::counter!("nixflow_events_appended_total", "type" => e.payload.kind()).increment(1);
        }
        if let Some((ticket, due, version)) = schedule {
            let version = events.last().map_or(version, |e| e.version);
            // The store holds the truth; an index that missed this is repaired by its sweep.
            if let Err(e) = self.due.scheduled(&ticket, due, version).await {
                tracing::warn!(ticket, error = format!("{e:#}"), "due-time index not updated");
            }
        }
        if let Some(last) = events.last() {
            self.fanout.published(last.position, events.iter().any(|e| e.payload.changes_what_is_active()));
        }
        Ok(events)
    }

    /// A stored response for a retried request, or `None` to run it.
    pub async fn replayed(&self, caller: &Caller, ctx: &RequestContext) -> ApiResult<Option<Executed>> {
        let Some((key, hash)) = &ctx.idempotency else { return Ok(None) };
        let Some(record) = self.store.idempotency(&caller.0.id, key).await? else { return Ok(None) };
        if &record.request_hash != hash {
            return Err(ApiError::unprocessable(
                "idempotency_key_reused",
                format!("idempotency key `{key}` was used for a different request"),
            ));
        }
        let body = RawValue::from_string(record.body).map_err(anyhow::Error::from)?;
        Ok(Some(Executed { status: record.status, body: body.into(), events: Vec::new() }))
    }

    /// A ticket the caller may see, or 404.
    pub async fn visible_ticket(&self, caller: &Caller, id: &str) -> ApiResult<TicketState> {
        let ticket = self.store.ticket(id).await?.ok_or(ApiError::NotFound("ticket"))?;
        match caller.only_requester() {
            Some(me) if ticket.requester != me => Err(ApiError::NotFound("ticket")),
            _ => Ok(ticket),
        }
    }

    /// Runs a ticket command: decide, automate, commit; again on a lost race.
    pub(crate) async fn run(
        &self,
        caller: &Caller,
        ctx: &RequestContext,
        status: u16,
        stream: &str,
        decide: impl Fn(Option<TicketState>) -> ApiResult<Vec<EventPayload>>,
        new_stream: bool,
    ) -> ApiResult<Executed> {
        // A new stream's caller (create) has already looked, before allocating a number.
        if !new_stream && let Some(done) = self.replayed(caller, ctx).await? {
            return Ok(done);
        }
        for _ in 0..MAX_ATTEMPTS {
            let current = if new_stream { None } else { Some(self.visible_ticket(caller, stream).await?) };
            let now = self.clock.now();
            let mut draft = Draft::new(stream, current.clone());
            if new_stream {
                // `decide` leaves the number empty; it is drawn below, or with automation's
                // round-robin turn.
                draft.pending_number = Some(ticket_day(now));
            }
            let payloads = decide(current)?;
            let mut trigger = None;
            let mut clocks = None;
            for p in payloads {
                let kind = p.kind();
                let first_response = matches!(p, EventPayload::TicketCommented { first_response: true, .. });
                let id = draft.push(ctx, &caller.0.id, now, None, p);
                // Creation, field changes and status changes trigger evaluation; comments and
                // manual assignment do not. A first response moves the SLA clocks.
                if !matches!(kind, "ticket.commented" | "ticket.assigned" | "sla.breach_acknowledged") {
                    trigger = Some((id, kind));
                } else if first_response {
                    clocks = Some((id, kind));
                }
            }
            if let Some((cause, kind)) = &trigger {
                self.automate(&mut draft, ctx, cause, kind, now).await;
            }
            // A module that just failed would fail again: no follow-up, the schedule stays.
            if let Some((cause, kind)) = trigger.or(clocks)
                && draft.automation_error.is_none()
            {
                self.follow_up(&mut draft, ctx, &cause, kind, now).await;
            }
            if let Some(day) = draft.pending_number.clone() {
                let seq = self
                    .next_values(&[Sequence::TicketNumber { day }])
                    .await
                    .map_err(|e| ApiError::Unavailable(format!("ticket numbers unavailable: {e:#}")))?
                    .first()
                    .copied()
                    .ok_or_else(|| ApiError::Unavailable("ticket numbers unavailable".to_owned()))?;
                draft.set_number(seq);
            }
            match self.commit(draft, ctx, &caller.0.id, status).await {
                Ok(done) => return Ok(done),
                // A transition key taken means the scheduler recorded it first: re-read and redo.
                Err(
                    CommitError::VersionConflict(_)
                    | CommitError::CounterTaken { .. }
                    | CommitError::NumberTaken
                    | CommitError::KeyTaken(_),
                ) => {
                    metrics::counter!("nixflow_commit_retries_total").increment(1);
                    tokio::task::yield_now().await;
                }
                Err(CommitError::IdempotencyKeyTaken) => {
                    return self.replayed(caller, ctx).await?.ok_or(ApiError::Conflict);
                }
                Err(CommitError::Database(e)) => return Err(ApiError::Internal(e)),
                Err(e @ CommitError::UsernameTaken) => return Err(ApiError::Internal(e.into())),
            }
        }
        Err(ApiError::Conflict)
    }

    /// Files a ticket; automation prioritizes and assigns it in the same commit.
    pub async fn create_ticket(
        &self,
        caller: &Caller,
        ctx: &RequestContext,
        input: CreateTicket,
    ) -> ApiResult<Executed> {
        let mut problems = Vec::new();
        check_text(&mut problems, "title", Some(&input.title), caps::TITLE, true);
        check_text(&mut problems, "description", Some(&input.description), caps::DESCRIPTION, false);
        check_text(&mut problems, "category", Some(&input.category), caps::CATEGORY, true);
        if input.priority.is_some() && !caller.0.permission.is_staff() {
            problems.push(field_problem("priority", "forbidden_field", "requesters cannot set a priority"));
        }
        reject(problems)?;
        if let Some(done) = self.replayed(caller, ctx).await? {
            return Ok(done);
        }
        let id = uuid::Uuid::now_v7().to_string();
        // The number is drawn afresh on every attempt (`run`): a number taken by a concurrent
        // create is a conflict like any other.
        let payload = EventPayload::TicketCreated {
            number: String::new(),
            title: input.title.trim().to_owned(),
            description: input.description.clone(),
            category: input.category.trim().to_owned(),
            requester: caller.0.id.clone(),
            priority: input.priority,
        };
        self.run(caller, ctx, 201, &id, |_| Ok(vec![payload.clone()]), true).await
    }

    /// Changes fields; automation re-evaluates.
    pub async fn update_ticket(
        &self,
        caller: &Caller,
        ctx: &RequestContext,
        id: &str,
        input: UpdateTicket,
    ) -> ApiResult<Executed> {
        let mut problems = Vec::new();
        check_text(&mut problems, "title", input.title.as_ref(), caps::TITLE, true);
        check_text(&mut problems, "description", input.description.as_ref(), caps::DESCRIPTION, false);
        check_text(&mut problems, "category", input.category.as_ref(), caps::CATEGORY, true);
        if input.priority.is_some() && !caller.0.permission.is_staff() {
            problems.push(field_problem("priority", "forbidden_field", "requesters cannot set a priority"));
        }
        if input.title.is_none() && input.description.is_none() && input.category.is_none() && input.priority.is_none()
        {
            problems.push(field_problem("", "empty_update", "name at least one field to change"));
        }
        reject(problems)?;
        let staff = caller.0.permission.is_staff();
        self.run(
            caller,
            ctx,
            200,
            id,
            |t| {
                let t = t.ok_or(ApiError::NotFound("ticket"))?;
                if t.status.is_final() {
                    return Err(ApiError::IllegalTransition(format!(
                        "a ticket in `{}` cannot be edited",
                        t.status.as_str()
                    )));
                }
                if !staff && t.status != Status::InApproval {
                    return Err(ApiError::Forbidden(
                        "requesters can edit a ticket only while it awaits approval".into(),
                    ));
                }
                Ok(vec![EventPayload::TicketUpdated {
                    title: input.title.as_ref().map(|s| s.trim().to_owned()),
                    description: input.description.clone(),
                    category: input.category.as_ref().map(|s| s.trim().to_owned()),
                    priority: input.priority,
                }])
            },
            false,
        )
        .await
    }

    /// Adds a comment. The first comment by someone other than the requester is the first
    /// response (SLA).
    pub async fn comment(&self, caller: &Caller, ctx: &RequestContext, id: &str, body: String) -> ApiResult<Executed> {
        let mut problems = Vec::new();
        check_text(&mut problems, "body", Some(&body), caps::COMMENT, true);
        reject(problems)?;
        let now = self.clock.now();
        self.run(
            caller,
            ctx,
            201,
            id,
            |t| {
                let t = t.ok_or(ApiError::NotFound("ticket"))?;
                let first_response = t.first_response_at.is_none() && caller.0.id != t.requester;
                let comment = Comment { author: caller.0.id.clone(), body: body.clone(), at: now };
                Ok(vec![EventPayload::TicketCommented { comment, first_response }])
            },
            false,
        )
        .await
    }

    /// Moves a ticket through the state machine.
    pub async fn transition(
        &self,
        caller: &Caller,
        ctx: &RequestContext,
        id: &str,
        to: Status,
        reason: Option<String>,
    ) -> ApiResult<Executed> {
        let mut problems = Vec::new();
        check_text(&mut problems, "reason", reason.as_ref(), caps::REASON, false);
        reject(problems)?;
        caller.require(Permission::Agent)?;
        if matches!(to, Status::Approved | Status::Rejected) {
            caller.require(Permission::Manager)?;
        }
        self.run(
            caller,
            ctx,
            200,
            id,
            |t| {
                let t = t.ok_or(ApiError::NotFound("ticket"))?;
                let kind = domain::transition(t.status, to).map_err(ApiError::IllegalTransition)?;
                let reason = reason.clone();
                Ok(vec![match kind {
                    TransitionKind::Approve => EventPayload::TicketApproved { reason },
                    TransitionKind::Reject => EventPayload::TicketRejected { reason },
                    TransitionKind::Close => EventPayload::TicketClosed { reason },
                    TransitionKind::Change => EventPayload::TicketStatusChanged { from: t.status, to, reason },
                }])
            },
            false,
        )
        .await
    }

    /// Assigns a ticket to a person.
    pub async fn assign(
        &self,
        caller: &Caller,
        ctx: &RequestContext,
        id: &str,
        assignee: String,
    ) -> ApiResult<Executed> {
        caller.require(Permission::Agent)?;
        let users = self.store.users().await?;
        if !users.iter().any(|u| u.id == assignee && u.permission.is_staff()) {
            return Err(ApiError::Unprocessable {
                code: "unknown_assignee",
                message: format!("`{assignee}` is not an agent, manager or admin"),
                details: vec![serde_json::json!({"field": "assignee"})],
            });
        }
        self.run(
            caller,
            ctx,
            200,
            id,
            |t| {
                let t = t.ok_or(ApiError::NotFound("ticket"))?;
                if t.status.is_final() {
                    return Err(ApiError::IllegalTransition(format!(
                        "a ticket in `{}` cannot be assigned",
                        t.status.as_str()
                    )));
                }
                Ok(vec![EventPayload::TicketAssigned { assignee: assignee.clone(), previous: t.assignee.clone() }])
            },
            false,
        )
        .await
    }

    /// Validates a rule set through the module: its summary, or 422 with the module's problems.
    pub async fn validate_rule_set(&self, rule_set: &serde_json::Value) -> ApiResult<serde_json::Value> {
        #[derive(Serialize)]
        struct Validate<'a> {
            op: &'static str,
            rule_set: &'a serde_json::Value,
        }
        let module = self.rules.active();
        match self.rules.call(&module, &Validate { op: "validate", rule_set }).await {
            Ok(summary) => Ok(summary),
            Err(RulesError::Refused(errors)) => Err(ApiError::Unprocessable {
                code: "invalid_rule_set",
                message: errors[0]["message"].as_str().unwrap_or("the rule set is not valid").to_owned(),
                details: errors.as_array().cloned().unwrap_or_default(),
            }),
            Err(e) => Err(ApiError::Unavailable(format!("rule module unavailable: {e}"))),
        }
    }

    /// Publishes a new rule-set version (versions are never edited in place).
    pub async fn publish_rule_set(
        &self,
        caller: &Caller,
        ctx: &RequestContext,
        mut rule_set: serde_json::Value,
    ) -> ApiResult<Executed> {
        caller.require(Permission::Manager)?;
        if let Some(done) = self.replayed(caller, ctx).await? {
            return Ok(done);
        }
        if !rule_set.is_object() {
            return Err(ApiError::unprocessable("invalid_rule_set", "a rule set is a JSON object"));
        }
        for _ in 0..MAX_ATTEMPTS {
            let (version, stream_version) = self.rule_set_head().await?;
            let next = version + 1;
            rule_set["version"] = next.into();
            self.validate_rule_set(&rule_set).await?;
            let module = self.rules.active();
            let mut draft = Draft::new(RULESET_STREAM, None);
            draft.expected_version = stream_version;
            let now = self.clock.now();
            let payload = EventPayload::RuleSetPublished {
                version: next,
                rule_set: rule_set.clone(),
                module_sha256: module.sha256().to_owned(),
            };
            draft.push(ctx, &caller.0.id, now, None, payload);
            let body = serde_json::json!({ "version": next, "rule_set": rule_set, "module_sha256": module.sha256() });
            let body = RawJson::from_serialize(&body).map_err(|e| ApiError::Internal(e.into()))?;
            let commit = Commit {
                stream: RULESET_STREAM.into(),
                expected_version: stream_version,
                events: draft.events.clone(),
                rule_set: Some((next, rule_set.clone())),
                idempotency: ctx.idempotency_record(&caller.0.id, 201, &body),
                ..Default::default()
            };
            match self.append(commit).await {
                Ok(events) => {
                    self.set_rule_set(next, &rule_set)?;
                    self.reschedule_open_tickets().await;
                    return Ok(Executed { status: 201, body, events });
                }
                Err(CommitError::VersionConflict(_)) => continue,
                Err(CommitError::IdempotencyKeyTaken) => {
                    return self.replayed(caller, ctx).await?.ok_or(ApiError::Conflict);
                }
                Err(e) => return Err(ApiError::Internal(e.into())),
            }
        }
        Err(ApiError::Conflict)
    }

    /// The active rule-set version and the `ruleset` stream's version.
    async fn rule_set_head(&self) -> ApiResult<(u64, u64)> {
        let events = self
            .store
            .events(&crate::store::EventQuery {
                stream: Some(RULESET_STREAM.into()),
                types: vec!["ruleset.published".into()],
                limit: 10_000,
                ..Default::default()
            })
            .await?;
        let version = events
            .iter()
            .filter_map(|e| match &e.payload {
                EventPayload::RuleSetPublished { version, .. } => Some(*version),
                _ => None,
            })
            .max()
            .unwrap_or(0);
        Ok((version, events.last().map_or(0, |e| e.version)))
    }

    /// Makes a rule set the one evaluations use.
    pub fn set_rule_set(&self, version: u64, rule_set: &serde_json::Value) -> anyhow::Result<()> {
        let text = RawValue::from_string(rule_set.to_string())?;
        let current = self.rule_set.load();
        if version >= current.version {
            self.rule_set.store(Arc::new(ActiveRuleSet { version, text }));
            self.prepare_rules();
        }
        Ok(())
    }

    /// Starts warming up the active module with the active rule set (see
    /// [`crate::rules::RulesHost::prepare`]); call it after either changes.
    pub(crate) fn prepare_rules(&self) {
        self.rules.prepare(self.rules.active(), self.rule_set.load_full())
    }
}

fn field_problem(field: &str, code: &str, message: &str) -> serde_json::Value {
    serde_json::json!({ "field": field, "code": code, "message": message })
}

pub(crate) fn check_text(
    problems: &mut Vec<serde_json::Value>,
    field: &str,
    value: Option<&String>,
    max: usize,
    required: bool,
) {
    let Some(v) = value else { return };
    if required && v.trim().is_empty() {
        problems.push(field_problem(field, "required", &format!("`{field}` must not be empty")));
    } else if v.len() > max {
        problems.push(field_problem(field, "too_long", &format!("`{field}` is longer than {max} bytes")));
    }
}

pub(crate) fn reject(problems: Vec<serde_json::Value>) -> ApiResult<()> {
    if problems.is_empty() {
        return Ok(());
    }
    let code = if problems.iter().any(|p| p["code"] == "forbidden_field") { "forbidden_field" } else { "invalid_body" };
    Err(ApiError::Unprocessable {
        code,
        message: problems.iter().filter_map(|p| p["message"].as_str()).collect::<Vec<_>>().join("; "),
        details: problems,
    })
}
