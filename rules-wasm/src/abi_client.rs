//! The host ABI from the browser's side: call any rule module (the bytes the server serves at
//! `/api/rules/modules/{sha256}.wasm`) exactly as Wasmtime does, so a preview is computed by the
//! very bytes that decide on the server. Moves bytes only.
//!
//! ```js
//! const bytes = await (await fetch(`/api/rules/modules/${sha}.wasm`, { headers })).arrayBuffer();
//! const { instance } = await WebAssembly.instantiate(bytes, {}); // no imports: none are allowed
//! const module = new HostModule(instance);
//! const answer = JSON.parse(module.call(JSON.stringify(request)));
//! ```
//!
//! Instantiation stays in JavaScript because browsers compile large modules only
//! asynchronously on the main thread.

use js_sys::{Function, Reflect, Uint8Array, WebAssembly};
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;

/// The ABI versions this client speaks (the same as the server's host).
const SUPPORTED_ABI_VERSIONS: [u32; 1] = [1];

/// An instantiated rule module, called through the host ABI.
#[wasm_bindgen]
pub struct HostModule {
    memory: WebAssembly::Memory,
    alloc: Function,
    free: Function,
    call: Function,
    abi_version: u32,
}

fn export(exports: &JsValue, name: &str) -> Result<JsValue, JsError> {
    Reflect::get(exports, &JsValue::from_str(name))
        .ok()
        .filter(|v| !v.is_undefined())
        .ok_or_else(|| JsError::new(&format!("the module lacks export `{name}`")))
}

fn function(exports: &JsValue, name: &str) -> Result<Function, JsError> {
    export(exports, name)?.dyn_into::<Function>().map_err(|_| JsError::new(&format!("`{name}` is not a function")))
}

fn to_u32(v: &JsValue, what: &str) -> Result<u32, JsError> {
    v.as_f64()
        .filter(|f| f.fract() == 0.0 && *f >= 0.0 && *f <= f64::from(u32::MAX))
        .map(|f| f as u32)
        .ok_or_else(|| JsError::new(&format!("{what} is not a u32")))
}

fn failed(what: &str) -> impl Fn(JsValue) -> JsError + '_ {
    move |e| JsError::new(&format!("{what} failed: {}", e.as_string().unwrap_or_else(|| format!("{e:?}"))))
}

#[wasm_bindgen]
impl HostModule {
    /// Wraps an instance of a rule module; throws when it lacks an ABI export or speaks an ABI
    /// version this package does not.
    #[wasm_bindgen(constructor)]
    pub fn new(instance: WebAssembly::Instance) -> Result<HostModule, JsError> {
        let exports: JsValue = instance.exports().into();
        let memory = export(&exports, "memory")?
            .dyn_into::<WebAssembly::Memory>()
            .map_err(|_| JsError::new("`memory` is not a memory"))?;
        let version =
            function(&exports, "nixflow_abi_version")?.call0(&JsValue::NULL).map_err(failed("nixflow_abi_version"))?;
        let abi_version = to_u32(&version, "the ABI version")?;
        if !SUPPORTED_ABI_VERSIONS.contains(&abi_version) {
            return Err(JsError::new(&format!(
                "the module speaks ABI version {abi_version}; this package speaks {SUPPORTED_ABI_VERSIONS:?}"
            )));
        }
        Ok(HostModule {
            memory,
            alloc: function(&exports, "nixflow_alloc")?,
            free: function(&exports, "nixflow_free")?,
            call: function(&exports, "nixflow_call")?,
            abi_version,
        })
    }

    /// The ABI version the module reported.
    #[wasm_bindgen(getter, js_name = abiVersion)]
    pub fn abi_version(&self) -> u32 {
        self.abi_version
    }

    /// Answers one codec request (JSON text in, JSON text out), as the server's host does.
    pub fn call(&self, request: &str) -> Result<String, JsError> {
        let bytes = request.as_bytes();
        let len = u32::try_from(bytes.len()).map_err(|_| JsError::new("request over 4 GiB"))?;
        let ptr =
            to_u32(&self.alloc.call1(&JsValue::NULL, &len.into()).map_err(failed("nixflow_alloc"))?, "a pointer")?;
        if ptr == 0 {
            return Err(JsError::new("the module could not allocate the request buffer"));
        }
        // A fresh view each time: growing memory detaches the previous buffer.
        let view = Uint8Array::new(&self.memory.buffer());
        if u64::from(ptr) + u64::from(len) > u64::from(view.length()) {
            return Err(JsError::new("the request buffer is out of bounds"));
        }
        view.set(&Uint8Array::from(bytes), ptr);
        let packed = self.call.call2(&JsValue::NULL, &ptr.into(), &len.into()).map_err(failed("nixflow_call"))?;
        self.free.call2(&JsValue::NULL, &ptr.into(), &len.into()).map_err(failed("nixflow_free"))?;
        let packed = u64::try_from(packed).map_err(|_| JsError::new("nixflow_call did not return an i64"))?;
        let (out_ptr, out_len) = ((packed >> 32) as u32, (packed & 0xffff_ffff) as u32);
        let view = Uint8Array::new(&self.memory.buffer());
        if out_len == 0 || u64::from(out_ptr) + u64::from(out_len) > u64::from(view.length()) {
            return Err(JsError::new("the answer is empty or out of bounds"));
        }
        let answer = view.subarray(out_ptr, out_ptr + out_len).to_vec();
        self.free.call2(&JsValue::NULL, &out_ptr.into(), &out_len.into()).map_err(failed("nixflow_free"))?;
        String::from_utf8(answer).map_err(|e| JsError::new(&format!("the answer is not UTF-8: {e}")))
    }
}
