#!/usr/bin/env bash
# zipkin_jaeger.sh SRC_DIR BUILD_DIR - a Zipkin v2 JSON payload posted to a
# real `telltale server` (POST /api/v2/spans) and read back through the
# Jaeger API: two traces (a 128-bit and a 64-bit trace id) from four
# services with every kind and none, a B3-joined (shared) client/server
# span pair, tags, an error tag, annotations, local and remote endpoints
# (IPv4 and IPv6, ports), ids and times as Zipkin writes them (timestamps in
# microseconds, as numbers and as strings). For every span: operation name,
# CHILD_OF parent, start and duration, every tag with its type (Zipkin tags
# are strings; peer.service, net.peer.ip, net.peer.port from the remote
# endpoint; span.kind; the error tag as error=true with its message), the
# annotations as logs, the service and host in processes. Then the search
# routes and, after kill -9 and a restart, the same answers.
set -euo pipefail
build=${2:?usage: zipkin_jaeger.sh SRC_DIR BUILD_DIR}
. "$(dirname "$0")/lib/server.sh"

start_server
t0=$((($(date +%s) - 120) * 1000000 + 123)) # two minutes ago, in microseconds
check() {
    python3 - "$base" "$1" "$t0" <<'PY'
import json, sys, time, urllib.error, urllib.parse, urllib.request
base, post = sys.argv[1], sys.argv[2] == "post"
T = int(sys.argv[3])  # microseconds
T1 = "463ac35c9f6413ad48485a3953bb6124"
T2 = "48485a3953bb6125"  # 64 bits: the high half is zero
fe = {"serviceName": "frontend", "ipv4": "10.0.0.1", "port": 8080}
pay = {"serviceName": "payment", "ipv4": "10.0.0.2"}
spans = [
    {"traceId": T1, "id": "00000000000000a1", "name": "get /checkout", "kind": "SERVER",
     "timestamp": T, "duration": 150007, "localEndpoint": fe,
     "remoteEndpoint": {"ipv4": "203.0.113.9", "port": 51234},
     "tags": {"http.method": "GET", "http.path": "/checkout", "http.status_code": "200"},
     "annotations": [{"timestamp": T + 11, "value": "wr"}, {"timestamp": T + 150000, "value": "ws"}]},
    {"traceId": T1, "id": "00000000000000a2", "parentId": "00000000000000a1", "name": "post /api/pay",
     "kind": "CLIENT", "timestamp": str(T + 1000), "duration": str(80003), "localEndpoint": fe,
     "remoteEndpoint": {"serviceName": "payment", "ipv6": "2001:db8::1", "port": 8443},
     "tags": {"http.status_code": "503", "error": "payment unavailable"}},
    # the server half of the B3-joined span: the client's id, "shared"
    {"traceId": T1, "id": "00000000000000a2", "parentId": "00000000000000a1", "name": "post /api/pay",
     "kind": "SERVER", "shared": True, "timestamp": T + 2000, "duration": 70001, "localEndpoint": pay,
     "tags": {"http.status_code": "503"}, "annotations": [{"timestamp": T + 2500, "value": "db timeout"}]},
    {"traceId": T1, "id": "00000000000000a3", "parentId": "00000000000000a2", "name": "send receipt",
     "kind": "PRODUCER", "timestamp": T + 3000, "duration": 400, "localEndpoint": pay,
     "remoteEndpoint": {"serviceName": "kafka"}, "tags": {"messaging.destination": "receipts"}},
    {"traceId": T1, "id": "00000000000000a4", "parentId": "00000000000000a3", "name": "mail receipt",
     "kind": "CONSUMER", "timestamp": T + 90000, "duration": 25000,
     "localEndpoint": {"serviceName": "mailer", "ipv6": "2001:db8::7"}},
    {"traceId": T1, "id": "00000000000000a5", "parentId": "00000000000000a1", "name": "render",
     "timestamp": T + 100000, "duration": 40000, "localEndpoint": fe, "tags": {"template": "cart.html"}},
    {"traceId": T2, "id": "00000000000000b1", "name": "get /health", "kind": "SERVER",
     "timestamp": T + 5, "duration": 1, "localEndpoint": {"serviceName": "probe", "ipv4": "10.0.0.9"},
     "debug": True},
]


def req(method, path, body=None):
    r = urllib.request.Request(base + path, data=body, method=method,
                               headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(r, timeout=30) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def get(path):
    code, body = req("GET", path)
    return code, json.loads(body)


if post:
    code, body = req("POST", "/api/v2/spans", json.dumps(spans).encode())
    assert code == 202, (code, body)


def strip(t):
    return t[16:] if len(t) == 32 and t[:16] == "0" * 16 else t


# what Jaeger must show: the shared server half under its own id, child of
# the client half (its id is the server's choice: found by kind and service)
by_trace = {}
for s in spans:
    by_trace.setdefault(s["traceId"], []).append(s)
deadline = time.time() + 20
for tid, want in by_trace.items():
    while True:
        code, j = get("/api/traces/" + tid)
        if code == 200 and len(j["data"][0]["spans"]) == len(want):
            break
        if time.time() > deadline:
            sys.exit("trace %s: %d %s" % (tid, code, json.dumps(j)[:400]))
        time.sleep(0.1)
    assert j["errors"] is None and j["total"] == 1, j
    tr = j["data"][0]
    assert tr["traceID"] == strip(tid), (tr["traceID"], tid)
    got = tr["spans"]
    used = set()
    for w in want:
        svc = w["localEndpoint"]["serviceName"]
        cand = [g for g in got if tr["processes"][g["processID"]]["serviceName"] == svc
                and g["operationName"] == w["name"]
                and {"key": "span.kind", "type": "string", "value": w.get("kind", "internal").lower()} in g["tags"]]
        assert len(cand) == 1, (w, got)
        g = cand[0]
        used.add(id(g))
        where = "%s %s" % (svc, w["name"])
        if w.get("shared"):
            assert g["spanID"] not in (w["id"], "0" * 16), (where, g["spanID"])
            parent = w["id"]
        else:
            assert g["spanID"] == w["id"], (where, g["spanID"])
            parent = w.get("parentId")
        refs = [{"refType": "CHILD_OF", "traceID": strip(tid), "spanID": parent}] if parent else []
        assert g["references"] == refs, (where, g["references"], refs)
        assert g["startTime"] == int(w["timestamp"]), (where, g["startTime"], w["timestamp"])
        assert g["duration"] == int(w["duration"]), (where, g["duration"], w["duration"])
        tags = {k: ("string", v) for k, v in w.get("tags", {}).items() if k != "error"}
        rem = w.get("remoteEndpoint", {})
        if "serviceName" in rem:
            tags["peer.service"] = ("string", rem["serviceName"])
        if "ipv4" in rem or "ipv6" in rem:
            tags["net.peer.ip"] = ("string", rem.get("ipv4", rem.get("ipv6")))
        if "port" in rem:
            tags["net.peer.port"] = ("int64", rem["port"])
        tags["span.kind"] = ("string", w.get("kind", "internal").lower())
        if "error" in w.get("tags", {}):
            tags["error"] = ("bool", True)
            tags["otel.status_code"] = ("string", "ERROR")
            tags["otel.status_description"] = ("string", w["tags"]["error"])
        assert sorted(t["key"] for t in g["tags"]) == sorted(tags), (where, g["tags"], tags)
        for t in g["tags"]:
            assert (t["type"], t["value"]) == tags[t["key"]], (where, t, tags[t["key"]])
        anns = w.get("annotations", [])
        assert [(l["timestamp"], l["fields"]) for l in g["logs"]] == \
            [(a["timestamp"], [{"key": "event", "type": "string", "value": a["value"]}]) for a in anns], \
            (where, g["logs"], anns)
        proc = tr["processes"][g["processID"]]
        host = w["localEndpoint"].get("ipv4", w["localEndpoint"].get("ipv6"))
        assert {"key": "hostname", "type": "string", "value": host} in proc["tags"], (where, proc)
    assert len(used) == len(got), got
print("ok: %d Zipkin spans in %d traces by id: names, parents (the shared span under its client), "
      "start, duration, every tag and type, errors, annotations, processes" % (len(spans), len(by_trace)))

code, j = get("/api/traces?service=payment")
assert code == 200 and [t["traceID"] for t in j["data"]] == [T1], j
code, j = get("/api/traces?service=frontend&tags=" + urllib.parse.quote('{"error":"true"}'))
assert code == 200 and [t["traceID"] for t in j["data"]] == [T1], j
code, j = get("/api/traces?service=frontend&tag=http.path:/checkout&minDuration=150ms")
assert code == 200 and [t["traceID"] for t in j["data"]] == [T1], j
code, j = get("/api/traces?service=frontend&minDuration=151ms")
assert code == 200 and j["data"] == [], j
code, j = get("/api/traces?service=probe&tag=span.kind:server")
assert code == 200 and [t["traceID"] for t in j["data"]] == [strip(T2)], j
code, j = get("/api/services")
assert {"frontend", "payment", "mailer", "probe"} <= set(j["data"]), j
code, j = get("/api/services/payment/operations")
assert sorted(j["data"]) == ["post /api/pay", "send receipt"], j
print("ok: search by service, tags, minDuration; services and operations")
PY
}
check post || fail "Zipkin spans through the Jaeger API"
kill9_server
start_server
check read || fail "the same after kill -9 and restart"
grep -q 'damaged' "$work/server.err" && fail "the span store reported damage"
stop_server
echo "PASS"
