//! `/api/tickets`: create, read, list, update, comment, assign, approve, reject, transitions,
//! history.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use rules_core::model::Status;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::extract::Command;
use crate::AppState;
use crate::auth::Caller;
use crate::domain::TicketState;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::service::{CreateTicket, Executed, TicketResponse, UpdateTicket};
use crate::store::{EventQuery, TicketFilter};

/// Turns a command's outcome into a response; a replayed one says so in a header.
pub fn respond(done: Executed) -> Response {
    let status = StatusCode::from_u16(done.status).unwrap_or(StatusCode::OK);
    // Every command that runs appends at least one event; none appended means a stored response.
    let replayed = done.events.is_empty();
    let mut response = (status, Json(done.body)).into_response();
    if replayed {
        response.headers_mut().insert("idempotent-replayed", axum::http::HeaderValue::from_static("true"));
    }
    response
}

/// File a ticket. Automation prioritizes and assigns it before the response.
#[utoipa::path(post, path = "/api/tickets", tag = "tickets", request_body = CreateTicket,
    params(("Idempotency-Key" = Option<String>, Header, description = "retry-safe key")),
    responses((status = 201, body = TicketResponse), (status = 422, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub async fn create(State(s): State<AppState>, caller: Caller, cmd: Command<CreateTicket>) -> ApiResult<Response> {
    Ok(respond(s.create_ticket(&caller, &cmd.ctx, cmd.input).await?))
}

/// A page of tickets.
#[derive(Debug, Serialize, ToSchema)]
pub struct TicketPage {
    /// Tickets, newest first.
    pub tickets: Vec<TicketState>,
    /// Pass as `cursor` for the next page; absent on the last.
    pub next_cursor: Option<String>,
}

/// List tickets (a requester sees only their own).
#[utoipa::path(get, path = "/api/tickets", tag = "tickets", params(TicketFilter),
    responses((status = 200, body = TicketPage), (status = 422, body = ErrorBody)))]
pub async fn list(
    State(s): State<AppState>,
    caller: Caller,
    filter: Result<Query<TicketFilter>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<TicketPage>> {
    let Query(filter) = filter?;
    if let Some(st) = &filter.status
        && Status::parse(st).is_none()
    {
        return Err(ApiError::unprocessable("invalid_query", format!("unknown status `{st}`")));
    }
    if let Some(p) = &filter.priority
        && rules_core::model::Priority::parse(p).is_none()
    {
        return Err(ApiError::unprocessable("invalid_query", format!("unknown priority `{p}`")));
    }
    if filter.cursor.as_ref().is_some_and(|c| c.parse::<i64>().is_err()) {
        return Err(ApiError::unprocessable("invalid_query", "malformed cursor"));
    }
    let (tickets, next_cursor) = s.store.tickets(&filter, caller.only_requester()).await?;
    Ok(Json(TicketPage { tickets, next_cursor }))
}

/// One ticket.
#[utoipa::path(get, path = "/api/tickets/{id}", tag = "tickets",
    responses((status = 200, body = TicketState), (status = 404, body = ErrorBody)))]
pub async fn get(State(s): State<AppState>, caller: Caller, Path(id): Path<String>) -> ApiResult<Json<TicketState>> {
    Ok(Json(s.visible_ticket(&caller, &id).await?))
}

/// Change fields; automation re-evaluates.
#[utoipa::path(patch, path = "/api/tickets/{id}", tag = "tickets", request_body = UpdateTicket,
    responses((status = 200, body = TicketResponse), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn update(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    cmd: Command<UpdateTicket>,
) -> ApiResult<Response> {
    Ok(respond(s.update_ticket(&caller, &cmd.ctx, &id, cmd.input).await?))
}

/// A comment.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewComment {
    /// Text.
    pub body: String,
}

/// Comment on a ticket.
#[utoipa::path(post, path = "/api/tickets/{id}/comments", tag = "tickets", request_body = NewComment,
    responses((status = 201, body = TicketResponse), (status = 404, body = ErrorBody)))]
pub async fn comment(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    cmd: Command<NewComment>,
) -> ApiResult<Response> {
    Ok(respond(s.comment(&caller, &cmd.ctx, &id, cmd.input.body).await?))
}

/// A manual assignment.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Assign {
    /// The new assignee's user id.
    pub assignee: String,
}

/// Assign a ticket to a person (agents and above).
#[utoipa::path(post, path = "/api/tickets/{id}/assign", tag = "tickets", request_body = Assign,
    responses((status = 200, body = TicketResponse), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn assign(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    cmd: Command<Assign>,
) -> ApiResult<Response> {
    Ok(respond(s.assign(&caller, &cmd.ctx, &id, cmd.input.assignee).await?))
}

/// An optional reason.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Reason {
    /// Why.
    #[serde(default)]
    pub reason: Option<String>,
}

/// Approve (managers and admins).
#[utoipa::path(post, path = "/api/tickets/{id}/approve", tag = "tickets", request_body = Reason,
    responses((status = 200, body = TicketResponse), (status = 409, body = ErrorBody)))]
pub async fn approve(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    cmd: Command<Reason>,
) -> ApiResult<Response> {
    Ok(respond(s.transition(&caller, &cmd.ctx, &id, Status::Approved, cmd.input.reason).await?))
}

/// Reject (managers and admins).
#[utoipa::path(post, path = "/api/tickets/{id}/reject", tag = "tickets", request_body = Reason,
    responses((status = 200, body = TicketResponse), (status = 409, body = ErrorBody)))]
pub async fn reject(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    cmd: Command<Reason>,
) -> ApiResult<Response> {
    Ok(respond(s.transition(&caller, &cmd.ctx, &id, Status::Rejected, cmd.input.reason).await?))
}

/// A status transition.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Transition {
    /// Target status.
    #[schema(value_type = String)]
    pub to: Status,
    /// Why.
    #[serde(default)]
    pub reason: Option<String>,
}

/// Move a ticket through the state machine (agents and above; approval needs a manager).
#[utoipa::path(post, path = "/api/tickets/{id}/transition", tag = "tickets", request_body = Transition,
    responses((status = 200, body = TicketResponse), (status = 409, body = ErrorBody)))]
pub async fn transition(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    cmd: Command<Transition>,
) -> ApiResult<Response> {
    Ok(respond(s.transition(&caller, &cmd.ctx, &id, cmd.input.to, cmd.input.reason).await?))
}

/// The ticket's audit trail: its stream as CloudEvents, oldest first.
#[utoipa::path(get, path = "/api/tickets/{id}/history", tag = "tickets",
    responses((status = 200, body = Vec<Object>), (status = 404, body = ErrorBody)))]
pub async fn history(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Vec<serde_json::Value>>> {
    s.visible_ticket(&caller, &id).await?;
    let events = s.store.events(&EventQuery { stream: Some(id), limit: 10_000, ..Default::default() }).await?;
    Ok(Json(events.iter().map(|e| e.to_cloud_event()).collect()))
}
