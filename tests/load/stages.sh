#!/usr/bin/env bash
# One closed-loop create run against a server binary, then where its time went, from its own
# histograms (module call, lane wait, group-commit writer, warm or cold starts). For A/B runs:
#   tests/load/stages.sh BIN [seconds] [connections]
# Needs wrk and Redis at 127.0.0.1:6379; run from anywhere (it cds to the repo).
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=$1; SECS=${2:-10}; CONNS=${3:-32}
source tests/load/server.sh
PORT=18191
start_server "$BIN" $PORT
# The server's own CPU time around the run: CPU per create is steadier than throughput on a
# shared machine, whose other tenants take cores for seconds.
BEFORE=$(server_cpu)
RESULT=$(wrk -t2 -c"$CONNS" -d"${SECS}s" -s tests/load/create.lua "http://127.0.0.1:$PORT/api/tickets" | grep RESULT)
AFTER=$(server_cpu)
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
