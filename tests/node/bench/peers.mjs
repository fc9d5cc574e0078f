// Peer benchmark: the same decisions (default keyword priorities, highest wins, whole words,
// case-insensitive; category → team role) made for the same 10,000 generated tickets by
//   - nixflow (pkg/): RuleEngine.classify, RuleEngine.evaluate (full decision + trace), call()
//   - json-rules-engine (npm), with a whole-word operator
//   - @gorules/zen-engine (npm), a JDM decision graph with two decision tables
//   - a plain hand-written JavaScript function
// Every engine's answers are checked equal to the hand-written function's before anything is
// timed. Prints µs per evaluation (median of 5 runs) and the ratio to nixflow's fastest path.
// Usage: node bench/peers.mjs [--json out.json]
import { readFileSync, writeFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import os from 'node:os';
import { Engine as JsonRulesEngine } from 'json-rules-engine';
import { ZenEngine } from '@gorules/zen-engine';
import { initSync, RuleEngine, call, defaultRuleSetJson } from '../../../pkg/nixflow_rules.js';

initSync({ module: readFileSync(new URL('../../../pkg/nixflow_rules_bg.wasm', import.meta.url)) });

const N = 10_000;
const T0 = 1735689600000;
const KEYWORDS = [['outage', 'Critical'], ['down', 'Critical'], ['urgent', 'High']];
const RANK = { Low: 0, Medium: 1, High: 2, Critical: 3 };
const ROLES = { Hardware: 'Hardware Engineer', ProductionChange: 'Engineer' };

// ---- tickets: SplitMix64, like tests/src/generate.rs, so the set is the same on every run
let state = 0x4e4958464c4f5721n;
const MASK = (1n << 64n) - 1n;
function next() {
  state = (state + 0x9e3779b97f4a7c15n) & MASK;
  let z = state;
  z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & MASK;
  z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & MASK;
  return z ^ (z >> 31n);
}
const below = (n) => Number(next() % BigInt(n));
const pick = (xs) => xs[below(xs.length)];
const WORDS = ['the', 'printer', 'is', 'not', 'working', 'download', 'countdown', 'shutdown', 'vpn', 'email',
  'server', 'since', 'noon', 'please', 'help', 'down-time', 'down_time', 'Downtime', 'café', 'réseau', 'login',
  'password', 'reset', 'screen', 'laptop', 'deploy', 'database', 'slow', 'again', 'customers', 'report', 'errors'];
const HOT = ['urgent', 'URGENT', 'Urgent!', 'outage', 'OUTAGE.', 'down', 'DOWN', '(down)', 'outage,'];
// About one word in 120 is a keyword, so roughly a third of the tickets match a rule.
const text = (n) => Array.from({ length: n }, () => (below(1000) < 8 ? pick(HOT) : pick(WORDS))).join(' ');
const CATEGORIES = ['Hardware', 'ProductionChange', 'Software', 'Access'];
const tickets = Array.from({ length: N }, () => ({
  title: text(3 + below(6)),
  description: text(10 + below(50)),
  category: pick(CATEGORIES),
  created_at: T0,
}));

// ---- the reference: a plain hand-written function
const wordRe = (k) => new RegExp(`(?<![\\p{Alphabetic}\\p{N}_])${k}(?![\\p{Alphabetic}\\p{N}_])`, 'iu');
function handWrittenFor(keywords) {
  const compiled = keywords.map(([k, p]) => [wordRe(k), p]);
  return (t) => {
    let priority = 'Medium';
    let best = -1;
    for (const [re, p] of compiled) {
      if (RANK[p] > best && (re.test(t.title) || re.test(t.description))) {
        best = RANK[p];
        priority = p;
      }
    }
    return { priority, role: ROLES[t.category] ?? null };
  };
}
const handWritten = handWrittenFor(KEYWORDS);

// ---- nixflow
const ruleSetJson = defaultRuleSetJson();
const engine = new RuleEngine(JSON.parse(ruleSetJson));
function nixflowClassify(t) {
  const c = engine.classify(t.title, t.description, t.category, '');
  return { priority: c.priority, role: c.role ?? null };
}
function nixflowEvaluate(t) {
  const e = engine.evaluate({ ticket: t, now: T0 });
  return { priority: e.prioritization.priority, role: e.assignment.role ?? null };
}
const prefix = `{"op":"evaluate","rule_set":${ruleSetJson},"now":${T0},"ticket":`;
function nixflowCall(t) {
  const a = JSON.parse(call(prefix + JSON.stringify(t) + '}'));
  return { priority: a.answer.prioritization.priority, role: a.answer.assignment.role ?? null };
}

// ---- json-rules-engine
const jre = new JsonRulesEngine([], { allowUndefinedFacts: true });
const jreRegex = new Map(KEYWORDS.map(([k]) => [k, wordRe(k)]));
jre.addOperator('containsWord', (fact, keyword) => jreRegex.get(keyword).test(fact));
for (const [k, p] of KEYWORDS) {
  jre.addRule({
    conditions: { any: [{ fact: 'title', operator: 'containsWord', value: k }, { fact: 'description', operator: 'containsWord', value: k }] },
    event: { type: 'priority', params: { priority: p } },
  });
}
for (const [category, role] of Object.entries(ROLES)) {
  jre.addRule({ conditions: { all: [{ fact: 'category', operator: 'equal', value: category }] }, event: { type: 'role', params: { role } } });
}
async function jsonRulesEngine(t) {
  const { events } = await jre.run({ title: t.title, description: t.description, category: t.category });
  let priority = 'Medium';
  let role = null;
  for (const e of events) {
    if (e.type === 'role') role = e.params.role;
    else if (RANK[e.params.priority] > RANK[priority]) priority = e.params.priority;
  }
  return { priority, role };
}

// ---- zen-engine: input → priority table (hit policy first, most urgent rows first) and
// role table → output
const zenWord = (k) => `matches($, "(?i)(^|[^\\\\p{Alphabetic}\\\\p{N}_])${k}([^\\\\p{Alphabetic}\\\\p{N}_]|$)")`;
const sorted = [...KEYWORDS].sort((a, b) => RANK[b[1]] - RANK[a[1]]);
const jdm = {
  nodes: [
    { id: 'in', type: 'inputNode', name: 'Request', position: { x: 0, y: 0 } },
    { id: 'out', type: 'outputNode', name: 'Response', position: { x: 0, y: 0 } },
    {
      id: 'prio', type: 'decisionTableNode', name: 'Priority', position: { x: 0, y: 0 },
      content: {
        hitPolicy: 'first',
        inputs: [{ id: 'text', name: 'Text', type: 'expression', field: 'title + " " + description' }],
        outputs: [{ id: 'p', name: 'Priority', type: 'expression', field: 'priority' }],
        rules: [
          ...sorted.map(([k, p], i) => ({ _id: `r${i}`, text: zenWord(k), p: `"${p}"` })),
          { _id: 'default', text: '', p: '"Medium"' },
        ],
      },
    },
    {
      id: 'role', type: 'decisionTableNode', name: 'Role', position: { x: 0, y: 0 },
      content: {
        hitPolicy: 'first',
        inputs: [{ id: 'cat', name: 'Category', type: 'expression', field: 'category' }],
        outputs: [{ id: 'r', name: 'Role', type: 'expression', field: 'role' }],
        rules: [
          ...Object.entries(ROLES).map(([c, r], i) => ({ _id: `c${i}`, cat: `"${c}"`, r: `"${r}"` })),
          { _id: 'none', cat: '', r: 'null' },
        ],
      },
    },
  ],
  edges: [
    { id: 'e1', sourceId: 'in', targetId: 'prio', type: 'edge' },
    { id: 'e2', sourceId: 'prio', targetId: 'out', type: 'edge' },
    { id: 'e3', sourceId: 'in', targetId: 'role', type: 'edge' },
    { id: 'e4', sourceId: 'role', targetId: 'out', type: 'edge' },
  ],
};
const zen = new ZenEngine();
const decision = zen.createDecision(jdm);
async function zenEngine(t) {
  const { result } = await decision.evaluate({ title: t.title, description: t.description, category: t.category });
  return { priority: result.priority, role: result.role ?? null };
}

const engines = [
  ['nixflow pkg/ RuleEngine.classify', nixflowClassify, false],
  ['nixflow pkg/ RuleEngine.evaluate (full decision + trace)', nixflowEvaluate, false],
  ['nixflow pkg/ call() (JSON codec, full decision + trace)', nixflowCall, false],
  ['hand-written JavaScript', handWritten, false],
  ['json-rules-engine ' + JSON.parse(readFileSync(new URL('../node_modules/json-rules-engine/package.json', import.meta.url))).version, jsonRulesEngine, true],
  ['@gorules/zen-engine ' + JSON.parse(readFileSync(new URL('../node_modules/@gorules/zen-engine/package.json', import.meta.url))).version, zenEngine, true],
];

// ---- equal answers first
const reference = tickets.map(handWritten);
const counts = {};
for (const r of reference) counts[r.priority] = (counts[r.priority] ?? 0) + 1;
for (const [name, fn, isAsync] of engines) {
  for (let i = 0; i < N; i++) {
    const got = isAsync ? await fn(tickets[i]) : fn(tickets[i]);
    if (got.priority !== reference[i].priority || got.role !== reference[i].role) {
      console.error(`${name} disagrees on ticket ${i}:`, tickets[i], 'expected', reference[i], 'got', got);
      process.exit(1);
    }
  }
}
console.log(`all ${engines.length} engines agree on ${N} tickets (priorities: ${JSON.stringify(counts)})`);

// ---- then time: 5 runs over all tickets each, median
async function timeOnce(fn, isAsync) {
  const start = performance.now();
  if (isAsync) for (const t of tickets) await fn(t);
  else for (const t of tickets) fn(t);
  return ((performance.now() - start) * 1000) / N;
}
async function medianOf(fn, isAsync) {
  await timeOnce(fn, isAsync); // warm-up
  const runs = [];
  for (let r = 0; r < 5; r++) runs.push(await timeOnce(fn, isAsync));
  runs.sort((a, b) => a - b);
  return runs[2];
}
const results = [];
for (const [name, fn, isAsync] of engines) results.push({ engine: name, us_per_eval: await medianOf(fn, isAsync) });
const fastestOurs = results[0].us_per_eval;
console.log(`\nNode ${process.version}, ${os.cpus()[0].model}, ${os.cpus().length} cores; ${N} tickets, median of 5 runs\n`);
console.log('| engine | µs per evaluation | ratio to RuleEngine.classify |');
console.log('|---|---:|---:|');
for (const r of results) console.log(`| ${r.engine} | ${r.us_per_eval.toFixed(2)} | ${(r.us_per_eval / fastestOurs).toFixed(2)}× |`);
// ---- where an automaton pays: the same tickets against 400 extra keyword rules (each rule a
// word that never occurs, `term0` … `term399`, at rotating priorities), nixflow against the
// hand-written function extended in the obvious way (one regex per keyword).
const LARGE = 400;
const largeSpec = JSON.parse(ruleSetJson);
const extra = Array.from({ length: LARGE }, (_, i) => [`term${i}`, ['Low', 'Medium', 'High', 'Critical'][i % 4]]);
largeSpec.prioritization.push(...extra.map(([k, p], i) => ({ id: `x${i}`, keywords: [k], priority: p })));
const largeEngine = new RuleEngine(largeSpec);
const handWrittenLarge = handWrittenFor([...KEYWORDS, ...extra]);
function nixflowLarge(t) {
  const c = largeEngine.classify(t.title, t.description, t.category, '');
  return { priority: c.priority, role: c.role ?? null };
}
for (let i = 0; i < N; i++) {
  const a = handWrittenLarge(tickets[i]);
  const b = nixflowLarge(tickets[i]);
  if (a.priority !== b.priority || a.role !== b.role || a.priority !== reference[i].priority) {
    console.error('403-rule engines disagree on ticket', i, a, b);
    process.exit(1);
  }
}
const large = [];
for (const [name, fn] of [['nixflow pkg/ RuleEngine.classify', nixflowLarge], ['hand-written JavaScript', handWrittenLarge]]) {
  large.push({ engine: name, us_per_eval: await medianOf(fn, false) });
}
console.log(`\nThe same tickets with ${LARGE + 3} keyword rules (answers checked equal first):\n`);
console.log('| engine | µs per evaluation | ratio to RuleEngine.classify |');
console.log('|---|---:|---:|');
for (const r of large) console.log(`| ${r.engine} | ${r.us_per_eval.toFixed(2)} | ${(r.us_per_eval / large[0].us_per_eval).toFixed(2)}× |`);

// ---- the floor under classify: the same tickets and calls with no prioritization rules at all,
// so nothing is searched. What is left is handing the texts to WebAssembly (the call, the copy
// of each text into its memory as UTF-8, the check of that copy) and the routing by category.
// When this alone takes about as long as the hand-written function's whole work, no search,
// however fast, makes classify faster than it.
const floorSpec = JSON.parse(ruleSetJson);
floorSpec.prioritization = [];
const floorEngine = new RuleEngine(floorSpec);
function nixflowFloor(t) {
  const c = floorEngine.classify(t.title, t.description, t.category, '');
  return { priority: c.priority, role: c.role ?? null };
}
for (let i = 0; i < N; i++) {
  const c = nixflowFloor(tickets[i]);
  if (c.priority !== 'Medium' || c.role !== reference[i].role) {
    console.error('the engine without keyword rules disagrees on ticket', i, c);
    process.exit(1);
  }
}
const floor = [];
for (const [name, fn] of [['nixflow pkg/ RuleEngine.classify, no keyword rules (nothing searched)', nixflowFloor], ['hand-written JavaScript, three keywords', handWritten]]) {
  floor.push({ engine: name, us_per_eval: await medianOf(fn, false) });
}
console.log(`\nThe floor under classify: the same tickets with no keyword rules, so that nothing is searched:\n`);
console.log('| engine | µs per evaluation | ratio to the hand-written function |');
console.log('|---|---:|---:|');
for (const r of floor) console.log(`| ${r.engine} | ${r.us_per_eval.toFixed(2)} | ${(r.us_per_eval / floor[1].us_per_eval).toFixed(2)}× |`);

const out = process.argv.indexOf('--json');
if (out > 0) writeFileSync(process.argv[out + 1], JSON.stringify({ default: results, large, floor }, null, 2));
