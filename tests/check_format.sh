#!/usr/bin/env bash
# check_format.sh - checks that every .c/.h file under include lib src tests
# bench examples is formatted as the repository's .clang-format says (what CI
# runs). With --fix, formats the files in place instead.
# Usage: tests/check_format.sh [--fix] [FILE...]
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT" || exit 2
CF=${CLANG_FORMAT:-clang-format}
fix=0
if [[ "${1:-}" = "--fix" ]]; then
    fix=1
    shift
fi
if ! command -v "$CF" >/dev/null 2>&1; then
    echo "check_format: $CF not found (bash scripts/install-deps.sh)" >&2
    exit 2
fi

files=("$@")
if [[ ${#files[@]} -eq 0 ]]; then
    mapfile -t files < <(find include lib src tests bench examples \
        -path tests/fuzz/corpus -prune -o \
        -type f \( -name '*.c' -o -name '*.h' \) -print 2>/dev/null | LC_ALL=C sort)
fi
if [[ ${#files[@]} -eq 0 ]]; then
    echo "check_format: no files"
    exit 0
fi

if [[ $fix -eq 1 ]]; then
    "$CF" -i "${files[@]}"
    echo "check_format: formatted ${#files[@]} files"
    exit 0
fi

bad=()
for f in "${files[@]}"; do
    if ! "$CF" --dry-run -Werror "$f" >/dev/null 2>&1; then
        bad+=("$f")
        # Show what would change, briefly, so the log says why.
        "$CF" "$f" | diff -u "$f" - | head -n 20
    fi
done
if [[ ${#bad[@]} -gt 0 ]]; then
    echo "check_format: ${#bad[@]} of ${#files[@]} files not formatted:"
    printf '  %s\n' "${bad[@]}"
    echo "check_format: fix with: tests/check_format.sh --fix ${bad[*]}"
    exit 1
fi
echo "check_format: ${#files[@]} files ok ($("$CF" --version | grep -Eo 'version [0-9.]+'))"
