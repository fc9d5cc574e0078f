//! `native.rs` with the system's allocator (glibc's malloc on Linux) in place of the server's:
//! what the allocator is worth, measured in the same `./x.sh bench` run.

use criterion::{Criterion, criterion_group, criterion_main};

mod shared;

fn evaluate(c: &mut Criterion) {
    shared::evaluate(c, "native-release-system-malloc");
}

criterion_group!(benches, evaluate);
criterion_main!(benches);
