#!/usr/bin/env bash
# HTTP load run against a release build on loopback (BENCHMARKS.md records the output):
#   tests/load/bench.sh [seconds] [connections]
# Starts host-server on a fresh SQLite file with REDIS_URL (round-robin INCR in Redis), logs in,
# runs wrk on ticket creation and on /healthz (the ceiling), then stops the server.
set -euo pipefail
cd "$(dirname "$0")/../.."
SECS=${1:-20}
CONNS=${2:-32}
BIN=${NIXFLOW_SERVER_BIN:-${CARGO_TARGET_DIR:-target}/release/host-server}
DIR=$(mktemp -d)
PORT=18181
REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379} NIXFLOW_REDIS_PREFIX="nixflow-bench:$$:" NIXFLOW_LOG=warn \
  "$BIN" --demo --database "$DIR/db.sqlite" --listen 127.0.0.1:$PORT --rule-module build/nixflow_rules.wasm >"$DIR/log" 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null; rm -rf "$DIR"' EXIT
for _ in $(seq 100); do curl -sf localhost:$PORT/readyz >/dev/null && break; sleep 0.2; done
TOKEN=$(curl -sf -XPOST localhost:$PORT/api/auth/login -H 'content-type: application/json' \
  -d '{"username":"alice","password":"nixflow-demo"}' | python3 -c 'import sys,json; print(json.load(sys.stdin)["token"])')
export TOKEN
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
echo "== ceiling: GET /healthz, $CONNS connections, ${SECS}s"
wrk -t2 -c"$CONNS" -d"${SECS}s" -s tests/load/get.lua "http://127.0.0.1:$PORT/healthz" | grep RESULT
echo "== POST /api/tickets (automation + Redis INCR + durable commit), $CONNS connections, ${SECS}s"
wrk -t2 -c"$CONNS" -d"${SECS}s" -s tests/load/create.lua "http://127.0.0.1:$PORT/api/tickets" | grep RESULT
echo "== POST /api/tickets, 4 connections (light load), ${SECS}s"
wrk -t2 -c4 -d"${SECS}s" -s tests/load/create.lua "http://127.0.0.1:$PORT/api/tickets" | grep RESULT
