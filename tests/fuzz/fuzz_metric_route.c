/*
 * fuzz_metric_route.c - fuzz target for the server's routing of libtelltale
 * metric records into TSDB samples (src/server/metric_route.c). The input's
 * first byte splits it: the next n bytes (n = first byte % 64) are the batch
 * origin, the rest is a metric record's payload. Nothing may crash; every
 * emitted label set has a metric name, unique non-empty label names and
 * NUL-terminated strings; a histogram's _bucket series are cumulative, with
 * increasing le, and end with le="+Inf".
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "server/metric_route.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                  \
    do {                                                                             \
        if (!(cond)) {                                                               \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
            abort();                                                                 \
        }                                                                            \
    } while (0)

struct seen {
    size_t n, buckets;
    double last_cum, last_le;
    int inf;
};

static int emit(void *ctx, const struct labels *ls, int64_t t_ms, double v)
{
    struct seen *s = ctx;
    const char *name = NULL, *le = NULL;
    (void)t_ms;
    for (size_t i = 0; i < ls->n; i++) {
        CHECK(ls->v[i].name != NULL && ls->v[i].name[0] != '\0' && ls->v[i].value != NULL);
        for (size_t j = 0; j < i; j++)
            CHECK(strcmp(ls->v[i].name, ls->v[j].name) != 0 || ls->v[i].name[0] == '\0');
        if (strcmp(ls->v[i].name, "__name__") == 0)
            name = ls->v[i].value;
        if (strcmp(ls->v[i].name, "le") == 0)
            le = ls->v[i].value;
    }
    CHECK(name != NULL && name[0] != '\0');
    size_t nl = strlen(name);
    if (nl > 7 && strcmp(name + nl - 7, "_bucket") == 0 && le != NULL) {
        CHECK(!s->inf);
        if (strcmp(le, "+Inf") == 0) {
            s->inf = 1;
        } else {
            double b = strtod(le, NULL);
            CHECK(s->buckets == 0 || b > s->last_le);
            s->last_le = b;
        }
        CHECK(s->buckets == 0 || v >= s->last_cum || isnan(v));
        s->last_cum = v;
        s->buckets++;
    }
    s->n++;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[256];
    struct seen s;
    if (size < 1)
        return 0;
    size_t ol = data[0] % 64;
    if (ol > size - 1)
        ol = size - 1;
    const char *origin = (const char *)data + 1;
    const uint8_t *payload = data + 1 + ol;
    size_t plen = size - 1 - ol;
    struct rec r = { .type = REC_METRIC,
                     .hlc = 1,
                     .time_ns = 1700000000000000000,
                     .payload = payload,
                     .payload_len = (uint32_t)plen };
    memset(&s, 0, sizeof s);
    int rc = metric_route_record(&r, origin, ol, emit, &s, err, sizeof err);
    CHECK(rc == 0 || rc == TT_ECORRUPT || rc == TT_EINVAL || rc == TT_EUNSUPPORTED ||
          rc == TT_ENOMEM);
    if (rc != 0)
        CHECK(s.n == 0 && err[0] != '\0');
    return 0;
}
