# bench/agent.sh - the `agent` benchmark (sourced by bench/run), issue 4:
#   bench/agent_overhead.sh: the agent's CPU and RSS at a 1 s interval with the
#     host collectors and one node_exporter scrape target, against netdata
#     from Debian measured in the same run (agent_cpu_pct, agent_rss_mb);
#   bench/agent_pipeline.sh: records/s end to end on loopback, one simulated
#     agent and then 100 (pipeline_records_per_s,
#     pipeline_100_agents_records_per_s).
# Each part is a file of its own defining one function; a part not present
# yet is named on stderr and skipped.

bench_agent() {
  local part
  for part in overhead pipeline; do
    if [ -f "$ROOT/bench/agent_$part.sh" ]; then
      # shellcheck source=/dev/null
      . "$ROOT/bench/agent_$part.sh"
      "bench_agent_$part"
    else
      echo "bench/run agent: part '$part' (bench/agent_$part.sh) is not there yet" >&2
    fi
  done
}
