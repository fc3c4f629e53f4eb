#!/usr/bin/env bash
# agent_host_vs_node_exporter.sh SRC_DIR BUILD_DIR - the host collectors
# against Debian's node_exporter on the same machine: run `telltale collect`
# once, start prometheus-node-exporter on a free loopback port (tcpstat
# collector on, as ours is), fetch its /metrics once, stop it by PID, and
# check, for every family `telltale collect` printed:
#  - node_exporter has the family, with the same TYPE and the same label
#    names (unless node_exporter's own collector for it failed here);
#  - node_cpu_seconds_total: our (cpu, mode) pairs include node_exporter's;
#    node_disk_* and node_network_*: our devices include node_exporter's;
#  - values that do not move between the two reads are equal
#    (MemTotal, boot time, file-max).
# Skipped (exit 0, a SKIP line) when node_exporter is not installed or does
# not run here.
set -euo pipefail
build=${2:?usage: agent_host_vs_node_exporter.sh SRC_DIR BUILD_DIR}
tt=$build/telltale
ne=$(command -v prometheus-node-exporter || command -v node_exporter || true)
if [[ -z "$ne" ]]; then
    echo "SKIP: prometheus-node-exporter not installed"
    exit 0
fi
if ! "$ne" --version >/dev/null 2>&1; then
    echo "SKIP: $ne does not run here"
    exit 0
fi
work=$(mktemp -d /tmp/tt-hostne.XXXXXX)
nepid=
cleanup() {
    if [[ -n "$nepid" ]]; then
        kill -TERM "$nepid" 2>/dev/null || true
        for _ in $(seq 1 50); do
            kill -0 "$nepid" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$nepid" 2>/dev/null || true
        wait "$nepid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT
fail() {
    echo "FAIL: $*"
    [[ -f "$work/ne.err" ]] && { echo "--- node_exporter (tail):"; tail -n 20 "$work/ne.err"; }
    exit 1
}

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$ne" --web.listen-address="127.0.0.1:$port" --collector.tcpstat >"$work/ne.err" 2>&1 &
nepid=$!
ok=
for _ in $(seq 1 100); do
    if python3 - "http://127.0.0.1:$port/metrics" "$work/ne.txt" <<'PY'
import sys, urllib.request
try:
    body = urllib.request.urlopen(sys.argv[1], timeout=5).read()
except OSError:
    sys.exit(1)
open(sys.argv[2], "wb").write(body)
PY
    then
        ok=1
        break
    fi
    kill -0 "$nepid" 2>/dev/null || break
    sleep 0.1
done
if [[ -z "$ok" ]]; then
    if ! kill -0 "$nepid" 2>/dev/null; then
        echo "SKIP: $ne exited at start: $(tail -n 1 "$work/ne.err")"
        exit 0
    fi
    fail "node_exporter did not answer on 127.0.0.1:$port within 10 s"
fi
"$tt" collect >"$work/tt.txt" 2>"$work/tt.err" || fail "telltale collect: exit $? ($(head -n 3 "$work/tt.err"))"

python3 - "$work/tt.txt" "$work/ne.txt" <<'PY'
import re, sys

LINE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+-?\d+)?$')
LABEL = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*,?')

def parse(path):
    types, samples = {}, {}
    for n, line in enumerate(open(path), 1):
        line = line.rstrip("\n")
        if not line.strip():
            continue
        if line.startswith("# TYPE "):
            _, _, name, t = line.split(" ", 3)
            types[name] = t
            continue
        if line.startswith("#"):
            continue
        m = LINE.match(line)
        if not m:
            sys.exit("FAIL: %s:%d: not exposition format: %r" % (path, n, line))
        labels, rest = {}, m.group(2) or ""
        while rest:
            lm = LABEL.match(rest)
            if not lm:
                sys.exit("FAIL: %s:%d: bad labels: %r" % (path, n, line))
            labels[lm.group(1)] = lm.group(2)
            rest = rest[lm.end():]
        samples.setdefault(m.group(1), []).append((labels, float(m.group(3))))
    return types, samples

tt_types, tt = parse(sys.argv[1])
ne_types, ne = parse(sys.argv[2])

# node_exporter's collector for each of our families, to tell a family it
# lacks because its collector failed on this machine from a naming mistake.
COLLECTOR = [("node_cpu_", "cpu"), ("node_memory_", "meminfo"), ("node_load", "loadavg"),
             ("node_pressure_", "pressure"), ("node_disk_", "diskstats"),
             ("node_filesystem_", "filesystem"), ("node_network_up", "netclass"),
             ("node_network_mtu_bytes", "netclass"), ("node_network_carrier", "netclass"),
             ("node_network_speed_bytes", "netclass"),
             ("node_network_transmit_queue_length", "netclass"), ("node_network_", "netdev"),
             ("node_tcp_", "tcpstat"), ("node_filefd_", "filefd"), ("node_", "stat")]
ok_collectors = {l.get("collector") for l, v in ne.get("node_scrape_collector_success", []) if v == 1}

def collector(name):
    return next(c for p, c in COLLECTOR if name.startswith(p))

problems, checked, skipped = [], 0, 0
for name in sorted(tt):
    if name not in tt_types:
        problems.append("%s: no TYPE line in telltale collect's output" % name)
    if name not in ne:
        if collector(name) in ok_collectors:
            problems.append("%s: node_exporter has no such family" % name)
        else:
            skipped += 1
            print("NOTE: %s: node_exporter's %s collector did not succeed here" % (name, collector(name)))
        continue
    checked += 1
    if tt_types.get(name) != ne_types.get(name):
        problems.append("%s: TYPE %s, node_exporter's %s" % (name, tt_types.get(name), ne_types.get(name)))
    tl = {frozenset(l) for l, _ in tt[name]}
    nl = {frozenset(l) for l, _ in ne[name]}
    if tl != nl:
        problems.append("%s: label names %s, node_exporter's %s" %
                        (name, sorted(map(sorted, tl)), sorted(map(sorted, nl))))
    key = None
    if name == "node_cpu_seconds_total":
        key = ("cpu", "mode")
    elif name.startswith(("node_disk_", "node_network_")):
        key = ("device",)
    if key:
        ours = {tuple(l.get(k) for k in key) for l, _ in tt[name]}
        theirs = {tuple(l.get(k) for k in key) for l, _ in ne[name]}
        if not theirs <= ours:
            problems.append("%s: %s missing: %s" % (name, "/".join(key), sorted(theirs - ours)))

def one(samples, name):
    v = samples.get(name)
    return v[0][1] if v else None

for name, tol in (("node_memory_MemTotal_bytes", 0), ("node_memory_SwapTotal_bytes", 0),
                  ("node_boot_time_seconds", 1), ("node_filefd_maximum", 0)):
    a, b = one(tt, name), one(ne, name)
    if a is not None and b is not None and abs(a - b) > tol:
        problems.append("%s: %r, node_exporter %r" % (name, a, b))

for p in problems:
    print("FAIL:", p)
if checked < 40:
    problems.append("only %d families compared" % checked)
    print("FAIL: only %d families compared" % checked)
if problems:
    sys.exit(1)
print("ok: %d families of telltale collect match node_exporter's names, types and labels "
      "(%d not comparable here)" % (checked, skipped))
PY
