/*
 * fuzz_wal.c - fuzz target for WAL replay (src/store/tsdb/wal.c): the input
 * is replayed as one segment. Replay must end without crashing, report
 * problems that lie inside the input and account for every byte it skips,
 * and hand the callbacks only bytes that can be read (every one is touched,
 * so the sanitizers see a bad one). The input is replayed
 * twice: as it is, and with the CRC of every would-be batch fixed up (and
 * its body stored uncompressed), so mutations reach the series and samples
 * decoders behind the checksums (series, samples, origin).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "core/batch.h"
#include "core/crc32c.h"
#include "store/tsdb/wal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                  \
    do {                                                                             \
        if (!(cond)) {                                                               \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
            abort();                                                                 \
        }                                                                            \
    } while (0)

struct ctx {
    const uint8_t *data;
    size_t size;
    uint64_t series, samples, problems, skipped, origins;
    uint64_t sum; /* touches every byte handed out, so ASan sees bad reads */
};

static int on_series(void *arg, uint64_t ref, const struct rec_label *l, size_t n)
{
    struct ctx *c = arg;
    c->series++;
    c->sum += ref;
    for (size_t i = 0; i < n; i++) {
        for (uint32_t k = 0; k < l[i].name.len; k++)
            c->sum += (uint8_t)l[i].name.p[k];
        for (uint32_t k = 0; k < l[i].value.len; k++)
            c->sum += (uint8_t)l[i].value.p[k];
    }
    return 0;
}

static int on_samples(void *arg, const struct rec_sample *s, size_t n)
{
    struct ctx *c = arg;
    CHECK(n > 0);
    c->samples += n;
    for (size_t i = 0; i < n; i++)
        c->sum += s[i].ref ^ (uint64_t)s[i].t_ms ^ f64_bits(s[i].v);
    return 0;
}

static int on_origin(void *arg, uint64_t id, uint64_t end)
{
    struct ctx *c = arg;
    c->origins++;
    c->sum += id ^ end;
    return 0;
}

static void on_problem(void *arg, const struct wal_problem *p)
{
    struct ctx *c = arg;
    c->problems++;
    c->skipped += p->bytes;
    CHECK(p->code < 0 && p->msg[0] != 0 && p->cut == 0);
    CHECK(p->offset <= c->size && p->bytes <= c->size - p->offset);
    CHECK(strcmp(p->file, "fuzz") == 0);
}

static void replay(const uint8_t *data, size_t size)
{
    static const struct wal_replay_cb cb = { on_series, on_samples, on_problem, NULL, on_origin };
    struct ctx c = { data, size, 0, 0, 0, 0, 0, 0 };
    struct wal_replay_stats st;
    int rc = wal_replay_buffer(data, size, "fuzz", &cb, &c, &st);
    CHECK(rc == 0 || rc == TT_ENOMEM);
    if (rc != 0)
        return;
    CHECK(st.series == c.series && st.samples == c.samples && st.origins == c.origins);
    CHECK(st.problems == c.problems && st.bytes_skipped == c.skipped);
    CHECK(st.bytes == size && st.bytes_cut == 0);
}

/* seal fixes the header and body CRCs of every would-be batch in d. */
static void seal(uint8_t *d, size_t n)
{
    size_t i = 0;
    while ((i = batch_find_magic(d, n, i)) < n) {
        if (n - i >= BATCH_FIXED_LEN) {
            uint16_t hl = get_le16(d + i + 6);
            if (hl >= BATCH_FIXED_LEN && hl <= n - i) {
                put_le32(d + i + 8, 0);
                put_le32(d + i + 8, crc32c(0, d + i, hl));
                uint32_t stored = get_le32(d + i + 52);
                if ((uint64_t)hl + stored + BATCH_TRAILER_LEN <= n - i)
                    put_le32(d + i + hl + stored, crc32c(0, d + i + hl, stored));
            }
        }
        i++;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    replay(data, size);
    uint8_t *copy = malloc(size ? size : 1);
    if (copy == NULL)
        return 0;
    if (size > 0)
        memcpy(copy, data, size);
    seal(copy, size);
    replay(copy, size);
    free(copy);
    return 0;
}
