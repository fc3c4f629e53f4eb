#!/usr/bin/env bash
# install_and_link.sh SRC_DIR BUILD_DIR - what an application developer does:
# install Telltale to a prefix, build a program against libtelltale with
# pkg-config (static and shared), run it, and read its spool with the
# installed CLI. Also checks that the libraries export the API only (tt_*),
# so their internals can never clash with an application's own symbols.
set -euo pipefail
src=${1:?usage: install_and_link.sh SRC_DIR BUILD_DIR}
build=${2:?}
work=$(mktemp -d /tmp/tt-install.XXXXXX)
trap 'rm -rf "$work"' EXIT

cmake --install "$build" --prefix "$work/prefix" >/dev/null
prefix=$work/prefix
libdir=$(dirname "$(find "$prefix" -name libtelltale.a | head -1)")
[ -f "$prefix/include/telltale.h" ] || { echo "FAIL: header not installed"; exit 1; }
[ -x "$prefix/bin/telltale" ] || { echo "FAIL: telltale not installed"; exit 1; }

# Only the API is exported.
leaks=$(nm -g --defined-only "$libdir/libtelltale.a" | awk 'NF == 3 && $3 !~ /^tt_/ {print $3}')
[ -z "$leaks" ] || { echo "FAIL: libtelltale.a exports internal symbols: $leaks"; exit 1; }
leaks=$(nm -D --defined-only "$libdir/libtelltale.so" | awk 'NF == 3 && $3 !~ /^tt_/ {print $3}')
[ -z "$leaks" ] || { echo "FAIL: libtelltale.so exports internal symbols: $leaks"; exit 1; }

# An application with a function named like one of the library's internals
# still links statically and works.
cat >"$work/app.c" <<'C'
#include <stdio.h>
#include <stdint.h>
#include "telltale.h"
/* Same names as libtelltale internals: must not clash. */
uint32_t crc32c(uint32_t crc, const void *buf, size_t len) { (void)buf; return crc + (uint32_t)len; }
int ring_init(void) { return 7; }
int main(int argc, char **argv) {
    tt_config cfg;
    char err[200];
    tt_config_default(&cfg);
    if (argc < 2 || tt_config_set(&cfg, "SPOOL_DIR", argv[1], err, sizeof err) != 0) return 2;
    if (tt_init(&cfg) != 0) return 1;
    tt_span s;
    tt_span_start(&s, "installed-app", TT_SPAN_INTERNAL, NULL);
    tt_span_set_int(&s, "own_crc", crc32c(1, "", 2) + ring_init());
    tt_span_end(&s);
    tt_shutdown();
    puts("app: ok");
    return 0;
}
C
# Build the application the way the build dir was configured (a sanitizer
# build's library needs the sanitizer's runtime in the program too).
cache=$build/CMakeCache.txt
cc=$(sed -n 's/^CMAKE_C_COMPILER:[A-Z]*=//p' "$cache")
san=()
grep -q '^TT_ASAN:BOOL=ON' "$cache" && san+=(-fsanitize=address)
grep -q '^TT_UBSAN:BOOL=ON' "$cache" && san+=(-fsanitize=undefined)
grep -q '^TT_TSAN:BOOL=ON' "$cache" && san+=(-fsanitize=thread)
export PKG_CONFIG_PATH=$libdir/pkgconfig
# shellcheck disable=SC2046
"${cc:-cc}" "${san[@]}" -std=c11 -Wall -Werror -o "$work/app_static" "$work/app.c" \
    $(pkg-config --cflags telltale) "$libdir/libtelltale.a" $(pkg-config --libs-only-other --static telltale) -lpthread
# shellcheck disable=SC2046
"${cc:-cc}" "${san[@]}" -std=c11 -Wall -Werror -o "$work/app_shared" "$work/app.c" \
    $(pkg-config --cflags --libs telltale)

"$work/app_static" "$work/spool"
LD_LIBRARY_PATH=$libdir "$work/app_shared" "$work/spool"
out=$("$prefix/bin/telltale" spool dump "$work/spool" --json)
n=$(grep -c '"installed-app"' <<<"$out")
[ "$n" = 2 ] || { echo "FAIL: want 2 spans from the installed library, got $n"; echo "$out"; exit 1; }
grep -q '"own_crc":10' <<<"$out" || { echo "FAIL: the application's own functions were not called"; echo "$out"; exit 1; }
echo "install_and_link: ok (API-only exports, static and shared, pkg-config)"
