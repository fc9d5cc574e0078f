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

use aho_corasick::automaton::Automaton;
use aho_corasick::{Input, MatchKind, dfa::DFA, nfa::contiguous::NFA};
use caseless::Caseless;

use crate::ruleset::{MatchMode, TextField};

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
}

impl KeywordMatcher {
    pub(crate) fn new(patterns: &[KeywordPattern]) -> Result<Self, aho_corasick::BuildError> {
        Self::build(patterns, DFA_MAX_KEYWORDS)
    }

    /// [`KeywordMatcher::new`], with a DFA up to `dfa_max` distinct keywords (tests set it to
    /// force either automaton).
    fn build(patterns: &[KeywordPattern], dfa_max: usize) -> Result<Self, aho_corasick::BuildError> {
        let mut folded: Vec<String> = Vec::new();
        let mut index: BTreeMap<String, usize> = BTreeMap::new();
        let mut infos: Vec<PatternInfo> = Vec::new();
        let mut rules = 0;
        for p in patterns {
            rules = rules.max(p.rule.saturating_add(1));
            // Folded like text, and ASCII capitals lowered too: `fold` leaves ASCII text as it
            // is (the automaton ignores ASCII case), but `URGENT` and `urgent` are one keyword.
            let mut f = fold(&p.keyword, false).text.into_owned();
            f.make_ascii_lowercase();
            let occurrence = Occurrence { rule: p.rule, keyword_index: p.keyword_index, mode: p.mode };
            if let Some(&i) = index.get(&f) {
                if let Some(info) = infos.get_mut(i) {
                    info.occurrences.push(occurrence);
                }
                continue;
            }
            infos.push(PatternInfo {
                word_start: f.chars().next().is_some_and(is_word_char),
                word_end: f.chars().next_back().is_some_and(is_word_char),
                occurrences: vec![occurrence],
            });
            index.insert(f.clone(), folded.len());
            folded.push(f);
        }
        let automaton = if folded.is_empty() {
            None
        } else if folded.len() <= dfa_max {
            Some(Searcher::Dfa(
                DFA::builder().match_kind(MatchKind::Standard).ascii_case_insensitive(true).build(&folded)?,
            ))
        } else {
            Some(Searcher::Nfa(
                NFA::builder().match_kind(MatchKind::Standard).ascii_case_insensitive(true).build(&folded)?,
            ))
        };
        Ok(Self { automaton, patterns: infos, rules })
    }

    /// Marks in `matched` (indexed by rule) every rule with a keyword in `text` that `wanted`
    /// accepts for the rule: the lean path for [`crate::evaluate::classify`], with no offsets to
    /// map back and nothing allocated per hit.
    pub(crate) fn mark(&self, text: &str, matched: &mut [bool], wanted: impl Fn(usize) -> bool) {
        let Some(automaton) = &self.automaton else { return };
        if text.is_empty() {
            return;
        }
        let folded = fold(text, false);
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
        let folded = fold(text, true);
        let haystack: &str = &folded.text;
        let mut counts = vec![0usize; self.rules];
        automaton.each_match(haystack, |m| {
            let Some(info) = self.patterns.get(m.pattern().as_usize()) else { return };
            let bounded = is_bounded(haystack, info, m.start(), m.end());
            for o in &info.occurrences {
                if o.mode == MatchMode::Word && !bounded {
                    continue;
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

/// The compiled automaton: a DFA for few keywords, a contiguous NFA for many.
#[derive(Debug, Clone)]
enum Searcher {
    Dfa(DFA),
    Nfa(NFA),
}

impl Searcher {
    /// Calls `f` with every match in `haystack`, overlapping ones included.
    fn each_match(&self, haystack: &str, f: impl FnMut(aho_corasick::Match)) {
        match self {
            Searcher::Dfa(dfa) => overlapping(dfa, haystack).for_each(f),
            Searcher::Nfa(nfa) => overlapping(nfa, haystack).for_each(f),
        }
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
/// `map_origin` is set and folding changed lengths.
///
/// ASCII text is searched as it is: the automaton matches ASCII letters in either case, and
/// for ASCII text that is exactly Unicode folding (folded keywords hold no ASCII capitals), so
/// the text is neither scanned for capitals nor copied.
fn fold(text: &str, map_origin: bool) -> Folded<'_> {
    if text.is_ascii() {
        return Folded { text: Cow::Borrowed(text), origin: None };
    }
    let mut out = String::with_capacity(text.len());
    let mut origin = Vec::with_capacity(if map_origin { text.len() } else { 0 });
    for (i, c) in text.char_indices() {
        let before = out.len();
        if c.is_ascii() {
            // Most of a mostly-Latin text: skip the table lookup.
            out.push(c.to_ascii_lowercase());
        } else {
            out.extend(std::iter::once(c).default_case_fold());
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
        let mut seed: u64 = 0x5EED;
        let mut next = |n: usize| {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (seed >> 33) as usize % n
        };
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
