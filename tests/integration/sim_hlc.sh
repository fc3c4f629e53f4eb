#!/usr/bin/env bash
# sim_hlc.sh SRC_DIR BUILD_DIR - `telltale sim hlc-sync` end to end:
#  1. one point (--ticks/--pm once): one row / one JSON object echoing the flags,
#     its error between the floor and 1;
#  2. the trends on a small fixed-seed run: the error never rises with the log
#     length, falls by a wide margin over it, is lower with more messages, never
#     falls as a constant delay grows and is exactly 1 at delay = skew; pm 0 gives
#     1 (the runs are coupled, so these hold run by run, not only on average:
#     the checks cannot flake);
#  3. the same seed gives the same bytes, with 1 thread or 2;
#  4. the table mode (--json, --write-doc) has every point;
#  5. bad flags: exit 2 and the flag named.
set -euo pipefail
src=${1:?usage: sim_hlc.sh SRC_DIR BUILD_DIR}
build=${2:?usage: sim_hlc.sh SRC_DIR BUILD_DIR}
tt=$build/telltale
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

fail() {
    echo "FAIL: $*" >&2
    exit 1
}

# 1. one point
$tt sim hlc-sync --ticks 200 --pm 0.1 --runs 200 --seed 7 >"$work/one.txt"
grep -q '^nodes 5, skew 50, delay 3..10, pe 0.4, runs 200, seed 7$' "$work/one.txt" ||
    fail "single point header: $(cat "$work/one.txt")"
[ "$(wc -l <"$work/one.txt")" -eq 3 ] || fail "single point: not one row"
$tt sim hlc-sync --ticks 200 --pm 0.1 --runs 200 --seed 7 --json >"$work/one.json"
python3 - "$work/one.json" "$work/one.txt" <<'PY'
import json, sys
lines = open(sys.argv[1]).read().splitlines()
assert len(lines) == 1, lines
o = json.loads(lines[0])
assert list(o) == ["nodes", "skew", "dmin", "dmax", "pe", "pm", "ticks", "runs", "error"], o
assert (o["nodes"], o["skew"], o["dmin"], o["dmax"], o["pe"], o["pm"], o["ticks"], o["runs"]) == \
    (5, 50, 3, 10, 0.4, 0.1, 200, 200), o
row = open(sys.argv[2]).read().splitlines()[2].split()
ticks, pm, err, floor = int(row[0]), float(row[1]), float(row[2]), float(row[3])
assert (ticks, pm) == (200, 0.1), row
assert abs(err - o["error"]) < 1e-4, (err, o)
assert floor <= err < 1.0, (floor, err)
PY

# 2. trends
$tt sim hlc-sync --ticks 20 --ticks 100 --ticks 400 --pm 0 --pm 0.05 --pm 0.4 \
    --runs 300 --seed 11 --json >"$work/len.json"
for d in 1 5 10 15 19 20 30; do
    $tt sim hlc-sync --skew 20 --dmin $d --dmax $d --pm 0.3 --runs 300 --seed 11 --json
done >"$work/delay.json"
python3 - "$work/len.json" "$work/delay.json" <<'PY'
import json, sys
pts = [json.loads(l) for l in open(sys.argv[1])]
assert len(pts) == 9, len(pts)
e = {(p["ticks"], p["pm"]): p["error"] for p in pts}
for t in (20, 100, 400):
    assert e[(t, 0)] == 1.0, ("pm 0 must give 1", t, e[(t, 0)])
    assert e[(t, 0.4)] <= e[(t, 0.05)], ("more messages, lower error", t, e)
for pm in (0.05, 0.4):
    assert e[(20, pm)] >= e[(100, pm)] >= e[(400, pm)], ("falls with length", pm, e)
    assert e[(20, pm)] - e[(400, pm)] > 0.2, ("falls by a wide margin", pm, e)
# faster with more messages: at 100 ticks pm 0.4 is much nearer its final value
assert e[(100, 0.4)] - e[(400, 0.4)] < e[(100, 0.05)] - e[(400, 0.05)], e
dl = [json.loads(l) for l in open(sys.argv[2])]
errs = [(p["dmin"], p["error"]) for p in dl]
for (d0, e0), (d1, e1) in zip(errs, errs[1:]):
    assert e1 >= e0, ("never falls with delay", errs)
byd = dict(errs)
assert byd[19] < 1.0 and byd[20] == 1.0 and byd[30] == 1.0, errs
assert byd[1] < 0.3, errs
PY

# 3. determinism
$tt sim hlc-sync --ticks 50 --ticks 300 --pm 0.2 --runs 100 --seed 5 --threads 1 >"$work/a.txt"
$tt sim hlc-sync --ticks 50 --ticks 300 --pm 0.2 --runs 100 --seed 5 --threads 2 >"$work/b.txt"
cmp -s "$work/a.txt" "$work/b.txt" || fail "1 and 2 threads differ"
$tt sim hlc-sync --ticks 50 --ticks 300 --pm 0.2 --runs 100 --seed 6 >"$work/c.txt"
cmp -s "$work/a.txt" "$work/c.txt" && fail "seeds 5 and 6 gave the same output"

# 4. tables
$tt sim hlc-sync --runs 8 --json >"$work/tables.json"
[ "$(wc -l <"$work/tables.json")" -eq $((7 * 4 + 60 * 3)) ] || fail "table points"
$tt sim hlc-sync --runs 8 --write-doc "$work/doc.md" >"$work/tables.txt"
grep -q '^| 1000 |' "$work/tables.txt" || fail "length table row 1000"
grep -q '^| 60 |' "$work/tables.txt" || fail "delay table row 60"
for h in '# The HLC-sync experiment' '## Setup' '## What to expect' '## Error by log length' \
    '## Error by constant delay' '## What the measured tables show'; do
    grep -qF "$h" "$work/doc.md" || fail "doc lacks '$h'"
done
grep -q 'skew 10: the error first reaches 1 at delay 10 ' "$work/doc.md" ||
    fail "doc: skew 10 should reach 1 at delay 10: $(grep 'skew 10:' "$work/doc.md")"

# 5. bad flags
expect_usage() {
    local want=$1
    shift
    set +e
    "$tt" sim "$@" >/dev/null 2>"$work/err"
    local rc=$?
    set -e
    [ $rc -eq 2 ] || fail "sim $*: exit $rc, want 2"
    grep -qF -- "$want" "$work/err" || fail "sim $*: message lacks '$want': $(cat "$work/err")"
}
expect_usage "--pe '2'" hlc-sync --pe 2 --ticks 10
expect_usage "--nodes 1" hlc-sync --nodes 1 --ticks 10
expect_usage "--dmax 2" hlc-sync --dmax 2 --ticks 10
expect_usage "--dmin 0" hlc-sync --dmin 0 --ticks 10
expect_usage "--seed given twice" hlc-sync --seed 1 --seed 2
expect_usage "leave out --ticks" hlc-sync --ticks 10 --write-doc "$work/x.md"
expect_usage "unknown experiment 'nope'" nope
expect_usage "unknown argument '--bogus'" hlc-sync --bogus
$tt sim --help | grep -q hlc-sync || fail "sim --help lacks hlc-sync"
$tt sim hlc-sync --help | grep -q -- '--write-doc' || fail "sim hlc-sync --help lacks --write-doc"
$tt --help | grep -q '^  sim ' || fail "telltale --help lacks sim"
echo "sim_hlc: ok"
