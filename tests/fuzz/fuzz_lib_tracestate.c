/*
 * fuzz_lib_tracestate.c - tt_tracestate_get_hlc and tt_tracestate_put_hlc on
 * arbitrary bytes. Checks: get and put agree on whether the list is well
 * formed; put's output always parses, holds our entry first with the HLC we
 * gave, and has at most 32 members, for every output size from the smallest
 * that fits ours up to TT_TRACESTATE_MAX.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "telltale.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_put(const char *in, size_t size, tt_hlc hlc, size_t outlen, int get_rc)
{
    char *out = malloc(outlen); /* exact size, so ASan sees any overrun */
    if (!out)
        return;
    int rc = tt_tracestate_put_hlc(in, size, hlc, out, outlen);
    if (rc != 0 && rc != TT_ESYNTAX)
        abort();
    /* get also checks the value of our entry, which put simply replaces. */
    if (rc == TT_ESYNTAX && get_rc != TT_ESYNTAX)
        abort();
    if (rc == 0 && get_rc == TT_ESYNTAX) {
        /* Only acceptable when the problem was our own old entry. */
        char err[160] = "";
        tt_hlc h;
        tt_tracestate_get_hlc(in, size, &h, err, sizeof err);
        if (!strstr(err, "tt value must be"))
            abort();
    }
    size_t n = strnlen(out, outlen);
    if (n == outlen || n < 19 || memcmp(out, "tt=", 3) != 0)
        abort();
    tt_hlc h = ~hlc;
    if (tt_tracestate_get_hlc(out, n, &h, NULL, 0) != 0 || h != hlc)
        abort();
    size_t members = 1;
    for (size_t i = 0; i < n; i++)
        members += out[i] == ',';
    if (members > 32 || (n > 19 && out[19] != ','))
        abort();
    free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *in = (const char *)data;
    tt_hlc hlc = 0;
    for (size_t i = 0; i < size && i < 8; i++)
        hlc = hlc << 8 | data[i];
    tt_hlc h = 12345;
    char err[128];
    memset(err, 'x', sizeof err);
    int get_rc = tt_tracestate_get_hlc(in, size, &h, err, sizeof err);
    if (get_rc != 0 && get_rc != TT_ENOTFOUND && get_rc != TT_ESYNTAX)
        abort();
    if (get_rc != 0 && h != 12345)
        abort();
    if (get_rc == TT_ESYNTAX &&
        (!memchr(err, '\0', sizeof err) || strncmp(err, "tracestate: position ", 21) != 0))
        abort();
    check_put(in, size, hlc, TT_TRACESTATE_MAX, get_rc);
    check_put(in, size, hlc, 20 + (size ? data[size - 1] : 0), get_rc);
    char small[19];
    if (tt_tracestate_put_hlc(in, size, hlc, small, sizeof small) != TT_ETOOBIG)
        abort();
    return 0;
}
