#!/usr/bin/env bash
# promqltest_conformance.sh SRC_DIR BUILD_DIR - run `telltale promqltest`
# over Prometheus's own PromQL test files (../shared/data/promql-testdata,
# found next to the source tree) and print the pass rate of float-sample
# evals. Fails only when that rate drops below FLOOR (a little under what the
# engine achieves, so a regression is caught) or when the runner's last line
# is not "N passed, N failed, N skipped". Skips when the data is absent.
set -euo pipefail
src=${1:?usage: promqltest_conformance.sh SRC_DIR BUILD_DIR}
build=${2:?usage: promqltest_conformance.sh SRC_DIR BUILD_DIR}
FLOOR=99.0 # percent of float-sample evals that pass (measured: 99.8)

data=""
for d in "$src/../shared/data/promql-testdata" "/work/shared/data/promql-testdata"; do
    if compgen -G "$d/*.test" >/dev/null; then
        data=$d
        break
    fi
done
if [[ -z "$data" ]]; then
    echo "SKIP: no promql-testdata found"
    exit 0
fi

out=$(mktemp /tmp/tt-promqltest.XXXXXX)
trap 'rm -f "$out"' EXIT
set +e
"$build/telltale" promqltest "$data"/*.test >"$out" 2>&1
rc=$?
set -e
cat "$out"
last=$(tail -n 1 "$out")
if ! [[ "$last" =~ ^[0-9]+\ passed,\ [0-9]+\ failed,\ [0-9]+\ skipped$ ]]; then
    echo "FAIL: unexpected last line: $last (exit $rc)"
    exit 1
fi
rate=$(grep -o '([0-9.]*%)' "$out" | tail -n 1 | tr -d '()%')
if [[ -z "$rate" ]]; then
    echo "FAIL: no pass rate in the output"
    exit 1
fi
echo "float-sample pass rate: $rate% (floor $FLOOR%)"
if awk -v r="$rate" -v f="$FLOOR" 'BEGIN { exit !(r < f) }'; then
    echo "FAIL: pass rate $rate% is below the floor $FLOOR%"
    exit 1
fi
echo "OK"
