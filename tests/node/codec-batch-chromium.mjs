// Answers a batch of codec requests in headless Chromium (Debian's /usr/bin/chromium, driven by
// playwright-core): the pkg/ package as the web app loads it, or, with module.wasm, that rule
// module called through pkg/'s HostModule exactly as the app previews with the server's bytes.
// Usage: node codec-batch-chromium.mjs <requests.json> <answers.json> [module.wasm]
import { readFileSync, writeFileSync } from 'node:fs';
import { extname, resolve } from 'node:path';
import { chromium } from 'playwright-core';

const root = resolve(new URL('../..', import.meta.url).pathname);
const requests = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const modulePath = process.argv[4];
const ORIGIN = 'http://parity.invalid';
const TYPES = { '.js': 'text/javascript', '.wasm': 'application/wasm', '.html': 'text/html' };

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-background-networking', '--disable-component-update'],
});
try {
  const page = await browser.newPage();
  // Serve pkg/ and the module from disk under a made-up origin: no server, no network.
  await page.route(`${ORIGIN}/**`, (route) => {
    const path = new URL(route.request().url()).pathname;
    if (path === '/') return route.fulfill({ contentType: 'text/html', body: '<!doctype html><title>parity</title>' });
    const file = path === '/module.wasm' ? resolve(modulePath) : resolve(root, `.${path}`);
    if (!file.startsWith(root) && file !== resolve(modulePath ?? '')) return route.fulfill({ status: 403 });
    return route.fulfill({ contentType: TYPES[extname(file)] ?? 'application/octet-stream', body: readFileSync(file) });
  });
  await page.goto(`${ORIGIN}/`);
  const answers = await page.evaluate(
    async ({ requests, useModule }) => {
      const pkg = await import('/pkg/nixflow_rules.js');
      await pkg.default({ module_or_path: '/pkg/nixflow_rules_bg.wasm' });
      let answer = (r) => pkg.call(r);
      if (useModule) {
        const { instance } = await WebAssembly.instantiateStreaming(fetch('/module.wasm'), {});
        const host = new pkg.HostModule(instance);
        if (host.abiVersion !== 1) throw new Error(`unexpected ABI version ${host.abiVersion}`);
        answer = (r) => host.call(r);
      }
      return requests.map(answer);
    },
    { requests, useModule: !!modulePath },
  );
  writeFileSync(process.argv[3], JSON.stringify(answers));
} finally {
  await browser.close();
}
