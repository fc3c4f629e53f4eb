#!/usr/bin/env bash
# agent_pipeline.sh SRC_DIR BUILD_DIR - the agent -> server pipeline with real
# processes: a server (free HTTP and agent ports), a tiny metrics endpoint
# (python3 http.server serving a file rewritten every 0.5 s with a growing
# counter), and `telltale agent` scraping it (plus the host collectors) at
# a 1 s interval. Checks:
#  1. the counter arrives with the scrape's labels (job, instance, kind);
#  2. server killed -9 for ~5 s while the agent collects, then restarted:
#     the rounds of the outage arrive, every round once (the counter's
#     samples: one per round the agent logged as stored, no gap of more
#     than one interval, distinct timestamps); no DATA/agents.state (the
#     durable_end is in the WAL); then three more kill -9 at random points,
#     restarted at once: still every round once;
#  3. agent killed -9 and restarted: same origin, the backlog survives, the
#     rounds since arrive, still every round once;
#  4. GET /api/tt/nodes lists the node with its role, release and version.
set -euo pipefail
build=${2:?usage: agent_pipeline.sh SRC_DIR BUILD_DIR}
. "$(dirname "$0")/lib/server.sh"

apid=
mpid=
wpid=
extra_cleanup() {
    for p in $apid $mpid $wpid; do
        kill -KILL "$p" 2>/dev/null || true
        wait "$p" 2>/dev/null || true
    done
}
afail() {
    [[ -f "$work/agent.err" ]] && { echo "--- agent stderr:"; tail -n 30 "$work/agent.err"; }
    fail "$@"
}

# The metrics endpoint: a counter growing every 0.5 s, written atomically.
mkdir -p "$work/www"
mport=$(free_port)
(
    i=0
    while :; do
        printf '# TYPE tt_pipe_counter counter\ntt_pipe_counter{kind="a"} %d\n' "$i" >"$work/www/m.tmp"
        mv "$work/www/m.tmp" "$work/www/metrics"
        i=$((i + 1))
        sleep 0.5
    done
) &
wpid=$!
python3 -m http.server "$mport" --bind 127.0.0.1 --directory "$work/www" >/dev/null 2>&1 &
mpid=$!
for _ in $(seq 1 50); do
    curl -sf -o /dev/null "http://127.0.0.1:$mport/metrics" && break
    sleep 0.1
done

aport=$(free_port)
start_server --agents "127.0.0.1:$aport"

start_agent() {
    "$tt" agent --server "127.0.0.1:$aport" --node pipe-node --role web --release 1.2.3 \
        --interval 1s --state "$work/agent" --scrape "pipe=http://127.0.0.1:$mport/metrics" \
        --log-level debug 2>>"$work/agent.err" &
    apid=$!
}

# rounds: rounds the agent stored (its debug log, across restarts).
rounds() { grep -c 'msg="round stored"' "$work/agent.err" || true; }

# check_series: the counter's samples in the store, one per round, checked
# in python; prints the number of samples.
check_series() {
    local out r0 r1
    r0=$(rounds)
    out=$(http GET "$base/api/v1/query?query=tt_pipe_counter%5B10m%5D")
    r1=$(rounds)
    python3 - "$out" "$r0" "$r1" "$2" <<'PY' || afail "series check ($1): $out"
import json, sys
j = json.loads(sys.argv[1]); r0, r1, holes = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
res = j["data"]["result"]
assert len(res) == 1, "one series expected, got %d" % len(res)
m = res[0]["metric"]
want = {"__name__": "tt_pipe_counter", "job": "pipe", "kind": "a", "node": "pipe-node"}
for k, v in want.items():
    assert m.get(k) == v, "label %s: %r" % (k, m.get(k))
assert m.get("instance", "").startswith("127.0.0.1:"), m
ts = [float(t) for t, _ in res[0]["values"]]
assert len(ts) == len(set(ts)), "duplicate timestamps"
gaps = [b - a for a, b in zip(ts, ts[1:])]
# Rounds are 1 s apart, but where the agent was down (holes) there is none.
big = [g for g in gaps if g >= 1.6]
assert len(big) <= holes, "a round is missing: gaps %s" % big
# A round stored while the query ran may or may not be in its answer.
assert r0 - 2 <= len(ts) <= r1, "%d samples, %d..%d rounds stored by the agent" % (len(ts), r0, r1)
print(len(ts))
PY
}

# wait_rounds N: wait until the store holds as many samples as rounds logged
# (at least N), up to 20 s.
wait_synced() {
    local n=0 r
    for _ in $(seq 1 100); do
        r=$(rounds)
        n=$(http GET "$base/api/v1/query?query=count_over_time(tt_pipe_counter%5B10m%5D)" |
            python3 -c '
import json, sys
try:
    r = json.load(sys.stdin)["data"]["result"]
    print(r[0]["value"][1] if r else 0)
except Exception:
    print(-1)')
        kill -0 "$pid" 2>/dev/null || fail "the server died"
        if [[ "$r" -ge "$1" && "$n" == "$r" ]]; then
            return 0
        fi
        sleep 0.2
    done
    afail "store has $n samples, the agent stored $r rounds (waiting for >= $1)"
}

start_agent
wait_synced 3
n1=$(check_series "first rounds" 0)
echo "ok: $n1 rounds arrived with their labels"

# 2. Server down for ~5 s while the agent keeps collecting.
kill9_server
before=$(rounds)
sleep 5
during=$(($(rounds) - before))
[[ $during -ge 3 ]] || afail "the agent stored only $during rounds while the server was down"
start_server --agents "127.0.0.1:$aport"
wait_synced $((before + during + 1))
n2=$(check_series "after the server outage" 0)
echo "ok: $during rounds of a 5 s server outage arrived; $n2 samples, one per round"
# durable_end lives in the WAL (origin records), not in a state file.
[[ ! -e "$work/data/agents.state" ]] || afail "the server wrote DATA/agents.state"

# 2b. The server killed -9 three more times, at whatever step of a batch it
# is in (record log append, WAL commit, ACK), restarted at once each time:
# still every round exactly once.
for _ in 1 2 3; do
    sleep 1.3
    kill9_server
    start_server --agents "127.0.0.1:$aport"
done
wait_synced $(($(rounds) + 1))
n2b=$(check_series "after three more kill -9" 0)
echo "ok: three kill -9 of the server mid-stream: $n2b samples, one per round"

# 3. Agent killed -9 and restarted.
origin1=$(cat "$work/agent/origin")
kill -KILL "$apid"
wait "$apid" 2>/dev/null || true
apid=
sleep 1
start_agent
r=$(rounds)
wait_synced $((r + 3))
[[ "$(cut -d' ' -f1 "$work/agent/origin")" == "$(echo "$origin1" | cut -d' ' -f1)" ]] ||
    afail "the origin id changed across the restart"
n3=$(check_series "after the agent restart" 1)
echo "ok: agent killed -9 and restarted: $n3 samples, one per round, same origin"

# 4. Host collectors arrived too, and the node table.
out=$(http GET "$base/api/v1/query?query=count(node_load1%7Bjob%3D%22node%22%2Cinstance%3D%22pipe-node%22%7D)")
check_json "$out" 'j["data"]["result"] and j["data"]["result"][0]["value"][1] == "1"' "node_load1 from the host collectors"
out=$(http GET "$base/api/tt/nodes")
check_json "$out" 'any(n["node"] == "pipe-node" and n["role"] == "web" and n["release"] == "1.2.3" and n["agent_version"] and n["connected"] == 1 and abs(n["clock_offset_ms"]) < 1000 for n in j["data"])' "/api/tt/nodes"
echo "ok: /api/tt/nodes: $out"

kill -TERM "$apid"
wait "$apid" || afail "agent exit status $?"
apid=
stop_server
grep -q 'level=error' "$work/agent.err" && afail "the agent logged errors"
echo "PASS"
