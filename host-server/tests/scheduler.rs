//! Scheduled escalation and SLA monitoring through the real stack: a SQLite file, the real Redis
//! (each test under its own prefix), the rule module in Wasmtime. Time is a `ManualClock` the
//! tests move; they call the scheduler's step function instead of sleeping through rule durations.
//!
//! The default rule set drives everything here: "outage" makes a ticket Critical; Critical
//! tickets escalate to a Manager after 2 h in Approved; their SLA targets are 1 h to first
//! response and 4 h to resolution, with a warning at 80 %; OnHold pauses the clocks.

mod common;

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use common::{Server, start_with, unique};
use futures_util::StreamExt;
use host_server::clock::{Clock, ManualClock};
use host_server::domain::EventPayload;
use host_server::scheduler::TickReport;
use host_server::store::{EventQuery, StoredEvent};
use reqwest::StatusCode;
use serde_json::json;

const MIN: i64 = 60_000;
const HOUR: i64 = 60 * MIN;
/// 2026-11-28T08:00:00Z.
const T0: i64 = 1_795_852_800_000;

/// Files `n` Critical tickets and approves them, `concurrency` requests at a time; their ids.
async fn approved_outages(s: &Server, n: usize, concurrency: usize) -> Vec<String> {
    let rita = s.login("rita").await;
    let maria = s.login("maria").await;
    futures_util::stream::iter(0..n)
        .map(|i| {
            let (rita, maria) = (&rita, &maria);
            async move {
                let t = s.create(rita, &format!("outage {i}: the VPN is unreachable"), "Software").await;
                let id = t["ticket"]["id"].as_str().unwrap().to_owned();
                assert_eq!(t["ticket"]["priority"], "Critical");
                let (status, body) =
                    s.send("POST", &format!("/api/tickets/{id}/approve"), Some(maria), Some(json!({}))).await;
                assert_eq!(status, StatusCode::OK, "{body}");
                id
            }
        })
        .buffer_unordered(concurrency)
        .collect()
        .await
}

/// Every event of some types, in log order.
async fn events_of(s: &Server, types: &[&str]) -> Vec<StoredEvent> {
    let mut out = Vec::new();
    let mut after = 0;
    loop {
        let page = s
            .state
            .store
            .events(&EventQuery {
                after,
                limit: 10_000,
                types: types.iter().map(|t| (*t).to_owned()).collect(),
                ..Default::default()
            })
            .await
            .unwrap();
        let Some(last) = page.last() else { break };
        after = last.position;
        out.extend(page);
    }
    out
}

/// How many events of a type each stream has.
fn per_stream(events: &[StoredEvent], kind: &str) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for e in events.iter().filter(|e| e.payload.kind() == kind) {
        *counts.entry(e.stream.clone()).or_insert(0) += 1;
    }
    counts
}

/// Ticks until a tick finds nothing due; the reports.
async fn drain(s: &Server, now: i64) -> Vec<TickReport> {
    let mut reports = Vec::new();
    loop {
        let r = s.state.try_run_due(now).await.expect("tick runs");
        let done = r.claimed == 0;
        reports.push(r);
        if done {
            return reports;
        }
    }
}

async fn instance(db: &Path, prefix: &str, clock: &Arc<ManualClock>) -> Server {
    start_with(db, Some(prefix), Arc::clone(clock) as _, false).await
}

/// Asserts exactly one escalation and one first-response breach per ticket, and that every
/// transition key in the log is unique.
async fn assert_exactly_once(s: &Server, ids: &[String]) {
    let events = events_of(s, &["ticket.escalated", "automation.escalation_triggered", "sla.breach"]).await;
    let escalated = per_stream(&events, "ticket.escalated");
    let missing: Vec<_> = ids.iter().filter(|id| !escalated.contains_key(*id)).collect();
    let twice: Vec<_> = escalated.iter().filter(|(_, n)| **n != 1).collect();
    assert!(missing.is_empty(), "{} tickets never escalated", missing.len());
    assert!(twice.is_empty(), "tickets escalated more than once: {twice:?}");
    assert_eq!(per_stream(&events, "automation.escalation_triggered"), escalated);
    let breaches = per_stream(&events, "sla.breach");
    assert_eq!(breaches.len(), ids.len(), "one first-response breach per ticket");
    assert!(breaches.values().all(|n| *n == 1));
}

#[tokio::test]
async fn three_instances_on_2000_due_tickets_escalate_each_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db.sqlite");
    let prefix = unique("three-schedulers");
    let clock = Arc::new(ManualClock::new(T0));
    let a = instance(&db, &prefix, &clock).await;
    let ids = approved_outages(&a, 2000, 16).await;
    let (b, c) = (instance(&db, &prefix, &clock).await, instance(&db, &prefix, &clock).await);

    assert_eq!(a.state.try_run_due(clock.now()).await.unwrap().claimed, 0, "nothing is due yet");
    clock.advance(2 * HOUR + 1);
    let now = clock.now();
    let (ra, rb, rc) = tokio::join!(drain(&a, now), drain(&b, now), drain(&c, now));
    let total = |rs: &[TickReport]| rs.iter().map(|r| r.escalations).sum::<usize>();
    assert_eq!(total(&ra) + total(&rb) + total(&rc), 2000, "the reports add up to one escalation per ticket");
    assert!(
        [&ra, &rb, &rc].iter().filter(|r| total(r) > 0).count() >= 2,
        "the work was shared: {} / {} / {}",
        total(&ra),
        total(&rb),
        total(&rc)
    );
    assert!(ra.iter().chain(&rb).chain(&rc).all(|r| r.failed == 0));
    assert_exactly_once(&a, &ids).await;

    // The escalation reassigned to the Manager and is on the ticket.
    let t = a.state.store.ticket(&ids[0]).await.unwrap().unwrap();
    assert_eq!(t.assignee.as_deref(), Some("u-maria"));
    assert_eq!(t.escalations_fired.len(), 1);
    // Nothing fires twice: later ticks find only the next SLA wake-ups, which append no escalation.
    clock.advance(MIN);
    for r in drain(&b, clock.now()).await {
        assert_eq!(r.escalations, 0);
    }
}

#[tokio::test]
async fn claims_of_a_killed_instance_are_taken_over() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db.sqlite");
    let prefix = unique("killed-scheduler");
    let clock = Arc::new(ManualClock::new(T0));
    let victim = instance(&db, &prefix, &clock).await;
    let ids = approved_outages(&victim, 300, 16).await;
    clock.advance(2 * HOUR + 1);
    let now = clock.now();

    // The victim claims a batch and dies before committing any of it (its task is aborted
    // while it works, then it claims a second batch it never touches).
    let running = {
        let state = victim.state.clone();
        tokio::spawn(async move { state.try_run_due(now).await })
    };
    tokio::task::yield_now().await;
    running.abort();
    let _ = running.await;
    let held = victim.state.due.claim(now, 100, now + victim.state.scheduler.lease_ms).await.unwrap();
    assert!(!held.is_empty(), "the victim holds claims");
    drop(victim);

    let (b, c) = (instance(&db, &prefix, &clock).await, instance(&db, &prefix, &clock).await);
    let (rb, rc) = tokio::join!(drain(&b, now), drain(&c, now));
    let before_lapse: usize = rb.iter().chain(&rc).map(|r| r.escalations).sum();
    assert!(before_lapse < ids.len(), "claimed tickets stay hidden until the lease lapses");
    clock.advance(b.state.scheduler.lease_ms + 1);
    let later = clock.now();
    let (rb, rc) = tokio::join!(drain(&b, later), drain(&c, later));
    assert!(rb.iter().chain(&rc).all(|r| r.failed == 0));
    assert_exactly_once(&b, &ids).await;
}

#[tokio::test]
async fn flushall_during_scheduling_duplicates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db.sqlite");
    let prefix = unique("flushall-scheduler");
    let clock = Arc::new(ManualClock::new(T0));
    let a = instance(&db, &prefix, &clock).await;
    let ids = approved_outages(&a, 600, 16).await;
    let b = instance(&db, &prefix, &clock).await;
    clock.advance(2 * HOUR + 1);
    let now = clock.now();

    // One tick each, then Redis loses everything (claims, schedule, versions), then both finish.
    let (ra, rb) = tokio::join!(a.state.try_run_due(now), b.state.try_run_due(now));
    let first = ra.unwrap().escalations + rb.unwrap().escalations;
    assert!(first > 0 && first < ids.len(), "the flush lands mid-run ({first} of {})", ids.len());
    let client = redis::Client::open(common::REDIS).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let () = redis::cmd("FLUSHALL").query_async(&mut conn).await.unwrap();
    let (ra, rb) = tokio::join!(drain(&a, now), drain(&b, now));
    assert!(ra.iter().chain(&rb).all(|r| r.failed == 0));
    assert_exactly_once(&a, &ids).await;
}

#[tokio::test]
async fn a_ticket_resolved_while_it_escalates_has_one_legal_history() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db.sqlite");
    let clock = Arc::new(ManualClock::new(T0));
    let s = start_with(&db, None, Arc::clone(&clock) as _, false).await;
    let ids = approved_outages(&s, 60, 8).await;
    let alice = s.login("alice").await;
    clock.advance(2 * HOUR + 1);
    let now = clock.now();

    // The scheduler and agents moving every ticket out of Approved, at the same instant.
    let moves = futures_util::stream::iter(&ids)
        .map(|id| {
            let alice = &alice;
            let s = &s;
            async move {
                let (status, body) = s
                    .send(
                        "POST",
                        &format!("/api/tickets/{id}/transition"),
                        Some(alice),
                        Some(json!({"to": "InProgress"})),
                    )
                    .await;
                assert_eq!(status, StatusCode::OK, "{body}");
                let (status, body) = s
                    .send(
                        "POST",
                        &format!("/api/tickets/{id}/transition"),
                        Some(alice),
                        Some(json!({"to": "Resolved"})),
                    )
                    .await;
                assert_eq!(status, StatusCode::OK, "{body}");
            }
        })
        .buffer_unordered(8)
        .collect::<Vec<()>>();
    let (_, reports) = tokio::join!(moves, drain(&s, now));
    assert!(reports.iter().all(|r| r.failed == 0));

    let mut escalated = 0;
    for id in &ids {
        let history = s
            .state
            .store
            .events(&EventQuery { stream: Some(id.clone()), limit: 1000, ..Default::default() })
            .await
            .unwrap();
        let kinds: Vec<&str> = history.iter().map(|e| e.payload.kind()).collect();
        let escalations = kinds.iter().filter(|k| **k == "ticket.escalated").count();
        assert!(escalations <= 1, "{id}: {kinds:?}");
        if let Some(at) = kinds.iter().position(|k| *k == "ticket.escalated") {
            escalated += 1;
            let left = kinds.iter().position(|k| *k == "ticket.status_changed").unwrap();
            assert!(at < left, "{id} escalated after it left Approved: {kinds:?}");
        }
        // Versions are gap-free and the ticket ends Resolved either way.
        assert!(history.iter().enumerate().all(|(i, e)| e.version == i as u64 + 1));
        let t = s.state.store.ticket(id).await.unwrap().unwrap();
        assert_eq!(t.status.as_str(), "Resolved");
    }
    eprintln!("{escalated} of {} escalated before they were moved", ids.len());
}

#[tokio::test]
async fn catch_up_after_downtime_fires_every_passed_deadline_once_in_deadline_order() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db.sqlite");
    let clock = Arc::new(ManualClock::new(T0));
    let s = start_with(&db, None, Arc::clone(&clock) as _, false).await;
    let rita = s.login("rita").await;
    let maria = s.login("maria").await;
    // Filed and approved a minute apart, later ids earlier (so deadline order is not id order).
    let mut ids = Vec::new();
    for i in 0..40 {
        clock.set(T0 + (40 - i) * MIN);
        let t = s.create(&rita, &format!("outage {i}"), "Software").await;
        let id = t["ticket"]["id"].as_str().unwrap().to_owned();
        let (status, _) = s.send("POST", &format!("/api/tickets/{id}/approve"), Some(&maria), Some(json!({}))).await;
        assert_eq!(status, StatusCode::OK);
        ids.push((clock.now() + 2 * HOUR + 1, id));
    }
    ids.sort();
    let expected: Vec<i64> = ids.iter().map(|(due, _)| *due).collect();
    // Down for a day: every escalation and both SLA clocks of every ticket have passed.
    clock.advance(24 * HOUR);
    let reports = drain(&s, clock.now()).await;
    assert_eq!(reports.iter().map(|r| r.escalations).sum::<usize>(), 40);
    let fired = events_of(&s, &["automation.escalation_triggered"]).await;
    let deadlines: Vec<i64> = fired
        .iter()
        .map(|e| match &e.payload {
            EventPayload::EscalationTriggered { due_at, lag_ms, .. } => {
                assert_eq!(e.time - due_at, *lag_ms);
                *due_at
            }
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(deadlines, expected, "in deadline order, each at its exact deadline");
    let all = events_of(&s, &["sla.warning", "sla.breach"]).await;
    assert_eq!(all.len(), 40 * 4, "both clocks of every ticket warned and breached, once");
    let first_warnings: Vec<i64> = all
        .iter()
        .filter_map(|e| match &e.payload {
            EventPayload::SlaWarning { metric, at, .. } if format!("{metric:?}") == "FirstResponse" => Some(*at),
            _ => None,
        })
        .collect();
    assert!(first_warnings.windows(2).all(|w| w[0] < w[1]), "SLA catch-up in deadline order too: {first_warnings:?}");
    assert!(drain(&s, clock.now()).await.iter().all(|r| r.escalations == 0 && r.sla_events == 0));
}

#[tokio::test]
async fn sla_clocks_warn_breach_pause_and_meet_at_exact_instants() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    let s = start_with(&dir.path().join("db.sqlite"), None, Arc::clone(&clock) as _, false).await;
    let (rita, maria, alice) = (s.login("rita").await, s.login("maria").await, s.login("alice").await);
    let sla_events = |s: &Server, id: String| {
        let store = Arc::clone(&s.state.store);
        async move {
            store
                .events(&EventQuery { stream: Some(id), limit: 1000, ..Default::default() })
                .await
                .unwrap()
                .into_iter()
                .filter(|e| e.payload.kind().starts_with("sla."))
                .map(|e| {
                    (e.payload.kind().to_owned(), e.time, serde_json::to_value(&e.payload).unwrap()["data"].clone())
                })
                .collect::<Vec<_>>()
        }
    };

    // A: answered exactly at the first-response deadline (1 h): met, never breached.
    let a = s.create(&rita, "outage: mail is down", "Software").await["ticket"]["id"].as_str().unwrap().to_owned();
    let created = sla_events(&s, a.clone()).await;
    assert_eq!(created[0].0, "sla.metric_created");
    assert_eq!(created[0].2["first_response"]["deadline_at"], T0 + HOUR);
    assert_eq!(created[0].2["resolution"]["deadline_at"], T0 + 4 * HOUR);
    // B: approved and worked at once, on hold from 1 h to 3 h: its resolution deadline moves
    // from 4 h to 6 h. Nobody answers it.
    let b = s.create(&rita, "outage: VPN is down", "Software").await["ticket"]["id"].as_str().unwrap().to_owned();
    s.send("POST", &format!("/api/tickets/{b}/approve"), Some(&maria), Some(json!({}))).await;
    let (status, _) =
        s.send("POST", &format!("/api/tickets/{b}/transition"), Some(&alice), Some(json!({"to": "InProgress"}))).await;
    assert_eq!(status, StatusCode::OK);

    let tick = |at: i64| {
        clock.set(at);
        let state = s.state.clone();
        async move { state.try_run_due(at).await.unwrap() }
    };
    assert_eq!(tick(T0 + 48 * MIN - 1).await.sla_events, 0, "one ms before the warning");
    assert_eq!(tick(T0 + 48 * MIN).await.sla_events, 2, "both first-response warnings at exactly 80 %");
    assert_eq!(tick(T0 + HOUR - 1).await.sla_events, 0);
    // At exactly 1 h: A is answered (met, even at the deadline), then the tick breaches B's
    // unanswered first response, then B goes on hold.
    clock.set(T0 + HOUR);
    let (status, _) =
        s.send("POST", &format!("/api/tickets/{a}/comments"), Some(&alice), Some(json!({"body": "looking"}))).await;
    assert_eq!(status, StatusCode::CREATED);
    let r = tick(T0 + HOUR).await;
    assert_eq!(r.sla_events, 1, "B's first response breaches at exactly its deadline; A's was met: {r:?}");
    let (status, _) =
        s.send("POST", &format!("/api/tickets/{b}/transition"), Some(&alice), Some(json!({"to": "OnHold"}))).await;
    assert_eq!(status, StatusCode::OK);
    clock.set(T0 + 3 * HOUR);
    let (status, _) =
        s.send("POST", &format!("/api/tickets/{b}/transition"), Some(&alice), Some(json!({"to": "InProgress"}))).await;
    assert_eq!(status, StatusCode::OK);

    // A's resolution (never paused): warning at 3 h 12 m, breach at 4 h.
    assert_eq!(tick(T0 + 3 * HOUR + 12 * MIN).await.sla_events, 1, "A's resolution warning");
    assert_eq!(tick(T0 + 4 * HOUR - 1).await.sla_events, 0);
    assert_eq!(tick(T0 + 4 * HOUR).await.sla_events, 1, "A's resolution breach");
    // B's resolution: 4 h of counted time, 2 h paused → warning at 5 h 12 m, breach at 6 h.
    assert_eq!(tick(T0 + 5 * HOUR + 12 * MIN - 1).await.sla_events, 0);
    assert_eq!(tick(T0 + 5 * HOUR + 12 * MIN).await.sla_events, 1, "B's resolution warning");
    assert_eq!(tick(T0 + 6 * HOUR - 1).await.sla_events, 0);
    assert_eq!(tick(T0 + 6 * HOUR).await.sla_events, 1, "B's resolution breach, not at 4 h");

    let at = |events: Vec<(String, i64, serde_json::Value)>| -> Vec<(String, i64, i64)> {
        events.into_iter().map(|(k, t, d)| (k, t, d["at"].as_i64().unwrap_or(0))).collect()
    };
    let a_events = at(sla_events(&s, a.clone()).await);
    let a_kinds: Vec<(&str, i64, i64)> = a_events.iter().map(|(k, t, at)| (k.as_str(), *t, *at)).collect();
    assert_eq!(
        a_kinds,
        [
            ("sla.metric_created", T0, 0),
            ("sla.warning", T0 + 48 * MIN, T0 + 48 * MIN),
            ("sla.met", T0 + HOUR, T0 + HOUR),
            ("sla.warning", T0 + 3 * HOUR + 12 * MIN, T0 + 3 * HOUR + 12 * MIN),
            ("sla.breach", T0 + 4 * HOUR, T0 + 4 * HOUR),
        ]
    );
    let b_events = at(sla_events(&s, b.clone()).await);
    let b_kinds: Vec<(&str, i64)> = b_events.iter().map(|(k, _, at)| (k.as_str(), *at)).collect();
    assert_eq!(
        b_kinds,
        [
            ("sla.metric_created", 0),
            ("sla.warning", T0 + 48 * MIN),
            ("sla.breach", T0 + HOUR),
            ("sla.paused", 0),
            ("sla.resumed", 0),
            ("sla.warning", T0 + 5 * HOUR + 12 * MIN),
            ("sla.breach", T0 + 6 * HOUR),
        ]
    );

    // Acknowledging: agents may, requesters may not; twice is a conflict.
    let (status, _) = s.send("POST", &format!("/api/tickets/{b}/sla/acknowledge"), Some(&rita), Some(json!({}))).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let fresh =
        s.create(&rita, "outage: printer is down", "Software").await["ticket"]["id"].as_str().unwrap().to_owned();
    let (status, body) =
        s.send("POST", &format!("/api/tickets/{fresh}/sla/acknowledge"), Some(&alice), Some(json!({}))).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::CONFLICT, Some("illegal_transition")), "no breach yet");
    let (status, body) = s
        .send("POST", &format!("/api/tickets/{b}/sla/acknowledge"), Some(&alice), Some(json!({"note": "on it"})))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["events"][0]["type"], "sla.breach_acknowledged");
    let (status, _) = s.send("POST", &format!("/api/tickets/{b}/sla/acknowledge"), Some(&alice), Some(json!({}))).await;
    assert_eq!(status, StatusCode::CONFLICT);

    // Live clocks and compliance: A met its first response, B breached both.
    let (status, live) = s.send("GET", &format!("/api/tickets/{b}/sla"), Some(&alice), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(live["live"]["resolution"]["state"], "breached");
    assert_eq!(live["record"]["resolution"]["breached_at"], T0 + 6 * HOUR);
    let (status, report) = s
        .send("GET", "/api/sla/compliance?from=2026-11-28T00:00:00Z&to=2026-11-29T00:00:00Z", Some(&maria), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{report}");
    let critical = &report["report"]["by_priority"][0];
    assert_eq!(critical["priority"], "Critical");
    assert_eq!(
        (critical["first_response"]["met"].as_u64(), critical["first_response"]["breached"].as_u64()),
        (Some(1), Some(1))
    );
    assert_eq!(critical["first_response"]["compliance_bp"], 5000);
    assert_eq!(critical["resolution"]["breached"], 2);
    let (status, _) = s.send("GET", "/api/sla/compliance?from=yesterday&to=now", Some(&maria), None).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _) =
        s.send("GET", "/api/sla/compliance?from=2026-11-28T00:00:00Z&to=2026-11-29T00:00:00Z", Some(&rita), None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(events_of(&s, &["sla.compliance_report_generated"]).await.len(), 1);
}

#[tokio::test]
async fn a_new_rule_set_reschedules_open_tickets_under_its_version() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    let s = start_with(&dir.path().join("db.sqlite"), None, Arc::clone(&clock) as _, false).await;
    let ids = approved_outages(&s, 5, 5).await;
    // Version 2 escalates Critical tickets after 30 minutes in Approved instead of 2 hours.
    let maria = s.login("maria").await;
    let (_, active) = s.send("GET", "/api/rules/active", Some(&maria), None).await;
    let mut rules = active["rule_set"].clone();
    rules["escalation"][0]["after"] = json!("PT30M");
    let (status, body) = s.send("POST", "/api/rules", Some(&maria), Some(rules)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let r = s.state.try_run_due(clock.now()).await.unwrap();
    assert_eq!((r.claimed, r.rescheduled), (5, 5), "every open ticket re-evaluated, nothing fired yet");
    clock.advance(30 * MIN + 1);
    let fired = drain(&s, clock.now()).await.iter().map(|r| r.escalations).sum::<usize>();
    assert_eq!(fired, 5, "the new deadline, not the old one");
    for e in events_of(&s, &["automation.escalation_triggered"]).await {
        match e.payload {
            EventPayload::EscalationTriggered { provenance, .. } => assert_eq!(provenance.rule_set_version, 2),
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(ids.len(), 5);
}

#[tokio::test]
async fn the_daily_compliance_report_is_made_once_per_day_across_instances() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db.sqlite");
    let prefix = unique("daily-report");
    let clock = Arc::new(ManualClock::new(T0));
    let (a, b) = (instance(&db, &prefix, &clock).await, instance(&db, &prefix, &clock).await);
    let rita = a.login("rita").await;
    a.create(&rita, "outage: the wiki is down", "Software").await;
    clock.advance(2 * HOUR);
    drain(&a, clock.now()).await; // the first response breaches at 1 h

    // The next day, both instances try at once: one report.
    clock.set(T0 + 24 * HOUR);
    let (ra, rb) = tokio::join!(a.state.try_daily_report(clock.now()), b.state.try_daily_report(clock.now()));
    assert_eq!([ra.unwrap(), rb.unwrap()].iter().filter(|made| **made).count(), 1);
    assert!(!a.state.try_daily_report(clock.now() + HOUR).await.unwrap(), "the same day again makes nothing");
    let reports = events_of(&a, &["sla.compliance_report_generated"]).await;
    assert_eq!(reports.len(), 1);
    match &reports[0].payload {
        EventPayload::ComplianceReportGenerated { from, to, scheduled, report, .. } => {
            assert_eq!((*from, *to, *scheduled), (T0 - 8 * HOUR, T0 + 16 * HOUR, true), "the previous UTC day");
            assert_eq!(report["by_priority"][0]["first_response"]["breached"], 1);
        }
        other => panic!("{other:?}"),
    }
    // The day after, the next report.
    assert!(a.state.try_daily_report(clock.now() + 24 * HOUR).await.unwrap());
}
