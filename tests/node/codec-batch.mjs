// Answers a batch of codec requests with the pkg/ package (the browser build, run in Node).
// Usage: node codec-batch.mjs <requests.json> <answers.json> [module.wasm]
// requests.json holds a JSON array of request strings; answers.json receives the answers.
// With module.wasm (a host-abi rule module, e.g. the bytes the server serves), the answers come
// from that module called through pkg/'s HostModule, as a browser previews with the server's bytes.
import { readFileSync, writeFileSync } from 'node:fs';
import { initSync, call, HostModule } from '../../pkg/nixflow_rules.js';

initSync({ module: readFileSync(new URL('../../pkg/nixflow_rules_bg.wasm', import.meta.url)) });
const requests = JSON.parse(readFileSync(process.argv[2], 'utf8'));
let answer = call;
if (process.argv[4]) {
  // No imports: a module that needs any fails to instantiate, as on the server.
  const { instance } = await WebAssembly.instantiate(readFileSync(process.argv[4]), {});
  const host = new HostModule(instance);
  if (host.abiVersion !== 1) throw new Error(`unexpected ABI version ${host.abiVersion}`);
  answer = (request) => host.call(request);
}
writeFileSync(process.argv[3], JSON.stringify(requests.map((request) => answer(request))));
