#!/usr/bin/env bash
# server_kill9_import.sh SRC_DIR BUILD_DIR - kill -9 `telltale server` in the
# middle of a heavy import (a client sending batches back to back, noting
# each one the server acknowledged), add a torn write to the WAL's tail as a
# crash inside write(2) would leave, restart: the torn tail is reported and
# cut, and every acknowledged sample is back (the batch in flight may or may
# not be); the server then takes new writes after the cut.
set -euo pipefail
build=${2:?usage: server_kill9_import.sh SRC_DIR BUILD_DIR}
source "$(dirname "${BASH_SOURCE[0]}")/lib/server.sh"

start_server
SERIES=400
python3 - "$base" "$work/acked" "$SERIES" <<'PY' &
import sys, urllib.request
base, acked, nser = sys.argv[1], sys.argv[2], int(sys.argv[3])
t0 = 1700000000000
with open(acked, "w") as out:
    for k in range(100000):
        body = "".join(f'load{{host="h{s}",dc="d{s % 7}"}} {(k * 31 + s) % 1000 / 8} {t0 + k * 1000}\n'
                       for s in range(nser)).encode()
        try:
            with urllib.request.urlopen(urllib.request.Request(base + "/api/v1/import/prometheus",
                                                               data=body, method="POST"), timeout=10) as r:
                if r.status != 204:
                    break
        except Exception:
            break
        out.write(f"{k}\n")
        out.flush()
PY
client=$!
for _ in $(seq 1 100); do
    [[ -s "$work/acked" ]] && [[ $(wc -l <"$work/acked") -ge 40 ]] && break
    sleep 0.05
done
kill9_server
wait "$client" || true
acked=$(wc -l <"$work/acked")
[[ "$acked" -ge 40 ]] || fail "only $acked batches acknowledged before the kill"

# A torn write at the tail of the newest segment.
seg=$(ls "$work/data/wal" | grep -v checkpoint | sort | tail -1)
[[ -n "$seg" ]] || fail "no WAL segment"
size_before=$(stat -c %s "$work/data/wal/$seg")
head -c 777 /dev/urandom >>"$work/data/wal/$seg"

: >"$work/server.err"
start_server
grep -q "damaged WAL data skipped" "$work/server.err" || fail "the torn tail was not reported"
size_after=$(stat -c %s "$work/data/wal/$seg")
[[ "$size_after" -le "$size_before" ]] || fail "the torn tail was not cut ($size_before -> $size_after)"

end_s=$(( (1700000000000 + 100000 * 1000) / 1000 ))
q=$(http GET "$base/api/v1/query?query=count(count_over_time(load%5B2d%5D)%20%3E%3D%20$acked)&time=$end_s")
check_json "$q" "len(j['data']['result']) == 1 and int(float(j['data']['result'][0]['value'][1])) == $SERIES" \
    "every acknowledged batch ($acked) is back for all $SERIES series"
q=$(http GET "$base/api/v1/query?query=max(count_over_time(load%5B2d%5D))&time=$end_s")
check_json "$q" "int(float(j['data']['result'][0]['value'][1])) <= $acked + 1" "nothing beyond the batch in flight"

# Writes go on after the cut.
printf 'load{host="h0",dc="d0"} 1 %s\n' "$(( 1700000000000 + 200000 * 1000 ))" >"$work/after.prom"
out=$(http POST "$base/api/v1/import/prometheus" "$work/after.prom")
[[ "$(cat "$work/code")" == 204 ]] || fail "import after restart: $out"
stop_server
echo "server_kill9_import: ok ($acked batches acknowledged before kill -9)"
