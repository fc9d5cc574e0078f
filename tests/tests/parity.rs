//! The parity corpus: every vector of `tests/vectors/` answered by native rules-core, the
//! host-abi module in Wasmtime (fresh and reused instances), and the `pkg/` package in Node and in
//! headless Chromium (alone, and calling the server's module through `HostModule`), with
//! byte-identical answers, each containing what its vector expects.

use nixflow_tests::{
    Chromium, ChromiumHostModule, Node, NodeHostModule, Wasmtime, assert_parity, contains, load_vectors,
};
use serde_json::Value;

#[test]
fn corpus_is_large_enough_and_covers_every_op() {
    let vectors = load_vectors();
    assert!(vectors.len() >= 80, "only {} vectors", vectors.len());
    for op in [
        "module_info",
        "validate",
        "evaluate",
        "counter_needed",
        "check_escalations",
        "sla_status",
        "next_wake_up",
        "compliance_report",
    ] {
        let needle = format!("\"op\":\"{op}\"");
        assert!(
            vectors.iter().any(|v| String::from_utf8_lossy(&v.request).contains(&needle)),
            "no vector for op `{op}`"
        );
    }
}

/// The `rule_set` text that most requests carry, and how many carry it.
fn most_used_rule_set(requests: &[Vec<u8>]) -> (String, usize) {
    let mut uses = std::collections::HashMap::<String, usize>::new();
    for request in requests {
        // The exact text, as the codec's cache compares it.
        if let Ok(raw) = serde_json::from_slice::<RuleSetText<'_>>(request) {
            *uses.entry(raw.rule_set.get().to_owned()).or_default() += 1;
        }
    }
    uses.into_iter().max_by_key(|(text, n)| (*n, std::cmp::Reverse(text.clone()))).expect("no request has a rule set")
}

#[derive(serde::Deserialize)]
struct RuleSetText<'a> {
    #[serde(borrow)]
    rule_set: &'a serde_json::value::RawValue,
}

#[test]
fn every_runtime_gives_identical_answers_that_meet_the_expectations() {
    let vectors = load_vectors();
    let names: Vec<String> = vectors.iter().map(|v| v.name.clone()).collect();
    let requests: Vec<Vec<u8>> = vectors.iter().map(|v| v.request.clone()).collect();
    // The server's way: fresh instances of a copy pre-initialized with one rule set. Warm it up
    // with the corpus's most used rule set, so that both paths run: requests that find that rule
    // set compiled already, and requests with another one.
    let (warm_rule_set, uses) = most_used_rule_set(&requests);
    assert!(uses >= 10 && uses < requests.len(), "the warm rule set serves {uses} of {} requests", requests.len());
    let answers = assert_parity(
        &names,
        &requests,
        &mut [
            &mut Wasmtime::new(false),
            &mut Wasmtime::new(true),
            &mut Wasmtime::pre_initialized(&warm_rule_set),
            &mut Node,
            &mut NodeHostModule,
            &mut Chromium,
            &mut ChromiumHostModule,
        ],
    );

    let mut failures = Vec::new();
    for (vector, answer) in vectors.iter().zip(&answers) {
        let answer: Value = match serde_json::from_str(answer) {
            Ok(v) => v,
            Err(e) => {
                failures.push(format!("{}: answer is not JSON ({e}): {answer}", vector.name));
                continue;
            }
        };
        if let Err(diff) = contains(&answer, &vector.expect, "answer") {
            failures.push(format!("{}: {diff}", vector.name));
        }
        // Every answer also reads back as the typed Answer the schema describes.
        if let Err(e) = serde_json::from_value::<rules_core::Answer>(answer) {
            failures.push(format!("{}: answer does not match the Answer type: {e}", vector.name));
        }
    }
    assert!(failures.is_empty(), "{} of {} vectors failed:\n{}", failures.len(), vectors.len(), failures.join("\n"));
}

#[test]
fn successful_requests_match_the_typed_request_schema() {
    // The codec reads a flat wire form; `Request` is the typed form the JSON Schema is made
    // from. Every request the codec accepts must read as a `Request` too, so they cannot drift.
    for vector in load_vectors() {
        let answer: Value = serde_json::from_str(&rules_core::call(&vector.request)).expect("answer is JSON");
        if answer["type"] == "success" {
            let parsed = serde_json::from_slice::<rules_core::Request>(&vector.request);
            assert!(parsed.is_ok(), "{}: accepted by the codec but not a `Request`: {:?}", vector.name, parsed.err());
        }
    }
}
