#!/usr/bin/env bash
# run.sh - the README's build-and-run command. Installs the build dependencies
# if missing, builds Telltale (Release, into build-release/), runs the
# instrumented example examples/hello.c with a fresh spool directory and
# prints every record it wrote with `telltale spool dump`; then starts
# `telltale server` on 127.0.0.1:7070 (data in ./data-run), feeds it the real
# node_exporter recording of the shared data (or, without it, a generated
# hour of metrics), shows a few PromQL queries through the Prometheus API,
# seals the data into blocks (POST /api/tt/admin/flush) and prints what is on
# disk; then starts `telltale agent` (host metrics every second, a copy of
# hello's spool shipped, the sha256 of the telltale binary) and shows what
# arrived (/api/v1/query, /api/tt/nodes, /api/tt/digests). On a terminal the
# server and the agent then keep running for Grafana, promtool or curl until
# Ctrl-C; otherwise (CI) they are stopped.
#
# Usage: scripts/run.sh [--json]          (--json: dump records as JSON lines)
# Environment: TT_BUILD_DIR (default build-release; an already configured dir
# is only built, not reconfigured), TT_BUILD_TYPE (default Release), TT_JOBS
# (default 2), TT_KEEP_SPOOL=1 to keep the spool directory afterwards,
# TT_SKIP_DEPS=1 to skip the package check, TT_HTTP (default 127.0.0.1:7070),
# TT_SERVE=1/0 to keep the server running or not (default: on a terminal).
# TELLTALE_* variables reach hello.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
BUILD=${TT_BUILD_DIR:-build-release}
TYPE=${TT_BUILD_TYPE:-Release}
JOBS=${TT_JOBS:-2}
dump_args=()
if [[ "${1:-}" = "--json" ]]; then
    dump_args+=(--json)
elif [[ $# -gt 0 ]]; then
    echo "usage: scripts/run.sh [--json]" >&2
    exit 2
fi

if [[ "${TT_SKIP_DEPS:-0}" != 1 ]]; then
    bash scripts/install-deps.sh
fi

if [[ ! -f examples/hello.c ]]; then
    echo "run: examples/hello.c is missing from the tree" >&2
    exit 1
fi
if [[ ! -f "$BUILD/build.ninja" ]]; then
    # Release builds are made without -Werror (STYLE.md); dev and CI builds use it.
    cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE="$TYPE" -DTT_WERROR=OFF -DTT_TESTS=OFF
fi
cmake --build "$BUILD" --parallel "$JOBS" --target hello echo_rpc telltale_cli

SPOOL=$(mktemp -d "${TMPDIR:-/tmp}/telltale-spool.XXXXXX")
if [[ "${TT_KEEP_SPOOL:-0}" = 1 ]]; then
    echo "run: keeping the spool in $SPOOL"
fi
trap '[[ "${TT_KEEP_SPOOL:-0}" = 1 ]] || rm -rf "$SPOOL"' EXIT

echo
echo "\$ $BUILD/hello $SPOOL"
"$BUILD/hello" "$SPOOL"
echo
echo "\$ $BUILD/telltale spool dump $SPOOL ${dump_args[*]}"
"$BUILD/telltale" spool dump "$SPOOL" "${dump_args[@]}"

# ---- the server --------------------------------------------------------------
HTTP=${TT_HTTP:-127.0.0.1:7070}
BASE=http://$HTTP
DATA=$ROOT/data-run
rm -rf "$DATA"
echo
mkdir -p "$DATA"
CONF=$DATA/server.conf
# Span metrics (RED, service graph) flushed every second so the run shows them.
printf 'spans_metrics_interval = 1s\n' >"$CONF"
echo "\$ $BUILD/telltale server --config $CONF --data $DATA --http $HTTP &    # $(cat "$CONF")"
"$BUILD/telltale" server --config "$CONF" --data "$DATA" --http "$HTTP" --log-level info &
SERVER=$!
stop_server() {
    if kill -0 "$SERVER" 2>/dev/null; then
        kill -TERM "$SERVER"
        wait "$SERVER" || true
    fi
}
trap 'stop_server; [[ "${TT_KEEP_SPOOL:-0}" = 1 ]] || rm -rf "$SPOOL"' EXIT
ready=0
for _ in $(seq 1 100); do
    if curl -fsS "$BASE/-/ready" >/dev/null 2>&1; then ready=1; break; fi
    kill -0 "$SERVER" 2>/dev/null || { echo "run: the server exited" >&2; exit 1; }
    sleep 0.1
done
[[ $ready = 1 ]] || { echo "run: the server is not ready after 10 s" >&2; exit 1; }

RECORDING=$ROOT/../shared/data/node-exporter/nodeexp-1s-600s.prom.zst
FEED=$(mktemp "${TMPDIR:-/tmp}/telltale-feed.XXXXXX")
if [[ -f "$RECORDING" ]] && command -v zstd >/dev/null; then
    zstd -dcq "$RECORDING" >"$FEED"
    what="the node_exporter recording (600 scrapes at 1 s)"
else
    # An hour of a small fleet every 15 s, ending now.
    python3 - "$FEED" <<'PY'
import sys, time, math
now = int(time.time() * 1000) // 15000 * 15000
with open(sys.argv[1], "w") as f:
    for i in range(240):
        t = now - (239 - i) * 15000
        for h in range(3):
            for mode, share in (("user", 0.3), ("system", 0.1), ("idle", 0.6)):
                f.write(f'node_cpu_seconds_total{{instance="host-{h}:9100",job="node",cpu="0",mode="{mode}"}} {i * 15 * share:.1f} {t}\n')
            f.write(f'node_load1{{instance="host-{h}:9100",job="node"}} {1 + math.sin(i / 20 + h):.2f} {t}\n')
PY
    what="a generated hour of host metrics"
fi
echo "\$ curl --data-binary @FEED $BASE/api/v1/import/prometheus    # $what"
curl -fsS --data-binary "@$FEED" "$BASE/api/v1/import/prometheus"
# The newest sample's time, to query at.
END=$(awk 'NF >= 2 && $1 !~ /^#/ && $NF > m {m = $NF} END {printf "%.3f", m / 1000}' "$FEED")
rm -f "$FEED"
query() {
    echo
    echo "\$ curl $BASE/api/v1/query --data-urlencode 'query=$1' -d time=$END"
    curl -fsS "$BASE/api/v1/query" --data-urlencode "query=$1" -d "time=$END"
    echo
}
query 'count by (__name__) ({__name__=~"node_(cpu_seconds_total|load1|memory_MemAvailable_bytes)"})'
query 'sum by (mode) (rate(node_cpu_seconds_total[1m]))'
query 'node_load1'
echo
echo "\$ curl -X POST $BASE/api/tt/admin/flush"
curl -fsS -X POST "$BASE/api/tt/admin/flush"
echo
echo
echo "\$ du -sh $DATA/blocks/* $DATA/wal"
du -sh "$DATA"/blocks/* "$DATA/wal"
query 'count_over_time(node_load1[10m])'

# ---- the agent: this host's metrics every second, hello's spool, a digest ----
AGENT_STATE=$ROOT/data-run/agent-state
# The agent deletes spool segments once the server has them: it ships a copy.
SHIP_SPOOL=$ROOT/data-run/hello-spool
rm -rf "$SHIP_SPOOL" && cp -r "$SPOOL" "$SHIP_SPOOL"
TT_BIN=$(cd "$BUILD" && pwd)/telltale # a digest path is absolute

# A traced RPC between two services, each spooling on its own: the agent
# ships both spools and the server assembles the traces.
ECHO_SPOOL=$ROOT/data-run/echo-spool
ECHO_PORT=${TT_ECHO_PORT:-7079}
rm -rf "$ECHO_SPOOL" && mkdir -p "$ECHO_SPOOL"
echo
echo "\$ TELLTALE_SERVICE=echo-server $BUILD/echo_rpc server $ECHO_PORT &"
echo "\$ TELLTALE_SERVICE=echo-client $BUILD/echo_rpc client 127.0.0.1 $ECHO_PORT 200"
TELLTALE_SERVICE=echo-server TELLTALE_SAMPLE_RATIO=1 TELLTALE_SPOOL_DIR=$ECHO_SPOOL/server \
    "$BUILD/echo_rpc" server "$ECHO_PORT" &
ECHO_SERVER=$!
for _ in $(seq 1 50); do
    (exec 3<>"/dev/tcp/127.0.0.1/$ECHO_PORT") 2>/dev/null && break
    sleep 0.1
done
TELLTALE_SERVICE=echo-client TELLTALE_SAMPLE_RATIO=1 TELLTALE_SPOOL_DIR=$ECHO_SPOOL/client \
    "$BUILD/echo_rpc" client 127.0.0.1 "$ECHO_PORT" 200 --warmup 0
kill -INT "$ECHO_SERVER" 2>/dev/null || true
wait "$ECHO_SERVER" || true
echo
echo "\$ $BUILD/telltale agent --server 127.0.0.1:7071 --node $(hostname) --interval 1s --state $AGENT_STATE --spool $SHIP_SPOOL --spool $ECHO_SPOOL/server --spool $ECHO_SPOOL/client --digest $TT_BIN --role demo --release dev &"
"$BUILD/telltale" agent --server 127.0.0.1:7071 --node "$(hostname)" --interval 1s \
    --state "$AGENT_STATE" --spool "$SHIP_SPOOL" --spool "$ECHO_SPOOL/server" \
    --spool "$ECHO_SPOOL/client" --digest "$TT_BIN" --role demo \
    --release dev &
AGENT=$!
stop_agent() {
    if kill -0 "$AGENT" 2>/dev/null; then
        kill -TERM "$AGENT"
        wait "$AGENT" || true
    fi
}
trap 'stop_agent; stop_server; [[ "${TT_KEEP_SPOOL:-0}" = 1 ]] || rm -rf "$SPOOL"' EXIT
got=0
for _ in $(seq 1 50); do
    if curl -fsS "$BASE/api/v1/query" --data-urlencode 'query=node_load1' 2>/dev/null |
        grep -q "\"instance\":\"$(hostname)\"" &&
        curl -fsS "$BASE/api/v1/query" --data-urlencode 'query=hello_requests_total' 2>/dev/null |
        grep -q hello_requests_total; then
        got=1
        break
    fi
    sleep 0.2
done
echo
echo "\$ curl $BASE/api/v1/query --data-urlencode 'query=node_load1'        # from the agent"
curl -fsS "$BASE/api/v1/query" --data-urlencode 'query=node_load1'
echo
echo "\$ curl $BASE/api/v1/query --data-urlencode 'query=sum by (code) (hello_requests_total)'   # hello's spool, shipped"
curl -fsS "$BASE/api/v1/query" --data-urlencode 'query=sum by (code) (hello_requests_total)'
echo
echo "\$ curl $BASE/api/tt/nodes"
curl -fsS "$BASE/api/tt/nodes"
echo
echo "\$ curl $BASE/api/tt/digests"
curl -fsS "$BASE/api/tt/digests"
echo
[[ $got = 1 ]] || echo "run: the agent's metrics (host, hello's spool) did not arrive within 10 s" >&2

TRACE=
for _ in $(seq 1 50); do
    TRACE=$("$BUILD/telltale" trace search --server "$BASE" --service echo-client --limit 1 \
        2>/dev/null | awk 'NR > 1 && $1 ~ /^[0-9a-f]+$/ {print $1; exit}')
    [[ -n "$TRACE" ]] && break
    sleep 0.2
done
echo
echo "\$ $BUILD/telltale trace search --service echo-client --limit 5"
"$BUILD/telltale" trace search --server "$BASE" --service echo-client --limit 5 || true
if [[ -n "$TRACE" ]]; then
    echo
    echo "\$ $BUILD/telltale trace --critical $TRACE"
    "$BUILD/telltale" trace --server "$BASE" --critical "$TRACE" || true
    echo
    echo "\$ $BUILD/telltale trace stats --since 10m"
    "$BUILD/telltale" trace stats --server "$BASE" --since 10m || true
    sleep 2 # a span-metrics flush (spans_metrics_interval) after the spans came
    echo
    echo "\$ $BUILD/telltale trace deps --since 10m"
    "$BUILD/telltale" trace deps --server "$BASE" --since 10m || true
    echo
    echo "\$ curl $BASE/api/v1/query --data-urlencode 'query=sum by (service, span_kind) (telltale_span_calls_total)'"
    curl -fsS "$BASE/api/v1/query" --data-urlencode 'query=sum by (service, span_kind) (telltale_span_calls_total)'
    echo
else
    echo "run: the echo_rpc traces did not arrive within 10 s" >&2
fi

serve=${TT_SERVE:-}
if [[ -z "$serve" ]]; then
    if [[ -t 0 && -t 1 ]]; then serve=1; else serve=0; fi
fi
if [[ $serve = 1 ]]; then
    echo
    echo "Telltale server at $BASE (data in $DATA), fed by an agent on this host every"
    echo "second. Point Grafana's Prometheus data source or 'promtool query instant $BASE"
    echo "node_load1' at it (docs/server.md). Ctrl-C stops both."
    wait "$SERVER" || true
fi
