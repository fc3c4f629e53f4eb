/*
 * tvpair.c - growing parallel time/value arrays (tvpair.h).
 */
#include "core/tvpair.h"
#include <stdlib.h>
#include "telltale.h"

int tvpair_grow(int64_t **ts, double **vs, size_t *cap, size_t need, size_t first)
{
    if (need <= *cap)
        return 0;
    size_t c = *cap ? *cap : (first ? first : 1);
    while (c < need) {
        if (c > SIZE_MAX / 2 / sizeof(int64_t))
            return TT_ENOMEM;
        c *= 2;
    }
    int64_t *t = realloc(*ts, c * sizeof *t);
    if (t == NULL)
        return TT_ENOMEM;
    *ts = t;
    double *v = realloc(*vs, c * sizeof *v);
    if (v == NULL)
        return TT_ENOMEM;
    *vs = v;
    *cap = c;
    return 0;
}
