#!/usr/bin/env python3
"""check.py OUT_JSON BASE_URL - reads back what emit.js sent to a telltale
server and compares it with what the OpenTelemetry JS SDK exported
(tests/integration/otel_js.sh):

1. every trace through the Jaeger API (/api/traces/<id>): every span with its
   operation name, CHILD_OF parent, link (FOLLOWS_FROM), start and duration
   (microseconds, truncated from the SDK's nanoseconds), every attribute with
   the type Jaeger reports (string, int64, float64, bool; arrays as their JSON
   text), the resource's attributes and the instrumentation scope as tags,
   span.kind, the status (error, otel.status_code, otel.status_description),
   events as logs with their fields, and the service and host in processes;
   no tag that was not sent;
2. the search routes find the traces by service, operation, tags and
   minDuration, and the services and operations list them;
3. the log records through GET /api/tt/events: time, severity, component,
   message, attributes with trace and span ids;
4. the metrics through the PromQL API: counter, histogram buckets, sum and
   count, gauge.
"""
import json
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

out = json.load(open(sys.argv[1]))
base = sys.argv[2]
KINDS = {0: "internal", 1: "server", 2: "client", 3: "producer", 4: "consumer"}


def get(path):
    try:
        with urllib.request.urlopen(base + path, timeout=30) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def strip(t):  # Jaeger writes 16 hex digits when the high half is zero
    return t[16:] if t[:16] == "0" * 16 else t


def jaeger_value(v):
    """(type, value) Jaeger reports for an OTel attribute value."""
    if isinstance(v, bool):
        return "bool", v
    if isinstance(v, int):
        return "int64", v
    if isinstance(v, float):
        return "float64", v
    if isinstance(v, str):
        return "string", v
    if isinstance(v, list):  # arrays: their JSON text
        return "string", v
    raise AssertionError("unexpected attribute value %r" % (v,))


def check_tags(where, got, want):
    """got: Jaeger tag list; want: {key: value}. Every key exactly once."""
    keys = [t["key"] for t in got]
    assert sorted(keys) == sorted(want), "%s: tags %s, want %s" % (where, sorted(keys), sorted(want))
    for t in got:
        typ, val = jaeger_value(want[t["key"]])
        assert t["type"] == typ, "%s: tag %s type %s, want %s" % (where, t["key"], t["type"], typ)
        if isinstance(val, list):
            assert json.loads(t["value"]) == val, "%s: tag %s = %r, want %r" % (where, t["key"], t["value"], val)
        else:
            assert t["value"] == val and type(t["value"]) is type(val), \
                "%s: tag %s = %r, want %r" % (where, t["key"], t["value"], val)


spans = out["spans"]
traces = {}
for s in spans:
    traces.setdefault(s["trace_id"], []).append(s)
assert len(traces) == 2, "emit.js made %d traces" % len(traces)

# 1. every trace by id (waiting for the span indexer)
deadline = time.time() + 20
nspans = 0
for tid, want in traces.items():
    while True:
        code, j = get("/api/traces/" + tid)
        if code == 200 and len(j["data"][0]["spans"]) == len(want):
            break
        if time.time() > deadline:
            sys.exit("trace %s (%s): %d %s" % (tid, want[0]["encoding"], code, json.dumps(j)[:400]))
        time.sleep(0.1)
    assert j["errors"] is None and j["total"] == 1, j
    tr = j["data"][0]
    assert tr["traceID"] == strip(tid), (tr["traceID"], tid)
    got = {s["spanID"]: s for s in tr["spans"]}
    assert sorted(got) == sorted(s["span_id"] for s in want), (sorted(got), want)
    # the context crossed the services: one root, every parent in the trace
    roots = [w for w in want if w["parent_id"] is None]
    assert len(roots) == 1 and roots[0]["name"] == "GET /checkout", roots
    assert all(w["parent_id"] is None or w["parent_id"] in got for w in want)
    services = set()
    for w in want:
        where = "%s trace %s span %s (%s)" % (w["encoding"], tid, w["span_id"], w["name"])
        g = got[w["span_id"]]
        assert g["traceID"] == strip(tid), where
        assert g["operationName"] == w["name"], (where, g["operationName"])
        assert g["flags"] & 1 == 1, (where, g["flags"])
        want_refs = []
        if w["parent_id"] is not None:
            want_refs.append({"refType": "CHILD_OF", "traceID": strip(tid), "spanID": w["parent_id"]})
        for link in w["links"]:
            want_refs.append({"refType": "FOLLOWS_FROM", "traceID": strip(link["trace_id"]),
                              "spanID": link["span_id"]})
        assert g["references"] == want_refs, (where, g["references"], want_refs)
        start, end = int(w["start_ns"]), int(w["end_ns"])
        assert g["startTime"] == start // 1000, (where, g["startTime"], start)
        assert g["duration"] == (end - start) // 1000, (where, g["duration"], end - start)
        tags = dict(w["attributes"])
        for k, v in w["resource"].items():
            if k not in ("service.name", "host.name"):
                tags[k] = v
        tags["otel.scope.name"] = w["scope"]["name"]
        if w["scope"].get("version"):
            tags["otel.scope.version"] = w["scope"]["version"]
        tags["span.kind"] = KINDS[w["kind"]]
        if w["status"]["code"] == 2:
            tags["error"] = True
            tags["otel.status_code"] = "ERROR"
        elif w["status"]["code"] == 1:
            tags["otel.status_code"] = "OK"
        if w["status"]["message"]:
            tags["otel.status_description"] = w["status"]["message"]
        check_tags(where, g["tags"], tags)
        assert len(g["logs"]) == len(w["events"]), (where, g["logs"], w["events"])
        for lg, ev in zip(g["logs"], w["events"]):
            assert lg["timestamp"] == int(ev["time_ns"]) // 1000, (where, lg, ev)
            check_tags(where + " event " + ev["name"], lg["fields"], dict(ev["attributes"], event=ev["name"]))
        proc = tr["processes"][g["processID"]]
        assert proc["serviceName"] == w["resource"]["service.name"], (where, proc)
        assert {"key": "hostname", "type": "string", "value": w["resource"]["host.name"]} in proc["tags"], \
            (where, proc)
        services.add(proc["serviceName"])
        nspans += 1
    assert services == {"frontend", "checkout", "inventory"}, services
    assert len(tr["processes"]) == 3, tr["processes"]
kinds = sorted({KINDS[s["kind"]] for s in spans})
assert kinds == ["client", "consumer", "internal", "producer", "server"], kinds
print("ok: %d traces (JSON and protobuf), %d spans by id: names, parents, links, start and duration, "
      "every attribute and type, events, status, processes" % (len(traces), nspans))

# 2. search
by_enc = {w[0]["encoding"]: strip(t) for t, w in traces.items()}
code, j = get("/api/traces?service=frontend&limit=10")
assert code == 200 and sorted(t["traceID"] for t in j["data"]) == sorted(by_enc.values()), j
for enc, tid in by_enc.items():
    code, j = get("/api/traces?service=frontend&tags=" + urllib.parse.quote(json.dumps({"encoding": enc})))
    assert code == 200 and [t["traceID"] for t in j["data"]] == [tid], (enc, j)
    code, j = get("/api/traces?service=checkout&tag=" + urllib.parse.quote("deployment.environment:it-" + enc))
    assert code == 200 and [t["traceID"] for t in j["data"]] == [tid], (enc, j)
code, j = get("/api/traces?service=inventory&operation=" + urllib.parse.quote("reserve stock") +
              "&tags=" + urllib.parse.quote('{"error":"true"}'))
assert code == 200 and sorted(t["traceID"] for t in j["data"]) == sorted(by_enc.values()), j
code, j = get("/api/traces?service=checkout&tags=" + urllib.parse.quote('{"span.kind":"producer"}'))
assert code == 200 and sorted(t["traceID"] for t in j["data"]) == sorted(by_enc.values()), j
code, j = get("/api/traces?service=frontend&tags=" + urllib.parse.quote('{"error":"true"}'))
assert code == 200 and j["data"] == [], j
# the consumer span is 12.345008 ms long, the longest inventory span
code, j = get("/api/traces?service=inventory&minDuration=12.345ms")
assert code == 200 and len(j["data"]) == 2, j
code, j = get("/api/traces?service=inventory&minDuration=12.346ms")
assert code == 200 and j["data"] == [], j
code, j = get("/api/services")
assert code == 200 and {"frontend", "checkout", "inventory"} <= set(j["data"]), j
code, j = get("/api/services/checkout/operations")
want_ops = sorted({s["name"] for s in spans if s["resource"]["service.name"] == "checkout"})
assert code == 200 and sorted(j["data"]) == want_ops, (j, want_ops)
print("ok: search by service, tags (JSON and key:value; attributes, error, span.kind), operation, "
      "minDuration; services, operations")

# 3. logs -> events
logs = out["logs"]
deadline = time.time() + 20
while True:
    code, j = get("/api/tt/events?node=app-1&component=checkout-log&limit=100")
    if code == 200 and len(j["data"]["events"]) == len(logs):
        break
    if time.time() > deadline:
        sys.exit("events: %d %s" % (code, json.dumps(j)[:400]))
    time.sleep(0.1)
evs = j["data"]["events"]
assert [e["time_ns"] for e in evs] == sorted((e["time_ns"] for e in evs), reverse=True), "not newest first"
for l in logs:
    body = l["body"] if isinstance(l["body"], str) else json.dumps(l["body"], separators=(",", ":"))
    m = [e for e in evs if e["message"] == body]
    assert len(m) == 1, (body, evs)
    e = m[0]
    assert e["time_ns"] == l["time_ms"] * 1000000, (e, l)
    assert e["severity"] == l["severity"], (e, l)
    assert e["node"] == "app-1" and e["process"] == "checkout" and e["name"] == "log", e
    if not isinstance(l["body"], str):
        assert json.loads(e["message"]) == l["body"], e
    want = dict(l.get("expect_attrs", l["attributes"]), region="eu-1")
    for k, v in list(want.items()):
        if isinstance(v, dict) and "json" in v:  # a map: its JSON text
            assert json.loads(e["attrs"][k]) == v["json"], (k, e["attrs"][k])
            want[k] = e["attrs"][k]
    want["otel.scope.name"] = "checkout-log"
    want["otel.scope.version"] = "3.0.0"
    if "trace_id" in l:
        want["trace_id"] = l["trace_id"]
        want["span_id"] = l["span_id"]
    assert e["attrs"] == want, (e["attrs"], want)
    for k, v in want.items():
        assert type(e["attrs"][k]) is type(v), (k, e["attrs"][k], v)
code, j = get("/api/tt/events?node=app-1&severity=error")
assert code == 200 and [e["message"] for e in j["data"]["events"]] == ["payment declined for order 17"], j
print("ok: %d log records as events: time, severity, component, message, attributes, trace ids" % len(logs))


# 4. metrics
def query(q):
    code, j = get("/api/v1/query?query=" + urllib.parse.quote(q))
    assert code == 200 and j["status"] == "success", (q, j)
    return j["data"]["result"]


m = out["metrics"]
sel = 'node="app-1",service="checkout"'
deadline = time.time() + 20
while not query("orders_placed_total{%s}" % sel) and time.time() < deadline:
    time.sleep(0.1)
for method, n in m["counter"]["by"].items():
    r = query('orders_placed_total{%s,payment_method="%s"}' % (sel, method))
    assert len(r) == 1 and float(r[0]["value"][1]) == n, (method, r)
h = m["histogram"]
cum = 0
for le, c in zip([str(b) for b in h["bounds"]] + ["+Inf"], h["counts"]):
    cum += c
    r = query('checkout_latency_bucket{%s,route="/checkout",le="%s"}' % (sel, le))
    assert len(r) == 1 and float(r[0]["value"][1]) == cum, (le, r, cum)
r = query('checkout_latency_sum{%s}' % sel)
assert len(r) == 1 and abs(float(r[0]["value"][1]) - h["sum"]) < 1e-9, r
r = query('checkout_latency_count{%s}' % sel)
assert len(r) == 1 and float(r[0]["value"][1]) == h["count"], r
r = query('histogram_quantile(0.5, checkout_latency_bucket{%s})' % sel)
assert len(r) == 1 and 0.1 < float(r[0]["value"][1]) <= 0.5, r
r = query('queue_depth{%s,queue="orders"}' % sel)
assert len(r) == 1 and float(r[0]["value"][1]) == m["gauge"]["value"], r
print("ok: metrics: counter by attribute, histogram buckets/sum/count, gauge through PromQL")
