//! `host-server`: parses the configuration, wires the state, serves until Ctrl-C or SIGTERM.

use std::future::IntoFuture;
use std::sync::Arc;

use clap::Parser;
use host_server::{AppState, Config, app, clock::SystemClock};
use tracing_subscriber::EnvFilter;

/// mimalloc, not the system's malloc: a request allocates a great deal (JSON in and out, rule
/// module answers, events), and with glibc's malloc an evaluation spent a fifth of its
/// instructions allocating and freeing (BENCHMARKS.md, "Stop 28").
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let filter = EnvFilter::try_from_env("NIXFLOW_LOG").unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn"));
    if std::env::var("NIXFLOW_LOG_FORMAT").is_ok_and(|f| f == "json") {
        tracing_subscriber::fmt().json().with_current_span(true).with_env_filter(filter).init();
    } else {
        tracing_subscriber::fmt().with_env_filter(filter).init();
    }
    let config = Config::parse();
    let state = AppState::build(&config, Arc::new(SystemClock)).await?;
    let module = state.rules.active();
    let listener = tokio::net::TcpListener::bind(config.listen).await?;
    let address = listener.local_addr()?;
    tracing::info!(
        %address,
        database = %config.database.display(),
        counters = state.counters.kind(),
        module_sha256 = module.sha256(),
        rule_set_version = state.rule_set.load().version,
        "NixFlow is serving"
    );
    println!("\nNixFlow is running at http://{address}/");
    println!("  API description: http://{address}/api/openapi.json   health: http://{address}/readyz");
    if config.demo {
        println!(
            "  demo users (password `{}`): rita (requester), alice and bob (Engineer), hana and hugo (Hardware Engineer), maria (manager), dan (director), ada (admin)",
            host_server::demo::DEMO_PASSWORD
        );
    }
    // On a signal: end the live streams (they would hold a graceful shutdown open forever), let
    // requests in flight finish, and give up on stragglers after a grace period.
    let fanout = state.fanout.clone();
    let (signalled, mut on_signal) = tokio::sync::watch::channel(false);
    let graceful = async move {
        shutdown().await;
        tracing::info!("shutting down: ending live streams, finishing requests in flight");
        fanout.close();
        let _ = signalled.send(true);
    };
    let serve = axum::serve(listener, app(state)).with_graceful_shutdown(graceful).into_future();
    let deadline = async move {
        let _ = on_signal.wait_for(|s| *s).await;
        tokio::time::sleep(SHUTDOWN_GRACE).await;
    };
    tokio::select! {
        served = serve => served?,
        () = deadline => tracing::warn!(grace = ?SHUTDOWN_GRACE, "connections still open after the grace period; exiting"),
    }
    Ok(())
}

/// How long a shutdown waits for requests in flight.
const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(10);

async fn shutdown() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { () = ctrl_c => {}, () = term => {} }
}
