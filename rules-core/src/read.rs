//! The request reader: JSON text into the types a request carries (tickets, users, rule sets).
//!
//! Written for this crate instead of taken from serde_json's deserializer, for the rule
//! modules' size and the codec's speed: serde's reader is a generic visitor stack instantiated
//! once per type (61 KB of the browser package), and its error messages format floating point
//! (`invalid type: floating point …`), which alone pulled two float printers — 37 KB — into
//! each module (BENCHMARKS.md, "Module sizes"). This reader is one non-generic tokenizer plus a
//! short `FromJson` impl per type, and quotes numbers as they were written instead of printing
//! them.
//!
//! It accepts exactly the JSON serde_json accepts for these types and answers with serde_json's
//! messages and positions (`invalid type: string "x", expected i64 at line 1 column 40`), so
//! nothing a caller sees changed. Two serde quirks are not reproduced, on purpose: a struct
//! written as an array of its fields, and a unit variant written as `{"Low": null}`. The types
//! keep their `Deserialize` derives for Rust callers, and a differential test holds the two
//! readers to the same values and the same refusals (`tests/tests/reader.rs`).
//!
//! serde_json still writes every answer.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt::{self, Display};

use crate::codec::{CheckInput, EvaluateInput};
use crate::duration::DurationSpec;
use crate::model::{FiredEscalation, Priority, PrioritySource, Status, StatusEntry, Ticket, User};
use crate::ruleset::{
    AssignmentRuleSpec, EscalationRuleSpec, MatchMode, PrioritizationRuleSpec, RuleSetSpec, SlaPolicySpec,
    SlaTargetSpec, TextField,
};

/// Why a text could not be read, positioned as serde_json positions it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadError {
    message: String,
    syntax: bool,
}

impl ReadError {
    /// Whether the text is not JSON at all (or ends early), as opposed to JSON of the wrong shape.
    pub fn is_syntax(&self) -> bool {
        self.syntax
    }
}

impl Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// Reads a whole text as one `T`: the value, then nothing but whitespace.
pub fn from_str<T: FromJson>(text: &str) -> Result<T, ReadError> {
    let mut reader = Reader::new(text);
    let value = T::read(&mut reader)?;
    reader.end()?;
    Ok(value)
}

/// Reads a whole text as one JSON value of any shape, checked and returned as written (without
/// the whitespace around it): what the codec does with a request's rule set before its cache
/// lookup.
pub fn raw_value(text: &str) -> Result<&str, ReadError> {
    let mut reader = Reader::new(text);
    let value = reader.raw()?;
    reader.end()?;
    Ok(value)
}

/// A type the reader can read.
pub trait FromJson: Sized {
    /// What the value must be, for messages (`struct Ticket`, `u64`, `a string`).
    const EXPECTING: &'static str;

    /// Reads one value at the reader's position.
    fn read(r: &mut Reader<'_>) -> Result<Self, ReadError>;
}

/// The deepest nesting serde_json accepts (its recursion limit), so skipped values are bounded.
const MAX_DEPTH: u32 = 128;

/// A position in a JSON text.
pub struct Reader<'a> {
    text: &'a str,
    bytes: &'a [u8],
    pos: usize,
    /// Arrays and objects open around the position.
    depth: u32,
}

/// One value's first token: scalars are read whole, arrays and objects only recognized.
enum Token<'a> {
    Null,
    Bool(bool),
    Str(Cow<'a, str>),
    /// A non-negative integer that fits `u64`.
    Unsigned(u64),
    /// A negative integer that fits `i64`.
    Signed(i64),
    /// Any other number, as written.
    Float(&'a str),
    Array,
    Object,
}

impl Token<'_> {
    /// The token as serde names an unexpected value.
    fn unexpected(&self) -> String {
        match self {
            Token::Null => "null".to_owned(),
            Token::Bool(b) => format!("boolean `{b}`"),
            Token::Str(s) => format!("string {s:?}"),
            Token::Unsigned(n) => format!("integer `{n}`"),
            Token::Signed(n) => format!("integer `{n}`"),
            Token::Float(text) => format!("floating point `{text}`"),
            Token::Array => "sequence".to_owned(),
            Token::Object => "map".to_owned(),
        }
    }
}

impl<'a> Reader<'a> {
    pub(crate) fn new(text: &'a str) -> Self {
        Self { text, bytes: text.as_bytes(), pos: 0, depth: 0 }
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn bump(&mut self) {
        self.pos = self.pos.saturating_add(1);
    }

    /// Skips whitespace; the next byte, not consumed. In the rule modules the common case, no
    /// whitespace (the hosts send compact JSON), enters no loop: there each loop's head costs a
    /// fuel and an epoch check even when it never goes round, and this is inlined into every
    /// step of the reader (1.9 k of 151 k instructions an evaluation, for 1.9 KB of module;
    /// BENCHMARKS.md, "Stop 29"). Natively the loop is the fast path (+400 instructions the
    /// other way round).
    #[inline]
    fn skip_whitespace(&mut self) -> Option<u8> {
        if cfg!(target_family = "wasm") && !matches!(self.peek(), Some(b' ' | b'\n' | b'\t' | b'\r')) {
            return self.peek();
        }
        self.skip_whitespace_run()
    }

    /// [`Self::skip_whitespace`]'s loop.
    #[cfg_attr(target_family = "wasm", inline(never))]
    #[cfg_attr(not(target_family = "wasm"), inline(always))]
    fn skip_whitespace_run(&mut self) -> Option<u8> {
        while let Some(b) = self.peek() {
            if !matches!(b, b' ' | b'\n' | b'\t' | b'\r') {
                return Some(b);
            }
            self.bump();
        }
        None
    }

    /// An error at byte offset `at`, as `… at line L column C` (columns count bytes, from 0
    /// before a line's first byte, as serde_json counts them).
    #[cold]
    #[inline(never)]
    fn error_at(&self, at: usize, syntax: bool, message: impl Display) -> ReadError {
        let before = self.bytes.get(..at).unwrap_or(self.bytes);
        let line = before.iter().filter(|&&b| b == b'\n').count().saturating_add(1);
        let column = before.iter().rev().take_while(|&&b| b != b'\n').count();
        ReadError { message: format!("{message} at line {line} column {column}"), syntax }
    }

    /// A syntax error after the bytes consumed.
    #[cold]
    #[inline(never)]
    fn syntax(&self, message: &str) -> ReadError {
        self.error_at(self.pos, true, message)
    }

    /// A syntax error at the byte looked at (serde_json's `peek_error`).
    #[cold]
    #[inline(never)]
    fn peek_syntax(&self, message: &str) -> ReadError {
        self.error_at(self.pos.saturating_add(1).min(self.bytes.len()), true, message)
    }

    /// A shape error after the bytes consumed.
    #[cold]
    #[inline(never)]
    fn data(&self, message: impl Display) -> ReadError {
        self.error_at(self.pos, false, message)
    }

    #[cold]
    #[inline(never)]
    fn invalid_type(&self, token: &Token<'_>, expecting: &str) -> ReadError {
        self.data(format_args!("invalid type: {}, expected {expecting}", token.unexpected()))
    }

    #[cold]
    #[inline(never)]
    fn invalid_value(&self, token: &Token<'_>, expecting: &str) -> ReadError {
        self.data(format_args!("invalid value: {}, expected {expecting}", token.unexpected()))
    }

    /// After the top-level value: only whitespace.
    pub(crate) fn end(&mut self) -> Result<(), ReadError> {
        match self.skip_whitespace() {
            None => Ok(()),
            Some(_) => Err(self.peek_syntax("trailing characters")),
        }
    }

    /// The next value's first token.
    fn token(&mut self) -> Result<Token<'a>, ReadError> {
        match self.skip_whitespace() {
            None => Err(self.syntax("EOF while parsing a value")),
            Some(b'"') => {
                self.bump();
                self.string().map(Token::Str)
            }
            Some(b'-' | b'0'..=b'9') => self.number(false),
            Some(b't') => self.literal("true", Token::Bool(true)),
            Some(b'f') => self.literal("false", Token::Bool(false)),
            Some(b'n') => self.literal("null", Token::Null),
            Some(b'[') => Ok(Token::Array),
            Some(b'{') => Ok(Token::Object),
            Some(_) => Err(self.peek_syntax("expected value")),
        }
    }

    fn literal(&mut self, word: &str, token: Token<'a>) -> Result<Token<'a>, ReadError> {
        for expected in word.bytes() {
            match self.peek() {
                None => return Err(self.syntax("EOF while parsing a value")),
                Some(b) => {
                    self.bump();
                    if b != expected {
                        return Err(self.syntax("expected ident"));
                    }
                }
            }
        }
        Ok(token)
    }

    /// A number, by JSON's grammar: `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`.
    /// `skipping`: refused as serde_json refuses a number it skips, which differs from one it
    /// reads only in what an early end is called.
    fn number(&mut self, skipping: bool) -> Result<Token<'a>, ReadError> {
        let early_end = if skipping { "invalid number" } else { "EOF while parsing a value" };
        let start = self.pos;
        let negative = self.peek() == Some(b'-');
        if negative {
            self.bump();
        }
        let mut magnitude: Option<u64> = Some(0);
        match self.peek() {
            Some(b'0') => {
                self.bump();
                if matches!(self.peek(), Some(b'0'..=b'9')) {
                    return Err(self.peek_syntax("invalid number"));
                }
            }
            Some(b'1'..=b'9') => {
                // Below 10^18, `10 m + digit` cannot overflow, so it needs no checked multiply:
                // in WebAssembly that is a call to `__multi3` (a 128-bit product) per digit.
                const UNCHECKED: u64 = 1_000_000_000_000_000_000;
                while let Some(digit @ b'0'..=b'9') = self.peek() {
                    self.bump();
                    let digit = u64::from(digit.wrapping_sub(b'0'));
                    magnitude = match magnitude {
                        Some(m) if m < UNCHECKED => Some(m.wrapping_mul(10).wrapping_add(digit)),
                        _ => magnitude.and_then(|m| m.checked_mul(10)).and_then(|m| m.checked_add(digit)),
                    };
                }
            }
            Some(_) => {
                self.bump();
                return Err(self.syntax("invalid number"));
            }
            None => return Err(self.syntax(early_end)),
        }
        let mut integer = true;
        if self.peek() == Some(b'.') {
            integer = false;
            self.bump();
            if !matches!(self.peek(), Some(b'0'..=b'9')) {
                return Err(match self.peek() {
                    Some(_) => self.peek_syntax("invalid number"),
                    None => self.peek_syntax(early_end),
                });
            }
            while matches!(self.peek(), Some(b'0'..=b'9')) {
                self.bump();
            }
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            integer = false;
            self.bump();
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.bump();
            }
            match self.peek() {
                Some(b'0'..=b'9') => {}
                Some(_) => {
                    self.bump();
                    return Err(self.syntax("invalid number"));
                }
                None => return Err(self.syntax(early_end)),
            }
            while matches!(self.peek(), Some(b'0'..=b'9')) {
                self.bump();
            }
        }
        let written = self.text.get(start..self.pos).unwrap_or_default();
        if !skipping && magnitude.is_none_or(|_| !integer) && beyond_f64(written) {
            return Err(self.syntax("number out of range"));
        }
        Ok(match (integer, negative, magnitude) {
            (true, false, Some(m)) => Token::Unsigned(m),
            // `-0` is a float to serde_json, as is anything below `i64::MIN`.
            (true, true, Some(m)) if m > 0 => match 0i64.checked_sub_unsigned(m) {
                Some(n) => Token::Signed(n),
                None => Token::Float(written),
            },
            _ => Token::Float(written),
        })
    }

    /// A string's contents and its closing quote (the opening one is consumed).
    fn string(&mut self) -> Result<Cow<'a, str>, ReadError> {
        let start = self.pos;
        // The common case: no escapes, borrowed as is. No loop here: `skip_plain` stops only at
        // a quote, a backslash, a control character or the end, and in a rule module a loop's
        // head costs a fuel and an epoch check even when it never goes round.
        self.skip_plain();
        match self.peek() {
            None => Err(self.syntax("EOF while parsing a string")),
            Some(b'"') => {
                let s = self.text.get(start..self.pos).unwrap_or_default();
                self.bump();
                Ok(Cow::Borrowed(s))
            }
            Some(b'\\') => self.escaped_string(start),
            // A control character (below 0x20).
            Some(_) => {
                self.bump();
                Err(self.syntax("control character (\\u0000-\\u001F) found while parsing a string"))
            }
        }
    }

    /// [`Reader::string`] from its first escape on (at `self.pos`; the string began at
    /// `start`). Out of line: strings with escapes are rare, and the common path stays short
    /// enough for Cranelift to keep its values in registers.
    #[cold]
    #[inline(never)]
    fn escaped_string(&mut self, start: usize) -> Result<Cow<'a, str>, ReadError> {
        let mut out = String::from(self.text.get(start..self.pos).unwrap_or_default());
        loop {
            let run = self.pos;
            self.skip_plain();
            out.push_str(self.text.get(run..self.pos).unwrap_or_default());
            match self.peek() {
                None => return Err(self.syntax("EOF while parsing a string")),
                Some(b'"') => {
                    self.bump();
                    return Ok(Cow::Owned(out));
                }
                Some(b'\\') => {
                    self.bump();
                    let c = self.escape()?;
                    out.push(c);
                }
                Some(_) => {
                    self.bump();
                    return Err(self.syntax("control character (\\u0000-\\u001F) found while parsing a string"));
                }
            }
        }
    }

    /// Skips string bytes that need no attention: all but `"`, `\\` and control characters.
    /// Many bytes a step ([`Reader::skip_plain_wide`]), then one at a time near the input's end.
    #[inline]
    fn skip_plain(&mut self) {
        if self.skip_plain_wide() {
            return;
        }
        while let Some(b) = self.peek() {
            if b == b'"' || b == b'\\' || b < 0x20 {
                return;
            }
            self.bump();
        }
    }

    /// [`Reader::skip_plain`]'s wide steps: eight bytes at a time, with serde_json's bit tricks
    /// (`skip_to_escape`): a lane of `x - 0x20…20` that borrows, where `x` had its top bit clear,
    /// was below 0x20; XOR with a repeated byte turns "equals it" into "is zero", tested the same
    /// way. Borrows only carry into later lanes, so the first flagged lane is a real one. Stops at
    /// the first byte needing attention (and says so), or before the last few bytes of the input.
    #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
    #[inline]
    fn skip_plain_wide(&mut self) -> bool {
        const ONES: u64 = 0x0101_0101_0101_0101;
        const HIGH: u64 = 0x8080_8080_8080_8080;
        const QUOTES: u64 = ONES.wrapping_mul(b'"' as u64);
        const BACKSLASHES: u64 = ONES.wrapping_mul(b'\\' as u64);
        const SPACES: u64 = ONES.wrapping_mul(0x20);
        let rest = self.bytes.get(self.pos..).unwrap_or_default();
        let (chunks, _) = rest.as_chunks::<8>();
        for chunk in chunks {
            let x = u64::from_le_bytes(*chunk);
            let quote = x ^ QUOTES;
            let backslash = x ^ BACKSLASHES;
            let found = (x.wrapping_sub(SPACES) & !x
                | quote.wrapping_sub(ONES) & !quote
                | backslash.wrapping_sub(ONES) & !backslash)
                & HIGH;
            if found != 0 {
                self.pos = self.pos.saturating_add(found.trailing_zeros().wrapping_div(8) as usize);
                return true;
            }
            self.pos = self.pos.saturating_add(8);
        }
        false
    }

    /// [`Reader::skip_plain_wide`] in the rule modules: sixteen bytes a step with WebAssembly
    /// SIMD (`i8x16.eq`, `i8x16.lt_u`, `i8x16.bitmask`), the position kept in a local and stored
    /// once. Each round of a loop there also pays Wasmtime's fuel and epoch checks.
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    #[inline]
    fn skip_plain_wide(&mut self) -> bool {
        use core::arch::wasm32::{u8x16_bitmask, u8x16_eq, u8x16_lt, u8x16_splat, v128_or};
        let rest = self.bytes.get(self.pos..).unwrap_or_default();
        let (chunks, _) = rest.as_chunks::<16>();
        // At most `rest.len()`: no overflow.
        let mut skipped: usize = 0;
        let mut found = 0;
        for chunk in chunks {
            let x = crate::wide::load(chunk);
            let special = v128_or(
                v128_or(u8x16_eq(x, u8x16_splat(b'"')), u8x16_eq(x, u8x16_splat(b'\\'))),
                u8x16_lt(x, u8x16_splat(0x20)),
            );
            found = u8x16_bitmask(special);
            if found != 0 {
                skipped = skipped.wrapping_add(found.trailing_zeros() as usize);
                break;
            }
            skipped = skipped.wrapping_add(16);
        }
        self.pos = self.pos.wrapping_add(skipped);
        found != 0
    }

    /// Skips a string (the opening quote consumed), checking its escapes' syntax only: a
    /// skipped string is not decoded, so serde_json does not look into `\u` escapes either.
    fn skip_string(&mut self) -> Result<(), ReadError> {
        loop {
            self.skip_plain();
            let Some(b) = self.peek() else {
                return Err(self.syntax("EOF while parsing a string"));
            };
            if b < 0x20 {
                // Reported before the character here (after it when decoding), as serde_json does.
                return Err(self.syntax("control character (\\u0000-\\u001F) found while parsing a string"));
            }
            self.bump();
            match b {
                b'"' => return Ok(()),
                b'\\' => match self.peek() {
                    None => return Err(self.syntax("EOF while parsing a string")),
                    Some(e) => {
                        self.bump();
                        match e {
                            b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => {}
                            b'u' => {
                                self.hex4()?;
                            }
                            _ => return Err(self.syntax("invalid escape")),
                        }
                    }
                },
                _ => {}
            }
        }
    }

    /// One escape after its backslash.
    fn escape(&mut self) -> Result<char, ReadError> {
        let Some(b) = self.peek() else {
            return Err(self.syntax("EOF while parsing a string"));
        };
        self.bump();
        Ok(match b {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => {
                let first = self.hex4()?;
                match first {
                    0xDC00..=0xDFFF => return Err(self.syntax("lone leading surrogate in hex escape")),
                    0xD800..=0xDBFF => {
                        for expected in [b'\\', b'u'] {
                            match self.peek() {
                                None => return Err(self.syntax("EOF while parsing a string")),
                                Some(b) => {
                                    self.bump();
                                    if b != expected {
                                        return Err(self.syntax("unexpected end of hex escape"));
                                    }
                                }
                            }
                        }
                        let second = self.hex4()?;
                        if !(0xDC00..=0xDFFF).contains(&second) {
                            return Err(self.syntax("lone leading surrogate in hex escape"));
                        }
                        let high = u32::from(first).saturating_sub(0xD800);
                        let low = u32::from(second).saturating_sub(0xDC00);
                        let code = (high << 10 | low).saturating_add(0x1_0000);
                        char::from_u32(code).ok_or_else(|| self.syntax("invalid unicode code point"))?
                    }
                    n => char::from_u32(u32::from(n)).ok_or_else(|| self.syntax("invalid unicode code point"))?,
                }
            }
            _ => return Err(self.syntax("invalid escape")),
        })
    }

    /// Four hex digits, consumed together (a bad one is reported after all four, as serde_json does).
    fn hex4(&mut self) -> Result<u16, ReadError> {
        let Some(digits) = self.bytes.get(self.pos..self.pos.saturating_add(4)) else {
            self.pos = self.bytes.len();
            return Err(self.syntax("EOF while parsing a string"));
        };
        self.pos = self.pos.saturating_add(4);
        let mut n: u16 = 0;
        for &b in digits {
            match char::from(b).to_digit(16).and_then(|d| u16::try_from(d).ok()) {
                Some(d) => n = n.wrapping_shl(4) | d,
                None => return Err(self.syntax("invalid escape")),
            }
        }
        Ok(n)
    }

    /// Enters the array or object whose opening byte is next.
    fn open(&mut self) -> Result<(), ReadError> {
        self.depth = self.depth.saturating_add(1);
        if self.depth >= MAX_DEPTH {
            return Err(self.peek_syntax("recursion limit exceeded"));
        }
        self.bump();
        Ok(())
    }

    /// Whether another element follows in the array being read (`first`: none read yet).
    /// The same steps as [`Self::key_start`], written twice on purpose: one helper taking the
    /// closing byte and the messages as parameters measured 1.9 % more instructions per
    /// evaluation natively and 2.1 % in Wasmtime.
    fn next_element(&mut self, first: &mut bool) -> Result<bool, ReadError> {
        let at = match self.skip_whitespace() {
            Some(b']') => {
                self.bump();
                self.depth = self.depth.saturating_sub(1);
                return Ok(false);
            }
            Some(b',') if !*first => {
                self.bump();
                self.skip_whitespace()
            }
            Some(b) if *first => Some(b),
            Some(_) => return Err(self.peek_syntax("expected `,` or `]`")),
            None => return Err(self.peek_syntax("EOF while parsing a list")),
        };
        *first = false;
        match at {
            Some(b']') => Err(self.peek_syntax("trailing comma")),
            Some(_) => Ok(true),
            None => Err(self.peek_syntax("EOF while parsing a value")),
        }
    }

    /// The next key in the object being read, or none at its end.
    fn next_key(&mut self, first: &mut bool) -> Result<Option<Cow<'a, str>>, ReadError> {
        if self.key_start(first)? { self.string().map(Some) } else { Ok(None) }
    }

    /// Whether another key follows in the object being read; if so, its opening quote is consumed.
    fn key_start(&mut self, first: &mut bool) -> Result<bool, ReadError> {
        let at = match self.skip_whitespace() {
            Some(b'}') => {
                self.bump();
                self.depth = self.depth.saturating_sub(1);
                return Ok(false);
            }
            Some(b',') if !*first => {
                self.bump();
                self.skip_whitespace()
            }
            Some(b) if *first => Some(b),
            Some(_) => return Err(self.peek_syntax("expected `,` or `}`")),
            None => return Err(self.peek_syntax("EOF while parsing an object")),
        };
        *first = false;
        match at {
            Some(b'"') => {
                self.bump();
                Ok(true)
            }
            Some(b'}') => Err(self.peek_syntax("trailing comma")),
            Some(_) => Err(self.peek_syntax("key must be a string")),
            None => Err(self.peek_syntax("EOF while parsing a value")),
        }
    }

    /// The colon between a key and its value.
    pub(crate) fn colon(&mut self) -> Result<(), ReadError> {
        match self.skip_whitespace() {
            Some(b':') => {
                self.bump();
                Ok(())
            }
            Some(_) => Err(self.peek_syntax("expected `:`")),
            None => Err(self.peek_syntax("EOF while parsing an object")),
        }
    }

    /// Reads an object: `each` is called with every key, the reader at the key's value.
    pub(crate) fn object(
        &mut self,
        expecting: &str,
        mut each: impl FnMut(&mut Self, &str) -> Result<(), ReadError>,
    ) -> Result<(), ReadError> {
        match self.token()? {
            Token::Object => self.open()?,
            other => return Err(self.invalid_type(&other, expecting)),
        }
        let mut first = true;
        while let Some(key) = self.next_key(&mut first)? {
            each(self, &key)?;
        }
        Ok(())
    }

    /// Reads a struct's field value into its slot, refusing a second one.
    pub(crate) fn field<T: FromJson>(&mut self, slot: &mut Option<T>, name: &str) -> Result<(), ReadError> {
        if slot.is_some() {
            return Err(self.duplicate_field(name));
        }
        self.colon()?;
        *slot = Some(T::read(self)?);
        Ok(())
    }

    /// Where serde_json positions a refusal of a key: after its attempt to close the object
    /// (whitespace skipped, a `}` consumed).
    fn after_key(&mut self) {
        if self.skip_whitespace() == Some(b'}') {
            self.bump();
        }
    }

    #[cold]
    #[inline(never)]
    pub(crate) fn duplicate_field(&mut self, name: &str) -> ReadError {
        self.after_key();
        self.data(format_args!("duplicate field `{name}`"))
    }

    #[cold]
    #[inline(never)]
    pub(crate) fn unknown_field(&mut self, key: &str, fields: &[&str]) -> ReadError {
        self.after_key();
        match fields {
            [] => self.data(format_args!("unknown field `{key}`, there are no fields")),
            _ => self.data(format_args!("unknown field `{key}`, expected {}", OneOf(fields))),
        }
    }

    #[cold]
    #[inline(never)]
    pub(crate) fn missing_field(&self, name: &str) -> ReadError {
        self.data(format_args!("missing field `{name}`"))
    }

    /// Reads a string that must be one of `names`; its index.
    pub(crate) fn variant(&mut self, names: &[&str], expecting: &str) -> Result<usize, ReadError> {
        let at = self.skip_whitespace().filter(|&b| b != b'"').map(|_| self.pos);
        match self.token() {
            Ok(Token::Str(s)) => names
                .iter()
                .position(|n| *n == s)
                .ok_or_else(|| self.data(format_args!("unknown variant `{s}`, expected {}", OneOf(names)))),
            Ok(other) => Err(self.invalid_type(&other, expecting)),
            // Not even a value: serde_json's message, which does not look past the first byte.
            Err(e) => match at {
                Some(at) => {
                    self.pos = at;
                    Err(self.peek_syntax("expected value"))
                }
                None => Err(e),
            },
        }
    }

    /// [`Self::raw`], unless the text here starts with `known`, an object read before at this
    /// same place in a request: then it is that object again (an object's text ends where its
    /// braces close, so no longer value can start with it), skipped with one comparison.
    /// Whether it was `known`, and the value's text.
    pub(crate) fn raw_or_known(&mut self, known: Option<&str>) -> Result<(bool, &'a str), ReadError> {
        self.skip_whitespace();
        let start = self.pos;
        if let Some(known) = known.filter(|k| k.starts_with('{'))
            && let Some(here) = self.text.get(start..start.saturating_add(known.len()))
            && crate::codec::same_text(here, known)
        {
            self.pos = start.saturating_add(known.len());
            return Ok((true, here));
        }
        self.raw().map(|raw| (false, raw))
    }

    /// Skips one value, checking it is well-formed JSON; its text. serde_json's skipping state
    /// machine (`ignore_value`), so that refusals read the same, except that nesting is limited
    /// here as everywhere else. Iterative, with the open containers kept as bits.
    pub(crate) fn raw(&mut self) -> Result<&'a str, ReadError> {
        self.skip_whitespace();
        let start = self.pos;
        // Bit i: whether the container at nesting i (from this value) is an object.
        let mut objects: u128 = 0;
        let mut nesting: u32 = 0;
        loop {
            // At a value.
            let opened = match self.skip_whitespace() {
                None => return Err(self.peek_syntax("EOF while parsing a value")),
                Some(b'"') => {
                    self.bump();
                    self.skip_string()?;
                    false
                }
                Some(b @ (b'[' | b'{')) => {
                    self.open()?;
                    objects = objects.wrapping_shl(1) | u128::from(b == b'{');
                    nesting = nesting.saturating_add(1);
                    true
                }
                Some(b'-' | b'0'..=b'9') => {
                    self.number(true)?;
                    false
                }
                Some(_) => {
                    self.token()?;
                    false
                }
            };
            // Close what ends here; stop at the next value or key.
            let mut after_value = !opened;
            loop {
                if nesting == 0 {
                    return Ok(self.text.get(start..self.pos).unwrap_or_default());
                }
                let object = objects & 1 == 1;
                match self.skip_whitespace() {
                    Some(b',') if after_value => {
                        self.bump();
                        break;
                    }
                    Some(b']') if !object => {}
                    Some(b'}') if object => {}
                    Some(_) if after_value => {
                        return Err(self.peek_syntax(if object {
                            "expected `,` or `}`"
                        } else {
                            "expected `,` or `]`"
                        }));
                    }
                    Some(_) => break,
                    None => {
                        return Err(self.peek_syntax(if object {
                            "EOF while parsing an object"
                        } else {
                            "EOF while parsing a list"
                        }));
                    }
                }
                self.bump();
                self.depth = self.depth.saturating_sub(1);
                objects = objects.wrapping_shr(1);
                nesting = nesting.saturating_sub(1);
                after_value = true;
            }
            if objects & 1 == 1 {
                match self.skip_whitespace() {
                    Some(b'"') => self.bump(),
                    Some(_) => return Err(self.peek_syntax("key must be a string")),
                    None => return Err(self.peek_syntax("EOF while parsing an object")),
                }
                self.skip_string()?;
                self.colon()?;
            }
        }
    }
}

/// Whether a number that is not an integer of 64 bits is beyond `f64`'s range, which
/// serde_json refuses as `number out of range` where it reads one (not where it skips one).
/// Decided on the decimal digits, without floating point: the magnitude is `d.ddd × 10^e`, and
/// out of range from `1.7976931348623158 × 10^308` (where rounding reaches infinity; to
/// 17 digits, like serde_json's own conversion).
#[cold]
#[inline(never)]
fn beyond_f64(written: &str) -> bool {
    let unsigned = written.strip_prefix('-').unwrap_or(written);
    let (mantissa, exponent) = match unsigned.split_once(['e', 'E']) {
        Some((m, e)) => (m, e),
        None => (unsigned, "0"),
    };
    let (integer, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let Some(first) = integer.bytes().chain(fraction.bytes()).position(|b| b != b'0') else {
        return false; // zero, whatever its exponent
    };
    // The decimal exponent of the first significant digit, saturating: any `e` with more
    // digits than an i64 holds is far out of range (or far below it).
    let exponent_negative = exponent.starts_with('-');
    let exponent = exponent
        .trim_start_matches(['+', '-'])
        .bytes()
        .fold(0i64, |acc, d| acc.saturating_mul(10).saturating_add(i64::from(d.wrapping_sub(b'0'))));
    let exponent = if exponent_negative { exponent.saturating_neg() } else { exponent };
    let leading = i64::try_from(integer.len()).unwrap_or(i64::MAX).saturating_sub(1);
    let scale = leading.saturating_sub(i64::try_from(first).unwrap_or(i64::MAX)).saturating_add(exponent);
    match scale.cmp(&308) {
        std::cmp::Ordering::Less => false,
        std::cmp::Ordering::Greater => true,
        std::cmp::Ordering::Equal => {
            let significant = integer.bytes().chain(fraction.bytes()).skip(first).chain(std::iter::repeat(b'0'));
            significant.take(17).cmp(b"17976931348623158".iter().copied()) != std::cmp::Ordering::Less
        }
    }
}

/// `` `a` ``, `` `a` or `b` ``, `` one of `a`, `b`, `c` ``: serde's list of expected names.
struct OneOf<'a>(&'a [&'a str]);

impl Display for OneOf<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            [] => Ok(()),
            [one] => write!(f, "`{one}`"),
            [a, b] => write!(f, "`{a}` or `{b}`"),
            names => {
                f.write_str("one of ")?;
                for (i, name) in names.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "`{name}`")?;
                }
                Ok(())
            }
        }
    }
}

impl FromJson for String {
    const EXPECTING: &'static str = "a string";

    fn read(r: &mut Reader<'_>) -> Result<Self, ReadError> {
        match r.token()? {
            Token::Str(s) => Ok(s.into_owned()),
            other => Err(r.invalid_type(&other, Self::EXPECTING)),
        }
    }
}

impl FromJson for bool {
    const EXPECTING: &'static str = "a boolean";

    fn read(r: &mut Reader<'_>) -> Result<Self, ReadError> {
        match r.token()? {
            Token::Bool(b) => Ok(b),
            other => Err(r.invalid_type(&other, Self::EXPECTING)),
        }
    }
}

/// Integers: in range, or serde's `invalid value`; any other number is `invalid type`.
macro_rules! read_integer {
    ($($ty:ty),*) => {$(
        impl FromJson for $ty {
            const EXPECTING: &'static str = stringify!($ty);

            fn read(r: &mut Reader<'_>) -> Result<Self, ReadError> {
                let token = r.token()?;
                let value = match token {
                    Token::Unsigned(n) => <$ty>::try_from(n).ok(),
                    Token::Signed(n) => <$ty>::try_from(n).ok(),
                    _ => return Err(r.invalid_type(&token, Self::EXPECTING)),
                };
                value.ok_or_else(|| r.invalid_value(&token, Self::EXPECTING))
            }
        }
    )*};
}

read_integer!(u32, u64, i64);

impl<T: FromJson> FromJson for Option<T> {
    const EXPECTING: &'static str = T::EXPECTING;

    fn read(r: &mut Reader<'_>) -> Result<Self, ReadError> {
        if r.skip_whitespace() == Some(b'n') {
            r.literal("null", Token::Null)?;
            return Ok(None);
        }
        T::read(r).map(Some)
    }
}

impl<T: FromJson> FromJson for Vec<T> {
    const EXPECTING: &'static str = "a sequence";

    fn read(r: &mut Reader<'_>) -> Result<Self, ReadError> {
        match r.token()? {
            Token::Array => r.open()?,
            other => return Err(r.invalid_type(&other, Self::EXPECTING)),
        }
        let mut out = Vec::new();
        let mut first = true;
        while r.next_element(&mut first)? {
            out.push(T::read(r)?);
        }
        Ok(out)
    }
}

impl FromJson for BTreeMap<String, u64> {
    const EXPECTING: &'static str = "a map";

    fn read(r: &mut Reader<'_>) -> Result<Self, ReadError> {
        let mut out = BTreeMap::new();
        r.object(Self::EXPECTING, |r, key| {
            r.colon()?;
            // A repeated key keeps its last value, as serde's map does.
            out.insert(key.to_owned(), u64::read(r)?);
            Ok(())
        })?;
        Ok(out)
    }
}

impl FromJson for DurationSpec {
    const EXPECTING: &'static str = "whole minutes or an ISO 8601 duration such as `PT2H`";

    fn read(r: &mut Reader<'_>) -> Result<Self, ReadError> {
        match r.token()? {
            Token::Unsigned(n) => Ok(DurationSpec::Minutes(n)),
            Token::Str(s) => Ok(DurationSpec::Iso(s.into_owned())),
            token @ Token::Signed(_) => Err(r.invalid_value(&token, Self::EXPECTING)),
            // serde_json reads any value here, so it refuses an array or object from inside it,
            // positioned where its attempt to close it stopped.
            container @ (Token::Array | Token::Object) => {
                let close = if matches!(container, Token::Array) { b']' } else { b'}' };
                r.open()?;
                match r.skip_whitespace() {
                    Some(b) if b == close => r.bump(),
                    Some(b',') if close == b']' => {
                        r.bump();
                        r.skip_whitespace();
                    }
                    _ => {}
                }
                Err(r.invalid_type(&container, Self::EXPECTING))
            }
            other => Err(r.invalid_type(&other, Self::EXPECTING)),
        }
    }
}

/// Unit-variant enums, written as their variant's name.
macro_rules! read_enum {
    ($($ty:ident { $($name:literal => $variant:ident),* $(,)? })*) => {$(
        impl FromJson for $ty {
            const EXPECTING: &'static str = concat!("enum ", stringify!($ty));

            fn read(r: &mut Reader<'_>) -> Result<Self, ReadError> {
                const NAMES: &[&str] = &[$($name),*];
                const VARIANTS: &[$ty] = &[$($ty::$variant),*];
                let index = r.variant(NAMES, Self::EXPECTING)?;
                VARIANTS.get(index).copied().ok_or_else(|| r.data("unknown variant"))
            }
        }
    )*};
}

read_enum! {
    Priority { "Low" => Low, "Medium" => Medium, "High" => High, "Critical" => Critical }
    Status {
        "InApproval" => InApproval, "Approved" => Approved, "Rejected" => Rejected, "InProgress" => InProgress,
        "OnHold" => OnHold, "Resolved" => Resolved, "Closed" => Closed,
    }
    PrioritySource { "person" => Person, "automation" => Automation }
    TextField { "title" => Title, "description" => Description }
    MatchMode { "word" => Word, "substring" => Substring }
}

/// Structs with unknown fields denied: each field is `name: Type` (required) or
/// `name: Type = default` (the value when absent, as `#[serde(default …)]` says).
macro_rules! read_struct {
    ($($ty:ident { $($field:ident : $fty:ty $(= $default:expr)?),* $(,)? })*) => {$(
        impl FromJson for $ty {
            const EXPECTING: &'static str = concat!("struct ", stringify!($ty));

            fn read(r: &mut Reader<'_>) -> Result<Self, ReadError> {
                const FIELDS: &[&str] = &[$(stringify!($field)),*];
                $(let mut $field: Option<$fty> = None;)*
                r.object(Self::EXPECTING, |r, key| match key {
                    $(stringify!($field) => r.field(&mut $field, stringify!($field)),)*
                    _ => Err(r.unknown_field(key, FIELDS)),
                })?;
                Ok($ty {
                    $($field: match $field {
                        Some(value) => value,
                        None => read_struct!(@absent r $field $($default)?),
                    },)*
                })
            }
        }
    )*};
    (@absent $r:ident $field:ident) => { return Err($r.missing_field(stringify!($field))) };
    (@absent $r:ident $field:ident $default:expr) => { $default };
}

read_struct! {
    StatusEntry { status: Status, at: i64 }
    FiredEscalation { rule: String, status_entered_at: i64 }
    Ticket {
        id: String = String::new(),
        title: String,
        description: String = String::new(),
        category: String,
        requester: String = String::new(),
        priority: Option<Priority> = None,
        priority_source: PrioritySource = PrioritySource::default(),
        status: Status = Status::InApproval,
        assignee: Option<String> = None,
        created_at: i64,
        history: Vec<StatusEntry> = Vec::new(),
        first_response_at: Option<i64> = None,
        escalations_fired: Vec<FiredEscalation> = Vec::new(),
    }
    User {
        id: String,
        roles: Vec<String> = Vec::new(),
        available: bool = true,
        open_tickets: u32 = 0,
        max_open_tickets: Option<u32> = None,
    }
    RuleSetSpec {
        version: u64,
        default_priority: String = crate::ruleset::default_priority(),
        prioritization: Vec<PrioritizationRuleSpec> = Vec::new(),
        assignment: Vec<AssignmentRuleSpec> = Vec::new(),
        escalation: Vec<EscalationRuleSpec> = Vec::new(),
        sla: Option<SlaPolicySpec> = None,
    }
    PrioritizationRuleSpec {
        id: String,
        keywords: Vec<String>,
        priority: String,
        fields: Option<Vec<TextField>> = None,
        match_mode: MatchMode = MatchMode::default(),
        categories: Vec<String> = Vec::new(),
        requesters: Vec<String> = Vec::new(),
        may_lower: bool = false,
    }
    AssignmentRuleSpec { id: String, category: String, role: String }
    EscalationRuleSpec {
        id: String,
        priority: String,
        status: String,
        after: DurationSpec,
        escalate_to_role: String,
        set_priority: Option<String> = None,
    }
    SlaPolicySpec {
        warning_bp: u32 = crate::ruleset::default_warning_bp(),
        pause_statuses: Vec<String> = crate::ruleset::default_pause_statuses(),
        targets: Vec<SlaTargetSpec>,
    }
    SlaTargetSpec { priority: String, first_response: DurationSpec, resolution: DurationSpec }
    EvaluateInput {
        ticket: Ticket,
        now: i64,
        users: Vec<User> = Vec::new(),
        counters: BTreeMap<String, u64> = BTreeMap::new(),
    }
    CheckInput { ticket: Ticket, now: i64, users: Vec<User> = Vec::new() }
}

#[cfg(test)]
mod tests {
    use super::{beyond_f64, from_str};

    #[test]
    fn integers_read_as_serde_json_reads_them_across_the_range() {
        let mut cases: Vec<String> = vec![u64::MAX.to_string(), "18446744073709551616".to_owned()];
        let mut p: u128 = 1;
        while p < 1_000_000_000_000_000_000_000 {
            for n in [p - 1, p, p + 1, 2 * p - 1, 9 * p, 10 * p - 1] {
                cases.push(n.to_string());
                cases.push(format!("-{n}"));
            }
            p *= 10;
        }
        for n in [u64::MAX - 9, u64::MAX - 5, u64::MAX / 10, u64::MAX / 10 + 1, i64::MAX as u64 + 1] {
            cases.push(n.to_string());
            cases.push(format!("-{n}"));
        }
        for case in cases {
            assert_eq!(from_str::<u64>(&case).ok(), serde_json::from_str::<u64>(&case).ok(), "u64 {case}");
            assert_eq!(from_str::<i64>(&case).ok(), serde_json::from_str::<i64>(&case).ok(), "i64 {case}");
            assert_eq!(from_str::<u32>(&case).ok(), serde_json::from_str::<u32>(&case).ok(), "u32 {case}");
        }
    }

    #[test]
    fn beyond_f64_agrees_with_parsing_to_f64() {
        let zeros = |n: usize| "0".repeat(n);
        let mut cases = vec![
            "1e308".to_owned(),
            "1.7976931348623157e308".to_owned(),
            "1.7976931348623159e308".to_owned(),
            "1.8e308".to_owned(),
            "-1e400".to_owned(),
            "1e309".to_owned(),
            "0e999".to_owned(),
            "0.000e99999999999999999999".to_owned(),
            "1e99999999999999999999".to_owned(),
            "1e-99999999999999999999".to_owned(),
            "1e-400".to_owned(),
            "0.0001e312".to_owned(),
            "0.001e312".to_owned(),
            format!("17976931348623157{}", zeros(292)),
            format!("17976931348623159{}", zeros(292)),
            format!("1{}", zeros(309)),
            format!("{}.5", zeros(400)),
        ];
        for e in 290..330 {
            for m in ["1", "9.99", "0.5", "17.9", "1.79769313486231", "1.7976931348623160"] {
                cases.push(format!("{m}e{e}"));
                cases.push(format!("-{m}E+{e}"));
            }
        }
        for case in cases {
            let infinite = case.parse::<f64>().unwrap().is_infinite();
            assert_eq!(beyond_f64(&case), infinite, "{case}");
        }
    }
}
