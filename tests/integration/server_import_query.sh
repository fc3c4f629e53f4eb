#!/usr/bin/env bash
# server_import_query.sh SRC_DIR BUILD_DIR - the metric store end to end
# through the real `telltale server`: import Prometheus text with
# timestamps, read it back through the Prometheus query, series and label
# APIs, check the import error rule (400 naming the line, earlier batches
# kept and said so), kill -9 the server and check every acknowledged sample
# is back after the WAL replay, then stop it cleanly.
set -euo pipefail
build=${2:?usage: server_import_query.sh SRC_DIR BUILD_DIR}
source "$(dirname "${BASH_SOURCE[0]}")/lib/server.sh"
start_server

# 120 samples a series, every 15 s from t = 1,700,000,000 s.
python3 - "$work/batch.prom" <<'PY'
import sys
t0 = 1700000000000
with open(sys.argv[1], "w") as f:
    f.write("# TYPE http_requests_total counter\n")
    for i in range(120):
        t = t0 + i * 15000
        for code in ("200", "500"):
            f.write(f'http_requests_total{{job="api",code="{code}"}} {i * (10 if code == "200" else 1)} {t}\n')
        f.write(f'node_load1{{instance="host-1:9100"}} {0.5 + (i % 7) / 10:.2f} {t}\n')
PY
out=$(http POST "$base/api/v1/import/prometheus" "$work/batch.prom")
[[ "$(cat "$work/code")" == 204 ]] || fail "import: status $(cat "$work/code"): $out"

# Instant query at the end: rate over 5 m of a counter growing 10 per 15 s.
q=$(http GET "$base/api/v1/query?query=rate(http_requests_total%7Bcode%3D%22200%22%7D%5B5m%5D)&time=1700001785")
check_json "$q" 'j["status"]=="success" and j["data"]["resultType"]=="vector" and len(j["data"]["result"])==1 and abs(float(j["data"]["result"][0]["value"][1]) - 10/15) < 1e-9' "rate query"
# Range query: one point a minute over the half hour.
q=$(http GET "$base/api/v1/query_range?query=node_load1&start=1700000000&end=1700001785&step=60")
check_json "$q" 'j["data"]["resultType"]=="matrix" and len(j["data"]["result"])==1 and len(j["data"]["result"][0]["values"])==30' "range query"
# Aggregation and label API.
q=$(http GET "$base/api/v1/query?query=sum%20by%20(code)%20(http_requests_total)&time=1700001785")
check_json "$q" 'sorted(float(r["value"][1]) for r in j["data"]["result"])==[119.0, 1190.0]' "sum by code"
q=$(http GET "$base/api/v1/series?match%5B%5D=http_requests_total&start=1700000000&end=1700001785")
check_json "$q" 'len(j["data"])==2 and all(s["__name__"]=="http_requests_total" for s in j["data"])' "series"
q=$(http GET "$base/api/v1/labels")
check_json "$q" 'j["data"]==["__name__","code","instance","job"]' "labels"
q=$(http GET "$base/api/v1/label/code/values")
check_json "$q" 'j["data"]==["200","500"]' "label values"
# Annotations beside the data, as Prometheus gives them.
q=$(http GET "$base/api/v1/query?query=rate(node_load1%5B5m%5D)&time=1700001785")
check_json "$q" 'j["status"]=="success" and j["infos"]==["PromQL info: metric might not be a counter, name does not end in _total/_sum/_count/_bucket: \"node_load1\" (1:6)"] and "warnings" not in j' "info annotation"
q=$(http GET "$base/api/v1/query_range?query=sort(node_load1)&start=1700000000&end=1700001785&step=60")
check_json "$q" 'j["warnings"]==["PromQL warning: sort is ineffective for range queries since results are always ordered by labels (1:1)"]' "warning annotation"
q=$(http GET "$base/api/v1/query?query=sum(")
[[ "$(cat "$work/code")" == 400 ]] || fail "bad query: status $(cat "$work/code")"
check_json "$q" 'j["errorType"]=="bad_data" and "parse error" in j["error"]' "bad query error"

# A malformed line: 400 naming it, nothing of its batch applied.
printf 'good_metric 1 1700000000000\nbad_metric{x="y" 2 1700000000000\n' >"$work/bad.prom"
out=$(http POST "$base/api/v1/import/prometheus" "$work/bad.prom")
[[ "$(cat "$work/code")" == 400 ]] || fail "bad import: status $(cat "$work/code"): $out"
check_json "$out" '"line 2" in j["error"] and "0 samples were imported" in j["error"]' "bad import message"
q=$(http GET "$base/api/v1/query?query=good_metric&time=1700000000")
check_json "$q" 'j["data"]["result"]==[]' "nothing of a failed batch is applied"

# Samples the store refuses are counted in a 200 answer, not dropped silently:
# one an hour older than the series' newest (outside the 10 min out-of-order
# window), one with another value at a stored timestamp, one new and fine.
printf 'http_requests_total{job="api",code="200"} 5 1699998200000\nhttp_requests_total{job="api",code="200"} 99 1700001785000\nfresh_metric 7 1700001785000\n' >"$work/refused.prom"
out=$(http POST "$base/api/v1/import/prometheus" "$work/refused.prom")
[[ "$(cat "$work/code")" == 200 ]] || fail "refused samples: status $(cat "$work/code"): $out"
check_json "$out" 'j["data"]["imported"]==1 and j["data"]["refused_too_old"]==1 and j["data"]["refused_conflicting_value"]==1' "refused samples summary"

# kill -9, restart: every acknowledged sample is back from the WAL.
kill9_server
start_server
q=$(http GET "$base/api/v1/query?query=count_over_time(http_requests_total%5B1h%5D)&time=1700001785")
check_json "$q" 'sorted(float(r["value"][1]) for r in j["data"]["result"])==[120.0, 120.0]' "samples after kill -9 and replay"

# /metrics shows the head, then a clean stop.
m=$(http GET "$base/metrics")
grep -q '^telltale_tsdb_head_series [45]$' <<<"$m" || fail "/metrics head series: $(grep tsdb_head_series <<<"$m")"
stop_server
echo "server_import_query: ok"
