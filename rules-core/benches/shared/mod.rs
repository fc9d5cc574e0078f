//! The body of the native benches (`native.rs` with the server's allocator, `native_system.rs`
//! with the system's): the benchmarks' typical ticket (about 1 KB of text) against the default
//! rule set, JSON in and out included.
//!
//! The request is `typical-request.json`, the bytes `nixflow_tests::workload::evaluate_request`
//! makes for the default rules; a test in `tests/tests/artifacts.rs` holds the two equal.

use criterion::Criterion;

/// Benchmarks a warm codec (`default`) and a fresh one per call (`default-cold`) in `group`.
pub fn evaluate(c: &mut Criterion, group: &str) {
    let request = include_bytes!("../typical-request.json");
    let mut codec = rules_core::Codec::new();
    let answer = codec.call(request);
    assert!(answer.starts_with(r#"{"type":"success","op":"evaluate""#), "{answer}");
    let mut group = c.benchmark_group(group);
    group.bench_function("default", |b| b.iter(|| codec.call(std::hint::black_box(request))));
    group.bench_function("default-cold", |b| b.iter(|| rules_core::call(std::hint::black_box(request))));
    group.finish();
}
