//! The one error type of the HTTP surface. Every error answers a JSON body with a stable `code`
//! and a human `message`; 500s are logged with their detail and answered without it.

use axum::Json;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

/// The JSON body of every error response.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// Stable, machine-readable code (`illegal_transition`, `not_found`, …).
    pub code: &'static str,
    /// What went wrong, for people.
    pub message: String,
    /// Per-field problems, when the request body was at fault.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[schema(value_type = Vec<Object>)]
    pub details: Vec<serde_json::Value>,
}

/// Every way an API request can fail.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// No credentials, or credentials that are not valid.
    #[error("{0}")]
    Unauthenticated(&'static str),
    /// The caller is known but may not do this.
    #[error("{0}")]
    Forbidden(String),
    /// Missing, or not visible to the caller (the two are indistinguishable).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The ticket's state machine does not allow this.
    #[error("{0}")]
    IllegalTransition(String),
    /// A write lost an optimistic-concurrency race too many times.
    #[error("the ticket changed concurrently; retry")]
    Conflict,
    /// The body was well-formed JSON but asked for something invalid.
    #[error("{message}")]
    Unprocessable {
        /// Stable code.
        code: &'static str,
        /// For people.
        message: String,
        /// Per-field problems.
        details: Vec<serde_json::Value>,
    },
    /// The body could not be read as JSON of the expected shape.
    #[error("{0}")]
    BadRequest(String),
    /// The body is larger than the limit.
    #[error("request body is larger than {0} bytes")]
    TooLarge(usize),
    /// A dependency (database, Redis, rule module) is unavailable.
    #[error("{0}")]
    Unavailable(String),
    /// Anything else: logged, answered as an opaque 500.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl ApiError {
    /// A 422 with a code and message.
    pub fn unprocessable(code: &'static str, message: impl Into<String>) -> Self {
        Self::Unprocessable { code, message: message.into(), details: Vec::new() }
    }

    fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            Self::Unauthenticated(_) => (StatusCode::UNAUTHORIZED, "unauthenticated"),
            Self::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            Self::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            Self::IllegalTransition(_) => (StatusCode::CONFLICT, "illegal_transition"),
            Self::Conflict => (StatusCode::CONFLICT, "concurrent_modification"),
            Self::Unprocessable { code, .. } => (StatusCode::UNPROCESSABLE_ENTITY, code),
            Self::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request"),
            Self::TooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
            Self::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            Self::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        let (message, details) = match self {
            Self::Internal(e) => {
                tracing::error!(error = format!("{e:#}"), "internal error");
                ("internal error; see the server log".to_owned(), Vec::new())
            }
            Self::Unavailable(m) => {
                tracing::warn!(reason = m, "dependency unavailable");
                (m, Vec::new())
            }
            Self::Unprocessable { message, details, .. } => (message, details),
            other => (other.to_string(), Vec::new()),
        };
        (status, Json(ErrorBody { code, message, details })).into_response()
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        match rejection {
            // Valid JSON of the wrong shape (unknown field, wrong type): the body is at fault.
            JsonRejection::JsonDataError(e) => Self::unprocessable("invalid_body", e.body_text()),
            JsonRejection::BytesRejection(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                Self::TooLarge(crate::MAX_BODY_BYTES)
            }
            JsonRejection::MissingJsonContentType(_) => {
                Self::BadRequest("expected `content-type: application/json`".to_owned())
            }
            other => Self::BadRequest(other.body_text()),
        }
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        Self::unprocessable("invalid_query", rejection.body_text())
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        Self::Internal(anyhow::Error::new(e).context("database"))
    }
}

/// Handlers' result type.
pub type ApiResult<T> = Result<T, ApiError>;
