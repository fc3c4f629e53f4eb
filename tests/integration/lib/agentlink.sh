# tests/integration/lib/agentlink.sh - helpers for the agent-link tests
# (agent_hostile.sh, agent_netcut.sh, agent_outage60.sh); source after
# lib/server.sh. A real `telltale agent` with the host collectors at a 1 s
# interval, node NODE; every round carries one node_load1 sample, so the
# rounds the agent logged as stored and the samples in the store can be
# compared one for one.
#   start_agent SERVER_ADDR NODE   (sets $apid; log in $work/agent.err)
#   rounds                         rounds the agent stored so far
#   store_count NODE               node_load1 samples of NODE in the store
#   wait_synced NODE N             until the store has one sample per round (>= N)
#   check_rounds NODE WHAT         every round once: distinct timestamps, no gap
apid=
afail() {
    [[ -f "$work/agent.err" ]] && { echo "--- agent stderr:"; tail -n 30 "$work/agent.err"; }
    fail "$@"
}

start_agent() {
    "$tt" agent --server "$1" --node "$2" --role linktest --release 1 --interval 1s \
        --state "$work/agent" --log-level debug 2>>"$work/agent.err" &
    apid=$!
}

stop_agent() {
    kill -TERM "$apid"
    wait "$apid" || afail "agent exit status $?"
    apid=
}

rounds() { grep -c 'msg="round stored"' "$work/agent.err" || true; }

store_count() {
    http GET "$base/api/v1/query?query=count_over_time(node_load1%7Binstance%3D%22$1%22%7D%5B30m%5D)" |
        python3 -c '
import json, sys
try:
    r = json.load(sys.stdin)["data"]["result"]
    print(r[0]["value"][1] if r else 0)
except Exception:
    print(-1)'
}

wait_synced() {
    local n=0 r
    for _ in $(seq 1 150); do
        r=$(rounds)
        n=$(store_count "$1")
        kill -0 "$pid" 2>/dev/null || fail "the server died"
        if [[ "$r" -ge "$2" && "$n" == "$r" ]]; then
            return 0
        fi
        sleep 0.2
    done
    afail "store has $n samples of $1, the agent stored $r rounds (waiting for >= $2)"
}

# check_rounds NODE WHAT: the node_load1 samples are one per round: as many
# as the agent stored, distinct timestamps, none more than 1.6 s apart.
check_rounds() {
    local out r0 r1
    r0=$(rounds)
    out=$(http GET "$base/api/v1/query?query=node_load1%7Binstance%3D%22$1%22%7D%5B30m%5D")
    r1=$(rounds)
    python3 - "$out" "$r0" "$r1" <<'PY' || afail "$2: every round once: $out"
import json, sys
j = json.loads(sys.argv[1]); r0, r1 = int(sys.argv[2]), int(sys.argv[3])
res = j["data"]["result"]
assert len(res) == 1, "one series expected, got %d" % len(res)
ts = [float(t) for t, _ in res[0]["values"]]
assert len(ts) == len(set(ts)), "duplicate timestamps"
big = [round(b - a, 3) for a, b in zip(ts, ts[1:]) if b - a >= 1.6]
assert not big, "rounds missing: gaps of %s s" % big
assert r0 - 2 <= len(ts) <= r1, "%d samples, %d..%d rounds stored by the agent" % (len(ts), r0, r1)
print(len(ts))
PY
}
