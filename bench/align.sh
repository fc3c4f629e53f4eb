# bench/align.sh - `bench/run align` (BENCH.md), issue 6's alignment figure:
#
#   align_events_per_s          events aligned per second on 2 threads
#       (align_run: the per-node scan for the shifts and the merged log's
#       sort/merge, both split in two), 10 M events of 8 simulated nodes held
#       in memory (bench/alignbench.c; --quick: 1 M); median of 3 runs.
#   align_events_per_s_1thread  the same on one thread; `vs` of the 2-thread
#       figure holds the ratio to it (the speed-up of the second core; on a
#       shared machine it is only as good as the idle core is).
# Parsing the text files is not included (telltale align reads them first).

bench_align() {
  build alignbench
  local n=10000000
  [ "$QUICK" = 1 ] && n=1000000
  "$BUILD/alignbench" --events "$n" --runs 3 >"$BENCH_WORK/align.json"
  local one two
  one=$(grep '"threads":1' "$BENCH_WORK/align.json" | json_num events_per_s)
  two=$(grep '"threads":2' "$BENCH_WORK/align.json" | json_num events_per_s)
  figure align_events_per_s "$two" "events/s" "" 1 \
    "{\"1thread\":$(awk -v a="$two" -v b="$one" 'BEGIN { printf "%.2f", a / b }')}"
  figure align_events_per_s_1thread "$one" "events/s"
}
