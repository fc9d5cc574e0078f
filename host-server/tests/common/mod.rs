//! The test harness shared by the integration tests: a server on a real socket, with a real
//! SQLite file, the real rule module, and optionally the real Redis under a test's own prefix.

#![allow(dead_code, reason = "each test binary uses part of the harness")]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use host_server::clock::{Clock, SystemClock};
use host_server::{AppState, Config, app};
use reqwest::StatusCode;
use serde_json::{Value, json};

pub const REDIS: &str = "redis://127.0.0.1:6379";

pub fn module_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../build/nixflow_rules.wasm")
}

pub struct Server {
    pub base: String,
    pub state: AppState,
    pub http: reqwest::Client,
}

pub async fn start(db: &Path, redis_prefix: Option<&str>) -> Server {
    start_with(db, redis_prefix, Arc::new(SystemClock), true).await
}

/// A server on `clock`; with `scheduler` false, tests drive `try_run_due` themselves.
pub async fn start_with(db: &Path, redis_prefix: Option<&str>, clock: Arc<dyn Clock>, scheduler: bool) -> Server {
    let config = Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        database: db.to_owned(),
        redis_url: redis_prefix.map(|_| REDIS.to_owned()),
        redis_prefix: redis_prefix.unwrap_or("unused:").to_owned(),
        rule_module: module_path(),
        web_dir: None,
        demo: true,
        no_scheduler: !scheduler,
        daily_report: false,
        scheduler_interval_ms: 1000,
        module_lanes: None,
    };
    let state = AppState::build(&config, clock).await.expect("state builds");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(axum::serve(listener, app(state.clone())).into_future());
    Server { base, state, http: reqwest::Client::new() }
}

pub fn unique(name: &str) -> String {
    format!("nixflow-test:{name}:{}:", uuid::Uuid::now_v7())
}

impl Server {
    pub async fn login(&self, user: &str) -> String {
        let (status, body) = self
            .send("POST", "/api/auth/login", None, Some(json!({"username": user, "password": "nixflow-demo"})))
            .await;
        assert_eq!(status, StatusCode::OK, "login {user}: {body}");
        body["token"].as_str().unwrap().to_owned()
    }

    pub async fn send(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        self.send_with(method, path, token, body, &[]).await
    }

    pub async fn send_with(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> (StatusCode, Value) {
        let mut req = self.http.request(method.parse().unwrap(), format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.unwrap();
        let status = res.status();
        let text = res.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }

    pub async fn create(&self, token: &str, title: &str, category: &str) -> Value {
        let (status, body) = self
            .send(
                "POST",
                "/api/tickets",
                Some(token),
                Some(json!({"title": title, "description": "", "category": category})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body
    }
}
