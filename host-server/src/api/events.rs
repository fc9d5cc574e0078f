//! `/api/events`: the audit log with filters, and its live stream as server-sent events.
//!
//! The stream is the log read forward: a subscriber remembers the last position it sent, reads
//! what follows from the log, and waits for the head to move (locally or, with Redis, on any
//! instance). So a reconnect with `Last-Event-ID` resumes with no gap and no duplicate, and a
//! slow consumer simply reads further behind instead of losing events. The first frame is the
//! starting position alone (an `id:` with no data), so even a client that has seen no event yet
//! knows where to resume.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::time::Duration;

use axum::Json;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::{Stream, StreamExt};
use serde::Deserialize;
use utoipa::IntoParams;

use crate::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::store::{EventQuery, Permission, StoredEvent};

/// Audit-log filters.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct EventFilter {
    /// Comma-separated event types.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// Ticket id.
    pub ticket: Option<String>,
    /// Actor (user id or `automation`).
    pub actor: Option<String>,
    /// Correlation id.
    pub correlation_id: Option<String>,
    /// From (RFC 3339 or epoch ms), inclusive.
    pub from: Option<String>,
    /// To (RFC 3339 or epoch ms), exclusive.
    pub to: Option<String>,
    /// Only events after this log position.
    pub after: Option<i64>,
    /// Page size (1–1000, default 100).
    pub limit: Option<u32>,
}

fn instant(field: &str, value: &Option<String>) -> ApiResult<Option<i64>> {
    let Some(v) = value else { return Ok(None) };
    if let Ok(ms) = v.parse::<i64>() {
        return Ok(Some(ms));
    }
    chrono::DateTime::parse_from_rfc3339(v).map(|t| Some(t.timestamp_millis())).map_err(|_| {
        ApiError::unprocessable("invalid_query", format!("`{field}` is neither RFC 3339 nor epoch ms: `{v}`"))
    })
}

impl EventFilter {
    fn query(&self, caller: &Caller) -> ApiResult<EventQuery> {
        let types: Vec<String> = self
            .kind
            .iter()
            .flat_map(|k| k.split(','))
            .map(str::trim)
            .filter(|k| !k.is_empty())
            .map(str::to_owned)
            .collect();
        if let Some(unknown) = types.iter().find(|t| !crate::domain::EventPayload::KINDS.contains(&t.as_str())) {
            return Err(ApiError::unprocessable("invalid_query", format!("unknown event type `{unknown}`")));
        }
        Ok(EventQuery {
            after: self.after.unwrap_or(0).max(0),
            limit: self.limit.unwrap_or(100).clamp(1, 1000),
            types,
            stream: self.ticket.clone(),
            actor: self.actor.clone(),
            correlation_id: self.correlation_id.clone(),
            from: instant("from", &self.from)?,
            to: instant("to", &self.to)?,
            requester: caller.only_requester().map(str::to_owned),
        })
    }
}

/// The audit log (a requester sees only events of their own tickets).
#[utoipa::path(get, path = "/api/events", tag = "events", params(EventFilter),
    responses((status = 200, body = Vec<Object>), (status = 422, body = ErrorBody)))]
pub async fn list(
    State(s): State<AppState>,
    caller: Caller,
    filter: Result<Query<EventFilter>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<Vec<serde_json::Value>>> {
    let Query(filter) = filter?;
    let query = filter.query(&caller)?;
    let events = s.store.events(&query).await?;
    Ok(Json(events.iter().map(StoredEvent::to_cloud_event).collect()))
}

/// Live events as server-sent events; the SSE id is the log position. Resume with
/// `Last-Event-ID` (or `after`); without either the stream starts at the current head.
#[utoipa::path(get, path = "/api/events/stream", tag = "events", params(EventFilter),
    responses((status = 200, description = "text/event-stream of CloudEvents"), (status = 401, body = ErrorBody)))]
pub async fn stream(
    State(s): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    filter: Result<Query<EventFilter>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Sse<impl Stream<Item = Result<Event, Infallible>>>> {
    let Query(filter) = filter?;
    let mut query = filter.query(&caller)?;
    let resume = headers.get("last-event-id").and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse::<i64>().ok());
    query.after = match (resume, filter.after) {
        (Some(p), _) | (None, Some(p)) => p.max(0),
        (None, None) => s.store.head().await?,
    };
    let after = query.after;
    query.limit = 500;
    if caller.0.permission < Permission::Agent {
        query.requester = Some(caller.0.id.clone());
    }
    let head = s.fanout.subscribe();
    let closing = s.fanout.closing();
    metrics::gauge!("nixflow_sse_subscribers").increment(1.0);
    let guard = SubscriberGuard;
    let state = (s, query, head, VecDeque::<StoredEvent>::new(), (guard, closing));
    let events =
        futures_util::stream::unfold(state, |(s, mut query, mut head, mut buffer, (guard, closing))| async move {
            loop {
                if closing.is_cancelled() {
                    // Shutting down: end the stream; the client resumes from its Last-Event-ID.
                    return None;
                }
                if let Some(e) = buffer.pop_front() {
                    let event = Event::default()
                        .id(e.position.to_string())
                        .event(e.payload.kind())
                        .json_data(e.to_cloud_event())
                        .unwrap_or_else(|_| Event::default().comment("unserializable event"));
                    return Some((Ok(event), (s, query, head, buffer, (guard, closing))));
                }
                head.borrow_and_update();
                match s.store.events(&query).await {
                    Ok(events) if !events.is_empty() => {
                        query.after = events.last().map_or(query.after, |e| e.position);
                        buffer.extend(events);
                        continue;
                    }
                    Ok(_) => {}
                    Err(e) => {
                        tracing::warn!(error = format!("{e:#}"), "SSE: reading the log failed; retrying");
                        tokio::time::sleep(Duration::from_millis(500)).await;
                        continue;
                    }
                }
                // Wait for the head to move; poll now and then in case a nudge was lost.
                tokio::select! {
                    changed = head.changed() => if changed.is_err() { return None },
                    () = closing.cancelled() => return None,
                    () = tokio::time::sleep(Duration::from_secs(5)) => {}
                }
            }
        });
    // The first frame carries only the starting position as its id: a client that drops before
    // any event arrives still resumes from where it began, not from a later head.
    let start = Event::default().id(after.to_string()).comment("stream position");
    let events = futures_util::stream::once(std::future::ready(Ok(start))).chain(events);
    Ok(Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)).text("keep-alive")))
}

/// Decrements the subscriber gauge when a stream ends.
struct SubscriberGuard;

impl Drop for SubscriberGuard {
    fn drop(&mut self) {
        metrics::gauge!("nixflow_sse_subscribers").decrement(1.0);
    }
}
