//! NixFlow's authoritative service. For now: the Wasmtime host of rule modules
//! ([`module::RuleModule`]); the HTTP service lands with its own issue.

pub mod module;
