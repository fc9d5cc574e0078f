//! Thin WebAssembly adapters over [`rules_core::codec`]; no rule logic lives here.
//!
//! - `bindgen`: wasm-bindgen exports for the browser, packaged by wasm-pack into `pkg/`.
//! - `host-abi`: a plain module with no imports, hosted by Wasmtime in host-server. Its ABI
//!   (documented in ARCHITECTURE.md) is the contract of every hot-swappable rule module.
//!
//! Build one adapter at a time: each is its own `.wasm` artifact.

#[cfg(all(feature = "bindgen", feature = "host-abi"))]
compile_error!("enable one adapter at a time: `bindgen` (wasm-pack) or `host-abi` (Wasmtime)");

#[cfg(feature = "bindgen")]
mod abi_client;
#[cfg(feature = "bindgen")]
mod bindgen;
#[cfg(feature = "host-abi")]
pub mod host_abi;
