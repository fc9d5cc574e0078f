//! What the benchmarks share: a server configuration on the embedded default, and serving it.

#![allow(dead_code, reason = "each bench uses part of it")]

use std::path::Path;
use std::sync::Arc;

use host_server::clock::SystemClock;
use host_server::{AppState, Config, app};

/// The embedded default (or Redis under `redis_prefix`), demo users, no scheduler loop.
pub fn config(db: &Path, redis_prefix: Option<&str>) -> Config {
    Config {
        listen: "127.0.0.1:0".parse().expect("an address"),
        database: db.to_owned(),
        redis_url: redis_prefix.map(|_| "redis://127.0.0.1:6379".to_owned()),
        redis_prefix: redis_prefix.unwrap_or("unused:").to_owned(),
        rule_module: Path::new(env!("CARGO_MANIFEST_DIR")).join("../build/nixflow_rules.wasm"),
        web_dir: None,
        demo: true,
        no_scheduler: true,
        daily_report: false,
        scheduler_interval_ms: 250,
        // NIXFLOW_MODULE_LANES compares lane counts in the same build (BENCHMARKS.md).
        module_lanes: std::env::var("NIXFLOW_MODULE_LANES").ok().and_then(|v| v.parse().ok()),
    }
}

/// Serves the app on a loopback port; its base URL.
pub async fn serve(state: AppState) -> anyhow::Result<String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    tokio::spawn(axum::serve(listener, app(state)).into_future());
    Ok(base)
}

/// A served app on a fresh embedded database: the directory (keep it alive), the state, the base
/// URL.
pub async fn start() -> anyhow::Result<(tempfile::TempDir, AppState, String)> {
    let dir = tempfile::tempdir()?;
    let state = AppState::build(&config(&dir.path().join("db.sqlite"), None), Arc::new(SystemClock)).await?;
    let base = serve(state.clone()).await?;
    Ok((dir, state, base))
}
