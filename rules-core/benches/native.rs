//! Native evaluation of the benchmarks' typical ticket (about 1 KB of text) against the default
//! rule set, JSON in and out included, in a binary of rules-core alone: `./x.sh bench` builds it
//! in the `release` profile (fat LTO, one codegen unit), as native code is built for use. The
//! `evaluate` bench in `tests/` runs the same request natively beside Wasmtime in a binary that
//! also holds Wasmtime and the server, which that profile would make a very long link.
//!
//! The request is `typical-request.json`, the bytes `nixflow_tests::workload::evaluate_request`
//! makes for the default rules; a test in `tests/tests/artifacts.rs` holds the two equal.

use criterion::{Criterion, criterion_group, criterion_main};

fn evaluate(c: &mut Criterion) {
    let request = include_bytes!("typical-request.json");
    let mut codec = rules_core::Codec::new();
    let answer = codec.call(request);
    assert!(answer.starts_with(r#"{"type":"success","op":"evaluate""#), "{answer}");
    let mut group = c.benchmark_group("native-release");
    group.bench_function("default", |b| b.iter(|| codec.call(std::hint::black_box(request))));
    group.bench_function("default-cold", |b| b.iter(|| rules_core::call(std::hint::black_box(request))));
    group.finish();
}

criterion_group!(benches, evaluate);
criterion_main!(benches);
