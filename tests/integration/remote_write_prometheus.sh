#!/usr/bin/env bash
# remote_write_prometheus.sh SRC_DIR BUILD_DIR - a real Prometheus writes to
# Telltale: start `telltale server` on a free loopback port with a temporary
# data directory, start Debian's `prometheus` scraping its own /metrics every
# second and remote-writing to Telltale's /api/v1/write, wait (30 s at most)
# until up{job="prometheus"} is queryable on Telltale's /api/v1/query and
# check that Telltale refused no request, then stop both by PID. Skipped
# (exit 0) when prometheus is not installed (CI does not install it).
set -euo pipefail
build=${2:?usage: remote_write_prometheus.sh SRC_DIR BUILD_DIR}
tt=$build/telltale
if ! command -v prometheus >/dev/null 2>&1; then
    echo "SKIP: prometheus not installed"
    exit 0
fi
work=$(mktemp -d /tmp/tt-rwprom.XXXXXX)
ttpid=
prompid=
stop() { # stop PID: SIGTERM, then SIGKILL after 5 s
    local p=$1
    [[ -n "$p" ]] || return 0
    kill -TERM "$p" 2>/dev/null || return 0
    for _ in $(seq 1 50); do
        kill -0 "$p" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
}
cleanup() {
    stop "$prompid"
    stop "$ttpid"
    rm -rf "$work"
}
trap cleanup EXIT

fail() {
    echo "FAIL: $*"
    for f in telltale.err prometheus.err; do
        [[ -f "$work/$f" ]] && { echo "--- $f (tail):"; tail -n 30 "$work/$f"; }
    done
    exit 1
}

# get URL: prints the body; the status code goes to $work/code.
get() {
    python3 - "$1" "$work/code" <<'PY'
import sys, urllib.request, urllib.error
try:
    with urllib.request.urlopen(sys.argv[1], timeout=5) as r:
        code, body = r.status, r.read()
except urllib.error.HTTPError as e:
    code, body = e.code, e.read()
except OSError:
    code, body = 0, b""
open(sys.argv[2], "w").write(str(code))
sys.stdout.write(body.decode())
PY
}

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# 1. Telltale, ready (WAL replayed) on a free port.
for attempt in 1 2 3; do
    port=$(free_port)
    "$tt" server --data "$work/data" --http "127.0.0.1:$port" --agents 127.0.0.1:0 2>"$work/telltale.err" &
    ttpid=$!
    up=0
    for _ in $(seq 1 250); do
        if get "http://127.0.0.1:$port/-/ready" >/dev/null && [[ $(cat "$work/code") == 200 ]]; then
            up=1
            break
        fi
        kill -0 "$ttpid" 2>/dev/null || break
        sleep 0.02
    done
    [[ $up == 1 ]] && break
    wait "$ttpid" 2>/dev/null || true
    ttpid=
done
[[ -n "$ttpid" ]] || fail "telltale server did not become ready"

# 2. Prometheus scraping itself every second, remote-writing to Telltale.
pport=$(free_port)
cat >"$work/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: prometheus
    static_configs:
      - targets: ['127.0.0.1:$pport']
remote_write:
  - url: http://127.0.0.1:$port/api/v1/write
    queue_config:
      batch_send_deadline: 1s
      min_backoff: 100ms
EOF
prometheus --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/prom" \
    --web.listen-address="127.0.0.1:$pport" 2>"$work/prometheus.err" &
prompid=$!

# 3. Wait for up{job="prometheus"} on Telltale.
q='http://127.0.0.1:'$port'/api/v1/query?query=up%7Bjob%3D%22prometheus%22%7D'
found=0
for _ in $(seq 1 60); do
    kill -0 "$prompid" 2>/dev/null || fail "prometheus exited"
    kill -0 "$ttpid" 2>/dev/null || fail "telltale exited"
    body=$(get "$q")
    if [[ $(cat "$work/code") == 200 ]] && python3 - "$body" <<'PY'
import json, sys
d = json.loads(sys.argv[1])
r = d["data"]["result"]
sys.exit(0 if d["status"] == "success" and r and r[0]["metric"].get("job") == "prometheus"
         and r[0]["value"][1] == "1" else 1)
PY
    then
        found=1
        break
    fi
    sleep 0.5
done
[[ $found == 1 ]] || fail "up{job=\"prometheus\"} not queryable on Telltale within 30 s (last: $body)"

# 4. Prometheus saw no failed or dropped remote write requests.
metrics=$(get "http://127.0.0.1:$pport/metrics")
failed=$(printf '%s\n' "$metrics" | awk '/^prometheus_remote_storage_(samples_failed_total|samples_dropped_total|failed_samples_total)\{/ {s += $2} END {print s + 0}')
[[ "$failed" == 0 ]] || fail "prometheus reports $failed failed remote write samples"

stop "$prompid"
prompid=
stop "$ttpid"
ttpid=
echo "ok: prometheus remote-wrote to telltale (up{job=\"prometheus\"} queryable)"
