#!/usr/bin/env bash
# HTTP load run against a release build on loopback (BENCHMARKS.md records the output):
#   tests/load/bench.sh [seconds] [connections]
# Starts host-server (tests/load/server.sh), runs wrk on ticket creation and on /healthz (the
# ceiling), then stops the server.
set -euo pipefail
cd "$(dirname "$0")/../.."
SECS=${1:-20}
CONNS=${2:-32}
BIN=${NIXFLOW_SERVER_BIN:-${CARGO_TARGET_DIR:-target}/release/host-server}
source tests/load/server.sh
PORT=18181
start_server "$BIN" $PORT
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
echo "== ceiling: GET /healthz, $CONNS connections, ${SECS}s"
wrk -t2 -c"$CONNS" -d"${SECS}s" -s tests/load/get.lua "http://127.0.0.1:$PORT/healthz" | grep RESULT
echo "== POST /api/tickets (automation + Redis INCR + durable commit), $CONNS connections, ${SECS}s"
wrk -t2 -c"$CONNS" -d"${SECS}s" -s tests/load/create.lua "http://127.0.0.1:$PORT/api/tickets" | grep RESULT
echo "== POST /api/tickets, 4 connections (light load), ${SECS}s"
wrk -t2 -c4 -d"${SECS}s" -s tests/load/create.lua "http://127.0.0.1:$PORT/api/tickets" | grep RESULT
