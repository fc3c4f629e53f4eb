#!/usr/bin/env bash
# span_deps.sh SRC_DIR BUILD_DIR - span metrics and the service graph: a
# server with spans_metrics_interval = 1s takes OTLP/JSON traces through three
# services on three nodes (frontend -> checkout -> payments), sent callee
# first so children arrive before their parents, and the test checks:
#  1. GET /api/dependencies (Jaeger's shape) has the edges with their calls,
#     among them checkout -> postgresql, a virtual node named by db.system on
#     client spans no server span answers;
#  2. GET /api/tt/dependencies: calls, errors, error rate, latency quantiles
#     in the right buckets, bytes each way, node pairs with per-step counts
#     adding up to the messages;
#  3. PromQL over the derived series: calls per service, rate(), and
#     histogram_quantile over telltale_span_duration_seconds_bucket;
#  4. the server's own /metrics count the spans and pairs;
#  5. `telltale trace deps` prints the edges; bad parameters are 400;
#  6. after a restart (counters start again at 0) the counts are the same,
#     and the same traffic sent again doubles them across the reset.
set -euo pipefail
build=${2:?usage: span_deps.sh SRC_DIR BUILD_DIR}
. "$(dirname "$0")/lib/server.sh"

cat >"$work/server.conf" <<EOF
spans_metrics_interval = 1s
spans_graph_wait = 2s
EOF
start_server --config "$work/server.conf"

# send_traces ROUND: five traces (ids per round); the payments call of the
# first fails.
send_traces() {
python3 - "$work" "$1" <<'PY'
import json, os, sys, time
work, rnd = sys.argv[1], int(sys.argv[2])
now = time.time_ns()
def span(tid, sid, pid, name, kind, start_ms, dur_ms, attrs=(), error=False, sattrs=()):
    s = {"traceId": tid, "spanId": sid, "name": name, "kind": kind,
         "startTimeUnixNano": str(now + start_ms * 10**6),
         "endTimeUnixNano": str(now + (start_ms + dur_ms) * 10**6),
         "attributes": [{"key": k, "value": {"intValue": str(v)}} for k, v in attrs] +
                       [{"key": k, "value": {"stringValue": v}} for k, v in sattrs]}
    if pid:
        s["parentSpanId"] = pid
    if error:
        s["status"] = {"code": 2, "message": "card declined"}
    return s
per = {"frontend": [], "checkout": [], "payments": []}
for i in range(5):
    tid = "%032x" % (0xabc000 + 16 * rnd + i)
    ids = ["%016x" % (0x1000 * (i + 1) + k) for k in range(6)]
    per["frontend"] += [span(tid, ids[0], None, "GET /buy", 2, 0, 60),
                        span(tid, ids[1], ids[0], "POST /checkout", 3, 1, 50,
                             [("http.request.body.size", 100), ("http.response.body.size", 2000)])]
    per["checkout"] += [span(tid, ids[2], ids[1], "POST /checkout", 2, 2, 40),
                        span(tid, ids[3], ids[2], "charge", 3, 3, 20),
                        span(tid, ids[5], ids[2], "SELECT orders", 3, 30, 5,
                             sattrs=[("db.system", "postgresql")])]
    per["payments"] += [span(tid, ids[4], ids[3], "charge", 2, 4, 9, error=(i == 0))]
node = {"frontend": "node-a", "checkout": "node-b", "payments": "node-c"}
for svc in ["payments", "checkout", "frontend"]:  # callees first
    body = {"resourceSpans": [{"resource": {"attributes": [
        {"key": "service.name", "value": {"stringValue": svc}},
        {"key": "host.name", "value": {"stringValue": node[svc]}}]},
        "scopeSpans": [{"spans": per[svc]}]}]}
    open(os.path.join(work, svc + ".json"), "w").write(json.dumps(body))
PY
for svc in payments checkout frontend; do
    python3 - "$base" "$work/$svc.json" <<'PY' || fail "POST /v1/traces $svc"
import sys, urllib.request
req = urllib.request.Request(sys.argv[1] + "/v1/traces", data=open(sys.argv[2], "rb").read(),
                             headers={"Content-Type": "application/json"}, method="POST")
with urllib.request.urlopen(req, timeout=30) as r:
    assert r.status == 200, r.status
PY
done
}
send_traces 0

# check_all N: the answers after N rounds of traces
check_all() {
    python3 - "$base" "$1" <<'PY'
import json, sys, time, urllib.request, urllib.error, urllib.parse
base, N = sys.argv[1], int(sys.argv[2])
def get(path):
    try:
        with urllib.request.urlopen(base + path, timeout=30) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())

# 1. Jaeger's dependencies, once the indexer and a flush have run
want = {("frontend", "checkout"): 5 * N, ("checkout", "payments"): 5 * N,
        ("checkout", "postgresql"): 5 * N}  # a virtual node: the database
deadline = time.time() + 30
while True:
    now_ms = int(time.time() * 1000)
    code, j = get("/api/dependencies?endTs=%d&lookback=3600000" % now_ms)
    got = {(d["parent"], d["child"]): d["callCount"] for d in (j.get("data") or [])}
    if code == 200 and got == want:
        break
    if time.time() > deadline:
        sys.exit("dependencies: %d %s" % (code, json.dumps(j)[:400]))
    time.sleep(0.3)
assert j["total"] == 3 and j["limit"] == 0 and j["offset"] == 0 and j["errors"] is None, j
print("ok: /api/dependencies", sorted(got.items()))
code, j = get("/api/dependencies?endTs=%d&lookback=1000" % (now_ms - 3600 * 1000))
assert code == 200 and j["data"] == [], j
for bad in ["endTs=abc", "lookback=-5", "endTs=1.5"]:
    code, j = get("/api/dependencies?" + bad)
    assert code == 400 and j["errors"][0]["code"] == 400, (bad, j)
    assert bad.split("=")[0] in j["errors"][0]["msg"], j
print("ok: an old window is empty; bad endTs/lookback are 400")

# 2. Telltale's dependencies
end = int(time.time()) + 1  # whole seconds (ten steps), after the last flush
code, j = get("/api/tt/dependencies?start=%d&end=%d&step=60" % (end - 600, end))
assert code == 200 and j["status"] == "success", j
d = j["data"]
edges = {(e["client"], e["server"]): e for e in d["edges"]}
assert set(edges) == set(want), edges
fc, cp = edges[("frontend", "checkout")], edges[("checkout", "payments")]
assert fc["calls"] == 5 * N and fc["errors"] == 0 and fc["error_rate"] == 0, fc
assert cp["calls"] == 5 * N and cp["errors"] == N and abs(cp["error_rate"] - 0.2) < 1e-9, cp
# client 50 ms, server 40 ms: both in (0.01, 0.05]; payments 9 ms in (0.008, 0.01]
for q in ("p50", "p90", "p99"):
    assert 0.01 < fc["client_latency_seconds"][q] <= 0.05, fc
    assert 0.01 < fc["server_latency_seconds"][q] <= 0.05, fc
    assert 0.01 < cp["client_latency_seconds"][q] <= 0.05, cp
    assert 0.008 < cp["server_latency_seconds"][q] <= 0.01, cp
db = edges[("checkout", "postgresql")]
assert db["calls"] == 5 * N and db["errors"] == 0, db
assert 0.004 < db["client_latency_seconds"]["p50"] <= 0.006, db
assert db["server_latency_seconds"] == {"p50": None, "p90": None, "p99": None}, db
assert fc["bytes_request"] == 500 * N and fc["bytes_response"] == 10000 * N, fc
assert cp["bytes_request"] == 0 and cp["bytes_response"] == 0, cp
nodes = {(n["client_node"], n["server_node"]): n for n in d["node_pairs"]}
assert set(nodes) == {("node-a", "node-b"), ("node-b", "node-c")}, nodes
ab = nodes[("node-a", "node-b")]
assert ab["messages"] == 5 * N and ab["bytes_request"] == 500 * N, ab
assert ab["bytes_response"] == 10000 * N, ab
for n in nodes.values():
    assert len(n["series"]) == 10, n
    assert sum(v for _, v in n["series"]) == 5 * N, n
    ts = [t for t, _ in n["series"]]
    assert all(b - a == 60 for a, b in zip(ts, ts[1:])), ts
print("ok: /api/tt/dependencies: calls, errors, rate, latency buckets, bytes, node pairs per step")
for bad, what in [("step=abc", "step"), ("start=xyz", "start"), ("start=100&end=50", "end"),
                  ("start=0&end=100000&step=1", "resolution")]:
    code, j = get("/api/tt/dependencies?" + bad)
    assert code == 400 and what in j["error"], (bad, j)

# 3. PromQL over the derived series
def q(expr):
    code, j = get("/api/v1/query?query=" + urllib.parse.quote(expr))
    assert code == 200, (expr, j)
    return j["data"]["result"]
calls = {r["metric"]["service"]: float(r["value"][1])
         for r in q('sum by (service) (telltale_span_calls_total)')}
assert calls == {"frontend": 10, "checkout": 15, "payments": 5}, calls
rates = {r["metric"]["service"]: float(r["value"][1])
         for r in q('sum by (service) (rate(telltale_span_calls_total[1m]))')}
assert set(rates) == {"frontend", "checkout", "payments"}, rates
errs = q('sum(telltale_span_calls_total{status_code="STATUS_CODE_ERROR"})')
assert float(errs[0]["value"][1]) == 1, errs
p50 = q('histogram_quantile(0.5, sum by (le) (telltale_span_duration_seconds_bucket{service="payments"}))')
assert 0.008 < float(p50[0]["value"][1]) <= 0.01, p50
p90 = q('histogram_quantile(0.9, sum by (le) (telltale_span_duration_seconds_bucket{service="frontend"}))')
assert 0.05 < float(p90[0]["value"][1]) <= 0.1, p90  # 60 ms roots
g = q('sum(telltale_service_graph_request_failed_total) / sum(telltale_service_graph_requests_total)')
assert abs(float(g[0]["value"][1]) - 1 / 15) < 1e-9, g
v = q('sum by (server) (telltale_service_graph_requests_total{connection_type="virtual_node"})')
assert [(r["metric"]["server"], float(r["value"][1])) for r in v] == [("postgresql", 5)], v
print("ok: PromQL calls by service", calls, "p50(payments)", p50[0]["value"][1])
PY
}

check_all 1 || fail "dependency checks"

# 4. the server's own metrics
http GET "$base/metrics" >"$work/metrics.txt"
grep -q '^telltale_span_metrics_spans_total 30$' "$work/metrics.txt" ||
    fail "span metrics spans: $(grep telltale_span_metrics "$work/metrics.txt")"
grep -q '^telltale_span_metrics_pairs_total 10$' "$work/metrics.txt" ||
    fail "span metrics pairs: $(grep telltale_span_metrics "$work/metrics.txt")"
grep -q '^telltale_span_metrics_virtual_pairs_total 5$' "$work/metrics.txt" ||
    fail "span metrics virtual pairs: $(grep telltale_span_metrics "$work/metrics.txt")"
echo "ok: /metrics counts 30 spans, 10 pairs and 5 calls to a virtual node"

# 5. the CLI
"$tt" trace deps --server "$base" --since 1h >"$work/deps.out" 2>&1 || fail "trace deps: $(cat "$work/deps.out")"
cat "$work/deps.out"
grep -Eq '^frontend +checkout +5 +0 +0\.0%' "$work/deps.out" || fail "trace deps edge frontend"
grep -Eq '^checkout +payments +5 +1 +20\.0%' "$work/deps.out" || fail "trace deps edge checkout"
grep -Eq '^checkout +postgresql +5 +0 +0\.0%' "$work/deps.out" || fail "trace deps edge postgresql"
grep -Eq '^node-a +node-b +5 +500 +10000' "$work/deps.out" || fail "trace deps node pair"
"$tt" trace deps --server "$base" --json >"$work/deps.json" || fail "trace deps --json"
check_json "$(cat "$work/deps.json")" 'len(j["edges"]) == 3' "trace deps --json"
"$tt" trace deps --server "$base" --since never >/dev/null 2>&1 && fail "a bad --since exited 0"
echo "ok: telltale trace deps"

# 6. a restart starts the counters again at 0 (a reset): the counts stay, and
# the same traffic again doubles them
stop_server
start_server --config "$work/server.conf"
sleep 2.5
check_all 1 || fail "dependency checks after a restart"
send_traces 1
check_all 2 || fail "dependency checks after a restart and more traces"
stop_server
echo "PASS"
