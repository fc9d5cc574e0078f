//! The benchmark's `evaluate` request in a loop, for instruction-count profiles, which a shared
//! machine cannot disturb (wall-clock benchmarks here spread by 2×): natively (warm codec),
//! with `--wasm MODULE` in one reused Wasmtime instance of a host-abi module (its JIT code is
//! counted like any other), or with `--pooled MODULE` as the server calls it: a fresh instance
//! per call, from a pooled engine, of a copy pre-initialized with the rule set.
//!
//! ```sh
//! cargo build --profile ci -p nixflow-tests --example evaluate_loop
//! valgrind --tool=callgrind "$CARGO_TARGET_DIR/ci/examples/evaluate_loop" 2000 [--wasm build/nixflow_rules.wasm]
//! callgrind_annotate --inclusive=yes callgrind.out.*
//! ```
//!
//! Per evaluation = (count at 2,000 iterations − count at 1) / 1,999: the difference cancels
//! start-up, the module's compilation and the first call's rule-set compilation.

use host_server::module::{Limits, RuleModule};

/// The server binary's allocator (`host-server/src/main.rs`), as in the benchmarks.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// One evaluation: request bytes in, answer text out.
type Call = Box<dyn FnMut(&[u8]) -> String>;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let iterations: usize = args.get(1).and_then(|n| n.parse().ok()).unwrap_or(1000);
    let rules = nixflow_tests::workload::default_rules();
    let request = nixflow_tests::workload::evaluate_request(&rules);
    let mut call: Call = match args.get(2).map(String::as_str) {
        Some("--wasm") => {
            let path = args.get(3).expect("--wasm needs a module path");
            let module = RuleModule::from_file(path, Limits::default()).expect("module");
            let mut instance = module.instance().expect("instance");
            Box::new(move |request| instance.call(request).expect("call"))
        }
        Some("--pooled") => {
            // As the server calls a module: a fresh instance per call, from a pooled engine's
            // slots, of a copy pre-initialized with the rule set.
            let path = args.get(3).expect("--pooled needs a module path");
            let limits = Limits::default();
            let bytes = std::fs::read(path).expect("module bytes");
            let engine = host_server::module::pooled_engine(&limits, 4).expect("engine");
            let module = RuleModule::compile(&engine, &bytes, limits).expect("module");
            let warm_up = format!(r#"{{"op":"validate","rule_set":{rules}}}"#);
            let warm = module.pre_initialize(warm_up.as_bytes()).expect("pre-initialize");
            Box::new(move |request| warm.call(request).expect("call"))
        }
        Some(other) => panic!("unknown argument {other}"),
        None => {
            let mut codec = rules_core::Codec::new();
            Box::new(move |request| codec.call(request))
        }
    };
    let mut bytes = 0;
    for _ in 0..iterations {
        bytes += call(std::hint::black_box(&request)).len();
    }
    println!("{iterations} evaluations, {bytes} bytes of answers");
}
