//! NixFlow's authoritative service: tickets, the durable event log, automation through the
//! rule module hosted in Wasmtime, round-robin counters, and the live event stream.
//!
//! [`app`] builds the router from an [`AppState`]; [`AppState::build`] wires the state from a
//! [`Config`]. See ARCHITECTURE.md for the map.

pub mod api;
pub mod auth;
pub mod clock;
pub mod counters;
pub mod demo;
pub mod domain;
pub mod due;
pub mod error;
pub mod fanout;
pub mod module;
pub mod registry;
pub mod rules;
pub mod scheduler;
pub mod service;
pub mod sla;
pub mod store;
pub mod users;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use anyhow::Context;
use arc_swap::ArcSwap;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

pub use api::app;

use crate::clock::Clock;
use crate::counters::Counters;
use crate::domain::{EventPayload, RULESET_STREAM};
use crate::due::DueIndex;
use crate::fanout::Fanout;
use crate::rules::{ActiveRuleSet, RulesHost};
use crate::scheduler::SchedulerConfig;
use crate::store::{Commit, EventQuery, EventStore, NewEvent};

/// JSON bodies larger than this are refused with 413.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// How the server is configured: flags, or the environment.
#[derive(Debug, Clone, clap::Parser)]
#[command(name = "host-server", about = "NixFlow automation: the authoritative ticket service")]
pub struct Config {
    /// Address to listen on.
    #[arg(long, env = "NIXFLOW_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// SQLite database file (created if missing).
    #[arg(long, env = "NIXFLOW_DATABASE", default_value = "data/nixflow.db")]
    pub database: PathBuf,
    /// Redis for round-robin counters and cross-instance fan-out; in-process without it.
    #[arg(long, env = "REDIS_URL")]
    pub redis_url: Option<String>,
    /// Prefix of every Redis key and channel.
    #[arg(long, env = "NIXFLOW_REDIS_PREFIX", default_value = "nixflow:")]
    pub redis_prefix: String,
    /// The host-abi rule module.
    #[arg(long, env = "NIXFLOW_RULE_MODULE", default_value = "build/nixflow_rules.wasm")]
    pub rule_module: PathBuf,
    /// A directory of static files to serve (the web app's build).
    #[arg(long, env = "NIXFLOW_WEB_DIR")]
    pub web_dir: Option<PathBuf>,
    /// Create demo users (one per role, with teams) when the database has none.
    #[arg(long, env = "NIXFLOW_DEMO")]
    pub demo: bool,
    /// Do not run the escalation and SLA scheduler in this instance.
    #[arg(long, env = "NIXFLOW_NO_SCHEDULER")]
    pub no_scheduler: bool,
    /// Generate the previous day's SLA compliance report once a day (on one instance).
    #[arg(long, env = "NIXFLOW_DAILY_REPORT")]
    pub daily_report: bool,
    /// How often the scheduler looks for due tickets, in milliseconds.
    #[arg(long, env = "NIXFLOW_SCHEDULER_INTERVAL_MS", default_value_t = 250)]
    pub scheduler_interval_ms: u64,
    /// Rule-module calls that may run long (past one 10 ms epoch tick) at once; by default one
    /// fewer than the cores (at least one), so runaway modules can never occupy every core. One
    /// more call may run beside them until its first tick, so short calls use every core.
    #[arg(long, env = "NIXFLOW_MODULE_LANES")]
    pub module_lanes: Option<usize>,
}

/// Everything a request handler reaches: the outside world behind traits.
#[derive(Clone)]
pub struct AppState {
    /// The event store and projections.
    pub store: Arc<dyn EventStore>,
    /// Round-robin counters and ticket-number sequences.
    pub counters: Arc<dyn Counters>,
    /// Log-head announcements.
    pub fanout: Arc<Fanout>,
    /// The rule module host.
    pub rules: Arc<RulesHost>,
    /// The active rule set.
    pub rule_set: Arc<ArcSwap<ActiveRuleSet>>,
    /// Now.
    pub clock: Arc<dyn Clock>,
    /// Which tickets are due, and when.
    pub due: Arc<dyn DueIndex>,
    /// How the scheduler claims.
    pub scheduler: SchedulerConfig,
    /// Prometheus rendering.
    pub metrics: PrometheusHandle,
    /// Static files, if any.
    pub web_dir: Option<PathBuf>,
    /// An argon2 hash to verify against when the user is unknown (constant-time login).
    pub dummy_hash: Arc<String>,
}

/// The process-wide Prometheus recorder (installed once; every state shares it).
pub fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets(&[0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0])
                .and_then(|b| {
                    b.set_buckets_for_metric(
                        Matcher::Full("nixflow_rule_evaluation_fuel".into()),
                        &[1e4, 1e5, 3e5, 1e6, 3e6, 1e7, 1e8, 1e9],
                    )
                });
            let recorder = match builder {
                Ok(b) => b.build_recorder(),
                Err(_) => PrometheusBuilder::new().build_recorder(),
            };
            let handle = recorder.handle();
            let _ = metrics::set_global_recorder(recorder);
            handle
        })
        .clone()
}

impl AppState {
    /// Wires a state from a configuration: opens the store, loads the module, connects Redis
    /// when configured, publishes the default rule set on first start.
    pub async fn build(config: &Config, clock: Arc<dyn Clock>) -> anyhow::Result<Self> {
        let store: Arc<dyn EventStore> = Arc::new(store::sqlite::SqliteStore::open(&config.database).await?);
        let bytes = std::fs::read(&config.rule_module).with_context(|| {
            format!("reading rule module {} (build it with `./x.sh build`)", config.rule_module.display())
        })?;
        let lanes = config.module_lanes.unwrap_or_else(rules::default_lanes);
        let rules = Arc::new(RulesHost::new(&bytes, module::Limits::default(), lanes)?);
        let head = store.head().await?;
        let scheduler = SchedulerConfig::default();
        let (counters, fanout, due): (Arc<dyn Counters>, Fanout, Arc<dyn DueIndex>) = match &config.redis_url {
            Some(url) => {
                let client = redis::Client::open(url.as_str()).context("REDIS_URL")?;
                (
                    Arc::new(counters::RedisCounters::connect(&client, &config.redis_prefix).await?),
                    Fanout::with_redis(&client, &config.redis_prefix, head).await?,
                    Arc::new(
                        due::RedisDue::connect(&client, &config.redis_prefix, Arc::clone(&store), scheduler.lease_ms)
                            .await?,
                    ),
                )
            }
            None => (
                Arc::new(counters::MemoryCounters::default()),
                Fanout::local(head),
                Arc::new(due::StoreDue(Arc::clone(&store))),
            ),
        };
        let placeholder = ActiveRuleSet { version: 0, text: serde_json::value::RawValue::from_string("{}".into())? };
        let state = Self {
            store,
            counters,
            fanout: Arc::new(fanout),
            rules,
            rule_set: Arc::new(ArcSwap::from_pointee(placeholder)),
            clock,
            due,
            scheduler,
            metrics: metrics_handle(),
            web_dir: config.web_dir.clone(),
            dummy_hash: Arc::new(tokio::task::spawn_blocking(|| auth::hash_password("not a password")).await??),
        };
        state.load_rule_set().await?;
        state.bootstrap_modules(bytes).await?;
        if config.demo {
            demo::seed(&state).await?;
        }
        state.follow_rule_sets(head);
        if !config.no_scheduler {
            state.spawn_scheduler(
                std::time::Duration::from_millis(config.scheduler_interval_ms.max(10)),
                config.daily_report,
            );
        }
        Ok(state)
    }

    /// Loads the newest published rule set, publishing the default one on an empty log.
    async fn load_rule_set(&self) -> anyhow::Result<()> {
        if let Some((version, rule_set)) = self.store.active_rule_set().await? {
            return self.set_rule_set(version, &rule_set);
        }
        let mut rule_set: serde_json::Value = serde_json::from_str(rules_core::ruleset::DEFAULT_RULE_SET_JSON)?;
        rule_set["version"] = 1.into();
        self.validate_rule_set(&rule_set).await.map_err(|e| anyhow::anyhow!("the default rule set: {e}"))?;
        let event = NewEvent {
            id: uuid::Uuid::now_v7().to_string(),
            payload: EventPayload::RuleSetPublished {
                version: 1,
                rule_set: rule_set.clone(),
                module_sha256: self.rules.active().sha256().to_owned(),
            },
            time: self.clock.now(),
            actor: "system".into(),
            correlation_id: "bootstrap".into(),
            causation_id: None,
        };
        let commit = Commit {
            stream: RULESET_STREAM.into(),
            expected_version: 0,
            events: vec![event],
            rule_set: Some((1, rule_set)),
            ..Default::default()
        };
        match self.append(commit).await {
            // Another instance bootstrapped first: take theirs.
            Ok(_) | Err(store::CommitError::VersionConflict(_)) => {}
            Err(e) => return Err(e.into()),
        }
        let (version, rule_set) =
            self.store.active_rule_set().await?.context("no rule set after publishing the default")?;
        self.set_rule_set(version, &rule_set)
    }

    /// Follows `ruleset.published`, `rules.module_uploaded` and `rules.module_activated` in the
    /// log from `after` (what came before is already loaded), so what another instance publishes
    /// or activates becomes active here too, and an uploaded module is compiled before anyone
    /// activates it.
    fn follow_rule_sets(&self, mut after: i64) {
        let state = self.clone();
        // Nudged by commits that change what is active, not by every ticket's.
        let mut head = self.fanout.subscribe_rules();
        tokio::spawn(async move {
            loop {
                head.borrow_and_update();
                let query = EventQuery {
                    after,
                    limit: 1000,
                    types: EventPayload::ACTIVATING_KINDS.map(String::from).to_vec(),
                    ..Default::default()
                };
                match state.store.events(&query).await {
                    Ok(events) => {
                        let mut activated = None;
                        for e in &events {
                            match &e.payload {
                                EventPayload::RuleSetPublished { version, rule_set, .. } => {
                                    if let Err(err) = state.set_rule_set(*version, rule_set) {
                                        tracing::error!(
                                            error = format!("{err:#}"),
                                            "cannot activate rule set {version}"
                                        );
                                    }
                                }
                                // Compiled now, so that activating it later swaps at once.
                                EventPayload::ModuleUploaded { module } => state.precompile_module(&module.sha256),
                                // Only the last activation of a batch matters.
                                EventPayload::ModuleActivated { sha256, .. } => activated = Some(sha256.clone()),
                                _ => {}
                            }
                            after = e.position;
                        }
                        if let Some(sha256) = activated
                            && let Err(err) = state.follow_activation(&sha256).await
                        {
                            tracing::error!(error = format!("{err:#}"), "cannot activate rule module {sha256}");
                        }
                    }
                    Err(e) => tracing::warn!(error = format!("{e:#}"), "following rule sets and modules"),
                }
                tokio::select! {
                    changed = head.changed() => if changed.is_err() { return },
                    () = tokio::time::sleep(std::time::Duration::from_secs(5)) => {}
                }
            }
        });
    }
}
