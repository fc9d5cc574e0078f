// The web app end to end: the real server, real Chromium, real rule modules. Every page is
// kept as a screenshot in web-demo/artifacts/.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, launch, shot, signIn, startServer, token } from './harness.mjs';

let server;
let browser;

before(async () => {
  server = await startServer();
  browser = await launch();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

const priority = (page) => page.getByTestId('preview-priority').getAttribute('data-value');

async function typeTitle(page, text) {
  const title = page.getByLabel('Title');
  await title.fill('');
  await title.pressSequentially(text);
}

describe('web app', () => {
  test('the login page refuses bad credentials with the server message', async () => {
    const context = await browser.newContext({ baseURL: server.base });
    const page = await context.newPage();
    await page.goto('/');
    await page.waitForURL('**/login');
    await shot(page, '01-login');
    await page.getByLabel('Username').fill('rita');
    await page.getByLabel('Password').fill('wrong');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('alert').waitFor();
    assert.match(await page.getByRole('alert').textContent(), /wrong username or password/);
    await context.close();
  });

  test('typing updates the preview in the page, with no network call', async () => {
    const { context, page } = await signIn(browser, server.base, 'rita');
    await page.getByRole('link', { name: 'New ticket' }).first().click();
    await page.getByTestId('preview-priority').waitFor();
    const calls = [];
    page.on('request', (r) => {
      if (!r.url().includes('/api/events/stream')) calls.push(r.url());
    });
    await typeTitle(page, 'Checkout is slow');
    assert.equal(await priority(page), 'Medium');
    await page.getByLabel('Title').pressSequentially(' and now down');
    assert.equal(await priority(page), 'Critical');
    // Whole words: "download" is not "down".
    await page.getByLabel('Description').pressSequentially('the download page works');
    const marks = await page.getByTestId('highlight-title').locator('mark').allTextContents();
    assert.deepEqual(marks, ['down']);
    assert.equal(await page.getByTestId('highlight-description').locator('mark').count(), 0);
    // A ProductionChange goes to the Engineer rotation, projected from the counter.
    await page.getByLabel('Category').selectOption('ProductionChange');
    assert.match(await page.getByTestId('preview-assignee').textContent(), /Engineer → .*projected next in rotation/);
    assert.match(await page.getByTestId('preview-sla').textContent(), /first response by .* \(1h\)/);
    assert.match(await page.getByTestId('preview-escalations').textContent(), /once Approved, after 2h → Manager/);
    assert.deepEqual(calls, [], 'previews must not touch the network');
    // The page computed it with the server's active module.
    const active = await page.getByTestId('active-module').getAttribute('data-value');
    const served = await (await fetch(`${server.base}/api/rules/active`, { headers: { Authorization: `Bearer ${await token(server.base, 'rita')}` } })).json();
    assert.equal(active, served.module_sha256);
    await shot(page, '03-new-ticket-preview');
    await context.close();
  });

  test('a submitted ticket agrees with its preview and appears live in another browser', async () => {
    const agent = await signIn(browser, server.base, 'alice');
    await agent.page.getByTestId('board').waitFor();
    const requester = await signIn(browser, server.base, 'rita');
    const page = requester.page;
    await page.goto('/new');
    await page.getByTestId('preview-priority').waitFor();
    await typeTitle(page, 'Payment outage in production');
    await page.getByLabel('Category').selectOption('ProductionChange');
    const projected = await page.getByTestId('preview-assignee').getAttribute('data-value');
    await page.getByRole('button', { name: 'Submit ticket' }).click();
    const comparison = page.getByTestId('comparison');
    await comparison.waitFor();
    assert.equal(await comparison.getAttribute('data-mismatch'), 'false', await comparison.textContent());
    assert.equal(await page.getByTestId('server-priority').getAttribute('data-value'), 'Critical');
    assert.match(await page.getByTestId('server-assignee').textContent(), projected === 'u-alice' ? /Alice/ : /Bob/);
    await shot(page, '04-submitted-comparison');

    // The agent's board shows it without a reload (SSE).
    const row = agent.page.locator('[data-testid="board"] tr', { hasText: 'Payment outage in production' });
    await row.waitFor({ timeout: 10_000 });
    assert.match(await row.textContent(), /Critical/);
    await shot(agent.page, '02-board');

    // The ticket page: the timeline with automation provenance and causation links.
    await row.getByRole('link').click();
    const timeline = agent.page.getByTestId('timeline');
    await timeline.locator('li.automation-rule_evaluated').waitFor();
    const evaluated = timeline.locator('li.automation-rule_evaluated');
    assert.match(await evaluated.locator('.provenance').textContent(), /module .* rule set v1/);
    assert.match(await evaluated.locator('a.cause').textContent(), /caused by ticket.created/);
    await evaluated.locator('.trace summary').click();
    const outage = evaluated.locator('.trace li.matched', { hasText: 'outage' });
    await outage.waitFor();
    assert.match(await outage.textContent(), /keywords: wants .*outage.*saw/);
    assert.ok((await evaluated.locator('.trace li.unmatched').count()) > 0, 'rules that did not match are explained too');
    await shot(agent.page, '05-ticket-page');
    await requester.context.close();
    await agent.context.close();
  });

  test('a dropped live connection resumes without missing events', async () => {
    const { context, page } = await signIn(browser, server.base, 'alice');
    await page.getByTestId('board').waitFor();
    // The server goes away (a deploy): the page's stream drops and keeps retrying.
    await server.stop();
    await page.locator('[data-testid="live-state"]', { hasText: 'reconnecting' }).waitFor({ timeout: 10_000 });
    // Meanwhile another instance on the same log takes three tickets.
    const other = await startServer({ dir: server.dir });
    const rita = await token(other.base, 'rita');
    const titles = ['Filed during the deploy one', 'Filed during the deploy two', 'Filed during the deploy three'];
    for (const title of titles) {
      const r = await fetch(`${other.base}/api/tickets`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${rita}`, 'Content-Type': 'application/json' },
        body: JSON.stringify({ title, description: '', category: 'Software' }),
      });
      assert.equal(r.status, 201);
    }
    await other.stop();
    // The server is back on its address: the stream resumes from its Last-Event-ID and the board
    // gets all three without a reload (the board never re-lists on reconnect: only the stream
    // can bring them).
    server = await startServer({ dir: server.dir, port: server.port });
    for (const title of titles) {
      await page.locator('[data-testid="board"] tr', { hasText: title }).waitFor({ timeout: 15_000 });
    }
    assert.equal(await page.locator('[data-testid="board"] tr', { hasText: 'Filed during the deploy' }).count(), 3);
    await page.locator('[data-testid="live-state"]', { hasText: 'live' }).waitFor();
    await context.close();
  });

  test('a manager approves a ticket from its page and the timeline records it', async () => {
    const { context, page } = await signIn(browser, server.base, 'maria');
    await page.locator('[data-testid="board"] tr', { hasText: 'Payment outage in production' }).getByRole('link').click();
    await page.getByRole('button', { name: 'Approve' }).click();
    await page.locator('[data-testid="ticket-status"]', { hasText: 'Approved' }).waitFor();
    await page.getByTestId('timeline').locator('li.ticket-approved').waitFor();
    await page.getByLabel('comment').fill('Approved: the payment team is on it');
    await page.getByRole('button', { name: 'Comment' }).click();
    await page.locator('.comments', { hasText: 'the payment team is on it' }).waitFor();
    // An illegal move is refused by the server with its message (the buttons offer only legal ones).
    assert.equal(await page.getByRole('button', { name: 'Approve' }).count(), 0);
    assert.equal(await page.getByRole('button', { name: 'Start work' }).count(), 1);
    await context.close();
  });

  test('a manager publishes a rule change and an open preview follows it', async () => {
    const requester = await signIn(browser, server.base, 'rita');
    await requester.page.goto('/new');
    await requester.page.getByTestId('preview-priority').waitFor();
    await typeTitle(requester.page, 'printer jammed again');
    assert.equal(await priority(requester.page), 'Medium');

    const manager = await signIn(browser, server.base, 'maria');
    const page = manager.page;
    await page.getByRole('link', { name: 'Rules' }).click();
    await page.getByRole('button', { name: 'Add prioritization rule' }).click();
    const id = page.getByLabel('id of prioritization rule 4');
    await id.fill('printers');
    await page.getByLabel('keywords of printers').fill('printer');
    // Validation as you type, pinned to the field.
    await page.getByLabel('priority of printers').selectOption('Critical');
    assert.equal(await page.getByTestId('validation-state').textContent(), 'valid');
    await page.getByLabel('threshold of critical-approved-2h').fill('2 hours');
    await page.locator('.field-error', { hasText: 'invalid duration `2 hours`' }).waitFor();
    assert.equal(await page.getByTestId('publish').isDisabled(), true);
    await shot(page, '06-rules-form-invalid');
    await page.getByLabel('threshold of critical-approved-2h').fill('PT2H');
    assert.equal(await page.getByTestId('validation-state').textContent(), 'valid');
    // What-if: a real ticket that the draft would decide differently.
    const filed = await fetch(`${server.base}/api/tickets`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${await token(server.base, 'rita')}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ title: 'office printer broken', description: '', category: 'Software' }),
    });
    assert.equal(filed.status, 201);
    await page.getByRole('tab', { name: 'What-if' }).click();
    const whatif = page.getByTestId('whatif');
    const changed = whatif.locator('tr', { hasText: 'office printer broken' });
    await changed.waitFor();
    assert.match(await changed.textContent(), /priority Medium → Critical/);
    // Tickets the draft leaves alone are not listed.
    assert.equal(await whatif.locator('tr', { hasText: 'Payment outage in production' }).count(), 0);
    await shot(page, '07-rules-whatif');
    await page.getByRole('tab', { name: 'Raw JSON' }).click();
    assert.match(await page.getByLabel('rule set JSON').inputValue(), /"printers"/);
    await shot(page, '08-rules-json');
    await page.getByTestId('publish').click();
    await page.getByRole('status').waitFor();

    // The requester's open preview follows without a reload.
    await requester.page.locator('[data-testid="preview-priority"][data-value="Critical"]').waitFor({ timeout: 10_000 });
    assert.match(await requester.page.locator('.module-badge').textContent(), /rules v2/);
    await requester.context.close();
    await manager.context.close();
  });

  test('a requester cannot open the rules page', async () => {
    const { context, page } = await signIn(browser, server.base, 'rita');
    assert.equal(await page.getByRole('link', { name: 'Rules' }).count(), 0);
    await page.goto('/rules');
    await page.getByTestId('forbidden').waitFor();
    await shot(page, '09-requester-rules-forbidden');
    await context.close();
  });

  test('a revoked session returns the page to sign-in', async () => {
    const { context, page } = await signIn(browser, server.base, 'rita');
    const session = await page.evaluate(() => JSON.parse(sessionStorage.getItem('nixflow.session')));
    const out = await fetch(`${server.base}/api/auth/logout`, { method: 'POST', headers: { Authorization: `Bearer ${session.token}` } });
    assert.equal(out.status, 204);
    // The next request the page makes (a background one may come first) meets a 401.
    await page.goto('/');
    await page.waitForURL('**/login');
    await page.getByRole('button', { name: 'Sign in' }).waitFor();
    await context.close();
  });

  test('the app shows the active module and switches when another is activated', async () => {
    // The second module (substring matching: "download" counts as "down"), by its hash.
    const { createHash } = await import('node:crypto');
    const legacy = join(ROOT, 'build/nixflow_rules_legacy.wasm');
    const sha256 = createHash('sha256').update(readFileSync(legacy)).digest('hex');

    const requester = await signIn(browser, server.base, 'rita');
    await requester.page.goto('/new');
    await typeTitle(requester.page, 'download stuck');
    assert.equal(await priority(requester.page), 'Medium');
    const before = await requester.page.getByTestId('active-module').getAttribute('data-value');
    assert.notEqual(before, sha256);

    const { context, page } = await signIn(browser, server.base, 'ada');
    await page.goto('/rules');
    await page.getByRole('tab', { name: 'Modules' }).click();
    // A file that is not a module is refused with the check that failed.
    await page.getByLabel('upload a rule module').setInputFiles({ name: 'notes.wasm', mimeType: 'application/wasm', buffer: Buffer.from('not wasm') });
    assert.match(await page.getByRole('alert').textContent(), /\(format\)/);
    // The real one uploads (validation and conformance), then activates.
    await page.getByLabel('upload a rule module').setInputFiles(legacy);
    await page.getByRole('status').filter({ hasText: 'conformance cases' }).waitFor();
    await page.getByTestId(`activate-${sha256.slice(0, 12)}`).click();
    await page.locator('[data-testid="modules"] tr.active', { hasText: sha256.slice(0, 12) }).waitFor();
    await page.locator(`[data-testid="active-module"][data-value="${sha256}"]`).waitFor();
    await shot(page, '10-rules-modules');

    await requester.page.locator(`[data-testid="active-module"][data-value="${sha256}"]`).waitFor({ timeout: 10_000 });
    await requester.page.locator('[data-testid="preview-priority"][data-value="Critical"]').waitFor({ timeout: 10_000 });
    await shot(requester.page, '11-preview-after-swap');

    // Roll back: the default module returns everywhere.
    await page.getByRole('button', { name: 'Roll back' }).click();
    await requester.page.locator(`[data-testid="active-module"][data-value="${before}"]`).waitFor({ timeout: 10_000 });
    assert.equal(await priority(requester.page), 'Medium');
    await requester.context.close();
    await context.close();
  });

  test('the SLA dashboard shows compliance per priority and a breach live, which a manager acknowledges', async () => {
    // Seconds-long targets for Medium tickets, so a breach happens during the test.
    const manager = await token(server.base, 'maria');
    const headers = { Authorization: `Bearer ${manager}`, 'Content-Type': 'application/json' };
    const active = await (await fetch(`${server.base}/api/rules/active`, { headers })).json();
    const rules = structuredClone(active.rule_set);
    rules.version = active.version + 1;
    rules.sla.targets = rules.sla.targets.map((t) => (t.priority === 'Medium' ? { ...t, first_response: 'PT2S', resolution: 'PT4S' } : t));
    assert.equal((await fetch(`${server.base}/api/rules`, { method: 'POST', headers, body: JSON.stringify(rules) })).status, 201);

    const { context, page } = await signIn(browser, server.base, 'maria');
    await page.getByRole('link', { name: 'SLA' }).click();
    await page.getByTestId('compliance').waitFor();
    const rows = await page.getByTestId('compliance').locator('tbody tr').allTextContents();
    assert.deepEqual(rows.map((r) => r.match(/^(Critical|High|Medium|Low)/)?.[1]), ['Critical', 'High', 'Medium', 'Low']);

    const filed = await fetch(`${server.base}/api/tickets`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${await token(server.base, 'rita')}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ title: 'Label maker question', description: '', category: 'Software' }),
    });
    assert.equal(filed.status, 201);
    // Arrives live, at warning first or straight at breach, and ends at breach.
    const row = page.getByTestId('at-risk').locator('tr', { hasText: 'Label maker question' });
    await row.waitFor({ timeout: 15_000 });
    await row.locator('.badge-breached').first().waitFor({ timeout: 20_000 });
    await shot(page, '12-sla-dashboard');

    // The ticket page offers the acknowledgement once the server has recorded the breach.
    await row.getByRole('link').click();
    const timeline = page.getByTestId('timeline');
    await timeline.locator('li.sla-breach').first().waitFor({ timeout: 20_000 });
    await page.getByRole('button', { name: 'Acknowledge breach' }).click();
    await timeline.locator('li.sla-breach_acknowledged').waitFor();
    await shot(page, '13-ticket-breach-acknowledged');
    await context.close();
  });
});
