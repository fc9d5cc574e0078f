//! The benchmark's native `evaluate` request in a loop, for instruction-count profiles, which a
//! shared machine cannot disturb (wall-clock benchmarks here spread by 2×):
//!
//! ```sh
//! cargo build --profile ci -p nixflow-tests --example evaluate_loop
//! valgrind --tool=callgrind "$CARGO_TARGET_DIR/ci/examples/evaluate_loop" 2000
//! callgrind_annotate --inclusive=yes callgrind.out.*
//! ```

fn main() {
    let iterations: usize = std::env::args().nth(1).and_then(|n| n.parse().ok()).unwrap_or(1000);
    let rules = nixflow_tests::workload::default_rules();
    let request = nixflow_tests::workload::evaluate_request(&rules);
    let mut codec = rules_core::Codec::new();
    let mut bytes = 0;
    for _ in 0..iterations {
        bytes += codec.call(std::hint::black_box(&request)).len();
    }
    println!("{iterations} evaluations, {bytes} bytes of answers");
}
