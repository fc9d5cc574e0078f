//! `/api/sla` and a ticket's SLA: live clocks, breach acknowledgement, compliance reports.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use serde::Serialize;
use utoipa::ToSchema;

use super::extract::Command;
use super::tickets::respond;
use crate::AppState;
use crate::auth::Caller;
use crate::domain::SlaRecord;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::service::TicketResponse;
use crate::sla::{Acknowledge, ComplianceQuery, ComplianceResponse};
use crate::store::Permission;

/// A ticket's SLA: what the log records and the live clocks.
#[derive(Debug, Serialize, ToSchema)]
pub struct TicketSla {
    /// As recorded by `sla.*` events.
    pub record: Option<SlaRecord>,
    /// The rule module's clocks at this instant (none when no target applies).
    #[schema(value_type = Option<Object>)]
    pub live: Option<rules_core::sla::SlaStatus>,
    /// When the scheduler looks at the ticket next, and why.
    #[schema(value_type = Option<Object>)]
    pub next_wake_up: Option<rules_core::sla::WakeUp>,
}

/// A ticket's SLA clocks.
#[utoipa::path(get, path = "/api/tickets/{id}/sla", tag = "sla",
    responses((status = 200, body = TicketSla), (status = 404, body = ErrorBody)))]
pub async fn ticket_sla(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<TicketSla>> {
    let ticket = s.visible_ticket(&caller, &id).await?;
    let (live, next_wake_up) =
        s.live_clocks(&ticket).await.map_err(|e| ApiError::Unavailable(format!("rule module unavailable: {e}")))?;
    Ok(Json(TicketSla { record: ticket.sla, live, next_wake_up }))
}

/// Acknowledge a ticket's SLA breaches (agents and above).
#[utoipa::path(post, path = "/api/tickets/{id}/sla/acknowledge", tag = "sla", request_body = Acknowledge,
    responses((status = 200, body = TicketResponse), (status = 409, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn acknowledge(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    cmd: Command<Acknowledge>,
) -> ApiResult<Response> {
    Ok(respond(s.acknowledge_breach(&caller, &cmd.ctx, &id, cmd.input).await?))
}

/// SLA compliance over `[from, to)`: met and breached per priority, in basis points. Recorded as
/// `sla.compliance_report_generated` (agents and above).
#[utoipa::path(get, path = "/api/sla/compliance", tag = "sla", params(ComplianceQuery),
    responses((status = 200, body = ComplianceResponse), (status = 422, body = ErrorBody)))]
pub async fn compliance(
    State(s): State<AppState>,
    caller: Caller,
    headers: axum::http::HeaderMap,
    query: Result<Query<ComplianceQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<ComplianceResponse>> {
    caller.require(Permission::Agent)?;
    let Query(q) = query?;
    let instant = |field: &str, v: &str| {
        chrono::DateTime::parse_from_rfc3339(v).map(|t| t.timestamp_millis()).map_err(|e| ApiError::Unprocessable {
            code: "invalid_query",
            message: format!("`{field}` is not an RFC 3339 instant: {e}"),
            details: vec![serde_json::json!({"field": field})],
        })
    };
    let (from, to) = (instant("from", &q.from)?, instant("to", &q.to)?);
    let correlation = super::extract::correlation_id(&headers);
    Ok(Json(s.compliance_report(&caller.0.id, &correlation, from, to, false, None).await?))
}
