//! wasm-bindgen exports: the codec as a string function, and a typed `RuleEngine` that loads
//! a rule set once and evaluates many tickets.

use std::cell::RefCell;

use js_sys::JsString;
use rules_core::codec::{CheckInput, EvaluateInput, ModuleInfo};
use rules_core::escalate::EscalationCheck;
use rules_core::evaluate::{Classification, ClassificationKey};
use rules_core::read::FromJson;
use rules_core::sla::SlaStatus;
use rules_core::write::ToJson;
use rules_core::{Codec, Evaluation, Outcome, RuleSet, RuleSetSpec};
use tsify::{Ts, Tsify};
use wasm_bindgen::prelude::*;

#[wasm_bindgen(typescript_custom_section)]
const TS_MILLIS: &str = r#"
/** Milliseconds since the Unix epoch, UTC (an integer). */
export type Millis = number;
"#;

thread_local! {
    static CODEC: RefCell<Codec> = RefCell::new(Codec::new());
}

// How `RuleEngine::classify` takes its four texts: written by `TextEncoder.encodeInto` straight
// into a buffer the engine keeps, with one call across. wasm-bindgen's own `&str` parameters
// cost an allocation, a free and a JavaScript loop of one character at a time per text: for a
// 275-character ticket, 906 of the 2,008 ns `classify` took (BENCHMARKS.md, "Peers in Node",
// stop 26).
#[wasm_bindgen(inline_js = r#"
const encoder = new TextEncoder();
let memory = null;
let bytes = new Uint8Array(0);
let words = new Uint32Array(0);
export function bind_memory(m) { memory = m; }
// Writes `text` as UTF-8 from byte `at`; returns the bytes written. Short ASCII texts by a
// loop: a call to encodeInto costs about what thirty characters do.
function put(text, at) {
  const n = text.length;
  if (n < 32) {
    let i = 0;
    for (; i < n; i++) {
      const c = text.charCodeAt(i);
      if (c > 0x7f) break;
      bytes[at + i] = c;
    }
    if (i === n) return n;
  }
  return encoder.encodeInto(text, bytes.subarray(at)).written;
}
// Writes a, b, c and d as UTF-8 one after another from byte `at` (at most `capacity` bytes)
// and their byte lengths into the four u32 at `lengths`. Returns 0, or the capacity needed
// when `capacity` is short (then nothing is written).
export function encode_texts(at, capacity, lengths, a, b, c, d) {
  const need = 3 * (a.length + b.length + c.length + d.length);
  if (need > capacity) return Math.min(need, 0xffffffff);
  // A view of a memory that has grown since is detached, of length 0.
  if (bytes.length === 0) {
    bytes = new Uint8Array(memory.buffer);
    words = new Uint32Array(memory.buffer);
  }
  const w = lengths >>> 2;
  let end = at;
  end += words[w] = put(a, end);
  end += words[w + 1] = put(b, end);
  end += words[w + 2] = put(c, end);
  words[w + 3] = put(d, end);
  return 0;
}
"#)]
extern "C" {
    fn bind_memory(memory: &JsValue);
    fn encode_texts(
        at: u32,
        capacity: u32,
        lengths: u32,
        a: &JsString,
        b: &JsString,
        c: &JsString,
        d: &JsString,
    ) -> u32;
}

/// Answers one codec request (JSON text in, JSON text out): byte-for-byte what the server's
/// host-abi module answers.
#[wasm_bindgen]
pub fn call(request: &str) -> String {
    CODEC.with(|codec| match codec.try_borrow_mut() {
        Ok(mut codec) => codec.call(request.as_bytes()),
        Err(_) => Codec::new().call(request.as_bytes()),
    })
}

/// Crate, ABI and schema versions, and the rule kinds supported.
#[wasm_bindgen(js_name = moduleInfo)]
pub fn module_info() -> Result<Ts<ModuleInfo>, JsError> {
    to_js(&rules_core::codec::module_info())
}

/// The default rule set as JSON text.
#[wasm_bindgen(js_name = defaultRuleSetJson)]
pub fn default_rule_set_json() -> String {
    rules_core::DEFAULT_RULE_SET_JSON.to_owned()
}

/// A JS value as JSON text.
fn json_text<T: Tsify>(value: &Ts<T>) -> Result<String, JsError> {
    let text = js_sys::JSON::stringify(&value.js_value()).map_err(|_| JsError::new("not JSON-serializable"))?;
    Ok(text.into())
}

/// A JS value as `T`, through `JSON.stringify` and the codec's own request reader
/// (`rules_core::read`). The typed API and the codec then hold one reader per type, and agree
/// on the shape: `None` is `null` both ways (serde-wasm-bindgen made it `undefined`, and cost
/// the package 41 KB).
fn from_js<T: Tsify + FromJson>(value: &Ts<T>) -> Result<T, JsError> {
    rules_core::read::from_str(&json_text(value)?).map_err(|e| JsError::new(&e.to_string()))
}

/// `value` as a JS value, through the codec's writer and `JSON.parse`.
fn to_js<T: Tsify + ToJson>(value: &T) -> Result<Ts<T>, JsError> {
    let text = rules_core::write::to_string(value, 256);
    let parsed = js_sys::JSON::parse(&text).map_err(|_| JsError::new("answer is not JSON"))?;
    Ok(Ts::new_unchecked(parsed))
}

/// The `answer` of a successful outcome as a JS value, written by the codec's own writer.
fn outcome_to_js<T: Tsify>(outcome: Outcome) -> Result<Ts<T>, JsError> {
    let text = rules_core::codec::success_json(outcome);
    let parsed = js_sys::JSON::parse(&text).map_err(|_| JsError::new("answer is not JSON"))?;
    let answer = js_sys::Reflect::get(&parsed, &JsValue::from_str("answer"))
        .map_err(|_| JsError::new("answer lacks `answer`"))?;
    Ok(Ts::new_unchecked(answer))
}

fn problems(errors: Vec<rules_core::Problem>) -> JsError {
    let text = errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ");
    JsError::new(&text)
}

/// A compiled rule set, loaded once and evaluated many times.
#[wasm_bindgen]
pub struct RuleEngine {
    rules: RuleSet,
    /// One frozen answer object per [`ClassificationKey`] seen, handed out again by `classify`:
    /// building a JS object (property names and strings decoded in JS) cost more than the
    /// keyword search itself (BENCHMARKS.md, "classify in the browser package"). At most
    /// (prioritization rules + 1) × (assignment rules + 1) entries, only those seen; sorted by
    /// key and binary-searched (a `BTreeMap` of this type was 4 KB of package).
    classified: RefCell<Vec<(ClassificationKey, Ts<Classification>)>>,
    /// Where `classify` has its texts written (see `encode_texts`); grown as texts need.
    texts: RefCell<Vec<u8>>,
}

#[wasm_bindgen]
impl RuleEngine {
    /// Validates and compiles a rule set; throws with every problem found.
    #[wasm_bindgen(constructor)]
    pub fn new(rule_set: Ts<RuleSetSpec>) -> Result<RuleEngine, JsError> {
        let rules = RuleSet::from_json(&json_text(&rule_set)?).map_err(problems)?;
        bind_memory(&wasm_bindgen::memory());
        Ok(Self { rules, classified: RefCell::default(), texts: RefCell::default() })
    }

    /// The rule set's version.
    #[wasm_bindgen(getter)]
    pub fn version(&self) -> u32 {
        u32::try_from(self.rules.version).unwrap_or(u32::MAX)
    }

    /// The priority and role a new ticket gets, without the explanation: cheap enough for every
    /// keystroke. Equals what `evaluate` decides for an unprioritized ticket. The object is
    /// frozen and shared by every call that classifies alike, so an unchanged answer is the
    /// same object (`===`).
    ///
    /// Throws only when the texts do not fit the module's memory (gigabytes), or on a fault of
    /// the package itself. Its result is not a `Result`: wasm-bindgen
    /// returns one through a shim that cost a twentieth of the call.
    pub fn classify(
        &self,
        title: &JsString,
        description: &JsString,
        category: &JsString,
        requester: &JsString,
    ) -> Ts<Classification> {
        match self.classify_texts(title, description, category, requester) {
            Ok(answer) => answer,
            Err(e) => wasm_bindgen::throw_val(e.into()),
        }
    }
}

impl RuleEngine {
    /// [`RuleEngine::classify`], its faults as errors.
    fn classify_texts(
        &self,
        title: &JsString,
        description: &JsString,
        category: &JsString,
        requester: &JsString,
    ) -> Result<Ts<Classification>, JsError> {
        let mut texts = self.texts.try_borrow_mut().map_err(|_| JsError::new("classify re-entered"))?;
        let mut lengths = [0u32; 4];
        let mut encode = |texts: &mut Vec<u8>| {
            let capacity = u32::try_from(texts.len()).unwrap_or(u32::MAX);
            // Addresses as numbers: the module's memory is 32-bit.
            let (at, lengths_at) = (texts.as_mut_ptr() as u32, lengths.as_mut_ptr() as u32);
            encode_texts(at, capacity, lengths_at, title, description, category, requester)
        };
        let need = encode(&mut texts);
        if need != 0 {
            // Grown once, to what the texts can take (three bytes per UTF-16 unit), or refused
            // without aborting the module when its memory cannot hold that.
            let more = usize::try_from(need).unwrap_or(usize::MAX).saturating_sub(texts.len());
            let too_long = || JsError::new("texts too long for the module's memory");
            texts.try_reserve_exact(more).map_err(|_| too_long())?;
            let len = texts.len().saturating_add(more);
            texts.resize(len, 0);
            if encode(&mut texts) != 0 {
                return Err(too_long());
            }
        }
        // `encodeInto` writes well-formed UTF-8 (a lone surrogate becomes U+FFFD, as with
        // wasm-bindgen's strings) within the capacity asked for; checked all the same.
        let mut rest: &[u8] = &texts;
        let mut split = [""; 4];
        for (text, len) in split.iter_mut().zip(lengths) {
            let (bytes, after) = usize::try_from(len)
                .ok()
                .and_then(|len| rest.split_at_checked(len))
                .ok_or_else(|| JsError::new("texts longer than their buffer"))?;
            *text = std::str::from_utf8(bytes).map_err(|_| JsError::new("texts are not UTF-8"))?;
            rest = after;
        }
        let [title, description, category, requester] = split;
        let key = rules_core::classification_key(&self.rules, title, description, category, requester);
        let place = match self.classified.try_borrow() {
            Ok(known) => match known.binary_search_by(|(k, _)| k.cmp(&key)) {
                Ok(i) => match known.get(i) {
                    Some((_, answer)) => return Ok(answer.clone()),
                    None => None,
                },
                Err(place) => Some(place),
            },
            Err(_) => None,
        };
        let answer = to_js(&key.classification(&self.rules))?;
        js_sys::Object::<JsValue>::freeze(answer.js_value().unchecked_ref());
        if let (Some(place), Ok(mut known)) = (place, self.classified.try_borrow_mut()) {
            known.insert(place, (key, answer.clone()));
        }
        Ok(answer)
    }
}

#[wasm_bindgen]
impl RuleEngine {
    /// Prioritizes and assigns a ticket (see the codec's `evaluate`).
    pub fn evaluate(&self, input: Ts<EvaluateInput>) -> Result<Ts<Evaluation>, JsError> {
        let input = from_js(&input)?;
        outcome_to_js(Outcome::Evaluate(input.evaluate(&self.rules).map_err(problems)?))
    }

    /// Escalations due at `now` (see the codec's `check_escalations`).
    #[wasm_bindgen(js_name = checkEscalations)]
    pub fn check_escalations(&self, input: Ts<CheckInput>) -> Result<Ts<EscalationCheck>, JsError> {
        let input = from_js(&input)?;
        outcome_to_js(Outcome::CheckEscalations(input.check_escalations(&self.rules).map_err(problems)?))
    }

    /// SLA clocks at `now`, or `undefined` when no target applies.
    #[wasm_bindgen(js_name = slaStatus)]
    pub fn sla_status(&self, input: Ts<CheckInput>) -> Result<Option<Ts<SlaStatus>>, JsError> {
        let input = from_js(&input)?;
        match input.sla_status(&self.rules).map_err(problems)? {
            Some(s) => Ok(Some(to_js(&s)?)),
            None => Ok(None),
        }
    }
}
