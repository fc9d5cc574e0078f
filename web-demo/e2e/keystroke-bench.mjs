// Keystroke-to-preview latency in headless Chromium (a benchmark, not a test): from each
// keydown in the title to the first animation frame after the preview changed, with the
// default rule set and a 500-rule set. Baseline, same run: the authoritative preview over the
// network (POST /api/rules/preview), which the in-page module replaces. Also the time to load
// the WebAssembly, and bundle sizes. Prints Markdown for BENCHMARKS.md.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { cpus } from 'node:os';
import { ROOT, launch, signIn, startServer, token } from './harness.mjs';

const TEXT = 'Checkout service is down for every customer since the deploy, urgent outage ';
const ROUNDS = 3;

function pct(xs, p) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
}

async function keystrokes(page) {
  await page.goto('/new');
  await page.getByTestId('preview-priority').waitFor();
  await page.evaluate(() => {
    window.__latencies = [];
    const preview = document.querySelector('[data-testid="preview"]');
    document.querySelector('input[name="title"]').addEventListener(
      'keydown',
      () => {
        const t0 = performance.now();
        const seen = new MutationObserver(() => {
          seen.disconnect();
          const updated = performance.now() - t0;
          requestAnimationFrame(() => window.__latencies.push({ updated, painted: performance.now() - t0 }));
        });
        seen.observe(preview, { subtree: true, childList: true, characterData: true, attributes: true });
      },
      true,
    );
  });
  for (let r = 0; r < ROUNDS; r++) {
    await page.getByLabel('Title').fill('');
    await page.getByLabel('Title').pressSequentially(TEXT, { delay: 20 });
  }
  await page.waitForTimeout(100);
  return page.evaluate(() => window.__latencies);
}

async function networkPreview(base, bearer, n) {
  const out = [];
  for (let i = 0; i < n; i++) {
    const title = TEXT.slice(0, (i % TEXT.length) + 1);
    const t0 = performance.now();
    const r = await fetch(`${base}/api/rules/preview`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${bearer}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ ticket: { title, description: '', category: 'Software' } }),
    });
    await r.json();
    out.push(performance.now() - t0);
  }
  return out;
}

function bigRuleSet(active) {
  const priorities = ['Low', 'Medium', 'High', 'Critical'];
  const extra = Array.from({ length: 500 - active.prioritization.length }, (_, i) => ({
    id: `kw-${i}`,
    keywords: [`term${i}`, `phrase ${i}`],
    priority: priorities[i % 4],
  }));
  return { ...active, version: active.version + 1, prioritization: [...active.prioritization, ...extra] };
}

function bundle() {
  const dir = join(ROOT, 'web-demo/dist/assets');
  return readdirSync(dir).map((f) => {
    const bytes = readFileSync(join(dir, f));
    return { f, size: statSync(join(dir, f)).size, gz: gzipSync(bytes, { level: 9 }).length };
  });
}

const server = await startServer();
const browser = await launch();
try {
  const manager = await token(server.base, 'maria');
  const { context, page } = await signIn(browser, server.base, 'rita');

  // WASM load: module bytes fetched and instantiated in the page, cold (no HTTP cache).
  const load = await page.evaluate(async () => {
    const sha = document.querySelector('[data-testid="active-module"]').dataset.value;
    const session = JSON.parse(sessionStorage.getItem('nixflow.session'));
    const runs = [];
    for (let i = 0; i < 5; i++) {
      const t0 = performance.now();
      const bytes = await (await fetch(`/api/rules/modules/${sha}.wasm`, { cache: 'no-store', headers: { Authorization: `Bearer ${session.token}` } })).arrayBuffer();
      const t1 = performance.now();
      await WebAssembly.instantiate(bytes, {});
      runs.push({ fetch: t1 - t0, instantiate: performance.now() - t1, bytes: bytes.byteLength });
    }
    return runs;
  });

  const small = await keystrokes(page);
  const activeRules = await (await fetch(`${server.base}/api/rules/active`, { headers: { Authorization: `Bearer ${manager}` } })).json();
  const published = await fetch(`${server.base}/api/rules`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${manager}`, 'Content-Type': 'application/json' },
    body: JSON.stringify(bigRuleSet(activeRules.rule_set)),
  });
  if (!published.ok) throw new Error(`publish: ${published.status} ${await published.text()}`);
  await page.locator('.module-badge', { hasText: `rules v${activeRules.version + 1}` }).waitFor();
  const large = await keystrokes(page);
  const network = await networkPreview(server.base, await token(server.base, 'rita'), 200);
  await context.close();

  const row = (name, xs) => `| ${name} | ${xs.length} | ${pct(xs, 50).toFixed(2)} | ${pct(xs, 95).toFixed(2)} | ${pct(xs, 99).toFixed(2)} |`;
  const FRAME = 1000 / 60;
  const late = (xs) => xs.filter((x) => x.painted > FRAME).length;
  const median = (k) => pct(load.map((r) => r[k]), 50).toFixed(2);
  console.log(`Machine: ${cpus().length} × ${cpus()[0].model}, Chromium ${browser.version()}, headless\n`);
  console.log('| ms from keydown | keystrokes | p50 | p95 | p99 |\n|---|---|---|---|---|');
  console.log(row('preview in the DOM, default rule set (3+2+3 rules)', small.map((x) => x.updated)));
  console.log(row('preview in the DOM, 500 prioritization rules', large.map((x) => x.updated)));
  console.log(row('next frame painted, default rule set', small.map((x) => x.painted)));
  console.log(row('next frame painted, 500 rules', large.map((x) => x.painted)));
  console.log(row('baseline: POST /api/rules/preview round trip alone, 500 rules', network));
  console.log(`\nKeystrokes whose preview missed the first frame (> ${FRAME.toFixed(1)} ms): default ${late(small)} of ${small.length}, 500 rules ${late(large)} of ${large.length}`);
  console.log(`Ratio p95, network round trip alone / in-page preview in the DOM (500 rules): ${(pct(network, 95) / pct(large.map((x) => x.updated), 95)).toFixed(1)}×`);
  console.log(`\nWASM load (median of 5, cold fetch): module ${load[0].bytes} bytes, fetch ${median('fetch')} ms, instantiate ${median('instantiate')} ms\n`);
  console.log('| bundle file | bytes | gzip -9 |\n|---|---|---|');
  for (const b of bundle()) console.log(`| ${b.f.replace(/-[A-Za-z0-9_]{8}\./, '.')} | ${b.size} | ${b.gz} |`);
} finally {
  await browser.close();
  await server.stop();
}
