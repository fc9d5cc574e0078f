//! Durability: the real server binary is killed with SIGKILL while writers create tickets, then
//! the log is reopened. Nothing acknowledged is lost, nothing is half-written, and retries of the
//! requests whose answers were lost (same `Idempotency-Key`) create each ticket exactly once.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use host_server::domain::{MODULES_STREAM, REPORTS_STREAM, RULESET_STREAM, TicketState, USERS_STREAM};
use host_server::store::EventQuery;
use reqwest::StatusCode;
use serde_json::{Value, json};

mod common;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// The server binary on `db`, embedded default (no Redis), with demo users.
fn spawn_server(db: &Path, port: u16) -> Child {
    Command::new(env!("CARGO_BIN_EXE_host-server"))
        .args(["--listen", &format!("127.0.0.1:{port}"), "--demo", "--no-scheduler"])
        .arg("--database")
        .arg(db)
        .arg("--rule-module")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("../build/nixflow_rules.wasm"))
        .env_remove("REDIS_URL")
        .env("NIXFLOW_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the server binary starts")
}

async fn ready(http: &reqwest::Client, base: &str) {
    for _ in 0..600 {
        if http.get(format!("{base}/readyz")).send().await.is_ok_and(|r| r.status().is_success()) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the server did not become ready");
}

async fn login(http: &reqwest::Client, base: &str) -> String {
    let res = http
        .post(format!("{base}/api/auth/login"))
        .json(&json!({"username": "alice", "password": "nixflow-demo"}))
        .send()
        .await
        .unwrap();
    res.json::<Value>().await.unwrap()["token"].as_str().unwrap().to_owned()
}

/// What a writer learnt about one request: acknowledged with a ticket id, or no answer.
#[derive(Debug, Clone)]
enum Outcome {
    Acknowledged { ticket: String },
    Unanswered,
}

#[tokio::test]
async fn a_killed_server_loses_no_acknowledged_ticket_and_retries_create_each_once() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db.sqlite");
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap();

    let mut server = spawn_server(&db, port);
    ready(&http, &base).await;
    let token = login(&http, &base).await;

    // Eight writers create tickets as fast as the server answers, each with its own key.
    let outcomes: Arc<Mutex<BTreeMap<String, Outcome>>> = Arc::default();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writers: Vec<_> = (0..8)
        .map(|w| {
            let (http, base, token, outcomes, stop) =
                (http.clone(), base.clone(), token.clone(), Arc::clone(&outcomes), Arc::clone(&stop));
            tokio::spawn(async move {
                for n in 0.. {
                    if stop.load(std::sync::atomic::Ordering::SeqCst) {
                        return;
                    }
                    let key = format!("writer-{w}-{n}");
                    let sent = http
                        .post(format!("{base}/api/tickets"))
                        .bearer_auth(&token)
                        .header("idempotency-key", &key)
                        .json(&json!({"title": key, "description": "urgent outage", "category": "ProductionChange"}))
                        .send()
                        .await;
                    let outcome = match sent {
                        Ok(res) if res.status() == StatusCode::CREATED => {
                            let body: Value = res.json().await.unwrap_or_default();
                            match body["ticket"]["id"].as_str() {
                                Some(id) => Outcome::Acknowledged { ticket: id.to_owned() },
                                None => Outcome::Unanswered, // the body was cut off by the kill
                            }
                        }
                        Ok(res) => panic!("unexpected status {} before the kill", res.status()),
                        Err(_) => Outcome::Unanswered,
                    };
                    let unanswered = matches!(outcome, Outcome::Unanswered);
                    outcomes.lock().unwrap().insert(key, outcome);
                    if unanswered {
                        return; // the server is gone
                    }
                }
            })
        })
        .collect();

    // Let them write, then SIGKILL: no shutdown, no flush.
    while outcomes.lock().unwrap().len() < 300 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    server.kill().expect("SIGKILL");
    server.wait().unwrap();
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    for w in writers {
        w.await.unwrap();
    }
    let outcomes = outcomes.lock().unwrap().clone();
    let acknowledged: BTreeMap<&String, &String> = outcomes
        .iter()
        .filter_map(|(k, o)| match o {
            Outcome::Acknowledged { ticket } => Some((k, ticket)),
            Outcome::Unanswered => None,
        })
        .collect();
    let unanswered: Vec<&String> =
        outcomes.iter().filter(|(_, o)| matches!(o, Outcome::Unanswered)).map(|(k, _)| k).collect();
    assert!(acknowledged.len() >= 300, "{} acknowledged", acknowledged.len());

    // Restart on the same file. Every acknowledged ticket is there, decided.
    let mut server = spawn_server(&db, port);
    ready(&http, &base).await;
    let token = login(&http, &base).await;
    for (key, id) in &acknowledged {
        let res = http.get(format!("{base}/api/tickets/{id}")).bearer_auth(&token).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK, "acknowledged ticket {key} ({id}) is lost");
        let ticket: Value = res.json().await.unwrap();
        assert_eq!(ticket["title"], key.as_str());
        assert_eq!(ticket["priority"], "Critical", "{key}: its automation committed with it");
    }
    // The requests whose answers were lost are retried with the same key: each makes one ticket,
    // or answers with the one it made before the kill.
    let (mut retried, mut committed_before_the_kill) = (Vec::new(), 0);
    for key in &unanswered {
        let res = http
            .post(format!("{base}/api/tickets"))
            .bearer_auth(&token)
            .header("idempotency-key", key.as_str())
            .json(&json!({"title": key, "description": "urgent outage", "category": "ProductionChange"}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::CREATED, "retry of {key}");
        if res.headers().contains_key("idempotent-replayed") {
            committed_before_the_kill += 1;
        }
        let body: Value = res.json().await.unwrap();
        retried.push((key.to_string(), body["ticket"]["id"].as_str().unwrap().to_owned()));
    }
    server.kill().unwrap();
    server.wait().unwrap();

    // The log, read directly: one ticket per key, whole commits only, and the projection equals
    // a replay of the log.
    let s = common::start_with(&db, None, Arc::new(host_server::clock::SystemClock), false).await;
    let events = s.state.store.events(&EventQuery { limit: 10_000, ..Default::default() }).await.unwrap();
    let positions: Vec<i64> = events.iter().map(|e| e.position).collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "positions strictly increase");
    let mut by_stream: BTreeMap<String, Vec<&host_server::store::StoredEvent>> = BTreeMap::new();
    for e in &events {
        if ![RULESET_STREAM, MODULES_STREAM, REPORTS_STREAM, USERS_STREAM].contains(&e.stream.as_str()) {
            by_stream.entry(e.stream.clone()).or_default().push(e);
        }
    }
    let mut titles = HashSet::new();
    for (id, stream) in &by_stream {
        let versions: Vec<u64> = stream.iter().map(|e| e.version).collect();
        assert_eq!(versions, (1..=stream.len() as u64).collect::<Vec<_>>(), "ticket {id}: versions without gaps");
        let kinds: Vec<&str> = stream.iter().map(|e| e.payload.kind()).collect();
        // A create commits the ticket with its whole automation, or not at all.
        for needed in ["ticket.created", "automation.prioritization_applied", "automation.rule_evaluated"] {
            assert!(kinds.contains(&needed), "ticket {id} lacks {needed}: {kinds:?}");
        }
        let mut state = None;
        for e in stream {
            state = TicketState::apply(state, id, e.time, &e.payload);
        }
        let state = state.expect("a ticket");
        assert!(titles.insert(state.title.clone()), "key {} made two tickets", state.title);
        assert_eq!(s.state.store.ticket(id).await.unwrap(), Some(state), "projection of {id} equals its replay");
    }
    eprintln!(
        "{} acknowledged before the kill, {} unanswered and retried ({committed_before_the_kill} of them had \
         committed: their retry replayed the original); {} tickets in the log",
        acknowledged.len(),
        retried.len(),
        by_stream.len()
    );
    assert_eq!(by_stream.len(), acknowledged.len() + retried.len(), "one ticket per key, none extra");
    for (key, id) in acknowledged.iter().map(|(k, i)| (k.to_string(), i.to_string())).chain(retried) {
        assert!(by_stream.contains_key(&id), "{key}");
    }
}
