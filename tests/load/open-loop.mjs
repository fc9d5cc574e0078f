// Open-loop load: ticket creations sent at a fixed rate whether or not earlier ones have been
// answered, each latency measured from the instant it was *scheduled* (so a stalled server
// cannot hide its queue: no coordinated omission, unlike closed-loop wrk).
//   node tests/load/open-loop.mjs <base-url> <token> <rate/s> <seconds>
// Prints one RESULT line: sent, answered, errors, achieved rate, p50/p95/p99 in ms.
// Node's global fetch opens as many connections per origin as requests in flight.
const [base, token, rateArg, secondsArg] = process.argv.slice(2);
const rate = Number(rateArg);
const seconds = Number(secondsArg);
if (!base || !token || !(rate > 0) || !(seconds > 0)) {
  console.error('usage: node open-loop.mjs <base-url> <token> <rate/s> <seconds>');
  process.exit(2);
}

const total = Math.round(rate * seconds);
const latencies = [];
let errors = 0;
const started = performance.now();
const inflight = [];
for (let i = 0; i < total; i++) {
  const due = started + (i * 1000) / rate;
  const wait = due - performance.now();
  if (wait > 1) await new Promise((r) => setTimeout(r, wait));
  inflight.push(
    fetch(`${base}/api/tickets`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ title: `open loop ${i} server down`, description: 'urgent', category: 'ProductionChange' }),
    })
      .then(async (r) => {
        await r.arrayBuffer();
        if (r.status !== 201) errors++;
        else latencies.push(performance.now() - due);
      })
      .catch(() => errors++),
  );
}
const sentIn = (performance.now() - started) / 1000;
await Promise.all(inflight);
latencies.sort((a, b) => a - b);
const q = (p) => (latencies.length ? latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))].toFixed(1) : 'n/a');
console.log(
  `RESULT target=${rate}/s sent=${total} in ${sentIn.toFixed(1)}s answered=${latencies.length} errors=${errors} ` +
    `p50_ms=${q(0.5)} p95_ms=${q(0.95)} p99_ms=${q(0.99)}`,
);
