//! wasm-bindgen exports: the codec as a string function, and a typed `RuleEngine` that loads
//! a rule set once and evaluates many tickets.

use std::cell::RefCell;
use std::collections::BTreeMap;

use rules_core::codec::{CheckInput, EvaluateInput, ModuleInfo};
use rules_core::escalate::EscalationCheck;
use rules_core::evaluate::{Classification, ClassificationKey};
use rules_core::sla::SlaStatus;
use rules_core::{Codec, Evaluation, RuleSet, RuleSetSpec};
use tsify::Ts;
use wasm_bindgen::prelude::*;

#[wasm_bindgen(typescript_custom_section)]
const TS_MILLIS: &str = r#"
/** Milliseconds since the Unix epoch, UTC (an integer). */
export type Millis = number;
"#;

thread_local! {
    static CODEC: RefCell<Codec> = RefCell::new(Codec::new());
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
    Ok(Ts::from_rust(&rules_core::codec::module_info())?)
}

/// The default rule set as JSON text.
#[wasm_bindgen(js_name = defaultRuleSetJson)]
pub fn default_rule_set_json() -> String {
    rules_core::DEFAULT_RULE_SET_JSON.to_owned()
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
    /// (prioritization rules + 1) × (assignment rules + 1) entries, only those seen.
    classified: RefCell<BTreeMap<ClassificationKey, Ts<Classification>>>,
}

#[wasm_bindgen]
impl RuleEngine {
    /// Validates and compiles a rule set; throws with every problem found.
    #[wasm_bindgen(constructor)]
    pub fn new(rule_set: Ts<RuleSetSpec>) -> Result<RuleEngine, JsError> {
        let spec = rule_set.to_rust()?;
        Ok(Self { rules: RuleSet::compile(&spec).map_err(problems)?, classified: RefCell::default() })
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
    pub fn classify(
        &self,
        title: &str,
        description: &str,
        category: &str,
        requester: &str,
    ) -> Result<Ts<Classification>, JsError> {
        let key = rules_core::classification_key(&self.rules, title, description, category, requester);
        if let Some(known) = self.classified.try_borrow().ok().and_then(|known| known.get(&key).cloned()) {
            return Ok(known);
        }
        let answer = Ts::from_rust(&key.classification(&self.rules))?;
        js_sys::Object::<JsValue>::freeze(answer.js_value().unchecked_ref());
        if let Ok(mut known) = self.classified.try_borrow_mut() {
            known.insert(key, answer.clone());
        }
        Ok(answer)
    }

    /// Prioritizes and assigns a ticket (see the codec's `evaluate`).
    pub fn evaluate(&self, input: Ts<EvaluateInput>) -> Result<Ts<Evaluation>, JsError> {
        let input = input.to_rust()?;
        Ok(Ts::from_rust(&input.evaluate(&self.rules).map_err(problems)?)?)
    }

    /// Escalations due at `now` (see the codec's `check_escalations`).
    #[wasm_bindgen(js_name = checkEscalations)]
    pub fn check_escalations(&self, input: Ts<CheckInput>) -> Result<Ts<EscalationCheck>, JsError> {
        let input = input.to_rust()?;
        Ok(Ts::from_rust(&input.check_escalations(&self.rules).map_err(problems)?)?)
    }

    /// SLA clocks at `now`, or `undefined` when no target applies.
    #[wasm_bindgen(js_name = slaStatus)]
    pub fn sla_status(&self, input: Ts<CheckInput>) -> Result<Option<Ts<SlaStatus>>, JsError> {
        let input = input.to_rust()?;
        match input.sla_status(&self.rules).map_err(problems)? {
            Some(s) => Ok(Some(Ts::from_rust(&s)?)),
            None => Ok(None),
        }
    }
}
