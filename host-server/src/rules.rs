//! The server's only way to a decision: the active rule module in Wasmtime.
//!
//! One [`Engine`] for the process; the active module behind an `ArcSwap`, so a call keeps the
//! module it started with; every call in a fresh `Store` (fuel and memory capped) on one of the
//! host's module threads (its *lanes*), away from the executor threads that serve requests.
//!
//! A fresh store would compile the rule set again on every call. [`RulesHost::prepare`] builds,
//! in the background, a pre-initialized copy of the active module warmed up with the active rule
//! set ([`RuleModule::pre_initialize`]); calls to that module then run in fresh instances of the
//! copy. Same code, same answers, the rule set already compiled.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Instant;

use arc_swap::{ArcSwap, ArcSwapOption};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use wasmtime::Engine;

use crate::module::{Limits, LongCallGate, ModuleError, RuleModule};

/// Why the module gave no decision.
#[derive(Debug, thiserror::Error)]
pub enum RulesError {
    /// Trap, fuel, memory, or an unreadable answer.
    #[error(transparent)]
    Module(#[from] ModuleError),
    /// The module answered with a refusal (its problems, as JSON).
    #[error("the rule module refused the request: {0}")]
    Refused(serde_json::Value),
    /// The call gave no answer: the host is going away, or the call panicked.
    #[error("rule evaluation was cancelled")]
    Cancelled,
}

/// The rule set the server evaluates with.
#[derive(Debug)]
pub struct ActiveRuleSet {
    /// Its version.
    pub version: u64,
    /// Its exact JSON text (the codec caches compiled rule sets by text).
    pub text: Box<RawValue>,
}

/// The Wasmtime host of the active rule module.
pub struct RulesHost {
    engine: Engine,
    limits: Limits,
    active: ArcSwap<RuleModule>,
    /// Modules compiled before, by sha256, so that swapping back and forth costs no compile.
    compiled: std::sync::Mutex<Vec<Arc<RuleModule>>>,
    /// The queue of the module threads, one per lane: the long lanes and one more.
    lanes: flume::Sender<LaneJob>,
    /// Permits for calls that run past their first epoch tick (see [`default_lanes`]).
    long_lanes: Arc<tokio::sync::Semaphore>,
    /// The pre-initialized copy of a module, warmed up with a rule set (see [`RulesHost::prepare`]).
    warm: ArcSwapOption<Warm>,
    /// The preparation queue (see [`RulesHost::prepare`]).
    wanted: std::sync::Mutex<Wanted>,
}

/// What [`RulesHost::prepare`] was asked for.
#[derive(Default)]
struct Wanted {
    /// The (module sha256, rule-set version) of the newest request: an older preparation that
    /// finishes later must not replace it.
    latest: Option<(String, u64)>,
    /// The newest request not started yet.
    next: Option<(Arc<RuleModule>, Arc<ActiveRuleSet>)>,
    /// Whether the worker thread is running.
    running: bool,
}

/// A call waiting for a module thread.
type LaneJob = Box<dyn FnOnce() + Send>;

/// A module's pre-initialized copy, and what it was warmed up with.
struct Warm {
    /// sha256 of the module it is a copy of.
    base: String,
    /// The version of the rule set compiled into its starting state.
    rule_set_version: u64,
    module: Arc<RuleModule>,
}

/// Instances alive at once in the server's engine: the module lanes, the preparation worker and
/// uploads' conformance runs (one instance each) stay far below it. Each slot reserves address
/// space (about 4 GiB, never touched); a slot that has served calls keeps up to 16 MiB of them
/// resident (`module::pooled_engine`), and only a handful of slots are in use at a time.
const POOL_SLOTS: u32 = 64;

/// Compiled modules kept for swapping back.
const COMPILED_KEPT: usize = 8;

impl RulesHost {
    /// Compiles the module and makes it active; starts the thread that advances the engine's
    /// epoch (the wall-clock backstop of every call), which ends with the engine.
    ///
    /// At most `long_lanes` calls run long at once, and `long_lanes + 1` calls at all: a call
    /// starts in any free lane, and one still running at the epoch's next tick (within
    /// [`crate::module::EPOCH_TICK`]) waits for a long lane before it goes on. So short calls,
    /// which is nearly all of them, use every core, and runaway modules never hold more cores
    /// than `long_lanes` for longer than a tick.
    pub fn new(bytes: &[u8], limits: Limits, long_lanes: usize) -> Result<Self, ModuleError> {
        let engine = crate::module::pooled_engine(&limits, POOL_SLOTS)?;
        let ticker = engine.weak();
        std::thread::Builder::new()
            .name("nixflow-epoch".into())
            .spawn(move || {
                while let Some(engine) = ticker.upgrade() {
                    engine.increment_epoch();
                    drop(engine);
                    std::thread::sleep(crate::module::EPOCH_TICK);
                }
            })
            .map_err(|e| ModuleError::Compile(format!("cannot start the epoch thread: {e}")))?;
        let module = Arc::new(RuleModule::compile(&engine, bytes, limits)?);
        Ok(Self {
            engine,
            limits,
            active: ArcSwap::new(Arc::clone(&module)),
            compiled: std::sync::Mutex::new(vec![module]),
            lanes: lane_threads(long_lanes.max(1).saturating_add(1))?,
            long_lanes: Arc::new(tokio::sync::Semaphore::new(long_lanes.max(1))),
            warm: ArcSwapOption::empty(),
            wanted: std::sync::Mutex::new(Wanted::default()),
        })
    }

    /// Prepares, in the background, the copy of `module` that starts with `rule_set` compiled
    /// (see [`RuleModule::pre_initialize`]); until it is ready, and whenever it fails, calls run
    /// on `module` itself, only slower. Call it whenever the active module or the active rule set
    /// changes. One preparation runs at a time, on one blocking thread; requests that arrive
    /// meanwhile collapse into the newest (fifty activations in a row cost two preparations, not
    /// fifty), and a repeated request is a no-op.
    pub fn prepare(self: &Arc<Self>, module: Arc<RuleModule>, rule_set: Arc<ActiveRuleSet>) {
        let key = (module.sha256().to_owned(), rule_set.version);
        {
            let Ok(mut wanted) = self.wanted.lock() else { return };
            if wanted.latest.as_ref() == Some(&key) {
                return;
            }
            wanted.latest = Some(key);
            wanted.next = Some((module, rule_set));
            if wanted.running {
                return;
            }
            wanted.running = true;
        }
        let host = Arc::clone(self);
        // Detached: each copy lands in `warm` when it is ready.
        drop(tokio::task::spawn_blocking(move || host.prepare_queued()));
    }

    /// The preparation worker: builds the newest request until none is left.
    fn prepare_queued(&self) {
        let _low = LowPriority::this_thread();
        loop {
            let (module, rule_set) = match self.wanted.lock() {
                Ok(mut wanted) => match wanted.next.take() {
                    Some(job) => job,
                    None => {
                        wanted.running = false;
                        return;
                    }
                },
                Err(_) => return,
            };
            let key = (module.sha256().to_owned(), rule_set.version);
            let started = Instant::now();
            let warm_up = match serde_json::to_vec(&WarmUp { op: "validate", rule_set: &rule_set.text }) {
                Ok(bytes) => bytes,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot write the warm-up request");
                    continue;
                }
            };
            match module.pre_initialize(&warm_up) {
                Ok(copy) => {
                    let still_wanted = self.wanted.lock().is_ok_and(|w| w.latest.as_ref() == Some(&key));
                    if still_wanted {
                        self.warm.store(Some(Arc::new(Warm {
                            base: key.0.clone(),
                            rule_set_version: key.1,
                            module: Arc::new(copy),
                        })));
                    }
                    let seconds = started.elapsed().as_secs_f64();
                    metrics::histogram!("nixflow_rule_prepare_seconds").record(seconds);
                    tracing::info!(
                        sha256 = key.0,
                        rule_set = key.1,
                        seconds,
                        still_wanted,
                        "rule module pre-initialized"
                    );
                }
                Err(e) => {
                    tracing::warn!(sha256 = key.0, rule_set = key.1, error = %e, "cannot pre-initialize the rule module; calls run cold");
                }
            }
        }
    }

    /// The (module sha256, rule-set version) calls to the module start warm with, if any.
    pub fn prepared(&self) -> Option<(String, u64)> {
        self.warm.load().as_deref().map(|w| (w.base.clone(), w.rule_set_version))
    }

    /// What a call to `module` runs: its warmed-up copy when there is one, else itself.
    fn runner(&self, module: &Arc<RuleModule>) -> Arc<RuleModule> {
        match self.warm.load().as_deref() {
            Some(warm) if warm.base == module.sha256() => Arc::clone(&warm.module),
            _ => Arc::clone(module),
        }
    }

    /// Compiles another module in the same engine (not activated), or returns the one compiled
    /// from the same bytes before.
    pub fn compile(&self, bytes: &[u8]) -> Result<Arc<RuleModule>, ModuleError> {
        if let Some(m) = self.compiled(&crate::registry::sha256_hex(bytes)) {
            return Ok(m);
        }
        let module = Arc::new(RuleModule::compile(&self.engine, bytes, self.limits)?);
        if let Ok(mut kept) = self.compiled.lock() {
            if kept.len() >= COMPILED_KEPT {
                kept.remove(0);
            }
            kept.push(Arc::clone(&module));
        }
        Ok(module)
    }

    /// The active module. Hold the `Arc` for the whole of one decision.
    pub fn active(&self) -> Arc<RuleModule> {
        self.active.load_full()
    }

    /// A module compiled before, by sha256.
    pub fn compiled(&self, sha256: &str) -> Option<Arc<RuleModule>> {
        self.compiled.lock().ok().and_then(|c| c.iter().find(|m| m.sha256() == sha256).cloned())
    }

    /// Makes a module active; calls in flight finish on the module they started with.
    pub fn activate(&self, module: Arc<RuleModule>) {
        self.active.store(module);
    }

    /// The per-call limits.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// Sends a codec request to `module` and returns the `answer` of a success, parsed.
    pub async fn call(
        &self,
        module: &Arc<RuleModule>,
        request: &impl Serialize,
    ) -> Result<serde_json::Value, RulesError> {
        let answer = self.call_raw(module, request).await?;
        serde_json::from_str(answer.get()).map_err(|e| ModuleError::BadAnswer(format!("answer: {e}")).into())
    }

    /// Sends a codec request to `module` and returns the `answer` of a success as the module
    /// wrote it: what the host stores verbatim (a decision, an explain trace) is never parsed
    /// into a tree and written back.
    pub async fn call_raw(
        &self,
        module: &Arc<RuleModule>,
        request: &impl Serialize,
    ) -> Result<Box<RawValue>, RulesError> {
        let bytes = serde_json::to_vec(request).map_err(|e| ModuleError::BadAnswer(e.to_string()))?;
        let module = self.runner(module);
        let op = op_name(&bytes);
        let start = if module.is_pre_initialized() { "warm" } else { "cold" };
        metrics::counter!("nixflow_rule_calls_total", "op" => op, "start" => start).increment(1);
        let gate = self.long_call_gate(op);
        let (reply, answer) = tokio::sync::oneshot::channel();
        let queued = Instant::now();
        let job: LaneJob = Box::new(move || {
            metrics::histogram!("nixflow_rule_lane_wait_seconds", "op" => op).record(queued.elapsed().as_secs_f64());
            // The module's own time, without the hand-offs to and from the module thread.
            let inside = Instant::now();
            let result = module.call_gated(&bytes, gate);
            metrics::histogram!("nixflow_rule_module_seconds", "op" => op).record(inside.elapsed().as_secs_f64());
            // The caller may have gone (a dropped request): the answer goes with it.
            let _ = reply.send((result, inside));
        });
        self.lanes.send(job).map_err(|_| RulesError::Cancelled)?;
        let (result, started) = answer.await.map_err(|_| RulesError::Cancelled)?;
        // From the call's start on its thread to its answer here.
        let elapsed = started.elapsed();
        metrics::histogram!("nixflow_rule_evaluation_seconds", "op" => op).record(elapsed.as_secs_f64());
        let (answer, fuel) = match result {
            Ok(ok) => ok,
            Err(e) => {
                metrics::counter!("nixflow_rule_evaluation_failures_total", "op" => op).increment(1);
                return Err(e.into());
            }
        };
        metrics::histogram!("nixflow_rule_evaluation_fuel", "op" => op).record(fuel as f64);
        read_answer(&answer)
    }
}

/// The `answer` of a codec success, or the `errors` of a refusal.
fn read_answer(text: &str) -> Result<Box<RawValue>, RulesError> {
    #[derive(Deserialize)]
    struct Envelope<'a> {
        #[serde(rename = "type", borrow, default)]
        kind: Option<Cow<'a, str>>,
        #[serde(borrow, default)]
        answer: Option<&'a RawValue>,
        #[serde(borrow, default)]
        errors: Option<&'a RawValue>,
    }
    let neither = || ModuleError::BadAnswer("answer is neither a success nor a failure".into());
    let envelope: Envelope<'_> = serde_json::from_str(text).map_err(|e| {
        if e.is_syntax() || e.is_eof() { ModuleError::BadAnswer(format!("answer is not JSON: {e}")) } else { neither() }
    })?;
    match envelope.kind.as_deref() {
        Some("success") => Ok(match envelope.answer {
            Some(answer) => answer.to_owned(),
            None => serde_json::value::to_raw_value(&serde_json::Value::Null).map_err(|_| neither())?,
        }),
        Some("failure") => Err(RulesError::Refused(
            envelope.errors.and_then(|errors| serde_json::from_str(errors.get()).ok()).unwrap_or_default(),
        )),
        _ => Err(neither().into()),
    }
}

impl RulesHost {
    /// The admission of a call of `op` that runs long: it lowers its thread's priority and blocks
    /// it until a long lane is free, and holds both until the call ends.
    fn long_call_gate(&self, op: &'static str) -> LongCallGate {
        let long_lanes = Arc::clone(&self.long_lanes);
        let runtime = tokio::runtime::Handle::current();
        Arc::new(move || {
            metrics::counter!("nixflow_rule_long_calls_total", "op" => op).increment(1);
            let low = LowPriority::this_thread();
            let queued = Instant::now();
            // Called on the module thread that runs the call, never on the executor.
            let permit = runtime.block_on(Arc::clone(&long_lanes).acquire_owned());
            metrics::histogram!("nixflow_rule_long_lane_wait_seconds", "op" => op)
                .record(queued.elapsed().as_secs_f64());
            match permit {
                Ok(permit) => Box::new((permit, low)),
                // Closed only if the host is going away: let the call finish.
                Err(_) => Box::new(low),
            }
        })
    }
}

/// A thread lowered to the lowest OS priority until this is dropped: a module call that runs
/// long (from its first epoch tick to its end) and the background preparation of warm copies. A
/// module that burns its whole budget (or twenty of them) then slows probes and ordinary requests
/// as little as possible, and the kernel still gives it every idle cycle.
///
/// Ordinary calls (about 0.1 ms, nearly all of them) keep the executor's priority: lowered, they
/// were preempted by every request thread while holding a lane, and creates at 32 connections
/// ran 0.91x the throughput (BENCHMARKS.md, stop 19).
///
/// Raising a priority back needs `CAP_SYS_NICE` (or an `RLIMIT_NICE` that allows it). Without
/// it the thread stays low, as every module thread did before, and later ordinary calls on that
/// thread run slower but correctly.
struct LowPriority {
    thread: rustix::thread::Pid,
    /// The thread's `nice` before, if it could be read and was lowered.
    before: Option<i32>,
}

impl LowPriority {
    /// The lowest `nice`: the kernel's weight for it is 1/68 of the executor's (nice 0), so the
    /// executor wins the CPU whenever it has work.
    const NICE: i32 = 19;

    /// Lowers the calling thread.
    fn this_thread() -> Self {
        let thread = rustix::thread::gettid();
        // On Linux, PRIO_PROCESS with a thread id applies to that thread only.
        let before = rustix::process::getpriority_process(Some(thread)).ok().filter(|&nice| nice < Self::NICE);
        if let Some(nice) = before
            && let Err(e) = rustix::process::setpriority_process(Some(thread), Self::NICE)
        {
            tracing::debug!(error = %e, nice, "cannot lower the priority of a rule-module thread");
            return Self { thread, before: None };
        }
        Self { thread, before }
    }
}

impl Drop for LowPriority {
    fn drop(&mut self) {
        thread_local! {
            static DENIED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
        }
        let Some(nice) = self.before else { return };
        if DENIED.get() {
            return;
        }
        if let Err(e) = rustix::process::setpriority_process(Some(self.thread), nice) {
            // Once per thread: not allowed now means not allowed later.
            DENIED.set(true);
            tracing::debug!(error = %e, nice, "cannot restore the priority of a rule-module thread; it stays low");
        }
    }
}

/// Starts `lanes` module threads, each running the calls of one shared queue in turn, and
/// returns the queue; the threads end when it is dropped (with the host).
///
/// Why threads of our own rather than a semaphore in front of Tokio's blocking pool: under load
/// a lane thread takes the next call as soon as it finishes one, without sleeping. Through the
/// pool every call woke an idle thread and put it back to sleep, and the permit's release woke
/// another task: two to three context switches per call, at two calls per create a larger share
/// of the server's CPU than the module's own code (BENCHMARKS.md, stop 20).
fn lane_threads(lanes: usize) -> Result<flume::Sender<LaneJob>, ModuleError> {
    let (queue, jobs) = flume::unbounded::<LaneJob>();
    for lane in 0..lanes {
        let jobs = jobs.clone();
        std::thread::Builder::new()
            .name(format!("nixflow-rules-{lane}"))
            .spawn(move || {
                while let Ok(job) = jobs.recv() {
                    // Where panics unwind, one ends that call (its caller sees `Cancelled`), not
                    // the lane.
                    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
                }
            })
            .map_err(|e| ModuleError::Compile(format!("cannot start a module thread: {e}")))?;
    }
    Ok(queue)
}

/// The default number of module calls that may run *long* at once: one fewer than the cores (at
/// least one). Leaving a core to the executor keeps the server responsive while modules burn
/// their budgets. A low priority alone did not: neither `nice` 19 nor `SCHED_IDLE` kept probes
/// from waiting whole 4 ms scheduler ticks once every core ran a module (BENCHMARKS.md). One
/// more call may run for up to a tick beside them ([`RulesHost::new`]).
pub fn default_lanes() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get().saturating_sub(1).max(1))
}

#[derive(Serialize)]
struct WarmUp<'a> {
    op: &'static str,
    rule_set: &'a RawValue,
}

/// The op of a request this host built, for metric labels (the op is always its first field).
fn op_name(request: &[u8]) -> &'static str {
    const OPS: [&str; 8] = [
        "evaluate",
        "counter_needed",
        "validate",
        "check_escalations",
        "sla_status",
        "next_wake_up",
        "compliance_report",
        "module_info",
    ];
    let Some(rest) = request.strip_prefix(br#"{"op":""#) else { return "other" };
    OPS.into_iter()
        .find(|op| rest.strip_prefix(op.as_bytes()).is_some_and(|after| after.starts_with(b"\"")))
        .unwrap_or("other")
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::{LaneJob, LowPriority, RulesHost, lane_threads, op_name};
    use crate::module::{Limits, LongCallGate, ModuleError};

    /// A module whose every call spins until its fuel runs out.
    fn spinning_module() -> Vec<u8> {
        wat::parse_str(
            r#"(module
              (memory (export "memory") 2)
              (func (export "nixflow_abi_version") (result i32) (i32.const 1))
              (func (export "nixflow_alloc") (param i32) (result i32) (i32.const 4096))
              (func (export "nixflow_free") (param i32 i32))
              (func (export "nixflow_call") (param i32 i32) (result i64) (loop $l (br $l)) (i64.const 0)))"#,
        )
        .expect("wat")
    }

    /// Counts the calls between their admission to a long lane and their end.
    struct Admitted(Arc<AtomicUsize>);

    impl Drop for Admitted {
        fn drop(&mut self) {
            self.0.fetch_sub(1, Ordering::SeqCst);
        }
    }

    /// A long call's thread runs at `nice` 19 until the call ends, then at its own priority again
    /// (where the process may raise a priority: as root, which CI is).
    #[test]
    fn a_long_call_runs_low_and_its_thread_comes_back() {
        std::thread::spawn(|| {
            let nice = || rustix::process::getpriority_process(Some(rustix::thread::gettid())).unwrap();
            let before = nice();
            assert!(before < LowPriority::NICE, "the test thread starts at the executor's priority");
            let low = LowPriority::this_thread();
            assert_eq!(nice(), LowPriority::NICE);
            // Lowering again (a preparation inside a long call) is harmless.
            drop(LowPriority::this_thread());
            assert_eq!(nice(), LowPriority::NICE);
            drop(low);
            if rustix::process::geteuid().is_root() {
                assert_eq!(nice(), before);
            }
        })
        .join()
        .unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn long_calls_take_turns_in_the_long_lanes_and_hold_them_to_the_end() {
        // Enough fuel to spin for many epoch ticks (10 ms each), little enough for a quick test.
        let limits = Limits { fuel: 300_000_000, ..Limits::default() };
        let host = Arc::new(RulesHost::new(&spinning_module(), limits, 1).expect("host"));
        let module = host.active();
        let (admissions, running_long, most_at_once) =
            (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let calls: Vec<_> = (0..3)
            .map(|_| {
                let lane = host.long_call_gate("evaluate");
                let (admissions, running_long, most_at_once) =
                    (Arc::clone(&admissions), Arc::clone(&running_long), Arc::clone(&most_at_once));
                // The host's gate, observed: a call counts from its admission until what the gate
                // handed out is dropped (the counter goes down before the lane is given back).
                let gate: LongCallGate = Arc::new(move || {
                    let permit = lane();
                    admissions.fetch_add(1, Ordering::SeqCst);
                    let now = running_long.fetch_add(1, Ordering::SeqCst) + 1;
                    most_at_once.fetch_max(now, Ordering::SeqCst);
                    Box::new((Admitted(Arc::clone(&running_long)), permit))
                });
                let module = Arc::clone(&module);
                tokio::task::spawn_blocking(move || module.call_gated(br#"{"op":"evaluate"}"#, gate))
            })
            .collect();
        for call in calls {
            let outcome = call.await.expect("join");
            assert!(matches!(outcome, Err(ModuleError::OutOfFuel)), "{:?}", outcome.map(|_| ()));
        }
        // Every call ran past a tick and was admitted once; never two at once in one long lane.
        assert_eq!(admissions.load(Ordering::SeqCst), 3);
        assert_eq!(most_at_once.load(Ordering::SeqCst), 1);
        assert_eq!(running_long.load(Ordering::SeqCst), 0, "admissions end with their calls");
    }

    /// A lane takes the calls of its queue in turn, and a call that panics loses its answer, not
    /// the lane.
    #[test]
    fn a_lane_outlives_a_call_that_panics() {
        let lanes = lane_threads(1).expect("lane");
        let (reply, answer) = std::sync::mpsc::channel::<u32>();
        let lost = reply.clone();
        let panics: LaneJob = Box::new(move || {
            let _reply = lost;
            panic!("a call that panics");
        });
        lanes.send(panics).expect("queued");
        for n in 0..3 {
            let reply = reply.clone();
            lanes.send(Box::new(move || reply.send(n).expect("answer"))).expect("queued");
        }
        // Only the queued calls hold a sender now, and the queue goes with the last handle once
        // the lane has taken them: a dead lane ends the wait below instead of hanging it.
        drop((reply, lanes));
        let answers: Vec<u32> = (0..3).map(|_| answer.recv().expect("the lane went on")).collect();
        assert_eq!(answers, [0, 1, 2], "in queue order");
    }

    #[test]
    fn metric_labels_name_the_op_of_the_first_field() {
        assert_eq!(op_name(br#"{"op":"evaluate","rule_set":{}}"#), "evaluate");
        assert_eq!(op_name(br#"{"op":"counter_needed","ticket":{}}"#), "counter_needed");
        assert_eq!(op_name(br#"{"op":"module_info"}"#), "module_info");
        // A longer name that starts like a known op is not that op.
        assert_eq!(op_name(br#"{"op":"evaluated"}"#), "other");
        assert_eq!(op_name(br#"{"rule_set":{},"op":"evaluate"}"#), "other");
    }
}
