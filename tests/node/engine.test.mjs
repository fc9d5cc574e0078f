// The typed RuleEngine of pkg/ decides exactly what the JSON codec decides, and refuses bad
// rule sets and tickets with the codec's messages.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { initSync, call, RuleEngine, defaultRuleSetJson, moduleInfo } from '../../pkg/nixflow_rules.js';

initSync({ module: readFileSync(new URL('../../pkg/nixflow_rules_bg.wasm', import.meta.url)) });

const T0 = 1735689600000;
const ruleSet = JSON.parse(defaultRuleSetJson());
const users = [{ id: 'u-eng-2', roles: ['Engineer'] }, { id: 'u-eng-1', roles: ['Engineer'] }];
const ticket = { title: 'Deploy is DOWN', description: 'urgent', category: 'ProductionChange', created_at: T0 };

test('RuleEngine.evaluate equals the codec answer', () => {
  const engine = new RuleEngine(ruleSet);
  assert.equal(engine.version, 1);
  const typed = engine.evaluate({ ticket, now: T0, users, counters: { Engineer: 2 } });
  const codec = JSON.parse(call(JSON.stringify({ op: 'evaluate', rule_set: ruleSet, ticket, now: T0, users, counters: { Engineer: 2 } })));
  assert.equal(codec.type, 'success');
  assert.equal(typed.prioritization.priority, 'Critical');
  assert.equal(typed.assignment.assignee, 'u-eng-2');
  // The same object, `null` for `None` included: the typed API goes through the codec's JSON.
  assert.deepEqual(typed, codec.answer);
  assert.equal(typed.prioritization.previous, null, 'the ticket had no priority');
});

test('RuleEngine.classify equals the priority and role of evaluate', () => {
  const engine = new RuleEngine(ruleSet);
  for (const [title, description, category] of [
    ['Deploy is DOWN', 'urgent', 'ProductionChange'],
    ['download stuck', 'countdown', 'Hardware'],
    ['urgent: printer', '', 'Software'],
  ]) {
    const t = { title, description, category, created_at: T0 };
    const full = engine.evaluate({ ticket: t, now: T0 });
    const lean = engine.classify(title, description, category, '');
    assert.equal(lean.priority, full.prioritization.priority);
    assert.equal(lean.rule ?? null, full.prioritization.rule ?? null);
    assert.equal(lean.role ?? null, full.assignment.role ?? null);
  }
});

test('RuleEngine.classify reads any text as evaluate does: non-ASCII, lone surrogates, long, growing', () => {
  // classify writes the texts into the module's memory itself (encodeInto, or a loop for short
  // ASCII); evaluate takes them through JSON. Both must see the same characters.
  const withRoles = structuredClone(ruleSet);
  withRoles.prioritization.push(
    { id: 'café', priority: 'Low', keywords: ['café'] },
    { id: 'emoji', priority: 'Low', keywords: ['🔥fire'], match_mode: 'substring' },
    { id: 'requester', priority: 'High', keywords: ['printer'], requesters: ['émile@example.com'] },
  );
  const engine = new RuleEngine(withRoles);
  const cases = [
    ['', '', '', ''],
    ['short café', '', 'Hardware', ''],
    ['Café', 'x', 'Hardware', ''],
    ['🔥fire', 'the 🔥fire is down', 'Software', ''],
    ['lone \ud800 surrogate down', 'and \udfff here', 'Hardware', ''],
    ['printer', '', 'Hardware', 'émile@example.com'],
    ['printer', '', 'Hardware', 'emile@example.com'],
    ['x'.repeat(31) + 'é', 'urgent', 'ProductionChange', ''],
    ['no keyword at all', 'ü'.repeat(40), 'Access', ''],
    ['x', 'é '.repeat(20_000) + 'outage', 'Hardware', ''],
  ];
  const check = ([title, description, category, requester]) => {
    // A lone surrogate reaches classify as U+FFFD (encodeInto's replacement, as for every
    // wasm-bindgen string); the codec's JSON refuses it, so evaluate gets it replaced.
    const t = { title: title.toWellFormed(), description: description.toWellFormed(), category, created_at: T0, requester };
    const full = engine.evaluate({ ticket: t, now: T0 });
    const lean = engine.classify(title, description, category, requester);
    const label = `${title.slice(0, 40)} / ${description.slice(0, 40)}`;
    assert.equal(lean.priority, full.prioritization.priority, label);
    assert.equal(lean.rule ?? null, full.prioritization.rule ?? null, label);
    assert.equal(lean.role ?? null, full.assignment.role ?? null, label);
  };
  cases.forEach(check);
  assert.equal(engine.classify('Café', '', '', '').rule, 'café');
  assert.equal(engine.classify('🔥fire', '', '', '').rule, 'emoji');
  // Beyond the codec's 64 KiB per text (classify has no limit), twice larger each time: the
  // module's memory grows under classify's views of it, which must follow.
  assert.equal(engine.classify('x', 'é '.repeat(300_000) + 'outage', '', '').rule, 'outage');
  assert.equal(engine.classify('x', 'a '.repeat(2_000_000) + 'urgent', '', '').rule, 'urgent');
  assert.equal(engine.classify('x', 'a '.repeat(2_000_000) + 'urgently', '', '').rule, null);
  cases.forEach(check);
  assert.equal(engine.classify('down\ud800', '', '', '').rule, 'down', 'U+FFFD is no word character');
});

test('RuleEngine.classify hands out one frozen object per decision', () => {
  const engine = new RuleEngine(ruleSet);
  const first = engine.classify('Deploy is DOWN', '', 'ProductionChange', '');
  const again = engine.classify('the server is down', 'since noon', 'ProductionChange', '');
  const other = engine.classify('the server is down', 'since noon', 'Hardware', '');
  assert.equal(again, first, 'the same rules decided: the same object');
  assert.notEqual(other, first);
  assert.deepEqual({ ...other }, { priority: 'Critical', rule: 'down', role: 'Hardware Engineer' });
  assert.ok(Object.isFrozen(first));
  assert.throws(() => { first.priority = 'Low'; }, TypeError); // modules are strict
  assert.equal(engine.classify('Deploy is DOWN', '', 'ProductionChange', '').priority, 'Critical');
  // Another engine keeps its own answers.
  assert.notEqual(new RuleEngine(ruleSet).classify('Deploy is DOWN', '', 'ProductionChange', ''), first);
});

test('RuleEngine refuses an invalid rule set with the rule and field named', () => {
  const bad = structuredClone(ruleSet);
  bad.prioritization[1].priority = 'P9';
  assert.throws(() => new RuleEngine(bad), /unknown priority `P9` in rule `outage`/);
});

test('RuleEngine refuses an inconsistent ticket', () => {
  const engine = new RuleEngine(ruleSet);
  assert.throws(() => engine.evaluate({ ticket: { ...ticket, created_at: T0 + 5 }, now: T0 }), /is after now/);
});

test('moduleInfo reports the ABI and schema versions', () => {
  const info = moduleInfo();
  assert.equal(info.abi_version, 1);
  assert.equal(info.schema_version, 1);
  assert.deepEqual(info.rule_kinds, ['prioritization', 'assignment', 'escalation', 'sla']);
});

test('RuleEngine.checkEscalations and slaStatus equal the codec answers', () => {
  const engine = new RuleEngine(ruleSet);
  const managers = [...users, { id: 'u-mgr-1', roles: ['Manager'] }];
  const approved = {
    ...ticket,
    priority: 'Critical',
    status: 'Approved',
    history: [{ status: 'InApproval', at: T0 }, { status: 'Approved', at: T0 + 60_000 }],
  };
  const now = T0 + 3 * 3600_000;
  const ask = (op) => JSON.parse(call(JSON.stringify({ op, rule_set: ruleSet, ticket: approved, now, users: managers })));
  const typed = engine.checkEscalations({ ticket: approved, now, users: managers });
  const codec = ask('check_escalations');
  assert.equal(codec.type, 'success');
  assert.deepEqual(typed, codec.answer);
  assert.equal(typed.fired[0].rule, 'critical-approved-2h');
  assert.equal(typed.assignee, 'u-mgr-1');
  const sla = JSON.parse(call(JSON.stringify({ op: 'sla_status', rule_set: ruleSet, ticket: approved, now })));
  assert.deepEqual(engine.slaStatus({ ticket: approved, now }) ?? null, sla.answer.sla);
});
