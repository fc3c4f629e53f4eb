# bench/agent_pipeline.sh - the pipeline part of the `agent` benchmark
# (sourced by bench/agent.sh, run by bench/run agent), issue 4: records per
# second end to end on loopback into the stores, samples and spans mixed
# 50/50 by record count.
#
# build/agentload (bench/agentload.c) plays the agents: real core batches
# over the link protocol, each batch the agent's series, a samples record
# and as many spans as samples, zstd as the agent sends them, 16 batches in
# flight per connection (the agent's window), built before the clock starts.
# Each run gets a fresh `telltale server` (WAL group commit, the default) on
# its own data directory; the run's figure is records ACKed per second from
# the first send to the last ACK (an ACK means durable: WAL and record log
# fdatasync'd). Median of 3 runs (--quick: smaller runs).
#
# Figures:
#   pipeline_records_per_s             one agent, 4000-record batches
#   pipeline_100_agents_records_per_s  100 agents at once, 1000-record batches
#   pipeline_server_rss_mb_before, pipeline_server_rss_mb_after
#                                      the server's RSS before and after the
#                                      100-agent run (median of the runs)
#   pipeline_samples_stored_pct        samples the server's query API counts
#                                      (sum of count_over_time) over samples
#                                      ACKed, over every run: 100 when none
#                                      is lost

# pipeline_run AGENTS RECORDS BATCH OUT: one server, one agentload run; appends
# "records_per_s rss_before_kb rss_after_kb samples_acked samples_counted" to OUT.
pipeline_run() {
  local agents=$1 records=$2 batch=$3 out=$4
  local dir="$BENCH_WORK/pipe-data" port=${TT_BENCH_PORT:-17070} aport pid r0 r1 json rps sacked q n
  aport=$((port + 1))
  rm -rf "$dir" && mkdir -p "$dir"
  "$BUILD/telltale" server --data "$dir" --http "127.0.0.1:$port" --agents "127.0.0.1:$aport" \
    >"$BENCH_WORK/pipe-server.log" 2>&1 &
  pid=$!
  if ! wait_http "http://127.0.0.1:$port/-/ready" 30; then
    tail -n 20 "$BENCH_WORK/pipe-server.log" >&2
    stop_pid "$pid"
    return 1
  fi
  r0=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")
  if ! json=$("$BUILD/agentload" --port "$aport" --agents "$agents" --records "$records" \
    --batch "$batch" --window 16 2>>"$BENCH_WORK/pipe-load.log"); then
    echo "bench/run agent: agentload failed: $(tail -n 3 "$BENCH_WORK/pipe-load.log")" >&2
    stop_pid "$pid"
    return 1
  fi
  r1=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")
  rps=$(echo "$json" | json_num records_per_s)
  sacked=$(echo "$json" | json_num samples)
  # Every sample ACKed must be queryable: count them through the HTTP API.
  q='sum(count_over_time({job="node"}[1d]))'
  n=$(curl -fsS -G --data-urlencode "query=$q" "http://127.0.0.1:$port/api/v1/query" |
    sed -n 's/.*"value":\[[0-9.]*,"\([0-9.e+]*\)"\].*/\1/p')
  stop_pid "$pid"
  rm -rf "$dir"
  echo "$rps $r0 $r1 $sacked ${n:-0}" >>"$out"
}

bench_agent_pipeline() {
  build telltale_cli agentload
  local runs=3 one=2000000 many=4000000 i
  if [ "$QUICK" = 1 ]; then one=400000 many=800000; fi
  : >"$BENCH_WORK/pipe-1" && : >"$BENCH_WORK/pipe-100"
  for ((i = 0; i < runs; i++)); do
    pipeline_run 1 "$one" 4000 "$BENCH_WORK/pipe-1" || return 1
    pipeline_run 100 "$many" 1000 "$BENCH_WORK/pipe-100" || return 1
  done
  local r1 r100 rssb rssa pct
  r1=$(awk '{print $1}' "$BENCH_WORK/pipe-1" | median)
  r100=$(awk '{print $1}' "$BENCH_WORK/pipe-100" | median)
  rssb=$(awk '{print $2 / 1024}' "$BENCH_WORK/pipe-100" | median)
  rssa=$(awk '{print $3 / 1024}' "$BENCH_WORK/pipe-100" | median)
  pct=$(cat "$BENCH_WORK/pipe-1" "$BENCH_WORK/pipe-100" |
    awk '{a += $4; c += $5} END {if (a > 0) printf "%.2f", c / a * 100; else print 0}')
  figure pipeline_records_per_s "$(printf '%.0f' "$r1")" "rec/s" ">= 1000000" \
    "$(awk -v r="$r1" 'BEGIN {print (r >= 1000000) ? 1 : 0}')"
  figure pipeline_100_agents_records_per_s "$(printf '%.0f' "$r100")" "rec/s" ">= 1000000" \
    "$(awk -v r="$r100" 'BEGIN {print (r >= 1000000) ? 1 : 0}')"
  figure pipeline_server_rss_mb_before "$(printf '%.1f' "$rssb")" "MB"
  figure pipeline_server_rss_mb_after "$(printf '%.1f' "$rssa")" "MB"
  figure pipeline_samples_stored_pct "$pct" "%" "100 %" \
    "$(awk -v p="$pct" 'BEGIN {print (p >= 100) ? 1 : 0}')"
}
