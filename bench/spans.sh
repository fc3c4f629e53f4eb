# bench/spans.sh - `bench/run spans` (BENCH.md): the span store's figures from
# build/spanbench (bench/spanbench.c): typical spans (12 attributes, random
# ids, interleaved traces of 4 to 12 spans over two hours) written straight
# into a span store, then bytes_per_span on disk, trace_by_id_p99_ms over
# random stored traces and search_p50_ms (service + minDuration over the last
# hour); the median of 3 runs each. 2 M spans (--quick: 200 k). The ingest
# figure here is the store's own (spanstore_add + commit on one core), not
# the agent pipeline's ingest_native_spans_per_s, which is not measured yet.
bench_spans() {
  build spanbench
  local n=2000000 runs=3
  [ "$QUICK" = 1 ] && n=200000
  for i in $(seq 1 $runs); do
    rm -rf "$BENCH_WORK/store"
    "$BUILD/spanbench" "$BENCH_WORK/store" "$n" >"$BENCH_WORK/run.$i" || {
      echo "bench/run spans: spanbench failed" >&2
      exit 1
    }
  done
  rm -rf "$BENCH_WORK/store"
  local f v
  for f in store_ingest_spans_per_s bytes_per_span trace_by_id_p99_ms search_p50_ms; do
    v=$(cat "$BENCH_WORK"/run.* | awk -v f=$f '$1 == f {print $2}' | median)
    case $f in
    store_ingest_spans_per_s) figure "$f" "$v" "spans/s" ;;
    bytes_per_span) figure "$f" "$v" "bytes" "<= 40" "$(awk -v v="$v" 'BEGIN{print (v <= 40)}')" ;;
    trace_by_id_p99_ms) figure "$f" "$v" "ms" "<= 10 (at 50 M spans)" "$(awk -v v="$v" 'BEGIN{print (v <= 10)}')" ;;
    search_p50_ms) figure "$f" "$v" "ms" "<= 100" "$(awk -v v="$v" 'BEGIN{print (v <= 100)}')" ;;
    esac
  done
}
