#!/usr/bin/env bash
# agent_outage60.sh SRC_DIR BUILD_DIR - the server killed -9 and kept down
# for 60 s while a real `telltale agent` collects every second: the agent
# keeps its rounds in its backlog and, once the server is back (same agent
# port, same data), every round of the outage arrives, none twice (one
# node_load1 sample per round the agent stored, distinct timestamps, no gap
# over 1.6 s). Takes about 75 s, mostly sleeping, so the sanitizer stages
# of tests/run_all.sh leave it out (the Debug stage runs it):
# ctest-label: slow
set -euo pipefail
build=${2:?usage: agent_outage60.sh SRC_DIR BUILD_DIR}
. "$(dirname "$0")/lib/server.sh"
. "$(dirname "$0")/lib/agentlink.sh"
extra_cleanup() {
    kill -KILL "$apid" 2>/dev/null || true
    wait "$apid" 2>/dev/null || true
}

aport=$(free_port)
start_server --agents "127.0.0.1:$aport"
start_agent "127.0.0.1:$aport" outage-node
wait_synced outage-node 3

kill9_server
before=$(rounds)
sleep 60
during=$(($(rounds) - before))
[[ $during -ge 55 ]] || afail "the agent stored only $during rounds in the 60 s the server was down"
start_server --agents "127.0.0.1:$aport"
wait_synced outage-node $((before + during + 1))
n=$(check_rounds outage-node "after a 60 s outage")
echo "ok: $during rounds of a 60 s server outage arrived; $n samples in all, one per round"
stop_agent
stop_server
grep -q 'level=error' "$work/agent.err" && afail "the agent logged errors"
echo "PASS"
