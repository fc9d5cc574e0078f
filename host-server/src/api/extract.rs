//! Request extractors: a JSON command body with its idempotency key and correlation id.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use serde::de::DeserializeOwned;

use crate::AppState;
use crate::auth::sha256_hex;
use crate::error::ApiError;
use crate::service::RequestContext;

/// The header that carries a client's correlation id.
pub const CORRELATION_HEADER: &str = "x-correlation-id";
/// The request id header set by the server.
pub const REQUEST_ID_HEADER: &str = "x-request-id";
/// `Idempotency-Key`.
pub const IDEMPOTENCY_HEADER: &str = "idempotency-key";

/// A command: its parsed JSON body and its [`RequestContext`].
pub struct Command<T> {
    /// The body.
    pub input: T,
    /// Correlation id and idempotency key.
    pub ctx: RequestContext,
}

/// The client's correlation id, else the request id, else a new one.
pub fn correlation_id(headers: &axum::http::HeaderMap) -> String {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
    header(CORRELATION_HEADER)
        .filter(|c| !c.is_empty() && c.len() <= 128)
        .or_else(|| header(REQUEST_ID_HEADER))
        .unwrap_or_else(|| uuid::Uuid::now_v7().to_string())
}

/// Builds the context from headers; `body` is hashed into the idempotency record.
pub fn context(parts: &axum::http::request::Parts, body: &[u8]) -> Result<RequestContext, ApiError> {
    let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let correlation_id = correlation_id(&parts.headers);
    let idempotency = match header(IDEMPOTENCY_HEADER) {
        Some(key) if key.is_empty() || key.len() > 255 => {
            return Err(ApiError::unprocessable(
                "invalid_idempotency_key",
                "`Idempotency-Key` must be 1–255 characters",
            ));
        }
        Some(key) => {
            let mut material = Vec::with_capacity(body.len() + 64);
            material.extend_from_slice(parts.method.as_str().as_bytes());
            material.push(b' ');
            material.extend_from_slice(parts.uri.path().as_bytes());
            material.push(b'\n');
            material.extend_from_slice(body);
            Some((key, sha256_hex(&material)))
        }
        None => None,
    };
    Ok(RequestContext { correlation_id, idempotency })
}

/// Parses a JSON body: syntax errors are 400, well-formed JSON of the wrong shape is 422.
pub fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| match e.classify() {
        serde_json::error::Category::Data => ApiError::unprocessable("invalid_body", e.to_string()),
        _ => ApiError::BadRequest(format!("the body is not valid JSON: {e}")),
    })
}

impl<T: DeserializeOwned> FromRequest<AppState> for Command<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let (parts, body) = req.into_parts();
        if let Some(ct) = parts.headers.get(axum::http::header::CONTENT_TYPE)
            && !ct.to_str().unwrap_or("").starts_with("application/json")
        {
            return Err(ApiError::BadRequest("expected `content-type: application/json`".into()));
        }
        let bytes = Bytes::from_request(Request::from_parts(parts.clone(), body), state).await.map_err(|e| {
            if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::TooLarge(crate::MAX_BODY_BYTES)
            } else {
                ApiError::BadRequest(e.body_text())
            }
        })?;
        let ctx = context(&parts, &bytes)?;
        Ok(Self { input: parse(&bytes)?, ctx })
    }
}
