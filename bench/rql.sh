# bench/rql.sh - `bench/run rql` (BENCH.md), issue 6's RQL figure: cuts
# examined per second on one core for a 3-variable predicate over 5 nodes,
# 1 M state changes applied one at a time to an in-memory cut and the query
# re-evaluated after each (bench/rqlbench.c says what each query is).
#
#   same_node_cuts_per_s, each_node_cuts_per_s, unlinked_cuts_per_s
#       incremental evaluation (rql_eval_change) with LINK SAME_NODE, LINK
#       EACH_NODE and unlinked (5x5x5 bindings a cut); target >= 1 M/s;
#       `vs` retroscope: Retroscope's published 150 k cuts/s per worker (not
#       measured here).
#   same_node_full_cuts_per_s, unlinked_full_cuts_per_s
#       the same queries with every cut evaluated in full (rql_eval_cut).
#
# Medians of RQL_BENCH_RUNS runs (default 3; --quick: 1 run of 100 k changes).
# Environment: RQL_BENCH_CHANGES (default 1000000).

bench_rql() {
  build rqlbench
  local n=${RQL_BENCH_CHANGES:-1000000} runs=${RQL_BENCH_RUNS:-3} i f v
  if [ "$QUICK" = 1 ]; then
    n=${RQL_BENCH_CHANGES:-100000}
    runs=1
  fi
  : >"$BENCH_WORK/rql"
  for ((i = 0; i < runs; i++)); do
    "$BUILD/rqlbench" "$n" >>"$BENCH_WORK/rql" || exit 1
  done
  for f in same_node each_node unlinked same_node_full unlinked_full; do
    v=$(awk -v n="${f}_cuts_per_s" '$1 == n {print $2}' "$BENCH_WORK/rql" | median)
    figure "${f}_cuts_per_s" "$v" "cuts/s" ">= 1000000" \
      "$(awk -v v="$v" 'BEGIN {print (v >= 1000000) ? 1 : 0}')" \
      "{\"retroscope\":$(awk -v v="$v" 'BEGIN {printf "%.2f", v / 150000}')}"
  done
}
