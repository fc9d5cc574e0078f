//! NixFlow's ticket-automation rules, as one deterministic crate.
//!
//! Rules are data ([`RuleSetSpec`], JSON), validated and compiled once into a [`RuleSet`], then
//! evaluated many times by pure functions: [`evaluate()`] (prioritize and assign after a change),
//! [`escalate::check`], [`sla::status`], [`sla::next_wake_up`] and [`sla::compliance`]. Every
//! binding reaches them through the one JSON [`codec`].
//!
//! Absences this crate guarantees: no I/O, no clock (callers pass `now`), no randomness, no
//! floating point, no panics (the lints below deny the ways to write one).
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing,
        clippy::arithmetic_side_effects,
        clippy::float_arithmetic,
        clippy::unreachable
    )
)]

mod check;
pub mod codec;
pub mod duration;
pub mod error;
pub mod escalate;
pub mod evaluate;
mod fold;
mod matcher;
pub mod model;
pub mod read;
pub mod ruleset;
mod skip;
pub mod sla;
pub mod trace;
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod wide;
pub mod write;

pub use codec::{ABI_VERSION, Answer, Codec, Outcome, Request, SCHEMA_VERSION, call};
pub use error::{Problem, ProblemCode};
pub use evaluate::{Classification, ClassificationKey, Evaluation, classification_key, classify, evaluate};
pub use model::{Millis, Priority, PrioritySource, Status, StatusEntry, Ticket, User};
pub use ruleset::{DEFAULT_RULE_SET_JSON, RuleSet, RuleSetSpec};
