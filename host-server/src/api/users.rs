//! `/api/users`: list, create, change.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;

use super::extract::Command;
use crate::AppState;
use crate::auth::Caller;
use crate::error::{ApiResult, ErrorBody};
use crate::store::{Permission, UserRecord};
use crate::users::{NewUser, UserChanges};

/// Every user (agents and above): for assignment pickers.
#[utoipa::path(get, path = "/api/users", tag = "users", responses((status = 200, body = Vec<UserRecord>), (status = 403, body = ErrorBody)))]
pub async fn list(State(s): State<AppState>, caller: Caller) -> ApiResult<Json<Vec<UserRecord>>> {
    caller.require(Permission::Agent)?;
    Ok(Json(s.store.users().await?))
}

/// Create an account (admins).
#[utoipa::path(post, path = "/api/users", tag = "users", request_body = NewUser,
    responses((status = 201, body = UserRecord), (status = 422, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn create(
    State(s): State<AppState>,
    caller: Caller,
    cmd: Command<NewUser>,
) -> ApiResult<(StatusCode, Json<UserRecord>)> {
    Ok((StatusCode::CREATED, Json(s.create_user(&caller, &cmd.ctx, cmd.input).await?)))
}

/// Change an account: admins any field here, managers `available` and `max_open_tickets`.
#[utoipa::path(patch, path = "/api/users/{id}", tag = "users", request_body = UserChanges,
    responses((status = 200, body = UserRecord), (status = 404, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn update(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    cmd: Command<UserChanges>,
) -> ApiResult<Json<UserRecord>> {
    Ok(Json(s.update_user(&caller, &cmd.ctx, &id, cmd.input).await?))
}
