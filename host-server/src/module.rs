//! Hosting a rule module in Wasmtime: one [`Engine`], the module compiled once into an
//! [`InstancePre`], and a fresh [`Store`] per call with a fuel limit and a memory cap.
//!
//! The module implements the host ABI documented in ARCHITECTURE.md (and in
//! `rules-wasm/src/host_abi.rs`): no imports; exports `memory`, `nixflow_abi_version`,
//! `nixflow_alloc`, `nixflow_free` and `nixflow_call`.

use std::path::Path;

use sha2::{Digest, Sha256};
use wasmtime::{
    Config, Engine, ExternType, InstancePre, Linker, Memory, Module, Store, StoreLimits, StoreLimitsBuilder, Trap,
    TypedFunc, WasmFeatures,
};

/// The ABI versions this host speaks.
pub const SUPPORTED_ABI_VERSIONS: &[u32] = &[1];

/// Per-call resource limits.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Fuel (roughly, wasm instructions) per call.
    pub fuel: u64,
    /// Linear-memory cap in bytes.
    pub memory_bytes: usize,
    /// Wasm stack cap in bytes.
    pub max_wasm_stack: usize,
    /// Wall-clock backstop per call, in epoch ticks (see [`EPOCH_TICK`]); fuel is the primary
    /// bound, this catches what fuel does not meter.
    pub epoch_ticks: u64,
}

/// How often the host's epoch thread advances the engine's epoch.
pub const EPOCH_TICK: std::time::Duration = std::time::Duration::from_millis(10);

impl Default for Limits {
    fn default() -> Self {
        Self { fuel: 4_000_000_000, memory_bytes: 256 << 20, max_wasm_stack: 1 << 20, epoch_ticks: 500 }
    }
}

/// The WebAssembly proposals a rule module may not use: everything beyond the core features
/// that rustc and every browser and Wasmtime accept (bulk memory, sign extension, mutable
/// globals, non-trapping float-to-int, multi-value).
fn forbidden_features() -> WasmFeatures {
    WasmFeatures::THREADS
        | WasmFeatures::SHARED_EVERYTHING_THREADS
        | WasmFeatures::SIMD
        | WasmFeatures::RELAXED_SIMD
        | WasmFeatures::REFERENCE_TYPES
        | WasmFeatures::MEMORY64
        | WasmFeatures::MULTI_MEMORY
        | WasmFeatures::COMPONENT_MODEL
        | WasmFeatures::GC
        | WasmFeatures::FUNCTION_REFERENCES
        | WasmFeatures::EXCEPTIONS
        | WasmFeatures::LEGACY_EXCEPTIONS
        | WasmFeatures::TAIL_CALL
        | WasmFeatures::STACK_SWITCHING
        | WasmFeatures::WIDE_ARITHMETIC
        | WasmFeatures::CUSTOM_PAGE_SIZES
}

/// Why a module could not be loaded or a call could not be answered.
#[derive(Debug, thiserror::Error)]
pub enum ModuleError {
    /// The bytes are not a valid module, or compilation failed.
    #[error("module does not compile: {0}")]
    Compile(String),
    /// The module imports something; rule modules must be self-contained.
    #[error("module imports `{0}`; rule modules may import nothing")]
    HasImports(String),
    /// A required export is missing or has the wrong type.
    #[error("module lacks export `{0}` of the right type")]
    MissingExport(&'static str),
    /// The module's ABI version is not one this host speaks.
    #[error("module speaks ABI version {0}; this host speaks {SUPPORTED_ABI_VERSIONS:?}")]
    UnsupportedAbi(u32),
    /// The call ran out of fuel.
    #[error("rule module ran out of fuel")]
    OutOfFuel,
    /// The call trapped (including memory-cap and stack-overflow traps).
    #[error("rule module trapped: {0}")]
    Trap(String),
    /// The call ran past the wall-clock backstop.
    #[error("rule module ran past its time limit")]
    Deadline,
    /// The module's memory could exceed the host's cap.
    #[error("module memory {0}")]
    MemoryTooLarge(String),
    /// The module returned an answer the host cannot read.
    #[error("rule module returned an unreadable answer: {0}")]
    BadAnswer(String),
}

fn trap(e: wasmtime::Error) -> ModuleError {
    match e.downcast_ref::<Trap>() {
        Some(Trap::OutOfFuel) => ModuleError::OutOfFuel,
        Some(Trap::Interrupt) => ModuleError::Deadline,
        _ => ModuleError::Trap(format!("{e:#}")),
    }
}

struct StoreData {
    limits: StoreLimits,
}

/// The one Wasmtime [`Engine`] a server shares between all its modules: fuel metering and epoch
/// interruption on, the wasm stack capped, a fixed feature set (anything else fails validation).
pub fn engine(limits: &Limits) -> Result<Engine, ModuleError> {
    let mut config = Config::new();
    config.consume_fuel(true);
    config.epoch_interruption(true);
    config.max_wasm_stack(limits.max_wasm_stack);
    config.wasm_features(forbidden_features(), false);
    Engine::new(&config).map_err(|e| ModuleError::Compile(format!("{e:#}")))
}

/// A compiled rule module.
pub struct RuleModule {
    engine: Engine,
    pre: InstancePre<StoreData>,
    sha256: String,
    abi_version: u32,
    size: usize,
    limits: Limits,
}

impl RuleModule {
    /// Compiles a module from a `.wasm` file.
    pub fn from_file(path: impl AsRef<Path>, limits: Limits) -> anyhow::Result<Self> {
        let bytes = std::fs::read(path.as_ref())
            .map_err(|e| anyhow::anyhow!("cannot read rule module {}: {e}", path.as_ref().display()))?;
        Ok(Self::from_bytes(&bytes, limits)?)
    }

    /// Compiles a module from bytes with an Engine of its own.
    pub fn from_bytes(bytes: &[u8], limits: Limits) -> Result<Self, ModuleError> {
        Self::compile(&engine(&limits)?, bytes, limits)
    }

    /// Compiles a module from bytes (never from precompiled artifacts) in `engine`, which must
    /// come from [`engine`] with the same limits, and checks its ABI.
    pub fn compile(engine: &Engine, bytes: &[u8], limits: Limits) -> Result<Self, ModuleError> {
        let engine = engine.clone();
        let module = Module::new(&engine, bytes).map_err(|e| ModuleError::Compile(format!("{e:#}")))?;
        if let Some(import) = module.imports().next() {
            return Err(ModuleError::HasImports(format!("{}::{}", import.module(), import.name())));
        }
        check_memory(&module, limits.memory_bytes)?;
        let linker: Linker<StoreData> = Linker::new(&engine);
        let pre = linker.instantiate_pre(&module).map_err(|e| ModuleError::Compile(format!("{e:#}")))?;
        let mut this =
            Self { engine, pre, sha256: hex(&Sha256::digest(bytes)), abi_version: 0, size: bytes.len(), limits };
        let version = {
            let mut store = this.store()?;
            let instance = this.pre.instantiate(&mut store).map_err(trap)?;
            let version = instance
                .get_typed_func::<(), u32>(&mut store, "nixflow_abi_version")
                .map_err(|_| ModuleError::MissingExport("nixflow_abi_version"))?;
            version.call(&mut store, ()).map_err(trap)?
        };
        if !SUPPORTED_ABI_VERSIONS.contains(&version) {
            return Err(ModuleError::UnsupportedAbi(version));
        }
        // Every other export of the ABI must be there too.
        this.instance()?;
        this.abi_version = version;
        Ok(this)
    }

    /// The module's sha256, lowercase hex: the identity recorded on every decision.
    pub fn sha256(&self) -> &str {
        &self.sha256
    }

    /// The ABI version the module reported.
    pub fn abi_version(&self) -> u32 {
        self.abi_version
    }

    /// The module's size in bytes.
    pub fn size(&self) -> usize {
        self.size
    }

    /// Answers one codec request in a fresh instance (no state survives the call).
    pub fn call(&self, request: &[u8]) -> Result<String, ModuleError> {
        self.instance()?.call(request)
    }

    /// Like [`RuleModule::call`], also reporting the fuel the call burnt.
    pub fn call_metered(&self, request: &[u8]) -> Result<(String, u64), ModuleError> {
        let mut instance = self.instance()?;
        let answer = instance.call(request)?;
        Ok((answer, instance.fuel_used()))
    }

    fn store(&self) -> Result<Store<StoreData>, ModuleError> {
        let limits = StoreLimitsBuilder::new().memory_size(self.limits.memory_bytes).instances(1).build();
        let mut store = Store::new(&self.engine, StoreData { limits });
        store.limiter(|d| &mut d.limits);
        store.set_fuel(self.limits.fuel).map_err(trap)?;
        store.set_epoch_deadline(self.limits.epoch_ticks);
        Ok(store)
    }

    /// A long-lived instance: faster (its codec caches the compiled rule set) but stateful.
    pub fn instance(&self) -> Result<ModuleInstance, ModuleError> {
        let mut store = self.store()?;
        let instance = self.pre.instantiate(&mut store).map_err(trap)?;
        let memory = instance.get_memory(&mut store, "memory").ok_or(ModuleError::MissingExport("memory"))?;
        let alloc = instance
            .get_typed_func::<u32, u32>(&mut store, "nixflow_alloc")
            .map_err(|_| ModuleError::MissingExport("nixflow_alloc"))?;
        let free = instance
            .get_typed_func::<(u32, u32), ()>(&mut store, "nixflow_free")
            .map_err(|_| ModuleError::MissingExport("nixflow_free"))?;
        let call = instance
            .get_typed_func::<(u32, u32), u64>(&mut store, "nixflow_call")
            .map_err(|_| ModuleError::MissingExport("nixflow_call"))?;
        Ok(ModuleInstance {
            store,
            memory,
            alloc,
            free,
            call,
            fuel: self.limits.fuel,
            epoch_ticks: self.limits.epoch_ticks,
        })
    }
}

/// An instantiated rule module. After a call fails (trap, fuel, memory), its memory may be in
/// any state: drop the instance and take a fresh one.
pub struct ModuleInstance {
    store: Store<StoreData>,
    memory: Memory,
    alloc: TypedFunc<u32, u32>,
    free: TypedFunc<(u32, u32), ()>,
    call: TypedFunc<(u32, u32), u64>,
    fuel: u64,
    epoch_ticks: u64,
}

impl ModuleInstance {
    fn refuel(&mut self) -> Result<(), ModuleError> {
        self.store.set_epoch_deadline(self.epoch_ticks);
        self.store.set_fuel(self.fuel).map_err(trap)
    }

    /// Fuel burnt since the last call began.
    pub fn fuel_used(&self) -> u64 {
        self.fuel.saturating_sub(self.store.get_fuel().unwrap_or(0))
    }

    /// Answers one codec request. Each call gets the full fuel budget.
    pub fn call(&mut self, request: &[u8]) -> Result<String, ModuleError> {
        self.refuel()?;
        let len = u32::try_from(request.len()).map_err(|_| ModuleError::BadAnswer("request over 4 GiB".into()))?;
        let ptr = self.alloc.call(&mut self.store, len).map_err(trap)?;
        if ptr == 0 {
            return Err(ModuleError::Trap("module could not allocate the request buffer".into()));
        }
        self.memory
            .write(&mut self.store, ptr as usize, request)
            .map_err(|e| ModuleError::BadAnswer(format!("request buffer out of bounds: {e}")))?;
        let packed = self.call.call(&mut self.store, (ptr, len)).map_err(trap)?;
        self.free.call(&mut self.store, (ptr, len)).map_err(trap)?;
        let (out_ptr, out_len) = ((packed >> 32) as u32, (packed & 0xffff_ffff) as u32);
        if out_len == 0 {
            return Err(ModuleError::BadAnswer("empty answer".into()));
        }
        let mut answer = vec![0u8; out_len as usize];
        self.memory
            .read(&self.store, out_ptr as usize, &mut answer)
            .map_err(|e| ModuleError::BadAnswer(format!("answer out of bounds: {e}")))?;
        self.free.call(&mut self.store, (out_ptr, out_len)).map_err(trap)?;
        String::from_utf8(answer).map_err(|e| ModuleError::BadAnswer(format!("answer is not UTF-8: {e}")))
    }
}

/// The exported memory must fit the cap: its initial size always, its declared maximum if any
/// (without one, the store's limiter refuses growth past the cap at run time).
fn check_memory(module: &Module, cap: usize) -> Result<(), ModuleError> {
    const PAGE: u64 = 64 * 1024;
    let cap_pages = cap as u64 / PAGE;
    for export in module.exports() {
        if let ExternType::Memory(m) = export.ty() {
            if m.minimum() > cap_pages {
                return Err(ModuleError::MemoryTooLarge(format!(
                    "`{}` starts at {} pages; the cap is {cap_pages}",
                    export.name(),
                    m.minimum()
                )));
            }
            if let Some(max) = m.maximum().filter(|&max| max > cap_pages) {
                return Err(ModuleError::MemoryTooLarge(format!(
                    "`{}` declares a maximum of {max} pages; the cap is {cap_pages}",
                    export.name()
                )));
            }
        }
    }
    Ok(())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
