#!/usr/bin/env python3
"""Prints criterion's medians for the `evaluate` benchmark as a Markdown table with ratios to
native (the table in BENCHMARKS.md). Usage: bench_report.py [criterion dir]"""
import json
import os
import sys

root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.environ.get("CARGO_TARGET_DIR", "target"), "criterion")
print("| rule set | runtime | median | ratio to native |")
print("|---|---|---:|---:|")
for group in ("default", "500-rules"):
    medians = {}
    for fn in (
        "native",
        "native-cold",
        "wasmtime-reused",
        "wasmtime-fresh",
        "wasmtime-preinit",
        "wasmtime-preinit-pooled",
    ):
        path = os.path.join(root, f"evaluate_{group}", fn, "new", "estimates.json")
        with open(path) as f:
            medians[fn] = json.load(f)["median"]["point_estimate"] / 1000.0  # ns -> µs
    for fn, us in medians.items():
        shown = f"{us:.1f} µs" if us < 1000 else f"{us / 1000:.2f} ms"
        print(f"| {group} | {fn} | {shown} | {us / medians['native']:.2f}× |")
