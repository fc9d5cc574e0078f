//! SLA monitoring: which `sla.*` events a ticket's clocks call for, acknowledging breaches, and
//! compliance reports. The clocks themselves are the rule module's (`sla_status`); this module
//! only compares what the module says with what the log already records.

use rules_core::model::Millis;
use rules_core::sla::{MetricStatus, SlaMetric, SlaState, SlaStatus};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::AppState;
use crate::auth::Caller;
use crate::domain::{EventPayload, MetricRecord, Provenance, REPORTS_STREAM, SlaDeadline, TicketState};
use crate::error::{ApiError, ApiResult};
use crate::service::{Executed, RequestContext};
use crate::store::{Commit, CommitError, NewEvent, Permission};

/// The SLA events a ticket's clocks call for that the log does not hold yet, each with its
/// deterministic key (unique in the log) when it has one. Pure: the same inputs, the same events.
///
/// - No record yet and a policy applies: `sla.metric_created` with the deadlines.
/// - The pause flag differs from the record: `sla.paused` or `sla.resumed`.
/// - Per clock, until it is settled (met or breached): `sla.met`, or `sla.warning` then
///   `sla.breach` (a breach found late still records its warning first, at the exact instants).
pub fn sla_events(
    ticket: &TicketState,
    status: Option<&SlaStatus>,
    provenance: &Provenance,
) -> Vec<(EventPayload, Option<String>)> {
    let Some(status) = status else { return Vec::new() };
    let mut out = Vec::new();
    let id = &ticket.id;
    let record = match &ticket.sla {
        Some(r) => r.clone(),
        None => {
            let deadline = |m: &MetricStatus| SlaDeadline {
                target_ms: m.target_ms,
                warning_at: m.warning_at,
                deadline_at: m.deadline_at,
            };
            out.push((
                EventPayload::SlaMetricCreated {
                    provenance: provenance.clone(),
                    priority: status.priority,
                    first_response: deadline(&status.first_response),
                    resolution: deadline(&status.resolution),
                },
                Some(format!("sla:{id}:created")),
            ));
            crate::domain::SlaRecord {
                policy_version: provenance.rule_set_version,
                priority: status.priority,
                paused: false,
                first_response: MetricRecord::default(),
                resolution: MetricRecord::default(),
                acknowledged_at: None,
            }
        }
    };
    if status.paused != record.paused {
        let p = provenance.clone();
        out.push((
            if status.paused {
                EventPayload::SlaPaused { provenance: p, status: ticket.status }
            } else {
                EventPayload::SlaResumed { provenance: p, status: ticket.status }
            },
            None,
        ));
    }
    for (metric, live) in
        [(SlaMetric::FirstResponse, &status.first_response), (SlaMetric::Resolution, &status.resolution)]
    {
        let recorded = record.metric(metric);
        if recorded.settled() {
            continue;
        }
        let name = metric_name(metric);
        let warn = |at: Millis| {
            (
                EventPayload::SlaWarning { provenance: provenance.clone(), metric, at, deadline_at: live.deadline_at },
                Some(format!("sla:{id}:{name}:warning")),
            )
        };
        match live.state {
            SlaState::Met => {
                if let Some(at) = live.met_at {
                    out.push((
                        EventPayload::SlaMet {
                            provenance: provenance.clone(),
                            metric,
                            at,
                            elapsed_ms: live.elapsed_ms,
                            target_ms: live.target_ms,
                        },
                        Some(format!("sla:{id}:{name}:met")),
                    ));
                }
            }
            SlaState::Breached => {
                if recorded.warned_at.is_none()
                    && let Some(at) = live.warning_at
                {
                    out.push(warn(at));
                }
                if let Some(at) = live.breached_at {
                    out.push((
                        EventPayload::SlaBreach {
                            provenance: provenance.clone(),
                            metric,
                            at,
                            target_ms: live.target_ms,
                        },
                        Some(format!("sla:{id}:{name}:breach")),
                    ));
                }
            }
            SlaState::Warning => {
                if recorded.warned_at.is_none()
                    && let Some(at) = live.warning_at
                {
                    out.push(warn(at));
                }
            }
            SlaState::Ok | SlaState::Paused => {}
        }
    }
    out
}

/// The wire name of a clock.
pub fn metric_name(metric: SlaMetric) -> &'static str {
    match metric {
        SlaMetric::FirstResponse => "first_response",
        SlaMetric::Resolution => "resolution",
    }
}

/// An acknowledgement of a ticket's breaches.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Acknowledge {
    /// What is being done about it.
    #[serde(default)]
    pub note: Option<String>,
}

/// A compliance report's period.
#[derive(Debug, Clone, Deserialize, ToSchema, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ComplianceQuery {
    /// Start, inclusive (RFC 3339).
    pub from: String,
    /// End, exclusive (RFC 3339).
    pub to: String,
}

/// What the compliance endpoint answers.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ComplianceResponse {
    /// The module's report: met and breached per priority, compliance in basis points.
    #[schema(value_type = Object)]
    pub report: serde_json::Value,
    /// The `sla.compliance_report_generated` event's id.
    pub event_id: String,
}

/// Tickets per `compliance_report` call (the module caps one call's tickets).
const REPORT_CHUNK: u32 = 5_000;

impl AppState {
    /// The module's live clocks of a ticket and its next wake-up.
    pub async fn live_clocks(
        &self,
        ticket: &TicketState,
    ) -> Result<(Option<rules_core::sla::SlaStatus>, Option<rules_core::sla::WakeUp>), crate::rules::RulesError> {
        let module = self.rules.active();
        let rule_set = self.rule_set.load_full();
        let now = self.clock.now();
        let t = ticket.to_rules();
        let request = |op: &str| serde_json::json!({ "op": op, "rule_set": &rule_set.text, "ticket": &t, "now": now });
        let sla = self.rules.call(&module, &request("sla_status")).await?;
        let wake = self.rules.call(&module, &request("next_wake_up")).await?;
        let bad = |e: serde_json::Error| crate::module::ModuleError::BadAnswer(e.to_string());
        Ok((
            serde_json::from_value(sla["sla"].clone()).map_err(bad)?,
            serde_json::from_value(wake["next_wake_up"].clone()).map_err(bad)?,
        ))
    }

    /// Acknowledges a ticket's unacknowledged breaches (agents and above).
    pub async fn acknowledge_breach(
        &self,
        caller: &Caller,
        ctx: &RequestContext,
        id: &str,
        input: Acknowledge,
    ) -> ApiResult<Executed> {
        caller.require(Permission::Agent)?;
        let mut problems = Vec::new();
        crate::service::check_text(&mut problems, "note", input.note.as_ref(), crate::service::caps::REASON, false);
        crate::service::reject(problems)?;
        self.run(
            caller,
            ctx,
            200,
            id,
            |t| {
                let t = t.ok_or(ApiError::NotFound("ticket"))?;
                let metrics = t.sla.as_ref().map(|s| s.unacknowledged_breaches()).unwrap_or_default();
                if metrics.is_empty() {
                    return Err(ApiError::IllegalTransition(format!(
                        "ticket `{}` has no unacknowledged SLA breach",
                        t.number
                    )));
                }
                Ok(vec![EventPayload::SlaBreachAcknowledged { metrics, note: input.note.clone() }])
            },
            false,
        )
        .await
    }

    /// A compliance report over `[from, to)` from the rule module, recorded as an event.
    pub async fn compliance_report(
        &self,
        actor: &str,
        correlation_id: &str,
        from: Millis,
        to: Millis,
        scheduled: bool,
        key: Option<String>,
    ) -> ApiResult<ComplianceResponse> {
        if from >= to {
            return Err(ApiError::unprocessable("invalid_period", "`from` must be before `to`"));
        }
        let module = self.rules.active();
        let rule_set = self.rule_set.load_full();
        let now = self.clock.now();
        // One call per page of tickets (an empty log still gets its one, empty, report).
        let mut report: Option<serde_json::Value> = None;
        let mut after = 0;
        loop {
            let page = self.store.tickets_page(after, REPORT_CHUNK).await?;
            after = page.last().map_or(after, |(seq, _)| *seq);
            let tickets: Vec<_> = page.iter().filter(|(_, t)| t.created_at < to).map(|(_, t)| t.to_rules()).collect();
            let request = serde_json::json!({
                "op": "compliance_report", "rule_set": &rule_set.text, "tickets": tickets,
                "now": now, "from": from, "to": to,
            });
            let part = self
                .rules
                .call(&module, &request)
                .await
                .map_err(|e| ApiError::Unavailable(format!("rule module unavailable: {e}")))?;
            let merged = match report.take() {
                None => part,
                Some(sum) => merge_reports(sum, &part),
            };
            report = Some(merged);
            if page.len() < REPORT_CHUNK as usize {
                break;
            }
        }
        let report = report.unwrap_or_default();
        let provenance = Provenance {
            module_sha256: module.sha256().to_owned(),
            rule_set_version: rule_set.version,
            trigger: if scheduled { "schedule" } else { "request" }.into(),
        };
        for _ in 0..crate::service::MAX_ATTEMPTS {
            let version = self.store.stream_version(REPORTS_STREAM).await?;
            let event_id = uuid::Uuid::now_v7().to_string();
            let commit = Commit {
                stream: REPORTS_STREAM.into(),
                expected_version: version,
                events: vec![NewEvent {
                    id: event_id.clone(),
                    payload: EventPayload::ComplianceReportGenerated {
                        provenance: provenance.clone(),
                        from,
                        to,
                        scheduled,
                        report: report.clone(),
                    },
                    time: now,
                    actor: actor.to_owned(),
                    correlation_id: correlation_id.to_owned(),
                    causation_id: None,
                }],
                keys: key.iter().cloned().collect(),
                ..Default::default()
            };
            match self.append(commit).await {
                Ok(_) => return Ok(ComplianceResponse { report, event_id }),
                Err(CommitError::VersionConflict(_)) => continue,
                Err(CommitError::KeyTaken(k)) => {
                    return Err(ApiError::IllegalTransition(format!("report `{k}` was already generated")));
                }
                Err(e) => return Err(ApiError::Internal(e.into())),
            }
        }
        Err(ApiError::Conflict)
    }
}

/// Sums two partial reports (counts add; basis points are recomputed).
fn merge_reports(mut sum: serde_json::Value, part: &serde_json::Value) -> serde_json::Value {
    fn add_counts(a: &mut serde_json::Value, b: &serde_json::Value) {
        for field in ["met", "breached"] {
            let total = a[field].as_u64().unwrap_or(0) + b[field].as_u64().unwrap_or(0);
            a[field] = total.into();
        }
        let (met, all) =
            (a["met"].as_u64().unwrap_or(0), a["met"].as_u64().unwrap_or(0) + a["breached"].as_u64().unwrap_or(0));
        a["compliance_bp"] = met.saturating_mul(10_000).checked_div(all).map_or(serde_json::Value::Null, Into::into);
    }
    if let (Some(rows), Some(other)) = (sum["by_priority"].as_array_mut(), part["by_priority"].as_array()) {
        for row in rows.iter_mut() {
            if let Some(o) = other.iter().find(|o| o["priority"] == row["priority"]) {
                add_counts(&mut row["first_response"], &o["first_response"]);
                add_counts(&mut row["resolution"], &o["resolution"]);
            }
        }
    }
    add_counts(&mut sum["total"]["first_response"], &part["total"]["first_response"]);
    add_counts(&mut sum["total"]["resolution"], &part["total"]["resolution"]);
    let without =
        sum["tickets_without_target"].as_u64().unwrap_or(0) + part["tickets_without_target"].as_u64().unwrap_or(0);
    sum["tickets_without_target"] = without.into();
    sum
}

#[cfg(test)]
mod tests {
    use rules_core::model::{Priority, Status};

    use super::*;
    use crate::domain::SlaRecord;

    fn metric(state: SlaState, warning_at: Option<Millis>, deadline_at: Option<Millis>) -> MetricStatus {
        MetricStatus {
            target_ms: 100,
            state,
            elapsed_ms: 0,
            remaining_ms: 0,
            warning_at,
            deadline_at,
            met_at: (state == SlaState::Met).then_some(50),
            breached_at: (state == SlaState::Breached).then_some(deadline_at.unwrap_or(0)),
        }
    }

    fn status(first: MetricStatus, resolution: MetricStatus, paused: bool) -> SlaStatus {
        SlaStatus { rule_set_version: 3, priority: Priority::High, paused, first_response: first, resolution }
    }

    fn ticket(sla: Option<SlaRecord>) -> TicketState {
        let created = EventPayload::TicketCreated {
            number: "TKT-20261128-0001".into(),
            title: "t".into(),
            description: String::new(),
            category: "Software".into(),
            requester: "u".into(),
            priority: None,
        };
        let mut t = TicketState::apply(None, "t1", 0, &created).unwrap();
        t.sla = sla;
        t
    }

    fn provenance() -> Provenance {
        Provenance { module_sha256: "m".into(), rule_set_version: 3, trigger: "schedule".into() }
    }

    fn kinds(events: &[(EventPayload, Option<String>)]) -> Vec<(&'static str, Option<&str>)> {
        events.iter().map(|(p, k)| (p.kind(), k.as_deref())).collect()
    }

    #[test]
    fn a_new_ticket_starts_its_clocks_once() {
        let s = status(metric(SlaState::Ok, Some(80), Some(100)), metric(SlaState::Ok, Some(800), Some(1000)), false);
        let events = sla_events(&ticket(None), Some(&s), &provenance());
        assert_eq!(kinds(&events), [("sla.metric_created", Some("sla:t1:created"))]);
        let t = TicketState::apply(Some(ticket(None)), "t1", 1, &events[0].0).unwrap();
        let sla = t.sla.as_ref().unwrap();
        assert_eq!((sla.policy_version, sla.priority, sla.first_response.target_ms), (3, Priority::High, 100));
        assert!(sla_events(&t, Some(&s), &provenance()).is_empty(), "nothing more while the clocks are fine");
        assert!(sla_events(&ticket(None), None, &provenance()).is_empty(), "no policy, no clocks");
    }

    #[test]
    fn a_late_breach_records_its_warning_first_at_the_exact_instants_and_only_once() {
        let s = status(metric(SlaState::Breached, Some(80), Some(100)), metric(SlaState::Ok, Some(800), None), false);
        let created = sla_events(&ticket(None), Some(&s), &provenance());
        let mut t = TicketState::apply(Some(ticket(None)), "t1", 1, &created[0].0).unwrap();
        let events = sla_events(&t, Some(&s), &provenance());
        assert_eq!(
            kinds(&events),
            [
                ("sla.warning", Some("sla:t1:first_response:warning")),
                ("sla.breach", Some("sla:t1:first_response:breach"))
            ]
        );
        match &events[0].0 {
            EventPayload::SlaWarning { at, .. } => assert_eq!(*at, 80),
            other => panic!("{other:?}"),
        }
        for (e, _) in &events {
            t = TicketState::apply(Some(t), "t1", 200, e).unwrap();
        }
        assert_eq!(t.sla.as_ref().unwrap().first_response.breached_at, Some(100));
        assert!(sla_events(&t, Some(&s), &provenance()).is_empty(), "a settled clock says nothing more");
        assert_eq!(t.sla.as_ref().unwrap().unacknowledged_breaches(), [SlaMetric::FirstResponse]);
    }

    #[test]
    fn pause_resume_and_met() {
        let mut t = ticket(None);
        let running =
            status(metric(SlaState::Ok, Some(80), Some(100)), metric(SlaState::Ok, Some(800), Some(1000)), false);
        for (e, _) in sla_events(&t, Some(&running), &provenance()) {
            t = TicketState::apply(Some(t), "t1", 1, &e).unwrap();
        }
        t.status = Status::OnHold;
        let paused = status(metric(SlaState::Met, None, None), metric(SlaState::Paused, None, None), true);
        let events = sla_events(&t, Some(&paused), &provenance());
        assert_eq!(kinds(&events), [("sla.paused", None), ("sla.met", Some("sla:t1:first_response:met"))]);
        for (e, _) in &events {
            t = TicketState::apply(Some(t), "t1", 2, e).unwrap();
        }
        assert!(t.sla.as_ref().unwrap().paused);
        t.status = Status::InProgress;
        let resumed = status(metric(SlaState::Met, None, None), metric(SlaState::Ok, Some(900), Some(1100)), false);
        assert_eq!(kinds(&sla_events(&t, Some(&resumed), &provenance())), [("sla.resumed", None)]);
    }
}
