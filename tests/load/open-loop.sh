#!/usr/bin/env bash
# Open-loop ticket creation: oha sends creations at a fixed rate whether or not earlier ones were
# answered, and with --latency-correction measures each latency from the instant it was due, so
# a queue cannot hide (closed-loop wrk slows down with the server instead):
#   tests/load/open-loop.sh BIN RATE [seconds] [connections]
# Needs oha (`cargo install oha --locked`) and Redis at 127.0.0.1:6379. Prints one RESULT line.
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=$1; RATE=$2; SECS=${3:-10}; CONNS=${4:-64}
source tests/load/server.sh
PORT=18192
start_server "$BIN" $PORT
BEFORE=$(server_cpu)
oha -z "${SECS}s" -q "$RATE" --latency-correction -c "$CONNS" --no-tui --output-format json -m POST \
  -H "Authorization: Bearer $TOKEN" -T application/json \
  -d '{"title":"urgent: printer is down","description":"third floor, since this morning","category":"Hardware"}' \
  "http://127.0.0.1:$PORT/api/tickets" >"$DIR/oha.json"
AFTER=$(server_cpu)
python3 - "$DIR/oha.json" "$RATE" "$(( (AFTER - BEFORE) * 1000000 / $(getconf CLK_TCK) ))" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
codes = r.get("statusCodeDistribution", {})
ok = codes.get("201", 0)
# Requests still in flight when the run ends are cut off by oha, not refused by the server.
failures = {e: n for e, n in r.get("errorDistribution", {}).items() if e != "aborted due to deadline"}
cut_off = r.get("errorDistribution", {}).get("aborted due to deadline", 0)
errors = sum(n for c, n in codes.items() if c != "201") + sum(failures.values())
p = r["latencyPercentiles"]
cpu_us = int(sys.argv[3])
if errors:
    print("errors:", codes, failures, file=sys.stderr)
print(f"RESULT target={sys.argv[2]}/s created={ok} errors={errors} cut_off_at_end={cut_off} rps={r['summary']['requestsPerSec']:.0f} "
      f"p50_ms={p['p50']*1000:.2f} p95_ms={p['p95']*1000:.2f} p99_ms={p['p99']*1000:.2f} "
      f"server_cpu_per_create_us={cpu_us // max(ok, 1)}")
PY
