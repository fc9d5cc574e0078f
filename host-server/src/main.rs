//! `host-server`: until the HTTP service lands, it answers one codec request from stdin with a
//! rule module hosted in Wasmtime and pretty-prints the answer:
//! `host-server build/nixflow_rules.wasm < examples/sample-request.json`.

use std::io::Read;

use host_server::module::{Limits, RuleModule};

fn main() -> anyhow::Result<()> {
    let path = std::env::args().nth(1).unwrap_or_else(|| "build/nixflow_rules.wasm".to_owned());
    let module = RuleModule::from_file(&path, Limits::default())?;
    eprintln!(
        "rule module {path}: sha256 {}, {} bytes, ABI version {}",
        module.sha256(),
        module.size(),
        module.abi_version()
    );
    let mut request = Vec::new();
    std::io::stdin().read_to_end(&mut request)?;
    let answer = module.call(&request)?;
    let pretty = serde_json::from_str::<serde_json::Value>(&answer)
        .and_then(|v| serde_json::to_string_pretty(&v))
        .unwrap_or(answer);
    println!("{pretty}");
    Ok(())
}
