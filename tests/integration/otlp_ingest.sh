#!/usr/bin/env bash
# otlp_ingest.sh SRC_DIR BUILD_DIR - the standard ingest endpoints of a real
# `telltale server`: curl posts OTLP/JSON traces (64-bit times as strings
# and numbers, a rejected span -> partialSuccess), OTLP/JSON logs, an
# OTLP/protobuf trace request (encoded here from the .proto field numbers:
# no OTLP tool is installed), a Zipkin v2 span array, and OTLP/JSON metrics
# (a gauge and a histogram, then queried with PromQL); malformed bodies get
# 400 with the field's place, other content types 415, a body over
# otlp_max_body_bytes 413. Then `telltale spool dump --json DATA/records`
# must show every span and log record with its ids, parent, times,
# attributes and an origin naming node and service; after a restart a new
# batch of the same service continues its sequence numbers.
set -euo pipefail
build=${2:?usage: otlp_ingest.sh SRC_DIR BUILD_DIR}
source "$(dirname "$0")/lib/server.sh"
command -v curl >/dev/null || { echo "SKIP: no curl"; exit 0; }

printf 'otlp_max_body_bytes = 64KiB\n' >"$work/server.conf"
start_server --config "$work/server.conf"

# post PATH CONTENT_TYPE FILE: the body goes to $work/resp, status printed.
post() {
    curl -s -o "$work/resp" -w '%{http_code}' -X POST -H "Content-Type: $2" --data-binary "@$3" "$base$1"
}

cat >"$work/traces.json" <<'EOF'
{"resourceSpans":[{"resource":{"attributes":[
  {"key":"service.name","value":{"stringValue":"checkout"}},
  {"key":"host.name","value":{"stringValue":"web-1"}},
  {"key":"deployment.environment","value":{"stringValue":"prod"}}]},
 "scopeSpans":[{"scope":{"name":"io.opentelemetry.http","version":"1.0"},"spans":[
  {"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174","name":"GET /cart",
   "kind":2,"startTimeUnixNano":"1700000000123456789","endTimeUnixNano":"1700000000223456789",
   "attributes":[{"key":"http.status_code","value":{"intValue":"200"}}],
   "events":[{"timeUnixNano":"1700000000133456789","name":"cache miss"}],
   "status":{"code":2,"message":"boom"}},
  {"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b175","parentSpanId":"eee19b7ec3c1b174",
   "name":"SELECT cart","kind":3,"startTimeUnixNano":1700000000130000000,"endTimeUnixNano":1700000000140000000,
   "links":[{"traceId":"0af7651916cd43dd8448eb211c80319c","spanId":"b7ad6b7169203331"}]},
  {"traceId":"5b8efff798038103d269b633813fc60c","spanId":"0000000000000000","name":"bad",
   "startTimeUnixNano":"1700000000130000000"}]}]}]}
EOF
code=$(post /v1/traces application/json "$work/traces.json")
[[ $code == 200 ]] || fail "traces: $code $(cat "$work/resp")"
check_json "$(cat "$work/resp")" 'j["partialSuccess"]["rejectedSpans"] in ("1", 1) and "spanId is all zero" in j["partialSuccess"]["errorMessage"]' "partialSuccess"

cat >"$work/logs.json" <<'EOF'
{"resourceLogs":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"checkout"}},
  {"key":"host.name","value":{"stringValue":"web-1"}}]},
 "scopeLogs":[{"scope":{"name":"app"},"logRecords":[
  {"timeUnixNano":"1700000000150000000","severityNumber":17,"severityText":"ERROR",
   "body":{"stringValue":"payment failed"},"traceId":"5b8efff798038103d269b633813fc60c",
   "spanId":"eee19b7ec3c1b174","attributes":[{"key":"user","value":{"stringValue":"u1"}}]}]}]}]}
EOF
code=$(post /v1/logs application/json "$work/logs.json")
[[ $code == 200 ]] || fail "logs: $code $(cat "$work/resp")"
[[ $(cat "$work/resp") == "{}" ]] || fail "logs answer: $(cat "$work/resp")"

# OTLP/protobuf: ExportTraceServiceRequest with one span, fields by number.
python3 - "$work/traces.pb" <<'PY'
import struct, sys
def uv(v):
    out = b''
    while True:
        b = v & 0x7f; v >>= 7
        if v: out += bytes([b | 0x80])
        else: return out + bytes([b])
def ln(n, b): return uv(n << 3 | 2) + uv(len(b)) + b
def s(n, x): return ln(n, x.encode())
def f64(n, v): return uv(n << 3 | 1) + struct.pack('<Q', v)
def vi(n, v): return uv(n << 3) + uv(v)
def kv(k, any_): return s(1, k) + ln(2, any_)
span = (ln(1, bytes.fromhex('4bf92f3577b34da6a3ce929d0e0e4736')) + ln(2, bytes.fromhex('00f067aa0ba902b7'))
        + ln(4, bytes.fromhex('00f067aa0ba902b6')) + s(5, 'charge') + vi(6, 3)
        + f64(7, 1700000001000000000) + f64(8, 1700000001250000000)
        + ln(9, kv('amount', vi(3, 1999))) + ln(15, vi(3, 1)))
res = ln(1, kv('service.name', s(1, 'payments'))) + ln(1, kv('host.name', s(1, 'pay-1')))
req = ln(1, ln(1, res) + ln(2, ln(1, s(1, 'grpc')) + ln(2, span)))
open(sys.argv[1], 'wb').write(req)
PY
code=$(post /v1/traces application/x-protobuf "$work/traces.pb")
[[ $code == 200 ]] || fail "protobuf traces: $code"
[[ ! -s "$work/resp" ]] || fail "protobuf answer should be an empty ExportTraceServiceResponse"

cat >"$work/zipkin.json" <<'EOF'
[{"traceId":"463ac35c9f6413ad48485a3953bb6124","id":"a2fb4a1d1a96d312","parentId":"a2fb4a1d1a96d311",
  "name":"get /api","kind":"SERVER","timestamp":1700000002000000,"duration":207000,
  "localEndpoint":{"serviceName":"frontend","ipv4":"10.0.0.1"},
  "remoteEndpoint":{"serviceName":"browser","ipv4":"10.0.0.2","port":5555},
  "tags":{"http.path":"/api"},"annotations":[{"timestamp":1700000002000100,"value":"wr"}]}]
EOF
code=$(post /api/v2/spans application/json "$work/zipkin.json")
[[ $code == 202 ]] || fail "zipkin: $code $(cat "$work/resp")"

# OTLP/JSON metrics -> TSDB samples (through the agent listener's metric route).
now=$(date +%s%N)
cat >"$work/metrics.json" <<EOF
{"resourceMetrics":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"checkout"}},
  {"key":"host.name","value":{"stringValue":"web-1"}}]},
 "scopeMetrics":[{"metrics":[
  {"name":"queue.depth","gauge":{"dataPoints":[{"timeUnixNano":"$now","asDouble":7.5,
    "attributes":[{"key":"queue","value":{"stringValue":"orders"}}]}]}},
  {"name":"rpc.duration","histogram":{"aggregationTemporality":2,"dataPoints":[{"timeUnixNano":"$now",
    "count":"6","sum":3.25,"bucketCounts":["2","3","1"],"explicitBounds":[0.1,1]}]}}]}]}]}
EOF
code=$(post /v1/metrics application/json "$work/metrics.json")
[[ $code == 200 ]] || fail "metrics: $code $(cat "$work/resp")"
body=$(curl -s "$base/api/v1/query" --data-urlencode 'query=queue_depth{node="web-1",service="checkout",queue="orders"}')
check_json "$body" 'j["data"]["result"][0]["value"][1] == "7.5"' "gauge sample"
body=$(curl -s "$base/api/v1/query" --data-urlencode 'query=histogram_quantile(0.5, rpc_duration_bucket)')
check_json "$body" 'len(j["data"]["result"]) == 1 and 0.1 < float(j["data"]["result"][0]["value"][1]) <= 1' "histogram buckets"

# Refusals.
printf '{"resourceSpans":[{"scopeSpans":[{"spans":[{"kind":"x"}]}]}]}' >"$work/bad.json"
code=$(post /v1/traces application/json "$work/bad.json")
[[ $code == 400 ]] || fail "bad field: $code"
grep -q 'resourceSpans\[0\].scopeSpans\[0\].spans\[0\].kind' "$work/resp" || fail "400 names no field: $(cat "$work/resp")"
printf '{"resourceSpans":[' >"$work/bad.json"
code=$(post /v1/traces application/json "$work/bad.json")
[[ $code == 400 ]] && grep -q 'line 1 column' "$work/resp" || fail "bad JSON: $code $(cat "$work/resp")"
printf '\x0a\x05\x01' >"$work/bad.pb"
code=$(post /v1/traces application/x-protobuf "$work/bad.pb")
[[ $code == 400 ]] || fail "bad protobuf: $code"
code=$(post /v1/traces text/plain "$work/traces.json")
[[ $code == 415 ]] || fail "text/plain: $code"
code=$(post /api/v2/spans application/x-protobuf "$work/traces.pb")
[[ $code == 415 ]] || fail "zipkin protobuf: $code"
head -c 70000 /dev/zero | tr '\0' ' ' >"$work/big.json"
code=$(post /v1/traces application/json "$work/big.json")
[[ $code == 413 ]] || fail "over otlp_max_body_bytes: $code"

# The record log: what a span store will index.
"$tt" spool dump --json "$work"/data/records/*.log >"$work/dump.json" || fail "spool dump"
python3 - "$work/dump.json" <<'PY' || fail "record log content: $(cat "$work/dump.json")"
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
summary = [r for r in recs if "summary" in r][0]["summary"]
spans = {r["span_id"]: r for r in recs if r.get("type") == "span"}
events = [r for r in recs if r.get("type") == "event"]
assert summary["by_type"]["span"] == 4 and summary["by_type"]["event"] == 1, summary
s = spans["eee19b7ec3c1b174"]
assert s["trace_id"] == "5b8efff798038103d269b633813fc60c" and s["parent_id"] in ("0000000000000000", "0", 0, None), s
assert s["time_ns"] == 1700000000123456789 and s["duration_ns"] == 100000000, s
assert s["node"] == "web-1" and s["process"] == "checkout" and s["kind"] == "server", s
assert s["status"] == "error" and s["status_message"] == "boom", s
assert s["attrs"]["http.status_code"] == 200 and s["attrs"]["deployment.environment"] == "prod", s
assert s["attrs"]["otel.scope.name"] == "io.opentelemetry.http", s
assert s["events"][0]["name"] == "cache miss" and s["events"][0]["time_ns"] == 1700000000133456789, s
c = spans["eee19b7ec3c1b175"]
assert c["parent_id"] == "eee19b7ec3c1b174" and c["kind"] == "client" and c["duration_ns"] == 10000000, c
assert c["links"][0]["trace_id"] == "0af7651916cd43dd8448eb211c80319c", c
p = spans["00f067aa0ba902b7"]
assert p["trace_id"] == "4bf92f3577b34da6a3ce929d0e0e4736" and p["parent_id"] == "00f067aa0ba902b6", p
assert p["node"] == "pay-1" and p["process"] == "payments" and p["duration_ns"] == 250000000, p
assert p["attrs"]["amount"] == 1999 and p["status"] == "ok" and p["kind"] == "client", p
z = spans["a2fb4a1d1a96d312"]
assert z["trace_id"] == "463ac35c9f6413ad48485a3953bb6124" and z["parent_id"] == "a2fb4a1d1a96d311", z
assert z["node"] == "10.0.0.1" and z["process"] == "frontend" and z["kind"] == "server", z
assert z["time_ns"] == 1700000002000000000 and z["duration_ns"] == 207000000, z
assert z["attrs"]["peer.service"] == "browser" and z["events"][0]["name"] == "wr", z
e = events[0]
assert e["node"] == "web-1" and e["process"] == "checkout" and e["severity"] in ("error", 5), e
assert e["message"] == "payment failed" and e["attrs"]["trace_id"] == "5b8efff798038103d269b633813fc60c", e
PY

# Durable across a restart, and the service's sequence goes on.
seq_end() {
    python3 - "$1" <<'PY'
import json, sys
ends = [r["seq"] for r in map(json.loads, open(sys.argv[1])) if r.get("process") == "checkout" and "seq" in r]
print(max(ends))
PY
}
before=$(seq_end "$work/dump.json")
stop_server
start_server --config "$work/server.conf"
code=$(post /v1/logs application/json "$work/logs.json")
[[ $code == 200 ]] || fail "logs after restart: $code"
"$tt" spool dump --json "$work"/data/records/*.log >"$work/dump2.json" || fail "spool dump 2"
after=$(seq_end "$work/dump2.json")
[[ $after -eq $((before + 1)) ]] || fail "sequence after restart: $before then $after"
stop_server
echo "PASS: otlp_ingest"
