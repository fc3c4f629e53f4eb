#!/usr/bin/env bash
# run_all.sh - the project's test command (the README's build-and-test, and
# what CI runs). Installs the build dependencies if missing, then runs these
# stages, each independent of the others' result, and ends with a summary:
#   build   Debug build with -Werror (gcc) into build/, whole CTest suite
#   release Release build with -Werror (gcc -O2) into build-werror-release/:
#           warnings only the optimiser sees (truncation, uninitialised) fail
#   run     the README's build-and-run command on that build (scripts/run.sh)
#   asan    clang build with ASan+UBSan into build-asan/, whole suite again
#   tsan    clang build with TSan into build-tsan/, whole suite again (the
#           library is lock-free across threads: races are its main risk)
#   format  tests/check_format.sh (clang-format) and tests/check_source.sh
#   fuzz    tests/fuzz/run.sh: every libFuzzer target for $TT_FUZZ_SECONDS s
# Exits non-zero if any stage failed and names it.
#
# Usage: tests/run_all.sh [STAGE...]   (default: all, in that order)
# Environment: TT_BUILD_PREFIX (default "build": build/, build-asan/,
# build-fuzz/), TT_JOBS (default 2), TT_FUZZ_SECONDS (default 5 each, two at a
# time: the suite stays under 10 minutes on 2 cores; longer runs: tests/fuzz/run.sh 60),
# TT_SKIP_DEPS=1 to skip the package check.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT" || exit 2
PREFIX=${TT_BUILD_PREFIX:-build}
JOBS=${TT_JOBS:-2}
FUZZ_SECONDS=${TT_FUZZ_SECONDS:-5}
DEFAULT_STAGES=(build release run asan tsan format fuzz)
ALL_STAGES=("${DEFAULT_STAGES[@]}")
stages=("$@")
[[ ${#stages[@]} -gt 0 ]] || stages=("${DEFAULT_STAGES[@]}")
for s in "${stages[@]}"; do
    if [[ " ${ALL_STAGES[*]} " != *" $s "* ]]; then
        echo "usage: tests/run_all.sh [${ALL_STAGES[*]}]..." >&2
        exit 2
    fi
done

if [[ "${TT_SKIP_DEPS:-0}" != 1 ]]; then
    bash "$ROOT/scripts/install-deps.sh" || {
        echo "run_all: FAILED to install the dependencies" >&2
        exit 1
    }
fi

banner() {
    printf '\n==== %s ====\n' "$*"
}

# ctest_run DIR [CTEST_ARGS...]: the whole suite of a build dir, 2 at a time.
ctest_run() {
    local dir=$1
    shift
    ctest --test-dir "$dir" -j "$JOBS" --output-on-failure --no-tests=error --timeout 300 "$@"
}

# configure DIR CC ARGS...: configures a build dir if needed.
configure() {
    local dir=$1 cc=$2
    shift 2
    CC=$cc cmake -S "$ROOT" -B "$dir" -G Ninja -DTT_WERROR=ON "$@"
}

stage_build() {
    configure "$PREFIX" "${CC:-cc}" -DCMAKE_BUILD_TYPE=Debug || return 1
    # -k 0: report every file that does not compile, not just the first.
    cmake --build "$PREFIX" --parallel "$JOBS" -- -k 0 || return 1
    ctest_run "$PREFIX"
}

stage_release() {
    configure "$PREFIX-werror-release" "${CC:-cc}" -DCMAKE_BUILD_TYPE=Release -DTT_TESTS=ON || return 1
    cmake --build "$PREFIX-werror-release" --parallel "$JOBS" -- -k 0
}

stage_run() {
    # The README's build-and-run command, on the Debug build just made.
    if [[ ! -f "$PREFIX/build.ninja" ]]; then
        echo "run: needs the build stage first" >&2
        return 1
    fi
    local out rc
    out=$(mktemp)
    TT_SKIP_DEPS=1 TT_BUILD_DIR="$PREFIX" TT_BUILD_TYPE=Debug bash scripts/run.sh 2>&1 |
        tee "$out"
    rc=${PIPESTATUS[0]}
    # The example records spans, so a working dump shows some.
    if [[ $rc -eq 0 ]] && ! sed '1,/spool dump/d' "$out" | grep -i 'span' >/dev/null; then
        echo "run: the spool dump shows no span records" >&2
        rc=1
    fi
    # The server part: queries answered, the head sealed into blocks.
    if [[ $rc -eq 0 ]] && ! grep -q '"blocksWritten"' "$out"; then
        echo "run: the server part did not flush blocks" >&2
        rc=1
    fi
    # The agent part: host metrics and hello's shipped spool arrived.
    if [[ $rc -eq 0 ]] && grep -q "run: the agent's metrics" "$out"; then
        echo "run: the agent's metrics did not reach the server" >&2
        rc=1
    fi
    if [[ $rc -eq 0 ]] && ! grep -q '^trace [0-9a-f]*  [0-9]* spans' "$out"; then
        echo "run: no trace waterfall of the echo_rpc spans" >&2
        rc=1
    fi
    rm -f "$out"
    return "$rc"
}

stage_asan() {
    configure "$PREFIX-asan" clang -DCMAKE_BUILD_TYPE=Debug -DTT_ASAN=ON -DTT_UBSAN=ON || return 1
    cmake --build "$PREFIX-asan" --parallel "$JOBS" || return 1
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
        UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
        ctest_run "$PREFIX-asan" -LE slow
}

stage_tsan() {
    configure "$PREFIX-tsan" clang -DCMAKE_BUILD_TYPE=Debug -DTT_TSAN=ON || return 1
    cmake --build "$PREFIX-tsan" --parallel "$JOBS" || return 1
    TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1:die_after_fork=0 ctest_run "$PREFIX-tsan" -LE slow
}

stage_format() {
    local rc=0
    bash tests/check_format.sh || rc=1
    bash tests/check_source.sh || rc=1
    return $rc
}

stage_fuzz() {
    TT_FUZZ_BUILD_DIR="$PREFIX-fuzz" TT_JOBS="$JOBS" bash tests/fuzz/run.sh "$FUZZ_SECONDS"
}

declare -A took=()
passed=()
failed=()
for s in "${stages[@]}"; do
    banner "stage $s"
    t0=$(date +%s)
    if "stage_$s"; then
        passed+=("$s")
        result=passed
    else
        failed+=("$s")
        result=FAILED
    fi
    took[$s]=$(($(date +%s) - t0))
    echo "==== stage $s $result (${took[$s]} s)"
done

banner "summary"
for s in "${stages[@]}"; do
    if [[ " ${failed[*]} " = *" $s "* ]]; then
        echo "  $s: FAILED (${took[$s]} s)"
    else
        echo "  $s: passed (${took[$s]} s)"
    fi
done
echo "${#passed[@]} passed, ${#failed[@]} failed${failed:+: ${failed[*]}}"
[[ ${#failed[@]} -eq 0 ]]
