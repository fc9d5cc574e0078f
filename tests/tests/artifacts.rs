//! The built artifacts: the host-abi module imports nothing and exports the ABI; the JSON
//! Schemas in `schema/` are the ones the types generate; rules-core's native benchmark reads
//! the request the workload makes.

use nixflow_tests::{host_module_path, repo_root};

#[test]
fn host_abi_module_has_no_imports_and_exports_the_abi() {
    let bytes = std::fs::read(host_module_path()).expect("read module");
    let engine = wasmtime::Engine::default();
    let module = wasmtime::Module::new(&engine, &bytes).expect("compiles");
    let imports: Vec<String> = module.imports().map(|i| format!("{}::{}", i.module(), i.name())).collect();
    assert!(imports.is_empty(), "the host-abi module imports {imports:?}");
    let exports: Vec<&str> = module.exports().map(|e| e.name()).collect();
    for name in ["memory", "nixflow_abi_version", "nixflow_alloc", "nixflow_free", "nixflow_call"] {
        assert!(exports.contains(&name), "missing export `{name}`; has {exports:?}");
    }
    let loaded = host_server::module::RuleModule::from_bytes(&bytes, Default::default()).expect("loads");
    assert_eq!(loaded.abi_version(), rules_core::ABI_VERSION);
    assert_eq!(loaded.sha256().len(), 64);
}

#[test]
fn module_without_the_abi_is_refused_with_a_reason() {
    let err = |wat: &str| {
        let bytes = wat_to_wasm(wat);
        match host_server::module::RuleModule::from_bytes(&bytes, Default::default()) {
            Ok(_) => panic!("accepted {wat}"),
            Err(e) => e.to_string(),
        }
    };
    assert_eq!(
        err(r#"(module (import "wasi" "fd_write" (func)))"#),
        "module imports `wasi::fd_write`; rule modules may import nothing"
    );
    assert_eq!(
        err("(module (memory (export \"memory\") 1))"),
        "module lacks export `nixflow_abi_version` of the right type"
    );
    assert_eq!(
        err(r#"(module (memory (export "memory") 1) (func (export "nixflow_abi_version") (result i32) i32.const 9))"#),
        "module speaks ABI version 9; this host speaks [1]"
    );
}

fn wat_to_wasm(wat: &str) -> Vec<u8> {
    wat::parse_str(wat).expect("valid wat")
}

#[test]
fn json_schemas_are_up_to_date() {
    let dir = repo_root().join("schema");
    for (name, schema) in
        [("request", rules_core::codec::request_schema()), ("answer", rules_core::codec::answer_schema())]
    {
        let generated = format!("{}\n", serde_json::to_string_pretty(&schema).expect("encode"));
        assert_generated(&dir.join(format!("{name}.schema.json")), generated.as_bytes());
    }
}

#[test]
fn native_benchmark_request_is_the_workloads() {
    let generated = nixflow_tests::workload::evaluate_request(&nixflow_tests::workload::default_rules());
    assert_generated(&repo_root().join("rules-core/benches/typical-request.json"), &generated);
}

/// A committed file generated from the sources equals what they generate now; with
/// `UPDATE_SCHEMA` set, it is written first.
fn assert_generated(path: &std::path::Path, generated: &[u8]) {
    if std::env::var_os("UPDATE_SCHEMA").is_some() {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).expect("mkdir");
        }
        std::fs::write(path, generated).expect("write");
    }
    let committed = std::fs::read(path).unwrap_or_default();
    assert!(
        committed == generated,
        "{} is stale; regenerate with `UPDATE_SCHEMA=1 cargo test -p nixflow-tests --test artifacts`",
        path.display()
    );
}
