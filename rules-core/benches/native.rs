//! Native evaluation as the product builds and runs it: `./x.sh bench` builds this binary of
//! rules-core alone in the `release` profile (fat LTO, one codegen unit), with the allocator of
//! the server binary (mimalloc, `host-server/src/main.rs`). `native_system.rs` is the same bench
//! with the system's allocator. The `evaluate` bench in `tests/` runs the same request natively
//! beside Wasmtime in a binary that also holds Wasmtime and the server, which the `release`
//! profile would make a very long link.

use criterion::{Criterion, criterion_group, criterion_main};

mod shared;

/// An evaluation allocates about 70 times; with glibc's malloc, allocating and freeing was a
/// fifth of its instructions (BENCHMARKS.md, "Stop 28").
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn evaluate(c: &mut Criterion) {
    shared::evaluate(c, "native-release");
}

criterion_group!(benches, evaluate);
criterion_main!(benches);
