# bench/spans.sh - `bench/run spans` (BENCH.md), issue 5's "Performance"
# figures; docs/bench-spans.md says what each one measures and how.
#
#   ingest_native_spans_per_s   native batches of typical spans (12
#       attributes) over the agent link into a real `telltale server` on
#       loopback (bench/agentload.c --spans-only, 4 agents, 4000-span batches,
#       16 in flight), from the first send until the store shows every span
#       (telltale_spanstore_spans on /metrics: written blocks, queryable).
#       The server runs alone on CPU 0 (taskset), the generator on CPU 1, so
#       the figure is one core's; ingest_native_spans_per_cpu_s divides by the
#       server's own CPU time instead. `vs` tempo: a Tempo distributor's ~30 k
#       spans/s, the issue's reference figure (not measured here).
#   ingest_otlp_json_spans_per_s, ingest_otlp_proto_spans_per_s
#       POST /v1/traces (bench/otlpload.c: 8 keep-alive connections, 500
#       spans a request, bodies built before the clock starts), until indexed.
#   bytes_per_span              span store bytes on disk / spans for the shared
#       workload (../shared/bench/gen_spans.py: 12 services, ~12 tags a span),
#       sent as Zipkin v2 JSON to a real server; bytes_per_span_native for the
#       agentload spans. `vs` jaeger_es (~63 B) and dapper (426 B): published
#       figures the issue quotes, not measured here.
#   trace_by_id_p99_ms, search_p50_ms  on a store of SPANS_BENCH_SPANS spans
#       (default 50 M; --quick 300 k) written in-process by bench/spanbench.c,
#       then served by a real server: 2000 GET /api/traces/<id> of random
#       stored traces, 30 GET /api/traces?service=..&minDuration=1s over the
#       last hour (limit 20, the traces included); with the in-process figures
#       (..._inproc), the server's RSS and its start-up time on that store.
#       This server is not pinned (a query server has the machine's cores; the
#       in-process figures are not pinned either).
#
# Environment: SPANS_BENCH_SPANS (big store), SPANS_BENCH_INGEST (spans a
# native run, default 3 M), SPANS_BENCH_RUNS (runs of each ingest, default 3),
# TT_BENCH_PORT (HTTP port, +1 for agents; default 17170).

SB_PORT=${TT_BENCH_PORT:-17170}
SB_APORT=$((SB_PORT + 1))
SB_PID=""

# sb_cpu_ticks PID: user + system CPU time of the process in clock ticks.
sb_cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# sb_rss_kb PID
sb_rss_kb() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }

# sb_metric NAME: the value of the server's /metrics sample NAME.
sb_metric() {
  curl -fsS "http://127.0.0.1:$SB_PORT/metrics" | awk -v n="$1" '$1 == n {printf "%.0f\n", $2}'
}

# sb_start DATA [PIN]: a server on DATA, pinned to CPU 0 when PIN is 1 (the
# ingest runs) and taskset is there; sets SB_PID and SB_READY_MS (milliseconds
# until /-/ready).
sb_start() {
  local pin=() t0 t1
  [ "${2:-0}" = 1 ] && command -v taskset >/dev/null && [ "$(nproc)" -ge 2 ] && pin=(taskset -c 0)
  t0=$(date +%s%N)
  "${pin[@]}" "$BUILD/telltale" server --data "$1" --http "127.0.0.1:$SB_PORT" \
    --agents "127.0.0.1:$SB_APORT" >>"$BENCH_WORK/server.log" 2>&1 &
  SB_PID=$!
  if ! wait_http "http://127.0.0.1:$SB_PORT/-/ready" 600; then
    tail -n 20 "$BENCH_WORK/server.log" >&2
    sb_stop
    return 1
  fi
  t1=$(date +%s%N)
  SB_READY_MS=$(((t1 - t0) / 1000000))
}

sb_stop() {
  [ -n "$SB_PID" ] && stop_pid "$SB_PID"
  SB_PID=""
}

# sb_wait_spans N: waits until the store shows N spans (120 s at most);
# prints the CLOCK_REALTIME ns when it did.
sb_wait_spans() {
  local n=$1 i v
  for ((i = 0; i < 6000; i++)); do
    v=$(sb_metric telltale_spanstore_spans)
    if [ "${v:-0}" -ge "$n" ]; then
      date +%s%N
      return 0
    fi
    sleep 0.02
  done
  echo "bench/run spans: the store shows ${v:-0} of $n spans after 120 s" >&2
  return 1
}

# sb_ingest_run KIND N OUT: one fresh server, one load run of KIND (native,
# json, proto) with N spans, waits for the indexer; appends "spans_per_s
# spans_per_cpu_s ack_spans_per_s bytes_per_span" to OUT.
sb_ingest_run() {
  local kind=$1 n=$2 out=$3 dir="$BENCH_WORK/ingest" json c0 c1 t0 t1 ack pin=() hz bytes
  rm -rf "$dir" && mkdir -p "$dir"
  sb_start "$dir" 1 || return 1
  command -v taskset >/dev/null && [ "$(nproc)" -ge 2 ] && pin=(taskset -c 1)
  c0=$(sb_cpu_ticks "$SB_PID")
  case $kind in
  native)
    json=$("${pin[@]}" "$BUILD/agentload" --port "$SB_APORT" --agents 4 --records "$n" \
      --batch 4000 --window 16 --spans-only 2>>"$BENCH_WORK/load.log") ;;
  json | proto)
    json=$("${pin[@]}" "$BUILD/otlpload" --port "$SB_PORT" --spans "$n" --batch 500 --conns 8 \
      "--$kind" 2>>"$BENCH_WORK/load.log") ;;
  esac || {
    echo "bench/run spans: $kind load failed: $(tail -n 3 "$BENCH_WORK/load.log")" >&2
    sb_stop
    return 1
  }
  t1=$(sb_wait_spans "$n") || {
    sb_stop
    return 1
  }
  c1=$(sb_cpu_ticks "$SB_PID")
  bytes=$(sb_metric telltale_spanstore_bytes)
  sb_stop
  rm -rf "$dir"
  hz=$(getconf CLK_TCK)
  t0=$(echo "$json" | json_num start_unix_ns)
  ack=$(echo "$json" | json_num records_per_s)
  [ -n "$ack" ] || ack=$(echo "$json" | json_num spans_per_s)
  awk -v n="$n" -v t0="$t0" -v t1="$t1" -v c="$((c1 - c0))" -v hz="$hz" -v ack="$ack" \
    -v b="$bytes" 'BEGIN {printf "%.0f %.0f %.0f %.2f\n", n / ((t1 - t0) / 1e9),
      (c > 0 ? n / (c / hz) : 0), ack, b / n}' >>"$out"
}

# sb_zipkin_bytes N OUT: the shared workload (gen_spans.py, N spans over the
# last two hours) as Zipkin v2 JSON into a fresh server; appends "bytes_per_span
# spans" to OUT.
sb_zipkin_bytes() {
  local n=$1 out=$2 dir="$BENCH_WORK/zipkin" gen="$ROOT/../shared/bench/gen_spans.py" start
  start=$(($(date +%s) - 7200))
  python3 "$gen" --spans "$n" --hours 1 --start "$start" --json "$BENCH_WORK/zipkin.ndjson" \
    >/dev/null 2>&1 || return 1
  # Arrays of 1000 spans, all POSTed by one curl over one connection.
  mkdir -p "$BENCH_WORK/zk"
  awk -v d="$BENCH_WORK/zk" '{f = sprintf("%s/%06d.json", d, int((NR - 1) / 1000))
    printf "%s%s", (NR - 1) % 1000 ? "," : "[", $0 >f}
    NR % 1000 == 0 {print "]" >f; close(f)} END {if (NR % 1000) print "]" >f}' \
    "$BENCH_WORK/zipkin.ndjson"
  : >"$BENCH_WORK/zk.cfg"
  local f
  for f in "$BENCH_WORK"/zk/*.json; do
    # "next": each POST its own body (data options would be joined otherwise).
    printf 'url = "http://127.0.0.1:%s/api/v2/spans"\ndata-binary = "@%s"\noutput = "/dev/null"\nheader = "Content-Type: application/json"\nwrite-out = "%%{http_code}\\n"\nnext\n' \
      "$SB_PORT" "$f" >>"$BENCH_WORK/zk.cfg"
  done
  rm -rf "$dir" && mkdir -p "$dir"
  sb_start "$dir" || return 1
  curl -sS -K "$BENCH_WORK/zk.cfg" >"$BENCH_WORK/zk.codes" 2>"$BENCH_WORK/zk.err"
  if grep -qv '^2' "$BENCH_WORK/zk.codes"; then
    echo "bench/run spans: Zipkin POST failed: $(sort "$BENCH_WORK/zk.codes" | uniq -c | tr '\n' ' ')$(head -n 3 "$BENCH_WORK/zk.err")" >&2
    sb_stop
    return 1
  fi
  sb_wait_spans "$n" >/dev/null || {
    sb_stop
    return 1
  }
  local bytes
  bytes=$(sb_metric telltale_spanstore_bytes)
  sb_stop
  rm -rf "$dir" "$BENCH_WORK/zk" "$BENCH_WORK/zipkin.ndjson"
  awk -v b="$bytes" -v n="$n" 'BEGIN {printf "%.2f %d\n", b / n, n}' >>"$out"
}

# sb_http_times CFG: time_total of every URL in the curl config CFG, in ms,
# one a line (one keep-alive connection).
sb_http_times() {
  curl -sS -K "$1" -w '%{http_code} %{time_total}\n' | awk '
    $1 != 200 {bad++} {print $2 * 1000}
    END {if (bad) printf "bench/run spans: %d queries not answered 200\n", bad >"/dev/stderr"}'
}

# sb_p PCT: the PCT-th percentile (nearest rank) of the numbers on stdin.
sb_p() {
  sort -g | awk -v p="$1" '{v[NR] = $1} END {
    if (NR == 0) { print "nan"; exit }
    i = int(NR * p / 100 + 0.999999); if (i < 1) i = 1; if (i > NR) i = NR; printf "%.3f\n", v[i] }'
}

sb_pass() { awk -v v="$1" -v t="$3" "BEGIN {print (v $2 t) ? 1 : 0}"; }

bench_spans() {
  build telltale_cli agentload otlpload spanbench
  local big=${SPANS_BENCH_SPANS:-50000000} ingest=${SPANS_BENCH_INGEST:-3000000}
  local runs=${SPANS_BENCH_RUNS:-3} nj=200000 np=500000 nz=1000000 i
  if [ "$QUICK" = 1 ]; then
    big=${SPANS_BENCH_SPANS:-300000} ingest=${SPANS_BENCH_INGEST:-300000} nj=20000 np=60000
    nz=50000
  fi
  [ "$(nproc)" -ge 2 ] || echo "bench/run spans: one CPU: server and generators share it" >&2

  # --- ingest ------------------------------------------------------------------
  : >"$BENCH_WORK/native" && : >"$BENCH_WORK/json" && : >"$BENCH_WORK/proto"
  for ((i = 0; i < runs; i++)); do
    sb_ingest_run native "$ingest" "$BENCH_WORK/native" || return 1
    sb_ingest_run json "$nj" "$BENCH_WORK/json" || return 1
    sb_ingest_run proto "$np" "$BENCH_WORK/proto" || return 1
  done
  local nat natc natack natb js jsc pb pbc
  nat=$(awk '{print $1}' "$BENCH_WORK/native" | median)
  natc=$(awk '{print $2}' "$BENCH_WORK/native" | median)
  natack=$(awk '{print $3}' "$BENCH_WORK/native" | median)
  natb=$(awk '{print $4}' "$BENCH_WORK/native" | median)
  js=$(awk '{print $1}' "$BENCH_WORK/json" | median)
  jsc=$(awk '{print $2}' "$BENCH_WORK/json" | median)
  pb=$(awk '{print $1}' "$BENCH_WORK/proto" | median)
  pbc=$(awk '{print $2}' "$BENCH_WORK/proto" | median)
  local tempo
  tempo=$(awk -v v="$nat" 'BEGIN {printf "%.2f", v / 30000}')
  figure ingest_native_spans_per_s "$nat" "spans/s" ">= 300000 (one core)" \
    "$(sb_pass "$nat" ">=" 300000)" "{\"tempo_distributor_30k_ref\":$tempo}"
  figure ingest_native_spans_per_cpu_s "$natc" "spans/cpu-s" ">= 300000" \
    "$(sb_pass "$natc" ">=" 300000)" \
    "{\"tempo_distributor_30k_ref\":$(awk -v v="$natc" 'BEGIN {printf "%.2f", v / 30000}')}"
  figure ingest_native_acked_spans_per_s "$natack" "spans/s"
  figure ingest_otlp_json_spans_per_s "$js" "spans/s"
  figure ingest_otlp_json_spans_per_cpu_s "$jsc" "spans/cpu-s"
  figure ingest_otlp_proto_spans_per_s "$pb" "spans/s"
  figure ingest_otlp_proto_spans_per_cpu_s "$pbc" "spans/cpu-s"

  # --- storage -----------------------------------------------------------------
  : >"$BENCH_WORK/zipkin"
  sb_zipkin_bytes "$nz" "$BENCH_WORK/zipkin" || return 1
  local bz
  bz=$(awk '{print $1}' "$BENCH_WORK/zipkin" | median)
  figure bytes_per_span "$bz" "bytes" "<= 40" "$(sb_pass "$bz" "<=" 40)" \
    "{\"jaeger_es_63_ref\":$(awk -v v="$bz" 'BEGIN {printf "%.3f", v / 63}'),\"dapper_426_ref\":$(awk -v v="$bz" 'BEGIN {printf "%.3f", v / 426}')}"
  figure bytes_per_span_native "$natb" "bytes" "<= 40" "$(sb_pass "$natb" "<=" 40)"

  # --- queries on a big store --------------------------------------------------
  local data="$BENCH_WORK/big" out="$BENCH_WORK/spanbench.out"
  rm -rf "$data" && mkdir -p "$data"
  SPANBENCH_IDS="$BENCH_WORK/ids" "$BUILD/spanbench" "$data/spans" "$big" >"$out" || {
    echo "bench/run spans: spanbench failed" >&2
    return 1
  }
  local t0_ns ready rss0 rssq p99 p50 sp50 f
  t0_ns=$(awk '$1 == "t0_ns" {print $2}' "$out")
  sb_start "$data" || return 1
  ready=$SB_READY_MS
  rss0=$(sb_rss_kb "$SB_PID")
  : >"$BENCH_WORK/byid.cfg"
  while read -r f; do
    printf 'url = "http://127.0.0.1:%s/api/traces/%s"\noutput = "/dev/null"\n' "$SB_PORT" "$f"
  done <"$BENCH_WORK/ids" >>"$BENCH_WORK/byid.cfg"
  sb_http_times "$BENCH_WORK/byid.cfg" >"$BENCH_WORK/byid.ms"
  local svc s_us e_us
  s_us=$(((t0_ns / 1000) + 3600000000))
  e_us=$((s_us + 3600000000))
  : >"$BENCH_WORK/search.cfg"
  for ((i = 0; i < 30; i++)); do
    case $((i % 6)) in
    0) svc=frontend ;; 1) svc=checkout ;; 2) svc=payment ;;
    3) svc=cart ;; 4) svc=inventory ;; 5) svc=shipping ;;
    esac
    printf 'url = "http://127.0.0.1:%s/api/traces?service=%s&minDuration=1s&start=%s&end=%s&limit=20"\noutput = "/dev/null"\n' \
      "$SB_PORT" "$svc" "$s_us" "$e_us" >>"$BENCH_WORK/search.cfg"
  done
  sb_http_times "$BENCH_WORK/search.cfg" >"$BENCH_WORK/search.ms"
  rssq=$(sb_rss_kb "$SB_PID")
  local stored bytes
  stored=$(sb_metric telltale_spanstore_spans)
  bytes=$(sb_metric telltale_spanstore_bytes)
  sb_stop
  rm -rf "$data"
  p50=$(sb_p 50 <"$BENCH_WORK/byid.ms")
  p99=$(sb_p 99 <"$BENCH_WORK/byid.ms")
  sp50=$(sb_p 50 <"$BENCH_WORK/search.ms")
  figure big_store_spans "${stored:-0}" "spans"
  figure big_store_bytes_per_span "$(awk -v b="$bytes" -v n="$stored" 'BEGIN {printf "%.2f", n ? b / n : 0}')" "bytes"
  figure store_write_spans_per_s "$(awk '$1 == "store_ingest_spans_per_s" {print $2}' "$out")" "spans/s"
  figure store_open_ms "$(awk '$1 == "open_ms" {print $2}' "$out")" "ms"
  figure server_ready_ms "$ready" "ms"
  figure server_rss_mb_open "$(awk -v k="$rss0" 'BEGIN {printf "%.1f", k / 1024}')" "MB"
  figure server_rss_mb_queried "$(awk -v k="$rssq" 'BEGIN {printf "%.1f", k / 1024}')" "MB"
  figure trace_by_id_p50_ms "$p50" "ms"
  figure trace_by_id_p99_ms "$p99" "ms" "<= 10 (at 50 M spans)" "$(sb_pass "$p99" "<=" 10)"
  figure trace_by_id_p99_ms_inproc "$(awk '$1 == "trace_by_id_p99_ms" {print $2}' "$out")" "ms" \
    "<= 10" "$(sb_pass "$(awk '$1 == "trace_by_id_p99_ms" {print $2}' "$out")" "<=" 10)"
  figure search_p50_ms "$sp50" "ms" "<= 100" "$(sb_pass "$sp50" "<=" 100)"
  figure search_p50_ms_inproc "$(awk '$1 == "search_p50_ms" {print $2}' "$out")" "ms" \
    "<= 100" "$(sb_pass "$(awk '$1 == "search_p50_ms" {print $2}' "$out")" "<=" 100)"
}
