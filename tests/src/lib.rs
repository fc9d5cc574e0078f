//! Shared machinery of the cross-crate tests: the parity corpus, the three runtimes that must
//! answer it identically, a subset matcher for expectations, and a seeded request generator.

pub mod generate;
pub mod workload;

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().map(Path::to_path_buf).unwrap_or_default()
}

fn built(path: PathBuf) -> PathBuf {
    assert!(path.exists(), "{} is missing: build the rule modules first with `./x.sh build`", path.display());
    path
}

/// The host-abi rule module built by `./x.sh build`.
pub fn host_module_path() -> PathBuf {
    built(repo_root().join("build/nixflow_rules.wasm"))
}

/// The wasm-bindgen package built by `./x.sh build`.
pub fn pkg_wasm_path() -> PathBuf {
    built(repo_root().join("pkg/nixflow_rules_bg.wasm"))
}

/// One case of the corpus.
#[derive(Debug, Clone)]
pub struct Vector {
    /// `file.json: case name`.
    pub name: String,
    /// The exact request bytes.
    pub request: Vec<u8>,
    /// A subset the answer must contain.
    pub expect: Value,
}

/// Loads every case of `tests/vectors/*.json`, in file then case order.
pub fn load_vectors() -> Vec<Vector> {
    let dir = repo_root().join("tests/vectors");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|e| e.map(|e| e.path()).unwrap_or_default())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    let default_rules: Value =
        serde_json::from_str(rules_core::DEFAULT_RULE_SET_JSON).unwrap_or_else(|e| panic!("default rules: {e}"));
    let mut out = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let doc: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let file_name = file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let resolve = |v: &Value| if v == "$default" { default_rules.clone() } else { v.clone() };
        let file_rules = doc.get("rule_set").filter(|v| !v.is_null()).map(resolve);
        for case in doc["cases"].as_array().unwrap_or_else(|| panic!("{file_name}: no cases")) {
            let name = format!("{file_name}: {}", case["name"].as_str().unwrap_or("?"));
            let request = match &case["request"] {
                Value::Object(map) if map.contains_key("raw") => raw_request(&map["raw"]),
                Value::Object(map) => {
                    let mut map = map.clone();
                    let op = map.get("op").and_then(Value::as_str).unwrap_or_default();
                    match map.get("rule_set") {
                        Some(v) => {
                            let v = resolve(v);
                            map.insert("rule_set".into(), v);
                        }
                        None if op != "module_info" => {
                            if let Some(rules) = &file_rules {
                                map.insert("rule_set".into(), rules.clone());
                            }
                        }
                        None => {}
                    }
                    serde_json::to_vec(&Value::Object(map)).unwrap_or_default()
                }
                other => panic!("{name}: request must be an object, got {other}"),
            };
            out.push(Vector { name, request, expect: case["expect"].clone() });
        }
    }
    out
}

fn raw_request(raw: &Value) -> Vec<u8> {
    match raw {
        Value::String(s) => s.clone().into_bytes(),
        Value::Object(g) => {
            let times = g["times"].as_u64().unwrap_or(0) as usize;
            let mut s = g["prefix"].as_str().unwrap_or_default().to_owned();
            s.push_str(&g["unit"].as_str().unwrap_or_default().repeat(times));
            s.push_str(g["suffix"].as_str().unwrap_or_default());
            s.into_bytes()
        }
        other => panic!("raw must be a string or a generator, got {other}"),
    }
}

/// Checks that `actual` contains `expected`: objects by subset of keys, arrays element-wise
/// with equal length, everything else by equality. Returns the first difference.
pub fn contains(actual: &Value, expected: &Value, path: &str) -> Result<(), String> {
    match (expected, actual) {
        (Value::Object(e), Value::Object(a)) => {
            for (k, ev) in e {
                let av = a.get(k).ok_or_else(|| format!("{path}.{k}: missing (expected {ev})"))?;
                contains(av, ev, &format!("{path}.{k}"))?;
            }
            Ok(())
        }
        (Value::Array(e), Value::Array(a)) => {
            if e.len() != a.len() {
                return Err(format!("{path}: expected {} elements, got {}: {actual}", e.len(), a.len()));
            }
            for (i, (ev, av)) in e.iter().zip(a).enumerate() {
                contains(av, ev, &format!("{path}[{i}]"))?;
            }
            Ok(())
        }
        _ if expected == actual => Ok(()),
        _ => Err(format!("{path}: expected {expected}, got {actual}")),
    }
}

/// A runtime that answers codec requests.
pub trait Runtime {
    /// A name for messages.
    fn name(&self) -> &'static str;
    /// Answers every request, in order.
    fn answer_all(&mut self, requests: &[Vec<u8>]) -> Vec<String>;
}

/// (a) rules-core linked natively, a fresh codec per request.
pub struct Native;

impl Runtime for Native {
    fn name(&self) -> &'static str {
        "native"
    }
    fn answer_all(&mut self, requests: &[Vec<u8>]) -> Vec<String> {
        requests.iter().map(|r| rules_core::call(r)).collect()
    }
}

/// (b) the host-abi module in Wasmtime: one long-lived instance (its rule-set cache warm),
/// a fresh instance per request, or a fresh instance per request of a pre-initialized copy
/// (warmed up with one rule set, as the server runs it).
pub struct Wasmtime {
    module: host_server::module::RuleModule,
    start: Start,
}

enum Start {
    Fresh,
    Reused,
    PreInitialized,
}

impl Wasmtime {
    /// Loads the built module.
    pub fn new(fresh: bool) -> Self {
        Self { module: load_host_module(), start: if fresh { Start::Fresh } else { Start::Reused } }
    }

    /// Loads the built module and pre-initializes it with a `validate` of `rule_set` (JSON text),
    /// as the server does with its active rule set.
    pub fn pre_initialized(rule_set: &str) -> Self {
        let warm_up = format!(r#"{{"op":"validate","rule_set":{rule_set}}}"#);
        let module = load_host_module()
            .pre_initialize(warm_up.as_bytes())
            .unwrap_or_else(|e| panic!("cannot pre-initialize the host-abi module: {e}"));
        Self { module, start: Start::PreInitialized }
    }
}

fn load_host_module() -> host_server::module::RuleModule {
    host_server::module::RuleModule::from_file(host_module_path(), Default::default())
        .unwrap_or_else(|e| panic!("cannot load the host-abi module: {e:#}"))
}

impl Runtime for Wasmtime {
    fn name(&self) -> &'static str {
        match self.start {
            Start::Fresh => "wasmtime (fresh instance per call)",
            Start::Reused => "wasmtime (reused instance)",
            Start::PreInitialized => "wasmtime (fresh instance per call of a pre-initialized copy)",
        }
    }
    fn answer_all(&mut self, requests: &[Vec<u8>]) -> Vec<String> {
        let mut reused = match self.start {
            Start::Reused => Some(self.module.instance().expect("instantiate")),
            Start::Fresh | Start::PreInitialized => None,
        };
        requests
            .iter()
            .map(|r| {
                let answer = match &mut reused {
                    Some(instance) => instance.call(r),
                    None => self.module.call(r),
                };
                answer.unwrap_or_else(|e| format!("<module error: {e}>"))
            })
            .collect()
    }
}

/// (c) the `pkg/` package in Node.
pub struct Node;

impl Runtime for Node {
    fn name(&self) -> &'static str {
        "node (pkg/)"
    }
    fn answer_all(&mut self, requests: &[Vec<u8>]) -> Vec<String> {
        node_batch(requests, None)
    }
}

/// (d) the `pkg/` package in Node calling the server's own module bytes
/// (`build/nixflow_rules.wasm`) through the host ABI with `HostModule`, as a browser does with
/// the bytes from `/api/rules/modules/{sha256}.wasm`.
pub struct NodeHostModule;

impl Runtime for NodeHostModule {
    fn name(&self) -> &'static str {
        "node (pkg/ HostModule over the server's module)"
    }
    fn answer_all(&mut self, requests: &[Vec<u8>]) -> Vec<String> {
        node_batch(requests, Some(&host_module_path()))
    }
}

/// (e) the `pkg/` package in headless Chromium, as the web app loads it.
pub struct Chromium;

impl Runtime for Chromium {
    fn name(&self) -> &'static str {
        "chromium (pkg/)"
    }
    fn answer_all(&mut self, requests: &[Vec<u8>]) -> Vec<String> {
        batch("codec-batch-chromium.mjs", requests, None)
    }
}

/// (f) the server's module bytes called through `HostModule` in headless Chromium: exactly what
/// the web app's preview does.
pub struct ChromiumHostModule;

impl Runtime for ChromiumHostModule {
    fn name(&self) -> &'static str {
        "chromium (pkg/ HostModule over the server's module)"
    }
    fn answer_all(&mut self, requests: &[Vec<u8>]) -> Vec<String> {
        batch("codec-batch-chromium.mjs", requests, Some(&host_module_path()))
    }
}

fn node_batch(requests: &[Vec<u8>], module: Option<&Path>) -> Vec<String> {
    batch("codec-batch.mjs", requests, module)
}

/// Runs a batch script of `tests/node/` over the requests (with a module to call through
/// `HostModule`, when given).
fn batch(script: &str, requests: &[Vec<u8>], module: Option<&Path>) -> Vec<String> {
    pkg_wasm_path();
    let dir = std::env::temp_dir().join(format!(
        "nixflow-parity-{}-{:?}-{}-{}",
        std::process::id(),
        std::thread::current().id(),
        script,
        module.is_some()
    ));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let (req_path, ans_path) = (dir.join("requests.json"), dir.join("answers.json"));
    let texts: Vec<&str> =
        requests.iter().map(|r| std::str::from_utf8(r).expect("node takes UTF-8 requests only")).collect();
    std::fs::write(&req_path, serde_json::to_vec(&texts).expect("encode")).expect("write requests");
    let script = repo_root().join("tests/node").join(script);
    let mut command = Command::new("node");
    command.arg(&script).arg(&req_path).arg(&ans_path);
    if let Some(m) = module {
        command.arg(m);
    }
    let status = command.status().unwrap_or_else(|e| panic!("cannot run node: {e}"));
    assert!(status.success(), "node {} exited with {status}", script.display());
    let answers: Vec<String> =
        serde_json::from_slice(&std::fs::read(&ans_path).expect("read answers")).expect("decode answers");
    let _ = std::fs::remove_dir_all(&dir);
    answers
}

/// Answers `requests` in every runtime and asserts byte-identical answers. Returns the native
/// answers.
pub fn assert_parity(names: &[String], requests: &[Vec<u8>], runtimes: &mut [&mut dyn Runtime]) -> Vec<String> {
    let native = Native.answer_all(requests);
    for runtime in runtimes.iter_mut() {
        let answers = runtime.answer_all(requests);
        assert_eq!(answers.len(), native.len(), "{}: answer count", runtime.name());
        let mismatches: Vec<String> = native
            .iter()
            .zip(&answers)
            .zip(names)
            .filter(|((n, a), _)| n != a)
            .map(|((n, a), name)| format!("{name}\n  native: {}\n  {}: {}", clip(n), runtime.name(), clip(a)))
            .collect();
        assert!(
            mismatches.is_empty(),
            "{} mismatches against {}:\n{}",
            mismatches.len(),
            runtime.name(),
            mismatches.join("\n")
        );
    }
    native
}

fn clip(s: &str) -> String {
    if s.len() > 400 { format!("{}…", s.get(..400).unwrap_or(s)) } else { s.to_owned() }
}
