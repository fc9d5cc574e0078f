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
static ALLOCATOR: Recycling<talc::TalckWasm> = Recycling::new(unsafe { talc::TalckWasm::new_global() });

/// Small blocks recycled through one free list per size class, in front of the general
/// allocator (talc). An evaluation makes about 80 small allocations (strings of the request,
/// trace entries, decisions) and frees them all; talc spent about 280 instructions on each
/// malloc and 130 on each free, an eighth of a call's instructions in Wasmtime, where a free
/// list pops and pushes in a few (BENCHMARKS.md, "Evaluating a typical ticket", stop 23). No crate
/// offers just this front: wee_alloc and lol_alloc are whole allocators, unmaintained, and
/// slower than talc for what this front hands on.
///
/// Blocks of up to [`LARGEST`] bytes and alignment up to [`ALIGN`] are
/// rounded up to a multiple of 16 and, once freed, kept on their class's list for the next
/// allocation of that class; at most [`KEEP`] bytes per class, the rest go back to talc, so
/// a request that made millions of small strings does not leave the module's memory in pieces
/// for good. Everything else goes to talc directly.
#[cfg_attr(not(target_family = "wasm"), allow(dead_code, reason = "the global allocator of wasm builds only"))]
struct Recycling<A> {
    inner: A,
    lists: std::cell::UnsafeCell<[FreeList; CLASSES]>,
}

#[derive(Clone, Copy)]
struct FreeList {
    /// The first free block (its first word holds the next one's address), or null.
    head: *mut u8,
    /// The bytes of the blocks on the list.
    bytes: usize,
}

// SAFETY: single-threaded, as above: no two calls into the allocator ever overlap.
#[cfg(target_family = "wasm")]
unsafe impl<A: Sync> Sync for Recycling<A> {}

/// The front's size classes: multiples of [`ALIGN`] up to [`LARGEST`] bytes.
const ALIGN: usize = 16;
const LARGEST: usize = 4096;
const CLASSES: usize = LARGEST / ALIGN;
/// At most this many bytes of free blocks are kept per class (16 MiB in all).
const KEEP: usize = 64 << 10;

#[cfg_attr(not(target_family = "wasm"), allow(dead_code, reason = "the global allocator of wasm builds only"))]
impl<A> Recycling<A> {
    const fn new(inner: A) -> Self {
        Self { inner, lists: std::cell::UnsafeCell::new([FreeList { head: std::ptr::null_mut(), bytes: 0 }; CLASSES]) }
    }

    /// The class of a layout this front serves, and the layout its blocks have.
    fn class(layout: Layout) -> Option<(usize, Layout)> {
        if layout.size() == 0 || layout.size() > LARGEST || layout.align() > ALIGN {
            return None;
        }
        let class = (layout.size() - 1) / ALIGN;
        Layout::from_size_align((class + 1) * ALIGN, ALIGN).ok().map(|block| (class, block))
    }
}

// SAFETY: every block handed out is either the inner allocator's, for the caller's layout, or a
// class block (at least as large and as aligned as asked) that is on no list while it is live.
unsafe impl<A: std::alloc::GlobalAlloc> std::alloc::GlobalAlloc for Recycling<A> {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let Some((class, block)) = Self::class(layout) else {
            // SAFETY: forwarded with the caller's guarantees.
            return unsafe { self.inner.alloc(layout) };
        };
        // SAFETY: single-threaded (see `Sync`).
        let list = unsafe { &mut *self.lists.get() }.get_mut(class);
        match list {
            Some(list) if !list.head.is_null() => {
                let ptr = list.head;
                // SAFETY: a listed block is free, 16-aligned and at least 16 bytes; its first word
                // is the next block's address, written by `dealloc`.
                list.head = unsafe { ptr.cast::<*mut u8>().read() };
                list.bytes -= block.size();
                ptr
            }
            // SAFETY: `block` has a non-zero size.
            _ => unsafe { self.inner.alloc(block) },
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        let Some((class, block)) = Self::class(layout) else {
            // SAFETY: forwarded; such a block came from the inner allocator with this layout.
            return unsafe { self.inner.dealloc(ptr, layout) };
        };
        // SAFETY: single-threaded (see `Sync`).
        match unsafe { &mut *self.lists.get() }.get_mut(class) {
            Some(list) if list.bytes < KEEP => {
                // SAFETY: the block is ours again, 16-aligned and at least 16 bytes long.
                unsafe { ptr.cast::<*mut u8>().write(list.head) };
                list.head = ptr;
                list.bytes += block.size();
            }
            // SAFETY: class blocks come from the inner allocator with layout `block`.
            _ => unsafe { self.inner.dealloc(ptr, block) },
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let new_layout = Layout::from_size_align(new_size, layout.align()).ok();
        let old = Self::class(layout);
        match (old, new_layout.and_then(Self::class)) {
            // The block already holds the new size.
            (Some((a, _)), Some((b, _))) if a == b => ptr,
            // SAFETY: both outside the classes: the inner allocator's block, resized by it.
            (None, None) => unsafe { self.inner.realloc(ptr, layout, new_size) },
            _ => {
                let Some(new_layout) = new_layout else { return std::ptr::null_mut() };
                // SAFETY: `new_layout` is valid and non-zero-sized (`new_size > 0` per the contract).
                let new = unsafe { self.alloc(new_layout) };
                if !new.is_null() {
                    // SAFETY: both blocks are live, distinct and at least this long.
                    unsafe {
                        std::ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size));
                        self.dealloc(ptr, layout);
                    }
                }
                new
            }
        }
    }
}

/// `memcmp` for the host module, in place of compiler_builtins' byte-at-a-time loop.
///
/// WebAssembly has no instruction for it, so comparing two strings for order or for equality
/// (a user's roles, a role's members sorted by id, the category routing) is a call to this
/// symbol, and Wasmtime meters each round of that loop: 4.6 k instructions of an `evaluate`
/// (BENCHMARKS.md, "Stop 25"). compiler_builtins defines its `memcmp` weak, so this one is
/// linked instead; natively the platform's stays.
///
/// # Safety
/// `a` and `b` must each point to `n` readable bytes (as every compiler-generated call does).
#[cfg(target_family = "wasm")]
#[unsafe(no_mangle)]
pub unsafe extern "C" fn memcmp(a: *const u8, b: *const u8, n: usize) -> i32 {
    if n == 0 {
        return 0;
    }
    // SAFETY: per the contract, `n > 0` readable bytes at each.
    let (a, b) = unsafe { (std::slice::from_raw_parts(a, n), std::slice::from_raw_parts(b, n)) };
    compare_bytes(a, b)
}

/// `memcmp`'s answer for two slices of equal length: the difference of the first differing
/// bytes, else 0. Eight bytes a step, then the last eight bytes once more (overlapping the
/// steps before, equal there), or a text under eight bytes as one word: no loop over the last
/// few bytes, whose every round a rule module pays fuel and epoch checks for (ids and role
/// names are this short). It must not compare slices with `==` or `cmp` itself, which would
/// call `memcmp`, that is, this.
#[cfg_attr(not(target_family = "wasm"), allow(dead_code, reason = "the host module's memcmp; tested natively"))]
fn compare_bytes(a: &[u8], b: &[u8]) -> i32 {
    /// The difference of the first differing bytes of two words read little-endian: the lowest
    /// differing lane is the first differing byte in memory.
    fn first_difference(x: u64, y: u64) -> i32 {
        let shift = (x ^ y).trailing_zeros() & !7;
        ((x >> shift) & 0xff) as i32 - ((y >> shift) & 0xff) as i32
    }
    let (a_words, b_words) = (a.as_chunks::<8>().0, b.as_chunks::<8>().0);
    for (x, y) in a_words.iter().zip(b_words) {
        let (x, y) = (u64::from_le_bytes(*x), u64::from_le_bytes(*y));
        if x != y {
            return first_difference(x, y);
        }
    }
    let (x, y) = (last_word(a), last_word(b));
    if x != y { first_difference(x, y) } else { 0 }
}

/// The last eight bytes of `bytes` as a little-endian word; of a text under eight bytes, its
/// first four and last four bytes (overlapping: a byte in both halves is equal in both
/// texts whenever it comes before their first difference), or its bytes and zeros, so that
/// the lowest differing lane of two such words of texts of one length is their first
/// differing byte.
#[cfg_attr(not(target_family = "wasm"), allow(dead_code, reason = "the host module's memcmp; tested natively"))]
fn last_word(bytes: &[u8]) -> u64 {
    if let Some(last) = bytes.last_chunk::<8>() {
        return u64::from_le_bytes(*last);
    }
    match (bytes.first_chunk::<4>(), bytes.last_chunk::<4>()) {
        (Some(first), Some(last)) => u64::from(u32::from_le_bytes(*first)) | u64::from(u32::from_le_bytes(*last)) << 32,
        _ => {
            let byte = |i: usize| u64::from(bytes.get(i).copied().unwrap_or(0));
            byte(0) | byte(1) << 8 | byte(2) << 16
        }
    }
}

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

#[cfg(test)]
mod tests {
    use std::alloc::{GlobalAlloc, System};

    use super::*;

    /// xorshift64: a fixed sequence, so a failure repeats.
    fn sequence(mut seed: u64) -> impl FnMut() -> u64 {
        move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        }
    }

    #[test]
    fn blocks_stay_disjoint_and_keep_their_contents_through_allocs_frees_and_reallocs() {
        let heap = Recycling::new(System);
        let mut next = sequence(0x9e37_79b9_7f4a_7c15);
        // (block, layout, the byte it is filled with)
        let mut live: Vec<(*mut u8, Layout, u8)> = Vec::new();
        let holds = |ptr: *mut u8, len: usize, fill: u8| {
            // SAFETY: `ptr` is a live block of at least `len` bytes.
            unsafe { std::slice::from_raw_parts(ptr, len) }.iter().all(|&b| b == fill)
        };
        for step in 0..100_000u32 {
            let r = next();
            let fill = step as u8;
            let size = 1 + (r >> 8) as usize % if r.is_multiple_of(7) { 6_000 } else { 600 };
            match r % 5 {
                0..=1 => {
                    let align = 1 << ((r >> 40) % 6);
                    let layout = Layout::from_size_align(size, align).unwrap();
                    // SAFETY: non-zero size.
                    let ptr = unsafe { heap.alloc(layout) };
                    assert!(!ptr.is_null() && (ptr as usize).is_multiple_of(align));
                    // SAFETY: a fresh block of `size` bytes.
                    unsafe { ptr.write_bytes(fill, size) };
                    live.push((ptr, layout, fill));
                }
                2..=3 if !live.is_empty() => {
                    let (ptr, layout, was) = live.swap_remove((r >> 16) as usize % live.len());
                    assert!(holds(ptr, layout.size(), was), "a block changed while it was live");
                    // SAFETY: live, with this layout.
                    unsafe { heap.dealloc(ptr, layout) };
                }
                _ if !live.is_empty() => {
                    let i = (r >> 16) as usize % live.len();
                    let (ptr, layout, was) = live[i];
                    // SAFETY: live, with this layout; `size > 0`.
                    let new = unsafe { heap.realloc(ptr, layout, size) };
                    assert!(!new.is_null() && (new as usize).is_multiple_of(layout.align()));
                    assert!(holds(new, layout.size().min(size), was), "realloc lost the contents");
                    // SAFETY: `new` holds `size` bytes.
                    unsafe { new.write_bytes(fill, size) };
                    live[i] = (new, Layout::from_size_align(size, layout.align()).unwrap(), fill);
                }
                _ => {}
            }
        }
        live.sort_by_key(|(ptr, ..)| *ptr as usize);
        for pair in live.windows(2) {
            assert!(pair[0].0 as usize + pair[0].1.size() <= pair[1].0 as usize, "live blocks overlap");
        }
        for (ptr, layout, fill) in live {
            assert!(holds(ptr, layout.size(), fill));
            // SAFETY: live, with this layout.
            unsafe { heap.dealloc(ptr, layout) };
        }
    }

    #[test]
    fn compare_bytes_orders_as_slices_do() {
        let mut next = sequence(0x2545_f491_4f6c_dd1d);
        for _ in 0..20_000 {
            let r = next();
            let len = (r % 40) as usize;
            let a: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            let mut b = a.clone();
            // Usually one byte differs (at any position, by any amount), sometimes none.
            if len > 0 && !r.is_multiple_of(5) {
                let at = (r >> 8) as usize % len;
                b[at] = next() as u8;
                if !r.is_multiple_of(3) {
                    // And a later one too, which must not decide.
                    let later = at + (r >> 20) as usize % (len - at);
                    b[later] ^= 0x80;
                }
            }
            let ours = compare_bytes(&a, &b);
            assert_eq!(ours.signum(), a.cmp(&b) as i32, "{a:?} vs {b:?}");
            let first = a.iter().zip(&b).find(|(x, y)| x != y);
            assert_eq!(ours, first.map_or(0, |(&x, &y)| i32::from(x) - i32::from(y)));
        }
    }

    #[test]
    fn a_freed_block_serves_the_next_request_of_its_class_and_lists_are_capped() {
        let heap = Recycling::new(System);
        let small = Layout::from_size_align(24, 8).unwrap();
        // SAFETY: non-zero sizes; every block is freed with the layout it was allocated with.
        unsafe {
            let a = heap.alloc(small);
            heap.dealloc(a, small);
            // 17..=32 bytes are one class.
            assert_eq!(heap.alloc(Layout::from_size_align(32, 16).unwrap()), a);
            heap.dealloc(a, Layout::from_size_align(32, 16).unwrap());
            let blocks: Vec<*mut u8> = (0..KEEP / 32 + 100).map(|_| heap.alloc(small)).collect();
            for &b in &blocks {
                heap.dealloc(b, small);
            }
            let kept = (*heap.lists.get())[1].bytes;
            assert!((KEEP..KEEP + 32).contains(&kept), "{kept} bytes kept");
            // Larger or more aligned than the classes: straight to the inner allocator.
            assert!(Recycling::<System>::class(Layout::from_size_align(LARGEST + 1, 8).unwrap()).is_none());
            assert!(Recycling::<System>::class(Layout::from_size_align(64, 32).unwrap()).is_none());
        }
    }
}
