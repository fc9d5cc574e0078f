// Answers a batch of codec requests with the pkg/ package (the browser build, run in Node).
// Usage: node codec-batch.mjs <requests.json> <answers.json>
// requests.json holds a JSON array of request strings; answers.json receives the answers.
import { readFileSync, writeFileSync } from 'node:fs';
import { initSync, call } from '../../pkg/nixflow_rules.js';

initSync({ module: readFileSync(new URL('../../pkg/nixflow_rules_bg.wasm', import.meta.url)) });
const requests = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const answers = requests.map((request) => call(request));
writeFileSync(process.argv[3], JSON.stringify(answers));
