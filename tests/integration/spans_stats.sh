#!/usr/bin/env bash
# spans_stats.sh SRC_DIR BUILD_DIR - span analytics end to end: about 3,000
# spans of known durations, services, operations and errors are sent as
# Zipkin v2 JSON to a real server; then
#  1. GET /api/tt/spans/stats (by operation and by service, whole window and
#     a part of it, times as RFC 3339, Unix seconds and milliseconds) gives
#     the exact count, errors, min, max and avg and quantiles within the
#     sketch's relative error of the exact ones computed here;
#  2. /api/tt/spans/slowest and /api/tt/traces/slowest give the longest
#     spans and traces (root duration, or extent for the traces whose root
#     was not sent) computed here;
#  3. bad parameters are 400 naming the parameter;
#  4. `telltale trace stats` and `telltale trace slowest` print the same;
#  5. after kill -9 and a restart (summaries read back from the sidecars),
#     the same stats.
set -euo pipefail
build=${2:?usage: spans_stats.sh SRC_DIR BUILD_DIR}
. "$(dirname "$0")/lib/server.sh"

start_server
now_s=$(date +%s)
python3 - "$work" "$now_s" <<'PY'
import json, random, sys
work, now = sys.argv[1], int(sys.argv[2])
random.seed(5)
t0 = (now - 3000) * 1000000          # microseconds, 50 minutes ago
svcs = {"frontend": ["GET /", "GET /cart"], "checkout": ["POST /buy", "quote"],
        "payment": ["charge"]}
spans, batch = [], []
for t in range(1000):
    tid = "%016x%016x" % (0xabc0000000000000 + t, random.getrandbits(64))
    start = t0 + t * 2000000 // 1  # one trace every 2 s
    root_dur = random.randint(200, 900000)
    orphan = t % 9 == 4
    root = {"traceId": tid, "id": "%016x" % (t * 4 + 1), "name": random.choice(svcs["frontend"]),
            "kind": "SERVER", "timestamp": start, "duration": root_dur,
            "localEndpoint": {"serviceName": "frontend"}}
    if random.random() < 0.05:
        root["tags"] = {"error": "boom"}
    kids = []
    for k in range(2):
        svc = "checkout" if k == 0 else "payment"
        d = int(random.lognormvariate(9, 1.2)) + 1
        if orphan and k == 0:
            d = 1500000 + random.randint(0, 500000)  # a long child under a missing root
        s = {"traceId": tid, "id": "%016x" % (t * 4 + 2 + k), "parentId": "%016x" % (t * 4 + 1),
             "name": random.choice(svcs[svc]), "kind": "CLIENT",
             "timestamp": start + 100 + k * 50, "duration": d,
             "localEndpoint": {"serviceName": svc}}
        if random.random() < 0.1:
            s["tags"] = {"error": "true"}
        kids.append(s)
    for s in ([] if orphan else [root]) + kids:
        spans.append(s)
json.dump(spans, open(work + "/spans.json", "w"))
for i in range(0, len(spans), 500):
    json.dump(spans[i:i + 500], open(work + "/batch%03d.json" % (i // 500), "w"))
open(work + "/window", "w").write("%d %d\n" % (t0 // 1000000 - 1, t0 // 1000000 + 2100))
PY
for f in "$work"/batch*.json; do
    code=$(curl -s -o "$work/resp" -w '%{http_code}' -H 'Content-Type: application/json' \
        --data-binary "@$f" "$base/api/v2/spans")
    [[ $code == 202 ]] || fail "zipkin post $f: $code $(cat "$work/resp")"
done
read -r wstart wend <"$work/window"

check_all() {
    python3 - "$work" "$base" "$wstart" "$wend" "$build/telltale" <<'PY'
import datetime, json, subprocess, sys, time, urllib.error, urllib.parse, urllib.request
work, base, wstart, wend, tt = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
spans = json.load(open(work + "/spans.json"))
REL = 1 / 256

def get(path, **params):
    url = base + path + "?" + urllib.parse.urlencode(params)
    try:
        with urllib.request.urlopen(url, timeout=60) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())

def err(s):
    return "error" in s.get("tags", {})

def expect(lo_us, hi_us, key):
    groups = {}
    for s in spans:
        if lo_us <= s["timestamp"] <= hi_us:
            groups.setdefault(key(s), []).append(s)
    return groups

def check_rows(rows, groups, by_op, what):
    got = {(r["service"], r["operation"]): r for r in rows}
    assert len(got) == len(groups), (what, sorted(got), sorted(groups))
    for k, ss in groups.items():
        r = got[k if by_op else (k[0], None)]
        d = sorted(s["duration"] * 1000 for s in ss)  # ns
        n = len(d)
        assert r["count"] == n, (what, k, r, n)
        e = sum(1 for s in ss if err(s))
        assert r["errors"] == e, (what, k, r["errors"], e)
        assert abs(r["error_rate"] - e / n) < 1e-9
        assert abs(r["min_ms"] - d[0] / 1e6) < 1e-9 and abs(r["max_ms"] - d[-1] / 1e6) < 1e-9, (r, d[0], d[-1])
        assert abs(r["avg_ms"] - sum(d) / n / 1e6) < 1e-6 * max(1, r["avg_ms"]), (r["avg_ms"], sum(d) / n / 1e6)
        for q, f in ((0.5, "p50_ms"), (0.9, "p90_ms"), (0.99, "p99_ms"), (0.999, "p999_ms")):
            exact = d[int(q * (n - 1))] / 1e6
            assert abs(r[f] - exact) <= exact * REL + 1e-6, (what, k, f, r[f], exact)

# wait for the indexer
deadline = time.time() + 30
while True:
    code, j = get("/api/tt/spans/stats", start=wstart, end=wend, by="service")
    if code == 200 and sum(r["count"] for r in j["data"]["rows"]) == len(spans):
        break
    if time.time() > deadline:
        sys.exit("stats never counted %d spans: %s" % (len(spans), json.dumps(j)[:400]))
    time.sleep(0.3)

# 1. stats, whole window, by operation and by service
lo, hi = wstart * 1000000, wend * 1000000
code, j = get("/api/tt/spans/stats", start=wstart, end=wend)
assert code == 200 and j["status"] == "success", j
assert j["data"]["by"] == "operation"
check_rows(j["data"]["rows"], expect(lo, hi, lambda s: (s["localEndpoint"]["serviceName"], s["name"])), True, "all by op")
check_rows(get("/api/tt/spans/stats", start=wstart, end=wend, by="service")[1]["data"]["rows"],
           expect(lo, hi, lambda s: (s["localEndpoint"]["serviceName"], None)), False, "all by service")
# a part of the window (straddling blocks), as RFC 3339 and as Unix milliseconds
a_s, b_s = wstart + 301, wstart + 1234
rfc = lambda s: datetime.datetime.fromtimestamp(s, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
code, j = get("/api/tt/spans/stats", start=rfc(a_s), end=str(b_s * 1000 + 500))
assert code == 200, j
part = expect(a_s * 1000000, b_s * 1000000 + 500999, lambda s: (s["localEndpoint"]["serviceName"], s["name"]))
check_rows(j["data"]["rows"], part, True, "part")
# filters
code, j = get("/api/tt/spans/stats", start=wstart, end=wend, service="checkout", operation="quote")
check_rows(j["data"]["rows"], {k: v for k, v in expect(lo, hi, lambda s: (s["localEndpoint"]["serviceName"], s["name"])).items()
                               if k == ("checkout", "quote")}, True, "filtered")
# an empty window
code, j = get("/api/tt/spans/stats", start=wstart - 7200, end=wstart - 3600)
assert code == 200 and j["data"]["rows"] == [], j
print("ok: stats by operation and service, whole and part window, filters, empty")

# 2. slowest spans and traces
durs = sorted(((s["duration"] * 1000, s["id"]) for s in spans), reverse=True)
code, j = get("/api/tt/spans/slowest", start=wstart, end=wend, limit=15)
assert code == 200, j
got = j["data"]["spans"]
assert [g["duration_ns"] for g in got] == [d for d, _ in durs[:15]], ([g["duration_ns"] for g in got], durs[:15])
byid = {s["id"]: s for s in spans}
for g in got:
    s = byid[g["span_id"]]
    assert g["service"] == s["localEndpoint"]["serviceName"] and g["operation"] == s["name"]
    assert g["trace_id"] == s["traceId"] and g["start_unix_ms"] == s["timestamp"] // 1000, (g, s)
pay = sorted((s["duration"] * 1000 for s in spans if s["localEndpoint"]["serviceName"] == "payment"), reverse=True)
code, j = get("/api/tt/spans/slowest", start=wstart, end=wend, limit=5, service="payment")
assert [g["duration_ns"] for g in j["data"]["spans"]] == pay[:5], j
traces = {}
for s in spans:
    traces.setdefault(s["traceId"], []).append(s)
want = []
for tid, ss in traces.items():
    roots = [s for s in ss if "parentId" not in s]
    if roots:
        want.append((roots[0]["duration"] * 1000, tid, "root"))
    else:
        st = min(s["timestamp"] for s in ss)
        en = max(s["timestamp"] + s["duration"] for s in ss)
        want.append(((en - st) * 1000, tid, "extent"))
want.sort(key=lambda w: (-w[0], w[1]))
code, j = get("/api/tt/traces/slowest", start=wstart, end=wend, limit=150)
assert code == 200, j
got = j["data"]["traces"]
assert [(g["duration_ns"], g["duration_from"]) for g in got] == [(w[0], w[2]) for w in want[:150]], (got[:3], want[:3])
assert {g["duration_from"] for g in got} == {"root", "extent"}, "both kinds expected in the top 150"
print("ok: slowest spans (all, by service) and traces (root and extent)")

# 3. bad parameters
for params, name in (({"start": "yesterday"}, "start"), ({"end": "12:00"}, "end"),
                     ({"by": "node"}, "by"), ({"start": "200", "end": "100"}, "end"),
                     ({"operation": "quote"}, "operation")):
    code, j = get("/api/tt/spans/stats", **params)
    assert code == 400 and j["status"] == "error" and ('"%s"' % name) in j["error"], (params, code, j)
for path in ("/api/tt/spans/slowest", "/api/tt/traces/slowest"):
    for v in ("0", "x", "1001", "-3"):
        code, j = get(path, limit=v)
        assert code == 400 and '"limit"' in j["error"], (path, v, j)
print("ok: bad parameters are 400 naming them")

# 4. the CLI
def run(*args):
    p = subprocess.run([tt, "trace"] + list(args) + ["--server", base], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, (args, p.returncode, p.stderr)
    return p.stdout
out = run("stats", "--start", str(wstart), "--end", str(wend), "--json")
code, j = get("/api/tt/spans/stats", start=wstart, end=wend)
assert json.loads(out)["rows"] == j["data"]["rows"], "CLI --json differs from the API"
out = run("stats", "--start", str(wstart), "--end", str(wend))
lines = out.splitlines()
assert lines[0].split()[:4] == ["SERVICE", "OPERATION", "COUNT", "ERRORS"], lines[0]
for r in j["data"]["rows"]:
    row = [l for l in lines if l.startswith(r["service"] + " ") and (" " + r["operation"] + " ") in l]
    assert len(row) == 1 and (" %d " % r["count"]) in row[0], (r, row)
widths = {len(l) for l in lines}
assert len(widths) == 1, "table not aligned: %s" % widths
out = run("stats", "--start", str(wstart), "--end", str(wend), "--by", "service", "--service", "payment")
assert len(out.splitlines()) == 2 and out.splitlines()[1].split()[0] == "payment", out
out = run("slowest", "--traces", "--start", str(wstart), "--end", str(wend), "--limit", "3")
assert len(out.splitlines()) == 4 and want[0][1] in out.splitlines()[1], (out, want[0])
out = run("slowest", "--start", str(wstart), "--end", str(wend), "--limit", "2", "--json")
assert [s["duration_ns"] for s in json.loads(out)["spans"]] == [d for d, _ in durs[:2]]
p = subprocess.run([tt, "trace", "stats", "--server", base, "--start", "nope"], capture_output=True, text=True)
assert p.returncode != 0 and '"start"' in p.stderr, (p.returncode, p.stderr)
print("ok: telltale trace stats / slowest")
PY
}
check_all || fail "checks"

# 5. kill -9 and restart: the summaries are read back (nothing rebuilt)
ls "$work/data/spans/"*.sum >/dev/null 2>&1 || fail "no summary sidecar in $work/data/spans"
kill9_server
start_server
grep -q "rebuilding" "$work/server.err" && fail "summaries rebuilt after a restart"
check_all || fail "checks after restart"
stop_server
echo "PASS spans_stats"
