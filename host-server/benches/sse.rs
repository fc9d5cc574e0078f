//! How fast an appended event reaches a live SSE subscriber
//! (`cargo bench -p host-server --bench sse`; issue #3 §9, budget p95 ≤ 50 ms).
//!
//! One subscriber on `/api/events/stream?type=ticket.created`; tickets are created over HTTP,
//! paced (one every 10 ms) and then under load (8 concurrent creators). The latency of an event
//! is its arrival at the subscriber minus its `time` (the instant the server decided it, before
//! its durable commit), both read from this machine's clock. Not a test: it prints figures.

mod common;

use std::time::Duration;

use futures_util::StreamExt;
use serde_json::{Value, json};

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

fn summary(name: &str, mut v: Vec<f64>) {
    v.sort_by(f64::total_cmp);
    let p = |q: f64| v[((v.len() as f64 - 1.0) * q).round() as usize];
    println!("| {name} | {} | {:.0} ms | {:.0} ms | {:.0} ms | {:.0} ms |", v.len(), p(0.5), p(0.95), p(0.99), p(1.0));
}

async fn create(http: &reqwest::Client, base: &str, token: &str, n: usize) {
    let res = http
        .post(format!("{base}/api/tickets"))
        .bearer_auth(token)
        .json(&json!({"title": format!("printer {n} is down"), "category": "Hardware"}))
        .send()
        .await
        .expect("create");
    assert_eq!(res.status(), reqwest::StatusCode::CREATED);
}

fn main() -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async {
        let (_dir, _state, base) = common::start().await?;
        let http = reqwest::Client::new();
        let login = |user: &'static str| {
            let (http, base) = (http.clone(), base.clone());
            async move {
                let res = http
                    .post(format!("{base}/api/auth/login"))
                    .json(&json!({"username": user, "password": "nixflow-demo"}))
                    .send()
                    .await?;
                let body: Value = res.json().await?;
                anyhow::Ok(body["token"].as_str().unwrap_or_default().to_owned())
            }
        };
        let (maria, rita) = (login("maria").await?, login("rita").await?);

        const PACED: usize = 300;
        const LOADED: usize = 800;
        let subscriber = {
            let (http, base) = (http.clone(), base.clone());
            tokio::spawn(async move {
                let res = http
                    .get(format!("{base}/api/events/stream?type=ticket.created"))
                    .bearer_auth(&maria)
                    .send()
                    .await
                    .expect("subscribe");
                let mut stream = res.bytes_stream();
                let (mut buffer, mut lags) = (String::new(), Vec::new());
                while lags.len() < PACED + LOADED {
                    let Some(Ok(chunk)) = stream.next().await else { break };
                    let received = now_ms();
                    buffer.push_str(&String::from_utf8_lossy(&chunk));
                    while let Some(end) = buffer.find("\n\n") {
                        let frame: String = buffer.drain(..end + 2).collect();
                        let data: Option<Value> = frame
                            .lines()
                            .find_map(|l| l.strip_prefix("data:"))
                            .and_then(|v| serde_json::from_str(v.trim()).ok());
                        if let Some(time) = data.as_ref().and_then(|d| d["time"].as_str()) {
                            let at = chrono::DateTime::parse_from_rfc3339(time)
                                .map(|t| t.timestamp_millis())
                                .unwrap_or(received);
                            lags.push((received - at) as f64);
                        }
                    }
                }
                lags
            })
        };
        tokio::time::sleep(Duration::from_millis(300)).await;
        for n in 0..PACED {
            create(&http, &base, &rita, n).await;
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        futures_util::stream::iter(PACED..PACED + LOADED)
            .for_each_concurrent(8, |n| {
                let (http, base, rita) = (&http, &base, &rita);
                async move { create(http, base, rita, n).await }
            })
            .await;
        let lags = tokio::time::timeout(Duration::from_secs(60), subscriber).await??;
        println!("## From decision to SSE subscriber (ticket.created, one subscriber, loopback)");
        println!("| phase | events | p50 | p95 | p99 | max |");
        println!("|---|---:|---:|---:|---:|---:|");
        summary("paced: one create every 10 ms", lags[..PACED.min(lags.len())].to_vec());
        summary("loaded: 8 concurrent creators", lags[PACED.min(lags.len())..].to_vec());
        Ok(())
    })
}
