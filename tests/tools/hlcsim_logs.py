#!/usr/bin/env python3
"""hlcsim_logs.py - writes per-node logs in telltale align's plain text format
from a small simulation of HLC message exchange with known clock offsets
(used by tests/integration/align_cli.sh).

Usage: hlcsim_logs.py OUTDIR NODES TICKS SEED OFFSET...   (one offset per node,
ms its clock is behind real time; the node with offset 0 is the fastest).
Each ms of real time each node logs a local event with probability 0.3 and
sends to a random other node with probability 0.1, delivered after 1..3 ms.
HLC per Kulkarni et al. (send/local and receive rules). Prints nothing.
"""
import os
import random
import sys


def main():
    out, n, ticks, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    offs = [int(x) for x in sys.argv[5:5 + n]]
    rng = random.Random(seed)
    base = 1700000000000
    hl = [0] * n
    hc = [0] * n
    inflight = []  # (deliver_at, dst, l, c, src)
    logs = [[] for _ in range(n)]

    def stamp(i, pt, ml=None, mc=None):
        lold = hl[i]
        if ml is None:
            hl[i] = max(lold, pt)
            hc[i] = hc[i] + 1 if hl[i] == lold else 0
        else:
            hl[i] = max(lold, ml, pt)
            if hl[i] == lold and hl[i] == ml:
                hc[i] = max(hc[i], mc) + 1
            elif hl[i] == lold:
                hc[i] += 1
            elif hl[i] == ml:
                hc[i] = mc + 1
            else:
                hc[i] = 0
        return hl[i], hc[i]

    for t in range(ticks):
        for i in range(n):
            pt = base + t - offs[i]
            for m in [m for m in inflight if m[0] == t and m[1] == i]:
                l, c = stamp(i, pt, m[2], m[3])
                logs[i].append("n%d %d %d %d recv from n%d" % (i, pt, l, c, m[4]))
            if rng.random() < 0.3:
                l, c = stamp(i, pt)
                logs[i].append("n%d %d %d %d local" % (i, pt, l, c))
            if rng.random() < 0.1:
                j = rng.randrange(n - 1)
                j = j + 1 if j >= i else j
                l, c = stamp(i, pt)
                logs[i].append("n%d %d %d %d send to n%d" % (i, pt, l, c, j))
                inflight.append((t + rng.randint(1, 3), j, l, c, i))
        inflight = [m for m in inflight if m[0] > t]
    for i in range(n):
        with open(os.path.join(out, "n%d.log" % i), "w") as f:
            f.write("# node n%d, clock %d ms behind\n" % (i, offs[i]))
            f.write("\n".join(logs[i]) + "\n")


main()
