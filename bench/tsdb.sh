# bench/tsdb.sh - the `tsdb` benchmark (sourced by bench/run): the metric store
# against Prometheus and VictoriaMetrics from Debian, on the same data on the
# same machine in one run (BENCH.md, issue 3).
#
# Datasets: nodeexp (the real node_exporter recording in shared/data) and
# synthetic (shared/bench/gen_workload.py; --quick: 2 hosts x 6 h). For each:
#   Prometheus:      promtool tsdb create-blocks-from openmetrics, then a
#                    prometheus server on those blocks for the queries;
#   VictoriaMetrics: victoria-metrics, POST /api/v1/import/prometheus, flush;
#   Telltale:        telltale server, POST /api/v1/import/prometheus, then
#                    POST /api/tt/admin/flush — measured once the server
#                    answers those endpoints (until then its figures are absent).
# First the codec speeds (build/codec: encode and decode values/s against a
# memcpy of the same bytes) and the head's memory per series at 1 M series
# (build/headmem). Then figures per dataset (prefixed with it): bytes_per_sample, import_samples_per_s,
# import_cpu_s, query_p50_ms_q1..q5 (shared/bench/query_bench.sh's queries, on
# the synthetic day only: they name its series).
# The peers' packages are installed on first use (apt); nothing listens beyond
# 127.0.0.1; every process is stopped by PID.

TSDB_PIDS=()

tsdb_stop_all() {
  local pid
  for pid in "${TSDB_PIDS[@]}"; do
    stop_pid "$pid"
  done
  TSDB_PIDS=()
}

tsdb_need() {
  local missing=()
  command -v promtool >/dev/null || missing+=(prometheus)
  command -v victoria-metrics >/dev/null || missing+=(victoria-metrics)
  command -v jq >/dev/null || missing+=(jq)
  command -v curl >/dev/null || missing+=(curl)
  command -v zstd >/dev/null || missing+=(zstd)
  if [ ${#missing[@]} -gt 0 ]; then
    echo "bench/run tsdb: installing ${missing[*]}" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" \
      >"$BENCH_WORK/apt.log" 2>&1 || {
      apt-get update -q >/dev/null 2>&1
      DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" \
        >"$BENCH_WORK/apt.log" 2>&1 || {
        tail -n 20 "$BENCH_WORK/apt.log" >&2
        echo "bench/run tsdb: cannot install ${missing[*]}" >&2
        exit 1
      }
    }
  fi
}

# tsdb_data: writes $BENCH_WORK/{nodeexp,synthetic}.{prom,om} and sample counts.
tsdb_data() {
  local shared="$ROOT/../shared"
  zstd -dc "$shared/data/node-exporter/nodeexp-1s-600s.prom.zst" >"$BENCH_WORK/nodeexp.prom"
  # OpenMetrics for promtool: timestamps in seconds, no TYPE/HELP (the
  # recording's families repeat every scrape, which OpenMetrics forbids for
  # typed families; untyped samples are stored the same), '# EOF' at the end.
  awk '/^#/ {next} NF >= 2 {ts = $NF; $NF = sprintf("%.3f", ts / 1000); print} END {print "# EOF"}' \
    "$BENCH_WORK/nodeexp.prom" >"$BENCH_WORK/nodeexp.om"
  if [ "$QUICK" = 1 ]; then
    python3 "$shared/bench/gen_workload.py" --hosts 2 --hours 6 \
      --om "$BENCH_WORK/synthetic.om" --prom "$BENCH_WORK/synthetic.prom" >/dev/null 2>&1
  else
    python3 "$shared/bench/gen_workload.py" \
      --om "$BENCH_WORK/synthetic.om" --prom "$BENCH_WORK/synthetic.prom" >/dev/null 2>&1
  fi
  local ds
  for ds in nodeexp synthetic; do
    grep -vc '^#' "$BENCH_WORK/$ds.prom" >"$BENCH_WORK/$ds.samples"
  done
}

# tsdb_time CMD...: runs CMD, prints "wall_s cpu_s" of it (children included).
tsdb_time() {
  local out="$BENCH_WORK/time.$$"
  /usr/bin/env time -f '%e %U %S' -o "$out" "$@" >/dev/null 2>>"$BENCH_WORK/cmd.log" || {
    echo "bench/run tsdb: failed: $*" >&2
    tail -n 20 "$BENCH_WORK/cmd.log" >&2
    return 1
  }
  awk '{printf "%s %.3f\n", $1, $2 + $3}' "$out"
}

# tsdb_pid_cpu PID: user+system CPU seconds of a running process so far.
tsdb_pid_cpu() {
  awk -v hz="$(getconf CLK_TCK)" '{printf "%.3f\n", ($14 + $15) / hz}' "/proc/$1/stat"
}

# tsdb_query_p50 BASE LABEL: runs query_bench.sh; prints "q1 p50" .. "q5 p50".
tsdb_queries() {
  local base=$1 label=$2
  bash "$ROOT/../shared/bench/query_bench.sh" "$base" 1704067200 1704153600 "$label" \
    >"$BENCH_WORK/q-$label.txt" 2>>"$BENCH_WORK/cmd.log" || true
  awk 'NR > 1 {print "q" NR - 1, $3}' "$BENCH_WORK/q-$label.txt"
}

tsdb_prometheus() { # DS -> prom.<DS>.{bytes,wall,cpu} [and queries]
  local ds=$1 dir="$BENCH_WORK/prom-$ds" t
  mkdir -p "$dir"
  t=$(tsdb_time promtool tsdb create-blocks-from openmetrics "$BENCH_WORK/$ds.om" "$dir") || return 1
  echo "$t" >"$BENCH_WORK/prom.$ds.time"
  du_bytes "$dir" >"$BENCH_WORK/prom.$ds.bytes"
  if [ "$ds" = synthetic ]; then
    printf 'global:\n  scrape_interval: 1h\n' >"$BENCH_WORK/prom.yml"
    prometheus --config.file="$BENCH_WORK/prom.yml" --storage.tsdb.path="$dir" \
      --storage.tsdb.retention.time=100y --web.listen-address="127.0.0.1:$PROM_PORT" \
      --query.lookback-delta=5m >"$BENCH_WORK/prometheus.log" 2>&1 &
    TSDB_PIDS+=($!)
    wait_http "http://127.0.0.1:$PROM_PORT/-/ready" 120 &&
      tsdb_queries "http://127.0.0.1:$PROM_PORT" prometheus >"$BENCH_WORK/prom.$ds.q"
    tsdb_stop_all
  fi
}

tsdb_victoria() { # DS -> vm.<DS>.{bytes,wall,cpu} [and queries]
  local ds=$1 dir="$BENCH_WORK/vm-$ds" pid c0 c1 t0 t1
  mkdir -p "$dir"
  victoria-metrics -storageDataPath="$dir" -httpListenAddr="127.0.0.1:$VM_PORT" \
    -retentionPeriod=100y -search.disableCache >"$BENCH_WORK/vm.log" 2>&1 &
  pid=$!
  TSDB_PIDS+=("$pid")
  wait_http "http://127.0.0.1:$VM_PORT/health" 60 || return 1
  c0=$(tsdb_pid_cpu "$pid")
  t0=$(date +%s.%N)
  curl -fsS --data-binary "@$BENCH_WORK/$ds.prom" "http://127.0.0.1:$VM_PORT/api/v1/import/prometheus"
  curl -fsS "http://127.0.0.1:$VM_PORT/internal/force_flush" >/dev/null
  t1=$(date +%s.%N)
  c1=$(tsdb_pid_cpu "$pid")
  awk -v a="$t0" -v b="$t1" -v c="$c0" -v d="$c1" 'BEGIN {printf "%.3f %.3f\n", b - a, d - c}' \
    >"$BENCH_WORK/vm.$ds.time"
  curl -fsS "http://127.0.0.1:$VM_PORT/internal/force_merge" >/dev/null 2>&1 || true
  sleep 5 # let the merge settle before measuring the size
  du_bytes "$dir" >"$BENCH_WORK/vm.$ds.bytes"
  if [ "$ds" = synthetic ]; then
    tsdb_queries "http://127.0.0.1:$VM_PORT" victoriametrics >"$BENCH_WORK/vm.$ds.q"
  fi
  tsdb_stop_all
}

tsdb_telltale() { # DS -> tt.<DS>.*, when the server supports import and flush
  local ds=$1 dir="$BENCH_WORK/tt-$ds" port=${TT_BENCH_PORT:-17070} pid c0 c1 t0 t1
  if ! "$BUILD/telltale" server --help >/dev/null 2>&1; then
    echo "bench/run tsdb: this telltale has no server yet: no Telltale figures" >&2
    return 0
  fi
  mkdir -p "$dir"
  "$BUILD/telltale" server --data "$dir" --http "127.0.0.1:$port" --agents 127.0.0.1:0 >"$BENCH_WORK/tt.log" 2>&1 &
  pid=$!
  TSDB_PIDS+=("$pid")
  if ! wait_http "http://127.0.0.1:$port/-/ready" 30 ||
    ! curl -fsS -o /dev/null -X POST --data-binary $'up 1 1704067200000\n' \
      "http://127.0.0.1:$port/api/v1/import/prometheus" 2>/dev/null; then
    echo "bench/run tsdb: telltale server does not import yet: no Telltale figures" >&2
    tsdb_stop_all
    return 0
  fi
  stop_pid "$pid" # restart empty: the probe sample above must not count
  TSDB_PIDS=()
  rm -rf "$dir" && mkdir -p "$dir"
  "$BUILD/telltale" server --data "$dir" --http "127.0.0.1:$port" --agents 127.0.0.1:0 >"$BENCH_WORK/tt.log" 2>&1 &
  pid=$!
  TSDB_PIDS+=("$pid")
  wait_http "http://127.0.0.1:$port/-/ready" 30 || return 1
  c0=$(tsdb_pid_cpu "$pid")
  t0=$(date +%s.%N)
  curl -fsS --data-binary "@$BENCH_WORK/$ds.prom" "http://127.0.0.1:$port/api/v1/import/prometheus"
  t1=$(date +%s.%N)
  c1=$(tsdb_pid_cpu "$pid")
  awk -v a="$t0" -v b="$t1" -v c="$c0" -v d="$c1" 'BEGIN {printf "%.3f %.3f\n", b - a, d - c}' \
    >"$BENCH_WORK/tt.$ds.time"
  # Settled size on disk needs the flush of the head into blocks; until the
  # server has it, no bytes/sample figure is given for Telltale.
  if curl -fsS -X POST "http://127.0.0.1:$port/api/tt/admin/flush" >/dev/null 2>&1; then
    du_bytes "$dir" >"$BENCH_WORK/tt.$ds.bytes"
  else
    echo "bench/run tsdb: telltale has no /api/tt/admin/flush yet: no bytes/sample figure" >&2
  fi
  if [ "$ds" = synthetic ]; then
    tsdb_queries "http://127.0.0.1:$port" telltale >"$BENCH_WORK/tt.$ds.q"
  fi
  tsdb_stop_all
}

# tsdb_report DS: prints the dataset's figures with ratios to the peers.
tsdb_report() {
  local ds=$1 n sys f v vs peer q
  n=$(cat "$BENCH_WORK/$ds.samples")
  for sys in tt prom vm; do
    [ -f "$BENCH_WORK/$sys.$ds.time" ] || continue
    if [ -f "$BENCH_WORK/$sys.$ds.bytes" ]; then
      awk -v b="$(cat "$BENCH_WORK/$sys.$ds.bytes")" -v n="$n" 'BEGIN {printf "%.4f\n", b / n}' \
        >"$BENCH_WORK/$sys.$ds.bps"
    fi
    read -r wall cpu <"$BENCH_WORK/$sys.$ds.time"
    awk -v n="$n" -v w="$wall" 'BEGIN {printf "%.0f\n", n / w}' >"$BENCH_WORK/$sys.$ds.rate"
    echo "$cpu" >"$BENCH_WORK/$sys.$ds.cpu"
  done
  # Telltale's figures carry vs; a peer's own figure is printed with its name.
  for f in bytes_per_sample:bps:bytes/sample import_samples_per_s:rate:samples/s import_cpu_s:cpu:s; do
    IFS=: read -r name ext unit <<<"$f"
    for sys in prom vm; do
      [ -f "$BENCH_WORK/$sys.$ds.$ext" ] || continue
      peer=$([ $sys = prom ] && echo prometheus || echo victoriametrics)
      figure "${ds}_${name}_${peer}" "$(cat "$BENCH_WORK/$sys.$ds.$ext")" "$unit"
    done
    if [ -f "$BENCH_WORK/tt.$ds.$ext" ]; then
      v=$(cat "$BENCH_WORK/tt.$ds.$ext")
      vs=""
      for sys in prom vm; do
        [ -f "$BENCH_WORK/$sys.$ds.$ext" ] || continue
        peer=$([ $sys = prom ] && echo prometheus || echo victoriametrics)
        vs="$vs${vs:+,}\"$peer\":$(awk -v a="$v" -v b="$(cat "$BENCH_WORK/$sys.$ds.$ext")" \
          'BEGIN {printf "%.4g", (b == 0) ? 0 : a / b}')"
      done
      figure "${ds}_${name}" "$v" "$unit" "" 1 "{$vs}"
    fi
  done
  [ "$ds" = synthetic ] || return 0
  local pv tv
  for q in q1 q2 q3 q4 q5; do
    vs=""
    tv=$(awk -v q=$q '$1 == q {print $2}' "$BENCH_WORK/tt.$ds.q" 2>/dev/null)
    for sys in prom vm; do
      pv=$(awk -v q=$q '$1 == q {print $2}' "$BENCH_WORK/$sys.$ds.q" 2>/dev/null)
      [ -n "$pv" ] || continue
      peer=$([ $sys = prom ] && echo prometheus || echo victoriametrics)
      figure "${ds}_query_p50_ms_${q}_${peer}" "$pv" "ms"
      [ -n "$tv" ] && vs="$vs${vs:+,}\"$peer\":$(awk -v a="$tv" -v b="$pv" \
        'BEGIN {printf "%.4g", (b == 0) ? 0 : a / b}')"
    done
    [ -n "$tv" ] && figure "${ds}_query_p50_ms_${q}" "$tv" "ms" "" 1 "{$vs}"
  done
}

bench_tsdb() {
  tsdb_need
  build telltale_cli codec headmem
  trap 'tsdb_stop_all; rm -rf "$BENCH_WORK"' EXIT
  local q=()
  [ "$QUICK" = 1 ] && q=(--quick)
  # Codec speed against memcpy of the same bytes, and head memory per series
  # at 1 M series (--quick: 100 k).
  if [ "$JSON" = 1 ]; then
    "$BUILD/codec" "${q[@]}" --json
    "$BUILD/headmem" "${q[@]}" --json
  else
    "$BUILD/codec" "${q[@]}"
    "$BUILD/headmem" "${q[@]}"
  fi
  tsdb_data
  local ds
  for ds in nodeexp synthetic; do
    tsdb_prometheus "$ds" || echo "bench/run tsdb: prometheus on $ds failed" >&2
    tsdb_victoria "$ds" || echo "bench/run tsdb: victoria-metrics on $ds failed" >&2
    tsdb_telltale "$ds" || echo "bench/run tsdb: telltale on $ds failed" >&2
    tsdb_report "$ds"
  done
}
