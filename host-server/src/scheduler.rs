//! Time-driven automation, owned by the server: escalations and SLA transitions fire at their
//! exact instant whether or not anyone has the app open.
//!
//! Every ticket's next wake-up (from the rule module) is in the due-time index ([`crate::due`]).
//! [`AppState::try_run_due`] is one tick, a step function: claim the tickets due now, re-evaluate
//! each through the module at `now`, append what came due, reschedule. A tick costs what is due,
//! not what is open. [`AppState::spawn_scheduler`] is the thin loop around it.
//!
//! Exactly once, across instances: each transition has a deterministic key (ticket, rule,
//! status-entry instant; or ticket, clock, kind) committed under a unique constraint, and every
//! commit carries the ticket stream's expected version. Two instances that claimed the same ticket
//! (a lapsed lease, a rebuilt index) decide the same transitions; one commit wins, the other is
//! refused and re-reads a ticket that already records them.

use std::time::Duration;

use futures_util::StreamExt;
use rules_core::codec::{SlaAnswer, WakeUpAnswer};
use rules_core::escalate::EscalationCheck;
use rules_core::model::{Millis, User};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::AppState;
use crate::domain::{EventPayload, Provenance, RawJson};
use crate::module::ModuleError;
use crate::rules::RulesError;
use crate::service::{Draft, RequestContext};
use crate::store::{CommitError, StoredEvent};

/// How the scheduler claims and works.
#[derive(Debug, Clone, Copy)]
pub struct SchedulerConfig {
    /// Tickets claimed per tick.
    pub batch: usize,
    /// How long a claim hides a ticket from other instances (then a crashed claimer's tickets
    /// are taken over).
    pub lease_ms: Millis,
    /// Tickets decided at once within a tick.
    pub concurrency: usize,
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        Self { batch: 256, lease_ms: 30_000, concurrency: 8 }
    }
}

/// What one tick did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct TickReport {
    /// Tickets claimed.
    pub claimed: usize,
    /// Escalations fired.
    pub escalations: usize,
    /// SLA events appended.
    pub sla_events: usize,
    /// Tickets rescheduled with nothing due (a moved deadline, a new rule set).
    pub rescheduled: usize,
    /// Commits refused because another writer got there first (then re-decided).
    pub lost_races: usize,
    /// Tickets that could not be decided (left claimed until the lease lapses, then retried).
    pub failed: usize,
    /// Per fired transition: how late after its exact instant (ms).
    pub lags_ms: Vec<Millis>,
}

/// Attempts at one ticket within a tick when its commit keeps losing races.
const WAKE_ATTEMPTS: usize = 20;

/// The clocks of an evaluation's summary ([`Draft::automation`]).
#[derive(Deserialize)]
struct Clocks {
    sla: Option<rules_core::sla::SlaStatus>,
    next_wake_up: Option<rules_core::sla::WakeUp>,
}

#[derive(Serialize)]
struct TicketOp<'a> {
    op: &'static str,
    rule_set: &'a RawValue,
    ticket: &'a rules_core::model::Ticket,
    now: Millis,
    #[serde(skip_serializing_if = "Option::is_none")]
    users: Option<&'a [User]>,
}

impl AppState {
    /// Calls a per-ticket op of the active module and reads its answer.
    pub(crate) async fn ticket_op<T: DeserializeOwned>(
        &self,
        module: &std::sync::Arc<crate::module::RuleModule>,
        rule_set: &crate::rules::ActiveRuleSet,
        op: &'static str,
        ticket: &rules_core::model::Ticket,
        users: Option<&[User]>,
        now: Millis,
    ) -> Result<T, RulesError> {
        let answer =
            self.rules.call_raw(module, &TicketOp { op, rule_set: &rule_set.text, ticket, now, users }).await?;
        serde_json::from_str(answer.get()).map_err(|e| ModuleError::BadAnswer(format!("`{op}` answer: {e}")).into())
    }

    /// After a command: the SLA events its change calls for, and the ticket's next wake-up.
    /// Reuses the evaluation of this command when there was one; otherwise asks the module.
    pub(crate) async fn follow_up(
        &self,
        draft: &mut Draft,
        ctx: &RequestContext,
        cause: &str,
        trigger: &str,
        now: Millis,
    ) {
        let Some(state) = draft.state.clone() else { return };
        let module = self.rules.active();
        let rule_set = self.rule_set.load_full();
        let clocks = match &draft.automation {
            Some(summary) => serde_json::from_str::<Clocks>(summary.get())
                .map(|c| (c.sla, c.next_wake_up))
                .map_err(|e| RulesError::from(ModuleError::BadAnswer(format!("evaluation: {e}")))),
            None => {
                let ticket = state.to_rules();
                let sla = self.ticket_op::<SlaAnswer>(&module, &rule_set, "sla_status", &ticket, None, now).await;
                match sla {
                    Ok(sla) => self
                        .ticket_op::<WakeUpAnswer>(&module, &rule_set, "next_wake_up", &ticket, Some(&[]), now)
                        .await
                        .map(|w| (sla.sla, w.next_wake_up)),
                    Err(e) => Err(e),
                }
            }
        };
        let (sla, next) = match clocks {
            Ok(c) => c,
            Err(e) => {
                // The change is stored regardless; the schedule stays as it was.
                tracing::warn!(ticket = draft.stream, error = %e, "SLA follow-up failed");
                return;
            }
        };
        let provenance = Provenance {
            module_sha256: module.sha256().to_owned(),
            rule_set_version: rule_set.version,
            trigger: trigger.to_owned(),
        };
        for (payload, key) in crate::sla::sla_events(&state, sla.as_ref(), &provenance) {
            draft.push(ctx, "automation", now, Some(cause), payload);
            draft.keys.extend(key);
        }
        draft.schedule = Some(next.map(|w: rules_core::sla::WakeUp| w.at.max(now + 1)));
    }

    /// Decides what is due on one ticket at `now`: escalations, SLA events, the next wake-up.
    /// `None` when the ticket does not exist.
    async fn wake_draft(&self, id: &str, now: Millis, users: &[User]) -> anyhow::Result<Option<Draft>> {
        let Some(state) = self.store.ticket(id).await? else { return Ok(None) };
        let module = self.rules.active();
        let rule_set = self.rule_set.load_full();
        let ctx = RequestContext { correlation_id: format!("scheduler:{id}:{now}"), idempotency: None };
        let provenance = Provenance {
            module_sha256: module.sha256().to_owned(),
            rule_set_version: rule_set.version,
            trigger: "schedule".into(),
        };
        let mut draft = Draft::new(id, Some(state.clone()));
        let check: EscalationCheck =
            self.ticket_op(&module, &rule_set, "check_escalations", &state.to_rules(), Some(users), now).await?;
        for e in &check.fired {
            let before = draft.state.clone().unwrap_or_else(|| state.clone());
            let trigger = draft.push(
                &ctx,
                "automation",
                now,
                None,
                EventPayload::EscalationTriggered {
                    provenance: provenance.clone(),
                    rule: e.rule.clone(),
                    key: e.key.clone(),
                    due_at: e.due_at,
                    lag_ms: now.saturating_sub(e.due_at),
                    decision: RawJson::from_serialize(e)?,
                },
            );
            draft.push(
                &ctx,
                "automation",
                now,
                Some(&trigger),
                EventPayload::TicketEscalated {
                    rule: e.rule.clone(),
                    status: e.status,
                    status_entered_at: e.status_entered_at,
                    role: e.role.clone(),
                    assignee: e.assignee.clone(),
                    previous_assignee: before.assignee.clone(),
                    priority: e.set_priority,
                    previous_priority: before.priority,
                },
            );
            draft.keys.push(format!("escalation:{}", e.key));
        }
        // The clocks of the ticket as escalated (a raised priority has other targets).
        let after = draft.state.clone().unwrap_or(state);
        let sla: SlaAnswer = self.ticket_op(&module, &rule_set, "sla_status", &after.to_rules(), None, now).await?;
        for (payload, key) in crate::sla::sla_events(&after, sla.sla.as_ref(), &provenance) {
            draft.push(&ctx, "automation", now, None, payload);
            draft.keys.extend(key);
        }
        draft.schedule = Some(check.next_wake_up.map(|w| w.at.max(now + 1)));
        Ok(Some(draft))
    }

    /// Commits a wake-up draft.
    async fn commit_wake(&self, draft: &Draft) -> Result<Vec<StoredEvent>, CommitError> {
        self.append(draft.clone().into_commit(None)).await
    }

    /// One ticket, re-read and re-decided until its commit lands (after a lost race).
    async fn wake_one(&self, id: &str, now: Millis, users: &[User]) -> anyhow::Result<Option<Vec<StoredEvent>>> {
        for _ in 0..WAKE_ATTEMPTS {
            let Some(draft) = self.wake_draft(id, now, users).await? else { return Ok(None) };
            match self.commit_wake(&draft).await {
                Ok(events) => return Ok(Some(events)),
                Err(CommitError::VersionConflict(_) | CommitError::KeyTaken(_)) => tokio::task::yield_now().await,
                Err(e) => return Err(e.into()),
            }
        }
        anyhow::bail!("ticket `{id}` kept changing; left for the next tick")
    }

    /// One scheduler tick at `now`: claims the due tickets, decides them concurrently, commits
    /// them in deadline order, reschedules them. Safe to run on every instance at once.
    pub async fn try_run_due(&self, now: Millis) -> anyhow::Result<TickReport> {
        let config = self.scheduler;
        let claimed = self.due.claim(now, config.batch, now.saturating_add(config.lease_ms)).await?;
        let mut report = TickReport { claimed: claimed.len(), ..Default::default() };
        if claimed.is_empty() {
            return Ok(report);
        }
        // A rule set published on another instance moments ago must decide these tickets (its
        // publisher made them due); don't wait for the nudge that would bring it here.
        if let Some((version, rule_set)) = self.store.active_rule_set().await?
            && version > self.rule_set.load().version
        {
            self.set_rule_set(version, &rule_set)?;
        }
        let users = self.rule_users().await?;
        let decided: Vec<(String, anyhow::Result<Option<Draft>>)> = futures_util::stream::iter(claimed)
            .map(|id| {
                let users = &users;
                async move {
                    let draft = self.wake_draft(&id, now, users).await;
                    (id, draft)
                }
            })
            .buffered(config.concurrency.max(1))
            .collect()
            .await;
        // All commits are queued in deadline order (the store applies its queue in order).
        let commits = decided.iter().map(|(id, draft)| async move {
            match draft {
                Ok(Some(d)) => (id, Some(self.commit_wake(d).await)),
                Ok(None) => (id, None),
                Err(_) => (id, None),
            }
        });
        let committed = futures_util::future::join_all(commits).await;
        for ((id, result), (_, draft)) in committed.into_iter().zip(&decided) {
            let outcome = match (result, draft) {
                (_, Err(e)) => Err(anyhow::anyhow!("{e:#}")),
                (None, Ok(_)) => {
                    // The ticket is gone: forget it.
                    if let Err(e) = self.due.scheduled(id, None, u64::MAX).await {
                        tracing::warn!(ticket = id, error = format!("{e:#}"), "due-time index not updated");
                    }
                    continue;
                }
                (Some(Ok(events)), _) => Ok(Some(events)),
                (Some(Err(CommitError::VersionConflict(_) | CommitError::KeyTaken(_))), _) => {
                    report.lost_races += 1;
                    self.wake_one(id, now, &users).await
                }
                (Some(Err(e)), _) => Err(e.into()),
            };
            match outcome {
                Ok(Some(events)) => report.count(&events),
                Ok(None) => {}
                Err(e) => {
                    report.failed += 1;
                    metrics::counter!("nixflow_scheduler_failures_total").increment(1);
                    tracing::warn!(ticket = id, error = format!("{e:#}"), "scheduled evaluation failed");
                }
            }
        }
        metrics::counter!("nixflow_scheduler_claimed_total").increment(report.claimed as u64);
        for lag in &report.lags_ms {
            metrics::histogram!("nixflow_scheduler_lag_seconds").record(*lag as f64 / 1000.0);
        }
        Ok(report)
    }

    /// Runs [`AppState::try_run_due`] forever: again at once while ticks come back full,
    /// otherwise every `interval`. With `daily_report`, also the daily compliance report.
    pub fn spawn_scheduler(&self, interval: Duration, daily_report: bool) -> tokio::task::JoinHandle<()> {
        let state = self.clone();
        tokio::spawn(async move {
            let mut reported_day = None;
            loop {
                let now = state.clock.now();
                let full = match state.try_run_due(now).await {
                    Ok(r) => r.claimed >= state.scheduler.batch,
                    Err(e) => {
                        tracing::warn!(error = format!("{e:#}"), "scheduler tick failed");
                        false
                    }
                };
                if daily_report {
                    state.daily_report(now, &mut reported_day).await;
                }
                if !full {
                    tokio::time::sleep(interval).await;
                }
            }
        })
    }

    /// Once per UTC day, on one instance: the previous day's compliance report.
    async fn daily_report(&self, now: Millis, reported_day: &mut Option<Millis>) {
        const DAY: Millis = 86_400_000;
        let today = now.div_euclid(DAY) * DAY;
        if *reported_day == Some(today) {
            return;
        }
        match self.try_daily_report(now).await {
            Ok(_) => *reported_day = Some(today),
            Err(e) => tracing::warn!(error = format!("{e:#}"), "daily compliance report failed"),
        }
    }

    /// The step of the daily report: the previous UTC day's compliance report at `now`, unless
    /// some instance already made it (its key is unique in the log). Whether this call made it.
    pub async fn try_daily_report(&self, now: Millis) -> anyhow::Result<bool> {
        const DAY: Millis = 86_400_000;
        let today = now.div_euclid(DAY) * DAY;
        let key = format!("report:daily:{}", crate::store::rfc3339(today - DAY));
        if self.store.has_key(&key).await? {
            return Ok(false);
        }
        match self.compliance_report("system", "scheduler:daily-report", today - DAY, today, true, Some(key)).await {
            Ok(_) => Ok(true),
            // Another instance made it between the look and the commit.
            Err(crate::error::ApiError::IllegalTransition(_)) => Ok(false),
            Err(e) => Err(anyhow::anyhow!("{e}")),
        }
    }

    /// A new rule set may move any open ticket's deadlines: make them all due now, so the
    /// scheduler re-evaluates each under the new version (and records which it used).
    pub async fn reschedule_open_tickets(&self) {
        let now = self.clock.now();
        match self.store.reschedule_open(now).await {
            Ok(n) => tracing::info!(tickets = n, "open tickets rescheduled for a new rule set"),
            Err(e) => tracing::error!(error = format!("{e:#}"), "rescheduling open tickets"),
        }
        if let Err(e) = self.due.reload().await {
            tracing::error!(error = format!("{e:#}"), "reloading the due-time index");
        }
    }
}

impl TickReport {
    fn count(&mut self, events: &[StoredEvent]) {
        if events.is_empty() {
            self.rescheduled += 1;
        }
        for e in events {
            match &e.payload {
                EventPayload::EscalationTriggered { lag_ms, .. } => {
                    self.escalations += 1;
                    self.lags_ms.push(*lag_ms);
                }
                EventPayload::SlaWarning { at, .. } | EventPayload::SlaBreach { at, .. } => {
                    self.sla_events += 1;
                    self.lags_ms.push(e.time.saturating_sub(*at));
                }
                p if p.kind().starts_with("sla.") => self.sla_events += 1,
                _ => {}
            }
        }
    }
}
