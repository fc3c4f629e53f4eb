#!/usr/bin/env bash
# agent_scrape_node_exporter.sh SRC_DIR BUILD_DIR - start Debian's
# node_exporter on a free loopback port, scrape it once with
# `telltale scrape URL --job node` (the agent's scraper), and check: up is 1,
# node_exporter's own families are there with the job and instance labels
# (node_cpu_seconds_total, node_memory_MemTotal_bytes, a histogram's
# _bucket/_sum/_count), every sample carries the target labels, the
# printed samples match scrape_samples_scraped, and that count matches what
# curl gets from the same endpoint (within a small tolerance: a few series
# may come or go between two scrapes). Then the failure path: a scrape of
# the stopped exporter exits 1 with up 0 and a reason on stderr.
# Skips (exit 0, a SKIP line) when node_exporter cannot be started.
set -euo pipefail
build=${2:?usage: agent_scrape_node_exporter.sh SRC_DIR BUILD_DIR}
tt=$build/telltale
ne=$(command -v prometheus-node-exporter || command -v node_exporter || true)
if [[ -z "$ne" ]]; then
    echo "SKIP: node_exporter not installed (Debian package prometheus-node-exporter)"
    exit 0
fi
work=$(mktemp -d /tmp/tt-scrape.XXXXXX)
nepid=
cleanup() {
    if [[ -n "$nepid" ]] && kill -0 "$nepid" 2>/dev/null; then
        kill -TERM "$nepid" 2>/dev/null || true
        wait "$nepid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT
fail() {
    echo "FAIL: $*"
    [[ -f "$work/ne.err" ]] && { echo "--- node_exporter stderr:"; tail -n 20 "$work/ne.err"; }
    [[ -f "$work/scrape.err" ]] && { echo "--- telltale scrape stderr:"; cat "$work/scrape.err"; }
    exit 1
}

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
url=http://127.0.0.1:$port/metrics
"$ne" --web.listen-address="127.0.0.1:$port" 2>"$work/ne.err" &
nepid=$!
up=0
for _ in $(seq 1 50); do
    if curl -sf -o /dev/null "$url"; then
        up=1
        break
    fi
    kill -0 "$nepid" 2>/dev/null || break
    sleep 0.1
done
if [[ $up -ne 1 ]]; then
    echo "SKIP: node_exporter did not start on 127.0.0.1:$port"
    tail -n 5 "$work/ne.err" || true
    exit 0
fi

curl -sf "$url" >"$work/curl.txt" || fail "curl $url"
"$tt" scrape "$url" --job node --timeout 10s >"$work/out.txt" 2>"$work/scrape.err" ||
    fail "telltale scrape exited $?"

python3 - "$work/out.txt" "$work/curl.txt" "127.0.0.1:$port" <<'PY' || fail "checks above"
import re, sys
out, ref, inst = open(sys.argv[1]).read(), open(sys.argv[2]).read(), sys.argv[3]
synth = {"up", "scrape_duration_seconds", "scrape_samples_scraped",
         "scrape_samples_post_metric_relabeling", "scrape_series_added"}
line_re = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+) (\d+)$')
samples, values, bad = [], {}, []
for l in out.splitlines():
    if l.startswith("#"):
        continue
    m = line_re.match(l)
    if not m:
        bad.append(l)
        continue
    samples.append((m.group(1), m.group(3) or "", m.group(4)))
    if m.group(1) in synth:
        values[m.group(1)] = (m.group(3), float(m.group(4)))
ok = True
def check(cond, msg):
    global ok
    if not cond:
        print("check failed:", msg)
        ok = False
check(not bad, "unparsable output lines: %r" % bad[:3])
tl = 'instance="%s",job="node"' % inst
check(values.get("up") == (tl, 1.0), "up: %r" % (values.get("up"),))
check(all(s in values for s in synth), "synthetic series: %r" % sorted(values))
cpu = [s for s in samples if s[0] == "node_cpu_seconds_total"]
check(cpu and all('job="node"' in s[1] and 'instance="%s"' % inst in s[1] and 'mode="' in s[1]
                  for s in cpu), "node_cpu_seconds_total with job/instance/mode: %r" % cpu[:2])
names = {s[0] for s in samples}
for fam in ("node_memory_MemTotal_bytes", "node_load1", "go_gc_duration_seconds",
            "go_gc_duration_seconds_sum", "go_gc_duration_seconds_count",
            "node_exporter_build_info"):
    check(fam in names, "family %s present" % fam)
body = [s for s in samples if s[0] not in synth]
check(all('job="node"' in s[1] and 'instance="' in s[1] for s in body),
      "every sample has the target labels")
scraped = values.get("scrape_samples_scraped", (None, -1))[1]
check(len(body) == scraped, "printed %d samples, scrape_samples_scraped %s" % (len(body), scraped))
check(values.get("scrape_series_added", (None, -1))[1] == scraped, "series_added == scraped")
dur = values.get("scrape_duration_seconds", (None, -1))[1]
check(0 < dur < 10, "duration %s" % dur)
n_ref = sum(1 for l in ref.splitlines() if l and not l.startswith("#"))
check(abs(n_ref - len(body)) <= max(5, n_ref // 50),
      "sample count %d vs curl's %d" % (len(body), n_ref))
print("scraped %d samples (curl saw %d) in %.3f s" % (len(body), n_ref, dur))
sys.exit(0 if ok else 1)
PY

# The exporter gone: up 0, exit 1, the reason on stderr.
kill -TERM "$nepid"
wait "$nepid" 2>/dev/null || true
nepid=
set +e
"$tt" scrape "$url" --job node --timeout 2s >"$work/out2.txt" 2>"$work/scrape.err"
rc=$?
set -e
[[ $rc -eq 1 ]] || fail "scrape of a stopped exporter exited $rc, expected 1"
grep -q "^up{instance=\"127.0.0.1:$port\",job=\"node\"} 0 " "$work/out2.txt" ||
    fail "no up 0: $(cat "$work/out2.txt")"
grep -q "scrape $url" "$work/scrape.err" || fail "no reason on stderr"
[[ $(grep -vc '^#' "$work/out2.txt") -eq 5 ]] || fail "more than the synthetic series: $(cat "$work/out2.txt")"

# Usage errors.
set +e
"$tt" scrape >/dev/null 2>&1; [[ $? -eq 2 ]] || fail "no URL: expected exit 2"
"$tt" scrape ftp://x/ >/dev/null 2>&1; [[ $? -eq 2 ]] || fail "ftp URL: expected exit 2"
"$tt" scrape "$url" --timeout nope >/dev/null 2>&1; [[ $? -eq 2 ]] || fail "bad timeout: expected exit 2"
set -e
"$tt" scrape --help | grep -q '^usage: telltale scrape URL' || fail "scrape --help"
echo "PASS: agent_scrape_node_exporter"
