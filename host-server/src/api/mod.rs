//! The HTTP surface: the router, its middleware, the operations endpoints and the OpenAPI
//! document, which is generated from the same route table that serves requests.

pub mod events;
pub mod extract;
pub mod modules;
pub mod rules;
pub mod session;
pub mod sla;
pub mod tickets;
pub mod users;

use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderName, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use tower_http::request_id::{MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer};
use tower_http::trace::TraceLayer;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::error::ApiError;

#[derive(OpenApi)]
#[openapi(
    info(title = "NixFlow automation", description = "Tickets, their event log, and rule-driven automation."),
    components(schemas(crate::error::ErrorBody)),
    modifiers(&BearerAuth)
)]
struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        openapi.security = Some(vec![SecurityRequirement::new("bearer", Vec::<String>::new())]);
    }
}

/// The API routes and their OpenAPI document, from one table.
pub fn routes() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(session::login))
        .routes(routes!(session::logout))
        .routes(routes!(session::me))
        .routes(routes!(users::list, users::create))
        .routes(routes!(users::update))
        .routes(routes!(tickets::create, tickets::list))
        .routes(routes!(tickets::get, tickets::update))
        .routes(routes!(tickets::comment))
        .routes(routes!(tickets::assign))
        .routes(routes!(tickets::approve))
        .routes(routes!(tickets::reject))
        .routes(routes!(tickets::transition))
        .routes(routes!(tickets::history))
        .routes(routes!(sla::ticket_sla))
        .routes(routes!(sla::acknowledge))
        .routes(routes!(sla::compliance))
        .routes(routes!(rules::active))
        .routes(routes!(rules::validate))
        .routes(routes!(rules::publish))
        .routes(routes!(rules::preview))
        .routes(routes!(rules::preview_context))
        // Module uploads may be up to 1 MiB (every other body: 64 KiB).
        .merge(
            OpenApiRouter::new()
                .routes(routes!(modules::upload, modules::list))
                .layer(axum::extract::DefaultBodyLimit::max(crate::registry::MAX_MODULE_BYTES + 1)),
        )
        .routes(routes!(modules::bytes))
        .routes(routes!(modules::activate))
        .routes(routes!(modules::rollback))
        .routes(routes!(events::list))
        .routes(routes!(events::stream))
        .routes(routes!(healthz))
        .routes(routes!(readyz))
        .split_for_parts()
}

/// The whole application.
pub fn app(state: AppState) -> Router {
    let (api, openapi) = routes();
    let openapi = std::sync::Arc::new(openapi);
    let mut router = api
        .route("/api/openapi.json", axum::routing::get(move || async move { Json(openapi.as_ref().clone()) }))
        .route("/metrics", axum::routing::get(metrics))
        .route("/api/{*rest}", axum::routing::any(|| async { ApiError::NotFound("route") }))
        .layer(axum::middleware::from_fn(record_metrics))
        .layer(axum::extract::DefaultBodyLimit::max(crate::MAX_BODY_BYTES));
    if let Some(dir) = state.web_dir.clone() {
        let index = dir.join("index.html");
        router = router.fallback_service(
            tower_http::services::ServeDir::new(&dir).fallback(tower_http::services::ServeFile::new(index)),
        );
    }
    let request_id = HeaderName::from_static(extract::REQUEST_ID_HEADER);
    router
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, Duration::from_secs(30)))
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(TraceLayer::new_for_http().make_span_with(|req: &Request| {
            let id = req.headers().get(extract::REQUEST_ID_HEADER).and_then(|v| v.to_str().ok()).unwrap_or("-");
            let correlation =
                req.headers().get(extract::CORRELATION_HEADER).and_then(|v| v.to_str().ok()).unwrap_or(id);
            tracing::info_span!("request", method = %req.method(), uri = %req.uri().path(), request_id = id, correlation_id = correlation)
        }))
        .layer(SetRequestIdLayer::new(request_id, MakeRequestUuidV7))
        .with_state(state)
}

/// Request ids (and so the correlation ids of the events a request appends, unless the caller
/// sent its own) are UUID v7: time-ordered, so the log's correlation index grows at its end like
/// the log itself. Random v4 ids landed on a random leaf of that index with every commit, and
/// each such leaf is a whole page more written to the WAL.
#[derive(Clone, Copy)]
struct MakeRequestUuidV7;

impl MakeRequestId for MakeRequestUuidV7 {
    fn make_request_id<B>(&mut self, _: &axum::http::Request<B>) -> Option<RequestId> {
        axum::http::HeaderValue::from_str(&uuid::Uuid::now_v7().to_string()).ok().map(RequestId::new)
    }
}

async fn record_metrics(req: Request, next: Next) -> Response {
    let path = req.extensions().get::<MatchedPath>().map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let method = req.method().to_string();
    let started = Instant::now();
    let response = next.run(req).await;
    let status = response.status().as_u16().to_string();
    metrics::histogram!("nixflow_http_request_duration_seconds", "method" => method, "path" => path, "status" => status)
        .record(started.elapsed().as_secs_f64());
    response
}

/// Liveness: the process answers.
#[utoipa::path(get, path = "/healthz", tag = "operations", security(), responses((status = 200, description = "alive")))]
pub async fn healthz() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "ok" }))
}

/// Readiness: database, Redis (when configured) and the rule module.
#[utoipa::path(get, path = "/readyz", tag = "operations", security(),
    responses((status = 200, description = "ready"), (status = 503, description = "not ready")))]
pub async fn readyz(State(s): State<AppState>) -> Response {
    let database = s.store.ping().await.map_err(|e| format!("{e:#}"));
    let counters = s.counters.ping().await.map_err(|e| format!("{e:#}"));
    let module = s.rules.active();
    let ok = database.is_ok() && counters.is_ok();
    let show = |r: &Result<(), String>| match r {
        Ok(()) => serde_json::json!("ok"),
        Err(e) => serde_json::json!({ "error": e }),
    };
    let body = serde_json::json!({
        "status": if ok { "ready" } else { "not_ready" },
        "database": show(&database),
        "counters": { "kind": s.counters.kind(), "status": show(&counters) },
        "rule_module": { "sha256": module.sha256(), "abi_version": module.abi_version() },
        "rule_set_version": s.rule_set.load().version,
    });
    let status = if ok { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, Json(body)).into_response()
}

async fn metrics(State(s): State<AppState>) -> Response {
    metrics::gauge!("nixflow_sse_subscribers_connected").set(s.fanout.subscribers() as f64);
    ([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4")], s.metrics.render()).into_response()
}
