#!/usr/bin/env bash
# agent_hostile.sh SRC_DIR BUILD_DIR - the server's agent port against
# hostile and misbehaving clients (tests/tools/linkprobe.c) while a real
# `telltale agent` ships a round every second through the same port:
#  1. garbage, a bad header CRC, a bad frame CRC, a frame cut by a close, a
#     BATCH over max_batch_bytes (NACK TOO_BIG, the connection goes on), a
#     BATCH before HELLO, a batch with bad records (NACK, goes on), a replayed
#     batch (ACKed again, stored once), a slow-loris sender and an idle peer:
#     each gets the answer the protocol says and a server log line naming
#     the problem;
#  2. an agent that never reads its ACKs blocks only itself: another's ACKs
#     stay fast (max < 1.5 s) while the server is blocked on it, and it is
#     closed after agents_send_timeout with a logged reason;
#  3. through all of it the real agent's rounds keep arriving, each once,
#     and /api/tt/nodes has its clock offset and round trip from PING/PONG;
#     /metrics counts the closes and refusals by reason.
set -euo pipefail
build=${2:?usage: agent_hostile.sh SRC_DIR BUILD_DIR}
. "$(dirname "$0")/lib/server.sh"
. "$(dirname "$0")/lib/agentlink.sh"
probe=$build/linkprobe
spid=
extra_cleanup() {
    for p in $apid $spid; do
        kill -KILL "$p" 2>/dev/null || true
        wait "$p" 2>/dev/null || true
    done
}

cat >"$work/server.conf" <<CONF
agents_max_batch_bytes = 1MiB
agents_ping_interval = 1
agents_idle_timeout = 3
agents_frame_timeout = 2
agents_send_timeout = 6
CONF
aport=$(free_port)
start_server --config "$work/server.conf" --agents "127.0.0.1:$aport"
start_agent "127.0.0.1:$aport" hostile-node
wait_synced hostile-node 2
r0=$(rounds)

# 1. One hostile client per case.
for c in garbage header-crc frame-crc truncated oversize early-batch bad-body replay slow idle; do
    out=$("$probe" "127.0.0.1:$aport" "$c") || afail "$out"
    echo "$out"
done
expect_log() {
    grep -q -- "$2" "$work/server.err" || fail "$1: the server log does not name the problem ('$2')"
}
expect_log garbage 'reason="link: byte 0: bad magic'
expect_log header-crc 'frame header CRC mismatch'
expect_log frame-crc 'reason="link: byte [0-9]*: frame CRC mismatch (PING frame'
expect_log truncated 'cut mid-frame.*closed in the middle of a frame'
expect_log oversize "over the server's max_batch_bytes 1048576: split it"
expect_log early-batch 'expected HELLO first, got BATCH'
expect_log bad-body 'not declared in the batch'
expect_log slow 'still not complete.*slow sender'
expect_log idle 'no frame for 3 s (PINGs unanswered)'
q() {
    http GET "$base/api/v1/query?query=$1" | python3 -c '
import json, sys
r = json.load(sys.stdin)["data"]["result"]
print(r[0]["value"][1] if r else 0)'
}
[[ "$(q 'count_over_time(tt_probe%7Bcase%3D%22replay%22%7D%5B30m%5D)')" == 5 ]] ||
    fail "the replayed batch's 5 samples are not stored exactly once"
[[ "$(q 'count_over_time(tt_probe%7Bcase%3D%22oversize%22%7D%5B30m%5D)')" == 3 ]] ||
    fail "oversize: only the 3 samples of the small batch after it belong in the store"
[[ "$(q 'count_over_time(tt_probe%7Bcase%3D%22bad-body%22%7D%5B30m%5D)')" == 3 ]] ||
    fail "bad-body: only the 3 samples of the good batch after it belong in the store"
echo "ok: every hostile client got its answer and a log line; replay stored once"

# 2. An agent that stops reading its ACKs (the server ends up blocked
# sending to it: its thread only), and one that keeps sending meanwhile. The
# staller waits up to 90 s for the close (6 s send timeout once the server has
# worked through what it buffered: long under TSan), returning as soon as it comes.
"$probe" "127.0.0.1:$aport" stall 90 >"$work/stall.out" 2>&1 &
spid=$!
for _ in $(seq 1 600); do
    grep -q 'stopped reading' "$work/stall.out" && break
    kill -0 "$spid" 2>/dev/null || break
    sleep 0.1
done
grep -q 'stopped reading' "$work/stall.out" || fail "the staller never filled its connection: $(cat "$work/stall.out")"
out=$("$probe" "127.0.0.1:$aport" pace 8) || afail "pace: $out"
echo "$out"
max=$(echo "$out" | sed -n 's/.*max \([0-9]*\).*/\1/p')
[[ -n "$max" && "$max" -lt 1500 ]] || fail "ACKs of a reading agent slowed by one that does not read: $out"
wait "$spid" || fail "stall: $(cat "$work/stall.out")"
spid=
cat "$work/stall.out"
grep -q 'closed the connection' "$work/stall.out" || fail "the server did not close the agent that does not read"
grep -q 'reason="the agent did not read for 6 s (send timed out)"' "$work/server.err" ||
    fail "the server's log does not say why it closed the agent that does not read"
echo "ok: an agent not reading its ACKs was closed after 6 s; the other's ACKs max $max ms meanwhile"

# 3. The real agent went on all along.
wait_synced hostile-node $((r0 + 10))
n=$(check_rounds hostile-node "after the hostile clients")
echo "ok: the real agent's rounds all arrived, each once ($n samples)"
grep -c 'msg="agent connected".*node=hostile-node' "$work/server.err" | grep -qx 1 ||
    afail "the real agent had to reconnect"
out=$(http GET "$base/api/tt/nodes")
check_json "$out" 'any(n["node"] == "hostile-node" and n["connected"] == 1 and n["rtt_ms"] is not None and 0 <= n["rtt_ms"] < 1000 and abs(n["clock_offset_ms"]) < 1000 for n in j["data"])' "/api/tt/nodes clock offset and round trip"
echo "ok: /api/tt/nodes: $(echo "$out" | python3 -c 'import json,sys; print([(n["node"], n["clock_offset_ms"], n["rtt_ms"]) for n in json.load(sys.stdin)["data"] if n["node"] == "hostile-node"])')"
# /metrics counts what happened.
http GET "$base/metrics" >"$work/metrics.txt"
python3 - "$work/metrics.txt" <<'PY' || fail "agent metrics: $(grep telltale_agent "$work/metrics.txt")"
import re, sys
m = {}
for line in open(sys.argv[1]):
    if line.startswith("telltale_agent_"):
        k, v = line.rsplit(" ", 1)
        m[k] = float(v)
want = {
    'telltale_agent_connections_closed_total{reason="protocol"}': 4,  # garbage, 2 CRCs, early batch
    'telltale_agent_connections_closed_total{reason="slow"}': 1,
    'telltale_agent_connections_closed_total{reason="idle"}': 1,
    'telltale_agent_connections_closed_total{reason="send_timeout"}': 1,
    'telltale_agent_batches_refused_total{reason="too_big"}': 1,
    'telltale_agent_batches_refused_total{reason="bad_batch"}': 1,
    "telltale_agent_pings_sent_total": 10,
    "telltale_agent_pongs_received_total": 10,
}
for k, v in want.items():
    assert m.get(k, 0) >= v, "%s = %s, expected >= %s" % (k, m.get(k), v)
assert m["telltale_agent_connections"] == 1, m["telltale_agent_connections"]  # the real agent
assert m["telltale_agent_buffered_bytes"] >= 0
PY
echo "ok: /metrics: $(grep -E '^telltale_agent_(connections_closed|batches_refused)' "$work/metrics.txt" | tr '\n' ' ')"
stop_agent
stop_server
grep -q 'level=error' "$work/agent.err" && afail "the agent logged errors"
echo "PASS"
