//! Hosting a rule module in Wasmtime: one [`Engine`], the module compiled once into an
//! [`InstancePre`], and a fresh [`Store`] per call with a fuel limit and a memory cap.
//!
//! The module implements the host ABI documented in ARCHITECTURE.md (and in
//! `rules-wasm/src/host_abi.rs`): no imports; exports `memory`, `nixflow_abi_version`,
//! `nixflow_alloc`, `nixflow_free` and `nixflow_call`.
//!
//! [`RuleModule::pre_initialize`] makes a copy of a module whose fresh instances start with a
//! rule set already compiled in the codec's cache (a Wizer snapshot): still a fresh `Store` per
//! call, without the per-call cost of compiling the rule set.

use std::path::Path;
use std::sync::Arc;

use sha2::{Digest, Sha256};
use wasmtime::{
    Config, Enabled, Engine, ExternType, Instance, InstanceAllocationStrategy, InstancePre, Linker, Memory, Module,
    PoolingAllocationConfig, Store, StoreLimits, StoreLimitsBuilder, Trap, TypedFunc, UpdateDeadline, Val,
    WasmFeatures,
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

/// The WebAssembly proposals a rule module may not use: everything beyond the features that
/// rustc, every browser and Wasmtime accept (bulk memory, sign extension, mutable globals,
/// non-trapping float-to-int, multi-value) and fixed-width SIMD, which both of our modules use
/// for the keyword search (`rules-core/src/skip.rs`). Relaxed SIMD stays out: its results may
/// differ between machines, and a rule module must decide alike wherever it runs.
fn forbidden_features() -> WasmFeatures {
    WasmFeatures::THREADS
        | WasmFeatures::SHARED_EVERYTHING_THREADS
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
    /// The host's admission for long calls, if it set one ([`RuleModule::call_gated`]).
    gate: Option<LongCallGate>,
    /// What the gate handed out, held until the store (the call) ends.
    admitted: Option<Box<dyn Send + Sync>>,
}

/// How a host admits *long* calls. A call made with a gate that is still running when the
/// engine's epoch first advances ([`EPOCH_TICK`]: within 10 ms) calls the gate once, on its own
/// thread; the gate may block until the call may go on, and whatever it returns is held until
/// the call ends. The wall-clock backstop ([`Limits::epoch_ticks`]) counts from then on, so the
/// wait is not charged to the call.
pub type LongCallGate = Arc<dyn Fn() -> Box<dyn Send + Sync> + Send + Sync>;

/// The one Wasmtime [`Engine`] a server shares between all its modules: fuel metering and epoch
/// interruption on, the wasm stack capped, a fixed feature set (anything else fails validation).
pub fn engine(limits: &Limits) -> Result<Engine, ModuleError> {
    Engine::new(&config(limits)).map_err(|e| ModuleError::Compile(format!("{e:#}")))
}

fn config(limits: &Limits) -> Config {
    let mut config = Config::new();
    config.consume_fuel(true);
    config.epoch_interruption(true);
    config.max_wasm_stack(limits.max_wasm_stack);
    config.wasm_features(forbidden_features(), false);
    config
}

/// How much of a pooled slot's linear memory is reset in place, page by page, rather than handed
/// back to the kernel. With the kernel's `PAGEMAP_SCAN` (Linux 6.7+) only the pages a call
/// dirtied are copied back from the image, and every page stays mapped, so the next call takes no
/// page faults on them; without it, this much is `memset`/copied whole. A call to the default
/// module dirties well under a megabyte; the image itself is 1–2 MiB.
const KEEP_RESIDENT: usize = 16 << 20;

/// The server's engine: [`engine`] with instances allocated from a pool of `slots` slots
/// reserved up front. A fresh `Store` per call is the sandbox's promise; with on-demand
/// allocation every call mapped its memory image, faulted in every page it touched and unmapped
/// it afterwards. A pooled slot keeps the module's image mapped and, with `PAGEMAP_SCAN`, resets
/// only the pages the call dirtied (BENCHMARKS.md). More than `slots` instances alive at once
/// fail to instantiate (a [`ModuleError::Trap`]): size it above every concurrent caller (the
/// module lanes, the preparation worker, uploads' conformance runs).
pub fn pooled_engine(limits: &Limits, slots: u32) -> Result<Engine, ModuleError> {
    let mut pool = PoolingAllocationConfig::default();
    pool.total_core_instances(slots)
        .total_memories(slots)
        .total_tables(slots)
        // The store's limiter enforces the cap with its own error; the pool only has to hold it.
        .max_memory_size(limits.memory_bytes.saturating_mul(2))
        .linear_memory_keep_resident(KEEP_RESIDENT)
        .table_keep_resident(64 << 10)
        // Only where the kernel has it; older kernels keep the memset-and-madvise reset.
        .pagemap_scan(Enabled::Auto);
    let mut config = config(limits);
    config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    Engine::new(&config).map_err(|e| ModuleError::Compile(format!("{e:#}")))
}

/// A compiled rule module.
pub struct RuleModule {
    engine: Engine,
    pre: InstancePre<StoreData>,
    /// The bytes it was compiled from (pre-initialization instruments them).
    bytes: Arc<[u8]>,
    sha256: String,
    abi_version: u32,
    size: usize,
    limits: Limits,
    /// Whether instances start from a snapshot ([`RuleModule::pre_initialize`]).
    pre_initialized: bool,
    /// The ops its `module_info` lists (empty when it answered none): the host asks a module
    /// only what it says it answers, so modules built before an op existed keep working.
    ops: Arc<[String]>,
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
        let pre = instantiate_pre(&engine, bytes, limits)?;
        let mut this = Self {
            engine,
            pre,
            bytes: bytes.into(),
            sha256: hex(&Sha256::digest(bytes)),
            abi_version: 0,
            size: bytes.len(),
            limits,
            pre_initialized: false,
            ops: Arc::from([]),
        };
        let version = {
            let mut store = this.store(None)?;
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
        this.ops = this.listed_ops();
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

    /// Whether the module lists `op` among the ops it answers (`module_info`).
    pub fn answers(&self, op: &str) -> bool {
        self.ops.iter().any(|o| o == op)
    }

    /// The ops of the module's `module_info` answer; none when it gives no such answer.
    fn listed_ops(&self) -> Arc<[String]> {
        #[derive(serde::Deserialize)]
        struct Info {
            answer: Ops,
        }
        #[derive(serde::Deserialize)]
        struct Ops {
            ops: Vec<String>,
        }
        self.call(br#"{"op":"module_info"}"#)
            .ok()
            .and_then(|answer| serde_json::from_str::<Info>(&answer).ok())
            .map_or_else(|| Arc::from([]), |info| info.answer.ops.into())
    }

    /// Whether this is a pre-initialized copy ([`RuleModule::pre_initialize`]).
    pub fn is_pre_initialized(&self) -> bool {
        self.pre_initialized
    }

    /// A copy of this module whose instances start where a fresh instance of it stands after
    /// answering `warm_up` (and freeing both buffers): its linear memory and globals are
    /// snapshotted (Wizer) into the copy's data segments and global initialisers. The host warms
    /// a module up with a `validate` of the active rule set, so the codec's one-entry cache
    /// already holds the compiled rule set in every fresh instance of the copy.
    ///
    /// INVARIANT: the copy answers every request exactly as this module does. Its code is this
    /// module's, unchanged; only the starting state differs, and the codec's cache changes speed,
    /// never answers (a request with another rule set simply misses it). So the copy keeps this
    /// module's identity: sha256, size, ABI version, limits.
    ///
    /// Fails when `warm_up` does not succeed (the answer must be a codec success).
    pub fn pre_initialize(&self, warm_up: &[u8]) -> Result<RuleModule, ModuleError> {
        let compile = |e: wasmtime::Error| ModuleError::Compile(format!("pre-initialization: {e:#}"));
        let wizer = wasmtime_wizer::Wizer::new();
        // Instrumenting exports every global, so that the snapshot can read them.
        let (cx, instrumented) = wizer.instrument(&self.bytes).map_err(compile)?;
        let pre = instantiate_pre(&self.engine, &instrumented, self.limits)?;
        let mut store = self.store(None)?;
        let instance = pre.instantiate(&mut store).map_err(trap)?;
        let mut bound = ModuleInstance::bind(store, instance, self.limits)?;
        let answer = bound.call(warm_up)?;
        if !answer.starts_with(r#"{"type":"success""#) {
            return Err(ModuleError::BadAnswer(format!("the warm-up request failed: {answer}")));
        }
        let mut state = SnapshotState { store: &mut bound.store, instance, missing: None };
        let snapshot = poll_ready(wizer.snapshot(&cx, &mut state))
            .ok_or_else(|| ModuleError::Compile("pre-initialization did not complete".into()))?
            .map_err(compile)?;
        if let Some(name) = state.missing {
            return Err(ModuleError::Compile(format!("pre-initialization: the snapshot has no `{name}`")));
        }
        let pre = instantiate_pre(&self.engine, &snapshot, self.limits)?;
        Ok(Self {
            engine: self.engine.clone(),
            pre,
            bytes: Arc::clone(&self.bytes),
            sha256: self.sha256.clone(),
            abi_version: self.abi_version,
            size: self.size,
            limits: self.limits,
            pre_initialized: true,
            ops: Arc::clone(&self.ops),
        })
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

    /// Like [`RuleModule::call_metered`], admitting the call through `gate` if it runs long
    /// (see [`LongCallGate`]). A call that ends before the epoch next advances never meets it.
    pub fn call_gated(&self, request: &[u8], gate: LongCallGate) -> Result<(String, u64), ModuleError> {
        let mut instance = self.instance_with(Some(gate))?;
        let answer = instance.call(request)?;
        Ok((answer, instance.fuel_used()))
    }

    fn store(&self, gate: Option<LongCallGate>) -> Result<Store<StoreData>, ModuleError> {
        let limits = StoreLimitsBuilder::new().memory_size(self.limits.memory_bytes).instances(1).build();
        let gated = gate.is_some();
        let mut store = Store::new(&self.engine, StoreData { limits, gate, admitted: None });
        store.limiter(|d| &mut d.limits);
        store.set_fuel(self.limits.fuel).map_err(trap)?;
        if gated {
            let backstop = self.limits.epoch_ticks;
            store.epoch_deadline_callback(move |mut cx| {
                // The second deadline is the backstop itself.
                if cx.data().admitted.is_some() {
                    return Ok(UpdateDeadline::Interrupt);
                }
                let Some(gate) = cx.data().gate.clone() else { return Ok(UpdateDeadline::Interrupt) };
                let admitted = gate();
                cx.data_mut().admitted = Some(admitted);
                Ok(UpdateDeadline::Continue(backstop))
            });
        }
        set_deadline(&mut store, self.limits.epoch_ticks);
        Ok(store)
    }

    /// A long-lived instance: faster (its codec caches the compiled rule set) but stateful.
    pub fn instance(&self) -> Result<ModuleInstance, ModuleError> {
        self.instance_with(None)
    }

    fn instance_with(&self, gate: Option<LongCallGate>) -> Result<ModuleInstance, ModuleError> {
        let mut store = self.store(gate)?;
        let instance = self.pre.instantiate(&mut store).map_err(trap)?;
        ModuleInstance::bind(store, instance, self.limits)
    }
}

/// A call's first epoch deadline: the backstop itself, or, with a gate, the next tick.
fn set_deadline(store: &mut Store<StoreData>, backstop: u64) {
    store.set_epoch_deadline(if store.data().gate.is_some() { 1 } else { backstop });
}

/// Compiles `bytes` (never precompiled artifacts) for instantiation with no imports, and checks
/// its memory against the cap.
fn instantiate_pre(engine: &Engine, bytes: &[u8], limits: Limits) -> Result<InstancePre<StoreData>, ModuleError> {
    let module = Module::new(engine, bytes).map_err(|e| ModuleError::Compile(format!("{e:#}")))?;
    if let Some(import) = module.imports().next() {
        return Err(ModuleError::HasImports(format!("{}::{}", import.module(), import.name())));
    }
    check_memory(&module, limits.memory_bytes)?;
    let linker: Linker<StoreData> = Linker::new(engine);
    linker.instantiate_pre(&module).map_err(|e| ModuleError::Compile(format!("{e:#}")))
}

/// What Wizer reads from the warmed-up instance: its globals and its memory.
struct SnapshotState<'a> {
    store: &'a mut Store<StoreData>,
    instance: Instance,
    /// An export Wizer asked for that is not there (it never should be: Wizer instrumented
    /// the module to export them all). The trait cannot fail, so the error waits here.
    missing: Option<String>,
}

impl wasmtime_wizer::InstanceState for SnapshotState<'_> {
    fn global_get(
        &mut self,
        name: &str,
        _type_hint: wasmtime_wizer::ValType,
    ) -> impl Future<Output = wasmtime_wizer::SnapshotVal> + Send {
        use wasmtime_wizer::SnapshotVal;
        let value = match self.instance.get_global(&mut *self.store, name).map(|g| g.get(&mut *self.store)) {
            Some(Val::I32(x)) => SnapshotVal::I32(x),
            Some(Val::I64(x)) => SnapshotVal::I64(x),
            Some(Val::F32(x)) => SnapshotVal::F32(x),
            Some(Val::F64(x)) => SnapshotVal::F64(x),
            Some(Val::V128(x)) => SnapshotVal::V128(x.as_u128()),
            _ => {
                self.missing.get_or_insert_with(|| format!("global {name}"));
                SnapshotVal::I32(0)
            }
        };
        std::future::ready(value)
    }

    fn memory_contents(&mut self, name: &str, contents: impl FnOnce(&[u8]) + Send) -> impl Future<Output = ()> + Send {
        match self.instance.get_memory(&mut *self.store, name) {
            Some(memory) => contents(memory.data(&*self.store)),
            None => {
                self.missing.get_or_insert_with(|| format!("memory {name}"));
                contents(&[]);
            }
        }
        std::future::ready(())
    }
}

/// Runs a future that never waits (Wizer's snapshot over [`SnapshotState`], whose futures are
/// all ready) to completion; `None` if it would wait.
fn poll_ready<F: Future>(future: F) -> Option<F::Output> {
    let mut future = std::pin::pin!(future);
    match future.as_mut().poll(&mut std::task::Context::from_waker(std::task::Waker::noop())) {
        std::task::Poll::Ready(output) => Some(output),
        std::task::Poll::Pending => None,
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
    /// Finds the ABI's exports in a fresh instance.
    fn bind(mut store: Store<StoreData>, instance: Instance, limits: Limits) -> Result<Self, ModuleError> {
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
        Ok(ModuleInstance { store, memory, alloc, free, call, fuel: limits.fuel, epoch_ticks: limits.epoch_ticks })
    }

    fn refuel(&mut self) -> Result<(), ModuleError> {
        self.store.data_mut().admitted = None;
        set_deadline(&mut self.store, self.epoch_ticks);
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
        // Validated where it lies and copied once (no zeroed buffer to copy into first).
        let (start, end) = (out_ptr as usize, (out_ptr as usize).saturating_add(out_len as usize));
        let answer = match self.memory.data(&self.store).get(start..end) {
            None => Err(ModuleError::BadAnswer(format!(
                "answer out of bounds: {out_len} bytes at {out_ptr} in {} bytes of memory",
                self.memory.data_size(&self.store)
            ))),
            Some(bytes) => std::str::from_utf8(bytes)
                .map(str::to_owned)
                .map_err(|e| ModuleError::BadAnswer(format!("answer is not UTF-8: {e}"))),
        }?;
        self.free.call(&mut self.store, (out_ptr, out_len)).map_err(trap)?;
        Ok(answer)
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
