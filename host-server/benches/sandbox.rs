//! A probe's latency while hostile rule modules burn their budgets
//! (`cargo bench -p host-server --bench sandbox`; issue #5 §3).
//!
//! Baseline: `/healthz` latency with the real module active and nothing else running. Then an
//! infinite-loop module is activated and 20 ticket creations run into it at once (each ends at
//! its fuel limit or the epoch deadline, and the ticket is stored with
//! `automation.rule_evaluation_failed`); `/healthz` is probed the same way meanwhile.
//! Not a test: it prints figures for BENCHMARKS.md.

mod common;

use std::time::{Duration, Instant};

const PROBES: usize = 300;

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

async fn probe(http: &reqwest::Client, base: &str, n: usize) -> Vec<f64> {
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        let ok = http.get(format!("{base}/healthz")).send().await.is_ok_and(|r| r.status().is_success());
        assert!(ok, "the probe failed");
        out.push(t.elapsed().as_secs_f64() * 1000.0);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    out.sort_by(f64::total_cmp);
    out
}

fn main() -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async {
        let (_dir, state, base) = common::start().await?;
        let http = reqwest::Client::new();
        let baseline = probe(&http, &base, PROBES).await;

        let spin = wat::parse_str(
            r#"(module (memory (export "memory") 2)
                 (func (export "nixflow_abi_version") (result i32) (i32.const 1))
                 (func (export "nixflow_alloc") (param i32) (result i32) (i32.const 4096))
                 (func (export "nixflow_free") (param i32 i32))
                 (func (export "nixflow_call") (param i32 i32) (result i64) (loop $l (br $l)) (i64.const 0)))"#,
        )?;
        state.rules.activate(state.rules.compile(&spin)?);
        let rita = host_server::auth::Caller(
            state.store.users().await?.into_iter().find(|u| u.username == "rita").expect("rita"),
        );
        let started = Instant::now();
        let hostile: Vec<_> = (0..20)
            .map(|i| {
                let (state, rita) = (state.clone(), rita.clone());
                tokio::spawn(async move {
                    let ctx = host_server::service::RequestContext {
                        correlation_id: format!("hostile-{i}"),
                        idempotency: None,
                    };
                    let input = host_server::service::CreateTicket {
                        title: format!("hostile {i}"),
                        description: String::new(),
                        category: "Hardware".into(),
                        priority: None,
                    };
                    state.create_ticket(&rita, &ctx, input).await.map(|done| {
                        done.body.parse::<serde_json::Value>().is_ok_and(|body| body["automation_error"].is_string())
                    })
                })
            })
            .collect();
        // Probe while they run (the first probes start with all 20 in flight).
        let during = probe(&http, &base, PROBES).await;
        let mut failed_evaluations = 0;
        for h in hostile {
            if h.await?.map_err(|e| anyhow::anyhow!("{e}"))? {
                failed_evaluations += 1;
            }
        }
        let hostile_time = started.elapsed();
        // The same probes once the hostile calls are over: the machine's own noise floor, in the
        // same run (a shared machine's neighbours come and go).
        let after = probe(&http, &base, PROBES).await;
        println!("## /healthz while 20 hostile evaluations run (infinite loop; fuel 4e9, epoch deadline 5 s)");
        println!("| | p50 | p95 | p99 |");
        println!("|---|---:|---:|---:|");
        for (name, v) in [("baseline", &baseline), ("during", &during), ("after", &after)] {
            println!(
                "| {name} | {:.2} ms | {:.2} ms | {:.2} ms |",
                percentile(v, 0.5),
                percentile(v, 0.95),
                percentile(v, 0.99)
            );
        }
        println!(
            "ratio p50 {:.2}x, p95 {:.2}x (after/baseline p95 {:.2}x); {failed_evaluations} of 20 evaluations failed \
             and their tickets were stored; the 20 took {:.1} s",
            percentile(&during, 0.5) / percentile(&baseline, 0.5),
            percentile(&during, 0.95) / percentile(&baseline, 0.95),
            percentile(&after, 0.95) / percentile(&baseline, 0.95),
            hostile_time.as_secs_f64()
        );
        Ok(())
    })
}
