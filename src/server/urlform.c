/*
 * urlform.c - application/x-www-form-urlencoded decoding (urlform.h).
 */
#include "server/urlform.h"

#include <stdint.h>
#include "core/hex.h"

size_t urlform_decode(char *s, size_t n)
{
    size_t o = 0;

    for (size_t i = 0; i < n; i++) {
        if (s[i] == '+') {
            s[o++] = ' ';
        } else if (s[i] == '%' && i + 2 < n && tt_hexval(s[i + 1]) >= 0 &&
                   tt_hexval(s[i + 2]) >= 0) {
            s[o++] = (char)(tt_hexval(s[i + 1]) * 16 + tt_hexval(s[i + 2]));
            i += 2;
        } else {
            s[o++] = s[i];
        }
    }
    return o;
}

int urlform_parse(char *s, size_t n, urlform_fn fn, void *arg)
{
    size_t i = 0;

    while (i < n) {
        size_t start = i, eq = SIZE_MAX, nlen, vlen;
        while (i < n && s[i] != '&') {
            if (s[i] == '=' && eq == SIZE_MAX)
                eq = i;
            i++;
        }
        if (i > start) {
            char *name = s + start, *val;
            int rc;
            if (eq == SIZE_MAX) {
                nlen = urlform_decode(name, i - start);
                val = name + nlen;
                vlen = 0;
            } else {
                nlen = urlform_decode(name, eq - start);
                val = s + eq + 1;
                vlen = urlform_decode(val, i - eq - 1);
            }
            rc = fn(arg, name, nlen, val, vlen);
            if (rc != 0)
                return rc;
        }
        i++; /* the '&' */
    }
    return 0;
}
