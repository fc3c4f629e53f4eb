#!/usr/bin/env bash
# agent_netcut.sh SRC_DIR BUILD_DIR - network cuts between a real `telltale
# agent` (1 s rounds) and the server: the agent talks through a TCP relay
# (tests/tools/linkprobe.c relay) that resets its first 4 connections
# (SO_LINGER 0): twice half-way through a BATCH (the server drops the partial
# frame, the agent sends the batch again), twice when the server's ACK comes
# (the batch is stored, the agent never hears of it; the WELCOME of its next
# connection says so, or it sends it again and gets a duplicate's ACK).
# Afterwards every round is in the store exactly once (one node_load1 sample
# per round the agent stored, distinct timestamps, no gap) and the server
# logged the frames cut half-way. The replay of a stored batch on the wire
# (ACKed again, stored once) is agent_hostile.sh's "replay" case.
set -euo pipefail
build=${2:?usage: agent_netcut.sh SRC_DIR BUILD_DIR}
. "$(dirname "$0")/lib/server.sh"
. "$(dirname "$0")/lib/agentlink.sh"
rpid=
extra_cleanup() {
    for p in $apid $rpid; do
        kill -KILL "$p" 2>/dev/null || true
        wait "$p" 2>/dev/null || true
    done
}

aport=$(free_port)
start_server --agents "127.0.0.1:$aport"
rport=$(free_port)
"$build/linkprobe" relay "$rport" "127.0.0.1:$aport" 4 2>"$work/relay.err" &
rpid=$!
for _ in $(seq 1 50); do
    grep -q listening "$work/relay.err" && break
    sleep 0.1
done
start_agent "127.0.0.1:$rport" cut-node
for _ in $(seq 1 600); do
    [[ $(grep -c 'connection reset' "$work/relay.err" || true) -ge 4 ]] && break
    kill -0 "$rpid" 2>/dev/null || fail "the relay died: $(cat "$work/relay.err")"
    sleep 0.1
done
cat "$work/relay.err"
[[ $(grep -c 'connection reset' "$work/relay.err" || true) -ge 4 ]] || afail "the relay did not cut 4 times in 60 s"
r=$(rounds)
wait_synced cut-node $((r + 3))
n=$(check_rounds cut-node "after 4 cuts")
echo "ok: 4 cuts, $n rounds in the store, each once"
grep -q 'cut mid-frame.*closed in the middle of a frame' "$work/server.err" ||
    fail "the server did not log the BATCH cut half-way"
echo "ok: the server logged the BATCHes cut half-way"
stop_agent
stop_server
grep -q 'level=error' "$work/agent.err" && afail "the agent logged errors"
echo "PASS"
