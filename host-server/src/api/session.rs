//! `/api/auth` and `/api/users`.

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::extract::Command;
use crate::AppState;
use crate::auth::{self, Caller, SESSION_MILLIS};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::store::UserRecord;

/// Credentials.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Login {
    /// Login name.
    pub username: String,
    /// Password.
    pub password: String,
}

/// A session.
#[derive(Debug, Serialize, ToSchema)]
pub struct Session {
    /// Bearer token: send as `Authorization: Bearer <token>`.
    pub token: String,
    /// Expiry (epoch ms).
    pub expires_at: i64,
    /// Who.
    pub user: UserRecord,
}

/// Log in with username and password.
#[utoipa::path(post, path = "/api/auth/login", tag = "auth", request_body = Login,
    responses((status = 200, body = Session), (status = 401, body = ErrorBody)))]
pub async fn login(State(s): State<AppState>, cmd: Command<Login>) -> ApiResult<Json<Session>> {
    let Login { username, password } = cmd.input;
    let users = s.store.users().await?;
    let user = users.into_iter().find(|u| u.username == username);
    // Verify against a dummy hash when the user is unknown, so timing does not tell.
    let phc = user.as_ref().map_or(s.dummy_hash.as_str(), |u| u.password_hash.as_str()).to_owned();
    let ok = tokio::task::spawn_blocking(move || auth::verify_password(&password, &phc))
        .await
        .map_err(|e| ApiError::Internal(e.into()))?;
    let user = user.filter(|_| ok).ok_or(ApiError::Unauthenticated("wrong username or password"))?;
    let (token, hash) = auth::new_token();
    let expires_at = s.clock.now() + SESSION_MILLIS;
    s.store.put_session(&hash, &user.id, expires_at).await?;
    Ok(Json(Session { token, expires_at, user }))
}

/// End the session.
#[utoipa::path(post, path = "/api/auth/logout", tag = "auth", responses((status = 204)))]
pub async fn logout(
    State(s): State<AppState>,
    _caller: Caller,
    headers: HeaderMap,
) -> ApiResult<axum::http::StatusCode> {
    if let Some(token) = auth::bearer(&headers) {
        s.store.delete_session(&auth::token_hash(token)).await?;
    }
    Ok(axum::http::StatusCode::NO_CONTENT)
}

/// The caller.
#[utoipa::path(get, path = "/api/auth/me", tag = "auth", responses((status = 200, body = UserRecord), (status = 401, body = ErrorBody)))]
pub async fn me(caller: Caller) -> Json<UserRecord> {
    Json(caller.0)
}
