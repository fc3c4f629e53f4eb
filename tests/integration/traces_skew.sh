#!/usr/bin/env bash
# traces_skew.sh SRC_DIR BUILD_DIR - clock-skew placement, critical path and
# trace diff through a real `telltale server`. Two services on two nodes
# send OTLP/JSON spans; node app-1's clock is injected 10 ms behind: its
# server span and the span under it are stored starting 5 ms before the
# client call that caused them. libtelltale has no clock-offset hook, so
# the injection is what a libtelltale-propagated context carries: the
# span's traceState "tt=<16 hex>" HLC, whose ms run 10 ms ahead of its
# stored start (trace 1). Trace 2 has the same skew and no HLC. Checks:
#  1. /api/traces/<id>: the placed server span starts after its client
#     parent, with a Jaeger warning naming +10.000ms, the HLC and the 5 ms
#     the stored times disagreed by; raw=true gives the stored times and no
#     warnings (a moved span's logs move with it); without HLC the server
#     span is centred in the call.
#  2. /api/tt/traces/<id>: per node offsets (app-1: 10 ms, from the HLC),
#     raw and placed start, adjustment, depth, self time, critical flags.
#  3. /api/tt/traces/<id>/critical_path covers the root's duration.
#  4. /api/tt/traces/diff: matched, only-in-A/B spans, the slower span.
#  5. Bad parameters: 400 with the reason; an unknown trace 404.
#  6. `telltale trace ID --critical` and `telltale trace diff A B` print it.
set -euo pipefail
build=${2:?usage: traces_skew.sh SRC_DIR BUILD_DIR}
source "$(dirname "$0")/lib/server.sh"
command -v curl >/dev/null || { echo "SKIP: no curl"; exit 0; }

start_server

python3 - "$work" <<'PY'
import json, sys
work = sys.argv[1]
T = 1700000000000  # ms
def hlc(ms, c=0): return "tt=%016x" % (ms << 16 | c)
def span(tid, sid, parent, name, kind, start_ms, dur_ms, ts=None):
    s = {"traceId": tid, "spanId": sid, "name": name, "kind": kind,
         "startTimeUnixNano": str((T + start_ms) * 1000000),
         "endTimeUnixNano": str((T + start_ms + dur_ms) * 1000000)}
    if parent: s["parentSpanId"] = parent
    if ts: s["traceState"] = ts
    return s
def res(svc, host, spans):
    return {"resource": {"attributes": [
        {"key": "service.name", "value": {"stringValue": svc}},
        {"key": "host.name", "value": {"stringValue": host}}]},
        "scopeSpans": [{"spans": spans}]}
A = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa1"
B = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb2"
# trace A: with HLCs (front's clock fine: HLC = its start; app-1 10 ms behind)
front = [span(A, "00000000000000a1", None, "GET /", 2, 0, 100, "vendor=x," + hlc(T)),
         span(A, "00000000000000a2", "00000000000000a1", "call back", 3, 10, 50, hlc(T + 10))]
back = [dict(span(A, "00000000000000a3", "00000000000000a2", "serve", 2, 5, 40, hlc(T + 15, 1)),
             events=[{"timeUnixNano": str((T + 6) * 1000000), "name": "got it"}]),
        span(A, "00000000000000a4", "00000000000000a3", "work", 1, 7, 30, hlc(T + 17))]
# trace B: no HLC, same skew, the work slower and an extra cache call
front_b = [span(B, "00000000000000b1", None, "GET /", 2, 0, 120),
           span(B, "00000000000000b2", "00000000000000b1", "call back", 3, 10, 50),
           span(B, "00000000000000b5", "00000000000000b1", "cache get", 3, 70, 20)]
back_b = [span(B, "00000000000000b3", "00000000000000b2", "serve", 2, 5, 40),
          span(B, "00000000000000b4", "00000000000000b3", "work", 1, 7, 35)]
doc = {"resourceSpans": [res("front", "web-1", front + front_b), res("back", "app-1", back + back_b)]}
json.dump(doc, open(work + "/spans.json", "w"))
PY
code=$(curl -s -o "$work/resp" -w '%{http_code}' -X POST -H "Content-Type: application/json" \
    --data-binary "@$work/spans.json" "$base/v1/traces")
[[ $code == 200 ]] || fail "OTLP post: $code $(cat "$work/resp")"

A=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa1
B=bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb2
T_US=1700000000000000
# the span indexer runs every 150 ms: wait for both traces
for _ in $(seq 1 100); do
    out=$(http GET "$base/api/traces/$B")
    [[ $(cat "$work/code") == 200 ]] && python3 -c "import json,sys; sys.exit(0 if len(json.loads(sys.argv[1])['data'][0]['spans']) == 5 else 1)" "$out" && break
    sleep 0.1
done
[[ $(cat "$work/code") == 200 ]] || fail "trace B not found: $out"

# 1. Jaeger API: placed, with warnings; raw=true as stored
out=$(http GET "$base/api/traces/$A")
[[ $(cat "$work/code") == 200 ]] || fail "GET trace A: $out"
check_json "$out" "
(lambda sp: sp['00000000000000a3']['startTime'] == $T_US + 15000
  and sp['00000000000000a3']['startTime'] >= sp['00000000000000a2']['startTime']
  and sp['00000000000000a4']['startTime'] == $T_US + 17000
  and sp['00000000000000a3']['logs'][0]['timestamp'] == $T_US + 16000
  and sp['00000000000000a2']['startTime'] == $T_US + 10000
  and sp['00000000000000a2']['warnings'] is None
  and '+10.000ms' in sp['00000000000000a3']['warnings'][0]
  and 'clock skew adjustment' in sp['00000000000000a3']['warnings'][0]
  and 'HLC' in sp['00000000000000a3']['warnings'][0]
  and '5.000ms' in sp['00000000000000a3']['warnings'][0]
)({s['spanID']: s for s in j['data'][0]['spans']})" "placed trace A with warnings"
out=$(http GET "$base/api/traces/$A?raw=true")
check_json "$out" "
(lambda sp: sp['00000000000000a3']['startTime'] == $T_US + 5000
  and all(s['warnings'] is None for s in sp.values())
  and sp['00000000000000a3']['logs'][0]['timestamp'] == $T_US + 6000
)({s['spanID']: s for s in j['data'][0]['spans']})" "raw trace A"
out=$(http GET "$base/api/traces/$B")
check_json "$out" "
(lambda sp: sp['00000000000000b3']['startTime'] == $T_US + 15000
  and 'no HLC' in sp['00000000000000b3']['warnings'][0]
  and sp['00000000000000b4']['startTime'] - sp['00000000000000b3']['startTime'] == 2000
)({s['spanID']: s for s in j['data'][0]['spans']})" "trace B centred (Jaeger adjuster)"

# 2. the Telltale view
out=$(http GET "$base/api/tt/traces/$A")
[[ $(cat "$work/code") == 200 ]] || fail "tt trace A: $out"
check_json "$out" "
(lambda d, sp, nd: nd['app-1']['offset_ns'] == 10000000 and nd['app-1']['reason'] == 'hlc'
  and nd['web-1']['offset_ns'] == 0
  and sp['00000000000000a3']['start_ns'] == ($T_US + 5000) * 1000
  and sp['00000000000000a3']['placed_start_ns'] == ($T_US + 15000) * 1000
  and sp['00000000000000a3']['adjust_ns'] == 10000000
  and sp['00000000000000a3']['disagree_ns'] == 5000000
  and sp['00000000000000a3']['depth'] == 2 and sp['00000000000000a4']['depth'] == 3
  and sp['00000000000000a3']['self_ns'] == 10000000
  and sp['00000000000000a1']['self_ns'] == 50000000
  and all(s['critical'] for s in sp.values())
  and d['spans'][0]['spanID'] == '00000000000000a1'
  and d['duration_ns'] == 100000000
)(j['data'], {s['spanID']: s for s in j['data']['spans']}, {n['node']: n for n in j['data']['nodes']})" "tt view of A"
out=$(http GET "$base/api/tt/traces/$A?raw=1")
check_json "$out" "all(s['adjust_ns'] == 0 for s in j['data']['spans']) and not j['data']['placed']" "tt raw view"

# 3. critical path
out=$(http GET "$base/api/tt/traces/$B/critical_path")
[[ $(cat "$work/code") == 200 ]] || fail "critical path: $out"
check_json "$out" "
sum(s['duration_ns'] for s in j['data']['segments']) == 120000000
and [s['operation'] for s in j['data']['segments']][-2:] == ['cache get', 'GET /']
and j['data']['segments'][0]['spanID'] == '00000000000000b1'" "critical path of B"

# 4. diff
out=$(http GET "$base/api/tt/traces/diff?a=$A&b=$B")
[[ $(cat "$work/code") == 200 ]] || fail "diff: $out"
check_json "$out" "
(lambda s, nd: s['matched'] == 4 and s['only_a'] == 0 and s['only_b'] == 1
  and s['duration_delta_ns'] == 20000000
  and nd['front:GET /#0/front:call back#0/back:serve#0/back:work#0']['duration_delta_ns'] == 5000000
  and nd['front:GET /#0/front:cache get#0']['in'] == 'b'
  and s['largest_deltas'][0]['path'] == 'front:GET /#0'
)(j['data']['summary'], {n['path']: n for n in j['data']['nodes']})" "diff A B"

# 5. bad parameters and unknown traces
expect() { # CODE URL TEXT
    local o
    o=$(http GET "$base$2")
    [[ $(cat "$work/code") == "$1" ]] || fail "$2: want $1, got $(cat "$work/code"): $o"
    [[ $o == *"$3"* ]] || fail "$2: answer lacks '$3': $o"
}
expect 400 "/api/tt/traces/xyz" "is not a trace id"
expect 400 "/api/tt/traces/diff?a=$A" "parameter 'b' is missing"
expect 400 "/api/tt/traces/diff?a=$A&b=nothex" "parameter 'b'"
expect 400 "/api/tt/traces/$A?raw=maybe" "parameter 'raw'"
expect 400 "/api/traces/$A?raw=maybe" "parameter 'raw'"
expect 404 "/api/tt/traces/123456" "not found"
expect 404 "/api/tt/traces/123456/critical_path" "not found"
expect 404 "/api/tt/traces/diff?a=$A&b=123456" "not found"

# 6. the CLI
"$tt" trace --server "$base" --critical "$A" >"$work/cli" || fail "telltale trace: $(cat "$work/cli")"
grep -q "node app-1: clock offset +10.000ms (from its HLC)" "$work/cli" || fail "cli offsets: $(cat "$work/cli")"
grep -E '^\* .*serve.*\[skew \+10\.000ms\]' "$work/cli" >/dev/null || fail "cli skew mark: $(cat "$work/cli")"
"$tt" trace --server "$base" --raw "$A" >"$work/cli" || fail "telltale trace --raw"
grep -q "clocks disagree by 5.000ms" "$work/cli" || fail "cli raw: $(cat "$work/cli")"
"$tt" trace diff --server "$base" "$A" "$B" >"$work/cli" || fail "telltale trace diff: $(cat "$work/cli")"
grep -q "4 spans matched, 0 only in A, 1 only in B" "$work/cli" || fail "cli diff: $(cat "$work/cli")"
grep -qE '^\+ .*front:GET /#0/front:cache get#0' "$work/cli" || fail "cli diff only-B: $(cat "$work/cli")"
"$tt" trace diff --server "$base" "$A" >/dev/null 2>&1 && fail "trace diff with one id succeeded"
"$tt" trace --help | grep -q -- "--critical" || fail "trace --help lacks --critical"

[[ -n "${TT_SHOW:-}" ]] && { "$tt" trace --server "$base" --critical "$A"; "$tt" trace diff --server "$base" "$A" "$B"; }
stop_server
echo "OK traces_skew"
