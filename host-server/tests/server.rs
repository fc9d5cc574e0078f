//! The service through its public surface: real sockets, a real SQLite file, a real Redis (each
//! test with its own key prefix), the real rule module in Wasmtime.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use host_server::domain::{MODULES_STREAM, REPORTS_STREAM, RULESET_STREAM, TicketState, USERS_STREAM};
use host_server::store::{EventQuery, EventStore as _};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::Connection as _;

mod common;

use common::{REDIS, Server, start, unique};

fn chrono_millis(rfc3339: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(rfc3339).unwrap().timestamp_millis()
}

#[tokio::test]
async fn login_and_authentication_errors() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(&dir.path().join("db.sqlite"), None).await;
    let (status, body) =
        s.send("POST", "/api/auth/login", None, Some(json!({"username": "rita", "password": "wrong"}))).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::UNAUTHORIZED, Some("unauthenticated")));
    let (status, _) =
        s.send("POST", "/api/auth/login", None, Some(json!({"username": "nobody", "password": "x"}))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, body) = s.send("GET", "/api/tickets", None, None).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::UNAUTHORIZED, Some("unauthenticated")));
    let (status, _) = s.send("GET", "/api/tickets", Some("not-a-token"), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let token = s.login("maria").await;
    let (status, me) = s.send("GET", "/api/auth/me", Some(&token), None).await;
    assert_eq!((status, me["permission"].as_str()), (StatusCode::OK, Some("manager")));
    assert!(me.get("password_hash").is_none(), "hashes never leave the server");
    let (status, _) = s.send("POST", "/api/auth/logout", Some(&token), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = s.send("GET", "/api/auth/me", Some(&token), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "a logged-out token is dead");
}

#[tokio::test]
async fn create_applies_automation_and_links_events() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(&dir.path().join("db.sqlite"), None).await;
    let rita = s.login("rita").await;
    let (status, created) = s
        .send_with(
            "POST",
            "/api/tickets",
            Some(&rita),
            Some(json!({"title": "Urgent: the build server is down", "description": "since 9am", "category": "ProductionChange"})),
            &[("x-correlation-id", "corr-42")],
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let t = &created["ticket"];
    // Highest priority wins: `down` (Critical) over `urgent` (High).
    assert_eq!(t["priority"], "Critical");
    assert_eq!(t["priority_source"], "automation");
    assert_eq!(t["assignee"], "u-alice", "counter 1 picks the first Engineer by id");
    assert_eq!(t["status"], "InApproval");
    assert!(t["number"].as_str().unwrap().starts_with("TKT-"), "{t}");
    assert_eq!(t["number"].as_str().unwrap().len(), "TKT-20250129-0001".len());
    assert_eq!(created["automation"]["assignment"]["counter"], 1);
    let module = s.state.rules.active().sha256().to_owned();

    let id = t["id"].as_str().unwrap();
    let (status, history) = s.send("GET", &format!("/api/tickets/{id}/history"), Some(&rita), None).await;
    assert_eq!(status, StatusCode::OK);
    let history = history.as_array().unwrap();
    let types: Vec<&str> = history.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(
        types,
        [
            "ticket.created",
            "automation.prioritization_applied",
            "automation.assignment_applied",
            "automation.rule_evaluated",
            "sla.metric_created"
        ]
    );
    let created_id = history[0]["id"].as_str().unwrap();
    for (n, e) in history.iter().enumerate() {
        assert_eq!(e["specversion"], "1.0");
        assert_eq!(e["subject"], id);
        assert_eq!(e["correlationid"], "corr-42");
        assert_eq!(e["streamversion"], n + 1);
        if n > 0 {
            assert_eq!(e["causationid"], created_id, "automation is caused by the creation");
            assert_eq!(e["actor"], "automation");
            assert_eq!(e["data"]["provenance"]["module_sha256"], module.as_str());
            assert_eq!(e["data"]["provenance"]["rule_set_version"], 1);
        }
    }
    assert_eq!(history[2]["data"]["counter"], 1, "the counter value is on the assignment event");
    assert!(history[3]["data"]["evaluation"]["trace"].as_array().is_some_and(|t| !t.is_empty()));
    // Critical (`down`): one hour to first response, four to resolution, from creation.
    let created_at = chrono_millis(history[0]["time"].as_str().unwrap());
    assert_eq!(history[4]["data"]["priority"], "Critical");
    assert_eq!(history[4]["data"]["first_response"]["deadline_at"], created_at + 3_600_000);
    assert_eq!(history[4]["data"]["resolution"]["deadline_at"], created_at + 4 * 3_600_000);

    // Read after write: the list and the item see it at once.
    let (_, page) = s.send("GET", "/api/tickets?q=build%20server", Some(&rita), None).await;
    assert_eq!(page["tickets"][0]["id"], id);
    let (_, one) = s.send("GET", &format!("/api/tickets/{id}"), Some(&rita), None).await;
    assert_eq!(one["version"], 5);
}

#[tokio::test]
async fn the_permission_matrix() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(&dir.path().join("db.sqlite"), None).await;
    let (rita, alice, maria, ada) =
        (s.login("rita").await, s.login("alice").await, s.login("maria").await, s.login("ada").await);
    let mine = s.create(&rita, "my laptop", "Hardware").await["ticket"]["id"].as_str().unwrap().to_owned();
    let other = s.create(&alice, "someone else's", "Hardware").await["ticket"]["id"].as_str().unwrap().to_owned();
    let missing = "01a22297-0000-0000-0000-000000000000".to_owned();

    // (who, method, path template, body, expected status for own / other's / nonexistent)
    let transition = json!({"to": "InProgress"});
    let cases: Vec<(&str, &str, &str, Value, [u16; 3])> = vec![
        (&rita, "GET", "/api/tickets/{}", Value::Null, [200, 404, 404]),
        (&rita, "GET", "/api/tickets/{}/history", Value::Null, [200, 404, 404]),
        (&rita, "POST", "/api/tickets/{}/comments", json!({"body": "any news?"}), [201, 404, 404]),
        (&rita, "PATCH", "/api/tickets/{}", json!({"description": "more detail"}), [200, 404, 404]),
        (&rita, "POST", "/api/tickets/{}/approve", json!({}), [403, 403, 403]),
        (&rita, "POST", "/api/tickets/{}/assign", json!({"assignee": "u-bob"}), [403, 403, 403]),
        (&alice, "GET", "/api/tickets/{}", Value::Null, [200, 200, 404]),
        (&alice, "POST", "/api/tickets/{}/approve", json!({}), [403, 403, 403]),
        (&alice, "POST", "/api/tickets/{}/assign", json!({"assignee": "u-bob"}), [200, 200, 404]),
        (&alice, "POST", "/api/tickets/{}/transition", transition.clone(), [409, 409, 404]),
        (&maria, "POST", "/api/tickets/{}/approve", json!({"reason": "ok"}), [200, 200, 404]),
        (&ada, "POST", "/api/tickets/{}/transition", transition, [200, 200, 404]),
    ];
    for (token, method, path, body, expected) in cases {
        for (target, want) in [&mine, &other, &missing].into_iter().zip(expected) {
            let path = path.replace("{}", target);
            let body = (!body.is_null()).then(|| body.clone());
            let (status, answer) = s.send(method, &path, Some(token), body).await;
            assert_eq!(status.as_u16(), want, "{method} {path}: {answer}");
            assert!(answer["code"].is_string() || status.is_success(), "errors carry a code: {answer}");
        }
    }
    // A 404 for someone else's ticket is indistinguishable from a missing one.
    let (_, a) = s.send("GET", &format!("/api/tickets/{other}"), Some(&rita), None).await;
    let (_, b) = s.send("GET", &format!("/api/tickets/{missing}"), Some(&rita), None).await;
    assert_eq!(a, b);
    // Lists and the audit log show a requester only their own tickets.
    let (_, page) = s.send("GET", "/api/tickets", Some(&rita), None).await;
    assert!(page["tickets"].as_array().unwrap().iter().all(|t| t["requester"] == "u-rita"));
    // ... plus the public streams their previews follow (rule sets and module activations).
    let (_, events) = s.send("GET", "/api/events?limit=1000", Some(&rita), None).await;
    let subjects: Vec<&str> = events.as_array().unwrap().iter().map(|e| e["subject"].as_str().unwrap()).collect();
    assert!(subjects.iter().all(|s| [mine.as_str(), "ruleset", "rules-modules"].contains(s)), "{events}");
    assert!(subjects.contains(&mine.as_str()) && subjects.contains(&"rules-modules"), "{subjects:?}");
    assert!(!subjects.contains(&other.as_str()));
    // Rules: everyone reads the active set and the preview context; only managers publish.
    for token in [&rita, &alice] {
        let (status, _) = s.send("POST", "/api/rules", Some(token), Some(json!({"prioritization": []}))).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let (status, _) = s.send("GET", "/api/rules/preview-context", Some(token), None).await;
        assert_eq!(status, StatusCode::OK);
    }
    let (status, _) = s.send("GET", "/api/users", Some(&rita), None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // Requesters may not set a priority: a forbidden field.
    let (status, body) = s
        .send("POST", "/api/tickets", Some(&rita), Some(json!({"title": "t", "category": "x", "priority": "Critical"})))
        .await;
    assert_eq!((status.as_u16(), body["code"].as_str()), (422, Some("forbidden_field")));
}

#[tokio::test]
async fn the_state_machine_over_http() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(&dir.path().join("db.sqlite"), None).await;
    let maria = s.login("maria").await;
    let id = s.create(&maria, "new monitor", "Hardware").await["ticket"]["id"].as_str().unwrap().to_owned();
    let go = |to: &'static str| json!({"to": to});
    let path = format!("/api/tickets/{id}/transition");
    let steps: [(Value, u16, &str); 9] = [
        (go("InProgress"), 409, "InApproval"),
        (go("Approved"), 200, "Approved"),
        (go("Resolved"), 409, "Approved"),
        (go("InProgress"), 200, "InProgress"),
        (go("OnHold"), 200, "OnHold"),
        (go("InProgress"), 200, "InProgress"),
        (go("Resolved"), 200, "Resolved"),
        (go("Closed"), 200, "Closed"),
        (go("InProgress"), 409, "Closed"),
    ];
    for (body, want, status_after) in steps {
        let (status, answer) = s.send("POST", &path, Some(&maria), Some(body.clone())).await;
        assert_eq!(status.as_u16(), want, "{body}: {answer}");
        if want == 409 {
            assert_eq!(answer["code"], "illegal_transition");
        }
        let (_, t) = s.send("GET", &format!("/api/tickets/{id}"), Some(&maria), None).await;
        assert_eq!(t["status"], status_after);
    }
    let (_, history) = s.send("GET", &format!("/api/tickets/{id}/history"), Some(&maria), None).await;
    let types: Vec<&str> = history.as_array().unwrap().iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert!(types.contains(&"ticket.approved") && types.contains(&"ticket.closed"), "{types:?}");
    let (status, body) =
        s.send("PATCH", &format!("/api/tickets/{id}"), Some(&maria), Some(json!({"title": "x"}))).await;
    assert_eq!((status.as_u16(), body["code"].as_str()), (409, Some("illegal_transition")));
}

#[tokio::test]
async fn bad_input_gets_structured_errors_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(&dir.path().join("db.sqlite"), None).await;
    let alice = s.login("alice").await;
    let head = s.state.store.head().await.unwrap();
    let cases = [
        (json!({"title": "t", "category": "c", "colour": "red"}), 422, "invalid_body"),
        (json!({"title": "", "category": "c"}), 422, "invalid_body"),
        (json!({"title": "t"}), 422, "invalid_body"),
        (json!({"title": "t", "category": "c", "priority": "P9"}), 422, "invalid_body"),
        (json!({"title": "t".repeat(201), "category": "c"}), 422, "invalid_body"),
        (json!({"title": "t", "category": "c", "description": "x".repeat(70_000)}), 413, "payload_too_large"),
    ];
    for (body, status, code) in cases {
        let (got, answer) = s.send("POST", "/api/tickets", Some(&alice), Some(body)).await;
        assert_eq!((got.as_u16(), answer["code"].as_str()), (status, Some(code)), "{answer}");
        assert!(answer["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    let res = s
        .http
        .post(format!("{}/api/tickets", s.base))
        .bearer_auth(&alice)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert_eq!(res.json::<Value>().await.unwrap()["code"], "bad_request");
    let (status, body) = s.send("GET", "/api/tickets?status=Sideways", Some(&alice), None).await;
    assert_eq!((status.as_u16(), body["code"].as_str()), (422, Some("invalid_query")));
    let (status, body) = s.send("GET", "/api/nothing-here", Some(&alice), None).await;
    assert_eq!((status.as_u16(), body["code"].as_str()), (404, Some("not_found")));
    assert_eq!(s.state.store.head().await.unwrap(), head, "no refused request appended anything");
}

#[tokio::test]
async fn idempotent_retries_return_the_original_and_append_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(&dir.path().join("db.sqlite"), None).await;
    let alice = s.login("alice").await;
    let body = json!({"title": "VPN drops", "category": "Software"});
    let key = [("idempotency-key", "create-vpn-1")];
    let (first_status, first) = s.send_with("POST", "/api/tickets", Some(&alice), Some(body.clone()), &key).await;
    assert_eq!(first_status, StatusCode::CREATED);
    let head = s.state.store.head().await.unwrap();
    let (again_status, again) = s.send_with("POST", "/api/tickets", Some(&alice), Some(body), &key).await;
    assert_eq!((again_status, &again), (first_status, &first), "a retry answers the original response");
    assert_eq!(s.state.store.head().await.unwrap(), head, "a retry appends nothing");
    let (status, err) =
        s.send_with("POST", "/api/tickets", Some(&alice), Some(json!({"title": "other", "category": "x"})), &key).await;
    assert_eq!((status.as_u16(), err["code"].as_str()), (422, Some("idempotency_key_reused")));
    // Concurrent duplicates: exactly one ticket.
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let (base, token) = (s.base.clone(), alice.clone());
            tokio::spawn(async move {
                reqwest::Client::new()
                    .post(format!("{base}/api/tickets"))
                    .bearer_auth(token)
                    .header("idempotency-key", "same-key-concurrently")
                    .json(&json!({"title": "dup?", "category": "x"}))
                    .send()
                    .await
                    .unwrap()
                    .json::<Value>()
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut ids = HashSet::new();
    for t in tasks {
        ids.insert(t.await.unwrap()["ticket"]["id"].as_str().unwrap().to_owned());
    }
    assert_eq!(ids.len(), 1, "{ids:?}");
    let (_, page) = s.send("GET", "/api/tickets?q=dup%3F", Some(&alice), None).await;
    assert_eq!(page["tickets"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn fifty_concurrent_writers_on_one_ticket_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(&dir.path().join("db.sqlite"), None).await;
    let alice = s.login("alice").await;
    let id = s.create(&alice, "busy ticket", "Software").await["ticket"]["id"].as_str().unwrap().to_owned();
    let tasks: Vec<_> = (0..50)
        .map(|n| {
            let (base, token, id) = (s.base.clone(), alice.clone(), id.clone());
            tokio::spawn(async move {
                let client = reqwest::Client::new();
                let res = if n % 2 == 0 {
                    client
                        .post(format!("{base}/api/tickets/{id}/comments"))
                        .json(&json!({"body": format!("comment {n}")}))
                } else {
                    client.patch(format!("{base}/api/tickets/{id}")).json(&json!({"description": format!("edit {n}")}))
                };
                res.bearer_auth(token).send().await.unwrap().status()
            })
        })
        .collect();
    for t in tasks {
        assert!(t.await.unwrap().is_success());
    }
    let ticket: TicketState = s.state.store.ticket(&id).await.unwrap().unwrap();
    assert_eq!(ticket.comments.len(), 25, "every comment is there");
    let events =
        s.state.store.events(&EventQuery { stream: Some(id), limit: 10_000, ..Default::default() }).await.unwrap();
    let updates = events.iter().filter(|e| e.payload.kind() == "ticket.updated").count();
    assert_eq!(updates, 25, "every edit is there");
    let versions: Vec<u64> = events.iter().map(|e| e.version).collect();
    assert_eq!(versions, (1..=events.len() as u64).collect::<Vec<_>>(), "versions are gap-free");
    assert_eq!(ticket.version, events.len() as u64);
}

#[tokio::test]
async fn round_robin_across_two_instances_sharing_redis_survives_flushall() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db.sqlite");
    let prefix = unique("rr");
    let a = start(&db, Some(&prefix)).await;
    let b = start(&db, Some(&prefix)).await;
    let (ta, tb) = (a.login("hana").await, b.login("hugo").await);
    const N: usize = 1200;
    // 32 requests in flight at a time: both instances write to one SQLite file, so their writers
    // take turns through SQLite's busy handler; an unbounded burst would only measure queueing.
    let in_flight = Arc::new(tokio::sync::Semaphore::new(32));
    let mut tasks = Vec::new();
    for n in 0..N {
        let (base, token) = if n % 2 == 0 { (a.base.clone(), ta.clone()) } else { (b.base.clone(), tb.clone()) };
        let permit = Arc::clone(&in_flight).acquire_owned().await.unwrap();
        tasks.push(tokio::spawn(async move {
            let res = reqwest::Client::new()
                .post(format!("{base}/api/tickets"))
                .bearer_auth(token)
                .json(&json!({"title": format!("disk {n}"), "category": "Hardware"}))
                .send()
                .await
                .unwrap();
            let status = res.status();
            let body = res.text().await.unwrap();
            drop(permit);
            assert_eq!(status, StatusCode::CREATED, "create {n}: {body}");
            serde_json::from_str::<Value>(&body).unwrap()
        }));
        if n == N / 2 {
            // Redis loses everything mid-run.
            let client = redis::Client::open(REDIS).unwrap();
            let mut conn = client.get_multiplexed_async_connection().await.unwrap();
            let _: () = redis::cmd("FLUSHALL").query_async(&mut conn).await.unwrap();
        }
    }
    let mut by_counter = BTreeMap::new();
    let mut numbers = HashSet::new();
    for t in tasks {
        let body = t.await.unwrap();
        let assignment = &body["automation"]["assignment"];
        assert_eq!(assignment["outcome"], "assigned", "{body}");
        let counter = assignment["counter"].as_u64().unwrap();
        let assignee = assignment["assignee"].as_str().unwrap().to_owned();
        assert!(by_counter.insert(counter, assignee).is_none(), "counter {counter} used twice");
        assert!(numbers.insert(body["ticket"]["number"].as_str().unwrap().to_owned()), "ticket number reused");
    }
    assert_eq!(by_counter.len(), N, "0 duplicate counter values");
    // Exact rotation: counter c goes to member (c - 1) % 2 of [u-hana, u-hugo].
    for (counter, assignee) in &by_counter {
        let expected = if (counter - 1) % 2 == 0 { "u-hana" } else { "u-hugo" };
        assert_eq!(assignee, expected, "counter {counter}");
    }
    // After the flush the counters were re-seeded from the log, so values continue upwards: the
    // largest value used can exceed N only by the values refused and retried.
    let max = *by_counter.keys().last().unwrap();
    assert!(max >= N as u64, "{max}");
}

async fn read_sse(s: &Server, token: &str, last_event_id: Option<i64>, take: usize) -> Vec<(i64, Value)> {
    let mut req = s.http.get(format!("{}/api/events/stream?type=ticket.created", s.base)).bearer_auth(token);
    if let Some(id) = last_event_id {
        req = req.header("last-event-id", id.to_string());
    }
    let res = req.send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let mut stream = res.bytes_stream();
    let mut buffer = String::new();
    let mut out = Vec::new();
    while out.len() < take {
        let chunk = tokio::time::timeout(Duration::from_secs(20), stream.next())
            .await
            .expect("an event arrives")
            .expect("the stream stays open")
            .unwrap();
        buffer.push_str(std::str::from_utf8(&chunk).unwrap());
        while let Some(end) = buffer.find("\n\n") {
            let frame: String = buffer.drain(..end + 2).collect();
            let id = frame.lines().find_map(|l| l.strip_prefix("id:")).map(|v| v.trim().parse::<i64>().unwrap());
            let data =
                frame.lines().find_map(|l| l.strip_prefix("data:")).map(|v| serde_json::from_str(v.trim()).unwrap());
            if let (Some(id), Some(data)) = (id, data) {
                out.push((id, data));
                if out.len() == take {
                    break;
                }
            }
        }
    }
    out
}

#[tokio::test]
async fn sse_resumes_after_fifty_disconnects_without_gaps_or_duplicates() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(&dir.path().join("db.sqlite"), None).await;
    let alice = s.login("alice").await;
    const N: usize = 150;
    // Events keep coming while the subscriber drops and reconnects.
    let writer = {
        let (base, token) = (s.base.clone(), alice.clone());
        tokio::spawn(async move {
            let client = reqwest::Client::new();
            for n in 0..N {
                let res = client
                    .post(format!("{base}/api/tickets"))
                    .bearer_auth(&token)
                    .json(&json!({"title": format!("t{n}"), "category": "Software"}))
                    .send()
                    .await
                    .unwrap();
                assert!(res.status().is_success());
            }
        })
    };
    let mut seen: Vec<(i64, Value)> = Vec::new();
    let mut last = Some(0);
    for _ in 0..50 {
        let got = read_sse(&s, &alice, last, 3).await; // then drop the connection
        last = Some(got.last().unwrap().0);
        seen.extend(got);
    }
    let rest = read_sse(&s, &alice, last, N - seen.len()).await;
    seen.extend(rest);
    writer.await.unwrap();
    let titles: Vec<String> = seen.iter().map(|(_, e)| e["data"]["title"].as_str().unwrap().to_owned()).collect();
    let unique: HashSet<&String> = titles.iter().collect();
    assert_eq!(unique.len(), titles.len(), "0 duplicated");
    assert_eq!(titles.len(), N, "0 missed");
    let ids: Vec<i64> = seen.iter().map(|(id, _)| *id).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "in log order");
    assert!(seen.iter().all(|(id, e)| e["sequence"] == *id), "the SSE id is the log position");
}

/// Reads SSE frames until `until` holds for the frames so far; `None` when the stream ends first.
async fn sse_frames(res: reqwest::Response, until: impl Fn(&[String]) -> bool) -> Option<Vec<String>> {
    let mut stream = res.bytes_stream();
    let (mut buffer, mut frames) = (String::new(), Vec::new());
    loop {
        let chunk = tokio::time::timeout(Duration::from_secs(20), stream.next()).await.expect("a frame or the end");
        let chunk = chunk?;
        buffer.push_str(std::str::from_utf8(&chunk.unwrap()).unwrap());
        while let Some(end) = buffer.find("\n\n") {
            frames.push(buffer.drain(..end + 2).collect());
            if until(&frames) {
                return Some(frames);
            }
        }
    }
}

#[tokio::test]
async fn a_quiet_stream_resumes_from_where_it_began_and_shutdown_ends_streams() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(&dir.path().join("db.sqlite"), None).await;
    let alice = s.login("alice").await;
    s.create(&alice, "before the subscription", "Software").await;
    let head = s.state.store.head().await.unwrap();

    // The first frame is the starting position alone: a client that sees no event before it
    // drops still knows where to resume.
    let res = s.http.get(format!("{}/api/events/stream", s.base)).bearer_auth(&alice).send().await.unwrap();
    let frames = sse_frames(res, |f| !f.is_empty()).await.unwrap();
    let id = frames[0].lines().find_map(|l| l.strip_prefix("id:")).map(|v| v.trim().parse::<i64>().unwrap());
    assert_eq!(id, Some(head), "{frames:?}");
    assert!(!frames[0].contains("data:"), "{frames:?}");

    // Dropped; events happen; resuming from that id delivers them and nothing earlier.
    s.create(&alice, "while away", "Software").await;
    let res = s
        .http
        .get(format!("{}/api/events/stream?type=ticket.created", s.base))
        .bearer_auth(&alice)
        .header("last-event-id", head.to_string())
        .send()
        .await
        .unwrap();
    let frames = sse_frames(res, |f| f.iter().any(|x| x.contains("data:"))).await.unwrap();
    let data: Vec<&String> = frames.iter().filter(|f| f.contains("data:")).collect();
    assert_eq!(data.len(), 1);
    assert!(data[0].contains("while away") && !data[0].contains("before the subscription"));

    // Shutting down ends every live stream (a graceful shutdown would otherwise wait forever).
    let res = s.http.get(format!("{}/api/events/stream", s.base)).bearer_auth(&alice).send().await.unwrap();
    let reader = tokio::spawn(sse_frames(res, |_| false));
    tokio::time::sleep(Duration::from_millis(100)).await;
    s.state.fanout.close();
    assert!(reader.await.unwrap().is_none(), "the stream ended");
}

#[tokio::test]
async fn sse_crosses_instances_through_redis() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db.sqlite");
    let prefix = unique("sse");
    let a = start(&db, Some(&prefix)).await;
    let b = start(&db, Some(&prefix)).await;
    let (ta, tb) = (a.login("alice").await, b.login("bob").await);
    let subscriber = {
        let head = b.state.store.head().await.unwrap();
        let b_base = b.base.clone();
        let tb = tb.clone();
        tokio::spawn(async move {
            let s = Server { base: b_base, state: b.state.clone(), http: reqwest::Client::new() };
            read_sse(&s, &tb, Some(head), 5).await
        })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    for n in 0..5 {
        a.create(&ta, &format!("from instance A {n}"), "Software").await;
    }
    let got = subscriber.await.unwrap();
    let titles: Vec<&str> = got.iter().map(|(_, e)| e["data"]["title"].as_str().unwrap()).collect();
    assert_eq!(
        titles,
        ["from instance A 0", "from instance A 1", "from instance A 2", "from instance A 3", "from instance A 4"]
    );
}

#[tokio::test]
async fn replaying_the_log_rebuilds_identical_projections() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(&dir.path().join("db.sqlite"), None).await;
    let (maria, rita) = (s.login("maria").await, s.login("rita").await);
    for n in 0..20 {
        let created = s.create(&rita, &format!("urgent {n}"), if n % 2 == 0 { "Hardware" } else { "Other" }).await;
        let id = created["ticket"]["id"].as_str().unwrap().to_owned();
        s.send("POST", &format!("/api/tickets/{id}/comments"), Some(&maria), Some(json!({"body": "looking"}))).await;
        // Moves that change who carries how many open tickets: the load projection must follow.
        let step = async |path: &str, body: Value| {
            let (status, answer) = s.send("POST", &format!("/api/tickets/{id}/{path}"), Some(&maria), Some(body)).await;
            assert_eq!(status, StatusCode::OK, "{path}: {answer}");
        };
        if n % 3 == 0 {
            step("approve", json!({})).await;
            step("transition", json!({"to": "InProgress"})).await;
            if n % 6 == 0 {
                step("transition", json!({"to": "Resolved"})).await;
                if n % 12 == 0 {
                    // Reopened: open again, for the same assignee.
                    step("transition", json!({"to": "InProgress"})).await;
                }
            }
        } else if n % 5 == 1 {
            step("reject", json!({"reason": "duplicate"})).await;
        } else if n % 4 == 2 {
            step("assign", json!({"assignee": "u-bob"})).await;
        }
    }
    let events = s.state.store.events(&EventQuery { limit: 10_000, ..Default::default() }).await.unwrap();
    let mut folded: BTreeMap<String, Option<TicketState>> = BTreeMap::new();
    for e in &events {
        // Not ticket streams: rule sets, rule modules, compliance reports.
        if [RULESET_STREAM, MODULES_STREAM, REPORTS_STREAM, USERS_STREAM].contains(&e.stream.as_str()) {
            continue;
        }
        let slot = folded.entry(e.stream.clone()).or_default();
        *slot = TicketState::apply(slot.take(), &e.stream, e.time, &e.payload);
    }
    assert_eq!(folded.len(), 20);
    let mut load: HashMap<String, u32> = HashMap::new();
    for (id, state) in folded {
        assert_eq!(s.state.store.ticket(&id).await.unwrap(), state, "ticket {id}");
        if let Some(TicketState { assignee: Some(a), status, .. }) = state
            && !status.is_final()
        {
            *load.entry(a).or_default() += 1;
        }
    }
    assert!(load.len() >= 2, "the moves above leave several people with open tickets: {load:?}");
    assert_eq!(s.state.store.open_ticket_counts().await.unwrap(), load);
    // The read each decision makes: every user, with the same counts (0 for nobody's tickets).
    let users = s.state.store.users_with_load().await.unwrap();
    assert_eq!(users.len(), s.state.store.users().await.unwrap().len());
    for (user, open) in &users {
        assert_eq!(*open, load.get(&user.id).copied().unwrap_or(0), "user {}", user.id);
    }

    // A database from before that projection existed: opening it builds it from the tickets.
    let path = dir.path().join("db.sqlite");
    let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}", path.display())).await.unwrap();
    sqlx::query("DROP TABLE open_by_assignee").execute(&mut conn).await.unwrap();
    drop(conn);
    let reopened = host_server::store::sqlite::SqliteStore::open(&path).await.unwrap();
    assert_eq!(reopened.open_ticket_counts().await.unwrap(), load);
}

/// Waits (polling; no timing is asserted) until the host has a warm copy of `module` for
/// rule-set `version`.
async fn prepared(s: &Server, module: &str, version: u64) {
    for _ in 0..600 {
        if s.state.rules.prepared() == Some((module.to_owned(), version)) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no warm copy of {module} for rule set {version}: {:?}", s.state.rules.prepared());
}

fn warm_calls(metrics: &str) -> f64 {
    metrics
        .lines()
        .find(|l| l.starts_with(r#"nixflow_rule_calls_total{op="evaluate",start="warm"}"#))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
        .unwrap_or(0.0)
}

#[tokio::test]
async fn calls_start_warm_with_the_active_rule_set_and_follow_a_publication() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(&dir.path().join("db.sqlite"), None).await;
    let (maria, rita) = (s.login("maria").await, s.login("rita").await);
    let sha = s.state.rules.active().sha256().to_owned();
    prepared(&s, &sha, 1).await;
    let before = warm_calls(&s.http.get(format!("{}/metrics", s.base)).send().await.unwrap().text().await.unwrap());
    let t = s.create(&rita, "urgent: the printer is down", "Hardware").await;
    assert_eq!(t["ticket"]["priority"], "Critical");
    let after = warm_calls(&s.http.get(format!("{}/metrics", s.base)).send().await.unwrap().text().await.unwrap());
    assert!(after >= before + 1.0, "the create ran on the warm copy ({before} -> {after})");

    // A new version: decisions follow it at once (the old copy misses its cache and compiles
    // the new rules), and the host warms a copy for it.
    let (_, active) = s.send("GET", "/api/rules/active", Some(&rita), None).await;
    let mut draft = active["rule_set"].clone();
    draft["prioritization"]
        .as_array_mut()
        .unwrap()
        .push(json!({"id": "printer", "keywords": ["printer"], "priority": "Low"}));
    let (status, published) = s.send("POST", "/api/rules", Some(&maria), Some(draft)).await;
    assert_eq!(status, StatusCode::CREATED, "{published}");
    let t = s.create(&rita, "printer jammed", "Hardware").await;
    assert_eq!((t["ticket"]["priority"].as_str(), t["ticket"]["rule_set_version"].as_u64()), (Some("Low"), Some(2)));
    prepared(&s, &sha, 2).await;
    let t = s.create(&rita, "printer jammed again", "Hardware").await;
    assert_eq!((t["ticket"]["priority"].as_str(), t["ticket"]["rule_set_version"].as_u64()), (Some("Low"), Some(2)));
}

#[tokio::test]
async fn rule_sets_publish_validate_and_preview() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(&dir.path().join("db.sqlite"), None).await;
    let (maria, rita) = (s.login("maria").await, s.login("rita").await);
    let (_, active) = s.send("GET", "/api/rules/active", Some(&rita), None).await;
    assert_eq!(active["version"], 1);
    let mut draft = active["rule_set"].clone();
    draft["prioritization"][0]["priority"] = json!("P9");
    let (status, err) = s.send("POST", "/api/rules/validate", Some(&maria), Some(draft.clone())).await;
    assert_eq!((status.as_u16(), err["code"].as_str()), (422, Some("invalid_rule_set")));
    assert_eq!(err["details"][0]["rule"], "urgent");
    let (status, _) = s.send("POST", "/api/rules", Some(&maria), Some(draft.clone())).await;
    assert_eq!(status.as_u16(), 422, "an invalid rule set is never published");

    // Preview a draft ticket with the active rules: nothing stored, no turn consumed.
    let head = s.state.store.head().await.unwrap();
    let (status, preview) = s
        .send(
            "POST",
            "/api/rules/preview",
            Some(&rita),
            Some(json!({"ticket": {"title": "printer is broken", "category": "Hardware"}})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{preview}");
    assert_eq!(preview["evaluation"]["prioritization"]["priority"], "Medium");
    assert_eq!(preview["evaluation"]["assignment"]["assignee"], "u-hana");
    assert_eq!(s.state.store.head().await.unwrap(), head);

    draft["prioritization"][0]["priority"] = json!("High");
    draft["prioritization"]
        .as_array_mut()
        .unwrap()
        .push(json!({"id": "broken", "keywords": ["broken"], "priority": "Low"}));
    let (status, published) = s.send("POST", "/api/rules", Some(&maria), Some(draft)).await;
    assert_eq!(status, StatusCode::CREATED, "{published}");
    assert_eq!(published["version"], 2);
    let (_, preview) = s
        .send(
            "POST",
            "/api/rules/preview",
            Some(&rita),
            Some(json!({"ticket": {"title": "printer is broken", "category": "Hardware"}})),
        )
        .await;
    assert_eq!(preview["evaluation"]["prioritization"]["priority"], "Low", "the new version decides");
    assert_eq!(preview["rule_set_version"], 2);
    let t = s.create(&rita, "printer is broken", "Hardware").await;
    assert_eq!(t["ticket"]["rule_set_version"], 2);
    assert_eq!(t["ticket"]["assignee"], "u-hana", "the preview projected the next turn");

    let (_, ctx) = s.send("GET", "/api/rules/preview-context", Some(&rita), None).await;
    assert_eq!(ctx["rule_set_version"], 2);
    assert_eq!(ctx["counters"]["Hardware Engineer"], 1);
    assert_eq!(ctx["roles"]["Engineer"].as_array().unwrap().len(), 2);
    assert_eq!(ctx["module_sha256"], s.state.rules.active().sha256());
}

#[tokio::test]
async fn operations_surface() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(&dir.path().join("db.sqlite"), Some(&unique("ops"))).await;
    let (status, health) = s.send("GET", "/healthz", None, None).await;
    assert_eq!((status, health["status"].as_str()), (StatusCode::OK, Some("ok")));
    let (status, ready) = s.send("GET", "/readyz", None, None).await;
    assert_eq!(status, StatusCode::OK, "{ready}");
    assert_eq!(ready["database"], "ok", "reads and the writer thread answer: {ready}");
    assert_eq!(ready["counters"]["kind"], "redis");
    assert_eq!(ready["rule_module"]["sha256"], s.state.rules.active().sha256());
    let alice = s.login("alice").await;
    s.create(&alice, "metrics please", "Hardware").await;
    let metrics = s.http.get(format!("{}/metrics", s.base)).send().await.unwrap().text().await.unwrap();
    for name in [
        "nixflow_http_request_duration_seconds_bucket",
        "nixflow_events_appended_total",
        "nixflow_rule_evaluation_seconds_bucket",
        "nixflow_rule_evaluation_fuel_bucket",
        "nixflow_assignments_total",
    ] {
        assert!(metrics.contains(name), "{name} missing from /metrics");
    }
    // The OpenAPI document comes from the route table: every documented path is served.
    let (_, doc) = s.send("GET", "/api/openapi.json", None, None).await;
    assert_eq!(doc["openapi"].as_str().map(|v| v.starts_with("3.")), Some(true));
    let paths = doc["paths"].as_object().unwrap();
    assert!(paths.len() >= 20, "{}", paths.len());
    for (path, ops) in paths {
        for method in ops.as_object().unwrap().keys() {
            let concrete = path.replace("{id}", "00000000-0000-0000-0000-000000000000");
            let res = s
                .http
                .request(method.to_uppercase().parse().unwrap(), format!("{}{concrete}", s.base))
                .send()
                .await
                .unwrap();
            let body: Value = res.json().await.unwrap_or(Value::Null);
            assert_ne!(body["message"], "route not found", "{method} {path} is documented but not served");
        }
    }
}

#[tokio::test]
async fn user_admin_changes_who_round_robin_picks_and_is_audited() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(&dir.path().join("db.sqlite"), None).await;
    let (ada, maria, alice, rita) =
        (s.login("ada").await, s.login("maria").await, s.login("alice").await, s.login("rita").await);
    let carl = json!({"username": "carl", "name": "Carl Coder", "password": "correct horse", "permission": "agent",
                      "team_roles": ["Engineer"]});
    let (status, _) = s.send("POST", "/api/users", Some(&maria), Some(carl.clone())).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "only admins create accounts");
    let (status, created) = s.send("POST", "/api/users", Some(&ada), Some(carl.clone())).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert!(created.get("password_hash").is_none() && created.get("password").is_none());
    let carl_id = created["id"].as_str().unwrap().to_owned();
    let (status, body) = s.send("POST", "/api/users", Some(&ada), Some(carl)).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("username_taken")));
    let (status, body) = s
        .send(
            "POST",
            "/api/users",
            Some(&ada),
            Some(json!({"username": "Bad Name", "name": "", "password": "short", "permission": "agent"})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["details"].as_array().unwrap().len(), 3, "every bad field named: {body}");
    let (status, _) =
        s.send("POST", "/api/auth/login", None, Some(json!({"username": "carl", "password": "correct horse"}))).await;
    assert_eq!(status, StatusCode::OK, "the new account logs in with its password");

    // A manager takes Alice off the rotation; only admins change roles; requesters nothing.
    let (status, _) = s.send("PATCH", "/api/users/u-alice", Some(&rita), Some(json!({"available": false}))).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = s.send("PATCH", "/api/users/u-alice", Some(&maria), Some(json!({"team_roles": []}))).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, body) =
        s.send("PATCH", "/api/users/u-alice", Some(&maria), Some(json!({"available": false, "nickname": "al"}))).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "unknown fields: {body}");
    let (status, body) = s.send("PATCH", "/api/users/u-alice", Some(&maria), Some(json!({"available": false}))).await;
    assert_eq!((status, &body["available"]), (StatusCode::OK, &json!(false)), "{body}");
    let (status, _) = s.send("PATCH", "/api/users/u-nobody", Some(&maria), Some(json!({"available": false}))).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let mut picked = Vec::new();
    for n in 0..6 {
        let t = s.create(&rita, &format!("deploy {n}"), "ProductionChange").await;
        picked.push(t["ticket"]["assignee"].as_str().unwrap().to_owned());
    }
    assert!(!picked.contains(&"u-alice".to_owned()), "{picked:?}");
    assert!(picked.contains(&"u-bob".to_owned()) && picked.contains(&carl_id), "{picked:?}");
    // A cap of one open ticket takes Bob out once he holds one; `null` lifts it.
    let (status, _) = s.send("PATCH", "/api/users/u-bob", Some(&maria), Some(json!({"max_open_tickets": 1}))).await;
    assert_eq!(status, StatusCode::OK);
    for n in 0..3 {
        let t = s.create(&rita, &format!("release {n}"), "ProductionChange").await;
        assert_eq!(t["ticket"]["assignee"], carl_id.as_str(), "Bob is at his cap");
    }
    let (status, body) =
        s.send("PATCH", "/api/users/u-bob", Some(&maria), Some(json!({"max_open_tickets": null}))).await;
    assert_eq!((status, &body["max_open_tickets"]), (StatusCode::OK, &Value::Null));
    let (status, users) = s.send("GET", "/api/users", Some(&alice), None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(users.as_array().unwrap().iter().any(|u| u["username"] == "carl"));

    // The log is the audit trail, without password hashes.
    let events = s
        .state
        .store
        .events(&EventQuery {
            stream: Some(host_server::domain::USERS_STREAM.into()),
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    let kinds: Vec<(&str, &str)> = events.iter().map(|e| (e.payload.kind(), e.actor.as_str())).collect();
    assert_eq!(
        kinds,
        [
            ("user.created", "u-ada"),
            ("user.updated", "u-maria"),
            ("user.updated", "u-maria"),
            ("user.updated", "u-maria")
        ]
    );
    let text = serde_json::to_string(&events.iter().map(|e| e.to_cloud_event()).collect::<Vec<_>>()).unwrap();
    assert!(!text.contains("argon2"), "no password hash in the log");
    assert_eq!(events[1].to_cloud_event()["data"]["changes"], json!({"available": false}));
    assert_eq!(events[3].to_cloud_event()["data"]["changes"], json!({"max_open_tickets": null}));
}
