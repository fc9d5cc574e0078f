//! WebAssembly SIMD helpers for the rule modules' byte scans. Natively the scans stay eight
//! bytes a step in `u64` words (rules-core has no `unsafe`, and `std::arch`'s x86 intrinsics
//! need it); in a module built with `simd128`, every round of a loop also pays Wasmtime's
//! fuel and epoch checks, so sixteen bytes a round halves what the scan costs there.

use core::arch::wasm32::{u64x2, v128};

/// Sixteen bytes as a vector (one `v128.load`).
#[inline(always)]
pub(crate) fn load(bytes: &[u8; 16]) -> v128 {
    let (low, high) = bytes.split_at(8);
    let half = |b: &[u8]| b.first_chunk::<8>().map_or(0, |b| u64::from_le_bytes(*b));
    u64x2(half(low), half(high))
}
