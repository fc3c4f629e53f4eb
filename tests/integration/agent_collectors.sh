#!/usr/bin/env bash
# agent_collectors.sh SRC_DIR BUILD_DIR - the agent's process, file and digest
# collectors end to end: a server, two agents (--node a and b, same role and
# release, each with its own --config file), at a 1 s interval:
#  1. both configs list a binary reported as /opt/app/bin/app (digest ...
#     as=): b's is a modified copy of a's -> GET /api/tt/digests shows the
#     path with two digests, one node each, and "clash": true; ?history=1
#     lists the first sightings;
#  2. a's JSON config file turned invalid -> telltale_file_valid{path} is 0
#     through PromQL and the "telltale.file.invalid" event (with line:col)
#     is in the record log (DATA/records);
#  3. a process watched through a pid file: telltale_process_up is 1; killed
#     and restarted (new pid) -> telltale_process_restarts_total is 1 and the
#     "telltale.process.restarted" event is in the record log.
set -euo pipefail
build=${2:?usage: agent_collectors.sh SRC_DIR BUILD_DIR}
. "$(dirname "$0")/lib/server.sh"

apids=()
spid=
extra_cleanup() {
    for p in "${apids[@]}" $spid; do
        kill -KILL "$p" 2>/dev/null || true
        wait "$p" 2>/dev/null || true
    done
}
afail() {
    for n in a b; do
        [[ -f "$work/agent-$n.err" ]] && { echo "--- agent $n stderr:"; tail -n 20 "$work/agent-$n.err"; }
    done
    fail "$@"
}

aport=$(free_port)
start_server --agents "127.0.0.1:$aport"

# The "binary": a copy of the telltale binary; b's has one byte appended.
mkdir -p "$work/a" "$work/b"
cp "$tt" "$work/a/app"
cp "$tt" "$work/b/app"
printf 'x' >>"$work/b/app"
printf '{"listen": ":8080", "workers": 4}\n' >"$work/a/app.json"

# The watched process: a sleep whose pid is in a pid file.
start_sleeper() {
    sleep 1000 &
    spid=$!
    echo "$spid" >"$work/a/sleeper.pid"
}
start_sleeper

for n in a b; do
    cat >"$work/$n.conf" <<EOF
# agent $n
server = 127.0.0.1:$aport
node = $n
role = web
release = 1.0
interval = 1s
state = $work/state-$n
host = no
log_level = info
digest = $work/$n/app as=/opt/app/bin/app
EOF
done
cat >>"$work/a.conf" <<EOF
file = $work/a/app.json
process = sleeper pidfile=$work/a/sleeper.pid
EOF
# A bad config value is refused with its file and line.
printf 'node = x\ninterval = soon\n' >"$work/bad.conf"
if "$tt" agent --config "$work/bad.conf" 2>"$work/bad.err"; then fail "a bad config was accepted"; fi
grep -q "bad.conf:2: interval" "$work/bad.err" || fail "bad config message: $(cat "$work/bad.err")"

for n in a b; do
    "$tt" agent --config "$work/$n.conf" 2>>"$work/agent-$n.err" &
    apids+=($!)
done

# query EXPR: the instant vector's values, one "labels value" line each.
query() {
    local q
    q=$(python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1]))' "$1")
    http GET "$base/api/v1/query?query=$q" | python3 -c '
import json, sys
j = json.load(sys.stdin)
for r in j["data"]["result"]:
    print(json.dumps(r["metric"], sort_keys=True), r["value"][1])'
}

# wait_for DESC CMD...: retry CMD for up to 20 s.
wait_for() {
    local desc=$1
    shift
    for _ in $(seq 1 100); do
        "$@" && return 0
        sleep 0.2
    done
    afail "timed out waiting for: $desc"
}

# 1. the clash.
digests_clash() {
    out=$(http GET "$base/api/tt/digests?path=/opt/app/bin/app")
    python3 - "$out" <<'PY'
import json, sys
d = json.loads(sys.argv[1])["data"]
assert len(d) == 1 and d[0]["path"] == "/opt/app/bin/app", d
assert d[0]["clash"] is True, d
ds = d[0]["digests"]
assert len(ds) == 2, ds
assert sorted(n["node"] for x in ds for n in x["nodes"]) == ["a", "b"], ds
assert all(n["role"] == "web" and n["release"] == "1.0" for x in ds for n in x["nodes"]), ds
PY
}
wait_for "a digest clash on /opt/app/bin/app" digests_clash
a_sha=$(sha256sum "$work/a/app" | cut -d' ' -f1)
out=$(http GET "$base/api/tt/digests?history=1")
check_json "$out" "any(x['sha256'] == '$a_sha' and x['nodes'][0]['node'] == 'a' for p in j['data'] for x in p['digests'])" \
    "node a's digest is the sha256 of its file"
check_json "$out" "len([h for p in j['data'] for h in p['history'] if h['old_sha256'] is None]) >= 2" \
    "history of first sightings"
[[ -f "$work/data/digests.sqlite" ]] || fail "no DATA/digests.sqlite"

# 2. the file turns invalid.
valid_is() { [[ "$(query "telltale_file_valid{path=\"$work/a/app.json\"}" | awk '{print $NF}')" == "$1" ]]; }
wait_for "telltale_file_valid 1" valid_is 1
printf '{"listen": ":8080",\n "workers": 4,,\n}\n' >"$work/a/app.json"
wait_for "telltale_file_valid 0" valid_is 0

# records_have NAME: an event NAME is in the record log.
records_have() {
    "$tt" spool dump --json "$work/data/records/"*.log 2>/dev/null | grep -q "\"$1\""
}
wait_for "telltale.file.invalid in the record log" records_have telltale.file.invalid
"$tt" spool dump --json "$work/data/records/"*.log 2>/dev/null | grep 'telltale.file.invalid' |
    grep -q "app.json:2:" || fail "invalid event without line:col: $("$tt" spool dump "$work/data/records/"*.log 2>&1 | grep file.invalid)"
records_have telltale.file.changed || fail "no telltale.file.changed event"

# 3. the process restarts.
up_is() { [[ "$(query "telltale_process_up{process=\"sleeper\",instance=\"a\",job=\"node\"}" | awk '{print $NF}')" == "$1" ]]; }
wait_for "telltale_process_up 1" up_is 1
old=$spid
kill -KILL "$spid"
wait "$spid" 2>/dev/null || true
start_sleeper
[[ "$spid" != "$old" ]] || fail "same pid"
restarts_is() { [[ "$(query "telltale_process_restarts_total{process=\"sleeper\"}" | awk '{print $NF}')" == "$1" ]]; }
wait_for "telltale_process_restarts_total 1" restarts_is 1
wait_for "telltale.process.restarted in the record log" records_have telltale.process.restarted
"$tt" spool dump --json "$work/data/records/"*.log 2>/dev/null | grep 'telltale.process.restarted' |
    grep -q "\"$spid\"" || fail "restart event without the new pid $spid"

for p in "${apids[@]}"; do kill -TERM "$p"; wait "$p" || fail "agent exit status $?"; done
apids=()
stop_server
echo "PASS agent_collectors"
