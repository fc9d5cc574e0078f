//! The scheduler's cost and timeliness (`cargo bench -p host-server --bench scheduler`).
//!
//! 1. One tick over 1,000,000 open tickets of which 1,000 are due, against the old design's
//!    scan of every open ticket, in the same run on the same database:
//!    - finding the due tickets: a claim from the SQLite index and from the Redis sorted set;
//!    - a whole tick: claim, decide each through the rule module, commit, reschedule;
//!    - the baseline: read every open ticket and ask whether it is due (natively, with the
//!      compiled rules: the cheapest a scan can be).
//! 2. Lag from deadline to appended event with the real clock and the scheduler loop running:
//!    tickets whose escalation falls due over a few seconds.
//!
//! Not a test: it prints figures for BENCHMARKS.md. Needs the rule module (`./x.sh build`) and
//! Redis at 127.0.0.1:6379.

mod common;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::TryStreamExt;
use host_server::AppState;
use host_server::clock::{ManualClock, SystemClock};
use host_server::domain::{EventPayload, MetricRecord, Provenance, SlaRecord, TicketState};
use host_server::due::{DueIndex, RedisDue};
use host_server::store::EventQuery;
use rules_core::model::{Priority, PrioritySource, Status, StatusEntry};
use sqlx::{Connection, Row};

const OPEN: usize = 1_000_000;
const DUE: usize = 1_000;
const HOUR: i64 = 3_600_000;
/// 2026-11-28T08:00:00Z.
const NOW: i64 = 1_795_852_800_000;

/// An open ticket as the projection holds it: InProgress since `entered`, Medium priority.
fn ticket(i: usize, created: i64) -> TicketState {
    let created_event = EventPayload::TicketCreated {
        number: format!("TKT-20261128-{i:07}"),
        title: format!("Printer on floor {} jams", i % 40),
        description: "Paper jams on every second page since this morning.".into(),
        category: "Hardware".into(),
        requester: "u-rita".into(),
        priority: None,
    };
    let mut t = TicketState::apply(None, &format!("bench-{i:07}"), created, &created_event).expect("a ticket");
    t.priority = Some(Priority::Medium);
    t.priority_source = PrioritySource::Automation;
    t.status = Status::InProgress;
    t.history.push(StatusEntry { status: Status::InProgress, at: created + 1000 });
    // Clocks started at creation, as the server records them (Medium: 8 h and 3 days).
    let metric = |target_ms| MetricRecord { target_ms, ..Default::default() };
    t.sla = Some(SlaRecord {
        policy_version: 1,
        priority: Priority::Medium,
        paused: false,
        first_response: metric(8 * HOUR),
        resolution: metric(72 * HOUR),
        acknowledged_at: None,
    });
    t
}

/// Writes `OPEN` tickets straight into the projection: the first `DUE` are due now (their
/// first-response clock warned), the rest wake up over the next 30 days.
async fn fill(db: &Path) -> anyhow::Result<()> {
    let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}", db.display())).await?;
    sqlx::query("PRAGMA synchronous = OFF").execute(&mut conn).await?;
    let mut tx = conn.begin().await?;
    for i in 0..OPEN {
        let due = i < DUE;
        // Due tickets were filed 7 h ago (Medium: 8 h to first response, warning at 6.4 h).
        let created = if due { NOW - 7 * HOUR } else { NOW - HOUR };
        let mut t = ticket(i, created);
        // The due ones have their creation in the log (the commit fence reads the stream).
        t.version = u64::from(due);
        let due_at = if due { NOW - 1000 } else { NOW + 1 + (i as i64 * 2_591) % (30 * 24 * HOUR) };
        sqlx::query(
            "INSERT INTO tickets (id, seq, number, status, priority, category, assignee, requester, title,
               description, open, version, doc, due_at) VALUES (?, ?, ?, 'InProgress', 'Medium', ?, NULL, ?, ?, ?, 1, ?, ?, ?)",
        )
        .bind(&t.id)
        .bind(i as i64 + 1_000_000)
        .bind(&t.number)
        .bind(&t.category)
        .bind(&t.requester)
        .bind(&t.title)
        .bind(&t.description)
        .bind(t.version as i64)
        .bind(serde_json::to_string(&t)?)
        .bind(due_at)
        .execute(&mut *tx)
        .await?;
        if due {
            sqlx::query(
                "INSERT INTO events (id, stream, version, type, time, actor, correlation_id, data, requester)
                 VALUES (?, ?, 1, 'ticket.created', ?, 'u-rita', 'bench', '{}', 'u-rita')",
            )
            .bind(uuid::Uuid::now_v7().to_string())
            .bind(&t.id)
            .bind(created)
            .execute(&mut *tx)
            .await?;
        }
    }
    tx.commit().await?;
    Ok(())
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

async fn tick_against_scan() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let db = dir.path().join("bench.sqlite");
    let clock = Arc::new(ManualClock::new(NOW));
    // Creates the schema, the users and the default rule set.
    drop(AppState::build(&common::config(&db, None), Arc::clone(&clock) as _).await?);
    let started = Instant::now();
    fill(&db).await?;
    eprintln!("filled {OPEN} open tickets in {:.1} s", started.elapsed().as_secs_f64());
    let mut state = AppState::build(&common::config(&db, None), Arc::clone(&clock) as _).await?;
    state.scheduler.batch = DUE;
    let raw = sqlx::SqlitePool::connect(&format!("sqlite://{}", db.display())).await?;

    // Finding the due tickets from the SQLite index (claims released between runs).
    let mut claim_sqlite = Vec::new();
    for _ in 0..20 {
        sqlx::query("UPDATE tickets SET claimed_until = NULL WHERE claimed_until IS NOT NULL").execute(&raw).await?;
        let t = Instant::now();
        let claimed = state.store.claim_due(NOW, DUE, NOW + 30_000).await?;
        claim_sqlite.push(ms(t.elapsed()));
        assert_eq!(claimed.len(), DUE);
    }
    sqlx::query("UPDATE tickets SET claimed_until = NULL WHERE claimed_until IS NOT NULL").execute(&raw).await?;

    // The same from the Redis sorted set, loaded from the store.
    let prefix = format!("nixflow-bench:{}:", uuid::Uuid::now_v7());
    let client = redis::Client::open("redis://127.0.0.1:6379")?;
    let redis_due = RedisDue::connect(&client, &prefix, Arc::clone(&state.store), 30_000).await?;
    let t = Instant::now();
    redis_due.claim(0, 1, 1).await?; // loads the index; nothing is due at instant 0
    let load = ms(t.elapsed());
    let mut claim_redis = Vec::new();
    for round in 0..20 {
        let t = Instant::now();
        let claimed = redis_due.claim(NOW, DUE, NOW + 30_000).await?;
        claim_redis.push(ms(t.elapsed()));
        assert_eq!(claimed.len(), DUE, "round {round}");
        // Put them back as due for the next round.
        for id in &claimed {
            redis_due.scheduled(id, Some(NOW - 1000), 1).await?;
        }
    }
    let mut conn = client.get_multiplexed_async_connection().await?;
    let keys: Vec<String> = redis::cmd("KEYS").arg(format!("{prefix}*")).query_async(&mut conn).await?;
    let () = redis::cmd("DEL").arg(&keys).query_async(&mut conn).await?;

    // The old design: every open ticket, every check (is an escalation or an SLA transition due
    // that the ticket does not record yet?).
    let rules = rules_core::ruleset::RuleSet::default_rules().map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let provenance = Provenance { module_sha256: String::new(), rule_set_version: 1, trigger: "scan".into() };
    let users = state.rule_users().await?;
    let t = Instant::now();
    let mut due = 0usize;
    let mut rows = sqlx::query("SELECT doc FROM tickets WHERE open = 1").fetch(&raw);
    while let Some(row) = rows.try_next().await? {
        let doc: String = row.try_get("doc")?;
        let ticket: TicketState = serde_json::from_str(&doc)?;
        let t = ticket.to_rules();
        let sla = rules_core::sla::status(&rules, &t, NOW);
        if !rules_core::escalate::check(&rules, &t, &users, NOW).fired.is_empty()
            || !host_server::sla::sla_events(&ticket, sla.as_ref(), &provenance).is_empty()
        {
            due += 1;
        }
    }
    let scan = ms(t.elapsed());
    drop(rows);
    assert_eq!(due, DUE, "the scan finds the same due tickets");

    // A whole tick: 1,000 tickets decided through the module and committed.
    let t = Instant::now();
    let report = state.try_run_due(NOW).await?;
    let tick = ms(t.elapsed());
    assert_eq!((report.claimed, report.failed), (DUE, 0));
    assert_eq!(report.sla_events, DUE, "each due ticket's first-response warning");

    println!("## One tick over {OPEN} open tickets, {DUE} due");
    println!("| what | time | ratio to the scan |");
    println!("|---|---:|---:|");
    let row = |name: &str, v: f64| println!("| {name} | {v:.2} ms | {:.5} |", v / scan);
    row("claim the due tickets, SQLite index (median of 20)", median(claim_sqlite));
    row("claim the due tickets, Redis sorted set (median of 20)", median(claim_redis));
    row("whole tick: claim, decide 1,000 through Wasmtime, commit", tick);
    row(&format!("baseline: scan every open ticket, native rules ({due} found due)"), scan);
    println!("(the whole tick decided {} tickets: {:.2} ms each)", report.claimed, tick / report.claimed as f64);
    println!("(Redis index load from the store, once: {load:.0} ms)");
    Ok(())
}

async fn lag() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let db = dir.path().join("lag.sqlite");
    let mut cfg = common::config(&db, None);
    cfg.no_scheduler = false;
    let state = AppState::build(&cfg, Arc::new(SystemClock)).await?;
    // Critical tickets escalate 3 s after approval.
    let (_, mut rules) = state.store.active_rule_set().await?.expect("a rule set");
    rules["escalation"][0]["after"] = "PT3S".into();
    let admin = host_server::auth::Caller(
        state.store.users().await?.into_iter().find(|u| u.username == "maria").expect("maria"),
    );
    let rita =
        host_server::auth::Caller(state.store.users().await?.into_iter().find(|u| u.username == "rita").expect("rita"));
    let ctx = |n: usize| host_server::service::RequestContext { correlation_id: format!("lag-{n}"), idempotency: None };
    state.publish_rule_set(&admin, &ctx(0), rules).await.map_err(|e| anyhow::anyhow!("{e}"))?;
    const N: usize = 300;
    for i in 0..N {
        let input = host_server::service::CreateTicket {
            title: format!("outage {i}"),
            description: String::new(),
            category: "Software".into(),
            priority: None,
        };
        let done = state.create_ticket(&rita, &ctx(i), input).await.map_err(|e| anyhow::anyhow!("{e}"))?;
        let body: serde_json::Value = done.body.parse()?;
        let id = body["ticket"]["id"].as_str().unwrap_or_default().to_owned();
        state.transition(&admin, &ctx(i), &id, Status::Approved, None).await.map_err(|e| anyhow::anyhow!("{e}"))?;
        // Spread the deadlines over about 6 s.
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    let lags = loop {
        let fired = state
            .store
            .events(&EventQuery {
                types: vec!["automation.escalation_triggered".into()],
                limit: 10_000,
                ..Default::default()
            })
            .await?;
        if fired.len() >= N || Instant::now() > deadline {
            break fired
                .iter()
                .filter_map(|e| match &e.payload {
                    EventPayload::EscalationTriggered { lag_ms, .. } => Some(*lag_ms as f64),
                    _ => None,
                })
                .collect::<Vec<_>>();
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let mut sorted = lags.clone();
    sorted.sort_by(f64::total_cmp);
    let pct = |p: f64| sorted[((sorted.len() as f64 - 1.0) * p).round() as usize];
    println!("## Lag from deadline to appended event (scheduler loop every 250 ms, real clock)");
    println!(
        "{} of {N} escalations fired; lag p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms",
        lags.len(),
        pct(0.5),
        pct(0.99),
        pct(1.0)
    );
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async {
        if std::env::args().any(|a| a == "--lag-only") {
            return lag().await;
        }
        tick_against_scan().await?;
        lag().await
    })
}
