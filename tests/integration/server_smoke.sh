#!/usr/bin/env bash
# server_smoke.sh SRC_DIR BUILD_DIR - start the real `telltale server` on a
# free loopback port with a temporary data directory (set through a config
# file, overridden by flags), check /-/healthy, /-/ready, the buildinfo JSON
# and /metrics over HTTP, check that a second server on the same port and
# one on the same data directory fail with clear messages, then stop the
# first with SIGTERM and check it exits 0 within 2 s.
set -euo pipefail
build=${2:?usage: server_smoke.sh SRC_DIR BUILD_DIR}
tt=$build/telltale
work=$(mktemp -d /tmp/tt-smoke.XXXXXX)
pid=
cleanup() {
    if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

fail() {
    echo "FAIL: $*"
    [[ -f "$work/server.err" ]] && { echo "--- server stderr:"; cat "$work/server.err"; }
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
open(sys.argv[2], "w").write(str(code))
sys.stdout.write(body.decode())
PY
}

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# 1. Start on a free port; the config file sets the data dir and a log level
#    the flag overrides. Retry if another process took the port meanwhile.
for attempt in 1 2 3; do
    port=$(free_port)
    cat >"$work/telltale.conf" <<EOF
# smoke test configuration
data = $work/data
http = 127.0.0.1:1
log_level = error
EOF
    "$tt" server --config "$work/telltale.conf" --http "127.0.0.1:$port" --agents 127.0.0.1:0 --log-level info \
        2>"$work/server.err" &
    pid=$!
    up=0
    for _ in $(seq 1 100); do
        if get "http://127.0.0.1:$port/-/healthy" >/dev/null 2>&1 && [[ $(cat "$work/code") == 200 ]]; then
            up=1
            break
        fi
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.02
    done
    [[ $up == 1 ]] && break
    wait "$pid" 2>/dev/null || true
    pid=
done
[[ $up == 1 ]] || fail "server did not come up"
[[ -d "$work/data" ]] || fail "data directory not created"
grep -q 'level=info msg=ready' "$work/server.err" || fail "no info log line (--log-level info)"

# 2. The endpoints.
body=$(get "http://127.0.0.1:$port/-/ready")
[[ $(cat "$work/code") == 200 ]] || fail "/-/ready: $(cat "$work/code")"
get "http://127.0.0.1:$port/api/v1/status/buildinfo" >"$work/buildinfo.json"
[[ $(cat "$work/code") == 200 ]] || fail "buildinfo: $(cat "$work/code")"
python3 - "$work/buildinfo.json" <<'PY' || fail "buildinfo shape"
import json, sys
o = json.load(open(sys.argv[1]))
assert o["status"] == "success", o
keys = {"version", "revision", "branch", "buildUser", "buildDate", "goVersion"}
assert set(o["data"]) == keys, o
assert all(isinstance(v, str) and v for v in o["data"].values()), o
PY
get "http://127.0.0.1:$port/api/v1/nothing" >"$work/404.json"
[[ $(cat "$work/code") == 404 ]] || fail "unknown path: $(cat "$work/code")"
grep -q '"errorType":"not_found"' "$work/404.json" || fail "404 shape: $(cat "$work/404.json")"
get "http://127.0.0.1:$port/metrics" >"$work/metrics.txt"
[[ $(cat "$work/code") == 200 ]] || fail "/metrics: $(cat "$work/code")"
python3 - "$work/metrics.txt" <<'PY' || fail "/metrics content"
import re, sys
line_re = re.compile(r'^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\]|\\.)*",?)*\})? '
                     r'(-?[0-9.e+-]+|NaN|[+-]Inf)$')
samples = {}
for line in open(sys.argv[1]):
    line = line.rstrip("\n")
    if not line or line.startswith("# HELP ") or line.startswith("# TYPE "):
        continue
    assert line_re.match(line), f"bad exposition line: {line!r}"
    name, value = line.rsplit(" ", 1)
    samples[name] = float(value)
assert samples.get('telltale_http_requests_total{handler="/-/ready",code="200"}') == 1, samples
assert samples.get('telltale_http_requests_total{handler="unmatched",code="404"}') == 1, samples
assert samples["process_resident_memory_bytes"] > 0
assert samples["process_open_fds"] > 0
PY

# 3. A second server on the same port fails clearly; so does one on the
#    same data directory.
set +e
"$tt" server --data "$work/data2" --http "127.0.0.1:$port" 2>"$work/second.err"
rc=$?
set -e
[[ $rc == 1 ]] || fail "second server on the same port: exit $rc"
grep -q "address already in use" "$work/second.err" || fail "message: $(cat "$work/second.err")"
set +e
"$tt" server --data "$work/data" --http 127.0.0.1:0 2>"$work/third.err"
rc=$?
set -e
[[ $rc == 1 ]] || fail "second server on the same data dir: exit $rc"
grep -q "in use by another telltale server" "$work/third.err" || fail "message: $(cat "$work/third.err")"
# A bad flag is a usage error.
set +e
"$tt" server --bogus 2>/dev/null
rc=$?
set -e
[[ $rc == 2 ]] || fail "unknown flag: exit $rc"
# Bad store settings name the file and line (and a bad flag value is a usage error).
printf 'retention = 15d\nwal_sync = sometimes\n' >"$work/bad.conf"
set +e
"$tt" server --config "$work/bad.conf" --data "$work/other" --http 127.0.0.1:0 2>"$work/bad.err"
rc=$?
"$tt" server --retention 5x --data "$work/other" --http 127.0.0.1:0 2>"$work/bad2.err"
rc2=$?
set -e
[[ $rc == 1 ]] || fail "bad wal_sync: exit $rc"
grep -q "bad.conf:2: bad value 'sometimes' for 'wal_sync'" "$work/bad.err" || fail "message: $(cat "$work/bad.err")"
[[ $rc2 == 2 ]] || fail "bad --retention: exit $rc2"
grep -q "bad --retention '5x'" "$work/bad2.err" || fail "message: $(cat "$work/bad2.err")"

# 4. SIGTERM: a clean exit 0 within 2 s.
kill -TERM "$pid"
for _ in $(seq 1 100); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.02
done
if kill -0 "$pid" 2>/dev/null; then
    fail "server still running 2 s after SIGTERM"
fi
set +e
wait "$pid"
rc=$?
set -e
pid=
[[ $rc == 0 ]] || fail "exit status $rc after SIGTERM"
grep -q 'msg=stopped' "$work/server.err" || fail "no 'stopped' log line"
echo "ok: server started, served /-/healthy, /-/ready, buildinfo, /metrics, refused a second" \
    "server on its port and data dir, stopped on SIGTERM with exit 0"
