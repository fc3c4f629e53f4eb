#!/usr/bin/env bash
# run.sh - the README's build-and-run command. Installs the build dependencies
# if missing, builds Telltale (Release, into build-release/), runs the
# instrumented example examples/hello.c with a fresh spool directory, then
# prints every record it wrote with `telltale spool dump`. Until the agent and
# server exist, this is what "running Telltale" means.
#
# Usage: scripts/run.sh [--json]          (--json: dump records as JSON lines)
# Environment: TT_BUILD_DIR (default build-release; an already configured dir
# is only built, not reconfigured), TT_BUILD_TYPE (default Release), TT_JOBS
# (default 2), TT_KEEP_SPOOL=1 to keep the spool directory afterwards,
# TT_SKIP_DEPS=1 to skip the package check. TELLTALE_* variables reach hello.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
BUILD=${TT_BUILD_DIR:-build-release}
TYPE=${TT_BUILD_TYPE:-Release}
JOBS=${TT_JOBS:-2}
dump_args=()
if [[ "${1:-}" = "--json" ]]; then
    dump_args+=(--json)
elif [[ $# -gt 0 ]]; then
    echo "usage: scripts/run.sh [--json]" >&2
    exit 2
fi

if [[ "${TT_SKIP_DEPS:-0}" != 1 ]]; then
    bash scripts/install-deps.sh
fi

if [[ ! -f examples/hello.c ]]; then
    echo "run: examples/hello.c is missing from the tree" >&2
    exit 1
fi
if [[ ! -f "$BUILD/build.ninja" ]]; then
    # Release builds are made without -Werror (STYLE.md); dev and CI builds use it.
    cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE="$TYPE" -DTT_WERROR=OFF -DTT_TESTS=OFF
fi
cmake --build "$BUILD" --parallel "$JOBS" --target hello telltale_cli

SPOOL=$(mktemp -d "${TMPDIR:-/tmp}/telltale-spool.XXXXXX")
if [[ "${TT_KEEP_SPOOL:-0}" = 1 ]]; then
    echo "run: keeping the spool in $SPOOL"
else
    trap 'rm -rf "$SPOOL"' EXIT
fi

echo
echo "\$ $BUILD/hello $SPOOL"
"$BUILD/hello" "$SPOOL"
echo
echo "\$ $BUILD/telltale spool dump $SPOOL ${dump_args[*]}"
"$BUILD/telltale" spool dump "$SPOOL" "${dump_args[@]}"
