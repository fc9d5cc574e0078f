//! Rule modules as untrusted code: every upload rejection with its reason, hostile modules
//! (written as `.wat`) contained at run time, activation, rollback, swap under load, and
//! activation across instances. Real SQLite, real Redis, the real built-in module.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::{Server, module_path, start, unique};
use host_server::domain::EventPayload;
use host_server::store::EventQuery;
use reqwest::StatusCode;
use serde_json::{Value, json};

/// A module that speaks the host ABI in a few lines of WAT. `answer` is what `nixflow_call`
/// returns; `body` runs first; `extra` adds fields (first, so imports may be among them);
/// `memory` declares the memory.
fn abi_module(abi: u32, answer: &str, body: &str, extra: &str, memory: &str) -> Vec<u8> {
    let escaped = answer.replace('\\', "\\\\").replace('"', "\\\"");
    let text = format!(
        r#"(module
          {extra}
          {memory}
          (func (export "nixflow_abi_version") (result i32) (i32.const {abi}))
          (func (export "nixflow_alloc") (param i32) (result i32) (i32.const 4096))
          (func (export "nixflow_free") (param i32 i32))
          (data (i32.const 16) "{escaped}")
          (func (export "nixflow_call") (param i32 i32) (result i64)
            {body}
            (i64.or (i64.shl (i64.const 16) (i64.const 32)) (i64.const {len}))))"#,
        len = answer.len(),
    );
    wat::parse_str(&text).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

/// A module whose `nixflow_call` answers `len` bytes at `ptr`, whatever lies there: `data` places
/// bytes (WAT), for answers [`abi_module`] cannot write (out of bounds, not UTF-8).
fn answering_at(ptr: u32, len: u32, data: &str) -> Vec<u8> {
    abi_module(
        1,
        "",
        &format!("(return (i64.or (i64.shl (i64.const {ptr}) (i64.const 32)) (i64.const {len})))"),
        data,
        MEMORY,
    )
}

const MEMORY: &str = r#"(memory (export "memory") 2)"#;
const REFUSAL: &str = r#"{"type":"failure","errors":[]}"#;

fn simple(body: &str, extra: &str) -> Vec<u8> {
    abi_module(1, REFUSAL, body, extra, MEMORY)
}

/// The built-in module with a custom section: other bytes (another sha256), same behaviour.
fn variant(bytes: &[u8], tag: &str) -> Vec<u8> {
    let name = b"nixflow-variant";
    let mut section = vec![name.len() as u8];
    section.extend_from_slice(name);
    section.extend_from_slice(tag.as_bytes());
    let mut out = bytes.to_vec();
    out.push(0);
    out.push(section.len() as u8);
    out.extend_from_slice(&section);
    out
}

async fn upload(s: &Server, token: &str, bytes: Vec<u8>) -> (StatusCode, Value) {
    let res = s
        .http
        .post(format!("{}/api/rules/modules", s.base))
        .bearer_auth(token)
        .header("content-type", "application/wasm")
        .body(bytes)
        .send()
        .await
        .unwrap();
    let status = res.status();
    (status, res.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn every_rejection_names_its_check_and_reason() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(&dir.path().join("db.sqlite"), None).await;
    let ada = s.login("ada").await;
    let cases: Vec<(&str, Vec<u8>, &str, &str)> = vec![
        ("garbage", b"hello, world".to_vec(), "format", "not a WebAssembly binary"),
        ("a precompiled artifact (ELF)", b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0".to_vec(), "format", "precompiled"),
        ("WAT text", b"(module)".to_vec(), "format", "not a WebAssembly binary"),
        ("a truncated binary", b"\0asm\x01\0\0\0\x01\x05".to_vec(), "validation", "does not compile"),
        (
            "a WASI import",
            simple("", r#"(import "wasi_snapshot_preview1" "fd_write" (func (param i32 i32 i32 i32) (result i32)))"#),
            "imports",
            "wasi_snapshot_preview1::fd_write",
        ),
        ("an unknown host function", simple("", r#"(import "env" "now" (func (result i64)))"#), "imports", "env::now"),
        (
            "relaxed SIMD",
            simple("", "(func (result v128) (i8x16.relaxed_swizzle (v128.const i64x2 0 0) (v128.const i64x2 0 0)))"),
            "validation",
            "does not compile",
        ),
        (
            "threads (shared memory)",
            abi_module(1, REFUSAL, "", "", r#"(memory (export "memory") 2 2 shared)"#),
            "validation",
            "does not compile",
        ),
        ("two memories", simple("", "(memory 1)"), "validation", "does not compile"),
        ("reference types (externref)", simple("", "(table 1 externref)"), "validation", "does not compile"),
        (
            "a memory maximum over the cap",
            abi_module(1, REFUSAL, "", "", r#"(memory (export "memory") 2 65536)"#),
            "memory",
            "maximum of 65536 pages",
        ),
        ("an unsupported ABI version", abi_module(99, REFUSAL, "", "", MEMORY), "abi_version", "ABI version 99"),
        (
            "an infinite loop in start",
            simple("", "(func $spin (loop $l (br $l))) (start $spin)"),
            "instantiation",
            "fuel|time limit",
        ),
        ("an infinite loop in a call", simple("(loop $l (br $l))", ""), "conformance", "fuel|time limit"),
        (
            "a memory bomb",
            simple(
                "(loop $l (if (i32.eq (memory.grow (i32.const 64)) (i32.const -1)) (then unreachable)) (br $l))",
                "",
            ),
            "conformance",
            "trapped",
        ),
        (
            "infinite recursion",
            simple(
                "(drop (call $r (i32.const 0)))",
                "(func $r (param i32) (result i32) (call $r (i32.add (local.get 0) (i32.const 1))))",
            ),
            "conformance",
            "trapped",
        ),
        ("garbage output", abi_module(1, "this is not JSON", "", "", MEMORY), "conformance", "not JSON"),
        (
            "an answer past the end of memory",
            answering_at(131_000, 100, ""),
            "conformance",
            "answer out of bounds: 100 bytes at 131000 in 131072 bytes of memory",
        ),
        (
            "an answer that is not UTF-8",
            answering_at(16, 31, r#"(data (i32.const 16) "{\"type\":\"failure\",\"errors\":[\ff]}")"#),
            "conformance",
            "answer is not UTF-8",
        ),
        ("the wrong envelope", abi_module(1, r#"{"ok":true}"#, "", "", MEMORY), "conformance", "neither a success"),
    ];
    for (what, bytes, check, reason) in cases {
        let (status, body) = upload(&s, &ada, bytes).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{what}: {body}");
        assert_eq!(body["code"], "module_rejected", "{what}: {body}");
        assert_eq!(body["details"][0]["check"], check, "{what}: {body}");
        let message = body["message"].as_str().unwrap();
        assert!(reason.split('|').any(|r| message.contains(r)), "{what}: {body}");
    }
    let (status, body) = upload(&s, &ada, vec![0; host_server::registry::MAX_MODULE_BYTES + 1]).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    // Nothing rejected was stored or announced.
    assert_eq!(s.state.store.modules().await.unwrap().len(), 1, "only the built-in module");
    let query = EventQuery { types: vec!["rules.module_uploaded".into()], limit: 100, ..Default::default() };
    assert_eq!(s.state.store.events(&query).await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_hostile_active_module_fails_one_evaluation_and_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(&dir.path().join("db.sqlite"), None).await;
    let rita = s.login("rita").await;
    for (what, bytes, says) in [
        // Whichever limit comes first: the fuel, or the wall-clock backstop on a busy machine.
        ("an infinite loop", simple("(loop $l (br $l))", ""), &["fuel", "time limit"][..]),
        ("garbage output", abi_module(1, "this is not JSON", "", "", MEMORY), &["not JSON"]),
        // A success of the wrong shape: no `module_info` ops either, so the host takes the path
        // for modules without `counter_needed` (an `evaluate` first) and cannot read its answer.
        (
            "a success that is no evaluation",
            abi_module(1, r#"{"type":"success","op":"evaluate","answer":{"rule_set_version":1}}"#, "", "", MEMORY),
            &["unreadable evaluation"],
        ),
        (
            "infinite recursion",
            simple(
                "(drop (call $r (i32.const 0)))",
                "(func $r (param i32) (result i32) (call $r (i32.add (local.get 0) (i32.const 1))))",
            ),
            &["trapped"],
        ),
    ] {
        // Activated behind the registry's back: a module that passed conformance but misbehaves
        // on production input looks like this to the host.
        s.state.rules.activate(s.state.rules.compile(&bytes).unwrap());
        let probes = tokio::spawn({
            let (http, base) = (s.http.clone(), s.base.clone());
            async move {
                let mut ok = 0;
                for _ in 0..20 {
                    if http.get(format!("{base}/healthz")).send().await.is_ok_and(|r| r.status().is_success()) {
                        ok += 1;
                    }
                }
                ok
            }
        });
        let titles: Vec<String> = (0..4).map(|i| format!("{what} {i}")).collect();
        let created = futures_util::future::join_all(titles.iter().map(|t| s.create(&rita, t, "Hardware"))).await;
        assert_eq!(probes.await.unwrap(), 20, "{what}: the server keeps serving");
        for c in created {
            let error = c["automation_error"].as_str().unwrap_or_default();
            assert!(says.iter().any(|s| error.contains(s)), "{what}: the reason says one of {says:?}: {c}");
            let kinds: Vec<&str> =
                c["events"].as_array().unwrap().iter().map(|e| e["type"].as_str().unwrap()).collect();
            assert_eq!(kinds, ["ticket.created", "automation.rule_evaluation_failed"], "{what}: the ticket is stored");
        }
    }
}

#[tokio::test]
async fn upload_activate_rollback_and_the_log_says_which_module_decided() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(&dir.path().join("db.sqlite"), None).await;
    let (ada, maria, alice, rita) =
        (s.login("ada").await, s.login("maria").await, s.login("alice").await, s.login("rita").await);
    let built_in = std::fs::read(module_path()).unwrap();
    let a = s.state.rules.active().sha256().to_owned();
    let b_bytes = variant(&built_in, "b");

    let (status, _) = upload(&s, &maria, b_bytes.clone()).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "managers may not upload");
    let (status, b) = upload(&s, &ada, b_bytes.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{b}");
    let b_sha = b["sha256"].as_str().unwrap().to_owned();
    assert_ne!(b_sha, a);
    assert_eq!((&b["abi_version"], &b["info"]["name"]), (&json!(1), &json!("nixflow-rules")));
    assert!(b["conformance_cases"].as_u64().unwrap() >= 148, "every object request of the corpus: {b}");
    let (status, again) = upload(&s, &ada, b_bytes.clone()).await;
    assert_eq!((status, &again["sha256"]), (StatusCode::OK, &b["sha256"]), "uploading the same bytes again is a no-op");
    assert_eq!(s.state.rules.active().sha256(), a, "uploading does not activate");

    let (status, list) = s.send("GET", "/api/rules/modules", Some(&maria), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["active"], a.as_str());
    assert_eq!(list["modules"].as_array().unwrap().len(), 2);
    assert_eq!(list["modules"][1]["fingerprint"], list["modules"][0]["fingerprint"], "same behaviour, same answers");
    let (status, _) = s.send("GET", "/api/rules/modules", Some(&alice), None).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "agents may not list");

    // The bytes are served as uploaded, immutably.
    let res = s.http.get(format!("{}/api/rules/modules/{b_sha}.wasm", s.base)).bearer_auth(&rita).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["content-type"], "application/wasm");
    assert!(res.headers()["cache-control"].to_str().unwrap().contains("immutable"));
    assert_eq!(res.bytes().await.unwrap().as_ref(), b_bytes.as_slice());

    let (status, _) = s.send("POST", &format!("/api/rules/modules/{b_sha}/activate"), Some(&maria), None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, body) = s.send("POST", &format!("/api/rules/modules/{b_sha}/activate"), Some(&ada), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!((&body["previous"], &body["rollback"]), (&json!(a), &json!(false)));
    assert_eq!(s.state.rules.active().sha256(), b_sha);
    s.create(&rita, "decided by b", "Hardware").await;

    let (status, body) = s.send("POST", "/api/rules/modules/rollback", Some(&ada), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!((&body["sha256"], &body["rollback"]), (&json!(a), &json!(true)));
    assert_eq!(s.state.rules.active().sha256(), a);
    s.create(&rita, "decided by a", "Hardware").await;
    let (status, _) =
        s.send("POST", &format!("/api/rules/modules/{}/activate", "0".repeat(64)), Some(&ada), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Replaying the log: at every position, each automation event names the active module.
    let log = s.state.store.events(&EventQuery { limit: 10_000, ..Default::default() }).await.unwrap();
    let mut active = None;
    let mut checked = 0;
    for e in &log {
        match &e.payload {
            EventPayload::ModuleActivated { sha256, .. } => active = Some(sha256.clone()),
            EventPayload::RuleEvaluated { provenance, .. } | EventPayload::PrioritizationApplied { provenance, .. } => {
                assert_eq!(Some(&provenance.module_sha256), active.as_ref(), "event {}", e.position);
                checked += 1;
            }
            _ => {}
        }
    }
    assert!(checked >= 4, "{checked}");
}

#[tokio::test]
async fn fifty_activations_under_load_fail_no_request_and_reach_the_other_instance() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db.sqlite");
    let prefix = unique("module-swap");
    let s = start(&db, Some(&prefix)).await;
    let other = start(&db, Some(&prefix)).await;
    let (ada, rita) = (s.login("ada").await, s.login("rita").await);
    let a = s.state.rules.active().sha256().to_owned();
    let (status, b) = upload(&s, &ada, variant(&std::fs::read(module_path()).unwrap(), "swap")).await;
    assert_eq!(status, StatusCode::CREATED, "{b}");
    let b = b["sha256"].as_str().unwrap().to_owned();
    // The other instance compiles an upload as soon as it reads of it in the log.
    let started = std::time::Instant::now();
    while other.state.rules.compiled(&b).is_none() {
        assert!(started.elapsed() < std::time::Duration::from_secs(60), "the other instance never compiled the upload");
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }

    let stop = Arc::new(AtomicUsize::new(0));
    let load = {
        let (http, base, rita, stop) = (s.http.clone(), s.base.clone(), rita.clone(), Arc::clone(&stop));
        tokio::spawn(async move {
            let (mut ok, mut failed) = (0, 0);
            while stop.load(Ordering::SeqCst) == 0 {
                let res = http
                    .post(format!("{base}/api/tickets"))
                    .bearer_auth(&rita)
                    .json(&json!({"title": "printer down", "category": "Hardware"}))
                    .send()
                    .await;
                match res {
                    Ok(r) if r.status() == StatusCode::CREATED => {
                        let body: Value = r.json().await.unwrap();
                        if body["automation_error"].is_null() { ok += 1 } else { failed += 1 }
                    }
                    _ => failed += 1,
                }
            }
            (ok, failed)
        })
    };
    for i in 0..50 {
        let target = if i % 2 == 0 { &b } else { &a };
        let (status, body) = s.send("POST", &format!("/api/rules/modules/{target}/activate"), Some(&ada), None).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    stop.store(1, Ordering::SeqCst);
    let (ok, failed) = load.await.unwrap();
    assert_eq!(failed, 0, "0 failed requests ({ok} succeeded)");
    assert!(ok > 0);
    // Every automation event names exactly one of the two modules.
    let query = EventQuery { types: vec!["automation.rule_evaluated".into()], limit: 10_000, ..Default::default() };
    for e in s.state.store.events(&query).await.unwrap() {
        match e.payload {
            EventPayload::RuleEvaluated { provenance, .. } => {
                assert!(provenance.module_sha256 == a || provenance.module_sha256 == b)
            }
            other => panic!("{other:?}"),
        }
    }
    // The other instance follows the log (pub/sub nudges it).
    let (status, _) = s.send("POST", &format!("/api/rules/modules/{b}/activate"), Some(&ada), None).await;
    assert_eq!(status, StatusCode::OK);
    let started = std::time::Instant::now();
    while other.state.rules.active().sha256() != b {
        assert!(started.elapsed() < std::time::Duration::from_secs(30), "the other instance never switched");
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    eprintln!("the other instance switched after {:?}", started.elapsed());
}

#[tokio::test]
async fn swapping_to_the_legacy_module_changes_decisions_visibly_and_rolling_back_restores_them() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(&dir.path().join("db.sqlite"), None).await;
    let (ada, rita) = (s.login("ada").await, s.login("rita").await);
    let legacy = std::fs::read(module_path().with_file_name("nixflow_rules_legacy.wasm")).unwrap();
    let (status, record) = upload(&s, &ada, legacy).await;
    assert_eq!(status, StatusCode::CREATED, "{record}");
    assert_eq!(record["info"]["name"], "nixflow-rules-legacy-substring");
    let (status, list) = s.send("GET", "/api/rules/modules", Some(&ada), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_ne!(
        list["modules"][0]["fingerprint"], list["modules"][1]["fingerprint"],
        "it answers the corpus differently"
    );

    let title = "cannot download the quarterly report";
    let before = s.create(&rita, title, "Software").await;
    assert_eq!(before["ticket"]["priority"], "Medium", "`down` is not a word of `download`");
    let sha = record["sha256"].as_str().unwrap();
    let (status, _) = s.send("POST", &format!("/api/rules/modules/{sha}/activate"), Some(&ada), None).await;
    assert_eq!(status, StatusCode::OK);
    let during = s.create(&rita, title, "Software").await;
    assert_eq!(during["ticket"]["priority"], "Critical", "the legacy module matches `down` inside `download`");
    assert_eq!(during["ticket"]["module_sha256"], sha);
    let (status, _) = s.send("POST", "/api/rules/modules/rollback", Some(&ada), None).await;
    assert_eq!(status, StatusCode::OK);
    let after = s.create(&rita, title, "Software").await;
    assert_eq!(after["ticket"]["priority"], "Medium");
    assert_eq!(after["ticket"]["module_sha256"], before["ticket"]["module_sha256"]);
}
