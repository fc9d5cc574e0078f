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
    let value: serde_json::Value = serde_json::from_str(&answer)?;
    if let Some(summary) = summarize(&value) {
        eprintln!("{summary}");
    }
    println!("{}", serde_json::to_string_pretty(&value)?);
    Ok(())
}

/// A few lines for people, ahead of the full answer, when the answer is an evaluation.
fn summarize(answer: &serde_json::Value) -> Option<String> {
    let a = answer.get("answer").filter(|_| answer["op"] == "evaluate")?;
    let text = |v: &serde_json::Value| v.as_str().unwrap_or("-").to_owned();
    let mut lines = vec![
        format!("priority  {}: {}", text(&a["prioritization"]["priority"]), text(&a["prioritization"]["reason"])),
        format!("assignee  {}: {}", text(&a["assignment"]["assignee"]), text(&a["assignment"]["reason"])),
    ];
    if let Some(sla) = a["sla"].as_object() {
        lines.push(format!(
            "SLA       first response due at {} ms, resolution at {} ms (epoch)",
            sla["first_response"]["deadline_at"], sla["resolution"]["deadline_at"]
        ));
    }
    for e in a["escalations"].as_array().into_iter().flatten() {
        lines.push(format!("escalates {}", text(&e["reason"])));
    }
    lines.push(format!("wake up   at {} ms for {}", a["next_wake_up"]["at"], text(&a["next_wake_up"]["subject"])));
    Some(lines.join("\n"))
}
