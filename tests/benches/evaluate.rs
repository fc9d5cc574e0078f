//! Evaluating a typical ticket (about 1 KB of text), JSON in and out included, against the
//! default rule set and a 500-rule set: native rules-core, the host-abi module in Wasmtime with a
//! reused instance, with a fresh instance per call, and with a fresh instance per call of a copy
//! pre-initialized with the rule set, alone and from a pooled engine (as the server runs it). `./x.sh bench` runs it and
//! `tests/bench/report.py` turns criterion's estimates into the table in BENCHMARKS.md.

use criterion::{Criterion, criterion_group, criterion_main};
use host_server::module::{Limits, RuleModule, pooled_engine};
use nixflow_tests::{host_module_path, workload};

/// The server binary's allocator (`host-server/src/main.rs`), for native evaluation and for
/// Wasmtime's host side alike.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn evaluate(c: &mut Criterion) {
    let module = RuleModule::from_file(host_module_path(), Limits::default()).expect("module");
    let limits = Limits::default();
    let bytes = std::fs::read(host_module_path()).expect("module bytes");
    let pooled = RuleModule::compile(&pooled_engine(&limits, 4).expect("engine"), &bytes, limits).expect("module");
    for (name, rules) in [("default", workload::default_rules()), ("500-rules", workload::large_rules())] {
        let request = workload::evaluate_request(&rules);
        let expected = rules_core::call(&request);
        assert!(expected.starts_with(r#"{"type":"success""#), "{expected}");

        let mut group = c.benchmark_group(format!("evaluate/{name}"));
        let mut codec = rules_core::Codec::new();
        group.bench_function("native", |b| b.iter(|| codec.call(std::hint::black_box(&request))));
        group.bench_function("native-cold", |b| b.iter(|| rules_core::call(std::hint::black_box(&request))));
        let mut instance = module.instance().expect("instance");
        assert_eq!(instance.call(&request).expect("call"), expected);
        group.bench_function("wasmtime-reused", |b| b.iter(|| instance.call(std::hint::black_box(&request))));
        group.bench_function("wasmtime-fresh", |b| b.iter(|| module.call(std::hint::black_box(&request))));
        let warm_up = format!(r#"{{"op":"validate","rule_set":{}}}"#, rules);
        let warm = module.pre_initialize(warm_up.as_bytes()).expect("pre-initialize");
        assert_eq!(warm.call(&request).expect("call"), expected);
        group.bench_function("wasmtime-preinit", |b| b.iter(|| warm.call(std::hint::black_box(&request))));
        // As the server runs it: the same copy, its instances from a pooled engine's slots.
        let warm = pooled.pre_initialize(warm_up.as_bytes()).expect("pre-initialize");
        assert_eq!(warm.call(&request).expect("call"), expected);
        group.bench_function("wasmtime-preinit-pooled", |b| b.iter(|| warm.call(std::hint::black_box(&request))));
        group.finish();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(40).measurement_time(std::time::Duration::from_secs(4));
    targets = evaluate
}
criterion_main!(benches);
