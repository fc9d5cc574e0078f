// Where the time of one RuleEngine.classify call goes (BENCHMARKS.md, "classify in the browser
// package"): the call with no keyword rules (crossing and copying the strings into the module)
// and with the default rules (the search added), for a 275-character description in ASCII and
// with one non-ASCII character per few words; beside them, the floors of the copy in plain
// JavaScript (wasm-bindgen's char loop, and TextEncoder.encodeInto into a view made once) and
// one V8 regex over the same text. ns per call, median of 7 runs of 100,000 calls.
// Usage: node bench/classify-parts.mjs
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { initSync, RuleEngine, defaultRuleSetJson } from '../../../pkg/nixflow_rules.js';

initSync({ module: readFileSync(new URL('../../../pkg/nixflow_rules_bg.wasm', import.meta.url)) });
const rules = JSON.parse(defaultRuleSetJson());
const noKeywords = new RuleEngine({ ...rules, prioritization: [] });
const engine = new RuleEngine(rules);
// JSON round trip: a flat string, as a form field or JSON.parse would give.
const flat = (s) => JSON.parse(JSON.stringify(s));
const base = 'the printer is not working download countdown cafe reseau since noon please help down-time vpn email server ';
const ascii = flat(base.repeat(3).slice(0, 275));
const latin = flat(ascii.replace(/cafe/g, 'café'));
const none = flat(ascii.replace(/[dougtwnaer]/g, 'x'));

function time(name, fn) {
  const runs = [];
  for (let r = 0; r < 7; r++) {
    const start = performance.now();
    for (let i = 0; i < 100_000; i++) fn();
    runs.push((performance.now() - start) * 10); // ms per 100,000 calls → ns per call
  }
  runs.sort((a, b) => a - b);
  console.log(`| ${name} | ${runs[3].toFixed(0)} |`);
}

// A memory of its own: writing into the module's would overwrite its heap.
const memory = new Uint8Array(new WebAssembly.Memory({ initial: 2 }).buffer);
function charLoop(text, at) {
  let i = 0;
  for (; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c > 0x7f) break;
    memory[at + i] = c;
  }
  return i;
}
const encoder = new TextEncoder();
const view = new Uint8Array(new ArrayBuffer(1024));

console.log('| call | ns |');
console.log('|---|---:|');
time('classify, no keyword rules, empty texts', () => noKeywords.classify('', '', 'Hardware', ''));
time('classify, no keyword rules, 275 ASCII characters', () => noKeywords.classify('t', ascii, 'Hardware', ''));
time('classify, no keyword rules, 275 characters with é', () => noKeywords.classify('t', latin, 'Hardware', ''));
time('classify, default rules, 275 ASCII characters', () => engine.classify('t', ascii, 'Hardware', ''));
time('classify, default rules, 275 characters with é', () => engine.classify('t', latin, 'Hardware', ''));
time('classify, default rules, 275 ASCII characters, no keyword letters', () => engine.classify('t', none, 'Hardware', ''));
time("copy floor: wasm-bindgen's char loop into a wasm memory, 275 ASCII characters", () => charLoop(ascii, 1024));
time('copy floor: TextEncoder.encodeInto a view made once, 275 ASCII characters', () => encoder.encodeInto(ascii, view).written);
const down = /(?<![\p{Alphabetic}\p{N}_])down(?![\p{Alphabetic}\p{N}_])/iu;
time('one V8 regex (`down`, whole word, /iu), 275 ASCII characters', () => down.test(ascii));
