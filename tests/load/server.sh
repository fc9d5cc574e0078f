# Sourced by the load scripts: start_server BIN PORT starts host-server on a fresh SQLite file
# with Redis (round-robin INCR in Redis, its own key prefix), waits until it is ready and its
# rule module's pre-initialized copy is in use (the steady state), logs in as the demo agent and
# exports TOKEN. Sets PID and DIR; the server stops and its files go when the script exits.
start_server() {
  local bin=$1 port=$2
  DIR=$(mktemp -d)
  REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379} NIXFLOW_REDIS_PREFIX="load:$$:" NIXFLOW_LOG=${NIXFLOW_LOG:-info} \
    "$bin" --demo --database "$DIR/db.sqlite" --listen "127.0.0.1:$port" --rule-module build/nixflow_rules.wasm \
    >"$DIR/log" 2>&1 &
  PID=$!
  # KEEP_LOG=file keeps the server's log there.
  trap 'kill $PID 2>/dev/null; sleep 0.3; [ -z "${KEEP_LOG:-}" ] || cp "$DIR/log" "$KEEP_LOG"; rm -rf "$DIR"' EXIT
  for _ in $(seq 100); do curl -sf "localhost:$port/readyz" >/dev/null && break; sleep 0.2; done
  for _ in $(seq 150); do grep -q "rule module pre-initialized" "$DIR/log" && break; sleep 0.2; done
  TOKEN=$(curl -sf -XPOST "localhost:$port/api/auth/login" -H 'content-type: application/json' \
    -d '{"username":"alice","password":"nixflow-demo"}' | python3 -c 'import sys,json; print(json.load(sys.stdin)["token"])')
  export TOKEN
}

# The server's CPU time so far (user + system), in clock ticks.
server_cpu() { awk '{print $14 + $15}' "/proc/$PID/stat"; }
