#!/usr/bin/env bash
# The one automation entry point: README's commands and .ci/run call this script.
#
#   ./x.sh run     set up, build, start the server with the embedded default and demo data
#   ./x.sh test    set up, build, and run every test (Rust, Wasmtime, Node parity, types)
#   ./x.sh bench   set up, build, run the benchmarks (cargo bench + the Node peer benchmark)
#   ./x.sh build   build the two rule modules, pkg/ and the web app (web-demo/dist)
set -euo pipefail
cd "$(dirname "$0")"
ROOT=$PWD

# INVARIANT: the same version as `wasm-bindgen` in Cargo.toml (wasm-pack refuses a mismatch).
WASM_BINDGEN_VERSION=0.2.130
WASM_PACK_VERSION=0.15.1
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
export PATH=$HOME/.cargo/bin:$PATH

log() { printf '\n==> %s\n' "$*"; }

setup() {
  log "setup: toolchain, pinned wasm tools, npm packages"
  rustup target list --installed | grep -qx wasm32-unknown-unknown || rustup target add wasm32-unknown-unknown
  if [ "$(wasm-bindgen --version 2>/dev/null)" != "wasm-bindgen $WASM_BINDGEN_VERSION" ]; then
    # Not --locked: its lock file pins a webpki-roots release the registry mirror lacks.
    cargo install --force wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION"
  fi
  if [ "$(wasm-pack --version 2>/dev/null)" != "wasm-pack $WASM_PACK_VERSION" ]; then
    cargo install --force --locked wasm-pack --version "$WASM_PACK_VERSION"
  fi
  if ! [ -x /usr/bin/chromium ]; then
    # Debian's Chromium for the end-to-end tests and the Chromium parity run (playwright's own
    # browser download cannot reach its host from here).
    $(command -v sudo || true) apt-get install -y chromium || { $(command -v sudo || true) apt-get update && $(command -v sudo || true) apt-get install -y chromium; }
  fi
  if [ ! -d tests/node/node_modules ] || [ tests/node/package.json -nt tests/node/node_modules/.package-lock.json ]; then
    # `npm install`, not `npm ci`: the lock file here cannot list @gorules/zen-engine's optional
    # per-platform packages (this npm records no download addresses), so `npm ci` calls it out
    # of sync. Every dependency is pinned to an exact version in package.json.
    (cd tests/node && npm install --no-audit --no-fund)
  fi
}

wasm_opt() { # in out [level]: binaryen from npm (wasm-pack's own download cannot reach its host)
  # The features are rustc's defaults for wasm32-unknown-unknown and fixed-width SIMD (which
  # .cargo/config.toml turns on); nothing newer, so that every browser and Wasmtime accept the
  # result.
  "$ROOT/tests/node/node_modules/.bin/wasm-opt" "${3:--Oz}" --strip-debug --strip-producers \
    --enable-bulk-memory --enable-sign-ext --enable-mutable-globals --enable-nontrapping-float-to-int \
    --enable-reference-types --enable-multivalue --enable-simd "$1" -o "$2"
}

build() {
  log "build: host-abi rule modules (Wasmtime): the default, and the legacy-substring flavour to swap to"
  mkdir -p build
  cargo build -p rules-wasm --target wasm32-unknown-unknown --profile wasm-host --features host-abi,legacy-substring
  wasm_opt "$CARGO_TARGET_DIR/wasm32-unknown-unknown/wasm-host/rules_wasm.wasm" build/nixflow_rules_legacy.wasm -O3
  cargo build -p rules-wasm --target wasm32-unknown-unknown --profile wasm-host --features host-abi
  wasm_opt "$CARGO_TARGET_DIR/wasm32-unknown-unknown/wasm-host/rules_wasm.wasm" build/nixflow_rules.wasm -O3

  log "build: wasm-bindgen package (browser, Node) into pkg/"
  # --no-opt: wasm-pack would download binaryen from a host this network cannot reach.
  wasm-pack --quiet build rules-wasm --target web --out-dir ../pkg --out-name nixflow_rules --scope nixflow \
    --profile wasm --no-opt -- --features bindgen
  wasm_opt pkg/nixflow_rules_bg.wasm pkg/nixflow_rules_bg.wasm.opt
  mv pkg/nixflow_rules_bg.wasm.opt pkg/nixflow_rules_bg.wasm

  log "build: the web app (web-demo/dist), served by host-server"
  if [ ! -d web-demo/node_modules ] || [ web-demo/package.json -nt web-demo/node_modules/.package-lock.json ]; then
    # After pkg/: the app depends on it as a `file:` package.
    (cd web-demo && npm install --no-audit --no-fund)
  fi
  (cd web-demo && npm run --silent build)

  for f in build/nixflow_rules.wasm build/nixflow_rules_legacy.wasm pkg/nixflow_rules_bg.wasm; do
    printf '%-28s %8d bytes, %8d gzipped\n' "$f" "$(wc -c <"$f")" "$(gzip -9 -c "$f" | wc -c)"
  done
}

case "${1:-}" in
  run)
    setup
    build
    log "run: host-server with the embedded default (SQLite in data/, in-process counters) and demo users"
    # Flags and environment (REDIS_URL, NIXFLOW_LISTEN, ...) pass through: ./x.sh run --listen 0.0.0.0:8080
    shift
    cargo run --quiet --profile ci -p host-server -- --demo --daily-report --rule-module build/nixflow_rules.wasm \
      --web-dir web-demo/dist "$@"
    ;;
  test)
    setup
    build
    log "test: formatting and lints"
    cargo fmt --all --check
    cargo clippy --workspace --all-targets -- -D warnings
    cargo clippy -p rules-wasm --target wasm32-unknown-unknown --features host-abi -- -D warnings
    cargo clippy -p rules-wasm --target wasm32-unknown-unknown --features bindgen -- -D warnings
    log "test: pkg/ in Node: TypeScript declarations and the typed RuleEngine"
    (cd tests/node && npx tsc --noEmit -p tsconfig.json && node --test engine.test.mjs)
    log "test: the web app's unit tests (Vitest, over the real rule module)"
    (cd web-demo && npx vitest run)
    log "test: Rust (native, Wasmtime, and Node and Chromium through pkg/)"
    if command -v cargo-nextest >/dev/null; then
      # One summary line for the whole workspace, and each test in its own process.
      cargo nextest run --workspace --cargo-profile ci --no-fail-fast
    else
      cargo test --workspace --profile ci --all-targets
    fi
    log "test: the host module's allocator front, natively (its unit tests need the host-abi feature)"
    cargo clippy -p rules-wasm --features host-abi --all-targets -- -D warnings
    cargo test --quiet --profile ci -p rules-wasm --features host-abi --lib
    log "test: end to end in Chromium against the real server (screenshots in web-demo/artifacts/)"
    cargo build --quiet --profile ci -p host-server --bin host-server
    (cd web-demo && npm run --silent e2e)
    ;;
  bench)
    setup
    build
    # Native evaluation as release builds it (fat LTO), in a binary of rules-core alone, with the
    # server's allocator and with the system's; then the same request natively and in Wasmtime
    # side by side (the ci-like bench profile).
    cargo bench -p rules-core --bench native --bench native_system --profile release
    cargo bench -p nixflow-tests --bench evaluate
    (cd tests/node && node bench/peers.mjs)
    # A tick over 1,000,000 open tickets against a full scan, and deadline lag (needs Redis).
    cargo bench -p host-server --bench scheduler
    # A probe's latency while hostile rule modules burn their budgets.
    cargo bench -p host-server --bench sandbox
    # How fast an appended event reaches a live SSE subscriber.
    cargo bench -p host-server --bench sse
    # Keystroke-to-preview latency in headless Chromium, WASM load time, bundle sizes.
    cargo build --quiet --profile ci -p host-server --bin host-server
    (cd web-demo && npm run --silent bench)
    ;;
  build)
    setup
    build
    ;;
  *)
    echo "usage: ./x.sh run|test|bench|build" >&2
    exit 2
    ;;
esac
