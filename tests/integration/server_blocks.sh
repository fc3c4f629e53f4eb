#!/usr/bin/env bash
# server_blocks.sh SRC_DIR BUILD_DIR - persisted blocks through the real
# `telltale server`: import six hours, POST /api/tt/admin/flush, the same
# answers from blocks as from the head, after a restart and after kill -9
# with newer data in the WAL; a block whose index is damaged is skipped and
# named in the log while the rest is served; a block whose chunks are damaged
# fails the queries that read it (naming it) and no other; a full disk
# (a small tmpfs) makes imports fail cleanly with nothing acknowledged lost.
set -euo pipefail
build=${2:?usage: server_blocks.sh SRC_DIR BUILD_DIR}
source "$(dirname "${BASH_SOURCE[0]}")/lib/server.sh"
mnt=
extra_cleanup() {
    if [[ -n "$mnt" ]]; then umount "$mnt" 2>/dev/null || true; fi
}

# 30 series x 6 h at 15 s from t0 (crosses midnight UTC: two 24 h windows).
T0=1699995600000 # 2023-11-14T21:00:00Z
python3 - "$work/six.prom" "$T0" 0 1440 <<'PY'
import sys
out, t0, first, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
with open(out, "w") as f:
    for i in range(first, first + n):
        t = t0 + i * 15000
        for s in range(30):
            f.write(f'm_total{{host="h{s}"}} {i * (s + 1)} {t}\n')
PY
END_S=$(( (T0 + 1439 * 15000) / 1000 ))

counts() { # counts TIME_S RANGE: "series samples sum" of m_total over RANGE before TIME_S
    local q
    q=$(http GET "$base/api/v1/query?query=count_over_time(m_total%5B$2%5D)&time=$1")
    [[ "$(cat "$work/code")" == 200 ]] || fail "count query: $q"
    python3 -c 'import json,sys; r=json.loads(sys.argv[1])["data"]["result"]; print(len(r), int(sum(float(x["value"][1]) for x in r)))' "$q"
}

printf 'rollup_after = 0\n' >"$work/server.conf"
start_server --config "$work/server.conf"
out=$(http POST "$base/api/v1/import/prometheus" "$work/six.prom")
[[ "$(cat "$work/code")" == 204 ]] || fail "import: $(cat "$work/code") $out"
before=$(counts "$END_S" 7h)
[[ "$before" == "30 43200" ]] || fail "head counts: $before"
sumq="sum(sum_over_time(m_total%5B7h%5D))"
sum_before=$(http GET "$base/api/v1/query?query=$sumq&time=$END_S")

out=$(http POST "$base/api/tt/admin/flush")
[[ "$(cat "$work/code")" == 200 ]] || fail "flush: $out"
check_json "$out" 'j["data"]["samplesWritten"]==43200 and j["data"]["blockSamples"]==43200 and j["data"]["blocks"]==2' "flush summary"
[[ "$(ls "$work/data/blocks" | wc -l)" == 2 ]] || fail "blocks on disk: $(ls "$work/data/blocks")"
[[ "$(counts "$END_S" 7h)" == "$before" ]] || fail "counts from blocks: $(counts "$END_S" 7h)"
[[ "$(http GET "$base/api/v1/query?query=$sumq&time=$END_S")" == "$sum_before" ]] || fail "sums from blocks differ"
q=$(http GET "$base/api/v1/series?match%5B%5D=m_total&start=$(( T0 / 1000 ))&end=$END_S")
check_json "$q" 'len(j["data"])==30' "series from blocks"
q=$(http GET "$base/api/v1/label/host/values")
check_json "$q" 'len(j["data"])==30' "label values from blocks"
m=$(http GET "$base/metrics")
grep -q '^telltale_tsdb_blocks 2$' <<<"$m" || fail "/metrics blocks: $(grep tsdb_blocks <<<"$m")"
grep -q '^telltale_tsdb_block_samples 43200$' <<<"$m" || fail "/metrics block samples
# A long-range query on hour boundaries reads the blocks' rollups: the same
# answers as raw samples (instant queries, which never use rollups).
H0=$(( (T0 / 3600000 + 2) * 3600 ))
q=$(http GET "$base/api/v1/query_range?query=max_over_time(m_total%5B2h%5D)&start=$H0&end=$(( H0 + 3 * 3600 ))&step=3600")
m=$(http GET "$base/metrics")
grep -q '^telltale_tsdb_rollup_selects_total 1$' <<<"$m" || fail "rollups not used: $(grep rollup <<<"$m")"
for k in 0 1 2 3; do
    i=$(http GET "$base/api/v1/query?query=max_over_time(m_total%5B2h%5D)&time=$(( H0 + k * 3600 ))")
    python3 -c '
import json, sys
rng, inst, k = json.loads(sys.argv[1])["data"]["result"], json.loads(sys.argv[2])["data"]["result"], int(sys.argv[3])
a = {r["metric"]["host"]: float(r["values"][k][1]) for r in rng}
b = {r["metric"]["host"]: float(r["value"][1]) for r in inst}
sys.exit(0 if a == b and len(a) == 30 else 1)' "$q" "$i" "$k" || fail "rollup step $k differs from raw: $q $i"
done"

# An hour more into the head, kill -9: blocks + WAL give everything back.
python3 - "$work/seventh.prom" "$T0" 1440 240 <<'PY'
import sys
out, t0, first, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
with open(out, "w") as f:
    for i in range(first, first + n):
        t = t0 + i * 15000
        for s in range(30):
            f.write(f'm_total{{host="h{s}"}} {i * (s + 1)} {t}\n')
PY
out=$(http POST "$base/api/v1/import/prometheus" "$work/seventh.prom")
[[ "$(cat "$work/code")" == 204 ]] || fail "import after flush: $(cat "$work/code") $out"
END2_S=$(( (T0 + 1679 * 15000) / 1000 ))
kill9_server
start_server
[[ "$(counts "$END2_S" 8h)" == "30 50400" ]] || fail "after kill -9: $(counts "$END2_S" 8h)"
out=$(http POST "$base/api/tt/admin/flush")
[[ "$(cat "$work/code")" == 200 ]] || fail "second flush: $out"
check_json "$out" 'j["data"]["blockSamples"]==50400' "second flush"
stop_server
cp -a "$work/data" "$work/data-copy"

# Damage the index of the block of the first window: it is skipped, named
# in the log, and the other window is still served.
first_block=
for b in "$work"/data/blocks/*/; do
    mint=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["minTime"])' "$b/meta.json")
    [[ "$mint" -lt 1700006400000 ]] || continue # 2023-11-15T00:00Z.. is the first window
    first_block=$(basename "$b")
done
[[ -n "$first_block" ]] || fail "no block in the first window"
python3 - "$work/data/blocks/$first_block/index" <<'PY'
import sys
p = sys.argv[1]
b = bytearray(open(p, "rb").read())
for i in range(0, len(b), 13):
    b[i] ^= 0xA5
open(p, "wb").write(bytes(b))
PY
: >"$work/server.err"
start_server
grep -q "$first_block" "$work/server.err" || fail "the damaged block is not named in the log"
m=$(http GET "$base/metrics")
grep -q '^telltale_tsdb_blocks_damaged 1$' <<<"$m" || fail "/metrics damaged blocks"
# 2023-11-16T00:00Z on: only the second window's block (and nothing of the first).
c=$(counts "$END2_S" 8h)
[[ "$c" != "30 50400" && "${c%% *}" == 30 ]] || fail "rest not served after index damage: $c"
stop_server

# Damage the chunks of the same block instead: queries reading it fail and
# say which block; queries that do not read it are answered.
rm -rf "$work/data"
cp -a "$work/data-copy" "$work/data"
python3 - "$work/data/blocks/$first_block/chunks" <<'PY'
import sys
p = sys.argv[1]
b = bytearray(open(p, "rb").read())
for i in range(64, len(b), 97):
    b[i] ^= 0x5A
open(p, "wb").write(bytes(b))
PY
start_server
q=$(http GET "$base/api/v1/query?query=count_over_time(m_total%5B8h%5D)&time=$END2_S")
code=$(cat "$work/code")
[[ "$code" != 200 ]] || fail "a query over damaged chunks succeeded: $q"
grep -q "$first_block" <<<"$q" || fail "the error does not name the block: $q"
c=$(counts "$END2_S" 1h)
[[ "$c" == "30 7200" ]] || fail "a query beside the damaged block: $c"
stop_server

# Disk full: the data directory on a 3 MiB tmpfs.
mnt="$work/small"
mkdir -p "$mnt"
if ! mount -t tmpfs -o size=3m tmpfs "$mnt" 2>/dev/null; then
    echo "server_blocks: SKIP the disk-full part: cannot mount a tmpfs here (not root?)"
    mnt=
    echo "server_blocks: ok"
    exit 0
fi
start_server --data "$mnt/data"
acked=0
status=
for k in $(seq 0 200); do
    python3 - "$work/chunk.prom" "$T0" "$(( k * 40 ))" 40 <<'PY'
import sys
out, t0, first, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
with open(out, "w") as f:
    for i in range(first, first + n):
        t = t0 + i * 15000
        for s in range(300):
            f.write(f'disk_fill{{host="h{s}",pad="{"x" * 40}"}} {(i * 7919 + s * 104729) % 1000003 / 7} {t}\n')
PY
    out=$(http POST "$base/api/v1/import/prometheus" "$work/chunk.prom")
    status=$(cat "$work/code")
    [[ "$status" == 204 ]] || break
    acked=$(( acked + 12000 ))
done
[[ "$status" == 503 ]] || fail "disk full: expected 503, got $status after $acked samples: $out"
grep -qi "space" <<<"$out" || fail "disk full: the error does not say why: $out"
[[ "$(http GET "$base/-/healthy" >/dev/null; cat "$work/code")" == 200 ]] || fail "server unhealthy after disk full"
# A request that failed may have committed its first batches (the error says
# how many samples): between acked and acked + one request.
sel="count_over_time(disk_fill%5B3d%5D)"
at=$(( (T0 + 8100 * 15000) / 1000 ))
q=$(http GET "$base/api/v1/query?query=sum($sel)&time=$at")
check_json "$q" "$acked <= int(float(j['data']['result'][0]['value'][1])) < $acked + 12000" "acknowledged samples after disk full"
kill9_server
start_server --data "$mnt/data"
q=$(http GET "$base/api/v1/query?query=sum($sel)&time=$at")
check_json "$q" "$acked <= int(float(j['data']['result'][0]['value'][1])) < $acked + 12000" "acknowledged samples after restart"
stop_server
echo "server_blocks: ok"
