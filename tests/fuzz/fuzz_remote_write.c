/*
 * fuzz_remote_write.c - fuzz target for the remote write decoder: the input
 * is decoded as a raw protobuf WriteRequest and, through a snappy
 * decompression with a small limit, as a snappy-wrapped one. A successful
 * decode must be self-consistent (the per-series counts add up to the
 * totals, every string NUL-terminated at its length and inside the counts),
 * validation must not crash, and a failure must name an offset inside the
 * input and leave nothing allocated (an offset at the end of the input means it
 * was cut short).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "telltale.h"
#include "server/remote_write.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                  \
    do {                                                                             \
        if (!(cond)) {                                                               \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
            abort();                                                                 \
        }                                                                            \
    } while (0)

static void decode(const uint8_t *p, size_t n)
{
    struct rw_request req;
    struct rw_error e;
    memset(&e, 0, sizeof e);
    int rc = remote_write_decode(p, n, &req, &e);
    if (rc != 0) {
        CHECK(rc == TT_ESYNTAX || rc == TT_ENOMEM);
        CHECK(req.series == NULL && req.nseries == 0);
        CHECK(e.offset <= n);
        CHECK(e.msg[0] != 0);
        remote_write_release(&req);
        return;
    }
    size_t nl = 0, ns = 0;
    for (size_t i = 0; i < req.nseries; i++) {
        const struct rw_series *s = &req.series[i];
        nl += s->nlabels;
        ns += s->nsamples;
        for (size_t j = 0; j < s->nlabels; j++) {
            CHECK(s->labels[j].name[s->labels[j].name_len] == 0);
            CHECK(s->labels[j].value[s->labels[j].value_len] == 0);
            CHECK(s->labels[j].name_len + s->labels[j].value_len <= n);
        }
    }
    CHECK(nl == req.nlabels && ns == req.nsamples);
    CHECK(req.nseries <= n / 2 + 1);
    rc = remote_write_validate(&req, &e);
    CHECK(rc == 0 || rc == TT_EINVAL);
    if (rc != 0)
        CHECK(e.series < req.nseries);
    remote_write_release(&req);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    decode(data, size);
    uint8_t *raw = NULL;
    size_t raw_len = 0;
    struct rw_error e;
    int rc = remote_write_decompress(data, size, (size_t)1 << 20, &raw, &raw_len, &e);
    if (rc == 0) {
        CHECK(raw[raw_len] == 0);
        decode(raw, raw_len);
        free(raw);
    } else {
        CHECK(raw == NULL && raw_len == 0);
        CHECK(rc == TT_ECORRUPT || rc == TT_ETOOBIG || rc == TT_ENOMEM);
    }
    return 0;
}
