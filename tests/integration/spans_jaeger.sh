#!/usr/bin/env bash
# spans_jaeger.sh SRC_DIR BUILD_DIR - spans from an instrumented libtelltale
# program (examples/hello) through `telltale agent --spool` into the server's
# record log, indexed by the span store and read back through the Jaeger
# query API. The spool is dumped first (`telltale spool dump --json`) as the
# expected spans; then the test checks, for every trace:
#  1. /api/traces/<id> has every span with its operation name, CHILD_OF
#     parent, start and duration (microseconds), attributes as tags (each
#     with its type; no other tags than span.kind and the status's), events
#     as logs, links as FOLLOWS_FROM, and the service in processes;
#  2. /api/traces?service=... finds the traces, and operation, tags,
#     minDuration filter them;
#  3. /api/services and the operations routes list them;
#  4. bad parameters are 400 naming the parameter, an unknown trace 404;
#  5. after a restart of the server (kill -9), the same answers.
set -euo pipefail
build=${2:?usage: spans_jaeger.sh SRC_DIR BUILD_DIR}
. "$(dirname "$0")/lib/server.sh"

apid=
extra_cleanup() {
    if [[ -n "$apid" ]]; then
        kill -KILL "$apid" 2>/dev/null || true
        wait "$apid" 2>/dev/null || true
    fi
}

aport=$(free_port)
start_server --agents "127.0.0.1:$aport"
spool=$work/spool
TELLTALE_SERVICE=hellosvc TELLTALE_NODE=span-node "$build/hello" "$spool" >"$work/hello.out" ||
    fail "hello: $(cat "$work/hello.out")"
"$tt" spool dump "$spool" --json >"$work/expected.json" 2>"$work/dump.err" ||
    fail "spool dump: $(head -5 "$work/dump.err")"
nspans=$(grep -c '"type":"span"' "$work/expected.json")
[[ $nspans -ge 5 ]] || fail "hello wrote $nspans spans"

"$tt" agent --server "127.0.0.1:$aport" --node span-node --interval 1s --no-host \
    --state "$work/agent" --spool "$spool" --log-level info 2>>"$work/agent.err" &
apid=$!

check_all() {
    python3 - "$work/expected.json" "$base" <<'PY'
import json, sys, time, urllib.request, urllib.error, urllib.parse
exp = [json.loads(l) for l in open(sys.argv[1])]
spans = [o for o in exp if o.get("type") == "span"]
base = sys.argv[2]

def get(path):
    try:
        with urllib.request.urlopen(base + path, timeout=30) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())

def strip(t):  # Jaeger writes 16 hex digits when the high half is zero
    return t[16:] if t[:16] == "0" * 16 else t

def typed(got, want, where):
    """Jaeger's tag list got holds exactly want's keys, each with its type."""
    types = {bool: "bool", int: "int64", float: "float64", str: "string"}
    assert sorted(t["key"] for t in got) == sorted(want), (where, got, want)
    for t in got:
        v = want[t["key"]]
        assert t["type"] == types[type(v)] and t["value"] == v and type(t["value"]) is type(v), \
            (where, t, v)

traces = {}
for s in spans:
    traces.setdefault(s["trace_id"], []).append(s)

# 1. every trace by id (waiting for the agent and the indexer)
deadline = time.time() + 30
for tid, want in traces.items():
    while True:
        code, j = get("/api/traces/" + tid)
        if code == 200 and len(j["data"][0]["spans"]) == len(want):
            break
        if time.time() > deadline:
            sys.exit("trace %s: %d %s" % (tid, code, json.dumps(j)[:300]))
        time.sleep(0.2)
    assert j["errors"] is None and j["total"] == 1, j
    tr = j["data"][0]
    assert tr["traceID"] == strip(tid), (tr["traceID"], tid)
    got = {s["spanID"]: s for s in tr["spans"]}
    for w in want:
        g = got[w["span_id"]]
        assert g["operationName"] == w["name"], (g, w)
        assert g["traceID"] == strip(tid)
        assert g["startTime"] == w["time_ns"] // 1000, (g["startTime"], w["time_ns"])
        assert g["duration"] == w["duration_ns"] // 1000, (g["duration"], w["duration_ns"])
        refs = [r for r in g["references"] if r["refType"] == "CHILD_OF"]
        if w["parent_id"] == "0" * 16:
            assert refs == [], refs
        else:
            assert refs == [{"refType": "CHILD_OF", "traceID": strip(tid), "spanID": w["parent_id"]}], refs
        follows = [(r["traceID"], r["spanID"]) for r in g["references"] if r["refType"] == "FOLLOWS_FROM"]
        assert follows == [(strip(l["trace_id"]), l["span_id"]) for l in w["links"]], (follows, w["links"])
        # every tag exactly once with Jaeger's type: the attributes, then
        # span.kind and the status
        want_tags = dict(w["attrs"], **{"span.kind": w["kind"]})
        if w["status"] == "error":
            want_tags["error"] = True
            want_tags["otel.status_code"] = "ERROR"
        elif w["status"] == "ok":
            want_tags["otel.status_code"] = "OK"
        if w["status_message"]:
            want_tags["otel.status_description"] = w["status_message"]
        typed(g["tags"], want_tags, w["name"])
        assert len(g["logs"]) == len(w["events"]), (g["logs"], w["events"])
        for lg, ev in zip(g["logs"], w["events"]):
            assert lg["timestamp"] == ev["time_ns"] // 1000
            typed(lg["fields"], dict(ev["attrs"], event=ev["name"]), w["name"] + " event")
        proc = tr["processes"][g["processID"]]
        assert proc["serviceName"] == "hellosvc", proc
        assert {"key": "hostname", "type": "string", "value": "span-node"} in proc["tags"], proc
print("ok: %d traces, %d spans by id: names, parents, links, times, tags, logs, processes" % (len(traces), len(spans)))

# 2. search
code, j = get("/api/traces?service=hellosvc&limit=100")
assert code == 200, j
found = {t["traceID"] for t in j["data"]}
assert found == {strip(t) for t in traces}, (found, list(traces))
assert j["total"] == len(traces) and j["errors"] is None
for t in j["data"]:
    assert len(t["spans"]) == len(traces[[k for k in traces if strip(k) == t["traceID"]][0]])
root = [s for s in spans if s["name"] == "GET /greeting"][0]
code, j = get("/api/traces?service=hellosvc&operation=" + urllib.parse.quote("GET /greeting"))
assert [t["traceID"] for t in j["data"]] == [strip(root["trace_id"])], j
code, j = get("/api/traces?service=hellosvc&tags=" + urllib.parse.quote('{"http.status_code":"200"}'))
assert strip(root["trace_id"]) in [t["traceID"] for t in j["data"]], j
code, j = get("/api/traces?service=hellosvc&tags=" + urllib.parse.quote('{"http.status_code":"404"}'))
assert j["data"] == [], j
# the tags Jaeger derives from the status and kind are searchable too
errs = {strip(s["trace_id"]) for s in spans if s["status"] == "error"}
assert errs, spans
code, j = get("/api/traces?service=hellosvc&tags=" + urllib.parse.quote('{"error":"true"}'))
assert {t["traceID"] for t in j["data"]} == errs, (j, errs)
prod = {strip(s["trace_id"]) for s in spans if s["kind"] == "producer"}
code, j = get("/api/traces?service=hellosvc&tag=span.kind:producer")
assert {t["traceID"] for t in j["data"]} == prod, (j, prod)
longest = max(s["duration_ns"] for s in spans)
code, j = get("/api/traces?service=hellosvc&minDuration=%dus" % (longest // 1000))
want = {strip(s["trace_id"]) for s in spans if s["duration_ns"] // 1000 * 1000 <= s["duration_ns"] and s["duration_ns"] >= (longest // 1000) * 1000}
assert {t["traceID"] for t in j["data"]} == want, (j, want)
t0 = min(s["time_ns"] for s in spans) // 1000
code, j = get("/api/traces?service=hellosvc&start=%d&end=%d" % (t0 - 10**9, t0 - 10**6))
assert j["data"] == [], j
code, j = get("/api/traces?service=hellosvc&start=%d&end=%d&limit=1" % (t0, t0 + 10**9))
assert len(j["data"]) == 1, j
code, j = get("/api/traces?service=nosuch")
assert code == 200 and j["data"] == [], j
print("ok: search by service, operation, tags (attributes, error, span.kind), minDuration, start/end, limit")

# 3. names
code, j = get("/api/services")
assert code == 200 and "hellosvc" in j["data"], j
code, j = get("/api/services/hellosvc/operations")
assert sorted(j["data"]) == sorted({s["name"] for s in spans}), j
code, j = get("/api/operations?service=hellosvc")
assert sorted(o["name"] for o in j["data"]) == sorted({s["name"] for s in spans}), j
print("ok: services and operations")

# 4. errors
for path, param in [("/api/traces", "service"), ("/api/traces?service=a&minDuration=abc", "minDuration"),
                    ("/api/traces?service=a&maxDuration=5", "maxDuration"), ("/api/traces?service=a&start=x", "start"),
                    ("/api/traces?service=a&end=-1", "end"), ("/api/traces?service=a&limit=many", "limit"),
                    ("/api/traces?service=a&tags=%7Bnope", "tags"), ("/api/traces/xyz", "trace id"),
                    ("/api/operations", "service")]:
    code, j = get(path)
    assert code == 400, (path, code, j)
    assert j["data"] is None and j["errors"][0]["code"] == 400 and param in j["errors"][0]["msg"], (path, j)
code, j = get("/api/traces/0123456789abcdef0123456789abcdef")
assert code == 404 and j["errors"][0]["code"] == 404, j
print("ok: 400 naming the parameter, 404 for an unknown trace")
PY
}

check_all || fail "Jaeger API check"

# 6. the CLI: `telltale trace ID` (waterfall) and `telltale trace search`
tid=$(python3 -c 'import json,sys
for l in open(sys.argv[1]):
    o = json.loads(l)
    if o.get("name") == "GET /greeting": print(o["trace_id"]); break' "$work/expected.json")
"$tt" trace --server "$base" "$tid" >"$work/trace.out" 2>&1 || fail "telltale trace: $(cat "$work/trace.out")"
cat "$work/trace.out"
python3 - "$work/expected.json" "$work/trace.out" "$tid" <<'PY' || fail "telltale trace output"
import json, sys
spans = [o for o in map(json.loads, open(sys.argv[1])) if o.get("type") == "span" and o["trace_id"] == sys.argv[3]]
lines = open(sys.argv[2]).read().splitlines()
assert lines[0].startswith("trace ") and ("%d spans" % len(spans)) in lines[0], lines[0]
body = lines[2:]
assert len(body) == len(spans), body
by_id = {s["span_id"]: s for s in spans}
depth = {}
def d(s):
    p = s["parent_id"]
    return 0 if p not in by_id else 1 + d(by_id[p])
for s in spans:
    # each span once, indented two spaces per level below its root
    want = " " * (2 * d(s)) + ("- " if d(s) else "") + s["name"]
    # columns: start %10s, duration %10s, service %-14s, operation %-36s
    assert sum(1 for l in body if l[38:74].rstrip() == want and l[23:37].rstrip() == "hellosvc") == \
        sum(1 for o in spans if o["name"] == s["name"] and d(o) == d(s)), (want, body)
assert body[0].split()[0] == "0.000ms", body[0]
print("ok: telltale trace prints the %d spans as a tree" % len(spans))
PY
"$tt" trace search --server "$base" --service hellosvc --since 1h >"$work/search.out" 2>&1 ||
    fail "telltale trace search: $(cat "$work/search.out")"
ntr=$(python3 -c 'import json,sys
print(len({o["trace_id"] for o in map(json.loads, open(sys.argv[1])) if o.get("type") == "span"}))' "$work/expected.json")
[[ $(($(wc -l <"$work/search.out") - 1)) -eq $ntr ]] || fail "trace search listed: $(cat "$work/search.out")"
grep -q "${tid#0000000000000000}" "$work/search.out" || fail "trace search misses $tid: $(cat "$work/search.out")"
"$tt" trace search --server "$base" --service hellosvc --tag http.status_code=200 >"$work/search2.out" ||
    fail "trace search --tag"
[[ $(wc -l <"$work/search2.out") -eq 2 ]] || fail "trace search --tag listed: $(cat "$work/search2.out")"
"$tt" trace --server "$base" 0123456789abcdef0123456789abcdef >"$work/nf.out" 2>&1 && fail "an unknown trace exited 0"
grep -q "404: trace not found" "$work/nf.out" || fail "unknown trace: $(cat "$work/nf.out")"
echo "ok: telltale trace search lists $ntr traces; unknown trace: $(cat "$work/nf.out")"
kill -TERM "$apid"
wait "$apid" || true
apid=
kill9_server
start_server --agents "127.0.0.1:$aport"
check_all || fail "Jaeger API check after kill -9 and restart"
grep -q 'damaged' "$work/server.err" && fail "the span store reported damage"
stop_server
echo "PASS"
