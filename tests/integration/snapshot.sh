#!/usr/bin/env bash
# snapshot.sh SRC_DIR BUILD_DIR - consistent snapshots of the state logs
# with real processes: three statewriter programs (examples/statewriter.c)
# on nodes s1, s2, s3 change app/step, app/phase and app/started while an
# agent ships their spool to a server. Then, from every change the server
# kept (GET /api/tt/state), the cut at each change's HLC, one below it and
# one above is computed here and compared with GET /api/tt/snapshot?at=;
# the values must be what the programs set (steps 1..N in order, phase
# odd/even with them); a time before everything gives an empty snapshot;
# GET /api/tt/cuts walks every change once in HLC order; `telltale
# snapshot` prints the same table; bad parameters are 400s.
set -euo pipefail
build=${2:?usage: snapshot.sh SRC_DIR BUILD_DIR}
. "$(dirname "$0")/lib/server.sh"

apid=
extra_cleanup() {
    for p in $apid; do
        kill -KILL "$p" 2>/dev/null || true
        wait "$p" 2>/dev/null || true
    done
}
afail() {
    [[ -f "$work/agent.err" ]] && { echo "--- agent stderr:"; tail -n 30 "$work/agent.err"; }
    fail "$@"
}

aport=$(free_port)
start_server --agents "127.0.0.1:$aport"
spool=$work/spool
mkdir -p "$spool"
steps=20
pids=()
for n in s1 s2 s3; do
    TELLTALE_NODE=$n TELLTALE_FLUSH_INTERVAL=50ms "$build/statewriter" "$spool/$n" "$steps" 7 \
        >"$work/$n.out" 2>&1 &
    pids+=($!)
done
for p in "${pids[@]}"; do wait "$p" || fail "statewriter: $(cat "$work"/s*.out)"; done
for n in s1 s2 s3; do
    "$tt" agent --server "127.0.0.1:$aport" --node "$n" --interval 1s --no-host \
        --state "$work/agent-$n" --spool "$spool/$n" --log-level info 2>>"$work/agent.err" &
    apid="$apid $!"
done

want=$((3 * (2 * steps + 1)))
for _ in $(seq 1 200); do
    out=$(http GET "$base/api/tt/state?log=app&limit=10000")
    got=$(python3 -c 'import json,sys; print(len(json.loads(sys.argv[1])["data"]["changes"]))' "$out")
    [[ $got -ge $want ]] && break
    sleep 0.1
done
[[ $got -eq $want ]] || afail "the state log holds $got changes of app, want $want"
echo "$out" >"$work/changes.json"
echo "ok: $got state changes of 3 nodes in the state log"

# Cuts at and around every change's HLC: computed here, asked of the server.
python3 - "$work/changes.json" "$base" "$steps" <<'PY' || fail "snapshot check"
import json, sys, urllib.request
changes = json.load(open(sys.argv[1]))["data"]["changes"]
base, steps = sys.argv[2], int(sys.argv[3])
def get(path):
    with urllib.request.urlopen(base + path, timeout=30) as r:
        return json.loads(r.read())
def cut(t):
    best = {}
    for c in changes:
        if c["hlc"] <= t:
            k = (c["node"], c["log"], c["var"])
            if k not in best or (c["hlc"], int(c["id"])) > (best[k]["hlc"], int(best[k]["id"])):
                best[k] = c
    return {k: (v["value"], v["hlc"]) for k, v in best.items()}
# What the programs set, per node in HLC order: started, then step i, phase.
for n in ("s1", "s2", "s3"):
    seq = sorted((c for c in changes if c["node"] == n), key=lambda c: c["hlc"])
    steps_seen = [c["value"] for c in seq if c["var"] == "step"]
    assert steps_seen == list(range(1, steps + 1)), "%s: steps %s" % (n, steps_seen)
    for c in seq:
        if c["var"] == "phase":
            s = [d for d in seq if d["var"] == "step" and d["hlc"] < c["hlc"]][-1]["value"]
            assert c["value"] == ("odd" if s % 2 else "even"), "%s: phase %s after step %s" % (n, c["value"], s)
hlcs = sorted({c["hlc"] for c in changes})
points = sorted({h + d for h in hlcs for d in (-1, 0, 1)})
checked = 0
for t in points[:: max(1, len(points) // 60)] + [hlcs[0] - 1, hlcs[0], hlcs[-1], hlcs[-1] + 1]:
    j = get("/api/tt/snapshot?at=%016x" % t)["data"]
    assert j["at"]["hlc"] == "%016x" % t, j["at"]
    got = {}
    for node, logs in j["nodes"].items():
        for log, vars_ in logs.items():
            for var, e in vars_.items():
                got[(node, log, var)] = (e["value"], int(e["hlc"], 16))
    want = cut(t)
    assert got == want, "cut at %016x: server %s, want %s" % (t, sorted(got.items()), sorted(want.items()))
    checked += 1
# The last cut: every node at its last step.
j = get("/api/tt/snapshot?at=%d.%d" % (hlcs[-1] >> 16, 65535))["data"]
for n in ("s1", "s2", "s3"):
    assert j["nodes"][n]["app"]["step"]["value"] == steps, j["nodes"][n]
    assert j["nodes"][n]["app"]["started"]["value"] is True
# A time long before: nothing.
j = get("/api/tt/snapshot?at=2001-01-01T00:00:00Z")["data"]
assert j["nodes"] == {}, j
# The walk: every change once, in HLC order, the prev of each being the value before.
with urllib.request.urlopen(base + "/api/tt/cuts?start=%016x&end=%016x&log=app&limit=100000" % (hlcs[0], hlcs[-1]), timeout=30) as r:
    lines = [json.loads(l) for l in r.read().decode().splitlines()]
assert len(lines) == len(changes), "%d cuts, %d changes" % (len(lines), len(changes))
hs = [int(l["hlc"], 16) for l in lines]
assert hs == sorted(hs), "cuts out of HLC order"
assert lines[-1]["last_of_hlc"] is True
# Full cuts with a limit: the cut after the 5th change equals the computed cut.
with urllib.request.urlopen(base + "/api/tt/cuts?start=%016x&full=1&limit=5" % hlcs[0], timeout=30) as r:
    full = [json.loads(l) for l in r.read().decode().splitlines()]
assert len(full) == 6 and full[-1] == {"truncated": True, "changes": 5}, full[-1]
print("ok: %d snapshots equal the cuts computed from the changes; %d cuts walked in HLC order" % (checked, len(lines)))
PY

# The CLI: the same table, and its errors.
last=$(python3 -c 'import json,sys; print("%016x" % max(c["hlc"] for c in json.load(open(sys.argv[1]))["data"]["changes"]))' "$work/changes.json")
"$tt" snapshot --server "$base" --at "$last" >"$work/snap.txt" || fail "telltale snapshot failed"
rows=$(grep -c ' app ' "$work/snap.txt")
[[ $rows -eq 9 ]] || fail "telltale snapshot printed $rows rows of app, want 9: $(cat "$work/snap.txt")"
grep -qE "^s2 +app +step +$steps " "$work/snap.txt" || fail "no s2 app step $steps row: $(cat "$work/snap.txt")"
"$tt" snapshot --server "$base" --at "$last" --json | python3 -c 'import json,sys; j=json.load(sys.stdin); assert len(j["nodes"]) == 3' ||
    fail "telltale snapshot --json"
set +e
"$tt" snapshot --server "$base" >/dev/null 2>&1
[[ $? -eq 2 ]] || fail "telltale snapshot without --at: not a usage error"
"$tt" snapshot --server "$base" --at nonsense 2>"$work/cli.err"
[[ $? -eq 1 ]] || fail "telltale snapshot --at nonsense: not exit 1"
set -e
grep -q "parameter at" "$work/cli.err" || fail "telltale snapshot --at nonsense: $(cat "$work/cli.err")"
out=$(http GET "$base/api/tt/snapshot")
[[ $(cat "$work/code") == 400 ]] || fail "snapshot without at: $(cat "$work/code") $out"
out=$(http GET "$base/api/tt/cuts?start=2&end=1")
[[ $(cat "$work/code") == 400 ]] || fail "cuts with end before start: $(cat "$work/code") $out"
out=$(http GET "$base/api/tt/cuts?limit=0")
[[ $(cat "$work/code") == 400 ]] || fail "cuts with limit 0: $(cat "$work/code") $out"
echo "ok: telltale snapshot prints the table; bad parameters are 400s"
