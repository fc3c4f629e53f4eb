#!/usr/bin/env bash
# agent_spool.sh SRC_DIR BUILD_DIR - libtelltale spool shipping with real
# processes: loadgen (examples/loadgen.c: spans, events, states, a counter
# and a histogram) writes its spool in 64 KiB segments while
# `telltale agent --spool` ships it to a server; the agent is killed -9
# midway and restarted. Checks:
#  1. the agent's spool position survives the kill (STATE/spool-*), and
#     every segment is deleted once acknowledged (the spool ends empty:
#     loadgen has exited, so even its newest segment goes);
#  2. every span loadgen recorded is in the server's record log exactly once
#     (DATA/records, read with `telltale spool dump`), its events too;
#  3. the counter loadgen_ops_total is queryable by PromQL with the origin's
#     labels (node, service, instance), at its final value;
#  4. histogram_quantile over loadgen_op_value_bucket gives the median of
#     the observed values (0.5) within the buckets' error.
set -euo pipefail
build=${2:?usage: agent_spool.sh SRC_DIR BUILD_DIR}
. "$(dirname "$0")/lib/server.sh"
loadgen=$build/loadgen

apid=
lpid=
extra_cleanup() {
    for p in $apid $lpid; do
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
count=150000

start_agent() {
    "$tt" agent --server "127.0.0.1:$aport" --node spool-node --interval 1s --no-host \
        --state "$work/agent" --spool "$spool" --log-level info 2>>"$work/agent.err" &
    apid=$!
}

# A thread buffer that holds the whole run: on a loaded machine a stalled
# flusher would otherwise make the library drop records (it never blocks).
TELLTALE_FLUSH_INTERVAL=50ms TELLTALE_SEGMENT_SIZE=64KiB TELLTALE_THREAD_BUFFER=64MiB TELLTALE_SERVICE=lg \
    TELLTALE_NODE=spool-node "$loadgen" "$spool" "$count" 1 >"$work/loadgen.out" &
lpid=$!
start_agent

# 1. Kill the agent once it has acknowledged part of the spool.
for _ in $(seq 1 100); do
    ls "$work/agent"/spool-* >/dev/null 2>&1 && [[ -s $(ls "$work/agent"/spool-* | head -1) ]] && break
    sleep 0.05
done
ls "$work/agent"/spool-* >/dev/null 2>&1 || afail "no spool position saved after 5 s"
kill -KILL "$apid"
wait "$apid" 2>/dev/null || true
apid=
pos=$(cat "$work/agent"/spool-*)
echo "ok: agent killed -9 with spool positions: $(echo "$pos" | wc -l) segment(s)"
start_agent

wait "$lpid" || fail "loadgen exit status $?"
lpid=
recorded=$(awk '{print $2}' "$work/loadgen.out")
dropped=$(awk '{print $5}' "$work/loadgen.out")
[[ "$recorded" -gt 0 ]] || fail "loadgen recorded nothing: $(cat "$work/loadgen.out")"

# The spool drains: every segment acknowledged and deleted.
for _ in $(seq 1 300); do
    [[ -z "$(ls "$spool" 2>/dev/null)" ]] && break
    sleep 0.1
done
left=$(ls "$spool" | wc -l)
[[ $left -eq 0 ]] || afail "$left spool segment(s) left after 30 s: $(ls "$spool" | head -5)"
echo "ok: spool drained, every segment deleted after its acknowledgement"

# 2. Every span once in the record log.
"$tt" spool dump "$work/data/records/00000001.log" --json >"$work/records.json" 2>"$work/dump.err" ||
    fail "spool dump of the record log: $(head -5 "$work/dump.err")"
python3 - "$work/records.json" "$recorded" "$dropped" "$count" <<'PY' || fail "record log check"
import json, sys, collections
recorded = int(sys.argv[2])
seqs = collections.Counter()
events = 0
for line in open(sys.argv[1]):
    o = json.loads(line)
    if o.get("type") == "span" and o.get("name") == "loadgen.op":
        seqs[o["attrs"]["seq"]] += 1
    elif o.get("type") == "event" and o.get("name") == "loadgen.tick":
        events += 1
dups = [s for s, n in seqs.items() if n > 1]
assert not dups, "%d spans stored more than once, e.g. seq %s" % (len(dups), dups[:5])
assert len(seqs) == recorded, "%d distinct spans stored, loadgen recorded %d" % (len(seqs), recorded)
dropped, count = int(sys.argv[3]), int(sys.argv[4])
if dropped == 0:
    assert sorted(seqs) == list(range(recorded)), "the stored spans are not seq 0..%d" % (recorded - 1)
    assert events == (recorded + 99) // 100, "%d loadgen.tick events" % events
else:  # the library dropped records (buffer full): what it recorded, once
    assert all(0 <= s < count for s in seqs), "a stored span's seq is outside 0..%d" % (count - 1)
    ticks = (count + 99) // 100
    assert ticks - dropped <= events <= ticks, "%d loadgen.tick events" % events
    print("note: loadgen dropped %d records (buffer full)" % dropped)
print("ok: %d spans and %d events in the record log, each once" % (recorded, events))
PY

# 3. The counter by PromQL, with the origin's labels.
out=$(http GET "$base/api/v1/query?query=loadgen_ops_total")
check_json "$out" "len(j['data']['result']) == 1 and j['data']['result'][0]['value'][1] == '$count'" \
    "loadgen_ops_total at its final value $count"
check_json "$out" "(lambda m: m['node'] == 'spool-node' and m['service'] == 'lg' and m['instance'].startswith('spool-node:'))(j['data']['result'][0]['metric'])" \
    "loadgen_ops_total labels"
echo "ok: loadgen_ops_total = $count by PromQL: $out"

# 4. The histogram as classic buckets: histogram_quantile works.
q='histogram_quantile(0.5%2C%20loadgen_op_value_bucket)'
out=$(http GET "$base/api/v1/query?query=$q")
check_json "$out" "len(j['data']['result']) == 1 and abs(float(j['data']['result'][0]['value'][1]) - 0.5) < 0.5 * 0.07" \
    "histogram_quantile(0.5) near 0.5"
echo "ok: histogram_quantile(0.5, loadgen_op_value_bucket): $out"

kill -TERM "$apid"
wait "$apid" || afail "agent exit status $?"
apid=
stop_server
grep -q 'level=error' "$work/agent.err" && afail "the agent logged errors"
echo "PASS"
