#!/usr/bin/env bash
# run.sh - builds the libFuzzer targets (tests/fuzz/fuzz_*.c) with clang and
# runs each for SECONDS seconds over a scratch copy of its seed corpus, so the
# committed corpus stays as it is. A crash, leak, timeout or out-of-memory
# fails the run; its input is saved under tests/fuzz/artifacts/<target>/
# (ignored by git). To keep a crasher as a regression test, fix the bug and
# copy the file into tests/fuzz/corpus/<target>/: every build replays it.
#
# Usage: tests/fuzz/run.sh [SECONDS] [TARGET...]      (default: 20 s, all)
# Environment: TT_FUZZ_BUILD_DIR (default build-fuzz), TT_JOBS (build
# parallelism and targets run at once, default 2), TT_FUZZ_KEEP=1 to add
# the new inputs found to the committed corpus instead of a scratch copy.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
SECONDS_EACH=${1:-20}
shift || true
BUILD=${TT_FUZZ_BUILD_DIR:-build-fuzz}
[[ "$BUILD" = /* ]] || BUILD="$ROOT/$BUILD"
JOBS=${TT_JOBS:-2}

if ! [[ "$SECONDS_EACH" =~ ^[0-9]+$ ]]; then
    echo "usage: tests/fuzz/run.sh [SECONDS] [TARGET...]" >&2
    exit 2
fi

targets=("$@")
if [[ ${#targets[@]} -eq 0 ]]; then
    for src in "$ROOT"/tests/fuzz/fuzz_*.c; do
        [[ -e "$src" ]] || continue
        name=$(basename "$src" .c)
        targets+=("$name")
    done
fi
if [[ ${#targets[@]} -eq 0 ]]; then
    echo "fuzz: no tests/fuzz/fuzz_*.c targets yet, nothing to run"
    exit 0
fi

echo "fuzz: building ${#targets[@]} targets in $BUILD"
if ! CC=clang cmake -S "$ROOT" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Debug \
    -DTT_FUZZ=ON -DTT_TESTS=OFF >"$BUILD.configure.log" 2>&1; then
    cat "$BUILD.configure.log"
    echo "fuzz: FAILED to configure (clang, -DTT_FUZZ=ON)" >&2
    exit 1
fi
rm -f "$BUILD.configure.log"
if ! cmake --build "$BUILD" --parallel "$JOBS" --target "${targets[@]}"; then
    echo "fuzz: FAILED to build the fuzz targets" >&2
    exit 1
fi

SCRATCH=$(mktemp -d "${TMPDIR:-/tmp}/tt-fuzz.XXXXXX")
trap 'rm -rf "$SCRATCH"' EXIT

# run_one TARGET: fuzzes one target, output into $SCRATCH/TARGET.log.
run_one() {
    local t=$1 corpus seeds="$ROOT/tests/fuzz/corpus/$1"
    local art="$ROOT/tests/fuzz/artifacts/$t"
    mkdir -p "$art"
    if [[ "${TT_FUZZ_KEEP:-0}" = 1 ]]; then
        mkdir -p "$seeds"
        corpus=$seeds
    else
        corpus="$SCRATCH/corpus-$t"
        mkdir -p "$corpus"
        if [[ -d "$seeds" ]]; then
            cp -R "$seeds/." "$corpus/"
        fi
    fi
    "$BUILD/$t" -max_total_time="$SECONDS_EACH" -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix="$art/" "$corpus" \
        >"$SCRATCH/$t.log" 2>&1
}

declare -A pid_of=()
failed=()
passed=0
# reap: waits for one running target and records its result.
reap() {
    local done_pid t rc
    wait -n -p done_pid
    rc=$?
    for t in "${!pid_of[@]}"; do
        [[ "${pid_of[$t]}" = "$done_pid" ]] || continue
        unset "pid_of[$t]"
        rmdir "$ROOT/tests/fuzz/artifacts/$t" 2>/dev/null || true
        if [[ $rc -eq 0 ]]; then
            passed=$((passed + 1))
            echo "fuzz: $t ok ($(grep -Eo 'stat::number_of_executed_units: *[0-9]+' \
                "$SCRATCH/$t.log" | grep -Eo '[0-9]+$' || echo '?') execs in ${SECONDS_EACH}s)"
        else
            failed+=("$t")
            echo "fuzz: $t FAILED (exit $rc); its report:"
            # From the sanitizer's or libFuzzer's error line on, without the
            # shadow-memory dump; the whole tail if no such line.
            if grep -qE '==ERROR|runtime error|deadly signal|ERROR: libFuzzer' "$SCRATCH/$t.log"; then
                sed -n '/==ERROR\|runtime error\|deadly signal\|ERROR: libFuzzer/,$p' \
                    "$SCRATCH/$t.log" | sed '/^Shadow bytes around/,/Right alloca redzone/d' |
                    grep -v '^#[0-9]' | head -n 80
            else
                tail -n 40 "$SCRATCH/$t.log"
            fi
            echo "fuzz: $t: inputs saved in tests/fuzz/artifacts/$t/"
        fi
    done
}

echo "fuzz: running each target for ${SECONDS_EACH}s, $JOBS at a time"
for t in "${targets[@]}"; do
    if [[ ! -x "$BUILD/$t" ]]; then
        echo "fuzz: $t: no such target in $BUILD" >&2
        failed+=("$t")
        continue
    fi
    while [[ ${#pid_of[@]} -ge $JOBS ]]; do
        reap
    done
    run_one "$t" &
    pid_of[$t]=$!
done
while [[ ${#pid_of[@]} -gt 0 ]]; do
    reap
done

echo "fuzz: $passed passed, ${#failed[@]} failed${failed:+ (${failed[*]})}"
[[ ${#failed[@]} -eq 0 ]]
