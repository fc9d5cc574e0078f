//! `/api/rules/modules`: upload, list, serve, activate and roll back rule modules.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::registry::{MAX_MODULE_BYTES, ModuleList};
use crate::service::RequestContext;
use crate::store::ModuleRecord;

fn context(headers: &HeaderMap) -> RequestContext {
    RequestContext { correlation_id: super::extract::correlation_id(headers), idempotency: None }
}

/// Upload a rule module (`application/wasm`, ≤ 1 MiB; admins). It is validated and run against
/// the conformance corpus before it is stored; it is not activated.
#[utoipa::path(post, path = "/api/rules/modules", tag = "modules",
    request_body(content = Vec<u8>, content_type = "application/wasm"),
    responses((status = 201, body = ModuleRecord), (status = 200, body = ModuleRecord, description = "already uploaded"),
        (status = 422, body = ErrorBody, description = "rejected: `details[0].check` names the check"),
        (status = 413, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn upload(
    State(s): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Response> {
    let bytes = body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::TooLarge(MAX_MODULE_BYTES)
        } else {
            ApiError::BadRequest(e.body_text())
        }
    })?;
    let (status, record) = s.upload_module(&caller, &context(&headers), bytes.to_vec()).await?;
    Ok((StatusCode::from_u16(status).unwrap_or(StatusCode::OK), Json(record)).into_response())
}

/// The uploaded modules and which is active (managers and admins).
#[utoipa::path(get, path = "/api/rules/modules", tag = "modules",
    responses((status = 200, body = ModuleList), (status = 403, body = ErrorBody)))]
pub async fn list(State(s): State<AppState>, caller: Caller) -> ApiResult<Json<ModuleList>> {
    Ok(Json(s.list_modules(&caller).await?))
}

/// A module's bytes, `{sha256}.wasm`: immutable, so cacheable forever. The browser runs the
/// same bytes the server decides with.
#[utoipa::path(get, path = "/api/rules/modules/{file}", tag = "modules",
    params(("file" = String, Path, description = "`{sha256}.wasm`")),
    responses((status = 200, content_type = "application/wasm", body = Vec<u8>), (status = 404, body = ErrorBody)))]
pub async fn bytes(State(s): State<AppState>, _caller: Caller, Path(file): Path<String>) -> ApiResult<Response> {
    let sha256 = file.strip_suffix(".wasm").ok_or(ApiError::NotFound("module"))?;
    let (_, bytes) = s.store.module(sha256).await?.ok_or(ApiError::NotFound("module"))?;
    let mut response = bytes.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/wasm"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("private, max-age=31536000, immutable"));
    if let Ok(etag) = HeaderValue::from_str(&format!("\"{sha256}\"")) {
        headers.insert(header::ETAG, etag);
    }
    Ok(response)
}

/// Activate an uploaded module (admins). Calls in flight finish on the module they started with.
#[utoipa::path(post, path = "/api/rules/modules/{sha256}/activate", tag = "modules",
    responses((status = 200, body = Object), (status = 404, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn activate(
    State(s): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(sha256): Path<String>,
) -> ApiResult<Json<serde_json::Value>> {
    Ok(Json(s.activate_module(&caller, &context(&headers), Some(&sha256)).await?))
}

/// Roll back to the module active before the current one (admins).
#[utoipa::path(post, path = "/api/rules/modules/rollback", tag = "modules",
    responses((status = 200, body = Object), (status = 409, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn rollback(
    State(s): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
) -> ApiResult<Json<serde_json::Value>> {
    Ok(Json(s.activate_module(&caller, &context(&headers), None).await?))
}
