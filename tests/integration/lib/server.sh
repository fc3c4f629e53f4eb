# tests/integration/lib/server.sh - helpers the server integration tests
# source: a work directory cleaned up on exit, an HTTP client, JSON checks,
# and starting/stopping `telltale server` on a free loopback port.
#
# The test sets build (the build dir) before sourcing; afterwards it has:
#   $work, $tt, fail MSG, http METHOD URL [BODY_FILE] (status in $work/code),
#   check_json JSON PY_EXPR MSG, free_port, start_server [ARGS...] (sets $pid,
#   $port, $base; data in $work/data unless ARGS has --data), stop_server,
#   kill9_server.
tt=$build/telltale
work=$(mktemp -d /tmp/tt-it.XXXXXX)
pid=
cleanup() {
    if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    fi
    if declare -F extra_cleanup >/dev/null; then extra_cleanup; fi
    rm -rf "$work"
}
trap cleanup EXIT

fail() {
    echo "FAIL: $*"
    [[ -f "$work/server.err" ]] && { echo "--- server stderr:"; tail -n 40 "$work/server.err"; }
    exit 1
}

http() {
    python3 - "$@" "$work/code" <<'PY'
import sys, urllib.request, urllib.error
method, url = sys.argv[1], sys.argv[2]
body = open(sys.argv[3], "rb").read() if len(sys.argv) > 4 else None
req = urllib.request.Request(url, data=body, method=method)
try:
    with urllib.request.urlopen(req, timeout=60) as r:
        code, out = r.status, r.read()
except urllib.error.HTTPError as e:
    code, out = e.code, e.read()
open(sys.argv[-1], "w").write(str(code))
sys.stdout.write(out.decode())
PY
}

check_json() {
    python3 -c "import json,sys; j=json.loads(sys.argv[1]); sys.exit(0 if ($2) else 1)" "$1" ||
        fail "$3: $1"
}

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

start_server() {
    port=$(free_port)
    base=http://127.0.0.1:$port
    local args=("$@")
    [[ " ${args[*]} " == *" --data "* ]] || args+=(--data "$work/data")
    # Tests run in parallel: the agent port too is a free one unless given.
    [[ " ${args[*]} " == *" --agents "* ]] || args+=(--agents 127.0.0.1:0)
    "$tt" server --http "127.0.0.1:$port" --log-level info "${args[@]}" 2>>"$work/server.err" &
    pid=$!
    for _ in $(seq 1 150); do
        [[ "$(http GET "$base/-/ready" >/dev/null 2>&1; cat "$work/code" 2>/dev/null)" == 200 ]] && return 0
        kill -0 "$pid" 2>/dev/null || fail "server exited at start"
        sleep 0.1
    done
    fail "server not ready in 15 s"
}

stop_server() {
    kill -TERM "$pid"
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && fail "server did not stop in 10 s"
    wait "$pid" || fail "server exit status $?"
    pid=
}

kill9_server() {
    kill -KILL "$pid"
    wait "$pid" 2>/dev/null || true
    pid=
}
