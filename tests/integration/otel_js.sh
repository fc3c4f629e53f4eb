#!/usr/bin/env bash
# otel_js.sh SRC_DIR BUILD_DIR - a real third-party client: the OpenTelemetry
# JS SDK from npm (tests/integration/otel_js/: package.json pins exact
# versions, package-lock.json the whole tree) exports a trace of three
# services to a real `telltale server` over OTLP/HTTP, once as JSON
# (exporter-trace-otlp-http) and once as protobuf (exporter-trace-otlp-proto),
# then log records (exporter-logs-otlp-http) and metrics
# (exporter-metrics-otlp-http). emit.js writes what the SDK exported;
# check.py reads it all back through the Jaeger API, /api/tt/events and
# PromQL and compares span by span, attribute by attribute (see check.py).
# The answers must be the same after a kill -9 and restart.
#
# node_modules is installed with `npm ci` under BUILD_DIR/otel_js and reused
# while package-lock.json is unchanged. Without node and npm the test fails
# (CI installs them: scripts/install-deps.sh); outside CI it is skipped.
set -euo pipefail
src=${1:?usage: otel_js.sh SRC_DIR BUILD_DIR}
build=${2:?usage: otel_js.sh SRC_DIR BUILD_DIR}
. "$(dirname "$0")/lib/server.sh"

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    [[ -n "${CI:-}" ]] && fail "node and npm are needed (scripts/install-deps.sh installs them)"
    echo "SKIP: no node/npm (scripts/install-deps.sh installs them)"
    exit 0
fi

js=$src/tests/integration/otel_js
dir=$build/otel_js
mkdir -p "$dir"
cp "$js/package.json" "$js/package-lock.json" "$js/emit.js" "$dir/"
stamp=$(sha256sum "$js/package-lock.json" | cut -d' ' -f1)
if [[ ! -d "$dir/node_modules" || "$(cat "$dir/.installed" 2>/dev/null)" != "$stamp" ]]; then
    rm -f "$dir/.installed"
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error) >"$work/npm.out" 2>&1 ||
        fail "npm ci in $dir: $(tail -20 "$work/npm.out")"
    echo "$stamp" >"$dir/.installed"
fi

start_server
node "$dir/emit.js" "$base" "$work/sent.json" >"$work/emit.out" 2>&1 ||
    fail "emit.js: $(cat "$work/emit.out")"
cat "$work/emit.out"
python3 "$js/check.py" "$work/sent.json" "$base" || fail "read back through the Jaeger, events and PromQL APIs"
kill9_server
start_server
python3 "$js/check.py" "$work/sent.json" "$base" || fail "the same after kill -9 and restart"
grep -q 'damaged' "$work/server.err" && fail "a store reported damage"
stop_server
echo "PASS"
