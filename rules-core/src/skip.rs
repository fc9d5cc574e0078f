//! A skip for the keyword search: where in a text a keyword may begin, found sixteen positions
//! at a time from the first bytes of every keyword, so that the automaton runs only there.
//!
//! The method is Teddy's (Hyperscan's literal matcher, also in aho-corasick, which offers it
//! only on x86-64 and aarch64): each keyword goes to one of eight buckets, and for each of its
//! first [`MAX_WIDTH`] bytes a bucket's bit is set in two 16-entry tables, one indexed by the
//! byte's low nibble and one by its high nibble. A position is a candidate when, for each of the
//! first bytes from it, both nibbles' entries share a bucket bit. Candidates are a superset of
//! the positions where a keyword begins (ASCII case ignored, as by the automaton), so a search
//! that starts the automaton at each candidate finds exactly what a search of every byte finds.
//!
//! In WebAssembly with SIMD (both rule modules are built with it), sixteen positions take a
//! dozen vector instructions, where the automaton's table lookups form one chain of dependent
//! loads, a byte at a time. Elsewhere each leading byte has one 256-entry table (the two nibble
//! entries already combined): three loads a position that do not wait on each other. The unit
//! tests below check the tables natively; the vector steps are checked through the rule
//! modules, by the parity corpus and the property tests in Wasmtime and Node.

/// At most this many leading bytes of each keyword are compared.
pub(crate) const MAX_WIDTH: usize = 3;

/// The tables of one keyword set (see the module's documentation).
#[derive(Debug, Clone)]
pub(crate) struct Skip {
    /// Per leading byte `k` of a keyword: the buckets allowing each low nibble there.
    low: [[u8; 16]; MAX_WIDTH],
    /// The same, per high nibble.
    high: [[u8; 16]; MAX_WIDTH],
    /// Per leading byte `k`: the buckets allowing each byte there (`low` and `high` together),
    /// for the loop without SIMD.
    #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
    whole: [[u8; 256]; MAX_WIDTH],
}

/// Bytes one round of [`Skip::next`] reads: sixteen positions and the bytes after the last.
const WINDOW: usize = 16 + MAX_WIDTH - 1;

impl Skip {
    /// The skip for `keywords` (as the automaton holds them: folded, and ASCII case ignored),
    /// or `None` when one of them is empty (it matches everywhere).
    pub(crate) fn new<K: AsRef<[u8]>>(keywords: &[K]) -> Option<Self> {
        let width = keywords.iter().map(|k| k.as_ref().len()).min()?.min(MAX_WIDTH);
        if width == 0 {
            return None;
        }
        // Past the shortest keyword's length, every bucket allows every byte.
        let mut skip = Self {
            low: [[u8::MAX; 16]; MAX_WIDTH],
            high: [[u8::MAX; 16]; MAX_WIDTH],
            #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
            whole: [[u8::MAX; 256]; MAX_WIDTH],
        };
        for (k, (low, high)) in skip.low.iter_mut().zip(&mut skip.high).enumerate().take(width) {
            *low = [0; 16];
            *high = [0; 16];
            for (i, keyword) in keywords.iter().enumerate() {
                let bucket = 1u8 << (i % 8);
                let Some(&byte) = keyword.as_ref().get(k) else { continue };
                for b in [byte.to_ascii_lowercase(), byte.to_ascii_uppercase()] {
                    if let Some(entry) = low.get_mut(usize::from(b & 0x0F)) {
                        *entry |= bucket;
                    }
                    if let Some(entry) = high.get_mut(usize::from(b >> 4)) {
                        *entry |= bucket;
                    }
                }
            }
        }
        #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
        for k in 0..MAX_WIDTH {
            let whole: [u8; 256] = std::array::from_fn(|byte| skip.buckets(k, u8::try_from(byte).unwrap_or(0)));
            if let Some(entry) = skip.whole.get_mut(k) {
                *entry = whole;
            }
        }
        Some(skip)
    }

    /// The first position at or after `from` where a keyword may begin, if any.
    pub(crate) fn next(&self, bytes: &[u8], from: usize) -> Option<usize> {
        let mut at = from;
        while let Some(window) = bytes.get(at..).and_then(|rest| rest.first_chunk::<WINDOW>()) {
            let found = self.candidates(window);
            if found != 0 {
                return Some(at.saturating_add(found.trailing_zeros() as usize));
            }
            at = at.saturating_add(16);
        }
        // Fewer than `WINDOW` bytes left: every one of them may begin a keyword (the automaton
        // runs through at most seventeen bytes; a loop of its own here cost the host module
        // more bytes than its size budget had left).
        (at < bytes.len()).then_some(at)
    }

    /// The buckets allowing `byte` as leading byte `k` of a keyword.
    #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
    fn buckets(&self, k: usize, byte: u8) -> u8 {
        let low = self.low.get(k).and_then(|t| t.get(usize::from(byte & 0x0F)));
        let high = self.high.get(k).and_then(|t| t.get(usize::from(byte >> 4)));
        low.zip(high).map_or(0, |(l, h)| l & h)
    }

    /// Bit `i` set when position `i` of `window` is a candidate, for sixteen positions.
    /// Inlined always, its vectors built in place: at the browser package's opt-level `z`,
    /// LLVM otherwise builds each vector in memory in a call of its own, which made the skip
    /// slower than the automaton.
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    #[inline(always)]
    fn candidates(&self, window: &[u8; WINDOW]) -> u16 {
        use core::arch::wasm32::{
            i8x16_ne, u8x16_bitmask, u8x16_shr, u8x16_splat, u8x16_swizzle, u64x2, v128, v128_and,
        };
        #[inline(always)]
        fn vector(bytes: &[u8]) -> v128 {
            let (first, second) = bytes.split_at_checked(8).unwrap_or_default();
            let half = |b: &[u8]| b.first_chunk::<8>().map_or(u64::MAX, |b| u64::from_le_bytes(*b));
            u64x2(half(first), half(second))
        }
        /// The buckets allowing each of the sixteen bytes from `k` as leading byte `k`.
        #[inline(always)]
        fn leading(skip: &Skip, window: &[u8; WINDOW], k: usize) -> v128 {
            let bytes = vector(window.get(k..).unwrap_or_default());
            let low = vector(skip.low.get(k).map_or(&[], |t| t));
            let high = vector(skip.high.get(k).map_or(&[], |t| t));
            v128_and(u8x16_swizzle(low, v128_and(bytes, u8x16_splat(0x0F))), u8x16_swizzle(high, u8x16_shr(bytes, 4)))
        }
        let found = v128_and(v128_and(leading(self, window, 0), leading(self, window, 1)), leading(self, window, 2));
        u8x16_bitmask(i8x16_ne(found, u8x16_splat(0)))
    }

    /// Bit `i` set when position `i` of `window` is a candidate, for sixteen positions: three
    /// independent table loads a position, where the automaton's loads depend on each other.
    #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
    #[inline]
    fn candidates(&self, window: &[u8; WINDOW]) -> u16 {
        let [first, second, third] = &self.whole;
        let at =
            |table: &[u8; 256], i: usize| window.get(i).map_or(0, |&b| table.get(usize::from(b)).copied().unwrap_or(0));
        (0..16).fold(0, |bits, i| {
            let found = at(first, i) & at(second, i.wrapping_add(1)) & at(third, i.wrapping_add(2));
            bits | (u16::from(found != 0) << i)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every position where a keyword begins, ASCII case ignored: what the skip must not miss.
    fn starts(keywords: &[&str], text: &[u8]) -> Vec<usize> {
        (0..text.len())
            .filter(|&i| {
                keywords.iter().any(|k| {
                    text.get(i..)
                        .is_some_and(|rest| rest.len() >= k.len() && rest[..k.len()].eq_ignore_ascii_case(k.as_bytes()))
                })
            })
            .collect()
    }

    fn candidates(skip: &Skip, text: &[u8]) -> Vec<usize> {
        let mut out = Vec::new();
        let mut at = 0;
        while let Some(i) = skip.next(text, at) {
            out.push(i);
            at = i + 1;
        }
        out
    }

    #[test]
    fn candidates_include_every_keyword_start_and_few_others() {
        let keywords = ["down", "outage", "urgent"];
        let skip = Skip::new(&keywords).unwrap();
        let text = b"the printer is DOWN since noon, download, countdown; Outage? urgENT! dow ou urg, and nothing else";
        let found = candidates(&skip, text);
        let wanted = starts(&keywords, text);
        assert!(wanted.iter().all(|i| found.contains(i)), "missed: {wanted:?} not all in {found:?}");
        // Three leading bytes per keyword, each in its own bucket: before the last seventeen
        // bytes (which the skip leaves to the automaton), the candidates are exactly the starts
        // of `dow`, `out` and `urg`, case ignored.
        let tail = text.len() - (WINDOW - 1);
        let prefixes = starts(&["dow", "out", "urg"], text);
        let before_tail = |v: &[usize]| v.iter().copied().filter(|&i| i < tail).collect::<Vec<_>>();
        assert_eq!(before_tail(&found), before_tail(&prefixes));
        assert_eq!(before_tail(&found).len(), 7, "{found:?}");
        assert!(found.iter().all(|&i| i < text.len()));
    }

    /// Generated keyword sets (up to 20 keywords, so buckets are shared) and texts over a small
    /// alphabet with both cases and non-ASCII bytes: no keyword start is ever skipped.
    #[test]
    fn no_keyword_start_is_skipped() {
        const ALPHABET: &[u8] = b"abcdABCD \xc3\xa9.-_";
        let mut seed = 0x5EED_u64;
        let mut below = |n: usize| {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (seed >> 33) as usize % n
        };
        let (mut checked, mut skipped) = (0, 0);
        for _ in 0..2_000 {
            let keywords: Vec<String> = (0..1 + below(20))
                .map(|_| {
                    let bytes: Vec<u8> = (0..1 + below(5)).map(|_| ALPHABET[below(ALPHABET.len())]).collect();
                    String::from_utf8_lossy(&bytes).into_owned()
                })
                .collect();
            let keywords: Vec<&str> = keywords.iter().map(String::as_str).collect();
            let skip = Skip::new(&keywords).unwrap();
            let text: Vec<u8> = (0..below(100)).map(|_| ALPHABET[below(ALPHABET.len())]).collect();
            let found = candidates(&skip, &text);
            for i in starts(&keywords, &text) {
                assert!(found.contains(&i), "{keywords:?} begins at {i} of {text:?}; candidates {found:?}");
                checked += 1;
            }
            skipped += text.len() - found.len();
        }
        assert!(checked > 10_000, "too few keyword starts checked: {checked}");
        assert!(skipped > 10_000, "the skip skipped too little to matter: {skipped}");
    }

    #[test]
    fn an_empty_keyword_gets_no_skip() {
        assert!(Skip::new(&["down", ""]).is_none());
        assert!(Skip::new::<&str>(&[]).is_none());
    }
}
