#!/usr/bin/env bash
# One closed-loop create run against a server binary, then where its time went, from its own
# histograms (module call, lane wait, group-commit writer, warm or cold starts). For A/B runs:
#   tests/load/stages.sh BIN [seconds] [connections]
# Needs wrk and Redis at 127.0.0.1:6379; run from anywhere (it cds to the repo).
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=$1; SECS=${2:-10}; CONNS=${3:-32}
DIR=$(mktemp -d); PORT=18191
REDIS_URL=redis://127.0.0.1:6379 NIXFLOW_REDIS_PREFIX="ab:$$:" NIXFLOW_LOG=info \
  "$BIN" --demo --database "$DIR/db.sqlite" --listen 127.0.0.1:$PORT --rule-module build/nixflow_rules.wasm >"$DIR/log" 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null; sleep 0.3; rm -rf "$DIR"' EXIT
for _ in $(seq 100); do curl -sf localhost:$PORT/readyz >/dev/null && break; sleep 0.2; done
# Measure the server's steady state: calls run on the pre-initialized copy once it is ready.
for _ in $(seq 150); do grep -q "rule module pre-initialized" "$DIR/log" && break; sleep 0.2; done
TOKEN=$(curl -sf -XPOST localhost:$PORT/api/auth/login -H 'content-type: application/json' \
  -d '{"username":"alice","password":"nixflow-demo"}' | python3 -c 'import sys,json; print(json.load(sys.stdin)["token"])')
export TOKEN
# The server's own CPU time (user + system, in clock ticks) around the run: CPU per create is
# steadier than throughput on a shared machine, whose other tenants take cores for seconds.
cpu() { awk '{print $14 + $15}' "/proc/$PID/stat"; }
BEFORE=$(cpu)
RESULT=$(wrk -t2 -c"$CONNS" -d"${SECS}s" -s tests/load/create.lua "http://127.0.0.1:$PORT/api/tickets" | grep RESULT)
AFTER=$(cpu)
echo "$RESULT"
REQUESTS=$(echo "$RESULT" | sed -E 's/.*requests=([0-9]+).*/\1/')
echo "server CPU per create: $(( (AFTER - BEFORE) * 1000000 / $(getconf CLK_TCK) / REQUESTS )) us"
curl -s localhost:$PORT/metrics | python3 -c '
import sys,re
m={}
for l in sys.stdin:
    l=l.strip()
    if not l or l.startswith("#"): continue
    k,_,v=l.rpartition(" ")
    m[k]=float(v)
def show(name, label=""):
    s=[k for k in m if k.startswith(name+"_sum") and label in k]
    for k in s:
        c=k.replace("_sum","_count")
        print(f"{k}: n={m[c]:.0f} mean={m[k]/max(m[c],1)*1e6:.0f}us total={m[k]:.2f}s")
show("nixflow_rule_module_seconds")
show("nixflow_rule_lane_wait_seconds")
show("nixflow_group_commit_seconds")
show("nixflow_group_commit_size")
show("nixflow_rule_prepare_seconds")
for k in m:
    if k.startswith("nixflow_rule_calls_total"): print(k, m[k])
'
grep -i "pre-initialized\|cannot pre" "$DIR/log" | head -3 || true
