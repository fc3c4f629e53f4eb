#!/usr/bin/env bash
# events_search.sh SRC_DIR BUILD_DIR - the events store end to end: a
# `telltale agent` checks a JSON file (--file) that is changed and then made
# invalid, and ships the spool of a libtelltale program (examples/hello,
# which emits six events of every severity); the events of both are found
# through GET /api/tt/events by node, name, severity, key=value and text,
# newest first, page by page with the page token; bad parameters are
# answered 400 naming them; `telltale events` prints them; after a restart
# the store holds the same events, none twice (also after kill -9). The
# program's state changes are found through GET /api/tt/state.
set -euo pipefail
build=${2:?usage: events_search.sh SRC_DIR BUILD_DIR}
. "$(dirname "$0")/lib/server.sh"

apid=
extra_cleanup() {
    if [[ -n "$apid" ]]; then
        kill -KILL "$apid" 2>/dev/null || true
        wait "$apid" 2>/dev/null || true
    fi
}
afail() {
    [[ -f "$work/agent.err" ]] && { echo "--- agent stderr:"; tail -n 30 "$work/agent.err"; }
    fail "$@"
}

aport=$(free_port)
start_server --agents "127.0.0.1:$aport"
spool=$work/spool
mkdir -p "$spool"
echo '{"a": 1}' >"$work/x.json"

TELLTALE_NODE=hello-node TELLTALE_SERVICE=hello "$build/hello" "$spool" >"$work/hello.out" ||
    fail "hello: $(cat "$work/hello.out")"
"$tt" agent --server "127.0.0.1:$aport" --node ev-node --interval 1s --no-host \
    --state "$work/agent" --spool "$spool" --file "$work/x.json" --log-level info \
    2>>"$work/agent.err" &
apid=$!

ev() { http GET "$base/api/tt/events?$1"; }
# wait_for QUERY PY_EXPR: poll until the answer satisfies PY_EXPR (j is the JSON).
wait_for() {
    for _ in $(seq 1 200); do
        out=$(ev "$1")
        python3 -c "import json,sys; j=json.loads(sys.argv[1]); sys.exit(0 if ($2) else 1)" \
            "$out" 2>/dev/null && return 0
        sleep 0.1
    done
    afail "waited 20 s for $1: $out"
}

# The file check's first look, then a change, then invalid JSON.
wait_for "node=ev-node" 'len(j["data"]["events"]) >= 0'
sleep 1.5
echo '{"a": 2}' >"$work/x.json"
wait_for "node=ev-node&name=telltale.file.changed" 'len(j["data"]["events"]) >= 1'
echo '{"a": ' >"$work/x.json"
wait_for "node=ev-node&name=telltale.file.invalid" 'len(j["data"]["events"]) >= 1'
out=$(ev "node=ev-node&name=telltale.file.invalid")
check_json "$out" 'j["data"]["events"][0]["attrs"].get("path") == "'"$work/x.json"'"' \
    "file.invalid carries the path"
check_json "$out" 'j["data"]["events"][0]["severity_number"] >= 4' "file.invalid is a warning or worse"
# Newest first across names: the invalid came after the change.
out=$(ev "node=ev-node&q=$(basename "$work")")
check_json "$out" '[e["name"] for e in j["data"]["events"]].index("telltale.file.invalid") < [e["name"] for e in j["data"]["events"]].index("telltale.file.changed")' \
    "the invalid event is listed before the older change"
echo "ok: the file check's changed and invalid events are found, newest first"

# The libtelltale program's events, through the spool.
wait_for "node=hello-node&name=hello.disk" 'len(j["data"]["events"]) == 1'
out=$(ev "node=hello-node&severity=error")
check_json "$out" 'sorted(e["name"] for e in j["data"]["events"]) == ["hello.disk", "hello.failed"]' \
    "severity>=error on hello-node"
check_json "$out" 'all(e["process"].startswith("hello/") for e in j["data"]["events"])' \
    "the process comes from the batch origin"
out=$(ev "q=UPSTREAM+refused")
check_json "$out" '[e["name"] for e in j["data"]["events"]] == ["hello.failed"]' "text search"
out=$(ev "node=hello-node&kv=seq%3D3&kv=component%3Dhello")
check_json "$out" '[e["name"] for e in j["data"]["events"]] == ["hello.slow"]' "kv filter"
check_json "$out" 'j["data"]["events"][0]["attrs"]["load"] == 1.5' "attributes keep their types"
out=$(ev "node=hello-node&start=2000-01-01T00:00:00Z&end=$(date +%s)")
check_json "$out" 'len([e for e in j["data"]["events"] if e["name"].startswith("hello.")]) == 6' \
    "time range"
out=$(ev "node=hello-node&end=2000-01-01T00:00:00Z")
check_json "$out" 'j["data"]["events"] == []' "nothing before 2000"
# Times far outside int64 nanoseconds are clamped, not overflowed.
out=$(ev "node=hello-node&start=1e12")
check_json "$out" 'j["data"]["events"] == []' "start in the year 33658"
out=$(ev "node=hello-node&start=-1e12&end=1e12")
check_json "$out" 'len([e for e in j["data"]["events"] if e["name"].startswith("hello.")]) == 6' \
    "start and end past int64 nanoseconds"
echo "ok: hello's events found by node, severity, text, key=value and time"

# Pages of two follow each other with the token and add up to the whole.
full=$(ev "node=hello-node&limit=1000")
tok=
pages=0
: >"$work/paged"
while :; do
    q="node=hello-node&limit=2"
    [[ -n "$tok" ]] && q="$q&page_token=$tok"
    out=$(ev "$q")
    [[ "$(cat "$work/code")" == 200 ]] || fail "page $pages: $out"
    python3 -c 'import json,sys; [print(e["id"]) for e in json.loads(sys.argv[1])["data"]["events"]]' \
        "$out" >>"$work/paged"
    tok=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["data"]["next_page_token"] or "")' "$out")
    pages=$((pages + 1))
    [[ -n "$tok" ]] || break
    [[ $pages -lt 100 ]] || fail "more than 100 pages"
done
python3 - "$full" "$work/paged" <<'PY' || fail "pagination differs from the full answer"
import json, sys
full = json.loads(sys.argv[1])["data"]["events"]
paged = open(sys.argv[2]).read().split()
assert [e["id"] for e in full] == paged, (len(full), len(paged))
t = [e["time_ns"] for e in full]
assert t == sorted(t, reverse=True)
PY
echo "ok: $pages pages of 2 give the full answer, newest first, no event twice"

# Bad parameters: 400 naming the parameter.
for bad in "severity=loud|severity" "start=yesterday|start" "end=x|end" "limit=0|limit" \
    "page_token=zz|page_token" "kv=novalue|kv" "start=2000&end=1000|end"; do
    q=${bad%|*}
    name=${bad##*|}
    out=$(ev "$q")
    [[ "$(cat "$work/code")" == 400 ]] || fail "$q: status $(cat "$work/code"): $out"
    [[ "$out" == *"\\\"$name\\\""* ]] || fail "$q: the error does not name $name: $out"
done
echo "ok: bad parameters answered 400 naming them"

# The state log: hello's seven changes, with previous values, by log, var and HLC.
st() { http GET "$base/api/tt/state?$1"; }
for _ in $(seq 1 100); do
    out=$(st "node=hello-node&log=hello")
    python3 -c 'import json,sys; sys.exit(0 if len(json.loads(sys.argv[1])["data"]["changes"]) == 7 else 1)' \
        "$out" 2>/dev/null && break
    sleep 0.1
done
check_json "$out" 'len(j["data"]["changes"]) == 7' "hello's seven state changes"
out=$(st "node=hello-node&log=hello&var=workers")
check_json "$out" '[(c["value"], c["prev"]) for c in j["data"]["changes"]] == [(4, 2), (2, None)]' \
    "workers 2 then 4, newest first, with previous values"
out=$(st "log=hello&var=mode")
check_json "$out" '[c["value"] for c in j["data"]["changes"]] == ["serving", "starting"] and j["data"]["changes"][0]["prev"] == "starting"' \
    "mode changes"
h=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["data"]["changes"][0]["hlc"])' "$out")
out=$(st "log=hello&start_hlc=$h&end_hlc=$h")
check_json "$out" '[c["var"] for c in j["data"]["changes"]] == ["mode"]' "one HLC"
out=$(st "log=hello&end_hlc=x")
[[ "$(cat "$work/code")" == 400 && "$out" == *'\"end_hlc\"'* ]] || fail "bad end_hlc: $out"
echo "ok: the state log's changes by node, log, var and HLC"

# The CLI.
lines=$("$tt" events --server "$base" --node hello-node --severity error)
[[ $(echo "$lines" | wc -l) -eq 2 ]] || fail "telltale events: $lines"
[[ "$(echo "$lines" | head -1)" == *"critical hello-node/hello/"*"hello.disk: spool disk almost full"* ]] ||
    fail "telltale events line: $lines"
"$tt" events --server "$base" --json --limit 1 upstream | python3 -c \
    'import json,sys; j=json.load(sys.stdin); assert j["data"]["events"][0]["name"] == "hello.failed"' ||
    fail "telltale events --json"
n=$("$tt" events --server "$base" --node hello-node --limit 2 --all | grep -c ' hello\.' || true)
[[ $n -eq 6 ]] || fail "telltale events --all: $n hello events"
echo "ok: telltale events prints them"

# A restart: the same events, none twice.
kill -TERM "$apid"
wait "$apid" 2>/dev/null || true
apid=
before=$(ev "limit=10000" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["data"]["events"]))')
stop_server
start_server --agents "127.0.0.1:$aport"
sleep 0.5
after=$(ev "limit=10000" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["data"]["events"]))')
[[ "$before" == "$after" ]] || fail "events before the restart $before, after $after"
[[ -d "$work/data/events" && -f "$work/data/events/STATE" ]] || fail "no DATA/events/STATE"
echo "ok: $after events kept across a restart"

# kill -9 and again: the store comes back from STATE, nothing lost or doubled.
kill9_server
start_server --agents "127.0.0.1:$aport"
again=$(ev "limit=10000" | python3 -c 'import json,sys; e=json.load(sys.stdin)["data"]["events"]; assert len({x["id"] for x in e}) == len(e); print(len(e))')
[[ "$again" == "$before" ]] || fail "events after kill -9: $again, before $before"
echo "ok: $again events after kill -9 and a restart"
stop_server
