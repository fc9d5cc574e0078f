// End-to-end harness: the real host-server (embedded SQLite, the built rule module, the web
// app's production build) on a free port, and Debian's Chromium driven by playwright-core.
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { chromium } from 'playwright-core';

export const ROOT = resolve(new URL('../..', import.meta.url).pathname);
export const ARTIFACTS = resolve(ROOT, 'web-demo/artifacts');
export const PASSWORD = 'nixflow-demo';

function freePort() {
  return new Promise((ok, fail) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => ok(port));
    });
    s.on('error', fail);
  });
}

/** The environment minus anything that would point the server away from its embedded default. */
function embeddedEnv() {
  const env = { ...process.env, RUST_LOG: 'warn' };
  for (const k of Object.keys(env)) if (k === 'REDIS_URL' || k.startsWith('NIXFLOW_')) delete env[k];
  return env;
}

/**
 * Starts host-server with demo users; resolves once it is ready. A fresh database and port
 * unless given: `{ dir, port }` of an earlier server restarts it on the same log.
 */
export async function startServer({ dir = mkdtempSync(join(tmpdir(), 'nixflow-e2e-')), port } = {}) {
  const target = process.env.CARGO_TARGET_DIR ?? resolve(ROOT, 'target');
  const bin = process.env.NIXFLOW_SERVER_BIN ?? join(target, 'ci', 'host-server');
  port ??= await freePort();
  const child = spawn(
    bin,
    [
      '--listen', `127.0.0.1:${port}`,
      '--database', join(dir, 'db.sqlite'),
      '--rule-module', resolve(ROOT, 'build/nixflow_rules.wasm'),
      '--web-dir', resolve(ROOT, 'web-demo/dist'),
      '--demo',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'], env: embeddedEnv() },
  );
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const base = `http://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    if (child.exitCode !== null) throw new Error(`host-server exited: ${stderr}`);
    try {
      if ((await fetch(`${base}/readyz`)).ok) break;
    } catch {
      // not listening yet
    }
    if (i > 600) throw new Error(`host-server did not become ready: ${stderr}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  const exited = new Promise((ok) => child.once('exit', ok));
  return {
    base,
    dir,
    port,
    stop: async () => {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

export async function launch() {
  mkdirSync(ARTIFACTS, { recursive: true });
  return chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-background-networking', '--disable-component-update'],
  });
}

/** A fresh browser context signed in as `username` through the login page. */
export async function signIn(browser, base, username) {
  const context = await browser.newContext({ baseURL: base, viewport: { width: 1360, height: 900 } });
  const page = await context.newPage();
  await page.goto('/');
  await page.waitForURL('**/login');
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForSelector('[data-testid="live-state"]:has-text("live")');
  return { context, page };
}

export async function token(base, username) {
  const r = await fetch(`${base}/api/auth/login`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ username, password: PASSWORD }),
  });
  if (!r.ok) throw new Error(`login ${username}: ${r.status}`);
  return (await r.json()).token;
}

export async function shot(page, name) {
  await page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });
}
