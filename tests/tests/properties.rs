//! Seeded property tests: generated requests answered identically by every runtime, hostile
//! bytes answered with a structured failure, and invariants of the decisions themselves.

use nixflow_tests::generate::{Rng, garbage, request};
use nixflow_tests::{Native, Node, Runtime, Wasmtime, assert_parity, workload};
use serde_json::{Value, json};

const SEED: u64 = 0x4E49_5846_4C4F_5721; // "NIXFLOW!"

fn generated(seed: u64, count: usize) -> (Vec<String>, Vec<Vec<u8>>) {
    let mut rng = Rng::new(seed);
    let requests: Vec<Vec<u8>> = (0..count).map(|_| serde_json::to_vec(&request(&mut rng)).expect("encode")).collect();
    let names = (0..count).map(|i| format!("generated #{i} (seed {seed:#x})")).collect();
    (names, requests)
}

#[test]
fn ten_thousand_generated_requests_agree_in_native_and_wasmtime() {
    let (names, requests) = generated(SEED, 10_000);
    let answers = assert_parity(&names, &requests, &mut [&mut Wasmtime::new(false)]);
    // The generator must exercise the decisions, not only the error paths.
    let successes = answers.iter().filter(|a| a.starts_with(r#"{"type":"success""#)).count();
    assert!(successes > 7_000, "only {successes} of 10000 generated requests succeeded");
}

/// The rule modules scan texts sixteen bytes a round with WebAssembly SIMD where native code
/// steps through eight-byte words: the reader's scan for a string's end or escape, and the
/// matcher's test for ASCII text (which decides whether a text is case-folded before the
/// search). A byte that needs the reader's attention, or a character that only folding
/// matches, at every position across two rounds, in texts ending at every lane, must be seen
/// alike by both.
#[test]
fn every_position_of_the_wide_scans_agrees_in_native_and_wasmtime() {
    let mut rules = workload::default_rules();
    let Some(prioritization) = rules["prioritization"].as_array_mut() else { panic!("default rules") };
    prioritization.push(json!({"id": "street", "keywords": ["strasse"], "priority": "Critical"}));
    let specials = [("quote", "\""), ("backslash", "\\"), ("newline", "\n"), ("control", "\u{1}"), ("sharp s", "ß")];
    let (mut names, mut requests) = (Vec::new(), Vec::new());
    let mut folded = 0;
    for at in 0..40 {
        for tail in [0, 1, 2, 7, 8, 9, 15, 16, 17] {
            for (label, special) in specials {
                // `straße` matches `strasse` only when the text is folded.
                let text = format!("{}stra{special}e urgent{}", " ".repeat(at), "b".repeat(tail));
                let mut ticket = workload::typical_ticket();
                ticket["description"] = json!(text);
                ticket["title"] = json!(format!("{}{special}", "t".repeat(at)));
                let request = json!({"op": "evaluate", "rule_set": rules, "ticket": ticket, "now": 1_735_689_600_000_i64,
                                     "users": workload::users(), "counters": {"Engineer": 17}});
                names.push(format!("{label} after {at} bytes, {tail} after the keyword"));
                requests.push(serde_json::to_vec(&request).expect("encode"));
                folded += usize::from(label == "sharp s");
            }
            // A raw control character (not escaped): refused where the scan stops.
            let mut ticket = workload::typical_ticket();
            ticket["description"] = json!(format!("{}@@{}", " ".repeat(at), "b".repeat(tail)));
            let request = json!({"op": "evaluate", "rule_set": rules, "ticket": ticket, "now": 1_735_689_600_000_i64,
                                 "users": workload::users(), "counters": {}});
            let text = serde_json::to_string(&request).expect("encode").replace("@@", "\u{1}");
            names.push(format!("a raw control character after {at} bytes, {tail} after it"));
            requests.push(text.into_bytes());
        }
    }
    let answers = assert_parity(&names, &requests, &mut [&mut Wasmtime::new(false)]);
    // The checks can fail: every folded text set Critical by `street`, every raw control
    // character was refused.
    let street =
        answers.iter().filter(|a| a.contains(r#""priority":"Critical","priority_source":"automation""#)).count();
    assert_eq!(street, folded, "answers where `straße` matched `strasse`");
    let refused = answers.iter().filter(|a| a.contains("control character")).count();
    assert_eq!(refused, 40 * 9);
}

/// The codec writes answers with its own writer (`rules_core::write`): its bytes must be
/// exactly serde_json's for the typed answer, on generated requests and on every corpus case
/// (every op, every failure, escapes and Unicode), with the ops seen counted so that the check
/// cannot pass on error answers alone.
#[test]
fn the_codec_writes_exactly_what_serde_json_writes() {
    let (names, mut requests) = generated(SEED ^ 2, 2_000);
    let vectors = nixflow_tests::load_vectors();
    let names: Vec<String> = names.into_iter().chain(vectors.iter().map(|v| v.name.clone())).collect();
    requests.extend(vectors.into_iter().map(|v| v.request));
    let mut codec = rules_core::Codec::new();
    let mut typed = rules_core::Codec::new();
    let mut ops = std::collections::BTreeSet::new();
    let mut failures = 0;
    for (name, request) in names.iter().zip(&requests) {
        let written = codec.call(request);
        let answer = match std::str::from_utf8(request) {
            Ok(text) => typed.answer(text),
            Err(_) => continue,
        };
        match &answer {
            rules_core::Answer::Success(outcome) => {
                ops.insert(serde_json::to_value(outcome).expect("serializable")["op"].to_string());
            }
            rules_core::Answer::Failure { .. } => failures += 1,
        }
        let expected = serde_json::to_string(&answer).expect("serializable");
        assert_eq!(written, expected, "{name}");
    }
    assert_eq!(ops.len(), 8, "ops answered successfully: {ops:?}");
    assert!(failures > 50, "only {failures} failures compared");
}

#[test]
fn one_thousand_generated_requests_agree_in_node() {
    let (names, requests) = generated(SEED ^ 1, 1_000);
    assert_parity(&names, &requests, &mut [&mut Wasmtime::new(true), &mut Node]);
}

#[test]
fn hostile_bytes_get_structured_failures_everywhere() {
    let mut rng = Rng::new(SEED ^ 2);
    let requests: Vec<Vec<u8>> = (0..1_000).map(|_| garbage(&mut rng)).collect();
    let names: Vec<String> = (0..requests.len()).map(|i| format!("garbage #{i}")).collect();
    let answers = assert_parity(&names, &requests, &mut [&mut Wasmtime::new(false)]);
    for (name, answer) in names.iter().zip(&answers) {
        let parsed: Value = serde_json::from_str(answer).unwrap_or_else(|e| panic!("{name}: not JSON: {e}"));
        assert!(parsed["type"] == "failure" || parsed["type"] == "success", "{name}: {answer}");
        assert!(serde_json::from_value::<rules_core::Answer>(parsed).is_ok(), "{name}: not an Answer");
    }
    // Node takes strings, so only the UTF-8 ones can cross into it.
    let (utf8_names, utf8): (Vec<String>, Vec<Vec<u8>>) =
        names.into_iter().zip(requests).filter(|(_, r)| std::str::from_utf8(r).is_ok()).unzip();
    assert!(utf8.len() > 300);
    let node = Node.answer_all(&utf8);
    let native = Native.answer_all(&utf8);
    assert_eq!(node, native, "node and native differ on UTF-8 garbage ({} inputs: {utf8_names:?})", utf8.len());
    // Non-UTF-8 input is refused with its own message.
    let answer = rules_core::call(&[0x7b, 0xff, 0x7d]);
    assert_eq!(
        answer,
        r#"{"type":"failure","errors":[{"code":"invalid_input","message":"input is not UTF-8 (invalid byte at offset 1)"}]}"#
    );
}

/// Decision invariants over generated evaluations, checked on the native answers.
#[test]
fn decisions_keep_their_invariants() {
    let (_, requests) = generated(SEED ^ 3, 5_000);
    let order = |p: &Value| ["Low", "Medium", "High", "Critical"].iter().position(|x| p == *x);
    let mut evaluated = 0;
    let mut classified = 0;
    let mut needing = 0;
    for request in &requests {
        let req: Value = serde_json::from_slice(request).expect("json");
        let answer: Value = serde_json::from_str(&rules_core::call(request)).expect("json");
        if answer["type"] != "success" || req["op"] != "evaluate" {
            continue;
        }
        evaluated += 1;
        let p = &answer["answer"]["prioritization"];
        let before = &req["ticket"]["priority"];
        // Automation never lowers a priority unless the deciding rule opts in.
        if !before.is_null() && order(&p["priority"]) < order(before) {
            let rule = p["rule"].as_str().expect("a rule lowered it");
            let spec = req["rule_set"]["prioritization"]
                .as_array()
                .and_then(|rules| rules.iter().find(|r| r["id"] == rule))
                .expect("rule in set");
            assert_eq!(spec["may_lower"], true, "rule `{rule}` lowered without opting in: {answer}");
        }
        // The lean classification agrees with the full evaluation on unprioritized tickets.
        if before.is_null() {
            let rules = rules_core::RuleSet::from_json(&req["rule_set"].to_string()).expect("valid rule set");
            let t = &req["ticket"];
            let s = |v: &Value| v.as_str().unwrap_or_default().to_owned();
            let c = rules_core::classify(
                &rules,
                &s(&t["title"]),
                &s(&t["description"]),
                &s(&t["category"]),
                &s(&t["requester"]),
            );
            assert_eq!(serde_json::to_value(c.priority).expect("json"), p["priority"], "classify priority: {answer}");
            assert_eq!(serde_json::to_value(&c.rule).expect("json"), p["rule"], "classify rule: {answer}");
            assert_eq!(serde_json::to_value(&c.role).expect("json"), answer["answer"]["assignment"]["role"]);
            classified += 1;
        }
        // An assigned ticket's assignee is one of the eligible members, picked by the counter.
        let a = &answer["answer"]["assignment"];
        if a["outcome"] == "assigned" {
            let eligible = a["eligible"].as_array().expect("eligible");
            let counter = a["counter"].as_u64().expect("counter");
            let slot = (counter.saturating_sub(1) % eligible.len() as u64) as usize;
            assert_eq!(a["assignee"], eligible[slot]);
            let mut sorted = eligible.clone();
            sorted.sort_by(|x, y| x.as_str().cmp(&y.as_str()));
            assert_eq!(&sorted, eligible, "eligible list is not in id order");
        }
        // `counter_needed` names a role exactly when evaluating without counters asks for that
        // role's counter: the server asks it first, then evaluates once.
        let mut without = req.clone();
        without["counters"] = serde_json::json!({});
        let without: Value = serde_json::from_str(&rules_core::call(without.to_string().as_bytes())).expect("json");
        let mut probe = req.clone();
        probe["op"] = "counter_needed".into();
        probe.as_object_mut().expect("object").remove("counters");
        let probe: Value = serde_json::from_str(&rules_core::call(probe.to_string().as_bytes())).expect("json");
        assert_eq!(probe["type"], "success", "{probe}");
        let asks = &without["answer"]["assignment"];
        if asks["outcome"] == "needs_counter" {
            assert_eq!(probe["answer"]["role"], asks["role"], "{probe} vs {without}");
            assert!(probe["answer"]["role"].is_string());
            needing += 1;
        } else {
            assert!(probe["answer"]["role"].is_null(), "{probe} vs {without}");
        }
        // The wake-up is the earliest planned escalation or SLA transition.
        if let Some(wake) = answer["answer"]["next_wake_up"]["at"].as_i64() {
            for e in answer["answer"]["escalations"].as_array().expect("escalations") {
                assert!(wake <= e["due_at"].as_i64().expect("due_at"), "wake-up after an escalation: {answer}");
            }
        }
    }
    assert!(evaluated > 500, "only {evaluated} evaluations to check");
    assert!(classified > 200, "only {classified} classifications to check");
    assert!(needing > 50 && needing < evaluated, "{needing} of {evaluated} evaluations need a counter");
}
