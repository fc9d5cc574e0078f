//! The host ABI, version [`rules_core::ABI_VERSION`]: a module with **no imports**, exporting
//!
//! | export | signature | meaning |
//! |---|---|---|
//! | `memory` | memory | the module's linear memory |
//! | `nixflow_abi_version` | `() -> i32` | the ABI version (1) |
//! | `nixflow_alloc` | `(len: i32) -> i32` | a buffer of `len` bytes; 0 when it cannot |
//! | `nixflow_free` | `(ptr: i32, len: i32)` | frees a buffer from `nixflow_alloc` or `nixflow_call` |
//! | `nixflow_call` | `(ptr: i32, len: i32) -> i64` | answers the request in `[ptr, ptr+len)`; returns `(answer_ptr << 32) \| answer_len` |
//!
//! The host writes the request (codec JSON) into a buffer from `nixflow_alloc`, calls
//! `nixflow_call`, reads the answer, and frees both buffers. The answer is always codec JSON.
//! A return value of 0 means the answer buffer could not be allocated.
#![allow(unsafe_code, reason = "the ABI adapter is the one place that handles raw guest pointers")]

use std::alloc::{Layout, alloc, dealloc};
use std::cell::RefCell;

use rules_core::Codec;

// SAFETY: a host-abi module runs single-threaded (it imports nothing, so no threads).
#[cfg(target_family = "wasm")]
#[global_allocator]
static ALLOCATOR: talc::TalckWasm = unsafe { talc::TalckWasm::new_global() };

thread_local! {
    // One codec per instance, so a reused instance keeps its compiled rule set.
    static CODEC: RefCell<Codec> = RefCell::new(Codec::new());
}

/// The ABI version this module implements.
#[unsafe(no_mangle)]
pub extern "C" fn nixflow_abi_version() -> u32 {
    rules_core::ABI_VERSION
}

/// Allocates `len` bytes for the host to write a request into. Returns 0 on failure.
#[unsafe(no_mangle)]
pub extern "C" fn nixflow_alloc(len: u32) -> u32 {
    let Ok(layout) = Layout::array::<u8>(len as usize) else { return 0 };
    if layout.size() == 0 {
        return 1; // a dangling, never-dereferenced pointer for empty buffers
    }
    // SAFETY: the layout has a non-zero size.
    let ptr = unsafe { alloc(layout) };
    ptr as u32
}

/// Frees a buffer returned by [`nixflow_alloc`] or [`nixflow_call`].
///
/// # Safety
/// `ptr` and `len` must describe exactly one such live buffer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nixflow_free(ptr: u32, len: u32) {
    let Ok(layout) = Layout::array::<u8>(len as usize) else { return };
    if layout.size() == 0 || ptr == 0 {
        return;
    }
    // SAFETY: per the contract, `ptr` came from `alloc` with this very layout.
    unsafe { dealloc(ptr as *mut u8, layout) }
}

/// Answers the request in `[ptr, ptr + len)`.
///
/// # Safety
/// `[ptr, ptr + len)` must be readable memory of this module (a buffer from [`nixflow_alloc`]).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nixflow_call(ptr: u32, len: u32) -> u64 {
    let input: &[u8] = if len == 0 {
        &[]
    } else {
        // SAFETY: per the contract, the host wrote `len` bytes at `ptr`.
        unsafe { std::slice::from_raw_parts(ptr as *const u8, len as usize) }
    };
    let answer = CODEC.with(|codec| match codec.try_borrow_mut() {
        Ok(mut codec) => codec.call(input),
        Err(_) => Codec::new().call(input),
    });
    // A boxed slice has exactly `len` bytes, matching the layout `nixflow_free` will use.
    let answer: Box<[u8]> = answer.into_bytes().into_boxed_slice();
    let answer_len = answer.len() as u64;
    if answer_len == 0 {
        return 0;
    }
    let answer_ptr = Box::into_raw(answer) as *mut u8 as u64;
    (answer_ptr << 32) | answer_len
}
