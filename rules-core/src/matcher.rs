//! Keyword matching: every keyword of every prioritization rule compiled into one Aho-Corasick
//! automaton over case-folded text, with whole-word checks done on each hit.
//!
//! The automaton is aho-corasick's DFA for up to [`DFA_MAX_KEYWORDS`] distinct keywords and its
//! contiguous NFA above, as the `AhoCorasick` wrapper would choose; but not the wrapper itself,
//! which carries every automaton's build and search code into the rule modules (39 KB of the
//! host module). A DFA state has a transition for every byte class, so its table grows with the
//! keywords and would not fit a rule set at the limits; for a handful of keywords it is the
//! fastest search there is, and in WebAssembly the NFA's stepping was a quarter of a whole
//! `evaluate` (BENCHMARKS.md, "Instruction counts").

use std::borrow::Cow;
use std::collections::BTreeMap;

use aho_corasick::automaton::{Automaton, StateID};
use aho_corasick::{Anchored, Input, MatchKind, Span, dfa::DFA, nfa::contiguous::NFA};

use crate::ruleset::{MatchMode, TextField};
use crate::skip::Skip;

/// Up to this many distinct folded keywords, the automaton is a DFA; above, a contiguous NFA.
pub const DFA_MAX_KEYWORDS: usize = 100;

/// At most this many hits are recorded per rule and field (the first ones); enough to
/// highlight, bounded for hostile text.
pub const MAX_HITS_PER_RULE_FIELD: usize = 16;

/// One keyword of one rule, as handed to [`KeywordMatcher::new`].
#[derive(Debug, Clone)]
pub(crate) struct KeywordPattern {
    pub rule: usize,
    pub keyword_index: usize,
    pub keyword: String,
    pub mode: MatchMode,
}

#[derive(Debug, Clone)]
struct Occurrence {
    rule: usize,
    keyword_index: usize,
    mode: MatchMode,
}

#[derive(Debug, Clone)]
struct PatternInfo {
    /// Whether the folded keyword begins / ends with a word character; only then does a whole-
    /// word match need a boundary on that side (so `c++` or `.net` still match sensibly).
    word_start: bool,
    word_end: bool,
    occurrences: Vec<Occurrence>,
}

/// A keyword found in a ticket's text. Offsets refer to the original (unfolded) text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Hit {
    pub rule: usize,
    pub keyword_index: usize,
    pub field: TextField,
    pub start_byte: usize,
    pub end_byte: usize,
}

/// The compiled keyword automaton of a rule set.
#[derive(Debug, Clone)]
pub(crate) struct KeywordMatcher {
    automaton: Option<Searcher>,
    patterns: Vec<PatternInfo>,
    rules: usize,
    /// Every folded keyword is ASCII: then text without [`FOLD_SENSITIVE`] characters is
    /// searched as it is, without folding (see [`KeywordMatcher::haystack`]).
    ascii_keywords: bool,
}

impl KeywordMatcher {
    pub(crate) fn new(patterns: &[KeywordPattern]) -> Result<Self, aho_corasick::BuildError> {
        Self::build(patterns, DFA_MAX_KEYWORDS)
    }

    /// [`KeywordMatcher::new`], with a DFA up to `dfa_max` distinct keywords (tests set it to
    /// force either automaton).
    fn build(patterns: &[KeywordPattern], dfa_max: usize) -> Result<Self, aho_corasick::BuildError> {
        let mut folded: Vec<String> = Vec::new();
        // Keyword -> its place in `folded`. `u64`: the one B-tree type of the crate (see
        // `ruleset::compile`'s categories).
        let mut index: BTreeMap<String, u64> = BTreeMap::new();
        let mut infos: Vec<PatternInfo> = Vec::new();
        let mut rules = 0;
        for p in patterns {
            rules = rules.max(p.rule.saturating_add(1));
            let f = fold(&p.keyword, false).text.into_owned();
            let occurrence = Occurrence { rule: p.rule, keyword_index: p.keyword_index, mode: p.mode };
            if let Some(&i) = index.get(&f) {
                if let Some(info) = usize::try_from(i).ok().and_then(|i| infos.get_mut(i)) {
                    info.occurrences.push(occurrence);
                }
                continue;
            }
            infos.push(PatternInfo {
                word_start: f.chars().next().is_some_and(is_word_char),
                word_end: f.chars().next_back().is_some_and(is_word_char),
                occurrences: vec![occurrence],
            });
            index.insert(f.clone(), u64::try_from(folded.len()).unwrap_or(u64::MAX));
            folded.push(f);
        }
        let automaton = if folded.is_empty() {
            None
        } else if folded.len() <= dfa_max {
            let dfa = DFA::builder().match_kind(MatchKind::Standard).ascii_case_insensitive(true).build(&folded)?;
            Some(match ByteTable::new(&dfa) {
                Some(table) => Searcher::Table(Box::new(ByteTable { skip: Skip::new(&folded), ..table })),
                None => Searcher::Dfa(dfa),
            })
        } else {
            Some(Searcher::Nfa(
                NFA::builder().match_kind(MatchKind::Standard).ascii_case_insensitive(true).build(&folded)?,
            ))
        };
        let ascii_keywords = folded.iter().all(|k| k.is_ascii());
        Ok(Self { automaton, patterns: infos, rules, ascii_keywords })
    }

    /// Marks in `matched` (indexed by rule) every rule with a keyword in `text` that `wanted`
    /// accepts for the rule: the lean path for [`crate::evaluate::classify`], with no offsets to
    /// map back and nothing allocated per hit.
    pub(crate) fn mark(&self, text: &str, matched: &mut [bool], wanted: impl Fn(usize) -> bool) {
        let Some(automaton) = &self.automaton else { return };
        if text.is_empty() {
            return;
        }
        let folded = self.haystack(text, false);
        let haystack: &str = &folded.text;
        automaton.each_match(haystack, |m| {
            let Some(info) = self.patterns.get(m.pattern().as_usize()) else { return };
            let bounded = is_bounded(haystack, info, m.start(), m.end());
            for o in &info.occurrences {
                if (o.mode == MatchMode::Substring || bounded)
                    && wanted(o.rule)
                    && let Some(flag) = matched.get_mut(o.rule)
                {
                    *flag = true;
                }
            }
        });
    }

    /// Appends the hits of every rule in `text` to `out`.
    pub(crate) fn find(&self, field: TextField, text: &str, out: &mut Vec<Hit>) {
        let Some(automaton) = &self.automaton else { return };
        if text.is_empty() {
            return;
        }
        let folded = self.haystack(text, true);
        let haystack: &str = &folded.text;
        // Hits so far per rule; allocated at the first hit (most fields have none).
        let mut counts: Vec<usize> = Vec::new();
        automaton.each_match(haystack, |m| {
            let Some(info) = self.patterns.get(m.pattern().as_usize()) else { return };
            let bounded = is_bounded(haystack, info, m.start(), m.end());
            for o in &info.occurrences {
                if o.mode == MatchMode::Word && !bounded {
                    continue;
                }
                if counts.is_empty() {
                    counts.resize(self.rules, 0);
                }
                let Some(count) = counts.get_mut(o.rule) else { continue };
                if *count >= MAX_HITS_PER_RULE_FIELD {
                    continue;
                }
                *count = count.saturating_add(1);
                let (start_byte, end_byte) = folded.original_span(text, m.start(), m.end());
                out.push(Hit { rule: o.rule, keyword_index: o.keyword_index, field, start_byte, end_byte });
            }
        });
    }
}

impl KeywordMatcher {
    /// The text the automaton searches: `text` case-folded, or `text` itself when that finds
    /// exactly the same matches at the same offsets with the same word boundaries — when it is
    /// ASCII (the automaton ignores ASCII case, and folded keywords hold no ASCII capitals), or
    /// when every keyword is ASCII and no character of `text` is [`FOLD_SENSITIVE`]: every
    /// other non-ASCII character folds to non-ASCII text, which no ASCII keyword can match,
    /// whose first and last characters are word characters exactly when it is one.
    fn haystack<'t>(&self, text: &'t str, map_origin: bool) -> Folded<'t> {
        if is_ascii(text) || (self.ascii_keywords && !has_fold_sensitive(text)) {
            Folded { text: Cow::Borrowed(text), origin: None }
        } else {
            fold(text, map_origin)
        }
    }
}

/// Whether `text` is ASCII: `str::is_ascii`, eight bytes a step on every target. The standard
/// library's steps are `usize` words, four bytes in WebAssembly, where each round of a loop
/// also pays Wasmtime's fuel and epoch checks: 5.4 k instructions of an evaluation there for
/// a 1 KB ticket, against 1.5 k this way.
#[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
fn is_ascii(text: &str) -> bool {
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let (chunks, rest) = text.as_bytes().as_chunks::<8>();
    chunks.iter().fold(0, |high, chunk| high | u64::from_le_bytes(*chunk)) & HIGH == 0 && rest.is_ascii()
}

/// [`is_ascii`] in the rule modules: sixteen bytes a step with WebAssembly SIMD.
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
fn is_ascii(text: &str) -> bool {
    use core::arch::wasm32::{u8x16_bitmask, u8x16_splat, v128_or};
    let (chunks, rest) = text.as_bytes().as_chunks::<16>();
    u8x16_bitmask(chunks.iter().fold(u8x16_splat(0), |high, chunk| v128_or(high, crate::wide::load(chunk)))) == 0
        && rest.is_ascii()
}

/// Non-ASCII characters whose Unicode default case folding contains ASCII (`ß` → `ss`,
/// `K` → `k`, `ﬁ` → `fi`) or begins or ends with a character whose word-character status differs
/// from theirs (`ῆ` → `η` + a combining mark). Sorted. A test computes the set from every
/// character's folding and holds it equal to this list.
const FOLD_SENSITIVE: [char; 37] = [
    '\u{00DF}', '\u{0130}', '\u{0149}', '\u{017F}', '\u{01F0}', '\u{0390}', '\u{03B0}', '\u{1E96}', '\u{1E97}',
    '\u{1E98}', '\u{1E99}', '\u{1E9A}', '\u{1E9E}', '\u{1F50}', '\u{1F52}', '\u{1F54}', '\u{1F56}', '\u{1FB6}',
    '\u{1FC6}', '\u{1FD2}', '\u{1FD3}', '\u{1FD6}', '\u{1FD7}', '\u{1FE2}', '\u{1FE3}', '\u{1FE4}', '\u{1FE6}',
    '\u{1FE7}', '\u{1FF6}', '\u{212A}', '\u{FB00}', '\u{FB01}', '\u{FB02}', '\u{FB03}', '\u{FB04}', '\u{FB05}',
    '\u{FB06}',
];

/// Whether `text` holds a [`FOLD_SENSITIVE`] character. Decodes only the non-ASCII characters.
fn has_fold_sensitive(text: &str) -> bool {
    let mut rest = text;
    while let Some(at) = first_non_ascii(rest.as_bytes()) {
        // `at` starts a character: everything before it is ASCII.
        let mut chars = rest.get(at..).unwrap_or_default().chars();
        match chars.next() {
            Some(c) if FOLD_SENSITIVE.binary_search(&c).is_err() => rest = chars.as_str(),
            _ => return true,
        }
    }
    false
}

/// Where the first non-ASCII byte of `bytes` is: eight bytes a step, as [`is_ascii`]. A byte at
/// a time, this scan was a twentieth of `RuleEngine.classify` in V8 for text with an `é` every
/// hundred bytes.
fn first_non_ascii(bytes: &[u8]) -> Option<usize> {
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let (chunks, rest) = bytes.as_chunks::<8>();
    let mut at: usize = 0;
    for chunk in chunks {
        let high = u64::from_le_bytes(*chunk) & HIGH;
        if high != 0 {
            // The lowest set bit is the first such byte's: bit 8 i + 7.
            return Some(at.saturating_add(high.trailing_zeros() as usize / 8));
        }
        at = at.saturating_add(8);
    }
    rest.iter().position(|b| !b.is_ascii()).map(|i| at.saturating_add(i))
}

/// The compiled automaton: a DFA for few keywords (as a [`ByteTable`] when it is small and has
/// no prefilter), a contiguous NFA for many.
#[derive(Debug, Clone)]
enum Searcher {
    Table(Box<ByteTable>),
    Dfa(DFA),
    Nfa(NFA),
}

impl Searcher {
    /// Calls `f` with every match in `haystack`, overlapping ones included.
    fn each_match(&self, haystack: &str, f: impl FnMut(aho_corasick::Match)) {
        match self {
            Searcher::Table(table) => table.overlapping(haystack, f),
            Searcher::Dfa(dfa) => dfa_overlapping(dfa, haystack, f),
            Searcher::Nfa(nfa) => overlapping(nfa, haystack).for_each(f),
        }
    }
}

/// A DFA of at most 256 states copied into one table of `u8` state ids, indexed by state and
/// byte together (`u16::from_le_bytes([byte, state])`): every index a `u8` state and a byte can
/// form is in the table, so the search loop has no bounds check, and a step is one load. The
/// states are numbered so that the ones the loop must stop at (matches, and the dead state) come
/// last: one comparison tells them apart. aho-corasick's DFA steps through a byte-class map
/// and a `u32` table with a bounds check, 13 instructions a byte natively and about 40 in
/// Wasmtime, where each branch also costs fuel (BENCHMARKS.md, "Evaluating a typical ticket",
/// stop 23). The table is 64 KiB per rule set; a DFA with more states, or one with a prefilter (which
/// skips ahead faster than any table), is searched by [`dfa_overlapping`].
#[derive(Debug, Clone)]
struct ByteTable {
    next: Box<[u8; 1 << 16]>,
    start: u8,
    /// States from here on are special: match states, then the dead state if it is reachable.
    first_special: u8,
    /// The dead state's id, if it is reachable (256 if not: no `u8` state equals it).
    dead: u16,
    /// The matches of special state `first_special + i`, in the DFA's order: pattern and length.
    matches: Vec<Vec<(aho_corasick::PatternID, usize)>>,
    /// Where a keyword may begin, if the search skips to there (see [`ByteTable::skipping`]).
    skip: Option<Skip>,
}

impl ByteTable {
    fn new(dfa: &DFA) -> Option<Self> {
        if dfa.prefilter().is_some() {
            return None;
        }
        let start = dfa.start_state(Anchored::No).ok()?;
        if dfa.is_match(start) {
            return None;
        }
        // Every state reachable from the start, in breadth-first order; `place[sid]`: where a
        // state is in `states` (a state id of aho-corasick's DFA is an offset into its table).
        let mut states = vec![start];
        let mut place: Vec<u16> = Vec::new();
        let mut i = 0;
        while let Some(&sid) = states.get(i) {
            i = i.saturating_add(1);
            for byte in 0..=u8::MAX {
                let to = dfa.next_state(Anchored::No, sid, byte).as_usize();
                if place.len() <= to {
                    place.resize(to.saturating_add(1), u16::MAX);
                }
                let slot = place.get_mut(to)?;
                if *slot == u16::MAX && to != start.as_usize() {
                    if states.len() > usize::from(u8::MAX) {
                        return None;
                    }
                    *slot = u16::try_from(states.len()).ok()?;
                    states.push(StateID::new(to).ok()?);
                }
            }
        }
        if let Some(slot) = place.get_mut(start.as_usize()) {
            *slot = 0;
        }
        // Ids: the states the loop passes through first, then the match states, then the dead
        // one (no sort: three passes).
        let rank =
            |sid: StateID| u8::from(dfa.is_match(sid)).saturating_add(u8::from(dfa.is_dead(sid)).saturating_mul(2));
        let mut order: Vec<StateID> = Vec::with_capacity(states.len());
        let mut first_special = 0;
        for kind in 0..3 {
            if kind == 1 {
                first_special = u8::try_from(order.len()).ok()?;
            }
            order.extend(states.iter().copied().filter(|&sid| rank(sid) == kind));
        }
        let mut id_of_place = vec![0u8; states.len()];
        for (id, sid) in order.iter().enumerate() {
            let at = usize::from(*place.get(sid.as_usize())?);
            *id_of_place.get_mut(at)? = u8::try_from(id).ok()?;
        }
        let id = |sid: StateID| -> Option<u8> { id_of_place.get(usize::from(*place.get(sid.as_usize())?)).copied() };
        let mut next: Box<[u8; 1 << 16]> = vec![0u8; 1 << 16].into_boxed_slice().try_into().ok()?;
        let mut dead = 256;
        let mut matches = Vec::new();
        for &sid in &order {
            let from = id(sid)?;
            for byte in 0..=u8::MAX {
                *next.get_mut(usize::from(u16::from_le_bytes([byte, from])))? =
                    id(dfa.next_state(Anchored::No, sid, byte))?;
            }
            if dfa.is_dead(sid) {
                dead = u16::from(from);
            } else if dfa.is_match(sid) {
                matches.push(
                    (0..dfa.match_len(sid))
                        .map(|i| {
                            let pattern = dfa.match_pattern(sid, i);
                            (pattern, dfa.pattern_len(pattern))
                        })
                        .collect(),
                );
            }
        }
        Some(Self { next, start: id(start)?, first_special, dead, matches, skip: None })
    }

    /// [`overlapping`], as one table lookup per byte.
    fn overlapping(&self, haystack: &str, mut f: impl FnMut(aho_corasick::Match)) {
        let bytes = haystack.as_bytes();
        if let Some(skip) = &self.skip {
            return self.skipping(skip, bytes, f);
        }
        let mut state = self.start;
        let mut at = 0;
        while let Some(rest) = bytes.get(at..) {
            let (special, read) = self.run(state, rest);
            at = at.saturating_add(read);
            match special {
                Some(special) if u16::from(special) != self.dead => {
                    state = special;
                    self.report(state, at, &mut f);
                }
                _ => return,
            }
        }
    }

    /// [`ByteTable::overlapping`] with the automaton run only from where `skip` says a keyword
    /// may begin, until it is back in its start state. That gives the same matches in the same
    /// order: in the start state nothing is under way, and no match begins in the bytes
    /// skipped, so none ends in a state that skipping changed (as aho-corasick runs its own
    /// prefilters; a test holds the two searches to identical output).
    fn skipping(&self, skip: &Skip, bytes: &[u8], mut f: impl FnMut(aho_corasick::Match)) {
        let mut at = 0;
        while let Some(start) = skip.next(bytes, at) {
            let mut rest = bytes.get(start..).unwrap_or_default().iter();
            let mut state = self.start;
            while let Some(&byte) = rest.next() {
                state = self.step(state, byte);
                if state >= self.first_special {
                    if u16::from(state) == self.dead {
                        return;
                    }
                    self.report(state, bytes.len().saturating_sub(rest.len()), &mut f);
                }
                if state == self.start {
                    break;
                }
            }
            if rest.len() == 0 {
                return;
            }
            at = bytes.len().saturating_sub(rest.len());
        }
    }

    /// Steps from `state` through `bytes` up to the first special state: that state, if one
    /// came, and the bytes read. Eight bytes a round, with one branch on whether any of the
    /// eight states is special (then the round is replayed byte by byte). In Wasmtime every
    /// round of a loop pays the fuel and epoch checks at its head, and Cranelift spills and
    /// reloads the loop's values around their out-of-line calls: a loop of one byte a round
    /// took 37 instructions a byte there.
    #[inline(never)]
    fn run(&self, mut state: u8, bytes: &[u8]) -> (Option<u8>, usize) {
        let (chunks, _) = bytes.as_chunks::<8>();
        let mut read: usize = 0;
        for chunk in chunks {
            let mut next = state;
            let mut special = false;
            for &byte in chunk {
                next = self.step(next, byte);
                special |= next >= self.first_special;
            }
            if special {
                break;
            }
            state = next;
            read = read.saturating_add(8);
        }
        let tail = bytes.get(read..).unwrap_or_default();
        let mut rest = tail.iter();
        while let Some(&byte) = rest.next() {
            state = self.step(state, byte);
            if state >= self.first_special {
                return (Some(state), bytes.len().saturating_sub(rest.len()));
            }
        }
        (None, bytes.len())
    }

    /// The state after `byte` in `state`.
    #[inline(always)]
    fn step(&self, state: u8, byte: u8) -> u8 {
        self.next.get(usize::from(u16::from_le_bytes([byte, state]))).copied().unwrap_or_default()
    }

    /// Reports the matches of special state `state`, ending at `end`. Out of line, as
    /// [`report`] is, so the byte loop keeps its values in registers.
    #[cold]
    #[inline(never)]
    fn report(&self, state: u8, end: usize, f: &mut impl FnMut(aho_corasick::Match)) {
        let Some(matches) = self.matches.get(usize::from(state.saturating_sub(self.first_special))) else { return };
        for &(pattern, len) in matches {
            f(aho_corasick::Match::new(pattern, end.saturating_sub(len)..end));
        }
    }
}

/// [`overlapping`] for the DFA, as one loop of a table lookup per byte: the same matches in the
/// same order as aho-corasick's overlapping iterator, which keeps its place in a state object
/// and returns after every match (BENCHMARKS.md, "classify in the browser package"). Like the
/// iterator, it lets the automaton's prefilter skip ahead whenever the search is back in the
/// start state (the only other special state when there is a prefilter). A unit test holds the
/// two to identical output.
fn dfa_overlapping(dfa: &DFA, haystack: &str, mut f: impl FnMut(aho_corasick::Match)) {
    let Ok(mut sid) = dfa.start_state(Anchored::No) else { return };
    if dfa.is_match(sid) {
        // An empty keyword (validation refuses them): the library knows where to report it.
        return overlapping(dfa, haystack).for_each(f);
    }
    let bytes = haystack.as_bytes();
    let Some(pre) = dfa.prefilter() else {
        // No prefilter (always in WebAssembly): the plainest loop, a slice iterator.
        for (at, &byte) in bytes.iter().enumerate() {
            sid = dfa.next_state(Anchored::No, sid, byte);
            if dfa.is_special(sid) {
                if dfa.is_dead(sid) {
                    return;
                }
                if dfa.is_match(sid) {
                    // `at < bytes.len()`, so this cannot wrap.
                    report(dfa, sid, at.wrapping_add(1), &mut f);
                }
            }
        }
        return;
    };
    // The search starts in the start state.
    let Some(mut at) = pre.find_in(bytes, Span::from(0..bytes.len())).into_option() else { return };
    while let Some(&byte) = bytes.get(at) {
        sid = dfa.next_state(Anchored::No, sid, byte);
        at = at.saturating_add(1);
        if !dfa.is_special(sid) {
            continue;
        }
        if dfa.is_dead(sid) {
            return;
        }
        if dfa.is_match(sid) {
            report(dfa, sid, at, &mut f);
        } else {
            // Back in the start state: skip to where a keyword could begin.
            match pre.find_in(bytes, Span::from(at..bytes.len())).into_option() {
                Some(start) => at = at.max(start),
                None => return,
            }
        }
    }
}

/// Reports the matches of match state `sid`, ending at `end`. Out of line, so that the byte loop
/// around it keeps its few values in registers (in Wasmtime, 1.5 % of an evaluation).
#[cold]
#[inline(never)]
fn report(dfa: &DFA, sid: StateID, end: usize, f: &mut impl FnMut(aho_corasick::Match)) {
    for index in 0..dfa.match_len(sid) {
        let pattern = dfa.match_pattern(sid, index);
        f(aho_corasick::Match::new(pattern, end.saturating_sub(dfa.pattern_len(pattern))..end));
    }
}

/// Every match in `haystack`, overlapping ones included. The search cannot fail: the automaton
/// is built unanchored with standard semantics, all that an overlapping search asks of it.
fn overlapping<'a, A: Automaton>(
    automaton: &'a A,
    haystack: &'a str,
) -> impl Iterator<Item = aho_corasick::Match> + 'a {
    automaton.try_find_overlapping_iter(Input::new(haystack)).into_iter().flatten()
}

/// Whether the match `[start, end)` sits on word boundaries where the keyword needs them.
fn is_bounded(haystack: &str, info: &PatternInfo, start: usize, end: usize) -> bool {
    (!info.word_start || !haystack.get(..start).and_then(|s| s.chars().next_back()).is_some_and(is_word_char))
        && (!info.word_end || !haystack.get(end..).and_then(|s| s.chars().next()).is_some_and(is_word_char))
}

/// A word character: a letter or digit of any script, or `_`.
fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Case-folded text plus, when folding changed lengths, the original byte offset of every
/// folded byte.
struct Folded<'a> {
    text: Cow<'a, str>,
    origin: Option<Vec<u32>>,
}

impl Folded<'_> {
    /// Maps a folded span back to the original text, widened to whole original characters.
    fn original_span(&self, original: &str, start: usize, end: usize) -> (usize, usize) {
        let Some(origin) = &self.origin else { return (start, end) };
        let at = |i: usize| origin.get(i).map_or(original.len(), |&o| o as usize);
        let first = at(start);
        let last = at(end.saturating_sub(1));
        let last_len = original.get(last..).and_then(|s| s.chars().next()).map_or(0, char::len_utf8);
        (first, last.saturating_add(last_len))
    }
}

/// Unicode default case folding, with the original offset of every folded byte when
/// `map_origin` is set and folding changed lengths. ASCII letters are lowered too, which the
/// search does not need (it ignores ASCII case) but keywords do (`URGENT` and `urgent` are one).
fn fold(text: &str, map_origin: bool) -> Folded<'_> {
    let mut out = String::with_capacity(text.len());
    let mut origin = Vec::with_capacity(if map_origin { text.len() } else { 0 });
    for (i, c) in text.char_indices() {
        let before = out.len();
        if c.is_ascii() {
            // Most of a mostly-Latin text: skip the table lookup.
            out.push(c.to_ascii_lowercase());
        } else {
            crate::fold::fold_char(c, &mut out);
        }
        if map_origin {
            let i = u32::try_from(i).unwrap_or(u32::MAX);
            origin.extend(std::iter::repeat_n(i, out.len().saturating_sub(before)));
        }
    }
    Folded { text: Cow::Owned(out), origin: map_origin.then_some(origin) }
}

/// Counts UTF-16 code units in `text[..byte]`: JavaScript string offsets for the browser.
///
/// Over bytes, not chars: a char is one UTF-16 unit, two if it takes four UTF-8 bytes, so it is
/// the count of bytes that start a char plus the count of four-byte lead bytes. Decoding chars
/// instead cost 5 % of a whole evaluation's instructions (BENCHMARKS.md).
pub(crate) fn utf16_offset(text: &str, byte: usize) -> usize {
    let Some(prefix) = text.get(..byte) else { return 0 };
    if prefix.is_ascii() {
        return prefix.len();
    }
    prefix
        .bytes()
        .map(|b| match b {
            0x80..=0xBF => 0_usize, // continues a char
            0xF0..=0xFF => 2,       // starts a four-byte char: a surrogate pair
            _ => 1,
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A seeded generator of numbers below its argument (an LCG; the tests need no quality).
    fn below(mut seed: u64) -> impl FnMut(usize) -> usize {
        move |n| {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (seed >> 33) as usize % n
        }
    }

    fn hits(keywords: &[&str], mode: MatchMode, text: &str) -> Vec<(usize, usize)> {
        let patterns: Vec<_> = keywords
            .iter()
            .enumerate()
            .map(|(i, k)| KeywordPattern { rule: 0, keyword_index: i, keyword: (*k).to_owned(), mode })
            .collect();
        let m = KeywordMatcher::new(&patterns).unwrap();
        let mut out = Vec::new();
        m.find(TextField::Title, text, &mut out);
        out.into_iter().map(|h| (h.start_byte, h.end_byte)).collect()
    }

    /// The DFA and the NFA must report the same hits in the same order: the first hit of a rule
    /// is its trace's `saw`, and the hits are the highlights.
    #[test]
    fn dfa_and_nfa_report_identical_hits() {
        const WORDS: [&str; 16] = [
            "down",
            "DOWN.",
            "download",
            "countdown",
            "own",
            "Outage",
            "outage,",
            "c++",
            "abc++",
            "Straße",
            "STRASSE",
            "ΟΔΟΣ",
            "οδος",
            "urgent!",
            "ur",
            "gent",
        ];
        let mut next = below(0x5EED);
        let mut hits = 0;
        for round in 0..300 {
            let keyword_count = 1 + next(6);
            let patterns: Vec<_> = (0..keyword_count)
                .map(|i| KeywordPattern {
                    rule: next(3),
                    keyword_index: i,
                    keyword: WORDS[next(WORDS.len())].trim_end_matches(['.', ',', '!']).to_owned(),
                    mode: if next(4) == 0 { MatchMode::Substring } else { MatchMode::Word },
                })
                .collect();
            let text: Vec<&str> = (0..next(40)).map(|_| WORDS[next(WORDS.len())]).collect();
            let text = text.join(if next(2) == 0 { " " } else { "" });
            let (mut by_dfa, mut by_nfa) = (Vec::new(), Vec::new());
            KeywordMatcher::build(&patterns, usize::MAX).unwrap().find(TextField::Description, &text, &mut by_dfa);
            KeywordMatcher::build(&patterns, 0).unwrap().find(TextField::Description, &text, &mut by_nfa);
            assert_eq!(by_dfa, by_nfa, "round {round}: {patterns:?} in {text:?}");
            hits += by_dfa.len();
        }
        assert!(hits > 1_000, "the generated texts hit too rarely to compare: {hits}");
    }

    /// `FOLD_SENSITIVE` is exactly the characters that would make an unfolded search differ.
    #[test]
    fn fold_sensitive_chars_are_exactly_these() {
        let computed: Vec<char> = ('\u{80}'..=char::MAX)
            .filter(|&c| {
                let mut folded = String::new();
                crate::fold::fold_char(c, &mut folded);
                let (first, last) = (folded.chars().next().unwrap(), folded.chars().next_back().unwrap());
                folded.chars().any(|f| f.is_ascii())
                    || is_word_char(first) != is_word_char(c)
                    || is_word_char(last) != is_word_char(c)
            })
            .collect();
        assert_eq!(computed, FOLD_SENSITIVE);
    }

    /// Text searched as it is finds what the folded text finds, at the same offsets, for ASCII
    /// keyword sets; with a sensitive character or a non-ASCII keyword the text is folded.
    #[test]
    fn unfolded_search_finds_what_folded_search_finds() {
        const KEYWORDS: [&str; 8] = ["down", "outage", "urgent", "c++", "k8s", "st", "ss", "ff"];
        // The first 15 words hold no sensitive character; half the texts draw only from them.
        const WORDS: [&str; 24] = [
            "down",
            "DOWN.",
            "Outage",
            "café",
            "ÉCOLE",
            "réseau",
            "ΟΔΟΣ",
            "中文",
            "😀",
            "e\u{301}",
            "\u{301}",
            "URGENT!",
            "k8s",
            "c++",
            "_",
            "\u{212A}8s",
            "ſt",
            "ﬆ",
            "ß",
            "Straße",
            "ῆ",
            "ΐ",
            "İ",
            "ﬀ",
        ];
        let mut next = below(0xF01D);
        let (mut direct, mut hits) = (0, 0);
        for round in 0..2_000 {
            let patterns: Vec<_> = (0..1 + next(4))
                .map(|i| KeywordPattern {
                    rule: next(3),
                    keyword_index: i,
                    keyword: KEYWORDS[next(KEYWORDS.len())].to_owned(),
                    mode: if next(4) == 0 { MatchMode::Substring } else { MatchMode::Word },
                })
                .collect();
            let pool = [15, WORDS.len()][next(2)];
            let text: Vec<&str> = (0..next(12)).map(|_| WORDS[next(pool)]).collect();
            let text = text.join(["", " ", "-"][next(3)]);
            let fast = KeywordMatcher::new(&patterns).unwrap();
            assert!(fast.ascii_keywords);
            let mut folding = fast.clone();
            folding.ascii_keywords = false;
            if !text.is_ascii() && !has_fold_sensitive(&text) {
                direct += 1;
            }
            let (mut by_fast, mut by_folding) = (Vec::new(), Vec::new());
            fast.find(TextField::Title, &text, &mut by_fast);
            folding.find(TextField::Title, &text, &mut by_folding);
            assert_eq!(by_fast, by_folding, "round {round}: {patterns:?} in {text:?}");
            let (mut marked_fast, mut marked_folding) = ([false; 3], [false; 3]);
            fast.mark(&text, &mut marked_fast, |_| true);
            folding.mark(&text, &mut marked_folding, |_| true);
            assert_eq!(marked_fast, marked_folding, "round {round}: {patterns:?} in {text:?}");
            hits += by_fast.len();
        }
        assert!(direct > 800 && hits > 1_000, "too few unfolded searches ({direct}) or hits ({hits}) to compare");
        let non_ascii = KeywordMatcher::new(&[KeywordPattern {
            rule: 0,
            keyword_index: 0,
            keyword: "café".to_owned(),
            mode: MatchMode::Word,
        }])
        .unwrap();
        assert!(!non_ascii.ascii_keywords);
        assert_eq!(hits_in(&non_ascii, "CAFÉ ouvert"), vec![(0, 5)]);
    }

    fn hits_in(m: &KeywordMatcher, text: &str) -> Vec<(usize, usize)> {
        let mut out = Vec::new();
        m.find(TextField::Title, text, &mut out);
        out.into_iter().map(|h| (h.start_byte, h.end_byte)).collect()
    }

    /// The DFA's own loop reports what aho-corasick's overlapping iterator reports, with and
    /// without a prefilter, whichever prefilter the keywords get.
    #[test]
    fn dfa_loop_equals_the_overlapping_iterator() {
        let keyword_sets: [&[&str]; 4] = [
            &["down", "own", "wn", "outage", "age", "urgent", "c++", "ss", "s", "a b"],
            &["down", "outage", "urgent"],
            &["zebra"],
            &["qq", "jx", "Vz"],
        ];
        let texts = [
            "",
            "DOWNTOWN outage: urgent c++ sss a b",
            "ownwnown",
            "ßss é down",
            "xx",
            "a ba b",
            "the printer is down since noon, zebra crossing, URGENT outage; qqq jx vz VZ",
        ];
        let (mut found, mut prefiltered, mut tables) = (0, 0, 0);
        for keywords in keyword_sets {
            for prefilter in [false, true] {
                let dfa = DFA::builder()
                    .match_kind(MatchKind::Standard)
                    .ascii_case_insensitive(true)
                    .prefilter(prefilter)
                    .build(keywords)
                    .unwrap();
                prefiltered += usize::from(dfa.prefilter().is_some());
                let table = ByteTable::new(&dfa);
                assert_eq!(table.is_some(), dfa.prefilter().is_none(), "{keywords:?}: a small DFA has a table");
                tables += usize::from(table.is_some());
                for text in texts {
                    let mut ours = Vec::new();
                    dfa_overlapping(&dfa, text, |m| ours.push(m));
                    let theirs: Vec<_> = overlapping(&dfa, text).collect();
                    assert_eq!(ours, theirs, "{keywords:?} (prefilter {prefilter}) in {text:?}");
                    if let Some(table) = &table {
                        let mut by_table = Vec::new();
                        table.overlapping(text, |m| by_table.push(m));
                        assert_eq!(by_table, theirs, "{keywords:?} (table) in {text:?}");
                        let skipping = ByteTable { skip: Skip::new(keywords), ..table.clone() };
                        let mut skipped = Vec::new();
                        skipping.overlapping(text, |m| skipped.push(m));
                        assert_eq!(skipped, theirs, "{keywords:?} (table, skipping) in {text:?}");
                    }
                    found += ours.len();
                }
            }
        }
        assert!(found > 50, "too few matches to compare: {found}");
        assert!(prefiltered >= 1, "no keyword set got a prefilter: {prefiltered}");
        assert!(tables >= 4, "too few keyword sets got a table: {tables}");
    }

    /// The byte table reports what aho-corasick's overlapping iterator reports on generated
    /// keyword sets and texts, including sets too large for a table (which must refuse them).
    #[test]
    fn byte_table_equals_the_overlapping_iterator() {
        const ALPHABET: &[u8] = b"abcdAB \xc3\xa9.-_";
        let mut next = below(0x7AB1E);
        let (mut found, mut refused) = (0, 0);
        for round in 0..400 {
            let count = 1 + next(if round % 10 == 0 { 120 } else { 8 });
            let keywords: Vec<String> = (0..count)
                .map(|_| {
                    let bytes: Vec<u8> = (0..1 + next(5)).map(|_| ALPHABET[next(ALPHABET.len())]).collect();
                    String::from_utf8_lossy(&bytes).into_owned()
                })
                .collect();
            let dfa = DFA::builder()
                .match_kind(MatchKind::Standard)
                .ascii_case_insensitive(true)
                .prefilter(false)
                .build(&keywords)
                .unwrap();
            let Some(table) = ByteTable::new(&dfa) else {
                refused += 1;
                continue;
            };
            let text: Vec<u8> = (0..next(200)).map(|_| ALPHABET[next(ALPHABET.len())]).collect();
            let text = String::from_utf8_lossy(&text);
            let mut ours = Vec::new();
            table.overlapping(&text, |m| ours.push(m));
            let theirs: Vec<_> = overlapping(&dfa, &text).collect();
            assert_eq!(ours, theirs, "round {round}: {keywords:?} in {text:?}");
            let skipping = ByteTable { skip: Skip::new(&keywords), ..table };
            assert!(skipping.skip.is_some());
            let mut skipped = Vec::new();
            skipping.overlapping(&text, |m| skipped.push(m));
            assert_eq!(skipped, theirs, "round {round}: {keywords:?} in {text:?}, skipping");
            found += ours.len();
        }
        assert!(found > 5_000, "too few matches to compare: {found}");
        assert!(refused > 0, "no keyword set was too large for a table");
    }

    /// The default rule set is searched through a byte table with a skip, natively and in
    /// WebAssembly.
    #[test]
    fn the_default_rule_set_searches_by_byte_table() {
        let rules = crate::RuleSet::from_json(crate::DEFAULT_RULE_SET_JSON).unwrap();
        let Some(Searcher::Table(table)) = &rules.matcher.automaton else { panic!("no byte table") };
        assert!(table.skip.is_some());
    }

    #[test]
    fn first_non_ascii_is_the_first_byte_above_127() {
        let mut next = below(0xA5C11);
        for _ in 0..2_000 {
            let bytes: Vec<u8> =
                (0..next(40)).map(|_| if next(30) == 0 { 0x80 | next(128) as u8 } else { next(128) as u8 }).collect();
            assert_eq!(first_non_ascii(&bytes), bytes.iter().position(|b| !b.is_ascii()), "{bytes:?}");
        }
    }

    #[test]
    fn keywords_differing_in_ascii_case_are_one_pattern() {
        let patterns: Vec<_> = ["URGENT", "urgent", "Straße", "STRASSE"]
            .iter()
            .enumerate()
            .map(|(i, k)| KeywordPattern { rule: i, keyword_index: 0, keyword: (*k).to_owned(), mode: MatchMode::Word })
            .collect();
        let m = KeywordMatcher::new(&patterns).unwrap();
        assert_eq!(m.patterns.len(), 2);
        let mut out = Vec::new();
        m.find(TextField::Title, "an Urgent strasse", &mut out);
        let found: Vec<_> = out.iter().map(|h| (h.rule, h.start_byte, h.end_byte)).collect();
        assert_eq!(found, vec![(0, 3, 9), (1, 3, 9), (2, 10, 17), (3, 10, 17)]);
    }

    #[test]
    fn whole_words_only() {
        assert_eq!(hits(&["down"], MatchMode::Word, "download countdown"), vec![]);
        assert_eq!(hits(&["down"], MatchMode::Word, "server DOWN."), vec![(7, 11)]);
        assert_eq!(hits(&["outage"], MatchMode::Word, "outage."), vec![(0, 6)]);
        assert_eq!(hits(&["down"], MatchMode::Substring, "countdown"), vec![(5, 9)]);
    }

    #[test]
    fn unicode_folding_maps_back_to_original_offsets() {
        // `ß` folds to `ss`; `Σ` and final `ς` both fold to `σ`.
        assert_eq!(hits(&["strasse"], MatchMode::Word, "Die STRAßE ist zu"), vec![(4, 11)]);
        assert_eq!(hits(&["οδοσ"], MatchMode::Word, "ΟΔΟΣ κλειστή"), vec![(0, 8)]);
        assert_eq!(hits(&["ΟΔΟΣ"], MatchMode::Word, "η οδος"), vec![(3, 11)]);
        assert_eq!(utf16_offset("é😀x", 6), 3);
    }

    #[test]
    fn utf16_offsets_agree_with_decoding_every_char() {
        let text = "ascii, é ß ΟΔΟΣ 中文 😀🚀 x\u{10FFFF}\u{7F}\u{80}\u{7FF}\u{800}\u{FFFF}\u{10000} end";
        for byte in (0..=text.len()).filter(|&b| text.is_char_boundary(b)) {
            let decoded: usize = text[..byte].chars().map(char::len_utf16).sum();
            assert_eq!(utf16_offset(text, byte), decoded, "at byte {byte}");
        }
        assert_eq!(utf16_offset(text, text.len() + 1), 0, "out of range");
        assert_eq!(utf16_offset("é", 1), 0, "inside a char");
    }

    #[test]
    fn keywords_with_punctuation_edges() {
        assert_eq!(hits(&["c++"], MatchMode::Word, "our c++ build"), vec![(4, 7)]);
        assert_eq!(hits(&["c++"], MatchMode::Word, "abc++"), vec![]);
    }
}
